package imap_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// corpus is six messages for SEARCH, SORT and THREAD: two threads by
// references (1 <- 2 <- 4) and by subject (3, "Fwd:" 5), and one alone.
// Message i arrived i days before today noon (UTC), in reverse order of
// their Date headers.
type corpusMsg struct {
	from, cc, subject, date, id, refs, extra, body string
	flags                                          []imap.Flag
}

var corpus = []corpusMsg{
	{from: "Aaron <zed@example.net>", subject: "Project plan", date: "Sun, 01 Nov 2026 10:00:00 +0000", id: "a@x",
		body: "Let us plan the project.\r\n" + strings.Repeat("More planning details.\r\n", 20)},
	{from: "Amy <amy@example.net>", cc: "carol@example.com", subject: "Re: Project plan", date: "Tue, 03 Nov 2026 10:00:00 +0000",
		id: "b@x", refs: "<a@x>", body: "Sounds good.\r\n", flags: []imap.Flag{imap.FlagSeen, imap.FlagAnswered}},
	{from: "Bob <bob@example.net>", subject: "Lunch", date: "Mon, 02 Nov 2026 10:00:00 +0000", id: "c@x",
		body: "Pizza at noon?\r\n", flags: []imap.Flag{imap.FlagFlagged}},
	{from: "Carl <carl@example.net>", subject: "Re: Re: Project plan", date: "Wed, 04 Nov 2026 10:00:00 +0000", id: "d@x",
		refs: "<a@x> <b@x>", extra: "X-Priority: 1\r\n", body: "Agreed, let us go.\r\n", flags: []imap.Flag{imap.FlagSeen, "$Work"}},
	{from: "Dora <dora@example.net>", subject: "Fwd: Lunch", date: "Thu, 05 Nov 2026 10:00:00 +0000", id: "e@x",
		body:  "See below: pizza for everyone, a long message about food.\r\n" + strings.Repeat("x", 100) + "\r\n",
		flags: []imap.Flag{imap.FlagDeleted}},
	{from: "Eve <eve@example.net>", subject: "=?utf-8?q?Gr=C3=BC=C3=9Fe_aus_Z=C3=BCrich?=", date: "Fri, 06 Nov 2026 10:00:00 +0000",
		id: "f@x", body: "Viele Grüße\r\n", flags: []imap.Flag{"$Work"}},
}

func (m corpusMsg) String() string {
	var b strings.Builder
	b.WriteString("From: " + m.from + "\r\nTo: Alice <alice@example.org>\r\n")
	if m.cc != "" {
		b.WriteString("Cc: " + m.cc + "\r\n")
	}
	b.WriteString("Subject: " + m.subject + "\r\nDate: " + m.date + "\r\nMessage-ID: <" + m.id + ">\r\n")
	if m.refs != "" {
		f := strings.Fields(m.refs)
		b.WriteString("In-Reply-To: " + f[len(f)-1] + "\r\nReferences: " + m.refs + "\r\n")
	}
	b.WriteString(m.extra + "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n" + m.body)
	return b.String()
}

// arrival is the internal date of corpus message i (1-based).
func arrival(i int) time.Time {
	now := time.Now().UTC()
	noon := time.Date(now.Year(), now.Month(), now.Day(), 12, 0, 0, 0, time.UTC)
	return noon.AddDate(0, 0, -i)
}

func loadCorpus(t testing.TB, c *imapclient.Client, mailbox string) {
	t.Helper()
	for i, m := range corpus {
		s := m.String()
		cmd := c.Append(mailbox, int64(len(s)), &imap.AppendOptions{Flags: m.flags, Time: arrival(i + 1)})
		cmd.Write([]byte(s))
		cmd.Close()
		if _, err := waitAppend(t, cmd); err != nil {
			t.Fatal(err)
		}
	}
}

func searchNums(t testing.TB, c *imapclient.Client, crit *imap.SearchCriteria) string {
	t.Helper()
	d, err := c.Search(crit, nil).Wait()
	if err != nil {
		t.Fatalf("SEARCH %+v: %v", crit, err)
	}
	return fmt.Sprint(d.AllSeqNums())
}

