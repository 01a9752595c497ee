package storage

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/myriad-mail/myriad/statemachine"
)

// mailbox is one open mailbox: its files, its head state and its group
// commit. It implements statemachine.MailboxStore.
//
// Concurrency: mu serializes writers; under mu a writer checks, assigns the
// modseq, writes its records to the log and builds the next snapshot (head).
// With FsyncAlways it then waits, outside mu, until a log fsync covers its
// record; the first waiter to find no fsync running becomes the leader, syncs
// for everyone whose record was written by then, and publishes their
// snapshots in order (syncMu guards written, synced, pending). Publication
// therefore never shows a change that is not durable, and one fsync
// acknowledges every change that arrived while the previous one ran.
type mailbox struct {
	st   *Store
	acct *account
	id   uint32
	dir  string
	name string

	live *statemachine.Mailbox
	refs int // guarded by acct.mu

	mu       sync.Mutex
	head     *statemachine.Snapshot
	log      File
	logSize  int64
	broken   error // set when the durable state is uncertain; every change fails
	deleted  bool
	tmpSeq   atomic.Uint64
	logBig   atomic.Bool        // logSize passed LogRotateBytes
	doomed   []statemachine.UID // expunged; files removed at close
	batchArm bool
	rec      *recovery // until the Mailbox is made

	syncMu   sync.Mutex
	syncCond sync.Cond
	written  uint64
	synced   uint64
	syncing  bool
	syncErr  error
	dirDirty bool
	pending  []pendingPub

	cacheMu sync.Mutex
	cache   map[statemachine.UID][]byte
	cacheQ  []statemachine.UID
	cacheN  int

	// MIME metadata cache (mimecache.go); mcMu is taken after mu.
	mcMu   sync.Mutex
	mc     map[statemachine.UID]mimeEntry
	mcFile File // nil until the first append
	mcOff  bool // the cache file failed: serve without it
}

type pendingPub struct {
	seq   uint64
	snap  *statemachine.Snapshot
	delta statemachine.Delta
	ready bool // false until its records are written (and files named)
}

func mailboxDir(acctDir string, id uint32) string {
	return acctDir + "/mb" + strconv.FormatUint(uint64(id), 10)
}

// openMailbox opens (recovering as needed) the mailbox in dir.
func openMailbox(st *Store, acct *account, id uint32, name string, uidValidity uint32) (*mailbox, error) {
	mb := &mailbox{st: st, acct: acct, id: id, name: name, dir: mailboxDir(acct.dir, id)}
	mb.syncCond.L = &mb.syncMu
	if err := st.fs.MkdirAll(mb.dir + "/m"); err != nil {
		return nil, err
	}
	rep, err := recoverMailbox(st.fs, mb.dir, uidValidity, false, true)
	if err != nil {
		return nil, err
	}
	for _, l := range rep.lines {
		st.log.Warn("storage: recovery", "user", acct.name, "mailbox", name, "dir", mb.dir, "what", l)
	}
	mb.head = rep.snap
	mb.rec = rep
	f, err := st.fs.OpenAppend(mb.dir + "/log")
	if err != nil {
		return nil, err
	}
	mb.log = f
	if mb.logSize, err = f.Size(); err != nil {
		f.Close()
		return nil, err
	}
	// The entries of the mailbox directory, of m/ and of a log just
	// created must be durable before anything is acknowledged through them.
	// After a clean close the last process made them so.
	if !rep.clean {
		if err := st.fs.SyncDir(acct.dir); err != nil {
			f.Close()
			return nil, err
		}
		if err := st.fs.SyncDir(mb.dir); err != nil {
			f.Close()
			return nil, err
		}
	}
	if rep.needIndex {
		// Replace the damaged index, keeping index.backup as it is.
		if err := writeFileAtomic(st.fs, mb.dir, "index", "", encodeIndex(mb.head)); err != nil {
			f.Close()
			return nil, err
		}
	}
	if rep.logDamage || (st.cfg.LogRotateBytes > 0 && mb.logSize > st.cfg.LogRotateBytes) {
		mb.mu.Lock()
		err := mb.checkpointLocked()
		mb.mu.Unlock()
		if err != nil {
			mb.log.Close()
			return nil, err
		}
	}
	mb.loadMimeCache()
	if len(rep.lines) > 0 {
		st.log.Info("storage: mailbox recovered", "user", acct.name, "mailbox", name, "messages", mb.head.Len(), "highestmodseq", mb.head.HighestModSeq, "findings", len(rep.lines))
	}
	return mb, nil
}

