package statemachine_test

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	sm "github.com/myriad-mail/myriad/statemachine"
	"github.com/myriad-mail/myriad/statemachine/memstore"
	"pgregory.net/rapid"
)

// recentClient is one session of the \Recent tests and what its client has
// been told.
// fataler is what the helpers need of *testing.T and *rapid.T.
type fataler interface {
	Fatalf(format string, args ...any)
	Helper()
}

type recentClient struct {
	name     string
	s        *sm.Session
	woken    atomic.Bool
	idle     bool
	readOnly bool
	rev2     bool
	ntag     int
	// lastRecent is the count of the last RECENT response, -1 if none.
	lastRecent int
}

func (c *recentClient) Wake() { c.woken.Store(true) }

// note records the RECENT responses among out's lines.
func (c *recentClient) note(t fataler, out []byte) []string {
	var ls []string
	for _, l := range strings.Split(strings.TrimSuffix(string(out), "\r\n"), "\r\n") {
		if l == "" {
			continue
		}
		ls = append(ls, l)
		if f := strings.Fields(l); len(f) == 3 && f[0] == "*" && f[2] == "RECENT" {
			if c.rev2 {
				t.Fatalf("session %s (IMAP4rev2) got %q", c.name, l)
			}
			n, _ := strconv.Atoi(f[1])
			c.lastRecent = n
		}
		if c.rev2 && strings.Contains(l, `\Recent`) {
			t.Fatalf("session %s (IMAP4rev2) got %q", c.name, l)
		}
	}
	return ls
}

func (c *recentClient) run(t fataler, cmd string) []string {
	c.ntag++
	tag := fmt.Sprintf("%s%d", c.name, c.ntag)
	out, _ := c.s.Receive(0, []byte(tag+" "+cmd+"\r\n"), nil)
	ls := c.note(t, out)
	if len(ls) == 0 || !strings.HasPrefix(ls[len(ls)-1], tag+" OK") {
		t.Fatalf("session %s, %q:\n%s", c.name, cmd, strings.Join(ls, "\n"))
	}
	return ls
}

// wake steps a woken session as the I/O layer would.
func (c *recentClient) wake(t fataler) {
	if c.woken.Swap(false) {
		out, _ := c.s.Wake(0, nil)
		c.note(t, out)
	}
}

// recentUIDs returns the UIDs UID SEARCH RECENT names and checks that they
// are exactly the messages FETCH FLAGS shows with \Recent, that OLD is the
// rest, and that their count is the last RECENT count.
func (c *recentClient) recentUIDs(t fataler) map[uint32]bool {
	set := func(ls []string) map[uint32]bool {
		m := map[uint32]bool{}
		for _, l := range ls {
			if rest, ok := strings.CutPrefix(l, "* SEARCH"); ok {
				for _, f := range strings.Fields(rest) {
					u, _ := strconv.Atoi(f)
					m[uint32(u)] = true
				}
			}
		}
		return m
	}
	c.run(t, "NOOP") // learn of everything first: RECENT goes with EXISTS
	if c.rev2 {
		// IMAP4rev2 answers SEARCH with ESEARCH; note fails on any \Recent.
		c.run(t, "UID FETCH 1:* (FLAGS)")
		return nil
	}
	recent := set(c.run(t, "UID SEARCH RECENT"))
	old := set(c.run(t, "UID SEARCH OLD"))
	flagged := map[uint32]bool{}
	all := 0
	for _, l := range c.run(t, "UID FETCH 1:* (FLAGS)") {
		if !strings.HasPrefix(l, "* ") || !strings.Contains(l, " FETCH (") {
			continue
		}
		all++
		i := strings.Index(l, "UID ")
		u, _ := strconv.Atoi(strings.Fields(l[i+4:])[0])
		if strings.Contains(l, `\Recent`) {
			flagged[uint32(u)] = true
		}
	}
	if fmt.Sprint(recent) != fmt.Sprint(flagged) {
		t.Fatalf("session %s: SEARCH RECENT %v, FETCH FLAGS \\Recent %v", c.name, recent, flagged)
	}
	if len(recent)+len(old) != all {
		t.Fatalf("session %s: %d RECENT + %d OLD != %d messages", c.name, len(recent), len(old), all)
	}
	if !c.rev2 && c.lastRecent != len(recent) {
		t.Fatalf("session %s: last RECENT response %d, %d messages \\Recent", c.name, c.lastRecent, len(recent))
	}
	return recent
}

func newRecentWorld() (*memstore.Backend, *sm.Config, sm.Account) {
	be := memstore.New()
	be.AddUser("alice", "secret")
	cfg := sm.NewConfig()
	cfg.AllowPlaintextAuth = true
	cfg.Init()
	acct, _ := be.Login("alice", "secret")
	return be, cfg, acct
}

