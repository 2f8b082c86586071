package render

import (
	"strings"
	"testing"

	"github.com/petrelmail/petrel/internal/imap/wire"
	"github.com/petrelmail/petrel/internal/message"
)

// sec builds a section from "1.2.MIME"-like notation; "" is BODY[].
func sec(s string) *wire.Section {
	out := &wire.Section{}
	for s != "" {
		dot := strings.IndexByte(s, '.')
		word := s
		if dot >= 0 {
			word = s[:dot]
		}
		n := uint32(0)
		digits := word != ""
		for _, c := range word {
			if c < '0' || c > '9' {
				digits = false
				break
			}
			n = n*10 + uint32(c-'0')
		}
		if !digits {
			out.Text = s
			break
		}
		out.Part = append(out.Part, n)
		if dot < 0 {
			break
		}
		s = s[dot+1:]
	}
	if strings.HasPrefix(out.Text, "HEADER.FIELDS") {
		out.Fields = []string{"Subject"}
	}
	return out
}

const (
	mixedHeader = "From: Bob <bob@example.com>\r\nTo: alice@example.org\r\nSubject: Fwd: Lunch?\r\n" +
		"Date: Wed, 2 Jul 2025 09:30:00 +0200\r\nMessage-ID: <mixed1@example.com>\r\n" +
		"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=outer\r\n\r\n"
	fwdHeader = "From: \"Smith, John\" <john@example.com>\r\nTo: team@example.com\r\nSubject: Lunch?\r\n" +
		"Date: Tue, 1 Jul 2025 12:00:00 +0000\r\nMessage-ID: <alt1@example.com>\r\n" +
		"Content-Type: multipart/alternative; boundary=\"inner\"\r\n\r\n"
	fwdText = "--inner\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nShall we have lunch?\r\n" +
		"--inner\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>Shall we have lunch?</p>\r\n--inner--\r\n"
	relatedBody = "--rel\r\nContent-Type: text/html; charset=us-ascii\r\n\r\n<img src=\"cid:logo@example.com\">\r\n" +
		"--rel\r\nContent-Type: image/png\r\nContent-Transfer-Encoding: base64\r\nContent-ID: <logo@example.com>\r\n" +
		"Content-Disposition: inline\r\nContent-Location: logo.png\r\n\r\niVBORw0KGgo=\r\n--rel--"
	simpleBody = "Hi Bob,\r\n\r\nthis is a simple message.\r\n"
)

