package main

// The engine: one epoll loop (edge-triggered) driving many non-blocking
// IMAP client connections, and a small fixed pool of dialer goroutines
// that connect (and, for TLS, handshake) before handing a socket to the
// loop. No goroutine is tied to a connection once it is set up.

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// mono is CLOCK_MONOTONIC in nanoseconds: the same clock in every process
// of the machine, so a worker's receive time and the coordinator's send
// time can be subtracted.
func mono() int64 {
	var ts unix.Timespec
	unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return ts.Nano()
}

// handler is what drives one connection: it receives each complete server
// response (one line, with any literals inside it, without the final
// CRLF). The slice is only valid during the call.
type handler interface {
	onResponse(c *conn, r []byte)
	onClose(c *conn, err error)
}

type conn struct {
	fd   int
	l    *loop
	tr   *tlsTransport // TLS only
	tc   *tls.Conn     // TLS only
	in   []byte        // unparsed input kept between reads
	out  []byte        // unsent output (the raw bytes, TLS records for TLS)
	h    handler
	dead bool
}

// write sends b (plaintext; encrypted first for TLS). It never blocks:
// what the socket does not take now waits in c.out for EPOLLOUT.
func (c *conn) write(b []byte) {
	if c.dead {
		return
	}
	if c.tc != nil {
		if _, err := c.tc.Write(b); err != nil {
			c.close(err)
		}
		return
	}
	c.rawWrite(b)
}

func (c *conn) rawWrite(b []byte) {
	if len(c.out) == 0 {
		for len(b) > 0 {
			n, err := unix.Write(c.fd, b)
			if err == unix.EINTR {
				continue
			}
			if err == unix.EAGAIN {
				break
			}
			if err != nil {
				c.close(err)
				return
			}
			b = b[n:]
		}
		if len(b) == 0 {
			return
		}
	}
	c.out = append(c.out, b...)
}

func (c *conn) flush() {
	for len(c.out) > 0 {
		n, err := unix.Write(c.fd, c.out)
		if err == unix.EINTR {
			continue
		}
		if err == unix.EAGAIN {
			return
		}
		if err != nil {
			c.close(err)
			return
		}
		c.out = c.out[n:]
	}
	c.out = nil
}

// close closes the socket (once) and tells the handler.
func (c *conn) close(err error) {
	if c.dead {
		return
	}
	c.dead = true
	unix.Close(c.fd)
	if c.fd < len(c.l.conns) {
		c.l.conns[c.fd] = nil
	}
	c.in, c.out = nil, nil
	c.h.onClose(c, err)
}

// feed parses data (appended to what was kept) into responses.
func (c *conn) feed(data []byte) {
	if len(c.in) > 0 {
		c.in = append(c.in, data...)
		data = c.in
	}
	n := c.parse(data)
	if c.dead {
		return
	}
	rest := data[n:]
	switch {
	case len(rest) == 0:
		if cap(c.in) > 64<<10 {
			c.in = nil
		} else {
			c.in = c.in[:0]
		}
	case len(c.in) > 0: // rest lies inside c.in
		c.in = c.in[:copy(c.in, rest)]
	default:
		c.in = append(c.in[:0], rest...)
	}
}

var crlf = []byte("\r\n")

// parse hands every complete response in data to the handler and returns
// how many bytes it consumed.
func (c *conn) parse(data []byte) int {
	pos := 0
	for !c.dead {
		start, scan := pos, pos
		for {
			i := bytes.Index(data[scan:], crlf)
			if i < 0 {
				return start
			}
			end := scan + i
			if n, ok := literalLen(data[scan:end]); ok {
				if end+2+n > len(data) {
					return start
				}
				scan = end + 2 + n
				continue
			}
			c.h.onResponse(c, data[start:end])
			pos = end + 2
			break
		}
	}
	return pos
}

// literalLen reports whether line ends with a literal announcement {n}.
func literalLen(line []byte) (int, bool) {
	if len(line) < 3 || line[len(line)-1] != '}' {
		return 0, false
	}
	i := bytes.LastIndexByte(line, '{')
	if i < 0 || i == len(line)-2 {
		return 0, false
	}
	n := 0
	for _, b := range line[i+1 : len(line)-1] {
		if b < '0' || b > '9' || n > 1<<30 {
			return 0, false
		}
		n = n*10 + int(b-'0')
	}
	return n, true
}

