package imap_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"
)

// TestGarbage: lines that are no command get BAD, and the session goes on.
func TestGarbage(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, 0, "alice")
	rc := ts.raw(t)
	for _, l := range []string{
		"\x00\x01\x02\x03", "\xff\xfe\xfd", "*", "+", "a", "a ", "(", ")", "a )", "{5}", "a b c d e",
		"a NOOP extra", "a LOGIN", "a LOGIN onlyuser", "a SELECT", `a LOGIN "unterminated`, "a UID NOOP", "a UID",
		"a FETCH", "a CAPABILITY\x00", "\t\t", "a\tNOOP", "a\x00 NOOP",
	} {
		rc.send(l)
		got := rc.line()
		if !strings.HasPrefix(got, "a BAD ") && !strings.HasPrefix(got, "* BAD ") {
			t.Errorf("%q: %q", l, got)
		}
	}
	// Empty lines are ignored (no response at all).
	rc.send("")
	rc.send("   ")
	if l := rc.line(); !strings.HasPrefix(l, "* BAD") {
		t.Errorf("blank line: %q", l)
	}
	sameLines(t, "unknown command", rc.cmd("b", "FROBNICATE now"), []string{"b BAD unknown command FROBNICATE"})
	sameLines(t, "still serving", rc.cmd("c", "NOOP"), []string{"c OK NOOP completed"})
	rc.login("alice")
	rc.ok("d", "SELECT INBOX")
	sameLines(t, "still serving after login", rc.cmd("e", "NOOP"), []string{"e OK NOOP completed"})
}

// TestWrongState: commands of another state get BAD with a reason.
func TestWrongState(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, 0, "alice")
	ts.deliver(t, "alice", testMessage("state"))
	rc := ts.raw(t)
	rc.login("alice")
	for _, tc := range []struct{ cmd, want string }{
		{`LOGIN alice@example.org "` + testPassword + `"`, "a BAD Already authenticated"},
		{"AUTHENTICATE PLAIN AGFsaWNlAHg=", "a BAD Already authenticated"},
		{"STARTTLS", "a BAD Already authenticated"},
		{"FETCH 1 FLAGS", "a BAD No mailbox selected"},
		{"UID FETCH 1 FLAGS", "a BAD No mailbox selected"},
		{`STORE 1 +FLAGS (\Seen)`, "a BAD No mailbox selected"},
		{"SEARCH ALL", "a BAD No mailbox selected"},
		{"COPY 1 Sent", "a BAD No mailbox selected"},
		{"MOVE 1 Sent", "a BAD No mailbox selected"},
		{"EXPUNGE", "a BAD No mailbox selected"},
		{"CLOSE", "a BAD No mailbox selected"},
		{"UNSELECT", "a BAD No mailbox selected"},
		{"SORT (DATE) UTF-8 ALL", "a BAD No mailbox selected"},
		{"THREAD REFERENCES UTF-8 ALL", "a BAD No mailbox selected"},
	} {
		sameLines(t, tc.cmd, rc.cmd("a", tc.cmd), []string{tc.want})
	}
	// IDLE ended by something else than DONE.
	rc.send("b IDLE")
	if l := rc.line(); l != "+ idling" {
		t.Fatalf("IDLE: %q", l)
	}
	rc.send("STOP")
	sameLines(t, "IDLE without DONE", rc.until("b"), []string{"b BAD Expected DONE"})
	rc.send("c IDLE")
	rc.line()
	rc.send("done")
	sameLines(t, "IDLE done", rc.until("c"), []string{"c OK IDLE terminated"})
}

