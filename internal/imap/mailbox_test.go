package imap_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// listString formats LIST results as "name attrs..." lines, in order.
func listString(list []*imap.ListData) []string {
	var out []string
	for _, l := range list {
		attrs := make([]string, len(l.Attrs))
		for i, a := range l.Attrs {
			attrs[i] = string(a)
		}
		s := l.Mailbox + " (" + strings.Join(attrs, " ") + ")"
		if l.ChildInfo != nil {
			s += fmt.Sprintf(" childinfo=%v", l.ChildInfo.Subscribed)
		}
		if st := l.Status; st != nil {
			s += fmt.Sprintf(" messages=%d uidnext=%d", *st.NumMessages, st.UIDNext)
		}
		out = append(out, s)
	}
	return out
}

func mustList(t testing.TB, c *imapclient.Client, ref, pattern string, opts *imap.ListOptions) []string {
	t.Helper()
	list, err := c.List(ref, pattern, opts).Collect()
	if err != nil {
		t.Fatalf("LIST %q %q: %v", ref, pattern, err)
	}
	for _, l := range list {
		if l.Delim != '/' {
			t.Fatalf("delimiter %q", l.Delim)
		}
	}
	return listString(list)
}

func TestSelectExamine(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, 0, "alice")
	c := ts.login(t, "alice", nil)
	appendMsg(t, c, "INBOX", testMessage("seen"), imap.FlagSeen)
	appendMsg(t, c, "INBOX", testMessage("unseen"), "$Work")

	// Raw, for every response of SELECT (IMAP4rev1 flavour).
	rc := ts.raw(t)
	rc.login("alice")
	lines := rc.ok("a", "SELECT INBOX")
	uidValidity := codeNum(t, lines, "UIDVALIDITY")
	highest := codeNum(t, lines, "HIGHESTMODSEQ")
	mailboxID := strings.TrimPrefix(untagged(lines, "MAILBOXID")[0], "* OK [MAILBOXID (")
	mailboxID = mailboxID[:strings.Index(mailboxID, ")")]
	sameLines(t, "SELECT", lines, []string{
		`* FLAGS (\Answered \Flagged \Deleted \Seen \Draft $Work)`,
		`* OK [PERMANENTFLAGS (\Answered \Flagged \Deleted \Seen \Draft $Work \*)] Flags permitted`,
		`* 2 EXISTS`,
		`* 0 RECENT`,
		`* OK [UNSEEN 2] First unseen`,
		fmt.Sprintf(`* OK [UIDVALIDITY %d] UIDs valid`, uidValidity),
		`* OK [UIDNEXT 3] Predicted next UID`,
		fmt.Sprintf(`* OK [HIGHESTMODSEQ %d] Highest`, highest),
		fmt.Sprintf(`* OK [MAILBOXID (%s)] Ok`, mailboxID),
	})
	if highest == 0 || mailboxID == "" {
		t.Fatalf("HIGHESTMODSEQ %d MAILBOXID %q", highest, mailboxID)
	}
	// The tagged OK carries READ-WRITE.
	sameLines(t, "SELECT tagged", rc.cmd("b", "SELECT INBOX")[9:], []string{"b OK [READ-WRITE] SELECT completed"})

	// EXAMINE: read-only, no permanent flags, STORE refused, FETCH of a
	// body does not set \Seen.
	lines = rc.cmd("c", "EXAMINE INBOX")
	if lines[len(lines)-1] != "c OK [READ-ONLY] EXAMINE completed" || !slices.Contains(lines, "* OK [PERMANENTFLAGS ()] Read-only folder") {
		t.Fatalf("EXAMINE: %q", lines)
	}
	rc.want("d", `STORE 2 +FLAGS (\Deleted)`, "NO [READ-ONLY]")
	rc.want("e", "EXPUNGE", "NO [READ-ONLY]")
	rc.ok("f", "FETCH 2 BODY[]")
	sameLines(t, "flags after EXAMINE FETCH", rc.cmd("g", "FETCH 2 FLAGS"), []string{"* 2 FETCH (FLAGS ($Work))", "g OK FETCH completed"})

	// A failed SELECT leaves the selected state (RFC 9051 section 6.3.2).
	rc.want("h", "SELECT Nonexistent", "NO [NONEXISTENT]")
	rc.want("i", "FETCH 1 FLAGS", "BAD")

	// imapclient's view, with CONDSTORE.
	d, err := c.Select("INBOX", &imap.SelectOptions{CondStore: true}).Wait()
	if err != nil {
		t.Fatal(err)
	}
	if d.NumMessages != 2 || d.UIDNext != 3 || d.UIDValidity != uint32(uidValidity) || d.HighestModSeq != highest ||
		flagString(d.Flags) != `$Work \Answered \Deleted \Draft \Flagged \Seen` {
		t.Fatalf("SELECT: %+v", d)
	}
	ro, err := c.Select("INBOX", &imap.SelectOptions{ReadOnly: true}).Wait()
	if err != nil {
		t.Fatal(err)
	}
	if ro.NumMessages != 2 || len(ro.PermanentFlags) != 0 {
		t.Fatalf("EXAMINE: %+v", ro)
	}

	// With IMAP4rev2 enabled: no RECENT nor UNSEEN, and [CLOSED] when
	// another folder is selected over this one (RFC 9051 section 6.3.2).
	// It also sends LIST for the folder (RFC 9051 section 6.3.2).
	rc.ok("j", "ENABLE IMAP4rev2")
	rc.ok("k", "SELECT INBOX")
	lines = rc.ok("l", "SELECT Sent")
	if lines[0] != "* OK [CLOSED] Previous folder closed" || len(untagged(lines, "RECENT")) != 0 ||
		len(untagged(lines, "UNSEEN")) != 0 || !slices.Contains(lines, "* 0 EXISTS") ||
		!slices.Contains(lines, `* LIST (\HasNoChildren \Sent) "/" Sent`) {
		t.Fatalf("SELECT with IMAP4rev2: %q", lines)
	}
	if err := c.Create("INBOX/Sub", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Enable(imap.CapIMAP4rev2).Wait(); err != nil {
		t.Fatal(err)
	}
	d, err = c.Select("INBOX", nil).Wait()
	if err != nil {
		t.Fatal(err)
	}
	if d.List == nil || d.List.Mailbox != "INBOX" || fmt.Sprint(d.List.Attrs) != `[\HasChildren]` || d.NumMessages != 2 {
		t.Fatalf("IMAP4rev2 SELECT: %+v %+v", d, d.List)
	}
}

