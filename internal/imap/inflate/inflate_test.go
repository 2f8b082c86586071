package inflate

import (
	"bytes"
	"compress/flate"
	"io"
	"math/rand/v2"
	"testing"
	"time"
)

// partialFlush is "c NOOP\r\n" compressed by zlib (raw DEFLATE) and ended
// with Z_PARTIAL_FLUSH, as mbsync sends a command: the empty static block
// after the data is incomplete (its end-of-block bits are still in the
// sender's buffer).
var partialFlush = []byte{0x4a, 0x56, 0xf0, 0xf3, 0xf7, 0x0f, 0xe0, 0xe5, 0x02, 0x08}

// TestPartialFlushIsReadAtOnce is the reason for this package: the command
// must be readable without waiting for more input.
func TestPartialFlushIsReadAtOnce(t *testing.T) {
	pr, pw := io.Pipe()
	defer pw.Close()
	go pw.Write(partialFlush)
	r := NewReader(pr)
	got := make(chan string, 1)
	go func() {
		b := make([]byte, 64)
		n, _ := r.Read(b)
		got <- string(b[:n])
	}()
	select {
	case s := <-got:
		if s != "c NOOP\r\n" {
			t.Fatalf("read %q", s)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the decompressor waits for more input after a partial flush")
	}
}

// TestRoundTrip checks the copy still inflates what compress/flate
// deflates, at every level, with sync flushes in between.
func TestRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var want bytes.Buffer
	for range 2000 {
		if rng.IntN(3) == 0 {
			for range rng.IntN(200) {
				want.WriteByte(byte(rng.IntN(256)))
			}
		} else {
			want.WriteString("a123 UID FETCH 1:* (FLAGS BODY.PEEK[HEADER.FIELDS (From Subject)])\r\n")
		}
	}
	for level := flate.HuffmanOnly; level <= flate.BestCompression; level++ {
		var comp bytes.Buffer
		w, _ := flate.NewWriter(&comp, level)
		data := want.Bytes()
		for len(data) > 0 {
			n := min(len(data), 1+rng.IntN(5000))
			w.Write(data[:n])
			w.Flush()
			data = data[n:]
		}
		w.Close()
		got, err := io.ReadAll(NewReader(&comp))
		if err != nil {
			t.Fatalf("level %d: %v", level, err)
		}
		if !bytes.Equal(got, want.Bytes()) {
			t.Fatalf("level %d: round trip differs", level)
		}
	}
}
