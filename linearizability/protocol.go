package linearizability

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Session is the protocol checker of one IMAP session. It rebuilds, from the
// server's responses alone, what the client knows of its selected mailbox:
// the sequence-number→UID map (0 where the client has not learnt the UID)
// and the flags of the messages it has seen, and fails on any contradiction
// (RFC 9051 §2.3.1, §7.5.1):
//
//   - EXPUNGE while answering FETCH, STORE or SEARCH by sequence number;
//   - EXISTS that shrinks the mailbox (only EXPUNGE may);
//   - EXPUNGE or FETCH for a number the client cannot know;
//   - UIDs that are not strictly ascending with sequence numbers, or a number
//     whose UID changes;
//   - a UID that this session saw expunged coming back (UID reuse within one
//     UIDVALIDITY);
//   - SEARCH by sequence number returning a number the client cannot know;
//
// and, for CONDSTORE and QRESYNC (RFC 7162):
//
//   - EXPUNGE to a session that enabled QRESYNC (§3.2.10: VANISHED replaces
//     it), and VANISHED (like EXPUNGE) while answering FETCH, STORE or
//     SEARCH by sequence number;
//   - VANISHED (without EARLIER) of a UID the client cannot hold: it
//     removes the message from the sequence map, VANISHED (EARLIER) never
//     does (§3.2.10), but its UIDs may not come back;
//   - a message's MODSEQ that goes back, or that does not grow across a
//     flag change the client saw (§3.1.1: every change of the metadata
//     gets a new, higher mod-sequence);
//   - HIGHESTMODSEQ that goes back within one UIDVALIDITY of a mailbox,
//     across selections, or below a MODSEQ the client saw;
//   - a FETCH (CHANGEDSINCE m) returning a message whose MODSEQ is not above
//     m (§3.1.4.1);
//   - [MODIFIED] naming a message whose MODSEQ the client knows to be at or
//     below UNCHANGEDSINCE (§3.1.3).
//
// The simulator checks "exactly one tagged response per command" itself,
// since only it knows which tags are in flight.
type Session struct {
	// Seq maps sequence number - 1 to UID.
	Seq []uint32
	// Cache holds the flags the client learnt, by UID.
	Cache map[uint32]Flags
	// UIDValidity is the selected mailbox's, from the SELECT response.
	UIDValidity uint32
	// Mailbox is the name given to Select.
	Mailbox string
	// HighestModSeq is the last [HIGHESTMODSEQ] of this selection.
	HighestModSeq uint64
	// QResync: the session enabled QRESYNC (the caller sets it on
	// "* ENABLED QRESYNC"); it must then never get EXPUNGE.
	QResync bool

	// mods holds, by UID, what the client learnt of each message's
	// mod-sequence (RFC 7162).
	mods map[uint32]modRec
	// highest holds, by mailbox and UIDVALIDITY, the highest mod-sequence
	// this session saw, across selections: HIGHESTMODSEQ may not go below.
	highest map[string]uint64

	expunged  map[uint32]bool
	noExpunge bool
	seqSearch bool
	cmd       string

	// A FETCH with CHANGEDSINCE in progress, and what it returned.
	changedSince    uint64
	hasChangedSince bool
	returned        []uint32
	gen             uint32 // counts commands (NextCommand)
}

// NextCommand starts a command: Observed reports only the MODSEQs learnt
// from then on, which are current when the command completes; an older one
// may be stale without the client knowing (a FETCH (FLAGS) answer carries
// no MODSEQ but replaces the update that would have).
func (s *Session) NextCommand() { s.gen++ }

// modRec is what a client knows of one message's mod-sequence: mod, the
// highest MODSEQ it saw; flags, the flags it saw at or after that MODSEQ
// (when flagsKnown); changed, a flag change it saw after mod, so that the
// next MODSEQ must be above mod.
type modRec struct {
	gen        uint32 // the command in which mod was learnt
	mod        uint64
	flags      Flags
	flagsKnown bool
	changed    bool
	// stale: FLAGS came without MODSEQ after mod was learnt; the server
	// may have folded changes into it that mod does not reflect (flags
	// that changed and changed back look unchanged).
	stale bool
}

