// Package linearizability holds the checkers the simulator (sim/) runs over the
// histories it records: a porcupine model of IMAP mailboxes (this file) and a
// per-session protocol checker (protocol.go) that rebuilds each client's
// sequence-number→UID map from the server's responses alone.
//
// The mailbox model follows porcupine's and etcd's robustness models: the
// specification is a plain step function over an immutable state; an
// operation whose connection died before its tagged response has an unknown
// outcome, which the model covers by forgetting what the operation may have
// changed (see step); histories are partitioned so that the NP-hard search
// stays small.
//
// Partitioning: an operation touches one mailbox (two for COPY and MOVE). A
// partition is a connected component of mailboxes linked by COPY/MOVE within
// one Key (the simulator's key is user and crash epoch), so a user who never
// copies between INBOX and Archive in an epoch gets two independent checks.
package linearizability

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/anishathalye/porcupine"
)

// Flags is the set of flags the model tracks: the five system flags and two
// keywords, which is all the simulator's clients ever set.
type Flags uint8

// Flag bits.
const (
	Seen Flags = 1 << iota
	Answered
	Flagged
	Deleted
	Draft
	Label1 // keyword $Label1
	Label2 // keyword $Label2

	AllFlags Flags = 1<<7 - 1
)

var flagNames = [...]string{`\Seen`, `\Answered`, `\Flagged`, `\Deleted`, `\Draft`, `$Label1`, `$Label2`}

// FlagByName returns the bit of an IMAP flag name (any case), or 0.
func FlagByName(name string) Flags {
	for i, n := range flagNames {
		if strings.EqualFold(n, name) {
			return 1 << i
		}
	}
	return 0
}

// Names returns the IMAP names of f, in bit order.
func (f Flags) Names() []string {
	var out []string
	for i, n := range flagNames {
		if f&(1<<i) != 0 {
			out = append(out, n)
		}
	}
	return out
}

func (f Flags) String() string { return "(" + strings.Join(f.Names(), " ") + ")" }

// Msg is one message of the model. Known says which bits of Flags the model
// is sure of: a message that an operation with an unknown outcome may have
// touched, or that was appended with an unknown outcome, has bits it learns
// again from the next observation.
type Msg struct {
	UID   uint32
	Flags Flags
	Known Flags
	// Maybe: an operation with an unknown outcome may have expunged it.
	Maybe bool
	// ModSeq is, in the model, a lower bound of the message's
	// mod-sequence (RFC 7162): the highest MODSEQ observed, or the
	// mailbox's HIGHESTMODSEQ bound when the message changed; 0: unknown.
	// In an observation it is the MODSEQ the client holds (0: none).
	ModSeq uint64
	// Changed (model only): the message changed after ModSeq was known,
	// so its mod-sequence is above ModSeq, not just at or above it.
	Changed bool
}

// Box is the state of one mailbox. It is immutable once built.
type Box struct {
	Msgs    []Msg // ascending by UID
	UIDNext uint32
	// Ghosts counts messages that appends or copies with an unknown
	// outcome may have added under UIDs the model does not know; an
	// observation of an unknown UID at or above UIDNext adopts one.
	Ghosts int
	// HighestModSeq is a lower bound of the mailbox's HIGHESTMODSEQ: the
	// highest mod-sequence observed (RFC 7162 §3.1.1: it never goes back).
	HighestModSeq uint64

	// h caches the box's hash (porcupine hashes the state after every
	// step; without the cache that is O(messages) per step and half of
	// the check's CPU time). Computed on first use, when the box is in a
	// state and no longer changes.
	h      uint64
	hashed bool
}

func (b *Box) index(uid uint32) int {
	i := sort.Search(len(b.Msgs), func(i int) bool { return b.Msgs[i].UID >= uid })
	if i < len(b.Msgs) && b.Msgs[i].UID == uid {
		return i
	}
	return -1
}

func (b *Box) clone() *Box {
	return &Box{Msgs: slices.Clone(b.Msgs), UIDNext: b.UIDNext, Ghosts: b.Ghosts, HighestModSeq: b.HighestModSeq}
}

func (b *Box) String() string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "uidnext=%d", b.UIDNext)
	if b.Ghosts > 0 {
		fmt.Fprintf(&sb, " ghosts=%d", b.Ghosts)
	}
	if b.HighestModSeq > 0 {
		fmt.Fprintf(&sb, " highestmodseq>=%d", b.HighestModSeq)
	}
	for _, m := range b.Msgs {
		fmt.Fprintf(&sb, " %d%s", m.UID, m.Flags)
		if m.ModSeq > 0 || m.Changed {
			op := ">="
			if m.Changed {
				op = ">"
			}
			fmt.Fprintf(&sb, "@%s%d", op, m.ModSeq)
		}
		if m.Known != AllFlags {
			sb.WriteString("?")
		}
		if m.Maybe {
			sb.WriteString("~")
		}
	}
	return sb.String()
}

