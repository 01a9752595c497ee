package main

// Idle sessions and fan-out. The coordinator (imapbench idle) measures the
// server, spawns worker processes (imapbench worker: each holds up to
// ~9,500 sessions on one epoll loop), and talks to them over their stdin
// and stdout, one line a command.

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"
)

// ---- worker ----

type idleSess struct {
	conn
	w      *idleWorker
	user   int32
	state  uint8
	exists int32
	t0     int64
}

const (
	stGreet = iota
	stLogin
	stSelect
	stIdleCmd
	stIdling
	stDone
)

func (s *idleSess) onResponse(c *conn, r []byte) {
	w := s.w
	switch s.state {
	case stGreet:
		if !bytes.HasPrefix(r, []byte("* OK")) {
			s.fail("greeting: " + string(r))
			return
		}
		s.state = stLogin
		c.write([]byte(fmt.Sprintf("a LOGIN %s %s\r\n", w.userName(int(s.user)), w.password)))
	case stLogin:
		if r[0] == '*' {
			return
		}
		if !bytes.HasPrefix(r, []byte("a OK")) {
			s.fail("login: " + string(r))
			return
		}
		s.state = stSelect
		c.write([]byte("b SELECT INBOX\r\n"))
	case stSelect:
		if n, ok := existsOf(r); ok {
			s.exists = int32(n)
			return
		}
		if r[0] == '*' {
			return
		}
		if !bytes.HasPrefix(r, []byte("b OK")) {
			s.fail("select: " + string(r))
			return
		}
		s.state = stIdleCmd
		c.write([]byte("c IDLE\r\n"))
	case stIdleCmd:
		if r[0] == '+' {
			s.state = stIdling
			w.idled(s)
			return
		}
		if r[0] == '*' {
			if n, ok := existsOf(r); ok {
				s.exists = int32(n)
			}
			return
		}
		s.fail("idle: " + string(r))
	case stIdling:
		if n, ok := existsOf(r); ok {
			if int32(n) > s.exists {
				s.exists = int32(n)
				w.arrived(s, mono())
			}
			return
		}
		if bytes.HasPrefix(r, []byte("* BYE")) {
			s.state = stDone
		}
	}
}

func (s *idleSess) fail(why string) {
	s.w.failed(s, why)
	s.state = stDone
	s.conn.close(nil)
}

func (s *idleSess) onClose(c *conn, err error) {
	if s.state == stIdling {
		s.w.lost(s)
	} else if s.state != stDone {
		s.w.failed(s, fmt.Sprintf("closed during setup: %v", err))
	}
	s.state = stDone
}

// existsOf parses "* n EXISTS".
func existsOf(r []byte) (int, bool) {
	if len(r) < 10 || r[0] != '*' || !bytes.HasSuffix(r, []byte(" EXISTS")) {
		return 0, false
	}
	n, err := strconv.Atoi(string(r[2 : len(r)-7]))
	return n, err == nil
}

type idleWorker struct {
	l        *loop
	userFmt  string
	password string
	users    int
	sem      chan struct{}

	mu         sync.Mutex
	idleByUser []int32
	armed      int32
	arrivals   []int64
	ok, bad    int
	lostN      int
	tFirst     int64
	tLast      int64
	lats       []int64
	firstErr   string
}

func (w *idleWorker) userName(u int) string { return fmt.Sprintf(w.userFmt, u) }

func (w *idleWorker) idled(s *idleSess) {
	now := mono()
	w.mu.Lock()
	w.ok++
	w.idleByUser[s.user]++
	w.lats = append(w.lats, now-s.t0)
	w.tLast = now
	w.mu.Unlock()
	<-w.sem
}

func (w *idleWorker) failed(s *idleSess, why string) {
	w.mu.Lock()
	w.bad++
	if w.firstErr == "" {
		w.firstErr = why
	}
	w.mu.Unlock()
	<-w.sem
}

func (w *idleWorker) lost(s *idleSess) {
	w.mu.Lock()
	w.lostN++
	w.idleByUser[s.user]--
	w.mu.Unlock()
}

func (w *idleWorker) arrived(s *idleSess, now int64) {
	w.mu.Lock()
	if s.user == w.armed {
		w.arrivals = append(w.arrivals, now)
	}
	w.mu.Unlock()
}

