package fts

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"runtime"
	"slices"
)

// Column is the part of a Doc a Term looks in.
//
// The index keeps two sets of keys per body: the trigrams of the header
// and body texts, and, marked apart, those of the fields (see gramKey and
// docKeys). ColAny, ColHeader and ColBody narrow by the first set,
// ColFields by the second; the verification against the stored Doc tells
// header from body.
type Column int

const (
	// ColAny is any text of the Doc: TEXT (Header and Body).
	ColAny Column = iota
	// ColHeader is Header: HEADER.
	ColHeader
	// ColBody is Body: BODY.
	ColBody
	// ColFields is Fields: SUBJECT, FROM, TO, CC, BCC (and the file
	// names of attachments).
	ColFields
)

// CondOp is the kind of a Cond.
type CondOp int

const (
	// Term: the column contains Needle.
	Term CondOp = iota
	// And: every one of Kids holds.
	And
	// Or: at least one of Kids holds.
	Or
)

// Cond is a boolean condition on the text of a body. Negations have no
// place in it: a NOT narrows nothing, and the caller leaves it out (or
// gives up narrowing the Or it is in).
type Cond struct {
	Op     CondOp
	Col    Column
	Needle string // folded (Fold)
	Kids   []Cond
}

// plan is a Cond reduced to what narrows: nil when nothing does.
type plan struct {
	op     CondOp
	keys   []uint32 // Term: all of them
	kids   []*plan  // And, Or
	height int
}

// nothing is the plan of an Or without kids, which no body satisfies.
var nothing = &plan{op: Or}

func planOf(c *Cond) *plan {
	switch c.Op {
	case Term:
		keys := needleKeys(c.Needle)
		if len(keys) == 0 {
			return nil // fewer than three runes: every body may match
		}
		if c.Col == ColFields {
			for i := range keys {
				keys[i] |= fieldBit
			}
		}
		return &plan{op: Term, keys: keys, height: 1}
	case And:
		p := &plan{op: And}
		var keys []uint32
		for i := range c.Kids {
			k := planOf(&c.Kids[i])
			switch {
			case k == nil:
				// Dropped: the others narrow (or nothing does).
			case k == nothing:
				return nothing
			case k.op == Term:
				keys = append(keys, k.keys...)
			case k.op == And:
				keys = append(keys, k.keys...)
				p.kids = append(p.kids, k.kids...)
			default:
				p.kids = append(p.kids, k)
			}
		}
		if len(keys) > 0 {
			slices.Sort(keys)
			keys = slices.Compact(keys)
			p.keys = keys
		}
		if len(p.kids) == 0 {
			if keys == nil {
				return nil
			}
			return &plan{op: Term, keys: keys, height: 1}
		}
		if keys == nil && len(p.kids) == 1 {
			return p.kids[0]
		}
		p.height = 1
		for _, k := range p.kids {
			p.height = max(p.height, k.height+1)
		}
		return p
	case Or:
		p := &plan{op: Or}
		for i := range c.Kids {
			k := planOf(&c.Kids[i])
			switch {
			case k == nil:
				return nil // that side may match anything
			case k == nothing:
			case k.op == Or:
				p.kids = append(p.kids, k.kids...)
			default:
				p.kids = append(p.kids, k)
			}
		}
		switch len(p.kids) {
		case 0:
			return nothing
		case 1:
			return p.kids[0]
		}
		for _, k := range p.kids {
			p.height = max(p.height, k.height+1)
		}
		return p
	}
	return nil
}

// Query returns the sorted IDs of the indexed bodies that may satisfy c:
// every indexed body that satisfies it is among them. ok is false when c
// cannot narrow (a Term whose needle has fewer than three runes, on which
// the others do not depend): the caller must then consider every body.
// Bodies not indexed yet are never returned: the caller looks at them
// itself.
func (ix *Index) Query(ctx context.Context, c Cond) (ids []int64, ok bool, err error) {
	p := planOf(&c)
	if p == nil || ix.Stale() {
		return nil, false, nil
	}
	// One read transaction: the segments, their blocks and the
	// tombstones of one state of the index.
	tx, err := ix.db.Read.BeginTx(ctx, nil)
	if err != nil {
		return nil, false, err
	}
	defer tx.Rollback()
	r := &postingsReader{ctx: ctx}
	var seq int64
	if err := tx.QueryRowContext(ctx, `SELECT value FROM counters WHERE name = 'seq'`).Scan(&seq); err != nil {
		return nil, false, err
	}
	if r.tombs, r.maxAt, err = ix.tombstonesAt(ctx, tx, seq); err != nil {
		return nil, false, err
	}
	if r.segs, err = readSegments(ctx, tx, ``); err != nil {
		return nil, false, err
	}
	if r.get, err = tx.PrepareContext(ctx, `SELECT rowid, data FROM postings WHERE rowid >= ? AND rowid <= ? ORDER BY rowid DESC LIMIT 1`); err != nil {
		return nil, false, err
	}
	defer r.get.Close()
	ids, err = r.eval(p)
	return ids, err == nil, err
}

