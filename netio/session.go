package netio

import (
	"crypto/tls"
	"errors"
	"net/netip"

	"github.com/myriad-mail/myriad/statemachine"
)

// Session is what netio drives: one IMAP session per connection, stepped with
// bytes and events, returning bytes to write and effects. Time is passed in as
// Unix seconds (now); sessions never read the clock.
//
// Receive runs on the worker pool (it may call storage); every other method
// runs on the connection's loop. netio never calls two methods of one session
// at the same time, and calls them in the order the events happened.
type Session interface {
	// Start appends the greeting to out. For implicit TLS it is called after
	// the handshake.
	Start(now int64, out []byte) []byte
	// Receive consumes all of in (the session copies any partial command it
	// must keep: in is reused after the call) and appends its answer to out.
	Receive(now int64, in []byte, out []byte) ([]byte, statemachine.Effect)
	// Wake is called after the session's Waker was woken (any number of
	// Wake calls between two steps give one call).
	Wake(now int64, out []byte) ([]byte, statemachine.Effect)
	// Tick is called when Timeout seconds passed without input.
	Tick(now int64, out []byte) ([]byte, statemachine.Effect)
	// Timeout is the inactivity limit in seconds (0: none); netio reads it
	// again after every step.
	Timeout() int64
	// TLSReady reports that the handshake that EffStartTLS asked for is done.
	TLSReady()
	// Shutdown appends the farewell (`* BYE Server shutting down`); the
	// connection is closed once it is written.
	Shutdown(out []byte) []byte
	// Close reports that the connection is gone; the session releases
	// everything. No method is called after Close.
	Close()
}

// Factory makes the session for a new connection. w is the connection's
// Waker (safe from any goroutine, never blocks); tls says whether the
// connection arrived on an implicit-TLS listener; remote is the client's
// address and port as accept(2) gave it (an IPv4 client on a dual-stack
// socket comes unmapped, as an IPv4 address; zero if the kernel gave none).
type Factory func(w statemachine.Waker, tls bool, remote netip.AddrPort) Session

// Config tunes a Server. Zero values take the defaults named.
type Config struct {
	// Loops is the number of event loops (default runtime.NumCPU()).
	Loops int
	// Workers is the number of goroutines running Receive (default
	// 4*Loops, at least 4).
	Workers int
	// ReadBuffer is the size of each loop's read buffer (default 64 KiB).
	ReadBuffer int
	// MaxOutput is the most unsent output a connection may have queued
	// before it is closed (default 4 MiB).
	MaxOutput int
	// TLS is the server configuration for implicit TLS and STARTTLS; nil
	// disables both.
	TLS *tls.Config
	// HandshakeTimeout bounds a TLS handshake, seconds (default 30).
	HandshakeTimeout int64
	// MaxHandshakes is how many TLS handshake goroutines a loop runs at
	// once (default 256); more clients wait, under HandshakeTimeout.
	MaxHandshakes int
	// LingerTimeout bounds how long a closing connection may take to flush
	// its last output, seconds (default 10).
	LingerTimeout int64
	// MaxDrain is how many queued wake-ups and step completions a loop
	// handles per turn before polling again (default 1024).
	MaxDrain int
	// ReleaseAfter: once this many sessions have been set up (connections
	// accepted, plaintext or TLS) since the last release, the first second
	// in which none is accepted and no TLS handshake finishes returns the
	// heap's free memory to the OS (debug.FreeOSMemory, on a goroutine of
	// its own), so the garbage of a burst of session setups (TLS key
	// exchange and signatures; LOGIN, SELECT: many times what the sessions
	// keep) does not stay resident while the sessions idle. Default 1000;
	// negative: never.
	ReleaseAfter int
	// MaxLiteralBuffer bounds, server-wide, the bytes of literals being
	// assembled by sessions that implement LiteralGate (default
	// DefaultMaxLiteralBuffer; negative: no bound). A literal is reserved
	// whole when announced, before its "+" continuation is sent or its
	// non-synchronizing bytes are read; a connection whose literal does not
	// fit waits (nothing is read from it) until reservations are released:
	// when the command is assembled or the connection closes. A literal
	// larger than the whole budget closes the connection: a session's
	// literal limit (APPENDLIMIT) should not exceed it.
	MaxLiteralBuffer int64
	// Clock returns Unix seconds (default time.Now().Unix()); tests replace
	// it to drive the timer wheel.
	Clock func() int64
}

// DefaultMaxLiteralBuffer is Config.MaxLiteralBuffer's default: 1 GiB.
const DefaultMaxLiteralBuffer = 1 << 30

// Errors.
var (
	ErrServerStarted = errors.New("netio: server already started")
	ErrServerClosed  = errors.New("netio: server closed")
	ErrNoTLSConfig   = errors.New("netio: TLS listener without Config.TLS")
)
