package delivery

import (
	"errors"
	"log/slog"
	"testing"
	"time"
)

// checkReserve reuses a reading of the free space for freeFresh and counts
// the messages it accepts against it, so that a burst of deliveries
// between two readings cannot take the disk below the reserve.
func TestReserveCountsAcceptedMessages(t *testing.T) {
	reads := 0
	p := &Pipeline{cfg: Config{DiskReserve: 1000}, log: slog.New(slog.DiscardHandler),
		freeBytes: func(string) (int64, error) { reads++; return 5000, nil }}
	steps := []struct {
		size int64
		ok   bool
	}{{0, true}, {3000, true}, {1500, false}, {500, true}, {600, false}, {0, true}}
	for i, s := range steps {
		err := p.checkReserve(s.size)
		if s.ok != (err == nil) || (err != nil && !errors.Is(err, ErrDiskReserve)) {
			t.Fatalf("step %d (%d bytes): %v, want ok=%v", i, s.size, err, s.ok)
		}
	}
	if reads != 1 {
		t.Fatalf("free space read %d times within %v", reads, freeFresh)
	}
	// A new reading starts the count again.
	time.Sleep(freeFresh + 10*time.Millisecond)
	if err := p.checkReserve(3500); err != nil || reads != 2 {
		t.Fatalf("after a new reading: %v (%d reads)", err, reads)
	}
}
