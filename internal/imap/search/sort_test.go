package search

import (
	"strings"
	"testing"

	"github.com/petrelmail/petrel/internal/imap/wire"
)

func TestBaseSubject(t *testing.T) {
	tests := []struct {
		in    string
		want  string
		refwd bool
	}{
		{"Hello", "Hello", false},
		{"Re: [foo] Fwd: Hello (fwd)", "Hello", true},
		{"Re: Hello", "Hello", true},
		{"RE:   hello  ", "hello", true},
		{"Fw: Hello", "Hello", true},
		{"FWD: Hello", "Hello", true},
		{"fwd:Hello", "Hello", true},
		{"Re[2]: Hello", "Hello", true},
		{"Re [2] : Hello", "Hello", true},
		{"Re:Re:Re: x", "x", true},
		{"Fwd: [list] Re: x", "x", true},
		{"Ref: Hello", "Ref: Hello", false},
		{"Reply: Hello", "Reply: Hello", false},
		{"[list] Hello", "Hello", false},
		{"[list] [other] Hello", "Hello", false},
		{"[only]", "[only]", false},
		{"[a] [b]", "[b]", false},
		{"[a] Re: [b]", "[b]", true},
		{"[fwd: Hello]", "Hello", true},
		{"[Fwd: Re: Hello (fwd)]", "Hello", true},
		{"Re: [fwd: [list] Re: Hello]", "Hello", true},
		{"  [fwd: x ]", "x", true},
		{"Hello (fwd) (fwd)", "Hello", true},
		{"Hello(fwd)", "Hello", true},
		{"Hello\t\tworld\r\n  again", "Hello world again", false},
		{"Re: ", "", true},
		{"Re: (fwd)", "", true},
		{"", "", false},
		{"(fwd)", "", true},
		{"[unclosed Hello", "[unclosed Hello", false},
		{"Re: [PATCH v2] Fix it", "Fix it", true},
		{"Ré: Bonjour", "Ré: Bonjour", false},
	}
	for _, tt := range tests {
		got, refwd := baseSubject(tt.in)
		if got != tt.want || refwd != tt.refwd {
			t.Errorf("baseSubject(%q) = %q, %v; want %q, %v", tt.in, got, refwd, tt.want, tt.refwd)
		}
	}
	// BaseSubject decodes encoded words first (RFC 5256 section 2.1,
	// step 1).
	for in, want := range map[string]string{
		"=?iso-8859-1?q?Re=3A_caf=E9?=":         "café",
		"=?utf-8?q?Fwd=3A?= =?utf-8?q?_Hello?=": "Hello",
		"Re: =?utf-8?b?W2xpc3Rd?= Hello (fwd)":  "Hello",
	} {
		if got := BaseSubject(in); got != want {
			t.Errorf("BaseSubject(%q) = %q, want %q", in, got, want)
		}
	}
}

func parseSort(t *testing.T, criteria string) []wire.SortCriterion {
	t.Helper()
	return parseCommand(t, "a SORT "+criteria+" UTF-8 ALL").Args.(*wire.Sort).Criteria
}

