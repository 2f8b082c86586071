package replication

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"runtime"
	"slices"
	"sync/atomic"

	"github.com/petrelmail/petrel/internal/blob"
	"github.com/petrelmail/petrel/internal/bufpool"
	"github.com/petrelmail/petrel/internal/fts"
	"github.com/petrelmail/petrel/internal/message"
	"github.com/petrelmail/petrel/internal/store"
)

// cursorName is the index's cursor on its shard's change log.
const cursorName = "changelog"

// indexConsumer keeps a shard's full-text index equal to the shard's
// bodies. The index is keyed by body, not by message: a body held by many
// messages (one delivery to several users, a copy, a move) is indexed
// once, and flag changes, moves and renames cost the index nothing. Only
// two kinds of entry matter: an append (its body may be new) and a body
// deletion (the last reference went away).
//
// Apply does not trust the entries: for every body they name it reads the
// body's state in the store now (present with this hash, or absent) and
// makes the index agree. Replaying a batch after a crash therefore
// converges, and a body ID reused for a new body (the entry of its
// deletion came first) is told apart by its hash.
type indexConsumer struct {
	shard *store.Shard
	blobs *blob.Store
	ix    *fts.Index
	// gate, when set, is shared by the live replicators of every shard:
	// a batch of fewer than catchUpBodies new entries is applied only
	// while holding one of its slots (see liveGate).
	gate chan struct{}
}

func newIndexConsumer(sh *store.Shard, blobs *blob.Store, ix *fts.Index) *indexConsumer {
	return &indexConsumer{shard: sh, blobs: blobs, ix: ix}
}

// catchUpBodies is the number of new bodies in one batch from which the
// index counts as behind (a rebuild, a restart after a while, a bulk
// import): it then extracts and tokenises on every CPU. Below, as under a
// steady delivery load (a few hundred bodies per second in batches of at
// least 200 ms), it uses half the CPUs (at least one) and leaves the
// others to the deliveries.
const catchUpBodies = 500

// liveGate returns the gate shared by the live replicators: as many slots
// as the workers a steady-load batch uses, so that the shards' batches,
// which the coalescing puts in step, take turns instead of taking every
// CPU at once. On 2 cores the four shards' batches had arrived within a
// few milliseconds of each other, each 10-50 ms of work, and every
// delivery then in progress waited for them (LMTP p99 about 30 ms).
func liveGate() chan struct{} {
	return make(chan struct{}, workersFor(0))
}

// workersFor returns how many goroutines extract and tokenise a batch of
// n new bodies.
func workersFor(n int) int {
	if n >= catchUpBodies {
		return runtime.GOMAXPROCS(0)
	}
	return max(1, runtime.GOMAXPROCS(0)/2)
}

func (c *indexConsumer) Name() string { return "index" }

func (c *indexConsumer) Cursor(ctx context.Context) (int64, error) {
	return c.ix.Cursor(ctx, cursorName)
}

