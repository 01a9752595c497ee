package storage

import "testing"

// TestRecentFloorAcrossClose: the \Recent floor (statemachine/recent.go)
// survives the close and reopen of a mailbox in the same process, so its
// claimed messages do not turn recent again; a restart forgets it and every
// message is recent once more (RFC 3501 §2.3.2: when it cannot be known,
// SHOULD be considered recent).
func TestRecentFloorAcrossClose(t *testing.T) {
	fsys := NewMemFS(MemFSOptions{})
	s := newTestStore(t, fsys, func(c *Config) { c.IdleMailboxes = -1 })
	a := login(t, s, "alice")
	for range 3 {
		if _, err := a.Append("INBOX", nil, 1, []byte("x\r\n")); err != nil {
			t.Fatal(err)
		}
	}
	m, err := a.Open("INBOX")
	if err != nil {
		t.Fatal(err)
	}
	if f := m.RecentFloor(); f != 1 {
		t.Fatalf("fresh floor %d, want 1", f)
	}
	m.SetRecentFloor(3) // as a read-write session claiming UIDs 1 and 2
	a.Release(m)
	if len(a.open) != 0 {
		t.Fatalf("%d mailboxes still open", len(a.open))
	}
	if _, err := a.Append("INBOX", nil, 1, []byte("x\r\n")); err != nil {
		t.Fatal(err)
	}
	m, _ = a.Open("INBOX")
	if f, n := m.RecentFloor(), m.RecentCount(); f != 3 || n != 2 {
		t.Fatalf("reopened: floor %d, %d recent; want 3, 2", f, n)
	}
	a.Release(m)

	s2 := newTestStore(t, fsys, nil)
	m, _ = login(t, s2, "alice").Open("INBOX")
	if f, n := m.RecentFloor(), m.RecentCount(); f != 1 || n != 4 {
		t.Fatalf("after restart: floor %d, %d recent; want 1, 4", f, n)
	}
}
