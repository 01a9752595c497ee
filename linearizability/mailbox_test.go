package linearizability

import (
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
)

func op(t0, t1 int64, in *Input, out *Output) porcupine.Operation {
	if in.Key == "" {
		in.Key = "u"
	}
	return porcupine.Operation{Input: in, Output: out, Call: t0, Return: t1}
}

func reset(b *Box) porcupine.Operation {
	return op(0, 0, &Input{Mailbox: "INBOX", Kind: OpReset, Reset: b}, &Output{OK: true})
}

func TestModel(t *testing.T) {
	empty := &Box{UIDNext: 1}
	cases := []struct {
		name string
		ok   bool
		h    []porcupine.Operation
	}{
		{"append then read", true, []porcupine.Operation{
			reset(empty),
			op(1, 2, &Input{Mailbox: "INBOX", Kind: OpAppend, Flags: Seen}, &Output{OK: true, UID: 1}),
			op(3, 4, &Input{Mailbox: "INBOX", Kind: OpRead}, &Output{OK: true, Observed: []Msg{{UID: 1, Flags: Seen}}}),
		}},
		{"stale read after store", false, []porcupine.Operation{
			reset(empty),
			op(1, 2, &Input{Mailbox: "INBOX", Kind: OpAppend}, &Output{OK: true, UID: 1}),
			op(3, 4, &Input{Mailbox: "INBOX", Kind: OpStore, UIDs: []uint32{1}, Store: StoreAdd, Flags: Flagged}, &Output{OK: true}),
			op(5, 6, &Input{Mailbox: "INBOX", Kind: OpRead}, &Output{OK: true, Observed: []Msg{{UID: 1}}}),
		}},
		{"concurrent store and read", true, []porcupine.Operation{
			reset(empty),
			op(1, 2, &Input{Mailbox: "INBOX", Kind: OpAppend}, &Output{OK: true, UID: 1}),
			op(3, 6, &Input{Mailbox: "INBOX", Kind: OpStore, UIDs: []uint32{1}, Store: StoreAdd, Flags: Flagged}, &Output{OK: true}),
			op(4, 5, &Input{Mailbox: "INBOX", Kind: OpRead}, &Output{OK: true, Observed: []Msg{{UID: 1}}}),
		}},
		{"UID reuse after expunge", false, []porcupine.Operation{
			reset(empty),
			op(1, 2, &Input{Mailbox: "INBOX", Kind: OpAppend, Flags: Deleted}, &Output{OK: true, UID: 1}),
			op(3, 4, &Input{Mailbox: "INBOX", Kind: OpExpunge}, &Output{OK: true}),
			op(5, 6, &Input{Mailbox: "INBOX", Kind: OpAppend}, &Output{OK: true, UID: 1}),
		}},
		{"unknown store, then either flags", true, []porcupine.Operation{
			reset(&Box{UIDNext: 2, Msgs: []Msg{{UID: 1, Known: AllFlags}}}),
			op(1, 2, &Input{Mailbox: "INBOX", Kind: OpStore, UIDs: []uint32{1}, Store: StoreAdd, Flags: Seen}, &Output{Unknown: true}),
			op(3, 4, &Input{Mailbox: "INBOX", Kind: OpRead}, &Output{OK: true, Observed: []Msg{{UID: 1, Flags: Seen}}}),
			op(5, 6, &Input{Mailbox: "INBOX", Kind: OpRead}, &Output{OK: true, Observed: []Msg{{UID: 1, Flags: Seen}}}),
		}},
		{"unknown store, then flip-flop", false, []porcupine.Operation{
			reset(&Box{UIDNext: 2, Msgs: []Msg{{UID: 1, Known: AllFlags}}}),
			op(1, 2, &Input{Mailbox: "INBOX", Kind: OpStore, UIDs: []uint32{1}, Store: StoreAdd, Flags: Seen}, &Output{Unknown: true}),
			op(3, 4, &Input{Mailbox: "INBOX", Kind: OpRead}, &Output{OK: true, Observed: []Msg{{UID: 1, Flags: Seen}}}),
			op(5, 6, &Input{Mailbox: "INBOX", Kind: OpRead}, &Output{OK: true, Observed: []Msg{{UID: 1}}}),
		}},
		{"move keeps flags", true, []porcupine.Operation{
			reset(&Box{UIDNext: 3, Msgs: []Msg{{UID: 2, Flags: Answered, Known: AllFlags}}}),
			op(1, 2, &Input{Mailbox: "INBOX", Kind: OpMove, Dest: "Trash", UIDs: []uint32{2}}, &Output{OK: true, Src: []uint32{2}, Dest: []uint32{1}}),
			op(3, 4, &Input{Mailbox: "Trash", Kind: OpRead}, &Output{OK: true, Observed: []Msg{{UID: 1, Flags: Answered}}}),
			op(5, 6, &Input{Mailbox: "INBOX", Kind: OpStatus}, &Output{OK: true, Messages: 0, UIDNext: 3}),
		}},
		// Seed 119: an APPEND whose connection died before the tagged
		// response, then a COPY by another session of the message it
		// added (the model knew it only as a ghost).
		{"copy of a message appended with unknown outcome", true, []porcupine.Operation{
			reset(empty),
			op(1, 4, &Input{Mailbox: "INBOX", Kind: OpAppend, Flags: Draft}, &Output{Unknown: true}),
			op(5, 6, &Input{Mailbox: "INBOX", Kind: OpCopy, Dest: "Archive", UIDs: []uint32{1}}, &Output{OK: true, Src: []uint32{1}, Dest: []uint32{1}}),
			op(7, 8, &Input{Mailbox: "Archive", Kind: OpRead}, &Output{OK: true, Observed: []Msg{{UID: 1, Flags: Draft}}}),
			op(9, 10, &Input{Mailbox: "INBOX", Kind: OpStatus}, &Output{OK: true, Messages: 1, UIDNext: 2}),
		}},
		{"copy of a message never appended", false, []porcupine.Operation{
			reset(empty),
			op(1, 4, &Input{Mailbox: "INBOX", Kind: OpAppend, Flags: Draft}, &Output{OK: true, UID: 1}),
			op(5, 6, &Input{Mailbox: "INBOX", Kind: OpCopy, Dest: "Archive", UIDs: []uint32{1, 2}}, &Output{OK: true, Src: []uint32{1, 2}, Dest: []uint32{1, 2}}),
		}},
		{"lost message in STATUS", false, []porcupine.Operation{
			reset(&Box{UIDNext: 3, Msgs: []Msg{{UID: 2, Known: AllFlags}}}),
			op(5, 6, &Input{Mailbox: "INBOX", Kind: OpStatus}, &Output{OK: true, Messages: 0, UIDNext: 3}),
		}},
	}
	for _, tc := range cases {
		ok, res, _ := Check(tc.h, 5*time.Second)
		if ok != tc.ok {
			t.Errorf("%s: check %s, want ok=%v", tc.name, res, tc.ok)
		}
	}
}

