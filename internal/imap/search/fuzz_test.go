package search

import (
	"testing"
	"unicode/utf8"

	"github.com/petrelmail/petrel/internal/message"
)

// FuzzParsers checks that the lenient parsers never panic and that the
// base subject is idempotent.
func FuzzParsers(f *testing.F) {
	for _, s := range []string{
		"Mon, 3 Feb 2025 10:00:00 +0000", "2-Jan-2006", "2006-01-02T15:04", "(a(b)c) 1 Jan 2000",
		"Re: [foo] Fwd: Hello (fwd)", "[fwd: [fwd: x]]", "[", "re[:", "=?utf-8?q?=C3?=",
		"<a@b> <\"c\"@d>", "X-A: b\r\n c\r\n", ":\n \n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		parseDate([]byte(s))
		msgIDs([]byte(s), -1)
		fieldValues([]byte(s), "x-a", func([]byte) bool { return true })
		d := decodeHeader([]byte(s))
		if !utf8.ValidString(d) {
			t.Fatalf("decodeHeader(%q) is not UTF-8", s)
		}
		if utf8.ValidString(s) {
			b, _ := baseSubject(s)
			if b2, _ := baseSubject(b); b2 != b {
				t.Fatalf("baseSubject not idempotent: %q -> %q -> %q", s, b, b2)
			}
		}
		containsFold(s, fold("a"))
		partText([]byte(s), fuzzPart(len(s)))
	})
}

// fuzzPart is a base64 part running past the end of its message.
func fuzzPart(n int) *message.Part {
	return &message.Part{BodyStart: 0, End: int64(n) + 5, Encoding: []byte("base64")}
}
