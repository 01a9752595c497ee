package main

// The checked mixed workload. Each client logs in as its own user, so it
// alone changes its INBOX and can predict every response: the sequence
// numbers, UIDs, flags, bodies, search results and expunges. Anything else
// is counted as an error (and the first few are printed).

import (
	"bytes"
	"flag"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

type opKind uint8

const (
	opLogin opKind = iota
	opCreate
	opSelect0
	opClear
	opClearExpunge
	opFill
	// the timed mix
	opFetchFlags
	opFetchEnvelope
	opFetchBody
	opStore
	opAppend
	opSearch
	opMarkDeleted
	opUIDExpunge
	opCopy
	opMove
	opIdle
	opNoop
	opSelect
	opLogout
	nOps
)

var opNames = [nOps]string{"login", "create", "select0", "clear", "clear-expunge", "fill",
	"fetch-flags", "fetch-envelope", "fetch-body", "store", "append", "search", "store-deleted", "uid-expunge",
	"copy", "move", "idle", "noop", "select", "logout"}

// mix: the weights of the timed commands (an expunge is two commands:
// STORE \Deleted then UID EXPUNGE).
var mix = []struct {
	op opKind
	w  int
}{
	{opFetchFlags, 20}, {opFetchEnvelope, 10}, {opFetchBody, 10}, {opStore, 15}, {opAppend, 10},
	{opSearch, 10}, {opMarkDeleted, 5}, {opCopy, 5}, {opMove, 5}, {opIdle, 3}, {opNoop, 5}, {opSelect, 2},
}

type msgModel struct {
	uid     uint32
	k       uint32 // which generated message
	flagged bool
}

type tpClient struct {
	conn
	b        *tpBench
	id       int
	rng      *rand.Rand
	tag      int
	tagStr   string
	op       opKind
	t0       int64
	msgs     []msgModel
	nextK    uint32
	exists   int
	target   int // index in msgs the command is about
	expunged int // untagged EXPUNGEs seen for this command
	seen     bool
	fills    int
	ready    bool
	dead2    bool
	released bool
}

type tpBench struct {
	l           *loop
	user        func(i int) string
	pass        string
	running     bool
	stopped     bool
	start       int64
	end         int64
	clients     []*tpClient
	ready       int
	lost        int
	setupFailed int
	setupErrs   int
	sem         chan struct{} // clients logging in and filling at once

	counts  [nOps]int
	lats    [nOps][]int64
	errs    int
	errBy   map[string]int
	samples []string
}

func (b *tpBench) fail(c *tpClient, what string, r []byte) {
	if c.ready {
		b.errs++
	} else {
		b.setupErrs++
	}
	key := opNames[c.op] + ": " + what
	b.errBy[key]++
	if len(b.samples) < 10 {
		s := string(r)
		if len(s) > 300 {
			s = s[:300] + "..."
		}
		b.samples = append(b.samples, fmt.Sprintf("client %d %s: %s: %q", c.id, opNames[c.op], what, s))
	}
}

// message k of client id: its bytes are a function of (id, k) alone.
func genMessage(id int, k uint32) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "From: Client %d <c%d@bench.example>\r\nTo: <u%d@bench.example>\r\nSubject: subj %d-%d\r\n", id, id, id, id, k)
	fmt.Fprintf(&b, "Date: Sat, 28 Nov 2026 12:00:00 +0000\r\nMessage-ID: <%d.%d@bench.example>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n", id, k)
	lines := 8 + int((uint32(id)*2654435761+k*40503)%90)
	for i := range lines {
		fmt.Fprintf(&b, "Line %d of message %d-%d: the quick brown fox jumps over the lazy dog.\r\n", i, id, k)
	}
	return b.Bytes()
}

func (c *tpClient) send(op opKind, format string, a ...any) {
	c.tag++
	c.tagStr = "t" + strconv.Itoa(c.tag)
	c.op = op
	c.expunged = 0
	c.seen = false
	c.t0 = mono()
	c.write(fmt.Appendf(nil, "%s "+format+"\r\n", append([]any{c.tagStr}, a...)...))
}

func (c *tpClient) sendAppend(op opKind) {
	k := c.nextK
	c.nextK++
	m := genMessage(c.id, k)
	c.tag++
	c.tagStr = "t" + strconv.Itoa(c.tag)
	c.op = op
	c.expunged = 0
	c.target = int(k)
	c.t0 = mono()
	c.write(fmt.Appendf(nil, "%s APPEND INBOX {%d+}\r\n%s\r\n", c.tagStr, len(m), m))
}

