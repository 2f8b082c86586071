package fts

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Case folding: every rune is replaced by a canonical member of its
// Unicode simple case folding orbit, so that two strings fold to the same
// text exactly when strings.EqualFold reports them equal rune by rune.
// ASCII letters fold to lower case.

// FoldRune returns the canonical case-folded form of r: the smallest rune
// of its unicode.SimpleFold orbit, lowercased when that is an ASCII letter.
func FoldRune(r rune) rune {
	if r < utf8.RuneSelf {
		if 'A' <= r && r <= 'Z' {
			r += 'a' - 'A'
		}
		return r
	}
	m := r
	for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
		m = min(m, f)
	}
	if 'A' <= m && m <= 'Z' {
		m += 'a' - 'A'
	}
	return m
}

// Fold returns s case-folded, as search strings and searchable texts are
// compared: a needle matches a text when Fold(needle) is a substring of
// Fold(text). Invalid UTF-8 becomes U+FFFD, so the result is always valid
// UTF-8. Lower-case ASCII text is returned as is, without allocating.
func Fold(s string) string {
	ascii, upper := true, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= utf8.RuneSelf {
			ascii = false
			break
		}
		if 'A' <= c && c <= 'Z' {
			upper = true
		}
	}
	if ascii && !upper {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	if ascii {
		for i := 0; i < len(s); i++ {
			c := s[i]
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			b.WriteByte(c)
		}
		return b.String()
	}
	for _, r := range s {
		b.WriteRune(FoldRune(r))
	}
	return b.String()
}
