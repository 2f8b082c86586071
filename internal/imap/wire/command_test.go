package wire

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestCommands parses one valid line per command and form.
func TestCommands(t *testing.T) {
	tests := []struct {
		line string
		want *Command
	}{
		{"a CAPABILITY", &Command{Tag: "a", Name: "CAPABILITY"}},
		{"a1 noop", &Command{Tag: "a1", Name: "NOOP"}},
		{"x.y LOGOUT", &Command{Tag: "x.y", Name: "LOGOUT"}},
		{"] STARTTLS", &Command{Tag: "]", Name: "STARTTLS"}},
		{"a AUTHENTICATE plain", &Command{Tag: "a", Name: "AUTHENTICATE", Args: &Authenticate{Mechanism: "PLAIN"}}},
		{"a AUTHENTICATE PLAIN AGFsaWNlAHNlY3JldA==", &Command{Tag: "a", Name: "AUTHENTICATE", Args: &Authenticate{Mechanism: "PLAIN", InitialResponse: []byte("\x00alice\x00secret")}}},
		{"a AUTHENTICATE EXTERNAL =", &Command{Tag: "a", Name: "AUTHENTICATE", Args: &Authenticate{Mechanism: "EXTERNAL", InitialResponse: []byte{}}}},
		{`a LOGIN alice "p a\"s\\s"`, &Command{Tag: "a", Name: "LOGIN", Args: &Login{Username: "alice", Password: `p a"s\s`}}},
		{"a ENABLE CONDSTORE utf8=accept", &Command{Tag: "a", Name: "ENABLE", Args: &Enable{Capabilities: []string{"CONDSTORE", "UTF8=ACCEPT"}}}},
		{"a SELECT inbox", &Command{Tag: "a", Name: "SELECT", Args: &Select{Mailbox: "inbox"}}},
		{"a EXAMINE \"Sent Items\" (CONDSTORE)", &Command{Tag: "a", Name: "EXAMINE", Args: &Select{Mailbox: "Sent Items", CondStore: true}}},
		{"a SELECT INBOX (QRESYNC (67890007 20050715194045000 41,43:211,214:541))", &Command{Tag: "a", Name: "SELECT", Args: &Select{Mailbox: "INBOX", QResync: &QResync{UIDValidity: 67890007, ModSeq: 20050715194045000, KnownUIDs: setp(41, 41, 43, 211, 214, 541)}}}},
		{"a SELECT INBOX (QRESYNC (67890007 90060115194045000 1:29997 (5000,7500,9000,9990:9999 15000,22500,27000,29970,29973,29976,29979,29982,29985,29988,29991,29994,29997)))",
			&Command{Tag: "a", Name: "SELECT", Args: &Select{Mailbox: "INBOX", QResync: &QResync{UIDValidity: 67890007, ModSeq: 90060115194045000, KnownUIDs: setp(1, 29997),
				KnownSeqs:    setp(5000, 5000, 7500, 7500, 9000, 9000, 9990, 9999),
				KnownSeqUIDs: setp(15000, 15000, 22500, 22500, 27000, 27000, 29970, 29970, 29973, 29973, 29976, 29976, 29979, 29979, 29982, 29982, 29985, 29985, 29988, 29988, 29991, 29991, 29994, 29994, 29997, 29997)}}}},
		{"a SELECT INBOX (QRESYNC (1 2 (3 4)) CONDSTORE)", &Command{Tag: "a", Name: "SELECT", Args: &Select{Mailbox: "INBOX", CondStore: true, QResync: &QResync{UIDValidity: 1, ModSeq: 2, KnownSeqs: setp(3, 3), KnownSeqUIDs: setp(4, 4)}}}},
		{"a CREATE foo/bar", &Command{Tag: "a", Name: "CREATE", Args: &Create{Mailbox: "foo/bar"}}},
		{`a CREATE MySent (USE (\Sent \Archive))`, &Command{Tag: "a", Name: "CREATE", Args: &Create{Mailbox: "MySent", SpecialUse: []string{`\Sent`, `\Archive`}}}},
		{"a DELETE foo", &Command{Tag: "a", Name: "DELETE", Args: &MailboxArg{Mailbox: "foo"}}},
		{"a RENAME foo \"bar baz\"", &Command{Tag: "a", Name: "RENAME", Args: &Rename{From: "foo", To: "bar baz"}}},
		{"a SUBSCRIBE &AOk-t&AOk-", &Command{Tag: "a", Name: "SUBSCRIBE", Args: &MailboxArg{Mailbox: "&AOk-t&AOk-"}}},
		{"a UNSUBSCRIBE x", &Command{Tag: "a", Name: "UNSUBSCRIBE", Args: &MailboxArg{Mailbox: "x"}}},
		{`a LIST "" *`, &Command{Tag: "a", Name: "LIST", Args: &List{Reference: "", Patterns: []MailboxName{"*"}}}},
		{`a LIST "" %/]`, &Command{Tag: "a", Name: "LIST", Args: &List{Reference: "", Patterns: []MailboxName{"%/]"}}}},
		{`a LIST (SUBSCRIBED RECURSIVEMATCH) "" (INBOX "Sent*" %) RETURN (CHILDREN STATUS (MESSAGES UNSEEN) SPECIAL-USE)`, &Command{Tag: "a", Name: "LIST", Args: &List{
			Reference: "", Patterns: []MailboxName{"INBOX", "Sent*", "%"}, Extended: true,
			Select: ListSelect{Subscribed: true, RecursiveMatch: true},
			Return: ListReturn{Children: true, SpecialUse: true, Status: []string{"MESSAGES", "UNSEEN"}}}}},
		{`a LIST () "" % RETURN ()`, &Command{Tag: "a", Name: "LIST", Args: &List{Reference: "", Patterns: []MailboxName{"%"}, Extended: true}}},
		{`a LIST (SPECIAL-USE REMOTE) "" * RETURN (SUBSCRIBED)`, &Command{Tag: "a", Name: "LIST", Args: &List{Reference: "", Patterns: []MailboxName{"*"}, Extended: true, Select: ListSelect{SpecialUse: true, Remote: true}, Return: ListReturn{Subscribed: true}}}},
		{`a LSUB "#news." "comp.mail.*"`, &Command{Tag: "a", Name: "LSUB", Args: &List{Reference: "#news.", Patterns: []MailboxName{"comp.mail.*"}}}},
		{"a NAMESPACE", &Command{Tag: "a", Name: "NAMESPACE"}},
		{"a STATUS blurdybloop (UIDNEXT MESSAGES size deleted recent highestmodseq appendlimit mailboxid uidvalidity unseen)", &Command{Tag: "a", Name: "STATUS", Args: &Status{Mailbox: "blurdybloop", Items: []string{"UIDNEXT", "MESSAGES", "SIZE", "DELETED", "RECENT", "HIGHESTMODSEQ", "APPENDLIMIT", "MAILBOXID", "UIDVALIDITY", "UNSEEN"}}}},
		{"a IDLE", &Command{Tag: "a", Name: "IDLE"}},
		{"a CHECK", &Command{Tag: "a", Name: "CHECK"}},
		{"a CLOSE", &Command{Tag: "a", Name: "CLOSE"}},
		{"a UNSELECT", &Command{Tag: "a", Name: "UNSELECT"}},
		{"a EXPUNGE", &Command{Tag: "a", Name: "EXPUNGE"}},
		{"a UID EXPUNGE 3000:3002", &Command{Tag: "a", Name: "EXPUNGE", UID: true, Args: &Expunge{UIDs: set(3000, 3002)}}},
		{"a COPY 2:4 MEETING", &Command{Tag: "a", Name: "COPY", Args: &Copy{Set: set(2, 4), Mailbox: "MEETING"}}},
		{"a UID MOVE 42:69,* Trash", &Command{Tag: "a", Name: "MOVE", UID: true, Args: &Copy{Set: set(42, 69, Star, Star), Mailbox: "Trash"}}},
		{"a MOVE $ Trash", &Command{Tag: "a", Name: "MOVE", Args: &Copy{Set: NumSet{SearchResult: true}, Mailbox: "Trash"}}},
		{`a STORE 2:4 +FLAGS (\Deleted)`, &Command{Tag: "a", Name: "STORE", Args: &Store{Set: set(2, 4), Op: StoreAdd, Flags: []string{`\Deleted`}}}},
		{`a UID STORE 1 -flags.silent \seen $Forwarded`, &Command{Tag: "a", Name: "STORE", UID: true, Args: &Store{Set: set(1, 1), Op: StoreRemove, Silent: true, Flags: []string{`\Seen`, "$Forwarded"}}}},
		{`a STORE 7,5,9 (UNCHANGEDSINCE 320162338) FLAGS ()`, &Command{Tag: "a", Name: "STORE", Args: &Store{Set: set(7, 7, 5, 5, 9, 9), Flags: []string{}, UnchangedSince: u64(320162338)}}},
		{`a STORE 1 (UNCHANGEDSINCE 0) FLAGS.SILENT (\X-Ext)`, &Command{Tag: "a", Name: "STORE", Args: &Store{Set: set(1, 1), Silent: true, Flags: []string{`\X-Ext`}, UnchangedSince: u64(0)}}},
		{"a GETQUOTA \"\"", &Command{Tag: "a", Name: "GETQUOTA", Args: &GetQuota{Root: ""}}},
		{"a GETQUOTAROOT INBOX", &Command{Tag: "a", Name: "GETQUOTAROOT", Args: &MailboxArg{Mailbox: "INBOX"}}},
		{"a SETQUOTA \"\" (STORAGE 512 message 1000)", &Command{Tag: "a", Name: "SETQUOTA", Args: &SetQuota{Root: "", Limits: []QuotaLimit{{"STORAGE", 512}, {"MESSAGE", 1000}}}}},
		{"a SETQUOTA \"\" ()", &Command{Tag: "a", Name: "SETQUOTA", Args: &SetQuota{Root: ""}}},
		{"a COMPRESS deflate", &Command{Tag: "a", Name: "COMPRESS", Args: &Compress{Mechanism: "DEFLATE"}}},
		{"a ID NIL", &Command{Tag: "a", Name: "ID", Args: &ID{}}},
		{`a ID ("name" "sodr" "version" NIL)`, &Command{Tag: "a", Name: "ID", Args: &ID{Params: []IDParam{{"name", str("sodr")}, {"version", nil}}}}},
		{`a ID ()`, &Command{Tag: "a", Name: "ID", Args: &ID{Params: []IDParam{}}}},
	}
	for _, tc := range tests {
		t.Run(tc.line, func(t *testing.T) {
			cmd, err := readOne(t, tc.line+"\r\n")
			if err != nil {
				t.Fatalf("error %v", err)
			}
			if !reflect.DeepEqual(cmd, tc.want) {
				t.Fatalf("got\n%#v\n%#v\nwant\n%#v\n%#v", cmd, cmd.Args, tc.want, tc.want.Args)
			}
		})
	}
}