func (c *tpClient) onClose(_ *conn, err error) {
	if !c.ready {
		c.b.setupFailed++
		c.release()
	}
	if c.op != opLogout {
		c.b.lost++
		c.b.fail(c, fmt.Sprintf("connection closed: %v", err), nil)
	}
	c.dead2 = true
}

// release frees the client's place among those being set up.
func (c *tpClient) release() {
	if !c.released {
		c.released = true
		<-c.b.sem
	}
}

func (c *tpClient) onResponse(_ *conn, r []byte) {
	b := c.b
	if len(r) == 0 {
		b.fail(c, "empty line", r)
		return
	}
	switch r[0] {
	case '+':
		if c.op == opIdle {
			c.write([]byte("DONE\r\n"))
			c.seen = true
			return
		}
		return // LITERAL+ needs no continuation; ignore
	case '*':
		c.untagged(r)
		return
	}
	if !bytes.HasPrefix(r, []byte(c.tagStr+" ")) {
		b.fail(c, "unexpected tagged response", r)
		return
	}
	rest := r[len(c.tagStr)+1:]
	ok := bytes.HasPrefix(rest, []byte("OK"))
	now := mono()
	c.done(ok, rest, now)
}

func (c *tpClient) untagged(r []byte) {
	b := c.b
	if c.tag == 0 && c.op == opLogin {
		if !bytes.HasPrefix(r, []byte("* OK")) {
			b.fail(c, "greeting", r)
			c.close(nil)
			return
		}
		c.send(opLogin, "LOGIN %s %s", b.user(c.id), b.pass)
		return
	}
	f := bytes.Fields(r)
	if len(f) < 2 {
		b.fail(c, "short untagged response", r)
		return
	}
	if n, err := strconv.Atoi(string(f[1])); err == nil && len(f) >= 3 {
		switch string(f[2]) {
		case "EXISTS":
			c.exists = n
			if c.ready && n != len(c.msgs) && !(c.op == opAppend && n == len(c.msgs)+1) {
				b.fail(c, fmt.Sprintf("EXISTS %d, the mailbox holds %d", n, len(c.msgs)), r)
			}
			return
		case "RECENT":
			return
		case "EXPUNGE":
			c.exists--
			switch c.op {
			case opClearExpunge, opSelect0:
				return
			case opUIDExpunge, opMove:
				if n != c.target+1 || c.expunged > 0 {
					b.fail(c, fmt.Sprintf("EXPUNGE %d, expected %d", n, c.target+1), r)
				}
				c.expunged++
				return
			}
			b.fail(c, "EXPUNGE nobody asked for", r)
			return
		case "FETCH":
			c.fetched(n, r)
			return
		}
	}
	switch string(f[1]) {
	case "OK", "FLAGS", "CAPABILITY", "NO", "LIST", "STATUS", "ENABLED", "ID":
		return
	case "SEARCH":
		if c.op != opSearch {
			b.fail(c, "SEARCH unasked", r)
			return
		}
		var got, want []uint32
		for _, x := range f[2:] {
			v, err := strconv.ParseUint(string(x), 10, 32)
			if err != nil {
				b.fail(c, "SEARCH: bad number", r)
				return
			}
			got = append(got, uint32(v))
		}
		for _, m := range c.msgs {
			if m.flagged {
				want = append(want, m.uid)
			}
		}
		slices.Sort(got)
		if !slices.Equal(got, want) {
			b.fail(c, fmt.Sprintf("SEARCH FLAGGED: got %v want %v", got, want), r)
		}
		c.seen = true
		return
	case "BYE":
		if c.op != opLogout {
			b.fail(c, "BYE", r)
		}
		return
	}
	b.fail(c, "unexpected untagged response", r)
}

