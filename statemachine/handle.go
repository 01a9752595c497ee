package statemachine

import (
	"bytes"
	"encoding/base64"
)

// States in which each command is valid (RFC 9051 §6).
const (
	inNotAuth  = 1 << StateNotAuthenticated
	inAuth     = 1 << StateAuthenticated
	inSelected = 1 << StateSelected
	inAny      = inNotAuth | inAuth | inSelected
	inLoggedIn = inAuth | inSelected
)

var validIn = [cmdCount]uint8{
	CmdCapability:   inAny,
	CmdNoop:         inAny,
	CmdLogout:       inAny,
	CmdID:           inAny,
	CmdStartTLS:     inNotAuth,
	CmdAuthenticate: inNotAuth,
	CmdLogin:        inNotAuth,
	CmdEnable:       inLoggedIn, // RFC 5161 §3.1 says authenticated; selected is tolerated
	CmdNamespace:    inLoggedIn,
	CmdSelect:       inLoggedIn,
	CmdExamine:      inLoggedIn,
	CmdCreate:       inLoggedIn,
	CmdDelete:       inLoggedIn,
	CmdRename:       inLoggedIn,
	CmdSubscribe:    inLoggedIn,
	CmdUnsubscribe:  inLoggedIn,
	CmdList:         inLoggedIn,
	CmdLsub:         inLoggedIn,
	CmdStatus:       inLoggedIn,
	CmdAppend:       inLoggedIn,
	CmdIdle:         inLoggedIn,
	CmdCheck:        inSelected,
	CmdClose:        inSelected,
	CmdUnselect:     inSelected,
	CmdExpunge:      inSelected,
	CmdSearch:       inSelected,
	CmdFetch:        inSelected,
	CmdStore:        inSelected,
	CmdCopy:         inSelected,
	CmdMove:         inSelected,
}

func (s *Session) dispatch(now int64, cmd *Command) Effect {
	if validIn[cmd.Name]&(1<<s.state) == 0 {
		switch {
		case s.state == StateNotAuthenticated:
			s.tagged(cmd.Tag, "BAD", "Command not valid before authentication")
		case cmd.Name == CmdLogin || cmd.Name == CmdAuthenticate:
			s.tagged(cmd.Tag, "BAD", "Already authenticated")
		case cmd.Name == CmdStartTLS:
			s.tagged(cmd.Tag, "BAD", "STARTTLS is only valid before authentication")
		default:
			s.tagged(cmd.Tag, "BAD", "No mailbox selected")
		}
		return 0
	}
	if s.enabled&enCondStore == 0 && cmd.Name != CmdSelect && cmd.Name != CmdExamine && enablesCondstore(cmd) {
		s.condstoreOn()
	}
	switch cmd.Name {
	case CmdCapability:
		s.untagged("CAPABILITY " + s.cfg.caps(s.tls, s.state))
		s.done(cmd)
	case CmdNoop, CmdCheck:
		s.done(cmd)
	case CmdLogout:
		s.releaseMailbox()
		s.out = append(s.out, "* BYE Logging out\r\n"...)
		s.okCompleted(cmd)
		s.state = StateLogout
		s.mode = modeClosed
		return EffClose
	case CmdStartTLS:
		if !s.cfg.TLSAvailable || s.tls {
			s.tagged(cmd.Tag, "BAD", "STARTTLS not available")
			return 0
		}
		s.tagged(cmd.Tag, "OK", "Begin TLS negotiation now")
		s.mode = modeTLS
		return EffStartTLS
	case CmdLogin:
		return s.login(cmd)
	case CmdAuthenticate:
		return s.authenticate(cmd)
	case CmdEnable:
		s.enable(cmd)
	case CmdID:
		s.out = append(s.out, `* ID ("name" `...)
		s.out = AppendString(s.out, []byte(s.cfg.ServerName))
		s.out = append(s.out, ` "version" `...)
		s.out = AppendString(s.out, []byte(s.cfg.Version))
		s.out = append(s.out, ")\r\n"...)
		s.done(cmd)
	case CmdNamespace:
		s.untagged(`NAMESPACE (("" "/")) NIL NIL`)
		s.done(cmd)
	case CmdSelect, CmdExamine:
		s.selectMailbox(cmd)
	case CmdCreate:
		s.create(cmd)
	case CmdDelete:
		s.delete(cmd)
	case CmdRename:
		s.rename(cmd)
	case CmdSubscribe, CmdUnsubscribe:
		s.subscribe(cmd)
	case CmdList, CmdLsub:
		s.list(cmd)
	case CmdStatus:
		s.status(cmd)
	case CmdAppend:
		s.appendMessage(now, cmd)
	case CmdIdle:
		s.setTag(cmd.Tag)
		s.mode = modeIdle
		s.out = append(s.out, "+ idling\r\n"...)
		if s.view != nil {
			s.sync(true)
		}
		return EffTimerChanged
	case CmdClose:
		s.closeMailbox(cmd, true)
	case CmdUnselect:
		s.closeMailbox(cmd, false)
	case CmdExpunge:
		s.expunge(cmd)
	case CmdSearch:
		s.search(cmd)
	case CmdFetch:
		s.fetch(cmd)
	case CmdStore:
		s.store(cmd)
	case CmdCopy, CmdMove:
		s.copyMove(cmd)
	default:
		s.tagged(cmd.Tag, "BAD", "Unknown command")
	}
	return 0
}

