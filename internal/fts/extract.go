package fts

import (
	"slices"
	"strconv"
	"strings"

	"github.com/petrelmail/petrel/internal/message"
)

// Doc is the searchable text of one message, case-folded (Fold). It is
// the one definition of what IMAP SEARCH string keys match, shared by the
// scan of internal/imap/search and by the index, which stores it for the
// verification of its candidates.
type Doc struct {
	// Header is what SEARCH TEXT matches in the top-level header: for
	// each field in order, "name: value\n" with the value unfolded and
	// decoded (see HeaderText).
	Header string
	// Fields are the other renderings SUBJECT, FROM, TO, CC and BCC
	// compare, joined by "\x00": the decoded envelope subject, the
	// address lists of From, To, Cc and Bcc as AddressText renders them,
	// and the decoded file names of the attachments (Content-Disposition
	// filename and Content-Type name parameters, RFC 2231 forms
	// included). They are indexed, so that the index narrows those keys
	// too, but TEXT does not match them: the file names are in the
	// headers of MIME parts, which are not part of the message's text.
	Fields string
	// Body are the texts BODY matches, each on its own: the text of every
	// text/* part (transfer encoding undone, charset converted, HTML
	// reduced to its text by HTMLText), recursively through multipart
	// and message/rfc822 parts, and the header of every encapsulated
	// message (rendered as Header is). A needle never matches across two
	// of them.
	Body []string
}

// MatchText reports whether needle (already folded) is a substring of the
// header or of one of the body texts: SEARCH TEXT.
func (d Doc) MatchText(needle string) bool {
	return strings.Contains(d.Header, needle) || d.MatchBody(needle)
}

// MatchBody reports whether needle (already folded) is a substring of one
// of the body texts: SEARCH BODY. The empty needle matches.
func (d Doc) MatchBody(needle string) bool {
	if needle == "" {
		return true
	}
	for _, t := range d.Body {
		if strings.Contains(t, needle) {
			return true
		}
	}
	return false
}

// Size returns the number of bytes of text in d.
func (d Doc) Size() int {
	n := len(d.Header) + len(d.Fields)
	for _, t := range d.Body {
		n += len(t)
	}
	return n
}

// Extract returns the searchable text of raw, the whole message, parsed
// into meta (message.Parse; nil parses it).
func Extract(raw []byte, meta *message.Meta) Doc {
	if meta == nil {
		meta = message.Parse(raw)
	}
	return Doc{
		Header: ExtractHeader(raw, meta),
		Fields: ExtractFields(meta),
		Body:   ExtractBody(raw, meta),
	}
}

// ExtractHeader returns Doc.Header of raw parsed into meta.
func ExtractHeader(raw []byte, meta *message.Meta) string {
	if meta == nil || meta.Structure == nil {
		return ""
	}
	return Fold(HeaderText(slice(raw, meta.Structure.HeaderStart, meta.Structure.BodyStart)))
}

// ExtractBody returns Doc.Body of raw parsed into meta.
func ExtractBody(raw []byte, meta *message.Meta) []string {
	if meta == nil {
		return nil
	}
	return bodyTexts(nil, raw, meta.Structure, 0)
}

// ExtractFields returns Doc.Fields of a message parsed into meta.
func ExtractFields(meta *message.Meta) string {
	if meta == nil {
		return ""
	}
	var f []string
	env := &meta.Envelope
	if env.Subject != nil {
		f = append(f, DecodeHeader(env.Subject))
	}
	for _, l := range [][]message.Address{env.From, env.To, env.Cc, env.Bcc} {
		if len(l) > 0 {
			f = append(f, AddressText(l))
		}
	}
	f = fileNames(f, meta.Structure, 0)
	return Fold(strings.Join(f, "\x00"))
}

// fileNames appends the decoded file names of p and its descendants.
func fileNames(out []string, p *message.Part, depth int) []string {
	if p == nil || depth > message.MaxDepth+1 {
		return out
	}
	out = appendParam(out, p.DispositionParams, "filename")
	out = appendParam(out, p.Params, "name")
	for _, c := range p.Children {
		out = fileNames(out, c, depth+1)
	}
	return fileNames(out, p.Message, depth+1)
}

// appendParam appends the values of the parameter name: the plain one
// (RFC 2047 encoded words decoded, as many mailers write them) and the
// RFC 2231 one (name*, or the continuations name*0, name*1*, ...), each
// when present.
func appendParam(out []string, params []message.Param, name string) []string {
	var ext string
	var hasExt bool
	var segs []paramSeg
	for _, p := range params {
		n := p.Name
		if len(n) < len(name) || !strings.EqualFold(n[:len(name)], name) {
			continue
		}
		rest := n[len(name):]
		switch {
		case rest == "":
			if v := strings.TrimSpace(DecodeHeader([]byte(p.Value))); v != "" {
				out = append(out, v)
			}
		case rest == "*":
			ext, hasExt = p.Value, true
		case rest[0] == '*':
			rest = rest[1:]
			encoded := strings.HasSuffix(rest, "*")
			rest = strings.TrimSuffix(rest, "*")
			i, err := strconv.Atoi(rest)
			if err != nil || i < 0 || i > 999 {
				continue
			}
			segs = append(segs, paramSeg{i, p.Value, encoded})
		}
	}
	if hasExt {
		out = append(out, decode2231(ext))
	}
	if len(segs) > 0 {
		// Continuations in order of their numbers; the charset is in the
		// first segment when it is encoded (RFC 2231 section 4.1).
		slices.SortStableFunc(segs, func(a, b paramSeg) int { return a.n - b.n })
		var b []byte
		charset := ""
		for k, s := range segs {
			v := s.value
			if s.encoded {
				if k == 0 {
					if cs, rest, ok := splitExt(v); ok {
						charset, v = cs, rest
					}
				}
				b = append(b, percentDecode(v)...)
			} else {
				b = append(b, v...)
			}
		}
		out = append(out, message.ToUTF8(b, charset))
	}
	return out
}

type paramSeg struct {
	n       int
	value   string
	encoded bool
}

// splitExt splits an RFC 2231 extended value "charset'language'text".
func splitExt(v string) (charset, text string, ok bool) {
	i := strings.IndexByte(v, '\'')
	if i < 0 {
		return "", v, false
	}
	j := strings.IndexByte(v[i+1:], '\'')
	if j < 0 {
		return "", v, false
	}
	return v[:i], v[i+1+j+1:], true
}

// decode2231 decodes an RFC 2231 extended value.
func decode2231(v string) string {
	charset := ""
	if cs, rest, ok := splitExt(v); ok {
		charset, v = cs, rest
	}
	return message.ToUTF8(percentDecode(v), charset)
}

func percentDecode(v string) []byte {
	out := make([]byte, 0, len(v))
	for i := 0; i < len(v); i++ {
		if v[i] == '%' && i+2 < len(v) {
			if h, ok := unhex(v[i+1]); ok {
				if l, ok := unhex(v[i+2]); ok {
					out = append(out, h<<4|l)
					i += 2
					continue
				}
			}
		}
		out = append(out, v[i])
	}
	return out
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
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

// bodyTexts appends the folded texts of Doc.Body of part p.
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
		out = append(out, Fold(HeaderText(slice(raw, p.Message.HeaderStart, p.Message.BodyStart))))
		out = bodyTexts(out, raw, p.Message, depth+1)
	case p.Type == "text":
		t := p.Text(raw)
		if p.Subtype == "html" {
			t = HTMLText(t)
		}
		out = append(out, Fold(t))
	}
	return out
}
