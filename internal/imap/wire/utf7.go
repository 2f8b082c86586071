package wire

import (
	"encoding/base64"
	"errors"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// Modified BASE64 of RFC 3501 section 5.1.3: RFC 2045 BASE64 with "," for
// "/" and no "=" padding.
var mbase64 = base64.NewEncoding("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,").WithPadding(base64.NoPadding).Strict()

// ErrBadUTF7 is returned for a mailbox name that is not valid modified
// UTF-7 (RFC 3501 section 5.1.3).
var ErrBadUTF7 = errors.New("invalid modified UTF-7 mailbox name")

// EncodeUTF7 encodes a UTF-8 mailbox name as modified UTF-7 for IMAP4rev1
// clients that have not enabled UTF8=ACCEPT (RFC 3501 section 5.1.3):
// printable US-ASCII represents itself except "&", written "&-"; every other
// run of characters is UTF-16 in modified BASE64 between "&" and "-".
// Invalid UTF-8 is encoded as U+FFFD.
func EncodeUTF7(s string) string {
	if isPlainUTF7(s) {
		return s
	}
	var b strings.Builder
	var run []uint16
	flush := func() {
		if len(run) == 0 {
			return
		}
		buf := make([]byte, 2*len(run))
		for i, u := range run {
			buf[2*i], buf[2*i+1] = byte(u>>8), byte(u)
		}
		b.WriteByte('&')
		b.WriteString(mbase64.EncodeToString(buf))
		b.WriteByte('-')
		run = run[:0]
	}
	for _, c := range s {
		if c >= 0x20 && c <= 0x7e {
			flush()
			b.WriteRune(c)
			if c == '&' {
				b.WriteByte('-')
			}
			continue
		}
		run = utf16.AppendRune(run, c)
	}
	flush()
	return b.String()
}

// isPlainUTF7 reports whether s is printable US-ASCII without "&", so that
// it encodes to itself.
func isPlainUTF7(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '&' {
			return false
		}
	}
	return true
}

// DecodeUTF7 decodes a modified UTF-7 mailbox name (RFC 3501 section 5.1.3)
// to UTF-8. It is strict: 8-bit or control characters, bad BASE64, unpaired
// surrogates, printable US-ASCII in an encoded run ("MUST NOT be used to
// represent any printing US-ASCII character which can represent itself")
// and any other non-canonical form (such as two adjacent encoded runs) are
// ErrBadUTF7, so that one name has one encoding.
func DecodeUTF7(s string) (string, error) {
	if strings.IndexByte(s, '&') < 0 {
		for i := 0; i < len(s); i++ {
			if s[i] < 0x20 || s[i] > 0x7e {
				return "", ErrBadUTF7
			}
		}
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c > 0x7e {
			return "", ErrBadUTF7
		}
		if c != '&' {
			b.WriteByte(c)
			continue
		}
		end := strings.IndexByte(s[i+1:], '-')
		if end < 0 {
			return "", ErrBadUTF7
		}
		enc := s[i+1 : i+1+end]
		i += 1 + end
		if enc == "" {
			b.WriteByte('&')
			continue
		}
		buf, err := mbase64.DecodeString(enc)
		if err != nil || len(buf)%2 != 0 {
			return "", ErrBadUTF7
		}
		units := make([]uint16, len(buf)/2)
		for j := range units {
			units[j] = uint16(buf[2*j])<<8 | uint16(buf[2*j+1])
		}
		for j := 0; j < len(units); j++ {
			u := rune(units[j])
			switch {
			case utf16.IsSurrogate(u):
				if u >= 0xdc00 || j+1 >= len(units) {
					return "", ErrBadUTF7
				}
				r := utf16.DecodeRune(u, rune(units[j+1]))
				if r == utf8.RuneError {
					return "", ErrBadUTF7
				}
				b.WriteRune(r)
				j++
			case u >= 0x20 && u <= 0x7e:
				return "", ErrBadUTF7
			default:
				b.WriteRune(u)
			}
		}
	}
	out := b.String()
	// Canonical form only: adjacent runs "&AOk-&AOk-" decode fine but must
	// have been one run.
	if EncodeUTF7(out) != s {
		return "", ErrBadUTF7
	}
	return out, nil
}
