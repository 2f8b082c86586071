package render

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/petrelmail/petrel/internal/message"
)

// fixture reads testdata/name and parses it. The metadata goes through
// Marshal and Unmarshal, as it does in the store.
func fixture(t testing.TB, name string) ([]byte, *message.Meta) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	m, err := message.Unmarshal(message.Parse(raw).Marshal())
	if err != nil {
		t.Fatalf("%s: unmarshal: %v", name, err)
	}
	return raw, m
}

// Envelopes of the fixtures, as Dovecot would send them (it sends the same
// strings; for 8-bit ones it sends literals unless UTF8=ACCEPT).
const (
	envSimple = `("Mon, 7 Feb 1994 21:52:25 -0800 (PST)" "Hello world"` +
		` (("Alice Example" NIL "alice" "example.org"))` +
		` (("Alice Example" NIL "alice" "example.org"))` +
		` (("Alice Example" NIL "alice" "example.org"))` +
		` (("Bob" NIL "bob" "example.com")(NIL NIL "carol" "example.net"))` +
		` NIL NIL NIL "<B27397-0100000@example.org>")`
	envAlternative = `("Tue, 1 Jul 2025 12:00:00 +0000" "Lunch?"` +
		` (("Smith, John" NIL "john" "example.com"))` +
		` ((NIL NIL "list-bounces" "lists.example.com"))` +
		` ((NIL NIL "list" "lists.example.com"))` +
		` ((NIL NIL "team" "example.com"))` +
		` (("Q. Public" NIL "q" "example.com")("Anne" NIL "anne" "example.com"))` +
		` NIL "<prev@example.com>" "<alt1@example.com>")`
	envMixed = `("Wed, 2 Jul 2025 09:30:00 +0200" "Fwd: Lunch?"` +
		` (("Bob" NIL "bob" "example.com"))` +
		` (("Bob" NIL "bob" "example.com"))` +
		` (("Bob" NIL "bob" "example.com"))` +
		` ((NIL NIL "alice" "example.org"))` +
		` NIL NIL NIL "<mixed1@example.com>")`
	envForwarded = `("Tue, 1 Jul 2025 12:00:00 +0000" "Lunch?"` +
		` (("Smith, John" NIL "john" "example.com"))` +
		` (("Smith, John" NIL "john" "example.com"))` +
		` (("Smith, John" NIL "john" "example.com"))` +
		` ((NIL NIL "team" "example.com"))` +
		` NIL NIL NIL "<alt1@example.com>")`
	groupLists = ` ((NIL NIL "undisclosed-recipients" NIL)(NIL NIL NIL NIL))` +
		` ((NIL NIL "Friends" NIL)(NIL NIL "bob" "example.com")("Carol C." NIL "carol" "example.net")(NIL NIL NIL NIL)(NIL NIL "dave" "example.com"))` +
		` ((NIL NIL "Team" NIL)(NIL NIL "eve" "example.com")(NIL NIL NIL NIL))` +
		` NIL NIL)`
	envGroups = `("Thu, 3 Jul 2025 08:00:00 +0200" {11}` + "\r\n" + `Grüße €` +
		` (({13}` + "\r\n" + `Jörg Müller NIL "joerg" "example.de"))` +
		` (({13}` + "\r\n" + `Jörg Müller NIL "joerg" "example.de"))` +
		` (({13}` + "\r\n" + `Jörg Müller NIL "joerg" "example.de"))` +
		groupLists
	envGroupsUTF8 = `("Thu, 3 Jul 2025 08:00:00 +0200" "Grüße €"` +
		` (("Jörg Müller" NIL "joerg" "example.de"))` +
		` (("Jörg Müller" NIL "joerg" "example.de"))` +
		` (("Jörg Müller" NIL "joerg" "example.de"))` +
		groupLists
	envNoBoundary = `(NIL "no boundary" ((NIL NIL "a" "example.com")) ((NIL NIL "a" "example.com")) ((NIL NIL "a" "example.com")) NIL NIL NIL NIL NIL)`
)

