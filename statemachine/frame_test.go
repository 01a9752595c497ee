package statemachine

import (
	"fmt"
	"strings"
	"testing"
	"unsafe"
)

func TestFramerSize(t *testing.T) {
	if n := unsafe.Sizeof(Framer{}); n > 32 {
		t.Fatalf("Framer is %d bytes, want <= 32", n)
	}
}

// ftLimits are small limits so the tests reach them.
var ftLimits = Limits{MaxLine: 64, MaxLiteral: 100, MaxNonSyncLiteral: 50, MaxCommand: 300, MaxLiterals: 3}

// ftDriver plays a session: it appends received chunks to a buffer, calls
// Next (or NextLine after an IDLE command) until nothing more comes out,
// drops what frames say, and records every frame other than a plain
// FrameNeedMore as one line.
type ftDriver struct {
	f      Framer
	lim    *Limits
	buf    []byte
	events []string
	parses []string
	idle   bool
	closed bool
	maxBuf int
}

func (d *ftDriver) feed(chunk []byte) {
	if d.closed {
		return
	}
	d.buf = append(d.buf, chunk...)
	if len(d.buf) > d.maxBuf {
		d.maxBuf = len(d.buf)
	}
	for {
		var fr Frame
		if d.idle {
			fr = d.f.NextLine(d.buf, d.lim)
		} else {
			fr = d.f.Next(d.buf, d.lim)
		}
		switch fr.Kind {
		case FrameNeedMore:
			if fr.N != 0 {
				d.events = append(d.events, fmt.Sprintf("BUG: NeedMore with N=%d", fr.N))
			}
		case FrameSkip:
			// Not recorded: how the skipped bytes are cut depends on the
			// chunking.
			if fr.N <= 0 {
				d.events = append(d.events, fmt.Sprintf("BUG: Skip with N=%d", fr.N))
			}
		case FrameCommand:
			cmd := string(d.buf[:fr.N])
			d.events = append(d.events, fmt.Sprintf("Command %q", cmd))
			// The parse of the framed bytes is recorded too (only in
			// the chunked runs' comparison: the tables list frames).
			var c Command
			err := ParseCommand(d.buf[:fr.N], &c, ParseOptions{})
			d.parses = append(d.parses, fmt.Sprintf("%v %+v", err, c))
			if strings.HasSuffix(strings.TrimRight(strings.ToUpper(cmd), "\r\n"), " IDLE") {
				d.idle = true
			}
		case FrameLine:
			d.events = append(d.events, fmt.Sprintf("Line %q", d.buf[:fr.N]))
			d.idle = false
		default:
			d.events = append(d.events, fmt.Sprintf("%v tag=%q size=%d msg=%q", fr.Kind, fr.Tag, fr.Size, fr.Msg))
		}
		if fr.Kind == FrameFatal {
			d.closed = true
			return
		}
		if fr.N < 0 || fr.N > len(d.buf) {
			d.events = append(d.events, fmt.Sprintf("BUG: N=%d len=%d", fr.N, len(d.buf)))
			d.closed = true
			return
		}
		d.buf = d.buf[:copy(d.buf, d.buf[fr.N:])]
		if fr.Kind == FrameNeedMore {
			return
		}
	}
}