// Select resets the session for a new SELECT or EXAMINE of mailbox.
func (s *Session) Select(mailbox string) {
	s.Seq = s.Seq[:0]
	s.Cache = map[uint32]Flags{}
	s.mods = map[uint32]modRec{}
	s.expunged = map[uint32]bool{}
	s.UIDValidity = 0
	s.HighestModSeq = 0
	s.Mailbox = mailbox
}

// ModSeq returns the MODSEQ the client learnt for uid, or 0.
func (s *Session) ModSeq(uid uint32) uint64 { return s.mods[uid].mod }

// BeginChangedSince marks the command in progress as a FETCH (CHANGEDSINCE
// m): every message it returns must have a MODSEQ above m.
func (s *Session) BeginChangedSince(m uint64) {
	s.changedSince, s.hasChangedSince, s.returned = m, true, nil
}

// Returned is the UIDs that the CHANGEDSINCE fetch in progress returned so
// far (valid until the next Begin).
func (s *Session) Returned() []uint32 { return s.returned }

func (s *Session) highestKey() string {
	return s.Mailbox + "\x00" + strconv.FormatUint(uint64(s.UIDValidity), 10)
}

// sawModSeq records m as a mod-sequence of the selected mailbox.
func (s *Session) sawModSeq(m uint64) {
	if s.UIDValidity == 0 {
		return
	}
	if s.highest == nil {
		s.highest = map[string]uint64{}
	}
	k := s.highestKey()
	s.highest[k] = max(s.highest[k], m)
}

// Modified checks a tagged "OK [MODIFIED set]" of a STORE (UNCHANGEDSINCE
// m) that is ending; uid: the set holds UIDs (UID STORE), else sequence
// numbers. A message the server refused must have a MODSEQ above m
// (RFC 7162 §3.1.3); the client, told of every flag change before the
// tagged response, knows it unless it never learnt one.
func (s *Session) Modified(set []uint32, uid bool, m uint64) error {
	for _, x := range set {
		u := x
		if !uid {
			u = s.UID(int(x))
			if u == 0 && (x < 1 || int(x) > len(s.Seq)) {
				return fmt.Errorf("[MODIFIED] names message %d, client knows %d messages", x, len(s.Seq))
			}
		}
		if r, ok := s.mods[u]; ok && u != 0 && r.mod > 0 && r.mod <= m && !r.changed && !r.stale {
			return fmt.Errorf("[MODIFIED] names UID %d whose MODSEQ %d is not above UNCHANGEDSINCE %d (RFC 7162 §3.1.3)", u, r.mod, m)
		}
	}
	return nil
}

// Begin starts a command. noExpunge: the command is FETCH, STORE or SEARCH by
// sequence number, during which the server must not send EXPUNGE.
func (s *Session) Begin(cmd string, noExpunge, seqSearch bool) {
	s.cmd, s.noExpunge, s.seqSearch = cmd, noExpunge, seqSearch
}

// End finishes the command in progress.
func (s *Session) End() {
	s.noExpunge, s.seqSearch, s.cmd = false, false, ""
	s.hasChangedSince, s.changedSince = false, 0
}

// Forget drops the cached flags of uid (after a .SILENT store the client no
// longer knows them).
func (s *Session) Forget(uid uint32) { delete(s.Cache, uid) }

// Observed returns the cached flags, ascending by UID.
func (s *Session) Observed() []Msg {
	out := make([]Msg, 0, len(s.Cache))
	for u, f := range s.Cache {
		m := Msg{UID: u, Flags: f, Known: AllFlags}
		if r := s.mods[u]; r.gen == s.gen && !r.changed && !r.stale {
			m.ModSeq = r.mod
		}
		out = append(out, m)
	}
	slices.SortFunc(out, func(a, b Msg) int { return int(a.UID) - int(b.UID) })
	return out
}

