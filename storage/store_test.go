package storage

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/myriad-mail/myriad/statemachine"
)

type countWaker struct{ n int }

func (w *countWaker) Wake() { w.n++ }

func TestNewUserMailboxes(t *testing.T) {
	s := newTestStore(t, NewMemFS(MemFSOptions{}), nil)
	a := login(t, s, "alice")
	list, err := a.ListMailboxes()
	if err != nil {
		t.Fatal(err)
	}
	got := fmt.Sprint(list)
	sub := statemachine.AttrSubscribed | statemachine.AttrHasNoChildren
	want := fmt.Sprint([]statemachine.MailboxInfo{
		{Name: "Archive", Attrs: statemachine.AttrArchive | sub},
		{Name: "Drafts", Attrs: statemachine.AttrDrafts | sub},
		{Name: "INBOX", Attrs: sub},
		{Name: "Junk", Attrs: statemachine.AttrJunk | sub},
		{Name: "Sent", Attrs: statemachine.AttrSent | sub},
		{Name: "Trash", Attrs: statemachine.AttrTrash | sub},
	})
	if got != want {
		t.Fatalf("list:\n got %s\nwant %s", got, want)
	}
	if _, err := s.Login("alice", "wrong"); !errors.Is(err, statemachine.ErrAuthFailed) {
		t.Fatalf("bad password: %v", err)
	}
	if _, err := s.Login("nobody", "pw"); !errors.Is(err, statemachine.ErrAuthFailed) {
		t.Fatalf("unknown user: %v", err)
	}
}

