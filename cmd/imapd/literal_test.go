package main

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/myriad-mail/myriad/internal/testserver"
)

// sized returns a message of exactly n bytes.
func sized(subject string, n int) string {
	m := message(subject)
	return m + strings.Repeat("x", n-len(m)-2) + "\r\n"
}

// nothingFor asserts that the server sends w nothing for d.
func (w *wire) nothingFor(d time.Duration) {
	w.t.Helper()
	w.conn.SetReadDeadline(time.Now().Add(d))
	if l, err := w.r.ReadString('\n'); err == nil || l != "" {
		w.t.Fatalf("got %q (err %v), want nothing yet", l, err)
	}
	w.conn.SetDeadline(time.Now().Add(30 * time.Second))
}

func (w *wire) tagged(tag string) string {
	w.t.Helper()
	for {
		l := w.line()
		if rest, ok := strings.CutPrefix(l, tag+" "); ok {
			return rest
		}
	}
}

// TestLiteralBudget: limits.max_literal_buffer_bytes bounds the APPEND
// literals all connections hold at once: with 1,000 bytes, a second 600-byte
// literal gets its continuation only once the first APPEND is done, a
// closed connection gives its reservation back, and a literal over the
// whole budget is refused with [TOOBIG] (APPENDLIMIT is the budget).
func TestLiteralBudget(t *testing.T) {
	s := testserver.New(t)
	s.Edit("[storage]\n", "[limits]\nmax_literal_buffer_bytes = 1000\n\n[storage]\n")
	s.Start()
	dial := func() *wire {
		w := dialWire(t, s, plain)
		w.login(testUser)
		return w
	}
	a, b := dial(), dial()
	if caps := a.do("CAPABILITY"); !strings.Contains(caps[0], " APPENDLIMIT=1000") {
		t.Fatalf("CAPABILITY: %q", caps)
	}
	send := func(w *wire, s string) {
		t.Helper()
		if _, err := fmt.Fprint(w.conn, s); err != nil {
			t.Fatal(err)
		}
	}
	send(a, "a1 APPEND INBOX {600}\r\n")
	if l := a.line(); !strings.HasPrefix(l, "+ ") {
		t.Fatalf("a: %q, want a continuation", l)
	}
	send(b, "b1 APPEND INBOX {600}\r\n")
	b.nothingFor(500 * time.Millisecond) // 600 + 600 > 1000
	send(a, sized("first", 600)+"\r\n")
	if got := a.tagged("a1"); !strings.HasPrefix(got, "OK ") {
		t.Fatalf("a1: %q", got)
	}
	if l := b.line(); !strings.HasPrefix(l, "+ ") {
		t.Fatalf("b: %q, want a continuation once a1 is done", l)
	}

	// b holds 600 and closes half-way: c's 600 goes through.
	send(b, sized("second", 600)[:300])
	c := dial()
	send(c, "c1 APPEND INBOX {600}\r\n")
	c.nothingFor(300 * time.Millisecond)
	b.conn.Close()
	if l := c.line(); !strings.HasPrefix(l, "+ ") {
		t.Fatalf("c: %q, want a continuation once b closed", l)
	}
	send(c, sized("third", 600)+"\r\n")
	if got := c.tagged("c1"); !strings.HasPrefix(got, "OK ") {
		t.Fatalf("c1: %q", got)
	}

	// Over the whole budget: [TOOBIG], and the connection goes on.
	send(c, "c2 APPEND INBOX {1001}\r\n")
	if got := c.tagged("c2"); !strings.HasPrefix(got, "NO [TOOBIG]") {
		t.Fatalf("c2: %q", got)
	}
	// A non-synchronizing literal that fits.
	send(c, "c3 APPEND INBOX {1000+}\r\n"+sized("fourth", 1000)+"\r\n")
	if got := c.tagged("c3"); !strings.HasPrefix(got, "OK ") {
		t.Fatalf("c3: %q", got)
	}
	if got := c.do("STATUS INBOX (MESSAGES)"); !strings.Contains(got[0], "MESSAGES 3") {
		t.Fatalf("STATUS: %q", got)
	}
}
