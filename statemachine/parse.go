package statemachine

import "unicode/utf8"

// The command parser turns one complete command, as the framer delimited it,
// into a Command. It follows the RFC 9051 §9 grammar (and RFC 3501 where
// IMAP4rev1 differs), with the extensions Myriad implements: LITERAL+ (RFC
// 7888), BINARY (RFC 3516), CONDSTORE/QRESYNC (RFC 7162), ESEARCH (RFC 4731),
// SEARCHRES (RFC 5182), LIST-EXTENDED (RFC 5258), LIST-STATUS (RFC 5819),
// SPECIAL-USE and CREATE-SPECIAL-USE (RFC 6154), SASL-IR (RFC 4959), ID (RFC
// 2971), MOVE (RFC 6851), UNSELECT, UIDPLUS (RFC 4315), UTF8=ACCEPT (RFC 6855).
//
// Method names follow the grammar (astring, nstring, seqSet). A failing
// method records the first error in p.err and returns false or nil; callers
// return as soon as something failed.
//
// The byte slices put into the Command are views into the frame, except a
// quoted string holding escapes and a mailbox name that had to be decoded
// from modified UTF-7: those are copied.

// ParseOptions changes how a session's commands are read.
type ParseOptions struct {
	// UTF8: the client enabled UTF8=ACCEPT (RFC 6855): mailbox names are
	// UTF-8, not modified UTF-7.
	UTF8 bool
}

// ParseError is a command the server answers with "<Tag> BAD <Msg>" ("*"
// instead of the tag when Tag is empty: the tag itself was unreadable).
type ParseError struct {
	Tag []byte // a view into the frame
	Msg string
}

// Error implements error.
func (e *ParseError) Error() string {
	return "statemachine: bad command: " + e.Msg
}

// Parser error texts (the text of the BAD response).
const (
	msgInvalidTag       = "Invalid tag"
	msgUnknownCommand   = "Unknown command"
	msgMissingCommand   = "Missing command"
	msgMissingArg       = "Missing argument"
	msgExpectedSpace    = "Expected a space between arguments"
	msgExtraArgs        = "Unexpected extra arguments"
	msgInvalidSeqSet    = "Invalid sequence set"
	msgInvalidNumber    = "Invalid number"
	msgInvalidAtom      = "Invalid atom"
	msgInvalidString    = "Invalid string"
	msgInvalidQuoted    = "Invalid quoted string"
	msgInvalidLiteral   = "Invalid literal"
	msgLiteral8         = "literal8 not allowed here"
	msgInvalidMailbox   = "Invalid mailbox name encoding"
	msgInvalidFlag      = "Invalid flag"
	msgRecentFlag       = `\Recent flag cannot be changed`
	msgSystemFlag       = "Unknown system flag"
	msgInvalidDate      = "Invalid date"
	msgInvalidDateTime  = "Invalid date-time"
	msgInvalidFetchAtt  = "Invalid FETCH attribute"
	msgInvalidSection   = "Invalid section"
	msgInvalidPartial   = "Invalid partial range"
	msgFetchModifier    = "Invalid FETCH modifier"
	msgVanished         = "VANISHED needs UID FETCH and CHANGEDSINCE"
	msgStoreModifier    = "Invalid STORE modifier"
	msgStoreAtt         = "Expected FLAGS, +FLAGS or -FLAGS"
	msgInvalidSearchKey = "Invalid search key"
	msgSearchReturn     = "Invalid SEARCH RETURN option"
	msgTooDeep          = "Too deeply nested"
	msgStatusItem       = "Invalid STATUS item"
	msgListSelect       = "Invalid LIST selection option"
	msgListReturn       = "Invalid LIST return option"
	msgRecursiveMatch   = "RECURSIVEMATCH needs another selection option"
	msgSelectParam      = "Invalid SELECT/EXAMINE parameter"
	msgQResync          = "Invalid QRESYNC parameters"
	msgCreateParam      = "Invalid CREATE parameter"
	msgUseAttr          = "[USEATTR] Unsupported special-use attribute"
	msgInvalidBase64    = "Invalid base64 initial response"
	msgInvalidID        = "Invalid ID parameters"
	msgExpectedParen    = "Expected ("
	msgExpectedClose    = "Expected )"
	msgInvalidUTF8      = "Invalid UTF-8"
	msgInvalidUIDCmd    = "Unknown UID command"
)

// parseMaxDepth bounds the nesting of search keys (parentheses, NOT, OR), so
// a hostile line cannot run the recursion deep.
const parseMaxDepth = 64

var parseInbox = []byte("INBOX")

type parser struct {
	b     []byte // the frame
	i     int    // next byte
	end   int    // end of the command, its final line end excluded
	opt   ParseOptions
	depth int
	err   string
}

// ParseCommand parses one complete command (buf[:N] of a FrameCommand) into
// cmd, which it resets first. On error it returns a *ParseError.
func ParseCommand(frame []byte, cmd *Command, opt ParseOptions) error {
	cmd.Reset()
	p := parser{b: frame, end: len(frame), opt: opt}
	if p.end > 0 && frame[p.end-1] == '\n' {
		p.end--
		if p.end > 0 && frame[p.end-1] == '\r' {
			p.end--
		}
	}
	p.command(cmd)
	if p.err != "" {
		return &ParseError{Tag: cmd.Tag, Msg: p.err}
	}
	return nil
}

