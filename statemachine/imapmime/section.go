package imapmime

import (
	"bytes"
	"strconv"
)

// Spec is the text part of a section specifier; same values and order as
// statemachine.SectionSpec.
type Spec uint8

const (
	SpecNone Spec = iota // BODY[] or BODY[1.2]: the whole part
	SpecHeader
	SpecHeaderFields
	SpecHeaderFieldsNot
	SpecText
	SpecMIME
)

// Section returns the bytes of BODY[part.spec] (RFC 3501 §6.4.5). ok is
// false when the section does not exist: a part number that is out of
// range, HEADER/TEXT/HEADER.FIELDS on a numbered part that is not
// message/rfc822, or MIME without a part number.
//
// The bytes are the stored message bytes, unchanged (bare LF stays bare
// LF). For HEADER.FIELDS and HEADER.FIELDS.NOT the selected fields are
// returned in message order, followed by the blank line when the header
// has one ("the blank line is included in all header fetches, except in
// the case of a message which has no body and no blank line").
// The result may alias raw for the HEADER/TEXT/MIME/whole-part cases.
func Section(raw []byte, p *Part, part []uint32, spec Spec, fields [][]byte) (b []byte, ok bool) {
	t := p
	if len(part) > 0 {
		t = find(p, part)
		if t == nil {
			return nil, false
		}
		switch spec {
		case SpecNone:
			return raw[t.Body:t.End], true
		case SpecMIME:
			return raw[t.Start:t.Body], true
		}
		if !t.IsMessage() {
			return nil, false
		}
		t = &t.Children[0]
	} else {
		switch spec {
		case SpecNone:
			return raw, true
		case SpecMIME:
			return nil, false
		}
	}
	switch spec {
	case SpecHeader:
		return raw[t.Start:t.Body], true
	case SpecText:
		return raw[t.Body:t.End], true
	case SpecHeaderFields, SpecHeaderFieldsNot:
		return filterHeader(raw[t.Start:t.Body], fields, spec == SpecHeaderFieldsNot), true
	}
	return nil, false
}

func filterHeader(hdr []byte, names [][]byte, not bool) []byte {
	out := []byte{}
	eachField(hdr, func(f *field) bool {
		match := false
		for _, n := range names {
			if bytes.EqualFold(n, f.name) && f.colon {
				match = true
				break
			}
		}
		if match != not {
			out = append(out, f.raw...)
		}
		return true
	})
	if bl := blankLine(hdr); bl != nil {
		out = append(out, bl...)
	}
	return out
}

// blankLine returns the line that ends a header region, or nil when the
// header was not terminated by a blank line.
func blankLine(hdr []byte) []byte {
	switch {
	case bytes.HasSuffix(hdr, []byte("\n\r\n")) || string(hdr) == "\r\n":
		return []byte("\r\n")
	case bytes.HasSuffix(hdr, []byte("\n\n")) || string(hdr) == "\n":
		return []byte("\n")
	}
	return nil
}

// AppendSectionName appends the section text as echoed in a FETCH answer,
// e.g. `1.HEADER.FIELDS (FROM SUBJECT DATE)`: part numbers, then the
// specifier; header field names are upper-cased (as Dovecot and most
// servers echo them) and written as atoms or quoted strings.
func AppendSectionName(dst []byte, part []uint32, spec Spec, fields [][]byte) []byte {
	for i, n := range part {
		if i > 0 {
			dst = append(dst, '.')
		}
		dst = strconv.AppendUint(dst, uint64(n), 10)
	}
	var s string
	switch spec {
	case SpecHeader:
		s = "HEADER"
	case SpecHeaderFields:
		s = "HEADER.FIELDS"
	case SpecHeaderFieldsNot:
		s = "HEADER.FIELDS.NOT"
	case SpecText:
		s = "TEXT"
	case SpecMIME:
		s = "MIME"
	default:
		return dst
	}
	if len(part) > 0 {
		dst = append(dst, '.')
	}
	dst = append(dst, s...)
	if spec == SpecHeaderFields || spec == SpecHeaderFieldsNot {
		dst = append(dst, " ("...)
		for i, f := range fields {
			if i > 0 {
				dst = append(dst, ' ')
			}
			dst = appendAStringUpper(dst, f)
		}
		dst = append(dst, ')')
	}
	return dst
}

func appendAStringUpper(dst, s []byte) []byte {
	atom := len(s) > 0
	for _, c := range s {
		if c <= ' ' || c >= 0x7f || c == '(' || c == ')' || c == '{' || c == '%' || c == '*' || c == '"' || c == '\\' || c == ']' {
			atom = false
		}
	}
	up := make([]byte, len(s))
	for i, c := range s {
		if 'a' <= c && c <= 'z' {
			c -= 'a' - 'A'
		}
		up[i] = c
	}
	if atom {
		return append(dst, up...)
	}
	return appendBSString(dst, up)
}
