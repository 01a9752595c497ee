package main

// Memory as the issue defines it: the server's user-space memory is the
// sum of PSS over its whole process tree (/proc/PID/smaps_rollup), so a
// server made of many processes (Dovecot) counts fairly; the kernel's is
// slab + kernel stacks + page tables (/proc/meminfo) plus the TCP socket
// buffer pages (/proc/net/sockstat).

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
)

// tree returns root and every descendant of it.
func tree(root int) []int {
	ents, _ := os.ReadDir("/proc")
	kids := map[int][]int{}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...; comm may hold spaces and parens.
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(b[i+1:]))
		if len(f) < 2 {
			continue
		}
		ppid, _ := strconv.Atoi(f[1])
		kids[ppid] = append(kids[ppid], pid)
	}
	out := []int{root}
	for i := 0; i < len(out); i++ {
		out = append(out, kids[out[i]]...)
	}
	return out
}

// treePSS sums Pss (bytes) over the tree and counts its processes.
func treePSS(root int) (int64, int) {
	var sum int64
	n := 0
	for _, pid := range tree(root) {
		v, ok := pssOf(pid)
		if ok {
			sum += v
			n++
		}
	}
	return sum, n
}

func pssOf(pid int) (int64, bool) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	if err != nil {
		return 0, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		l := sc.Text()
		if strings.HasPrefix(l, "Pss:") {
			f := strings.Fields(l)
			if len(f) >= 2 {
				kb, _ := strconv.ParseInt(f[1], 10, 64)
				return kb << 10, true
			}
		}
	}
	return 0, false
}

// kernelMem is what the kernel holds, in bytes.
type kernelMem struct {
	Slab, KernelStack, PageTables, TCPMem int64
	TCPInuse                              int64
}

func (k kernelMem) total() int64 { return k.Slab + k.KernelStack + k.PageTables + k.TCPMem }

func readKernel() kernelMem {
	var k kernelMem
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			f := strings.Fields(l)
			if len(f) < 2 {
				continue
			}
			v, _ := strconv.ParseInt(f[1], 10, 64)
			switch f[0] {
			case "Slab:":
				k.Slab = v << 10
			case "KernelStack:":
				k.KernelStack = v << 10
			case "PageTables:":
				k.PageTables = v << 10
			}
		}
	}
	if b, err := os.ReadFile("/proc/net/sockstat"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if !strings.HasPrefix(l, "TCP:") {
				continue
			}
			f := strings.Fields(l)
			for i := 1; i+1 < len(f); i += 2 {
				v, _ := strconv.ParseInt(f[i+1], 10, 64)
				switch f[i] {
				case "mem":
					k.TCPMem = v * int64(os.Getpagesize())
				case "inuse":
					k.TCPInuse = v
				}
			}
		}
	}
	return k
}

// pct returns the p-th percentile (0..100) of sorted v, nearest rank.
func pct(v []int64, p float64) int64 {
	if len(v) == 0 {
		return 0
	}
	i := int(p/100*float64(len(v))+0.999999) - 1
	i = max(0, min(i, len(v)-1))
	return v[i]
}

type dist struct {
	N             int
	P50, P99, Max float64 // milliseconds
}

func distOf(ns []int64) dist {
	v := append([]int64(nil), ns...)
	sort.Slice(v, func(i, j int) bool { return v[i] < v[j] })
	ms := func(x int64) float64 { return float64(x) / 1e6 }
	if len(v) == 0 {
		return dist{}
	}
	return dist{N: len(v), P50: ms(pct(v, 50)), P99: ms(pct(v, 99)), Max: ms(v[len(v)-1])}
}

func (d dist) String() string {
	return fmt.Sprintf("n=%d p50=%.3fms p99=%.3fms max=%.3fms", d.N, d.P50, d.P99, d.Max)
}

// cpuOf is a process's user+system CPU time, in nanoseconds (from
// /proc/PID/stat, in clock ticks of 10 ms).
func cpuOf(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64) // field 14 of stat
	st, _ := strconv.ParseInt(f[12], 10, 64) // field 15
	return (ut + st) * 10_000_000            // CLK_TCK is 100 on Linux
}

// treeCPU sums cpuOf over the server's process tree.
func treeCPU(root int) int64 {
	var sum int64
	for _, pid := range tree(root) {
		sum += cpuOf(pid)
	}
	return sum
}

func workersCPU(ws []*workerProc) int64 {
	var sum int64
	for _, w := range ws {
		sum += cpuOf(w.cmd.Process.Pid)
	}
	return sum
}

// fanCPU adds up, over the fan-out deliveries, the wall time from each
// delivery to its last arrival and the CPU the server and the load
// generator's workers used meanwhile (ns).
type fanCPU struct {
	rounds            int
	wall, server, gen int64
}

func (f *fanCPU) add(wall, server, gen int64) {
	f.rounds++
	f.wall += wall
	f.server += server
	f.gen += gen
}

func (f *fanCPU) perRound(v int64) float64 { return float64(v) / float64(f.rounds) / 1e6 }