func cmdWorker(args []string) {
	fs := flag.NewFlagSet("worker", flag.ExitOnError)
	addr := fs.String("addr", "127.0.0.1:143", "server IMAP `address`")
	useTLS := fs.Bool("tls", false, "implicit TLS")
	n := fs.Int("n", 100, "sessions")
	first := fs.Int("first", 0, "global index of the first session")
	users := fs.Int("users", 200, "users (mailboxes); session i is user i%users")
	userFmt := fs.String("user-fmt", "bench%d", "user name format")
	password := fs.String("password", "benchpw", "every user's password")
	src := fs.String("src", "127.0.0.2", "first source address")
	srcN := fs.Int("src-n", 100, "source addresses used")
	rate := fs.Float64("rate", 1000, "offered sessions per second (0: no limit)")
	inflight := fs.Int("inflight", 200, "sessions being set up at once, at most")
	dialers := fs.Int("dialers", 16, "dialer goroutines")
	setupTimeout := fs.Duration("setup-timeout", 5*time.Minute, "give up waiting for sessions to reach IDLE")
	maxTime := fs.Duration("max-time", 30*time.Minute, "exit after this long whatever happens")
	fs.Parse(args)

	time.AfterFunc(*maxTime, func() { fmt.Fprintln(os.Stderr, "worker: max-time reached"); os.Exit(3) })
	ap, err := netip.ParseAddrPort(*addr)
	if err != nil {
		die("worker: %v", err)
	}
	o := &dialOpts{addr: ap, srcBase: netip.MustParseAddr(*src), srcN: *srcN, timeout: 30 * time.Second}
	if *useTLS {
		o.tls = &tls.Config{InsecureSkipVerify: true}
	}
	l, err := newLoop()
	if err != nil {
		die("worker: %v", err)
	}
	w := &idleWorker{l: l, userFmt: *userFmt, password: *password, users: *users,
		sem: make(chan struct{}, *inflight), idleByUser: make([]int32, *users), armed: -1}
	go l.run()

	// Dial and hand over at the offered rate.
	w.tFirst = mono()
	jobs := make(chan int)
	for range *dialers {
		go func() {
			for i := range jobs {
				s := &idleSess{w: w, user: int32(i % *users), t0: mono()}
				s.conn.l, s.conn.h = l, s
				if err := dial(o, i, &s.conn); err != nil {
					w.failed(s, err.Error())
					continue
				}
				l.add(&s.conn)
			}
		}()
	}
	go func() {
		start := time.Now()
		for k := 0; k < *n; k++ {
			if *rate > 0 {
				time.Sleep(time.Until(start.Add(time.Duration(float64(k) / *rate * 1e9))))
			}
			w.sem <- struct{}{}
			jobs <- *first + k
		}
		close(jobs)
	}()
	deadline := time.Now().Add(*setupTimeout)
	for {
		w.mu.Lock()
		done := w.ok + w.bad
		w.mu.Unlock()
		if done >= *n || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	out := bufio.NewWriterSize(os.Stdout, 1<<20)
	w.mu.Lock()
	fmt.Fprintf(out, "ready %d %d %d %d %q\n", w.ok, w.bad, w.tFirst, w.tLast, w.firstErr)
	fmt.Fprint(out, "lat")
	for _, v := range w.lats {
		fmt.Fprintf(out, " %d", v)
	}
	fmt.Fprintln(out)
	w.mu.Unlock()
	out.Flush()

	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		f := strings.Fields(in.Text())
		if len(f) == 0 {
			continue
		}
		w.mu.Lock()
		switch f[0] {
		case "arm":
			u, _ := strconv.Atoi(f[1])
			w.armed = int32(u)
			w.arrivals = w.arrivals[:0]
			fmt.Fprintf(out, "armed %d\n", w.idleByUser[u])
		case "count":
			fmt.Fprintf(out, "count %d\n", len(w.arrivals))
		case "collect":
			fmt.Fprint(out, "arrivals")
			for _, v := range w.arrivals {
				fmt.Fprintf(out, " %d", v)
			}
			fmt.Fprintln(out)
			w.armed = -1
		case "stats":
			idle := 0
			for _, v := range w.idleByUser {
				idle += int(v)
			}
			fmt.Fprintf(out, "stats %d %d\n", idle, w.lostN)
		case "quit":
			w.mu.Unlock()
			out.Flush()
			os.Exit(0)
		}
		w.mu.Unlock()
		out.Flush()
	}
	os.Exit(0) // the coordinator went away
}

