package imap_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// watcher logs in with imapclient and turns the unsolicited responses it
// gets into lines on a channel: "EXISTS n", "EXPUNGE n", "FETCH n UID u
// FLAGS (...)".
func watcher(t testing.TB, ts *testServer, user string) (*imapclient.Client, chan string) {
	t.Helper()
	events := make(chan string, 100)
	h := &imapclient.UnilateralDataHandler{
		Expunge: func(seq uint32) { events <- fmt.Sprintf("EXPUNGE %d", seq) },
		Mailbox: func(d *imapclient.UnilateralDataMailbox) {
			if d.NumMessages != nil {
				events <- fmt.Sprintf("EXISTS %d", *d.NumMessages)
			}
		},
		Fetch: func(msg *imapclient.FetchMessageData) {
			buf, err := msg.Collect()
			if err != nil {
				events <- "FETCH error " + err.Error()
				return
			}
			events <- fmt.Sprintf("FETCH %d UID %d FLAGS (%s)", buf.SeqNum, buf.UID, flagString(buf.Flags))
		},
	}
	return ts.login(t, user, &imapclient.Options{UnilateralDataHandler: h}), events
}

// expectEvents waits for exactly these events, in order.
func expectEvents(t testing.TB, events <-chan string, want ...string) {
	t.Helper()
	for i, w := range want {
		if got := recv(t, events, fmt.Sprintf("event %d %q", i, w)); got != w {
			t.Fatalf("event %d: got %q, want %q", i, got, w)
		}
	}
}

// expectEventSet waits for these events in any order: imapclient runs the
// Fetch handler on a goroutine of its own, so two FETCH may come in either
// order.
func expectEventSet(t testing.TB, events <-chan string, want ...string) {
	t.Helper()
	var got []string
	for i := range want {
		got = append(got, recv(t, events, fmt.Sprintf("event %d of %q", i, want)))
	}
	slices.Sort(got)
	want = slices.Sorted(slices.Values(want))
	sameLines(t, "events", got, want)
}

// noEvents fails if an event is queued; used after a command that has
// completed, so every response it caused has been handled already.
func noEvents(t testing.TB, events <-chan string) {
	t.Helper()
	select {
	case e := <-events:
		t.Fatalf("unexpected event %q", e)
	default:
	}
}

