package fts

import (
	"bytes"
	"io"
	"mime"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/htmlindex"
	"golang.org/x/text/encoding/ianaindex"

	"github.com/petrelmail/petrel/internal/message"
)

// LookupCharset returns the decoder of a MIME charset name, nil when it is
// unknown. UTF-8 and US-ASCII are not looked up: callers handle them.
//
// The WHATWG "replacement" encoding, which htmlindex returns for labels
// such as ISO-2022-KR and which decodes everything to U+FFFD, counts as
// unknown.
func LookupCharset(name string) encoding.Encoding {
	name = strings.TrimSpace(name)
	if e, err := htmlindex.Get(name); err == nil && e != encoding.Replacement {
		return e
	}
	if e, err := ianaindex.MIME.Encoding(name); err == nil && e != nil && e != encoding.Replacement {
		return e
	}
	return nil
}

// IsUTF8Name reports whether cs names UTF-8.
func IsUTF8Name(cs string) bool {
	return strings.EqualFold(cs, "utf-8") || strings.EqualFold(cs, "utf8")
}

// IsASCIIName reports whether cs names US-ASCII or is empty.
func IsASCIIName(cs string) bool {
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
	if IsUTF8Name(charset) || IsASCIIName(charset) {
		return in, nil
	}
	if enc := LookupCharset(charset); enc != nil {
		return enc.NewDecoder().Reader(in), nil
	}
	return in, nil // unknown: the octets as they are, repaired by the caller
}

// DecodeHeader returns a raw (unfolded) header value as UTF-8 with its
// RFC 2047 encoded words decoded. Raw 8-bit text is kept when it is valid
// UTF-8 (RFC 6532) and read as windows-1252 otherwise. The result is
// always valid UTF-8.
func DecodeHeader(v []byte) string {
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

// validUTF8 returns raw header text as UTF-8 without decoding encoded
// words: kept when valid UTF-8, read as windows-1252 otherwise.
func validUTF8(v []byte) string {
	if utf8.Valid(v) {
		return string(v)
	}
	if out, err := charmap.Windows1252.NewDecoder().Bytes(v); err == nil {
		v = out
	}
	return strings.ToValidUTF8(string(v), "\uFFFD")
}

// Unfold returns a header value with the folding line breaks removed
// (RFC 5322 section 2.2.3) and every remaining line ending as a single LF.
func Unfold(b []byte) []byte {
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

// HeaderFields calls fn with the name (blanks before the colon removed)
// and the unfolded, trimmed value of every field of the header block b, in
// order, until fn returns false. Lines that are not a field (no colon,
// empty name, a continuation with no field above) are skipped. This is
// the one definition of a header's fields for matching: SEARCH HEADER
// looks for its field among them, and Doc.Header renders all of them.
func HeaderFields(b []byte, fn func(name, value []byte) bool) {
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
		if colon <= 0 {
			continue
		}
		name := bytes.TrimRight(b[start:start+colon], " \t")
		// Trimming before unfolding gives the same value, and a value on
		// one line (most of them) needs no copy.
		v := bytes.Trim(b[start+colon+1:end], " \t\r\n")
		if bytes.IndexByte(v, '\n') >= 0 {
			v = Unfold(v)
		}
		if !fn(name, v) {
			return
		}
	}
}

// HeaderText returns the searchable text of a header block, not folded:
// for each field in order (see HeaderFields), its name, ": ", its value
// decoded (DecodeHeader) and "\n". Every value SEARCH HEADER compares is
// therefore a substring of it, and so is every SUBJECT value taken from
// the header.
func HeaderText(b []byte) string {
	var sb strings.Builder
	sb.Grow(len(b))
	HeaderFields(b, func(name, value []byte) bool {
		sb.WriteString(validUTF8(name))
		sb.WriteString(": ")
		sb.WriteString(DecodeHeader(value))
		sb.WriteByte('\n')
		return true
	})
	return sb.String()
}

// AddressText renders an address list as SEARCH FROM, TO, CC and BCC
// match it: "name <mailbox@host>" per address, the name decoded, group
// names as they are, joined by ", ". Not folded.
func AddressText(list []message.Address) string {
	var b strings.Builder
	for _, a := range list {
		if a.Host == nil {
			if a.Mailbox == nil {
				continue // end of group
			}
			if b.Len() > 0 {
				b.WriteString(", ")
			}
			b.WriteString(DecodeHeader(a.Mailbox)) // group name
			b.WriteString(":")
			continue
		}
		if b.Len() > 0 {
			b.WriteString(", ")
		}
		if len(a.Name) > 0 {
			b.WriteString(DecodeHeader(a.Name))
			b.WriteString(" <")
		}
		b.WriteString(DecodeHeader(a.Mailbox))
		if len(a.Host) > 0 {
			b.WriteByte('@')
			b.WriteString(DecodeHeader(a.Host))
		}
		if len(a.Name) > 0 {
			b.WriteByte('>')
		}
	}
	return b.String()
}