func TestSearch(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, 0, "alice")
	c := ts.login(t, "alice", nil)
	loadCorpus(t, c, "INBOX")
	mustSelect(t, c, "INBOX")

	sizes := make([]int64, len(corpus))
	for i, m := range corpus {
		sizes[i] = int64(len(m.String()))
	}
	sizeMatch := func(f func(int64) bool) string {
		var out []int
		for i, n := range sizes {
			if f(n) {
				out = append(out, i+1)
			}
		}
		return fmt.Sprint(out)
	}
	larger, smaller := slices.Sorted(slices.Values(sizes))[3], slices.Sorted(slices.Values(sizes))[2]
	day := func(i int) time.Time { return arrival(i).Truncate(24 * time.Hour) }
	for _, tc := range []struct {
		name string
		crit imap.SearchCriteria
		want string
	}{
		{"ALL", imap.SearchCriteria{}, "[1 2 3 4 5 6]"},
		{"SEEN", imap.SearchCriteria{Flag: []imap.Flag{imap.FlagSeen}}, "[2 4]"},
		{"UNSEEN", imap.SearchCriteria{NotFlag: []imap.Flag{imap.FlagSeen}}, "[1 3 5 6]"},
		{"ANSWERED", imap.SearchCriteria{Flag: []imap.Flag{imap.FlagAnswered}}, "[2]"},
		{"DELETED", imap.SearchCriteria{Flag: []imap.Flag{imap.FlagDeleted}}, "[5]"},
		{"KEYWORD", imap.SearchCriteria{Flag: []imap.Flag{"$Work"}}, "[4 6]"},
		{"UNKEYWORD", imap.SearchCriteria{NotFlag: []imap.Flag{"$Work"}}, "[1 2 3 5]"},
		{"FROM", imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "From", Value: "AMY"}}}, "[2]"},
		{"FROM display name", imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "From", Value: "aaron"}}}, "[1]"},
		{"CC", imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "Cc", Value: "carol"}}}, "[2]"},
		{"TO", imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "To", Value: "alice@example.org"}}}, "[1 2 3 4 5 6]"},
		{"SUBJECT", imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "Subject", Value: "project"}}}, "[1 2 4]"},
		{"HEADER", imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "X-Priority", Value: "1"}}}, "[4]"},
		{"HEADER present", imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "References", Value: ""}}}, "[2 4]"},
		{"BODY", imap.SearchCriteria{Body: []string{"pizza"}}, "[3 5]"},
		{"BODY not header", imap.SearchCriteria{Body: []string{"Lunch"}}, "[]"},
		{"TEXT", imap.SearchCriteria{Text: []string{"lunch"}}, "[3 5]"},
		{"LARGER", imap.SearchCriteria{Larger: larger}, sizeMatch(func(n int64) bool { return n > larger })},
		{"SMALLER", imap.SearchCriteria{Smaller: smaller}, sizeMatch(func(n int64) bool { return n < smaller })},
		{"SENTSINCE", imap.SearchCriteria{SentSince: time.Date(2026, 11, 3, 0, 0, 0, 0, time.UTC)}, "[2 4 5 6]"},
		{"SENTBEFORE", imap.SearchCriteria{SentBefore: time.Date(2026, 11, 3, 0, 0, 0, 0, time.UTC)}, "[1 3]"},
		{"SENTON", imap.SearchCriteria{SentSince: time.Date(2026, 11, 3, 0, 0, 0, 0, time.UTC), SentBefore: time.Date(2026, 11, 4, 0, 0, 0, 0, time.UTC)}, "[2]"},
		{"SINCE", imap.SearchCriteria{Since: day(2)}, "[1 2]"},
		{"BEFORE", imap.SearchCriteria{Before: day(4)}, "[5 6]"},
		{"ON", imap.SearchCriteria{Since: day(3), Before: day(3).AddDate(0, 0, 1)}, "[3]"},
		{"UID", imap.SearchCriteria{UID: []imap.UIDSet{imap.UIDSetNum(2, 3, 4, 9)}}, "[2 3 4]"},
		{"seq set", imap.SearchCriteria{SeqNum: []imap.SeqSet{{{Start: 5, Stop: 0}}}}, "[5 6]"},
		{"NOT", imap.SearchCriteria{Not: []imap.SearchCriteria{{Flag: []imap.Flag{imap.FlagSeen}}}}, "[1 3 5 6]"},
		{"OR", imap.SearchCriteria{Or: [][2]imap.SearchCriteria{{{Flag: []imap.Flag{imap.FlagFlagged}}, {Flag: []imap.Flag{imap.FlagDeleted}}}}}, "[3 5]"},
		{"AND", imap.SearchCriteria{Flag: []imap.Flag{"$Work"}, NotFlag: []imap.Flag{imap.FlagSeen}}, "[6]"},
	} {
		if got := searchNums(t, c, &tc.crit); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.name, got, tc.want)
		}
	}

	rc := ts.raw(t)
	rc.login("alice")
	rc.ok("a", "SELECT INBOX")
	for _, tc := range []struct{ cmd, want string }{
		{"SEARCH FLAGGED", "* SEARCH 3"},
		{"UID SEARCH 2:4 NOT SEEN", "* SEARCH 3"},
		{"SEARCH (OR SEEN FLAGGED) NOT ANSWERED", "* SEARCH 3 4"},
		{"SEARCH NEW", "* SEARCH"},
		{"SEARCH RECENT", "* SEARCH"},
		{"SEARCH OLD", "* SEARCH 1 2 3 4 5 6"},
		{"SEARCH UNDRAFT UNFLAGGED UNANSWERED UNDELETED", "* SEARCH 1 4 6"},
		{"SEARCH YOUNGER 302400", "* SEARCH 1 2 3"},
		{"SEARCH OLDER 302400", "* SEARCH 4 5 6"},
		{"SEARCH CHARSET US-ASCII SUBJECT lunch", "* SEARCH 3 5"},
		{"SEARCH CHARSET UTF-8 SUBJECT {7+}\r\ngrüße", "* SEARCH 6"},
		{"SEARCH CHARSET UTF-8 BODY {7+}\r\ngrüße", "* SEARCH 6"},
		{"SEARCH HEADER Message-ID <c@x>", "* SEARCH 3"},
		{"SEARCH 2,4:*", "* SEARCH 2 4 5 6"},
		{"SEARCH *", "* SEARCH 6"},
	} {
		sameLines(t, tc.cmd, rc.cmd("s", tc.cmd), []string{tc.want, "s OK " + strings.Fields(tc.cmd)[0] + map[bool]string{true: " SEARCH", false: ""}[strings.HasPrefix(tc.cmd, "UID")] + " completed"})
	}
	rc.want("b", "SEARCH CHARSET X-NO-SUCH-CHARSET SUBJECT x", "NO [BADCHARSET (UTF-8 US-ASCII)]")
	rc.want("c", "SEARCH BOGUS", "BAD")
	rc.want("d", "SEARCH 7", "BAD")
	rc.want("e", "SEARCH (SEEN", "BAD")
}