func (p *parser) command(cmd *Command) {
	// tag = 1*<any ASTRING-CHAR except "+">
	start := p.i
	for p.i < p.end && frameIsTagChar(p.b[p.i]) {
		p.i++
	}
	if p.i > start && p.i == p.end {
		// "a" alone: a tag without a command; answer with the tag.
		cmd.Tag = p.b[start:p.i:p.i]
		p.fail(msgMissingCommand)
		return
	}
	if p.i == start || p.i >= p.end || p.b[p.i] != ' ' {
		p.fail(msgInvalidTag)
		return
	}
	cmd.Tag = p.b[start:p.i:p.i]
	p.i++
	name := p.atom()
	if name == nil {
		p.err = msgUnknownCommand
		return
	}
	if asciiEqualFold(name, "UID") {
		if !p.sp() {
			return
		}
		cmd.UID = true
		if name = p.atom(); name == nil {
			p.err = msgInvalidUIDCmd
			return
		}
		cmd.Name = LookupCommand(name)
		switch cmd.Name {
		case CmdFetch, CmdStore, CmdCopy, CmdMove, CmdSearch, CmdExpunge:
		default:
			p.fail(msgInvalidUIDCmd)
			return
		}
	} else {
		cmd.Name = LookupCommand(name)
	}
	switch cmd.Name {
	case CmdUnknown:
		p.fail(msgUnknownCommand)
	case CmdCapability, CmdNoop, CmdLogout, CmdStartTLS, CmdIdle, CmdCheck,
		CmdClose, CmdUnselect, CmdNamespace:
	case CmdExpunge:
		if cmd.UID && p.sp() {
			p.seqSet(&cmd.Set)
		}
	case CmdAuthenticate:
		p.authenticate(cmd)
	case CmdLogin:
		if p.sp() {
			cmd.User = p.astring()
		}
		if p.sp() {
			cmd.Password = p.astring()
		}
	case CmdEnable:
		p.enable(cmd)
	case CmdID:
		p.id(cmd)
	case CmdSelect, CmdExamine:
		p.selectCmd(cmd)
	case CmdCreate:
		p.create(cmd)
	case CmdDelete, CmdSubscribe, CmdUnsubscribe:
		if p.sp() {
			cmd.Mailbox = p.mailbox()
		}
	case CmdRename:
		if p.sp() {
			cmd.Mailbox = p.mailbox()
		}
		if p.sp() {
			cmd.NewMailbox = p.mailbox()
		}
	case CmdList:
		p.list(cmd)
	case CmdLsub:
		if p.sp() {
			cmd.Mailbox = p.mailbox()
		}
		if p.sp() {
			if pat := p.listMailbox(); pat != nil {
				cmd.Patterns = append(cmd.Patterns, pat)
			}
		}
	case CmdStatus:
		if p.sp() {
			cmd.Mailbox = p.mailbox()
		}
		if p.sp() {
			cmd.StatusItems = p.statusAtts()
		}
	case CmdAppend:
		p.append(cmd)
	case CmdSearch:
		p.search(cmd)
	case CmdFetch:
		p.fetch(cmd)
	case CmdStore:
		p.store(cmd)
	case CmdCopy, CmdMove:
		if p.sp() {
			p.seqSet(&cmd.Set)
		}
		if p.sp() {
			cmd.Mailbox = p.mailbox()
		}
	}
	if p.err == "" && p.i != p.end {
		p.fail(msgExtraArgs)
	}
}

// fail records msg unless an error was recorded already; it returns false.
func (p *parser) fail(msg string) bool {
	if p.err == "" {
		p.err = msg
	}
	return false
}

func (p *parser) peek() byte {
	if p.i < p.end {
		return p.b[p.i]
	}
	return 0
}

// sp reads the single space between two arguments.
func (p *parser) sp() bool {
	if p.err != "" {
		return false
	}
	if p.i < p.end && p.b[p.i] == ' ' {
		p.i++
		return true
	}
	if p.i >= p.end {
		return p.fail(msgMissingArg)
	}
	return p.fail(msgExpectedSpace)
}

// char reads the byte c, failing with msg.
func (p *parser) char(c byte, msg string) bool {
	if p.err != "" {
		return false
	}
	if p.i < p.end && p.b[p.i] == c {
		p.i++
		return true
	}
	if p.i >= p.end {
		return p.fail(msgMissingArg)
	}
	return p.fail(msg)
}

// atom reads 1*ATOM-CHAR.
func (p *parser) atom() []byte {
	if p.err != "" {
		return nil
	}
	start := p.i
	for p.i < p.end && isAtomChar(p.b[p.i]) {
		p.i++
	}
	if p.i == start {
		if p.i >= p.end {
			p.fail(msgMissingArg)
		} else {
			p.fail(msgInvalidAtom)
		}
		return nil
	}
	return p.b[start:p.i:p.i]
}

