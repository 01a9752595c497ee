package storage

import (
	"bytes"

	"github.com/myriad-mail/myriad/statemachine"
	"github.com/myriad-mail/myriad/statemachine/imapmime"
)

// The MIME metadata cache (doc.go, "MIME cache"): per mailbox a file
// "cache" of the parsed structure of its messages, so FETCH ENVELOPE,
// BODYSTRUCTURE, BODY[n] and SEARCH do not re-parse a message. It is
// advisory: every record is checked (CRC-32C, UID, message length, and
// imapmime.DecodePart against the message), and anything that fails is
// re-parsed and written again. Records are appended without fsync; a torn
// or damaged tail fails its checksum.

const (
	mimeCacheMagic     = "MYRMC001"
	mimeCacheHeaderLen = 16 // magic 8, uidvalidity 4, crc 4
	mimeCacheRecHdrLen = 16 // uid 4, length 4, paylen 4, crc 4
	mimeCacheMaxPay    = 1 << 20
)

// mimeEntry is one cached structure: the length of the message it was
// parsed from and imapmime.AppendPart of its tree.
type mimeEntry struct {
	length  uint32
	payload []byte
}

func encodeMimeCacheHeader(uidValidity uint32) []byte {
	b := append([]byte(mimeCacheMagic), 0, 0, 0, 0)
	le.PutUint32(b[8:], uidValidity)
	return le.AppendUint32(b, crc(b))
}

func appendMimeRecord(dst []byte, uid statemachine.UID, length uint32, payload []byte) []byte {
	var h [12]byte
	le.PutUint32(h[0:], uint32(uid))
	le.PutUint32(h[4:], length)
	le.PutUint32(h[8:], uint32(len(payload)))
	dst = append(dst, h[:]...)
	dst = le.AppendUint32(dst, crc(h[:], payload))
	return append(dst, payload...)
}

// decodeMimeCache parses a cache file. It returns the records that verify
// up to the first one that does not, and whether anything (a bad header,
// a damaged record, a torn tail) was dropped. A later record for a UID
// replaces an earlier one.
func decodeMimeCache(b []byte, uidValidity uint32) (map[statemachine.UID]mimeEntry, bool) {
	recs := map[statemachine.UID]mimeEntry{}
	if len(b) < mimeCacheHeaderLen || string(b[:8]) != mimeCacheMagic ||
		le.Uint32(b[12:]) != crc(b[:12]) || le.Uint32(b[8:]) != uidValidity {
		return recs, len(b) > 0
	}
	p := b[mimeCacheHeaderLen:]
	for len(p) > 0 {
		if len(p) < mimeCacheRecHdrLen {
			return recs, true
		}
		n := le.Uint32(p[8:])
		if n > mimeCacheMaxPay || uint64(len(p)-mimeCacheRecHdrLen) < uint64(n) {
			return recs, true
		}
		pay := p[mimeCacheRecHdrLen : mimeCacheRecHdrLen+int(n)]
		uid := le.Uint32(p[0:])
		if le.Uint32(p[12:]) != crc(p[:12], pay) || uid == 0 {
			return recs, true
		}
		recs[statemachine.UID(uid)] = mimeEntry{length: le.Uint32(p[4:]), payload: pay}
		p = p[mimeCacheRecHdrLen+int(n):]
	}
	return recs, false
}

// loadMimeCache reads the cache at open. Records of messages not in the
// mailbox, or whose length differs from the message's, are dropped. A
// damaged file is rewritten from what verified.
func (mb *mailbox) loadMimeCache() {
	h := mb.head
	b, err := readFile(mb.st.fs, mb.dir+"/cache")
	if err != nil && !isNotExist(err) {
		mb.st.log.Warn("storage: reading MIME cache", "dir", mb.dir, "err", err)
	}
	recs, damaged := decodeMimeCache(b, h.UIDValidity)
	for u, e := range recs {
		i := h.Index(u)
		if i < 0 || h.At(i).Size != e.length {
			delete(recs, u)
		}
	}
	if damaged {
		mb.st.log.Warn("storage: MIME cache damaged; keeping the records that verify", "dir", mb.dir, "records", len(recs))
	}
	mb.mc = recs
	if damaged {
		if err := mb.rewriteMimeCacheLocked(); err != nil {
			mb.st.log.Warn("storage: rewriting MIME cache", "dir", mb.dir, "err", err)
			mb.mcOff = true
		}
	}
}