func TestESearchAndSearchRes(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, 0, "alice")
	c := ts.login(t, "alice", nil)
	loadCorpus(t, c, "INBOX")
	mustSelect(t, c, "INBOX")

	// imapclient, ESEARCH (RFC 4731).
	d, err := c.Search(&imap.SearchCriteria{NotFlag: []imap.Flag{imap.FlagDeleted}},
		&imap.SearchOptions{ReturnMin: true, ReturnMax: true, ReturnCount: true, ReturnAll: true}).Wait()
	if err != nil {
		t.Fatal(err)
	}
	if d.Min != 1 || d.Max != 6 || d.Count != 5 || fmt.Sprint(d.AllSeqNums()) != "[1 2 3 4 6]" {
		t.Fatalf("ESEARCH %+v", d)
	}
	d, err = c.UIDSearch(&imap.SearchCriteria{Flag: []imap.Flag{"$Work"}}, &imap.SearchOptions{ReturnCount: true}).Wait()
	if err != nil || d.Count != 2 || d.All != nil && len(d.AllUIDs()) != 0 {
		t.Fatalf("UID ESEARCH COUNT %+v %v", d, err)
	}

	rc := ts.raw(t)
	rc.login("alice")
	rc.ok("a", "SELECT INBOX")
	for _, tc := range []struct{ cmd, want string }{
		{"SEARCH RETURN (MIN MAX COUNT ALL) UNDELETED", `* ESEARCH (TAG "s") MIN 1 MAX 6 COUNT 5 ALL 1:4,6`},
		{"SEARCH RETURN () SEEN", `* ESEARCH (TAG "s") ALL 2,4`},
		{"UID SEARCH RETURN (COUNT MAX) UNSEEN", `* ESEARCH (TAG "s") UID MAX 6 COUNT 4`},
		// No match: MIN, MAX and ALL are left out, COUNT is 0 (RFC 4731
		// section 3.1).
		{"SEARCH RETURN (MIN MAX ALL COUNT) KEYWORD $Nope", `* ESEARCH (TAG "s") COUNT 0`},
		{"SEARCH RETURN (MIN) KEYWORD $Nope", `* ESEARCH (TAG "s")`},
	} {
		got := rc.cmd("s", tc.cmd)
		sameLines(t, tc.cmd, got, []string{tc.want, got[len(got)-1]})
		if !strings.HasPrefix(got[len(got)-1], "s OK ") {
			t.Fatalf("%s: %q", tc.cmd, got)
		}
	}

	// SEARCHRES (RFC 5182): SAVE alone sends no ESEARCH; "$" is then
	// usable in FETCH, STORE, COPY, SEARCH and UID commands.
	sameLines(t, "SAVE", rc.cmd("b", "SEARCH RETURN (SAVE) OR FLAGGED KEYWORD $Work"), []string{"b OK SEARCH completed"})
	sameLines(t, "FETCH $", rc.cmd("c", "FETCH $ (UID)"), []string{
		"* 3 FETCH (UID 3)", "* 4 FETCH (UID 4)", "* 6 FETCH (UID 6)", "c OK FETCH completed",
	})
	sameLines(t, "STORE $", rc.cmd("d", `STORE $ +FLAGS.SILENT (\Draft)`), []string{"d OK STORE completed"})
	sameLines(t, "SEARCH $", rc.cmd("e", "SEARCH $ SEEN"), []string{"* SEARCH 4", "e OK SEARCH completed"})
	sameLines(t, "UID SEARCH UID $", rc.cmd("f", "UID SEARCH UID $"), []string{"* SEARCH 3 4 6", "f OK UID SEARCH completed"})
	sameLines(t, "DRAFT", rc.cmd("g", "SEARCH DRAFT"), []string{"* SEARCH 3 4 6", "g OK SEARCH completed"})
	lines := rc.cmd("h", "UID COPY $ Archive")
	if len(lines) != 1 || !strings.HasSuffix(lines[0], " 3:4,6 1:3] COPY completed") {
		t.Fatalf("COPY $: %q", lines)
	}
	// SAVE with other options: ESEARCH too; with MIN only, the minimum is
	// saved (RFC 5182 section 2.4).
	sameLines(t, "SAVE MIN", rc.cmd("i", "SEARCH RETURN (SAVE MIN) UNSEEN"), []string{`* ESEARCH (TAG "i") MIN 1`, "i OK SEARCH completed"})
	sameLines(t, "FETCH $ min", rc.cmd("j", "FETCH $ UID"), []string{"* 1 FETCH (UID 1)", "j OK FETCH completed"})
	sameLines(t, "SAVE COUNT", rc.cmd("k", "SEARCH RETURN (SAVE COUNT) UNSEEN"), []string{`* ESEARCH (TAG "k") COUNT 4`, "k OK SEARCH completed"})
	// An expunged message leaves the saved result.
	rc.ok("l", "EXPUNGE")
	sameLines(t, "$ after EXPUNGE", rc.cmd("m", "UID FETCH $ UID"), []string{
		"* 1 FETCH (UID 1)", "* 3 FETCH (UID 3)", "* 5 FETCH (UID 6)", "m OK UID FETCH completed",
	})
	// A new SELECT empties it.
	rc.ok("n", "SELECT INBOX")
	sameLines(t, "$ after SELECT", rc.cmd("o", "FETCH $ UID"), []string{"o OK FETCH completed"})

	// With IMAP4rev2 enabled, SEARCH answers ESEARCH (RFC 9051 section
	// 7.3.4).
	rc.ok("p", "ENABLE IMAP4rev2")
	sameLines(t, "rev2 SEARCH", rc.cmd("q", "SEARCH ALL"), []string{`* ESEARCH (TAG "q") ALL 1:5`, "q OK SEARCH completed"})
	sameLines(t, "rev2 UID SEARCH", rc.cmd("r", "UID SEARCH SEEN"), []string{`* ESEARCH (TAG "r") UID ALL 2,4`, "r OK UID SEARCH completed"})
}

