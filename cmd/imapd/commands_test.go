package main

// TestEveryCommand runs every IMAP command the server implements against
// the real binary, once over each transport (plaintext with insecure_auth,
// STARTTLS, implicit TLS), the three in parallel on one server, each as its
// own user so that every result is exact. go-imap v2 is the client; the
// few commands it does not send (LSUB, CHECK, STORE UNCHANGEDSINCE's
// MODIFIED code, STARTTLS where it is refused) go over a raw connection of
// the same transport.

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-sasl"

	"github.com/myriad-mail/myriad/internal/testserver"
)

// The messages appended, with what the server must say about them.
var (
	cmdMsg1 = crlf(`From: Alice Example <alice@example.org>
To: Bob <bob@example.net>
Subject: Hello world
Date: Mon, 02 Nov 2026 12:00:00 +0000
Message-ID: <m1@example.org>
Content-Type: text/plain; charset=us-ascii

Hello Bob,
this is the first message.
`)
	cmdMsg2Part1 = crlf("See the attached report.\n")
	cmdMsg2      = crlf(`From: Bob <bob@example.net>
To: Alice Example <alice@example.org>
Subject: Quarterly report
Date: Tue, 03 Nov 2026 12:30:00 +0100
Message-ID: <m2@example.net>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="b1"

preamble
--b1
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: quoted-printable

`) + cmdMsg2Part1 + crlf(`
--b1
Content-Type: application/octet-stream; name="r.bin"
Content-Transfer-Encoding: base64

AAECAw==
--b1--
`)
	cmdMsg3Body = crlf("Are you free for lunch on Thursday?\n")
	cmdMsg3     = crlf(`From: Carol <carol@example.com>
To: alice@example.org
Subject: Lunch on Thursday?
Date: Thu, 05 Nov 2026 09:15:00 -0500

`) + cmdMsg3Body

	// The CRLF before a boundary belongs to the boundary (RFC 2046 §5.1.1):
	// part 2's body is the 8 bytes "AAECAw==".

	// Internal dates at midday UTC, so that their day is the same in any
	// zone the server compares in.
	cmdDates = []time.Time{
		time.Date(2026, 11, 2, 12, 0, 0, 0, time.UTC),
		time.Date(2026, 11, 3, 11, 30, 0, 0, time.UTC),
		time.Date(2026, 11, 5, 14, 15, 0, 0, time.UTC),
	}
	cmdMsgs  = []string{cmdMsg1, cmdMsg2, cmdMsg3}
	cmdFlags = [][]imap.Flag{{imap.FlagSeen}, {imap.FlagFlagged, "$Report"}, nil}
)

// allSeq is 1:*.
var allSeq = imap.SeqSet{{Start: 1, Stop: 0}}

func crlf(s string) string { return strings.ReplaceAll(s, "\n", "\r\n") }

// capsCommon is what the server advertises in every state (statemachine's
// list, with the default APPENDLIMIT).
const capsCommon = "IMAP4rev1 IMAP4rev2 LITERAL+ SASL-IR ID ENABLE IDLE NAMESPACE UNSELECT UIDPLUS MOVE CHILDREN LIST-EXTENDED LIST-STATUS SPECIAL-USE ESEARCH SEARCHRES STATUS=SIZE CONDSTORE QRESYNC BINARY APPENDLIMIT=67108864"

func capSet(s string) imap.CapSet {
	cs := imap.CapSet{}
	for _, c := range strings.Fields(s) {
		cs[imap.Cap(c)] = struct{}{}
	}
	return cs
}

func capList(cs imap.CapSet) string {
	var l []string
	for c := range cs {
		l = append(l, string(c))
	}
	sort.Strings(l)
	return strings.Join(l, " ")
}

func wantCaps(t *testing.T, what string, got imap.CapSet, want string) {
	t.Helper()
	if capList(got) != capList(capSet(want)) {
		t.Errorf("%s: capabilities\n  %s\nwant\n  %s", what, capList(got), capList(capSet(want)))
	}
}