func TestEnvelope(t *testing.T) {
	tests := []struct {
		file string
		utf8 bool
		want string
	}{
		{"simple.eml", false, envSimple},
		{"simple.eml", true, envSimple},
		{"alternative.eml", false, envAlternative},
		{"mixed.eml", false, envMixed},
		{"groups.eml", false, envGroups},
		{"groups.eml", true, envGroupsUTF8},
		{"noboundary.eml", false, envNoBoundary},
	}
	for _, tt := range tests {
		_, m := fixture(t, tt.file)
		prefix := []byte("* 1 FETCH (ENVELOPE ")
		got := AppendEnvelope(prefix, &m.Envelope, tt.utf8)
		if string(got[:len(prefix)]) != string(prefix) {
			t.Errorf("%s: prefix overwritten", tt.file)
		}
		if g := string(got[len(prefix):]); g != tt.want {
			t.Errorf("%s utf8=%v:\n got %s\nwant %s", tt.file, tt.utf8, g, tt.want)
		}
	}
}

func TestEnvelopeStrings(t *testing.T) {
	env := &message.Envelope{
		Date:      []byte{},                 // present but empty
		Subject:   []byte(`say "hi" \ bye`), // escapes
		InReplyTo: []byte("a\r\nb"),         // CR LF: literal
		MessageID: []byte("\xff\xfe"),       // invalid UTF-8: literal even with utf8
		// An address without a domain has an empty host.
		From: []message.Address{{Mailbox: []byte("x"), Host: []byte{}}},
	}
	want := `("" "say \"hi\" \\ bye" ((NIL NIL "x" "")) NIL NIL NIL NIL NIL {4}` + "\r\na\r\nb {2}\r\n\xff\xfe)"
	if got := string(AppendEnvelope(nil, env, true)); got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
	// NUL cannot be sent in any IMAP string: it becomes U+FFFD.
	env = &message.Envelope{Subject: []byte("a\x00b")}
	want = "(NIL \"a\uFFFDb\" NIL NIL NIL NIL NIL NIL NIL NIL)"
	if got := string(AppendEnvelope(nil, env, true)); got != want {
		t.Errorf("NUL, utf8: got %q, want %q", got, want)
	}
	want = "(NIL {5}\r\na\uFFFDb NIL NIL NIL NIL NIL NIL NIL NIL)"
	if got := string(AppendEnvelope(nil, env, false)); got != want {
		t.Errorf("NUL: got %q, want %q", got, want)
	}
	if got := string(AppendEnvelope(nil, nil, false)); got != "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)" {
		t.Errorf("nil envelope: %q", got)
	}
}

