package statemachine

import (
	"bytes"
	"time"

	"github.com/myriad-mail/myriad/statemachine/imapmime"
)

// fetchNeeds tells what a FETCH must load for each message.
type fetchNeeds struct {
	raw      bool // the message bytes
	mime     bool // the parsed MIME tree
	setsSeen bool // an item without .PEEK sets \Seen (RFC 9051 §6.4.5)
	flags    bool // FLAGS was asked for
	modseq   bool // MODSEQ implied by CHANGEDSINCE (RFC 7162 §3.1.4.1)
	askedMod bool // MODSEQ was asked for
	uid      bool // UID was asked for (or implied by UID FETCH)
}

func fetchNeedsOf(cmd *Command) fetchNeeds {
	n := fetchNeeds{uid: cmd.UID, modseq: cmd.ChangedSince > 0}
	for i := range cmd.Items {
		it := &cmd.Items[i]
		switch it.Kind {
		case FetchFlags:
			n.flags = true
		case FetchModSeq:
			n.modseq, n.askedMod = false, true
		case FetchUID:
			n.uid = true
		case FetchEnvelope, FetchBody, FetchBodyStructure:
			n.raw, n.mime = true, true
		case FetchBodySection, FetchBinary:
			n.raw, n.mime = true, true
			if !it.Peek {
				n.setsSeen = true
			}
		case FetchBinarySize:
			n.raw, n.mime = true, true
		case FetchRFC822, FetchRFC822Text:
			n.raw, n.mime = true, true
			n.setsSeen = true
		case FetchRFC822Header:
			n.raw, n.mime = true, true
		}
	}
	return n
}

func (s *Session) fetch(cmd *Command) {
	v := s.view
	if cmd.UID {
		// Announce new messages first so that every sequence number in the
		// answers is one the client knows.
		s.sync(false)
	}
	if cmd.Vanished && (!cmd.UID || cmd.ChangedSince == 0 || !s.qresync()) {
		// RFC 7162 §3.2.6: VANISHED needs UID FETCH, CHANGEDSINCE and
		// QRESYNC enabled.
		s.tagged(cmd.Tag, "BAD", "VANISHED needs UID FETCH with CHANGEDSINCE and QRESYNC enabled")
		return
	}
	if cmd.Vanished {
		s.vanishedEarlier(&cmd.Set, cmd.ChangedSince)
	}
	need := fetchNeedsOf(cmd)
	var seenSet []UID
	if need.setsSeen && !v.readOnly {
		v.rebase()
		err := s.forEach(&cmd.Set, cmd.UID, func(t target) bool {
			if t.msg != nil && t.msg.Flags&FlagSeen == 0 {
				seenSet = append(seenSet, t.uid)
			}
			return true
		})
		if err == nil && len(seenSet) > 0 {
			if _, err := v.mbox.Store.Store(seenSet, FlagsAdd, []string{`\Seen`}, 0); err != nil {
				s.storeError(cmd.Tag, err)
				return
			}
			v.rebase()
		}
	}
	expunged := false
	var failed, binErr error
	err := s.forEach(&cmd.Set, cmd.UID, func(t target) bool {
		if t.msg == nil {
			expunged = true
			return true
		}
		if cmd.ChangedSince > 0 && t.msg.ModSeq <= cmd.ChangedSince {
			return true
		}
		if PlantedBugs.ChangedSinceOffByOne && cmd.ChangedSince > 0 && t.msg.ModSeq == cmd.ChangedSince+1 {
			return true
		}
		addFlags := !need.flags && containsUID(seenSet, t.uid)
		n := need
		if addFlags || need.flags {
			// This answer stands for the flag update another session's
			// change left pending (or for the \Seen it set itself): a
			// CONDSTORE client learns the message's new MODSEQ with it,
			// as it would from the unsolicited FETCH (RFC 7162 §3.1: MODSEQ
			// in every untagged FETCH a flag change caused, whether by
			// STORE, an implicit \Seen or an external agent).
			if !n.askedMod && s.condstore() && (addFlags || containsUID(v.pendFlags, t.uid)) {
				n.modseq = true
			}
			v.pendFlags = removeUID(v.pendFlags, t.uid)
		}
		if e := s.fetchOne(cmd, t, n, addFlags, &binErr); e != nil {
			if e == ErrNoSuchMessage {
				expunged = true
				return true
			}
			failed = e
			return false
		}
		return true
	})
	if err != nil {
		s.badSet(cmd)
		return
	}
	if failed != nil {
		s.storeError(cmd.Tag, failed)
		return
	}
	s.sync(cmd.UID)
	switch binErr {
	case nil:
	case imapmime.ErrUnknownCTE:
		s.tagged(cmd.Tag, "NO", "[UNKNOWN-CTE] Unknown Content-Transfer-Encoding")
		return
	default:
		s.tagged(cmd.Tag, "NO", "[PARSE] Invalid data in MIME part")
		return
	}
	if expunged {
		s.tagged(cmd.Tag, "NO", "[EXPUNGEISSUED] Some of the requested messages no longer exist")
		return
	}
	s.okCompleted(cmd)
}