// TestTwoSessionsIdle: what one session does is seen by another in IDLE,
// with the right sequence numbers (acceptance point 2).
func TestTwoSessionsIdle(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, 0, "alice")
	b := ts.login(t, "alice", nil)
	fill(t, b, "INBOX", "idle", 5) // UIDs 1-5
	a, events := watcher(t, ts, "alice")
	if d := mustSelect(t, a, "INBOX"); d.NumMessages != 5 {
		t.Fatalf("%d messages", d.NumMessages)
	}
	mustSelect(t, b, "INBOX")

	idle, err := a.Idle()
	if err != nil {
		t.Fatal(err)
	}
	// Append: EXISTS.
	appendMsg(t, b, "INBOX", testMessage("idle 6"))
	expectEvents(t, events, "EXISTS 6")
	// Delivery (LMTP path) too.
	ts.deliver(t, "alice", testMessage("idle 7"))
	expectEvents(t, events, "EXISTS 7")
	// Flag change: FETCH with the sequence number and UID.
	if err := b.Store(imap.SeqSetNum(2), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagFlagged, "$Idle"}}, nil).Close(); err != nil {
		t.Fatal(err)
	}
	expectEvents(t, events, `FETCH 2 UID 2 FLAGS ($Idle \Flagged)`)
	// Expunge of a middle message.
	if err := b.Store(imap.SeqSetNum(3), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close(); err != nil {
		t.Fatal(err)
	}
	expectEvents(t, events, `FETCH 3 UID 3 FLAGS (\Deleted)`)
	if _, err := b.Expunge().Collect(); err != nil {
		t.Fatal(err)
	}
	expectEvents(t, events, "EXPUNGE 3")
	// Two expunges at once: numbers valid when each is read (B's view is
	// now UIDs 1 2 4 5 6 7; it expunges 4 and 6, at 3 and 5).
	if err := b.Store(imap.UIDSetNum(4, 6), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close(); err != nil {
		t.Fatal(err)
	}
	expectEventSet(t, events, `FETCH 3 UID 4 FLAGS (\Deleted)`, `FETCH 5 UID 6 FLAGS (\Deleted)`)
	if _, err := b.Expunge().Collect(); err != nil {
		t.Fatal(err)
	}
	expectEvents(t, events, "EXPUNGE 5", "EXPUNGE 3")
	// A MOVE out of the folder is an expunge too.
	if _, err := b.Move(imap.UIDSetNum(1), "Archive").Wait(); err != nil {
		t.Fatal(err)
	}
	expectEvents(t, events, "EXPUNGE 1")
	// Changes in another folder wake nobody in INBOX.
	appendMsg(t, b, "Sent", testMessage("elsewhere"))
	appendMsg(t, b, "INBOX", testMessage("idle 8"))
	expectEvents(t, events, "EXISTS 4")
	if err := idle.Close(); err != nil {
		t.Fatal(err)
	}
	if err := idle.Wait(); err != nil {
		t.Fatal(err)
	}
	noEvents(t, events)

	// A's view agrees with B's and with the store.
	got := seqUIDs(fetchAll(t, a, &imap.FetchOptions{}))
	if want := seqUIDs(fetchAll(t, b, &imap.FetchOptions{})); got != want || got != "1:2 2:5 3:7 4:8" {
		t.Fatalf("A sees %s, B sees %s", got, want)
	}
	var flags []string
	for _, m := range fetchAll(t, a, &imap.FetchOptions{Flags: true}) {
		flags = append(flags, fmt.Sprintf("%d:%s", m.UID, flagString(m.Flags)))
	}
	sameLines(t, "flags", flags, []string{`2:$Idle \Flagged`, "5:", "7:", "8:"})
}

// TestTwoSessionsNoop: the same, seen after NOOP, raw for the exact
// responses; and the rule that EXPUNGE is held back during FETCH, STORE
// and SEARCH by sequence number (RFC 9051 section 7.5.1).
func TestTwoSessionsNoop(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, 0, "alice")
	b := ts.login(t, "alice", nil)
	fill(t, b, "INBOX", "noop", 5)
	mustSelect(t, b, "INBOX")
	a := ts.raw(t)
	a.login("alice")
	a.ok("a", "SELECT INBOX")

	sameLines(t, "NOOP, nothing new", a.cmd("b", "NOOP"), []string{"b OK NOOP completed"})
	appendMsg(t, b, "INBOX", testMessage("noop 6"))
	sameLines(t, "NOOP after APPEND", a.cmd("c", "NOOP"), []string{"* 6 EXISTS", "c OK NOOP completed"})
	if err := b.Store(imap.SeqSetNum(4), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagSeen}}, nil).Close(); err != nil {
		t.Fatal(err)
	}
	sameLines(t, "NOOP after STORE", a.cmd("d", "NOOP"), []string{`* 4 FETCH (UID 4 FLAGS (\Seen))`, "d OK NOOP completed"})
	// Every time: NOOP reports what was committed before it, whether or
	// not the change notification has reached the session yet.
	for i := range 20 {
		op, want := imap.StoreFlagsAdd, `* 1 FETCH (UID 1 FLAGS (\Flagged))`
		if i%2 == 1 {
			op, want = imap.StoreFlagsDel, `* 1 FETCH (UID 1 FLAGS ())`
		}
		if err := b.Store(imap.SeqSetNum(1), &imap.StoreFlags{Op: op, Silent: true, Flags: []imap.Flag{imap.FlagFlagged}}, nil).Close(); err != nil {
			t.Fatal(err)
		}
		sameLines(t, fmt.Sprintf("NOOP %d", i), a.cmd("d", "NOOP"), []string{want, "d OK NOOP completed"})
	}

	// B expunges message 3 (a middle one). A's FETCH by sequence number
	// still uses A's numbers and sends no EXPUNGE; UID 3 is just
	// missing from it.
	if err := b.Store(imap.SeqSetNum(3), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Expunge().Collect(); err != nil {
		t.Fatal(err)
	}
	sameLines(t, "FETCH while expunge pending", a.cmd("e", "FETCH 2:4 (UID)"), []string{
		"* 2 FETCH (UID 2)", "* 4 FETCH (UID 4)", "e OK FETCH completed",
	})
	sameLines(t, "SEARCH while expunge pending", a.cmd("f", "SEARCH ALL"), []string{"* SEARCH 1 2 4 5 6", "f OK SEARCH completed"})
	sameLines(t, "STORE while expunge pending", a.cmd("g", `STORE 5 +FLAGS (\Answered)`), []string{
		`* 5 FETCH (FLAGS (\Answered))`, "g OK STORE completed",
	})
	// NOOP delivers the EXPUNGE; then the numbers have moved.
	sameLines(t, "NOOP delivers EXPUNGE", a.cmd("h", "NOOP"), []string{"* 3 EXPUNGE", "h OK NOOP completed"})
	sameLines(t, "FETCH after EXPUNGE", a.cmd("i", "FETCH 1:* (UID)"), []string{
		"* 1 FETCH (UID 1)", "* 2 FETCH (UID 2)", "* 3 FETCH (UID 4)", "* 4 FETCH (UID 5)", "* 5 FETCH (UID 6)", "i OK FETCH completed",
	})
	a.want("j", "FETCH 6 UID", "BAD")

	// Several changes at once: flag FETCH and EXISTS, then EXPUNGE from
	// the highest number down. A UID command may carry EXPUNGE. A UID
	// FETCH reads the folder's changes only once the hub has woken the
	// session; a third session in IDLE tells when it has (the hub wakes
	// every session of the mailbox at once).
	w, events := watcher(t, ts, "alice")
	mustSelect(t, w, "INBOX")
	idle, err := w.Idle()
	if err != nil {
		t.Fatal(err)
	}
	mustSelect(t, b, "INBOX")
	if err := b.Store(imap.UIDSetNum(2, 6), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close(); err != nil {
		t.Fatal(err)
	}
	if err := b.Store(imap.UIDSetNum(5), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{"$Mid"}}, nil).Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Expunge().Collect(); err != nil {
		t.Fatal(err)
	}
	appendMsg(t, b, "INBOX", testMessage("noop 7"))
	// Any EXISTS means the hub has read the log up to the APPEND, the
	// last change.
	for e := ""; !strings.HasPrefix(e, "EXISTS "); {
		e = recv(t, events, "EXISTS in IDLE")
	}
	if err := idle.Close(); err != nil {
		t.Fatal(err)
	}
	sameLines(t, "UID FETCH with changes pending", a.cmd("k", "UID FETCH 4 (UID)"), []string{
		"* 3 FETCH (UID 4)",
		`* FLAGS (\Answered \Flagged \Deleted \Seen \Draft $Mid)`,
		`* OK [PERMANENTFLAGS (\Answered \Flagged \Deleted \Seen \Draft $Mid \*)] Flags permitted`,
		`* 4 FETCH (UID 5 FLAGS (\Answered $Mid))`,
		"* 6 EXISTS",
		"* 5 EXPUNGE",
		"* 2 EXPUNGE",
		"k OK UID FETCH completed",
	})
	sameLines(t, "final view", a.cmd("l", "FETCH 1:* (UID FLAGS)"), []string{
		"* 1 FETCH (UID 1 FLAGS ())", `* 2 FETCH (UID 4 FLAGS (\Seen))`, `* 3 FETCH (UID 5 FLAGS (\Answered $Mid))`,
		"* 4 FETCH (UID 7 FLAGS ())", "l OK FETCH completed",
	})
}

