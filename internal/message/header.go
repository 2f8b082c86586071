package message

import (
	"bytes"
	"strings"
)

// Header fields the parser looks at.
const (
	hContentType = iota
	hContentTransferEncoding
	hContentID
	hContentDescription
	hContentDisposition
	hContentLanguage
	hContentLocation
	hContentMD5
	// Envelope fields (RFC 9051 section 7.5.2) follow; they are only
	// collected for the header of a message, not of a MIME part.
	hDate
	hSubject
	hFrom
	hSender
	hReplyTo
	hTo
	hCc
	hBcc
	hInReplyTo
	hMessageID
	numFields
)

var fieldNames = [numFields]string{
	"content-type",
	"content-transfer-encoding",
	"content-id",
	"content-description",
	"content-disposition",
	"content-language",
	"content-location",
	"content-md5",
	"date",
	"subject",
	"from",
	"sender",
	"reply-to",
	"to",
	"cc",
	"bcc",
	"in-reply-to",
	"message-id",
}

// span locates the raw value of a header field: the bytes after the colon
// up to the line end of its last line, folding included.
type span struct {
	start, end int
	ok         bool
}

// fieldSpans holds the first occurrence of each field of interest.
type fieldSpans [numFields]span

// value returns the unfolded value of field f, nil if absent.
func (h *fieldSpans) value(raw []byte, f int) []byte {
	s := h[f]
	if !s.ok {
		return nil
	}
	return unfold(raw[s.start:s.end])
}

// lookupField returns the index of the field called name, or -1.
func lookupField(name []byte) int {
	for i := range fieldNames {
		if len(fieldNames[i]) == len(name) && equalFoldASCII(name, fieldNames[i]) {
			return i
		}
	}
	return -1
}

func equalFoldASCII(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := 0; i < len(b); i++ {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != s[i] {
			return false
		}
	}
	return true
}

// isFieldNameByte reports whether c may appear in a field name. RFC 5322
// section 3.6.8 allows printable US-ASCII except colon; 8-bit bytes are
// accepted too, leniently.
func isFieldNameByte(c byte) bool {
	return c > ' ' && c != ':' && c != 0x7f
}

// scanHeader scans the header block starting at raw[start] and ending at
// most at end (RFC 5322 section 2.2 and 3.5). It records the fields of
// interest in h (envelope fields only if envelope is set) and returns the
// offset of the body.
//
// The header ends after the first empty line, or before the first line
// that is neither a field nor the continuation of one (that line starts the
// body), or at end.
func scanHeader(raw []byte, start, end int, h *fieldSpans, envelope bool) int {
	cur := -1 // field being accumulated, -1 if none or of no interest
	in := false
	var vs, ve int
	finish := func() {
		if in && cur >= 0 && !h[cur].ok && (cur < hDate || envelope) {
			h[cur] = span{vs, ve, true}
		}
		in = false
	}
	pos := start
	for pos < end {
		var next, ce int
		if nl := bytes.IndexByte(raw[pos:end], '\n'); nl < 0 {
			next, ce = end, end
		} else {
			ce = pos + nl
			next = ce + 1
		}
		if ce > pos && raw[ce-1] == '\r' {
			ce--
		}
		if ce == pos {
			// The empty line ending the header (RFC 5322 section 2.1).
			finish()
			return next
		}
		if c := raw[pos]; c == ' ' || c == '\t' {
			if !in {
				// A continuation without a field: not a header.
				finish()
				return pos
			}
			// Folded field (RFC 5322 section 2.2.3).
			ve = ce
			pos = next
			continue
		}
		i := pos
		for i < ce && isFieldNameByte(raw[i]) {
			i++
		}
		nameEnd := i
		for i < ce && (raw[i] == ' ' || raw[i] == '\t') {
			i++ // obs-optional (RFC 5322 section 4.5)
		}
		if nameEnd == pos || i >= ce || raw[i] != ':' {
			// Not a header field: Dovecot-like, the body starts here.
			finish()
			return pos
		}
		finish()
		in = true
		cur = lookupField(raw[pos:nameEnd])
		vs, ve = i+1, ce
		pos = next
	}
	finish()
	return end
}

