package render

import (
	"bytes"

	"github.com/petrelmail/petrel/internal/imap/wire"
	"github.com/petrelmail/petrel/internal/message"
)

// Locate returns the byte range raw[start:end] of the raw message that
// holds section s of a BODY[section] fetch (RFC 9051 section 6.4.5):
//
//   - no part and no text (BODY[]), or a nil s: the whole message;
//   - HEADER: the header of the message, including the empty line that
//     ends it; TEXT: its body;
//   - a part number alone (BODY[1.2]): the body of that part, still
//     content-transfer-encoded. Part 1 of a message that is not multipart
//     is its body; the parts of a message/rfc822 (or message/global) part
//     are those of the encapsulated message, and BODY[2] of such a part is
//     the whole encapsulated message;
//   - part.MIME: the MIME header of that part, empty line included;
//   - part.HEADER and part.TEXT: the header and body of the message
//     encapsulated in that part, which must be a message/rfc822 or
//     message/global part;
//   - HEADER.FIELDS and HEADER.FIELDS.NOT: the range of the header they
//     filter, as HEADER; the caller then filters it with FilterHeader (or
//     answers HEADER.FIELDS from CachedHeaderFields without reading it).
//
// s.Text is matched as the wire package returns it, uppercased. ok is
// false when the part does not exist (a part number beyond the children,
// a part 2 of a single-part message, HEADER or TEXT of a part that is not
// a message, MIME without a part number); what to answer then is the
// caller's choice (servers send NIL or an empty string). Like Dovecot, a
// ".1" after a part that is neither multipart nor a message is accepted
// and refers to that part again, and part 1 of a multipart with no parsed
// child is the empty text/plain child AppendBodyStructure shows. The range
// is always within [0, m.Size].
func Locate(m *message.Meta, s *wire.Section) (start, end int64, ok bool) {
	if s == nil || (len(s.Part) == 0 && s.Text == "") {
		return 0, m.Size, m.Size >= 0
	}
	root := m.Structure
	if root == nil {
		return 0, 0, false
	}
	p := root
	msg := root // the message whose HEADER and TEXT are meant
	if len(s.Part) > 0 {
		if p, ok = findPart(root, s.Part); !ok {
			return 0, 0, false
		}
		msg = p.Message
	}
	switch s.Text {
	case "":
		start, end = p.BodyStart, p.End
	case "MIME":
		if len(s.Part) == 0 {
			return 0, 0, false
		}
		start, end = p.HeaderStart, p.BodyStart
	case "HEADER", "HEADER.FIELDS", "HEADER.FIELDS.NOT":
		if msg == nil {
			return 0, 0, false
		}
		start, end = msg.HeaderStart, msg.BodyStart
	case "TEXT":
		if msg == nil {
			return 0, 0, false
		}
		start, end = msg.BodyStart, msg.End
	default:
		return 0, 0, false
	}
	if start < 0 || start > end || end > m.Size {
		return 0, 0, false
	}
	return start, end, true
}

// findPart resolves a section-part (RFC 9051 section 6.4.5) from the root
// part of a message. Every number but the last one that lands on a
// message/rfc822 part continues into the encapsulated message.
func findPart(root *message.Part, nums []uint32) (*message.Part, bool) {
	p := root
	for i, n := range nums {
		if n == 0 {
			return nil, false
		}
		switch {
		case p.Type == "multipart" && len(p.Children) == 0:
			if n != 1 {
				return nil, false
			}
			p = emptyChild(p)
		case p.Type == "multipart":
			if uint64(n) > uint64(len(p.Children)) || p.Children[n-1] == nil {
				return nil, false
			}
			p = p.Children[n-1]
		case n != 1:
			// A message that is not multipart has only part 1, its
			// body; Dovecot accepts ".1" after other leaf parts too.
			return nil, false
		}
		if i+1 < len(nums) && p.Message != nil {
			p = p.Message
		}
	}
	return p, true
}

// emptyChild is the part standing for the missing child of a multipart
// without children: empty, at the end of its parent.
func emptyChild(parent *message.Part) *message.Part {
	return &message.Part{
		Type: "text", Subtype: "plain",
		HeaderStart: parent.End, BodyStart: parent.End, End: parent.End,
	}
}

