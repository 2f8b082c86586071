package wire

import (
	"iter"
	"strconv"
	"strings"
)

// Star is the value of a range end written "*": the largest message sequence
// number or UID in use (RFC 9051 section 9, seq-number).
const Star uint32 = 0

// NumRange is one element of a sequence set: "5", "5:7" or "5:*". First and
// Last are as the client wrote them (Last may be smaller than First: "7:5"
// means "5:7"); Star stands for "*". A single number has First == Last.
type NumRange struct {
	// First is the number before ":", or the only one.
	First uint32
	// Last is the number after ":", or First.
	Last uint32
}

// NumSet is a sequence set of message sequence numbers or UIDs (RFC 9051
// section 9, sequence-set), or the saved search result "$" (RFC 5182 section
// 2.1) which the server substitutes itself.
type NumSet struct {
	// SearchResult is set when "$" appears: the set is then the saved
	// result together with Ranges (usually empty: "$" alone).
	SearchResult bool
	// Ranges are the comma-separated elements in the client's order.
	Ranges []NumRange
}

func resolve(n, max uint32) uint32 {
	if n == Star {
		return max
	}
	return n
}

// Contains reports whether n is in the set, with max the value of "*"
// (the number of messages, or the largest UID; 0 in an empty mailbox). A
// range is order-insensitive, so "559:*" contains max even when max < 559
// (RFC 9051 section 6.4.9: "a UID range of 559:* always includes the UID of
// the last message in the mailbox"). "$" is not looked at: the server
// checks the saved search result itself.
func (s NumSet) Contains(n, max uint32) bool {
	for lo, hi := range s.All(max) {
		if n >= lo && n <= hi {
			return true
		}
	}
	return false
}

// All iterates over the ranges with "*" replaced by max and each range
// ordered low to high, in the client's order; ranges may overlap. With max 0
// (an empty mailbox) ranges that use "*" yield nothing. "$" is not
// expanded.
func (s NumSet) All(max uint32) iter.Seq2[uint32, uint32] {
	return func(yield func(lo, hi uint32) bool) {
		for _, r := range s.Ranges {
			lo, hi := resolve(r.First, max), resolve(r.Last, max)
			if lo > hi {
				lo, hi = hi, lo
			}
			if lo == 0 {
				continue // "*" in an empty mailbox
			}
			if !yield(lo, hi) {
				return
			}
		}
	}
}

// Numbers iterates over the numbers of the ranges, in the order of All.
func (s NumSet) Numbers(max uint32) iter.Seq[uint32] {
	return func(yield func(uint32) bool) {
		for lo, hi := range s.All(max) {
			for n := uint64(lo); n <= uint64(hi); n++ {
				if !yield(uint32(n)) {
					return
				}
			}
		}
	}
}

// HasStar reports whether "*" appears in the set.
func (s NumSet) HasStar() bool {
	for _, r := range s.Ranges {
		if r.First == Star || r.Last == Star {
			return true
		}
	}
	return false
}

// String formats the set as IMAP syntax, "$" first when set.
func (s NumSet) String() string {
	var b strings.Builder
	if s.SearchResult {
		b.WriteByte('$')
		if len(s.Ranges) > 0 {
			b.WriteByte(',')
		}
	}
	num := func(n uint32) {
		if n == Star {
			b.WriteByte('*')
		} else {
			b.WriteString(strconv.FormatUint(uint64(n), 10))
		}
	}
	for i, r := range s.Ranges {
		if i > 0 {
			b.WriteByte(',')
		}
		num(r.First)
		if r.Last != r.First {
			b.WriteByte(':')
			num(r.Last)
		}
	}
	return b.String()
}
