package statemachine_test

import (
	"strings"
	"testing"

	sm "github.com/myriad-mail/myriad/statemachine"
	"github.com/myriad-mail/myriad/statemachine/memstore"
)

// TestGateLiterals: with Config.GateLiterals a session stops at each
// literal announcement (EffLiteral, LiteralWait = the bytes to come) and
// sends the "+" only on the next Receive; a non-synchronizing literal
// stops before its bytes are read; Assembling stays true until the command
// is complete. Without it, nothing changes.
func TestGateLiterals(t *testing.T) {
	be := memstore.New()
	be.AddUser("alice", "secret")
	cfg := sm.NewConfig()
	cfg.AllowPlaintextAuth = true
	cfg.GateLiterals = true
	cfg.Init()
	s := sm.NewSession(cfg, be, nil, false)
	s.Start(0, nil)
	s.Receive(0, []byte("a LOGIN alice secret\r\n"), nil)
	msg := "Subject: x\r\n\r\nbody\r\n"

	out, eff := s.Receive(0, []byte("b APPEND INBOX {20}\r\n"), nil)
	if len(out) != 0 || eff != sm.EffLiteral || s.LiteralWait() != 20 || !s.Assembling() {
		t.Fatalf("announce: %q %v wait %d", out, eff, s.LiteralWait())
	}
	out, eff = s.Receive(0, nil, nil)
	if string(out) != "+ Ready for literal data\r\n" || eff != 0 || s.LiteralWait() != 0 || !s.Assembling() {
		t.Fatalf("admit: %q %v", out, eff)
	}
	out, _ = s.Receive(0, []byte(msg+"\r\n"), nil)
	if !strings.HasPrefix(string(out), "b OK [APPENDUID") || s.Assembling() {
		t.Fatalf("append: %q assembling %v", out, s.Assembling())
	}

	// {n+}: 5 of its bytes came with the announcement, 15 are to come.
	out, eff = s.Receive(0, []byte("c APPEND INBOX {20+}\r\n"+msg[:5]), nil)
	if len(out) != 0 || eff != sm.EffLiteral || s.LiteralWait() != 15 {
		t.Fatalf("non-sync: %q %v wait %d", out, eff, s.LiteralWait())
	}
	out, eff = s.Receive(0, []byte(msg[5:]+"\r\n"), nil)
	if !strings.HasPrefix(string(out), "c OK [APPENDUID") || eff != 0 || s.Assembling() {
		t.Fatalf("non-sync append: %q %v", out, eff)
	}
	// All of a {n+} literal in one read: no stop.
	out, eff = s.Receive(0, []byte("d APPEND INBOX {20+}\r\n"+msg+"\r\n"), nil)
	if !strings.HasPrefix(string(out), "d OK [APPENDUID") || eff != 0 {
		t.Fatalf("whole non-sync: %q %v", out, eff)
	}
	// Over APPENDLIMIT: [TOOBIG] as before, no stop.
	out, eff = s.Receive(0, []byte("e APPEND INBOX {999999999}\r\n"), nil)
	if !strings.HasPrefix(string(out), "e NO [TOOBIG]") || eff != 0 || s.Assembling() {
		t.Fatalf("too big: %q %v", out, eff)
	}
}