// TestSequenceBeyondMailbox: a sequence number beyond the mailbox is BAD
// (RFC 9051 section 9, seq-number); a UID beyond it matches nothing.
func TestSequenceBeyondMailbox(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, 0, "alice")
	ts.deliver(t, "alice", testMessage("one"))
	ts.deliver(t, "alice", testMessage("two"))
	rc := ts.raw(t)
	rc.login("alice")
	rc.ok("a", "SELECT INBOX")
	for _, cmd := range []string{
		"FETCH 3 FLAGS", "FETCH 1:3 FLAGS", "FETCH 2,5 UID", "FETCH 3:* UID", `STORE 3 +FLAGS (\Seen)`, "COPY 3 Sent",
		"MOVE 1:3 Sent", "SEARCH 3", "SEARCH 1:3 SEEN", "SEARCH OR 1 9 ALL", "SORT (DATE) UTF-8 4", "THREAD REFERENCES UTF-8 3",
		"UID SEARCH 5", "FETCH 0 FLAGS", "FETCH 1:0 FLAGS", "FETCH 4294967296 FLAGS", "FETCH 1:x FLAGS", "FETCH -1 FLAGS",
	} {
		lines := rc.cmd("b", cmd)
		if len(lines) != 1 || !strings.HasPrefix(lines[0], "b BAD ") {
			t.Errorf("%s: %q", cmd, lines)
		}
	}
	// Nothing was changed by them.
	sameLines(t, "unchanged", rc.cmd("c", "FETCH 1:* (UID FLAGS)"), []string{
		"* 1 FETCH (UID 1 FLAGS ())", "* 2 FETCH (UID 2 FLAGS ())", "c OK FETCH completed",
	})
	sameLines(t, "UID beyond", rc.cmd("d", "UID FETCH 3:10 FLAGS"), []string{"d OK UID FETCH completed"})
	sameLines(t, "Sent empty", rc.cmd("e", "STATUS Sent (MESSAGES)"), []string{"* STATUS Sent (MESSAGES 0)", "e OK STATUS completed"})
	// In an empty folder.
	rc.ok("f", "SELECT Sent")
	rc.want("g", "FETCH 1 FLAGS", "BAD")
	sameLines(t, "UID FETCH in empty folder", rc.cmd("h", "UID FETCH 1:* FLAGS"), []string{"h OK UID FETCH completed"})
}

// TestOverlongLine: a line over 64 KiB is BAD [TOOBIG]; the session goes
// on.
func TestOverlongLine(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, 0, "alice")
	rc := ts.raw(t)
	rc.send("a NOOP " + strings.Repeat("x", 70<<10))
	if l := rc.line(); !strings.HasPrefix(l, "a BAD [TOOBIG]") {
		t.Fatalf("overlong line: %q", l)
	}
	rc.send(strings.Repeat("y", 1<<20))
	if l := rc.line(); !strings.HasPrefix(l, "* BAD [TOOBIG]") {
		t.Fatalf("overlong line without a tag: %q", l)
	}
	rc.login("alice")
	// A command of many literals that add up over the command limit.
	rc.ok("b", "SELECT INBOX")
	var b strings.Builder
	b.WriteString("c SEARCH")
	chunk := strings.Repeat("z", 60<<10)
	for range 40 {
		fmt.Fprintf(&b, " BODY {%d+}\r\n%s", len(chunk), chunk)
	}
	rc.send(b.String())
	if l := rc.line(); !strings.HasPrefix(l, "c BAD [TOOBIG]") {
		t.Fatalf("command over the limit: %q", l)
	}
	sameLines(t, "after", rc.cmd("d", "NOOP"), []string{"d OK NOOP completed"})
	// Deeply nested search keys, just under the line limit.
	lines := rc.cmd("e", "SEARCH "+strings.Repeat("NOT ", 15000)+"ALL")
	if last := lines[len(lines)-1]; !strings.HasPrefix(last, "e OK") && !strings.HasPrefix(last, "e BAD") {
		t.Fatalf("nested NOT: %q", lines)
	}
	lines = rc.cmd("f", "SEARCH "+strings.Repeat("(", 30000)+"ALL"+strings.Repeat(")", 30000))
	if last := lines[len(lines)-1]; !strings.HasPrefix(last, "f OK") && !strings.HasPrefix(last, "f BAD") {
		t.Fatalf("nested parentheses: %q", lines)
	}
	sameLines(t, "after nesting", rc.cmd("g", "NOOP"), []string{"g OK NOOP completed"})
}

