package render

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"unicode/utf8"

	"github.com/petrelmail/petrel/internal/imap/wire"
	"github.com/petrelmail/petrel/internal/message"
)

// value is an IMAP response value: a list, NIL, a string or a number.
type value struct {
	kind byte // '(' list, 'N' NIL, 'S' string, '#' number
	s    string
	list []value
}

// reader reads values of RFC 9051 section 9 response syntax, strictly.
type reader struct {
	b    []byte
	utf8 bool
}

func (r *reader) fail(format string, args ...any) {
	panic(fmt.Sprintf("at %d: %s", len(r.b), fmt.Sprintf(format, args...)))
}

func (r *reader) value() value {
	if len(r.b) == 0 {
		r.fail("unexpected end")
	}
	switch c := r.b[0]; {
	case c == '(':
		r.b = r.b[1:]
		v := value{kind: '('}
		for {
			if len(r.b) > 0 && r.b[0] == ')' {
				r.b = r.b[1:]
				return v
			}
			if len(v.list) > 0 && !(v.list[len(v.list)-1].kind == '(' && r.b[0] == '(') {
				// Items are separated by one space, except the
				// bodies of a multipart (1*body).
				if r.b[0] != ' ' {
					r.fail("missing space")
				}
				r.b = r.b[1:]
			}
			v.list = append(v.list, r.value())
		}
	case c == 'N':
		if !bytes.HasPrefix(r.b, []byte("NIL")) {
			r.fail("bad atom")
		}
		r.b = r.b[3:]
		return value{kind: 'N'}
	case c == '"':
		var s []byte
		for i := 1; i < len(r.b); i++ {
			switch c := r.b[i]; {
			case c == '"':
				r.b = r.b[i+1:]
				if !utf8.Valid(s) || (!r.utf8 && bytes.ContainsFunc(s, func(r rune) bool { return r >= 0x80 })) {
					r.fail("8-bit quoted string %q", s)
				}
				return value{kind: 'S', s: string(s)}
			case c == '\\':
				i++
				if i >= len(r.b) || (r.b[i] != '"' && r.b[i] != '\\') {
					r.fail("bad escape")
				}
				s = append(s, r.b[i])
			case c == 0 || c == '\r' || c == '\n':
				r.fail("%q in quoted string", c)
			default:
				s = append(s, c)
			}
		}
		r.fail("unterminated quoted string")
	case c == '{':
		end := bytes.Index(r.b, []byte("}\r\n"))
		if end < 0 {
			r.fail("bad literal")
		}
		n, err := strconv.Atoi(string(r.b[1:end]))
		if err != nil || n < 0 || end+3+n > len(r.b) {
			r.fail("bad literal length")
		}
		s := r.b[end+3 : end+3+n]
		if bytes.IndexByte(s, 0) >= 0 {
			r.fail("NUL in literal")
		}
		r.b = r.b[end+3+n:]
		return value{kind: 'S', s: string(s)}
	case '0' <= c && c <= '9':
		i := 0
		for i < len(r.b) && '0' <= r.b[i] && r.b[i] <= '9' {
			i++
		}
		v := value{kind: '#', s: string(r.b[:i])}
		r.b = r.b[i:]
		return v
	}
	r.fail("unexpected %q", r.b[0])
	return value{}
}

// parseValue parses b as exactly one value.
func parseValue(b []byte, utf8 bool) (v value, err error) {
	defer func() {
		if e := recover(); e != nil {
			err = fmt.Errorf("%v", e)
		}
	}()
	r := &reader{b: b, utf8: utf8}
	v = r.value()
	if len(r.b) > 0 {
		return v, fmt.Errorf("trailing %q", r.b)
	}
	return v, nil
}

func isNString(v value) bool { return v.kind == 'N' || v.kind == 'S' }

// checkEnvelope checks RFC 9051 section 9 envelope.
func checkEnvelope(v value) error {
	if v.kind != '(' || len(v.list) != 10 {
		return fmt.Errorf("envelope is not a list of 10")
	}
	for i, f := range v.list {
		switch i {
		case 0, 1, 8, 9:
			if !isNString(f) {
				return fmt.Errorf("envelope field %d is not an nstring", i)
			}
		default:
			if f.kind == 'N' {
				continue
			}
			if f.kind != '(' || len(f.list) == 0 {
				return fmt.Errorf("address list %d", i)
			}
			for _, a := range f.list {
				if a.kind != '(' || len(a.list) != 4 {
					return fmt.Errorf("address in list %d", i)
				}
				for _, s := range a.list {
					if !isNString(s) {
						return fmt.Errorf("address field in list %d", i)
					}
				}
			}
		}
	}
	return nil
}

func checkParams(v value) bool {
	if v.kind == 'N' {
		return true
	}
	if v.kind != '(' || len(v.list) == 0 || len(v.list)%2 != 0 {
		return false
	}
	for _, s := range v.list {
		if s.kind != 'S' {
			return false
		}
	}
	return true
}