// TestTwoSessionsFolderChanges: RENAME and DELETE of the folder another
// session has selected, and RENAME of INBOX, which empties it.
func TestTwoSessionsFolderChanges(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, 0, "alice")
	b := ts.login(t, "alice", nil)
	if err := b.Create("Work", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	fill(t, b, "Work", "work", 2)
	fill(t, b, "INBOX", "inbox", 3)

	a := ts.raw(t)
	a.login("alice")
	a.ok("a", "SELECT Work")
	inbox := ts.raw(t)
	inbox.login("alice")
	inbox.ok("a", "SELECT INBOX")

	// RENAME keeps the folder: the session goes on with it.
	if err := b.Rename("Work", "Job", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	sameLines(t, "NOOP after RENAME", a.cmd("b", "NOOP"), []string{"b OK NOOP completed"})
	sameLines(t, "FETCH after RENAME", a.cmd("c", "FETCH 1:* (UID)"), []string{"* 1 FETCH (UID 1)", "* 2 FETCH (UID 2)", "c OK FETCH completed"})
	appendMsg(t, b, "Job", testMessage("work 3"))
	sameLines(t, "APPEND to the renamed folder", a.cmd("d", "NOOP"), []string{"* 3 EXISTS", "d OK NOOP completed"})

	// RENAME INBOX moves its messages out (RFC 9051 section 6.3.6): the
	// INBOX session sees them expunged.
	if err := b.Rename("INBOX", "Old Inbox", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	sameLines(t, "RENAME INBOX", inbox.cmd("b", "NOOP"), []string{"* 3 EXPUNGE", "* 2 EXPUNGE", "* 1 EXPUNGE", "b OK NOOP completed"})
	ts.deliver(t, "alice", testMessage("new inbox"))
	sameLines(t, "new INBOX message", inbox.cmd("c", "NOOP"), []string{"* 1 EXISTS", "c OK NOOP completed"})
	// INBOX's UIDs go on from where they were: UIDs are never reused.
	sameLines(t, "its UID", inbox.cmd("d", "FETCH 1 (UID)"), []string{"* 1 FETCH (UID 4)", "d OK FETCH completed"})

	// DELETE of the selected folder: the session cannot go on with it.
	if err := b.Delete("Job").Wait(); err != nil {
		t.Fatal(err)
	}
	a.send("e NOOP")
	if l := a.line(); l != "* BYE The selected folder was deleted" {
		t.Fatalf("NOOP after DELETE: %q", l)
	}
	a.eof()
}
