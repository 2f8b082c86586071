package message

import (
	"bytes"
)

const (
	// MaxStoredHeader is the largest top-level header block kept in
	// Meta.Header, and the longest header field value kept anywhere.
	MaxStoredHeader = 64 << 10
	// MaxDepth is the deepest MIME nesting that is parsed; the root part
	// is at depth 0. Deeper content is treated as a leaf part.
	MaxDepth = 100
	// MaxParts is the largest number of parts created for one message.
	MaxParts = 10000
	// MaxPreview is the largest number of Unicode characters in
	// Meta.Preview (RFC 8970).
	MaxPreview = 256
)

// Meta is the metadata of one message, computed once by Parse.
type Meta struct {
	// Size is the size of the whole message in octets (RFC822.SIZE).
	Size int64
	// Envelope is the ENVELOPE of the top-level header.
	Envelope Envelope
	// Structure is the root part: the whole message.
	Structure *Part
	// Header holds the raw lines of the top-level header fields named in
	// CachedFields, in their order, capped at MaxStoredHeader bytes; nil
	// when there are none. The whole header block is always
	// raw[Structure.HeaderStart:Structure.BodyStart].
	Header []byte
	// HeaderTruncated tells that Header was capped and lacks some of the
	// cached fields: read them from the message.
	HeaderTruncated bool
	// Preview is the RFC 8970 preview: up to MaxPreview characters of
	// decoded text with whitespace collapsed, always valid UTF-8.
	Preview string
}

// Envelope holds the fields of an RFC 9051 section 7.5.2 ENVELOPE.
//
// Byte fields are raw header values: unfolded (CRLF followed by WSP becomes
// that WSP), leading and trailing blanks removed, but not decoded (IMAP
// returns them raw). They are nil when the field is absent and empty but
// non-nil when it is present and empty.
//
// As RFC 9051 requires, Sender and ReplyTo are set to From when their
// fields are absent or contain no address.
type Envelope struct {
	// Date is the raw Date field value.
	Date []byte
	// Subject is the raw Subject field value.
	Subject []byte
	// From is the parsed From field.
	From []Address
	// Sender is the parsed Sender field, or From.
	Sender []Address
	// ReplyTo is the parsed Reply-To field, or From.
	ReplyTo []Address
	// To is the parsed To field.
	To []Address
	// Cc is the parsed Cc field.
	Cc []Address
	// Bcc is the parsed Bcc field.
	Bcc []Address
	// InReplyTo is the raw In-Reply-To field value.
	InReplyTo []byte
	// MessageID is the raw Message-ID field value.
	MessageID []byte
}

// Address is one RFC 9051 envelope address. Group syntax (RFC 5322 section
// 3.4) is represented as in IMAP: a start marker {Mailbox: group name,
// Host: nil}, then the members, then an end marker with all fields nil.
// A nil field is NIL.
//
// Name is the display name with comments removed, quoted strings unquoted
// and blanks collapsed, but encoded words are not decoded; when there is
// no display name, the last comment of the address is used, as many
// servers do. Mailbox is the raw local part (quoted strings keep their
// quotes, CFWS removed). Host is never nil for a mailbox: an address
// without a domain has an empty Host.
type Address struct {
	// Name is the display name (phrase), nil when absent.
	Name []byte
	// Route is the obsolete source route ("@a,@b"), nil when absent.
	Route []byte
	// Mailbox is the local part, or the group name of a start marker.
	Mailbox []byte
	// Host is the domain; nil only for group markers.
	Host []byte
}

// Part is one MIME part: the whole message, a multipart child, or the
// message encapsulated in a message/rfc822 part.
type Part struct {
	// Type is the lowercased media type, "text" by default.
	Type string
	// Subtype is the lowercased media subtype, "plain" by default.
	Subtype string
	// Params are the Content-Type parameters in order, names as sent,
	// quoted-string values unquoted, RFC 2231 forms not decoded; nil if
	// none (the renderer adds CHARSET US-ASCII for a default text/plain).
	Params []Param
	// ID is the raw Content-ID value, nil when absent.
	ID []byte
	// Description is the raw Content-Description value, nil when absent.
	Description []byte
	// Encoding is the raw Content-Transfer-Encoding value, nil when absent
	// (the renderer defaults it to "7BIT").
	Encoding []byte
	// Disposition is the Content-Disposition type as sent, "" when absent.
	Disposition string
	// DispositionParams are the Content-Disposition parameters.
	DispositionParams []Param
	// Language are the Content-Language tags, nil when absent.
	Language [][]byte
	// Location is the raw Content-Location value, nil when absent.
	Location []byte
	// MD5 is the raw Content-MD5 value, nil when absent.
	MD5 []byte
	// HeaderStart is the offset of the part's header in the message.
	HeaderStart int64
	// BodyStart is the offset of the part's body: the header block is
	// raw[HeaderStart:BodyStart], including its empty line.
	BodyStart int64
	// End is the offset just past the part's body; End-BodyStart is the
	// RFC 9051 body size (octets of the encoded body).
	End int64
	// Lines is the number of lines of the body, for text/* and
	// message/rfc822 (message/global) parts; 0 otherwise. A last line
	// without line ending counts.
	Lines int64
	// Children are the parts of a multipart part.
	Children []*Part
	// Message is the root part of the message encapsulated in a
	// message/rfc822 or message/global part; it spans the same bytes as
	// the body of this part.
	Message *Part
	// MessageEnvelope is the envelope of Message.
	MessageEnvelope *Envelope
}

