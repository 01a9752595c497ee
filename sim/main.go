// Command sim is Myriad's deterministic simulator: it drives the production
// statemachine and storage code (over the fault-injecting MemFS) with many
// simulated clients, a network that splits, delays and drops, server crashes
// and clock jumps, all from one seed, on one goroutine, with a virtual clock.
// The histories go through the checkers of package linearizability.
//
//	go run ./sim -seed 7                 one seed, transcript hash printed
//	go run ./sim -seeds 1-500 -clients 50
//	go run ./sim -seed 7 -v              the whole transcript on stdout
//
// On a failure it prints the seed, the command that reruns it, a shrunk
// history (fewer steps and clients that still fail) and, for a
// linearizability failure, writes porcupine's HTML visualization. See
// docs/SIM.md.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/anishathalye/porcupine"

	lin "github.com/myriad-mail/myriad/linearizability"
	sm "github.com/myriad-mail/myriad/statemachine"
)

const defaultSteps = 1000

// defaultCheckTimeout is the porcupine check's wall-time backstop. The checks
// of make sim take at most a second or two of CPU; on the shared 2-core
// development machine (load average 20) that became 22 s of wall time
// (seed 49), so the backstop is generous and the effort bound (model steps,
// checkStepsPerOp) is what fails a check that got harder.
const defaultCheckTimeout = 60 * time.Second

func main() {
	seed := flag.Uint64("seed", 0, "run one seed")
	seeds := flag.String("seeds", "", "run a range of seeds A-B (inclusive)")
	clients := flag.Int("clients", 50, "simulated clients (sessions at a time)")
	steps := flag.Int("steps", defaultSteps, "simulation steps per seed (safety phase)")
	faults := flag.Int("faults", FaultsDisk, "fault level: 0 none, 1 network, 2 +crashes and clock jumps, 3 +torn writes and bit flips")
	memstore := flag.Bool("memstore", false, "use statemachine/memstore instead of storage over MemFS (no crashes)")
	verbose := flag.Bool("v", false, "print the whole transcript (with -seeds: a line per seed)")
	regressions := flag.String("regressions", "sim/regressions.txt", "file of regression seeds to run with -seeds (\"\": none)")
	out := flag.String("out", os.TempDir(), "directory for porcupine's HTML visualization on failure")
	jobs := flag.Int("j", runtime.GOMAXPROCS(0), "seeds run in parallel (each run is single-threaded)")
	timeout := flag.Duration("check-timeout", defaultCheckTimeout, "porcupine check wall-time limit (reaching it is a failure)")
	bugs := flag.String("bugs", "", "planted bugs, comma-separated: expunge-during-fetch, drop-flag-updates, ack-before-fsync, reuse-uid, expunge-to-qresync, changedsince-off-by-one")
	noShrink := flag.Bool("no-shrink", false, "do not shrink a failure")
	flag.Parse()

	base := Options{Clients: *clients, Steps: *steps, Faults: *faults, Memstore: *memstore, CheckTimeout: *timeout}
	var err error
	if base.Bugs, err = parseBugs(*bugs); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	setPlantedBugs(base.Bugs)
	var list []Options
	switch {
	case *seeds != "":
		a, b, err := parseRange(*seeds)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		if *regressions != "" {
			regs, err := readRegressions(*regressions)
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(2)
			}
			list = append(list, regs...)
		}
		for s := a; s <= b; s++ {
			o := base
			o.Seed = s
			list = append(list, o)
		}
	default:
		o := base
		o.Seed = *seed
		if *verbose {
			o.Transcript = bufio.NewWriter(os.Stdout)
		}
		r := Run(o)
		if w, ok := o.Transcript.(*bufio.Writer); ok {
			w.Flush()
		}
		printResult(r, o)
		if r.Failure != "" {
			report(r, o, *out, !*noShrink)
			os.Exit(1)
		}
		return
	}
	start, cpu0 := time.Now(), cpuTime()
	var sessions, commands, ops, crashes int
	var check time.Duration
	failed := 0
	results := runMany(list, *jobs, func(i int, r Result) {
		if *verbose || r.Failure != "" {
			printResult(r, list[i])
		}
	})
	for i, r := range results {
		sessions += r.Sessions
		commands += r.Commands
		ops += r.Ops
		crashes += r.Crashes
		check += r.Check
		if r.Failure != "" {
			failed++
			if failed == 1 {
				report(r, list[i], *out, !*noShrink)
			}
		}
	}
	el := time.Since(start)
	cpu := cpuTime() - cpu0
	fmt.Printf("sim: %d seeds, %d failed, %d sessions, %d commands, %d crashes, %d checked operations in %.1fs, %.1f CPU-s (%.0f sessions/s, %.0f sessions/CPU-s, porcupine %.1fms wall per 1000 ops)\n",
		len(list), failed, sessions, commands, crashes, ops, el.Seconds(), cpu.Seconds(), float64(sessions)/el.Seconds(), float64(sessions)/cpu.Seconds(), perThousand(check, ops))
	if failed > 0 {
		os.Exit(1)
	}
}

