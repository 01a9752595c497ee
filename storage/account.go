package storage

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/myriad-mail/myriad/statemachine"
)

// account is one user's mail: the mailbox list, the subscriptions and the
// open mailboxes. It implements statemachine.Account and is shared by all of
// the user's sessions.
type account struct {
	st   *Store
	name string
	dir  string

	mu       sync.Mutex
	nextID   uint32
	nextUIDV uint32
	boxes    []mboxEntry         // ascending by name
	subs     []string            // ascending
	open     map[uint32]*mailbox // held or idle
	idle     []*mailbox          // open, held by nobody; oldest first
	// floors keeps the \Recent floor (statemachine/recent.go) of each
	// closed mailbox, so a reopen does not make its messages recent again;
	// not persisted: after a restart every message is recent once.
	floors map[uint32]recentFloor
}

// recentFloor is a closed mailbox's \Recent floor, valid for its UIDVALIDITY.
type recentFloor struct {
	uidv  uint32
	floor statemachine.UID
}

// mboxEntry is one mailbox of the mailbox list.
type mboxEntry struct {
	id    uint32
	name  string
	attrs statemachine.MailboxAttr // special-use and \Noselect
	uidv  uint32
}

const inboxID = 0

var defaultMailboxes = []struct {
	name string
	attr statemachine.MailboxAttr
}{
	{"INBOX", 0},
	{"Drafts", statemachine.AttrDrafts},
	{"Sent", statemachine.AttrSent},
	{"Trash", statemachine.AttrTrash},
	{"Junk", statemachine.AttrJunk},
	{"Archive", statemachine.AttrArchive},
}

func encodeMailboxList(nextID, nextUIDV uint32, boxes []mboxEntry) []byte {
	b := le.AppendUint32(nil, nextID)
	b = le.AppendUint32(b, nextUIDV)
	b = le.AppendUint32(b, uint32(len(boxes)))
	for _, e := range boxes {
		b = le.AppendUint32(b, e.id)
		b = le.AppendUint16(b, uint16(e.attrs))
		b = le.AppendUint32(b, e.uidv)
		b = appendStr(b, e.name)
	}
	return seal(mailboxesMagic, b)
}

func decodeMailboxList(data []byte) (uint32, uint32, []mboxEntry, error) {
	p, err := unseal(mailboxesMagic, data)
	if err != nil {
		return 0, 0, nil, err
	}
	r := &reader{b: p}
	nextID, nextUIDV, n := r.u32(), r.u32(), int(r.u32())
	if n > maxMailboxes+1 {
		return 0, 0, nil, errCorrupt
	}
	boxes := make([]mboxEntry, 0, n)
	for range n {
		e := mboxEntry{id: r.u32(), attrs: statemachine.MailboxAttr(r.u16()), uidv: r.u32(), name: r.str()}
		if r.bad {
			return 0, 0, nil, errCorrupt
		}
		if nn, err := normalizeMailboxName(e.name); err != nil || nn != e.name {
			return 0, 0, nil, errCorrupt
		}
		boxes = append(boxes, e)
	}
	if r.bad || len(r.b) != 0 {
		return 0, 0, nil, errCorrupt
	}
	return nextID, nextUIDV, boxes, nil
}

func encodeSubs(subs []string) []byte {
	b := le.AppendUint32(nil, uint32(len(subs)))
	for _, s := range subs {
		b = appendStr(b, s)
	}
	return seal(subsMagic, b)
}

func decodeSubs(data []byte) ([]string, error) {
	p, err := unseal(subsMagic, data)
	if err != nil {
		return nil, err
	}
	r := &reader{b: p}
	n := int(r.u32())
	if n > maxMailboxes*2 {
		return nil, errCorrupt
	}
	var subs []string
	for range n {
		subs = append(subs, r.str())
	}
	if r.bad || len(r.b) != 0 {
		return nil, errCorrupt
	}
	return subs, nil
}

