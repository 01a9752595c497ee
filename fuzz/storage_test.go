package fuzz

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	sm "github.com/myriad-mail/myriad/statemachine"
	"github.com/myriad-mail/myriad/storage"
)

// FuzzStorageOpen writes arbitrary bytes as a mailbox's index, log,
// index.backup and log.1 (an empty argument: the file is absent), and as
// one message file (m/7), then opens the mailbox through storage's public
// API on its in-memory file system. Since mutations almost never keep a
// CRC valid, recs is a small program of log records (logProgram) encoded
// with valid checksums and appended to the log: appends, flag changes,
// expunges, keywords and UID records in any order and with any modseq, so
// that replay itself is fuzzed, not only the rejection of damage. It checks:
//
//   - opening neither panics nor fails;
//   - every message it returns is backed by a record whose CRC-32C holds,
//     as an independent checksum-verifying reader of the formats
//     (storage/format.go's package doc) finds them: its UID, size and date
//     by an index, backup or log append record (or a verified message
//     file), its flags by one of those or by a log flag record;
//   - Message() returns a body only from a message file whose checksums
//     hold;
//   - closing and opening again gives the same messages with the same flags
//     (recovery writes its repairs: a second recovery changes nothing).
//
// Message files with the content "x" are created for every UID some valid
// record names, so that recovery keeps those records (it expunges records
// without a file). Storage has no on-disk MIME cache yet (the index record's
// cache offset is always 0; message bodies are cached in memory), so no
// cache file is written here; the cache's encoding, imapmime.AppendPart and
// DecodePart, is fuzzed by FuzzMIME.
func FuzzStorageOpen(f *testing.F) {
	for _, s := range storageSeeds(f) {
		f.Add(s.index, s.log, s.backup, s.log1, s.msg, s.recs)
	}
	f.Fuzz(func(t *testing.T, index, log, backup, log1, msg, recs []byte) {
		if len(index)+len(log)+len(backup)+len(log1)+len(msg)+len(recs) > 1<<16 {
			return
		}
		checkStorageOpen(t, index, append(log[:len(log):len(log)], logProgram(recs)...), backup, log1, msg)
	})
}

const (
	stUser    = "alice"
	stMboxDir = "u/alice/mb0" // INBOX is mailbox 0 of every account
	stOrphan  = 7             // the UID of the fuzzed message file
)

var stQuiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func stNow() time.Time { return time.Unix(1_700_000_000, 0) }

func stConfig(fsys storage.FS) storage.Config {
	return storage.Config{FS: fsys, Logger: stQuiet, Now: stNow}
}

// stTemplate holds the files of a new account (users file, mailbox list,
// subscriptions), made once by storage itself and copied into every run.
var stTemplate = sync.OnceValues(func() (map[string][]byte, error) {
	fsys := storage.NewMemFS(storage.MemFSOptions{})
	if err := (storage.UsersFile{FS: fsys, Path: "users"}).Add(stUser, "PLAIN", "pw"); err != nil {
		return nil, err
	}
	st, err := storage.Open(stConfig(fsys))
	if err != nil {
		return nil, err
	}
	if _, err := st.Account(stUser); err != nil {
		return nil, err
	}
	st.Close()
	files := map[string][]byte{}
	for _, name := range fsys.Files("") {
		b, err := stReadFile(fsys, name)
		if err != nil {
			return nil, err
		}
		files[name] = b
	}
	return files, nil
})

func stReadFile(fsys storage.FS, name string) ([]byte, error) {
	fh, err := fsys.Open(name)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	n, err := fh.Size()
	if err != nil {
		return nil, err
	}
	b := make([]byte, n)
	if n > 0 {
		if _, err := fh.ReadAt(b, 0); err != nil && err != io.EOF {
			return nil, err
		}
	}
	return b, nil
}

func stWriteFile(t fataler, fsys storage.FS, name string, b []byte) {
	fh, err := fsys.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fh.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := fh.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := fh.Close(); err != nil {
		t.Fatal(err)
	}
}

// stOpen opens INBOX on a new Store over fsys and returns its messages.
func stOpen(t fataler, fsys storage.FS, what string) (*storage.Store, *sm.Mailbox, sm.Account) {
	st, err := storage.Open(stConfig(fsys))
	if err != nil {
		t.Fatalf("%s: storage.Open: %v", what, err)
	}
	acct, err := st.Account(stUser)
	if err != nil {
		t.Fatalf("%s: Account: %v", what, err)
	}
	mb, err := acct.Open("INBOX")
	if err != nil {
		t.Fatalf("%s: opening INBOX: %v", what, err)
	}
	return st, mb, acct
}

