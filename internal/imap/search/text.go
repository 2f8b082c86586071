package search

import (
	"strings"
	"unicode/utf8"

	"github.com/petrelmail/petrel/internal/fts"
	"github.com/petrelmail/petrel/internal/message"
)

// The searchable text of a message (what the string keys match, decoded
// and case-folded) is defined by package fts, which the full-text index
// shares: fts.Fold, fts.Extract and its parts, fts.HeaderFields,
// fts.DecodeHeader, fts.AddressText. This file keeps the matching
// helpers of the scan.

func isASCII[T string | []byte](s T) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

func lowerASCII(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		c += 'a' - 'A'
	}
	return c
}

// containsFold reports whether needle, already folded, is a substring of
// hay folded. ASCII text is compared in place, without allocating; other
// text is folded with fts.Fold.
func containsFold[T string | []byte](hay T, needle string) bool {
	if needle == "" {
		return true
	}
	if !isASCII(hay) {
		return strings.Contains(fts.Fold(string(hay)), needle)
	}
	if !isASCII(needle) {
		// Every rune of an ASCII text folds to ASCII.
		return false
	}
	n := len(needle)
	first := needle[0]
	for i := 0; i+n <= len(hay); i++ {
		if lowerASCII(hay[i]) != first {
			continue
		}
		j := 1
		for j < n && lowerASCII(hay[i+j]) == needle[j] {
			j++
		}
		if j == n {
			return true
		}
	}
	return false
}

// fieldValues calls fn with the unfolded, trimmed value of every
// occurrence of the field name (case-insensitive) in the header block b,
// in order, until fn returns false. With fn nil it only reports whether
// the field occurs. The fields are those of fts.HeaderFields, so every
// value is in the Header of fts.Doc.
func fieldValues(b []byte, name string, fn func(v []byte) bool) (found bool) {
	fts.HeaderFields(b, func(n, v []byte) bool {
		if !strings.EqualFold(string(n), name) {
			return true
		}
		found = true
		return fn != nil && fn(v)
	})
	return found
}

// fieldValue returns the first value of a field, nil when absent.
func fieldValue(b []byte, name string) []byte {
	var out []byte
	fieldValues(b, name, func(v []byte) bool {
		out = v
		if out == nil {
			out = []byte{}
		}
		return false
	})
	return out
}

// slice returns raw[start:end] clamped to raw.
func slice(raw []byte, start, end int64) []byte {
	n := int64(len(raw))
	start, end = min(max(start, 0), n), min(max(end, 0), n)
	if start > end {
		start = end
	}
	return raw[start:end]
}

// headerBlock returns the top-level header block of raw.
func headerBlock(raw []byte, meta *message.Meta) []byte {
	return slice(raw, meta.Structure.HeaderStart, meta.Structure.BodyStart)
}