// cpuTime is the process's CPU time (user+system): the machines that run
// this are shared, so wall time says little.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func perThousand(d time.Duration, ops int) float64 {
	if ops == 0 {
		return 0
	}
	return float64(d.Microseconds()) / 1000 / float64(ops) * 1000
}

// RunMany runs the seeds on jobs goroutines (each run is independent and
// single-threaded) and returns the results in order.
func RunMany(list []Options, jobs int) []Result { return runMany(list, jobs, nil) }

// runMany is RunMany calling progress with each result, in order, as soon as
// it and all before it are done.
func runMany(list []Options, jobs int, progress func(int, Result)) []Result {
	results := make([]Result, len(list))
	done := make([]bool, len(list))
	var mu sync.Mutex
	printed := 0
	next := make(chan int)
	var wg sync.WaitGroup
	for range max(1, jobs) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				r := Run(list[i])
				mu.Lock()
				results[i], done[i] = r, true
				for printed < len(list) && done[printed] {
					if progress != nil {
						progress(printed, results[printed])
					}
					printed++
				}
				mu.Unlock()
			}
		}()
	}
	for i := range list {
		next <- i
	}
	close(next)
	wg.Wait()
	return results
}

func setPlantedBugs(b Bugs) {
	sm.PlantedBugs.ExpungeDuringFetch = b.ExpungeDuringFetch
	sm.PlantedBugs.DropFlagUpdates = b.DropFlagUpdates
	sm.PlantedBugs.ExpungeToQResync = b.ExpungeToQResync
	sm.PlantedBugs.ChangedSinceOffByOne = b.ChangedSinceOffByOne
}

func parseBugs(s string) (Bugs, error) {
	var b Bugs
	for _, name := range strings.Split(s, ",") {
		switch strings.TrimSpace(name) {
		case "":
		case "expunge-during-fetch":
			b.ExpungeDuringFetch = true
		case "drop-flag-updates":
			b.DropFlagUpdates = true
		case "ack-before-fsync":
			b.AckBeforeFsync = true
		case "reuse-uid":
			b.ReuseUID = true
		case "expunge-to-qresync":
			b.ExpungeToQResync = true
		case "changedsince-off-by-one":
			b.ChangedSinceOffByOne = true
		default:
			return b, fmt.Errorf("sim: unknown planted bug %q", name)
		}
	}
	return b, nil
}

func parseRange(s string) (uint64, uint64, error) {
	a, b, ok := strings.Cut(s, "-")
	x, err1 := strconv.ParseUint(a, 10, 64)
	y, err2 := strconv.ParseUint(b, 10, 64)
	if !ok || err1 != nil || err2 != nil || y < x {
		return 0, 0, fmt.Errorf("sim: -seeds %q: want A-B", s)
	}
	return x, y, nil
}