func checkStorageOpen(t fataler, index, log, backup, log1, msg []byte) {
	tmpl, err := stTemplate()
	if err != nil {
		t.Fatal(err)
	}
	fsys := storage.NewMemFS(storage.MemFSOptions{})
	for _, d := range []string{"u/alice", stMboxDir + "/m"} {
		if err := fsys.MkdirAll(d); err != nil {
			t.Fatal(err)
		}
	}
	for name, b := range tmpl {
		stWriteFile(t, fsys, name, b)
	}
	for _, fl := range []struct {
		name string
		b    []byte
	}{{"index", index}, {"log", log}, {"index.backup", backup}, {"log.1", log1}} {
		if len(fl.b) > 0 {
			stWriteFile(t, fsys, stMboxDir+"/"+fl.name, fl.b)
		}
	}

	// What a checksum-verifying reader finds.
	v := newVerified()
	v.index(index)
	v.index(backup)
	v.log(log1)
	v.log(log)
	var orphan *vMsgFile
	if len(msg) > 0 {
		orphan = verifyMsgFile(msg)
		if orphan != nil {
			v.attest(stOrphan, vSource{size: orphan.size, date: orphan.date, flags: orphan.flags, hasFields: true, sysOnly: true})
		}
	}
	for uid := range v.byUID {
		if uid == stOrphan && len(msg) > 0 {
			continue
		}
		stWriteFile(t, fsys, fmt.Sprintf("%s/m/%d", stMboxDir, uid), []byte("x"))
	}
	if len(msg) > 0 {
		stWriteFile(t, fsys, fmt.Sprintf("%s/m/%d", stMboxDir, stOrphan), msg)
	}

	st, mb, _ := stOpen(t, fsys, "first open")
	snap := mb.Current()
	first := snap.Messages()
	describe := func() string {
		return fmt.Sprintf("index %q\nlog %q\nbackup %q\nlog.1 %q\nmsg %q\nverified: %s", index, log, backup, log1, msg, v)
	}
	for _, m := range first {
		if bad := v.check(m); bad != "" {
			t.Fatalf("message UID %d (flags %#x size %d date %d) %s\n%s", m.UID, m.Flags, m.Size, m.Date, bad, describe())
		}
		body, err := mb.Store.Message(m.UID)
		if err == nil {
			raw, _ := stReadFile(fsys, fmt.Sprintf("%s/m/%d", stMboxDir, m.UID))
			mf := verifyMsgFile(raw)
			if mf == nil || string(mf.body) != string(body) {
				t.Fatalf("Message(%d) returned %q from a message file that fails its checksums: %q\n%s", m.UID, body, raw, describe())
			}
		}
	}
	st.Close()

	st2, mb2, _ := stOpen(t, fsys, "second open")
	snap2 := mb2.Current()
	second := snap2.Messages()
	st2.Close()
	if len(first) != len(second) || snap.UIDValidity != snap2.UIDValidity {
		t.Fatalf("reopening changed the mailbox: %d messages (UIDVALIDITY %d), then %d (UIDVALIDITY %d)\n%v\n%v\n%s",
			len(first), snap.UIDValidity, len(second), snap2.UIDValidity, first, second, describe())
	}
	for i := range first {
		a, b := first[i], second[i]
		if a.UID != b.UID || a.Flags != b.Flags || a.Size != b.Size || a.Date != b.Date {
			t.Fatalf("reopening changed message %d: %+v, then %+v\n%s", i+1, a, b, describe())
		}
	}
	if snap2.HighestModSeq < snap.HighestModSeq || snap2.UIDNext < snap.UIDNext {
		t.Fatalf("reopening went back: HIGHESTMODSEQ %d → %d, UIDNEXT %d → %d\n%s", snap.HighestModSeq, snap2.HighestModSeq, snap.UIDNext, snap2.UIDNext, describe())
	}
}

// The verifying reader. It is written from the format description in
// storage's package documentation, independently of storage's decoders:
// it accepts every record whose CRC-32C (Castagnoli) holds, anywhere a
// record could start, without storage's further structural checks, so what
// it accepts is a superset of what storage may use.

var vCastagnoli = crc32.MakeTable(crc32.Castagnoli)

func vCRC(b ...[]byte) uint32 {
	var c uint32
	for _, p := range b {
		c = crc32.Update(c, vCastagnoli, p)
	}
	return c
}

var vle = binary.LittleEndian

// vSource is one verified record's claim about a message.
type vSource struct {
	size      uint32
	date      int64
	flags     sm.Flags
	hasFields bool // size and date are claimed (index, append, message file)
	sysOnly   bool // flags are the system flags only (message file)
}