type namedBox struct {
	name string
	box  *Box
}

// state is the model state of one partition: the mailboxes it has seen,
// sorted by name. Never modified once built.
type state struct {
	boxes []namedBox
}

func (s *state) get(name string) *Box {
	for _, nb := range s.boxes {
		if nb.name == name {
			return nb.box
		}
	}
	return &Box{UIDNext: 1}
}

func (s *state) with(name string, b *Box) *state {
	n := &state{boxes: make([]namedBox, 0, len(s.boxes)+1)}
	done := false
	for _, nb := range s.boxes {
		if nb.name == name {
			n.boxes = append(n.boxes, namedBox{name, b})
			done = true
			continue
		}
		if !done && nb.name > name {
			n.boxes = append(n.boxes, namedBox{name, b})
			done = true
		}
		n.boxes = append(n.boxes, nb)
	}
	if !done {
		n.boxes = append(n.boxes, namedBox{name, b})
	}
	return n
}

// Kind is the kind of an operation.
type Kind uint8

// Operation kinds.
const (
	// OpReset sets a mailbox to Input.Reset: the state the simulator read
	// from the store at the start of an epoch (after a crash and recovery).
	OpReset Kind = iota
	// OpAppend appends a message with Input.Flags; Output.UID is its UID.
	OpAppend
	// OpStore changes the flags of Input.UIDs (those present) by Input.Store.
	OpStore
	// OpTaint forgets the flags of every message of the mailbox: a client
	// changed flags of messages whose UIDs it did not know.
	OpTaint
	// OpExpunge removes every message flagged \Deleted (EXPUNGE, CLOSE).
	OpExpunge
	// OpUIDExpunge removes the messages of Input.UIDs flagged \Deleted.
	OpUIDExpunge
	// OpCopy copies Input.UIDs (nil: those of Output.Src) to Input.Dest;
	// Output.Src and Output.Dest are the COPYUID sets.
	OpCopy
	// OpMove is OpCopy followed by the removal of the source messages.
	OpMove
	// OpRead only observes: Output.Observed (every command also carries
	// the client's flag cache as Observed, checked after the step).
	OpRead
	// OpStatus observes MESSAGES and UIDNEXT.
	OpStatus
)

var kindNames = [...]string{"reset", "append", "store", "taint", "expunge", "uid-expunge", "copy", "move", "read", "status"}

func (k Kind) String() string { return kindNames[k] }

// StoreOp is how STORE changes flags.
type StoreOp uint8

// STORE operations (RFC 9051 §6.4.6).
const (
	StoreAdd     StoreOp = iota // +FLAGS
	StoreRemove                 // -FLAGS
	StoreReplace                // FLAGS
)

// Input is what a client asked.
type Input struct {
	Key     string // partition key: the simulator uses "user@epoch"
	Mailbox string
	Kind    Kind
	Dest    string   // OpCopy, OpMove
	UIDs    []uint32 // OpStore, OpUIDExpunge, OpCopy, OpMove; ascending
	Store   StoreOp
	Flags   Flags
	Reset   *Box
	// HasUnchanged: OpStore with UNCHANGEDSINCE UnchangedSince (RFC 7162
	// §3.1.3); the messages of Output.Modified were left alone.
	HasUnchanged   bool
	UnchangedSince uint64
	// ChangedSince > 0: OpRead is a FETCH (CHANGEDSINCE ChangedSince) of
	// the messages Input.UIDs (those the client could name); it must
	// return, in Output.Returned, every one whose mod-sequence is above
	// (RFC 7162 §3.1.4.1).
	ChangedSince uint64
	// Text is the command as sent, for the visualization.
	Text string
}

// Output is what the server answered.
type Output struct {
	// Unknown: the connection died before the tagged response; the
	// operation may or may not have happened.
	Unknown bool
	// OK: the tagged response was OK (else NO or BAD: nothing changed).
	OK       bool
	UID      uint32   // OpAppend: APPENDUID
	Src      []uint32 // OpCopy, OpMove: COPYUID source UIDs
	Dest     []uint32 // OpCopy, OpMove: COPYUID destination UIDs, same order
	Messages uint32   // OpStatus
	UIDNext  uint32   // OpStatus
	// HighestModSeq: OpStatus with HIGHESTMODSEQ asked (0: not asked).
	HighestModSeq uint64
	// Modified: OpStore with UNCHANGEDSINCE, the UIDs of [MODIFIED].
	Modified []uint32
	// Returned: OpRead with ChangedSince, the UIDs the FETCH returned.
	Returned []uint32
	// Observed are flags the client holds for messages of Input.Mailbox
	// when the command completed (its cache, built from FETCH responses).
	Observed []Msg
}

