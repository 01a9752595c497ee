package imapmime

// ENVELOPE (RFC 3501 §7.4.2, RFC 9051 §7.5.2). Addresses are parsed by hand
// (RFC 5322 §3.4 plus obsolete forms) because IMAP needs the raw, undecoded
// parts (name, source route, mailbox, host) and group markers, which
// net/mail and go-message's mail.ParseAddressList do not give.

// AppendEnvelope appends the parenthesised ENVELOPE of the message whose
// root part is p. For an encapsulated message pass the message/rfc822
// part's Children[0].
func AppendEnvelope(dst []byte, raw []byte, p *Part) []byte {
	hdr := raw[p.Start:p.Body]
	var date, subject, inReplyTo, messageID []byte
	var haveDate, haveSubject, haveIRT, haveMID bool
	var from, sender, replyTo, to, cc, bcc []addr
	eachField(hdr, func(f *field) bool {
		if !f.colon {
			return true
		}
		n := f.name
		switch {
		case asciiEqualFold(n, "date"):
			date, haveDate = f.value, true
		case asciiEqualFold(n, "subject"):
			subject, haveSubject = f.value, true
		case asciiEqualFold(n, "in-reply-to"):
			inReplyTo, haveIRT = f.value, true
		case asciiEqualFold(n, "message-id"):
			messageID, haveMID = f.value, true
		case asciiEqualFold(n, "from"):
			from = append(from, parseAddressList(f.value)...)
		case asciiEqualFold(n, "sender"):
			sender = append(sender, parseAddressList(f.value)...)
		case asciiEqualFold(n, "reply-to"):
			replyTo = append(replyTo, parseAddressList(f.value)...)
		case asciiEqualFold(n, "to"):
			to = append(to, parseAddressList(f.value)...)
		case asciiEqualFold(n, "cc"):
			cc = append(cc, parseAddressList(f.value)...)
		case asciiEqualFold(n, "bcc"):
			bcc = append(bcc, parseAddressList(f.value)...)
		}
		return true
	})
	if len(sender) == 0 {
		sender = from
	}
	if len(replyTo) == 0 {
		replyTo = from
	}
	dst = append(dst, '(')
	dst = appendEnvField(dst, date, haveDate)
	dst = append(dst, ' ')
	dst = appendEnvField(dst, subject, haveSubject)
	for _, l := range [][]addr{from, sender, replyTo, to, cc, bcc} {
		dst = append(dst, ' ')
		dst = appendAddrList(dst, l)
	}
	dst = append(dst, ' ')
	dst = appendEnvField(dst, inReplyTo, haveIRT)
	dst = append(dst, ' ')
	dst = appendEnvField(dst, messageID, haveMID)
	return append(dst, ')')
}

func appendEnvField(dst, v []byte, have bool) []byte {
	if !have {
		return appendNIL(dst)
	}
	if v == nil {
		v = []byte{}
	}
	return appendEnvString(dst, v)
}

type addr struct {
	name, adl, mailbox, host []byte
	group                    uint8 // 0 address, 1 group start, 2 group end
}

func appendAddrList(dst []byte, l []addr) []byte {
	if len(l) == 0 {
		return appendNIL(dst)
	}
	dst = append(dst, '(')
	for _, a := range l {
		dst = append(dst, '(')
		switch a.group {
		case 1:
			dst = append(dst, "NIL NIL "...)
			dst = appendEnvString(dst, a.mailbox)
			dst = append(dst, " NIL"...)
		case 2:
			dst = append(dst, "NIL NIL NIL NIL"...)
		default:
			dst = appendEnvString(dst, a.name)
			dst = append(dst, ' ')
			dst = appendEnvString(dst, a.adl)
			dst = append(dst, ' ')
			dst = appendEnvString(dst, a.mailbox)
			dst = append(dst, ' ')
			dst = appendEnvString(dst, a.host)
		}
		dst = append(dst, ')')
	}
	return append(dst, ')')
}

const (
	tAtom = iota
	tQuoted
	tDomainLit
	tSpecial
	tComment
)

type tok struct {
	kind int
	text []byte
}

func isAddrSpecial(c byte) bool {
	switch c {
	case '(', ')', '<', '>', '@', ',', ';', ':', '\\', '"', '[', ']':
		return true
	}
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c < 0x20 || c == 0x7f
}

func tokenizeAddr(v []byte) []tok {
	var ts []tok
	l := &lexer{b: v}
	for l.i < len(v) {
		c := v[l.i]
		switch {
		case c == ' ' || c == '\t' || c == '\r' || c == '\n':
			l.i++
		case c == '(':
			ts = append(ts, tok{tComment, l.comment()})
		case c == '"':
			ts = append(ts, tok{tQuoted, l.quoted()})
		case c == '[':
			s := l.i
			for l.i < len(v) && v[l.i] != ']' {
				l.i++
			}
			if l.i < len(v) {
				l.i++
			}
			ts = append(ts, tok{tDomainLit, unfold(v[s:l.i])})
		case isAddrSpecial(c):
			ts = append(ts, tok{tSpecial, v[l.i : l.i+1]})
			l.i++
		default:
			s := l.i
			for l.i < len(v) && !isAddrSpecial(v[l.i]) {
				l.i++
			}
			ts = append(ts, tok{tAtom, v[s:l.i]})
		}
	}
	return ts
}

