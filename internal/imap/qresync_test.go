package imap_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
)

// qresyncState is what a QRESYNC client keeps between connections.
type qresyncState struct {
	uidValidity, highestModSeq uint64
}

// TestQResyncReconnect: a client that reconnects with SELECT (QRESYNC
// (uidvalidity modseq)) gets exactly the UIDs expunged since its MODSEQ in
// VANISHED (EARLIER), and FETCH for exactly the messages changed since
// (RFC 7162 section 3.2.5; acceptance point 2).
func TestQResyncReconnect(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, 0, "alice")
	other := ts.login(t, "alice", nil)
	fill(t, other, "INBOX", "qresync", 8) // UIDs 1-8
	mustSelect(t, other, "INBOX")
	if err := other.Store(imap.UIDSetNum(6), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagSeen}}, nil).Close(); err != nil {
		t.Fatal(err)
	}

	// First connection: enable QRESYNC, select, remember, leave.
	rc := ts.raw(t)
	rc.login("alice")
	sameLines(t, "ENABLE", rc.cmd("a", "ENABLE QRESYNC"), []string{"* ENABLED QRESYNC", "a OK ENABLE completed"})
	lines := rc.ok("b", "SELECT INBOX")
	st := qresyncState{codeNum(t, lines, "UIDVALIDITY"), codeNum(t, lines, "HIGHESTMODSEQ")}
	rc.ok("c", "LOGOUT")

	// Meanwhile another session changes the folder: expunges UIDs 2 and
	// 5, flags UIDs 3 and 7, appends UID 9 and 10 and expunges 9, moves
	// UID 8 out.
	mustSelect(t, other, "INBOX")
	store := func(set imap.UIDSet, op imap.StoreFlagsOp, flags ...imap.Flag) {
		t.Helper()
		if err := other.Store(set, &imap.StoreFlags{Op: op, Silent: true, Flags: flags}, nil).Close(); err != nil {
			t.Fatal(err)
		}
	}
	store(imap.UIDSetNum(2, 5), imap.StoreFlagsAdd, imap.FlagDeleted)
	if _, err := other.Expunge().Collect(); err != nil {
		t.Fatal(err)
	}
	store(imap.UIDSetNum(3), imap.StoreFlagsAdd, imap.FlagFlagged, "$Later")
	store(imap.UIDSetNum(7), imap.StoreFlagsAdd, imap.FlagAnswered)
	store(imap.UIDSetNum(6), imap.StoreFlagsDel, imap.FlagSeen)
	appendMsg(t, other, "INBOX", testMessage("qresync 9"))
	appendMsg(t, other, "INBOX", testMessage("qresync 10"), imap.FlagDraft)
	store(imap.UIDSetNum(9), imap.StoreFlagsAdd, imap.FlagDeleted)
	if _, err := other.UIDExpunge(imap.UIDSetNum(9)).Collect(); err != nil {
		t.Fatal(err)
	}
	if _, err := other.Move(imap.UIDSetNum(8), "Archive").Wait(); err != nil {
		t.Fatal(err)
	}
	// The folder is now UIDs 1 3 4 6 7 10.

	// Reconnect with QRESYNC.
	rc = ts.raw(t)
	rc.login("alice")
	rc.ok("a", "ENABLE QRESYNC")
	lines = rc.ok("b", fmt.Sprintf("SELECT INBOX (QRESYNC (%d %d))", st.uidValidity, st.highestModSeq))
	newHighest := codeNum(t, lines, "HIGHESTMODSEQ")
	if codeNum(t, lines, "UIDVALIDITY") != st.uidValidity || newHighest <= st.highestModSeq {
		t.Fatalf("SELECT: %q", lines)
	}
	if !slices.Contains(lines, "* 6 EXISTS") {
		t.Fatalf("EXISTS: %q", lines)
	}
	vanished, fetches := qresyncLines(t, lines)
	// Every UID expunged since: also 9, which this client never saw (RFC
	// 7162 section 3.2.5.2 allows it; without known-uids the server
	// cannot tell).
	sameLines(t, "VANISHED (EARLIER)", vanished, []string{"* VANISHED (EARLIER) 2,5,8:9"})
	sameLines(t, "changed since", fetches, []string{
		`* 2 FETCH (UID 3 FLAGS (\Flagged $Later) MODSEQ (%))`,
		`* 4 FETCH (UID 6 FLAGS () MODSEQ (%))`,
		`* 5 FETCH (UID 7 FLAGS (\Answered) MODSEQ (%))`,
		`* 6 FETCH (UID 10 FLAGS (\Draft) MODSEQ (%))`,
	})
	// VANISHED (EARLIER) comes before the FETCH responses and both before
	// the tagged OK; the view matches.
	if vi, fi := slices.Index(lines, vanished[0]), slices.IndexFunc(lines, func(l string) bool { return strings.Contains(l, " FETCH ") }); vi > fi {
		t.Fatalf("VANISHED after FETCH: %q", lines)
	}
	sameLines(t, "view", rc.cmd("c", "FETCH 1:* (UID)"), []string{
		"* 1 FETCH (UID 1)", "* 2 FETCH (UID 3)", "* 3 FETCH (UID 4)", "* 4 FETCH (UID 6)", "* 5 FETCH (UID 7)",
		"* 6 FETCH (UID 10)", "c OK FETCH completed",
	})

	// With known UIDs, VANISHED is limited to them (UID 9 was never
	// known); a MODSEQ that is current gives nothing.
	for _, tc := range []struct {
		params   string
		vanished []string
		fetches  int
	}{
		{fmt.Sprintf("(%d %d 1:8)", st.uidValidity, st.highestModSeq), []string{"* VANISHED (EARLIER) 2,5,8"}, 3},
		{fmt.Sprintf("(%d %d 1:4)", st.uidValidity, st.highestModSeq), []string{"* VANISHED (EARLIER) 2"}, 1},
		{fmt.Sprintf("(%d %d 1:8 (1:3 1:3))", st.uidValidity, st.highestModSeq), []string{"* VANISHED (EARLIER) 2,5,8"}, 3},
		// Sequence match data that matches up to UID 4, then 7: the
		// client knows of the expunges below (RFC 7162 section 3.2.5.2).
		{fmt.Sprintf("(%d %d 1:8 (1:3 1,3,4))", st.uidValidity, st.highestModSeq), []string{"* VANISHED (EARLIER) 5,8"}, 3},
		{fmt.Sprintf("(%d %d 1:8 (5 7))", st.uidValidity, st.highestModSeq), []string{"* VANISHED (EARLIER) 8"}, 3},
		{fmt.Sprintf("(%d %d)", st.uidValidity, newHighest), nil, 0},
		// A different UIDVALIDITY: the client must resynchronize fully,
		// nothing incremental is sent (RFC 7162 section 3.2.5.1).
		{fmt.Sprintf("(%d %d)", st.uidValidity+1, st.highestModSeq), nil, 0},
	} {
		lines := rc.ok("d", "SELECT INBOX (QRESYNC "+tc.params+")")
		if lines[0] != "* OK [CLOSED] Previous folder closed" {
			t.Fatalf("%s: no [CLOSED] first: %q", tc.params, lines)
		}
		v, f := qresyncLines(t, lines)
		sameLines(t, "VANISHED "+tc.params, v, tc.vanished)
		if len(f) != tc.fetches {
			t.Fatalf("%s: FETCH %q", tc.params, f)
		}
	}

	// UID FETCH CHANGEDSINCE with VANISHED (RFC 7162 section 3.2.6).
	lines = rc.ok("e", fmt.Sprintf("UID FETCH 1:* (FLAGS) (CHANGEDSINCE %d VANISHED)", st.highestModSeq))
	v, f := qresyncLines(t, lines)
	sameLines(t, "UID FETCH VANISHED", v, []string{"* VANISHED (EARLIER) 2,5,8:9"})
	sameLines(t, "UID FETCH CHANGEDSINCE", f, []string{
		`* 2 FETCH (UID 3 FLAGS (\Flagged $Later) MODSEQ (%))`,
		`* 4 FETCH (UID 6 FLAGS () MODSEQ (%))`,
		`* 5 FETCH (UID 7 FLAGS (\Answered) MODSEQ (%))`,
		`* 6 FETCH (UID 10 FLAGS (\Draft) MODSEQ (%))`,
	})
	lines = rc.ok("f", fmt.Sprintf("UID FETCH 1:4 (FLAGS) (CHANGEDSINCE %d VANISHED)", st.highestModSeq))
	v, f = qresyncLines(t, lines)
	sameLines(t, "UID FETCH 1:4 VANISHED", v, []string{"* VANISHED (EARLIER) 2"})
	sameLines(t, "UID FETCH 1:4", f, []string{`* 2 FETCH (UID 3 FLAGS (\Flagged $Later) MODSEQ (%))`})
	rc.want("g", fmt.Sprintf("FETCH 1:* (FLAGS) (CHANGEDSINCE %d VANISHED)", st.highestModSeq), "BAD")

	// EXAMINE takes QRESYNC too.
	lines = rc.ok("h", fmt.Sprintf("EXAMINE INBOX (QRESYNC (%d %d 1:4))", st.uidValidity, st.highestModSeq))
	v, f = qresyncLines(t, lines)
	if !slices.Equal(v, []string{"* VANISHED (EARLIER) 2"}) || len(f) != 1 {
		t.Fatalf("EXAMINE QRESYNC: %q", lines)
	}

	// Without ENABLE QRESYNC the parameter is refused.
	plain := ts.raw(t)
	plain.login("alice")
	plain.want("a", fmt.Sprintf("SELECT INBOX (QRESYNC (%d %d))", st.uidValidity, st.highestModSeq), "BAD")
	plain.ok("b", "SELECT INBOX")
	plain.want("c", fmt.Sprintf("UID FETCH 1:* (FLAGS) (CHANGEDSINCE %d VANISHED)", st.highestModSeq), "BAD")
}