// tlsTransport is the net.Conn under a client tls.Conn. While dialing it
// blocks (a dialer goroutine owns it); in the loop it never blocks: Read
// serves what the loop read from the socket and otherwise reports a
// temporary error, which crypto/tls does not keep.
type tlsTransport struct {
	netConnStub
	c        *conn
	blocking bool
	in       []byte
}

type errWouldBlock struct{}

func (errWouldBlock) Error() string   { return "would block" }
func (errWouldBlock) Timeout() bool   { return true }
func (errWouldBlock) Temporary() bool { return true }

func (t *tlsTransport) Read(p []byte) (int, error) {
	if t.blocking {
		for {
			n, err := unix.Read(t.c.fd, p)
			if err == unix.EINTR {
				continue
			}
			if err != nil {
				return 0, err
			}
			if n == 0 {
				return 0, errEOF
			}
			return n, nil
		}
	}
	if len(t.in) == 0 {
		return 0, errWouldBlock{}
	}
	n := copy(p, t.in)
	t.in = t.in[n:]
	if len(t.in) == 0 {
		t.in = nil
	}
	return n, nil
}

func (t *tlsTransport) Write(p []byte) (int, error) {
	if t.blocking {
		b := p
		for len(b) > 0 {
			n, err := unix.Write(t.c.fd, b)
			if err == unix.EINTR {
				continue
			}
			if err != nil {
				return len(p) - len(b), err
			}
			b = b[n:]
		}
		return len(p), nil
	}
	t.c.rawWrite(p)
	if t.c.dead {
		return 0, errClosed
	}
	return len(p), nil
}

var (
	errEOF    = errors.New("connection closed by the server")
	errClosed = errors.New("connection closed")
)

// loop is one epoll loop and the connections it drives.
type loop struct {
	epfd    int
	efd     int // eventfd: a dialer handed over a connection
	conns   []*conn
	buf     []byte
	plain   []byte
	mu      sync.Mutex
	handoff []*conn
	tick    func() // called about every 50 ms, and after each batch
	stop    atomic.Bool
}

func newLoop() (*loop, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, err
	}
	efd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		return nil, err
	}
	l := &loop{epfd: epfd, efd: efd, buf: make([]byte, 256<<10), plain: make([]byte, 64<<10)}
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(efd)}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, efd, &ev); err != nil {
		return nil, err
	}
	return l, nil
}

// add is called by a dialer goroutine: the loop takes c over.
func (l *loop) add(c *conn) {
	l.mu.Lock()
	l.handoff = append(l.handoff, c)
	l.mu.Unlock()
	one := []byte{1, 0, 0, 0, 0, 0, 0, 0}
	unix.Write(l.efd, one)
}

func (l *loop) adopt() {
	var eb [8]byte
	unix.Read(l.efd, eb[:])
	l.mu.Lock()
	hs := l.handoff
	l.handoff = nil
	l.mu.Unlock()
	for _, c := range hs {
		for c.fd >= len(l.conns) {
			l.conns = append(l.conns, make([]*conn, len(l.conns)+1024)...)
		}
		l.conns[c.fd] = c
		ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLOUT | unix.EPOLLRDHUP | unix.EPOLLET, Fd: int32(c.fd)}
		if err := unix.EpollCtl(l.epfd, unix.EPOLL_CTL_ADD, c.fd, &ev); err != nil {
			c.close(err)
			continue
		}
		l.readable(c, true) // the greeting (or TLS data) may already be buffered
	}
}

