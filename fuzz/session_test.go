package fuzz

import (
	"bytes"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"testing"

	sm "github.com/myriad-mail/myriad/statemachine"
	"github.com/myriad-mail/myriad/statemachine/memstore"
	"github.com/myriad-mail/myriad/storage"
)

// FuzzSession runs command streams against 1–4 sessions of one user on
// memstore or on storage, interleaved, with wake-ups delivered as netio would, and checks:
//
//   - nothing panics;
//   - every complete command gets exactly one completion (a tagged OK, NO
//     or BAD with its tag, or "* BAD" when its tag was unreadable), except
//     an accepted IDLE or AUTHENTICATE, which get a continuation request
//     and are completed by the line that ends them;
//   - every response is well-formed IMAP (imapresp_test.go), and a session
//     writes nothing outside a command except in IDLE;
//   - a client model rebuilt from the responses alone (sequence number →
//     UID, as statemachine/property_test.go's clientModel) is never
//     contradicted: EXISTS never shrinks, EXPUNGE and FETCH name existing
//     numbers, UIDs are ascending and a number keeps its UID, SEARCH
//     returns numbers the client knows; and at the end, after NOOP and
//     FETCH 1:* (UID), the model equals the mailbox.
//
// Input format (readable, so conversation transcripts are seeds):
//
//	byte 0: setup: sessions = 1 + b&3; b&4: log every session in;
//	        b&8: also SELECT INBOX; (b>>4)&7 messages in INBOX first;
//	        b&0x80: the durable backend (storage on a MemFS), else memstore
//	then ops: a selector byte and what that session receives:
//	  'A'..'D'  session 0..3 (mod the count), wake-ups delivered after
//	  'a'..'d'  the same, wake-ups left pending
//	  'W'       deliver the pending wake-ups
//	  other     session b%count, wake-ups delivered after
//	The bytes after the selector are one command as the framer delimits it
//	(literals included), or one line when the session is in IDLE or
//	answering AUTHENTICATE. A closed session is replaced by a new one.
func FuzzSession(f *testing.F) {
	for _, s := range sessionExtraSeeds {
		f.Add([]byte(s.script))
		durable := []byte(s.script)
		durable[0] |= 0x80
		f.Add(durable)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) > 1<<16 {
			return
		}
		w := newSessionWorld(t)
		w.run(in)
	})
}

// sessionExtraSeeds are hand-written scripts that reach the interesting
// places quickly: concurrent expunges, IDLE, MOVE, QRESYNC.
var sessionExtraSeeds = []struct{ name, script string }{
	{"expunge-while-fetching", "\x3eAa1 STORE 1:2 +FLAGS (\\Deleted)\r\nBb1 FETCH 1:* (UID FLAGS)\r\nAa2 EXPUNGE\r\nBb2 FETCH 1:* (UID)\r\nBb3 NOOP\r\n"},
	{"idle-wakeups", "\x2eAa1 IDLE\r\nBb1 APPEND INBOX {11+}\r\nSubject: x\r\nBb2 STORE 1 +FLAGS (\\Deleted)\r\nBb3 EXPUNGE\r\nADONE\r\nAa2 NOOP\r\n"},
	{"deferred-wakeups", "\x3ebb1 STORE 2 +FLAGS (\\Deleted)\r\nbb2 EXPUNGE\r\naa1 FETCH 1:* (UID)\r\nWAa2 UID FETCH 1:* (FLAGS)\r\nAa3 NOOP\r\n"},
	{"move-copy", "\x3fAa1 MOVE 1 Trash\r\nBb1 COPY 1:* INBOX\r\nCc1 SEARCH ALL\r\nDd1 UID MOVE 1:* Archive\r\nAa2 NOOP\r\n"},
	{"flag-update-reaches-others", "\x3eBb1 FETCH 1:* (UID FLAGS)\r\nAa1 STORE 1 +FLAGS (\\Flagged $Todo)\r\nBb2 NOOP\r\nAa2 STORE 2 FLAGS.SILENT ()\r\nBb3 IDLE\r\nCc1 STORE 3 -FLAGS (\\Seen)\r\nBDONE\r\n"},
	{"qresync", "\x1dAa1 ENABLE QRESYNC\r\nAa2 SELECT INBOX (QRESYNC (1 1))\r\nBb1 STORE 1 +FLAGS (\\Deleted)\r\nBb2 EXPUNGE\r\nAa3 NOOP\r\nAa4 UID FETCH 1:* (FLAGS) (CHANGEDSINCE 1 VANISHED)\r\n"},
	{"literals-and-limits", "\x01Aa1 LOGIN {5}\r\nalice {6+}\r\nsecret\r\nAa2 APPEND INBOX (\\Seen) ~{4+}\r\n\x00\x01\x02\x03\r\nAa3 APPEND INBOX {999999}\r\nAa4 SELECT INBOX\r\nAa5 FETCH 1 (BODY[] BINARY[] ENVELOPE BODYSTRUCTURE)\r\n"},
	{"auth-and-starttls", "\x01Aa1 STARTTLS\r\nAa2 AUTHENTICATE PLAIN\r\nAGFsaWNlAHNlY3JldA==\r\nAa3 SELECT INBOX\r\nAa4 LOGOUT\r\nAa5 CAPABILITY\r\n"},
}