// TestModelModSeq: the model rejects histories in which mod-sequences go
// back, a flag change keeps its mod-sequence, a FETCH (CHANGEDSINCE) misses
// a message changed after it or a STORE (UNCHANGEDSINCE) stores one
// (RFC 7162), and accepts the correct variants.
func TestModelModSeq(t *testing.T) {
	two := &Box{UIDNext: 3, HighestModSeq: 5, Msgs: []Msg{{UID: 1, Known: AllFlags, ModSeq: 3}, {UID: 2, Known: AllFlags, ModSeq: 5}}}
	read := func(t0 int64, obs ...Msg) porcupine.Operation {
		return op(t0, t0+1, &Input{Mailbox: "INBOX", Kind: OpRead}, &Output{OK: true, Observed: obs})
	}
	changed := func(t0 int64, since uint64, returned ...uint32) porcupine.Operation {
		return op(t0, t0+1, &Input{Mailbox: "INBOX", Kind: OpRead, ChangedSince: since, UIDs: []uint32{1, 2}}, &Output{OK: true, Returned: returned})
	}
	storeSeen := func(t0 int64, uid uint32) porcupine.Operation {
		return op(t0, t0+1, &Input{Mailbox: "INBOX", Kind: OpStore, UIDs: []uint32{uid}, Store: StoreAdd, Flags: Seen}, &Output{OK: true})
	}
	status := func(t0 int64, h uint64) porcupine.Operation {
		return op(t0, t0+1, &Input{Mailbox: "INBOX", Kind: OpStatus}, &Output{OK: true, Messages: 2, UIDNext: 3, HighestModSeq: h})
	}
	cases := []struct {
		name string
		ok   bool
		h    []porcupine.Operation
	}{
		{"modseq observed as it is", true, []porcupine.Operation{reset(two), read(1, Msg{UID: 1, ModSeq: 3}, Msg{UID: 2, ModSeq: 5})}},
		{"modseq goes back", false, []porcupine.Operation{reset(two), read(1, Msg{UID: 2, ModSeq: 4})}},
		{"modseq goes back after a later observation", false, []porcupine.Operation{
			reset(two), read(1, Msg{UID: 1, ModSeq: 9}), read(3, Msg{UID: 1, ModSeq: 8})}},
		{"flag change with a new modseq", true, []porcupine.Operation{
			reset(two), storeSeen(1, 2), read(3, Msg{UID: 2, Flags: Seen, ModSeq: 6})}},
		{"flag change keeps its modseq", false, []porcupine.Operation{
			reset(two), storeSeen(1, 2), read(3, Msg{UID: 2, Flags: Seen, ModSeq: 5})}},
		{"flag change below the mailbox's highest modseq", false, []porcupine.Operation{
			// UID 1 (modseq 3) changes after HIGHESTMODSEQ 5: its new
			// modseq must be above 5, not just above 3.
			reset(two), storeSeen(1, 1), read(3, Msg{UID: 1, Flags: Seen, ModSeq: 4})}},
		{"no-op store needs no new modseq", true, []porcupine.Operation{
			reset(two), storeSeen(1, 2), read(3, Msg{UID: 2, Flags: Seen, ModSeq: 6}),
			storeSeen(5, 2), read(7, Msg{UID: 2, Flags: Seen, ModSeq: 6})}},
		{"unknown store, same modseq", true, []porcupine.Operation{
			reset(two),
			op(1, 2, &Input{Mailbox: "INBOX", Kind: OpStore, UIDs: []uint32{2}, Store: StoreAdd, Flags: Seen}, &Output{Unknown: true}),
			read(3, Msg{UID: 2, ModSeq: 5})}},
		{"changedsince returns the changed one", true, []porcupine.Operation{reset(two), changed(1, 4, 2)}},
		{"changedsince misses a message above it", false, []porcupine.Operation{reset(two), changed(1, 4)}},
		{"changedsince misses a message stored after", false, []porcupine.Operation{
			reset(two), storeSeen(1, 1), changed(3, 5, 2)}},
		{"changedsince after a store returns it", true, []porcupine.Operation{
			reset(two), storeSeen(1, 1), changed(3, 5, 1)}},
		{"changedsince misses an appended message", false, []porcupine.Operation{
			reset(two),
			op(1, 2, &Input{Mailbox: "INBOX", Kind: OpAppend}, &Output{OK: true, UID: 3}),
			op(3, 4, &Input{Mailbox: "INBOX", Kind: OpRead, ChangedSince: 5, UIDs: []uint32{1, 2, 3}}, &Output{OK: true})}},
		{"unchangedsince refuses a changed message", true, []porcupine.Operation{
			reset(two),
			op(1, 2, &Input{Mailbox: "INBOX", Kind: OpStore, UIDs: []uint32{1, 2}, Store: StoreAdd, Flags: Flagged, HasUnchanged: true, UnchangedSince: 4}, &Output{OK: true, Modified: []uint32{2}}),
			read(3, Msg{UID: 1, Flags: Flagged}, Msg{UID: 2})}},
		{"unchangedsince stores a changed message", false, []porcupine.Operation{
			reset(two),
			op(1, 2, &Input{Mailbox: "INBOX", Kind: OpStore, UIDs: []uint32{1, 2}, Store: StoreAdd, Flags: Flagged, HasUnchanged: true, UnchangedSince: 4}, &Output{OK: true}),
		}},
		{"highestmodseq grows", true, []porcupine.Operation{reset(two), status(1, 5), storeSeen(3, 1), status(5, 6)}},
		{"highestmodseq goes back", false, []porcupine.Operation{reset(two), status(1, 7), status(3, 6)}},
		{"highestmodseq below a message", false, []porcupine.Operation{reset(two), read(1, Msg{UID: 2, ModSeq: 8}), status(3, 7)}},
		{"highestmodseq unchanged by a change", false, []porcupine.Operation{reset(two), storeSeen(1, 1), status(3, 5)}},
		{"highestmodseq goes back after an expunge", false, []porcupine.Operation{
			reset(&Box{UIDNext: 3, HighestModSeq: 5, Msgs: []Msg{{UID: 1, Known: AllFlags, ModSeq: 3}, {UID: 2, Flags: Deleted, Known: AllFlags, ModSeq: 5}}}),
			op(1, 2, &Input{Mailbox: "INBOX", Kind: OpExpunge}, &Output{OK: true}),
			op(3, 4, &Input{Mailbox: "INBOX", Kind: OpStatus}, &Output{OK: true, Messages: 1, UIDNext: 3, HighestModSeq: 4})}},
		{"modseq of a message that may be gone is learnt", false, []porcupine.Operation{
			reset(&Box{UIDNext: 3, HighestModSeq: 5, Msgs: []Msg{{UID: 1, Known: AllFlags, ModSeq: 3}, {UID: 2, Flags: Deleted, Known: AllFlags, ModSeq: 5}}}),
			op(1, 2, &Input{Mailbox: "INBOX", Kind: OpExpunge}, &Output{Unknown: true}),
			read(3, Msg{UID: 2, Flags: Deleted, ModSeq: 9}),
			op(5, 6, &Input{Mailbox: "INBOX", Kind: OpStatus}, &Output{OK: true, Messages: 1, UIDNext: 3, HighestModSeq: 8})}},
	}
	for _, tc := range cases {
		ok, res, _ := Check(tc.h, 5*time.Second)
		if ok != tc.ok {
			t.Errorf("%s: check %s, want ok=%v", tc.name, res, tc.ok)
		}
	}
}