// UID returns the UID of sequence number n, or 0.
func (s *Session) UID(n int) uint32 {
	if n < 1 || n > len(s.Seq) {
		return 0
	}
	return s.Seq[n-1]
}

// Untagged processes one untagged response line (without CRLF) of the
// selected state and returns the contradiction it shows, or nil.
func (s *Session) Untagged(line string) error {
	if !strings.HasPrefix(line, "* ") {
		return nil
	}
	rest := line[2:]
	if strings.HasPrefix(rest, "OK [UIDVALIDITY ") {
		v, _ := strconv.ParseUint(strings.TrimSuffix(strings.Fields(rest[16:])[0], "]"), 10, 32)
		s.UIDValidity = uint32(v)
		return nil
	}
	if strings.HasPrefix(rest, "OK [HIGHESTMODSEQ ") {
		v, err := strconv.ParseUint(strings.TrimSuffix(strings.Fields(rest[18:])[0], "]"), 10, 64)
		if err != nil {
			return fmt.Errorf("bad HIGHESTMODSEQ in %q", line)
		}
		return s.highestModSeq(v)
	}
	if strings.HasPrefix(rest, "VANISHED ") {
		return s.vanished(rest[9:])
	}
	if strings.HasPrefix(rest, "SEARCH") {
		if !s.seqSearch {
			return nil
		}
		for _, f := range strings.Fields(rest[6:]) {
			n, err := strconv.Atoi(f)
			if err == nil && (n < 1 || n > len(s.Seq)) {
				return fmt.Errorf("SEARCH returned %d, client knows %d messages", n, len(s.Seq))
			}
		}
		return nil
	}
	sp := strings.IndexByte(rest, ' ')
	if sp < 0 {
		return nil
	}
	n, err := strconv.Atoi(rest[:sp])
	if err != nil {
		return nil
	}
	word := rest[sp+1:]
	switch {
	case word == "EXISTS":
		if n < len(s.Seq) {
			return fmt.Errorf("EXISTS %d shrinks the mailbox from %d without EXPUNGE", n, len(s.Seq))
		}
		for len(s.Seq) < n {
			s.Seq = append(s.Seq, 0)
		}
	case word == "EXPUNGE":
		if s.QResync {
			return fmt.Errorf("EXPUNGE %d to a session that enabled QRESYNC (RFC 7162 §3.2.10: VANISHED replaces it)", n)
		}
		if s.noExpunge {
			return fmt.Errorf("EXPUNGE %d while answering %q (RFC 9051 §7.5.1)", n, s.cmd)
		}
		if n < 1 || n > len(s.Seq) {
			return fmt.Errorf("EXPUNGE %d of a mailbox of %d", n, len(s.Seq))
		}
		if u := s.Seq[n-1]; u != 0 {
			s.expunged[u] = true
			delete(s.Cache, u)
		}
		s.Seq = slices.Delete(s.Seq, n-1, n)
	case strings.HasPrefix(word, "FETCH "):
		if n < 1 || n > len(s.Seq) {
			return fmt.Errorf("FETCH for %d, client knows %d messages", n, len(s.Seq))
		}
		items := word[6:]
		u := s.Seq[n-1]
		if i := strings.Index(items, "UID "); i >= 0 {
			f := items[i+4:]
			j := strings.IndexAny(f, " )")
			if j < 0 {
				return fmt.Errorf("bad FETCH %q", line)
			}
			v, err := strconv.ParseUint(f[:j], 10, 32)
			if err != nil || v == 0 {
				return fmt.Errorf("bad UID in %q", line)
			}
			nu := uint32(v)
			if u != 0 && u != nu {
				return fmt.Errorf("message %d was UID %d, now UID %d", n, u, nu)
			}
			if s.expunged[nu] {
				return fmt.Errorf("UID %d came back after this session saw it expunged (UID reuse within UIDVALIDITY %d)", nu, s.UIDValidity)
			}
			for k := n - 2; k >= 0; k-- {
				if s.Seq[k] != 0 {
					if s.Seq[k] >= nu {
						return fmt.Errorf("UIDs not ascending: %d at %d, %d at %d", s.Seq[k], k+1, nu, n)
					}
					break
				}
			}
			for k := n; k < len(s.Seq); k++ {
				if s.Seq[k] != 0 {
					if s.Seq[k] <= nu {
						return fmt.Errorf("UIDs not ascending: %d at %d, %d at %d", nu, n, s.Seq[k], k+1)
					}
					break
				}
			}
			s.Seq[n-1] = nu
			u = nu
		}
		if i := strings.Index(items, "FLAGS ("); i >= 0 && u != 0 {
			f := items[i+7:]
			j := strings.IndexByte(f, ')')
			if j < 0 {
				return fmt.Errorf("bad FLAGS in %q", line)
			}
			var fl Flags
			for _, name := range strings.Fields(f[:j]) {
				fl |= FlagByName(name)
			}
			s.Cache[u] = fl
			if err := s.fetchModSeq(u, items, fl, true); err != nil {
				return err
			}
		} else {
			if err := s.fetchModSeq(u, items, 0, false); err != nil {
				return err
			}
		}
	}
	return nil
}

