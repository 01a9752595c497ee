package storage

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"path"
	"sort"
	"strings"
	"sync"
)

// MemFS is an in-memory FS that injects the faults a real disk can show, for
// the simulator and the crash tests. It is deterministic for a given seed: it
// starts no goroutine, reads no clock, and walks its maps in sorted order.
//
// It keeps, for every file, the bytes written and the bytes made durable by
// Sync, and for every directory the entries and the entries made durable by
// SyncDir (plus the directory operations since, in order). Crash throws away
// what was not made durable:
//
//   - a file loses what was written after its last Sync; with
//     MemFSOptions.TornWrites it keeps a random prefix of that tail instead
//     (a torn last write);
//   - a directory loses the entry changes (create, rename, remove) made after
//     its last SyncDir; with MemFSOptions.PartialDirOps it keeps a random
//     prefix of them, in order, as a journaling file system may;
//   - with MemFSOptions.BitFlipsPerMiB > 0, every surviving file gets that
//     many random bit flips per MiB on average (at least one chance per file).
//
// Handles opened before a crash fail with ErrCrashed afterwards.
type MemFS struct {
	mu   sync.Mutex
	opts MemFSOptions
	rng  *rand.Rand
	root *memNode
	gen  int // crash generation; handles of older generations are dead

	dirty  map[*memNode]bool // nodes with changes not yet durable, for SyncAll
	halted bool              // after CrashHalt: every operation fails until Resume

	// Ops counts mutating operations (writes, syncs, renames, ...); tests
	// use it to pick crash points.
	Ops int
	// FailAt, when > 0, makes the mutating operation numbered FailAt (1-based,
	// compared with Ops) fail with ErrInjected.
	FailAt int
}

// MemFSOptions chooses the faults of a MemFS.
type MemFSOptions struct {
	Seed           uint64
	TornWrites     bool    // keep a random prefix of unsynced file data on crash
	PartialDirOps  bool    // keep a random prefix of unsynced directory operations on crash
	BitFlipsPerMiB float64 // random bit flips in surviving files on crash
}

// ErrCrashed is returned by a MemFS handle opened before the last Crash.
var ErrCrashed = errors.New("storage: memfs handle from before a crash")

// ErrInjected is the error MemFS.FailAt injects.
var ErrInjected = errors.New("storage: memfs injected I/O error")

type dirOp struct {
	name string
	node *memNode // nil: removal
	from string   // a rename inside the directory: also remove this name
}

type memNode struct {
	dir bool
	// file
	data       []byte
	durable    []byte
	appendOnly bool // data == durable + tail since the last sync
	// directory
	entries        map[string]*memNode
	durableEntries map[string]*memNode
	pending        []dirOp
}

func newMemDir() *memNode {
	return &memNode{dir: true, entries: map[string]*memNode{}, durableEntries: map[string]*memNode{}}
}

// NewMemFS returns an empty MemFS.
func NewMemFS(opts MemFSOptions) *MemFS {
	return &MemFS{opts: opts, rng: rand.New(rand.NewPCG(opts.Seed, opts.Seed^0x9e3779b97f4a7c15)), root: newMemDir(), dirty: map[*memNode]bool{}}
}

func splitPath(name string) []string {
	name = path.Clean("/" + name)
	if name == "/" {
		return nil
	}
	return strings.Split(name[1:], "/")
}

// lookup returns the parent directory and the base name of name.
func (m *MemFS) lookupParent(name string) (*memNode, string, error) {
	parts := splitPath(name)
	if len(parts) == 0 {
		return nil, "", fmt.Errorf("storage: memfs: bad path %q", name)
	}
	d := m.root
	for _, p := range parts[:len(parts)-1] {
		n, ok := d.entries[p]
		if !ok || !n.dir {
			return nil, "", &fs.PathError{Op: "open", Path: name, Err: errNotExist}
		}
		d = n
	}
	return d, parts[len(parts)-1], nil
}

