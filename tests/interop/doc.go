// Package interop holds only documentation; its tests (package
// interop_test) are end-to-end tests of the real imapd binary
// against clients nobody in this project wrote, and against clients that
// misbehave:
//
//   - mbsync_test.go: Debian's isync (mbsync) syncs a Maildir to and from
//     imapd both ways, over plaintext and implicit TLS, and the result is
//     checked with the go-imap v2 client and by reading the Maildir.
//   - badclient_test.go: half-open connections, a client that never reads,
//     a 10 MB line, a literal that never ends and 5,000 connections that
//     never log in, all at once against one server, while a well-behaved
//     session must keep completing within a bound and the server's memory
//     stays under a ceiling; then SIGTERM must end it with exit code 0.
//   - scale_test.go: 19,000 idle sessions (LOGIN, SELECT INBOX, IDLE) held
//     by the benchmark tool of bench/, only with MYRIAD_SCALE=1.
//
// Every test builds imapd (and, for the scale test, imapbench) once, starts
// servers on ports free at test time on 127.0.0.1, and kills every process
// it started by its PID when it ends. docs/INTEROP.md says how to run them.
package interop
