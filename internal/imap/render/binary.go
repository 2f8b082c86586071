package render

import (
	"errors"
	"io"

	"github.com/petrelmail/petrel/internal/message"
)

// ErrUnknownCTE is returned by DecodedReader and DecodedSize for a
// Content-Transfer-Encoding the server cannot decode; the server answers
// the FETCH with NO [UNKNOWN-CTE] (RFC 3516 section 4.2, RFC 9051 section
// 7.1).
var ErrUnknownCTE = errors.New("render: unknown content-transfer-encoding")

// BinaryPart locates the data of BINARY[part] and BINARY.SIZE[part] (RFC
// 3516 section 4.2, RFC 9051 section 6.4.5): the body of the part, still
// encoded, as raw[start:end], and the part whose Encoding DecodedReader is
// to undo. Part numbers are resolved as in Locate; ok is false when the
// part does not exist.
//
// Only the body of a leaf part is decoded. For BINARY[] (an empty part:
// the whole message) and for a multipart or message/rfc822 part, whose
// encoding can only be an identity one (RFC 2045 section 6.4), the range
// is sent as it is: p is then a copy of the part (of the root part for
// BINARY[]) with a nil Encoding, so that p is never nil when ok is true.
func BinaryPart(m *message.Meta, part []uint32) (p *message.Part, start, end int64, ok bool) {
	if m.Structure == nil || m.Size < 0 {
		return nil, 0, 0, false
	}
	if len(part) == 0 {
		return asIs(m.Structure), 0, m.Size, true
	}
	p, ok = findPart(m.Structure, part)
	if !ok {
		return nil, 0, 0, false
	}
	start, end = p.BodyStart, p.End
	if start < 0 || start > end || end > m.Size {
		return nil, 0, 0, false
	}
	if p.Type == "multipart" || p.Message != nil || isMessage(p) {
		p = asIs(p)
	}
	return p, start, end, true
}

// asIs returns a copy of p without Encoding: its data are not decoded.
func asIs(p *message.Part) *message.Part {
	q := *p
	q.Encoding = nil
	return &q
}

// cte is a Content-Transfer-Encoding the decoder knows.
type cte uint8

const (
	cteIdentity cte = iota // 7bit, 8bit, binary (RFC 2045 section 6.2)
	cteBase64              // RFC 2045 section 6.8
	cteQP                  // RFC 2045 section 6.7
	cteUnknown
)

// parseCTE maps a raw Content-Transfer-Encoding value to a decoder. A
// missing value, or one that does not start with a token, is 7bit, which
// is what AppendBodyStructure shows for it.
func parseCTE(enc []byte) cte {
	tok := bstr(cteToken(enc))
	switch {
	case tok == "", equalFoldASCII(tok, "7bit"), equalFoldASCII(tok, "8bit"), equalFoldASCII(tok, "binary"):
		return cteIdentity
	case equalFoldASCII(tok, "base64"):
		return cteBase64
	case equalFoldASCII(tok, "quoted-printable"):
		return cteQP
	}
	return cteUnknown
}

// DecodedReader returns a reader of the data of r, a part's body, with the
// Content-Transfer-Encoding encoding (the raw value, Part.Encoding)
// removed, for BINARY (RFC 3516 section 4.2):
//
//   - 7bit, 8bit, binary, or no encoding: r itself;
//   - base64 (RFC 2045 section 6.8), leniently: bytes outside the
//     alphabet (line breaks, blanks, junk) are skipped, missing padding is
//     tolerated, and a "=" ends a quantum, so that concatenated encodings
//     decode too; a lone trailing sextet is dropped;
//   - quoted-printable (RFC 2045 section 6.7), leniently: "=" followed by
//     two hex digits (either case) is the octet, "=" followed by blanks and
//     a line break (or the end) is a soft line break, any other "=" is
//     kept as is; blanks at the end of a line are removed; line breaks
//     (CRLF or LF) and every other octet are kept.
//
// Any other encoding is ErrUnknownCTE. Errors of r are returned by the
// reader once the data decoded before them has been read.
func DecodedReader(encoding []byte, r io.Reader) (io.Reader, error) {
	switch k := parseCTE(encoding); k {
	case cteIdentity:
		return r, nil
	case cteBase64, cteQP:
		return &decodeReader{src: r, kind: k}, nil
	}
	return nil, ErrUnknownCTE
}

