package storage

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
	"unicode/utf8"

	"github.com/myriad-mail/myriad/statemachine"
)

// The constants below are part of the on-disk formats drawn in doc.go and must
// not be changed; a new format gets a new magic or version.

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func crc(b ...[]byte) uint32 {
	var c uint32
	for _, p := range b {
		c = crc32.Update(c, castagnoli, p)
	}
	return c
}

var le = binary.LittleEndian

// Log records.
const (
	logHeaderLen     = 17       // length u32, type u8, modseq u64, crc u32
	logMaxPayload    = 16 << 20 // a length above this is corruption
	recAppend        = 1        // n u32, n × {uid u32, size u32, flags u64, date i64}
	recFlags         = 2        // n u32, n × {uid u32, flags u64}
	recExpunge       = 3        // n u32, n × uid u32
	recKeyword       = 4        // bit index u8, name
	recUIDs          = 5        // uidvalidity u32, uidnext u32
	recAppendEntry   = 24
	recFlagsEntry    = 12
	recExpungeEntry  = 4
	maxKeywordLength = 250
)

// Index.
const (
	indexMagic     = "MYRIDX01"
	indexFixedLen  = 40 // magic 8, uidvalidity 4, uidnext 4, modseq 8, count 4, nkw 4, hdrlen 4, reserved 4
	indexRecordLen = 40 // uid 4, size 4, flags 8, modseq 8, date 8, cacheoff 4, crc 4
)

// Message files.
const (
	msgMagic    = "MYRM"
	msgVersion  = 1
	msgFixedLen = 32 // magic 4, version 1, nkw 1, hdrlen 2, date 8, size 4, flags 4, bodycrc 4, reserved 4
)

// Mailbox list and subscriptions.
const (
	mailboxesMagic = "MYRMBX01"
	subsMagic      = "MYRSUB01"
	cleanMagic     = "MYRCLN01" // highestmodseq u64, log length u64
)

func encodeClean(modseq uint64, logLen int64) []byte {
	return seal(cleanMagic, le.AppendUint64(le.AppendUint64(nil, modseq), uint64(logLen)))
}

func decodeClean(b []byte) (uint64, int64, bool) {
	p, err := unseal(cleanMagic, b)
	if err != nil || len(p) != 16 {
		return 0, 0, false
	}
	return le.Uint64(p), int64(le.Uint64(p[8:])), true
}

// errCorrupt marks data that failed a checksum or a structural check.
var errCorrupt = errors.New("storage: corrupt data")

// logRecord is one decoded log record.
type logRecord struct {
	typ    byte
	modseq uint64
	body   []byte
}

// appendLogRecord encodes a record onto dst.
func appendLogRecord(dst []byte, typ byte, modseq uint64, body []byte) []byte {
	var h [logHeaderLen]byte
	le.PutUint32(h[0:], uint32(len(body)))
	h[4] = typ
	le.PutUint64(h[5:], modseq)
	le.PutUint32(h[13:], crc(h[:13], body))
	dst = append(dst, h[:]...)
	return append(dst, body...)
}

// decodeLogRecord decodes the record at the start of b; it returns the
// record and its encoded length, or errCorrupt when b does not start with a
// whole record whose checksum and structure are valid.
func decodeLogRecord(b []byte) (logRecord, int, error) {
	if len(b) < logHeaderLen {
		return logRecord{}, 0, errCorrupt
	}
	n := le.Uint32(b[0:])
	typ := b[4]
	if n > logMaxPayload || typ < recAppend || typ > recUIDs || uint64(len(b)-logHeaderLen) < uint64(n) {
		return logRecord{}, 0, errCorrupt
	}
	body := b[logHeaderLen : logHeaderLen+int(n)]
	if le.Uint32(b[13:]) != crc(b[:13], body) {
		return logRecord{}, 0, errCorrupt
	}
	r := logRecord{typ: typ, modseq: le.Uint64(b[5:]), body: body}
	if !r.valid() {
		return logRecord{}, 0, errCorrupt
	}
	return r, logHeaderLen + int(n), nil
}

func (r logRecord) count(entry int) (int, bool) {
	if len(r.body) < 4 {
		return 0, false
	}
	n := int(le.Uint32(r.body))
	return n, uint64(len(r.body)-4) == uint64(n)*uint64(entry)
}

func (r logRecord) valid() bool {
	switch r.typ {
	case recAppend:
		_, ok := r.count(recAppendEntry)
		return ok
	case recFlags:
		_, ok := r.count(recFlagsEntry)
		return ok
	case recExpunge:
		_, ok := r.count(recExpungeEntry)
		return ok
	case recKeyword:
		return len(r.body) >= 2 && int(r.body[0]) < statemachine.MaxKeywords && validKeyword(string(r.body[1:]))
	case recUIDs:
		return len(r.body) == 8
	}
	return false
}

func validKeyword(k string) bool {
	if len(k) == 0 || len(k) > maxKeywordLength || !utf8.ValidString(k) {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if c <= ' ' || c == 0x7f || c == '(' || c == ')' || c == '{' || c == '%' || c == '*' || c == '"' || c == '\\' || c == ']' {
			return false
		}
	}
	return true
}

