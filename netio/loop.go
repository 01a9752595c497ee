package netio

import (
	"net/netip"
	"os"
	"sync"
	"sync/atomic"

	"github.com/myriad-mail/myriad/statemachine"
	"golang.org/x/sys/unix"
)

// lfd is a listening socket of one loop.
type lfd struct {
	fd          int
	tls         bool
	pausedUntil int64 // accept paused after EMFILE and the like (0: active)
}

// loop is one event loop: an epoll instance, its listeners, the connections
// it accepted, one read buffer, buffer free lists and a timer wheel. Only its
// own goroutine touches its fields, except the queue (mu) and signaled.
type loop struct {
	Counters

	s      *Server
	id     int
	epfd   int
	evfd   int
	events []unix.EpollEvent
	lns    []*lfd

	rbuf    []byte // the read buffer
	pbuf    []byte // TLS plaintext, decrypted from rbuf
	scratch []byte // output of inline steps
	pool    bufPool
	wheel   wheel
	now     int64

	closing []*conn // to close at the end of the batch
	pending []*conn // signalled connections taken from q, not yet handled
	retry   []*conn // readable connections to read again next turn
	trim    []*conn // TLS connections whose tls.Conn buffers to drop once idle
	trimAt  int64
	relAt   int64   // loop 0: when releaseCheck last ran
	relSeen uint64  // loop 0: accepts and finished handshakes (all loops) at that time
	relDone uint64  // loop 0: accepts (all loops) at the last release
	hsRun   int     // handshake goroutines running
	hsWait  []*conn // ClientHello in, waiting for a handshake goroutine
	hsHead  int
	phead   int
	nconns  int
	paused  int

	stopping bool
	forced   bool

	// Cross-goroutine queue: connections signalled (wake-ups, handshake
	// events) and finished steps. signaled guards the eventfd write.
	mu        sync.Mutex
	q         []*conn
	qSpare    []*conn
	done      []job
	doneSpare []job
	signaled  atomic.Uint32
}

func newLoop(s *Server, id int) (*loop, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("epoll_create1", err)
	}
	evfd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		unix.Close(epfd)
		return nil, os.NewSyscallError("eventfd", err)
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(evfd)}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, evfd, &ev); err != nil {
		unix.Close(epfd)
		unix.Close(evfd)
		return nil, os.NewSyscallError("epoll_ctl add", err)
	}
	return &loop{
		s:       s,
		id:      id,
		epfd:    epfd,
		evfd:    evfd,
		events:  make([]unix.EpollEvent, 256),
		rbuf:    make([]byte, s.cfg.ReadBuffer),
		pbuf:    make([]byte, 0, 64<<10),
		scratch: make([]byte, 0, 16<<10),
	}, nil
}

func (l *loop) closeFDs() {
	for _, ln := range l.lns {
		if ln.fd >= 0 {
			unix.Close(ln.fd)
			ln.fd = -1
		}
	}
	unix.Close(l.epfd)
	unix.Close(l.evfd)
}

func (l *loop) addListeners() error {
	for _, ln := range l.lns {
		ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(ln.fd)}
		if err := unix.EpollCtl(l.epfd, unix.EPOLL_CTL_ADD, ln.fd, &ev); err != nil {
			return os.NewSyscallError("epoll_ctl add", err)
		}
	}
	return nil
}

// notify wakes the loop; a burst of calls costs one eventfd write.
func (l *loop) notify() {
	if l.signaled.CompareAndSwap(0, 1) {
		l.WakeSignals.Add(1)
		var b = [8]byte{1}
		unix.Write(l.evfd, b[:])
	}
}

// enqueue queues a signalled connection (called once per burst, see
// conn.signal).
func (l *loop) enqueue(c *conn) {
	l.mu.Lock()
	l.q = append(l.q, c)
	l.mu.Unlock()
	l.notify()
}

// complete hands a finished step back to the loop (from a worker).
func (l *loop) complete(j job) {
	l.mu.Lock()
	l.done = append(l.done, j)
	l.mu.Unlock()
	l.notify()
}

