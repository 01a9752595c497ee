package fuzz

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	sm "github.com/myriad-mail/myriad/statemachine"
	"github.com/myriad-mail/myriad/statemachine/imapmime"
)

// FuzzMIME feeds arbitrary messages through what FETCH sends for them:
// ENVELOPE, BODY, BODYSTRUCTURE, and BODY[section] / BINARY[section] /
// BINARY.SIZE[section] for every part. It checks that nothing panics, that
// the MIME tree's offsets are consistent, and that the FETCH response is
// well-formed IMAP whose ENVELOPE and BODYSTRUCTURE have the shape RFC 9051
// §7.5.2 gives them (what client parsers rely on).
//
// cache is arbitrary cached MIME metadata for the message (the
// imapmime.AppendPart encoding a metadata cache stores): DecodePart must
// refuse it or give a tree on which FETCH works as well.
//
// The seed corpus holds real-world-shaped messages from the MIME oracle
// (shared/testdata/mime-oracle): multipart/alternative, attachments, nested
// message/rfc822, broken MIME, 8-bit and huge headers.
func FuzzMIME(f *testing.F) {
	for _, s := range append(mimeInlineSeeds, mimeHugeHeader()) {
		f.Add([]byte(s), imapmime.AppendPart(nil, imapmime.Parse([]byte(s))))
	}
	f.Fuzz(func(t *testing.T, msg, cache []byte) {
		if err := checkMIME(msg, cache); err != nil {
			t.Fatalf("%v\nmessage: %q\ncache: %q", err, msg, cache)
		}
	})
}

var mimeInlineSeeds = []string{
	"From: a@b\r\nSubject: hi\r\n\r\nbody\r\n",
	"Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\nContent-Type: text/plain\r\n\r\none\r\n--x\r\nContent-Type: message/rfc822\r\n\r\nSubject: inner\r\n\r\ntwo\r\n--x--\r\n",
	"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\naGVsbG8=\r\n",
	"Subject: =?utf-8?q?caf=C3=A9?=\r\nTo: undisclosed-recipients:;\r\n\r\n",
}

// mimeHugeHeader is a message with a 40 KB header: 300 Received fields and
// a folded To of 400 addresses.
func mimeHugeHeader() string {
	var b strings.Builder
	for i := range 300 {
		fmt.Fprintf(&b, "Received: from relay%d.example.net (relay%d.example.net [192.0.2.%d])\r\n\tby mx.example.org; Fri, 7 Mar 2025 22:00:%02d +0100\r\n", i, i, i%256, i%60)
	}
	b.WriteString("To: ")
	for i := range 400 {
		if i > 0 {
			b.WriteString(",\r\n ")
		}
		fmt.Fprintf(&b, "\"User %d\" <user%d@example.org>", i, i)
	}
	b.WriteString("\r\nSubject: many recipients\r\nContent-Type: text/plain\r\n\r\nbody\r\n")
	return b.String()
}

// mimeFields are the header fields asked for in HEADER.FIELDS sections:
// common ones, one in odd case, one that needs quoting.
var mimeFields = [][]byte{[]byte("From"), []byte("subject"), []byte("Content-Type"), []byte("X-Odd Name")}

// mimeMaxPaths bounds the sections tried per message.
const mimeMaxPaths = 48

func checkMIME(raw, cache []byte) error {
	p := imapmime.Parse(raw)
	if err := checkPartTree(raw, p, 0, uint32(len(raw)), true); err != nil {
		return err
	}
	if p.Start != 0 || int(p.End) != len(raw) {
		return fmt.Errorf("root part spans [%d,%d), message has %d bytes", p.Start, p.End, len(raw))
	}
	// The cache encoding gives the same tree back.
	enc := imapmime.AppendPart(nil, p)
	d, err := imapmime.DecodePart(enc, len(raw))
	if err != nil {
		return fmt.Errorf("DecodePart(AppendPart(tree)): %v", err)
	}
	if !samePart(p, d) {
		return fmt.Errorf("DecodePart(AppendPart(tree)) differs: %+v, then %+v", *p, *d)
	}
	if err := checkRendering(raw, p); err != nil {
		return err
	}
	// Arbitrary cached metadata: DecodePart accepts it only if its offsets
	// hold, and then FETCH on the tree it gives must work as on a parsed one
	// (the cache is checksummed, but its decoder is the last guard).
	if len(cache) > 0 {
		if c, err := imapmime.DecodePart(cache, len(raw)); err == nil {
			if err := checkPartTree(raw, c, 0, uint32(len(raw)), false); err != nil {
				return fmt.Errorf("DecodePart accepted a bad tree: %v", err)
			}
			if err := checkRendering(raw, c); err != nil {
				return fmt.Errorf("with the cached tree: %v", err)
			}
		}
	}
	return nil
}

