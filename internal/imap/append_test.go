package imap_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
)

func TestAppend(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, 0, "alice")
	c := ts.login(t, "alice", nil)

	a1 := appendMsg(t, c, "Drafts", testMessage("draft one"), imap.FlagDraft)
	a2 := appendMsg(t, c, "Drafts", testMessage("draft two"))
	if a1.UID != 1 || a2.UID != 2 || a1.UIDValidity == 0 || a2.UIDValidity != a1.UIDValidity {
		t.Fatalf("APPENDUID %+v %+v", a1, a2)
	}
	cmd := c.Append("Nope", 5, nil)
	cmd.Write([]byte("hello"))
	cmd.Close()
	_, err := waitAppend(t, cmd)
	wantErr(t, err, imap.StatusResponseTypeNo, imap.ResponseCodeTryCreate)

	rc := ts.raw(t)
	rc.login("alice")
	v := a1.UIDValidity
	// Synchronizing literal, flags and date: "+" then the data.
	m3 := testMessage("draft three")
	rc.send(fmt.Sprintf(`a APPEND Drafts (\Seen $Sent) "05-Nov-2026 10:00:00 +0100" {%d}`, len(m3)))
	if l := rc.line(); !strings.HasPrefix(l, "+ ") {
		t.Fatalf("continuation: %q", l)
	}
	rc.send(m3)
	sameLines(t, "APPEND", rc.until("a"), []string{fmt.Sprintf("a OK [APPENDUID %d 3] APPEND completed", v)})
	// LITERAL+ (RFC 7888): no "+", the data follows at once.
	m4 := testMessage("draft four")
	rc.send(fmt.Sprintf("b APPEND Drafts {%d+}\r\n%s", len(m4), m4))
	sameLines(t, "APPEND LITERAL+", rc.until("b"), []string{fmt.Sprintf("b OK [APPENDUID %d 4] APPEND completed", v)})
	// literal8 (RFC 3516 section 4.3) with 8-bit content.
	m5 := "Subject: =?utf-8?q?8bit?=\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\nGrüße, ça va ?\r\n"
	rc.send(fmt.Sprintf("c APPEND Drafts ~{%d+}\r\n%s", len(m5), m5))
	sameLines(t, "APPEND literal8", rc.until("c"), []string{fmt.Sprintf("c OK [APPENDUID %d 5] APPEND completed", v)})

	// APPEND to the selected folder shows up at once as EXISTS.
	rc.ok("d", "SELECT Drafts")
	m6 := testMessage("draft six")
	rc.send(fmt.Sprintf("e APPEND Drafts {%d+}\r\n%s", len(m6), m6))
	sameLines(t, "APPEND to selected", rc.until("e"), []string{"* 6 EXISTS", fmt.Sprintf("e OK [APPENDUID %d 6] APPEND completed", v)})

	mustSelect(t, c, "Drafts")
	var got []string
	bs := &imap.FetchItemBodySection{Peek: true}
	for _, m := range fetchAll(t, c, &imap.FetchOptions{Flags: true, InternalDate: true, BodySection: []*imap.FetchItemBodySection{bs}}) {
		s := fmt.Sprintf("%d [%s] %d", m.UID, flagString(m.Flags), len(m.FindBodySection(bs)))
		if m.UID == 3 {
			s += " " + m.InternalDate.UTC().Format(time.RFC3339)
		}
		if m.UID == 5 && string(m.FindBodySection(bs)) != m5 {
			s += " 8-bit body changed"
		}
		got = append(got, s)
	}
	sameLines(t, "Drafts", got, []string{
		fmt.Sprintf(`1 [\Draft] %d`, len(testMessage("draft one"))),
		fmt.Sprintf(`2 [] %d`, len(testMessage("draft two"))),
		fmt.Sprintf(`3 [$Sent \Seen] %d 2026-11-05T09:00:00Z`, len(m3)),
		fmt.Sprintf(`4 [] %d`, len(m4)),
		fmt.Sprintf(`5 [] %d`, len(m5)),
		fmt.Sprintf(`6 [] %d`, len(m6)),
	})

	// Refusals come before the "+": the client never sends the data.
	for _, tc := range []struct{ cmd, want string }{
		{"APPEND Nope {10}", "NO [TRYCREATE]"},
		{`APPEND Drafts (\Bogus) {10}`, "BAD"},
		{`APPEND Drafts "31-Feb-2026 10:00:00 +0000" {10}`, "BAD"},
		{fmt.Sprintf("APPEND Drafts {%d}", 8<<20+1), "NO [TOOBIG]"},
		{"APPEND Drafts", "BAD"},
	} {
		rc.send("f " + tc.cmd)
		if l := rc.line(); !strings.HasPrefix(l, "f "+tc.want) {
			t.Fatalf("%s: %q, want %s", tc.cmd, l, tc.want)
		}
	}
	// A refused LITERAL+ message is read and thrown away; the session
	// goes on.
	rc.send(fmt.Sprintf("g APPEND Nope {%d+}\r\n%s", len(m6), m6))
	if l := rc.line(); !strings.HasPrefix(l, "g NO [TRYCREATE]") {
		t.Fatalf("LITERAL+ to a missing folder: %q", l)
	}
	sameLines(t, "after", rc.cmd("h", "STATUS Drafts (MESSAGES)"), []string{"* STATUS Drafts (MESSAGES 6)", "h OK STATUS completed"})
}

