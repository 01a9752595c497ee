package server

import (
	"net/netip"
	"time"

	"github.com/myriad-mail/myriad/cmd/imapd/internal/metrics"
	"github.com/myriad-mail/myriad/netio"
	"github.com/myriad-mail/myriad/statemachine"
)

// session wraps a statemachine.Session for netio: it keeps the state gauge
// and the per-session command count, times input steps for the command
// latency histogram (Server.onCommand), logs login and logout, and is the
// session's Backend, so a login is checked by the rate limiter with the
// client's address.
type session struct {
	sm      *statemachine.Session
	srv     *Server
	user    string
	in, out uint64
	addr    [16]byte // the client's address, IPv4 mapped; zero if unknown
	step    int64    // nanos() when the Receive step in progress began; 0 outside Receive
	loginAt uint32   // Unix seconds
	cmds    uint32   // commands completed
	state   int8
	tls     bool
}

func (s *session) peer() netip.Addr {
	if s.addr == ([16]byte{}) {
		return netip.Addr{}
	}
	return netip.AddrFrom16(s.addr).Unmap()
}

var epoch = time.Now()

// nanos is a monotonic clock in nanoseconds, never 0.
func nanos() int64 { return int64(time.Since(epoch)) | 1 }

// onCommand is statemachine.Config.OnCommand: it counts the command by name
// and result and, for a command completed in a Receive step, observes the
// time from the step's start to now as its latency. Pipelined commands
// answered in one step each count from the step's start; a command whose
// input took several steps (a literal read in parts) counts its last step
// only.
func (s *Server) onCommand(be statemachine.Backend, name statemachine.CommandName, uid bool, r statemachine.Result) {
	dur := int64(-1)
	if ss, ok := be.(*session); ok {
		ss.cmds++
		if ss.step != 0 {
			dur = nanos() - ss.step
		}
	}
	s.metrics.Command(name, uid, r, dur)
}

func (s *Server) newSession(w statemachine.Waker, tlsOn bool, remote netip.AddrPort) netio.Session {
	ss := &session{srv: s, state: -1, tls: tlsOn}
	if a := remote.Addr(); a.IsValid() {
		ss.addr = a.As16()
	}
	ss.sm = statemachine.NewSession(s.smcfg, ss, w, tlsOn)
	ss.track()
	return ss
}

// Login implements statemachine.Backend for this session.
func (s *session) Login(user, password string) (statemachine.Account, error) {
	addr := s.peer()
	acct, err := s.srv.limiter.Login(addr, user, password)
	switch {
	case err == nil:
		s.user = user
		s.loginAt = uint32(time.Now().Unix())
		s.srv.metrics.Login("ok")
		s.srv.log.Info("login", "user", user, "addr", addr, "tls", s.tls)
	case err == statemachine.ErrAuthFailed:
		s.srv.log.Info("login failed", "user", user, "addr", addr, "tls", s.tls)
	default:
		s.srv.log.Error("login error", "user", user, "addr", addr, "err", err)
	}
	return acct, err
}

func (s *session) track() {
	st := int8(metrics.StateNotAuthenticated)
	switch s.sm.State() {
	case statemachine.StateAuthenticated:
		st = metrics.StateAuthenticated
	case statemachine.StateSelected:
		st = metrics.StateSelected
		if s.sm.Idling() {
			st = metrics.StateIdle
		}
	case statemachine.StateLogout:
		st = metrics.StateLogout
	}
	if st != s.state {
		s.srv.metrics.SessionState(int(s.state), int(st))
		s.state = st
	}
}

func (s *session) Start(now int64, out []byte) []byte {
	n := len(out)
	out = s.sm.Start(now, out)
	s.out += uint64(len(out) - n)
	return out
}

func (s *session) Receive(now int64, in []byte, out []byte) ([]byte, statemachine.Effect) {
	s.step = nanos()
	s.in += uint64(len(in))
	n := len(out)
	out, eff := s.sm.Receive(now, in, out)
	s.step = 0
	s.out += uint64(len(out) - n)
	s.track()
	return out, eff
}

func (s *session) Wake(now int64, out []byte) ([]byte, statemachine.Effect) {
	n := len(out)
	out, eff := s.sm.Wake(now, out)
	s.out += uint64(len(out) - n)
	s.track()
	return out, eff
}

func (s *session) Tick(now int64, out []byte) ([]byte, statemachine.Effect) {
	n := len(out)
	out, eff := s.sm.Tick(now, out)
	s.out += uint64(len(out) - n)
	s.track()
	return out, eff
}

func (s *session) Timeout() int64 { return s.sm.Timeout() }

// LiteralWait and Assembling implement netio.LiteralGate.
func (s *session) LiteralWait() int64 { return s.sm.LiteralWait() }
func (s *session) Assembling() bool   { return s.sm.Assembling() }

func (s *session) TLSReady() {
	s.sm.TLSReady()
	s.tls = true
}

func (s *session) Shutdown(out []byte) []byte {
	n := len(out)
	out = s.sm.Shutdown(out)
	s.out += uint64(len(out) - n)
	s.track()
	return out
}

func (s *session) Close() {
	s.sm.Close()
	s.srv.metrics.SessionState(int(s.state), -1)
	s.state = -1
	if s.user != "" {
		s.srv.log.Info("logout", "user", s.user, "addr", s.peer(), "tls", s.tls,
			"seconds", uint32(time.Now().Unix())-s.loginAt, "commands", s.cmds,
			"bytes_in", s.in, "bytes_out", s.out)
	}
}

var (
	_ netio.Session     = (*session)(nil)
	_ netio.LiteralGate = (*session)(nil)
)
