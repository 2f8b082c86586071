package render

import (
	"strings"
	"unsafe"

	"github.com/petrelmail/petrel/internal/imap/wire"
)

// bstr returns the bytes of v as a string without copying. It is only
// passed to the wire encoders, which read their argument and do not keep
// it, so v is never seen to change while the string is in use.
func bstr(v []byte) string {
	return unsafe.String(unsafe.SliceData(v), len(v))
}

// appendNBytes appends v as an nstring (RFC 9051 section 4.5): NIL when v
// is nil, else a string as appendString sends it.
func appendNBytes(b, v []byte, utf8 bool) []byte {
	if v == nil {
		return append(b, "NIL"...)
	}
	return appendString(b, bstr(v), utf8)
}

// appendString appends s as a string (RFC 9051 section 4.3) with
// wire.AppendString: quoted when possible, a literal otherwise. NUL, which
// no IMAP string may hold (not even a literal: CHAR8 is %x01-ff), is sent
// as U+FFFD; raw header values can hold it.
func appendString(b []byte, s string, utf8 bool) []byte {
	if strings.IndexByte(s, 0) >= 0 {
		s = strings.ReplaceAll(s, "\x00", "\uFFFD")
	}
	return wire.AppendString(b, s, utf8)
}

// appendUpper appends s uppercased as a quoted string when it only holds
// printable US-ASCII other than DQUOTE and backslash, which is always the
// case of the tokens it is used for (media types, parameter names,
// transfer encodings, RFC 2045 section 5.1). Anything else is appended
// unchanged with appendString.
func appendUpper(b []byte, s string, utf8 bool) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			return appendString(b, s, utf8)
		}
	}
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' {
			c -= 'a' - 'A'
		}
		b = append(b, c)
	}
	return append(b, '"')
}

// equalFoldASCII reports whether a and b are equal under ASCII case
// folding; bytes outside A-Z and a-z must match exactly. Header field
// names and MIME tokens are ASCII, so Unicode folding (the Kelvin sign
// matching "k") must not apply to them.
func equalFoldASCII(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if x == y {
			continue
		}
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// isTokenByte reports whether c may appear in an RFC 2045 section 5.1
// token: printable US-ASCII except SPACE and tspecials.
func isTokenByte(c byte) bool {
	if c <= ' ' || c >= 0x7f {
		return false
	}
	switch c {
	case '(', ')', '<', '>', '@', ',', ';', ':', '\\', '"', '/', '[', ']', '?', '=':
		return false
	}
	return true
}

// cteToken returns the mechanism of a raw Content-Transfer-Encoding value
// (RFC 2045 section 6.1): the token after leading blanks and comments.
// Anything after it is ignored, as Dovecot does. It is empty when the
// value does not start with a token.
func cteToken(v []byte) []byte {
	i := 0
	for i < len(v) {
		switch v[i] {
		case ' ', '\t', '\r', '\n':
			i++
			continue
		case '(':
			depth := 0
			for ; i < len(v); i++ {
				if v[i] == '\\' {
					i++
				} else if v[i] == '(' {
					depth++
				} else if v[i] == ')' {
					depth--
					if depth == 0 {
						i++
						break
					}
				}
			}
			continue
		}
		break
	}
	if i > len(v) {
		i = len(v)
	}
	j := i
	for j < len(v) && isTokenByte(v[j]) {
		j++
	}
	return v[i:j]
}
