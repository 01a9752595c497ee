package storage

import (
	"fmt"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/myriad-mail/myriad/statemachine"
)

// countFS counts file and directory fsyncs of the FS it wraps.
type countFS struct {
	FS
	syncs, dirSyncs atomic.Int64
}

type countFile struct {
	File
	c *countFS
}

func (c *countFS) wrap(f File, err error) (File, error) {
	if err != nil {
		return nil, err
	}
	return countFile{f, c}, nil
}
func (c *countFS) Create(n string) (File, error)     { return c.wrap(c.FS.Create(n)) }
func (c *countFS) Open(n string) (File, error)       { return c.wrap(c.FS.Open(n)) }
func (c *countFS) OpenAppend(n string) (File, error) { return c.wrap(c.FS.OpenAppend(n)) }
func (c *countFS) SyncDir(n string) error            { c.dirSyncs.Add(1); return c.FS.SyncDir(n) }
func (f countFile) Sync() error                      { f.c.syncs.Add(1); return f.File.Sync() }

// SyncAll passes SyncAller through when the wrapped FS has it.
func (c *countFS) SyncAll() error {
	c.syncs.Add(1)
	return c.FS.(SyncAller).SyncAll()
}

// TestGroupCommit: many concurrent writers on one mailbox share fsyncs, and
// every change is published exactly once and in modseq order.
func TestGroupCommit(t *testing.T) {
	dir := t.TempDir()
	o, _ := NewOSFS(dir)
	cfs := &countFS{FS: o}
	s := newTestStore(t, cfs, nil)
	a := login(t, s, "alice")
	mbox, _ := a.Open("INBOX")
	for i := range 64 {
		a.Append("INBOX", nil, int64(i), []byte("x\r\n"))
	}
	before := cfs.syncs.Load()
	const writers, each = 64, 20
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				op := statemachine.FlagsAdd
				if i%2 == 1 {
					op = statemachine.FlagsRemove
				}
				if _, err := mbox.Store.Store([]statemachine.UID{statemachine.UID(w + 1)}, op, []string{`\Seen`}, 0); err != nil {
					t.Error(err)
				}
				// Read-your-writes: the change is published when Store returns.
				snap := mbox.Current()
				if got := snap.At(snap.Index(statemachine.UID(w+1))).Flags&statemachine.FlagSeen != 0; got != (op == statemachine.FlagsAdd) {
					t.Errorf("writer %d: change not visible after Store returned", w)
				}
			}
		}()
	}
	wg.Wait()
	syncs := cfs.syncs.Load() - before
	if mbox.Current().HighestModSeq != 64+writers*each {
		t.Fatalf("highest modseq %d", mbox.Current().HighestModSeq)
	}
	// Walk the chain of snapshots: modseq rises by one per publication.
	t.Logf("%d changes, %d fsyncs", writers*each, syncs)
	if syncs >= writers*each {
		t.Fatalf("no group commit: %d fsyncs for %d changes", syncs, writers*each)
	}

	// Concurrent APPENDs, with m/ and the log fsynced together (as OSFS
	// gets; countFS hides it): every one is there, readable, and the
	// group commits are shared.
	s.syncPair = true
	before, beforeDir := cfs.syncs.Load(), cfs.dirSyncs.Load()
	const appenders, appends = 16, 5
	for w := range appenders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range appends {
				body := fmt.Sprintf("Subject: %d/%d\r\n\r\nx\r\n", w, i)
				r, err := a.Append("INBOX", nil, 1, []byte(body))
				if err != nil {
					t.Error(err)
					return
				}
				snap := mbox.Current()
				if snap.Index(r.UID) < 0 {
					t.Errorf("APPEND %d/%d: UID %d not visible after Append returned", w, i, r.UID)
				}
				if got, err := mbox.Store.Message(r.UID); err != nil || string(got) != body {
					t.Errorf("APPEND %d/%d: Message(%d) = %q, %v", w, i, r.UID, got, err)
				}
			}
		}()
	}
	wg.Wait()
	fileSyncs, dirSyncs := cfs.syncs.Load()-before, cfs.dirSyncs.Load()-beforeDir
	t.Logf("%d APPENDs: %d file/log fsyncs, %d directory fsyncs", appenders*appends, fileSyncs, dirSyncs)
	if mbox.Current().Len() != 64+appenders*appends {
		t.Fatalf("%d messages, want %d", mbox.Current().Len(), 64+appenders*appends)
	}
	if fileSyncs+dirSyncs >= 3*appenders*appends {
		t.Fatalf("no group commit for APPEND: %d fsyncs for %d APPENDs", fileSyncs+dirSyncs, appenders*appends)
	}
}