func TestSort(t *testing.T) {
	// The fixtures' keys:
	//
	//	seq size  sent date (UTC)   arrival (UTC)     from   to     cc     subject      displayfrom
	//	1   1000  3 Feb 10:00       3 Feb 11:00       alice  bob    carol  hello world  alice example
	//	2   2000  2 Feb 07:30       2 Feb 07:30       joerg  ""     ""     café         jörg
	//	3   3000  5 Feb 09:00 (*)   5 Feb 09:00       bob    alice  ""     hello        bob@example.com
	//	4   4000  10 Feb 08:00 (*)  10 Feb 08:00      carol  alice  ""     hello world  carol@example.net
	//
	// (*) from the internal date. Message 2's To is an empty group.
	tests := []struct {
		criteria string
		want     string
	}{
		{"(SUBJECT)", "2 3 1 4"},
		{"(REVERSE SUBJECT)", "1 4 3 2"}, // REVERSE does not reverse the sequence tie-break
		{"(SIZE)", "1 2 3 4"},
		{"(REVERSE SIZE)", "4 3 2 1"},
		{"(DATE)", "2 1 3 4"},
		{"(REVERSE DATE)", "4 3 1 2"},
		{"(ARRIVAL)", "2 1 3 4"},
		{"(FROM)", "1 3 4 2"},
		{"(TO)", "2 3 4 1"},
		{"(CC)", "2 3 4 1"},
		{"(REVERSE CC)", "1 2 3 4"},
		{"(DISPLAYFROM)", "1 3 4 2"},
		{"(DISPLAYTO)", "2 3 4 1"},
		{"(TO REVERSE DATE)", "2 4 3 1"},
		{"(REVERSE TO SUBJECT)", "1 3 4 2"},
		{"(SUBJECT REVERSE ARRIVAL)", "2 3 4 1"},
		{"(CC SIZE)", "2 3 4 1"},
		{"(CC REVERSE SIZE)", "4 3 2 1"},
	}
	for _, tt := range tests {
		msgs, l := fixtures(t)
		// Shuffle the input: the result must not depend on it.
		in := []*Message{msgs[3], msgs[1], msgs[0], msgs[2]}
		out, err := Sort(in, parseSort(t, tt.criteria), l)
		if err != nil {
			t.Fatal(err)
		}
		if got := seqs(out); got != tt.want {
			t.Errorf("SORT %s = %q, want %q", tt.criteria, got, tt.want)
		}
		if seqs(in) != "4 2 1 3" {
			t.Errorf("SORT %s modified its input", tt.criteria)
		}
		if l.rawCalls != 0 || l.metaCalls > 4 {
			t.Errorf("SORT %s: %d Meta and %d Raw calls", tt.criteria, l.metaCalls, l.rawCalls)
		}
	}
	// Record-only criteria never load.
	msgs, _ := fixtures(t)
	if _, err := Sort(msgs, parseSort(t, "(REVERSE ARRIVAL SIZE)"), failLoader{t}); err != nil {
		t.Fatal(err)
	}
	if _, err := Sort(msgs, []wire.SortCriterion{{Key: "BOGUS"}}, failLoader{t}); err == nil {
		t.Error("Sort with an unknown key succeeded")
	}
}

// threadMsgs builds messages with the given header fields, sequence
// numbers from 1, sent one hour apart.
func threadMsgs(t *testing.T, headers []string) ([]*Message, *fakeLoader) {
	t.Helper()
	l := newFakeLoader()
	var msgs []*Message
	for i, h := range headers {
		seq := uint32(i + 1)
		m := &Message{Seq: seq, UID: 100 + seq, InternalDate: date(2025, 3, 1, i, 0, 0)}
		raw := strings.ReplaceAll(strings.TrimSpace(h), "|", "\r\n") + "\r\n\r\nbody\r\n"
		if !strings.Contains(raw, "Date:") {
			raw = "Date: " + date(2025, 2, 1, i, 0, 0).Format("Mon, 2 Jan 2006 15:04:05 -0700") + "\r\n" + raw
		}
		l.add(m.UID, []byte(raw))
		msgs = append(msgs, m)
	}
	return msgs, l
}

