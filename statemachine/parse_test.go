package statemachine

import (
	"reflect"
	"testing"
)

func ptB(s string) []byte { return []byte(s) }

func ptBs(s ...string) [][]byte {
	out := make([][]byte, len(s))
	for i, x := range s {
		out[i] = []byte(x)
	}
	return out
}

func ptR(a, b uint32) SeqRange { return SeqRange{Start: a, Stop: b} }

func ptSet(r ...SeqRange) SeqSet { return SeqSet{Ranges: r} }

// ptNormCommand makes empty slices nil so that a parsed command and a written
// one compare equal with reflect.DeepEqual.
func ptNormCommand(c *Command) {
	if len(c.Items) == 0 {
		c.Items = nil
	}
	for i := range c.Items {
		s := &c.Items[i].Section
		if len(s.Part) == 0 {
			s.Part = nil
		}
		if len(s.Fields) == 0 {
			s.Fields = nil
		}
	}
	if len(c.Flags) == 0 {
		c.Flags = nil
	}
	if len(c.Args) == 0 {
		c.Args = nil
	}
	if len(c.Patterns) == 0 {
		c.Patterns = nil
	}
	ptNormSet(&c.Set)
	ptNormSet(&c.QRKnownUIDs)
	ptNormSet(&c.QRSeqMatchSeqs)
	ptNormSet(&c.QRSeqMatchUIDs)
	ptNormKey(&c.Search)
}

func ptNormSet(s *SeqSet) {
	if len(s.Ranges) == 0 {
		s.Ranges = nil
	}
}

func ptNormKey(k *SearchKey) {
	ptNormSet(&k.Set)
	if len(k.Sub) == 0 {
		k.Sub = nil
	}
	for i := range k.Sub {
		ptNormKey(&k.Sub[i])
	}
}

// ptParse parses s with a fresh Command.
func ptParse(t *testing.T, s string, opt ParseOptions) (*Command, error) {
	t.Helper()
	var c Command
	err := ParseCommand([]byte(s), &c, opt)
	ptNormCommand(&c)
	return &c, err
}

