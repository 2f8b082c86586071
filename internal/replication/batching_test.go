package replication

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/petrelmail/petrel/internal/store"
)

// blockingRecorder records when each batch starts and what it holds; the
// first batch waits for release.
type blockingRecorder struct {
	release chan struct{}
	mu      sync.Mutex
	starts  []time.Time
	batches [][]int64
}

func (b *blockingRecorder) Name() string                          { return "blocking" }
func (b *blockingRecorder) Cursor(context.Context) (int64, error) { return 0, nil }
func (b *blockingRecorder) Apply(_ context.Context, changes []store.Change) error {
	b.mu.Lock()
	first := len(b.starts) == 0
	b.starts = append(b.starts, time.Now())
	var ids []int64
	for _, c := range changes {
		ids = append(ids, c.ID)
	}
	b.batches = append(b.batches, ids)
	b.mu.Unlock()
	if first {
		<-b.release
	}
	return nil
}

func (b *blockingRecorder) count() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.starts)
}

// TestCoalescedAfterPartialBatch checks that entries committed while a
// partial batch was being applied wait for the coalescing before they are
// applied, instead of making a small batch of their own at once.
func TestCoalescedAfterPartialBatch(t *testing.T) {
	const coalesce = 300 * time.Millisecond
	e := newEnv(t, 1, 1, Options{Coalesce: coalesce, Poll: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r := e.m.newReplicator(ctx, 0, nil)
	rec := &blockingRecorder{release: make(chan struct{})}
	done := make(chan struct{})
	go func() {
		defer close(done)
		// A non-nil idle makes this consumer coalesce, as the index does.
		r.follow(rec, func(*int64) error { return nil })
	}()
	mb := e.mailboxes[0]
	if err := e.appendMsg(mb, "INBOX", genMessage(0)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return rec.count() == 1 })
	// Committed while the first batch is being applied.
	for i := 1; i <= 3; i++ {
		if err := e.appendMsg(mb, "INBOX", genMessage(i)); err != nil {
			t.Fatal(err)
		}
	}
	sh, _ := e.st.Shard(0)
	_, head := sh.Changed()
	released := time.Now()
	close(rec.release)
	waitFor(t, func() bool { return rec.count() == 2 })
	rec.mu.Lock()
	second, batches := rec.starts[1], rec.batches
	rec.mu.Unlock()
	if gap := second.Sub(released); gap < coalesce*3/4 {
		t.Fatalf("second batch started %v after the first ended; want it to wait for the coalescing (%v)", gap, coalesce)
	}
	first, next := batches[0], batches[1]
	if next[0] != first[len(first)-1]+1 || next[len(next)-1] != head {
		t.Fatalf("batches %v then %v; want the second to hold every entry up to %d", first, next, head)
	}
	cancel()
	<-done
}

// TestCoalesceGrowsUnderLoad checks that a lone entry is applied after
// Coalesce, as before, while a steady stream of entries makes batches of
// coalesceTarget instead of one per Coalesce.
func TestCoalesceGrowsUnderLoad(t *testing.T) {
	// Long enough that even slow appends (one durable commit each, under
	// the race detector on a slow disk) bring coalesceBusy per step.
	const coalesce = 100 * time.Millisecond
	busy, target := coalesceBusy, coalesceTarget
	coalesceBusy, coalesceTarget = 4, 40
	e := newEnv(t, 1, 1, Options{Coalesce: coalesce, MaxCoalesce: 10 * time.Second, Poll: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	r := e.m.newReplicator(ctx, 0, nil)
	rec := &blockingRecorder{release: make(chan struct{})}
	close(rec.release)
	done := make(chan struct{})
	go func() {
		defer close(done)
		r.follow(rec, func(*int64) error { return nil })
	}()
	defer func() {
		cancel()
		<-done
		coalesceBusy, coalesceTarget = busy, target
	}()
	mb := e.mailboxes[0]
	sent := time.Now()
	if err := e.appendMsg(mb, "INBOX", genMessage(0)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return rec.count() == 1 })
	rec.mu.Lock()
	lone := rec.starts[0].Sub(sent)
	rec.mu.Unlock()
	if lone > 5*coalesce {
		t.Fatalf("a lone entry waited %v; want about the Coalesce, %v", lone, coalesce)
	}
	// A steady stream: 60 entries, faster than coalesceBusy per
	// Coalesce (an append is one durable commit, a few milliseconds).
	const n = 60
	for i := 1; i <= n; i++ {
		if err := e.appendMsg(mb, "INBOX", genMessage(i)); err != nil {
			t.Fatal(err)
		}
	}
	ended := time.Now()
	sh, _ := e.st.Shard(0)
	_, head := sh.Changed()
	waitFor(t, func() bool {
		rec.mu.Lock()
		defer rec.mu.Unlock()
		last := rec.batches[len(rec.batches)-1]
		return last[len(last)-1] == head
	})
	rec.mu.Lock()
	batches, lastStart := rec.batches[1:], rec.starts[len(rec.starts)-1]
	rec.mu.Unlock()
	biggest := 0
	for _, b := range batches {
		biggest = max(biggest, len(b))
	}
	if biggest < int(coalesceTarget) || len(batches) > 3 {
		t.Fatalf("%d entries under a steady load were applied in %d batches, the biggest of %d; want batches of %d",
			n, len(batches), biggest, coalesceTarget)
	}
	// What is left when the stream stops does not wait for MaxCoalesce.
	if wait := lastStart.Sub(ended); wait > 2*time.Second {
		t.Fatalf("the last batch started %v after the stream ended", wait)
	}
}

// TestLiveGate checks that a live index batch waits for a slot of the
// gate shared by the shards' replicators, and goes ahead once one is free.
func TestLiveGate(t *testing.T) {
	e := newEnv(t, 2, 1, Options{})
	for i, mb := range e.mailboxes {
		if err := e.appendMsg(mb, "INBOX", genMessage(i)); err != nil {
			t.Fatal(err)
		}
	}
	gate := make(chan struct{}, 1)
	gate <- struct{}{} // another shard's batch holds the only slot
	sh, _ := e.st.Shard(1)
	c := newIndexConsumer(sh, e.st.Blobs(), e.m.indexes[1])
	c.gate = gate
	changes, err := sh.Changes(context.Background(), 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	applied := make(chan error, 1)
	go func() { applied <- c.Apply(context.Background(), changes) }()
	select {
	case err := <-applied:
		t.Fatalf("batch applied (%v) while the gate was full", err)
	case <-time.After(100 * time.Millisecond):
	}
	<-gate
	if err := <-applied; err != nil {
		t.Fatal(err)
	}
	if len(gate) != 0 {
		t.Fatal("the batch kept its slot")
	}
	if cur, err := c.Cursor(context.Background()); err != nil || cur != changes[len(changes)-1].ID {
		t.Fatalf("cursor %d (%v) after the batch, want %d", cur, err, changes[len(changes)-1].ID)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// fixedCursor is a consumer that reports a cursor that never moves, as a
// consumer that is far behind would.
type fixedCursor struct{ pos int64 }

func (f fixedCursor) Name() string                          { return "fixed" }
func (f fixedCursor) Cursor(context.Context) (int64, error) { return f.pos, nil }
func (f fixedCursor) Apply(context.Context, []store.Change) error {
	return nil
}

// TestLogCompaction checks that the replicator compacts its shard's
// change log up to what every consumer has applied, and that the index
// stays whole.
func TestLogCompaction(t *testing.T) {
	const behind = 5
	e := newEnv(t, 1, 1, Options{LogRetention: time.Nanosecond, CompactEvery: 20 * time.Millisecond,
		Consumers: func(int) []Consumer { return []Consumer{fixedCursor{pos: behind}} }})
	mb := e.mailboxes[0]
	for i := range 12 {
		if err := e.appendMsg(mb, "INBOX", genMessage(i)); err != nil {
			t.Fatal(err)
		}
	}
	sh, _ := e.st.Shard(0)
	_, head := sh.Changed()
	e.start()
	ctx := context.Background()
	// The slow consumer holds the log at its cursor.
	waitFor(t, func() bool { first, _, _ := sh.LogBounds(ctx); return first == behind+1 })
	time.Sleep(100 * time.Millisecond)
	if first, last, _ := sh.LogBounds(ctx); first != behind+1 || last != head {
		t.Fatalf("log %d-%d, want %d-%d while a consumer is at %d", first, last, behind+1, head, behind)
	}
	e.cancel()
	e.m.Close()

	// Without it, the log is compacted down to its newest entry, and the
	// index holds every message.
	m2, err := Open(ctx, e.st, Options{DataDir: e.dir, LogRetention: time.Nanosecond, CompactEvery: 20 * time.Millisecond,
		Poll: 50 * time.Millisecond, RestartDelay: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	e.m = m2
	e.start()
	waitFor(t, func() bool { first, _, _ := sh.LogBounds(ctx); return first == head })
	d, err := m2.Compare(ctx, 0)
	if err != nil || len(d.Missing) != 0 || len(d.Extra) != 0 || len(d.Stale) != 0 {
		t.Fatalf("index against the store after compaction: %+v (%v)", d, err)
	}
	if cur, err := m2.indexes[0].Cursor(ctx, cursorName); err != nil || cur != head {
		t.Fatalf("index cursor %d (%v), want %d", cur, err, head)
	}
}

// TestLogCompactionRounds checks that a log too long for one compaction
// round is worked down round after round, at each poll, not left until
// the next CompactEvery.
func TestLogCompactionRounds(t *testing.T) {
	defer func(n int) { compactChunksPerRound = n }(compactChunksPerRound)
	compactChunksPerRound = 1 // 1,000 entries per round
	e := newEnv(t, 1, 1, Options{LogRetention: time.Nanosecond, CompactEvery: time.Hour})
	ctx := context.Background()
	mb := e.mailboxes[0]
	for i := range 30 {
		if err := e.appendMsg(mb, "INBOX", genMessage(i)); err != nil {
			t.Fatal(err)
		}
	}
	inbox, err := mb.Folder(ctx, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	uids := make([]uint32, 30)
	for i := range uids {
		uids[i] = uint32(i + 1)
	}
	// One change log entry per message changed: 30 per flag change.
	for i := range 80 {
		op := store.FlagsAdd
		if i%2 == 1 {
			op = store.FlagsRemove
		}
		if _, err := mb.SetFlags(ctx, inbox.ID, uids, op, store.FlagSeen, nil); err != nil {
			t.Fatal(err)
		}
	}
	sh, _ := e.st.Shard(0)
	if first, last, _ := sh.LogBounds(ctx); last-first < 2000 {
		t.Fatalf("log %d-%d: too short for the test", first, last)
	}
	_, head := sh.Changed()
	e.start()
	waitFor(t, func() bool { first, _, _ := sh.LogBounds(ctx); return first == head })
}
