package server

import (
	"testing"
	"unsafe"
)

// TestSessionSize keeps the wrapper imapd puts around each session small
// (DESIGN.md: an idle session, everything included, within 1 KiB).
func TestSessionSize(t *testing.T) {
	n := unsafe.Sizeof(session{})
	t.Logf("session wrapper: %d bytes", n)
	if n > 96 {
		t.Fatalf("session wrapper is %d bytes, budget 96", n)
	}
}
