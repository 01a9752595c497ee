package statemachine_test

import (
	"bytes"
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
	"os"
	"reflect"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-sasl"

	sm "github.com/myriad-mail/myriad/statemachine"
	"github.com/myriad-mail/myriad/statemachine/memstore"
)

// These tests drive the session with a real IMAP client, emersion's go-imap
// v2, over loopback TCP. The connection handling below is a small temporary
// adapter for this file only (one goroutine per connection plus one for
// wake-ups); the real event loop lives elsewhere. Every connection carries a
// hard deadline, so a server that stops answering fails the test within
// seconds instead of hanging it.

// icConnLimit bounds the life of every test connection, client and server side.
const icConnLimit = 10 * time.Second

// icWaitLimit bounds waits for unilateral data.
const icWaitLimit = 5 * time.Second

const icCapAuthPlain imap.Cap = "AUTH=PLAIN"

// ---------------------------------------------------------------------------
// Loopback adapter (temporary; test only)

type icServer struct {
	t      *testing.T
	cfg    *sm.Config
	be     *memstore.Backend
	ln     net.Listener
	tlsCfg *tls.Config
	rootCA *x509.CertPool

	wg    sync.WaitGroup
	mu    sync.Mutex
	conns map[*icConn]struct{}
}

// icConn is one server-side connection. mu serialises every step of the
// session (Receive, Wake, TLSReady, Close) and the writes of their output, so
// that output reaches the client in the order it was produced.
type icConn struct {
	srv  *icServer
	raw  net.Conn
	mu   sync.Mutex
	sess *sm.Session
	conn net.Conn // raw, or the TLS connection after STARTTLS
	dead bool
	wake chan struct{}
	done chan struct{}
}

// Wake implements sm.Waker: it must not block, so it only signals the
// connection's wake goroutine.
func (c *icConn) Wake() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

func icNow() int64 { return time.Now().Unix() }

// newICServer starts a server for alice/secret and bob/hunter2. plaintext
// sets AllowPlaintextAuth; STARTTLS is always available.
func newICServer(t *testing.T, plaintext bool) *icServer {
	t.Helper()
	icCheckLeaks(t)
	cfg := sm.NewConfig()
	cfg.AllowPlaintextAuth = plaintext
	cfg.TLSAvailable = true
	cfg.Init()
	be := memstore.New()
	be.AddUser("alice", "secret")
	be.AddUser("bob", "hunter2")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	caCert, cert := icSelfSignedCert(t)
	pool := x509.NewCertPool()
	pool.AddCert(caCert)
	s := &icServer{
		t: t, cfg: cfg, be: be, ln: ln, rootCA: pool,
		tlsCfg: &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
		conns:  map[*icConn]struct{}{},
	}
	s.wg.Add(1)
	go s.accept()
	t.Cleanup(s.close)
	return s
}

func (s *icServer) accept() {
	defer s.wg.Done()
	for {
		raw, err := s.ln.Accept()
		if err != nil {
			return
		}
		raw.SetDeadline(time.Now().Add(icConnLimit))
		c := &icConn{srv: s, raw: raw, conn: raw, wake: make(chan struct{}, 1), done: make(chan struct{})}
		c.sess = sm.NewSession(s.cfg, s.be, c, false)
		s.mu.Lock()
		s.conns[c] = struct{}{}
		s.mu.Unlock()
		s.wg.Add(2)
		go c.serve()
		go c.wakeLoop()
	}
}

func (s *icServer) close() {
	s.ln.Close()
	s.mu.Lock()
	for c := range s.conns {
		c.raw.Close()
	}
	s.mu.Unlock()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(icWaitLimit):
		s.t.Errorf("server goroutines did not stop within %v", icWaitLimit)
	}
}

func (c *icConn) write(out []byte) error {
	if len(out) == 0 {
		return nil
	}
	_, err := c.conn.Write(out)
	return err
}

func (c *icConn) serve() {
	defer c.srv.wg.Done()
	defer c.shutdown()
	c.mu.Lock()
	err := c.write(c.sess.Start(icNow(), nil))
	c.mu.Unlock()
	if err != nil {
		return
	}
	buf := make([]byte, 32*1024)
	for {
		c.mu.Lock()
		conn := c.conn
		c.mu.Unlock()
		n, rerr := conn.Read(buf)
		if n > 0 {
			c.mu.Lock()
			out, eff := c.sess.Receive(icNow(), buf[:n], nil)
			werr := c.write(out)
			if werr == nil && eff&sm.EffStartTLS != 0 {
				// Output ("OK Begin TLS") is written; now the handshake,
				// then TLSReady (effect.go).
				tc := tls.Server(c.raw, c.srv.tlsCfg)
				if werr = tc.Handshake(); werr == nil {
					c.sess.TLSReady()
					c.conn = tc
				}
			}
			c.mu.Unlock()
			if werr != nil || eff&sm.EffClose != 0 {
				return
			}
		}
		if rerr != nil {
			return
		}
	}
}

func (c *icConn) wakeLoop() {
	defer c.srv.wg.Done()
	for {
		select {
		case <-c.done:
			return
		case <-c.wake:
			c.mu.Lock()
			if c.dead {
				c.mu.Unlock()
				return
			}
			out, eff := c.sess.Wake(icNow(), nil)
			err := c.write(out)
			c.mu.Unlock()
			if err != nil || eff&sm.EffClose != 0 {
				c.raw.Close()
				return
			}
		}
	}
}

func (c *icConn) shutdown() {
	c.mu.Lock()
	if !c.dead {
		c.dead = true
		c.sess.Close()
		close(c.done)
	}
	c.mu.Unlock()
	c.raw.Close()
	c.srv.mu.Lock()
	delete(c.srv.conns, c)
	c.srv.mu.Unlock()
}

// icLimitConn caps every deadline the client sets at a fixed instant: the
// client sets no read deadline while waiting for a response, so without this
// a silent server would hang the test.
type icLimitConn struct {
	net.Conn
	limit time.Time
}

func (c *icLimitConn) cap(t time.Time) time.Time {
	if t.IsZero() || t.After(c.limit) {
		return c.limit
	}
	return t
}

func (c *icLimitConn) SetDeadline(t time.Time) error      { return c.Conn.SetDeadline(c.cap(t)) }
func (c *icLimitConn) SetReadDeadline(t time.Time) error  { return c.Conn.SetReadDeadline(c.cap(t)) }
func (c *icLimitConn) SetWriteDeadline(t time.Time) error { return c.Conn.SetWriteDeadline(c.cap(t)) }

func (s *icServer) rawDial(t *testing.T) net.Conn {
	t.Helper()
	raw, err := net.DialTimeout("tcp", s.ln.Addr().String(), icWaitLimit)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	lc := &icLimitConn{Conn: raw, limit: time.Now().Add(icConnLimit)}
	lc.SetDeadline(time.Time{})
	return lc
}

// dial connects a client and waits for the greeting.
func (s *icServer) dial(t *testing.T, opts *imapclient.Options) *imapclient.Client {
	t.Helper()
	if os.Getenv("IMAPCLIENT_TRACE") != "" {
		// IMAPCLIENT_TRACE=1 go test -run TestIMAPClient... prints the wire.
		o := imapclient.Options{}
		if opts != nil {
			o = *opts
		}
		tw := &icTraceWriter{name: t.Name()}
		if o.DebugWriter != nil {
			o.DebugWriter = io.MultiWriter(o.DebugWriter, tw)
		} else {
			o.DebugWriter = tw
		}
		opts = &o
	}
	c := imapclient.New(s.rawDial(t), opts)
	t.Cleanup(func() { c.Close() })
	if err := c.WaitGreeting(); err != nil {
		t.Fatalf("greeting: %v", err)
	}
	return c
}

type icTraceWriter struct{ name string }

func (w *icTraceWriter) Write(p []byte) (int, error) {
	fmt.Fprintf(os.Stderr, "%s: %q\n", w.name, p)
	return len(p), nil
}

// login dials and logs in as alice.
func (s *icServer) login(t *testing.T, opts *imapclient.Options) *imapclient.Client {
	t.Helper()
	c := s.dial(t, opts)
	if err := c.Login("alice", "secret").Wait(); err != nil {
		t.Fatalf("LOGIN alice: %v", err)
	}
	return c
}

func icSelfSignedCert(t *testing.T) (*x509.Certificate, tls.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "myriad test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert, tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}
}

// icCheckLeaks fails the test if goroutines started during it are still
// running once every other cleanup has run.
func icCheckLeaks(t *testing.T) {
	base := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(3 * time.Second)
		for runtime.NumGoroutine() > base {
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<20)
				buf = buf[:runtime.Stack(buf, true)]
				t.Errorf("goroutine leak: %d goroutines, %d before the test\n%s", runtime.NumGoroutine(), base, buf)
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}

// ---------------------------------------------------------------------------
// Helpers

// icUnilateral collects the unilateral data a client receives. The handlers
// run on the client's decoder goroutine, so they only queue.
type icUnilateral struct {
	exists   chan uint32
	expunges chan uint32
	fetches  chan *imapclient.FetchMessageBuffer
	flags    chan []imap.Flag
}

func newICUnilateral() (*icUnilateral, *imapclient.Options) {
	u := &icUnilateral{
		exists:   make(chan uint32, 64),
		expunges: make(chan uint32, 64),
		fetches:  make(chan *imapclient.FetchMessageBuffer, 64),
		flags:    make(chan []imap.Flag, 64),
	}
	return u, &imapclient.Options{UnilateralDataHandler: &imapclient.UnilateralDataHandler{
		Expunge: func(seq uint32) { u.expunges <- seq },
		Mailbox: func(d *imapclient.UnilateralDataMailbox) {
			if d.NumMessages != nil {
				u.exists <- *d.NumMessages
			}
			if d.Flags != nil {
				u.flags <- d.Flags
			}
		},
		Fetch: func(msg *imapclient.FetchMessageData) {
			buf, err := msg.Collect()
			if err == nil {
				u.fetches <- buf
			}
		},
	}}
}

// icWaitState returns the client's state once it is want, or whatever it is
// after a second: go-imap completes a command before it updates its state.
func icWaitState(c *imapclient.Client, want imap.ConnState) imap.ConnState {
	deadline := time.Now().Add(time.Second)
	for {
		st := c.State()
		if st == want || time.Now().After(deadline) {
			return st
		}
		time.Sleep(time.Millisecond)
	}
}

func icRecv[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(icWaitLimit):
		t.Fatalf("no %s within %v", what, icWaitLimit)
	}
	var zero T
	return zero
}

// icDrain returns what is queued on ch right now.
func icDrain[T any](ch <-chan T) []T {
	var out []T
	for {
		select {
		case v := <-ch:
			out = append(out, v)
		default:
			return out
		}
	}
}

// icWantErr checks that err is a tagged NO/BAD with the given code
// (code "" accepts any).
func icWantErr(t *testing.T, what string, err error, typ imap.StatusResponseType, code imap.ResponseCode) {
	t.Helper()
	var ie *imap.Error
	if !errors.As(err, &ie) {
		t.Errorf("%s: got %v, want %s [%s]", what, err, typ, code)
		return
	}
	if ie.Type != typ || (code != "" && ie.Code != code) {
		t.Errorf("%s: got %s [%s] %q, want %s [%s]", what, ie.Type, ie.Code, ie.Text, typ, code)
	}
}

// icFlagKey is a comparable form of a flag list. \Recent is left out: the
// session that selects first holds it for every message these tests append
// (recent.txt and TestRecentProperty check it).
func icFlagKey(fs []imap.Flag) string {
	s := make([]string, 0, len(fs))
	for _, f := range fs {
		if strings.EqualFold(string(f), `\Recent`) {
			continue
		}
		s = append(s, strings.ToLower(string(f)))
	}
	sort.Strings(s)
	return strings.Join(s, " ")
}

func icWantFlags(t *testing.T, what string, got []imap.Flag, want ...imap.Flag) {
	t.Helper()
	if icFlagKey(got) != icFlagKey(want) {
		t.Errorf("%s: flags %v, want %v", what, got, want)
	}
}

func icAttrKey(as []imap.MailboxAttr) string {
	s := make([]string, len(as))
	for i, a := range as {
		s[i] = strings.ToLower(string(a))
	}
	sort.Strings(s)
	return strings.Join(s, " ")
}

func icHasCap(caps imap.CapSet, c imap.Cap) bool {
	for k := range caps {
		if strings.EqualFold(string(k), string(c)) {
			return true
		}
	}
	return false
}

// icCRLF turns a message written with \n into RFC 5322 CRLF text.
func icCRLF(s string) string { return strings.ReplaceAll(s, "\n", "\r\n") }

// icMsg is a message the tests append, with what a correct server must
// say about it.
type icMsg struct {
	raw   string
	flags []imap.Flag
	date  time.Time
}

var (
	icMsg1 = icCRLF(`From: Alice Example <alice@example.org>
To: Bob <bob@example.net>
Cc: carol@example.com
Subject: Hello world
Date: Mon, 02 Nov 2026 12:00:00 +0000
Message-ID: <msg1@example.org>
Content-Type: text/plain; charset=us-ascii

Hello Bob,
this is the first message.
`)
	icMsg1Body = icCRLF("Hello Bob,\nthis is the first message.\n")

	icMsg2Part1Hdr = icCRLF("Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: quoted-printable\n\n")
	icMsg2Part1    = icCRLF("See the attached report.\n")
	icMsg2Part2Hdr = icCRLF("Content-Type: application/octet-stream; name=\"r.bin\"\nContent-Transfer-Encoding: base64\nContent-Disposition: attachment; filename=\"r.bin\"\n\n")
	icMsg2Part2    = icCRLF("AAECAw==\n")
	icMsg2Text     = icCRLF("This is a multi-part message in MIME format.\n--b1\n") + icMsg2Part1Hdr + icMsg2Part1 +
		icCRLF("\n--b1\n") + icMsg2Part2Hdr + icMsg2Part2 + icCRLF("\n--b1--\n")
	icMsg2Header = icCRLF(`From: Bob <bob@example.net>
To: Alice Example <alice@example.org>
Subject: Quarterly report
Date: Tue, 03 Nov 2026 12:30:00 +0100
Message-ID: <msg2@example.net>
In-Reply-To: <msg1@example.org>
Reply-To: Reports <reports@example.net>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="b1"

`)
	icMsg2 = icMsg2Header + icMsg2Text

	icMsg3Header = icCRLF(`From: Carol <carol@example.com>
To: alice@example.org
Subject: Lunch on Thursday?
Date: Thu, 05 Nov 2026 09:15:00 -0500
Message-ID: <msg3@example.com>

`)
	icMsg3Body = icCRLF("Are you free for lunch on Thursday?\nLet me know.\n")
	icMsg3     = icMsg3Header + icMsg3Body

	// Internal dates, chosen at midday UTC so that their day is the same
	// in every zone the server might compare in.
	icDate1 = time.Date(2026, 11, 2, 12, 0, 0, 0, time.UTC)
	icDate2 = time.Date(2026, 11, 3, 12, 30, 0, 0, time.FixedZone("", 3600))
	icDate3 = time.Date(2026, 11, 5, 14, 15, 0, 0, time.UTC)

	icSeedMsgs = []icMsg{
		{icMsg1, []imap.Flag{imap.FlagSeen}, icDate1},
		{icMsg2, []imap.Flag{imap.FlagImportant, imap.FlagFlagged}, icDate2},
		{icMsg3, nil, icDate3},
	}
)

