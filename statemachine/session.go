package statemachine

import (
	"errors"
	"strconv"
	"sync"
)

// State is an IMAP connection state (RFC 9051 §3).
type State uint8

// Connection states.
const (
	StateNotAuthenticated State = iota
	StateAuthenticated
	StateSelected
	StateLogout
)

// String names the state.
func (s State) String() string {
	switch s {
	case StateNotAuthenticated:
		return "not-authenticated"
	case StateAuthenticated:
		return "authenticated"
	case StateSelected:
		return "selected"
	}
	return "logout"
}

// mode says how the next input bytes are read.
type mode uint8

const (
	modeCommand mode = iota
	modeIdle         // waiting for DONE (RFC 2177)
	modeAuth         // waiting for an AUTHENTICATE continuation line
	modeTLS          // STARTTLS accepted; input is ignored until TLSReady
	modeClosed
	modeLitSync    // Config.GateLiterals: stopped before the "+" of a literal (EffLiteral)
	modeLitNonSync // Config.GateLiterals: stopped before the bytes of a {n+} literal (EffLiteral)
)

// Extensions a client can ENABLE (RFC 5161).
const (
	enIMAP4rev2 uint8 = 1 << iota
	enCondStore
	enQResync
	enUTF8
)

// Config is shared by every session of a server. Build it with NewConfig.
type Config struct {
	// Limits bound the size of what a client may send.
	Limits Limits
	// TLSAvailable says the listener can do STARTTLS.
	TLSAvailable bool
	// AllowPlaintextAuth allows LOGIN and AUTHENTICATE before TLS.
	AllowPlaintextAuth bool
	// ServerName is used in the greeting and ID.
	ServerName string
	// Version is reported by ID.
	Version string
	// MaxStepOutput bounds the output of one Receive step: past it the
	// session keeps the remaining pipelined commands for the next step
	// (EffMoreInput). One response may still exceed it (a large body).
	MaxStepOutput int
	// GateLiterals: stop at each literal announcement with EffLiteral and
	// admit it on the next Receive, so the I/O layer can hold a budget of
	// buffered literal bytes across connections (set before Init).
	GateLiterals bool
	// Timeouts in seconds (RFC 9051 §5.4: at least 30 minutes once
	// authenticated).
	UnauthTimeout, AutoLogout, IdleTimeout int64

	// OnCommand, when set, is called once per completed command with its
	// name and result, for metrics. be is the Backend the session was made
	// with (NewSession), so that a caller with one Backend per connection
	// can attribute the command to it. It runs on the goroutine that steps
	// the session, inside the step, and must be cheap and safe for
	// concurrent use.
	OnCommand func(be Backend, name CommandName, uid bool, result Result)

	capsPreTLS, capsPreAuth, capsAuth string
}

// Result is how a command completed.
type Result uint8

// Command results (the tagged response's status).
const (
	ResultOK Result = iota
	ResultNO
	ResultBAD
)

// String names the result as on the wire.
func (r Result) String() string {
	switch r {
	case ResultOK:
		return "OK"
	case ResultNO:
		return "NO"
	}
	return "BAD"
}

// NewConfig returns a Config with Myriad's defaults.
func NewConfig() *Config {
	c := &Config{
		Limits: Limits{
			MaxLine:           64 * 1024,
			MaxLiteral:        64 * 1024 * 1024,
			MaxNonSyncLiteral: 64 * 1024 * 1024,
			MaxCommand:        65 * 1024 * 1024,
			MaxLiterals:       1000,
		},
		MaxStepOutput: 1 << 20,
		ServerName:    "Myriad",
		Version:       "0.1",
		UnauthTimeout: 60,
		AutoLogout:    30 * 60,
		IdleTimeout:   30 * 60,
	}
	return c
}

