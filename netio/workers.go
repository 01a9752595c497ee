package netio

import (
	"sync"

	"github.com/myriad-mail/myriad/statemachine"
)

// job is one Receive step on the worker pool. in and out are borrowed from
// the connection's loop and go back to it with the completion.
type job struct {
	c   *conn
	tls *tlsConn // set: encrypt the output on the worker
	now int64
	in  []byte
	out []byte
	eff statemachine.Effect
	// After a TLS step: out holds ciphertext, in the plaintext buffer.
	encrypted bool
	encErr    bool
}

// workers is a fixed pool of goroutines running Receive steps. Its queue
// holds at most one job per connection, so it is bounded by the number of
// connections.
type workers struct {
	mu     sync.Mutex
	cond   sync.Cond
	q      []job
	head   int
	closed bool
	wg     sync.WaitGroup
}

func (w *workers) start(n int) {
	w.cond.L = &w.mu
	w.wg.Add(n)
	for i := 0; i < n; i++ {
		go w.run()
	}
}

func (w *workers) submit(j job) {
	w.mu.Lock()
	w.q = append(w.q, j)
	w.mu.Unlock()
	w.cond.Signal()
}

func (w *workers) run() {
	defer w.wg.Done()
	for {
		w.mu.Lock()
		for w.head == len(w.q) && !w.closed {
			w.cond.Wait()
		}
		if w.head == len(w.q) {
			w.mu.Unlock()
			return
		}
		j := w.q[w.head]
		w.q[w.head] = job{}
		w.head++
		if w.head == len(w.q) {
			w.head = 0
			w.q = w.q[:0]
		} else if w.head >= 64 && w.head >= len(w.q)/2 {
			n := copy(w.q, w.q[w.head:])
			clear(w.q[n:])
			w.q = w.q[:n]
			w.head = 0
		}
		w.mu.Unlock()
		j.out, j.eff = j.c.sess.Receive(j.now, j.in, j.out)
		if j.tls != nil && len(j.out) > 0 {
			j.encrypt()
		}
		j.c.l.complete(j)
	}
}

// stop lets the workers finish the queue and waits for them.
func (w *workers) stop() {
	w.mu.Lock()
	w.closed = true
	w.mu.Unlock()
	w.cond.Broadcast()
	w.wg.Wait()
}

// encrypt turns the step's output into TLS records on the worker, into the
// input buffer (Receive consumed it), so bulk crypto stays off the loop.
// The loop does not touch a busy connection's tls.Conn, so record order and
// sequence numbers are those of the steps.
func (j *job) encrypt() {
	t := j.tls
	t.mu.Lock()
	t.out, t.encOn = j.in[:0], true
	t.mu.Unlock()
	_, err := t.tc.Write(j.out)
	t.mu.Lock()
	enc := t.out
	t.out, t.encOn = nil, false
	t.mu.Unlock()
	j.in, j.out = j.out, enc
	j.encrypted, j.encErr = true, err != nil
}
