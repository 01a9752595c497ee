package netio

// Buffers: each loop keeps free lists of byte slices in a few size classes.
// Everything that borrows a buffer (pending output, a step's input and
// output, a TLS record in assembly) returns it on the loop, so the lists need
// no locking. A buffer whose capacity is not exactly a class (a session grew
// it with append) goes to the garbage collector instead.

var bufClasses = [...]int{4 << 10, 64 << 10, 1 << 20}

// bufKeep is how many free buffers of each class a loop keeps.
var bufKeep = [...]int{1024, 64, 4}

type bufPool struct {
	free [len(bufClasses)][][]byte
}

// get returns an empty slice with capacity at least n.
func (p *bufPool) get(n int) []byte {
	for i, c := range bufClasses {
		if n <= c {
			if k := len(p.free[i]); k > 0 {
				b := p.free[i][k-1]
				p.free[i][k-1] = nil
				p.free[i] = p.free[i][:k-1]
				return b[:0]
			}
			return make([]byte, 0, c)
		}
	}
	return make([]byte, 0, n)
}

// put gives b back; b must not be used afterwards.
func (p *bufPool) put(b []byte) {
	for i, c := range bufClasses {
		if cap(b) == c {
			if len(p.free[i]) < bufKeep[i] {
				p.free[i] = append(p.free[i], b[:0])
			}
			return
		}
	}
}
