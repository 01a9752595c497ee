package storage

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/myriad-mail/myriad/statemachine"
)

// TestConcurrentCrash crashes a MemFS while many goroutines STORE and
// APPEND on one mailbox (so group commit, out-of-order log writes and
// renames outside the lock are in flight), then checks every acknowledged
// change. Unlike TestCrash it is not deterministic (goroutine scheduling),
// so it runs several rounds.
func TestConcurrentCrash(t *testing.T) {
	rounds := 30
	if testing.Short() {
		rounds = 5
	}
	for round := range rounds {
		concurrentCrashRound(t, uint64(round))
	}
}

func concurrentCrashRound(t *testing.T, seed uint64) {
	fsys := NewMemFS(MemFSOptions{Seed: seed, TornWrites: true, PartialDirOps: true})
	s := newTestStore(t, fsys, func(c *Config) { c.LogRotateBytes = 3000; c.SyncFS = seed%2 == 0 })
	a := login(t, s, "alice")
	mbox, err := a.Open("INBOX")
	if err != nil {
		t.Fatal(err)
	}
	const storers, appenders = 16, 4
	for i := range 2 * storers {
		if _, err := a.Append("INBOX", nil, int64(i), []byte("seed\r\n")); err != nil {
			t.Fatal(err)
		}
	}
	type outcome struct {
		acked, inflight string // flag names
		busy            bool   // a STORE of inflight was under way
	}
	var mu sync.Mutex
	owned := map[statemachine.UID]*outcome{}
	for u := statemachine.UID(1); u <= 2*storers; u++ {
		owned[u] = &outcome{}
	}
	appended := map[statemachine.UID]string{}
	var ackedModseq atomic.Uint64
	var ops atomic.Int64
	crashAt := int64(50 + rand.New(rand.NewPCG(seed, 3)).IntN(400))
	var wg sync.WaitGroup
	for g := range storers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(seed, uint64(g)))
			for {
				u := statemachine.UID(2*g + 1 + rng.IntN(2))
				flags := randomFlags(rng)
				mu.Lock()
				owned[u].inflight, owned[u].busy = namesOf(flags), true
				mu.Unlock()
				_, err := mbox.Store.Store([]statemachine.UID{u}, statemachine.FlagsReplace, flags, 0)
				if err != nil {
					return // crashed: inflight stays uncertain
				}
				if ms := mbox.Current().HighestModSeq; ms > ackedModseq.Load() {
					ackedModseq.Store(ms) // racy max is fine: a lower bound
				}
				mu.Lock()
				owned[u].acked, owned[u].busy = namesOf(flags), false
				mu.Unlock()
				if ops.Add(1) == crashAt {
					fsys.CrashHalt()
				}
			}
		}()
	}
	for g := range appenders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(seed, 100+uint64(g)))
			for i := 0; ; i++ {
				flags := randomFlags(rng)
				r, err := a.Append("INBOX", flags, int64(i), []byte(fmt.Sprintf("Subject: %d/%d\r\n\r\nx\r\n", g, i)))
				if err != nil {
					return
				}
				mu.Lock()
				appended[r.UID] = namesOf(flags)
				mu.Unlock()
				if ops.Add(1) == crashAt {
					fsys.CrashHalt()
				}
			}
		}()
	}
	wg.Wait()
	fsys.Resume()
	s2 := newTestStore(t, fsys, nil)
	m2, err := login(t, s2, "alice").Open("INBOX")
	if err != nil {
		t.Fatalf("seed %d: reopen: %v", seed, err)
	}
	snap := m2.Current()
	got := map[statemachine.UID]string{}
	snap.Each(0, func(_ int, m *statemachine.Message) bool {
		got[m.UID] = flagNames(m.Flags, snap.Keywords)
		return true
	})
	for u, o := range owned {
		g, ok := got[u]
		if !ok {
			t.Fatalf("seed %d: message %d lost", seed, u)
		}
		if g != o.acked && !(o.busy && g == o.inflight) {
			t.Fatalf("seed %d: uid %d has %q, acknowledged %q (in flight %q)", seed, u, g, o.acked, o.inflight)
		}
	}
	for u, f := range appended {
		if g, ok := got[u]; !ok || g != f {
			t.Fatalf("seed %d: acknowledged APPEND uid %d: got %q (present %v), want %q", seed, u, g, ok, f)
		}
		if b, err := m2.Store.Message(u); err != nil || len(b) == 0 {
			t.Fatalf("seed %d: body of %d: %v", seed, u, err)
		}
	}
	if snap.HighestModSeq < ackedModseq.Load() {
		t.Fatalf("seed %d: HIGHESTMODSEQ went back from %d to %d", seed, ackedModseq.Load(), snap.HighestModSeq)
	}
}
