package fts

import (
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"slices"

	"github.com/petrelmail/petrel/internal/bufpool"
)

// The posting lists are Petrel's own, in plain SQLite tables of the
// index's database (so that they commit with the stored texts and the
// cursor), laid out as a log-structured merge of segments:
//
//   - Each Apply that indexes bodies writes one segment: for every trigram
//     key of its bodies, the sorted list of their IDs. A segment is never
//     changed once written.
//   - A segment's lists are packed in key order into blocks of about
//     blockMax bytes, one row of table postings each, whose rowid is the
//     segment's ID and the block's first key (rowKey): finding the list of
//     a key in a segment is one b-tree descent to the last block whose
//     first key is not above it, then a walk through that block.
//   - A list is stored as the differences between successive IDs in
//     uvarints, or as a bitmap over its range when that is smaller (a
//     trigram found in one body in eight or more); on the benchmark's
//     corpus this takes 55 % of the space of FTS5's detail=none
//     posting lists (docs/design.md).
//   - When mergeFanIn segments are at one level, they are merged into one
//     segment of the next level, in the same transaction as the Apply
//     that made the last of them.
//   - Removing a body (or indexing another under its ID) leaves its old
//     postings where they are and records a tombstone (ID, at): the
//     postings of that ID in segments whose data is all older than batch
//     at (segment hi < at) are dead. Queries and merges drop them; a merge
//     drops them for good, and a tombstone no segment can still be
//     affected by is deleted (pruneTombstones).
//
// Every Apply that changes postings or tombstones takes the next batch
// number (counter seq), which never goes back, not even on Reset.

const (
	// mergeFanIn is how many segments of one level are merged into one of
	// the next. With 8, each posting is rewritten about log8(bodies /
	// batch size) times, and a query reads at most 7 segments per level.
	mergeFanIn = 8
	// blockMax is the largest block that a list is added to: a row up to
	// about this size is held within one 16 KiB page of the database
	// (pageSize), so that the pages are nearly full (with blocks of 12 KB
	// a quarter of each page was unused). A list larger than that alone is
	// a block of its own, in overflow pages.
	blockMax = pageSize - 400
	// termBits is the width of a trigram key (keys are below 1<<31).
	termBits = 31
	termMask = 1<<termBits - 1
)

// rowKey is the rowid of the block of segment seg whose first key is term.
func rowKey(seg int64, term uint32) int64 { return seg<<termBits | int64(term) }

// List encodings: the kind is the low bit of the uvarint that gives the
// length of the encoded list.
// The first ID of a list is stored as its difference from the segment's
// base (its smallest ID, segments.base): the bodies of a segment are
// mostly of one batch, close together, so the difference takes a byte or
// two where the ID itself takes three or four in a shard of millions of
// bodies. Differences are taken modulo 2^64: any base decodes right, the
// smallest ID gives the shortest.
const (
	kindDeltas = 0 // uvarints: the first ID less the base, then differences
	kindBitmap = 1 // uvarint first ID less the base, then a bit per ID from it
)

func uvarintLen(x uint64) int {
	n := 1
	for x >= 0x80 {
		x >>= 7
		n++
	}
	return n
}

// appendList appends the encoding of ids (sorted, distinct, not empty, not
// below base): the uvarint length<<1|kind, then the list in the smaller
// encoding.
func appendList(b []byte, ids []int64, base int64) []byte {
	first := uint64(ids[0]) - uint64(base)
	deltas, prev := 0, uint64(0)
	for i, id := range ids {
		if i == 0 {
			deltas += uvarintLen(first)
		} else {
			deltas += uvarintLen(uint64(id) - prev)
		}
		prev = uint64(id)
	}
	span := uint64(ids[len(ids)-1] - ids[0])
	if bitmap := uvarintLen(first) + int(span/8) + 1; span < 1<<24 && bitmap < deltas {
		b = binary.AppendUvarint(b, uint64(bitmap)<<1|kindBitmap)
		b = binary.AppendUvarint(b, first)
		start := len(b)
		b = append(b, make([]byte, span/8+1)...)
		for _, id := range ids {
			d := uint64(id - ids[0])
			b[start+int(d/8)] |= 1 << (d % 8)
		}
		return b
	}
	b = binary.AppendUvarint(b, uint64(deltas)<<1|kindDeltas)
	prev = 0
	for i, id := range ids {
		if i == 0 {
			b = binary.AppendUvarint(b, first)
		} else {
			b = binary.AppendUvarint(b, uint64(id)-prev)
		}
		prev = uint64(id)
	}
	return b
}