// ---- coordinator ----

type workerProc struct {
	cmd *exec.Cmd
	in  io.WriteCloser
	out *bufio.Scanner
}

func (p *workerProc) ask(line string) []string {
	fmt.Fprintln(p.in, line)
	return p.next()
}

func (p *workerProc) next() []string {
	if !p.out.Scan() {
		die("worker %d: no answer (%v)", p.cmd.Process.Pid, p.out.Err())
	}
	return strings.Fields(p.out.Text())
}

type idleResult struct {
	Server      string
	Sessions    int
	Failed      int
	UserBefore  int64
	UserAfter   int64
	Procs       [2]int
	KernBefore  kernelMem
	KernAfter   kernelMem
	SetupRate   float64
	SetupLat    dist
	FanAppend   dist
	FanLMTP     dist
	FanAppendC  dist
	FanLMTPC    dist
	AppendDone  dist
	Watchers    int
	FirstErr    string
	Lost        int
	MissedRound int
	Load        [2]string
	FanCPU      fanCPU

	MetricsBefore, MetricsAfter map[string]float64
}

// scrape reads the Go runtime figures from a Prometheus endpoint.
func scrape(url string) map[string]float64 {
	if url == "" {
		return nil
	}
	cl := &http.Client{Timeout: 10 * time.Second}
	resp, err := cl.Get(url)
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	m := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 2 {
			continue
		}
		switch f[0] {
		case "go_goroutines", "go_memstats_heap_inuse_bytes", "go_memstats_heap_alloc_bytes",
			"go_memstats_stack_inuse_bytes", "go_memstats_sys_bytes", "process_resident_memory_bytes",
			`myriad_sessions{state="idle"}`, "myriad_connections":
			v, _ := strconv.ParseFloat(f[1], 64)
			m[f[0]] = v
		}
	}
	return m
}

func loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

