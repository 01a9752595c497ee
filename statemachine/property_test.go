package statemachine_test

import (
	"fmt"
	"strconv"
	"strings"
	"testing"

	sm "github.com/myriad-mail/myriad/statemachine"
	"github.com/myriad-mail/myriad/statemachine/memstore"
	"pgregory.net/rapid"
)

// clientModel is what an IMAP client knows of its selected mailbox, rebuilt
// from the server's responses alone: the sequence-number → UID map (0 where
// the client has not learnt the UID yet).
type clientModel struct {
	name  string
	s     *sm.Session
	seq   []sm.UID
	idle  bool
	ntag  int
	woken bool
}

func (c *clientModel) Wake() { c.woken = true }

// apply checks one server line against the model and updates it. It
// returns a description of the contradiction, or "".
func (c *clientModel) apply(line string) string {
	if !strings.HasPrefix(line, "* ") {
		return ""
	}
	f := strings.Fields(line[2:])
	if len(f) < 2 {
		return ""
	}
	n, err := strconv.Atoi(f[0])
	if err != nil {
		return ""
	}
	switch f[1] {
	case "EXISTS":
		if n < len(c.seq) {
			return fmt.Sprintf("EXISTS %d shrinks the mailbox from %d without EXPUNGE", n, len(c.seq))
		}
		for len(c.seq) < n {
			c.seq = append(c.seq, 0)
		}
	case "EXPUNGE":
		if n < 1 || n > len(c.seq) {
			return fmt.Sprintf("EXPUNGE %d of a mailbox of %d", n, len(c.seq))
		}
		c.seq = append(c.seq[:n-1], c.seq[n:]...)
	case "FETCH":
		if n < 1 || n > len(c.seq) {
			return fmt.Sprintf("FETCH for %d, client knows %d messages", n, len(c.seq))
		}
		i := strings.Index(line, "UID ")
		if i < 0 {
			return ""
		}
		rest := line[i+4:]
		j := strings.IndexAny(rest, " )")
		u64, err := strconv.ParseUint(rest[:j], 10, 32)
		if err != nil {
			return "bad UID in " + line
		}
		u := sm.UID(u64)
		if old := c.seq[n-1]; old != 0 && old != u {
			return fmt.Sprintf("message %d was UID %d, now UID %d", n, old, u)
		}
		c.seq[n-1] = u
		for k := n - 2; k >= 0; k-- {
			if c.seq[k] != 0 {
				if c.seq[k] >= u {
					return fmt.Sprintf("UIDs not ascending: %d at %d, %d at %d", c.seq[k], k+1, u, n)
				}
				break
			}
		}
		for k := n; k < len(c.seq); k++ {
			if c.seq[k] != 0 {
				if c.seq[k] <= u {
					return fmt.Sprintf("UIDs not ascending: %d at %d, %d at %d", u, n, c.seq[k], k+1)
				}
				break
			}
		}
	}
	return ""
}

type propWorld struct {
	t       *rapid.T
	be      *memstore.Backend
	cfg     *sm.Config
	clients []*clientModel
	acct    sm.Account
	nextMsg int
}

func (w *propWorld) lines(b []byte) []string {
	s := strings.TrimSuffix(string(b), "\r\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\r\n")
}

// run sends one command and checks every response line, the one tagged
// completion, and the wake-ups it causes in other sessions.
func (w *propWorld) run(c *clientModel, cmd string) []string {
	c.ntag++
	tag := fmt.Sprintf("%s%d", c.name, c.ntag)
	out, _ := c.s.Receive(0, []byte(tag+" "+cmd+"\r\n"), nil)
	ls := w.lines(out)
	tagged := 0
	for _, l := range ls {
		if bad := c.apply(l); bad != "" {
			w.t.Fatalf("session %s, %q: %s\nresponses:\n%s", c.name, cmd, bad, strings.Join(ls, "\n"))
		}
		if strings.HasPrefix(l, tag+" ") {
			tagged++
			if !strings.HasPrefix(l, tag+" OK") && !strings.HasPrefix(l, tag+" NO") {
				w.t.Fatalf("session %s, %q: %s", c.name, cmd, l)
			}
		}
	}
	if tagged != 1 {
		w.t.Fatalf("session %s, %q: %d tagged responses:\n%s", c.name, cmd, tagged, strings.Join(ls, "\n"))
	}
	w.deliver()
	return ls
}

func (w *propWorld) deliver() {
	for _, o := range w.clients {
		if !o.woken {
			continue
		}
		o.woken = false
		out, _ := o.s.Wake(0, nil)
		if len(out) > 0 && !o.idle {
			w.t.Fatalf("session %s wrote %q outside a command", o.name, out)
		}
		for _, l := range w.lines(out) {
			if bad := o.apply(l); bad != "" {
				w.t.Fatalf("session %s, woken: %s (%s)", o.name, bad, l)
			}
		}
	}
}

func (w *propWorld) pickSeqs(c *clientModel) string {
	n := len(c.seq)
	a := rapid.IntRange(1, n).Draw(w.t, "a")
	b := rapid.IntRange(a, n).Draw(w.t, "b")
	if a == b {
		return strconv.Itoa(a)
	}
	return fmt.Sprintf("%d:%d", a, b)
}