func TestCreateDeleteRename(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, 0, "alice")
	c := ts.login(t, "alice", nil)

	// CREATE makes the missing parents (RFC 9051 section 6.3.4); a
	// trailing delimiter is dropped.
	if err := c.Create("Work/Projects/2026/", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	wantErr(t, c.Create("Work", nil).Wait(), imap.StatusResponseTypeNo, imap.ResponseCodeAlreadyExists)
	wantErr(t, c.Create("inbox", nil).Wait(), imap.StatusResponseTypeNo, imap.ResponseCodeAlreadyExists)
	sameLines(t, "LIST Work*", mustList(t, c, "", "Work*", nil), []string{
		`Work (\HasChildren)`, `Work/Projects (\HasChildren)`, `Work/Projects/2026 (\HasNoChildren)`,
	})

	// RENAME moves the children along and keeps the folder's MAILBOXID
	// (RFC 8474 section 4) and its messages.
	appendMsg(t, c, "Work/Projects", testMessage("project"))
	before := mailboxIDs(t, ts, "alice")
	if err := c.Rename("Work", "Jobs/Old", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	after := mailboxIDs(t, ts, "alice")
	if before["Work"] == "" || after["Jobs/Old"] != before["Work"] || after["Jobs/Old/Projects"] != before["Work/Projects"] ||
		after["Jobs/Old/Projects/2026"] != before["Work/Projects/2026"] {
		t.Fatalf("MAILBOXID before %v after %v", before, after)
	}
	if _, ok := after["Work"]; ok {
		t.Fatalf("Work still listed after RENAME: %v", after)
	}
	if after["Jobs"] == "" || after["Jobs"] == before["Work"] {
		t.Fatalf("parent Jobs: %v", after)
	}
	st, err := c.Status("Jobs/Old/Projects", &imap.StatusOptions{NumMessages: true}).Wait()
	if err != nil || *st.NumMessages != 1 {
		t.Fatalf("STATUS after RENAME: %v %v", st, err)
	}
	wantErr(t, c.Rename("Jobs", "Sent", nil).Wait(), imap.StatusResponseTypeNo, imap.ResponseCodeAlreadyExists)
	wantErr(t, c.Rename("Nope", "Other", nil).Wait(), imap.StatusResponseTypeNo, imap.ResponseCodeNonExistent)
	wantErr(t, c.Rename("Sent", "INBOX", nil).Wait(), imap.StatusResponseTypeNo, imap.ResponseCodeAlreadyExists)
	wantErr(t, c.Rename("Jobs", "Jobs/Sub", nil).Wait(), imap.StatusResponseTypeNo, imap.ResponseCodeCannot)

	// Renaming INBOX moves its messages into a new folder and leaves INBOX
	// empty (RFC 9051 section 6.3.6).
	appendMsg(t, c, "INBOX", testMessage("inbox one"))
	appendMsg(t, c, "INBOX", testMessage("inbox two"))
	if err := c.Rename("INBOX", "Old Inbox", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]uint32{"INBOX": 0, "Old Inbox": 2} {
		st, err := c.Status(name, &imap.StatusOptions{NumMessages: true}).Wait()
		if err != nil || *st.NumMessages != want {
			t.Fatalf("STATUS %s: %v %v, want %d", name, st, err, want)
		}
	}

	// DELETE: INBOX never, a parent only once its children are gone
	// (RFC 9051 section 7.1, HASCHILDREN), then the name is free and a
	// new folder of that name is a new folder (new UIDVALIDITY).
	wantErr(t, c.Delete("INBOX").Wait(), imap.StatusResponseTypeNo, imap.ResponseCodeCannot)
	wantErr(t, c.Delete("Jobs/Old").Wait(), imap.StatusResponseTypeNo, imap.ResponseCodeHasChildren)
	wantErr(t, c.Delete("Nope").Wait(), imap.StatusResponseTypeNo, imap.ResponseCodeNonExistent)
	old, err := c.Status("Jobs/Old/Projects", &imap.StatusOptions{UIDValidity: true}).Wait()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"Jobs/Old/Projects/2026", "Jobs/Old/Projects"} {
		if err := c.Delete(name).Wait(); err != nil {
			t.Fatalf("DELETE %s: %v", name, err)
		}
	}
	sameLines(t, "LIST Jobs*", mustList(t, c, "", "Jobs*", nil), []string{`Jobs (\HasChildren)`, `Jobs/Old (\HasNoChildren)`})
	if err := c.Create("Jobs/Old/Projects", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	fresh, err := c.Status("Jobs/Old/Projects", &imap.StatusOptions{UIDValidity: true, NumMessages: true, UIDNext: true}).Wait()
	if err != nil {
		t.Fatal(err)
	}
	if fresh.UIDValidity == old.UIDValidity || *fresh.NumMessages != 0 || fresh.UIDNext != 1 {
		t.Fatalf("re-created folder: %+v (old UIDVALIDITY %d)", fresh, old.UIDValidity)
	}

	// DELETE of the session's own selected folder: OK, and the session
	// is back in the authenticated state, still connected.
	rc := ts.raw(t)
	rc.login("alice")
	rc.ok("s", "CREATE Doomed")
	rc.ok("t", "SELECT Doomed")
	sameLines(t, "DELETE selected", rc.cmd("u", "DELETE Doomed"), []string{"u OK DELETE completed"})
	sameLines(t, "after DELETE selected", rc.cmd("v", "NOOP"), []string{"v OK NOOP completed"})
	rc.want("w", "FETCH 1 UID", "BAD")

	// Bad names.
	rc.want("a", `CREATE "a//b"`, "NO [CANNOT]")
	rc.want("b", `CREATE "a*b"`, "NO [CANNOT]")
	rc.want("c", `CREATE ""`, "NO")
	rc.want("d", `CREATE "&Jjo!"`, "BAD")
}

// mailboxIDs returns the MAILBOXID of every folder, from LIST-STATUS.
func mailboxIDs(t testing.TB, ts *testServer, user string) map[string]string {
	t.Helper()
	rc := ts.raw(t)
	rc.login(user)
	out := map[string]string{}
	for _, l := range rc.ok("m", `LIST "" "*" RETURN (STATUS (MAILBOXID))`) {
		if !strings.HasPrefix(l, "* STATUS ") {
			continue
		}
		rest := strings.TrimPrefix(l, "* STATUS ")
		i := strings.LastIndex(rest, " (MAILBOXID (")
		name := strings.Trim(rest[:i], `"`)
		out[name] = strings.TrimSuffix(rest[i+len(" (MAILBOXID ("):], "))")
	}
	rc.ok("z", "LOGOUT")
	return out
}

func TestListExtended(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, 0, "alice")
	c := ts.login(t, "alice", nil)
	for _, name := range []string{"Lists/Go", "Lists/Rust", "Inboxes", "INBOX/Receipts"} {
		if err := c.Create(name, nil).Wait(); err != nil {
			t.Fatal(err)
		}
	}
	appendMsg(t, c, "Lists/Go", testMessage("go 1"))
	appendMsg(t, c, "Lists/Go", testMessage("go 2"))

	sameLines(t, "LIST *", mustList(t, c, "", "*", nil), []string{
		`Archive (\HasNoChildren \Archive)`, `Drafts (\HasNoChildren \Drafts)`,
		`INBOX (\HasChildren)`, `INBOX/Receipts (\HasNoChildren)`, `Inboxes (\HasNoChildren)`,
		`Junk (\HasNoChildren \Junk)`, `Lists (\HasChildren)`, `Lists/Go (\HasNoChildren)`,
		`Lists/Rust (\HasNoChildren)`, `Sent (\HasNoChildren \Sent)`, `Trash (\HasNoChildren \Trash)`,
	})
	// "%" stops at the delimiter; the reference is prefixed.
	sameLines(t, "LIST %", mustList(t, c, "", "L%", nil), []string{`Lists (\HasChildren)`})
	sameLines(t, "LIST Lists/ %", mustList(t, c, "Lists/", "%", nil), []string{`Lists/Go (\HasNoChildren)`, `Lists/Rust (\HasNoChildren)`})
	// INBOX is case-insensitive, also as a parent (RFC 9051 section 5.1);
	// other names are not, and "Inboxes" is not INBOX.
	sameLines(t, "LIST inbox", mustList(t, c, "", "inbox", nil), []string{`INBOX (\HasChildren)`})
	sameLines(t, "LIST inbox/*", mustList(t, c, "", "inbox/*", nil), []string{`INBOX/Receipts (\HasNoChildren)`})
	sameLines(t, "LIST Inboxes", mustList(t, c, "", "Inboxes", nil), []string{`Inboxes (\HasNoChildren)`})
	sameLines(t, "LIST Inbox*", mustList(t, c, "", "Inbox*", nil), []string{
		`INBOX (\HasChildren)`, `INBOX/Receipts (\HasNoChildren)`, `Inboxes (\HasNoChildren)`,
	})
	sameLines(t, "LIST lists", mustList(t, c, "", "lists", nil), nil)

	// SPECIAL-USE selection (RFC 6154 section 5.1).
	sameLines(t, "LIST (SPECIAL-USE)", mustList(t, c, "", "*", &imap.ListOptions{SelectSpecialUse: true}), []string{
		`Archive (\HasNoChildren \Archive)`, `Drafts (\HasNoChildren \Drafts)`, `Junk (\HasNoChildren \Junk)`,
		`Sent (\HasNoChildren \Sent)`, `Trash (\HasNoChildren \Trash)`,
	})

	// Subscriptions: SUBSCRIBED selection, RECURSIVEMATCH with CHILDINFO
	// (RFC 5258 section 3), LSUB.
	for _, name := range []string{"Lists", "Lists/Rust", "INBOX/Receipts", "Inboxes", "Archive", "Junk", "Trash", "Drafts", "Sent"} {
		if err := c.Unsubscribe(name).Wait(); err != nil {
			t.Fatal(err)
		}
	}
	wantErr(t, c.Subscribe("Nope").Wait(), imap.StatusResponseTypeNo, imap.ResponseCodeNonExistent)
	sameLines(t, "LIST (SUBSCRIBED)", mustList(t, c, "", "*", &imap.ListOptions{SelectSubscribed: true}), []string{
		`INBOX (\HasChildren \Subscribed)`, `Lists/Go (\HasNoChildren \Subscribed)`,
	})
	sameLines(t, "LIST (SUBSCRIBED RECURSIVEMATCH) %", mustList(t, c, "", "%",
		&imap.ListOptions{SelectSubscribed: true, SelectRecursiveMatch: true}), []string{
		`INBOX (\HasChildren \Subscribed)`, `Lists (\HasChildren) childinfo=true`,
	})
	sameLines(t, "RETURN (SUBSCRIBED)", mustList(t, c, "", "Lists*", &imap.ListOptions{ReturnSubscribed: true}), []string{
		`Lists (\HasChildren)`, `Lists/Go (\HasNoChildren \Subscribed)`, `Lists/Rust (\HasNoChildren)`,
	})

	// LIST-STATUS (RFC 5819).
	sameLines(t, "RETURN (STATUS)", mustList(t, c, "", "Lists/*", &imap.ListOptions{
		ReturnStatus: &imap.StatusOptions{NumMessages: true, UIDNext: true}}), []string{
		`Lists/Go (\HasNoChildren) messages=2 uidnext=3`, `Lists/Rust (\HasNoChildren) messages=0 uidnext=1`,
	})

	rc := ts.raw(t)
	rc.login("alice")
	// The delimiter query.
	sameLines(t, `LIST "" ""`, rc.cmd("a", `LIST "" ""`), []string{`* LIST (\Noselect) "/" ""`, "a OK LIST completed"})
	sameLines(t, "LSUB", rc.cmd("b", `LSUB "" "*"`), []string{`* LSUB () "/" INBOX`, `* LSUB () "/" Lists/Go`, "b OK LSUB completed"})
	// Several patterns (RFC 5258 section 3).
	sameLines(t, "LIST patterns", rc.cmd("c", `LIST "" (Sent Junk "Lists/R*")`), []string{
		`* LIST (\HasNoChildren \Junk) "/" Junk`, `* LIST (\HasNoChildren) "/" Lists/Rust`,
		`* LIST (\HasNoChildren \Sent) "/" Sent`, "c OK LIST completed",
	})
	rc.want("d", `LIST (BOGUS) "" "*"`, "BAD")
	rc.want("e", `LIST (RECURSIVEMATCH) "" "*"`, "BAD")
}

