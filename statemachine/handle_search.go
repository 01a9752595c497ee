package statemachine

import (
	"time"

	"github.com/myriad-mail/myriad/statemachine/imapmime"
)

// searchMsg evaluates search keys against one message, loading and parsing
// the message only when a key needs its text.
type searchMsg struct {
	s      *Session
	seq    uint32
	m      *Message
	raw    []byte
	part   *imapmime.Part
	loaded bool
	err    error
}

func (c *searchMsg) load() bool {
	if !c.loaded {
		c.loaded = true
		c.raw, c.part, c.err = loadMessage(c.s.view.mbox.Store, c.m.UID, true)
	}
	return c.err == nil
}

// dayOf returns the calendar day of t (UTC; the internal date carries no
// zone once stored) as a comparable number.
func dayOf(unix int64) int64 {
	return unix / 86400
	// Negative dates do not occur in mail stores.
}

func dayOfDate(d Date) int64 {
	return time.Date(int(d.Year), time.Month(d.Month), int(d.Day), 0, 0, 0, 0, time.UTC).Unix() / 86400
}

func inSet(set *SeqSet, n uint32, star uint32, saved []UID, uid UID, isUID bool) bool {
	if set.Saved {
		return containsUID(saved, uid)
	}
	for _, r := range set.Ranges {
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
		if a <= n && n <= b {
			return true
		}
	}
	return false
}

func (c *searchMsg) match(k *SearchKey) bool {
	v := c.s.view
	m := c.m
	switch k.Op {
	case SearchAll:
		return true
	case SearchAnd:
		for i := range k.Sub {
			if !c.match(&k.Sub[i]) {
				return false
			}
		}
		return true
	case SearchOr:
		return c.match(&k.Sub[0]) || c.match(&k.Sub[1])
	case SearchNot:
		return !c.match(&k.Sub[0])
	case SearchSeqSet:
		return inSet(&k.Set, c.seq, v.count(), v.searchRes, m.UID, false)
	case SearchUIDSet:
		return inSet(&k.Set, uint32(m.UID), uint32(v.maxUID()), v.searchRes, m.UID, true)
	case SearchAnswered:
		return m.Flags&FlagAnswered != 0
	case SearchDeleted:
		return m.Flags&FlagDeleted != 0
	case SearchDraft:
		return m.Flags&FlagDraft != 0
	case SearchFlagged:
		return m.Flags&FlagFlagged != 0
	case SearchSeen:
		return m.Flags&FlagSeen != 0
	case SearchRecent: // RFC 3501 §6.4.4
		return v.isRecent(m.UID)
	case SearchNew: // RECENT UNSEEN
		return v.isRecent(m.UID) && m.Flags&FlagSeen == 0
	case SearchOld: // NOT RECENT
		return !v.isRecent(m.UID)
	case SearchUnanswered:
		return m.Flags&FlagAnswered == 0
	case SearchUndeleted:
		return m.Flags&FlagDeleted == 0
	case SearchUndraft:
		return m.Flags&FlagDraft == 0
	case SearchUnflagged:
		return m.Flags&FlagFlagged == 0
	case SearchUnseen:
		return m.Flags&FlagSeen == 0
	case SearchKeyword:
		b := v.snap.KeywordBit(k.Str)
		return b != 0 && m.Flags&b != 0
	case SearchUnkeyword:
		b := v.snap.KeywordBit(k.Str)
		return b == 0 || m.Flags&b == 0
	case SearchLarger:
		return uint64(m.Size) > k.Num
	case SearchSmaller:
		return uint64(m.Size) < k.Num
	case SearchModSeq:
		return m.ModSeq >= k.Num
	case SearchBefore:
		return dayOf(m.Date) < dayOfDate(k.Date)
	case SearchOn:
		return dayOf(m.Date) == dayOfDate(k.Date)
	case SearchSince:
		return dayOf(m.Date) >= dayOfDate(k.Date)
	case SearchSentBefore, SearchSentOn, SearchSentSince:
		if !c.load() {
			return false
		}
		// The date in the Date field's own zone (RFC 3501 §6.4.4:
		// "disregarding time and timezone").
		t, ok := imapmime.SentDay(c.raw, c.part)
		if !ok {
			return false
		}
		d, want := dayOf(t), dayOfDate(k.Date)
		switch k.Op {
		case SearchSentBefore:
			return d < want
		case SearchSentOn:
			return d == want
		}
		return d >= want
	case SearchBcc, SearchCc, SearchFrom, SearchTo, SearchSubject:
		if !c.load() {
			return false
		}
		return imapmime.MatchHeader(c.raw, c.part, []byte(headerOfKey[k.Op]), k.Str)
	case SearchHeader:
		if !c.load() {
			return false
		}
		return imapmime.MatchHeader(c.raw, c.part, k.Field, k.Str)
	case SearchBody:
		if !c.load() {
			return false
		}
		return imapmime.MatchBody(c.raw, c.part, k.Str)
	case SearchText:
		if !c.load() {
			return false
		}
		return imapmime.MatchText(c.raw, c.part, k.Str)
	}
	return false
}

