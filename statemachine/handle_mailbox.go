package statemachine

import "strings"

// nopWaker is used when the I/O layer gave no Waker (tests, benchmarks).
type nopWaker struct{}

func (nopWaker) Wake() {}

func (s *Session) selectMailbox(cmd *Command) {
	if cmd.QResync && !s.qresync() {
		// RFC 7162 §3.2.5: the QRESYNC parameter needs ENABLE QRESYNC.
		s.tagged(cmd.Tag, "BAD", "QRESYNC is not enabled")
		return
	}
	if cmd.CondStore || cmd.QResync {
		s.enabled |= enCondStore
	}
	if s.view != nil {
		s.releaseMailbox()
		// RFC 9051 §7.1 CLOSED: the previous mailbox is no longer selected.
		s.untagged("OK [CLOSED] Previous mailbox closed")
	}
	name := string(cmd.Mailbox)
	mbox, err := s.account.Open(name)
	if err != nil {
		s.storeError(cmd.Tag, err)
		return
	}
	snap := mbox.Current()
	v := &view{mbox: mbox, snap: snap, known: snap.UIDNext, readOnly: cmd.Name == CmdExamine,
		flagsSeen: snap.HighestModSeq, lastKeywords: uint16(len(snap.Keywords)), watchSlot: -1,
		noRecent: s.rev2()}
	// RFC 3501 §6.3.1: the messages this session is the first to be told
	// of are \Recent for it (read-only: without taking them from others).
	v.claimRecent(0, snap.UIDNext)
	w := s.waker
	if w == nil {
		w = nopWaker{}
	}
	mbox.Watch(w, &v.watchSlot)
	s.view = v
	s.state = StateSelected

	s.flagsResponses(snap)
	s.out = append(s.out, "* "...)
	s.out = AppendNumber(s.out, uint64(snap.Len()))
	s.out = append(s.out, " EXISTS\r\n"...)
	if !s.rev2() {
		s.appendRecent()
		snap.Each(0, func(i int, m *Message) bool {
			if m.Flags&FlagSeen == 0 {
				s.out = append(s.out, "* OK [UNSEEN "...)
				s.out = AppendNumber(s.out, uint64(i+1))
				s.out = append(s.out, "] First unseen\r\n"...)
				return false
			}
			return true
		})
	}
	s.out = append(s.out, "* OK [UIDVALIDITY "...)
	s.out = AppendNumber(s.out, uint64(snap.UIDValidity))
	s.out = append(s.out, "] UIDs valid\r\n* OK [UIDNEXT "...)
	s.out = AppendNumber(s.out, uint64(snap.UIDNext))
	s.out = append(s.out, "] Predicted next UID\r\n"...)
	if s.condstore() {
		s.out = append(s.out, "* OK [HIGHESTMODSEQ "...)
		s.out = AppendNumber(s.out, snap.HighestModSeq)
		s.out = append(s.out, "] Highest\r\n"...)
	}
	if cmd.QResync && cmd.QRUIDValidity == snap.UIDValidity {
		s.qresyncSelect(cmd)
	}
	if s.rev2() {
		s.out = append(s.out, `* LIST () "/" `...)
		s.appendMailboxName(name)
		s.out = append(s.out, "\r\n"...)
	}
	s.out = append(s.out, cmd.Tag...)
	if v.readOnly {
		s.out = append(s.out, " OK [READ-ONLY] "...)
	} else {
		s.out = append(s.out, " OK [READ-WRITE] "...)
	}
	s.out = append(s.out, cmd.Name.String()...)
	s.out = append(s.out, " completed\r\n"...)
}

// flagsResponses appends FLAGS and PERMANENTFLAGS for snap's keywords.
func (s *Session) flagsResponses(snap *Snapshot) {
	s.out = append(s.out, `* FLAGS (\Answered \Flagged \Deleted \Seen \Draft`...)
	for _, k := range snap.Keywords {
		s.out = append(s.out, ' ')
		s.out = append(s.out, k...)
	}
	s.out = append(s.out, ")\r\n"...)
	if s.view != nil && s.view.readOnly {
		s.out = append(s.out, "* OK [PERMANENTFLAGS ()] Read-only mailbox\r\n"...)
		return
	}
	s.out = append(s.out, `* OK [PERMANENTFLAGS (\Answered \Flagged \Deleted \Seen \Draft`...)
	for _, k := range snap.Keywords {
		s.out = append(s.out, ' ')
		s.out = append(s.out, k...)
	}
	s.out = append(s.out, ` \*)] Flags permitted`+"\r\n"...)
}

// appendMailboxName writes a mailbox name as an astring, encoded in modified
// UTF-7 unless the client enabled UTF8=ACCEPT (RFC 9051 §5.1.3).
func (s *Session) appendMailboxName(name string) {
	if s.enabled&enUTF8 != 0 {
		s.out = AppendStringUTF8(s.out, []byte(name), true)
		return
	}
	var enc []byte
	enc = AppendMUTF7(enc, name)
	s.out = AppendAString(s.out, enc)
}

func (s *Session) closeMailbox(cmd *Command, expunge bool) {
	v := s.view
	if expunge && !v.readOnly {
		// RFC 9051 §6.4.1: CLOSE expunges silently.
		snap := v.mbox.Current()
		var del []UID
		snap.Each(0, func(_ int, m *Message) bool {
			if m.Flags&FlagDeleted != 0 {
				del = append(del, m.UID)
			}
			return true
		})
		if len(del) > 0 {
			if err := v.mbox.Store.Expunge(del); err != nil {
				s.releaseMailbox()
				s.storeError(cmd.Tag, err)
				return
			}
		}
	}
	s.releaseMailbox()
	s.okCompleted(cmd)
}

