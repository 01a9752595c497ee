package statemachine

import "strconv"

// The command encoder is the client side of the parser: it writes a Command
// in wire form, so that ParseCommand(AppendCommand(nil, c)) gives c back. It
// serves the round-trip fuzzer and the simulator's clients.
//
// Strings go out as atoms when they can, else quoted, else as
// non-synchronizing literals "{n+}" (LITERAL+, RFC 7888), so a whole command
// is one write. FETCH macros come back expanded, a single fetch-att as a
// list, STORE flags always as a list, RETURN () as RETURN (ALL).

// AppendCommand appends cmd in wire form, CRLF included, for a session
// without UTF8=ACCEPT: mailbox names are encoded in modified UTF-7.
func AppendCommand(dst []byte, cmd *Command) []byte {
	return AppendCommandOpt(dst, cmd, ParseOptions{})
}

// AppendCommandOpt is AppendCommand for a session with the given options
// (with UTF8, mailbox names go out as UTF-8).
func AppendCommandOpt(dst []byte, cmd *Command, opt ParseOptions) []byte {
	e := cmdEncoder{opt: opt}
	return e.command(dst, cmd)
}

type cmdEncoder struct {
	opt ParseOptions
}

func (e *cmdEncoder) command(b []byte, c *Command) []byte {
	b = append(b, c.Tag...)
	b = append(b, ' ')
	if c.UID {
		b = append(b, "UID "...)
	}
	b = append(b, c.Name.String()...)
	switch c.Name {
	case CmdExpunge:
		if c.UID {
			b = append(b, ' ')
			b = cmdencSeqSet(b, &c.Set)
		}
	case CmdAuthenticate:
		b = append(b, ' ')
		b = append(b, c.Mechanism...)
		if c.HasInitialResp {
			b = append(b, ' ')
			b = append(b, c.InitialResp...)
		}
	case CmdLogin:
		b = append(b, ' ')
		b = e.astring(b, c.User)
		b = append(b, ' ')
		b = e.astring(b, c.Password)
	case CmdEnable:
		for _, a := range c.Args {
			b = append(b, ' ')
			b = append(b, a...)
		}
	case CmdID:
		b = append(b, ' ')
		if c.NilArg {
			b = append(b, "NIL"...)
			break
		}
		b = append(b, '(')
		for i := 0; i+1 < len(c.Args); i += 2 {
			if i > 0 {
				b = append(b, ' ')
			}
			b = e.string(b, c.Args[i])
			b = append(b, ' ')
			if c.Args[i+1] == nil {
				b = append(b, "NIL"...)
			} else {
				b = e.string(b, c.Args[i+1])
			}
		}
		b = append(b, ')')
	case CmdSelect, CmdExamine:
		b = append(b, ' ')
		b = e.mailbox(b, c.Mailbox)
		b = e.selectParams(b, c)
	case CmdCreate:
		b = append(b, ' ')
		b = e.mailbox(b, c.Mailbox)
		if c.SpecialUse != 0 {
			b = append(b, " (USE ("...)
			first := true
			for _, u := range parseUseAttrs {
				if c.SpecialUse&u.attr != 0 {
					if !first {
						b = append(b, ' ')
					}
					first = false
					b = append(b, '\\')
					b = append(b, u.name...)
				}
			}
			b = append(b, "))"...)
		}
	case CmdDelete, CmdSubscribe, CmdUnsubscribe:
		b = append(b, ' ')
		b = e.mailbox(b, c.Mailbox)
	case CmdRename:
		b = append(b, ' ')
		b = e.mailbox(b, c.Mailbox)
		b = append(b, ' ')
		b = e.mailbox(b, c.NewMailbox)
	case CmdList:
		b = e.list(b, c)
	case CmdLsub:
		b = append(b, ' ')
		b = e.mailbox(b, c.Mailbox)
		b = append(b, ' ')
		if len(c.Patterns) > 0 {
			b = e.listMailbox(b, c.Patterns[0])
		}
	case CmdStatus:
		b = append(b, ' ')
		b = e.mailbox(b, c.Mailbox)
		b = append(b, ' ')
		b = cmdencStatusAtts(b, c.StatusItems)
	case CmdAppend:
		b = append(b, ' ')
		b = e.mailbox(b, c.Mailbox)
		if len(c.Flags) > 0 {
			b = append(b, ' ')
			b = cmdencFlagList(b, c.Flags)
		}
		if c.HasDate {
			b = append(b, ' ')
			b = cmdencDateTime(b, c.Date)
		}
		b = append(b, ' ')
		if c.Binary {
			b = append(b, '~')
		}
		b = cmdencLiteral(b, c.Message)
	case CmdSearch:
		b = e.search(b, c)
	case CmdFetch:
		b = append(b, ' ')
		b = cmdencSeqSet(b, &c.Set)
		b = append(b, " ("...)
		for i := range c.Items {
			if i > 0 {
				b = append(b, ' ')
			}
			b = e.fetchAtt(b, &c.Items[i])
		}
		b = append(b, ')')
		if c.ChangedSince != 0 || c.Vanished {
			b = append(b, " ("...)
			if c.ChangedSince != 0 {
				b = append(b, "CHANGEDSINCE "...)
				b = strconv.AppendUint(b, c.ChangedSince, 10)
				if c.Vanished {
					b = append(b, ' ')
				}
			}
			if c.Vanished {
				b = append(b, "VANISHED"...)
			}
			b = append(b, ')')
		}
	case CmdStore:
		b = append(b, ' ')
		b = cmdencSeqSet(b, &c.Set)
		if c.HasUnchanged {
			b = append(b, " (UNCHANGEDSINCE "...)
			b = strconv.AppendUint(b, c.UnchangedSince, 10)
			b = append(b, ')')
		}
		b = append(b, ' ')
		switch c.Op {
		case FlagsAdd:
			b = append(b, '+')
		case FlagsRemove:
			b = append(b, '-')
		}
		b = append(b, "FLAGS"...)
		if c.Silent {
			b = append(b, ".SILENT"...)
		}
		b = append(b, ' ')
		b = cmdencFlagList(b, c.Flags)
	case CmdCopy, CmdMove:
		b = append(b, ' ')
		b = cmdencSeqSet(b, &c.Set)
		b = append(b, ' ')
		b = e.mailbox(b, c.Mailbox)
	}
	return append(b, '\r', '\n')
}

