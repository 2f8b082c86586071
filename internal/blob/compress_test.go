package blob

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
)

// corpus loads the messages the compression benchmark measures: the
// SpamAssassin corpus when PETREL_CORPUS names its extracted npm package
// folder (see bench/README.md), else the small fixtures of internal/message.
func corpus(tb testing.TB) [][]byte {
	pattern := filepath.Join("..", "message", "testdata", "*.eml")
	if dir := os.Getenv("PETREL_CORPUS"); dir != "" {
		pattern = filepath.Join(dir, "data", "*", "*.txt")
	}
	files, _ := filepath.Glob(pattern)
	var out [][]byte
	for _, f := range files {
		if b, err := os.ReadFile(f); err == nil {
			out = append(out, b)
		}
	}
	if len(out) == 0 {
		tb.Fatalf("no messages match %s", pattern)
	}
	return out
}

// BenchmarkCompression measures what zstd would save on message bodies and
// what it costs per message, to decide whether bodies are stored compressed
// (docs/design.md, "Compression").
//
//	PETREL_CORPUS=/path/to/package go test -run=^$ -bench=Compression ./internal/blob/
func BenchmarkCompression(b *testing.B) {
	msgs := corpus(b)
	var raw int64
	for _, m := range msgs {
		raw += int64(len(m))
	}
	for _, level := range []zstd.EncoderLevel{zstd.SpeedFastest, zstd.SpeedDefault} {
		enc, _ := zstd.NewWriter(nil, zstd.WithEncoderLevel(level), zstd.WithEncoderConcurrency(1))
		dec, _ := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1))
		b.Run(level.String(), func(b *testing.B) {
			var packed int64
			var encTime, decTime time.Duration
			for i := 0; i < b.N; i++ {
				packed = 0
				for _, m := range msgs {
					t0 := time.Now()
					c := enc.EncodeAll(m, nil)
					t1 := time.Now()
					if _, err := dec.DecodeAll(c, nil); err != nil {
						b.Fatal(err)
					}
					encTime += t1.Sub(t0)
					decTime += time.Since(t1)
					packed += int64(len(c))
				}
			}
			n := float64(b.N * len(msgs))
			b.ReportMetric(float64(packed)/float64(raw)*100, "%size")
			b.ReportMetric(float64(encTime.Microseconds())/n, "µs-compress/msg")
			b.ReportMetric(float64(decTime.Microseconds())/n, "µs-decompress/msg")
			b.ReportMetric(float64(raw)/float64(len(msgs)), "B/msg")
		})
	}
}
