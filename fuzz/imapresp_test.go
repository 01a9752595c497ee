package fuzz

import (
	"bytes"
	"fmt"
	"strconv"
	"unicode/utf8"
)

// A small, strict reader of IMAP server responses (RFC 9051 §7 and §9): it
// splits output into responses, checks their syntax (one SP between values,
// balanced parentheses and brackets, quoted strings with only \" and \\
// escapes and no CR, LF or NUL, literals whose length matches and that hold
// no NUL unless literal8, status text without CR, LF or NUL) and returns the
// values of each response as a tree, for the targets' structural checks.
//
// It is written from the grammar, not from the server's encoder, so that a
// mistake in the encoder does not repeat itself here.

type rkind uint8

const (
	rAtom    rkind = iota // atom, number, NIL, flag, sequence set, BODY[...]<n>
	rQuoted               // quoted string, text unescaped
	rLiteral              // literal or literal8 (lit8), text is the content
	rList                 // parenthesised list
)

// rval is one value of a response.
type rval struct {
	kind rkind
	text []byte
	list []rval
	lit8 bool
}

func (v rval) isNIL() bool { return v.kind == rAtom && string(bytes.ToUpper(v.text)) == "NIL" }

// isString: a quoted string or a literal (RFC 9051 "string").
func (v rval) isString() bool { return v.kind == rQuoted || v.kind == rLiteral }

// isNString: NIL or a string.
func (v rval) isNString() bool { return v.isNIL() || v.isString() }

// number returns the value of a number atom.
func (v rval) number() (uint64, bool) {
	if v.kind != rAtom || len(v.text) == 0 || len(v.text) > 20 {
		return 0, false
	}
	n, err := strconv.ParseUint(string(v.text), 10, 64)
	return n, err == nil
}

func (v rval) String() string {
	switch v.kind {
	case rQuoted:
		return strconv.Quote(string(v.text))
	case rLiteral:
		return fmt.Sprintf("{%d}%q", len(v.text), v.text)
	case rList:
		var b bytes.Buffer
		b.WriteByte('(')
		for i, e := range v.list {
			if i > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(e.String())
		}
		b.WriteByte(')')
		return b.String()
	}
	return string(v.text)
}

// resp is one server response.
type resp struct {
	raw    []byte // the response, literals included, CRLF excluded
	cont   bool   // "+" continuation request
	tag    string // "" for untagged and continuation
	status string // OK, NO, BAD, BYE or PREAUTH for status responses, upper case
	code   []rval // the response code's atom and arguments, "[...]"
	vals   []rval // untagged data: every value after "*"
}

// respReader reads responses from b.
type respReader struct {
	b    []byte
	i    int
	utf8 bool // 8-bit UTF-8 may appear in quoted strings and text (UTF8=ACCEPT, IMAP4rev2)
	err  error
}

func (r *respReader) fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("offset %d: %s", r.i, fmt.Sprintf(format, args...))
	}
}

// readResponses splits b into responses; b must end with a complete one.
// utf8ok allows UTF-8 in quoted strings and text.
func readResponses(b []byte, utf8ok bool) ([]resp, error) {
	r := &respReader{b: b, utf8: utf8ok}
	var out []resp
	for r.i < len(r.b) && r.err == nil {
		start := r.i
		rs := r.response()
		if r.err != nil {
			break
		}
		rs.raw = b[start : r.i-2]
		out = append(out, rs)
	}
	if r.err != nil {
		lo := max(0, r.i-80)
		hi := min(len(b), r.i+40)
		return out, fmt.Errorf("%v near %q", r.err, b[lo:hi])
	}
	return out, nil
}

func (r *respReader) peek() int {
	if r.i < len(r.b) {
		return int(r.b[r.i])
	}
	return -1
}

func (r *respReader) crlf() bool {
	if r.i+1 < len(r.b) && r.b[r.i] == '\r' && r.b[r.i+1] == '\n' {
		r.i += 2
		return true
	}
	return false
}

func (r *respReader) sp() bool {
	if r.peek() == ' ' {
		r.i++
		return true
	}
	return false
}

