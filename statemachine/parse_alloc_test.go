package statemachine

import "testing"

// TestParseAllocs: steady-state commands parse and frame without allocating
// once the Command has grown its slices (DESIGN.md).
func TestParseAllocs(t *testing.T) {
	for _, in := range []string{
		"a NOOP\r\n",
		"a IDLE\r\n",
		"a FETCH 1 (FLAGS)\r\n",
		"a UID FETCH 1 (FLAGS)\r\n",
		"a STORE 1 +FLAGS.SILENT (\\Seen)\r\n",
		"a UID FETCH 1:* (FLAGS) (CHANGEDSINCE 5)\r\n",
		"a UID STORE 1:3,7 (UNCHANGEDSINCE 9) -FLAGS (\\Seen \\Flagged $Junk)\r\n",
		"a FETCH 1:5 (UID BODY.PEEK[HEADER.FIELDS (From To)] BODY[1.2]<0.100>)\r\n",
		"a SELECT INBOX (CONDSTORE)\r\n",
		"a LOGIN bob secret\r\n",
	} {
		buf := []byte(in)
		var c Command
		var f Framer
		lim := DefaultLimits
		if err := ParseCommand(buf, &c, ParseOptions{}); err != nil { // grow the slices
			t.Fatalf("%q: %v", in, err)
		}
		allocs := testing.AllocsPerRun(100, func() {
			fr := f.Next(buf, &lim)
			if fr.Kind != FrameCommand || fr.N != len(buf) {
				t.Fatalf("%q: frame %+v", in, fr)
			}
			if err := ParseCommand(buf[:fr.N], &c, ParseOptions{}); err != nil {
				t.Fatalf("%q: %v", in, err)
			}
		})
		if allocs != 0 {
			t.Errorf("%q: %v allocations per command, want 0", in, allocs)
		}
	}
}

func TestNextLineAllocs(t *testing.T) {
	var f Framer
	lim := DefaultLimits
	buf := []byte("DONE\r\n")
	allocs := testing.AllocsPerRun(100, func() {
		if fr := f.NextLine(buf, &lim); fr.Kind != FrameLine || fr.N != 6 {
			t.Fatalf("frame %+v", fr)
		}
	})
	if allocs != 0 {
		t.Errorf("NextLine: %v allocations, want 0", allocs)
	}
}

func BenchmarkParseFetch(b *testing.B) {
	buf := []byte("a UID FETCH 1:* (FLAGS UID BODY.PEEK[HEADER.FIELDS (From To Subject Date)])\r\n")
	var c Command
	var f Framer
	b.ReportAllocs()
	b.SetBytes(int64(len(buf)))
	for b.Loop() {
		fr := f.Next(buf, nil)
		_ = ParseCommand(buf[:fr.N], &c, ParseOptions{})
	}
}
