package fuzz

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	sm "github.com/myriad-mail/myriad/statemachine"
)

// FuzzParse feeds arbitrary client bytes to the framer and the command
// parser, cut into chunks whose sizes come from the fuzz input (cuts[0]
// picks the Limits, cuts[1:] are the chunk sizes, repeated). It checks:
//
//   - nothing panics and the framer always makes progress;
//   - every frame drops 0..len(buf) bytes, commands and lines end with LF;
//   - after the framer asks for more input, the bytes the caller still
//     buffers are within the Limits (MaxCommand for a command, MaxLine for
//     a line): hostile input cannot make a session hold more;
//   - the frames and the parsed commands are the same whether the input
//     arrives whole, in the fuzzed chunks, or one byte at a time.
//
// Like a session, the driver reads a single line after IDLE and after
// AUTHENTICATE without an initial response, and stops at a fatal frame.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"a NOOP\r\nb LOGIN {3}\r\nbob {6+}\r\nse\r\nct\r\nc SELECT INBOX\nd FETCH 1 (FLAGS)\r\n",
		"a IDLE\r\nDONE\r\nb AUTHENTICATE PLAIN\r\nAGFsaWNlAHNlY3JldA==\r\nc LOGOUT\r\n",
		"a APPEND INBOX {200}\r\nb NOOP\r\n",
		"a APPEND INBOX ~{5+}\r\n\x00\x01\x02\x03\x04\r\n",
		"a LOGIN \"{5}\" x\r\nb LOGIN \"x\\\" {3}\r\nabc\r\n",
		strings.Repeat("x", 100) + "\r\na NOOP\r\n",
		"a LOGIN {99999999999999999999+}\r\n",
	} {
		f.Add([]byte(s), []byte{0})
		f.Add([]byte(s), []byte{0, 1})
		f.Add([]byte(s), []byte{1, 3, 7})
	}
	f.Fuzz(func(t *testing.T, in, cuts []byte) {
		lim := parseLimits[0]
		if len(cuts) > 0 {
			lim = parseLimits[int(cuts[0])%len(parseLimits)]
		}
		whole := runParse(t, &lim, in, nil)
		if len(cuts) > 1 {
			chunked := runParse(t, &lim, in, cuts[1:])
			compareParse(t, in, "fuzzed chunks", whole, chunked)
		}
		if len(in) <= 4096 {
			bytewise := runParse(t, &lim, in, []byte{1})
			compareParse(t, in, "one byte at a time", whole, bytewise)
		}
	})
}

// parseLimits are small enough for fuzz inputs to reach every limit.
var parseLimits = []sm.Limits{
	{MaxLine: 64, MaxLiteral: 100, MaxNonSyncLiteral: 50, MaxCommand: 300, MaxLiterals: 3},
	{MaxLine: 200, MaxLiteral: 1000, MaxNonSyncLiteral: 4096, MaxCommand: 2000, MaxLiterals: 10},
	{MaxLine: 1024, MaxLiteral: 4096, MaxNonSyncLiteral: 4096, MaxCommand: 8192, MaxLiterals: 100},
	{MaxLine: 16, MaxLiteral: 10, MaxNonSyncLiteral: 10, MaxCommand: 40, MaxLiterals: 1},
}

func compareParse(t *testing.T, in []byte, how string, want, got []string) {
	t.Helper()
	if slices.Equal(want, got) {
		return
	}
	i := 0
	for i < len(want) && i < len(got) && want[i] == got[i] {
		i++
	}
	w, g := "<end>", "<end>"
	if i < len(want) {
		w = want[i]
	}
	if i < len(got) {
		g = got[i]
	}
	t.Fatalf("input %q\nfed %s differs from fed whole at event %d:\n whole: %s\n %s: %s", in, how, i, w, how, g)
}

// parseDriver plays a session's input side.
type parseDriver struct {
	t      *testing.T
	f      sm.Framer
	lim    *sm.Limits
	buf    []byte
	line   bool // the next input is a line (IDLE's DONE, an AUTHENTICATE answer)
	closed bool
	events []string
	cmd    sm.Command
}

