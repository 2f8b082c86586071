package fts

import (
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/petrelmail/petrel/internal/bufpool"
)

// The stored texts: the Doc of every indexed body, which verifies the
// candidates the posting lists give (a body holding every trigram of a
// needle need not hold the needle).
//
// The Docs of several bodies are compressed together, in blocks of about
// textBlockRaw bytes before compression (table textblocks): messages that
// arrive together share much of their header text (Received chains, list
// and authentication fields, the same senders), which a frame per body
// cannot use. On the second half of the benchmark's corpus (3,000
// messages), in shares of their mail volume: one zstd frame per Doc 27.3 %,
// blocks of 4 Docs 21.7 %, of 8 20.0 %, of 16 18.8 %; a zstd dictionary of
// 256 KB sampled from the first half, one frame per Doc, 21.7 %. Reading a
// Doc decompresses its block: about 30 µs for one of 32 KB, and Docs
// decompresses a block once for all the candidates it holds.
//
// Table texts maps each body ID to its hash, its block and the size of
// its encoded Doc. A textblocks row holds a block's compressed data with:
// docs, how many Docs it was written with; live, how many texts rows still
// point to it (it is deleted at 0); raw, its size before compression;
// fill, the bytes of its live Docs (indexed). A Doc removed or replaced
// stays in its block, dead, until the block is deleted or repacked.
//
// Small blocks (fill under half of textBlockRaw: the last block of a
// batch, the block of a batch of a few bodies, a block most of whose Docs
// are dead) are repacked into full ones once there are enough of them to
// fill one (repack): under a trickle of deliveries a text is written
// about twice, and what is not yet compressed together is less than a
// block's worth.

// textBlockRaw is the size before compression from which a block is
// full. Compressed, a full block is about a page (pageSize).
const textBlockRaw = 64 << 10

// repackMax bounds the live bytes one Apply repacks, so that a mass
// removal is repacked over the following batches, not all in one.
const repackMax = 8 * textBlockRaw

// textStmts are the prepared statements on the stored texts.
type textStmts struct {
	get, put, del, move, getBlock, putBlock, decBlock, dropBlock *sql.Stmt
}

func (s *textStmts) prepare(ctx context.Context, db *sql.DB) error {
	for _, p := range []struct {
		stmt **sql.Stmt
		sql  string
	}{
		{&s.get, `SELECT block, size FROM texts WHERE body_id = ?`},
		{&s.put, `INSERT INTO texts(body_id, hash, block, size) VALUES(?, ?, ?, ?)`},
		{&s.del, `DELETE FROM texts WHERE body_id = ?`},
		{&s.move, `UPDATE texts SET block = ? WHERE body_id = ?`},
		{&s.getBlock, `SELECT data FROM textblocks WHERE id = ?`},
		{&s.putBlock, `INSERT INTO textblocks(id, docs, live, raw, fill, data) VALUES(?, ?, ?, ?, ?, ?)`},
		{&s.decBlock, `UPDATE textblocks SET live = live - 1, fill = fill - ? WHERE id = ?`},
		{&s.dropBlock, `DELETE FROM textblocks WHERE id = ? AND live <= 0`},
	} {
		var err error
		if *p.stmt, err = db.PrepareContext(ctx, p.sql); err != nil {
			return err
		}
	}
	return nil
}

func (s *textStmts) all() []*sql.Stmt {
	return []*sql.Stmt{s.get, s.put, s.del, s.move, s.getBlock, s.putBlock, s.decBlock, s.dropBlock}
}

// textsTx is what Apply does to the stored texts within its transaction.
type textsTx struct {
	ctx     context.Context
	tx      *sql.Tx
	s       textStmts // bound to tx
	workers int
	pending []pendingText
	at      map[int64]int // index in pending of each ID added
}

type pendingText struct {
	id    int64
	hash  []byte
	raw   []byte // marshalDoc; nil once replaced by a later add
	group string // groupKey
}

func newTextsTx(ctx context.Context, tx *sql.Tx, s *textStmts, workers int) *textsTx {
	t := &textsTx{ctx: ctx, tx: tx, workers: max(1, workers), at: map[int64]int{}}
	t.s = textStmts{
		get: tx.StmtContext(ctx, s.get), put: tx.StmtContext(ctx, s.put), del: tx.StmtContext(ctx, s.del),
		move: tx.StmtContext(ctx, s.move), getBlock: tx.StmtContext(ctx, s.getBlock), putBlock: tx.StmtContext(ctx, s.putBlock),
		decBlock: tx.StmtContext(ctx, s.decBlock), dropBlock: tx.StmtContext(ctx, s.dropBlock),
	}
	return t
}

// storedText is where the text of a body is stored.
type storedText struct {
	block, size int64
}

