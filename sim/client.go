package main

import (
	"bytes"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/anishathalye/porcupine"

	lin "github.com/myriad-mail/myriad/linearizability"
	sm "github.com/myriad-mail/myriad/statemachine"
)

// chunk is bytes in flight on one direction of a connection.
type chunk struct {
	at   int64
	data []byte
}

// conn is one TCP connection: a server session and two byte queues. The
// network keeps order (as TCP does) but splits writes at random points and
// delays them.
type conn struct {
	w       *world
	id      int
	cl      *client
	sess    *sm.Session
	up      []chunk // client → server
	down    []chunk // server → client
	closed  bool
	closing bool // the server asked to close once its output is written
	woken   bool
	lastIn  int64
}

// Wake implements statemachine.Waker: the session is queued and stepped after
// the current step, as netio does.
func (cn *conn) Wake() {
	if !cn.woken {
		cn.woken = true
		cn.w.woken = append(cn.w.woken, cn)
	}
}

func (w *world) send(q *[]chunk, data []byte) {
	var last int64
	if n := len(*q); n > 0 {
		last = (*q)[n-1].at
	}
	k := 1
	if w.sw.splitMax > 1 && len(data) > 1 {
		k = 1 + w.rng.IntN(min(w.sw.splitMax, len(data)))
	}
	cuts := make([]int, 0, k+1)
	for range k - 1 {
		cuts = append(cuts, 1+w.rng.IntN(len(data)-1))
	}
	slices.Sort(cuts)
	cuts = append(cuts, len(data))
	prev := 0
	for _, c := range cuts {
		if c <= prev {
			continue
		}
		at := w.now
		if w.sw.delayMaxUS > 0 {
			at += w.rng.Int64N(w.sw.delayMaxUS + 1)
		}
		at = max(at, last)
		last = at
		*q = append(*q, chunk{at: at, data: data[prev:c]})
		prev = c
	}
}

func (cn *conn) deliverUp() {
	for len(cn.up) > 0 && cn.up[0].at <= cn.w.now && !cn.closed && !cn.closing {
		data := cn.up[0].data
		cn.up = cn.up[1:]
		cn.lastIn = cn.w.now
		p := cn.cl.cur
		t := cn.w.stamp()
		if p != nil {
			p.upLeft -= len(data)
			if p.upLeft == 0 {
				p.srvCall = t
			}
		}
		out, eff := cn.sess.Receive(cn.w.nowSec(), data, nil)
		if p != nil && p.upLeft == 0 && taggedIn(out, p.tag) {
			p.srvReturn = t
		}
		cn.serverOut(out, eff)
	}
}

func (cn *conn) serverOut(out []byte, eff sm.Effect) {
	if len(out) > 0 {
		cn.w.send(&cn.down, bytes.Clone(out))
	}
	if eff&sm.EffClose != 0 {
		cn.closing = true
		cn.up = nil
	}
}

func (cn *conn) deliverDown() {
	for len(cn.down) > 0 && cn.down[0].at <= cn.w.now && !cn.closed {
		data := cn.down[0].data
		cn.down = cn.down[1:]
		cn.cl.receive(data)
	}
	if cn.closing && len(cn.down) == 0 && !cn.closed {
		cn.closed = true
		cn.sess.Close()
		cn.cl.disconnected("server closed the connection")
	}
}

func (cn *conn) checkTimeout() {
	t := cn.sess.Timeout()
	if t > 0 && !cn.closing && cn.w.now-cn.lastIn >= t*1e6 {
		out, eff := cn.sess.Tick(cn.w.nowSec(), nil)
		cn.serverOut(out, eff)
	}
}

// kill drops the connection at both ends at once: bytes in flight are lost,
// so the server can process nothing of it after this instant.
func (cn *conn) kill() {
	if cn.closed {
		return
	}
	cn.closed = true
	if cn.sess != nil {
		cn.sess.Close()
	}
	cn.up, cn.down = nil, nil
	cn.cl.disconnected("connection dropped")
}

type cmdKind uint8

const (
	kOther cmdKind = iota
	kLogin
	kSelect
	kUnselect
	kLogout
	kIdle
	kAppend
	kCopy
	kStatus
	kEnable
)

// pending is the command a client has in flight (clients do not pipeline).
type pending struct {
	// Interval of the operation as a tap at the server's network
	// interface sees it: the command's last byte arrived at srvCall, its
	// tagged response left at srvReturn (see docs/SIM.md).
	upLeft    int
	srvCall   int64
	srvReturn int64

	tag, text string
	kind      cmdKind
	call      int64
	in        *lin.Input // the model operation, or nil
	readBox   string     // the modelled mailbox selected when sent
	out       lin.Output
	rest      []byte // literal data waiting for the continuation
	silent    []uint32
	target    string
	readOnly  bool
	malformed bool
	badLogin  bool
	// STORE (UNCHANGEDSINCE unchanged): [MODIFIED] holds UIDs when
	// uidCmd, else sequence numbers.
	uidCmd       bool
	hasUnchanged bool
	unchanged    uint64
}