// TestBad parses invalid lines: each is a non-fatal ParseError and the
// Reader is ready for the next command.
func TestBad(t *testing.T) {
	tests := []struct {
		line string
		tag  string
		name string // expected Command.Name when a Command comes back
		code string
	}{
		{"* NOOP", "", "", ""},
		{"+ NOOP", "", "", ""},
		{"a", "a", "", ""},
		{"a  NOOP", "a", "", ""},
		{"a FOO bar", "a", "FOO", ""},
		{"a UID NOOP", "a", "NOOP", ""},
		{"a NOOP x", "a", "NOOP", ""},
		{"a NOOP ", "a", "NOOP", ""},
		{"a LOGIN alice", "a", "LOGIN", ""},
		{"a LOGIN alice \"pw", "a", "LOGIN", ""},
		{"a LOGIN alice \"p\\w\"", "a", "LOGIN", ""},
		{"a LOGIN (alice) pw", "a", "LOGIN", ""},
		{"a AUTHENTICATE PLAIN !!!", "a", "AUTHENTICATE", ""},
		{"a AUTHENTICATE PLAIN AGFsaWNlAHNlY3JldA", "a", "AUTHENTICATE", ""},
		{"a SELECT INBOX (FOO)", "a", "SELECT", ""},
		{"a SELECT INBOX (QRESYNC (0 1))", "a", "SELECT", ""},
		{"a SELECT INBOX (QRESYNC (1 0))", "a", "SELECT", ""},
		{"a SELECT INBOX ()", "a", "SELECT", ""},
		{"a CREATE x (USE (Sent))", "a", "CREATE", ""},
		{"a LIST (RECURSIVEMATCH) \"\" *", "a", "LIST", ""},
		{"a LIST (FOO) \"\" *", "a", "LIST", ""},
		{"a LIST \"\" * RETURN (FOO)", "a", "LIST", ""},
		{"a LIST \"\" ()", "a", "LIST", ""},
		{"a STATUS INBOX ()", "a", "STATUS", ""},
		{"a STATUS INBOX (FOO)", "a", "STATUS", ""},
		{"a APPEND INBOX", "a", "APPEND", ""},
		{"a EXPUNGE 1", "a", "EXPUNGE", ""},
		{"a UID EXPUNGE", "a", "EXPUNGE", ""},
		{"a COPY 0 x", "a", "COPY", ""},
		{"a COPY 1: x", "a", "COPY", ""},
		{"a COPY 4294967296 x", "a", "COPY", ""},
		{"a COPY 1,,2 x", "a", "COPY", ""},
		{"a STORE 1 FLAGS", "a", "STORE", ""},
		{"a STORE 1 +FLAG (\\Seen)", "a", "STORE", ""},
		{"a STORE 1 (FOO 1) FLAGS ()", "a", "STORE", ""},
		{"a FETCH 1 (FLAGS", "a", "FETCH", ""},
		{"a FETCH 1 ()", "a", "FETCH", ""},
		{"a FETCH 1 FOO", "a", "FETCH", ""},
		{"a FETCH 1 BODY[HEADER.FIELDS]", "a", "FETCH", ""},
		{"a FETCH 1 BODY[MIME]", "a", "FETCH", ""},
		{"a FETCH 1 BODY[0]", "a", "FETCH", ""},
		{"a FETCH 1 BODY[]<1.0>", "a", "FETCH", ""},
		{"a FETCH 1 BODY.PEEK", "a", "FETCH", ""},
		{"a FETCH 1 BINARY[TEXT]", "a", "FETCH", ""},
		{"a FETCH 1 BINARY.SIZE[1]<0.1>", "a", "FETCH", ""},
		{"a FETCH 1 FLAGS (VANISHED)", "a", "FETCH", ""},
		{"a UID FETCH 1 FLAGS (VANISHED)", "a", "FETCH", ""},
		{"a FETCH 1 FLAGS (CHANGEDSINCE 0)", "a", "FETCH", ""},
		{"a SEARCH", "a", "SEARCH", ""},
		{"a SEARCH FOO", "a", "SEARCH", ""},
		{"a SEARCH (", "a", "SEARCH", ""},
		{"a SEARCH ()", "a", "SEARCH", ""},
		{"a SEARCH OR SEEN", "a", "SEARCH", ""},
		{"a SEARCH SINCE 31-Feb-2020", "a", "SEARCH", ""},
		{"a SEARCH SINCE 1-Foo-2020", "a", "SEARCH", ""},
		{"a SEARCH KEYWORD \\Seen", "a", "SEARCH", ""},
		{"a SEARCH RETURN (FOO) ALL", "a", "SEARCH", ""},
		{"a SEARCH LARGER x", "a", "SEARCH", ""},
		{"a SEARCH " + strings.Repeat("NOT ", 100) + "ALL", "a", "SEARCH", ""},
		{"a SEARCH " + strings.Repeat("(", 100) + "ALL" + strings.Repeat(")", 100), "a", "SEARCH", ""},
		{"a SORT (FOO) UTF-8 ALL", "a", "SORT", ""},
		{"a SORT (DATE) ALL", "a", "SORT", ""},
		{"a SORT (REVERSE) UTF-8 ALL", "a", "SORT", ""},
		{"a THREAD REFERENCES", "a", "THREAD", ""},
		{"a ID (\"a\")", "a", "ID", ""},
		{"a ID (" + strings.Repeat(`"k" "v" `, 31) + ")", "a", "ID", ""},
		{"a LOGIN {5}x", "a", "LOGIN", ""},
		{"a LOGIN \x00 x", "a", "LOGIN", ""},
		{"a LOGIN a\rb c", "a", "LOGIN", ""},
		{"a\x80 NOOP", "a", "", ""},
		{"\x80 NOOP", "", "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.line, func(t *testing.T) {
			r, conts := newTestReader(tc.line+"\r\nb NOOP\r\n", Limits{})
			cmd, err := r.ReadCommand()
			var perr *ParseError
			if !errors.As(err, &perr) {
				t.Fatalf("got %v %#v, want ParseError", err, cmd)
			}
			if perr.Fatal || perr.Tag != tc.tag || perr.Code != tc.code {
				t.Fatalf("got %#v", perr)
			}
			if tc.name != "" && (cmd == nil || cmd.Name != tc.name) {
				t.Fatalf("got command %#v, want name %s", cmd, tc.name)
			}
			if *conts != 0 {
				t.Fatalf("cont called")
			}
			cmd, err = r.ReadCommand()
			if err != nil || cmd.Tag != "b" || cmd.Name != "NOOP" {
				t.Fatalf("not resynchronised: %#v %v", cmd, err)
			}
		})
	}
}