// loadMessage returns a message and, when withPart, its MIME structure,
// from the store's structure cache when it has one.
func loadMessage(st MailboxStore, uid UID, withPart bool) ([]byte, *imapmime.Part, error) {
	if sc, ok := st.(StructureCache); ok && withPart {
		return sc.MessageStructure(uid)
	}
	raw, err := st.Message(uid)
	if err != nil || !withPart {
		return raw, nil, err
	}
	return raw, imapmime.Parse(raw), nil
}

const internalDateLayout = "_2-Jan-2006 15:04:05 -0700"

func (s *Session) appendBodyStructure(raw []byte, part *imapmime.Part, ext bool) []byte {
	if s.rev2() {
		// RFC 9051 §7.5.2 gives message/global an envelope and body too.
		return imapmime.AppendBodyStructureRev2(s.out, raw, part, ext)
	}
	return imapmime.AppendBodyStructure(s.out, raw, part, ext)
}

func (s *Session) fetchOne(cmd *Command, t target, need fetchNeeds, addFlags bool, binErr *error) error {
	m := t.msg
	var raw []byte
	var part *imapmime.Part
	if need.raw {
		var err error
		raw, part, err = loadMessage(s.view.mbox.Store, t.uid, need.mime)
		if err != nil {
			return err
		}
	}
	start := len(s.out)
	s.out = append(s.out, "* "...)
	s.out = AppendNumber(s.out, uint64(t.seq))
	s.out = append(s.out, " FETCH ("...)
	sp := false
	sep := func() {
		if sp {
			s.out = append(s.out, ' ')
		}
		sp = true
	}
	if need.uid {
		sep()
		s.out = append(s.out, "UID "...)
		s.out = AppendNumber(s.out, uint64(t.uid))
	}
	if addFlags {
		sep()
		s.appendFlags(m.Flags, m.UID)
	}
	for i := range cmd.Items {
		it := &cmd.Items[i]
		switch it.Kind {
		case FetchUID:
			continue
		case FetchFlags:
			sep()
			s.appendFlags(m.Flags, m.UID)
		case FetchInternalDate:
			sep()
			s.out = append(s.out, `INTERNALDATE "`...)
			s.out = time.Unix(m.Date, 0).UTC().AppendFormat(s.out, internalDateLayout)
			s.out = append(s.out, '"')
		case FetchRFC822Size:
			sep()
			s.out = append(s.out, "RFC822.SIZE "...)
			s.out = AppendNumber(s.out, uint64(m.Size))
		case FetchModSeq:
			sep()
			s.out = append(s.out, "MODSEQ ("...)
			s.out = AppendNumber(s.out, m.ModSeq)
			s.out = append(s.out, ')')
		case FetchEnvelope:
			sep()
			s.out = append(s.out, "ENVELOPE "...)
			s.out = imapmime.AppendEnvelope(s.out, raw, part)
		case FetchBody:
			sep()
			s.out = append(s.out, "BODY "...)
			s.out = s.appendBodyStructure(raw, part, false)
		case FetchBodyStructure:
			sep()
			s.out = append(s.out, "BODYSTRUCTURE "...)
			s.out = s.appendBodyStructure(raw, part, true)
		case FetchRFC822:
			sep()
			s.out = append(s.out, "RFC822 "...)
			s.out = AppendBodyLiteral(s.out, raw)
		case FetchRFC822Header:
			sep()
			b, _ := imapmime.Section(raw, part, nil, imapmime.Spec(SpecHeader), nil)
			s.out = append(s.out, "RFC822.HEADER "...)
			s.out = AppendBodyLiteral(s.out, b)
		case FetchRFC822Text:
			sep()
			b, _ := imapmime.Section(raw, part, nil, imapmime.Spec(SpecText), nil)
			s.out = append(s.out, "RFC822.TEXT "...)
			s.out = AppendBodyLiteral(s.out, b)
		case FetchBodySection:
			sep()
			b, ok := imapmime.Section(raw, part, it.Section.Part, imapmime.Spec(it.Section.Spec), it.Section.Fields)
			s.out = append(s.out, "BODY["...)
			s.out = imapmime.AppendSectionName(s.out, it.Section.Part, imapmime.Spec(it.Section.Spec), it.Section.Fields)
			s.out = append(s.out, ']')
			s.appendPartial(it, b, ok, false)
		case FetchBinary, FetchBinarySize:
			b, _, err := imapmime.Binary(raw, part, it.Section.Part)
			if err != nil && err != imapmime.ErrNoPart {
				// RFC 3516 §4.2: the command fails with UNKNOWN-CTE (or
				// PARSE for undecodable data); the other items still go out.
				if *binErr == nil {
					*binErr = err
				}
				continue
			}
			sep()
			if it.Kind == FetchBinarySize {
				s.out = append(s.out, "BINARY.SIZE["...)
			} else {
				s.out = append(s.out, "BINARY["...)
			}
			s.out = imapmime.AppendSectionName(s.out, it.Section.Part, imapmime.SpecNone, nil)
			s.out = append(s.out, ']')
			if it.Kind == FetchBinarySize {
				s.out = append(s.out, ' ')
				s.out = AppendNumber(s.out, uint64(len(b)))
				continue
			}
			s.appendPartial(it, b, err == nil, true)
		}
	}
	if !sp && !need.modseq {
		// Nothing to send for this message (every item failed): an
		// empty FETCH response is not valid syntax.
		s.out = s.out[:start]
		return nil
	}
	if need.modseq {
		sep()
		s.out = append(s.out, "MODSEQ ("...)
		s.out = AppendNumber(s.out, m.ModSeq)
		s.out = append(s.out, ')')
	}
	s.out = append(s.out, ")\r\n"...)
	return nil
}

