package statemachine

// FETCH: RFC 9051 §6.4.5, RFC 3516 (BINARY), RFC 7162 (MODSEQ, CHANGEDSINCE,
// VANISHED).

// parseFetchNames maps the fetch-att names that take no section.
var parseFetchNames = [...]struct {
	name string
	kind FetchKind
}{
	{"FLAGS", FetchFlags},
	{"INTERNALDATE", FetchInternalDate},
	{"RFC822.SIZE", FetchRFC822Size},
	{"ENVELOPE", FetchEnvelope},
	{"BODYSTRUCTURE", FetchBodyStructure},
	{"UID", FetchUID},
	{"MODSEQ", FetchModSeq},
	{"RFC822", FetchRFC822},
	{"RFC822.HEADER", FetchRFC822Header},
	{"RFC822.TEXT", FetchRFC822Text},
}

// The FETCH macros (RFC 9051 §6.4.5).
var (
	parseMacroFast = [...]FetchKind{FetchFlags, FetchInternalDate, FetchRFC822Size}
	parseMacroAll  = [...]FetchKind{FetchFlags, FetchInternalDate, FetchRFC822Size, FetchEnvelope}
	parseMacroFull = [...]FetchKind{FetchFlags, FetchInternalDate, FetchRFC822Size, FetchEnvelope, FetchBody}
)

// fetch reads FETCH sequence-set SP ("ALL" / "FULL" / "FAST" / fetch-att /
// "(" fetch-att *(SP fetch-att) ")") [SP "(" fetch-modifier *(SP
// fetch-modifier) ")"].
func (p *parser) fetch(cmd *Command) {
	if !p.sp() || !p.seqSet(&cmd.Set) || !p.sp() {
		return
	}
	var macro []FetchKind
	switch {
	case p.keyword("ALL"):
		macro = parseMacroAll[:]
	case p.keyword("FAST"):
		macro = parseMacroFast[:]
	case p.keyword("FULL"):
		macro = parseMacroFull[:]
	}
	if macro != nil {
		for _, k := range macro {
			p.newFetchAtt(cmd).Kind = k
		}
	} else if p.peek() == '(' {
		p.i++
		for {
			if !p.fetchAtt(cmd) {
				return
			}
			if p.peek() == ')' {
				p.i++
				break
			}
			if !p.sp() {
				return
			}
		}
	} else if !p.fetchAtt(cmd) {
		return
	}
	if p.i == p.end {
		return
	}
	if !p.sp() || !p.char('(', msgExpectedParen) {
		return
	}
	for {
		switch {
		case p.keyword("CHANGEDSINCE"):
			if cmd.ChangedSince != 0 || !p.sp() {
				p.fail(msgFetchModifier)
				return
			}
			n, ok := p.number64()
			if !ok {
				return
			}
			if n == 0 { // mod-sequence-value is positive (RFC 7162 §7)
				p.fail(msgFetchModifier)
				return
			}
			cmd.ChangedSince = n
		case p.keyword("VANISHED"):
			if cmd.Vanished {
				p.fail(msgFetchModifier)
				return
			}
			cmd.Vanished = true
		default:
			p.fail(msgFetchModifier)
			return
		}
		if p.peek() == ')' {
			p.i++
			break
		}
		if !p.sp() {
			return
		}
	}
	// RFC 7162 §3.2.6: VANISHED only in UID FETCH and with CHANGEDSINCE.
	if cmd.Vanished && (!cmd.UID || cmd.ChangedSince == 0) {
		p.fail(msgVanished)
	}
}

// newFetchAtt appends a zero FetchAtt to cmd.Items, reusing the capacity of
// the section slices that a previous command left in that slot, and returns
// it.
func (p *parser) newFetchAtt(cmd *Command) *FetchAtt {
	n := len(cmd.Items)
	if n < cap(cmd.Items) {
		cmd.Items = cmd.Items[:n+1]
		a := &cmd.Items[n]
		part, fields := a.Section.Part[:0], a.Section.Fields[:0]
		*a = FetchAtt{}
		a.Section.Part, a.Section.Fields = part, fields
		return a
	}
	cmd.Items = append(cmd.Items, FetchAtt{})
	return &cmd.Items[n]
}

