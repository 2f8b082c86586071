package message

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// flatten maps part paths to parts: "" is the root, "1.2" the second child
// of the first child, and "/m" appended to a path the root of the message
// encapsulated in that part.
func flatten(p *Part) map[string]*Part {
	out := map[string]*Part{}
	var walk func(p *Part, path string)
	walk = func(p *Part, path string) {
		out[path] = p
		for i, c := range p.Children {
			cp := fmt.Sprint(i + 1)
			if path != "" {
				cp = path + "." + cp
			}
			walk(c, cp)
		}
		if p.Message != nil {
			walk(p.Message, path+"/m")
		}
	}
	walk(p, "")
	return out
}

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// wantPart describes the expected part at a path.
type wantPart struct {
	path   string
	typ    string // "type/subtype"
	header string // raw[HeaderStart:BodyStart]; "-" to skip
	body   string // raw[BodyStart:End]
	lines  int64  // -1 to skip
}

// addr builds an Address; "NIL" stands for nil.
func addr(name, route, mailbox, host string) Address {
	f := func(s string) []byte {
		if s == "NIL" {
			return nil
		}
		return []byte(s)
	}
	return Address{f(name), f(route), f(mailbox), f(host)}
}

func bs(s string) []byte { return []byte(s) }

type fixtureTest struct {
	file    string
	raw     []byte // generated fixtures
	nparts  int
	parts   []wantPart
	preview string
	check   func(t *testing.T, raw []byte, m *Meta)
}