// DecodedSize returns the number of octets DecodedReader(encoding, r)
// yields, for BINARY.SIZE (RFC 3516 section 4.2). For an identity encoding
// it is the size of r, which the caller may know without reading.
func DecodedSize(encoding []byte, r io.Reader) (int64, error) {
	d, err := DecodedReader(encoding, r)
	if err != nil {
		return 0, err
	}
	dr, ok := d.(*decodeReader)
	if !ok {
		return io.Copy(io.Discard, d)
	}
	// Count the decoded chunks without copying them out.
	var n int64
	for {
		if err := dr.fill(); err != nil {
			if err == io.EOF {
				err = nil
			}
			return n, err
		}
		n += int64(len(dr.out) - dr.off)
		dr.off = len(dr.out)
	}
}

// decodeChunk is the input read from the source at a time.
const decodeChunk = 4096

// maxBlanks bounds the blanks a quoted-printable decoder holds back while
// it cannot tell whether they end a line; longer runs are passed on.
const maxBlanks = 1024

// Quoted-printable decoder states.
const (
	qpText  = iota // in text; blanks in ws are held back
	qpCR           // after CR (blanks before it held back)
	qpEq           // after "="
	qpEqHex        // after "=" and a hex digit, in hex
	qpEqWS         // after "=" and blanks (held in ws)
	qpEqCR         // after "=", blanks (in ws) and CR
)

// decodeReader decodes base64 or quoted-printable from src.
type decodeReader struct {
	src  io.Reader
	kind cte
	buf  []byte // decodeChunk octets of input, then room for the output
	out  []byte // decoded data; out[off:] is not read yet
	off  int
	err  error // sticky error of src, io.EOF at its end

	// base64 state: n sextets in acc.
	acc uint32
	n   int

	// quoted-printable state.
	state int
	hex   byte
	ws    []byte
}

// Read implements io.Reader.
func (d *decodeReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	for d.off == len(d.out) {
		if err := d.fill(); err != nil {
			return 0, err
		}
	}
	n := copy(p, d.out[d.off:])
	d.off += n
	return n, nil
}

// fill decodes the next chunk of input into out. It returns the error of
// the source (io.EOF at its end) once everything was decoded, and
// io.ErrNoProgress if the source keeps returning nothing.
func (d *decodeReader) fill() error {
	if d.err != nil {
		return d.err
	}
	if d.buf == nil {
		// Room for the output of a chunk: base64 shrinks it, and
		// quoted-printable adds at most the blanks held back and an
		// incomplete escape.
		d.buf = make([]byte, 2*decodeChunk+maxBlanks+8)
	}
	in := d.buf[:decodeChunk]
	for idle := 0; idle < 100; {
		n, err := d.src.Read(in)
		if n == 0 && err == nil {
			idle++
			continue
		}
		idle = 0
		out := d.buf[decodeChunk:decodeChunk]
		if d.kind == cteBase64 {
			out = d.base64(out, in[:n])
		} else {
			out = d.qp(out, in[:n])
		}
		if err != nil {
			d.err = err
			if d.kind == cteBase64 {
				out = d.base64Flush(out)
			} else {
				out = d.qpFlush(out)
			}
		}
		d.out, d.off = out, 0
		if len(out) > 0 || err != nil {
			return nil
		}
	}
	d.err = io.ErrNoProgress
	return d.err
}

// base64Value maps an octet to its sextet (RFC 2045 section 6.8, Table 1),
// or 0xff.
var base64Value = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xff
	}
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	for i := 0; i < len(alphabet); i++ {
		t[alphabet[i]] = byte(i)
	}
	return t
}()

// base64 decodes in, appending to out.
func (d *decodeReader) base64(out, in []byte) []byte {
	acc, n := d.acc, d.n
	for _, c := range in {
		v := base64Value[c]
		if v == 0xff {
			if c == '=' {
				d.acc, d.n = acc, n
				out = d.base64Flush(out)
				acc, n = 0, 0
			}
			continue
		}
		acc = acc<<6 | uint32(v)
		n++
		if n == 4 {
			out = append(out, byte(acc>>16), byte(acc>>8), byte(acc))
			acc, n = 0, 0
		}
	}
	d.acc, d.n = acc, n
	return out
}

