package render

import (
	"bytes"
	"io"
	"strings"
	"testing"

	"github.com/petrelmail/petrel/internal/imap/wire"
)

// The benchmarks render the multipart fixture (multipart/mixed with a
// forwarded multipart/alternative message, a multipart/related and an
// attachment) into a reused buffer, as FETCH 1:* does for each message.

func BenchmarkBodyStructure(b *testing.B) {
	_, m := fixture(b, "mixed.eml")
	buf := make([]byte, 0, 4096)
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendBodyStructure(buf[:0], m.Structure, true)
	}
	b.SetBytes(int64(len(buf)))
}

func BenchmarkBody(b *testing.B) {
	_, m := fixture(b, "mixed.eml")
	buf := make([]byte, 0, 4096)
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendBodyStructure(buf[:0], m.Structure, false)
	}
	b.SetBytes(int64(len(buf)))
}

func BenchmarkEnvelope(b *testing.B) {
	_, m := fixture(b, "alternative.eml")
	buf := make([]byte, 0, 4096)
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendEnvelope(buf[:0], &m.Envelope, false)
	}
	b.SetBytes(int64(len(buf)))
}

func BenchmarkLocate(b *testing.B) {
	_, m := fixture(b, "mixed.eml")
	s := &wire.Section{Part: []uint32{2, 2}, Text: "MIME"}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, ok := Locate(m, s); !ok {
			b.Fatal("not found")
		}
	}
}

// BenchmarkCachedHeaderFields is Thunderbird's folder listing request.
func BenchmarkCachedHeaderFields(b *testing.B) {
	_, m := fixture(b, "alternative.eml")
	fields := []string{"From", "To", "Cc", "Bcc", "Subject", "Date", "Message-ID", "Priority",
		"X-Priority", "References", "Newsgroups", "In-Reply-To", "Content-Type", "Reply-To"}
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := CachedHeaderFields(m, fields); !ok {
			b.Fatal("not cached")
		}
	}
}

func BenchmarkDecodeBase64(b *testing.B) {
	data := []byte(strings.Repeat("JVBERi0xLjQKJcOkw7zDtsOfCgJVBERi0xLjQKJcOkw7zDtsOfCgJVBERi0xLjQKJcOkw7zD\r\n", 1<<14))
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		d, _ := DecodedReader([]byte("base64"), bytes.NewReader(data))
		if _, err := io.Copy(io.Discard, d); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeQuotedPrintable(b *testing.B) {
	data := []byte(strings.Repeat("Caf=C3=A9 du coin, une ligne de texte ordinaire assez longue pour =\r\nvoir. \r\n", 1<<14))
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		d, _ := DecodedReader([]byte("quoted-printable"), bytes.NewReader(data))
		if _, err := io.Copy(io.Discard, d); err != nil {
			b.Fatal(err)
		}
	}
}