func (l *loop) run() {
	defer l.s.loopsWG.Done()
	l.now = l.s.cfg.Clock()
	l.wheel.cur = l.now
	for {
		timeout := -1
		switch {
		case l.phead < len(l.pending) || len(l.closing) > 0 || len(l.retry) > 0:
			timeout = 0
		case l.stopping:
			timeout = 100
		case l.wheel.n > 0 || l.paused > 0 || len(l.trim) > 0 || l.id == 0 && l.s.cfg.ReleaseAfter >= 0:
			timeout = 1000
		}
		n, err := unix.EpollWait(l.epfd, l.events, timeout)
		if err != nil && err != unix.EINTR {
			panic(os.NewSyscallError("epoll_wait", err))
		}
		l.now = l.s.cfg.Clock()
		for i := 0; i < n; i++ {
			l.event(&l.events[i])
		}
		l.drain()
		l.retryReads()
		l.wheel.advance(l.now, l.fire)
		if len(l.trim) > 0 {
			l.sweepTrim()
		}
		if l.id == 0 && l.now != l.relAt {
			l.releaseCheck()
		}
		if l.paused > 0 {
			l.resumeListeners()
		}
		if !l.stopping && l.s.stopping.Load() {
			l.beginShutdown()
		}
		if !l.forced && l.s.forced.Load() {
			l.forceClose()
		}
		l.closeBatch()
		if l.stopping && l.nconns == 0 {
			l.closeFDs()
			return
		}
	}
}

func (l *loop) event(ev *unix.EpollEvent) {
	fd := int(ev.Fd)
	if fd == l.evfd {
		var b [8]byte
		unix.Read(l.evfd, b[:])
		l.signaled.Store(0)
		return
	}
	for _, ln := range l.lns {
		if ln.fd == fd {
			l.accept(ln)
			return
		}
	}
	c := l.s.table.get(fd)
	if c == nil || c.l != l || c.f&fClosed != 0 {
		return
	}
	e := ev.Events
	if e&unix.EPOLLRDHUP != 0 {
		c.f |= fRDHUP
	}
	if e&(unix.EPOLLIN|unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0 {
		c.f |= fReadable
	}
	if e&(unix.EPOLLOUT|unix.EPOLLHUP|unix.EPOLLERR) != 0 && c.out != nil {
		l.flush(c)
	}
	l.readIfIdle(c)
}

func (l *loop) accept(ln *lfd) {
	for i := 0; i < 64; i++ {
		fd, sa, err := unix.Accept4(ln.fd, unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC)
		switch err {
		case nil:
		case unix.EAGAIN:
			return
		case unix.EINTR, unix.ECONNABORTED:
			continue
		default:
			// EMFILE, ENFILE, ENOBUFS, ENOMEM: stop polling this
			// listener for a second rather than spin on it.
			l.AcceptErrors.Add(1)
			unix.EpollCtl(l.epfd, unix.EPOLL_CTL_DEL, ln.fd, nil)
			ln.pausedUntil = l.now + 1
			l.paused++
			return
		}
		l.newConn(fd, ln.tls, sockaddrPort(sa))
	}
}

// sockaddrPort converts the peer address accept(2) returned; an IPv4-mapped
// IPv6 address is unmapped. Anything else (none, AF_UNIX) is the zero value.
func sockaddrPort(sa unix.Sockaddr) netip.AddrPort {
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		return netip.AddrPortFrom(netip.AddrFrom4(a.Addr), uint16(a.Port))
	case *unix.SockaddrInet6:
		return netip.AddrPortFrom(netip.AddrFrom16(a.Addr).Unmap(), uint16(a.Port))
	}
	return netip.AddrPort{}
}

func (l *loop) resumeListeners() {
	for _, ln := range l.lns {
		if ln.pausedUntil != 0 && l.now >= ln.pausedUntil {
			ln.pausedUntil = 0
			l.paused--
			ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(ln.fd)}
			unix.EpollCtl(l.epfd, unix.EPOLL_CTL_ADD, ln.fd, &ev)
		}
	}
}

func (l *loop) newConn(fd int, tlsOn bool, remote netip.AddrPort) {
	if !l.s.table.fits(fd) || l.stopping {
		unix.Close(fd)
		return
	}
	unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
	c := &conn{fd: int32(fd), l: l, lastActive: l.now}
	l.s.table.set(fd, c)
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLOUT | unix.EPOLLRDHUP | unix.EPOLLET, Fd: int32(fd)}
	if err := unix.EpollCtl(l.epfd, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
		l.s.table.set(fd, nil)
		unix.Close(fd)
		return
	}
	l.nconns++
	l.Sessions.Add(1)
	l.Accepted.Add(1)
	c.sess = l.s.factory(c, tlsOn, remote)
	if tlsOn {
		l.startHandshake(c)
	} else {
		l.step(c, stepStart)
	}
}