func TestCreateSpecialUse(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, 0, "alice")
	c := ts.login(t, "alice", nil)
	if err := c.Create("All Mail", &imap.CreateOptions{SpecialUse: []imap.MailboxAttr{imap.MailboxAttrAll}}).Wait(); err != nil {
		t.Fatal(err)
	}
	if err := c.Create("Starred", &imap.CreateOptions{SpecialUse: []imap.MailboxAttr{imap.MailboxAttrFlagged}}).Wait(); err != nil {
		t.Fatal(err)
	}
	sameLines(t, "LIST", mustList(t, c, "", "*", &imap.ListOptions{SelectSpecialUse: true, ReturnSpecialUse: true}), []string{
		`All Mail (\HasNoChildren \All)`, `Archive (\HasNoChildren \Archive)`, `Drafts (\HasNoChildren \Drafts)`,
		`Junk (\HasNoChildren \Junk)`, `Sent (\HasNoChildren \Sent)`, `Starred (\HasNoChildren \Flagged)`,
		`Trash (\HasNoChildren \Trash)`,
	})
	rc := ts.raw(t)
	rc.login("alice")
	// RFC 6154 section 3: USEATTR for a use the server does not know.
	rc.want("a", `CREATE Foo (USE (\Important))`, "NO [USEATTR]")
	rc.want("b", `CREATE Foo (USE (\Sent \Drafts))`, "NO [USEATTR]")
	rc.want("c", `CREATE Foo (BOGUS)`, "BAD")
	sameLines(t, "nothing created", rc.cmd("d", `LIST "" Foo`), []string{"d OK LIST completed"})
}