// capabilities lists what Myriad implements. Advertise exactly what works.
const capsCommon = "IMAP4rev1 IMAP4rev2 LITERAL+ SASL-IR ID ENABLE IDLE NAMESPACE UNSELECT UIDPLUS MOVE CHILDREN LIST-EXTENDED LIST-STATUS SPECIAL-USE ESEARCH SEARCHRES STATUS=SIZE CONDSTORE QRESYNC BINARY"

func (c *Config) caps(tls bool, state State) string {
	if c.capsAuth == "" {
		lim := " APPENDLIMIT=" + strconv.FormatInt(c.Limits.MaxLiteral, 10)
		c.capsAuth = capsCommon + lim
		c.capsPreAuth = capsCommon + lim + " AUTH=PLAIN"
		c.capsPreTLS = capsCommon + lim
		if c.TLSAvailable {
			c.capsPreTLS += " STARTTLS"
		}
		if c.AllowPlaintextAuth {
			c.capsPreTLS += " AUTH=PLAIN"
		} else {
			c.capsPreTLS += " LOGINDISABLED"
		}
	}
	switch {
	case state != StateNotAuthenticated:
		return c.capsAuth
	case tls:
		return c.capsPreAuth
	}
	return c.capsPreTLS
}

// Init precomputes the capability strings; call it once after setting the
// fields and before sharing the Config between goroutines.
func (c *Config) Init() *Config {
	c.capsAuth = ""
	c.Limits.ReportNonSync = c.GateLiterals
	c.caps(false, 0)
	return c
}

// Session is one IMAP connection's protocol state. It is stepped by one
// goroutine at a time: input bytes, wake-ups and timer ticks go in, response
// bytes and Effects come out. It reads no clock (time comes in as now,
// seconds since the epoch), does no I/O of its own and starts no goroutine.
type Session struct {
	cfg     *Config
	be      Backend
	waker   Waker
	account Account
	view    *view

	in     []byte // bytes of an incomplete command; nil when none
	framer Framer

	state   State
	mode    mode
	tls     bool
	enabled uint8

	tagLen  uint8
	pending CommandName // IDLE or AUTHENTICATE waiting for its tagged response
	tagBuf  [15]byte    // tag of the command in progress (IDLE, AUTHENTICATE)
	tagBig  []byte      // tag when longer than tagBuf

	out []byte // output of the current step
}

// NewSession makes a session for a new connection. tls says the connection
// is already encrypted (implicit TLS). w is woken when a watched mailbox
// changes.
func NewSession(cfg *Config, be Backend, w Waker, tls bool) *Session {
	if cfg.capsAuth == "" {
		cfg.Init()
	}
	return &Session{cfg: cfg, be: be, waker: w, tls: tls}
}

// State returns the connection state.
func (s *Session) State() State { return s.state }

// Idling reports whether the session is in IDLE.
func (s *Session) Idling() bool { return s.mode == modeIdle }

// Start appends the greeting (RFC 9051 §7.1.1) to out.
func (s *Session) Start(now int64, out []byte) []byte {
	out = append(out, "* OK [CAPABILITY "...)
	out = append(out, s.cfg.caps(s.tls, s.state)...)
	out = append(out, "] "...)
	out = append(out, s.cfg.ServerName...)
	return append(out, " ready.\r\n"...)
}

var commandPool = sync.Pool{New: func() any { return new(Command) }}

