package statemachine_test

import (
	"bufio"
	"fmt"
	"maps"
	"net"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// TestIMAPClientQResync: a client that remembered a mailbox (UIDVALIDITY,
// HIGHESTMODSEQ, UIDs and flags) resynchronises it after another session
// changed flags, expunged messages and appended one, and ends with exactly
// the state a full FETCH gives (RFC 7162 §3.1.4.1, §3.2.5, §3.2.6).
//
// go-imap v2 (v2.0.0-beta.8) knows CONDSTORE (SELECT (CONDSTORE), FETCH
// CHANGEDSINCE, MODSEQ, HIGHESTMODSEQ) but not QRESYNC: Client.Enable refuses
// every extension but IMAP4rev2, UTF8=ACCEPT and METADATA, SelectOptions has
// no QRESYNC parameters, it has no raw-command call, and its reader fails on
// "* VANISHED" ("unsupported response type"). So go-imap sets the mailbox up,
// makes the changes, resynchronises the CONDSTORE way (UID FETCH 1:*
// (CHANGEDSINCE) plus UID SEARCH ALL for the expunges) and takes the
// reference full FETCH; the QRESYNC resynchronisations (SELECT (QRESYNC
// ...) and UID FETCH (CHANGEDSINCE ... VANISHED)) go over a raw connection
// to the same server, driven by the small line client below.
func TestIMAPClientQResync(t *testing.T) {
	srv := newICServer(t, true)
	a := srv.login(t, nil)
	for i := range 8 {
		m := icSeedMsgs[i%len(icSeedMsgs)]
		if d := icAppend(t, a, "INBOX", m); d.UID != imap.UID(i+1) {
			t.Fatalf("APPEND #%d: UID %d", i+1, d.UID)
		}
	}

	// The client's first visit: everything, with MODSEQ.
	b := srv.login(t, nil)
	sel, err := b.Select("INBOX", &imap.SelectOptions{CondStore: true}).Wait()
	if err != nil {
		t.Fatalf("SELECT INBOX (CONDSTORE): %v", err)
	}
	if sel.HighestModSeq == 0 {
		t.Fatal("SELECT (CONDSTORE) without HIGHESTMODSEQ")
	}
	remembered := qrFullState(t, b)
	if len(remembered) != 8 {
		t.Fatalf("full FETCH: %d messages, want 8", len(remembered))
	}
	uidValidity, modSeq := sel.UIDValidity, sel.HighestModSeq
	if err := b.Logout().Wait(); err != nil {
		t.Fatalf("LOGOUT: %v", err)
	}

	// Meanwhile another session changes flags, expunges 3 and 6 and
	// appends UID 9.
	icSelect(t, a, "INBOX", false)
	qrStore(t, a, imap.UIDSetNum(2), imap.StoreFlagsAdd, imap.FlagAnswered)
	qrStore(t, a, imap.UIDSetNum(5), imap.StoreFlagsSet, imap.FlagFlagged, "$Label1")
	qrStore(t, a, imap.UIDSetNum(7), imap.StoreFlagsDel, imap.FlagSeen)
	qrStore(t, a, imap.UIDSetNum(3, 6), imap.StoreFlagsAdd, imap.FlagDeleted)
	if err := a.UIDExpunge(imap.UIDSetNum(3, 6)).Close(); err != nil {
		t.Fatalf("UID EXPUNGE 3,6: %v", err)
	}
	icAppend(t, a, "INBOX", icMsg{icMsg3, []imap.Flag{imap.FlagDraft}, icDate3})
	changed := []imap.UID{2, 5, 7, 9}
	vanished := []imap.UID{3, 6}

	ref := srv.login(t, nil)
	icSelect(t, ref, "INBOX", true)
	want := qrFullState(t, ref)
	if len(want) != 7 {
		t.Fatalf("full FETCH after the changes: %d messages, want 7", len(want))
	}

	t.Run("condstore", func(t *testing.T) {
		c := srv.login(t, nil)
		sel, err := c.Select("INBOX", &imap.SelectOptions{CondStore: true}).Wait()
		if err != nil {
			t.Fatalf("SELECT: %v", err)
		}
		if sel.UIDValidity != uidValidity || sel.HighestModSeq <= modSeq {
			t.Fatalf("UIDVALIDITY %d HIGHESTMODSEQ %d, want %d and above %d", sel.UIDValidity, sel.HighestModSeq, uidValidity, modSeq)
		}
		var all imap.UIDSet
		all.AddRange(1, 0)
		msgs, err := c.Fetch(all, &imap.FetchOptions{UID: true, Flags: true, ModSeq: true, ChangedSince: modSeq}).Collect()
		if err != nil {
			t.Fatalf("UID FETCH 1:* (CHANGEDSINCE %d): %v", modSeq, err)
		}
		state := maps.Clone(remembered)
		var got []imap.UID
		for _, m := range msgs {
			if m.ModSeq <= modSeq {
				t.Errorf("UID %d returned with MODSEQ %d, not above CHANGEDSINCE %d", m.UID, m.ModSeq, modSeq)
			}
			got = append(got, m.UID)
			state[m.UID] = icFlagKey(m.Flags)
		}
		slices.Sort(got)
		if !slices.Equal(got, changed) {
			t.Errorf("CHANGEDSINCE returned UIDs %v, want %v", got, changed)
		}
		// Without QRESYNC the client learns the expunges from the UIDs
		// that are left (RFC 7162 §3.1: UID SEARCH ALL or UID FETCH 1:*).
		sd, err := c.UIDSearch(&imap.SearchCriteria{}, nil).Wait()
		if err != nil {
			t.Fatalf("UID SEARCH ALL: %v", err)
		}
		left := sd.AllUIDs()
		for u := range state {
			if !slices.Contains(left, u) {
				delete(state, u)
			}
		}
		if !maps.Equal(state, want) {
			t.Errorf("after CONDSTORE resync: %v, full FETCH: %v", state, want)
		}
	})

	// checkResync applies a resync answer to what the client remembered
	// and compares it with the full FETCH.
	checkResync := func(t *testing.T, what string, lines []string) {
		t.Helper()
		state := maps.Clone(remembered)
		gotV, gotF := qrApply(t, lines, state, modSeq)
		if !slices.Equal(gotV, vanished) {
			t.Errorf("%s: VANISHED (EARLIER) %v, want %v", what, gotV, vanished)
		}
		if !slices.Equal(gotF, changed) {
			t.Errorf("%s: FETCH for UIDs %v, want %v", what, gotF, changed)
		}
		if !maps.Equal(state, want) {
			t.Errorf("after %s: %v, full FETCH: %v", what, state, want)
		}
	}

	t.Run("qresync-select", func(t *testing.T) {
		q := qrDial(t, srv)
		q.ok("ENABLE QRESYNC")
		known := "1:8"
		lines := q.ok(fmt.Sprintf("SELECT INBOX (QRESYNC (%d %d %s))", uidValidity, modSeq, known))
		checkResync(t, "SELECT (QRESYNC)", lines)
		if !slices.ContainsFunc(lines, func(l string) bool { return strings.HasPrefix(l, "* 7 EXISTS") }) {
			t.Errorf("SELECT (QRESYNC) without 7 EXISTS: %q", lines)
		}
	})

	t.Run("qresync-uid-fetch", func(t *testing.T) {
		q := qrDial(t, srv)
		q.ok("ENABLE QRESYNC")
		q.ok("SELECT INBOX")
		lines := q.ok(fmt.Sprintf("UID FETCH 1:* (FLAGS) (CHANGEDSINCE %d VANISHED)", modSeq))
		checkResync(t, "UID FETCH (VANISHED)", lines)
	})
}

// qrFullState fetches UID and FLAGS of every message: UID → flags (as
// icFlagKey renders them).
func qrFullState(t *testing.T, c *imapclient.Client) map[imap.UID]string {
	t.Helper()
	var all imap.UIDSet
	all.AddRange(1, 0)
	msgs, err := c.Fetch(all, &imap.FetchOptions{UID: true, Flags: true}).Collect()
	if err != nil {
		t.Fatalf("UID FETCH 1:* (UID FLAGS): %v", err)
	}
	out := map[imap.UID]string{}
	for _, m := range msgs {
		out[m.UID] = icFlagKey(m.Flags)
	}
	return out
}

func qrStore(t *testing.T, c *imapclient.Client, uids imap.UIDSet, op imap.StoreFlagsOp, flags ...imap.Flag) {
	t.Helper()
	if err := c.Store(uids, &imap.StoreFlags{Op: op, Silent: true, Flags: flags}, nil).Close(); err != nil {
		t.Fatalf("UID STORE %v: %v", uids, err)
	}
}

// qrConn is a minimal line-based IMAP client for what go-imap v2 cannot
// send or parse (QRESYNC). The server sends no literals in these answers.
type qrConn struct {
	t    *testing.T
	conn net.Conn
	r    *bufio.Reader
	n    int
}

func qrDial(t *testing.T, srv *icServer) *qrConn {
	t.Helper()
	conn := srv.rawDial(t)
	t.Cleanup(func() { conn.Close() })
	q := &qrConn{t: t, conn: conn, r: bufio.NewReader(conn)}
	if l := q.line(); !strings.HasPrefix(l, "* OK") {
		t.Fatalf("greeting %q", l)
	}
	q.ok("LOGIN alice secret")
	return q
}

func (q *qrConn) line() string {
	q.t.Helper()
	l, err := q.r.ReadString('\n')
	if err != nil {
		q.t.Fatalf("read: %v", err)
	}
	return strings.TrimSuffix(l, "\r\n")
}

// ok sends a command, returns its untagged responses and fails the test
// unless it ends with OK.
func (q *qrConn) ok(cmd string) []string {
	q.t.Helper()
	q.n++
	tag := "q" + strconv.Itoa(q.n)
	if _, err := fmt.Fprintf(q.conn, "%s %s\r\n", tag, cmd); err != nil {
		q.t.Fatalf("write: %v", err)
	}
	var lines []string
	for {
		l := q.line()
		if rest, ok := strings.CutPrefix(l, tag+" "); ok {
			if !strings.HasPrefix(rest, "OK") {
				q.t.Fatalf("%s: %s", cmd, rest)
			}
			return lines
		}
		lines = append(lines, l)
	}
}

// qrApply applies a QRESYNC answer to state (UID → flags): VANISHED
// (EARLIER) removes UIDs, FETCH (UID FLAGS MODSEQ) sets flags; every MODSEQ
// must be above since. It returns the UIDs that vanished and those fetched,
// ascending.
func qrApply(t *testing.T, lines []string, state map[imap.UID]string, since uint64) (vanished, fetched []imap.UID) {
	t.Helper()
	for _, l := range lines {
		if set, ok := strings.CutPrefix(l, "* VANISHED (EARLIER) "); ok {
			for _, part := range strings.Split(set, ",") {
				lo, hi, isRange := strings.Cut(part, ":")
				x, _ := strconv.ParseUint(lo, 10, 32)
				y := x
				if isRange {
					y, _ = strconv.ParseUint(hi, 10, 32)
				}
				for u := x; u <= y; u++ {
					vanished = append(vanished, imap.UID(u))
					delete(state, imap.UID(u))
				}
			}
			continue
		}
		if strings.HasPrefix(l, "* VANISHED ") || strings.HasSuffix(l, " EXPUNGE") {
			t.Errorf("%q: only VANISHED (EARLIER) expected in a resynchronisation", l)
			continue
		}
		_, items, ok := strings.Cut(l, " FETCH (")
		if !ok {
			continue
		}
		f := strings.Fields(strings.NewReplacer("(", " ( ", ")", " ) ").Replace(items))
		var uid imap.UID
		var modseq uint64
		var flags []imap.Flag
		for i := 0; i < len(f); i++ {
			switch f[i] {
			case "UID":
				v, _ := strconv.ParseUint(f[i+1], 10, 32)
				uid = imap.UID(v)
			case "MODSEQ":
				modseq, _ = strconv.ParseUint(f[i+2], 10, 64)
			case "FLAGS":
				for i += 2; f[i] != ")"; i++ {
					flags = append(flags, imap.Flag(f[i]))
				}
			}
		}
		if uid == 0 || modseq <= since {
			t.Errorf("%q: want UID and a MODSEQ above %d", l, since)
			continue
		}
		fetched = append(fetched, uid)
		state[uid] = icFlagKey(flags)
	}
	slices.Sort(vanished)
	slices.Sort(fetched)
	return vanished, fetched
}
