// Package imapmime computes what IMAP FETCH and SEARCH need from a raw
// message: the MIME tree (as byte offsets), ENVELOPE, BODY/BODYSTRUCTURE,
// BODY[section] and BINARY[section] contents, and the SEARCH matchers.
//
// The package is pure: no I/O, no goroutines, no clock. It is imported by
// statemachine and must not import it.
//
// Behaviour follows RFC 3501 / RFC 9051 and RFC 2045-2047, 2231, 5322, and
// where the RFCs leave room, the answers of a mature server (Dovecot 2.3)
// recorded in shared/testdata/mime-oracle. docs/MIME.md lists every place
// where we deliberately differ from that server, and why.
//
// Why a hand-written MIME scanner instead of go-message's entity reader:
// IMAP needs the exact byte offsets of every part header and body (for
// BODY[1.2.MIME], sizes and line counts), the original case and order of
// every parameter, and well-defined results for broken MIME (unclosed
// multiparts, prefix-matched boundaries, header-less parts). go-message's
// reader normalises and rejects such input, so structure, header field
// scanning and Content-* parameter parsing are done here, and so are the
// transfer decoders (strict for BINARY, lenient for SEARCH) and the RFC 2047
// decoder (mime.WordDecoder gives up on a whole value for one unknown
// charset). go-message's charset package does the charset conversion to
// UTF-8 (SEARCH, RFC 2231 parameter values); importing this package thus
// sets message.CharsetReader for the program.
package imapmime

import "bytes"

// Kind flags of a Part.
const (
	kindMultipart uint8 = 1 << iota // children are the body parts
	kindMessage                     // message/rfc822 (or global): one child, the encapsulated message
	kindDigest                      // part of a multipart/digest: default type message/rfc822
)

// maxDepth bounds nesting (multipart and message/rfc822 levels together);
// deeper structure is treated as an opaque leaf. maxParts bounds the number
// of parts in one message. Dovecot uses the same kind of limits.
const (
	maxDepth = 100
	maxParts = 10000
)

// Part is one node of the parsed MIME tree. Offsets point into the raw
// message, so a Part is small and can be cached next to the message.
//
//	raw[Start:Body] is the part's header (including the blank line that
//	ends it, if there is one); raw[Body:End] is its body.
//
// For a multipart, Children are the body parts (never empty: a multipart
// without usable delimiters gets one empty text/plain part). For a
// message/rfc822 part, Children holds exactly one Part: the encapsulated
// message, whose header starts at the outer part's Body.
type Part struct {
	Start    uint32
	Body     uint32
	End      uint32
	Lines    uint32 // number of LF bytes in the body
	kind     uint8
	Children []Part
}

// IsMultipart reports whether p is a multipart/* part.
func (p *Part) IsMultipart() bool { return p.kind&kindMultipart != 0 }

// IsMessage reports whether p is a message/rfc822 (or message/global) part
// with a parsed encapsulated message in Children[0].
func (p *Part) IsMessage() bool { return p.kind&kindMessage != 0 }

// Parse parses raw into its MIME tree. It never fails: broken MIME yields
// the best structure it can (see docs/MIME.md).
func Parse(raw []byte) *Part {
	ps := parser{raw: raw}
	p, _ := ps.entity(0, 0, false)
	return &p
}

type parser struct {
	raw    []byte
	bounds [][]byte // active boundaries, outermost first
	nparts int
}

// stop says why a part ended: at a boundary line starting at at, of the
// boundary at level (index into bounds), or at the end of input (level -1).
type stop struct {
	at         int // start of the boundary line
	contentEnd int // end of the content before it (its [CR]LF belongs to the boundary)
	level      int
	close      bool
}

