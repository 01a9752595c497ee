package imapmime

import "bytes"

// Header field scanning and Content-* parsing. Hand-written rather than
// go-message's textproto.ReadHeader because IMAP needs each field's raw
// bytes (for HEADER.FIELDS), lines without a colon must survive, and
// parameter names, order, case and duplicates must be kept exactly for
// BODYSTRUCTURE (mime.ParseMediaType lower-cases and rejects duplicates).

func isBlankLine(line []byte) bool {
	return (len(line) == 1 && line[0] == '\n') || (len(line) == 2 && line[0] == '\r' && line[1] == '\n')
}

// field is one header field.
type field struct {
	name  []byte // before the colon, trailing white space removed
	value []byte // after the colon, leading SP/TAB and the final line end removed; folds kept
	raw   []byte // the whole field with its final line end
	colon bool
}

// eachField calls fn for every field of hdr until fn returns false. hdr may
// include the terminating blank line.
func eachField(hdr []byte, fn func(f *field) bool) {
	s := 0
	var f field
	for s < len(hdr) {
		e := lineEndIn(hdr, s)
		if isBlankLine(hdr[s:e]) {
			return
		}
		// continuation lines
		for e < len(hdr) && (hdr[e] == ' ' || hdr[e] == '\t') {
			e = lineEndIn(hdr, e)
		}
		raw := hdr[s:e]
		f = field{raw: raw}
		first := raw[:lineEndIn(raw, 0)]
		if c := bytes.IndexByte(first, ':'); c >= 0 {
			f.colon = true
			f.name = trimRightWS(raw[:c])
			v := raw[c+1:]
			for len(v) > 0 && (v[0] == ' ' || v[0] == '\t') {
				v = v[1:]
			}
			f.value = trimLineEnd(v)
		} else {
			f.name = trimRightWS(trimLineEnd(raw))
		}
		if !fn(&f) {
			return
		}
		s = e
	}
}

func lineEndIn(b []byte, s int) int {
	j := bytes.IndexByte(b[s:], '\n')
	if j < 0 {
		return len(b)
	}
	return s + j + 1
}

func trimLineEnd(v []byte) []byte {
	if n := len(v); n > 0 && v[n-1] == '\n' {
		v = v[:n-1]
		if n := len(v); n > 0 && v[n-1] == '\r' {
			v = v[:n-1]
		}
	}
	return v
}

func trimRightWS(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

// lastOrFirstField returns the value of the first (first=true) or last
// field named name (lower-case ASCII).
func lastOrFirstField(hdr []byte, name string, first bool) (v []byte, ok bool) {
	eachField(hdr, func(f *field) bool {
		if f.colon && asciiEqualFold(f.name, name) {
			v, ok = f.value, true
			return !first
		}
		return true
	})
	return v, ok
}

func asciiEqualFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := 0; i < len(b); i++ {
		if lowerASCII(b[i]) != lowerASCII(s[i]) {
			return false
		}
	}
	return true
}