type verified struct {
	byUID map[sm.UID][]vSource
}

func newVerified() *verified { return &verified{byUID: map[sm.UID][]vSource{}} }

func (v *verified) attest(uid sm.UID, s vSource) {
	v.byUID[uid] = append(v.byUID[uid], s)
}

func (v *verified) String() string {
	uids := make([]int, 0, len(v.byUID))
	for u := range v.byUID {
		uids = append(uids, int(u))
	}
	sort.Ints(uids)
	s := ""
	for _, u := range uids {
		s += strconv.Itoa(u) + fmt.Sprintf("%+v ", v.byUID[sm.UID(u)])
	}
	return s
}

// index reads an index file: header "MYRIDX01", uidvalidity, uidnext,
// modseq, count, nkw, hdrlen, reserved, keywords, CRC of the header; then
// 40-byte records {uid u32, size u32, flags u64, modseq u64, date i64,
// cacheoff u32, crc u32}. Records count only under a header that verifies
// (without it their offset is unknown).
func (v *verified) index(b []byte) {
	if len(b) < 44 || string(b[:8]) != "MYRIDX01" {
		return
	}
	hl := int(vle.Uint32(b[32:]))
	if hl < 44 || hl > len(b) || vle.Uint32(b[hl-4:]) != vCRC(b[:hl-4]) {
		return
	}
	for off := hl; off+40 <= len(b); off += 40 {
		r := b[off : off+40]
		if vle.Uint32(r[36:]) != vCRC(r[:36]) {
			continue
		}
		v.attest(sm.UID(vle.Uint32(r)), vSource{size: vle.Uint32(r[4:]), flags: sm.Flags(vle.Uint64(r[8:])), date: int64(vle.Uint64(r[24:])), hasFields: true})
	}
}

// log reads every record that verifies, at any offset: {length u32, type
// u8, modseq u64, crc u32} then the payload; the CRC covers the first 13
// header bytes and the payload. Append payload: n u32, n × {uid u32, size
// u32, flags u64, date i64}; flags payload: n u32, n × {uid u32, flags u64}.
func (v *verified) log(b []byte) {
	for off := 0; off+17 <= len(b); off++ {
		h := b[off:]
		n := uint64(vle.Uint32(h))
		if n > uint64(len(h)-17) {
			continue
		}
		body := h[17 : 17+n]
		if vle.Uint32(h[13:]) != vCRC(h[:13], body) {
			continue
		}
		if len(body) < 4 {
			continue
		}
		cnt := uint64(vle.Uint32(body))
		switch h[4] {
		case 1:
			if uint64(len(body)-4) != cnt*24 {
				continue
			}
			for i := 0; i < int(cnt); i++ {
				e := body[4+24*i:]
				v.attest(sm.UID(vle.Uint32(e)), vSource{size: vle.Uint32(e[4:]), flags: sm.Flags(vle.Uint64(e[8:])), date: int64(vle.Uint64(e[16:])), hasFields: true})
			}
		case 2:
			if uint64(len(body)-4) != cnt*12 {
				continue
			}
			for i := 0; i < int(cnt); i++ {
				e := body[4+12*i:]
				v.attest(sm.UID(vle.Uint32(e)), vSource{flags: sm.Flags(vle.Uint64(e[4:]))})
			}
		}
	}
}

// vMsgFile is a message file that verifies: header "MYRM", version 1, nkw,
// hdrlen u16, date i64, size u32, flags u32, bodycrc u32, reserved,
// keywords, CRC of the header; then size bytes of body with CRC bodycrc.
type vMsgFile struct {
	date  int64
	size  uint32
	flags sm.Flags
	body  []byte
}

func verifyMsgFile(b []byte) *vMsgFile {
	if len(b) < 36 || string(b[:4]) != "MYRM" || b[4] != 1 {
		return nil
	}
	hl := int(vle.Uint16(b[6:]))
	if hl < 36 || hl > len(b) || vle.Uint32(b[hl-4:]) != vCRC(b[:hl-4]) {
		return nil
	}
	body := b[hl:]
	size := vle.Uint32(b[16:])
	if uint64(len(body)) != uint64(size) || vCRC(body) != vle.Uint32(b[24:]) {
		return nil
	}
	return &vMsgFile{date: int64(vle.Uint64(b[8:])), size: size, flags: sm.Flags(vle.Uint32(b[20:])), body: body}
}

