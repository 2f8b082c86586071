package imap_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"
)

// snapshot describes everything a user has: every folder with its status
// and every message's UID, flags and subject, as that user sees it.
func snapshot(t testing.TB, ts *testServer, user string) string {
	t.Helper()
	c := ts.login(t, user, nil)
	list, err := c.List("", "*", &imap.ListOptions{ReturnSubscribed: true, ReturnStatus: &imap.StatusOptions{
		NumMessages: true, UIDNext: true, UIDValidity: true, NumUnseen: true, Size: true, HighestModSeq: true}}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, l := range list {
		st := l.Status
		fmt.Fprintf(&b, "%s %v messages=%d uidnext=%d uidvalidity=%d unseen=%d size=%d modseq=%d\n", l.Mailbox, l.Attrs,
			*st.NumMessages, st.UIDNext, st.UIDValidity, *st.NumUnseen, *st.Size, st.HighestModSeq)
		if _, err := c.Select(l.Mailbox, &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
			t.Fatal(err)
		}
		if *st.NumMessages == 0 {
			continue
		}
		for _, m := range fetchAll(t, c, &imap.FetchOptions{Flags: true, Envelope: true}) {
			fmt.Fprintf(&b, "  %d %s [%s]\n", m.UID, m.Envelope.Subject, flagString(m.Flags))
		}
	}
	if err := c.Logout().Wait(); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// otherNames are names by which alice might try to reach bob's folders.
var otherNames = []string{
	"../bob/INBOX", "..", "../bob", "bob@example.org/INBOX", "bob@example.org", "bob@example.org/Private",
	"#shared", "#shared/bob/INBOX", "#public/bob", "~bob", "~bob/INBOX", "~bob/Private", "/bob/INBOX",
	"/INBOX", "user/bob", "user.bob", "Other Users/bob/INBOX", "Private", "PRIVATE", "private", "Private/Secret",
	"PRIVATE/secret", "Shared Folders/bob", "%", "*", "bob", "Bob/INBOX", "INBOX/../../bob/INBOX",
}

// TestIsolationByName: no name leads alice to bob's folders; what looks
// like bob's folder is at most a folder of alice's own (acceptance
// point 3).
func TestIsolationByName(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, 0, "alice", "bob")
	bob := ts.login(t, "bob", nil)
	fill(t, bob, "INBOX", "bob secret", 3)
	if err := bob.Create("Private/Secret", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	appendMsg(t, bob, "Private", testMessage("bob private"), imap.FlagFlagged)
	appendMsg(t, bob, "Private/Secret", testMessage("bob very private"))
	if err := bob.Logout().Wait(); err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, ts, "bob")

	rc := ts.raw(t)
	rc.login("alice")
	// Alice's own INBOX is empty, whatever case she writes it in.
	for _, name := range []string{"INBOX", "inbox", "Inbox", `"iNbOx"`} {
		lines := rc.ok("a", "EXAMINE "+name)
		if len(untagged(lines, "EXISTS")) != 1 || untagged(lines, "EXISTS")[0] != "* 0 EXISTS" {
			t.Fatalf("EXAMINE %s: %q", name, lines)
		}
	}
	rc.ok("b", "CLOSE")
	for _, name := range otherNames {
		q := `"` + name + `"`
		for _, cmd := range []string{"SELECT " + q, "EXAMINE " + q, "STATUS " + q + " (MESSAGES)", "DELETE " + q,
			"RENAME " + q + " Stolen", "SUBSCRIBE " + q, "UNSUBSCRIBE " + q, "GETQUOTAROOT " + q} {
			lines := rc.cmd("c", cmd)
			if last := lines[len(lines)-1]; !strings.HasPrefix(last, "c NO") && !strings.HasPrefix(last, "c BAD") || len(lines) > 1 {
				t.Errorf("%s: %q", cmd, lines)
			}
		}
		// LIST finds none of them (alice has no such folders).
		if lines := rc.cmd("d", `LIST "" `+q); len(lines) != 1 && name != "%" && name != "*" {
			t.Errorf("LIST %s: %q", name, lines)
		}
		// APPEND is refused before the literal is asked for.
		rc.send(fmt.Sprintf("e APPEND %s {%d}", q, len(testMessage("x"))))
		if l := rc.line(); !strings.HasPrefix(l, "e NO") && !strings.HasPrefix(l, "e BAD") {
			t.Errorf("APPEND %s: %q", name, l)
		}
		// References are no way out either.
		if lines := rc.cmd("f", `LIST `+q+` "*"`); len(lines) != 1 && name != "%" && name != "*" {
			t.Errorf("LIST with reference %s: %q", name, lines)
		}
	}
	// LIST shows alice's folders only.
	lines := rc.ok("g", `LIST "" "*"`)
	for _, l := range lines {
		if strings.Contains(l, "Private") || strings.Contains(l, "bob") {
			t.Fatalf("alice's LIST shows %q", l)
		}
	}
	if len(lines) != 6 {
		t.Fatalf("alice's LIST: %q", lines)
	}

	// Alice may create folders with such names: they are hers, in her
	// mailbox, and bob's are untouched.
	for _, name := range []string{"../bob/INBOX", "~bob/INBOX", "#shared/bob", "Private"} {
		rc.ok("h", fmt.Sprintf(`CREATE "%s"`, name))
		m := testMessage("alice into " + name)
		rc.send(fmt.Sprintf(`i APPEND "%s" {%d+}`, name, len(m)))
		rc.send(m)
		if l := rc.until("i"); !strings.HasPrefix(l[len(l)-1], "i OK [APPENDUID ") {
			t.Fatalf("APPEND to alice's %s: %q", name, l)
		}
		sameLines(t, "STATUS "+name, rc.cmd("j", fmt.Sprintf(`STATUS "%s" (MESSAGES)`, name)), []string{
			fmt.Sprintf(`* STATUS %s (MESSAGES 1)`, name), "j OK STATUS completed",
		})
	}
	rc.ok("k", `RENAME "Private" "Private2"`)
	rc.ok("l", `DELETE "Private2"`)
	if after := snapshot(t, ts, "bob"); after != before {
		t.Fatalf("bob's mailbox changed:\nbefore\n%s\nafter\n%s", before, after)
	}
}

// TestIsolationByUID: UIDs and sequence numbers only ever mean messages of
// the selected folder of the session's own user.
func TestIsolationByUID(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, 0, "alice", "bob")
	for i := 1; i <= 5; i++ {
		ts.deliver(t, "bob", testMessage(fmt.Sprintf("for bob %d", i)))
	}
	ts.deliver(t, "alice", testMessage("for alice 1"))

	rc := ts.raw(t)
	rc.login("alice")
	rc.ok("a", "SELECT INBOX")
	// Bob's session sees nothing of what alice does, and alice nothing of
	// bob's.
	bob := ts.raw(t)
	bob.login("bob")
	bob.ok("a", "SELECT INBOX")
	rc.ok("h2", `STORE 1 +FLAGS (\Flagged)`)
	ts.deliver(t, "alice", testMessage("for alice 2"))
	sameLines(t, "alice after delivery", rc.cmd("i", "NOOP"), []string{"* 2 EXISTS", "i OK NOOP completed"})
	sameLines(t, "bob after alice's changes", bob.cmd("b", "NOOP"), []string{"b OK NOOP completed"})
	bob.ok("c", `STORE 1:5 +FLAGS.SILENT (\Seen)`)
	sameLines(t, "alice after bob's changes", rc.cmd("j", "NOOP"), []string{"j OK NOOP completed"})
	bob.ok("d", `STORE 1:5 -FLAGS.SILENT (\Seen)`)
	bob.ok("e", "LOGOUT")
	before := snapshot(t, ts, "bob")

	for _, tc := range []struct{ cmd, want string }{
		{"UID FETCH 3:5 (UID FLAGS BODY.PEEK[])", "a OK UID FETCH completed"},
		{"UID FETCH 1:* (BODY[HEADER.FIELDS (SUBJECT)])", ""},
		{`UID STORE 3:5 +FLAGS (\Deleted)`, "a OK UID STORE completed"},
		{"UID EXPUNGE 3:5", "a OK UID EXPUNGE completed"},
		{"UID COPY 3:5 Trash", "a OK UID COPY completed"},
		{"UID MOVE 3:5 Trash", "a OK UID MOVE completed"},
		{"UID SEARCH UID 3:5", "* SEARCH"},
		{"UID SEARCH ALL", "* SEARCH 1 2"},
		{"UID SORT (DATE) UTF-8 UID 3:5", "* SORT"},
		{"UID THREAD REFERENCES UTF-8 UID 3:5", "* THREAD"},
	} {
		lines := rc.cmd("a", tc.cmd)
		if !strings.HasPrefix(lines[len(lines)-1], "a OK") {
			t.Fatalf("%s: %q", tc.cmd, lines)
		}
		for _, l := range lines {
			if strings.Contains(l, "bob") {
				t.Fatalf("%s: %q", tc.cmd, lines)
			}
		}
		if tc.want != "" && lines[0] != tc.want {
			t.Fatalf("%s: %q, want %q first", tc.cmd, lines, tc.want)
		}
	}
	rc.want("b", "FETCH 3 BODY[]", "BAD")
	rc.want("c", "COPY 1:5 Trash", "BAD")
	rc.want("d", `COPY 1 "bob@example.org/INBOX"`, "NO [TRYCREATE]")
	rc.want("e", `MOVE 1 "../bob/INBOX"`, "NO [TRYCREATE]")
	rc.want("f", `COPY 1 "~bob/INBOX"`, "NO [TRYCREATE]")
	// Alice's view is still her two messages.
	sameLines(t, "alice", rc.cmd("g", "UID FETCH 1:* (UID)"), []string{"* 1 FETCH (UID 1)", "* 2 FETCH (UID 2)", "g OK UID FETCH completed"})

	if after := snapshot(t, ts, "bob"); after != before {
		t.Fatalf("bob's mailbox changed:\nbefore\n%s\nafter\n%s", before, after)
	}
}

