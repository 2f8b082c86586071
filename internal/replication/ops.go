package replication

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/petrelmail/petrel/internal/fts"
	"github.com/petrelmail/petrel/internal/store"
)

// State names of a shard's replicator in Status.
const (
	StateActive  = "active"  // its lease is held and it beats
	StateStalled = "stalled" // its lease is held but it has not beaten for staleAfter
	StateStopped = "stopped" // nobody holds its lease
)

const staleAfter = 30 * time.Second

// ShardStatus is what `petrel replication status` shows for a shard.
type ShardStatus struct {
	Shard      int       `json:"shard"`
	State      string    `json:"state"`
	PID        int       `json:"pid,omitempty"`
	Cursor     int64     `json:"cursor"`
	Head       int64     `json:"head"`
	Backlog    int64     `json:"backlog"`
	LagSeconds float64   `json:"lag_seconds"`
	LastHour   int64     `json:"messages_last_hour"`
	Indexed    int64     `json:"bodies_indexed"`
	Errors     int64     `json:"errors"`
	LastError  string    `json:"last_error,omitempty"`
	ErrorAt    time.Time `json:"last_error_at,omitzero"`
}

// Status reports every shard's replication: who runs it, where its cursor
// is against the head of the change log, and how late it is. It reads
// the data folder, so it tells the truth about a server running in
// another process too.
func (m *Manager) Status(ctx context.Context) ([]ShardStatus, error) {
	var out []ShardStatus
	for i, sh := range m.st.Shards() {
		s := ShardStatus{Shard: i, State: StateStopped}
		held, pid, err := leaseHeld(m.opts.DataDir, i)
		if err != nil {
			return nil, err
		}
		hb, err := m.state.heartbeat(ctx, i)
		if err != nil {
			return nil, err
		}
		if held {
			s.State, s.PID = StateActive, pid
			if time.Since(hb.Beat) > staleAfter {
				s.State = StateStalled
			}
		}
		s.LastHour, s.Errors, s.LastError, s.ErrorAt = hb.LastHour, hb.Errors, hb.LastError, hb.ErrorAt
		if s.Cursor, err = m.indexes[i].Cursor(ctx, cursorName); err != nil {
			return nil, err
		}
		if _, s.Head, err = sh.LogBounds(ctx); err != nil {
			return nil, err
		}
		s.Backlog = max(s.Head-s.Cursor, 0)
		if s.Backlog > 0 {
			if _, at, ok, err := sh.ChangeAfter(ctx, s.Cursor); err == nil && ok {
				s.LagSeconds = max(time.Since(at).Seconds(), 0)
			}
		}
		if s.Indexed, err = m.indexes[i].Count(ctx); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

// Progress counts a scope's messages against those the index holds. A
// body held by several messages (the same delivery to N users) counts
// once in Bodies and IndexedBodies.
type Progress struct {
	Scope           string `json:"scope"`
	Shard           int    `json:"shard"`
	Messages        int64  `json:"messages"`
	IndexedMessages int64  `json:"indexed_messages"`
	Bodies          int64  `json:"bodies"`
	IndexedBodies   int64  `json:"indexed_bodies"`
}

// MailboxRef names a mailbox for the operations: its shard and ID, and a
// label (the address) for reports.
type MailboxRef struct {
	Label string
	Shard int
	ID    int64
}

// ShardProgress counts a whole shard.
func (m *Manager) ShardProgress(ctx context.Context, shard int) (Progress, error) {
	p := Progress{Scope: fmt.Sprintf("shard %d", shard), Shard: shard}
	return p, m.countProgress(ctx, shard, nil, &p)
}

// MailboxProgress counts one mailbox.
func (m *Manager) MailboxProgress(ctx context.Context, ref MailboxRef) (Progress, error) {
	p := Progress{Scope: ref.Label, Shard: ref.Shard}
	mb, err := m.st.Mailbox(ref.Shard, ref.ID)
	if err != nil {
		return p, err
	}
	return p, m.countProgress(ctx, ref.Shard, mb, &p)
}

func (m *Manager) countProgress(ctx context.Context, shard int, mb *store.Mailbox, p *Progress) error {
	sh, err := m.st.Shard(shard)
	if err != nil {
		return err
	}
	uses, err := sh.BodyUses(ctx, mb)
	if err != nil {
		return err
	}
	ids := make([]int64, 0, len(uses))
	for id := range uses {
		ids = append(ids, id)
	}
	have, err := m.indexes[shard].Hashes(ctx, ids)
	if err != nil {
		return err
	}
	for id, u := range uses {
		p.Bodies++
		p.Messages += u.Messages
		if h, ok := have[id]; ok && h == [32]byte(u.Hash) {
			p.IndexedBodies++
			p.IndexedMessages += u.Messages
		}
	}
	return nil
}

// Result is what a requeue or reindex did.
type Result = syncResult

// Request kinds.
const (
	KindRequeue = "requeue" // index the bodies of the mailboxes that the index lacks
	KindReindex = "reindex" // extract and index again every body of the mailboxes (all: the shard)
)

// Run runs a requeue or reindex on a shard, for the given mailboxes (none:
// the whole shard). Where it runs depends on who holds the shard:
//   - this process's replicator: queued to it, and awaited;
//   - nobody (no server runs): here, under the shard's lease;
//   - another process (a running server): queued in the state database
//     for that server's replicator, and awaited.
//
// Either way only the shard's replicator writes its index.
func (m *Manager) Run(ctx context.Context, shard int, kind string, mailboxes []int64) (Result, error) {
	if kind != KindRequeue && kind != KindReindex {
		return Result{}, fmt.Errorf("unknown replication request %q", kind)
	}
	if shard < 0 || shard >= len(m.indexes) {
		return Result{}, fmt.Errorf("no shard %d", shard)
	}
	if mailboxes == nil {
		mailboxes = []int64{}
	}
	mbJSON, _ := json.Marshal(mailboxes)
	m.mu.Lock()
	local := m.running[shard] != nil
	m.mu.Unlock()
	if !local {
		if l, err := acquireLease(m.opts.DataDir, shard); err == nil {
			defer l.release()
			sh := m.st.Shards()[shard]
			c := newIndexConsumer(sh, m.st.Blobs(), m.indexes[shard])
			cursor, err := c.Cursor(ctx)
			if err != nil {
				return Result{}, err
			}
			return m.execute(ctx, c, request{Shard: shard, Kind: kind, Mailboxes: string(mbJSON)},
				func() int64 { return cursor }, func() error { return nil })
		} else if !errors.Is(err, errLeaseHeld) {
			return Result{}, err
		}
	}
	id, err := m.state.enqueue(ctx, shard, kind, string(mbJSON))
	if err != nil {
		return Result{}, err
	}
	select {
	case m.kicks[shard] <- struct{}{}:
	default:
	}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return Result{}, fmt.Errorf("request %d queued but not finished: %w", id, ctx.Err())
		case <-tick.C:
		}
		req, err := m.state.request(ctx, id)
		if err != nil {
			return Result{}, err
		}
		if !req.Finished {
			continue
		}
		var res Result
		json.Unmarshal([]byte(req.Result), &res)
		if req.Error != "" {
			return res, errors.New(req.Error)
		}
		return res, nil
	}
}

