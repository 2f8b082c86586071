package search

import (
	"slices"
	"strconv"

	"github.com/petrelmail/petrel/internal/imap/wire"
)

// interval is a range of numbers, lo <= hi.
type interval struct{ lo, hi uint32 }

// numSet is a sequence set with "*" resolved, as sorted disjoint
// intervals, and whether "$" was part of it.
type numSet struct {
	iv    []interval
	saved bool
}

// compileSet resolves a wire sequence set with max as "*" (RFC 9051
// section 9, seq-number: "*" is the largest number in use; ranges are
// order-insensitive).
func compileSet(s wire.NumSet, star uint32) numSet {
	out := numSet{saved: s.SearchResult}
	for lo, hi := range s.All(star) {
		out.iv = append(out.iv, interval{lo, hi})
	}
	slices.SortFunc(out.iv, func(a, b interval) int {
		switch {
		case a.lo < b.lo:
			return -1
		case a.lo > b.lo:
			return 1
		}
		return 0
	})
	merged := out.iv[:0]
	for _, v := range out.iv {
		if n := len(merged); n > 0 && uint64(v.lo) <= uint64(merged[n-1].hi)+1 {
			merged[n-1].hi = max(merged[n-1].hi, v.hi)
			continue
		}
		merged = append(merged, v)
	}
	out.iv = merged
	return out
}

func (s *numSet) contains(n uint32) bool {
	i, _ := slices.BinarySearchFunc(s.iv, n, func(v interval, n uint32) int {
		switch {
		case v.hi < n:
			return -1
		case v.lo > n:
			return 1
		}
		return 0
	})
	return i < len(s.iv) && s.iv[i].lo <= n && n <= s.iv[i].hi
}

// AppendNumSet appends nums, sorted in increasing order, as a compact
// sequence-set (RFC 9051 section 9), the form of the ALL result of ESEARCH
// (RFC 4731 section 3.1): runs of consecutive numbers become ranges, as in
// "1:3,7,9:10". Repeated numbers are written once; nothing is appended for
// an empty list (ESEARCH then omits ALL).
func AppendNumSet(b []byte, nums []uint32) []byte {
	for i := 0; i < len(nums); {
		j := i
		for j+1 < len(nums) && (nums[j+1] == nums[j] || nums[j+1] == nums[j]+1 && nums[j] != ^uint32(0)) {
			j++
		}
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendUint(b, uint64(nums[i]), 10)
		if nums[j] != nums[i] {
			b = append(b, ':')
			b = strconv.AppendUint(b, uint64(nums[j]), 10)
		}
		i = j + 1
	}
	return b
}
