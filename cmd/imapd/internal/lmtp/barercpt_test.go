package lmtp

import (
	"strings"
	"testing"
)

// TestRcptRewriter feeds client input in every split and checks that only
// bare RCPT TO paths in command lines change.
func TestRcptRewriter(t *testing.T) {
	in := "LHLO mx\r\nMAIL FROM:<bob@example.org>\r\nrcpt to:<alice>\r\nRCPT TO: <carol> NOTIFY=NEVER\r\n" +
		"RCPT TO:<dave@example.org>\r\nRCPT TO:<>\r\nDATA\r\n"
	body := "Subject: x\r\n\r\nRCPT TO:<alice>\r\n..leading dot\r\n.x\r\n"
	after := ".\r\nBDAT 17 LAST\r\nRCPT TO:<alice>\r\nRCPT TO:<erin>\r\n"
	want := "LHLO mx\r\nMAIL FROM:<bob@example.org>\r\nrcpt to:<alice@mx.test>\r\nRCPT TO: <carol@mx.test> NOTIFY=NEVER\r\n" +
		"RCPT TO:<dave@example.org>\r\nRCPT TO:<>\r\nDATA\r\n" + body +
		".\r\nBDAT 17 LAST\r\nRCPT TO:<alice>\r\nRCPT TO:<erin@mx.test>\r\n"
	for _, size := range []int{1, 2, 3, 7, 1000} {
		r := newRcptRewriter("mx.test")
		feed := func(s string) {
			for i := 0; i < len(s); i += size {
				r.input([]byte(s[i:min(i+size, len(s))]))
			}
		}
		feed(in)
		r.reply([]byte("354 Start mail input\r\n"))
		feed(body + after)
		if got := string(r.out); got != want {
			t.Errorf("split %d:\n got %q\nwant %q", size, got, want)
		}
	}
	// DATA refused: the next command line is a command again.
	r := newRcptRewriter("mx.test")
	r.input([]byte("DATA\r\n"))
	r.reply([]byte("554 5.5.1 No valid recipients\r\n"))
	r.input([]byte("RCPT TO:<alice>\r\n"))
	if got := string(r.out); !strings.HasSuffix(got, "RCPT TO:<alice@mx.test>\r\n") {
		t.Errorf("after a refused DATA: %q", got)
	}
	// A line too long to be RCPT passes unchanged, in pieces.
	r = newRcptRewriter("mx.test")
	long := "NOOP " + strings.Repeat("x", 3000) + "\r\nRCPT TO:<alice>\r\n"
	for i := 0; i < len(long); i += 100 {
		r.input([]byte(long[i:min(i+100, len(long))]))
	}
	if got := string(r.out); got != strings.Replace(long, "<alice>", "<alice@mx.test>", 1) {
		t.Errorf("long line: %q", got[len(got)-40:])
	}
}
