// Package bufpool reuses slices between the short-lived users of the
// delivery and indexing paths (a body being received, one read for
// extraction, a batch's postings), which under the LMTP benchmark were
// most of what the server allocated and so of its garbage collections
// (docs/design.md, "Where the rest of the CPU went").
//
// It owns nothing else; a slice given back must not be used again.
package bufpool

import "sync"

// Pool holds slices of T. The zero value is ready; Keep bounds the
// capacity of the slices kept (0: any).
type Pool[T any] struct {
	Keep int
	p    sync.Pool // of *[]T
}

// Get returns a slice of length n: a kept one whose capacity is at least
// n, else a new one with room for max(n, room) elements.
func (p *Pool[T]) Get(n, room int) []T {
	if s, ok := p.p.Get().(*[]T); ok && cap(*s) >= n {
		return (*s)[:n]
	}
	return make([]T, n, max(n, room))
}

// Put gives s back for a later Get, unless it is larger than Keep.
func (p *Pool[T]) Put(s []T) {
	if s == nil || (p.Keep > 0 && cap(s) > p.Keep) {
		return
	}
	s = s[:0]
	p.p.Put(&s)
}