func fixtureTests() []fixtureTest {
	return []fixtureTest{
		{
			file:   "simple.eml",
			nparts: 1,
			parts: []wantPart{
				{"", "text/plain", "-", "Hi Bob,\r\n\r\nthis is a simple message.\r\n", 3},
			},
			preview: "Hi Bob, this is a simple message.",
			check: func(t *testing.T, raw []byte, m *Meta) {
				e := m.Envelope
				eq(t, "date", e.Date, bs("Mon, 7 Feb 1994 21:52:25 -0800 (PST)"))
				eq(t, "subject", e.Subject, bs("Hello world"))
				eq(t, "from", e.From, []Address{addr("Alice Example", "NIL", "alice", "example.org")})
				eq(t, "sender", e.Sender, e.From)
				eq(t, "reply-to", e.ReplyTo, e.From)
				eq(t, "to", e.To, []Address{addr("Bob", "NIL", "bob", "example.com"), addr("NIL", "NIL", "carol", "example.net")})
				eq(t, "cc", e.Cc, []Address(nil))
				eq(t, "in-reply-to", e.InReplyTo, []byte(nil))
				eq(t, "message-id", e.MessageID, bs("<B27397-0100000@example.org>"))
				eq(t, "params", m.Structure.Params, []Param{{"CHARSET", "US-ASCII"}})
				// Return-Path is not a cached field; the rest are.
				eq(t, "header", m.Header, raw[len("Return-Path: <alice@example.org>\r\n"):294])
				eq(t, "truncated", m.HeaderTruncated, false)
			},
		},
		{
			file:   "alternative.eml",
			nparts: 3,
			parts: []wantPart{
				{"", "multipart/alternative", "-", "-", -1},
				{"1", "text/plain", "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 7bit\r\n\r\n", "Shall we have lunch at noon?", 1},
				{"2", "text/html", "Content-Type: text/html; charset=utf-8\r\n\r\n", "<p>Shall we have <b>lunch</b> at noon?</p>", 1},
			},
			preview: "Shall we have lunch at noon?",
			check: func(t *testing.T, raw []byte, m *Meta) {
				e := m.Envelope
				eq(t, "from", e.From, []Address{addr("Smith, John", "NIL", "john", "example.com")})
				eq(t, "sender", e.Sender, []Address{addr("NIL", "NIL", "list-bounces", "lists.example.com")})
				eq(t, "reply-to", e.ReplyTo, []Address{addr("NIL", "NIL", "list", "lists.example.com")})
				eq(t, "cc", e.Cc, []Address{addr("Q. Public", "NIL", "q", "example.com")})
				eq(t, "in-reply-to", e.InReplyTo, bs("<prev@example.com>"))
				eq(t, "encoding", m.Structure.Children[0].Encoding, bs("7bit"))
				eq(t, "no encoding", m.Structure.Children[1].Encoding, []byte(nil))
				eq(t, "boundary", m.Structure.Params, []Param{{"boundary", "b1"}})
			},
		},
		{
			file:   "mixed_attachment.eml",
			nparts: 3,
			parts: []wantPart{
				{"", "multipart/mixed", "-", "-", 0},
				{"1", "text/plain", "-", "See the attached report.\r\n", 1},
				{"2", "application/pdf", "-", "JVBERi0xLjQKJcOkw7zDtsOfCg==", 0},
			},
			preview: "See the attached report.",
			check: func(t *testing.T, raw []byte, m *Meta) {
				eq(t, "boundary", m.Structure.Params, []Param{{"boundary", "----=_Part_0_1"}})
				p := m.Structure.Children[1]
				eq(t, "params", p.Params, []Param{{"name", "report 2025.pdf"}})
				eq(t, "disposition", p.Disposition, "attachment")
				eq(t, "disp params", p.DispositionParams, []Param{{"filename", "report 2025.pdf"}, {"size", "12"}})
				eq(t, "id", p.ID, bs("<part1@example.org>"))
				eq(t, "description", p.Description, bs("Yearly report"))
				eq(t, "encoding", p.Encoding, bs("base64"))
				eq(t, "language", p.Language, [][]byte{bs("en"), bs("fr")})
				eq(t, "location", p.Location, bs("http://example.org/report.pdf"))
				eq(t, "md5", p.MD5, bs("Q2hlY2sgSW50ZWdyaXR5IQ=="))
			},
		},
		{
			file:   "nested_rfc822.eml",
			nparts: 6,
			parts: []wantPart{
				{"", "multipart/mixed", "-", "-", 0},
				{"1", "text/plain", "Content-Type: text/plain\r\n\r\n", "Forwarded message below.", 1},
				{"2", "message/rfc822", "Content-Type: message/rfc822\r\n\r\n", "-", 15},
				{"2/m", "multipart/alternative", "-", "-", 0},
				{"2/m.1", "text/plain", "-", "Shall we have lunch?", 1},
				{"2/m.2", "text/html", "-", "<p>Shall we have lunch?</p>", 1},
			},
			preview: "Forwarded message below.",
			check: func(t *testing.T, raw []byte, m *Meta) {
				p := m.Structure.Children[1]
				if p.Message.HeaderStart != p.BodyStart || p.Message.End != p.End {
					t.Errorf("message root %d-%d, want %d-%d", p.Message.HeaderStart, p.Message.End, p.BodyStart, p.End)
				}
				if !bytes.HasPrefix(raw[p.BodyStart:], bs("From: \"Smith")) || !bytes.HasSuffix(raw[:p.End], bs("--inner--\r\n")) {
					t.Errorf("message body %q", raw[p.BodyStart:p.End])
				}
				e := p.MessageEnvelope
				eq(t, "inner subject", e.Subject, bs("Lunch?"))
				eq(t, "inner from", e.From, []Address{addr("Smith, John", "NIL", "john", "example.com")})
				eq(t, "inner message-id", e.MessageID, bs("<alt1@example.com>"))
				eq(t, "outer subject", m.Envelope.Subject, bs("Fwd: Lunch?"))
			},
		},
		{
			file:    "groups.eml",
			nparts:  1,
			preview: "body",
			check: func(t *testing.T, raw []byte, m *Meta) {
				e := m.Envelope
				end := addr("NIL", "NIL", "NIL", "NIL")
				eq(t, "to", e.To, []Address{addr("NIL", "NIL", "undisclosed-recipients", "NIL"), end})
				eq(t, "cc", e.Cc, []Address{
					addr("NIL", "NIL", "Friends", "NIL"),
					addr("NIL", "NIL", "bob", "example.com"),
					addr("Carol C.", "NIL", "carol", "example.net"),
					end,
					addr("NIL", "NIL", "dave", "example.com"),
				})
				eq(t, "bcc (unclosed group)", e.Bcc, []Address{addr("NIL", "NIL", "Team", "NIL"), addr("NIL", "NIL", "eve", "example.com"), end})
			},
		},
		{
			file:    "encoded_subject.eml",
			nparts:  1,
			preview: "Encoded words stay raw.",
			check: func(t *testing.T, raw []byte, m *Meta) {
				e := m.Envelope
				eq(t, "subject", e.Subject, bs("=?ISO-8859-1?B?SWYgeW91IGNhbiByZWFkIHRoaXMgeW8=?= =?ISO-8859-2?B?dSB1bmRlcnN0YW5kIHRoZSBleGFtcGxlLg==?="))
				eq(t, "from", e.From, []Address{addr("=?UTF-8?B?SsO2cmc=?=", "NIL", "joerg", "example.de")})
				eq(t, "to", e.To, []Address{addr("=?ISO-8859-1?Q?Andr=E9?= Pirard", "NIL", "PIRARD", "vm1.ulg.ac.be")})
			},
		},
		{
			file:    "qp.eml",
			nparts:  1,
			parts:   []wantPart{{"", "text/plain", "-", "Caf=C3=A9 cr=C3=A8me, a very long line that was wrapped by the encoder so=\r\nft break here, and =3D an equals sign.\r\n", 2}},
			preview: "Café crème, a very long line that was wrapped by the encoder soft break here, and = an equals sign.",
		},
		{
			file:    "base64.eml",
			nparts:  1,
			parts:   []wantPart{{"", "text/plain", "-", "SMOpbGxvIHfDtnJsZCwgdGhpcyBpcyBiYXNlNjQh\r\nIOKCrCAxMDA=\r\n", 2}},
			preview: "Héllo wörld, this is base64! € 100",
		},
		{
			file:    "latin1.eml",
			nparts:  1,
			preview: "Grüße aus München, ça coûte 10 €.",
		},
		{
			file:    "html_only.eml",
			nparts:  1,
			parts:   []wantPart{{"", "text/html", "-", "-", 4}},
			preview: "Big news Café & tea <today> Bye",
		},
		{
			file:   "bare_lf.eml",
			nparts: 3,
			parts: []wantPart{
				{"", "multipart/mixed", "From: lf@example.org\nSubject: bare LF\nContent-Type: multipart/mixed; boundary=lf\n\n", "-", 0},
				{"1", "text/plain", "Content-Type: text/plain\n\n", "line one\nline two", 2},
				{"2", "text/plain", "Content-Type: text/plain\n\n", "second", 1},
			},
			preview: "line one line two",
		},
		{
			file:   "no_blank_line.eml",
			nparts: 1,
			parts: []wantPart{
				{"", "text/plain", "From: a@example.org\r\nSubject: no separator\r\n", "This line is not a header.\r\nSecond body line.\r\n", 2},
			},
			preview: "This line is not a header. Second body line.",
			check: func(t *testing.T, raw []byte, m *Meta) {
				eq(t, "subject", m.Envelope.Subject, bs("no separator"))
			},
		},
		{
			file:   "no_header.eml",
			nparts: 1,
			parts: []wantPart{
				{"", "text/plain", "", "Just some text\r\nwithout: any header above\r\n", 2},
			},
			preview: "Just some text without: any header above",
			check: func(t *testing.T, raw []byte, m *Meta) {
				eq(t, "header", m.Header, []byte(nil))
				eq(t, "envelope", m.Envelope, Envelope{})
			},
		},
		{
			file:   "nul.eml",
			nparts: 1,
			parts: []wantPart{
				{"", "text/plain", "-", "before\x00after\r\n\x00\r\n", 2},
			},
			preview: "before after",
			check: func(t *testing.T, raw []byte, m *Meta) {
				eq(t, "subject", m.Envelope.Subject, bs("nul\x00byte"))
			},
		},
		{
			file:   "eight_bit_header.eml",
			nparts: 1,
			parts: []wantPart{
				{"", "text/plain", "-", "k\xf6rper\r\n", 1},
			},
			preview: "körper", // undeclared 8-bit: read as windows-1252
			check: func(t *testing.T, raw []byte, m *Meta) {
				eq(t, "subject", m.Envelope.Subject, bs("Gr\xfc\xdfe \xe2\x82\xac"))
				eq(t, "from", m.Envelope.From, []Address{addr("J\xf6rg M\xfcller", "NIL", "joerg", "example.de")})
			},
		},
		{
			file:   "missing_close.eml",
			nparts: 3,
			parts: []wantPart{
				{"", "multipart/mixed", "-", "-", 0},
				{"1", "text/plain", "-", "first", 1},
				{"2", "text/plain", "-", "second part runs to the end\r\n", 1},
			},
			preview: "first",
		},
		{
			file:    "gen:many_headers",
			raw:     manyHeaders(),
			nparts:  1,
			parts:   []wantPart{{"", "text/plain", "-", "the body\r\n", 1}},
			preview: "the body",
			check: func(t *testing.T, raw []byte, m *Meta) {
				eq(t, "truncated", m.HeaderTruncated, false)
				eq(t, "header", m.Header, bs("Subject: first\r\nFrom: last@example.org\r\nSubject: second\r\n"))
				eq(t, "subject", m.Envelope.Subject, bs("first"))
				eq(t, "from", m.Envelope.From, []Address{addr("NIL", "NIL", "last", "example.org")})
			},
		},
		{
			file:    "gen:deep_nesting",
			raw:     deepNesting(200),
			nparts:  MaxDepth + 1,
			preview: "",
			check: func(t *testing.T, raw []byte, m *Meta) {
				p := m.Structure
				for d := 0; d < MaxDepth; d++ {
					if len(p.Children) != 1 {
						t.Fatalf("depth %d: %d children", d, len(p.Children))
					}
					p = p.Children[0]
				}
				if p.Type != "multipart" || p.Children != nil {
					t.Fatalf("part at MaxDepth: %s/%s with %d children, want a multipart leaf", p.Type, p.Subtype, len(p.Children))
				}
				if !bytes.HasPrefix(raw[p.BodyStart:p.End], bs("--b100\r\n")) {
					t.Errorf("leaf body %q", raw[p.BodyStart:min(p.End, p.BodyStart+40)])
				}
			},
		},
	}
}