// done finishes a command that may announce every kind of update: it sends
// what changed in the selected mailbox, then the tagged OK.
func (s *Session) done(cmd *Command) {
	if s.view != nil {
		s.sync(true)
	}
	s.okCompleted(cmd)
}

// idleLine handles a line received in IDLE: only DONE is valid.
func (s *Session) idleLine(line []byte) Effect {
	s.mode = modeCommand
	tag := s.savedTag()
	if !asciiEqualFold(line, "DONE") {
		s.tagged(tag, "BAD", "Expected DONE")
		return EffTimerChanged
	}
	if s.view != nil {
		s.sync(true)
	}
	s.tagged(tag, "OK", "IDLE terminated")
	return EffTimerChanged
}

func (s *Session) plaintextRefused() bool {
	return !s.tls && !s.cfg.AllowPlaintextAuth
}

func (s *Session) login(cmd *Command) Effect {
	if s.plaintextRefused() {
		s.tagged(cmd.Tag, "NO", "[PRIVACYREQUIRED] Plaintext authentication is disallowed without TLS")
		return 0
	}
	return s.loginWith(cmd.Tag, string(cmd.User), string(cmd.Password))
}

func (s *Session) loginWith(tag []byte, user, pass string) Effect {
	acct, err := s.be.Login(user, pass)
	if err != nil {
		s.storeError(tag, err)
		return 0
	}
	s.account = acct
	s.state = StateAuthenticated
	s.out = append(s.out, tag...)
	s.out = append(s.out, " OK [CAPABILITY "...)
	s.out = append(s.out, s.cfg.caps(s.tls, s.state)...)
	s.out = append(s.out, "] Logged in\r\n"...)
	return EffTimerChanged
}

func (s *Session) authenticate(cmd *Command) Effect {
	if !asciiEqualFold(cmd.Mechanism, "PLAIN") {
		s.tagged(cmd.Tag, "NO", "[CANNOT] Unsupported authentication mechanism")
		return 0
	}
	if s.plaintextRefused() {
		s.tagged(cmd.Tag, "NO", "[PRIVACYREQUIRED] Plaintext authentication is disallowed without TLS")
		return 0
	}
	if cmd.HasInitialResp {
		return s.saslPlain(cmd.Tag, cmd.InitialResp)
	}
	s.setTag(cmd.Tag)
	s.mode = modeAuth
	s.out = append(s.out, "+ \r\n"...)
	return 0
}

// authLine handles the client's answer to the AUTHENTICATE continuation.
func (s *Session) authLine(line []byte) Effect {
	s.mode = modeCommand
	tag := append([]byte(nil), s.savedTag()...)
	if len(line) == 1 && line[0] == '*' {
		s.tagged(tag, "BAD", "Authentication cancelled")
		return 0
	}
	return s.saslPlain(tag, line)
}