// loadAccount reads a user's mailbox list, creating the default mailboxes
// for a new user.
func loadAccount(st *Store, name string) (*account, error) {
	a := &account{st: st, name: name, dir: "u/" + userDirName(name), open: map[uint32]*mailbox{}}
	fsys := st.fs
	if err := fsys.MkdirAll(a.dir); err != nil {
		return nil, err
	}
	if err := fsys.SyncDir("u"); err != nil {
		return nil, err
	}
	if err := fsys.SyncDir(""); err != nil {
		return nil, err
	}
	rep := &recovery{}
	if err := a.loadList(rep); err != nil {
		return nil, err
	}
	for _, l := range rep.lines {
		st.log.Warn("storage: account recovery", "user", name, "what", l)
	}
	if b, err := readFile(fsys, a.dir+"/subscriptions"); err == nil {
		if a.subs, err = decodeSubs(b); err != nil {
			st.log.Error("storage: subscriptions file failed its checksum; starting empty", "user", name)
		}
	} else if !isNotExist(err) {
		return nil, err
	}
	return a, nil
}

func (a *account) loadList(rep *recovery) error {
	fsys := a.st.fs
	var firstErr error
	for i, name := range []string{"mailboxes", "mailboxes.backup"} {
		b, err := readFile(fsys, a.dir+"/"+name)
		if isNotExist(err) {
			continue
		}
		if err != nil {
			return err
		}
		nid, nuv, boxes, err := decodeMailboxList(b)
		if err != nil {
			rep.note(true, "%s: failed its checksum", name)
			firstErr = err
			continue
		}
		a.nextID, a.nextUIDV, a.boxes = nid, nuv, boxes
		return a.adoptOrphans(i == 1, rep)
	}
	names, err := fsys.ReadDir(a.dir)
	if err != nil {
		return err
	}
	uidv := uint32(a.st.cfg.Now().Unix())
	if firstErr == nil && !slices.ContainsFunc(names, func(n string) bool { return strings.HasPrefix(n, "mb") }) {
		// A new user.
		for i, d := range defaultMailboxes {
			a.boxes = append(a.boxes, mboxEntry{id: uint32(i), name: d.name, attrs: d.attr, uidv: uidv + uint32(i)})
		}
		slices.SortFunc(a.boxes, func(x, y mboxEntry) int { return strings.Compare(x.name, y.name) })
		a.nextID, a.nextUIDV = uint32(len(defaultMailboxes)), uidv+uint32(len(defaultMailboxes))
		if err := a.commitList(a.boxes); err != nil {
			return err
		}
		a.subs = make([]string, 0, len(defaultMailboxes))
		for _, d := range defaultMailboxes {
			a.subs = append(a.subs, d.name)
		}
		slices.Sort(a.subs)
		return writeFileAtomic(fsys, a.dir, "subscriptions", "", encodeSubs(a.subs))
	}
	// Both lists lost: every mailbox directory comes back, under
	// Recovered/, except mb0, which is always INBOX.
	a.nextUIDV = uidv
	for _, n := range names {
		id, err := strconv.ParseUint(strings.TrimPrefix(n, "mb"), 10, 32)
		if !strings.HasPrefix(n, "mb") || err != nil {
			continue
		}
		e := mboxEntry{id: uint32(id), name: "Recovered/" + n}
		if id == inboxID {
			e.name = "INBOX"
		}
		if rec, err := recoverMailbox(fsys, mailboxDir(a.dir, e.id), 0, true, false); err == nil {
			e.uidv = rec.snap.UIDValidity
		}
		if e.uidv == 0 {
			e.uidv = a.nextUIDV
			a.nextUIDV++
		}
		a.boxes = append(a.boxes, e)
		if uint32(id) >= a.nextID {
			a.nextID = uint32(id) + 1
		}
	}
	if !slices.ContainsFunc(a.boxes, func(e mboxEntry) bool { return e.id == inboxID }) {
		a.boxes = append(a.boxes, mboxEntry{id: inboxID, name: "INBOX", uidv: a.nextUIDV})
		a.nextUIDV++
	}
	if slices.ContainsFunc(a.boxes, func(e mboxEntry) bool { return strings.HasPrefix(e.name, "Recovered/") }) {
		a.boxes = append(a.boxes, mboxEntry{id: a.nextID, name: "Recovered", attrs: statemachine.AttrNoSelect, uidv: a.nextUIDV})
		a.nextID++
		a.nextUIDV++
	}
	if a.nextID == 0 {
		a.nextID = 1
	}
	slices.SortFunc(a.boxes, func(x, y mboxEntry) int { return strings.Compare(x.name, y.name) })
	rep.note(true, "mailbox list lost; rebuilt from %d mailbox directories", len(a.boxes))
	return a.commitList(a.boxes)
}

