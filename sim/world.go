package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/anishathalye/porcupine"

	lin "github.com/myriad-mail/myriad/linearizability"
	sm "github.com/myriad-mail/myriad/statemachine"
	"github.com/myriad-mail/myriad/statemachine/memstore"
	"github.com/myriad-mail/myriad/storage"
)

// Bugs are the planted bugs the canary tests switch on.
type Bugs struct {
	ExpungeDuringFetch bool // statemachine.PlantedBugs.ExpungeDuringFetch
	DropFlagUpdates    bool // statemachine.PlantedBugs.DropFlagUpdates
	AckBeforeFsync     bool // storage.Config.PlantedBugSkipFsync
	ReuseUID           bool // reuseBackend (this package)
	// statemachine.PlantedBugs.ExpungeToQResync, ChangedSinceOffByOne
	ExpungeToQResync, ChangedSinceOffByOne bool
}

func (b Bugs) String() string {
	var s []string
	if b.ExpungeDuringFetch {
		s = append(s, "expunge-during-fetch")
	}
	if b.DropFlagUpdates {
		s = append(s, "drop-flag-updates")
	}
	if b.AckBeforeFsync {
		s = append(s, "ack-before-fsync")
	}
	if b.ReuseUID {
		s = append(s, "reuse-uid")
	}
	if b.ExpungeToQResync {
		s = append(s, "expunge-to-qresync")
	}
	if b.ChangedSinceOffByOne {
		s = append(s, "changedsince-off-by-one")
	}
	return strings.Join(s, ",")
}

// Fault levels of Options.Faults.
const (
	FaultsNone    = 0 // a perfect network, no crash
	FaultsNetwork = 1 // chunking, delays, dropped connections, malformed input
	FaultsCrash   = 2 // + server crashes with unsynced data lost, clock jumps
	FaultsDisk    = 3 // + torn writes and bit flips on crash
)

// Options configure one simulation run. Everything else is drawn from Seed.
type Options struct {
	Seed    uint64
	Clients int
	Steps   int
	Faults  int
	// Memstore runs over statemachine/memstore instead of storage over
	// MemFS (no crashes then).
	Memstore bool
	Bugs     Bugs
	// Transcript receives the full transcript (nil: it is only hashed).
	Transcript io.Writer
	// CheckTimeout bounds the porcupine check's wall time; reaching it is
	// a failure. It is a backstop: the check's effort is bounded
	// deterministically by checkStepsPerOp.
	CheckTimeout time.Duration
	// SkipCheck skips the porcupine check (benchmarks of the simulation
	// alone).
	SkipCheck bool
}

// Result is the outcome of one run.
type Result struct {
	Seed     uint64
	Hash     string // of the transcript
	Failure  string // "" when every checker passed
	Kind     string // "protocol", "linearizability", "durability", "liveness", "crash"
	Sessions int    // connections opened
	Commands int    // commands completed
	Ops      int    // operations in the porcupine history
	Crashes  int
	Lost     int           // crashes after which bit flips destroyed data, reported by recovery
	Check    time.Duration // porcupine check time
	// CheckSteps counts the model steps of the porcupine check: its
	// effort, independent of the machine's load.
	CheckSteps int64
	Tail       []string // last transcript lines
	// Porcupine data for the visualization on a linearizability failure.
	history []porcupine.Operation
	info    porcupine.LinearizationInfo
	hasInfo bool
}

// swarm are the per-seed knobs, drawn from the seed (TigerBeetle's swarm
// testing: some faults off entirely, the rest at very different rates).
type swarm struct {
	users        int
	stepMaxUS    int64   // virtual time per step
	delayMaxUS   int64   // network delay
	splitMax     int     // chunks per send
	pDrop        float64 // per connection per step
	pMalformed   float64 // per command
	pCrash       float64 // per step
	pClockJump   float64 // per step
	pIdle        float64
	thinkMaxUS   int64
	torn         bool
	bitFlips     float64
	syncLiteral  float64
	pClientClose float64
}

const tailLines = 400