var ftConversations = []struct {
	name   string
	in     string
	events []string
}{
	{
		name: "plain",
		in:   "a NOOP\r\nb LOGIN {3}\r\nbob {6+}\r\nse\r\nct\r\nc SELECT INBOX\nd FETCH 1 (FLAGS)\r\n",
		events: []string{
			`Command "a NOOP\r\n"`,
			`Continue tag="" size=3 msg=""`,
			`Command "b LOGIN {3}\r\nbob {6+}\r\nse\r\nct\r\n"`,
			`Command "c SELECT INBOX\n"`,
			`Command "d FETCH 1 (FLAGS)\r\n"`,
		},
	},
	{
		name: "idle",
		in:   "a IDLE\r\nDONE\r\nb NOOP\r\nc idle\r\ndone\nd LOGOUT\r\n",
		events: []string{
			`Command "a IDLE\r\n"`,
			`Line "DONE\r\n"`,
			`Command "b NOOP\r\n"`,
			`Command "c idle\r\n"`,
			`Line "done\n"`,
			`Command "d LOGOUT\r\n"`,
		},
	},
	{
		name: "quoted braces are no literal",
		in:   "a LOGIN \"{5}\" x\r\nb LOGIN \"x\\\" {3}\r\nc LOGIN \"a\\\\\" {3}\r\nabc\r\n",
		events: []string{
			`Command "a LOGIN \"{5}\" x\r\n"`,
			`Command "b LOGIN \"x\\\" {3}\r\n"`,
			`Continue tag="" size=3 msg=""`,
			`Command "c LOGIN \"a\\\\\" {3}\r\nabc\r\n"`,
		},
	},
	{
		name: "line too long, then a good command",
		in:   "a NOOP\r\nb " + strings.Repeat("x", 200) + "\r\nc NOOP\r\n",
		events: []string{
			`Command "a NOOP\r\n"`,
			`Bad tag="b" size=0 msg="[TOOBIG] Command line too long"`,
			`Command "c NOOP\r\n"`,
		},
	},
	{
		name: "line of exactly MaxLine",
		in:   "a " + strings.Repeat("x", 60) + "\r\n" + "b " + strings.Repeat("x", 61) + "\r\nc NOOP\r\n",
		events: []string{
			`Command "a ` + strings.Repeat("x", 60) + `\r\n"`,
			`Bad tag="b" size=0 msg="[TOOBIG] Command line too long"`,
			`Command "c NOOP\r\n"`,
		},
	},
	{
		name: "too long line announcing a non-sync literal: the literal is skipped too",
		in:   "b " + strings.Repeat("x", 100) + " {5+}\r\nab\r\nc\r\nd NOOP\r\n",
		events: []string{
			`Bad tag="b" size=0 msg="[TOOBIG] Command line too long"`,
			`Command "d NOOP\r\n"`,
		},
	},
	{
		name: "too long second line",
		in:   "a LOGIN {3}\r\nbob " + strings.Repeat("y", 70) + "\r\nb NOOP\r\n",
		events: []string{
			`Continue tag="" size=3 msg=""`,
			`Bad tag="a" size=0 msg="[TOOBIG] Command line too long"`,
			`Command "b NOOP\r\n"`,
		},
	},
	{
		name: "sync literal too big",
		in:   "a APPEND INBOX {101}\r\nb NOOP\r\nc APPEND INBOX {100}\r\n" + strings.Repeat("m", 100) + "\r\n",
		events: []string{
			`LiteralTooBig tag="a" size=101 msg="[TOOBIG] Literal too big"`,
			`Command "b NOOP\r\n"`,
			`Continue tag="" size=100 msg=""`,
			`Command "c APPEND INBOX {100}\r\n` + strings.Repeat("m", 100) + `\r\n"`,
		},
	},
	{
		name: "sync literal size overflows",
		in:   "a APPEND INBOX {99999999999999999999999}\r\nb NOOP\r\n",
		events: []string{
			`LiteralTooBig tag="a" size=9223372036854775807 msg="[TOOBIG] Literal too big"`,
			`Command "b NOOP\r\n"`,
		},
	},
	{
		name: "literal8",
		in:   "a APPEND INBOX ~{3}\r\na\x00b\r\nb APPEND INBOX ~{2+}\r\nxy\r\n",
		events: []string{
			`Continue tag="" size=3 msg=""`,
			`Command "a APPEND INBOX ~{3}\r\na\x00b\r\n"`,
			`Command "b APPEND INBOX ~{2+}\r\nxy\r\n"`,
		},
	},
	{
		name: "non-sync literal too big is fatal",
		in:   "a NOOP\r\nb APPEND INBOX {51+}\r\n" + strings.Repeat("z", 51) + "\r\nc NOOP\r\n",
		events: []string{
			`Command "a NOOP\r\n"`,
			`Fatal tag="b" size=51 msg="[TOOBIG] Non-synchronizing literal too big"`,
		},
	},
	{
		name: "too many sync literals",
		in:   "a LOGIN {1}\r\nx {1}\r\ny {1}\r\nz {1}\r\nb NOOP\r\n",
		events: []string{
			`Continue tag="" size=1 msg=""`,
			`Continue tag="" size=1 msg=""`,
			`Continue tag="" size=1 msg=""`,
			`Bad tag="a" size=1 msg="[LIMIT] Too many literals in one command"`,
			`Command "b NOOP\r\n"`,
		},
	},
	{
		name: "too many non-sync literals is fatal",
		in:   "a LOGIN {1+}\r\nx {1+}\r\ny {1+}\r\nz {1+}\r\nw\r\nb NOOP\r\n",
		events: []string{
			`Fatal tag="a" size=1 msg="[LIMIT] Too many literals in one command"`,
		},
	},
	{
		name: "too many literals, the last one synchronizing",
		in:   "a X {1+}\r\n" + strings.Repeat("q", 1) + strings.Repeat(" {50+}\r\n"+strings.Repeat("q", 50), 2) + " {50}\r\nb NOOP\r\n",
		events: []string{
			`Bad tag="a" size=50 msg="[LIMIT] Too many literals in one command"`,
			`Command "b NOOP\r\n"`,
		},
	},
	{
		name: "command over MaxCommand through a sync literal",
		in:   "a X " + strings.Repeat("x", 49) + " {50+}\r\n" + strings.Repeat("q", 50) + " " + strings.Repeat("x", 50) + " {50+}\r\n" + strings.Repeat("q", 50) + " {100}\r\nb NOOP\r\n",
		events: []string{
			`LiteralTooBig tag="a" size=100 msg="[TOOBIG] Literal too big"`,
			`Command "b NOOP\r\n"`,
		},
	},
	{
		name: "command over MaxCommand through a non-sync literal",
		in:   "a X " + strings.Repeat("x", 49) + " {50+}\r\n" + strings.Repeat("q", 50) + " " + strings.Repeat("x", 50) + " {50+}\r\n" + strings.Repeat("q", 50) + " " + strings.Repeat("x", 50) + " {50+}\r\n",
		events: []string{
			`Fatal tag="a" size=50 msg="[TOOBIG] Non-synchronizing literal too big"`,
		},
	},
	{
		name: "command over MaxCommand in a line",
		in:   "a X " + strings.Repeat("x", 49) + " {50+}\r\n" + strings.Repeat("q", 50) + " " + strings.Repeat("x", 50) + " {50+}\r\n" + strings.Repeat("q", 50) + " " + strings.Repeat("x", 50) + " {20+}\r\n" + strings.Repeat("q", 20) + " xxxxx\r\nb NOOP\r\n",
		events: []string{
			`Bad tag="a" size=0 msg="[TOOBIG] Command too long"`,
			`Command "b NOOP\r\n"`,
		},
	},
	{
		name: "bad tag",
		in:   strings.Repeat("x", 80) + "\r\n+ x " + strings.Repeat("x", 80) + "\r\nok NOOP\r\n",
		events: []string{
			`Bad tag="" size=0 msg="[TOOBIG] Command line too long"`,
			`Bad tag="" size=0 msg="[TOOBIG] Command line too long"`,
			`Command "ok NOOP\r\n"`,
		},
	},
	{
		// Finding F1 of docs/FUZZING.md: the BAD for the too long line
		// comes first whatever the chunking, then the Fatal (untagged:
		// the BAD carried the tag) for the literal that cannot be skipped.
		name: "too long line announcing an overflowing non-sync literal",
		in:   "a " + strings.Repeat("x", 70) + " {99999999999999999999+}\r\nb NOOP\r\n",
		events: []string{
			`Bad tag="a" size=0 msg="[TOOBIG] Command line too long"`,
			`Fatal tag="" size=9223372036854775807 msg="[TOOBIG] Non-synchronizing literal too big"`,
		},
	},
	{
		name: "too long line, skipped non-sync literal, then an overflowing one",
		in:   "a " + strings.Repeat("x", 70) + " {5+}\r\n12345 {9227000000000000000+}\r\nb NOOP\r\n",
		events: []string{
			`Bad tag="a" size=0 msg="[TOOBIG] Command line too long"`,
			`Fatal tag="" size=9223372036854775807 msg="[TOOBIG] Non-synchronizing literal too big"`,
		},
	},
	{
		name: "idle line too long announcing an overflowing non-sync literal",
		in:   "a IDLE\r\n" + strings.Repeat("D", 100) + "{9227000000000000000+}\r\nDONE\r\n",
		events: []string{
			`Command "a IDLE\r\n"`,
			`Bad tag="" size=0 msg="[TOOBIG] Command line too long"`,
			`Fatal tag="" size=9223372036854775807 msg="[TOOBIG] Non-synchronizing literal too big"`,
		},
	},
	{
		name: "idle line too long",
		in:   "a IDLE\r\n" + strings.Repeat("D", 100) + "\r\nDONE\r\nb NOOP\r\n",
		events: []string{
			`Command "a IDLE\r\n"`,
			`Bad tag="" size=0 msg="[TOOBIG] Command line too long"`,
			`Line "DONE\r\n"`,
			`Command "b NOOP\r\n"`,
		},
	},
}