// highestModSeq checks an "OK [HIGHESTMODSEQ v]" of the selected mailbox.
func (s *Session) highestModSeq(v uint64) error {
	if v < s.HighestModSeq {
		return fmt.Errorf("HIGHESTMODSEQ %d after %d in the same selection", v, s.HighestModSeq)
	}
	if s.UIDValidity != 0 {
		if h := s.highest[s.highestKey()]; v < h {
			return fmt.Errorf("HIGHESTMODSEQ %d of %s (UIDVALIDITY %d) below mod-sequence %d this session saw (it never goes back, RFC 7162 §3.1.1)", v, s.Mailbox, s.UIDValidity, h)
		}
	}
	s.HighestModSeq = v
	s.sawModSeq(v)
	return nil
}

// fetchModSeq checks the MODSEQ of a FETCH response for uid (items: the
// text after "FETCH "; 0 when the client does not know the UID); fl are
// the FLAGS it carried, when hasFlags.
func (s *Session) fetchModSeq(u uint32, items string, fl Flags, hasFlags bool) error {
	if s.mods == nil {
		s.mods = map[uint32]modRec{}
	}
	r := s.mods[u]
	if hasFlags {
		if r.flagsKnown && fl != r.flags {
			r.changed = true
		}
		r.flags, r.flagsKnown = fl, true
	}
	i := strings.Index(items, "MODSEQ (")
	if i < 0 {
		if s.hasChangedSince {
			return fmt.Errorf("FETCH (CHANGEDSINCE %d) answer without MODSEQ: %q (RFC 7162 §3.1.4.1)", s.changedSince, items)
		}
		if u != 0 {
			r.stale = r.stale || (hasFlags && r.mod > 0)
			s.mods[u] = r
		}
		return nil
	}
	f := items[i+8:]
	j := strings.IndexByte(f, ')')
	if j < 0 {
		return fmt.Errorf("bad MODSEQ in %q", items)
	}
	m, err := strconv.ParseUint(f[:j], 10, 64)
	if err != nil || m == 0 {
		return fmt.Errorf("bad MODSEQ in %q", items)
	}
	if u == 0 {
		s.sawModSeq(m)
		return nil
	}
	switch {
	case m < r.mod:
		return fmt.Errorf("MODSEQ of UID %d went back from %d to %d", u, r.mod, m)
	case r.changed && m <= r.mod:
		return fmt.Errorf("flags of UID %d changed, MODSEQ stayed %d (RFC 7162 §3.1.1: every change gets a higher mod-sequence)", u, m)
	}
	if s.hasChangedSince {
		switch {
		case m > s.changedSince:
			s.returned = append(s.returned, u)
		case m == r.mod && !r.changed:
			// Not news to the client, so not an unsolicited update:
			// part of the answer, which it may not be.
			return fmt.Errorf("FETCH (CHANGEDSINCE %d) returned UID %d with MODSEQ %d (RFC 7162 §3.1.4.1)", s.changedSince, u, m)
		}
		// Else an unsolicited update of a change the client had not
		// heard of, which may come at any time (RFC 9051 §7).
	}
	r.mod, r.changed, r.stale, r.gen = m, false, false, s.gen
	if !hasFlags {
		// The flags at this mod-sequence are not known (a .SILENT STORE
		// reports MODSEQ alone).
		r.flagsKnown = false
	}
	s.mods[u] = r
	s.sawModSeq(m)
	return nil
}

