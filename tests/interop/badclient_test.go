package interop_test

// Bad clients, all at once, against one imapd with its default limits
// (limits.max_line_bytes 64 KiB, limits.max_output_bytes 4 MiB): while they
// do their worst, a new well-behaved session must keep completing within
// probeBound, and the server's resident memory must stay under a ceiling.
// Then SIGTERM must stop it, with all of them still connected, with exit
// code 0.

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/myriad-mail/myriad/internal/testserver"
)

const (
	probeBound   = 5 * time.Second // a well-behaved session, dial to LOGOUT
	neverLogin   = 5000            // connections that never log in
	halfOpen     = 500             // connections that never send nor read
	neverReaders = 4               // logged-in clients that ask for lots of output and never read
	bigMessages  = 8               // 1 MiB each, in INBOX, for the never-readers' FETCH
	fetchesEach  = 50              // pipelined UID FETCH 1:8 BODY[] per never-reader: 400 MiB asked for
	longLine     = 10 << 20        // the 10 MB line
	literalSize  = 30 << 20        // announced, never sent (below the 64 MiB APPENDLIMIT)
	holdFor      = 3 * time.Second // probing goes on this long once every bad client is in place
)

// rawConn is a plain TCP client speaking IMAP by hand.
type rawConn struct {
	net.Conn
	r *bufio.Reader
}

func dialRaw(addr string) (*rawConn, error) {
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return nil, err
	}
	return &rawConn{Conn: c, r: bufio.NewReaderSize(c, 4096)}, nil
}

// readUntil reads lines until one starts with prefix (a tag or "+"),
// within d; it returns every line read.
func (c *rawConn) readUntil(prefix string, d time.Duration) (string, error) {
	c.SetReadDeadline(time.Now().Add(d))
	defer c.SetReadDeadline(time.Time{})
	var all strings.Builder
	for {
		line, err := c.r.ReadString('\n')
		all.WriteString(line)
		if err != nil {
			return all.String(), err
		}
		if strings.HasPrefix(line, prefix) {
			return all.String(), nil
		}
	}
}

func (c *rawConn) cmd(line, tag string) (string, error) {
	c.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, line); err != nil {
		return "", err
	}
	return c.readUntil(tag+" ", 10*time.Second)
}

// loginRaw dials, reads the greeting and logs in.
func loginRaw(addr string) (*rawConn, error) {
	c, err := dialRaw(addr)
	if err != nil {
		return nil, err
	}
	if g, err := c.readUntil("* ", 10*time.Second); err != nil || !strings.HasPrefix(g, "* OK") {
		c.Close()
		return nil, fmt.Errorf("greeting %q: %v", g, err)
	}
	if r, err := c.cmd(`l LOGIN alice "correct horse"`+"\r\n", "l"); err != nil || !strings.Contains(r, "l OK") {
		c.Close()
		return nil, fmt.Errorf("LOGIN: %q %v", r, err)
	}
	return c, nil
}

// probe is one well-behaved session: LOGIN, SELECT INBOX, APPEND, UID
// FETCH of what it appended (compared byte for byte), LOGOUT.
// The client is handed to dialed, so that a watchdog can close it.
func probe(s *testserver.Server, n int, dialed chan<- *imapclient.Client) error {
	c, err := s.Dial(testserver.Plain, nil)
	if err != nil {
		return fmt.Errorf("dial: %w", err)
	}
	dialed <- c
	defer c.Close()
	if err := c.Login(testUser, testPass).Wait(); err != nil {
		return fmt.Errorf("LOGIN: %w", err)
	}
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		return fmt.Errorf("SELECT: %w", err)
	}
	raw := fmt.Sprintf("From: probe@example.org\r\nSubject: probe %d\r\nMessage-ID: <probe%d@example.org>\r\n\r\nProbe %d.\r\n", n, n, n)
	app := c.Append("INBOX", int64(len(raw)), nil)
	app.Write([]byte(raw))
	app.Close()
	ad, err := app.Wait()
	if err != nil {
		return fmt.Errorf("APPEND: %w", err)
	}
	if ad.UID == 0 {
		return errors.New("APPEND: no APPENDUID")
	}
	section := &imap.FetchItemBodySection{Peek: true}
	msgs, err := c.Fetch(imap.UIDSetNum(ad.UID), &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{section}}).Collect()
	if err != nil {
		return fmt.Errorf("UID FETCH: %w", err)
	}
	if len(msgs) != 1 || string(msgs[0].FindBodySection(section)) != raw {
		return fmt.Errorf("UID FETCH %d: got %d messages, not the one appended", ad.UID, len(msgs))
	}
	if err := c.Logout().Wait(); err != nil {
		return fmt.Errorf("LOGOUT: %w", err)
	}
	return nil
}