func ftRun(in string, split func(string) []string) (*ftDriver, []string) {
	lim := ftLimits
	d := &ftDriver{lim: &lim}
	for _, c := range split(in) {
		d.feed([]byte(c))
	}
	return d, d.events
}

func TestFrameConversations(t *testing.T) {
	for _, tc := range ftConversations {
		t.Run(tc.name, func(t *testing.T) {
			whole, got := ftRun(tc.in, func(s string) []string { return []string{s} })
			if strings.Join(got, "\n") != strings.Join(tc.events, "\n") {
				t.Fatalf("whole input:\n got %s\nwant %s", strings.Join(got, "\n     "), strings.Join(tc.events, "\n     "))
			}
			wantParses := strings.Join(whole.parses, "\n")
			// Two chunks, split at every position.
			for i := 0; i <= len(tc.in); i++ {
				d, got := ftRun(tc.in, func(s string) []string { return []string{s[:i], s[i:]} })
				if strings.Join(got, "\n") != strings.Join(tc.events, "\n") {
					t.Fatalf("split at %d:\n got %s\nwant %s", i, strings.Join(got, "\n     "), strings.Join(tc.events, "\n     "))
				}
				if p := strings.Join(d.parses, "\n"); p != wantParses {
					t.Fatalf("split at %d: parses\n%s\nwant\n%s", i, p, wantParses)
				}
			}
			// One byte at a time; the buffer never holds more than the
			// limits allow.
			d, got := ftRun(tc.in, func(s string) []string { return strings.Split(s, "") })
			if strings.Join(got, "\n") != strings.Join(tc.events, "\n") {
				t.Fatalf("byte at a time:\n got %s\nwant %s", strings.Join(got, "\n     "), strings.Join(tc.events, "\n     "))
			}
			if p := strings.Join(d.parses, "\n"); p != wantParses {
				t.Fatalf("byte at a time: parses\n%s\nwant\n%s", p, wantParses)
			}
			if d.maxBuf > int(ftLimits.MaxCommand)+1 {
				t.Fatalf("buffered %d bytes, over MaxCommand %d", d.maxBuf, ftLimits.MaxCommand)
			}
		})
	}
}