func samePart(a, b *imapmime.Part) bool {
	if a.Start != b.Start || a.Body != b.Body || a.End != b.End || a.Lines != b.Lines ||
		a.IsMultipart() != b.IsMultipart() || a.IsMessage() != b.IsMessage() || len(a.Children) != len(b.Children) {
		return false
	}
	for i := range a.Children {
		if !samePart(&a.Children[i], &b.Children[i]) {
			return false
		}
	}
	return true
}

// checkRendering writes what FETCH sends for p and checks it.
func checkRendering(raw []byte, p *imapmime.Part) error {
	// ENVELOPE, BODY and BODYSTRUCTURE come from imapmime's own encoders:
	// they must hold no NUL, whatever the message.
	out := []byte("* 1 FETCH (ENVELOPE ")
	out = imapmime.AppendEnvelope(out, raw, p)
	out = append(out, " BODY "...)
	out = imapmime.AppendBodyStructure(out, raw, p, false)
	out = append(out, " BODYSTRUCTURE "...)
	out = imapmime.AppendBodyStructure(out, raw, p, true)
	out = append(out, ")\r\n"...)
	if err := checkFetchResponse(out, false); err != nil {
		return fmt.Errorf("ENVELOPE/BODYSTRUCTURE: %v\nresponse: %q", err, out)
	}
	// After ENABLE IMAP4rev2: message/global is an encapsulated message.
	out = append(out[:0], "* 1 FETCH (BODY "...)
	out = imapmime.AppendBodyStructureRev2(out, raw, p, false)
	out = append(out, " BODYSTRUCTURE "...)
	out = imapmime.AppendBodyStructureRev2(out, raw, p, true)
	out = append(out, ")\r\n"...)
	if err := checkFetchResponse(out, true); err != nil {
		return fmt.Errorf("IMAP4rev2 BODYSTRUCTURE: %v\nresponse: %q", err, out)
	}

	// Sections, written with handle_fetch's encoders: NUL in the message
	// must go out only in a BINARY literal8 (RFC 9051 §4.3; finding F2).
	out = append(out[:0], "* 1 FETCH (UID 1"...)
	for _, path := range partPaths(raw, p) {
		for spec := imapmime.SpecNone; spec <= imapmime.SpecMIME; spec++ {
			var fields [][]byte
			if spec == imapmime.SpecHeaderFields || spec == imapmime.SpecHeaderFieldsNot {
				fields = mimeFields
			}
			b, ok := imapmime.Section(raw, p, path, spec, fields)
			if err := checkSection(raw, p, path, spec, b, ok); err != nil {
				return err
			}
			out = append(out, " BODY["...)
			out = imapmime.AppendSectionName(out, path, spec, fields)
			out = append(out, "] "...)
			if ok {
				out = sm.AppendBodyLiteral(out, b)
			} else {
				out = append(out, "NIL"...)
			}
		}
		b, _, err := imapmime.Binary(raw, p, path)
		out = append(out, " BINARY["...)
		out = imapmime.AppendSectionName(out, path, imapmime.SpecNone, nil)
		out = append(out, "] "...)
		switch {
		case err != nil:
			out = append(out, "NIL"...)
		default:
			out = sm.AppendBinaryLiteral(out, b)
		}
		// SEARCH helpers on the same parts: they must not panic.
		imapmime.MatchText(raw, p, []byte("x"))
	}
	imapmime.MatchHeader(raw, p, []byte("subject"), []byte("a"))
	imapmime.MatchBody(raw, p, []byte("\xc3\xa9"))
	imapmime.SentDate(raw, p)
	out = append(out, ")\r\n"...)
	if err := checkFetchResponse(out, false); err != nil {
		return fmt.Errorf("sections: %v", err)
	}
	return nil
}