// astring reads 1*ASTRING-CHAR / string.
func (p *parser) astring() []byte {
	if p.err != "" {
		return nil
	}
	switch p.peek() {
	case '"', '{':
		return p.string()
	case '~':
		if p.i+1 < p.end && p.b[p.i+1] == '{' {
			p.fail(msgLiteral8)
			return nil
		}
	}
	start := p.i
	for p.i < p.end && (isAtomChar(p.b[p.i]) || p.b[p.i] == ']') {
		p.i++
	}
	if p.i == start {
		if p.i >= p.end {
			p.fail(msgMissingArg)
		} else {
			p.fail(msgInvalidString)
		}
		return nil
	}
	return p.b[start:p.i:p.i]
}

// string reads quoted / literal. The result is never nil on success.
func (p *parser) string() []byte {
	if p.err != "" {
		return nil
	}
	switch p.peek() {
	case '"':
		return p.quoted()
	case '{':
		s, _ := p.literal(false)
		return s
	case 0:
		if p.i >= p.end {
			p.fail(msgMissingArg)
			return nil
		}
	}
	p.fail(msgInvalidString)
	return nil
}

// nstring reads string / NIL; NIL gives nil.
func (p *parser) nstring() []byte {
	if p.err != "" {
		return nil
	}
	if p.peek() != '"' && p.peek() != '{' {
		if a := p.atom(); a != nil && asciiEqualFold(a, "NIL") {
			return nil
		}
		p.fail(msgInvalidString)
		return nil
	}
	return p.string()
}

// quoted reads DQUOTE *QUOTED-CHAR DQUOTE. QUOTED-CHAR admits 8-bit
// (RFC 9051 allows UTF-8) but never CR, LF or NUL; "\" escapes only "\" and
// DQUOTE. Without escapes the result is a view; with escapes a copy.
func (p *parser) quoted() []byte {
	p.i++ // DQUOTE
	start := p.i
	escapes := 0
	for {
		if p.i >= p.end {
			p.fail(msgInvalidQuoted)
			return nil
		}
		c := p.b[p.i]
		switch c {
		case '"':
			s := p.b[start:p.i:p.i]
			p.i++
			if escapes == 0 {
				return s
			}
			out := make([]byte, 0, len(s)-escapes)
			for j := 0; j < len(s); j++ {
				if s[j] == '\\' {
					j++
				}
				out = append(out, s[j])
			}
			return out
		case '\\':
			if p.i+1 >= p.end || (p.b[p.i+1] != '"' && p.b[p.i+1] != '\\') {
				p.fail(msgInvalidQuoted)
				return nil
			}
			escapes++
			p.i += 2
		case '\r', '\n', 0:
			p.fail(msgInvalidQuoted)
			return nil
		default:
			p.i++
		}
	}
}

// literal reads "{" number64 ["+"] "}" CRLF *OCTET, or literal8
// "~{" number64 ["+"] "}" CRLF *OCTET when allow8 (RFC 3516). It reports
// whether it was a literal8. A plain literal may not hold NUL (RFC 9051 §4.3).
func (p *parser) literal(allow8 bool) ([]byte, bool) {
	if p.err != "" {
		return nil, false
	}
	lit8 := false
	if p.peek() == '~' {
		if !allow8 {
			p.fail(msgLiteral8)
			return nil, false
		}
		lit8 = true
		p.i++
	}
	if !p.char('{', msgInvalidLiteral) {
		return nil, false
	}
	var n int64
	digits := 0
	for p.i < p.end && '0' <= p.b[p.i] && p.b[p.i] <= '9' {
		if n > (frameMaxInt64-9)/10 {
			p.fail(msgInvalidLiteral)
			return nil, false
		}
		n = n*10 + int64(p.b[p.i]-'0')
		p.i++
		digits++
	}
	if digits == 0 {
		p.fail(msgInvalidLiteral)
		return nil, false
	}
	if p.peek() == '+' {
		p.i++
	}
	if p.peek() != '}' {
		p.fail(msgInvalidLiteral)
		return nil, false
	}
	p.i++
	if p.peek() == '\r' {
		p.i++
	}
	if p.peek() != '\n' {
		p.fail(msgInvalidLiteral)
		return nil, false
	}
	p.i++
	if n == int64(p.end-p.i)+1 && p.end < len(p.b) && p.b[p.end] == '\r' {
		// The command ended with a bare LF and the CR before it, taken
		// for part of a CRLF, is the literal's last byte.
		p.end++
	}
	if n > int64(p.end-p.i) {
		p.fail(msgInvalidLiteral)
		return nil, false
	}
	s := p.b[p.i : p.i+int(n) : p.i+int(n)]
	p.i += int(n)
	if !lit8 {
		for _, c := range s {
			if c == 0 {
				p.fail(msgInvalidLiteral)
				return nil, false
			}
		}
	}
	return s, lit8
}