// checkExt checks body-fld-dsp SP body-fld-lang SP body-fld-loc.
func checkExt(l []value) error {
	if len(l) != 3 {
		return fmt.Errorf("%d extension fields", len(l))
	}
	if d := l[0]; d.kind != 'N' && (d.kind != '(' || len(d.list) != 2 || d.list[0].kind != 'S' || !checkParams(d.list[1])) {
		return fmt.Errorf("bad disposition")
	}
	if g := l[1]; g.kind == '(' {
		for _, s := range g.list {
			if s.kind != 'S' {
				return fmt.Errorf("bad language")
			}
		}
		if len(g.list) == 0 {
			return fmt.Errorf("empty language list")
		}
	} else if !isNString(g) {
		return fmt.Errorf("bad language")
	}
	if !isNString(l[2]) {
		return fmt.Errorf("bad location")
	}
	return nil
}

// checkBody checks RFC 9051 section 9 body, with extension data if ext.
func checkBody(v value, ext bool) error {
	if v.kind != '(' || len(v.list) == 0 {
		return fmt.Errorf("body is not a list")
	}
	l := v.list
	if l[0].kind == '(' {
		i := 0
		for i < len(l) && l[i].kind == '(' {
			if err := checkBody(l[i], ext); err != nil {
				return err
			}
			i++
		}
		if i >= len(l) || l[i].kind != 'S' {
			return fmt.Errorf("multipart without subtype")
		}
		l = l[i+1:]
		if !ext {
			if len(l) != 0 {
				return fmt.Errorf("extension data in BODY")
			}
			return nil
		}
		if len(l) != 4 || !checkParams(l[0]) {
			return fmt.Errorf("bad multipart extension data")
		}
		return checkExt(l[1:])
	}
	if len(l) < 7 || l[0].kind != 'S' || l[1].kind != 'S' || !checkParams(l[2]) ||
		!isNString(l[3]) || !isNString(l[4]) || l[5].kind != 'S' || l[6].kind != '#' {
		return fmt.Errorf("bad body-fields")
	}
	typ, sub := l[0].s, l[1].s
	l = l[7:]
	switch {
	case typ == "TEXT":
		if len(l) < 1 || l[0].kind != '#' {
			return fmt.Errorf("text without lines")
		}
		l = l[1:]
	case typ == "MESSAGE" && (sub == "RFC822" || sub == "GLOBAL"):
		if len(l) < 3 || l[2].kind != '#' {
			return fmt.Errorf("bad message part")
		}
		if err := checkEnvelope(l[0]); err != nil {
			return err
		}
		if err := checkBody(l[1], ext); err != nil {
			return err
		}
		l = l[3:]
	}
	if !ext {
		if len(l) != 0 {
			return fmt.Errorf("extension data in BODY")
		}
		return nil
	}
	if len(l) != 4 || !isNString(l[0]) {
		return fmt.Errorf("bad single-part extension data")
	}
	return checkExt(l[1:])
}

// sectionPart is a part reachable by a section-part.
type sectionPart struct {
	path []uint32
	part *message.Part
}

// numberParts lists the parts of the message rooted at root by their
// RFC 9051 section 6.4.5 numbers, at most limit of them.
func numberParts(root *message.Part, prefix []uint32, out []sectionPart, limit int) []sectionPart {
	if len(out) >= limit {
		return out
	}
	if root.Type != "multipart" {
		// A non-multipart message has part 1, its body.
		path := append(append([]uint32{}, prefix...), 1)
		out = append(out, sectionPart{path, root})
		if root.Message != nil {
			out = numberParts(root.Message, path, out, limit)
		}
		return out
	}
	for i, c := range root.Children {
		if len(out) >= limit {
			break
		}
		path := append(append([]uint32{}, prefix...), uint32(i+1))
		out = append(out, sectionPart{path, c})
		switch {
		case c.Type == "multipart":
			out = numberParts(c, path, out, limit)
		case c.Message != nil:
			out = numberParts(c.Message, path, out, limit)
		}
	}
	return out
}

func fuzzSeeds(f *testing.F) {
	for _, pattern := range []string{"testdata/*.eml", "../../message/testdata/*.eml"} {
		files, _ := filepath.Glob(pattern)
		for _, file := range files {
			raw, err := os.ReadFile(file)
			if err == nil && len(raw) < 64<<10 {
				f.Add(raw)
			}
		}
	}
	f.Add([]byte("Content-Type: multipart/mixed; boundary=a\n\n--a\nContent-Type: message/rfc822\n\nContent-Type: multipart/digest; boundary=b\n\n--b\n\n--b--\n--a--"))
	f.Add([]byte("Subject: \x00\xff\r\nContent-Type: text/plain; name=\"\x00\"\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n=4=\r"))
	f.Add([]byte("Content-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n\r\nContent-Type: multipart/x\r\n\r\n"))
}