func TestSearchModSeq(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, 0, "alice")
	c := ts.login(t, "alice", nil)
	loadCorpus(t, c, "INBOX")
	rc := ts.raw(t)
	rc.login("alice")
	highest := codeNum(t, rc.ok("a", "SELECT INBOX"), "HIGHESTMODSEQ")
	rc.ok("b", `STORE 2,5 +FLAGS.SILENT ($Seen2)`)
	top := modseqOf(t, rc.ok("d", "FETCH 5 MODSEQ")[0])
	if top <= highest {
		t.Fatalf("MODSEQ %d after %d", top, highest)
	}
	// SEARCH MODSEQ (RFC 7162 section 3.1.5): the result carries the
	// highest MODSEQ of the matches.
	sameLines(t, "SEARCH MODSEQ", rc.cmd("e", fmt.Sprintf("SEARCH MODSEQ %d", highest+1)), []string{
		fmt.Sprintf("* SEARCH 2 5 (MODSEQ %d)", top), "e OK SEARCH completed",
	})
	sameLines(t, "SEARCH MODSEQ none", rc.cmd("f", fmt.Sprintf("SEARCH MODSEQ %d", top+1)), []string{"* SEARCH", "f OK SEARCH completed"})
	sameLines(t, "ESEARCH MODSEQ", rc.cmd("g", fmt.Sprintf("UID SEARCH RETURN (ALL) MODSEQ %d", highest+1)), []string{
		fmt.Sprintf(`* ESEARCH (TAG "g") UID ALL 2,5 MODSEQ %d`, top), "g OK UID SEARCH completed",
	})
	mustSelect(t, c, "INBOX")
	d, err := c.Search(&imap.SearchCriteria{ModSeq: &imap.SearchCriteriaModSeq{ModSeq: highest + 1}}, nil).Wait()
	if err != nil || fmt.Sprint(d.AllSeqNums()) != "[2 5]" || d.ModSeq != top {
		t.Fatalf("imapclient SEARCH MODSEQ: %+v %v", d, err)
	}
}

