// Package memstore is an in-memory statemachine.Backend for tests, the fuzzers
// and benchmarks that must not touch a disk. It keeps everything in maps under
// one lock per account; it is simple rather than fast, and forgets everything
// when the process ends.
package memstore

import (
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	sm "github.com/myriad-mail/myriad/statemachine"
)

// Backend holds users and their mail in memory.
type Backend struct {
	mu       sync.Mutex
	users    map[string]*Account
	nextUIDV atomic.Uint32
}

// New returns an empty backend.
func New() *Backend {
	return &Backend{users: map[string]*Account{}}
}

// AddUser creates a user with an INBOX and the RFC 6154 special-use mailboxes
// (Drafts, Sent, Trash, Junk, Archive), all subscribed.
func (b *Backend) AddUser(name, password string) *Account {
	b.mu.Lock()
	defer b.mu.Unlock()
	a := &Account{b: b, name: name, password: password, boxes: map[string]*box{}, subs: map[string]bool{}}
	b.users[name] = a
	a.create("INBOX", 0)
	for _, su := range []struct {
		name string
		attr sm.MailboxAttr
	}{{"Drafts", sm.AttrDrafts}, {"Sent", sm.AttrSent}, {"Trash", sm.AttrTrash}, {"Junk", sm.AttrJunk}, {"Archive", sm.AttrArchive}} {
		a.create(su.name, su.attr)
	}
	for n := range a.boxes {
		a.subs[n] = true
	}
	return a
}

// Login implements statemachine.Backend.
func (b *Backend) Login(user, password string) (sm.Account, error) {
	b.mu.Lock()
	a := b.users[user]
	b.mu.Unlock()
	if a == nil || a.password != password {
		return nil, sm.ErrAuthFailed
	}
	return a, nil
}

// Account is one user's mail.
type Account struct {
	b        *Backend
	name     string
	password string

	mu    sync.Mutex
	boxes map[string]*box
	subs  map[string]bool
}

type box struct {
	acct   *Account
	name   string
	attrs  sm.MailboxAttr // special use, \Noselect
	live   *sm.Mailbox
	modseq uint64
	bodies map[sm.UID][]byte
}

func (a *Account) create(name string, attr sm.MailboxAttr) *box {
	uidv := a.b.nextUIDV.Add(1)
	bx := &box{acct: a, name: name, attrs: attr, bodies: map[sm.UID][]byte{}, modseq: 1}
	bx.live = sm.NewMailbox(name, bx, sm.NewSnapshot(uidv, 1, 1, nil, nil))
	a.boxes[name] = bx
	return bx
}

// Name implements statemachine.Account.
func (a *Account) Name() string { return a.name }

