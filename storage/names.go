package storage

import (
	"strings"
	"unicode/utf8"

	"github.com/myriad-mail/myriad/statemachine"
)

// Limits on names.
const (
	maxMailboxName      = 1000 // bytes, whole name
	maxMailboxComponent = 255  // bytes, one hierarchy level
	maxMailboxDepth     = 32
	maxMailboxes        = 10000 // per user
	maxUserName         = 255
)

// normalizeMailboxName checks a mailbox name and returns its canonical form
// ("INBOX" in upper case, also as the first level of an inferior). Mailbox
// names never reach the file system: a mailbox lives in a directory named by
// a number (doc.go, "Layout"), so this check is about sane names, not safety.
func normalizeMailboxName(name string) (string, error) {
	if name == "" || len(name) > maxMailboxName || !utf8.ValidString(name) {
		return "", statemachine.ErrBadMailboxName
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f || r == '*' || (r >= 0x80 && r < 0xa0) || r == utf8.RuneError {
			return "", statemachine.ErrBadMailboxName
		}
	}
	parts := strings.Split(name, "/")
	if len(parts) > maxMailboxDepth {
		return "", statemachine.ErrBadMailboxName
	}
	for _, p := range parts {
		if p == "" || len(p) > maxMailboxComponent {
			return "", statemachine.ErrBadMailboxName
		}
	}
	if strings.EqualFold(parts[0], "INBOX") {
		parts[0] = "INBOX"
	}
	return strings.Join(parts, "/"), nil
}

// userDirName maps a login name to a directory name: bytes outside
// [a-z0-9_-] and a leading dot become %XX, so no user name can be "..", hold
// a "/" or collide with another (the mapping is injective). Upper case is
// escaped too, so case-insensitive file systems do not merge users.
func userDirName(user string) string {
	const hex = "0123456789abcdef"
	var b strings.Builder
	for i := 0; i < len(user); i++ {
		c := user[i]
		if ('a' <= c && c <= 'z') || ('0' <= c && c <= '9') || c == '_' || c == '-' || c == '@' || c == '+' || (c == '.' && i > 0) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}

// validUserName rejects names the users file cannot hold.
func validUserName(user string) bool {
	if user == "" || len(user) > maxUserName || !utf8.ValidString(user) {
		return false
	}
	for _, r := range user {
		if r <= ' ' || r == ':' || r == 0x7f {
			return false
		}
	}
	return true
}
