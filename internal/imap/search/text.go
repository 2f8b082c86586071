package search

import (
	"bytes"
	"io"
	"mime"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/htmlindex"
	"golang.org/x/text/encoding/ianaindex"

	"github.com/petrelmail/petrel/internal/message"
)

// Case folding (see the package documentation): every rune is replaced by
// a canonical member of its Unicode simple case folding orbit, so that two
// strings fold to the same text exactly when strings.EqualFold reports
// them equal rune by rune. ASCII letters fold to lower case.

// foldRune returns the canonical case-folded form of r: the smallest rune
// of its unicode.SimpleFold orbit, lowercased when that is an ASCII letter.
func foldRune(r rune) rune {
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

// fold returns s case-folded. Invalid UTF-8 becomes U+FFFD.
func fold(s string) string {
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
		b.WriteRune(foldRune(r))
	}
	return b.String()
}

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
// hay folded. ASCII text is compared in place, without allocating.
func containsFold[T string | []byte](hay T, needle string) bool {
	if needle == "" {
		return true
	}
	if !isASCII(hay) {
		return strings.Contains(fold(string(hay)), needle)
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

// lookupCharset returns the decoder of a MIME charset name, nil when it is
// unknown. UTF-8 and US-ASCII are not looked up: callers handle them.
//
// The WHATWG "replacement" encoding, which htmlindex returns for labels
// such as ISO-2022-KR and which decodes everything to U+FFFD, counts as
// unknown.
func lookupCharset(name string) encoding.Encoding {
	name = strings.TrimSpace(name)
	if e, err := htmlindex.Get(name); err == nil && e != encoding.Replacement {
		return e
	}
	if e, err := ianaindex.MIME.Encoding(name); err == nil && e != nil && e != encoding.Replacement {
		return e
	}
	return nil
}

func isUTF8Name(cs string) bool {
	return strings.EqualFold(cs, "utf-8") || strings.EqualFold(cs, "utf8")
}

func isASCIIName(cs string) bool {
	return cs == "" || strings.EqualFold(cs, "us-ascii") || strings.EqualFold(cs, "ascii")
}

// wordDecoder decodes RFC 2047 encoded words. Its CharsetReader never
// fails, so that one word in an unknown charset does not keep the others
// from being decoded.
var wordDecoder = &mime.WordDecoder{CharsetReader: charsetReader}

func charsetReader(charset string, in io.Reader) (io.Reader, error) {
	// RFC 2231 section 5: "=?charset*language?...".
	if i := strings.IndexByte(charset, '*'); i >= 0 {
		charset = charset[:i]
	}
	if isUTF8Name(charset) || isASCIIName(charset) {
		return in, nil
	}
	if enc := lookupCharset(charset); enc != nil {
		return enc.NewDecoder().Reader(in), nil
	}
	return in, nil // unknown: the octets as they are, repaired by the caller
}

// decodeHeader returns a raw (unfolded) header value as UTF-8 with its
// RFC 2047 encoded words decoded. Raw 8-bit text is kept when it is valid
// UTF-8 (RFC 6532) and read as windows-1252 otherwise.
func decodeHeader(v []byte) string {
	s := string(v)
	if !utf8.ValidString(s) {
		if out, err := charmap.Windows1252.NewDecoder().String(s); err == nil {
			s = out
		}
	}
	if strings.Contains(s, "=?") {
		if d, err := wordDecoder.DecodeHeader(s); err == nil {
			s = d
		}
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}

// unfoldBlock returns a header block with the folding line breaks removed
// (RFC 5322 section 2.2.3) and every line ending as a single LF.
func unfoldBlock(b []byte) []byte {
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); i++ {
		c := b[i]
		if c == '\r' && i+1 < len(b) && b[i+1] == '\n' {
			continue
		}
		if c == '\n' && i+1 < len(b) && (b[i+1] == ' ' || b[i+1] == '\t') {
			continue
		}
		out = append(out, c)
	}
	return out
}

// fieldValues calls fn with the unfolded, trimmed value of every
// occurrence of the field name (case-insensitive) in the header block b,
// in order, until fn returns false. With fn nil it only reports whether
// the field occurs.
func fieldValues(b []byte, name string, fn func(v []byte) bool) (found bool) {
	lineEnd := func(i int) int {
		if nl := bytes.IndexByte(b[i:], '\n'); nl >= 0 {
			return i + nl + 1
		}
		return len(b)
	}
	for pos := 0; pos < len(b); {
		start, first := pos, lineEnd(pos)
		end := first
		// Continuation lines (RFC 5322 section 2.2.3).
		for end < len(b) && (b[end] == ' ' || b[end] == '\t') {
			end = lineEnd(end)
		}
		pos = end
		if b[start] == ' ' || b[start] == '\t' {
			continue
		}
		colon := bytes.IndexByte(b[start:first], ':')
		if colon <= 0 || !strings.EqualFold(string(bytes.TrimRight(b[start:start+colon], " \t")), name) {
			continue
		}
		found = true
		if fn == nil || !fn(bytes.Trim(unfoldBlock(b[start+colon+1:end]), " \t\r\n")) {
			return true
		}
	}
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

// partText returns the decoded body of a text part as UTF-8: the content
// transfer encoding undone (RFC 2045 section 6), the charset converted.
func partText(raw []byte, p *message.Part) string { return p.Text(raw) }

// bodyTexts appends the folded searchable texts of the body of part p
// (see the package documentation): text/* parts and the headers of
// encapsulated messages.
func bodyTexts(out []string, raw []byte, p *message.Part, depth int) []string {
	if p == nil || depth > message.MaxDepth+1 {
		return out
	}
	switch {
	case p.Type == "multipart":
		for _, c := range p.Children {
			out = bodyTexts(out, raw, c, depth+1)
		}
	case p.Message != nil:
		out = append(out, fold(decodeHeader(unfoldBlock(slice(raw, p.Message.HeaderStart, p.Message.BodyStart)))))
		out = bodyTexts(out, raw, p.Message, depth+1)
	case p.Type == "text":
		out = append(out, fold(partText(raw, p)))
	}
	return out
}