func (e *cmdEncoder) selectParams(b []byte, c *Command) []byte {
	if !c.CondStore && !c.QResync {
		return b
	}
	b = append(b, " ("...)
	if c.CondStore {
		b = append(b, "CONDSTORE"...)
		if c.QResync {
			b = append(b, ' ')
		}
	}
	if c.QResync {
		b = append(b, "QRESYNC ("...)
		b = strconv.AppendUint(b, uint64(c.QRUIDValidity), 10)
		b = append(b, ' ')
		b = strconv.AppendUint(b, c.QRModSeq, 10)
		if c.HasQRKnownUIDs {
			b = append(b, ' ')
			b = cmdencSeqSet(b, &c.QRKnownUIDs)
		}
		if c.HasQRSeqMatch {
			b = append(b, " ("...)
			b = cmdencSeqSet(b, &c.QRSeqMatchSeqs)
			b = append(b, ' ')
			b = cmdencSeqSet(b, &c.QRSeqMatchUIDs)
			b = append(b, ')')
		}
		b = append(b, ')')
	}
	return append(b, ')')
}

func (e *cmdEncoder) list(b []byte, c *Command) []byte {
	b = append(b, ' ')
	if c.ListSel != 0 {
		b = append(b, '(')
		b = cmdencBits(b, c.ListSel, []string{"SUBSCRIBED", "REMOTE", "RECURSIVEMATCH", "SPECIAL-USE"})
		b = append(b, ") "...)
	}
	b = e.mailbox(b, c.Mailbox)
	b = append(b, ' ')
	if len(c.Patterns) == 1 {
		b = e.listMailbox(b, c.Patterns[0])
	} else {
		b = append(b, '(')
		for i, pat := range c.Patterns {
			if i > 0 {
				b = append(b, ' ')
			}
			b = e.listMailbox(b, pat)
		}
		b = append(b, ')')
	}
	if c.ListRet != 0 {
		b = append(b, " RETURN ("...)
		b = cmdencBits(b, c.ListRet&^ListRetStatus, []string{"SUBSCRIBED", "CHILDREN", "SPECIAL-USE"})
		if c.ListRet&ListRetStatus != 0 {
			if c.ListRet&^ListRetStatus != 0 {
				b = append(b, ' ')
			}
			b = append(b, "STATUS "...)
			b = cmdencStatusAtts(b, c.StatusItems)
		}
		b = append(b, ')')
	}
	return b
}

// cmdencBits writes the names of the set bits of v, bit i named names[i].
func cmdencBits(b []byte, v uint8, names []string) []byte {
	first := true
	for i, n := range names {
		if v&(1<<i) != 0 {
			if !first {
				b = append(b, ' ')
			}
			first = false
			b = append(b, n...)
		}
	}
	return b
}