// checkPartTree checks that every part lies inside its parent, in order,
// with Start <= Body <= End and (lines) Lines counting the body's LF bytes.
func checkPartTree(raw []byte, p *imapmime.Part, lo, hi uint32, lines bool) error {
	if p.Start < lo || p.Start > p.Body || p.Body > p.End || p.End > hi {
		return fmt.Errorf("part [%d %d %d] outside [%d,%d)", p.Start, p.Body, p.End, lo, hi)
	}
	if n := bytes.Count(raw[p.Body:p.End], []byte{'\n'}); lines && uint32(n) != p.Lines {
		return fmt.Errorf("part [%d %d %d]: Lines %d, body has %d LF", p.Start, p.Body, p.End, p.Lines, n)
	}
	if p.IsMultipart() && len(p.Children) == 0 {
		return fmt.Errorf("multipart [%d %d %d] without children", p.Start, p.Body, p.End)
	}
	if p.IsMessage() && len(p.Children) != 1 {
		return fmt.Errorf("message part [%d %d %d] with %d children", p.Start, p.Body, p.End, len(p.Children))
	}
	prev := p.Body
	for i := range p.Children {
		c := &p.Children[i]
		if err := checkPartTree(raw, c, prev, p.End, lines); err != nil {
			return err
		}
		prev = c.End
	}
	return nil
}

// partPaths lists the part numbers that exist (Section with SpecNone
// finds them), breadth first, plus two that do not.
func partPaths(raw []byte, p *imapmime.Part) [][]uint32 {
	paths := [][]uint32{nil}
	for i := 0; i < len(paths) && len(paths) < mimeMaxPaths; i++ {
		if len(paths[i]) >= 6 {
			continue
		}
		for n := uint32(1); len(paths) < mimeMaxPaths; n++ {
			q := append(append([]uint32(nil), paths[i]...), n)
			if _, ok := imapmime.Section(raw, p, q, imapmime.SpecNone, nil); !ok {
				break
			}
			paths = append(paths, q)
		}
	}
	return append(paths, []uint32{0}, []uint32{1, 4294967295})
}

// checkSection cross-checks what Section returned against the tree.
func checkSection(raw []byte, p *imapmime.Part, path []uint32, spec imapmime.Spec, b []byte, ok bool) error {
	if len(path) == 0 {
		switch spec {
		case imapmime.SpecNone:
			if !ok || !bytes.Equal(b, raw) {
				return fmt.Errorf("BODY[] is not the message")
			}
		case imapmime.SpecHeader:
			if !ok || !bytes.Equal(b, raw[p.Start:p.Body]) {
				return fmt.Errorf("BODY[HEADER] is not raw[Start:Body]")
			}
		case imapmime.SpecText:
			if !ok || !bytes.Equal(b, raw[p.Body:p.End]) {
				return fmt.Errorf("BODY[TEXT] is not raw[Body:End]")
			}
		case imapmime.SpecMIME:
			if ok {
				return fmt.Errorf("BODY[MIME] without a part number exists")
			}
		}
	}
	if ok && (spec == imapmime.SpecHeaderFields || spec == imapmime.SpecHeaderFieldsNot) {
		// The selected fields are a subsequence of the header: never
		// longer than it.
		hdr, _ := imapmime.Section(raw, p, path, imapmime.SpecHeader, nil)
		if len(b) > len(hdr)+2 {
			return fmt.Errorf("BODY[%v.HEADER.FIELDS] of %d bytes, header %d", path, len(b), len(hdr))
		}
	}
	return nil
}

// checkFetchResponse reads out as exactly one "* n FETCH (...)" response and
// checks the shape of its items.
func checkFetchResponse(out []byte, rev2 bool) error {
	rs, err := readResponses(out, false)
	if err != nil {
		return err
	}
	if len(rs) != 1 {
		return fmt.Errorf("%d responses, want 1", len(rs))
	}
	v := rs[0].vals
	if len(v) != 3 || !strings.EqualFold(string(v[1].text), "FETCH") || v[2].kind != rList {
		return fmt.Errorf("not a FETCH response: %v", v)
	}
	return checkFetchItems(v[2].list, rev2)
}