// badEnabled says whether a kind of bad client runs: all of them unless
// INTEROP_BAD names some (comma-separated: halfopen, neverlogin,
// neverread, longline, literal), to find which one does harm.
func badEnabled(kind string) bool {
	only := os.Getenv("INTEROP_BAD")
	return only == "" || slices.Contains(strings.Split(only, ","), kind)
}

func TestBadClients(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the bad-client test holds 5,500 connections for about 20 s")
	}
	s := testserver.New(t)
	s.Edit(`shutdown_timeout = "10s"`, `shutdown_timeout = "5s"`)
	s.Start()
	pid := s.PID()

	// INBOX gets 8 messages of 1 MiB for the never-readers to ask for.
	seed := s.Login(t, testserver.Plain, nil)
	for i := 0; i < bigMessages; i++ {
		var b strings.Builder
		fmt.Fprintf(&b, "From: bob@example.org\r\nSubject: big %d\r\n\r\n", i)
		for b.Len() < 1<<20 {
			b.WriteString(strings.Repeat("0123456789abcdef", 4) + "\r\n")
		}
		app := seed.Append("INBOX", int64(b.Len()), nil)
		io.WriteString(app, b.String())
		app.Close()
		if _, err := app.Wait(); err != nil {
			t.Fatal(err)
		}
	}
	seed.Logout().Wait()
	seed.Close()
	if err := probe(s, 0, make(chan *imapclient.Client, 1)); err != nil {
		t.Fatalf("probe before any bad client: %v", err)
	}
	rss0, err := rssKiB(pid)
	if err != nil {
		t.Fatal(err)
	}

	// The ceiling on the server's VmRSS while the bad clients are at it,
	// over the baseline measured just now (after the seeding):
	//   - 5,500 connections that never log in: netio holds 112 bytes per
	//     connection and a not-authenticated session is small; 4 KiB each
	//     is generous: 22 MiB;
	//   - 4 never-readers: each may hold max_output_bytes (4 MiB) of unsent
	//     output plus the one FETCH response being produced (8 MiB): 48 MiB;
	//   - the 10 MB lines and 30 MB literals must cost at most a read buffer
	//     and max_line_bytes each, not their size: 2 MiB;
	//   - a Go heap may reach twice its live size before a collection
	//     (GOGC=100), so the sum is doubled: 144 MiB.
	// A server without backpressure would hold the 1.6 GB the never-readers
	// ask for; one that buffered whole lines or literals would hold 80 MB
	// more. (Figures measured here: see docs/INTEROP.md.)
	const allowanceKiB = 144 << 10
	var maxRSS atomic.Int64
	maxRSS.Store(rss0)
	stopSampling := make(chan struct{})
	samplerDone := make(chan struct{})
	go func() {
		defer close(samplerDone)
		for {
			if v, err := rssKiB(pid); err == nil && v > maxRSS.Load() {
				maxRSS.Store(v)
			}
			select {
			case <-stopSampling:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()

	begin := time.Now()

	// Probes, one after another, until told to stop.
	type probeResult struct {
		n   int
		d   time.Duration
		err error
	}
	var probes []probeResult
	var probesMu sync.Mutex
	stopProbing := make(chan struct{})
	probingDone := make(chan struct{})
	go func() {
		defer close(probingDone)
		for n := 1; ; n++ {
			select {
			case <-stopProbing:
				return
			default:
			}
			start := time.Now()
			done := make(chan error, 1)
			dialed := make(chan *imapclient.Client, 1)
			go func() { done <- probe(s, n, dialed) }()
			var err error
			select {
			case err = <-done:
			case <-time.After(probeBound):
				err = fmt.Errorf("not done after %v", probeBound)
				// Closing the client ends its commands; a dial has its own
				// 10 s timeout. Probes never overlap.
				select {
				case c := <-dialed:
					c.Close()
				default:
				}
				<-done
			}
			probesMu.Lock()
			probes = append(probes, probeResult{n, time.Since(start), err})
			probesMu.Unlock()
			time.Sleep(50 * time.Millisecond)
		}
	}()

	var open []net.Conn // closed at the end, after the server has stopped
	var openMu sync.Mutex
	keep := func(c net.Conn) {
		openMu.Lock()
		open = append(open, c)
		openMu.Unlock()
	}
	defer func() {
		for _, c := range open {
			c.Close()
		}
	}()
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	nHalfOpen, nNeverLogin, nReaders, nFetches := halfOpen, neverLogin, neverReaders, fetchesEach
	lines, literals := []bool{false, true}, []string{"sync", "nonsync", "login"}
	if !badEnabled("halfopen") {
		nHalfOpen = 0
	}
	if !badEnabled("neverlogin") {
		nNeverLogin = 0
	}
	if !badEnabled("neverread") {
		nReaders = 0
	}
	if !badEnabled("longline") {
		lines = nil
	}
	if !badEnabled("literal") {
		literals = nil
	}

	// Half-open: connect, then neither send nor read.
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < nHalfOpen; i++ {
			c, err := net.DialTimeout("tcp", s.IMAP, 10*time.Second)
			if err != nil {
				errs <- fmt.Errorf("half-open connection %d: %v", i, err)
				return
			}
			keep(c)
		}
	}()

	// Never log in: greeting, CAPABILITY, then nothing. 16 dialers.
	var notLoggedIn atomic.Int64
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; i < nNeverLogin; i += 16 {
				c, err := dialRaw(s.IMAP)
				if err != nil {
					errs <- fmt.Errorf("never-login connection %d: %v", i, err)
					return
				}
				keep(c)
				if g, err := c.readUntil("* ", 10*time.Second); err != nil || !strings.HasPrefix(g, "* OK") {
					errs <- fmt.Errorf("never-login connection %d: greeting %q %v", i, g, err)
					return
				}
				if r, err := c.cmd("c CAPABILITY\r\n", "c"); err != nil || !strings.Contains(r, "c OK") {
					errs <- fmt.Errorf("never-login connection %d: CAPABILITY %q %v", i, r, err)
					return
				}
				notLoggedIn.Add(1)
			}
		}(w)
	}

	// Never read: 50 pipelined FETCHes of the 8 MiB in INBOX, and not a
	// byte read. (The receive buffer keeps its default size: the kernel does
	// not grow it for a reader that does not read, and a tiny one would make
	// the drain below crawl through zero-window probes.)
	readers := make([]*rawConn, nReaders)
	for i := range readers {
		c, err := loginRaw(s.IMAP)
		if err != nil {
			t.Fatalf("never-reader %d: %v", i, err)
		}
		keep(c)
		if r, err := c.cmd("s SELECT INBOX\r\n", "s"); err != nil || !strings.Contains(r, "s OK") {
			t.Fatalf("never-reader %d: SELECT %q %v", i, r, err)
		}
		readers[i] = c
		wg.Add(1)
		go func() {
			defer wg.Done()
			var cmds bytes.Buffer
			for j := 0; j < nFetches; j++ {
				fmt.Fprintf(&cmds, "f%d UID FETCH 1:%d BODY.PEEK[]\r\n", j, bigMessages)
			}
			// The server either stops reading (the write blocks until the
			// deadline) or closes the connection (the write fails): both
			// are fine here; what it may not do is answer everything.
			c.SetWriteDeadline(time.Now().Add(15 * time.Second))
			c.Write(cmds.Bytes())
		}()
	}

	// The 10 MB line, once before login (a NOOP with a 10 MB argument)
	// and once after (a SEARCH with a 10 MB atom); what comes back is
	// checked below.
	type lineResult struct {
		what     string
		reply    string
		err      error
		after    string // the answer to a NOOP after a refusal
		afterErr error
	}
	lineResults := make(chan lineResult, 2)
	for _, authenticated := range lines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			what, prefix := "10 MB line before login", "n NOOP "
			var c *rawConn
			var err error
			if authenticated {
				what, prefix = "10 MB line after login", "n SEARCH SUBJECT "
				c, err = loginRaw(s.IMAP)
			} else {
				c, err = dialRaw(s.IMAP)
				if err == nil {
					_, err = c.readUntil("* ", 10*time.Second)
				}
			}
			if err != nil {
				lineResults <- lineResult{what: what, err: err}
				return
			}
			keep(c)
			// Read whatever the server says while the line goes out.
			replies := make(chan lineResult, 1)
			go func() {
				r, err := c.readUntil("n ", 30*time.Second)
				replies <- lineResult{what: what, reply: r, err: err}
			}()
			line := make([]byte, 0, longLine+64)
			line = append(line, prefix...)
			line = append(line, bytes.Repeat([]byte("x"), longLine)...)
			line = append(line, "\r\n"...)
			c.SetWriteDeadline(time.Now().Add(30 * time.Second))
			c.Write(line) // may fail once the server closes: fine
			r := <-replies
			if r.err == nil && (strings.Contains(r.reply, "n BAD") || strings.Contains(r.reply, "n NO")) {
				// Refused but kept open: the connection must be usable,
				// the rest of the line skipped, not read as commands.
				r.after, r.afterErr = c.cmd("m NOOP\r\n", "m")
			}
			lineResults <- r
		}()
	}

	// Literals that never end: {N} announced, a few bytes, then silence.
	// Synchronizing APPEND (after the "+"), non-synchronizing APPEND
	// (LITERAL+), and a non-synchronizing one in LOGIN before login.
	for _, v := range literals {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var c *rawConn
			var err error
			if v == "login" {
				c, err = dialRaw(s.IMAP)
				if err == nil {
					_, err = c.readUntil("* ", 10*time.Second)
				}
			} else {
				c, err = loginRaw(s.IMAP)
			}
			if err != nil {
				errs <- fmt.Errorf("endless literal (%s): %v", v, err)
				return
			}
			keep(c)
			c.SetWriteDeadline(time.Now().Add(10 * time.Second))
			switch v {
			case "sync":
				io.WriteString(c, "a APPEND INBOX {"+strconv.Itoa(literalSize)+"}\r\n")
				if r, err := c.readUntil("+", 10*time.Second); err != nil {
					errs <- fmt.Errorf("endless literal (sync): no continuation: %q %v", r, err)
					return
				}
				io.WriteString(c, "From: a@example.org\r\nSubject: never ends\r\n")
			case "nonsync":
				io.WriteString(c, "a APPEND INBOX {"+strconv.Itoa(literalSize)+"+}\r\nFrom: a@example.org\r\nSubject: never ends\r\n")
			case "login":
				io.WriteString(c, "a LOGIN alice {1000000+}\r\ncorrect")
			}
		}()
	}

	// Wait for every bad client to be in place, keep probing a while, stop.
	setup := make(chan struct{})
	go func() { wg.Wait(); close(setup) }()
	select {
	case <-setup:
	case <-time.After(90 * time.Second):
		t.Fatalf("the bad clients were not in place after 90 s (%d of %d never-login connections)", notLoggedIn.Load(), nNeverLogin)
	}
	t.Logf("every bad client in place after %v", time.Since(begin).Round(time.Millisecond))
	time.Sleep(holdFor)
	close(stopProbing)
	<-probingDone
	close(stopSampling)
	<-samplerDone
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := notLoggedIn.Load(); n != int64(nNeverLogin) {
		t.Errorf("%d of %d never-login connections got their CAPABILITY answered", n, nNeverLogin)
	}

	// Every probe completed, each within probeBound.
	var worst time.Duration
	for _, p := range probes {
		if p.err != nil {
			t.Errorf("probe %d failed after %v: %v", p.n, p.d, p.err)
		}
		worst = max(worst, p.d)
	}
	if len(probes) < 5 {
		t.Errorf("only %d probes ran while the bad clients were at it, want at least 5", len(probes))
	}
	peak := maxRSS.Load()
	t.Logf("%d probes, slowest %v; server VmRSS %d KiB before, peak %d KiB (+%d KiB, ceiling +%d KiB)",
		len(probes), worst, rss0, peak, peak-rss0, allowanceKiB)
	if peak-rss0 > allowanceKiB {
		t.Errorf("server VmRSS grew by %d KiB, over the %d KiB ceiling", peak-rss0, allowanceKiB)
	}

	// The 10 MB lines: refused (a tagged BAD or NO, or an untagged BYE)
	// or the connection closed; never a tagged OK, never silence.
	for range lines {
		r := <-lineResults
		t.Logf("%s: the server answered %.200q (%v)", r.what, r.reply, r.err)
		switch {
		case strings.Contains(r.reply, "n OK"):
			t.Errorf("%s: accepted: %q", r.what, r.reply)
		case strings.Contains(r.reply, "n BAD"), strings.Contains(r.reply, "n NO"):
			if r.afterErr != nil || !strings.Contains(r.after, "m OK") {
				t.Errorf("%s: refused, but a NOOP after it got %q %v, want m OK", r.what, r.after, r.afterErr)
			}
		case strings.Contains(r.reply, "* BYE"):
		case r.err != nil && !isTimeout(r.err):
			// closed by the server (EOF or reset)
		default:
			t.Errorf("%s: neither refused nor closed within 30 s: %q %v", r.what, r.reply, r.err)
		}
	}

	// The never-readers, read now: the server either gave up on them
	// (closed: EOF or reset, after at most its queued output) or serves
	// them in full; what it may not do is keep them open and send nothing.
	asked := int64(nFetches * bigMessages << 20) // body bytes alone
	for i, c := range readers {
		start := time.Now()
		n, err := drain(c, 5*time.Second, 60*time.Second)
		t.Logf("never-reader %d: %d bytes, then %v, in %v", i, n, err, time.Since(start).Round(time.Millisecond))
		if isTimeout(err) && n < asked {
			t.Errorf("never-reader %d: neither closed nor served: %d of at least %d bytes, then nothing for 5 s", i, n, asked)
		}
	}

	// SIGTERM with everything still connected: exit 0, within
	// shutdown_timeout (5 s) and some slack.
	t.Logf("SIGTERM after %v", time.Since(begin).Round(time.Millisecond))
	code, took := s.Stop(syscall.SIGTERM, 30*time.Second)
	t.Logf("imapd exited %v after SIGTERM", took.Round(time.Millisecond))
	if code != 0 {
		t.Errorf("exit code %d after SIGTERM, want 0", code)
	}
	if took > 15*time.Second {
		t.Errorf("SIGTERM to exit took %v, want under 15 s (shutdown_timeout is 5 s)", took)
	}
	if !strings.Contains(s.Log.String(), "imapd stopped") {
		t.Errorf("no \"imapd stopped\" in the server's log")
	}
}