// TestAppendLimitTooBig: a message over APPENDLIMIT is refused with NO
// [TOOBIG] (RFC 7889): before the "+" for a synchronizing literal; read
// and dropped for a non-synchronizing one.
func TestAppendLimitTooBig(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, 0, "alice")
	rc := ts.raw(t)
	rc.login("alice")
	sameLines(t, "STATUS APPENDLIMIT", rc.cmd("a", "STATUS INBOX (APPENDLIMIT)"), []string{
		"* STATUS INBOX (APPENDLIMIT 8388608)", "a OK STATUS completed",
	})
	rc.send("b APPEND INBOX {8388609}")
	if l := rc.line(); !strings.HasPrefix(l, "b NO [TOOBIG]") {
		t.Fatalf("sync literal over APPENDLIMIT: %q", l)
	}
	big := strings.Repeat("0123456789abcdef", (8<<20)/16+1)
	rc.send(fmt.Sprintf("c APPEND INBOX {%d+}\r\n%s", len(big), big))
	if l := rc.line(); !strings.HasPrefix(l, "c NO [TOOBIG]") {
		t.Fatalf("LITERAL+ over APPENDLIMIT: %q", l)
	}
	sameLines(t, "nothing saved", rc.cmd("d", "STATUS INBOX (MESSAGES)"), []string{"* STATUS INBOX (MESSAGES 0)", "d OK STATUS completed"})
}

// TestMultiAppendAtomic: MULTIAPPEND (RFC 3502) saves all messages or
// none: when the second is refused (over APPENDLIMIT), the first is not
// saved either, and no "+" comes for the second.
func TestMultiAppendAtomic(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, 0, "alice")
	rc := ts.raw(t)
	rc.login("alice")
	m1 := testMessage("multi one")
	rc.send(fmt.Sprintf(`b APPEND INBOX (\Seen) {%d}`, len(m1)))
	if l := rc.line(); !strings.HasPrefix(l, "+ ") {
		t.Fatalf("continuation 1: %q", l)
	}
	rc.send(m1 + " ($Two) {9000000}")
	if l := rc.line(); !strings.HasPrefix(l, "b NO [TOOBIG]") {
		t.Fatalf("second message too big: %q", l)
	}
	sameLines(t, "after refusal", rc.cmd("d", "STATUS INBOX (MESSAGES UIDNEXT)"), []string{
		"* STATUS INBOX (MESSAGES 0 UIDNEXT 1)", "d OK STATUS completed",
	})
	// A single message goes in, with the next UID.
	rc.send(fmt.Sprintf("e APPEND INBOX {%d+}\r\n%s", len(m1), m1))
	if l := rc.line(); !strings.HasPrefix(l, "e OK [APPENDUID ") || !strings.HasSuffix(l, " 1] APPEND completed") {
		t.Fatalf("APPEND after refusal: %q", l)
	}
}

// TestMultiAppendOverQuota: the quota counts all messages of a MULTIAPPEND;
// when the second does not fit, neither is saved.
func TestMultiAppendOverQuota(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, 3000, "alice")
	rc := ts.raw(t)
	rc.login("alice")
	m1 := testMessage("first") + strings.Repeat("x", 1600) + "\r\n"
	m2 := testMessage("second") + strings.Repeat("y", 1600) + "\r\n"
	rc.send(fmt.Sprintf("a APPEND INBOX {%d}", len(m1)))
	if l := rc.line(); !strings.HasPrefix(l, "+ ") {
		t.Fatalf("continuation: %q", l)
	}
	rc.send(m1 + fmt.Sprintf(" {%d}", len(m2)))
	if l := rc.line(); l != "a NO [OVERQUOTA] Over quota" {
		t.Fatalf("second message over quota: %q", l)
	}
	sameLines(t, "nothing saved", rc.cmd("b", "STATUS INBOX (MESSAGES SIZE)"), []string{
		"* STATUS INBOX (MESSAGES 0 SIZE 0)", "b OK STATUS completed",
	})
	// Each alone fits.
	rc.send(fmt.Sprintf("c APPEND INBOX {%d+}\r\n%s", len(m2), m2))
	if l := rc.line(); !strings.HasPrefix(l, "c OK [APPENDUID ") {
		t.Fatalf("one message: %q", l)
	}
}