// manyHeaders is a message with 10,000 header lines (well over
// MaxStoredHeader bytes of header).
func manyHeaders() []byte {
	var b bytes.Buffer
	b.WriteString("Subject: first\r\n")
	for i := 0; i < 9998; i++ {
		fmt.Fprintf(&b, "X-Filler-%05d: some value to fill the header\r\n", i)
	}
	b.WriteString("From: last@example.org\r\nSubject: second\r\n\r\nthe body\r\n")
	return b.Bytes()
}

// deepNesting is a message of n nested multipart/mixed parts.
func deepNesting(n int) []byte {
	var b bytes.Buffer
	b.WriteString("From: deep@example.org\r\nContent-Type: multipart/mixed; boundary=b0\r\n\r\n")
	for i := 1; i < n; i++ {
		fmt.Fprintf(&b, "--b%d\r\nContent-Type: multipart/mixed; boundary=b%d\r\n\r\n", i-1, i)
	}
	fmt.Fprintf(&b, "--b%d\r\nContent-Type: text/plain\r\n\r\ndeepest\r\n", n-1)
	for i := n - 1; i >= 0; i-- {
		fmt.Fprintf(&b, "--b%d--\r\n", i)
	}
	return b.Bytes()
}

func eq(t *testing.T, what string, got, want any) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s = %#v, want %#v", what, got, want)
	}
}

