package interop_test

// Interop with Debian's isync (mbsync), a client nobody here wrote: a
// Maildir is pushed to imapd, changed on the server, synced back, and a
// further sync must change nothing on either side. Run over plaintext
// (LOGIN allowed by insecure_auth) and over implicit TLS with the test's
// self-signed certificate as mbsync's CertificateFile.
//
// What mbsync does to messages, and so what the test expects (isync 1.4):
//   - Maildir flags map to IMAP flags: D \Draft, F \Flagged, R \Answered,
//     S \Seen, T \Deleted (RFC 3501 §2.3.2; the Maildir letters are
//     cr.yp.to/proto/maildir.html's).
//   - Every copy it makes, either way, gets one "X-TUID: <12 characters>"
//     line appended to the header (its way of finding the copy again if
//     the store cannot tell the new UID). Nothing else of the message
//     changes: pushing to IMAP turns LF into CRLF, pulling into the Maildir
//     writes LF line ends. The originals are left as they are.
//   - A message that vanished from the server is marked T locally, and
//     removed from the Maildir when Expunge covers the near side.
//   - Files get ",U=<uid>" in their names; flags follow ":2,".

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/myriad-mail/myriad/internal/testserver"
)

// needMbsync returns mbsync's path, installing Debian's isync when it is
// missing and this process may (root with apt-get); it skips the test when
// mbsync cannot be had.
func needMbsync(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("mbsync"); err == nil {
		return p
	}
	if _, err := exec.LookPath("apt-get"); err != nil || os.Geteuid() != 0 {
		t.Skip("mbsync is not installed and cannot be (needs root and apt-get): apt-get install isync")
	}
	out, code, err := runBounded(5*time.Minute, nil, "", "sh", "-c",
		"apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq isync")
	p, lerr := exec.LookPath("mbsync")
	if lerr != nil {
		t.Skipf("mbsync is not installed and installing isync failed (exit %d, %v):\n%s", code, err, out)
	}
	return p
}

// mdMsg is one message of the test's Maildir.
type mdMsg struct {
	folder string // "INBOX", "Work/Projects"
	id     string // Message-ID without <>, also the subject
	flags  string // Maildir flags, sorted: "FS"
	body   string // LF line ends, as in a Maildir
}

func lfMessage(id, extraHeaders, body string) string {
	return "From: Bob <bob@example.org>\nTo: alice@example.org\nSubject: " + id +
		"\nDate: Sat, 28 Nov 2026 10:00:00 +0000\nMessage-ID: <" + id + "@example.org>\n" +
		extraHeaders + "\n" + body
}

// bigMIME is a multipart message with a 300 KB base64 attachment.
func bigMIME(id string) string {
	var att strings.Builder
	for i := 0; att.Len() < 300_000; i++ {
		fmt.Fprintf(&att, "%076x\n", i*7919)
	}
	return lfMessage(id, "MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"b1\"\n",
		"--b1\nContent-Type: text/plain; charset=utf-8\n\nSee the attachment.\n--b1\n"+
			"Content-Type: application/octet-stream\nContent-Transfer-Encoding: base64\n"+
			"Content-Disposition: attachment; filename=\"data.bin\"\n\n"+att.String()+"--b1--\n")
}

var mdFlagToIMAP = map[byte]imap.Flag{'D': imap.FlagDraft, 'F': imap.FlagFlagged, 'R': imap.FlagAnswered, 'S': imap.FlagSeen, 'T': imap.FlagDeleted}

// mdFlags turns IMAP flags into sorted Maildir letters; \Recent is
// ignored, any other flag is an error.
func mdFlags(fs []imap.Flag) (string, error) {
	var b []byte
	for _, f := range fs {
		if strings.EqualFold(string(f), `\Recent`) {
			continue
		}
		found := false
		for letter, name := range mdFlagToIMAP {
			if strings.EqualFold(string(name), string(f)) {
				b, found = append(b, letter), true
			}
		}
		if !found {
			return "", fmt.Errorf("unexpected flag %s", f)
		}
	}
	slices.Sort(b)
	return string(b), nil
}

func crlf(s string) string { return strings.ReplaceAll(s, "\n", "\r\n") }

