package search

import (
	"strings"

	"github.com/petrelmail/petrel/internal/fts"
)

// BaseSubject returns the base subject of RFC 5256 section 2.1 of a raw
// (undecoded) Subject field value, as used by SORT SUBJECT and THREAD. The
// result keeps its case: SORT and THREAD compare base subjects after case
// folding (see the package documentation), so "Re: [foo] Fwd: Hello
// (fwd)" has the base subject "Hello", equal to that of "hello".
func BaseSubject(subject string) string {
	s, _ := baseSubject(fts.DecodeHeader([]byte(subject)))
	return s
}

// baseSubject implements steps (1) to (7) of RFC 5256 section 2.1 on a
// decoded subject. refwd tells whether the subject is a reply or forward:
// it had a subj-refwd, a "(fwd)" subj-trailer or a subj-fwd wrapper (RFC
// 5256 section 4, REFERENCES step 5.B.iv).
//
//	subject         = *subj-leader [subj-middle] *subj-trailer
//	subj-refwd      = ("re" / ("fw" ["d"])) *WSP [subj-blob] ":"
//	subj-blob       = "[" *BLOBCHAR "]" *WSP
//	subj-fwd        = subj-fwd-hdr subject subj-fwd-trl
//	subj-fwd-hdr    = "[fwd:"
//	subj-fwd-trl    = "]"
//	subj-leader     = (*subj-blob subj-refwd) / WSP
//	subj-middle     = *subj-blob (subj-base / subj-fwd)
//	subj-trailer    = "(fwd)" / WSP
//	subj-base       = NONWSP *(*WSP NONWSP)
func baseSubject(s string) (base string, refwd bool) {
	// (1) Tabs and continuations to space, runs of spaces to one space.
	// Encoded words were decoded by the caller.
	s = collapseSpace(s)
	for {
		// (2) Remove subj-trailer text, repeatedly.
		for {
			if strings.HasSuffix(s, " ") {
				s = s[:len(s)-1]
			} else if n := len(s); n >= 5 && strings.EqualFold(s[n-5:], "(fwd)") {
				s = s[:n-5]
				refwd = true
			} else {
				break
			}
		}
		// (5) Repeat (3) and (4) until no matches remain.
		for changed := true; changed; {
			changed = false
			// (3) Remove subj-leader prefix text.
			for {
				if strings.HasPrefix(s, " ") {
					s = s[1:]
				} else if n := leaderLen(s); n > 0 {
					s = s[n:]
					refwd = true
				} else {
					break
				}
				changed = true
			}
			// (4) Remove a subj-blob prefix if a non-empty subj-base is
			// left. The blob takes the blanks after it, and trailing
			// blanks are gone, so anything left is a subj-base.
			if n := blobLen(s, 0); n > 0 && n < len(s) {
				s = s[n:]
				changed = true
			}
		}
		// (6) Unwrap "[fwd: ... ]" and repeat from step (2).
		if len(s) >= 6 && strings.EqualFold(s[:5], "[fwd:") && s[len(s)-1] == ']' {
			s = s[5 : len(s)-1]
			refwd = true
			continue
		}
		// (7) The result is the base subject.
		return s, refwd
	}
}

// collapseSpace turns every blank, CR and LF into a space and runs of them
// into one.
func collapseSpace(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	space := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == ' ' || c == '\t' || c == '\r' || c == '\n' {
			if !space {
				b.WriteByte(' ')
			}
			space = true
			continue
		}
		space = false
		b.WriteByte(c)
	}
	return b.String()
}

// blobLen returns the length of the subj-blob at s[i:], 0 if none:
// "[" *BLOBCHAR "]" *WSP, BLOBCHAR being any octet but "[" and "]".
func blobLen(s string, i int) int {
	if i >= len(s) || s[i] != '[' {
		return 0
	}
	j := i + 1
	for j < len(s) && s[j] != '[' && s[j] != ']' {
		j++
	}
	if j >= len(s) || s[j] != ']' {
		return 0
	}
	j++
	for j < len(s) && (s[j] == ' ' || s[j] == '\t') {
		j++
	}
	return j - i
}

// leaderLen returns the length of the non-WSP subj-leader at the start of
// s, 0 if none: *subj-blob subj-refwd.
func leaderLen(s string) int {
	i := 0
	for {
		n := blobLen(s, i)
		if n == 0 {
			break
		}
		i += n
	}
	// subj-refwd = ("re" / ("fw" ["d"])) *WSP [subj-blob] ":"
	switch {
	case hasPrefixFold(s[i:], "re"):
		i += 2
	case hasPrefixFold(s[i:], "fwd"):
		i += 3
	case hasPrefixFold(s[i:], "fw"):
		i += 2
	default:
		return 0
	}
	for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
		i++
	}
	i += blobLen(s, i)
	if i < len(s) && s[i] == ':' {
		return i + 1
	}
	return 0
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}