type world struct {
	opt Options
	rng *rand.Rand
	sw  swarm
	now int64 // virtual microseconds

	hash    hash.Hash
	tail    []string
	tailPos int
	lineBuf []byte

	cfg      *sm.Config
	fs       *storage.MemFS
	store    *storage.Store
	mem      *memstore.Backend
	backend  sm.Backend
	findings int // storage warnings since the last look

	users   []string
	clients []*client
	conns   []*conn
	woken   []*conn
	epoch   int

	history []porcupine.Operation
	stampAt int64
	stampN  int64
	res     Result
	failed  bool
	drain   bool
	stopped bool // reported corruption destroyed a modelled mailbox
}

// modelled are the mailboxes the porcupine model follows: never renamed or
// deleted, so a name is one mailbox for the whole run.
var modelled = []string{"INBOX", "Archive", "Trash"}

// scratch are the names CREATE, RENAME and DELETE play with.
var scratch = []string{"Proj", "Proj/A", "Proj/B", "Old", "Notes"}

const epochBase = 1_780_000_000 // virtual wall clock start, seconds

// Run runs one simulation.
func Run(opt Options) Result { return run(opt).res }

func run(opt Options) *world {
	if opt.Clients <= 0 {
		opt.Clients = 50
	}
	if opt.Steps <= 0 {
		opt.Steps = defaultSteps
	}
	if opt.CheckTimeout <= 0 {
		opt.CheckTimeout = defaultCheckTimeout
	}
	w := &world{opt: opt, hash: sha256.New()}
	w.rng = rand.New(rand.NewPCG(opt.Seed, opt.Seed^0x5851f42d4c957f2d))
	w.res.Seed = opt.Seed
	w.drawSwarm()
	w.logf("seed=%d clients=%d steps=%d faults=%d backend=%s bugs=%s", opt.Seed, opt.Clients, opt.Steps, opt.Faults, w.backendName(), opt.Bugs)
	w.logf("swarm %+v", w.sw)
	w.setup()
	if !w.failed {
		w.loop()
	}
	w.res.Hash = hex.EncodeToString(w.hash.Sum(nil)[:16])
	w.res.Tail = w.tailSlice()
	w.res.Ops = len(w.history)
	if !w.failed && !opt.SkipCheck {
		w.checkHistory()
	}
	return w
}

func (w *world) backendName() string {
	if w.opt.Memstore {
		return "memstore"
	}
	return "storage+memfs"
}

func pick[T any](r *rand.Rand, xs ...T) T { return xs[r.IntN(len(xs))] }

func (w *world) drawSwarm() {
	r := w.rng
	f := w.opt.Faults
	s := &w.sw
	s.users = 1 + r.IntN(max(1, w.opt.Clients/6))
	s.stepMaxUS = pick(r, int64(500), 2000, 10000)
	s.thinkMaxUS = pick(r, int64(0), 5000, 50000, 200000)
	s.pIdle = pick(r, 0.0, 0.03, 0.1)
	s.syncLiteral = pick(r, 0, 0.5, 1)
	s.splitMax = 1
	if f >= FaultsNetwork {
		s.delayMaxUS = pick(r, int64(0), 1000, 20000)
		s.splitMax = pick(r, 1, 3, 8)
		s.pDrop = pick(r, 0, 0.0002, 0.001)
		s.pMalformed = pick(r, 0, 0.005, 0.03)
		s.pClientClose = pick(r, 0, 0.002)
	}
	if f >= FaultsCrash {
		s.pClockJump = pick(r, 0, 0, 0.0005)
		if !w.opt.Memstore {
			s.pCrash = pick(r, 0, 0.0005, 0.002)
		}
	}
	if f >= FaultsDisk && !w.opt.Memstore {
		s.torn = pick(r, false, true)
		s.bitFlips = pick(r, 0.0, 0, 200)
	}
}

// logf writes one transcript line: hashed, kept in the tail, and written to
// Options.Transcript.
func (w *world) logf(format string, args ...any) {
	w.lineBuf = fmt.Appendf(w.lineBuf[:0], "%d.%06d ", w.now/1e6, w.now%1e6)
	w.lineBuf = fmt.Appendf(w.lineBuf, format, args...)
	w.lineBuf = append(w.lineBuf, '\n')
	w.hash.Write(w.lineBuf)
	if w.opt.Transcript != nil {
		w.opt.Transcript.Write(w.lineBuf)
	}
	line := string(w.lineBuf[:len(w.lineBuf)-1])
	if len(w.tail) < tailLines {
		w.tail = append(w.tail, line)
	} else {
		w.tail[w.tailPos] = line
		w.tailPos = (w.tailPos + 1) % tailLines
	}
}

