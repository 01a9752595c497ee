package main

import (
	"testing"
	"time"

	lin "github.com/myriad-mail/myriad/linearizability"
)

// BenchmarkSim reports simulated sessions per second of CPU (one seed per
// iteration, 50 clients, default steps, all faults, porcupine check
// excluded) and porcupine's check time per 1,000 operations.
func BenchmarkSim(b *testing.B) {
	var sessions, ops int
	var check, sim time.Duration
	for i := 0; b.Loop(); i++ {
		o := Options{Seed: uint64(1000 + i), Clients: 50, Faults: FaultsDisk, SkipCheck: true}
		t0 := cpuTime()
		w := run(o)
		sim += cpuTime() - t0
		sessions += w.res.Sessions
		ops += len(w.history)
		t1 := cpuTime()
		if res := lin.CheckFast(w.history, time.Minute); res != "Ok" {
			b.Fatalf("seed %d: %s", o.Seed, res)
		}
		check += cpuTime() - t1
	}
	b.ReportMetric(float64(sessions)/sim.Seconds(), "sessions/cpu-s")
	b.ReportMetric(float64(check.Microseconds())/1000/float64(ops)*1000, "check-cpu-ms/1000ops")
}