// saslPlain checks a base64 SASL PLAIN message (RFC 4616):
// [authzid] NUL authcid NUL passwd.
func (s *Session) saslPlain(tag, b64 []byte) Effect {
	var raw []byte
	if !(len(b64) == 1 && b64[0] == '=') {
		var err error
		raw, err = base64.StdEncoding.DecodeString(string(b64))
		if err != nil {
			s.tagged(tag, "BAD", "Invalid base64 data")
			return 0
		}
	}
	parts := bytes.Split(raw, []byte{0})
	if len(parts) != 3 || len(parts[1]) == 0 {
		s.tagged(tag, "BAD", "Invalid SASL PLAIN message")
		return 0
	}
	if len(parts[0]) > 0 && !bytes.Equal(parts[0], parts[1]) {
		s.tagged(tag, "NO", "[AUTHORIZATIONFAILED] Authorization identity differs from authentication identity")
		return 0
	}
	return s.loginWith(tag, string(parts[1]), string(parts[2]))
}

func (s *Session) enable(cmd *Command) {
	var got []byte
	for _, c := range cmd.Args {
		var bit uint8
		switch {
		case asciiEqualFold(c, "IMAP4rev2"):
			// RFC 9051 includes UTF-8 mailbox names (RFC 9755 §1:
			// IMAP4rev2 contains everything of UTF8=ACCEPT).
			bit = enIMAP4rev2
			s.enabled |= enUTF8
			if s.view != nil {
				s.view.noRecent = true // RFC 9051 has no \Recent
			}
		case asciiEqualFold(c, "CONDSTORE"):
			bit = enCondStore
		case asciiEqualFold(c, "QRESYNC"):
			// RFC 7162 §3.2.3: QRESYNC implies CONDSTORE.
			bit = enQResync
			s.condstoreOn()
		}
		if bit == 0 || s.enabled&bit != 0 {
			continue
		}
		s.enabled |= bit
		got = append(got, ' ')
		got = append(got, c...)
	}
	s.out = append(s.out, "* ENABLED"...)
	s.out = append(s.out, got...)
	s.out = append(s.out, "\r\n"...)
	s.done(cmd)
}

// condstore reports whether the client enabled CONDSTORE, explicitly or
// with a CONDSTORE enabling command (RFC 7162 §3.1).
func (s *Session) condstore() bool { return s.enabled&enCondStore != 0 }

// qresync reports whether the client enabled QRESYNC (RFC 7162 §3.2.3).
func (s *Session) qresync() bool { return s.enabled&enQResync != 0 }

// condstoreOn enables CONDSTORE. RFC 7162 §3.1: when that happens while a
// mailbox is selected, the client learns its HIGHESTMODSEQ.
func (s *Session) condstoreOn() {
	if s.enabled&enCondStore != 0 {
		return
	}
	s.enabled |= enCondStore
	if s.view != nil {
		s.out = append(s.out, "* OK [HIGHESTMODSEQ "...)
		s.out = AppendNumber(s.out, s.view.snap.HighestModSeq)
		s.out = append(s.out, "] Highest\r\n"...)
	}
}

// enablesCondstore reports whether cmd is a CONDSTORE enabling command
// (RFC 7162 §3.1).
func enablesCondstore(cmd *Command) bool {
	switch cmd.Name {
	case CmdSelect, CmdExamine:
		return cmd.CondStore || cmd.QResync
	case CmdStatus:
		return cmd.StatusItems&StatusHighestModSeq != 0
	case CmdStore:
		return cmd.HasUnchanged
	case CmdFetch:
		if cmd.ChangedSince > 0 {
			return true
		}
		for i := range cmd.Items {
			if cmd.Items[i].Kind == FetchModSeq {
				return true
			}
		}
	case CmdSearch:
		return searchUsesModSeq(&cmd.Search)
	}
	return false
}

func searchUsesModSeq(k *SearchKey) bool {
	if k.Op == SearchModSeq {
		return true
	}
	for i := range k.Sub {
		if searchUsesModSeq(&k.Sub[i]) {
			return true
		}
	}
	return false
}

// rev2 reports whether the client enabled IMAP4rev2 (RFC 9051 §6.3.1).
func (s *Session) rev2() bool { return s.enabled&enIMAP4rev2 != 0 }