func (w *world) tailSlice() []string {
	return append(slices.Clone(w.tail[w.tailPos:]), w.tail[:w.tailPos]...)
}

func (w *world) fail(kind, format string, args ...any) {
	if w.failed {
		return
	}
	w.failed = true
	w.res.Kind = kind
	w.res.Failure = fmt.Sprintf(format, args...)
	w.logf("FAIL %s: %s", kind, w.res.Failure)
}

// nowSec is the session clock (seconds since the epoch).
func (w *world) nowSec() int64 { return epochBase + w.now/1e6 }

// logHandler turns the store's log records into transcript lines and counts
// the warnings (recovery findings).
type logHandler struct{ w *world }

func (h logHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }
func (h logHandler) Handle(_ context.Context, r slog.Record) error {
	var sb strings.Builder
	sb.WriteString(r.Message)
	r.Attrs(func(a slog.Attr) bool {
		sb.WriteString(" " + a.Key + "=" + a.Value.String())
		return true
	})
	h.w.findings++
	h.w.logf("store %s %s", r.Level, sb.String())
	return nil
}
func (h logHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h logHandler) WithGroup(string) slog.Handler      { return h }

func (w *world) storeConfig() storage.Config {
	return storage.Config{
		FS:                  w.fs,
		Fsync:               storage.FsyncAlways,
		Logger:              slog.New(logHandler{w}),
		Now:                 func() time.Time { return time.Unix(w.nowSec(), 0) },
		CredentialCacheSize: -1,
		PlantedBugSkipFsync: w.opt.Bugs.AckBeforeFsync,
		// Small, so that index rewrites and log rotation happen in runs.
		LogRotateBytes: int64(pick(w.rng, 2048, 16384, 1<<20)),
	}
}

func (w *world) setup() {
	w.cfg = sm.NewConfig()
	w.cfg.AllowPlaintextAuth = true
	w.cfg.Init()
	for i := range w.sw.users {
		w.users = append(w.users, fmt.Sprintf("u%d", i))
	}
	if w.opt.Memstore {
		w.mem = memstore.New()
		for _, u := range w.users {
			w.mem.AddUser(u, "pw-"+u)
		}
		w.backend = w.mem
	} else {
		w.fs = storage.NewMemFS(storage.MemFSOptions{Seed: w.rng.Uint64(), TornWrites: w.sw.torn, PartialDirOps: w.sw.torn, BitFlipsPerMiB: w.sw.bitFlips})
		if err := w.writeUsers(); err != nil {
			w.fail("crash", "writing the users file: %v", err)
			return
		}
		if !w.openStore() {
			return
		}
	}
	for i := range w.opt.Clients {
		c := &client{w: w, id: i, user: w.users[i%len(w.users)]}
		c.pass = "pw-" + c.user
		c.nextAct = int64(w.rng.IntN(100000))
		w.clients = append(w.clients, c)
	}
	w.resetEpoch()
}

// writeUsers writes the users file (durably). The users file is the
// operator's configuration, not data the server writes: crash() writes it
// again after MemFS.Crash, so that bit flips never reach it (see
// docs/SIM.md, "Bit flips and the users file").
func (w *world) writeUsers() error {
	var users strings.Builder
	for _, u := range w.users {
		users.WriteString(u + ":{PLAIN}pw-" + u + "\n")
	}
	f, err := w.fs.Create("users")
	if err == nil {
		_, err = f.Write([]byte(users.String()))
	}
	if err == nil {
		err = f.Sync()
	}
	if err == nil {
		err = f.Close()
	}
	if err == nil {
		err = w.fs.SyncDir("")
	}
	return err
}

func (w *world) openStore() bool {
	st, err := storage.Open(w.storeConfig())
	if err != nil {
		w.fail("crash", "storage.Open: %v", err)
		return false
	}
	w.store = st
	w.backend = st
	if w.opt.Bugs.ReuseUID {
		w.backend = &reuseBackend{inner: st}
	}
	return true
}