// Receive consumes bytes from the client and appends the responses to out.
// All of in is consumed: a partial command is copied into the session.
func (s *Session) Receive(now int64, in []byte, out []byte) ([]byte, Effect) {
	s.out = out
	var eff Effect
	if s.mode == modeTLS || s.mode == modeClosed {
		// RFC 9051 §6.2.1: bytes sent before the TLS handshake completes
		// are discarded, never interpreted after it.
		out = s.out
		s.out = nil
		return out, 0
	}
	if s.mode == modeLitSync || s.mode == modeLitNonSync {
		// Config.GateLiterals: the I/O layer admitted the literal.
		if s.mode == modeLitSync {
			s.out = append(s.out, "+ Ready for literal data\r\n"...)
		}
		s.mode = modeCommand
	}
	data := in
	fromBuf := false
	if len(s.in) > 0 {
		s.in = append(s.in, in...)
		data = s.in
		fromBuf = true
	}
	pos := 0
	lim := &s.cfg.Limits
	startOut := len(s.out)
loop:
	for pos < len(data) && eff&(EffClose|EffStartTLS) == 0 {
		if s.cfg.MaxStepOutput > 0 && len(s.out)-startOut >= s.cfg.MaxStepOutput {
			eff |= EffMoreInput
			break
		}
		buf := data[pos:]
		var fr Frame
		if s.mode == modeIdle || s.mode == modeAuth {
			fr = s.framer.NextLine(buf, lim)
		} else {
			fr = s.framer.Next(buf, lim)
		}
		switch fr.Kind {
		case FrameNeedMore:
			break loop
		case FrameLine:
			line := trimCRLF(buf[:fr.N])
			pos += fr.N
			start := len(s.out)
			name := s.pending
			if s.mode == modeIdle {
				eff |= s.idleLine(line)
			} else {
				eff |= s.authLine(line)
			}
			s.report(name, false, start)
		case FrameCommand:
			cmd := commandPool.Get().(*Command)
			err := ParseCommand(buf[:fr.N], cmd, ParseOptions{UTF8: s.enabled&enUTF8 != 0})
			pos += fr.N
			start := len(s.out)
			if err != nil {
				var pe *ParseError
				if errors.As(err, &pe) {
					s.tagged(pe.Tag, "BAD", pe.Msg)
				} else {
					s.tagged(nil, "BAD", err.Error())
				}
				s.report(cmd.Name, cmd.UID, start)
			} else {
				eff |= s.dispatch(now, cmd)
				if s.mode != modeIdle && s.mode != modeAuth {
					s.report(cmd.Name, cmd.UID, start)
				} else {
					s.pending = cmd.Name
				}
			}
			cmd.Reset()
			commandPool.Put(cmd)
		case FrameContinue:
			pos += fr.N
			if s.cfg.GateLiterals && s.framer.pos > int64(len(data)-pos) {
				s.mode = modeLitSync
				eff |= EffLiteral
				break loop
			}
			s.out = append(s.out, "+ Ready for literal data\r\n"...)
		case FrameNonSync:
			pos += fr.N
			if s.framer.pos > int64(len(data)-pos) {
				s.mode = modeLitNonSync
				eff |= EffLiteral
				break loop
			}
		case FrameLiteralTooBig:
			pos += fr.N
			s.tagged(fr.Tag, "NO", "[TOOBIG] Literal exceeds the APPENDLIMIT of "+strconv.FormatInt(lim.MaxLiteral, 10)+" bytes")
		case FrameBad:
			pos += fr.N
			if len(fr.Tag) > 0 || fr.Msg != "" {
				s.tagged(fr.Tag, "BAD", fr.Msg)
			}
		case FrameFatal:
			s.out = append(s.out, "* BYE "...)
			s.out = append(s.out, fr.Msg...)
			s.out = append(s.out, "\r\n"...)
			eff |= EffClose
			s.mode = modeClosed
			break loop
		default:
			pos += fr.N
		}
	}
	if eff&(EffClose|EffStartTLS) != 0 {
		pos = len(data) // discard anything after STARTTLS or a close
	}
	rest := data[pos:]
	switch {
	case len(rest) == 0:
		s.in = nil
	case fromBuf:
		n := copy(s.in, rest)
		s.in = s.in[:n]
	default:
		s.in = append(make([]byte, 0, max(2*len(rest), 256)), rest...)
	}
	out = s.out
	s.out = nil
	return out, eff
}

