package storage

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/myriad-mail/myriad/statemachine"
)

// salvageModSeqGap is how far HIGHESTMODSEQ jumps when both indexes failed.
const salvageModSeqGap = 1 << 32

var debugRecovery func(dir, name string, recs []logRecord, base uint64)

// recovery is what opening (or checking) a mailbox found and did.
type recovery struct {
	snap      *statemachine.Snapshot
	lines     []string // findings, one per line, for slog and imapd check
	needIndex bool     // the index was unusable: write a fresh one (no rotation)
	problems  int      // findings that mean damage (not merely a crash)
	lostBytes int      // log bytes that failed their checksums
	logDamage bool     // "log" had damage: rotate it away after opening
	clean     bool     // the last close was clean and nothing changed since
	resync    resyncStats

	// expunges lists the expunges the logs remember, for QRESYNC; floor is
	// the modseq from which they are complete.
	expunges []expungeRec
	floor    uint64
}

type expungeRec struct {
	uids   []statemachine.UID
	modseq uint64
}

func (r *recovery) note(damage bool, format string, args ...any) {
	r.lines = append(r.lines, fmt.Sprintf(format, args...))
	if damage {
		r.problems++
	}
}

// indexFile is a decoded index file.
type indexFile struct {
	present bool
	hdrOK   bool
	hdr     indexHeader
	msgs    []statemachine.Message // records whose checksum held, ascending
	bad     int                    // records that failed (or are missing)
	gaps    [][2]statemachine.UID  // open UID intervals holding a bad record
}

func (x *indexFile) whole() bool { return x.present && x.hdrOK && x.bad == 0 }

func loadIndex(fsys FS, name string) (indexFile, error) {
	var x indexFile
	b, err := readFile(fsys, name)
	if err != nil {
		if isNotExist(err) {
			return x, nil
		}
		return x, err
	}
	x.present = true
	h, off, err := decodeIndexHeader(b)
	if err != nil {
		return x, nil
	}
	x.hdrOK, x.hdr = true, h
	var prev statemachine.UID
	badStart := false
	n := int(h.count)
	if avail := (len(b) - off) / indexRecordLen; avail < n {
		x.bad += n - avail
		n = avail
		badStart = true // the missing records follow the last one read
	}
	if (len(b)-off)%indexRecordLen != 0 || (len(b)-off)/indexRecordLen > int(h.count) {
		x.bad++ // trailing garbage: the count or the length was damaged
	}
	truncated := badStart
	badStart = false
	for i := range n {
		m, ok := decodeIndexRecord(b[off+i*indexRecordLen:])
		if ok && (m.UID <= prev || m.UID >= h.uidNext || m.ModSeq > h.modseq) {
			ok = false
		}
		if !ok {
			x.bad++
			badStart = true
			continue
		}
		if badStart {
			x.gaps = append(x.gaps, [2]statemachine.UID{prev, m.UID})
			badStart = false
		}
		x.msgs = append(x.msgs, m)
		prev = m.UID
	}
	if badStart || truncated {
		x.gaps = append(x.gaps, [2]statemachine.UID{prev, ^statemachine.UID(0)})
	}
	return x, nil
}

// scanLog decodes the records of a log; a record that fails is skipped up to
// the next record that verifies, or, when none follows, ends the log (a torn
// tail). It returns the records and the length of the valid prefix.
func scanLog(b []byte, name string, rep *recovery) ([]logRecord, int) {
	var recs []logRecord
	var rs *resyncer // resync.go: bounded work whatever the bytes
	defer func() {
		if rs != nil {
			rep.resync.candidates += rs.stats.candidates
			rep.resync.hashed += rs.stats.hashed
		}
	}()
	off := 0
	for off < len(b) {
		r, n, err := decodeLogRecord(b[off:])
		if err == nil {
			recs = append(recs, r)
			off += n
			continue
		}
		if rs == nil {
			rs = &resyncer{b: b}
		}
		next := rs.next(off)
		if next < 0 {
			rep.note(false, "%s: torn or corrupt tail at offset %d (%d bytes) cut", name, off, len(b)-off)
			rep.lostBytes += len(b) - off
			return recs, off
		}
		rep.note(true, "%s: corrupt record at offset %d skipped (%d bytes)", name, off, next-off)
		rep.lostBytes += next - off
		off = next
	}
	return recs, off
}