// decodeList appends the IDs of an encoded list (kind, payload) of a
// segment of the given base to dst, keeping those keep accepts (all when
// keep is nil).
func decodeList(dst []int64, kind uint64, p []byte, base int64, keep func(int64) bool) ([]int64, error) {
	switch kind {
	case kindDeltas:
		var id uint64
		for i := 0; len(p) > 0; i++ {
			x, k := binary.Uvarint(p)
			if k <= 0 {
				return dst, errCorruptPostings
			}
			p = p[k:]
			if i == 0 {
				id = uint64(base) + x
			} else {
				id += x
			}
			if keep == nil || keep(int64(id)) {
				dst = append(dst, int64(id))
			}
		}
	case kindBitmap:
		first, k := binary.Uvarint(p)
		if k <= 0 {
			return dst, errCorruptPostings
		}
		first += uint64(base)
		for i, w := range p[k:] {
			for ; w != 0; w &= w - 1 {
				id := int64(first + uint64(i)*8 + uint64(bits.TrailingZeros8(w)))
				if keep == nil || keep(id) {
					dst = append(dst, id)
				}
			}
		}
	default:
		return dst, errCorruptPostings
	}
	return dst, nil
}

var errCorruptPostings = errors.New("fts: corrupt posting list")

// blockIter walks the lists of a block: term, kind and payload are those
// of the current list after next returns true.
type blockIter struct {
	rest    []byte
	term    uint32
	started bool
	kind    uint64
	payload []byte
	err     error
}

func newBlockIter(first uint32, data []byte) blockIter {
	return blockIter{rest: data, term: first}
}

func (it *blockIter) next() bool {
	if len(it.rest) == 0 || it.err != nil {
		return false
	}
	d, k := binary.Uvarint(it.rest)
	if k <= 0 || (it.started && d == 0) || uint64(it.term)+d > termMask {
		it.err = errCorruptPostings
		return false
	}
	it.rest = it.rest[k:]
	it.term += uint32(d)
	it.started = true
	h, k := binary.Uvarint(it.rest)
	if k <= 0 || h>>1 > uint64(len(it.rest)-k) {
		it.err = errCorruptPostings
		return false
	}
	it.kind, it.payload = h&1, it.rest[k:k+int(h>>1)]
	it.rest = it.rest[k+int(h>>1):]
	return true
}

// segWriter writes a segment's lists, in increasing key order, as blocks.
type segWriter struct {
	ctx   context.Context
	put   *sql.Stmt // INSERT INTO postings(rowid, data)
	seg   int64
	base  int64 // the segment's smallest ID (segments.base)
	buf   []byte
	list  []byte // the encoded list being added
	first uint32
	prev  uint32
	n     int
}

func (w *segWriter) add(term uint32, ids []int64) error {
	w.list = appendList(w.list[:0], ids, w.base)
	if w.n > 0 && len(w.buf)+binary.MaxVarintLen32+len(w.list) > blockMax {
		if err := w.flush(); err != nil {
			return err
		}
	}
	if w.n == 0 {
		w.first, w.prev = term, term
	}
	w.buf = binary.AppendUvarint(w.buf, uint64(term-w.prev))
	w.buf = append(w.buf, w.list...)
	w.prev = term
	w.n++
	return nil
}

func (w *segWriter) flush() error {
	if w.n == 0 {
		return nil
	}
	if _, err := w.put.ExecContext(w.ctx, rowKey(w.seg, w.first), w.buf); err != nil {
		return err
	}
	w.buf, w.n = w.buf[:0], 0
	return nil
}

// segment is a row of table segments.
type segment struct {
	id, level, hi, created int64
	base                   int64 // no ID of the segment is below it (see kindDeltas)
}

