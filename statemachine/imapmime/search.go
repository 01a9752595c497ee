package imapmime

import (
	"bytes"
	"io"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/emersion/go-message/charset"
)

// SEARCH helpers (RFC 3501 §6.4.4, RFC 9051 §6.4.4). Matching is a
// case-insensitive substring test after Unicode simple case folding
// (I18NLEVEL=1 style). Headers are unfolded and RFC 2047 encoded-words are
// decoded; bodies of text/* and message/* leaf parts are transfer-decoded
// (lenient base64/quoted-printable) and converted from their charset to
// UTF-8 with go-message's charset package. Non-text leaves (application/*,
// image/*, ...), preambles and epilogues are not searched.
//
// BODY covers the bodies of the leaf parts only; TEXT additionally covers
// the message header, every MIME part header and every encapsulated
// message header, including field names.

// MatchHeader reports whether a field called name in the message header
// contains term. An empty term matches any message that has the field.
// SUBJECT, FROM, TO, CC and BCC searches use it.
func MatchHeader(raw []byte, p *Part, name []byte, term []byte) bool {
	ft := foldCase(nil, term)
	found := false
	eachField(raw[p.Start:p.Body], func(f *field) bool {
		if !f.colon || !bytes.EqualFold(f.name, name) {
			return true
		}
		if len(ft) == 0 {
			found = true
			return false
		}
		v := foldCase(nil, decodeHeaderValue(f.value))
		if bytes.Contains(v, ft) {
			found = true
			return false
		}
		return true
	})
	return found
}

// MatchBody reports whether the body text of the message contains term.
func MatchBody(raw []byte, p *Part, term []byte) bool {
	ft := foldCase(nil, term)
	if len(ft) == 0 {
		return true
	}
	return walkSearch(raw, p, ft, false, true)
}

// MatchText reports whether the header or body text contains term.
func MatchText(raw []byte, p *Part, term []byte) bool {
	ft := foldCase(nil, term)
	if len(ft) == 0 {
		return true
	}
	return walkSearch(raw, p, ft, true, true)
}

// walkSearch searches part t; headers says whether its header is searched.
func walkSearch(raw []byte, t *Part, ft []byte, headers, top bool) bool {
	hdr := raw[t.Start:t.Body]
	if headers && headerContains(hdr, ft) {
		return true
	}
	switch {
	case t.IsMultipart():
		for i := range t.Children {
			if walkSearch(raw, &t.Children[i], ft, headers, false) {
				return true
			}
		}
		return false
	case t.IsMessage():
		return walkSearch(raw, &t.Children[0], ft, headers, false)
	}
	ct := contentTypeOf(hdr, t.kind&kindDigest != 0)
	if !ct.text && !asciiEqualFold(ct.typ, "message") {
		return false
	}
	body := raw[t.Body:t.End]
	v, _ := lastOrFirstField(hdr, "content-transfer-encoding", true)
	enc := cteToken(v)
	switch {
	case asciiEqualFold(enc, "base64"):
		body, _ = decodeBase64(nil, body, false)
	case asciiEqualFold(enc, "quoted-printable"):
		body, _ = decodeQP(nil, body, false)
	case len(enc) == 0, asciiEqualFold(enc, "7bit"), asciiEqualFold(enc, "8bit"), asciiEqualFold(enc, "binary"):
	default:
		return false // unknown encoding: cannot read the text
	}
	var cs []byte
	for _, prm := range ct.params {
		if asciiEqualFold(prm.name, "charset") {
			cs = prm.value
			break
		}
	}
	body = toUTF8(cs, body)
	return bytes.Contains(foldCase(nil, body), ft)
}

// headerContains searches "Name: decoded value" of every field.
func headerContains(hdr []byte, ft []byte) bool {
	found := false
	var buf []byte
	eachField(hdr, func(f *field) bool {
		buf = append(buf[:0], f.name...)
		if f.colon {
			buf = append(buf, ": "...)
			buf = append(buf, decodeHeaderValue(f.value)...)
		}
		if bytes.Contains(foldCase(nil, buf), ft) {
			found = true
			return false
		}
		return true
	})
	return found
}

// toUTF8 converts b from charset cs; unknown charsets and conversion
// errors leave b as it is.
func toUTF8(cs []byte, b []byte) []byte {
	if len(cs) == 0 || asciiEqualFold(cs, "us-ascii") || asciiEqualFold(cs, "utf-8") || asciiEqualFold(cs, "utf8") {
		return b
	}
	r, err := charset.Reader(strings.ToLower(string(cs)), bytes.NewReader(b))
	if err != nil {
		return b
	}
	out, err := io.ReadAll(r)
	if err != nil && len(out) == 0 {
		return b
	}
	return out
}

