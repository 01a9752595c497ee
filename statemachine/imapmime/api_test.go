package imapmime

import (
	goparser "go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
	"unsafe"
)

const nested = "From: a@example.com\r\n" +
	"Subject: outer\r\n" +
	"Date: Mon, 3 Mar 2025 23:30:00 -0500\r\n" +
	"Content-Type: multipart/mixed; boundary=\"o\"\r\n" +
	"\r\n" +
	"preamble\r\n" +
	"--o\r\n" +
	"Content-Type: text/plain\r\n" +
	"\r\n" +
	"one\r\n" +
	"--o\r\n" +
	"Content-Type: message/rfc822\r\n" +
	"\r\n" +
	"Subject: inner\r\n" +
	"\r\n" +
	"inner body\r\n" +
	"--o\r\n" +
	"Content-Type: application/octet-stream\r\n" +
	"Content-Transfer-Encoding: base64\r\n" +
	"\r\n" +
	"aGVsbG8=\r\n" +
	"--o--\r\n" +
	"epilogue\r\n"

func TestSectionEdges(t *testing.T) {
	raw := []byte(nested)
	p := Parse(raw)
	cases := []struct {
		part []uint32
		spec Spec
		want string
		ok   bool
	}{
		{nil, SpecNone, nested, true},
		{nil, SpecMIME, "", false},
		{[]uint32{1}, SpecNone, "one", true},
		{[]uint32{1}, SpecMIME, "Content-Type: text/plain\r\n\r\n", true},
		{[]uint32{1}, SpecHeader, "", false}, // not message/rfc822
		{[]uint32{1}, SpecText, "", false},
		{[]uint32{1, 1}, SpecNone, "", false},
		{[]uint32{2}, SpecNone, "Subject: inner\r\n\r\ninner body", true},
		{[]uint32{2}, SpecHeader, "Subject: inner\r\n\r\n", true},
		{[]uint32{2}, SpecText, "inner body", true},
		{[]uint32{2, 1}, SpecNone, "inner body", true},
		{[]uint32{2, 1}, SpecMIME, "Subject: inner\r\n\r\n", true},
		{[]uint32{2, 2}, SpecNone, "", false},
		{[]uint32{3}, SpecNone, "aGVsbG8=", true},
		{[]uint32{4}, SpecNone, "", false},
		{[]uint32{0}, SpecNone, "", false},
	}
	for _, c := range cases {
		b, ok := Section(raw, p, c.part, c.spec, nil)
		if ok != c.ok || (ok && string(b) != c.want) {
			t.Errorf("Section(%v, %d) = %q, %v; want %q, %v", c.part, c.spec, b, ok, c.want, c.ok)
		}
	}
	b, ok := Section(raw, p, nil, SpecHeaderFields, [][]byte{[]byte("subject"), []byte("X-None")})
	if !ok || string(b) != "Subject: outer\r\n\r\n" {
		t.Errorf("HEADER.FIELDS = %q", b)
	}
	b, _ = Section(raw, p, []uint32{2}, SpecHeaderFieldsNot, [][]byte{[]byte("subject")})
	if string(b) != "\r\n" {
		t.Errorf("2.HEADER.FIELDS.NOT = %q", b)
	}
	bin, dec, err := Binary(raw, p, []uint32{3})
	if err != nil || !dec || string(bin) != "hello" {
		t.Errorf("BINARY[3] = %q %v %v", bin, dec, err)
	}
	if _, _, err := Binary(raw, p, []uint32{9}); err != ErrNoPart {
		t.Errorf("BINARY[9] err = %v", err)
	}
	if !MatchBody(raw, p, []byte("INNER BODY")) || MatchBody(raw, p, []byte("preamble")) || MatchBody(raw, p, []byte("hello")) {
		t.Error("MatchBody")
	}
	if !MatchText(raw, p, []byte("subject: inner")) || MatchHeader(raw, p, []byte("Subject"), []byte("inner")) {
		t.Error("MatchText/MatchHeader")
	}
	if !MatchHeader(raw, p, []byte("subject"), nil) || MatchHeader(raw, p, []byte("cc"), nil) {
		t.Error("MatchHeader with empty term")
	}
}