func (m *MemFS) lookup(name string) (*memNode, error) {
	parts := splitPath(name)
	d := m.root
	for _, p := range parts {
		n, ok := d.entries[p]
		if !ok {
			return nil, &fs.PathError{Op: "open", Path: name, Err: errNotExist}
		}
		d = n
	}
	return d, nil
}

func (m *MemFS) setEntry(d *memNode, name string, n *memNode) {
	m.dirty[d] = true
	d.set(name, n)
}

func (d *memNode) set(name string, n *memNode) {
	if n == nil {
		delete(d.entries, name)
	} else {
		d.entries[name] = n
	}
	d.pending = append(d.pending, dirOp{name: name, node: n})
}

// op counts a mutating operation and reports an injected failure.
func (m *MemFS) op() error {
	m.Ops++
	if m.FailAt > 0 && m.Ops == m.FailAt {
		return ErrInjected
	}
	return nil
}

type memFile struct {
	m      *MemFS
	n      *memNode
	gen    int
	pos    int64
	append bool
	ro     bool
	closed bool
}

func (m *MemFS) open(name string, create, trunc, app, ro bool) (File, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.halted {
		return nil, ErrCrashed
	}
	d, base, err := m.lookupParent(name)
	if err != nil {
		return nil, err
	}
	n, ok := d.entries[base]
	if ok && n.dir {
		return nil, fmt.Errorf("storage: memfs: %s is a directory", name)
	}
	if !ok {
		if !create {
			return nil, &fs.PathError{Op: "open", Path: name, Err: errNotExist}
		}
		if err := m.op(); err != nil {
			return nil, err
		}
		n = &memNode{appendOnly: true}
		m.setEntry(d, base, n)
	} else if trunc {
		if err := m.op(); err != nil {
			return nil, err
		}
		n.data = n.data[:0:0]
		n.appendOnly = false
		m.dirty[n] = true
	}
	return &memFile{m: m, n: n, gen: m.gen, append: app, ro: ro}, nil
}

// Create implements FS.
func (m *MemFS) Create(name string) (File, error) { return m.open(name, true, true, false, false) }

// Open implements FS.
func (m *MemFS) Open(name string) (File, error) { return m.open(name, false, false, false, true) }

// OpenAppend implements FS.
func (m *MemFS) OpenAppend(name string) (File, error) {
	return m.open(name, true, false, true, false)
}

func (f *memFile) check() error {
	if f.closed {
		return fs.ErrClosed
	}
	if f.gen != f.m.gen || f.m.halted {
		return ErrCrashed
	}
	return nil
}

func (f *memFile) Write(p []byte) (int, error) {
	f.m.mu.Lock()
	defer f.m.mu.Unlock()
	if err := f.check(); err != nil {
		return 0, err
	}
	if f.ro {
		return 0, fmt.Errorf("storage: memfs: write to read-only file")
	}
	if err := f.m.op(); err != nil {
		return 0, err
	}
	n := f.n
	f.m.dirty[n] = true
	if f.append {
		f.pos = int64(len(n.data))
	}
	end := f.pos + int64(len(p))
	if f.pos < int64(len(n.data)) {
		n.appendOnly = false
	}
	for int64(len(n.data)) < end {
		n.data = append(n.data, 0)
	}
	copy(n.data[f.pos:], p)
	f.pos = end
	return len(p), nil
}

func (f *memFile) WriteAt(p []byte, off int64) (int, error) {
	f.m.mu.Lock()
	defer f.m.mu.Unlock()
	if err := f.check(); err != nil {
		return 0, err
	}
	if f.ro {
		return 0, fmt.Errorf("storage: memfs: write to read-only file")
	}
	if err := f.m.op(); err != nil {
		return 0, err
	}
	n := f.n
	f.m.dirty[n] = true
	if off < int64(len(n.data)) {
		n.appendOnly = false
	}
	for int64(len(n.data)) < off+int64(len(p)) {
		n.data = append(n.data, 0)
	}
	copy(n.data[off:], p)
	return len(p), nil
}