// close flushes and closes the mailbox files; called when no session holds it.
func (mb *mailbox) close() {
	mb.mu.Lock()
	defer mb.mu.Unlock()
	if mb.broken == nil && !mb.deleted && mb.st.cfg.Fsync != FsyncAlways {
		mb.log.Sync()
	}
	mb.removeDoomedLocked()
	if mb.broken == nil && !mb.deleted {
		// A clean close lets the next open skip listing m/.
		if err := writeFileAtomic(mb.st.fs, mb.dir, "clean", "", encodeClean(mb.head.HighestModSeq, mb.logSize)); err != nil {
			mb.st.log.Warn("storage: writing clean marker", "dir", mb.dir, "err", err)
		}
	}
	mb.log.Close()
	mb.mcMu.Lock()
	if mb.mcFile != nil {
		mb.mcFile.Close()
	}
	mb.mcFile, mb.mcOff = nil, true
	mb.mcMu.Unlock()
	mb.broken = errors.New("storage: mailbox closed")
	if mb.deleted {
		if err := mb.st.fs.RemoveAll(mb.dir); err != nil {
			mb.st.log.Error("storage: removing deleted mailbox", "dir", mb.dir, "err", err)
		}
	}
}

func (mb *mailbox) removeDoomedLocked() {
	for _, u := range mb.doomed {
		if err := mb.st.fs.Remove(mb.msgPath(u)); err != nil && !isNotExist(err) {
			mb.st.log.Warn("storage: removing expunged message file", "path", mb.msgPath(u), "err", err)
		}
	}
	mb.doomed = mb.doomed[:0]
}

func (mb *mailbox) msgPath(uid statemachine.UID) string {
	return mb.dir + "/m/" + strconv.FormatUint(uint64(uid), 10)
}

func (mb *mailbox) usableLocked() error {
	if mb.deleted {
		return statemachine.ErrNoSuchMailbox
	}
	return mb.broken
}

// commitLocked writes records (already encoded) to the log and queues or
// publishes next; it returns the sequence number to wait for (0: none).
// Called with mu held.
//
// With FsyncAlways the records are not written yet: the caller writes them
// with complete after releasing mu; until then no fsync counts them.
func (mb *mailbox) commitLocked(recs []byte, next *statemachine.Snapshot, d statemachine.Delta) (uint64, logJob, error) {
	if mb.st.cfg.Fsync == FsyncAlways && !mb.st.cfg.PlantedBugSkipFsync {
		// Reserve the records' place in the log; the caller writes them
		// after releasing mu (writes to a file being fsynced can wait for
		// the journal) and then calls complete.
		off := mb.logSize
		mb.logSize += int64(len(recs))
		if lim := mb.st.cfg.LogRotateBytes; lim > 0 && mb.logSize > lim {
			mb.logBig.Store(true)
		}
		mb.head = next
		mb.syncMu.Lock()
		mb.written++
		seq := mb.written
		mb.pending = append(mb.pending, pendingPub{seq: seq, snap: next, delta: d})
		mb.syncMu.Unlock()
		return seq, logJob{f: mb.log, off: off, recs: recs}, nil
	}
	if _, err := mb.log.Write(recs); err != nil {
		// A part of the records may be in the file: only a reopen, which
		// checks the log, knows what it holds.
		mb.broken = fmt.Errorf("storage: log write: %w", err)
		return 0, logJob{}, mb.broken
	}
	mb.logSize += int64(len(recs))
	if lim := mb.st.cfg.LogRotateBytes; lim > 0 && mb.logSize > lim {
		mb.logBig.Store(true)
	}
	mb.head = next
	if mb.st.cfg.Fsync == FsyncBatch && !mb.st.cfg.PlantedBugSkipFsync && !mb.batchArm {
		mb.batchArm = true
		time.AfterFunc(mb.st.cfg.BatchInterval, mb.batchFlush)
	}
	// Planted bug (PlantedBugSkipFsync) and the relaxed modes: published
	// before any fsync.
	mb.live.Publish(next, d)
	return 0, logJob{}, nil
}

