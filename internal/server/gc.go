package server

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
	"sync/atomic"
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
// So the tuner gives the heap a growth of about headroom bytes between
// cycles, and gc_percent of the live heap when that is more: after each
// cycle it sets GOGC to max(gc_percent, 100 * headroom / (live + roots)),
// roots being the stacks and globals that the pacer adds to the live heap.
// A small heap is collected less often; a large one exactly as with
// gc_percent. Go offers no such floor itself (GOMEMLIMIT is a ceiling).

// minHeap is the Go runtime's heap minimum at GOGC 100: the goal is never
// below minHeap * GOGC / 100 (runtime/mgcpacer.go), so a GOGC raised for
// a tiny heap would raise that floor far above live + headroom.
const minHeap = 4 << 20

// gcSentinel is the object whose finalizer runs once per collection cycle:
// large enough not to share a tiny-allocator block with other objects
// (which would keep it alive).
type gcSentinel struct{ _ [32]byte }

type gcTuner struct {
	percent  int    // the least GOGC
	headroom uint64 // the growth wanted between cycles, in bytes
	prev     int    // GOGC before the tuner started
	stopped  atomic.Bool
	samples  []metrics.Sample // under tunerMu
}

// startGCTuner starts tuning GOGC; stop ends it and puts back the GOGC of
// before. One tuner at a time: a server started while another runs in the
// same process (tests) takes over.
func startGCTuner(percent int, headroom uint64) (stop func()) {
	t := &gcTuner{percent: percent, headroom: headroom, samples: []metrics.Sample{
		{Name: "/gc/heap/live:bytes"}, {Name: "/gc/scan/stack:bytes"}, {Name: "/gc/scan/globals:bytes"},
	}}
	tunerMu.Lock()
	if tuner != nil {
		tuner.stopped.Store(true)
		t.prev = tuner.prev
	} else {
		t.prev = debug.SetGCPercent(percent)
	}
	tuner = t
	tunerMu.Unlock()
	t.adjust()
	t.arm()
	return func() {
		tunerMu.Lock()
		defer tunerMu.Unlock()
		if tuner == t {
			t.stopped.Store(true)
			debug.SetGCPercent(t.prev)
			tuner = nil
		}
	}
}

var (
	tunerMu sync.Mutex
	tuner   *gcTuner
)

// arm sets the finalizer of a new sentinel: it runs after the next cycle
// finds the sentinel unreachable, adjusts GOGC and arms a new one, until
// the tuner is stopped.
func (t *gcTuner) arm() {
	runtime.SetFinalizer(new(gcSentinel), func(*gcSentinel) {
		if t.stopped.Load() {
			return
		}
		t.adjust()
		t.arm()
	})
}

// gcPercentFor is the GOGC that gives a heap of live bytes, with roots
// bytes of stacks and globals, about headroom bytes of growth, and at
// least percent; never so high that the runtime's heap minimum alone would
// allow more than live + headroom.
func gcPercentFor(percent int, headroom, live, roots uint64) int {
	if live == 0 || headroom == 0 {
		return percent
	}
	// headroom is at most 1 TiB (config.Check): no overflow.
	p := min(headroom*100/(live+roots), (live+headroom)*100/minHeap, 10000)
	if p <= uint64(percent) {
		return percent
	}
	return int(p)
}

// adjust sets GOGC from the last cycle's figures; under tunerMu, so that
// a stop in between cannot be undone.
func (t *gcTuner) adjust() {
	tunerMu.Lock()
	defer tunerMu.Unlock()
	if t.stopped.Load() {
		return
	}
	metrics.Read(t.samples)
	var v [3]uint64
	for i, s := range t.samples {
		if s.Value.Kind() == metrics.KindUint64 {
			v[i] = s.Value.Uint64()
		}
	}
	// Set every time (a lock and a pacer update, once per cycle), so
	// that a change made by anything else does not last.
	debug.SetGCPercent(gcPercentFor(t.percent, t.headroom, v[0], v[1]+v[2]))
}