// mimeFileLocked returns the cache file open for appending, creating it
// (with its header) on first use. Called with mcMu held.
func (mb *mailbox) mimeFileLocked() File {
	if mb.mcFile != nil || mb.mcOff {
		return mb.mcFile
	}
	f, err := mb.st.fs.OpenAppend(mb.dir + "/cache")
	if err == nil {
		var n int64
		if n, err = f.Size(); err == nil && n == 0 {
			_, err = f.Write(encodeMimeCacheHeader(mb.head.UIDValidity))
		}
		if err != nil {
			f.Close()
		}
	}
	if err != nil {
		mb.st.log.Warn("storage: opening MIME cache", "dir", mb.dir, "err", err)
		mb.mcOff = true
		return nil
	}
	mb.mcFile = f
	return f
}

// rewriteMimeCacheLocked writes the cache anew (temp, fsync, rename) from
// the records of messages still in the head state and reopens it for
// appending. Called with mcMu held, or before the mailbox is shared.
func (mb *mailbox) rewriteMimeCacheLocked() error {
	if mb.mcFile != nil {
		mb.mcFile.Close()
		mb.mcFile = nil
	}
	h := mb.head
	buf := encodeMimeCacheHeader(h.UIDValidity)
	for _, m := range h.Messages() {
		if e, ok := mb.mc[m.UID]; ok {
			buf = appendMimeRecord(buf, m.UID, e.length, e.payload)
		}
	}
	for u := range mb.mc {
		if h.Index(u) < 0 {
			delete(mb.mc, u)
		}
	}
	if err := writeFileAtomic(mb.st.fs, mb.dir, "cache", "", buf); err != nil {
		return err
	}
	f, err := mb.st.fs.OpenAppend(mb.dir + "/cache")
	if err != nil {
		return err
	}
	mb.mcFile = f
	return nil
}

// dropMimeCache forgets expunged messages (their records go at the next
// rewrite).
func (mb *mailbox) dropMimeCache(uids []statemachine.UID) {
	mb.mcMu.Lock()
	for _, u := range uids {
		delete(mb.mc, u)
	}
	mb.mcMu.Unlock()
}

// MessageStructure implements statemachine.StructureCache.
func (mb *mailbox) MessageStructure(uid statemachine.UID) ([]byte, *imapmime.Part, error) {
	raw, err := mb.Message(uid)
	if err != nil {
		return nil, nil, err
	}
	mb.mcMu.Lock()
	e, ok := mb.mc[uid]
	mb.mcMu.Unlock()
	if ok && uint64(e.length) == uint64(len(raw)) {
		if p, err := imapmime.DecodePart(e.payload, len(raw)); err == nil {
			return raw, p, nil
		}
		mb.st.log.Warn("storage: MIME cache record does not fit its message; re-parsing", "dir", mb.dir, "uid", uid)
	}
	p := imapmime.Parse(raw)
	pay := imapmime.AppendPart(nil, p)
	if len(pay) > mimeCacheMaxPay {
		return raw, p, nil
	}
	mb.mcMu.Lock()
	defer mb.mcMu.Unlock()
	if cur, ok := mb.mc[uid]; ok && cur.length == uint32(len(raw)) && bytes.Equal(cur.payload, pay) {
		return raw, p, nil // another session just wrote it
	}
	f := mb.mimeFileLocked()
	if f == nil {
		return raw, p, nil // closed, or the cache file cannot be written
	}
	if _, err := f.Write(appendMimeRecord(nil, uid, uint32(len(raw)), pay)); err != nil {
		// A part of the record may be in the file: its checksum fails and
		// the next open drops the tail.
		mb.st.log.Warn("storage: appending to MIME cache", "dir", mb.dir, "err", err)
		f.Close()
		mb.mcFile, mb.mcOff = nil, true
		return raw, p, nil
	}
	mb.mc[uid] = mimeEntry{length: uint32(len(raw)), payload: pay}
	return raw, p, nil
}

var _ statemachine.StructureCache = (*mailbox)(nil)
