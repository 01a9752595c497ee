package statemachine

import (
	"sort"
	"sync"
	"sync/atomic"
)

// UID is a message's unique identifier within one UIDVALIDITY (RFC 9051 §2.3.1.1).
type UID uint32

// SeqNum is a message sequence number as one session sees it.
type SeqNum uint32

// Flags is a message's flags: the system flags in the low bits and keywords
// as bits KeywordBase+i for the i-th name of Snapshot.Keywords.
type Flags uint64

// System flags (RFC 9051 §2.3.2). \Recent is not stored with a message: it
// is a property of a session (RFC 3501 §2.3.2), tracked by Mailbox's recent
// floor and each view's claim (recent.go).
const (
	FlagSeen Flags = 1 << iota
	FlagAnswered
	FlagFlagged
	FlagDeleted
	FlagDraft

	// KeywordBase is the bit of the first keyword.
	KeywordBase = 8
	// MaxKeywords is how many distinct keywords a mailbox can hold.
	MaxKeywords = 64 - KeywordBase
)

// systemFlagNames lists the system flags in the order FLAGS responses use.
var systemFlagNames = [...]struct {
	flag Flags
	name string
}{
	{FlagAnswered, `\Answered`},
	{FlagFlagged, `\Flagged`},
	{FlagDeleted, `\Deleted`},
	{FlagSeen, `\Seen`},
	{FlagDraft, `\Draft`},
}

// SystemFlag returns the flag bit for a system flag name (any case, with its
// backslash), or 0 if name is not one.
func SystemFlag(name []byte) Flags {
	for _, f := range systemFlagNames {
		if asciiEqualFold(name, f.name) {
			return f.flag
		}
	}
	return 0
}

// Message is what a snapshot knows about one message.
type Message struct {
	UID    UID
	Flags  Flags
	ModSeq uint64
	Size   uint32
	Date   int64 // internal date, seconds since the epoch
}

// Snapshot is an immutable state of one mailbox. Sessions whose clients know
// the same state share one Snapshot. When the mailbox changes, the backend
// publishes a new Snapshot and links it from the old one together with the
// Delta between them, so a session holding an old snapshot can walk forward to
// the current one and learn exactly what changed (DESIGN.md, "Views and
// sequence numbers").
//
// The messages are held as a persistent chunked array: chunks of at most
// chunkSize messages, never modified once published. A change copies only
// the chunks it touches and the small slice of chunk pointers, so a flag
// change in a mailbox of 100,000 messages copies a few KiB, not 3 MiB, and
// successive snapshots share almost all of their memory.
type Snapshot struct {
	UIDValidity   uint32
	UIDNext       UID
	HighestModSeq uint64
	// Keywords names the keyword bits; shared between snapshots while it
	// does not change. Append only: a keyword keeps its bit.
	Keywords []string

	chunks [][]Message // ascending by UID; never modified after publication
	ends   []int32     // ends[k]: messages in chunks[0..k]

	next  atomic.Pointer[Snapshot] // the snapshot that replaced this one
	delta Delta                    // what changed from this snapshot to next
}

// chunkSize is the most messages one chunk holds.
const chunkSize = 256

// Delta is what changed between a snapshot and its successor.
type Delta struct {
	Expunged []UID // ascending
	Changed  []UID // ascending: flags or modseq changed, still present
	// Messages appended are those of the successor with UID >= this
	// snapshot's UIDNext.
}

// NewSnapshot makes a snapshot of msgs, which must be ascending by UID. The
// snapshot copies msgs into its chunks.
func NewSnapshot(uidValidity uint32, uidNext UID, highestModSeq uint64, keywords []string, msgs []Message) *Snapshot {
	s := &Snapshot{UIDValidity: uidValidity, UIDNext: uidNext, HighestModSeq: highestModSeq, Keywords: keywords}
	s.chunks = appendChunks(nil, msgs)
	s.ends = chunkEnds(nil, s.chunks, 0)
	return s
}

// appendChunks splits msgs into new chunks appended to chunks.
func appendChunks(chunks [][]Message, msgs []Message) [][]Message {
	for len(msgs) > 0 {
		n := min(len(msgs), chunkSize)
		c := make([]Message, n)
		copy(c, msgs[:n])
		chunks = append(chunks, c)
		msgs = msgs[n:]
	}
	return chunks
}

