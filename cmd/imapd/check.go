package main

import (
	"errors"
	"flag"
	"fmt"
	"slices"

	"github.com/myriad-mail/myriad/cmd/imapd/internal/datadir"
	"github.com/myriad-mail/myriad/cmd/imapd/internal/server"
	"github.com/myriad-mail/myriad/storage"
)

// `imapd check [-repair] USER...|-all` runs storage's Check: every checksum
// of the users' mail (mailbox list, subscriptions, index and its backup,
// logs, message files), reconciled as opening a mailbox would. Without
// -repair nothing is written; with it, the repairs that opening would make
// are written. The server must be stopped (the data directory's lock).
//
// Exit status: 0 no damage found (traces of a crash, which recovery handles
// routinely, are listed but do not count), 1 damage found, 67 unknown user,
// 75 a server is running, 70 the check itself failed.
func cmdCheck(args []string) int {
	var repair, all bool
	c, rest, code := flags("check", args, nil, func(fs *flag.FlagSet) {
		fs.BoolVar(&repair, "repair", false, "write the repairs (default: report only, nothing is written)")
		fs.BoolVar(&all, "all", false, "check every user that has mail on disk")
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
	for _, u := range rest {
		if !slices.Contains(users, u) {
			return fail(exNoUser, "check: no user %q", u)
		}
	}
	st, err := server.OpenStore(&c, newLogger(&c))
	if err != nil {
		return fail(exSoftware, "open store: %v", err)
	}
	defer st.Close()
	if all {
		rest = []string{""} // storage: every user with a directory
	}
	problems, checked := 0, 0
	for _, u := range rest {
		rep, err := st.Check(u, repair)
		if rep != nil {
			fmt.Print(rep.String())
			problems += rep.Problems()
			checked += len(rep.Users)
		}
		if err != nil {
			return fail(exSoftware, "%v", err)
		}
	}
	switch {
	case problems == 0:
		fmt.Printf("%d user(s) checked: no damage\n", checked)
		return exOK
	case repair:
		fmt.Printf("%d problem(s) found; repairs written\n", problems)
	default:
		fmt.Printf("%d problem(s) found; nothing written (imapd check -repair writes the repairs)\n", problems)
	}
	return 1
}