func TestSearch(t *testing.T) {
	tests := []struct {
		line string
		want *Search
	}{
		{"ALL", &Search{Keys: []SearchKey{{Op: "ALL"}}}},
		{`FLAGGED SINCE 1-Feb-1994 NOT FROM "Smith"`, &Search{Keys: []SearchKey{{Op: "FLAGGED"}, {Op: "SINCE", Date: day(1994, 2, 1)}, {Op: "NOT", Keys: []SearchKey{{Op: "FROM", Value: "Smith"}}}}}},
		{`CHARSET UTF-8 TEXT {3+}` + "\r\nxyz", &Search{Charset: "UTF-8", Keys: []SearchKey{{Op: "TEXT", Value: "xyz"}}}},
		{`charset "us-ascii" OR (SEEN 1:3) NOT UID 5:*,$`, &Search{Charset: "US-ASCII", Keys: []SearchKey{{Op: "OR", Keys: []SearchKey{
			{Op: "AND", Keys: []SearchKey{{Op: "SEEN"}, {Op: "SEQSET", Set: setp(1, 3)}}},
			{Op: "NOT", Keys: []SearchKey{{Op: "UID", Set: &NumSet{SearchResult: true, Ranges: []NumRange{{5, Star}}}}}},
		}}}}},
		{`RETURN (MIN MAX COUNT ALL SAVE) $`, &Search{Return: []string{"MIN", "MAX", "COUNT", "ALL", "SAVE"}, Keys: []SearchKey{{Op: "SEQSET", Set: &NumSet{SearchResult: true}}}}},
		{`RETURN () UNSEEN`, &Search{Return: []string{}, Keys: []SearchKey{{Op: "UNSEEN"}}}},
		{`HEADER Message-ID "<x@y>" LARGER 1000 SMALLER 99999999999 BEFORE "2-Jan-2006" ON 02-jan-2006 SENTBEFORE 1-Jan-2000 SENTON 1-Jan-2000 SENTSINCE 1-Jan-2000`, &Search{Keys: []SearchKey{
			{Op: "HEADER", Field: "Message-ID", Value: "<x@y>"}, {Op: "LARGER", Number: 1000}, {Op: "SMALLER", Number: 99999999999},
			{Op: "BEFORE", Date: day(2006, 1, 2)}, {Op: "ON", Date: day(2006, 1, 2)}, {Op: "SENTBEFORE", Date: day(2000, 1, 1)}, {Op: "SENTON", Date: day(2000, 1, 1)}, {Op: "SENTSINCE", Date: day(2000, 1, 1)}}}},
		{`ANSWERED DELETED DRAFT NEW OLD RECENT SEEN UNANSWERED UNDELETED UNDRAFT UNFLAGGED UNSEEN KEYWORD $Junk UNKEYWORD foo BCC b CC c BODY d SUBJECT e TO f`, &Search{Keys: []SearchKey{
			{Op: "ANSWERED"}, {Op: "DELETED"}, {Op: "DRAFT"}, {Op: "NEW"}, {Op: "OLD"}, {Op: "RECENT"}, {Op: "SEEN"}, {Op: "UNANSWERED"}, {Op: "UNDELETED"}, {Op: "UNDRAFT"}, {Op: "UNFLAGGED"}, {Op: "UNSEEN"},
			{Op: "KEYWORD", Value: "$Junk"}, {Op: "UNKEYWORD", Value: "foo"}, {Op: "BCC", Value: "b"}, {Op: "CC", Value: "c"}, {Op: "BODY", Value: "d"}, {Op: "SUBJECT", Value: "e"}, {Op: "TO", Value: "f"}}}},
		{`MODSEQ "/flags/\\draft" all 620162338 MODSEQ 0`, &Search{Keys: []SearchKey{{Op: "MODSEQ", Field: `/flags/\draft`, Value: "ALL", Number: 620162338}, {Op: "MODSEQ"}}}},
		{`OLDER 3600 YOUNGER 60 EMAILID M6d99ac3275bb4e THREADID T64b478a75b7ea9 SAVEDBEFORE 1-Jan-2020 SAVEDON 1-Jan-2020 SAVEDSINCE 1-Jan-2020 SAVEDATESUPPORTED`, &Search{Keys: []SearchKey{
			{Op: "OLDER", Number: 3600}, {Op: "YOUNGER", Number: 60}, {Op: "EMAILID", Value: "M6d99ac3275bb4e"}, {Op: "THREADID", Value: "T64b478a75b7ea9"},
			{Op: "SAVEDBEFORE", Date: day(2020, 1, 1)}, {Op: "SAVEDON", Date: day(2020, 1, 1)}, {Op: "SAVEDSINCE", Date: day(2020, 1, 1)}, {Op: "SAVEDATESUPPORTED"}}}},
		{`((SEEN) (OR ALL (DRAFT)))`, &Search{Keys: []SearchKey{{Op: "AND", Keys: []SearchKey{{Op: "AND", Keys: []SearchKey{{Op: "SEEN"}}}, {Op: "AND", Keys: []SearchKey{{Op: "OR", Keys: []SearchKey{{Op: "ALL"}, {Op: "AND", Keys: []SearchKey{{Op: "DRAFT"}}}}}}}}}}}},
	}
	for _, tc := range tests {
		t.Run(tc.line, func(t *testing.T) {
			cmd, err := readOne(t, "a UID SEARCH "+tc.line+"\r\n")
			if err != nil {
				t.Fatal(err)
			}
			if !cmd.UID || cmd.Name != "SEARCH" {
				t.Fatalf("got %#v", cmd)
			}
			if !reflect.DeepEqual(cmd.Args, tc.want) {
				t.Fatalf("got\n%#v\nwant\n%#v", cmd.Args, tc.want)
			}
		})
	}
}

