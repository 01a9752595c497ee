package netio

import (
	"testing"
)

func TestWheel(t *testing.T) {
	var w wheel
	w.cur = 1000
	cs := make([]*conn, 6)
	for i := range cs {
		cs[i] = &conn{}
	}
	w.set(cs[0], 1001)
	w.set(cs[1], 1005)
	w.set(cs[2], 1005+wheelSlots) // same slot as cs[1], one round later
	w.set(cs[3], 1003)
	w.set(cs[3], 1010) // later: stays slotted at 1003, re-slotted lazily
	w.set(cs[4], 1008)
	w.set(cs[4], 1002) // earlier: moves
	w.set(cs[5], 1004)
	w.set(cs[5], 0) // disarmed
	if w.n != 5 {
		t.Fatalf("n = %d, want 5", w.n)
	}
	var fired []int
	idx := map[*conn]int{}
	for i, c := range cs {
		idx[c] = i
	}
	fire := func(c *conn) { fired = append(fired, idx[c]) }
	expect := func(now int64, want ...int) {
		t.Helper()
		fired = nil
		w.advance(now, fire)
		if len(fired) != len(want) {
			t.Fatalf("at %d fired %v, want %v", now, fired, want)
		}
		for i := range want {
			if fired[i] != want[i] {
				t.Fatalf("at %d fired %v, want %v", now, fired, want)
			}
		}
	}
	expect(1001, 0)
	expect(1002, 4)
	expect(1004)
	expect(1005, 1)
	expect(1009)
	expect(1010, 3)
	if w.n != 1 {
		t.Fatalf("n = %d, want 1", w.n)
	}
	expect(1005 + wheelSlots - 1)
	expect(1005+wheelSlots, 2)
	if w.n != 0 {
		t.Fatalf("n = %d, want 0", w.n)
	}
	// A stalled loop (clock jumps past the whole wheel) still fires all.
	w.set(cs[0], w.cur+10)
	w.set(cs[1], w.cur+3000)
	expect(w.cur+3*wheelSlots, 0, 1)
}

func TestFDTable(t *testing.T) {
	tb := newFDTable(10000)
	if !tb.fits(9999) || tb.fits(12288) || tb.fits(-1) {
		t.Fatal("fits")
	}
	a, b := &conn{}, &conn{}
	tb.set(3, a)
	tb.set(9000, b)
	if tb.get(3) != a || tb.get(9000) != b || tb.get(4) != nil || tb.get(5000) != nil || tb.get(1<<20) != nil {
		t.Fatal("get")
	}
	tb.set(5000, nil) // no chunk made for a nil
	if tb.chunks[1].Load() != nil {
		t.Fatal("chunk allocated for a nil store")
	}
	n := 0
	tb.each(func(*conn) { n++ })
	tb.set(3, nil)
	if n != 2 || tb.get(3) != nil {
		t.Fatalf("each saw %d", n)
	}
}
