package netio

import "sync/atomic"

// fdTable maps a file descriptor to its conn. It is two-level so memory
// (and the garbage collector's scanning) grows with the highest fd in use,
// not with RLIMIT_NOFILE: a chunk of 4096 slots (32 KiB) is allocated the
// first time an fd in its range is used. A slot is written only by the loop
// that owns the fd; atomics make the hand-over of a reused fd between loops
// visible to the race detector too.
type fdTable struct {
	chunks []atomic.Pointer[fdChunk]
}

const fdChunkBits = 12

type fdChunk [1 << fdChunkBits]atomic.Pointer[conn]

func newFDTable(limit uint64) fdTable {
	return fdTable{chunks: make([]atomic.Pointer[fdChunk], (limit+1<<fdChunkBits-1)>>fdChunkBits)}
}

// fits reports whether fd can be stored.
func (t *fdTable) fits(fd int) bool { return fd >= 0 && fd>>fdChunkBits < len(t.chunks) }

func (t *fdTable) get(fd int) *conn {
	if !t.fits(fd) {
		return nil
	}
	ch := t.chunks[fd>>fdChunkBits].Load()
	if ch == nil {
		return nil
	}
	return ch[fd&(1<<fdChunkBits-1)].Load()
}

func (t *fdTable) set(fd int, c *conn) {
	p := &t.chunks[fd>>fdChunkBits]
	ch := p.Load()
	if ch == nil {
		if c == nil {
			return
		}
		ch = new(fdChunk)
		if !p.CompareAndSwap(nil, ch) {
			ch = p.Load()
		}
	}
	ch[fd&(1<<fdChunkBits-1)].Store(c)
}

// each calls f for every conn in the table.
func (t *fdTable) each(f func(*conn)) {
	for i := range t.chunks {
		ch := t.chunks[i].Load()
		if ch == nil {
			continue
		}
		for j := range ch {
			if c := ch[j].Load(); c != nil {
				f(c)
			}
		}
	}
}
