package render

import (
	"strconv"

	"github.com/petrelmail/petrel/internal/message"
)

// emptyBody and emptyBodyExt stand for a part that does not exist but must
// be shown: the single child of a multipart without any parsed child
// (Dovecot's EMPTY_BODY and EMPTY_BODYSTRUCTURE, uppercased).
const (
	emptyBody    = `("TEXT" "PLAIN" ("CHARSET" "US-ASCII") NIL NIL "7BIT" 0 0)`
	emptyBodyExt = `("TEXT" "PLAIN" ("CHARSET" "US-ASCII") NIL NIL "7BIT" 0 0 NIL NIL NIL NIL)`
)

// AppendBodyStructure appends the body structure of part p: BODYSTRUCTURE
// when extended is set, BODY (without extension data) otherwise, per RFC
// 9051 section 7.5.2 and section 9 ("body"), and RFC 3501 section 7.4.2:
//
//	body            = "(" (body-type-1part / body-type-mpart) ")"
//	body-type-basic = media-basic SP body-fields
//	body-type-text  = media-text SP body-fields SP body-fld-lines
//	body-type-msg   = media-message SP body-fields SP envelope SP body
//	                  SP body-fld-lines
//	body-fields     = body-fld-param SP body-fld-id SP body-fld-desc SP
//	                  body-fld-enc SP body-fld-octets
//	body-ext-1part  = body-fld-md5 SP body-fld-dsp SP body-fld-lang SP
//	                  body-fld-loc
//	body-type-mpart = 1*body SP media-subtype [SP body-ext-mpart]
//	body-ext-mpart  = body-fld-param SP body-fld-dsp SP body-fld-lang SP
//	                  body-fld-loc
//
// p is normally m.Structure, the whole message. Types, subtypes, parameter
// names and the transfer encoding are uppercased; a missing encoding is
// "7BIT"; a text/plain part without a charset parameter gets ("CHARSET"
// "US-ASCII"); the size is End-BodyStart, the encoded body. A
// message/rfc822 or message/global part (RFC 9051 section 7.5.2, RFC 6532
// section 3.7) carries the envelope and body structure of the encapsulated
// message, rendered with the same extended flag. A multipart part without
// children is shown with one empty text/plain child (see the message
// package, "Robustness"). Extension data are md5, disposition (RFC 2183),
// language (RFC 3282: one string, or a list of them) and location (RFC
// 2557) for a single part, and parameters, disposition, language and
// location for a multipart; absent ones are NIL.
//
// 8-bit strings (parameter values, descriptions, the envelopes of
// encapsulated messages) are sent as literals, which every client accepts,
// whether or not it enabled UTF-8.
func AppendBodyStructure(b []byte, p *message.Part, extended bool) []byte {
	return appendBody(b, p, extended, false)
}

// appendBody appends one body (RFC 9051 section 9).
func appendBody(b []byte, p *message.Part, ext, utf8 bool) []byte {
	if p == nil {
		if ext {
			return append(b, emptyBodyExt...)
		}
		return append(b, emptyBody...)
	}
	b = append(b, '(')
	if p.Type == "multipart" {
		// body-type-mpart: the children without separator.
		if len(p.Children) == 0 {
			b = appendBody(b, nil, ext, utf8)
		}
		for _, c := range p.Children {
			b = appendBody(b, c, ext, utf8)
		}
		b = append(b, ' ')
		b = appendUpper(b, p.Subtype, utf8)
		if ext {
			b = append(b, ' ')
			b = appendParams(b, p.Params, false, utf8)
			b = appendExt(b, p, utf8)
		}
		return append(b, ')')
	}

	b = appendUpper(b, p.Type, utf8)
	b = append(b, ' ')
	b = appendUpper(b, p.Subtype, utf8)
	b = append(b, ' ')
	// RFC 2046 section 4.1.2: the default charset of text/plain.
	b = appendParams(b, p.Params, p.Type == "text" && p.Subtype == "plain", utf8)
	b = append(b, ' ')
	b = appendNBytes(b, p.ID, utf8)
	b = append(b, ' ')
	b = appendNBytes(b, p.Description, utf8)
	b = append(b, ' ')
	b = appendEncoding(b, p.Encoding)
	b = append(b, ' ')
	b = strconv.AppendInt(b, max(p.End-p.BodyStart, 0), 10)
	switch {
	case isMessage(p):
		b = append(b, ' ')
		b = AppendEnvelope(b, p.MessageEnvelope, utf8)
		b = append(b, ' ')
		b = appendBody(b, p.Message, ext, utf8)
		b = append(b, ' ')
		b = strconv.AppendInt(b, p.Lines, 10)
	case p.Type == "text":
		b = append(b, ' ')
		b = strconv.AppendInt(b, p.Lines, 10)
	}
	if ext {
		b = append(b, ' ')
		b = appendNBytes(b, p.MD5, utf8)
		b = appendExt(b, p, utf8)
	}
	return append(b, ')')
}

