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
		percent               int
		headroom, live, roots uint64
		want                  int
	}{
		{100, 32 * mib, 8 * mib, 0, 400},       // a small heap: the headroom decides
		{100, 32 * mib, 7 * mib, 1 * mib, 400}, // stacks and globals count with the heap
		{100, 32 * mib, 64 * mib, 0, 100},      // a large one: gc_percent
		{200, 32 * mib, 32 * mib, 0, 200},      // equal: gc_percent
		{100, 32 * mib, 0, 0, 100},             // nothing measured yet
		{100, 16 * mib, 2 * mib, 0, 450},       // the runtime's 4 MiB minimum, raised with GOGC, stays at live + headroom
		{100, 1 << 40, 1024, 0, 10000},         // capped
		{100, 0, 8 * mib, 0, 100},              // no headroom
	} {
		if got := gcPercentFor(c.percent, c.headroom, c.live, c.roots); got != c.want {
			t.Errorf("gcPercentFor(%d, %d, %d, %d) = %d, want %d", c.percent, c.headroom, c.live, c.roots, got, c.want)
		}
	}
}

func gogc() int { p := debug.SetGCPercent(100); debug.SetGCPercent(p); return p }

// The tuner sets GOGC again after every cycle, and stopping it puts back
// the GOGC of before.
func TestGCTuner(t *testing.T) {
	debug.SetGCPercent(150)
	defer debug.SetGCPercent(100)
	// A headroom far above this test binary's live heap: GOGC goes as
	// high as the runtime's heap minimum allows.
	stop := startGCTuner(100, 1<<40)
	// Whatever the start set, the next cycles must set it again.
	debug.SetGCPercent(100)
	deadline := time.Now().Add(5 * time.Second)
	for gogc() <= 100 {
		if time.Now().After(deadline) {
			t.Fatalf("GOGC is %d after the cycles, want it raised", gogc())
		}
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
	stop()
	if p := gogc(); p != 150 {
		t.Fatalf("GOGC after stop = %d, want 150", p)
	}
	runtime.GC()
	time.Sleep(50 * time.Millisecond)
	if p := gogc(); p != 150 {
		t.Fatalf("GOGC a cycle after stop = %d, want 150", p)
	}
}