// lookup returns the text stored under id; ok is false when there is
// none. Texts added in this transaction are not seen before flush.
func (t *textsTx) lookup(id int64) (st storedText, ok bool, err error) {
	err = t.s.get.QueryRowContext(t.ctx, id).Scan(&st.block, &st.size)
	if errors.Is(err, sql.ErrNoRows) {
		return st, false, nil
	}
	return st, err == nil, err
}

// remove deletes the text stored under id.
func (t *textsTx) remove(id int64, st storedText) error {
	if _, err := t.s.del.ExecContext(t.ctx, id); err != nil {
		return err
	}
	if _, err := t.s.decBlock.ExecContext(t.ctx, st.size, st.block); err != nil {
		return err
	}
	_, err := t.s.dropBlock.ExecContext(t.ctx, st.block)
	return err
}

// add stores raw (marshalDoc of a Doc whose groupKey is group) as the
// text of id, which has none stored (lookup, remove); flush writes it.
// Adding an ID again replaces what was added.
func (t *textsTx) add(id int64, hash, raw []byte, group string) {
	if i, ok := t.at[id]; ok {
		t.pending[i].raw = nil
	}
	t.at[id] = len(t.pending)
	t.pending = append(t.pending, pendingText{id: id, hash: hash, raw: raw, group: group})
}

// groupKey returns what the texts of a batch are ordered by before they
// are packed in blocks: the domain of the last address in the header's
// first From field, lower-cased. Messages from one sender share more text than
// neighbours in delivery order: on the benchmark's 12,000 messages in a
// shuffled order, in batches of 900, blocks compressed to 0.327 of their
// size as they came, to 0.292 grouped (the whole domain or its last two
// labels, the same).
func groupKey(d *Doc) string {
	h := d.Header
	i := 0
	for !strings.HasPrefix(h[i:], "from:") {
		j := strings.Index(h[i:], "\nfrom:")
		if j < 0 {
			return ""
		}
		i += j + 1
	}
	line := h[i:]
	if e := strings.IndexByte(line, '\n'); e >= 0 {
		line = line[:e]
	}
	at := strings.LastIndexByte(line, '@')
	if at < 0 {
		return ""
	}
	dom := line[at+1:]
	if e := strings.IndexAny(dom, "> \t,;)\""); e >= 0 {
		dom = dom[:e]
	}
	return strings.ToLower(dom)
}

// flush writes the added texts in blocks, ordered by groupKey (then in
// the order they were added), then repacks the small blocks if there are enough of them to fill one.
func (t *textsTx) flush() error {
	docs := make([]pendingText, 0, len(t.pending))
	for _, p := range t.pending {
		if p.raw != nil {
			docs = append(docs, p)
		}
	}
	t.pending, t.at = nil, map[int64]int{}
	slices.SortStableFunc(docs, func(a, b pendingText) int { return strings.Compare(a.group, b.group) })
	if err := t.writeBlocks(docs, false); err != nil {
		return err
	}
	return t.repack()
}

// textBlock is a block being written.
type textBlock struct {
	id   int64
	n    int
	fill int // the bytes of its Docs
	raw  []byte
	data []byte
}

// rawBlocks holds the buffers of blocks already compressed (not those
// grown by a huge Doc): a block grown by append from nothing allocated
// twice its size, the largest share of the bytes the index allocated.
// A live batch fills a few blocks about once a second per shard, too
// seldom for a sync.Pool to keep them: 16 are held.
var rawBlocks = bufpool.Pool[byte]{Keep: 4 * textBlockRaw, Hold: 16}

// appendBlockEntry appends one Doc to the raw form of a block: the body
// ID as a varint, the length of raw as a uvarint, then raw (marshalDoc).
func appendBlockEntry(b []byte, id int64, raw []byte) []byte {
	b = binary.AppendVarint(b, id)
	b = binary.AppendUvarint(b, uint64(len(raw)))
	return append(b, raw...)
}

// walkBlock calls fn with each entry of the raw form of a block until fn
// returns false.
func walkBlock(raw []byte, fn func(id int64, doc []byte) bool) error {
	for len(raw) > 0 {
		id, k := binary.Varint(raw)
		if k <= 0 {
			return errCorrupt
		}
		raw = raw[k:]
		n, k := binary.Uvarint(raw)
		if k <= 0 || n > uint64(len(raw)-k) {
			return errCorrupt
		}
		doc := raw[k : k+int(n)]
		raw = raw[k+int(n):]
		if !fn(id, doc) {
			return nil
		}
	}
	return nil
}

