package fts

import (
	"context"
	"crypto/sha256"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"unicode"
)

// The alphabet of the random texts: ASCII letters in both cases, blanks,
// FTS5 query syntax, runes whose case orbits have three members (Kelvin
// sign, long s, sigma forms), runes without case, and a NUL.
var alphabet = []rune("aAbBkKsSeEoO \n\t\"'*:^-+(){}.,\u212a\u017féÉßσΣςΐΰ日本語🙂\u0000\ufffd\ufeff")

func randText(r *rand.Rand, n int) string {
	var b strings.Builder
	for range n {
		if r.IntN(4) == 0 {
			b.WriteString([]string{"apple", "ban", "kiss", "SOS", "\"or\"", "AND", "NOT", "NEAR"}[r.IntN(8)])
			continue
		}
		b.WriteRune(alphabet[r.IntN(len(alphabet))])
	}
	return b.String()
}

func randDoc(r *rand.Rand) Doc {
	d := Doc{Header: Fold(randText(r, r.IntN(30))), Fields: Fold(randText(r, r.IntN(8)) + "\x00" + randText(r, r.IntN(8)))}
	for range r.IntN(4) {
		d.Body = append(d.Body, Fold(randText(r, r.IntN(40))))
	}
	return d
}

// recase changes the case of some runes of s, or swaps them for another
// member of their case orbit.
func recase(r *rand.Rand, s string) string {
	var b strings.Builder
	for _, c := range s {
		switch r.IntN(3) {
		case 0:
			c = unicode.SimpleFold(c)
		case 1:
			c = unicode.ToUpper(c)
		}
		b.WriteRune(c)
	}
	return b.String()
}

// randNeedle returns a needle taken from the texts of docs (across word
// boundaries, recased), or random.
func randNeedle(r *rand.Rand, docs []Doc) string {
	if r.IntN(5) == 0 {
		return Fold(randText(r, 1+r.IntN(5)))
	}
	d := docs[r.IntN(len(docs))]
	texts := append([]string{d.Header, d.Fields}, d.Body...)
	t := []rune(texts[r.IntN(len(texts))])
	if len(t) == 0 {
		return ""
	}
	i := r.IntN(len(t))
	j := min(len(t), i+1+r.IntN(10))
	return Fold(recase(r, string(t[i:j])))
}

// matchCol is what a Term on col means, by brute force.
func matchCol(d Doc, col Column, needle string) bool {
	switch col {
	case ColHeader:
		return strings.Contains(d.Header, needle)
	case ColFields:
		return slices.ContainsFunc(strings.Split(d.Fields, "\x00"), func(f string) bool { return strings.Contains(f, needle) })
	case ColBody:
		return d.MatchBody(needle)
	}
	return d.MatchText(needle)
}

func evalCond(d Doc, c Cond) bool {
	switch c.Op {
	case And:
		for _, k := range c.Kids {
			if !evalCond(d, k) {
				return false
			}
		}
		return true
	case Or:
		for _, k := range c.Kids {
			if evalCond(d, k) {
				return true
			}
		}
		return false
	}
	return matchCol(d, c.Col, c.Needle)
}

// checkSuperset queries c and checks that every indexed body satisfying
// it is a candidate, and that verifying the candidates against the stored
// Docs gives exactly the bodies that satisfy it.
func checkSuperset(t testing.TB, ix *Index, docs map[int64]Doc, c Cond) {
	t.Helper()
	ctx := context.Background()
	ids, ok, err := ix.Query(ctx, c)
	if err != nil {
		t.Fatalf("Query(%#v): %v", c, err)
	}
	var want []int64
	for id, d := range docs {
		if evalCond(d, c) {
			want = append(want, id)
		}
	}
	slices.Sort(want)
	if !ok {
		return
	}
	if !slices.IsSorted(ids) {
		t.Fatalf("Query(%#v) not sorted: %v", c, ids)
	}
	for _, id := range want {
		if _, found := slices.BinarySearch(ids, id); !found {
			t.Fatalf("Query(%#v) misses body %d %#v (candidates %v)", c, id, docs[id], ids)
		}
	}
	var got []int64
	if err := ix.Docs(ctx, ids, func(id int64, d Doc) bool {
		if evalCond(d, c) {
			got = append(got, id)
		}
		return true
	}); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("verified %#v = %v, want %v", c, got, want)
	}
}

