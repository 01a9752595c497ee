package storage

import (
	"flag"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/myriad-mail/myriad/statemachine"
)

var (
	crashSeeds   = flag.Int("storage.crashseeds", 150, "seeds for TestCrash")
	crashSeed    = flag.Int64("storage.crashseed", -1, "run TestCrash for this seed only")
	crashCycles  = 8
	crashVerbose = flag.Bool("storage.crashverbose", false, "log recovery in TestCrash")
)

// crashModel is what the test knows about one mailbox: for every message,
// the flags as names. A message touched by an operation that failed (and
// was followed by a crash) has several allowed outcomes until the state
// after recovery is checked.
type crashModel struct {
	uidNext statemachine.UID
	modseq  uint64 // highest modseq acknowledged
	msgs    map[statemachine.UID]string
	uidv    uint32
}

// uncertain lists what a failed (unacknowledged) operation may have done.
type uncertain struct {
	alt      map[string]map[statemachine.UID][]string // mailbox → uid → allowed flag sets ("-": absent)
	newFlags map[string][]string                      // mailbox → flag sets allowed for new messages
}

var crashBoxes = []string{"INBOX", "Archive"}
var crashKeywords = []string{"$Label1", "$Label2", "Work", "todo", "$Forwarded", "Later"}
var crashSystem = []string{`\Seen`, `\Answered`, `\Flagged`, `\Deleted`, `\Draft`}

func randomFlags(rng *rand.Rand) []string {
	var f []string
	for _, s := range crashSystem {
		if rng.IntN(3) == 0 {
			f = append(f, s)
		}
	}
	for _, k := range crashKeywords {
		if rng.IntN(5) == 0 {
			f = append(f, k)
		}
	}
	return f
}

func namesOf(flags []string) string {
	var out []string
	for _, f := range flags {
		out = append(out, strings.ToLower(f))
	}
	slices.Sort(out)
	return strings.Join(slices.Compact(out), " ")
}

func applyOp(cur string, op statemachine.FlagOp, flags []string) string {
	have := map[string]bool{}
	if cur != "" {
		for _, f := range strings.Split(cur, " ") {
			have[f] = true
		}
	}
	if op == statemachine.FlagsReplace {
		have = map[string]bool{}
	}
	for _, f := range flags {
		if op == statemachine.FlagsRemove {
			delete(have, strings.ToLower(f))
		} else {
			have[strings.ToLower(f)] = true
		}
	}
	var out []string
	for f := range have {
		out = append(out, f)
	}
	return namesOf(out)
}