// chunkEnds recomputes ends from chunk from on (ends[:from] is kept).
func chunkEnds(ends []int32, chunks [][]Message, from int) []int32 {
	out := make([]int32, len(chunks))
	copy(out, ends[:from])
	var t int32
	if from > 0 {
		t = out[from-1]
	}
	for k := from; k < len(chunks); k++ {
		t += int32(len(chunks[k]))
		out[k] = t
	}
	return out
}

// Len is the number of messages.
func (s *Snapshot) Len() int {
	if len(s.ends) == 0 {
		return 0
	}
	return int(s.ends[len(s.ends)-1])
}

// locate returns the chunk and offset of the i-th message.
func (s *Snapshot) locate(i int) (int, int) {
	k := sort.Search(len(s.ends), func(k int) bool { return int(s.ends[k]) > i })
	if k > 0 {
		i -= int(s.ends[k-1])
	}
	return k, i
}

// At returns the i-th message (0-based). The pointer stays valid and the
// message unchanged for as long as the snapshot is reachable.
func (s *Snapshot) At(i int) *Message {
	k, off := s.locate(i)
	return &s.chunks[k][off]
}

// lowerBound is the index of the first message with UID >= u.
func (s *Snapshot) lowerBound(u UID) int {
	k := sort.Search(len(s.chunks), func(k int) bool {
		c := s.chunks[k]
		return c[len(c)-1].UID >= u
	})
	if k == len(s.chunks) {
		return s.Len()
	}
	c := s.chunks[k]
	off := sort.Search(len(c), func(i int) bool { return c[i].UID >= u })
	if k > 0 {
		return int(s.ends[k-1]) + off
	}
	return off
}

// Index returns the position of uid, or -1.
func (s *Snapshot) Index(uid UID) int {
	i := s.lowerBound(uid)
	if i < s.Len() && s.At(i).UID == uid {
		return i
	}
	return -1
}

// Each calls fn for the messages from index from on, in order, until fn
// returns false.
func (s *Snapshot) Each(from int, fn func(i int, m *Message) bool) {
	if from >= s.Len() {
		return
	}
	k, off := s.locate(from)
	i := from
	for ; k < len(s.chunks); k++ {
		c := s.chunks[k]
		for ; off < len(c); off++ {
			if !fn(i, &c[off]) {
				return
			}
			i++
		}
		off = 0
	}
}

// Messages returns a copy of all messages, ascending by UID (O(n); for
// index writers and tests, not for hot paths).
func (s *Snapshot) Messages() []Message {
	out := make([]Message, 0, s.Len())
	for _, c := range s.chunks {
		out = append(out, c...)
	}
	return out
}

// Next returns the snapshot that replaced s and the delta to it, or nil.
func (s *Snapshot) Next() (*Snapshot, *Delta) {
	n := s.next.Load()
	if n == nil {
		return nil, nil
	}
	return n, &s.delta
}

// KeywordBit returns the bit of keyword name (case-insensitive, RFC 9051
// §2.3.2 treats flag names case-insensitively), or 0 if the mailbox has no
// such keyword yet.
func (s *Snapshot) KeywordBit(name []byte) Flags {
	for i, k := range s.Keywords {
		if len(k) == len(name) && equalFoldASCII(k, name) {
			return 1 << (KeywordBase + i)
		}
	}
	return 0
}

