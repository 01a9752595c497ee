package statemachine

// SEARCH: RFC 9051 §6.4.4 with the RFC 3501 keys IMAP4rev2 dropped (NEW,
// OLD, RECENT, UNKEYWORD...), RFC 4731 ESEARCH (RETURN), RFC 5182 SEARCHRES
// ("$", SAVE) and RFC 7162 MODSEQ.

// Argument shapes of search keys.
const (
	searchArgNone    = iota
	searchArgString  // astring: Str
	searchArgHeader  // header-fld-name SP astring: Field, Str
	searchArgKeyword // flag-keyword: Str
	searchArgDate    // date: Date
	searchArgNumber  // number64: Num
	searchArgUIDSet  // sequence-set: Set
	searchArgNot     // search-key: Sub[0]
	searchArgOr      // search-key SP search-key: Sub[0], Sub[1]
	searchArgModSeq  // [entry-name SP entry-type-req SP] mod-sequence-valzer: Num
)

// searchKeyTable names every search key that starts with an atom, with the
// shape of its arguments. The encoder uses it backwards.
var searchKeyTable = [...]struct {
	name string
	op   SearchOp
	arg  uint8
}{
	{"ALL", SearchAll, searchArgNone},
	{"ANSWERED", SearchAnswered, searchArgNone},
	{"BCC", SearchBcc, searchArgString},
	{"BEFORE", SearchBefore, searchArgDate},
	{"BODY", SearchBody, searchArgString},
	{"CC", SearchCc, searchArgString},
	{"DELETED", SearchDeleted, searchArgNone},
	{"DRAFT", SearchDraft, searchArgNone},
	{"FLAGGED", SearchFlagged, searchArgNone},
	{"FROM", SearchFrom, searchArgString},
	{"HEADER", SearchHeader, searchArgHeader},
	{"KEYWORD", SearchKeyword, searchArgKeyword},
	{"LARGER", SearchLarger, searchArgNumber},
	{"NEW", SearchNew, searchArgNone},
	{"NOT", SearchNot, searchArgNot},
	{"OLD", SearchOld, searchArgNone},
	{"ON", SearchOn, searchArgDate},
	{"OR", SearchOr, searchArgOr},
	{"RECENT", SearchRecent, searchArgNone},
	{"SEEN", SearchSeen, searchArgNone},
	{"SENTBEFORE", SearchSentBefore, searchArgDate},
	{"SENTON", SearchSentOn, searchArgDate},
	{"SENTSINCE", SearchSentSince, searchArgDate},
	{"SINCE", SearchSince, searchArgDate},
	{"SMALLER", SearchSmaller, searchArgNumber},
	{"SUBJECT", SearchSubject, searchArgString},
	{"TEXT", SearchText, searchArgString},
	{"TO", SearchTo, searchArgString},
	{"UID", SearchUIDSet, searchArgUIDSet},
	{"UNANSWERED", SearchUnanswered, searchArgNone},
	{"UNDELETED", SearchUndeleted, searchArgNone},
	{"UNDRAFT", SearchUndraft, searchArgNone},
	{"UNFLAGGED", SearchUnflagged, searchArgNone},
	{"UNKEYWORD", SearchUnkeyword, searchArgKeyword},
	{"UNSEEN", SearchUnseen, searchArgNone},
	{"MODSEQ", SearchModSeq, searchArgModSeq},
}

// searchReturnTable names the RETURN options.
var searchReturnTable = [...]struct {
	name string
	bit  uint8
}{
	{"MIN", ReturnMin},
	{"MAX", ReturnMax},
	{"ALL", ReturnAll},
	{"COUNT", ReturnCount},
	{"SAVE", ReturnSave},
}