// run drives the loop until stop is set.
func (l *loop) run() {
	events := make([]unix.EpollEvent, 1024)
	last := time.Now()
	for !l.stop.Load() {
		n, err := unix.EpollWait(l.epfd, events, 50)
		if err != nil && err != unix.EINTR {
			panic(fmt.Sprintf("epoll_wait: %v", err))
		}
		for i := 0; i < n; i++ {
			e := events[i]
			fd := int(e.Fd)
			if fd == l.efd {
				l.adopt()
				continue
			}
			if fd >= len(l.conns) || l.conns[fd] == nil {
				continue
			}
			c := l.conns[fd]
			if e.Events&unix.EPOLLOUT != 0 && len(c.out) > 0 {
				c.flush()
			}
			if e.Events&(unix.EPOLLIN|unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0 && !c.dead {
				l.readable(c, e.Events&(unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0)
			}
		}
		if l.tick != nil && (n > 0 || time.Since(last) > 50*time.Millisecond) {
			last = time.Now()
			l.tick()
		}
	}
}

// readable reads what the socket holds. With edge-triggered epoll a short
// read means the socket is drained (bytes arriving later bring a new
// edge), so it stops there instead of paying a read that answers EAGAIN:
// at a fan-out to thousands of sessions that halves the load generator's
// read calls. drain reads on until EAGAIN or EOF (a new socket, or one the
// peer shut down, which brings no further edge).
func (l *loop) readable(c *conn, drain bool) {
	for !c.dead {
		n, err := unix.Read(c.fd, l.buf)
		if err == unix.EINTR {
			continue
		}
		if err == unix.EAGAIN {
			return
		}
		if err != nil {
			c.close(err)
			return
		}
		if n == 0 {
			c.close(errEOF)
			return
		}
		short := n < len(l.buf) && !drain
		if c.tc == nil {
			c.feed(l.buf[:n])
			if short {
				return
			}
			continue
		}
		c.tr.in = append(c.tr.in, l.buf[:n]...)
		for !c.dead {
			m, err := c.tc.Read(l.plain)
			if m > 0 {
				c.feed(l.plain[:m])
			}
			if err != nil {
				var wb errWouldBlock
				if !errors.As(err, &wb) {
					c.close(err)
				}
				break
			}
		}
		if short {
			return
		}
	}
}

// dialOpts are how a dialer reaches the server.
type dialOpts struct {
	addr    netip.AddrPort
	tls     *tls.Config
	srcBase netip.Addr // first source address; session i uses srcBase+(i%srcN)
	srcN    int
	timeout time.Duration
}

// dial connects c (blocking, on a dialer goroutine) from the source
// address for index i and, for TLS, completes the handshake. c is left
// non-blocking, ready to hand to a loop.
func dial(o *dialOpts, i int, c *conn) error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	c.fd = fd
	fail := func(err error) error {
		unix.Close(fd)
		c.fd = -1
		return err
	}
	unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
	tv := unix.NsecToTimeval(o.timeout.Nanoseconds())
	unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_SNDTIMEO, &tv)
	unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	if o.srcN > 0 {
		unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_BIND_ADDRESS_NO_PORT, 1)
		src := o.srcBase.As4()
		v := uint32(src[0])<<24 | uint32(src[1])<<16 | uint32(src[2])<<8 | uint32(src[3])
		v += uint32(i % o.srcN)
		sa := &unix.SockaddrInet4{Addr: [4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}}
		if err := unix.Bind(fd, sa); err != nil {
			return fail(fmt.Errorf("bind %v: %w", sa.Addr, err))
		}
	}
	dst := &unix.SockaddrInet4{Addr: o.addr.Addr().As4(), Port: int(o.addr.Port())}
	for {
		err = unix.Connect(fd, dst)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		return fail(fmt.Errorf("connect: %w", err))
	}
	if o.tls != nil {
		c.tr = &tlsTransport{c: c, blocking: true}
		c.tc = tls.Client(c.tr, o.tls)
		if err := c.tc.Handshake(); err != nil {
			return fail(fmt.Errorf("tls handshake: %w", err))
		}
		c.tr.blocking = false
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		return fail(err)
	}
	return nil
}

// netConnStub completes net.Conn for tlsTransport.
type netConnStub struct{}

func (netConnStub) Close() error                     { return nil }
func (netConnStub) LocalAddr() net.Addr              { return stubAddr{} }
func (netConnStub) RemoteAddr() net.Addr             { return stubAddr{} }
func (netConnStub) SetDeadline(time.Time) error      { return nil }
func (netConnStub) SetReadDeadline(time.Time) error  { return nil }
func (netConnStub) SetWriteDeadline(time.Time) error { return nil }

type stubAddr struct{}

func (stubAddr) Network() string { return "tcp" }
func (stubAddr) String() string  { return "server" }
