package netio

import "sync/atomic"

// Counters are one loop's running totals, plain atomics so a metrics layer
// can read them at any time without locking. Each loop has its own (no
// cache line shared between loops); Server.Stats sums them.
type Counters struct {
	BytesIn       atomic.Uint64 // bytes read from sockets (TLS: ciphertext)
	BytesOut      atomic.Uint64 // bytes written to sockets
	Sessions      atomic.Int64  // connections open now
	Accepted      atomic.Uint64 // connections accepted
	Closed        atomic.Uint64 // connections closed
	Steps         atomic.Uint64 // Receive steps completed
	Wakeups       atomic.Uint64 // Session.Wake steps asked for (coalesced per connection)
	WakeSignals   atomic.Uint64 // eventfd writes (one per burst of wake-ups and completions)
	WakeBatches   atomic.Uint64 // loop turns that handled queued wake-ups
	Timeouts      atomic.Uint64 // timer-wheel expiries (Tick, handshake, linger)
	Overflows     atomic.Uint64 // connections closed for passing Config.MaxOutput
	TLSHandshakes atomic.Uint64 // TLS handshakes completed
	TLSFailures   atomic.Uint64 // TLS handshakes failed
	AcceptErrors  atomic.Uint64 // accept failures (EMFILE and the like)
	Releases      atomic.Uint64 // free heap memory returned to the OS after handshakes (Config.ReleaseAfter)
	_             [64]byte
}

// Stats is a plain sum of all loops' Counters.
type Stats struct {
	BytesIn, BytesOut                 uint64
	Sessions                          int64
	Accepted, Closed, Steps           uint64
	Wakeups, WakeSignals, WakeBatches uint64
	Timeouts, Overflows               uint64
	TLSHandshakes, TLSFailures        uint64
	AcceptErrors, Releases            uint64
}

func (s *Stats) add(c *Counters) {
	s.BytesIn += c.BytesIn.Load()
	s.BytesOut += c.BytesOut.Load()
	s.Sessions += c.Sessions.Load()
	s.Accepted += c.Accepted.Load()
	s.Closed += c.Closed.Load()
	s.Steps += c.Steps.Load()
	s.Wakeups += c.Wakeups.Load()
	s.WakeSignals += c.WakeSignals.Load()
	s.WakeBatches += c.WakeBatches.Load()
	s.Timeouts += c.Timeouts.Load()
	s.Overflows += c.Overflows.Load()
	s.TLSHandshakes += c.TLSHandshakes.Load()
	s.TLSFailures += c.TLSFailures.Load()
	s.AcceptErrors += c.AcceptErrors.Load()
	s.Releases += c.Releases.Load()
}