// LiteralWait returns, after an EffLiteral step (Config.GateLiterals), how
// many bytes of the announced literal are still to come: its size, less any
// of its bytes already received (a non-synchronizing literal's bytes follow
// at once). The framer's position is relative to the buffered command.
func (s *Session) LiteralWait() int64 {
	if s.mode != modeLitSync && s.mode != modeLitNonSync {
		return 0
	}
	return max(0, s.framer.pos-int64(len(s.in)))
}

// Assembling reports whether part of a command is buffered: literals
// admitted after EffLiteral are held until it turns false.
func (s *Session) Assembling() bool { return s.framer != Framer{} }

// report tells Config.OnCommand how the command whose responses start at
// s.out[start:] ended: the status word of the last (tagged) line.
func (s *Session) report(name CommandName, uid bool, start int) {
	if s.cfg.OnCommand == nil {
		return
	}
	out := s.out[start:]
	if len(out) < 2 {
		return
	}
	line := out[:len(out)-2]
	for i := len(line) - 1; i > 0; i-- {
		if line[i-1] == '\r' && line[i] == '\n' {
			line = line[i+1:]
			break
		}
	}
	// "tag STATUS ..."
	sp := 0
	for sp < len(line) && line[sp] != ' ' {
		sp++
	}
	st := line[min(sp+1, len(line)):]
	r := ResultBAD
	switch {
	case len(st) >= 2 && st[0] == 'O' && st[1] == 'K':
		r = ResultOK
	case len(st) >= 2 && st[0] == 'N' && st[1] == 'O':
		r = ResultNO
	}
	s.cfg.OnCommand(s.be, name, uid, r)
}

func trimCRLF(b []byte) []byte {
	if n := len(b); n > 0 && b[n-1] == '\n' {
		b = b[:n-1]
	}
	if n := len(b); n > 0 && b[n-1] == '\r' {
		b = b[:n-1]
	}
	return b
}

// Wake tells the session that its selected mailbox changed. In IDLE the
// updates go out at once (RFC 2177); otherwise the view only moves to the
// newest snapshot so old ones can be freed, and the client hears of the
// changes at its next command.
func (s *Session) Wake(now int64, out []byte) ([]byte, Effect) {
	if s.view == nil {
		return out, 0
	}
	if s.mode == modeIdle {
		s.out = out
		s.sync(true)
		out = s.out
		s.out = nil
		return out, 0
	}
	s.view.rebase()
	return out, 0
}

// Timeout returns the seconds of client inactivity after which Tick must be
// called: RFC 9051 §5.4 (autologout after at least 30 minutes), a shorter
// limit before authentication.
func (s *Session) Timeout() int64 {
	switch {
	case s.mode == modeClosed:
		return 0
	case s.state == StateNotAuthenticated:
		return s.cfg.UnauthTimeout
	case s.mode == modeIdle:
		return s.cfg.IdleTimeout
	}
	return s.cfg.AutoLogout
}

// Tick is called when the session's timeout expired.
func (s *Session) Tick(now int64, out []byte) ([]byte, Effect) {
	s.releaseMailbox()
	s.mode = modeClosed
	s.state = StateLogout
	out = append(out, "* BYE Autologout; idle for too long\r\n"...)
	return out, EffClose
}

// Shutdown appends the BYE sent to every session when the server stops.
func (s *Session) Shutdown(out []byte) []byte {
	s.releaseMailbox()
	s.mode = modeClosed
	s.state = StateLogout
	return append(out, "* BYE Server shutting down\r\n"...)
}

// TLSReady is called when the TLS handshake after STARTTLS has finished.
func (s *Session) TLSReady() {
	s.tls = true
	if s.mode == modeTLS {
		s.mode = modeCommand
	}
	s.in = nil
	s.framer.Reset()
}

// Close releases what the session holds; the connection is gone.
func (s *Session) Close() {
	s.releaseMailbox()
	s.mode = modeClosed
	s.state = StateLogout
	s.in = nil
}