func TestSort(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, 0, "alice")
	c := ts.login(t, "alice", nil)
	loadCorpus(t, c, "INBOX")
	mustSelect(t, c, "INBOX")

	bySize := []uint32{1, 2, 3, 4, 5, 6}
	slices.SortStableFunc(bySize, func(a, b uint32) int { return len(corpus[a-1].String()) - len(corpus[b-1].String()) })
	for _, tc := range []struct {
		crit []imapclient.SortCriterion
		want string
	}{
		{[]imapclient.SortCriterion{{Key: imapclient.SortKeySubject}}, "[6 3 5 1 2 4]"},
		{[]imapclient.SortCriterion{{Key: imapclient.SortKeyDate}}, "[1 3 2 4 5 6]"},
		{[]imapclient.SortCriterion{{Key: imapclient.SortKeyDate, Reverse: true}}, "[6 5 4 2 3 1]"},
		{[]imapclient.SortCriterion{{Key: imapclient.SortKeyArrival}}, "[6 5 4 3 2 1]"},
		{[]imapclient.SortCriterion{{Key: imapclient.SortKeyFrom}}, "[2 3 4 5 6 1]"},
		{[]imapclient.SortCriterion{{Key: "DISPLAYFROM"}}, "[1 2 3 4 5 6]"},
		{[]imapclient.SortCriterion{{Key: imapclient.SortKeyCc}}, "[1 3 4 5 6 2]"},
		{[]imapclient.SortCriterion{{Key: imapclient.SortKeyTo}}, "[1 2 3 4 5 6]"},
		{[]imapclient.SortCriterion{{Key: imapclient.SortKeySize}}, fmt.Sprint(bySize)},
		{[]imapclient.SortCriterion{{Key: imapclient.SortKeySubject}, {Key: imapclient.SortKeyDate, Reverse: true}}, "[6 5 3 4 2 1]"},
	} {
		nums, err := c.Sort(&imapclient.SortOptions{SearchCriteria: &imap.SearchCriteria{}, SortCriteria: tc.crit}).Wait()
		if err != nil {
			t.Fatalf("SORT %v: %v", tc.crit, err)
		}
		if fmt.Sprint(nums) != tc.want {
			t.Errorf("SORT %v: %v, want %s", tc.crit, nums, tc.want)
		}
	}
	nums, err := c.UIDSort(&imapclient.SortOptions{SearchCriteria: &imap.SearchCriteria{NotFlag: []imap.Flag{imap.FlagSeen}},
		SortCriteria: []imapclient.SortCriterion{{Key: imapclient.SortKeySubject}}}).Wait()
	if err != nil || fmt.Sprint(nums) != "[6 3 5 1]" {
		t.Fatalf("UID SORT UNSEEN: %v %v", nums, err)
	}

	rc := ts.raw(t)
	rc.login("alice")
	rc.ok("a", "SELECT INBOX")
	// After an expunge, sequence numbers and UIDs differ.
	rc.ok("b", "EXPUNGE") // message 5 is \Deleted
	sameLines(t, "SORT", rc.cmd("c", "SORT (SUBJECT) UTF-8 ALL"), []string{"* SORT 5 3 1 2 4", "c OK SORT completed"})
	sameLines(t, "UID SORT", rc.cmd("d", "UID SORT (SUBJECT) UTF-8 ALL"), []string{"* SORT 6 3 1 2 4", "d OK UID SORT completed"})
	// ESORT (RFC 5267): MIN and MAX are the first and last in sort order,
	// ALL in sort order.
	sameLines(t, "ESORT", rc.cmd("e", "SORT RETURN (MIN MAX COUNT ALL) (DATE) UTF-8 UNDELETED"), []string{
		`* ESEARCH (TAG "e") MIN 1 MAX 5 COUNT 5 ALL 1,3,2,4,5`, "e OK SORT completed",
	})
	sameLines(t, "UID ESORT", rc.cmd("f", "UID SORT RETURN (ALL) (REVERSE ARRIVAL) UTF-8 1:*"), []string{
		`* ESEARCH (TAG "f") UID ALL 1,2,3,4,6`, "f OK UID SORT completed",
	})
	sameLines(t, "SORT none", rc.cmd("g", "SORT (DATE) UTF-8 KEYWORD $Nope"), []string{"* SORT", "g OK SORT completed"})
	rc.want("h", "SORT (BOGUS) UTF-8 ALL", "BAD")
	rc.want("i", "SORT (DATE) X-NO-SUCH-CHARSET ALL", "NO [BADCHARSET")
}

