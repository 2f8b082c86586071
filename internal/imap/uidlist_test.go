package imap

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// TestUIDListMatchesSlice checks uidList against a plain sorted slice
// through random appends and removals.
func TestUIDListMatchesSlice(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for round := range 200 {
		var ref []uint32
		next := uint32(1 + rng.IntN(5))
		l := newUIDList(nil)
		for step := range 60 {
			switch rng.IntN(3) {
			case 0, 1: // append a few, sometimes with gaps
				for range rng.IntN(20) {
					next += uint32(1 + rng.IntN(3)/2*rng.IntN(4))
					ref = append(ref, next)
					l.push(next)
				}
			case 2: // remove some present and some absent UIDs
				var gone []uint32
				for _, u := range ref {
					if rng.IntN(4) == 0 {
						gone = append(gone, u)
					}
				}
				gone = append(gone, next+5, 0)
				slices.Sort(gone)
				gone = slices.Compact(gone)
				l.Remove(gone)
				ref = slices.DeleteFunc(ref, func(u uint32) bool { _, in := slices.BinarySearch(gone, u); return in })
			}
			if l.Len() != len(ref) {
				t.Fatalf("round %d step %d: Len %d, want %d", round, step, l.Len(), len(ref))
			}
			for i, u := range ref {
				if got := l.At(i); got != u {
					t.Fatalf("round %d step %d: At(%d) = %d, want %d", round, step, i, got, u)
				}
				if i2, ok := l.Index(u); !ok || i2 != i {
					t.Fatalf("Index(%d) = %d %v, want %d", u, i2, ok, i)
				}
				if i2, ok := l.Index(u + 1); ok != slices.Contains(ref, u+1) || (!ok && i2 != i+1) {
					t.Fatalf("Index(%d) = %d %v", u+1, i2, ok)
				}
			}
			if len(ref) > 0 && l.Last() != ref[len(ref)-1] {
				t.Fatalf("Last %d, want %d", l.Last(), ref[len(ref)-1])
			}
			from := 0
			if len(ref) > 0 {
				from = rng.IntN(len(ref))
			}
			var all []uint32
			l.All(from, func(i int, u uint32) bool {
				if i != from+len(all) {
					t.Fatalf("All gave position %d, want %d", i, from+len(all))
				}
				all = append(all, u)
				return true
			})
			if want := ref[min(from, len(ref)):]; !slices.Equal(all, want) {
				t.Fatalf("All(%d) = %v, want %v", from, all, want)
			}
		}
	}
}

// TestUIDListIsSmall: a 12,000-message folder with 300 expunged holes
// takes a few kilobytes.
func TestUIDListIsSmall(t *testing.T) {
	var uids []uint32
	for u := uint32(1); u <= 12300; u++ {
		if u%41 != 0 {
			uids = append(uids, u)
		}
	}
	l := newUIDList(uids)
	if bytes := cap(l.runs)*8 + cap(l.starts)*8; bytes > 8<<10 {
		t.Fatalf("%d runs take %d bytes", len(l.runs), bytes)
	}
}