// adoptOrphans handles mailbox directories the list does not name. With the
// list read from the primary file they are mailboxes whose deletion was cut
// short, and are removed; with the list read from the backup they may be
// mailboxes created since, and come back under Recovered/.
func (a *account) adoptOrphans(fromBackup bool, rep *recovery) error {
	names, err := a.st.fs.ReadDir(a.dir)
	if err != nil {
		return err
	}
	known := map[uint32]bool{}
	for _, e := range a.boxes {
		known[e.id] = true
	}
	boxes := slices.Clone(a.boxes)
	adopted := false
	for _, n := range names {
		id, err := strconv.ParseUint(strings.TrimPrefix(n, "mb"), 10, 32)
		if !strings.HasPrefix(n, "mb") || err != nil || known[uint32(id)] {
			continue
		}
		if !fromBackup {
			if err := a.st.fs.RemoveAll(a.dir + "/" + n); err != nil {
				return err
			}
			continue
		}
		e := mboxEntry{id: uint32(id), name: "Recovered/" + n, uidv: a.nextUIDV}
		if rec, err := recoverMailbox(a.st.fs, mailboxDir(a.dir, e.id), 0, true, false); err == nil && rec.snap.UIDValidity != 0 {
			e.uidv = rec.snap.UIDValidity
		}
		a.nextUIDV++
		if uint32(id) >= a.nextID {
			a.nextID = uint32(id) + 1
		}
		boxes = append(boxes, e)
		adopted = true
		rep.note(true, "mailbox directory %s is not in the list; recovered as %s", n, e.name)
	}
	if fromBackup {
		rep.note(true, "mailbox list taken from mailboxes.backup")
	}
	if !adopted {
		if fromBackup {
			return a.commitList(boxes)
		}
		return nil
	}
	boxes = a.withSuperiors(boxes, "Recovered/x")
	slices.SortFunc(boxes, func(x, y mboxEntry) int { return strings.Compare(x.name, y.name) })
	return a.commitList(boxes)
}

// commitList makes boxes the durable mailbox list, keeping the previous one
// as mailboxes.backup.
func (a *account) commitList(boxes []mboxEntry) error {
	if err := writeFileAtomic(a.st.fs, a.dir, "mailboxes", "mailboxes.backup", encodeMailboxList(a.nextID, a.nextUIDV, boxes)); err != nil {
		return fmt.Errorf("storage: writing mailbox list: %w", err)
	}
	a.boxes = boxes
	return nil
}

func (a *account) find(name string) int {
	i, ok := slices.BinarySearchFunc(a.boxes, name, func(e mboxEntry, n string) int { return strings.Compare(e.name, n) })
	if !ok {
		return -1
	}
	return i
}

func (a *account) hasKids(boxes []mboxEntry, name string) bool {
	p := name + "/"
	return slices.ContainsFunc(boxes, func(e mboxEntry) bool { return strings.HasPrefix(e.name, p) })
}

// Name implements statemachine.Account.
func (a *account) Name() string { return a.name }

// ListMailboxes implements statemachine.Account.
func (a *account) ListMailboxes() ([]statemachine.MailboxInfo, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]statemachine.MailboxInfo, 0, len(a.boxes))
	for _, e := range a.boxes {
		attrs := e.attrs
		if a.hasKids(a.boxes, e.name) {
			attrs |= statemachine.AttrHasChildren
		} else {
			attrs |= statemachine.AttrHasNoChildren
		}
		if _, ok := slices.BinarySearch(a.subs, e.name); ok {
			attrs |= statemachine.AttrSubscribed
		}
		out = append(out, statemachine.MailboxInfo{Name: e.name, Attrs: attrs})
	}
	for _, s := range a.subs {
		if a.find(s) < 0 {
			out = append(out, statemachine.MailboxInfo{Name: s, Attrs: statemachine.AttrSubscribed | statemachine.AttrNonExistent})
		}
	}
	slices.SortFunc(out, func(x, y statemachine.MailboxInfo) int { return strings.Compare(x.Name, y.Name) })
	return out, nil
}