// number reads a 32-bit number (RFC 9051 number).
func (p *parser) number() (uint32, bool) {
	n, ok := p.number64()
	if ok && n > 1<<32-1 {
		return 0, p.fail(msgInvalidNumber)
	}
	return uint32(n), ok
}

// nzNumber reads a non-zero 32-bit number.
func (p *parser) nzNumber() (uint32, bool) {
	n, ok := p.number()
	if ok && n == 0 {
		return 0, p.fail(msgInvalidNumber)
	}
	return n, ok
}

// number64 reads a 63-bit number (RFC 9051 number64).
func (p *parser) number64() (uint64, bool) {
	if p.err != "" {
		return 0, false
	}
	var n uint64
	start := p.i
	for p.i < p.end && '0' <= p.b[p.i] && p.b[p.i] <= '9' {
		n = n*10 + uint64(p.b[p.i]-'0')
		p.i++
		if n > frameMaxInt64 || p.i-start > 19 {
			return 0, p.fail(msgInvalidNumber)
		}
	}
	if p.i == start {
		if p.i >= p.end {
			return 0, p.fail(msgMissingArg)
		}
		return 0, p.fail(msgInvalidNumber)
	}
	return n, true
}

// keyword reads an atom and reports whether it equals kw (any case); on a
// mismatch it leaves p.i where it was and records nothing.
func (p *parser) keyword(kw string) bool {
	if p.err != "" || p.end-p.i < len(kw) || !asciiEqualFold(p.b[p.i:p.i+len(kw)], kw) {
		return false
	}
	if j := p.i + len(kw); j < p.end && isAtomChar(p.b[j]) {
		return false
	}
	p.i += len(kw)
	return true
}

// mailbox reads mailbox = "INBOX" / astring, normalising INBOX in any case
// to "INBOX" and decoding modified UTF-7 unless UTF8=ACCEPT is on.
func (p *parser) mailbox() []byte {
	s := p.astring()
	if s == nil {
		return nil
	}
	return p.mailboxName(s)
}

func hasHighBit(s []byte) bool {
	for _, c := range s {
		if c >= 0x80 {
			return true
		}
	}
	return false
}

func (p *parser) mailboxName(s []byte) []byte {
	if asciiEqualFold(s, "INBOX") {
		return parseInbox
	}
	if len(s) > 5 && s[5] == '/' && asciiEqualFold(s[:5], "INBOX") && string(s[:5]) != "INBOX" {
		// INBOX is case-insensitive (RFC 9051 §5.1), also as the parent
		// of a hierarchy: "inbox/x" is INBOX/x, as LIST patterns and the
		// disk store already treat it, not a child of a second "inbox".
		s = append(append(make([]byte, 0, len(s)), parseInbox...), s[5:]...)
	}
	if p.opt.UTF8 {
		if !utf8.Valid(s) {
			p.fail(msgInvalidUTF8)
			return nil
		}
		return s
	}
	if isPlainMailboxName(s) {
		return s
	}
	if hasHighBit(s) && utf8.Valid(s) {
		// Modified UTF-7 is 7-bit, so 8-bit UTF-8 cannot be mistaken for
		// it. Clients that see IMAP4rev2 advertised send UTF-8 names
		// without enabling it (go-imap does); accept them as UTF-8.
		return s
	}
	d, ok := DecodeMUTF7(make([]byte, 0, len(s)), s)
	if !ok {
		p.fail(msgInvalidMailbox)
		return nil
	}
	return d
}

// listMailbox reads list-mailbox = 1*list-char / string, where list-char
// adds "%", "*" and "]" to ATOM-CHAR, and decodes it as a mailbox name
// (wildcards are printable ASCII and survive the decoding). INBOX is not
// normalised here: a pattern is matched case-insensitively for INBOX by the
// handler.
func (p *parser) listMailbox() []byte {
	if p.err != "" {
		return nil
	}
	var s []byte
	if c := p.peek(); c == '"' || c == '{' {
		s = p.string()
	} else {
		start := p.i
		for p.i < p.end {
			c := p.b[p.i]
			if !isAtomChar(c) && c != '%' && c != '*' && c != ']' {
				break
			}
			p.i++
		}
		if p.i == start {
			if p.i >= p.end {
				p.fail(msgMissingArg)
			} else {
				p.fail(msgInvalidString)
			}
			return nil
		}
		s = p.b[start:p.i:p.i]
	}
	if s == nil {
		return nil
	}
	if p.opt.UTF8 {
		if !utf8.Valid(s) {
			p.fail(msgInvalidUTF8)
			return nil
		}
		return s
	}
	if isPlainMailboxName(s) {
		return s
	}
	d, ok := DecodeMUTF7(make([]byte, 0, len(s)), s)
	if !ok {
		p.fail(msgInvalidMailbox)
		return nil
	}
	return d
}

// seqSet reads sequence-set (RFC 9051 §9) or "$" (RFC 5182) into set,
// appending to set.Ranges.
func (p *parser) seqSet(set *SeqSet) bool {
	if p.err != "" {
		return false
	}
	if p.peek() == '$' {
		p.i++
		set.Saved = true
		return true
	}
	for {
		a, ok := p.seqNumber()
		if !ok {
			return false
		}
		b := a
		if p.peek() == ':' {
			p.i++
			if b, ok = p.seqNumber(); !ok {
				return false
			}
		}
		set.Ranges = append(set.Ranges, SeqRange{Start: a, Stop: b})
		if p.peek() != ',' {
			return true
		}
		p.i++
	}
}