// client is one simulated IMAP client: it connects, logs in, selects, and
// issues a random mix of commands, one at a time, checking every response.
type client struct {
	w        *world
	id       int
	user     string
	pass     string
	cn       *conn
	greeted  bool
	authed   bool
	selected string
	readOnly bool
	pc       lin.Session
	cur      *pending
	tagN     int
	idle     bool
	idleEnd  int64
	doneSent bool
	nextAct  int64
	inbuf    []byte
	msgN     int
	// ext is what this connection enables (RFC 7162): extNone,
	// extCondStore or extQResync; enableSent once ENABLE went out.
	ext        int
	enableSent bool
	// qr is what the client remembers of each mailbox for a QRESYNC
	// SELECT on a later selection or connection (RFC 7162 §3.2.5).
	qr map[string]qrState
}

// Extensions a simulated connection enables.
const (
	extNone = iota
	extCondStore
	extQResync
)

// qrState is what a QRESYNC client remembers of a mailbox.
type qrState struct {
	uidValidity uint32
	modseq      uint64
	uids        []uint32
}

// remember records what the client knows of the selected mailbox, for a
// later SELECT (QRESYNC ...): its UIDVALIDITY, the HIGHESTMODSEQ of the
// selection (every change up to it was reported since) and the UIDs it
// holds.
func (c *client) remember() {
	if c.selected == "" || c.pc.UIDValidity == 0 || c.pc.HighestModSeq == 0 {
		return
	}
	if c.qr == nil {
		c.qr = map[string]qrState{}
	}
	var uids []uint32
	for _, u := range c.pc.Seq {
		if u != 0 {
			uids = append(uids, u)
		}
	}
	c.qr[c.selected] = qrState{uidValidity: c.pc.UIDValidity, modseq: c.pc.HighestModSeq, uids: uids}
}

func (c *client) connect() {
	w := c.w
	cn := &conn{w: w, id: w.res.Sessions, cl: c, lastIn: w.now}
	w.res.Sessions++
	cn.sess = sm.NewSession(w.cfg, w.backend, cn, false)
	c.cn = cn
	c.greeted, c.authed, c.selected, c.idle, c.cur = false, false, "", false, nil
	c.inbuf = c.inbuf[:0]
	// A third of the connections enable nothing, a third CONDSTORE, a
	// third QRESYNC (which implies CONDSTORE).
	c.ext, c.enableSent, c.pc.QResync = w.rng.IntN(3), false, false
	w.conns = append(w.conns, cn)
	w.logf("c%d connects (connection %d)", c.id, cn.id)
	cn.serverOut(cn.sess.Start(w.nowSec(), nil), 0)
}

func (c *client) disconnected(why string) {
	w := c.w
	w.logf("c%d %s", c.id, why)
	if p := c.cur; p != nil {
		if p.in != nil && p.in.Kind != lin.OpRead && p.in.Kind != lin.OpStatus {
			p.out = lin.Output{Unknown: true}
			w.record(porcupine.Operation{ClientId: c.id, Input: p.in, Output: &p.out, Call: p.call, Return: w.stamp()})
		}
	}
	c.cur, c.cn = nil, nil
	c.greeted, c.authed, c.selected, c.idle = false, false, "", false
	c.nextAct = w.now + w.rng.Int64N(w.sw.thinkMaxUS+1000)
}

func (c *client) sendRaw(b []byte) {
	if c.cur != nil {
		c.cur.upLeft += len(b)
	}
	c.w.send(&c.cn.up, b)
}

// taggedIn reports whether out holds the tagged response of tag.
func taggedIn(out []byte, tag string) bool {
	for len(out) > 0 {
		if len(out) > len(tag) && string(out[:len(tag)]) == tag && out[len(tag)] == ' ' {
			return true
		}
		i := bytes.IndexByte(out, '\n')
		if i < 0 {
			return false
		}
		out = out[i+1:]
	}
	return false
}

// start sends a command and makes it the one in flight.
func (c *client) start(p *pending, line string) {
	c.tagN++
	p.tag = fmt.Sprintf("c%d.%d", c.id, c.tagN)
	p.text = line
	p.call = c.w.stamp()
	if c.selected != "" && isModelled(c.selected) && p.kind != kSelect && p.kind != kLogout && p.kind != kUnselect && !p.malformed {
		p.readBox = c.selected
	}
	if p.in != nil {
		p.in.Key = c.w.key(c.user)
		p.in.Text = fmt.Sprintf("c%d %s", c.id, line)
	}
	c.cur = p
	c.pc.NextCommand()
	p.srvCall, p.srvReturn = -1, -1
	full := p.tag + " " + line + "\r\n"
	c.w.logf("c%d> %s%s", c.id, p.tag+" "+line, litNote(p.rest))
	c.sendRaw([]byte(full))
}