// TestBeforeAuthentication: commands that need a login are refused with
// BAD and change nothing; APPEND gets no "+" (acceptance point 3).
func TestBeforeAuthentication(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, 0, "bob")
	ts.deliver(t, "bob", testMessage("pre-auth"))
	before := snapshot(t, ts, "bob")

	rc := ts.raw(t)
	for _, cmd := range []string{
		"SELECT INBOX", "EXAMINE INBOX", "CREATE Hacked", "DELETE Sent", "RENAME Sent Hacked", "SUBSCRIBE INBOX",
		"UNSUBSCRIBE INBOX", `LIST "" "*"`, `LSUB "" "*"`, "STATUS INBOX (MESSAGES)", "NAMESPACE", `GETQUOTA ""`,
		"GETQUOTAROOT INBOX", `SETQUOTA "" (STORAGE 1)`, "ENABLE QRESYNC", "IDLE", "COMPRESS DEFLATE", "UNSELECT",
		"CLOSE", "CHECK", "EXPUNGE", "FETCH 1 BODY[]", "UID FETCH 1 BODY[]", `STORE 1 +FLAGS (\Deleted)`,
		`UID STORE 1 +FLAGS (\Deleted)`, "COPY 1 Sent", "UID COPY 1 Sent", "MOVE 1 Sent", "UID MOVE 1 Sent",
		"SEARCH ALL", "UID SEARCH ALL", "SORT (DATE) UTF-8 ALL", "THREAD REFERENCES UTF-8 ALL", "UID EXPUNGE 1",
		`SELECT "bob@example.org/INBOX"`,
	} {
		lines := rc.cmd("a", cmd)
		if len(lines) != 1 || lines[0] != "a BAD "+strings.Fields(strings.TrimPrefix(cmd, "UID "))[0]+" needs authentication first" {
			t.Errorf("%s: %q", cmd, lines)
		}
	}
	// APPEND: BAD at once, no continuation, and the connection goes on.
	m := testMessage("injected")
	rc.send(fmt.Sprintf("b APPEND INBOX {%d}", len(m)))
	if l := rc.line(); l != "b BAD APPEND needs authentication first" {
		t.Fatalf("APPEND before login: %q", l)
	}
	// With LITERAL+ the data is read and dropped, not taken as commands.
	rc.send(fmt.Sprintf("c APPEND INBOX {%d+}\r\n%s", len(m), "d LOGIN bob@example.org \"correct horse\"\r\n"+strings.Repeat("x", len(m)-len("d LOGIN bob@example.org \"correct horse\"\r\n"))))
	if l := rc.line(); l != "c BAD APPEND needs authentication first" {
		t.Fatalf("APPEND LITERAL+ before login: %q", l)
	}
	sameLines(t, "still not logged in", rc.cmd("e", "SELECT INBOX"), []string{"e BAD SELECT needs authentication first"})
	sameLines(t, "CAPABILITY", rc.cmd("f", "CAPABILITY"), []string{"* CAPABILITY " + preAuthCaps, "f OK CAPABILITY completed"})

	if after := snapshot(t, ts, "bob"); after != before {
		t.Fatalf("bob's mailbox changed:\nbefore\n%s\nafter\n%s", before, after)
	}
}