func (w *world) account(user string) (sm.Account, error) {
	if w.mem != nil {
		return w.mem.Login(user, "pw-"+user)
	}
	return w.store.Account(user)
}

// boxState is a mailbox as the store holds it, for the durability check
// and the model's epoch start.
type boxState struct {
	uidValidity uint32
	box         *lin.Box
	flags       map[sm.UID]string // full flag names, keywords included
}

func (w *world) readState(user, name string) (*boxState, error) {
	acct, err := w.account(user)
	if err != nil {
		return nil, err
	}
	mb, err := acct.Open(name)
	if err != nil {
		return nil, err
	}
	defer acct.Release(mb)
	snap := mb.Current()
	bs := &boxState{uidValidity: snap.UIDValidity, box: &lin.Box{UIDNext: uint32(snap.UIDNext), HighestModSeq: snap.HighestModSeq}, flags: map[sm.UID]string{}}
	for _, m := range snap.Messages() {
		var f lin.Flags
		var names []string
		for _, sf := range []struct {
			bit  sm.Flags
			name string
		}{{sm.FlagSeen, `\Seen`}, {sm.FlagAnswered, `\Answered`}, {sm.FlagFlagged, `\Flagged`}, {sm.FlagDeleted, `\Deleted`}, {sm.FlagDraft, `\Draft`}} {
			if m.Flags&sf.bit != 0 {
				f |= lin.FlagByName(sf.name)
				names = append(names, sf.name)
			}
		}
		for i, k := range snap.Keywords {
			if m.Flags&(1<<(sm.KeywordBase+i)) != 0 {
				f |= lin.FlagByName(k)
				names = append(names, k)
			}
		}
		bs.box.Msgs = append(bs.box.Msgs, lin.Msg{UID: uint32(m.UID), Flags: f, Known: lin.AllFlags, ModSeq: m.ModSeq})
		bs.flags[m.UID] = strings.Join(names, " ")
	}
	return bs, nil
}

// resetEpoch starts a model epoch: the state of every modelled mailbox is
// read from the store and recorded as a reset operation.
func (w *world) resetEpoch() {
	for _, u := range w.users {
		for _, name := range modelled {
			bs, err := w.readState(u, name)
			if err != nil {
				w.fail("crash", "reading %s/%s: %v", u, name, err)
				return
			}
			t := w.stamp()
			w.history = append(w.history, porcupine.Operation{
				ClientId: 0,
				Input:    &lin.Input{Key: w.key(u), Mailbox: name, Kind: lin.OpReset, Reset: bs.box, Text: "reset " + name},
				Output:   &lin.Output{OK: true},
				Call:     t, Return: t,
			})
		}
	}
}

// stamp returns a time for the history: virtual microseconds, then a counter
// that orders the events of one step (the server handles one input at a
// time, so no two of its steps share a stamp).
func (w *world) stamp() int64 {
	if w.stampAt != w.now {
		w.stampAt, w.stampN = w.now, 0
	}
	w.stampN++
	return w.now<<20 | w.stampN
}

func (w *world) key(user string) string { return fmt.Sprintf("%s@%d", user, w.epoch) }

// loop is the main simulation: a safety phase with faults, then a liveness
// phase without them in which every command in flight must complete.
func (w *world) loop() {
	for step := 0; step < w.opt.Steps && !w.failed && !w.stopped; step++ {
		w.step(true)
	}
	if w.stopped {
		return
	}
	w.drain = true
	w.logf("drain")
	for step := 0; step < 4000 && !w.failed; step++ {
		w.step(false)
		if w.quiet() {
			break
		}
	}
	if w.failed {
		return
	}
	for _, c := range w.clients {
		if c.cur != nil {
			w.fail("liveness", "c%d: no tagged response to %q after the drain", c.id, c.cur.text)
			return
		}
	}
}

func (w *world) quiet() bool {
	for _, c := range w.clients {
		if c.cur != nil || c.idle {
			return false
		}
	}
	for _, cn := range w.conns {
		if !cn.closed && (len(cn.up) > 0 || len(cn.down) > 0) {
			return false
		}
	}
	return true
}

