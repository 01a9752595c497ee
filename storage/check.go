package storage

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/myriad-mail/myriad/statemachine"
)

// CheckReport is what Check found, per user.
type CheckReport struct {
	Users []UserCheck
}

// UserCheck is the result of checking one user.
type UserCheck struct {
	User      string
	Mailboxes int
	Messages  int
	// Findings lists what was found (and, with repair, done), one line each,
	// prefixed with the mailbox name.
	Findings []string
	// Problems counts findings that mean damage rather than the traces of
	// a crash that recovery handles routinely.
	Problems int
	// Repaired tells whether the repairs were written.
	Repaired bool
}

// Problems is the number of damage findings over all users.
func (r *CheckReport) Problems() int {
	n := 0
	for _, u := range r.Users {
		n += u.Problems
	}
	return n
}

// String renders the report as imapd check prints it.
func (r *CheckReport) String() string {
	var b strings.Builder
	for _, u := range r.Users {
		state := "ok"
		if u.Problems > 0 {
			state = fmt.Sprintf("%d problem(s)", u.Problems)
			if u.Repaired {
				state += ", repaired"
			}
		}
		fmt.Fprintf(&b, "%s: %d mailboxes, %d messages: %s\n", u.User, u.Mailboxes, u.Messages, state)
		for _, f := range u.Findings {
			fmt.Fprintf(&b, "  %s\n", f)
		}
	}
	return b.String()
}

// Check verifies every checksum of a user's mail (user "" : every user with
// a directory) — mailbox list, subscriptions, index, index.backup, logs,
// every message file — and reconciles the index with the logs and the
// message files, as opening does. With repair, it writes what opening a
// mailbox writes (cut torn tails, re-add or expunge, fresh index); without,
// it changes nothing. A message file that failed its checksum is reported,
// never deleted: it can only come back from a backup. Meant for imapd check,
// with no server running on the same store.
func (s *Store) Check(user string, repair bool) (*CheckReport, error) {
	var users []string
	if user != "" {
		users = []string{user}
	} else {
		dirs, err := s.fs.ReadDir("u")
		if err != nil && !isNotExist(err) {
			return nil, err
		}
		for _, d := range dirs {
			if u, ok := userFromDirName(d); ok {
				users = append(users, u)
			}
		}
	}
	rep := &CheckReport{}
	for _, u := range users {
		uc, err := s.checkUser(u, repair)
		if err != nil {
			return rep, fmt.Errorf("storage: checking %s: %w", u, err)
		}
		rep.Users = append(rep.Users, uc)
	}
	return rep, nil
}

func (s *Store) checkUser(user string, repair bool) (UserCheck, error) {
	uc := UserCheck{User: user, Repaired: repair}
	fsys := s.fs
	dir := "u/" + userDirName(user)
	note := func(damage bool, format string, args ...any) {
		uc.Findings = append(uc.Findings, fmt.Sprintf(format, args...))
		if damage {
			uc.Problems++
		}
	}
	for _, f := range []string{"mailboxes", "mailboxes.backup"} {
		b, err := readFile(fsys, dir+"/"+f)
		if err == nil {
			if _, _, _, err = decodeMailboxList(b); err != nil {
				note(true, "%s: failed its checksum", f)
			}
		} else if !isNotExist(err) {
			return uc, err
		}
	}
	if b, err := readFile(fsys, dir+"/subscriptions"); err == nil {
		if _, err := decodeSubs(b); err != nil {
			note(true, "subscriptions: failed its checksum")
		}
	}
	var boxes []mboxEntry
	if repair {
		a, err := s.account(user)
		if err != nil {
			return uc, err
		}
		a.mu.Lock()
		boxes = slices.Clone(a.boxes)
		a.mu.Unlock()
	} else {
		// Read-only: take the list as loading would, without writing.
		for _, f := range []string{"mailboxes", "mailboxes.backup"} {
			if b, err := readFile(fsys, dir+"/"+f); err == nil {
				if _, _, bx, err := decodeMailboxList(b); err == nil {
					boxes = bx
					break
				}
			}
		}
	}
	for _, e := range boxes {
		if e.attrs&statemachine.AttrNoSelect != 0 {
			continue
		}
		uc.Mailboxes++
		mdir := mailboxDir(dir, e.id)
		rec, err := recoverMailbox(fsys, mdir, e.uidv, true, false)
		if err != nil {
			return uc, err
		}
		for _, l := range rec.lines {
			uc.Findings = append(uc.Findings, e.name+": "+l)
		}
		uc.Problems += rec.problems
		if bak, err := loadIndex(fsys, mdir+"/index.backup"); err == nil && bak.present && !bak.whole() {
			note(true, "%s: index.backup: failed its checksums (bad records: %d)", e.name, bak.bad)
		}
		snap := rec.snap
		uc.Messages += snap.Len()
		var bad int
		snap.Each(0, func(_ int, m *statemachine.Message) bool {
			b, err := readFile(fsys, mdir+"/m/"+strconv.FormatUint(uint64(m.UID), 10))
			if err != nil {
				return true // reported by the reconciliation above
			}
			h, err := decodeMsgHeader(b)
			if err != nil || uint64(len(b)-h.hdrLen) != uint64(h.size) || crc(b[h.hdrLen:]) != h.bodyCRC || h.size != m.Size {
				bad++
				if bad <= 20 {
					note(true, "%s: message %d: file failed its checksum (restore it from a backup)", e.name, m.UID)
				}
			}
			return true
		})
		if bad > 20 {
			note(true, "%s: … %d damaged message files in all", e.name, bad)
		}
		if repair && len(rec.lines) > 0 {
			// Opening runs the same recovery and writes its repairs.
			a, err := s.account(user)
			if err != nil {
				return uc, err
			}
			mb, err := a.acquire(e.name)
			if err != nil {
				return uc, err
			}
			a.release(mb)
		}
	}
	return uc, nil
}

// userFromDirName inverts userDirName.
func userFromDirName(d string) (string, bool) {
	var b strings.Builder
	for i := 0; i < len(d); i++ {
		if d[i] != '%' {
			b.WriteByte(d[i])
			continue
		}
		if i+2 >= len(d) {
			return "", false
		}
		v, err := strconv.ParseUint(d[i+1:i+3], 16, 8)
		if err != nil {
			return "", false
		}
		b.WriteByte(byte(v))
		i += 2
	}
	u := b.String()
	return u, userDirName(u) == d
}