func (r *respReader) response() resp {
	var rs resp
	switch r.peek() {
	case '+':
		r.i++
		rs.cont = true
		if !r.sp() {
			// RFC 9051: continue-req = "+" SP (resp-text / base64) CRLF.
			r.fail("continuation without SP")
			return rs
		}
		r.text()
	case '*':
		r.i++
		if !r.sp() {
			r.fail("expected SP after *")
			return rs
		}
		a := r.atomText()
		switch string(bytes.ToUpper(a)) {
		case "OK", "NO", "BAD", "BYE", "PREAUTH":
			rs.status = string(bytes.ToUpper(a))
			rs.code = r.respText()
		case "":
			r.fail("expected a response name after *")
		default:
			rs.vals = append(rs.vals, rval{kind: rAtom, text: a})
			for r.err == nil && r.sp() {
				rs.vals = append(rs.vals, r.value())
			}
		}
	default:
		t := r.i
		for r.i < len(r.b) && isTagChar(r.b[r.i]) {
			r.i++
		}
		if r.i == t {
			r.fail("expected a tag, *, or +")
			return rs
		}
		rs.tag = string(r.b[t:r.i])
		if !r.sp() {
			r.fail("expected SP after the tag")
			return rs
		}
		st := string(bytes.ToUpper(r.atomText()))
		if st != "OK" && st != "NO" && st != "BAD" {
			r.fail("tagged response status %q", st)
			return rs
		}
		rs.status = st
		rs.code = r.respText()
	}
	if r.err == nil && !r.crlf() {
		r.fail("expected CRLF")
	}
	return rs
}

// respText reads [SP "[" code "]"] [SP text] after a status word. The
// server always sends SP and some text, but RFC 9051 makes the text
// optional.
func (r *respReader) respText() []rval {
	if r.peek() != ' ' {
		return nil
	}
	r.i++
	var code []rval
	if r.peek() == '[' {
		r.i++
		a := r.atomText()
		if len(a) == 0 {
			r.fail("empty response code")
			return nil
		}
		code = append(code, rval{kind: rAtom, text: a})
		for r.err == nil && r.sp() {
			code = append(code, r.value())
		}
		if r.err != nil {
			return nil
		}
		if r.peek() != ']' {
			r.fail("response code not closed by ]")
			return nil
		}
		r.i++
		if r.peek() != ' ' {
			return code
		}
		r.i++
	}
	r.text()
	return code
}

// text reads TEXT-CHARs up to CRLF.
func (r *respReader) text() {
	s := r.i
	for r.i < len(r.b) && r.b[r.i] != '\r' && r.b[r.i] != '\n' {
		if r.b[r.i] == 0 {
			r.fail("NUL in response text")
			return
		}
		r.i++
	}
	if t := r.b[s:r.i]; !utf8.Valid(t) {
		r.fail("response text is not UTF-8: %q", t)
	}
}

// isTagChar: ASTRING-CHAR except "+" (RFC 9051 §9 tag).
func isTagChar(c byte) bool {
	return isAtomChar(c) || c == ']'
}

// isAtomChar: RFC 9051 ATOM-CHAR, with list-wildcards and "\" allowed
// (they appear in flags and LIST patterns as sent by servers).
func isAtomChar(c byte) bool {
	if c <= ' ' || c >= 0x7f {
		return false
	}
	switch c {
	case '(', ')', '{', '"', ']':
		return false
	}
	return true
}

// atomText reads an atom; "BODY[...]<n>"-style section specifiers are read
// as part of it, brackets balanced. "]" ends an atom, so inside a response
// code it ends the code.
func (r *respReader) atomText() []byte {
	s := r.i
	for r.i < len(r.b) {
		c := r.b[r.i]
		if c == '[' && isSectionItem(r.b[s:r.i]) {
			r.section()
			if r.err != nil {
				return nil
			}
			continue
		}
		if !isAtomChar(c) {
			break
		}
		r.i++
	}
	return r.b[s:r.i]
}

func isSectionItem(a []byte) bool {
	switch string(bytes.ToUpper(a)) {
	case "BODY", "BODY.PEEK", "BINARY", "BINARY.PEEK", "BINARY.SIZE":
		return true
	}
	return false
}