// drain handles finished steps and signalled connections; wake-ups at most
// MaxDrain per turn.
func (l *loop) drain() {
	l.mu.Lock()
	done, q := l.done, l.q
	l.done, l.q = l.doneSpare[:0], l.qSpare[:0]
	l.mu.Unlock()
	for i := range done {
		l.finish(done[i])
		done[i] = job{}
	}
	l.doneSpare = done[:0]
	if len(q) > 0 {
		if l.phead == len(l.pending) {
			l.pending, l.phead = l.pending[:0], 0
		}
		l.pending = append(l.pending, q...)
		clear(q)
	}
	l.qSpare = q[:0]
	end := min(len(l.pending), l.phead+l.s.cfg.MaxDrain)
	if l.phead < end {
		l.WakeBatches.Add(1)
	}
	for ; l.phead < end; l.phead++ {
		c := l.pending[l.phead]
		l.pending[l.phead] = nil
		l.signalled(c)
	}
}

func (l *loop) signalled(c *conn) {
	bits := c.sig.And(sigDead)
	if bits&sigHsOut != 0 {
		l.hsOutput(c)
	}
	if bits&sigHsDone != 0 {
		l.hsDone(c)
	}
	if bits&sigLit != 0 {
		l.litGranted(c)
	}
	if bits&sigWake != 0 && c.f&fClosed == 0 {
		l.Wakeups.Add(1)
		if c.f&(fBusy|fHandshake|fStartTLS) != 0 || c.f&fStarted == 0 {
			c.f |= fWake
		} else if c.f&fDraining == 0 {
			l.step(c, stepWake)
		}
	}
}

func (l *loop) readIfIdle(c *conn) {
	if c.f&(fHalfShut|fReadable|fClosed) == fHalfShut|fReadable {
		l.discard(c)
		return
	}
	if c.f&fReadable != 0 && c.f&(fBusy|fClosed|fDraining|fStartTLS|fEOF|fMore|fLitWait) == 0 {
		l.read(c)
	}
}

// read reads into the loop's buffer and hands the bytes on: once for
// plaintext; for TLS until a Receive step starts (a read may end inside a
// record), at most maxReads times.
func (l *loop) read(c *conn) {
	for reads := 0; reads < maxReads; reads++ {
		n, err := unix.Read(int(c.fd), l.rbuf)
		switch {
		case err == unix.EINTR:
			continue
		case err == unix.EAGAIN:
			c.f &^= fReadable
			return
		case err != nil:
			l.markClose(c)
			return
		case n == 0:
			c.f &^= fReadable
			c.f |= fEOF
			if c.f&fHandshake != 0 {
				l.markClose(c)
			} else {
				l.drainClose(c)
			}
			return
		}
		l.BytesIn.Add(uint64(n))
		// With edge-triggered epoll, a short read means the socket was
		// drained: more data brings a new edge. After RDHUP, read on
		// until EOF, which brings none.
		if n < len(l.rbuf) && c.f&fRDHUP == 0 {
			c.f &^= fReadable
		}
		if c.tls == nil {
			l.dispatch(c, l.rbuf[:n])
			return
		}
		l.tlsInput(c, l.rbuf[:n])
		if c.f&fReadable == 0 || c.f&(fBusy|fClosed|fDraining|fEOF) != 0 {
			return
		}
	}
	if c.f&fReadable != 0 && c.f&fBusy == 0 {
		// Not drained: come back next turn rather than starve others.
		l.later(c)
	}
}

const maxReads = 8

func (l *loop) later(c *conn) { l.retry = append(l.retry, c) }

func (l *loop) retryReads() {
	if len(l.retry) == 0 {
		return
	}
	r := l.retry
	l.retry = nil
	for i, c := range r {
		r[i] = nil
		l.readIfIdle(c)
	}
	if l.retry == nil {
		l.retry = r[:0]
	}
}

// dispatch runs Receive on the worker pool with a copy of data.
func (l *loop) dispatch(c *conn, data []byte) {
	c.lastActive = l.now
	in := append(l.pool.get(len(data)), data...)
	c.f |= fBusy
	l.s.workers.submit(job{c: c, tls: c.tls, now: l.now, in: in, out: l.pool.get(0)})
}

