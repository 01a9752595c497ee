package storage

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"testing"

	"github.com/myriad-mail/myriad/statemachine"
	"github.com/myriad-mail/myriad/statemachine/imapmime"
)

// mimeTestMessage returns a message whose structure depends on i: plain,
// multipart/mixed with an attachment, or multipart/alternative inside a
// message/rfc822.
func mimeTestMessage(i int) []byte {
	switch i % 3 {
	case 0:
		return fmt.Appendf(nil, "From: A <a@example.org>\r\nTo: b@example.org\r\nSubject: plain %d\r\nDate: Mon, 2 Jan 2026 10:00:00 +0000\r\nMessage-ID: <%d@x>\r\n\r\nHello %d\r\nline two\r\n", i, i, i)
	case 1:
		return fmt.Appendf(nil, "From: c@example.org\r\nSubject: mixed %d\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b%d\"\r\n\r\npreamble\r\n--b%d\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nbody %d\r\n--b%d\r\nContent-Type: application/octet-stream; name=\"a.bin\"\r\nContent-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename=\"a.bin\"\r\n\r\nAAECAwQF\r\n--b%d--\r\n", i, i, i, i, i, i)
	default:
		return fmt.Appendf(nil, "From: d@example.org\r\nSubject: fwd %d\r\nContent-Type: message/rfc822\r\n\r\nFrom: e@example.org\r\nSubject: inner\r\nContent-Type: multipart/alternative; boundary=q\r\n\r\n--q\r\nContent-Type: text/plain\r\n\r\nplain\r\n--q\r\nContent-Type: text/html\r\n\r\n<p>html</p>\r\n--q--\r\n", i)
	}
}

// structureOf renders what FETCH ENVELOPE BODYSTRUCTURE would send.
func structureOf(raw []byte, p *imapmime.Part) string {
	b := imapmime.AppendEnvelope(nil, raw, p)
	b = append(b, ' ')
	b = imapmime.AppendBodyStructure(b, raw, p, true)
	return string(b)
}

func checkStructures(t *testing.T, mbox *statemachine.Mailbox, what string) {
	t.Helper()
	sc := mbox.Store.(statemachine.StructureCache)
	for _, m := range mbox.Current().Messages() {
		raw, p, err := sc.MessageStructure(m.UID)
		if err != nil {
			t.Fatalf("%s: uid %d: %v", what, m.UID, err)
		}
		want := imapmime.Parse(raw)
		if !bytes.Equal(imapmime.AppendPart(nil, p), imapmime.AppendPart(nil, want)) || structureOf(raw, p) != structureOf(raw, want) {
			t.Fatalf("%s: uid %d: cached structure differs from imapmime.Parse", what, m.UID)
		}
	}
}

const mimeCachePath = "u/alice/mb0/cache"

// mimeCacheStore makes a MemFS whose INBOX holds n messages, all with a
// cache record, closed cleanly.
func mimeCacheStore(t *testing.T, n int) *MemFS {
	fsys := NewMemFS(MemFSOptions{Seed: 1})
	s := newTestStore(t, fsys, nil)
	a := login(t, s, "alice")
	for i := range n {
		if _, err := a.Append("INBOX", nil, int64(i), mimeTestMessage(i)); err != nil {
			t.Fatal(err)
		}
	}
	mbox, err := a.Open("INBOX")
	if err != nil {
		t.Fatal(err)
	}
	checkStructures(t, mbox, "first parse")
	a.Release(mbox)
	s.Close()
	return fsys
}

func TestMimeCacheRoundTrip(t *testing.T) {
	fsys := mimeCacheStore(t, 12)
	size := fsys.FileSize(mimeCachePath)
	if size <= mimeCacheHeaderLen {
		t.Fatalf("cache file has %d bytes", size)
	}
	s := newTestStore(t, fsys, func(c *Config) { c.LogRotateBytes = 600 })
	a := login(t, s, "alice")
	mbox, err := a.Open("INBOX")
	if err != nil {
		t.Fatal(err)
	}
	mb := mbox.Store.(*mailbox)
	if len(mb.mc) != 12 {
		t.Fatalf("%d cache records loaded, want 12", len(mb.mc))
	}
	checkStructures(t, mbox, "from the cache")
	if got := fsys.FileSize(mimeCachePath); got != size {
		t.Fatalf("served from the cache, yet the file grew from %d to %d", size, got)
	}
	// An expunge and enough changes to rewrite the index rewrite the
	// cache without the expunged records.
	if err := mbox.Store.Expunge([]statemachine.UID{2, 5}); err != nil {
		t.Fatal(err)
	}
	for i := 0; fsys.FileSize("u/alice/mb0/log.1") < 0; i++ {
		if _, err := mbox.Store.Store([]statemachine.UID{1}, statemachine.FlagOp(i%2+1), []string{`\Seen`}, 0); err != nil {
			t.Fatal(err)
		}
	}
	b, _ := readFile(fsys, mimeCachePath)
	recs, damaged := decodeMimeCache(b, mbox.Current().UIDValidity)
	if damaged || len(recs) != 10 || recs[2].payload != nil || recs[5].payload != nil {
		t.Fatalf("after the index rewrite: %d records, damaged %v", len(recs), damaged)
	}
	checkStructures(t, mbox, "after the rewrite")
}

