package statemachine

// This file holds the parsed form of a client command: the contract between
// the parser (parse.go) and the command handlers (handle_*.go).
//
// Every []byte in a Command is a view into the session's command buffer and is
// valid only until the step that parsed it returns. Handlers that must keep a
// value (the IDLE tag, a mailbox name stored by the backend) copy it.

// CommandName identifies an IMAP command. The UID prefix is not part of the
// name: it is Command.UID.
type CommandName uint8

// Command names, RFC 9051 §6 and the extensions Myriad implements.
const (
	CmdUnknown CommandName = iota
	CmdCapability
	CmdNoop
	CmdLogout
	CmdStartTLS
	CmdAuthenticate
	CmdLogin
	CmdEnable
	CmdID
	CmdNamespace
	CmdSelect
	CmdExamine
	CmdCreate
	CmdDelete
	CmdRename
	CmdSubscribe
	CmdUnsubscribe
	CmdList
	CmdLsub
	CmdStatus
	CmdAppend
	CmdIdle
	CmdCheck
	CmdClose
	CmdUnselect
	CmdExpunge
	CmdSearch
	CmdFetch
	CmdStore
	CmdCopy
	CmdMove
	cmdCount
)

var commandNames = [cmdCount]string{
	CmdUnknown:      "UNKNOWN",
	CmdCapability:   "CAPABILITY",
	CmdNoop:         "NOOP",
	CmdLogout:       "LOGOUT",
	CmdStartTLS:     "STARTTLS",
	CmdAuthenticate: "AUTHENTICATE",
	CmdLogin:        "LOGIN",
	CmdEnable:       "ENABLE",
	CmdID:           "ID",
	CmdNamespace:    "NAMESPACE",
	CmdSelect:       "SELECT",
	CmdExamine:      "EXAMINE",
	CmdCreate:       "CREATE",
	CmdDelete:       "DELETE",
	CmdRename:       "RENAME",
	CmdSubscribe:    "SUBSCRIBE",
	CmdUnsubscribe:  "UNSUBSCRIBE",
	CmdList:         "LIST",
	CmdLsub:         "LSUB",
	CmdStatus:       "STATUS",
	CmdAppend:       "APPEND",
	CmdIdle:         "IDLE",
	CmdCheck:        "CHECK",
	CmdClose:        "CLOSE",
	CmdUnselect:     "UNSELECT",
	CmdExpunge:      "EXPUNGE",
	CmdSearch:       "SEARCH",
	CmdFetch:        "FETCH",
	CmdStore:        "STORE",
	CmdCopy:         "COPY",
	CmdMove:         "MOVE",
}

// String returns the command's name as written on the wire.
func (c CommandName) String() string {
	if c >= cmdCount {
		return "UNKNOWN"
	}
	return commandNames[c]
}

// LookupCommand maps a command atom (any case) to its name; CmdUnknown if it
// is not one Myriad knows.
func LookupCommand(atom []byte) CommandName {
	for i := CmdCapability; i < cmdCount; i++ {
		if asciiEqualFold(atom, commandNames[i]) {
			return i
		}
	}
	return CmdUnknown
}

// SeqRange is one element of a sequence set: Start:Stop. Zero stands for "*"
// (the largest number in use). Start may be greater than Stop (RFC 9051 §9,
// seq-range: "4:2" is the same as "2:4").
type SeqRange struct {
	Start, Stop uint32
}

// SeqSet is a sequence set of message numbers or UIDs, as written by the
// client. Saved is true for "$" (RFC 5182 SEARCHRES), in which case Ranges is
// empty.
type SeqSet struct {
	Ranges []SeqRange
	Saved  bool
}

// FetchKind is a FETCH data item.
type FetchKind uint8

// Fetch data items, RFC 9051 §6.4.5, RFC 3516 (BINARY) and RFC 7162 (MODSEQ).
const (
	FetchFlags FetchKind = iota + 1
	FetchInternalDate
	FetchRFC822Size
	FetchEnvelope
	FetchBody          // BODY without a section: BODYSTRUCTURE without extension data
	FetchBodyStructure // BODYSTRUCTURE
	FetchUID
	FetchModSeq
	FetchBodySection  // BODY[...] and BODY.PEEK[...]
	FetchBinary       // BINARY[...] and BINARY.PEEK[...]
	FetchBinarySize   // BINARY.SIZE[...]
	FetchRFC822       // RFC822, same as BODY[] but named RFC822 in the answer
	FetchRFC822Header // RFC822.HEADER, same as BODY.PEEK[HEADER]
	FetchRFC822Text   // RFC822.TEXT, same as BODY[TEXT]
)

