package netio

import (
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"reflect"
	"runtime/debug"
	"sync"
	"time"
	"unsafe"
)

// tlsConn carries one connection's TLS: a crypto/tls server Conn over an
// in-memory transport (tlsConn itself is that transport's net.Conn).
//
// During the handshake (from the first whole record the client sends: a
// client that connects and stays silent costs no goroutine and no tls.Conn)
// a goroutine runs tls.Conn.Handshake; its reads block
// on a channel fed by the loop, its writes are queued for the loop to send.
// After the handshake nothing blocks and no goroutine exists: the loop
// appends raw bytes, and hands the tls.Conn only bytes of records that are
// complete in the buffer (the 5-byte record header gives the length), so
// tls.Conn.Read either decrypts whole records or finds no bytes at a record
// boundary, where the transport answers errWouldBlock (a temporary
// net.Error, which tls.Conn does not make sticky). Writes (tls.Conn.Write on
// the loop) land in the connection's pending output.
type tlsConn struct {
	tc *tls.Conn
	c  *conn

	mu    sync.Mutex
	buf   []byte // raw input, borrowed from the loop's pool while non-empty
	off   int    // bytes of buf already handed to tc
	whole int    // buf[:whole] holds complete records only

	// Handshake only.
	hs      bool
	started bool // the handshake goroutine runs (loop-owned)
	aborted bool
	encOn   bool // a worker is encrypting a step's output into out
	queued  bool // waiting for a handshake goroutine (loop-owned)
	notify  chan struct{}
	out     []byte // handshake output for the loop to send; or a worker's records
	hsErr   error
}

const (
	maxTLSRecord   = 5 + 16384 + 2048 // header + the largest ciphertext (RFC 5246 §6.2.3)
	maxTLSHandshIn = 64 << 10         // raw input a handshake may have buffered
)

type wouldBlock struct{}

func (wouldBlock) Error() string   { return "netio: would block" }
func (wouldBlock) Timeout() bool   { return false }
func (wouldBlock) Temporary() bool { return true }

var errWouldBlock net.Error = wouldBlock{}

var errAborted = errors.New("netio: TLS handshake aborted")

func (l *loop) startHandshake(c *conn) {
	c.f &^= fStartTLS
	t := &tlsConn{c: c, hs: true}
	c.tls = t
	c.f |= fHandshake
	l.wheel.set(c, l.now+l.s.cfg.HandshakeTimeout)
	if c.f&fReadable != 0 {
		l.read(c)
	}
}

// startHandshakeGoroutine starts the handshake once a whole record (the
// ClientHello) is buffered, so a client that connects and says nothing costs
// neither a goroutine nor a tls.Conn.
func (l *loop) startHandshakeGoroutine(t *tlsConn) {
	l.hsRun++
	t.started = true
	t.notify = make(chan struct{}, 1)
	t.tc = tls.Server(t, l.s.cfg.TLS)
	go t.handshake()
}

// nextHandshake starts waiting handshakes while goroutines are free.
func (l *loop) nextHandshake() {
	for l.hsRun < l.s.cfg.MaxHandshakes && l.hsHead < len(l.hsWait) {
		c := l.hsWait[l.hsHead]
		l.hsWait[l.hsHead] = nil
		l.hsHead++
		if c.f&fClosed == 0 && c.tls != nil && !c.tls.started {
			l.startHandshakeGoroutine(c.tls)
		}
	}
	if l.hsHead == len(l.hsWait) {
		l.hsWait, l.hsHead = l.hsWait[:0], 0
	}
}

func (t *tlsConn) handshake() {
	err := t.tc.Handshake()
	t.mu.Lock()
	t.hsErr = err
	t.mu.Unlock()
	t.c.signal(sigHsDone)
}

// hsOutput sends what the handshake goroutine wrote.
func (l *loop) hsOutput(c *conn) {
	t := c.tls
	if t == nil {
		return
	}
	t.mu.Lock()
	out := t.out
	t.out = nil
	t.mu.Unlock()
	if len(out) > 0 && c.f&fClosed == 0 {
		l.appendOut(c, out)
		l.flush(c)
	}
}

// hsDone switches the transport to loop mode once the handshake goroutine
// has returned, then starts the session (implicit TLS) or tells it TLS is on.
func (l *loop) hsDone(c *conn) {
	t := c.tls
	t.mu.Lock()
	err, out := t.hsErr, t.out
	t.hs, t.notify, t.out = false, nil, nil
	t.mu.Unlock()
	c.f &^= fHandshake
	l.hsRun--
	l.nextHandshake()
	if err != nil {
		l.TLSFailures.Add(1)
	}
	if c.f&fClosed != 0 {
		l.closing = append(l.closing, c)
		return
	}
	if err != nil {
		l.markClose(c)
		return
	}
	l.TLSHandshakes.Add(1)
	if len(out) > 0 {
		l.appendOut(c, out)
		l.flush(c)
	}
	c.lastActive = l.now
	c.f |= fTLSMore // records may have arrived with the client's Finished
	if c.f&fStarted == 0 {
		l.step(c, stepStart)
	} else {
		c.sess.TLSReady()
		l.after(c)
	}
}