func TestParseFixtures(t *testing.T) {
	for _, tc := range fixtureTests() {
		t.Run(tc.file, func(t *testing.T) {
			raw := tc.raw
			if raw == nil {
				raw = readFixture(t, tc.file)
			}
			m := Parse(raw)
			checkInvariants(t, raw, m)
			if m.Size != int64(len(raw)) {
				t.Errorf("Size = %d, want %d", m.Size, len(raw))
			}
			parts := flatten(m.Structure)
			if len(parts) != tc.nparts {
				t.Errorf("%d parts, want %d", len(parts), tc.nparts)
			}
			for _, w := range tc.parts {
				p := parts[w.path]
				if p == nil {
					t.Errorf("no part %q", w.path)
					continue
				}
				if got := p.Type + "/" + p.Subtype; got != w.typ {
					t.Errorf("part %q: type %s, want %s", w.path, got, w.typ)
				}
				if w.header != "-" {
					if got := string(raw[p.HeaderStart:p.BodyStart]); got != w.header {
						t.Errorf("part %q: header %q, want %q", w.path, got, w.header)
					}
				}
				if w.body != "-" {
					if got := string(raw[p.BodyStart:p.End]); got != w.body {
						t.Errorf("part %q: body %q, want %q", w.path, got, w.body)
					}
				}
				if w.lines >= 0 && p.Lines != w.lines {
					t.Errorf("part %q: %d lines, want %d", w.path, p.Lines, w.lines)
				}
			}
			if m.Preview != tc.preview {
				t.Errorf("preview %q, want %q", m.Preview, tc.preview)
			}
			if tc.check != nil {
				tc.check(t, raw, m)
			}
		})
	}
}