// The REFERENCES fixture: one message per line, "|" separating fields.
var referencesFixture = []string{
	/* 1 A */ "Message-ID: <a@x>|Subject: Topic",
	/* 2 B */ "Message-ID: <b@x>|References: <a@x>|Subject: Re: Topic",
	// C's parent <missing@x> is a dummy under A, pruned: C becomes A's child.
	/* 3 C */ "Message-ID: <c@x>|References: <a@x> <missing@x>|Subject: Re: Topic",
	// D and E reply to the same missing message: a dummy at the top.
	/* 4 D */ "Message-ID: <d@x>|References: <z@x>|Subject: Other",
	/* 5 E */ `Message-ID: <"e"@x>|In-Reply-To: <z@x>|Subject: Re: Other`,
	// F and G reference each other; F references itself: no loop.
	/* 6 F */ "Message-ID: <f@x>|References: <g@x> <f@x>|Subject: Loop",
	/* 7 G */ "Message-ID: <g@x>|References: <f@x>|Subject: Re: Loop",
	// H has A's Message-ID: it gets a unique one.
	/* 8 H */ "Message-ID: <a@x>|Subject: Dup",
	// I has no Message-ID; In-Reply-To in quoted form names E... and B.
	/* 9 I */ "In-Reply-To: <b@x> <e@x>|Subject: Re: Topic",
	// J has D's subject: it joins the dummy's thread (step 5.C).
	/* 10 J */ "Message-ID: <j@x>|Subject: Other",
	// K has A's subject and is no reply: A and K under a new dummy.
	/* 11 K */ "Message-ID: <k@x>|Subject: topic",
	// L replies to E, quoted differently (RFC 5256 section 4: normalized).
	/* 12 L */ `Message-ID: <l@x>|References: <z@x> <e@"x">|Subject: Re: Other`,
	// M: a reply-subject thread of its own merges under N (step 5.C).
	/* 13 M */ "Message-ID: <m@x>|Subject: Re: Solo",
	/* 14 N */ "Message-ID: <n@x>|Subject: Solo",
}

func TestThreadReferences(t *testing.T) {
	msgs, l := threadMsgs(t, referencesFixture)
	roots, err := Thread(msgs, "references", l)
	if err != nil {
		t.Fatal(err)
	}
	want := "((1 (2 9)(3))(11))((4)(5 12)(10))(6 7)(8)(14 13)"
	if got := string(AppendThreads(nil, roots, false)); got != want {
		t.Errorf("THREAD REFERENCES = %s\nwant                %s", got, want)
	}
	if l.rawCalls != 0 || l.metaCalls != len(msgs) {
		t.Errorf("%d Meta and %d Raw calls", l.metaCalls, l.rawCalls)
	}
	// UIDs instead of sequence numbers.
	wantUID := "((101 (102 109)(103))(111))((104)(105 112)(110))(106 107)(108)(114 113)"
	if got := string(AppendThreads(nil, roots, true)); got != wantUID {
		t.Errorf("UID THREAD REFERENCES = %s, want %s", got, wantUID)
	}
	// The result does not depend on the order of the input.
	rev := make([]*Message, len(msgs))
	for i, m := range msgs {
		rev[len(msgs)-1-i] = m
	}
	roots, err = Thread(rev, "REFERENCES", l)
	if err != nil {
		t.Fatal(err)
	}
	if got := string(AppendThreads(nil, roots, false)); got != want {
		t.Errorf("THREAD REFERENCES of reversed input = %s", got)
	}
	// Dummies are nil messages.
	if roots[0].Msg != nil || len(roots[0].Children) != 2 || roots[0].Children[0].Msg != msgs[0] {
		t.Errorf("first thread is not a dummy over A and K")
	}
}

func TestThreadReferencesDates(t *testing.T) {
	// Sent dates, not arrival, order siblings and threads; a message
	// without a Date header uses its internal date.
	msgs, l := threadMsgs(t, []string{
		"Date: Sat, 1 Feb 2025 12:00:00 +0000|Message-ID: <p@x>|Subject: P",
		"Date: Sat, 1 Feb 2025 15:00:00 +0000|Message-ID: <r1@x>|References: <p@x>|Subject: Re: P",
		"Date: Sat, 1 Feb 2025 14:00:00 +0000|Message-ID: <r2@x>|References: <p@x>|Subject: Re: P",
		"Date: Sat, 1 Feb 2025 07:00:00 -0500|Message-ID: <q@x>|Subject: Q", // 12:00 UTC: ties with P, seq breaks it
		"Date: Fri, 31 Jan 2025 10:00:00 +0000|Message-ID: <s@x>|Subject: S",
	})
	roots, err := Thread(msgs, "REFERENCES", l)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(AppendThreads(nil, roots, false)), "(5)(1 (3)(2))(4)"; got != want {
		t.Errorf("THREAD REFERENCES = %s, want %s", got, want)
	}
}

