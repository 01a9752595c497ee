package netio

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/myriad-mail/myriad/statemachine"
)

const clock0 = 1_700_000_000

type testServer struct {
	srv       *Server
	hub       *fakeHub
	addr      string // plaintext (STARTTLS)
	tlsAddr   string // implicit TLS
	clock     atomic.Int64
	clientTLS *tls.Config
}

var (
	certOnce sync.Once
	certTLS  tls.Certificate
	certPool *x509.CertPool
)

// testCert makes a self-signed ECDSA certificate for 127.0.0.1.
func testCert(t testing.TB) (tls.Certificate, *x509.CertPool) {
	certOnce.Do(func() {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			panic(err)
		}
		tmpl := &x509.Certificate{
			SerialNumber:          big.NewInt(1),
			Subject:               pkix.Name{CommonName: "myriad test"},
			NotBefore:             time.Now().Add(-time.Hour),
			NotAfter:              time.Now().Add(24 * time.Hour),
			IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
			KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
			ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
			BasicConstraintsValid: true,
			IsCA:                  true,
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
		if err != nil {
			panic(err)
		}
		cert, _ := x509.ParseCertificate(der)
		certTLS = tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}
		certPool = x509.NewCertPool()
		certPool.AddCert(cert)
	})
	return certTLS, certPool
}

func startServer(t testing.TB, mod func(*Config)) *testServer {
	t.Helper()
	cert, pool := testCert(t)
	ts := &testServer{hub: newHub()}
	ts.clock.Store(clock0)
	ts.clientTLS = &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}
	cfg := Config{
		Loops:   2,
		TLS:     &tls.Config{Certificates: []tls.Certificate{cert}},
		Clock:   ts.clock.Load,
		Workers: 4,
	}
	if mod != nil {
		mod(&cfg)
	}
	srv, err := NewServer(cfg, ts.hub.factory)
	if err != nil {
		t.Fatal(err)
	}
	a, err := srv.Listen("127.0.0.1:0", false)
	if err != nil {
		t.Fatal(err)
	}
	b, err := srv.Listen("127.0.0.1:0", true)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	ts.srv, ts.addr, ts.tlsAddr = srv, a.String(), b.String()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		if n := ts.hub.overlap.Load(); n != 0 {
			t.Errorf("Receive ran concurrently with itself %d times", n)
		}
	})
	return ts
}

type client struct {
	t testing.TB
	net.Conn
	r *bufio.Reader
}