// tlsInput takes raw bytes read from the socket.
func (l *loop) tlsInput(c *conn, data []byte) {
	t := c.tls
	if !t.feed(l, data) {
		l.markClose(c)
		return
	}
	if c.f&fHandshake == 0 {
		l.tlsDecode(c)
	} else if !t.started && !t.queued && t.whole > 0 {
		if l.hsRun < l.s.cfg.MaxHandshakes {
			l.startHandshakeGoroutine(t)
		} else {
			t.queued = true
			l.hsWait = append(l.hsWait, c)
		}
	}
}

// tlsDecode decrypts the complete records buffered and hands the plaintext
// to Receive; it reports whether the connection has something in hand
// (a step started, or it is closing) or may read on.
func (l *loop) tlsDecode(c *conn) bool {
	t := c.tls
	c.f &^= fTLSMore
	plain := l.pbuf[:0]
	eof := false
	for len(plain) < cap(plain) {
		n, err := t.tc.Read(plain[len(plain):cap(plain)])
		plain = plain[:len(plain)+n]
		if err == nil {
			continue
		}
		if err == errWouldBlock {
			break
		}
		if err == io.EOF { // close_notify
			eof = true
			break
		}
		l.markClose(c)
		return true
	}
	if len(plain) == cap(plain) {
		c.f |= fTLSMore
	} else {
		t.releaseEmpty(l)
	}
	l.trimLater(c)
	if c.out != nil {
		l.flush(c) // a KeyUpdate answer
	}
	if eof {
		c.f |= fEOF
	}
	switch {
	case c.f&fClosed != 0:
	case len(plain) > 0:
		l.dispatch(c, plain)
	case eof:
		l.drainClose(c)
	default:
		return false
	}
	return true
}

// trimLater puts a TLS connection on the loop's trim list (once), so its
// buffers and cipher state are dropped once it has been idle a second.
func (l *loop) trimLater(c *conn) {
	if c.f&fTrim == 0 {
		c.f |= fTrim
		l.trim = append(l.trim, c)
	}
}

// feed appends raw input; false if the peer misbehaves (a record longer
// than TLS allows, or too much input during the handshake).
func (t *tlsConn) feed(l *loop, data []byte) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.off > 0 {
		n := copy(t.buf, t.buf[t.off:])
		t.buf, t.whole, t.off = t.buf[:n], t.whole-t.off, 0
	}
	if t.buf == nil {
		t.buf = l.pool.get(len(data))
	}
	t.buf = append(t.buf, data...)
	for len(t.buf)-t.whole >= 5 {
		n := 5 + (int(t.buf[t.whole+3])<<8 | int(t.buf[t.whole+4]))
		if n > maxTLSRecord {
			return false
		}
		if t.whole+n > len(t.buf) {
			break
		}
		t.whole += n
	}
	if t.hs {
		if len(t.buf) > maxTLSHandshIn {
			return false
		}
		if t.whole > t.off && t.notify != nil {
			select {
			case t.notify <- struct{}{}:
			default:
			}
		}
	}
	return true
}

// releaseEmpty gives the raw buffer back when everything in it was read.
func (t *tlsConn) releaseEmpty(l *loop) {
	t.mu.Lock()
	if t.buf != nil && t.off == len(t.buf) {
		l.pool.put(t.buf)
		t.buf, t.off, t.whole = nil, 0, 0
	}
	t.mu.Unlock()
}

// sweepTrim trims the tls.Conns of connections that had no input for a
// full second; busy ones stay on the list (they keep their buffers while
// they work, so a command costs no allocation).
func (l *loop) sweepTrim() {
	if l.now == l.trimAt {
		return
	}
	l.trimAt = l.now
	keep := l.trim[:0]
	for _, c := range l.trim {
		switch {
		case c.f&fClosed != 0 || c.tls == nil:
			c.f &^= fTrim
		case c.lastActive < l.now-1 && c.f&(fBusy|fTLSMore) == 0:
			c.f &^= fTrim
			trimTLS(c.tls.tc)
			lazyCiphers(c.tls.tc)
		default:
			keep = append(keep, c)
		}
	}
	clear(l.trim[len(keep):])
	l.trim = keep
}

