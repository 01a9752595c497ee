package imapmime

import (
	"bytes"
	"strconv"
)

// Small IMAP string encoders (statemachine has the general ones, but this
// package must not import statemachine).

func appendNIL(dst []byte) []byte { return append(dst, "NIL"...) }

func appendLiteral(dst, s []byte) []byte {
	dst = append(dst, '{')
	dst = strconv.AppendInt(dst, int64(len(s)), 10)
	dst = append(dst, '}', '\r', '\n')
	return append(dst, s...)
}

func appendQuoted(dst, s []byte) []byte {
	dst = append(dst, '"')
	for _, c := range s {
		if c == '"' || c == '\\' {
			dst = append(dst, '\\')
		}
		dst = append(dst, c)
	}
	return append(dst, '"')
}

// clean removes CR, LF and NUL (a literal may not carry NUL, RFC 3501
// CHAR8; folding white space is kept).
func clean(v []byte) []byte {
	if bytes.IndexByte(v, '\n') < 0 && bytes.IndexByte(v, '\r') < 0 && bytes.IndexByte(v, 0) < 0 {
		return v
	}
	out := make([]byte, 0, len(v))
	for _, c := range v {
		if c != '\r' && c != '\n' && c != 0 {
			out = append(out, c)
		}
	}
	return out
}

// appendEnvString writes an ENVELOPE string: NIL for nil; CR and LF are
// removed (folding white space kept); a literal when the value was folded
// or holds TAB, '"', '\', NUL or 8-bit bytes, else a quoted string (NUL
// is dropped). This is
// the form Dovecot uses (the oracle), and is valid IMAP either way.
func appendEnvString(dst, v []byte) []byte {
	if v == nil {
		return appendNIL(dst)
	}
	lit := false
	for _, c := range v {
		switch {
		case c == '\r' || c == '\n' || c == '\t' || c == '"' || c == '\\' || c == 0 || c >= 0x80:
			lit = true
		}
	}
	if lit {
		return appendLiteral(dst, clean(v))
	}
	return appendQuoted(dst, v)
}

// appendBSString writes a BODYSTRUCTURE string: NIL for nil; CR and LF are
// removed (and NUL); a literal only when 8-bit bytes remain, else a quoted
// string with '"' and '\' escaped.
func appendBSString(dst, v []byte) []byte {
	if v == nil {
		return appendNIL(dst)
	}
	v = clean(v)
	for _, c := range v {
		if c >= 0x80 {
			return appendLiteral(dst, v)
		}
	}
	return appendQuoted(dst, v)
}