// fetchAtt reads one fetch-att.
func (p *parser) fetchAtt(cmd *Command) bool {
	if p.err != "" {
		return false
	}
	start := p.i
	for p.i < p.end {
		c := p.b[p.i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '.') {
			break
		}
		p.i++
	}
	name := p.b[start:p.i]
	if len(name) == 0 {
		if p.i >= p.end {
			return p.fail(msgMissingArg)
		}
		return p.fail(msgInvalidFetchAtt)
	}
	bracket := p.peek() == '['
	if !bracket {
		for _, f := range parseFetchNames {
			if asciiEqualFold(name, f.name) {
				p.newFetchAtt(cmd).Kind = f.kind
				return true
			}
		}
		if asciiEqualFold(name, "BODY") {
			p.newFetchAtt(cmd).Kind = FetchBody
			return true
		}
		return p.fail(msgInvalidFetchAtt)
	}
	a := p.newFetchAtt(cmd)
	switch {
	case asciiEqualFold(name, "BODY"):
		a.Kind = FetchBodySection
	case asciiEqualFold(name, "BODY.PEEK"):
		a.Kind, a.Peek = FetchBodySection, true
	case asciiEqualFold(name, "BINARY"):
		a.Kind = FetchBinary
	case asciiEqualFold(name, "BINARY.PEEK"):
		a.Kind, a.Peek = FetchBinary, true
	case asciiEqualFold(name, "BINARY.SIZE"):
		a.Kind = FetchBinarySize
	default:
		return p.fail(msgInvalidFetchAtt)
	}
	p.i++ // "["
	if !p.section(&a.Section, a.Kind != FetchBodySection) {
		return false
	}
	if a.Kind == FetchBinarySize || p.peek() != '<' {
		return true
	}
	// partial = "<" number "." nz-number ">"
	p.i++
	off, ok := p.number()
	if !ok || !p.char('.', msgInvalidPartial) {
		return p.fail(msgInvalidPartial)
	}
	cnt, ok := p.nzNumber()
	if !ok || !p.char('>', msgInvalidPartial) {
		return p.fail(msgInvalidPartial)
	}
	a.Partial, a.Offset, a.Count = true, off, cnt
	return true
}

// section reads the rest of a section after "[": [section-spec] "]", or
// for BINARY [section-part] "]".
func (p *parser) section(s *Section, binary bool) bool {
	if p.peek() == ']' {
		p.i++
		return true
	}
	// section-part = nz-number *("." nz-number)
	dot := false // a "." after the part: section-text must follow
	for '0' <= p.peek() && p.peek() <= '9' {
		n, ok := p.number()
		if !ok || n == 0 {
			return p.fail(msgInvalidSection)
		}
		s.Part = append(s.Part, n)
		if p.peek() != '.' {
			break
		}
		if p.i+1 >= p.end || p.b[p.i+1] < '0' || p.b[p.i+1] > '9' {
			if binary {
				return p.fail(msgInvalidSection)
			}
			p.i++ // "." before section-text
			dot = true
			break
		}
		p.i++
	}
	if p.peek() == ']' && !dot {
		if len(s.Part) == 0 {
			return p.fail(msgInvalidSection)
		}
		p.i++
		return true
	}
	if binary || len(s.Part) > 0 && !dot {
		return p.fail(msgInvalidSection)
	}
	start := p.i
	for p.i < p.end {
		c := p.b[p.i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || c == '.') {
			break
		}
		p.i++
	}
	name := p.b[start:p.i]
	switch {
	case asciiEqualFold(name, "HEADER"):
		s.Spec = SpecHeader
	case asciiEqualFold(name, "TEXT"):
		s.Spec = SpecText
	case asciiEqualFold(name, "MIME") && len(s.Part) > 0:
		s.Spec = SpecMIME
	case asciiEqualFold(name, "HEADER.FIELDS"):
		s.Spec = SpecHeaderFields
	case asciiEqualFold(name, "HEADER.FIELDS.NOT"):
		s.Spec = SpecHeaderFieldsNot
	default:
		return p.fail(msgInvalidSection)
	}
	if s.Spec == SpecHeaderFields || s.Spec == SpecHeaderFieldsNot {
		// header-list = "(" header-fld-name *(SP header-fld-name) ")"
		if !p.sp() || !p.char('(', msgExpectedParen) {
			return false
		}
		for {
			f := p.astring()
			if f == nil {
				return false
			}
			s.Fields = append(s.Fields, f)
			if p.peek() == ')' {
				p.i++
				break
			}
			if !p.sp() {
				return false
			}
		}
	}
	if p.peek() != ']' {
		return p.fail(msgInvalidSection)
	}
	p.i++
	return true
}