// releaseCheck (loop 0, once a second) returns the heap's free memory to
// the OS once Config.ReleaseAfter sessions have been set up (connections
// accepted, plaintext or TLS) since the last release and a second passed
// in which none was accepted and no TLS handshake finished. A burst of
// session setups leaves garbage many times the size of what its sessions
// keep — for TLS the key exchange and signature, for every session the
// LOGIN, the SELECT and the parsing around them — and with the
// collector's default pacing (the heap may grow to twice what is live) the
// process would hold those pages while the sessions idle.
func (l *loop) releaseCheck() {
	l.relAt = l.now
	n := l.s.cfg.ReleaseAfter
	if n < 0 {
		return
	}
	var acc, act uint64
	for _, o := range l.s.loops {
		a := o.Accepted.Load()
		acc += a
		act += a + o.TLSHandshakes.Load() + o.TLSFailures.Load()
	}
	quiet := act == l.relSeen
	l.relSeen = act
	if quiet && acc-l.relDone >= uint64(n) {
		l.relDone = acc
		l.Releases.Add(1)
		go debug.FreeOSMemory()
	}
}

func (t *tlsConn) abort() {
	t.mu.Lock()
	if t.hs && t.started && !t.aborted {
		t.aborted = true
		close(t.notify)
	}
	t.mu.Unlock()
}

func (t *tlsConn) release(l *loop) {
	if t.buf != nil {
		l.pool.put(t.buf)
		t.buf = nil
	}
	t.tc = nil
}

// waiting reports whether a handshake goroutine runs that must return
// before the connection can be closed.
func (t *tlsConn) waiting() bool { return t.started }

// Read implements net.Conn for tls.Conn: whole records only.
func (t *tlsConn) Read(p []byte) (int, error) {
	t.mu.Lock()
	for t.off == t.whole {
		if !t.hs {
			t.mu.Unlock()
			return 0, errWouldBlock
		}
		if t.aborted {
			t.mu.Unlock()
			return 0, errAborted
		}
		ch := t.notify
		t.mu.Unlock()
		<-ch
		t.mu.Lock()
	}
	n := copy(p, t.buf[t.off:t.whole])
	t.off += n
	t.mu.Unlock()
	return n, nil
}

// Write implements net.Conn for tls.Conn.
func (t *tlsConn) Write(p []byte) (int, error) {
	t.mu.Lock()
	if t.encOn {
		t.out = append(t.out, p...)
		t.mu.Unlock()
		return len(p), nil
	}
	if t.hs {
		t.out = append(t.out, p...)
		t.mu.Unlock()
		t.c.signal(sigHsOut)
		return len(p), nil
	}
	t.mu.Unlock()
	t.c.l.appendOut(t.c, p) // on the loop: tls.Conn is used only there now
	return len(p), nil
}

func (t *tlsConn) Close() error                     { return nil }
func (t *tlsConn) LocalAddr() net.Addr              { return tlsAddr{} }
func (t *tlsConn) RemoteAddr() net.Addr             { return tlsAddr{} }
func (t *tlsConn) SetDeadline(time.Time) error      { return nil }
func (t *tlsConn) SetReadDeadline(time.Time) error  { return nil }
func (t *tlsConn) SetWriteDeadline(time.Time) error { return nil }

type tlsAddr struct{}

func (tlsAddr) Network() string { return "tcp" }
func (tlsAddr) String() string  { return "netio" }

// trimTLS drops the buffers a tls.Conn keeps between records. crypto/tls
// grows rawInput to the largest record received plus 512 bytes and keeps it
// (and the handshake buffer) for the connection's life: 1.5 KiB after a
// handshake, 17 KiB after one large APPEND. When everything buffered has
// been consumed (always so at a record boundary, which is where tlsDecode
// stops), resetting them to zero values is exactly the state of a new
// Conn. The fields are private, so their offsets are looked up by reflection
// once and checked for type; if crypto/tls renames them, trimming turns
// itself off (TestTLSIdleMemory then fails on the figure, not silently).
func trimTLS(tc *tls.Conn) {
	if !tlsTrim.ok || !trimTLSEnabled {
		return
	}
	p := unsafe.Pointer(tc)
	raw := (*bytes.Buffer)(unsafe.Add(p, tlsTrim.rawInput))
	in := (*bytes.Reader)(unsafe.Add(p, tlsTrim.input))
	hand := (*bytes.Buffer)(unsafe.Add(p, tlsTrim.hand))
	if raw.Len() != 0 || in.Len() != 0 || hand.Len() != 0 {
		return
	}
	*raw = bytes.Buffer{}
	*in = bytes.Reader{}
	*hand = bytes.Buffer{}
}

// trimTLSEnabled lets tests measure the untrimmed cost.
var trimTLSEnabled = true

var tlsTrim = func() (o struct {
	ok                    bool
	rawInput, input, hand uintptr
}) {
	t := reflect.TypeOf(tls.Conn{})
	buf, rd := reflect.TypeOf(bytes.Buffer{}), reflect.TypeOf(bytes.Reader{})
	f1, ok1 := t.FieldByName("rawInput")
	f2, ok2 := t.FieldByName("input")
	f3, ok3 := t.FieldByName("hand")
	if ok1 && ok2 && ok3 && f1.Type == buf && f2.Type == rd && f3.Type == buf {
		o.ok, o.rawInput, o.input, o.hand = true, f1.Offset, f2.Offset, f3.Offset
	}
	return o
}()