// check returns why m is not backed by verified records, or "".
func (v *verified) check(m sm.Message) string {
	src := v.byUID[m.UID]
	fields, flags := false, false
	for _, s := range src {
		if s.hasFields && s.size == m.Size && s.date == m.Date {
			fields = true
		}
		if s.sysOnly {
			if m.Flags&0xff == s.flags&0xff {
				flags = true
			}
		} else if s.flags == m.Flags {
			flags = true
		}
	}
	switch {
	case len(src) == 0:
		return "is backed by no record whose checksum holds"
	case !fields:
		return "has a size and date no verified record gives"
	case !flags:
		return "has flags no verified record gives"
	}
	return ""
}

// storageSeed is one set of mailbox files.
type storageSeed struct {
	name                                string
	index, log, backup, log1, msg, recs []byte
}

// storageSeeds makes valid mailbox files with storage itself: a mailbox
// whose state is all in the log; one checkpointed (index, index.backup,
// log.1, log); one with a message file whose log record is missing (the
// orphan that recovery re-adds); and a few damaged variants.
func storageSeeds(tb testing.TB) []storageSeed {
	var seeds []storageSeed
	read := func(fsys *storage.MemFS, name string) []byte {
		b, _ := stReadFile(fsys, stMboxDir+"/"+name)
		return b
	}
	build := func(rotate int64, n int, mutate bool) (*storage.MemFS, []byte) {
		fsys := storage.NewMemFS(storage.MemFSOptions{})
		if err := (storage.UsersFile{FS: fsys, Path: "users"}).Add(stUser, "PLAIN", "pw"); err != nil {
			tb.Fatal(err)
		}
		cfg := stConfig(fsys)
		cfg.LogRotateBytes = rotate
		st, err := storage.Open(cfg)
		if err != nil {
			tb.Fatal(err)
		}
		acct, err := st.Account(stUser)
		if err != nil {
			tb.Fatal(err)
		}
		var logBefore []byte
		for i := 1; i <= n; i++ {
			if i == n {
				logBefore = read(fsys, "log")
			}
			var flags []string
			switch i % 3 {
			case 1:
				flags = []string{`\Seen`}
			case 2:
				flags = []string{`\Flagged`, "$Label1"}
			}
			msg := fmt.Sprintf("Subject: message %d\r\nFrom: a@example.org\r\n\r\nbody %d\r\n", i, i)
			if _, err := acct.Append("INBOX", flags, 1_600_000_000+int64(i)*3600, []byte(msg)); err != nil {
				tb.Fatal(err)
			}
		}
		if mutate {
			mb, err := acct.Open("INBOX")
			if err != nil {
				tb.Fatal(err)
			}
			if _, err := mb.Store.Store([]sm.UID{1, 2}, sm.FlagsAdd, []string{`\Answered`, "$Forwarded"}, 0); err != nil {
				tb.Fatal(err)
			}
			if err := mb.Store.Expunge([]sm.UID{3}); err != nil {
				tb.Fatal(err)
			}
			if _, err := mb.Store.Store([]sm.UID{1}, sm.FlagsRemove, []string{`\Seen`}, 0); err != nil {
				tb.Fatal(err)
			}
			acct.Release(mb)
		}
		st.Close()
		if rotate > 0 {
			// Opening again checkpoints a log over the rotation size;
			// one more change and another open give index.backup too.
			for range 2 {
				st, err := storage.Open(cfg)
				if err != nil {
					tb.Fatal(err)
				}
				acct, _ := st.Account(stUser)
				mb, err := acct.Open("INBOX")
				if err != nil {
					tb.Fatal(err)
				}
				if _, err := mb.Store.Store([]sm.UID{2}, sm.FlagsAdd, []string{`\Deleted`}, 0); err != nil {
					tb.Fatal(err)
				}
				acct.Release(mb)
				st.Close()
			}
		}
		return fsys, logBefore
	}

	fsys, _ := build(-1, 4, true)
	seeds = append(seeds, storageSeed{name: "log-only", log: read(fsys, "log")})

	fsys, _ = build(64, 5, true)
	cp := storageSeed{name: "checkpointed", index: read(fsys, "index"), log: read(fsys, "log"), backup: read(fsys, "index.backup"), log1: read(fsys, "log.1")}
	seeds = append(seeds, cp)

	fsys, logBefore := build(-1, stOrphan, false)
	seeds = append(seeds, storageSeed{name: "orphan-message-file", log: logBefore, msg: read(fsys, fmt.Sprintf("m/%d", stOrphan))})

	// Damaged variants of the checkpointed mailbox.
	flip := func(b []byte, i int) []byte {
		c := append([]byte(nil), b...)
		if len(c) > 0 {
			c[i%len(c)] ^= 0x10
		}
		return c
	}
	bad := cp
	bad.name, bad.index = "index-bit-flip", flip(cp.index, 50)
	seeds = append(seeds, bad)
	bad = cp
	bad.name, bad.index, bad.backup = "index-and-backup-bad", flip(cp.index, 3), flip(cp.backup, len(cp.backup)-1)
	seeds = append(seeds, bad)
	bad = cp
	bad.name, bad.log = "torn-log-tail", cp.log[:max(0, len(cp.log)-5)]
	seeds = append(seeds, bad)
	bad = cp
	bad.name, bad.index = "no-index", nil
	seeds = append(seeds, bad)
	// Log programs: on their own, and after a checkpointed mailbox.
	prog := []byte{
		4, 0, 20, // UIDs: uidnext 21
		0, 0, 1, 0, 1, 0x21, 0, 2, 2, // append 1 (\Seen), 2 (\Answered $kw1), 3 (\Flagged)
		3, 1, 0, // keyword 1 = $Forwarded
		1, 1, 0x44, // flags 2 := \Deleted $kw2
		2, 0, 0, // expunge 1
		0x81, 1, 0, // flags 2 := none, with a stale modseq
		0, 0, 0x1f, // append 1 again, all system flags
	}
	seeds = append(seeds, storageSeed{name: "log-program", recs: prog})
	cpProg := cp
	cpProg.name, cpProg.recs = "checkpointed-then-program", prog
	seeds = append(seeds, cpProg)
	return seeds
}