func TestProtocolChecker(t *testing.T) {
	var s Session
	s.Select("INBOX")
	for _, l := range []string{"* 3 EXISTS", "* 1 FETCH (UID 4 FLAGS (\\Seen))", "* 3 FETCH (UID 9 FLAGS ())"} {
		if err := s.Untagged(l); err != nil {
			t.Fatal(err)
		}
	}
	bad := map[string]string{
		"* 2 EXISTS":           "shrinks",
		"* 4 FETCH (FLAGS ())": "client knows",
		"* 2 FETCH (UID 3)":    "ascending",
		"* 2 FETCH (UID 10)":   "ascending",
		"* 1 FETCH (UID 5)":    "was UID",
	}
	for l, want := range bad {
		c := s
		c.Seq = append([]uint32(nil), s.Seq...)
		if err := c.Untagged(l); err == nil || !contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", l, err, want)
		}
	}
	s.Begin("FETCH", true, false)
	if err := s.Untagged("* 1 EXPUNGE"); err == nil {
		t.Error("EXPUNGE during FETCH by number accepted")
	}
	s.End()
	if err := s.Untagged("* 1 EXPUNGE"); err != nil {
		t.Fatal(err)
	}
	if err := s.Untagged("* 2 FETCH (UID 4)"); err == nil {
		t.Error("expunged UID 4 came back unnoticed")
	}
}

