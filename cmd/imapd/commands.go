package main

import (
	"bufio"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/emersion/go-smtp"
	"golang.org/x/sys/unix"

	"github.com/myriad-mail/myriad/cmd/imapd/internal/config"
	"github.com/myriad-mail/myriad/cmd/imapd/internal/datadir"
	"github.com/myriad-mail/myriad/cmd/imapd/internal/lmtp"
	"github.com/myriad-mail/myriad/cmd/imapd/internal/server"
	"github.com/myriad-mail/myriad/cmd/imapd/internal/tlsutil"
	"github.com/myriad-mail/myriad/storage"
)

const version = server.Version

// Exit codes (sysexits.h), which an MTA reads from `imapd deliver`.
const (
	exOK          = 0
	exUsage       = 64 // EX_USAGE
	exDataErr     = 65 // EX_DATAERR: the message is malformed or too big
	exNoUser      = 67 // EX_NOUSER
	exUnavailable = 69 // EX_UNAVAILABLE: permanent failure
	exSoftware    = 70 // EX_SOFTWARE
	exTempFail    = 75 // EX_TEMPFAIL: try again later
	exConfig      = 78 // EX_CONFIG
)

func fail(code int, format string, args ...any) int {
	fmt.Fprintf(os.Stderr, "imapd: "+format+"\n", args...)
	return code
}

func newLogger(c *config.Config) *slog.Logger {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(c.Log.Level)); err != nil {
		lv = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: lv}
	if c.Log.Format == "json" {
		return slog.New(slog.NewJSONHandler(os.Stderr, opts))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, opts))
}

// flags parses args with serve's flag set (every subcommand understands
// -config, -data and -users; the others are ignored where they mean
// nothing) and returns the configuration and the positional arguments.
func flags(name string, args []string, base *config.Config, extra func(*flag.FlagSet)) (config.Config, []string, int) {
	fs := flag.NewFlagSet("imapd "+name, flag.ContinueOnError)
	var f config.Flags
	f.Register(fs)
	if extra != nil {
		extra(fs)
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return config.Config{}, nil, exOK + 1000
		}
		return config.Config{}, nil, exUsage
	}
	var c config.Config
	var err error
	if base != nil && f.Config == "" {
		c = *base
		f.Apply(fs, &c)
		err = c.Check()
	} else {
		c, err = f.Resolve(fs)
	}
	if err != nil {
		return c, nil, fail(exConfig, "%v", err)
	}
	return c, fs.Args(), -1
}

func done(code int) int {
	if code == exOK+1000 {
		return exOK
	}
	return code
}

func cmdServe(args []string) int {
	c, rest, code := flags("serve", args, nil, nil)
	if code >= 0 {
		return done(code)
	}
	if len(rest) > 0 {
		return fail(exUsage, "serve: unexpected argument %q", rest[0])
	}
	if err := c.CheckServe(); err != nil {
		return fail(exConfig, "%v", err)
	}
	if err := server.Run(c, newLogger(&c), nil); err != nil {
		return fail(runCode(err), "%v", err)
	}
	return exOK
}

// runCode is the exit code for an error of server.Run: EX_CONFIG for what
// the configuration must fix, EX_TEMPFAIL when another server holds the
// data directory, EX_SOFTWARE otherwise.
func runCode(err error) int {
	var ce server.ConfigError
	switch {
	case errors.As(err, &ce):
		return exConfig
	case errors.Is(err, datadir.ErrLocked):
		return exTempFail
	}
	return exSoftware
}

// Demo: the data directory `make run` serves.
const (
	demoUser         = "demo"
	demoPasswordFile = "demo-password"
)