func TestStatus(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, 0, "alice")
	c := ts.login(t, "alice", nil)
	m1, m2, m3 := testMessage("status 1"), testMessage("status 22"), testMessage("status 333")
	appendMsg(t, c, "Sent", m1, imap.FlagSeen)
	appendMsg(t, c, "Sent", m2, imap.FlagDeleted)
	a3 := appendMsg(t, c, "Sent", m3)

	st, err := c.Status("Sent", &imap.StatusOptions{NumMessages: true, UIDNext: true, UIDValidity: true, NumUnseen: true,
		NumDeleted: true, Size: true, AppendLimit: true, HighestModSeq: true}).Wait()
	if err != nil {
		t.Fatal(err)
	}
	if *st.NumMessages != 3 || st.UIDNext != 4 || st.UIDValidity != a3.UIDValidity || *st.NumUnseen != 2 ||
		*st.NumDeleted != 1 || *st.Size != int64(len(m1)+len(m2)+len(m3)) || *st.AppendLimit != 8<<20 || st.HighestModSeq == 0 {
		t.Fatalf("STATUS %+v", st)
	}
	_, err = c.Status("Nope", &imap.StatusOptions{NumMessages: true}).Wait()
	wantErr(t, err, imap.StatusResponseTypeNo, imap.ResponseCodeNonExistent)

	rc := ts.raw(t)
	rc.login("alice")
	sameLines(t, "STATUS raw", rc.cmd("a", "STATUS sent (MESSAGES)"), []string{"a NO [NONEXISTENT] The folder does not exist"})
	sameLines(t, "STATUS raw", rc.cmd("b", "STATUS Sent (SIZE MESSAGES RECENT)"), []string{
		fmt.Sprintf("* STATUS Sent (SIZE %d MESSAGES 3 RECENT 0)", len(m1)+len(m2)+len(m3)), "b OK STATUS completed"})
	rc.want("c", "STATUS Sent (BOGUS)", "BAD")
	rc.want("d", "STATUS Sent ()", "BAD")
}

