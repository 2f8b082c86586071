package fts

import (
	"slices"
	"unicode/utf8"
)

// The index computes the distinct trigrams (three consecutive runes) of a
// document in Go and keeps a posting list per trigram key (postings.go).
// A needle is turned into keys by the same code, so the two sides can
// never disagree (NUL bytes and any other rune are just runes here), and a
// query is a plain AND of keys.
//
// A trigram's key is exact for three ASCII runes (21 bits) and a hash of
// the runes otherwise, in the 30-bit space above; a hash collision only
// makes a query return more candidates. Changing any of this changes the
// stored index: bump formatVersion.

const (
	asciiKeys = 1 << 21
	keySpace  = 1 << 30
	// fieldBit marks the key of a trigram of the Fields, so that
	// SUBJECT, FROM, TO, CC and BCC narrow by the fields alone: keys are
	// below 1<<31 (termBits).
	fieldBit = 1 << 30
)

// gramKey returns the key of the trigram a, b, c.
func gramKey(a, b, c rune) uint32 {
	if a|b|c < utf8.RuneSelf {
		return uint32(a)<<14 | uint32(b)<<7 | uint32(c)
	}
	// SplitMix64 finalizer over the packed runes (21 bits each).
	x := uint64(a)<<42 | uint64(b)<<21 | uint64(c)
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return asciiKeys + uint32(x%(keySpace-asciiKeys))
}

// appendKeys appends the keys of every trigram of s.
func appendKeys(keys []uint32, s string) []uint32 {
	var a, b rune
	n := 0
	for _, r := range s {
		if n >= 2 {
			keys = append(keys, gramKey(a, b, r))
		}
		a, b = b, r
		n++
	}
	return keys
}

// gramSet collects the distinct keys of a document: a bitmap for the
// ASCII keys (most of them), a map for the others.
type gramSet struct {
	ascii []uint64
	other map[uint32]struct{}
	keys  []uint32 // in order of first appearance
}

func (g *gramSet) reset() {
	if g.ascii == nil {
		g.ascii = make([]uint64, asciiKeys/64)
		g.other = map[uint32]struct{}{}
	}
	for _, k := range g.keys {
		if k < asciiKeys {
			g.ascii[k/64] = 0
		}
	}
	clear(g.other)
	g.keys = g.keys[:0]
}

// add adds the keys of every trigram of s, with mark (0 or fieldBit).
func (g *gramSet) add(s string, mark uint32) {
	var a, b rune
	n := 0
	for _, r := range s {
		if n >= 2 {
			k := gramKey(a, b, r) | mark
			if k < asciiKeys {
				if w, bit := &g.ascii[k/64], uint64(1)<<(k%64); *w&bit == 0 {
					*w |= bit
					g.keys = append(g.keys, k)
				}
			} else if _, ok := g.other[k]; !ok {
				g.other[k] = struct{}{}
				g.keys = append(g.keys, k)
			}
		}
		a, b = b, r
		n++
	}
}

// docKeys returns the distinct trigram keys of d: those of its header
// and body texts, and marked apart (fieldBit) those of its fields, never of
// two texts together. g is scratch space.
func docKeys(d *Doc, g *gramSet) []uint32 {
	g.reset()
	g.add(d.Header, 0)
	for _, t := range d.Body {
		g.add(t, 0)
	}
	g.add(d.Fields, fieldBit)
	return slices.Clone(g.keys)
}

// maxNeedleGrams bounds the tokens a term adds to a query: any subset of a
// needle's trigrams gives a superset of its matches, and a few already
// narrow as much as many.
const maxNeedleGrams = 24

// needleKeys returns the distinct trigram keys of a needle (fewer than
// three runes: none), at most maxNeedleGrams of them spread over it.
func needleKeys(needle string) []uint32 {
	keys := appendKeys(nil, needle)
	if len(keys) > maxNeedleGrams {
		picked := make([]uint32, 0, maxNeedleGrams)
		for i := range maxNeedleGrams {
			picked = append(picked, keys[i*(len(keys)-1)/(maxNeedleGrams-1)])
		}
		keys = picked
	}
	slices.Sort(keys)
	return slices.Compact(keys)
}
