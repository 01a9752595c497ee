package imapmime

import "strconv"

// AppendBodyStructure appends BODYSTRUCTURE (ext=true) or BODY (ext=false)
// of part p in the IMAP4rev1 grammar (RFC 3501 §7.4.2): message/global is a
// basic type there (no envelope, body or line count), as Dovecot sends it.
// Type, subtype, parameter names, encoding and disposition keep their
// original case.
func AppendBodyStructure(dst []byte, raw []byte, p *Part, ext bool) []byte {
	return appendBS(dst, raw, p, ext, false)
}

// AppendBodyStructureRev2 is AppendBodyStructure for a session that enabled
// IMAP4rev2 (RFC 9051 §7.5.2): message/global then carries the envelope,
// body structure and line count of the encapsulated message, like
// message/rfc822.
func AppendBodyStructureRev2(dst []byte, raw []byte, p *Part, ext bool) []byte {
	return appendBS(dst, raw, p, ext, true)
}

// emptyEnvelope (with an empty text/plain body) is written for a message/rfc822 part whose content
// could not be parsed (an encoded transfer encoding, or nested too deep):
// the grammar requires an envelope, a body and a line count.
const emptyEnvelope = "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)"

func appendBS(dst []byte, raw []byte, p *Part, ext bool, rev2 bool) []byte {
	hdr := raw[p.Start:p.Body]
	dst = append(dst, '(')
	if p.IsMultipart() {
		for i := range p.Children {
			dst = appendBS(dst, raw, &p.Children[i], ext, rev2)
		}
		ct := contentTypeOf(hdr, false)
		dst = append(dst, ' ')
		dst = appendBSString(dst, ct.sub)
		if ext {
			dst = append(dst, ' ')
			dst = appendParams(dst, ct.params)
			dst = appendExt(dst, hdr, false)
		}
		return append(dst, ')')
	}
	ct := contentTypeOf(hdr, p.kind&kindDigest != 0)
	dst = appendBSString(dst, ct.typ)
	dst = append(dst, ' ')
	dst = appendBSString(dst, ct.sub)
	dst = append(dst, ' ')
	params := ct.params
	if ct.text && !hasParam(params, "charset") {
		params = append(params[:len(params):len(params)], param{[]byte("charset"), []byte("us-ascii")})
	}
	dst = appendParams(dst, params)
	var id, desc, enc []byte
	var haveID, haveDesc bool
	eachField(hdr, func(f *field) bool {
		if !f.colon {
			return true
		}
		switch {
		case asciiEqualFold(f.name, "content-id") && !haveID:
			id, haveID = nonNil(f.value), true
		case asciiEqualFold(f.name, "content-description") && !haveDesc:
			desc, haveDesc = nonNil(f.value), true
		case asciiEqualFold(f.name, "content-transfer-encoding") && enc == nil:
			enc = cteToken(f.value)
		}
		return true
	})
	if len(enc) == 0 {
		enc = []byte("7bit")
	}
	dst = append(dst, ' ')
	dst = appendBSString(dst, id)
	dst = append(dst, ' ')
	dst = appendBSString(dst, desc)
	dst = append(dst, ' ')
	dst = appendBSString(dst, enc)
	dst = append(dst, ' ')
	dst = strconv.AppendUint(dst, uint64(p.End-p.Body), 10)
	isGlobal := ct.message && asciiEqualFold(ct.sub, "global")
	switch {
	case ct.message && (!isGlobal || rev2) && p.IsMessage():
		inner := &p.Children[0]
		dst = append(dst, ' ')
		dst = AppendEnvelope(dst, raw, inner)
		dst = append(dst, ' ')
		dst = appendBS(dst, raw, inner, ext, rev2)
		dst = append(dst, ' ')
		dst = strconv.AppendUint(dst, uint64(p.Lines), 10)
	case ct.message && (!isGlobal || rev2):
		dst = append(dst, ' ')
		dst = append(dst, emptyEnvelope...)
		dst = append(dst, ` ("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 0 0`...)
		if ext {
			dst = append(dst, " NIL NIL NIL NIL"...)
		}
		dst = append(dst, ") "...)
		dst = strconv.AppendUint(dst, uint64(p.Lines), 10)
	case ct.text:
		dst = append(dst, ' ')
		dst = strconv.AppendUint(dst, uint64(p.Lines), 10)
	}
	if ext {
		dst = appendExt(dst, hdr, true)
	}
	return append(dst, ')')
}

func hasParam(ps []param, name string) bool {
	for _, p := range ps {
		if asciiEqualFold(p.name, name) {
			return true
		}
	}
	return false
}

func appendParams(dst []byte, ps []param) []byte {
	if len(ps) == 0 {
		return appendNIL(dst)
	}
	dst = append(dst, '(')
	for i, p := range ps {
		if i > 0 {
			dst = append(dst, ' ')
		}
		dst = appendBSString(dst, p.name)
		dst = append(dst, ' ')
		dst = appendBSString(dst, p.value)
	}
	return append(dst, ')')
}

// appendExt appends the extension data: [md5] disposition language location.
func appendExt(dst []byte, hdr []byte, md5 bool) []byte {
	var md5v, disp, lang, loc []byte
	var haveMD5, haveDisp, haveLang, haveLoc bool
	eachField(hdr, func(f *field) bool {
		if !f.colon {
			return true
		}
		switch {
		case asciiEqualFold(f.name, "content-md5") && !haveMD5:
			md5v, haveMD5 = nonNil(f.value), true
		case asciiEqualFold(f.name, "content-disposition") && !haveDisp:
			disp, haveDisp = f.value, true
		case asciiEqualFold(f.name, "content-language") && !haveLang:
			lang, haveLang = f.value, true
		case asciiEqualFold(f.name, "content-location") && !haveLoc:
			loc, haveLoc = nonNil(f.value), true
		}
		return true
	})
	if md5 {
		dst = append(dst, ' ')
		dst = appendBSString(dst, md5v)
	}
	dst = append(dst, ' ')
	l := &lexer{b: disp}
	var dtype []byte
	if haveDisp {
		l.skipCFWS()
		dtype = l.token()
	}
	if len(dtype) == 0 {
		dst = appendNIL(dst)
	} else {
		dst = append(dst, '(')
		dst = appendBSString(dst, dtype)
		dst = append(dst, ' ')
		dst = appendParams(dst, parseParams(l))
		dst = append(dst, ')')
	}
	dst = append(dst, ' ')
	dst = appendLanguage(dst, lang)
	dst = append(dst, ' ')
	return appendBSString(dst, loc)
}

// appendLanguage writes Content-Language (RFC 3282) as a list of tags.
func appendLanguage(dst []byte, v []byte) []byte {
	l := &lexer{b: v}
	n := 0
	for {
		l.skipCFWS()
		if l.i >= len(v) {
			break
		}
		if v[l.i] == ',' {
			l.i++
			continue
		}
		s := l.i
		for l.i < len(v) && v[l.i] != ',' && v[l.i] != ' ' && v[l.i] != '\t' && v[l.i] != '\r' && v[l.i] != '\n' && v[l.i] != '(' {
			l.i++
		}
		if l.i == s {
			l.i++
			continue
		}
		if n == 0 {
			dst = append(dst, '(')
		} else {
			dst = append(dst, ' ')
		}
		dst = appendBSString(dst, v[s:l.i])
		n++
	}
	if n == 0 {
		return appendNIL(dst)
	}
	return append(dst, ')')
}
