package statemachine

import (
	"errors"
	"sort"
)

// sync tells the client what changed in the selected mailbox since it was
// last told: EXPUNGE (only when allowExpunge: RFC 9051 §7.5.1 forbids it while
// answering FETCH, STORE or SEARCH by sequence number), EXISTS, FLAGS for new
// keywords, and FETCH (FLAGS) for messages whose flags changed.
func (s *Session) sync(allowExpunge bool) {
	v := s.view
	v.rebase()
	if PlantedBugs.ExpungeDuringFetch {
		allowExpunge = true
	}
	if PlantedBugs.DropFlagUpdates {
		v.pendFlags = v.pendFlags[:0]
		v.flagsLost = false
	}
	if allowExpunge && len(v.pend) > 0 && s.qresync() && !PlantedBugs.ExpungeToQResync {
		// RFC 7162 §3.2.10: VANISHED replaces EXPUNGE once QRESYNC is on.
		s.out = append(s.out, "* VANISHED "...)
		s.out = appendUIDSet(s.out, v.pend)
		s.out = append(s.out, "\r\n"...)
		v.pend = v.pend[:0]
	}
	if allowExpunge && len(v.pend) > 0 {
		// Highest first: each number is then still right when sent.
		for i := len(v.pend) - 1; i >= 0; i-- {
			seq := v.snap.lowerBound(v.pend[i]) + i + 1
			s.out = append(s.out, "* "...)
			s.out = AppendNumber(s.out, uint64(seq))
			s.out = append(s.out, " EXPUNGE\r\n"...)
		}
		v.pend = v.pend[:0]
	}
	if v.known < v.snap.UIDNext {
		added := v.snap.Len() - v.knownLen()
		v.claimRecent(v.known, v.snap.UIDNext)
		v.known = v.snap.UIDNext
		if added > 0 {
			s.out = append(s.out, "* "...)
			s.out = AppendNumber(s.out, uint64(v.count()))
			s.out = append(s.out, " EXISTS\r\n"...)
			// RFC 3501 §7.3.2: RECENT goes with a change of size.
			s.appendRecent()
		}
	}
	if int(v.lastKeywords) != len(v.snap.Keywords) {
		v.lastKeywords = uint16(len(v.snap.Keywords))
		s.flagsResponses(v.snap)
	}
	if v.flagsLost {
		n := v.knownLen()
		v.snap.Each(0, func(i int, m *Message) bool {
			if i >= n {
				return false
			}
			if m.ModSeq > v.flagsSeen {
				s.fetchFlagsResponse(v.seqOf(m.UID), m)
			}
			return true
		})
		v.flagsLost = false
	} else {
		for _, u := range v.pendFlags {
			if i := v.snap.Index(u); i >= 0 {
				s.fetchFlagsResponse(v.seqOf(u), v.snap.At(i))
			}
		}
	}
	v.pendFlags = v.pendFlags[:0]
	v.flagsSeen = v.snap.HighestModSeq
}

// fetchFlagsResponse appends "* seq FETCH (FLAGS (...))".
func (s *Session) fetchFlagsResponse(seq uint32, m *Message) {
	if seq == 0 {
		return
	}
	s.out = append(s.out, "* "...)
	s.out = AppendNumber(s.out, uint64(seq))
	// The UID goes in every flag update: RFC 9051 §6.4.9 requires it in
	// FETCH responses caused by a UID command, RFC 7162 §3.1 in every
	// untagged FETCH once CONDSTORE is on, and it lets every client match
	// an update to its message without a lookup.
	s.out = append(s.out, " FETCH (UID "...)
	s.out = AppendNumber(s.out, uint64(m.UID))
	s.out = append(s.out, ' ')
	s.appendFlags(m.Flags, m.UID)
	if s.condstore() {
		s.out = append(s.out, " MODSEQ ("...)
		s.out = AppendNumber(s.out, m.ModSeq)
		s.out = append(s.out, ')')
	}
	s.out = append(s.out, ")\r\n"...)
}