func TestUTF8FolderNames(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, 0, "alice")

	// IMAP4rev1 client: modified UTF-7 (RFC 3501 section 5.1.3).
	rc := ts.raw(t)
	rc.login("alice")
	rc.ok("a", `CREATE "&AMQ-rger/Fran&AOc-ais"`)
	rc.want("b", `CREATE "Ärger2"`, "BAD")
	sameLines(t, "LIST in UTF-7", rc.cmd("c", `LIST "" "&AMQ-*"`), []string{
		`* LIST (\HasChildren) "/" &AMQ-rger`, `* LIST (\HasNoChildren) "/" &AMQ-rger/Fran&AOc-ais`, "c OK LIST completed",
	})

	// After ENABLE UTF8=ACCEPT (RFC 6855 section 3): UTF-8 both ways.
	u := ts.raw(t)
	u.login("alice")
	u.ok("a", "ENABLE UTF8=ACCEPT")
	sameLines(t, "LIST in UTF-8", u.cmd("b", `LIST "" "Ä*"`), []string{
		`* LIST (\HasChildren) "/" "Ärger"`, `* LIST (\HasNoChildren) "/" "Ärger/Français"`, "b OK LIST completed",
	})
	u.ok("c", `CREATE "日本語/メール"`)
	u.ok("d", `SELECT "Ärger/Français"`)
	sameLines(t, "STATUS UTF-8", u.cmd("e", `STATUS "日本語/メール" (MESSAGES)`), []string{`* STATUS "日本語/メール" (MESSAGES 0)`, "e OK STATUS completed"})
	u.ok("f", `RENAME "日本語/メール" "日本語/郵便"`)
	// The IMAP4rev1 session sees the same folders in UTF-7.
	sameLines(t, "UTF-7 view", rc.cmd("d", `LIST "" "&ZeVnLIqe-/*"`), []string{
		`* LIST (\HasNoChildren) "/" &ZeVnLIqe-/&kPVPvw-`, "d OK LIST completed",
	})

	// A message with UTF-8 header fields, with the UTF8 APPEND data
	// extension (RFC 6855 section 4); its subject comes back in UTF-8.
	m := "From: Jürgen <jurgen@example.net>\r\nSubject: Grüße aus Zürich\r\nMessage-ID: <utf8@example.net>\r\n\r\nHallo\r\n"
	u.send(fmt.Sprintf(`g APPEND "Ärger/Français" UTF8 (~{%d}`, len(m)))
	if l := u.line(); !strings.HasPrefix(l, "+ ") {
		t.Fatalf("UTF8 APPEND: %q", l)
	}
	u.send(m + ")")
	if l := u.until("g"); !strings.HasPrefix(l[len(l)-1], "g OK [APPENDUID ") {
		t.Fatalf("UTF8 APPEND: %q", l)
	}
	u.ok("h", `SELECT "Ärger/Français"`)
	sameLines(t, "UTF-8 ENVELOPE", u.cmd("i", "FETCH 1 (ENVELOPE)"), []string{
		`* 1 FETCH (ENVELOPE (NIL "Grüße aus Zürich" (("Jürgen" NIL "jurgen" "example.net")) (("Jürgen" NIL "jurgen" "example.net")) (("Jürgen" NIL "jurgen" "example.net")) NIL NIL NIL NIL "<utf8@example.net>"))`,
		"i OK FETCH completed",
	})
	sameLines(t, "UTF-8 SEARCH", u.cmd("j", `SEARCH SUBJECT "zürich"`), []string{"* SEARCH 1", "j OK SEARCH completed"})

	// imapclient with UTF8=ACCEPT.
	c := ts.login(t, "alice", nil)
	if _, err := c.Enable(imap.CapUTF8Accept).Wait(); err != nil {
		t.Fatal(err)
	}
	if err := c.Create("Ünïcødé", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	appendMsg(t, c, "Ünïcødé", testMessage("utf8 folder"))
	if d := mustSelect(t, c, "Ünïcødé"); d.NumMessages != 1 {
		t.Fatalf("%d messages", d.NumMessages)
	}
	sameLines(t, "imapclient LIST", mustList(t, c, "", "Ü*", nil), []string{`Ünïcødé (\HasNoChildren)`})
}

