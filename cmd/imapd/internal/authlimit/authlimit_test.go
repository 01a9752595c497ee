package authlimit

import (
	"net/netip"
	"testing"
	"time"

	"github.com/myriad-mail/myriad/statemachine"
)

type fakeBackend struct{ calls int }

func (f *fakeBackend) Login(user, password string) (statemachine.Account, error) {
	f.calls++
	if password == "right" {
		return nil, nil
	}
	return nil, statemachine.ErrAuthFailed
}

func TestLimits(t *testing.T) {
	now := time.Unix(1000, 0)
	var slept time.Duration
	be := &fakeBackend{}
	l := New(be, Config{Delay: time.Second, MaxPerAddr: 3, MaxPerUser: 5, Window: time.Minute,
		Now: func() time.Time { return now }, Sleep: func(d time.Duration) { slept += d }})
	a := netip.MustParseAddr("192.0.2.1")
	b := netip.MustParseAddr("192.0.2.2")
	for i := 0; i < 3; i++ {
		if _, err := l.Login(a, "bob", "wrong"); err != statemachine.ErrAuthFailed {
			t.Fatal(err)
		}
	}
	if slept != 3*time.Second {
		t.Fatalf("slept %v, want 3s", slept)
	}
	// The address is now limited: even the right password is refused,
	// without reaching the backend.
	calls := be.calls
	if _, err := l.Login(a, "bob", "right"); err != statemachine.ErrAuthFailed {
		t.Fatalf("limited address logged in: %v", err)
	}
	if be.calls != calls {
		t.Fatal("limited login reached the backend")
	}
	// Another address may still log in as bob (2 failures left for bob).
	if _, err := l.Login(b, "bob", "right"); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		l.Login(b, "bob", "wrong")
	}
	// bob has 5 failures: limited from every address.
	if _, err := l.Login(netip.MustParseAddr("192.0.2.3"), "bob", "right"); err != statemachine.ErrAuthFailed {
		t.Fatal("limited user logged in")
	}
	// After the window, all is forgiven.
	now = now.Add(time.Minute)
	if _, err := l.Login(a, "bob", "right"); err != nil {
		t.Fatal(err)
	}
}

func TestSleepBound(t *testing.T) {
	block := make(chan struct{})
	started := make(chan struct{}, 10)
	l := New(&fakeBackend{}, Config{Delay: time.Hour, MaxSleeping: 2,
		Sleep: func(time.Duration) { started <- struct{}{}; <-block }})
	for i := 0; i < 2; i++ {
		go l.Login(netip.Addr{}, "x", "wrong")
	}
	<-started
	<-started
	done := make(chan struct{})
	go func() { l.Login(netip.Addr{}, "x", "wrong"); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("third failure waited although two were sleeping")
	}
	close(block)
}