func (f *memFile) ReadAt(p []byte, off int64) (int, error) {
	f.m.mu.Lock()
	defer f.m.mu.Unlock()
	if err := f.check(); err != nil {
		return 0, err
	}
	if off >= int64(len(f.n.data)) {
		if len(p) == 0 {
			return 0, nil
		}
		return 0, io.EOF
	}
	k := copy(p, f.n.data[off:])
	if k < len(p) {
		return k, io.EOF
	}
	return k, nil
}

func (f *memFile) Sync() error {
	f.m.mu.Lock()
	defer f.m.mu.Unlock()
	if err := f.check(); err != nil {
		return err
	}
	if err := f.m.op(); err != nil {
		return err
	}
	f.n.syncFile()
	delete(f.m.dirty, f.n)
	return nil
}

func (n *memNode) syncFile() {
	if n.appendOnly && len(n.durable) <= len(n.data) {
		n.durable = append(n.durable, n.data[len(n.durable):]...)
	} else {
		n.durable = append([]byte(nil), n.data...)
	}
	n.appendOnly = true
}

func (d *memNode) syncDir() {
	d.durableEntries = make(map[string]*memNode, len(d.entries))
	for k, v := range d.entries {
		d.durableEntries[k] = v
	}
	d.pending = nil
}

// SyncAll implements SyncAller: every file and directory becomes durable.
func (m *MemFS) SyncAll() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.halted {
		return ErrCrashed
	}
	if err := m.op(); err != nil {
		return err
	}
	for n := range m.dirty {
		if n.dir {
			n.syncDir()
		} else {
			n.syncFile()
		}
	}
	m.dirty = map[*memNode]bool{}
	return nil
}

func (f *memFile) Truncate(size int64) error {
	f.m.mu.Lock()
	defer f.m.mu.Unlock()
	if err := f.check(); err != nil {
		return err
	}
	if err := f.m.op(); err != nil {
		return err
	}
	n := f.n
	f.m.dirty[n] = true
	if size < int64(len(n.data)) {
		n.data = n.data[:size:size]
		n.appendOnly = false
	} else {
		for int64(len(n.data)) < size {
			n.data = append(n.data, 0)
		}
	}
	return nil
}

func (f *memFile) Size() (int64, error) {
	f.m.mu.Lock()
	defer f.m.mu.Unlock()
	if err := f.check(); err != nil {
		return 0, err
	}
	return int64(len(f.n.data)), nil
}

func (f *memFile) Close() error {
	f.m.mu.Lock()
	defer f.m.mu.Unlock()
	if f.closed {
		return fs.ErrClosed
	}
	f.closed = true
	return nil
}

// Rename implements FS.
func (m *MemFS) Rename(oldname, newname string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.halted {
		return ErrCrashed
	}
	od, ob, err := m.lookupParent(oldname)
	if err != nil {
		return err
	}
	n, ok := od.entries[ob]
	if !ok {
		return &fs.PathError{Op: "rename", Path: oldname, Err: errNotExist}
	}
	nd, nb, err := m.lookupParent(newname)
	if err != nil {
		return err
	}
	if t, ok := nd.entries[nb]; ok && t.dir && len(t.entries) > 0 {
		return fmt.Errorf("storage: memfs: rename onto non-empty directory %s", newname)
	}
	if err := m.op(); err != nil {
		return err
	}
	if od == nd {
		// A rename within a directory is one atomic entry change.
		delete(od.entries, ob)
		od.entries[nb] = n
		od.pending = append(od.pending, dirOp{name: nb, node: n, from: ob})
		m.dirty[od] = true
		return nil
	}
	m.setEntry(od, ob, nil)
	m.setEntry(nd, nb, n)
	return nil
}

// Remove implements FS.
func (m *MemFS) Remove(name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.halted {
		return ErrCrashed
	}
	d, b, err := m.lookupParent(name)
	if err != nil {
		return err
	}
	n, ok := d.entries[b]
	if !ok {
		return &fs.PathError{Op: "remove", Path: name, Err: errNotExist}
	}
	if n.dir && len(n.entries) > 0 {
		return fmt.Errorf("storage: memfs: remove non-empty directory %s", name)
	}
	if err := m.op(); err != nil {
		return err
	}
	m.setEntry(d, b, nil)
	return nil
}