// crashRun runs random operations with crashes at random FS operations and
// returns the first violation found, or "".
func crashRun(seed uint64, planted bool) string {
	rng := rand.New(rand.NewPCG(seed, 1))
	fsys := NewMemFS(MemFSOptions{Seed: seed, TornWrites: true, PartialDirOps: true})
	t := &testing.T{}
	_ = t
	open := func() (*Store, *account, map[string]*statemachine.Mailbox, error) {
		fsys.FailAt = 0
		lg := quietLog
		if *crashVerbose {
			lg = slog.New(slog.NewTextHandler(os.Stderr, nil))
		}
		s, err := Open(Config{FS: fsys, Logger: lg, Now: fixedNow, LogRotateBytes: 1500, PlantedBugSkipFsync: planted, SyncFS: seed%2 == 0, IdleMailboxes: []int{-1, 1}[seed/2%2]})
		if err != nil {
			return nil, nil, nil, err
		}
		ac, err := s.Login("alice", "pw")
		if err != nil {
			return nil, nil, nil, err
		}
		a := ac.(*account)
		h := map[string]*statemachine.Mailbox{}
		for _, b := range crashBoxes {
			if h[b], err = a.Open(b); err != nil {
				return nil, nil, nil, err
			}
		}
		return s, a, h, nil
	}
	if err := (UsersFile{FS: fsys, Path: "users"}).Add("alice", "PLAIN", "pw"); err != nil {
		return err.Error()
	}
	_, a, h, err := open()
	if err != nil {
		return "first open: " + err.Error()
	}
	model := map[string]*crashModel{}
	for _, b := range crashBoxes {
		s := h[b].Current()
		model[b] = &crashModel{uidNext: s.UIDNext, msgs: map[statemachine.UID]string{}, uidv: s.UIDValidity}
	}
	bodyN := 0
	for cycle := range crashCycles {
		fsys.FailAt = fsys.Ops + 1 + rng.IntN(120)
		un := uncertain{alt: map[string]map[statemachine.UID][]string{}, newFlags: map[string][]string{}}
		addAlt := func(b string, u statemachine.UID, v string) {
			if un.alt[b] == nil {
				un.alt[b] = map[statemachine.UID][]string{}
			}
			un.alt[b][u] = append(un.alt[b][u], v)
		}
		failed := false
		for step := 0; step < 60 && !failed; step++ {
			b := crashBoxes[rng.IntN(len(crashBoxes))]
			other := crashBoxes[1-slices.Index(crashBoxes, b)]
			m := model[b]
			present := make([]statemachine.UID, 0, len(m.msgs))
			for u := range m.msgs {
				present = append(present, u)
			}
			slices.Sort(present)
			pick := func() []statemachine.UID {
				var out []statemachine.UID
				for _, u := range present {
					if rng.IntN(3) == 0 {
						out = append(out, u)
					}
				}
				return out
			}
			if *crashVerbose {
				fmt.Fprintf(os.Stderr, "cycle %d step %d box %s ops %d failat %d modseq %d\n", cycle, step, b, fsys.Ops, fsys.FailAt, h[b].Current().HighestModSeq)
			}
			switch op := rng.IntN(11); {
			case op == 10: // UNSELECT and SELECT again: a clean close and open
				a.Release(h[b])
				var err error
				if h[b], err = a.Open(b); err != nil {
					failed = true
				}
			case op < 3 || len(present) == 0: // APPEND
				flags := randomFlags(rng)
				bodyN++
				res, err := a.Append(b, flags, int64(bodyN), []byte(fmt.Sprintf("Subject: %d\r\n\r\n%s\r\n", bodyN, strings.Repeat("x", rng.IntN(300)))))
				if err != nil {
					failed = true
					un.newFlags[b] = append(un.newFlags[b], namesOf(flags))
					break
				}
				if res.UID != m.uidNext {
					return fmt.Sprintf("seed %d: APPENDUID %d, want %d", seed, res.UID, m.uidNext)
				}
				m.msgs[res.UID] = namesOf(flags)
				m.uidNext = res.UID + 1
			case op < 7: // STORE
				uids := pick()
				fop := statemachine.FlagOp(rng.IntN(3))
				flags := randomFlags(rng)
				_, err := h[b].Store.Store(uids, fop, flags, 0)
				if err != nil {
					failed = true
					for _, u := range uids {
						addAlt(b, u, m.msgs[u])
						addAlt(b, u, applyOp(m.msgs[u], fop, flags))
					}
					break
				}
				for _, u := range uids {
					m.msgs[u] = applyOp(m.msgs[u], fop, flags)
				}
			case op < 8: // EXPUNGE
				uids := pick()
				if err := h[b].Store.Expunge(uids); err != nil {
					failed = true
					for _, u := range uids {
						addAlt(b, u, m.msgs[u])
						addAlt(b, u, "-")
					}
					break
				}
				for _, u := range uids {
					delete(m.msgs, u)
				}
			case op == 8 || op == 9: // COPY or MOVE to the other mailbox
				uids := pick()
				move := op == 9
				var res statemachine.CopyResult
				var err error
				if move {
					res, err = h[b].Store.Move(uids, other)
				} else {
					res, err = h[b].Store.Copy(uids, other)
				}
				if err != nil {
					failed = true
					for _, u := range uids {
						un.newFlags[other] = append(un.newFlags[other], m.msgs[u])
						if move {
							addAlt(b, u, m.msgs[u])
							addAlt(b, u, "-")
						}
					}
					break
				}
				if !slices.Equal(res.Source, uids) && len(uids) > 0 {
					return fmt.Sprintf("seed %d: COPYUID source %v, want %v", seed, res.Source, uids)
				}
				o := model[other]
				for i, u := range res.Source {
					if res.Dest[i] != o.uidNext {
						return fmt.Sprintf("seed %d: COPYUID dest %v, uidnext %d", seed, res.Dest, o.uidNext)
					}
					o.msgs[res.Dest[i]] = m.msgs[u]
					o.uidNext++
					if move {
						delete(m.msgs, u)
					}
				}
			}
			if failed {
				continue
			}
			if *crashVerbose {
				fmt.Fprintf(os.Stderr, "  -> failed=%v INBOX=%d Archive=%d\n", failed, h["INBOX"].Current().HighestModSeq, h["Archive"].Current().HighestModSeq)
			}
			for _, bx := range crashBoxes {
				if hm := h[bx].Current().HighestModSeq; hm > model[bx].modseq {
					model[bx].modseq = hm
				}
			}
		}
		// Power loss, then recovery.
		fsys.Crash()
		var err error
		_, a, h, err = open()
		if err != nil {
			return fmt.Sprintf("seed %d cycle %d: reopen: %v", seed, cycle, err)
		}
		for _, b := range crashBoxes {
			m := model[b]
			s := h[b].Current()
			if s.UIDValidity != m.uidv {
				return fmt.Sprintf("seed %d cycle %d %s: UIDVALIDITY %d, want %d", seed, cycle, b, s.UIDValidity, m.uidv)
			}
			if s.HighestModSeq < m.modseq {
				return fmt.Sprintf("seed %d cycle %d %s: HIGHESTMODSEQ went back from %d to %d", seed, cycle, b, m.modseq, s.HighestModSeq)
			}
			got := map[statemachine.UID]string{}
			for _, msg := range s.Messages() {
				got[msg.UID] = flagNames(msg.Flags, s.Keywords)
			}
			for u, want := range m.msgs {
				g, ok := got[u]
				if !ok {
					g = "-"
				}
				if alts, unsure := un.alt[b][u]; unsure {
					if !slices.Contains(alts, g) {
						return fmt.Sprintf("seed %d cycle %d %s: uid %d has %q, allowed %q", seed, cycle, b, u, g, alts)
					}
					continue
				}
				if g != want {
					return fmt.Sprintf("seed %d cycle %d %s: acknowledged uid %d has %q, want %q", seed, cycle, b, u, g, want)
				}
			}
			for u, g := range got {
				if _, ok := m.msgs[u]; ok {
					continue
				}
				if u < m.uidNext {
					return fmt.Sprintf("seed %d cycle %d %s: expunged uid %d is back (%q)", seed, cycle, b, u, g)
				}
				if !slices.Contains(un.newFlags[b], g) {
					return fmt.Sprintf("seed %d cycle %d %s: unexpected new uid %d (%q), allowed %q", seed, cycle, b, u, g, un.newFlags[b])
				}
			}
			// The recovered state becomes the model.
			m.msgs = got
			m.uidNext = s.UIDNext
			m.modseq = s.HighestModSeq
			for _, msg := range s.Messages() {
				body, err := h[b].Store.Message(msg.UID)
				if err != nil || !strings.HasPrefix(string(body), "Subject: ") {
					return fmt.Sprintf("seed %d cycle %d %s: message %d unreadable: %v", seed, cycle, b, msg.UID, err)
				}
			}
		}
	}
	return ""
}