// The model is deterministic: an operation with an unknown outcome does not
// branch into "happened" and "did not happen" (2^n states after n of them);
// it weakens the state instead, soundly: flags it may have changed become
// unknown bits (Msg.Known), messages it may have expunged become Maybe,
// messages it may have added become Ghosts. The next observation learns the
// bits again. This never rejects a correct history and keeps the check
// linear in the history for the simulator's mostly sequential histories.

func store(b *Box, uids []uint32, op StoreOp, f Flags, sure bool) *Box {
	n := b.clone()
	for _, u := range uids {
		i := n.index(u)
		if i < 0 {
			continue
		}
		m := &n.Msgs[i]
		if sure && !m.Maybe && storeChanges(*m, op, f) {
			// A change gets a mod-sequence above every earlier one
			// (RFC 7162 §3.1.1).
			m.ModSeq = max(m.ModSeq, n.HighestModSeq)
			m.Changed = true
		}
		switch {
		case !sure && op == StoreReplace:
			m.Known = 0
		case !sure:
			m.Known &^= f
		case op == StoreAdd:
			m.Flags |= f
			m.Known |= f
		case op == StoreRemove:
			m.Flags &^= f
			m.Known |= f
		default:
			m.Flags = f
			m.Known = AllFlags
		}
	}
	return n
}

// storeChanges reports whether a STORE surely changes m's flags (bits the
// model knows).
func storeChanges(m Msg, op StoreOp, f Flags) bool {
	switch op {
	case StoreAdd:
		return f&m.Known&^m.Flags != 0
	case StoreRemove:
		return f&m.Known&m.Flags != 0
	}
	return (f^m.Flags)&m.Known != 0
}

// mustBeAbove reports whether m's mod-sequence is surely above x.
func (m Msg) mustBeAbove(x uint64) bool {
	return m.ModSeq > x || (m.Changed && m.ModSeq >= x)
}

// expunge removes the \Deleted messages (of uids, or all when uids is nil).
// sure: the expunge happened; else it may have.
func expunge(b *Box, uids []uint32, sure bool) *Box {
	n := &Box{UIDNext: b.UIDNext, Ghosts: b.Ghosts, HighestModSeq: b.HighestModSeq, Msgs: make([]Msg, 0, len(b.Msgs))}
	for _, m := range b.Msgs {
		if uids != nil {
			if _, in := slices.BinarySearch(uids, m.UID); !in {
				n.Msgs = append(n.Msgs, m)
				continue
			}
		}
		known, deleted := m.Known&Deleted != 0, m.Flags&Deleted != 0
		switch {
		case known && !deleted:
			n.Msgs = append(n.Msgs, m)
		case known && deleted && sure:
			// gone
		case known && deleted:
			m.Maybe = true
			n.Msgs = append(n.Msgs, m)
		case sure:
			// If it is still there, it was not \Deleted.
			m.Maybe = true
			m.Known |= Deleted
			m.Flags &^= Deleted
			n.Msgs = append(n.Msgs, m)
		default:
			m.Maybe = true
			n.Msgs = append(n.Msgs, m)
		}
	}
	return n
}