// TestMimeCacheCorruption flips bits in and truncates the cache file at
// random offsets: open never fails or panics and MessageStructure always
// returns the structure imapmime.Parse finds; the damaged file is rewritten.
func TestMimeCacheCorruption(t *testing.T) {
	base := mimeCacheStore(t, 30)
	size := base.FileSize(mimeCachePath)
	iters := 400
	if testing.Short() {
		iters = 60
	}
	for it := range iters {
		rng := rand.New(rand.NewPCG(uint64(it), 5))
		fsys := base.Clone(uint64(it))
		switch rng.IntN(3) {
		case 0:
			if err := fsys.Chop(mimeCachePath, rng.Int64N(size)); err != nil {
				t.Fatal(err)
			}
		default:
			for range 1 + rng.IntN(4) {
				if err := fsys.FlipBit(mimeCachePath, rng.Int64N(size*8)); err != nil {
					t.Fatal(err)
				}
			}
		}
		s := newTestStore(t, fsys, nil)
		a := login(t, s, "alice")
		mbox, err := a.Open("INBOX")
		if err != nil {
			t.Fatalf("iteration %d: open: %v", it, err)
		}
		checkStructures(t, mbox, fmt.Sprintf("iteration %d", it))
		a.Release(mbox)
		s.Close()
		// Everything was re-parsed and written again: a second open
		// serves every message from the cache.
		s = newTestStore(t, fsys, nil)
		a = login(t, s, "alice")
		mbox, err = a.Open("INBOX")
		if err != nil {
			t.Fatal(err)
		}
		if n := len(mbox.Store.(*mailbox).mc); n != 30 {
			t.Fatalf("iteration %d: second open has %d cache records, want 30", it, n)
		}
		checkStructures(t, mbox, fmt.Sprintf("iteration %d, second open", it))
		s.Close()
	}
}

// TestMimeCacheWrongRecord plants records whose checksums hold but that do
// not fit: another message's length, or a file of another UIDVALIDITY.
// They are never loaded. (A record with the right UID and length is
// trusted once its CRC holds: UIDs are not reused and message files never
// change.)
func TestMimeCacheWrongRecord(t *testing.T) {
	fsys := mimeCacheStore(t, 6)
	s := newTestStore(t, fsys, nil)
	a := login(t, s, "alice")
	mbox, _ := a.Open("INBOX")
	uidv := mbox.Current().UIDValidity
	s.Close()
	for _, c := range []struct {
		uidv  uint32
		delta int
	}{{uidv, 1}, {uidv, -1}, {uidv + 1, 0}} {
		b := encodeMimeCacheHeader(c.uidv)
		for u := statemachine.UID(1); u <= 6; u++ {
			raw := mimeTestMessage(int(u) - 1)
			b = appendMimeRecord(b, u, uint32(len(raw)+c.delta), imapmime.AppendPart(nil, imapmime.Parse(mimeTestMessage(int(u)))))
		}
		if err := writeFileAtomic(fsys, "u/alice/mb0", "cache", "", b); err != nil {
			t.Fatal(err)
		}
		s = newTestStore(t, fsys, nil)
		mbox, _ = login(t, s, "alice").Open("INBOX")
		if n := len(mbox.Store.(*mailbox).mc); n != 0 {
			t.Fatalf("%+v: %d wrong records loaded", c, n)
		}
		checkStructures(t, mbox, "planted records")
		s.Close()
	}
}

