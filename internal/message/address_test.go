package message

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
)

func TestParseAddressList(t *testing.T) {
	end := addr("NIL", "NIL", "NIL", "NIL")
	tests := []struct {
		in   string
		want []Address
	}{
		{"a@b.c", []Address{addr("NIL", "NIL", "a", "b.c")}},
		{"John Doe <jdoe@machine.example>", []Address{addr("John Doe", "NIL", "jdoe", "machine.example")}},
		{`"Joe Q. Public" <john.q.public@example.com>`, []Address{addr("Joe Q. Public", "NIL", "john.q.public", "example.com")}},
		{`"Giant; \"Big\" Box" <sysservices@example.net>`, []Address{addr(`Giant; "Big" Box`, "NIL", "sysservices", "example.net")}},
		{"Mary Smith <mary@x.test>, jdoe@example.org, Who? <one@y.test>", []Address{
			addr("Mary Smith", "NIL", "mary", "x.test"),
			addr("NIL", "NIL", "jdoe", "example.org"),
			addr("Who?", "NIL", "one", "y.test"),
		}},
		{"<boss@nil.test>, \"Giant; \\\"Big\\\" Box\" <sysservices@example.net>", []Address{
			addr("NIL", "NIL", "boss", "nil.test"),
			addr(`Giant; "Big" Box`, "NIL", "sysservices", "example.net"),
		}},
		// RFC 5322 appendix A.1.3 group.
		{"A Group:Ed Jones <c@a.test>,joe@where.test,John <jdoe@one.test>;", []Address{
			addr("NIL", "NIL", "A Group", "NIL"),
			addr("Ed Jones", "NIL", "c", "a.test"),
			addr("NIL", "NIL", "joe", "where.test"),
			addr("John", "NIL", "jdoe", "one.test"),
			end,
		}},
		{"Undisclosed recipients:;", []Address{addr("NIL", "NIL", "Undisclosed recipients", "NIL"), end}},
		// RFC 5322 appendix A.5: comments and CFWS.
		{"Pete(A nice \\) chap) <pete(his account)@silly.test(his host)>", []Address{addr("Pete", "NIL", "pete", "silly.test")}},
		{"jdoe@example.org (John Doe)", []Address{addr("John Doe", "NIL", "jdoe", "example.org")}},
		// RFC 5322 section 4.4 obs-route and obs-local-part.
		{"Mary <@machine.tld,@other.tld:mary@example.net>", []Address{addr("Mary", "@machine.tld,@other.tld", "mary", "example.net")}},
		{"John . Doe <john . doe @ example . org>", []Address{addr("John . Doe", "NIL", "john.doe", "example.org")}},
		// Quoted local part keeps its quotes.
		{`"john doe"@example.org`, []Address{addr("NIL", "NIL", `"john doe"`, "example.org")}},
		// Encoded words stay raw.
		{"=?utf-8?q?J=C3=B6rg?= <j@x.de>", []Address{addr("=?utf-8?q?J=C3=B6rg?=", "NIL", "j", "x.de")}},
		{`"=?utf-8?q?J=C3=B6rg?=" <j@x.de>`, []Address{addr("=?utf-8?q?J=C3=B6rg?=", "NIL", "j", "x.de")}},
		// Domain literal.
		{"a@[192.0.2.1]", []Address{addr("NIL", "NIL", "a", "[192.0.2.1]")}},
		// Malformed input: salvage what can be.
		{"undisclosed-recipients", []Address{addr("NIL", "NIL", "undisclosed-recipients", "")}},
		{"<foo>", []Address{addr("NIL", "NIL", "foo", "")}},
		{"<>", []Address{addr("NIL", "NIL", "", "")}},
		{"Name <a@b", []Address{addr("Name", "NIL", "a", "b")}},
		{`"unterminated <a@b>`, []Address{addr("NIL", "NIL", `"unterminated <a@b>`, "")}},
		{"a@b garbage here, c@d", []Address{addr("NIL", "NIL", "a", "b"), addr("NIL", "NIL", "c", "d")}},
		{",,, ,", nil},
		{"@example.com", []Address{addr("NIL", "NIL", "", "example.com")}},
		{"a@", []Address{addr("NIL", "NIL", "a", "")}},
		{"Grp: a@b", []Address{addr("NIL", "NIL", "Grp", "NIL"), addr("NIL", "NIL", "a", "b"), end}},
		{"x;y", []Address{addr("NIL", "NIL", "x", ""), addr("NIL", "NIL", "y", "")}},
		{"a@b>, <<c@d>>", []Address{addr("NIL", "NIL", "a", "b>"), addr("NIL", "NIL", "", "")}},
		{"J\xf6rg <j@x.de>", []Address{addr("J\xf6rg", "NIL", "j", "x.de")}},
		{"(only a comment)", nil},
		{"G1: a@b, G2: c@d;;", []Address{addr("NIL", "NIL", "G1", "NIL"), addr("NIL", "NIL", "a", "b"), addr("NIL", "NIL", "G2:c", "d"), end}},
	}
	for _, tc := range tests {
		got := parseAddressList([]byte(tc.in))
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("parseAddressList(%q) =\n\t%s\nwant\n\t%s", tc.in, fmtAddrs(got), fmtAddrs(tc.want))
		}
	}
}