func cmdIdle(args []string) {
	fs := flag.NewFlagSet("idle", flag.ExitOnError)
	server := fs.String("server", "myriad", "server name for the report")
	addr := fs.String("addr", "127.0.0.1:143", "server IMAP `address` (IMAPS with -tls)")
	useTLS := fs.Bool("tls", false, "implicit TLS (IMAPS)")
	lmtpAddr := fs.String("lmtp", "", "server LMTP `address` for the LMTP fan-out (empty: skip)")
	pid := fs.Int("pid", 0, "server's root process id (its whole tree is measured)")
	pidFile := fs.String("pidfile", "", "file holding the server's root pid")
	n := fs.Int("n", 1000, "idle sessions")
	users := fs.Int("users", 200, "users (mailboxes) the sessions spread over; 1: all on one mailbox")
	userFmt := fs.String("user-fmt", "bench%d", "user name format")
	password := fs.String("password", "benchpw", "every user's password")
	procs := fs.Int("procs", 0, "worker processes (0: one per 9,500 sessions, at least 2 past 1,000)")
	rate := fs.Float64("rate", 1000, "offered session setup rate, per second, all workers together (0: no limit)")
	inflight := fs.Int("inflight", 256, "sessions being set up at once, all workers together")
	settle := fs.Duration("settle", 5*time.Second, "wait after setup before measuring")
	rounds := fs.Int("rounds", 5, "deliveries per fan-out kind")
	gap := fs.Duration("gap", time.Second, "pause between deliveries")
	warm := fs.Bool("warm", true, "log every user in once before measuring (creates mailboxes, warms caches)")
	detail := fs.String("detail", "", "append the full report to this `file`")
	setupTimeout := fs.Duration("setup-timeout", 40*time.Minute, "give up waiting for sessions to reach IDLE")
	metricsURL := fs.String("metrics", "", "Prometheus `URL` of the server (Myriad): Go heap and goroutines before and after")
	fs.Parse(args)
	if *pidFile != "" {
		b, err := os.ReadFile(*pidFile)
		if err != nil {
			die("%v", err)
		}
		*pid, _ = strconv.Atoi(strings.TrimSpace(string(b)))
	}
	if *pid <= 0 {
		die("idle: -pid or -pidfile is required")
	}
	var tlsCfg *tls.Config
	if *useTLS {
		tlsCfg = &tls.Config{InsecureSkipVerify: true}
	}
	userName := func(u int) string { return fmt.Sprintf(*userFmt, u) }
	logf := func(format string, a ...any) { fmt.Fprintf(os.Stderr, "idle: "+format+"\n", a...) }

	if *warm {
		t := time.Now()
		for u := 0; u < *users; u++ {
			c, err := dialIMAP(*addr, tlsCfg, userName(u), *password)
			if err != nil {
				die("warm-up %s: %v", userName(u), err)
			}
			if _, err := c.cmd("SELECT INBOX"); err != nil {
				die("warm-up %s: %v", userName(u), err)
			}
			c.logout()
		}
		logf("warm-up: %d users in %v", *users, time.Since(t).Round(time.Millisecond))
	}
	time.Sleep(time.Second)
	var r idleResult
	r.Server = *server
	r.Load[0] = loadavg()
	r.MetricsBefore = scrape(*metricsURL)
	r.UserBefore, r.Procs[0] = treePSS(*pid)
	r.KernBefore = readKernel()

	P := *procs
	if P <= 0 {
		P = (*n + 9499) / 9500
		if *n > 1000 {
			P = max(P, 2)
		}
	}
	exe, _ := os.Executable()
	var ws []*workerProc
	for k := range P {
		cnt := *n / P
		if k < *n%P {
			cnt++
		}
		first := k*(*n/P) + min(k, *n%P)
		cmd := exec.Command(exe, "worker", "-addr", *addr, fmt.Sprintf("-tls=%v", *useTLS),
			"-n", strconv.Itoa(cnt), "-first", strconv.Itoa(first), "-users", strconv.Itoa(*users),
			"-user-fmt", *userFmt, "-password", *password,
			"-src", fmt.Sprintf("127.0.%d.2", 1+k), "-src-n", "200",
			"-rate", fmt.Sprint(*rate/float64(P)), "-inflight", strconv.Itoa(max(1, *inflight/P)),
			"-setup-timeout", setupTimeout.String(), "-max-time", (*setupTimeout + 20*time.Minute).String())
		cmd.Stderr = os.Stderr
		in, _ := cmd.StdinPipe()
		outp, _ := cmd.StdoutPipe()
		if err := cmd.Start(); err != nil {
			die("worker: %v", err)
		}
		sc := bufio.NewScanner(outp)
		sc.Buffer(make([]byte, 1<<20), 64<<20)
		ws = append(ws, &workerProc{cmd: cmd, in: in, out: sc})
	}
	defer func() {
		for _, w := range ws {
			fmt.Fprintln(w.in, "quit")
			w.cmd.Wait()
		}
	}()
	var tFirst, tLast int64
	var lats []int64
	for _, w := range ws {
		f := w.next() // ready ok bad tfirst tlast "err"
		if len(f) < 5 || f[0] != "ready" {
			die("worker: unexpected %q", f)
		}
		ok, _ := strconv.Atoi(f[1])
		bad, _ := strconv.Atoi(f[2])
		t0, _ := strconv.ParseInt(f[3], 10, 64)
		t1, _ := strconv.ParseInt(f[4], 10, 64)
		r.Sessions += ok
		r.Failed += bad
		if bad > 0 && r.FirstErr == "" {
			r.FirstErr = strings.Join(f[5:], " ")
		}
		if tFirst == 0 || t0 < tFirst {
			tFirst = t0
		}
		tLast = max(tLast, t1)
		for _, v := range w.next()[1:] {
			x, _ := strconv.ParseInt(v, 10, 64)
			lats = append(lats, x)
		}
	}
	if tLast > tFirst {
		r.SetupRate = float64(r.Sessions) / (float64(tLast-tFirst) / 1e9)
	}
	r.SetupLat = distOf(lats)
	logf("%d sessions idle, %d failed (%s); setup %.0f/s, latency %v", r.Sessions, r.Failed, r.FirstErr, r.SetupRate, r.SetupLat)
	time.Sleep(*settle)
	r.UserAfter, r.Procs[1] = treePSS(*pid)
	r.MetricsAfter = scrape(*metricsURL)
	r.KernAfter = readKernel()

	// Fan-out: deliver one message to a user whose INBOX the sessions watch.
	msg := func(k int) []byte {
		return fmt.Appendf(nil, "From: bench@localhost\r\nTo: bench@localhost\r\nSubject: fan-out %d\r\nMessage-ID: <fanout-%d-%d@bench>\r\n\r\nHello, watchers.\r\n", k, k, time.Now().UnixNano())
	}
	var appendDone []int64
	// round returns each watcher's delay from the delivery's start and
	// from its commit (the tagged OK or LMTP reply; 0 when the watcher
	// heard first).
	round := func(u int, deliver func(u int) (t0, done int64, err error), doneTimes *[]int64) (fromSend, fromCommit []int64) {
		expected := 0
		for _, w := range ws {
			f := w.ask(fmt.Sprintf("arm %d", u))
			x, _ := strconv.Atoi(f[1])
			expected += x
		}
		srvCPU0, genCPU0 := treeCPU(*pid), workersCPU(ws)
		t0, done, err := deliver(u)
		if err != nil {
			die("delivery to %s: %v", userName(u), err)
		}
		if doneTimes != nil {
			*doneTimes = append(*doneTimes, done-t0)
		}
		deadline := time.Now().Add(60 * time.Second)
		for time.Now().Before(deadline) {
			got := 0
			for _, w := range ws {
				x, _ := strconv.Atoi(w.ask("count")[1])
				got += x
			}
			if got >= expected {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		r.FanCPU.add(mono()-t0, treeCPU(*pid)-srvCPU0, workersCPU(ws)-genCPU0)
		for _, w := range ws {
			for _, v := range w.ask("collect")[1:] {
				x, _ := strconv.ParseInt(v, 10, 64)
				fromSend = append(fromSend, x-t0)
				fromCommit = append(fromCommit, max(0, x-done))
			}
		}
		if len(fromSend) < expected {
			r.MissedRound += expected - len(fromSend)
		}
		r.Watchers = expected
		return fromSend, fromCommit
	}
	var fanA, fanL, fanAC, fanLC []int64
	target := func(k int) int { return k % *users }
	for k := range *rounds {
		u := target(k)
		c, err := dialIMAP(*addr, tlsCfg, userName(u), *password)
		if err != nil {
			die("deliverer: %v", err)
		}
		a, ac := round(u, func(u int) (int64, int64, error) { return c.appendTimed("INBOX", msg(k)) }, &appendDone)
		fanA, fanAC = append(fanA, a...), append(fanAC, ac...)
		c.logout()
		time.Sleep(*gap)
	}
	r.FanAppend, r.FanAppendC = distOf(fanA), distOf(fanAC)
	logf("fan-out APPEND: from send %v, from commit %v (watchers per mailbox %d)", r.FanAppend, r.FanAppendC, r.Watchers)
	if *lmtpAddr != "" {
		for k := range *rounds {
			u := target(k)
			a, ac := round(u, func(u int) (int64, int64, error) {
				return lmtpDeliver(*lmtpAddr, userName(u)+"@localhost", msg(100+k))
			}, nil)
			fanL, fanLC = append(fanL, a...), append(fanLC, ac...)
			time.Sleep(*gap)
		}
		r.FanLMTP, r.FanLMTPC = distOf(fanL), distOf(fanLC)
		logf("fan-out LMTP: from send %v, from commit %v", r.FanLMTP, r.FanLMTPC)
	}
	for _, w := range ws {
		f := w.ask("stats")
		x, _ := strconv.Atoi(f[2])
		r.Lost += x
	}
	r.AppendDone = distOf(appendDone)
	r.Load[1] = loadavg()

	sessions := max(r.Sessions, 1)
	userPer := (r.UserAfter - r.UserBefore) / int64(sessions)
	kernPer := (r.KernAfter.total() - r.KernBefore.total()) / int64(sessions)
	fmt.Printf("idle: server=%s sessions=%d user_bytes_per_session=%d kernel_bytes_per_session=%d fanout_p99_ms=%.2f\n",
		*server, r.Sessions, userPer, kernPer, r.FanAppendC.P99)
	rep := r.report(*n, *users, *useTLS, *rate, args)
	if *detail != "" {
		f, err := os.OpenFile(*detail, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err == nil {
			f.WriteString(rep)
			f.Close()
		}
	}
	fmt.Fprint(os.Stderr, rep)
}

func (r *idleResult) report(n, users int, useTLS bool, rate float64, args []string) string {
	var b strings.Builder
	s := int64(max(r.Sessions, 1))
	kb, ka := r.KernBefore, r.KernAfter
	fmt.Fprintf(&b, "---- idle %s %s\n", time.Now().UTC().Format(time.RFC3339), strings.Join(args, " "))
	fmt.Fprintf(&b, "server=%s tls=%v sessions=%d/%d failed=%d lost=%d users=%d watchers_per_mailbox=%d\n", r.Server, useTLS, r.Sessions, n, r.Failed, r.Lost, users, r.Watchers)
	fmt.Fprintf(&b, "machine load average (1/5/15 min): at start %s, at end %s\n", r.Load[0], r.Load[1])
	if r.FirstErr != "" {
		fmt.Fprintf(&b, "first setup error: %s\n", r.FirstErr)
	}
	fmt.Fprintf(&b, "user PSS: before %d B (%d procs) after %d B (%d procs): %d B/session\n", r.UserBefore, r.Procs[0], r.UserAfter, r.Procs[1], (r.UserAfter-r.UserBefore)/s)
	fmt.Fprintf(&b, "kernel: slab %+d kstack %+d pagetables %+d tcp_mem %+d (tcp inuse %d -> %d): %d B/session (both ends of each loopback connection)\n",
		ka.Slab-kb.Slab, ka.KernelStack-kb.KernelStack, ka.PageTables-kb.PageTables, ka.TCPMem-kb.TCPMem, kb.TCPInuse, ka.TCPInuse, (ka.total()-kb.total())/s)
	if r.MetricsAfter != nil {
		for _, k := range []string{"go_goroutines", "go_memstats_heap_inuse_bytes", "go_memstats_heap_alloc_bytes", "go_memstats_stack_inuse_bytes", "go_memstats_sys_bytes", `myriad_sessions{state="idle"}`} {
			a, b0 := r.MetricsAfter[k], r.MetricsBefore[k]
			fmt.Fprintf(&b, "metrics: %s before %.0f after %.0f (%+.1f per session)\n", k, b0, a, (a-b0)/float64(s))
		}
	}
	fmt.Fprintf(&b, "setup: offered %.0f/s achieved %.1f/s latency %v\n", rate, r.SetupRate, r.SetupLat)
	fmt.Fprintf(&b, "fan-out APPEND, from its tagged OK to each watcher's EXISTS (0 if before): %v\n", r.FanAppendC)
	fmt.Fprintf(&b, "fan-out APPEND, from sending it to each watcher's EXISTS: %v; the APPEND's tagged OK came after %v\n", r.FanAppend, r.AppendDone)
	if r.FanLMTP.N > 0 {
		fmt.Fprintf(&b, "fan-out LMTP, from the 250 reply to each watcher's EXISTS (0 if before): %v\n", r.FanLMTPC)
		fmt.Fprintf(&b, "fan-out LMTP, from the end of DATA to each watcher's EXISTS: %v\n", r.FanLMTP)
	}
	if r.FanCPU.rounds > 0 {
		fmt.Fprintf(&b, "fan-out CPU per delivery (mean of %d, from the delivery to the last arrival): wall %.0f ms, server %.0f ms, load generator %.0f ms\n",
			r.FanCPU.rounds, r.FanCPU.perRound(r.FanCPU.wall), r.FanCPU.perRound(r.FanCPU.server), r.FanCPU.perRound(r.FanCPU.gen))
	}
	if r.MissedRound > 0 {
		fmt.Fprintf(&b, "MISSED: %d watcher notifications did not arrive within 60 s\n", r.MissedRound)
	}
	return b.String()
}