// appendPartial writes " <origin> data" for a section: the whole section or
// the <offset.count> slice of it (RFC 9051 §6.4.5: an offset past the end
// gives an empty string). binary: a BINARY[] item, else BODY[].
func (s *Session) appendPartial(it *FetchAtt, b []byte, ok, binary bool) {
	if it.Partial {
		s.out = append(s.out, '<')
		s.out = AppendNumber(s.out, uint64(it.Offset))
		s.out = append(s.out, '>')
		off := int(it.Offset)
		if off > len(b) {
			off = len(b)
		}
		end := off + int(it.Count)
		if end > len(b) || end < off {
			end = len(b)
		}
		b = b[off:end]
	}
	s.out = append(s.out, ' ')
	if !ok || len(b) == 0 {
		// A section that does not exist is sent as an empty string, as
		// is an empty one.
		s.out = append(s.out, `""`...)
		return
	}
	if binary {
		s.out = AppendBinaryLiteral(s.out, b)
		return
	}
	s.out = AppendBodyLiteral(s.out, b)
}

// NUL in message content (finding F2 of docs/FUZZING.md). A message
// APPENDed as a literal8 (RFC 3516 §4.1, RFC 9051 §6.3.12) may hold NUL, but
// NUL may travel only in a literal8: CHAR8 excludes it (RFC 9051 §4.3, §9),
// and "unencoded binary strings are not permitted, unless returned in a
// <literal8> in response to a BINARY.PEEK[...] or BINARY[...] FETCH data
// item" (§4.3). The grammar gives BODY[...] and RFC822* only an nstring
// (§9, msg-att-static), BINARY[...] an nstring or a literal8. Hence:
//
//   - BINARY[...] (decoded or of an identity-encoded part) is sent as a
//     literal8 "~{n}" exactly when it holds NUL, and as a plain literal
//     otherwise (RFC 3516 §4.3 with erratum 3978: "8bit" data without NUL
//     SHOULD be a string, so that literal8 tells the client there is NUL);
//   - BODY[...], RFC822, RFC822.HEADER and RFC822.TEXT cannot say NUL at
//     all, so each NUL octet is sent as the octet 0x80 instead (as Dovecot
//     does). One octet for one keeps every size and offset the client can
//     see right: RFC822.SIZE, BODYSTRUCTURE sizes, BODY[]<offset.count>
//     partial fetches. The client that wants the NULs asks for BINARY[].

// nulStandIn replaces NUL in BODY[...] and RFC822* content.
const nulStandIn = 0x80

// AppendBodyLiteral appends b as the literal of a BODY[...], RFC822,
// RFC822.HEADER or RFC822.TEXT item: a plain literal, each NUL octet sent
// as 0x80.
func AppendBodyLiteral(dst, b []byte) []byte {
	i := bytes.IndexByte(b, 0)
	dst = AppendLiteral(dst, b)
	if i < 0 {
		return dst
	}
	body := dst[len(dst)-len(b):]
	for i >= 0 {
		body[i] = nulStandIn
		body = body[i+1:]
		i = bytes.IndexByte(body, 0)
	}
	return dst
}

// AppendBinaryLiteral appends b as the literal of a BINARY[...] item: a
// literal8 when b holds NUL, a plain literal otherwise.
func AppendBinaryLiteral(dst, b []byte) []byte {
	if bytes.IndexByte(b, 0) >= 0 {
		dst = append(dst, '~')
	}
	return AppendLiteral(dst, b)
}