// RemoveAll implements FS.
func (m *MemFS) RemoveAll(name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.halted {
		return ErrCrashed
	}
	d, b, err := m.lookupParent(name)
	if err != nil {
		if isNotExist(err) {
			return nil
		}
		return err
	}
	if _, ok := d.entries[b]; !ok {
		return nil
	}
	if err := m.op(); err != nil {
		return err
	}
	m.setEntry(d, b, nil)
	return nil
}

// ReadDir implements FS.
func (m *MemFS) ReadDir(name string) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.halted {
		return nil, ErrCrashed
	}
	d, err := m.lookup(name)
	if err != nil {
		return nil, err
	}
	if !d.dir {
		return nil, fmt.Errorf("storage: memfs: %s is not a directory", name)
	}
	names := make([]string, 0, len(d.entries))
	for k := range d.entries {
		names = append(names, k)
	}
	sort.Strings(names)
	return names, nil
}

// MkdirAll implements FS.
func (m *MemFS) MkdirAll(name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.halted {
		return ErrCrashed
	}
	d := m.root
	for _, p := range splitPath(name) {
		n, ok := d.entries[p]
		if !ok {
			if err := m.op(); err != nil {
				return err
			}
			n = newMemDir()
			m.setEntry(d, p, n)
		} else if !n.dir {
			return fmt.Errorf("storage: memfs: %s is not a directory", p)
		}
		d = n
	}
	return nil
}

// SyncDir implements FS.
func (m *MemFS) SyncDir(name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.halted {
		return ErrCrashed
	}
	d, err := m.lookup(name)
	if err != nil {
		return err
	}
	if !d.dir {
		return fmt.Errorf("storage: memfs: %s is not a directory", name)
	}
	if err := m.op(); err != nil {
		return err
	}
	d.syncDir()
	delete(m.dirty, d)
	return nil
}

// Crash simulates a power loss: everything not made durable is lost (see the
// type's comment for what the options keep), and every open handle dies.
func (m *MemFS) Crash() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.crashLocked()
}

func (m *MemFS) crashLocked() {
	m.gen++
	m.dirty = map[*memNode]bool{}
	seen := map[*memNode]bool{}
	m.crashDir(m.root, seen)
}

func (m *MemFS) crashDir(d *memNode, seen map[*memNode]bool) {
	if seen[d] {
		return
	}
	seen[d] = true
	entries := make(map[string]*memNode, len(d.durableEntries))
	for k, v := range d.durableEntries {
		entries[k] = v
	}
	if m.opts.PartialDirOps && len(d.pending) > 0 {
		keep := m.rng.IntN(len(d.pending) + 1)
		for _, op := range d.pending[:keep] {
			if op.from != "" {
				delete(entries, op.from)
			}
			if op.node == nil {
				delete(entries, op.name)
			} else {
				entries[op.name] = op.node
			}
		}
	}
	d.entries = entries
	d.durableEntries = make(map[string]*memNode, len(entries))
	for k, v := range entries {
		d.durableEntries[k] = v
	}
	d.pending = nil
	names := make([]string, 0, len(entries))
	for k := range entries {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		n := entries[k]
		if n.dir {
			m.crashDir(n, seen)
		} else if !seen[n] {
			seen[n] = true
			m.crashFile(n)
		}
	}
}

func (m *MemFS) crashFile(n *memNode) {
	keep := n.durable
	if m.opts.TornWrites && n.appendOnly && len(n.data) > len(n.durable) {
		extra := m.rng.IntN(len(n.data) - len(n.durable) + 1)
		keep = n.data[:len(n.durable)+extra]
	}
	n.data = append([]byte(nil), keep...)
	if m.opts.BitFlipsPerMiB > 0 && len(n.data) > 0 {
		expect := m.opts.BitFlipsPerMiB * float64(len(n.data)) / (1 << 20)
		flips := int(expect)
		if m.rng.Float64() < expect-float64(flips) {
			flips++
		}
		for range flips {
			i := m.rng.IntN(len(n.data))
			n.data[i] ^= 1 << m.rng.IntN(8)
		}
	}
	n.durable = append([]byte(nil), n.data...)
	n.appendOnly = true
}