// withSuperiors returns boxes plus the missing superiors of name.
func (a *account) withSuperiors(boxes []mboxEntry, name string) []mboxEntry {
	parts := strings.Split(name, "/")
	for i := 1; i < len(parts); i++ {
		n := strings.Join(parts[:i], "/")
		if !slices.ContainsFunc(boxes, func(e mboxEntry) bool { return e.name == n }) {
			boxes = append(boxes, mboxEntry{id: a.nextID, name: n, uidv: a.nextUIDV})
			a.nextID++
			a.nextUIDV++
		}
	}
	return boxes
}

// withCreated returns boxes plus name and its missing superiors.
func (a *account) withCreated(boxes []mboxEntry, name string, attrs statemachine.MailboxAttr) ([]mboxEntry, error) {
	boxes = slices.Clone(boxes)
	parts := strings.Split(name, "/")
	for i := 1; i <= len(parts); i++ {
		n := strings.Join(parts[:i], "/")
		at := statemachine.MailboxAttr(0)
		if i == len(parts) {
			at = attrs
		}
		j := slices.IndexFunc(boxes, func(e mboxEntry) bool { return e.name == n })
		if j >= 0 {
			if i == len(parts) {
				if boxes[j].attrs&statemachine.AttrNoSelect == 0 {
					return nil, statemachine.ErrMailboxExists
				}
				// CREATE on a \Noselect name makes it a mailbox again.
				boxes[j] = mboxEntry{id: a.nextID, name: n, attrs: at, uidv: a.nextUIDV}
				a.nextID++
				a.nextUIDV++
			}
			continue
		}
		if len(boxes) >= maxMailboxes {
			return nil, statemachine.ErrOverQuota
		}
		boxes = append(boxes, mboxEntry{id: a.nextID, name: n, attrs: at, uidv: a.nextUIDV})
		a.nextID++
		a.nextUIDV++
	}
	slices.SortFunc(boxes, func(x, y mboxEntry) int { return strings.Compare(x.name, y.name) })
	return boxes, nil
}