// observe checks the client's observations against b and learns unknown
// flag bits; it returns nil when they contradict b.
func observe(b *Box, obs []Msg) *Box {
	if len(obs) == 0 {
		return b
	}
	n := b
	cloned := false
	for _, o := range obs {
		i := n.index(o.UID)
		if i < 0 {
			if o.UID < n.UIDNext {
				// Expunged, and the session may not have said so yet
				// (RFC 9051 §7.5.1 holds EXPUNGE back); or, when an
				// operation with an unknown outcome may have added
				// messages, one of those: keep it as one that may exist.
				if n.Ghosts > 0 {
					if !cloned {
						n, cloned = n.clone(), true
					}
					at, _ := slices.BinarySearchFunc(n.Msgs, o.UID, func(m Msg, u uint32) int { return int(m.UID) - int(u) })
					n.Msgs = slices.Insert(n.Msgs, at, Msg{UID: o.UID, Flags: o.Flags, Known: AllFlags, Maybe: true, ModSeq: o.ModSeq})
				}
				continue
			}
			if n.Ghosts == 0 {
				return nil // a UID the mailbox never had
			}
			if !cloned {
				n, cloned = n.clone(), true
			}
			n.Ghosts--
			n.Msgs = append(n.Msgs, Msg{UID: o.UID, Flags: o.Flags, Known: AllFlags, ModSeq: o.ModSeq})
			n.HighestModSeq = max(n.HighestModSeq, o.ModSeq)
			n.UIDNext = o.UID + 1
			continue
		}
		m := n.Msgs[i]
		if o.ModSeq > 0 {
			// A mod-sequence never goes back, and a change moves it
			// above the one known before (RFC 7162 §3.1.1). A message
			// that may be gone is not checked (the data may be stale)
			// but learns the bound all the same: a state that does not
			// depend on where an unknown-outcome EXPUNGE linearizes
			// keeps porcupine's search a replay.
			if !m.Maybe && (o.ModSeq < m.ModSeq || (m.Changed && o.ModSeq == m.ModSeq)) {
				return nil
			}
			if o.ModSeq > m.ModSeq || (o.ModSeq == m.ModSeq && m.Changed && !m.Maybe) || o.ModSeq > n.HighestModSeq {
				if !cloned {
					n, cloned = n.clone(), true
				}
				if o.ModSeq > m.ModSeq || !m.Maybe {
					n.Msgs[i].ModSeq, n.Msgs[i].Changed = o.ModSeq, false
				}
				n.HighestModSeq = max(n.HighestModSeq, o.ModSeq)
				m = n.Msgs[i]
			}
		}
		if m.Flags&m.Known != o.Flags&m.Known {
			if m.Maybe {
				// Observed stale data of a message that may be gone.
				continue
			}
			return nil
		}
		if m.Known != AllFlags {
			if !cloned {
				n, cloned = n.clone(), true
			}
			n.Msgs[i].Flags = o.Flags
			n.Msgs[i].Known = AllFlags
		}
	}
	return n
}

// adoptGhost returns b with uid, which b does not hold, taken as one of
// its ghosts: its flags are unknown. At or above UIDNext it uses up a ghost;
// below (a ghost whose UID was assigned before later known appends) it may
// exist, as in observe.
func adoptGhost(b *Box, uid uint32) *Box {
	n := b.clone()
	if uid >= n.UIDNext {
		n.Ghosts--
		n.Msgs = append(n.Msgs, Msg{UID: uid})
		n.UIDNext = uid + 1
		return n
	}
	at, _ := slices.BinarySearchFunc(n.Msgs, uid, func(m Msg, u uint32) int { return int(m.UID) - int(u) })
	n.Msgs = slices.Insert(n.Msgs, at, Msg{UID: uid, Maybe: true})
	return n
}

func appendMsgs(b *Box, uids []uint32, flags []Flags, known []Flags) *Box {
	n := b.clone()
	for i, u := range uids {
		// A new message's mod-sequence is above the mailbox's
		// HIGHESTMODSEQ before it (RFC 7162 §3.1.1).
		n.Msgs = append(n.Msgs, Msg{UID: u, Flags: flags[i], Known: known[i], ModSeq: b.HighestModSeq, Changed: true})
		if u >= n.UIDNext {
			n.UIDNext = u + 1
		}
	}
	return n
}

func ascendingFrom(uids []uint32, min uint32) bool {
	for _, u := range uids {
		if u < min {
			return false
		}
		min = u + 1
	}
	return true
}

// unboundedGhosts stands for "any number of messages" (a copy by sequence
// numbers the client could not resolve, whose outcome is unknown).
const unboundedGhosts = 1 << 20

