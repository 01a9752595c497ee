package netio

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/myriad-mail/myriad/statemachine"
)

// memSession is the smallest session that can greet and enter IDLE, so the
// memory test measures netio, not the session.
type memSession struct {
	match uint8 // how much of "IDLE\r\n" the input ended with
}

const idleCmd = "IDLE\r\n"

func (s *memSession) Start(now int64, out []byte) []byte { return append(out, "* OK\r\n"...) }
func (s *memSession) Receive(now int64, in, out []byte) ([]byte, statemachine.Effect) {
	for _, b := range in {
		switch {
		case b == idleCmd[s.match]:
			s.match++
		case b == idleCmd[0]:
			s.match = 1
		default:
			s.match = 0
		}
		if int(s.match) == len(idleCmd) {
			s.match = 0
			out = append(out, "+ idling\r\n"...)
		}
	}
	return out, 0
}
func (s *memSession) Wake(now int64, out []byte) ([]byte, statemachine.Effect) { return out, 0 }
func (s *memSession) Tick(now int64, out []byte) ([]byte, statemachine.Effect) { return out, 0 }
func (s *memSession) Timeout() int64                                           { return 1800 }
func (s *memSession) TLSReady()                                                {}
func (s *memSession) Shutdown(out []byte) []byte                               { return out }
func (s *memSession) Close()                                                   {}

// TestIdleMemory opens N idle connections (MYRIAD_NETIO_IDLE, default 500)
// from a child process, each greeted and in IDLE (after a Receive step), and
// reports the server's user-space bytes per connection: heap and goroutine
// stacks (runtime.MemStats HeapAlloc+StackInuse) after minus before, with
// the loops' buffer free lists already warm (a first round of the same N
// connections runs and closes before measuring). The session itself is 1
// byte (counted in the figure). Modes: plain; tls (implicit TLS, TLS 1.3);
// tls-big (TLS, and each client first sent a 64 KiB "APPEND" body).
//
//	MYRIAD_NETIO_IDLE=2000 go test -run '^TestIdleMemory$' -v ./netio
func TestIdleMemory(t *testing.T) {
	n := envInt("MYRIAD_NETIO_IDLE", 500)
	if os.Getenv("MYRIAD_NETIO_NOTRIM") != "" {
		trimTLSEnabled = false
		defer func() { trimTLSEnabled = true }()
	}
	if os.Getenv("MYRIAD_NETIO_NOLAZY") != "" {
		lazyCiphersEnabled = false
		defer func() { lazyCiphersEnabled = true }()
	}
	if os.Getenv("MYRIAD_NETIO_HEAPPROF") != "" {
		runtime.MemProfileRate = 1
	}
	limits := map[string]float64{"plain": 1024, "tls": 2048, "tls-big": 2048}
	for _, mode := range []string{"plain", "tls", "tls-big"} {
		t.Run(mode, func(t *testing.T) {
			per, gor := measureIdle(t, n, mode)
			fmt.Printf("idle-memory: mode=%s conns=%d bytes/conn=%.0f goroutines+%d\n", mode, n, per, gor)
			if per > limits[mode] {
				t.Errorf("%s: %.0f bytes per idle connection, budget %.0f", mode, per, limits[mode])
			}
			if gor > 2 {
				t.Errorf("%s: %d more goroutines with %d idle connections", mode, gor, n)
			}
		})
	}
}

func measureIdle(t *testing.T, n int, mode string) (float64, int) {
	cert, _ := testCert(t)
	srv, err := NewServer(Config{Loops: 2, Workers: 4, TLS: &tls.Config{Certificates: []tls.Certificate{cert}}},
		func(statemachine.Waker, bool, netip.AddrPort) Session { return &memSession{} })
	if err != nil {
		t.Fatal(err)
	}
	a, err := srv.Listen("127.0.0.1:0", mode != "plain")
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown(t.Context())
	round := func() (stop func()) {
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperIdleClients$", "-test.count=1")
		cmd.Env = append(os.Environ(), "MYRIAD_NETIO_HELPER="+a.String(), "MYRIAD_NETIO_HELPER_N="+strconv.Itoa(n), "MYRIAD_NETIO_HELPER_MODE="+mode)
		stdin, _ := cmd.StdinPipe()
		stdout, _ := cmd.StdoutPipe()
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(stdout)
		ready := false
		for sc.Scan() {
			if sc.Text() == "READY" {
				ready = true
				break
			}
		}
		if !ready {
			cmd.Wait()
			t.Fatal("helper did not get ready")
		}
		go io.Copy(io.Discard, stdout)
		waitFor(t, "sessions", func() bool { return srv.Stats().Sessions == int64(n) })
		return func() {
			stdin.Close()
			cmd.Wait()
			waitFor(t, "sessions gone", func() bool { return srv.Stats().Sessions == 0 })
		}
	}
	round()() // warm the loops' free lists
	before, g0 := memNow()
	stop := round()
	// Steps complete and buffers go back; TLS buffers are trimmed after a
	// second without input (sweepTrim).
	time.Sleep(2500 * time.Millisecond)
	after, g1 := memNow()
	if p := os.Getenv("MYRIAD_NETIO_HEAPPROF"); p != "" {
		f, err := os.Create(p + "." + mode)
		if err == nil {
			pprof.WriteHeapProfile(f)
			f.Close()
		}
	}
	stop()
	return float64(after-before) / float64(n), g1 - g0
}