// sessionUsers are the conversation tests' users.
var sessionUsers = map[string]string{"alice": "secret", "bob": "hunter2"}

const sessionNow = 1795867200 // 2026-11-28 12:00:00 UTC, as the conversation tests

// sessionMessages are what setup appends to INBOX.
var sessionMessages = []string{
	"Subject: one\r\nFrom: a@example.org\r\n\r\nbody one\r\n",
	"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\npart\r\n--b--\r\n",
	"Subject: three\r\n\r\n",
	"From: \"x\" <x@y>\r\nTo: undisclosed-recipients:;\r\n\r\nbody\r\n",
}

// fataler is the part of *testing.T the world uses; the canary tests pass
// one that records the failure instead.
type fataler interface {
	Fatalf(format string, args ...any)
	Fatal(args ...any)
}

type sessionWorld struct {
	t       fataler
	be      sm.Backend
	store   *storage.Store // when the durable backend runs
	acct    sm.Account
	cfg     *sm.Config
	clients []*sessClient
	ntag    int
	renamed bool // a RENAME or DELETE ran: mailbox names no longer identify what sessions selected
}

// sessClient is one connection and what its client knows.
type sessClient struct {
	name    string
	s       *sm.Session
	woken   bool
	idle    bool   // in IDLE (the session says so)
	auth    bool   // the session waits for an AUTHENTICATE answer
	waitTag []byte // tag of the IDLE or AUTHENTICATE in progress
	partial bool   // the last bytes sent were an incomplete command
	utf8    bool   // UTF8=ACCEPT or IMAP4rev2 enabled
	rev2    bool   // IMAP4rev2 enabled
	model   seqModel
	mailbox string // what the selected mailbox was called when selected
	user    string // who logged in with LOGIN ("" if unknown)
}

func (c *sessClient) Wake() { c.woken = true }

func newSessionWorld(t fataler) *sessionWorld {
	cfg := sm.NewConfig()
	cfg.AllowPlaintextAuth = true
	cfg.TLSAvailable = true
	cfg.Limits = sm.Limits{MaxLine: 2048, MaxLiteral: 8192, MaxNonSyncLiteral: 8192, MaxCommand: 16384, MaxLiterals: 16}
	cfg.Init()
	return &sessionWorld{t: t, cfg: cfg}
}

// backend sets up the users on memstore, or (durable) on storage over a
// MemFS.
func (w *sessionWorld) backend(durable bool) {
	if durable {
		fsys := storage.NewMemFS(storage.MemFSOptions{})
		for u, pw := range sessionUsers {
			if err := (storage.UsersFile{FS: fsys, Path: "users"}).Add(u, "PLAIN", pw); err != nil {
				w.t.Fatal(err)
			}
		}
		st, err := storage.Open(stConfig(fsys))
		if err != nil {
			w.t.Fatal(err)
		}
		w.be, w.store = st, st
	} else {
		be := memstore.New()
		for u, pw := range sessionUsers {
			be.AddUser(u, pw)
		}
		w.be = be
	}
	acct, err := w.be.Login("alice", "secret")
	if err != nil {
		w.t.Fatal(err)
	}
	w.acct = acct
}

