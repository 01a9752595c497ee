// Package datadir opens imapd's data directory: the process lock that keeps
// two processes from opening one store, and the storage.FS the store runs
// on (counting fsyncs, and reaching a users file outside the directory).
package datadir

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/myriad-mail/myriad/storage"
)

// LockName is the lock file in the data directory. `imapd serve` holds an
// exclusive flock on it and writes its PID there.
const LockName = "imapd.lock"

// ErrLocked says another process (a running server) holds the data directory.
var ErrLocked = errors.New("data directory is in use by a running imapd")

// Lock is a held data-directory lock.
type Lock struct{ f *os.File }

// Acquire takes the data directory's lock without waiting, creating the
// directory if needed, and records the PID of this process in it.
func Acquire(dir string) (*Lock, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(dir, LockName), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, ErrLocked
		}
		return nil, fmt.Errorf("lock %s: %w", f.Name(), err)
	}
	f.Truncate(0)
	f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	return &Lock{f: f}, nil
}

// Release drops the lock.
func (l *Lock) Release() {
	if l != nil && l.f != nil {
		l.f.Close()
		l.f = nil
	}
}

// ServerPID returns the PID of the server holding dir's lock, or 0 if no
// process holds it.
func ServerPID(dir string) int {
	f, err := os.Open(filepath.Join(dir, LockName))
	if err != nil {
		return 0
	}
	defer f.Close()
	if err := unix.Flock(int(f.Fd()), unix.LOCK_SH|unix.LOCK_NB); err == nil {
		unix.Flock(int(f.Fd()), unix.LOCK_UN)
		return 0 // nobody holds it
	}
	b := make([]byte, 32)
	n, _ := f.ReadAt(b, 0)
	pid, err := strconv.Atoi(strings.TrimSpace(string(b[:n])))
	if err != nil || pid <= 0 {
		return 0
	}
	return pid
}

// absPrefix marks, inside FS, a name that is an absolute path of the OS
// (the store names its users file by a path inside its FS).
const absPrefix = "@abs"

// FS is the store's file system: an OSFS rooted at the data directory that
// counts fsyncs and maps names under absPrefix to absolute paths.
type FS struct {
	root, abs *storage.OSFS
	Fsyncs    atomic.Uint64 // File.Sync and SyncDir calls
}

// NewFS returns the FS of the data directory dir (created if missing).
func NewFS(dir string) (*FS, error) {
	root, err := storage.NewOSFS(dir)
	if err != nil {
		return nil, err
	}
	return &FS{root: root, abs: &storage.OSFS{Root: "/"}}, nil
}

// UsersName is the name inside the FS of the users file at path (an OS
// path): relative to the data directory when it lies inside it.
func (f *FS) UsersName(path string) string {
	dir, _ := filepath.Abs(f.root.Root)
	p, _ := filepath.Abs(path)
	if rel, err := filepath.Rel(dir, p); err == nil && !strings.HasPrefix(rel, "..") {
		return filepath.ToSlash(rel)
	}
	return absPrefix + filepath.ToSlash(p)
}

func (f *FS) pick(name string) (*storage.OSFS, string) {
	if rest, ok := strings.CutPrefix(name, absPrefix); ok {
		return f.abs, rest
	}
	return f.root, name
}

type countedFile struct {
	storage.File
	n *atomic.Uint64
}

func (c countedFile) Sync() error {
	c.n.Add(1)
	return c.File.Sync()
}

func (f *FS) wrap(fl storage.File, err error) (storage.File, error) {
	if err != nil {
		return nil, err
	}
	return countedFile{fl, &f.Fsyncs}, nil
}

// Create implements storage.FS.
func (f *FS) Create(name string) (storage.File, error) {
	fs, n := f.pick(name)
	return f.wrap(fs.Create(n))
}

// Open implements storage.FS.
func (f *FS) Open(name string) (storage.File, error) {
	fs, n := f.pick(name)
	return f.wrap(fs.Open(n))
}

// OpenAppend implements storage.FS.
func (f *FS) OpenAppend(name string) (storage.File, error) {
	fs, n := f.pick(name)
	return f.wrap(fs.OpenAppend(n))
}

// Rename implements storage.FS.
func (f *FS) Rename(oldname, newname string) error {
	fs, o := f.pick(oldname)
	fs2, n := f.pick(newname)
	if fs != fs2 {
		return fmt.Errorf("rename %s to %s: across file systems", oldname, newname)
	}
	return fs.Rename(o, n)
}

// Remove implements storage.FS.
func (f *FS) Remove(name string) error { fs, n := f.pick(name); return fs.Remove(n) }

// RemoveAll implements storage.FS.
func (f *FS) RemoveAll(name string) error { fs, n := f.pick(name); return fs.RemoveAll(n) }

// ReadDir implements storage.FS.
func (f *FS) ReadDir(name string) ([]string, error) { fs, n := f.pick(name); return fs.ReadDir(n) }

// MkdirAll implements storage.FS.
func (f *FS) MkdirAll(name string) error { fs, n := f.pick(name); return fs.MkdirAll(n) }

// SyncDir implements storage.FS.
func (f *FS) SyncDir(name string) error {
	f.Fsyncs.Add(1)
	fs, n := f.pick(name)
	return fs.SyncDir(n)
}

var _ storage.FS = (*FS)(nil)

// SyncAll implements storage.SyncAller (one syncfs(2) of the data
// directory's file system), counted as one fsync.
func (f *FS) SyncAll() error {
	f.Fsyncs.Add(1)
	return f.root.SyncAll()
}

var _ storage.SyncAller = (*FS)(nil)