// finish takes a step back from the worker pool.
func (l *loop) finish(j job) {
	c := j.c
	c.f &^= fBusy
	l.pool.put(j.in)
	l.Steps.Add(1)
	if c.f&fClosed != 0 {
		l.pool.put(j.out)
		l.closing = append(l.closing, c)
		return
	}
	if j.encErr {
		l.pool.put(j.out)
		l.markClose(c)
		return
	}
	l.emitRaw(c, j.out, true, j.encrypted)
	l.litAfterStep(c, j.eff)
	l.effects(c, j.eff)
	l.after(c)
}

type stepKind uint8

const (
	stepStart stepKind = iota
	stepWake
	stepTick
	stepShutdown
)

// step runs an inline (memory-only) step of the session.
func (l *loop) step(c *conn, k stepKind) {
	out := l.scratch[:0]
	var eff statemachine.Effect
	switch k {
	case stepStart:
		c.f |= fStarted
		out = c.sess.Start(l.now, out)
	case stepWake:
		out, eff = c.sess.Wake(l.now, out)
	case stepTick:
		c.lastActive = l.now
		out, eff = c.sess.Tick(l.now, out)
	case stepShutdown:
		out = c.sess.Shutdown(out)
		eff = statemachine.EffClose
		c.f |= fBye
	}
	if cap(out) > cap(l.scratch) && cap(out) <= 1<<20 {
		l.scratch = out[:0]
	}
	l.emit(c, out, false)
	l.effects(c, eff)
	l.after(c)
}

// after decides what a connection does next once a step is done.
func (l *loop) after(c *conn) {
	if c.f&(fClosed|fDraining|fBusy|fHandshake) != 0 {
		return
	}
	if t := c.sess.Timeout(); t > 0 {
		l.wheel.set(c, c.lastActive+t)
	} else {
		l.wheel.set(c, 0)
	}
	switch {
	case c.f&fStartTLS != 0:
	case c.f&fShutdown != 0:
		c.f &^= fShutdown
		l.step(c, stepShutdown)
	case c.f&fWake != 0:
		c.f &^= fWake
		l.step(c, stepWake)
	case c.f&fLitWait != 0:
		// waits for literal budget; litGranted comes back here
	case c.f&fTLSMore != 0:
		if !l.tlsDecode(c) {
			l.readIfIdle(c)
		}
	case c.f&fMore != 0:
		if c.out == nil {
			c.f &^= fMore
			l.dispatch(c, nil)
		} // else flush() dispatches once the output is written
	case c.f&fEOF != 0:
		l.drainClose(c)
	default:
		l.readIfIdle(c)
	}
}

// emit queues a step's output and tries to write it. owned says out was
// borrowed from the pool (and may be kept as the pending buffer).
func (l *loop) emit(c *conn, out []byte, owned bool) {
	l.emitRaw(c, out, owned, false)
}

// emitRaw is emit; encrypted says out is TLS records already.
func (l *loop) emitRaw(c *conn, out []byte, owned, encrypted bool) {
	if len(out) == 0 || c.f&fClosed != 0 {
		if owned {
			l.pool.put(out)
		}
		return
	}
	added := len(out)
	switch {
	case c.tls != nil && c.f&fHandshake == 0 && !encrypted:
		_, err := c.tls.tc.Write(out) // encrypts into c.out via tlsConn.Write
		l.trimLater(c)                // a wake-up rebuilt the cipher: drop it again once idle
		if owned {
			l.pool.put(out)
		}
		if err != nil {
			l.markClose(c)
			return
		}
	case c.out == nil && owned:
		c.out, c.off = out, 0
	case c.out == nil:
		// Try to write straight from the scratch buffer; borrow a
		// buffer only for what the socket does not take.
		n := l.write(c, out)
		if n < 0 || n == len(out) {
			return
		}
		c.out, c.off = append(l.pool.get(len(out)-n), out[n:]...), 0
		l.checkBound(c, added)
		return
	default:
		l.appendOut(c, out)
		if owned {
			l.pool.put(out)
		}
	}
	l.flush(c)
	l.checkBound(c, added)
}