// step applies one operation; ok is false when the output is impossible.
func step(s *state, in *Input, out *Output) (bool, *state) {
	b := s.get(in.Mailbox)
	var n *Box // the new state of in.Mailbox, nil: unchanged
	switch in.Kind {
	case OpReset:
		return true, s.with(in.Mailbox, in.Reset)
	case OpAppend:
		switch {
		case out.Unknown:
			n = b.clone()
			n.Ghosts++
		case !out.OK:
		case out.UID < b.UIDNext:
			return false, s // a UID given out before (RFC 9051 §2.3.1.1)
		default:
			n = appendMsgs(b, []uint32{out.UID}, []Flags{in.Flags}, []Flags{AllFlags})
		}
	case OpStore:
		switch {
		case out.Unknown:
			n = store(b, in.UIDs, in.Store, in.Flags, false)
		case !out.OK:
			// The Backend contract: a method that failed changed nothing.
		default:
			uids := in.UIDs
			if in.HasUnchanged {
				// RFC 7162 §3.1.3: a message whose mod-sequence is
				// above UNCHANGEDSINCE is left alone and reported in
				// MODIFIED; every other one is stored.
				uids = nil
				for _, u := range in.UIDs {
					if slices.Contains(out.Modified, u) {
						continue
					}
					uids = append(uids, u)
					if i := b.index(u); i >= 0 && !b.Msgs[i].Maybe && b.Msgs[i].mustBeAbove(in.UnchangedSince) {
						return false, s // stored although changed since
					}
				}
			}
			n = store(b, uids, in.Store, in.Flags, true)
			for _, u := range uids {
				if i := n.index(u); i >= 0 && n.Msgs[i].Maybe {
					// Stored on a message that may be gone: if it is
					// there it has these flags, if not nothing changed.
					n.Msgs[i].Known = 0
				}
			}
		}
	case OpTaint:
		n = b.clone()
		for i := range n.Msgs {
			n.Msgs[i].Known = 0
		}
	case OpExpunge, OpUIDExpunge:
		var uids []uint32
		if in.Kind == OpUIDExpunge {
			uids = in.UIDs
			if uids == nil {
				uids = []uint32{}
			}
		}
		if out.Unknown || out.OK {
			n = expunge(b, uids, !out.Unknown)
		}
	case OpCopy, OpMove:
		if in.Mailbox == in.Dest {
			return false, s // the simulator never copies a mailbox into itself
		}
		d := s.get(in.Dest)
		if out.Unknown {
			g := d.clone()
			var src []uint32
			if in.UIDs == nil {
				g.Ghosts = unboundedGhosts
			} else {
				for _, u := range in.UIDs {
					if b.index(u) >= 0 {
						src = append(src, u)
					}
				}
				g.Ghosts += len(src)
			}
			st := s.with(in.Dest, g)
			if in.Kind == OpMove {
				mb := b.clone()
				for i := range mb.Msgs {
					if in.UIDs == nil || slices.Contains(src, mb.Msgs[i].UID) {
						mb.Msgs[i].Maybe = true
					}
				}
				st = st.with(in.Mailbox, mb)
			}
			return true, st
		}
		if !out.OK {
			break
		}
		if len(out.Src) != len(out.Dest) {
			return false, s
		}
		// The source set is the requested messages still present.
		src := slices.Clone(out.Src)
		slices.Sort(src)
		for _, u := range src {
			if b.index(u) < 0 {
				if b.Ghosts == 0 {
					return false, s
				}
				// One that an operation with an unknown outcome added
				// (seed 119: COPY of a message whose APPEND's
				// connection died before the tagged OK).
				b = adoptGhost(b, u)
			}
		}
		if in.UIDs != nil {
			for _, u := range in.UIDs {
				i := b.index(u)
				if _, in := slices.BinarySearch(src, u); !in && i >= 0 && !b.Msgs[i].Maybe {
					return false, s // a present message was not copied
				}
			}
			for _, u := range src {
				if _, in := slices.BinarySearch(in.UIDs, u); !in {
					return false, s // copied a message that was not asked for
				}
			}
		}
		if !ascendingFrom(out.Dest, d.UIDNext) {
			return false, s
		}
		flags := make([]Flags, len(out.Src))
		known := make([]Flags, len(out.Src))
		for i, u := range out.Src {
			m := b.Msgs[b.index(u)]
			flags[i], known[i] = m.Flags, m.Known
		}
		st := s.with(in.Dest, appendMsgs(d, out.Dest, flags, known))
		if in.Kind == OpMove {
			st = st.with(in.Mailbox, removeUIDs(b, out.Src))
		} else {
			// The copied messages exist.
			mb := b.clone()
			for _, u := range out.Src {
				mb.Msgs[mb.index(u)].Maybe = false
			}
			st = st.with(in.Mailbox, mb)
		}
		s = st
	case OpRead:
		if in.ChangedSince > 0 && out.OK && !out.Unknown {
			for _, u := range in.UIDs {
				i := b.index(u)
				if i >= 0 && !b.Msgs[i].Maybe && b.Msgs[i].mustBeAbove(in.ChangedSince) && !slices.Contains(out.Returned, u) {
					return false, s // changed after CHANGEDSINCE, not returned
				}
			}
		}
	case OpStatus:
		if out.Unknown || !out.OK {
			break
		}
		var sure uint32
		for _, m := range b.Msgs {
			if !m.Maybe {
				sure++
			}
		}
		most := uint64(len(b.Msgs)) + uint64(b.Ghosts)
		if out.Messages < sure || uint64(out.Messages) > most {
			return false, s
		}
		if out.UIDNext < b.UIDNext || (b.Ghosts == 0 && out.UIDNext != b.UIDNext) {
			return false, s
		}
		if h := out.HighestModSeq; h > 0 {
			// HIGHESTMODSEQ never goes back and is at least every
			// message's mod-sequence (RFC 7162 §3.1.1).
			if h < b.HighestModSeq {
				return false, s
			}
			for _, m := range b.Msgs {
				if h < m.ModSeq || (!m.Maybe && m.Changed && h == m.ModSeq) {
					return false, s
				}
			}
			if h > b.HighestModSeq {
				n = b.clone()
				n.HighestModSeq = h
			}
		}
	}
	if n != nil {
		s = s.with(in.Mailbox, n)
	}
	if out.Unknown || len(out.Observed) == 0 {
		return true, s
	}
	// The observations hold after the step.
	bb := s.get(in.Mailbox)
	o := observe(bb, out.Observed)
	if o == nil {
		return false, s
	}
	if o != bb {
		s = s.with(in.Mailbox, o)
	}
	return true, s
}