func (w *sessionWorld) connect(i int) {
	c := &sessClient{name: string(rune('A' + i))}
	c.s = sm.NewSession(w.cfg, w.be, c, false)
	out := c.s.Start(sessionNow, nil)
	rs := w.responses(c, out, "greeting")
	if len(rs) != 1 || rs[0].status != "OK" {
		w.t.Fatalf("session %s greeting %q", c.name, out)
	}
	if i < len(w.clients) {
		w.clients[i] = c
	} else {
		w.clients = append(w.clients, c)
	}
}

func (w *sessionWorld) run(in []byte) {
	if len(in) == 0 {
		return
	}
	setup := in[0]
	in = in[1:]
	w.backend(setup&0x80 != 0)
	defer w.close()
	n := 1 + int(setup&3)
	for i := range (setup >> 4) & 7 {
		m := sessionMessages[int(i)%len(sessionMessages)]
		if _, err := w.acct.Append("INBOX", nil, sessionNow, []byte(m)); err != nil {
			w.t.Fatal(err)
		}
	}
	for i := range n {
		w.connect(i)
		if setup&12 != 0 {
			w.send(w.clients[i], []byte(w.tag()+" LOGIN alice secret\r\n"))
		}
		if setup&8 != 0 {
			w.send(w.clients[i], []byte(w.tag()+" SELECT INBOX\r\n"))
		}
	}
	w.deliver()
	for len(in) > 0 {
		sel := in[0]
		in = in[1:]
		deliver := true
		var c *sessClient
		switch {
		case sel == 'W':
			w.deliver()
			continue
		case 'A' <= sel && sel <= 'D':
			c = w.clients[int(sel-'A')%n]
		case 'a' <= sel && sel <= 'd':
			c = w.clients[int(sel-'a')%n]
			deliver = false
		default:
			c = w.clients[int(sel)%n]
		}
		k := w.opLen(c, in)
		w.send(c, in[:k])
		in = in[k:]
		if deliver {
			w.deliver()
		}
	}
	w.deliver()
	w.final()
}

// close ends every session, then the store.
func (w *sessionWorld) close() {
	for _, c := range w.clients {
		c.s.Close()
	}
	if w.store != nil {
		w.store.Close()
	}
}

func (w *sessionWorld) tag() string {
	w.ntag++
	return "z" + strconv.Itoa(w.ntag)
}

// opLen returns how many bytes of in the session takes as one command (or
// one line), using a framer with the session's limits.
func (w *sessionWorld) opLen(c *sessClient, in []byte) int {
	var f sm.Framer
	lim := &w.cfg.Limits
	for {
		var fr sm.Frame
		if c.idle || c.auth {
			fr = f.NextLine(in, lim)
		} else {
			fr = f.Next(in, lim)
		}
		switch fr.Kind {
		case sm.FrameContinue:
			continue
		case sm.FrameNeedMore:
			return len(in)
		}
		return fr.N
	}
}

