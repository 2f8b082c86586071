package fts

import (
	"context"
	"crypto/sha256"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

func TestListEncoding(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	cases := [][]int64{
		{1}, {-5}, {-5, 3, 1 << 40}, {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10},
		{100, 101, 103, 200}, {1<<62 - 1, 1 << 62},
	}
	for range 200 {
		var ids []int64
		base := r.Int64N(1 << 40)
		density := 1 + r.IntN(30)
		for i := range 1 + r.IntN(3000) {
			if r.IntN(density) == 0 {
				ids = append(ids, base+int64(i))
			}
		}
		if len(ids) > 0 {
			cases = append(cases, ids)
		}
	}
	kinds := map[uint64]int{}
	for n, ids := range cases {
		// The segment's base: the first ID, below it, or the smallest
		// int64 (differences wrap around).
		base := []int64{ids[0], ids[0] - r.Int64N(1000), math.MinInt64}[n%3]
		b := appendList([]byte{0xAA}, ids, base)
		it := newBlockIter(7, append([]byte{0}, b[1:]...))
		if !it.next() || it.term != 7 {
			t.Fatalf("%v: no list in %x (%v)", ids, b, it.err)
		}
		kinds[it.kind]++
		got, err := decodeList(nil, it.kind, it.payload, base, nil)
		if err != nil || !slices.Equal(got, ids) {
			t.Fatalf("%v: decoded %v, %v", ids, got, err)
		}
		if it.next() || it.err != nil {
			t.Fatalf("%v: more after the list: %v", ids, it.err)
		}
		// A filter drops what it refuses.
		odd, err := decodeList(nil, it.kind, it.payload, base, func(id int64) bool { return id%2 != 0 })
		if err != nil || !slices.Equal(odd, slices.DeleteFunc(slices.Clone(ids), func(id int64) bool { return id%2 == 0 })) {
			t.Fatalf("%v: filtered %v, %v", ids, odd, err)
		}
	}
	if kinds[kindDeltas] == 0 || kinds[kindBitmap] == 0 {
		t.Errorf("both encodings should have been used: %v", kinds)
	}
	// Truncated and garbage blocks are errors, never panics.
	b := appendList(binaryTerm(3), []int64{1, 5, 9, 1000}, 0)
	for n := range len(b) {
		it := newBlockIter(0, b[:n])
		for it.next() {
			decodeList(nil, it.kind, it.payload, 0, nil)
		}
	}
	for range 2000 {
		junk := make([]byte, r.IntN(40))
		for i := range junk {
			junk[i] = byte(r.Uint32())
		}
		it := newBlockIter(uint32(r.IntN(termMask)), junk)
		for it.next() {
			decodeList(nil, it.kind, it.payload, int64(r.Uint64()), nil)
		}
	}
}

func binaryTerm(d uint64) []byte { return []byte{byte(d)} }

// TestPostingsExact checks the posting lists through many small batches
// (so that segments are merged over several levels) of new bodies,
// replaced bodies, deletions, bodies put again after their deletion and
// batches applied twice: after every batch, a query returns exactly the
// indexed bodies whose keys include the needle's, never a body removed or
// the old text of a replaced one.
func TestPostingsExact(t *testing.T) {
	ctx := context.Background()
	r := rand.New(rand.NewPCG(3, 4))
	ix, path := openTest(t)
	words := []string{"apple", "banana", "cherry", "durian", "elder", "fig", "grape", "kiwi", "lemon", "mango", "olive", "peach"}
	randDocOf := func() Doc {
		var body string
		for range 1 + r.IntN(6) {
			body += words[r.IntN(len(words))] + " "
		}
		return Doc{Header: "subject: " + words[r.IntN(len(words))], Fields: words[r.IntN(len(words))], Body: []string{body}}
	}
	docs := map[int64]Doc{}
	next := int64(1)
	var deleted []int64
	check := func(step int) {
		t.Helper()
		for range 4 {
			needle := words[r.IntN(len(words))]
			if r.IntN(3) == 0 {
				needle = needle[len(needle)-3:]
			}
			keys := needleKeys(needle)
			var want []int64
			var g gramSet
			for id, d := range docs {
				have := docKeys(&d, &g)
				if !slices.ContainsFunc(keys, func(k uint32) bool { return !slices.Contains(have, k) }) {
					want = append(want, id)
				}
			}
			slices.Sort(want)
			got, ok, err := ix.Query(ctx, Cond{Op: Term, Col: ColAny, Needle: needle})
			if err != nil || !ok {
				t.Fatalf("step %d: Query(%q): %v %v", step, needle, ok, err)
			}
			if !slices.Equal(got, want) {
				t.Fatalf("step %d: Query(%q) = %v, want %v", step, needle, got, want)
			}
		}
	}
	for step := range 400 {
		var put []Entry
		var del []int64
		for range r.IntN(12) {
			var id int64
			switch x := r.IntN(10); {
			case x < 5 || len(docs) == 0:
				id = next
				next++
			case x < 8:
				// Replace an indexed body (a reused ID).
				for id = range docs {
					break
				}
			default:
				if len(deleted) == 0 {
					continue
				}
				id = deleted[r.IntN(len(deleted))]
			}
			d := randDocOf()
			put = append(put, Entry{BodyID: id, Hash: sha256.Sum256(fmt.Append(nil, d, step)), Doc: d})
		}
		for range r.IntN(4) {
			for id := range docs {
				if !slices.ContainsFunc(put, func(e Entry) bool { return e.BodyID == id }) {
					del = append(del, id)
				}
				break
			}
		}
		for range 1 + r.IntN(2) { // sometimes twice: Apply is idempotent
			if err := ix.Apply(ctx, put, del, "log", int64(step)); err != nil {
				t.Fatal(err)
			}
		}
		for _, id := range del {
			delete(docs, id)
			deleted = append(deleted, id)
		}
		for _, e := range put {
			docs[e.BodyID] = e.Doc
		}
		check(step)
	}
	var levels, segs, tombs int
	if err := ix.db.Read.QueryRow(`SELECT max(level), count(*) FROM segments`).Scan(&levels, &segs); err != nil {
		t.Fatal(err)
	}
	if err := ix.db.Read.QueryRow(`SELECT count(*) FROM tombstones`).Scan(&tombs); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d bodies, %d segments up to level %d, %d tombstones for %d removals", len(docs), segs, levels, tombs, len(deleted))
	if levels < 2 || segs > 3*(mergeFanIn-1) {
		t.Errorf("segments were not merged as they should: %d up to level %d", segs, levels)
	}
	if tombs >= len(deleted) {
		t.Errorf("no tombstone was pruned: %d for %d removals", tombs, len(deleted))
	}
	if n, err := ix.Count(ctx); err != nil || n != int64(len(docs)) {
		t.Errorf("Count = %d, %v; want %d", n, err, len(docs))
	}
	// A reindex puts every body again under its ID: the old postings are
	// all dead, and compact merges everything into one segment without
	// them.
	var again []Entry
	for id, d := range docs {
		again = append(again, Entry{BodyID: id, Hash: sha256.Sum256(fmt.Append(nil, d)), Doc: d})
	}
	if err := ix.Apply(ctx, again, nil, "log", 1000); err != nil {
		t.Fatal(err)
	}
	if err := ix.db.Read.QueryRow(`SELECT count(*), (SELECT count(*) FROM tombstones) FROM segments`).Scan(&segs, &tombs); err != nil {
		t.Fatal(err)
	}
	if segs != 1 || tombs != 0 {
		t.Errorf("after a reindex: %d segments, %d tombstones; want 1, 0", segs, tombs)
	}
	var free, autoVacuum int
	if err := ix.db.Read.QueryRow(`SELECT freelist_count, auto_vacuum FROM pragma_freelist_count, pragma_auto_vacuum`).Scan(&free, &autoVacuum); err != nil {
		t.Fatal(err)
	}
	if autoVacuum != 2 || free != 0 {
		t.Errorf("after a compaction: auto_vacuum %d, %d free pages; want 2, 0", autoVacuum, free)
	}
	check(-2)
	// The same answers after a reopen (no cached tombstones).
	ix = reopenTest(t, ix, path)
	check(-1)
}

// TestBuilderSort checks that the pairs of a builder come out sorted by
// key, the bodies of a key in the order they were added.
func TestBuilderSort(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	var b builder
	want := map[uint32][]int64{}
	for id := int64(-3); id < 400; id += 1 + r.Int64N(3) {
		var keys []uint32
		seen := map[uint32]bool{}
		for range r.IntN(50) {
			k := uint32(r.IntN(1 << 12))
			if r.IntN(4) == 0 {
				k = uint32(r.Int64N(termMask + 1)) // the whole key range
			}
			if !seen[k] {
				seen[k] = true
				keys = append(keys, k)
				want[k] = append(want[k], id)
			}
		}
		b.add(keys, id)
	}
	b.sortByKey()
	got := map[uint32][]int64{}
	for i, p := range b.pairs {
		if i > 0 && p>>32 < b.pairs[i-1]>>32 {
			t.Fatalf("pair %d: key %d after %d", i, p>>32, b.pairs[i-1]>>32)
		}
		got[uint32(p>>32)] = append(got[uint32(p>>32)], b.ids[uint32(p)])
	}
	if len(got) != len(want) {
		t.Fatalf("%d keys, want %d", len(got), len(want))
	}
	for k, ids := range want {
		if !slices.Equal(got[k], ids) {
			t.Fatalf("key %d: %v, want %v", k, got[k], ids)
		}
	}
}
