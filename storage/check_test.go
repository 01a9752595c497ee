package storage

import (
	"strings"
	"testing"

	"github.com/myriad-mail/myriad/statemachine"
)

func TestCheck(t *testing.T) {
	fsys := NewMemFS(MemFSOptions{})
	s := newTestStore(t, fsys, func(c *Config) { c.LogRotateBytes = 500 })
	a := login(t, s, "alice")
	login(t, s, "bob")
	mbox, _ := a.Open("INBOX")
	for i := range 30 {
		a.Append("INBOX", []string{`\Seen`}, int64(i), []byte("Subject: x\r\n\r\nbody\r\n"))
		mbox.Store.Store([]statemachine.UID{statemachine.UID(i + 1)}, statemachine.FlagsAdd, []string{`\Flagged`}, 0)
	}
	a.Release(mbox)
	s.Close()

	clean, err := newTestStore(t, fsys, nil).Check("", false)
	if err != nil || clean.Problems() != 0 || len(clean.Users) != 2 || clean.Users[0].Messages != 30 {
		t.Fatalf("clean store: %v\n%s", err, clean)
	}
	// Damage: a bit in the index, a message file, and a message file gone.
	fsys.FlipBit("u/alice/mb0/index", 8*100)
	fsys.FlipBit("u/alice/mb0/m/7", 8*40)
	fsys.RemoveAll("u/alice/mb0/m/9")
	before := strings.Join(fsys.Files("u"), "\n")
	r, err := newTestStore(t, fsys, nil).Check("alice", false)
	if err != nil || r.Problems() < 3 {
		t.Fatalf("damaged: %v\n%s", err, r)
	}
	out := r.String()
	for _, want := range []string{"index: failed its checksums", "message 7: file failed its checksum", "expunged: [9]"} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	if after := strings.Join(fsys.Files("u"), "\n"); after != before || fsys.FileSize("u/alice/mb0/m/7") < 0 {
		t.Fatal("check without repair changed files")
	}
	if _, err := newTestStore(t, fsys, nil).Check("alice", true); err != nil {
		t.Fatal(err)
	}
	r, _ = newTestStore(t, fsys, nil).Check("alice", false)
	// Only the damaged message file remains (it can only be restored).
	if r.Problems() != 1 || !strings.Contains(r.String(), "message 7") {
		t.Fatalf("after repair:\n%s", r)
	}
	st, _ := login(t, newTestStore(t, fsys, nil), "alice").Status("INBOX")
	if st.Messages != 29 || st.Unseen != 0 {
		t.Fatalf("after repair: %+v", st)
	}
}
