package storage

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/myriad-mail/myriad/statemachine"
)

func TestLogRecordRoundTrip(t *testing.T) {
	msgs := []statemachine.Message{{UID: 7, Flags: statemachine.FlagSeen | 1<<statemachine.KeywordBase, Size: 1234, Date: -5}, {UID: 9, Flags: 0, Size: 1, Date: 1 << 40}}
	var b []byte
	b = appendLogRecord(b, recAppend, 42, encodeAppendBody(msgs))
	b = appendLogRecord(b, recFlags, 43, encodeFlagsBody(msgs))
	b = appendLogRecord(b, recExpunge, 44, encodeUIDsBody([]statemachine.UID{7, 9}))
	b = appendLogRecord(b, recKeyword, 44, append([]byte{3}, "$Junk"...))
	b = appendLogRecord(b, recUIDs, 45, le.AppendUint32(le.AppendUint32(nil, 77), 10))
	if want := 5*logHeaderLen + (4 + 2*recAppendEntry) + (4 + 2*recFlagsEntry) + (4 + 2*4) + 6 + 8; len(b) != want {
		t.Fatalf("encoded length %d, want %d", len(b), want)
	}
	// Frozen layout: length, type, modseq, CRC32C, payload.
	if got := fmt.Sprintf("% x", b[:logHeaderLen]); got != "34 00 00 00 01 2a 00 00 00 00 00 00 00 "+fmt.Sprintf("% x", le.AppendUint32(nil, crc(b[:13], b[17:17+0x34]))) {
		t.Fatalf("header bytes: %s", got)
	}
	var recs []logRecord
	for off := 0; off < len(b); {
		r, n, err := decodeLogRecord(b[off:])
		if err != nil {
			t.Fatalf("decode at %d: %v", off, err)
		}
		recs = append(recs, r)
		off += n
	}
	ms := decodeAppendBody(recs[0].body, recs[0].modseq)
	for i := range ms {
		msgs[i].ModSeq = 42
	}
	if !slices.Equal(ms, msgs) {
		t.Fatalf("append: %+v", ms)
	}
	if f := decodeFlagsBody(recs[1].body); len(f) != 2 || f[0].uid != 7 || f[0].flags != msgs[0].Flags {
		t.Fatalf("flags: %+v", f)
	}
	if u := decodeUIDsBody(recs[2].body); !slices.Equal(u, []statemachine.UID{7, 9}) {
		t.Fatalf("expunge: %v", u)
	}
	if recs[3].body[0] != 3 || string(recs[3].body[1:]) != "$Junk" || recs[4].modseq != 45 {
		t.Fatal("keyword/uids")
	}
	// Every single-bit flip and every truncation is detected.
	for bit := range len(b) * 8 {
		c := bytes.Clone(b)
		c[bit/8] ^= 1 << (bit % 8)
		rep := &recovery{}
		recs2, _ := scanLog(c, "log", rep)
		if len(recs2) != 4 || len(rep.lines) != 1 {
			t.Fatalf("bit %d: %d records, findings %v", bit, len(recs2), rep.lines)
		}
	}
	for n := range len(b) {
		if _, _, err := decodeLogRecord(b[:n]); n < logHeaderLen+0x34 && !errors.Is(err, errCorrupt) {
			t.Fatalf("truncated to %d: %v", n, err)
		}
	}
}

func TestIndexRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var msgs []statemachine.Message
	for i := range 100 {
		msgs = append(msgs, statemachine.Message{UID: statemachine.UID(i*3 + 1), Flags: statemachine.Flags(rng.Uint64()), ModSeq: uint64(i + 1), Size: rng.Uint32(), Date: rng.Int64()})
	}
	snap := statemachine.NewSnapshot(99, 400, 500, []string{"a", "$Label1"}, msgs)
	b := encodeIndex(snap)
	h, off, err := decodeIndexHeader(b)
	if err != nil || h.uidValidity != 99 || h.uidNext != 400 || h.modseq != 500 || h.count != 100 || !slices.Equal(h.keywords, []string{"a", "$Label1"}) {
		t.Fatalf("header: %+v %v", h, err)
	}
	if len(b) != off+100*indexRecordLen {
		t.Fatalf("length %d", len(b))
	}
	for i := range msgs {
		m, ok := decodeIndexRecord(b[off+i*indexRecordLen:])
		if !ok || m != msgs[i] {
			t.Fatalf("record %d: %+v", i, m)
		}
	}
	fsys := NewMemFS(MemFSOptions{})
	fsys.MkdirAll("d")
	writeFileAtomic(fsys, "d", "index", "", b)
	x, _ := loadIndex(fsys, "d/index")
	if !x.whole() || !slices.Equal(x.msgs, msgs) {
		t.Fatal("loadIndex")
	}
	// A flipped bit in a record costs that record only, and marks a gap.
	fsys.FlipBit("d/index", int64(off+5*indexRecordLen+3)*8)
	x, _ = loadIndex(fsys, "d/index")
	if x.whole() || x.bad != 1 || len(x.msgs) != 99 || len(x.gaps) != 1 || x.gaps[0] != [2]statemachine.UID{13, 19} {
		t.Fatalf("after flip: bad %d msgs %d gaps %v", x.bad, len(x.msgs), x.gaps)
	}
}