// TestRecentProperty: with random interleavings of deliveries, NOOP, IDLE,
// re-SELECT and EXAMINE over 2-5 sessions, a message is \Recent in at most
// one read-write session; each session's SEARCH RECENT, FETCH FLAGS and last
// RECENT response agree; while no read-write session left the mailbox,
// every message is recent in exactly one of them or still unclaimed (STATUS
// RECENT); IMAP4rev2 sessions never see \Recent.
func TestRecentProperty(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		be, cfg, acct := newRecentWorld()
		for i := 0; i < rapid.IntRange(0, 4).Draw(rt, "initial"); i++ {
			acct.Append("INBOX", nil, 0, []byte("Subject: pre\r\n\r\nx\r\n"))
		}
		n := rapid.IntRange(2, 5).Draw(rt, "sessions")
		var cs []*recentClient
		left := false
		for i := 0; i < n; i++ {
			c := &recentClient{name: string(rune('A' + i)), lastRecent: -1}
			c.readOnly = rapid.IntRange(0, 3).Draw(rt, "examine") == 0
			c.rev2 = rapid.IntRange(0, 3).Draw(rt, "rev2") == 0
			c.s = sm.NewSession(cfg, be, c, false)
			c.s.Start(0, nil)
			c.run(rt, "LOGIN alice secret")
			if c.rev2 {
				c.run(rt, "ENABLE IMAP4rev2")
			}
			cs = append(cs, c)
		}
		selectCmd := func(c *recentClient) string {
			if c.readOnly {
				return "EXAMINE INBOX"
			}
			return "SELECT INBOX"
		}
		// Sessions select one by one, in a random order with deliveries
		// in between, like the rest of the run.
		for _, i := range rapid.Permutation([]int{0, 1, 2, 3, 4}[:n]).Draw(rt, "order") {
			cs[i].run(rt, selectCmd(cs[i]))
		}
		steps := rapid.IntRange(1, 50).Draw(rt, "steps")
		for step := 0; step < steps; step++ {
			c := cs[rapid.IntRange(0, n-1).Draw(rt, "who")]
			if c.idle {
				out, _ := c.s.Receive(0, []byte("DONE\r\n"), nil)
				c.note(rt, out)
				c.idle = false
				continue
			}
			switch rapid.IntRange(0, 5).Draw(rt, "op") {
			case 0, 1:
				if _, err := acct.Append("INBOX", nil, 0, []byte("Subject: new\r\n\r\nx\r\n")); err != nil {
					rt.Fatal(err)
				}
			case 2:
				c.run(rt, "NOOP")
			case 3:
				c.ntag++
				out, _ := c.s.Receive(0, []byte(fmt.Sprintf("%s%d IDLE\r\n", c.name, c.ntag)), nil)
				c.note(rt, out)
				c.idle = true
			case 4:
				c.run(rt, "UID FETCH 1:* (FLAGS)")
			case 5:
				if !c.readOnly && !c.rev2 {
					left = true
				}
				c.lastRecent = -1
				c.run(rt, selectCmd(c))
			}
			for _, o := range cs {
				o.wake(rt)
			}
		}
		owner := map[uint32]string{}
		for _, c := range cs {
			if c.idle {
				out, _ := c.s.Receive(0, []byte("DONE\r\n"), nil)
				c.note(rt, out)
				c.idle = false
			}
			rec := c.recentUIDs(rt)
			if c.rev2 && len(rec) > 0 {
				rt.Fatalf("session %s (IMAP4rev2): recent %v", c.name, rec)
			}
			if c.readOnly || c.rev2 {
				continue
			}
			for u := range rec {
				if o, ok := owner[u]; ok {
					rt.Fatalf("UID %d is \\Recent in sessions %s and %s", u, o, c.name)
				}
				owner[u] = c.name
			}
		}
		st, _ := acct.Status("INBOX")
		mb, _ := acct.Open("INBOX")
		unclaimed := int(mb.RecentCount())
		acct.Release(mb)
		if !left && len(owner)+unclaimed != int(st.Messages) {
			rt.Fatalf("%d messages: %d recent in read-write sessions, %d unclaimed", st.Messages, len(owner), unclaimed)
		}
	})
}

// TestRecentConcurrent: sessions stepped on their own goroutines (as netio
// workers do) while messages arrive: every message is \Recent in exactly one
// session. Run with -race.
func TestRecentConcurrent(t *testing.T) {
	be, cfg, acct := newRecentWorld()
	const sessions, msgs = 8, 200
	cs := make([]*recentClient, sessions)
	for i := range cs {
		c := &recentClient{name: string(rune('A' + i)), lastRecent: -1}
		c.s = sm.NewSession(cfg, be, c, false)
		c.s.Start(0, nil)
		c.run(t, "LOGIN alice secret")
		c.run(t, "SELECT INBOX")
		cs[i] = c
	}
	var stop atomic.Bool
	var wg sync.WaitGroup
	for i, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			idle := i%2 == 0 // half in IDLE (woken), half polling with NOOP
			if idle {
				c.ntag++
				c.s.Receive(0, []byte(fmt.Sprintf("%s%d IDLE\r\n", c.name, c.ntag)), nil)
			}
			for !stop.Load() {
				if idle {
					if c.woken.Swap(false) {
						c.s.Wake(0, nil)
					}
				} else {
					c.s.Receive(0, []byte("x NOOP\r\n"), nil)
				}
			}
			if idle {
				c.s.Receive(0, []byte("DONE\r\n"), nil)
			}
		}()
	}
	for i := 0; i < msgs; i++ {
		if _, err := acct.Append("INBOX", nil, 0, []byte("Subject: c\r\n\r\nx\r\n")); err != nil {
			t.Fatal(err)
		}
	}
	stop.Store(true)
	wg.Wait()
	owner := map[uint32]string{}
	for _, c := range cs {
		c.lastRecent = -1
		c.run(t, "NOOP")
		for _, l := range c.run(t, "UID SEARCH RECENT") {
			if rest, ok := strings.CutPrefix(l, "* SEARCH"); ok {
				for _, f := range strings.Fields(rest) {
					u, _ := strconv.Atoi(f)
					if o, ok := owner[uint32(u)]; ok {
						t.Fatalf("UID %d is \\Recent in sessions %s and %s", u, o, c.name)
					}
					owner[uint32(u)] = c.name
				}
			}
		}
	}
	if len(owner) != msgs {
		t.Fatalf("%d of %d messages are \\Recent in some session", len(owner), msgs)
	}
}
