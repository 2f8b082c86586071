package message

import (
	"html"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/htmlindex"
	"golang.org/x/text/encoding/ianaindex"
)

// Bounds on the encoded bytes read for a preview: plain text is dense,
// HTML often starts with a large style sheet.
const (
	maxPreviewPlainInput = 16 << 10
	maxPreviewHTMLInput  = 256 << 10
	maxPreviewHTMLText   = 16 << 10
)

// buildPreview computes the RFC 8970 preview: text from the first
// text/plain part, else from the first text/html part reduced to its text.
// Parts inside message/rfc822 parts and parts marked as attachments are
// not considered.
func buildPreview(raw []byte, root *Part) string {
	if p := findText(root, "plain"); p != nil {
		return previewOf(raw, p, false)
	}
	if p := findText(root, "html"); p != nil {
		return previewOf(raw, p, true)
	}
	return ""
}

func findText(p *Part, sub string) *Part {
	if p.Type == "multipart" {
		for _, c := range p.Children {
			if r := findText(c, sub); r != nil {
				return r
			}
		}
		return nil
	}
	if p.Type == "text" && p.Subtype == sub && !strings.EqualFold(p.Disposition, "attachment") {
		return p
	}
	return nil
}

func previewOf(raw []byte, p *Part, isHTML bool) string {
	body := raw[p.BodyStart:p.End]
	limit := maxPreviewPlainInput
	if isHTML {
		limit = maxPreviewHTMLInput
	}
	if len(body) > limit {
		body = body[:limit]
	}
	text := decodeText(body, p)
	if isHTML {
		text = htmlText(text)
	}
	return collapse(text, MaxPreview)
}

// Text returns the content of a text part of raw (the message it was
// parsed from) as UTF-8: the content transfer encoding undone (RFC 2045
// section 6, leniently), the charset converted (see ToUTF8). Offsets
// outside raw are clamped.
func (p *Part) Text(raw []byte) string {
	n := int64(len(raw))
	start, end := min(max(p.BodyStart, 0), n), min(max(p.End, 0), n)
	return decodeText(raw[min(start, end):end], p)
}

func decodeText(body []byte, p *Part) string {
	switch encodingName(p.Encoding) {
	case "base64":
		body = decodeBase64(body)
	case "quoted-printable":
		body = decodeQP(body)
	}
	return ToUTF8(body, paramValue(p.Params, "charset"))
}

// encodingName returns the lowercased first token of a
// Content-Transfer-Encoding value.
func encodingName(v []byte) string {
	i := skipCFWS(v, 0)
	_, t := readToken(v, i)
	return t
}

var b64 = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xff
	}
	const a = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	for i := 0; i < len(a); i++ {
		t[a[i]] = byte(i)
	}
	return t
}()

