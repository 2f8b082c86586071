package server

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
)

// The Go collector starts a cycle once the heap has grown by GOGC percent
// of what the last cycle found live. Petrel's live heap under a delivery
// load is a few megabytes (SQLite's page caches are outside the Go heap),
// so at Go's default of 100 the collector ran more than ten times a second
// under the LMTP benchmark; at 200 the server took 9 % less CPU per
// message (docs/design.md, "Where the rest of the CPU went"). A higher
// GOGC for every heap, though, also multiplies the headroom of a large
// one, such as a thousand idle IMAP connections'.
//
// So the tuner gives the heap a growth of at least headroom bytes between
// cycles, and gc_percent of the live heap when that is more: after each
// cycle it sets GOGC to max(gc_percent, 100 * headroom / live). A small
// heap is collected less often; a large one exactly as with gc_percent.
// Go offers no such floor itself (GOMEMLIMIT is a ceiling).

// gcSentinel is the object whose finalizer runs once per collection cycle:
// large enough not to share a tiny-allocator block with other objects
// (which would keep it alive).
type gcSentinel struct{ _ [32]byte }

type gcTuner struct {
	percent  int    // the least GOGC
	headroom uint64 // the least growth between cycles, in bytes
	live     []metrics.Sample
}

var gcTunerOnce sync.Once

// startGCTuner starts the tuner once per process (the first server's
// settings win, which matters only to tests that start several).
func startGCTuner(percent int, headroom uint64) {
	gcTunerOnce.Do(func() {
		t := &gcTuner{percent: percent, headroom: headroom,
			live: []metrics.Sample{{Name: "/gc/heap/live:bytes"}}}
		t.adjust()
		t.arm()
	})
}

// arm sets the finalizer of a new sentinel: it runs after the next cycle
// finds the sentinel unreachable, adjusts GOGC and arms a new one.
func (t *gcTuner) arm() {
	runtime.SetFinalizer(new(gcSentinel), func(*gcSentinel) {
		t.adjust()
		t.arm()
	})
}

// gcPercentFor is the GOGC that gives a heap of live bytes at least
// headroom bytes of growth, and at least percent.
func gcPercentFor(percent int, headroom, live uint64) int {
	if live == 0 {
		return percent
	}
	p := headroom * 100 / live
	if p <= uint64(percent) {
		return percent
	}
	return int(min(p, 10000))
}

func (t *gcTuner) adjust() {
	metrics.Read(t.live)
	var live uint64
	if t.live[0].Value.Kind() == metrics.KindUint64 {
		live = t.live[0].Value.Uint64()
	}
	// Set every time (a lock and a pacer update, once per cycle), so
	// that a change made by anything else does not last.
	debug.SetGCPercent(gcPercentFor(t.percent, t.headroom, live))
}