// send gives data to a session in one Receive and checks the answer.
func (w *sessionWorld) send(c *sessClient, data []byte) {
	if len(data) == 0 {
		return
	}
	// What the session should make of it.
	var f sm.Framer
	lim := &w.cfg.Limits
	var fr sm.Frame
	lineMode := c.idle || c.auth
	if lineMode {
		fr = f.NextLine(data, lim)
	} else {
		for fr = f.Next(data, lim); fr.Kind == sm.FrameContinue; fr = f.Next(data, lim) {
		}
	}
	var cmd sm.Command
	parsed := false
	if fr.Kind == sm.FrameCommand {
		parsed = sm.ParseCommand(data[:fr.N], &cmd, sm.ParseOptions{UTF8: c.utf8}) == nil
	}
	var before seqModel
	selecting := false
	if parsed {
		switch cmd.Name {
		case sm.CmdSelect, sm.CmdExamine:
			// SELECT deselects before it tries (RFC 9051 §6.3.2), unless
			// it is refused with BAD (e.g. QRESYNC not enabled, RFC 7162
			// §3.2.5): then nothing changed.
			before = c.model.clone()
			selecting = true
			c.model.reset()
		case sm.CmdRename, sm.CmdDelete:
			w.renamed = true
		}
	}

	c.model.searchSeq = !lineMode && parsed && cmd.Name == sm.CmdSearch && !cmd.UID
	out, eff := c.s.Receive(sessionNow, data, nil)
	c.model.searchSeq = false
	what := fmt.Sprintf("%q", data)
	rs := w.responses(c, out, what)
	if parsed && !lineMode && !cmd.UID && (cmd.Name == sm.CmdFetch || cmd.Name == sm.CmdStore || cmd.Name == sm.CmdSearch) {
		// RFC 9051 §7.5.1: no EXPUNGE while answering FETCH, STORE or
		// SEARCH by sequence number (nor VANISHED, RFC 7162 §3.2.10).
		for _, r := range rs {
			if len(r.vals) >= 2 && (strings.EqualFold(string(r.vals[1].text), "EXPUNGE") ||
				strings.EqualFold(string(r.vals[0].text), "VANISHED") && r.vals[1].kind != rList) {
				w.t.Fatalf("session %s, sent %s: %s while answering %v\nresponses:\n%s", c.name, what, r.raw, cmd.Name, out)
			}
		}
	}
	if parsed && cmd.Name == sm.CmdStore && cmd.Silent {
		c.model.forgetFlags()
	}
	ok := false
	for _, r := range rs {
		if r.tag != "" {
			ok = r.status == "OK"
			if selecting && r.status == "BAD" {
				c.model = before
			}
		}
	}
	if c.partial && !lineMode {
		// The start of this command came earlier; its completion
		// cannot be told apart. Only the syntax and the model are checked.
		c.partial = fr.Kind == sm.FrameNeedMore
		w.afterSend(c, eff, parsed, ok, &cmd)
		return
	}
	completions := 0
	var tags []string
	cont := false
	bye := false
	for _, r := range rs {
		switch {
		case r.cont:
			cont = true
		case r.tag != "":
			completions++
			tags = append(tags, r.tag)
		case r.status == "BAD":
			completions++
			tags = append(tags, "*")
		case r.status == "NO" && fr.Kind == sm.FrameLiteralTooBig:
			// "* NO [TOOBIG]" when the tag was unreadable.
			completions++
			tags = append(tags, "*")
		case r.status == "BYE":
			bye = true
		}
	}
	fail := func(format string, args ...any) {
		w.t.Fatalf("session %s, sent %s: %s\nresponses:\n%s", c.name, what, fmt.Sprintf(format, args...), out)
	}
	switch fr.Kind {
	case sm.FrameNeedMore:
		if completions != 0 {
			fail("%d completions for an incomplete command", completions)
		}
		c.partial = !lineMode
	case sm.FrameFatal:
		if !bye || eff&sm.EffClose == 0 {
			fail("fatal frame without BYE and close")
		}
	case sm.FrameLine:
		if completions != 1 {
			fail("%d completions for the line ending IDLE/AUTHENTICATE", completions)
		}
		if tags[0] != string(c.waitTag) && !(len(c.waitTag) == 0 && tags[0] == "*") {
			fail("completion tagged %s, want %s", tags[0], c.waitTag)
		}
		c.idle, c.auth = false, false
	case sm.FrameCommand:
		switch {
		case completions == 1:
			if len(cmd.Tag) > 0 && tags[0] != string(cmd.Tag) && parsed {
				fail("completion tagged %s, want %s", tags[0], cmd.Tag)
			}
		case completions == 0 && parsed && cmd.Name == sm.CmdIdle && cont && c.s.Idling():
			c.idle, c.waitTag = true, append([]byte(nil), cmd.Tag...)
		case completions == 0 && parsed && cmd.Name == sm.CmdAuthenticate && cont && !cmd.HasInitialResp:
			c.auth, c.waitTag = true, append([]byte(nil), cmd.Tag...)
		default:
			fail("%d completions (%v) for one command", completions, tags)
		}
	default: // LiteralTooBig, Bad
		if completions != 1 {
			fail("%d completions for a %v frame", completions, fr.Kind)
		}
		// A too long line that has not ended yet: the session skips
		// up to its LF, whatever comes next.
		c.partial = fr.Kind == sm.FrameBad && data[len(data)-1] != '\n'
	}
	if c.s.Idling() != c.idle {
		fail("session idling %v, client thinks %v", c.s.Idling(), c.idle)
	}
	w.afterSend(c, eff, parsed, ok, &cmd)
}

