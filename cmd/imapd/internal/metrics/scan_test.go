package metrics

import (
	"strings"
	"testing"
)

type rec struct {
	name   string
	result string
}

func run(t *testing.T, chunks []string, out string) []rec {
	t.Helper()
	var tr Tracker
	for _, c := range chunks {
		tr.Input([]byte(c), 1)
	}
	var got []rec
	tr.Output([]byte(out), 5, func(n uint8, r int, d int64) {
		if d != 4 {
			t.Errorf("duration %d", d)
		}
		got = append(got, rec{commandNames[n], resultNames[r]})
	})
	return got
}

func TestTrackerPipelined(t *testing.T) {
	in := "a1 LOGIN bob pw\r\na2 select INBOX\r\na3 UID fetch 1:* (FLAGS)\r\nDONE\r\n"
	// Every way of cutting the input gives the same result.
	for cut := 0; cut <= len(in); cut++ {
		got := run(t, []string{in[:cut], in[cut:]}, "* 1 EXISTS\r\na2 NO [NONEXISTENT] x\r\na1 OK LOGIN completed\r\na3 BAD nope\r\n")
		want := []rec{{"SELECT", "no"}, {"LOGIN", "ok"}, {"UID FETCH", "bad"}}
		if len(got) != len(want) {
			t.Fatalf("cut %d: got %v", cut, got)
		}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("cut %d: got %v, want %v", cut, got, want)
			}
		}
	}
}

func TestTrackerLiterals(t *testing.T) {
	msg := "Subject: x\r\n\r\nb1 OK fake line inside a literal\r\nb9 NOOP\r\n"
	in := "b1 APPEND INBOX (\\Seen) {" + itoa(len(msg)) + "+}\r\n" + msg + "\r\nb2 NOOP\r\n"
	out := "* 1 FETCH (BODY[] {" + itoa(len(msg)) + "}\r\n" + msg + ")\r\nb1 OK [APPENDUID 1 1] APPEND completed\r\nb2 OK NOOP completed\r\n"
	for cut := 0; cut <= len(in); cut++ {
		got := run(t, []string{in[:cut], in[cut:]}, out)
		if len(got) != 2 || got[0] != (rec{"APPEND", "ok"}) || got[1] != (rec{"NOOP", "ok"}) {
			t.Fatalf("cut %d: got %v", cut, got)
		}
	}
	// A byte-at-a-time feed.
	var chunks []string
	for _, c := range in {
		chunks = append(chunks, string(c))
	}
	if got := run(t, chunks, out); len(got) != 2 {
		t.Fatalf("bytewise: %v", got)
	}
}

func TestTrackerUnknownAndLong(t *testing.T) {
	got := run(t, []string{"x FROB\r\n" + strings.Repeat("y", 100) + " NOOP\r\n"}, "x BAD unknown\r\n")
	if len(got) != 1 || got[0] != (rec{"other", "bad"}) {
		t.Fatal(got)
	}
}

func TestLiteralLen(t *testing.T) {
	for s, want := range map[string]int64{"a {12}\r\n": 12, "{0+}\r\n": 0, "x {}\r\n": -1, "x }\r\n": -1, "abc\r\n": -1, "{5}": 5, "~{7}\r\n": 7} {
		if got := literalLen([]byte(s)); got != want {
			t.Errorf("%q: %d, want %d", s, got, want)
		}
	}
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}
