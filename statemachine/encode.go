package statemachine

import "strconv"

// The encoder appends response syntax to a caller-provided buffer and returns
// the extended buffer, in the style of strconv.AppendInt: no allocation beyond
// growing dst, no error to check. Names follow the RFC 9051 §9 grammar.

// AppendNumber appends a decimal number.
func AppendNumber(dst []byte, n uint64) []byte {
	return strconv.AppendUint(dst, n, 10)
}

// isAtomChar reports whether c may appear in an atom (RFC 9051 §9 ATOM-CHAR).
func isAtomChar(c byte) bool {
	switch {
	case c <= 0x1f, c >= 0x7f:
		return false
	}
	switch c {
	case '(', ')', '{', ' ', '%', '*', '"', '\\', ']':
		return false
	}
	return true
}

// needsLiteral reports whether s cannot be sent as a quoted string: it holds
// CR, LF, NUL or 8-bit bytes (RFC 9051 §4.3; 8-bit text goes in a literal
// unless UTF8=ACCEPT is on, which callers handle by passing utf8ok).
func needsLiteral(s []byte, utf8ok bool) bool {
	for _, c := range s {
		if c == '\r' || c == '\n' || c == 0 {
			return true
		}
		if c >= 0x80 && !utf8ok {
			return true
		}
	}
	return false
}

// AppendQuoted appends s as a quoted string, escaping '"' and '\'. The
// caller has checked that s needs no literal.
func AppendQuoted(dst, s []byte) []byte {
	dst = append(dst, '"')
	for _, c := range s {
		if c == '"' || c == '\\' {
			dst = append(dst, '\\')
		}
		dst = append(dst, c)
	}
	return append(dst, '"')
}

// AppendLiteral appends s as a synchronizing-form literal {n}CRLF s (servers
// always send this form).
func AppendLiteral(dst, s []byte) []byte {
	dst = append(dst, '{')
	dst = strconv.AppendInt(dst, int64(len(s)), 10)
	dst = append(dst, '}', '\r', '\n')
	return append(dst, s...)
}

// AppendString appends s as a quoted string, or as a literal when it cannot
// be quoted (RFC 9051 §4.3 "string").
func AppendString(dst, s []byte) []byte {
	if needsLiteral(s, false) {
		return AppendLiteral(dst, s)
	}
	return AppendQuoted(dst, s)
}

// AppendStringUTF8 is AppendString for a session that enabled UTF8=ACCEPT:
// valid 8-bit UTF-8 may stay in a quoted string.
func AppendStringUTF8(dst, s []byte, utf8ok bool) []byte {
	if needsLiteral(s, utf8ok) {
		return AppendLiteral(dst, s)
	}
	return AppendQuoted(dst, s)
}

// AppendNString appends s as a string, or NIL when s is nil.
func AppendNString(dst, s []byte) []byte {
	if s == nil {
		return append(dst, "NIL"...)
	}
	return AppendString(dst, s)
}

// AppendAString appends s as an atom when it is a non-empty atom, else as a
// string (RFC 9051 §9 "astring").
func AppendAString(dst, s []byte) []byte {
	if len(s) == 0 {
		return append(dst, `""`...)
	}
	for _, c := range s {
		if !isAtomChar(c) {
			return AppendString(dst, s)
		}
	}
	if asciiEqualFold(s, "NIL") {
		return AppendQuoted(dst, s)
	}
	return append(dst, s...)
}
