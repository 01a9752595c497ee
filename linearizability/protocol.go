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
//   - SEARCH by sequence number returning a number the client cannot know.
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

	expunged  map[uint32]bool
	noExpunge bool
	seqSearch bool
	cmd       string
}

// Select resets the session for a new SELECT or EXAMINE.
func (s *Session) Select() {
	s.Seq = s.Seq[:0]
	s.Cache = map[uint32]Flags{}
	s.expunged = map[uint32]bool{}
	s.UIDValidity = 0
}

// Begin starts a command. noExpunge: the command is FETCH, STORE or SEARCH by
// sequence number, during which the server must not send EXPUNGE.
func (s *Session) Begin(cmd string, noExpunge, seqSearch bool) {
	s.cmd, s.noExpunge, s.seqSearch = cmd, noExpunge, seqSearch
}

// End finishes the command in progress.
func (s *Session) End() { s.noExpunge, s.seqSearch, s.cmd = false, false, "" }

// Forget drops the cached flags of uid (after a .SILENT store the client no
// longer knows them).
func (s *Session) Forget(uid uint32) { delete(s.Cache, uid) }

// Observed returns the cached flags, ascending by UID.
func (s *Session) Observed() []Msg {
	out := make([]Msg, 0, len(s.Cache))
	for u, f := range s.Cache {
		out = append(out, Msg{UID: u, Flags: f, Known: AllFlags})
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
		}
	}
	return nil
}