// checkFetchItems checks FETCH msg-att pairs (RFC 9051 §7.5.2). rev2: the
// IMAP4rev2 grammar, where message/global carries an envelope.
func checkFetchItems(items []rval, rev2 bool) error {
	if len(items)%2 != 0 {
		return fmt.Errorf("FETCH items not in pairs: %d values", len(items))
	}
	for i := 0; i < len(items); i += 2 {
		name, val := items[i], items[i+1]
		if name.kind != rAtom {
			return fmt.Errorf("FETCH item name %v", name)
		}
		n := strings.ToUpper(string(name.text))
		var err error
		switch {
		case n == "ENVELOPE":
			err = checkEnvelope(val)
		case n == "BODY":
			err = checkBody(val, false, rev2, 0)
		case n == "BODYSTRUCTURE":
			err = checkBody(val, true, rev2, 0)
		case n == "UID" || n == "RFC822.SIZE" || strings.HasPrefix(n, "BINARY.SIZE["):
			if _, ok := val.number(); !ok && !(strings.HasPrefix(n, "BINARY.SIZE[") && val.isNIL()) {
				err = fmt.Errorf("not a number: %v", val)
			}
		case strings.HasPrefix(n, "BODY[") || strings.HasPrefix(n, "BINARY[") || n == "RFC822" || n == "RFC822.HEADER" || n == "RFC822.TEXT":
			if !val.isNString() {
				err = fmt.Errorf("not an nstring: %v", val)
			} else if val.lit8 && !strings.HasPrefix(n, "BINARY[") {
				err = fmt.Errorf("literal8 outside BINARY")
			} else if val.lit8 && bytes.IndexByte(val.text, 0) < 0 {
				// RFC 3516 §4.3 (erratum 3978): data without NUL
				// SHOULD be a string, so literal8 says "NUL inside".
				err = fmt.Errorf("literal8 without NUL")
			}
		case n == "FLAGS":
			if val.kind != rList {
				err = fmt.Errorf("FLAGS not a list: %v", val)
			}
			for _, f := range val.list {
				if f.kind != rAtom {
					err = fmt.Errorf("flag %v is not an atom", f)
				}
			}
		case n == "MODSEQ":
			if val.kind != rList || len(val.list) != 1 {
				err = fmt.Errorf("MODSEQ %v", val)
			} else if _, ok := val.list[0].number(); !ok {
				err = fmt.Errorf("MODSEQ %v", val)
			}
		case n == "INTERNALDATE":
			if val.kind != rQuoted || len(val.text) != 26 {
				err = fmt.Errorf("INTERNALDATE %v", val)
			}
		default:
			err = fmt.Errorf("unknown FETCH item")
		}
		if err != nil {
			return fmt.Errorf("%s: %v", name.text, err)
		}
	}
	return nil
}

// checkEnvelope: "(" date SP subject SP from SP sender SP reply-to SP to SP
// cc SP bcc SP in-reply-to SP message-id ")", the address fields NIL or a
// non-empty list of addresses "(" name SP adl SP mailbox SP host ")".
func checkEnvelope(v rval) error {
	if v.kind != rList || len(v.list) != 10 {
		return fmt.Errorf("envelope is not a list of 10: %v", v)
	}
	for _, i := range []int{0, 1, 8, 9} {
		if !v.list[i].isNString() {
			return fmt.Errorf("envelope field %d is not an nstring: %v", i, v.list[i])
		}
	}
	for i := 2; i <= 7; i++ {
		a := v.list[i]
		if a.isNIL() {
			continue
		}
		if a.kind != rList || len(a.list) == 0 {
			return fmt.Errorf("envelope address field %d: %v", i, a)
		}
		for _, ad := range a.list {
			if ad.kind != rList || len(ad.list) != 4 {
				return fmt.Errorf("address is not a list of 4: %v", ad)
			}
			for _, f := range ad.list {
				if !f.isNString() {
					return fmt.Errorf("address part is not an nstring: %v", ad)
				}
			}
		}
	}
	return nil
}