// TestFrameChunkingF1 replays the inputs of finding F1 (docs/FUZZING.md)
// with the limits the fuzzer used: fed whole and fed one byte at a time, the
// framer must give the same frames.
func TestFrameChunkingF1(t *testing.T) {
	lim := Limits{MaxLine: 16, MaxLiteral: 10, MaxNonSyncLiteral: 10, MaxCommand: 40, MaxLiterals: 1}
	for _, in := range []string{
		"{9227000000000000000+}\n",
		"a {9227000000000000000+}\n",
		strings.Repeat("0", 64) + "\n" + strings.Repeat("0", 41) + "{09227000000000000000+}\r\n",
	} {
		feed := func(chunks []string) []string {
			d := &ftDriver{lim: &lim}
			for _, c := range chunks {
				d.feed([]byte(c))
			}
			return d.events
		}
		whole := feed([]string{in})
		bytewise := feed(strings.Split(in, ""))
		if strings.Join(whole, "\n") != strings.Join(bytewise, "\n") {
			t.Errorf("%q:\nwhole:       %s\nbyte by byte: %s", in, strings.Join(whole, "\n             "), strings.Join(bytewise, "\n             "))
		}
		if n := len(whole); n < 2 || !strings.HasPrefix(whole[n-2], "Bad ") || !strings.HasPrefix(whole[n-1], "Fatal ") {
			t.Errorf("%q: want a Bad then a Fatal, got %q", in, whole)
		}
	}
}

// TestFrameNoRescan checks that the framer resumes where it stopped: with
// one byte at a time it scans each byte once, so a long command fed byte by
// byte costs linear time. It is measured through pos, which only grows.
func TestFrameNoRescan(t *testing.T) {
	var f Framer
	in := []byte("a LOGIN \"" + strings.Repeat("x", 1000) + "\" y\r\n")
	lim := DefaultLimits
	for n := 1; n < len(in); n++ {
		if fr := f.Next(in[:n], &lim); fr.Kind != FrameNeedMore || fr.N != 0 {
			t.Fatalf("at %d: %+v", n, fr)
		}
		if f.pos != int64(n) {
			t.Fatalf("at %d: pos %d", n, f.pos)
		}
	}
	if fr := f.Next(in, &lim); fr.Kind != FrameCommand || fr.N != len(in) {
		t.Fatalf("final: %+v", fr)
	}
	if f != (Framer{}) {
		t.Fatalf("framer not reset after a command: %+v", f)
	}
}

