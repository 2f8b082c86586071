package search

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/petrelmail/petrel/internal/fts"
	"github.com/petrelmail/petrel/internal/imap/wire"
)

var testNow = time.Date(2025, 2, 10, 12, 0, 0, 0, time.UTC)

func testContext() Context {
	return Context{MaxSeq: 4, MaxUID: 40, Saved: []uint32{30, 10}, Now: testNow}
}

// search runs a search program over the fixtures and returns the
// sequence numbers of the matches.
func search(t *testing.T, program string) string {
	t.Helper()
	msgs, l := fixtures(t)
	s := parseSearch(t, program)
	ctx := testContext()
	ctx.Charset = s.Charset
	mt, err := Compile(s.Keys, ctx)
	if err != nil {
		t.Fatalf("Compile(%s): %v", program, err)
	}
	var out []*Message
	for _, m := range msgs {
		ok, err := mt.Match(m, l)
		if err != nil {
			t.Fatalf("Match(%s, %d): %v", program, m.Seq, err)
		}
		if ok {
			out = append(out, m)
		}
	}
	return seqs(out)
}

func TestMatch(t *testing.T) {
	tests := []struct {
		program string
		want    string
	}{
		{"ALL", "1 2 3 4"},

		// Flags and keywords.
		{"SEEN", "1"},
		{"UNSEEN", "2 3 4"},
		{"ANSWERED", "2"},
		{"UNANSWERED", "1 3 4"},
		{"FLAGGED", "2"},
		{"UNFLAGGED", "1 3 4"},
		{"DELETED", "3"},
		{"UNDELETED", "1 2 4"},
		{"DRAFT", "3"},
		{"UNDRAFT", "1 2 4"},
		{"KEYWORD $important", "1"},
		{"KEYWORD work", "4"},
		{"KEYWORD nothing", ""},
		{"UNKEYWORD work", "1 2 3"},
		{"NEW", ""},
		{"RECENT", ""},
		{"OLD", "1 2 3 4"},

		// Sizes (1000, 2000, 3000, 4000): strict bounds.
		{"LARGER 2000", "3 4"},
		{"LARGER 1999", "2 3 4"},
		{"SMALLER 2000", "1"},
		{"SMALLER 2001", "1 2"},
		{"LARGER 0", "1 2 3 4"},
		{"SMALLER 0", ""},
		{"LARGER 1000 SMALLER 4000", "2 3"},

		// Sequence sets, UIDs and the saved result (UIDs 30 and 10).
		{"2:*", "2 3 4"},
		{"*", "4"},
		{"3:1", "1 2 3"},
		{"1,4", "1 4"},
		{"5:*", "4"},
		{"7", ""},
		{"$", "1 3"},
		{"$,4", "1 3 4"},
		{"UID 20:*", "2 3 4"},
		{"UID 25", ""},
		{"UID 99:*", "4"},
		{"UID 10,30:35", "1 3"},
		{"UID $", "1 3"},
		{"NOT $", "2 4"},

		// Boolean structure.
		{"OR SEEN DELETED", "1 3"},
		{"NOT SEEN", "2 3 4"},
		{"NOT NOT SEEN", "1"},
		{"NOT OR SEEN DELETED", "2 4"},
		{"OR (SEEN FLAGGED) NOT UNDRAFT", "3"},
		{"OR OR SEEN ANSWERED DELETED", "1 2 3"},
		{"OR SEEN OR ANSWERED DELETED", "1 2 3"},
		{"(NOT SEEN NOT DELETED)", "2 4"},
		{"NOT (UNSEEN UNDELETED)", "1 3"},
		{"OR NOT SEEN NOT UNDELETED", "2 3 4"},
		{"SUBJECT hello NOT BODY fox", "3 4"},
		{"FROM alice SEEN", "1"},
		{"OR SUBJECT \"café\" BODY banana", "2 4"},

		// Internal date, in its own zone: message 2 arrived on 1
		// February at 23:30 -0800, 2 February in UTC.
		{"BEFORE 3-Feb-2025", "2"},
		{"ON 1-Feb-2025", "2"},
		{"ON 2-Feb-2025", ""},
		{"ON 3-Feb-2025", "1"},
		{"SINCE 5-Feb-2025", "3 4"},
		{"SINCE 1-Feb-2025", "1 2 3 4"},

		// Sent date: the date written in the Date header, in its own
		// zone; the internal date when there is no Date header (3) or it
		// does not parse (4).
		{"SENTON 1-Feb-2025", "2"},
		{"SENTON 2-Feb-2025", ""},
		{"SENTON 3-Feb-2025", "1"},
		{"SENTON 5-Feb-2025", "3"},
		{"SENTON 10-Feb-2025", "4"},
		{"SENTBEFORE 3-Feb-2025", "2"},
		{"SENTSINCE 3-Feb-2025", "1 3 4"},

		// Save date (RFC 8514); message 2 has none: its internal date.
		{"SAVEDON 4-Feb-2025", "1"},
		{"SAVEDBEFORE 2-Feb-2025", "2"},
		{"SAVEDSINCE 6-Feb-2025", "3 4"},
		{"SAVEDATESUPPORTED", "1 2 3 4"},

		// OLDER and YOUNGER (RFC 5032), now being 10 February 12:00 UTC.
		{"OLDER 86400", "1 2 3"},
		{"YOUNGER 86400", "4"},
		{"YOUNGER 14400", "4"},
		{"YOUNGER 14399", ""},
		{"OLDER 14400", "1 2 3"},

		// MODSEQ (RFC 7162), object IDs (RFC 8474).
		{"MODSEQ 7", "2 3 4"},
		{`MODSEQ "/flags/\\draft" all 9`, "3 4"},
		{"EMAILID Mabc", "1"},
		{"EMAILID Mab", ""},
		{"THREADID T1", "1 2"},

		// Addresses: display name (decoded) and address.
		{"FROM alice", "1"},
		{`FROM "alice example"`, "1"},
		{`FROM "Example <alice@"`, "1"},
		{"FROM example.org", "1"},
		{"FROM \"jörg\"", "2"},
		{"FROM \"JÖRG\"", "2"},
		{"FROM joerg@example.de", "2"},
		{"TO alice@example.org", "3 4"},
		{"TO bob", "1"},
		{"TO undisclosed", "2"},
		{"CC carol", "1"},
		{"CC dave@", "1"},
		{`CC ""`, "1"},
		{"BCC secret", "2"},
		{`BCC ""`, "2"},

		// Subject, decoded.
		{"SUBJECT \"café\"", "2"},
		{"SUBJECT \"CAFÉ\"", "2"},
		{"SUBJECT caf", "2"},
		{"SUBJECT hello", "1 3 4"},
		{`SUBJECT "(fwd)"`, "3"},
		{`SUBJECT ""`, "1 2 3 4"},
		{"SUBJECT inner", ""},

		// HEADER: cached and uncached fields, folded values, empty value
		// for presence.
		{`HEADER X-Custom "foo bar"`, "1"},
		{`HEADER x-custom ""`, "1"},
		{`HEADER X-Empty ""`, "3"},
		{`HEADER X-Empty x`, ""},
		{`HEADER X-Folded "part second"`, "1"},
		{`HEADER Message-ID 3@example`, "3"},
		{`HEADER References 2@example.org`, "3"},
		{`HEADER Subject "café"`, "2"},
		{`HEADER Subject ""`, "1 2 3 4"},
		{`HEADER X-Nothing ""`, ""},
		{`HEADER Content-Transfer-Encoding base64`, "2"},

		// BODY: decoded text parts (base64 ISO-8859-1, quoted-printable
		// UTF-8 with a soft line break, HTML, an encapsulated message),
		// never attachments or the top-level header.
		{"BODY fox", "1"},
		{"BODY \"grüße\"", "2"},
		{"BODY \"MÜNCHEN\"", "2"},
		{"BODY \"10€\"", "2"},
		{`BODY "naïve café"`, "3"},
		{`BODY "soft line break"`, "3"},
		{"BODY kiwi", "3"},
		// HTML is searched as its text: markup does not match, text
		// split by tags does.
		{`BODY "in html: kiwi"`, "3"},
		{`BODY "<b>"`, ""},
		{`BODY "<p>"`, ""},
		{"BODY banana", "4"},
		{`BODY "inner secret"`, "4"},
		{"BODY strawberry", ""},
		{"BODY hello", ""},
		{`BODY ""`, "1 2 3 4"},

		// TEXT: the body and the whole header.
		{"TEXT hello", "1 3 4"},
		{"TEXT x-custom", "1"},
		{`TEXT "X-Custom: Foo"`, "1"},
		// The header is searched field by field, "name: decoded value".
		{`TEXT "subject: re: [foo] fwd"`, "3"},
		{`TEXT "subject: café"`, "2"},
		{"TEXT \"café\"", "2 3"},
		{"TEXT fox", "1"},
		{"TEXT \"jörg\"", "2"},

		// Charsets: the search string is converted to UTF-8.
		{"CHARSET UTF-8 SUBJECT \"café\"", "2"},
		{"CHARSET US-ASCII SUBJECT hello", "1 3 4"},
		{"CHARSET ISO-8859-1 SUBJECT \"caf\xe9\"", "2"},
		{"CHARSET ISO-8859-1 BODY \"gr\xfc\xdfe\"", "2"},
		{"CHARSET windows-1252 BODY \"\x80\"", "2"},
	}
	for _, tt := range tests {
		if got := search(t, tt.program); got != tt.want {
			t.Errorf("SEARCH %s = %q, want %q", tt.program, got, tt.want)
		}
	}
}