// fetched checks a FETCH response for message seq.
func (c *tpClient) fetched(seq int, r []byte) {
	b := c.b
	if seq < 1 || seq > len(c.msgs) {
		b.fail(c, fmt.Sprintf("FETCH for %d of %d", seq, len(c.msgs)), r)
		return
	}
	m := &c.msgs[seq-1]
	switch c.op {
	case opFetchFlags, opStore:
		if seq != c.target+1 {
			b.fail(c, "FETCH for another message", r)
			return
		}
		fl, ok := flagsOf(r)
		if !ok {
			b.fail(c, "FETCH without FLAGS", r)
			return
		}
		want := m.flagged
		if c.op == opStore {
			want = !m.flagged // the STORE toggles; the model changes at OK
		}
		if strings.Contains(fl, `\Flagged`) != want || strings.Contains(fl, `\Deleted`) || strings.Contains(fl, `\Seen`) {
			b.fail(c, fmt.Sprintf("FLAGS (%s), want flagged=%v", fl, want), r)
		}
		c.seen = true
	case opFetchEnvelope:
		if uid, ok := uidOf(r); !ok || uid != m.uid {
			b.fail(c, "FETCH ENVELOPE: UID", r)
		}
		if !bytes.Contains(r, fmt.Appendf(nil, `"subj %d-%d"`, c.id, m.k)) || !bytes.Contains(r, []byte("ENVELOPE (")) {
			b.fail(c, "ENVELOPE: subject", r)
		}
		c.seen = true
	case opFetchBody:
		if uid, ok := uidOf(r); !ok || uid != m.uid {
			b.fail(c, "FETCH BODY: UID", r)
		}
		i := bytes.Index(r, []byte("BODY[] {"))
		if i < 0 {
			b.fail(c, "FETCH BODY: no BODY[] literal", r)
			return
		}
		j := bytes.Index(r[i:], []byte("}\r\n"))
		n, err := strconv.Atoi(string(r[i+8 : i+j]))
		if j < 0 || err != nil || i+j+3+n > len(r) {
			b.fail(c, "FETCH BODY: bad literal", r)
			return
		}
		if !bytes.Equal(r[i+j+3:i+j+3+n], genMessage(c.id, m.k)) {
			b.fail(c, "FETCH BODY: bytes differ from the APPENDed message", r)
		}
		c.seen = true
	case opMarkDeleted, opClear:
		// \Deleted set silently; some servers still say so.
	default:
		b.fail(c, "FETCH unasked", r)
	}
}

func flagsOf(r []byte) (string, bool) {
	i := bytes.Index(r, []byte("FLAGS ("))
	if i < 0 {
		return "", false
	}
	j := bytes.IndexByte(r[i+7:], ')')
	if j < 0 {
		return "", false
	}
	return string(r[i+7 : i+7+j]), true
}

func uidOf(r []byte) (uint32, bool) {
	i := bytes.Index(r, []byte("UID "))
	if i < 0 {
		return 0, false
	}
	j := i + 4
	for j < len(r) && r[j] >= '0' && r[j] <= '9' {
		j++
	}
	v, err := strconv.ParseUint(string(r[i+4:j]), 10, 32)
	return uint32(v), err == nil
}

// respCode returns the numbers inside "[NAME a b c]" of a tagged OK.
func respCode(rest []byte, name string) []string {
	i := bytes.Index(rest, []byte("["+name+" "))
	if i < 0 {
		return nil
	}
	j := bytes.IndexByte(rest[i:], ']')
	if j < 0 {
		return nil
	}
	return strings.Fields(string(rest[i+len(name)+2 : i+j]))
}