// Param is one Content-Type or Content-Disposition parameter.
type Param struct {
	// Name is the parameter name as sent.
	Name string
	// Value is the parameter value, unquoted.
	Value string
}

// Parse parses raw, the whole message as stored, into its metadata.
// It never fails and never panics; malformed input yields best-effort
// metadata (see the package documentation). The result does not alias raw.
func Parse(raw []byte) (m *Meta) {
	defer func() {
		// Last line of defence for a mail server: the parser is fuzzed
		// without this recover (see parse), but a delivery must never
		// crash on a message.
		if recover() != nil {
			m = fallbackMeta(raw)
		}
	}()
	return parse(raw)
}

// fallbackMeta is the metadata of a message that could not be parsed: one
// text/plain part with an empty header.
func fallbackMeta(raw []byte) *Meta {
	return &Meta{
		Size:      int64(len(raw)),
		Structure: &Part{Type: "text", Subtype: "plain", End: int64(len(raw)), Lines: countLines(raw)},
	}
}

func parse(raw []byte) *Meta {
	p := parser{raw: raw}
	m := &Meta{Size: int64(len(raw))}
	m.Structure = p.parsePart(0, len(raw), 0, false, &m.Envelope)
	m.Header, m.HeaderTruncated = cachedHeader(raw[:m.Structure.BodyStart])
	m.Preview = buildPreview(raw, m.Structure)
	return m
}

// parser holds the state of one Parse call.
type parser struct {
	raw   []byte
	parts int // parts created so far, bounded by MaxParts
}

// parsePart parses the part occupying raw[start:end] at the given depth.
// digest tells that the part is a child of multipart/digest. env is non-nil
// for the root of a message, whose envelope is then filled in.
func (p *parser) parsePart(start, end, depth int, digest bool, env *Envelope) *Part {
	p.parts++
	part := &Part{HeaderStart: int64(start), End: int64(end)}
	var h fieldSpans
	bodyStart := scanHeader(p.raw, start, end, &h, env != nil)
	part.BodyStart = int64(bodyStart)
	if env != nil {
		fillEnvelope(env, p.raw, &h)
	}

	// RFC 2045 section 5.2: default Content-Type; RFC 2046 section 5.1.5:
	// message/rfc822 by default inside multipart/digest.
	if digest {
		part.Type, part.Subtype = "message", "rfc822"
	} else {
		part.Type, part.Subtype = "text", "plain"
	}
	var boundary string
	if v := h.value(p.raw, hContentType); v != nil {
		typ, sub, params, ok := parseContentType(v)
		if ok {
			part.Type, part.Subtype = typ, sub
		} else {
			part.Type, part.Subtype = "text", "plain"
		}
		part.Params = params
		if part.Type == "multipart" {
			boundary = paramValue(params, "boundary")
		}
	}
	part.Encoding = h.value(p.raw, hContentTransferEncoding)
	part.ID = h.value(p.raw, hContentID)
	part.Description = h.value(p.raw, hContentDescription)
	if v := h.value(p.raw, hContentDisposition); v != nil {
		part.Disposition, part.DispositionParams = parseDisposition(v)
	}
	if v := h.value(p.raw, hContentLanguage); v != nil {
		part.Language = parseLanguage(v)
	}
	part.Location = h.value(p.raw, hContentLocation)
	part.MD5 = h.value(p.raw, hContentMD5)

	switch {
	case part.Type == "multipart":
		// RFC 2046 section 5.1: multipart bodies.
		if boundary != "" && depth < MaxDepth {
			p.splitMultipart(part, bodyStart, end, depth, boundary, part.Subtype == "digest")
		}
	case isMessageType(part):
		// RFC 2046 section 5.2.1: message/rfc822 encapsulates a whole
		// message (RFC 6532 section 3.7: message/global likewise).
		part.MessageEnvelope = &Envelope{}
		if depth < MaxDepth && p.parts < MaxParts {
			part.Message = p.parsePart(bodyStart, end, depth+1, false, part.MessageEnvelope)
		} else {
			// Too deep: the encapsulated message is an opaque leaf.
			p.parts++
			part.Message = &Part{
				Type: "text", Subtype: "plain",
				HeaderStart: int64(bodyStart), BodyStart: int64(bodyStart), End: int64(end),
				Lines: countLines(p.raw[bodyStart:end]),
			}
		}
		part.Lines = countLines(p.raw[bodyStart:end])
	case part.Type == "text":
		part.Lines = countLines(p.raw[bodyStart:end])
	}
	return part
}