func lowerASCII(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// unfold removes CR and LF bytes (folding white space is kept), as IMAP
// servers do for ENVELOPE and BODYSTRUCTURE strings.
func unfold(v []byte) []byte {
	if bytes.IndexByte(v, '\n') < 0 && bytes.IndexByte(v, '\r') < 0 {
		return v
	}
	out := make([]byte, 0, len(v))
	for _, c := range v {
		if c != '\r' && c != '\n' {
			out = append(out, c)
		}
	}
	return out
}

// lexer for structured header values (RFC 5322 §3.2, RFC 2045 §5.1).
type lexer struct {
	b []byte
	i int
}

// skipCFWS skips white space and comments; it returns the text of the last
// comment skipped (without parentheses), or nil.
func (l *lexer) skipCFWS() (comment []byte) {
	for l.i < len(l.b) {
		c := l.b[l.i]
		switch {
		case c == ' ' || c == '\t' || c == '\r' || c == '\n':
			l.i++
		case c == '(':
			comment = l.comment()
		default:
			return comment
		}
	}
	return comment
}

// comment reads a (possibly nested) comment at l.i and returns its text.
func (l *lexer) comment() []byte {
	depth := 0
	var out []byte
	for l.i < len(l.b) {
		c := l.b[l.i]
		switch c {
		case '\\':
			if depth > 0 && l.i+1 < len(l.b) {
				out = append(out, l.b[l.i+1])
				l.i += 2
				continue
			}
		case '(':
			depth++
			if depth > 1 {
				out = append(out, c)
			}
			l.i++
			continue
		case ')':
			depth--
			l.i++
			if depth == 0 {
				return unfold(out)
			}
			out = append(out, c)
			continue
		}
		if depth > 0 {
			out = append(out, c)
		}
		l.i++
	}
	return unfold(out)
}

// quoted reads a quoted string at l.i (which is '"') and returns its
// unescaped content.
func (l *lexer) quoted() []byte {
	l.i++
	out := []byte{}
	for l.i < len(l.b) {
		c := l.b[l.i]
		switch c {
		case '\\':
			if l.i+1 < len(l.b) {
				out = append(out, l.b[l.i+1])
				l.i += 2
				continue
			}
		case '"':
			l.i++
			return unfold(out)
		}
		out = append(out, c)
		l.i++
	}
	return unfold(out)
}

func isTSpecial(c byte) bool {
	switch c {
	case '(', ')', '<', '>', '@', ',', ';', ':', '\\', '"', '/', '[', ']', '?', '=':
		return true
	}
	return c <= ' ' || c == 0x7f
}

// token reads an RFC 2045 token.
func (l *lexer) token() []byte {
	s := l.i
	for l.i < len(l.b) && !isTSpecial(l.b[l.i]) {
		l.i++
	}
	return l.b[s:l.i]
}

// paramValue reads a parameter value: a quoted string or a lenient token
// (anything up to ';', white space or a comment).
func (l *lexer) paramValue() ([]byte, bool) {
	if l.i < len(l.b) && l.b[l.i] == '"' {
		return l.quoted(), true
	}
	s := l.i
	for l.i < len(l.b) {
		c := l.b[l.i]
		if c == ';' || c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '(' || c == '"' {
			break
		}
		l.i++
	}
	return l.b[s:l.i], l.i > s
}

type param struct{ name, value []byte }

// parseParams parses "; name=value" pairs from l. Parameters without a
// value are dropped, duplicates kept, names keep their case. RFC 2231
// parameters (name*, name*0, name*1*, ...) are collected, joined in section
// order (out-of-order sections are sorted), percent-decoded and converted
// from their charset to UTF-8, and returned as one parameter "name" after
// the plain ones (RFC 9051 §7.5.2: servers SHOULD decode continuations and
// charsets). When the charset is unknown the joined raw value is returned
// as "name*" (as Dovecot does for all of them).
func parseParams(l *lexer) []param {
	var plain []param
	type section struct {
		val []byte
		ext bool
	}
	type cont struct {
		base     []byte
		sections map[int]section
	}
	var conts []*cont
	for {
		l.skipCFWS()
		if l.i >= len(l.b) {
			break
		}
		if l.b[l.i] != ';' {
			// junk: skip to the next ';'
			j := bytes.IndexByte(l.b[l.i:], ';')
			if j < 0 {
				break
			}
			l.i += j
		}
		l.i++ // ';'
		l.skipCFWS()
		name := l.token()
		if len(name) == 0 {
			continue
		}
		l.skipCFWS()
		if l.i >= len(l.b) || l.b[l.i] != '=' {
			continue
		}
		l.i++
		l.skipCFWS()
		val, ok := l.paramValue()
		if !ok {
			continue
		}
		if star := bytes.IndexByte(name, '*'); star > 0 {
			rest := name[star+1:]
			ext := false
			if len(rest) > 0 && rest[len(rest)-1] == '*' {
				ext = true
				rest = rest[:len(rest)-1]
			}
			n, isNum := atoiSmall(rest)
			if len(rest) == 0 && ext {
				n, isNum = 0, true // name*=charset'lang'value
			}
			if isNum {
				base := name[:star]
				var c *cont
				for _, x := range conts {
					if bytes.EqualFold(x.base, base) {
						c = x
						break
					}
				}
				if c == nil {
					c = &cont{base: base, sections: map[int]section{}}
					conts = append(conts, c)
				}
				if _, dup := c.sections[n]; !dup {
					c.sections[n] = section{val, ext}
				}
				continue
			}
		}
		plain = append(plain, param{name, val})
	}
	for _, c := range conts {
		var joined, decoded, cs []byte
		anyExt := false
		for n := 0; ; n++ {
			s, ok := c.sections[n]
			if !ok {
				break
			}
			joined = append(joined, s.val...)
			v := s.val
			if s.ext {
				anyExt = true
				if n == 0 {
					// charset'language'value
					if q := bytes.IndexByte(v, '\''); q >= 0 {
						cs = v[:q]
						v = v[q+1:]
						if q2 := bytes.IndexByte(v, '\''); q2 >= 0 {
							v = v[q2+1:]
						}
					}
				}
				decoded = percentDecode(decoded, v)
			} else {
				decoded = append(decoded, v...)
			}
		}
		if !anyExt {
			plain = append(plain, param{c.base, nonNil(joined)})
			continue
		}
		if len(cs) > 0 && !knownCharset(cs) {
			name := append(append([]byte{}, c.base...), '*')
			plain = append(plain, param{name, nonNil(joined)})
			continue
		}
		plain = append(plain, param{c.base, nonNil(toUTF8(cs, decoded))})
	}
	return plain
}

func percentDecode(dst, v []byte) []byte {
	for i := 0; i < len(v); i++ {
		if v[i] == '%' && i+2 < len(v) && hexval(v[i+1]) >= 0 && hexval(v[i+2]) >= 0 {
			dst = append(dst, byte(hexval(v[i+1])<<4|hexval(v[i+2])))
			i += 2
			continue
		}
		dst = append(dst, v[i])
	}
	return dst
}

func atoiSmall(b []byte) (int, bool) {
	if len(b) == 0 || len(b) > 4 {
		return 0, false
	}
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

type contentType struct {
	present   bool // a Content-Type field exists and is valid
	typ, sub  []byte
	params    []param
	multipart bool
	message   bool // message/rfc822 or message/global
	text      bool
	boundary  []byte
}

// parseContentType parses a Content-Type value. ok is false when it is
// syntactically invalid (no type/subtype).
func parseContentType(v []byte) (ct contentType, ok bool) {
	l := &lexer{b: v}
	l.skipCFWS()
	typ := l.token()
	l.skipCFWS()
	if len(typ) == 0 || l.i >= len(l.b) || l.b[l.i] != '/' {
		return ct, false
	}
	l.i++
	l.skipCFWS()
	sub := l.token()
	if len(sub) == 0 {
		return ct, false
	}
	ct.present = true
	ct.typ, ct.sub = typ, sub
	ct.params = parseParams(l)
	ct.classify()
	return ct, true
}

func (ct *contentType) classify() {
	ct.multipart = asciiEqualFold(ct.typ, "multipart")
	ct.text = asciiEqualFold(ct.typ, "text")
	ct.message = asciiEqualFold(ct.typ, "message") && (asciiEqualFold(ct.sub, "rfc822") || asciiEqualFold(ct.sub, "global"))
	if ct.multipart {
		for _, p := range ct.params {
			if asciiEqualFold(p.name, "boundary") {
				ct.boundary = p.value
				break
			}
		}
	}
}

// contentTypeOf returns the effective content type of a part header: the
// first Content-Type field; when it is absent, text/plain (or message/rfc822
// inside multipart/digest); when it is invalid, text/plain; charset=us-ascii
// (RFC 2045 §5.2).
func contentTypeOf(hdr []byte, digest bool) contentType {
	v, ok := lastOrFirstField(hdr, "content-type", true)
	if ok {
		if ct, valid := parseContentType(v); valid {
			return ct
		}
		digest = false
	}
	var ct contentType
	if digest {
		ct.typ, ct.sub = []byte("message"), []byte("rfc822")
	} else {
		ct.typ, ct.sub = []byte("text"), []byte("plain")
		ct.params = []param{{[]byte("charset"), []byte("us-ascii")}}
	}
	ct.classify()
	return ct
}

// cteToken returns the Content-Transfer-Encoding mechanism with comments
// and white space removed, in its original case.
func cteToken(v []byte) []byte {
	l := &lexer{b: v}
	l.skipCFWS()
	return l.token()
}