func (ts *testServer) dial(t testing.TB) *client {
	t.Helper()
	c, err := net.Dial("tcp", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &client{t: t, Conn: c, r: bufio.NewReader(c)}
}

func (ts *testServer) dialTLS(t testing.TB) *client {
	t.Helper()
	c, err := tls.Dial("tcp", ts.tlsAddr, ts.clientTLS)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &client{t: t, Conn: c, r: bufio.NewReader(c)}
}

func (c *client) line() string {
	c.t.Helper()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	s, err := c.r.ReadString('\n')
	if err != nil {
		c.t.Fatalf("read: %v (after %q)", err, s)
	}
	return strings.TrimSuffix(s, "\r\n")
}

func (c *client) expect(want string) {
	c.t.Helper()
	if got := c.line(); got != want {
		c.t.Fatalf("got %q, want %q", got, want)
	}
}

func (c *client) send(s string) {
	c.t.Helper()
	if _, err := io.WriteString(c, s); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// expectEOF reads until EOF; nothing else may come.
func (c *client) expectEOF() {
	c.t.Helper()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	b, err := c.r.ReadByte()
	if err == nil {
		rest, _ := c.r.ReadString('\n')
		c.t.Fatalf("want EOF, got %q", string(b)+rest)
	}
	if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) && !strings.Contains(err.Error(), "reset") {
		c.t.Fatalf("want EOF, got %v", err)
	}
}

// greeting reads the greeting and returns the session id.
func (c *client) greeting(tlsOn bool) int {
	c.t.Helper()
	l := c.line()
	var id int
	var tl bool
	if _, err := fmt.Sscanf(l, "* OK fake id=%d tls=%t", &id, &tl); err != nil || tl != tlsOn {
		c.t.Fatalf("greeting %q (tls %v)", l, tlsOn)
	}
	return id
}

func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestGreetingEcho(t *testing.T) {
	ts := startServer(t, nil)
	c := ts.dial(t)
	c.greeting(false)
	c.send("hello\r\n")
	c.expect("ECHO hello")
	c.send("QUIT\r\n")
	c.expect("BYE")
	c.expectEOF()
	waitFor(t, "session closed", func() bool { return ts.hub.closes.Load() == 1 && ts.srv.Stats().Closed == 1 })
	st := ts.srv.Stats()
	if st.Accepted != 1 || st.Closed != 1 || st.Sessions != 0 || st.Steps != 2 {
		t.Fatalf("stats %+v", st)
	}
	if want := uint64(len("hello\r\nQUIT\r\n")); st.BytesIn != want {
		t.Fatalf("BytesIn %d, want %d", st.BytesIn, want)
	}
	if want := uint64(len("* OK fake id=0 tls=false\r\nECHO hello\r\nBYE\r\n")); st.BytesOut != want {
		t.Fatalf("BytesOut %d, want %d", st.BytesOut, want)
	}
}

// TestRemoteAddr: the Factory gets the client's address and port, as the
// client sees its own end of the connection, over IPv4, IPv6 and implicit
// TLS.
func TestRemoteAddr(t *testing.T) {
	ts := startServer(t, nil)
	check := func(c net.Conn, id int) {
		t.Helper()
		want := c.LocalAddr().(*net.TCPAddr).AddrPort()
		want = netip.AddrPortFrom(want.Addr().Unmap(), want.Port())
		if got := ts.hub.session(id).remote; got != want || !got.IsValid() {
			t.Fatalf("session %d: remote %v, want %v", id, got, want)
		}
	}
	c := ts.dial(t)
	check(c, c.greeting(false))
	ct := ts.dialTLS(t)
	check(ct, ct.greeting(true))

	// IPv6, and IPv4 arriving on a dual-stack socket (mapped by the kernel,
	// unmapped by netio).
	srv, err := NewServer(Config{Loops: 1, Workers: 1}, ts.hub.factory)
	if err != nil {
		t.Fatal(err)
	}
	a, err := srv.Listen("[::]:0", false)
	if err != nil {
		t.Skipf("no IPv6: %v", err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown(context.Background())
	port := a.(*net.TCPAddr).Port
	for _, host := range []string{"::1", "127.0.0.1"} {
		nc, err := net.Dial("tcp", net.JoinHostPort(host, strconv.Itoa(port)))
		if err != nil {
			if host == "::1" {
				t.Logf("no IPv6 loopback: %v", err)
				continue
			}
			t.Fatal(err)
		}
		defer nc.Close()
		c := &client{t: t, Conn: nc, r: bufio.NewReader(nc)}
		id := c.greeting(false)
		check(nc, id)
		if got := ts.hub.session(id).remote.Addr(); got.Is4In6() || got.String() != host {
			t.Fatalf("remote %v, want %s", got, host)
		}
	}
}

func TestChunkedInput(t *testing.T) {
	ts := startServer(t, nil)
	c := ts.dial(t)
	c.greeting(false)
	for _, b := range []byte("abc\r\ndef\r\n") {
		c.send(string(b))
		time.Sleep(time.Millisecond)
	}
	c.expect("ECHO abc")
	c.expect("ECHO def")
	c.send("gh")
	time.Sleep(20 * time.Millisecond)
	c.send("i\r\njk")
	c.expect("ECHO ghi")
	c.send("\r\n")
	c.expect("ECHO jk")
}

// TestPipelined sends many commands in one write: answers come in order and
// Receive never overlaps itself (checked in cleanup).
func TestPipelined(t *testing.T) {
	ts := startServer(t, nil)
	c := ts.dial(t)
	c.greeting(false)
	var b strings.Builder
	for i := 0; i < 2000; i++ {
		fmt.Fprintf(&b, "line%d\r\n", i)
	}
	go io.WriteString(c, b.String())
	for i := 0; i < 2000; i++ {
		c.expect(fmt.Sprintf("ECHO line%d", i))
	}
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

func TestManyConnections(t *testing.T) {
	n := envInt("MYRIAD_NETIO_CONNS", 500)
	ts := startServer(t, nil)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			c, err := net.Dial("tcp", ts.addr)
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(20 * time.Second))
			r := bufio.NewReader(c)
			if _, err := r.ReadString('\n'); err != nil {
				errs <- err
				return
			}
			for k := 0; k < 5; k++ {
				fmt.Fprintf(c, "c%d-%d\r\n", i, k)
				l, err := r.ReadString('\n')
				if want := fmt.Sprintf("ECHO c%d-%d\r\n", i, k); l != want || err != nil {
					errs <- fmt.Errorf("got %q %v, want %q", l, err, want)
					return
				}
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	st := ts.srv.Stats()
	if st.Accepted != uint64(n) || st.Steps != uint64(5*n) {
		t.Fatalf("accepted %d steps %d, want %d and %d", st.Accepted, st.Steps, n, 5*n)
	}
	// Both loops took connections (SO_REUSEPORT spreads them).
	for i, c := range ts.srv.Counters() {
		if c.Accepted.Load() == 0 {
			t.Errorf("loop %d accepted nothing", i)
		}
	}
}

// TestWakeBatches wakes many IDLE sessions from several goroutines, many
// times each: every session gets its own wake-up, coalesced, and the loops
// are signalled far fewer times than Wake was called.
func TestWakeBatches(t *testing.T) {
	const n, calls = 200, 20
	ts := startServer(t, nil)
	cs := make([]*client, n)
	ids := make([]int, n)
	for i := range cs {
		cs[i] = ts.dial(t)
		ids[i] = cs[i].greeting(false)
		cs[i].send("IDLE\r\n")
		cs[i].expect("+ idling")
	}
	before := ts.srv.Stats()
	var wakers []statemachine.Waker
	for _, id := range ids {
		wakers = append(wakers, ts.hub.session(id).w)
	}
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := 0; k < calls/4; k++ {
				for _, w := range wakers {
					w.Wake()
				}
			}
		}()
	}
	wg.Wait()
	for i, c := range cs {
		c.expect(fmt.Sprintf("* WAKE id=%d n=1", ids[i]))
	}
	// Let trailing wake-ups land, then end IDLE; every line must be ours.
	for i, c := range cs {
		c.send("DONE\r\n")
		for {
			l := c.line()
			if l == "OK done" {
				break
			}
			if !strings.HasPrefix(l, fmt.Sprintf("* WAKE id=%d n=", ids[i])) {
				t.Fatalf("session %d got %q", ids[i], l)
			}
		}
	}
	st := ts.srv.Stats()
	wakes := st.Wakeups - before.Wakeups
	signals := st.WakeSignals - before.WakeSignals
	if wakes < n || wakes > n*calls {
		t.Fatalf("Wakeups %d, want between %d and %d", wakes, n, n*calls)
	}
	if signals >= n*calls/4 {
		t.Fatalf("%d eventfd signals for %d Wake calls: not batched", signals, n*calls)
	}
	t.Logf("%d Wake calls -> %d wake steps, %d eventfd signals, %d batches", n*calls, wakes, signals, st.WakeBatches-before.WakeBatches)
}

// TestSlowReader: a client that never reads is closed once its queue passes
// MaxOutput; another client is served meanwhile.
func TestSlowReader(t *testing.T) {
	ts := startServer(t, func(c *Config) { c.MaxOutput = 256 << 10 })
	slow := ts.dial(t)
	slowID := slow.greeting(false)
	slow.Conn.(*net.TCPConn).SetReadBuffer(4096)
	good := ts.dial(t)
	good.greeting(false)
	go func() {
		for i := 0; i < 200; i++ {
			if _, err := io.WriteString(slow, "BIG 1048576\r\n"); err != nil {
				return
			}
			time.Sleep(time.Millisecond)
		}
	}()
	for i := 0; ; i++ {
		good.send(fmt.Sprintf("ping%d\r\n", i))
		good.expect(fmt.Sprintf("ECHO ping%d", i))
		if ts.srv.Stats().Overflows == 1 {
			break
		}
		if i > 5000 {
			t.Fatal("slow reader never closed")
		}
		time.Sleep(2 * time.Millisecond)
	}
	select {
	case id := <-ts.hub.closedCh:
		if id != slowID {
			t.Fatalf("closed session %d, want %d", id, slowID)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("slow session not closed")
	}
	good.send("still\r\n")
	good.expect("ECHO still")
	if st := ts.srv.Stats(); st.Overflows != 1 || st.Sessions != 1 {
		t.Fatalf("stats %+v", st)
	}
}

// TestHalfClose: a peer that shuts down its sending side still gets the
// answers to what it sent, then the connection closes.
func TestHalfClose(t *testing.T) {
	ts := startServer(t, nil)
	c := ts.dial(t)
	c.greeting(false)
	c.send("one\r\ntwo\r\n")
	c.Conn.(*net.TCPConn).CloseWrite()
	c.expect("ECHO one")
	c.expect("ECHO two")
	c.expectEOF()
	waitFor(t, "close", func() bool { return ts.hub.closes.Load() == 1 })
}

// TestReset: a peer that resets the connection, idle or with a step in
// flight, has its session closed.
func TestReset(t *testing.T) {
	ts := startServer(t, nil)
	a := ts.dial(t)
	a.greeting(false)
	b := ts.dial(t)
	b.greeting(false)
	a.Conn.(*net.TCPConn).SetLinger(0)
	a.Close()
	b.send("SLEEP 200\r\n")
	time.Sleep(50 * time.Millisecond)
	b.Conn.(*net.TCPConn).SetLinger(0)
	b.Close()
	waitFor(t, "both closed", func() bool { return ts.hub.closes.Load() == 2 })
	if st := ts.srv.Stats(); st.Sessions != 0 || st.Closed != 2 {
		t.Fatalf("stats %+v", st)
	}
}

// TestTimeout drives the timer wheel with the injected clock.
func TestTimeout(t *testing.T) {
	ts := startServer(t, nil)
	c := ts.dial(t)
	c.greeting(false)
	c.send("TIMEOUT 5\r\n")
	c.expect("OK timeout")
	ts.clock.Add(3)
	time.Sleep(1200 * time.Millisecond) // a turn of the loops sees the time
	c.send("ping\r\n")                  // activity at clock0+3: due at +8
	c.expect("ECHO ping")
	ts.clock.Add(3) // clock0+6
	c.SetReadDeadline(time.Now().Add(1500 * time.Millisecond))
	if l, err := c.r.ReadString('\n'); err == nil {
		t.Fatalf("early tick: %q", l)
	}
	if n := ts.srv.Stats().Timeouts; n != 0 {
		t.Fatalf("Timeouts %d before due", n)
	}
	ts.clock.Add(3) // clock0+9
	c.expect("* BYE Autologout")
	c.expectEOF()
	if n := ts.srv.Stats().Timeouts; n != 1 {
		t.Fatalf("Timeouts %d, want 1", n)
	}
}

// TestTimeoutMany: a thousand sessions with different timeouts expire in
// deadline order, each within a second of its deadline.
func TestTimeoutMany(t *testing.T) {
	ts := startServer(t, nil)
	const n = 300
	cs := make([]*client, n)
	for i := range cs {
		cs[i] = ts.dial(t)
		cs[i].greeting(false)
		cs[i].send(fmt.Sprintf("TIMEOUT %d\r\n", 1+i%3))
		cs[i].expect("OK timeout")
	}
	for step := 1; step <= 3; step++ {
		ts.clock.Add(1)
		want := 0
		for i := 0; i < n; i++ {
			if 1+i%3 <= step {
				want++
			}
		}
		waitFor(t, fmt.Sprintf("%d timeouts at +%d", want, step), func() bool { return ts.srv.Stats().Timeouts == uint64(want) })
	}
	for _, c := range cs {
		c.expect("* BYE Autologout")
		c.expectEOF()
	}
}

func TestSTARTTLS(t *testing.T) {
	ts := startServer(t, nil)
	c := ts.dial(t)
	id := c.greeting(false)
	c.send("plain\r\n")
	c.expect("ECHO plain")
	c.send("STARTTLS\r\n")
	c.expect("OK begin")
	tc := tls.Client(c.Conn, ts.clientTLS)
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	c = &client{t: t, Conn: tc, r: bufio.NewReader(tc)}
	c.send("secret\r\n")
	c.expect("ECHO secret tls")
	c.send("IDLE\r\n")
	c.expect("+ idling")
	ts.hub.session(id).w.Wake()
	c.expect(fmt.Sprintf("* WAKE id=%d n=1", id))
	c.send("DONE\r\n")
	c.expect("OK done")
	bigTLS(t, c)
	if st := ts.srv.Stats(); st.TLSHandshakes != 1 || st.TLSFailures != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// bigTLS moves a megabyte each way.
func bigTLS(t *testing.T, c *client) {
	c.send("BIG 1000000\r\n")
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 1000002)
	if _, err := io.ReadFull(c.r, buf); err != nil {
		t.Fatal(err)
	}
	if strings.Trim(string(buf[:1000000]), "x") != "" || string(buf[1000000:]) != "\r\n" {
		t.Fatal("BIG output corrupt")
	}
	go func() {
		io.WriteString(c, "LEN\r\n"+strings.Repeat("y", 1<<20)+"\r\n")
	}()
	c.expect(fmt.Sprintf("LEN %d", 1<<20))
}

func TestImplicitTLS(t *testing.T) {
	ts := startServer(t, nil)
	c := ts.dialTLS(t)
	c.greeting(true)
	c.send("hi\r\n")
	c.expect("ECHO hi tls")
	bigTLS(t, c)
	c.send("QUIT\r\n")
	c.expect("BYE")
	c.expectEOF()
	waitFor(t, "close", func() bool { return ts.hub.closes.Load() == 1 })
}

// TestTLSBadClient: plaintext on the TLS port and a stalled handshake are
// closed; a stalled handshake only when its timeout passes.
func TestTLSBadClient(t *testing.T) {
	ts := startServer(t, func(c *Config) { c.HandshakeTimeout = 2 })
	p, err := net.Dial("tcp", ts.tlsAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	io.WriteString(p, "a1 LOGIN user pass\r\n")
	p.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadAll(p); err != nil {
		t.Fatalf("plaintext on TLS port: %v", err)
	}
	s, err := net.Dial("tcp", ts.tlsAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	waitFor(t, "plaintext client closed", func() bool { return ts.srv.Stats().TLSFailures == 1 })
	time.Sleep(100 * time.Millisecond)
	if st := ts.srv.Stats(); st.Sessions != 1 {
		t.Fatalf("stalled handshake closed early: %+v", st)
	}
	ts.clock.Add(3)
	waitFor(t, "stalled handshake closed", func() bool { return ts.srv.Stats().Sessions == 0 })
	if st := ts.srv.Stats(); st.TLSFailures != 2 || st.Timeouts != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestShutdown(t *testing.T) {
	ts := startServer(t, nil)
	var idle []*client
	for i := 0; i < 3; i++ {
		c := ts.dial(t)
		c.greeting(false)
		c.send("IDLE\r\n")
		c.expect("+ idling")
		idle = append(idle, c)
	}
	tc := ts.dialTLS(t)
	tc.greeting(true)
	stalled, err := net.Dial("tcp", ts.tlsAddr) // never says hello
	if err != nil {
		t.Fatal(err)
	}
	defer stalled.Close()
	busy := ts.dial(t)
	busy.greeting(false)
	busy.send("SLEEP 500\r\n")
	time.Sleep(100 * time.Millisecond)
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		done <- ts.srv.Shutdown(ctx)
	}()
	// Each client closes once it has its BYE and EOF, as clients do; the
	// server waits for that (or byeDrain, TestShutdownByeNotReset).
	for _, c := range append(idle, tc) {
		c.expect("* BYE Server shutting down")
		c.expectEOF()
		c.Close()
	}
	busy.expect("SLEPT")
	busy.expect("* BYE Server shutting down")
	busy.expectEOF()
	busy.Close()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Shutdown did not return")
	}
	if n := ts.hub.closes.Load(); n != 6 {
		t.Fatalf("%d sessions closed, want 6", n)
	}
	stalled.SetReadDeadline(time.Now().Add(5 * time.Second))
	if b, err := io.ReadAll(stalled); err != nil || len(b) != 0 {
		t.Fatalf("stalled handshake: %q %v", b, err)
	}
	if st := ts.srv.Stats(); st.Sessions != 0 {
		t.Fatalf("stats %+v", st)
	}
	if c, err := net.DialTimeout("tcp", ts.addr, time.Second); err == nil {
		c.Close()
		t.Fatal("still accepting after Shutdown")
	}
}

// TestShutdownForced: when the context ends first, Shutdown closes what is
// left, still waits for the step in flight, and reports the context error.
func TestShutdownForced(t *testing.T) {
	ts := startServer(t, nil)
	busy := ts.dial(t)
	busy.greeting(false)
	sent := time.Now()
	busy.send("SLEEP 1000\r\n")
	time.Sleep(100 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	err := ts.srv.Shutdown(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown: %v", err)
	}
	// The step sleeps 1 s from when the server read it, which is after
	// sent: measured from sent, so a loaded machine cannot fail it.
	if d := time.Since(sent); d < time.Second {
		t.Fatalf("Shutdown returned after %v, before the step in flight finished", d)
	}
	if n := ts.hub.closes.Load(); n != 1 {
		t.Fatalf("%d sessions closed, want 1", n)
	}
	busy.expectEOF()
}

// TestShutdownNotStarted: Shutdown of a server that never started closes its
// listening sockets and returns; Start afterwards fails.
func TestShutdownNotStarted(t *testing.T) {
	srv, err := NewServer(Config{Loops: 2}, newHub().factory)
	if err != nil {
		t.Fatal(err)
	}
	a, err := srv.Listen("127.0.0.1:0", false)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if c, err := net.DialTimeout("tcp", a.String(), time.Second); err == nil {
		c.Close()
		t.Fatal("listener still open")
	}
	if err := srv.Start(); err != ErrServerClosed {
		t.Fatalf("Start after Shutdown: %v", err)
	}
	if err := srv.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// TestMailboxWake: a change published to a statemachine.Mailbox wakes every
// IDLE session watching it, through the loops' queues, in batches; closed
// sessions leave the watcher list.
func TestMailboxWake(t *testing.T) {
	n := envInt("MYRIAD_NETIO_WATCHERS", 1000)
	ts := startServer(t, nil)
	cs := make([]*client, n)
	ids := make([]int, n)
	for i := range cs {
		cs[i] = ts.dial(t)
		ids[i] = cs[i].greeting(false)
		cs[i].send("WATCH\r\nIDLE\r\n")
		cs[i].expect("OK watching")
		cs[i].expect("+ idling")
	}
	if w := ts.hub.mbox.Watchers(); w != n {
		t.Fatalf("%d watchers, want %d", w, n)
	}
	before := ts.srv.Stats()
	mb := ts.hub.mbox
	next, d := mb.Current().WithAppended([]statemachine.Message{{UID: 1, ModSeq: 2}}, nil)
	start := time.Now()
	mb.Publish(next, d)
	var wg sync.WaitGroup
	errs := make(chan string, n)
	for i := range cs {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			cs[i].SetReadDeadline(time.Now().Add(10 * time.Second))
			l, err := cs[i].r.ReadString('\n')
			if want := fmt.Sprintf("* WAKE id=%d n=1\r\n", ids[i]); l != want || err != nil {
				errs <- fmt.Sprintf("got %q %v, want %q", l, err, want)
			}
		}(i)
	}
	wg.Wait()
	elapsed := time.Since(start)
	close(errs)
	for e := range errs {
		t.Fatal(e)
	}
	st := ts.srv.Stats()
	wakes, signals, batches := st.Wakeups-before.Wakeups, st.WakeSignals-before.WakeSignals, st.WakeBatches-before.WakeBatches
	if wakes != uint64(n) {
		t.Fatalf("Wakeups %d, want %d", wakes, n)
	}
	if signals > uint64(n/10) || batches > uint64(n/10) {
		t.Fatalf("%d sessions woken with %d eventfd signals in %d batches: not batched", n, signals, batches)
	}
	t.Logf("one Publish woke %d IDLE sessions in %v (%d eventfd signals, %d loop batches)", n, elapsed, signals, batches)
	for _, c := range cs[:n/2] {
		c.Close()
	}
	waitFor(t, "watchers gone", func() bool { return mb.Watchers() == n-n/2 })
}

// TestNotReadWhileBusy: while a step is in flight the connection is not read
// from; what the client sends meanwhile waits in the socket and is handled,
// in order, afterwards.
func TestNotReadWhileBusy(t *testing.T) {
	ts := startServer(t, nil)
	c := ts.dial(t)
	c.greeting(false)
	before := ts.srv.Stats().BytesIn
	// The step sleeps long enough that the checks below, however
	// slowly a loaded machine runs them, happen while it is in flight.
	c.send("SLEEP 3000\r\n")
	time.Sleep(100 * time.Millisecond)
	go io.WriteString(c, "LEN\r\n"+strings.Repeat("z", 1<<20)+"\r\nafter\r\n")
	time.Sleep(300 * time.Millisecond)
	if got := ts.srv.Stats().BytesIn - before; got != uint64(len("SLEEP 3000\r\n")) {
		t.Fatalf("read %d bytes while the step was in flight, want %d", got, len("SLEEP 3000\r\n"))
	}
	c.expect("SLEPT")
	c.expect(fmt.Sprintf("LEN %d", 1<<20))
	c.expect("ECHO after")
}