// fetchModSeqResponse appends "* seq FETCH (UID u MODSEQ (m))": what a
// .SILENT STORE reports under CONDSTORE (RFC 7162 §3.1.3, example 3).
func (s *Session) fetchModSeqResponse(seq uint32, m *Message) {
	if seq == 0 {
		return
	}
	s.out = append(s.out, "* "...)
	s.out = AppendNumber(s.out, uint64(seq))
	s.out = append(s.out, " FETCH (UID "...)
	s.out = AppendNumber(s.out, uint64(m.UID))
	s.out = append(s.out, " MODSEQ ("...)
	s.out = AppendNumber(s.out, m.ModSeq)
	s.out = append(s.out, "))\r\n"...)
}

// appendFlags appends "FLAGS (...)" for message u with flags f, \Recent
// included when u is recent in this session (RFC 3501 §2.3.2).
func (s *Session) appendFlags(f Flags, u UID) {
	s.out = append(s.out, "FLAGS ("...)
	first := true
	for _, sf := range systemFlagNames {
		if f&sf.flag != 0 {
			if !first {
				s.out = append(s.out, ' ')
			}
			first = false
			s.out = append(s.out, sf.name...)
		}
	}
	if s.view.isRecent(u) {
		if !first {
			s.out = append(s.out, ' ')
		}
		first = false
		s.out = append(s.out, `\Recent`...)
	}
	kw := s.view.snap.Keywords
	for i := 0; i < len(kw); i++ {
		if f&(1<<(KeywordBase+i)) != 0 {
			if !first {
				s.out = append(s.out, ' ')
			}
			first = false
			s.out = append(s.out, kw[i]...)
		}
	}
	s.out = append(s.out, ')')
}

// errBadSet marks a sequence set that names numbers the client cannot know.
var errBadSet = errors.New("statemachine: invalid message sequence number")

// target is one message a command addresses.
type target struct {
	seq uint32
	uid UID
	msg *Message // nil when expunged (still numbered by the client)
}

// forEach calls fn for each message of set in ascending order. For a
// sequence set, a number above the message count is an error (RFC 9051
// §6.4.4 "a non-existent sequence number is invalid"); for a UID set,
// UIDs that do not exist are skipped (RFC 9051 §6.4.9).
func (s *Session) forEach(set *SeqSet, uid bool, fn func(t target) bool) error {
	v := s.view
	if set.Saved {
		for _, u := range v.searchRes {
			seq := v.seqOf(u)
			if seq == 0 {
				continue
			}
			if !fn(s.targetSeq(seq)) {
				return nil
			}
		}
		return nil
	}
	var buf [8]SeqRange
	if !uid {
		n := v.count()
		rs := normRanges(buf[:0], set.Ranges, n)
		if n == 0 || (len(rs) > 0 && (rs[len(rs)-1].Stop > n || rs[0].Start == 0)) {
			return errBadSet
		}
		for _, r := range rs {
			for q := r.Start; q <= r.Stop; q++ {
				if !fn(s.targetSeq(q)) {
					return nil
				}
			}
		}
		return nil
	}
	rs := normRanges(buf[:0], set.Ranges, uint32(v.maxUID()))
	n := v.knownLen()
	for _, r := range rs {
		i := v.snap.lowerBound(UID(r.Start))
		for ; i < n; i++ {
			m := v.snap.At(i)
			if m.UID > UID(r.Stop) {
				break
			}
			if !fn(target{seq: v.seqOf(m.UID), uid: m.UID, msg: m}) {
				return nil
			}
		}
	}
	return nil
}

func (s *Session) targetSeq(seq uint32) target {
	u, m := s.view.at(seq)
	return target{seq: seq, uid: u, msg: m}
}

func (s *Session) badSet(cmd *Command) {
	s.tagged(cmd.Tag, "BAD", "Invalid message sequence number")
}

// readOnly answers NO for a write to an EXAMINEd mailbox.
func (s *Session) readOnly(cmd *Command) bool {
	if s.view.readOnly {
		s.tagged(cmd.Tag, "NO", "[READ-ONLY] Mailbox is read-only")
		return true
	}
	return false
}

