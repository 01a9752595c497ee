package netio

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"
)

// TestShutdownByeNotReset: a client whose input the server has not read
// when it says goodbye at shutdown (here: sent while a step was in flight;
// in real life, the rest of an APPEND literal) still receives everything
// up to `* BYE` and then EOF, not a connection reset that would destroy
// what its kernel had not yet handed to it. A client that never closes is
// cut byeDrain seconds later.
func TestShutdownByeNotReset(t *testing.T) {
	ts := startServer(t, nil)
	reader := ts.dial(t) // closes once it has read the BYE
	reader.greeting(false)
	silent := ts.dial(t) // reads, never closes
	silent.greeting(false)
	for _, c := range []*client{reader, silent} {
		c.send("SLEEP 400\r\n")
	}
	time.Sleep(100 * time.Millisecond)
	junk := strings.Repeat("x", 1000) + "\r\n"
	for _, c := range []*client{reader, silent} {
		for i := 0; i < 32; i++ { // 32 KB the server will never read
			c.send(junk)
		}
	}
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		done <- ts.srv.Shutdown(ctx)
	}()
	// Read only once the server is done with the connections: BYE written
	// and the socket shut down (or, without the fix, closed).
	time.Sleep(800 * time.Millisecond)
	for _, c := range []*client{reader, silent} {
		c.expect("SLEPT")
		c.expect("* BYE Server shutting down")
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if b, err := c.r.ReadByte(); !errors.Is(err, io.EOF) {
			t.Fatalf("after BYE: %q %v, want EOF", b, err)
		}
	}
	reader.Close()
	waitFor(t, "the closing client's session closed", func() bool { return ts.hub.closes.Load() == 1 })
	select {
	case err := <-done:
		t.Fatalf("Shutdown returned (%v) with a client still draining", err)
	case <-time.After(100 * time.Millisecond):
	}
	ts.clock.Add(byeDrain + 1)
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Shutdown did not return once byeDrain passed")
	}
	if n := ts.hub.closes.Load(); n != 2 {
		t.Fatalf("%d sessions closed, want 2", n)
	}
}