// unfold returns a copy of a raw header value with the folding line
// breaks removed (RFC 5322 section 2.2.3) and leading and trailing blanks
// trimmed. The value is capped at MaxStoredHeader bytes. The result
// is empty but non-nil for an empty value.
func unfold(v []byte) []byte {
	i := 0
	for i < len(v) && isBlank(v[i]) {
		i++
	}
	v = v[i:]
	if len(v) > MaxStoredHeader {
		v = v[:MaxStoredHeader]
	}
	j := len(v)
	for j > 0 && isBlank(v[j-1]) {
		j--
	}
	v = v[:j]
	if bytes.IndexByte(v, '\n') < 0 {
		out := make([]byte, len(v))
		copy(out, v)
		return out
	}
	out := make([]byte, 0, len(v))
	for k := 0; k < len(v); k++ {
		c := v[k]
		if c == '\n' || (c == '\r' && k+1 < len(v) && v[k+1] == '\n') {
			continue
		}
		out = append(out, c)
	}
	return out
}

func isBlank(c byte) bool {
	return c == ' ' || c == '\t' || c == '\r' || c == '\n'
}

// isTokenByte reports whether c may appear in an RFC 2045 section 5.1
// token: US-ASCII printable except SPACE and tspecials.
func isTokenByte(c byte) bool {
	if c <= ' ' || c >= 0x7f {
		return false
	}
	return strings.IndexByte(`()<>@,;:\"/[]?=`, c) < 0
}

// skipCFWS skips blanks and (nested) comments from v[i].
func skipCFWS(v []byte, i int) int {
	for i < len(v) {
		switch v[i] {
		case ' ', '\t', '\r', '\n':
			i++
		case '(':
			i, _ = skipComment(v, i)
		default:
			return i
		}
	}
	return i
}

// skipComment skips the comment starting at v[i] == '(' and returns the
// offset after it and its content. An unterminated comment runs to the end.
func skipComment(v []byte, i int) (int, []byte) {
	depth := 0
	start := i + 1
	for i < len(v) {
		switch v[i] {
		case '\\':
			i++
		case '(':
			depth++
		case ')':
			depth--
			if depth == 0 {
				return i + 1, v[start:i]
			}
		}
		i++
	}
	if start > len(v) {
		start = len(v)
	}
	return len(v), v[start:]
}

// readQuoted reads the quoted string starting at v[i] == '"' and returns
// the offset after it and its content with quoted-pairs resolved. An
// unterminated quoted string runs to the end.
func readQuoted(v []byte, i int) (int, []byte) {
	i++
	var out []byte
	for i < len(v) {
		c := v[i]
		switch c {
		case '"':
			return i + 1, out
		case '\\':
			if i+1 < len(v) {
				i++
				c = v[i]
			}
		}
		out = append(out, c)
		i++
	}
	return i, out
}

// readToken reads an RFC 2045 token from v[i], lowercased.
func readToken(v []byte, i int) (int, string) {
	j := i
	for j < len(v) && isTokenByte(v[j]) {
		j++
	}
	return j, lowerASCII(v[i:j])
}

func lowerASCII(b []byte) string {
	for _, c := range b {
		if 'A' <= c && c <= 'Z' {
			out := make([]byte, len(b))
			for k, c := range b {
				if 'A' <= c && c <= 'Z' {
					c += 'a' - 'A'
				}
				out[k] = c
			}
			return string(out)
		}
	}
	return internType(b)
}

// internType avoids allocating the most common media (sub)type names.
func internType(b []byte) string {
	switch string(b) {
	case "text":
		return "text"
	case "plain":
		return "plain"
	case "html":
		return "html"
	case "multipart":
		return "multipart"
	case "mixed":
		return "mixed"
	case "alternative":
		return "alternative"
	case "related":
		return "related"
	case "message":
		return "message"
	case "rfc822":
		return "rfc822"
	case "application":
		return "application"
	case "octet-stream":
		return "octet-stream"
	case "image":
		return "image"
	}
	return string(b)
}

// parseContentType parses a Content-Type value (RFC 2045 section 5.1).
// ok is false when the type/subtype is syntactically invalid; the
// parameters are returned anyway.
func parseContentType(v []byte) (typ, sub string, params []Param, ok bool) {
	i := skipCFWS(v, 0)
	i, typ = readToken(v, i)
	i = skipCFWS(v, i)
	if i < len(v) && v[i] == '/' {
		i = skipCFWS(v, i+1)
		i, sub = readToken(v, i)
	}
	ok = typ != "" && sub != ""
	return typ, sub, parseParams(v, i), ok
}