// seqNumber reads nz-number / "*"; "*" is 0.
func (p *parser) seqNumber() (uint32, bool) {
	if p.peek() == '*' {
		p.i++
		return 0, true
	}
	if c := p.peek(); c < '0' || c > '9' {
		if p.i >= p.end {
			return 0, p.fail(msgMissingArg)
		}
		return 0, p.fail(msgInvalidSeqSet)
	}
	var n uint64
	start := p.i
	for p.i < p.end && '0' <= p.b[p.i] && p.b[p.i] <= '9' {
		n = n*10 + uint64(p.b[p.i]-'0')
		p.i++
		if n > 1<<32-1 || p.i-start > 10 {
			return 0, p.fail(msgInvalidSeqSet)
		}
	}
	if n == 0 {
		return 0, p.fail(msgInvalidSeqSet)
	}
	return uint32(n), true
}

// seqSetNoStar reads a sequence set in which "*" and "$" are not allowed
// (RFC 7162 known-uids and seq-match-data).
func (p *parser) seqSetNoStar(set *SeqSet) bool {
	if p.peek() == '$' {
		return p.fail(msgQResync)
	}
	if !p.seqSet(set) {
		return false
	}
	for _, r := range set.Ranges {
		if r.Start == 0 || r.Stop == 0 {
			return p.fail(msgQResync)
		}
	}
	return true
}

// flag reads one flag for STORE or APPEND: "\" atom for a system flag (only
// the five of RFC 9051 §2.3.2; \Recent cannot be set, RFC 3501 §2.3.2) or
// an atom for a keyword.
func (p *parser) flag() []byte {
	if p.err != "" {
		return nil
	}
	start := p.i
	if p.peek() == '\\' {
		p.i++
		a := p.atom()
		if a == nil {
			p.err = msgInvalidFlag
			return nil
		}
		f := p.b[start:p.i:p.i]
		if SystemFlag(f) == 0 {
			if asciiEqualFold(f, `\Recent`) {
				p.fail(msgRecentFlag)
			} else {
				p.fail(msgSystemFlag)
			}
			return nil
		}
		return f
	}
	if p.i < p.end && !isAtomChar(p.b[p.i]) {
		p.fail(msgInvalidFlag)
		return nil
	}
	return p.atom()
}

// flagList reads "(" [flag *(SP flag)] ")" into cmd.Flags.
func (p *parser) flagList(cmd *Command) bool {
	if !p.char('(', msgExpectedParen) {
		return false
	}
	if p.peek() == ')' {
		p.i++
		return true
	}
	for {
		f := p.flag()
		if f == nil {
			return false
		}
		cmd.Flags = append(cmd.Flags, f)
		if p.peek() == ')' {
			p.i++
			return true
		}
		if !p.sp() {
			return false
		}
	}
}

func (p *parser) authenticate(cmd *Command) {
	if !p.sp() {
		return
	}
	cmd.Mechanism = p.atom()
	if p.err != "" || p.i == p.end {
		return
	}
	if !p.sp() {
		return
	}
	// initial-resp = base64 / "=" (RFC 4959)
	start := p.i
	for p.i < p.end && p.b[p.i] != ' ' {
		p.i++
	}
	r := p.b[start:p.i:p.i]
	if len(r) == 0 || !parseIsBase64(r) {
		p.fail(msgInvalidBase64)
		return
	}
	cmd.InitialResp = r
	cmd.HasInitialResp = true
}

// parseIsBase64 checks base64 = *(4base64-char) [base64-terminal], or "=".
func parseIsBase64(r []byte) bool {
	if len(r) == 1 && r[0] == '=' {
		return true
	}
	if len(r)%4 != 0 {
		return false
	}
	for i, c := range r {
		switch {
		case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '+', c == '/':
		case c == '=' && i >= len(r)-2 && (i == len(r)-1 || r[len(r)-1] == '='):
		default:
			return false
		}
	}
	return true
}

func (p *parser) enable(cmd *Command) {
	for {
		if !p.sp() {
			return
		}
		a := p.atom()
		if a == nil {
			return
		}
		cmd.Args = append(cmd.Args, a)
		if p.i == p.end {
			return
		}
	}
}

// id reads id-params-list = "(" *(string SP nstring) ")" / nil (RFC 2971;
// an empty list is accepted too).
func (p *parser) id(cmd *Command) {
	if !p.sp() {
		return
	}
	if p.peek() != '(' {
		if a := p.atom(); a != nil && asciiEqualFold(a, "NIL") {
			cmd.NilArg = true
			return
		}
		p.fail(msgInvalidID)
		return
	}
	p.i++
	if p.peek() == ')' {
		p.i++
		return
	}
	for {
		k := p.string()
		if !p.sp() {
			return
		}
		v := p.nstring()
		if p.err != "" {
			return
		}
		cmd.Args = append(cmd.Args, k, v)
		if p.peek() == ')' {
			p.i++
			return
		}
		if !p.sp() {
			return
		}
	}
}