func litNote(rest []byte) string {
	if rest == nil {
		return ""
	}
	return fmt.Sprintf(" <%d literal bytes after +>", len(rest))
}

func isModelled(name string) bool { return slices.Contains(modelled, name) }

func (c *client) act() {
	w := c.w
	if c.cn == nil {
		if !w.drain && w.now >= c.nextAct {
			c.connect()
		}
		return
	}
	if !c.greeted {
		return
	}
	if c.idle {
		if !c.doneSent && (w.now >= c.idleEnd || w.drain) {
			c.doneSent = true
			c.cur.call = w.stamp() // the observation is of the state when DONE is read
			w.logf("c%d> DONE", c.id)
			c.sendRaw([]byte("DONE\r\n"))
		}
		return
	}
	if c.cur != nil || w.drain || w.now < c.nextAct {
		return
	}
	c.nextAct = w.now + w.rng.Int64N(w.sw.thinkMaxUS+1)
	if w.sw.pClientClose > 0 && w.rng.Float64() < w.sw.pClientClose {
		w.logf("c%d closes its connection", c.id)
		c.cn.kill()
		return
	}
	if w.sw.pMalformed > 0 && w.rng.Float64() < w.sw.pMalformed {
		c.malformed()
		return
	}
	if !c.authed {
		p := &pending{kind: kLogin}
		pass := c.pass
		if w.rng.IntN(50) == 0 {
			pass = "wrong"
			p.badLogin = true
		}
		c.start(p, fmt.Sprintf("LOGIN %s %s", c.user, pass))
		return
	}
	if c.ext != extNone && !c.enableSent {
		c.enableSent = true
		c.start(&pending{kind: kEnable}, []string{"", "ENABLE CONDSTORE", "ENABLE QRESYNC"}[c.ext])
		return
	}
	if c.selected == "" {
		c.choose(authCmds)
		return
	}
	c.choose(selectedCmds)
}

type weighted struct {
	w  int
	fn func(c *client)
}

var authCmds, selectedCmds []weighted

func init() {
	authCmds = []weighted{
		{12, (*client).cmdSelect},
		{3, (*client).cmdAppend},
		{2, (*client).cmdStatus},
		{2, (*client).cmdMailboxes},
		{1, (*client).cmdLogout},
		{1, (*client).cmdNoop},
	}
	selectedCmds = []weighted{
		{10, (*client).cmdAppend},
		{10, (*client).cmdFetch},
		{8, (*client).cmdUIDFetch},
		{10, (*client).cmdStore},
		{8, (*client).cmdUIDStore},
		{5, (*client).cmdSearch},
		{4, (*client).cmdCopy},
		{4, (*client).cmdExpunge},
		{3, (*client).cmdUIDExpunge},
		{1, (*client).cmdClose},
		{4, (*client).cmdIdle},
		{6, (*client).cmdNoop},
		{4, (*client).cmdSelect},
		{1, (*client).cmdUnselect},
		{3, (*client).cmdStatus},
		{2, (*client).cmdMailboxes},
		{1, (*client).cmdLogout},
	}
}

func (c *client) choose(cmds []weighted) {
	total := 0
	for _, x := range cmds {
		total += x.w
	}
	n := c.w.rng.IntN(total)
	for _, x := range cmds {
		if n < x.w {
			x.fn(c)
			return
		}
		n -= x.w
	}
}

var malformedLines = []string{
	"FROBNICATE", "FETCH", "FETCH 1:* (FLAGS", "STORE 1 +FLAGS", "UID BOGUS 1", "SELECT",
	"LOGIN", "SEARCH (((", "\x01\x02garbage", "FETCH 0 (FLAGS)", "STORE 1:x FLAGS (\\Seen)",
	"COPY", "APPEND", "NOOP extra", "UID FETCH 1:* (FLAGS BODY[HEADER.FIELDS (Subject)", "EXPUNGE 1",
	"STATUS INBOX (FOO)", "IDLE now",
}

func (c *client) malformed() {
	line := pick(c.w.rng, malformedLines...)
	c.start(&pending{malformed: true}, line)
}

func (c *client) randFlags() lin.Flags {
	f := lin.Flags(1) << c.w.rng.IntN(7)
	if c.w.rng.IntN(3) == 0 {
		f |= lin.Flags(1) << c.w.rng.IntN(7)
	}
	return f
}

func flagList(f lin.Flags) string { return "(" + strings.Join(f.Names(), " ") + ")" }