// section reads "[" section "]" ["<" number ">"].
func (r *respReader) section() {
	r.i++ // "["
	for r.i < len(r.b) {
		c := r.b[r.i]
		switch {
		case c == ']':
			r.i++
			if r.peek() == '<' {
				r.i++
				d := r.i
				for r.i < len(r.b) && '0' <= r.b[r.i] && r.b[r.i] <= '9' {
					r.i++
				}
				if r.i == d || r.peek() != '>' {
					r.fail("bad <origin> after a section")
					return
				}
				r.i++
			}
			return
		case c == ' ':
			r.i++
			if r.peek() != '(' {
				r.fail("SP in a section not followed by a field list")
				return
			}
		case c == '(':
			v := r.value()
			if r.err != nil {
				return
			}
			for _, f := range v.list {
				if f.kind == rList {
					r.fail("nested list in a section")
					return
				}
			}
			if len(v.list) == 0 {
				r.fail("empty header field list in a section")
				return
			}
		case c == '.' || ('0' <= c && c <= '9') || ('A' <= c && c <= 'Z') || ('a' <= c && c <= 'z'):
			r.i++
		default:
			r.fail("byte %q in a section", c)
			return
		}
	}
	r.fail("section not closed")
}

// value reads one value.
func (r *respReader) value() rval {
	switch c := r.peek(); c {
	case '(':
		r.i++
		v := rval{kind: rList}
		if r.peek() == ')' {
			r.i++
			return v
		}
		for {
			e := r.value()
			if r.err != nil {
				return v
			}
			v.list = append(v.list, e)
			if r.sp() {
				continue
			}
			if e.kind == rList && r.peek() == '(' {
				// 1*body and 1*address: lists follow each other without SP.
				continue
			}
			if r.peek() == ')' {
				r.i++
				return v
			}
			r.fail("expected SP or ) in a list")
			return v
		}
	case '"':
		return r.quoted()
	case '{':
		return r.literal(false)
	case '~':
		if r.i+1 < len(r.b) && r.b[r.i+1] == '{' {
			r.i++
			return r.literal(true)
		}
	case -1:
		r.fail("value expected, end of output")
		return rval{}
	}
	a := r.atomText()
	if len(a) == 0 && r.err == nil {
		r.fail("value expected, found %q", rune(r.peek()))
	}
	return rval{kind: rAtom, text: a}
}

func (r *respReader) quoted() rval {
	r.i++
	var t []byte
	s := r.i
	for r.i < len(r.b) {
		c := r.b[r.i]
		switch {
		case c == '"':
			r.i++
			if !r.utf8 {
				for _, c := range t {
					if c >= 0x80 {
						r.fail("8-bit byte in a quoted string")
						return rval{}
					}
				}
			} else if !utf8.Valid(t) {
				r.fail("quoted string is not UTF-8")
				return rval{}
			}
			return rval{kind: rQuoted, text: t}
		case c == '\\':
			if r.i+1 >= len(r.b) || (r.b[r.i+1] != '"' && r.b[r.i+1] != '\\') {
				r.fail("bad escape in a quoted string")
				return rval{}
			}
			t = append(t, r.b[r.i+1])
			r.i += 2
		case c == '\r' || c == '\n' || c == 0:
			r.fail("CR, LF or NUL in a quoted string")
			return rval{}
		default:
			t = append(t, c)
			r.i++
		}
	}
	r.i = s
	r.fail("quoted string not closed")
	return rval{}
}

func (r *respReader) literal(lit8 bool) rval {
	r.i++ // "{"
	d := r.i
	for r.i < len(r.b) && '0' <= r.b[r.i] && r.b[r.i] <= '9' {
		r.i++
	}
	if r.i == d || r.i-d > 19 || r.peek() != '}' {
		r.fail("bad literal length")
		return rval{}
	}
	n, err := strconv.ParseUint(string(r.b[d:r.i]), 10, 63)
	if err != nil {
		r.fail("bad literal length")
		return rval{}
	}
	r.i++
	if !r.crlf() {
		r.fail("literal length not followed by CRLF")
		return rval{}
	}
	if uint64(len(r.b)-r.i) < n {
		r.fail("literal of %d bytes, %d left", n, len(r.b)-r.i)
		return rval{}
	}
	t := r.b[r.i : r.i+int(n)]
	if !lit8 && bytes.IndexByte(t, 0) >= 0 {
		r.fail("NUL in a literal (RFC 9051 §4.3: only literal8 may hold NUL)")
		return rval{}
	}
	r.i += int(n)
	return rval{kind: rLiteral, text: t, lit8: lit8}
}
