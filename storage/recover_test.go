package storage

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/myriad-mail/myriad/statemachine"
)

// openInbox opens alice's INBOX on a fresh Store over fsys, returns its
// snapshot and closes the store again.
func openInbox(t *testing.T, fsys *MemFS) *statemachine.Snapshot {
	t.Helper()
	s := newTestStore(t, fsys, nil)
	mb, err := login(t, s, "alice").Open("INBOX")
	if err != nil {
		t.Fatal(err)
	}
	snap := mb.Current()
	s.Close()
	return snap
}

// TestRecoveryOutOfOrderLog is finding F3 (docs/FUZZING.md): a log whose
// modseqs go back (storage never writes one; damage or hands can) must give
// the same mailbox on every open, although the first open rotates the
// damaged log away and the second starts from the index the first wrote.
// The records apply in modseq order: the newest change of a message wins.
func TestRecoveryOutOfOrderLog(t *testing.T) {
	const kw1, kw3 = statemachine.Flags(1) << (statemachine.KeywordBase + 1), statemachine.Flags(1) << (statemachine.KeywordBase + 3)
	sf := statemachine.FlagSeen | statemachine.FlagFlagged | statemachine.FlagDeleted
	app := func(uid statemachine.UID, f statemachine.Flags) []byte {
		return encodeAppendBody([]statemachine.Message{{UID: uid, Size: 1, Flags: f, Date: 7}})
	}
	flags := func(uid statemachine.UID, f statemachine.Flags) []byte {
		return encodeFlagsBody([]statemachine.Message{{UID: uid, Flags: f}})
	}
	expunge := func(uid statemachine.UID) []byte { return encodeUIDsBody([]statemachine.UID{uid}) }
	type rec struct {
		typ    byte
		modseq uint64
		body   []byte
	}
	type want struct {
		uid   statemachine.UID
		flags statemachine.Flags // 0: the message must be absent
	}
	for _, tc := range []struct {
		name string
		recs []rec
		want []want
	}{
		{"flags-before-append", []rec{ // the fuzzer's first F3 input
			{recFlags, 1000, flags(12, sf|kw1)},
			{recAppend, 1, app(12, statemachine.FlagFlagged|statemachine.FlagDeleted|statemachine.FlagDraft|kw3)},
		}, []want{{12, sf | kw1}}},
		{"expunge-before-append", []rec{ // the fuzzer's second F3 input
			{recExpunge, 6, expunge(3)},
			{recAppend, 3, app(3, statemachine.FlagSeen)},
			{recAppend, 4, app(4, statemachine.FlagSeen)},
		}, []want{{3, 0}, {4, statemachine.FlagSeen}}},
		{"stale-flags-after-newer", []rec{
			{recAppend, 10, app(5, 0)},
			{recFlags, 12, flags(5, statemachine.FlagSeen)},
			{recFlags, 11, flags(5, statemachine.FlagDeleted)}, // older: never resets \Seen
		}, []want{{5, statemachine.FlagSeen}}},
		{"equal-modseqs", []rec{ // one modseq for two changes of a message: the first one holds
			{recExpunge, 20, expunge(7)},
			{recAppend, 20, app(7, statemachine.FlagAnswered)},
			{recAppend, 21, app(8, statemachine.FlagAnswered)},
			{recExpunge, 21, expunge(8)},
			{recFlags, 21, flags(8, statemachine.FlagDraft)},
		}, []want{{7, statemachine.FlagAnswered}, {8, statemachine.FlagAnswered}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fsys := NewMemFS(MemFSOptions{})
			newTestStore(t, fsys, nil)
			openInbox(t, fsys) // creates the account and INBOX
			dir := "u/alice/mb0"
			log := []byte{0xA5} // one damaged byte: the first open rotates the log away
			for _, r := range tc.recs {
				log = appendLogRecord(log, r.typ, r.modseq, r.body)
			}
			for _, f := range []string{"index", "index.backup", "log.1", "clean"} {
				fsys.Remove(dir + "/" + f)
			}
			writeTestFile(t, fsys, dir+"/log", log)
			for _, w := range tc.want {
				writeTestFile(t, fsys, fmt.Sprintf("%s/m/%d", dir, w.uid), []byte("x"))
			}
			var snaps []*statemachine.Snapshot
			for n := range 3 {
				snap := openInbox(t, fsys)
				snaps = append(snaps, snap)
				for _, w := range tc.want {
					var m statemachine.Message
					i := snap.Index(w.uid)
					ok := i >= 0
					if ok {
						m = *snap.At(i)
					}
					switch {
					case w.flags == 0 && ok:
						t.Errorf("open %d: UID %d present (flags %#x), want it expunged", n+1, w.uid, m.Flags)
					case w.flags != 0 && !ok:
						t.Errorf("open %d: UID %d missing", n+1, w.uid)
					case w.flags != 0 && m.Flags != w.flags:
						t.Errorf("open %d: UID %d flags %#x, want %#x", n+1, w.uid, m.Flags, w.flags)
					}
				}
				if n == 0 && fsys.FileSize(dir+"/index") <= 0 {
					t.Fatalf("the first open wrote no index: the test no longer reaches a second recovery from a fresh base")
				}
			}
			if snaps[1].HighestModSeq < snaps[0].HighestModSeq || snaps[1].Len() != snaps[0].Len() {
				t.Fatalf("second open: %d messages, HIGHESTMODSEQ %d; first: %d, %d", snaps[1].Len(), snaps[1].HighestModSeq, snaps[0].Len(), snaps[0].HighestModSeq)
			}
		})
	}
}

