package netio

import (
	"sync"

	"github.com/myriad-mail/myriad/statemachine"
)

// LiteralGate is implemented by sessions that report literal
// announcements (statemachine.Session with Config.GateLiterals): after a
// step with statemachine.EffLiteral, LiteralWait is the size of the
// literal to admit; the bytes admitted stay reserved until Assembling
// turns false after a step (the command is complete) or the connection
// closes.
type LiteralGate interface {
	LiteralWait() int64
	Assembling() bool
}

// litBudget is the server-wide budget of literal bytes being assembled
// (Config.MaxLiteralBuffer), shared by all loops. A connection reserves a
// whole literal before its bytes are admitted (the "+" of a synchronizing
// literal is sent, or reading goes on after a non-synchronizing one), so a
// holder never waits for the budget to finish its literal: holders always
// complete or close, and waiters are served in order.
type litBudget struct {
	mu      sync.Mutex
	free    int64
	held    map[*conn]int64 // reservations (connections with literals in assembly)
	waiters []litWaiter     // FIFO
}

type litWaiter struct {
	c *conn
	n int64
}

// reserve admits n bytes for c now (litAdmitted), or queues c
// (litQueued: it is signalled with sigLit once the bytes are reserved for
// it), or refuses (litNever: what c holds plus n exceeds the whole budget
// total, so waiting could not end).
func (b *litBudget) reserve(c *conn, n, total int64) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.held[c]+n > total {
		return litNever
	}
	if len(b.waiters) == 0 && n <= b.free {
		b.free -= n
		b.held[c] += n
		return litAdmitted
	}
	b.waiters = append(b.waiters, litWaiter{c, n})
	return litQueued
}

const (
	litAdmitted = iota
	litQueued
	litNever
)

// release gives back everything c holds and, if c is queued, its place;
// waiters that now fit are granted and signalled.
func (b *litBudget) release(c *conn) {
	b.mu.Lock()
	n, ok := b.held[c]
	if ok {
		delete(b.held, c)
		b.free += n
	}
	for i := 0; i < len(b.waiters); i++ {
		if b.waiters[i].c == c {
			b.waiters = append(b.waiters[:i], b.waiters[i+1:]...)
			break
		}
	}
	var grant []*conn
	for len(b.waiters) > 0 && b.waiters[0].n <= b.free {
		w := b.waiters[0]
		b.waiters[0] = litWaiter{}
		b.waiters = b.waiters[1:]
		b.free -= w.n
		b.held[w.c] += w.n
		grant = append(grant, w.c)
	}
	if len(b.waiters) == 0 {
		b.waiters = nil
	}
	b.mu.Unlock()
	for _, g := range grant {
		g.signal(sigLit)
	}
}

// literalHeld returns the literal bytes reserved now.
func (s *Server) literalHeld() int64 {
	b := &s.lits
	b.mu.Lock()
	defer b.mu.Unlock()
	return s.cfg.MaxLiteralBuffer - b.free
}

// literal handles EffLiteral after a Receive step: reserve the literal and
// step the session again, or wait (reading nothing) until it fits.
func (l *loop) literal(c *conn) {
	g, ok := c.sess.(LiteralGate)
	if !ok {
		l.markClose(c)
		return
	}
	n := g.LiteralWait()
	if l.s.cfg.MaxLiteralBuffer < 0 {
		c.f |= fMore // no budget: admit at once
		return
	}
	switch l.s.lits.reserve(c, n, l.s.cfg.MaxLiteralBuffer) {
	case litAdmitted:
		c.f |= fLitRes | fMore // step again once output is flushed (after, flush)
	case litQueued:
		c.f |= fLitRes | fLitWait
	default:
		// Never fits: the session's literal limits should keep a
		// command's literals within the budget (imapd caps APPENDLIMIT
		// and the command size by it); refuse by closing.
		l.markClose(c)
	}
}

// litGranted runs on c's loop when a queued reservation was granted.
func (l *loop) litGranted(c *conn) {
	if c.f&fLitWait == 0 || c.f&fClosed != 0 {
		return
	}
	c.f &^= fLitWait
	c.f |= fMore
	if c.f&(fBusy|fDraining) == 0 {
		l.after(c)
	}
}

// litAfterStep releases c's reservation once its command is assembled.
func (l *loop) litAfterStep(c *conn, eff statemachine.Effect) {
	if c.f&fLitRes == 0 || eff&statemachine.EffLiteral != 0 {
		return
	}
	if g, ok := c.sess.(LiteralGate); ok && g.Assembling() {
		return
	}
	c.f &^= fLitRes
	l.s.lits.release(c)
}