// selectCmd reads SELECT/EXAMINE mailbox [SP "(" select-param *(SP
// select-param) ")"], with the RFC 7162 parameters CONDSTORE and
// QRESYNC (uidvalidity modseq [known-uids] [(seqs uids)]).
func (p *parser) selectCmd(cmd *Command) {
	if !p.sp() {
		return
	}
	cmd.Mailbox = p.mailbox()
	if p.err != "" || p.i == p.end {
		return
	}
	if !p.sp() || !p.char('(', msgExpectedParen) {
		return
	}
	for {
		switch {
		case p.keyword("CONDSTORE"):
			cmd.CondStore = true
		case p.keyword("QRESYNC"):
			if cmd.QResync {
				p.fail(msgSelectParam)
				return
			}
			cmd.QResync = true
			if !p.sp() || !p.qresync(cmd) {
				return
			}
		default:
			p.fail(msgSelectParam)
			return
		}
		if p.peek() == ')' {
			p.i++
			return
		}
		if !p.sp() {
			return
		}
	}
}

func (p *parser) qresync(cmd *Command) bool {
	if !p.char('(', msgQResync) {
		return false
	}
	v, ok := p.nzNumber()
	if !ok || !p.sp() {
		return false
	}
	cmd.QRUIDValidity = v
	if cmd.QRModSeq, ok = p.number64(); !ok {
		return false
	}
	if p.peek() == ' ' {
		p.i++
		if p.peek() != '(' {
			cmd.HasQRKnownUIDs = true
			if !p.seqSetNoStar(&cmd.QRKnownUIDs) {
				return false
			}
			if p.peek() == ' ' {
				p.i++
				if p.peek() != '(' {
					return p.fail(msgQResync)
				}
			}
		}
		if p.peek() == '(' {
			p.i++
			cmd.HasQRSeqMatch = true
			if !p.seqSetNoStar(&cmd.QRSeqMatchSeqs) || !p.sp() || !p.seqSetNoStar(&cmd.QRSeqMatchUIDs) {
				return false
			}
			if !p.char(')', msgQResync) {
				return false
			}
		}
	}
	return p.char(')', msgQResync)
}

// create reads CREATE mailbox [SP "(" USE SP "(" [use-attr *(SP use-attr)] ")" ")"]
// (RFC 6154 §3).
func (p *parser) create(cmd *Command) {
	if !p.sp() {
		return
	}
	cmd.Mailbox = p.mailbox()
	if p.err != "" || p.i == p.end {
		return
	}
	if !p.sp() || !p.char('(', msgCreateParam) {
		return
	}
	if !p.keyword("USE") {
		p.fail(msgCreateParam)
		return
	}
	if !p.sp() || !p.char('(', msgExpectedParen) {
		return
	}
	if p.peek() != ')' {
		for {
			if !p.char('\\', msgUseAttr) {
				return
			}
			a := p.atom()
			if a == nil {
				return
			}
			attr := parseUseAttr(a)
			if attr == 0 {
				p.fail(msgUseAttr)
				return
			}
			cmd.SpecialUse |= attr
			if p.peek() == ')' {
				break
			}
			if !p.sp() {
				return
			}
		}
	}
	p.i++
	p.char(')', msgExpectedClose)
}

// parseUseAttrs lists the RFC 6154 special-use attributes (without "\").
var parseUseAttrs = [...]struct {
	name string
	attr MailboxAttr
}{
	{"All", AttrAll},
	{"Archive", AttrArchive},
	{"Drafts", AttrDrafts},
	{"Flagged", AttrFlagged},
	{"Junk", AttrJunk},
	{"Sent", AttrSent},
	{"Trash", AttrTrash},
}

func parseUseAttr(a []byte) MailboxAttr {
	for _, u := range parseUseAttrs {
		if asciiEqualFold(a, u.name) {
			return u.attr
		}
	}
	return 0
}

// parseStatusAtts names the STATUS items.
var parseStatusAtts = [...]struct {
	name string
	item StatusItem
}{
	{"MESSAGES", StatusMessages},
	{"UIDNEXT", StatusUIDNext},
	{"UIDVALIDITY", StatusUIDValidity},
	{"UNSEEN", StatusUnseen},
	{"DELETED", StatusDeleted},
	{"SIZE", StatusSize},
	{"RECENT", StatusRecent},
	{"HIGHESTMODSEQ", StatusHighestModSeq},
	{"APPENDLIMIT", StatusAppendLimit},
}

// statusAtts reads "(" status-att *(SP status-att) ")".
func (p *parser) statusAtts() StatusItem {
	if !p.char('(', msgExpectedParen) {
		return 0
	}
	var items StatusItem
	for {
		a := p.atom()
		if a == nil {
			return 0
		}
		found := false
		for _, s := range parseStatusAtts {
			if asciiEqualFold(a, s.name) {
				items |= s.item
				found = true
				break
			}
		}
		if !found {
			p.fail(msgStatusItem)
			return 0
		}
		if p.peek() == ')' {
			p.i++
			return items
		}
		if !p.sp() {
			return 0
		}
	}
}