func (w *sessionWorld) afterSend(c *sessClient, eff sm.Effect, parsed, ok bool, cmd *sm.Command) {
	if parsed && ok && cmd.Name == sm.CmdLogin {
		c.user = string(cmd.User)
	}
	if parsed && ok && (cmd.Name == sm.CmdSelect || cmd.Name == sm.CmdExamine) {
		c.mailbox = string(cmd.Mailbox)
	}
	if c.s.State() != sm.StateSelected {
		c.model.reset()
		c.mailbox = ""
	}
	if eff&sm.EffStartTLS != 0 {
		c.s.TLSReady()
	}
	if eff&sm.EffClose != 0 {
		c.s.Close()
		for i, o := range w.clients {
			if o == c {
				w.connect(i)
			}
		}
	}
}

// responses reads a session's output, failing on bad syntax, and applies
// every response to the client's model.
func (w *sessionWorld) responses(c *sessClient, out []byte, what string) []resp {
	if len(out) == 0 {
		return nil
	}
	rs, err := readResponses(out, true)
	if err != nil {
		w.t.Fatalf("session %s, after %s: malformed response: %v\noutput: %q", c.name, what, err, out)
	}
	for _, r := range rs {
		if len(r.vals) > 0 && strings.EqualFold(string(r.vals[0].text), "ENABLED") {
			for _, v := range r.vals[1:] {
				if e := strings.ToUpper(string(v.text)); e == "IMAP4REV2" || e == "UTF8=ACCEPT" {
					c.utf8 = true
					c.rev2 = c.rev2 || e == "IMAP4REV2"
				}
			}
		}
		c.model.rev2 = c.rev2
		if bad := c.model.apply(r); bad != "" {
			w.t.Fatalf("session %s, after %s: %s\nin: %s\noutput:\n%s", c.name, what, bad, r.raw, out)
		}
	}
	return rs
}

// deliver runs the pending wake-ups, as netio does after a step.
func (w *sessionWorld) deliver() {
	for again := true; again; {
		again = false
		for _, c := range w.clients {
			if !c.woken {
				continue
			}
			c.woken = false
			again = true
			out, eff := c.s.Wake(sessionNow, nil)
			if eff != 0 {
				w.t.Fatalf("session %s: wake-up effect %v", c.name, eff)
			}
			if len(out) > 0 && !c.idle {
				w.t.Fatalf("session %s wrote %q on a wake-up outside IDLE", c.name, out)
			}
			for _, r := range w.responses(c, out, "a wake-up") {
				if r.tag != "" || r.cont {
					w.t.Fatalf("session %s wrote %q on a wake-up", c.name, r.raw)
				}
			}
		}
	}
}

// final ends IDLE, syncs every selected session and compares what its
// client knows with the mailbox.
func (w *sessionWorld) final() {
	for _, c := range w.clients {
		if c.partial || c.auth {
			continue
		}
		if c.idle {
			w.send(c, []byte("DONE\r\n"))
			w.deliver()
		}
		if c.s.State() != sm.StateSelected || c.model.lost {
			continue
		}
		w.send(c, []byte(w.tag()+" NOOP\r\n"))
		w.deliver()
		if len(c.model.seq) > 0 {
			w.send(c, []byte(w.tag()+" FETCH 1:* (UID)\r\n"))
			w.deliver()
		}
		if c.model.lost {
			continue
		}
		for i, u := range c.model.seq {
			if u == 0 {
				w.t.Fatalf("session %s: message %d has no UID after FETCH 1:* (UID)", c.name, i+1)
			}
		}
		if w.renamed || c.mailbox == "" || sessionUsers[c.user] == "" {
			continue
		}
		acct, err := w.be.Login(c.user, sessionUsers[c.user])
		if err != nil {
			w.t.Fatal(err)
		}
		mb, err := acct.Open(c.mailbox)
		if err != nil {
			continue
		}
		msgs := mb.Current().Messages()
		acct.Release(mb)
		if len(msgs) != len(c.model.seq) {
			w.t.Fatalf("session %s knows %d messages in %q, the mailbox has %d", c.name, len(c.model.seq), c.mailbox, len(msgs))
		}
		kw := mb.Current().Keywords
		for i, m := range msgs {
			if c.model.seq[i] != m.UID {
				w.t.Fatalf("session %s: message %d is UID %d, the mailbox says %d", c.name, i+1, c.model.seq[i], m.UID)
			}
			// After NOOP every flag change is reported (RFC 9051 §7.5.2
			// FETCH (FLAGS) at the sync point): what the client last
			// heard is what the mailbox holds.
			if f := c.model.flags[i]; f != "?" && f != snapshotFlagKey(m.Flags, kw) {
				w.t.Fatalf("session %s: message %d (UID %d) has flags %q, the client was last told %q", c.name, i+1, m.UID, snapshotFlagKey(m.Flags, kw), f)
			}
		}
	}
}