func (c *client) cmdSelect() {
	name := pick(c.w.rng, modelled...)
	p := &pending{kind: kSelect, target: name}
	verb := "SELECT"
	if c.w.rng.IntN(4) == 0 {
		verb, p.readOnly = "EXAMINE", true
	}
	c.remember()
	c.pc.Select(name)
	params := ""
	switch qr, ok := c.qr[name]; {
	case c.pc.QResync && ok && c.w.rng.IntN(4) != 0:
		// RFC 7162 §3.2.5: resynchronize from what was remembered,
		// sometimes without the known UIDs.
		params = fmt.Sprintf(" (QRESYNC (%d %d", qr.uidValidity, qr.modseq)
		if len(qr.uids) > 0 && c.w.rng.IntN(3) != 0 {
			params += " " + uidSetText(qr.uids)
		}
		params += "))"
	case c.ext != extNone && c.w.rng.IntN(3) == 0:
		params = " (CONDSTORE)"
	}
	c.start(p, verb+" "+name+params)
}

// uidSetText renders ascending UIDs as a compact set ("1:3,7").
func uidSetText(uids []uint32) string {
	var sb strings.Builder
	for i := 0; i < len(uids); {
		j := i
		for j+1 < len(uids) && uids[j+1] == uids[j]+1 {
			j++
		}
		if i > 0 {
			sb.WriteByte(',')
		}
		sb.WriteString(strconv.FormatUint(uint64(uids[i]), 10))
		if j > i {
			sb.WriteString(":" + strconv.FormatUint(uint64(uids[j]), 10))
		}
		i = j + 1
	}
	return sb.String()
}

// changedSince draws a CHANGEDSINCE/UNCHANGEDSINCE value near what the
// client knows: the selection's HIGHESTMODSEQ or a message's MODSEQ, give
// or take one. ok is false when the client knows none.
func (c *client) changedSince(uids []uint32) (uint64, bool) {
	var known []uint64
	if c.pc.HighestModSeq > 0 {
		known = append(known, c.pc.HighestModSeq)
	}
	for _, u := range uids {
		if m := c.pc.ModSeq(u); m > 0 {
			known = append(known, m)
		}
	}
	if len(known) == 0 {
		return 0, false
	}
	m := int64(pick(c.w.rng, known...)) + int64(c.w.rng.IntN(3)) - 1
	return uint64(max(m, 1)), true
}

func (c *client) cmdUnselect() { c.start(&pending{kind: kUnselect}, "UNSELECT") }
func (c *client) cmdLogout()   { c.start(&pending{kind: kLogout}, "LOGOUT") }
func (c *client) cmdNoop()     { c.start(&pending{}, "NOOP") }

func (c *client) cmdClose() {
	p := &pending{kind: kUnselect}
	if !c.readOnly {
		p.in = &lin.Input{Mailbox: c.selected, Kind: lin.OpExpunge}
	}
	c.start(p, "CLOSE")
}

func (c *client) cmdAppend() {
	w := c.w
	box := pick(w.rng, modelled...)
	c.msgN++
	body := fmt.Sprintf("From: c%d@sim\r\nSubject: m%d.%d\r\nMessage-ID: <%d.%d@sim>\r\n\r\n%s\r\n",
		c.id, c.id, c.msgN, c.id, c.msgN, strings.Repeat("x", w.rng.IntN(200)))
	var f lin.Flags
	if w.rng.IntN(2) == 0 {
		f = c.randFlags()
	}
	p := &pending{kind: kAppend, in: &lin.Input{Mailbox: box, Kind: lin.OpAppend, Flags: f}}
	flags := ""
	if f != 0 {
		flags = flagList(f) + " "
	}
	if w.rng.Float64() < w.sw.syncLiteral {
		p.rest = []byte(body + "\r\n")
		c.start(p, fmt.Sprintf("APPEND %s %s{%d}", box, flags, len(body)))
		return
	}
	// LITERAL+ (RFC 7888): the literal follows at once.
	line := fmt.Sprintf("APPEND %s %s{%d+}", box, flags, len(body))
	c.start(p, line)
	c.sendRaw([]byte(body + "\r\n"))
}

// seqSet draws a sequence set the client can name: it returns the text and
// the UIDs it covers (nil when the client does not know one of them).
func (c *client) seqSet() (string, []uint32, bool) {
	n := len(c.pc.Seq)
	if n == 0 {
		return "", nil, false
	}
	r := c.w.rng
	a := 1 + r.IntN(n)
	b := a + r.IntN(min(n-a+1, 6))
	text := strconv.Itoa(a)
	switch {
	case r.IntN(10) == 0:
		a, b, text = 1, n, "1:*"
	case r.IntN(12) == 0:
		a, b, text = n, n, "*"
	case b > a:
		text = fmt.Sprintf("%d:%d", a, b)
	}
	uids := make([]uint32, 0, b-a+1)
	known := true
	for i := a; i <= b; i++ {
		u := c.pc.Seq[i-1]
		if u == 0 {
			known = false
		}
		uids = append(uids, u)
	}
	if !known {
		return text, nil, true
	}
	slices.Sort(uids)
	return text, uids, true
}