// checkBound closes a connection whose client let more than MaxOutput pile
// up before this step's output was added. One step's output may exceed the
// bound (a large body fetched by a client that reads): the session answers
// no further commands until it is written (EffMoreInput), so what is queued
// stays within MaxOutput plus one step.
func (l *loop) checkBound(c *conn, added int) {
	if c.out != nil && len(c.out)-int(c.off)-added > l.s.cfg.MaxOutput {
		l.Overflows.Add(1)
		l.markClose(c)
	}
}

// appendOut adds p to the connection's pending output.
func (l *loop) appendOut(c *conn, p []byte) {
	if c.out == nil {
		c.out, c.off = l.pool.get(len(p)), 0
	} else if c.off > 0 && len(c.out)+len(p) > cap(c.out) {
		n := copy(c.out, c.out[c.off:])
		c.out, c.off = c.out[:n], 0
	}
	c.out = append(c.out, p...)
}

// write writes p and returns how much the socket took, or -1 after an
// error (the connection is then closing).
func (l *loop) write(c *conn, p []byte) int {
	done := 0
	for done < len(p) {
		n, err := unix.Write(int(c.fd), p[done:])
		switch {
		case err == unix.EINTR:
			continue
		case err == unix.EAGAIN:
			return done
		case err != nil:
			l.markClose(c)
			return -1
		}
		done += n
		l.BytesOut.Add(uint64(n))
	}
	return done
}

// flush writes pending output; when all is written the buffer goes back to
// the pool and what waited for it (STARTTLS, close) goes on.
func (l *loop) flush(c *conn) {
	if c.out == nil || c.f&fClosed != 0 {
		return
	}
	n := l.write(c, c.out[c.off:])
	if n < 0 {
		return
	}
	c.off += int32(n)
	if int(c.off) < len(c.out) {
		return // EPOLLOUT brings us back
	}
	l.pool.put(c.out)
	c.out, c.off = nil, 0
	if c.f&fStartTLS != 0 {
		l.startHandshake(c)
	} else if c.f&fDraining != 0 {
		l.closeFlushed(c)
	} else if c.f&(fMore|fBusy) == fMore {
		// The client read what it was sent: answer the commands the
		// session kept back.
		c.f &^= fMore
		l.dispatch(c, nil)
	}
}

func (l *loop) effects(c *conn, eff statemachine.Effect) {
	if c.f&fClosed != 0 {
		return
	}
	if eff&statemachine.EffStartTLS != 0 {
		if c.tls != nil || l.s.cfg.TLS == nil {
			l.markClose(c)
			return
		}
		c.f |= fStartTLS
		if c.out == nil {
			l.startHandshake(c)
		}
	}
	if eff&statemachine.EffMoreInput != 0 {
		c.f |= fMore
	}
	if eff&statemachine.EffLiteral != 0 {
		l.literal(c)
	}
	if eff&statemachine.EffClose != 0 {
		l.drainClose(c)
	}
}

// drainClose closes the connection once its output is written (bounded by
// LingerTimeout). Nothing more is read.
func (l *loop) drainClose(c *conn) {
	if c.f&(fDraining|fClosed) != 0 {
		return
	}
	if c.f&fBusy != 0 {
		c.f |= fEOF // after() comes back here
		return
	}
	c.f |= fDraining
	if c.tls != nil && c.f&fHandshake == 0 {
		c.tls.tc.CloseWrite() // close_notify into c.out
		l.flush(c)
	}
	if c.out == nil {
		l.closeFlushed(c)
		return
	}
	c.f |= fLinger
	l.wheel.set(c, l.now+l.s.cfg.LingerTimeout)
}

// closeFlushed closes a draining connection whose output is all written.
func (l *loop) closeFlushed(c *conn) {
	if c.f&fBye != 0 && c.f&fEOF == 0 {
		l.halfClose(c)
		return
	}
	l.markClose(c)
}

// byeDrain bounds, in seconds of Config.Clock, how long a connection that
// got its BYE at shutdown is read from (and what it sends discarded)
// before it is closed.
const byeDrain = 2