// execute runs a request with the index consumer of its shard. cursor
// gives the index's current cursor (kept as it is); between runs between
// pages of a long request.
func (m *Manager) execute(ctx context.Context, c *indexConsumer, req request, cursor func() int64, between func() error) (Result, error) {
	var mailboxes []int64
	if err := json.Unmarshal([]byte(req.Mailboxes), &mailboxes); err != nil {
		return Result{}, fmt.Errorf("request %d: %w", req.ID, err)
	}
	force := req.Kind == KindReindex
	if len(mailboxes) == 0 && force {
		return c.rebuild(ctx, cursor, between)
	}
	var ids []int64
	var err error
	if len(mailboxes) == 0 {
		// Requeue of a whole shard: every body.
		after := int64(0)
		for {
			page, err := c.shard.BodyPage(ctx, after, bodyPage)
			if err != nil {
				return Result{}, err
			}
			if len(page) == 0 {
				break
			}
			for _, b := range page {
				ids = append(ids, b.ID)
			}
			after = page[len(page)-1].ID
		}
	} else if ids, err = mailboxBodies(ctx, c.shard, m.st, mailboxes); err != nil {
		return Result{}, err
	}
	var res Result
	for len(ids) > 0 {
		n := min(len(ids), bodyPage)
		r, err := c.sync(ctx, ids[:n], force, cursor())
		res.add(r)
		if err != nil {
			return res, err
		}
		ids = ids[n:]
		if err := between(); err != nil {
			return res, err
		}
	}
	return res, nil
}