// base64Flush ends a quantum: 2 or 3 sextets give 1 or 2 octets (RFC 2045
// section 6.8, padding), a single one is dropped.
func (d *decodeReader) base64Flush(out []byte) []byte {
	switch d.n {
	case 2:
		out = append(out, byte(d.acc>>4))
	case 3:
		out = append(out, byte(d.acc>>10), byte(d.acc>>2))
	}
	d.acc, d.n = 0, 0
	return out
}

// unhex returns the value of a hex digit, or 0xff.
func unhex(c byte) byte {
	switch {
	case '0' <= c && c <= '9':
		return c - '0'
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10
	}
	return 0xff
}

// qp decodes quoted-printable in, appending to out (RFC 2045 section 6.7).
func (d *decodeReader) qp(out, in []byte) []byte {
	st := d.state
	for i := 0; i < len(in); i++ {
		c := in[i]
		switch st {
		case qpText:
			switch c {
			case ' ', '\t':
				// Rule 3: blanks at the end of a line are padding.
				if len(d.ws) >= maxBlanks {
					out = append(out, d.ws...)
					d.ws = d.ws[:0]
				}
				d.ws = append(d.ws, c)
			case '\r':
				st = qpCR
			case '\n':
				d.ws = d.ws[:0]
				out = append(out, '\n')
			case '=':
				out = append(out, d.ws...)
				d.ws = d.ws[:0]
				st = qpEq
			default:
				if len(d.ws) > 0 {
					out = append(out, d.ws...)
					d.ws = d.ws[:0]
				}
				// Copy the run of ordinary octets at once.
				j := i + 1
				for j < len(in) && qpPlain(in[j]) {
					j++
				}
				out = append(out, in[i:j]...)
				i = j - 1
			}
		case qpCR:
			st = qpText
			if c == '\n' {
				d.ws = d.ws[:0]
				out = append(out, '\r', '\n')
				continue
			}
			// A lone CR is data.
			out = append(out, d.ws...)
			d.ws = d.ws[:0]
			out = append(out, '\r')
			i--
		case qpEq:
			switch {
			case unhex(c) != 0xff:
				d.hex = c
				st = qpEqHex
			case c == ' ' || c == '\t':
				d.ws = append(d.ws, c)
				st = qpEqWS
			case c == '\r':
				st = qpEqCR
			case c == '\n':
				st = qpText // soft line break
			default:
				out = append(out, '=')
				st = qpText
				i--
			}
		case qpEqHex:
			st = qpText
			if v := unhex(c); v != 0xff {
				out = append(out, unhex(d.hex)<<4|v)
				continue
			}
			out = append(out, '=', d.hex)
			i--
		case qpEqWS:
			switch c {
			case ' ', '\t':
				if len(d.ws) < maxBlanks {
					d.ws = append(d.ws, c)
					continue
				}
			case '\r':
				st = qpEqCR
				continue
			case '\n':
				d.ws = d.ws[:0]
				st = qpText // soft line break, blanks after "=" ignored
				continue
			}
			out = append(out, '=')
			out = append(out, d.ws...)
			d.ws = d.ws[:0]
			st = qpText
			i--
		case qpEqCR:
			st = qpText
			if c == '\n' {
				d.ws = d.ws[:0] // soft line break
				continue
			}
			out = append(out, '=')
			out = append(out, d.ws...)
			d.ws = d.ws[:0]
			out = append(out, '\r')
			i--
		}
	}
	d.state = st
	return out
}

// qpPlain reports whether c is copied as is in text state.
func qpPlain(c byte) bool {
	return c != ' ' && c != '\t' && c != '\r' && c != '\n' && c != '='
}

// qpFlush ends quoted-printable data: trailing blanks and a final soft
// line break are dropped, an incomplete escape is kept as is.
func (d *decodeReader) qpFlush(out []byte) []byte {
	switch d.state {
	case qpCR:
		out = append(out, d.ws...)
		out = append(out, '\r')
	case qpEqHex:
		out = append(out, '=', d.hex)
	}
	d.ws = d.ws[:0]
	d.state = qpText
	return out
}