// phantomUIDGap puts uidSet's nonexistent UID out of reach of every run
// (UIDs grow by at most a few tens of thousands in one).
const phantomUIDGap = 1 << 24

// uidSet draws UIDs the client knows (plus, rarely, one that does not exist).
func (c *client) uidSet() (string, []uint32, bool) {
	var known []uint32
	for _, u := range c.pc.Seq {
		if u != 0 {
			known = append(known, u)
		}
	}
	if len(known) == 0 {
		return "", nil, false
	}
	r := c.w.rng
	k := 1 + r.IntN(min(4, len(known)))
	set := map[uint32]bool{}
	for range k {
		set[known[r.IntN(len(known))]] = true
	}
	if r.IntN(10) == 0 {
		// A UID that does not exist (RFC 9051 §6.4.9: ignored). Far above
		// any UID a run reaches: a UID just above the client's view may
		// exist already, added by another session and not yet announced to
		// this one, and whether a UID command acts on such a message
		// depends on the server (Myriad acts on the session's view only),
		// which the model cannot tell (seed 59 at -faults 0).
		set[known[len(known)-1]+phantomUIDGap] = true
	}
	uids := make([]uint32, 0, len(set))
	for u := range set {
		uids = append(uids, u)
	}
	slices.Sort(uids)
	parts := make([]string, len(uids))
	for i, u := range uids {
		parts[i] = strconv.FormatUint(uint64(u), 10)
	}
	return strings.Join(parts, ","), uids, true
}

var fetchItems = []string{"(FLAGS)", "(UID FLAGS)", "(UID RFC822.SIZE)", "(FLAGS INTERNALDATE)", "(UID)"}

func (c *client) cmdFetch() {
	set, uids, ok := c.seqSet()
	if !ok {
		c.cmdNoop()
		return
	}
	c.pc.Begin("FETCH", true, false)
	if m, ok := c.changedSince(uids); ok && c.ext != extNone && c.w.rng.IntN(2) == 0 {
		// RFC 7162 §3.1.4.1: exactly the messages changed after m.
		c.pc.BeginChangedSince(m)
		p := &pending{in: &lin.Input{Mailbox: c.selected, Kind: lin.OpRead, ChangedSince: m, UIDs: uids}}
		c.start(p, fmt.Sprintf("FETCH %s %s (CHANGEDSINCE %d)", set, pick(c.w.rng, "(FLAGS)", "(UID FLAGS)", "(UID)"), m))
		return
	}
	c.start(&pending{}, "FETCH "+set+" "+pick(c.w.rng, fetchItems...))
}

func (c *client) cmdUIDFetch() {
	set := "1:*"
	var uids []uint32
	if s, u, ok := c.uidSet(); ok && c.w.rng.IntN(2) == 0 {
		set, uids = s, u
	} else {
		for _, u := range c.pc.Seq {
			if u != 0 {
				uids = append(uids, u)
			}
		}
	}
	if m, ok := c.changedSince(uids); ok && c.ext != extNone && c.w.rng.IntN(2) == 0 {
		c.pc.BeginChangedSince(m)
		mods := fmt.Sprintf("(CHANGEDSINCE %d)", m)
		if c.pc.QResync && c.w.rng.IntN(2) == 0 {
			// RFC 7162 §3.2.6: and the UIDs of the set expunged since.
			mods = fmt.Sprintf("(CHANGEDSINCE %d VANISHED)", m)
		}
		p := &pending{in: &lin.Input{Mailbox: c.selected, Kind: lin.OpRead, ChangedSince: m, UIDs: uids}}
		c.start(p, "UID FETCH "+set+" (FLAGS) "+mods)
		return
	}
	c.start(&pending{}, "UID FETCH "+set+" (FLAGS)")
}

func (c *client) storeText() (string, lin.StoreOp, lin.Flags, bool) {
	r := c.w.rng
	op := lin.StoreOp(r.IntN(3))
	f := c.randFlags()
	if op == lin.StoreReplace && r.IntN(4) == 0 {
		f = 0
	}
	prefix := [...]string{"+FLAGS", "-FLAGS", "FLAGS"}[op]
	silent := r.IntN(3) == 0
	if silent {
		prefix += ".SILENT"
	}
	return prefix + " " + flagList(f), op, f, silent
}