func icAppend(t *testing.T, c *imapclient.Client, mailbox string, m icMsg) *imap.AppendData {
	t.Helper()
	cmd := c.Append(mailbox, int64(len(m.raw)), &imap.AppendOptions{Flags: m.flags, Time: m.date})
	if _, err := cmd.Write([]byte(m.raw)); err != nil {
		t.Fatalf("APPEND write: %v", err)
	}
	if err := cmd.Close(); err != nil {
		t.Fatalf("APPEND close: %v", err)
	}
	data, err := cmd.Wait()
	if err != nil {
		t.Fatalf("APPEND %s: %v", mailbox, err)
	}
	return data
}

// icSeed appends icMsg1..icMsg3 to mailbox and checks their APPENDUID data.
func icSeed(t *testing.T, c *imapclient.Client, mailbox string) uint32 {
	t.Helper()
	var uidv uint32
	for i, m := range icSeedMsgs {
		d := icAppend(t, c, mailbox, m)
		if d.UID != imap.UID(i+1) {
			t.Errorf("APPEND #%d to %s: APPENDUID uid %d, want %d", i+1, mailbox, d.UID, i+1)
		}
		if i == 0 {
			uidv = d.UIDValidity
		} else if d.UIDValidity != uidv {
			t.Errorf("APPEND #%d: UIDVALIDITY %d changed from %d", i+1, d.UIDValidity, uidv)
		}
	}
	if uidv == 0 {
		t.Errorf("APPENDUID UIDVALIDITY is 0 (RFC 4315: nz-number)")
	}
	return uidv
}

func icSelect(t *testing.T, c *imapclient.Client, name string, readOnly bool) *imap.SelectData {
	t.Helper()
	d, err := c.Select(name, &imap.SelectOptions{ReadOnly: readOnly}).Wait()
	if err != nil {
		t.Fatalf("SELECT/EXAMINE %s: %v", name, err)
	}
	return d
}

func icFetch(t *testing.T, c *imapclient.Client, set imap.NumSet, opts *imap.FetchOptions) []*imapclient.FetchMessageBuffer {
	t.Helper()
	msgs, err := c.Fetch(set, opts).Collect()
	if err != nil {
		t.Fatalf("FETCH %v: %v", set, err)
	}
	return msgs
}

func icFetchFlags(t *testing.T, c *imapclient.Client, seq uint32) []imap.Flag {
	t.Helper()
	msgs := icFetch(t, c, imap.SeqSetNum(seq), &imap.FetchOptions{Flags: true})
	if len(msgs) != 1 {
		t.Fatalf("FETCH %d FLAGS: %d messages", seq, len(msgs))
	}
	return msgs[0].Flags
}

func icStatus(t *testing.T, c *imapclient.Client, name string) *imap.StatusData {
	t.Helper()
	d, err := c.Status(name, &imap.StatusOptions{NumMessages: true, UIDNext: true, UIDValidity: true,
		NumUnseen: true, NumDeleted: true, Size: true}).Wait()
	if err != nil {
		t.Fatalf("STATUS %s: %v", name, err)
	}
	return d
}

func icU32(p *uint32) int64 {
	if p == nil {
		return -1
	}
	return int64(*p)
}

func icListNames(l []*imap.ListData) []string {
	var s []string
	for _, d := range l {
		s = append(s, d.Mailbox)
	}
	return s
}

func icList(t *testing.T, c *imapclient.Client, ref, pat string, opts *imap.ListOptions) map[string]*imap.ListData {
	t.Helper()
	l, err := c.List(ref, pat, opts).Collect()
	if err != nil {
		t.Fatalf("LIST %q %q %+v: %v", ref, pat, opts, err)
	}
	m := map[string]*imap.ListData{}
	for _, d := range l {
		if _, dup := m[d.Mailbox]; dup {
			t.Errorf("LIST %q %q: %q listed twice", ref, pat, d.Mailbox)
		}
		if d.Delim != '/' {
			t.Errorf("LIST %q %q: %q has delimiter %q, want '/'", ref, pat, d.Mailbox, d.Delim)
		}
		m[d.Mailbox] = d
	}
	return m
}

// icWantList checks the exact set of mailboxes and their attributes.
func icWantList(t *testing.T, what string, got map[string]*imap.ListData, want map[string][]imap.MailboxAttr) {
	t.Helper()
	for name, attrs := range want {
		d, ok := got[name]
		if !ok {
			t.Errorf("%s: %q missing", what, name)
			continue
		}
		if icAttrKey(d.Attrs) != icAttrKey(attrs) {
			t.Errorf("%s: %q attributes %v, want %v", what, name, d.Attrs, attrs)
		}
	}
	for name := range got {
		if _, ok := want[name]; !ok {
			t.Errorf("%s: unexpected %q", what, name)
		}
	}
}

// ---------------------------------------------------------------------------
// Tests

