package statemachine_test

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"testing"
	"time"

	sm "github.com/myriad-mail/myriad/statemachine"
	"github.com/myriad-mail/myriad/statemachine/memstore"
)

// selectedSession returns a session logged in as alice with INBOX selected,
// holding n messages.
func selectedSession(t testing.TB, be *memstore.Backend, n int) *sm.Session {
	cfg := sm.NewConfig()
	cfg.AllowPlaintextAuth = true
	cfg.Init()
	s := sm.NewSession(cfg, be, nil, false)
	s.Start(0, nil)
	out, _ := s.Receive(0, []byte("a LOGIN alice secret\r\n"), nil)
	for i := 0; i < n; i++ {
		msg := fmt.Sprintf("Subject: %d\r\n\r\nbody\r\n", i)
		out, _ = s.Receive(0, []byte(fmt.Sprintf("b APPEND INBOX {%d+}\r\n%s\r\n", len(msg), msg)), out[:0])
	}
	out, _ = s.Receive(0, []byte("c SELECT INBOX\r\n"), out[:0])
	if s.State() != sm.StateSelected {
		t.Fatalf("select failed: %s", out)
	}
	return s
}

// TestSteadyStateAllocs: the commands a resting client repeats all day
// allocate nothing per command once the session is warm (DESIGN.md,
// "allocation-light").
func TestSteadyStateAllocs(t *testing.T) {
	be := memstore.New()
	be.AddUser("alice", "secret")
	s := selectedSession(t, be, 3)
	out := make([]byte, 0, 4096)
	cases := []struct {
		name string
		in   [][]byte
	}{
		{"NOOP", [][]byte{[]byte("n NOOP\r\n")}},
		{"IDLE...DONE", [][]byte{[]byte("i IDLE\r\n"), []byte("DONE\r\n")}},
		{"FETCH n (FLAGS)", [][]byte{[]byte("f FETCH 2 (FLAGS)\r\n")}},
		{"UID FETCH n (FLAGS)", [][]byte{[]byte("u UID FETCH 2 (FLAGS)\r\n")}},
		{`STORE n +FLAGS.SILENT (\Seen)`, [][]byte{[]byte("s STORE 2 +FLAGS.SILENT (\\Seen)\r\n")}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			step := func() {
				for _, in := range c.in {
					out, _ = s.Receive(0, in, out[:0])
				}
			}
			step() // warm up: the first STORE really sets \Seen
			if got := string(out); len(got) == 0 || got[len(got)-2:] != "\r\n" {
				t.Fatalf("unexpected output %q", got)
			}
			allocs := testing.AllocsPerRun(200, step)
			if allocs != 0 {
				t.Errorf("%s: %.1f allocations per command, want 0 (last output %q)", c.name, allocs, out)
			}
		})
	}
}

type countingWaker struct{ n int }

func (w *countingWaker) Wake() { w.n++ }

// TestHoldSessions holds many sessions in one process, each logged in with
// INBOX selected and in IDLE, and reports heap bytes per session and the time
// to deliver one message and wake (and step) every session watching that
// mailbox. make bench-sessions N=1000000 [USERS=1] runs it at scale
// (MYRIAD_SESSIONS, MYRIAD_USERS; users default to N/10, at most 1,000,000);
// by default it holds 20,000 so that `make test` stays fast.
func TestHoldSessions(t *testing.T) {
	n := 20000
	if v := os.Getenv("MYRIAD_SESSIONS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil {
			t.Fatal(err)
		}
	}
	users := n / 10
	if users > 1000000 {
		users = 1000000
	}
	if v := os.Getenv("MYRIAD_USERS"); v != "" {
		// MYRIAD_USERS=1 puts every session on one mailbox: the fan-out
		// worst case.
		var err error
		if users, err = strconv.Atoi(v); err != nil {
			t.Fatal(err)
		}
	}
	if users < 1 {
		users = 1
	}
	be := memstore.New()
	names := make([]string, users)
	for i := range names {
		names[i] = "u" + strconv.Itoa(i)
		be.AddUser(names[i], "pw")
	}
	cfg := sm.NewConfig()
	cfg.AllowPlaintextAuth = true
	cfg.Init()
	login := make([][]byte, users)
	for i := range login {
		login[i] = []byte("a LOGIN " + names[i] + " pw\r\n")
	}
	sel := []byte("b SELECT INBOX\r\n")
	idle := []byte("c IDLE\r\n")
	out := make([]byte, 0, 4096)

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	sessions := make([]*sm.Session, n)
	wakers := make([]countingWaker, n)
	for i := range sessions {
		s := sm.NewSession(cfg, be, &wakers[i], false)
		out = s.Start(0, out[:0])
		out, _ = s.Receive(0, login[i%users], out[:0])
		out, _ = s.Receive(0, sel, out[:0])
		out, _ = s.Receive(0, idle, out[:0])
		if !s.Idling() {
			t.Fatalf("session %d not idling: %q", i, out)
		}
		sessions[i] = s
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	perSession := float64(after.HeapAlloc-before.HeapAlloc) / float64(n)

	// Wake every session watching one mailbox: deliver a message to u0's
	// INBOX and step the woken sessions as the I/O layer would.
	acct, err := be.Login(names[0], "pw")
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, err := acct.Append("INBOX", nil, 0, []byte("Subject: x\r\n\r\ny\r\n")); err != nil {
		t.Fatal(err)
	}
	woken, recent := 0, 0
	for i := 0; i < n; i += users {
		if wakers[i].n > 0 {
			out, _ = sessions[i].Wake(0, out[:0])
			switch string(out) {
			case "* 1 EXISTS\r\n* 1 RECENT\r\n":
				recent++ // the first session told claims \Recent
			case "* 1 EXISTS\r\n* 0 RECENT\r\n":
			default:
				t.Fatalf("session %d: woken output %q", i, out)
			}
			woken++
		}
	}
	if recent != 1 {
		t.Fatalf("%d sessions saw the new message as recent, want 1", recent)
	}
	wakeAll := time.Since(start)
	if want := (n + users - 1) / users; woken != want {
		t.Fatalf("woke %d sessions, want %d", woken, want)
	}
	fmt.Printf("sessions: %d heap_bytes_per_session: %.0f wake_all_ms: %.3f watchers: %d\n", n, perSession, float64(wakeAll.Microseconds())/1000, woken)
	if perSession > 1024 {
		t.Errorf("heap per idle session %.0f B, budget 1024 B", perSession)
	}
	runtime.KeepAlive(sessions)
	runtime.KeepAlive(wakers)
}