// TestParseEdgeCases covers MIME boundary corner cases on inline messages.
func TestParseEdgeCases(t *testing.T) {
	tests := []struct {
		name   string
		raw    string
		bodies map[string]string // path -> raw[BodyStart:End]
		types  map[string]string // path -> type/subtype
		nparts int
	}{
		{
			name:   "boundary with trailing blanks and close with padding",
			raw:    "Content-Type: multipart/mixed; boundary=x\r\n\r\n--x  \t\r\n\r\none\r\n--x\r\n\r\ntwo\r\n--x-- \r\nepilogue",
			bodies: map[string]string{"1": "one", "2": "two"},
			nparts: 3,
		},
		{
			name:   "boundary prefix of a longer line is not a boundary",
			raw:    "Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\n\r\n--xy\r\n--x-y\r\n--x--",
			bodies: map[string]string{"1": "--xy\r\n--x-y"},
			nparts: 2,
		},
		{
			name: "nested boundary sharing a prefix",
			raw: "Content-Type: multipart/mixed; boundary=\"=_a\"\r\n\r\n--=_a\r\nContent-Type: multipart/alternative; boundary=\"=_a_b\"\r\n\r\n" +
				"--=_a_b\r\n\r\nplain\r\n--=_a_b\r\nContent-Type: text/html\r\n\r\nhtml\r\n--=_a_b--\r\n--=_a\r\n\r\nlast\r\n--=_a--\r\n",
			bodies: map[string]string{"1.1": "plain", "1.2": "html", "2": "last"},
			types:  map[string]string{"1": "multipart/alternative", "1.2": "text/html"},
			nparts: 5,
		},
		{
			name:   "adjacent boundaries give an empty part",
			raw:    "Content-Type: multipart/mixed; boundary=x\n\n--x\n--x\n\nb\n--x--\n",
			bodies: map[string]string{"1": "", "2": "b"},
			nparts: 3,
		},
		{
			name:   "boundary at end of data without line end",
			raw:    "Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\n\r\nbody\r\n--x--",
			bodies: map[string]string{"1": "body"},
			nparts: 2,
		},
		{
			name:   "multipart without boundary parameter is a leaf",
			raw:    "Content-Type: multipart/mixed\r\n\r\n--x\r\n\r\nbody\r\n",
			types:  map[string]string{"": "multipart/mixed"},
			nparts: 1,
		},
		{
			name:   "multipart without any boundary line",
			raw:    "Content-Type: multipart/mixed; boundary=zz\r\n\r\njust text\r\n",
			nparts: 1,
		},
		{
			name:   "digest children default to message/rfc822",
			raw:    "Content-Type: multipart/digest; boundary=d\r\n\r\n--d\r\n\r\nSubject: one\r\n\r\nbody one\r\n--d\r\nContent-Type: text/plain\r\n\r\ntwo\r\n--d--\r\n",
			types:  map[string]string{"1": "message/rfc822", "1/m": "text/plain", "2": "text/plain"},
			bodies: map[string]string{"1": "Subject: one\r\n\r\nbody one", "1/m": "body one"},
			nparts: 4,
		},
		{
			name:   "invalid content-type is text/plain",
			raw:    "Content-Type: garbage\r\n\r\nx",
			types:  map[string]string{"": "text/plain"},
			nparts: 1,
		},
		{
			name:   "folded content-type with comments and upper case",
			raw:    "Content-Type: (c) Multipart / Mixed (c);\r\n boundary = \"q\" (c)\r\n\r\n--q\r\n\r\nx\r\n--q--",
			types:  map[string]string{"": "multipart/mixed"},
			bodies: map[string]string{"1": "x"},
			nparts: 2,
		},
		{
			name:   "header only, no body",
			raw:    "Subject: x\r\nFrom: a@b",
			bodies: map[string]string{"": ""},
			nparts: 1,
		},
		{
			name:   "empty message",
			raw:    "",
			bodies: map[string]string{"": ""},
			nparts: 1,
		},
		{
			name:   "continuation first line is body",
			raw:    " indented\r\ntext",
			bodies: map[string]string{"": " indented\r\ntext"},
			nparts: 1,
		},
		{
			name:   "message/rfc822 with base64 encoding is still parsed",
			raw:    "Content-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n\r\nU3ViamVjdDogeA0KDQp5\r\n",
			types:  map[string]string{"": "message/rfc822", "/m": "text/plain"},
			bodies: map[string]string{"/m": "U3ViamVjdDogeA0KDQp5\r\n"},
			nparts: 2,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			raw := []byte(tc.raw)
			m := Parse(raw)
			checkInvariants(t, raw, m)
			parts := flatten(m.Structure)
			if len(parts) != tc.nparts {
				t.Errorf("%d parts, want %d", len(parts), tc.nparts)
			}
			for path, want := range tc.bodies {
				p := parts[path]
				if p == nil {
					t.Errorf("no part %q", path)
					continue
				}
				if got := string(raw[p.BodyStart:p.End]); got != want {
					t.Errorf("part %q: body %q, want %q", path, got, want)
				}
			}
			for path, want := range tc.types {
				p := parts[path]
				if p == nil {
					t.Errorf("no part %q", path)
					continue
				}
				if got := p.Type + "/" + p.Subtype; got != want {
					t.Errorf("part %q: type %s, want %s", path, got, want)
				}
			}
		})
	}
}