func TestSortThread(t *testing.T) {
	cmd, err := readOne(t, "a UID SORT (REVERSE DATE subject DISPLAYFROM) UTF-8 SINCE 1-Feb-1994 OR SEEN 2\r\n")
	if err != nil {
		t.Fatal(err)
	}
	want := &Command{Tag: "a", Name: "SORT", UID: true, Args: &Sort{
		Criteria: []SortCriterion{{"DATE", true}, {"SUBJECT", false}, {"DISPLAYFROM", false}}, Charset: "UTF-8",
		Keys: []SearchKey{{Op: "SINCE", Date: day(1994, 2, 1)}, {Op: "OR", Keys: []SearchKey{{Op: "SEEN"}, {Op: "SEQSET", Set: setp(2, 2)}}}}}}
	if !reflect.DeepEqual(cmd, want) {
		t.Fatalf("got %#v", cmd.Args)
	}
	cmd, err = readOne(t, "a SORT RETURN (MIN COUNT) (ARRIVAL) US-ASCII ALL\r\n")
	if err != nil {
		t.Fatal(err)
	}
	if s := cmd.Args.(*Sort); !reflect.DeepEqual(s.Return, []string{"MIN", "COUNT"}) || s.Criteria[0].Key != "ARRIVAL" {
		t.Fatalf("got %#v", s)
	}
	cmd, err = readOne(t, "a THREAD references UTF-8 SINCE 5-MAR-2000\r\n")
	if err != nil {
		t.Fatal(err)
	}
	wantT := &Thread{Algorithm: "REFERENCES", Charset: "UTF-8", Keys: []SearchKey{{Op: "SINCE", Date: day(2000, 3, 5)}}}
	if !reflect.DeepEqual(cmd.Args, wantT) {
		t.Fatalf("got %#v", cmd.Args)
	}
}