// blockDoc returns the Doc of id in the raw form of a block; errCorrupt
// when the block does not hold it.
func blockDoc(raw []byte, id int64) (Doc, error) {
	var d Doc
	found := false
	var derr error
	err := walkBlock(raw, func(eid int64, doc []byte) bool {
		if eid != id {
			return true
		}
		d, derr = unmarshalDoc(doc)
		found = true
		return false
	})
	switch {
	case err != nil:
		return Doc{}, err
	case derr != nil:
		return Doc{}, derr
	case !found:
		return Doc{}, errCorrupt
	}
	return d, nil
}

// writeBlocks packs docs, in order, into blocks of textBlockRaw and
// writes them, compressed on t.workers goroutines, and the texts rows
// pointing to them: new rows, or, when move is set, those of texts
// already stored (repack).
func (t *textsTx) writeBlocks(docs []pendingText, move bool) error {
	if len(docs) == 0 {
		return nil
	}
	// Block IDs come from a counter that never goes back, not even on
	// Reset: a block's ID names its content for good (Docs keeps decoded
	// blocks from one read to the next).
	var next int64
	if err := t.tx.QueryRowContext(t.ctx, `SELECT value + 1 FROM counters WHERE name = 'textblock'`).Scan(&next); err != nil {
		return err
	}
	var blocks []*textBlock
	at := make([]int64, len(docs)) // the block of each doc
	for i, d := range docs {
		if len(blocks) == 0 || len(blocks[len(blocks)-1].raw) >= textBlockRaw {
			blocks = append(blocks, &textBlock{id: next, raw: rawBlocks.Get(0, textBlockRaw+textBlockRaw/2)})
			next++
		}
		b := blocks[len(blocks)-1]
		b.raw = appendBlockEntry(b.raw, d.id, d.raw)
		b.n++
		b.fill += len(d.raw)
		at[i] = b.id
	}
	enc, _ := zstdCodec()
	var wg sync.WaitGroup
	for w := range min(t.workers, len(blocks)) {
		wg.Go(func() {
			for i := w; i < len(blocks); i += t.workers {
				b := blocks[i]
				b.data = enc.EncodeAll(b.raw, make([]byte, 0, len(b.raw)/3+64))
			}
		})
	}
	wg.Wait()
	for _, b := range blocks {
		// The raw form is not needed once compressed (only b.data is
		// bound, and SQLite copies it).
		_, err := t.s.putBlock.ExecContext(t.ctx, b.id, b.n, b.n, len(b.raw), b.fill, b.data)
		rawBlocks.Put(b.raw)
		b.raw = nil
		if err != nil {
			return err
		}
	}
	if _, err := t.tx.ExecContext(t.ctx, `UPDATE counters SET value = ? WHERE name = 'textblock'`, next-1); err != nil {
		return err
	}
	for i, d := range docs {
		var err error
		if move {
			_, err = t.s.move.ExecContext(t.ctx, at[i], d.id)
		} else {
			_, err = t.s.put.ExecContext(t.ctx, d.id, d.hash, at[i], len(d.raw))
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// repack rewrites the live Docs of the small blocks (fill under half of
// textBlockRaw) into full blocks, in block order, when together they fill
// at least one; at most about repackMax bytes of them.
func (t *textsTx) repack() error {
	rows, err := t.tx.QueryContext(t.ctx, `SELECT id, fill FROM textblocks WHERE fill < ? ORDER BY id`, textBlockRaw/2)
	if err != nil {
		return err
	}
	var ids []int64
	sum := int64(0)
	for rows.Next() && sum < repackMax {
		var id, fill int64
		if err := rows.Scan(&id, &fill); err != nil {
			rows.Close()
			return err
		}
		ids = append(ids, id)
		sum += fill
	}
	rows.Close()
	if err := rows.Err(); err != nil || sum < textBlockRaw || len(ids) < 2 {
		return err
	}
	_, dec := zstdCodec()
	var docs []pendingText
	var buf []byte
	for _, block := range ids {
		var data []byte
		if err := t.s.getBlock.QueryRowContext(t.ctx, block).Scan(&data); err != nil {
			return fmt.Errorf("text block %d: %w", block, err)
		}
		if buf, err = dec.DecodeAll(data, buf[:0]); err != nil {
			return fmt.Errorf("text block %d: %w", block, errCorrupt)
		}
		var werr error
		err := walkBlock(buf, func(id int64, doc []byte) bool {
			st, ok, err := t.lookup(id)
			if err != nil {
				werr = err
				return false
			}
			if ok && st.block == block {
				docs = append(docs, pendingText{id: id, raw: append([]byte(nil), doc...)})
			}
			return true
		})
		if err = errors.Join(err, werr); err != nil {
			return fmt.Errorf("text block %d: %w", block, err)
		}
		if _, err := t.tx.ExecContext(t.ctx, `DELETE FROM textblocks WHERE id = ?`, block); err != nil {
			return err
		}
	}
	return t.writeBlocks(docs, true)
}
