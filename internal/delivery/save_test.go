package delivery

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/petrelmail/petrel/internal/blob"
	"github.com/petrelmail/petrel/internal/directory"
	"github.com/petrelmail/petrel/internal/store"
)

// NewTestPipeline opens a store, a directory and a pipeline in a temporary
// folder, with users accounts (u0@example.org, u1@...) on the default 4
// shards, their folders created. Exported for the package's external
// tests and benchmarks.
func NewTestPipeline(tb testing.TB, users int) (*Pipeline, []directory.User, *store.Store) {
	tb.Helper()
	ctx := context.Background()
	dataDir := tb.TempDir()
	st, err := store.Open(ctx, dataDir, store.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	dir, err := directory.Open(ctx, filepath.Join(dataDir, "directory.db"), len(st.Shards()))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { dir.Close() })
	if _, err := dir.AddDomain(ctx, directory.Domain{Name: "example.org"}); err != nil {
		tb.Fatal(err)
	}
	var out []directory.User
	for i := range users {
		u, err := dir.AddUser(ctx, directory.NewUser{Address: fmt.Sprintf("u%d@example.org", i), Password: "x"})
		if err != nil {
			tb.Fatal(err)
		}
		mb, _ := st.Mailbox(u.Shard, u.ID)
		if err := mb.Create(ctx, store.DefaultFolders("en")); err != nil {
			tb.Fatal(err)
		}
		out = append(out, u)
	}
	p := New(dir, st, Config{MaxMessageSize: 8 << 20, DataDir: dataDir}, slog.New(slog.DiscardHandler))
	return p, out, st
}

func saveMessage(i int) string {
	return fmt.Sprintf("From: a@example.net\r\nSubject: %d\r\nMessage-ID: <%d.%d@example.net>\r\n\r\nbody %d\r\n", i, i, time.Now().UnixNano(), i)
}

// A batch stages the bodies after its first and makes them durable with one
// sync, after every one is written and before any message is committed; a
// batch of one message never syncs. When the sync fails, nothing is saved
// and the bodies the batch stored are taken back.
func TestBatchSyncsStagedBodiesBeforeCommit(t *testing.T) {
	ctx := context.Background()
	p, users, st := NewTestPipeline(t, 1)
	u := users[0]
	mb, _ := st.Mailbox(u.Shard, u.ID)
	inbox := func() int64 {
		f, err := mb.Folder(ctx, "INBOX")
		if err != nil {
			t.Fatal(err)
		}
		return f.Messages
	}
	bodies := func() int {
		n := 0
		st.Blobs().Walk(func(blob.Hash, int64, time.Time) error { n++; return nil })
		return n
	}
	save := func(n int) error {
		b := p.NewBatch(u)
		defer b.Close()
		for i := range n {
			if err := b.Add(strings.NewReader(saveMessage(i)), "INBOX", 0, nil, time.Time{}); err != nil {
				t.Fatal(err)
			}
		}
		_, err := b.Commit(ctx)
		return err
	}

	var syncs int
	var syncErr error
	var wantMessages int64
	var wantBodies int
	p.syncBodies = func(y *blob.Syncer) error {
		if y == nil {
			t.Error("sync without a Syncer opened before staging")
		}
		syncs++
		if n := inbox(); n != wantMessages {
			t.Errorf("sync ran with %d messages in INBOX, want %d", n, wantMessages)
		}
		if n := bodies(); n != wantBodies {
			t.Errorf("sync ran with %d bodies written, want %d", n, wantBodies)
		}
		return syncErr
	}

	wantMessages, wantBodies = 0, 5
	if err := save(5); err != nil || syncs != 1 || inbox() != 5 {
		t.Fatalf("batch of 5: err %v, %d syncs, %d messages", err, syncs, inbox())
	}
	if err := save(1); err != nil || syncs != 1 || inbox() != 6 {
		t.Fatalf("batch of 1: err %v, %d syncs (want none more), %d messages", err, syncs, inbox())
	}
	syncErr = errors.New("syncfs: input/output error")
	wantMessages, wantBodies = 6, 6+3
	if err := save(3); !errors.Is(err, ErrTemporary) {
		t.Fatalf("batch whose sync fails: %v, want ErrTemporary", err)
	}
	if inbox() != 6 || bodies() != 6 {
		t.Fatalf("after a failed sync: %d messages, %d bodies; want 6 and 6", inbox(), bodies())
	}
}

// The pipeline syncs batches through blob.Syncer.Sync (the tests above
// replace it to watch the order).
func TestPipelineSyncsThroughSyncfs(t *testing.T) {
	p, _, _ := NewTestPipeline(t, 0)
	if got, want := reflect.ValueOf(p.syncBodies).Pointer(), reflect.ValueOf((*blob.Syncer).Sync).Pointer(); got != want {
		t.Fatal("the pipeline's batch sync is not blob.Syncer.Sync")
	}
}
