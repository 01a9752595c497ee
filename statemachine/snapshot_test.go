package statemachine

import (
	"testing"

	"pgregory.net/rapid"
)

// TestSnapshotChunks checks the chunked snapshot against a plain slice under
// random appends, flag changes and expunges, and that a change leaves the
// old snapshot as it was.
func TestSnapshotChunks(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		s := NewSnapshot(1, 1, 1, nil, nil)
		var model []Message
		modseq := uint64(1)
		for step := 0; step < rapid.IntRange(1, 80).Draw(rt, "steps"); step++ {
			prev, prevModel := s, append([]Message(nil), model...)
			modseq++
			switch rapid.IntRange(0, 2).Draw(rt, "op") {
			case 0:
				var add []Message
				for i := 0; i < rapid.IntRange(1, 700).Draw(rt, "n"); i++ {
					add = append(add, Message{UID: s.UIDNext + UID(i), ModSeq: modseq, Size: uint32(i)})
				}
				s, _ = s.WithAppended(add, nil)
				model = append(model, add...)
			case 1:
				if len(model) == 0 {
					continue
				}
				var ch []Message
				for i := 0; i < len(model); i += rapid.IntRange(1, 300).Draw(rt, "stride") {
					m := model[i]
					m.Flags ^= FlagSeen
					m.ModSeq = modseq
					model[i] = m
					ch = append(ch, m)
				}
				var d Delta
				s, d = s.WithChanged(ch, nil)
				if len(d.Changed) != len(ch) {
					rt.Fatalf("delta has %d changed, want %d", len(d.Changed), len(ch))
				}
			case 2:
				if len(model) == 0 {
					continue
				}
				var del []UID
				kept := model[:0:0]
				for _, m := range model {
					if rapid.IntRange(0, 3).Draw(rt, "del") == 0 {
						del = append(del, m.UID)
					} else {
						kept = append(kept, m)
					}
				}
				var d Delta
				s, d = s.WithExpunged(del, modseq)
				if len(d.Expunged) != len(del) {
					rt.Fatalf("delta has %d expunged, want %d", len(d.Expunged), len(del))
				}
				model = kept
			}
			checkSnapshot(rt, s, model)
			checkSnapshot(rt, prev, prevModel)
		}
	})
}

func checkSnapshot(rt *rapid.T, s *Snapshot, model []Message) {
	if s.Len() != len(model) {
		rt.Fatalf("Len %d, want %d", s.Len(), len(model))
	}
	for i, m := range model {
		if *s.At(i) != m {
			rt.Fatalf("At(%d) = %+v, want %+v", i, *s.At(i), m)
		}
		if s.Index(m.UID) != i {
			rt.Fatalf("Index(%d) = %d, want %d", m.UID, s.Index(m.UID), i)
		}
	}
	n := 0
	s.Each(0, func(i int, m *Message) bool {
		if *m != model[i] {
			rt.Fatalf("Each %d differs", i)
		}
		n++
		return true
	})
	if n != len(model) {
		rt.Fatalf("Each visited %d, want %d", n, len(model))
	}
	for _, c := range s.chunks {
		if len(c) == 0 || len(c) > chunkSize {
			rt.Fatalf("chunk of %d messages", len(c))
		}
	}
}