func TestLocate(t *testing.T) {
	const missing = "<missing>"
	tests := []struct {
		file, section, want string
	}{
		{"mixed.eml", "HEADER", mixedHeader},
		{"mixed.eml", "HEADER.FIELDS", mixedHeader},
		{"mixed.eml", "HEADER.FIELDS.NOT", mixedHeader},
		{"mixed.eml", "1", "Forwarded message and report below."},
		{"mixed.eml", "1.MIME", "\r\n"},
		{"mixed.eml", "2", fwdHeader + fwdText},
		{"mixed.eml", "2.MIME", "Content-Type: message/rfc822\r\nContent-Description: Forwarded message\r\n\r\n"},
		{"mixed.eml", "2.HEADER", fwdHeader},
		{"mixed.eml", "2.HEADER.FIELDS", fwdHeader},
		{"mixed.eml", "2.TEXT", fwdText},
		{"mixed.eml", "2.1", "Shall we have lunch?"},
		{"mixed.eml", "2.1.MIME", "Content-Type: text/plain; charset=utf-8\r\n\r\n"},
		{"mixed.eml", "2.2", "<p>Shall we have lunch?</p>"},
		{"mixed.eml", "2.2.MIME", "Content-Type: text/html; charset=utf-8\r\n\r\n"},
		{"mixed.eml", "3", relatedBody},
		{"mixed.eml", "3.MIME", "Content-Type: multipart/related; boundary=\"rel\"; type=\"text/html\"\r\n\r\n"},
		{"mixed.eml", "3.1", `<img src="cid:logo@example.com">`},
		{"mixed.eml", "3.2", "iVBORw0KGgo="},
		{"mixed.eml", "3.2.1", "iVBORw0KGgo="}, // Dovecot accepts .1 after a leaf
		{"mixed.eml", "4", "JVBERi0xLjQK\r\nJcOkw7zDtsOfCg=="},
		{"mixed.eml", "5", missing},
		{"mixed.eml", "0", missing},
		{"mixed.eml", "2.3", missing},
		{"mixed.eml", "3.2.2", missing},
		{"mixed.eml", "1.HEADER", missing}, // not a message/rfc822 part
		{"mixed.eml", "1.TEXT", missing},
		{"mixed.eml", "3.HEADER", missing},
		{"mixed.eml", "MIME", missing},
		{"mixed.eml", "BOGUS", missing},
		{"simple.eml", "1", simpleBody},
		{"simple.eml", "1.1", simpleBody},
		{"simple.eml", "TEXT", simpleBody},
		{"simple.eml", "2", missing},
		{"simple.eml", "1.MIME", ""}, // the message header, checked below
		{"noboundary.eml", "1", ""},
		{"noboundary.eml", "1.MIME", ""},
		{"noboundary.eml", "2", missing},
		{"noboundary.eml", "TEXT", "--x\r\nContent-Type: text/plain\r\n\r\nhello\r\n--x--\r\n"},
	}
	for _, tt := range tests {
		raw, m := fixture(t, tt.file)
		start, end, ok := Locate(m, sec(tt.section))
		got := missing
		if ok {
			if start < 0 || start > end || end > int64(len(raw)) {
				t.Fatalf("%s %s: range [%d,%d) outside the message", tt.file, tt.section, start, end)
			}
			got = string(raw[start:end])
		}
		want := tt.want
		if tt.file == "simple.eml" && tt.section == "1.MIME" {
			want = string(raw[:strings.Index(string(raw), "\r\n\r\n")+4])
		}
		if got != want {
			t.Errorf("%s BODY[%s]:\n got %q\nwant %q", tt.file, tt.section, got, want)
		}
	}

	raw, m := fixture(t, "mixed.eml")
	for _, s := range []*wire.Section{nil, {}} {
		if start, end, ok := Locate(m, s); !ok || start != 0 || end != int64(len(raw)) {
			t.Errorf("BODY[] = %d, %d, %v", start, end, ok)
		}
	}
}

// TestLocateMessageParts checks the numbering inside a message/rfc822 part
// whose message is not multipart: part 2.1 is its body (RFC 9051 section
// 6.4.5), and a message whose own type is message/rfc822.
func TestLocateMessageParts(t *testing.T) {
	raw := []byte("Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n" +
		"Content-Type: message/rfc822\r\n\r\nSubject: inner\r\n\r\ninner body\r\n--b--\r\n")
	m := message.Parse(raw)
	for sect, want := range map[string]string{
		"1":        "Subject: inner\r\n\r\ninner body",
		"1.HEADER": "Subject: inner\r\n\r\n",
		"1.TEXT":   "inner body",
		"1.1":      "inner body",
		"1.1.MIME": "Subject: inner\r\n\r\n",
	} {
		start, end, ok := Locate(m, sec(sect))
		if !ok || string(raw[start:end]) != want {
			t.Errorf("BODY[%s] = %q, %v; want %q", sect, raw[start:end], ok, want)
		}
	}
	if _, _, ok := Locate(m, sec("1.2")); ok {
		t.Errorf("BODY[1.2] found")
	}

	raw = []byte("Subject: outer\r\nContent-Type: message/rfc822\r\n\r\nSubject: inner\r\n\r\nbody\r\n")
	m = message.Parse(raw)
	for sect, want := range map[string]string{
		"HEADER":   "Subject: outer\r\nContent-Type: message/rfc822\r\n\r\n",
		"1":        "Subject: inner\r\n\r\nbody\r\n",
		"1.HEADER": "Subject: inner\r\n\r\n",
		"1.1":      "body\r\n",
	} {
		start, end, ok := Locate(m, sec(sect))
		if !ok || string(raw[start:end]) != want {
			t.Errorf("top-level message/rfc822 BODY[%s] = %q, %v; want %q", sect, raw[start:end], ok, want)
		}
	}
}