// readRegressions reads the regression list: one run per line, as the flags
// of the command that reproduces it ("-seed 42 -clients 50 -steps 900
// -faults 3"), '#' comments allowed.
func readRegressions(path string) ([]Options, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		if os.IsNotExist(err) {
			return nil, nil
		}
		return nil, err
	}
	var out []Options
	for n, line := range strings.Split(string(data), "\n") {
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		o := Options{Clients: 50, Steps: defaultSteps, Faults: FaultsDisk}
		for i := 0; i+1 < len(f); i += 2 {
			v := f[i+1]
			var err error
			switch f[i] {
			case "-seed":
				o.Seed, err = strconv.ParseUint(v, 10, 64)
			case "-clients":
				o.Clients, err = strconv.Atoi(v)
			case "-steps":
				o.Steps, err = strconv.Atoi(v)
			case "-faults":
				o.Faults, err = strconv.Atoi(v)
			case "-memstore":
				o.Memstore = v == "true"
			default:
				err = fmt.Errorf("unknown flag %s", f[i])
			}
			if err != nil {
				return nil, fmt.Errorf("%s:%d: %v", path, n+1, err)
			}
		}
		out = append(out, o)
	}
	return out, nil
}

// Command returns the command line that reruns o.
func Command(o Options) string {
	s := fmt.Sprintf("go run ./sim -seed %d -clients %d -steps %d -faults %d", o.Seed, o.Clients, o.Steps, o.Faults)
	if o.Memstore {
		s += " -memstore"
	}
	if b := o.Bugs.String(); b != "" {
		s += " -bugs " + b
	}
	return s
}

func printResult(r Result, o Options) {
	status := "ok"
	if r.Failure != "" {
		status = "FAIL " + r.Kind + ": " + r.Failure
	}
	fmt.Printf("seed=%d hash=%s sessions=%d commands=%d crashes=%d ops=%d check=%v/%d %s\n",
		r.Seed, r.Hash, r.Sessions, r.Commands, r.Crashes, r.Ops, r.Check.Round(time.Millisecond), r.CheckSteps, status)
}

// Shrink looks for a smaller run that fails the same way: fewer clients,
// then fewer steps (bisected). Each candidate is a full deterministic run.
func Shrink(o Options, r Result, budget int) (Options, Result) {
	try := func(c Options) (Result, bool) {
		if budget <= 0 {
			return Result{}, false
		}
		budget--
		cr := Run(c)
		return cr, cr.Failure != "" && cr.Kind == r.Kind
	}
	for o.Clients > 1 {
		c := o
		c.Clients = o.Clients / 2
		cr, ok := try(c)
		if !ok {
			break
		}
		o, r = c, cr
	}
	lo, hi := 1, o.Steps
	for lo < hi && budget > 0 {
		mid := (lo + hi) / 2
		c := o
		c.Steps = mid
		if cr, ok := try(c); ok {
			hi, r, o = mid, cr, c
		} else {
			lo = mid + 1
		}
	}
	return o, r
}

func report(r Result, o Options, outDir string, shrink bool) {
	fmt.Printf("\nFAILED seed %d (%s): %s\n", r.Seed, r.Kind, r.Failure)
	fmt.Printf("rerun: %s\n", Command(o))
	if shrink {
		so, sr := Shrink(o, r, 30)
		if so != o {
			fmt.Printf("shrunk: %s\n", Command(so))
			fmt.Printf("        %s\n", sr.Failure)
			o, r = so, sr
		}
	}
	fmt.Printf("\nlast %d transcript lines (%s -v for all):\n", len(r.Tail), Command(o))
	for _, l := range r.Tail {
		fmt.Println("  " + l)
	}
	if r.hasInfo {
		fmt.Println()
		fmt.Print(lin.Explain(r.history, 10*time.Second))
		path := fmt.Sprintf("%s/myriad-sim-%d.html", outDir, r.Seed)
		if err := writeVisualization(r, path); err != nil {
			fmt.Printf("visualization: %v\n", err)
		} else {
			fmt.Printf("porcupine visualization: %s\n", path)
		}
	}
}

func writeVisualization(r Result, path string) error {
	return porcupine.VisualizePath(lin.Model, r.info, path)
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}