// CrashHalt is Crash, after which every operation (through old handles or
// new) fails with ErrCrashed until Resume: goroutines of the crashed
// process that are still running cannot touch the disk of the next one.
func (m *MemFS) CrashHalt() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.crashLocked()
	m.halted = true
}

// Resume ends CrashHalt: the machine restarts.
func (m *MemFS) Resume() {
	m.mu.Lock()
	m.halted = false
	m.mu.Unlock()
}

// FlipBit flips one bit of a file's contents, durable and current alike, as
// silent corruption on the medium would. bit counts from the file's start.
func (m *MemFS) FlipBit(name string, bit int64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, err := m.lookup(name)
	if err != nil {
		return err
	}
	i := bit / 8
	if n.dir || i >= int64(len(n.data)) {
		return fmt.Errorf("storage: memfs: FlipBit out of range")
	}
	n.data[i] ^= 1 << (bit % 8)
	if i < int64(len(n.durable)) {
		n.durable[i] ^= 1 << (bit % 8)
	}
	return nil
}

// Chop cuts a file to size bytes, durable and current alike.
func (m *MemFS) Chop(name string, size int64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, err := m.lookup(name)
	if err != nil {
		return err
	}
	if n.dir || size > int64(len(n.data)) {
		return fmt.Errorf("storage: memfs: Chop out of range")
	}
	n.data = n.data[:size:size]
	if int64(len(n.durable)) > size {
		n.durable = n.durable[:size:size]
	}
	return nil
}

// FileSize returns the current size of a file, or -1 if it does not exist.
func (m *MemFS) FileSize(name string) int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, err := m.lookup(name)
	if err != nil || n.dir {
		return -1
	}
	return int64(len(n.data))
}

// Files lists every file under dir (recursively), sorted, as paths.
func (m *MemFS) Files(dir string) []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	d, err := m.lookup(dir)
	if err != nil || !d.dir {
		return nil
	}
	var out []string
	var walk func(p string, d *memNode)
	walk = func(p string, d *memNode) {
		for k, v := range d.entries {
			q := p + "/" + k
			if v.dir {
				walk(q, v)
			} else {
				out = append(out, strings.TrimPrefix(q, "/"))
			}
		}
	}
	walk(strings.TrimSuffix(dir, "/"), d)
	sort.Strings(out)
	return out
}

// Clone returns an independent copy of the file system's current state
// (durable and not), with the same options and a fresh generator seeded
// with seed.
func (m *MemFS) Clone(seed uint64) *MemFS {
	m.mu.Lock()
	defer m.mu.Unlock()
	c := NewMemFS(m.opts)
	for n := range m.dirty {
		c.dirty[n] = true // remapped below
	}
	c.rng = rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	copies := map[*memNode]*memNode{}
	var cp func(n *memNode) *memNode
	cp = func(n *memNode) *memNode {
		if n == nil {
			return nil
		}
		if c, ok := copies[n]; ok {
			return c
		}
		x := &memNode{dir: n.dir, appendOnly: n.appendOnly}
		copies[n] = x
		if !n.dir {
			x.data = append([]byte(nil), n.data...)
			x.durable = append([]byte(nil), n.durable...)
			return x
		}
		x.entries = make(map[string]*memNode, len(n.entries))
		x.durableEntries = make(map[string]*memNode, len(n.durableEntries))
		for k, v := range n.entries {
			x.entries[k] = cp(v)
		}
		for k, v := range n.durableEntries {
			x.durableEntries[k] = cp(v)
		}
		for _, op := range n.pending {
			x.pending = append(x.pending, dirOp{name: op.name, node: cp(op.node), from: op.from})
		}
		return x
	}
	c.root = cp(m.root)
	dirty := map[*memNode]bool{}
	for n := range c.dirty {
		if x, ok := copies[n]; ok {
			dirty[x] = true
		}
	}
	c.dirty = dirty
	return c
}