// logProgram encodes recs, three bytes per record, as log records with
// valid checksums (the format of storage/format.go):
//
//	op%5 == 0: append UID 1+a%16 with flags f(b), size 10+uid, date 1.6e9+uid
//	op%5 == 1: flags of UID 1+a%16 := f(b)
//	op%5 == 2: expunge UID 1+a%16
//	op%5 == 3: keyword bit a%4 named by b%4
//	op%5 == 4: UIDs record, UIDVALIDITY of INBOX (or another when a&1), UIDNEXT 1+b%32
//
// f(b) is the system flags b&0x1f plus keyword bit (b>>5)%4 when b>>5 != 0.
// The modseq of record i is 1000+i, or 1 when op&0x80 (a stale record that
// breaks the log's modseq order, which storage never writes; finding F3,
// fixed: replay must still give the same state on every open).
func logProgram(recs []byte) []byte {
	var out []byte
	le := binary.LittleEndian
	flags := func(b byte) uint64 {
		f := uint64(b & 0x1f)
		if b>>5 != 0 {
			f |= 1 << (sm.KeywordBase + int(b>>5)%4)
		}
		return f
	}
	names := []string{"$Label1", "$Forwarded", "Junk", "$MDNSent"}
	for i := 0; i+3 <= len(recs) && i < 3*256; i += 3 {
		op, a, b := recs[i], recs[i+1], recs[i+2]
		modseq := uint64(1000 + i/3)
		if op&0x80 != 0 {
			modseq = 1
		}
		uid := uint32(1 + a%16)
		var typ byte
		var body []byte
		switch op & 0x7f % 5 {
		case 0:
			typ = 1
			body = le.AppendUint32(nil, 1)
			body = le.AppendUint32(body, uid)
			body = le.AppendUint32(body, 10+uid)
			body = le.AppendUint64(body, flags(b))
			body = le.AppendUint64(body, uint64(1_600_000_000+int64(uid)))
		case 1:
			typ = 2
			body = le.AppendUint32(nil, 1)
			body = le.AppendUint32(body, uid)
			body = le.AppendUint64(body, flags(b))
		case 2:
			typ = 3
			body = le.AppendUint32(nil, 1)
			body = le.AppendUint32(body, uid)
		case 3:
			typ = 4
			body = append([]byte{a % 4}, names[b%4]...)
		case 4:
			typ = 5
			uidv := uint32(stNow().Unix())
			if a&1 != 0 {
				uidv = 42
			}
			body = le.AppendUint32(nil, uidv)
			body = le.AppendUint32(body, uint32(1+b%32))
		}
		var h [17]byte
		le.PutUint32(h[0:], uint32(len(body)))
		h[4] = typ
		le.PutUint64(h[5:], modseq)
		le.PutUint32(h[13:], vCRC(h[:13], body))
		out = append(out, h[:]...)
		out = append(out, body...)
	}
	return out
}

func writeStorageSeeds(t *testing.T) {
	w := newSeedWriter(t, "FuzzStorageOpen")
	for _, s := range storageSeeds(t) {
		w.add(s.name, s.index, s.log, s.backup, s.log1, s.msg, s.recs)
	}
	w.done()
}