// isMessage reports whether p is shown as body-type-msg: message/rfc822,
// or message/global (RFC 9051 section 9, media-message).
func isMessage(p *message.Part) bool {
	return p.Type == "message" && (p.Subtype == "rfc822" || p.Subtype == "global")
}

// appendParams appends body-fld-param (RFC 9051 section 9):
// "(" string SP string *(SP string SP string) ")" / nil. With
// defaultCharset, "CHARSET" "US-ASCII" is added when no charset parameter
// is present.
func appendParams(b []byte, params []message.Param, defaultCharset bool, utf8 bool) []byte {
	if len(params) == 0 && !defaultCharset {
		return append(b, "NIL"...)
	}
	b = append(b, '(')
	for i := range params {
		p := &params[i]
		if i > 0 {
			b = append(b, ' ')
		}
		if defaultCharset && len(p.Name) == len("charset") && equalFoldASCII(p.Name, "charset") {
			defaultCharset = false
		}
		b = appendUpper(b, p.Name, utf8)
		b = append(b, ' ')
		b = appendString(b, p.Value, utf8)
	}
	if defaultCharset {
		if len(params) > 0 {
			b = append(b, ' ')
		}
		b = append(b, `"CHARSET" "US-ASCII"`...)
	}
	return append(b, ')')
}

// appendEncoding appends body-fld-enc (RFC 9051 section 9): the
// Content-Transfer-Encoding mechanism uppercased, "7BIT" when absent (RFC
// 2045 section 6.1) or when the value has no token.
func appendEncoding(b, enc []byte) []byte {
	tok := cteToken(enc)
	if len(tok) == 0 {
		return append(b, `"7BIT"`...)
	}
	// A token holds no byte that needs escaping.
	b = append(b, '"')
	for _, c := range tok {
		if 'a' <= c && c <= 'z' {
			c -= 'a' - 'A'
		}
		b = append(b, c)
	}
	return append(b, '"')
}

// appendExt appends the extension data shared by single parts and
// multiparts: SP body-fld-dsp SP body-fld-lang SP body-fld-loc (RFC 9051
// section 9).
func appendExt(b []byte, p *message.Part, utf8 bool) []byte {
	// body-fld-dsp = "(" string SP body-fld-param ")" / nil (RFC 2183).
	b = append(b, ' ')
	if p.Disposition == "" {
		b = append(b, "NIL"...)
	} else {
		b = append(b, '(')
		b = appendString(b, p.Disposition, utf8)
		b = append(b, ' ')
		b = appendParams(b, p.DispositionParams, false, utf8)
		b = append(b, ')')
	}
	// body-fld-lang = nstring / "(" string *(SP string) ")" (RFC 3282).
	b = append(b, ' ')
	switch len(p.Language) {
	case 0:
		b = append(b, "NIL"...)
	case 1:
		b = appendString(b, bstr(p.Language[0]), utf8)
	default:
		b = append(b, '(')
		for i, l := range p.Language {
			if i > 0 {
				b = append(b, ' ')
			}
			b = appendString(b, bstr(l), utf8)
		}
		b = append(b, ')')
	}
	// body-fld-loc = nstring (RFC 2557).
	b = append(b, ' ')
	return appendNBytes(b, p.Location, utf8)
}