// TestMultiAppendSameBodyRefused: a MULTIAPPEND that holds one message twice
// and is refused at its third message saves nothing, and the body it had
// stored is taken back without a deadlock (the batch used to drop that body
// while its second copy still pinned it, and from then on every save of a
// body in the same lock stripe hung).
func TestMultiAppendSameBodyRefused(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, 0, "alice")
	rc := ts.raw(t)
	rc.login("alice")
	m := testMessage("twice")
	// Synchronizing literals, and a pause before the second copy, so that
	// the first copy is the one that stores the body.
	rc.send(fmt.Sprintf("a APPEND INBOX {%d}", len(m)))
	if l := rc.line(); !strings.HasPrefix(l, "+ ") {
		t.Fatalf("continuation 1: %q", l)
	}
	rc.send(m + fmt.Sprintf(" {%d}", len(m)))
	if l := rc.line(); !strings.HasPrefix(l, "+ ") {
		t.Fatalf("continuation 2: %q", l)
	}
	time.Sleep(200 * time.Millisecond)
	rc.send(m + fmt.Sprintf(" (\\Bogus) {%d+}\r\n%s", len(m), m))
	if l := rc.line(); !strings.HasPrefix(l, "a BAD") {
		t.Fatalf("bad flag on the third message: %q", l)
	}
	sameLines(t, "nothing saved", rc.cmd("b", "STATUS INBOX (MESSAGES)"), []string{
		"* STATUS INBOX (MESSAGES 0)", "b OK STATUS completed",
	})
	rc.send(fmt.Sprintf("c APPEND INBOX {%d+}\r\n%s", len(m), m))
	if l := rc.line(); !strings.HasPrefix(l, "c OK [APPENDUID ") {
		t.Fatalf("APPEND of the same message after the refusal: %q", l)
	}
}

// TestMultiAppend saves three messages in one APPEND (RFC 3502) with
// synchronizing and non-synchronizing literals; then a MULTIAPPEND whose
// third message is refused saves none of them.
func TestMultiAppend(t *testing.T) {
	ts := newTestServer(t, 0, "alice")
	rc := ts.raw(t)
	rc.login("alice")
	m1, m2, m3 := testMessage("multi one"), testMessage("multi two"), testMessage("multi three")
	rc.send(fmt.Sprintf(`a APPEND INBOX (\Seen) {%d}`, len(m1)))
	if l := rc.line(); !strings.HasPrefix(l, "+ ") {
		t.Fatalf("continuation 1: %q", l)
	}
	rc.send(m1 + fmt.Sprintf(` ($One) {%d}`, len(m2)))
	if l := rc.line(); !strings.HasPrefix(l, "+ ") {
		t.Fatalf("continuation 2: %q", l)
	}
	rc.send(m2 + fmt.Sprintf(" {%d+}", len(m3)))
	rc.send(m3)
	lines := rc.until("a")
	v := uidValidity(t, rc, "INBOX")
	sameLines(t, "MULTIAPPEND", lines, []string{fmt.Sprintf("a OK [APPENDUID %d 1:3] APPEND completed", v)})
	rc.send(fmt.Sprintf("c APPEND INBOX {%d+}\r\n%s {%d+}\r\n%s (\\Bogus) {%d}", len(m1), m1, len(m2), m2, len(m3)))
	if l := rc.line(); !strings.HasPrefix(l, "c BAD") {
		t.Fatalf("bad flag on the third message: %q", l)
	}
	sameLines(t, "after the refused MULTIAPPEND", rc.cmd("d", "STATUS INBOX (MESSAGES UIDNEXT)"),
		[]string{"* STATUS INBOX (MESSAGES 3 UIDNEXT 4)", "d OK STATUS completed"})
	c := ts.login(t, "alice", nil)
	mustSelect(t, c, "INBOX")
	var got []string
	for _, m := range fetchAll(t, c, &imap.FetchOptions{Flags: true, Envelope: true}) {
		got = append(got, fmt.Sprintf("%d %s [%s]", m.UID, m.Envelope.Subject, flagString(m.Flags)))
	}
	sameLines(t, "INBOX", got, []string{`1 multi one [\Seen]`, "2 multi two [$One]", "3 multi three []"})
}