func benchDir(b *testing.B) string {
	if d := os.Getenv("STORAGE_BENCH_DIR"); d != "" {
		dir, err := os.MkdirTemp(d, "bench")
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { os.RemoveAll(dir) })
		return dir
	}
	return b.TempDir()
}

// runWriters runs b.N operations spread over writers goroutines and reports
// operations per second and fsyncs per operation.
func runWriters(b *testing.B, cfs *countFS, writers int, op func(w, i int) error) {
	var next atomic.Int64
	var wg sync.WaitGroup
	s0 := cfs.syncs.Load() + cfs.dirSyncs.Load()
	b.ResetTimer()
	start := time.Now()
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(b.N) {
					return
				}
				if err := op(w, int(i)); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	el := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/el.Seconds(), "ops/s")
	b.ReportMetric(float64(cfs.syncs.Load()+cfs.dirSyncs.Load()-s0)/float64(b.N), "fsyncs/op")
}

// BenchmarkAppend: APPEND with fsync=always on the real disk (TMPDIR, or
// STORAGE_BENCH_DIR), one mailbox, 1, 16 and 256 concurrent writers.
func BenchmarkAppend(b *testing.B) {
	msg := []byte("From: a@example.com\r\nTo: b@example.com\r\nSubject: bench\r\n\r\n" + string(make([]byte, 2000)) + "\r\n")
	// sync=serial fsyncs m/, then the log, in a group commit that added
	// files; sync=pair fsyncs both at once (what OSFS gets by default).
	for _, writers := range []int{1, 16, 256} {
		for _, pair := range []bool{false, true} {
			mode := map[bool]string{false: "serial", true: "pair"}[pair]
			b.Run(fmt.Sprintf("writers=%d/sync=%s", writers, mode), func(b *testing.B) {
				benchAppend(b, writers, pair, msg)
			})
		}
	}
}

func benchAppend(b *testing.B, writers int, pair bool, msg []byte) {
	o, _ := NewOSFS(benchDir(b))
	cfs := &countFS{FS: o}
	s := newTestStore(b, cfs, func(c *Config) {
		c.LogRotateBytes = 64 << 20
		c.SyncFS = os.Getenv("STORAGE_BENCH_SYNCFS") != ""
	})
	s.syncPair = pair // countFS hides the *OSFS
	a := login(b, s, "alice")
	mbox, _ := a.Open("INBOX") // held open, as by a session
	defer a.Release(mbox)
	runWriters(b, cfs, writers, func(w, i int) error {
		_, err := a.Append("INBOX", []string{`\Seen`}, int64(i), msg)
		return err
	})
}

// BenchmarkStore: STORE +FLAGS/-FLAGS \Seen with fsync=always on the real
// disk, one mailbox of 1,000 messages, 1, 16 and 256 concurrent writers.
func BenchmarkStore(b *testing.B) {
	for _, writers := range []int{1, 16, 256} {
		b.Run(fmt.Sprintf("writers=%d", writers), func(b *testing.B) {
			o, _ := NewOSFS(benchDir(b))
			cfs := &countFS{FS: o}
			s := newTestStore(b, cfs, func(c *Config) { c.LogRotateBytes = 64 << 20 })
			a := login(b, s, "alice")
			mbox, _ := a.Open("INBOX")
			defer a.Release(mbox)
			s.cfg.Fsync = FsyncNever
			for i := range 1000 {
				a.Append("INBOX", nil, int64(i), []byte("x\r\n"))
			}
			s.cfg.Fsync = FsyncAlways
			runWriters(b, cfs, writers, func(w, i int) error {
				op := statemachine.FlagsAdd
				if (i/writers)%2 == 1 {
					op = statemachine.FlagsRemove
				}
				_, err := mbox.Store.Store([]statemachine.UID{statemachine.UID(w%1000 + 1)}, op, []string{`\Seen`}, 0)
				return err
			})
		})
	}
}