func (w *world) step(faults bool) {
	w.now += 1 + w.rng.Int64N(w.sw.stepMaxUS)
	if faults && w.sw.pClockJump > 0 && w.rng.Float64() < w.sw.pClockJump {
		j := int64(60+w.rng.IntN(40*60)) * 1e6
		w.logf("clock jumps %ds", j/1e6)
		w.now += j
	}
	if faults && w.sw.pCrash > 0 && w.rng.Float64() < w.sw.pCrash {
		w.crash()
		if w.failed {
			return
		}
	}
	for _, cn := range w.conns {
		if cn.closed {
			continue
		}
		if faults && w.sw.pDrop > 0 && w.rng.Float64() < w.sw.pDrop {
			w.logf("c%d net drops connection %d (up %d chunks, down %d)", cn.cl.id, cn.id, len(cn.up), len(cn.down))
			cn.kill()
			continue
		}
		cn.deliverUp()
		w.deliverWakes()
	}
	for _, cn := range w.conns {
		if !cn.closed {
			cn.deliverDown()
		}
	}
	for _, cn := range w.conns {
		if !cn.closed && cn.sess != nil {
			cn.checkTimeout()
		}
	}
	w.deliverWakes()
	live := w.conns[:0]
	for _, cn := range w.conns {
		if !cn.closed {
			live = append(live, cn)
		}
	}
	w.conns = live
	for _, c := range w.clients {
		if w.failed {
			return
		}
		c.act()
	}
}

func (w *world) deliverWakes() {
	for len(w.woken) > 0 {
		batch := w.woken
		w.woken = nil
		for _, cn := range batch {
			cn.woken = false
			if cn.closed || cn.sess == nil {
				continue
			}
			out, eff := cn.sess.Wake(w.nowSec(), nil)
			cn.serverOut(out, eff)
		}
	}
}

// crash kills the server: every connection dies, the file system loses what
// was not synced, and a new Store recovers from what is left. Everything the
// store had published (each change it returned from, so each change whose
// tagged OK was sent or about to be) must be there after recovery.
func (w *world) crash() {
	w.res.Crashes++
	w.logf("CRASH")
	before := map[string]*boxState{}
	var lists = map[string][]string{}
	for _, u := range w.users {
		for _, name := range modelled {
			bs, err := w.readState(u, name)
			if err != nil {
				w.fail("crash", "before crash, reading %s/%s: %v", u, name, err)
				return
			}
			before[u+"/"+name] = bs
		}
		lists[u] = w.listNames(u)
	}
	for _, cn := range w.conns {
		if !cn.closed {
			cn.sess = nil // the process died: no Close
			cn.kill()
		}
	}
	w.conns = w.conns[:0]
	w.woken = nil
	w.fs.Crash()
	if err := w.writeUsers(); err != nil {
		w.fail("crash", "restoring the users file: %v", err)
		return
	}
	w.findings = 0
	if !w.openStore() {
		return
	}
	for _, u := range w.users {
		for _, name := range modelled {
			after, err := w.readState(u, name)
			if err != nil {
				if w.sw.bitFlips > 0 && w.findings > 0 {
					// Reported loss: not silent, so not a failure of
					// the store's contract; the model cannot go on.
					w.logf("crash: %s/%s lost to bit flips (reported): %v; the run ends here", u, name, err)
					w.res.Lost++
					w.stopped = true
					return
				}
				w.fail("durability", "after crash, opening %s/%s: %v", u, name, err)
				return
			}
			if diff := compareState(before[u+"/"+name], after); diff != "" {
				if w.sw.bitFlips > 0 && w.findings > 0 {
					w.logf("crash: %s/%s lost data to reported corruption: %s", u, name, diff)
					w.res.Lost++
					continue
				}
				w.fail("durability", "after crash, %s/%s: %s (durable before the crash, so acknowledged or about to be)", u, name, diff)
				return
			}
		}
		if got := w.listNames(u); !slices.Equal(got, lists[u]) && !(w.sw.bitFlips > 0 && w.findings > 0) {
			w.fail("durability", "after crash, %s's mailboxes are %v, were %v", u, got, lists[u])
			return
		}
	}
	w.logf("recovered (%d findings)", w.findings)
	w.epoch++
	w.resetEpoch()
	for _, c := range w.clients {
		c.pc = lin.Session{}
	}
}

