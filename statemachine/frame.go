package statemachine

import "bytes"

// The framer finds where one client command ends in the bytes received so
// far, in the manner of Dovecot's imap-parser: it never reads, it is called
// again when more bytes arrived, and it remembers where it stopped so that no
// byte is scanned twice. It knows just enough syntax to find the end of a
// command: quoted strings (a "{5}" inside quotes is no literal) and literal
// announcements "{n}", "{n+}" and "~{n}" at the end of a line (RFC 9051 §4.3,
// RFC 7888, RFC 3516). The command itself is parsed by ParseCommand once it is
// complete.
//
// Every byte the caller must keep buffered is bounded by Limits: a line by
// MaxLine, a literal by MaxLiteral (or MaxNonSyncLiteral), a whole command by
// MaxCommand. A line over MaxLine is answered with BAD and skipped without
// buffering it, so the connection resynchronises at the next line.

// Limits bounds what one command may hold.
type Limits struct {
	MaxLine           int   // longest line, line end included, literal bytes excluded
	MaxLiteral        int64 // APPENDLIMIT: the largest literal accepted
	MaxNonSyncLiteral int64 // the largest non-synchronizing literal {n+}: 4096 under LITERAL-, MaxLiteral under LITERAL+
	MaxCommand        int64 // all bytes of one command, literals included
	MaxLiterals       int   // how many literals one command may hold
	// ReportNonSync: Next returns FrameNonSync when a non-synchronizing
	// literal is announced (for an I/O layer that admits literal bytes
	// against a budget, Config.GateLiterals); otherwise it reads on.
	ReportNonSync bool
}

// DefaultLimits is used for a nil *Limits and for each zero field of one.
var DefaultLimits = Limits{
	MaxLine:           64 * 1024,
	MaxLiteral:        64 << 20,
	MaxNonSyncLiteral: 64 << 20,
	MaxCommand:        64<<20 + 1<<20,
	MaxLiterals:       1000,
}

// FrameKind says what Framer.Next found.
type FrameKind uint8

// Frame kinds. Whatever the kind, the caller drops buf[:Frame.N] (after
// using it) and, unless the kind is FrameNeedMore (or FrameFatal), calls
// Next again on what is left before waiting for more input: the rest may
// already hold the next command.
const (
	// FrameNeedMore: no complete command yet; wait for more bytes. N is 0.
	FrameNeedMore FrameKind = iota
	// FrameCommand: buf[:N] is one whole command (its lines and literals,
	// ending with CRLF or LF), ready for ParseCommand.
	FrameCommand
	// FrameContinue: a synchronizing literal of Size bytes was announced and
	// is within the limits; send "+ Ready for literal data" (RFC 9051 §7.5).
	// N is 0: nothing is dropped, the command is still being received.
	FrameContinue
	// FrameLiteralTooBig: a synchronizing literal of Size bytes is over the
	// limits. Answer "<Tag> NO <Msg>" (Msg starts with [TOOBIG]) and drop
	// buf[:N], which ends with the "{n}" line: the command is abandoned and
	// the client, never having seen "+", does not send the literal (RFC 9051
	// §7.1, RFC 7889).
	FrameLiteralTooBig
	// FrameBad: drop buf[:N] and answer "<Tag> BAD <Msg>" ("*" for an empty
	// Tag). Used for a line over MaxLine, a command over MaxCommand and too
	// many literals. When the line was not complete yet the framer goes on
	// skipping it (FrameSkip) up to its end, without buffering it.
	FrameBad
	// FrameFatal: the connection cannot go on: a non-synchronizing literal
	// over the limits, whose bytes the client sends regardless. Answer
	// "<Tag> BAD <Msg>" if the session wishes, then "* BYE <Msg>", and close
	// (RFC 7888 §4).
	FrameFatal
	// FrameLine: from NextLine, buf[:N] is one line, line end included.
	FrameLine
	// FrameSkip: drop buf[:N] silently and call again. It comes while the
	// rest of a too long line (answered by one FrameBad) is skipped, so
	// that such a line is never buffered.
	FrameSkip
	// FrameNonSync: a non-synchronizing literal of Size bytes was announced
	// (only with Limits.ReportNonSync); its bytes follow without a
	// continuation. N is 0: call again to read on.
	FrameNonSync
)

var frameKindNames = [...]string{"NeedMore", "Command", "Continue", "LiteralTooBig", "Bad", "Fatal", "Line", "Skip", "NonSync"}

// String names the kind, for tests and logs.
func (k FrameKind) String() string {
	if int(k) < len(frameKindNames) {
		return frameKindNames[k]
	}
	return "FrameKind(?)"
}