// seqModel is what a client knows of its selected mailbox, rebuilt from the
// responses alone: sequence number → UID (0 while unknown).
type seqModel struct {
	seq       []sm.UID
	flags     []string // the message's flags as last reported, sorted, lower case; "?" unknown
	lost      bool     // a VANISHED named UIDs the model cannot place: stop checking until reset
	searchSeq bool     // the command in progress is SEARCH by sequence number: "* SEARCH" holds numbers
	rev2      bool     // IMAP4rev2 is enabled (its BODYSTRUCTURE grammar)
}

func (m *seqModel) reset() { *m = seqModel{} }

func (m *seqModel) clone() seqModel {
	c := *m
	c.seq = append([]sm.UID(nil), m.seq...)
	c.flags = append([]string(nil), m.flags...)
	return c
}

// forgetFlags: the client changed flags silently (STORE .SILENT); what it
// knows is no longer what the server reported.
func (m *seqModel) forgetFlags() {
	for i := range m.flags {
		m.flags[i] = "?"
	}
}

// flagKey renders a set of flag names as the model stores them. \Recent is
// left out: it belongs to the session, not to the stored message (RFC 3501
// §2.3.2; statemachine's recent tests check it).
func flagKey(names []string) string {
	l := make([]string, 0, len(names))
	for _, n := range names {
		if strings.EqualFold(n, `\Recent`) {
			continue
		}
		l = append(l, strings.ToLower(n))
	}
	sort.Strings(l)
	return strings.Join(l, " ")
}

// snapshotFlagKey renders a message's flags as flagKey does.
func snapshotFlagKey(f sm.Flags, keywords []string) string {
	var names []string
	for _, sf := range []struct {
		f sm.Flags
		n string
	}{{sm.FlagSeen, `\Seen`}, {sm.FlagAnswered, `\Answered`}, {sm.FlagFlagged, `\Flagged`}, {sm.FlagDeleted, `\Deleted`}, {sm.FlagDraft, `\Draft`}} {
		if f&sf.f != 0 {
			names = append(names, sf.n)
		}
	}
	for i, k := range keywords {
		if f&(1<<(sm.KeywordBase+i)) != 0 {
			names = append(names, k)
		}
	}
	return flagKey(names)
}

