package statemachine

import (
	"testing"
	"unicode/utf8"
)

func TestMUTF7Vectors(t *testing.T) {
	tests := []struct{ enc, dec string }{
		{"INBOX", "INBOX"},
		{"", ""},
		{"&-", "&"},
		{"a&-b", "a&b"},
		{"~peter/mail/&U,BTFw-/&ZeVnLIqe-", "~peter/mail/台北/日本語"}, // RFC 3501 §5.1.3
		{"&ZeVnLIqe-", "日本語"},
		{"Entw&APw-rfe", "Entwürfe"},
		{"&AOQA9gD8-", "äöü"},
		{"&2D3eAA-", "\U0001F600"}, // surrogate pair
		{"&AAE-", "\x01"},
		{"x&AH8-", "x\x7f"},
		{"Gel&APY-scht &- alt", "Gelöscht & alt"},
	}
	for _, tt := range tests {
		got, ok := DecodeMUTF7(nil, []byte(tt.enc))
		if !ok || string(got) != tt.dec {
			t.Errorf("DecodeMUTF7(%q) = %q, %v; want %q", tt.enc, got, ok, tt.dec)
		}
		if enc := AppendMUTF7(nil, tt.dec); string(enc) != tt.enc {
			t.Errorf("AppendMUTF7(%q) = %q; want %q", tt.dec, enc, tt.enc)
		}
	}
}

func TestMUTF7Invalid(t *testing.T) {
	for _, s := range []string{
		"&",                  // unterminated
		"&U,BTFw",            // no shift back
		"&AGE-",              // "a" must stand for itself
		"&U,BTFw-&ZeVnLIqe-", // null shift
		"&U,BTF-",            // 30 bits: partial unit
		"&U,BTFx-",           // non-zero padding bits
		"&2D0-",              // lone high surrogate
		"&3gA-",              // lone low surrogate
		"&2D3YPQ-",           // high surrogate followed by high surrogate
		"a\x80b",             // 8-bit
		"a\tb",               // control
		"&U/BTFw-",           // "/" is not modified base64
		"&U=-",               // padding
	} {
		if got, ok := DecodeMUTF7(nil, []byte(s)); ok {
			t.Errorf("DecodeMUTF7(%q) = %q, true; want false", s, got)
		}
	}
}

func TestMUTF7RoundTripRunes(t *testing.T) {
	for _, s := range []string{"ä&ö", "a\U0010FFFFb", "日本語/&/x", "\x00\x1f\x7f\u0080\uffff", "\u20ac&-"} {
		enc := AppendMUTF7(nil, s)
		dec, ok := DecodeMUTF7(nil, enc)
		if !ok || string(dec) != s {
			t.Errorf("round trip %q -> %q -> %q, %v", s, enc, dec, ok)
		}
	}
}

func FuzzMUTF7(f *testing.F) {
	f.Add("~peter/mail/&U,BTFw-/&ZeVnLIqe-")
	f.Add("ä&ö")
	f.Fuzz(func(t *testing.T, s string) {
		// Decoding then encoding a valid name gives it back (one encoding per name).
		if dec, ok := DecodeMUTF7(nil, []byte(s)); ok {
			if enc := AppendMUTF7(nil, string(dec)); string(enc) != s {
				t.Fatalf("%q decodes to %q which encodes to %q", s, dec, enc)
			}
		}
		if utf8.ValidString(s) {
			enc := AppendMUTF7(nil, s)
			dec, ok := DecodeMUTF7(nil, enc)
			if !ok || string(dec) != s {
				t.Fatalf("%q -> %q -> %q, %v", s, enc, dec, ok)
			}
		}
	})
}