// TestIMAPClientSession: greeting, CAPABILITY, NOOP, LOGIN, ID, NAMESPACE,
// ENABLE, LOGOUT.
func TestIMAPClientSession(t *testing.T) {
	s := newICServer(t, true)
	c := s.dial(t, nil)

	if st := c.State(); st != imap.ConnStateNotAuthenticated {
		t.Fatalf("state after greeting: %v", st)
	}
	// RFC 9051 §6.1.1: the capability list must include IMAP4rev2 (and
	// IMAP4rev1 for rev1 clients); AUTH=PLAIN since plaintext is allowed;
	// STARTTLS since TLS is available; never LOGINDISABLED here.
	greetCaps := c.Caps()
	for _, want := range []imap.Cap{imap.CapIMAP4rev1, imap.CapIMAP4rev2, imap.CapStartTLS, icCapAuthPlain,
		imap.CapIdle, imap.CapUIDPlus, imap.CapMove, imap.CapNamespace, imap.CapID, imap.CapEnable, imap.CapUnselect,
		imap.CapESearch, imap.CapSearchRes, imap.CapListExtended, imap.CapListStatus, imap.CapSpecialUse,
		imap.CapStatusSize, imap.CapSASLIR, imap.CapChildren} {
		if !icHasCap(greetCaps, want) {
			t.Errorf("greeting capabilities %v lack %s", greetCaps, want)
		}
	}
	if icHasCap(greetCaps, imap.CapLoginDisabled) {
		t.Errorf("greeting advertises LOGINDISABLED with plaintext auth allowed")
	}

	t.Run("CAPABILITY", func(t *testing.T) {
		caps, err := c.Capability().Wait()
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(caps, greetCaps) {
			t.Errorf("CAPABILITY %v differs from the greeting's %v", caps, greetCaps)
		}
	})
	t.Run("NOOP not authenticated", func(t *testing.T) {
		if err := c.Noop().Wait(); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("ID before login", func(t *testing.T) {
		d, err := c.ID(&imap.IDData{Name: "go-imap-test", Version: "2"}).Wait()
		if err != nil {
			t.Fatal(err)
		}
		if d == nil || d.Name != "Myriad" || d.Version != "0.1" {
			t.Errorf("ID = %+v, want name Myriad version 0.1", d)
		}
	})
	t.Run("NAMESPACE before login is BAD", func(t *testing.T) {
		_, err := c.Namespace().Wait()
		icWantErr(t, "NAMESPACE", err, imap.StatusResponseTypeBad, "")
	})
	t.Run("LOGIN bad password", func(t *testing.T) {
		err := c.Login("alice", "wrong").Wait()
		icWantErr(t, "LOGIN alice wrong", err, imap.StatusResponseTypeNo, imap.ResponseCodeAuthenticationFailed)
		err = c.Login("nobody", "secret").Wait()
		icWantErr(t, "LOGIN nobody", err, imap.StatusResponseTypeNo, imap.ResponseCodeAuthenticationFailed)
		if st := c.State(); st != imap.ConnStateNotAuthenticated {
			t.Errorf("state after failed LOGIN: %v", st)
		}
	})
	t.Run("LOGIN", func(t *testing.T) {
		if err := c.Login("alice", "secret").Wait(); err != nil {
			t.Fatal(err)
		}
		if st := icWaitState(c, imap.ConnStateAuthenticated); st != imap.ConnStateAuthenticated {
			t.Errorf("state after LOGIN: %v", st)
		}
		caps := c.Caps()
		// RFC 9051 §6.2.3: the OK may carry the new capabilities; once
		// authenticated no AUTH= mechanism or STARTTLS applies.
		for _, bad := range []imap.Cap{icCapAuthPlain, imap.CapStartTLS, imap.CapLoginDisabled} {
			if icHasCap(caps, bad) {
				t.Errorf("capabilities after LOGIN %v still include %s", caps, bad)
			}
		}
		if !icHasCap(caps, imap.CapIMAP4rev2) || !icHasCap(caps, imap.CapIdle) {
			t.Errorf("capabilities after LOGIN %v lack IMAP4rev2/IDLE", caps)
		}
		err := c.Login("alice", "secret").Wait()
		icWantErr(t, "second LOGIN", err, imap.StatusResponseTypeBad, "")
	})
	t.Run("NOOP authenticated", func(t *testing.T) {
		if err := c.Noop().Wait(); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("NAMESPACE", func(t *testing.T) {
		d, err := c.Namespace().Wait()
		if err != nil {
			t.Fatal(err)
		}
		want := &imap.NamespaceData{Personal: []imap.NamespaceDescriptor{{Prefix: "", Delim: '/'}}}
		if !reflect.DeepEqual(d, want) {
			t.Errorf("NAMESPACE = %+v, want %+v", d, want)
		}
	})
	t.Run("ID after login", func(t *testing.T) {
		d, err := c.ID(nil).Wait()
		if err != nil {
			t.Fatal(err)
		}
		if d == nil || d.Name != "Myriad" {
			t.Errorf("ID = %+v", d)
		}
	})
	t.Run("ENABLE", func(t *testing.T) {
		// RFC 5161 §3.1: ENABLED lists only what was enabled by this
		// command; UTF8=ACCEPT is not advertised so it is not enabled.
		d, err := c.Enable(imap.CapIMAP4rev2, imap.CapUTF8Accept).Wait()
		if err != nil {
			t.Fatal(err)
		}
		if !icHasCap(d.Caps, imap.CapIMAP4rev2) || icHasCap(d.Caps, imap.CapUTF8Accept) || len(d.Caps) != 1 {
			t.Errorf("ENABLED %v, want exactly IMAP4rev2", d.Caps)
		}
		// Enabling again is not reported again.
		d, err = c.Enable(imap.CapIMAP4rev2).Wait()
		if err != nil {
			t.Fatal(err)
		}
		if len(d.Caps) != 0 {
			t.Errorf("second ENABLE IMAP4rev2: ENABLED %v, want empty", d.Caps)
		}
		// RFC 9051 §6.3.2: with IMAP4rev2 a SELECT includes a LIST
		// response for the mailbox and no RECENT.
		sd := icSelect(t, c, "INBOX", false)
		if sd.List == nil || sd.List.Mailbox != "INBOX" || sd.List.Delim != '/' {
			t.Errorf("SELECT after ENABLE IMAP4rev2: LIST data %+v, want INBOX with '/'", sd.List)
		}
		if sd.NumMessages != 0 || sd.UIDNext != 1 || sd.UIDValidity == 0 {
			t.Errorf("SELECT empty INBOX: %+v", sd)
		}
		// ESEARCH is the only SEARCH response in rev2; the client accepts it.
		r, err := c.Search(&imap.SearchCriteria{}, nil).Wait()
		if err != nil {
			t.Fatal(err)
		}
		if n := r.AllSeqNums(); len(n) != 0 {
			t.Errorf("SEARCH ALL on empty INBOX: %v", n)
		}
	})
	t.Run("LOGOUT", func(t *testing.T) {
		if err := c.Logout().Wait(); err != nil {
			t.Fatal(err)
		}
		// RFC 9051 §6.1.3: BYE, tagged OK, then the server closes.
		select {
		case <-c.Closed():
		case <-time.After(icWaitLimit):
			t.Fatalf("connection still open %v after LOGOUT", icWaitLimit)
		}
	})
}

// TestIMAPClientAuthenticate: AUTHENTICATE PLAIN (RFC 4616) with SASL-IR.
func TestIMAPClientAuthenticate(t *testing.T) {
	s := newICServer(t, true)

	t.Run("ok", func(t *testing.T) {
		c := s.dial(t, nil)
		if err := c.Authenticate(sasl.NewPlainClient("", "alice", "secret")); err != nil {
			t.Fatal(err)
		}
		if st := icWaitState(c, imap.ConnStateAuthenticated); st != imap.ConnStateAuthenticated {
			t.Errorf("state after AUTHENTICATE: %v", st)
		}
		if _, err := c.Select("INBOX", nil).Wait(); err != nil {
			t.Errorf("SELECT after AUTHENTICATE: %v", err)
		}
	})
	t.Run("same authzid", func(t *testing.T) {
		c := s.dial(t, nil)
		if err := c.Authenticate(sasl.NewPlainClient("bob", "bob", "hunter2")); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("bad password", func(t *testing.T) {
		c := s.dial(t, nil)
		err := c.Authenticate(sasl.NewPlainClient("", "alice", "nope"))
		icWantErr(t, "AUTHENTICATE bad password", err, imap.StatusResponseTypeNo, imap.ResponseCodeAuthenticationFailed)
		// The connection stays usable.
		if err := c.Login("alice", "secret").Wait(); err != nil {
			t.Errorf("LOGIN after failed AUTHENTICATE: %v", err)
		}
	})
	t.Run("other authzid", func(t *testing.T) {
		c := s.dial(t, nil)
		err := c.Authenticate(sasl.NewPlainClient("bob", "alice", "secret"))
		icWantErr(t, "AUTHENTICATE as bob", err, imap.StatusResponseTypeNo, imap.ResponseCodeAuthorizationFailed)
	})
	t.Run("unknown mechanism", func(t *testing.T) {
		c := s.dial(t, nil)
		err := c.Authenticate(sasl.NewAnonymousClient("trace"))
		icWantErr(t, "AUTHENTICATE ANONYMOUS", err, imap.StatusResponseTypeNo, "")
	})
}

// icBuffer collects the client's debug output.
type icBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *icBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *icBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// TestIMAPClientStartTLS: plaintext login refused (LOGINDISABLED), STARTTLS,
// then LOGIN and AUTHENTICATE work (RFC 9051 §6.2.1, §6.2.3).
func TestIMAPClientStartTLS(t *testing.T) {
	s := newICServer(t, false)
	clientTLS := &tls.Config{RootCAs: s.rootCA, ServerName: "127.0.0.1"}

	t.Run("plaintext refused", func(t *testing.T) {
		c := s.dial(t, nil)
		caps := c.Caps()
		if !icHasCap(caps, imap.CapLoginDisabled) || !icHasCap(caps, imap.CapStartTLS) {
			t.Errorf("capabilities before TLS %v: want LOGINDISABLED and STARTTLS", caps)
		}
		if icHasCap(caps, icCapAuthPlain) {
			t.Errorf("capabilities before TLS %v advertise AUTH=PLAIN", caps)
		}
		err := c.Login("alice", "secret").Wait()
		icWantErr(t, "LOGIN before TLS", err, imap.StatusResponseTypeNo, imap.ResponseCodePrivacyRequired)
		err = c.Authenticate(sasl.NewPlainClient("", "alice", "secret"))
		icWantErr(t, "AUTHENTICATE before TLS", err, imap.StatusResponseTypeNo, imap.ResponseCodePrivacyRequired)
		if st := c.State(); st != imap.ConnStateNotAuthenticated {
			t.Errorf("state: %v", st)
		}
	})
	t.Run("LOGIN after STARTTLS", func(t *testing.T) {
		var wire icBuffer
		c, err := imapclient.NewStartTLS(s.rawDial(t), &imapclient.Options{TLSConfig: clientTLS, DebugWriter: &wire})
		if err != nil {
			t.Fatalf("STARTTLS: %v", err)
		}
		t.Cleanup(func() { c.Close() })
		if !strings.Contains(wire.String(), "LOGINDISABLED") {
			t.Errorf("greeting before STARTTLS did not advertise LOGINDISABLED:\n%s", wire.String())
		}
		// RFC 9051 §6.2.1: the client discards cached capabilities; the
		// new list allows PLAIN and no longer offers STARTTLS.
		caps, err := c.Capability().Wait()
		if err != nil {
			t.Fatal(err)
		}
		if icHasCap(caps, imap.CapLoginDisabled) || icHasCap(caps, imap.CapStartTLS) || !icHasCap(caps, icCapAuthPlain) {
			t.Errorf("capabilities after STARTTLS: %v", caps)
		}
		if err := c.Login("alice", "secret").Wait(); err != nil {
			t.Fatalf("LOGIN after STARTTLS: %v", err)
		}
		if st := icWaitState(c, imap.ConnStateAuthenticated); st != imap.ConnStateAuthenticated {
			t.Errorf("state: %v", st)
		}
		if _, err := c.Select("INBOX", nil).Wait(); err != nil {
			t.Errorf("SELECT over TLS: %v", err)
		}
		if err := c.Logout().Wait(); err != nil {
			t.Errorf("LOGOUT over TLS: %v", err)
		}
	})
	t.Run("AUTHENTICATE after STARTTLS", func(t *testing.T) {
		c, err := imapclient.NewStartTLS(s.rawDial(t), &imapclient.Options{TLSConfig: clientTLS})
		if err != nil {
			t.Fatalf("STARTTLS: %v", err)
		}
		t.Cleanup(func() { c.Close() })
		if err := c.Authenticate(sasl.NewPlainClient("", "bob", "hunter2")); err != nil {
			t.Fatalf("AUTHENTICATE after STARTTLS: %v", err)
		}
		if err := c.Noop().Wait(); err != nil {
			t.Error(err)
		}
	})
}

// TestIMAPClientMailboxes: CREATE, DELETE, RENAME (and RENAME INBOX),
// SUBSCRIBE, UNSUBSCRIBE, LIST with LIST-EXTENDED options, STATUS.
func TestIMAPClientMailboxes(t *testing.T) {
	s := newICServer(t, true)
	var wire icBuffer
	c := s.login(t, &imapclient.Options{DebugWriter: &wire})

	const (
		hasKids = imap.MailboxAttrHasChildren
		noKids  = imap.MailboxAttrHasNoChildren
	)
	a := func(as ...imap.MailboxAttr) []imap.MailboxAttr { return as }

	t.Run("LIST initial", func(t *testing.T) {
		// memstore's AddUser makes INBOX and the RFC 6154 mailboxes.
		icWantList(t, `LIST "" "*"`, icList(t, c, "", "*", nil), map[string][]imap.MailboxAttr{
			"INBOX":   a(noKids),
			"Archive": a(noKids, imap.MailboxAttrArchive),
			"Drafts":  a(noKids, imap.MailboxAttrDrafts),
			"Junk":    a(noKids, imap.MailboxAttrJunk),
			"Sent":    a(noKids, imap.MailboxAttrSent),
			"Trash":   a(noKids, imap.MailboxAttrTrash),
		})
		// RFC 9051 §6.3.9: an empty pattern returns the delimiter and
		// root with \Noselect.
		l, err := c.List("", "", nil).Collect()
		if err != nil {
			t.Fatal(err)
		}
		if len(l) != 1 || l[0].Mailbox != "" || l[0].Delim != '/' || icAttrKey(l[0].Attrs) != icAttrKey(a(imap.MailboxAttrNoSelect)) {
			t.Errorf(`LIST "" "": %+v`, l)
		}
		// "inbox" matches INBOX case-insensitively (RFC 9051 §5.1).
		icWantList(t, `LIST "" "inbox"`, icList(t, c, "", "inbox", nil), map[string][]imap.MailboxAttr{"INBOX": a(noKids)})
	})

	t.Run("CREATE", func(t *testing.T) {
		if err := c.Create("Projects/2026/Q4", nil).Wait(); err != nil {
			t.Fatal(err)
		}
		// RFC 9051 §6.3.4: superiors are created as needed.
		icWantList(t, `LIST "" "Projects*"`, icList(t, c, "", "Projects*", nil), map[string][]imap.MailboxAttr{
			"Projects":         a(hasKids),
			"Projects/2026":    a(hasKids),
			"Projects/2026/Q4": a(noKids),
		})
		// "%" does not cross the hierarchy delimiter.
		got := icList(t, c, "", "%", nil)
		if !slices.Equal(icSortedKeys(got), []string{"Archive", "Drafts", "INBOX", "Junk", "Projects", "Sent", "Trash"}) {
			t.Errorf(`LIST "" "%%": %v`, icSortedKeys(got))
		}
		icWantList(t, `LIST "Projects/" "%"`, icList(t, c, "Projects/", "%", nil), map[string][]imap.MailboxAttr{
			"Projects/2026": a(hasKids),
		})
		// A trailing delimiter only declares the intent to create
		// inferiors; the name created has none (RFC 9051 §6.3.4).
		if err := c.Create("Trailing/", nil).Wait(); err != nil {
			t.Fatal(err)
		}
		icWantList(t, `LIST "" "Trailing*"`, icList(t, c, "", "Trailing*", nil), map[string][]imap.MailboxAttr{"Trailing": a(noKids)})
		icWantErr(t, "CREATE existing", c.Create("Projects", nil).Wait(), imap.StatusResponseTypeNo, imap.ResponseCodeAlreadyExists)
		icWantErr(t, "CREATE INBOX", c.Create("INBOX", nil).Wait(), imap.StatusResponseTypeNo, imap.ResponseCodeAlreadyExists)
		icWantErr(t, "CREATE inbox", c.Create("inbox", nil).Wait(), imap.StatusResponseTypeNo, imap.ResponseCodeAlreadyExists)
	})

	t.Run("CREATE non-ASCII", func(t *testing.T) {
		// go-imap sends UTF-8 names whenever the server advertises
		// IMAP4rev2, so this client ENABLEs IMAP4rev2 first, as RFC 9051
		// requires before rev2 syntax is used (UTF-8 mailbox names,
		// RFC 9051 §5.1).
		c2 := s.login(t, nil)
		if _, err := c2.Enable(imap.CapIMAP4rev2).Wait(); err != nil {
			t.Fatal(err)
		}
		if err := c2.Create("Réunions/Été", nil).Wait(); err != nil {
			t.Fatalf("CREATE Réunions/Été after ENABLE IMAP4rev2: %v", err)
		}
		want := map[string][]imap.MailboxAttr{"Réunions": a(hasKids), "Réunions/Été": a(noKids)}
		icWantList(t, `LIST "" "R*" (IMAP4rev2)`, icList(t, c2, "", "R*", nil), want)
		if _, err := c2.Select("Réunions/Été", nil).Wait(); err != nil {
			t.Errorf("SELECT Réunions/Été: %v", err)
		}
		// The IMAP4rev1 session gets the names in modified UTF-7
		// (RFC 3501 §5.1.3); the client decodes them.
		icWantList(t, `LIST "" "R*" (IMAP4rev1)`, icList(t, c, "", "R*", nil), want)
		if !strings.Contains(wire.String(), `R&AOk-unions/&AMk-t&AOk-`) {
			t.Errorf("IMAP4rev1 LIST did not send modified UTF-7 R&AOk-unions/&AMk-t&AOk-")
		}
	})

	t.Run("DELETE", func(t *testing.T) {
		if err := c.Delete("Trailing").Wait(); err != nil {
			t.Fatal(err)
		}
		if got := icList(t, c, "", "Trailing*", nil); len(got) != 0 {
			t.Errorf("Trailing still listed after DELETE: %v", icSortedKeys(got))
		}
		icWantErr(t, "DELETE missing", c.Delete("Trailing").Wait(), imap.StatusResponseTypeNo, imap.ResponseCodeNonExistent)
		icWantErr(t, "DELETE INBOX", c.Delete("INBOX").Wait(), imap.StatusResponseTypeNo, "")
		// RFC 9051 §6.3.5: a mailbox with inferiors loses its messages
		// and becomes \Noselect; deleting it again is an error.
		icAppend(t, c, "Projects/2026", icMsg{raw: icMsg3, date: icDate3})
		if err := c.Delete("Projects/2026").Wait(); err != nil {
			t.Fatal(err)
		}
		icWantList(t, `LIST "" "Projects/*"`, icList(t, c, "", "Projects/*", nil), map[string][]imap.MailboxAttr{
			"Projects/2026":    a(imap.MailboxAttrNoSelect, hasKids),
			"Projects/2026/Q4": a(noKids),
		})
		icWantErr(t, "DELETE \\Noselect with inferiors", c.Delete("Projects/2026").Wait(), imap.StatusResponseTypeNo, "")
		_, err := c.Select("Projects/2026", nil).Wait()
		icWantErr(t, "SELECT \\Noselect", err, imap.StatusResponseTypeNo, "")
		_, err = c.Status("Projects/2026", &imap.StatusOptions{NumMessages: true}).Wait()
		icWantErr(t, "STATUS \\Noselect", err, imap.StatusResponseTypeNo, "")
		// Creating it again makes it selectable and empty.
		if err := c.Create("Projects/2026", nil).Wait(); err != nil {
			t.Fatalf("CREATE over \\Noselect: %v", err)
		}
		if st := icStatus(t, c, "Projects/2026"); icU32(st.NumMessages) != 0 {
			t.Errorf("recreated Projects/2026 has %d messages", icU32(st.NumMessages))
		}
	})

	t.Run("RENAME", func(t *testing.T) {
		if err := c.Rename("Projects", "Work", nil).Wait(); err != nil {
			t.Fatal(err)
		}
		// RFC 9051 §6.3.6: inferiors are renamed too.
		icWantList(t, `LIST "" "Work*"`, icList(t, c, "", "Work*", nil), map[string][]imap.MailboxAttr{
			"Work":         a(hasKids),
			"Work/2026":    a(hasKids),
			"Work/2026/Q4": a(noKids),
		})
		if got := icList(t, c, "", "Projects*", nil); len(got) != 0 {
			t.Errorf("old names still listed: %v", icSortedKeys(got))
		}
		icWantErr(t, "RENAME onto existing", c.Rename("Work", "Sent", nil).Wait(), imap.StatusResponseTypeNo, imap.ResponseCodeAlreadyExists)
		icWantErr(t, "RENAME missing", c.Rename("Nope", "Nope2", nil).Wait(), imap.StatusResponseTypeNo, imap.ResponseCodeNonExistent)
		// Renaming to a new hierarchy creates the superiors.
		if err := c.Rename("Work/2026/Q4", "Old/Q4", nil).Wait(); err != nil {
			t.Fatal(err)
		}
		icWantList(t, `LIST "" "Old*"`, icList(t, c, "", "Old*", nil), map[string][]imap.MailboxAttr{
			"Old":    a(hasKids),
			"Old/Q4": a(noKids),
		})
	})

	t.Run("RENAME INBOX", func(t *testing.T) {
		icSeed(t, c, "INBOX")
		before := icStatus(t, c, "INBOX")
		if err := c.Rename("INBOX", "Old-Inbox", nil).Wait(); err != nil {
			t.Fatal(err)
		}
		// RFC 9051 §6.3.6: all messages move to the new mailbox and INBOX
		// stays, empty; UIDs are never reused, so UIDNEXT does not drop.
		in := icStatus(t, c, "INBOX")
		if icU32(in.NumMessages) != 0 || in.UIDValidity != before.UIDValidity || in.UIDNext < before.UIDNext {
			t.Errorf("INBOX after RENAME INBOX: messages %d uidvalidity %d uidnext %d; before uidvalidity %d uidnext %d",
				icU32(in.NumMessages), in.UIDValidity, in.UIDNext, before.UIDValidity, before.UIDNext)
		}
		old := icStatus(t, c, "Old-Inbox")
		if icU32(old.NumMessages) != 3 || icU32(old.NumUnseen) != 2 || old.Size == nil || *old.Size != *before.Size {
			t.Errorf("Old-Inbox: messages %d unseen %d size %v; want 3, 2, %d", icU32(old.NumMessages), icU32(old.NumUnseen), old.Size, *before.Size)
		}
		sd := icSelect(t, c, "Old-Inbox", true)
		msgs := icFetch(t, c, imap.SeqSetNum(1, 2, 3), &imap.FetchOptions{UID: true, Flags: true, RFC822Size: true})
		if sd.NumMessages != 3 || len(msgs) != 3 {
			t.Fatalf("Old-Inbox: %d messages, fetched %d", sd.NumMessages, len(msgs))
		}
		for i, m := range msgs {
			icWantFlags(t, fmt.Sprintf("Old-Inbox message %d", i+1), m.Flags, icSeedMsgs[i].flags...)
			if m.RFC822Size != int64(len(icSeedMsgs[i].raw)) {
				t.Errorf("Old-Inbox message %d: size %d, want %d", i+1, m.RFC822Size, len(icSeedMsgs[i].raw))
			}
		}
		if err := c.Unselect().Wait(); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("SUBSCRIBE UNSUBSCRIBE", func(t *testing.T) {
		if err := c.Subscribe("Work/2026").Wait(); err != nil {
			t.Fatal(err)
		}
		if err := c.Unsubscribe("Drafts").Wait(); err != nil {
			t.Fatal(err)
		}
		if err := c.Create("Gone", nil).Wait(); err != nil {
			t.Fatal(err)
		}
		if err := c.Subscribe("Gone").Wait(); err != nil {
			t.Fatal(err)
		}
		if err := c.Delete("Gone").Wait(); err != nil {
			t.Fatal(err)
		}
		sub := imap.MailboxAttrSubscribed
		// RFC 5258 §3.1: SUBSCRIBED selects subscribed names (existing
		// or not) and implies the SUBSCRIBED return option.
		got := icList(t, c, "", "*", &imap.ListOptions{SelectSubscribed: true})
		icWantList(t, "LIST (SUBSCRIBED)", got, map[string][]imap.MailboxAttr{
			"INBOX":     a(sub, noKids),
			"Archive":   a(sub, noKids, imap.MailboxAttrArchive),
			"Junk":      a(sub, noKids, imap.MailboxAttrJunk),
			"Sent":      a(sub, noKids, imap.MailboxAttrSent),
			"Trash":     a(sub, noKids, imap.MailboxAttrTrash),
			"Work/2026": a(sub, noKids),
			"Gone":      a(sub, imap.MailboxAttrNonExistent),
		})
		// RFC 5258 §3.5: with RECURSIVEMATCH, a parent that is not
		// subscribed but has a subscribed child is returned with
		// CHILDINFO ("SUBSCRIBED") and without \Subscribed.
		got = icList(t, c, "", "%", &imap.ListOptions{SelectSubscribed: true, SelectRecursiveMatch: true})
		w := got["Work"]
		if w == nil {
			t.Errorf("LIST (SUBSCRIBED RECURSIVEMATCH) \"\" %%: Work missing (got %v)", icSortedKeys(got))
		} else {
			if w.ChildInfo == nil || !w.ChildInfo.Subscribed {
				t.Errorf("Work: CHILDINFO %+v, want SUBSCRIBED", w.ChildInfo)
			}
			if slices.Contains(w.Attrs, sub) {
				t.Errorf("Work: attributes %v include \\Subscribed", w.Attrs)
			}
		}
		if _, ok := got["Work/2026"]; ok {
			t.Errorf(`"%%" matched Work/2026`)
		}
		if _, ok := got["Drafts"]; ok {
			t.Errorf("unsubscribed Drafts listed")
		}
		// Plain LIST RETURN (SUBSCRIBED) marks subscribed names only.
		got = icList(t, c, "", "*", &imap.ListOptions{ReturnSubscribed: true})
		if d := got["Drafts"]; d == nil || slices.Contains(d.Attrs, sub) {
			t.Errorf("LIST RETURN (SUBSCRIBED): Drafts %+v", d)
		}
		if d := got["Work/2026"]; d == nil || !slices.Contains(d.Attrs, sub) {
			t.Errorf("LIST RETURN (SUBSCRIBED): Work/2026 %+v", d)
		}
		if _, ok := got["Gone"]; ok {
			t.Errorf("LIST without SUBSCRIBED lists the deleted mailbox Gone")
		}
		if err := c.Unsubscribe("Gone").Wait(); err != nil {
			t.Fatal(err)
		}
		if _, ok := icList(t, c, "", "*", &imap.ListOptions{SelectSubscribed: true})["Gone"]; ok {
			t.Errorf("Gone still subscribed after UNSUBSCRIBE")
		}
	})

	t.Run("LIST RETURN CHILDREN", func(t *testing.T) {
		got := icList(t, c, "", "Work*", &imap.ListOptions{ReturnChildren: true})
		icWantList(t, "LIST RETURN (CHILDREN)", got, map[string][]imap.MailboxAttr{
			"Work":      a(hasKids),
			"Work/2026": a(noKids),
		})
	})

	t.Run("LIST SPECIAL-USE", func(t *testing.T) {
		got := icList(t, c, "", "*", &imap.ListOptions{SelectSpecialUse: true, ReturnSpecialUse: true})
		icWantList(t, "LIST (SPECIAL-USE)", got, map[string][]imap.MailboxAttr{
			"Archive": a(noKids, imap.MailboxAttrArchive),
			"Drafts":  a(noKids, imap.MailboxAttrDrafts),
			"Junk":    a(noKids, imap.MailboxAttrJunk),
			"Sent":    a(noKids, imap.MailboxAttrSent),
			"Trash":   a(noKids, imap.MailboxAttrTrash),
		})
	})

	t.Run("LIST RETURN STATUS", func(t *testing.T) {
		l, err := c.List("", "*", &imap.ListOptions{ReturnStatus: &imap.StatusOptions{
			NumMessages: true, UIDNext: true, NumUnseen: true, Size: true}}).Collect()
		if err != nil {
			t.Fatal(err)
		}
		byName := map[string]*imap.ListData{}
		for _, d := range l {
			byName[d.Mailbox] = d
		}
		old := byName["Old-Inbox"]
		if old == nil || old.Status == nil {
			t.Fatalf("LIST RETURN (STATUS): Old-Inbox %+v (names %v)", old, icListNames(l))
		}
		size := int64(len(icMsg1) + len(icMsg2) + len(icMsg3))
		if icU32(old.Status.NumMessages) != 3 || icU32(old.Status.NumUnseen) != 2 || old.Status.UIDNext != 4 ||
			old.Status.Size == nil || *old.Status.Size != size {
			t.Errorf("Old-Inbox STATUS %+v, want 3 messages, 2 unseen, uidnext 4, size %d", old.Status, size)
		}
		for _, name := range []string{"INBOX", "Sent", "Work/2026"} {
			d := byName[name]
			if d == nil || d.Status == nil || icU32(d.Status.NumMessages) != 0 {
				t.Errorf("LIST RETURN (STATUS): %s %+v", name, d)
			}
		}
	})

	t.Run("STATUS", func(t *testing.T) {
		icSeed(t, c, "Sent")
		if err := c.Store(imap.SeqSetNum(1), &imap.StoreFlags{}, nil).Close(); err == nil {
			t.Errorf("STORE without a selected mailbox succeeded")
		}
		icSelect(t, c, "Sent", false)
		if err := c.Store(imap.SeqSetNum(1, 3), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true,
			Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close(); err != nil {
			t.Fatal(err)
		}
		uidv := icSelect(t, c, "Sent", true).UIDValidity
		if err := c.Unselect().Wait(); err != nil {
			t.Fatal(err)
		}
		st, err := c.Status("Sent", &imap.StatusOptions{NumMessages: true, UIDNext: true, UIDValidity: true,
			NumUnseen: true, NumDeleted: true, Size: true}).Wait()
		if err != nil {
			t.Fatal(err)
		}
		size := int64(len(icMsg1) + len(icMsg2) + len(icMsg3))
		if st.Mailbox != "Sent" || icU32(st.NumMessages) != 3 || st.UIDNext != 4 || st.UIDValidity != uidv ||
			icU32(st.NumUnseen) != 2 || icU32(st.NumDeleted) != 2 || st.Size == nil || *st.Size != size {
			t.Errorf("STATUS Sent = %+v (size %v), want 3 messages, uidnext 4, uidvalidity %d, 2 unseen, 2 deleted, size %d",
				st, st.Size, uidv, size)
		}
		_, err = c.Status("Nope", &imap.StatusOptions{NumMessages: true}).Wait()
		icWantErr(t, "STATUS missing", err, imap.StatusResponseTypeNo, imap.ResponseCodeNonExistent)
	})

	t.Run("STATUS APPENDLIMIT", func(t *testing.T) {
		// RFC 7889 §4: a server advertising APPENDLIMIT supports the
		// APPENDLIMIT status item.
		st, err := c.Status("INBOX", &imap.StatusOptions{AppendLimit: true}).Wait()
		if err != nil {
			t.Fatalf("STATUS INBOX (APPENDLIMIT): %v", err)
		}
		if st.AppendLimit == nil || int64(*st.AppendLimit) != s.cfg.Limits.MaxLiteral {
			t.Errorf("APPENDLIMIT = %v, want %d", st.AppendLimit, s.cfg.Limits.MaxLiteral)
		}
	})
}

func icSortedKeys(m map[string]*imap.ListData) []string {
	var s []string
	for k := range m {
		s = append(s, k)
	}
	sort.Strings(s)
	return s
}

// TestIMAPClientAppendSelect: APPEND (flags, date, APPENDUID), SELECT and
// EXAMINE data, TRYCREATE.
func TestIMAPClientAppendSelect(t *testing.T) {
	s := newICServer(t, true)
	var wire icBuffer
	c := s.login(t, &imapclient.Options{DebugWriter: &wire})

	uidv := icSeed(t, c, "INBOX")
	t.Run("TRYCREATE", func(t *testing.T) {
		cmd := c.Append("Nope", int64(len(icMsg1)), nil)
		cmd.Write([]byte(icMsg1))
		cmd.Close()
		_, err := cmd.Wait()
		icWantErr(t, "APPEND to missing mailbox", err, imap.StatusResponseTypeNo, imap.ResponseCodeTryCreate)
	})
	t.Run("APPEND without date", func(t *testing.T) {
		before := time.Now().Add(-2 * time.Second)
		d := icAppend(t, c, "Drafts", icMsg{raw: icMsg3, flags: []imap.Flag{imap.FlagDraft, "$Label1"}})
		if d.UID != 1 || d.UIDValidity == 0 || d.UIDValidity == uidv {
			t.Errorf("APPENDUID Drafts %+v (INBOX uidvalidity %d)", d, uidv)
		}
		icSelect(t, c, "Drafts", true)
		msgs := icFetch(t, c, imap.SeqSetNum(1), &imap.FetchOptions{Flags: true, InternalDate: true, UID: true})
		if len(msgs) != 1 {
			t.Fatalf("FETCH: %d messages", len(msgs))
		}
		icWantFlags(t, "Drafts 1", msgs[0].Flags, imap.FlagDraft, "$Label1")
		if msgs[0].InternalDate.Before(before) || msgs[0].InternalDate.After(time.Now().Add(2*time.Second)) {
			t.Errorf("INTERNALDATE %v, want about now", msgs[0].InternalDate)
		}
		if msgs[0].UID != 1 {
			t.Errorf("UID %d", msgs[0].UID)
		}
	})
	t.Run("SELECT", func(t *testing.T) {
		d := icSelect(t, c, "INBOX", false)
		// RFC 9051 §6.3.2 / RFC 3501 §6.3.1.
		if d.NumMessages != 3 || d.UIDNext != 4 || d.UIDValidity != uidv || d.NumRecent != 0 {
			t.Errorf("SELECT INBOX %+v, want 3 messages, uidnext 4, uidvalidity %d", d, uidv)
		}
		// IMAP4rev1 (RFC 3501 §6.3.1): OK [UNSEEN n] names the first
		// unseen message. go-imap does not parse it, so read the wire.
		if !strings.Contains(wire.String(), "* OK [UNSEEN 2]") {
			t.Errorf("SELECT INBOX: no \"* OK [UNSEEN 2]\" sent")
		}
		icWantFlags(t, "FLAGS", d.Flags, imap.FlagAnswered, imap.FlagFlagged, imap.FlagDeleted, imap.FlagSeen, imap.FlagDraft, imap.FlagImportant)
		icWantFlags(t, "PERMANENTFLAGS", d.PermanentFlags, imap.FlagAnswered, imap.FlagFlagged, imap.FlagDeleted, imap.FlagSeen, imap.FlagDraft, imap.FlagImportant, imap.FlagWildcard)
		if st := icWaitState(c, imap.ConnStateSelected); st != imap.ConnStateSelected {
			t.Errorf("state %v", st)
		}
		if mb := c.Mailbox(); mb == nil || mb.Name != "INBOX" || mb.NumMessages != 3 {
			t.Errorf("client mailbox %+v", mb)
		}
	})
	t.Run("APPEND to selected mailbox announces EXISTS", func(t *testing.T) {
		d := icAppend(t, c, "INBOX", icMsg{raw: icMsg1, date: icDate1})
		if d.UID != 4 || d.UIDValidity != uidv {
			t.Errorf("APPENDUID %+v, want %d 4", d, uidv)
		}
		// RFC 9051 §6.3.12: the server SHOULD notify the client via an
		// untagged EXISTS; at the latest at the next command.
		if err := c.Noop().Wait(); err != nil {
			t.Fatal(err)
		}
		if mb := c.Mailbox(); mb == nil || mb.NumMessages != 4 {
			t.Errorf("client mailbox after APPEND: %+v, want 4 messages", mb)
		}
	})
	t.Run("EXAMINE", func(t *testing.T) {
		d := icSelect(t, c, "INBOX", true)
		if d.NumMessages != 4 || d.UIDNext != 5 || d.UIDValidity != uidv {
			t.Errorf("EXAMINE INBOX %+v", d)
		}
		// RFC 9051 §6.3.3: read-only: no permanent flags.
		if len(d.PermanentFlags) != 0 {
			t.Errorf("EXAMINE PERMANENTFLAGS %v, want ()", d.PermanentFlags)
		}
		err := c.Store(imap.SeqSetNum(1), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagFlagged}}, nil).Close()
		icWantErr(t, "STORE in EXAMINE", err, imap.StatusResponseTypeNo, "")
		_, err = c.Expunge().Collect()
		icWantErr(t, "EXPUNGE in EXAMINE", err, imap.StatusResponseTypeNo, "")
		// RFC 9051 §6.4.5: BODY[] does not set \Seen in a read-only mailbox.
		icFetch(t, c, imap.SeqSetNum(2), &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{{}}})
		icWantFlags(t, "message 2 after BODY[] in EXAMINE", icFetchFlags(t, c, 2), imap.FlagImportant, imap.FlagFlagged)
	})
	t.Run("APPEND large literal", func(t *testing.T) {
		// Several TCP reads long: the literal arrives in pieces.
		var b strings.Builder
		b.WriteString(icCRLF("From: Bulk <bulk@example.org>\nSubject: big\n\n"))
		for i := 0; b.Len() < 300*1024; i++ {
			fmt.Fprintf(&b, "line %06d of a long message body, padded to a reasonable width......\r\n", i)
		}
		big := b.String()
		d := icAppend(t, c, "Archive", icMsg{raw: big, flags: []imap.Flag{imap.FlagSeen}, date: icDate2})
		if d.UID != 1 {
			t.Errorf("APPENDUID %+v", d)
		}
		icSelect(t, c, "Archive", true)
		sec := &imap.FetchItemBodySection{Peek: true}
		msgs := icFetch(t, c, imap.SeqSetNum(1), &imap.FetchOptions{RFC822Size: true, BodySection: []*imap.FetchItemBodySection{sec}})
		if len(msgs) != 1 || msgs[0].RFC822Size != int64(len(big)) || string(msgs[0].FindBodySection(sec)) != big {
			t.Errorf("large message: size %d body %d bytes, want %d", msgs[0].RFC822Size, len(msgs[0].FindBodySection(sec)), len(big))
		}
	})
	t.Run("SELECT missing", func(t *testing.T) {
		_, err := c.Select("Nope", nil).Wait()
		icWantErr(t, "SELECT missing", err, imap.StatusResponseTypeNo, imap.ResponseCodeNonExistent)
		// RFC 9051 §6.3.2: a failed SELECT leaves no mailbox selected.
		if st := icWaitState(c, imap.ConnStateAuthenticated); st != imap.ConnStateAuthenticated {
			t.Errorf("state after failed SELECT: %v", st)
		}
		_, err = c.Fetch(imap.SeqSetNum(1), &imap.FetchOptions{Flags: true}).Collect()
		icWantErr(t, "FETCH after failed SELECT", err, imap.StatusResponseTypeBad, "")
	})
}

// TestIMAPClientFetch: FETCH items, sections, partial, \Seen side effects,
// UID FETCH.
func TestIMAPClientFetch(t *testing.T) {
	s := newICServer(t, true)
	c := s.login(t, nil)
	icSeed(t, c, "INBOX")
	icSelect(t, c, "INBOX", false)
	// A second client, with a handler for unmatched FETCH responses.
	u, uopts := newICUnilateral()
	uc := s.login(t, uopts)
	icSelect(t, uc, "INBOX", true)

	t.Run("attributes", func(t *testing.T) {
		msgs := icFetch(t, c, imap.SeqSetNum(1, 2, 3), &imap.FetchOptions{Flags: true, InternalDate: true,
			RFC822Size: true, UID: true})
		if len(msgs) != 3 {
			t.Fatalf("%d messages", len(msgs))
		}
		for i, m := range msgs {
			w := icSeedMsgs[i]
			if m.SeqNum != uint32(i+1) || m.UID != imap.UID(i+1) {
				t.Errorf("message %d: seq %d uid %d", i+1, m.SeqNum, m.UID)
			}
			icWantFlags(t, fmt.Sprintf("message %d", i+1), m.Flags, w.flags...)
			if !m.InternalDate.Equal(w.date) {
				t.Errorf("message %d: INTERNALDATE %v, want %v", i+1, m.InternalDate, w.date)
			}
			if m.RFC822Size != int64(len(w.raw)) {
				t.Errorf("message %d: RFC822.SIZE %d, want %d", i+1, m.RFC822Size, len(w.raw))
			}
		}
	})

	t.Run("ENVELOPE", func(t *testing.T) {
		msgs := icFetch(t, c, imap.SeqSetNum(1, 2, 3), &imap.FetchOptions{Envelope: true})
		if len(msgs) != 3 {
			t.Fatalf("%d messages", len(msgs))
		}
		alice := []imap.Address{{Name: "Alice Example", Mailbox: "alice", Host: "example.org"}}
		bob := []imap.Address{{Name: "Bob", Mailbox: "bob", Host: "example.net"}}
		carol := []imap.Address{{Name: "Carol", Mailbox: "carol", Host: "example.com"}}
		// RFC 9051 §7.5.2: sender and reply-to default to from.
		want := []*imap.Envelope{{
			Date: time.Date(2026, 11, 2, 12, 0, 0, 0, time.UTC), Subject: "Hello world",
			From: alice, Sender: alice, ReplyTo: alice, To: bob,
			Cc:        []imap.Address{{Mailbox: "carol", Host: "example.com"}},
			MessageID: "msg1@example.org",
		}, {
			Date: time.Date(2026, 11, 3, 11, 30, 0, 0, time.UTC), Subject: "Quarterly report",
			From: bob, Sender: bob, ReplyTo: []imap.Address{{Name: "Reports", Mailbox: "reports", Host: "example.net"}},
			To: alice, InReplyTo: []string{"msg1@example.org"}, MessageID: "msg2@example.net",
		}, {
			Date: time.Date(2026, 11, 5, 14, 15, 0, 0, time.UTC), Subject: "Lunch on Thursday?",
			From: carol, Sender: carol, ReplyTo: carol, To: []imap.Address{{Mailbox: "alice", Host: "example.org"}},
			MessageID: "msg3@example.com",
		}}
		for i, m := range msgs {
			got := m.Envelope
			if got == nil {
				t.Errorf("message %d: no ENVELOPE", i+1)
				continue
			}
			w := want[i]
			if !got.Date.Equal(w.Date) {
				t.Errorf("message %d: envelope date %v, want %v", i+1, got.Date, w.Date)
			}
			g := *got
			g.Date, w.Date = time.Time{}, time.Time{}
			if !reflect.DeepEqual(&g, w) {
				t.Errorf("message %d: envelope\n got %+v\nwant %+v", i+1, &g, w)
			}
		}
	})

	t.Run("BODYSTRUCTURE", func(t *testing.T) {
		msgs := icFetch(t, c, imap.SeqSetNum(1, 2, 3), &imap.FetchOptions{BodyStructure: &imap.FetchItemBodyStructure{Extended: true}})
		if len(msgs) != 3 {
			t.Fatalf("%d messages", len(msgs))
		}
		checkText := func(what string, bs imap.BodyStructure, charset, enc, body string) {
			t.Helper()
			p, ok := bs.(*imap.BodyStructureSinglePart)
			if !ok {
				t.Errorf("%s: %T, want a single part", what, bs)
				return
			}
			if !strings.EqualFold(p.Type, "text") || !strings.EqualFold(p.Subtype, "plain") ||
				!strings.EqualFold(p.Params["charset"], charset) || !strings.EqualFold(p.Encoding, enc) ||
				p.Size != uint32(len(body)) || p.Text == nil || p.Text.NumLines != int64(strings.Count(body, "\n")) {
				t.Errorf("%s: %+v text %+v, want text/plain charset=%s %s size %d lines %d",
					what, p, p.Text, charset, enc, len(body), strings.Count(body, "\n"))
			}
		}
		checkText("message 1", msgs[0].BodyStructure, "us-ascii", "7bit", icMsg1Body)
		// RFC 2045 §5.2: no Content-Type means text/plain; charset=us-ascii.
		checkText("message 3", msgs[2].BodyStructure, "us-ascii", "7bit", icMsg3Body)
		if p, ok := msgs[0].BodyStructure.(*imap.BodyStructureSinglePart); ok && p.Extended == nil {
			t.Errorf("message 1: BODYSTRUCTURE without extension data")
		}

		mp, ok := msgs[1].BodyStructure.(*imap.BodyStructureMultiPart)
		if !ok {
			t.Fatalf("message 2: %T, want multipart", msgs[1].BodyStructure)
		}
		if !strings.EqualFold(mp.Subtype, "mixed") || len(mp.Children) != 2 {
			t.Fatalf("message 2: multipart/%s with %d parts", mp.Subtype, len(mp.Children))
		}
		if mp.Extended == nil || mp.Extended.Params["boundary"] != "b1" {
			t.Errorf("message 2: extension %+v, want boundary b1", mp.Extended)
		}
		checkText("message 2 part 1", mp.Children[0], "utf-8", "quoted-printable", icMsg2Part1)
		p2, ok := mp.Children[1].(*imap.BodyStructureSinglePart)
		if !ok {
			t.Fatalf("message 2 part 2: %T", mp.Children[1])
		}
		if !strings.EqualFold(p2.Type, "application") || !strings.EqualFold(p2.Subtype, "octet-stream") ||
			p2.Params["name"] != "r.bin" || !strings.EqualFold(p2.Encoding, "base64") || p2.Size != uint32(len(icMsg2Part2)) {
			t.Errorf("message 2 part 2: %+v, want application/octet-stream name=r.bin base64 size %d", p2, len(icMsg2Part2))
		}
		if d := p2.Disposition(); d == nil || !strings.EqualFold(d.Value, "attachment") || d.Params["filename"] != "r.bin" {
			t.Errorf("message 2 part 2: disposition %+v, want attachment filename=r.bin", d)
		}
		// BODY (non-extensible) parses too.
		msgs = icFetch(t, c, imap.SeqSetNum(2), &imap.FetchOptions{BodyStructure: &imap.FetchItemBodyStructure{}})
		if len(msgs) != 1 || msgs[0].BodyStructure == nil || msgs[0].BodyStructure.MediaType() != "multipart/mixed" {
			t.Errorf("FETCH 2 BODY: %+v", msgs)
		}
	})

	t.Run("BODY sections", func(t *testing.T) {
		type sec = imap.FetchItemBodySection
		cases := []struct {
			seq  uint32
			sec  *sec
			want string
		}{
			{3, &sec{Peek: true}, icMsg3},
			{3, &sec{Peek: true, Specifier: imap.PartSpecifierHeader}, icMsg3Header},
			{3, &sec{Peek: true, Specifier: imap.PartSpecifierText}, icMsg3Body},
			{1, &sec{Peek: true, Specifier: imap.PartSpecifierText}, icMsg1Body},
			{2, &sec{Peek: true, Specifier: imap.PartSpecifierText}, icMsg2Text},
			{2, &sec{Peek: true, Specifier: imap.PartSpecifierHeader}, icMsg2Header},
			// RFC 9051 §6.4.5: HEADER.FIELDS keeps the message's order and
			// the blank line; field names are case-insensitive.
			{3, &sec{Peek: true, Specifier: imap.PartSpecifierHeader, HeaderFields: []string{"subject", "FROM"}},
				icCRLF("From: Carol <carol@example.com>\nSubject: Lunch on Thursday?\n\n")},
			{3, &sec{Peek: true, Specifier: imap.PartSpecifierHeader, HeaderFieldsNot: []string{"From", "Subject", "Message-ID"}},
				icCRLF("To: alice@example.org\nDate: Thu, 05 Nov 2026 09:15:00 -0500\n\n")},
			{3, &sec{Peek: true, Specifier: imap.PartSpecifierHeader, HeaderFields: []string{"X-Absent"}}, "\r\n"},
			{2, &sec{Peek: true, Part: []int{1}}, icMsg2Part1},
			{2, &sec{Peek: true, Part: []int{1}, Specifier: imap.PartSpecifierMIME}, icMsg2Part1Hdr},
			{2, &sec{Peek: true, Part: []int{2}}, icMsg2Part2},
			{2, &sec{Peek: true, Part: []int{2}, Specifier: imap.PartSpecifierMIME}, icMsg2Part2Hdr},
			// A non-multipart message has part 1: its body.
			{1, &sec{Peek: true, Part: []int{1}}, icMsg1Body},
			// Partial: <offset.count>, and an offset past the end gives "".
			{3, &sec{Peek: true, Partial: &imap.SectionPartial{Offset: 6, Size: 10}}, icMsg3[6:16]},
			{3, &sec{Peek: true, Specifier: imap.PartSpecifierText, Partial: &imap.SectionPartial{Offset: 4, Size: 1000}}, icMsg3Body[4:]},
			{3, &sec{Peek: true, Partial: &imap.SectionPartial{Offset: 100000, Size: 10}}, ""},
		}
		for _, tc := range cases {
			msgs := icFetch(t, c, imap.SeqSetNum(tc.seq), &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{tc.sec}})
			if len(msgs) != 1 {
				t.Errorf("FETCH %d %+v: %d messages", tc.seq, tc.sec, len(msgs))
				continue
			}
			got := msgs[0].FindBodySection(tc.sec)
			if got == nil && tc.want != "" {
				t.Errorf("FETCH %d %+v: section missing from %+v", tc.seq, tc.sec, msgs[0].BodySection)
				continue
			}
			if string(got) != tc.want {
				t.Errorf("FETCH %d %+v:\n got %q\nwant %q", tc.seq, tc.sec, got, tc.want)
			}
		}
		// None of these set \Seen.
		icWantFlags(t, "message 3 after BODY.PEEK", icFetchFlags(t, c, 3))
	})

	t.Run("BINARY", func(t *testing.T) {
		// RFC 9051 §6.4.5 BINARY[part]: the decoded content.
		b2 := &imap.FetchItemBinarySection{Part: []int{2}, Peek: true}
		b1 := &imap.FetchItemBinarySection{Part: []int{1}, Peek: true}
		msgs := icFetch(t, c, imap.SeqSetNum(2), &imap.FetchOptions{
			BinarySection:     []*imap.FetchItemBinarySection{b2, b1},
			BinarySectionSize: []*imap.FetchItemBinarySectionSize{{Part: []int{2}}},
		})
		if len(msgs) != 1 {
			t.Fatalf("%d messages", len(msgs))
		}
		if got := msgs[0].FindBinarySection(b2); !bytes.Equal(got, []byte{0, 1, 2, 3}) {
			t.Errorf("BINARY[2] = %q, want 00 01 02 03", got)
		}
		if got := msgs[0].FindBinarySection(b1); string(got) != icMsg2Part1 {
			t.Errorf("BINARY[1] = %q, want %q", got, icMsg2Part1)
		}
		if n, ok := msgs[0].FindBinarySectionSize([]int{2}); !ok || n != 4 {
			t.Errorf("BINARY.SIZE[2] = %d %v, want 4", n, ok)
		}
	})

	t.Run("BODY sets Seen", func(t *testing.T) {
		sec := &imap.FetchItemBodySection{Specifier: imap.PartSpecifierText}
		msgs := icFetch(t, c, imap.SeqSetNum(3), &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{sec}})
		if len(msgs) != 1 || string(msgs[0].FindBodySection(sec)) != icMsg3Body {
			t.Fatalf("FETCH 3 BODY[TEXT]: %+v", msgs)
		}
		// RFC 9051 §6.4.5: the flag change SHOULD be reported in the
		// FETCH response itself.
		icWantFlags(t, "FLAGS in the FETCH BODY[TEXT] response", msgs[0].Flags, imap.FlagSeen)
		icWantFlags(t, "message 3 after BODY[TEXT]", icFetchFlags(t, c, 3), imap.FlagSeen)
		icWantFlags(t, "message 2 untouched", icFetchFlags(t, c, 2), imap.FlagImportant, imap.FlagFlagged)
	})

	t.Run("UID FETCH", func(t *testing.T) {
		var uids imap.UIDSet
		uids.AddRange(2, 3)
		msgs := icFetch(t, c, uids, &imap.FetchOptions{Flags: true, RFC822Size: true})
		if len(msgs) != 2 {
			t.Fatalf("UID FETCH 2:3: %d messages", len(msgs))
		}
		for i, m := range msgs {
			if m.UID != imap.UID(i+2) || m.SeqNum != uint32(i+2) || m.RFC822Size != int64(len(icSeedMsgs[i+1].raw)) {
				t.Errorf("UID FETCH 2:3 #%d: uid %d seq %d size %d", i, m.UID, m.SeqNum, m.RFC822Size)
			}
		}
		// RFC 9051 §6.4.9: UIDs that do not exist are ignored, no error.
		msgs = icFetch(t, c, imap.UIDSetNum(3, 7, 99), &imap.FetchOptions{Flags: true})
		if len(msgs) != 1 || msgs[0].UID != 3 {
			t.Errorf("UID FETCH 3,7,99: %+v", msgs)
		}
		// Without .PEEK: \Seen is set and reported with the UID.
		subj := &imap.FetchItemBodySection{Specifier: imap.PartSpecifierHeader, HeaderFields: []string{"Subject"}}
		msgs = icFetch(t, c, imap.UIDSetNum(2), &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{subj}})
		if len(msgs) != 1 || msgs[0].UID != 2 || string(msgs[0].FindBodySection(subj)) != "Subject: Quarterly report\r\n\r\n" {
			t.Fatalf("UID FETCH 2 BODY[HEADER.FIELDS (Subject)]: %+v", msgs)
		}
		icWantFlags(t, "UID FETCH 2 BODY[...] response", msgs[0].Flags, imap.FlagImportant, imap.FlagFlagged, imap.FlagSeen)
		sec := &imap.FetchItemBodySection{Peek: true, Specifier: imap.PartSpecifierHeader, HeaderFields: []string{"Message-ID"}}
		msgs = icFetch(t, c, imap.UIDSetNum(1), &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{sec}})
		if len(msgs) != 1 || string(msgs[0].FindBodySection(sec)) != "Message-ID: <msg1@example.org>\r\n\r\n" {
			t.Errorf("UID FETCH 1 BODY.PEEK[HEADER.FIELDS (Message-ID)]: %+v", msgs)
		}
	})

	t.Run("UID FETCH n:* above the highest UID", func(t *testing.T) {
		// RFC 9051 §9 (seq-range): "*" is the largest UID in use and n:*
		// equals *:n, so 10:* with UIDs 1..3 means 3:10 and returns the
		// last message. go-imap does not match it to the command (10:*
		// does not contain 3), so it arrives as unilateral data.
		var set imap.UIDSet
		set.AddRange(10, 0)
		icDrain(u.fetches)
		msgs := icFetch(t, uc, set, &imap.FetchOptions{Flags: true})
		// Unilateral FETCH data is handed over asynchronously.
		var uids []imap.UID
		for _, m := range msgs {
			uids = append(uids, m.UID)
		}
		deadline := time.After(time.Second)
	wait:
		for len(uids) == 0 {
			select {
			case m := <-u.fetches:
				// Other clients' flag updates carry their UIDs too:
				// look only for the message asked for.
				if m.UID == 3 {
					uids = append(uids, m.UID)
					if m.SeqNum != 3 {
						t.Errorf("UID FETCH 10:*: UID %d at sequence number %d, want 3", m.UID, m.SeqNum)
					}
				}
			case <-deadline:
				break wait
			}
		}
		if !slices.Equal(uids, []imap.UID{3}) {
			t.Errorf("UID FETCH 10:* (FLAGS) returned UIDs %v, want [3]", uids)
		}
	})
	t.Run("FETCH bad sequence", func(t *testing.T) {
		// RFC 9051 §6.4.5 / §9 (seq-number): a number above the message
		// count is invalid.
		_, err := c.Fetch(imap.SeqSetNum(7), &imap.FetchOptions{Flags: true}).Collect()
		icWantErr(t, "FETCH 7", err, imap.StatusResponseTypeBad, "")
		if err := c.Noop().Wait(); err != nil {
			t.Errorf("NOOP after bad FETCH: %v", err)
		}
	})
}

// TestIMAPClientStore: STORE FLAGS, +FLAGS, -FLAGS, .SILENT, keywords,
// UID STORE.
func TestIMAPClientStore(t *testing.T) {
	s := newICServer(t, true)
	u, opts := newICUnilateral()
	c := s.login(t, opts)
	icSeed(t, c, "INBOX")
	icSelect(t, c, "INBOX", false)

	store := func(set imap.NumSet, op imap.StoreFlagsOp, silent bool, flags ...imap.Flag) []*imapclient.FetchMessageBuffer {
		t.Helper()
		msgs, err := c.Store(set, &imap.StoreFlags{Op: op, Silent: silent, Flags: flags}, nil).Collect()
		if err != nil {
			t.Fatalf("STORE %v %v %v: %v", set, op, flags, err)
		}
		return msgs
	}
	one := func(what string, msgs []*imapclient.FetchMessageBuffer, seq uint32, flags ...imap.Flag) {
		t.Helper()
		if len(msgs) != 1 || msgs[0].SeqNum != seq {
			t.Errorf("%s: %d FETCH responses %+v, want one for %d", what, len(msgs), msgs, seq)
			return
		}
		icWantFlags(t, what, msgs[0].Flags, flags...)
	}

	t.Run("+FLAGS", func(t *testing.T) {
		one("STORE 1 +FLAGS (\\Flagged)", store(imap.SeqSetNum(1), imap.StoreFlagsAdd, false, imap.FlagFlagged),
			1, imap.FlagSeen, imap.FlagFlagged)
	})
	t.Run("-FLAGS", func(t *testing.T) {
		one("STORE 1 -FLAGS (\\Seen)", store(imap.SeqSetNum(1), imap.StoreFlagsDel, false, imap.FlagSeen),
			1, imap.FlagFlagged)
	})
	t.Run("FLAGS with new keyword", func(t *testing.T) {
		one("STORE 1 FLAGS (\\Answered custom)", store(imap.SeqSetNum(1), imap.StoreFlagsSet, false, imap.FlagAnswered, "custom"),
			1, imap.FlagAnswered, "custom")
		// RFC 9051 §7.3.5: a new keyword is announced with FLAGS.
		if mb := c.Mailbox(); mb == nil || !slices.Contains(mb.Flags, imap.Flag("custom")) {
			t.Errorf("client mailbox flags %+v lack the new keyword", mb)
		}
		icWantFlags(t, "FETCH 1 FLAGS", icFetchFlags(t, c, 1), imap.FlagAnswered, "custom")
	})
	t.Run("FLAGS.SILENT", func(t *testing.T) {
		// RFC 9051 §6.4.6: .SILENT: no untagged FETCH for the change.
		if msgs := store(imap.SeqSetNum(2), imap.StoreFlagsAdd, true, imap.FlagDeleted); len(msgs) != 0 {
			t.Errorf("+FLAGS.SILENT answered with %d FETCH responses", len(msgs))
		}
		if got := icDrain(u.fetches); len(got) != 0 {
			t.Errorf("+FLAGS.SILENT sent unilateral FETCH %+v", got)
		}
		icWantFlags(t, "message 2", icFetchFlags(t, c, 2), imap.FlagImportant, imap.FlagFlagged, imap.FlagDeleted)
		if msgs := store(imap.SeqSetNum(2), imap.StoreFlagsDel, true, imap.FlagDeleted, imap.FlagImportant); len(msgs) != 0 {
			t.Errorf("-FLAGS.SILENT answered with %d FETCH responses", len(msgs))
		}
		icWantFlags(t, "message 2", icFetchFlags(t, c, 2), imap.FlagFlagged)
		if msgs := store(imap.SeqSetNum(3), imap.StoreFlagsSet, true, imap.FlagDraft); len(msgs) != 0 {
			t.Errorf("FLAGS.SILENT answered with %d FETCH responses", len(msgs))
		}
		icWantFlags(t, "message 3", icFetchFlags(t, c, 3), imap.FlagDraft)
	})
	t.Run("range", func(t *testing.T) {
		msgs := store(imap.SeqSetNum(1, 2, 3), imap.StoreFlagsAdd, false, "$Work")
		if len(msgs) != 3 {
			t.Fatalf("STORE 1:3 +FLAGS ($Work): %d FETCH responses", len(msgs))
		}
		for _, m := range msgs {
			if !slices.Contains(m.Flags, imap.Flag("$Work")) {
				t.Errorf("message %d: %v", m.SeqNum, m.Flags)
			}
		}
	})
	t.Run("UID STORE", func(t *testing.T) {
		msgs := store(imap.UIDSetNum(3), imap.StoreFlagsAdd, false, imap.FlagForwarded)
		// RFC 9051 §6.4.9: the FETCH responses of a UID command include
		// the UID (the client matches them by it).
		if len(msgs) != 1 || msgs[0].UID != 3 || msgs[0].SeqNum != 3 {
			t.Fatalf("UID STORE 3 +FLAGS: responses %+v, want one with UID 3", msgs)
		}
		icWantFlags(t, "UID STORE 3", msgs[0].Flags, imap.FlagDraft, "$Work", imap.FlagForwarded)
	})
	t.Run("keywords search", func(t *testing.T) {
		r, err := c.Search(&imap.SearchCriteria{Flag: []imap.Flag{"custom"}}, nil).Wait()
		if err != nil {
			t.Fatal(err)
		}
		if got := r.AllSeqNums(); !slices.Equal(got, []uint32{1}) {
			t.Errorf("SEARCH KEYWORD custom: %v", got)
		}
	})
	t.Run("STORE bad sequence", func(t *testing.T) {
		err := c.Store(imap.SeqSetNum(9), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagSeen}}, nil).Close()
		icWantErr(t, "STORE 9", err, imap.StatusResponseTypeBad, "")
	})
}

