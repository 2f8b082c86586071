package fts

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/petrelmail/petrel/internal/message"
)

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestExtract(t *testing.T) {
	raw := readFixture(t, "mixed.eml")
	d := Extract(raw, message.Parse(raw))
	if d2 := Extract(raw, nil); !sameDoc(d, d2) {
		t.Errorf("Extract with nil meta differs: %+v", d2)
	}
	text := []string{
		// Top-level header, field by field, values decoded.
		"from: jörg müller <joerg@example.de>",
		"subject: réunion",
		"réunionà paris",
		"x-folded: first line\tsecond line",
		"x-broken: ok and =?bogus",
		"content-type: multipart/mixed",
	}
	body := []string{
		// Quoted-printable UTF-8, soft line break.
		"grüße aus MÜNCHEN", "soft line break and café",
		// HTML in windows-1252: entities decoded, markup dropped.
		"price: 10€ & <more>", "second\nline été ☺",
		// Base64 ISO-8859-1.
		"la vie en rose, déjà vu",
		// Encapsulated message: its header and body.
		"subject: inner été", "from: inner@example.com", "inner body banana",
	}
	for _, s := range text {
		if n := Fold(s); !d.MatchText(n) || d.MatchBody(n) {
			t.Errorf("%q: MatchText %v MatchBody %v, want true false", s, d.MatchText(n), d.MatchBody(n))
		}
	}
	for _, s := range body {
		if n := Fold(s); !d.MatchText(n) || !d.MatchBody(n) {
			t.Errorf("%q: MatchText %v MatchBody %v, want true true", s, d.MatchText(n), d.MatchBody(n))
		}
	}
	for _, s := range []string{
		"hidden title", "color: red", "scripted", "a comment", "<p>", "&amp;", // HTML markup and dropped content
		"strawberry", "kiwi", // attachments are not text
		"naïve plan", "rapport", // file names are only in Fields
		"café.\ngr", "banana.inner", // never across two texts
		"=c3=bc", "tgegdmll", // encoded forms
	} {
		if n := Fold(s); d.MatchText(n) {
			t.Errorf("%q matches TEXT", s)
		}
	}
	fields := strings.Split(d.Fields, "\x00")
	want := []string{
		"réunionà paris",
		"jörg müller <joerg@example.de>",
		"alice example <alice@example.org>, bob@example.org",
		"team:, carol@example.net, dave@example.net",
		"naïve plan.pdf", "rapport été.pdf", "déjà vu.bin",
	}
	for i := range want {
		want[i] = Fold(want[i])
	}
	if !slices.Equal(fields, want) {
		t.Errorf("Fields = %q\nwant     %q", fields, want)
	}
}

func TestMatchEmpty(t *testing.T) {
	var d Doc
	if !d.MatchText("") || !d.MatchBody("") {
		t.Error("the empty needle does not match an empty Doc")
	}
	if d.MatchText("a") || d.MatchBody("a") {
		t.Error("a needle matches an empty Doc")
	}
}