var ptParseTests = []struct {
	in   string
	want Command
	utf8 bool
}{
	// Commands without arguments.
	{in: "a CAPABILITY\r\n", want: Command{Tag: ptB("a"), Name: CmdCapability}},
	{in: "a1 noop\r\n", want: Command{Tag: ptB("a1"), Name: CmdNoop}},
	{in: "x.y LOGOUT\n", want: Command{Tag: ptB("x.y"), Name: CmdLogout}},
	{in: "t StartTLS\r\n", want: Command{Tag: ptB("t"), Name: CmdStartTLS}},
	{in: "t IDLE\r\n", want: Command{Tag: ptB("t"), Name: CmdIdle}},
	{in: "t CHECK\r\n", want: Command{Tag: ptB("t"), Name: CmdCheck}},
	{in: "t CLOSE\r\n", want: Command{Tag: ptB("t"), Name: CmdClose}},
	{in: "t UNSELECT\r\n", want: Command{Tag: ptB("t"), Name: CmdUnselect}},
	{in: "t EXPUNGE\r\n", want: Command{Tag: ptB("t"), Name: CmdExpunge}},
	{in: "t NAMESPACE\r\n", want: Command{Tag: ptB("t"), Name: CmdNamespace}},
	{in: "A]1 NOOP\r\n", want: Command{Tag: ptB("A]1"), Name: CmdNoop}}, // "]" is an ASTRING-CHAR

	// UID EXPUNGE.
	{in: "t UID EXPUNGE 1:3,5\r\n", want: Command{Tag: ptB("t"), Name: CmdExpunge, UID: true, Set: ptSet(ptR(1, 3), ptR(5, 5))}},

	// AUTHENTICATE, LOGIN.
	{in: "t AUTHENTICATE PLAIN\r\n", want: Command{Tag: ptB("t"), Name: CmdAuthenticate, Mechanism: ptB("PLAIN")}},
	{in: "t AUTHENTICATE PLAIN AGJvYgBwdw==\r\n", want: Command{Tag: ptB("t"), Name: CmdAuthenticate, Mechanism: ptB("PLAIN"), InitialResp: ptB("AGJvYgBwdw=="), HasInitialResp: true}},
	{in: "t AUTHENTICATE EXTERNAL =\r\n", want: Command{Tag: ptB("t"), Name: CmdAuthenticate, Mechanism: ptB("EXTERNAL"), InitialResp: ptB("="), HasInitialResp: true}},
	{in: "t LOGIN bob secret\r\n", want: Command{Tag: ptB("t"), Name: CmdLogin, User: ptB("bob"), Password: ptB("secret")}},
	{in: "t LOGIN \"bob\" \"se\\\"c\\\\ret\"\r\n", want: Command{Tag: ptB("t"), Name: CmdLogin, User: ptB("bob"), Password: ptB(`se"c\ret`)}},
	{in: "t LOGIN {3}\r\nbob {6+}\r\nse\r\nct\r\n", want: Command{Tag: ptB("t"), Name: CmdLogin, User: ptB("bob"), Password: ptB("se\r\nct")}},
	{in: "t LOGIN bob {3}\r\npw\r\n", want: Command{Tag: ptB("t"), Name: CmdLogin, User: ptB("bob"), Password: ptB("pw\r")}},
	{in: "t LOGIN bob {3}\r\npw\r\r\n", want: Command{Tag: ptB("t"), Name: CmdLogin, User: ptB("bob"), Password: ptB("pw\r")}},
	{in: "t LOGIN \"\" \"\"\r\n", want: Command{Tag: ptB("t"), Name: CmdLogin, User: ptB(""), Password: ptB("")}},

	// ENABLE, ID.
	{in: "t ENABLE CONDSTORE QRESYNC UTF8=ACCEPT\r\n", want: Command{Tag: ptB("t"), Name: CmdEnable, Args: ptBs("CONDSTORE", "QRESYNC", "UTF8=ACCEPT")}},
	{in: "t ID NIL\r\n", want: Command{Tag: ptB("t"), Name: CmdID, NilArg: true}},
	{in: "t ID (\"name\" \"sodr\" \"version\" NIL)\r\n", want: Command{Tag: ptB("t"), Name: CmdID, Args: [][]byte{ptB("name"), ptB("sodr"), ptB("version"), nil}}},
	{in: "t ID ()\r\n", want: Command{Tag: ptB("t"), Name: CmdID}},

	// SELECT, EXAMINE.
	{in: "t SELECT inbox\r\n", want: Command{Tag: ptB("t"), Name: CmdSelect, Mailbox: ptB("INBOX")}},
	{in: "t SELECT \"InBoX\"\r\n", want: Command{Tag: ptB("t"), Name: CmdSelect, Mailbox: ptB("INBOX")}},
	{in: "t EXAMINE Archive/2020\r\n", want: Command{Tag: ptB("t"), Name: CmdExamine, Mailbox: ptB("Archive/2020")}},
	{in: "t SELECT ~peter/mail/&U,BTFw-/&ZeVnLIqe-\r\n", want: Command{Tag: ptB("t"), Name: CmdSelect, Mailbox: ptB("~peter/mail/台北/日本語")}},
	{in: "t SELECT \"Entwürfe&\"\r\n", utf8: true, want: Command{Tag: ptB("t"), Name: CmdSelect, Mailbox: ptB("Entwürfe&")}},
	{in: "t SELECT INBOX (CONDSTORE)\r\n", want: Command{Tag: ptB("t"), Name: CmdSelect, Mailbox: ptB("INBOX"), CondStore: true}},
	{in: "t SELECT INBOX (QRESYNC (67890007 20050715194045000))\r\n", want: Command{Tag: ptB("t"), Name: CmdSelect, Mailbox: ptB("INBOX"), QResync: true, QRUIDValidity: 67890007, QRModSeq: 20050715194045000}},
	{in: "t SELECT INBOX (QRESYNC (67890007 20050715194045000 41,43:211,214:541))\r\n", want: Command{Tag: ptB("t"), Name: CmdSelect, Mailbox: ptB("INBOX"), QResync: true, QRUIDValidity: 67890007, QRModSeq: 20050715194045000,
		HasQRKnownUIDs: true, QRKnownUIDs: ptSet(ptR(41, 41), ptR(43, 211), ptR(214, 541))}},
	{in: "t EXAMINE INBOX (QRESYNC (67890007 90060115194045000 41:211,214:541 (1:15,20 4,7:20)) CONDSTORE)\r\n", want: Command{Tag: ptB("t"), Name: CmdExamine, Mailbox: ptB("INBOX"), QResync: true, CondStore: true, QRUIDValidity: 67890007, QRModSeq: 90060115194045000,
		HasQRKnownUIDs: true, QRKnownUIDs: ptSet(ptR(41, 211), ptR(214, 541)),
		HasQRSeqMatch: true, QRSeqMatchSeqs: ptSet(ptR(1, 15), ptR(20, 20)), QRSeqMatchUIDs: ptSet(ptR(4, 4), ptR(7, 20))}},
	{in: "t SELECT INBOX (QRESYNC (1 2 (1 4)))\r\n", want: Command{Tag: ptB("t"), Name: CmdSelect, Mailbox: ptB("INBOX"), QResync: true, QRUIDValidity: 1, QRModSeq: 2,
		HasQRSeqMatch: true, QRSeqMatchSeqs: ptSet(ptR(1, 1)), QRSeqMatchUIDs: ptSet(ptR(4, 4))}},

	// CREATE, DELETE, RENAME, SUBSCRIBE, UNSUBSCRIBE.
	{in: "t CREATE Drafts (USE (\\Drafts))\r\n", want: Command{Tag: ptB("t"), Name: CmdCreate, Mailbox: ptB("Drafts"), SpecialUse: AttrDrafts}},
	{in: "t CREATE x (USE (\\sent \\Archive))\r\n", want: Command{Tag: ptB("t"), Name: CmdCreate, Mailbox: ptB("x"), SpecialUse: AttrSent | AttrArchive}},
	{in: "t CREATE x (USE ())\r\n", want: Command{Tag: ptB("t"), Name: CmdCreate, Mailbox: ptB("x")}},
	{in: "t CREATE a/b\r\n", want: Command{Tag: ptB("t"), Name: CmdCreate, Mailbox: ptB("a/b")}},
	{in: "t DELETE &-x\r\n", want: Command{Tag: ptB("t"), Name: CmdDelete, Mailbox: ptB("&x")}},
	{in: "t RENAME old \"new name\"\r\n", want: Command{Tag: ptB("t"), Name: CmdRename, Mailbox: ptB("old"), NewMailbox: ptB("new name")}},
	{in: "t SUBSCRIBE INBOX\r\n", want: Command{Tag: ptB("t"), Name: CmdSubscribe, Mailbox: ptB("INBOX")}},
	{in: "t UNSUBSCRIBE {3+}\r\nfoo\r\n", want: Command{Tag: ptB("t"), Name: CmdUnsubscribe, Mailbox: ptB("foo")}},

	// LIST, LSUB.
	{in: "t LIST \"\" *\r\n", want: Command{Tag: ptB("t"), Name: CmdList, Mailbox: ptB(""), Patterns: ptBs("*")}},
	{in: "t LIST \"\" \"\"\r\n", want: Command{Tag: ptB("t"), Name: CmdList, Mailbox: ptB(""), Patterns: ptBs("")}},
	{in: "t LIST ~/Mail/ %\r\n", want: Command{Tag: ptB("t"), Name: CmdList, Mailbox: ptB("~/Mail/"), Patterns: ptBs("%")}},
	{in: "t LIST \"\" &ZeVnLIqe-/%\r\n", want: Command{Tag: ptB("t"), Name: CmdList, Mailbox: ptB(""), Patterns: ptBs("日本語/%")}},
	{in: "t LIST (SUBSCRIBED RECURSIVEMATCH) \"\" (INBOX \"Sent*\" %/x)\r\n", want: Command{Tag: ptB("t"), Name: CmdList, Mailbox: ptB(""), Patterns: ptBs("INBOX", "Sent*", "%/x"),
		ListSel: ListSelSubscribed | ListSelRecursiveMatch}},
	{in: "t LIST (REMOTE SPECIAL-USE) \"\" *\r\n", want: Command{Tag: ptB("t"), Name: CmdList, Mailbox: ptB(""), Patterns: ptBs("*"), ListSel: ListSelRemote | ListSelSpecialUse}},
	{in: "t LIST () \"\" * RETURN ()\r\n", want: Command{Tag: ptB("t"), Name: CmdList, Mailbox: ptB(""), Patterns: ptBs("*")}},
	{in: "t LIST \"\" % RETURN (CHILDREN SUBSCRIBED SPECIAL-USE STATUS (MESSAGES UNSEEN SIZE))\r\n", want: Command{Tag: ptB("t"), Name: CmdList, Mailbox: ptB(""), Patterns: ptBs("%"),
		ListRet: ListRetChildren | ListRetSubscribed | ListRetSpecialUse | ListRetStatus, StatusItems: StatusMessages | StatusUnseen | StatusSize}},
	{in: "t LSUB \"\" news.*\r\n", want: Command{Tag: ptB("t"), Name: CmdLsub, Mailbox: ptB(""), Patterns: ptBs("news.*")}},

	// STATUS.
	{in: "t STATUS blurdybloop (UIDNEXT MESSAGES)\r\n", want: Command{Tag: ptB("t"), Name: CmdStatus, Mailbox: ptB("blurdybloop"), StatusItems: StatusUIDNext | StatusMessages}},
	{in: "t STATUS INBOX (messages uidnext uidvalidity unseen deleted size recent highestmodseq appendlimit)\r\n", want: Command{Tag: ptB("t"), Name: CmdStatus, Mailbox: ptB("INBOX"),
		StatusItems: StatusMessages | StatusUIDNext | StatusUIDValidity | StatusUnseen | StatusDeleted | StatusSize | StatusRecent | StatusHighestModSeq | StatusAppendLimit}},

	// APPEND.
	{in: "t APPEND saved-messages (\\Seen) {5}\r\nhello\r\n", want: Command{Tag: ptB("t"), Name: CmdAppend, Mailbox: ptB("saved-messages"), Flags: ptBs(`\Seen`), Message: ptB("hello")}},
	{in: "t APPEND INBOX {0+}\r\n\r\n", want: Command{Tag: ptB("t"), Name: CmdAppend, Mailbox: ptB("INBOX"), Message: ptB("")}},
	{in: "t APPEND INBOX () \"17-Jul-1996 02:44:25 -0700\" {2}\r\nhi\r\n", want: Command{Tag: ptB("t"), Name: CmdAppend, Mailbox: ptB("INBOX"), HasDate: true, Date: 837596665, Message: ptB("hi")}},
	{in: "t APPEND INBOX (\\Flagged $Forwarded) \" 1-Jan-2000 00:00:00 +0100\" ~{3+}\r\na\x00b\r\n", want: Command{Tag: ptB("t"), Name: CmdAppend, Mailbox: ptB("INBOX"),
		Flags: ptBs(`\Flagged`, "$Forwarded"), HasDate: true, Date: 946681200, Message: ptB("a\x00b"), Binary: true}},
	{in: "t APPEND INBOX \"29-Feb-2024 23:59:59 +0000\" {1}\r\nx\r\n", want: Command{Tag: ptB("t"), Name: CmdAppend, Mailbox: ptB("INBOX"), HasDate: true, Date: 1709251199, Message: ptB("x")}},

	// SEARCH.
	{in: "t SEARCH ALL\r\n", want: Command{Tag: ptB("t"), Name: CmdSearch, Search: SearchKey{Op: SearchAnd, Sub: []SearchKey{{Op: SearchAll}}}}},
	{in: "t SEARCH FLAGGED SINCE 1-Feb-1994 NOT FROM \"Smith\"\r\n", want: Command{Tag: ptB("t"), Name: CmdSearch, Search: SearchKey{Op: SearchAnd, Sub: []SearchKey{
		{Op: SearchFlagged},
		{Op: SearchSince, Date: Date{1994, 2, 1}},
		{Op: SearchNot, Sub: []SearchKey{{Op: SearchFrom, Str: ptB("Smith")}}},
	}}}},
	{in: "t UID SEARCH CHARSET UTF-8 TEXT {6+}\r\nX\xc3\xa4Y\xc3\xa4\r\n", want: Command{Tag: ptB("t"), Name: CmdSearch, UID: true, Charset: ptB("UTF-8"), Search: SearchKey{Op: SearchAnd, Sub: []SearchKey{
		{Op: SearchText, Str: ptB("X\xc3\xa4Y\xc3\xa4")},
	}}}},
	{in: "t SEARCH RETURN (MIN COUNT) OR (SEEN 1:5) (UNSEEN UID 2,*:4) *\r\n", want: Command{Tag: ptB("t"), Name: CmdSearch, HasReturn: true, Return: ReturnMin | ReturnCount, Search: SearchKey{Op: SearchAnd, Sub: []SearchKey{
		{Op: SearchOr, Sub: []SearchKey{
			{Op: SearchAnd, Sub: []SearchKey{{Op: SearchSeen}, {Op: SearchSeqSet, Set: ptSet(ptR(1, 5))}}},
			{Op: SearchAnd, Sub: []SearchKey{{Op: SearchUnseen}, {Op: SearchUIDSet, Set: ptSet(ptR(2, 2), ptR(0, 4))}}},
		}},
		{Op: SearchSeqSet, Set: ptSet(ptR(0, 0))},
	}}}},
	{in: "t SEARCH RETURN () $\r\n", want: Command{Tag: ptB("t"), Name: CmdSearch, HasReturn: true, Return: ReturnAll, Search: SearchKey{Op: SearchAnd, Sub: []SearchKey{
		{Op: SearchSeqSet, Set: SeqSet{Saved: true}},
	}}}},
	{in: "t UID SEARCH RETURN (SAVE MAX ALL) UID $ MODSEQ \"/flags/\\\\draft\" all 620162338\r\n", want: Command{Tag: ptB("t"), Name: CmdSearch, UID: true, HasReturn: true, Return: ReturnSave | ReturnMax | ReturnAll, Search: SearchKey{Op: SearchAnd, Sub: []SearchKey{
		{Op: SearchUIDSet, Set: SeqSet{Saved: true}},
		{Op: SearchModSeq, Num: 620162338},
	}}}},
	{in: "t SEARCH ANSWERED DELETED DRAFT RECENT NEW OLD UNANSWERED UNDELETED UNDRAFT UNFLAGGED SEEN\r\n", want: Command{Tag: ptB("t"), Name: CmdSearch, Search: SearchKey{Op: SearchAnd, Sub: []SearchKey{
		{Op: SearchAnswered}, {Op: SearchDeleted}, {Op: SearchDraft}, {Op: SearchRecent}, {Op: SearchNew}, {Op: SearchOld},
		{Op: SearchUnanswered}, {Op: SearchUndeleted}, {Op: SearchUndraft}, {Op: SearchUnflagged}, {Op: SearchSeen},
	}}}},
	{in: "t SEARCH KEYWORD $Junk UNKEYWORD foo BCC a CC \"b c\" TO d SUBJECT e BODY f HEADER X-Spam yes LARGER 100 SMALLER 4294967296 MODSEQ 7\r\n", want: Command{Tag: ptB("t"), Name: CmdSearch, Search: SearchKey{Op: SearchAnd, Sub: []SearchKey{
		{Op: SearchKeyword, Str: ptB("$Junk")}, {Op: SearchUnkeyword, Str: ptB("foo")}, {Op: SearchBcc, Str: ptB("a")}, {Op: SearchCc, Str: ptB("b c")},
		{Op: SearchTo, Str: ptB("d")}, {Op: SearchSubject, Str: ptB("e")}, {Op: SearchBody, Str: ptB("f")},
		{Op: SearchHeader, Field: ptB("X-Spam"), Str: ptB("yes")}, {Op: SearchLarger, Num: 100}, {Op: SearchSmaller, Num: 4294967296}, {Op: SearchModSeq, Num: 7},
	}}}},
	{in: "t SEARCH BEFORE \"5-Mar-2001\" ON 31-dec-1999 SENTBEFORE 01-Jan-2020 SENTON 2-Feb-2002 SENTSINCE 29-Feb-2000\r\n", want: Command{Tag: ptB("t"), Name: CmdSearch, Search: SearchKey{Op: SearchAnd, Sub: []SearchKey{
		{Op: SearchBefore, Date: Date{2001, 3, 5}}, {Op: SearchOn, Date: Date{1999, 12, 31}}, {Op: SearchSentBefore, Date: Date{2020, 1, 1}},
		{Op: SearchSentOn, Date: Date{2002, 2, 2}}, {Op: SearchSentSince, Date: Date{2000, 2, 29}},
	}}}},
	{in: "t SEARCH ((DELETED) NOT (OR 5:3 SEEN FLAGGED))\r\n", want: Command{Tag: ptB("t"), Name: CmdSearch, Search: SearchKey{Op: SearchAnd, Sub: []SearchKey{
		{Op: SearchAnd, Sub: []SearchKey{
			{Op: SearchAnd, Sub: []SearchKey{{Op: SearchDeleted}}},
			{Op: SearchNot, Sub: []SearchKey{{Op: SearchAnd, Sub: []SearchKey{
				{Op: SearchOr, Sub: []SearchKey{{Op: SearchSeqSet, Set: ptSet(ptR(5, 3))}, {Op: SearchSeen}}},
				{Op: SearchFlagged},
			}}}},
		}},
	}}}},

	// FETCH.
	{in: "t FETCH 1 (FLAGS)\r\n", want: Command{Tag: ptB("t"), Name: CmdFetch, Set: ptSet(ptR(1, 1)), Items: []FetchAtt{{Kind: FetchFlags}}}},
	{in: "t FETCH 1:* FLAGS\r\n", want: Command{Tag: ptB("t"), Name: CmdFetch, Set: ptSet(ptR(1, 0)), Items: []FetchAtt{{Kind: FetchFlags}}}},
	{in: "t FETCH 2:4 ALL\r\n", want: Command{Tag: ptB("t"), Name: CmdFetch, Set: ptSet(ptR(2, 4)), Items: []FetchAtt{{Kind: FetchFlags}, {Kind: FetchInternalDate}, {Kind: FetchRFC822Size}, {Kind: FetchEnvelope}}}},
	{in: "t FETCH 2 fast\r\n", want: Command{Tag: ptB("t"), Name: CmdFetch, Set: ptSet(ptR(2, 2)), Items: []FetchAtt{{Kind: FetchFlags}, {Kind: FetchInternalDate}, {Kind: FetchRFC822Size}}}},
	{in: "t FETCH 2 FULL\r\n", want: Command{Tag: ptB("t"), Name: CmdFetch, Set: ptSet(ptR(2, 2)), Items: []FetchAtt{{Kind: FetchFlags}, {Kind: FetchInternalDate}, {Kind: FetchRFC822Size}, {Kind: FetchEnvelope}, {Kind: FetchBody}}}},
	{in: "t FETCH 4,2:1 (UID ENVELOPE BODYSTRUCTURE BODY RFC822 RFC822.HEADER RFC822.TEXT RFC822.SIZE INTERNALDATE MODSEQ)\r\n", want: Command{Tag: ptB("t"), Name: CmdFetch, Set: ptSet(ptR(4, 4), ptR(2, 1)), Items: []FetchAtt{
		{Kind: FetchUID}, {Kind: FetchEnvelope}, {Kind: FetchBodyStructure}, {Kind: FetchBody}, {Kind: FetchRFC822}, {Kind: FetchRFC822Header}, {Kind: FetchRFC822Text}, {Kind: FetchRFC822Size}, {Kind: FetchInternalDate}, {Kind: FetchModSeq},
	}}},
	{in: "t FETCH 1 (BODY[] BODY.PEEK[HEADER] BODY[TEXT]<0.2048> body[1.2.MIME] BODY[3] BODY[4.TEXT] BODY[4.HEADER])\r\n", want: Command{Tag: ptB("t"), Name: CmdFetch, Set: ptSet(ptR(1, 1)), Items: []FetchAtt{
		{Kind: FetchBodySection},
		{Kind: FetchBodySection, Peek: true, Section: Section{Spec: SpecHeader}},
		{Kind: FetchBodySection, Section: Section{Spec: SpecText}, Partial: true, Offset: 0, Count: 2048},
		{Kind: FetchBodySection, Section: Section{Part: []uint32{1, 2}, Spec: SpecMIME}},
		{Kind: FetchBodySection, Section: Section{Part: []uint32{3}}},
		{Kind: FetchBodySection, Section: Section{Part: []uint32{4}, Spec: SpecText}},
		{Kind: FetchBodySection, Section: Section{Part: []uint32{4}, Spec: SpecHeader}},
	}}},
	{in: "t UID FETCH 1:* (BODY.PEEK[HEADER.FIELDS (From To \"Subject\")] BODY[2.HEADER.FIELDS.NOT (X-Spam)]<10.20>)\r\n", want: Command{Tag: ptB("t"), Name: CmdFetch, UID: true, Set: ptSet(ptR(1, 0)), Items: []FetchAtt{
		{Kind: FetchBodySection, Peek: true, Section: Section{Spec: SpecHeaderFields, Fields: ptBs("From", "To", "Subject")}},
		{Kind: FetchBodySection, Section: Section{Part: []uint32{2}, Spec: SpecHeaderFieldsNot, Fields: ptBs("X-Spam")}, Partial: true, Offset: 10, Count: 20},
	}}},
	{in: "t FETCH 1 (BINARY[1] BINARY.PEEK[1.2]<0.100> BINARY.SIZE[2] BINARY[])\r\n", want: Command{Tag: ptB("t"), Name: CmdFetch, Set: ptSet(ptR(1, 1)), Items: []FetchAtt{
		{Kind: FetchBinary, Section: Section{Part: []uint32{1}}},
		{Kind: FetchBinary, Peek: true, Section: Section{Part: []uint32{1, 2}}, Partial: true, Count: 100},
		{Kind: FetchBinarySize, Section: Section{Part: []uint32{2}}},
		{Kind: FetchBinary},
	}}},
	{in: "t FETCH 1:* (FLAGS) (CHANGEDSINCE 12345)\r\n", want: Command{Tag: ptB("t"), Name: CmdFetch, Set: ptSet(ptR(1, 0)), Items: []FetchAtt{{Kind: FetchFlags}}, ChangedSince: 12345}},
	{in: "t UID FETCH 300:500 (FLAGS) (CHANGEDSINCE 12345 VANISHED)\r\n", want: Command{Tag: ptB("t"), Name: CmdFetch, UID: true, Set: ptSet(ptR(300, 500)), Items: []FetchAtt{{Kind: FetchFlags}}, ChangedSince: 12345, Vanished: true}},
	{in: "t FETCH $ (UID)\r\n", want: Command{Tag: ptB("t"), Name: CmdFetch, Set: SeqSet{Saved: true}, Items: []FetchAtt{{Kind: FetchUID}}}},
	{in: "t FETCH 4294967295 UID\r\n", want: Command{Tag: ptB("t"), Name: CmdFetch, Set: ptSet(ptR(4294967295, 4294967295)), Items: []FetchAtt{{Kind: FetchUID}}}},

	// STORE.
	{in: "t STORE 2:4 +FLAGS (\\Deleted)\r\n", want: Command{Tag: ptB("t"), Name: CmdStore, Set: ptSet(ptR(2, 4)), Op: FlagsAdd, Flags: ptBs(`\Deleted`)}},
	{in: "t STORE 1 +FLAGS.SILENT (\\Seen)\r\n", want: Command{Tag: ptB("t"), Name: CmdStore, Set: ptSet(ptR(1, 1)), Op: FlagsAdd, Silent: true, Flags: ptBs(`\Seen`)}},
	{in: "t STORE 1 -flags.silent \\seen $Junk\r\n", want: Command{Tag: ptB("t"), Name: CmdStore, Set: ptSet(ptR(1, 1)), Op: FlagsRemove, Silent: true, Flags: ptBs(`\seen`, "$Junk")}},
	{in: "t UID STORE 1:* FLAGS ()\r\n", want: Command{Tag: ptB("t"), Name: CmdStore, UID: true, Set: ptSet(ptR(1, 0)), Op: FlagsReplace}},
	{in: "t STORE 7,5,9 (UNCHANGEDSINCE 320162338) +FLAGS.SILENT (\\Deleted \\Answered \\Draft \\Flagged)\r\n", want: Command{Tag: ptB("t"), Name: CmdStore, Set: ptSet(ptR(7, 7), ptR(5, 5), ptR(9, 9)), HasUnchanged: true, UnchangedSince: 320162338, Op: FlagsAdd, Silent: true,
		Flags: ptBs(`\Deleted`, `\Answered`, `\Draft`, `\Flagged`)}},
	{in: "t STORE 1 (UNCHANGEDSINCE 0) FLAGS (a)\r\n", want: Command{Tag: ptB("t"), Name: CmdStore, Set: ptSet(ptR(1, 1)), HasUnchanged: true, Op: FlagsReplace, Flags: ptBs("a")}},

	// COPY, MOVE.
	{in: "t COPY 2:4 MEETING\r\n", want: Command{Tag: ptB("t"), Name: CmdCopy, Set: ptSet(ptR(2, 4)), Mailbox: ptB("MEETING")}},
	{in: "t UID MOVE 42:69 \"Gel&APY-scht\"\r\n", want: Command{Tag: ptB("t"), Name: CmdMove, UID: true, Set: ptSet(ptR(42, 69)), Mailbox: ptB("Gelöscht")}},
	{in: "t uid copy *:1 inbox\r\n", want: Command{Tag: ptB("t"), Name: CmdCopy, UID: true, Set: ptSet(ptR(0, 1)), Mailbox: ptB("INBOX")}},
}

func TestParseCommand(t *testing.T) {
	for _, tt := range ptParseTests {
		got, err := ptParse(t, tt.in, ParseOptions{UTF8: tt.utf8})
		if err != nil {
			t.Errorf("%q: %v", tt.in, err)
			continue
		}
		want := tt.want
		ptNormCommand(&want)
		if !reflect.DeepEqual(*got, want) {
			t.Errorf("%q:\n got %+v\nwant %+v", tt.in, *got, want)
		}
	}
}