func (c *client) cmdStore() {
	set, uids, ok := c.seqSet()
	if !ok {
		c.cmdNoop()
		return
	}
	text, op, f, silent := c.storeText()
	p := &pending{}
	if uids == nil {
		p.in = &lin.Input{Mailbox: c.selected, Kind: lin.OpTaint}
		if silent {
			// Some of the stored messages have no known UID: forget
			// every flag the client holds.
			for u := range c.pc.Cache {
				p.silent = append(p.silent, u)
			}
			slices.Sort(p.silent)
		}
	} else {
		p.in = &lin.Input{Mailbox: c.selected, Kind: lin.OpStore, UIDs: uids, Store: op, Flags: f}
		if silent {
			p.silent = uids
		}
	}
	c.pc.Begin("STORE", true, false)
	c.start(p, "STORE "+set+" "+c.unchangedSince(p, uids)+text)
}

// unchangedSince sometimes makes a STORE conditional (RFC 7162 §3.1.3) and
// returns the modifier to put before the flags.
func (c *client) unchangedSince(p *pending, uids []uint32) string {
	if c.ext == extNone || c.w.rng.IntN(3) != 0 {
		return ""
	}
	m, ok := c.changedSince(uids)
	if !ok {
		return ""
	}
	if p.in.Kind == lin.OpStore {
		p.in.HasUnchanged, p.in.UnchangedSince = true, m
	}
	p.hasUnchanged, p.unchanged = true, m
	return fmt.Sprintf("(UNCHANGEDSINCE %d) ", m)
}

func (c *client) cmdUIDStore() {
	set, uids, ok := c.uidSet()
	if !ok {
		c.cmdNoop()
		return
	}
	text, op, f, silent := c.storeText()
	p := &pending{in: &lin.Input{Mailbox: c.selected, Kind: lin.OpStore, UIDs: uids, Store: op, Flags: f}, uidCmd: true}
	if silent {
		p.silent = uids
	}
	c.start(p, "UID STORE "+set+" "+c.unchangedSince(p, uids)+text)
}

var searchKeys = []string{"ALL", "UNSEEN", "DELETED", "FLAGGED", "KEYWORD $Label1", "NOT SEEN", "OR DELETED DRAFT", "1:3 ANSWERED"}

func (c *client) cmdSearch() {
	key := pick(c.w.rng, searchKeys...)
	if c.w.rng.IntN(3) == 0 {
		c.start(&pending{}, "UID SEARCH "+key)
		return
	}
	c.pc.Begin("SEARCH", true, true)
	c.start(&pending{}, "SEARCH "+key)
}

// copyAllMax is the largest mailbox (as the client sees it) that COPY and
// MOVE 1:* are sent for; above it the client copies "*".
const copyAllMax = 64

func (c *client) cmdCopy() {
	r := c.w.rng
	var dests []string
	for _, m := range modelled {
		if m != c.selected {
			dests = append(dests, m)
		}
	}
	dest := pick(r, dests...)
	kind, verb := lin.OpCopy, "COPY"
	if r.IntN(2) == 0 {
		kind, verb = lin.OpMove, "MOVE"
	}
	var set string
	var uids []uint32
	var ok bool
	if r.IntN(2) == 0 {
		set, uids, ok = c.uidSet()
		verb = "UID " + verb
	} else {
		set, uids, ok = c.seqSet()
		if ok && set == "1:*" && len(c.pc.Seq) > copyAllMax {
			// COPY 1:* doubles the destination: repeated, it grows
			// mailboxes to tens of thousands of messages, and the
			// model's check time with them (seed 59: 10,398 messages
			// in Archive, 13 s of porcupine).
			set, uids = "*", nil
			if u := c.pc.Seq[len(c.pc.Seq)-1]; u != 0 {
				uids = []uint32{u}
			}
		}
	}
	if !ok {
		c.cmdNoop()
		return
	}
	p := &pending{kind: kCopy, in: &lin.Input{Mailbox: c.selected, Kind: kind, Dest: dest, UIDs: uids}}
	c.start(p, verb+" "+set+" "+dest)
}

func (c *client) cmdExpunge() {
	c.start(&pending{in: &lin.Input{Mailbox: c.selected, Kind: lin.OpExpunge}}, "EXPUNGE")
}

func (c *client) cmdUIDExpunge() {
	set, uids, ok := c.uidSet()
	if !ok {
		c.cmdNoop()
		return
	}
	c.start(&pending{in: &lin.Input{Mailbox: c.selected, Kind: lin.OpUIDExpunge, UIDs: uids}}, "UID EXPUNGE "+set)
}

func (c *client) cmdIdle() {
	if c.w.rng.Float64() >= c.w.sw.pIdle*10 {
		c.cmdNoop()
		return
	}
	c.start(&pending{kind: kIdle}, "IDLE")
}