// TestProtocolCheckerQResync: VANISHED and MODSEQ in the protocol checker.
func TestProtocolCheckerQResync(t *testing.T) {
	start := func() *Session {
		s := &Session{QResync: true}
		s.Select("INBOX")
		for _, l := range []string{"* 4 EXISTS", "* OK [UIDVALIDITY 7] x", "* OK [HIGHESTMODSEQ 20] x",
			"* 1 FETCH (UID 3 FLAGS () MODSEQ (10))", "* 3 FETCH (UID 8 FLAGS () MODSEQ (12))", "* 4 FETCH (UID 9 FLAGS () MODSEQ (11))"} {
			if err := s.Untagged(l); err != nil {
				t.Fatalf("%q: %v", l, err)
			}
		}
		return s
	}
	bad := map[string]string{
		"* 1 EXPUNGE":                  "QRESYNC",
		"* VANISHED 10":                "no message",
		"* VANISHED 2":                 "no message",
		"* 1 FETCH (UID 3 MODSEQ (9))": "went back",
		"* 1 FETCH (UID 3 FLAGS (\\Seen) MODSEQ (10))": "changed",
		"* OK [HIGHESTMODSEQ 19] x":                    "HIGHESTMODSEQ",
	}
	for l, want := range bad {
		if err := start().Untagged(l); err == nil || !contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", l, err, want)
		}
	}
	s := start()
	// Message 2, whose UID the client does not know, may be UID 4.
	for _, l := range []string{"* VANISHED (EARLIER) 1:2,5", "* VANISHED 4", "* 2 FETCH (UID 8 FLAGS (\\Seen) MODSEQ (21))"} {
		if err := s.Untagged(l); err != nil {
			t.Fatalf("%q: %v", l, err)
		}
	}
	if len(s.Seq) != 3 || s.Seq[0] != 3 || s.Seq[1] != 8 {
		t.Fatalf("map after VANISHED: %v", s.Seq)
	}
	if err := s.Untagged("* 3 FETCH (UID 5)"); err == nil {
		t.Error("UID 5, reported VANISHED (EARLIER), came back unnoticed")
	}
	s.Begin("FETCH", true, false)
	if err := s.Untagged("* VANISHED 8"); err == nil {
		t.Error("VANISHED during FETCH by number accepted")
	}
	s.BeginChangedSince(21)
	if err := s.Untagged("* 2 FETCH (UID 8 MODSEQ (21))"); err == nil {
		t.Error("CHANGEDSINCE 21 returned MODSEQ 21 unnoticed")
	}
	s.End()
	if err := s.Modified([]uint32{1}, false, 10); err == nil {
		t.Error("[MODIFIED] of a message at MODSEQ 10 for UNCHANGEDSINCE 10 accepted")
	}
	if err := s.Modified([]uint32{1}, false, 9); err != nil {
		t.Error(err)
	}
	// FLAGS without MODSEQ may carry changes that MODSEQ 10 does not
	// reflect: the client no longer knows the MODSEQ well enough.
	if err := s.Untagged("* 1 FETCH (FLAGS ())"); err != nil {
		t.Fatal(err)
	}
	if err := s.Modified([]uint32{1}, false, 10); err != nil {
		t.Errorf("[MODIFIED] after FLAGS without MODSEQ: %v", err)
	}
	// A new selection of the same mailbox and UIDVALIDITY: HIGHESTMODSEQ
	// may not be below what this session saw.
	s.Select("INBOX")
	s.Untagged("* OK [UIDVALIDITY 7] x")
	if err := s.Untagged("* OK [HIGHESTMODSEQ 20] x"); err == nil {
		t.Error("HIGHESTMODSEQ 20 after MODSEQ 21 accepted")
	}
}

func contains(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}