// mailboxArg returns the mailbox argument as a store name.
func mailboxArg(b []byte) string { return string(b) }

func (s *Session) create(cmd *Command) {
	name := strings.TrimSuffix(mailboxArg(cmd.Mailbox), "/")
	if name == "INBOX" {
		s.tagged(cmd.Tag, "NO", "[ALREADYEXISTS] Mailbox already exists")
		return
	}
	if err := s.account.CreateMailbox(name, cmd.SpecialUse); err != nil {
		s.storeError(cmd.Tag, err)
		return
	}
	s.done(cmd)
}

func (s *Session) delete(cmd *Command) {
	name := mailboxArg(cmd.Mailbox)
	if name == "INBOX" {
		// RFC 3501 §6.3.4 / RFC 9051 §6.3.4: deleting INBOX is an error.
		// Refuse before the selected-mailbox check below, which would
		// otherwise close a selected INBOX for a DELETE that fails.
		s.tagged(cmd.Tag, "NO", "[CANNOT] INBOX cannot be deleted")
		return
	}
	if s.view != nil && s.selectedIs(name) {
		// Deleting the selected mailbox: its views see every message
		// expunged; keep ours consistent by closing it first.
		s.releaseMailbox()
		s.untagged("OK [CLOSED] Mailbox deleted")
	}
	if err := s.account.DeleteMailbox(name); err != nil {
		s.storeError(cmd.Tag, err)
		return
	}
	s.done(cmd)
}

// selectedIs reports whether name now names the selected mailbox. A RENAME
// (this session's or another's) moves names, so Mailbox.Name, the name at
// open time, may be stale or now belong to a newer mailbox; the backend
// hands every session the same *Mailbox for one open mailbox, so identity
// decides.
func (s *Session) selectedIs(name string) bool {
	mb, err := s.account.Open(name)
	if err != nil {
		return false
	}
	same := mb == s.view.mbox
	s.account.Release(mb)
	return same
}

func (s *Session) rename(cmd *Command) {
	if err := s.account.RenameMailbox(mailboxArg(cmd.Mailbox), mailboxArg(cmd.NewMailbox)); err != nil {
		s.storeError(cmd.Tag, err)
		return
	}
	s.done(cmd)
}

func (s *Session) subscribe(cmd *Command) {
	if err := s.account.SetSubscribed(mailboxArg(cmd.Mailbox), cmd.Name == CmdSubscribe); err != nil {
		s.storeError(cmd.Tag, err)
		return
	}
	s.done(cmd)
}

func (s *Session) status(cmd *Command) {
	name := mailboxArg(cmd.Mailbox)
	st, err := s.account.Status(name)
	if err != nil {
		s.storeError(cmd.Tag, err)
		return
	}
	s.statusResponse(name, st, cmd.StatusItems)
	s.done(cmd)
}

func (s *Session) statusResponse(name string, st MailboxStatus, items StatusItem) {
	s.out = append(s.out, "* STATUS "...)
	s.appendMailboxName(name)
	s.out = append(s.out, " ("...)
	sep := false
	item := func(label string, n uint64) {
		if sep {
			s.out = append(s.out, ' ')
		}
		sep = true
		s.out = append(s.out, label...)
		s.out = append(s.out, ' ')
		s.out = AppendNumber(s.out, n)
	}
	if items&StatusMessages != 0 {
		item("MESSAGES", uint64(st.Messages))
	}
	if items&StatusRecent != 0 {
		// RFC 3501 §6.3.10: the messages not yet claimed as \Recent by a
		// read-write session; the floor lives in the shared Mailbox, so
		// backends need not count them.
		if mb, err := s.account.Open(name); err == nil {
			st.Recent = mb.RecentCount()
			s.account.Release(mb)
		}
		item("RECENT", uint64(st.Recent))
	}
	if items&StatusUIDNext != 0 {
		item("UIDNEXT", uint64(st.UIDNext))
	}
	if items&StatusUIDValidity != 0 {
		item("UIDVALIDITY", uint64(st.UIDValidity))
	}
	if items&StatusUnseen != 0 {
		item("UNSEEN", uint64(st.Unseen))
	}
	if items&StatusDeleted != 0 {
		item("DELETED", uint64(st.Deleted))
	}
	if items&StatusSize != 0 {
		item("SIZE", st.Size)
	}
	if items&StatusAppendLimit != 0 {
		// RFC 7889 §4: the limit for this mailbox (the server-wide one).
		item("APPENDLIMIT", uint64(s.cfg.Limits.MaxLiteral))
	}
	if items&StatusHighestModSeq != 0 {
		item("HIGHESTMODSEQ", st.HighestModSeq)
	}
	s.out = append(s.out, ")\r\n"...)
}

func (s *Session) appendMessage(now int64, cmd *Command) {
	name := mailboxArg(cmd.Mailbox)
	date := now
	if cmd.HasDate {
		date = cmd.Date
	}
	flags := make([]string, 0, len(cmd.Flags))
	for _, f := range cmd.Flags {
		flags = append(flags, string(f))
	}
	res, err := s.account.Append(name, flags, date, cmd.Message)
	if err != nil {
		s.destError(cmd.Tag, err)
		return
	}
	if s.view != nil {
		s.sync(true)
	}
	s.out = append(s.out, cmd.Tag...)
	s.out = append(s.out, " OK [APPENDUID "...)
	s.out = AppendNumber(s.out, uint64(res.UIDValidity))
	s.out = append(s.out, ' ')
	s.out = AppendNumber(s.out, uint64(res.UID))
	s.out = append(s.out, "] APPEND completed\r\n"...)
}
