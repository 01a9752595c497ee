package statemachine_test

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	sm "github.com/myriad-mail/myriad/statemachine"
	"github.com/myriad-mail/myriad/statemachine/memstore"
)

// Conversation tests: testdata/*.txt hold IMAP conversations between one or
// more clients and the server, with the exact bytes the server must answer.
//
//	# comment
//	> A: a1 LOGIN alice secret          client A sends the line and CRLF
//	< A: a1 OK [CAPABILITY ...] Logged in   the server's answer to A, one line each
//	>> A: a2 NOOP\r\n                   client A sends these raw bytes (escapes \r \n \\ \xHH)
//	! tick A                           A's timeout expires
//	! close A                          A's connection drops
//
// After each step the harness delivers wake-ups to every session whose
// mailbox changed, as the I/O layer does, and collects all output: first the
// acting session's, then the woken sessions' in name order. The expected
// lines are compared as one block. Every file is run twice: whole lines, and
// one byte at a time; the answers must be the same.
//
// go test ./statemachine -run TestConversations -rewrite regenerates the
// expected lines; review the diff before committing it.

var rewrite = flag.Bool("rewrite", false, "rewrite the expected server lines of testdata/*.txt")

// convNow is the clock of every conversation: 2026-11-28 12:00:00 UTC.
const convNow = 1795867200

type wakeRecorder struct {
	name  string
	woken map[string]bool
}

func (w *wakeRecorder) Wake() { w.woken[w.name] = true }

type convHarness struct {
	t        *testing.T
	be       *memstore.Backend
	cfg      *sm.Config
	sessions map[string]*sm.Session
	woken    map[string]bool
	closed   map[string]bool
	bytewise bool
}

func newConvBackend() *memstore.Backend {
	be := memstore.New()
	be.AddUser("alice", "secret")
	be.AddUser("bob", "hunter2")
	return be
}

func newConvHarness(t *testing.T, bytewise bool) *convHarness {
	cfg := sm.NewConfig()
	cfg.AllowPlaintextAuth = true
	cfg.TLSAvailable = true
	cfg.Limits.MaxLine = 8192
	cfg.Limits.MaxLiteral = 100000
	cfg.Limits.MaxNonSyncLiteral = 100000
	cfg.Limits.MaxCommand = 200000
	cfg.Init()
	return &convHarness{t: t, be: newConvBackend(), cfg: cfg, sessions: map[string]*sm.Session{},
		woken: map[string]bool{}, closed: map[string]bool{}, bytewise: bytewise}
}

// session returns the named session, greeting it (and recording the
// greeting as output) on first use.
func (h *convHarness) session(name string, out *[]string) *sm.Session {
	if s := h.sessions[name]; s != nil {
		return s
	}
	s := sm.NewSession(h.cfg, h.be, &wakeRecorder{name: name, woken: h.woken}, false)
	h.sessions[name] = s
	h.emit(name, s.Start(convNow, nil), out)
	return s
}

func (h *convHarness) emit(name string, b []byte, out *[]string) {
	if len(b) == 0 {
		return
	}
	lines := strings.Split(string(b), "\r\n")
	if lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	} else {
		lines[len(lines)-1] += "<no CRLF>"
	}
	for _, l := range lines {
		*out = append(*out, name+": "+escapeLine(l))
	}
}

func (h *convHarness) send(name string, data []byte, out *[]string) {
	s := h.session(name, out)
	if h.closed[name] {
		h.t.Fatalf("session %s is closed", name)
	}
	var all []byte
	var eff sm.Effect
	if h.bytewise {
		for i := range data {
			var e sm.Effect
			all, e = s.Receive(convNow, data[i:i+1], all)
			eff |= e
		}
	} else {
		all, eff = s.Receive(convNow, data, nil)
	}
	h.emit(name, all, out)
	if eff&sm.EffClose != 0 {
		*out = append(*out, name+": <closed>")
		h.closed[name] = true
		s.Close()
	}
	if eff&sm.EffStartTLS != 0 {
		*out = append(*out, name+": <starttls>")
		s.TLSReady()
	}
	h.deliverWakes(out)
}

func (h *convHarness) deliverWakes(out *[]string) {
	for len(h.woken) > 0 {
		names := make([]string, 0, len(h.woken))
		for n := range h.woken {
			names = append(names, n)
		}
		sort.Strings(names)
		clear(h.woken)
		for _, n := range names {
			if h.closed[n] {
				continue
			}
			b, _ := h.sessions[n].Wake(convNow, nil)
			h.emit(n, b, out)
		}
	}
}