// makeBigMailbox writes a mailbox of n messages directly in the on-disk
// format (index and message files), the way a long-lived mailbox looks after
// its last checkpoint, plus a log of 1,000 flag changes to replay.
func makeBigMailbox(tb testing.TB, fsys FS, n int) {
	dir := "u/alice/mb0"
	if err := fsys.MkdirAll(dir + "/m"); err != nil {
		tb.Fatal(err)
	}
	msgs := make([]statemachine.Message, n)
	body := []byte("Subject: x\r\n\r\nhello\r\n")
	hdr := encodeMsgHeader(msgHeader{date: 1, size: uint32(len(body)), bodyCRC: crc(body)})
	file := append(hdr, body...)
	for i := range msgs {
		msgs[i] = statemachine.Message{UID: statemachine.UID(i + 1), ModSeq: uint64(i + 1), Size: uint32(len(body)), Date: 1, Flags: statemachine.Flags(i % 2)}
		f, err := fsys.Create(fmt.Sprintf("%s/m/%d", dir, i+1))
		if err != nil {
			tb.Fatal(err)
		}
		f.Write(file)
		f.Close()
	}
	snap := statemachine.NewSnapshot(1_700_000_000, statemachine.UID(n+1), uint64(n), nil, msgs)
	if err := writeFileAtomic(fsys, dir, "index", "", encodeIndex(snap)); err != nil {
		tb.Fatal(err)
	}
	var log []byte
	for i := range 1000 {
		log = appendLogRecord(log, recFlags, uint64(n+1+i), encodeFlagsBody([]statemachine.Message{{UID: statemachine.UID(i*7%n + 1), Flags: statemachine.FlagFlagged}}))
	}
	f, _ := fsys.Create(dir + "/log")
	f.Write(log)
	f.Sync()
	f.Close()
}

// BenchmarkOpen100k: open a mailbox of 100,000 messages on the real disk:
// "clean" after a clean close (verify the index, replay the log), and
// "after-crash" without the clean marker (also list and reconcile m/).
// Reports the heap the open mailbox holds.
func BenchmarkOpen100k(b *testing.B) {
	const n = 100_000
	o, _ := NewOSFS(benchDir(b))
	s := newTestStore(b, o, nil)
	login(b, s, "alice")
	makeBigMailbox(b, o, n)
	for _, crashed := range []bool{false, true} {
		name := "clean"
		if crashed {
			name = "after-crash"
		}
		b.Run(name, func(b *testing.B) {
			var heap uint64
			for b.Loop() {
				b.StopTimer()
				s := newTestStore(b, o, func(c *Config) { c.IdleMailboxes = -1 })
				a := login(b, s, "alice")
				if crashed {
					o.Remove("u/alice/mb0/clean")
				}
				runtime.GC()
				var m0, m1 runtime.MemStats
				runtime.ReadMemStats(&m0)
				b.StartTimer()
				mbox, err := a.Open("INBOX")
				if err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				if mbox.Current().Len() != n {
					b.Fatalf("%d messages", mbox.Current().Len())
				}
				runtime.GC()
				runtime.ReadMemStats(&m1)
				heap = m1.HeapAlloc - m0.HeapAlloc
				a.Release(mbox) // a clean close: writes the marker
				b.StartTimer()
			}
			b.ReportMetric(float64(heap)/(1<<20), "MiB-heap")
		})
	}
}

// BenchmarkRawFileFsync is the device's ceiling for per-file durability,
// measured beside BenchmarkAppend in the same run: each operation creates a
// file, writes 2 KB, fsyncs and closes it (no rename, no log), from 1, 16
// and 256 goroutines. APPEND with per-file fsync cannot scale with writers
// further than this does.
func BenchmarkRawFileFsync(b *testing.B) {
	body := make([]byte, 2060)
	for _, writers := range []int{1, 16, 256} {
		b.Run(fmt.Sprintf("writers=%d", writers), func(b *testing.B) {
			dir := benchDir(b)
			var next atomic.Int64
			var wg sync.WaitGroup
			b.ResetTimer()
			start := time.Now()
			for range writers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						i := next.Add(1) - 1
						if i >= int64(b.N) {
							return
						}
						f, err := os.Create(fmt.Sprintf("%s/f%d", dir, i))
						if err == nil {
							_, err = f.Write(body)
						}
						if err == nil {
							err = f.Sync()
						}
						if err == nil {
							err = f.Close()
						}
						if err != nil {
							b.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "ops/s")
		})
	}
}