func (s *Session) releaseMailbox() {
	if s.view == nil {
		return
	}
	s.view.mbox.Unwatch(&s.view.watchSlot)
	if s.account != nil {
		s.account.Release(s.view.mbox)
	}
	s.view = nil
	if s.state == StateSelected {
		s.state = StateAuthenticated
	}
}

// setTag remembers the tag of a command that spans several steps.
func (s *Session) setTag(tag []byte) {
	if len(tag) <= len(s.tagBuf) {
		s.tagLen = uint8(copy(s.tagBuf[:], tag))
		s.tagBig = nil
		return
	}
	s.tagBig = append([]byte(nil), tag...)
}

func (s *Session) savedTag() []byte {
	if s.tagBig != nil {
		return s.tagBig
	}
	return s.tagBuf[:s.tagLen]
}

// tagged appends a tagged completion "tag status text".
func (s *Session) tagged(tag []byte, status, text string) {
	if len(tag) == 0 {
		tag = []byte{'*'}
	}
	s.out = append(s.out, tag...)
	s.out = append(s.out, ' ')
	s.out = append(s.out, status...)
	s.out = append(s.out, ' ')
	s.out = append(s.out, text...)
	s.out = append(s.out, "\r\n"...)
}

// untagged appends "* text".
func (s *Session) untagged(text string) {
	s.out = append(s.out, "* "...)
	s.out = append(s.out, text...)
	s.out = append(s.out, "\r\n"...)
}

// okCompleted appends "tag OK NAME completed".
func (s *Session) okCompleted(cmd *Command) {
	s.out = append(s.out, cmd.Tag...)
	s.out = append(s.out, " OK "...)
	if cmd.UID {
		s.out = append(s.out, "UID "...)
	}
	s.out = append(s.out, cmd.Name.String()...)
	s.out = append(s.out, " completed\r\n"...)
}

// destError is storeError for a command whose target mailbox is named by
// the client (APPEND, COPY, MOVE): a missing one gets TRYCREATE
// (RFC 9051 §6.3.12, §6.4.7), which tells the client it may create it.
func (s *Session) destError(tag []byte, err error) {
	if errors.Is(err, ErrNoSuchMailbox) {
		s.tagged(tag, "NO", "[TRYCREATE] Mailbox doesn't exist")
		return
	}
	s.storeError(tag, err)
}

// storeError maps a backend error to a tagged NO (the one place that does).
func (s *Session) storeError(tag []byte, err error) {
	switch {
	case errors.Is(err, ErrNoSuchMailbox):
		s.tagged(tag, "NO", "[NONEXISTENT] Mailbox doesn't exist")
	case errors.Is(err, ErrMailboxExists):
		s.tagged(tag, "NO", "[ALREADYEXISTS] Mailbox already exists")
	case errors.Is(err, ErrMailboxHasKids):
		s.tagged(tag, "NO", "[INUSE] Mailbox has inferior hierarchical names")
	case errors.Is(err, ErrBadMailboxName):
		s.tagged(tag, "NO", "[CANNOT] Invalid mailbox name")
	case errors.Is(err, ErrCannotDeleteInbox):
		s.tagged(tag, "NO", "[CANNOT] INBOX cannot be deleted")
	case errors.Is(err, ErrTooBig):
		s.tagged(tag, "NO", "[TOOBIG] Message too big")
	case errors.Is(err, ErrOverQuota):
		s.tagged(tag, "NO", "[OVERQUOTA] Quota exceeded")
	case errors.Is(err, ErrTooManyKeywords):
		s.tagged(tag, "NO", "[LIMIT] Too many keywords in mailbox")
	case errors.Is(err, ErrAuthFailed):
		s.tagged(tag, "NO", "[AUTHENTICATIONFAILED] Authentication failed")
	case errors.Is(err, ErrNoSuchMessage):
		s.tagged(tag, "NO", "[EXPUNGEISSUED] Some of the requested messages no longer exist")
	default:
		s.tagged(tag, "NO", "[SERVERBUG] Internal error, try again later")
	}
}
