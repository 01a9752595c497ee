// Package lmtp delivers mail into INBOX: the LMTP listener (RFC 2033, with
// github.com/emersion/go-smtp) and the delivery step that `imapd deliver`
// shares with it. A delivered message is appended through the running
// store, so sessions idling on INBOX are woken at once.
package lmtp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/myriad-mail/myriad/statemachine"
	"github.com/myriad-mail/myriad/storage"
)

// Delivery failures, by kind (each maps to an SMTP reply and a sysexits code).
var (
	ErrNoUser  = errors.New("no such user")
	ErrTooBig  = errors.New("message too big")
	ErrBadData = errors.New("malformed message")
	ErrFull    = errors.New("mailbox full")
)

// Deliverer appends messages to users' INBOX.
type Deliverer struct {
	Store     *storage.Store
	UsersPath string // the users file on disk, to know who exists
	MaxBytes  int64
	Log       *slog.Logger
	// OnResult, if set, is told the result of each delivery ("ok",
	// "no_user", "too_big", "failed").
	OnResult func(string)

	users atomic.Pointer[map[string]struct{}]
}

// Reload rereads the list of users.
func (d *Deliverer) Reload() error {
	b, err := os.ReadFile(d.UsersPath)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	lines, err := storage.ParseUsers(b)
	if err != nil {
		return err
	}
	m := make(map[string]struct{}, len(lines))
	for _, l := range lines {
		m[l.User] = struct{}{}
	}
	d.users.Store(&m)
	return nil
}

// Resolve maps a recipient (user, or user@domain, in angle brackets or not)
// to a user of the users file: the whole address first, then its local
// part, whatever the domain (the server accepts mail for any domain routed
// to it; the MTA decides which domains are local).
func (d *Deliverer) Resolve(rcpt string) (string, bool) {
	m := d.users.Load()
	if m == nil {
		return "", false
	}
	rcpt = strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(rcpt), "<"), ">")
	if _, ok := (*m)[rcpt]; ok {
		return rcpt, true
	}
	if i := strings.LastIndexByte(rcpt, '@'); i > 0 {
		if _, ok := (*m)[rcpt[:i]]; ok {
			return rcpt[:i], true
		}
	}
	return "", false
}

// Normalize returns msg with CRLF line endings (the store's format),
// prefixed by a Return-Path header when from is not empty (RFC 5321
// §4.4, what final delivery adds).
func Normalize(msg []byte, from string, hasFrom bool) []byte {
	out := make([]byte, 0, len(msg)+len(msg)/32+64)
	if hasFrom {
		out = append(out, "Return-Path: <"...)
		out = append(out, from...)
		out = append(out, ">\r\n"...)
	}
	for len(msg) > 0 {
		i := bytes.IndexByte(msg, '\n')
		if i < 0 {
			out = append(out, msg...)
			out = append(out, '\r', '\n')
			break
		}
		line := msg[:i]
		line = bytes.TrimSuffix(line, []byte{'\r'})
		out = append(out, line...)
		out = append(out, '\r', '\n')
		msg = msg[i+1:]
	}
	return out
}

// StripMboxFrom drops a leading mbox "From sender date" line, which an MTA
// piping to a delivery agent may add (Postfix pipe(8) flag F).
func StripMboxFrom(msg []byte) []byte {
	if bytes.HasPrefix(msg, []byte("From ")) {
		if i := bytes.IndexByte(msg, '\n'); i >= 0 {
			return msg[i+1:]
		}
	}
	return msg
}

// Deliver appends msg (already normalized) to user's INBOX.
func (d *Deliverer) Deliver(user string, msg []byte) (err error) {
	defer func() {
		if d.OnResult != nil {
			switch {
			case err == nil:
				d.OnResult("ok")
			case errors.Is(err, ErrNoUser):
				d.OnResult("no_user")
			case errors.Is(err, ErrTooBig):
				d.OnResult("too_big")
			default:
				d.OnResult("failed")
			}
		}
	}()
	if len(bytes.TrimSpace(msg)) == 0 {
		return ErrBadData
	}
	if d.MaxBytes > 0 && int64(len(msg)) > d.MaxBytes {
		return ErrTooBig
	}
	if _, ok := d.Resolve(user); !ok {
		return ErrNoUser
	}
	acct, err := d.Store.Account(user)
	if err != nil {
		return fmt.Errorf("open account %s: %w", user, err)
	}
	_, err = acct.Append("INBOX", nil, time.Now().Unix(), msg)
	switch {
	case errors.Is(err, statemachine.ErrTooBig):
		return ErrTooBig
	case errors.Is(err, statemachine.ErrOverQuota):
		return ErrFull
	case err != nil:
		return fmt.Errorf("append to %s: %w", user, err)
	}
	return nil
}

// SMTPError is the LMTP reply for a delivery error.
func SMTPError(err error) *smtp.SMTPError {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrNoUser):
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "No such user here"}
	case errors.Is(err, ErrTooBig):
		return &smtp.SMTPError{Code: 552, EnhancedCode: smtp.EnhancedCode{5, 3, 4}, Message: "Message too big"}
	case errors.Is(err, ErrBadData):
		return &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 6, 0}, Message: "Empty or malformed message"}
	case errors.Is(err, ErrFull):
		return &smtp.SMTPError{Code: 452, EnhancedCode: smtp.EnhancedCode{4, 2, 2}, Message: "Mailbox full"}
	}
	return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Temporary failure, try again later"}
}

// Server is an LMTP server delivering through a Deliverer.
type Server struct {
	*smtp.Server

	mu      sync.Mutex
	conns   map[*conn]struct{}
	closing bool
}