// CreateMailbox implements statemachine.Account.
func (a *account) CreateMailbox(name string, specialUse statemachine.MailboxAttr) error {
	name, err := normalizeMailboxName(name)
	if err != nil {
		return err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	id, uv := a.nextID, a.nextUIDV
	boxes, err := a.withCreated(a.boxes, name, specialUse&statemachine.AttrSpecialUse)
	if err == nil {
		err = a.commitList(boxes)
	}
	if err != nil {
		a.nextID, a.nextUIDV = id, uv
	}
	return err
}

// DeleteMailbox implements statemachine.Account (RFC 9051 §6.3.4).
func (a *account) DeleteMailbox(name string) error {
	name, err := normalizeMailboxName(name)
	if err != nil {
		return err
	}
	if name == "INBOX" {
		return statemachine.ErrCannotDeleteInbox
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	i := a.find(name)
	if i < 0 {
		return statemachine.ErrNoSuchMailbox
	}
	e := a.boxes[i]
	boxes := slices.Clone(a.boxes)
	if a.hasKids(a.boxes, name) {
		if e.attrs&statemachine.AttrNoSelect != 0 {
			return statemachine.ErrMailboxHasKids
		}
		boxes[i].attrs = statemachine.AttrNoSelect
	} else {
		boxes = slices.Delete(boxes, i, i+1)
	}
	if err := a.commitList(boxes); err != nil {
		return err
	}
	if e.attrs&statemachine.AttrNoSelect == 0 {
		a.dropData(e.id)
	}
	return nil
}

// dropData removes a deleted mailbox's directory now, or at its last
// Release if a session holds it.
func (a *account) dropData(id uint32) {
	if mb, ok := a.open[id]; ok {
		mb.mu.Lock()
		mb.deleted = true
		mb.mu.Unlock()
		delete(a.open, id)
		if mb.refs == 0 { // idle: close now (removes the directory)
			a.idle = slices.DeleteFunc(a.idle, func(x *mailbox) bool { return x == mb })
			mb.close()
		}
		return
	}
	if err := a.st.fs.RemoveAll(mailboxDir(a.dir, id)); err != nil {
		a.st.log.Error("storage: removing deleted mailbox", "user", a.name, "id", id, "err", err)
	}
}

// RenameMailbox implements statemachine.Account (RFC 9051 §6.3.6).
func (a *account) RenameMailbox(from, to string) error {
	from, err := normalizeMailboxName(from)
	if err != nil {
		return err
	}
	to, err = normalizeMailboxName(to)
	if err != nil {
		return err
	}
	if to == "INBOX" || strings.HasPrefix(to, from+"/") {
		return statemachine.ErrBadMailboxName
	}
	a.mu.Lock()
	i := a.find(from)
	if i < 0 {
		a.mu.Unlock()
		return statemachine.ErrNoSuchMailbox
	}
	if j := a.find(to); j >= 0 {
		a.mu.Unlock()
		return statemachine.ErrMailboxExists
	}
	if from == "INBOX" {
		// Move INBOX's messages to a new mailbox; INBOX stays, empty, and
		// its inferiors are not renamed.
		id, uv := a.nextID, a.nextUIDV
		boxes, err := a.withCreated(a.boxes, to, 0)
		if err == nil {
			err = a.commitList(boxes)
		}
		if err != nil {
			a.nextID, a.nextUIDV = id, uv
		}
		a.mu.Unlock()
		if err != nil {
			return err
		}
		mb, err := a.acquire("INBOX")
		if err != nil {
			return err
		}
		defer a.release(mb)
		snap := mb.live.Current()
		uids := make([]statemachine.UID, snap.Len())
		for k := range uids {
			uids[k] = snap.At(k).UID
		}
		if len(uids) == 0 {
			return nil
		}
		_, err = mb.Move(uids, to)
		return err
	}
	defer a.mu.Unlock()
	boxes := slices.Clone(a.boxes)
	for k := range boxes {
		n := boxes[k].name
		if n == from || strings.HasPrefix(n, from+"/") {
			nn := to + n[len(from):]
			if a.find(nn) >= 0 {
				return statemachine.ErrMailboxExists
			}
			if len(nn) > maxMailboxName {
				return statemachine.ErrBadMailboxName
			}
			boxes[k].name = nn
		}
	}
	id, uv := a.nextID, a.nextUIDV
	boxes = a.withSuperiors(boxes, to)
	slices.SortFunc(boxes, func(x, y mboxEntry) int { return strings.Compare(x.name, y.name) })
	if len(boxes) > maxMailboxes {
		a.nextID, a.nextUIDV = id, uv
		return statemachine.ErrOverQuota
	}
	if err := a.commitList(boxes); err != nil {
		a.nextID, a.nextUIDV = id, uv
		return err
	}
	for _, e := range boxes {
		if mb, ok := a.open[e.id]; ok {
			mb.mu.Lock()
			mb.name = e.name
			mb.mu.Unlock()
		}
	}
	return nil
}

// SetSubscribed implements statemachine.Account.
func (a *account) SetSubscribed(name string, subscribed bool) error {
	n, err := normalizeMailboxName(name)
	if err != nil {
		if subscribed {
			return err
		}
		n = name
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	i, ok := slices.BinarySearch(a.subs, n)
	if ok == subscribed {
		return nil
	}
	subs := slices.Clone(a.subs)
	if subscribed {
		if !ok && a.find(n) < 0 {
			return statemachine.ErrNoSuchMailbox
		}
		subs = slices.Insert(subs, i, n)
	} else {
		subs = slices.Delete(subs, i, i+1)
	}
	if err := writeFileAtomic(a.st.fs, a.dir, "subscriptions", "", encodeSubs(subs)); err != nil {
		return err
	}
	a.subs = subs
	return nil
}

// Status implements statemachine.Account.
func (a *account) Status(name string) (statemachine.MailboxStatus, error) {
	mb, err := a.acquire(name)
	if err != nil {
		return statemachine.MailboxStatus{}, err
	}
	defer a.release(mb)
	return mb.status(), nil
}

// splitFlags separates system flags (bits) from keywords (names).
func splitFlags(names []string) (statemachine.Flags, []string) {
	var f statemachine.Flags
	var kw []string
	for _, n := range names {
		if strings.HasPrefix(n, `\`) {
			f |= statemachine.SystemFlag([]byte(n))
		} else if !slices.ContainsFunc(kw, func(k string) bool { return strings.EqualFold(k, n) }) {
			kw = append(kw, n)
		}
	}
	return f, kw
}

// Append implements statemachine.Account.
func (a *account) Append(mailbox string, flags []string, date int64, message []byte) (statemachine.AppendResult, error) {
	f, kw := splitFlags(flags)
	for _, k := range kw {
		if !validKeyword(k) {
			return statemachine.AppendResult{}, fmt.Errorf("storage: invalid keyword %q", k)
		}
	}
	mb, err := a.acquire(mailbox)
	if err != nil {
		return statemachine.AppendResult{}, err
	}
	defer a.release(mb)
	uids, uidv, err := mb.add([]newMsg{{flags: f, kw: kw, date: date, body: message}})
	if err != nil {
		return statemachine.AppendResult{}, err
	}
	return statemachine.AppendResult{UIDValidity: uidv, UID: uids[0]}, nil
}

// Open implements statemachine.Account.
func (a *account) Open(name string) (*statemachine.Mailbox, error) {
	mb, err := a.acquire(name)
	if err != nil {
		return nil, err
	}
	return mb.live, nil
}

// Release implements statemachine.Account.
func (a *account) Release(m *statemachine.Mailbox) {
	if mb, ok := m.Store.(*mailbox); ok && mb.acct == a {
		a.release(mb)
	}
}

// acquire opens a mailbox by name or takes another reference on it.
func (a *account) acquire(name string) (*mailbox, error) {
	name, err := normalizeMailboxName(name)
	if err != nil {
		return nil, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	i := a.find(name)
	if i < 0 || a.boxes[i].attrs&statemachine.AttrNoSelect != 0 {
		return nil, statemachine.ErrNoSuchMailbox
	}
	e := a.boxes[i]
	if mb, ok := a.open[e.id]; ok {
		if mb.refs == 0 {
			a.idle = slices.DeleteFunc(a.idle, func(x *mailbox) bool { return x == mb })
		}
		mb.refs++
		return mb, nil
	}
	mb, err := openMailbox(a.st, a, e.id, e.name, e.uidv)
	if err != nil {
		return nil, err
	}
	mb.live = statemachine.NewMailbox(e.name, mb, mb.head)
	if f, ok := a.floors[e.id]; ok && f.uidv == mb.head.UIDValidity {
		mb.live.SetRecentFloor(f.floor)
	}
	// QRESYNC: the expunges the logs remember, and from which modseq on.
	for _, x := range mb.rec.expunges {
		mb.live.RecordExpunged(x.uids, x.modseq, mb.rec.floor)
	}
	mb.live.RecordExpunged(nil, 0, mb.rec.floor)
	mb.rec = nil
	mb.refs = 1
	a.open[e.id] = mb
	return mb, nil
}

// release drops a reference; the last one closes the mailbox.
func (a *account) release(mb *mailbox) {
	a.mu.Lock()
	defer a.mu.Unlock()
	mb.refs--
	if mb.refs > 0 {
		return
	}
	mb.mu.Lock()
	keep := mb.broken == nil && !mb.deleted && a.open[mb.id] == mb && a.st.cfg.IdleMailboxes > 0
	mb.mu.Unlock()
	if keep {
		// Keep it open a while: the next SELECT, STATUS or delivery
		// need not recover it again.
		a.idle = append(a.idle, mb)
		if len(a.idle) <= a.st.cfg.IdleMailboxes {
			return
		}
		mb = a.idle[0]
		a.idle = slices.Delete(a.idle, 0, 1)
	}
	if a.open[mb.id] == mb {
		delete(a.open, mb.id)
	}
	if a.floors == nil {
		a.floors = map[uint32]recentFloor{}
	}
	cur := mb.live.Current()
	a.floors[mb.id] = recentFloor{cur.UIDValidity, mb.live.RecentFloor()}
	mb.close()
}

// closeAll closes every open mailbox (store shutdown).
func (a *account) closeAll() {
	a.mu.Lock()
	defer a.mu.Unlock()
	for id, mb := range a.open {
		mb.close()
		delete(a.open, id)
	}
	a.idle = nil
}

var _ statemachine.Account = (*account)(nil)