func equalFoldASCII(a string, b []byte) bool {
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// derive returns a new snapshot with s's header fields and chunk list.
func (s *Snapshot) derive(keywords []string) *Snapshot {
	n := &Snapshot{UIDValidity: s.UIDValidity, UIDNext: s.UIDNext, HighestModSeq: s.HighestModSeq, Keywords: keywords}
	n.chunks = append(make([][]Message, 0, len(s.chunks)+1), s.chunks...)
	n.ends = s.ends
	return n
}

// Builder helpers for backends. Each returns a new snapshot and the delta from
// s; s is not modified. The backend passes both to Mailbox.Publish.

// WithAppended returns s plus msgs (ascending, UIDs >= s.UIDNext).
func (s *Snapshot) WithAppended(msgs []Message, keywords []string) (*Snapshot, Delta) {
	n := s.derive(keywords)
	from := len(n.chunks)
	if from > 0 && len(msgs) > 0 {
		last := n.chunks[from-1]
		if room := chunkSize - len(last); room > 0 {
			take := min(room, len(msgs))
			c := make([]Message, len(last)+take)
			copy(c, last)
			copy(c[len(last):], msgs[:take])
			n.chunks[from-1] = c
			msgs = msgs[take:]
			from--
		}
	}
	n.chunks = appendChunks(n.chunks, msgs)
	n.ends = chunkEnds(s.ends, n.chunks, from)
	if k := len(n.chunks); k > 0 {
		c := n.chunks[k-1]
		if u := c[len(c)-1].UID; u >= n.UIDNext {
			n.UIDNext = u + 1
		}
	}
	for _, c := range n.chunks[from:] {
		for i := range c {
			if c[i].ModSeq > n.HighestModSeq {
				n.HighestModSeq = c[i].ModSeq
			}
		}
	}
	return n, Delta{}
}

// WithChanged returns s with the messages of changed (ascending by UID,
// present in s) replaced by the given values.
func (s *Snapshot) WithChanged(changed []Message, keywords []string) (*Snapshot, Delta) {
	n := s.derive(keywords)
	d := Delta{Changed: make([]UID, 0, len(changed))}
	copied := -1
	for _, c := range changed {
		i := n.Index(c.UID)
		if i < 0 {
			continue
		}
		k, off := n.locate(i)
		if k != copied {
			n.chunks[k] = append([]Message(nil), n.chunks[k]...)
			copied = k
		}
		n.chunks[k][off] = c
		d.Changed = append(d.Changed, c.UID)
		if c.ModSeq > n.HighestModSeq {
			n.HighestModSeq = c.ModSeq
		}
	}
	return n, d
}

// WithExpunged returns s without the messages whose UIDs are in uids
// (ascending); modseq is the modseq of the expunge (RFC 7162 §3.2.10 counts an
// expunge as a change of the mailbox).
func (s *Snapshot) WithExpunged(uids []UID, modseq uint64) (*Snapshot, Delta) {
	n := s.derive(s.Keywords)
	d := Delta{Expunged: make([]UID, 0, len(uids))}
	out := n.chunks[:0]
	j := 0
	for _, c := range n.chunks {
		if j >= len(uids) || uids[j] > c[len(c)-1].UID {
			out = append(out, c)
			continue
		}
		kept := make([]Message, 0, len(c))
		for i := range c {
			for j < len(uids) && uids[j] < c[i].UID {
				j++
			}
			if j < len(uids) && uids[j] == c[i].UID {
				d.Expunged = append(d.Expunged, c[i].UID)
				continue
			}
			kept = append(kept, c[i])
		}
		if len(kept) == 0 {
			continue
		}
		// Merge small chunks so that many expunges do not leave a long
		// list of tiny ones.
		if k := len(out); k > 0 && len(out[k-1])+len(kept) <= chunkSize/2 {
			out[k-1] = append(append(make([]Message, 0, len(out[k-1])+len(kept)), out[k-1]...), kept...)
			continue
		}
		out = append(out, kept)
	}
	n.chunks = out
	n.ends = chunkEnds(nil, n.chunks, 0)
	if modseq > n.HighestModSeq {
		n.HighestModSeq = modseq
	}
	return n, d
}

// Waker is told that a watched mailbox changed. Wake must not block and must
// not call back into the Mailbox: the I/O layer queues the session and steps
// it later (in batches).
type Waker interface {
	Wake()
}

type watcher struct {
	w    Waker
	slot *int32 // where the watcher keeps its index, updated on swap-remove
}

// Mailbox is the shared live state of one open mailbox: the current snapshot
// and the sessions watching it. The backend owns one per open mailbox and
// gives the same *Mailbox to every session that selects it.
type Mailbox struct {
	// Name is the mailbox name at open time (informational).
	Name string
	// Store is the backend's write side of this mailbox.
	Store MailboxStore

	cur atomic.Pointer[Snapshot]

	// ExpungeLog remembers expunged UIDs with the modseq of their expunge
	// for QRESYNC VANISHED (EARLIER); guarded by mu.
	expunged expungeLog

	// recentFloor: messages with UID >= recentFloor have not been claimed
	// as \Recent by any read-write session yet (recent.go).
	recentFloor atomic.Uint32

	mu       sync.Mutex
	watchers []watcher
}

// NewMailbox makes the live state of a mailbox whose current state is snap.
// It assumes nothing about expunges before snap: ExpungedSince reports an
// incomplete answer for any modseq below snap.HighestModSeq until the
// backend calls RecordExpunged with what its log remembers (and floor 0 for
// a mailbox that never lost a message), so QRESYNC falls back to the exact
// superset instead of missing an expunge after a restart.
func NewMailbox(name string, store MailboxStore, snap *Snapshot) *Mailbox {
	m := &Mailbox{Name: name, Store: store}
	m.cur.Store(snap)
	// Which messages earlier sessions were told of is not known (the
	// floor is not persisted): RFC 3501 §2.3.2 says such messages SHOULD
	// be considered recent. A backend that remembers the floor restores
	// it with SetRecentFloor.
	m.recentFloor.Store(1)
	// Expunges before this moment are unknown until the backend says
	// otherwise with RecordExpunged.
	m.expunged.floor = snap.HighestModSeq
	return m
}

// RecordExpunged tells the mailbox of expunges that happened before it was
// opened (the backend replays them from its log) so QRESYNC can report them;
// floor is the modseq below which the backend itself has forgotten.
func (m *Mailbox) RecordExpunged(uids []UID, modseq uint64, floor uint64) {
	m.mu.Lock()
	m.expunged.add(uids, modseq)
	if floor < m.expunged.floor {
		// Never below what the log itself dropped to stay bounded.
		m.expunged.floor = max(floor, m.expunged.dropped)
	}
	m.mu.Unlock()
}

// Current returns the current snapshot.
func (m *Mailbox) Current() *Snapshot { return m.cur.Load() }

// Publish makes next the current snapshot, records d as the change from the
// previous one and wakes every watcher. Backends call it with their own write
// lock held, so publications are totally ordered.
func (m *Mailbox) Publish(next *Snapshot, d Delta) {
	prev := m.cur.Load()
	prev.delta = d
	prev.next.Store(next)
	m.cur.Store(next)
	m.mu.Lock()
	if len(d.Expunged) > 0 {
		m.expunged.add(d.Expunged, next.HighestModSeq)
	}
	for _, w := range m.watchers {
		w.w.Wake()
	}
	m.mu.Unlock()
}

// Watch registers w to be woken on every change. slot receives the watcher's
// index and must stay valid until Unwatch.
func (m *Mailbox) Watch(w Waker, slot *int32) {
	m.mu.Lock()
	*slot = int32(len(m.watchers))
	m.watchers = append(m.watchers, watcher{w: w, slot: slot})
	m.mu.Unlock()
}

// Unwatch removes the watcher registered with slot.
func (m *Mailbox) Unwatch(slot *int32) {
	m.mu.Lock()
	i := int(*slot)
	if i >= 0 && i < len(m.watchers) && m.watchers[i].slot == slot {
		last := len(m.watchers) - 1
		m.watchers[i] = m.watchers[last]
		*m.watchers[i].slot = int32(i)
		m.watchers[last] = watcher{}
		m.watchers = m.watchers[:last]
		if cap(m.watchers) > 64 && len(m.watchers) < cap(m.watchers)/4 {
			m.watchers = append([]watcher(nil), m.watchers...)
		}
	}
	*slot = -1
	m.mu.Unlock()
}

// Watchers returns how many sessions watch the mailbox.
func (m *Mailbox) Watchers() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.watchers)
}