// list reads LIST [SP list-select-opts] SP mailbox SP mbox-or-pat
// [SP list-return-opts] (RFC 5258, RFC 6154, RFC 5819).
func (p *parser) list(cmd *Command) {
	if !p.sp() {
		return
	}
	if p.peek() == '(' {
		p.i++
		if !p.listSelect(cmd) || !p.sp() {
			return
		}
	}
	cmd.Mailbox = p.mailbox()
	if !p.sp() {
		return
	}
	if p.peek() == '(' {
		p.i++
		for {
			pat := p.listMailbox()
			if pat == nil {
				return
			}
			cmd.Patterns = append(cmd.Patterns, pat)
			if p.peek() == ')' {
				p.i++
				break
			}
			if !p.sp() {
				return
			}
		}
	} else {
		pat := p.listMailbox()
		if pat == nil {
			return
		}
		cmd.Patterns = append(cmd.Patterns, pat)
	}
	if p.err != "" || p.i == p.end {
		return
	}
	if !p.sp() {
		return
	}
	if !p.keyword("RETURN") {
		p.fail(msgListReturn)
		return
	}
	if !p.sp() || !p.char('(', msgExpectedParen) {
		return
	}
	if p.peek() == ')' {
		p.i++
		return
	}
	for {
		switch {
		case p.keyword("SUBSCRIBED"):
			cmd.ListRet |= ListRetSubscribed
		case p.keyword("CHILDREN"):
			cmd.ListRet |= ListRetChildren
		case p.keyword("SPECIAL-USE"):
			cmd.ListRet |= ListRetSpecialUse
		case p.keyword("STATUS"):
			cmd.ListRet |= ListRetStatus
			if !p.sp() {
				return
			}
			if cmd.StatusItems = p.statusAtts(); p.err != "" {
				return
			}
		default:
			p.fail(msgListReturn)
			return
		}
		if p.peek() == ')' {
			p.i++
			return
		}
		if !p.sp() {
			return
		}
	}
}

// listSelect reads the selection options after "(".
func (p *parser) listSelect(cmd *Command) bool {
	if p.peek() != ')' {
		for {
			switch {
			case p.keyword("SUBSCRIBED"):
				cmd.ListSel |= ListSelSubscribed
			case p.keyword("REMOTE"):
				cmd.ListSel |= ListSelRemote
			case p.keyword("RECURSIVEMATCH"):
				cmd.ListSel |= ListSelRecursiveMatch
			case p.keyword("SPECIAL-USE"):
				cmd.ListSel |= ListSelSpecialUse
			default:
				return p.fail(msgListSelect)
			}
			if p.peek() == ')' {
				break
			}
			if !p.sp() {
				return false
			}
		}
	}
	p.i++
	// RFC 5258 §3.1: RECURSIVEMATCH alone (or with only REMOTE) is BAD.
	if cmd.ListSel&ListSelRecursiveMatch != 0 && cmd.ListSel&^(ListSelRecursiveMatch|ListSelRemote) == 0 {
		return p.fail(msgRecursiveMatch)
	}
	return true
}

// append reads APPEND mailbox [SP flag-list] [SP date-time] SP literal
// (a literal8 is accepted, RFC 3516 §4.4).
func (p *parser) append(cmd *Command) {
	if !p.sp() {
		return
	}
	cmd.Mailbox = p.mailbox()
	if !p.sp() {
		return
	}
	if p.peek() == '(' {
		if !p.flagList(cmd) || !p.sp() {
			return
		}
	}
	if p.peek() == '"' {
		t, ok := p.dateTime()
		if !ok || !p.sp() {
			return
		}
		cmd.Date, cmd.HasDate = t, true
	}
	if c := p.peek(); c != '{' && c != '~' {
		p.fail(msgInvalidLiteral)
		return
	}
	msg, lit8 := p.literal(true)
	if p.err != "" {
		return
	}
	cmd.Message, cmd.Binary = msg, lit8
}

// store reads STORE sequence-set [SP "(" UNCHANGEDSINCE n ")"] SP
// ["+" / "-"] "FLAGS" [".SILENT"] SP (flag-list / flag *(SP flag)).
func (p *parser) store(cmd *Command) {
	if !p.sp() || !p.seqSet(&cmd.Set) || !p.sp() {
		return
	}
	if p.peek() == '(' {
		p.i++
		for {
			if !p.keyword("UNCHANGEDSINCE") || cmd.HasUnchanged {
				p.fail(msgStoreModifier)
				return
			}
			if !p.sp() {
				return
			}
			n, ok := p.number64()
			if !ok {
				return
			}
			cmd.UnchangedSince, cmd.HasUnchanged = n, true
			if p.peek() == ')' {
				p.i++
				break
			}
			if !p.sp() {
				return
			}
		}
		if !p.sp() {
			return
		}
	}
	switch p.peek() {
	case '+':
		cmd.Op = FlagsAdd
		p.i++
	case '-':
		cmd.Op = FlagsRemove
		p.i++
	default:
		cmd.Op = FlagsReplace
	}
	a := p.atom()
	switch {
	case a == nil:
		p.err = msgStoreAtt
		return
	case asciiEqualFold(a, "FLAGS"):
	case asciiEqualFold(a, "FLAGS.SILENT"):
		cmd.Silent = true
	default:
		p.fail(msgStoreAtt)
		return
	}
	if !p.sp() {
		return
	}
	if p.peek() == '(' {
		p.flagList(cmd)
		return
	}
	for {
		f := p.flag()
		if f == nil {
			return
		}
		cmd.Flags = append(cmd.Flags, f)
		if p.i == p.end {
			return
		}
		if !p.sp() {
			return
		}
	}
}