// builder collects the postings of one Apply: a pair per (key, body),
// the key in the high 32 bits and the body's position in ids in the low
// ones. Bodies are added in ascending ID order, so that one stable sort of
// the pairs by key (sortByKey) leaves each key's IDs sorted. Under the
// benchmark's delivery load, a map of lists and the sorts of its keys and
// lists took 14 % of the server's CPU (docs/design.md).
type builder struct {
	ids   []int64
	pairs []uint64
}

// add adds the keys (distinct) of body id, above every ID added before.
func (b *builder) add(keys []uint32, id int64) {
	n := uint64(len(b.ids))
	b.ids = append(b.ids, id)
	for _, k := range keys {
		b.pairs = append(b.pairs, uint64(k)<<32|n)
	}
}

// pairBuffers holds the pair slices of finished builders (and the radix
// sort's second slice): a batch of 160 bodies makes about 250,000 pairs,
// 2 MB, twice, which were an eighth of the bytes the server allocated
// under the LMTP benchmark, and so of its garbage collections. Two per
// batch at once, for two batches, are held through collections; those
// of a catch-up batch (up to 1,000 bodies, over HoldMax) are only pooled.
var pairBuffers = bufpool.Pool[uint64]{Hold: 4, HoldMax: 1 << 19}

// pairBuffer returns an empty slice with room for n pairs, and for a batch
// half as large again, so that the next batches, of about the same size,
// find it large enough.
func pairBuffer(n int) []uint64 { return pairBuffers.Get(n, n+n/2)[:0] }

// newBuilder returns a builder with room for the given bodies and pairs;
// release it when its postings are written.
func newBuilder(bodies, pairs int) *builder {
	return &builder{ids: make([]int64, 0, bodies), pairs: pairBuffer(pairs)}
}

// release gives the builder's buffers back; it must not be used after.
func (b *builder) release() {
	pairBuffers.Put(b.pairs)
	b.pairs = nil
}

// sortByKey sorts the pairs by key, keeping the order of the pairs of a
// key: a radix sort of the 31 bits of the key in three passes of 11.
func (b *builder) sortByKey() {
	src, dst := b.pairs, pairBuffer(len(b.pairs))[:len(b.pairs)]
	// The slice that does not hold the result goes back (dst, after the
	// swaps: the deferred call reads the variable then).
	defer func() { pairBuffers.Put(dst) }()
	for shift := 32; shift < 32+termBits; shift += 11 {
		var count [1 << 11]int
		for _, p := range src {
			count[p>>shift&(1<<11-1)]++
		}
		sum := 0
		for i, c := range count {
			count[i] = sum
			sum += c
		}
		for _, p := range src {
			d := p >> shift & (1<<11 - 1)
			dst[count[d]] = p
			count[d]++
		}
		src, dst = dst, src
	}
	b.pairs = src
}

// postingsTx is what Apply does to the posting lists within its
// transaction.
type postingsTx struct {
	ctx context.Context
	tx  *sql.Tx
	seq int64 // this batch's number
	put *sql.Stmt
	// tombstoned tells that the batch removed or replaced a body: only
	// then can compact find more tombstones than before.
	tombstoned bool
}

// newSegment returns the ID a new segment gets.
func (p *postingsTx) newSegment() (int64, error) {
	var id int64
	err := p.tx.QueryRowContext(p.ctx, `SELECT coalesce(max(id), 0) + 1 FROM segments`).Scan(&id)
	if err == nil && id >= 1<<32 {
		err = errors.New("fts: segment IDs exhausted")
	}
	return id, err
}

// write writes the postings of b as a new segment of level 0, then
// merges and compacts as needed.
func (p *postingsTx) write(b *builder) error {
	if len(b.pairs) > 0 {
		if err := p.writeSegment(b); err != nil {
			return err
		}
		if err := p.merge(); err != nil {
			return err
		}
	}
	if p.tombstoned {
		return p.compact()
	}
	return nil
}