func removeUIDs(b *Box, uids []uint32) *Box {
	n := &Box{UIDNext: b.UIDNext, Ghosts: b.Ghosts, HighestModSeq: b.HighestModSeq, Msgs: make([]Msg, 0, len(b.Msgs))}
	for _, m := range b.Msgs {
		if !slices.Contains(uids, m.UID) {
			n.Msgs = append(n.Msgs, m)
		}
	}
	return n
}

func equal(a, b *state) bool {
	if len(a.boxes) != len(b.boxes) {
		return false
	}
	for i := range a.boxes {
		x, y := a.boxes[i], b.boxes[i]
		if x.name == y.name && x.box == y.box {
			continue
		}
		if x.name != y.name || x.box.UIDNext != y.box.UIDNext || x.box.Ghosts != y.box.Ghosts || x.box.HighestModSeq != y.box.HighestModSeq || !slices.Equal(x.box.Msgs, y.box.Msgs) {
			return false
		}
	}
	return true
}

func hash(s *state) uint64 {
	h := fnv.New64a()
	var buf []byte
	for _, nb := range s.boxes {
		buf = append(buf[:0], nb.name...)
		buf = binary.LittleEndian.AppendUint64(buf, nb.box.hash())
		h.Write(buf)
	}
	return h.Sum64()
}

// hash returns the hash of b's contents, computing it once.
func (b *Box) hash() uint64 {
	if b.hashed {
		return b.h
	}
	h := fnv.New64a()
	var buf []byte
	buf = strconv.AppendUint(buf, uint64(b.UIDNext), 10)
	buf = strconv.AppendInt(buf, int64(b.Ghosts), 10)
	buf = strconv.AppendUint(buf, b.HighestModSeq, 10)
	for _, m := range b.Msgs {
		buf = append(buf, byte(m.UID), byte(m.UID>>8), byte(m.UID>>16), byte(m.UID>>24), byte(m.Flags), byte(m.Known))
		if m.Maybe {
			buf = append(buf, '~')
		}
		buf = strconv.AppendUint(buf, m.ModSeq, 10)
		if m.Changed {
			buf = append(buf, '+')
		}
	}
	h.Write(buf)
	b.h, b.hashed = h.Sum64(), true
	return b.h
}

// Partition splits a history into the connected components of mailboxes
// (per Key) that COPY and MOVE link.
func Partition(history []porcupine.Operation) [][]porcupine.Operation {
	parent := map[string]string{}
	var find func(string) string
	find = func(x string) string {
		p, ok := parent[x]
		if !ok || p == x {
			parent[x] = x
			return x
		}
		r := find(p)
		parent[x] = r
		return r
	}
	union := func(a, b string) {
		ra, rb := find(a), find(b)
		if ra != rb {
			if ra < rb {
				parent[rb] = ra
			} else {
				parent[ra] = rb
			}
		}
	}
	for _, op := range history {
		in := op.Input.(*Input)
		find(in.Key + "\x00" + in.Mailbox)
		if in.Kind == OpCopy || in.Kind == OpMove {
			union(in.Key+"\x00"+in.Mailbox, in.Key+"\x00"+in.Dest)
		}
	}
	groups := map[string][]porcupine.Operation{}
	var order []string
	for _, op := range history {
		in := op.Input.(*Input)
		r := find(in.Key + "\x00" + in.Mailbox)
		if _, ok := groups[r]; !ok {
			order = append(order, r)
		}
		groups[r] = append(groups[r], op)
	}
	sort.Strings(order)
	out := make([][]porcupine.Operation, 0, len(order))
	for _, r := range order {
		out = append(out, groups[r])
	}
	return out
}

// Model is the porcupine model of IMAP mailboxes.
var Model = porcupine.Model{
	Partition: Partition,
	Init:      func() interface{} { return &state{} },
	Step: func(st, in, out interface{}) (bool, interface{}) {
		return step(st.(*state), in.(*Input), out.(*Output))
	},
	Equal: func(a, b interface{}) bool { return equal(a.(*state), b.(*state)) },
	Hash:  func(s interface{}) uint64 { return hash(s.(*state)) },
	DescribeOperation: func(in, out interface{}) string {
		return Describe(in.(*Input), out.(*Output))
	},
	DescribeState: func(s interface{}) string {
		st := s.(*state)
		var parts []string
		for _, nb := range st.boxes {
			parts = append(parts, nb.name+": "+nb.box.String())
		}
		return strings.Join(parts, "\n")
	},
}