func (c *client) cmdStatus() {
	box := pick(c.w.rng, modelled...)
	p := &pending{kind: kStatus, in: &lin.Input{Mailbox: box, Kind: lin.OpStatus}}
	items := "MESSAGES UIDNEXT"
	if c.ext != extNone {
		// STATUS HIGHESTMODSEQ enables CONDSTORE (RFC 7162 §3.1).
		items += " HIGHESTMODSEQ"
	}
	c.start(p, "STATUS "+box+" ("+items+")")
}

func (c *client) cmdMailboxes() {
	r := c.w.rng
	a, b := pick(r, scratch...), pick(r, scratch...)
	switch r.IntN(4) {
	case 0, 1:
		c.start(&pending{}, "CREATE "+a)
	case 2:
		c.start(&pending{}, "RENAME "+a+" "+b)
	default:
		c.start(&pending{}, "DELETE "+a)
	}
}

func (c *client) receive(data []byte) {
	c.inbuf = append(c.inbuf, data...)
	for {
		i := bytes.Index(c.inbuf, []byte("\r\n"))
		if i < 0 {
			return
		}
		line := string(c.inbuf[:i])
		c.inbuf = c.inbuf[i+2:]
		c.line(line)
		if c.w.failed || c.cn == nil {
			return
		}
	}
}

func (c *client) line(line string) {
	w := c.w
	w.logf("c%d< %s", c.id, line)
	if !c.greeted {
		if !strings.HasPrefix(line, "* OK") {
			w.fail("protocol", "c%d: greeting %q", c.id, line)
			return
		}
		c.greeted = true
		return
	}
	p := c.cur
	switch {
	case strings.HasPrefix(line, "+"):
		switch {
		case p != nil && p.rest != nil:
			w.logf("c%d> <%d literal bytes>", c.id, len(p.rest))
			c.sendRaw(p.rest)
			p.rest = nil
		case p != nil && p.kind == kIdle && !c.idle:
			c.idle, c.doneSent = true, false
			c.idleEnd = w.now + w.rng.Int64N(2_000_000)
		default:
			w.fail("protocol", "c%d: continuation request with nothing to continue", c.id)
		}
	case strings.HasPrefix(line, "* "):
		if strings.HasPrefix(line, "* ENABLED ") && strings.Contains(line[10:], "QRESYNC") {
			c.pc.QResync = true
		}
		if strings.HasPrefix(line, "* OK [CLOSED]") {
			target := ""
			if p != nil {
				target = p.target
			}
			c.pc.Select(target)
			return
		}
		if p != nil && (p.kind == kSelect || c.selected != "") {
			if err := c.pc.Untagged(line); err != nil {
				w.fail("protocol", "c%d (%s): %v", c.id, c.selected, err)
				return
			}
		}
		if p == nil {
			if c.idle || strings.HasPrefix(line, "* BYE") {
				return
			}
			w.fail("protocol", "c%d: untagged response %q outside a command", c.id, line)
			return
		}
		switch {
		case strings.HasPrefix(line, "* OK [COPYUID "):
			p.out.Src, p.out.Dest = parseCopyUID(line[len("* OK [COPYUID "):])
		case strings.HasPrefix(line, "* STATUS "):
			parseStatus(line, &p.out)
		}
	default:
		tag, rest, _ := strings.Cut(line, " ")
		if p == nil || tag != p.tag {
			w.fail("protocol", "c%d: tagged response %q for no command in flight (exactly one per command)", c.id, line)
			return
		}
		status, _, _ := strings.Cut(rest, " ")
		c.complete(p, status, rest)
	}
}

// modified handles the "[MODIFIED set]" of a STORE (UNCHANGEDSINCE):
// checks it and tells the model which messages were left alone. It
// returns false after a failure.
func (c *client) modified(p *pending, text string) bool {
	w := c.w
	set, _, _ := strings.Cut(text, "]")
	ids, err := lin.ParseUIDSet(set)
	m := p.unchanged
	if err != nil || !p.hasUnchanged {
		w.fail("protocol", "c%d: [MODIFIED %s] for %q", c.id, set, p.text)
		return false
	}
	if err := c.pc.Modified(ids, p.uidCmd, m); err != nil {
		w.fail("protocol", "c%d (%s): %v", c.id, c.selected, err)
		return false
	}
	if p.in == nil || p.in.Kind != lin.OpStore {
		return true
	}
	uids := ids
	if !p.uidCmd {
		uids = make([]uint32, len(ids))
		for i, n := range ids {
			if uids[i] = c.pc.UID(int(n)); uids[i] == 0 {
				// The model cannot tell which were stored.
				p.in.Kind = lin.OpTaint
				return true
			}
		}
		slices.Sort(uids)
	}
	p.out.Modified = uids
	return true
}

