package imapmime

import "errors"

// Errors of Binary, mapped by the server to RFC 3516 response codes.
var (
	ErrUnknownCTE = errors.New("imapmime: unknown Content-Transfer-Encoding") // NO [UNKNOWN-CTE]
	ErrParse      = errors.New("imapmime: invalid data in MIME part")         // NO [PARSE]
	ErrNoPart     = errors.New("imapmime: no such part")
)

// Binary returns the content of BINARY[part] (RFC 3516): the part's body
// with its Content-Transfer-Encoding removed. decoded reports whether any
// decoding took place (the server then sends literal8). For a multipart or
// message/rfc822 part every leaf inside is decoded and its
// Content-Transfer-Encoding field rewritten to "binary" (as Dovecot does);
// an empty part path means the whole message, handled the same way.
//
// The base64 and quoted-printable decoders are our own, in strict mode:
// characters outside the base64 alphabet (other than white space) and "="
// not followed by two hex digits or a line end are errors (ErrParse), as
// RFC 3516 allows and the oracle shows.
func Binary(raw []byte, p *Part, part []uint32) (b []byte, decoded bool, err error) {
	t := p
	if len(part) > 0 {
		t = find(p, part)
		if t == nil {
			return nil, false, ErrNoPart
		}
		if !t.IsMultipart() && !t.IsMessage() {
			return leafBinary(raw, t)
		}
		bw := binWriter{raw: raw}
		bw.body(t)
		return bw.out, bw.decoded, bw.err
	}
	bw := binWriter{raw: raw}
	bw.entity(t)
	return bw.out, bw.decoded, bw.err
}

func leafBinary(raw []byte, t *Part) ([]byte, bool, error) {
	hdr := raw[t.Start:t.Body]
	body := raw[t.Body:t.End]
	v, _ := lastOrFirstField(hdr, "content-transfer-encoding", true)
	enc := cteToken(v)
	switch {
	case len(enc) == 0, asciiEqualFold(enc, "7bit"), asciiEqualFold(enc, "8bit"), asciiEqualFold(enc, "binary"):
		return body, false, nil
	case asciiEqualFold(enc, "base64"):
		d, err := decodeBase64(nil, body, true)
		return d, true, err
	case asciiEqualFold(enc, "quoted-printable"):
		d, err := decodeQP(nil, body, true)
		return d, true, err
	}
	return nil, false, ErrUnknownCTE
}

type binWriter struct {
	raw     []byte
	out     []byte
	decoded bool
	err     error
}

func (w *binWriter) entity(t *Part) {
	if w.err != nil {
		return
	}
	hdr := w.raw[t.Start:t.Body]
	if t.IsMultipart() || t.IsMessage() {
		w.out = append(w.out, hdr...)
		w.body(t)
		return
	}
	b, dec, err := leafBinary(w.raw, t)
	if err != nil {
		w.err = err
		return
	}
	if !dec {
		w.out = append(w.out, hdr...)
		w.out = append(w.out, b...)
		return
	}
	w.decoded = true
	eachField(hdr, func(f *field) bool {
		if f.colon && asciiEqualFold(f.name, "content-transfer-encoding") {
			c := 0
			for c < len(f.raw) && f.raw[c] != ':' {
				c++
			}
			w.out = append(w.out, f.raw[:c]...)
			w.out = append(w.out, ": binary"...)
			w.out = append(w.out, f.raw[len(trimLineEnd(f.raw)):]...)
		} else {
			w.out = append(w.out, f.raw...)
		}
		return true
	})
	w.out = append(w.out, blankLine(hdr)...)
	w.out = append(w.out, b...)
}

func (w *binWriter) body(t *Part) {
	switch {
	case t.IsMultipart():
		cur := t.Body
		for i := range t.Children {
			c := &t.Children[i]
			if c.Start < cur || c.End > t.End {
				continue
			}
			w.out = append(w.out, w.raw[cur:c.Start]...)
			w.entity(c)
			cur = c.End
		}
		if cur < t.End {
			w.out = append(w.out, w.raw[cur:t.End]...)
		}
	case t.IsMessage():
		w.entity(&t.Children[0])
	default:
		b, dec, err := leafBinary(w.raw, t)
		if err != nil {
			w.err = err
			return
		}
		w.decoded = w.decoded || dec
		w.out = append(w.out, b...)
	}
}

func b64val(c byte) int {
	switch {
	case 'A' <= c && c <= 'Z':
		return int(c - 'A')
	case 'a' <= c && c <= 'z':
		return int(c-'a') + 26
	case '0' <= c && c <= '9':
		return int(c-'0') + 52
	case c == '+':
		return 62
	case c == '/':
		return 63
	}
	return -1
}

// decodeBase64 appends the decoded form of src to dst. White space is
// ignored; decoding stops at '='. In strict mode any other character
// outside the alphabet is an error; otherwise it is skipped (RFC 2045
// §6.8). A missing final padding is accepted.
func decodeBase64(dst, src []byte, strict bool) ([]byte, error) {
	var acc uint32
	n := 0
	for i := 0; i < len(src); i++ {
		c := src[i]
		v := b64val(c)
		if v < 0 {
			switch c {
			case ' ', '\t', '\r', '\n':
				continue
			case '=':
				// padding: the rest may only be '=' and white space
				if strict {
					for _, d := range src[i:] {
						if d != '=' && d != ' ' && d != '\t' && d != '\r' && d != '\n' {
							return dst, ErrParse
						}
					}
				}
				i = len(src)
				continue
			}
			if strict {
				return dst, ErrParse
			}
			continue
		}
		acc = acc<<6 | uint32(v)
		n++
		if n == 4 {
			dst = append(dst, byte(acc>>16), byte(acc>>8), byte(acc))
			acc, n = 0, 0
		}
	}
	switch n {
	case 2:
		dst = append(dst, byte(acc>>4))
	case 3:
		dst = append(dst, byte(acc>>10), byte(acc>>2))
	case 1:
		if strict {
			return dst, ErrParse
		}
	}
	return dst, nil
}

func hexval(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'A' <= c && c <= 'F':
		return int(c-'A') + 10
	case 'a' <= c && c <= 'f':
		return int(c-'a') + 10
	}
	return -1
}

// decodeQP appends the quoted-printable decoding of src to dst (RFC 2045
// §6.7): trailing white space on a line is dropped, "=" at the end of a
// line is a soft line break, "=XY" a byte (lower-case hex accepted). In
// strict mode any other "=" is an error; otherwise it is kept literally.
func decodeQP(dst, src []byte, strict bool) ([]byte, error) {
	for len(src) > 0 {
		e := lineEndIn(src, 0)
		line := src[:e]
		src = src[e:]
		content := trimLineEnd(line)
		eol := line[len(content):]
		content = trimRightWS(content)
		for i := 0; i < len(content); i++ {
			c := content[i]
			if c != '=' {
				dst = append(dst, c)
				continue
			}
			if i == len(content)-1 {
				eol = nil // soft line break
				break
			}
			if i+2 < len(content) && hexval(content[i+1]) >= 0 && hexval(content[i+2]) >= 0 {
				dst = append(dst, byte(hexval(content[i+1])<<4|hexval(content[i+2])))
				i += 2
				continue
			}
			if strict {
				return dst, ErrParse
			}
			dst = append(dst, c)
		}
		dst = append(dst, eol...)
	}
	return dst, nil
}