func TestBadCharset(t *testing.T) {
	keys := parseSearch(t, "SUBJECT x").Keys
	for _, cs := range []string{"X-UNKNOWN", "UTF-9", "ISO-2022-KR"} {
		_, err := Compile(keys, Context{Charset: cs})
		if !errors.Is(err, ErrBadCharset) {
			t.Errorf("Compile with charset %s: err %v, want ErrBadCharset", cs, err)
		}
	}
	for _, cs := range []string{"", "UTF-8", "US-ASCII", "ISO-8859-1", "KOI8-R", "SHIFT_JIS", "GB2312", "utf8"} {
		if _, err := Compile(keys, Context{Charset: cs}); err != nil {
			t.Errorf("Compile with charset %s: %v", cs, err)
		}
	}
}

func TestCompileErrors(t *testing.T) {
	for _, keys := range [][]wire.SearchKey{
		{{Op: "BOGUS"}},
		{{Op: "UID"}},
		{{Op: "OR", Keys: []wire.SearchKey{{Op: "ALL"}}}},
		{{Op: "NOT"}},
		{{Op: "AND"}},
		{{Op: "NOT", Keys: []wire.SearchKey{{Op: "BOGUS"}}}},
	} {
		if _, err := Compile(keys, Context{}); err == nil {
			t.Errorf("Compile(%+v) succeeded", keys)
		}
	}
}