// Frame is the result of Framer.Next and Framer.NextLine.
type Frame struct {
	Kind FrameKind
	N    int    // bytes of buf the caller drops now
	Tag  []byte // the command's tag, a view into buf, for the answers that need one (nil if not known)
	Size int64  // the announced literal size (FrameContinue, FrameLiteralTooBig, FrameFatal)
	Msg  string // response text for FrameLiteralTooBig, FrameBad, FrameFatal
}

// Response texts of the framer.
const (
	msgLineTooLong     = "[TOOBIG] Command line too long"
	msgCommandTooLong  = "[TOOBIG] Command too long"
	msgLiteralTooBig   = "[TOOBIG] Literal too big"
	msgTooManyLiterals = "[LIMIT] Too many literals in one command"
	msgNonSyncTooBig   = "[TOOBIG] Non-synchronizing literal too big"
	msgNonSyncTooMany  = "[LIMIT] Too many literals in one command"
)

// Framer finds command boundaries in a stream of bytes. The zero value is
// ready. It is 32 bytes, small enough to live in every session.
//
// Positions are offsets into buf, whose start the caller keeps fixed until a
// frame tells it to drop bytes.
//
// Next and NextLine share the state: switch between them only after a frame
// that completed something (FrameCommand, FrameLine, FrameLiteralTooBig,
// FrameBad once its line is skipped), or call Reset first; both are in that
// state after each such frame. Typical session loop:
//
//	for {
//		fr := f.Next(buf, lim) // or f.NextLine in IDLE / AUTHENTICATE
//		... act on fr.Kind (buf[:fr.N] is valid until dropped) ...
//		buf = buf[fr.N:]
//		if fr.Kind == FrameNeedMore || fr.Kind == FrameFatal {
//			break // wait for input (or close)
//		}
//	}
type Framer struct {
	pos  int64  // next byte of buf to scan
	line int64  // where the current line started (after the last literal)
	num  int64  // literal size being read; while skipping, literal bytes left to skip
	nlit uint32 // literals in the current command so far
	lit  uint8  // literal announcement automaton (lit* below)
	fl   uint8  // fl* bits
}

// States of the literal announcement automaton: where we are in "{123+}\r\n".
const (
	litNone   = iota
	litOpen   // after "{"
	litDigits // after "{1"
	litPlus   // after "{1+"
	litClose  // after "}"
	litCR     // after "}\r"
)

const (
	flQuote    uint8 = 1 << iota // inside a quoted string
	flEscape                     // after "\" inside a quoted string
	flNonSync                    // the literal being announced has "+"
	flOverflow                   // the literal size does not fit in int64
	flDiscard                    // skipping the rest of a too long line
	flSkipLit                    // skipping num literal bytes while discarding
)

const frameMaxInt64 = 1<<63 - 1

// Reset forgets any partly received command.
func (f *Framer) Reset() { *f = Framer{} }

// frameLimits returns lim with the zero fields replaced by the defaults.
func frameLimits(lim *Limits) Limits {
	if lim == nil {
		return DefaultLimits
	}
	l := *lim
	if l.MaxLine <= 0 {
		l.MaxLine = DefaultLimits.MaxLine
	}
	if l.MaxLiteral <= 0 {
		l.MaxLiteral = DefaultLimits.MaxLiteral
	}
	if l.MaxNonSyncLiteral <= 0 {
		l.MaxNonSyncLiteral = DefaultLimits.MaxNonSyncLiteral
	}
	if l.MaxCommand <= 0 {
		l.MaxCommand = DefaultLimits.MaxCommand
	}
	if l.MaxLiterals <= 0 {
		l.MaxLiterals = DefaultLimits.MaxLiterals
	}
	return l
}

