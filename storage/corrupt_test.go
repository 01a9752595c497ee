package storage

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/myriad-mail/myriad/statemachine"
)

var corruptIters = flag.Int("storage.corruptiters", 600, "iterations of TestCorruption")

type histEntry struct {
	flags  string
	modseq uint64
	size   uint32
	date   int64
}

// corruptFixture builds a mailbox with index, index.backup, log.1 and log
// and returns the file system, the acknowledged final state, every version
// each message ever had, and the bodies.
func corruptFixture(t *testing.T) (*MemFS, *statemachine.Snapshot, map[statemachine.UID][]histEntry, map[statemachine.UID]string) {
	fsys := NewMemFS(MemFSOptions{})
	s := newTestStore(t, fsys, func(c *Config) { c.LogRotateBytes = 2000 })
	a := login(t, s, "alice")
	mbox, err := a.Open("INBOX")
	if err != nil {
		t.Fatal(err)
	}
	hist := map[statemachine.UID][]histEntry{}
	bodies := map[statemachine.UID]string{}
	record := func() {
		snap := mbox.Current()
		for _, m := range snap.Messages() {
			v := histEntry{flagNames(m.Flags, snap.Keywords), m.ModSeq, m.Size, m.Date}
			if h := hist[m.UID]; len(h) == 0 || h[len(h)-1] != v {
				hist[m.UID] = append(hist[m.UID], v)
			}
		}
	}
	rng := rand.New(rand.NewPCG(7, 7))
	for i := range 120 {
		body := fmt.Sprintf("Subject: %d\r\n\r\n%s\r\n", i, strings.Repeat("y", rng.IntN(200)))
		r, err := a.Append("INBOX", randomFlags(rng), int64(i), []byte(body))
		if err != nil {
			t.Fatal(err)
		}
		bodies[r.UID] = body
		record()
		if i%2 == 0 {
			if _, err := mbox.Store.Store([]statemachine.UID{r.UID, r.UID / 2}, statemachine.FlagOp(rng.IntN(3)), randomFlags(rng), 0); err != nil {
				t.Fatal(err)
			}
			record()
		}
		if i%9 == 0 {
			if err := mbox.Store.Expunge([]statemachine.UID{r.UID / 3}); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, f := range []string{"index", "index.backup", "log.1", "log"} {
		if fsys.FileSize("u/alice/mb0/"+f) <= 0 {
			t.Fatalf("fixture lacks %s", f)
		}
	}
	return fsys, mbox.Current(), hist, bodies
}

// TestCorruption flips bits in and truncates index, index.backup, log.1 and
// log at random offsets, many times, and opens the mailbox each time. Open
// must not panic or fail; every message it returns must be a version the
// message really had (nothing that failed a checksum leaks through); and
// when only one of index, index.backup or log.1 is damaged, the state must
// be exactly the acknowledged one.
func TestCorruption(t *testing.T) {
	base, want, hist, bodies := corruptFixture(t)
	files := []string{"index", "index.backup", "log.1", "log"}
	iters := *corruptIters
	if testing.Short() {
		iters = 100
	}
	exactRuns := 0
	for it := range iters {
		rng := rand.New(rand.NewPCG(uint64(it), 99))
		fsys := base.Clone(uint64(it))
		var damaged []string
		nfiles := 1
		if rng.IntN(3) == 0 {
			nfiles = 1 + rng.IntN(len(files))
		}
		for _, fi := range rng.Perm(len(files))[:nfiles] {
			name := "u/alice/mb0/" + files[fi]
			size := fsys.FileSize(name)
			damaged = append(damaged, files[fi])
			if rng.IntN(3) == 0 {
				if err := fsys.Chop(name, rng.Int64N(size)); err != nil {
					t.Fatal(err)
				}
				continue
			}
			for range 1 + rng.IntN(4) {
				if err := fsys.FlipBit(name, rng.Int64N(size*8)); err != nil {
					t.Fatal(err)
				}
			}
		}
		desc := fmt.Sprintf("iteration %d, damaged %v", it, damaged)
		func() {
			defer func() {
				if p := recover(); p != nil {
					t.Fatalf("%s: panic: %v", desc, p)
				}
			}()
			s := newTestStore(t, fsys, nil)
			a := login(t, s, "alice")
			mbox, err := a.Open("INBOX")
			if err != nil {
				t.Fatalf("%s: open: %v", desc, err)
			}
			got := mbox.Current()
			if got.UIDValidity != want.UIDValidity {
				t.Fatalf("%s: UIDVALIDITY %d", desc, got.UIDValidity)
			}
			for _, m := range got.Messages() {
				v := histEntry{flagNames(m.Flags, got.Keywords), m.ModSeq, m.Size, m.Date}
				ok := false
				for _, h := range hist[m.UID] {
					// Recovery gives a message it had to re-add from its
					// file a new modseq; flags, size and date must be real.
					// (A log cut exactly at a record boundary cannot be told
					// from a shorter log, so the modseq is not checked here;
					// TestCrash checks it for crashes.)
					if flagsMatch(h.flags, v.flags) && h.size == v.size && h.date == v.date {
						ok = true
					}
				}
				if !ok {
					t.Fatalf("%s: uid %d has a state it never had: %+v (history %+v)", desc, m.UID, v, hist[m.UID])
				}
				if b, err := mbox.Store.Message(m.UID); err != nil || string(b) != bodies[m.UID] {
					t.Fatalf("%s: body of %d: %v", desc, m.UID, err)
				}
			}
			if len(damaged) == 1 && damaged[0] != "log" {
				exactRuns++
				compareSnap(t, want, got)
			}
			a.Release(mbox)
			// A second open after repair must find the same state.
			s2 := newTestStore(t, fsys, nil)
			mbox2, err := login(t, s2, "alice").Open("INBOX")
			if err != nil {
				t.Fatalf("%s: second open: %v", desc, err)
			}
			compareSnap(t, got, mbox2.Current())
		}()
	}
	if exactRuns < iters/10 {
		t.Fatalf("only %d runs damaged a single non-log file", exactRuns)
	}
}

// TestCorruptMessageFile: a message file whose bytes changed is never
// served.
func TestCorruptMessageFile(t *testing.T) {
	fsys := NewMemFS(MemFSOptions{})
	s := newTestStore(t, fsys, nil)
	a := login(t, s, "alice")
	if _, err := a.Append("INBOX", nil, 1, []byte("Subject: x\r\n\r\nhello\r\n")); err != nil {
		t.Fatal(err)
	}
	size := fsys.FileSize("u/alice/mb0/m/1")
	for bit := int64(0); bit < size*8; bit += 7 {
		fs2 := fsys.Clone(1)
		fs2.FlipBit("u/alice/mb0/m/1", bit)
		s2 := newTestStore(t, fs2, nil)
		mbox, err := login(t, s2, "alice").Open("INBOX")
		if err != nil {
			t.Fatal(err)
		}
		if b, err := mbox.Store.Message(1); err == nil {
			t.Fatalf("bit %d flipped: served %q", bit, b)
		}
	}
}

// TestCorruptMailboxList: a damaged mailbox list falls back to the backup,
// then to the directories; the user's INBOX is never lost.
func TestCorruptMailboxList(t *testing.T) {
	fsys := NewMemFS(MemFSOptions{})
	s := newTestStore(t, fsys, nil)
	a := login(t, s, "alice")
	if err := a.CreateMailbox("Projects", 0); err != nil {
		t.Fatal(err)
	}
	if err := a.CreateMailbox("Projects/X", 0); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Append("Projects/X", nil, 1, []byte("m\r\n")); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Append("INBOX", nil, 1, []byte("i\r\n")); err != nil {
		t.Fatal(err)
	}
	for _, damage := range [][]string{{"mailboxes"}, {"mailboxes", "mailboxes.backup"}} {
		fs2 := fsys.Clone(1)
		for _, d := range damage {
			fs2.FlipBit("u/alice/"+d, 77)
		}
		s2 := newTestStore(t, fs2, nil)
		a2 := login(t, s2, "alice")
		if st, err := a2.Status("INBOX"); err != nil || st.Messages != 1 {
			t.Fatalf("damage %v: INBOX %+v %v", damage, st, err)
		}
		// The backup predates Projects/X: its directory comes back under
		// Recovered/, messages included.
		if st, err := a2.Status("Recovered/mb7"); err != nil || st.Messages != 1 {
			l, _ := a2.ListMailboxes()
			t.Fatalf("damage %v: Recovered/mb7: %+v %v; list %v", damage, st, err, l)
		}
	}
}

// flagsMatch compares flag name lists; a $lostN placeholder (keyword name
// lost with both indexes) matches any keyword.
func flagsMatch(want, got string) bool {
	if want == got {
		return true
	}
	w, g := strings.Fields(want), strings.Fields(got)
	if len(w) != len(g) {
		return false
	}
	var wk, gk []string
	for _, x := range w {
		if !strings.HasPrefix(x, `\`) {
			wk = append(wk, x)
		} else if !slices.Contains(g, x) {
			return false
		}
	}
	lost := 0
	for _, x := range g {
		if strings.HasPrefix(x, "$lost") {
			lost++
		} else if !strings.HasPrefix(x, `\`) {
			gk = append(gk, x)
		}
	}
	missing := 0
	for _, x := range wk {
		if !slices.Contains(gk, x) {
			missing++
		}
	}
	return missing == lost
}
