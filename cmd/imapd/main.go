// Command imapd is Myriad's IMAP server and its administration tool.
//
//	imapd serve [-config FILE] [-data DIR] [-imap ADDR] [-imaps ADDR] [-lmtp ADDR]
//	            [-metrics ADDR] [-users FILE] [-cert FILE -key FILE] [-insecure-auth]
//	imapd demo [-data DIR] [serve's flags]
//	imapd user add|passwd [-config FILE] [-data DIR] [-users FILE] USER   (password on stdin, or generated)
//	imapd user del|list [-config FILE] [-data DIR] [-users FILE] [USER]
//	imapd check [-config FILE] [-data DIR] [-repair] USER|-all
//	imapd deliver [-config FILE] [-data DIR] USER   (message on stdin; sysexits codes)
//
// The configuration keys are documented in README.md, "Configuration".
package main

import (
	"fmt"
	"os"
)

const usage = `usage: imapd COMMAND [flags]

commands:
  serve     run the server (imapd serve -config FILE; flags override the file)
  demo      create a demo data directory (user, self-signed certificate) and serve on 127.0.0.1
  user      add|passwd|del|list users of the users file
  check     verify (and with -repair fix) users' mailboxes; the server must be stopped
  deliver   deliver one message from stdin to USER's INBOX (for an MTA; sysexits exit codes)
  version   print the version

"imapd COMMAND -h" lists a command's flags.
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(exUsage)
	}
	cmd, args := os.Args[1], os.Args[2:]
	var code int
	switch cmd {
	case "serve":
		code = cmdServe(args)
	case "demo":
		code = cmdDemo(args)
	case "user":
		code = cmdUser(args)
	case "check":
		code = cmdCheck(args)
	case "deliver":
		code = cmdDeliver(args)
	case "version", "-version", "--version":
		fmt.Println("imapd (Myriad)", version)
	case "help", "-h", "-help", "--help":
		fmt.Print(usage)
	default:
		fmt.Fprintf(os.Stderr, "imapd: unknown command %q\n\n%s", cmd, usage)
		code = exUsage
	}
	os.Exit(code)
}
