// Package bufpool reuses slices between the short-lived users of the
// delivery and indexing paths (a body being received, one read for
// extraction, a batch's postings), which under the LMTP benchmark were
// most of what the server allocated and so of its garbage collections
// (docs/design.md, "Where the rest of the CPU went").
//
// It owns nothing else; a slice given back must not be used again.
package bufpool

import (
	"cmp"
	"slices"
	"sync"
)

// Pool holds slices of T. The zero value is ready; Keep bounds the
// capacity of the slices kept (0: any); Hold is how many are kept through
// garbage collections, of a capacity up to HoldMax (0: Keep).
//
// A sync.Pool empties itself over two collections. That suits buffers
// taken and given back many times between two (a body's), not those of a
// batch a second per shard (the index's postings, a few MB each): under
// the LMTP benchmark every batch found the pool empty and allocated, and
// zeroed, new ones (2 % of the server's CPU, in memclr). Held slices are
// kept for the life of the process, the largest first.
type Pool[T any] struct {
	Keep    int
	Hold    int
	HoldMax int
	mu      sync.Mutex
	held    [][]T
	p       sync.Pool // of *[]T
}

// Get returns a slice of length n: a kept one whose capacity is at least
// n, else a new one with room for max(n, room) elements.
func (p *Pool[T]) Get(n, room int) []T {
	if p.Hold > 0 {
		p.mu.Lock()
		for i := len(p.held) - 1; i >= 0; i-- {
			if s := p.held[i]; cap(s) >= n {
				p.held = slices.Delete(p.held, i, i+1)
				p.mu.Unlock()
				return s[:n]
			}
		}
		p.mu.Unlock()
	}
	if s, ok := p.p.Get().(*[]T); ok && cap(*s) >= n {
		return (*s)[:n]
	}
	return make([]T, n, max(n, room))
}

// Put gives s back for a later Get, unless it is larger than Keep. It is
// held if there is room, or in place of a smaller held slice.
func (p *Pool[T]) Put(s []T) {
	if s == nil || (p.Keep > 0 && cap(s) > p.Keep) {
		return
	}
	s = s[:0]
	if holdMax := cmp.Or(p.HoldMax, p.Keep); p.Hold > 0 && (holdMax == 0 || cap(s) <= holdMax) {
		p.mu.Lock()
		if len(p.held) < p.Hold {
			p.held = append(p.held, s)
			p.mu.Unlock()
			return
		}
		// Keep the largest: a batch's buffers grow to the largest batch.
		small := 0
		for i, h := range p.held {
			if cap(h) < cap(p.held[small]) {
				small = i
			}
		}
		if cap(p.held[small]) < cap(s) {
			p.held[small], s = s, p.held[small]
		}
		p.mu.Unlock()
	}
	p.p.Put(&s)
}
