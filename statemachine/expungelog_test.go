package statemachine

import (
	"testing"
	"unsafe"
)

// TestExpungeLogBounded: the expunged UIDs a mailbox keeps for QRESYNC take
// bounded memory however many messages are expunged. A mass expunge of
// consecutive UIDs is one run; a million expunges that merge into no run
// leave at most expungeLogMaxRuns runs (16 bytes each), a floor below which
// ExpungedSince answers "incomplete" (the session then sends the superset
// RFC 7162 §3.2.5.2 allows), and exact answers above it.
func TestExpungeLogBounded(t *testing.T) {
	m := NewMailbox("INBOX", nil, NewSnapshot(1, 1, 1, nil, nil))
	m.RecordExpunged(nil, 0, 0) // a mailbox that never forgot an expunge
	const million = 1_000_000
	uids := make([]UID, million)
	for i := range uids {
		uids[i] = UID(i + 1)
	}
	m.RecordExpunged(uids, 2, 0)
	if n := len(m.expunged.runs); n != 1 {
		t.Fatalf("a mass expunge of %d consecutive UIDs takes %d runs, want 1", million, n)
	}
	if got, complete := m.ExpungedSince(1); len(got) != million || !complete || got[0] != 1 || got[million-1] != million {
		t.Fatalf("ExpungedSince(1): %d UIDs, complete=%v", len(got), complete)
	}

	// Worst case: every other UID, each expunge with its own modseq.
	first := UID(2*million + 1)
	for i := range million {
		m.RecordExpunged([]UID{first + UID(2*i)}, uint64(3+i), 0)
	}
	l := &m.expunged
	size := uintptr(cap(l.runs)) * unsafe.Sizeof(expungeRun{})
	if len(l.runs) > expungeLogMaxRuns || size > 2<<20 {
		t.Fatalf("after %d separate expunges: %d runs, %d bytes (cap %d), want at most %d runs and 2 MiB",
			million, len(l.runs), size, cap(l.runs), expungeLogMaxRuns)
	}
	t.Logf("%d separate expunges: %d runs, %d KiB, floor %d", million, len(l.runs), size>>10, l.floor)
	if l.floor < 2 {
		t.Fatalf("floor %d: the log forgot runs without saying so", l.floor)
	}
	if _, complete := m.ExpungedSince(2); complete {
		t.Fatal("ExpungedSince(2) claims to be complete after the log dropped those runs")
	}
	last := uint64(3 + million - 1)
	got, complete := m.ExpungedSince(last - 10)
	if !complete || len(got) != 10 {
		t.Fatalf("ExpungedSince(%d): %d UIDs, complete=%v; want the last 10", last-10, len(got), complete)
	}
	for i, u := range got {
		if want := first + UID(2*(million-10+i)); u != want {
			t.Fatalf("ExpungedSince(%d)[%d] = %d, want %d", last-10, i, u, want)
		}
	}
}