// logJob is the write of a change's records at their reserved offset.
type logJob struct {
	f    File
	off  int64
	recs []byte
}

// complete writes the records of change seq (FsyncAlways), runs then (the
// renames of an APPEND) and marks the change ready for the next fsync.
// Called without mu.
func (mb *mailbox) complete(seq uint64, job logJob, then func() error) {
	if seq == 0 {
		return
	}
	_, err := job.f.WriteAt(job.recs, job.off)
	if err != nil {
		err = fmt.Errorf("storage: log write: %w", err)
	}
	if err == nil && then != nil {
		err = then()
	}
	mb.markReady(seq, err, then != nil)
}

func (mb *mailbox) batchFlush() {
	mb.mu.Lock()
	defer mb.mu.Unlock()
	mb.batchArm = false
	if mb.broken != nil {
		return
	}
	dir := mb.dirDirty
	mb.dirDirty = false
	if err := mb.syncFiles(dir, mb.log); err != nil {
		mb.broken = err
	}
}

// waitDurable returns when the record with sequence number seq is durable
// and its snapshot published (see the type's comment).
func (mb *mailbox) waitDurable(seq uint64) error {
	if seq == 0 {
		return nil
	}
	mb.syncMu.Lock()
	defer mb.syncMu.Unlock()
	for mb.synced < seq {
		if mb.syncErr != nil {
			return mb.syncErr
		}
		if mb.syncing {
			mb.syncCond.Wait()
			continue
		}
		// Sync up to the last record before the first one whose files
		// are still being renamed.
		target := mb.written
		for _, p := range mb.pending {
			if !p.ready {
				target = p.seq - 1
				break
			}
		}
		if target <= mb.synced {
			mb.syncCond.Wait() // markReady broadcasts
			continue
		}
		mb.syncing = true
		dir, f := mb.dirDirty, mb.log
		mb.dirDirty = false
		mb.syncMu.Unlock()
		err := mb.syncFiles(dir, f)
		mb.syncMu.Lock()
		mb.syncing = false
		if err != nil {
			mb.syncErr = fmt.Errorf("storage: log fsync: %w", err)
		} else {
			mb.synced = target
			i := 0
			for ; i < len(mb.pending) && mb.pending[i].seq <= target; i++ {
				mb.live.Publish(mb.pending[i].snap, mb.pending[i].delta)
				mb.pending[i] = pendingPub{}
			}
			mb.pending = append(mb.pending[:0], mb.pending[i:]...)
		}
		mb.syncCond.Broadcast()
	}
	return nil
}

// markReady says that the records of change seq are in the log and its
// message files (renamed) have their names; err makes the mailbox unusable.
func (mb *mailbox) markReady(seq uint64, err error, renamed bool) {
	mb.syncMu.Lock()
	defer mb.syncMu.Unlock()
	if err != nil && mb.syncErr == nil {
		mb.syncErr = err
	}
	for i := range mb.pending {
		if mb.pending[i].seq == seq {
			mb.pending[i].ready = true
		}
	}
	if renamed {
		mb.dirDirty = true
	}
	mb.syncCond.Broadcast()
}

