package server

import (
	"runtime"
	"runtime/debug"
	"testing"
	"time"
)

func TestGCPercentFor(t *testing.T) {
	const mib = 1 << 20
	for _, c := range []struct {
		percent        int
		headroom, live uint64
		want           int
	}{
		{100, 32 * mib, 8 * mib, 400},  // a small heap: the headroom decides
		{100, 32 * mib, 64 * mib, 100}, // a large one: gc_percent
		{200, 32 * mib, 32 * mib, 200}, // equal: gc_percent
		{100, 32 * mib, 0, 100},        // nothing measured yet
		{100, 32 * mib, 1024, 10000},   // capped
		{100, 0, 8 * mib, 100},         // no headroom
	} {
		if got := gcPercentFor(c.percent, c.headroom, c.live); got != c.want {
			t.Errorf("gcPercentFor(%d, %d, %d) = %d, want %d", c.percent, c.headroom, c.live, got, c.want)
		}
	}
}

// The tuner sets GOGC after the cycles that follow its start.
func TestGCTunerAdjusts(t *testing.T) {
	gogc := func() int { p := debug.SetGCPercent(100); debug.SetGCPercent(p); return p }
	old := gogc()
	defer debug.SetGCPercent(old)
	debug.SetGCPercent(100)
	// A headroom far above this test binary's live heap: GOGC goes to
	// the cap once a cycle has run and its finalizer with it.
	startGCTuner(100, 1<<40)
	// Whatever the start set, the next cycles must set it again.
	debug.SetGCPercent(100)
	deadline := time.Now().Add(5 * time.Second)
	for gogc() != 10000 {
		if time.Now().After(deadline) {
			t.Fatalf("GOGC is %d after the cycles, want 10000", gogc())
		}
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
}
