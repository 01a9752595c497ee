package main

// Integration tests: they build the real binary, start it on ports chosen
// free at test time on 127.0.0.1, and drive it with the go-imap v2 client
// over plain, STARTTLS and implicit-TLS connections, with go-smtp's LMTP
// client, and with the admin subcommands. Every server is killed (by its
// PID) when its test ends, and at the latest after serverLifetime, so that
// a hung server fails a test instead of hanging it.

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-smtp"

	"github.com/myriad-mail/myriad/cmd/imapd/internal/tlsutil"
)

const serverLifetime = 2 * time.Minute

var (
	binary     string
	buildFlags []string
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "imapd-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "imapd")
	build := exec.Command("go", append(append([]string{"build"}, buildFlags...), "-o", binary, ".")...)
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building imapd:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// freeAddr returns 127.0.0.1:PORT with a port free right now.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// syncBuffer is a bytes.Buffer safe for a writer and a reader goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type testServer struct {
	t                         *testing.T
	dir, data, config         string
	imap, imaps, lmtp, metric string
	certPool                  *x509.CertPool
	cmd                       *exec.Cmd
	stderr                    *syncBuffer
	exited                    chan struct{}
	waitErr                   error
}

const (
	testUser = "alice"
	testPass = "correct horse"
)

// newServer prepares a data directory (a user, a self-signed certificate,
// a config file) without starting the server.
func newServer(t *testing.T, extraConfig string) *testServer {
	t.Helper()
	dir := t.TempDir()
	s := &testServer{t: t, dir: dir, data: filepath.Join(dir, "data"), config: filepath.Join(dir, "imapd.toml"),
		imap: freeAddr(t), imaps: freeAddr(t), lmtp: freeAddr(t), metric: freeAddr(t)}
	if err := os.MkdirAll(s.data, 0o700); err != nil {
		t.Fatal(err)
	}
	cert, key := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := tlsutil.WriteSelfSigned(cert, key); err != nil {
		t.Fatal(err)
	}
	pem, _ := os.ReadFile(cert)
	s.certPool = x509.NewCertPool()
	s.certPool.AppendCertsFromPEM(pem)
	cfg := fmt.Sprintf(`data_dir = %q
hostname = "test.example"
shutdown_timeout = "20s"

[listen]
imap = %q
imaps = %q
lmtp = %q
metrics = %q

[tls]
cert = %q
key = %q

[auth]
insecure_auth = true
password_scheme = "PLAIN"

[storage]
fsync = "always"

[log]
level = "debug"
`, s.data, s.imap, s.imaps, s.lmtp, s.metric, cert, key)
	if err := os.WriteFile(s.config, []byte(cfg+extraConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	s.run(testPass+"\n", 0, "user", "add", "-config", s.config, testUser)
	return s
}

// run runs an imapd subcommand (not the server) with stdin, and checks its
// exit code.
func (s *testServer) run(stdin string, wantCode int, args ...string) string {
	s.t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		<-done
		s.t.Fatalf("imapd %v: timed out", args)
	}
	if code := cmd.ProcessState.ExitCode(); code != wantCode {
		s.t.Fatalf("imapd %v: exit code %d, want %d\nstdout: %s\nstderr: %s", args, code, wantCode, out.String(), errb.String())
	}
	return out.String()
}

// start starts `imapd serve` and waits until it listens.
func (s *testServer) start() {
	t := s.t
	t.Helper()
	s.stderr = &syncBuffer{}
	s.exited = make(chan struct{})
	s.cmd = exec.Command(binary, "serve", "-config", s.config)
	s.cmd.Stdout, s.cmd.Stderr = s.stderr, s.stderr
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	proc, cmd, exited := s.cmd.Process, s.cmd, s.exited
	go func() {
		s.waitErr = cmd.Wait()
		close(exited)
	}()
	kill := time.AfterFunc(serverLifetime, func() { proc.Kill() })
	t.Cleanup(func() {
		kill.Stop()
		select {
		case <-exited:
		default:
			proc.Kill()
			<-exited
		}
		if strings.Contains(s.stderr.String(), "DATA RACE") {
			t.Errorf("the server reported a data race")
		}
		if t.Failed() || os.Getenv("IMAPD_TEST_LOG") != "" {
			t.Logf("server log:\n%s", s.stderr.String())
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(s.stderr.String(), "imapd started") {
		select {
		case <-s.exited:
			t.Fatalf("imapd exited at start: %v\n%s", s.waitErr, s.stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("imapd did not start:\n%s", s.stderr.String())
		}
	}
}

// signal sends sig to the server and, for a stopping signal, waits for its
// exit and returns its exit code.
func (s *testServer) stop(sig syscall.Signal) int {
	s.t.Helper()
	if err := s.cmd.Process.Signal(sig); err != nil {
		s.t.Fatal(err)
	}
	select {
	case <-s.exited:
	case <-time.After(40 * time.Second):
		s.t.Fatalf("imapd did not exit after %v", sig)
	}
	return s.cmd.ProcessState.ExitCode()
}

type dialMode int

const (
	plain dialMode = iota
	startTLS
	implicitTLS
)

func (m dialMode) String() string { return [...]string{"plain", "starttls", "tls"}[m] }

func (s *testServer) dial(mode dialMode, opts *imapclient.Options) *imapclient.Client {
	s.t.Helper()
	if opts == nil {
		opts = &imapclient.Options{}
	}
	opts.TLSConfig = &tls.Config{RootCAs: s.certPool, ServerName: "localhost"}
	opts.Dialer = &net.Dialer{Timeout: 10 * time.Second}
	var c *imapclient.Client
	var err error
	switch mode {
	case plain:
		c, err = imapclient.DialInsecure(s.imap, opts)
	case startTLS:
		c, err = imapclient.DialStartTLS(s.imap, opts)
	case implicitTLS:
		c, err = imapclient.DialTLS(s.imaps, opts)
	}
	if err != nil {
		s.t.Fatalf("dial %v: %v", mode, err)
	}
	s.t.Cleanup(func() { c.Close() })
	return c
}

func (s *testServer) login(mode dialMode, opts *imapclient.Options) *imapclient.Client {
	s.t.Helper()
	c := s.dial(mode, opts)
	if err := c.Login(testUser, testPass).Wait(); err != nil {
		s.t.Fatalf("login over %v: %v", mode, err)
	}
	return c
}

func message(subject string) string {
	return "From: bob@example.org\r\nTo: alice@example.org\r\nSubject: " + subject +
		"\r\nDate: Sat, 28 Nov 2026 10:00:00 +0000\r\nMessage-ID: <" + strings.ReplaceAll(subject, " ", ".") + "@example.org>\r\n\r\nHello, " + subject + ".\r\n"
}

func appendMsg(t *testing.T, c *imapclient.Client, mailbox, raw string, flags ...imap.Flag) *imap.AppendData {
	t.Helper()
	cmd := c.Append(mailbox, int64(len(raw)), &imap.AppendOptions{Flags: flags})
	if _, err := io.WriteString(cmd, raw); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Close(); err != nil {
		t.Fatal(err)
	}
	d, err := cmd.Wait()
	if err != nil {
		t.Fatalf("append: %v", err)
	}
	return d
}

func TestSessionOverEachTransport(t *testing.T) {
	s := newServer(t, "")
	s.start()
	for _, mode := range []dialMode{plain, startTLS, implicitTLS} {
		t.Run(mode.String(), func(t *testing.T) {
			c := s.login(mode, nil)
			sel, err := c.Select("INBOX", nil).Wait()
			if err != nil {
				t.Fatal(err)
			}
			before := sel.NumMessages
			raw := message("over " + mode.String())
			ad := appendMsg(t, c, "INBOX", raw, imap.FlagDraft)
			if ad.UID == 0 {
				t.Fatalf("no APPENDUID: %+v", ad)
			}
			if err := c.Noop().Wait(); err != nil {
				t.Fatal(err)
			}
			seq := imap.SeqSetNum(before + 1)
			msgs, err := c.Fetch(seq, &imap.FetchOptions{UID: true, Flags: true, Envelope: true,
				BodySection: []*imap.FetchItemBodySection{{Peek: true}}}).Collect()
			if err != nil || len(msgs) != 1 {
				t.Fatalf("fetch: %v %v", msgs, err)
			}
			m := msgs[0]
			if m.UID != ad.UID || m.Envelope == nil || m.Envelope.Subject != "over "+mode.String() {
				t.Fatalf("fetched %+v", m)
			}
			if body := m.FindBodySection(&imap.FetchItemBodySection{}); string(body) != raw {
				t.Fatalf("body %q, want %q", body, raw)
			}
			if _, err := c.Store(seq, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagSeen, "$Work"}}, nil).Collect(); err != nil {
				t.Fatal(err)
			}
			msgs, err = c.Fetch(imap.UIDSetNum(ad.UID), &imap.FetchOptions{Flags: true}).Collect()
			if err != nil || len(msgs) != 1 {
				t.Fatalf("uid fetch: %v %v", msgs, err)
			}
			flags := fmt.Sprint(msgs[0].Flags)
			for _, f := range []string{`\Seen`, `\Draft`, "$Work"} {
				if !strings.Contains(flags, f) {
					t.Fatalf("flags %s lack %s", flags, f)
				}
			}
			if err := c.Logout().Wait(); err != nil {
				t.Fatal(err)
			}
		})
	}
	// The metrics saw the commands and the logins.
	body := s.scrape()
	for _, want := range []string{
		`myriad_commands_total{command="APPEND",result="ok"} 3`,
		`myriad_commands_total{command="LOGIN",result="ok"} 3`,
		`myriad_commands_total{command="UID FETCH",result="ok"} 3`,
		`myriad_logins_total{result="ok"} 3`,
		`myriad_command_duration_seconds_count{command="STORE"} 3`,
		`myriad_tls_handshakes_total 2`,
		`myriad_sessions{state="selected"}`,
		`myriad_fsyncs_total`,
		`myriad_bytes_received_total`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	if t.Failed() {
		t.Logf("metrics:\n%s", body)
	}
	// One log line per login and per logout, with the session's counters.
	waitLogCount(t, s, "msg=login user=alice", 3)
	waitLogCount(t, s, "msg=logout user=alice", 3)
	if !strings.Contains(s.stderr.String(), "commands=") || !strings.Contains(s.stderr.String(), "addr=127.0.0.1") {
		t.Errorf("logout lines lack the session's counters")
	}
}

func (s *testServer) scrape() string {
	s.t.Helper()
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Get("http://" + s.metric + "/metrics")
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return string(body)
}

// waitMetric waits until the metrics hold line (name and value).
func (s *testServer) waitMetric(line string) {
	s.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		body := s.scrape()
		if strings.Contains(body, "\n"+line+"\n") {
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("metrics never showed %q:\n%s", line, body)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestPlaintextLoginRefusedWithoutInsecureAuth(t *testing.T) {
	s := newServer(t, "")
	// Drop insecure_auth from the file: plain connections get LOGINDISABLED.
	b, _ := os.ReadFile(s.config)
	os.WriteFile(s.config, bytes.Replace(b, []byte("insecure_auth = true"), []byte("insecure_auth = false"), 1), 0o600)
	s.start()
	c := s.dial(plain, nil)
	caps, err := c.Capability().Wait()
	if err != nil {
		t.Fatal(err)
	}
	if !caps.Has("LOGINDISABLED") || !caps.Has("STARTTLS") {
		t.Fatalf("capabilities %v", caps)
	}
	if err := c.Login(testUser, testPass).Wait(); err == nil {
		t.Fatal("plaintext LOGIN succeeded without insecure_auth")
	}
	s.login(startTLS, nil) // and STARTTLS still works
}

func TestConcurrentSessionsOneMailbox(t *testing.T) {
	s := newServer(t, "")
	s.start()
	const sessions, each = 6, 4
	modes := []dialMode{plain, startTLS, implicitTLS}
	clients := make([]*imapclient.Client, sessions)
	for i := range clients {
		clients[i] = s.login(modes[i%len(modes)], nil)
		if _, err := clients[i].Select("INBOX", nil).Wait(); err != nil {
			t.Fatal(err)
		}
	}
	s.waitMetric(fmt.Sprintf(`myriad_sessions{state="selected"} %d`, sessions))
	var wg sync.WaitGroup
	errs := make(chan error, sessions*each)
	for i, c := range clients {
		wg.Go(func() {
			for j := 0; j < each; j++ {
				raw := message(fmt.Sprintf("session %d message %d", i, j))
				cmd := c.Append("INBOX", int64(len(raw)), nil)
				io.WriteString(cmd, raw)
				cmd.Close()
				if _, err := cmd.Wait(); err != nil {
					errs <- err
					return
				}
				if err := c.Noop().Wait(); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	// Every session sees every message, and a flag set by one session
	// reaches the others.
	if _, err := clients[0].Store(imap.SeqSetNum(1), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagFlagged}}, nil).Collect(); err != nil {
		t.Fatal(err)
	}
	for i, c := range clients {
		if err := c.Noop().Wait(); err != nil { // hear of the other sessions' messages
			t.Fatal(err)
		}
		msgs, err := c.Fetch(imap.SeqSetNum(1, sessions*each), &imap.FetchOptions{UID: true, Flags: true}).Collect()
		if err != nil {
			t.Fatalf("session %d: %v", i, err)
		}
		all, err := c.Fetch(imap.SeqSet{imap.SeqRange{Start: 1, Stop: 0}}, &imap.FetchOptions{UID: true}).Collect()
		if err != nil || len(all) != sessions*each {
			t.Fatalf("session %d sees %d messages (%v), want %d", i, len(all), err, sessions*each)
		}
		if len(msgs) != 2 || !strings.Contains(fmt.Sprint(msgs[0].Flags), `\Flagged`) {
			t.Fatalf("session %d: first message flags %v", i, msgs)
		}
	}
}

// idleClient selects INBOX and enters IDLE; exists receives EXISTS counts.
func idleClient(t *testing.T, s *testServer, mode dialMode) (*imapclient.Client, *imapclient.IdleCommand, chan uint32) {
	t.Helper()
	exists := make(chan uint32, 16)
	c := s.login(mode, &imapclient.Options{UnilateralDataHandler: &imapclient.UnilateralDataHandler{
		Mailbox: func(d *imapclient.UnilateralDataMailbox) {
			if d.NumMessages != nil {
				exists <- *d.NumMessages
			}
		},
	}})
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	idle, err := c.Idle()
	if err != nil {
		t.Fatal(err)
	}
	return c, idle, exists
}

func waitExists(t *testing.T, exists chan uint32, want uint32) {
	t.Helper()
	timeout := time.After(15 * time.Second)
	for {
		select {
		case n := <-exists:
			if n >= want {
				return
			}
		case <-timeout:
			t.Fatalf("no EXISTS %d in IDLE", want)
		}
	}
}

func TestLMTPWakesIdle(t *testing.T) {
	s := newServer(t, "")
	s.start()
	_, idle, exists := idleClient(t, s, implicitTLS)
	s.waitMetric(`myriad_sessions{state="idle"} 1`)

	conn, err := net.DialTimeout("tcp", s.lmtp, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	lc := smtp.NewClientLMTP(conn)
	defer lc.Close()
	if err := lc.Hello("mx.example.org"); err != nil {
		t.Fatal(err)
	}
	if err := lc.Mail("bob@example.org", nil); err != nil {
		t.Fatal(err)
	}
	if err := lc.Rcpt("alice@example.org", nil); err != nil {
		t.Fatal(err)
	}
	if err := lc.Rcpt("nobody@example.org", nil); err == nil {
		t.Fatal("RCPT of an unknown user accepted")
	} else if se, ok := err.(*smtp.SMTPError); !ok || se.Code != 550 {
		t.Fatalf("unknown user: %v", err)
	}
	w, err := lc.Data()
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(w, strings.ReplaceAll(message("via lmtp"), "\r\n", "\n"))
	if _, err := w.CloseWithLMTPResponse(); err != nil {
		t.Fatal(err)
	}
	lc.Quit()
	waitExists(t, exists, 1)
	s.waitMetric(`myriad_lmtp_deliveries_total{result="ok"} 1`)
	s.waitMetric(`myriad_wakeups_total 1`)
	if err := idle.Close(); err != nil {
		t.Fatal(err)
	}
	if err := idle.Wait(); err != nil {
		t.Fatal(err)
	}
	c := s.login(plain, nil)
	c.Select("INBOX", nil).Wait()
	msgs, err := c.Fetch(imap.SeqSetNum(1), &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{{Peek: true}}}).Collect()
	if err != nil || len(msgs) != 1 {
		t.Fatal(msgs, err)
	}
	body := string(msgs[0].FindBodySection(&imap.FetchItemBodySection{}))
	if !strings.HasPrefix(body, "Return-Path: <bob@example.org>\r\n") || !strings.Contains(body, "Subject: via lmtp\r\n") {
		t.Fatalf("delivered message %q", body)
	}
}

func TestDeliverCommand(t *testing.T) {
	s := newServer(t, "")
	msg := strings.ReplaceAll(message("delivered offline"), "\r\n", "\n")
	// Server stopped: deliver opens the store itself.
	s.run(msg, 0, "deliver", "-config", s.config, "-f", "bob@example.org", testUser)
	s.run(msg, exNoUser, "deliver", "-config", s.config, "nobody")
	s.run("", exDataErr, "deliver", "-config", s.config, testUser)
	s.run(msg, exUsage, "deliver", "-config", s.config)

	// Server running: deliver goes through its LMTP listener, and an IDLE
	// session hears of it.
	s.start()
	_, idle, exists := idleClient(t, s, startTLS)
	time.Sleep(100 * time.Millisecond)
	s.run(strings.ReplaceAll(message("delivered online"), "\r\n", "\n"), 0, "deliver", "-config", s.config, testUser)
	waitExists(t, exists, 2)
	idle.Close()
	s.run(msg, exNoUser, "deliver", "-config", s.config, "nobody")

	c := s.login(plain, nil)
	c.Select("INBOX", nil).Wait()
	msgs, err := c.Fetch(imap.SeqSetNum(1, 2), &imap.FetchOptions{Envelope: true}).Collect()
	if err != nil || len(msgs) != 2 {
		t.Fatal(msgs, err)
	}
	if msgs[0].Envelope.Subject != "delivered offline" || msgs[1].Envelope.Subject != "delivered online" {
		t.Fatalf("subjects %q, %q", msgs[0].Envelope.Subject, msgs[1].Envelope.Subject)
	}
}

func TestUserCommands(t *testing.T) {
	s := newServer(t, "")
	s.start()
	// A user added while the server runs can log in at once (the command
	// tells the server to reload).
	s.run("s3cret\n", 0, "user", "add", "-config", s.config, "carol")
	s.run("x\n", exSoftware, "user", "add", "-config", s.config, "carol")
	if out := s.run("", 0, "user", "list", "-config", s.config); out != "alice\ncarol\n" {
		t.Fatalf("user list: %q", out)
	}
	waitLog(t, s, "reloaded users file")
	c := s.dial(implicitTLS, nil)
	if err := c.Login("carol", "s3cret").Wait(); err != nil {
		t.Fatal(err)
	}
	pw := strings.TrimSpace(s.run("", 0, "user", "passwd", "-config", s.config, "-random", "carol"))
	if len(pw) < 12 {
		t.Fatalf("random password %q", pw)
	}
	waitLogCount(t, s, "reloaded users file", 2)
	c = s.dial(implicitTLS, nil)
	if err := c.Login("carol", pw).Wait(); err != nil {
		t.Fatal(err)
	}
	s.run("", 0, "user", "del", "-config", s.config, "carol")
	waitLogCount(t, s, "reloaded users file", 3)
	c = s.dial(implicitTLS, nil)
	if err := c.Login("carol", pw).Wait(); err == nil {
		t.Fatal("deleted user logged in")
	}
}

func waitLog(t *testing.T, s *testServer, what string) { t.Helper(); waitLogCount(t, s, what, 1) }

func waitLogCount(t *testing.T, s *testServer, what string, n int) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for strings.Count(s.stderr.String(), what) < n {
		if time.Now().After(deadline) {
			t.Fatalf("no %q (x%d) in the log:\n%s", what, n, s.stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestLoginFailuresLimited(t *testing.T) {
	s := newServer(t, "")
	b, _ := os.ReadFile(s.config)
	b = bytes.Replace(b, []byte("[auth]\n"), []byte("[auth]\nfailure_delay = \"300ms\"\nmax_failures_per_addr = 3\nfailure_window = \"1m\"\n"), 1)
	os.WriteFile(s.config, b, 0o600)
	s.start()
	c := s.dial(plain, nil)
	for i := 0; i < 3; i++ {
		start := time.Now()
		if err := c.Login(testUser, "wrong").Wait(); err == nil {
			t.Fatal("wrong password accepted")
		}
		if d := time.Since(start); d < 250*time.Millisecond {
			t.Fatalf("failure answered after %v, want the 300ms delay", d)
		}
	}
	// The address is now locked out, even with the right password.
	if err := s.dial(implicitTLS, nil).Login(testUser, testPass).Wait(); err == nil {
		t.Fatal("login accepted after too many failures from the address")
	}
}

func TestSIGTERMWithSessionsOpen(t *testing.T) {
	s := newServer(t, "")
	s.start()
	type watched struct {
		name string
		c    *imapclient.Client
		log  *syncBuffer
	}
	var ws []watched
	open := func(name string, mode dialMode, idle bool) {
		log := &syncBuffer{}
		c := s.login(mode, &imapclient.Options{DebugWriter: log})
		if _, err := c.Select("INBOX", nil).Wait(); err != nil {
			t.Fatal(err)
		}
		if idle {
			if _, err := c.Idle(); err != nil {
				t.Fatal(err)
			}
		}
		ws = append(ws, watched{name, c, log})
	}
	open("plain", plain, false)
	open("starttls-idle", startTLS, true)
	open("tls-idle", implicitTLS, true)
	open("tls", implicitTLS, false)
	// One that never logged in.
	raw, err := net.DialTimeout("tcp", s.imap, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	raw.SetDeadline(time.Now().Add(30 * time.Second))
	br := bufio.NewReader(raw)
	if greeting, err := br.ReadString('\n'); err != nil || !strings.HasPrefix(greeting, "* OK") {
		t.Fatalf("greeting %q %v", greeting, err)
	}
	// An MTA's cached, idle LMTP connection must not hold up the stop.
	lconn, err := net.DialTimeout("tcp", s.lmtp, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	lconn.SetDeadline(time.Now().Add(30 * time.Second))
	lc := smtp.NewClientLMTP(lconn)
	defer lc.Close()
	if err := lc.Hello("mx.example.org"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)

	start := time.Now()
	if code := s.stop(syscall.SIGTERM); code != 0 {
		t.Fatalf("exit code %d after SIGTERM\n%s", code, s.stderr.String())
	}
	if d := time.Since(start); d > 15*time.Second { // shutdown_timeout is 20s
		t.Fatalf("stop took %v: something waited for the shutdown timeout", d)
	}
	for _, w := range ws {
		select {
		case <-w.c.Closed():
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: connection still open after the server exited", w.name)
		}
		if !strings.Contains(w.log.String(), "* BYE") {
			t.Errorf("%s: no BYE; the session saw:\n%s", w.name, w.log.String())
		}
	}
	rest, _ := io.ReadAll(br)
	if !strings.Contains(string(rest), "* BYE") {
		t.Errorf("unauthenticated connection got %q at shutdown, no BYE", rest)
	}
	if log := s.stderr.String(); !strings.Contains(log, "imapd stopped") {
		t.Fatalf("no clean stop in the log:\n%s", log)
	}
	// The data directory is free again: an offline delivery works.
	s.run(message("after stop"), 0, "deliver", "-config", s.config, testUser)
}

func TestSIGHUPReloadsCertificate(t *testing.T) {
	s := newServer(t, "")
	s.start()
	serial := func() string {
		conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", s.imaps,
			&tls.Config{InsecureSkipVerify: true})
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		return conn.ConnectionState().PeerCertificates[0].SerialNumber.String()
	}
	before := serial()
	if err := tlsutil.WriteSelfSigned(filepath.Join(s.dir, "cert.pem"), filepath.Join(s.dir, "key.pem")); err != nil {
		t.Fatal(err)
	}
	s.cmd.Process.Signal(syscall.SIGHUP)
	waitLog(t, s, "reloaded users file and certificate")
	if after := serial(); after == before {
		t.Fatal("certificate not reloaded on SIGHUP")
	}
}

func TestDemo(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	imapAddr, metrics := freeAddr(t), freeAddr(t)
	start := func() (*exec.Cmd, *syncBuffer, string) {
		out := &syncBuffer{}
		cmd := exec.Command(binary, "demo", "-data", data, "-imap", imapAddr, "-imaps", "off", "-lmtp", "off", "-metrics", metrics)
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		kill := time.AfterFunc(serverLifetime, func() { cmd.Process.Kill() })
		t.Cleanup(func() { kill.Stop(); cmd.Process.Kill(); cmd.Wait() })
		deadline := time.Now().Add(30 * time.Second)
		for !strings.Contains(out.String(), "Stop with Ctrl-C") {
			if time.Now().After(deadline) {
				t.Fatalf("demo did not start:\n%s", out.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
		var pw string
		for _, l := range strings.Split(out.String(), "\n") {
			if strings.Contains(l, "login") && strings.Contains(l, "password") {
				f := strings.Fields(l)
				pw = strings.Trim(f[len(f)-1], `"`)
			}
		}
		return cmd, out, pw
	}
	cmd, out, pw := start()
	if pw == "" || !strings.Contains(out.String(), imapAddr) {
		t.Fatalf("demo output:\n%s", out.String())
	}
	pem, err := os.ReadFile(filepath.Join(data, "cert.pem"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	c, err := imapclient.DialStartTLS(imapAddr, &imapclient.Options{TLSConfig: &tls.Config{RootCAs: pool, ServerName: "localhost"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Login("demo", pw).Wait(); err != nil {
		t.Fatal(err)
	}
	c.Close()
	cmd.Process.Signal(syscall.SIGTERM)
	cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("demo exit code %d:\n%s", code, out.String())
	}
	// A second run reuses the user and its password.
	_, _, pw2 := start()
	if pw2 != pw {
		t.Fatalf("second demo run printed password %q, first %q", pw2, pw)
	}
}

func TestCheck(t *testing.T) {
	s := newServer(t, "")
	for i := 0; i < 3; i++ {
		s.run(message(fmt.Sprint("check ", i)), 0, "deliver", "-config", s.config, testUser)
	}
	if out := s.run("", 0, "check", "-config", s.config, "-all"); !strings.Contains(out, "alice: 6 mailboxes, 3 messages: ok") {
		t.Fatalf("check of a sound store:\n%s", out)
	}
	s.run("", exNoUser, "check", "-config", s.config, "nobody")
	logs, _ := filepath.Glob(filepath.Join(s.data, "u", testUser, "*", "log"))
	var damaged string
	for _, l := range logs {
		if st, err := os.Stat(l); err == nil && st.Size() > 100 {
			damaged = l
		}
	}
	if damaged == "" {
		t.Fatalf("no INBOX log among %v", logs)
	}
	b, _ := os.ReadFile(damaged)
	b[len(b)/2] ^= 0xff
	os.WriteFile(damaged, b, 0o600)
	out := s.run("", 1, "check", "-config", s.config, testUser)
	if !strings.Contains(out, "problem") {
		t.Fatalf("check did not report the damage:\n%s", out)
	}
	if after, _ := os.ReadFile(damaged); !bytes.Equal(after, b) {
		t.Fatal("check without -repair modified the data directory")
	}
	s.run("", 1, "check", "-config", s.config, "-repair", testUser)
	// The server holds the data directory: check refuses to run.
	s.start()
	s.run("", exTempFail, "check", "-config", s.config, testUser)
}

// TestSIGTERMKeepsAcknowledgedAppends stops the server while sessions are
// appending as fast as they can: every APPEND that got its OK is there after
// a restart, and each session's last word is BYE.
func TestSIGTERMKeepsAcknowledgedAppends(t *testing.T) {
	s := newServer(t, "")
	s.start()
	const writers = 4
	type ack struct {
		uid     imap.UID
		subject string
	}
	acks := make([][]ack, writers)
	logs := make([]*syncBuffer, writers)
	var wg sync.WaitGroup
	started := make(chan struct{}, writers)
	for i := 0; i < writers; i++ {
		logs[i] = &syncBuffer{}
		c := s.login([]dialMode{plain, implicitTLS}[i%2], &imapclient.Options{DebugWriter: logs[i]})
		wg.Go(func() {
			for j := 0; ; j++ {
				subject := fmt.Sprintf("writer %d message %d", i, j)
				raw := message(subject) + strings.Repeat("filler line\r\n", 2000)
				cmd := c.Append("INBOX", int64(len(raw)), nil)
				io.WriteString(cmd, raw)
				cmd.Close()
				d, err := cmd.Wait()
				if err != nil {
					return
				}
				acks[i] = append(acks[i], ack{d.UID, subject})
				if j == 2 {
					started <- struct{}{}
				}
			}
		})
	}
	for i := 0; i < writers; i++ {
		select {
		case <-started:
		case <-time.After(30 * time.Second):
			t.Fatal("writers did not get going")
		}
	}
	if code := s.stop(syscall.SIGTERM); code != 0 {
		t.Fatalf("exit code %d", code)
	}
	wg.Wait()
	for i, l := range logs {
		if !strings.Contains(l.String(), "* BYE") {
			t.Errorf("writer %d: no BYE", i)
		}
	}
	s.start()
	c := s.login(plain, nil)
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	var uids imap.UIDSet
	want := map[imap.UID]string{}
	for _, a := range acks {
		for _, x := range a {
			uids.AddNum(x.uid)
			want[x.uid] = x.subject
		}
	}
	msgs, err := c.Fetch(uids, &imap.FetchOptions{UID: true, Envelope: true}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	got := map[imap.UID]string{}
	for _, m := range msgs {
		got[m.UID] = m.Envelope.Subject
	}
	for uid, subj := range want {
		if got[uid] != subj {
			t.Errorf("acknowledged UID %d (%q) after restart: %q", uid, subj, got[uid])
		}
	}
	t.Logf("%d acknowledged appends, all present after the restart", len(want))
}