func (p *postingsTx) writeSegment(b *builder) error {
	seg, err := p.newSegment()
	if err != nil {
		return err
	}
	b.sortByKey()
	base := b.ids[0]
	w := segWriter{ctx: p.ctx, put: p.put, seg: seg, base: base}
	var ids []int64
	for i := 0; i < len(b.pairs); {
		k := uint32(b.pairs[i] >> 32)
		ids = ids[:0]
		for ; i < len(b.pairs) && uint32(b.pairs[i]>>32) == k; i++ {
			ids = append(ids, b.ids[uint32(b.pairs[i])])
		}
		if err := w.add(k, ids); err != nil {
			return err
		}
	}
	if err := w.flush(); err != nil {
		return err
	}
	_, err = p.tx.ExecContext(p.ctx, `INSERT INTO segments(id, level, hi, created, base) VALUES(?, 0, ?, ?, ?)`, seg, p.seq, p.seq, base)
	return err
}

// tombstone records that the postings of id written before this batch are
// dead.
func (p *postingsTx) tombstone(id int64) error {
	p.tombstoned = true
	_, err := p.tx.ExecContext(p.ctx, `INSERT INTO tombstones(body_id, at) VALUES(?, ?) ON CONFLICT(body_id) DO UPDATE SET at = excluded.at`, id, p.seq)
	return err
}

// merge merges the segments of every level that has mergeFanIn of them,
// from level 0 up.
func (p *postingsTx) merge() error {
	for level := int64(0); ; level++ {
		segs, err := readSegments(p.ctx, p.tx, `WHERE level = ?`, level)
		if err != nil {
			return err
		}
		if len(segs) < mergeFanIn {
			break
		}
		if err := p.mergeSegments(segs, level+1); err != nil {
			return err
		}
	}
	return nil
}

// compact merges every segment into one when there are more tombstones
// than half the indexed bodies: after a reindex (every body indexed again
// under its ID) or a mass removal most postings are dead, and the
// segments holding them might otherwise wait long for a merge of their
// level. The merge prunes every tombstone, so a compaction is followed by
// another only once as many bodies again are removed or replaced.
func (p *postingsTx) compact() error {
	var tombs, docs int64
	if err := p.tx.QueryRowContext(p.ctx, `SELECT (SELECT count(*) FROM tombstones), (SELECT value FROM counters WHERE name = 'docs')`).Scan(&tombs, &docs); err != nil {
		return err
	}
	if tombs == 0 || 2*tombs < docs {
		return nil
	}
	segs, err := readSegments(p.ctx, p.tx, ``)
	if err != nil {
		return err
	}
	if len(segs) == 0 {
		return p.pruneTombstones()
	}
	level := int64(0)
	for _, s := range segs {
		level = max(level, s.level)
	}
	if err := p.mergeSegments(segs, level); err != nil {
		return err
	}
	// Give the pages freed back to the file system, in an index created
	// with auto_vacuum (those created before 2026-12-03 were not: there
	// this does nothing, and the free pages wait for later writes).
	_, err = p.tx.ExecContext(p.ctx, `PRAGMA incremental_vacuum`)
	return err
}