func (c *tpClient) done(ok bool, rest []byte, now int64) {
	b := c.b
	op := c.op
	if !ok && op != opCreate {
		b.fail(c, "not OK", rest)
	}
	if c.ready && b.running && op >= opFetchFlags && op < opLogout {
		b.counts[op]++
		b.lats[op] = append(b.lats[op], now-c.t0)
	}
	switch op {
	case opLogin:
		if !ok {
			c.close(nil)
			return
		}
		c.send(opCreate, "CREATE Archive")
		return
	case opCreate:
		c.send(opSelect0, "SELECT INBOX")
		return
	case opSelect0:
		if c.exists > 0 {
			c.send(opClear, `STORE 1:* +FLAGS.SILENT (\Deleted)`)
			return
		}
		c.sendAppend(opFill)
		return
	case opClear:
		c.send(opClearExpunge, "EXPUNGE")
		return
	case opClearExpunge:
		if c.exists != 0 {
			b.fail(c, fmt.Sprintf("%d messages left after EXPUNGE", c.exists), rest)
		}
		c.sendAppend(opFill)
		return
	case opFill, opAppend:
		if ok {
			a := respCode(rest, "APPENDUID")
			if len(a) != 2 {
				b.fail(c, "APPEND without APPENDUID", rest)
				c.close(nil)
				return
			}
			uid, _ := strconv.ParseUint(a[1], 10, 32)
			if len(c.msgs) > 0 && uint32(uid) <= c.msgs[len(c.msgs)-1].uid {
				b.fail(c, "APPENDUID not above the last UID", rest)
			}
			c.msgs = append(c.msgs, msgModel{uid: uint32(uid), k: uint32(c.target)})
		}
		if op == opFill {
			c.fills++
			if c.fills < 10 {
				c.sendAppend(opFill)
				return
			}
			c.ready = true
			b.ready++
			c.release()
			if !b.running {
				return // waits for the start
			}
		}
	case opFetchFlags, opFetchEnvelope, opFetchBody, opSearch:
		if ok && !c.seen {
			b.fail(c, "no untagged answer", rest)
		}
	case opStore:
		if ok {
			if !c.seen {
				b.fail(c, "STORE without FETCH FLAGS", rest)
			}
			c.msgs[c.target].flagged = !c.msgs[c.target].flagged
		}
	case opMarkDeleted:
		if ok {
			c.send(opUIDExpunge, "UID EXPUNGE %d", c.msgs[c.target].uid)
			return
		}
	case opUIDExpunge, opMove:
		if ok {
			if c.expunged != 1 {
				b.fail(c, fmt.Sprintf("%d EXPUNGE responses, want 1", c.expunged), rest)
			}
			c.msgs = slices.Delete(c.msgs, c.target, c.target+1)
		}
	case opCopy:
		if ok && len(respCode(rest, "COPYUID")) != 3 {
			b.fail(c, "COPY without COPYUID", rest)
		}
	case opIdle:
		if !c.seen {
			b.fail(c, "IDLE without continuation", rest)
		}
	case opNoop, opSelect:
		if c.exists != len(c.msgs) {
			b.fail(c, fmt.Sprintf("EXISTS %d, the mailbox holds %d", c.exists, len(c.msgs)), rest)
			c.exists = len(c.msgs)
		}
		if op == opSelect {
			if !bytes.Contains(rest, []byte("[READ-WRITE]")) {
				b.fail(c, "SELECT not READ-WRITE", rest)
			}
		}
	case opLogout:
		c.close(nil)
		return
	}
	c.next()
}

// next issues the next command of the mix, or LOGOUT once time is up.
func (c *tpClient) next() {
	b := c.b
	if c.dead || !b.running {
		if b.stopped && !c.dead {
			c.send(opLogout, "LOGOUT")
		}
		return
	}
	var op opKind
	switch {
	case len(c.msgs) < 5:
		op = opAppend
	case len(c.msgs) > 40:
		op = opMove
	default:
		x := c.rng.IntN(100)
		for _, m := range mix {
			if x < m.w {
				op = m.op
				break
			}
			x -= m.w
		}
	}
	c.target = 0
	if len(c.msgs) > 0 {
		c.target = c.rng.IntN(len(c.msgs))
	}
	m := func() msgModel { return c.msgs[c.target] }
	switch op {
	case opFetchFlags:
		c.send(op, "FETCH %d (FLAGS)", c.target+1)
	case opFetchEnvelope:
		c.send(op, "FETCH %d (UID ENVELOPE)", c.target+1)
	case opFetchBody:
		c.send(op, "UID FETCH %d (BODY.PEEK[])", m().uid)
	case opStore:
		sign := "+"
		if m().flagged {
			sign = "-"
		}
		c.send(op, `STORE %d %sFLAGS (\Flagged)`, c.target+1, sign)
	case opAppend:
		c.sendAppend(op)
	case opSearch:
		c.send(op, "UID SEARCH FLAGGED")
	case opMarkDeleted:
		c.send(op, `UID STORE %d +FLAGS.SILENT (\Deleted)`, m().uid)
	case opCopy:
		c.send(op, "UID COPY %d Archive", m().uid)
	case opMove:
		c.send(op, "UID MOVE %d Archive", m().uid)
	case opIdle:
		c.send(op, "IDLE")
	case opNoop:
		c.send(op, "NOOP")
	case opSelect:
		c.send(op, "SELECT INBOX")
	}
}

