package search

import (
	"bytes"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/petrelmail/petrel/internal/fts"
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
		d := fts.DecodeHeader([]byte(s))
		if !utf8.ValidString(d) {
			t.Fatalf("decodeHeader(%q) is not UTF-8", s)
		}
		if utf8.ValidString(s) {
			b, _ := baseSubject(s)
			if b2, _ := baseSubject(b); b2 != b {
				t.Fatalf("baseSubject not idempotent: %q -> %q -> %q", s, b, b2)
			}
		}
		containsFold(s, fts.Fold("a"))
		fuzzPart(len(s)).Text([]byte(s))
	})
}

// fuzzPart is a base64 part running past the end of its message.
func fuzzPart(n int) *message.Part {
	return &message.Part{BodyStart: 0, End: int64(n) + 5, Encoding: []byte("base64")}
}

// FuzzHeaderText checks that the index's text of a header is a superset of
// what the scan compares: for every field of the top-level header (raw,
// and cached in the metadata), the text that HEADER matches a value
// against (fieldValues, read as matchHeaderValue reads it) is a substring
// of fts.Doc.Header; the text SUBJECT matches is in Header or Fields, and
// so are those of FROM, TO, CC and BCC.
func FuzzHeaderText(f *testing.F) {
	for _, s := range []string{
		"Subject: hello\r\n\r\nbody",
		"Subject: =?utf-8?q?caf=C3=A9?=\r\nX-A: one\r\n two\r\nx-a :three\r\n\r\n",
		"From: =?iso-8859-1?q?J=F6rg?= <j@example.de>\r\nTo: a@b, \"B\" <b@c>\r\nCc: g: x@y;\r\n\r\n",
		"X-8bit: \xe9t\xe9\r\nX-Bad: =?utf-8?b?!!!?= =?x-none?q?a?=\r\n\r\n",
		"Subject:  spaced \t\r\n\t more \r\n\r\n",
		"Subject: a\rb\r\nX: =?utf-8?q?=0D=0A?=\n\nbare LF",
		"Subject: no body",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		meta := message.Parse(raw)
		hdr := fts.ExtractHeader(raw, meta)
		fields := fts.ExtractFields(meta)
		check := func(what string, block []byte) {
			fts.HeaderFields(block, func(name, _ []byte) bool {
				fieldValues(block, string(name), func(v []byte) bool {
					hay := string(v)
					if !isASCII(v) || bytes.Contains(v, []byte("=?")) {
						hay = fts.DecodeHeader(v)
					}
					n := fts.Fold(hay)
					if !strings.Contains(hdr, n) {
						t.Fatalf("%s field %q value %q: %q not in Header %q", what, name, v, n, hdr)
					}
					if !matchHeaderValue(v, n) {
						t.Fatalf("%s field %q value %q does not match its own text %q", what, name, v, n)
					}
					return true
				})
				return true
			})
		}
		check("raw", headerBlock(raw, meta))
		if !meta.HeaderTruncated {
			check("cached", meta.Header)
		}
		if s := meta.Envelope.Subject; s != nil {
			if n := fts.Fold(fts.DecodeHeader(s)); !strings.Contains(hdr, n) && !strings.Contains(fields, n) {
				t.Fatalf("subject %q not in Header or Fields", n)
			}
		}
		for _, l := range [][]message.Address{meta.Envelope.From, meta.Envelope.To, meta.Envelope.Cc, meta.Envelope.Bcc} {
			if n := fts.Fold(addressText(l)); len(l) > 0 && !strings.Contains(fields, n) {
				t.Fatalf("addresses %q not in Fields %q", n, fields)
			}
		}
	})
}