// tombstonesAt returns the tombstones of the index as of batch seq, read
// in tx: those kept from the last query of the same batch, or read again.
// The map returned is never changed afterwards.
func (ix *Index) tombstonesAt(ctx context.Context, tx *sql.Tx, seq int64) (tombstones, int64, error) {
	ix.tombMu.Lock()
	defer ix.tombMu.Unlock()
	if ix.tombs != nil && ix.tombSeq == seq {
		return ix.tombs, ix.tombMax, nil
	}
	t := tombstones{}
	maxAt, err := readTombstones(ctx, tx, t)
	if err != nil {
		return nil, 0, err
	}
	if ix.tombs == nil || seq > ix.tombSeq {
		ix.tombs, ix.tombMax, ix.tombSeq = t, maxAt, seq
	}
	return t, maxAt, nil
}

// postingsReader reads posting lists within a read transaction.
type postingsReader struct {
	ctx   context.Context
	get   *sql.Stmt
	segs  []segment
	tombs tombstones
	maxAt int64
}

// list returns the sorted IDs of the live postings of key k.
func (r *postingsReader) list(k uint32) ([]int64, error) {
	out := []int64{}
	sorted := true
	for _, s := range r.segs {
		var rowid int64
		var data []byte
		err := r.get.QueryRowContext(r.ctx, rowKey(s.id, 0), rowKey(s.id, k)).Scan(&rowid, &data)
		if errors.Is(err, sql.ErrNoRows) {
			continue
		}
		if err != nil {
			return nil, err
		}
		it := newBlockIter(uint32(rowid&termMask), data)
		for it.next() {
			if it.term < k {
				continue
			}
			if it.term == k {
				n := len(out)
				if out, err = decodeList(out, it.kind, it.payload, s.base, r.tombs.keep(s.hi, r.maxAt)); err != nil {
					return nil, fmt.Errorf("fts: segment %d: %w", s.id, err)
				}
				if n > 0 && len(out) > n && out[n] <= out[n-1] {
					sorted = false
				}
			}
			break
		}
		if it.err != nil {
			return nil, fmt.Errorf("fts: segment %d: %w", s.id, it.err)
		}
	}
	if !sorted {
		slices.Sort(out)
		out = slices.Compact(out)
	}
	return out, nil
}

// eval returns the sorted IDs that may satisfy p.
func (r *postingsReader) eval(p *plan) ([]int64, error) {
	if p.op == Or {
		acc := []int64{}
		for _, k := range p.kids {
			ids, err := r.eval(k)
			if err != nil {
				return nil, err
			}
			acc = union(acc, ids)
		}
		return acc, nil
	}
	// Term and And: every key and every kid.
	var acc []int64
	first := true
	and := func(ids []int64) {
		if first {
			acc, first = ids, false
		} else {
			acc = intersect(acc, ids)
		}
	}
	for _, k := range p.keys {
		ids, err := r.list(k)
		if err != nil {
			return nil, err
		}
		if and(ids); len(acc) == 0 {
			return []int64{}, nil
		}
	}
	for _, kid := range p.kids {
		ids, err := r.eval(kid)
		if err != nil {
			return nil, err
		}
		if and(ids); len(acc) == 0 {
			return []int64{}, nil
		}
	}
	if acc == nil {
		acc = []int64{}
	}
	return acc, nil
}

func intersect(a, b []int64) []int64 {
	out := a[:0:0]
	for i, j := 0, 0; i < len(a) && j < len(b); {
		switch {
		case a[i] < b[j]:
			i++
		case a[i] > b[j]:
			j++
		default:
			out = append(out, a[i])
			i++
			j++
		}
	}
	return out
}

func union(a, b []int64) []int64 {
	out := make([]int64, 0, len(a)+len(b))
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		switch {
		case a[i] < b[j]:
			out = append(out, a[i])
			i++
		case a[i] > b[j]:
			out = append(out, b[j])
			j++
		default:
			out = append(out, a[i])
			i++
			j++
		}
	}
	out = append(out, a[i:]...)
	return append(out, b[j:]...)
}

// docsChunk is how many IDs one read of Docs looks up.
const docsChunk = 256

// docsChunkOf is the IDs of one chunk that are indexed, each with its
// block, decompressed by the workers.
type docsChunkOf struct {
	ids    []int64
	blocks []*docsBlock // of each of ids
}

type docsBlock struct {
	id   int64
	data []byte // compressed, until decoded
	raw  []byte
	err  error
	done chan struct{}
	used int // the last chunk that needed it
}