func writeTestFile(t *testing.T, fsys FS, name string, b []byte) {
	t.Helper()
	f, err := fsys.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// lastRecordOffset returns where the last record of log b starts.
func lastRecordOffset(t *testing.T, b []byte) int {
	t.Helper()
	off, last := 0, -1
	for off < len(b) {
		_, n, err := decodeLogRecord(b[off:])
		if err != nil {
			t.Fatalf("log does not verify at %d", off)
		}
		last, off = off, off+n
	}
	return last
}

// TestLogCutAtBoundaryAfterCleanClose: a log that loses its last records
// (exactly at a record boundary) while the mailbox is closed is caught by
// the clean marker: the loss is reported and no modseq is reused.
func TestLogCutAtBoundaryAfterCleanClose(t *testing.T) {
	fsys := NewMemFS(MemFSOptions{})
	s := newTestStore(t, fsys, nil)
	a := login(t, s, "alice")
	mb, _ := a.Open("INBOX")
	for i := range 3 {
		if _, err := a.Append("INBOX", nil, int64(i), []byte(fmt.Sprintf("m %d\r\n", i))); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := mb.Store.Store([]statemachine.UID{2}, statemachine.FlagsAdd, []string{`\Seen`}, 0); err != nil {
		t.Fatal(err)
	}
	before := mb.Current().HighestModSeq // a client has seen it
	s.Close()
	const log = "u/alice/mb0/log"
	b, _ := readFile(fsys, log)
	if err := fsys.Chop(log, int64(lastRecordOffset(t, b))); err != nil { // the STORE's record
		t.Fatal(err)
	}
	rep, err := recoverMailbox(fsys, "u/alice/mb0", 0, true, false)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(rep.lines, func(l string) bool { return strings.Contains(l, "at the last clean close: records lost") }) {
		t.Errorf("the cut is not reported: %q", rep.lines)
	}
	s2 := newTestStore(t, fsys, nil)
	mb2, _ := login(t, s2, "alice").Open("INBOX")
	if got := mb2.Current().HighestModSeq; got <= before {
		t.Fatalf("HIGHESTMODSEQ %d after the cut, was %d: modseqs will be reused", got, before)
	}
	if _, err := mb2.Store.Store([]statemachine.UID{3}, statemachine.FlagsAdd, []string{`\Flagged`}, 0); err != nil {
		t.Fatal(err)
	}
	if m := mb2.Current().At(2); m.ModSeq <= before {
		t.Fatalf("a new change got modseq %d, not above %d", m.ModSeq, before)
	}
	s2.Close()
}

// TestLog1CutAtBoundary: with the index damaged, log.1 rebuilds the state;
// a log.1 cut at a record boundary is told from a whole one by the modseq
// of the next log's first record.
func TestLog1CutAtBoundary(t *testing.T) {
	fsys := NewMemFS(MemFSOptions{})
	s := newTestStore(t, fsys, func(c *Config) { c.LogRotateBytes = 300 })
	a := login(t, s, "alice")
	mb, _ := a.Open("INBOX")
	for i := range 12 {
		if _, err := a.Append("INBOX", nil, int64(i), []byte(fmt.Sprintf("m %d\r\n", i))); err != nil {
			t.Fatal(err)
		}
		if _, err := mb.Store.Store([]statemachine.UID{statemachine.UID(i + 1)}, statemachine.FlagsAdd, []string{`\Seen`}, 0); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	dir := "u/alice/mb0"
	if fsys.FileSize(dir+"/log.1") <= 0 {
		t.Fatal("no rotation")
	}
	if err := fsys.FlipBit(dir+"/index", 8*60); err != nil { // a record of the index
		t.Fatal(err)
	}
	found := func() bool {
		rep, err := recoverMailbox(fsys, dir, 0, true, false)
		if err != nil {
			t.Fatal(err)
		}
		return slices.ContainsFunc(rep.lines, func(l string) bool { return strings.Contains(l, "log.1 lost its last records") })
	}
	if found() {
		t.Fatal("a whole log.1 reported as cut")
	}
	b, _ := readFile(fsys, dir+"/log.1")
	if err := fsys.Chop(dir+"/log.1", int64(lastRecordOffset(t, b))); err != nil {
		t.Fatal(err)
	}
	if !found() {
		t.Fatal("log.1 cut at a record boundary not reported")
	}
}