// Watermark returns the MODSEQ up to which the shard's index is complete:
// every message whose MODSEQ is below it has its body in the index.
// Messages at or above it may not (search must read them directly). A
// message's MODSEQ only grows, and the entry that appended it has a MODSEQ
// no greater than the message's, so "MODSEQ >= watermark" covers every
// message the index may lack.
func (m *Manager) Watermark(ctx context.Context, shard int) (int64, error) {
	sh, err := m.st.Shard(shard)
	if err != nil {
		return 0, err
	}
	cursor, err := m.indexes[shard].Cursor(ctx, cursorName)
	if err != nil || cursor == 0 {
		return 0, err
	}
	// Entries of one transaction share a MODSEQ, and a batch may end
	// inside one: the entry after the cursor bounds what is complete.
	modseq, _, ok, err := sh.ChangeAfter(ctx, cursor)
	if err != nil {
		return 0, err
	}
	if ok {
		return modseq, nil
	}
	// Nothing after the cursor: everything at or below its MODSEQ is in.
	modseq, _, ok, err = sh.ChangeAtOrBefore(ctx, cursor)
	if err != nil || !ok {
		return 0, err
	}
	return modseq + 1, nil
}

// WaitCaughtUp waits until every shard's index has applied the change log
// up to the head it had when called.
func (m *Manager) WaitCaughtUp(ctx context.Context) error {
	heads := make([]int64, len(m.indexes))
	for i, sh := range m.st.Shards() {
		_, last, err := sh.LogBounds(ctx)
		if err != nil {
			return err
		}
		heads[i] = last
	}
	for i := range heads {
		for {
			c, err := m.indexes[i].Cursor(ctx, cursorName)
			if err != nil {
				return err
			}
			if c >= heads[i] {
				break
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(10 * time.Millisecond):
			}
		}
	}
	return nil
}

// Diff lists where a shard's index differs from one rebuilt from the
// store: bodies it lacks, entries of bodies that are gone, and entries
// whose hash or text differ from a fresh extraction.
type Diff struct {
	Missing []int64
	Extra   []int64
	Stale   []int64
}

// Empty reports whether the index equals the rebuilt one.
func (d Diff) Empty() bool { return len(d.Missing)+len(d.Extra)+len(d.Stale) == 0 }

