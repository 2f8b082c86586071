package imap_test

import (
	"fmt"
	"slices"
	"testing"

	"github.com/emersion/go-imap/v2"
)

func TestStoreFlags(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, 0, "alice")
	c := ts.login(t, "alice", nil)
	fill(t, c, "INBOX", "flags", 3)
	mustSelect(t, c, "INBOX")

	res, err := c.Store(imap.SeqSetNum(1), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagFlagged, "$Label"}}, nil).Collect()
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 1 || res[0].SeqNum != 1 || flagString(res[0].Flags) != `$Label \Flagged` {
		t.Fatalf("+FLAGS: %+v", res)
	}
	res, err = c.Store(imap.SeqSetNum(2, 3), &imap.StoreFlags{Op: imap.StoreFlagsSet, Flags: []imap.Flag{imap.FlagSeen, imap.FlagAnswered}}, nil).Collect()
	if err != nil || len(res) != 2 || res[0].SeqNum != 2 || res[1].SeqNum != 3 || flagString(res[1].Flags) != `\Answered \Seen` {
		t.Fatalf("FLAGS: %+v %v", res, err)
	}
	res, err = c.Store(imap.UIDSetNum(1, 3), &imap.StoreFlags{Op: imap.StoreFlagsDel, Flags: []imap.Flag{"$Label", imap.FlagSeen}}, nil).Collect()
	if err != nil || len(res) != 2 || res[0].UID != 1 || flagString(res[0].Flags) != `\Flagged` || res[1].UID != 3 ||
		flagString(res[1].Flags) != `\Answered` {
		t.Fatalf("UID -FLAGS: %+v %v", res, err)
	}
	if res, err := c.Store(imap.SeqSetNum(1), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDraft}}, nil).Collect(); err != nil || len(res) != 0 {
		t.Fatalf("FLAGS.SILENT: %+v %v", res, err)
	}
	var got []string
	for _, m := range fetchAll(t, c, &imap.FetchOptions{Flags: true}) {
		got = append(got, fmt.Sprintf("%d:%s", m.UID, flagString(m.Flags)))
	}
	sameLines(t, "flags", got, []string{`1:\Draft \Flagged`, `2:\Answered \Seen`, `3:\Answered`})

	rc := ts.raw(t)
	rc.login("alice")
	rc.ok("a", "SELECT INBOX")
	// A new keyword is announced in FLAGS and PERMANENTFLAGS.
	sameLines(t, "new keyword", rc.cmd("b", "STORE 2 +FLAGS ($New)"), []string{
		`* 2 FETCH (FLAGS (\Seen \Answered $New))`,
		`* FLAGS (\Answered \Flagged \Deleted \Seen \Draft $New)`,
		`* OK [PERMANENTFLAGS (\Answered \Flagged \Deleted \Seen \Draft $New \*)] Flags permitted`,
		"b OK STORE completed",
	})
	// UID STORE reports UID (RFC 9051 section 6.4.9); a flag already set
	// is still reported.
	sameLines(t, "UID STORE", rc.cmd("c", `UID STORE 2,3 +FLAGS (\Answered)`), []string{
		`* 2 FETCH (UID 2 FLAGS (\Seen \Answered $New))`, `* 3 FETCH (UID 3 FLAGS (\Answered))`, "c OK UID STORE completed",
	})
	// \Recent cannot be set; it is ignored (RFC 9051 section 2.3.2).
	sameLines(t, `\Recent`, rc.cmd("d", `STORE 3 FLAGS (\Recent \Seen)`), []string{`* 3 FETCH (FLAGS (\Seen))`, "d OK STORE completed"})
	// Flags without parentheses, in any case.
	sameLines(t, "bare flags", rc.cmd("e", `STORE 3 +FLAGS \flagged \DRAFT`), []string{`* 3 FETCH (FLAGS (\Seen \Flagged \Draft))`, "e OK STORE completed"})
	rc.want("f", `STORE 1 +FLAGS (\Bogus)`, "BAD")
	rc.want("g", `STORE 4 +FLAGS (\Seen)`, "BAD")
	rc.want("h", `STORE 1 +FLAGZ (\Seen)`, "BAD")
	sameLines(t, "UID STORE of a missing UID", rc.cmd("i", `UID STORE 4:9 +FLAGS (\Seen)`), []string{"i OK UID STORE completed"})
	// Nothing changed by the refused commands.
	sameLines(t, "after", rc.cmd("j", "FETCH 1:3 FLAGS"), []string{
		`* 1 FETCH (FLAGS (\Flagged \Draft))`, `* 2 FETCH (FLAGS (\Seen \Answered $New))`,
		`* 3 FETCH (FLAGS (\Seen \Flagged \Draft))`, "j OK FETCH completed",
	})
}