// TestFrameSkipDoesNotBuffer: a line of a megabyte with small limits is
// answered BAD once and dropped as it comes, never buffered.
func TestFrameSkipDoesNotBuffer(t *testing.T) {
	lim := ftLimits
	var f Framer
	var buf []byte
	bads, maxBuf := 0, 0
	chunk := []byte(strings.Repeat("x", 1000))
	feed := func(b []byte) (cmds []string) {
		buf = append(buf, b...)
		if len(buf) > maxBuf {
			maxBuf = len(buf)
		}
		for {
			fr := f.Next(buf, &lim)
			switch fr.Kind {
			case FrameBad:
				bads++
			case FrameCommand:
				cmds = append(cmds, string(buf[:fr.N]))
			}
			buf = buf[:copy(buf, buf[fr.N:])]
			if fr.Kind == FrameNeedMore {
				return cmds
			}
		}
	}
	feed([]byte("a LOGIN "))
	for i := 0; i < 1000; i++ {
		feed(chunk)
	}
	cmds := feed([]byte("\r\nb NOOP\r\n"))
	if bads != 1 || len(cmds) != 1 || cmds[0] != "b NOOP\r\n" {
		t.Fatalf("bads %d cmds %q", bads, cmds)
	}
	if maxBuf > 1010 {
		t.Fatalf("buffered up to %d bytes", maxBuf)
	}
}

func TestNextLine(t *testing.T) {
	var f Framer
	lim := Limits{MaxLine: 10}
	if fr := f.NextLine([]byte("DO"), &lim); fr.Kind != FrameNeedMore || fr.N != 0 {
		t.Fatalf("partial: %+v", fr)
	}
	if fr := f.NextLine([]byte("DONE\r\nx"), &lim); fr.Kind != FrameLine || fr.N != 6 {
		t.Fatalf("DONE: %+v", fr)
	}
	if fr := f.NextLine([]byte("dGVzdA==\n"), &lim); fr.Kind != FrameLine || fr.N != 9 {
		t.Fatalf("base64: %+v", fr)
	}
	// 10 bytes with the line end is fine, 11 is too long.
	if fr := f.NextLine([]byte("12345678\r\n"), &lim); fr.Kind != FrameLine || fr.N != 10 {
		t.Fatalf("10 bytes: %+v", fr)
	}
	fr := f.NextLine([]byte("123456789\r\nDONE\r\n"), &lim)
	if fr.Kind != FrameBad || fr.N != 11 || fr.Msg != msgLineTooLong {
		t.Fatalf("11 bytes: %+v", fr)
	}
	if fr := f.NextLine([]byte("DONE\r\n"), &lim); fr.Kind != FrameLine || fr.N != 6 {
		t.Fatalf("after too long: %+v", fr)
	}
}

func TestFrameDefaultLimits(t *testing.T) {
	var f Framer
	// nil limits and zero fields mean DefaultLimits.
	big := "a LOGIN " + strings.Repeat("x", DefaultLimits.MaxLine) + "\r\n"
	if fr := f.Next([]byte(big), nil); fr.Kind != FrameBad {
		t.Fatalf("nil limits: %+v", fr)
	}
	f.Reset()
	if fr := f.Next([]byte(big), &Limits{}); fr.Kind != FrameBad {
		t.Fatalf("zero limits: %+v", fr)
	}
	f.Reset()
	in := "a APPEND INBOX {67108864}\r\n"
	if fr := f.Next([]byte(in), nil); fr.Kind != FrameContinue || fr.Size != 64<<20 {
		t.Fatalf("64 MiB literal: %+v", fr)
	}
	f.Reset()
	in = "a APPEND INBOX {67108865}\r\n"
	if fr := f.Next([]byte(in), nil); fr.Kind != FrameLiteralTooBig || string(fr.Tag) != "a" || fr.N != len(in) {
		t.Fatalf("64 MiB + 1 literal: %+v", fr)
	}
}

// TestFrameManyLiterals: a hostile client announcing many small
// non-synchronizing literals is stopped at MaxLiterals.
func TestFrameManyLiterals(t *testing.T) {
	var f Framer
	lim := Limits{MaxLiterals: 1000}
	in := "a ID (" + strings.Repeat("{1+}\r\nx ", 1001) + ")\r\n"
	fr := f.Next([]byte(in), &lim)
	if fr.Kind != FrameFatal || string(fr.Tag) != "a" || fr.Msg != msgNonSyncTooMany {
		t.Fatalf("1001 literals: %+v", fr)
	}
	f.Reset()
	in = "a ID (" + strings.Repeat("{1+}\r\nx ", 999) + "{1+}\r\nx)\r\n"
	if fr := f.Next([]byte(in), &lim); fr.Kind != FrameCommand || fr.N != len(in) {
		t.Fatalf("1000 literals: %+v", fr)
	}
}
