package storage

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/myriad-mail/myriad/statemachine"
	"github.com/myriad-mail/myriad/statemachine/imapmime"
)

// The process crash test: the test binary re-executes itself as a child
// (crashChildEnv names the store's directory) that runs the store on the
// real file system with fsync=always, several sessions changing two
// mailboxes at once, and writes one line per acknowledged change to a pipe
// (fd 3) only after the call returned. The parent SIGKILLs it at a random
// moment, reopens the store and checks every acknowledged change.
//
// Lines (flags as lower-case names joined by ',', "." for none):
//
//	I <sess> <op> ...   intent, written before the call
//	K <sess> <op> ...   acknowledgement, written after it returned
//	ops: A <box> <uid> <flags>             (intent: A <box> 0 <flags>)
//	     S <box> <uid> <flags>             (the message's flags after the STORE)
//	     X <box> <uid>                     (expunged)
//	     C|M <box> <uid> <dst> <dstuid> <flags>  (intent: dstuid 0)
//
// A SIGKILL does not lose what is in the page cache, so on a real file
// system this test cannot see a missing fsync (TestCrash and
// TestCrashCanary, on MemFS, do). Its canary is a child that acknowledges
// before it calls the store (crashPlantEnv=ack).
const (
	crashChildEnv = "STORAGE_CRASH_CHILD"
	crashSeedEnv  = "STORAGE_CRASH_SEED"
	crashPlantEnv = "STORAGE_CRASH_PLANT"
	// CrashCyclesEnv sets the number of kill cycles of TestCrashProcess
	// (default 100; make crash-long sets 10000).
	crashCyclesEnv = "STORAGE_CRASH_CYCLES"
)

var crashProcBoxes = []string{"INBOX", "Archive"}

const crashSessions = 4

// plantDelay is how long the planted bug's write waits after its
// acknowledgement went out, like a write queued behind the OK. (Without a
// delay the window is the few microseconds before the log write(2): a
// SIGKILL does not lose the page cache, so the write survives once made.)
const plantDelay = 5 * time.Millisecond

func flagTok(names string) string {
	if names == "" {
		return "."
	}
	return strings.ReplaceAll(names, " ", ",")
}

func tokFlags(tok string) string {
	if tok == "." {
		return ""
	}
	return strings.ReplaceAll(tok, ",", " ")
}