// TestLargeFetch: a client that reads as fast as it can fetches a message
// larger than max_output_bytes (4 MiB) but within APPENDLIMIT (64 MiB).
// It must get the whole message: max_output_bytes bounds output that a
// client lets pile up, not the size of one response.
func TestLargeFetch(t *testing.T) {
	s := testserver.New(t)
	s.Start()
	c := s.Login(t, testserver.Plain, nil)
	var b strings.Builder
	b.WriteString("From: bob@example.org\r\nSubject: sixteen MiB\r\n\r\n")
	for i := 0; b.Len() < 16<<20; i++ {
		fmt.Fprintf(&b, "%076d\r\n", i)
	}
	raw := b.String()
	app := c.Append("INBOX", int64(len(raw)), nil)
	io.WriteString(app, raw)
	app.Close()
	ad, err := app.Wait()
	if err != nil {
		t.Fatalf("APPEND of %d bytes: %v", len(raw), err)
	}
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		section := &imap.FetchItemBodySection{Peek: true}
		msgs, err := c.Fetch(imap.UIDSetNum(ad.UID), &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{section}}).Collect()
		if err != nil {
			t.Fatalf("FETCH %d of the %d-byte message: %v", i, len(raw), err)
		}
		if len(msgs) != 1 || string(msgs[0].FindBodySection(section)) != raw {
			t.Fatalf("FETCH %d: not the message appended", i)
		}
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// drain reads c until EOF or an error, or until nothing came for idle or
// limit has passed; it returns the bytes read and why it stopped.
func drain(c *rawConn, idle, limit time.Duration) (int64, error) {
	end := time.Now().Add(limit)
	buf := make([]byte, 256<<10)
	var n int64
	for {
		d := time.Now().Add(idle)
		if d.After(end) {
			d = end
		}
		c.SetReadDeadline(d)
		k, err := c.r.Read(buf)
		n += int64(k)
		if err != nil {
			return n, err
		}
	}
}