func TestThread(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, 0, "alice")
	c := ts.login(t, "alice", nil)
	loadCorpus(t, c, "INBOX")
	mustSelect(t, c, "INBOX")
	rc := ts.raw(t)
	rc.login("alice")
	rc.ok("a", "SELECT INBOX")
	// REFERENCES (RFC 5256 section 4): 1 <- 2 <- 4 by References, 5
	// ("Fwd: Lunch") under 3 by subject; threads in order of date.
	sameLines(t, "REFERENCES", rc.cmd("b", "THREAD REFERENCES UTF-8 ALL"), []string{"* THREAD (1 2 4)(3 5)(6)", "b OK THREAD completed"})
	// ORDEREDSUBJECT: by base subject, the first message the parent of
	// the others.
	sameLines(t, "ORDEREDSUBJECT", rc.cmd("c", "THREAD ORDEREDSUBJECT UTF-8 ALL"), []string{"* THREAD (1 (2)(4))(3 5)(6)", "c OK THREAD completed"})
	sameLines(t, "with a search key", rc.cmd("d", "THREAD REFERENCES UTF-8 NOT DELETED"), []string{"* THREAD (1 2 4)(3)(6)", "d OK THREAD completed"})
	sameLines(t, "none", rc.cmd("e", "THREAD REFERENCES UTF-8 KEYWORD $Nope"), []string{"* THREAD", "e OK THREAD completed"})
	rc.want("f", "THREAD BOGUS UTF-8 ALL", "BAD")
	rc.ok("g", "EXPUNGE")
	sameLines(t, "UID THREAD", rc.cmd("h", "UID THREAD REFERENCES UTF-8 ALL"), []string{"* THREAD (1 2 4)(3)(6)", "h OK UID THREAD completed"})
	sameLines(t, "THREAD after EXPUNGE", rc.cmd("i", "THREAD REFERENCES UTF-8 ALL"), []string{"* THREAD (1 2 4)(3)(5)", "i OK THREAD completed"})

	// imapclient reads the same structure.
	mustSelect(t, c, "INBOX")
	threads, err := c.Thread(&imapclient.ThreadOptions{Algorithm: imap.ThreadReferences, SearchCriteria: &imap.SearchCriteria{}}).Wait()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, th := range threads {
		got = append(got, fmt.Sprint(th.Chain, len(th.SubThreads)))
	}
	sameLines(t, "imapclient THREAD", got, []string{"[1 2 4] 0", "[3] 0", "[5] 0"})
	threads, err = c.Thread(&imapclient.ThreadOptions{Algorithm: imap.ThreadOrderedSubject, SearchCriteria: &imap.SearchCriteria{}}).Wait()
	if err != nil || len(threads) != 3 || fmt.Sprint(threads[0].Chain) != "[1]" || len(threads[0].SubThreads) != 2 ||
		fmt.Sprint(threads[0].SubThreads[0].Chain) != "[2]" || fmt.Sprint(threads[0].SubThreads[1].Chain) != "[4]" {
		t.Fatalf("imapclient ORDEREDSUBJECT: %+v %v", threads, err)
	}
}