func TestMain(m *testing.M) {
	if dir := os.Getenv(crashChildEnv); dir != "" {
		crashChild(dir)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// crashChild runs sessions on the store in dir until it is killed.
func crashChild(dir string) {
	seed, _ := strconv.ParseUint(os.Getenv(crashSeedEnv), 10, 64)
	plant := os.Getenv(crashPlantEnv) == "ack"
	side := os.NewFile(3, "side")
	var outMu sync.Mutex
	emit := func(s string) {
		outMu.Lock()
		side.Write([]byte(s + "\n")) // one write(2) per line: atomic on a pipe
		outMu.Unlock()
	}
	die := func(f string, a ...any) {
		emit("E " + fmt.Sprintf(f, a...))
		os.Exit(2)
	}
	// A safety net in case the parent never kills.
	time.AfterFunc(30*time.Second, func() { os.Exit(3) })
	s, err := Open(Config{Dir: dir, Logger: quietLog, LogRotateBytes: 4096})
	if err != nil {
		die("open: %v", err)
	}
	ac, err := s.Login("alice", "pw")
	if err != nil {
		die("login: %v", err)
	}
	mboxes := map[string]*statemachine.Mailbox{}
	type owned struct {
		box   string
		uid   statemachine.UID
		flags string
	}
	mine := make([][]owned, crashSessions)
	for _, b := range crashProcBoxes {
		if mboxes[b], err = ac.Open(b); err != nil {
			die("open %s: %v", b, err)
		}
		snap := mboxes[b].Current()
		for _, m := range snap.Messages() {
			g := int(m.UID) % crashSessions
			mine[g] = append(mine[g], owned{b, m.UID, flagNames(m.Flags, snap.Keywords)})
		}
	}
	emit("R")
	var wg sync.WaitGroup
	for g := range crashSessions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(seed, uint64(g)))
			my := mine[g]
			n := 0
			for {
				n++
				op := rng.IntN(10)
				if len(my) == 0 || (op < 3 && len(my) < 30) {
					b := crashProcBoxes[rng.IntN(2)]
					flags := randomFlags(rng)
					fl := namesOf(flags)
					emit(fmt.Sprintf("I %d A %s 0 %s", g, b, flagTok(fl)))
					body := fmt.Sprintf("Subject: %d/%d/%d\r\n\r\n%s\r\n", seed, g, n, strings.Repeat("y", rng.IntN(500)))
					r, err := ac.Append(b, flags, int64(n), []byte(body))
					if err != nil {
						die("append: %v", err)
					}
					emit(fmt.Sprintf("K %d A %s %d %s", g, b, r.UID, flagTok(fl)))
					my = append(my, owned{b, r.UID, fl})
					continue
				}
				i := rng.IntN(len(my))
				m := my[i]
				st := mboxes[m.box].Store
				if rng.IntN(4) == 0 { // FETCH BODYSTRUCTURE: fills the MIME cache
					if v := structureMismatch(st, m.uid); v != "" {
						die("%s %d: %s", m.box, m.uid, v)
					}
				}
				switch {
				case op < 6: // STORE +FLAGS, -FLAGS or FLAGS
					fop := statemachine.FlagOp(rng.IntN(3))
					flags := randomFlags(rng)
					nf := applyOp(m.flags, fop, flags)
					line := fmt.Sprintf("%d S %s %d %s", g, m.box, m.uid, flagTok(nf))
					emit("I " + line)
					if plant {
						emit("K " + line)
						time.Sleep(plantDelay) // the write, queued
					}
					if _, err := st.Store([]statemachine.UID{m.uid}, fop, flags, 0); err != nil {
						die("store: %v", err)
					}
					if !plant {
						emit("K " + line)
					}
					my[i].flags = nf
				case op < 8: // EXPUNGE
					line := fmt.Sprintf("%d X %s %d", g, m.box, m.uid)
					emit("I " + line)
					if plant {
						emit("K " + line)
						time.Sleep(plantDelay) // the write, queued
					}
					if err := st.Expunge([]statemachine.UID{m.uid}); err != nil {
						die("expunge: %v", err)
					}
					if !plant {
						emit("K " + line)
					}
					my = slices.Delete(my, i, i+1)
				default: // COPY or MOVE to the other mailbox
					c := "C"
					if op == 9 {
						c = "M"
					}
					dst := crashProcBoxes[1-slices.Index(crashProcBoxes, m.box)]
					emit(fmt.Sprintf("I %d %s %s %d %s 0 %s", g, c, m.box, m.uid, dst, flagTok(m.flags)))
					var r statemachine.CopyResult
					var err error
					if c == "M" {
						r, err = st.Move([]statemachine.UID{m.uid}, dst)
					} else {
						r, err = st.Copy([]statemachine.UID{m.uid}, dst)
					}
					if err != nil || len(r.Dest) != 1 {
						die("%s: %v %v", c, err, r)
					}
					emit(fmt.Sprintf("K %d %s %s %d %s %d %s", g, c, m.box, m.uid, dst, r.Dest[0], flagTok(m.flags)))
					if c == "M" {
						my = slices.Delete(my, i, i+1)
					}
					my = append(my, owned{dst, r.Dest[0], m.flags})
				}
			}
		}()
	}
	wg.Wait()
}

// procModel is what the parent knows about one mailbox.
type procModel struct {
	acked    map[statemachine.UID]string // uid → flags acknowledged (or found after a kill)
	expunged map[statemachine.UID]bool   // acknowledged as expunged or moved away
}