// replayState is the mailbox state under reconstruction.
type replayState struct {
	uidValidity uint32
	uidNext     statemachine.UID
	modseq      uint64
	keywords    []string
	msgs        []statemachine.Message // ascending
	gone        map[statemachine.UID]bool
}

func (s *replayState) find(uid statemachine.UID) int {
	i, ok := slices.BinarySearchFunc(s.msgs, uid, func(m statemachine.Message, u statemachine.UID) int { return int(int64(m.UID) - int64(u)) })
	if ok {
		return i
	}
	return -1
}

func (s *replayState) present(uid statemachine.UID) bool {
	if i := s.find(uid); i >= 0 {
		return !s.gone[uid]
	}
	return false
}

func (s *replayState) add(m statemachine.Message) {
	if i := s.find(m.UID); i >= 0 {
		if s.gone[m.UID] {
			delete(s.gone, m.UID)
			s.msgs[i] = m
		}
		return
	}
	if n := len(s.msgs); n == 0 || s.msgs[n-1].UID < m.UID {
		s.msgs = append(s.msgs, m)
		return
	}
	i, _ := slices.BinarySearchFunc(s.msgs, m.UID, func(m statemachine.Message, u statemachine.UID) int { return int(int64(m.UID) - int64(u)) })
	s.msgs = slices.Insert(s.msgs, i, m)
}

func (s *replayState) bump(modseq uint64) {
	if modseq > s.modseq {
		s.modseq = modseq
	}
}

func (s *replayState) setKeyword(i int, name string, rep *recovery) {
	for len(s.keywords) < i {
		s.keywords = append(s.keywords, "$Lost"+strconv.Itoa(len(s.keywords)))
		rep.note(true, "keyword %d: name lost; named %s", len(s.keywords)-1, s.keywords[len(s.keywords)-1])
	}
	if i == len(s.keywords) {
		s.keywords = append(s.keywords, name)
		return
	}
	if !strings.EqualFold(s.keywords[i], name) {
		if strings.HasPrefix(s.keywords[i], "$Lost") {
			s.keywords[i] = name
			return
		}
		rep.note(true, "keyword %d: log names it %q, index %q; index kept", i, name, s.keywords[i])
	}
}

// changeMax returns the highest modseq of recs' append, flags, expunge and
// UIDs records: the HIGHESTMODSEQ the log reached (keyword records do not
// raise it and are left out).
func changeMax(recs []logRecord) uint64 {
	var m uint64
	for _, r := range recs {
		if r.typ != recKeyword && r.modseq > m {
			m = r.modseq
		}
	}
	return m
}

// replayOrder puts the records of log.1 and log into the order in which
// recovery applies them: ascending modseq, and file order among equal
// modseqs (a keyword record carries the modseq of the change that first
// uses it and precedes it). It reports whether that changed anything.
//
// Storage writes records in modseq order (modseqs are assigned and log
// space reserved under the mailbox lock, log.1 ends where log begins), so
// for the logs it writes this is their file order. Logs whose modseqs go
// back exist only through damage (or hands): replaying them in file order
// made the result depend on where replay started (finding F3 in
// docs/FUZZING.md): a flag change at modseq 1000 found no message when it
// came before that message's append at modseq 1 and was dropped, but was
// applied on the next open, which started from the index written by the
// first (the append now in the base); an expunge at modseq 6 before the
// append at modseq 3 left the message on the first open and removed it on
// the next. In modseq order every record meets the state that all lower
// modseqs made, whichever file or base it came from, so a second recovery
// from the first one's index replays to the same mailbox. It is also the
// rule the flags already follow (the newest absolute value wins), so no
// flag an intact record holds is reset by an older one.
func replayOrder(recs []logRecord) bool {
	if slices.IsSortedFunc(recs, cmpModseq) {
		return false
	}
	slices.SortStableFunc(recs, cmpModseq)
	return true
}