// decodeBase64 decodes base64 leniently (RFC 2045 section 6.8): bytes
// outside the alphabet are ignored, padding ends a group wherever it is.
func decodeBase64(in []byte) []byte {
	out := make([]byte, 0, len(in)*3/4)
	var q [4]byte
	n := 0
	flush := func() {
		switch n {
		case 2:
			out = append(out, q[0]<<2|q[1]>>4)
		case 3:
			out = append(out, q[0]<<2|q[1]>>4, q[1]<<4|q[2]>>2)
		}
		n = 0
	}
	for _, c := range in {
		if c == '=' {
			flush()
			continue
		}
		v := b64[c]
		if v == 0xff {
			continue
		}
		q[n] = v
		n++
		if n == 4 {
			out = append(out, q[0]<<2|q[1]>>4, q[1]<<4|q[2]>>2, q[2]<<6|q[3])
			n = 0
		}
	}
	flush()
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

// decodeQP decodes quoted-printable leniently (RFC 2045 section 6.7): soft
// line breaks are removed, an "=" not followed by two hex digits or a line
// break is kept literally.
func decodeQP(in []byte) []byte {
	out := make([]byte, 0, len(in))
	for i := 0; i < len(in); i++ {
		c := in[i]
		if c != '=' {
			out = append(out, c)
			continue
		}
		if i+2 < len(in) {
			if h, ok := unhex(in[i+1]); ok {
				if l, ok := unhex(in[i+2]); ok {
					out = append(out, h<<4|l)
					i += 2
					continue
				}
			}
		}
		j := i + 1
		for j < len(in) && (in[j] == ' ' || in[j] == '\t') {
			j++
		}
		if j < len(in) && in[j] == '\r' {
			j++
		}
		if j < len(in) && in[j] == '\n' {
			i = j // soft line break
			continue
		}
		if j == len(in) {
			break
		}
		out = append(out, c)
	}
	return out
}

// ToUTF8 converts b from a MIME charset to valid UTF-8. Unknown charsets
// are read as UTF-8; undeclared or US-ASCII text that is not valid UTF-8 is
// read as windows-1252, the most common legacy charset; invalid sequences
// become U+FFFD.
func ToUTF8(b []byte, charset string) string {
	cs := strings.ToLower(strings.TrimSpace(charset))
	switch cs {
	case "utf-8", "utf8":
		return strings.ToValidUTF8(string(b), "\uFFFD")
	case "", "us-ascii", "ascii":
		if utf8.Valid(b) {
			return string(b)
		}
		// Undeclared 8-bit text: UTF-8 is ruled out, guess the most
		// common legacy charset rather than showing U+FFFD.
		cs = "windows-1252"
	}
	var enc encoding.Encoding
	// The WHATWG "replacement" encoding (ISO-2022-KR, ...) decodes
	// everything to U+FFFD: better read such text as it is.
	if e, err := htmlindex.Get(cs); err == nil && e != encoding.Replacement {
		enc = e
	} else if e, err := ianaindex.MIME.Encoding(cs); err == nil && e != encoding.Replacement {
		enc = e
	}
	if enc == nil {
		return strings.ToValidUTF8(string(b), "\uFFFD")
	}
	out, err := enc.NewDecoder().Bytes(b)
	if err != nil {
		return strings.ToValidUTF8(string(b), "\uFFFD")
	}
	return strings.ToValidUTF8(string(out), "\uFFFD")
}

// htmlText reduces HTML to its text: tags and comments are removed, the
// content of script, style and title elements is dropped, block-level
// tags become spaces and character references are decoded.
func htmlText(s string) string {
	var b strings.Builder
	i := 0
	for i < len(s) && b.Len() < maxPreviewHTMLText {
		if s[i] != '<' {
			j := strings.IndexByte(s[i:], '<')
			if j < 0 {
				j = len(s) - i
			}
			b.WriteString(s[i : i+j])
			i += j
			continue
		}
		if strings.HasPrefix(s[i:], "<!--") {
			k := strings.Index(s[i+4:], "-->")
			if k < 0 {
				break
			}
			i += 4 + k + 3
			continue
		}
		j := i + 1
		closing := j < len(s) && s[j] == '/'
		if closing {
			j++
		}
		ns := j
		for j < len(s) && (isAlpha(s[j]) || ('0' <= s[j] && s[j] <= '9')) {
			j++
		}
		name := strings.ToLower(s[ns:j])
		if name == "" && !closing && (j >= len(s) || (s[j] != '!' && s[j] != '?')) {
			b.WriteByte('<') // a lone "<" is text
			i++
			continue
		}
		k := strings.IndexByte(s[j:], '>')
		if k < 0 {
			break
		}
		i = j + k + 1
		if !closing && (name == "script" || name == "style" || name == "title") {
			i = skipElement(s, i, name)
			continue
		}
		if isBlockTag(name) {
			b.WriteByte(' ')
		}
	}
	return html.UnescapeString(b.String())
}

// skipElement returns the offset of the "</name" closing the element whose
// content starts at s[i], or len(s).
func skipElement(s string, i int, name string) int {
	for {
		k := strings.Index(s[i:], "</")
		if k < 0 {
			return len(s)
		}
		i += k
		if e := i + 2 + len(name); e <= len(s) && strings.EqualFold(s[i+2:e], name) {
			return i
		}
		i += 2
	}
}

func isAlpha(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }

func isBlockTag(name string) bool {
	switch name {
	case "br", "p", "div", "tr", "td", "th", "li", "ul", "ol", "table", "tbody",
		"h1", "h2", "h3", "h4", "h5", "h6", "hr", "blockquote", "pre", "body",
		"section", "article", "header", "footer", "center", "dd", "dt", "img":
		return true
	}
	return false
}

// collapse returns at most max characters of s with each run of white
// space and control characters replaced by one space, invisible format
// characters removed, and no leading or trailing space (RFC 8970
// leaves the algorithm to the server).
func collapse(s string, max int) string {
	var b strings.Builder
	n := 0
	space := false
	for _, r := range s {
		if unicode.IsSpace(r) || unicode.IsControl(r) {
			space = true
			continue
		}
		if r != '\u200d' && unicode.Is(unicode.Cf, r) || r == '\u034f' {
			continue
		}
		if n == max {
			break
		}
		if space && n > 0 {
			if n+1 == max {
				break
			}
			b.WriteByte(' ')
			n++
		}
		space = false
		b.WriteRune(r)
		n++
	}
	out := b.String()
	if !utf8.ValidString(out) {
		out = strings.ToValidUTF8(out, "\uFFFD")
	}
	return out
}