// TestIMAPClientSearch: SEARCH criteria, UID SEARCH, ESEARCH RETURN options,
// SEARCHRES.
func TestIMAPClientSearch(t *testing.T) {
	s := newICServer(t, true)
	c := s.login(t, nil)
	icSeed(t, c, "INBOX")
	icSelect(t, c, "INBOX", false)

	day := func(d int) time.Time { return time.Date(2026, 11, d, 0, 0, 0, 0, time.UTC) }
	sizes := []int{len(icMsg1), len(icMsg2), len(icMsg3)}
	larger := func(n int) []uint32 {
		var r []uint32
		for i, s := range sizes {
			if s > n {
				r = append(r, uint32(i+1))
			}
		}
		return r
	}
	type SC = imap.SearchCriteria
	cases := []struct {
		name string
		c    *SC
		want []uint32
	}{
		{"ALL", &SC{}, []uint32{1, 2, 3}},
		{"SEEN", &SC{Flag: []imap.Flag{imap.FlagSeen}}, []uint32{1}},
		{"UNSEEN", &SC{NotFlag: []imap.Flag{imap.FlagSeen}}, []uint32{2, 3}},
		{"FLAGGED", &SC{Flag: []imap.Flag{imap.FlagFlagged}}, []uint32{2}},
		{"KEYWORD $Important", &SC{Flag: []imap.Flag{imap.FlagImportant}}, []uint32{2}},
		{"UNKEYWORD $Important", &SC{NotFlag: []imap.Flag{imap.FlagImportant}}, []uint32{1, 3}},
		{"KEYWORD unknown", &SC{Flag: []imap.Flag{"$Never"}}, nil},
		{"FROM bob", &SC{Header: []imap.SearchCriteriaHeaderField{{Key: "From", Value: "bob"}}}, []uint32{2}},
		{"SUBJECT case-insensitive", &SC{Header: []imap.SearchCriteriaHeaderField{{Key: "Subject", Value: "REPORT"}}}, []uint32{2}},
		{"TO alice", &SC{Header: []imap.SearchCriteriaHeaderField{{Key: "To", Value: "alice@example.org"}}}, []uint32{2, 3}},
		{"CC carol", &SC{Header: []imap.SearchCriteriaHeaderField{{Key: "Cc", Value: "carol"}}}, []uint32{1}},
		{"HEADER Message-ID", &SC{Header: []imap.SearchCriteriaHeaderField{{Key: "Message-ID", Value: "<msg3@example.com>"}}}, []uint32{3}},
		// RFC 9051 §6.4.4: an empty string matches every message that
		// has the field.
		{"HEADER In-Reply-To empty", &SC{Header: []imap.SearchCriteriaHeaderField{{Key: "In-Reply-To", Value: ""}}}, []uint32{2}},
		{"BODY", &SC{Body: []string{"attached"}}, []uint32{2}},
		{"BODY not in headers", &SC{Body: []string{"Quarterly"}}, nil},
		{"TEXT", &SC{Text: []string{"carol"}}, []uint32{1, 3}},
		{"LARGER", &SC{Larger: int64(len(icMsg1))}, larger(len(icMsg1))},
		{"SMALLER", &SC{Smaller: int64(len(icMsg2))}, []uint32{1, 3}},
		{"SINCE", &SC{Since: day(3)}, []uint32{2, 3}},
		{"BEFORE", &SC{Before: day(3)}, []uint32{1}},
		{"SINCE BEFORE", &SC{Since: day(3), Before: day(4)}, []uint32{2}},
		{"SENTSINCE", &SC{SentSince: day(4)}, []uint32{3}},
		{"SENTBEFORE", &SC{SentBefore: day(3)}, []uint32{1}},
		{"OR", &SC{Or: [][2]SC{{{Flag: []imap.Flag{imap.FlagSeen}}, {Flag: []imap.Flag{imap.FlagImportant}}}}}, []uint32{1, 2}},
		{"NOT", &SC{Not: []SC{{Body: []string{"attached"}}}}, []uint32{1, 3}},
		{"seq set AND UNSEEN", &SC{SeqNum: []imap.SeqSet{imap.SeqSetNum(2, 3)}, NotFlag: []imap.Flag{imap.FlagSeen}}, []uint32{2, 3}},
		{"UID set", &SC{UID: []imap.UIDSet{imap.UIDSetNum(1, 3)}}, []uint32{1, 3}},
		{"no match", &SC{Body: []string{"zebra"}}, nil},
	}
	for _, tc := range cases {
		r, err := c.Search(tc.c, nil).Wait()
		if err != nil {
			t.Errorf("SEARCH %s: %v", tc.name, err)
			continue
		}
		if got := r.AllSeqNums(); !slices.Equal(got, tc.want) {
			t.Errorf("SEARCH %s: %v, want %v", tc.name, got, tc.want)
		}
	}

	t.Run("UID SEARCH", func(t *testing.T) {
		r, err := c.UIDSearch(&imap.SearchCriteria{NotFlag: []imap.Flag{imap.FlagSeen}}, nil).Wait()
		if err != nil {
			t.Fatal(err)
		}
		if got := r.AllUIDs(); !slices.Equal(got, []imap.UID{2, 3}) {
			t.Errorf("UID SEARCH UNSEEN: %v", got)
		}
	})
	t.Run("ESEARCH", func(t *testing.T) {
		// RFC 4731 §3.1.
		r, err := c.Search(&imap.SearchCriteria{}, &imap.SearchOptions{ReturnMin: true, ReturnMax: true,
			ReturnCount: true, ReturnAll: true}).Wait()
		if err != nil {
			t.Fatal(err)
		}
		if r.Min != 1 || r.Max != 3 || r.Count != 3 || !slices.Equal(r.AllSeqNums(), []uint32{1, 2, 3}) {
			t.Errorf("SEARCH RETURN (MIN MAX COUNT ALL) ALL: min %d max %d count %d all %v", r.Min, r.Max, r.Count, r.All)
		}
		r, err = c.Search(&imap.SearchCriteria{NotFlag: []imap.Flag{imap.FlagSeen}}, &imap.SearchOptions{ReturnCount: true}).Wait()
		if err != nil {
			t.Fatal(err)
		}
		if r.Count != 3-1 || r.Min != 0 || r.Max != 0 {
			t.Errorf("SEARCH RETURN (COUNT) UNSEEN: %+v", r)
		}
		r, err = c.UIDSearch(&imap.SearchCriteria{NotFlag: []imap.Flag{imap.FlagSeen}}, &imap.SearchOptions{ReturnMin: true, ReturnMax: true}).Wait()
		if err != nil {
			t.Fatal(err)
		}
		if r.Min != 2 || r.Max != 3 || r.Count != 0 {
			t.Errorf("UID SEARCH RETURN (MIN MAX) UNSEEN: %+v", r)
		}
		// No match: COUNT 0, no MIN/MAX/ALL.
		r, err = c.Search(&imap.SearchCriteria{Body: []string{"zebra"}}, &imap.SearchOptions{ReturnMin: true, ReturnMax: true,
			ReturnCount: true, ReturnAll: true}).Wait()
		if err != nil {
			t.Fatal(err)
		}
		if r.Min != 0 || r.Max != 0 || r.Count != 0 || len(r.AllSeqNums()) != 0 {
			t.Errorf("SEARCH RETURN (...) no match: %+v", r)
		}
		r, err = c.UIDSearch(&imap.SearchCriteria{}, &imap.SearchOptions{ReturnAll: true}).Wait()
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(r.AllUIDs(), []imap.UID{1, 2, 3}) {
			t.Errorf("UID SEARCH RETURN (ALL) ALL: %v", r.All)
		}
	})
	t.Run("SEARCHRES empty", func(t *testing.T) {
		// go-imap never sends RETURN (SAVE), so only the initial state
		// is testable: RFC 5182 §2.1: the saved result starts empty and
		// referencing it is not an error.
		d, err := c.Copy(imap.SearchRes(), "Archive").Wait()
		if err != nil {
			t.Fatalf("UID COPY $ Archive: %v", err)
		}
		if len(icUIDs(d.SourceUIDs)) != 0 {
			t.Errorf("UID COPY $ with nothing saved copied %v", d.SourceUIDs)
		}
		if st := icStatus(t, c, "Archive"); icU32(st.NumMessages) != 0 {
			t.Errorf("Archive has %d messages", icU32(st.NumMessages))
		}
	})
}

