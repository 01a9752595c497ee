package storage

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/myriad-mail/myriad/statemachine"
)

// FsyncMode says when a change is made durable.
type FsyncMode uint8

// Fsync modes.
const (
	// FsyncAlways (the default): a change is acknowledged (the method
	// returns, the tagged OK goes out) only after an fsync of the log covers
	// its record; concurrent changes of a mailbox share one fsync (group
	// commit). A crash loses nothing that was acknowledged.
	FsyncAlways FsyncMode = iota
	// FsyncBatch acknowledges once the record is written and fsyncs the log
	// within Config.BatchInterval: a crash of the machine (not of the
	// process) can lose the acknowledged changes of that interval.
	FsyncBatch
	// FsyncNever leaves flushing to the kernel (and to log rotation): a
	// machine crash can lose any recent change. For tests and benchmarks.
	FsyncNever
)

// ParseFsyncMode parses "always", "batch" or "never".
func ParseFsyncMode(s string) (FsyncMode, error) {
	switch s {
	case "always", "":
		return FsyncAlways, nil
	case "batch":
		return FsyncBatch, nil
	case "never":
		return FsyncNever, nil
	}
	return 0, fmt.Errorf("storage: fsync mode %q: want always, batch or never", s)
}

func (m FsyncMode) String() string {
	return [...]string{"always", "batch", "never"}[m]
}

// Config configures a Store. The zero value of every field but FS (or Dir)
// means its default.
type Config struct {
	// FS is where everything lives; if nil, an OSFS rooted at Dir.
	FS  FS
	Dir string
	// UsersFile is the path, inside FS, of the passwd-file of users
	// (default "users"). It may be missing: then nobody can log in.
	UsersFile string
	// Fsync chooses durability against speed (default FsyncAlways).
	Fsync FsyncMode
	// BatchInterval bounds how long FsyncBatch waits (default 10ms).
	BatchInterval time.Duration
	// LogRotateBytes: when a mailbox's log grows past it, the index is
	// rewritten and the log rotated (default 4 MiB; < 0: never).
	LogRotateBytes int64
	// MaxMessageBytes is the largest message APPEND and COPY accept
	// (default 64 MiB).
	MaxMessageBytes int64
	// CredentialCacheSize bounds the verified-credentials cache (default
	// 65536 entries; < 0: no cache).
	CredentialCacheSize int
	// IdleMailboxes is how many mailboxes per account stay open after
	// their last Release (default 4; < 0: none), so that SELECT, STATUS
	// and deliveries to a recently used mailbox skip recovery.
	IdleMailboxes int
	// Logger receives recovery findings and errors (default slog.Default()).
	Logger *slog.Logger
	// Now is the clock, read only to seed UIDVALIDITY for new mailboxes
	// (default time.Now); the simulator passes its virtual clock.
	Now func() time.Time
	// SyncFS makes concurrent APPENDs share syncs of the whole file system
	// (SyncAller; syncfs(2) for OSFS) instead of fsyncing each message
	// file: one sync for all their files' data, one for names and log.
	// It pays on a file system that holds only mail; where other programs
	// leave dirty data on the same file system, every sync flushes theirs
	// too (docs/STORAGE.md has both measured). Default: per-file fsync.
	SyncFS bool
	// PlantedBugSkipFsync acknowledges changes without any fsync. It exists
	// only so that crash tests and the simulator can prove they detect lost
	// acknowledged changes; never set it otherwise.
	PlantedBugSkipFsync bool
}

// Store is the durable mail store: it implements statemachine.Backend.
type Store struct {
	cfg   Config
	fs    FS
	log   *slog.Logger
	users *userDB

	syncAll SyncAller // nil: fsync file by file
	// syncPair: a group commit that added files fsyncs m/ and the log at
	// the same time (two goroutines) instead of one after the other: only
	// on the real file system, where concurrent fsyncs share a journal
	// commit; MemFS stays single-threaded and deterministic.
	syncPair bool
	barrier  syncGroup // shares SyncAll calls among concurrent writers

	mu       sync.Mutex
	accounts map[string]*account
	closed   bool
}

// Open opens (creating if needed) a store.
func Open(cfg Config) (*Store, error) {
	if cfg.FS == nil {
		if cfg.Dir == "" {
			return nil, errors.New("storage: Config needs FS or Dir")
		}
		o, err := NewOSFS(cfg.Dir)
		if err != nil {
			return nil, err
		}
		cfg.FS = o
	}
	if cfg.UsersFile == "" {
		cfg.UsersFile = "users"
	}
	if cfg.BatchInterval <= 0 {
		cfg.BatchInterval = 10 * time.Millisecond
	}
	if cfg.LogRotateBytes == 0 {
		cfg.LogRotateBytes = 4 << 20
	}
	if cfg.MaxMessageBytes <= 0 {
		cfg.MaxMessageBytes = 64 << 20
	}
	if cfg.CredentialCacheSize == 0 {
		cfg.CredentialCacheSize = 1 << 16
	}
	if cfg.IdleMailboxes == 0 {
		cfg.IdleMailboxes = 4
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &Store{cfg: cfg, fs: cfg.FS, log: cfg.Logger, accounts: map[string]*account{}}
	if sa, ok := cfg.FS.(SyncAller); ok && cfg.SyncFS {
		s.syncAll = sa
	}
	_, s.syncPair = cfg.FS.(*OSFS)
	if err := s.fs.MkdirAll("u"); err != nil {
		return nil, err
	}
	s.users = newUserDB(s)
	if err := s.users.reload(); err != nil {
		return nil, err
	}
	return s, nil
}

// Login implements statemachine.Backend.
func (s *Store) Login(user, password string) (statemachine.Account, error) {
	if !s.users.verify(user, password) {
		return nil, statemachine.ErrAuthFailed
	}
	return s.account(user)
}

// Account returns a user's account without a password (for delivery and
// administration). The user must exist in the users file.
func (s *Store) Account(user string) (statemachine.Account, error) {
	if !s.users.exists(user) {
		return nil, fmt.Errorf("storage: no user %q", user)
	}
	return s.account(user)
}

func (s *Store) account(user string) (*account, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, errors.New("storage: store closed")
	}
	if a, ok := s.accounts[user]; ok {
		return a, nil
	}
	a, err := loadAccount(s, user)
	if err != nil {
		return nil, err
	}
	s.accounts[user] = a
	return a, nil
}

// ReloadUsers rereads the users file and empties the credentials cache.
func (s *Store) ReloadUsers() error { return s.users.reload() }

// Close closes every open mailbox. Sessions must be gone.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	for _, a := range s.accounts {
		a.closeAll()
	}
	return nil
}

var _ statemachine.Backend = (*Store)(nil)

// syncGroup lets concurrent callers share one call of a sync function: a
// caller returns after a call that started after it arrived has finished.
// The first caller that finds no call running makes it; the others wait.
type syncGroup struct {
	mu      sync.Mutex
	cond    *sync.Cond
	started uint64
	done    uint64
	running bool
	err     error // sticky: after a failed sync nothing is known
}

func (g *syncGroup) sync(fn func() error) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.cond == nil {
		g.cond = sync.NewCond(&g.mu)
	}
	need := g.started + 1
	for g.done < need && g.err == nil {
		if g.running {
			g.cond.Wait()
			continue
		}
		g.running = true
		g.started++
		my := g.started
		g.mu.Unlock()
		err := fn()
		g.mu.Lock()
		g.running = false
		if err != nil {
			g.err = err
		} else {
			g.done = my
		}
		g.cond.Broadcast()
	}
	return g.err
}