// apply checks one response against the model and updates it; it returns
// a description of the contradiction, or "".
func (m *seqModel) apply(r resp) string {
	if m.lost || len(r.vals) < 2 {
		return ""
	}
	v := r.vals
	if name := strings.ToUpper(string(v[0].text)); name == "SEARCH" {
		for _, x := range v[1:] {
			if x.kind == rList {
				break // (MODSEQ n)
			}
			n, ok := x.number()
			if !ok || n == 0 {
				return fmt.Sprintf("SEARCH result %v", x)
			}
			if m.searchSeq && n > uint64(len(m.seq)) {
				return fmt.Sprintf("SEARCH returned %d, the client knows %d messages", n, len(m.seq))
			}
		}
		return ""
	} else if name == "VANISHED" {
		if len(v) == 3 && v[1].kind == rList {
			return "" // (EARLIER): no numbers change
		}
		for _, u := range m.seq {
			if u == 0 {
				m.lost = true
				return ""
			}
		}
		set, ok := parseUIDSet(string(v[1].text))
		if !ok {
			return fmt.Sprintf("VANISHED set %q", v[1].text)
		}
		kept, keptFlags := m.seq[:0], m.flags[:0]
		for i, u := range m.seq {
			if !set(u) {
				kept = append(kept, u)
				keptFlags = append(keptFlags, m.flags[i])
			}
		}
		m.seq, m.flags = kept, keptFlags
		return ""
	}
	n64, ok := v[0].number()
	if !ok {
		return ""
	}
	if n64 > 1<<32-1 {
		return fmt.Sprintf("number %d over 2^32-1", n64)
	}
	n := int(n64)
	switch strings.ToUpper(string(v[1].text)) {
	case "EXISTS":
		if n < len(m.seq) {
			return fmt.Sprintf("EXISTS %d shrinks the mailbox from %d without EXPUNGE", n, len(m.seq))
		}
		for len(m.seq) < n {
			m.seq = append(m.seq, 0)
			m.flags = append(m.flags, "?")
		}
	case "EXPUNGE":
		if n < 1 || n > len(m.seq) {
			return fmt.Sprintf("EXPUNGE %d of a mailbox of %d", n, len(m.seq))
		}
		m.seq = append(m.seq[:n-1], m.seq[n:]...)
		m.flags = append(m.flags[:n-1], m.flags[n:]...)
	case "FETCH":
		if n < 1 || n > len(m.seq) {
			return fmt.Sprintf("FETCH for message %d, the client knows %d", n, len(m.seq))
		}
		if len(v) != 3 || v[2].kind != rList {
			return "FETCH without an item list"
		}
		if err := checkFetchItems(v[2].list, m.rev2); err != nil {
			return "FETCH items: " + err.Error()
		}
		items := v[2].list
		for i := 0; i+1 < len(items); i += 2 {
			if strings.EqualFold(string(items[i].text), "FLAGS") {
				var names []string
				for _, f := range items[i+1].list {
					names = append(names, string(f.text))
				}
				m.flags[n-1] = flagKey(names)
				continue
			}
			if !strings.EqualFold(string(items[i].text), "UID") {
				continue
			}
			u64, ok := items[i+1].number()
			if !ok || u64 == 0 || u64 > 1<<32-1 {
				return fmt.Sprintf("bad UID %v", items[i+1])
			}
			u := sm.UID(u64)
			if old := m.seq[n-1]; old != 0 && old != u {
				return fmt.Sprintf("message %d was UID %d, now UID %d", n, old, u)
			}
			m.seq[n-1] = u
			for k := n - 2; k >= 0; k-- {
				if m.seq[k] != 0 {
					if m.seq[k] >= u {
						return fmt.Sprintf("UIDs not ascending: %d at %d, %d at %d", m.seq[k], k+1, u, n)
					}
					break
				}
			}
			for k := n; k < len(m.seq); k++ {
				if m.seq[k] != 0 {
					if m.seq[k] <= u {
						return fmt.Sprintf("UIDs not ascending: %d at %d, %d at %d", u, n, m.seq[k], k+1)
					}
					break
				}
			}
		}
	}
	return ""
}

// parseUIDSet parses a sequence set of UIDs (no "*") into a membership test.
func parseUIDSet(s string) (func(sm.UID) bool, bool) {
	type rng struct{ lo, hi uint64 }
	var rs []rng
	for _, part := range strings.Split(s, ",") {
		a, b, isRange := strings.Cut(part, ":")
		lo, err := strconv.ParseUint(a, 10, 32)
		if err != nil {
			return nil, false
		}
		hi := lo
		if isRange {
			if hi, err = strconv.ParseUint(b, 10, 32); err != nil {
				return nil, false
			}
		}
		if lo > hi {
			lo, hi = hi, lo
		}
		rs = append(rs, rng{lo, hi})
	}
	return func(u sm.UID) bool {
		for _, r := range rs {
			if uint64(u) >= r.lo && uint64(u) <= r.hi {
				return true
			}
		}
		return false
	}, true
}

// sessionScript turns conversation steps into a FuzzSession op stream:
// each step's bytes with its session's letter as selector.
func sessionScript(steps []convStep) []byte {
	var b bytes.Buffer
	letters := map[string]byte{}
	for _, s := range steps {
		l, ok := letters[s.session]
		if !ok {
			l = 'A' + byte(len(letters)%4)
			letters[s.session] = l
		}
		// A step may hold several commands (">>" lines): split it so
		// that each gets its selector. Without knowing the session's
		// mode, split at line ends outside literals.
		for _, piece := range splitCommands(s.data) {
			b.WriteByte(l)
			b.Write(piece)
		}
	}
	return b.Bytes()
}

// splitCommands splits data into commands with a framer in default limits
// (a trailing incomplete command stays one piece).
func splitCommands(data []byte) [][]byte {
	var out [][]byte
	for len(data) > 0 {
		var f sm.Framer
		fr := f.Next(data, nil)
		for fr.Kind == sm.FrameContinue {
			fr = f.Next(data, nil)
		}
		n := fr.N
		if fr.Kind == sm.FrameNeedMore || n == 0 {
			n = len(data)
		}
		out = append(out, data[:n])
		data = data[n:]
	}
	return out
}