// syncFiles makes the log durable and, when messages were added since the
// last sync (added), their files and the entries of m/ too: with an FS that
// can sync everything at once (Linux syncfs), one call covers all of them;
// otherwise each file was fsynced by its writer and m/ is fsynced here.
func (mb *mailbox) syncFiles(added bool, log File) error {
	if added && mb.st.syncAll != nil {
		return mb.st.barrier.sync(mb.st.syncAll.SyncAll)
	}
	if added && mb.st.syncPair {
		// Both must be durable before anything is acknowledged, in no
		// order between them: issued together, ext4 (jbd2) commits them
		// in one journal transaction, one device flush instead of two.
		dirErr := make(chan error, 1)
		go func() { dirErr <- mb.st.fs.SyncDir(mb.dir + "/m") }()
		err := log.Sync()
		if derr := <-dirErr; err == nil {
			err = derr
		}
		return err
	}
	if added {
		if err := mb.st.fs.SyncDir(mb.dir + "/m"); err != nil {
			return err
		}
	}
	return log.Sync()
}

// finish waits for seq and then, outside the commit path, rotates the log if
// it grew past the limit.
func (mb *mailbox) finish(seq uint64, err error) error {
	if err != nil {
		return err
	}
	if err := mb.waitDurable(seq); err != nil {
		mb.mu.Lock()
		if mb.broken == nil {
			mb.broken = err
		}
		mb.mu.Unlock()
		return err
	}
	if mb.logBig.Load() {
		mb.mu.Lock()
		if mb.broken == nil && mb.logSize > mb.st.cfg.LogRotateBytes {
			if err := mb.checkpointLocked(); err != nil {
				mb.st.log.Error("storage: index rewrite failed", "dir", mb.dir, "err", err)
			}
		}
		mb.mu.Unlock()
	}
	return nil
}

// checkpointLocked writes a new index from the head state, keeps the
// previous one as index.backup and rotates the log (log → log.1). Every
// record must be durable first. The order leaves no window without a
// complete state on disk (doc.go, "Index rewrite").
func (mb *mailbox) checkpointLocked() error {
	if mb.st.cfg.Fsync == FsyncAlways {
		mb.syncMu.Lock()
		w := mb.written
		mb.syncMu.Unlock()
		if err := mb.waitDurable(w); err != nil {
			mb.broken = err
			return err
		}
	} else if err := mb.log.Sync(); err != nil {
		mb.broken = err
		return err
	}
	fsys := mb.st.fs
	if err := writeFileAtomic(fsys, mb.dir, "index", "index.backup", encodeIndex(mb.head)); err != nil {
		// The log still holds everything; only a half-done rename
		// sequence needs a reopen to sort out, which recovery does.
		mb.broken = fmt.Errorf("storage: index rewrite: %w", err)
		return mb.broken
	}
	h := mb.head
	body := le.AppendUint32(le.AppendUint32(nil, h.UIDValidity), uint32(h.UIDNext))
	rec := appendLogRecord(nil, recUIDs, h.HighestModSeq, body)
	f, err := fsys.Create(mb.dir + "/log.tmp")
	if err != nil {
		return err
	}
	if _, err := f.Write(rec); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	f.Close()
	if err := fsys.Rename(mb.dir+"/log", mb.dir+"/log.1"); err != nil {
		mb.broken = err
		return err
	}
	if err := fsys.Rename(mb.dir+"/log.tmp", mb.dir+"/log"); err != nil {
		mb.broken = err
		return err
	}
	if err := fsys.SyncDir(mb.dir); err != nil {
		mb.broken = err
		return err
	}
	nf, err := fsys.OpenAppend(mb.dir + "/log")
	if err != nil {
		mb.broken = err
		return err
	}
	mb.syncMu.Lock()
	mb.log.Close()
	mb.log = nf
	mb.syncMu.Unlock()
	mb.logSize = int64(len(rec))
	mb.logBig.Store(false)
	mb.removeDoomedLocked()
	mb.mcMu.Lock()
	if !mb.mcOff && (mb.mcFile != nil || len(mb.mc) > 0) {
		// The cache is advisory: a failure leaves it off, not the mailbox.
		if err := mb.rewriteMimeCacheLocked(); err != nil {
			mb.st.log.Warn("storage: rewriting MIME cache", "dir", mb.dir, "err", err)
			mb.mcOff = true
		}
	}
	mb.mcMu.Unlock()
	mb.st.log.Debug("storage: index rewritten, log rotated", "dir", mb.dir, "messages", h.Len(), "highestmodseq", h.HighestModSeq)
	return nil
}

