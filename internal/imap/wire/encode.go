package wire

import (
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Character classes of RFC 9051 section 9 (Formal Syntax).
//
//	ATOM-CHAR       = <any CHAR except atom-specials>
//	atom-specials   = "(" / ")" / "{" / SP / CTL / list-wildcards /
//	                  quoted-specials / resp-specials
//	list-wildcards  = "%" / "*"
//	quoted-specials = DQUOTE / "\"
//	resp-specials   = "]"
//	ASTRING-CHAR    = ATOM-CHAR / resp-specials
//	CHAR            = %x01-7F; CTL = %x00-1F / %x7F
var (
	atomChar    [256]bool
	astringChar [256]bool
	listChar    [256]bool // ATOM-CHAR / list-wildcards / resp-specials (list-char)
	tagChar     [256]bool // ASTRING-CHAR except "+"
)

func init() {
	for c := 0x21; c < 0x7f; c++ {
		switch c {
		case '(', ')', '{', '%', '*', '"', '\\', ']':
		default:
			atomChar[c] = true
		}
	}
	astringChar = atomChar
	astringChar[']'] = true
	listChar = astringChar
	listChar['%'] = true
	listChar['*'] = true
	tagChar = astringChar
	tagChar['+'] = false
}

// IsAtom reports whether s can be sent as an atom: non-empty, only
// ATOM-CHAR (RFC 9051 section 9).
func IsAtom(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !atomChar[s[i]] {
			return false
		}
	}
	return true
}

// NeedsLiteral reports whether s cannot be sent as a quoted string and needs
// a literal: quoted strings hold no NUL, CR or LF (RFC 9051 section 4.3,
// "TEXT-CHAR"), and 8-bit octets only when UTF-8 is allowed on the
// connection (IMAP4rev2 or UTF8=ACCEPT, RFC 9051 section 9 QUOTED-CHAR, RFC
// 6855 section 3), and then only as valid UTF-8.
func NeedsLiteral(s string, utf8Allowed bool) bool {
	eight := false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == 0 || c == '\r' || c == '\n':
			return true
		case c >= 0x80:
			if !utf8Allowed {
				return true
			}
			eight = true
		}
	}
	return eight && !utf8.ValidString(s)
}

// AppendQuoted appends s as a quoted string, escaping DQUOTE and backslash.
// The caller has checked NeedsLiteral.
func AppendQuoted(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == '"' || c == '\\' {
			b = append(b, '\\')
		}
		b = append(b, s[i])
	}
	return append(b, '"')
}

// AppendLiteral appends s as a literal, "{N}" CRLF followed by the octets,
// or as a literal8 "~{N}" when binary (RFC 3516 section 4.2, for
// BINARY[...] fetch data that holds NUL).
func AppendLiteral(b []byte, s string, binary bool) []byte {
	b = AppendLiteralHeader(b, int64(len(s)), binary)
	return append(b, s...)
}

// AppendLiteralHeader appends the "{N}" CRLF (or "~{N}" CRLF) that announces
// n octets of literal data, for callers that stream the data themselves.
func AppendLiteralHeader(b []byte, n int64, binary bool) []byte {
	if binary {
		b = append(b, '~')
	}
	b = append(b, '{')
	b = strconv.AppendInt(b, n, 10)
	return append(b, '}', '\r', '\n')
}

// AppendString appends s as a string (RFC 9051 section 4.3): quoted when
// possible, a literal otherwise.
func AppendString(b []byte, s string, utf8Allowed bool) []byte {
	if NeedsLiteral(s, utf8Allowed) {
		return AppendLiteral(b, s, false)
	}
	return AppendQuoted(b, s)
}

// AppendNString appends s as an nstring: NIL when s is nil.
func AppendNString(b []byte, s *string, utf8Allowed bool) []byte {
	if s == nil {
		return append(b, "NIL"...)
	}
	return AppendString(b, *s, utf8Allowed)
}

// AppendAstring appends s as an astring: an atom when it is one (and is not
// "NIL", which a client could read as nil), else a string.
func AppendAstring(b []byte, s string, utf8Allowed bool) []byte {
	if s != "" && !strings.EqualFold(s, "NIL") {
		ok := true
		for i := 0; i < len(s); i++ {
			if !astringChar[s[i]] {
				ok = false
				break
			}
		}
		if ok {
			return append(b, s...)
		}
	}
	return AppendString(b, s, utf8Allowed)
}

// AppendMailbox appends a mailbox name (UTF-8, as stored) as the client
// expects it: modified UTF-7 unless UTF-8 is allowed on the connection
// (RFC 3501 section 5.1.3, RFC 9051 section 5.1, RFC 6855 section 3).
func AppendMailbox(b []byte, name string, utf8Allowed bool) []byte {
	if !utf8Allowed {
		name = EncodeUTF7(name)
	}
	return AppendAstring(b, name, utf8Allowed)
}

// DateTimeLayout is the time layout of date-time (RFC 9051 section 9):
// "dd-Mon-yyyy hh:mm:ss +zzzz" with a space-padded day, as sent in
// INTERNALDATE and SAVEDATE, without the double quotes.
const DateTimeLayout = "_2-Jan-2006 15:04:05 -0700"

// AppendDateTime appends t as a quoted date-time.
func AppendDateTime(b []byte, t time.Time) []byte {
	b = append(b, '"')
	b = t.AppendFormat(b, DateTimeLayout)
	return append(b, '"')
}