// Body structures of the fixtures. Dovecot sends the same structure with
// types and defaults in lowercase ("text" "plain" ("charset" "us-ascii")
// ... "7bit"); this package uppercases them like Cyrus.
const (
	bsSimple   = `("TEXT" "PLAIN" ("CHARSET" "US-ASCII") NIL NIL "7BIT" 38 3 NIL NIL NIL NIL)`
	bodySimple = `("TEXT" "PLAIN" ("CHARSET" "US-ASCII") NIL NIL "7BIT" 38 3)`

	bsAlternative = `(("TEXT" "PLAIN" ("CHARSET" "utf-8" "FORMAT" "flowed") NIL NIL "QUOTED-PRINTABLE" 50 2 NIL NIL NIL NIL)` +
		`("TEXT" "HTML" ("CHARSET" "utf-8") NIL NIL "7BIT" 42 1 NIL NIL NIL NIL)` +
		` "ALTERNATIVE" ("BOUNDARY" "b1") NIL NIL NIL)`
	bodyAlternative = `(("TEXT" "PLAIN" ("CHARSET" "utf-8" "FORMAT" "flowed") NIL NIL "QUOTED-PRINTABLE" 50 2)` +
		`("TEXT" "HTML" ("CHARSET" "utf-8") NIL NIL "7BIT" 42 1) "ALTERNATIVE")`

	bsMixed = `(` +
		`("TEXT" "PLAIN" ("CHARSET" "US-ASCII") NIL NIL "7BIT" 35 1 NIL NIL NIL NIL)` +
		`("MESSAGE" "RFC822" NIL NIL "Forwarded message" "7BIT" 371 ` + envForwarded + ` ` +
		`(("TEXT" "PLAIN" ("CHARSET" "utf-8") NIL NIL "7BIT" 20 1 NIL NIL NIL NIL)` +
		`("TEXT" "HTML" ("CHARSET" "utf-8") NIL NIL "7BIT" 27 1 NIL NIL NIL NIL)` +
		` "ALTERNATIVE" ("BOUNDARY" "inner") NIL NIL NIL) 16 NIL NIL NIL NIL)` +
		`(("TEXT" "HTML" ("CHARSET" "us-ascii") NIL NIL "7BIT" 32 1 NIL NIL NIL NIL)` +
		`("IMAGE" "PNG" NIL "<logo@example.com>" NIL "BASE64" 12 NIL ("inline" NIL) NIL "logo.png")` +
		` "RELATED" ("BOUNDARY" "rel" "TYPE" "text/html") NIL NIL NIL)` +
		`("APPLICATION" "PDF" ("NAME" "report 2025.pdf") NIL "Yearly report" "BASE64" 30` +
		` "Q2hlY2sgSW50ZWdyaXR5IQ==" ("attachment" ("FILENAME" "report 2025.pdf" "SIZE" "12")) ("en" "fr") NIL)` +
		` "MIXED" ("BOUNDARY" "outer") NIL NIL NIL)`
	bodyMixed = `(` +
		`("TEXT" "PLAIN" ("CHARSET" "US-ASCII") NIL NIL "7BIT" 35 1)` +
		`("MESSAGE" "RFC822" NIL NIL "Forwarded message" "7BIT" 371 ` + envForwarded + ` ` +
		`(("TEXT" "PLAIN" ("CHARSET" "utf-8") NIL NIL "7BIT" 20 1)` +
		`("TEXT" "HTML" ("CHARSET" "utf-8") NIL NIL "7BIT" 27 1) "ALTERNATIVE") 16)` +
		`(("TEXT" "HTML" ("CHARSET" "us-ascii") NIL NIL "7BIT" 32 1)` +
		`("IMAGE" "PNG" NIL "<logo@example.com>" NIL "BASE64" 12) "RELATED")` +
		`("APPLICATION" "PDF" ("NAME" "report 2025.pdf") NIL "Yearly report" "BASE64" 30)` +
		` "MIXED")`

	bsGroups   = `("TEXT" "PLAIN" ("CHARSET" "utf-8") NIL NIL "8BIT" 9 1 NIL NIL NIL NIL)`
	bodyGroups = `("TEXT" "PLAIN" ("CHARSET" "utf-8") NIL NIL "8BIT" 9 1)`

	// Dovecot's EMPTY_BODYSTRUCTURE child for a multipart without parts.
	bsNoBoundary   = `(("TEXT" "PLAIN" ("CHARSET" "US-ASCII") NIL NIL "7BIT" 0 0 NIL NIL NIL NIL) "MIXED" NIL NIL NIL NIL)`
	bodyNoBoundary = `(("TEXT" "PLAIN" ("CHARSET" "US-ASCII") NIL NIL "7BIT" 0 0) "MIXED")`
)

func TestBodyStructure(t *testing.T) {
	tests := []struct {
		file     string
		extended bool
		want     string
	}{
		{"simple.eml", true, bsSimple},
		{"simple.eml", false, bodySimple},
		{"alternative.eml", true, bsAlternative},
		{"alternative.eml", false, bodyAlternative},
		{"mixed.eml", true, bsMixed},
		{"mixed.eml", false, bodyMixed},
		{"groups.eml", true, bsGroups},
		{"groups.eml", false, bodyGroups},
		{"noboundary.eml", true, bsNoBoundary},
		{"noboundary.eml", false, bodyNoBoundary},
	}
	for _, tt := range tests {
		_, m := fixture(t, tt.file)
		got := string(AppendBodyStructure(nil, m.Structure, tt.extended))
		if got != tt.want {
			t.Errorf("%s extended=%v:\n got %s\nwant %s", tt.file, tt.extended, got, tt.want)
		}
	}
}