// Describe renders an operation for the visualization and failure reports.
func Describe(in *Input, out *Output) string {
	var sb strings.Builder
	if in.Text != "" {
		sb.WriteString("[" + in.Mailbox + "] " + in.Text)
	} else {
		fmt.Fprintf(&sb, "%s %s", in.Kind, in.Mailbox)
	}
	switch {
	case out.Unknown:
		sb.WriteString(" → ?")
	case !out.OK:
		sb.WriteString(" → NO")
	case in.Kind == OpAppend:
		fmt.Fprintf(&sb, " → uid %d", out.UID)
	case in.Kind == OpCopy || in.Kind == OpMove:
		fmt.Fprintf(&sb, " → %v→%v", out.Src, out.Dest)
	case in.Kind == OpStatus:
		fmt.Fprintf(&sb, " → messages %d uidnext %d", out.Messages, out.UIDNext)
		if out.HighestModSeq > 0 {
			fmt.Fprintf(&sb, " highestmodseq %d", out.HighestModSeq)
		}
	case in.Kind == OpStore && len(out.Modified) > 0:
		fmt.Fprintf(&sb, " → OK modified %v", out.Modified)
	case in.Kind == OpRead && in.ChangedSince > 0:
		fmt.Fprintf(&sb, " → returned %v", out.Returned)
	case in.Kind == OpReset:
		sb.WriteString(" = " + in.Reset.String())
	default:
		sb.WriteString(" → OK")
	}
	if len(out.Observed) > 0 {
		sb.WriteString(" seen")
		for i, m := range out.Observed {
			if i == 12 {
				fmt.Fprintf(&sb, " …+%d", len(out.Observed)-i)
				break
			}
			fmt.Fprintf(&sb, " %d%s", m.UID, m.Flags)
			if m.ModSeq > 0 {
				fmt.Fprintf(&sb, "@%d", m.ModSeq)
			}
		}
	}
	return sb.String()
}

// Check checks a history. A timeout is a failure of the check (never a
// pass): the result is then porcupine.Unknown and ok is false.
func Check(history []porcupine.Operation, timeout time.Duration) (ok bool, res porcupine.CheckResult, info porcupine.LinearizationInfo) {
	res, info = porcupine.CheckOperationsVerbose(Model, history, timeout)
	return res == porcupine.Ok, res, info
}

// CheckFast checks without computing visualization data; call Check again
// on failure to get it.
func CheckFast(history []porcupine.Operation, timeout time.Duration) porcupine.CheckResult {
	return porcupine.CheckOperationsTimeout(Model, history, timeout)
}

// CheckCounted is CheckFast that also returns how many times porcupine
// stepped the model: the effort of the search, which unlike its time does not
// depend on how loaded the machine is. With point intervals it is about one
// step per operation; a search that backtracks takes many more.
func CheckCounted(history []porcupine.Operation, timeout time.Duration) (porcupine.CheckResult, int64) {
	var steps atomic.Int64
	m := Model
	m.Step = func(st, in, out interface{}) (bool, interface{}) {
		steps.Add(1)
		return step(st.(*state), in.(*Input), out.(*Output))
	}
	res := porcupine.CheckOperationsTimeout(m, history, timeout)
	return res, steps.Load()
}