var (
	messageIDRe = regexp.MustCompile(`(?im)^Message-ID: <([^@>]+)@`)
	xtuidRe     = regexp.MustCompile(`^X-TUID: [A-Za-z0-9+/]{12}$`)
)

// dropTUID removes the X-TUID line that mbsync appends to the header of
// each copy it makes, and says whether there was one at that place.
func dropTUID(b []byte, eol string) ([]byte, bool) {
	end := bytes.Index(b, []byte(eol+eol))
	if end < 0 {
		return b, false
	}
	start := bytes.LastIndex(b[:end], []byte(eol)) + len(eol)
	if start < len(eol) || !xtuidRe.Match(b[start:end]) {
		return b, false
	}
	return append(append([]byte(nil), b[:start]...), b[end+len(eol):]...), true
}

// checkCopy requires got to be want (in line ends eol), with mbsync's
// X-TUID line when copied says it is mbsync's copy and without any when not.
func checkCopy(t *testing.T, where string, got []byte, want, eol string, copied bool) {
	t.Helper()
	if eol == "\r\n" {
		want = crlf(want)
	}
	stripped, tuid := dropTUID(got, eol)
	switch {
	case copied && !tuid:
		t.Errorf("%s: mbsync's copy has no X-TUID line at the end of its header", where)
	case !copied && tuid:
		t.Errorf("%s: an X-TUID line in a message mbsync did not copy", where)
	}
	if !bytes.Equal(stripped, []byte(want)) {
		t.Errorf("%s: content differs (%d bytes, want %d, X-TUID removed)\n got: %.300q\nwant: %.300q", where, len(stripped), len(want), stripped, want)
	}
}

func messageID(raw []byte) string {
	if m := messageIDRe.FindSubmatch(raw); m != nil {
		return string(m[1])
	}
	return ""
}

type mbsyncEnv struct {
	t      *testing.T
	bin    string
	home   string
	mail   string // Maildir root
	config string
}

func (e *mbsyncEnv) writeConfig(s *testserver.Server, useTLS bool, expunge string) {
	host, p, tlsLines := "127.0.0.1", port(s.IMAP), "SSLType None\n"
	if useTLS {
		// The certificate names localhost; CertificateFile makes mbsync trust
		// exactly it, and the host name is checked against it.
		host, p = "localhost", port(s.IMAPS)
		tlsLines = fmt.Sprintf("SSLType IMAPS\nCertificateFile %s\n", s.Cert)
	}
	cfg := fmt.Sprintf(`IMAPAccount myriad
Host %s
Port %s
User %s
Pass "%s"
%sTimeout 20

IMAPStore remote
Account myriad

MaildirStore local
Path %s/
Inbox %s/INBOX
SubFolders Verbatim

Channel sync
Far :remote:
Near :local:
Patterns *
Create Both
Expunge %s
SyncState *
Sync All
`, host, p, testUser, testPass, tlsLines, e.mail, e.mail, expunge)
	if err := os.WriteFile(e.config, []byte(cfg), 0o600); err != nil {
		e.t.Fatal(err)
	}
}

// sync runs mbsync -a with debug output on the protocol, bounded in time,
// and fails the test unless it exits 0. It returns the output.
func (e *mbsyncEnv) sync(what string) string {
	e.t.Helper()
	env := append(os.Environ(), "HOME="+e.home)
	out, code, err := runBounded(90*time.Second, env, "", e.bin, "-c", e.config, "-a", "-D")
	if err != nil || code != 0 {
		e.t.Fatalf("mbsync (%s): exit %d, %v; its output:\n%s", what, code, err, out)
	}
	return out
}

// write puts m into the Maildir (new/ when it has no flags and newDir).
func (e *mbsyncEnv) write(m mdMsg, newDir bool) {
	e.t.Helper()
	name, sub := "1764300000.M"+m.id+"P1.host:2,"+m.flags, "cur"
	if newDir {
		name, sub = "1764300000.M"+m.id+"P1.host", "new"
	}
	p := filepath.Join(e.mail, m.folder, sub, name)
	if err := os.WriteFile(p, []byte(m.body), 0o600); err != nil {
		e.t.Fatal(err)
	}
}

