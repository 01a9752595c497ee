package storage

import (
	"bytes"
	"math/rand/v2"
	"testing"

	"github.com/myriad-mail/myriad/statemachine"
)

// TestWindowCRC checks the CRC algebra of resync.go against hashing.
func TestWindowCRC(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	b := make([]byte, 20_000)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	r := &resyncer{b: b}
	for range 2000 {
		i := rng.IntN(len(b))
		j := i + rng.IntN(len(b)-i+1)
		if got, want := r.window(i, j), crc(b[i:j]); got != want {
			t.Fatalf("window(%d, %d) = %#x, want %#x", i, j, got, want)
		}
		if j-i >= 13 {
			if got, want := crcCombine(crc(b[i:i+7]), crc(b[i+7:j]), j-i-7), crc(b[i:j]); got != want {
				t.Fatalf("crcCombine over %d+%d bytes = %#x, want %#x", 7, j-i-7, got, want)
			}
		}
	}
	for _, n := range []int{0, 1, 255, 256, 257, 65536, 100_003} {
		// Shifting a CRC over n bytes of zeros is what hashing them does.
		z := make([]byte, n)
		if got, want := crcCombine(crc([]byte("abc")), crc(z), n), crc([]byte("abc"), z); got != want {
			t.Fatalf("shift over %d zero bytes: %#x, want %#x", n, got, want)
		}
	}
	for range 200 { // the tables for large lengths: x^(8(a+b)) = x^(8a)·x^(8b)
		a, b := rng.IntN(1<<31), rng.IntN(1<<31)
		if got, want := x8n(a+b), gfMul(x8n(a), x8n(b)); got != want {
			t.Fatalf("x8n(%d+%d) = %#x, want %#x", a, b, got, want)
		}
	}
}

// naiveNext is the resynchronisation before F4 was fixed: every offset,
// each hashed over its whole claimed length. TestResyncSameAnswer checks
// that the bounded one accepts exactly what it accepted.
func naiveNext(b []byte, off int) int {
	for p := off + 1; p+logHeaderLen <= len(b); p++ {
		if _, _, err := decodeLogRecord(b[p:]); err == nil {
			return p
		}
	}
	return -1
}

// TestResyncSameAnswer damages real logs (bit flips, zeroed runs, spliced
// bytes) and compares the bounded resynchronisation with the naive one at
// every offset where a resync may start.
func TestResyncSameAnswer(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	var log []byte
	for i := range 400 {
		m := uint64(1000 + i)
		switch i % 5 {
		case 0, 1:
			n := 1 + rng.IntN(30) // up to 724-byte payloads: both CRC paths
			msgs := make([]statemachine.Message, n)
			for k := range msgs {
				msgs[k] = statemachine.Message{UID: statemachine.UID(i*40 + k + 1), Size: uint32(rng.IntN(5000)), Flags: statemachine.Flags(rng.Uint64() & 0x3ff), Date: 1_700_000_000}
			}
			log = appendLogRecord(log, recAppend, m, encodeAppendBody(msgs))
		case 2:
			log = appendLogRecord(log, recFlags, m, encodeFlagsBody([]statemachine.Message{{UID: statemachine.UID(i), Flags: statemachine.FlagSeen}}))
		case 3:
			log = appendLogRecord(log, recExpunge, m, encodeUIDsBody([]statemachine.UID{statemachine.UID(i), statemachine.UID(i + 1)}))
		case 4:
			log = appendLogRecord(log, recKeyword, m, append([]byte{byte(i % 60)}, "$Label"...))
		}
	}
	for it := range 40 {
		b := bytes.Clone(log)
		for range 1 + rng.IntN(20) {
			p := rng.IntN(len(b))
			switch rng.IntN(3) {
			case 0:
				b[p] ^= 1 << rng.IntN(8)
			case 1:
				clear(b[p:min(len(b), p+rng.IntN(300))])
			case 2:
				q := rng.IntN(len(b))
				copy(b[p:], b[q:min(len(b), q+rng.IntN(200))])
			}
		}
		r := &resyncer{b: b}
		for off := 0; off < len(b); off += 1 + rng.IntN(97) {
			if got, want := r.next(off), naiveNext(b, off); got != want {
				t.Fatalf("iteration %d: resync from %d found %d, the naive scan %d", it, off, got, want)
			}
		}
	}
}

// TestResyncBounded is finding F4: logs built to make resynchronisation
// hash a long record at every offset. The work (bytes hashed, candidates
// that reached a CRC check) must stay linear in the log's size; wall time
// is not measured.
func TestResyncBounded(t *testing.T) {
	const size = 4 << 20 // the default rotation size
	// F4's pattern: a 64 KiB append header at every fifth byte (its length
	// does not fit an append's entries, so no CRC is computed at all).
	f4 := bytes.Repeat([]byte{0, 0, 1, 0, 1}, size/5)
	// A pattern that passes every structural check: every 32 bytes a
	// header claiming an append of 20,000 entries (480,004 bytes) whose
	// count matches, and a wrong CRC.
	var unit [32]byte
	le.PutUint32(unit[0:], 4+20_000*recAppendEntry)
	unit[4] = recAppend
	le.PutUint64(unit[5:], 77)
	le.PutUint32(unit[13:], 0xdeadbeef)
	le.PutUint32(unit[17:], 20_000)
	crafted := bytes.Repeat(unit[:], size/len(unit))
	for _, tc := range []struct {
		name          string
		b             []byte
		maxCandidates int
	}{
		{"00 00 01 00 01", f4, 0},
		{"plausible headers every 32 bytes", crafted, size / len(unit)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// A valid record first, then the crafted bytes, then one more
			// valid record that resynchronisation must still find.
			good := appendLogRecord(nil, recFlags, 5, encodeFlagsBody([]statemachine.Message{{UID: 1, Flags: statemachine.FlagSeen}}))
			last := appendLogRecord(nil, recFlags, 6, encodeFlagsBody([]statemachine.Message{{UID: 1, Flags: statemachine.FlagFlagged}}))
			b := append(append(append(bytes.Clone(good), 0xff), tc.b...), last...)
			rep := &recovery{}
			recs, valid := scanLog(b, "log", rep)
			if len(recs) != 2 || recs[1].modseq != 6 || valid != len(b) {
				t.Fatalf("found %d records (valid prefix %d of %d), want the two real ones", len(recs), valid, len(b))
			}
			// Linear: one pass of prefix CRCs plus a bounded amount per
			// candidate. The naive scan would hash ~480 KB per candidate.
			limit := len(b) + rep.resync.candidates*(13+max(2*resyncStride, resyncDirectMax))
			t.Logf("%d bytes: %d candidates, %d bytes hashed (limit %d)", len(b), rep.resync.candidates, rep.resync.hashed, limit)
			if rep.resync.candidates > tc.maxCandidates+1 {
				t.Errorf("%d candidates reached a CRC check, want at most %d", rep.resync.candidates, tc.maxCandidates+1)
			}
			if rep.resync.hashed > limit || rep.resync.hashed > 8*len(b) {
				t.Errorf("hashed %d bytes for a %d-byte log: not linear", rep.resync.hashed, len(b))
			}
		})
	}
}