func readSegments(ctx context.Context, tx *sql.Tx, where string, args ...any) ([]segment, error) {
	rows, err := tx.QueryContext(ctx, `SELECT id, level, hi, created, base FROM segments `+where+` ORDER BY id`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []segment
	for rows.Next() {
		var s segment
		if err := rows.Scan(&s.id, &s.level, &s.hi, &s.created, &s.base); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// tombstones maps a body ID to the batch from which its older postings
// are dead.
type tombstones map[int64]int64

// keep returns the filter of the live IDs of a segment of the given hi,
// nil when every ID is live.
func (t tombstones) keep(hi, maxAt int64) func(int64) bool {
	if len(t) == 0 || hi >= maxAt {
		return nil
	}
	return func(id int64) bool {
		at, ok := t[id]
		return !ok || at <= hi
	}
}

func readTombstones(ctx context.Context, tx *sql.Tx, into tombstones) (maxAt int64, err error) {
	rows, err := tx.QueryContext(ctx, `SELECT body_id, at FROM tombstones`)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	for rows.Next() {
		var id, at int64
		if err := rows.Scan(&id, &at); err != nil {
			return 0, err
		}
		into[id] = at
		maxAt = max(maxAt, at)
	}
	return maxAt, rows.Err()
}

// segReader reads the lists of one segment in key order, a block at a
// time.
type segReader struct {
	p    *postingsTx
	seg  segment
	keep func(int64) bool
	next int64 // rowid from which the next block is read
	it   blockIter
	done bool
	term uint32
	ids  []int64
}

// advance moves to the next list with live IDs; false at the end.
func (r *segReader) advance() (bool, error) {
	for {
		for r.it.next() {
			ids, err := decodeList(r.ids[:0], r.it.kind, r.it.payload, r.seg.base, r.keep)
			if err != nil {
				return false, err
			}
			r.ids = ids
			if len(ids) > 0 {
				r.term = r.it.term
				return true, nil
			}
		}
		if r.it.err != nil {
			return false, fmt.Errorf("segment %d: %w", r.seg.id, r.it.err)
		}
		if r.done {
			return false, nil
		}
		var rowid int64
		var data []byte
		err := r.p.tx.QueryRowContext(r.p.ctx, `SELECT rowid, data FROM postings WHERE rowid >= ? AND rowid <= ? ORDER BY rowid LIMIT 1`,
			r.next, rowKey(r.seg.id, termMask)).Scan(&rowid, &data)
		if errors.Is(err, sql.ErrNoRows) {
			r.done = true
			return false, nil
		}
		if err != nil {
			return false, err
		}
		r.next = rowid + 1
		r.it = newBlockIter(uint32(rowid&termMask), data)
	}
}

// mergeSegments writes the live postings of segs as one segment of the
// given level and deletes them.
func (p *postingsTx) mergeSegments(segs []segment, level int64) error {
	tombs := tombstones{}
	maxAt, err := readTombstones(p.ctx, p.tx, tombs)
	if err != nil {
		return err
	}
	readers := make([]*segReader, 0, len(segs))
	hi, base := int64(0), int64(math.MaxInt64)
	for _, s := range segs {
		base = min(base, s.base)
		r := &segReader{p: p, seg: s, keep: tombs.keep(s.hi, maxAt), next: rowKey(s.id, 0)}
		ok, err := r.advance()
		if err != nil {
			return err
		}
		if ok {
			readers = append(readers, r)
		}
		hi = max(hi, s.hi)
	}
	seg, err := p.newSegment()
	if err != nil {
		return err
	}
	w := segWriter{ctx: p.ctx, put: p.put, seg: seg, base: base}
	var ids []int64
	for len(readers) > 0 {
		term := readers[0].term
		for _, r := range readers[1:] {
			term = min(term, r.term)
		}
		ids = ids[:0]
		sorted := true
		for i := 0; i < len(readers); {
			r := readers[i]
			if r.term != term {
				i++
				continue
			}
			if len(ids) > 0 && r.ids[0] <= ids[len(ids)-1] {
				sorted = false
			}
			ids = append(ids, r.ids...)
			ok, err := r.advance()
			if err != nil {
				return err
			}
			if ok {
				i++
			} else {
				readers = slices.Delete(readers, i, i+1)
			}
		}
		if !sorted {
			slices.Sort(ids)
			ids = slices.Compact(ids)
		}
		if err := w.add(term, ids); err != nil {
			return err
		}
	}
	if err := w.flush(); err != nil {
		return err
	}
	for _, s := range segs {
		if _, err := p.tx.ExecContext(p.ctx, `DELETE FROM postings WHERE rowid >= ? AND rowid <= ?`, rowKey(s.id, 0), rowKey(s.id, termMask)); err != nil {
			return err
		}
		if _, err := p.tx.ExecContext(p.ctx, `DELETE FROM segments WHERE id = ?`, s.id); err != nil {
			return err
		}
	}
	if _, err := p.tx.ExecContext(p.ctx, `INSERT INTO segments(id, level, hi, created, base) VALUES(?, ?, ?, ?, ?)`, seg, level, hi, p.seq, base); err != nil {
		return err
	}
	return p.pruneTombstones()
}

// pruneTombstones deletes the tombstones no segment can be affected by:
// every segment was written (or merged, dropping the dead postings) at or
// after the tombstone's batch.
func (p *postingsTx) pruneTombstones() error {
	_, err := p.tx.ExecContext(p.ctx, `DELETE FROM tombstones WHERE at <= (SELECT coalesce(min(created), 1 << 62) FROM segments)`)
	return err
}