// SectionSpec is the text part of a section specifier.
type SectionSpec uint8

// Section specifiers, RFC 9051 §6.4.5.
const (
	SpecNone SectionSpec = iota // BODY[] or BODY[1.2]: the whole part
	SpecHeader
	SpecHeaderFields
	SpecHeaderFieldsNot
	SpecText
	SpecMIME
)

// Section is a BODY[section] or BINARY[section] argument.
type Section struct {
	Part   []uint32 // part numbers, e.g. 1.2.3; empty for the top level
	Spec   SectionSpec
	Fields [][]byte // header field names for SpecHeaderFields(Not)
}

// FetchAtt is one item of a FETCH request.
type FetchAtt struct {
	Kind    FetchKind
	Peek    bool // BODY.PEEK / BINARY.PEEK: do not set \Seen
	Section Section
	Partial bool // <offset.count> given
	Offset  uint32
	Count   uint32
}

// FlagOp says how STORE combines the given flags with the present ones.
type FlagOp uint8

// STORE operations.
const (
	FlagsReplace FlagOp = iota // FLAGS
	FlagsAdd                   // +FLAGS
	FlagsRemove                // -FLAGS
)

// Apply returns cur changed by a STORE of f with this operation. Backends
// and the session share it so that they agree on what a STORE does.
func (op FlagOp) Apply(cur, f Flags) Flags {
	switch op {
	case FlagsAdd:
		return cur | f
	case FlagsRemove:
		return cur &^ f
	}
	return f
}

// SearchOp is the kind of one search key.
type SearchOp uint8

// Search keys, RFC 3501 §6.4.4 / RFC 9051 §6.4.4 and RFC 7162 MODSEQ.
const (
	SearchAll SearchOp = iota + 1
	SearchAnd          // Sub holds the keys; a parenthesised list or the top level
	SearchOr           // Sub[0] OR Sub[1]
	SearchNot          // NOT Sub[0]
	SearchSeqSet
	SearchUIDSet
	SearchAnswered
	SearchDeleted
	SearchDraft
	SearchFlagged
	SearchSeen
	SearchRecent
	SearchNew
	SearchOld
	SearchUnanswered
	SearchUndeleted
	SearchUndraft
	SearchUnflagged
	SearchUnseen
	SearchKeyword   // Str = keyword
	SearchUnkeyword // Str = keyword
	SearchBcc       // Str
	SearchCc
	SearchFrom
	SearchTo
	SearchSubject
	SearchBody
	SearchText
	SearchHeader // Field, Str
	SearchBefore // Date: internal date, day granularity
	SearchOn
	SearchSince
	SearchSentBefore // Date: Date: header
	SearchSentOn
	SearchSentSince
	SearchLarger  // Num
	SearchSmaller // Num
	SearchModSeq  // Num (entry name and type are accepted and ignored)
)

// Date is a calendar day, used by SEARCH (no time of day, no zone).
type Date struct {
	Year  int16
	Month uint8 // 1..12
	Day   uint8 // 1..31
}

// SearchKey is one node of a search criteria tree.
type SearchKey struct {
	Op    SearchOp
	Str   []byte
	Field []byte
	Num   uint64
	Date  Date
	Set   SeqSet
	Sub   []SearchKey
}

// Search RETURN options, RFC 4731 and RFC 5182 (SAVE).
const (
	ReturnMin uint8 = 1 << iota
	ReturnMax
	ReturnAll
	ReturnCount
	ReturnSave
)

// StatusItem is a bit set of STATUS data items.
type StatusItem uint16

// STATUS items, RFC 9051 §6.3.11, RFC 3501 (RECENT), RFC 7162 (HIGHESTMODSEQ)
// and RFC 7889 (APPENDLIMIT).
const (
	StatusMessages StatusItem = 1 << iota
	StatusUIDNext
	StatusUIDValidity
	StatusUnseen
	StatusDeleted
	StatusSize
	StatusRecent
	StatusHighestModSeq
	StatusAppendLimit // RFC 7889
)

