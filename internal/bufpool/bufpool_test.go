package bufpool

import "testing"

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