func (c *indexConsumer) Apply(ctx context.Context, changes []store.Change) error {
	var ids []int64
	for _, ch := range changes {
		if (ch.Kind == store.ChangeAppend || ch.Kind == store.ChangeBodyDelete) && ch.BodyID > 0 {
			ids = append(ids, ch.BodyID)
		}
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)
	if c.gate != nil && len(ids) > 0 && len(ids) < catchUpBodies {
		select {
		case c.gate <- struct{}{}:
			defer func() { <-c.gate }()
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	_, err := c.sync(ctx, ids, false, changes[len(changes)-1].ID)
	return err
}

// syncResult counts what a sync did.
type syncResult struct {
	Checked int `json:"checked"` // bodies looked at
	Indexed int `json:"indexed"` // entries written
	Removed int `json:"removed"` // entries deleted
	Missing int `json:"missing"` // bodies whose file could not be read
}

func (r *syncResult) add(o syncResult) {
	r.Checked += o.Checked
	r.Indexed += o.Indexed
	r.Removed += o.Removed
	r.Missing += o.Missing
}

// sync makes the index entries of ids agree with the store: bodies that
// exist are indexed (again, when force is set, or when the index lacks
// them or holds another body under the ID), bodies that do not are
// removed. It records cursor in the same transaction.
func (c *indexConsumer) sync(ctx context.Context, ids []int64, force bool, cursor int64) (syncResult, error) {
	res := syncResult{Checked: len(ids)}
	if len(ids) == 0 {
		return res, c.ix.Apply(ctx, nil, nil, cursorName, cursor)
	}
	now, err := c.shard.Bodies(ctx, ids)
	if err != nil {
		return res, err
	}
	have, err := c.ix.Hashes(ctx, ids)
	if err != nil {
		return res, err
	}
	var todo []store.BodyRef
	var del []int64
	for _, id := range ids {
		b, exists := now[id]
		h, indexed := have[id]
		switch {
		case !exists && indexed:
			del = append(del, id)
		case exists && (force || !indexed || h != [32]byte(b.Hash)):
			todo = append(todo, b)
		}
	}
	// Each body is read and extracted by one of Apply's workers
	// (fts.Entry.Load), so that extracting the next bodies overlaps
	// writing the first ones.
	var missing atomic.Int64
	put := make([]fts.Entry, len(todo))
	for i, b := range todo {
		put[i] = fts.Entry{BodyID: b.ID, Hash: b.Hash, Load: func() (fts.Doc, bool, error) {
			doc, err := c.document(b)
			if errors.Is(err, fs.ErrNotExist) {
				// The collector removed the file after the body's
				// deletion, which a later entry records.
				missing.Add(1)
				return fts.Doc{}, false, nil
			}
			return doc, err == nil, err
		}}
	}
	c.ix.SetWorkers(workersFor(len(todo)))
	if err := c.ix.Apply(ctx, put, del, cursorName, cursor); err != nil {
		return res, err
	}
	m := int(missing.Load())
	res.Indexed, res.Removed, res.Missing = len(put)-m, len(del), m
	return res, nil
}

// document reads one body and extracts its searchable text.
func (c *indexConsumer) document(b store.BodyRef) (fts.Doc, error) {
	meta, err := message.Unmarshal(b.Meta)
	if err != nil {
		return fts.Doc{}, fmt.Errorf("body %d: metadata: %w", b.ID, err)
	}
	f, err := c.blobs.Open(b.Hash)
	if err != nil {
		return fts.Doc{}, err
	}
	defer f.Close()
	raw := rawBuffers.Get(int(meta.Size), 16<<10)
	defer rawBuffers.Put(raw)
	if _, err := io.ReadFull(f, raw); err != nil {
		return fts.Doc{}, fmt.Errorf("body %d: %w", b.ID, err)
	}
	// The Doc holds copies (strings), never raw itself.
	return fts.Extract(raw, meta), nil
}

// rawBuffers hold the bodies read for extraction, up to 256 KB: one
// allocated for every body indexed was a twentieth of what the server
// allocated under the LMTP benchmark. Four are held through garbage
// collections, between a shard's batches: a live batch has one
// extraction worker per two cores.
var rawBuffers = bufpool.Pool[byte]{Keep: 256 << 10, Hold: 4}

// bodyPage is how many bodies a rebuild handles per transaction.
const bodyPage = 500

// rebuild re-extracts every body of the shard and removes the entries of
// bodies that no longer exist, page by page; between pages it calls
// between (which applies the change log meanwhile), so a rebuild of a big
// shard does not hold search back. The cursor is not moved: bodies never
// change, so every entry already there stays true while the rebuild runs.
func (c *indexConsumer) rebuild(ctx context.Context, cursor func() int64, between func() error) (syncResult, error) {
	var res syncResult
	after := int64(0)
	for {
		page, err := c.shard.BodyPage(ctx, after, bodyPage)
		if err != nil || len(page) == 0 {
			if err != nil {
				return res, err
			}
			break
		}
		ids := make([]int64, len(page))
		for i, b := range page {
			ids[i] = b.ID
		}
		r, err := c.sync(ctx, ids, true, cursor())
		if err != nil {
			return res, err
		}
		res.add(r)
		after = ids[len(ids)-1]
		if err := between(); err != nil {
			return res, err
		}
	}
	removed, err := c.dropExtra(ctx, cursor)
	res.Removed += removed
	return res, err
}

// dropExtra removes the entries of bodies the shard no longer holds.
func (c *indexConsumer) dropExtra(ctx context.Context, cursor func() int64) (int, error) {
	var ids []int64
	for id, err := range c.ix.IDs(ctx) {
		if err != nil {
			return 0, err
		}
		ids = append(ids, id)
	}
	removed := 0
	for len(ids) > 0 {
		n := min(len(ids), bodyPage)
		part := ids[:n]
		ids = ids[n:]
		now, err := c.shard.Bodies(ctx, part)
		if err != nil {
			return removed, err
		}
		var del []int64
		for _, id := range part {
			if _, ok := now[id]; !ok {
				del = append(del, id)
			}
		}
		if len(del) == 0 {
			continue
		}
		if err := c.ix.Apply(ctx, nil, del, cursorName, cursor()); err != nil {
			return removed, err
		}
		removed += len(del)
	}
	return removed, nil
}

// mailboxBodies returns the IDs of the bodies of the given mailboxes.
func mailboxBodies(ctx context.Context, sh *store.Shard, st *store.Store, mailboxes []int64) ([]int64, error) {
	seen := map[int64]bool{}
	for _, id := range mailboxes {
		mb, err := st.Mailbox(sh.Index, id)
		if err != nil {
			return nil, err
		}
		uses, err := sh.BodyUses(ctx, mb)
		if err != nil {
			return nil, err
		}
		for b := range uses {
			seen[b] = true
		}
	}
	ids := make([]int64, 0, len(seen))
	for id := range seen {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids, nil
}