func (e *cmdEncoder) search(b []byte, c *Command) []byte {
	if c.HasReturn {
		b = append(b, " RETURN ("...)
		first := true
		for _, r := range searchReturnTable {
			if c.Return&r.bit != 0 {
				if !first {
					b = append(b, ' ')
				}
				first = false
				b = append(b, r.name...)
			}
		}
		b = append(b, ')')
	}
	if c.Charset != nil {
		b = append(b, " CHARSET "...)
		b = e.astring(b, c.Charset)
	}
	if len(c.Search.Sub) == 0 {
		return append(b, " ALL"...)
	}
	for i := range c.Search.Sub {
		b = append(b, ' ')
		b = e.searchKey(b, &c.Search.Sub[i])
	}
	return b
}

func (e *cmdEncoder) searchKey(b []byte, k *SearchKey) []byte {
	switch k.Op {
	case SearchAnd:
		b = append(b, '(')
		for i := range k.Sub {
			if i > 0 {
				b = append(b, ' ')
			}
			b = e.searchKey(b, &k.Sub[i])
		}
		return append(b, ')')
	case SearchSeqSet:
		return cmdencSeqSet(b, &k.Set)
	}
	for _, t := range searchKeyTable {
		if t.op != k.Op {
			continue
		}
		b = append(b, t.name...)
		switch t.arg {
		case searchArgString:
			b = append(b, ' ')
			b = e.astring(b, k.Str)
		case searchArgHeader:
			b = append(b, ' ')
			b = e.astring(b, k.Field)
			b = append(b, ' ')
			b = e.astring(b, k.Str)
		case searchArgKeyword:
			b = append(b, ' ')
			b = append(b, k.Str...)
		case searchArgDate:
			b = append(b, ' ')
			b = cmdencDate(b, k.Date)
		case searchArgNumber, searchArgModSeq:
			b = append(b, ' ')
			b = strconv.AppendUint(b, k.Num, 10)
		case searchArgUIDSet:
			b = append(b, ' ')
			b = cmdencSeqSet(b, &k.Set)
		case searchArgNot, searchArgOr:
			for i := range k.Sub {
				b = append(b, ' ')
				b = e.searchKey(b, &k.Sub[i])
			}
		}
		return b
	}
	return append(b, "ALL"...)
}

func (e *cmdEncoder) fetchAtt(b []byte, a *FetchAtt) []byte {
	switch a.Kind {
	case FetchBody:
		return append(b, "BODY"...)
	case FetchBodySection:
		b = append(b, "BODY"...)
	case FetchBinary:
		b = append(b, "BINARY"...)
	case FetchBinarySize:
		b = append(b, "BINARY.SIZE"...)
	default:
		for _, f := range parseFetchNames {
			if f.kind == a.Kind {
				return append(b, f.name...)
			}
		}
		return append(b, "FLAGS"...)
	}
	if a.Peek {
		b = append(b, ".PEEK"...)
	}
	b = append(b, '[')
	s := &a.Section
	for i, n := range s.Part {
		if i > 0 {
			b = append(b, '.')
		}
		b = strconv.AppendUint(b, uint64(n), 10)
	}
	if s.Spec != SpecNone && len(s.Part) > 0 {
		b = append(b, '.')
	}
	switch s.Spec {
	case SpecHeader:
		b = append(b, "HEADER"...)
	case SpecText:
		b = append(b, "TEXT"...)
	case SpecMIME:
		b = append(b, "MIME"...)
	case SpecHeaderFields, SpecHeaderFieldsNot:
		b = append(b, "HEADER.FIELDS"...)
		if s.Spec == SpecHeaderFieldsNot {
			b = append(b, ".NOT"...)
		}
		b = append(b, " ("...)
		for i, f := range s.Fields {
			if i > 0 {
				b = append(b, ' ')
			}
			b = e.astring(b, f)
		}
		b = append(b, ')')
	}
	b = append(b, ']')
	if a.Partial {
		b = append(b, '<')
		b = strconv.AppendUint(b, uint64(a.Offset), 10)
		b = append(b, '.')
		b = strconv.AppendUint(b, uint64(a.Count), 10)
		b = append(b, '>')
	}
	return b
}

// mailbox writes a mailbox name: modified UTF-7 unless UTF8=ACCEPT.
func (e *cmdEncoder) mailbox(b []byte, name []byte) []byte {
	if e.opt.UTF8 || isPlainMailboxName(name) {
		return e.astring(b, name)
	}
	enc := AppendMUTF7(nil, string(name))
	return e.astring(b, enc)
}

// listMailbox writes a LIST pattern: list-char atom or string.
func (e *cmdEncoder) listMailbox(b []byte, pat []byte) []byte {
	if !e.opt.UTF8 && !isPlainMailboxName(pat) {
		pat = AppendMUTF7(nil, string(pat))
	}
	ok := len(pat) > 0
	for _, c := range pat {
		if !isAtomChar(c) && c != '%' && c != '*' && c != ']' {
			ok = false
			break
		}
	}
	if ok {
		return append(b, pat...)
	}
	return e.string(b, pat)
}

