package fts

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/petrelmail/petrel/internal/sqlite"
)

func openTest(t testing.TB) (*Index, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "fts.db")
	ix, err := Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ix.Close() })
	return ix, path
}

// reopenTest closes ix and opens the index at path again, closed at the
// end of the test.
func reopenTest(t testing.TB, ix *Index, path string) *Index {
	t.Helper()
	ix.Close()
	ix2, err := Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ix2.Close() })
	return ix2
}

func entry(id int64, text string) Entry {
	return Entry{BodyID: id, Hash: sha256.Sum256([]byte(text)), Doc: Doc{
		Header: Fold("Subject: " + text + "\n"),
		Body:   []string{Fold("body of " + text)},
	}}
}

// query returns the candidates of a Term on any column.
func query(t testing.TB, ix *Index, needle string) []int64 {
	t.Helper()
	ids, ok, err := ix.Query(context.Background(), Cond{Op: Term, Needle: Fold(needle)})
	if err != nil || !ok {
		t.Fatalf("Query(%q) = %v, %v, %v", needle, ids, ok, err)
	}
	return ids
}

func docsOf(t testing.TB, ix *Index, ids []int64) map[int64]Doc {
	t.Helper()
	out := map[int64]Doc{}
	if err := ix.Docs(context.Background(), ids, func(id int64, d Doc) bool { out[id] = d; return true }); err != nil {
		t.Fatal(err)
	}
	return out
}

