package storage

import (
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/myriad-mail/myriad/statemachine"
)

var quietLog = slog.New(slog.NewTextHandler(io.Discard, nil))

func fixedNow() time.Time { return time.Unix(1_700_000_000, 0) }

// newTestStore opens a store on fsys with user "alice" (password "pw").
func newTestStore(t testing.TB, fsys FS, mod func(*Config)) *Store {
	t.Helper()
	if _, err := readFile(fsys, "users"); isNotExist(err) {
		if err := (UsersFile{FS: fsys, Path: "users"}).Add("alice", "PLAIN", "pw"); err != nil {
			t.Fatal(err)
		}
		if err := (UsersFile{FS: fsys, Path: "users"}).Add("bob", "PLAIN", "pw"); err != nil {
			t.Fatal(err)
		}
	}
	cfg := Config{FS: fsys, Logger: quietLog, Now: fixedNow}
	if mod != nil {
		mod(&cfg)
	}
	s, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func login(t testing.TB, s *Store, user string) *account {
	t.Helper()
	a, err := s.Login(user, "pw")
	if err != nil {
		t.Fatal(err)
	}
	return a.(*account)
}

// flagNames renders flags as sorted names (keywords in lower case).
func flagNames(f statemachine.Flags, kw []string) string {
	var out []string
	for _, n := range []struct {
		f statemachine.Flags
		s string
	}{{statemachine.FlagSeen, `\seen`}, {statemachine.FlagAnswered, `\answered`}, {statemachine.FlagFlagged, `\flagged`}, {statemachine.FlagDeleted, `\deleted`}, {statemachine.FlagDraft, `\draft`}} {
		if f&n.f != 0 {
			out = append(out, n.s)
		}
	}
	for i := range statemachine.MaxKeywords {
		if f&(1<<(statemachine.KeywordBase+i)) != 0 {
			if i < len(kw) {
				out = append(out, strings.ToLower(kw[i]))
			} else {
				out = append(out, "?bit")
			}
		}
	}
	slices.Sort(out)
	return strings.Join(out, " ")
}