func TestHTMLText(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain text", "plain text"},
		{"a<b>b</b>c", "abc"},
		{"<p>one</p><p>two</p>", "\none\n\ntwo\n"},
		{"a<br>b<br/>c", "a\nb\nc"},
		{"x &amp; y &lt;z&gt; &eacute;&#233;&#xE9; &nbsp;.", "x & y <z> ééé \u00a0."},
		{"<script>alert('x')</script>after", "after"},
		{"<SCRIPT type=text/javascript>if (a<b) x()</SCRIPT>after", "after"},
		{"<style>p{}</style><script/>gone</script>kept", "kept"},
		{"<!-- hidden -->shown<!-- also hidden", "shown"},
		{"<head><title>t</title><meta charset=utf-8></head><body>text</body>", "text"},
		{"<head><title>t</title>no body tag", "no body tag"},
		{"<head><p>implied body</p>", "\nimplied body\n"},
		{"<noscript><p>enable js</p></noscript>", "\nenable js\n"},
		{"<textarea>a &amp; b</textarea>", "\na & b\n"},
		{"line1\r\nline2", "line1\nline2"},
		{"a < b and c > d", "a < b and c > d"},
		{"<td>cell1</td><td>cell2</td>", "\ncell1\n\ncell2\n"},
		{"<", "<"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := HTMLText(tt.in); got != tt.want {
			t.Errorf("HTMLText(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestDecodeHeader(t *testing.T) {
	tests := []struct{ in, want string }{
		{"=?iso-8859-1?q?caf=E9?=", "café"},
		{"=?UTF-8?B?SsO2cmc=?= <joerg@example.de>", "Jörg <joerg@example.de>"},
		{"=?utf-8?q?a?= =?utf-8?q?b?=", "ab"},
		{"=?utf-8*en?q?hi?=", "hi"},
		{"=?koi8-r?b?8NLJ18XU?=", "Привет"},
		{"=?x-unknown?q?abc?= =?utf-8?q?d?=", "abcd"},
		{"plain \xe9t\xe9", "plain été"}, // 8-bit, not UTF-8: windows-1252
		{"déjà vu", "déjà vu"},
		{"=?utf-8?b?broken", "=?utf-8?b?broken"},
	}
	for _, tt := range tests {
		if got := DecodeHeader([]byte(tt.in)); got != tt.want {
			t.Errorf("DecodeHeader(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestHeaderText(t *testing.T) {
	h := "Subject: =?utf-8?q?caf=C3=A9?=\r\nX-A: one\r\n two\r\nx-a :three\r\n\tfour\r\nX-Bad: =?utf-8?q?ok?= =?x-none?b?!!!?=\r\nX-8bit: \xe9t\xe9\r\n\xff: v\r\nnot a field\r\n: no name\r\nX-Empty:\r\n\r\n"
	want := "Subject: café\nX-A: one two\nx-a: three\tfour\nX-Bad: ok =?x-none?b?!!!?=\nX-8bit: été\nÿ: v\nX-Empty: \n"
	if got := HeaderText([]byte(h)); got != want {
		t.Errorf("HeaderText = %q\nwant         %q", got, want)
	}
}

func TestFold(t *testing.T) {
	tests := []struct{ in, want string }{
		{"hello", "hello"},
		{"HeLLo", "hello"},
		{"Café CAFÉ", "cafÉ cafÉ"},
		{"\u212a k K", "k k k"}, // Kelvin sign
		{"\u017f s S", "s s s"}, // long s is in the orbit of s
		{"ΣΊΣΥΦΟΣ σίσυφος ς", Fold("σίσυφοσ σίσυφοσ σ")},
		{"Straße", "straße"}, // simple folding: ß stays
		{"bad \xff utf-8", "bad \ufffd utf-8"},
	}
	for _, tt := range tests {
		if got := Fold(tt.in); got != tt.want {
			t.Errorf("Fold(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	if Fold("s") != Fold("S") || Fold("s") != Fold("\u017f") || Fold("k") != Fold("\u212a") {
		t.Error("case orbits do not fold together")
	}
}

func sameDoc(a, b Doc) bool {
	return a.Header == b.Header && a.Fields == b.Fields && slices.Equal(a.Body, b.Body)
}

func TestCodecRoundTrip(t *testing.T) {
	docs := []Doc{
		{},
		{Header: "h", Fields: "f\x00g"},
		{Header: "from: x\n", Body: []string{"", "a\x00b", strings.Repeat("long text ", 1000)}},
	}
	// A block of the three, under IDs 1 << 40, -7 and 1, then read back.
	ids := []int64{1 << 40, -7, 1}
	var block []byte
	for i, d := range docs {
		block = appendBlockEntry(block, ids[i], marshalDoc(nil, &d))
	}
	i := 0
	err := walkBlock(block, func(id int64, raw []byte) bool {
		got, err := unmarshalDoc(raw)
		if id != ids[i] || err != nil || !sameDoc(got, docs[i]) {
			t.Errorf("entry %d: %d %.80q, %v; want %d %.80q", i, id, got, err, ids[i], docs[i])
		}
		i++
		return true
	})
	if err != nil || i != len(docs) {
		t.Fatalf("walkBlock: %d entries, %v", i, err)
	}
	for n := 1; n < len(block); n++ {
		complete := 0
		err := walkBlock(block[:n], func(int64, []byte) bool { complete++; return true })
		if err == nil && n != len(block) && complete == len(docs) {
			t.Errorf("walkBlock of %d of %d bytes read every entry", n, len(block))
		}
	}
	if err := walkBlock([]byte{0x80}, func(int64, []byte) bool { return true }); err == nil {
		t.Error("walkBlock of a truncated uvarint succeeded")
	}
	// blockDoc finds a Doc by ID, and fails on an ID the block does not
	// hold and on an entry whose Doc is corrupt (never an empty Doc).
	if d, err := blockDoc(block, -7); err != nil || !sameDoc(d, docs[1]) {
		t.Errorf("blockDoc(-7) = %.80q, %v", d, err)
	}
	if _, err := blockDoc(block, 8); err == nil {
		t.Error("blockDoc of an absent ID succeeded")
	}
	bad := appendBlockEntry(slices.Clone(block), 9, []byte{docVersion + 1, 0, 0, 0})
	if _, err := blockDoc(bad, 9); err == nil {
		t.Error("blockDoc of a corrupt Doc succeeded")
	}
	raw := marshalDoc(nil, &Doc{Header: "abc", Body: []string{"x"}})
	for i := range raw {
		if _, err := unmarshalDoc(raw[:i]); err == nil {
			t.Errorf("unmarshalDoc of %d of %d bytes succeeded", i, len(raw))
		}
	}
}
