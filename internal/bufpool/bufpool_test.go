package bufpool

import (
	"runtime"
	"slices"
	"testing"
)

func TestPool(t *testing.T) {
	var p Pool[byte]
	p.Keep = 1 << 10
	b := p.Get(10, 100)
	if len(b) != 10 || cap(b) < 100 {
		t.Fatalf("Get(10, 100): len %d cap %d", len(b), cap(b))
	}
	if b := p.Get(2000, 0); len(b) != 2000 {
		t.Fatalf("Get(2000, 0): len %d", len(b))
	}
	p.Put(make([]byte, 5, 1<<20)) // over Keep: dropped
	p.Put(b)
	// Whatever the pool kept (sync.Pool may drop it), Get honours the
	// length asked for and never returns the slice over Keep.
	for _, n := range []int{0, 50, 500} {
		if g := p.Get(n, 0); len(g) != n || cap(g) == 1<<20 {
			t.Fatalf("Get(%d): len %d cap %d", n, len(g), cap(g))
		}
	}
}

// TestPoolHold: held slices survive garbage collections (a sync.Pool
// would drop them), the largest are kept whatever the order they come
// back in, and none over HoldMax.
func TestPoolHold(t *testing.T) {
	for _, order := range [][]int{{100, 200, 300}, {200, 100, 300}, {300, 200, 100}} {
		p := Pool[uint64]{Hold: 2, HoldMax: 1 << 12}
		for _, c := range order {
			p.Put(make([]uint64, 0, c))
		}
		p.Put(make([]uint64, 0, 1<<13)) // over HoldMax: to the sync.Pool
		runtime.GC()
		runtime.GC()
		runtime.GC()
		got := []int{}
		for range 2 {
			s := p.Get(150, 0)
			if len(s) != 150 {
				t.Fatalf("len %d", len(s))
			}
			got = append(got, cap(s))
		}
		slices.Sort(got)
		if !slices.Equal(got, []int{200, 300}) {
			t.Fatalf("put %v: held capacities %v, want [200 300]", order, got)
		}
		// Nothing held is large enough: a new slice with the room asked.
		if s := p.Get(400, 500); len(s) != 400 || cap(s) != 500 {
			t.Fatalf("Get(400, 500): len %d cap %d", len(s), cap(s))
		}
	}
}