// TestOnCommand: the metrics hook sees every completed command once, with
// its result, including IDLE and AUTHENTICATE whose tagged response comes in
// a later step.
func TestOnCommand(t *testing.T) {
	be := memstore.New()
	be.AddUser("alice", "secret")
	cfg := sm.NewConfig()
	cfg.AllowPlaintextAuth = true
	var got []string
	cfg.OnCommand = func(b sm.Backend, name sm.CommandName, uid bool, r sm.Result) {
		if b != sm.Backend(be) {
			t.Errorf("OnCommand got Backend %v, want the session's", b)
		}
		u := ""
		if uid {
			u = "UID "
		}
		got = append(got, u+name.String()+" "+r.String())
	}
	cfg.Init()
	s := sm.NewSession(cfg, be, nil, false)
	for _, in := range []string{
		"a LOGIN alice wrong\r\n", "b AUTHENTICATE PLAIN\r\n", "AGFsaWNlAHNlY3JldA==\r\n",
		"c SELECT INBOX\r\n", "d IDLE\r\n", "DONE\r\n", "e UID FETCH 1:* FLAGS\r\n",
		"f FROB\r\n", "g FETCH 5 FLAGS\r\n",
	} {
		s.Receive(0, []byte(in), nil)
	}
	want := []string{"LOGIN NO", "AUTHENTICATE OK", "SELECT OK", "IDLE OK", "UID FETCH OK", "UNKNOWN BAD", "FETCH BAD"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("OnCommand saw %v, want %v", got, want)
	}
}

// TestMaxStepOutput: pipelined commands stop being answered once a step's
// output passes Config.MaxStepOutput; the rest are kept and answered, in
// order, by the next steps with no new input (EffMoreInput), so a client
// that does not read cannot make one step queue unbounded output.
func TestMaxStepOutput(t *testing.T) {
	be := memstore.New()
	be.AddUser("alice", "secret")
	cfg := sm.NewConfig()
	cfg.AllowPlaintextAuth = true
	cfg.MaxStepOutput = 100
	cfg.Init()
	s := sm.NewSession(cfg, be, nil, false)
	s.Receive(0, []byte("a LOGIN alice secret\r\n"), nil)
	var in []byte
	for i := 0; i < 10; i++ {
		in = fmt.Appendf(in, "n%d NAMESPACE\r\n", i)
	}
	var all []byte
	out, eff := s.Receive(0, in, nil)
	steps := 1
	all = append(all, out...)
	for eff&sm.EffMoreInput != 0 {
		if len(out) > 100+64 {
			t.Fatalf("step %d wrote %d bytes, limit 100 plus one response", steps, len(out))
		}
		out, eff = s.Receive(0, nil, nil)
		all = append(all, out...)
		steps++
	}
	var want []byte
	for i := 0; i < 10; i++ {
		want = fmt.Appendf(want, "* NAMESPACE ((\"\" \"/\")) NIL NIL\r\nn%d OK NAMESPACE completed\r\n", i)
	}
	if string(all) != string(want) {
		t.Fatalf("answers:\n%s\nwant:\n%s", all, want)
	}
	if steps < 4 {
		t.Fatalf("answered in %d steps; the limit should have split them", steps)
	}
}