// Explain finds, in a history that fails, the partition that fails and the
// first operation (by call time) whose addition makes its prefix fail, and
// describes it with the operations that overlap it. It is the short version
// of the failure that a report prints above the HTML visualization.
func Explain(history []porcupine.Operation, timeout time.Duration) string {
	for _, part := range Partition(history) {
		ops := slices.Clone(part)
		slices.SortStableFunc(ops, func(a, b porcupine.Operation) int {
			switch {
			case a.Call < b.Call:
				return -1
			case a.Call > b.Call:
				return 1
			}
			return 0
		})
		if porcupine.CheckOperationsTimeout(Model, ops, timeout) != porcupine.Illegal {
			continue
		}
		// With point intervals only (no unknown outcomes) call order is the
		// only linearization: a replay finds the first bad operation at once.
		points := true
		for _, op := range ops {
			points = points && op.Call == op.Return
		}
		if i, st := Replay(ops); points && i >= 0 {
			var sb strings.Builder
			bad := ops[i]
			fmt.Fprintf(&sb, "first operation the model rejects in call order (partition %s, %d operations):\n", bad.Input.(*Input).Key, len(ops))
			fmt.Fprintf(&sb, "  [%d,%d] %s\n", bad.Call, bad.Return, Describe(bad.Input.(*Input), bad.Output.(*Output)))
			sb.WriteString("operations before it:\n")
			for _, op := range ops[max(0, i-25):i] {
				fmt.Fprintf(&sb, "  [%d,%d] %s\n", op.Call, op.Return, Describe(op.Input.(*Input), op.Output.(*Output)))
			}
			sb.WriteString("model state before it:\n" + st + "\n")
			return sb.String()
		}
		lo, hi := 1, len(ops)
		for lo < hi {
			mid := (lo + hi) / 2
			if porcupine.CheckOperationsTimeout(Model, ops[:mid], timeout) == porcupine.Illegal {
				hi = mid
			} else {
				lo = mid + 1
			}
		}
		bad := ops[lo-1]
		var sb strings.Builder
		fmt.Fprintf(&sb, "first operation that cannot be linearized (partition %s, %d operations):\n", bad.Input.(*Input).Key, len(ops))
		fmt.Fprintf(&sb, "  [%d,%d] %s\n", bad.Call, bad.Return, Describe(bad.Input.(*Input), bad.Output.(*Output)))
		sb.WriteString("operations before it that overlap or precede it closely:\n")
		from := max(0, lo-1-25)
		for _, op := range ops[from : lo-1] {
			fmt.Fprintf(&sb, "  [%d,%d] %s\n", op.Call, op.Return, Describe(op.Input.(*Input), op.Output.(*Output)))
		}
		var culprits []string
		for i := max(0, lo-1-150); i < lo-1 && len(culprits) < 10; i++ {
			without := append(slices.Clone(ops[:i]), ops[i+1:lo]...)
			if porcupine.CheckOperationsTimeout(Model, without, timeout) == porcupine.Ok {
				op := ops[i]
				culprits = append(culprits, fmt.Sprintf("  [%d,%d] %s\n", op.Call, op.Return, Describe(op.Input.(*Input), op.Output.(*Output))))
			}
		}
		if len(culprits) > 0 {
			sb.WriteString("operations it contradicts (without any one of them the prefix is linearizable):\n")
			sb.WriteString(strings.Join(culprits, ""))
		}
		return sb.String()
	}
	return "no failing partition found"
}

// PartitionTimes checks each partition on its own and describes the size and
// check time of each (for a report on a check that timed out).
func PartitionTimes(history []porcupine.Operation, timeout time.Duration) string {
	var sb strings.Builder
	for _, part := range Partition(history) {
		t0 := time.Now()
		res := porcupine.CheckOperationsTimeout(Model, part, timeout)
		in := part[0].Input.(*Input)
		maxOverlap := 0
		for i, op := range part {
			n := 0
			for _, o := range part[max(0, i-200):i] {
				if o.Return >= op.Call {
					n++
				}
			}
			maxOverlap = max(maxOverlap, n)
		}
		fmt.Fprintf(&sb, "  partition %s/%s: %d operations, up to %d overlapping, %s in %v\n", in.Key, in.Mailbox, len(part), maxOverlap, res, time.Since(t0).Round(time.Millisecond))
	}
	return sb.String()
}

// Replay steps the model through ops in the given order and returns the
// index of the first operation it rejects (-1: none) and the state before it.
// With the simulator's point intervals the order by call time is the only
// linearization, so this explains a failure exactly.
func Replay(ops []porcupine.Operation) (int, string) {
	var st = &state{}
	for i, op := range ops {
		ok, next := step(st, op.Input.(*Input), op.Output.(*Output))
		if !ok {
			return i, Model.DescribeState(st)
		}
		st = next
	}
	return -1, Model.DescribeState(st)
}

// Trace replays ops and returns the operations after which uid's presence
// in mailbox changed, with the message as the model then holds it.
func Trace(ops []porcupine.Operation, mailbox string, uid uint32) []string {
	var out []string
	st := &state{}
	prev := "absent"
	for _, op := range ops {
		ok, next := step(st, op.Input.(*Input), op.Output.(*Output))
		if !ok {
			out = append(out, "REJECTED "+Describe(op.Input.(*Input), op.Output.(*Output)))
			return out
		}
		st = next
		b := st.get(mailbox)
		cur := "absent"
		if i := b.index(uid); i >= 0 {
			cur = fmt.Sprintf("%+v", b.Msgs[i])
		}
		if cur != prev {
			out = append(out, fmt.Sprintf("%d %s ⇒ %s", op.Call, Describe(op.Input.(*Input), op.Output.(*Output)), cur))
			prev = cur
		}
	}
	return out
}
