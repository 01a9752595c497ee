package statemachine

// \Recent (RFC 3501 §2.3.2): "This session is the first session to have been
// notified about this message; if the session is read-write, subsequent
// sessions will not see \Recent set for this message."
//
// The shared Mailbox keeps one UID, the recent floor: messages with UID >=
// floor have not been claimed by a read-write session. A read-write session
// claims [floor, UIDNEXT) when it is first told of those messages (SELECT,
// or the EXISTS that announces new ones) by moving the floor with a
// compare-and-swap, so sessions stepped concurrently on different goroutines
// never claim the same UID twice. A read-only session (EXAMINE) takes the
// unclaimed UIDs it is told of as recent for itself without moving the floor
// (RFC 3501 §6.3.2: EXAMINE must not make messages lose \Recent). A session
// that enabled IMAP4rev2 neither sees nor claims \Recent (RFC 9051 removed
// it), so it leaves the messages recent for IMAP4rev1 sessions.
//
// A view remembers its claim as one UID range inline (recentLo, recentHi);
// claims are usually contiguous. When another session claimed in between,
// the older range moves to recentOld (allocated only then), capped at
// maxRecentRanges: past that the oldest range is forgotten, and its messages
// stop being \Recent in this session (never recent in two).

// uidRange is the UIDs [lo, hi).
type uidRange struct{ lo, hi UID }

// maxRecentRanges bounds a view's older, non-contiguous claims.
const maxRecentRanges = 64

// RecentFloor returns the lowest UID not yet claimed as \Recent by a
// read-write session; a backend that persists it reads it here.
func (m *Mailbox) RecentFloor() UID { return UID(m.recentFloor.Load()) }

// SetRecentFloor restores a floor the backend remembered (before any
// session selects the mailbox).
func (m *Mailbox) SetRecentFloor(u UID) { m.recentFloor.Store(uint32(u)) }

// claimRecent moves the floor up to hi and returns the old floor: the
// caller now owns [old, hi) (empty if old >= hi).
func (m *Mailbox) claimRecent(hi UID) UID {
	for {
		f := m.recentFloor.Load()
		if UID(f) >= hi {
			return hi
		}
		if m.recentFloor.CompareAndSwap(f, uint32(hi)) {
			return UID(f)
		}
	}
}

// RecentCount is how many messages of the current snapshot are not claimed
// yet: STATUS RECENT (RFC 3501 §6.3.10).
func (m *Mailbox) RecentCount() uint32 {
	snap := m.Current()
	return uint32(snap.Len() - snap.lowerBound(m.RecentFloor()))
}

// claimRecent records the messages the client is being told of, UIDs in
// [from, hi), that are recent for this session.
func (v *view) claimRecent(from, hi UID) {
	if v.noRecent || from >= hi {
		return
	}
	var lo UID
	if v.readOnly {
		lo = v.mbox.RecentFloor()
	} else {
		lo = v.mbox.claimRecent(hi)
	}
	lo = max(lo, from)
	if lo >= hi {
		return
	}
	switch {
	case v.recentLo == v.recentHi:
		v.recentLo, v.recentHi = lo, hi
	case lo == v.recentHi:
		v.recentHi = hi
	default:
		if v.recentOld == nil {
			v.recentOld = new([]uidRange)
		}
		old := append(*v.recentOld, uidRange{v.recentLo, v.recentHi})
		if len(old) > maxRecentRanges {
			old = append(old[:0], old[1:]...)
		}
		*v.recentOld = old
		v.recentLo, v.recentHi = lo, hi
	}
}

// isRecent reports whether u is \Recent in this session.
func (v *view) isRecent(u UID) bool {
	if v.noRecent {
		return false
	}
	if u >= v.recentLo && u < v.recentHi {
		return true
	}
	if v.recentOld != nil {
		for _, r := range *v.recentOld {
			if u >= r.lo && u < r.hi {
				return true
			}
		}
	}
	return false
}

// recentCount is how many messages the client numbers are \Recent: the
// count of the RECENT response (RFC 3501 §7.3.2).
func (v *view) recentCount() uint32 {
	n := v.rangeCount(v.recentLo, v.recentHi)
	if v.recentOld != nil {
		for _, r := range *v.recentOld {
			n += v.rangeCount(r.lo, r.hi)
		}
	}
	return n
}

// rangeCount is how many messages the client numbers in [lo, hi).
func (v *view) rangeCount(lo, hi UID) uint32 {
	hi = min(hi, v.known)
	if lo >= hi {
		return 0
	}
	n := v.snap.lowerBound(hi) - v.snap.lowerBound(lo)
	for _, u := range v.pend {
		if u >= lo && u < hi {
			n++
		}
	}
	return uint32(n)
}

// appendRecent appends "* n RECENT" for an IMAP4rev1 session.
func (s *Session) appendRecent() {
	if s.view.noRecent {
		return
	}
	s.out = append(s.out, "* "...)
	s.out = AppendNumber(s.out, uint64(s.view.recentCount()))
	s.out = append(s.out, " RECENT\r\n"...)
}