// checkBody checks body (RFC 9051 §9): multipart or one part, with the
// extension data only for BODYSTRUCTURE. MESSAGE/RFC822 (and, under
// IMAP4rev2, MESSAGE/GLOBAL) has the body-type-msg form; in the IMAP4rev1
// grammar MESSAGE/GLOBAL is a basic type (docs/MIME.md, 068).
func checkBody(v rval, ext, rev2 bool, depth int) error {
	if v.kind != rList || len(v.list) == 0 {
		return fmt.Errorf("body is not a non-empty list: %v", v)
	}
	if depth > 200 {
		return fmt.Errorf("body nested deeper than 200")
	}
	l := v.list
	if l[0].kind == rList {
		// body-type-mpart = 1*body SP media-subtype [SP body-ext-mpart]
		i := 0
		for ; i < len(l) && l[i].kind == rList; i++ {
			if err := checkBody(l[i], ext, rev2, depth+1); err != nil {
				return err
			}
		}
		if i == len(l) || !l[i].isString() {
			return fmt.Errorf("multipart without a subtype string: %v", v)
		}
		rest := l[i+1:]
		if !ext {
			if len(rest) != 0 {
				return fmt.Errorf("BODY multipart with extension data: %v", v)
			}
			return nil
		}
		// body-ext-mpart = body-fld-param [SP body-fld-dsp [SP body-fld-lang [SP body-fld-loc *(SP body-extension)]]]
		return checkExt(rest, true)
	}
	// body-type-1part: body-fields = param SP id SP desc SP enc SP octets.
	if len(l) < 7 {
		return fmt.Errorf("one-part body with %d fields: %v", len(l), v)
	}
	if !l[0].isString() || !l[1].isString() {
		return fmt.Errorf("media type is not two strings: %v", v)
	}
	if err := checkParams(l[2]); err != nil {
		return err
	}
	if !l[3].isNString() || !l[4].isNString() {
		return fmt.Errorf("body-fld-id/desc: %v", v)
	}
	if !l[5].isString() {
		return fmt.Errorf("body-fld-enc is not a string: %v", l[5])
	}
	if _, ok := l[6].number(); !ok {
		return fmt.Errorf("body-fld-octets is not a number: %v", l[6])
	}
	typ, sub := strings.ToUpper(string(l[0].text)), strings.ToUpper(string(l[1].text))
	rest := l[7:]
	switch {
	case typ == "MESSAGE" && (sub == "RFC822" || sub == "GLOBAL" && rev2):
		// body-type-msg: ... SP envelope SP body SP body-fld-lines
		if len(rest) < 3 {
			return fmt.Errorf("MESSAGE/%s without envelope, body and lines: %v", sub, v)
		}
		if err := checkEnvelope(rest[0]); err != nil {
			return err
		}
		if err := checkBody(rest[1], ext, rev2, depth+1); err != nil {
			return err
		}
		if _, ok := rest[2].number(); !ok {
			return fmt.Errorf("body-fld-lines is not a number: %v", rest[2])
		}
		rest = rest[3:]
	case typ == "TEXT":
		if len(rest) < 1 {
			return fmt.Errorf("TEXT without body-fld-lines: %v", v)
		}
		if _, ok := rest[0].number(); !ok {
			return fmt.Errorf("body-fld-lines is not a number: %v", rest[0])
		}
		rest = rest[1:]
	}
	if !ext {
		if len(rest) != 0 {
			return fmt.Errorf("BODY with extension data: %v", v)
		}
		return nil
	}
	// body-ext-1part = body-fld-md5 [SP body-fld-dsp [SP body-fld-lang [SP body-fld-loc *(SP body-extension)]]]
	if len(rest) > 0 && !rest[0].isNString() {
		return fmt.Errorf("body-fld-md5: %v", rest[0])
	}
	if len(rest) > 0 {
		rest = rest[1:]
	}
	return checkExt(rest, false)
}

// checkExt checks [dsp [lang [loc *ext]]], preceded by param for a
// multipart.
func checkExt(rest []rval, mpart bool) error {
	if mpart {
		if len(rest) == 0 {
			return nil
		}
		if err := checkParams(rest[0]); err != nil {
			return err
		}
		rest = rest[1:]
	}
	if len(rest) > 0 {
		// body-fld-dsp = "(" string SP body-fld-param ")" / nil
		d := rest[0]
		if !d.isNIL() {
			if d.kind != rList || len(d.list) != 2 || !d.list[0].isString() {
				return fmt.Errorf("body-fld-dsp: %v", d)
			}
			if err := checkParams(d.list[1]); err != nil {
				return err
			}
		}
		rest = rest[1:]
	}
	if len(rest) > 0 {
		// body-fld-lang = nstring / "(" string *(SP string) ")"
		g := rest[0]
		if g.kind == rList {
			if len(g.list) == 0 {
				return fmt.Errorf("empty body-fld-lang list")
			}
			for _, s := range g.list {
				if !s.isString() {
					return fmt.Errorf("body-fld-lang: %v", g)
				}
			}
		} else if !g.isNString() {
			return fmt.Errorf("body-fld-lang: %v", g)
		}
		rest = rest[1:]
	}
	if len(rest) > 0 {
		if !rest[0].isNString() {
			return fmt.Errorf("body-fld-loc: %v", rest[0])
		}
	}
	return nil
}

// checkParams: body-fld-param = "(" string SP string *(SP string SP string) ")" / nil
func checkParams(v rval) error {
	if v.isNIL() {
		return nil
	}
	if v.kind != rList || len(v.list) == 0 || len(v.list)%2 != 0 {
		return fmt.Errorf("body-fld-param: %v", v)
	}
	for _, s := range v.list {
		if !s.isString() {
			return fmt.Errorf("body-fld-param holds a non-string: %v", v)
		}
	}
	return nil
}
