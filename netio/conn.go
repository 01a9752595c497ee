package netio

import (
	"sync/atomic"
)

// Loop-owned state bits of a conn (conn.f).
const (
	fReadable  uint32 = 1 << iota // the socket may hold unread bytes
	fRDHUP                        // the peer shut down its side
	fBusy                         // a Receive step is on the worker pool
	fHandshake                    // a TLS handshake goroutine is running
	fStartTLS                     // start a handshake once output is flushed
	fStarted                      // Session.Start was called
	fDraining                     // closing once output is flushed
	fClosed                       // queued to close at the end of the batch
	fEOF                          // the peer closed (read returned 0)
	fWake                         // a wake-up waits for the step in flight
	fShutdown                     // call Session.Shutdown when not busy
	fTLSMore                      // the tls.Conn may hold more plaintext
	fInWheel                      // linked into the timer wheel
	fLinger                       // the wheel deadline is the linger bound
	fTrim                         // on the loop's list of TLS conns to trim when idle
	fMore                         // the session holds unanswered commands (EffMoreInput): step it again once output is flushed, read nothing meanwhile
	fBye                          // the session said goodbye at shutdown: half-close once flushed (see halfClose)
	fHalfShut                     // write side shut down; input is read and discarded until EOF or byeDrain
	fLitRes                       // holds (or waits for) literal budget (Config.MaxLiteralBuffer)
	fLitWait                      // waits for literal budget: read nothing, step nothing until sigLit
)

// Cross-goroutine signal bits (conn.sig).
const (
	sigQueued uint32 = 1 << iota // on its loop's queue
	sigWake                      // Session.Wake requested
	sigHsOut                     // handshake goroutine wrote output
	sigHsDone                    // handshake goroutine finished
	sigDead                      // closed: Wake is a no-op
	sigLit                       // its literal budget was granted
)

// conn is one connection: 112 bytes, plus the session. It is also the
// session's statemachine.Waker.
type conn struct {
	fd    int32
	f     uint32
	sig   atomic.Uint32
	off   int32 // bytes of out already written (out is bounded by MaxOutput plus one step's output)
	l     *loop
	sess  Session
	out   []byte // pending output (borrowed from the loop's pool), nil if none
	tls   *tlsConn
	tnext *conn // timer wheel links
	tprev *conn

	slotAt     int64 // the wheel slot it is linked into
	deadline   int64 // when Tick is due (0: none)
	lastActive int64 // last input, Unix seconds
}

// Wake implements statemachine.Waker: it queues the connection to its loop
// for a Session.Wake step. It never blocks and may be called from any
// goroutine; wake-ups before the step runs are coalesced.
func (c *conn) Wake() {
	c.signal(sigWake)
}

func (c *conn) signal(bit uint32) {
	old := c.sig.Or(bit | sigQueued)
	if old&sigDead != 0 {
		return
	}
	if old&sigQueued == 0 {
		c.l.enqueue(c)
	}
}
