package fts

import (
	"context"
	"crypto/sha256"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/petrelmail/petrel/internal/sqlite"
)

// checkTexts checks the stored texts against want: every block's live
// count is the number of texts rows pointing to it and its fill their size,
// no row points to a missing block, no block is empty, Docs returns
// exactly want (all of it, and a subset with absent IDs), and the small
// blocks waiting for a repack hold less than maxSmall bytes.
func checkTexts(t *testing.T, ix *Index, want map[int64]Doc, maxSmall int64, r *rand.Rand) {
	t.Helper()
	ctx := context.Background()
	var bad, orphans int
	var small int64
	if err := ix.db.Read.QueryRow(`SELECT
		(SELECT count(*) FROM textblocks b WHERE live <= 0 OR live != (SELECT count(*) FROM texts WHERE block = b.id) OR fill != (SELECT sum(size) FROM texts WHERE block = b.id)),
		(SELECT count(*) FROM texts WHERE block NOT IN (SELECT id FROM textblocks)),
		(SELECT coalesce(sum(fill), 0) FROM textblocks WHERE fill < ?)`, textBlockRaw/2).Scan(&bad, &orphans, &small); err != nil {
		t.Fatal(err)
	}
	if bad != 0 || orphans != 0 {
		t.Fatalf("%d blocks with a wrong live count or fill, %d texts in no block", bad, orphans)
	}
	if small >= maxSmall {
		t.Fatalf("%d bytes in small blocks, want under %d", small, maxSmall)
	}
	// read returns the IDs Docs gives for ids, checking each Doc.
	read := func(ids []int64) []int64 {
		var got []int64
		if err := ix.Docs(ctx, ids, func(id int64, d Doc) bool {
			if !sameDoc(d, want[id]) {
				t.Fatalf("Docs: body %d differs", id)
			}
			got = append(got, id)
			return true
		}); err != nil {
			t.Fatal(err)
		}
		return got
	}
	ids := make([]int64, 0, len(want))
	for id := range want {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	if got := read(ids); !slices.Equal(got, ids) {
		t.Fatalf("Docs returned %d of %d bodies", len(got), len(ids))
	}
	// A subset, with IDs that are not indexed.
	var sub, wantSub []int64
	for _, id := range ids {
		if r.IntN(3) == 0 {
			sub = append(sub, id)
		}
	}
	wantSub = slices.Clone(sub)
	sub = append(sub, -1, 1<<50)
	slices.Sort(sub)
	if got := read(sub); !slices.Equal(got, wantSub) {
		t.Fatalf("Docs of a subset returned %d of %d", len(got), len(wantSub))
	}
}

// TestTextBlocks checks the stored texts through a trickle of small
// batches (blocks of one or two Docs, repacked), replacements, batches
// applied twice, a mass removal (blocks mostly dead, repacked over the
// following batches) and a reopen.
func TestTextBlocks(t *testing.T) {
	ctx := context.Background()
	r := rand.New(rand.NewPCG(7, 8))
	ix, path := openTest(t)
	var vocab []string
	for i := range 300 {
		vocab = append(vocab, fmt.Sprintf("w%dx%d", i, i*i%97))
	}
	randDoc := func() Doc {
		var b strings.Builder
		size := 500 + r.IntN(6000)
		for b.Len() < size {
			b.WriteString(vocab[r.IntN(len(vocab))])
			b.WriteByte(' ')
		}
		return Doc{Header: "subject: " + vocab[r.IntN(len(vocab))] + "\n", Fields: vocab[r.IntN(len(vocab))], Body: []string{b.String()}}
	}
	docs := map[int64]Doc{}
	next := int64(1)
	apply := func(step int, put []Entry, del []int64) {
		t.Helper()
		for range 1 + r.IntN(2) { // sometimes twice: Apply is idempotent
			if err := ix.Apply(ctx, put, del, "log", int64(step)); err != nil {
				t.Fatal(err)
			}
		}
		for _, id := range del {
			delete(docs, id)
		}
		for _, e := range put {
			docs[e.BodyID] = e.Doc
		}
	}
	entry := func(id int64, step int) Entry {
		d := randDoc()
		return Entry{BodyID: id, Hash: sha256.Sum256(fmt.Append(nil, d, step)), Doc: d}
	}
	// A trickle: one to three bodies per batch, some replacing others.
	for step := range 300 {
		var put []Entry
		for range 1 + r.IntN(3) {
			id := next
			if r.IntN(5) == 0 && next > 1 {
				id = 1 + r.Int64N(next-1)
			} else {
				next++
			}
			put = append(put, entry(id, step))
		}
		apply(step, put, nil)
		if step%50 == 49 {
			checkTexts(t, ix, docs, 2*textBlockRaw, r)
		}
	}
	// A batch writes blocks of at most 3 Docs: those of more are
	// repacked ones, and hold nearly all the bodies.
	var blocks, repacked, inRepacked int
	if err := ix.db.Read.QueryRow(`SELECT count(*), count(*) FILTER (WHERE docs > 3), coalesce(sum(live) FILTER (WHERE docs > 3), 0) FROM textblocks`).Scan(&blocks, &repacked, &inRepacked); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d bodies in %d blocks, %d of them repacked holding %d bodies", len(docs), blocks, repacked, inRepacked)
	if inRepacked < len(docs)*3/4 {
		t.Errorf("the small blocks were not repacked: %d bodies of %d in %d repacked blocks of %d", inRepacked, len(docs), repacked, blocks)
	}
	// A mass removal, then batches of nothing but a removal each: the
	// blocks left mostly dead are repacked over them.
	var del []int64
	for id := range docs {
		if r.IntN(10) != 0 {
			del = append(del, id)
		}
	}
	apply(1000, nil, del)
	checkTexts(t, ix, docs, 1<<62, r)
	for step := 1001; step < 1100; step++ {
		var del []int64
		for id := range docs {
			if r.IntN(4) == 0 {
				del = append(del, id)
			}
			break
		}
		apply(step, nil, del)
	}
	checkTexts(t, ix, docs, 2*textBlockRaw, r)
	// A batch putting the same ID twice keeps the last Doc.
	twice := []Entry{entry(next, 2000), entry(next, 2001)}
	if err := ix.Apply(ctx, twice, nil, "log", 2000); err != nil {
		t.Fatal(err)
	}
	docs[next] = twice[1].Doc
	if n, err := ix.Count(ctx); err != nil || n != int64(len(docs)) {
		t.Fatalf("Count = %d, %v; want %d", n, err, len(docs))
	}
	checkTexts(t, ix, docs, 2*textBlockRaw, r)
	ix = reopenTest(t, ix, path)
	checkTexts(t, ix, docs, 2*textBlockRaw, r)
}

func TestGroupKey(t *testing.T) {
	for _, c := range []struct{ header, want string }{
		{"from: ann <ann@mail.example.org>\nto: b@c.d\n", "mail.example.org"},
		{"received: from x.y\nx-from: z@q.r\nfrom: \"a, b\" <a@EX.com>, c@d.e\n", "d.e"},
		{"from: bob@example.net\n", "example.net"},
		{"from: undisclosed\n", ""},
		{"subject: from: me@x.y\n", ""},
		{"", ""},
	} {
		if got := groupKey(&Doc{Header: c.header}); got != c.want {
			t.Errorf("groupKey(%q) = %q, want %q", c.header, got, c.want)
		}
	}
}

// TestFromFormat3 opens an index written in format 3 (a zstd frame per
// Doc in texts): the schema is migrated, the index is stale until its
// Reset, and is then written and read in blocks.
func TestFromFormat3(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "fts.db")
	db, err := sqlite.OpenWith(ctx, path, migrations[:3], sqlite.Options{Rebuildable: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`INSERT INTO texts(body_id, hash, text) VALUES(1, x'00', x'28b52ffd')`,
		`INSERT INTO segments(id, level, hi, created) VALUES(1, 0, 1, 1)`,
		`UPDATE counters SET value = 3 WHERE name = 'format'`,
		`UPDATE counters SET value = 1 WHERE name = 'docs'`,
	} {
		if _, err := db.Write.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	ix, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer ix.Close()
	if !ix.Stale() {
		t.Fatal("an index of format 3 is not stale")
	}
	if err := ix.Reset(ctx); err != nil {
		t.Fatal(err)
	}
	if err := ix.Apply(ctx, []Entry{entry(1, "apple pie"), entry(2, "cherry")}, nil, "log", 1); err != nil {
		t.Fatal(err)
	}
	if got := query(t, ix, "pie"); !slices.Equal(got, []int64{1}) {
		t.Errorf("pie: %v", got)
	}
	n := 0
	if err := ix.Docs(ctx, []int64{1, 2}, func(int64, Doc) bool { n++; return true }); err != nil || n != 2 {
		t.Errorf("Docs: %d, %v", n, err)
	}
}