// qresyncLines returns the VANISHED lines and the FETCH lines (MODSEQ
// values replaced by %) of a response.
func qresyncLines(t testing.TB, lines []string) (vanished, fetches []string) {
	t.Helper()
	for _, l := range lines {
		switch {
		case strings.HasPrefix(l, "* VANISHED"):
			vanished = append(vanished, l)
		case strings.Contains(l, " FETCH ("):
			fetches = append(fetches, modseqRe.ReplaceAllString(l, "MODSEQ (%)"))
			modseqOf(t, l)
		}
	}
	return vanished, fetches
}

// TestQResyncLive: once QRESYNC is on, expunges by another session come as
// VANISHED (RFC 7162 section 3.2.10) and flag changes with UID and MODSEQ,
// after NOOP and during IDLE.
func TestQResyncLive(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, 0, "alice")
	other := ts.login(t, "alice", nil)
	fill(t, other, "INBOX", "live", 6)
	mustSelect(t, other, "INBOX")

	rc := ts.raw(t)
	rc.login("alice")
	rc.ok("a", "ENABLE QRESYNC")
	rc.ok("b", "SELECT INBOX")

	expunge := func(uids ...imap.UID) {
		t.Helper()
		if err := other.Store(imap.UIDSetNum(uids...), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := other.UIDExpunge(imap.UIDSetNum(uids...)).Collect(); err != nil {
			t.Fatal(err)
		}
	}
	expunge(2, 3, 5)
	sameLines(t, "NOOP", rc.cmd("c", "NOOP"), []string{"* VANISHED 2:3,5", "c OK NOOP completed"})
	if err := other.Store(imap.UIDSetNum(4), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagSeen}}, nil).Close(); err != nil {
		t.Fatal(err)
	}
	lines := rc.ok("d", "NOOP")
	if len(lines) != 1 || lines[0] != fmt.Sprintf(`* 2 FETCH (UID 4 FLAGS (\Seen) MODSEQ (%d))`, modseqOf(t, lines[0])) {
		t.Fatalf("NOOP after STORE: %q", lines)
	}

	// IDLE: each change as it happens.
	if err := other.Store(imap.UIDSetNum(1), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close(); err != nil {
		t.Fatal(err)
	}
	if l := rc.ok("d2", "NOOP"); len(l) != 1 || !strings.HasPrefix(l[0], `* 1 FETCH (UID 1 FLAGS (\Deleted) MODSEQ (`) {
		t.Fatalf("NOOP after STORE: %q", l)
	}
	rc.send("e IDLE")
	if l := rc.line(); l != "+ idling" {
		t.Fatalf("IDLE: %q", l)
	}
	if _, err := other.UIDExpunge(imap.UIDSetNum(1)).Collect(); err != nil {
		t.Fatal(err)
	}
	if l := rc.line(); l != "* VANISHED 1" {
		t.Fatalf("IDLE VANISHED: %q", l)
	}
	appendMsg(t, other, "INBOX", testMessage("live 7"))
	if l := rc.line(); l != "* 3 EXISTS" {
		t.Fatalf("IDLE EXISTS: %q", l)
	}
	if err := other.Store(imap.UIDSetNum(7), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagFlagged}}, nil).Close(); err != nil {
		t.Fatal(err)
	}
	if l := rc.line(); l != fmt.Sprintf(`* 3 FETCH (UID 7 FLAGS (\Flagged) MODSEQ (%d))`, modseqOf(t, l)) {
		t.Fatalf("IDLE FETCH: %q", l)
	}
	rc.send("DONE")
	sameLines(t, "DONE", rc.until("e"), []string{"e OK IDLE terminated"})
	sameLines(t, "view", rc.cmd("f", "FETCH 1:* (UID)"), []string{
		"* 1 FETCH (UID 4)", "* 2 FETCH (UID 6)", "* 3 FETCH (UID 7)", "f OK FETCH completed",
	})
}

