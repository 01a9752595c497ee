package imapmime

import (
	"bytes"
	"fmt"
	"math/rand"
	"strconv"
	"testing"
)

// checkBalanced verifies that b is exactly one parenthesised IMAP list:
// parentheses balance outside quoted strings and literals, quoted strings
// are terminated, literal lengths are in range.
func checkBalanced(b []byte) error {
	depth := 0
	for i := 0; i < len(b); i++ {
		switch c := b[i]; c {
		case '(':
			depth++
		case ')':
			depth--
			if depth < 0 {
				return fmt.Errorf("unbalanced ')' at %d", i)
			}
			if depth == 0 && i != len(b)-1 {
				return fmt.Errorf("list closed at %d before the end (%d)", i, len(b))
			}
		case '"':
			i++
			for i < len(b) && b[i] != '"' {
				if b[i] == '\\' {
					i++
				}
				if i < len(b) && (b[i] == '\r' || b[i] == '\n' || b[i] >= 0x80 || b[i] == 0) {
					return fmt.Errorf("bad byte %#x in quoted string at %d", b[i], i)
				}
				i++
			}
			if i >= len(b) {
				return fmt.Errorf("unterminated quoted string")
			}
		case '{':
			k := bytes.IndexByte(b[i:], '}')
			if k < 0 {
				return fmt.Errorf("bad literal at %d", i)
			}
			n, err := strconv.Atoi(string(b[i+1 : i+k]))
			if err != nil || i+k+3+n > len(b) || b[i+k+1] != '\r' || b[i+k+2] != '\n' {
				return fmt.Errorf("bad literal at %d", i)
			}
			if bytes.IndexByte(b[i+k+3:i+k+3+n], 0) >= 0 {
				return fmt.Errorf("NUL in literal at %d", i)
			}
			i += k + 2 + n
		}
	}
	if depth != 0 || len(b) == 0 || b[0] != '(' {
		return fmt.Errorf("not one balanced list (depth %d)", depth)
	}
	return nil
}

// checkTree verifies the offsets of a parsed tree.
func checkTree(p *Part, lo, hi uint32, depth int) error {
	if p.Start < lo || p.Start > p.Body || p.Body > p.End || p.End > hi {
		return fmt.Errorf("bad offsets %d %d %d within [%d,%d]", p.Start, p.Body, p.End, lo, hi)
	}
	if depth > maxDepth+2 {
		return fmt.Errorf("too deep")
	}
	if p.IsMultipart() && len(p.Children) == 0 {
		return fmt.Errorf("multipart without children")
	}
	if p.IsMessage() && len(p.Children) != 1 {
		return fmt.Errorf("message with %d children", len(p.Children))
	}
	prev := p.Body
	for i := range p.Children {
		c := &p.Children[i]
		if err := checkTree(c, prev, p.End, depth+1); err != nil {
			return err
		}
		prev = c.End
	}
	return nil
}

// paths lists every section path of the tree (plus some that do not exist).
func paths(p *Part, prefix []uint32, out *[][]uint32) {
	if len(*out) > 200 {
		return
	}
	kids := p.Children
	if p.IsMessage() {
		inner := &p.Children[0]
		if inner.IsMultipart() {
			kids = inner.Children
		} else {
			*out = append(*out, append(append([]uint32{}, prefix...), 1))
			return
		}
	}
	if !p.IsMultipart() && !p.IsMessage() {
		return
	}
	for i := range kids {
		path := append(append([]uint32{}, prefix...), uint32(i+1))
		*out = append(*out, path)
		paths(&kids[i], path, out)
	}
	*out = append(*out, append(append([]uint32{}, prefix...), uint32(len(kids)+1)))
}

func exercise(t *testing.T, name string, raw []byte) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			t.Fatalf("%s: panic: %v\nmessage: %q", name, r, raw)
		}
	}()
	p := Parse(raw)
	if err := checkTree(p, 0, uint32(len(raw)), 0); err != nil {
		t.Fatalf("%s: tree: %v\nmessage: %q", name, err, raw)
	}
	if err := checkBalanced(AppendEnvelope(nil, raw, p)); err != nil {
		t.Fatalf("%s: ENVELOPE: %v\nmessage: %q", name, err, raw)
	}
	for _, ext := range []bool{true, false} {
		if err := checkBalanced(AppendBodyStructure(nil, raw, p, ext)); err != nil {
			t.Fatalf("%s: BODYSTRUCTURE(ext=%v): %v\nmessage: %q\n%q", name, ext, err, raw, AppendBodyStructure(nil, raw, p, ext))
		}
	}
	var ps [][]uint32
	ps = append(ps, nil, []uint32{1}, []uint32{0}, []uint32{1, 1, 1})
	paths(p, nil, &ps)
	fields := [][]byte{[]byte("From"), []byte("Subject")}
	for _, path := range ps {
		for spec := SpecNone; spec <= SpecMIME; spec++ {
			b, ok := Section(raw, p, path, spec, fields)
			if ok && len(b) > len(raw)+len("\r\n") {
				t.Fatalf("%s: section %v/%d longer than the message", name, path, spec)
			}
			_ = AppendSectionName(nil, path, spec, fields)
		}
		Binary(raw, p, path)
	}
	MatchBody(raw, p, []byte("zz"))
	MatchText(raw, p, []byte("ü"))
	MatchHeader(raw, p, []byte("subject"), []byte(""))
	SentDate(raw, p)
}

