package statemachine

import "sort"

// view is one session's numbering of a selected mailbox (DESIGN.md, "Views
// and sequence numbers").
//
// The client's numbering is the ascending merge of
//   - the messages of snap with UID < known (the ones it has been told of), and
//   - pend: UIDs that were expunged but whose EXPUNGE the client has not been
//     sent yet, because no command allowed it (RFC 9051 §7.5.1: never while
//     answering FETCH, STORE or SEARCH by number, never outside a command).
//
// snap is always the newest snapshot this view has walked to; views on an
// unchanged mailbox share it. A view copies nothing but the few UIDs in pend
// and pendFlags, so a million views of one mailbox cost a pointer each.
//
// Messages appended are always above known (UIDs only grow), so they extend
// the numbering at the end when EXISTS announces them.
type view struct {
	mbox      *Mailbox
	snap      *Snapshot
	pend      []UID // expunged, still numbered by the client; ascending
	pendFlags []UID // flags changed since last told; ascending, deduplicated
	searchRes []UID // RFC 5182 saved search result ($)
	flagsSeen uint64
	// recentOld: older claims not contiguous with [recentLo, recentHi);
	// nil unless claims interleaved with another session's (recent.go).
	recentOld *[]uidRange
	known     UID // client knows messages of snap with UID < known
	watchSlot int32
	// recentLo, recentHi: the UIDs [lo, hi) that are \Recent in this
	// session (recent.go).
	recentLo, recentHi UID
	// lastKeywords is the keyword count the client was sent in FLAGS.
	lastKeywords uint16
	flagsLost    bool // pendFlags overflowed: report every message with ModSeq > flagsSeen
	readOnly     bool
	noRecent     bool // IMAP4rev2 session: no \Recent (RFC 9051 removed it)
}

// maxPendFlags bounds pendFlags; past it the view falls back to a modseq scan.
const maxPendFlags = 256

// rebase walks the snapshot chain to the newest snapshot, remembering what
// the client has not been told. It writes nothing.
func (v *view) rebase() {
	for {
		next, d := v.snap.Next()
		if next == nil {
			return
		}
		for _, u := range d.Expunged {
			if u < v.known {
				v.pend = insertUID(v.pend, u)
				v.pendFlags = removeUID(v.pendFlags, u)
			}
		}
		if !v.flagsLost {
			for _, u := range d.Changed {
				if u >= v.known {
					continue // the client will get its flags with the message
				}
				v.pendFlags = insertUID(v.pendFlags, u)
				if len(v.pendFlags) > maxPendFlags {
					v.flagsLost = true
					v.pendFlags = v.pendFlags[:0]
					break
				}
			}
		}
		v.snap = next
	}
}

func insertUID(s []UID, u UID) []UID {
	i := sort.Search(len(s), func(i int) bool { return s[i] >= u })
	if i < len(s) && s[i] == u {
		return s
	}
	s = append(s, 0)
	copy(s[i+1:], s[i:])
	s[i] = u
	return s
}

func removeUID(s []UID, u UID) []UID {
	i := sort.Search(len(s), func(i int) bool { return s[i] >= u })
	if i < len(s) && s[i] == u {
		copy(s[i:], s[i+1:])
		s = s[:len(s)-1]
	}
	return s
}

func containsUID(s []UID, u UID) bool {
	i := sort.Search(len(s), func(i int) bool { return s[i] >= u })
	return i < len(s) && s[i] == u
}

// knownLen is how many messages of snap the client knows.
func (v *view) knownLen() int {
	if v.known >= v.snap.UIDNext {
		return v.snap.Len()
	}
	return v.snap.lowerBound(v.known)
}

// count is the number of messages in the client's numbering.
func (v *view) count() uint32 { return uint32(v.knownLen() + len(v.pend)) }

// at maps a sequence number (1..count) to its UID and the message, which is
// nil when the message was expunged (its UID is in pend).
func (v *view) at(seq uint32) (UID, *Message) {
	i := int(seq) - 1
	if len(v.pend) == 0 {
		m := v.snap.At(i)
		return m.UID, m
	}
	// k pend UIDs sit before the answer.
	k := 0
	for ; k < len(v.pend); k++ {
		pos := v.snap.lowerBound(v.pend[k]) + k // 0-based position of pend[k]
		if pos == i {
			return v.pend[k], nil
		}
		if pos > i {
			break
		}
	}
	m := v.snap.At(i - k)
	return m.UID, m
}

// seqOf maps a UID to its sequence number, or 0 if the client does not
// number it.
func (v *view) seqOf(u UID) uint32 {
	if u >= v.known {
		return 0
	}
	before := sort.Search(len(v.pend), func(i int) bool { return v.pend[i] >= u })
	if before < len(v.pend) && v.pend[before] == u {
		return uint32(v.snap.lowerBound(u) + before + 1)
	}
	i := v.snap.Index(u)
	if i < 0 {
		return 0
	}
	return uint32(i + before + 1)
}

// maxUID is the largest UID the client numbers, 0 if none.
func (v *view) maxUID() UID {
	var m UID
	if n := v.knownLen(); n > 0 {
		m = v.snap.At(n - 1).UID
	}
	if n := len(v.pend); n > 0 && v.pend[n-1] > m {
		m = v.pend[n-1]
	}
	return m
}

// normRanges sorts and merges ranges into dst (ascending, disjoint), with
// "*" (0) replaced by star. It allocates only when dst is too small.
func normRanges(dst []SeqRange, src []SeqRange, star uint32) []SeqRange {
	dst = dst[:0]
	for _, r := range src {
		a, b := r.Start, r.Stop
		if a == 0 {
			a = star
		}
		if b == 0 {
			b = star
		}
		if a > b {
			a, b = b, a
		}
		dst = append(dst, SeqRange{a, b})
	}
	if len(dst) > 1 {
		// Insertion sort: sets are short and sort.Slice would move dst
		// to the heap.
		for i := 1; i < len(dst); i++ {
			for j := i; j > 0 && dst[j].Start < dst[j-1].Start; j-- {
				dst[j], dst[j-1] = dst[j-1], dst[j]
			}
		}
		w := 0
		for _, r := range dst[1:] {
			if r.Start <= dst[w].Stop+1 && dst[w].Stop != ^uint32(0) {
				if r.Stop > dst[w].Stop {
					dst[w].Stop = r.Stop
				}
				continue
			}
			w++
			dst[w] = r
		}
		dst = dst[:w+1]
	}
	return dst
}