// FuzzRender renders everything of arbitrary messages: the output must be
// well-formed IMAP and every section within the message.
func FuzzRender(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, raw []byte) {
		m := message.Parse(raw)
		size := int64(len(raw))

		for _, u := range []bool{false, true} {
			env := AppendEnvelope(nil, &m.Envelope, u)
			v, err := parseValue(env, u)
			if err == nil {
				err = checkEnvelope(v)
			}
			if err != nil {
				t.Fatalf("ENVELOPE utf8=%v: %v\n%q", u, err, env)
			}
		}
		for _, ext := range []bool{false, true} {
			bs := AppendBodyStructure(nil, m.Structure, ext)
			v, err := parseValue(bs, false)
			if err == nil {
				err = checkBody(v, ext)
			}
			if err != nil {
				t.Fatalf("BODYSTRUCTURE ext=%v: %v\n%q", ext, err, bs)
			}
		}

		// Whole-message sections.
		for _, text := range []string{"", "HEADER", "TEXT", "MIME", "HEADER.FIELDS"} {
			start, end, ok := Locate(m, &wire.Section{Text: text})
			if ok != (text != "MIME") || (ok && (start < 0 || start > end || end > size)) {
				t.Fatalf("BODY[%s] = %d, %d, %v (size %d)", text, start, end, ok, size)
			}
		}

		// Every numbered part, and a few that do not exist.
		parts := numberParts(m.Structure, nil, nil, 300)
		for _, sp := range parts {
			for _, text := range []string{"", "MIME", "HEADER", "TEXT"} {
				start, end, ok := Locate(m, &wire.Section{Part: sp.path, Text: text})
				if ok && (start < 0 || start > end || end > size) {
					t.Fatalf("BODY[%v.%s] = %d, %d outside %d", sp.path, text, start, end, size)
				}
				p := sp.part
				switch text {
				case "":
					if !ok || start != p.BodyStart || end != p.End {
						t.Fatalf("BODY[%v] = %d, %d, %v; want %d, %d", sp.path, start, end, ok, p.BodyStart, p.End)
					}
				case "MIME":
					if !ok || start != p.HeaderStart || end != p.BodyStart {
						t.Fatalf("BODY[%v.MIME] = %d, %d, %v; want %d, %d", sp.path, start, end, ok, p.HeaderStart, p.BodyStart)
					}
				default:
					if ok != (p.Message != nil) {
						t.Fatalf("BODY[%v.%s]: ok %v for part %s/%s", sp.path, text, ok, p.Type, p.Subtype)
					}
				}
			}
			for _, extra := range []uint32{1, 2, 1 << 31} {
				path := append(append([]uint32{}, sp.path...), extra)
				if start, end, ok := Locate(m, &wire.Section{Part: path}); ok && (start < 0 || start > end || end > size) {
					t.Fatalf("BODY[%v] = %d, %d outside %d", path, start, end, size)
				}
			}

			// BINARY and BINARY.SIZE agree.
			p, start, end, ok := BinaryPart(m, sp.path)
			if !ok || start < 0 || start > end || end > size {
				t.Fatalf("BINARY[%v] = %d, %d, %v", sp.path, start, end, ok)
			}
			if p == nil {
				t.Fatalf("BINARY[%v]: nil part", sp.path)
			}
			enc := p.Encoding
			d, err := DecodedReader(enc, bytes.NewReader(raw[start:end]))
			if err == ErrUnknownCTE {
				continue
			}
			data, err := io.ReadAll(d)
			if err != nil {
				t.Fatal(err)
			}
			n, err := DecodedSize(enc, bytes.NewReader(raw[start:end]))
			if err != nil || n != int64(len(data)) {
				t.Fatalf("BINARY.SIZE[%v] = %d, %v; decoded %d", sp.path, n, err, len(data))
			}
		}
		if _, _, ok := Locate(m, &wire.Section{Part: []uint32{uint32(len(parts) + 2)}}); ok && m.Structure.Type != "multipart" {
			t.Fatalf("part %d of a single-part message found", len(parts)+2)
		}

		// HEADER.FIELDS from the cache equals filtering the header.
		start, end, _ := Locate(m, &wire.Section{Text: "HEADER"})
		header := raw[start:end]
		for _, fields := range [][]string{
			{"Subject"}, {"From", "TO", "cc", "Date", "Message-ID", "References", "In-Reply-To"},
			{"content-type", "Content-Transfer-Encoding", "X-Priority", "List-ID"},
		} {
			want := FilterHeader(header, fields, false)
			if got, ok := CachedHeaderFields(m, fields); ok && !bytes.Equal(got, want) {
				t.Fatalf("cached %v:\n got %q\nwant %q", fields, got, want)
			}
			not := FilterHeader(header, fields, true)
			if len(want)+len(not)-4 > len(header)+2 || !bytes.HasSuffix(want, []byte("\r\n")) || !bytes.HasSuffix(not, []byte("\r\n")) {
				t.Fatalf("filter %v: %q + %q from %q", fields, want, not, header)
			}
		}
	})
}
