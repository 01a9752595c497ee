package statemachine

// QRESYNC (RFC 7162 §3.2): a reconnecting client learns in one round trip
// which of the UIDs it knows were expunged and which messages changed.

// vanishedSince returns the UIDs within set (a UID set without "*"; every
// UID below UIDNEXT when empty) that were expunged after modseq. When the
// mailbox's expunge log does not reach back that far it answers with every
// UID of set that is not in the mailbox, which is a superset the client
// handles (RFC 7162 §3.2.5.2 lets the server report UIDs it is unsure of).
func (s *Session) vanishedSince(set *SeqSet, modseq uint64) []UID {
	v := s.view
	snap := v.snap
	ranges := set.Ranges
	if len(ranges) == 0 {
		if snap.UIDNext <= 1 {
			return nil
		}
		ranges = []SeqRange{{1, uint32(snap.UIDNext - 1)}}
	}
	inSetUID := func(u UID) bool {
		for _, r := range ranges {
			a, b := r.Start, r.Stop
			if a == 0 {
				a = ^uint32(0) // "*": the set is open above
			}
			if b == 0 {
				b = ^uint32(0)
			}
			if a > b {
				a, b = b, a
			}
			if uint32(u) >= a && uint32(u) <= b {
				return true
			}
		}
		return false
	}
	exp, complete := v.mbox.ExpungedSince(modseq)
	var out []UID
	if complete {
		for _, u := range exp {
			if inSetUID(u) {
				out = append(out, u)
			}
		}
		return out
	}
	var buf [8]SeqRange
	for _, r := range normRanges(buf[:0], ranges, ^uint32(0)) {
		stop := r.Stop
		if stop >= uint32(snap.UIDNext) {
			stop = uint32(snap.UIDNext) - 1 // never-assigned UIDs cannot have vanished
		}
		for u := r.Start; u <= stop && u != 0; u++ {
			if snap.Index(UID(u)) < 0 {
				out = append(out, UID(u))
			}
			if u == ^uint32(0) {
				break
			}
		}
	}
	return out
}

// vanishedEarlier writes "* VANISHED (EARLIER) uids" when there are any.
func (s *Session) vanishedEarlier(set *SeqSet, modseq uint64) {
	if u := s.vanishedSince(set, modseq); len(u) > 0 {
		s.out = append(s.out, "* VANISHED (EARLIER) "...)
		s.out = appendUIDSet(s.out, u)
		s.out = append(s.out, "\r\n"...)
	}
}

// qresyncSelect sends what changed since the client's modseq, after the
// ordinary SELECT responses (RFC 7162 §3.2.5).
func (s *Session) qresyncSelect(cmd *Command) {
	v := s.view
	var set SeqSet
	if cmd.HasQRKnownUIDs {
		set = cmd.QRKnownUIDs
	}
	s.vanishedEarlier(&set, cmd.QRModSeq)
	v.snap.Each(0, func(i int, m *Message) bool {
		if m.ModSeq > cmd.QRModSeq {
			s.fetchFlagsResponse(uint32(i+1), m)
		}
		return true
	})
}