// parseDisposition parses a Content-Disposition value (RFC 2183 section
// 2). The disposition type is kept as sent.
func parseDisposition(v []byte) (string, []Param) {
	i := skipCFWS(v, 0)
	j := i
	for j < len(v) && isTokenByte(v[j]) {
		j++
	}
	if j == i {
		return "", nil
	}
	return string(v[i:j]), parseParams(v, j)
}

// parseParams parses the "; name=value" parameters from v[i] (RFC 2045
// section 5.1). Leniently, a parameter without "=" is skipped, an
// unquoted value runs to the next ";" (a trailing comment removed), and an
// unterminated quoted string runs to the end. RFC 2231 forms are kept as
// sent.
func parseParams(v []byte, i int) []Param {
	var params []Param
	for i < len(v) {
		switch v[i] {
		case ';':
		case '"':
			i, _ = readQuoted(v, i)
			continue
		case '(':
			i, _ = skipComment(v, i)
			continue
		default:
			i++
			continue
		}
		i = skipCFWS(v, i+1)
		ns := i
		for i < len(v) && v[i] != '=' && v[i] != ';' {
			i++
		}
		name := bytes.TrimRight(v[ns:i], " \t")
		if i >= len(v) || v[i] == ';' {
			continue
		}
		i++ // '='
		for i < len(v) && (v[i] == ' ' || v[i] == '\t') {
			i++
		}
		var val []byte
		if i < len(v) && v[i] == '"' {
			i, val = readQuoted(v, i)
		} else {
			vs := i
			for i < len(v) && v[i] != ';' {
				i++
			}
			val = trimComment(bytes.TrimRight(v[vs:i], " \t"))
		}
		if len(name) > 0 {
			params = append(params, Param{Name: string(name), Value: string(val)})
		}
	}
	return params
}

// trimComment removes a trailing " (comment)" from an unquoted value.
func trimComment(v []byte) []byte {
	if len(v) == 0 || v[len(v)-1] != ')' {
		return v
	}
	if k := bytes.LastIndex(v, []byte(" (")); k >= 0 {
		return bytes.TrimRight(v[:k], " \t")
	}
	if v[0] == '(' {
		return v[:0]
	}
	return v
}

// paramValue returns the value of the first parameter called name.
func paramValue(params []Param, name string) string {
	for _, p := range params {
		if strings.EqualFold(p.Name, name) {
			return p.Value
		}
	}
	return ""
}

// parseLanguage splits a Content-Language value (RFC 3282 section 2) into
// its comma-separated tags, comments and blanks removed.
func parseLanguage(v []byte) [][]byte {
	var out [][]byte
	i := 0
	for i < len(v) {
		i = skipCFWS(v, i)
		j := i
		for j < len(v) && v[j] != ',' && v[j] != '(' && !isBlank(v[j]) {
			j++
		}
		if j > i {
			out = append(out, v[i:j:j])
		}
		i = skipCFWS(v, j)
		// skip garbage up to the next comma
		for i < len(v) && v[i] != ',' {
			if v[i] == '(' {
				i, _ = skipComment(v, i)
				continue
			}
			i++
		}
		if i < len(v) {
			i++
		}
	}
	return out
}

// fillEnvelope builds the envelope (RFC 9051 section 7.5.2) of a message
// header from its fields.
func fillEnvelope(env *Envelope, raw []byte, h *fieldSpans) {
	env.Date = h.value(raw, hDate)
	env.Subject = h.value(raw, hSubject)
	env.From = addresses(raw, h, hFrom)
	env.Sender = addresses(raw, h, hSender)
	env.ReplyTo = addresses(raw, h, hReplyTo)
	env.To = addresses(raw, h, hTo)
	env.Cc = addresses(raw, h, hCc)
	env.Bcc = addresses(raw, h, hBcc)
	env.InReplyTo = h.value(raw, hInReplyTo)
	env.MessageID = h.value(raw, hMessageID)
	// RFC 9051 section 7.5.2: "If the Sender or Reply-To lines are absent
	// in the [RFC-5322] header, or are present but empty, the server sets
	// the corresponding member of the envelope to be the same value as
	// the from member".
	if env.Sender == nil {
		env.Sender = env.From
	}
	if env.ReplyTo == nil {
		env.ReplyTo = env.From
	}
}

func addresses(raw []byte, h *fieldSpans, f int) []Address {
	v := h.value(raw, f)
	if len(v) == 0 {
		return nil
	}
	return parseAddressList(v)
}