func isMessageType(part *Part) bool {
	return part.Type == "message" && (part.Subtype == "rfc822" || part.Subtype == "global")
}

// splitMultipart finds the children of a multipart part whose body is
// raw[bodyStart:end], following RFC 2046 section 5.1.1: a boundary line is
// "--" boundary, optionally followed by "--" for the close-delimiter, then
// optional linear white space, then the line end. The line break before a
// boundary line belongs to the delimiter, not to the preceding part.
func (p *parser) splitMultipart(part *Part, bodyStart, end, depth int, boundary string, digest bool) {
	raw := p.raw
	delim := make([]byte, 0, 2+len(boundary))
	delim = append(delim, '-', '-')
	delim = append(delim, boundary...)
	pos := bodyStart
	childStart := -1 // start of the current child, -1 while in the preamble
	for {
		lineStart, lineEnd, closing, ok := findBoundary(raw, bodyStart, pos, end, delim)
		if !ok {
			break
		}
		if childStart >= 0 {
			ce := lineStart
			if ce > bodyStart && raw[ce-1] == '\n' {
				ce--
				if ce > bodyStart && raw[ce-1] == '\r' {
					ce--
				}
			}
			if ce < childStart {
				ce = childStart
			}
			if !p.addChild(part, childStart, ce, end, depth, digest) {
				return
			}
		}
		if closing {
			// The rest is the epilogue (RFC 2046 section 5.1.1).
			return
		}
		childStart = lineEnd
		pos = lineEnd
	}
	if childStart >= 0 {
		// No close-delimiter: the last part runs to the end of its parent.
		p.addChild(part, childStart, end, end, depth, digest)
	}
}

// addChild parses raw[start:end] as the next child of part, whose body ends
// at parentEnd. When MaxParts is reached it makes the rest of the parent
// the body of the last child instead and returns false.
func (p *parser) addChild(part *Part, start, end, parentEnd, depth int, digest bool) bool {
	if p.parts >= MaxParts {
		if n := len(part.Children); n > 0 {
			p.extend(part.Children[n-1], parentEnd)
		}
		return false
	}
	part.Children = append(part.Children, p.parsePart(start, end, depth+1, digest, nil))
	return true
}

// extend moves the end of part (and of its encapsulated message) to end.
func (p *parser) extend(part *Part, end int) {
	part.End = int64(end)
	if part.Type == "text" || part.Message != nil {
		part.Lines = countLines(p.raw[part.BodyStart:end])
	}
	if part.Message != nil {
		p.extend(part.Message, end)
	}
}

// findBoundary finds the first boundary line for delim in raw[pos:end], in
// the body of a multipart starting at bodyStart. It returns the offsets of
// the line and past its line end, and whether it is a close-delimiter.
func findBoundary(raw []byte, bodyStart, pos, end int, delim []byte) (lineStart, lineEnd int, closing, ok bool) {
	for pos < end {
		k := bytes.Index(raw[pos:end], delim)
		if k < 0 {
			return 0, 0, false, false
		}
		ls := pos + k
		pos = ls + 1
		if ls != bodyStart && raw[ls-1] != '\n' {
			continue // not at the start of a line
		}
		t := ls + len(delim)
		closing = false
		if t+1 < end && raw[t] == '-' && raw[t+1] == '-' {
			closing = true
			t += 2
		}
		for t < end && (raw[t] == ' ' || raw[t] == '\t' || raw[t] == '\r') {
			t++
		}
		if t == end {
			return ls, end, closing, true
		}
		if raw[t] == '\n' {
			return ls, t + 1, closing, true
		}
	}
	return 0, 0, false, false
}

// countLines counts the lines of b; a last line without line end counts.
func countLines(b []byte) int64 {
	n := int64(bytes.Count(b, []byte{'\n'}))
	if len(b) > 0 && b[len(b)-1] != '\n' {
		n++
	}
	return n
}

// cloneBytes returns a copy of b, nil if b is empty.
func cloneBytes(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	c := make([]byte, len(b))
	copy(c, b)
	return c
}
