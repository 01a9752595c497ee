package imapmime

import "strconv"

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

// appendEnvString writes an ENVELOPE string: NIL for nil; CR and LF are
// removed (folding white space kept); a literal when the value was folded
// or holds TAB, '"', '\', NUL or 8-bit bytes, else a quoted string. This is
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
		return appendLiteral(dst, unfold(v))
	}
	return appendQuoted(dst, v)
}

// appendBSString writes a BODYSTRUCTURE string: NIL for nil; CR and LF are
// removed; a literal only when 8-bit or NUL bytes remain, else a quoted
// string with '"' and '\' escaped.
func appendBSString(dst, v []byte) []byte {
	if v == nil {
		return appendNIL(dst)
	}
	v = unfold(v)
	for _, c := range v {
		if c == 0 || c >= 0x80 {
			return appendLiteral(dst, v)
		}
	}
	return appendQuoted(dst, v)
}
