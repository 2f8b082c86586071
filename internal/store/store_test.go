package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/petrelmail/petrel/internal/sqlite"
)

func openTest(t *testing.T) *Store {
	t.Helper()
	st, err := Open(context.Background(), t.TempDir(), Options{Shards: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// putBody makes a body durable in the blob store, as delivery does.
func putBody(t *testing.T, st *Store, content string) Body {
	t.Helper()
	sp, err := st.Blobs().Spool(strings.NewReader(content), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	if _, err := sp.Commit(); err != nil {
		t.Fatal(err)
	}
	if sp.Hash != sha256.Sum256([]byte(content)) {
		t.Fatalf("hash mismatch")
	}
	return Body{Hash: sp.Hash, Size: sp.Size, Meta: []byte("meta")}
}

func newMailbox(t *testing.T, st *Store, shard int, id int64) *Mailbox {
	t.Helper()
	mb, err := st.Mailbox(shard, id)
	if err != nil {
		t.Fatal(err)
	}
	if err := mb.Create(context.Background(), DefaultFolders("en")); err != nil {
		t.Fatal(err)
	}
	return mb
}

func inbox(t *testing.T, mb *Mailbox) Folder {
	t.Helper()
	f, err := mb.Folder(context.Background(), "inbox")
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func listUIDs(t *testing.T, mb *Mailbox, folder int64) []Message {
	t.Helper()
	var out []Message
	for m, err := range mb.Messages(context.Background(), folder, 1) {
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
	}
	return out
}

func TestCreateIsIdempotentAndLocalized(t *testing.T) {
	st := openTest(t)
	ctx := context.Background()
	mb, _ := st.Mailbox(0, 7)
	for i := 0; i < 2; i++ {
		if err := mb.Create(ctx, DefaultFolders("fr")); err != nil {
			t.Fatal(err)
		}
	}
	folders, err := mb.Folders(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]SpecialUse{}
	for _, f := range folders {
		got[f.Name] = f.SpecialUse
	}
	want := map[string]SpecialUse{"INBOX": "", "Envoyés": UseSent, "Brouillons": UseDrafts, "Corbeille": UseTrash, "Indésirables": UseJunk, "Archives": UseArchive}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("folders = %v, want %v", got, want)
	}
	// UIDVALIDITY differs between folders and never repeats.
	seen := map[uint32]bool{}
	for _, f := range folders {
		if seen[f.UIDValidity] {
			t.Fatalf("UIDVALIDITY %d given twice", f.UIDValidity)
		}
		seen[f.UIDValidity] = true
	}
}

func TestAppendUIDsModSeqsAndChangeLog(t *testing.T) {
	st := openTest(t)
	ctx := context.Background()
	mb := newMailbox(t, st, 1, 1)
	body := putBody(t, st, "Subject: x\r\n\r\nhello\r\n")
	var lastUID uint32
	var lastModSeq int64
	for i := 0; i < 5; i++ {
		res := st.Append(ctx, body, []AppendTarget{{Shard: 1, Mailbox: 1}})
		if res[0].Err != nil {
			t.Fatal(res[0].Err)
		}
		if res[0].UID <= lastUID || res[0].ModSeq <= lastModSeq {
			t.Fatalf("append %d: uid %d modseq %d after uid %d modseq %d", i, res[0].UID, res[0].ModSeq, lastUID, lastModSeq)
		}
		lastUID, lastModSeq = res[0].UID, res[0].ModSeq
	}
	f := inbox(t, mb)
	if f.Messages != 5 || f.UIDNext != 6 || f.HighestModSeq != lastModSeq {
		t.Fatalf("inbox = %+v", f)
	}
	// Expunge two; their UIDs are never given again.
	gone, err := mb.Expunge(ctx, f.ID, []uint32{2, 4, 99}, false)
	if err != nil || fmt.Sprint(gone) != "[2 4]" {
		t.Fatalf("expunge = %v, %v", gone, err)
	}
	res := st.Append(ctx, body, []AppendTarget{{Shard: 1, Mailbox: 1}})
	if res[0].UID != 6 {
		t.Fatalf("UID after expunge = %d, want 6", res[0].UID)
	}
	changes, err := st.Shards()[1].Changes(ctx, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	var prev int64
	for _, c := range changes {
		if c.ModSeq < prev {
			t.Fatalf("modseq went back in the log: %d after %d", c.ModSeq, prev)
		}
		prev = c.ModSeq
		if c.Kind == ChangeAppend || c.Kind == ChangeExpunge {
			kinds = append(kinds, fmt.Sprintf("%s:%d", c.Kind, c.UID))
		}
	}
	want := "[append:1 append:2 append:3 append:4 append:5 expunge:2 expunge:4 append:6]"
	if fmt.Sprint(kinds) != want {
		t.Fatalf("log = %v\nwant %v", kinds, want)
	}
	bytes, count, err := mb.Usage(ctx)
	if err != nil || count != 4 || bytes != 4*body.Size {
		t.Fatalf("usage = %d bytes %d messages (%v)", bytes, count, err)
	}
}

func TestConcurrentAppendsGroupCommit(t *testing.T) {
	st := openTest(t)
	ctx := context.Background()
	mb := newMailbox(t, st, 0, 3)
	const n = 200
	var wg sync.WaitGroup
	uids := make(chan uint32, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			body := putBody(t, st, fmt.Sprintf("Subject: %d\r\n\r\nbody %d\r\n", i, i))
			res := st.Append(ctx, body, []AppendTarget{{Shard: 0, Mailbox: 3}})
			if res[0].Err != nil {
				t.Error(res[0].Err)
				return
			}
			uids <- res[0].UID
		}(i)
	}
	wg.Wait()
	close(uids)
	seen := map[uint32]bool{}
	for u := range uids {
		if seen[u] {
			t.Fatalf("UID %d given twice", u)
		}
		seen[u] = true
	}
	if len(seen) != n || len(listUIDs(t, mb, inbox(t, mb).ID)) != n {
		t.Fatalf("stored %d, want %d", len(seen), n)
	}
}

func TestQuotaFailsOneTargetOnly(t *testing.T) {
	st := openTest(t)
	ctx := context.Background()
	newMailbox(t, st, 0, 1)
	full := newMailbox(t, st, 0, 2)
	body := putBody(t, st, "Subject: q\r\n\r\n0123456789\r\n")
	res := st.Append(ctx, body, []AppendTarget{{Shard: 0, Mailbox: 1}, {Shard: 0, Mailbox: 2, QuotaBytes: body.Size - 1}})
	if res[0].Err != nil || !errors.Is(res[1].Err, ErrOverQuota) {
		t.Fatalf("results = %+v", res)
	}
	if n := len(listUIDs(t, full, inbox(t, full).ID)); n != 0 {
		t.Fatalf("over-quota mailbox holds %d messages", n)
	}
	// A missing folder fails the same way, alone.
	res = st.Append(ctx, body, []AppendTarget{{Shard: 0, Mailbox: 1, Folder: "Nope"}})
	if !errors.Is(res[0].Err, ErrNotFound) {
		t.Fatalf("append to missing folder: %v", res[0].Err)
	}
}

func TestMissingMailboxIsCreatedByAppend(t *testing.T) {
	st := openTest(t)
	ctx := context.Background()
	body := putBody(t, st, "x")
	res := st.Append(ctx, body, []AppendTarget{{Shard: 1, Mailbox: 9}})
	if !errors.Is(res[0].Err, ErrNotFound) {
		t.Fatalf("append without layout to missing mailbox: %v", res[0].Err)
	}
	res = st.Append(ctx, body, []AppendTarget{{Shard: 1, Mailbox: 9, Layout: DefaultFolders("de")}})
	if res[0].Err != nil {
		t.Fatal(res[0].Err)
	}
	mb, _ := st.Mailbox(1, 9)
	if _, err := mb.Folder(ctx, "Papierkorb"); err != nil {
		t.Fatal(err)
	}
}

func TestFolderOperations(t *testing.T) {
	st := openTest(t)
	ctx := context.Background()
	mb := newMailbox(t, st, 0, 1)
	// INBOX subfolders are real folders; parents are created.
	if _, err := mb.CreateFolder(ctx, FolderSpec{Name: "inbox/Projects/2026"}); err != nil {
		t.Fatal(err)
	}
	if _, err := mb.Folder(ctx, "INBOX/Projects"); err != nil {
		t.Fatal(err)
	}
	if _, err := mb.CreateFolder(ctx, FolderSpec{Name: "INBOX/Projects"}); !errors.Is(err, ErrExists) {
		t.Fatalf("create existing: %v", err)
	}
	for _, bad := range []string{"", "a//b", "/a", "a/", "x*y", "tab\there"} {
		if _, err := mb.CreateFolder(ctx, FolderSpec{Name: bad}); !errors.Is(err, ErrInvalid) {
			t.Errorf("create %q: %v", bad, err)
		}
	}
	body := putBody(t, st, "m")
	if res := st.Append(ctx, body, []AppendTarget{{Shard: 0, Mailbox: 1, Folder: "INBOX/Projects/2026"}}); res[0].Err != nil {
		t.Fatal(res[0].Err)
	}
	old, _ := mb.Folder(ctx, "INBOX/Projects/2026")
	if err := mb.RenameFolder(ctx, "INBOX/Projects", "Work/Projects"); err != nil {
		t.Fatal(err)
	}
	moved, err := mb.Folder(ctx, "Work/Projects/2026")
	if err != nil || moved.ID != old.ID || moved.UIDValidity != old.UIDValidity || moved.Messages != 1 {
		t.Fatalf("renamed child = %+v (%v), was %+v", moved, err, old)
	}
	if err := mb.DeleteFolder(ctx, "Work/Projects"); !errors.Is(err, ErrHasChildren) {
		t.Fatalf("delete with children: %v", err)
	}
	if err := mb.DeleteFolder(ctx, "INBOX"); !errors.Is(err, ErrInvalid) {
		t.Fatalf("delete INBOX: %v", err)
	}
	if err := mb.DeleteFolder(ctx, "Work/Projects/2026"); err != nil {
		t.Fatal(err)
	}
	// Recreated under the same name: a new UIDVALIDITY (RFC 9051 2.3.1.1).
	again, err := mb.CreateFolder(ctx, FolderSpec{Name: "Work/Projects/2026"})
	if err != nil || again.UIDValidity == old.UIDValidity {
		t.Fatalf("recreated = %+v (%v)", again, err)
	}
	if _, n, _ := mb.Usage(ctx); n != 0 {
		t.Fatalf("usage after deleting the folder: %d messages", n)
	}
	// Another account's folders are not reachable through this handle.
	other := newMailbox(t, st, 0, 2)
	if _, err := other.SetFlags(ctx, again.ID, []uint32{1}, FlagsAdd, FlagSeen, nil); !errors.Is(err, ErrNotFound) {
		t.Fatalf("flags on another account's folder: %v", err)
	}
}

func TestFlags(t *testing.T) {
	st := openTest(t)
	ctx := context.Background()
	mb := newMailbox(t, st, 0, 1)
	body := putBody(t, st, "m")
	res := st.Append(ctx, body, []AppendTarget{{Shard: 0, Mailbox: 1, Flags: FlagSeen}})
	f := inbox(t, mb)
	changed, err := mb.SetFlags(ctx, f.ID, []uint32{res[0].UID}, FlagsAdd, FlagFlagged, []string{"$Forwarded"})
	if err != nil || len(changed) != 1 {
		t.Fatalf("set flags: %v %v", changed, err)
	}
	// Setting what is already set changes nothing and spends no MODSEQ.
	before := inbox(t, mb).HighestModSeq
	changed, _ = mb.SetFlags(ctx, f.ID, []uint32{res[0].UID}, FlagsAdd, FlagFlagged, nil)
	if len(changed) != 0 || inbox(t, mb).HighestModSeq != before {
		t.Fatalf("no-op flag change bumped state")
	}
	msgs := listUIDs(t, mb, f.ID)
	if msgs[0].Flags != FlagSeen|FlagFlagged || fmt.Sprint(msgs[0].Keywords) != "[$Forwarded]" || msgs[0].ModSeq != before {
		t.Fatalf("message = %+v", msgs[0])
	}
	mb.SetFlags(ctx, f.ID, []uint32{res[0].UID}, FlagsRemove, FlagSeen, []string{"$Forwarded"})
	mb.SetFlags(ctx, f.ID, []uint32{res[0].UID}, FlagsAdd, FlagDeleted, nil)
	gone, err := mb.Expunge(ctx, f.ID, []uint32{res[0].UID}, true)
	if err != nil || len(gone) != 1 {
		t.Fatalf("expunge deleted: %v %v", gone, err)
	}
}

func TestGarbageCollection(t *testing.T) {
	st := openTest(t)
	ctx := context.Background()
	a := newMailbox(t, st, 0, 1)
	b := newMailbox(t, st, 1, 2)
	body := putBody(t, st, "shared body")
	res := st.Append(ctx, body, []AppendTarget{{Shard: 0, Mailbox: 1}, {Shard: 1, Mailbox: 2}})
	if res[0].Err != nil || res[1].Err != nil {
		t.Fatal(res)
	}
	if _, err := a.Expunge(ctx, inbox(t, a).ID, []uint32{res[0].UID}, false); err != nil {
		t.Fatal(err)
	}
	if n, err := st.CollectGarbage(ctx, 0); err != nil || n != 0 || !st.Blobs().Exists(body.Hash) {
		t.Fatalf("collected %d (%v) while shard 1 still references the body", n, err)
	}
	if _, err := b.Expunge(ctx, inbox(t, b).ID, []uint32{res[1].UID}, false); err != nil {
		t.Fatal(err)
	}
	// Pinned by a delivery in progress: kept.
	unpin := st.Blobs().Pin(body.Hash)
	done := make(chan int)
	go func() {
		n, _ := st.CollectGarbage(ctx, 0)
		done <- n
	}()
	select {
	case <-done:
		t.Fatal("collector did not wait for the pin")
	case <-time.After(50 * time.Millisecond):
	}
	unpin()
	if n := <-done; n != 1 || st.Blobs().Exists(body.Hash) {
		t.Fatalf("collected %d, file exists %v", n, st.Blobs().Exists(body.Hash))
	}
}

func TestSweepOrphans(t *testing.T) {
	st := openTest(t)
	ctx := context.Background()
	body := putBody(t, st, "orphan: durable, never referenced")
	old := time.Now().Add(-2 * time.Hour)
	os.Chtimes(st.Blobs().Path(body.Hash), old, old)
	kept := putBody(t, st, "young orphan")
	n, err := st.SweepOrphans(ctx, time.Hour)
	if err != nil || n != 1 || st.Blobs().Exists(body.Hash) || !st.Blobs().Exists(kept.Hash) {
		t.Fatalf("swept %d (%v)", n, err)
	}
}

func TestAppendWaitsForDurableBody(t *testing.T) {
	st := openTest(t)
	ctx := context.Background()
	mb := newMailbox(t, st, 0, 1)
	body := putBody(t, st, "Subject: d\r\n\r\nbody\r\n")

	// The append commits only after Durable returns.
	release := make(chan struct{})
	body.Durable = func() error { <-release; return nil }
	done := make(chan []AppendResult)
	go func() { done <- st.Append(ctx, body, []AppendTarget{{Shard: 0, Mailbox: 1}}) }()
	select {
	case <-done:
		t.Fatal("append committed before its body was durable")
	case <-time.After(50 * time.Millisecond):
	}
	if n := len(listUIDs(t, mb, inbox(t, mb).ID)); n != 0 {
		t.Fatalf("%d messages visible before the body was durable", n)
	}
	close(release)
	if res := <-done; res[0].Err != nil {
		t.Fatal(res[0].Err)
	}

	// A body that cannot be made durable fails its append, and nothing is
	// committed.
	body.Durable = func() error { return errors.New("disk on fire") }
	res := st.Append(ctx, body, []AppendTarget{{Shard: 0, Mailbox: 1}})
	if res[0].Err == nil || !strings.Contains(res[0].Err.Error(), "disk on fire") {
		t.Fatalf("append of a body that is not durable: %v", res[0].Err)
	}
	if n := len(listUIDs(t, mb, inbox(t, mb).ID)); n != 1 {
		t.Fatalf("inbox holds %d messages, want 1", n)
	}
}

func TestMoveAndRenameInbox(t *testing.T) {
	st := openTest(t)
	ctx := context.Background()
	mb := newMailbox(t, st, 0, 1)
	if _, err := mb.CreateFolder(ctx, FolderSpec{Name: "INBOX/Lists"}); err != nil {
		t.Fatal(err)
	}
	archive, err := mb.Folder(ctx, "Archive")
	if err != nil {
		t.Fatal(err)
	}
	body := putBody(t, st, "m")
	for i := 0; i < 4; i++ {
		st.Append(ctx, body, []AppendTarget{{Shard: 0, Mailbox: 1, Flags: Flags(i) & FlagSeen}})
	}
	in := inbox(t, mb)
	// RFC 6851 MOVE: next UIDs of the destination, in source UID order;
	// tombstones in the source; one MODSEQ for the operation.
	moved, err := mb.Move(ctx, in.ID, archive.ID, []uint32{3, 1, 99, 1})
	if err != nil || fmt.Sprint(moved) != "[{1 1} {3 2}]" {
		t.Fatalf("move = %v, %v", moved, err)
	}
	in, archive = inbox(t, mb), mustFolder(t, mb, "Archive")
	if in.Messages != 2 || archive.Messages != 2 || archive.UIDNext != 3 || in.HighestModSeq != archive.HighestModSeq {
		t.Fatalf("after move: inbox %+v archive %+v", in, archive)
	}
	if _, err := mb.Move(ctx, in.ID, in.ID, []uint32{2}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("move into the same folder: %v", err)
	}
	other := newMailbox(t, st, 0, 2)
	if _, err := other.Move(ctx, in.ID, inbox(t, other).ID, []uint32{2}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("move out of another account's folder: %v", err)
	}

	// RFC 9051 6.3.6: renaming INBOX moves its messages to the new folder,
	// leaves INBOX empty and its subfolders where they are.
	if err := mb.RenameFolder(ctx, "inbox", "Old mail"); err != nil {
		t.Fatal(err)
	}
	old := mustFolder(t, mb, "Old mail")
	if n := len(listUIDs(t, mb, old.ID)); n != 2 || inbox(t, mb).Messages != 0 {
		t.Fatalf("old mail holds %d, inbox %d", n, inbox(t, mb).Messages)
	}
	mustFolder(t, mb, "INBOX/Lists")
	if err := mb.RenameFolder(ctx, "INBOX", "Archive"); !errors.Is(err, ErrExists) {
		t.Fatalf("rename INBOX onto an existing folder: %v", err)
	}
	if _, count, _ := mb.Usage(ctx); count != 4 {
		t.Fatalf("usage counts %d messages after moves, want 4", count)
	}
}

func mustFolder(t *testing.T, mb *Mailbox, name string) Folder {
	t.Helper()
	f, err := mb.Folder(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestCopySharesBodiesAndCountsQuota(t *testing.T) {
	st := openTest(t)
	ctx := context.Background()
	mb := newMailbox(t, st, 1, 1)
	body := putBody(t, st, "0123456789")
	for i := 0; i < 3; i++ {
		st.Append(ctx, body, []AppendTarget{{Shard: 1, Mailbox: 1, Flags: FlagFlagged}})
	}
	in, archive := inbox(t, mb), mustFolder(t, mb, "Archive")
	// Over quota: nothing is copied.
	if _, err := mb.Copy(ctx, in.ID, archive.ID, []uint32{1, 2, 3}, 5*body.Size); !errors.Is(err, ErrOverQuota) {
		t.Fatalf("copy over quota: %v", err)
	}
	if n := len(listUIDs(t, mb, archive.ID)); n != 0 {
		t.Fatalf("%d copies made over quota", n)
	}
	copied, err := mb.Copy(ctx, in.ID, archive.ID, []uint32{2, 3, 42}, 0)
	if err != nil || fmt.Sprint(copied) != "[{2 1} {3 2}]" {
		t.Fatalf("copy = %v, %v", copied, err)
	}
	msgs := listUIDs(t, mb, archive.ID)
	if len(msgs) != 2 || msgs[0].Flags != FlagFlagged || msgs[0].Body != body.Hash {
		t.Fatalf("copies = %+v", msgs)
	}
	if _, count, _ := mb.Usage(ctx); count != 5 {
		t.Fatalf("usage counts %d messages, want 5", count)
	}
	// The body is referenced five times: expunging the originals keeps it.
	mb.Expunge(ctx, in.ID, []uint32{1, 2, 3}, false)
	if n, _ := st.CollectGarbage(ctx, 0); n != 0 || !st.Blobs().Exists(body.Hash) {
		t.Fatalf("body collected while copies reference it")
	}
	mb.Expunge(ctx, archive.ID, []uint32{1, 2}, false)
	if n, _ := st.CollectGarbage(ctx, 0); n != 1 {
		t.Fatalf("collected %d after the last copy went, want 1", n)
	}
}

func TestChangedAndVanishedSince(t *testing.T) {
	st := openTest(t)
	ctx := context.Background()
	mb := newMailbox(t, st, 0, 1)
	body := putBody(t, st, "m")
	for i := 0; i < 4; i++ {
		st.Append(ctx, body, []AppendTarget{{Shard: 0, Mailbox: 1}})
	}
	in := inbox(t, mb)
	mark := in.HighestModSeq
	mb.SetFlags(ctx, in.ID, []uint32{2}, FlagsAdd, FlagSeen, nil)
	mb.Expunge(ctx, in.ID, []uint32{3}, false)
	st.Append(ctx, body, []AppendTarget{{Shard: 0, Mailbox: 1}})

	changed, err := mb.ChangedSince(ctx, in.ID, mark)
	if err != nil {
		t.Fatal(err)
	}
	var uids []uint32
	for _, c := range changed {
		if c.ModSeq <= mark {
			t.Fatalf("UID %d reported with MODSEQ %d <= %d", c.UID, c.ModSeq, mark)
		}
		uids = append(uids, c.UID)
	}
	if fmt.Sprint(uids) != "[2 5]" {
		t.Fatalf("changed since %d = %v, want [2 5]", mark, uids)
	}
	vanished, err := mb.VanishedSince(ctx, in.ID, mark)
	if err != nil || vanished.Lost || len(vanished.UIDs) != 1 || vanished.UIDs[0].UID != 3 {
		t.Fatalf("vanished = %+v, %v", vanished, err)
	}
	if v, _ := mb.VanishedSince(ctx, in.ID, inbox(t, mb).HighestModSeq); len(v.UIDs) != 0 || v.Lost {
		t.Fatalf("vanished since the current HIGHESTMODSEQ: %+v", v)
	}
	other := newMailbox(t, st, 0, 2)
	if c, _ := other.ChangedSince(ctx, in.ID, 0); len(c) != 0 {
		t.Fatalf("another account sees %d messages of this folder", len(c))
	}
	if _, err := other.VanishedSince(ctx, in.ID, 0); !errors.Is(err, ErrNotFound) {
		t.Fatalf("another account's VanishedSince: %v, want ErrNotFound", err)
	}
}

// Tombstones go with the change log entries of their age. A resync from
// before them then gets every UID the folder no longer holds (a superset
// of the expunged ones), one from after them the exact list.
func TestTombstoneRetention(t *testing.T) {
	st := openTest(t)
	ctx := context.Background()
	mb := newMailbox(t, st, 0, 1)
	body := putBody(t, st, "m")
	for i := 0; i < 8; i++ {
		st.Append(ctx, body, []AppendTarget{{Shard: 0, Mailbox: 1}})
	}
	in := inbox(t, mb)
	early := in.HighestModSeq
	if _, err := mb.Expunge(ctx, in.ID, []uint32{2, 3, 6}, false); err != nil {
		t.Fatal(err)
	}
	// A later change, so that the expunge's entries are not the newest
	// (which compaction keeps, and its tombstones with it).
	if _, err := mb.SetFlags(ctx, in.ID, []uint32{1}, FlagsAdd, FlagSeen, nil); err != nil {
		t.Fatal(err)
	}
	// Another folder whose old tombstone goes too: a client that is up
	// to date with it still gets the exact (empty) answer.
	archive := func() Folder {
		f, err := mb.Folder(ctx, "Archive")
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	quiet := archive().ID
	for range 2 {
		if r := st.Append(ctx, body, []AppendTarget{{Shard: 0, Mailbox: 1, Folder: "Archive"}}); r[0].Err != nil {
			t.Fatal(r[0].Err)
		}
	}
	if _, err := mb.Expunge(ctx, quiet, []uint32{1}, false); err != nil {
		t.Fatal(err)
	}
	quietNow := archive().HighestModSeq
	mb.SetFlags(ctx, in.ID, []uint32{1}, FlagsRemove, FlagSeen, nil)
	sh := st.shards[0]
	// Everything logged so far is old enough and applied.
	_, head, err := sh.LogBounds(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Two entries or tombstones per transaction, one transaction per
	// call: the tombstones are worked down call after call, as the log.
	defer func(c int64) { compactChunk = c }(compactChunk)
	compactChunk = 2
	rounds := 0
	for more := true; more; rounds++ {
		if _, more, err = sh.CompactLog(ctx, head, time.Now().Add(time.Hour), 1); err != nil {
			t.Fatal(err)
		}
		if rounds > 100 {
			t.Fatal("compaction does not end")
		}
	}
	late := inbox(t, mb).HighestModSeq
	if _, err := mb.Expunge(ctx, in.ID, []uint32{8}, false); err != nil {
		t.Fatal(err)
	}
	var left int
	if err := sh.db.Read.QueryRow(`SELECT count(*) FROM tombstones`).Scan(&left); err != nil || left != 1 {
		t.Fatalf("tombstones left: %d, %v; want only UID 8's", left, err)
	}

	v, err := mb.VanishedSince(ctx, in.ID, early)
	if err != nil || !v.Lost || fmt.Sprint(v.Absent) != "[{2 3} {6 6} {8 8}]" {
		t.Fatalf("vanished since before the compaction: %+v, %v", v, err)
	}
	v, err = mb.VanishedSince(ctx, in.ID, late)
	if err != nil || v.Lost || len(v.UIDs) != 1 || v.UIDs[0].UID != 8 {
		t.Fatalf("vanished since after the compaction: %+v, %v", v, err)
	}
	s, err := mb.Sync(ctx, in.ID, early)
	if err != nil || !s.Lost || len(s.Vanished) != 0 || fmt.Sprint(s.Absent) != "[{2 3} {6 6} {8 8}]" {
		t.Fatalf("Sync since before the compaction: %+v, %v", s, err)
	}
	s, err = mb.Sync(ctx, in.ID, late)
	if err != nil || s.Lost || fmt.Sprint(s.Vanished) != "[8]" {
		t.Fatalf("Sync since after the compaction: %+v, %v", s, err)
	}
	if v, err := mb.VanishedSince(ctx, quiet, quietNow); err != nil || v.Lost || len(v.UIDs) != 0 {
		t.Fatalf("quiet folder, up to date: %+v, %v", v, err)
	}
	if v, err := mb.VanishedSince(ctx, quiet, 1); err != nil || !v.Lost || fmt.Sprint(v.Absent) != "[{1 1}]" {
		t.Fatalf("quiet folder, from before its expunge: %+v, %v", v, err)
	}
}

// The head a shard announces after a group commit is the last change log
// entry committed: entries of an operation that failed in the same group
// were rolled back with it and must not be announced.
func TestHeadFollowsCommits(t *testing.T) {
	st := openTest(t)
	ctx := context.Background()
	newMailbox(t, st, 0, 1)
	sh := st.shards[0]
	_, base := sh.Changed()
	// Hold the writer so that the next operations share one group.
	release := make(chan struct{})
	first := sh.submitDurable(ctx, func() error { <-release; return nil }, func(t *Tx) error {
		return t.logChange(Change{Mailbox: 1, Kind: ChangeAppend, UID: 1})
	})
	time.Sleep(20 * time.Millisecond)
	ok := sh.submit(ctx, func(t *Tx) error { return t.logChange(Change{Mailbox: 1, Kind: ChangeAppend, UID: 2}) })
	bad := sh.submit(ctx, func(t *Tx) error {
		if err := t.logChange(Change{Mailbox: 1, Kind: ChangeAppend, UID: 3}); err != nil {
			return err
		}
		return errors.New("refused after logging")
	})
	close(release)
	if err := first.wait(); err != nil {
		t.Fatal(err)
	}
	if err := ok.wait(); err != nil {
		t.Fatal(err)
	}
	if err := bad.wait(); err == nil {
		t.Fatal("the failing operation succeeded")
	}
	_, announced := sh.Changed()
	head, err := sh.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	changes, err := sh.Changes(ctx, base, 100)
	if err != nil {
		t.Fatal(err)
	}
	var uids []uint32
	for _, c := range changes {
		uids = append(uids, c.UID)
	}
	if fmt.Sprint(uids) != "[1 2]" || announced != head || head != changes[len(changes)-1].ID {
		t.Fatalf("log %v, head %d, announced %d", uids, head, announced)
	}
	// The rolled-back entry's ID is given to the next entry: it was never
	// committed, so no consumer saw it.
	if err := sh.write(ctx, func(t *Tx) error { return t.logChange(Change{Mailbox: 1, Kind: ChangeAppend, UID: 4}) }); err != nil {
		t.Fatal(err)
	}
	if _, announced = sh.Changed(); announced != head+1 {
		t.Fatalf("announced %d after one more entry, want %d", announced, head+1)
	}
}

// A refused append (over quota) charges nothing; a body expunged from its
// only shard and delivered again is not collected.
func TestQuotaChargeAndRedeliveredBody(t *testing.T) {
	st := openTest(t)
	ctx := context.Background()
	mb := newMailbox(t, st, 0, 1)
	body := putBody(t, st, "Subject: again\r\n\r\nsame bytes\r\n")
	res := st.Append(ctx, body, []AppendTarget{{Shard: 0, Mailbox: 1, QuotaBytes: body.Size}})
	if res[0].Err != nil {
		t.Fatal(res[0].Err)
	}
	res2 := st.Append(ctx, body, []AppendTarget{{Shard: 0, Mailbox: 1, QuotaBytes: body.Size}})
	if !errors.Is(res2[0].Err, ErrOverQuota) {
		t.Fatalf("second append at the quota: %v", res2[0].Err)
	}
	if used, n, err := mb.Usage(ctx); err != nil || used != body.Size || n != 1 {
		t.Fatalf("usage %d bytes, %d messages (%v); want %d, 1", used, n, err, body.Size)
	}
	if _, err := mb.Expunge(ctx, inbox(t, mb).ID, []uint32{res[0].UID}, false); err != nil {
		t.Fatal(err)
	}
	if used, n, _ := mb.Usage(ctx); used != 0 || n != 0 {
		t.Fatalf("usage after expunge %d bytes, %d messages", used, n)
	}
	if res := st.Append(ctx, body, []AppendTarget{{Shard: 0, Mailbox: 1}}); res[0].Err != nil {
		t.Fatal(res[0].Err)
	}
	if n, err := st.CollectGarbage(ctx, 0); err != nil || n != 0 || !st.Blobs().Exists(body.Hash) {
		t.Fatalf("collected %d (%v) a body delivered again", n, err)
	}
	var candidates int
	if err := st.shards[0].db.Read.QueryRow(`SELECT count(*) FROM blob_garbage`).Scan(&candidates); err != nil || candidates != 0 {
		t.Fatalf("%d candidates left (%v)", candidates, err)
	}
}

// Version 2 of the shard schema rebuilds the change log without
// AUTOINCREMENT: entries keep their IDs and new ones follow the largest.
func TestChangeLogMigration(t *testing.T) {
	ctx := context.Background()
	dataDir := t.TempDir()
	if err := os.MkdirAll(dataDir+"/shards", 0o750); err != nil {
		t.Fatal(err)
	}
	old, err := sqlite.Open(ctx, dataDir+"/shards/00.db", shardMigrations[:1])
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []int{5, 9} {
		if _, err := old.Write.Exec(`INSERT INTO changelog(id, modseq, mailbox_id, kind, time) VALUES (?, ?, 1, 1, 0)`, id, id); err != nil {
			t.Fatal(err)
		}
	}
	old.Close()
	st, err := Open(ctx, dataDir, Options{Shards: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	sh := st.shards[0]
	if _, head := sh.Changed(); head != 9 {
		t.Fatalf("head after migration %d, want 9", head)
	}
	if err := sh.write(ctx, func(t *Tx) error { return t.logChange(Change{Mailbox: 1, Kind: ChangeAppend}) }); err != nil {
		t.Fatal(err)
	}
	changes, err := sh.Changes(ctx, 0, 10)
	if err != nil || len(changes) != 3 || changes[0].ID != 5 || changes[1].ID != 9 || changes[2].ID != 10 {
		t.Fatalf("changes %+v (%v)", changes, err)
	}
	var seq int
	sh.db.Read.QueryRow(`SELECT count(*) FROM sqlite_sequence WHERE name='changelog'`).Scan(&seq)
	if seq != 0 {
		t.Fatal("the change log still uses sqlite_sequence")
	}
}

// A shard of schema version 2 keeps its tombstones through the upgrade;
// those older than the change log are expired at the first compaction,
// and their folder answers from before them with the full list.
func TestTombstoneMigration(t *testing.T) {
	ctx := context.Background()
	dataDir := t.TempDir()
	if err := os.MkdirAll(dataDir+"/shards", 0o750); err != nil {
		t.Fatal(err)
	}
	old, err := sqlite.Open(ctx, dataDir+"/shards/00.db", shardMigrations[:2])
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`INSERT INTO shard_state(id, modseq, uidvalidity) VALUES (1, 30, 1)`,
		`INSERT INTO mailboxes(id, created) VALUES (1, 0)`,
		`INSERT INTO folders(id, mailbox_id, name, uidvalidity, uidnext, highestmodseq) VALUES (7, 1, 'INBOX', 1, 5, 30)`,
		// UIDs 1 and 2 expunged long ago (their log entries are gone),
		// UID 3 recently.
		`INSERT INTO tombstones(folder_id, uid, modseq) VALUES (7, 1, 10), (7, 2, 11), (7, 3, 25)`,
		`INSERT INTO changelog(id, modseq, mailbox_id, folder_id, kind, uid, time) VALUES (20, 25, 1, 7, 3, 3, 0), (21, 30, 1, 7, 1, 4, 0)`,
	} {
		if _, err := old.Write.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	old.Close()
	st, err := Open(ctx, dataDir, Options{Shards: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	sh := st.shards[0]
	count := func() (n int) {
		if err := sh.db.Read.QueryRow(`SELECT count(*) FROM tombstones`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := count(); n != 3 {
		t.Fatalf("%d tombstones after the upgrade, want 3", n)
	}
	// Nothing old enough in the log: only the tombstones below its first
	// entry go.
	if _, _, err := sh.CompactLog(ctx, 21, time.Unix(0, 0).Add(-time.Hour), 10); err != nil {
		t.Fatal(err)
	}
	if n := count(); n != 1 {
		t.Fatalf("%d tombstones after the first compaction, want 1 (UID 3's)", n)
	}
	mb, err := st.Mailbox(0, 1)
	if err != nil {
		t.Fatal(err)
	}
	if v, err := mb.VanishedSince(ctx, 7, 5); err != nil || !v.Lost {
		t.Fatalf("from MODSEQ 5: %+v, %v; want the full list", v, err)
	}
	if v, err := mb.VanishedSince(ctx, 7, 11); err != nil || v.Lost || len(v.UIDs) != 1 || v.UIDs[0].UID != 3 {
		t.Fatalf("from MODSEQ 11: %+v, %v; want UID 3 exactly", v, err)
	}
}

// CompactLog deletes applied, old entries oldest first, in chunks, and
// keeps the newest entry whatever it is asked, so that IDs go on from it.
func TestCompactLog(t *testing.T) {
	st := openTest(t)
	ctx := context.Background()
	sh := st.shards[0]
	defer func(c int64) { compactChunk = c }(compactChunk)
	compactChunk = 7
	for i := range 40 {
		if err := sh.write(ctx, func(t *Tx) error { return t.logChange(Change{Mailbox: 1, Kind: ChangeAppend, UID: uint32(i + 1)}) }); err != nil {
			t.Fatal(err)
		}
	}
	first, last, err := sh.LogBounds(ctx)
	if err != nil || first != 1 || last != 40 {
		t.Fatalf("bounds %d-%d (%v)", first, last, err)
	}
	// Entries newer than the cut-off stay, whatever upTo says.
	if n, more, err := sh.CompactLog(ctx, last, time.Now().Add(-time.Hour), 100); err != nil || n != 0 || more {
		t.Fatalf("deleted %d recent entries (more %v, %v)", n, more, err)
	}
	// Old enough: only those up to upTo go, in chunks of 7, at most as
	// many chunks as asked.
	future := time.Now().Add(time.Hour)
	if n, more, err := sh.CompactLog(ctx, 25, future, 2); err != nil || n != 14 || !more {
		t.Fatalf("deleted %d in 2 chunks (more %v, %v), want 14 and more", n, more, err)
	}
	// Old entries are left beyond upTo: more, for when the consumers have
	// applied them.
	if n, more, err := sh.CompactLog(ctx, 25, future, 100); err != nil || n != 11 || !more {
		t.Fatalf("deleted %d of the rest up to 25 (more %v, %v), want 11 and more", n, more, err)
	}
	if first, _, _ := sh.LogBounds(ctx); first != 26 {
		t.Fatalf("log starts at %d, want 26", first)
	}
	// Everything applied and old: the newest entry stays.
	if n, more, err := sh.CompactLog(ctx, last+100, future, 100); err != nil || n != 14 || more {
		t.Fatalf("deleted %d of the rest (more %v, %v)", n, more, err)
	}
	if first, l, _ := sh.LogBounds(ctx); first != last || l != last {
		t.Fatalf("log %d-%d, want only entry %d", first, l, last)
	}
	if err := sh.write(ctx, func(t *Tx) error { return t.logChange(Change{Mailbox: 1, Kind: ChangeAppend, UID: 41}) }); err != nil {
		t.Fatal(err)
	}
	if _, head := sh.Changed(); head != last+1 {
		t.Fatalf("next entry got ID %d, want %d", head, last+1)
	}
}

// TestModSeqWithoutCounterRow: MODSEQs come from the change log's newest
// entry, so they must keep rising across log compaction, for an
// operation that took a MODSEQ without logging anything, within one group
// transaction, and for a second process writing the same shard.
func TestModSeqWithoutCounterRow(t *testing.T) {
	dataDir := t.TempDir()
	ctx := context.Background()
	st, err := Open(ctx, dataDir, Options{Shards: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	sh := st.shards[0]
	mb := newMailbox(t, st, 0, 1)
	folder := inbox(t, mb).ID
	var last int64
	take := func(log bool) int64 {
		t.Helper()
		var m int64
		if err := sh.write(ctx, func(tx *Tx) error {
			var err error
			if m, err = tx.ModSeq(); err != nil {
				return err
			}
			if !log {
				// A MODSEQ written to a folder and no change logged.
				return tx.bumpFolder(folder)
			}
			return tx.logChange(Change{Mailbox: 1, Folder: folder, Kind: ChangeFlags, UID: 1})
		}); err != nil {
			t.Fatal(err)
		}
		if m <= last {
			t.Fatalf("MODSEQ %d after %d", m, last)
		}
		last = m
		return m
	}
	for range 5 {
		take(true)
	}
	unlogged := take(false)
	if f := inbox(t, mb); f.HighestModSeq != unlogged {
		t.Fatalf("folder HIGHESTMODSEQ %d, want %d", f.HighestModSeq, unlogged)
	}
	take(true)
	// Only the newest entry survives compaction.
	if _, _, err := sh.CompactLog(ctx, 1<<40, time.Now().Add(time.Hour), 100); err != nil {
		t.Fatal(err)
	}
	if first, l, _ := sh.LogBounds(ctx); first != l {
		t.Fatalf("log %d-%d after compaction", first, l)
	}
	take(true)
	take(false)
	// Operations sharing one transaction get one MODSEQ each, in order:
	// the writer is held by a first operation while 20 more queue, so
	// that they make one group.
	started, release := make(chan struct{}), make(chan struct{})
	blocker := sh.submit(ctx, func(*Tx) error { close(started); <-release; return nil })
	<-started
	got := make([]int64, 20)
	txs := make([]*sql.Tx, len(got))
	ops := make([]*op, len(got))
	for i := range got {
		ops[i] = sh.submit(ctx, func(tx *Tx) error {
			var err error
			if got[i], err = tx.ModSeq(); err != nil {
				return err
			}
			txs[i] = tx.tx
			if i%5 == 4 {
				// A failed operation's MODSEQ goes back with its savepoint.
				tx.logChange(Change{Mailbox: 1, Folder: folder, Kind: ChangeFlags, UID: 1})
				return ErrInvalid
			}
			return tx.logChange(Change{Mailbox: 1, Folder: folder, Kind: ChangeFlags, UID: 1})
		})
	}
	close(release)
	if err := blocker.wait(); err != nil {
		t.Fatal(err)
	}
	var kept []int64
	for i, o := range ops {
		err := o.wait()
		if txs[i] != txs[0] {
			t.Fatalf("operation %d ran in another transaction", i)
		}
		if i%5 == 4 {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("operation %d: %v", i, err)
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		kept = append(kept, got[i])
	}
	for i, m := range kept {
		if m <= last || (i > 0 && m <= kept[i-1]) {
			t.Fatalf("MODSEQs of one group %v (all %v, last before %d)", kept, got, last)
		}
	}
	last = slices.Max(kept)
	// A second process (an admin command) continues from this one's.
	other, err := Open(ctx, dataDir, Options{Shards: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	var m int64
	if err := other.shards[0].write(ctx, func(tx *Tx) error {
		var err error
		m, err = tx.ModSeq()
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if m <= last {
		t.Fatalf("other process got MODSEQ %d after %d", m, last)
	}
	last = m
	take(true)
}

// TestUsageAndModSeqMigration: schema version 4 drops the usage counters
// of the mailboxes (the usage is the folders' sum) and keeps a MODSEQ
// counter that is above the change log's newest entry.
func TestUsageAndModSeqMigration(t *testing.T) {
	ctx := context.Background()
	dataDir := t.TempDir()
	if err := os.MkdirAll(dataDir+"/shards", 0o750); err != nil {
		t.Fatal(err)
	}
	old, err := sqlite.Open(ctx, dataDir+"/shards/00.db", shardMigrations[:3])
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`INSERT INTO shard_state(id, modseq, uidvalidity) VALUES (1, 40, 1)`,
		`INSERT INTO mailboxes(id, created, used_bytes, used_messages) VALUES (1, 0, 999, 9)`,
		`INSERT INTO folders(id, mailbox_id, name, uidvalidity, uidnext, highestmodseq, messages, bytes) VALUES (7, 1, 'INBOX', 1, 3, 30, 2, 300), (8, 1, 'Sent', 2, 2, 30, 1, 50)`,
		`INSERT INTO changelog(id, modseq, mailbox_id, folder_id, kind, uid, time) VALUES (21, 30, 1, 7, 1, 2, 0)`,
	} {
		if _, err := old.Write.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	old.Close()
	st, err := Open(ctx, dataDir, Options{Shards: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	mb, err := st.Mailbox(0, 1)
	if err != nil {
		t.Fatal(err)
	}
	if used, n, err := mb.Usage(ctx); err != nil || used != 350 || n != 3 {
		t.Fatalf("usage %d bytes, %d messages (%v), want the folders' 350 and 3", used, n, err)
	}
	body := putBody(t, st, "Subject: after the upgrade\r\n\r\nbody\r\n")
	res := st.Append(ctx, body, []AppendTarget{{Shard: 0, Mailbox: 1}})
	if res[0].Err != nil {
		t.Fatal(res[0].Err)
	}
	if res[0].ModSeq != 41 || res[0].UID != 3 {
		t.Fatalf("appended UID %d MODSEQ %d, want UID 3 MODSEQ 41 (after the counter's 40)", res[0].UID, res[0].ModSeq)
	}
	if used, n, _ := mb.Usage(ctx); used != 350+body.Size || n != 4 {
		t.Fatalf("usage after the append %d bytes, %d messages", used, n)
	}
	// A quota is checked against the folders' sum.
	over := putBody(t, st, "Subject: over\r\n\r\nbody\r\n")
	res = st.Append(ctx, over, []AppendTarget{{Shard: 0, Mailbox: 1, QuotaBytes: 350 + body.Size + over.Size - 1}})
	if !errors.Is(res[0].Err, ErrOverQuota) {
		t.Fatalf("append over quota: %v", res[0].Err)
	}
	if used, n, _ := mb.Usage(ctx); used != 350+body.Size || n != 4 {
		t.Fatalf("usage after a refused append %d bytes, %d messages", used, n)
	}
}

// TestFolderNeedsMailbox: a folder cannot be created for a mailbox the
// shard does not hold (one deleted meanwhile), so an append, which finds
// its folder without looking at the mailbox, never stores a message that
// no mailbox accounts for.
func TestFolderNeedsMailbox(t *testing.T) {
	st := openTest(t)
	ctx := context.Background()
	mb, err := st.Mailbox(0, 5)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := mb.CreateFolder(ctx, FolderSpec{Name: "X"}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("folder of a missing mailbox: %v", err)
	}
	body := putBody(t, st, "Subject: x\r\n\r\nx\r\n")
	res := st.Append(ctx, body, []AppendTarget{{Shard: 0, Mailbox: 5, Folder: "X"}})
	if !errors.Is(res[0].Err, ErrNotFound) {
		t.Fatalf("append to a missing mailbox: %v", res[0].Err)
	}
	newMailbox(t, st, 0, 6)
	other, _ := st.Mailbox(0, 6)
	if err := other.Delete(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := other.CreateFolder(ctx, FolderSpec{Name: "Y/Z"}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("folder of a deleted mailbox: %v", err)
	}
}