// TestHugeLiterals: literals announcing 10 GB are refused before any "+"
// (synchronizing) or end the connection (LITERAL+, which cannot be skipped),
// while another connection is served meanwhile.
func TestHugeLiterals(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, 0, "alice")
	ts.deliver(t, "alice", testMessage("served"))
	other := ts.login(t, "alice", nil)
	mustSelect(t, other, "INBOX")
	stillServing := func() {
		t.Helper()
		msgs, err := other.Fetch(imap.SeqSetNum(1), &imap.FetchOptions{Envelope: true}).Collect()
		if err != nil || len(msgs) != 1 || msgs[0].Envelope.Subject != "served" {
			t.Fatalf("other connection: %v %v", msgs, err)
		}
	}

	rc := ts.raw(t)
	// LOGIN with a 10 GB literal: BAD [TOOBIG], no "+".
	rc.send("a LOGIN {10000000000}")
	if l := rc.line(); !strings.HasPrefix(l, "a BAD [TOOBIG]") {
		t.Fatalf("LOGIN {10000000000}: %q", l)
	}
	rc.send(`b LOGIN "alice@example.org" {10000000000}`)
	if l := rc.line(); !strings.HasPrefix(l, "b BAD [TOOBIG]") {
		t.Fatalf("LOGIN password {10000000000}: %q", l)
	}
	stillServing()
	// A literal of a sane size works, with its "+".
	rc.send(fmt.Sprintf("c LOGIN {%d}", len("alice@example.org")))
	if l := rc.line(); !strings.HasPrefix(l, "+ ") {
		t.Fatalf("literal continuation: %q", l)
	}
	rc.send(fmt.Sprintf("alice@example.org {%d}", len(testPassword)))
	if l := rc.line(); !strings.HasPrefix(l, "+ ") {
		t.Fatalf("literal continuation: %q", l)
	}
	rc.send(testPassword)
	if l := rc.line(); !strings.HasPrefix(l, "c OK [CAPABILITY ") {
		t.Fatalf("LOGIN with literals: %q", l)
	}
	// APPEND of 10 GB: NO [TOOBIG], no "+", for sync and LITERAL+; literal8
	// too.
	for _, cmd := range []string{"APPEND INBOX {10000000000}", "APPEND INBOX (\\Seen) ~{10000000000}",
		`APPEND INBOX {99999999999999999999999}`} {
		rc.send("d " + cmd)
		if l := rc.line(); !strings.HasPrefix(l, "d NO [TOOBIG]") {
			t.Fatalf("%s: %q", cmd, l)
		}
	}
	rc.send("e SEARCH BODY {10000000000}")
	if l := rc.line(); !strings.HasPrefix(l, "e BAD") {
		t.Fatalf("SEARCH {10000000000}: %q", l)
	}
	sameLines(t, "after", rc.cmd("f", "STATUS INBOX (MESSAGES)"), []string{"* STATUS INBOX (MESSAGES 1)", "f OK STATUS completed"})
	stillServing()

	// LITERAL+ of 10 GB cannot be skipped: BYE, the connection closes;
	// others go on.
	rc.send("g APPEND INBOX {10000000000+}")
	if l := rc.line(); !strings.HasPrefix(l, "g NO [TOOBIG]") && !strings.HasPrefix(l, "* BYE") {
		t.Fatalf("APPEND {10000000000+}: %q", l)
	}
	rc2 := ts.raw(t)
	rc2.send("a LOGIN {10000000000+}")
	if l := rc2.line(); !strings.HasPrefix(l, "* BYE") {
		t.Fatalf("LOGIN {10000000000+}: %q", l)
	}
	rc2.eof()
	stillServing()

	// A client stuck in the middle of a literal blocks only itself.
	stuck := ts.raw(t)
	stuck.login("alice")
	stuck.send("a APPEND INBOX {1000000}")
	if l := stuck.line(); !strings.HasPrefix(l, "+ ") {
		t.Fatalf("continuation: %q", l)
	}
	stuck.send(strings.Repeat("x", 500000))
	half := ts.raw(t)
	half.send("a NOOP and no end of line")
	stillServing()
	appendMsg(t, other, "INBOX", testMessage("while stuck"))
	if err := other.Noop().Wait(); err != nil {
		t.Fatal(err)
	}
	if n := other.Mailbox().NumMessages; n != 2 {
		t.Fatalf("%d messages", n)
	}
}