// boundaryAt reports whether a line starting at s is a delimiter line of
// an active boundary, checking the innermost first (prefix match, RFC 2046
// §5.1.1: "it is sufficient that the boundary appear in its entirety
// following the CRLF").
func (ps *parser) boundaryAt(s int) (level int, close bool) {
	raw := ps.raw
	if len(ps.bounds) == 0 || s+2 > len(raw) || raw[s] != '-' || raw[s+1] != '-' {
		return -1, false
	}
	rest := raw[s+2:]
	for l := len(ps.bounds) - 1; l >= 0; l-- {
		b := ps.bounds[l]
		if bytes.HasPrefix(rest, b) {
			r := rest[len(b):]
			return l, len(r) >= 2 && r[0] == '-' && r[1] == '-'
		}
	}
	return -1, false
}

// findBoundary scans for the next delimiter line at or after from. If
// first is set, from itself is a line start and is checked too.
func (ps *parser) findBoundary(from int, first bool) stop {
	raw := ps.raw
	if len(ps.bounds) == 0 {
		return stop{at: len(raw), contentEnd: len(raw), level: -1}
	}
	if first {
		if l, c := ps.boundaryAt(from); l >= 0 {
			return stop{at: from, contentEnd: from, level: l, close: c}
		}
	}
	i := from
	for {
		j := bytes.IndexByte(raw[i:], '\n')
		if j < 0 {
			return stop{at: len(raw), contentEnd: len(raw), level: -1}
		}
		nl := i + j
		s := nl + 1
		if l, c := ps.boundaryAt(s); l >= 0 {
			ce := nl
			if ce > from && raw[ce-1] == '\r' {
				ce--
			}
			return stop{at: s, contentEnd: ce, level: l, close: c}
		}
		i = s
	}
}

// lineEnd returns the offset just past the LF that ends the line at s (or
// len(raw)).
func (ps *parser) lineEnd(s int) int {
	j := bytes.IndexByte(ps.raw[s:], '\n')
	if j < 0 {
		return len(ps.raw)
	}
	return s + j + 1
}

// header scans a header starting at pos. It returns the body start and,
// when a boundary line interrupts the header, the stop.
func (ps *parser) header(pos int) (body int, st stop, stopped bool) {
	raw := ps.raw
	s := pos
	for s < len(raw) {
		if l, c := ps.boundaryAt(s); l >= 0 {
			// The previous [CR]LF belongs to the boundary.
			hend := s
			if hend > pos && raw[hend-1] == '\n' {
				hend--
				if hend > pos && raw[hend-1] == '\r' {
					hend--
				}
			}
			return hend, stop{at: s, contentEnd: hend, level: l, close: c}, true
		}
		e := ps.lineEnd(s)
		if line := raw[s:e]; isBlankLine(line) {
			// A delimiter right after the blank line: the blank line's
			// [CR]LF is the one that belongs to the delimiter (RFC 2046
			// §5.1.1), so the header ends without it and the body is empty.
			// (Unless it is this part's own first delimiter.)
			if l, c := ps.boundaryAt(e); l >= 0 && !ps.ownBoundaryAt(raw[pos:e], e) {
				return s, stop{at: e, contentEnd: s, level: l, close: c}, true
			}
			return e, stop{}, false
		}
		s = e
	}
	return len(raw), stop{}, false
}

// entity parses a part (header and body) starting at pos.
func (ps *parser) entity(pos, depth int, digest bool) (Part, stop) {
	ps.nparts++
	p := Part{Start: uint32(pos)}
	if digest {
		p.kind |= kindDigest
	}
	body, st, stopped := ps.header(pos)
	p.Body = uint32(body)
	hdr := ps.raw[pos:body]
	ct := contentTypeOf(hdr, digest)
	limit := depth >= maxDepth || ps.nparts >= maxParts
	switch {
	case stopped:
		p.End = uint32(body)
	case ct.multipart && !limit:
		p.kind |= kindMultipart
		st = ps.multipart(&p, ct, depth)
	case ct.message && !limit && identityCTE(hdr):
		p.kind |= kindMessage
		child, cst := ps.entity(body, depth+1, false)
		p.Children = []Part{child}
		p.End = child.End
		st = cst
	default:
		st = ps.findBoundary(body, true)
		p.End = uint32(st.contentEnd)
	}
	if ct.multipart && !p.IsMultipart() {
		// A multipart whose header was cut short or that is nested too
		// deep: its body is opaque, shown as one empty text/plain part so
		// BODYSTRUCTURE stays a valid multipart.
		p.kind |= kindMultipart
		p.Children = []Part{{Start: p.End, Body: p.End, End: p.End}}
	}
	p.Lines = uint32(bytes.Count(ps.raw[p.Body:p.End], []byte{'\n'}))
	return p, st
}