// foldCase appends the case-folded form of s: every rune is mapped to the
// smallest rune of its simple case-folding orbit. Invalid UTF-8 bytes are
// kept as they are.
func foldCase(dst, s []byte) []byte {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			dst = append(dst, lowerASCII(c))
			i++
			continue
		}
		r, n := utf8.DecodeRune(s[i:])
		if r == utf8.RuneError && n <= 1 {
			dst = append(dst, c)
			i++
			continue
		}
		dst = utf8.AppendRune(dst, foldRune(r))
		i += n
	}
	return dst
}

func foldRune(r rune) rune {
	m := r
	for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
		if f < m {
			m = f
		}
	}
	if m < utf8.RuneSelf {
		return rune(lowerASCII(byte(m)))
	}
	return m
}

// decodeHeaderValue unfolds a header value and decodes RFC 2047
// encoded-words (also with an RFC 2231 language suffix). White space
// between adjacent encoded-words is dropped, and adjacent words in the same
// charset are converted together, so a character split across two words
// survives. Words in unknown charsets or with bad encoding stay as they
// are. Written here because mime.WordDecoder fails the whole value on one
// unknown charset.
func decodeHeaderValue(v []byte) []byte {
	v = unfoldSearch(v)
	if !bytes.Contains(v, []byte("=?")) {
		return v
	}
	var out, pend, pendCS []byte
	flush := func() {
		if pend != nil {
			out = append(out, toUTF8(pendCS, pend)...)
			pend, pendCS = nil, nil
		}
	}
	i := 0
	var gap []byte // white space since the last encoded-word
	lastWasWord := false
	for i < len(v) {
		if v[i] == '=' && i+1 < len(v) && v[i+1] == '?' {
			if cs, data, n, ok := parseEncodedWord(v[i:]); ok {
				if !lastWasWord {
					flush()
				}
				if pend != nil && !bytes.EqualFold(cs, pendCS) {
					flush()
				}
				if pend == nil {
					pend, pendCS = []byte{}, cs
				}
				pend = append(pend, data...)
				gap = nil
				lastWasWord = true
				i += n
				continue
			}
		}
		c := v[i]
		if lastWasWord && (c == ' ' || c == '\t') {
			gap = append(gap, c)
			i++
			continue
		}
		flush()
		out = append(out, gap...)
		gap = nil
		lastWasWord = false
		out = append(out, c)
		i++
	}
	flush()
	out = append(out, gap...)
	return out
}

// parseEncodedWord parses "=?charset[*lang]?B|Q?text?=" at the start of s.
func parseEncodedWord(s []byte) (cs, data []byte, n int, ok bool) {
	q1 := bytes.IndexByte(s[2:], '?')
	if q1 < 0 {
		return
	}
	q1 += 2
	if q1+2 >= len(s) || s[q1+2] != '?' {
		return
	}
	enc := s[q1+1]
	rest := s[q1+3:]
	end := bytes.Index(rest, []byte("?="))
	if end < 0 {
		return
	}
	text := rest[:end]
	if bytes.ContainsAny(text, " \t") {
		return
	}
	cs = s[2:q1]
	if star := bytes.IndexByte(cs, '*'); star >= 0 {
		cs = cs[:star]
	}
	if len(cs) == 0 {
		return
	}
	switch enc {
	case 'B', 'b':
		d, err := decodeBase64(nil, text, true)
		if err != nil {
			return
		}
		data = d
	case 'Q', 'q':
		for i := 0; i < len(text); i++ {
			c := text[i]
			switch {
			case c == '_':
				data = append(data, ' ')
			case c == '=' && i+2 < len(text) && hexval(text[i+1]) >= 0 && hexval(text[i+2]) >= 0:
				data = append(data, byte(hexval(text[i+1])<<4|hexval(text[i+2])))
				i += 2
			default:
				data = append(data, c)
			}
		}
	default:
		return
	}
	if !knownCharset(cs) {
		return nil, nil, 0, false
	}
	return cs, data, q1 + 3 + end + 2, true
}

func knownCharset(cs []byte) bool {
	if asciiEqualFold(cs, "us-ascii") || asciiEqualFold(cs, "utf-8") {
		return true
	}
	_, err := charset.Reader(strings.ToLower(string(cs)), bytes.NewReader(nil))
	return err == nil
}

// unfoldSearch unfolds a header value for searching: CR and LF are removed
// and TABs become spaces, so folding white space compares as one space
// (a phrase "across a fold" matches whether the fold used SP or TAB).
func unfoldSearch(v []byte) []byte {
	out := make([]byte, 0, len(v))
	for _, c := range v {
		switch c {
		case '\r', '\n':
		case '\t':
			out = append(out, ' ')
		default:
			out = append(out, c)
		}
	}
	return out
}