func parseUIDSet(s string) []uint32 {
	var out []uint32
	for _, part := range strings.Split(s, ",") {
		a, b, isRange := strings.Cut(part, ":")
		x, _ := strconv.ParseUint(a, 10, 32)
		if !isRange {
			out = append(out, uint32(x))
			continue
		}
		y, _ := strconv.ParseUint(b, 10, 32)
		if x <= y {
			for u := x; u <= y; u++ {
				out = append(out, uint32(u))
			}
		} else {
			for u := x; u >= y; u-- {
				out = append(out, uint32(u))
			}
		}
	}
	return out
}

func parseCopyUID(s string) ([]uint32, []uint32) {
	f := strings.Fields(strings.SplitN(s, "]", 2)[0])
	if len(f) < 3 {
		return nil, nil
	}
	return parseUIDSet(f[1]), parseUIDSet(f[2])
}

func parseStatus(line string, out *lin.Output) {
	i := strings.LastIndexByte(line, '(')
	if i < 0 {
		return
	}
	f := strings.Fields(strings.Trim(line[i:], "()"))
	for k := 0; k+1 < len(f); k += 2 {
		v, _ := strconv.ParseUint(f[k+1], 10, 32)
		switch f[k] {
		case "MESSAGES":
			out.Messages = uint32(v)
		case "UIDNEXT":
			out.UIDNext = uint32(v)
		case "HIGHESTMODSEQ":
			out.HighestModSeq, _ = strconv.ParseUint(f[k+1], 10, 64)
		}
	}
}

func (c *client) complete(p *pending, status, rest string) {
	w := c.w
	c.cur = nil
	c.pc.End()
	w.res.Commands++
	ok := status == "OK"
	if status == "BAD" && !p.malformed {
		w.fail("protocol", "c%d: BAD for a well-formed command %q: %s", c.id, p.text, rest)
		return
	}
	if status != "OK" && status != "NO" && status != "BAD" {
		w.fail("protocol", "c%d: tagged status %q", c.id, status)
		return
	}
	if p.malformed {
		return
	}
	switch p.kind {
	case kLogin:
		if ok == p.badLogin {
			w.fail("protocol", "c%d: LOGIN %s with the %s password", c.id, status, map[bool]string{true: "wrong", false: "right"}[p.badLogin])
			return
		}
		c.authed = ok
	case kSelect:
		c.selected, c.readOnly = "", false
		if ok {
			c.selected, c.readOnly = p.target, p.readOnly
		}
	case kUnselect:
		if ok {
			c.selected = ""
		}
	case kIdle:
		c.idle = false
	case kAppend:
		if ok {
			if i := strings.Index(rest, "[APPENDUID "); i >= 0 {
				f := strings.Fields(rest[i+11:])
				if len(f) >= 2 {
					v, _ := strconv.ParseUint(strings.TrimSuffix(f[1], "]"), 10, 32)
					p.out.UID = uint32(v)
				}
			} else {
				w.fail("protocol", "c%d: APPEND OK without APPENDUID: %s", c.id, rest)
				return
			}
		}
	case kCopy:
		if i := strings.Index(rest, "[COPYUID "); i >= 0 {
			p.out.Src, p.out.Dest = parseCopyUID(rest[i+9:])
		}
	}
	if p.in != nil && p.in.Kind == lin.OpRead && p.in.ChangedSince > 0 {
		p.out.Returned = slices.Clone(c.pc.Returned())
	}
	if i := strings.Index(rest, "[MODIFIED "); i >= 0 && ok {
		if !c.modified(p, rest[i+10:]) {
			return
		}
	}
	for _, u := range p.silent {
		c.pc.Forget(u)
	}
	if c.selected != "" {
		c.remember()
	}
	// The server reports other sessions' flag changes when a command
	// completes with OK (RFC 9051 §7 lets a NO or BAD carry none).
	observe := ok && p.readBox != "" && c.selected == p.readBox
	call, ret := p.call, w.stamp()
	if p.srvCall >= 0 && p.srvReturn >= p.srvCall {
		call, ret = p.srvCall, p.srvReturn
	}
	if p.in != nil {
		p.out.OK = ok
		if observe && p.in.Mailbox == p.readBox {
			p.out.Observed = c.pc.Observed()
			observe = false
		}
		out := p.out
		w.record(porcupine.Operation{ClientId: c.id, Input: p.in, Output: &out, Call: call, Return: ret})
	}
	if observe && ok {
		in := &lin.Input{Key: w.key(c.user), Mailbox: p.readBox, Kind: lin.OpRead, Text: fmt.Sprintf("c%d %s (client's flags)", c.id, p.text)}
		w.record(porcupine.Operation{ClientId: c.id, Input: in, Output: &lin.Output{OK: true, Observed: c.pc.Observed()}, Call: call, Return: ret})
	}
}
