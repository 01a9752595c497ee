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

func TestProtocolChecker(t *testing.T) {
	var s Session
	s.Select()
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

func contains(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}