// compactAll deletes every change log entry of every shard but the newest,
// with the tombstones they logged, as the replicators do once the entries
// are older than changelog_retention.
func compactAll(t *testing.T, ts *testServer) {
	t.Helper()
	ctx := context.Background()
	for _, sh := range ts.Store.Shards() {
		_, head, err := sh.LogBounds(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := sh.CompactLog(ctx, head, time.Now().Add(time.Hour), 100); err != nil {
			t.Fatal(err)
		}
	}
}

// TestQResyncAfterRetention: once the tombstones after a client's MODSEQ
// are deleted with the change log, QRESYNC and UID FETCH (VANISHED) answer
// every UID of the client's set that the folder no longer holds, as ranges
// (RFC 5162 section 4.1); from a MODSEQ after the compaction, the exact
// list again. A session that was selected all along is told what it holds
// that is gone.
func TestQResyncAfterRetention(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, 0, "alice")
	other := ts.login(t, "alice", nil)
	fill(t, other, "INBOX", "retention", 8) // UIDs 1-8
	mustSelect(t, other, "INBOX")
	expunge := func(uids ...imap.UID) {
		t.Helper()
		set := imap.UIDSetNum(uids...)
		if err := other.Store(set, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := other.UIDExpunge(set).Collect(); err != nil {
			t.Fatal(err)
		}
	}
	// Expunged before the client's MODSEQ: the exact answers leave it
	// out, the answers without tombstones cannot.
	expunge(1)

	rc := ts.raw(t)
	rc.login("alice")
	rc.ok("a", "ENABLE QRESYNC")
	lines := rc.ok("b", "SELECT INBOX")
	st := qresyncState{codeNum(t, lines, "UIDVALIDITY"), codeNum(t, lines, "HIGHESTMODSEQ")}
	// A second session stays selected without QRESYNC.
	live := ts.raw(t)
	live.login("alice")
	live.ok("a", "SELECT INBOX")

	expunge(2, 3, 6)
	// A later change, so that the expunge is not the log's newest entry
	// (compaction keeps that one, and the tombstones of its operation).
	if err := other.Store(imap.UIDSetNum(4), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagSeen}}, nil).Close(); err != nil {
		t.Fatal(err)
	}
	compactAll(t, ts)
	rc.ok("c", "NOOP")
	late := codeNum(t, rc.ok("d", "SELECT INBOX"), "HIGHESTMODSEQ")
	expunge(8)

	for _, tc := range []struct {
		params   string
		vanished []string
	}{
		{fmt.Sprintf("(%d %d)", st.uidValidity, st.highestModSeq), []string{"* VANISHED (EARLIER) 1:3,6,8"}},
		{fmt.Sprintf("(%d %d 1:5)", st.uidValidity, st.highestModSeq), []string{"* VANISHED (EARLIER) 1:3"}},
		{fmt.Sprintf("(%d %d 7,3:2,8)", st.uidValidity, st.highestModSeq), []string{"* VANISHED (EARLIER) 2:3,8"}},
		// "*" is the highest UID the session knows of, 8 here.
		{fmt.Sprintf("(%d %d 5:*)", st.uidValidity, st.highestModSeq), []string{"* VANISHED (EARLIER) 6,8"}},
		{fmt.Sprintf("(%d %d 4:5)", st.uidValidity, st.highestModSeq), nil},
		{fmt.Sprintf("(%d %d)", st.uidValidity, late), []string{"* VANISHED (EARLIER) 8"}},
		// Message sequence match data (the view is now 4, 5, 7): a
		// matching pair shows the client knows every expunge up to its
		// UID; the first pair that does not match ends the check.
		{fmt.Sprintf("(%d %d (1,2 4,5))", st.uidValidity, st.highestModSeq), []string{"* VANISHED (EARLIER) 6,8"}},
		{fmt.Sprintf("(%d %d (1,3 4,7))", st.uidValidity, st.highestModSeq), []string{"* VANISHED (EARLIER) 8"}},
		{fmt.Sprintf("(%d %d (1:3 4,6,7))", st.uidValidity, st.highestModSeq), []string{"* VANISHED (EARLIER) 6,8"}},
		{fmt.Sprintf("(%d %d (3 4))", st.uidValidity, st.highestModSeq), []string{"* VANISHED (EARLIER) 1:3,6,8"}},
		{fmt.Sprintf("(%d %d (9 20))", st.uidValidity, st.highestModSeq), []string{"* VANISHED (EARLIER) 1:3,6,8"}},
		{fmt.Sprintf("(%d %d 1:5 (1,2 4,5))", st.uidValidity, st.highestModSeq), nil},
		{fmt.Sprintf("(%d %d (1:3 4,5,7))", st.uidValidity, late), []string{"* VANISHED (EARLIER) 8"}},
		{fmt.Sprintf("(%d %d (3 7))", st.uidValidity, late), []string{"* VANISHED (EARLIER) 8"}},
	} {
		v, _ := qresyncLines(t, rc.ok("e", "SELECT INBOX (QRESYNC "+tc.params+")"))
		sameLines(t, "VANISHED "+tc.params, v, tc.vanished)
	}
	v, _ := qresyncLines(t, rc.ok("f", fmt.Sprintf("UID FETCH 1:* (FLAGS) (CHANGEDSINCE %d VANISHED)", st.highestModSeq)))
	sameLines(t, "UID FETCH VANISHED", v, []string{"* VANISHED (EARLIER) 1:3,6,8"})
	v, _ = qresyncLines(t, rc.ok("g", fmt.Sprintf("UID FETCH 5:7 (FLAGS) (CHANGEDSINCE %d VANISHED)", st.highestModSeq)))
	sameLines(t, "UID FETCH 5:7 VANISHED", v, []string{"* VANISHED (EARLIER) 6"})

	// The live session (view: UIDs 2-8) learns of the four expunges, the
	// first three of which have no tombstone any more, in descending
	// order of sequence numbers.
	var expunges []string
	for _, l := range live.ok("b", "NOOP") {
		if strings.HasSuffix(l, " EXPUNGE") {
			expunges = append(expunges, l)
		}
	}
	sameLines(t, "EXPUNGE", expunges, []string{"* 7 EXPUNGE", "* 5 EXPUNGE", "* 2 EXPUNGE", "* 1 EXPUNGE"})
	sameLines(t, "view", live.cmd("c", "FETCH 1:* (UID)"), []string{
		"* 1 FETCH (UID 4)", "* 2 FETCH (UID 5)", "* 3 FETCH (UID 7)", "c OK FETCH completed",
	})
}