func cmdThroughput(args []string) {
	fs := flag.NewFlagSet("throughput", flag.ExitOnError)
	server := fs.String("server", "myriad", "server name for the report")
	addr := fs.String("addr", "127.0.0.1:143", "server IMAP `address`")
	clients := fs.Int("clients", 100, "clients (each its own user)")
	firstUser := fs.Int("first-user", 1000, "client i logs in as user first-user+i")
	userFmt := fs.String("user-fmt", "bench%d", "user name format")
	password := fs.String("password", "benchpw", "every user's password")
	duration := fs.Duration("duration", 20*time.Second, "measured time")
	setupTimeout := fs.Duration("setup-timeout", 3*time.Minute, "time for every client to log in and fill its mailbox")
	seed := fs.Uint64("seed", 1, "PRNG seed")
	setupConc := fs.Int("setup-concurrency", 64, "clients logging in and filling their mailbox at once, at most")
	fs.Parse(args)
	time.AfterFunc(*setupTimeout+*duration+time.Minute, func() { die("throughput: out of time") })

	ap, err := netip.ParseAddrPort(*addr)
	if err != nil {
		die("%v", err)
	}
	l, err := newLoop()
	if err != nil {
		die("%v", err)
	}
	b := &tpBench{l: l, pass: *password, errBy: map[string]int{}, sem: make(chan struct{}, *setupConc),
		user: func(id int) string { return fmt.Sprintf(*userFmt, id) }}
	o := &dialOpts{addr: ap, srcBase: netip.MustParseAddr("127.0.9.2"), srcN: 100, timeout: 30 * time.Second}

	// The loop's tick starts and stops the measured window.
	phase := make(chan string, 4)
	setupDeadline := time.Now().Add(*setupTimeout)
	var stopAt time.Time
	var drainAt time.Time
	l.tick = func() {
		switch {
		case !b.running && !b.stopped && (b.ready+b.setupFailed >= *clients || time.Now().After(setupDeadline)):
			b.running = true
			b.start = mono()
			stopAt = time.Now().Add(*duration)
			for _, c := range b.clients {
				if c.ready && !c.dead {
					c.next()
				}
			}
			phase <- "start"
		case b.running && time.Now().After(stopAt):
			b.running = false
			b.stopped = true
			b.end = mono()
			drainAt = time.Now().Add(10 * time.Second)
			phase <- "stop"
		case b.stopped && !drainAt.IsZero():
			open := 0
			for _, c := range b.clients {
				if !c.dead {
					open++
				}
			}
			if open == 0 || time.Now().After(drainAt) {
				drainAt = time.Time{}
				phase <- "done"
			}
		}
	}
	// Clients are created up front; the loop owns them once added.
	for i := range *clients {
		c := &tpClient{b: b, id: *firstUser + i, rng: rand.New(rand.NewPCG(*seed, uint64(i)))}
		c.conn.l, c.conn.h = l, c
		b.clients = append(b.clients, c)
	}
	go l.run()
	jobs := make(chan int)
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for i := range jobs {
				c := b.clients[i]
				b.sem <- struct{}{}
				if err := dial(o, i, &c.conn); err != nil {
					fmt.Fprintf(os.Stderr, "throughput: client %d: %v\n", i, err)
					c.conn.dead = true
					c.released = true
					<-b.sem
					l.mu.Lock()
					b.setupFailed++
					l.mu.Unlock()
					continue
				}
				l.add(&c.conn)
			}
		})
	}
	for i := range *clients {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	<-phase // start
	<-phase // stop
	// Clients still idle after the stop log out from next(); those that
	// were waiting on a response do so when it arrives.
	<-phase // done
	l.stop.Store(true)
	time.Sleep(100 * time.Millisecond)

	secs := float64(b.end-b.start) / 1e9
	total := 0
	var all []int64
	var perOp strings.Builder
	for op := opFetchFlags; op < opLogout; op++ {
		total += b.counts[op]
		all = append(all, b.lats[op]...)
		if b.counts[op] > 0 {
			d := distOf(b.lats[op])
			fmt.Fprintf(&perOp, "  %-15s %8d  p50 %7.2f ms  p99 %7.2f ms\n", opNames[op], b.counts[op], d.P50, d.P99)
		}
	}
	d := distOf(all)
	fmt.Printf("throughput: server=%s clients=%d ready=%d commands=%d seconds=%.1f cmds_per_s=%.0f p50_ms=%.2f p99_ms=%.2f errors=%d setup_failed=%d\n",
		*server, *clients, b.ready, total, secs, float64(total)/secs, d.P50, d.P99, b.errs, *clients-b.ready)
	fmt.Fprint(os.Stderr, perOp.String())
	keys := make([]string, 0, len(b.errBy))
	for k := range b.errBy {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(os.Stderr, "  error %-50s %d\n", k, b.errBy[k])
	}
	for _, s := range b.samples {
		fmt.Fprintf(os.Stderr, "  sample %s\n", s)
	}
}