func TestMailboxOperations(t *testing.T) {
	fsys := NewMemFS(MemFSOptions{})
	s := newTestStore(t, fsys, nil)
	a := login(t, s, "alice")
	r1, err := a.Append("INBOX", []string{`\Seen`, "$Label1"}, 1000, []byte("Subject: one\r\n\r\nbody one\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	if r1.UID != 1 || r1.UIDValidity != 1_700_000_000 {
		t.Fatalf("append result %+v", r1)
	}
	r2, err := a.Append("inbox", nil, 2000, []byte("Subject: two\r\n\r\nbody two\r\n"))
	if err != nil || r2.UID != 2 {
		t.Fatalf("append 2: %+v %v", r2, err)
	}
	mbox, err := a.Open("INBOX")
	if err != nil {
		t.Fatal(err)
	}
	mbox2, _ := a.Open("INBOX")
	if mbox != mbox2 {
		t.Fatal("two Opens gave two Mailboxes")
	}
	a.Release(mbox2)
	w := &countWaker{}
	var slot int32
	mbox.Watch(w, &slot)
	snap := mbox.Current()
	if snap.Len() != 2 || snap.UIDNext != 3 || snap.HighestModSeq != 2 {
		t.Fatalf("snapshot: len %d uidnext %d modseq %d", snap.Len(), snap.UIDNext, snap.HighestModSeq)
	}
	if got := flagNames(snap.At(0).Flags, snap.Keywords); got != `$label1 \seen` {
		t.Fatalf("flags of 1: %q", got)
	}
	body, err := mbox.Store.Message(2)
	if err != nil || string(body) != "Subject: two\r\n\r\nbody two\r\n" {
		t.Fatalf("message 2: %q %v", body, err)
	}
	// STORE with UNCHANGEDSINCE: message 1 has modseq 1, message 2 modseq 2.
	mod, err := mbox.Store.Store([]statemachine.UID{1, 2}, statemachine.FlagsAdd, []string{`\Flagged`}, 1)
	if err != nil || !slices.Equal(mod, []statemachine.UID{2}) {
		t.Fatalf("store unchangedsince: %v %v", mod, err)
	}
	snap2 := mbox.Current()
	if snap2.HighestModSeq != 3 || snap2.At(0).ModSeq != 3 || snap2.At(1).ModSeq != 2 {
		t.Fatalf("after store: %+v", snap2.Messages())
	}
	if n, d := snap.Next(); n != snap2 || !slices.Equal(d.Changed, []statemachine.UID{1}) {
		t.Fatalf("delta: %v", d)
	}
	if w.n != 1 {
		t.Fatalf("wakes: %d", w.n)
	}
	// Keywords beyond the limit.
	var many []string
	for i := range statemachine.MaxKeywords {
		many = append(many, fmt.Sprintf("k%d", i))
	}
	if _, err := mbox.Store.Store([]statemachine.UID{1}, statemachine.FlagsAdd, many, 0); !errors.Is(err, statemachine.ErrTooManyKeywords) {
		t.Fatalf("too many keywords: %v", err)
	}
	if _, err := mbox.Store.Store([]statemachine.UID{2}, statemachine.FlagsAdd, many[:statemachine.MaxKeywords-1], 0); err != nil {
		t.Fatalf("max keywords: %v", err)
	}
	// COPY and MOVE.
	cr, err := mbox.Store.Copy([]statemachine.UID{1, 2}, "Archive")
	if err != nil || !slices.Equal(cr.Source, []statemachine.UID{1, 2}) || !slices.Equal(cr.Dest, []statemachine.UID{1, 2}) {
		t.Fatalf("copy: %+v %v", cr, err)
	}
	st, err := a.Status("Archive")
	if err != nil || st.Messages != 2 || st.Unseen != 1 || st.UIDNext != 3 {
		t.Fatalf("status: %+v %v", st, err)
	}
	before := w.n
	mr, err := mbox.Store.Move([]statemachine.UID{2}, "Trash")
	if err != nil || !slices.Equal(mr.Dest, []statemachine.UID{1}) {
		t.Fatalf("move: %+v %v", mr, err)
	}
	if w.n != before+1 {
		t.Fatalf("move woke %d times, want 1", w.n-before)
	}
	if mbox.Current().Len() != 1 {
		t.Fatal("move left the message")
	}
	if err := mbox.Store.Expunge([]statemachine.UID{1}); err != nil {
		t.Fatal(err)
	}
	if exp, ok := mbox.ExpungedSince(0); !ok || !slices.Equal(exp, []statemachine.UID{1, 2}) {
		t.Fatalf("expunged since: %v %v", exp, ok)
	}
	mbox.Unwatch(&slot)
	a.Release(mbox)

	// Everything survives a restart (without Close: a crash after acks).
	fsys.Crash()
	s2 := newTestStore(t, fsys, nil)
	a2 := login(t, s2, "alice")
	st, err = a2.Status("INBOX")
	if err != nil || st.Messages != 0 || st.UIDNext != 3 || st.HighestModSeq != 6 {
		t.Fatalf("INBOX after crash: %+v %v", st, err)
	}
	tr, _ := a2.Open("Trash")
	ts := tr.Current()
	if ts.Len() != 1 || len(ts.Keywords) != statemachine.MaxKeywords-1 {
		t.Fatalf("Trash after crash: %d msgs, %d keywords", ts.Len(), len(ts.Keywords))
	}
	if b, err := tr.Store.Message(1); err != nil || string(b) != "Subject: two\r\n\r\nbody two\r\n" {
		t.Fatalf("moved body: %q %v", b, err)
	}
}

func TestHierarchy(t *testing.T) {
	s := newTestStore(t, NewMemFS(MemFSOptions{}), nil)
	a := login(t, s, "alice")
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(a.CreateMailbox("a/b/c", 0))
	if err := a.CreateMailbox("a/b", 0); !errors.Is(err, statemachine.ErrMailboxExists) {
		t.Fatalf("create existing: %v", err)
	}
	if err := a.CreateMailbox("INBOX", 0); !errors.Is(err, statemachine.ErrMailboxExists) {
		t.Fatalf("create INBOX: %v", err)
	}
	// DELETE with inferiors makes \Noselect; again: ErrMailboxHasKids.
	must(a.DeleteMailbox("a/b"))
	if err := a.DeleteMailbox("a/b"); !errors.Is(err, statemachine.ErrMailboxHasKids) {
		t.Fatalf("delete noselect with kids: %v", err)
	}
	if _, err := a.Open("a/b"); !errors.Is(err, statemachine.ErrNoSuchMailbox) {
		t.Fatalf("open noselect: %v", err)
	}
	if err := a.DeleteMailbox("INBOX"); !errors.Is(err, statemachine.ErrCannotDeleteInbox) {
		t.Fatalf("delete INBOX: %v", err)
	}
	must(a.RenameMailbox("a", "x/y"))
	names := func() string {
		l, _ := a.ListMailboxes()
		var out []string
		for _, m := range l {
			s := m.Name
			if m.Attrs&statemachine.AttrNoSelect != 0 {
				s += "(ns)"
			}
			if m.Attrs&statemachine.AttrNonExistent != 0 {
				s += "(ne)"
			}
			out = append(out, s)
		}
		return fmt.Sprint(out)
	}
	if got := names(); got != "[Archive Drafts INBOX Junk Sent Trash x x/y x/y/b(ns) x/y/b/c]" {
		t.Fatalf("after rename: %s", got)
	}
	// RENAME INBOX moves its messages.
	if _, err := a.Append("INBOX", nil, 1, []byte("m\r\n")); err != nil {
		t.Fatal(err)
	}
	must(a.RenameMailbox("INBOX", "Old"))
	if st, _ := a.Status("INBOX"); st.Messages != 0 {
		t.Fatalf("INBOX after rename: %+v", st)
	}
	if st, _ := a.Status("Old"); st.Messages != 1 {
		t.Fatalf("Old after rename: %+v", st)
	}
	must(a.SetSubscribed("gone", false))
	must(a.SetSubscribed("Old", true))
	must(a.DeleteMailbox("Old"))
	if got := names(); got != "[Archive Drafts INBOX Junk Old(ne) Sent Trash x x/y x/y/b(ns) x/y/b/c]" {
		t.Fatalf("after delete: %s", got)
	}
}

func TestMailboxNameSafety(t *testing.T) {
	fsys := NewMemFS(MemFSOptions{})
	s := newTestStore(t, fsys, nil)
	a := login(t, s, "alice")
	bad := []string{"", "/", "a//b", "/a", "a/", "..\x00", "a\x00b", "\xff\xfe", "a*", "x\r\ny", string(make([]byte, 2000))}
	for _, n := range bad {
		if err := a.CreateMailbox(n, 0); !errors.Is(err, statemachine.ErrBadMailboxName) {
			t.Errorf("CreateMailbox(%q) = %v, want ErrBadMailboxName", n, err)
		}
	}
	odd := []string{"..", "../../bob", "../bob/mb0", "%2F..%2F", ".", "a/../../..", "~bob"}
	for _, n := range odd {
		if err := a.CreateMailbox(n, 0); err != nil {
			t.Fatalf("CreateMailbox(%q): %v", n, err)
		}
		if _, err := a.Append(n, nil, 1, []byte("x\r\n")); err != nil {
			t.Fatalf("Append(%q): %v", n, err)
		}
	}
	// Every file lies under alice's directory, in a mbN directory.
	for _, f := range fsys.Files("u") {
		if !(len(f) > len("u/alice/") && f[:len("u/alice/")] == "u/alice/") {
			t.Errorf("file outside alice's directory: %s", f)
		}
	}
	b := login(t, s, "bob")
	if st, _ := b.Status("INBOX"); st.Messages != 0 {
		t.Fatal("bob sees alice's mail")
	}
	for _, n := range odd {
		if _, err := b.Open(n); !errors.Is(err, statemachine.ErrNoSuchMailbox) {
			t.Errorf("bob opens alice's %q: %v", n, err)
		}
	}
	users := map[string]string{"..": "%2e.", "a/b": "a%2fb", ".x": "%2ex", "A": "%41", "x.y": "x.y", "%2F": "%252%46"}
	for in, want := range users {
		if got := userDirName(in); got != want {
			t.Errorf("userDirName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestRotationAndReopen(t *testing.T) {
	fsys := NewMemFS(MemFSOptions{})
	s := newTestStore(t, fsys, func(c *Config) { c.LogRotateBytes = 600 })
	a := login(t, s, "alice")
	mbox, _ := a.Open("INBOX")
	for i := range 50 {
		if _, err := a.Append("INBOX", nil, int64(i), []byte(fmt.Sprintf("msg %d\r\n", i))); err != nil {
			t.Fatal(err)
		}
		if i%3 == 0 {
			if _, err := mbox.Store.Store([]statemachine.UID{statemachine.UID(i + 1)}, statemachine.FlagsAdd, []string{`\Seen`, fmt.Sprintf("kw%d", i%5)}, 0); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := mbox.Store.Expunge([]statemachine.UID{2, 3, 5}); err != nil {
		t.Fatal(err)
	}
	want := mbox.Current()
	if fsys.FileSize("u/alice/mb0/index.backup") < 0 || fsys.FileSize("u/alice/mb0/log.1") < 0 {
		t.Fatal("no rotation happened")
	}
	fsys.Crash()
	s2 := newTestStore(t, fsys, nil)
	got, _ := login(t, s2, "alice").Open("INBOX")
	compareSnap(t, want, got.Current())
}

func compareSnap(t *testing.T, want, got *statemachine.Snapshot) {
	t.Helper()
	if want.UIDValidity != got.UIDValidity || want.UIDNext != got.UIDNext || want.HighestModSeq != got.HighestModSeq || want.Len() != got.Len() {
		t.Fatalf("snapshot header: want %d/%d/%d/%d got %d/%d/%d/%d", want.UIDValidity, want.UIDNext, want.HighestModSeq, want.Len(), got.UIDValidity, got.UIDNext, got.HighestModSeq, got.Len())
	}
	for i := range want.Len() {
		w, g := want.At(i), got.At(i)
		if w.UID != g.UID || w.ModSeq != g.ModSeq || w.Size != g.Size || w.Date != g.Date || flagNames(w.Flags, want.Keywords) != flagNames(g.Flags, got.Keywords) {
			t.Fatalf("message %d: want %+v (%s) got %+v (%s)", i, *w, flagNames(w.Flags, want.Keywords), *g, flagNames(g.Flags, got.Keywords))
		}
	}
}

func TestIdleMailboxes(t *testing.T) {
	fsys := NewMemFS(MemFSOptions{})
	s := newTestStore(t, fsys, func(c *Config) { c.IdleMailboxes = 2 })
	a := login(t, s, "alice")
	for _, n := range []string{"A", "B", "C"} {
		if err := a.CreateMailbox(n, 0); err != nil {
			t.Fatal(err)
		}
		if _, err := a.Append(n, nil, 1, []byte("x\r\n")); err != nil {
			t.Fatal(err)
		}
	}
	// A, B, C were each released after their APPEND: two stay open.
	if len(a.idle) != 2 || len(a.open) != 2 || a.idle[0].name != "B" || a.idle[1].name != "C" {
		t.Fatalf("idle: %d open: %d", len(a.idle), len(a.open))
	}
	m1, _ := a.Open("C")
	if len(a.idle) != 1 || m1.Current().Len() != 1 {
		t.Fatal("Open did not take the idle mailbox")
	}
	a.Release(m1)
	// Deleting an idle mailbox closes it and removes its directory.
	if err := a.DeleteMailbox("C"); err != nil {
		t.Fatal(err)
	}
	if len(a.idle) != 1 || fsys.FileSize("u/alice/mb8/log") != -1 {
		t.Fatalf("after delete: idle %d, log size %d", len(a.idle), fsys.FileSize("u/alice/mb8/log"))
	}
	if err := a.CreateMailbox("C", 0); err != nil {
		t.Fatal(err)
	}
	if st, err := a.Status("C"); err != nil || st.Messages != 0 {
		t.Fatalf("recreated C: %+v %v", st, err)
	}
}

// TestAppendCopiesMessage: Append's message is the connection's input
// buffer, reused once Append returns (statemachine.Account contract); what
// the store serves later must not change with it.
func TestAppendCopiesMessage(t *testing.T) {
	fsys := NewMemFS(MemFSOptions{Seed: 1})
	s := newTestStore(t, fsys, nil)
	a := login(t, s, "alice")
	buf := []byte("Subject: original\r\n\r\nbody\r\n")
	res, err := a.Append("INBOX", nil, 0, buf)
	if err != nil {
		t.Fatal(err)
	}
	want := string(buf)
	for i := range buf {
		buf[i] = 'X'
	}
	mbox, err := a.Open("INBOX")
	if err != nil {
		t.Fatal(err)
	}
	defer a.Release(mbox)
	got, err := mbox.Store.Message(res.UID)
	if err != nil || string(got) != want {
		t.Fatalf("Message = %q, %v; want %q", got, err, want)
	}
}
