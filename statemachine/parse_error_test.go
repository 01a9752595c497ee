package statemachine

import (
	"errors"
	"testing"
)

var ptErrorTests = []struct {
	in, tag, msg string
}{
	{"\r\n", "", msgInvalidTag},
	{"a\r\n", "a", msgMissingCommand},
	{"a(\r\n", "", msgInvalidTag},
	{"a+b NOOP\r\n", "", msgInvalidTag},
	{"* NOOP\r\n", "", msgInvalidTag},
	{" NOOP\r\n", "", msgInvalidTag},
	{"a \r\n", "a", msgUnknownCommand},
	{"a FOO\r\n", "a", msgUnknownCommand},
	{"a NOOP extra\r\n", "a", msgExtraArgs},
	{"a NOOP \r\n", "a", msgExtraArgs},
	{"a UID NOOP\r\n", "a", msgInvalidUIDCmd},
	{"a UID\r\n", "a", msgMissingArg},
	{"a UID EXPUNGE\r\n", "a", msgMissingArg},
	{"a LOGIN\r\n", "a", msgMissingArg},
	{"a LOGIN bob\r\n", "a", msgMissingArg},
	{"a LOGIN bob  pw\r\n", "a", msgInvalidString},
	{"a LOGIN \"bob pw\r\n", "a", msgInvalidQuoted},
	{"a LOGIN \"b\\ob\" pw\r\n", "a", msgInvalidQuoted},
	{"a LOGIN {50}\r\nbob pw\r\n", "a", msgInvalidLiteral},
	{"a LOGIN {1}\r\n\x00 pw\r\n", "a", msgInvalidLiteral},
	{"a LOGIN {x}\r\n", "a", msgInvalidLiteral},
	{"a LOGIN {99999999999999999999}\r\n", "a", msgInvalidLiteral},
	{"a LOGIN ~{1}\r\nb pw\r\n", "a", msgLiteral8},
	{"a AUTHENTICATE PLAIN abc\r\n", "a", msgInvalidBase64},
	{"a AUTHENTICATE PLAIN a=bc\r\n", "a", msgInvalidBase64},
	{"a SELECT &Jjo\r\n", "a", msgInvalidMailbox},
	{"a SELECT \"caf\xff\"\r\n", "a", msgInvalidMailbox}, // 8-bit but not UTF-8
	{"a SELECT INBOX ()\r\n", "a", msgSelectParam},
	{"a SELECT INBOX (FOO)\r\n", "a", msgSelectParam},
	{"a SELECT INBOX (QRESYNC (0 1))\r\n", "a", msgInvalidNumber},
	{"a SELECT INBOX (QRESYNC (1 2 1:*))\r\n", "a", msgQResync},
	{"a SELECT INBOX (QRESYNC (1 2 1:5 (1 2) x))\r\n", "a", msgQResync},
	{"a CREATE x (USE (\\Important))\r\n", "a", msgUseAttr},
	{"a CREATE x (FOO)\r\n", "a", msgCreateParam},
	{"a STATUS INBOX ()\r\n", "a", msgInvalidAtom},
	{"a STATUS INBOX (MESSAGES FOO)\r\n", "a", msgStatusItem},
	{"a STATUS INBOX MESSAGES\r\n", "a", msgExpectedParen},
	{"a LIST (RECURSIVEMATCH) \"\" *\r\n", "a", msgRecursiveMatch},
	{"a LIST (FOO) \"\" *\r\n", "a", msgListSelect},
	{"a LIST \"\" * RETURN (FOO)\r\n", "a", msgListReturn},
	{"a LIST \"\" * FOO\r\n", "a", msgListReturn},
	{"a LIST \"\"\r\n", "a", msgMissingArg},
	{"a APPEND INBOX\r\n", "a", msgMissingArg},
	{"a APPEND INBOX hello\r\n", "a", msgInvalidLiteral},
	{"a APPEND INBOX (\\Recent) {1}\r\nx\r\n", "a", msgRecentFlag},
	{"a APPEND INBOX (\\Foo) {1}\r\nx\r\n", "a", msgSystemFlag},
	{"a APPEND INBOX (\\*) {1}\r\nx\r\n", "a", msgInvalidFlag},
	{"a APPEND INBOX \"30-Feb-2020 00:00:00 +0000\" {1}\r\nx\r\n", "a", msgInvalidDateTime},
	{"a APPEND INBOX \"1-Feb-2020 00:00:00 +0000\" {1}\r\nx\r\n", "a", msgInvalidDateTime},
	{"a APPEND INBOX \"01-Feb-2020 24:00:00 +0000\" {1}\r\nx\r\n", "a", msgInvalidDateTime},
	{"a APPEND INBOX \"01-Foo-2020 00:00:00 +0000\" {1}\r\nx\r\n", "a", msgInvalidDateTime},
	{"a APPEND INBOX {1}\r\nx {1}\r\ny\r\n", "a", msgExtraArgs},
	{"a FETCH\r\n", "a", msgMissingArg},
	{"a FETCH 0 FLAGS\r\n", "a", msgInvalidSeqSet},
	{"a FETCH 1: FLAGS\r\n", "a", msgInvalidSeqSet},
	{"a FETCH 4294967296 FLAGS\r\n", "a", msgInvalidSeqSet},
	{"a FETCH 1,,2 FLAGS\r\n", "a", msgInvalidSeqSet},
	{"a FETCH 1,$ FLAGS\r\n", "a", msgInvalidSeqSet},
	{"a FETCH x FLAGS\r\n", "a", msgInvalidSeqSet},
	{"a FETCH 1 FOO\r\n", "a", msgInvalidFetchAtt},
	{"a FETCH 1 (FLAGS ALL)\r\n", "a", msgInvalidFetchAtt},
	{"a FETCH 1 ()\r\n", "a", msgInvalidFetchAtt},
	{"a FETCH 1 (FLAGS\r\n", "a", msgMissingArg},
	{"a FETCH 1 BODY.PEEK\r\n", "a", msgInvalidFetchAtt},
	{"a FETCH 1 BINARY\r\n", "a", msgInvalidFetchAtt},
	{"a FETCH 1 BODY[MIME]\r\n", "a", msgInvalidSection},
	{"a FETCH 1 BODY[0]\r\n", "a", msgInvalidSection},
	{"a FETCH 1 BODY[1.]\r\n", "a", msgInvalidSection},
	{"a FETCH 1 BODY[1HEADER]\r\n", "a", msgInvalidSection},
	{"a FETCH 1 BODY[FOO]\r\n", "a", msgInvalidSection},
	{"a FETCH 1 BODY[HEADER.FIELDS]\r\n", "a", msgExpectedSpace},
	{"a FETCH 1 BODY[HEADER.FIELDS ()]\r\n", "a", msgInvalidString},
	{"a FETCH 1 BINARY[1.TEXT]\r\n", "a", msgInvalidSection},
	{"a FETCH 1 BINARY[HEADER]\r\n", "a", msgInvalidSection},
	{"a FETCH 1 BODY[]<1.0>\r\n", "a", msgInvalidNumber},
	{"a FETCH 1 BODY[]<1>\r\n", "a", msgInvalidPartial},
	{"a FETCH 1 FLAGS (CHANGEDSINCE 0)\r\n", "a", msgFetchModifier},
	{"a FETCH 1 FLAGS (FOO)\r\n", "a", msgFetchModifier},
	{"a FETCH 1 FLAGS (CHANGEDSINCE 1 VANISHED)\r\n", "a", msgVanished},
	{"a UID FETCH 1 FLAGS (VANISHED)\r\n", "a", msgVanished},
	{"a STORE 1 FLAGS\r\n", "a", msgMissingArg},
	{"a STORE 1 +FLAG (\\Seen)\r\n", "a", msgStoreAtt},
	{"a STORE 1 +FLAGS (\\Recent)\r\n", "a", msgRecentFlag},
	{"a STORE 1 +FLAGS (\\Seen\r\n", "a", msgMissingArg},
	{"a STORE 1 (UNCHANGEDSINCE x) FLAGS ()\r\n", "a", msgInvalidNumber},
	{"a STORE 1 (FOO 1) FLAGS ()\r\n", "a", msgStoreModifier},
	{"a COPY 1\r\n", "a", msgMissingArg},
	{"a SEARCH\r\n", "a", msgMissingArg},
	{"a SEARCH FOO\r\n", "a", msgInvalidSearchKey},
	{"a SEARCH SINCE 32-Jan-2020\r\n", "a", msgInvalidDate},
	{"a SEARCH SINCE 29-Feb-2021\r\n", "a", msgInvalidDate},
	{"a SEARCH SINCE 1-Jan-20\r\n", "a", msgInvalidDate},
	{"a SEARCH OR SEEN\r\n", "a", msgMissingArg},
	{"a SEARCH ()\r\n", "a", msgInvalidAtom},
	{"a SEARCH (SEEN\r\n", "a", msgMissingArg},
	{"a SEARCH SEEN)\r\n", "a", msgExpectedSpace},
	{"a SEARCH RETURN (FOO) ALL\r\n", "a", msgSearchReturn},
	{"a SEARCH KEYWORD \\Seen\r\n", "a", msgInvalidFlag},
	{"a SEARCH MODSEQ \"/flags/\\\\seen\" foo 1\r\n", "a", msgInvalidSearchKey},
	{"a SEARCH 1,$\r\n", "a", msgInvalidSeqSet},
	{"a ID (\"a\")\r\n", "a", msgExpectedSpace},
	{"a ID FOO\r\n", "a", msgInvalidID},
	{"a ENABLE\r\n", "a", msgMissingArg},
	{"a SELECT \"caf\xff\"\r\n", "a", msgInvalidUTF8},
}

