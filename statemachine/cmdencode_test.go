package statemachine

import (
	"reflect"
	"testing"
)

// ceRoundTrip checks ParseCommand(AppendCommand(c)) == c.
func ceRoundTrip(t *testing.T, c *Command, opt ParseOptions) {
	t.Helper()
	wire := AppendCommandOpt(nil, c, opt)
	var got Command
	if err := ParseCommand(wire, &got, opt); err != nil {
		t.Errorf("%+v\nencodes to %q, which does not parse: %v", *c, wire, err)
		return
	}
	want := *c
	ptNormCommand(&want)
	ptNormCommand(&got)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("encoded as %q\n got %+v\nwant %+v", wire, got, want)
	}
	// The framer finds exactly one command in the encoding.
	var f Framer
	if fr := f.Next(wire, nil); fr.Kind != FrameCommand || fr.N != len(wire) {
		t.Errorf("%q: frame %+v", wire, fr)
	}
}

// TestRoundTripParsed: every command of the parse table encodes back to
// itself.
func TestRoundTripParsed(t *testing.T) {
	for _, tt := range ptParseTests {
		c := tt.want
		ceRoundTrip(t, &c, ParseOptions{UTF8: tt.utf8})
	}
}

// TestRoundTripBuilt: commands built by hand, with values that need
// quoting, literals, modified UTF-7, binary data and dates.
func TestRoundTripBuilt(t *testing.T) {
	cmds := []Command{
		{Tag: ptB("A001"), Name: CmdLogin, User: ptB("user name"), Password: ptB("p\"a\\s\r\ns")},
		{Tag: ptB("A001"), Name: CmdLogin, User: ptB("NIL"), Password: ptB("")},
		{Tag: ptB("a"), Name: CmdLogin, User: ptB("\xc3\xa4"), Password: ptB("]")},
		{Tag: ptB("a"), Name: CmdSelect, Mailbox: ptB("Entwürfe & Co/日本語")},
		{Tag: ptB("a"), Name: CmdRename, Mailbox: ptB("a{1}"), NewMailbox: ptB("b\"c")},
		{Tag: ptB("a"), Name: CmdCreate, Mailbox: ptB("All"), SpecialUse: AttrAll | AttrFlagged | AttrJunk | AttrTrash},
		{Tag: ptB("a"), Name: CmdAppend, Mailbox: ptB("Sent"), Flags: ptBs(`\Seen`, "$MDNSent"), HasDate: true, Date: -86399, Message: ptB("From: a\r\n\r\nbody\r\n")},
		{Tag: ptB("a"), Name: CmdAppend, Mailbox: ptB("INBOX"), HasDate: true, Date: 253402300799, Message: ptB("\x00\xff"), Binary: true},
		{Tag: ptB("a"), Name: CmdAppend, Mailbox: ptB("INBOX"), HasDate: true, Date: 951782400, Message: ptB("x")}, // 29-Feb-2000
		{Tag: ptB("a"), Name: CmdList, Mailbox: ptB("日本語/"), Patterns: ptBs("*", "a b%", "Gelöscht/*"), ListSel: ListSelSpecialUse, ListRet: ListRetStatus, StatusItems: StatusHighestModSeq | StatusRecent},
		{Tag: ptB("a"), Name: CmdList, Mailbox: ptB(""), Patterns: ptBs("")},
		{Tag: ptB("a"), Name: CmdSearch, Charset: ptB("UTF-8"), Search: SearchKey{Op: SearchAnd, Sub: []SearchKey{
			{Op: SearchSubject, Str: ptB("caf\xc3\xa9")},
			{Op: SearchHeader, Field: ptB("Message-ID"), Str: ptB("<a@b>")},
			{Op: SearchOr, Sub: []SearchKey{{Op: SearchNot, Sub: []SearchKey{{Op: SearchUIDSet, Set: ptSet(ptR(1, 0))}}}, {Op: SearchText, Str: ptB("")}}},
			{Op: SearchSince, Date: Date{Year: 2024, Month: 2, Day: 29}},
		}}},
		{Tag: ptB("a"), Name: CmdID, Args: [][]byte{ptB("name"), ptB(""), ptB("x"), nil}},
		{Tag: ptB("a"), Name: CmdEnable, Args: ptBs("IMAP4rev2")},
		{Tag: ptB("a"), Name: CmdFetch, Set: ptSet(ptR(1, 0), ptR(7, 7)), Items: []FetchAtt{
			{Kind: FetchBinarySize, Section: Section{Part: []uint32{1, 2, 3}}},
			{Kind: FetchBodySection, Peek: true, Section: Section{Spec: SpecHeaderFieldsNot, Fields: ptBs("a", "b c", "")}, Partial: true, Offset: 4294967295, Count: 1},
		}, ChangedSince: 1<<63 - 1},
		{Tag: ptB("a"), Name: CmdStore, UID: true, Set: SeqSet{Saved: true}, Op: FlagsRemove, Flags: ptBs("$Forwarded")},
		{Tag: ptB("a"), Name: CmdMove, Set: ptSet(ptR(3, 1)), Mailbox: ptB("INBOX")},
	}
	for i := range cmds {
		ceRoundTrip(t, &cmds[i], ParseOptions{})
	}
	// Under UTF8=ACCEPT names go out raw.
	c := Command{Tag: ptB("a"), Name: CmdSelect, Mailbox: ptB("Entwürfe&")}
	ceRoundTrip(t, &c, ParseOptions{UTF8: true})
	if w := AppendCommandOpt(nil, &c, ParseOptions{UTF8: true}); string(w) != "a SELECT \"Entwürfe&\"\r\n" {
		t.Errorf("UTF8 SELECT: %q", w)
	}
	if w := AppendCommand(nil, &c); string(w) != "a SELECT Entw&APw-rfe&-\r\n" {
		t.Errorf("mUTF-7 SELECT: %q", w)
	}
}

