package store

import (
	"context"
	"errors"
	"slices"
	"testing"
)

// TestSyncFollowsEveryChange checks the promise IMAP sessions rely on:
// calling Sync with the HIGHESTMODSEQ of the previous call returns exactly
// what changed since, appends, flag changes and expunges alike.
func TestSyncFollowsEveryChange(t *testing.T) {
	ctx := context.Background()
	st := openTest(t)
	mb := newMailbox(t, st, 0, 7)
	in := inbox(t, mb)
	res, err := mb.AppendAll(ctx, []AppendItem{
		{Body: putBody(t, st, "Subject: 1\r\n\r\na\r\n")},
		{Body: putBody(t, st, "Subject: 2\r\n\r\nb\r\n"), Flags: FlagSeen, Keywords: []string{"$Work"}},
		{Body: putBody(t, st, "Subject: 3\r\n\r\nc\r\n")},
	}, 0)
	if err != nil || len(res) != 3 || res[2].UID != 3 {
		t.Fatalf("AppendAll: %+v, %v", res, err)
	}
	s0, err := mb.Sync(ctx, in.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(s0.Changed) != 3 || s0.Changed[1].Flags != FlagSeen || !slices.Equal(s0.Changed[1].Keywords, []string{"$Work"}) ||
		len(s0.Vanished) != 0 || s0.Folder.Messages != 3 {
		t.Fatalf("Sync(0): %+v", s0)
	}
	// Nothing changed: nothing reported.
	if s, _ := mb.Sync(ctx, in.ID, s0.Folder.HighestModSeq); len(s.Changed)+len(s.Vanished) != 0 {
		t.Fatalf("Sync at the head: %+v", s)
	}
	changed, modified, modseq, err := mb.SetFlagsIf(ctx, in.ID, []uint32{1, 2}, FlagsAdd, FlagFlagged, nil, s0.Changed[0].ModSeq)
	if err != nil || !slices.Equal(changed, []uint32{1, 2}) || len(modified) != 0 || modseq <= s0.Folder.HighestModSeq {
		t.Fatalf("SetFlagsIf: %v %v %d %v", changed, modified, modseq, err)
	}
	// UNCHANGEDSINCE below the message's MODSEQ: refused, listed.
	changed, modified, _, err = mb.SetFlagsIf(ctx, in.ID, []uint32{1, 3}, FlagsAdd, FlagDraft, nil, s0.Folder.HighestModSeq)
	if err != nil || !slices.Equal(changed, []uint32{3}) || !slices.Equal(modified, []uint32{1}) {
		t.Fatalf("SetFlagsIf UNCHANGEDSINCE: changed %v modified %v %v", changed, modified, err)
	}
	if _, err := mb.Expunge(ctx, in.ID, []uint32{2}, false); err != nil {
		t.Fatal(err)
	}
	s1, err := mb.Sync(ctx, in.ID, s0.Folder.HighestModSeq)
	if err != nil {
		t.Fatal(err)
	}
	var uids []uint32
	for _, c := range s1.Changed {
		uids = append(uids, c.UID)
	}
	if !slices.Equal(uids, []uint32{1, 3}) || !slices.Equal(s1.Vanished, []uint32{2}) || s1.Changed[1].Flags != FlagDraft {
		t.Fatalf("Sync after changes: changed %v vanished %v (%+v)", uids, s1.Vanished, s1.Changed)
	}
	if s, _ := mb.Sync(ctx, in.ID, s1.Folder.HighestModSeq); len(s.Changed)+len(s.Vanished) != 0 {
		t.Fatalf("Sync at the new head: %+v", s)
	}
	// Fetch streams a UID range with metadata.
	var got []uint32
	for m, err := range mb.Fetch(ctx, in.ID, 1, 3, FetchMeta) {
		if err != nil || len(m.Meta) == 0 {
			t.Fatalf("Fetch: %v, meta %d bytes", err, len(m.Meta))
		}
		got = append(got, m.UID)
	}
	if !slices.Equal(got, []uint32{1, 3}) {
		t.Fatalf("Fetch 1:3 gave %v", got)
	}
	unseen, deleted, deletedBytes, err := mb.FolderCounts(ctx, in.ID)
	if err != nil || unseen != 2 || deleted != 0 || deletedBytes != 0 {
		t.Fatalf("FolderCounts: %d unseen, %d deleted, %v", unseen, deleted, err)
	}
	// Another mailbox's folder is not found.
	other := newMailbox(t, st, 0, 8)
	if _, err := other.Sync(ctx, in.ID, 0); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Sync of another mailbox's folder: %v", err)
	}
}

// TestAppendAllIsAllOrNothing: when the last message does not fit the
// quota, none is appended.
func TestAppendAllIsAllOrNothing(t *testing.T) {
	ctx := context.Background()
	st := openTest(t)
	mb := newMailbox(t, st, 0, 9)
	in := inbox(t, mb)
	a := putBody(t, st, "Subject: a\r\n\r\n0123456789\r\n")
	b := putBody(t, st, "Subject: b\r\n\r\n0123456789012345678901234567890123456789\r\n")
	if _, err := mb.AppendAll(ctx, []AppendItem{{Body: a}, {Body: b}}, a.Size+b.Size-1); !errors.Is(err, ErrOverQuota) {
		t.Fatalf("AppendAll over quota: %v", err)
	}
	if _, err := mb.AppendAll(ctx, []AppendItem{{Body: a}, {Body: b, Folder: "Nope"}}, 0); !errors.Is(err, ErrNotFound) {
		t.Fatalf("AppendAll to a missing folder: %v", err)
	}
	f, _ := mb.FolderByID(ctx, in.ID)
	if f.Messages != 0 || f.UIDNext != 1 {
		t.Fatalf("after refused AppendAll: %+v", f)
	}
	if used, _, _ := mb.Usage(ctx); used != 0 {
		t.Fatalf("usage %d after refused AppendAll", used)
	}
}