// FilterHeader returns the fields of a header block whose names are (or,
// with not, are not) in fields, compared case-insensitively, for
// BODY[HEADER.FIELDS (...)] and BODY[HEADER.FIELDS.NOT (...)] (RFC 9051
// section 6.4.5). Fields are kept whole, with their folded continuation
// lines, in the order of the header, and the result ends with the empty
// line "\r\n" that delimits a header, as RFC 9051 requires even when no
// field is kept. header is a header block as Locate returns it; it is read
// up to its first empty line. A kept last line without a line end (a
// message that is all header) is completed with CRLF. A line that is not
// a field ("name:") is treated as a field that is not named.
func FilterHeader(header []byte, fields []string, not bool) []byte {
	n := filteredLen(header, fields, not)
	return appendFilteredHeader(make([]byte, 0, n), header, fields, not)
}

// appendFilteredHeader appends the filtered header to b; see FilterHeader.
func appendFilteredHeader(b, header []byte, fields []string, not bool) []byte {
	keep := not
	for pos := 0; pos < len(header); {
		line := nextLine(header, pos)
		pos += len(line)
		if isEmptyLine(line) {
			break
		}
		if line[0] != ' ' && line[0] != '\t' {
			keep = fieldNamed(line, fields) != not
		}
		if keep {
			b = append(b, line...)
			if line[len(line)-1] != '\n' {
				b = append(b, '\r', '\n')
			}
		}
	}
	return append(b, '\r', '\n')
}

// filteredLen is the length of the output of appendFilteredHeader.
func filteredLen(header []byte, fields []string, not bool) int {
	n := 2
	keep := not
	for pos := 0; pos < len(header); {
		line := nextLine(header, pos)
		pos += len(line)
		if isEmptyLine(line) {
			break
		}
		if line[0] != ' ' && line[0] != '\t' {
			keep = fieldNamed(line, fields) != not
		}
		if keep {
			n += len(line)
			if line[len(line)-1] != '\n' {
				n += 2
			}
		}
	}
	return n
}

// nextLine returns the line of b starting at pos, its LF included.
func nextLine(b []byte, pos int) []byte {
	if nl := bytes.IndexByte(b[pos:], '\n'); nl >= 0 {
		return b[pos : pos+nl+1]
	}
	return b[pos:]
}

// isEmptyLine reports whether line is the empty line that ends a header:
// CRLF, LF, or (as message.Parse sees it) a CR at the end of the data.
func isEmptyLine(line []byte) bool {
	switch len(line) {
	case 1:
		return line[0] == '\n' || line[0] == '\r'
	case 2:
		return line[0] == '\r' && line[1] == '\n'
	}
	return false
}

// fieldNamed reports whether line starts a header field whose name is one
// of names. The name is what precedes the first colon, blanks before the
// colon removed (RFC 5322 section 4.5.3, obs-optional), as in
// message.CachedFields' extraction.
func fieldNamed(line []byte, names []string) bool {
	colon := bytes.IndexByte(line, ':')
	if colon <= 0 {
		return false
	}
	name := line[:colon]
	for len(name) > 0 && (name[len(name)-1] == ' ' || name[len(name)-1] == '\t') {
		name = name[:len(name)-1]
	}
	for _, f := range names {
		if equalFoldASCII(bstr(name), f) {
			return true
		}
	}
	return false
}

// CachedHeaderFields answers BODY[HEADER.FIELDS (fields)] of the top-level
// header from m.Header, without the message file, when it can: when every
// field is one of message.CachedFields (so m.Header holds all of its
// occurrences) and m.Header was not truncated. The result is then the same
// as FilterHeader applied to the header block of the raw message. ok is
// false otherwise; the caller then reads the header with Locate.
func CachedHeaderFields(m *message.Meta, fields []string) (header []byte, ok bool) {
	if m.HeaderTruncated {
		return nil, false
	}
	for _, f := range fields {
		if !isCachedField(f) {
			return nil, false
		}
	}
	return FilterHeader(m.Header, fields, false), true
}

// cachedLower is message.CachedFields lowercased, for isCachedField.
var cachedLower = func() map[string]bool {
	s := make(map[string]bool, len(message.CachedFields))
	for _, f := range message.CachedFields {
		b := []byte(f)
		for i, c := range b {
			if 'A' <= c && c <= 'Z' {
				b[i] = c + 'a' - 'A'
			}
		}
		s[string(b)] = true
	}
	return s
}()

// isCachedField is message.IsCachedField without allocating for the usual
// ASCII names of up to 64 bytes; other names are left to it.
func isCachedField(name string) bool {
	var buf [64]byte
	if len(name) > len(buf) {
		return message.IsCachedField(name)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c >= 0x80 {
			return message.IsCachedField(name)
		}
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		buf[i] = c
	}
	return cachedLower[string(buf[:len(name)])]
}