var headerOfKey = map[SearchOp]string{
	SearchBcc: "Bcc", SearchCc: "Cc", SearchFrom: "From", SearchTo: "To", SearchSubject: "Subject",
}

// validCharset reports whether SEARCH can use the charset (RFC 9051 §6.4.4:
// US-ASCII and UTF-8 are required).
func validCharset(cs []byte) bool {
	return len(cs) == 0 || asciiEqualFold(cs, "UTF-8") || asciiEqualFold(cs, "US-ASCII")
}

func (s *Session) search(cmd *Command) {
	if !validCharset(cmd.Charset) {
		s.tagged(cmd.Tag, "NO", "[BADCHARSET (US-ASCII UTF-8)] Unsupported charset")
		return
	}
	v := s.view
	if cmd.UID {
		s.sync(false)
	}
	v.rebase()
	var seqs []uint32
	var uids []UID
	var maxModSeq uint64 // RFC 7162 §3.1.5: reported when the search used MODSEQ
	useModSeq := searchUsesModSeq(&cmd.Search)
	var failed error
	n := v.knownLen()
	seq := uint32(0)
	pi := 0
	for i := 0; i < n; i++ {
		m := v.snap.At(i)
		for pi < len(v.pend) && v.pend[pi] < m.UID {
			pi++
		}
		seq = uint32(i + pi + 1)
		c := searchMsg{s: s, seq: seq, m: m}
		if c.match(&cmd.Search) {
			seqs = append(seqs, seq)
			uids = append(uids, m.UID)
			if m.ModSeq > maxModSeq {
				maxModSeq = m.ModSeq
			}
		}
		if c.err != nil && c.err != ErrNoSuchMessage {
			failed = c.err
			break
		}
	}
	if failed != nil {
		s.storeError(cmd.Tag, failed)
		return
	}
	ret := cmd.Return
	esearch := cmd.HasReturn || s.rev2()
	if cmd.HasReturn && ret == 0 {
		ret = ReturnAll
	}
	if !cmd.HasReturn {
		ret = ReturnAll
	}
	if ret&ReturnSave != 0 {
		// RFC 5182 §2.4: with MIN or MAX only those are saved.
		switch {
		case ret&(ReturnMin|ReturnMax) != 0 && ret&(ReturnAll|ReturnCount) == 0:
			var saved []UID
			if len(uids) > 0 {
				if ret&ReturnMin != 0 {
					saved = append(saved, uids[0])
				}
				if ret&ReturnMax != 0 && (len(saved) == 0 || saved[0] != uids[len(uids)-1]) {
					saved = append(saved, uids[len(uids)-1])
				}
			}
			v.searchRes = saved
		default:
			v.searchRes = append([]UID(nil), uids...)
		}
	}
	if ret&^ReturnSave == 0 {
		// SAVE alone: no result is sent.
	} else if esearch {
		s.out = append(s.out, `* ESEARCH (TAG `...)
		s.out = AppendQuoted(s.out, cmd.Tag)
		s.out = append(s.out, ')')
		if cmd.UID {
			s.out = append(s.out, " UID"...)
		}
		num := func(i int) uint64 {
			if cmd.UID {
				return uint64(uids[i])
			}
			return uint64(seqs[i])
		}
		if len(uids) > 0 {
			if ret&ReturnMin != 0 {
				s.out = append(s.out, " MIN "...)
				s.out = AppendNumber(s.out, num(0))
			}
			if ret&ReturnMax != 0 {
				s.out = append(s.out, " MAX "...)
				s.out = AppendNumber(s.out, num(len(uids)-1))
			}
		}
		if ret&ReturnCount != 0 {
			s.out = append(s.out, " COUNT "...)
			s.out = AppendNumber(s.out, uint64(len(uids)))
		}
		if ret&ReturnAll != 0 && len(uids) > 0 {
			s.out = append(s.out, " ALL "...)
			if cmd.UID {
				s.out = appendUIDSet(s.out, uids)
			} else {
				s.out = appendSeqSet(s.out, seqs)
			}
		}
		if useModSeq && len(uids) > 0 {
			s.out = append(s.out, " MODSEQ "...)
			s.out = AppendNumber(s.out, maxModSeq)
		}
		s.out = append(s.out, "\r\n"...)
	} else {
		s.out = append(s.out, "* SEARCH"...)
		for i := range uids {
			s.out = append(s.out, ' ')
			if cmd.UID {
				s.out = AppendNumber(s.out, uint64(uids[i]))
			} else {
				s.out = AppendNumber(s.out, uint64(seqs[i]))
			}
		}
		if useModSeq && len(uids) > 0 {
			s.out = append(s.out, " (MODSEQ "...)
			s.out = AppendNumber(s.out, maxModSeq)
			s.out = append(s.out, ')')
		}
		s.out = append(s.out, "\r\n"...)
	}
	s.sync(cmd.UID)
	s.okCompleted(cmd)
}

func appendSeqSet(dst []byte, seqs []uint32) []byte {
	u := make([]UID, len(seqs))
	for i, q := range seqs {
		u[i] = UID(q)
	}
	return appendUIDSet(dst, u)
}