// halfClose ends a connection that was sent `* BYE` at shutdown without
// letting an RST destroy the BYE: close(2) on a socket with unread input
// sends an RST instead of a FIN (RFC 1122 §4.2.2.13, RFC 2525 §2.17),
// drops whatever of the BYE is still in the send queue (a slow link, a
// client that reads late), and the client sees "connection reset" where
// it should see the BYE and EOF. A client in the middle of an APPEND
// literal always has such input in flight. So the write side is shut down
// (FIN after the BYE), and input is read and discarded until the client
// closes (EOF) or byeDrain passes; only then is the socket closed. Only
// this path waits: other closes (LOGOUT, EOF, errors, timeouts) are
// unchanged.
func (l *loop) halfClose(c *conn) {
	if c.f&(fHalfShut|fClosed) != 0 {
		return
	}
	c.f |= fHalfShut
	if err := unix.Shutdown(int(c.fd), unix.SHUT_WR); err != nil {
		l.markClose(c)
		return
	}
	c.f |= fLinger
	l.wheel.set(c, l.now+byeDrain)
	c.f |= fReadable // read once: the edge may have come before
	l.discard(c)
}

// discard reads and drops the input of a half-closed connection; EOF or
// an error closes it.
func (l *loop) discard(c *conn) {
	for reads := 0; reads < maxReads; reads++ {
		n, err := unix.Read(int(c.fd), l.rbuf)
		switch {
		case err == unix.EINTR:
			continue
		case err == unix.EAGAIN:
			c.f &^= fReadable
			return
		case err != nil || n == 0:
			l.markClose(c)
			return
		}
		l.BytesIn.Add(uint64(n))
	}
	l.later(c)
}

// fire handles a timer-wheel expiry.
func (l *loop) fire(c *conn) {
	switch {
	case c.f&fClosed != 0:
	case c.f&fHalfShut != 0:
		l.markClose(c) // byeDrain is over: the client had its BYE
	case c.f&(fHandshake|fDraining|fStartTLS) != 0:
		l.Timeouts.Add(1)
		l.markClose(c)
	case c.f&fBusy != 0:
		// after() re-arms when the step is back.
	default:
		l.Timeouts.Add(1)
		l.step(c, stepTick)
	}
}

// markClose queues c to be closed at the end of the batch.
func (l *loop) markClose(c *conn) {
	if c.f&fClosed != 0 {
		return
	}
	c.f |= fClosed
	l.closing = append(l.closing, c)
}

func (l *loop) closeBatch() {
	for i, c := range l.closing {
		l.closing[i] = nil
		switch {
		case c.f&fBusy != 0:
			// finish() queues it again.
		case c.f&fHandshake != 0 && c.tls.waiting():
			c.tls.abort() // hsDone() queues it again
		default:
			l.finalize(c)
		}
	}
	l.closing = l.closing[:0]
}

func (l *loop) finalize(c *conn) {
	if c.sess == nil {
		return
	}
	l.wheel.remove(c)
	c.sig.Or(sigDead)
	if c.out != nil {
		l.pool.put(c.out)
		c.out = nil
	}
	if c.tls != nil {
		if c.tls.hs && !c.tls.started {
			l.TLSFailures.Add(1) // closed before it sent a ClientHello
		}
		c.tls.release(l)
		c.tls = nil
	}
	if c.f&fLitRes != 0 {
		c.f &^= fLitRes | fLitWait
		l.s.lits.release(c)
	}
	l.s.table.set(int(c.fd), nil)
	unix.Close(int(c.fd))
	l.nconns--
	l.Sessions.Add(-1)
	l.Closed.Add(1)
	sess := c.sess
	c.sess = nil
	sess.Close()
}

func (l *loop) beginShutdown() {
	l.stopping = true
	for _, ln := range l.lns {
		if ln.fd >= 0 {
			unix.EpollCtl(l.epfd, unix.EPOLL_CTL_DEL, ln.fd, nil)
			unix.Close(ln.fd)
			ln.fd = -1
		}
	}
	l.eachConn(func(c *conn) {
		switch {
		case c.f&(fClosed|fDraining) != 0:
		case c.f&(fHandshake|fStartTLS) != 0 || c.f&fStarted == 0:
			l.markClose(c)
		case c.f&fBusy != 0:
			c.f |= fShutdown
		default:
			l.step(c, stepShutdown)
		}
	})
}

func (l *loop) forceClose() {
	l.forced = true
	l.eachConn(l.markClose)
}

// eachConn calls f for every connection of this loop (a scan of the fd
// table: used only at shutdown).
func (l *loop) eachConn(f func(*conn)) {
	l.s.table.each(func(c *conn) {
		if c.l == l {
			f(c)
		}
	})
}
