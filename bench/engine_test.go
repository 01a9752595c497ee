package main

import (
	"strings"
	"testing"
)

type recorder struct{ got []string }

func (r *recorder) onResponse(c *conn, b []byte) { r.got = append(r.got, string(b)) }
func (r *recorder) onClose(c *conn, err error)   {}

// The response framer must cut at CRLF, keep literals (which may hold
// CRLF) inside their response, and carry partial input across reads.
func TestFeedFraming(t *testing.T) {
	stream := "* OK ready\r\n* 1 FETCH (UID 7 BODY[] {12}\r\nab\r\ncd\r\nefgh FLAGS ())\r\n* 3 EXISTS\r\na OK done\r\n"
	want := []string{"* OK ready", "* 1 FETCH (UID 7 BODY[] {12}\r\nab\r\ncd\r\nefgh FLAGS ())", "* 3 EXISTS", "a OK done"}
	for chunk := 1; chunk <= len(stream); chunk++ {
		r := &recorder{}
		c := &conn{h: r, l: &loop{}}
		for i := 0; i < len(stream); i += chunk {
			c.feed([]byte(stream[i:min(i+chunk, len(stream))]))
		}
		if strings.Join(r.got, "|") != strings.Join(want, "|") {
			t.Fatalf("chunk %d: got %q", chunk, r.got)
		}
		if len(c.in) != 0 {
			t.Fatalf("chunk %d: %d bytes left", chunk, len(c.in))
		}
	}
}

func TestExistsOf(t *testing.T) {
	for s, want := range map[string]int{"* 12 EXISTS": 12, "* 0 EXISTS": 0, "* 3 RECENT": -1, "* OK EXISTS": -1, "a OK": -1} {
		n, ok := existsOf([]byte(s))
		if !ok {
			n = -1
		}
		if n != want {
			t.Errorf("%q: %d, want %d", s, n, want)
		}
	}
}

func TestGenMessageStable(t *testing.T) {
	a, b := genMessage(3, 9), genMessage(3, 9)
	if string(a) != string(b) || !strings.Contains(string(a), "Subject: subj 3-9\r\n") {
		t.Fatal("generated message is not a pure function of (id, k)")
	}
}

func TestPct(t *testing.T) {
	v := []int64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	if pct(v, 50) != 5 || pct(v, 99) != 10 || pct(v, 0) != 1 {
		t.Fatal(pct(v, 50), pct(v, 99))
	}
}