// wantErr checks that err is a tagged NO or BAD with the given code ("":
// any).
func wantErr(t *testing.T, what string, err error, typ imap.StatusResponseType, code imap.ResponseCode) {
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

func flagKey(fs []imap.Flag) string {
	s := make([]string, len(fs))
	for i, f := range fs {
		s[i] = strings.ToLower(string(f))
	}
	sort.Strings(s)
	return strings.Join(s, " ")
}

func wantFlags(t *testing.T, what string, got []imap.Flag, want ...imap.Flag) {
	t.Helper()
	if flagKey(got) != flagKey(want) {
		t.Errorf("%s: flags %v, want %v", what, got, want)
	}
}

// listing is LIST's answer as "name (sorted attributes)" lines.
func listing(t *testing.T, c *imapclient.Client, ref, pat string, opts *imap.ListOptions) map[string]*imap.ListData {
	t.Helper()
	l, err := c.List(ref, pat, opts).Collect()
	if err != nil {
		t.Fatalf("LIST %q %q: %v", ref, pat, err)
	}
	m := map[string]*imap.ListData{}
	for _, d := range l {
		if d.Delim != '/' {
			t.Errorf("LIST: %q has delimiter %q", d.Mailbox, d.Delim)
		}
		m[d.Mailbox] = d
	}
	return m
}

func attrs(m map[string]*imap.ListData) string {
	var lines []string
	for name, d := range m {
		a := make([]string, len(d.Attrs))
		for i, x := range d.Attrs {
			a[i] = strings.ToLower(string(x))
		}
		sort.Strings(a)
		lines = append(lines, name+" ("+strings.Join(a, " ")+")")
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

func wantList(t *testing.T, what string, got map[string]*imap.ListData, want ...string) {
	t.Helper()
	sort.Strings(want)
	if g, w := attrs(got), strings.Join(want, "\n"); g != w {
		t.Errorf("%s:\n%s\nwant\n%s", what, g, w)
	}
}

// wire is a raw IMAP connection over one of the transports, for what
// go-imap does not send.
type wire struct {
	t    *testing.T
	conn net.Conn
	r    *bufio.Reader
	n    int
}

func dialWire(t *testing.T, s *testserver.Server, mode testserver.Mode) *wire {
	t.Helper()
	cfg := &tls.Config{RootCAs: s.CertPool, ServerName: "localhost"}
	var conn net.Conn
	var err error
	if mode == testserver.TLS {
		conn, err = tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", s.IMAPS, cfg)
	} else {
		conn, err = net.DialTimeout("tcp", s.IMAP, 10*time.Second)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	w := &wire{t: t, conn: conn, r: bufio.NewReader(conn)}
	if g := w.line(); !strings.HasPrefix(g, "* OK ") {
		t.Fatalf("greeting %q", g)
	}
	if mode == testserver.StartTLS {
		if got := w.do("STARTTLS"); !strings.HasPrefix(got[len(got)-1], "OK ") {
			t.Fatalf("STARTTLS: %q", got)
		}
		tc := tls.Client(conn, cfg)
		if err := tc.Handshake(); err != nil {
			t.Fatal(err)
		}
		w.conn, w.r = tc, bufio.NewReader(tc)
	}
	return w
}

func (w *wire) line() string {
	w.t.Helper()
	l, err := w.r.ReadString('\n')
	if err != nil {
		w.t.Fatalf("read: %v (after %q)", err, l)
	}
	return strings.TrimSuffix(l, "\r\n")
}

// do sends one command and returns the untagged lines and, last, the
// tagged status without its tag.
func (w *wire) do(cmd string) []string {
	w.t.Helper()
	w.n++
	tag := fmt.Sprintf("w%d", w.n)
	if _, err := fmt.Fprintf(w.conn, "%s %s\r\n", tag, cmd); err != nil {
		w.t.Fatal(err)
	}
	var out []string
	for {
		l := w.line()
		if rest, ok := strings.CutPrefix(l, tag+" "); ok {
			return append(out, rest)
		}
		out = append(out, l)
	}
}

func (w *wire) login(user string) {
	w.t.Helper()
	if got := w.do(fmt.Sprintf("LOGIN %s %q", user, testPass)); !strings.HasPrefix(got[len(got)-1], "OK ") {
		w.t.Fatalf("LOGIN: %q", got)
	}
}

func TestEveryCommand(t *testing.T) {
	s := testserver.New(t)
	// The suite fails one login on purpose; do not make it wait.
	s.Edit("[auth]\n", "[auth]\nfailure_delay = \"10ms\"\n")
	for _, m := range testserver.Modes {
		s.Run(t, testPass+"\n", 0, "user", "add", "-config", s.Config, "u-"+m.String())
	}
	s.Start()
	start := time.Now()
	t.Run("transports", func(t *testing.T) {
		for _, m := range testserver.Modes {
			t.Run(m.String(), func(t *testing.T) {
				t.Parallel()
				commandSuite(t, s, m, "u-"+m.String())
			})
		}
	})
	t.Logf("three transports in %v", time.Since(start).Round(time.Millisecond))
}

// unilateral collects what a client hears outside its commands.
type unilateral struct {
	exists   chan uint32
	expunges chan uint32
}

func newUnilateral() (*unilateral, *imapclient.Options) {
	u := &unilateral{exists: make(chan uint32, 64), expunges: make(chan uint32, 64)}
	return u, &imapclient.Options{UnilateralDataHandler: &imapclient.UnilateralDataHandler{
		Expunge: func(seq uint32) { u.expunges <- seq },
		Mailbox: func(d *imapclient.UnilateralDataMailbox) {
			if d.NumMessages != nil {
				u.exists <- *d.NumMessages
			}
		},
	}}
}

func recv[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatalf("no %s within 10 s", what)
	}
	var zero T
	return zero
}

func drainCh[T any](ch <-chan T) []T {
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

func commandSuite(t *testing.T, s *testserver.Server, mode testserver.Mode, user string) {
	step := func(name string, f func(t *testing.T)) {
		t.Helper()
		if !t.Run(name, f) {
			t.FailNow() // later steps build on this one
		}
	}
	u, opts := newUnilateral()
	var c *imapclient.Client
	var uidValidity uint32
	var modseq uint64 // HIGHESTMODSEQ after the seeding

	c = s.MustDial(t, mode, opts) // for the whole suite
	step("greeting and CAPABILITY", func(t *testing.T) {
		// RFC 9051 §7.1.1/§6.2.1: STARTTLS only where TLS is not on yet;
		// AUTH=PLAIN since insecure_auth allows it in the clear too.
		want := capsCommon + " AUTH=PLAIN"
		if mode == testserver.Plain {
			want += " STARTTLS"
		}
		caps, err := c.Capability().Wait()
		if err != nil {
			t.Fatal(err)
		}
		wantCaps(t, "CAPABILITY before login", caps, want)
	})
	step("NOOP", func(t *testing.T) {
		if err := c.Noop().Wait(); err != nil {
			t.Fatal(err)
		}
	})
	step("ID", func(t *testing.T) {
		d, err := c.ID(&imap.IDData{Name: "go-imap", Version: "2"}).Wait()
		if err != nil {
			t.Fatal(err)
		}
		if d == nil || d.Name != "Myriad localhost" {
			t.Errorf("ID = %+v, want name \"Myriad localhost\"", d)
		}
	})
	step("STARTTLS", func(t *testing.T) {
		w := dialWire(t, s, mode)
		got := w.do("STARTTLS")
		if mode == testserver.Plain {
			// Plain: STARTTLS works (the starttls transport runs the whole
			// suite over it); here, a second STARTTLS inside it is refused.
			w2 := dialWire(t, s, testserver.StartTLS)
			got = w2.do("STARTTLS")
		}
		// RFC 9051 §6.2.1: not valid once TLS is on.
		if len(got) != 1 || !strings.HasPrefix(got[0], "BAD ") {
			t.Errorf("STARTTLS over TLS: %q, want a tagged BAD", got)
		}
	})
	step("LOGIN wrong password", func(t *testing.T) {
		wantErr(t, "LOGIN", c.Login(user, "wrong").Wait(), imap.StatusResponseTypeNo, imap.ResponseCodeAuthenticationFailed)
		if st := c.State(); st != imap.ConnStateNotAuthenticated {
			t.Errorf("state %v", st)
		}
	})
	step("AUTHENTICATE PLAIN with SASL-IR", func(t *testing.T) {
		var trace testserver.SyncBuffer
		c2 := s.MustDial(t, mode, &imapclient.Options{DebugWriter: &trace})
		if err := c2.Authenticate(sasl.NewPlainClient("", user, testPass)); err != nil {
			t.Fatal(err)
		}
		// RFC 4959: the initial response rides on the command line; the
		// server sends no "+" continuation.
		ir := "AUTHENTICATE PLAIN " + b64("\x00"+user+"\x00"+testPass) + "\r\n"
		if tr := trace.String(); !strings.Contains(tr, ir) || strings.Contains(tr, "\n+") {
			t.Errorf("exchange lacks %q or has a continuation:\n%s", ir, tr)
		}
		if _, err := c2.Select("INBOX", nil).Wait(); err != nil {
			t.Errorf("SELECT after AUTHENTICATE: %v", err)
		}
		wantErr(t, "AUTHENTICATE as another user", s.MustDial(t, mode, nil).Authenticate(sasl.NewPlainClient("alice", user, testPass)),
			imap.StatusResponseTypeNo, imap.ResponseCodeAuthorizationFailed)
	})
	step("LOGIN", func(t *testing.T) {
		if err := c.Login(user, testPass).Wait(); err != nil {
			t.Fatal(err)
		}
		caps, err := c.Capability().Wait()
		if err != nil {
			t.Fatal(err)
		}
		// RFC 9051 §6.2.3: no AUTH= or STARTTLS once authenticated.
		wantCaps(t, "CAPABILITY after login", caps, capsCommon)
		wantErr(t, "second LOGIN", c.Login(user, testPass).Wait(), imap.StatusResponseTypeBad, "")
	})
	step("ENABLE", func(t *testing.T) {
		// RFC 5161 §3.1: ENABLED names what this command enabled, and
		// nothing not advertised (UTF8=ACCEPT).
		d, err := c.Enable(imap.CapIMAP4rev2, imap.CapUTF8Accept).Wait()
		if err != nil {
			t.Fatal(err)
		}
		wantCaps(t, "ENABLED", d.Caps, "IMAP4rev2")
		if d, err = c.Enable(imap.CapIMAP4rev2).Wait(); err != nil || len(d.Caps) != 0 {
			t.Errorf("second ENABLE IMAP4rev2: %+v %v, want nothing enabled", d, err)
		}
		// go-imap only sends ENABLE for what it can parse; CONDSTORE and
		// QRESYNC over the wire (RFC 7162 §3.1, §3.2.3).
		w := dialWire(t, s, mode)
		w.login(user)
		if got := w.do("ENABLE CONDSTORE QRESYNC"); len(got) != 2 || got[0] != "* ENABLED CONDSTORE QRESYNC" || !strings.HasPrefix(got[1], "OK ") {
			t.Errorf("ENABLE CONDSTORE QRESYNC: %q", got)
		}
	})
	step("NAMESPACE", func(t *testing.T) {
		d, err := c.Namespace().Wait()
		if err != nil {
			t.Fatal(err)
		}
		want := &imap.NamespaceData{Personal: []imap.NamespaceDescriptor{{Prefix: "", Delim: '/'}}}
		if !reflect.DeepEqual(d, want) {
			t.Errorf("NAMESPACE %+v, want %+v", d, want)
		}
	})
	step("LIST defaults", func(t *testing.T) {
		wantList(t, "LIST \"\" *", listing(t, c, "", "*", nil),
			`Archive (\archive \hasnochildren)`,
			`Drafts (\drafts \hasnochildren)`, `INBOX (\hasnochildren)`, `Junk (\hasnochildren \junk)`,
			`Sent (\hasnochildren \sent)`, `Trash (\hasnochildren \trash)`)
	})
	step("CREATE", func(t *testing.T) {
		for _, name := range []string{"Work", "Work/Projects", "Later"} {
			if err := c.Create(name, nil).Wait(); err != nil {
				t.Fatalf("CREATE %s: %v", name, err)
			}
		}
		wantErr(t, "CREATE existing", c.Create("Work", nil).Wait(), imap.StatusResponseTypeNo, imap.ResponseCodeAlreadyExists)
		wantList(t, "LIST \"\" Work*", listing(t, c, "", "Work*", nil),
			`Work (\haschildren)`, `Work/Projects (\hasnochildren)`)
		wantList(t, "LIST \"\" %", listing(t, c, "", "%", &imap.ListOptions{SelectSpecialUse: true}),
			`Archive (\archive \hasnochildren)`, `Drafts (\drafts \hasnochildren)`, `Junk (\hasnochildren \junk)`,
			`Sent (\hasnochildren \sent)`, `Trash (\hasnochildren \trash)`)
	})
	step("SUBSCRIBE, LIST (SUBSCRIBED), LSUB, UNSUBSCRIBE", func(t *testing.T) {
		for _, name := range []string{"Work/Projects", "Later"} {
			if err := c.Subscribe(name).Wait(); err != nil {
				t.Fatal(err)
			}
		}
		got := listing(t, c, "", "*", &imap.ListOptions{SelectSubscribed: true})
		delete(got, "INBOX") // subscribed or not by default: not this test's business
		for _, d := range []string{"Archive", "Drafts", "Junk", "Sent", "Trash"} {
			delete(got, d)
		}
		wantList(t, "LIST (SUBSCRIBED)", got, `Later (\hasnochildren \subscribed)`, `Work/Projects (\hasnochildren \subscribed)`)
		// RFC 5258 §3.5: RECURSIVEMATCH reports a parent with subscribed
		// children in CHILDINFO.
		l := listing(t, c, "", "Work", &imap.ListOptions{SelectSubscribed: true, SelectRecursiveMatch: true})
		if d := l["Work"]; d == nil || d.ChildInfo == nil || !d.ChildInfo.Subscribed {
			t.Errorf("LIST (SUBSCRIBED RECURSIVEMATCH) Work: %+v", d)
		}
		if err := c.Unsubscribe("Later").Wait(); err != nil {
			t.Fatal(err)
		}
		w := dialWire(t, s, mode)
		w.login(user)
		lsub := w.do(`LSUB "" "*"`)
		if !slices.Contains(lsub, `* LSUB () "/" Work/Projects`) || slices.ContainsFunc(lsub, func(l string) bool { return strings.Contains(l, "Later") }) ||
			!strings.HasPrefix(lsub[len(lsub)-1], "OK ") {
			t.Errorf("LSUB after UNSUBSCRIBE Later: %q", lsub)
		}
		// RFC 3501 §6.3.9: with %, a parent that is not subscribed but
		// has subscribed children is listed \Noselect.
		lsub = w.do(`LSUB "" "W%"`)
		if len(lsub) != 2 || lsub[0] != `* LSUB (\Noselect) "/" Work` {
			t.Errorf("LSUB \"\" W%%: %q, want Work as \\Noselect (RFC 3501 §6.3.9)", lsub)
		}
	})
	step("RENAME", func(t *testing.T) {
		if err := c.Rename("Work", "Jobs", nil).Wait(); err != nil {
			t.Fatal(err)
		}
		wantList(t, "after RENAME Work Jobs", listing(t, c, "", "*o*", nil),
			`Jobs (\haschildren)`, `Jobs/Projects (\hasnochildren)`)
		wantErr(t, "RENAME to existing", c.Rename("Jobs", "Later", nil).Wait(), imap.StatusResponseTypeNo, imap.ResponseCodeAlreadyExists)
		wantErr(t, "RENAME missing", c.Rename("Nope", "Nope2", nil).Wait(), imap.StatusResponseTypeNo, imap.ResponseCodeNonExistent)
	})
	step("DELETE", func(t *testing.T) {
		if err := c.Delete("Jobs/Projects").Wait(); err != nil {
			t.Fatal(err)
		}
		if err := c.Delete("Later").Wait(); err != nil {
			t.Fatal(err)
		}
		wantErr(t, "DELETE missing", c.Delete("Later").Wait(), imap.StatusResponseTypeNo, imap.ResponseCodeNonExistent)
		wantList(t, "after DELETE", listing(t, c, "", "Jobs*", nil), `Jobs (\hasnochildren)`)
	})
	step("APPEND", func(t *testing.T) {
		for i, raw := range cmdMsgs {
			d := appendFull(t, c, "INBOX", raw, cmdFlags[i], cmdDates[i])
			if d.UID != imap.UID(i+1) || d.UIDValidity == 0 || (i > 0 && d.UIDValidity != uidValidity) {
				t.Errorf("APPEND #%d: APPENDUID %d %d", i+1, d.UIDValidity, d.UID)
			}
			uidValidity = d.UIDValidity
		}
		// RFC 9051 §6.3.12: TRYCREATE when the mailbox does not exist.
		cmd := c.Append("Nope", int64(len(cmdMsg3)), nil)
		cmd.Write([]byte(cmdMsg3))
		cmd.Close()
		_, err := cmd.Wait()
		wantErr(t, "APPEND to a missing mailbox", err, imap.StatusResponseTypeNo, imap.ResponseCodeTryCreate)
	})
	step("STATUS", func(t *testing.T) {
		d, err := c.Status("INBOX", &imap.StatusOptions{NumMessages: true, UIDNext: true, UIDValidity: true,
			NumUnseen: true, NumDeleted: true, Size: true, HighestModSeq: true}).Wait()
		if err != nil {
			t.Fatal(err)
		}
		size := int64(len(cmdMsg1) + len(cmdMsg2) + len(cmdMsg3))
		if *d.NumMessages != 3 || d.UIDNext != 4 || d.UIDValidity != uidValidity || *d.NumUnseen != 2 ||
			*d.NumDeleted != 0 || *d.Size != size || d.HighestModSeq == 0 {
			t.Errorf("STATUS INBOX: messages %d uidnext %d uidvalidity %d unseen %d deleted %d size %d (want %d) modseq %d",
				*d.NumMessages, d.UIDNext, d.UIDValidity, *d.NumUnseen, *d.NumDeleted, *d.Size, size, d.HighestModSeq)
		}
		modseq = d.HighestModSeq
		d, err = c.Status("Jobs", &imap.StatusOptions{NumMessages: true, UIDNext: true}).Wait()
		if err != nil || *d.NumMessages != 0 || d.UIDNext != 1 {
			t.Errorf("STATUS Jobs: %+v %v", d, err)
		}
		_, err = c.Status("Nope", &imap.StatusOptions{NumMessages: true}).Wait()
		wantErr(t, "STATUS missing", err, imap.StatusResponseTypeNo, imap.ResponseCodeNonExistent)
	})
	step("LIST RETURN (STATUS SPECIAL-USE CHILDREN SUBSCRIBED)", func(t *testing.T) {
		// RFC 5819 §2: STATUS data for each selectable mailbox listed.
		l := listing(t, c, "", "*", &imap.ListOptions{ReturnStatus: &imap.StatusOptions{NumMessages: true, UIDNext: true},
			ReturnSpecialUse: true, ReturnChildren: true, ReturnSubscribed: true})
		if len(l) != 7 {
			t.Errorf("LIST RETURN: %d mailboxes:\n%s", len(l), attrs(l))
		}
		for name, d := range l {
			want := uint32(0)
			if name == "INBOX" {
				want = 3
			}
			if d.Status == nil || d.Status.NumMessages == nil || *d.Status.NumMessages != want {
				t.Errorf("LIST-STATUS %s: %+v", name, d.Status)
			}
		}
		if d := l["Trash"]; d == nil || !slices.Contains(d.Attrs, imap.MailboxAttrTrash) {
			t.Errorf("LIST RETURN (SPECIAL-USE) Trash: %+v", d)
		}
	})
	step("EXAMINE", func(t *testing.T) {
		d, err := c.Select("INBOX", &imap.SelectOptions{ReadOnly: true}).Wait()
		if err != nil {
			t.Fatal(err)
		}
		if d.NumMessages != 3 || d.UIDNext != 4 || d.UIDValidity != uidValidity || d.HighestModSeq != modseq {
			t.Errorf("EXAMINE: %+v", d)
		}
		// Read-only: a STORE is refused and nothing changes.
		_, err = c.Store(imap.SeqSetNum(3), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagSeen}}, nil).Collect()
		wantErr(t, "STORE after EXAMINE", err, imap.StatusResponseTypeNo, "")
		// A FETCH of a body does not set \Seen in a read-only mailbox.
		if _, err := c.Fetch(imap.SeqSetNum(3), &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{{}}}).Collect(); err != nil {
			t.Fatal(err)
		}
		msgs := fetch(t, c, imap.SeqSetNum(3), &imap.FetchOptions{Flags: true})
		wantFlags(t, "after EXAMINE and FETCH BODY[]", msgs[0].Flags)
	})
	step("SELECT", func(t *testing.T) {
		d, err := c.Select("INBOX", &imap.SelectOptions{CondStore: true}).Wait()
		if err != nil {
			t.Fatal(err)
		}
		if d.NumMessages != 3 || d.UIDNext != 4 || d.UIDValidity != uidValidity || d.HighestModSeq != modseq {
			t.Errorf("SELECT: %+v", d)
		}
		for _, f := range []imap.Flag{imap.FlagSeen, imap.FlagFlagged, imap.FlagDeleted, "$Report"} {
			if !slices.Contains(d.Flags, f) {
				t.Errorf("SELECT FLAGS %v lack %s", d.Flags, f)
			}
		}
		if !slices.Contains(d.PermanentFlags, imap.FlagWildcard) {
			t.Errorf("PERMANENTFLAGS %v lack \\*", d.PermanentFlags)
		}
		_, err = c.Select("Nope", nil).Wait()
		wantErr(t, "SELECT missing", err, imap.StatusResponseTypeNo, imap.ResponseCodeNonExistent)
		if _, err := c.Select("INBOX", nil).Wait(); err != nil {
			t.Fatal(err)
		}
	})
	step("FETCH attributes", func(t *testing.T) {
		msgs := fetch(t, c, imap.SeqSetNum(1, 2, 3), &imap.FetchOptions{UID: true, Flags: true, Envelope: true,
			RFC822Size: true, InternalDate: true, BodyStructure: &imap.FetchItemBodyStructure{}, ModSeq: true})
		if len(msgs) != 3 {
			t.Fatalf("%d messages", len(msgs))
		}
		subjects := []string{"Hello world", "Quarterly report", "Lunch on Thursday?"}
		for i, m := range msgs {
			if m.SeqNum != uint32(i+1) || m.UID != imap.UID(i+1) || m.RFC822Size != int64(len(cmdMsgs[i])) ||
				!m.InternalDate.Equal(cmdDates[i]) || m.ModSeq == 0 || m.ModSeq > modseq {
				t.Errorf("message %d: seq %d uid %d size %d internaldate %v modseq %d", i+1, m.SeqNum, m.UID, m.RFC822Size, m.InternalDate, m.ModSeq)
			}
			wantFlags(t, fmt.Sprint("message ", i+1), m.Flags, cmdFlags[i]...)
			if m.Envelope == nil || m.Envelope.Subject != subjects[i] {
				t.Errorf("message %d: envelope %+v", i+1, m.Envelope)
			}
		}
		e := msgs[0].Envelope
		if len(e.From) != 1 || e.From[0].Name != "Alice Example" || e.From[0].Addr() != "alice@example.org" ||
			len(e.To) != 1 || e.To[0].Addr() != "bob@example.net" || e.MessageID != "m1@example.org" ||
			!e.Date.Equal(time.Date(2026, 11, 2, 12, 0, 0, 0, time.UTC)) {
			t.Errorf("ENVELOPE 1: %+v from %+v to %+v", e, e.From, e.To)
		}
		if bs, ok := msgs[0].BodyStructure.(*imap.BodyStructureSinglePart); !ok || bs.Type != "text" || bs.Subtype != "plain" ||
			bs.Params["charset"] != "us-ascii" || bs.Size != uint32(len("Hello Bob,\r\nthis is the first message.\r\n")) || bs.Text == nil || bs.Text.NumLines != 2 {
			t.Errorf("BODYSTRUCTURE 1: %#v", msgs[0].BodyStructure)
		}
		mp, ok := msgs[1].BodyStructure.(*imap.BodyStructureMultiPart)
		if !ok || mp.Subtype != "mixed" || len(mp.Children) != 2 {
			t.Fatalf("BODYSTRUCTURE 2: %#v", msgs[1].BodyStructure)
		}
		p1, _ := mp.Children[0].(*imap.BodyStructureSinglePart)
		p2, _ := mp.Children[1].(*imap.BodyStructureSinglePart)
		if p1 == nil || p1.Type != "text" || p1.Subtype != "plain" || p1.Encoding != "quoted-printable" || p1.Params["charset"] != "utf-8" ||
			p2 == nil || p2.Type != "application" || p2.Subtype != "octet-stream" || p2.Encoding != "base64" || p2.Params["name"] != "r.bin" || p2.Size != 8 {
			t.Errorf("BODYSTRUCTURE 2 parts: %#v %#v", p1, p2)
		}
	})
	step("FETCH body sections and BINARY", func(t *testing.T) {
		header := &imap.FetchItemBodySection{Specifier: imap.PartSpecifierHeader, HeaderFields: []string{"Subject"}, Peek: true}
		text := &imap.FetchItemBodySection{Specifier: imap.PartSpecifierText, Peek: true}
		part1 := &imap.FetchItemBodySection{Part: []int{1}, Peek: true}
		partial := &imap.FetchItemBodySection{Peek: true, Partial: &imap.SectionPartial{Offset: 6, Size: 3}}
		bin := &imap.FetchItemBinarySection{Part: []int{2}, Peek: true}
		msgs := fetch(t, c, imap.UIDSetNum(2), &imap.FetchOptions{UID: true,
			BodySection: []*imap.FetchItemBodySection{header, text, part1, partial}, BinarySection: []*imap.FetchItemBinarySection{bin},
			BinarySectionSize: []*imap.FetchItemBinarySectionSize{{Part: []int{2}}}})
		if len(msgs) != 1 {
			t.Fatalf("%d messages", len(msgs))
		}
		m := msgs[0]
		hdrEnd := strings.Index(cmdMsg2, "\r\n\r\n") + 4
		for _, x := range []struct {
			sec  *imap.FetchItemBodySection
			want string
		}{
			{header, "Subject: Quarterly report\r\n\r\n"},
			{text, cmdMsg2[hdrEnd:]},
			{part1, cmdMsg2Part1},
			{partial, cmdMsg2[6:9]},
		} {
			if got := string(m.FindBodySection(x.sec)); got != x.want {
				t.Errorf("BODY[%s%s]: %q, want %q", x.sec.Specifier, fmt.Sprint(x.sec.Part), got, x.want)
			}
		}
		// RFC 3516 §4.2: BINARY[2] is the part decoded from base64.
		if got := m.FindBinarySection(bin); !bytes.Equal(got, []byte{0, 1, 2, 3}) {
			t.Errorf("BINARY[2] = %q", got)
		}
		if n, ok := m.FindBinarySectionSize([]int{2}); !ok || n != 4 {
			t.Errorf("BINARY.SIZE[2] = %d %v", n, ok)
		}
		wantFlags(t, "after .PEEK", fetch(t, c, imap.SeqSetNum(2), &imap.FetchOptions{Flags: true})[0].Flags, cmdFlags[1]...)
		// BODY[TEXT] without .PEEK sets \Seen (RFC 9051 §6.4.5).
		msgs = fetch(t, c, imap.SeqSetNum(3), &imap.FetchOptions{Flags: true, BodySection: []*imap.FetchItemBodySection{{Specifier: imap.PartSpecifierText}}})
		if got := string(msgs[0].FindBodySection(&imap.FetchItemBodySection{Specifier: imap.PartSpecifierText})); got != cmdMsg3Body {
			t.Errorf("BODY[TEXT] of 3: %q", got)
		}
		wantFlags(t, "after BODY[TEXT]", fetch(t, c, imap.SeqSetNum(3), &imap.FetchOptions{Flags: true})[0].Flags, imap.FlagSeen)
	})
	step("STORE and CHANGEDSINCE", func(t *testing.T) {
		before := fetch(t, c, imap.SeqSetNum(3), &imap.FetchOptions{ModSeq: true})[0].ModSeq
		msgs, err := c.Store(imap.SeqSetNum(1), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagAnswered, "$Work"}}, nil).Collect()
		if err != nil || len(msgs) != 1 {
			t.Fatalf("STORE +FLAGS: %v %v", msgs, err)
		}
		wantFlags(t, "STORE +FLAGS answer", msgs[0].Flags, imap.FlagSeen, imap.FlagAnswered, "$Work")
		if msgs[0].ModSeq <= before {
			t.Errorf("STORE answer MODSEQ %d, not above %d", msgs[0].ModSeq, before)
		}
		msgs, err = c.Store(imap.SeqSetNum(2), &imap.StoreFlags{Op: imap.StoreFlagsDel, Silent: true, Flags: []imap.Flag{"$Report"}}, nil).Collect()
		if err != nil {
			t.Fatal(err)
		}
		// .SILENT: no FETCH FLAGS back, but CONDSTORE still reports the
		// new MODSEQ (RFC 7162 §3.2).
		for _, m := range msgs {
			if m.Flags != nil {
				t.Errorf("STORE .SILENT answered flags %v", m.Flags)
			}
		}
		if _, err := c.Store(imap.UIDSetNum(3), &imap.StoreFlags{Op: imap.StoreFlagsSet, Flags: []imap.Flag{imap.FlagDraft}}, nil).Collect(); err != nil {
			t.Fatal(err)
		}
		want := [][]imap.Flag{{imap.FlagSeen, imap.FlagAnswered, "$Work"}, {imap.FlagFlagged}, {imap.FlagDraft}}
		all := fetch(t, c, imap.SeqSetNum(1, 2, 3), &imap.FetchOptions{Flags: true, ModSeq: true})
		for i, m := range all {
			wantFlags(t, fmt.Sprint("after STORE, message ", i+1), m.Flags, want[i]...)
		}
		// RFC 7162 §3.1.4.1: CHANGEDSINCE returns only what changed after.
		changed := fetch(t, c, imap.SeqSetNum(1, 2, 3), &imap.FetchOptions{Flags: true, ChangedSince: all[0].ModSeq})
		if len(changed) != 2 || changed[0].SeqNum != 2 || changed[1].SeqNum != 3 {
			t.Errorf("FETCH CHANGEDSINCE %d: %d messages %+v", all[0].ModSeq, len(changed), changed)
		}
		// UNCHANGEDSINCE: message 1 changed after `before`, so it is not
		// stored and is reported in MODIFIED (RFC 7162 §3.1.3).
		_, err = c.Store(imap.SeqSetNum(1, 3), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{"$Late"}},
			&imap.StoreOptions{UnchangedSince: all[2].ModSeq - 1}).Collect()
		if err != nil {
			t.Fatal(err)
		}
		w := dialWire(t, s, mode)
		w.login(user)
		w.do("SELECT INBOX (CONDSTORE)")
		got := w.do(fmt.Sprintf("UID STORE 1:3 (UNCHANGEDSINCE %d) +FLAGS ($Late)", before))
		if len(got) != 1 || !strings.HasPrefix(got[0], "OK [MODIFIED 1:3] ") {
			t.Errorf("UID STORE 1:3 (UNCHANGEDSINCE %d): %q, want OK [MODIFIED 1:3]", before, got)
		}
		// Of go-imap's conditional STORE, only message 1 was unchanged.
		after := fetch(t, c, imap.SeqSetNum(1, 3), &imap.FetchOptions{Flags: true})
		wantFlags(t, "after UNCHANGEDSINCE, message 1", after[0].Flags, imap.FlagSeen, imap.FlagAnswered, "$Work", "$Late")
		wantFlags(t, "after UNCHANGEDSINCE, message 3", after[1].Flags, imap.FlagDraft)
		if _, err := c.Store(imap.SeqSetNum(1), &imap.StoreFlags{Op: imap.StoreFlagsDel, Silent: true, Flags: []imap.Flag{"$Late"}}, nil).Collect(); err != nil {
			t.Fatal(err)
		}
	})
	step("SEARCH and ESEARCH", func(t *testing.T) {
		// Flags now: 1 \Seen \Answered $Work; 2 \Flagged; 3 \Draft.
		search := func(uid bool, crit *imap.SearchCriteria, opts *imap.SearchOptions) *imap.SearchData {
			t.Helper()
			cmd := c.Search
			if uid {
				cmd = c.UIDSearch
			}
			d, err := cmd(crit, opts).Wait()
			if err != nil {
				t.Fatalf("SEARCH %+v: %v", crit, err)
			}
			return d
		}
		for _, x := range []struct {
			what string
			crit *imap.SearchCriteria
			want []uint32
		}{
			{"ALL", &imap.SearchCriteria{}, []uint32{1, 2, 3}},
			{"FLAGGED", &imap.SearchCriteria{Flag: []imap.Flag{imap.FlagFlagged}}, []uint32{2}},
			{"UNSEEN", &imap.SearchCriteria{NotFlag: []imap.Flag{imap.FlagSeen}}, []uint32{2, 3}},
			{"KEYWORD $Work", &imap.SearchCriteria{Flag: []imap.Flag{"$Work"}}, []uint32{1}},
			{"SUBJECT report", &imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "Subject", Value: "report"}}}, []uint32{2}},
			{"BODY lunch", &imap.SearchCriteria{Body: []string{"lunch"}}, []uint32{3}},
			{"TEXT bob", &imap.SearchCriteria{Text: []string{"bob"}}, []uint32{1, 2}},
			{"SINCE 3-Nov-2026", &imap.SearchCriteria{Since: time.Date(2026, 11, 3, 0, 0, 0, 0, time.UTC)}, []uint32{2, 3}},
			{"LARGER 400", &imap.SearchCriteria{Larger: 400}, []uint32{2}},
			{"OR FLAGGED DRAFT", &imap.SearchCriteria{Or: [][2]imap.SearchCriteria{{{Flag: []imap.Flag{imap.FlagFlagged}}, {Flag: []imap.Flag{imap.FlagDraft}}}}}, []uint32{2, 3}},
			{"NOT 1", &imap.SearchCriteria{Not: []imap.SearchCriteria{{SeqNum: []imap.SeqSet{imap.SeqSetNum(1)}}}}, []uint32{2, 3}},
			{"MODSEQ", &imap.SearchCriteria{ModSeq: &imap.SearchCriteriaModSeq{ModSeq: modseq + 1}}, []uint32{1, 2, 3}},
		} {
			if got := search(false, x.crit, nil).AllSeqNums(); !slices.Equal(got, x.want) {
				t.Errorf("SEARCH %s: %v, want %v", x.what, got, x.want)
			}
		}
		if got, _ := search(true, &imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "Subject", Value: "lunch"}}}, nil).All.(imap.UIDSet).Nums(); !slices.Equal(got, []imap.UID{3}) {
			t.Errorf("UID SEARCH SUBJECT lunch: %v", got)
		}
		// RFC 4731 §3.1: RETURN (MIN MAX COUNT ALL).
		d := search(false, &imap.SearchCriteria{NotFlag: []imap.Flag{imap.FlagSeen}}, &imap.SearchOptions{ReturnMin: true, ReturnMax: true, ReturnCount: true, ReturnAll: true})
		if d.Min != 2 || d.Max != 3 || d.Count != 2 || !slices.Equal(d.AllSeqNums(), []uint32{2, 3}) {
			t.Errorf("SEARCH RETURN (MIN MAX COUNT ALL) UNSEEN: %+v", d)
		}
		d = search(true, &imap.SearchCriteria{Flag: []imap.Flag{imap.FlagSeen}}, &imap.SearchOptions{ReturnMin: true, ReturnCount: true})
		if d.Min != 1 || d.Count != 1 || d.All != nil {
			t.Errorf("UID SEARCH RETURN (MIN COUNT) SEEN: %+v", d)
		}
		d = search(false, &imap.SearchCriteria{Body: []string{"zebra"}}, &imap.SearchOptions{ReturnMin: true, ReturnMax: true, ReturnCount: true})
		if d.Min != 0 || d.Max != 0 || d.Count != 0 {
			t.Errorf("ESEARCH with no match: %+v", d)
		}
		// RFC 5182 §2.1: RETURN (SAVE) alone answers no ESEARCH; $ then
		// stands for the result (go-imap drops a lone SAVE: the wire).
		w := dialWire(t, s, mode)
		w.login(user)
		w.do("SELECT INBOX")
		if got := w.do("SEARCH RETURN (SAVE) DRAFT"); len(got) != 1 || !strings.HasPrefix(got[0], "OK ") {
			t.Errorf("SEARCH RETURN (SAVE) DRAFT: %q", got)
		}
		if got := w.do("FETCH $ (UID)"); len(got) != 2 || got[0] != "* 3 FETCH (UID 3)" {
			t.Errorf("FETCH $ after SEARCH RETURN (SAVE) DRAFT: %q", got)
		}
		want := fmt.Sprintf(`* ESEARCH (TAG "w%d") UID MIN 2`, w.n+1)
		if got := w.do("UID SEARCH RETURN (SAVE MIN) FLAGGED"); len(got) != 2 || got[0] != want {
			t.Errorf("UID SEARCH RETURN (SAVE MIN) FLAGGED: %q", got)
		}
		if got := w.do("UID FETCH $ (FLAGS)"); len(got) != 2 || got[0] != `* 2 FETCH (UID 2 FLAGS (\Flagged))` {
			t.Errorf("UID FETCH $ (FLAGS): %q", got)
		}
	})
	step("COPY and MOVE", func(t *testing.T) {
		d, err := c.Copy(imap.SeqSetNum(1, 2), "Jobs").Wait()
		if err != nil {
			t.Fatal(err)
		}
		// RFC 4315 §3: COPYUID uidvalidity source-uids dest-uids.
		if src, _ := d.SourceUIDs.Nums(); !slices.Equal(src, []imap.UID{1, 2}) || d.UIDValidity == 0 {
			t.Errorf("COPY: COPYUID %+v", d)
		} else if dst, _ := d.DestUIDs.Nums(); !slices.Equal(dst, []imap.UID{1, 2}) {
			t.Errorf("COPY: COPYUID destination %v", dst)
		}
		d, err = c.Copy(imap.UIDSetNum(3), "Jobs").Wait()
		if err != nil {
			t.Fatal(err)
		}
		if dst, _ := d.DestUIDs.Nums(); !slices.Equal(dst, []imap.UID{3}) {
			t.Errorf("UID COPY: COPYUID %+v", d)
		}
		_, err = c.Copy(imap.SeqSetNum(1), "Nope").Wait()
		wantErr(t, "COPY to a missing mailbox", err, imap.StatusResponseTypeNo, imap.ResponseCodeTryCreate)
		// The copies keep flags and internal dates.
		st, err := c.Status("Jobs", &imap.StatusOptions{NumMessages: true, NumUnseen: true, UIDNext: true}).Wait()
		if err != nil || *st.NumMessages != 3 || *st.NumUnseen != 2 || st.UIDNext != 4 {
			t.Errorf("STATUS Jobs after COPY: %+v %v", st, err)
		}
		// MOVE 2 (seq) and UID MOVE 3 to Archive: EXPUNGE in this session.
		drainCh(u.expunges)
		md, err := c.Move(imap.SeqSetNum(2), "Archive").Wait()
		if err != nil {
			t.Fatal(err)
		}
		if src, _ := md.SourceUIDs.(imap.UIDSet).Nums(); !slices.Equal(src, []imap.UID{2}) {
			t.Errorf("MOVE: COPYUID %+v", md)
		}
		if got := recv(t, u.expunges, "EXPUNGE after MOVE"); got != 2 {
			t.Errorf("MOVE 2: EXPUNGE %d", got)
		}
		md, err = c.Move(imap.UIDSetNum(3), "Archive").Wait()
		if err != nil {
			t.Fatal(err)
		}
		if dst, _ := md.DestUIDs.(imap.UIDSet).Nums(); !slices.Equal(dst, []imap.UID{2}) {
			t.Errorf("UID MOVE: COPYUID %+v", md)
		}
		if got := recv(t, u.expunges, "EXPUNGE after UID MOVE"); got != 2 { // UID 3 was number 2 by then
			t.Errorf("UID MOVE 3: EXPUNGE %d", got)
		}
		if got := fetch(t, c, allSeq, &imap.FetchOptions{UID: true}); len(got) != 1 || got[0].UID != 1 {
			t.Errorf("INBOX after MOVE: %+v", got)
		}
		a, err := c.Status("Archive", &imap.StatusOptions{NumMessages: true, UIDNext: true}).Wait()
		if err != nil || *a.NumMessages != 2 || a.UIDNext != 3 {
			t.Errorf("STATUS Archive after MOVE: %+v %v", a, err)
		}
	})
	step("EXPUNGE, UID EXPUNGE, CHECK", func(t *testing.T) {
		if _, err := c.Select("Jobs", nil).Wait(); err != nil {
			t.Fatal(err)
		}
		drainCh(u.expunges)
		if _, err := c.Store(imap.SeqSetNum(1, 2, 3), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Collect(); err != nil {
			t.Fatal(err)
		}
		// RFC 4315 §2.1: UID EXPUNGE removes only the given UIDs, even
		// though all three are \Deleted.
		seqs, err := c.UIDExpunge(imap.UIDSetNum(2)).Collect()
		if err != nil || !slices.Equal(seqs, []uint32{2}) {
			t.Errorf("UID EXPUNGE 2: %v %v", seqs, err)
		}
		if _, err := c.Store(imap.UIDSetNum(3), &imap.StoreFlags{Op: imap.StoreFlagsDel, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Collect(); err != nil {
			t.Fatal(err)
		}
		seqs, err = c.Expunge().Collect()
		if err != nil || !slices.Equal(seqs, []uint32{1}) {
			t.Errorf("EXPUNGE: %v %v, want [1]", seqs, err)
		}
		if got := fetch(t, c, allSeq, &imap.FetchOptions{UID: true}); len(got) != 1 || got[0].UID != 3 {
			t.Errorf("Jobs after EXPUNGE: %+v", got)
		}
		w := dialWire(t, s, mode)
		w.login(user)
		w.do("SELECT Jobs")
		if got := w.do("CHECK"); len(got) != 1 || !strings.HasPrefix(got[0], "OK ") {
			t.Errorf("CHECK: %q", got)
		}
		// QRESYNC (RFC 7162 §3.2.5): a client that knew UIDs 1:3 at
		// modseq 1 learns at SELECT that 1:2 are gone and what 3 is now.
		st, err := c.Status("Jobs", &imap.StatusOptions{UIDValidity: true}).Wait()
		if err != nil {
			t.Fatal(err)
		}
		q := dialWire(t, s, mode)
		q.login(user)
		q.do("ENABLE QRESYNC")
		got := q.do(fmt.Sprintf("SELECT Jobs (QRESYNC (%d 1 1:3))", st.UIDValidity))
		var vanished, fetched bool
		for _, l := range got {
			vanished = vanished || l == "* VANISHED (EARLIER) 1:2"
			fetched = fetched || strings.HasPrefix(l, "* 1 FETCH (UID 3 ") && strings.Contains(l, "MODSEQ (")
		}
		if !vanished || !fetched || !strings.HasPrefix(got[len(got)-1], "OK [READ-WRITE]") {
			t.Errorf("SELECT Jobs (QRESYNC (%d 1 1:3)): %q, want VANISHED (EARLIER) 1:2 and FETCH of UID 3", st.UIDValidity, got)
		}
	})
	step("IDLE", func(t *testing.T) {
		if _, err := c.Select("INBOX", nil).Wait(); err != nil {
			t.Fatal(err)
		}
		drainCh(u.exists)
		drainCh(u.expunges)
		idle, err := c.Idle()
		if err != nil {
			t.Fatal(err)
		}
		other := s.Login(t, mode, nil)
		// Another user's INBOX does not wake this session.
		appendFull(t, other, "INBOX", cmdMsg3, nil, cmdDates[2])
		// LOGIN as the same user from another connection: its APPEND and
		// its EXPUNGE reach the idling session (RFC 2177).
		w := s.MustDial(t, mode, nil)
		if err := w.Login(user, testPass).Wait(); err != nil {
			t.Fatal(err)
		}
		appendFull(t, w, "INBOX", cmdMsg2, nil, cmdDates[1])
		if n := recv(t, u.exists, "EXISTS in IDLE"); n != 2 {
			t.Errorf("EXISTS %d in IDLE, want 2", n)
		}
		if _, err := w.Select("INBOX", nil).Wait(); err != nil {
			t.Fatal(err)
		}
		if _, err := w.Store(imap.SeqSetNum(1), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Collect(); err != nil {
			t.Fatal(err)
		}
		if _, err := w.Expunge().Collect(); err != nil {
			t.Fatal(err)
		}
		if n := recv(t, u.expunges, "EXPUNGE in IDLE"); n != 1 {
			t.Errorf("EXPUNGE %d in IDLE, want 1", n)
		}
		if err := idle.Close(); err != nil {
			t.Fatal(err)
		}
		if err := idle.Wait(); err != nil {
			t.Fatal(err)
		}
		if got := fetch(t, c, imap.SeqSetNum(1), &imap.FetchOptions{UID: true, Envelope: true}); len(got) != 1 || got[0].UID != 4 ||
			got[0].Envelope.Subject != "Quarterly report" {
			t.Errorf("after IDLE: %+v", got)
		}
	})
	step("UNSELECT and CLOSE", func(t *testing.T) {
		if _, err := c.Store(imap.SeqSetNum(1), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Collect(); err != nil {
			t.Fatal(err)
		}
		// RFC 3691: UNSELECT leaves \Deleted messages in place.
		if err := c.Unselect().Wait(); err != nil {
			t.Fatal(err)
		}
		st, err := c.Status("INBOX", &imap.StatusOptions{NumMessages: true, NumDeleted: true}).Wait()
		if err != nil || *st.NumMessages != 1 || *st.NumDeleted != 1 {
			t.Errorf("STATUS after UNSELECT: %+v %v", st, err)
		}
		_, err = c.Fetch(imap.SeqSetNum(1), &imap.FetchOptions{UID: true}).Collect()
		wantErr(t, "FETCH with nothing selected", err, imap.StatusResponseTypeBad, "")
		// RFC 9051 §6.4.1: CLOSE expunges silently.
		if _, err := c.Select("INBOX", nil).Wait(); err != nil {
			t.Fatal(err)
		}
		drainCh(u.expunges)
		if err := c.UnselectAndExpunge().Wait(); err != nil {
			t.Fatal(err)
		}
		if got := drainCh(u.expunges); len(got) != 0 {
			t.Errorf("CLOSE sent EXPUNGE %v", got)
		}
		st, err = c.Status("INBOX", &imap.StatusOptions{NumMessages: true, NumDeleted: true}).Wait()
		if err != nil || *st.NumMessages != 0 || *st.NumDeleted != 0 {
			t.Errorf("STATUS after CLOSE: %+v %v", st, err)
		}
	})
	step("LOGOUT", func(t *testing.T) {
		var trace testserver.SyncBuffer
		l := s.MustDial(t, mode, &imapclient.Options{DebugWriter: &trace})
		if err := l.Login(user, testPass).Wait(); err != nil {
			t.Fatal(err)
		}
		for _, cl := range []*imapclient.Client{c, l} {
			if err := cl.Logout().Wait(); err != nil {
				t.Fatal(err)
			}
			// RFC 9051 §6.1.3: BYE, then the tagged OK, then the server
			// closes.
			select {
			case <-cl.Closed():
			case <-time.After(10 * time.Second):
				t.Fatal("connection open 10 s after LOGOUT")
			}
		}
		if tr := trace.String(); !strings.Contains(tr, "* BYE ") || strings.Index(tr, "* BYE ") > strings.LastIndex(tr, " OK ") {
			t.Errorf("LOGOUT exchange:\n%s", tr)
		}
	})
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func appendFull(t *testing.T, c *imapclient.Client, mailbox, raw string, flags []imap.Flag, date time.Time) *imap.AppendData {
	t.Helper()
	cmd := c.Append(mailbox, int64(len(raw)), &imap.AppendOptions{Flags: flags, Time: date})
	if _, err := cmd.Write([]byte(raw)); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Close(); err != nil {
		t.Fatal(err)
	}
	d, err := cmd.Wait()
	if err != nil {
		t.Fatalf("APPEND %s: %v", mailbox, err)
	}
	return d
}

func fetch(t *testing.T, c *imapclient.Client, set imap.NumSet, opts *imap.FetchOptions) []*imapclient.FetchMessageBuffer {
	t.Helper()
	msgs, err := c.Fetch(set, opts).Collect()
	if err != nil {
		t.Fatalf("FETCH %v: %v", set, err)
	}
	return msgs
}