// TestCrash (odd seeds fsync file by file, even seeds use SyncFS, the
// FS-wide SyncAll group commit) runs random operations on a fault-injecting file system, crashes
// it at a random file-system operation (the operation fails, then power is
// lost), recovers, and checks that every acknowledged change is there, that
// nothing acknowledged as expunged came back, that HIGHESTMODSEQ did not go
// back, and that failed operations left one of their allowed outcomes.
func TestCrash(t *testing.T) {
	if *crashSeed >= 0 {
		if v := crashRun(uint64(*crashSeed), false); v != "" {
			t.Fatal(v)
		}
		return
	}
	n := *crashSeeds
	if testing.Short() {
		n = 20
	}
	for seed := range n {
		if v := crashRun(uint64(seed), false); v != "" {
			t.Fatalf("%s\nreproduce: go test ./storage -run TestCrash -storage.crashseed=%d", v, seed)
		}
	}
}

// TestCrashCanary plants a bug (changes acknowledged without fsync) and
// checks that the crash test notices: proof that TestCrash can fail.
func TestCrashCanary(t *testing.T) {
	caught := 0
	first := ""
	for seed := range 20 {
		if v := crashRun(uint64(seed), true); v != "" {
			caught++
			if first == "" {
				first = v
			}
		}
	}
	t.Logf("planted bug caught in %d of 20 runs; first: %s", caught, first)
	if caught < 15 {
		t.Fatalf("the crash test caught the planted bug in only %d of 20 runs", caught)
	}
}

func init() {
	if os.Getenv("STORAGE_DEBUG_RECOVERY") != "" {
		debugRecovery = func(dir, name string, recs []logRecord, base uint64) {
			fmt.Fprintf(os.Stderr, "replay %s/%s base %d:", dir, name, base)
			for _, r := range recs {
				fmt.Fprintf(os.Stderr, " %d@%d", r.typ, r.modseq)
			}
			fmt.Fprintln(os.Stderr)
		}
	}
}