func (e *mbsyncEnv) mkdirs(folders ...string) {
	for _, f := range folders {
		for _, sub := range []string{"cur", "new", "tmp"} {
			if err := os.MkdirAll(filepath.Join(e.mail, f, sub), 0o700); err != nil {
				e.t.Fatal(err)
			}
		}
	}
}

// mdFile is a message file found in the Maildir.
type mdFile struct {
	path, dir, flags string // dir: "cur" or "new"
	uid              bool   // the name carries mbsync's ,U=
	content          []byte
}

// scan reads every message file of folder, keyed by Message-ID.
func (e *mbsyncEnv) scan(folder string) map[string]mdFile {
	e.t.Helper()
	got := map[string]mdFile{}
	for _, sub := range []string{"cur", "new"} {
		ents, err := os.ReadDir(filepath.Join(e.mail, folder, sub))
		if err != nil {
			e.t.Fatalf("Maildir folder %s: %v", folder, err)
		}
		for _, ent := range ents {
			p := filepath.Join(e.mail, folder, sub, ent.Name())
			b, err := os.ReadFile(p)
			if err != nil {
				e.t.Fatal(err)
			}
			f := mdFile{path: p, dir: sub, content: b, uid: strings.Contains(ent.Name(), ",U=")}
			if i := strings.Index(ent.Name(), ":2,"); i >= 0 {
				f.flags = ent.Name()[i+3:]
			}
			id := messageID(b)
			if _, dup := got[id]; dup || id == "" {
				e.t.Fatalf("Maildir %s: message %q twice or without Message-ID (%s)", folder, id, p)
			}
			got[id] = f
		}
	}
	return got
}