// Next scans buf (every byte received and not yet dropped; the caller appends
// new bytes at the end and calls again, always with the same start until a
// frame says to drop bytes) for the next complete command.
func (f *Framer) Next(buf []byte, lim *Limits) Frame {
	if f.fl&flDiscard != 0 {
		return f.discard(buf)
	}
	l := frameLimits(lim)
	for {
		if int64(len(buf)) < f.pos {
			return Frame{} // literal bytes still to come
		}
		end := int64(len(buf))
		msg := ""
		if max := f.line + int64(l.MaxLine); end > max {
			end, msg = max, msgLineTooLong
		}
		if end > l.MaxCommand {
			end, msg = l.MaxCommand, msgCommandTooLong
		}
		lf, ok := f.scan(buf, f.pos, end)
		if !ok {
			f.pos = end
			if msg == "" {
				return Frame{}
			}
			return f.tooLong(buf, end, msg)
		}
		if f.lit != litClose && f.lit != litCR {
			f.Reset()
			return Frame{Kind: FrameCommand, N: int(lf + 1)}
		}
		// A literal announcement ends the line.
		size, nonSync := f.num, f.fl&flNonSync != 0
		over := f.fl&flOverflow != 0
		start := lf + 1
		f.nlit++
		tooMany := int64(f.nlit) > int64(l.MaxLiterals)
		if nonSync {
			if over || size > l.MaxNonSyncLiteral || size > l.MaxLiteral || size > l.MaxCommand-start || tooMany {
				msg := msgNonSyncTooBig
				if tooMany && !over && size <= l.MaxLiteral {
					msg = msgNonSyncTooMany
				}
				tag := frameTag(buf)
				f.Reset()
				return Frame{Kind: FrameFatal, N: int(start), Tag: tag, Size: size, Msg: msg}
			}
			f.pos, f.line = start+size, start+size
			f.lit, f.num, f.fl = litNone, 0, 0
			if l.ReportNonSync && size > 0 {
				return Frame{Kind: FrameNonSync, Size: size}
			}
			continue
		}
		if over || size > l.MaxLiteral || size > l.MaxCommand-start {
			tag := frameTag(buf)
			f.Reset()
			if over {
				size = frameMaxInt64
			}
			return Frame{Kind: FrameLiteralTooBig, N: int(start), Tag: tag, Size: size, Msg: msgLiteralTooBig}
		}
		if tooMany {
			tag := frameTag(buf)
			f.Reset()
			return Frame{Kind: FrameBad, N: int(start), Tag: tag, Size: size, Msg: msgTooManyLiterals}
		}
		f.pos, f.line = start+size, start+size
		f.lit, f.num, f.fl = litNone, 0, 0
		return Frame{Kind: FrameContinue, Size: size}
	}
}

// tooLong answers a line that reached a limit at buf[end] without a line
// end: BAD now, and the rest of the line is skipped.
//
// The frames must not depend on how the bytes were cut (the session's
// answers would otherwise depend on TCP): whatever follows buf[:end], a too
// long line gives this FrameBad first. Should the skipped rest announce a
// non-synchronizing literal that cannot be skipped (its size overflows), the
// FrameFatal comes from the next call, without a tag (the BAD carried it),
// exactly as when that rest arrives later.
func (f *Framer) tooLong(buf []byte, end int64, msg string) Frame {
	// Only buf[:end] is certain to have arrived whatever the chunking.
	tag := frameTag(buf[:end])
	f.fl |= flDiscard
	before := *f
	r := f.discard(buf[end:])
	if r.Kind == FrameFatal {
		// Drop only the line's first part now; the next call skips the
		// rest again (once: the connection closes) and returns the Fatal.
		*f = before
		r.N = 0
	}
	return Frame{Kind: FrameBad, N: int(end) + r.N, Tag: tag, Msg: msg}
}

// discard skips bytes up to the end of the line being discarded, and the
// non-synchronizing literals that line announces and the lines after them.
// It returns FrameSkip with N = the bytes skipped (FrameNeedMore when there
// were none); the framer leaves discard mode when the line ended.
func (f *Framer) discard(buf []byte) Frame {
	n := int64(0)
	for {
		if f.fl&flSkipLit != 0 {
			if avail := int64(len(buf)) - n; avail < f.num {
				f.num -= avail
				return frameSkip(len(buf))
			}
			n += f.num
			f.num = 0
			f.fl &^= flSkipLit
		}
		lf, ok := f.scan(buf, n, int64(len(buf)))
		if !ok {
			return frameSkip(len(buf))
		}
		if (f.lit == litClose || f.lit == litCR) && f.fl&flNonSync != 0 {
			if f.fl&flOverflow != 0 {
				f.Reset()
				return Frame{Kind: FrameFatal, N: int(lf + 1), Size: frameMaxInt64, Msg: msgNonSyncTooBig}
			}
			// The client sends these bytes without waiting: skip them too.
			f.lit, f.fl = litNone, flDiscard|flSkipLit
			n = lf + 1
			continue
		}
		f.Reset()
		return frameSkip(int(lf + 1))
	}
}

// frameSkip is FrameSkip for n > 0 bytes, FrameNeedMore for none.
func frameSkip(n int) Frame {
	if n == 0 {
		return Frame{}
	}
	return Frame{Kind: FrameSkip, N: n}
}