func TestParseContentType(t *testing.T) {
	tests := []struct {
		in       string
		typ, sub string
		params   []Param
		ok       bool
	}{
		{"text/plain", "text", "plain", nil, true},
		{`Text/HTML; Charset="UTF-8"`, "text", "html", []Param{{"Charset", "UTF-8"}}, true},
		{`multipart/mixed; boundary="a;b\"c"; x=y`, "multipart", "mixed", []Param{{"boundary", `a;b"c`}, {"x", "y"}}, true},
		{`application/pdf; name=file name.pdf`, "application", "pdf", []Param{{"name", "file name.pdf"}}, true},
		{`text/plain; charset=us-ascii (Plain text)`, "text", "plain", []Param{{"charset", "us-ascii"}}, true},
		{`text/plain; name*0*=utf-8''a%20; name*1=b`, "text", "plain", []Param{{"name*0*", "utf-8''a%20"}, {"name*1", "b"}}, true},
		{`text/plain;; noequals; =v; a=`, "text", "plain", []Param{{"a", ""}}, true},
		{`text`, "text", "", nil, false},
		{`/plain; a=b`, "", "plain", []Param{{"a", "b"}}, false},
		{`text/plain; a="unterminated`, "text", "plain", []Param{{"a", "unterminated"}}, true},
	}
	for _, tc := range tests {
		typ, sub, params, ok := parseContentType([]byte(tc.in))
		if typ != tc.typ || sub != tc.sub || ok != tc.ok || !reflect.DeepEqual(params, tc.params) {
			t.Errorf("parseContentType(%q) = %q %q %q %v, want %q %q %q %v", tc.in, typ, sub, params, ok, tc.typ, tc.sub, tc.params, tc.ok)
		}
	}
}

func TestUnfold(t *testing.T) {
	tests := []struct{ in, want string }{
		{" Hello\r\n world ", "Hello world"},
		{"\tA\n\tB", "A\tB"},
		{"", ""},
		{" x\ry ", "x\ry"},
	}
	for _, tc := range tests {
		got := unfold([]byte(tc.in))
		if string(got) != tc.want || got == nil {
			t.Errorf("unfold(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestPreviewHelpers(t *testing.T) {
	if got := string(decodeQP([]byte("a=3Db=\r\nc=\nd=ZZ=4"))); got != "a=bcd=ZZ=4" {
		t.Errorf("decodeQP = %q", got)
	}
	if got := string(decodeBase64([]byte("aGVs\r\nbG8=\r\nIHdv cmxk!"))); got != "hello world" {
		t.Errorf("decodeBase64 = %q", got)
	}
	if got := collapse(" a \t\r\n b\u200b\u00a0c\x00 ", 256); got != "a b c" {
		t.Errorf("collapse = %q", got)
	}
	if got := collapse("ab cd", 3); got != "ab" {
		t.Errorf("collapse max = %q", got)
	}
	if got := htmlText("a<br>b<STYLE>x</style>c < d<!-- e -->f&#233;"); got != "a bc < dfé" {
		t.Errorf("htmlText = %q", got)
	}
	if got := ToUTF8([]byte("\x93hi\x94"), "windows-1252"); got != "\u201chi\u201d" {
		t.Errorf("ToUTF8 = %q", got)
	}
	if got := ToUTF8([]byte("a\xffb"), "x-unknown"); got != "a\ufffdb" {
		t.Errorf("ToUTF8 unknown = %q", got)
	}
}

// fmtAddrs renders addresses like an IMAP address list, for messages.
func fmtAddrs(as []Address) string {
	if as == nil {
		return "NIL"
	}
	f := func(b []byte) string {
		if b == nil {
			return "NIL"
		}
		return fmt.Sprintf("%q", b)
	}
	var s strings.Builder
	s.WriteString("(")
	for _, a := range as {
		s.WriteString("(" + f(a.Name) + " " + f(a.Route) + " " + f(a.Mailbox) + " " + f(a.Host) + ")")
	}
	return s.String() + ")"
}