func (w *world) listNames(user string) []string {
	acct, err := w.account(user)
	if err != nil {
		return []string{"error: " + err.Error()}
	}
	l, err := acct.ListMailboxes()
	if err != nil {
		return []string{"error: " + err.Error()}
	}
	var out []string
	for _, m := range l {
		if m.Attrs&sm.AttrNonExistent == 0 {
			out = append(out, m.Name)
		}
	}
	slices.Sort(out)
	return out
}

func compareState(a, b *boxState) string {
	if a.uidValidity != b.uidValidity {
		return fmt.Sprintf("UIDVALIDITY %d became %d", a.uidValidity, b.uidValidity)
	}
	if b.box.UIDNext < a.box.UIDNext {
		return fmt.Sprintf("UIDNEXT %d went back to %d (UIDs would be reused)", a.box.UIDNext, b.box.UIDNext)
	}
	for u, f := range a.flags {
		g, ok := b.flags[u]
		if !ok {
			return fmt.Sprintf("UID %d lost", u)
		}
		if g != f {
			return fmt.Sprintf("UID %d flags (%s) became (%s)", u, f, g)
		}
	}
	for u := range b.flags {
		if _, ok := a.flags[u]; !ok {
			return fmt.Sprintf("UID %d came back", u)
		}
	}
	// Mod-sequences never go back within one UIDVALIDITY (RFC 7162
	// §3.1.1): a QRESYNC client resynchronising from the HIGHESTMODSEQ it
	// saw before the crash would otherwise miss the changes made after.
	if b.box.HighestModSeq < a.box.HighestModSeq {
		return fmt.Sprintf("HIGHESTMODSEQ %d went back to %d", a.box.HighestModSeq, b.box.HighestModSeq)
	}
	for _, m := range a.box.Msgs {
		for _, n := range b.box.Msgs {
			if n.UID == m.UID && n.ModSeq < m.ModSeq {
				return fmt.Sprintf("UID %d MODSEQ %d went back to %d", m.UID, m.ModSeq, n.ModSeq)
			}
		}
	}
	return ""
}

func (w *world) record(op porcupine.Operation) { w.history = append(w.history, op) }

// The porcupine check's effort budget: model steps per operation, plus a
// constant. With the simulator's point intervals a check is nearly a replay
// (one step per operation; unknown outcomes add a few); more means porcupine
// backtracks, and its time can explode with the next seed. The budget is
// about a second of model steps for a default run (~190,000 steps/s here):
// seed 23 (1,104 operations, 29,628 steps, 154 ms: unknown-outcome commands
// cut by a crash join one partition) exceeded the first budget of 4 per
// operation + 20,000 while its check was cheap; a real explosion is orders
// of magnitude past either.
const (
	checkStepsPerOp = 32
	checkStepsSlack = 100000
)

func (w *world) checkHistory() {
	t0 := time.Now()
	res, steps := lin.CheckCounted(w.history, w.opt.CheckTimeout)
	w.res.Check = time.Since(t0)
	w.res.CheckSteps = steps
	if res == porcupine.Ok {
		if budget := checkStepsPerOp*int64(len(w.history)) + checkStepsSlack; steps > budget {
			// The deterministic form of a timeout: a search this much
			// harder than a replay times out on a slower or busier
			// machine; the history must get simpler, not the limit
			// higher.
			w.res.Kind = "linearizability"
			w.res.Failure = fmt.Sprintf("porcupine needed %d model steps for %d operations (more than %d: the search backtracks; counted as a timeout)\n%s",
				steps, len(w.history), budget, lin.PartitionTimes(w.history, w.opt.CheckTimeout))
		}
		return
	}
	ok, res2, info := lin.Check(w.history, w.opt.CheckTimeout)
	_ = ok
	w.res.history, w.res.info, w.res.hasInfo = w.history, info, true
	w.res.Kind = "linearizability"
	if res2 == porcupine.Unknown || res == porcupine.Unknown {
		w.res.Failure = fmt.Sprintf("porcupine check timed out after %v (counted as a failure)\n%s", w.opt.CheckTimeout, lin.PartitionTimes(w.history, w.opt.CheckTimeout))
		return
	}
	w.res.Failure = "history of " + fmt.Sprint(len(w.history)) + " operations is not linearizable"
	w.failed = true
}