func TestMaxParts(t *testing.T) {
	var b bytes.Buffer
	b.WriteString("Content-Type: multipart/mixed; boundary=p\r\n\r\n")
	for i := 0; i < MaxParts+500; i++ {
		fmt.Fprintf(&b, "--p\r\n\r\npart %d\r\n", i)
	}
	b.WriteString("--p--\r\n")
	raw := b.Bytes()
	m := Parse(raw)
	checkInvariants(t, raw, m)
	if n := len(flatten(m.Structure)); n != MaxParts {
		t.Fatalf("%d parts, want %d", n, MaxParts)
	}
	last := m.Structure.Children[len(m.Structure.Children)-1]
	if last.End != int64(len(raw)) {
		t.Errorf("last part ends at %d, want %d (the rest of the parent)", last.End, len(raw))
	}
	if !bytes.HasPrefix(raw[last.BodyStart:], []byte(fmt.Sprintf("part %d\r\n--p", MaxParts-2))) {
		t.Errorf("last part body starts with %q", raw[last.BodyStart:last.BodyStart+20])
	}
	if last.Lines != countLines(raw[last.BodyStart:last.End]) {
		t.Errorf("last part lines not updated")
	}
}

func TestDeepMessageNesting(t *testing.T) {
	var b bytes.Buffer
	for i := 0; i < 150; i++ {
		b.WriteString("Subject: level\r\nContent-Type: message/rfc822\r\n\r\n")
	}
	b.WriteString("Subject: deepest\r\n\r\nbody\r\n")
	raw := b.Bytes()
	m := Parse(raw)
	checkInvariants(t, raw, m)
	p := m.Structure
	depth := 0
	for p.Message != nil {
		if p.MessageEnvelope == nil {
			t.Fatal("message/rfc822 without envelope")
		}
		p = p.Message
		depth++
	}
	if depth != MaxDepth+1 || p.Type != "text" || p.HeaderStart != p.BodyStart {
		t.Errorf("chain of %d messages ending in %s/%s, want %d and a header-less text/plain leaf", depth, p.Type, p.Subtype, MaxDepth+1)
	}
}

func TestHugeSingleLine(t *testing.T) {
	raw := make([]byte, 0, 8<<20+100)
	raw = append(raw, "Subject: "...)
	raw = append(raw, bytes.Repeat([]byte("x"), 4<<20)...)
	raw = append(raw, "\r\n\r\n"...)
	raw = append(raw, bytes.Repeat([]byte("y"), 4<<20)...)
	m := Parse(raw)
	checkInvariants(t, raw, m)
	if len(m.Envelope.Subject) != MaxStoredHeader || !m.HeaderTruncated {
		t.Errorf("subject %d bytes, truncated %v", len(m.Envelope.Subject), m.HeaderTruncated)
	}
	if m.Structure.Lines != 1 || len(m.Preview) != MaxPreview {
		t.Errorf("lines %d preview %d", m.Structure.Lines, len(m.Preview))
	}
}

