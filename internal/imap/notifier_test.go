package imap_test

import (
	"context"
	"testing"

	"github.com/petrelmail/petrel/internal/store"
)

// The replicator of a shard asks for its notifier each time it starts: it
// must get the same one, whose cursor is where the last one stopped, so
// that the entries committed while it was down still wake their sessions.
func TestNotifierSurvivesReplicatorRestart(t *testing.T) {
	ts := newTestServer(t, 0, "alice")
	ctx := context.Background()
	n := ts.Server.Notifier(0)
	if again := ts.Server.Notifier(0); again != n {
		t.Fatal("a second Notifier for the same shard")
	}
	if other := ts.Server.Notifier(1); other == n {
		t.Fatal("two shards share a Notifier")
	}
	if err := n.Apply(ctx, []store.Change{{ID: 41, Mailbox: 1}, {ID: 42, Mailbox: 1}}); err != nil {
		t.Fatal(err)
	}
	if cur, err := ts.Server.Notifier(0).Cursor(ctx); err != nil || cur != 42 {
		t.Fatalf("cursor after a restart %d (%v), want 42", cur, err)
	}
}
