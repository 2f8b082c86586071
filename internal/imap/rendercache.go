package imap

import (
	"sync"

	"github.com/petrelmail/petrel/internal/imap/render"
	"github.com/petrelmail/petrel/internal/message"
)

// renderCacheBytes is the memory the render cache may use, for all
// sessions together.
const renderCacheBytes = 64 << 20

// renderCache keeps the rendered ENVELOPE, BODYSTRUCTURE and BODY of bodies
// recently fetched, shared by every session. They never change for a body,
// and clients ask for them over and over (every resync of a folder list):
// a hit saves decoding the stored metadata and rendering it, most of the
// cost of a summary FETCH. It plays the part of Dovecot's cache file, in
// memory, bounded, and never stale (bodies are immutable).
type renderCache struct {
	shards [16]renderShard
}

type renderShard struct {
	mu     sync.Mutex
	m      map[renderKey]*rendered
	fifo   []renderKey // insertion order, for eviction
	head   int
	size   int
	budget int
}

// renderKey names a body: body IDs are per store shard. utf8 is set for
// sessions that enabled UTF-8, which get 8-bit header text quoted rather
// than as literals.
type renderKey struct {
	shard int
	body  int64
	utf8  bool
}

// rendered are the FETCH items of one body, without their names.
type rendered struct {
	envelope, bodyStructure, body []byte
}

func (r *rendered) size() int {
	return len(r.envelope) + len(r.bodyStructure) + len(r.body) + 96
}

func newRenderCache() *renderCache {
	c := &renderCache{}
	for i := range c.shards {
		c.shards[i] = renderShard{m: map[renderKey]*rendered{}, budget: renderCacheBytes / len(c.shards)}
	}
	return c
}

func (c *renderCache) shard(k renderKey) *renderShard {
	return &c.shards[uint64(k.body)*0x9E3779B97F4A7C15>>60]
}

// get returns the rendered items of a body, rendering them from its
// metadata (decoded on demand by meta) on a miss.
func (c *renderCache) get(k renderKey, meta func() (*message.Meta, error)) (*rendered, error) {
	sh := c.shard(k)
	sh.mu.Lock()
	r, ok := sh.m[k]
	sh.mu.Unlock()
	if ok {
		metricRenderHits.Inc()
		return r, nil
	}
	metricRenderMisses.Inc()
	m, err := meta()
	if err != nil {
		return nil, err
	}
	r = &rendered{
		envelope:      render.AppendEnvelope(nil, &m.Envelope, k.utf8),
		bodyStructure: render.AppendBodyStructure(nil, m.Structure, true),
		body:          render.AppendBodyStructure(nil, m.Structure, false),
	}
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if _, dup := sh.m[k]; dup {
		return r, nil
	}
	for sh.size+r.size() > sh.budget && sh.head < len(sh.fifo) {
		old := sh.fifo[sh.head]
		sh.head++
		if o, ok := sh.m[old]; ok {
			sh.size -= o.size()
			metricRenderBytes.Sub(float64(o.size()))
			delete(sh.m, old)
		}
	}
	if sh.head > len(sh.fifo)/2 {
		sh.fifo = append(sh.fifo[:0], sh.fifo[sh.head:]...)
		sh.head = 0
	}
	sh.m[k] = r
	sh.fifo = append(sh.fifo, k)
	sh.size += r.size()
	metricRenderBytes.Add(float64(r.size()))
	return r, nil
}