func allIDs(t testing.TB, ix *Index) []int64 {
	t.Helper()
	var ids []int64
	for id, err := range ix.IDs(context.Background()) {
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	return ids
}

func TestApply(t *testing.T) {
	ctx := context.Background()
	ix, path := openTest(t)
	if c, err := ix.Cursor(ctx, "log"); c != 0 || err != nil {
		t.Fatalf("Cursor of a new index = %d, %v", c, err)
	}
	var ps int
	if err := ix.db.Read.QueryRow(`PRAGMA page_size`).Scan(&ps); err != nil || ps != pageSize {
		t.Errorf("page size %d, %v; want %d", ps, err, pageSize)
	}
	batch := []Entry{entry(3, "apple pie"), entry(1, "banana split"), entry(2, "cherry tart")}
	for range 2 { // idempotent
		if err := ix.Apply(ctx, batch, nil, "log", 10); err != nil {
			t.Fatal(err)
		}
		if n, err := ix.Count(ctx); n != 3 || err != nil {
			t.Fatalf("Count = %d, %v", n, err)
		}
	}
	if c, _ := ix.Cursor(ctx, "log"); c != 10 {
		t.Errorf("cursor = %d, want 10", c)
	}
	if c, _ := ix.Cursor(ctx, "other"); c != 0 {
		t.Errorf("other cursor = %d, want 0", c)
	}
	if got := allIDs(t, ix); !slices.Equal(got, []int64{1, 2, 3}) {
		t.Errorf("IDs = %v", got)
	}
	if got := query(t, ix, "BANANA"); !slices.Equal(got, []int64{1}) {
		t.Errorf("banana: %v", got)
	}
	if got := query(t, ix, "body of"); !slices.Equal(got, []int64{1, 2, 3}) {
		t.Errorf("body of: %v", got)
	}
	docs := docsOf(t, ix, []int64{0, 2, 3, 99})
	if len(docs) != 2 || !sameDoc(docs[2], batch[2].Doc) || !sameDoc(docs[3], batch[0].Doc) {
		t.Errorf("Docs = %+v", docs)
	}
	h, err := ix.Hashes(ctx, []int64{1, 2, 7})
	if err != nil || len(h) != 2 || h[1] != batch[1].Hash || h[2] != batch[2].Hash {
		t.Errorf("Hashes = %v, %v", h, err)
	}

	// The same ID and hash, extracted again (a reindex): the new text
	// replaces the old.
	same := entry(1, "banana split")
	same.Doc.Body = []string{"changed"}
	if err := ix.Apply(ctx, []Entry{same}, nil, "log", 11); err != nil {
		t.Fatal(err)
	}
	if d := docsOf(t, ix, []int64{1})[1]; !sameDoc(d, same.Doc) {
		t.Errorf("text not replaced: %+v", d)
	}
	if got := query(t, ix, "changed"); !slices.Equal(got, []int64{1}) {
		t.Errorf("changed: %v", got)
	}
	if n, _ := ix.Count(ctx); n != 3 {
		t.Errorf("Count after replace = %d", n)
	}
	// A reused ID (another hash) replaces the body indexed under it.
	for range 2 {
		if err := ix.Apply(ctx, []Entry{entry(1, "durian soup")}, nil, "log", 12); err != nil {
			t.Fatal(err)
		}
	}
	if got := query(t, ix, "banana"); len(got) != 0 {
		t.Errorf("banana after replace: %v", got)
	}
	if got := query(t, ix, "durian"); !slices.Equal(got, []int64{1}) {
		t.Errorf("durian: %v", got)
	}
	if h, _ := ix.Hashes(ctx, []int64{1}); h[1] != entry(1, "durian soup").Hash {
		t.Error("hash not replaced")
	}
	if n, _ := ix.Count(ctx); n != 3 {
		t.Errorf("Count after replace = %d", n)
	}

	// Deletes, twice, of present and absent IDs; an ID both deleted and
	// put is indexed with its put.
	for range 2 {
		if err := ix.Apply(ctx, []Entry{entry(2, "elderberry")}, []int64{3, 2, 42}, "log", 13); err != nil {
			t.Fatal(err)
		}
	}
	if got := allIDs(t, ix); !slices.Equal(got, []int64{1, 2}) {
		t.Errorf("IDs after delete = %v", got)
	}
	if got := query(t, ix, "apple"); len(got) != 0 {
		t.Errorf("apple after delete: %v", got)
	}
	if got := query(t, ix, "cherry"); len(got) != 0 {
		t.Errorf("cherry after delete and put: %v", got)
	}
	if got := query(t, ix, "elderberry"); !slices.Equal(got, []int64{2}) {
		t.Errorf("elderberry: %v", got)
	}
	if n, _ := ix.Count(ctx); n != 2 {
		t.Errorf("Count after delete = %d", n)
	}
	// A cursor alone.
	if err := ix.Apply(ctx, nil, nil, "log", 20); err != nil {
		t.Fatal(err)
	}
	if size, err := ix.Size(); size <= 0 || err != nil {
		t.Errorf("Size = %d, %v", size, err)
	}

	// Everything survives a reopen.
	ix2 := reopenTest(t, ix, path)
	if c, _ := ix2.Cursor(ctx, "log"); c != 20 {
		t.Errorf("cursor after reopen = %d", c)
	}
	if got := query(t, ix2, "durian"); !slices.Equal(got, []int64{1}) {
		t.Errorf("durian after reopen: %v", got)
	}
}

// TestManyIDs checks IDs paging and Docs chunking past their page sizes.
func TestManyIDs(t *testing.T) {
	ctx := context.Background()
	ix, _ := openTest(t)
	var batch []Entry
	var want []int64
	for i := range 5000 {
		id := int64(i*3 + 1)
		batch = append(batch, entry(id, "word"+strings.Repeat("x", i%7)))
		want = append(want, id)
	}
	batch = append(batch, entry(-5, "negative"))
	want = append([]int64{-5}, want...)
	if err := ix.Apply(ctx, batch, nil, "", 0); err != nil {
		t.Fatal(err)
	}
	if got := allIDs(t, ix); !slices.Equal(got, want) {
		t.Errorf("IDs: %d of %d, first %v", len(got), len(want), got[:min(3, len(got))])
	}
	// The trigrams of "wordxxxxxx" are those of "wordxxx": candidates
	// are a superset, the stored Docs tell.
	got := query(t, ix, "wordxxxxxx")
	n, matched := 0, 0
	if err := ix.Docs(ctx, got, func(id int64, d Doc) bool {
		if d.MatchText("wordxxxxxx") {
			matched++
		}
		n++
		return true
	}); err != nil {
		t.Fatal(err)
	}
	if matched != 5000/7 || n != len(got) || n != 4*(5000/7) {
		t.Errorf("%d candidates, %d docs, %d matched; want %d, %d", len(got), n, matched, 4*(5000/7), 5000/7)
	}
	// fn returning false stops.
	n = 0
	ix.Docs(ctx, want, func(int64, Doc) bool { n++; return n < 200 })
	if n != 200 {
		t.Errorf("Docs called fn %d times after false", n)
	}
	if c, _ := ix.Count(ctx); c != 5001 {
		t.Errorf("Count = %d", c)
	}
}

// TestFormatChange checks that an index of an older format is left alone
// when opened (the command line opens it too), narrows nothing until its
// replicator resets it, is empty after Reset, and that one of a newer
// format is refused.
func TestFormatChange(t *testing.T) {
	ctx := context.Background()
	ix, path := openTest(t)
	if err := ix.Apply(ctx, []Entry{entry(1, "apple")}, nil, "log", 5); err != nil {
		t.Fatal(err)
	}
	ix.Close()
	setFormat := func(v int) {
		db, err := sqlite.Open(ctx, path, migrations)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.Write.Exec(`UPDATE counters SET value = ? WHERE name = 'format'`, v); err != nil {
			t.Fatal(err)
		}
		db.Close()
	}
	setFormat(formatVersion - 1)
	ix, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if !ix.Stale() {
		t.Error("an index of an older format is not Stale")
	}
	if n, _ := ix.Count(ctx); n != 1 {
		t.Errorf("Count after Open of an older format = %d, want 1 (untouched)", n)
	}
	if _, ok, err := ix.Query(ctx, Cond{Op: Term, Needle: "apple"}); ok || err != nil {
		t.Errorf("Query on a stale index: ok %v, err %v; want no narrowing", ok, err)
	}
	if err := ix.Reset(ctx); err != nil {
		t.Fatal(err)
	}
	if ix.Stale() {
		t.Error("Stale after Reset")
	}
	if n, _ := ix.Count(ctx); n != 0 {
		t.Errorf("Count after format change = %d", n)
	}
	if c, _ := ix.Cursor(ctx, "log"); c != 0 {
		t.Errorf("cursor after format change = %d", c)
	}
	if got := query(t, ix, "apple"); len(got) != 0 {
		t.Errorf("apple after format change: %v", got)
	}
	ix.Close()
	setFormat(formatVersion + 1)
	if ix, err := Open(ctx, path); err == nil {
		ix.Close()
		t.Error("Open of a newer format succeeded")
	}
}

func TestQueryNarrowing(t *testing.T) {
	ctx := context.Background()
	ix, _ := openTest(t)
	if err := ix.Apply(ctx, []Entry{entry(1, "apple pie"), entry(2, "banana split"), entry(3, "apple banana")}, nil, "", 0); err != nil {
		t.Fatal(err)
	}
	term := func(n string) Cond { return Cond{Op: Term, Needle: Fold(n)} }
	and := func(k ...Cond) Cond { return Cond{Op: And, Kids: k} }
	or := func(k ...Cond) Cond { return Cond{Op: Or, Kids: k} }
	tests := []struct {
		name string
		c    Cond
		want []int64
		ok   bool
	}{
		{"term", term("apple"), []int64{1, 3}, true},
		{"short", term("ap"), nil, false},
		{"empty", term(""), nil, false},
		{"and", and(term("apple"), term("banana")), []int64{3}, true},
		{"and drops short", and(term("apple"), term("x")), []int64{1, 3}, true},
		{"and of short", and(term("x"), term("")), nil, false},
		{"empty and", and(), nil, false},
		{"or", or(term("pie"), term("split")), []int64{1, 2}, true},
		{"or with short", or(term("pie"), term("sp")), nil, false},
		{"empty or", or(), []int64{}, true},
		{"and with empty or", and(term("apple"), or()), []int64{}, true},
		{"or with empty or", or(term("pie"), or()), []int64{1}, true},
		{"nested", and(or(term("pie"), term("split")), or(term("banana"), term("nothing"))), []int64{2}, true},
		{"quotes and syntax", term(`"apple" OR pie*`), []int64{}, true},
		{"no such text", term("zzzz"), []int64{}, true},
	}
	// A deep alternation, beyond what one MATCH expression may nest.
	deep := term("apple")
	for i := range 100 {
		if i%2 == 0 {
			deep = and(deep, or(term("banana"), term("pie")))
		} else {
			deep = or(deep, and(term("zzzz"), term("yyyy")))
		}
	}
	tests = append(tests, struct {
		name string
		c    Cond
		want []int64
		ok   bool
	}{"deep", deep, []int64{1, 3}, true})
	for _, tt := range tests {
		ids, ok, err := ix.Query(ctx, tt.c)
		if err != nil || ok != tt.ok || !slices.Equal(ids, tt.want) || (ok && ids == nil) {
			t.Errorf("%s: Query = %v, %v, %v; want %v, %v", tt.name, ids, ok, err, tt.want, tt.ok)
		}
	}
}

func TestDocsCancel(t *testing.T) {
	ix, _ := openTest(t)
	var batch []Entry
	var ids []int64
	for i := range 2000 {
		batch = append(batch, entry(int64(i+1), fmt.Sprint("text ", i)))
		ids = append(ids, int64(i+1))
	}
	if err := ix.Apply(context.Background(), batch, nil, "", 0); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	n := 0
	err := ix.Docs(ctx, ids, func(int64, Doc) bool {
		n++
		if n == 10 {
			cancel()
		}
		return true
	})
	if err == nil || n == len(ids) {
		t.Errorf("Docs after cancel: %d docs, err %v", n, err)
	}
}

// TestApplyLoad checks entries whose Doc comes from Load: loaded ones are
// indexed as if given, one whose body is gone changes nothing (an entry
// already under its ID stays), and a failing Load fails the whole Apply.
func TestApplyLoad(t *testing.T) {
	ctx := context.Background()
	ix, _ := openTest(t)
	if err := ix.Apply(ctx, []Entry{entry(3, "gamma stays")}, nil, "c", 1); err != nil {
		t.Fatal(err)
	}
	lazy := func(e Entry) Entry {
		d := e.Doc
		e.Doc = Doc{}
		e.Load = func() (Doc, bool, error) { return d, true, nil }
		return e
	}
	gone := Entry{BodyID: 3, Hash: sha256.Sum256([]byte("other")), Load: func() (Doc, bool, error) { return Doc{}, false, nil }}
	ix.SetWorkers(2)
	if err := ix.Apply(ctx, []Entry{lazy(entry(1, "alpha loaded")), gone, lazy(entry(2, "beta loaded"))}, nil, "c", 2); err != nil {
		t.Fatal(err)
	}
	if got := query(t, ix, "loaded"); !slices.Equal(got, []int64{1, 2}) {
		t.Errorf("loaded entries: candidates %v, want [1 2]", got)
	}
	if got := query(t, ix, "gamma"); !slices.Equal(got, []int64{3}) {
		t.Errorf("entry of a gone body: candidates %v, want [3] (left as it was)", got)
	}
	if d := docsOf(t, ix, []int64{1}); !d[1].MatchBody("alpha loaded") {
		t.Errorf("stored text of a loaded entry: %+v", d[1])
	}
	boom := errors.New("disk on fire")
	bad := Entry{BodyID: 4, Load: func() (Doc, bool, error) { return Doc{}, false, boom }}
	err := ix.Apply(ctx, []Entry{lazy(entry(5, "delta never")), bad}, []int64{1}, "c", 3)
	if !errors.Is(err, boom) {
		t.Fatalf("Apply with a failing Load = %v, want %v", err, boom)
	}
	if got := query(t, ix, "delta"); len(got) != 0 {
		t.Errorf("failed Apply wrote %v", got)
	}
	if got := query(t, ix, "alpha"); !slices.Equal(got, []int64{1}) {
		t.Errorf("failed Apply removed body 1: %v", got)
	}
	if c, err := ix.Cursor(ctx, "c"); err != nil || c != 2 {
		t.Errorf("cursor after the failed Apply = %d, %v; want 2", c, err)
	}
}
