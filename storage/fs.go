package storage

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"sync"

	"golang.org/x/sys/unix"
)

// FS is every way the store reaches the disk. Paths use "/" and are relative
// to the FS root (the OS implementation joins them to its root directory).
// The store relies on exactly these guarantees:
//
//   - data written to a file is durable only after File.Sync returns nil;
//   - a created, renamed or removed directory entry is durable only after
//     SyncDir of its directory returns nil;
//   - Rename replaces the target atomically.
//
// MemFS implements FS in memory and drops, on Crash, everything these rules do
// not promise to keep.
type FS interface {
	// Create creates or truncates name and opens it for reading and writing.
	Create(name string) (File, error)
	// Open opens name for reading.
	Open(name string) (File, error)
	// OpenAppend opens name for reading and writing, creating it if
	// needed; every Write goes to the end of the file, WriteAt where told.
	OpenAppend(name string) (File, error)
	// Rename renames oldname to newname, replacing newname.
	Rename(oldname, newname string) error
	// Remove removes a file or an empty directory.
	Remove(name string) error
	// RemoveAll removes name and everything under it; a missing name is no error.
	RemoveAll(name string) error
	// ReadDir lists the names in a directory, sorted.
	ReadDir(name string) ([]string, error)
	// MkdirAll creates a directory and any missing parents.
	MkdirAll(name string) error
	// SyncDir makes the entries of a directory durable.
	SyncDir(name string) error
}

// File is an open file of an FS.
type File interface {
	io.Writer
	io.WriterAt
	io.ReaderAt
	// Sync makes everything written so far durable.
	Sync() error
	// Truncate cuts the file to size bytes.
	Truncate(size int64) error
	// Size returns the current length of the file.
	Size() (int64, error)
	Close() error
}

// SyncAller is implemented by an FS that can make everything written to it
// so far durable in one call. APPEND uses it for group commit: concurrent
// writers' message files, directory entries and log share one sync instead
// of one fsync per file.
type SyncAller interface {
	SyncAll() error
}

// errNotExist is returned (wrapped) for a missing file by every FS; test it
// with errors.Is(err, fs.ErrNotExist).
var errNotExist = fs.ErrNotExist

func isNotExist(err error) bool { return errors.Is(err, fs.ErrNotExist) }

// OSFS is the FS of the operating system, rooted at a directory.
type OSFS struct {
	Root string
}

// NewOSFS returns an FS rooted at dir, creating dir if needed.
func NewOSFS(dir string) (*OSFS, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	return &OSFS{Root: dir}, nil
}

func (o *OSFS) path(name string) string { return filepath.Join(o.Root, filepath.FromSlash(name)) }

type osFile struct{ *os.File }

func (f osFile) Size() (int64, error) {
	st, err := f.Stat()
	if err != nil {
		return 0, err
	}
	return st.Size(), nil
}

// Create implements FS.
func (o *OSFS) Create(name string) (File, error) {
	f, err := os.OpenFile(o.path(name), os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, err
	}
	return osFile{f}, nil
}

// Open implements FS.
func (o *OSFS) Open(name string) (File, error) {
	f, err := os.Open(o.path(name))
	if err != nil {
		return nil, err
	}
	return osFile{f}, nil
}

// OpenAppend implements FS. It does not use O_APPEND, which forbids
// WriteAt: the handle keeps the end of the file itself.
func (o *OSFS) OpenAppend(name string) (File, error) {
	f, err := os.OpenFile(o.path(name), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	return &osAppendFile{osFile: osFile{f}, end: st.Size()}, nil
}

// osAppendFile appends with WriteAt at the end it tracks; concurrent
// WriteAt calls at distinct offsets are safe.
type osAppendFile struct {
	osFile
	mu  sync.Mutex
	end int64
}

func (f *osAppendFile) Write(p []byte) (int, error) {
	f.mu.Lock()
	off := f.end
	f.end += int64(len(p))
	f.mu.Unlock()
	return f.osFile.WriteAt(p, off)
}

func (f *osAppendFile) WriteAt(p []byte, off int64) (int, error) {
	n, err := f.osFile.WriteAt(p, off)
	f.mu.Lock()
	if e := off + int64(n); e > f.end {
		f.end = e
	}
	f.mu.Unlock()
	return n, err
}

func (f *osAppendFile) Truncate(size int64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.osFile.Truncate(size); err != nil {
		return err
	}
	f.end = size
	return nil
}

// Rename implements FS.
func (o *OSFS) Rename(oldname, newname string) error {
	return os.Rename(o.path(oldname), o.path(newname))
}

// Remove implements FS.
func (o *OSFS) Remove(name string) error { return os.Remove(o.path(name)) }

// RemoveAll implements FS.
func (o *OSFS) RemoveAll(name string) error { return os.RemoveAll(o.path(name)) }

// ReadDir implements FS.
func (o *OSFS) ReadDir(name string) ([]string, error) {
	f, err := os.Open(o.path(name))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	names, err := f.Readdirnames(-1)
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	return names, nil
}

// MkdirAll implements FS.
func (o *OSFS) MkdirAll(name string) error { return os.MkdirAll(o.path(name), 0o700) }

// SyncDir implements FS.
func (o *OSFS) SyncDir(name string) error {
	f, err := os.Open(o.path(name))
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// SyncAll implements SyncAller with syncfs(2), which flushes and waits for
// every dirty file, inode and directory of the file system holding Root
// (since Linux 5.8 it also reports write-back errors).
func (o *OSFS) SyncAll() error {
	f, err := os.Open(o.Root)
	if err != nil {
		return err
	}
	defer f.Close()
	return os.NewSyscallError("syncfs", unix.Syncfs(int(f.Fd())))
}

// readFile reads a whole file.
func readFile(fsys FS, name string) ([]byte, error) {
	f, err := fsys.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	n, err := f.Size()
	if err != nil {
		return nil, err
	}
	b := make([]byte, n)
	if _, err := f.ReadAt(b, 0); err != nil && !(errors.Is(err, io.EOF) && n == 0) {
		return nil, err
	}
	return b, nil
}

// writeFileAtomic writes data to dir/name durably: temp file, fsync, rename,
// fsync of dir. When backup is not empty, the previous file is first renamed
// to dir/backup (inside the same directory fsync).
func writeFileAtomic(fsys FS, dir, name, backup string, data []byte) error {
	tmp := dir + "/" + name + ".tmp"
	f, err := fsys.Create(tmp)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if backup != "" {
		if err := fsys.Rename(dir+"/"+name, dir+"/"+backup); err != nil && !isNotExist(err) {
			return err
		}
	}
	if err := fsys.Rename(tmp, dir+"/"+name); err != nil {
		return err
	}
	return fsys.SyncDir(dir)
}
