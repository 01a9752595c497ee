package netio

import (
	"fmt"
	"testing"
	"time"
)

// TestTLSIdleCipher: an idle TLS 1.3 connection's AES-GCM state is swapped
// for a key-only lazyGCM in both directions (the check against crypto/tls's
// own AEAD passed, so the derived key is right); the connection then still
// reads and writes records both ways (a command, a wake-up written on the
// loop, a megabyte each way), and once idle again what was rebuilt is
// dropped.
func TestTLSIdleCipher(t *testing.T) {
	if !tlsHalf.ok {
		t.Fatal("crypto/tls's halfConn fields not found: idle connections keep their cipher state")
	}
	ts := startServer(t, nil)
	c := ts.dialTLS(t)
	id := c.greeting(true)
	c.send("hi\r\n")
	c.expect("ECHO hi tls")
	idle := func(counter interface{ Load() int64 }, want int64, what string) {
		t.Helper()
		ts.clock.Add(3) // input is now more than a second old
		deadline := time.Now().Add(5 * time.Second)
		for counter.Load() < want {
			if time.Now().After(deadline) {
				t.Fatalf("%s: %d, want %d", what, counter.Load(), want)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	swaps, drops := lazySwaps.Load(), lazyDrops.Load()
	idle(&lazySwaps, swaps+2, "directions swapped")
	c.send("again\r\n")
	c.expect("ECHO again tls")
	c.send("IDLE\r\n")
	c.expect("+ idling")
	ts.hub.session(id).w.Wake()
	c.expect(fmt.Sprintf("* WAKE id=%d n=1", id))
	c.send("DONE\r\n")
	c.expect("OK done")
	bigTLS(t, c)
	idle(&lazyDrops, drops+2, "rebuilt ciphers dropped")
	if n := lazySwaps.Load(); n != swaps+2 {
		t.Fatalf("swaps %d, want %d (a lazyGCM is reused, not swapped again)", n, swaps+2)
	}
	c.send("last\r\n")
	c.expect("ECHO last tls")
}

// TestExpandLabelInfo: the HkdfLabel bytes of RFC 8446 §7.1 for "key" with
// an empty context (as RFC 8448 §3 shows them: "key info").
func TestExpandLabelInfo(t *testing.T) {
	got := fmt.Sprintf("% x", expandLabelInfo("key", 16))
	if want := "00 10 09 74 6c 73 31 33 20 6b 65 79 00"; got != want {
		t.Fatalf("info %s, want %s", got, want)
	}
}

// TestReleaseAfterHandshakes: after ReleaseAfter handshakes, the first
// second without one releases free memory once; quiet seconds after that do
// not, until as many handshakes again have finished.
func TestReleaseAfterHandshakes(t *testing.T) {
	ts := startServer(t, func(c *Config) { c.ReleaseAfter = 3 })
	second := func() {
		ts.clock.Add(1)
		time.Sleep(1200 * time.Millisecond) // loop 0 wakes once a second
	}
	for range 2 {
		ts.dialTLS(t).greeting(true)
	}
	second()
	second()
	if n := ts.srv.Stats().Releases; n != 0 {
		t.Fatalf("released %d times after 2 handshakes, ReleaseAfter 3", n)
	}
	ts.dialTLS(t).greeting(true)
	second() // loop 0 sees the third handshake
	second() // a quiet second
	waitFor(t, "release", func() bool { return ts.srv.Stats().Releases == 1 })
	second()
	second()
	if n := ts.srv.Stats().Releases; n != 1 {
		t.Fatalf("released %d times, want 1 (no handshakes since)", n)
	}
}

// TestReleaseAfterPlaintext: plaintext connections count too (a burst of
// plaintext LOGINs and SELECTs leaves its garbage as handshakes do).
func TestReleaseAfterPlaintext(t *testing.T) {
	ts := startServer(t, func(c *Config) { c.ReleaseAfter = 3 })
	second := func() {
		ts.clock.Add(1)
		time.Sleep(1200 * time.Millisecond) // loop 0 wakes once a second
	}
	for range 3 {
		ts.dial(t).greeting(false)
	}
	second() // loop 0 sees the third connection
	second() // a quiet second
	waitFor(t, "release", func() bool { return ts.srv.Stats().Releases == 1 })
}