func TestCondStore(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, 0, "alice")
	c := ts.login(t, "alice", nil)
	fill(t, c, "INBOX", "condstore", 4)

	rc := ts.raw(t)
	rc.login("alice")
	lines := rc.ok("a", "SELECT INBOX (CONDSTORE)")
	highest := codeNum(t, lines, "HIGHESTMODSEQ")
	var modseqs []uint64
	for _, l := range rc.ok("b", "FETCH 1:* (MODSEQ)") {
		modseqs = append(modseqs, modseqOf(t, l))
	}
	if len(modseqs) != 4 || slices.Max(modseqs) != highest || !slices.IsSorted(modseqs) || modseqs[0] == modseqs[3] {
		t.Fatalf("MODSEQs %v, HIGHESTMODSEQ %d", modseqs, highest)
	}

	// A change gets a MODSEQ above every earlier one.
	lines = rc.ok("c", `STORE 2 +FLAGS (\Flagged)`)
	m2 := modseqOf(t, lines[0])
	if m2 <= highest || lines[0] != fmt.Sprintf(`* 2 FETCH (FLAGS (\Flagged) MODSEQ (%d))`, m2) {
		t.Fatalf("STORE: %q (HIGHESTMODSEQ was %d)", lines, highest)
	}
	// FETCH CHANGEDSINCE: only what changed, with MODSEQ (RFC 7162
	// section 3.1.4.1).
	sameLines(t, "CHANGEDSINCE", rc.cmd("d", fmt.Sprintf("FETCH 1:* (FLAGS) (CHANGEDSINCE %d)", highest)), []string{
		fmt.Sprintf(`* 2 FETCH (FLAGS (\Flagged) MODSEQ (%d))`, m2), "d OK FETCH completed",
	})
	sameLines(t, "UID CHANGEDSINCE", rc.cmd("e", fmt.Sprintf("UID FETCH 1:* (FLAGS) (CHANGEDSINCE %d)", modseqs[0])), []string{
		fmt.Sprintf(`* 2 FETCH (UID 2 FLAGS (\Flagged) MODSEQ (%d))`, m2),
		fmt.Sprintf(`* 3 FETCH (UID 3 FLAGS () MODSEQ (%d))`, modseqs[2]),
		fmt.Sprintf(`* 4 FETCH (UID 4 FLAGS () MODSEQ (%d))`, modseqs[3]),
		"e OK UID FETCH completed",
	})
	sameLines(t, "CHANGEDSINCE now", rc.cmd("f", fmt.Sprintf("FETCH 1:* (FLAGS) (CHANGEDSINCE %d)", m2)), []string{"f OK FETCH completed"})

	// STORE UNCHANGEDSINCE: message 2 changed after highest, so it is
	// left alone and listed in MODIFIED, by sequence number (RFC 7162
	// section 3.1.3); the others change.
	lines = rc.cmd("g", fmt.Sprintf(`STORE 1:3 (UNCHANGEDSINCE %d) +FLAGS (\Seen)`, highest))
	if len(lines) != 3 || lines[2] != "g OK [MODIFIED 2] Conditional STORE failed for some messages" ||
		lines[0] != fmt.Sprintf(`* 1 FETCH (FLAGS (\Seen) MODSEQ (%d))`, modseqOf(t, lines[0])) ||
		lines[1] != fmt.Sprintf(`* 3 FETCH (FLAGS (\Seen) MODSEQ (%d))`, modseqOf(t, lines[1])) ||
		modseqOf(t, lines[0]) <= m2 {
		t.Fatalf("UNCHANGEDSINCE: %q", lines)
	}
	sameLines(t, "message 2 untouched", rc.cmd("h", "FETCH 2 (FLAGS MODSEQ)"), []string{
		fmt.Sprintf(`* 2 FETCH (FLAGS (\Flagged) MODSEQ (%d))`, m2), "h OK FETCH completed",
	})

	// After an expunge sequence numbers and UIDs differ: UID STORE lists
	// UIDs in MODIFIED, STORE sequence numbers.
	rc.ok("i", `STORE 1 +FLAGS.SILENT (\Deleted)`)
	rc.ok("j", "EXPUNGE")
	now := codeNum(t, rc.ok("k", "SELECT INBOX (CONDSTORE)"), "HIGHESTMODSEQ")
	rc.ok("l", `STORE 3 +FLAGS.SILENT ($Later)`)
	lines = rc.cmd("m", fmt.Sprintf(`UID STORE 2:4 (UNCHANGEDSINCE %d) +FLAGS.SILENT (\Answered)`, now))
	if len(lines) != 3 || lines[2] != "m OK [MODIFIED 4] Conditional STORE failed for some messages" ||
		lines[0] != fmt.Sprintf("* 1 FETCH (UID 2 MODSEQ (%d))", modseqOf(t, lines[0])) ||
		lines[1] != fmt.Sprintf("* 2 FETCH (UID 3 MODSEQ (%d))", modseqOf(t, lines[1])) {
		t.Fatalf("UID STORE UNCHANGEDSINCE .SILENT: %q", lines)
	}
	sameLines(t, "UNCHANGEDSINCE 0", rc.cmd("n", `STORE 1:3 (UNCHANGEDSINCE 0) FLAGS ()`), []string{
		"n OK [MODIFIED 1:3] Conditional STORE failed for some messages",
	})

	// STATUS HIGHESTMODSEQ follows.
	var top uint64
	for _, l := range rc.ok("o", "FETCH 1:* MODSEQ") {
		top = max(top, modseqOf(t, l))
	}
	st, err := c.Status("INBOX", &imap.StatusOptions{HighestModSeq: true}).Wait()
	if err != nil || st.HighestModSeq != top {
		t.Fatalf("STATUS HIGHESTMODSEQ %v %v, want %d", st, err, top)
	}

	// imapclient: FETCH CHANGEDSINCE and STORE UNCHANGEDSINCE.
	mustSelect(t, c, "INBOX")
	msgs, err := c.Fetch(imap.SeqSetNum(1, 2, 3), &imap.FetchOptions{UID: true, Flags: true, ChangedSince: now}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	if seqUIDs(msgs) != "1:2 2:3 3:4" || msgs[1].ModSeq == 0 || flagString(msgs[1].Flags) != `\Answered \Seen` ||
		flagString(msgs[2].Flags) != "$Later" {
		t.Fatalf("imapclient CHANGEDSINCE: %s %+v", seqUIDs(msgs), msgs)
	}
	all := fetchAll(t, c, &imap.FetchOptions{ModSeq: true})
	if seqUIDs(all) != "1:2 2:3 3:4" || all[2].ModSeq >= all[0].ModSeq || all[2].ModSeq >= all[1].ModSeq {
		t.Fatalf("MODSEQs: %s %+v", seqUIDs(all), all)
	}
	// Only UID 4 is unchanged since its own MODSEQ.
	res, err := c.Store(imap.SeqSetNum(1, 2, 3), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{"$Done"}},
		&imap.StoreOptions{UnchangedSince: all[2].ModSeq}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 1 || res[0].SeqNum != 3 || flagString(res[0].Flags) != "$Done $Later" || res[0].ModSeq <= all[0].ModSeq {
		t.Fatalf("imapclient UNCHANGEDSINCE: %+v", res)
	}
	var got []string
	for _, m := range fetchAll(t, c, &imap.FetchOptions{Flags: true}) {
		got = append(got, fmt.Sprintf("%d:%s", m.UID, flagString(m.Flags)))
	}
	sameLines(t, "flags after", got, []string{`2:\Answered \Flagged`, `3:\Answered \Seen`, `4:$Done $Later`})
}
