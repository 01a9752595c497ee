package main

// Integration tests: they build the real binary (internal/testserver),
// start it on ports chosen free at test time on 127.0.0.1, and drive it
// with the go-imap v2 client over plain, STARTTLS and implicit-TLS
// connections, with go-smtp's LMTP client, and with the admin subcommands.
// commands_test.go runs every IMAP command over each transport.

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
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
	"github.com/myriad-mail/myriad/internal/testserver"
)

func TestMain(m *testing.M) { testserver.Main(m) }

const (
	plain       = testserver.Plain
	startTLS    = testserver.StartTLS
	implicitTLS = testserver.TLS
	testUser    = testserver.User
	testPass    = testserver.Password
)

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
	s := testserver.New(t)
	s.Start()
	for _, mode := range testserver.Modes {
		t.Run(mode.String(), func(t *testing.T) {
			c := s.Login(t, mode, nil)
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
	body := s.Scrape(t)
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
	s.WaitLog(t, "msg=login user=alice", 3)
	s.WaitLog(t, "msg=logout user=alice", 3)
	if !strings.Contains(s.Log.String(), "commands=") || !strings.Contains(s.Log.String(), "addr=127.0.0.1") {
		t.Errorf("logout lines lack the session's counters")
	}
}

func TestPlaintextLoginRefusedWithoutInsecureAuth(t *testing.T) {
	s := testserver.New(t)
	// Drop insecure_auth from the file: plain connections get LOGINDISABLED.
	s.Edit("insecure_auth = true", "insecure_auth = false")
	s.Start()
	c := s.MustDial(t, plain, nil)
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
	s.Login(t, startTLS, nil) // and STARTTLS still works
}

func TestConcurrentSessionsOneMailbox(t *testing.T) {
	s := testserver.New(t)
	s.Start()
	const sessions, each = 6, 4
	modes := testserver.Modes
	clients := make([]*imapclient.Client, sessions)
	for i := range clients {
		clients[i] = s.Login(t, modes[i%len(modes)], nil)
		if _, err := clients[i].Select("INBOX", nil).Wait(); err != nil {
			t.Fatal(err)
		}
	}
	s.WaitMetric(t, fmt.Sprintf(`myriad_sessions{state="selected"} %d`, sessions))
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
func idleClient(t *testing.T, s *testserver.Server, mode testserver.Mode) (*imapclient.Client, *imapclient.IdleCommand, chan uint32) {
	t.Helper()
	exists := make(chan uint32, 16)
	c := s.Login(t, mode, &imapclient.Options{UnilateralDataHandler: &imapclient.UnilateralDataHandler{
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
	s := testserver.New(t)
	s.Start()
	// One IDLE session over each transport; one delivery wakes them all.
	var idles []*imapclient.IdleCommand
	var existsChs []chan uint32
	for _, mode := range testserver.Modes {
		_, idle, exists := idleClient(t, s, mode)
		idles, existsChs = append(idles, idle), append(existsChs, exists)
	}
	s.WaitMetric(t, `myriad_sessions{state="idle"} 3`)

	lc := dialLMTP(t, s)
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
	for _, exists := range existsChs {
		waitExists(t, exists, 1)
	}
	s.WaitMetric(t, `myriad_lmtp_deliveries_total{result="ok"} 1`)
	s.WaitMetric(t, `myriad_wakeups_total 3`)
	for _, idle := range idles {
		if err := idle.Close(); err != nil {
			t.Fatal(err)
		}
		if err := idle.Wait(); err != nil {
			t.Fatal(err)
		}
	}
	c := s.Login(t, plain, nil)
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
	s := testserver.New(t)
	msg := strings.ReplaceAll(message("delivered offline"), "\r\n", "\n")
	// Server stopped: deliver opens the store itself.
	s.Run(t, msg, 0, "deliver", "-config", s.Config, "-f", "bob@example.org", testUser)
	s.Run(t, msg, exNoUser, "deliver", "-config", s.Config, "nobody")
	s.Run(t, "", exDataErr, "deliver", "-config", s.Config, testUser)
	s.Run(t, msg, exUsage, "deliver", "-config", s.Config)

	// Server running: deliver goes through its LMTP listener, and an IDLE
	// session hears of it.
	s.Start()
	_, idle, exists := idleClient(t, s, startTLS)
	time.Sleep(100 * time.Millisecond)
	s.Run(t, strings.ReplaceAll(message("delivered online"), "\r\n", "\n"), 0, "deliver", "-config", s.Config, testUser)
	waitExists(t, exists, 2)
	idle.Close()
	s.Run(t, msg, exNoUser, "deliver", "-config", s.Config, "nobody")

	c := s.Login(t, plain, nil)
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
	s := testserver.New(t)
	s.Start()
	// A user added while the server runs can log in at once (the command
	// tells the server to reload).
	s.Run(t, "s3cret\n", 0, "user", "add", "-config", s.Config, "carol")
	s.Run(t, "x\n", exSoftware, "user", "add", "-config", s.Config, "carol")
	if out := s.Run(t, "", 0, "user", "list", "-config", s.Config); out != "alice\ncarol\n" {
		t.Fatalf("user list: %q", out)
	}
	s.WaitLog(t, "reloaded users file", 1)
	c := s.MustDial(t, implicitTLS, nil)
	if err := c.Login("carol", "s3cret").Wait(); err != nil {
		t.Fatal(err)
	}
	pw := strings.TrimSpace(s.Run(t, "", 0, "user", "passwd", "-config", s.Config, "-random", "carol"))
	if len(pw) < 12 {
		t.Fatalf("random password %q", pw)
	}
	s.WaitLog(t, "reloaded users file", 2)
	c = s.MustDial(t, implicitTLS, nil)
	if err := c.Login("carol", pw).Wait(); err != nil {
		t.Fatal(err)
	}
	s.Run(t, "", 0, "user", "del", "-config", s.Config, "carol")
	s.WaitLog(t, "reloaded users file", 3)
	c = s.MustDial(t, implicitTLS, nil)
	if err := c.Login("carol", pw).Wait(); err == nil {
		t.Fatal("deleted user logged in")
	}
}

func TestLoginFailuresLimited(t *testing.T) {
	s := testserver.New(t)
	s.Edit("[auth]\n", "[auth]\nfailure_delay = \"300ms\"\nmax_failures_per_addr = 3\nfailure_window = \"1m\"\n")
	s.Start()
	c := s.MustDial(t, plain, nil)
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
	if err := s.MustDial(t, implicitTLS, nil).Login(testUser, testPass).Wait(); err == nil {
		t.Fatal("login accepted after too many failures from the address")
	}
}

func TestSIGTERMWithSessionsOpen(t *testing.T) {
	s := testserver.New(t)
	s.Start()
	type watched struct {
		name string
		c    *imapclient.Client
		log  *testserver.SyncBuffer
	}
	var ws []watched
	open := func(name string, mode testserver.Mode, idle bool) {
		log := &testserver.SyncBuffer{}
		c := s.Login(t, mode, &imapclient.Options{DebugWriter: log})
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
	raw, err := net.DialTimeout("tcp", s.IMAP, 10*time.Second)
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
	dialLMTP(t, s)
	time.Sleep(200 * time.Millisecond)

	start := time.Now()
	if code, _ := s.Stop(syscall.SIGTERM, 40*time.Second); code != 0 {
		t.Fatalf("exit code %d after SIGTERM\n%s", code, s.Log.String())
	}
	if d := time.Since(start); d > 8*time.Second { // shutdown_timeout is 10s
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
	if log := s.Log.String(); !strings.Contains(log, "imapd stopped") {
		t.Fatalf("no clean stop in the log:\n%s", log)
	}
	// The data directory is free again: an offline delivery works.
	s.Run(t, message("after stop"), 0, "deliver", "-config", s.Config, testUser)
}

func TestSIGHUPReloadsCertificate(t *testing.T) {
	s := testserver.New(t)
	s.Start()
	serial := func() string {
		conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", s.IMAPS,
			&tls.Config{InsecureSkipVerify: true})
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		return conn.ConnectionState().PeerCertificates[0].SerialNumber.String()
	}
	before := serial()
	if err := tlsutil.WriteSelfSigned(s.Cert, s.Key); err != nil {
		t.Fatal(err)
	}
	s.Cmd.Process.Signal(syscall.SIGHUP)
	s.WaitLog(t, "reloaded users file and certificate", 1)
	if after := serial(); after == before {
		t.Fatal("certificate not reloaded on SIGHUP")
	}
}

func TestDemo(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	imapAddr, metrics := testserver.FreeAddr(t), testserver.FreeAddr(t)
	start := func() (*exec.Cmd, *testserver.SyncBuffer, string) {
		out := &testserver.SyncBuffer{}
		cmd := exec.Command(testserver.Binary(), "demo", "-data", data, "-imap", imapAddr, "-imaps", "off", "-lmtp", "off", "-metrics", metrics)
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		kill := time.AfterFunc(2*time.Minute, func() { cmd.Process.Kill() })
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
	s := testserver.New(t)
	for i := 0; i < 3; i++ {
		s.Run(t, message(fmt.Sprint("check ", i)), 0, "deliver", "-config", s.Config, testUser)
	}
	if out := s.Run(t, "", 0, "check", "-config", s.Config, "-all"); !strings.Contains(out, "alice: 6 mailboxes, 3 messages: ok") {
		t.Fatalf("check of a sound store:\n%s", out)
	}
	s.Run(t, "", exNoUser, "check", "-config", s.Config, "nobody")
	logs, _ := filepath.Glob(filepath.Join(s.Data, "u", testUser, "*", "log"))
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
	out := s.Run(t, "", 1, "check", "-config", s.Config, testUser)
	if !strings.Contains(out, "problem") {
		t.Fatalf("check did not report the damage:\n%s", out)
	}
	if after, _ := os.ReadFile(damaged); !bytes.Equal(after, b) {
		t.Fatal("check without -repair modified the data directory")
	}
	s.Run(t, "", 1, "check", "-config", s.Config, "-repair", testUser)
	// The server holds the data directory: check refuses to run, and so
	// does a second server.
	s.Start()
	s.Run(t, "", exTempFail, "check", "-config", s.Config, testUser)
	s.Run(t, "", exTempFail, "serve", "-config", s.Config)
}

// TestSIGTERMKeepsAcknowledgedAppends stops the server while sessions are
// appending as fast as they can: every APPEND that got its OK is there after
// a restart, and each session's last word is BYE.
func TestSIGTERMKeepsAcknowledgedAppends(t *testing.T) {
	s := testserver.New(t)
	s.Start()
	const writers = 4
	type ack struct {
		uid     imap.UID
		subject string
	}
	acks := make([][]ack, writers)
	logs := make([]*testserver.SyncBuffer, writers)
	var wg sync.WaitGroup
	started := make(chan struct{}, writers)
	for i := 0; i < writers; i++ {
		logs[i] = &testserver.SyncBuffer{}
		c := s.Login(t, []testserver.Mode{plain, implicitTLS}[i%2], &imapclient.Options{DebugWriter: logs[i]})
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
	if code, _ := s.Stop(syscall.SIGTERM, 40*time.Second); code != 0 {
		t.Fatalf("exit code %d", code)
	}
	wg.Wait()
	for i, l := range logs {
		if !strings.Contains(l.String(), "* BYE") {
			t.Errorf("writer %d: no BYE", i)
		}
	}
	s.Start()
	c := s.Login(t, plain, nil)
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

// TestSIGTERMWithInputUnread: at SIGTERM every session gets `* BYE` and
// then a clean end of stream, not a connection reset, also when the server
// has input from it that it has not read: close(2) with unread input sends
// an RST instead of a FIN, and a client that reads after it gets
// ECONNRESET instead of BYE (netio's half-close at shutdown prevents it).
// Over each transport, two clients: one in the middle of an APPEND literal
// (writing until 300 ms after the SIGTERM), and one whose failed LOGIN is
// held for auth.failure_delay while it sends 64 KiB more, which the server
// cannot have read when it says BYE: without the half-close, that one
// fails every time. Both read only once the server has exited.
func TestSIGTERMWithInputUnread(t *testing.T) {
	s := testserver.New(t)
	s.Edit("[auth]\n", "[auth]\nfailure_delay = \"3s\"\n")
	s.Start()
	stopWriting := make(chan struct{})
	var writers sync.WaitGroup
	type client struct {
		what string
		w    *wire
	}
	var clients []client
	for _, mode := range testserver.Modes {
		w := dialWire(t, s, mode)
		w.login(testUser)
		w.n++
		fmt.Fprintf(w.conn, "w%d APPEND INBOX {50000000}\r\n", w.n)
		if l := w.line(); !strings.HasPrefix(l, "+ ") {
			t.Fatalf("%v: APPEND: %q", mode, l)
		}
		clients = append(clients, client{mode.String() + " APPEND literal", w})
		writers.Go(func() {
			chunk := bytes.Repeat([]byte("x"), 16<<10)
			for {
				select {
				case <-stopWriting:
					return
				default:
				}
				if _, err := w.conn.Write(chunk); err != nil {
					return
				}
			}
		})
		b := dialWire(t, s, mode)
		fmt.Fprintf(b.conn, "b1 LOGIN %s wrong\r\n", testUser)
		clients = append(clients, client{mode.String() + " failed LOGIN", b})
	}
	time.Sleep(300 * time.Millisecond) // the literals flow; the LOGINs wait
	junk := strings.Repeat("x", 1000) + "\r\n"
	for _, c := range clients {
		if strings.HasSuffix(c.what, "LOGIN") {
			for range 64 {
				io.WriteString(c.w.conn, junk)
			}
		}
	}
	time.AfterFunc(300*time.Millisecond, func() { close(stopWriting) })
	if code, took := s.Stop(syscall.SIGTERM, 40*time.Second); code != 0 || took > 8*time.Second {
		t.Fatalf("exit code %d after SIGTERM, %v", code, took)
	}
	writers.Wait()
	for _, c := range clients {
		var lines []string
		var err error
		for {
			var l string
			if l, err = c.w.r.ReadString('\n'); err != nil {
				break
			}
			lines = append(lines, strings.TrimSuffix(l, "\r\n"))
		}
		if len(lines) == 0 || !strings.HasPrefix(lines[len(lines)-1], "* BYE ") {
			t.Errorf("%s: the server's last words were %q, want * BYE", c.what, lines)
		}
		if !errors.Is(err, io.EOF) {
			t.Errorf("%s: after %q: %v, want EOF", c.what, lines, err)
		}
	}
}

// TestLMTPRecipientForms: RCPT TO accepts the user's bare name and
// user@any-domain (both deliver to the user), refuses unknown users, and
// leaves the message content as it was sent.
func TestLMTPRecipientForms(t *testing.T) {
	s := testserver.New(t)
	s.Start()
	lc := dialLMTP(t, s)
	if err := lc.Mail("bob@example.org", nil); err != nil {
		t.Fatal(err)
	}
	for _, rcpt := range []string{testUser, testUser + "@elsewhere.example"} {
		if err := lc.Rcpt(rcpt, nil); err != nil {
			t.Fatalf("RCPT TO:<%s>: %v", rcpt, err)
		}
	}
	for _, rcpt := range []string{"nobody", "nobody@example.org"} {
		if se, ok := lc.Rcpt(rcpt, nil).(*smtp.SMTPError); !ok || se.Code != 550 {
			t.Errorf("RCPT TO:<%s>: %v, want 550", rcpt, se)
		}
	}
	w, err := lc.Data()
	if err != nil {
		t.Fatal(err)
	}
	body := "Subject: forms\r\n\r\nRCPT TO:<alice>\r\n.leading dot\r\n"
	io.WriteString(w, body)
	if _, err := w.CloseWithLMTPResponse(); err != nil {
		t.Fatal(err)
	}
	lc.Quit()
	c := s.Login(t, plain, nil)
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	msgs, err := c.Fetch(imap.SeqSet{{Start: 1, Stop: 0}}, &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{{Peek: true}}}).Collect()
	if err != nil || len(msgs) != 2 {
		t.Fatalf("INBOX: %d messages (%v), want 2", len(msgs), err)
	}
	for _, m := range msgs {
		if got := string(m.FindBodySection(&imap.FetchItemBodySection{})); got != "Return-Path: <bob@example.org>\r\n"+body {
			t.Errorf("delivered %q", got)
		}
	}
}

// TestAdminCommandsNeedNoTLS: the administration subcommands read the same
// config file as the server but need none of its TLS setup: with the
// default listen.imaps and no certificate (or one that does not exist)
// they work.
func TestAdminCommandsNeedNoTLS(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "imapd.toml")
	data := filepath.Join(dir, "data")
	s := &testserver.Server{} // only for Run
	for i, extra := range []string{"", "\n[tls]\ncert = \"/nonexistent/cert.pem\"\nkey = \"/nonexistent/key.pem\"\n"} {
		os.WriteFile(cfg, []byte(fmt.Sprintf("data_dir = %q\n%s", data, extra)), 0o600)
		user := fmt.Sprint("admin", i)
		s.Run(t, "pw\n", 0, "user", "add", "-config", cfg, user)
		s.Run(t, "pw2\n", 0, "user", "passwd", "-config", cfg, user)
		if out := s.Run(t, "", 0, "user", "list", "-config", cfg); !strings.Contains(out, user+"\n") {
			t.Errorf("user list: %q", out)
		}
		s.Run(t, message("admin"), 0, "deliver", "-config", cfg, user)
		s.Run(t, "", 0, "check", "-config", cfg, user)
		s.Run(t, "", 0, "user", "del", "-config", cfg, user)
	}
	// serve, on the other hand, says what is missing.
	_, errs, code, _ := testserver.RunBounded(30*time.Second, nil, "", testserver.Binary(), "serve", "-config", cfg, "-imap", "off")
	if code != exConfig || !strings.Contains(errs, "/nonexistent/cert.pem") {
		t.Errorf("serve with an unreadable certificate: exit %d, %q", code, errs)
	}
}

// dialLMTP connects an LMTP client to s, says LHLO, and closes it when the
// test ends.
func dialLMTP(t *testing.T, s *testserver.Server) *smtp.Client {
	t.Helper()
	conn, err := net.DialTimeout("tcp", s.LMTP, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	lc := smtp.NewClientLMTP(conn)
	t.Cleanup(func() { lc.Close() })
	if err := lc.Hello("mx.example.org"); err != nil {
		t.Fatal(err)
	}
	return lc
}
