package imap_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
)

func TestCopy(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, 0, "alice")
	c := ts.login(t, "alice", nil)
	fill(t, c, "INBOX", "copy", 4)
	date := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	cmd := c.Append("INBOX", int64(len(testMessage("dated"))), &imap.AppendOptions{Time: date, Flags: []imap.Flag{imap.FlagSeen, "$Keep"}})
	cmd.Write([]byte(testMessage("dated")))
	cmd.Close()
	if _, err := waitAppend(t, cmd); err != nil {
		t.Fatal(err)
	}
	appendMsg(t, c, "Archive", testMessage("already there"))
	mustSelect(t, c, "INBOX")
	sent, err := c.Status("Archive", &imap.StatusOptions{UIDValidity: true}).Wait()
	if err != nil {
		t.Fatal(err)
	}

	// COPYUID (RFC 4315 section 3): source UIDs and the new ones, in
	// corresponding order.
	data, err := c.Copy(imap.SeqSetNum(2, 5, 4), "Archive").Wait()
	if err != nil {
		t.Fatal(err)
	}
	if data.UIDValidity != sent.UIDValidity || data.SourceUIDs.String() != "2,4:5" || data.DestUIDs.String() != "2:4" {
		t.Fatalf("COPYUID %d %s %s", data.UIDValidity, data.SourceUIDs, data.DestUIDs)
	}
	data, err = c.Copy(imap.UIDSetNum(1, 3, 99), "Archive").Wait()
	if err != nil || data.SourceUIDs.String() != "1,3" || data.DestUIDs.String() != "5:6" {
		t.Fatalf("UID COPY: %+v %v", data, err)
	}
	_, err = c.Copy(imap.SeqSetNum(1), "Nope").Wait()
	wantErr(t, err, imap.StatusResponseTypeNo, imap.ResponseCodeTryCreate)
	_, err = c.Copy(imap.SeqSetNum(6), "Archive").Wait()
	wantErr(t, err, imap.StatusResponseTypeBad, "")

	// Copies keep flags and internal date; the source is unchanged.
	mustSelect(t, c, "Archive")
	var got []string
	for _, m := range fetchAll(t, c, &imap.FetchOptions{Flags: true, Envelope: true, InternalDate: true}) {
		s := fmt.Sprintf("%d %s [%s]", m.UID, m.Envelope.Subject, flagString(m.Flags))
		if m.UID == 4 && !m.InternalDate.Equal(date) {
			s += " wrong date " + m.InternalDate.String()
		}
		got = append(got, s)
	}
	sameLines(t, "Archive", got, []string{
		"1 already there []", "2 copy 2 []", "3 copy 4 []", `4 dated [$Keep \Seen]`, "5 copy 1 []", "6 copy 3 []",
	})
	if st, err := c.Status("INBOX", &imap.StatusOptions{NumMessages: true}).Wait(); err != nil || *st.NumMessages != 5 {
		t.Fatalf("INBOX after COPY: %v %v", st, err)
	}

	// EMAILID is the same for a copy (RFC 8474 section 5.1); raw, with
	// the exact COPYUID response.
	rc := ts.raw(t)
	rc.login("alice")
	rc.ok("a", "SELECT INBOX")
	src := rc.ok("b", "UID FETCH 2 EMAILID")[0]
	sameLines(t, "COPY", rc.cmd("c", "COPY 2 Sent"), []string{fmt.Sprintf("c OK [COPYUID %d 2 1] COPY completed", uidValidity(t, rc, "Sent"))})
	rc.ok("d", "SELECT Sent")
	dst := rc.ok("e", "UID FETCH 1 EMAILID")[0]
	if emailIDOf(src) == "" || emailIDOf(src) != emailIDOf(dst) {
		t.Fatalf("EMAILID %q then %q", src, dst)
	}
	rc.ok("f", "SELECT Archive")
	if other := rc.ok("g", "UID FETCH 1 EMAILID")[0]; emailIDOf(other) == emailIDOf(src) {
		t.Fatalf("different messages, same EMAILID: %q %q", other, src)
	}
	// A copy into the selected folder itself shows up as EXISTS.
	sameLines(t, "COPY to self", rc.cmd("h", "COPY 1 Archive"), []string{
		"* 7 EXISTS", fmt.Sprintf("h OK [COPYUID %d 1 7] COPY completed", uidValidity(t, rc, "Archive")),
	})
}

func emailIDOf(line string) string {
	i := strings.Index(line, "EMAILID (")
	if i < 0 {
		return ""
	}
	rest := line[i+len("EMAILID ("):]
	return rest[:strings.Index(rest, ")")]
}

func uidValidity(t testing.TB, rc *rawConn, mailbox string) uint64 {
	t.Helper()
	l := rc.ok("s", "STATUS "+mailbox+" (UIDVALIDITY)")[0]
	var n uint64
	if _, err := fmt.Sscanf(l, "* STATUS "+mailbox+" (UIDVALIDITY %d)", &n); err != nil {
		t.Fatalf("%q: %v", l, err)
	}
	return n
}