func encodeAppendBody(msgs []statemachine.Message) []byte {
	b := make([]byte, 4, 4+len(msgs)*recAppendEntry)
	le.PutUint32(b, uint32(len(msgs)))
	for _, m := range msgs {
		b = le.AppendUint32(b, uint32(m.UID))
		b = le.AppendUint32(b, m.Size)
		b = le.AppendUint64(b, uint64(m.Flags))
		b = le.AppendUint64(b, uint64(m.Date))
	}
	return b
}

func decodeAppendBody(b []byte, modseq uint64) []statemachine.Message {
	n := int(le.Uint32(b))
	out := make([]statemachine.Message, n)
	for i := range out {
		e := b[4+i*recAppendEntry:]
		out[i] = statemachine.Message{UID: statemachine.UID(le.Uint32(e)), Size: le.Uint32(e[4:]), Flags: statemachine.Flags(le.Uint64(e[8:])), Date: int64(le.Uint64(e[16:])), ModSeq: modseq}
	}
	return out
}

type uidFlags struct {
	uid   statemachine.UID
	flags statemachine.Flags
}

func encodeFlagsBody(ch []statemachine.Message) []byte {
	b := make([]byte, 4, 4+len(ch)*recFlagsEntry)
	le.PutUint32(b, uint32(len(ch)))
	for _, m := range ch {
		b = le.AppendUint32(b, uint32(m.UID))
		b = le.AppendUint64(b, uint64(m.Flags))
	}
	return b
}

func decodeFlagsBody(b []byte) []uidFlags {
	n := int(le.Uint32(b))
	out := make([]uidFlags, n)
	for i := range out {
		e := b[4+i*recFlagsEntry:]
		out[i] = uidFlags{statemachine.UID(le.Uint32(e)), statemachine.Flags(le.Uint64(e[4:]))}
	}
	return out
}

func encodeUIDsBody(uids []statemachine.UID) []byte {
	b := make([]byte, 4, 4+len(uids)*4)
	le.PutUint32(b, uint32(len(uids)))
	for _, u := range uids {
		b = le.AppendUint32(b, uint32(u))
	}
	return b
}

func decodeUIDsBody(b []byte) []statemachine.UID {
	n := int(le.Uint32(b))
	out := make([]statemachine.UID, n)
	for i := range out {
		out[i] = statemachine.UID(le.Uint32(b[4+i*4:]))
	}
	return out
}

// indexHeader is the decoded header of an index file.
type indexHeader struct {
	uidValidity uint32
	uidNext     statemachine.UID
	modseq      uint64
	count       uint32
	keywords    []string
}

// encodeIndex encodes a whole index file for snapshot s.
func encodeIndex(s *statemachine.Snapshot) []byte {
	hl := indexFixedLen
	for _, k := range s.Keywords {
		hl += 1 + len(k)
	}
	hl += 4
	b := make([]byte, 0, hl+s.Len()*indexRecordLen)
	b = append(b, indexMagic...)
	b = le.AppendUint32(b, s.UIDValidity)
	b = le.AppendUint32(b, uint32(s.UIDNext))
	b = le.AppendUint64(b, s.HighestModSeq)
	b = le.AppendUint32(b, uint32(s.Len()))
	b = le.AppendUint32(b, uint32(len(s.Keywords)))
	b = le.AppendUint32(b, uint32(hl))
	b = le.AppendUint32(b, 0)
	for _, k := range s.Keywords {
		b = append(b, byte(len(k)))
		b = append(b, k...)
	}
	b = le.AppendUint32(b, crc(b))
	for _, m := range s.Messages() {
		b = appendIndexRecord(b, m)
	}
	return b
}

func appendIndexRecord(b []byte, m statemachine.Message) []byte {
	start := len(b)
	b = le.AppendUint32(b, uint32(m.UID))
	b = le.AppendUint32(b, m.Size)
	b = le.AppendUint64(b, uint64(m.Flags))
	b = le.AppendUint64(b, m.ModSeq)
	b = le.AppendUint64(b, uint64(m.Date))
	b = le.AppendUint32(b, 0) // offset of cached MIME metadata; 0: none
	return le.AppendUint32(b, crc(b[start:]))
}