func TestAppendSectionName(t *testing.T) {
	for _, c := range []struct {
		part   []uint32
		spec   Spec
		fields []string
		want   string
	}{
		{nil, SpecNone, nil, ""},
		{nil, SpecText, nil, "TEXT"},
		{[]uint32{1, 2}, SpecNone, nil, "1.2"},
		{[]uint32{3}, SpecMIME, nil, "3.MIME"},
		{[]uint32{1}, SpecHeaderFields, []string{"From", "Subject", "Date"}, "1.HEADER.FIELDS (FROM SUBJECT DATE)"},
		{nil, SpecHeaderFieldsNot, []string{"x y"}, `HEADER.FIELDS.NOT ("X Y")`},
	} {
		var fs [][]byte
		for _, f := range c.fields {
			fs = append(fs, []byte(f))
		}
		if got := string(AppendSectionName(nil, c.part, c.spec, fs)); got != c.want {
			t.Errorf("got %q want %q", got, c.want)
		}
	}
}

func TestSentDate(t *testing.T) {
	for _, c := range []struct {
		date string
		want string // RFC 3339, "" = not parseable
		day  string
	}{
		{"Mon, 03 Mar 2025 09:41:07 +0100", "2025-03-03T08:41:07Z", "2025-03-03"},
		{"3 Mar 2025 23:30 -0500", "2025-03-04T04:30:00Z", "2025-03-03"},
		{"Tue, 4 Mar 25 10:00:00 EST (comment)", "2025-03-04T15:00:00Z", "2025-03-04"},
		{"Sun, 09 Mar 2025 03:06:02 +0000 (UTC)", "2025-03-09T03:06:02Z", "2025-03-09"},
		{"next Tuesday, around noon", "", ""},
		{"", "", ""},
	} {
		raw := []byte("Date: " + c.date + "\r\n\r\n")
		p := Parse(raw)
		u, ok := SentDate(raw, p)
		got := ""
		if ok {
			got = time.Unix(u, 0).UTC().Format(time.RFC3339)
		}
		if got != c.want {
			t.Errorf("SentDate(%q) = %q, want %q", c.date, got, c.want)
		}
		d, ok := SentDay(raw, p)
		gotDay := ""
		if ok {
			gotDay = time.Unix(d, 0).UTC().Format("2006-01-02")
		}
		if gotDay != c.day {
			t.Errorf("SentDay(%q) = %q, want %q", c.date, gotDay, c.day)
		}
	}
}

func TestBinaryDecoders(t *testing.T) {
	for _, c := range []struct {
		cte, body, want string
		err             error
	}{
		{"base64", "aGVs\r\nbG8=\r\n", "hello", nil},
		{"base64", "aGVsbG8", "hello", nil},
		{"base64", "aGV*sbG8=", "", ErrParse},
		{"quoted-printable", "caf=C3=a9 =\r\nx  \r\n", "café x\r\n", nil},
		{"quoted-printable", "a=ZZ", "", ErrParse},
		{"quoted-printable", "ends with =", "ends with ", nil},
		{"x-uuencode", "begin", "", ErrUnknownCTE},
		{"8bit", "raw\xff", "raw\xff", nil},
	} {
		raw := []byte("Content-Transfer-Encoding: " + c.cte + "\r\n\r\n" + c.body)
		b, _, err := Binary(raw, Parse(raw), []uint32{1})
		if err != c.err || (err == nil && string(b) != c.want) {
			t.Errorf("%s %q: got %q %v, want %q %v", c.cte, c.body, b, err, c.want, c.err)
		}
	}
}