func icUIDs(s imap.NumSet) []imap.UID {
	u, ok := s.(imap.UIDSet)
	if !ok {
		return nil
	}
	n, _ := u.Nums()
	return n
}

// TestIMAPClientCopyMove: COPY, UID COPY, MOVE, UID MOVE with COPYUID.
func TestIMAPClientCopyMove(t *testing.T) {
	s := newICServer(t, true)
	u, opts := newICUnilateral()
	c := s.login(t, opts)
	icSeed(t, c, "INBOX")
	archiveV := icStatus(t, c, "Archive").UIDValidity
	trashV := icStatus(t, c, "Trash").UIDValidity
	icSelect(t, c, "INBOX", false)

	t.Run("COPY", func(t *testing.T) {
		d, err := c.Copy(imap.SeqSetNum(1, 2), "Archive").Wait()
		if err != nil {
			t.Fatal(err)
		}
		// RFC 4315 §3: COPYUID uidvalidity source-uids dest-uids.
		if d.UIDValidity != archiveV || !slices.Equal(icUIDs(d.SourceUIDs), []imap.UID{1, 2}) || !slices.Equal(icUIDs(d.DestUIDs), []imap.UID{1, 2}) {
			t.Errorf("COPY 1:2 Archive: COPYUID %d %v %v, want %d 1:2 1:2", d.UIDValidity, d.SourceUIDs, d.DestUIDs, archiveV)
		}
		d, err = c.Copy(imap.UIDSetNum(3), "Archive").Wait()
		if err != nil {
			t.Fatal(err)
		}
		if d.UIDValidity != archiveV || !slices.Equal(icUIDs(d.SourceUIDs), []imap.UID{3}) || !slices.Equal(icUIDs(d.DestUIDs), []imap.UID{3}) {
			t.Errorf("UID COPY 3 Archive: COPYUID %d %v %v", d.UIDValidity, d.SourceUIDs, d.DestUIDs)
		}
		// The source is unchanged.
		if mb := c.Mailbox(); mb.NumMessages != 3 {
			t.Errorf("INBOX after COPY: %d messages", mb.NumMessages)
		}
		// Non-contiguous source: the UID lists pair up in order.
		junkV := icStatus(t, c, "Junk").UIDValidity
		d, err = c.Copy(imap.SeqSetNum(1, 3), "Junk").Wait()
		if err != nil {
			t.Fatal(err)
		}
		if d.UIDValidity != junkV || !slices.Equal(icUIDs(d.SourceUIDs), []imap.UID{1, 3}) || !slices.Equal(icUIDs(d.DestUIDs), []imap.UID{1, 2}) {
			t.Errorf("COPY 1,3 Junk: COPYUID %d %v %v, want %d 1,3 1:2", d.UIDValidity, d.SourceUIDs, d.DestUIDs, junkV)
		}
		_, err = c.Copy(imap.SeqSetNum(1), "Nope").Wait()
		icWantErr(t, "COPY to missing mailbox", err, imap.StatusResponseTypeNo, imap.ResponseCodeTryCreate)
		_, err = c.Copy(imap.SeqSetNum(8), "Archive").Wait()
		icWantErr(t, "COPY 8", err, imap.StatusResponseTypeBad, "")
		st := icStatus(t, c, "Archive")
		if icU32(st.NumMessages) != 3 || st.UIDNext != 4 || icU32(st.NumUnseen) != 2 {
			t.Errorf("STATUS Archive: %+v", st)
		}
	})

	t.Run("MOVE", func(t *testing.T) {
		d, err := c.Move(imap.SeqSetNum(1), "Trash").Wait()
		if err != nil {
			t.Fatal(err)
		}
		// RFC 6851 §3.3: COPYUID in an untagged OK, then EXPUNGE.
		if d.UIDValidity != trashV || !slices.Equal(icUIDs(d.SourceUIDs), []imap.UID{1}) || !slices.Equal(icUIDs(d.DestUIDs), []imap.UID{1}) {
			t.Errorf("MOVE 1 Trash: COPYUID %d %v %v, want %d 1 1", d.UIDValidity, d.SourceUIDs, d.DestUIDs, trashV)
		}
		if got := icDrain(u.expunges); !slices.Equal(got, []uint32{1}) {
			t.Errorf("MOVE 1: EXPUNGE responses %v, want [1]", got)
		}
		if mb := c.Mailbox(); mb.NumMessages != 2 {
			t.Errorf("INBOX after MOVE: %d messages", mb.NumMessages)
		}
		d, err = c.Move(imap.UIDSetNum(3), "Trash").Wait()
		if err != nil {
			t.Fatal(err)
		}
		if d.UIDValidity != trashV || !slices.Equal(icUIDs(d.SourceUIDs), []imap.UID{3}) || !slices.Equal(icUIDs(d.DestUIDs), []imap.UID{2}) {
			t.Errorf("UID MOVE 3 Trash: COPYUID %d %v %v, want %d 3 2", d.UIDValidity, d.SourceUIDs, d.DestUIDs, trashV)
		}
		// UID 3 was sequence number 2 once UID 1 had gone.
		if got := icDrain(u.expunges); !slices.Equal(got, []uint32{2}) {
			t.Errorf("UID MOVE 3: EXPUNGE responses %v, want [2]", got)
		}
		msgs := icFetch(t, c, imap.SeqSetNum(1), &imap.FetchOptions{UID: true})
		if len(msgs) != 1 || msgs[0].UID != 2 || c.Mailbox().NumMessages != 1 {
			t.Errorf("INBOX after MOVEs: %+v, %d messages", msgs, c.Mailbox().NumMessages)
		}
		_, err = c.Move(imap.SeqSetNum(1), "Nope").Wait()
		icWantErr(t, "MOVE to missing mailbox", err, imap.StatusResponseTypeNo, imap.ResponseCodeTryCreate)
	})

	t.Run("moved messages", func(t *testing.T) {
		d := icSelect(t, c, "Trash", true)
		if d.NumMessages != 2 || d.UIDNext != 3 || d.UIDValidity != trashV {
			t.Errorf("EXAMINE Trash %+v", d)
		}
		sec := &imap.FetchItemBodySection{Peek: true}
		msgs := icFetch(t, c, imap.SeqSetNum(1, 2), &imap.FetchOptions{UID: true, Flags: true, InternalDate: true,
			BodySection: []*imap.FetchItemBodySection{sec}})
		if len(msgs) != 2 {
			t.Fatalf("%d messages", len(msgs))
		}
		for i, w := range []icMsg{icSeedMsgs[0], icSeedMsgs[2]} {
			m := msgs[i]
			icWantFlags(t, fmt.Sprintf("Trash %d", i+1), m.Flags, w.flags...)
			if string(m.FindBodySection(sec)) != w.raw || !m.InternalDate.Equal(w.date) || m.UID != imap.UID(i+1) {
				t.Errorf("Trash %d: uid %d date %v body %d bytes", i+1, m.UID, m.InternalDate, len(m.FindBodySection(sec)))
			}
		}
		icSelect(t, c, "Archive", true)
		msgs = icFetch(t, c, imap.SeqSetNum(2), &imap.FetchOptions{Flags: true})
		if len(msgs) != 1 {
			t.Fatalf("%d messages", len(msgs))
		}
		// Keywords survive a copy (RFC 9051 §6.4.7: flags are preserved).
		icWantFlags(t, "Archive 2", msgs[0].Flags, imap.FlagImportant, imap.FlagFlagged)
	})
}