func unescape(s string) []byte {
	var b []byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' || i+1 == len(s) {
			b = append(b, c)
			continue
		}
		i++
		switch s[i] {
		case 'r':
			b = append(b, '\r')
		case 'n':
			b = append(b, '\n')
		case 'x':
			// \xHH: any byte (NUL, 8-bit), for binary content.
			if v, err := strconv.ParseUint(s[i+1:min(i+3, len(s))], 16, 8); err == nil && i+3 <= len(s) {
				b = append(b, byte(v))
				i += 2
				continue
			}
			b = append(b, '\\', 'x')
		case '\\':
			b = append(b, '\\')
		default:
			b = append(b, '\\', s[i])
		}
	}
	return b
}

// escapeLine shows a server line that holds NUL or is not UTF-8 with \xHH
// for those bytes (the other lines as they are), so that a test file stays
// text.
func escapeLine(l string) string {
	if utf8.ValidString(l) && !strings.Contains(l, "\x00") {
		return l
	}
	var b strings.Builder
	for len(l) > 0 {
		r, n := utf8.DecodeRuneInString(l)
		if r == 0 || r == utf8.RuneError && n == 1 {
			fmt.Fprintf(&b, `\x%02x`, l[0])
		} else {
			b.WriteString(l[:n])
		}
		l = l[n:]
	}
	return b.String()
}

// runConversation plays a file and returns it with the expected lines as the
// server actually answered.
func runConversation(t *testing.T, src string, bytewise bool) (got string, mismatches []string) {
	h := newConvHarness(t, bytewise)
	var b strings.Builder
	lines := strings.Split(strings.TrimRight(src, "\n"), "\n")
	var expect []string
	var actual []string
	step := ""
	flush := func() {
		for _, l := range actual {
			b.WriteString("< " + l + "\n")
		}
		if strings.Join(expect, "\n") != strings.Join(actual, "\n") {
			mismatches = append(mismatches, fmt.Sprintf("after %q\nwant:\n  %s\ngot:\n  %s", step,
				strings.Join(expect, "\n  "), strings.Join(actual, "\n  ")))
		}
		expect, actual = nil, nil
	}
	for _, l := range lines {
		switch {
		case strings.HasPrefix(l, "< "):
			expect = append(expect, l[2:])
			continue
		}
		flush()
		switch {
		case l == "" || strings.HasPrefix(l, "#"):
			b.WriteString(l + "\n")
		case strings.HasPrefix(l, ">> "), strings.HasPrefix(l, "> "):
			raw := strings.HasPrefix(l, ">> ")
			rest := strings.TrimPrefix(strings.TrimPrefix(l, ">> "), "> ")
			name, data, ok := strings.Cut(rest, ": ")
			if !ok {
				name, data = strings.TrimSuffix(rest, ":"), ""
			}
			b.WriteString(l + "\n")
			step = l
			var bytes []byte
			if raw {
				bytes = unescape(data)
			} else {
				bytes = []byte(data + "\r\n")
			}
			h.send(name, bytes, &actual)
		case strings.HasPrefix(l, "! "):
			b.WriteString(l + "\n")
			step = l
			f := strings.Fields(l[2:])
			if len(f) != 2 {
				t.Fatalf("bad directive %q", l)
			}
			s := h.session(f[1], &actual)
			switch f[0] {
			case "tick":
				out, eff := s.Tick(convNow, nil)
				h.emit(f[1], out, &actual)
				if eff&sm.EffClose != 0 {
					actual = append(actual, f[1]+": <closed>")
					h.closed[f[1]] = true
					s.Close()
				}
			case "close":
				s.Close()
				h.closed[f[1]] = true
			case "connect":
			default:
				t.Fatalf("bad directive %q", l)
			}
		default:
			t.Fatalf("bad line %q", l)
		}
	}
	flush()
	return b.String(), mismatches
}

func TestConversations(t *testing.T) {
	files, err := filepath.Glob("testdata/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no conversation files: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			src, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			got, mm := runConversation(t, string(src), false)
			if *rewrite {
				if got != string(src) {
					if err := os.WriteFile(f, []byte(got), 0o644); err != nil {
						t.Fatal(err)
					}
				}
				return
			}
			for _, m := range mm {
				t.Errorf("%s: %s", f, m)
			}
			if len(mm) > 0 {
				return
			}
			// The same conversation fed one byte at a time must give the
			// same answers.
			got2, mm2 := runConversation(t, string(src), true)
			if !bytes.Equal([]byte(got), []byte(got2)) {
				for _, m := range mm2 {
					t.Errorf("%s (byte at a time): %s", f, m)
				}
			}
		})
	}
}