func (s *Session) expunge(cmd *Command) {
	if s.readOnly(cmd) {
		return
	}
	v := s.view
	v.rebase()
	var del []UID
	if cmd.UID {
		err := s.forEach(&cmd.Set, true, func(t target) bool {
			if t.msg.Flags&FlagDeleted != 0 {
				del = append(del, t.uid)
			}
			return true
		})
		if err != nil {
			s.badSet(cmd)
			return
		}
	} else {
		v.snap.Each(0, func(_ int, m *Message) bool {
			if m.Flags&FlagDeleted != 0 {
				del = append(del, m.UID)
			}
			return true
		})
	}
	if len(del) > 0 {
		if err := v.mbox.Store.Expunge(del); err != nil {
			s.storeError(cmd.Tag, err)
			return
		}
	}
	s.done(cmd)
}

func (s *Session) store(cmd *Command) {
	if s.readOnly(cmd) {
		return
	}
	v := s.view
	v.rebase()
	var uidBuf [16]UID
	uids := uidBuf[:0]
	err := s.forEach(&cmd.Set, cmd.UID, func(t target) bool {
		if t.msg != nil {
			uids = append(uids, t.uid)
		}
		return true
	})
	if err != nil {
		s.badSet(cmd)
		return
	}
	if !cmd.HasUnchanged && s.storeIsNoop(uids, cmd) {
		// Nothing would change: no write, no modseq, no wake-up. The
		// client still gets the FLAGS it asked for.
		if !cmd.Silent {
			for _, u := range uids {
				idx := v.snap.Index(u)
				s.fetchFlagsResponse(v.seqOf(u), v.snap.At(idx))
				v.pendFlags = removeUID(v.pendFlags, u)
			}
		}
		s.sync(cmd.UID)
		s.okCompleted(cmd)
		return
	}
	var modified []UID
	if cmd.HasUnchanged && cmd.UnchangedSince == 0 {
		// Every message has a modseq above 0: all fail the test
		// (RFC 7162 §3.1.3).
		modified = append(modified, uids...)
		uids = uids[:0]
	}
	if len(uids) > 0 {
		// What the client believes each message's flags are before this
		// STORE; ^0 when it has not heard of the last change yet.
		before := make([]Flags, len(uids))
		for i, u := range uids {
			if containsUID(v.pendFlags, u) {
				before[i] = ^Flags(0)
				continue
			}
			before[i] = v.snap.At(v.snap.Index(u)).Flags
		}
		flags := make([]string, len(cmd.Flags))
		for i, f := range cmd.Flags {
			flags[i] = flagName(f)
		}
		modified, err = v.mbox.Store.Store(append([]UID(nil), uids...), cmd.Op, flags, cmd.UnchangedSince)
		if err != nil {
			s.storeError(cmd.Tag, err)
			return
		}
		v.rebase()
		if int(v.lastKeywords) != len(v.snap.Keywords) {
			// A new keyword is announced before any FETCH that uses it.
			v.lastKeywords = uint16(len(v.snap.Keywords))
			s.flagsResponses(v.snap)
		}
		for i, u := range uids {
			idx := v.snap.Index(u)
			if idx < 0 || containsUID(modified, u) {
				continue
			}
			m := v.snap.At(idx)
			if !cmd.Silent {
				s.fetchFlagsResponse(v.seqOf(u), m)
				v.pendFlags = removeUID(v.pendFlags, u)
			} else if before[i] != ^Flags(0) && m.Flags == applyFlagNames(v.snap, before[i], cmd.Op, cmd.Flags) {
				// The client's own change is all that happened: .SILENT
				// means it is not echoed (RFC 9051 §6.4.6), but under
				// CONDSTORE the new MODSEQ still is (RFC 7162 §3.1.3).
				v.pendFlags = removeUID(v.pendFlags, u)
				if s.condstore() && m.ModSeq > v.flagsSeen {
					s.fetchModSeqResponse(v.seqOf(u), m)
				}
			}
		}
	}
	s.sync(cmd.UID)
	if len(modified) > 0 {
		s.out = append(s.out, cmd.Tag...)
		s.out = append(s.out, " OK [MODIFIED "...)
		if !cmd.UID {
			// STORE reports message numbers, UID STORE UIDs.
			seqs := make([]UID, 0, len(modified))
			for _, u := range modified {
				if q := v.seqOf(u); q > 0 {
					seqs = append(seqs, UID(q))
				}
			}
			sortUIDs(seqs)
			modified = seqs
		}
		s.out = appendUIDSet(s.out, modified)
		s.out = append(s.out, "] Conditional STORE failed\r\n"...)
		return
	}
	s.okCompleted(cmd)
}