func TestQuota(t *testing.T) {
	t.Parallel()
	const quota = 4096
	ts := newTestServer(t, quota, "alice")
	c := ts.login(t, "alice", nil)
	msg := testMessage("quota") + strings.Repeat("padding line\r\n", 60)
	kib := func(n int) int64 { return int64(n+1023) / 1024 }
	appendMsg(t, c, "INBOX", msg)

	data, err := c.GetQuotaRoot("INBOX").Wait()
	if err != nil {
		t.Fatal(err)
	}
	want := imapclient.QuotaResourceData{Usage: kib(len(msg)), Limit: quota / 1024}
	if len(data) != 1 || data[0].Root != "" || len(data[0].Resources) != 1 || data[0].Resources[imap.QuotaResourceStorage] != want {
		t.Fatalf("GETQUOTAROOT %+v", data)
	}
	q, err := c.GetQuota("").Wait()
	if err != nil {
		t.Fatal(err)
	}
	if q.Resources[imap.QuotaResourceStorage] != want {
		t.Fatalf("GETQUOTA %+v", q)
	}
	_, err = c.GetQuota("other").Wait()
	wantErr(t, err, imap.StatusResponseTypeNo, imap.ResponseCodeNonExistent)
	wantErr(t, c.SetQuota("", map[imap.QuotaResourceType]int64{imap.QuotaResourceStorage: 1 << 20}).Wait(),
		imap.StatusResponseTypeNo, imap.ResponseCodeNoPerm)

	rc := ts.raw(t)
	rc.login("alice")
	sameLines(t, "GETQUOTAROOT", rc.cmd("a", "GETQUOTAROOT Sent"), []string{
		`* QUOTAROOT Sent ""`, fmt.Sprintf(`* QUOTA "" (STORAGE %d 4)`, kib(len(msg))), "a OK GETQUOTAROOT completed",
	})
	rc.want("b", "GETQUOTAROOT Nope", "NO [NONEXISTENT]")

	// APPEND beyond the quota: NO [OVERQUOTA] before the literal is sent
	// (no "+"), nothing saved.
	big := strings.Repeat("x", quota)
	rc.send(fmt.Sprintf("c APPEND INBOX {%d}", len(big)))
	if l := rc.line(); l != "c NO [OVERQUOTA] Over quota" {
		t.Fatalf("APPEND over quota: %q", l)
	}
	rc.ok("d", "NOOP")
	// imapclient sends it as LITERAL+: the refusal must still come (not
	// wait for a next command), though the data is in the server's buffer.
	appendCmd := c.Append("INBOX", int64(len(big)), nil)
	appendCmd.Write([]byte(big))
	appendCmd.Close()
	_, err = waitAppend(t, appendCmd)
	wantErr(t, err, imap.StatusResponseTypeNo, imap.ResponseCodeOverQuota)
	// COPY beyond the quota too (RFC 9208 section 4.3 says OVERQUOTA).
	mustSelect(t, c, "INBOX")
	for range 2 {
		if _, err := c.Copy(imap.SeqSetNum(1), "INBOX").Wait(); err != nil {
			t.Fatal(err)
		}
	}
	_, err = c.Copy(imap.SeqSetNum(1, 2, 3), "Sent").Wait()
	wantErr(t, err, imap.StatusResponseTypeNo, imap.ResponseCodeOverQuota)
	st, err := c.Status("Sent", &imap.StatusOptions{NumMessages: true}).Wait()
	if err != nil || *st.NumMessages != 0 {
		t.Fatalf("Sent after refused COPY: %v %v", st, err)
	}
	q, err = c.GetQuota("").Wait()
	if err != nil || q.Resources[imap.QuotaResourceStorage].Usage != kib(3*len(msg)) {
		t.Fatalf("GETQUOTA %+v %v", q, err)
	}
}