// scan runs the quote and literal-announcement automaton over buf[from:end]
// and returns the offset of the first LF, or end and false.
func (f *Framer) scan(buf []byte, from, end int64) (int64, bool) {
	lit, fl, num := f.lit, f.fl, f.num
	i := from
	for ; i < end; i++ {
		c := buf[i]
		// Fast path: most bytes change no state. Skip them with a table.
		if lit == litNone && fl&flEscape == 0 {
			mask := frameSpecialPlain
			if fl&flQuote != 0 {
				mask = frameSpecialQuoted
			}
			for frameClass[c]&mask == 0 {
				if i++; i == end {
					f.lit, f.fl, f.num = lit, fl, num
					return i, false
				}
				c = buf[i]
			}
		}
		if fl&flQuote != 0 {
			switch {
			case c == '\n':
				// A quoted string cannot hold a line end: the line (and
				// command) ends here and the parser reports it.
				f.lit, f.fl, f.num = litNone, fl&^(flQuote|flEscape), num
				return i, true
			case fl&flEscape != 0:
				fl &^= flEscape
			case c == '\\':
				fl |= flEscape
			case c == '"':
				fl &^= flQuote
			}
			continue
		}
		switch c {
		case '\n':
			f.lit, f.fl, f.num = lit, fl, num
			return i, true
		case '"':
			fl |= flQuote
			lit = litNone
		case '{':
			lit, num = litOpen, 0
			fl &^= flNonSync | flOverflow
		case '+':
			if lit == litDigits {
				lit = litPlus
				fl |= flNonSync
			} else {
				lit = litNone
			}
		case '}':
			if lit == litDigits || lit == litPlus {
				lit = litClose
			} else {
				lit = litNone
			}
		case '\r':
			if lit == litClose {
				lit = litCR
			} else {
				lit = litNone
			}
		default:
			if '0' <= c && c <= '9' && (lit == litOpen || lit == litDigits) {
				if num > (frameMaxInt64-9)/10 {
					fl |= flOverflow
				} else {
					num = num*10 + int64(c-'0')
				}
				lit = litDigits
			} else {
				lit = litNone
			}
		}
	}
	f.lit, f.fl, f.num = lit, fl, num
	return i, false
}

// Byte classes for the scanner's fast path.
const (
	frameSpecialPlain  uint8 = 1 << iota // LF, DQUOTE, "{": may change state outside quotes
	frameSpecialQuoted                   // LF, DQUOTE, "\": may change state inside quotes
)

var frameClass = [256]uint8{
	'\n': frameSpecialPlain | frameSpecialQuoted,
	'"':  frameSpecialPlain | frameSpecialQuoted,
	'{':  frameSpecialPlain,
	'\\': frameSpecialQuoted,
}

// NextLine returns a single line, ended by CRLF or LF (IDLE's DONE, an
// AUTHENTICATE response): FrameLine with N counting the line end, or
// FrameNeedMore, or FrameBad (then skipping, as Next does) when the line is
// longer than MaxLine.
func (f *Framer) NextLine(buf []byte, lim *Limits) Frame {
	if f.fl&flDiscard != 0 {
		return f.discard(buf)
	}
	maxLine := DefaultLimits.MaxLine
	if lim != nil && lim.MaxLine > 0 {
		maxLine = lim.MaxLine
	}
	end := int64(len(buf))
	tooLong := false
	if end > int64(maxLine) {
		end, tooLong = int64(maxLine), true
	}
	if f.pos < end {
		if i := bytes.IndexByte(buf[f.pos:end], '\n'); i >= 0 {
			n := f.pos + int64(i) + 1
			f.Reset()
			return Frame{Kind: FrameLine, N: int(n)}
		}
		f.pos = end
	}
	if !tooLong {
		return Frame{}
	}
	f.Reset()
	f.fl = flDiscard
	// As in tooLong: the BAD first, a Fatal from the next call.
	before := *f
	r := f.discard(buf[end:])
	if r.Kind == FrameFatal {
		*f = before
		r.N = 0
	}
	return Frame{Kind: FrameBad, N: int(end) + r.N, Msg: msgLineTooLong}
}

// frameTag returns the tag at the start of buf if it is a valid one
// (RFC 9051 §9: 1*<any ASTRING-CHAR except "+">) followed by a space.
func frameTag(buf []byte) []byte {
	const maxTag = 256
	for i := 0; i < len(buf) && i <= maxTag; i++ {
		c := buf[i]
		if c == ' ' {
			if i == 0 {
				return nil
			}
			return buf[:i:i]
		}
		if !frameIsTagChar(c) {
			return nil
		}
	}
	return nil
}

// frameIsTagChar reports whether c may appear in a tag: ASTRING-CHAR except "+".
func frameIsTagChar(c byte) bool {
	return c != '+' && (isAtomChar(c) || c == ']')
}