// LIST-EXTENDED selection options, RFC 5258 §3.1.
const (
	ListSelSubscribed uint8 = 1 << iota
	ListSelRemote
	ListSelRecursiveMatch
	ListSelSpecialUse
)

// LIST-EXTENDED return options, RFC 5258 §3.2, RFC 6154, RFC 5819.
const (
	ListRetSubscribed uint8 = 1 << iota
	ListRetChildren
	ListRetSpecialUse
	ListRetStatus
)

// Command is one parsed client command. Which fields are set depends on Name;
// the comment on each field lists the commands that use it.
type Command struct {
	Tag  []byte
	Name CommandName
	UID  bool // UID FETCH/STORE/COPY/MOVE/SEARCH/EXPUNGE

	// SELECT EXAMINE CREATE DELETE RENAME(from) SUBSCRIBE UNSUBSCRIBE STATUS
	// APPEND COPY MOVE(destination): the mailbox name, already decoded from
	// modified UTF-7 to UTF-8 (RFC 3501 §5.1.3) unless UTF8=ACCEPT is on.
	Mailbox []byte
	// RENAME: the new name. LIST/LSUB: the reference name is Mailbox and the
	// patterns are Patterns.
	NewMailbox []byte
	Patterns   [][]byte

	// LOGIN: user name and password. AUTHENTICATE: Mechanism and the optional
	// SASL-IR initial response (still base64; "=" means empty).
	User, Password []byte
	Mechanism      []byte
	InitialResp    []byte
	HasInitialResp bool

	// FETCH STORE COPY MOVE SEARCH(UID EXPUNGE): the message set.
	Set SeqSet

	// FETCH: the items (macros ALL/FAST/FULL expanded) and modifiers.
	Items        []FetchAtt
	ChangedSince uint64 // FETCH (CHANGEDSINCE n); 0 = absent
	Vanished     bool   // UID FETCH (VANISHED)

	// STORE.
	Op             FlagOp
	Silent         bool
	Flags          [][]byte // STORE and APPEND flags, as written (e.g. `\Seen`, `$Forwarded`)
	UnchangedSince uint64   // STORE (UNCHANGEDSINCE n)
	HasUnchanged   bool

	// SEARCH.
	Charset   []byte
	Search    SearchKey // an AND of the top-level keys
	Return    uint8     // Return* bits; ESEARCH form when HasReturn
	HasReturn bool

	// STATUS, and LIST RETURN (STATUS (...)).
	StatusItems StatusItem

	// LIST-EXTENDED.
	ListSel uint8
	ListRet uint8

	// APPEND.
	HasDate bool
	Date    int64  // internal date, seconds since the Unix epoch (UTC)
	Message []byte // the literal
	Binary  bool   // the message came as a literal8 ~{n} (RFC 3516 §4.4): it may hold NUL

	// CREATE (USE (...)): the special-use attributes asked for (RFC 6154 §3);
	// only bits of AttrSpecialUse.
	SpecialUse MailboxAttr

	// ENABLE: capability names. ID: alternating field/value (value nil for NIL).
	Args [][]byte
	// ID: true when the parameter list was NIL.
	NilArg bool

	// SELECT/EXAMINE parameters (RFC 7162).
	CondStore      bool
	QResync        bool
	QRUIDValidity  uint32
	QRModSeq       uint64
	QRKnownUIDs    SeqSet
	QRSeqMatchSeqs SeqSet
	QRSeqMatchUIDs SeqSet
	HasQRKnownUIDs bool
	HasQRSeqMatch  bool
}

// Reset clears c for reuse, keeping the capacity of its slices so that a
// steady stream of commands parses without allocating.
func (c *Command) Reset() {
	items := c.Items[:0]
	flags := c.Flags[:0]
	args := c.Args[:0]
	pats := c.Patterns[:0]
	ranges := c.Set.Ranges[:0]
	*c = Command{}
	c.Items = items
	c.Flags = flags
	c.Args = args
	c.Patterns = pats
	c.Set.Ranges = ranges
}

// asciiEqualFold reports whether b equals the upper-case ASCII string s,
// ignoring ASCII case.
func asciiEqualFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := 0; i < len(b); i++ {
		c := b[i]
		if 'a' <= c && c <= 'z' {
			c -= 'a' - 'A'
		}
		d := s[i]
		if 'a' <= d && d <= 'z' {
			d -= 'a' - 'A'
		}
		if c != d {
			return false
		}
	}
	return true
}
