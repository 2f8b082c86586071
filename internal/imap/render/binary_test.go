package render

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/petrelmail/petrel/internal/message"
)

// decode decodes s with encoding enc, reading through r's wrapper.
func decode(t *testing.T, enc, s string, wrap func(io.Reader) io.Reader) (string, error) {
	t.Helper()
	d, err := DecodedReader([]byte(enc), wrap(strings.NewReader(s)))
	if err != nil {
		return "", err
	}
	out, err := io.ReadAll(d)
	return string(out), err
}

var readers = map[string]func(io.Reader) io.Reader{
	"plain":    func(r io.Reader) io.Reader { return r },
	"one byte": iotest.OneByteReader,
	"data+EOF": iotest.DataErrReader,
	"half":     iotest.HalfReader,
}

func TestDecodeBase64(t *testing.T) {
	tests := []struct{ in, want string }{
		{"SGVsbG8sIHdvcmxkIQ==", "Hello, world!"},
		{"SGVs\r\nbG8s\r\nIHdv\r\ncmxk\r\nIQ==\r\n", "Hello, world!"},
		{"SGVsbG8sIHdvcmxkIQ", "Hello, world!"},         // missing padding
		{"SGVsbG8sIHdvcmxkIQ=", "Hello, world!"},        // short padding
		{" SGVs bG8s\tIHdv*cmxk!IQ==", "Hello, world!"}, // junk skipped
		{"SGVsbG8=LCB3b3JsZCE=", "Hello, world!"},       // concatenated
		{"SGVsbG8sIHdvcmxkIQ==\r\n\r\n-- \r\n", "Hello, world!"},
		{"QUJD", "ABC"},
		{"QUI", "AB"},
		{"QQ", "A"},
		{"Q", ""}, // a lone sextet is no octet
		{"", ""},
		{"====", ""},
		{"JVBERi0xLjQK\r\nJcOkw7zDtsOfCg==", "%PDF-1.4\n%\xc3\xa4\xc3\xbc\xc3\xb6\xc3\x9f\n"},
		{strings.Repeat("QUJD", 5000), strings.Repeat("ABC", 5000)},
	}
	for name, wrap := range readers {
		for _, tt := range tests {
			got, err := decode(t, "base64", tt.in, wrap)
			if err != nil || got != tt.want {
				t.Errorf("%s: base64 %.40q = %.40q, %v; want %.40q", name, tt.in, got, err, tt.want)
			}
		}
	}
}

func TestDecodeQuotedPrintable(t *testing.T) {
	tests := []struct{ in, want string }{
		{"Caf=C3=A9 du =\r\ncoin.", "Café du coin."},
		{"caf=c3=a9", "café"},                        // lowercase hex
		{"a=\nb", "ab"},                              // soft break with LF
		{"a= \t\r\nb", "ab"},                         // blanks after "=" before a soft break
		{"line  \r\nnext\t\r\n", "line\r\nnext\r\n"}, // transport padding removed
		{"line  \nnext", "line\nnext"},
		{"a  b", "a  b"},
		{"trailing  ", "trailing"},
		{"end=", "end"}, // soft break at the end
		{"end= ", "end"},
		{"end=\r", "end"},
		{"x=4", "x=4"}, // incomplete escape kept
		{"x=4g", "x=4g"},
		{"x=zz=", "x=zz"},        // invalid escape kept
		{"1 = 2", "1 = 2"},       // "=" followed by a blank and text
		{"a=\r b", "a=\r b"},     // "=" CR without LF
		{"lone\rcr", "lone\rcr"}, // a lone CR is data
		{"sp \rx", "sp \rx"},
		{"8bit: \xe9\x00", "8bit: \xe9\x00"},
		{"=3D=20=\r\n=0D=0A", "= \r\n"},
		{"", ""},
		{strings.Repeat(" ", 3000) + "x", strings.Repeat(" ", 3000) + "x"},
		{strings.Repeat(" ", 3000) + "\r\n", strings.Repeat(" ", 2*maxBlanks) + "\r\n"}, // runs past maxBlanks are passed on
		{"=" + strings.Repeat(" ", 2000) + "x", "=" + strings.Repeat(" ", 2000) + "x"},
		{strings.Repeat("=41", 5000), strings.Repeat("A", 5000)},
	}
	for name, wrap := range readers {
		for _, tt := range tests {
			got, err := decode(t, "Quoted-Printable", tt.in, wrap)
			if err != nil || got != tt.want {
				t.Errorf("%s: qp %.40q = %.40q (%d), %v; want %.40q (%d)", name, tt.in, got, len(got), err, tt.want, len(tt.want))
			}
		}
	}
}

func TestDecodeIdentityAndUnknown(t *testing.T) {
	for _, enc := range []string{"", "7bit", "8BIT", "Binary", " binary (raw)", "(comment) 7bit", "@junk"} {
		r := strings.NewReader("=41 raw")
		d, err := DecodedReader([]byte(enc), r)
		if err != nil || d != io.Reader(r) {
			t.Errorf("%q: %v, %v; want the reader itself", enc, d, err)
		}
	}
	if d, err := DecodedReader(nil, strings.NewReader("x")); err != nil || d == nil {
		t.Errorf("nil encoding: %v", err)
	}
	for _, enc := range []string{"x-uuencode", "base-64", "quoted-printables", "gzip"} {
		if _, err := DecodedReader([]byte(enc), strings.NewReader("x")); err != ErrUnknownCTE {
			t.Errorf("%q: err %v, want ErrUnknownCTE", enc, err)
		}
		if _, err := DecodedSize([]byte(enc), strings.NewReader("x")); err != ErrUnknownCTE {
			t.Errorf("%q: DecodedSize err %v, want ErrUnknownCTE", enc, err)
		}
	}
}