// checkInvariants verifies the offsets of every part: 0 <= HeaderStart <=
// BodyStart <= End <= len(raw), children within their parent's body, and
// that Marshal/Unmarshal round-trips.
func checkInvariants(t testing.TB, raw []byte, m *Meta) {
	t.Helper()
	if m.Structure == nil {
		t.Fatal("nil structure")
	}
	if m.Structure.HeaderStart != 0 || m.Structure.End != int64(len(raw)) {
		t.Fatalf("root spans %d-%d, want 0-%d", m.Structure.HeaderStart, m.Structure.End, len(raw))
	}
	var check func(p *Part, lo, hi int64)
	n := 0
	check = func(p *Part, lo, hi int64) {
		n++
		if !(lo <= p.HeaderStart && p.HeaderStart <= p.BodyStart && p.BodyStart <= p.End && p.End <= hi) {
			t.Fatalf("bad offsets %d %d %d within %d-%d", p.HeaderStart, p.BodyStart, p.End, lo, hi)
		}
		prev := p.BodyStart
		for _, c := range p.Children {
			if c.HeaderStart < prev {
				t.Fatalf("overlapping children")
			}
			check(c, p.BodyStart, p.End)
			prev = c.End
		}
		if p.Message != nil {
			if p.Message.HeaderStart != p.BodyStart || p.Message.End != p.End {
				t.Fatalf("message root does not span the body")
			}
			check(p.Message, p.BodyStart, p.End)
		}
		if (p.Type == "message" && (p.Subtype == "rfc822" || p.Subtype == "global")) != (p.Message != nil) || (p.Message != nil) != (p.MessageEnvelope != nil) {
			t.Fatalf("message/rfc822 %s/%s without Message or envelope", p.Type, p.Subtype)
		}
	}
	check(m.Structure, 0, int64(len(raw)))
	if n > MaxParts*2 {
		t.Fatalf("%d parts", n)
	}
	if len(m.Header) > MaxStoredHeader || !isSubsequenceOfLines(m.Header, raw[:m.Structure.BodyStart]) {
		t.Fatalf("cached header lines are not lines of the header block")
	}
	if len([]rune(m.Preview)) > MaxPreview {
		t.Fatalf("preview too long")
	}
	b := m.Marshal()
	m2, err := Unmarshal(b)
	if err != nil {
		t.Fatalf("Unmarshal(Marshal()): %v", err)
	}
	if !reflect.DeepEqual(m, m2) {
		t.Fatalf("round trip differs:\n%#v\n%#v", m, m2)
	}
}

// isSubsequenceOfLines reports whether every line of sub appears in block,
// in the same order.
func isSubsequenceOfLines(sub, block []byte) bool {
	lines := bytes.SplitAfter(block, []byte("\n"))
	i := 0
	for _, l := range bytes.SplitAfter(sub, []byte("\n")) {
		if len(l) == 0 {
			continue
		}
		for i < len(lines) && !bytes.Equal(lines[i], l) {
			i++
		}
		if i == len(lines) {
			return false
		}
		i++
	}
	return true
}

func TestCachedHeaderCap(t *testing.T) {
	var b bytes.Buffer
	b.WriteString("Received: from a by b\r\n\tfolded\r\nSubject: s\r\n")
	for b.Len() < MaxStoredHeader+1000 {
		b.WriteString("To: someone-with-a-long-address@example.org\r\n")
	}
	b.WriteString("From: late@example.org\r\n\r\nbody\r\n")
	m := Parse(b.Bytes())
	if !m.HeaderTruncated || len(m.Header) > MaxStoredHeader || !bytes.HasPrefix(m.Header, []byte("Subject: s\r\nTo: ")) {
		t.Fatalf("truncated=%v len=%d prefix=%q", m.HeaderTruncated, len(m.Header), m.Header[:20])
	}
	if bytes.Contains(m.Header, []byte("Received")) || bytes.Contains(m.Header, []byte("folded")) {
		t.Fatal("an uncached field (and its continuation) was kept")
	}
	if !IsCachedField("message-id") || IsCachedField("Received") {
		t.Fatal("IsCachedField")
	}
}