func cmpModseq(a, b logRecord) int {
	switch {
	case a.modseq < b.modseq:
		return -1
	case a.modseq > b.modseq:
		return 1
	}
	return 0
}

// apply replays one log record. base is the modseq up to which the base
// state already holds every append and expunge. Records arrive in modseq
// order (replayOrder), so each change is compared with the message's
// modseq strictly: a flag change or expunge at the modseq a message
// already has does not apply (storage never writes two changes of one
// message under one modseq; a log that does is damaged, and the strict
// rule gives the same answer whether the message came from the log or
// from an index written by an earlier recovery of the same log).
func (s *replayState) apply(r logRecord, base uint64, rep *recovery) {
	switch r.typ {
	case recUIDs:
		v, next := le.Uint32(r.body), statemachine.UID(le.Uint32(r.body[4:]))
		if s.uidValidity == 0 {
			s.uidValidity = v
		} else if v != s.uidValidity {
			rep.note(true, "log record has UIDVALIDITY %d, mailbox %d; ignored", v, s.uidValidity)
			return
		}
		if next > s.uidNext {
			s.uidNext = next
		}
	case recKeyword:
		s.setKeyword(int(r.body[0]), string(r.body[1:]), rep)
	case recAppend:
		for _, m := range decodeAppendBody(r.body, r.modseq) {
			if r.modseq <= base || s.present(m.UID) {
				continue
			}
			s.add(m)
			if m.UID >= s.uidNext {
				s.uidNext = m.UID + 1
			}
		}
	case recFlags:
		for _, f := range decodeFlagsBody(r.body) {
			if i := s.find(f.uid); i >= 0 && !s.gone[f.uid] && r.modseq > s.msgs[i].ModSeq {
				s.msgs[i].Flags, s.msgs[i].ModSeq = f.flags, r.modseq
			}
		}
	case recExpunge:
		for _, u := range decodeUIDsBody(r.body) {
			if i := s.find(u); i >= 0 && !s.gone[u] && r.modseq > s.msgs[i].ModSeq {
				s.gone[u] = true
			}
		}
	}
	s.bump(r.modseq)
}