// docsKeep is how many chunks a decoded block is kept for after the last
// one that needed it: the Docs of a batch are ordered by sender in their
// blocks (groupKey), so the IDs of a block are spread over the batch, and
// consecutive chunks of candidates need the same blocks again. A block's
// content never changes (block IDs are not reused), so a block decoded
// for one chunk serves the next ones.
const docsKeep = 2

// Docs calls fn with the stored Doc of each of ids that is indexed, in
// ascending ID order, until fn returns false; ids must be sorted. The
// texts are read by one goroutine, a chunk of IDs and their blocks in one
// read transaction, and the blocks decompressed by one goroutine per CPU
// while fn runs; fn is called from the calling goroutine.
func (ix *Index) Docs(ctx context.Context, ids []int64, fn func(id int64, d Doc) bool) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ordered := make(chan *docsChunkOf, 2)
	work := make(chan *docsBlock, 2*docsChunk)
	var readErr error
	go func() {
		defer close(ordered)
		defer close(work)
		recent := map[int64]*docsBlock{}
		for n := 0; len(ids) > 0; n++ {
			if readErr = ctx.Err(); readErr != nil {
				return
			}
			chunk := ids[:min(len(ids), docsChunk)]
			ids = ids[len(chunk):]
			c, blocks, err := ix.readChunk(ctx, chunk, recent, n)
			if readErr = err; err != nil {
				return
			}
			for id, b := range recent {
				if b.used < n-docsKeep {
					delete(recent, id)
				}
			}
			select {
			case ordered <- c:
			case <-ctx.Done():
				// The caller is gone (fn panicked): nobody reads.
				readErr = ctx.Err()
				return
			}
			for _, b := range blocks {
				work <- b
			}
		}
	}()
	for range runtime.GOMAXPROCS(0) {
		go func() {
			_, dec := zstdCodec()
			for b := range work {
				var err error
				if b.raw, err = dec.DecodeAll(b.data, nil); err != nil {
					b.err = errCorrupt
				}
				b.data = nil
				close(b.done)
			}
		}()
	}
	var err error
	stopped := false // by fn or an error: the reader's error is then ours
chunks:
	for c := range ordered {
		for i, id := range c.ids {
			b := c.blocks[i]
			<-b.done
			var d Doc
			if err = b.err; err == nil {
				d, err = blockDoc(b.raw, id)
			}
			if err != nil {
				err = fmt.Errorf("fts: body %d (text block %d): %w", id, b.id, err)
			}
			if err != nil || !fn(id, d) {
				stopped = true
				break chunks
			}
		}
	}
	cancel()
	for c := range ordered {
		// Let the reader see the cancellation and stop, and the workers
		// finish.
		_ = c
	}
	if err == nil && !stopped {
		err = readErr // set before ordered was closed
	}
	return err
}

// readChunk reads, in one read transaction, the block of each of ids
// (sorted) that is indexed and the data of those blocks that are not in
// recent, returned to be decoded; it adds them to recent, and marks every
// block it needs as used by chunk n.
func (ix *Index) readChunk(ctx context.Context, ids []int64, recent map[int64]*docsBlock, n int) (*docsChunkOf, []*docsBlock, error) {
	tx, err := ix.db.Read.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, nil, err
	}
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, `SELECT body_id, block FROM texts WHERE body_id IN (SELECT value FROM json_each(?)) ORDER BY body_id`, idList(ids))
	if err != nil {
		return nil, nil, err
	}
	c := &docsChunkOf{}
	byID := map[int64]*docsBlock{} // to read
	var blocks []*docsBlock
	var blockIDs []int64
	for rows.Next() {
		var id, block int64
		if err := rows.Scan(&id, &block); err != nil {
			rows.Close()
			return nil, nil, err
		}
		b := recent[block]
		if b == nil {
			b = &docsBlock{id: block, done: make(chan struct{})}
			byID[block] = b
			recent[block] = b
			blocks = append(blocks, b)
			blockIDs = append(blockIDs, block)
		}
		b.used = n
		c.ids = append(c.ids, id)
		c.blocks = append(c.blocks, b)
	}
	rows.Close()
	if err := rows.Err(); err != nil || len(blocks) == 0 {
		return c, nil, err
	}
	rows, err = tx.QueryContext(ctx, `SELECT id, data FROM textblocks WHERE id IN (SELECT value FROM json_each(?))`, idList(blockIDs))
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var data []byte
		if err := rows.Scan(&id, &data); err != nil {
			return nil, nil, err
		}
		if b := byID[id]; b != nil {
			b.data = data
		}
	}
	if err := rows.Err(); err != nil {
		return nil, nil, err
	}
	for _, b := range blocks {
		if b.data == nil {
			return nil, nil, fmt.Errorf("fts: text block %d: %w", b.id, errCorrupt)
		}
	}
	return c, blocks, nil
}