func TestDecodedSize(t *testing.T) {
	for _, c := range []struct {
		enc, in string
		want    int64
	}{
		{"base64", "SGVsbG8sIHdvcmxkIQ==", 13},
		{"base64", strings.Repeat("QUJD\r\n", 3000), 9000},
		{"quoted-printable", "Caf=C3=A9 du =\r\ncoin.", 14},
		{"7bit", "hello", 5},
	} {
		n, err := DecodedSize([]byte(c.enc), strings.NewReader(c.in))
		if err != nil || n != c.want {
			t.Errorf("%s %.20q: %d, %v; want %d", c.enc, c.in, n, err, c.want)
		}
	}
	// A read error is returned, after the data decoded before it.
	boom := errors.New("boom")
	r := io.MultiReader(strings.NewReader("QUJD"), iotest.ErrReader(boom))
	if n, err := DecodedSize([]byte("base64"), r); err != boom || n != 3 {
		t.Errorf("read error: %d, %v", n, err)
	}
	d, _ := DecodedReader([]byte("base64"), io.MultiReader(strings.NewReader("QUJD"), iotest.ErrReader(boom)))
	if got, err := io.ReadAll(d); string(got) != "ABC" || err != boom {
		t.Errorf("read error: %q, %v", got, err)
	}
}

// stall is a reader that never makes progress.
type stall struct{}

func (stall) Read([]byte) (int, error) { return 0, nil }

func TestDecodeNoProgress(t *testing.T) {
	d, _ := DecodedReader([]byte("base64"), stall{})
	if _, err := d.Read(make([]byte, 10)); err != io.ErrNoProgress {
		t.Errorf("err %v, want io.ErrNoProgress", err)
	}
	if n, err := d.Read(nil); n != 0 || err != nil {
		t.Errorf("empty read: %d, %v", n, err)
	}
}

func TestBinaryPart(t *testing.T) {
	raw, m := fixture(t, "mixed.eml")
	tests := []struct {
		part    []uint32
		decoded string
		leaf    bool // else sent as is
		ok      bool
	}{
		{nil, string(raw), false, true},
		{[]uint32{1}, "Forwarded message and report below.", true, true},
		{[]uint32{2}, fwdHeader + fwdText, false, true}, // message/rfc822: as is
		{[]uint32{2, 2}, "<p>Shall we have lunch?</p>", true, true},
		{[]uint32{3}, relatedBody, false, true}, // multipart: as is
		{[]uint32{3, 2}, "\x89PNG\r\n\x1a\n", true, true},
		{[]uint32{4}, "%PDF-1.4\n%\xc3\xa4\xc3\xbc\xc3\xb6\xc3\x9f\n", true, true},
		{[]uint32{5}, "", false, false},
		{[]uint32{3, 3}, "", false, false},
	}
	for _, tt := range tests {
		p, start, end, ok := BinaryPart(m, tt.part)
		if ok != tt.ok || (ok && p == nil) {
			t.Errorf("%v: part %v, ok %v", tt.part, p, ok)
			continue
		}
		if !ok {
			continue
		}
		if !tt.leaf && p.Encoding != nil {
			t.Errorf("%v: encoding %q for data sent as is", tt.part, p.Encoding)
		}
		enc := p.Encoding
		d, err := DecodedReader(enc, bytes.NewReader(raw[start:end]))
		if err != nil {
			t.Fatalf("%v: %v", tt.part, err)
		}
		got, _ := io.ReadAll(d)
		if string(got) != tt.decoded {
			t.Errorf("BINARY[%v] = %q, want %q", tt.part, got, tt.decoded)
		}
		if n, _ := DecodedSize(enc, bytes.NewReader(raw[start:end])); n != int64(len(tt.decoded)) {
			t.Errorf("BINARY.SIZE[%v] = %d, want %d", tt.part, n, len(tt.decoded))
		}
	}

	// The QP part of alternative.eml, and the empty child of a multipart
	// without boundary.
	raw, m = fixture(t, "alternative.eml")
	p, start, end, ok := BinaryPart(m, []uint32{1})
	d, _ := DecodedReader(p.Encoding, bytes.NewReader(raw[start:end]))
	if got, _ := io.ReadAll(d); !ok || string(got) != "Shall we have lunch at noon? Café du coin." {
		t.Errorf("BINARY[1] of alternative.eml = %q", got)
	}
	_, m = fixture(t, "noboundary.eml")
	if p, start, end, ok := BinaryPart(m, []uint32{1}); !ok || p == nil || start != end {
		t.Errorf("BINARY[1] of a multipart without children: %v %d %d %v", p, start, end, ok)
	}
	// A message declaring a transfer encoding for its multipart is sent
	// as is, and the tree is not changed.
	m = message.Parse([]byte("Content-Type: multipart/mixed; boundary=b\r\nContent-Transfer-Encoding: base64\r\n\r\n--b\r\n\r\nx\r\n--b--\r\n"))
	if p, _, _, ok := BinaryPart(m, nil); !ok || p.Encoding != nil || m.Structure.Encoding == nil {
		t.Errorf("BINARY[] of a base64 multipart: %v, %v", p, ok)
	}
}