func TestQuerySuperset(t *testing.T) {
	ctx := context.Background()
	r := rand.New(rand.NewPCG(1, 2))
	ix, _ := openTest(t)
	docs := map[int64]Doc{}
	var list []Doc
	var batch []Entry
	for i := range 300 {
		d := randDoc(r)
		id := int64(i*2 + 1)
		docs[id] = d
		list = append(list, d)
		batch = append(batch, Entry{BodyID: id, Hash: sha256.Sum256(fmt.Append(nil, d)), Doc: d})
	}
	if err := ix.Apply(ctx, batch, nil, "", 0); err != nil {
		t.Fatal(err)
	}
	// Replace and delete some, so that tombstones are in the way too.
	batch = batch[:0]
	var del []int64
	for id := int64(1); id < 600; id += 10 {
		d := randDoc(r)
		docs[id] = d
		list = append(list, d)
		batch = append(batch, Entry{BodyID: id, Hash: sha256.Sum256(fmt.Append(nil, d)), Doc: d})
		del = append(del, id+2)
		delete(docs, id+2)
	}
	if err := ix.Apply(ctx, batch, del, "", 0); err != nil {
		t.Fatal(err)
	}
	cols := []Column{ColAny, ColHeader, ColBody, ColFields}
	term := func() Cond { return Cond{Op: Term, Col: cols[r.IntN(3)], Needle: randNeedle(r, list)} }
	for range 2000 {
		checkSuperset(t, ix, docs, term())
	}
	for range 500 {
		c := Cond{Op: CondOp(1 + r.IntN(2))}
		for range r.IntN(4) {
			k := term()
			if r.IntN(3) == 0 {
				k = Cond{Op: CondOp(1 + r.IntN(2)), Kids: []Cond{term(), term()}}
			}
			c.Kids = append(c.Kids, k)
		}
		checkSuperset(t, ix, docs, c)
	}
}

// fuzzIndex is shared by the runs of FuzzQuery in one process: body 1 is
// the fuzzed text, the others fixed.
var fuzzIndex struct {
	sync.Once
	ix   *Index
	docs map[int64]Doc
	err  error
}

func FuzzQuery(f *testing.F) {
	for _, s := range [][2]string{
		{"Subject: hello world", "lo wo"},
		{"a\"b\"c", `"b"`},
		{`say "AND" OR NOT`, `"and" or`},
		{"x*y^z:{col}", "*y^"},
		{"nul\x00byte", "l\x00b"},
		{"\u212aelvin \u017fign", "KELVIN SIGN"},
		{"ΣΊΣΥΦΟΣ", "σίσυφος"},
		{"\xff\xfe invalid", "\xff\xfe"},
		{"\ufffe\uffff", "\ufffe\uffff"},
		{"日本語のテキスト", "語のテ"},
		{"emoji 🙂🙃🙂", "🙃🙂"},
		{"", ""},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, text, needle string) {
		fuzzIndex.Do(func() {
			dir, err := tempDir()
			if err != nil {
				fuzzIndex.err = err
				return
			}
			fuzzIndex.ix, fuzzIndex.err = Open(context.Background(), dir+"/fuzz.db")
			fuzzIndex.docs = map[int64]Doc{}
			var batch []Entry
			for i, s := range []string{"hello world", "quoted \"text\" here", "ΣΊΣΥΦΟΣ and \u212a", "nul\x00inside"} {
				d := Doc{Header: Fold("subject: " + s), Body: []string{Fold(s)}}
				fuzzIndex.docs[int64(i+2)] = d
				batch = append(batch, Entry{BodyID: int64(i + 2), Doc: d})
			}
			if fuzzIndex.err == nil {
				fuzzIndex.err = fuzzIndex.ix.Apply(context.Background(), batch, nil, "", 0)
			}
		})
		if fuzzIndex.err != nil {
			t.Fatal(fuzzIndex.err)
		}
		ix := fuzzIndex.ix
		d := Doc{Header: Fold(text), Fields: Fold(needle + "\x00" + text), Body: []string{Fold(text), Fold(needle + text)}}
		docs := map[int64]Doc{1: d}
		for id, d := range fuzzIndex.docs {
			docs[id] = d
		}
		if err := ix.Apply(context.Background(), []Entry{{BodyID: 1, Hash: sha256.Sum256([]byte(text + "\x00" + needle)), Doc: d}}, nil, "", 0); err != nil {
			t.Fatal(err)
		}
		n := Fold(needle)
		for _, col := range []Column{ColAny, ColHeader, ColBody, ColFields} {
			checkSuperset(t, ix, docs, Cond{Op: Term, Col: col, Needle: n})
		}
		checkSuperset(t, ix, docs, Cond{Op: Or, Kids: []Cond{{Op: Term, Needle: n}, {Op: And, Kids: []Cond{{Op: Term, Needle: Fold(text)}, {Op: Term, Needle: n}}}}})
	})
}

// tempDir returns a directory for the fuzz index, which outlives any one
// test; TestMain removes it.
func tempDir() (string, error) {
	dir, err := os.MkdirTemp("", "fts-fuzz-")
	fuzzDir = dir
	return dir, err
}

var fuzzDir string

func TestMain(m *testing.M) {
	code := m.Run()
	if fuzzIndex.ix != nil {
		fuzzIndex.ix.Close()
	}
	if fuzzDir != "" {
		os.RemoveAll(fuzzDir)
	}
	os.Exit(code)
}
