package imap

import (
	"testing"

	"github.com/petrelmail/petrel/internal/message"
)

// TestRenderCache: a hit does not decode the metadata again, and the cache
// stays within its budget however many bodies pass through it.
func TestRenderCache(t *testing.T) {
	c := newRenderCache()
	meta := message.Parse([]byte("From: a@example.org\r\nSubject: hello\r\n\r\nbody\r\n"))
	decodes := 0
	load := func() (*message.Meta, error) { decodes++; return meta, nil }
	r1, err := c.get(renderKey{shard: 0, body: 1}, load)
	if err != nil {
		t.Fatal(err)
	}
	r2, _ := c.get(renderKey{shard: 0, body: 1}, load)
	if decodes != 1 || r1 != r2 {
		t.Fatalf("second lookup decoded again (%d decodes)", decodes)
	}
	if _, _ = c.get(renderKey{shard: 1, body: 1}, load); decodes != 2 {
		t.Fatal("the same body ID in another shard was taken for the first")
	}
	if want := `(NIL "hello" ((NIL NIL "a" "example.org")) ((NIL NIL "a" "example.org")) ((NIL NIL "a" "example.org")) NIL NIL NIL NIL NIL)`; string(r1.envelope) != want {
		t.Fatalf("envelope %s, want %s", r1.envelope, want)
	}
	for i := range int64(200_000) {
		c.get(renderKey{shard: 0, body: 10 + i}, load)
	}
	total := 0
	for i := range c.shards {
		sh := &c.shards[i]
		if sh.size > sh.budget {
			t.Fatalf("shard %d holds %d bytes, budget %d", i, sh.size, sh.budget)
		}
		n := 0
		for _, r := range sh.m {
			n += r.size()
		}
		if n != sh.size {
			t.Fatalf("shard %d counts %d bytes, holds %d", i, sh.size, n)
		}
		total += sh.size
	}
	if total > renderCacheBytes {
		t.Fatalf("cache holds %d bytes, more than %d", total, renderCacheBytes)
	}
}