// snapshot is every message file's path and content under the Maildir,
// mbsync's state files excluded.
func (e *mbsyncEnv) snapshot() map[string]string {
	e.t.Helper()
	snap := map[string]string{}
	err := filepath.WalkDir(e.mail, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasPrefix(d.Name(), ".") {
			return err
		}
		b, err := os.ReadFile(p)
		snap[p] = string(b)
		return err
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return snap
}

// serverMsg is a message as fetched from imapd.
type serverMsg struct {
	uid   imap.UID
	flags string // Maildir letters
	raw   []byte
}

// fetchAll selects folder and fetches every message's UID, flags and body,
// keyed by Message-ID.
func fetchAll(t *testing.T, c *imapclient.Client, folder string) map[string]serverMsg {
	t.Helper()
	sel, err := c.Select(folder, &imap.SelectOptions{ReadOnly: true}).Wait()
	if err != nil {
		t.Fatalf("EXAMINE %s: %v", folder, err)
	}
	got := map[string]serverMsg{}
	if sel.NumMessages == 0 {
		return got
	}
	section := &imap.FetchItemBodySection{Peek: true}
	msgs, err := c.Fetch(imap.SeqSet{{Start: 1, Stop: 0}}, &imap.FetchOptions{UID: true, Flags: true, BodySection: []*imap.FetchItemBodySection{section}}).Collect()
	if err != nil {
		t.Fatalf("FETCH in %s: %v", folder, err)
	}
	if uint32(len(msgs)) != sel.NumMessages {
		t.Fatalf("%s: %d messages fetched, SELECT said %d", folder, len(msgs), sel.NumMessages)
	}
	for _, m := range msgs {
		raw := m.FindBodySection(section)
		fl, err := mdFlags(m.Flags)
		if err != nil {
			t.Fatalf("%s UID %d: %v (flags %v)", folder, m.UID, err, m.Flags)
		}
		id := messageID(raw)
		if _, dup := got[id]; dup || id == "" {
			t.Fatalf("%s: message %q twice or without Message-ID (UID %d)", folder, id, m.UID)
		}
		got[id] = serverMsg{uid: m.UID, flags: fl, raw: raw}
	}
	return got
}

func keys[M ~map[string]V, V any](m M) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// checkServer requires folder on the server to hold exactly want (id →
// Maildir flags), each message being body(id) in CRLF, plus mbsync's
// X-TUID line for those that came from the Maildir.
func checkServer(t *testing.T, c *imapclient.Client, folder string, want map[string]string, body func(id string) (string, bool)) {
	t.Helper()
	got := fetchAll(t, c, folder)
	if !slices.Equal(keys(got), keys(want)) {
		t.Fatalf("server %s holds %v, want %v", folder, keys(got), keys(want))
	}
	for id, m := range got {
		if m.flags != want[id] {
			t.Errorf("server %s, %s: flags %q (Maildir letters), want %q", folder, id, m.flags, want[id])
		}
		b, fromMaildir := body(id)
		checkCopy(t, "server "+folder+", "+id, m.raw, b, "\r\n", fromMaildir)
	}
}

// checkMaildir requires the Maildir folder to hold exactly want (id →
// flags), each file being body(id) with LF line ends, plus mbsync's
// X-TUID line for those that came from the server.
func checkMaildir(t *testing.T, e *mbsyncEnv, folder string, want map[string]string, body func(id string) (string, bool)) map[string]mdFile {
	t.Helper()
	got := e.scan(folder)
	if !slices.Equal(keys(got), keys(want)) {
		t.Fatalf("Maildir %s holds %v, want %v", folder, keys(got), keys(want))
	}
	for id, f := range got {
		if f.flags != want[id] {
			t.Errorf("Maildir %s, %s: flags %q (%s), want %q", folder, id, f.flags, f.path, want[id])
		}
		if !f.uid {
			t.Errorf("Maildir %s, %s: %s has no ,U= after a sync", folder, id, f.path)
		}
		// Maildir: a message in new/ has no info (no ":2,"), one with flags is in cur/.
		if f.dir == "new" && f.flags != "" {
			t.Errorf("Maildir %s, %s: flags %q on a file in new/", folder, id, f.flags)
		}
		b, fromMaildir := body(id)
		checkCopy(t, "Maildir "+folder+", "+id, f.content, b, "\n", !fromMaildir)
	}
	return got
}

// farWrites lists the commands in mbsync's debug output that change the
// server ("F: >>> 12 APPEND ..." and the like).
var farWriteRe = regexp.MustCompile(`(?m)^(?:\(\d+ in progress\) )?F: >>> \d+ (?:UID STORE|STORE|APPEND|EXPUNGE|UID EXPUNGE|CREATE|DELETE|RENAME|COPY|UID COPY|MOVE|UID MOVE)\b.*$`)

func TestMbsync(t *testing.T) {
	bin := needMbsync(t)
	for _, useTLS := range []bool{false, true} {
		name := "plain"
		if useTLS {
			name = "tls"
		}
		t.Run(name, func(t *testing.T) { testMbsync(t, bin, useTLS) })
	}
}

func testMbsync(t *testing.T, bin string, useTLS bool) {
	s := testserver.New(t)
	s.Start()
	dir := t.TempDir()
	e := &mbsyncEnv{t: t, bin: bin, home: dir, mail: filepath.Join(dir, "Mail"), config: filepath.Join(dir, "mbsyncrc")}
	e.mkdirs("INBOX", "Work", "Work/Projects", "Empty")

	// Every message of the test, local or server-made, by id.
	bodies := map[string]string{}
	fromMaildir := map[string]bool{}
	body := func(id string) (string, bool) {
		b, ok := bodies[id]
		if !ok {
			t.Fatalf("no message %q", id)
		}
		return b, fromMaildir[id]
	}
	local := []mdMsg{
		{folder: "INBOX", id: "seen", flags: "S"},
		{folder: "INBOX", id: "flagged", flags: "FS"},
		{folder: "INBOX", id: "replied", flags: "RS"},
		{folder: "INBOX", id: "trashed", flags: "ST"},
		{folder: "INBOX", id: "draft", flags: "D"},
		{folder: "INBOX", id: "unread"}, // in new/
		{folder: "Work", id: "work-flagged", flags: "F"},
		{folder: "Work", id: "work-big", flags: "S"},
		{folder: "Work/Projects", id: "project-8bit", flags: ""},
	}
	for i := range local {
		m := &local[i]
		switch m.id {
		case "work-big":
			m.body = bigMIME(m.id)
		case "project-8bit":
			m.body = lfMessage(m.id, "MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n",
				"Grüße aus Zürich — ünïcödé, a tab\there, and a long line "+strings.Repeat("x", 900)+"\n")
		default:
			m.body = lfMessage(m.id, "", "Body of "+m.id+".\n\n-- \nBob\n")
		}
		bodies[m.id], fromMaildir[m.id] = m.body, true
		e.write(*m, m.id == "unread")
	}

	// 1. Push. Expunge None, so that the trashed message reaches the server
	// (flagged \Deleted) instead of being expunged locally first.
	e.writeConfig(s, useTLS, "None")
	e.sync("push")
	// The server saw mbsync's session over the transport asked for (its
	// login line; the test's own client has not connected yet).
	if want := fmt.Sprintf("msg=login user=%s addr=127.0.0.1 tls=%v", testUser, useTLS); !strings.Contains(s.Log.String(), want) {
		t.Errorf("no %q in the server's log after mbsync's first sync", want)
	}

	c := s.Login(t, mode(useTLS), nil)
	list, err := c.List("", "*", nil).Collect()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, l := range list {
		names = append(names, l.Mailbox)
		if l.Delim != '/' {
			t.Errorf("LIST %s: delimiter %q, want '/'", l.Mailbox, l.Delim)
		}
	}
	for _, f := range []string{"INBOX", "Work", "Work/Projects", "Empty"} {
		if !slices.Contains(names, f) {
			t.Errorf("after the push the server has no mailbox %q (LIST: %v)", f, names)
		}
	}
	checkServer(t, c, "INBOX", map[string]string{"seen": "S", "flagged": "FS", "replied": "RS", "trashed": "ST", "draft": "D", "unread": ""}, body)
	checkServer(t, c, "Work", map[string]string{"work-flagged": "F", "work-big": "S"}, body)
	checkServer(t, c, "Work/Projects", map[string]string{"project-8bit": ""}, body)
	checkServer(t, c, "Empty", map[string]string{}, body)
	// The Maildir is unchanged but for mbsync's ,U= in the names.
	checkMaildir(t, e, "INBOX", map[string]string{"seen": "S", "flagged": "FS", "replied": "RS", "trashed": "ST", "draft": "D", "unread": ""}, body)
	if t.Failed() {
		t.FailNow()
	}

	// 2. Change the server: flags, new messages, expunges, a new folder.
	inbox := fetchAll(t, c, "INBOX")
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	store := func(id string, op imap.StoreFlagsOp, flags ...imap.Flag) {
		t.Helper()
		err := c.Store(imap.UIDSetNum(inbox[id].uid), &imap.StoreFlags{Op: op, Silent: true, Flags: flags}, nil).Close()
		if err != nil {
			t.Fatalf("STORE %s: %v", id, err)
		}
	}
	store("seen", imap.StoreFlagsDel, imap.FlagSeen)
	store("seen", imap.StoreFlagsAdd, imap.FlagFlagged)
	store("unread", imap.StoreFlagsAdd, imap.FlagSeen, imap.FlagAnswered)
	store("draft", imap.StoreFlagsSet, imap.FlagSeen)
	store("flagged", imap.StoreFlagsAdd, imap.FlagDeleted)
	exp, err := c.Expunge().Collect()
	if err != nil {
		t.Fatal(err)
	}
	if len(exp) != 2 { // "flagged" and "trashed"
		t.Errorf("EXPUNGE removed %d messages, want 2", len(exp))
	}
	appendMsg := func(folder, id string, flags ...imap.Flag) {
		t.Helper()
		bodies[id] = lfMessage(id, "", "Written on the server: "+id+".\n")
		raw := crlf(bodies[id])
		cmd := c.Append(folder, int64(len(raw)), &imap.AppendOptions{Flags: flags})
		cmd.Write([]byte(raw))
		cmd.Close()
		if _, err := cmd.Wait(); err != nil {
			t.Fatalf("APPEND %s to %s: %v", id, folder, err)
		}
	}
	appendMsg("INBOX", "server-new-flagged", imap.FlagSeen, imap.FlagFlagged)
	appendMsg("INBOX", "server-new-unread")
	appendMsg("Work", "server-work", imap.FlagAnswered, imap.FlagSeen)
	if err := c.Create("Work/Reports", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	appendMsg("Work/Reports", "server-report")
	if _, err := c.Select("Work", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	work := fetchAll(t, c, "Work")
	if _, err := c.Select("Work", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	if err := c.Store(imap.UIDSetNum(work["work-flagged"].uid), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagSeen}}, nil).Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Unselect().Wait(); err != nil {
		t.Fatal(err)
	}

	// ... and, in the same round, the Maildir: a flag change and a new file.
	proj := e.scan("Work/Projects")
	old := proj["project-8bit"].path
	if err := os.Rename(old, strings.TrimSuffix(old, ":2,")+":2,S"); err != nil {
		t.Fatal(err)
	}
	q := mdMsg{folder: "Work/Projects", id: "local-new", body: lfMessage("local-new", "", "Written in the Maildir.\n")}
	bodies[q.id], fromMaildir[q.id] = q.body, true
	e.write(q, true)

	// 3. Sync both ways, now with Expunge Both: what vanished from the server
	// leaves the Maildir too.
	e.writeConfig(s, useTLS, "Both")
	e.sync("both ways")

	wantInbox := map[string]string{"seen": "F", "replied": "RS", "draft": "S", "unread": "RS", "server-new-flagged": "FS", "server-new-unread": ""}
	wantWork := map[string]string{"work-flagged": "FS", "work-big": "S", "server-work": "RS"}
	wantProj := map[string]string{"project-8bit": "S", "local-new": ""}
	wantReports := map[string]string{"server-report": ""}
	checkMaildir(t, e, "INBOX", wantInbox, body)
	checkMaildir(t, e, "Work", wantWork, body)
	checkMaildir(t, e, "Work/Projects", wantProj, body)
	checkMaildir(t, e, "Work/Reports", wantReports, body)
	checkMaildir(t, e, "Empty", map[string]string{}, body)
	checkServer(t, c, "INBOX", wantInbox, body)
	checkServer(t, c, "Work", wantWork, body)
	checkServer(t, c, "Work/Projects", wantProj, body)
	checkServer(t, c, "Work/Reports", wantReports, body)
	if t.Failed() {
		t.FailNow()
	}

	// 4. Another sync changes nothing: the same files with the same names
	// and contents, no command that writes to the server, and the same
	// UIDNEXT and HIGHESTMODSEQ on every mailbox.
	status := func() map[string]string {
		st := map[string]string{}
		for _, f := range []string{"INBOX", "Work", "Work/Projects", "Work/Reports", "Empty"} {
			d, err := c.Status(f, &imap.StatusOptions{NumMessages: true, UIDNext: true, UIDValidity: true, HighestModSeq: true}).Wait()
			if err != nil {
				t.Fatal(err)
			}
			st[f] = fmt.Sprintf("messages=%d uidnext=%d uidvalidity=%d highestmodseq=%d", *d.NumMessages, d.UIDNext, d.UIDValidity, d.HighestModSeq)
		}
		return st
	}
	before, beforeStatus := e.snapshot(), status()
	out := e.sync("no-op")
	if !regexp.MustCompile(`(?m)^F: >>> \d+ SELECT "?Work/Reports"?`).MatchString(out) {
		t.Errorf("the second sync's debug output shows no SELECT of Work/Reports: the check for writes below sees nothing:\n%s", out)
	}
	if w := farWriteRe.FindAllString(out, -1); len(w) > 0 {
		t.Errorf("the second sync wrote to the server: %q", w)
	}
	after, afterStatus := e.snapshot(), status()
	for p, b := range before {
		if a, ok := after[p]; !ok {
			t.Errorf("the second sync removed or renamed %s", p)
		} else if a != b {
			t.Errorf("the second sync changed %s", p)
		}
	}
	for p := range after {
		if _, ok := before[p]; !ok {
			t.Errorf("the second sync created %s", p)
		}
	}
	for f, b := range beforeStatus {
		if afterStatus[f] != b {
			t.Errorf("the second sync changed %s on the server: %s, then %s", f, b, afterStatus[f])
		}
	}
	if err := c.Logout().Wait(); err != nil {
		t.Errorf("LOGOUT: %v", err)
	}
}