// ExpungedSince returns the UIDs expunged with a modseq greater than modseq,
// ascending, and whether the log still reaches back that far.
func (m *Mailbox) ExpungedSince(modseq uint64) ([]UID, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.expunged.since(modseq)
}

// expungeLog keeps (modseq, uid) pairs of expunges as runs of consecutive
// UIDs that share a modseq, so a mass expunge costs one entry.
type expungeLog struct {
	runs  []expungeRun
	floor uint64 // expunges at or below this modseq were forgotten
	// dropped is the highest modseq of the runs add dropped: floor never
	// goes below it.
	dropped uint64
}

type expungeRun struct {
	modseq uint64
	first  UID
	last   UID
}

const expungeLogMaxRuns = 1 << 16

func (l *expungeLog) add(uids []UID, modseq uint64) {
	for _, u := range uids {
		if n := len(l.runs); n > 0 && l.runs[n-1].modseq == modseq && l.runs[n-1].last+1 == u {
			l.runs[n-1].last = u
			continue
		}
		l.runs = append(l.runs, expungeRun{modseq: modseq, first: u, last: u})
	}
	if len(l.runs) > expungeLogMaxRuns {
		drop := len(l.runs) / 2
		for _, r := range l.runs[:drop] {
			l.dropped = max(l.dropped, r.modseq)
		}
		l.floor = max(l.floor, l.dropped)
		l.runs = append(l.runs[:0:0], l.runs[drop:]...)
	}
}

func (l *expungeLog) since(modseq uint64) ([]UID, bool) {
	var out []UID
	for _, r := range l.runs {
		if r.modseq > modseq {
			for u := r.first; u <= r.last; u++ {
				out = append(out, u)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out, modseq >= l.floor
}