// recoverMailbox rebuilds a mailbox's state from its files (doc.go,
// "Recovery"). Unless dryRun, it cuts a torn log tail, removes leftover
// temporary and expunged files, and writes its repairs to the log, durably,
// before returning.
//
// With trustClean, a valid clean marker (written at the last clean close)
// whose modseq and log length match what was found lets it skip listing m/:
// nothing changed since the files were last reconciled.
func recoverMailbox(fsys FS, dir string, uidValidity uint32, dryRun, trustClean bool) (*recovery, error) {
	rep := &recovery{}
	idx, err := loadIndex(fsys, dir+"/index")
	if err != nil {
		return nil, err
	}
	st := &replayState{gone: map[statemachine.UID]bool{}}
	var base uint64
	salvage := false
	useHdr := func(h indexHeader) {
		st.uidValidity, st.uidNext, st.modseq = h.uidValidity, h.uidNext, h.modseq
		st.keywords = slices.Clone(h.keywords)
	}
	if idx.whole() {
		useHdr(idx.hdr)
		st.msgs = idx.msgs
		base = idx.hdr.modseq
	} else {
		bak, err := loadIndex(fsys, dir+"/index.backup")
		if err != nil {
			return nil, err
		}
		if idx.present {
			rep.note(true, "index: failed its checksums (header ok: %v, bad records: %d)", idx.hdrOK, idx.bad)
		} else if bak.present {
			rep.note(false, "index: missing (crash during rewrite); using index.backup")
		}
		switch {
		case bak.whole():
			useHdr(bak.hdr)
			st.msgs = bak.msgs
			base = bak.hdr.modseq
			if idx.present {
				rep.note(false, "index.backup: intact; state rebuilt from it and the logs")
			}
		case !idx.present && !bak.present:
			// A new mailbox, or one not yet checkpointed: the logs hold all.
		default:
			salvage = true
			rep.note(true, "index.backup: also damaged (present: %v, header ok: %v, bad records: %d); salvaging every intact record", bak.present, bak.hdrOK, bak.bad)
			if idx.hdrOK {
				useHdr(idx.hdr)
			} else if bak.hdrOK {
				useHdr(bak.hdr)
			}
			if bak.hdrOK {
				base = bak.hdr.modseq
				st.bump(bak.hdr.modseq)
				if bak.hdr.uidNext > st.uidNext {
					st.uidNext = bak.hdr.uidNext
				}
				if st.uidValidity == 0 {
					st.uidValidity = bak.hdr.uidValidity
				}
				if len(bak.hdr.keywords) > len(st.keywords) {
					st.keywords = slices.Clone(bak.hdr.keywords)
				}
			}
			st.msgs = idx.msgs
			if !idx.hdrOK {
				st.msgs = nil
			}
			for _, m := range bak.msgs {
				if !idx.hdrOK || inGaps(idx.gaps, m.UID) {
					st.add(m)
				}
			}
		}
		rep.needIndex = idx.present || bak.present
	}
	if uidValidity != 0 && st.uidValidity == 0 {
		st.uidValidity = uidValidity
	}
	for _, m := range st.msgs {
		st.bump(m.ModSeq)
		if m.UID >= st.uidNext {
			st.uidNext = m.UID + 1
		}
	}
	if st.uidNext == 0 {
		st.uidNext = 1
	}

	// Replay log.1 (the segment before the last rotation), then log, in
	// modseq order (see replayOrder).
	var logValid int
	var logLen int
	rep.floor = ^uint64(0)
	var all []logRecord
	var log1Max uint64
	log1Whole := false
	for _, name := range []string{"log.1", "log"} {
		b, err := readFile(fsys, dir+"/"+name)
		if err != nil {
			if isNotExist(err) {
				continue
			}
			return nil, err
		}
		lost := rep.lostBytes
		recs, valid := scanLog(b, name, rep)
		if name == "log.1" && idx.whole() {
			rep.lostBytes = lost // every record of log.1 is in the index
		}
		if name == "log.1" {
			log1Max, log1Whole = changeMax(recs), valid == len(b)
		}
		if r0, _, err := decodeLogRecord(b); name == "log" && !idx.whole() && log1Whole && log1Max > 0 && err == nil && r0.typ == recUIDs && r0.modseq > log1Max {
			// Every rotation starts the new log with a UIDs record at the
			// HIGHESTMODSEQ that log.1's last change record carries. A
			// log.1 that verifies to its end but stops below it was cut
			// at a record boundary; it matters only now that the index
			// is damaged and log.1 rebuilds the state.
			rep.note(true, "log.1: ends at modseq %d, but log begins at %d: log.1 lost its last records; their changes are lost", log1Max, r0.modseq)
		}
		if name == "log" && rep.lostBytes > lost {
			rep.logDamage = true
		}
		if debugRecovery != nil {
			debugRecovery(dir, name, recs, base)
		}
		all = append(all, recs...)
		if name == "log" {
			logValid, logLen = valid, len(b)
		}
	}
	if replayOrder(all) {
		rep.note(true, "logs: modseqs go back; records replayed in modseq order")
	}
	if len(all) > 0 {
		rep.floor = all[0].modseq
	}
	for _, r := range all {
		st.apply(r, base, rep)
		if r.typ == recExpunge {
			rep.expunges = append(rep.expunges, expungeRec{decodeUIDsBody(r.body), r.modseq})
		}
	}

	// A log cut at a record boundary looks like a shorter log. The one
	// place that records how long the log was is the clean marker, written
	// (after the log's last fsync) at a clean close and removed, durably,
	// before the next change: if it verifies and the log is shorter or ends
	// at a lower modseq, the log lost fsynced records while the mailbox
	// was closed. Their changes are gone, but their modseqs are known:
	// HIGHESTMODSEQ skips past them, so none is reused.
	skipFiles, marker := false, false
	if b, err := readFile(fsys, dir+"/clean"); err == nil {
		marker = true
		ms, ll, ok := decodeClean(b)
		if ok && (ms > st.modseq || ll > int64(logLen)) {
			rep.note(true, "log: %d bytes up to modseq %d, but %d bytes up to modseq %d at the last clean close: records lost", logLen, st.modseq, ll, ms)
			st.bump(ms)
			rep.lostBytes += max(1, int(ll-int64(logLen)))
			rep.logDamage = true
		}
		skipFiles = trustClean && ok && ms == st.modseq && ll == int64(logLen) && len(rep.lines) == 0
	}

	// Reconcile with the message files.
	rep.clean = skipFiles
	if marker && !dryRun {
		// The marker holds only until the next change: remove it, durably,
		// so a crash from here on brings the full reconciliation back.
		if err := fsys.Remove(dir + "/clean"); err != nil {
			return nil, err
		}
		if err := fsys.SyncDir(dir); err != nil {
			return nil, err
		}
	}
	var names []string
	var err2 error
	if !skipFiles {
		names, err2 = fsys.ReadDir(dir + "/m")
	}
	if err2 != nil && !isNotExist(err2) {
		return nil, err2
	}
	files := map[statemachine.UID]bool{}
	var orphans []statemachine.UID
	for _, n := range names {
		if strings.HasPrefix(n, "tmp-") {
			if !dryRun {
				fsys.Remove(dir + "/m/" + n)
			}
			continue
		}
		u, err := strconv.ParseUint(n, 10, 32)
		if err != nil || u == 0 || strconv.FormatUint(u, 10) != n {
			rep.note(true, "m/%s: not a message file name; left alone", n)
			continue
		}
		uid := statemachine.UID(u)
		files[uid] = true
		if st.present(uid) {
			continue
		}
		if uid < st.uidNext && !salvage {
			// Expunged; its removal did not reach the disk.
			if !dryRun {
				fsys.Remove(dir + "/m/" + n)
			}
			continue
		}
		orphans = append(orphans, uid)
	}

	if salvage {
		// Both indexes are damaged: nothing bounds the modseqs that were
		// lost with them, so skip far ahead (mod-sequences are 63-bit).
		st.bump(st.modseq + salvageModSeqGap)
		rep.lostBytes++
	} else if rep.lostBytes > 0 {
		// Records lost to damage may have carried modseqs above every
		// one still readable, and a client may have seen them: skip past
		// as many as the lost bytes could hold, so MODSEQ never goes back.
		// (A torn tail after a crash costs a harmless gap.)
		st.bump(st.modseq + uint64(rep.lostBytes/logHeaderLen) + 1)
	}
	var repairs []byte
	if rep.lostBytes > 0 {
		// Persist the skip: a record naming the new highest modseq.
		body := le.AppendUint32(le.AppendUint32(nil, st.uidValidity), uint32(st.uidNext))
		repairs = appendLogRecord(repairs, recUIDs, st.modseq, body)
	}
	modseq := st.modseq
	// Records without a file: expunge them.
	var missing []statemachine.UID
	for _, m := range st.msgs {
		if !skipFiles && !st.gone[m.UID] && !files[m.UID] {
			missing = append(missing, m.UID)
		}
	}
	if len(missing) > 0 {
		modseq++
		for _, u := range missing {
			st.gone[u] = true
		}
		repairs = appendLogRecord(repairs, recExpunge, modseq, encodeUIDsBody(missing))
		rep.expunges = append(rep.expunges, expungeRec{missing, modseq})
		rep.note(true, "%d message(s) had a record but no file; expunged: %v", len(missing), shortList(missing))
	}
	// Keyword bits in use whose names were lost get placeholders, before
	// re-added files take new bits.
	hiBit := 0
	for _, m := range st.msgs {
		if k := 64 - leadingZeros(uint64(m.Flags)) - statemachine.KeywordBase; k > hiBit && !st.gone[m.UID] {
			hiBit = k
		}
	}
	if hiBit > len(st.keywords) {
		for len(st.keywords) < hiBit {
			n := "$Lost" + strconv.Itoa(len(st.keywords))
			repairs = appendLogRecord(repairs, recKeyword, modseq, append([]byte{byte(len(st.keywords))}, n...))
			st.keywords = append(st.keywords, n)
		}
		rep.note(true, "keyword names lost; placeholders $Lost… up to bit %d", hiBit-1)
	}
	// Files without a record: re-add them with the flags their header holds.
	if len(orphans) > 0 {
		var added []statemachine.Message
		for _, u := range orphans {
			b, err := readFile(fsys, fmt.Sprintf("%s/m/%d", dir, u))
			if err != nil {
				return nil, err
			}
			h, err := decodeMsgHeader(b)
			if err != nil || uint64(len(b)-h.hdrLen) != uint64(h.size) || crc(b[h.hdrLen:]) != h.bodyCRC {
				rep.note(true, "m/%d: message file without a record failed its checksum; not re-added", u)
				continue
			}
			f := h.flags & (1<<statemachine.KeywordBase - 1)
			for _, k := range h.keywords {
				i := slices.IndexFunc(st.keywords, func(x string) bool { return strings.EqualFold(x, k) })
				if i < 0 && len(st.keywords) < statemachine.MaxKeywords && validKeyword(k) {
					i = len(st.keywords)
					st.keywords = append(st.keywords, k)
					repairs = appendLogRecord(repairs, recKeyword, modseq, append([]byte{byte(i)}, k...))
				}
				if i >= 0 {
					f |= 1 << (statemachine.KeywordBase + i)
				}
			}
			added = append(added, statemachine.Message{UID: u, Flags: f, Size: h.size, Date: h.date})
		}
		if len(added) > 0 {
			modseq++
			for i := range added {
				added[i].ModSeq = modseq
				st.add(added[i])
				if added[i].UID >= st.uidNext {
					st.uidNext = added[i].UID + 1
				}
			}
			repairs = appendLogRecord(repairs, recAppend, modseq, encodeAppendBody(added))
			rep.note(true, "%d message file(s) had no record; re-added: %v", len(added), shortList(orphans))
		}
	}
	st.bump(modseq)
	if logLen == 0 && base == 0 && len(st.msgs) == 0 && !salvage {
		// A new mailbox: its first record names its UIDVALIDITY.
		body := le.AppendUint32(le.AppendUint32(nil, st.uidValidity), uint32(st.uidNext))
		repairs = append(appendLogRecord(nil, recUIDs, st.modseq, body), repairs...)
	}

	if !dryRun && (logValid < logLen || len(repairs) > 0) {
		f, err := fsys.OpenAppend(dir + "/log")
		if err != nil {
			return nil, err
		}
		if logValid < logLen {
			if err := f.Truncate(int64(logValid)); err != nil {
				f.Close()
				return nil, err
			}
		}
		if len(repairs) > 0 {
			if _, err := f.Write(repairs); err != nil {
				f.Close()
				return nil, err
			}
		}
		if err := f.Sync(); err != nil {
			f.Close()
			return nil, err
		}
		if err := f.Close(); err != nil {
			return nil, err
		}
		if logLen == 0 {
			if err := fsys.SyncDir(dir); err != nil {
				return nil, err
			}
		}
	}
	if !dryRun {
		for _, n := range []string{"index.tmp", "log.tmp"} {
			if err := fsys.Remove(dir + "/" + n); err == nil {
				rep.note(false, "%s: leftover of an interrupted rewrite removed", n)
			}
		}
	}

	if rep.lostBytes > 0 || rep.floor > st.modseq {
		rep.floor = st.modseq // damaged or no logs: no complete expunge history
	}
	msgs := st.msgs[:0]
	for _, m := range st.msgs {
		if !st.gone[m.UID] {
			msgs = append(msgs, m)
		}
	}
	rep.snap = statemachine.NewSnapshot(st.uidValidity, st.uidNext, st.modseq, st.keywords, msgs)
	return rep, nil
}

func leadingZeros(x uint64) int {
	n := 0
	for i := 63; i >= 0 && x&(1<<i) == 0; i-- {
		n++
	}
	return n
}

func inGaps(gaps [][2]statemachine.UID, u statemachine.UID) bool {
	for _, g := range gaps {
		if u > g[0] && u < g[1] {
			return true
		}
	}
	return false
}

func shortList(u []statemachine.UID) string {
	if len(u) > 10 {
		return fmt.Sprint(u[:10]) + fmt.Sprintf("…(+%d)", len(u)-10)
	}
	return fmt.Sprint(u)
}
