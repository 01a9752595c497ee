package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	sm "github.com/myriad-mail/myriad/statemachine"
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
	for _, o := range regs {
		if r := Run(o); r.Failure != "" {
			t.Errorf("%s: %s: %s", Command(o), r.Kind, r.Failure)
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
	if sm.PlantedBugs.ExpungeDuringFetch || sm.PlantedBugs.DropFlagUpdates {
		t.Fatal("planted bugs left on")
	}
}