var mutationTokens = [][]byte{
	[]byte("\r\n"), []byte("\n"), []byte("\r"), []byte("\r\n\r\n"), []byte("--"), []byte(":"), []byte(";"),
	[]byte("("), []byte(")"), []byte("\""), []byte("\\"), []byte("<"), []byte(">"), []byte("@"), []byte(","),
	[]byte("Content-Type: multipart/mixed; boundary=x\r\n"), []byte("\r\n--x\r\n"), []byte("\r\n--x--\r\n"),
	[]byte("Content-Type: message/rfc822\r\n"), []byte("Content-Type: multipart/digest; boundary=\"d\"\r\n\r\n--d\r\n\r\n"),
	[]byte("=?utf-8?b?w7w=?="), []byte("=?x?q?a?="), []byte("name*0*=utf-8''%C3"), []byte("; name*=x'y'%"),
	[]byte("Content-Transfer-Encoding: base64\r\n"), []byte("Content-Transfer-Encoding: quoted-printable\r\n"),
	[]byte("=\r\n"), []byte("=Z"), []byte("\x00"), []byte("\xff"), []byte("\t"), []byte(" "),
}

func mutate(r *rand.Rand, b []byte) []byte {
	out := append([]byte{}, b...)
	for n := 1 + r.Intn(4); n > 0; n-- {
		if len(out) == 0 {
			out = append(out, mutationTokens[r.Intn(len(mutationTokens))]...)
			continue
		}
		i := r.Intn(len(out))
		switch r.Intn(6) {
		case 0: // flip a byte
			out[i] = byte(r.Intn(256))
		case 1: // insert a token
			tok := mutationTokens[r.Intn(len(mutationTokens))]
			out = append(out[:i], append(append([]byte{}, tok...), out[i:]...)...)
		case 2: // delete a range
			j := i + r.Intn(64)
			if j > len(out) {
				j = len(out)
			}
			out = append(out[:i], out[j:]...)
		case 3: // duplicate a range
			j := i + r.Intn(256)
			if j > len(out) {
				j = len(out)
			}
			out = append(out[:j], append(append([]byte{}, out[i:j]...), out[j:]...)...)
		case 4: // truncate
			out = out[:i]
		case 5: // drop all CRs
			out = bytes.ReplaceAll(out, []byte("\r"), nil)
		}
	}
	return out
}

// TestMutationsRobust: random mutations of the oracle messages never panic,
// keep the tree's offsets consistent and give balanced ENVELOPE and
// BODYSTRUCTURE lists.
func TestMutationsRobust(t *testing.T) {
	msgs := oracleMessages(t)
	r := rand.New(rand.NewSource(1))
	rounds := 40
	if testing.Short() {
		rounds = 5
	}
	for _, m := range msgs {
		if len(m.raw) > 100000 {
			continue
		}
		exercise(t, m.file, m.raw)
		for k := 0; k < rounds; k++ {
			exercise(t, fmt.Sprintf("%s/mut%d", m.file, k), mutate(r, m.raw))
		}
	}
}

func TestPathological(t *testing.T) {
	var deep bytes.Buffer
	for i := 0; i < 300; i++ {
		fmt.Fprintf(&deep, "Content-Type: multipart/mixed; boundary=\"b%d\"\r\n\r\n--b%d\r\n", i, i)
	}
	deep.WriteString("\r\ninnermost\r\n")
	var msgs bytes.Buffer
	for i := 0; i < 300; i++ {
		msgs.WriteString("Content-Type: message/rfc822\r\n\r\n")
	}
	msgs.WriteString("Subject: x\r\n\r\nbody\r\n")
	var many bytes.Buffer
	many.WriteString("Content-Type: multipart/mixed; boundary=x\r\n\r\n")
	for i := 0; i < 20000; i++ {
		many.WriteString("--x\r\n\r\na\r\n")
	}
	for name, raw := range map[string][]byte{
		"empty": {}, "lf": []byte("\n"), "crlf": []byte("\r\n"), "colon": []byte(":"),
		"deep": deep.Bytes(), "messages": msgs.Bytes(), "many": many.Bytes(),
		"unterminated-comment": []byte("From: (a (b\r\nContent-Type: text/plain; (x\r\n\r\n"),
		"bare-boundary":        []byte("Content-Type: multipart/mixed; boundary=\"\"\r\n\r\n--\r\n\r\n"),
	} {
		exercise(t, name, raw)
	}
}

func FuzzParse(f *testing.F) {
	for _, m := range oracleMessages(f) {
		if len(m.raw) < 20000 {
			f.Add(m.raw)
		}
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		exercise(t, "fuzz", raw)
	})
}

// FuzzDecodePart: any bytes either fail to decode or give a tree whose
// offsets are consistent, so a damaged cache entry can never make FETCH
// slice out of range.
func FuzzDecodePart(f *testing.F) {
	for _, m := range oracleMessages(f) {
		f.Add(AppendPart(nil, Parse(m.raw)), len(m.raw))
	}
	f.Fuzz(func(t *testing.T, b []byte, n int) {
		if n < 0 || n > 1<<24 {
			return
		}
		p, err := DecodePart(b, n)
		if err != nil {
			return
		}
		if err := checkTree(p, 0, uint32(n), 0); err != nil {
			t.Fatal(err)
		}
		raw := make([]byte, n)
		AppendBodyStructure(nil, raw, p, true)
		Section(raw, p, []uint32{1, 1}, SpecText, nil)
	})
}