// check: after NOOP and FETCH 1:* (UID) the client's map equals the mailbox.
func (w *propWorld) check(c *clientModel) {
	w.run(c, "NOOP")
	if len(c.seq) > 0 {
		w.run(c, "FETCH 1:* (UID)")
	}
	mb, err := w.acct.Open("INBOX")
	if err != nil {
		w.t.Fatal(err)
	}
	msgs := mb.Current().Messages()
	if len(msgs) != len(c.seq) {
		w.t.Fatalf("session %s knows %d messages, mailbox has %d", c.name, len(c.seq), len(msgs))
	}
	for i, m := range msgs {
		if c.seq[i] != m.UID {
			w.t.Fatalf("session %s: message %d is UID %d, mailbox says %d", c.name, i+1, c.seq[i], m.UID)
		}
	}
}

// TestSequenceNumbersProperty drives 2–5 sessions on one mailbox with random
// interleavings of commands; a client-side model rebuilt from the responses
// alone never contradicts the server.
func TestSequenceNumbersProperty(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		w := &propWorld{t: rt, be: memstore.New()}
		w.be.AddUser("alice", "secret")
		w.cfg = sm.NewConfig()
		w.cfg.AllowPlaintextAuth = true
		w.cfg.Init()
		acct, _ := w.be.Login("alice", "secret")
		w.acct = acct
		for i := 0; i < rapid.IntRange(0, 5).Draw(rt, "initial"); i++ {
			acct.Append("INBOX", nil, 0, []byte("Subject: pre\r\n\r\nx\r\n"))
		}
		n := rapid.IntRange(2, 5).Draw(rt, "sessions")
		for i := 0; i < n; i++ {
			c := &clientModel{name: string(rune('A' + i))}
			c.s = sm.NewSession(w.cfg, w.be, c, false)
			c.s.Start(0, nil)
			w.clients = append(w.clients, c)
			w.run(c, "LOGIN alice secret")
			w.run(c, "SELECT INBOX")
		}
		steps := rapid.IntRange(1, 60).Draw(rt, "steps")
		for step := 0; step < steps; step++ {
			c := w.clients[rapid.IntRange(0, n-1).Draw(rt, "who")]
			if c.idle {
				out, _ := c.s.Receive(0, []byte("DONE\r\n"), nil)
				c.idle = false
				for _, l := range w.lines(out) {
					if bad := c.apply(l); bad != "" {
						rt.Fatalf("session %s, DONE: %s", c.name, bad)
					}
				}
				continue
			}
			has := len(c.seq) > 0
			switch op := rapid.IntRange(0, 12).Draw(rt, "op"); {
			case op == 0:
				w.nextMsg++
				msg := fmt.Sprintf("Subject: m%d\r\n\r\nbody\r\n", w.nextMsg)
				w.run(c, fmt.Sprintf("APPEND INBOX {%d+}\r\n%s", len(msg), msg))
			case op == 1 && has:
				w.run(c, "STORE "+w.pickSeqs(c)+" +FLAGS (\\Deleted)")
			case op == 2 && has:
				w.run(c, "STORE "+w.pickSeqs(c)+" +FLAGS.SILENT (\\Seen)")
			case op == 3:
				w.run(c, "EXPUNGE")
			case op == 4:
				w.run(c, fmt.Sprintf("UID EXPUNGE 1:%d", rapid.IntRange(1, 20).Draw(rt, "uid")))
			case op == 5 && has:
				w.run(c, "FETCH "+w.pickSeqs(c)+" (UID FLAGS)")
			case op == 6:
				w.run(c, fmt.Sprintf("UID FETCH %d:* (FLAGS)", rapid.IntRange(1, 20).Draw(rt, "uid")))
			case op == 7:
				ls := w.run(c, "SEARCH ALL")
				for _, l := range ls {
					if strings.HasPrefix(l, "* SEARCH") {
						for _, f := range strings.Fields(l)[2:] {
							if k, _ := strconv.Atoi(f); k < 1 || k > len(c.seq) {
								rt.Fatalf("SEARCH returned %d of %d", k, len(c.seq))
							}
						}
					}
				}
			case op == 8 && has:
				w.run(c, "MOVE "+w.pickSeqs(c)+" Trash")
			case op == 9 && has:
				w.run(c, "COPY "+w.pickSeqs(c)+" INBOX")
			case op == 10:
				c.ntag++
				out, _ := c.s.Receive(0, []byte(fmt.Sprintf("%s%d IDLE\r\n", c.name, c.ntag)), nil)
				c.idle = true
				for _, l := range w.lines(out) {
					if bad := c.apply(l); bad != "" {
						rt.Fatalf("session %s, IDLE: %s", c.name, bad)
					}
				}
			case op == 11:
				w.check(c)
			default:
				w.run(c, "NOOP")
			}
		}
		for _, c := range w.clients {
			if c.idle {
				c.s.Receive(0, []byte("DONE\r\n"), nil)
				c.idle = false
			}
			w.check(c)
		}
	})
}