func TestNeeds(t *testing.T) {
	tests := []struct {
		program string
		want    Level
	}{
		{"ALL", NeedRecord},
		{"UNSEEN", NeedRecord},
		{"SEEN UNDELETED FLAGGED KEYWORD x", NeedRecord},
		{"OR SEEN NOT DRAFT", NeedRecord},
		{"1:* UID 5:* $ LARGER 5 SMALLER 9", NeedRecord},
		{"BEFORE 1-Jan-2020 ON 1-Jan-2020 SINCE 1-Jan-2020", NeedRecord},
		{"SAVEDON 1-Jan-2020 OLDER 5 YOUNGER 5 MODSEQ 3", NeedRecord},
		{"EMAILID a THREADID b SAVEDATESUPPORTED NEW OLD RECENT", NeedRecord},
		{`BODY ""`, NeedRecord},
		{"SUBJECT x", NeedMeta},
		{"NOT FROM x", NeedMeta},
		{"OR TO x CC y", NeedMeta},
		{"BCC x", NeedMeta},
		{"SENTON 1-Jan-2020", NeedMeta},
		{"HEADER Subject x", NeedMeta},
		{`HEADER list-id ""`, NeedMeta},
		{"HEADER X-Custom x", NeedRaw},
		{"BODY x", NeedRaw},
		{"SEEN (OR SUBJECT y TEXT x)", NeedRaw},
	}
	for _, tt := range tests {
		keys := parseSearch(t, tt.program).Keys
		if got := Needs(keys); got != tt.want {
			t.Errorf("Needs(%s) = %v, want %v", tt.program, got, tt.want)
		}
		mt, err := Compile(keys, Context{})
		if err != nil {
			t.Fatal(err)
		}
		if got := mt.Level(); got != tt.want {
			t.Errorf("Level(%s) = %v, want %v", tt.program, got, tt.want)
		}
	}

	sorts := []struct {
		criteria []wire.SortCriterion
		want     Level
	}{
		{[]wire.SortCriterion{{Key: "ARRIVAL"}, {Key: "SIZE", Reverse: true}}, NeedRecord},
		{[]wire.SortCriterion{{Key: "ARRIVAL"}, {Key: "DATE"}}, NeedMeta},
		{[]wire.SortCriterion{{Key: "DISPLAYFROM"}}, NeedMeta},
	}
	for _, tt := range sorts {
		if got := SortNeeds(tt.criteria); got != tt.want {
			t.Errorf("SortNeeds(%v) = %v, want %v", tt.criteria, got, tt.want)
		}
	}
}