// vanished applies "VANISHED [(EARLIER)] uid-set" (RFC 7162 §3.2.10).
func (s *Session) vanished(arg string) error {
	earlier := false
	if strings.HasPrefix(arg, "(EARLIER) ") {
		earlier, arg = true, arg[10:]
	}
	uids, err := ParseUIDSet(arg)
	if err != nil {
		return fmt.Errorf("bad VANISHED %q: %v", arg, err)
	}
	if earlier {
		// It reports UIDs, perhaps long gone, and changes no sequence
		// number; those the client still numbers stay until a VANISHED
		// without EARLIER removes them.
		for _, u := range uids {
			if !slices.Contains(s.Seq, u) {
				s.expunged[u] = true
				delete(s.Cache, u)
				delete(s.mods, u)
			}
		}
		return nil
	}
	if s.noExpunge {
		return fmt.Errorf("VANISHED %s while answering %q (RFC 9051 §7.5.1, RFC 7162 §3.2.10)", arg, s.cmd)
	}
	for _, u := range uids {
		k := slices.Index(s.Seq, u)
		if k < 0 {
			// The client may hold it without knowing its UID: then it
			// is one of the unknown numbers between the known UIDs
			// around it; all of them look alike, so drop the first.
			lo := 0
			for i := len(s.Seq) - 1; i >= 0; i-- {
				if s.Seq[i] != 0 && s.Seq[i] < u {
					lo = i + 1
					break
				}
			}
			if lo < len(s.Seq) && s.Seq[lo] == 0 {
				k = lo
			}
		}
		if k < 0 {
			return fmt.Errorf("VANISHED %d: no message the client holds can have that UID (%d messages)", u, len(s.Seq))
		}
		s.Seq = slices.Delete(s.Seq, k, k+1)
		s.expunged[u] = true
		delete(s.Cache, u)
		delete(s.mods, u)
	}
	return nil
}

// ParseUIDSet parses a set of UIDs without "*" ("1:3,7"), ascending.
func ParseUIDSet(text string) ([]uint32, error) {
	var out []uint32
	for _, part := range strings.Split(text, ",") {
		a, b, isRange := strings.Cut(part, ":")
		x, err := strconv.ParseUint(a, 10, 32)
		if err != nil || x == 0 {
			return nil, fmt.Errorf("bad number %q", a)
		}
		y := x
		if isRange {
			if y, err = strconv.ParseUint(b, 10, 32); err != nil || y == 0 {
				return nil, fmt.Errorf("bad number %q", b)
			}
		}
		if x > y {
			x, y = y, x
		}
		if y-x > 1<<20 {
			return nil, fmt.Errorf("range %s too large", part)
		}
		for v := x; v <= y; v++ {
			out = append(out, uint32(v))
		}
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}
