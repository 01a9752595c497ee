package lmtp

import (
	"bytes"
)

// go-smtp accepts only a path with a domain in RCPT TO (RFC 5321 §4.1.2's
// Mailbox), and answers `501` to `RCPT TO:<alice>`. An MTA configured with
// bare user names (Postfix's mailbox_transport with $user, say) sends
// exactly that, so the connection's input is rewritten before go-smtp
// parses it: in command lines only, `RCPT TO:<local>` without an `@`
// becomes `RCPT TO:<local@domain>`, which Resolve maps back to `local`.
// Message content (after DATA's 354, and BDAT's counted chunks) passes
// untouched.

// rcptRewriter transforms what the client sends; it runs on the
// connection's goroutine only (go-smtp reads and writes from one).
type rcptRewriter struct {
	domain  string
	state   int
	line    []byte // the command line read so far (cmdState)
	long    bool   // the current line was too long to be RCPT: passed as is
	atStart bool   // dataState: at the start of a line
	dot     []byte // dataState: a line start that may be the final "."
	chunk   int64  // bdatState: bytes of the chunk left
	out     []byte // transformed bytes; out[off:] not yet returned
	off     int
}

const (
	cmdState         = iota
	dataPendingState // DATA sent; content follows only after a 354 reply
	dataState        // DATA content up to the line "."
	bdatState        // BDAT chunk bytes
)

// maxRewriteLine bounds what is buffered of one command line; RCPT lines
// are far shorter.
const maxRewriteLine = 1024

func newRcptRewriter(domain string) *rcptRewriter {
	if domain == "" {
		domain = "localhost"
	}
	return &rcptRewriter{domain: domain}
}

// input transforms in, appending to r.out.
func (r *rcptRewriter) input(in []byte) {
	for len(in) > 0 {
		switch r.state {
		case cmdState:
			i := bytes.IndexByte(in, '\n')
			if r.long {
				if i < 0 {
					r.out = append(r.out, in...)
					return
				}
				r.out = append(r.out, in[:i+1]...)
				in, r.long = in[i+1:], false
				continue
			}
			if i < 0 {
				r.line = append(r.line, in...)
				if len(r.line) > maxRewriteLine {
					r.out = append(r.out, r.line...)
					r.line, r.long = r.line[:0], true
				}
				return
			}
			r.line = append(r.line, in[:i+1]...)
			in = in[i+1:]
			r.command(r.line)
			r.line = r.line[:0]
		case dataPendingState:
			// A client sends no content before the 354 (RFC 2920 §3.1);
			// whatever comes is passed on as it is.
			r.out = append(r.out, in...)
			return
		case dataState:
			if r.dot != nil {
				// A line that began with "."; complete it to see whether
				// it is the end of the content.
				i := bytes.IndexByte(in, '\n')
				if i < 0 {
					r.dot = append(r.dot, in...)
					if len(r.dot) > 3 { // not ".\r\n"
						r.out, r.dot, r.atStart = append(r.out, r.dot...), nil, false
					}
					return
				}
				r.dot = append(r.dot, in[:i+1]...)
				in = in[i+1:]
				if string(r.dot) == ".\r\n" || string(r.dot) == ".\n" {
					r.state = cmdState
				}
				r.out, r.dot, r.atStart = append(r.out, r.dot...), nil, true
				continue
			}
			if r.atStart && in[0] == '.' {
				r.dot = append(make([]byte, 0, 8), '.')
				in = in[1:]
				continue
			}
			i := bytes.IndexByte(in, '\n')
			if i < 0 {
				r.out, r.atStart = append(r.out, in...), false
				return
			}
			r.out, r.atStart = append(r.out, in[:i+1]...), true
			in = in[i+1:]
		case bdatState:
			n := int64(len(in))
			if n > r.chunk {
				n = r.chunk
			}
			r.out = append(r.out, in[:n]...)
			in, r.chunk = in[n:], r.chunk-n
			if r.chunk == 0 {
				r.state = cmdState
			}
		}
	}
}

// command handles one complete command line (with its line ending).
func (r *rcptRewriter) command(line []byte) {
	body := bytes.TrimRight(line, "\r\n")
	switch {
	case hasPrefixFold(body, "RCPT TO:"):
		arg := bytes.TrimLeft(body[len("RCPT TO:"):], " ")
		if len(arg) > 2 && arg[0] == '<' {
			if end := bytes.IndexByte(arg, '>'); end > 1 && !bytes.ContainsRune(arg[1:end], '@') &&
				!bytes.ContainsAny(arg[1:end], " \t\"\\") {
				r.out = append(r.out, body[:len(body)-len(arg)]...)
				r.out = append(r.out, arg[:end]...)
				r.out = append(r.out, '@')
				r.out = append(r.out, r.domain...)
				r.out = append(r.out, arg[end:]...)
				r.out = append(r.out, line[len(body):]...)
				return
			}
		}
	case equalFold(body, "DATA"):
		r.state = dataPendingState
	case hasPrefixFold(body, "BDAT "):
		f := bytes.Fields(body[len("BDAT "):])
		if len(f) > 0 {
			var n int64
			for _, c := range f[0] {
				if c < '0' || c > '9' || n > 1<<40 {
					n = -1
					break
				}
				n = n*10 + int64(c-'0')
			}
			if n > 0 {
				r.state, r.chunk = bdatState, n
			}
		}
	}
	r.out = append(r.out, line...)
}

// reply sees what the server writes: after DATA, a 354 starts the
// content; any other reply means there is none.
func (r *rcptRewriter) reply(p []byte) {
	if r.state == dataPendingState && len(p) >= 3 {
		if string(p[:3]) == "354" {
			r.state, r.atStart = dataState, true
		} else {
			r.state = cmdState
		}
	}
}

func hasPrefixFold(b []byte, prefix string) bool {
	return len(b) >= len(prefix) && equalFold(b[:len(prefix)], prefix)
}

func equalFold(b []byte, s string) bool { return bytes.EqualFold(b, []byte(s)) }