func TestFilterHeader(t *testing.T) {
	header := "Received: from a\r\n\tby b\r\n" +
		"Subject: Hello\r\n world\r\n" +
		"X-Spam: yes\r\n" +
		"subject : again\r\n" +
		"From: a@example.com\r\n" +
		"To:b@example.com\r\n" +
		"\r\n" +
		"Not: part of the header\r\n"
	tests := []struct {
		fields []string
		not    bool
		want   string
	}{
		{[]string{"SUBJECT"}, false, "Subject: Hello\r\n world\r\nsubject : again\r\n\r\n"},
		{[]string{"to", "Received"}, false, "Received: from a\r\n\tby b\r\nTo:b@example.com\r\n\r\n"},
		{[]string{"Not"}, false, "\r\n"},
		{[]string{"Subjec", "Subjects"}, false, "\r\n"},
		{[]string{"Subject", "received"}, true, "X-Spam: yes\r\nFrom: a@example.com\r\nTo:b@example.com\r\n\r\n"},
		{[]string{"Nothing"}, true, strings.TrimSuffix(header, "Not: part of the header\r\n")},
	}
	for _, tt := range tests {
		if got := string(FilterHeader([]byte(header), tt.fields, tt.not)); got != tt.want {
			t.Errorf("%v not=%v:\n got %q\nwant %q", tt.fields, tt.not, got, tt.want)
		}
	}

	// Bare LF lines are kept as they are; a last line without line end
	// is completed; a header-less continuation is not a named field.
	for _, c := range []struct{ header, want string }{
		{"A: 1\nB: 2\n\nbody", "B: 2\n\r\n"},
		{"A: 1\r\nB: 2", "B: 2\r\n\r\n"},
		{" lead\r\nB: 2\r\n", "B: 2\r\n\r\n"},
		{"", "\r\n"},
	} {
		if got := string(FilterHeader([]byte(c.header), []string{"b"}, false)); got != c.want {
			t.Errorf("FilterHeader(%q) = %q, want %q", c.header, got, c.want)
		}
	}
	if got := string(FilterHeader([]byte(" lead\r\nB: 2\r\n"), []string{"b"}, true)); got != " lead\r\n\r\n" {
		t.Errorf("NOT with a leading continuation: %q", got)
	}
}

func TestCachedHeaderFields(t *testing.T) {
	raw, m := fixture(t, "simple.eml")
	start, end, _ := Locate(m, sec("HEADER"))
	header := raw[start:end]
	for _, fields := range [][]string{
		{"Subject"},
		{"FROM", "to", "Subject", "Date", "Message-ID", "Cc", "References"},
		{"content-type", "MIME-Version"},
	} {
		got, ok := CachedHeaderFields(m, fields)
		if !ok {
			t.Errorf("%v: not answered from the cache", fields)
			continue
		}
		if want := FilterHeader(header, fields, false); string(got) != string(want) {
			t.Errorf("%v:\n got %q\nwant %q", fields, got, want)
		}
	}
	if got, _ := CachedHeaderFields(m, []string{"subject"}); string(got) != "Subject: Hello\r\n world\r\n\r\n" {
		t.Errorf("subject: %q", got)
	}
	for _, fields := range [][]string{{"Received"}, {"Subject", "X-Mailer"}} {
		if _, ok := CachedHeaderFields(m, fields); ok {
			t.Errorf("%v answered from the cache", fields)
		}
	}
	m.HeaderTruncated = true
	if _, ok := CachedHeaderFields(m, []string{"Subject"}); ok {
		t.Errorf("answered from a truncated cache")
	}
}