func (ps *parser) multipart(p *Part, ct contentType, depth int) stop {
	digest := bytes.EqualFold(ct.sub, []byte("digest"))
	body := int(p.Body)
	var st stop
	if len(ct.boundary) == 0 {
		// No boundary: the whole body is unusable preamble.
		st = ps.findBoundary(body, true)
		p.End = uint32(st.contentEnd)
	} else {
		ps.bounds = append(ps.bounds, ct.boundary)
		my := len(ps.bounds) - 1
		st = ps.findBoundary(body, true)
		for {
			if st.level < my { // end of input or a parent's boundary
				if st.level >= 0 {
					p.End = uint32(st.contentEnd)
				} else {
					p.End = uint32(len(ps.raw))
				}
				ps.bounds = ps.bounds[:my]
				break
			}
			if st.close {
				// Epilogue: runs to a parent's boundary or the end.
				ps.bounds = ps.bounds[:my]
				st = ps.findBoundary(ps.lineEnd(st.at), true)
				p.End = uint32(st.contentEnd)
				break
			}
			if ps.nparts >= maxParts {
				ps.bounds = ps.bounds[:my]
				st = ps.findBoundary(ps.lineEnd(st.at), true)
				p.End = uint32(st.contentEnd)
				break
			}
			child, cst := ps.entity(ps.lineEnd(st.at), depth+1, digest)
			p.Children = append(p.Children, child)
			st = cst
		}
	}
	if len(p.Children) == 0 {
		// Dovecot: one empty text/plain part at the end of the body.
		e := p.End
		p.Children = []Part{{Start: e, Body: e, End: e}}
	}
	return st
}

// identityCTE reports whether a header's Content-Transfer-Encoding leaves
// the body readable as is (7bit, 8bit, binary or absent), so that an
// encapsulated message can be parsed in place.
func identityCTE(hdr []byte) bool {
	v, ok := lastOrFirstField(hdr, "content-transfer-encoding", true)
	if !ok {
		return true
	}
	enc := cteToken(v)
	return len(enc) == 0 || asciiEqualFold(enc, "7bit") || asciiEqualFold(enc, "8bit") || asciiEqualFold(enc, "binary")
}

// find returns the part that a section path names (RFC 3501 §6.4.5), or
// nil. A multipart's numbers select its children; a message that is not
// multipart (the top level, or one encapsulated in message/rfc822) has only
// part 1, its body; a message/rfc822 part is entered when more numbers
// follow. A leaf inside a multipart has no subparts (Dovecot answers
// BODY[1.1] of such a leaf with the leaf itself; RFC 3501 gives it none).
func find(root *Part, path []uint32) *Part {
	p := root
	msgRoot := true
	for i, n := range path {
		if n == 0 {
			return nil
		}
		if p.IsMultipart() {
			if int(n) > len(p.Children) {
				return nil
			}
			p = &p.Children[n-1]
			msgRoot = false
		} else {
			if n != 1 || !msgRoot {
				return nil
			}
			msgRoot = false
		}
		if i+1 < len(path) && p.IsMessage() {
			p = &p.Children[0]
			msgRoot = true
		}
	}
	return p
}

// ownBoundaryAt reports whether the line at s is a delimiter of the
// multipart whose header is hdr (its own boundary is the innermost one, so
// it takes precedence over the enclosing ones).
func (ps *parser) ownBoundaryAt(hdr []byte, s int) bool {
	ct := contentTypeOf(hdr, false)
	if !ct.multipart || len(ct.boundary) == 0 {
		return false
	}
	r := ps.raw[s:]
	return len(r) >= 2 && r[0] == '-' && r[1] == '-' && bytes.HasPrefix(r[2:], ct.boundary)
}