// astring writes s as an atom (ASTRING-CHARs), a quoted string or a
// literal.
func (e *cmdEncoder) astring(b []byte, s []byte) []byte {
	ok := len(s) > 0
	for _, c := range s {
		if !isAtomChar(c) && c != ']' {
			ok = false
			break
		}
	}
	if ok {
		return append(b, s...)
	}
	return e.string(b, s)
}

// string writes s quoted, or as a literal when it holds CR, LF, NUL or
// (without UTF8=ACCEPT) 8-bit bytes.
func (e *cmdEncoder) string(b []byte, s []byte) []byte {
	if needsLiteral(s, e.opt.UTF8) {
		return cmdencLiteral(b, s)
	}
	return AppendQuoted(b, s)
}

// cmdencLiteral writes a non-synchronizing literal {n+}CRLF s.
func cmdencLiteral(b, s []byte) []byte {
	b = append(b, '{')
	b = strconv.AppendInt(b, int64(len(s)), 10)
	b = append(b, '+', '}', '\r', '\n')
	return append(b, s...)
}

func cmdencSeqSet(b []byte, s *SeqSet) []byte {
	if s.Saved {
		return append(b, '$')
	}
	num := func(b []byte, n uint32) []byte {
		if n == 0 {
			return append(b, '*')
		}
		return strconv.AppendUint(b, uint64(n), 10)
	}
	for i, r := range s.Ranges {
		if i > 0 {
			b = append(b, ',')
		}
		b = num(b, r.Start)
		if r.Stop != r.Start {
			b = append(b, ':')
			b = num(b, r.Stop)
		}
	}
	return b
}

func cmdencFlagList(b []byte, flags [][]byte) []byte {
	b = append(b, '(')
	for i, f := range flags {
		if i > 0 {
			b = append(b, ' ')
		}
		b = append(b, f...)
	}
	return append(b, ')')
}

func cmdencStatusAtts(b []byte, items StatusItem) []byte {
	b = append(b, '(')
	first := true
	for _, s := range parseStatusAtts {
		if items&s.item != 0 {
			if !first {
				b = append(b, ' ')
			}
			first = false
			b = append(b, s.name...)
		}
	}
	return append(b, ')')
}

// cmdencDate writes a SEARCH date, d-Mon-yyyy.
func cmdencDate(b []byte, d Date) []byte {
	b = strconv.AppendUint(b, uint64(d.Day), 10)
	b = append(b, '-')
	if d.Month >= 1 && d.Month <= 12 {
		m := parseMonths[d.Month-1]
		b = append(b, m[0], m[1]|0x20, m[2]|0x20)
	}
	b = append(b, '-')
	return cmdencPad(b, int64(d.Year), 4)
}

// cmdencDateTime writes Unix seconds t as an APPEND date-time in UTC,
// "dd-Mon-yyyy hh:mm:ss +0000".
func cmdencDateTime(b []byte, t int64) []byte {
	days := t / 86400
	secs := t % 86400
	if secs < 0 {
		secs += 86400
		days--
	}
	y, m, d := cmdencCivil(days)
	b = append(b, '"')
	b = cmdencPad(b, int64(d), 2)
	b = append(b, '-')
	mn := parseMonths[m-1]
	b = append(b, mn[0], mn[1]|0x20, mn[2]|0x20)
	b = append(b, '-')
	b = cmdencPad(b, int64(y), 4)
	b = append(b, ' ')
	b = cmdencPad(b, secs/3600, 2)
	b = append(b, ':')
	b = cmdencPad(b, secs/60%60, 2)
	b = append(b, ':')
	b = cmdencPad(b, secs%60, 2)
	return append(b, " +0000\""...)
}

// cmdencCivil converts days since 1970-01-01 to a calendar date, the inverse
// of parseDaysFromCivil.
func cmdencCivil(z int64) (y, m, d int) {
	z += 719468
	era := z / 146097
	if z < 0 {
		era = (z - 146096) / 146097
	}
	doe := z - era*146097
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365
	doy := doe - (365*yoe + yoe/4 - yoe/100)
	mp := (5*doy + 2) / 153
	d = int(doy - (153*mp+2)/5 + 1)
	m = int(mp + 3)
	if m > 12 {
		m -= 12
	}
	y = int(yoe + era*400)
	if m <= 2 {
		y++
	}
	return y, m, d
}

// cmdencPad writes n with at least width digits.
func cmdencPad(b []byte, n int64, width int) []byte {
	var tmp [20]byte
	s := strconv.AppendInt(tmp[:0], n, 10)
	for i := len(s); i < width; i++ {
		b = append(b, '0')
	}
	return append(b, s...)
}
