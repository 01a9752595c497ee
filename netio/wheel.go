package netio

// wheel is a hashed timer wheel with one-second slots. Each connection is in
// at most one slot, linked through its own fields (no allocation). Moving a
// deadline later is a store (conn.deadline); the connection is re-slotted
// lazily when its old slot comes due. A deadline further out than the wheel
// spans simply comes around again and is re-slotted.
type wheel struct {
	slots [wheelSlots]*conn
	cur   int64 // the last second processed
	n     int   // connections in the wheel
}

const wheelSlots = 1 << 12 // about 68 minutes of one-second slots

func (w *wheel) insert(c *conn, at int64) {
	if at <= w.cur {
		at = w.cur + 1
	}
	c.slotAt = at
	s := &w.slots[at&(wheelSlots-1)]
	c.tprev = nil
	c.tnext = *s
	if *s != nil {
		(*s).tprev = c
	}
	*s = c
	c.f |= fInWheel
	w.n++
}

func (w *wheel) remove(c *conn) {
	if c.f&fInWheel == 0 {
		return
	}
	if c.tprev != nil {
		c.tprev.tnext = c.tnext
	} else {
		w.slots[c.slotAt&(wheelSlots-1)] = c.tnext
	}
	if c.tnext != nil {
		c.tnext.tprev = c.tprev
	}
	c.tnext, c.tprev = nil, nil
	c.f &^= fInWheel
	w.n--
}

// set makes c due at deadline (0: never).
func (w *wheel) set(c *conn, deadline int64) {
	c.deadline = deadline
	if deadline == 0 {
		w.remove(c)
		return
	}
	if c.f&fInWheel != 0 {
		if deadline >= c.slotAt {
			return // re-slotted lazily when slotAt comes
		}
		w.remove(c)
	}
	w.insert(c, deadline)
}

// advance processes every slot up to now and calls fire for each
// connection whose deadline passed (after removing it from the wheel).
func (w *wheel) advance(now int64, fire func(*conn)) {
	if w.cur == 0 || now-w.cur > wheelSlots {
		if w.cur != 0 {
			// The loop stalled for longer than the wheel spans: visit
			// every slot once.
			w.cur = now - wheelSlots
		} else {
			w.cur = now
			return
		}
	}
	for w.cur < now {
		w.cur++
		s := &w.slots[w.cur&(wheelSlots-1)]
		c := *s
		*s = nil
		for c != nil {
			next := c.tnext
			c.tnext, c.tprev = nil, nil
			c.f &^= fInWheel
			w.n--
			if c.deadline > w.cur && c.deadline != 0 {
				w.insert(c, c.deadline)
			} else if c.deadline != 0 {
				fire(c)
			}
			c = next
		}
	}
}