func TestQuotaUnlimited(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, 0, "alice")
	rc := ts.raw(t)
	rc.login("alice")
	// No quota: INBOX has no quota root (RFC 9208 section 4.3), and
	// there is no quota root to ask about; never an empty resource list,
	// which the grammar does not allow.
	sameLines(t, "GETQUOTAROOT", rc.cmd("a", "GETQUOTAROOT INBOX"), []string{"* QUOTAROOT INBOX", "a OK GETQUOTAROOT completed"})
	rc.want("b", `GETQUOTA ""`, "NO [NONEXISTENT]")
}

func TestUnselectClose(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, 0, "alice")
	c := ts.login(t, "alice", nil)
	fill(t, c, "INBOX", "close", 3)
	mustSelect(t, c, "INBOX")
	if err := c.Store(imap.SeqSetNum(1, 3), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close(); err != nil {
		t.Fatal(err)
	}
	// UNSELECT leaves without expunging (RFC 3691).
	if err := c.Unselect().Wait(); err != nil {
		t.Fatal(err)
	}
	if d := mustSelect(t, c, "INBOX"); d.NumMessages != 3 {
		t.Fatalf("after UNSELECT: %d messages", d.NumMessages)
	}
	// EXAMINE then CLOSE: no expunge on a read-only folder.
	rc := ts.raw(t)
	rc.login("alice")
	rc.ok("a", "EXAMINE INBOX")
	sameLines(t, "CLOSE read-only", rc.cmd("b", "CLOSE"), []string{"b OK CLOSE completed"})
	rc.want("c", "FETCH 1 FLAGS", "BAD")
	rc.want("d", "UNSELECT", "BAD")
	if d := mustSelect(t, c, "INBOX"); d.NumMessages != 3 {
		t.Fatalf("after CLOSE of EXAMINE: %d messages", d.NumMessages)
	}
	// CLOSE expunges silently (RFC 9051 section 6.4.1).
	rc.ok("e", "SELECT INBOX")
	sameLines(t, "CLOSE", rc.cmd("f", "CLOSE"), []string{"f OK CLOSE completed"})
	rc.ok("g", "SELECT INBOX")
	sameLines(t, "after CLOSE", rc.cmd("h", "UID SEARCH ALL"), []string{"* SEARCH 2", "h OK UID SEARCH completed"})
}

// TestStatusDeletedStorage: STATUS DELETED-STORAGE (RFC 9208 section
// 4.2.1) is what expunging the \Deleted messages would free, in KiB.
func TestStatusDeletedStorage(t *testing.T) {
	ts := newTestServer(t, 0, "alice")
	c := ts.login(t, "alice", nil)
	big := testMessage("big") + strings.Repeat("x", 3000) + "\r\n"
	appendMsg(t, c, "INBOX", testMessage("small"))
	appendMsg(t, c, "INBOX", big, imap.FlagDeleted)
	rc := ts.raw(t)
	rc.login("alice")
	sameLines(t, "STATUS", rc.cmd("a", "STATUS INBOX (DELETED DELETED-STORAGE MESSAGES)"), []string{
		fmt.Sprintf("* STATUS INBOX (DELETED 1 DELETED-STORAGE %d MESSAGES 2)", (len(big)+1023)/1024),
		"a OK STATUS completed"})
}
