package netio

import (
	"bytes"
	"fmt"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/myriad-mail/myriad/statemachine"
)

// fakeSession is a line-echo session for the tests:
//
//	any line        -> "ECHO <line>[ tls]"
//	IDLE            -> "+ idling"; each Wake then writes "* WAKE id=<id> n=<n>"
//	DONE            -> "OK done"
//	STARTTLS        -> "OK begin" + EffStartTLS (rest of input discarded)
//	QUIT            -> "BYE" + EffClose
//	BIG <n>         -> n bytes of 'x' then CRLF
//	LEN             -> the length of the next line (not echoed): "LEN <n>"
//	TIMEOUT <s>     -> sets Timeout, EffTimerChanged
//	SLEEP <ms>      -> sleeps in Receive (a slow storage call), then "SLEPT"
//	WATCH           -> watches the hub's mailbox (unwatched on Close), "OK watching"
//	LIT <n>         -> a literal of n bytes (EffLiteral, LiteralGate); once
//	                   admitted "+ go", then n bytes are taken, "OK lit <n>"
type fakeSession struct {
	slot     int32
	watching bool
	id       int
	w        statemachine.Waker
	tls      bool
	remote   netip.AddrPort
	partial  []byte
	idle     bool
	wakes    int
	timeout  int64
	lenNext  bool
	litWait  int64 // LIT announced, not yet admitted
	litLeft  int64 // literal bytes still to take
	litSize  int64
	inRecv   atomic.Int32
	closed   atomic.Bool
	h        *fakeHub
}

// fakeHub records the sessions a server made.
type fakeHub struct {
	mu       sync.Mutex
	sessions []*fakeSession
	nextID   int
	timeout  int64
	overlap  atomic.Int32 // Receive entered twice at once (must stay 0)
	closes   atomic.Int32
	closedCh chan int
	mbox     *statemachine.Mailbox
}

func newHub() *fakeHub {
	return &fakeHub{
		closedCh: make(chan int, 100000),
		mbox:     statemachine.NewMailbox("INBOX", nil, statemachine.NewSnapshot(1, 1, 1, nil, nil)),
	}
}

func (h *fakeHub) factory(w statemachine.Waker, tlsOn bool, remote netip.AddrPort) Session {
	h.mu.Lock()
	defer h.mu.Unlock()
	s := &fakeSession{id: h.nextID, w: w, tls: tlsOn, remote: remote, timeout: h.timeout, h: h}
	h.nextID++
	h.sessions = append(h.sessions, s)
	return s
}

func (h *fakeHub) session(id int) *fakeSession {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.sessions[id]
}

func (s *fakeSession) Start(now int64, out []byte) []byte {
	return fmt.Appendf(out, "* OK fake id=%d tls=%v\r\n", s.id, s.tls)
}

func (s *fakeSession) Receive(now int64, in []byte, out []byte) ([]byte, statemachine.Effect) {
	if s.inRecv.Add(1) != 1 {
		s.h.overlap.Add(1)
	}
	defer s.inRecv.Add(-1)
	var eff statemachine.Effect
	data := in
	if len(s.partial) > 0 {
		s.partial = append(s.partial, in...)
		data = s.partial
	}
	if s.litWait > 0 {
		out = append(out, "+ go\r\n"...)
		s.litLeft, s.litSize, s.litWait = s.litWait, s.litWait, 0
	}
	for {
		if s.litLeft > 0 {
			k := min(int64(len(data)), s.litLeft)
			data = data[k:]
			s.litLeft -= k
			if s.litLeft > 0 {
				break
			}
			out = fmt.Appendf(out, "OK lit %d\r\n", s.litSize)
		}
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			break
		}
		line := bytes.TrimRight(data[:i], "\r")
		data = data[i+1:]
		var e statemachine.Effect
		out, e = s.line(line, out)
		eff |= e
		if e&statemachine.EffStartTLS != 0 {
			data = nil // RFC 9051 §6.2.1: discard what came with STARTTLS
		}
		if e&statemachine.EffClose != 0 {
			data = nil
			break
		}
		if e&statemachine.EffLiteral != 0 {
			break
		}
	}
	s.partial = append(s.partial[:0], data...)
	return out, eff
}

func (s *fakeSession) line(line, out []byte) ([]byte, statemachine.Effect) {
	if s.lenNext {
		s.lenNext = false
		return fmt.Appendf(out, "LEN %d\r\n", len(line)), 0
	}
	cmd, arg, _ := bytes.Cut(line, []byte(" "))
	switch string(cmd) {
	case "IDLE":
		s.idle = true
		return append(out, "+ idling\r\n"...), 0
	case "DONE":
		s.idle = false
		return append(out, "OK done\r\n"...), 0
	case "STARTTLS":
		return append(out, "OK begin\r\n"...), statemachine.EffStartTLS
	case "QUIT":
		return append(out, "BYE\r\n"...), statemachine.EffClose
	case "BIG":
		n, _ := strconv.Atoi(string(arg))
		out = append(out, bytes.Repeat([]byte{'x'}, n)...)
		return append(out, "\r\n"...), 0
	case "LEN":
		s.lenNext = true
		return out, 0
	case "TIMEOUT":
		s.timeout, _ = strconv.ParseInt(string(arg), 10, 64)
		return append(out, "OK timeout\r\n"...), statemachine.EffTimerChanged
	case "LIT":
		s.litWait, _ = strconv.ParseInt(string(arg), 10, 64)
		return out, statemachine.EffLiteral
	case "WATCH":
		s.h.mbox.Watch(s.w, &s.slot)
		s.watching = true
		return append(out, "OK watching\r\n"...), 0
	case "SLEEP":
		ms, _ := strconv.Atoi(string(arg))
		time.Sleep(time.Duration(ms) * time.Millisecond)
		return append(out, "SLEPT\r\n"...), 0
	}
	out = append(out, "ECHO "...)
	out = append(out, line...)
	if s.tls {
		out = append(out, " tls"...)
	}
	return append(out, "\r\n"...), 0
}

func (s *fakeSession) Wake(now int64, out []byte) ([]byte, statemachine.Effect) {
	if !s.idle {
		return out, 0
	}
	s.wakes++
	return fmt.Appendf(out, "* WAKE id=%d n=%d\r\n", s.id, s.wakes), 0
}

func (s *fakeSession) Tick(now int64, out []byte) ([]byte, statemachine.Effect) {
	return append(out, "* BYE Autologout\r\n"...), statemachine.EffClose
}

func (s *fakeSession) LiteralWait() int64 { return s.litWait }
func (s *fakeSession) Assembling() bool   { return s.litWait > 0 || s.litLeft > 0 }

func (s *fakeSession) Timeout() int64 { return s.timeout }
func (s *fakeSession) TLSReady()      { s.tls = true }

func (s *fakeSession) Shutdown(out []byte) []byte {
	return append(out, "* BYE Server shutting down\r\n"...)
}

func (s *fakeSession) Close() {
	if s.closed.Swap(true) {
		panic("Close twice")
	}
	if s.watching {
		s.h.mbox.Unwatch(&s.slot)
	}
	s.h.closes.Add(1)
	s.h.closedCh <- s.id
}
