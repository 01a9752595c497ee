package storage

import (
	"hash/crc32"
	"sync"

	"github.com/myriad-mail/myriad/statemachine"
)

// Resynchronisation after a damaged log record (finding F4 in
// docs/FUZZING.md). scanLog must try every offset after the damage, since
// a record can start anywhere. Hashing each candidate's whole claimed
// length made that quadratic: a log repeating 00 00 01 00 01 claims a 64 KiB
// record at every fifth byte, and a 2 MiB log took 10 s to open (4 MiB, the
// rotation size, far longer). Two
// things bound it now, neither of which changes what is accepted:
//
//   - a candidate must pass, before any hashing, every structural check
//     decodeLogRecord makes after its CRC (type known, length consistent
//     with the type, an entry count that matches the length): most offsets
//     inside real records and all of that pattern's fail here;
//   - a candidate that passes is checked against its CRC in time that does
//     not depend on its length: the CRC-32C of any window of the log is
//     derived from CRCs of prefixes taken every resyncStride bytes (one
//     pass over the log, made when the first long candidate shows up) and
//     combined algebraically (CRC is linear over GF(2); the same algebra as
//     zlib's crc32_combine). A candidate then hashes at most
//     13 + max(2×resyncStride, resyncDirectMax) bytes plus a few
//     multiplications in GF(2)[x]/P.
//
// So a resync over n bytes hashes O(n) bytes whatever the bytes are (the
// prefix pass plus at most 269 per candidate, and at most one candidate
// per byte); TestResyncBounded asserts it with counters, not with time.

const (
	resyncStride    = 64  // bytes between prefix CRCs (memory: len/16)
	resyncDirectMax = 256 // payloads up to this are simply hashed
	castagnoliRefl  = 0x82f63b78
)

// resyncStats counts the work of resynchronisation, for tests.
type resyncStats struct {
	candidates int // offsets that passed the structural checks
	hashed     int // bytes fed to CRC-32C while resynchronising
}

// plausible reports whether b starts with a record header whose length and
// type, and the first payload bytes, pass every structural check of
// decodeLogRecord and logRecord.valid except the CRC and the keyword's
// characters. It reads at most 22 bytes.
func plausible(b []byte) bool {
	if len(b) < logHeaderLen {
		return false
	}
	n := uint64(le.Uint32(b))
	if n > logMaxPayload || uint64(len(b)-logHeaderLen) < n {
		return false
	}
	body := b[logHeaderLen:]
	count := func(entry uint64) bool {
		return n >= 4 && (n-4)%entry == 0 && uint64(le.Uint32(body)) == (n-4)/entry
	}
	switch b[4] {
	case recAppend:
		return count(recAppendEntry)
	case recFlags:
		return count(recFlagsEntry)
	case recExpunge:
		return count(recExpungeEntry)
	case recKeyword:
		return n >= 2 && n <= 1+maxKeywordLength && int(body[0]) < statemachine.MaxKeywords
	case recUIDs:
		return n == 8
	}
	return false
}

// resyncer finds the next offset at which a valid record starts.
type resyncer struct {
	b      []byte
	prefix []uint32 // prefix[k] = CRC-32C of b[:k*resyncStride]; built on demand
	stats  resyncStats
}

// next returns the first offset p > off at which a record that
// decodeLogRecord accepts starts, or -1.
func (r *resyncer) next(off int) int {
	b := r.b
	for p := off + 1; p+logHeaderLen <= len(b); p++ {
		if !plausible(b[p:]) {
			continue
		}
		r.stats.candidates++
		n := int(le.Uint32(b[p:]))
		if r.recordCRC(p, n) != le.Uint32(b[p+13:]) {
			continue
		}
		if _, _, err := decodeLogRecord(b[p:]); err == nil {
			return p
		}
	}
	return -1
}

// recordCRC is the CRC a record at p with payload length n must carry:
// CRC-32C of its first 13 bytes followed by its payload.
func (r *resyncer) recordCRC(p, n int) uint32 {
	h := crc(r.b[p : p+13])
	r.stats.hashed += 13
	return crcCombine(h, r.window(p+logHeaderLen, p+logHeaderLen+n), n)
}

// window returns the CRC-32C of b[i:j].
func (r *resyncer) window(i, j int) uint32 {
	if j-i <= resyncDirectMax {
		r.stats.hashed += j - i
		return crc(r.b[i:j])
	}
	if r.prefix == nil {
		r.prefix = make([]uint32, len(r.b)/resyncStride+1)
		var c uint32
		for k := 1; k < len(r.prefix); k++ {
			c = crc32.Update(c, castagnoli, r.b[(k-1)*resyncStride:k*resyncStride])
			r.prefix[k] = c
		}
		r.stats.hashed += (len(r.prefix) - 1) * resyncStride
	}
	ki, kj := (i+resyncStride-1)/resyncStride, j/resyncStride // i ≤ ki·s ≤ kj·s ≤ j
	a, z := ki*resyncStride, kj*resyncStride
	// CRC(b[:z]) = CRC(b[:a]) shifted over z-a bytes, xor CRC(b[a:z]).
	mid := r.prefix[kj] ^ gfMul(x8n(z-a), r.prefix[ki])
	r.stats.hashed += (a - i) + (j - z)
	c := crcCombine(crc(r.b[i:a]), mid, z-a)
	return crcCombine(c, crc(r.b[z:j]), j-z)
}

// crcCombine returns the CRC-32C of A‖B from c1 = CRC(A), c2 = CRC(B) and
// n = len(B): CRC(A‖B) = CRC(A)·x^(8n) mod P xor CRC(B). (The initial and
// final inversions of the standard CRC cancel in this identity.)
func crcCombine(c1, c2 uint32, n int) uint32 {
	if n == 0 {
		return c1
	}
	return gfMul(x8n(n), c1) ^ c2
}

// gfMul multiplies a and b in GF(2)[x] modulo the Castagnoli polynomial,
// both in the reflected representation (bit 31 is x^0).
func gfMul(a, b uint32) uint32 {
	var p uint32
	for m := uint32(1) << 31; m != 0 && a != 0; m >>= 1 {
		if a&m != 0 {
			p ^= b
			a ^= m
		}
		if b&1 != 0 {
			b = b>>1 ^ castagnoliRefl
		} else {
			b >>= 1
		}
	}
	return p
}

// x8nTables[k][v] = x^(8·v·256^k) mod P.
var x8nTables = sync.OnceValue(func() *[4][256]uint32 {
	var t [4][256]uint32
	one, x8 := uint32(1)<<31, uint32(1)<<31
	for range 8 {
		x8 = gfMul(x8, 1<<30) // multiply by x
	}
	step := x8 // x^(8·256^k)
	for k := range 4 {
		t[k][0] = one
		for v := 1; v < 256; v++ {
			t[k][v] = gfMul(t[k][v-1], step)
		}
		step = gfMul(t[k][255], step)
	}
	return &t
})

// x8n returns x^(8n) mod P, the factor that shifts a CRC over n bytes.
func x8n(n int) uint32 {
	t := x8nTables()
	u := uint32(n)
	p := t[0][u&0xff]
	for k := 1; k < 4 && u>>(8*k) != 0; k++ {
		p = gfMul(p, t[k][u>>(8*k)&0xff])
	}
	return p
}