// search reads SEARCH [SP "RETURN" SP "(" [opt *(SP opt)] ")"] SP
// ["CHARSET" SP astring SP] search-key *(SP search-key). RETURN () is the
// same as RETURN (ALL) (RFC 4731 §3.1) and is stored so.
func (p *parser) search(cmd *Command) {
	if !p.sp() {
		return
	}
	if p.keyword("RETURN") {
		if !p.sp() || !p.char('(', msgExpectedParen) {
			return
		}
		cmd.HasReturn = true
		if p.peek() != ')' {
			for {
				a := p.atom()
				if a == nil {
					return
				}
				found := false
				for _, r := range searchReturnTable {
					if asciiEqualFold(a, r.name) {
						cmd.Return |= r.bit
						found = true
					}
				}
				if !found {
					p.fail(msgSearchReturn)
					return
				}
				if p.peek() == ')' {
					break
				}
				if !p.sp() {
					return
				}
			}
		}
		p.i++
		if cmd.Return == 0 {
			cmd.Return = ReturnAll
		}
		if !p.sp() {
			return
		}
	}
	if p.keyword("CHARSET") {
		if !p.sp() {
			return
		}
		if cmd.Charset = p.astring(); cmd.Charset == nil || !p.sp() {
			return
		}
	}
	cmd.Search = SearchKey{Op: SearchAnd, Sub: p.searchKeys(false)}
}

// searchKeys reads search-key *(SP search-key), up to the end of the command
// or, inParen, up to and including ")".
func (p *parser) searchKeys(inParen bool) []SearchKey {
	var keys []SearchKey
	for {
		var k SearchKey
		if !p.searchKey(&k) {
			return nil
		}
		keys = append(keys, k)
		if inParen && p.peek() == ')' {
			p.i++
			return keys
		}
		if !inParen && p.i == p.end {
			return keys
		}
		if !p.sp() {
			return nil
		}
	}
}

// searchKey reads one search-key into k.
func (p *parser) searchKey(k *SearchKey) bool {
	if p.err != "" {
		return false
	}
	c := p.peek()
	switch {
	case c == '(':
		if p.depth++; p.depth > parseMaxDepth {
			return p.fail(msgTooDeep)
		}
		p.i++
		k.Op = SearchAnd
		k.Sub = p.searchKeys(true)
		p.depth--
		return p.err == ""
	case c == '*' || c == '$' || '0' <= c && c <= '9':
		k.Op = SearchSeqSet
		return p.seqSet(&k.Set)
	}
	a := p.atom()
	if a == nil {
		return false
	}
	arg := -1
	for _, e := range searchKeyTable {
		if asciiEqualFold(a, e.name) {
			k.Op, arg = e.op, int(e.arg)
			break
		}
	}
	switch arg {
	case -1:
		return p.fail(msgInvalidSearchKey)
	case searchArgNone:
		return true
	}
	if !p.sp() {
		return false
	}
	switch arg {
	case searchArgString:
		k.Str = p.astring()
	case searchArgHeader:
		k.Field = p.astring()
		if p.sp() {
			k.Str = p.astring()
		}
	case searchArgKeyword:
		if p.peek() == '\\' {
			return p.fail(msgInvalidFlag)
		}
		k.Str = p.atom()
	case searchArgDate:
		k.Date, _ = p.date()
	case searchArgNumber:
		k.Num, _ = p.number64()
	case searchArgUIDSet:
		p.seqSet(&k.Set)
	case searchArgNot, searchArgOr:
		if p.depth++; p.depth > parseMaxDepth {
			return p.fail(msgTooDeep)
		}
		n := 1
		if arg == searchArgOr {
			n = 2
		}
		k.Sub = make([]SearchKey, n)
		if p.searchKey(&k.Sub[0]) && n == 2 && p.sp() {
			p.searchKey(&k.Sub[1])
		}
		p.depth--
	case searchArgModSeq:
		// search-modsequence-ext = entry-name SP entry-type-req; accepted
		// and ignored (Myriad has no per-flag mod-sequences).
		if c := p.peek(); c == '"' || c == '{' {
			p.string()
			if !p.sp() {
				return false
			}
			t := p.atom()
			if t == nil {
				return false
			}
			if !asciiEqualFold(t, "priv") && !asciiEqualFold(t, "shared") && !asciiEqualFold(t, "all") {
				return p.fail(msgInvalidSearchKey)
			}
			if !p.sp() {
				return false
			}
		}
		k.Num, _ = p.number64()
	}
	return p.err == ""
}
