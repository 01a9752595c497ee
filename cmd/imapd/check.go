package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/myriad-mail/myriad/cmd/imapd/internal/datadir"
	"github.com/myriad-mail/myriad/cmd/imapd/internal/server"
	"github.com/myriad-mail/myriad/statemachine"
	"github.com/myriad-mail/myriad/storage"
)

// `imapd check` opens every mailbox of the users named, as the server would,
// and prints what recovery finds: checksum failures, torn log tails, lost
// records, a bad index replaced by its backup, orphan message files. With
// -repair it does so on the data directory itself, so the repairs are
// written. Without it, the data directory is not touched: the users' files
// are first copied to a scratch directory next to it (message files, which
// are written once and never modified, are hard-linked), and the check runs
// on the copy. storage has no offline dry-run entry point yet; this is that
// adapter.
//
// Exit status: 0 nothing found, 1 findings, 75 the server is running
// (stop it first), 70 the check itself failed.
func cmdCheck(args []string) int {
	var repair, all bool
	c, rest, code := flags("check", args, nil, func(fs *flag.FlagSet) {
		fs.BoolVar(&repair, "repair", false, "write the repairs (default: report only, the data directory is not modified)")
		fs.BoolVar(&all, "all", false, "check every user of the users file")
	})
	if code >= 0 {
		return done(code)
	}
	if all == (len(rest) != 0) {
		return fail(exUsage, "usage: imapd check [-config FILE] [-data DIR] [-repair] USER...|-all")
	}
	lock, err := datadir.Acquire(c.DataDir)
	if errors.Is(err, datadir.ErrLocked) {
		return fail(exTempFail, "check: %s is in use by a running server (pid %d); stop it first", c.DataDir, datadir.ServerPID(c.DataDir))
	}
	if err != nil {
		return fail(exSoftware, "%v", err)
	}
	defer lock.Release()

	fs, err := datadir.NewFS(c.DataDir)
	if err != nil {
		return fail(exSoftware, "%v", err)
	}
	users, err := storage.UsersFile{FS: fs, Path: fs.UsersName(c.UsersPath())}.List()
	if err != nil {
		return fail(exSoftware, "users file: %v", err)
	}
	if !all {
		for _, u := range rest {
			if !slices.Contains(users, u) {
				return fail(exNoUser, "check: no user %q", u)
			}
		}
		users = rest
	}

	cc := c
	if !repair {
		scratch, err := os.MkdirTemp(filepath.Dir(filepath.Clean(c.DataDir)), ".imapd-check-")
		if err != nil {
			return fail(exSoftware, "scratch directory: %v", err)
		}
		defer os.RemoveAll(scratch)
		if err := snapshot(filepath.Join(c.DataDir, "u"), filepath.Join(scratch, "u")); err != nil {
			return fail(exSoftware, "copying the mail to check: %v", err)
		}
		cc.DataDir = scratch
		if cc.Auth.UsersFile, err = filepath.Abs(c.UsersPath()); err != nil { // read in place, never written
			return fail(exSoftware, "%v", err)
		}
	}
	rec := &recorder{}
	st, err := server.OpenStore(&cc, slog.New(rec))
	if err != nil {
		return fail(exSoftware, "open store: %v", err)
	}
	defer st.Close()

	findings := 0
	for _, u := range users {
		n, err := checkUser(st, u, rec)
		if err != nil {
			fmt.Printf("%s: check failed: %v\n", u, err)
			findings++
			continue
		}
		findings += n
	}
	switch {
	case findings == 0:
		fmt.Printf("%d user(s) checked, nothing found\n", len(users))
		return exOK
	case repair:
		fmt.Printf("%d finding(s); repairs written\n", findings)
	default:
		fmt.Printf("%d finding(s); run with -repair to write the repairs (the server repairs on open too)\n", findings)
	}
	return 1
}

func checkUser(st *server.Store, user string, rec *recorder) (int, error) {
	rec.take()
	acct, err := st.Account(user)
	if err != nil {
		return 0, err
	}
	findings := rec.print(user, "")
	boxes, err := acct.ListMailboxes()
	if err != nil {
		return findings, err
	}
	for _, b := range boxes {
		if b.Attrs&(statemachine.AttrNoSelect|statemachine.AttrNonExistent) != 0 {
			continue
		}
		mb, err := acct.Open(b.Name)
		if err != nil {
			fmt.Printf("%s %s: cannot open: %v\n", user, b.Name, err)
			findings++
			continue
		}
		snap := mb.Current()
		acct.Release(mb)
		n := rec.print(user, b.Name)
		findings += n
		verdict := "ok"
		if n > 0 {
			verdict = fmt.Sprintf("%d finding(s)", n)
		}
		fmt.Printf("%s %s: %s, %d message(s), highest modseq %d\n", user, b.Name, verdict, snap.Len(), snap.HighestModSeq)
	}
	return findings, nil
}

// recorder is a slog.Handler keeping the store's warnings and errors.
type recorder struct {
	mu    sync.Mutex
	lines []string
}

func (r *recorder) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }
func (r *recorder) WithAttrs([]slog.Attr) slog.Handler           { return r }
func (r *recorder) WithGroup(string) slog.Handler                { return r }

func (r *recorder) Handle(_ context.Context, rec slog.Record) error {
	var b strings.Builder
	b.WriteString(strings.TrimPrefix(rec.Message, "storage: "))
	rec.Attrs(func(a slog.Attr) bool {
		if a.Key != "user" && a.Key != "mailbox" {
			fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
		}
		return true
	})
	r.mu.Lock()
	r.lines = append(r.lines, b.String())
	r.mu.Unlock()
	return nil
}

func (r *recorder) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	l := r.lines
	r.lines = nil
	return l
}

func (r *recorder) print(user, mailbox string) int {
	lines := r.take()
	for _, l := range lines {
		if mailbox == "" {
			fmt.Printf("%s: %s\n", user, l)
		} else {
			fmt.Printf("%s %s: %s\n", user, mailbox, l)
		}
	}
	return len(lines)
}

// snapshot copies the tree src to dst; files in "m" directories (message
// files, never modified once written) are hard-linked when possible.
func snapshot(src, dst string) error {
	return filepath.Walk(src, func(path string, info os.FileInfo, err error) error {
		if err != nil {
			if errors.Is(err, os.ErrNotExist) && path == src {
				return nil
			}
			return err
		}
		rel, _ := filepath.Rel(src, path)
		to := filepath.Join(dst, rel)
		if info.IsDir() {
			return os.MkdirAll(to, 0o700)
		}
		if !info.Mode().IsRegular() {
			return nil
		}
		if filepath.Base(filepath.Dir(path)) == "m" && os.Link(path, to) == nil {
			return nil
		}
		return copyFile(path, to)
	})
}

func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
