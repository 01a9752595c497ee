package fuzz

import (
	"bytes"
	"fmt"
	"reflect"
	"strings"
	"testing"

	sm "github.com/myriad-mail/myriad/statemachine"
)

// FuzzRoundTrip: every command ParseCommand accepts, written back with
// AppendCommand, parses again to the same Command; the encoding is stable
// (encoding the re-parsed command gives the same bytes); and the framer
// finds exactly one whole command in it. utf8 runs the session option
// UTF8=ACCEPT (mailbox names in UTF-8 instead of modified UTF-7).
func FuzzRoundTrip(f *testing.F) {
	for _, s := range []string{
		"a LOGIN alice secret\r\n",
		"a SELECT INBOX (QRESYNC (1 2 1:9 (1 3)))\r\n",
		"a UID FETCH 1:* (FLAGS BODY.PEEK[1.2.HEADER.FIELDS (From \"X Y\")]<0.100>) (CHANGEDSINCE 5 VANISHED)\r\n",
		"a STORE 1,3:5 +FLAGS.SILENT (\\Seen $Label)\r\n",
		"a SEARCH RETURN (MIN COUNT) CHARSET UTF-8 OR SUBJECT {4+}\r\ncaf\xc3\r\n NOT UID 1:*\r\n",
		"a APPEND Sent (\\Seen) \"17-Jul-1996 09:44:25 +0200\" ~{3+}\r\n\x00\x01\x02\r\n",
		"a LIST (SUBSCRIBED RECURSIVEMATCH) \"\" (\"*\" \"Entw&APw-rfe\") RETURN (CHILDREN STATUS (MESSAGES SIZE))\r\n",
		"a CREATE Archive/2024 (USE (\\Archive))\r\n",
		"a ID (\"name\" \"x\" \"version\" NIL)\r\n",
		"a AUTHENTICATE PLAIN =\r\n",
		"a RENAME \"a b\" {3+}\r\nc\"d\r\n",
	} {
		f.Add([]byte(s), false)
		f.Add([]byte(s), true)
	}
	f.Fuzz(func(t *testing.T, in []byte, utf8 bool) {
		opt := sm.ParseOptions{UTF8: utf8}
		var c sm.Command
		if err := sm.ParseCommand(in, &c, opt); err != nil {
			return
		}
		wire := sm.AppendCommandOpt(nil, &c, opt)
		var c2 sm.Command
		if err := sm.ParseCommand(wire, &c2, opt); err != nil {
			t.Fatalf("%q parses, its encoding %q does not: %v\ncommand %+v", in, wire, err, c)
		}
		normCommand(&c)
		normCommand(&c2)
		if !reflect.DeepEqual(c, c2) {
			t.Fatalf("%q encodes as %q, which parses differently:\n first %s\nsecond %s", in, wire, dumpCommand(&c), dumpCommand(&c2))
		}
		if wire2 := sm.AppendCommandOpt(nil, &c2, opt); !bytes.Equal(wire, wire2) {
			t.Fatalf("%q: encoding not stable:\n%q\n%q", in, wire, wire2)
		}
		var fr sm.Framer
		if got := fr.Next(wire, nil); got.Kind != sm.FrameCommand || got.N != len(wire) {
			t.Fatalf("%q: the framer finds %+v in the encoding %q (%d bytes)", in, got, wire, len(wire))
		}
	})
}

// normCommand makes empty and nil slices equal, so that DeepEqual compares
// content (the parser keeps capacity across commands; a fresh parse has nil).
func normCommand(c *sm.Command) {
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
	normSet(&c.Set)
	normSet(&c.QRKnownUIDs)
	normSet(&c.QRSeqMatchSeqs)
	normSet(&c.QRSeqMatchUIDs)
	normKey(&c.Search)
}

func normSet(s *sm.SeqSet) {
	if len(s.Ranges) == 0 {
		s.Ranges = nil
	}
}

func normKey(k *sm.SearchKey) {
	normSet(&k.Set)
	if len(k.Sub) == 0 {
		k.Sub = nil
	}
	for i := range k.Sub {
		normKey(&k.Sub[i])
	}
}

// dumpCommand prints a command's non-zero fields, byte slices as strings.
func dumpCommand(c *sm.Command) string {
	var b strings.Builder
	dumpValue(&b, reflect.ValueOf(*c))
	return b.String()
}

func dumpValue(b *strings.Builder, v reflect.Value) {
	switch v.Kind() {
	case reflect.Struct:
		b.WriteByte('{')
		first := true
		for i := 0; i < v.NumField(); i++ {
			if v.Field(i).IsZero() {
				continue
			}
			if !first {
				b.WriteByte(' ')
			}
			first = false
			b.WriteString(v.Type().Field(i).Name + ":")
			dumpValue(b, v.Field(i))
		}
		b.WriteByte('}')
	case reflect.Slice:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			if v.IsNil() {
				b.WriteString("nil")
			} else {
				fmt.Fprintf(b, "%q", v.Bytes())
			}
			return
		}
		b.WriteByte('[')
		for i := 0; i < v.Len(); i++ {
			if i > 0 {
				b.WriteByte(' ')
			}
			dumpValue(b, v.Index(i))
		}
		b.WriteByte(']')
	default:
		fmt.Fprintf(b, "%v", v.Interface())
	}
}
