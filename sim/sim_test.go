package main

import (
	"bytes"
	"crypto/sha256"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	sm "github.com/myriad-mail/myriad/statemachine"
	"github.com/myriad-mail/myriad/storage"
)

// TestDeterministic: the same seed gives the byte-identical transcript (and
// so the same hash); another seed gives another one.
func TestDeterministic(t *testing.T) {
	opt := Options{Seed: 7, Clients: 20, Steps: 500, Faults: FaultsDisk}
	var a, b bytes.Buffer
	o1, o2 := opt, opt
	o1.Transcript, o2.Transcript = &a, &b
	r1, r2 := Run(o1), Run(o2)
	if r1.Failure != "" {
		t.Fatalf("seed 7 fails: %s", r1.Failure)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) || r1.Hash != r2.Hash {
		t.Fatalf("seed 7 ran twice: hashes %s and %s, transcripts of %d and %d bytes", r1.Hash, r2.Hash, a.Len(), b.Len())
	}
	if a.Len() < 10000 || r1.Commands < 50 {
		t.Fatalf("transcript of %d bytes, %d commands: the run did nothing", a.Len(), r1.Commands)
	}
	o3 := opt
	o3.Seed = 8
	if r3 := Run(o3); r3.Hash == r1.Hash {
		t.Fatalf("seeds 7 and 8 give the same hash %s", r1.Hash)
	}
	// Running seeds in parallel does not change them.
	rs := RunMany([]Options{opt, opt, opt}, 3)
	for _, r := range rs {
		if r.Hash != r1.Hash {
			t.Fatalf("parallel run of seed 7: hash %s, want %s", r.Hash, r1.Hash)
		}
	}
}

// TestRegressions runs the regression seeds (make sim runs them too).
func TestRegressions(t *testing.T) {
	regs, err := readRegressions("regressions.txt")
	if err != nil {
		t.Fatal(err)
	}
	if testing.Short() && len(regs) > 3 {
		regs = regs[:3]
	}
	for i, r := range RunMany(regs, runtime.GOMAXPROCS(0)) {
		if r.Failure != "" {
			t.Errorf("%s: %s: %s", Command(regs[i]), r.Kind, r.Failure)
		}
	}
}

// canarySeeds bounds how many seeds a canary may take to catch its bug.
const canarySeeds = 30

// TestCanaries plants each known bug and asserts that the simulator catches
// it within canarySeeds seeds: a checker that cannot fail proves nothing.
func TestCanaries(t *testing.T) {
	cases := []struct {
		name string
		bugs Bugs
		kind string // the checker that must catch it ("" any)
	}{
		{"expunge-during-fetch", Bugs{ExpungeDuringFetch: true}, "protocol"},
		{"drop-flag-updates", Bugs{DropFlagUpdates: true}, "linearizability"},
		{"ack-before-fsync", Bugs{AckBeforeFsync: true}, "durability"},
		{"reuse-uid", Bugs{ReuseUID: true}, ""},
		{"expunge-to-qresync", Bugs{ExpungeToQResync: true}, "protocol"},
		{"changedsince-off-by-one", Bugs{ChangedSinceOffByOne: true}, "linearizability"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			setPlantedBugs(tc.bugs)
			defer setPlantedBugs(Bugs{})
			for seed := uint64(1); seed <= canarySeeds; seed++ {
				o := Options{Seed: seed, Clients: 20, Steps: 800, Faults: FaultsCrash, Bugs: tc.bugs}
				r := Run(o)
				if r.Failure == "" {
					continue
				}
				if tc.kind != "" && r.Kind != tc.kind {
					t.Logf("seed %d failed as %s, not %s: %s", seed, r.Kind, tc.kind, r.Failure)
					continue
				}
				t.Logf("caught at seed %d (%s): %s", seed, r.Kind, firstLine(r.Failure))
				if r.hasInfo {
					// The visualization is written on a failure.
					path := filepath.Join(t.TempDir(), "v.html")
					if err := writeVisualization(r, path); err != nil {
						t.Fatal(err)
					}
					if st, err := os.Stat(path); err != nil || st.Size() < 1000 {
						t.Fatalf("visualization: %v", err)
					}
				}
				return
			}
			t.Fatalf("planted bug %s not caught in %d seeds", tc.name, canarySeeds)
		})
	}
	if pb := sm.PlantedBugs; pb.ExpungeDuringFetch || pb.DropFlagUpdates || pb.ExpungeToQResync || pb.ChangedSinceOffByOne {
		t.Fatal("planted bugs left on")
	}
}

// TestUsersFileBitFlip: a bit flip that makes the users file malformed is
// detected: the store refuses to open and names the line. (The simulator
// keeps bit flips away from the users file, the operator's configuration;
// see docs/SIM.md. This is what the product does if one reaches it.)
func TestUsersFileBitFlip(t *testing.T) {
	w := &world{opt: Options{Seed: 1}, hash: sha256.New(), users: []string{"u0", "u1"}, rng: rand.New(rand.NewPCG(1, 2))}
	w.fs = storage.NewMemFS(storage.MemFSOptions{})
	if err := w.writeUsers(); err != nil {
		t.Fatal(err)
	}
	if _, err := storage.Open(w.storeConfig()); err != nil {
		t.Fatalf("clean users file: %v", err)
	}
	// "u1:{PLAIN}..." on line 2: bit 7 of its first byte makes the name
	// invalid UTF-8.
	line2 := int64(len("u0:{PLAIN}pw-u0\n"))
	if err := w.fs.FlipBit("users", line2*8+7); err != nil {
		t.Fatal(err)
	}
	_, err := storage.Open(w.storeConfig())
	if err == nil || !strings.Contains(err.Error(), "users file line 2: malformed") {
		t.Fatalf("users file with a flipped bit: Open: %v, want line 2 malformed", err)
	}
}