// crashProcess runs cycles kill cycles on a fresh directory and returns the
// first violation ("" if none) and the number of cycles run.
func crashProcess(t *testing.T, cycles int, seed uint64, plant bool) (string, int) {
	dir := t.TempDir()
	if err := os.WriteFile(dir+"/users", []byte("alice:{PLAIN}pw\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(seed, 7))
	model := map[string]*procModel{}
	for _, b := range crashProcBoxes {
		model[b] = &procModel{acked: map[statemachine.UID]string{}, expunged: map[statemachine.UID]bool{}}
	}
	// Create the mailboxes before the first child.
	if v := crashCheck(dir, model, nil, true); v != "" {
		return "setup: " + v, 0
	}
	for cycle := range cycles {
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashProcess$")
		cmd.Env = append(os.Environ(), crashChildEnv+"="+dir, crashSeedEnv+"="+strconv.FormatUint(seed*100000+uint64(cycle), 10))
		if plant {
			cmd.Env = append(cmd.Env, crashPlantEnv+"=ack")
		}
		cmd.ExtraFiles = []*os.File{w}
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		w.Close()
		// Kill at a random moment: mostly while sessions run, sometimes
		// before the child is ready (during its recovery), sometimes right
		// as the k-th acknowledged STORE or EXPUNGE arrives.
		var delay time.Duration
		mode := rng.IntN(8)
		early := mode == 0
		atAck := -1
		switch {
		case early:
			delay = time.Duration(rng.IntN(40)) * time.Millisecond
		case mode < 5:
			delay = time.Duration(1+rng.IntN(60)) * time.Millisecond
		default:
			atAck = 1 + rng.IntN(30)
		}
		lines := make(chan string, 1024)
		go func() {
			sc := bufio.NewScanner(r)
			for sc.Scan() {
				lines <- sc.Text()
			}
			close(lines)
		}()
		var all []string
		var timer <-chan time.Time
		if early {
			timer = time.After(delay)
		}
		killed := false
	read:
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					break read
				}
				all = append(all, l)
				if l == "R" && !early && atAck < 0 {
					timer = time.After(delay)
				}
				if f := strings.Fields(l); len(f) > 2 && f[0] == "K" && (f[2] == "S" || f[2] == "X") && !killed {
					if atAck--; atAck == 0 {
						cmd.Process.Signal(syscall.SIGKILL)
						killed = true
					}
				}
			case <-timer:
				cmd.Process.Signal(syscall.SIGKILL)
				killed = true
				timer = nil
			case <-time.After(20 * time.Second):
				cmd.Process.Signal(syscall.SIGKILL)
				return fmt.Sprintf("cycle %d: child neither became ready nor died", cycle), cycle
			}
		}
		cmd.Wait()
		r.Close()
		for _, l := range all {
			if strings.HasPrefix(l, "E ") {
				return fmt.Sprintf("cycle %d: child failed: %s", cycle, l[2:]), cycle
			}
		}
		if !killed {
			return fmt.Sprintf("cycle %d: child exited by itself: %v", cycle, cmd.ProcessState), cycle
		}
		if v := crashCheck(dir, model, all, false); v != "" {
			return fmt.Sprintf("cycle %d (seed %d, %d lines): %s", cycle, seed, len(all), v), cycle + 1
		}
	}
	return "", cycles
}

