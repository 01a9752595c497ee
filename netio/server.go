package netio

import (
	"context"
	"fmt"
	"net"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// Server runs the event loops. Make it with NewServer, add listeners with
// Listen, then Start; Shutdown ends it.
type Server struct {
	cfg     Config
	factory Factory
	loops   []*loop
	table   fdTable
	workers workers
	addrs   []net.Addr
	lits    litBudget

	started  atomic.Bool
	running  atomic.Bool // the loops run
	stopping atomic.Bool
	forced   atomic.Bool
	loopsWG  sync.WaitGroup
	done     chan struct{}

	releaseOnce sync.Once
}

// NewServer makes a server whose sessions come from f.
func NewServer(cfg Config, f Factory) (*Server, error) {
	if cfg.Loops <= 0 {
		cfg.Loops = runtime.NumCPU()
	}
	if cfg.Workers <= 0 {
		// Steps mostly wait on fsync, not on a CPU: with 4 per loop,
		// reads queued behind fsync-bound writes (the throughput bench
		// saw FETCH FLAGS take as long as APPEND). Still a fixed bound.
		cfg.Workers = max(32, 32*cfg.Loops)
	}
	if cfg.ReadBuffer <= 0 {
		cfg.ReadBuffer = 64 << 10
	}
	if cfg.MaxOutput <= 0 {
		cfg.MaxOutput = 4 << 20
	}
	if cfg.HandshakeTimeout <= 0 {
		cfg.HandshakeTimeout = 30
	}
	if cfg.MaxHandshakes <= 0 {
		cfg.MaxHandshakes = 256
	}
	if cfg.LingerTimeout <= 0 {
		cfg.LingerTimeout = 10
	}
	if cfg.MaxDrain <= 0 {
		cfg.MaxDrain = 1024
	}
	if cfg.ReleaseAfter == 0 {
		cfg.ReleaseAfter = 1000
	}
	if cfg.MaxLiteralBuffer == 0 {
		cfg.MaxLiteralBuffer = DefaultMaxLiteralBuffer
	}
	if cfg.Clock == nil {
		cfg.Clock = func() int64 { return time.Now().Unix() }
	}
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &rl); err != nil {
		return nil, os.NewSyscallError("getrlimit", err)
	}
	size := rl.Cur
	if size > 1<<30 {
		size = 1 << 30
	}
	s := &Server{cfg: cfg, factory: f, table: newFDTable(size), done: make(chan struct{})}
	s.lits.free = cfg.MaxLiteralBuffer
	s.lits.held = make(map[*conn]int64)
	for i := 0; i < cfg.Loops; i++ {
		l, err := newLoop(s, i)
		if err != nil {
			for _, l := range s.loops {
				l.closeFDs()
			}
			return nil, err
		}
		s.loops = append(s.loops, l)
	}
	return s, nil
}

// Listen adds a TCP listener on addr (host:port; port 0 picks one), with
// implicit TLS if tlsOn. Each loop gets its own SO_REUSEPORT socket on the
// same address. Call it before Start. It returns the bound address.
func (s *Server) Listen(addr string, tlsOn bool) (net.Addr, error) {
	if s.started.Load() {
		return nil, ErrServerStarted
	}
	if tlsOn && s.cfg.TLS == nil {
		return nil, ErrNoTLSConfig
	}
	ta, err := net.ResolveTCPAddr("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("netio: listen %s: %w", addr, err)
	}
	var fds []int
	fail := func(err error) (net.Addr, error) {
		for _, fd := range fds {
			unix.Close(fd)
		}
		return nil, fmt.Errorf("netio: listen %s: %w", addr, err)
	}
	port := ta.Port
	var bound net.Addr
	for range s.loops {
		fd, sa, err := listenSocket(ta.IP, port)
		if err != nil {
			return fail(err)
		}
		fds = append(fds, fd)
		if bound == nil {
			switch a := sa.(type) {
			case *unix.SockaddrInet4:
				port = a.Port
				bound = &net.TCPAddr{IP: net.IP(a.Addr[:]).To16(), Port: a.Port}
			case *unix.SockaddrInet6:
				port = a.Port
				bound = &net.TCPAddr{IP: net.IP(a.Addr[:]), Port: a.Port}
			}
		}
	}
	for i, l := range s.loops {
		l.lns = append(l.lns, &lfd{fd: fds[i], tls: tlsOn})
	}
	s.addrs = append(s.addrs, bound)
	return bound, nil
}