func TestMsgHeaderRoundTrip(t *testing.T) {
	h := msgHeader{date: 1234567, size: 99, flags: statemachine.FlagSeen | statemachine.FlagDraft, bodyCRC: 0xdeadbeef, keywords: []string{"$Label1", "x"}}
	b := encodeMsgHeader(h)
	g, err := decodeMsgHeader(append(b, make([]byte, 99)...))
	h.hdrLen = len(b)
	if err != nil || g.date != h.date || g.size != h.size || g.flags != h.flags || g.bodyCRC != h.bodyCRC || !slices.Equal(g.keywords, h.keywords) || g.hdrLen != h.hdrLen {
		t.Fatalf("got %+v %v", g, err)
	}
	for bit := range len(b) * 8 {
		c := bytes.Clone(b)
		c[bit/8] ^= 1 << (bit % 8)
		if _, err := decodeMsgHeader(c); err == nil {
			t.Fatalf("bit %d flip not detected", bit)
		}
	}
}

func TestSealedRoundTrip(t *testing.T) {
	boxes := []mboxEntry{{id: 0, name: "INBOX", uidv: 5}, {id: 3, name: "a/b", attrs: statemachine.AttrNoSelect, uidv: 9}}
	b := encodeMailboxList(4, 10, boxes)
	nid, nuv, got, err := decodeMailboxList(b)
	if err != nil || nid != 4 || nuv != 10 || !slices.Equal(got, boxes) {
		t.Fatalf("mailbox list: %v %v", got, err)
	}
	subs := []string{"INBOX", "x/y"}
	s, err := decodeSubs(encodeSubs(subs))
	if err != nil || !slices.Equal(s, subs) {
		t.Fatal("subscriptions")
	}
	for bit := range len(b) * 8 {
		c := bytes.Clone(b)
		c[bit/8] ^= 1 << (bit % 8)
		if _, _, _, err := decodeMailboxList(c); err == nil {
			t.Fatalf("bit %d flip not detected", bit)
		}
	}
}

func TestMemFSCrash(t *testing.T) {
	m := NewMemFS(MemFSOptions{Seed: 1})
	m.MkdirAll("d")
	m.SyncDir("")
	f, _ := m.Create("d/a")
	f.Write([]byte("hello"))
	f.Sync()
	f.Write([]byte(" world"))
	g, _ := m.Create("d/b")
	g.Write([]byte("x"))
	g.Sync()
	m.Crash()
	if _, err := f.Write([]byte("!")); !errors.Is(err, ErrCrashed) {
		t.Fatalf("old handle: %v", err)
	}
	if m.FileSize("d/a") != -1 || m.FileSize("d/b") != -1 {
		t.Fatal("entries of an unsynced directory survived")
	}
	f, _ = m.Create("d/a")
	f.Write([]byte("hello"))
	f.Sync()
	m.SyncDir("d")
	f.Write([]byte(" world"))
	m.Rename("d/a", "d/c")
	m.Crash()
	if b, _ := readFile(m, "d/a"); string(b) != "hello" || m.FileSize("d/c") != -1 {
		t.Fatalf("after crash: %q", b)
	}
	// Torn writes keep a prefix of the unsynced tail; deterministic per seed.
	run := func(seed uint64) string {
		m := NewMemFS(MemFSOptions{Seed: seed, TornWrites: true})
		f, _ := m.Create("a")
		m.SyncDir("")
		f.Write([]byte("abc"))
		f.Sync()
		f.Write([]byte("defghijklmnop"))
		m.Crash()
		b, _ := readFile(m, "a")
		return string(b)
	}
	seen := map[string]bool{}
	for seed := range 40 {
		r := run(uint64(seed))
		if r != run(uint64(seed)) {
			t.Fatal("not deterministic")
		}
		if len(r) < 3 || "abcdefghijklmnop"[:len(r)] != r {
			t.Fatalf("torn result %q", r)
		}
		seen[r] = true
	}
	if len(seen) < 5 {
		t.Fatalf("torn writes too uniform: %v", seen)
	}
}