// storeIsNoop reports whether a STORE would leave every flag as it is.
func (s *Session) storeIsNoop(uids []UID, cmd *Command) bool {
	v := s.view
	if cmd.Op != FlagsRemove {
		for _, n := range cmd.Flags {
			if SystemFlag(n) == 0 && v.snap.KeywordBit(n) == 0 {
				return false // a keyword the mailbox does not have yet
			}
		}
	}
	for _, u := range uids {
		m := v.snap.At(v.snap.Index(u))
		if applyFlagNames(v.snap, m.Flags, cmd.Op, cmd.Flags) != m.Flags {
			return false
		}
	}
	return true
}

// flagName returns a flag as a string, without allocating for system flags.
func flagName(f []byte) string {
	for _, sf := range systemFlagNames {
		if asciiEqualFold(f, sf.name) {
			return sf.name
		}
	}
	return string(f)
}

// applyFlagNames computes the flags a STORE would leave; keywords the
// mailbox does not know yet are ignored (they cannot be set bits yet).
func applyFlagNames(snap *Snapshot, cur Flags, op FlagOp, names [][]byte) Flags {
	var f Flags
	for _, n := range names {
		if b := SystemFlag(n); b != 0 {
			f |= b
		} else {
			f |= snap.KeywordBit(n)
		}
	}
	return op.Apply(cur, f)
}

func sortUIDs(u []UID) {
	sort.Slice(u, func(i, j int) bool { return u[i] < u[j] })
}

// appendUIDSet appends uids (ascending) as a compact sequence set.
func appendUIDSet(dst []byte, uids []UID) []byte {
	for i := 0; i < len(uids); {
		j := i
		for j+1 < len(uids) && uids[j+1] == uids[j]+1 {
			j++
		}
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = AppendNumber(dst, uint64(uids[i]))
		if j > i {
			dst = append(dst, ':')
			dst = AppendNumber(dst, uint64(uids[j]))
		}
		i = j + 1
	}
	return dst
}

func (s *Session) copyMove(cmd *Command) {
	move := cmd.Name == CmdMove
	if move && s.readOnly(cmd) {
		return
	}
	v := s.view
	v.rebase()
	var uids []UID
	err := s.forEach(&cmd.Set, cmd.UID, func(t target) bool {
		if t.msg != nil {
			uids = append(uids, t.uid)
		}
		return true
	})
	if err != nil {
		s.badSet(cmd)
		return
	}
	dest := mailboxArg(cmd.Mailbox)
	var res CopyResult
	if len(uids) > 0 {
		if move {
			res, err = v.mbox.Store.Move(uids, dest)
		} else {
			res, err = v.mbox.Store.Copy(uids, dest)
		}
	} else if _, err = s.account.Status(dest); err == nil {
		s.done(cmd)
		return
	}
	if err != nil {
		s.destError(cmd.Tag, err)
		return
	}
	if move {
		// RFC 6851 §3.3: COPYUID goes in an untagged OK before the
		// EXPUNGEs.
		s.out = append(s.out, "* OK "...)
		s.out = appendCopyUID(s.out, &res)
		s.out = append(s.out, " Moved\r\n"...)
		s.sync(true)
		s.okCompleted(cmd)
		return
	}
	s.sync(cmd.UID)
	s.out = append(s.out, cmd.Tag...)
	s.out = append(s.out, " OK "...)
	s.out = appendCopyUID(s.out, &res)
	s.out = append(s.out, " COPY completed\r\n"...)
}

func appendCopyUID(dst []byte, r *CopyResult) []byte {
	dst = append(dst, "[COPYUID "...)
	dst = AppendNumber(dst, uint64(r.UIDValidity))
	dst = append(dst, ' ')
	dst = appendUIDList(dst, r.Source)
	dst = append(dst, ' ')
	dst = appendUIDList(dst, r.Dest)
	return append(dst, ']')
}

// appendUIDList writes uids in their given order (COPYUID pairs them up by
// position), compressing ascending runs.
func appendUIDList(dst []byte, uids []UID) []byte {
	return appendUIDSet(dst, uids)
}
