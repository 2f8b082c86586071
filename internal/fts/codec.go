package fts

import (
	"encoding/binary"
	"errors"
	"runtime"
	"sync"

	"github.com/klauspost/compress/zstd"
)

// The stored form of a Doc: a version byte, then the header, the fields
// and each body text as a uvarint length followed by the bytes, the whole
// compressed with zstd. Lengths rather than separators, so that a Doc
// comes back exactly as it was stored even when a decoded text holds a
// NUL byte.
const docVersion = 1

var errCorrupt = errors.New("fts: corrupt stored text")

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// marshalDoc returns the uncompressed encoding of d appended to b.
func marshalDoc(b []byte, d *Doc) []byte {
	b = append(b, docVersion)
	b = appendString(b, d.Header)
	b = appendString(b, d.Fields)
	b = binary.AppendUvarint(b, uint64(len(d.Body)))
	for _, t := range d.Body {
		b = appendString(b, t)
	}
	return b
}

func unmarshalDoc(b []byte) (Doc, error) {
	if len(b) == 0 || b[0] != docVersion {
		return Doc{}, errCorrupt
	}
	b = b[1:]
	str := func() (string, bool) {
		n, k := binary.Uvarint(b)
		if k <= 0 || n > uint64(len(b)-k) {
			return "", false
		}
		s := string(b[k : k+int(n)])
		b = b[k+int(n):]
		return s, true
	}
	var d Doc
	var ok bool
	if d.Header, ok = str(); !ok {
		return Doc{}, errCorrupt
	}
	if d.Fields, ok = str(); !ok {
		return Doc{}, errCorrupt
	}
	n, k := binary.Uvarint(b)
	if k <= 0 || n > uint64(len(b)) {
		return Doc{}, errCorrupt
	}
	b = b[k:]
	if n > 0 {
		d.Body = make([]string, n)
	}
	for i := range d.Body {
		if d.Body[i], ok = str(); !ok {
			return Doc{}, errCorrupt
		}
	}
	if len(b) != 0 {
		return Doc{}, errCorrupt
	}
	return d, nil
}

var (
	zOnce sync.Once
	zEnc  *zstd.Encoder
	zDec  *zstd.Decoder
)

func zstdCodec() (*zstd.Encoder, *zstd.Decoder) {
	zOnce.Do(func() {
		var err error
		// EncodeAll and DecodeAll are safe for concurrent use, as many
		// at once as the concurrency (here one per CPU). A block is
		// about 64 KB (textBlockRaw), so a 128 KB window loses nothing
		// against the encoder's default one: the same compressed size on this
		// corpus's blocks, 10–15 % faster in a micro-benchmark (less
		// history to set up per EncodeAll).
		zEnc, err = zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedDefault), zstd.WithEncoderConcurrency(runtime.GOMAXPROCS(0)),
			zstd.WithWindowSize(1<<17), zstd.WithLowerEncoderMem(true))
		if err != nil {
			panic(err)
		}
		zDec, err = zstd.NewReader(nil, zstd.WithDecoderConcurrency(0), zstd.WithDecoderMaxMemory(1<<31))
		if err != nil {
			panic(err)
		}
	})
	return zEnc, zDec
}

// encodeDoc returns the stored (compressed) form of d.
func encodeDoc(d *Doc) []byte {
	enc, _ := zstdCodec()
	raw := marshalDoc(make([]byte, 0, d.Size()+16+2*len(d.Body)), d)
	return enc.EncodeAll(raw, make([]byte, 0, len(raw)/3+64))
}

// decodeDoc returns the Doc of its stored form; buf is scratch space it
// may reuse, returned grown.
func decodeDoc(stored, buf []byte) (Doc, []byte, error) {
	_, dec := zstdCodec()
	raw, err := dec.DecodeAll(stored, buf[:0])
	if err != nil {
		return Doc{}, buf, errCorrupt
	}
	d, err := unmarshalDoc(raw)
	return d, raw, err
}