func TestFetch(t *testing.T) {
	tests := []struct {
		line string
		want *Fetch
	}{
		{"1:* ALL", &Fetch{Set: set(1, Star), Macro: "ALL", Atts: []FetchAtt{{Name: "FLAGS"}, {Name: "INTERNALDATE"}, {Name: "RFC822.SIZE"}, {Name: "ENVELOPE"}}}},
		{"1 fast", &Fetch{Set: set(1, 1), Macro: "FAST", Atts: []FetchAtt{{Name: "FLAGS"}, {Name: "INTERNALDATE"}, {Name: "RFC822.SIZE"}}}},
		{"1 FULL", &Fetch{Set: set(1, 1), Macro: "FULL", Atts: []FetchAtt{{Name: "FLAGS"}, {Name: "INTERNALDATE"}, {Name: "RFC822.SIZE"}, {Name: "ENVELOPE"}, {Name: "BODY"}}}},
		{"2 BODY[]", &Fetch{Set: set(2, 2), Atts: []FetchAtt{{Name: "BODY", Section: &Section{}}}}},
		{"2 body.peek[1.2.HEADER.FIELDS.NOT (Subject \"X-Y\")]<0.1024>", &Fetch{Set: set(2, 2), Atts: []FetchAtt{{Name: "BODY", Peek: true, Section: &Section{Part: []uint32{1, 2}, Text: "HEADER.FIELDS.NOT", Fields: []string{"Subject", "X-Y"}}, Partial: &Partial{0, 1024}}}}},
		{"2 (UID FLAGS ENVELOPE BODYSTRUCTURE BODY RFC822.SIZE RFC822 RFC822.HEADER RFC822.TEXT INTERNALDATE MODSEQ EMAILID THREADID SAVEDATE)", &Fetch{Set: set(2, 2), Atts: []FetchAtt{
			{Name: "UID"}, {Name: "FLAGS"}, {Name: "ENVELOPE"}, {Name: "BODYSTRUCTURE"}, {Name: "BODY"}, {Name: "RFC822.SIZE"}, {Name: "RFC822"}, {Name: "RFC822.HEADER"}, {Name: "RFC822.TEXT"}, {Name: "INTERNALDATE"}, {Name: "MODSEQ"}, {Name: "EMAILID"}, {Name: "THREADID"}, {Name: "SAVEDATE"}}}},
		{"3 (BODY[HEADER] BODY[TEXT] BODY[1] BODY[1.MIME] BODY[4.2.TEXT] BODY[HEADER.FIELDS (DATE FROM)])", &Fetch{Set: set(3, 3), Atts: []FetchAtt{
			{Name: "BODY", Section: &Section{Text: "HEADER"}}, {Name: "BODY", Section: &Section{Text: "TEXT"}}, {Name: "BODY", Section: &Section{Part: []uint32{1}}},
			{Name: "BODY", Section: &Section{Part: []uint32{1}, Text: "MIME"}}, {Name: "BODY", Section: &Section{Part: []uint32{4, 2}, Text: "TEXT"}},
			{Name: "BODY", Section: &Section{Text: "HEADER.FIELDS", Fields: []string{"DATE", "FROM"}}}}}},
		{"4 (BINARY[] BINARY.PEEK[1.2]<10.20> BINARY.SIZE[3])", &Fetch{Set: set(4, 4), Atts: []FetchAtt{
			{Name: "BINARY", Section: &Section{}}, {Name: "BINARY", Peek: true, Section: &Section{Part: []uint32{1, 2}}, Partial: &Partial{10, 20}}, {Name: "BINARY.SIZE", Section: &Section{Part: []uint32{3}}}}}},
		{"5 (PREVIEW (LAZY) UID)", &Fetch{Set: set(5, 5), Atts: []FetchAtt{{Name: "PREVIEW", Lazy: true}, {Name: "UID"}}}},
		{"5 PREVIEW (CHANGEDSINCE 12345)", &Fetch{Set: set(5, 5), Atts: []FetchAtt{{Name: "PREVIEW"}}, ChangedSince: 12345}},
		{"300:500 (FLAGS) (CHANGEDSINCE 12345 VANISHED)", &Fetch{Set: set(300, 500), Atts: []FetchAtt{{Name: "FLAGS"}}, ChangedSince: 12345, Vanished: true}},
	}
	for _, tc := range tests {
		t.Run(tc.line, func(t *testing.T) {
			cmd, err := readOne(t, "a UID FETCH "+tc.line+"\r\n")
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(cmd.Args, tc.want) {
				t.Fatalf("got\n%#v\nwant\n%#v", cmd.Args, tc.want)
			}
		})
	}
	a := FetchAtt{Name: "BODY", Peek: true, Section: &Section{Part: []uint32{1, 2}, Text: "HEADER.FIELDS", Fields: []string{"Subject", "X Y"}}, Partial: &Partial{5, 10}}
	if got, want := a.ResponseName(), `BODY[1.2.HEADER.FIELDS (Subject "X Y")]<5>`; got != want {
		t.Fatalf("ResponseName %s, want %s", got, want)
	}
}

