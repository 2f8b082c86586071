package wire

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

func TestUTF7(t *testing.T) {
	tests := []struct{ utf8, utf7 string }{
		{"INBOX", "INBOX"},
		{"", ""},
		{"&", "&-"},
		{"a&b", "a&-b"},
		// RFC 3501 section 5.1.3.
		{"~peter/mail/台北/日本語", "~peter/mail/&U,BTFw-/&ZeVnLIqe-"},
		{"☺!", "&Jjo-!"},
		{"été", "&AOk-t&AOk-"},
		// Non-BMP: a surrogate pair.
		{"😀", "&2D3eAA-"},
		{"a😀é&", "a&2D3eAADp-&-"},
		// Control characters are encoded.
		{"a\tb", "a&AAk-b"},
	}
	for _, tc := range tests {
		if got := EncodeUTF7(tc.utf8); got != tc.utf7 {
			t.Errorf("EncodeUTF7(%q) = %q, want %q", tc.utf8, got, tc.utf7)
		}
		if got, err := DecodeUTF7(tc.utf7); err != nil || got != tc.utf8 {
			t.Errorf("DecodeUTF7(%q) = %q, %v, want %q", tc.utf7, got, err, tc.utf8)
		}
	}
	for _, bad := range []string{
		"&",          // unterminated
		"&Jjo",       // unterminated
		"&Jj!-",      // not base64
		"&AGE-",      // "a" encoded
		"&AOk-&AOk-", // two adjacent runs
		"&2D0-",      // lone high surrogate
		"&3gA-",      // lone low surrogate
		"&Jjp-",      // non-zero padding bits
		"&AO-",       // odd octet count
		"é",          // 8-bit
		"a\x01",      // control
		"&Jjo=-",     // padding
		"&Jjo/-",     // "/" is ","
	} {
		if got, err := DecodeUTF7(bad); err == nil {
			t.Errorf("DecodeUTF7(%q) = %q, want error", bad, got)
		}
	}
}

func TestMailboxDecode(t *testing.T) {
	tests := []struct {
		raw  MailboxName
		utf8 bool
		want string
		ok   bool
	}{
		{"inbox", false, "INBOX", true},
		{"InBoX", true, "INBOX", true},
		{"INBOX/Sub", false, "INBOX/Sub", true},
		{"&AOk-t&AOk-", false, "été", true},
		{"&AOk-t&AOk-", true, "&AOk-t&AOk-", true},
		{"été", true, "été", true},
		{"été", false, "", false},
		{"\xff", true, "", false},
		{"a\x01b", true, "", false},
		{"a\u0085b", true, "", false},
	}
	for _, tc := range tests {
		got, err := tc.raw.Decode(tc.utf8)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("%q.Decode(%v) = %q, %v; want %q ok %v", tc.raw, tc.utf8, got, err, tc.want, tc.ok)
		}
	}
}

func TestStringEncoding(t *testing.T) {
	tests := []struct {
		s           string
		utf8        bool
		astring     string
		needLiteral bool
	}{
		{"abc", false, "abc", false},
		{"", false, `""`, false},
		{"NIL", false, `"NIL"`, false},
		{"a b", false, `"a b"`, false},
		{`a"b`, false, `"a\"b"`, false},
		{`a\b`, false, `"a\\b"`, false},
		{"a]b", false, "a]b", false},
		{"a(b", false, `"a(b"`, false},
		{"a*b", false, `"a*b"`, false},
		{"été", false, "{5}\r\nété", true},
		{"été", true, `"été"`, false},
		{"\xff", true, "{1}\r\n\xff", true},
		{"a\rb", true, "{3}\r\na\rb", true},
		{"a\nb", false, "{3}\r\na\nb", true},
		{"a\x00b", false, "{3}\r\na\x00b", true},
	}
	for _, tc := range tests {
		if got := string(AppendAstring(nil, tc.s, tc.utf8)); got != tc.astring {
			t.Errorf("AppendAstring(%q, %v) = %q, want %q", tc.s, tc.utf8, got, tc.astring)
		}
		if got := NeedsLiteral(tc.s, tc.utf8); got != tc.needLiteral {
			t.Errorf("NeedsLiteral(%q, %v) = %v", tc.s, tc.utf8, got)
		}
	}
	if got := string(AppendNString(nil, nil, false)); got != "NIL" {
		t.Errorf("got %q", got)
	}
	s := "NIL"
	if got := string(AppendNString(nil, &s, false)); got != `"NIL"` {
		t.Errorf("got %q", got)
	}
	if got := string(AppendLiteral(nil, "\x00\x01", true)); got != "~{2}\r\n\x00\x01" {
		t.Errorf("got %q", got)
	}
	if got := string(AppendMailbox(nil, "Entwürfe", false)); got != "Entw&APw-rfe" {
		t.Errorf("got %q", got)
	}
	if got := string(AppendMailbox(nil, "Entwürfe", true)); got != `"Entwürfe"` {
		t.Errorf("got %q", got)
	}
	if got := string(AppendMailbox(nil, "A&B", false)); got != "A&-B" {
		t.Errorf("got %q", got)
	}
	if !IsAtom("FLAGS") || IsAtom("") || IsAtom("a]") || IsAtom("a b") {
		t.Error("IsAtom")
	}
	tm := time.Date(1994, 2, 7, 21, 52, 25, 0, time.FixedZone("", -8*3600))
	if got := string(AppendDateTime(nil, tm)); got != `" 7-Feb-1994 21:52:25 -0800"` {
		t.Errorf("got %q", got)
	}
}

func TestNumSet(t *testing.T) {
	r, _ := newTestReader("a COPY 1:3,7,10:*,*:20,$ x\r\n", Limits{})
	cmd, err := r.ReadCommand()
	if err != nil {
		t.Fatal(err)
	}
	s := cmd.Args.(*Copy).Set
	if got := s.String(); got != "$,1:3,7,10:*,*:20" {
		t.Errorf("String %q", got)
	}
	if !s.SearchResult || !s.HasStar() {
		t.Error("flags")
	}
	for _, tc := range []struct {
		n, max uint32
		want   bool
	}{
		{1, 100, true}, {3, 100, true}, {4, 100, false}, {7, 100, true}, {8, 100, false},
		{10, 100, true}, {100, 100, true}, {101, 100, false},
		{5, 5, true}, // 10:* with * = 5 is 5:10
		{9, 9, true},
		{1, 0, true}, {10, 0, false},
	} {
		if got := s.Contains(tc.n, tc.max); got != tc.want {
			t.Errorf("Contains(%d, %d) = %v", tc.n, tc.max, got)
		}
	}
	var got [][2]uint32
	for lo, hi := range s.All(15) {
		got = append(got, [2]uint32{lo, hi})
	}
	want := [][2]uint32{{1, 3}, {7, 7}, {10, 15}, {15, 20}}
	if len(got) != len(want) {
		t.Fatalf("All: %v", got)
	}
	if n := slices.Collect(s.Numbers(12)); fmt.Sprint(n) != "[1 2 3 7 10 11 12 12 13 14 15 16 17 18 19 20]" {
		t.Errorf("Numbers(12): %v", n)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("All: %v", got)
		}
	}
	// Stop early.
	for range s.All(15) {
		break
	}
	if (NumSet{Ranges: []NumRange{{Star, Star}}}).Contains(0, 0) {
		t.Error("* in an empty mailbox")
	}
}