// Compare extracts every body of the shard again and compares the result
// with the index, entry by entry. It reads everything: a check for tests
// and `fsck`, not for every day.
func (m *Manager) Compare(ctx context.Context, shard int) (Diff, error) {
	var d Diff
	sh, err := m.st.Shard(shard)
	if err != nil {
		return d, err
	}
	c := newIndexConsumer(sh, m.st.Blobs(), m.indexes[shard])
	inStore := map[int64]bool{}
	after := int64(0)
	for {
		page, err := sh.BodyPage(ctx, after, bodyPage)
		if err != nil {
			return d, err
		}
		if len(page) == 0 {
			break
		}
		after = page[len(page)-1].ID
		ids := make([]int64, len(page))
		for i, b := range page {
			ids[i] = b.ID
			inStore[b.ID] = true
		}
		full, err := sh.Bodies(ctx, ids)
		if err != nil {
			return d, err
		}
		have, err := c.ix.Hashes(ctx, ids)
		if err != nil {
			return d, err
		}
		want := map[int64]fts.Doc{}
		for _, id := range ids {
			b, ok := full[id]
			if !ok {
				continue // deleted since the page was read
			}
			h, ok := have[id]
			if !ok {
				d.Missing = append(d.Missing, id)
				continue
			}
			if h != [32]byte(b.Hash) {
				d.Stale = append(d.Stale, id)
				continue
			}
			doc, err := c.document(b)
			if err != nil {
				return d, err
			}
			want[id] = doc
		}
		var got []int64
		err = c.ix.Docs(ctx, ids, func(id int64, doc fts.Doc) bool {
			got = append(got, id)
			if w, ok := want[id]; ok && !sameDoc(w, doc) {
				d.Stale = append(d.Stale, id)
			}
			return true
		})
		if err != nil {
			return d, err
		}
	}
	for id, err := range c.ix.IDs(ctx) {
		if err != nil {
			return d, err
		}
		if !inStore[id] {
			d.Extra = append(d.Extra, id)
		}
	}
	return d, nil
}

func sameDoc(a, b fts.Doc) bool {
	if a.Header != b.Header || a.Fields != b.Fields || len(a.Body) != len(b.Body) {
		return false
	}
	for i := range a.Body {
		if a.Body[i] != b.Body[i] {
			return false
		}
	}
	return true
}

// Candidates is what the index tells about a search on a shard: the
// bodies that may match, and the watermark below which the index is
// complete.
type Candidates struct {
	Bodies    []int64 // sorted
	Watermark int64
}

// Maybe tells whether a message (its body and MODSEQ) may match: its body
// is among the candidates, or the index may not have it yet, in which
// case the caller must look at the message itself.
func (c *Candidates) Maybe(bodyID, modseq int64) bool {
	if modseq >= c.Watermark {
		return true
	}
	_, found := slices.BinarySearch(c.Bodies, bodyID)
	return found
}

// Candidates asks a shard's index which bodies may satisfy cond. ok is
// false when the index cannot narrow cond (every message must be looked
// at). The watermark is read before the index is queried: a message
// indexed after the watermark was read has a MODSEQ at or above it, so it
// is looked at directly; the search never misses a message of the store.
func (m *Manager) Candidates(ctx context.Context, shard int, cond fts.Cond) (c Candidates, ok bool, err error) {
	ix := m.Index(shard)
	if ix == nil {
		return c, false, fmt.Errorf("no shard %d", shard)
	}
	if c.Watermark, err = m.Watermark(ctx, shard); err != nil {
		return c, false, err
	}
	c.Bodies, ok, err = ix.Query(ctx, cond)
	return c, ok && err == nil, err
}

// Docs streams the stored searchable text of the given bodies of a shard,
// for checking candidates without reading the messages: only the entries
// whose hash is the one given (a body ID given to a new body since is
// skipped, and the caller reads that message itself).
func (m *Manager) Docs(ctx context.Context, shard int, want map[int64][32]byte, fn func(id int64, d fts.Doc) bool) error {
	ix := m.Index(shard)
	if ix == nil {
		return fmt.Errorf("no shard %d", shard)
	}
	ids := make([]int64, 0, len(want))
	for id := range want {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	have, err := ix.Hashes(ctx, ids)
	if err != nil {
		return err
	}
	ids = slices.DeleteFunc(ids, func(id int64) bool {
		h, ok := have[id]
		return !ok || h != want[id]
	})
	return ix.Docs(ctx, ids, fn)
}
