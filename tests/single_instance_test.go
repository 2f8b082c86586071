package tests

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/petrelmail/petrel/internal/blob"
	"github.com/petrelmail/petrel/internal/store"
)

// addUsersParallel creates accounts with the command line, a few commands
// at a time (each one opens the data folder, which costs some fsyncs).
func addUsersParallel(t testing.TB, dataDir string, users []string, extra ...string) {
	t.Helper()
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	errs := make(chan error, len(users))
	for _, u := range users {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			args := append([]string{"user", "add", u, "--data", dataDir}, extra...)
			if _, err := runPetrel(nil, args...); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// TestSingleInstanceStorage delivers one message to 50 accounts (spread
// over every shard) in one LMTP transaction: one body file is stored. The
// file outlives every expunge but the last, and goes with the last.
func TestSingleInstanceStorage(t *testing.T) {
	ctx := context.Background()
	const domain = "si.test"
	dataDir := t.TempDir()
	mustPetrel(t, nil, "domain", "add", domain, "--data", dataDir)
	var users []string
	for i := 0; i < 50; i++ {
		users = append(users, fmt.Sprintf("user%02d@%s", i, domain))
	}
	addUsersParallel(t, dataDir, users)

	srv := NewServer(t, dataDir)
	srv.MustStart()
	msg := []byte("From: Announcer <news@example.net>\r\nTo: everyone@si.test\r\nSubject: One body for fifty\r\n" +
		"Message-ID: <single-instance@example.net>\r\n\r\n" + strings.Repeat("The same bytes for every recipient.\r\n", 300))
	want := map[string]string{}
	for _, u := range users {
		want[u] = "250 2.0.0"
	}
	replies, err := lmtpSend(srv.LMTPAddr, "news@example.net", users, msg)
	expectReplies(t, replies, err, want)
	srv.Stop()
	if t.Failed() {
		t.FailNow()
	}

	hash := blob.Hash(sha256.Sum256(msg))
	files := blobFiles(t, dataDir)
	if len(files) != 1 {
		t.Fatalf("%d body files after one message to 50 recipients, want 1: %v", len(files), keys(files))
	}
	if _, ok := files[hash.String()]; !ok {
		t.Fatalf("the body file is %v, want %s", keys(files), hash)
	}

	data := openData(t, dataDir)
	defer data.Close()
	type target struct {
		addr   string
		mb     *store.Mailbox
		folder int64
		uid    uint32
		bodyID int64
	}
	var targets []target
	shards := map[int]int{}
	for _, u := range users {
		_, msgs, mb := inboxMessages(t, data, u)
		if len(msgs) != 1 {
			t.Fatalf("%s: %d messages in INBOX, want 1", u, len(msgs))
		}
		m := msgs[0]
		if m.Body != hash {
			t.Fatalf("%s: message body %s, want %s", u, m.Body, hash)
		}
		f, _ := mb.Folder(ctx, store.Inbox)
		targets = append(targets, target{u, mb, f.ID, m.UID, m.BodyID})
		shards[mb.Shard().Index]++
	}
	if len(shards) < 2 {
		t.Fatalf("the 50 accounts are all on one shard (%v): cannot check cross-shard sharing", shards)
	}
	t.Logf("accounts per shard: %v", shards)
	body, err := readBody(data.Store, hash)
	if err != nil || !bytes.Equal(body, msg) {
		t.Fatalf("stored body differs from the message sent (err %v)", err)
	}

	last := targets[len(targets)-1]
	for _, tg := range targets[:len(targets)-1] {
		gone, err := tg.mb.Expunge(ctx, tg.folder, []uint32{tg.uid}, false)
		if err != nil || len(gone) != 1 {
			t.Fatalf("expunge %s UID %d: %v %v", tg.addr, tg.uid, gone, err)
		}
	}
	n, err := data.Store.CollectGarbage(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	if n != 0 || !data.Store.Blobs().Exists(hash) {
		t.Fatalf("after expunging 49 of 50 copies, the collector removed %d bodies; file present: %v", n, data.Store.Blobs().Exists(hash))
	}
	if f := blobFiles(t, dataDir); len(f) != 1 {
		t.Fatalf("%d body files after 49 expunges, want 1", len(f))
	}
	// Body rows: only the last account's shard still holds one.
	for _, tg := range targets {
		_, err := tg.mb.Shard().BodyMeta(ctx, tg.bodyID)
		if tg.mb.Shard() == last.mb.Shard() {
			if err != nil {
				t.Errorf("shard %d (of the remaining copy) lost its body row: %v", tg.mb.Shard().Index, err)
			}
		} else if !errors.Is(err, store.ErrNotFound) {
			t.Errorf("shard %d: body row still there after its last message went (err %v)", tg.mb.Shard().Index, err)
		}
	}
	if body, err := readBody(data.Store, hash); err != nil || !bytes.Equal(body, msg) {
		t.Fatalf("remaining copy unreadable or changed: %v", err)
	}
	_, msgs, _ := inboxMessages(t, data, last.addr)
	if len(msgs) != 1 || msgs[0].Body != hash {
		t.Fatalf("%s: INBOX should still hold the message: %+v", last.addr, msgs)
	}

	gone, err := last.mb.Expunge(ctx, last.folder, []uint32{last.uid}, false)
	if err != nil || len(gone) != 1 {
		t.Fatalf("expunge %s UID %d: %v %v", last.addr, last.uid, gone, err)
	}
	n, err = data.Store.CollectGarbage(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Errorf("after the last expunge, the collector removed %d bodies, want 1", n)
	}
	if data.Store.Blobs().Exists(hash) {
		t.Errorf("body file %s still there after its last message was expunged and collected", hash)
	}
	if f := blobFiles(t, dataDir); len(f) != 0 {
		t.Errorf("%d body files left, want none: %v", len(f), keys(f))
	}
	for _, tg := range targets {
		if _, err := tg.mb.Shard().BodyMeta(ctx, tg.bodyID); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("shard %d still has body row %d (err %v)", tg.mb.Shard().Index, tg.bodyID, err)
		}
	}
	for _, u := range users {
		if f, msgs, _ := inboxMessages(t, data, u); len(msgs) != 0 || f.Messages != 0 || f.Bytes != 0 {
			t.Errorf("%s: INBOX not empty: %d listed, %d counted, %d bytes", u, len(msgs), f.Messages, f.Bytes)
		}
	}
	if n, err := data.Store.CollectGarbage(ctx, 0); err != nil || n != 0 {
		t.Errorf("second collection: removed %d, err %v; want 0, nil", n, err)
	}
	// The change log records one append and one expunge per account.
	counts := map[store.ChangeKind]int{}
	for _, sh := range data.Store.Shards() {
		for _, c := range allChanges(t, sh) {
			counts[c.Kind]++
		}
	}
	if counts[store.ChangeAppend] != 50 || counts[store.ChangeExpunge] != 50 {
		t.Errorf("change log: %d appends, %d expunges; want 50 and 50", counts[store.ChangeAppend], counts[store.ChangeExpunge])
	}
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
