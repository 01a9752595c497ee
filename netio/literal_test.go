package netio

import (
	"strings"
	"testing"
	"time"
)

// noLine asserts that c receives nothing for d.
func (c *client) noLine(d time.Duration) {
	c.t.Helper()
	c.SetReadDeadline(time.Now().Add(d))
	if s, err := c.r.ReadString('\n'); err == nil || s != "" {
		c.t.Fatalf("got %q (err %v), want nothing yet", s, err)
	}
	c.SetReadDeadline(time.Time{})
}

// TestLiteralBudget: with a budget of 1,000 bytes, two connections each
// announcing a 600-byte literal: the second gets its continuation only once
// the first's command is complete; a connection that closes holding (or
// waiting for) budget gives it back; a literal over the whole budget
// closes the connection.
func TestLiteralBudget(t *testing.T) {
	ts := startServer(t, func(c *Config) { c.MaxLiteralBuffer = 1000 })
	a, b := ts.dial(t), ts.dial(t)
	a.greeting(false)
	b.greeting(false)

	a.send("LIT 600\r\n")
	a.expect("+ go")
	waitFor(t, "a's reservation", func() bool { return ts.srv.literalHeld() == 600 })
	b.send("LIT 600\r\n")
	b.noLine(300 * time.Millisecond) // 600 + 600 > 1000: b waits
	b.send("PING\r\n")               // not read while b waits
	b.noLine(200 * time.Millisecond)

	a.send(strings.Repeat("x", 600))
	a.expect("OK lit 600")
	b.expect("+ go") // a's command done: b's turn
	// The PING sent while b waited is part of its literal now (as for a
	// client that ignores the continuation); b stops halfway.
	b.send(strings.Repeat("y", 300))
	waitFor(t, "b's reservation", func() bool { return ts.srv.literalHeld() == 600 })

	// A third client waits behind c's 600; closing b frees it.
	c := ts.dial(t)
	c.greeting(false)
	c.send("LIT 500\r\n")
	c.noLine(300 * time.Millisecond)
	b.Close()
	c.expect("+ go")
	waitFor(t, "c's reservation", func() bool { return ts.srv.literalHeld() == 500 })

	// A waiter that closes leaves the queue.
	d := ts.dial(t)
	d.greeting(false)
	d.send("LIT 900\r\n")
	time.Sleep(200 * time.Millisecond)
	d.Close()
	c.send(strings.Repeat("z", 500))
	c.expect("OK lit 500")
	waitFor(t, "budget back", func() bool { return ts.srv.literalHeld() == 0 })

	// Over the whole budget: closed.
	e := ts.dial(t)
	e.greeting(false)
	e.send("LIT 1001\r\n")
	e.expectEOF()

	// The budget is whole again: a full-size literal goes through at once.
	c.send("LIT 1000\r\n")
	c.expect("+ go")
	c.send(strings.Repeat("z", 1000) + "PING\r\n")
	c.expect("OK lit 1000")
	c.expect("ECHO PING")
	waitFor(t, "budget back", func() bool { return ts.srv.literalHeld() == 0 })
}

// TestLiteralBudgetTLS: the same wait over implicit TLS, where the loop
// decodes records itself: nothing the waiting client sends is decoded
// into a step until its reservation is granted.
func TestLiteralBudgetTLS(t *testing.T) {
	ts := startServer(t, func(c *Config) { c.MaxLiteralBuffer = 1000 })
	a, b := ts.dialTLS(t), ts.dialTLS(t)
	a.greeting(true)
	b.greeting(true)
	a.send("LIT 600\r\n")
	a.expect("+ go")
	b.send("LIT 600\r\n")
	b.noLine(300 * time.Millisecond)
	b.send("PING\r\n")
	b.noLine(200 * time.Millisecond)
	a.send(strings.Repeat("x", 600))
	a.expect("OK lit 600")
	b.expect("+ go")
	b.send(strings.Repeat("y", 594))
	b.expect("OK lit 600")
	waitFor(t, "budget back", func() bool { return ts.srv.literalHeld() == 0 })
}