// decodeIndexHeader decodes and verifies an index header; it returns the
// header and the offset of the first record.
func decodeIndexHeader(b []byte) (indexHeader, int, error) {
	if len(b) < indexFixedLen+4 || string(b[:8]) != indexMagic {
		return indexHeader{}, 0, errCorrupt
	}
	hl := int(le.Uint32(b[32:]))
	nkw := int(le.Uint32(b[28:]))
	if hl < indexFixedLen+4 || hl > len(b) || nkw > statemachine.MaxKeywords {
		return indexHeader{}, 0, errCorrupt
	}
	if le.Uint32(b[hl-4:]) != crc(b[:hl-4]) {
		return indexHeader{}, 0, errCorrupt
	}
	h := indexHeader{uidValidity: le.Uint32(b[8:]), uidNext: statemachine.UID(le.Uint32(b[12:])), modseq: le.Uint64(b[16:]), count: le.Uint32(b[24:])}
	p := indexFixedLen
	for range nkw {
		if p >= hl-4 {
			return indexHeader{}, 0, errCorrupt
		}
		l := int(b[p])
		if p+1+l > hl-4 || !validKeyword(string(b[p+1:p+1+l])) {
			return indexHeader{}, 0, errCorrupt
		}
		h.keywords = append(h.keywords, string(b[p+1:p+1+l]))
		p += 1 + l
	}
	if p != hl-4 {
		return indexHeader{}, 0, errCorrupt
	}
	return h, hl, nil
}

// decodeIndexRecord decodes and verifies one index record.
func decodeIndexRecord(b []byte) (statemachine.Message, bool) {
	if len(b) < indexRecordLen || le.Uint32(b[36:]) != crc(b[:36]) {
		return statemachine.Message{}, false
	}
	return statemachine.Message{UID: statemachine.UID(le.Uint32(b)), Size: le.Uint32(b[4:]), Flags: statemachine.Flags(le.Uint64(b[8:])), ModSeq: le.Uint64(b[16:]), Date: int64(le.Uint64(b[24:]))}, true
}

// msgHeader is the header of a message file: what is needed to re-add the
// message if its log record is lost.
type msgHeader struct {
	date     int64
	size     uint32
	flags    statemachine.Flags // system flags only
	bodyCRC  uint32
	keywords []string
	hdrLen   int
}

func encodeMsgHeader(h msgHeader) []byte {
	hl := msgFixedLen
	for _, k := range h.keywords {
		hl += 1 + len(k)
	}
	hl += 4
	b := make([]byte, 0, hl)
	b = append(b, msgMagic...)
	b = append(b, msgVersion, byte(len(h.keywords)))
	b = le.AppendUint16(b, uint16(hl))
	b = le.AppendUint64(b, uint64(h.date))
	b = le.AppendUint32(b, h.size)
	b = le.AppendUint32(b, uint32(h.flags))
	b = le.AppendUint32(b, h.bodyCRC)
	b = le.AppendUint32(b, 0)
	for _, k := range h.keywords {
		b = append(b, byte(len(k)))
		b = append(b, k...)
	}
	return le.AppendUint32(b, crc(b))
}

func decodeMsgHeader(b []byte) (msgHeader, error) {
	if len(b) < msgFixedLen+4 || string(b[:4]) != msgMagic || b[4] != msgVersion {
		return msgHeader{}, errCorrupt
	}
	hl := int(le.Uint16(b[6:]))
	if hl < msgFixedLen+4 || hl > len(b) || le.Uint32(b[hl-4:]) != crc(b[:hl-4]) {
		return msgHeader{}, errCorrupt
	}
	h := msgHeader{date: int64(le.Uint64(b[8:])), size: le.Uint32(b[16:]), flags: statemachine.Flags(le.Uint32(b[20:])), bodyCRC: le.Uint32(b[24:]), hdrLen: hl}
	p := msgFixedLen
	for range int(b[5]) {
		if p >= hl-4 || p+1+int(b[p]) > hl-4 {
			return msgHeader{}, errCorrupt
		}
		h.keywords = append(h.keywords, string(b[p+1:p+1+int(b[p])]))
		p += 1 + int(b[p])
	}
	if p != hl-4 {
		return msgHeader{}, errCorrupt
	}
	return h, nil
}

// sealed files (mailbox list, subscriptions): magic, payload, CRC32C of both.
func seal(magic string, payload []byte) []byte {
	b := make([]byte, 0, len(magic)+len(payload)+4)
	b = append(b, magic...)
	b = append(b, payload...)
	return le.AppendUint32(b, crc(b))
}

func unseal(magic string, b []byte) ([]byte, error) {
	if len(b) < len(magic)+4 || string(b[:len(magic)]) != magic || le.Uint32(b[len(b)-4:]) != crc(b[:len(b)-4]) {
		return nil, errCorrupt
	}
	return b[len(magic) : len(b)-4], nil
}

// reader decodes a payload and remembers the first overrun.
type reader struct {
	b   []byte
	bad bool
}

func (r *reader) u16() uint16 {
	if len(r.b) < 2 {
		r.bad = true
		return 0
	}
	v := le.Uint16(r.b)
	r.b = r.b[2:]
	return v
}

func (r *reader) u32() uint32 {
	if len(r.b) < 4 {
		r.bad = true
		return 0
	}
	v := le.Uint32(r.b)
	r.b = r.b[4:]
	return v
}

func (r *reader) str() string {
	n := int(r.u16())
	if len(r.b) < n {
		r.bad = true
		return ""
	}
	s := string(r.b[:n])
	r.b = r.b[n:]
	return s
}

func appendStr(b []byte, s string) []byte {
	b = le.AppendUint16(b, uint16(len(s)))
	return append(b, s...)
}