func TestDecodeHeaderValue(t *testing.T) {
	for in, want := range map[string]string{
		"=?utf-8?q?Hello?= =?utf-8?q?World?= plain":   "HelloWorld plain",
		"=?utf-8?B?Z3LD?= =?utf-8?B?tsOfZQ==?=":       "größe",
		"=?iso-8859-1?q?Fran=E7ois?=":                 "François",
		"=?UTF-8*en?Q?tagged?=":                       "tagged",
		"=?x-unknown?q?abc?= x":                       "=?x-unknown?q?abc?= x",
		"Re: =?ISO-8859-1?B?U2Xxb3IgR2FyY+1hOg==?= x": "Re: Señor García: x",
		"a\r\n\tb": "a b",
	} {
		if got := string(decodeHeaderValue([]byte(in))); got != want {
			t.Errorf("decode(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestPartSize keeps Part small: it is cached per message.
func TestPartSize(t *testing.T) {
	if s := unsafe.Sizeof(Part{}); s > 48 {
		t.Errorf("Part is %d bytes", s)
	}
}

// TestPure: no I/O, no goroutines, no clock in the package (tests aside).
func TestPure(t *testing.T) {
	files, _ := filepath.Glob("*.go")
	fset := token.NewFileSet()
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		af, err := goparser.ParseFile(fset, f, src, goparser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range af.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			for _, bad := range []string{"net", "os", "syscall", "unsafe", "io/ioutil", "github.com/myriad-mail/myriad/statemachine"} {
				if path == bad || strings.HasPrefix(path, bad+"/") {
					t.Errorf("%s imports %s", f, path)
				}
			}
		}
		for _, bad := range []string{"time.Now", "time.Since", "go func", "\tgo "} {
			if strings.Contains(string(src), bad) {
				t.Errorf("%s uses %q", f, bad)
			}
		}
	}
}

func TestPartEncoding(t *testing.T) {
	total, n := 0, 0
	for _, m := range oracleMessages(t) {
		p := Parse(m.raw)
		enc := AppendPart(nil, p)
		total += len(enc)
		n++
		q, err := DecodePart(enc, len(m.raw))
		if err != nil {
			t.Fatalf("%s: %v", m.file, err)
		}
		if a, b := AppendBodyStructure(nil, m.raw, p, true), AppendBodyStructure(nil, m.raw, q, true); string(a) != string(b) {
			t.Fatalf("%s: round trip changed BODYSTRUCTURE", m.file)
		}
		if string(AppendPart(nil, q)) != string(enc) {
			t.Fatalf("%s: round trip changed encoding", m.file)
		}
		for i := range enc {
			if _, err := DecodePart(enc[:i], len(m.raw)); err == nil {
				t.Fatalf("%s: truncated encoding accepted", m.file)
			}
		}
		if _, err := DecodePart(enc, len(m.raw)-1); err == nil && p.End == uint32(len(m.raw)) {
			t.Fatalf("%s: encoding accepted for a shorter message", m.file)
		}
	}
	t.Logf("encoded part trees: %d bytes on average", total/n)
}

func largeMessage(b *testing.B) []byte {
	raw, err := os.ReadFile(filepath.Join(oracleDir, "messages", "086-large-attachment-1mb.eml"))
	if err != nil {
		b.Skip(err)
	}
	return raw
}

func BenchmarkParseLarge(b *testing.B) {
	raw := largeMessage(b)
	b.SetBytes(int64(len(raw)))
	for i := 0; i < b.N; i++ {
		Parse(raw)
	}
}

func BenchmarkBodyStructureLarge(b *testing.B) {
	raw := largeMessage(b)
	p := Parse(raw)
	var buf []byte
	for i := 0; i < b.N; i++ {
		buf = AppendBodyStructure(buf[:0], raw, p, true)
	}
}

func BenchmarkMatchTextLarge(b *testing.B) {
	raw := largeMessage(b)
	p := Parse(raw)
	for i := 0; i < b.N; i++ {
		MatchText(raw, p, []byte("no such text"))
	}
}

func BenchmarkEnvelope(b *testing.B) {
	raw := largeMessage(b)
	p := Parse(raw)
	var buf []byte
	for i := 0; i < b.N; i++ {
		buf = AppendEnvelope(buf[:0], raw, p)
	}
}

// TestMessageGlobalRev2: for IMAP4rev2 sessions message/global carries an
// envelope, body and line count (RFC 9051 §7.5.2); for IMAP4rev1 it is a
// basic type (the oracle, 068).
func TestMessageGlobalRev2(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(oracleDir, "messages", "068-message-global-utf8-headers.eml"))
	if err != nil {
		t.Skip(err)
	}
	p := Parse(raw)
	got := string(AppendBodyStructureRev2(nil, raw, p, false))
	for _, want := range []string{`("message" "global" NIL NIL NIL "8bit" 344 (`, `"8bit" 58 0) 9)`} {
		if !strings.Contains(got, want) {
			t.Errorf("rev2 BODY lacks %q:\n%s", want, got)
		}
	}
	if err := checkBalanced([]byte(got)); err != nil {
		t.Error(err)
	}
	t.Log(got)
	// An encoded message/rfc822 stays opaque but keeps the message grammar.
	enc := []byte("Content-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n\r\nU3ViamVjdDogeA0KDQp5DQo=\r\n")
	bs := string(AppendBodyStructure(nil, enc, Parse(enc), true))
	want := `("message" "rfc822" NIL NIL NIL "base64" 26 (NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL) ("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 0 0 NIL NIL NIL NIL) 1 NIL NIL NIL NIL)`
	if bs != want {
		t.Errorf("encoded message/rfc822:\n got %s\nwant %s", bs, want)
	}
}
