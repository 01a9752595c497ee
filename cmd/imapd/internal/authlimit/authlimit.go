// Package authlimit slows down password guessing: it wraps a
// statemachine.Backend so that failed logins are delayed, and logins from an
// address (or for a user) that failed too often recently are refused without
// checking the password.
package authlimit

import (
	"net/netip"
	"sync"
	"time"

	"github.com/myriad-mail/myriad/statemachine"
)

// Config tunes a Limiter. Zero fields disable what they control.
type Config struct {
	// Delay is how long a failed login waits before it is answered.
	Delay time.Duration
	// MaxPerAddr and MaxPerUser: failures allowed within Window before
	// further logins from the address, or for the user, are refused.
	MaxPerAddr, MaxPerUser int
	Window                 time.Duration
	// MaxSleeping bounds how many failed logins may be waiting out Delay
	// at once (each holds a storage worker); past it they are answered at
	// once. Default 16.
	MaxSleeping int
	// Now and Sleep replace the clock in tests.
	Now   func() time.Time
	Sleep func(time.Duration)
}

// Limiter counts login failures per client address and per user.
type Limiter struct {
	cfg   Config
	be    statemachine.Backend
	sleep chan struct{}

	mu     sync.Mutex
	addrs  map[netip.Addr]*window
	users  map[string]*window
	sweep  time.Time
	onFail func(reason string)
}

// window counts failures since start.
type window struct {
	start time.Time
	n     int
}

// New wraps be.
func New(be statemachine.Backend, cfg Config) *Limiter {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Sleep == nil {
		cfg.Sleep = time.Sleep
	}
	if cfg.MaxSleeping <= 0 {
		cfg.MaxSleeping = 16
	}
	return &Limiter{cfg: cfg, be: be, sleep: make(chan struct{}, cfg.MaxSleeping),
		addrs: map[netip.Addr]*window{}, users: map[string]*window{}}
}

// OnFailure sets a function told of every refused login ("password" or
// "rate_limited"), for metrics. Call it before use.
func (l *Limiter) OnFailure(f func(reason string)) { l.onFail = f }

// Login checks a login from addr (the zero Addr if unknown).
func (l *Limiter) Login(addr netip.Addr, user, password string) (statemachine.Account, error) {
	if l.limited(addr, user) {
		l.fail("rate_limited")
		l.delay()
		return nil, statemachine.ErrAuthFailed
	}
	acct, err := l.be.Login(user, password)
	if err == statemachine.ErrAuthFailed {
		l.record(addr, user)
		l.fail("password")
		l.delay()
	}
	return acct, err
}

func (l *Limiter) fail(reason string) {
	if l.onFail != nil {
		l.onFail(reason)
	}
}

func (l *Limiter) delay() {
	if l.cfg.Delay <= 0 {
		return
	}
	select {
	case l.sleep <- struct{}{}:
		l.cfg.Sleep(l.cfg.Delay)
		<-l.sleep
	default: // too many waiting already: do not tie up more workers
	}
}

func (l *Limiter) over(w *window, max int, now time.Time) bool {
	return w != nil && max > 0 && now.Sub(w.start) < l.cfg.Window && w.n >= max
}

func (l *Limiter) limited(addr netip.Addr, user string) bool {
	now := l.cfg.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.over(l.addrs[addr], l.cfg.MaxPerAddr, now) || l.over(l.users[user], l.cfg.MaxPerUser, now)
}

func (l *Limiter) record(addr netip.Addr, user string) {
	now := l.cfg.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	bump := func(w *window) *window {
		if w == nil || now.Sub(w.start) >= l.cfg.Window {
			return &window{start: now, n: 1}
		}
		w.n++
		return w
	}
	if l.cfg.MaxPerAddr > 0 && addr.IsValid() {
		l.addrs[addr] = bump(l.addrs[addr])
	}
	if l.cfg.MaxPerUser > 0 && len(l.users) < 1<<20 {
		l.users[user] = bump(l.users[user])
	}
	// Forget expired windows now and then, so the maps stay small.
	if now.Sub(l.sweep) >= l.cfg.Window {
		l.sweep = now
		for k, w := range l.addrs {
			if now.Sub(w.start) >= l.cfg.Window {
				delete(l.addrs, k)
			}
		}
		for k, w := range l.users {
			if now.Sub(w.start) >= l.cfg.Window {
				delete(l.users, k)
			}
		}
	}
}