func isSp(t tok, c byte) bool { return t.kind == tSpecial && t.text[0] == c }

var (
	missingMailbox = []byte("MISSING_MAILBOX")
	missingDomain  = []byte("MISSING_DOMAIN")
)

// parseAddressList parses an address-list / mailbox-list value.
func parseAddressList(v []byte) []addr {
	ap := &addrParser{ts: tokenizeAddr(v)}
	for ap.i < len(ap.ts) {
		if t := ap.ts[ap.i]; t.kind == tComment || isSp(t, ',') {
			ap.i++
			continue
		}
		start := ap.i
		ap.entry(false)
		if ap.i == start {
			ap.i++
		}
	}
	return ap.out
}

type addrParser struct {
	ts  []tok
	i   int
	out []addr
}

// phrase collects words (atoms, quoted strings) from ap.i, skipping
// comments; it returns the joined phrase and the index after it.
func (ap *addrParser) phrase(i int) ([]byte, int, bool) {
	var out []byte
	any := false
	for ; i < len(ap.ts); i++ {
		t := ap.ts[i]
		if t.kind == tComment {
			continue
		}
		if t.kind != tAtom && t.kind != tQuoted {
			break
		}
		if any {
			out = append(out, ' ')
		}
		out = append(out, t.text...)
		any = true
	}
	return out, i, any
}

func (ap *addrParser) entry(inGroup bool) {
	name, j, _ := ap.phrase(ap.i)
	if j < len(ap.ts) && isSp(ap.ts[j], ':') && !inGroup {
		ap.out = append(ap.out, addr{group: 1, mailbox: nonNil(name)})
		ap.i = j + 1
		for ap.i < len(ap.ts) {
			t := ap.ts[ap.i]
			if t.kind == tComment || isSp(t, ',') {
				ap.i++
				continue
			}
			if isSp(t, ';') {
				ap.i++
				break
			}
			start := ap.i
			ap.entry(true)
			if ap.i == start {
				ap.i++
			}
		}
		ap.out = append(ap.out, addr{group: 2})
		return
	}
	if j < len(ap.ts) && isSp(ap.ts[j], '<') {
		a := addr{}
		if len(name) > 0 {
			a.name = name
		}
		i := j + 1
		// obsolete source route: @d1,@d2:
		k := i
		for k < len(ap.ts) && ap.ts[k].kind == tComment {
			k++
		}
		if k < len(ap.ts) && isSp(ap.ts[k], '@') {
			var adl []byte
			for k < len(ap.ts) && !isSp(ap.ts[k], ':') && !isSp(ap.ts[k], '>') {
				if ap.ts[k].kind != tComment {
					adl = append(adl, ap.ts[k].text...)
				}
				k++
			}
			if k < len(ap.ts) && isSp(ap.ts[k], ':') {
				a.adl = adl
				i = k + 1
			}
		}
		local, dom, hasAt, _, i := ap.addrSpec(i, '>')
		if i < len(ap.ts) && isSp(ap.ts[i], '>') {
			i++
		}
		// a comment after the angle address names it when no phrase did
		for i < len(ap.ts) && ap.ts[i].kind == tComment {
			if a.name == nil && len(ap.ts[i].text) > 0 {
				a.name = ap.ts[i].text
			}
			i++
		}
		a.mailbox, a.host = finishAddr(local, dom, hasAt)
		ap.out = append(ap.out, a)
		ap.i = i
		return
	}
	// plain addr-spec; skip leading comments
	i := ap.i
	for i < len(ap.ts) && ap.ts[i].kind == tComment {
		i++
	}
	if i >= len(ap.ts) || isSp(ap.ts[i], ',') || isSp(ap.ts[i], ';') {
		ap.i = i
		return
	}
	local, dom, hasAt, comment, i := ap.addrSpec(i, 0)
	a := addr{}
	if len(comment) > 0 {
		a.name = comment
	}
	a.mailbox, a.host = finishAddr(local, dom, hasAt)
	ap.out = append(ap.out, a)
	ap.i = i
}

func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

func finishAddr(local, dom []byte, hasAt bool) (mailbox, host []byte) {
	mailbox, host = local, dom
	if len(mailbox) == 0 {
		mailbox = missingMailbox
	}
	if !hasAt || len(host) == 0 {
		host = missingDomain
	}
	return
}

// addrSpec reads local-part [@ domain] from i until end (0: ',' or ';').
func (ap *addrParser) addrSpec(i int, end byte) (local, dom []byte, hasAt bool, comment []byte, next int) {
	stopAt := func(t tok) bool {
		if t.kind != tSpecial {
			return false
		}
		c := t.text[0]
		if end != 0 {
			return c == end
		}
		return c == ',' || c == ';'
	}
	for i < len(ap.ts) && !stopAt(ap.ts[i]) {
		t := ap.ts[i]
		switch {
		case t.kind == tComment:
			if comment == nil {
				comment = t.text
			}
		case isSp(t, '@') && !hasAt:
			hasAt = true
		case t.kind == tSpecial && (t.text[0] == '<' || t.text[0] == '>' || t.text[0] == ':'):
			// stray special: ignore
		default:
			if hasAt {
				dom = append(dom, t.text...)
			} else {
				local = append(local, t.text...)
			}
		}
		i++
	}
	return local, dom, hasAt, comment, i
}