// runParse feeds in whole (cuts nil) or in chunks of the sizes in cuts,
// repeated (0 counts as 1), and returns the events.
func runParse(t *testing.T, lim *sm.Limits, in, cuts []byte) []string {
	d := &parseDriver{t: t, lim: lim}
	if cuts == nil {
		d.feed(in)
	} else {
		for i, k := 0, 0; i < len(in); k++ {
			n := max(1, int(cuts[k%len(cuts)]))
			n = min(n, len(in)-i)
			d.feed(in[i : i+n])
			i += n
		}
	}
	return d.events
}

func (d *parseDriver) feed(chunk []byte) {
	if d.closed {
		return
	}
	d.buf = append(d.buf, chunk...)
	// Every frame drops bytes or is followed by one that does (a Continue
	// drops none): a bound on the frames of this feed, taken before they
	// shrink the buffer (many empty commands in one chunk are fine).
	limit := 4*len(d.buf) + 64
	for steps := 0; ; steps++ {
		if steps > limit {
			d.t.Fatalf("framer makes no progress on %q", d.buf)
		}
		var fr sm.Frame
		if d.line {
			fr = d.f.NextLine(d.buf, d.lim)
		} else {
			fr = d.f.Next(d.buf, d.lim)
		}
		if fr.N < 0 || fr.N > len(d.buf) {
			d.t.Fatalf("%v frame drops %d bytes of %d buffered", fr.Kind, fr.N, len(d.buf))
		}
		switch fr.Kind {
		case sm.FrameNeedMore:
			if fr.N != 0 {
				d.t.Fatalf("NeedMore frame drops %d bytes", fr.N)
			}
		case sm.FrameSkip:
			// The rest of a too long line: how much comes in each frame
			// depends on the chunking, so it is not an event.
			if fr.N == 0 {
				d.t.Fatalf("Skip frame of 0 bytes")
			}
		case sm.FrameCommand:
			if d.line || fr.N == 0 || d.buf[fr.N-1] != '\n' {
				d.t.Fatalf("command frame %q (line mode %v)", d.buf[:fr.N], d.line)
			}
			d.command(d.buf[:fr.N])
		case sm.FrameLine:
			if !d.line || fr.N == 0 || d.buf[fr.N-1] != '\n' {
				d.t.Fatalf("line frame %q (line mode %v)", d.buf[:fr.N], d.line)
			}
			d.events = append(d.events, fmt.Sprintf("Line %q", d.buf[:fr.N]))
			d.line = false
		case sm.FrameContinue:
			if fr.N != 0 || fr.Size < 0 || fr.Size > d.lim.MaxLiteral {
				d.t.Fatalf("continue frame %+v", fr)
			}
			d.events = append(d.events, fmt.Sprintf("Continue %d", fr.Size))
		case sm.FrameLiteralTooBig, sm.FrameBad, sm.FrameFatal:
			if fr.Msg == "" || fr.N == 0 && fr.Kind != sm.FrameFatal {
				d.t.Fatalf("%v frame %+v", fr.Kind, fr)
			}
			d.events = append(d.events, fmt.Sprintf("%v tag=%q size=%d msg=%q", fr.Kind, fr.Tag, fr.Size, fr.Msg))
		default:
			d.t.Fatalf("frame kind %v", fr.Kind)
		}
		if fr.Kind == sm.FrameFatal {
			d.closed = true
			d.buf = nil
			return
		}
		d.buf = d.buf[:copy(d.buf, d.buf[fr.N:])]
		if fr.Kind == sm.FrameNeedMore {
			max := d.lim.MaxCommand
			if d.line {
				max = int64(d.lim.MaxLine)
			}
			if int64(len(d.buf)) > max {
				d.t.Fatalf("%d bytes buffered waiting for more input, limit %d (line mode %v): %q", len(d.buf), max, d.line, d.buf)
			}
			return
		}
	}
}

// command records a command frame and how it parses, and switches to line
// mode where a session would.
func (d *parseDriver) command(frame []byte) {
	err := sm.ParseCommand(frame, &d.cmd, sm.ParseOptions{})
	if err != nil {
		d.events = append(d.events, fmt.Sprintf("Command %q: %v", frame, err))
		return
	}
	d.events = append(d.events, fmt.Sprintf("Command %q: %s", frame, sm.AppendCommand(nil, &d.cmd)))
	switch {
	case d.cmd.Name == sm.CmdIdle:
		d.line = true
	case d.cmd.Name == sm.CmdAuthenticate && !d.cmd.HasInitialResp:
		d.line = true
	}
}