// TestPipelining: commands sent together are answered in order, the
// responses of each before its tagged reply.
func TestPipelining(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, 0, "alice")
	ts.deliver(t, "alice", testMessage("pipe one"))
	ts.deliver(t, "alice", testMessage("pipe two"))
	rc := ts.raw(t)
	m := testMessage("pipe three")
	rc.send(strings.Join([]string{
		`a LOGIN alice@example.org "` + testPassword + `"`,
		"b SELECT INBOX",
		`c STORE 1 +FLAGS (\Seen)`,
		"d FETCH 1:* (UID FLAGS)",
		fmt.Sprintf("e APPEND INBOX {%d+}\r\n%s", len(m), m),
		"f NOOP",
		"g UID SEARCH UNSEEN",
		"h BOGUS",
		"i LOGOUT",
	}, "\r\n"))
	var got []string
	for {
		l := rc.line()
		if strings.HasPrefix(l, "* OK [") || strings.HasPrefix(l, "* FLAGS") || strings.HasPrefix(l, "* 0 RECENT") {
			continue // SELECT's codes, checked elsewhere
		}
		if i := strings.Index(l, "[APPENDUID "); i > 0 {
			l = l[:i] + "[APPENDUID]"
		}
		if strings.HasPrefix(l, "a OK") {
			l = "a OK"
		}
		got = append(got, l)
		if strings.HasPrefix(l, "i ") {
			break
		}
	}
	sameLines(t, "pipelined", got, []string{
		"a OK",
		"* 2 EXISTS", "b OK [READ-WRITE] SELECT completed",
		`* 1 FETCH (FLAGS (\Seen))`, "c OK STORE completed",
		`* 1 FETCH (UID 1 FLAGS (\Seen))`, "* 2 FETCH (UID 2 FLAGS ())", "d OK FETCH completed",
		"* 3 EXISTS", "e OK [APPENDUID]",
		"f OK NOOP completed",
		"* SEARCH 2 3", "g OK UID SEARCH completed",
		"h BAD unknown command BOGUS",
		"* BYE Logging out", "i OK LOGOUT completed",
	})
	rc.eof()

	// imapclient pipelines too: several commands in flight at once.
	c := ts.login(t, "alice", nil)
	mustSelect(t, c, "INBOX")
	f1 := c.Fetch(imap.SeqSetNum(1), &imap.FetchOptions{UID: true})
	s1 := c.UIDSearch(&imap.SearchCriteria{Flag: []imap.Flag{imap.FlagSeen}}, nil)
	st := c.Status("Sent", &imap.StatusOptions{NumMessages: true})
	f2 := c.Fetch(imap.SeqSetNum(3), &imap.FetchOptions{UID: true})
	m1, err1 := f1.Collect()
	sd, err2 := s1.Wait()
	std, err3 := st.Wait()
	m2, err4 := f2.Collect()
	if err1 != nil || err2 != nil || err3 != nil || err4 != nil || m1[0].UID != 1 || fmt.Sprint(sd.AllUIDs()) != "[1]" ||
		*std.NumMessages != 0 || m2[0].UID != 3 {
		t.Fatalf("imapclient pipelining: %v %v %v %v", err1, err2, err3, err4)
	}
}

// TestShutdown: Stop says BYE to waiting sessions.
func TestShutdown(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, 0, "alice")
	rc := ts.raw(t)
	rc.login("alice")
	rc.ok("a", "SELECT INBOX")
	idle := ts.raw(t)
	idle.login("alice")
	idle.ok("a", "SELECT INBOX")
	idle.send("b IDLE")
	if l := idle.line(); l != "+ idling" {
		t.Fatalf("IDLE: %q", l)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- ts.Server.Stop(ctx) }()
	if l := rc.line(); l != "* BYE Server shutting down" {
		t.Fatalf("shutdown: %q", l)
	}
	rc.eof()
	if l := idle.line(); l != "* BYE Server shutting down" {
		t.Fatalf("shutdown in IDLE: %q", l)
	}
	idle.eof()
	if err := recv(t, done, "Stop"); err != nil {
		t.Fatal(err)
	}
}