func cmdDemo(args []string) int {
	base := config.Default()
	base.DataDir = "./data"
	base.Listen = config.Listen{IMAP: "127.0.0.1:1143", IMAPS: "127.0.0.1:1993", LMTP: "127.0.0.1:2424", Metrics: "127.0.0.1:9143"}
	base.Hostname = "localhost"
	// The certificate lies in the data directory; set after -data is known.
	base.TLS = config.TLS{Cert: "@data/cert.pem", Key: "@data/key.pem"}
	c, rest, code := flags("demo", args, &base, nil)
	if code >= 0 {
		return done(code)
	}
	if len(rest) > 0 {
		return fail(exUsage, "demo: unexpected argument %q", rest[0])
	}
	if err := os.MkdirAll(c.DataDir, 0o700); err != nil {
		return fail(exConfig, "%v", err)
	}
	if strings.HasPrefix(c.TLS.Cert, "@data/") {
		c.TLS.Cert = filepath.Join(c.DataDir, "cert.pem")
		c.TLS.Key = filepath.Join(c.DataDir, "key.pem")
		if _, err := os.Stat(c.TLS.Cert); err != nil {
			if err := tlsutil.WriteSelfSigned(c.TLS.Cert, c.TLS.Key); err != nil {
				return fail(exSoftware, "self-signed certificate: %v", err)
			}
		}
	}
	if err := c.CheckServe(); err != nil {
		return fail(exConfig, "%v", err)
	}
	password, err := demoPassword(&c)
	if err != nil {
		return fail(exSoftware, "demo user: %v", err)
	}
	log := newLogger(&c)
	err = server.Run(c, log, func(s *server.Server) {
		fmt.Printf("Myriad imapd %s demo, data in %s\n", version, c.DataDir)
		if a := s.Addrs["imap"]; a != nil {
			fmt.Printf("  IMAP (STARTTLS)  %s\n", a)
		}
		if a := s.Addrs["imaps"]; a != nil {
			fmt.Printf("  IMAPS            %s\n", a)
		}
		if a := s.Addrs["lmtp"]; a != nil {
			fmt.Printf("  LMTP             %s\n", a)
		}
		if a := s.Addrs["metrics"]; a != nil {
			fmt.Printf("  metrics          http://%s/metrics\n", a)
		}
		fmt.Printf("  certificate      %s (self-signed)\n", c.TLS.Cert)
		fmt.Printf("  login            user %q password %q\n", demoUser, password)
		if !c.Auth.InsecureAuth && s.Addrs["imap"] != nil {
			fmt.Printf("  (on the IMAP port, LOGIN needs STARTTLS first; -insecure-auth allows it in the clear)\n")
		}
		fmt.Printf("Stop with Ctrl-C.\n")
	})
	if err != nil {
		return fail(runCode(err), "%v", err)
	}
	return exOK
}

// demoPassword makes sure the demo user exists and returns its password,
// kept in the data directory so that a second `make run` prints it again.
func demoPassword(c *config.Config) (string, error) {
	fs, err := datadir.NewFS(c.DataDir)
	if err != nil {
		return "", err
	}
	uf := storage.UsersFile{FS: fs, Path: fs.UsersName(c.UsersPath())}
	users, err := uf.List()
	if err != nil {
		return "", err
	}
	pwFile := filepath.Join(c.DataDir, demoPasswordFile)
	exists := slices.Contains(users, demoUser)
	if b, err := os.ReadFile(pwFile); err == nil && exists {
		if pw := strings.TrimSpace(string(b)); pw != "" {
			return pw, nil
		}
	}
	pw := randomPassword()
	if exists {
		err = uf.SetPassword(demoUser, c.Auth.PasswordScheme, pw)
	} else {
		err = uf.Add(demoUser, c.Auth.PasswordScheme, pw)
	}
	if err != nil {
		return "", err
	}
	return pw, os.WriteFile(pwFile, []byte(pw+"\n"), 0o600)
}