// BenchmarkFetchStructure: ENVELOPE and BODYSTRUCTURE of a message, from
// the MIME cache or by re-parsing (the body is in memory in both cases).
func BenchmarkFetchStructure(b *testing.B) {
	var fsys FS = NewMemFS(MemFSOptions{Seed: 1})
	if d := os.Getenv("STORAGE_BENCH_DIR"); d != "" {
		o, err := NewOSFS(b.TempDir())
		if err != nil {
			b.Fatal(err)
		}
		fsys = o
	}
	s := newTestStore(b, fsys, nil)
	a := login(b, s, "alice")
	big := append(mimeTestMessage(1), bytes.Repeat([]byte("filler line of a long message body\r\n"), 1500)...) // ~ 55 KB
	att := []byte("From: f@example.org\r\nSubject: attachment\r\nContent-Type: multipart/mixed; boundary=z\r\n\r\n--z\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n--z\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n")
	att = append(att, bytes.Repeat([]byte("QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2d3h5ejAxMjM0\r\n"), 11800)...) // ~ 900 KB
	att = append(att, "--z--\r\n"...)
	msgs := [][]byte{mimeTestMessage(0), mimeTestMessage(1), mimeTestMessage(2), big, att}
	for i := range msgs {
		if _, err := a.Append("INBOX", nil, int64(i), msgs[i]); err != nil {
			b.Fatal(err)
		}
	}
	mbox, _ := a.Open("INBOX")
	mb := mbox.Store.(*mailbox)
	for i, name := range []string{"plain", "multipart", "rfc822", "55KB", "900KB"} {
		uid := statemachine.UID(i + 1)
		mb.MessageStructure(uid)
		var out []byte
		b.Run(name+"/cache", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				raw, p, err := mb.MessageStructure(uid)
				if err != nil {
					b.Fatal(err)
				}
				out = imapmime.AppendBodyStructure(imapmime.AppendEnvelope(out[:0], raw, p), raw, p, true)
			}
		})
		b.Run(name+"/parse", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				raw, err := mb.Message(uid)
				if err != nil {
					b.Fatal(err)
				}
				p := imapmime.Parse(raw)
				out = imapmime.AppendBodyStructure(imapmime.AppendEnvelope(out[:0], raw, p), raw, p, true)
			}
		})
	}
	s.Close()
}

// TestMimeCacheConcurrent: sessions read structures while others STORE,
// EXPUNGE and APPEND, with index (and cache) rewrites every few hundred
// bytes of log; run it with -race.
func TestMimeCacheConcurrent(t *testing.T) {
	fsys := NewMemFS(MemFSOptions{Seed: 2})
	s := newTestStore(t, fsys, func(c *Config) { c.LogRotateBytes = 500 })
	a := login(t, s, "alice")
	for i := range 40 {
		if _, err := a.Append("INBOX", nil, int64(i), mimeTestMessage(i)); err != nil {
			t.Fatal(err)
		}
	}
	mbox, err := a.Open("INBOX")
	if err != nil {
		t.Fatal(err)
	}
	sc := mbox.Store.(statemachine.StructureCache)
	done := make(chan string, 6)
	for g := range 6 {
		go func() {
			rng := rand.New(rand.NewPCG(uint64(g), 9))
			for i := range 150 {
				u := statemachine.UID(1 + rng.IntN(40+i/4))
				switch g % 3 {
				case 0, 1:
					raw, p, err := sc.MessageStructure(u)
					if err != nil {
						continue // expunged, or not appended yet
					}
					if !bytes.Equal(imapmime.AppendPart(nil, p), imapmime.AppendPart(nil, imapmime.Parse(raw))) {
						done <- fmt.Sprintf("uid %d: structure differs", u)
						return
					}
				default:
					if rng.IntN(4) == 0 {
						mbox.Store.Expunge([]statemachine.UID{u})
					} else if rng.IntN(3) == 0 {
						a.Append("INBOX", nil, 0, mimeTestMessage(i))
					} else {
						mbox.Store.Store([]statemachine.UID{u}, statemachine.FlagsAdd, []string{`\Seen`}, 0)
					}
				}
			}
			done <- ""
		}()
	}
	for range 6 {
		if v := <-done; v != "" {
			t.Fatal(v)
		}
	}
	a.Release(mbox)
	s.Close()
	s = newTestStore(t, fsys, nil)
	mbox, _ = login(t, s, "alice").Open("INBOX")
	checkStructures(t, mbox, "after reopen")
	s.Close()
}