// resolveFlags turns flag names into bits, adding keywords as needed; it
// returns the bits, the keyword list (a new slice when it grew) and the
// keyword records to write.
func resolveFlags(names []string, kw []string, create bool, modseq uint64, recs []byte) (statemachine.Flags, []string, []byte, error) {
	var f statemachine.Flags
	grown := false
	for _, n := range names {
		if strings.HasPrefix(n, `\`) {
			b := statemachine.SystemFlag([]byte(n))
			if b == 0 {
				continue // \Recent and unknown system flags are not stored
			}
			f |= b
			continue
		}
		if !validKeyword(n) {
			return 0, nil, nil, fmt.Errorf("storage: invalid keyword %q", n)
		}
		i := slices.IndexFunc(kw, func(k string) bool { return strings.EqualFold(k, n) })
		if i < 0 {
			if !create {
				continue
			}
			if len(kw) >= statemachine.MaxKeywords {
				return 0, nil, nil, statemachine.ErrTooManyKeywords
			}
			if !grown {
				kw = slices.Clip(kw)
				grown = true
			}
			i = len(kw)
			kw = append(kw, n)
			recs = appendLogRecord(recs, recKeyword, modseq, append([]byte{byte(i)}, n...))
		}
		f |= 1 << (statemachine.KeywordBase + i)
	}
	return f, kw, recs, nil
}

// Store implements statemachine.MailboxStore.
func (mb *mailbox) Store(uids []statemachine.UID, op statemachine.FlagOp, flags []string, unchangedSince uint64) ([]statemachine.UID, error) {
	mb.mu.Lock()
	seq, job, modified, err := mb.storeLocked(uids, op, flags, unchangedSince)
	mb.mu.Unlock()
	mb.complete(seq, job, nil)
	return modified, mb.finish(seq, err)
}

func (mb *mailbox) storeLocked(uids []statemachine.UID, op statemachine.FlagOp, flags []string, unchangedSince uint64) (uint64, logJob, []statemachine.UID, error) {
	if err := mb.usableLocked(); err != nil {
		return 0, logJob{}, nil, err
	}
	h := mb.head
	modseq := h.HighestModSeq + 1
	bits, kw, recs, err := resolveFlags(flags, h.Keywords, op != statemachine.FlagsRemove, h.HighestModSeq, nil)
	if err != nil {
		return 0, logJob{}, nil, err
	}
	uids = sortedUnique(uids)
	var modified []statemachine.UID
	var changed []statemachine.Message
	for _, u := range uids {
		i := h.Index(u)
		if i < 0 {
			continue
		}
		m := *h.At(i)
		if unchangedSince > 0 && m.ModSeq > unchangedSince {
			modified = append(modified, u)
			continue
		}
		nf := op.Apply(m.Flags, bits)
		if nf == m.Flags {
			continue
		}
		m.Flags, m.ModSeq = nf, modseq
		changed = append(changed, m)
	}
	if len(changed) == 0 && len(recs) == 0 {
		return 0, logJob{}, modified, nil
	}
	if len(changed) > 0 {
		recs = appendLogRecord(recs, recFlags, modseq, encodeFlagsBody(changed))
	}
	next, d := h.WithChanged(changed, kw)
	seq, job, err := mb.commitLocked(recs, next, d)
	return seq, job, modified, err
}

// Expunge implements statemachine.MailboxStore.
func (mb *mailbox) Expunge(uids []statemachine.UID) error {
	mb.mu.Lock()
	seq, job, err := mb.expungeLocked(uids)
	mb.mu.Unlock()
	mb.complete(seq, job, nil)
	return mb.finish(seq, err)
}

func (mb *mailbox) expungeLocked(uids []statemachine.UID) (uint64, logJob, error) {
	if err := mb.usableLocked(); err != nil {
		return 0, logJob{}, err
	}
	h := mb.head
	var gone []statemachine.UID
	for _, u := range sortedUnique(uids) {
		if h.Index(u) >= 0 {
			gone = append(gone, u)
		}
	}
	if len(gone) == 0 {
		return 0, logJob{}, nil
	}
	modseq := h.HighestModSeq + 1
	recs := appendLogRecord(nil, recExpunge, modseq, encodeUIDsBody(gone))
	next, d := h.WithExpunged(gone, modseq)
	seq, job, err := mb.commitLocked(recs, next, d)
	if err == nil {
		mb.doomed = append(mb.doomed, gone...)
		mb.dropCache(gone)
		mb.dropMimeCache(gone)
		if len(mb.doomed) > 4096 && seq == 0 {
			mb.removeDoomedLocked()
		}
	}
	return seq, job, err
}

// newMsg is a message to add: its file is written before the lock is taken.
type newMsg struct {
	flags statemachine.Flags // system flags
	kw    []string           // keyword names
	date  int64
	body  []byte // nil for a copy until writeTemp reads it
	tmp   string
	size  uint32

	// A copy reads its body from here when its file is written, so a COPY
	// of many messages holds one body in memory at a time.
	src    *mailbox
	srcUID statemachine.UID
}

// writeTemp writes a message file under a temporary name and fsyncs it.
func (mb *mailbox) writeTemp(m *newMsg) error {
	m.tmp = mb.dir + "/m/tmp-" + strconv.FormatUint(mb.tmpSeq.Add(1), 10)
	body := m.body
	if body == nil && m.src != nil {
		b, err := m.src.Message(m.srcUID)
		if err != nil {
			return err
		}
		body = b
	}
	if int64(len(body)) > mb.st.cfg.MaxMessageBytes {
		return statemachine.ErrTooBig
	}
	m.size = uint32(len(body))
	hdr := encodeMsgHeader(msgHeader{date: m.date, size: m.size, flags: m.flags, bodyCRC: crc(body), keywords: m.kw})
	f, err := mb.st.fs.Create(m.tmp)
	if err != nil {
		return err
	}
	buf := make([]byte, 0, len(hdr)+len(body))
	buf = append(append(buf, hdr...), body...)
	if _, err := f.Write(buf); err != nil {
		f.Close()
		return err
	}
	if mb.st.cfg.Fsync != FsyncNever && !mb.st.cfg.PlantedBugSkipFsync && mb.st.syncAll == nil {
		if err := f.Sync(); err != nil {
			f.Close()
			return err
		}
	}
	return f.Close()
}

// add adds messages (one APPEND, or the messages of a COPY) under one modseq.
func (mb *mailbox) add(msgs []newMsg) ([]statemachine.UID, uint32, error) {
	cleanup := func() {
		for _, m := range msgs {
			if m.tmp != "" {
				mb.st.fs.Remove(m.tmp)
			}
		}
	}
	for i := range msgs {
		if err := mb.writeTemp(&msgs[i]); err != nil {
			cleanup()
			return nil, 0, err
		}
	}
	if mb.st.syncAll != nil && mb.st.cfg.Fsync != FsyncNever && !mb.st.cfg.PlantedBugSkipFsync {
		// The files' data must be durable before their names are: one
		// sync shared with every concurrent writer of the store.
		if err := mb.st.barrier.sync(mb.st.syncAll.SyncAll); err != nil {
			cleanup()
			return nil, 0, err
		}
	}
	mb.mu.Lock()
	seq, job, uids, uidv, err := mb.addLocked(msgs)
	mb.mu.Unlock()
	if err != nil && uids == nil {
		cleanup()
	}
	// FsyncAlways: nobody sees the messages before they are durable, so
	// their files get their names outside the lock, after the records.
	mb.complete(seq, job, func() error {
		for i, m := range msgs {
			if err := mb.st.fs.Rename(m.tmp, mb.msgPath(uids[i])); err != nil {
				return err
			}
		}
		return nil
	})
	if err := mb.finish(seq, err); err != nil {
		return nil, 0, err
	}
	return uids, uidv, nil
}

func (mb *mailbox) addLocked(msgs []newMsg) (uint64, logJob, []statemachine.UID, uint32, error) {
	if err := mb.usableLocked(); err != nil {
		return 0, logJob{}, nil, 0, err
	}
	h := mb.head
	modseq := h.HighestModSeq + 1
	kw := h.Keywords
	var recs []byte
	out := make([]statemachine.Message, len(msgs))
	uids := make([]statemachine.UID, len(msgs))
	for i, m := range msgs {
		var f statemachine.Flags
		var err error
		f, kw, recs, err = resolveFlags(m.kw, kw, true, h.HighestModSeq, recs)
		if err != nil {
			return 0, logJob{}, nil, 0, err
		}
		uids[i] = h.UIDNext + statemachine.UID(i)
		out[i] = statemachine.Message{UID: uids[i], Flags: f | m.flags, ModSeq: modseq, Size: m.size, Date: m.date}
	}
	always := mb.st.cfg.Fsync == FsyncAlways && !mb.st.cfg.PlantedBugSkipFsync
	if !always {
		// Published at once: the files need their names first.
		for i, m := range msgs {
			if err := mb.st.fs.Rename(m.tmp, mb.msgPath(uids[i])); err != nil {
				// Files already renamed have UIDs at or above UIDNEXT and
				// no record: recovery re-adds them, so stop here.
				mb.broken = err
				return 0, logJob{}, uids, 0, err
			}
		}
		mb.dirDirty = true
	}
	recs = appendLogRecord(recs, recAppend, modseq, encodeAppendBody(out))
	next, d := h.WithAppended(out, kw)
	seq, job, err := mb.commitLocked(recs, next, d)
	if err != nil {
		return 0, logJob{}, uids, 0, err
	}
	for i, m := range msgs {
		if m.body != nil {
			mb.putCache(uids[i], bytes.Clone(m.body)) // the caller's buffer is reused after Append returns
		}
	}
	return seq, job, uids, h.UIDValidity, nil
}

// Copy implements statemachine.MailboxStore.
func (mb *mailbox) Copy(uids []statemachine.UID, dest string) (statemachine.CopyResult, error) {
	res, _, err := mb.copyTo(uids, dest)
	return res, err
}

func (mb *mailbox) copyTo(uids []statemachine.UID, dest string) (statemachine.CopyResult, *mailbox, error) {
	mb.mu.Lock()
	err := mb.usableLocked()
	mb.mu.Unlock()
	if err != nil {
		return statemachine.CopyResult{}, nil, err
	}
	h := mb.live.Current() // published, hence durable, state
	var src []statemachine.UID
	var msgs []newMsg
	for _, u := range sortedUnique(uids) {
		i := h.Index(u)
		if i < 0 {
			continue
		}
		m := h.At(i)
		nm := newMsg{flags: m.Flags & (1<<statemachine.KeywordBase - 1), date: m.Date, src: mb, srcUID: u}
		for b := range statemachine.MaxKeywords {
			if m.Flags&(1<<(statemachine.KeywordBase+b)) != 0 && b < len(h.Keywords) {
				nm.kw = append(nm.kw, h.Keywords[b])
			}
		}
		src = append(src, u)
		msgs = append(msgs, nm)
	}
	d, err := mb.acct.acquire(dest)
	if err != nil {
		return statemachine.CopyResult{}, nil, err
	}
	defer mb.acct.release(d)
	if len(msgs) == 0 {
		return statemachine.CopyResult{UIDValidity: d.live.Current().UIDValidity}, d, nil
	}
	got, uidv, err := d.add(msgs)
	if err != nil {
		return statemachine.CopyResult{}, nil, err
	}
	return statemachine.CopyResult{UIDValidity: uidv, Source: src, Dest: got}, d, nil
}

// Move implements statemachine.MailboxStore: the copy is durable in the
// destination before the expunge is written here, so a crash can leave the
// messages in both mailboxes but never in neither. Observers of this mailbox
// see one publication carrying the expunge.
func (mb *mailbox) Move(uids []statemachine.UID, dest string) (statemachine.CopyResult, error) {
	res, _, err := mb.copyTo(uids, dest)
	if err != nil || len(res.Source) == 0 {
		return res, err
	}
	if err := mb.Expunge(res.Source); err != nil {
		return statemachine.CopyResult{}, err
	}
	return res, nil
}

// Message implements statemachine.MailboxStore: it reads the message file
// and verifies both of its checksums.
func (mb *mailbox) Message(uid statemachine.UID) ([]byte, error) {
	if b := mb.getCache(uid); b != nil {
		return b, nil
	}
	b, err := readFile(mb.st.fs, mb.msgPath(uid))
	if err != nil {
		if isNotExist(err) {
			return nil, statemachine.ErrNoSuchMessage
		}
		return nil, err
	}
	h, err := decodeMsgHeader(b)
	if err != nil || uint64(len(b)-h.hdrLen) != uint64(h.size) || crc(b[h.hdrLen:]) != h.bodyCRC {
		mb.st.log.Error("storage: message file failed its checksum", "path", mb.msgPath(uid))
		return nil, fmt.Errorf("storage: message %d: %w", uid, errCorrupt)
	}
	body := b[h.hdrLen:]
	mb.putCache(uid, body)
	return body, nil
}

const (
	cacheMaxEntries = 64
	cacheMaxBytes   = 4 << 20
)

func (mb *mailbox) getCache(uid statemachine.UID) []byte {
	mb.cacheMu.Lock()
	defer mb.cacheMu.Unlock()
	return mb.cache[uid]
}

func (mb *mailbox) putCache(uid statemachine.UID, b []byte) {
	if len(b) > cacheMaxBytes/4 {
		return
	}
	mb.cacheMu.Lock()
	defer mb.cacheMu.Unlock()
	if mb.cache == nil {
		mb.cache = map[statemachine.UID][]byte{}
	}
	if _, ok := mb.cache[uid]; ok {
		return
	}
	mb.cache[uid] = b
	mb.cacheQ = append(mb.cacheQ, uid)
	mb.cacheN += len(b)
	for len(mb.cacheQ) > cacheMaxEntries || mb.cacheN > cacheMaxBytes {
		old := mb.cacheQ[0]
		mb.cacheQ = mb.cacheQ[1:]
		mb.cacheN -= len(mb.cache[old])
		delete(mb.cache, old)
	}
}

func (mb *mailbox) dropCache(uids []statemachine.UID) {
	mb.cacheMu.Lock()
	defer mb.cacheMu.Unlock()
	for _, u := range uids {
		if b, ok := mb.cache[u]; ok {
			mb.cacheN -= len(b)
			delete(mb.cache, u)
			mb.cacheQ = slices.DeleteFunc(mb.cacheQ, func(x statemachine.UID) bool { return x == u })
		}
	}
}

func sortedUnique(uids []statemachine.UID) []statemachine.UID {
	if slices.IsSorted(uids) {
		ok := true
		for i := 1; i < len(uids); i++ {
			if uids[i] == uids[i-1] {
				ok = false
				break
			}
		}
		if ok {
			return uids
		}
	}
	u := slices.Clone(uids)
	slices.Sort(u)
	return slices.Compact(u)
}

// status computes STATUS from the head state.
func (mb *mailbox) status() statemachine.MailboxStatus {
	h := mb.live.Current()
	st := statemachine.MailboxStatus{Messages: uint32(h.Len()), UIDNext: h.UIDNext, UIDValidity: h.UIDValidity, HighestModSeq: h.HighestModSeq}
	h.Each(0, func(_ int, m *statemachine.Message) bool {
		if m.Flags&statemachine.FlagSeen == 0 {
			st.Unseen++
		}
		if m.Flags&statemachine.FlagDeleted != 0 {
			st.Deleted++
		}
		st.Size += uint64(m.Size)
		return true
	})
	return st
}

var _ statemachine.MailboxStore = (*mailbox)(nil)
var _ = slog.LevelInfo