// TestRecordOnlyNeverLoads checks that a search Needs classes as
// NeedRecord never calls the Loader.
func TestRecordOnlyNeverLoads(t *testing.T) {
	msgs, _ := fixtures(t)
	programs := []string{
		"ALL", "UNSEEN", "SEEN FLAGGED", "OR ANSWERED NOT DELETED", "KEYWORD work",
		"UNKEYWORD work UNDRAFT", "NEW", "OLD", "RECENT", "2:* UID 20:30", "$",
		"LARGER 10 SMALLER 5000", "BEFORE 1-Mar-2025 SINCE 1-Jan-2025",
		"SAVEDSINCE 1-Jan-2025 SAVEDATESUPPORTED", "OLDER 60 YOUNGER 99999999",
		"MODSEQ 1 EMAILID Mabc", `BODY ""`, `TEXT ""`, "(SEEN (UNDELETED (NOT DRAFT)))",
	}
	for _, p := range programs {
		keys := parseSearch(t, p).Keys
		if lv := Needs(keys); lv != NeedRecord {
			t.Errorf("Needs(%s) = %v, want NeedRecord", p, lv)
			continue
		}
		mt, err := Compile(keys, testContext())
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range msgs {
			if _, err := mt.Match(m, failLoader{t}); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// TestLoaderCalls checks that Match loads no more than the keys need, once.
func TestLoaderCalls(t *testing.T) {
	tests := []struct {
		program        string
		meta, raw      int // calls over the 4 fixtures
		wantMatchCount int
	}{
		// Cached fields and the envelope: metadata only.
		{"SUBJECT hello FROM alice SENTSINCE 1-Jan-2020 HEADER Message-ID 1", 4, 0, 1},
		// Record keys first: only messages 1 reaches BODY.
		{"SEEN BODY fox", 1, 1, 1},
		{"BODY fox UNSEEN", 3, 3, 0},
		// OR tries the cheap side first.
		{"OR BODY fox SEEN", 3, 3, 1},
		// Several raw keys share one load.
		{"HEADER X-Custom foo BODY fox TEXT quick", 4, 4, 1},
	}
	for _, tt := range tests {
		msgs, l := fixtures(t)
		mt, err := Compile(parseSearch(t, tt.program).Keys, testContext())
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, m := range msgs {
			ok, err := mt.Match(m, l)
			if err != nil {
				t.Fatal(err)
			}
			if ok {
				n++
			}
		}
		if l.metaCalls != tt.meta || l.rawCalls != tt.raw || n != tt.wantMatchCount {
			t.Errorf("%s: %d Meta, %d Raw calls, %d matches; want %d, %d, %d",
				tt.program, l.metaCalls, l.rawCalls, n, tt.meta, tt.raw, tt.wantMatchCount)
		}
	}
}

// TestTruncatedHeader checks that a cached field is read from the raw
// message when the cached header was truncated.
func TestTruncatedHeader(t *testing.T) {
	msgs, l := fixtures(t)
	meta := *l.meta[10]
	meta.Header, meta.HeaderTruncated = nil, true
	l.meta[10] = &meta
	mt, err := Compile(parseSearch(t, `HEADER Subject "hello world"`).Keys, testContext())
	if err != nil {
		t.Fatal(err)
	}
	ok, err := mt.Match(msgs[0], l)
	if !ok || err != nil || l.rawCalls != 1 {
		t.Errorf("Match = %v, %v with %d Raw calls; want true, nil, 1", ok, err, l.rawCalls)
	}
}

func TestLoaderError(t *testing.T) {
	mt, err := Compile(parseSearch(t, "NOT SUBJECT x").Keys, testContext())
	if err != nil {
		t.Fatal(err)
	}
	ok, err := mt.Match(&Message{UID: 99}, newFakeLoader())
	if ok || err == nil {
		t.Errorf("Match = %v, %v; want false and an error", ok, err)
	}
}

func TestEmptyMailboxStar(t *testing.T) {
	mt, err := Compile(parseSearch(t, "OR 1:* UID *").Keys, Context{})
	if err != nil {
		t.Fatal(err)
	}
	if ok, _ := mt.Match(&Message{Seq: 1, UID: 1}, failLoader{t}); ok {
		t.Error("1:* matched in an empty mailbox")
	}
}

func TestFold(t *testing.T) {
	tests := []struct {
		hay, needle string
		want        bool
	}{
		{"Hello World", "o w", true},
		{"HELLO", "hello", true},
		{"hello", "HELLO", true},
		{"Café", "CAFÉ", true},
		{"Kelvin: \u212a", "k", true}, // Kelvin sign
		{"kelvin", "\u212a", true},
		{"\"ΣΊΣΥΦΟΣ\"", "σίσυφος", true},
		{"\"Straße\"", "STRASSE", false}, // no full folding
		{"abc", "é", false},
		{"", "", true},
		{"abc", "", true},
		{"ab", "abc", false},
	}
	for _, tt := range tests {
		if got := containsFold(tt.hay, fts.Fold(tt.needle)); got != tt.want {
			t.Errorf("containsFold(%q, %q) = %v", tt.hay, tt.needle, got)
		}
		if got := containsFold([]byte(tt.hay), fts.Fold(tt.needle)); got != tt.want {
			t.Errorf("containsFold([]byte %q, %q) = %v", tt.hay, tt.needle, got)
		}
	}
}

func TestFieldValues(t *testing.T) {
	h := []byte("Subject: a\r\nX-A: one\r\n two\r\nx-a:three\r\nX-B :\r\n\tfolded\r\nX-C:\r\n\r\n")
	var got []string
	fieldValues(h, "X-A", func(v []byte) bool { got = append(got, string(v)); return true })
	if strings.Join(got, "|") != "one two|three" {
		t.Errorf("X-A values %q", got)
	}
	if v := fieldValue(h, "x-b"); string(v) != "folded" {
		t.Errorf("X-B = %q", v)
	}
	if v := fieldValue(h, "X-C"); v == nil || len(v) != 0 {
		t.Errorf("X-C = %q, want empty non-nil", v)
	}
	if fieldValue(h, "X-D") != nil || fieldValues(h, "X-D", nil) {
		t.Error("X-D found")
	}
}

func TestParseDate(t *testing.T) {
	tests := []struct {
		in   string
		want string // RFC 3339, "" when unparseable
	}{
		{"Mon, 3 Feb 2025 10:00:00 +0000", "2025-02-03T10:00:00Z"},
		{"Sat, 1 Feb 2025 23:30:00 -0800", "2025-02-01T23:30:00-08:00"},
		{"1 Feb 2025 23:30 -0800 (PST)", "2025-02-01T23:30:00-08:00"},
		{"Sat, 01 Feb 25 10:00:00 EST", "2025-02-01T10:00:00-05:00"},
		{"Sat, 01 Feb 99 10:00:00 GMT", "1999-02-01T10:00:00Z"},
		{"Mon Jan  2 15:04:05 2006", "2006-01-02T15:04:05Z"},
		{"2006-01-02T15:04:05Z", "2006-01-02T15:04:05Z"},
		{"Sun, 06 Nov 1994 08:49:37 +0000 (UTC)", "1994-11-06T08:49:37Z"},
		{"Tue, 30 Jun 2015 23:59:60 +0000", "2015-06-30T23:59:59Z"},
		{"02-Jan-2006 15:04:05 +0100", "2006-01-02T15:04:05+01:00"},
		{"2-jan-06", "2006-01-02T00:00:00Z"},
		{"Fri, 31 Feb 2025 10:00:00 +0000", ""},
		{"this is not a date", ""},
		{"", ""},
		{"Mon, 3 Feb 2025 25:00:00 +0000", ""},
	}
	for _, tt := range tests {
		d, ok := parseDate([]byte(tt.in))
		got := ""
		if ok {
			got = d.Format(time.RFC3339)
		}
		if got != tt.want {
			t.Errorf("parseDate(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestAppendNumSet(t *testing.T) {
	tests := []struct {
		in   []uint32
		want string
	}{
		{nil, ""},
		{[]uint32{1}, "1"},
		{[]uint32{1, 2, 3, 7, 9, 10}, "1:3,7,9:10"},
		{[]uint32{1, 1, 2, 4, 4}, "1:2,4"},
		{[]uint32{5, 6, 8, 9, 10, 11}, "5:6,8:11"},
		{[]uint32{4294967294, 4294967295}, "4294967294:4294967295"},
	}
	for _, tt := range tests {
		if got := string(AppendNumSet([]byte(nil), tt.in)); got != tt.want {
			t.Errorf("AppendNumSet(%v) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