var parseMonths = [12]string{"JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"}

// parseDaysIn returns the number of days of month m (1..12) in year y.
func parseDaysIn(y, m int) int {
	switch m {
	case 2:
		if y%4 == 0 && (y%100 != 0 || y%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// digits reads exactly n digits.
func (p *parser) digits(n int) (int, bool) {
	v := 0
	for k := 0; k < n; k++ {
		if p.i >= p.end || p.b[p.i] < '0' || p.b[p.i] > '9' {
			return 0, false
		}
		v = v*10 + int(p.b[p.i]-'0')
		p.i++
	}
	return v, true
}

// month reads a three-letter month name.
func (p *parser) month() (int, bool) {
	if p.end-p.i < 3 {
		return 0, false
	}
	for m, name := range parseMonths {
		if asciiEqualFold(p.b[p.i:p.i+3], name) {
			p.i += 3
			return m + 1, true
		}
	}
	return 0, false
}

// date reads date = date-text / DQUOTE date-text DQUOTE, with date-text =
// date-day "-" date-month "-" date-year and date-day = 1*2DIGIT.
func (p *parser) date() (Date, bool) {
	if p.err != "" {
		return Date{}, false
	}
	q := p.peek() == '"'
	if q {
		p.i++
	}
	d, ok := p.digits(1)
	if ok && p.peek() >= '0' && p.peek() <= '9' {
		d = d*10 + int(p.b[p.i]-'0')
		p.i++
	}
	var m, y int
	if ok {
		ok = p.peek() == '-'
		p.i++
	}
	if ok {
		m, ok = p.month()
	}
	if ok {
		ok = p.peek() == '-'
		p.i++
	}
	if ok {
		y, ok = p.digits(4)
	}
	if ok && q {
		ok = p.peek() == '"'
		p.i++
	}
	if !ok || d < 1 || d > parseDaysIn(y, m) {
		return Date{}, p.fail(msgInvalidDate)
	}
	return Date{Year: int16(y), Month: uint8(m), Day: uint8(d)}, true
}

// dateTime reads date-time = DQUOTE date-day-fixed "-" date-month "-"
// date-year SP time SP zone DQUOTE and returns it as Unix seconds, the zone
// applied.
func (p *parser) dateTime() (int64, bool) {
	p.i++ // DQUOTE
	var d, m, y, hh, mm, ss, zh, zm int
	ok := true
	if p.peek() == ' ' {
		p.i++
		d, ok = p.digits(1)
	} else {
		d, ok = p.digits(2)
	}
	ok = ok && p.peek() == '-'
	p.i++
	if ok {
		m, ok = p.month()
	}
	ok = ok && p.peek() == '-'
	p.i++
	if ok {
		y, ok = p.digits(4)
	}
	ok = ok && p.peek() == ' '
	p.i++
	if ok {
		hh, ok = p.digits(2)
	}
	ok = ok && p.peek() == ':'
	p.i++
	if ok {
		mm, ok = p.digits(2)
	}
	ok = ok && p.peek() == ':'
	p.i++
	if ok {
		ss, ok = p.digits(2)
	}
	ok = ok && p.peek() == ' '
	p.i++
	sign := 0
	if ok {
		switch p.peek() {
		case '+':
			sign = 1
		case '-':
			sign = -1
		default:
			ok = false
		}
		p.i++
	}
	if ok {
		zh, ok = p.digits(2)
	}
	if ok {
		zm, ok = p.digits(2)
	}
	ok = ok && p.peek() == '"'
	p.i++
	if !ok || d < 1 || d > parseDaysIn(y, m) || hh > 23 || mm > 59 || ss > 60 || zm > 59 {
		return 0, p.fail(msgInvalidDateTime)
	}
	t := parseDaysFromCivil(y, m, d)*86400 + int64(hh*3600+mm*60+ss)
	return t - int64(sign*(zh*3600+zm*60)), true
}

// parseDaysFromCivil returns the days from 1970-01-01 to y-m-d (proleptic
// Gregorian calendar).
func parseDaysFromCivil(y, m, d int) int64 {
	if m <= 2 {
		y--
	}
	era := y / 400
	if y < 0 {
		era = (y - 399) / 400
	}
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return int64(era)*146097 + int64(doe) - 719468
}
