package api

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/petrelmail/petrel/internal/replication"
)

// TestSearchWithIndex searches with the real full-text index: the index
// narrows the search, and a message it does not hold yet (its replicator
// stopped) is still found.
func TestSearchWithIndex(t *testing.T) {
	ctx := context.Background()
	e := newWorld(t, envOptions{})
	m, err := replication.Open(ctx, e.st, replication.Options{DataDir: e.dataDir})
	if err != nil {
		t.Fatal(err)
	}
	e.api.repl = m
	const u = "/api/v1/users/ua@a.test"
	for i := range 5 {
		status, b, _ := e.call("user", "POST", u+"/folders/Work/messages", "message/rfc822",
			testMessage(fmt.Sprintf("note %d", i), fmt.Sprintf("The zebra number %d grazes.", i)))
		if status != 201 {
			t.Fatalf("import: %d %s", status, b)
		}
	}
	runCtx, stop := context.WithCancel(ctx)
	m.Start(runCtx)
	waitCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := m.WaitCaughtUp(waitCtx); err != nil {
		stop()
		m.Close()
		t.Fatal(err)
	}
	var found SearchResult
	e.must(200, "user", "GET", u+"/search?q=ZEBRA+number+3", nil, &found)
	if !found.Indexed || len(found.Messages) != 1 || found.Messages[0].Subject != "note 3" {
		t.Fatalf("indexed search: %+v", found)
	}
	// Stop the replicators: what is imported now is not indexed, and
	// found anyway.
	stop()
	m.Close()
	m, err = replication.Open(ctx, e.st, replication.Options{DataDir: e.dataDir})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	e.api.repl = m
	status, b, _ := e.call("user", "POST", u+"/folders/INBOX/messages", "message/rfc822", testMessage("late", "A zebra number 9, late."))
	if status != 201 {
		t.Fatalf("import: %d %s", status, b)
	}
	found = SearchResult{}
	e.must(200, "user", "GET", u+"/search?q=zebra+number", nil, &found)
	if !found.Indexed || len(found.Messages) != 6 {
		t.Fatalf("search with an unindexed message: %+v", found)
	}
	found = SearchResult{}
	e.must(200, "user", "GET", u+"/search?q=number+9", nil, &found)
	if len(found.Messages) != 1 || found.Messages[0].Subject != "late" || found.Messages[0].Folder != "INBOX" {
		t.Fatalf("search for the unindexed message: %+v", found)
	}
	// The replication endpoints answer from the real manager.
	var st []replication.ShardStatus
	e.must(200, "global", "GET", "/api/v1/replication/status", nil, &st)
	if len(st) != 2 {
		t.Fatalf("status %+v", st)
	}
	var runs []ReplicationRun
	e.must(200, "dadmin", "POST", "/api/v1/replication/requeue", `{"scope":["ua@a.test"]}`, &runs)
	if len(runs) != 1 || runs[0].Checked == 0 {
		t.Fatalf("requeue %+v", runs)
	}
	var progress []replication.Progress
	e.must(200, "dadmin", "GET", "/api/v1/replication/progress?scope=ua@a.test", nil, &progress)
	if len(progress) != 1 || progress[0].Messages != 7 || progress[0].IndexedMessages != 7 {
		t.Fatalf("progress after requeue %+v", progress)
	}
}