// TestIMAPClientExpunge: EXPUNGE, UID EXPUNGE, CLOSE, UNSELECT.
func TestIMAPClientExpunge(t *testing.T) {
	s := newICServer(t, true)
	u, opts := newICUnilateral()
	c := s.login(t, opts)
	for i := 0; i < 5; i++ {
		icAppend(t, c, "INBOX", icMsg{raw: icMsg1, date: icDate1})
	}
	icSelect(t, c, "INBOX", false)
	setDeleted := func(set imap.NumSet) {
		t.Helper()
		if err := c.Store(set, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close(); err != nil {
			t.Fatalf("STORE %v +FLAGS.SILENT (\\Deleted): %v", set, err)
		}
	}
	uids := func() []imap.UID {
		t.Helper()
		r, err := c.UIDSearch(&imap.SearchCriteria{}, nil).Wait()
		if err != nil {
			t.Fatalf("UID SEARCH ALL: %v", err)
		}
		return r.AllUIDs()
	}
	// applyExpunges replays EXPUNGE responses on the client's numbering.
	applyExpunges := func(model []imap.UID, seqs []uint32) []imap.UID {
		t.Helper()
		m := slices.Clone(model)
		for _, q := range seqs {
			if q == 0 || int(q) > len(m) {
				t.Errorf("EXPUNGE %d with %d messages", q, len(m))
				continue
			}
			m = slices.Delete(m, int(q-1), int(q))
		}
		return m
	}

	t.Run("EXPUNGE", func(t *testing.T) {
		setDeleted(imap.SeqSetNum(2, 4))
		seqs, err := c.Expunge().Collect()
		if err != nil {
			t.Fatal(err)
		}
		// Each EXPUNGE renumbers the messages after it (RFC 9051 §7.5.1).
		if got := applyExpunges([]imap.UID{1, 2, 3, 4, 5}, seqs); !slices.Equal(got, []imap.UID{1, 3, 5}) {
			t.Errorf("EXPUNGE responses %v leave UIDs %v, want [1 3 5]", seqs, got)
		}
		if got := uids(); !slices.Equal(got, []imap.UID{1, 3, 5}) {
			t.Errorf("UIDs after EXPUNGE: %v", got)
		}
		if mb := c.Mailbox(); mb.NumMessages != 3 {
			t.Errorf("client count %d", mb.NumMessages)
		}
		// Nothing deleted: nothing expunged.
		seqs, err = c.Expunge().Collect()
		if err != nil || len(seqs) != 0 {
			t.Errorf("second EXPUNGE: %v %v", seqs, err)
		}
	})

	t.Run("UID EXPUNGE", func(t *testing.T) {
		setDeleted(imap.SeqSetNum(1, 2, 3))
		// RFC 4315 §2.1: only the given UIDs that are \Deleted go.
		seqs, err := c.UIDExpunge(imap.UIDSetNum(3, 4)).Collect()
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(seqs, []uint32{2}) {
			t.Errorf("UID EXPUNGE 3,4: EXPUNGE responses %v, want [2]", seqs)
		}
		if got := uids(); !slices.Equal(got, []imap.UID{1, 5}) {
			t.Errorf("UIDs after UID EXPUNGE: %v", got)
		}
		for seq := uint32(1); seq <= 2; seq++ {
			icWantFlags(t, fmt.Sprintf("message %d", seq), icFetchFlags(t, c, seq), imap.FlagDeleted)
		}
	})

	t.Run("UNSELECT keeps deleted messages", func(t *testing.T) {
		if err := c.Unselect().Wait(); err != nil {
			t.Fatal(err)
		}
		if st := icWaitState(c, imap.ConnStateAuthenticated); st != imap.ConnStateAuthenticated {
			t.Errorf("state after UNSELECT: %v", st)
		}
		if got := icDrain(u.expunges); len(got) != 0 {
			t.Errorf("UNSELECT sent EXPUNGE %v", got)
		}
		st := icStatus(t, c, "INBOX")
		if icU32(st.NumMessages) != 2 || icU32(st.NumDeleted) != 2 {
			t.Errorf("STATUS after UNSELECT: %+v", st)
		}
	})

	t.Run("CLOSE in EXAMINE keeps deleted messages", func(t *testing.T) {
		icSelect(t, c, "INBOX", true)
		if err := c.UnselectAndExpunge().Wait(); err != nil {
			t.Fatal(err)
		}
		if st := icStatus(t, c, "INBOX"); icU32(st.NumMessages) != 2 {
			t.Errorf("STATUS after CLOSE of an EXAMINEd mailbox: %d messages", icU32(st.NumMessages))
		}
	})

	t.Run("CLOSE expunges silently", func(t *testing.T) {
		icSelect(t, c, "INBOX", false)
		icAppend(t, c, "INBOX", icMsg{raw: icMsg3, date: icDate3})
		if err := c.UnselectAndExpunge().Wait(); err != nil {
			t.Fatal(err)
		}
		// RFC 9051 §6.4.1: no untagged EXPUNGE is sent.
		if got := icDrain(u.expunges); len(got) != 0 {
			t.Errorf("CLOSE sent EXPUNGE %v", got)
		}
		if st := icWaitState(c, imap.ConnStateAuthenticated); st != imap.ConnStateAuthenticated {
			t.Errorf("state after CLOSE: %v", st)
		}
		st := icStatus(t, c, "INBOX")
		if icU32(st.NumMessages) != 1 || icU32(st.NumDeleted) != 0 || st.UIDNext != 7 {
			t.Errorf("STATUS after CLOSE: %+v, want 1 message, 0 deleted, uidnext 7", st)
		}
		err := c.Unselect().Wait()
		icWantErr(t, "UNSELECT with nothing selected", err, imap.StatusResponseTypeBad, "")
	})
}

// TestIMAPClientIdle: an idling client sees another client's APPEND, STORE
// and EXPUNGE at once (RFC 2177).
func TestIMAPClientIdle(t *testing.T) {
	s := newICServer(t, true)
	u, opts := newICUnilateral()
	a := s.login(t, opts)
	b := s.login(t, nil)
	icSeed(t, b, "INBOX")
	icSelect(t, a, "INBOX", false)
	icSelect(t, b, "INBOX", false)

	idle, err := a.Idle()
	if err != nil {
		t.Fatalf("IDLE: %v", err)
	}
	idleClosed := false
	t.Cleanup(func() {
		if !idleClosed {
			idle.Close()
		}
	})

	icAppend(t, b, "INBOX", icMsg{raw: icMsg1, date: icDate1})
	if n := icRecv(t, u.exists, "EXISTS during IDLE"); n != 4 {
		t.Errorf("EXISTS %d during IDLE, want 4", n)
	}

	if err := b.Store(imap.SeqSetNum(2), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true,
		Flags: []imap.Flag{imap.FlagAnswered}}, nil).Close(); err != nil {
		t.Fatal(err)
	}
	f := icRecv(t, u.fetches, "FETCH FLAGS during IDLE")
	if f.SeqNum != 2 {
		t.Errorf("FETCH during IDLE for %d, want 2", f.SeqNum)
	}
	icWantFlags(t, "FETCH during IDLE", f.Flags, imap.FlagImportant, imap.FlagFlagged, imap.FlagAnswered)

	if err := b.Store(imap.SeqSetNum(1), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true,
		Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close(); err != nil {
		t.Fatal(err)
	}
	if f := icRecv(t, u.fetches, "FETCH FLAGS during IDLE"); f.SeqNum != 1 {
		t.Errorf("FETCH during IDLE for %d, want 1", f.SeqNum)
	}
	if _, err := b.Expunge().Collect(); err != nil {
		t.Fatal(err)
	}
	if q := icRecv(t, u.expunges, "EXPUNGE during IDLE"); q != 1 {
		t.Errorf("EXPUNGE %d during IDLE, want 1", q)
	}

	idleClosed = true
	if err := idle.Close(); err != nil {
		t.Fatalf("IDLE close: %v", err)
	}
	if err := idle.Wait(); err != nil {
		t.Fatalf("IDLE: %v", err)
	}
	if mb := a.Mailbox(); mb == nil || mb.NumMessages != 3 {
		t.Errorf("idling client's mailbox after IDLE: %+v, want 3 messages", mb)
	}
	r, err := a.UIDSearch(&imap.SearchCriteria{}, nil).Wait()
	if err != nil {
		t.Fatal(err)
	}
	if got := r.AllUIDs(); !slices.Equal(got, []imap.UID{2, 3, 4}) {
		t.Errorf("UIDs after IDLE: %v", got)
	}
	if got := icDrain(u.exists); len(got) != 0 {
		t.Errorf("extra EXISTS after IDLE: %v", got)
	}

	// IDLE in the authenticated state works too and ends cleanly.
	if err := a.Unselect().Wait(); err != nil {
		t.Fatal(err)
	}
	idle2, err := a.Idle()
	if err != nil {
		t.Fatalf("IDLE (authenticated): %v", err)
	}
	if err := idle2.Close(); err != nil {
		t.Fatal(err)
	}
	if err := idle2.Wait(); err != nil {
		t.Fatal(err)
	}
	if err := a.Noop().Wait(); err != nil {
		t.Fatalf("NOOP after IDLE: %v", err)
	}
}

// TestIMAPClientConcurrent: several clients on one mailbox; one expunges,
// the others learn of it at their next NOOP, never during FETCH (RFC 9051
// §7.5.1).
func TestIMAPClientConcurrent(t *testing.T) {
	s := newICServer(t, true)
	a := s.login(t, nil)
	icSeed(t, a, "INBOX")
	icSelect(t, a, "INBOX", false)

	type watcher struct {
		c *imapclient.Client
		u *icUnilateral
	}
	var ws []watcher
	for i := 0; i < 3; i++ {
		u, opts := newICUnilateral()
		c := s.login(t, opts)
		icSelect(t, c, "INBOX", false)
		ws = append(ws, watcher{c, u})
	}

	if err := a.Store(imap.SeqSetNum(2), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true,
		Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close(); err != nil {
		t.Fatal(err)
	}
	seqs, err := a.Expunge().Collect()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(seqs, []uint32{2}) {
		t.Errorf("EXPUNGE: %v", seqs)
	}
	icAppend(t, a, "INBOX", icMsg{raw: icMsg2, date: icDate2})

	// Watcher 0 fetches first: the expunged message must not be announced
	// during FETCH; its sequence numbers stay as they were.
	w0 := ws[0]
	msgs, err := w0.c.Fetch(imap.SeqSetNum(1, 3), &imap.FetchOptions{UID: true}).Collect()
	if err != nil {
		t.Fatalf("FETCH 1,3 before NOOP: %v", err)
	}
	if len(msgs) != 2 || msgs[0].UID != 1 || msgs[1].UID != 3 || msgs[1].SeqNum != 3 {
		t.Errorf("FETCH 1,3 before NOOP: %+v, want UID 1 at 1 and UID 3 at 3", msgs)
	}
	if got := icDrain(w0.u.expunges); len(got) != 0 {
		t.Errorf("EXPUNGE %v sent during FETCH", got)
	}
	// Nor during STORE by sequence number.
	w1 := ws[1]
	if err := w1.c.Store(imap.SeqSetNum(3), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true,
		Flags: []imap.Flag{imap.FlagAnswered}}, nil).Close(); err != nil {
		t.Fatalf("STORE 3 before NOOP: %v", err)
	}
	if got := icDrain(w1.u.expunges); len(got) != 0 {
		t.Errorf("EXPUNGE %v sent during STORE", got)
	}
	// The append may be announced, counting the expunged message that
	// the client still numbers: 4.
	if got := icDrain(w0.u.exists); len(got) > 0 && got[len(got)-1] != 4 {
		t.Errorf("EXISTS %v during FETCH, want 4 (the expunge is not announced yet)", got)
	}

	for i, w := range ws {
		if err := w.c.Noop().Wait(); err != nil {
			t.Fatalf("watcher %d NOOP: %v", i, err)
		}
		if got := icDrain(w.u.expunges); !slices.Equal(got, []uint32{2}) {
			t.Errorf("watcher %d: EXPUNGE %v after NOOP, want [2]", i, got)
		}
		// The count after EXPUNGE and EXISTS in the order sent: 3.
		if mb := w.c.Mailbox(); mb.NumMessages != 3 {
			t.Errorf("watcher %d: %d messages", i, mb.NumMessages)
		}
		msgs := icFetch(t, w.c, imap.SeqSetNum(1, 2, 3), &imap.FetchOptions{UID: true})
		var got []imap.UID
		for _, m := range msgs {
			got = append(got, m.UID)
		}
		if !slices.Equal(got, []imap.UID{1, 3, 4}) {
			t.Errorf("watcher %d: UIDs %v, want [1 3 4]", i, got)
		}
	}

	// Pipelined commands on one connection: go-imap sends them without
	// waiting; the tagged answers must each reach their command.
	var pwg sync.WaitGroup
	perrs := make(chan error, 16)
	for _, name := range []string{"INBOX", "Sent", "Trash", "Junk", "Drafts", "Archive"} {
		pwg.Add(2)
		go func() {
			defer pwg.Done()
			st, err := a.Status(name, &imap.StatusOptions{NumMessages: true}).Wait()
			if err == nil && (st.Mailbox != name || st.NumMessages == nil) {
				err = fmt.Errorf("STATUS %s answered %+v", name, st)
			}
			if err != nil {
				perrs <- err
			}
		}()
		go func() {
			defer pwg.Done()
			if err := a.Noop().Wait(); err != nil {
				perrs <- err
			}
		}()
	}
	pwg.Wait()
	close(perrs)
	for err := range perrs {
		t.Errorf("pipelined: %v", err)
	}

	// Commands from all clients at once. Each adds its own keyword
	// silently; every other client must hear of the others' keywords by
	// FETCH FLAGS (RFC 9051 §7.5.2), here at the latest at its last NOOP.
	for _, w := range ws {
		icDrain(w.u.fetches)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 3*40)
	heard := make([][]imap.Flag, len(ws))
	for i, w := range ws {
		wg.Add(1)
		go func() {
			defer wg.Done()
			flag := imap.Flag(fmt.Sprintf("$K%d", i))
			for j := 0; j < 20; j++ {
				// A FETCH for message 1 that arrives during this STORE
				// is handed to it by the client; keep those too.
				msgs, err := w.c.Store(imap.SeqSetNum(1), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true,
					Flags: []imap.Flag{flag}}, nil).Collect()
				if err != nil {
					errs <- err
				}
				for _, m := range msgs {
					heard[i] = append(heard[i], m.Flags...)
				}
				if err := w.c.Noop().Wait(); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("concurrent command: %v", err)
	}
	for i, w := range ws {
		if err := w.c.Noop().Wait(); err != nil {
			t.Fatal(err)
		}
		// Unilateral FETCH data reaches the handler asynchronously.
		missing := func() []string {
			var m []string
			for k := range ws {
				if kw := fmt.Sprintf("$K%d", k); k != i && !slices.Contains(heard[i], imap.Flag(kw)) {
					m = append(m, kw)
				}
			}
			return m
		}
		deadline := time.After(time.Second)
	wait:
		for len(missing()) > 0 {
			select {
			case f := <-w.u.fetches:
				if f.SeqNum == 1 {
					heard[i] = append(heard[i], f.Flags...)
				}
			case <-deadline:
				break wait
			}
		}
		if m := missing(); len(m) > 0 {
			t.Errorf("client %d never heard of %v on message 1 (heard %v)", i, m, heard[i])
		}
	}
	if err := a.Noop().Wait(); err != nil {
		t.Fatal(err)
	}
	icWantFlags(t, "message 1 after concurrent STOREs", icFetchFlags(t, a, 1), imap.FlagSeen, "$K0", "$K1", "$K2")
}