func TestMove(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, 0, "alice")
	c := ts.login(t, "alice", nil)
	fill(t, c, "INBOX", "move", 6)
	mustSelect(t, c, "INBOX")

	data, err := c.Move(imap.SeqSetNum(2, 3), "Trash").Wait()
	if err != nil {
		t.Fatal(err)
	}
	if data.SourceUIDs.String() != "2:3" || data.DestUIDs.String() != "1:2" {
		t.Fatalf("MOVE COPYUID %s %s", data.SourceUIDs, data.DestUIDs)
	}
	if n := c.Mailbox().NumMessages; n != 4 {
		t.Fatalf("%d messages after MOVE", n)
	}
	msgs := fetchAll(t, c, &imap.FetchOptions{})
	if seqUIDs(msgs) != "1:1 2:4 3:5 4:6" {
		t.Fatalf("after MOVE: %s", seqUIDs(msgs))
	}
	data, err = c.Move(imap.UIDSetNum(6, 4), "Trash").Wait()
	if err != nil || data.SourceUIDs.String() != "4,6" || data.DestUIDs.String() != "3:4" {
		t.Fatalf("UID MOVE: %+v %v", data, err)
	}

	// Raw: the untagged COPYUID comes first, then the expunges (RFC 6851
	// section 4.3), from the highest sequence number down.
	rc := ts.raw(t)
	rc.login("alice")
	fill(t, c, "INBOX", "more", 3) // UIDs 7, 8, 9
	lines := rc.ok("a", "SELECT INBOX")
	if !strings.Contains(strings.Join(lines, "\n"), "* 5 EXISTS") {
		t.Fatalf("SELECT %q", lines)
	}
	// INBOX is now UIDs 1 5 7 8 9.
	trash := uidValidity(t, rc, "Trash")
	sameLines(t, "MOVE", rc.cmd("b", "MOVE 2,4 Trash"), []string{
		fmt.Sprintf("* OK [COPYUID %d 5,8 5:6] Moved", trash), "* 4 EXPUNGE", "* 2 EXPUNGE", "b OK MOVE completed",
	})
	sameLines(t, "UID MOVE", rc.cmd("c", "UID MOVE 9:* Trash"), []string{
		fmt.Sprintf("* OK [COPYUID %d 9 7] Moved", trash), "* 3 EXPUNGE", "c OK UID MOVE completed",
	})
	rc.want("d", "MOVE 1 INBOX", "NO [CANNOT]")
	rc.want("e", "MOVE 1 Nope", "NO [TRYCREATE]")
	rc.want("f", "MOVE 3 Trash", "BAD")
	sameLines(t, "UID MOVE of nothing", rc.cmd("g", "UID MOVE 100:200 Trash"), []string{"g OK UID MOVE completed"})
	rc.ok("h", "EXAMINE INBOX")
	rc.want("i", "MOVE 1 Trash", "NO [READ-ONLY]")
	// With QRESYNC, VANISHED replaces EXPUNGE (RFC 7162 section 3.2.10).
	rc.ok("j", "ENABLE QRESYNC")
	rc.ok("k", "SELECT INBOX")
	sameLines(t, "MOVE with QRESYNC", rc.cmd("l", "MOVE 1:2 Junk"), []string{
		fmt.Sprintf("* OK [COPYUID %d 1,7 1:2] Moved", uidValidity(t, rc, "Junk")), "* VANISHED 1,7", "l OK MOVE completed",
	})

	mustSelect(t, c, "Trash")
	var got []string
	for _, m := range fetchAll(t, c, &imap.FetchOptions{Envelope: true}) {
		got = append(got, fmt.Sprintf("%d %s", m.UID, m.Envelope.Subject))
	}
	sameLines(t, "Trash", got, []string{"1 move 2", "2 move 3", "3 move 4", "4 move 6", "5 move 5", "6 more 2", "7 more 3"})
}

func TestExpunge(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, 0, "alice")
	c := ts.login(t, "alice", nil)
	fill(t, c, "INBOX", "expunge", 6)
	mustSelect(t, c, "INBOX")
	if err := c.Store(imap.SeqSetNum(2, 4, 5), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close(); err != nil {
		t.Fatal(err)
	}
	// UID EXPUNGE (RFC 4315 section 2.1): only the UIDs given, and only
	// if \Deleted.
	seqs, err := c.UIDExpunge(imap.UIDSetNum(1, 4)).Collect()
	if err != nil || len(seqs) != 1 || seqs[0] != 4 {
		t.Fatalf("UID EXPUNGE: %v %v", seqs, err)
	}
	// EXPUNGE: the rest of the \Deleted, numbers valid when read.
	seqs, err = c.Expunge().Collect()
	if err != nil || fmt.Sprint(seqs) != "[4 2]" {
		t.Fatalf("EXPUNGE: %v %v", seqs, err)
	}
	if msgs := fetchAll(t, c, &imap.FetchOptions{}); seqUIDs(msgs) != "1:1 2:3 3:6" {
		t.Fatalf("after EXPUNGE: %s", seqUIDs(msgs))
	}
	seqs, err = c.Expunge().Collect()
	if err != nil || len(seqs) != 0 {
		t.Fatalf("EXPUNGE of nothing: %v %v", seqs, err)
	}
	rc := ts.raw(t)
	rc.login("alice")
	rc.want("a", "EXPUNGE", "BAD")
	rc.ok("b", "SELECT INBOX")
	rc.ok("c", `STORE 1:3 +FLAGS.SILENT (\Deleted)`)
	sameLines(t, "UID EXPUNGE", rc.cmd("d", "UID EXPUNGE 3:5"), []string{"* 2 EXPUNGE", "d OK UID EXPUNGE completed"})
	sameLines(t, "EXPUNGE", rc.cmd("e", "EXPUNGE"), []string{"* 2 EXPUNGE", "* 1 EXPUNGE", "e OK EXPUNGE completed"})
	sameLines(t, "empty", rc.cmd("f", "SEARCH ALL"), []string{"* SEARCH", "f OK SEARCH completed"})
}