func listenSocket(ip net.IP, port int) (int, unix.Sockaddr, error) {
	var sa unix.Sockaddr
	family := unix.AF_INET
	if ip4 := ip.To4(); ip4 != nil || ip == nil {
		a := &unix.SockaddrInet4{Port: port}
		if ip4 != nil {
			copy(a.Addr[:], ip4)
		}
		sa = a
	} else {
		family = unix.AF_INET6
		a := &unix.SockaddrInet6{Port: port}
		copy(a.Addr[:], ip.To16())
		sa = a
	}
	fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, nil, os.NewSyscallError("socket", err)
	}
	for _, o := range []int{unix.SO_REUSEADDR, unix.SO_REUSEPORT} {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, o, 1); err != nil {
			unix.Close(fd)
			return -1, nil, os.NewSyscallError("setsockopt", err)
		}
	}
	if err := unix.Bind(fd, sa); err != nil {
		unix.Close(fd)
		return -1, nil, os.NewSyscallError("bind", err)
	}
	if err := unix.Listen(fd, 4096); err != nil {
		unix.Close(fd)
		return -1, nil, os.NewSyscallError("listen", err)
	}
	got, err := unix.Getsockname(fd)
	if err != nil {
		unix.Close(fd)
		return -1, nil, os.NewSyscallError("getsockname", err)
	}
	return fd, got, nil
}

// Addrs returns the bound addresses of the listeners, in Listen order.
func (s *Server) Addrs() []net.Addr { return s.addrs }

// Start starts the workers and the loops; it returns at once. Start and
// Shutdown must not be called concurrently.
func (s *Server) Start() error {
	if s.stopping.Load() {
		return ErrServerClosed
	}
	if !s.started.CompareAndSwap(false, true) {
		return ErrServerStarted
	}
	for _, l := range s.loops {
		if err := l.addListeners(); err != nil {
			s.stopping.Store(true)
			s.release()
			return err
		}
	}
	s.workers.start(s.cfg.Workers)
	s.running.Store(true)
	s.loopsWG.Add(len(s.loops))
	for _, l := range s.loops {
		go l.run()
	}
	go func() {
		s.loopsWG.Wait()
		close(s.done)
	}()
	return nil
}

// Shutdown stops accepting, asks every session for its farewell
// (Session.Shutdown), flushes it, lets steps in flight finish, closes every
// connection and returns. If ctx ends first, the connections still open are
// closed at once (steps in flight still finish) and ctx.Err() is returned.
// On a server that was never started it closes the listeners.
func (s *Server) Shutdown(ctx context.Context) error {
	if !s.stopping.CompareAndSwap(false, true) {
		<-s.done
		return nil
	}
	if !s.started.Load() || !s.running.Load() {
		s.release() // never started, or Start failed: only sockets to close
		return nil
	}
	for _, l := range s.loops {
		l.notify()
	}
	var err error
	select {
	case <-s.done:
	case <-ctx.Done():
		err = ctx.Err()
		s.forced.Store(true)
		for _, l := range s.loops {
			l.notify()
		}
		<-s.done
	}
	s.workers.stop()
	return err
}

// release closes the sockets of a server whose loops never ran.
func (s *Server) release() {
	s.releaseOnce.Do(func() {
		for _, l := range s.loops {
			l.closeFDs()
		}
		close(s.done)
	})
}

// Counters returns each loop's counters.
func (s *Server) Counters() []*Counters {
	cs := make([]*Counters, len(s.loops))
	for i, l := range s.loops {
		cs[i] = &l.Counters
	}
	return cs
}

// Stats sums the counters of all loops.
func (s *Server) Stats() Stats {
	var st Stats
	for _, l := range s.loops {
		st.add(&l.Counters)
	}
	return st
}