func TestBodyStructureParts(t *testing.T) {
	tests := []struct {
		name string
		p    *message.Part
		want string
	}{
		{"nil", nil, `("TEXT" "PLAIN" ("CHARSET" "US-ASCII") NIL NIL "7BIT" 0 0 NIL NIL NIL NIL)`},
		{"text/plain params without charset", &message.Part{
			Type: "text", Subtype: "plain", Params: []message.Param{{Name: "format", Value: "flowed"}},
			Encoding: []byte(" Quoted-Printable (comment)"), BodyStart: 10, End: 20, Lines: 2,
		}, `("TEXT" "PLAIN" ("FORMAT" "flowed" "CHARSET" "US-ASCII") NIL NIL "QUOTED-PRINTABLE" 10 2 NIL NIL NIL NIL)`},
		{"text/html has no default charset", &message.Part{
			Type: "text", Subtype: "html", Encoding: []byte("(no token)"),
		}, `("TEXT" "HTML" NIL NIL NIL "7BIT" 0 0 NIL NIL NIL NIL)`},
		{"8-bit parameter and single language", &message.Part{
			Type: "application", Subtype: "octet-stream",
			Params:      []message.Param{{Name: "name", Value: "résumé.pdf"}},
			Disposition: "Attachment", Language: [][]byte{[]byte("de")},
			MD5: []byte("abc"), Location: []byte("http://x/"), ID: []byte("<id>"),
			Encoding: []byte("x-uuencode"), HeaderStart: 0, BodyStart: 5, End: 4,
		}, `("APPLICATION" "OCTET-STREAM" ("NAME" {12}` + "\r\n" + `résumé.pdf) "<id>" NIL "X-UUENCODE" 0 "abc" ("Attachment" NIL) "de" "http://x/")`},
		{"message/rfc822 without parsed message", &message.Part{
			Type: "message", Subtype: "rfc822", Lines: 3, BodyStart: 0, End: 7,
		}, `("MESSAGE" "RFC822" NIL NIL NIL "7BIT" 7 (NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL) ("TEXT" "PLAIN" ("CHARSET" "US-ASCII") NIL NIL "7BIT" 0 0 NIL NIL NIL NIL) 3 NIL NIL NIL NIL)`},
		{"odd type strings", &message.Part{
			Type: "x\"y", Subtype: "",
		}, `("x\"y" "" NIL NIL NIL "7BIT" 0 NIL NIL NIL NIL)`},
		{"multipart extension data", &message.Part{
			Type: "multipart", Subtype: "mixed", Disposition: "inline",
			DispositionParams: []message.Param{{Name: "x", Value: "1"}},
			Language:          [][]byte{[]byte("en"), []byte("fr")}, Location: []byte("loc"),
			Children: []*message.Part{{Type: "image", Subtype: "gif"}},
		}, `(("IMAGE" "GIF" NIL NIL NIL "7BIT" 0 NIL NIL NIL NIL) "MIXED" NIL ("inline" ("X" "1")) ("en" "fr") "loc")`},
	}
	for _, tt := range tests {
		if got := string(AppendBodyStructure(nil, tt.p, true)); got != tt.want {
			t.Errorf("%s:\n got %s\nwant %s", tt.name, got, tt.want)
		}
	}
}

// TestMessageGlobal checks that message/global is shown like message/rfc822
// (RFC 9051 section 7.5.2, RFC 6532 section 3.7).
func TestMessageGlobal(t *testing.T) {
	raw := []byte("Content-Type: message/global\r\n\r\nSubject: \xc3\xa9\r\n\r\nx\r\n")
	m := message.Parse(raw)
	want := `("MESSAGE" "GLOBAL" NIL NIL NIL "7BIT" 18 (NIL {2}` + "\r\n\xc3\xa9" +
		` NIL NIL NIL NIL NIL NIL NIL NIL) ("TEXT" "PLAIN" ("CHARSET" "US-ASCII") NIL NIL "7BIT" 3 1) 3)`
	if got := string(AppendBodyStructure(nil, m.Structure, false)); got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
}