func TestParseErrors(t *testing.T) {
	var c Command
	for _, tt := range ptErrorTests {
		opt := ParseOptions{}
		if tt.msg == msgInvalidUTF8 {
			opt.UTF8 = true
		}
		err := ParseCommand([]byte(tt.in), &c, opt)
		var pe *ParseError
		if !errors.As(err, &pe) {
			t.Errorf("%q: err = %v, want a *ParseError", tt.in, err)
			continue
		}
		if string(pe.Tag) != tt.tag || pe.Msg != tt.msg {
			t.Errorf("%q: got tag %q msg %q, want tag %q msg %q", tt.in, pe.Tag, pe.Msg, tt.tag, tt.msg)
		}
	}
}

func TestParseDeepNesting(t *testing.T) {
	var c Command
	deep := "a SEARCH "
	for i := 0; i < 10000; i++ {
		deep += "("
	}
	err := ParseCommand([]byte(deep+"ALL\r\n"), &c, ParseOptions{})
	if pe, ok := err.(*ParseError); !ok || pe.Msg != msgTooDeep {
		t.Fatalf("deep parens: %v", err)
	}
	deep = "a SEARCH "
	for i := 0; i < 10000; i++ {
		deep += "NOT "
	}
	err = ParseCommand([]byte(deep+"ALL\r\n"), &c, ParseOptions{})
	if pe, ok := err.(*ParseError); !ok || pe.Msg != msgTooDeep {
		t.Fatalf("deep NOT: %v", err)
	}
	ok := "a SEARCH "
	for i := 0; i < parseMaxDepth; i++ {
		ok += "NOT "
	}
	if err := ParseCommand([]byte(ok+"ALL\r\n"), &c, ParseOptions{}); err != nil {
		t.Fatalf("%d NOTs: %v", parseMaxDepth, err)
	}
}