func TestAppendCommandExact(t *testing.T) {
	for _, tt := range []struct {
		c    Command
		want string
	}{
		{Command{Tag: ptB("a"), Name: CmdNoop}, "a NOOP\r\n"},
		{Command{Tag: ptB("a"), Name: CmdFetch, UID: true, Set: ptSet(ptR(1, 0)), Items: []FetchAtt{{Kind: FetchFlags}}, ChangedSince: 5, Vanished: true}, "a UID FETCH 1:* (FLAGS) (CHANGEDSINCE 5 VANISHED)\r\n"},
		{Command{Tag: ptB("a"), Name: CmdStore, Set: ptSet(ptR(1, 1)), Op: FlagsAdd, Silent: true, Flags: ptBs(`\Seen`)}, "a STORE 1 +FLAGS.SILENT (\\Seen)\r\n"},
		{Command{Tag: ptB("a"), Name: CmdLogin, User: ptB("bob"), Password: ptB("a\r\nb")}, "a LOGIN bob {4+}\r\na\r\nb\r\n"},
		{Command{Tag: ptB("a"), Name: CmdAppend, Mailbox: ptB("INBOX"), HasDate: true, Date: 837596665, Message: ptB("hi")}, "a APPEND INBOX \"17-Jul-1996 09:44:25 +0000\" {2+}\r\nhi\r\n"},
		{Command{Tag: ptB("a"), Name: CmdSearch, HasReturn: true, Return: ReturnMin | ReturnSave, Search: SearchKey{Op: SearchAnd, Sub: []SearchKey{{Op: SearchBefore, Date: Date{2001, 3, 5}}}}}, "a SEARCH RETURN (MIN SAVE) BEFORE 5-Mar-2001\r\n"},
		{Command{Tag: ptB("a"), Name: CmdSelect, Mailbox: ptB("INBOX"), QResync: true, QRUIDValidity: 1, QRModSeq: 2, HasQRKnownUIDs: true, QRKnownUIDs: ptSet(ptR(1, 9)), HasQRSeqMatch: true, QRSeqMatchSeqs: ptSet(ptR(1, 1)), QRSeqMatchUIDs: ptSet(ptR(3, 3))}, "a SELECT INBOX (QRESYNC (1 2 1:9 (1 3)))\r\n"},
	} {
		if got := AppendCommand(nil, &tt.c); string(got) != tt.want {
			t.Errorf("got %q, want %q", got, tt.want)
		}
	}
}

// FuzzParseCommand: any input either fails to parse, or parses to a command
// that encodes to a form that parses back to the same command; and the
// framer finds the same command boundaries however the input is split.
func FuzzParseCommand(f *testing.F) {
	for _, tt := range ptParseTests {
		f.Add([]byte(tt.in), uint16(3))
	}
	for _, tt := range ptErrorTests {
		f.Add([]byte(tt.in), uint16(1))
	}
	f.Fuzz(func(t *testing.T, in []byte, split uint16) {
		var c Command
		if err := ParseCommand(in, &c, ParseOptions{}); err == nil {
			wire := AppendCommand(nil, &c)
			var c2 Command
			if err := ParseCommand(wire, &c2, ParseOptions{}); err != nil {
				t.Fatalf("%q parsed, encoded as %q, which fails: %v", in, wire, err)
			}
			ptNormCommand(&c)
			ptNormCommand(&c2)
			if !reflect.DeepEqual(c, c2) {
				t.Fatalf("%q -> %q:\n%+v\n%+v", in, wire, c, c2)
			}
		}
		// Chunking does not change the frames.
		lim := ftLimits
		run := func(chunks [][]byte) []string {
			d := &ftDriver{lim: &lim}
			for _, ch := range chunks {
				d.feed(ch)
			}
			if len(chunks) > 2 && d.maxBuf > int(lim.MaxCommand)+1 {
				t.Fatalf("%q: buffered %d bytes one byte at a time, over MaxCommand %d", in, d.maxBuf, lim.MaxCommand)
			}
			return append(d.events, d.parses...)
		}
		k := int(split) % (len(in) + 1)
		a := run([][]byte{in})
		b := run([][]byte{in[:k], in[k:]})
		if !reflect.DeepEqual(a, b) {
			t.Fatalf("%q split at %d:\n%q\n%q", in, k, a, b)
		}
		bytewise := make([][]byte, len(in))
		for i := range in {
			bytewise[i] = in[i : i+1]
		}
		if c := run(bytewise); !reflect.DeepEqual(a, c) {
			t.Fatalf("%q byte at a time:\n%q\n%q", in, a, c)
		}
	})
}