// crashCheck applies the acknowledged changes in lines to the model, opens
// the store, checks it against the model and makes what it found the model.
func crashCheck(dir string, model map[string]*procModel, lines []string, setup bool) string {
	type pend struct {
		op       string
		box, dst string
		uid      statemachine.UID
		flags    string
	}
	pending := map[string]pend{} // session → intent not acknowledged
	newAllowed := map[string]int{}
	for _, l := range lines {
		f := strings.Fields(l)
		if len(f) < 5 || (f[0] != "I" && f[0] != "K") {
			continue
		}
		u, _ := strconv.ParseUint(f[4], 10, 32)
		p := pend{op: f[2], box: f[3], uid: statemachine.UID(u)}
		switch p.op {
		case "A", "S":
			p.flags = tokFlags(f[5])
		case "C", "M":
			p.dst = f[5]
			p.flags = tokFlags(f[7])
		}
		if f[0] == "I" {
			pending[f[1]] = p
			continue
		}
		delete(pending, f[1])
		m := model[p.box]
		switch p.op {
		case "A":
			m.acked[p.uid] = p.flags
		case "S":
			m.acked[p.uid] = p.flags
		case "X":
			delete(m.acked, p.uid)
			m.expunged[p.uid] = true
		case "C", "M":
			du, _ := strconv.ParseUint(f[6], 10, 32)
			model[p.dst].acked[statemachine.UID(du)] = p.flags
			if p.op == "M" {
				delete(m.acked, p.uid)
				m.expunged[p.uid] = true
			}
		}
	}
	unsure := map[string]map[statemachine.UID][]string{}
	for _, p := range pending {
		switch p.op {
		case "A":
			newAllowed[p.box]++
		case "C", "M":
			newAllowed[p.dst]++
		}
		alt := ""
		switch p.op {
		case "S":
			alt = p.flags
		case "X", "M":
			alt = "-"
		default:
			continue
		}
		if unsure[p.box] == nil {
			unsure[p.box] = map[statemachine.UID][]string{}
		}
		unsure[p.box][p.uid] = append(unsure[p.box][p.uid], alt)
	}
	s, err := Open(Config{Dir: dir, Logger: quietLog, LogRotateBytes: 4096})
	if err != nil {
		return "reopen: " + err.Error()
	}
	defer s.Close()
	ac, err := s.Login("alice", "pw")
	if err != nil {
		return "login: " + err.Error()
	}
	if setup {
		if err := ac.CreateMailbox("Archive", 0); err != nil && !errors.Is(err, statemachine.ErrMailboxExists) {
			return err.Error()
		}
	}
	if setup {
		// Messages for the sessions to own from the first cycle on.
		for i := range 2 * 8 * crashSessions {
			b := crashProcBoxes[i%2]
			flags := crashSystem[i%len(crashSystem) : i%len(crashSystem)+1]
			r, err := ac.Append(b, flags, int64(i), []byte(fmt.Sprintf("Subject: setup %d\r\n\r\nx\r\n", i)))
			if err != nil {
				return err.Error()
			}
			model[b].acked[r.UID] = namesOf(flags)
		}
	}
	for _, b := range crashProcBoxes {
		mbox, err := ac.Open(b)
		if err != nil {
			return fmt.Sprintf("open %s: %v", b, err)
		}
		m := model[b]
		snap := mbox.Current()
		got := map[statemachine.UID]string{}
		for _, msg := range snap.Messages() {
			got[msg.UID] = flagNames(msg.Flags, snap.Keywords)
		}
		for u, want := range m.acked {
			g, ok := got[u]
			if !ok {
				g = "-"
			}
			if g == want || slices.Contains(unsure[b][u], g) {
				continue
			}
			if g == "-" {
				return fmt.Sprintf("%s: acknowledged uid %d (%q) is missing", b, u, want)
			}
			return fmt.Sprintf("%s: acknowledged uid %d has %q, want %q (in flight: %q)", b, u, g, want, unsure[b][u])
		}
		extra := 0
		for u, g := range got {
			if m.expunged[u] {
				return fmt.Sprintf("%s: uid %d acknowledged as expunged is back (%q)", b, u, g)
			}
			if _, ok := m.acked[u]; !ok {
				extra++
			}
		}
		if extra > newAllowed[b] {
			return fmt.Sprintf("%s: %d unacknowledged new messages, only %d in flight", b, extra, newAllowed[b])
		}
		for u := range got {
			body, err := mbox.Store.Message(u)
			if err != nil || !strings.HasPrefix(string(body), "Subject: ") {
				return fmt.Sprintf("%s: message %d unreadable: %v", b, u, err)
			}
			if v := structureMismatch(mbox.Store, u); v != "" {
				return fmt.Sprintf("%s: message %d: %s", b, u, v)
			}
		}
		m.acked = got
		ac.Release(mbox)
	}
	return ""
}

// TestCrashProcess: SIGKILL a child process running the store on the real
// file system at random moments (STORAGE_CRASH_CYCLES, default 100, -short
// 20) and check every acknowledged change after each kill.
func TestCrashProcess(t *testing.T) {
	cycles := 100
	if testing.Short() {
		cycles = 20
	}
	if v := os.Getenv(crashCyclesEnv); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			t.Fatalf("%s=%q", crashCyclesEnv, v)
		}
		cycles = n
	}
	seed := uint64(time.Now().UnixNano())
	start := time.Now()
	v, n := crashProcess(t, cycles, seed, false)
	if v != "" {
		t.Fatal(v)
	}
	t.Logf("%d kill cycles in %v", n, time.Since(start).Round(time.Millisecond))
}

// TestCrashProcessCanary plants an "acknowledge before the write" bug in the
// child and checks that the process crash test catches it: proof that it
// can fail.
func TestCrashProcessCanary(t *testing.T) {
	v, n := crashProcess(t, 100, uint64(time.Now().UnixNano()), true)
	if v == "" {
		t.Fatalf("100 kill cycles did not catch an acknowledgement sent before the write")
	}
	t.Logf("caught after %d cycles: %s", n, v)
}

// structureMismatch checks the MIME cache's answer for uid against a parse.
func structureMismatch(st statemachine.MailboxStore, uid statemachine.UID) string {
	raw, p, err := st.(statemachine.StructureCache).MessageStructure(uid)
	if err != nil {
		return "MessageStructure: " + err.Error()
	}
	if !bytes.Equal(imapmime.AppendPart(nil, p), imapmime.AppendPart(nil, imapmime.Parse(raw))) {
		return "MIME cache structure differs from imapmime.Parse"
	}
	return ""
}