func TestDates(t *testing.T) {
	r, _ := newTestReader("a APPEND x (\\Seen) \" 7-Feb-1994 21:52:25 -0800\" {0}\r\n\r\nb APPEND x \"17-jul-1996 02:44:25 +0130\" {0+}\r\n\r\n", Limits{})
	for _, want := range []time.Time{
		time.Date(1994, 2, 7, 21, 52, 25, 0, time.FixedZone("", -8*3600)),
		time.Date(1996, 7, 17, 2, 44, 25, 0, time.FixedZone("", 3600+1800)),
	} {
		cmd, err := r.ReadCommand()
		if err != nil {
			t.Fatal(err)
		}
		m, err := cmd.Args.(*Append).Next()
		if err != nil {
			t.Fatal(err)
		}
		if !m.Date.Equal(want) {
			t.Fatalf("got %v want %v", m.Date, want)
		}
		_, offset := m.Date.Zone()
		_, wantOffset := want.Zone()
		if offset != wantOffset {
			t.Fatalf("zone %d, want %d", offset, wantOffset)
		}
	}
}

func TestKeywordsInterned(t *testing.T) {
	for _, k := range []string{"FETCH", "SEARCH", "UNSEEN", "BODYSTRUCTURE", "MESSAGES", "ARRIVAL", "BODY.PEEK"} {
		if keywords[k] != k {
			t.Errorf("%s not interned", k)
		}
	}
}