func memNow() (uint64, int) {
	var ms runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc + ms.StackInuse, runtime.NumGoroutine()
}

// TestHelperIdleClients is the client side of TestIdleMemory, run in a child
// process so its memory and file descriptors are its own.
func TestHelperIdleClients(t *testing.T) {
	addr := os.Getenv("MYRIAD_NETIO_HELPER")
	if addr == "" {
		t.Skip("helper process only")
	}
	n, _ := strconv.Atoi(os.Getenv("MYRIAD_NETIO_HELPER_N"))
	mode := os.Getenv("MYRIAD_NETIO_HELPER_MODE")
	var conns []net.Conn
	blob := strings.Repeat("y", 64<<10)
	for i := 0; i < n; i++ {
		var c net.Conn
		var err error
		if mode == "plain" {
			c, err = net.Dial("tcp", addr)
		} else {
			c, err = tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true})
		}
		if err != nil {
			t.Fatal(err)
		}
		r := bufio.NewReader(c)
		if l, err := r.ReadString('\n'); err != nil || l != "* OK\r\n" {
			t.Fatalf("greeting %q %v", l, err)
		}
		if mode == "tls-big" {
			io.WriteString(c, blob)
		}
		io.WriteString(c, idleCmd)
		if l, err := r.ReadString('\n'); err != nil || l != "+ idling\r\n" {
			t.Fatalf("idle %q %v", l, err)
		}
		conns = append(conns, c)
	}
	fmt.Println("READY")
	io.Copy(io.Discard, os.Stdin)
	for _, c := range conns {
		c.Close()
	}
}

// TestConnSize keeps the per-connection struct in the 112-byte size class.
func TestConnSize(t *testing.T) {
	if n := unsafe.Sizeof(conn{}); n > 112 {
		t.Fatalf("conn is %d bytes, want <= 112", n)
	}
}

// TestSilentTLSClients: clients that connect to the TLS port and say nothing
// cost no goroutine.
func TestSilentTLSClients(t *testing.T) {
	ts := startServer(t, nil)
	_, g0 := memNow()
	var cs []net.Conn
	for i := 0; i < 200; i++ {
		c, err := net.Dial("tcp", ts.tlsAddr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		cs = append(cs, c)
	}
	waitFor(t, "accepted", func() bool { return ts.srv.Stats().Sessions == 200 })
	if _, g1 := memNow(); g1 > g0 {
		t.Fatalf("%d more goroutines with 200 silent TLS clients", g1-g0)
	}
	for _, c := range cs {
		c.Close()
	}
	waitFor(t, "closed", func() bool { return ts.srv.Stats().Sessions == 0 })
	if st := ts.srv.Stats(); st.TLSFailures != 200 || st.TLSHandshakes != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// clientHello returns the first record a crypto/tls client sends.
func clientHello(t *testing.T) []byte {
	a, b := net.Pipe()
	defer b.Close()
	go func() {
		tls.Client(a, &tls.Config{InsecureSkipVerify: true}).Handshake()
		a.Close()
	}()
	buf := make([]byte, 16<<10)
	n, err := b.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	return buf[:n]
}

// TestHandshakeCap: clients that send a ClientHello and stall hold at most
// MaxHandshakes goroutines per loop; the rest wait; all go at the timeout.
func TestHandshakeCap(t *testing.T) {
	ts := startServer(t, func(c *Config) { c.MaxHandshakes = 1; c.HandshakeTimeout = 5 })
	hello := clientHello(t)
	_, g0 := memNow()
	const n = 6
	for i := 0; i < n; i++ {
		c, err := net.Dial("tcp", ts.tlsAddr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := c.Write(hello); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "accepted", func() bool { return ts.srv.Stats().Sessions == n })
	time.Sleep(200 * time.Millisecond)
	if _, g1 := memNow(); g1-g0 < 1 || g1-g0 > 2 {
		t.Fatalf("%d handshake goroutines for %d stalled clients, want 1 or 2 (1 per loop)", g1-g0, n)
	}
	ts.clock.Add(6)
	waitFor(t, "stalled handshakes closed", func() bool { return ts.srv.Stats().Sessions == 0 })
	if st := ts.srv.Stats(); st.TLSFailures != n || st.TLSHandshakes != 0 {
		t.Fatalf("stats %+v", st)
	}
	c := ts.dialTLS(t)
	c.greeting(true)
}