// ListMailboxes implements statemachine.Account.
func (a *Account) ListMailboxes() ([]sm.MailboxInfo, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]sm.MailboxInfo, 0, len(a.boxes))
	for n, bx := range a.boxes {
		attr := bx.attrs
		if a.subs[n] {
			attr |= sm.AttrSubscribed
		}
		if a.hasChildren(n) {
			attr |= sm.AttrHasChildren
		} else {
			attr |= sm.AttrHasNoChildren
		}
		out = append(out, sm.MailboxInfo{Name: n, Attrs: attr})
	}
	for n := range a.subs {
		if a.boxes[n] == nil {
			out = append(out, sm.MailboxInfo{Name: n, Attrs: sm.AttrSubscribed | sm.AttrNonExistent})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func (a *Account) hasChildren(name string) bool {
	p := name + "/"
	for n := range a.boxes {
		if strings.HasPrefix(n, p) {
			return true
		}
	}
	return false
}

func validName(name string) bool {
	if name == "" || strings.HasPrefix(name, "/") || strings.HasSuffix(name, "/") || strings.Contains(name, "//") {
		return false
	}
	for _, c := range []byte(name) {
		if c < 0x20 || c == 0x7f {
			return false
		}
	}
	return true
}

// CreateMailbox implements statemachine.Account. Missing superiors are
// created too (RFC 9051 §6.3.4).
func (a *Account) CreateMailbox(name string, specialUse sm.MailboxAttr) error {
	if !validName(name) {
		return sm.ErrBadMailboxName
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if bx := a.boxes[name]; bx != nil && bx.attrs&sm.AttrNoSelect == 0 {
		return sm.ErrMailboxExists
	} else if bx != nil {
		bx.attrs &^= sm.AttrNoSelect
		bx.attrs |= specialUse
		return nil
	}
	parts := strings.Split(name, "/")
	for i := 1; i < len(parts); i++ {
		sup := strings.Join(parts[:i], "/")
		if a.boxes[sup] == nil {
			a.create(sup, 0)
		}
	}
	a.create(name, specialUse)
	return nil
}

// DeleteMailbox implements statemachine.Account.
func (a *Account) DeleteMailbox(name string) error {
	if name == "INBOX" {
		return sm.ErrCannotDeleteInbox
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	bx := a.boxes[name]
	if bx == nil {
		return sm.ErrNoSuchMailbox
	}
	if a.hasChildren(name) {
		if bx.attrs&sm.AttrNoSelect != 0 {
			return sm.ErrMailboxHasKids
		}
		bx.attrs |= sm.AttrNoSelect
		bx.expungeAll()
		return nil
	}
	bx.expungeAll()
	delete(a.boxes, name)
	return nil
}

func (bx *box) expungeAll() {
	snap := bx.live.Current()
	uids := make([]sm.UID, snap.Len())
	for i := range uids {
		uids[i] = snap.At(i).UID
	}
	if len(uids) > 0 {
		bx.modseq++
		next, d := snap.WithExpunged(uids, bx.modseq)
		bx.live.Publish(next, d)
	}
	bx.bodies = map[sm.UID][]byte{}
}

// RenameMailbox implements statemachine.Account.
func (a *Account) RenameMailbox(from, to string) error {
	if !validName(to) {
		return sm.ErrBadMailboxName
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	src := a.boxes[from]
	if src == nil {
		return sm.ErrNoSuchMailbox
	}
	if a.boxes[to] != nil {
		return sm.ErrMailboxExists
	}
	if from == "INBOX" {
		// RFC 9051 §6.3.6: move all messages to the new mailbox, leave
		// INBOX empty; its inferiors are not renamed.
		dst := a.create(to, 0)
		snap := src.live.Current()
		uids := make([]sm.UID, snap.Len())
		for i := range uids {
			uids[i] = snap.At(i).UID
		}
		if len(uids) > 0 {
			if _, err := src.moveLocked(uids, dst, true); err != nil {
				return err
			}
		}
		return nil
	}
	if strings.HasPrefix(to+"/", from+"/") {
		return sm.ErrBadMailboxName
	}
	var names []string
	for n := range a.boxes {
		if n == from || strings.HasPrefix(n, from+"/") {
			names = append(names, n)
		}
	}
	for _, n := range names {
		bx := a.boxes[n]
		delete(a.boxes, n)
		nn := to + n[len(from):]
		bx.name = nn
		a.boxes[nn] = bx
		if a.subs[n] {
			delete(a.subs, n)
			a.subs[nn] = true
		}
	}
	parts := strings.Split(to, "/")
	for i := 1; i < len(parts); i++ {
		sup := strings.Join(parts[:i], "/")
		if a.boxes[sup] == nil {
			a.create(sup, 0)
		}
	}
	return nil
}

// SetSubscribed implements statemachine.Account.
func (a *Account) SetSubscribed(name string, on bool) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if on {
		if a.boxes[name] == nil {
			return sm.ErrNoSuchMailbox
		}
		a.subs[name] = true
	} else {
		delete(a.subs, name)
	}
	return nil
}

// Status implements statemachine.Account.
func (a *Account) Status(name string) (sm.MailboxStatus, error) {
	a.mu.Lock()
	bx := a.boxes[name]
	a.mu.Unlock()
	if bx == nil || bx.attrs&sm.AttrNoSelect != 0 {
		return sm.MailboxStatus{}, sm.ErrNoSuchMailbox
	}
	return StatusOf(bx.live.Current()), nil
}

// StatusOf computes STATUS values from a snapshot.
func StatusOf(s *sm.Snapshot) sm.MailboxStatus {
	st := sm.MailboxStatus{Messages: uint32(s.Len()), UIDNext: s.UIDNext, UIDValidity: s.UIDValidity, HighestModSeq: s.HighestModSeq}
	for _, m := range s.Messages() {
		if m.Flags&sm.FlagSeen == 0 {
			st.Unseen++
		}
		if m.Flags&sm.FlagDeleted != 0 {
			st.Deleted++
		}
		st.Size += uint64(m.Size)
	}
	return st
}

// Append implements statemachine.Account.
func (a *Account) Append(mailbox string, flags []string, date int64, message []byte) (sm.AppendResult, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	bx := a.boxes[mailbox]
	if bx == nil || bx.attrs&sm.AttrNoSelect != 0 {
		return sm.AppendResult{}, sm.ErrNoSuchMailbox
	}
	snap := bx.live.Current()
	f, kw, err := flagBits(snap.Keywords, flags)
	if err != nil {
		return sm.AppendResult{}, err
	}
	bx.modseq++
	uid := snap.UIDNext
	body := append([]byte(nil), message...)
	bx.bodies[uid] = body
	next, d := snap.WithAppended([]sm.Message{{UID: uid, Flags: f, ModSeq: bx.modseq, Size: uint32(len(body)), Date: date}}, kw)
	bx.live.Publish(next, d)
	return sm.AppendResult{UIDValidity: snap.UIDValidity, UID: uid}, nil
}

// flagBits converts flag names to bits, adding new keywords to a copy of kw.
func flagBits(kw []string, flags []string) (sm.Flags, []string, error) {
	var f sm.Flags
	for _, name := range flags {
		if b := sm.SystemFlag([]byte(name)); b != 0 {
			f |= b
			continue
		}
		if strings.HasPrefix(name, `\`) {
			continue // \Recent and unknown system flags are not stored
		}
		i := -1
		for j, k := range kw {
			if strings.EqualFold(k, name) {
				i = j
				break
			}
		}
		if i < 0 {
			if len(kw) >= sm.MaxKeywords {
				return 0, nil, sm.ErrTooManyKeywords
			}
			kw = append(kw[:len(kw):len(kw)], name)
			i = len(kw) - 1
		}
		f |= 1 << (sm.KeywordBase + i)
	}
	return f, kw, nil
}

// Open implements statemachine.Account.
func (a *Account) Open(name string) (*sm.Mailbox, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	bx := a.boxes[name]
	if bx == nil || bx.attrs&sm.AttrNoSelect != 0 {
		return nil, sm.ErrNoSuchMailbox
	}
	return bx.live, nil
}

// Release implements statemachine.Account.
func (a *Account) Release(*sm.Mailbox) {}

// Store implements statemachine.MailboxStore.
func (bx *box) Store(uids []sm.UID, op sm.FlagOp, flags []string, unchangedSince uint64) ([]sm.UID, error) {
	a := bx.acct
	a.mu.Lock()
	defer a.mu.Unlock()
	snap := bx.live.Current()
	f, kw, err := flagBits(snap.Keywords, flags)
	if err != nil {
		return nil, err
	}
	var modified []sm.UID
	var changed []sm.Message
	modseq := bx.modseq + 1
	for _, u := range sortedUIDs(uids) {
		i := snap.Index(u)
		if i < 0 {
			continue
		}
		m := *snap.At(i)
		if unchangedSince > 0 && m.ModSeq > unchangedSince {
			modified = append(modified, u)
			continue
		}
		nf := op.Apply(m.Flags, f)
		if nf == m.Flags {
			continue
		}
		m.Flags = nf
		m.ModSeq = modseq
		changed = append(changed, m)
	}
	if len(changed) > 0 || len(kw) != len(snap.Keywords) {
		bx.modseq = modseq
		next, d := snap.WithChanged(changed, kw)
		bx.live.Publish(next, d)
	}
	return modified, nil
}

func sortedUIDs(uids []sm.UID) []sm.UID {
	s := append([]sm.UID(nil), uids...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s
}

// Expunge implements statemachine.MailboxStore.
func (bx *box) Expunge(uids []sm.UID) error {
	a := bx.acct
	a.mu.Lock()
	defer a.mu.Unlock()
	bx.expungeLocked(sortedUIDs(uids))
	return nil
}

func (bx *box) expungeLocked(uids []sm.UID) {
	snap := bx.live.Current()
	present := uids[:0:0]
	for _, u := range uids {
		if snap.Index(u) >= 0 {
			present = append(present, u)
			delete(bx.bodies, u)
		}
	}
	if len(present) == 0 {
		return
	}
	bx.modseq++
	next, d := snap.WithExpunged(present, bx.modseq)
	bx.live.Publish(next, d)
}

// Copy implements statemachine.MailboxStore.
func (bx *box) Copy(uids []sm.UID, dest string) (sm.CopyResult, error) {
	a := bx.acct
	a.mu.Lock()
	defer a.mu.Unlock()
	dst := a.boxes[dest]
	if dst == nil || dst.attrs&sm.AttrNoSelect != 0 {
		return sm.CopyResult{}, sm.ErrNoSuchMailbox
	}
	return bx.moveLocked(sortedUIDs(uids), dst, false)
}

// Move implements statemachine.MailboxStore.
func (bx *box) Move(uids []sm.UID, dest string) (sm.CopyResult, error) {
	a := bx.acct
	a.mu.Lock()
	defer a.mu.Unlock()
	dst := a.boxes[dest]
	if dst == nil || dst.attrs&sm.AttrNoSelect != 0 {
		return sm.CopyResult{}, sm.ErrNoSuchMailbox
	}
	return bx.moveLocked(sortedUIDs(uids), dst, true)
}

func (bx *box) moveLocked(uids []sm.UID, dst *box, expunge bool) (sm.CopyResult, error) {
	src := bx.live.Current()
	ds := dst.live.Current()
	res := sm.CopyResult{UIDValidity: ds.UIDValidity}
	kw := ds.Keywords
	var added []sm.Message
	uid := ds.UIDNext
	dst.modseq++
	for _, u := range uids {
		i := src.Index(u)
		if i < 0 {
			continue
		}
		m := *src.At(i)
		// Keyword bits are per mailbox: translate by name.
		var names []string
		for k := 0; k < len(src.Keywords); k++ {
			if m.Flags&(1<<(sm.KeywordBase+k)) != 0 {
				names = append(names, src.Keywords[k])
			}
		}
		f := m.Flags & (sm.FlagSeen | sm.FlagAnswered | sm.FlagFlagged | sm.FlagDeleted | sm.FlagDraft)
		kf, nkw, err := flagBits(kw, names)
		if err != nil {
			return sm.CopyResult{}, err
		}
		kw = nkw
		m.Flags = f | kf
		m.UID = uid
		m.ModSeq = dst.modseq
		dst.bodies[uid] = bx.bodies[u]
		added = append(added, m)
		res.Source = append(res.Source, u)
		res.Dest = append(res.Dest, uid)
		uid++
	}
	if len(added) > 0 {
		next, d := ds.WithAppended(added, kw)
		dst.live.Publish(next, d)
		if expunge {
			bx.expungeLocked(res.Source)
		}
	}
	return res, nil
}

// Message implements statemachine.MailboxStore.
func (bx *box) Message(uid sm.UID) ([]byte, error) {
	a := bx.acct
	a.mu.Lock()
	defer a.mu.Unlock()
	b, ok := bx.bodies[uid]
	if !ok {
		return nil, sm.ErrNoSuchMessage
	}
	return b, nil
}