func TestThreadOrderedSubject(t *testing.T) {
	msgs, l := threadMsgs(t, referencesFixture)
	roots, err := Thread(msgs, "OrderedSubject", l)
	if err != nil {
		t.Fatal(err)
	}
	want := "(1 (2)(3)(9)(11))(4 (5)(10)(12))(6 7)(8)(13 14)"
	if got := string(AppendThreads(nil, roots, false)); got != want {
		t.Errorf("THREAD ORDEREDSUBJECT = %s\nwant                    %s", got, want)
	}
	for _, r := range roots {
		for _, c := range r.Children {
			if len(c.Children) != 0 {
				t.Error("ORDEREDSUBJECT produced grandchildren")
			}
		}
	}
}

func TestThreadUnknown(t *testing.T) {
	if _, err := Thread(nil, "X-JWZ", failLoader{t}); err == nil {
		t.Error("Thread with an unknown algorithm succeeded")
	}
	roots, err := Thread(nil, "REFERENCES", failLoader{t})
	if err != nil || len(roots) != 0 || string(AppendThreads(nil, roots, false)) != "" {
		t.Errorf("Thread of nothing = %v, %v", roots, err)
	}
}

func TestAppendThreads(t *testing.T) {
	n := func(seq uint32, kids ...*Node) *Node {
		return &Node{Msg: &Message{Seq: seq, UID: seq * 10}, Children: kids}
	}
	dummy := func(kids ...*Node) *Node { return &Node{Children: kids} }
	tests := []struct {
		roots []*Node
		want  string
	}{
		// RFC 5256 section 4 examples.
		{[]*Node{n(2), n(3, n(6, n(4, n(23)), n(44, n(7, n(96)))))}, "(2)(3 6 (4 23)(44 7 96))"},
		{[]*Node{dummy(n(3), n(5))}, "((3)(5))"},
		// A chain, siblings, a chain ending in siblings.
		{[]*Node{n(1, n(2, n(3)))}, "(1 2 3)"},
		{[]*Node{n(1, n(2), n(3))}, "(1 (2)(3))"},
		{[]*Node{n(1, n(2, n(3), n(4, n(5))))}, "(1 2 (3)(4 5))"},
		{[]*Node{n(1, n(2, n(3)), n(4))}, "(1 (2 3)(4))"},
		// Dummies: one child continues the chain, several nest, empty
		// ones vanish.
		{[]*Node{dummy(n(1))}, "(1)"},
		{[]*Node{dummy(), n(1)}, "(1)"},
		{[]*Node{n(1, dummy(n(2), n(3)))}, "(1 (2)(3))"},
		{[]*Node{n(1, dummy(n(2)), dummy())}, "(1 2)"},
		{[]*Node{dummy(dummy(n(1), n(2)), n(3))}, "(((1)(2))(3))"},
		{nil, ""},
	}
	for _, tt := range tests {
		if got := string(AppendThreads(nil, tt.roots, false)); got != tt.want {
			t.Errorf("AppendThreads = %s, want %s", got, tt.want)
		}
	}
	if got := string(AppendThreads([]byte("* THREAD "), []*Node{n(1, n(2))}, true)); got != "* THREAD (10 20)" {
		t.Errorf("UID AppendThreads = %s", got)
	}
}

func TestMsgIDs(t *testing.T) {
	tests := []struct {
		in   string
		want string
	}{
		{"<a@b>", "<a@b>"},
		{`<"01KF8JCEOCBS0045PS"@xxx.yyy.com>`, "<01KF8JCEOCBS0045PS@xxx.yyy.com>"},
		{"<a@b> <c@d>\t<e@f>", "<a@b> <c@d> <e@f>"},
		{"<a@b> (comment) garbage <c @ d>", "<a@b> <c@d>"},
		{"<nodomain> <@x> <x@> <>", ""},
		{`<"a\"b"@c>`, `<a"b@c>`},
		{"<a@b", ""},
	}
	for _, tt := range tests {
		if got := strings.Join(msgIDs([]byte(tt.in), -1), " "); got != tt.want {
			t.Errorf("msgIDs(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