func randomPassword() string {
	const alphabet = "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
	b := make([]byte, 16)
	rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

// ---- imapd user ----

const userUsage = `usage: imapd user add|passwd [-random] [-scheme S] USER   (password from stdin, or -random prints one)
       imapd user del USER
       imapd user list
flags for every form: -config FILE -data DIR -users FILE`

func cmdUser(args []string) int {
	if len(args) == 0 {
		return fail(exUsage, "%s", userUsage)
	}
	op := args[0]
	var random bool
	var scheme string
	c, rest, code := flags("user "+op, args[1:], nil, func(fs *flag.FlagSet) {
		fs.BoolVar(&random, "random", false, "generate a random password and print it")
		fs.StringVar(&scheme, "scheme", "", "password hash scheme: BLF-CRYPT, ARGON2ID, SHA512-CRYPT, PLAIN (default auth.password_scheme)")
	})
	if code >= 0 {
		return done(code)
	}
	if scheme == "" {
		scheme = c.Auth.PasswordScheme
	}
	fs, err := datadir.NewFS(c.DataDir)
	if err != nil {
		return fail(exConfig, "%v", err)
	}
	uf := storage.UsersFile{FS: fs, Path: fs.UsersName(c.UsersPath())}
	need := func(n int) bool { return len(rest) == n }
	switch op {
	case "list":
		if !need(0) {
			return fail(exUsage, "%s", userUsage)
		}
		users, err := uf.List()
		if err != nil {
			return fail(exSoftware, "%v", err)
		}
		for _, u := range users {
			fmt.Println(u)
		}
		return exOK
	case "add", "passwd":
		if !need(1) {
			return fail(exUsage, "%s", userUsage)
		}
		pw := ""
		if random {
			pw = randomPassword()
		} else if pw, err = readPassword(); err != nil {
			return fail(exUsage, "password: %v", err)
		}
		if op == "add" {
			err = uf.Add(rest[0], scheme, pw)
		} else {
			err = uf.SetPassword(rest[0], scheme, pw)
		}
		if err != nil {
			return fail(exSoftware, "%v", err)
		}
		if random {
			fmt.Println(pw)
		}
	case "del":
		if !need(1) {
			return fail(exUsage, "%s", userUsage)
		}
		if err := uf.Delete(rest[0]); err != nil {
			return fail(exSoftware, "%v", err)
		}
	default:
		return fail(exUsage, "user: unknown operation %q\n%s", op, userUsage)
	}
	// A running server rereads the users file on SIGHUP.
	if pid := datadir.ServerPID(c.DataDir); pid > 0 {
		if err := syscall.Kill(pid, syscall.SIGHUP); err == nil {
			fmt.Fprintf(os.Stderr, "imapd: told the running server (pid %d) to reload the users file\n", pid)
		}
	}
	return exOK
}

// readPassword reads one line from stdin; on a terminal it prompts twice
// with echo off.
func readPassword() (string, error) {
	fd := int(os.Stdin.Fd())
	t, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil { // not a terminal: the first line of stdin
		line, err := bufio.NewReader(os.Stdin).ReadString('\n')
		if err != nil && (err != io.EOF || line == "") {
			return "", errors.New("none on stdin")
		}
		return strings.TrimRight(line, "\r\n"), nil
	}
	quiet := *t
	quiet.Lflag &^= unix.ECHO
	unix.IoctlSetTermios(fd, unix.TCSETS, &quiet)
	defer unix.IoctlSetTermios(fd, unix.TCSETS, t)
	r := bufio.NewReader(os.Stdin)
	ask := func(p string) string {
		fmt.Fprint(os.Stderr, p)
		l, _ := r.ReadString('\n')
		fmt.Fprintln(os.Stderr)
		return strings.TrimRight(l, "\r\n")
	}
	a := ask("Password: ")
	if a == "" {
		return "", errors.New("empty")
	}
	if ask("Again: ") != a {
		return "", errors.New("the two differ")
	}
	return a, nil
}

// ---- imapd deliver ----

func cmdDeliver(args []string) int {
	var from string
	c, rest, code := flags("deliver", args, nil, func(fs *flag.FlagSet) {
		fs.StringVar(&from, "f", "", "envelope `sender`, written as Return-Path")
	})
	if code >= 0 {
		return done(code)
	}
	if len(rest) != 1 {
		return fail(exUsage, "usage: imapd deliver [-config FILE] [-data DIR] [-f SENDER] USER < message")
	}
	user := rest[0]
	msg, err := io.ReadAll(io.LimitReader(os.Stdin, c.Limits.MaxMessageBytes+1))
	if err != nil {
		return fail(exTempFail, "reading the message: %v", err)
	}
	if int64(len(msg)) > c.Limits.MaxMessageBytes {
		return fail(exDataErr, "message larger than %d bytes", c.Limits.MaxMessageBytes)
	}
	msg = lmtp.StripMboxFrom(msg)
	// With a server running, the store is its: deliver through its LMTP
	// listener, so that its IDLE sessions hear of the message.
	lock, err := datadir.Acquire(c.DataDir)
	if errors.Is(err, datadir.ErrLocked) {
		return deliverLMTP(&c, user, from, msg)
	}
	if err != nil {
		return fail(exTempFail, "%v", err)
	}
	defer lock.Release()
	log := newLogger(&c)
	st, err := server.OpenStore(&c, log)
	if err != nil {
		return fail(exTempFail, "open store: %v", err)
	}
	defer st.Close()
	d, err := server.NewDeliverer(&c, st, log)
	if err != nil {
		return fail(exTempFail, "users file: %v", err)
	}
	u, ok := d.Resolve(user)
	if !ok {
		return fail(exNoUser, "no such user %q", user)
	}
	err = d.Deliver(u, lmtp.Normalize(msg, from, from != ""))
	switch {
	case err == nil:
		return exOK
	case errors.Is(err, lmtp.ErrNoUser):
		return fail(exNoUser, "no such user %q", user)
	case errors.Is(err, lmtp.ErrTooBig), errors.Is(err, lmtp.ErrBadData):
		return fail(exDataErr, "%v", err)
	}
	return fail(exTempFail, "%v", err)
}

func deliverLMTP(c *config.Config, user, from string, msg []byte) int {
	addr := c.Listen.LMTP
	if addr == "" {
		return fail(exTempFail, "the server holding %s has no LMTP listener (listen.lmtp); cannot deliver while it runs", c.DataDir)
	}
	if host, port, err := net.SplitHostPort(addr); err == nil && (host == "" || host == "0.0.0.0" || host == "::") {
		addr = net.JoinHostPort("127.0.0.1", port)
	}
	conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return fail(exTempFail, "server's LMTP listener %s: %v", addr, err)
	}
	conn.SetDeadline(time.Now().Add(5 * time.Minute))
	cl := smtp.NewClientLMTP(conn)
	defer cl.Close()
	code := func(err error) int {
		var se *smtp.SMTPError
		if errors.As(err, &se) {
			switch {
			case se.Code == 550 && se.EnhancedCode == (smtp.EnhancedCode{5, 1, 1}):
				return fail(exNoUser, "no such user %q", user)
			case se.Code == 552 || se.Code == 554:
				return fail(exDataErr, "%v", se)
			case se.Code >= 500:
				return fail(exUnavailable, "%v", se)
			}
		}
		return fail(exTempFail, "lmtp: %v", err)
	}
	if err := cl.Hello("localhost"); err != nil {
		return code(err)
	}
	if err := cl.Mail(from, nil); err != nil {
		return code(err)
	}
	rcpt := user
	if !strings.Contains(rcpt, "@") {
		rcpt += "@localhost" // LMTP wants an address; the server falls back to the local part
	}
	if err := cl.Rcpt(rcpt, nil); err != nil {
		return code(err)
	}
	w, err := cl.Data()
	if err != nil {
		return code(err)
	}
	if _, err := w.Write(msg); err != nil {
		return code(err)
	}
	if _, err := w.CloseWithLMTPResponse(); err != nil {
		var le smtp.LMTPDataError
		if errors.As(err, &le) {
			for _, se := range le {
				return code(se)
			}
		}
		return code(err)
	}
	cl.Quit()
	return exOK
}