// Connection states: a connection between transactions or commands may be
// closed at shutdown; one in DATA, or whose replies to DATA may not be
// written yet, may not (the MTA would deliver the message again).
const (
	connIdle = iota
	connInData
	connReplied
)

// conn tracks where an LMTP connection is, for Shutdown, and lets
// rcptRewriter see its input and replies.
type conn struct {
	net.Conn
	srv   *Server
	state int // guarded by srv.mu
	rw    *rcptRewriter
	err   error // a read error to return once rw's output is consumed
}

func (c *conn) Read(p []byte) (int, error) {
	c.srv.mu.Lock()
	if c.state == connReplied { // reading the next command: the replies went out
		c.state = connIdle
	}
	if c.srv.closing && c.state == connIdle {
		c.srv.mu.Unlock()
		c.Conn.Close()
		return 0, io.EOF
	}
	c.srv.mu.Unlock()
	rw := c.rw
	for rw.off == len(rw.out) && c.err == nil {
		if cap(rw.out) > 64<<10 {
			rw.out = nil
		}
		rw.out, rw.off = rw.out[:0], 0
		n, err := c.Conn.Read(p)
		rw.input(p[:n])
		c.err = err
	}
	if rw.off == len(rw.out) {
		return 0, c.err
	}
	n := copy(p, rw.out[rw.off:])
	rw.off += n
	return n, nil
}

func (c *conn) Write(p []byte) (int, error) {
	c.rw.reply(p)
	return c.Conn.Write(p)
}

func (c *conn) Close() error {
	c.srv.mu.Lock()
	delete(c.srv.conns, c)
	c.srv.mu.Unlock()
	return c.Conn.Close()
}

func (c *conn) set(state int) {
	c.srv.mu.Lock()
	c.state = state
	c.srv.mu.Unlock()
}

type listener struct {
	net.Listener
	srv *Server
}

func (l listener) Accept() (net.Conn, error) {
	nc, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	c := &conn{Conn: nc, srv: l.srv, rw: newRcptRewriter(l.srv.Domain)}
	l.srv.mu.Lock()
	l.srv.conns[c] = struct{}{}
	l.srv.mu.Unlock()
	return c, nil
}

// Serve serves LMTP on ln until Shutdown.
func (s *Server) Serve(ln net.Listener) error { return s.Server.Serve(listener{ln, s}) }

// Shutdown stops accepting and closes every connection that is not in the
// middle of a delivery (an MTA that caches an idle LMTP connection must not
// hold up a shutdown); deliveries in flight finish and get their replies,
// then their connections close. It waits for that until ctx ends.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closing = true
	for c := range s.conns {
		if c.state == connIdle {
			c.Conn.Close() // unblocks its Read; go-smtp then drops it
		}
	}
	s.mu.Unlock()
	return s.Server.Shutdown(ctx)
}

// NewServer returns an LMTP server delivering through d; call Serve on it.
func NewServer(d *Deliverer, domain string, maxRcpt int) *Server {
	srv := &Server{conns: map[*conn]struct{}{}}
	s := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		tc, _ := c.Conn().(*conn)
		return &session{d: d, conn: tc}, nil
	}))
	srv.Server = s
	s.LMTP = true
	s.Network = "tcp"
	s.Domain = domain
	s.MaxRecipients = maxRcpt
	s.MaxMessageBytes = d.MaxBytes
	s.ReadTimeout = 5 * time.Minute
	s.WriteTimeout = time.Minute
	s.ErrorLog = slogLogger{d.Log}
	return srv
}

type slogLogger struct{ l *slog.Logger }

func (s slogLogger) Printf(format string, v ...any) { s.l.Warn("lmtp: " + fmt.Sprintf(format, v...)) }
func (s slogLogger) Println(v ...any)               { s.l.Warn("lmtp: " + fmt.Sprint(v...)) }

type rcpt struct{ addr, user string }

type session struct {
	d       *Deliverer
	conn    *conn // nil if the listener was not wrapped
	from    string
	hasFrom bool
	rcpts   []rcpt
}

func (s *session) Reset()        { s.from, s.hasFrom, s.rcpts = "", false, nil }
func (s *session) Logout() error { return nil }

func (s *session) Mail(from string, _ *smtp.MailOptions) error {
	s.from, s.hasFrom = from, true
	return nil
}

func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	u, ok := s.d.Resolve(to)
	if !ok {
		if s.d.OnResult != nil {
			s.d.OnResult("no_user")
		}
		return SMTPError(ErrNoUser)
	}
	s.rcpts = append(s.rcpts, rcpt{to, u})
	return nil
}

func (s *session) Data(r io.Reader) error {
	return errors.New("lmtp: Data called in LMTP mode")
}

func (s *session) LMTPData(r io.Reader, status smtp.StatusCollector) error {
	if s.conn != nil {
		s.conn.set(connInData)
		defer s.conn.set(connReplied)
	}
	b, err := io.ReadAll(r)
	if err != nil {
		return err // ErrDataTooLarge and the like: go-smtp answers them
	}
	msg := Normalize(b, s.from, s.hasFrom)
	for _, rc := range s.rcpts {
		err := s.d.Deliver(rc.user, msg)
		if err != nil {
			s.d.Log.Warn("lmtp delivery failed", "user", rc.user, "err", err)
			status.SetStatus(rc.addr, SMTPError(err))
			continue
		}
		s.d.Log.Info("delivered", "user", rc.user, "bytes", len(msg), "via", "lmtp")
		status.SetStatus(rc.addr, nil)
	}
	return nil
}
