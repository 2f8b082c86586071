package fts

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"iter"
	"math"
	"os"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/petrelmail/petrel/internal/sqlite"
)

// formatVersion is the version of what the index stores: the trigram
// tokens (grams.go), the stored Doc encoding (codec.go) and the definition
// of a message's text (Extract). An index of another version is emptied
// when opened, its cursors reset, so that its feeder indexes everything
// again.
const formatVersion = 4

var migrations = []string{
	// grams: one row per indexed body (rowid = body ID), the tokens of
	// the distinct trigrams of its Doc; contentless, so only the
	// posting lists are stored, and detail=none, so they hold rowids
	// only. texts: the Doc of each body, compressed, for verification.
	`CREATE VIRTUAL TABLE grams USING fts5(g, tokenize='ascii', content='', contentless_delete=1, detail=none);
	CREATE TABLE texts(body_id INTEGER PRIMARY KEY, hash BLOB NOT NULL, text BLOB NOT NULL);
	CREATE TABLE cursors(name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
	CREATE TABLE counters(name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
	INSERT INTO counters(name, value) VALUES('docs', 0), ('format', 0);`,
	// FTS5 merges segments when automerge of them are at one level (4 by
	// default). With 8, each posting is rewritten fewer times: indexing
	// ran 20-25 % faster (BenchmarkIndex, 12,000 corpus messages: 1,900
	// to 2,300-2,450 msg/s) for one point of mail volume more in
	// posting lists and no slower queries; with 16, faster still but
	// four points more.
	`INSERT INTO grams(grams, rank) VALUES('automerge', 8);`,
	// Format 3: posting lists of Petrel's own (postings.go) instead of
	// FTS5's. segments: one row per segment; postings: the blocks of the
	// segments, rowid = rowKey(segment, first key); tombstones: the
	// bodies whose postings written before batch at are dead. An index
	// of format 2 is emptied by Reset when its replicator starts.
	`DROP TABLE grams;
	CREATE TABLE segments(id INTEGER PRIMARY KEY, level INTEGER NOT NULL, hi INTEGER NOT NULL, created INTEGER NOT NULL);
	CREATE TABLE postings(data BLOB NOT NULL);
	CREATE TABLE tombstones(body_id INTEGER PRIMARY KEY, at INTEGER NOT NULL);
	INSERT INTO counters(name, value) VALUES('seq', 0);`,
	// Format 4: the stored texts compressed in blocks of several bodies
	// (texts.go); the first ID of a list relative to its segment's base
	// (postings.go). An index of format 3 is emptied by Reset when its
	// replicator starts.
	`DROP TABLE texts;
	CREATE TABLE texts(body_id INTEGER PRIMARY KEY, hash BLOB NOT NULL, block INTEGER NOT NULL, size INTEGER NOT NULL);
	CREATE TABLE textblocks(id INTEGER PRIMARY KEY, docs INTEGER NOT NULL, live INTEGER NOT NULL, raw INTEGER NOT NULL, fill INTEGER NOT NULL, data BLOB NOT NULL);
	CREATE INDEX textblocks_fill ON textblocks(fill);
	INSERT INTO counters(name, value) VALUES('textblock', 0);
	ALTER TABLE segments ADD COLUMN base INTEGER NOT NULL DEFAULT 0;`,
}

// Index is the full-text index of one shard, in a SQLite file of its own.
// It is safe for concurrent use: writes (Apply) are serialized on one
// connection, reads use a pool.
type Index struct {
	db    *sqlite.DB
	stale atomic.Bool // holds another format (checkFormat)
	// workers is how many goroutines compute tokens and compressed
	// texts in Apply (SetWorkers; 0: GOMAXPROCS).
	workers atomic.Int32

	closeOnce sync.Once
	closeErr  error

	// The tombstones as of batch tombSeq, shared by queries of that batch
	// or a later one that changed none (tombstonesAt).
	tombMu  sync.Mutex
	tombs   tombstones
	tombMax int64
	tombSeq int64

	texts                        textStmts
	putBlock, addDocs, setCursor *sql.Stmt
}

// Open opens the index at path, creating it if needed.
func Open(ctx context.Context, path string) (*Index, error) {
	if err := create(ctx, path); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	db, err := sqlite.OpenWith(ctx, path, migrations, sqlite.Options{Rebuildable: true})
	if err != nil {
		return nil, err
	}
	ix := &Index{db: db}
	if err := ix.checkFormat(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	for _, s := range []struct {
		stmt **sql.Stmt
		sql  string
	}{
		{&ix.putBlock, `INSERT INTO postings(rowid, data) VALUES(?, ?)`},
		{&ix.addDocs, `UPDATE counters SET value = value + ? WHERE name = 'docs'`},
		{&ix.setCursor, `INSERT INTO cursors(name, value) VALUES(?, ?) ON CONFLICT(name) DO UPDATE SET value = excluded.value`},
	} {
		if *s.stmt, err = db.Write.PrepareContext(ctx, s.sql); err != nil {
			ix.Close()
			return nil, err
		}
	}
	if err := ix.texts.prepare(ctx, db.Write); err != nil {
		ix.Close()
		return nil, err
	}
	return ix, nil
}

// pageSize is the page size of the index's database. The stored texts are
// a few KB each: with the default 4 KB pages a fifth of the space of their
// table was unused, with 16 KB pages a twentieth.
const pageSize = 16384

// create creates an empty database with the page size of the index at
// path, unless a file is there. The page size of a database is set before
// its first table, and cannot be changed in WAL mode, which sqlite.Open
// sets: so the file is created here, in rollback mode, with a table
// created and dropped to write its header.
func create(ctx context.Context, path string) error {
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		return err
	}
	// auto_vacuum incremental (2): the pages a compaction frees can be
	// given back to the file system (postingsTx.compact); it too is set
	// before the first table.
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=page_size("+strconv.Itoa(pageSize)+")")
	if err != nil {
		return err
	}
	defer db.Close()
	_, err = db.ExecContext(ctx, `PRAGMA auto_vacuum = 2; CREATE TABLE fts_page_size(x); DROP TABLE fts_page_size`)
	return err
}

// checkFormat reads the format of the index's content. An index of an
// older format is not emptied here, where any process (the command line
// among them) may be opening it, but by its replicator (Reset), which
// alone writes it; until then it narrows nothing (Query).
func (ix *Index) checkFormat(ctx context.Context) error {
	var v int64
	if err := ix.db.Write.QueryRowContext(ctx, `SELECT value FROM counters WHERE name = 'format'`).Scan(&v); err != nil {
		return err
	}
	if v > formatVersion {
		return fmt.Errorf("index format %d is newer than this program knows (%d)", v, formatVersion)
	}
	if v == 0 {
		// A new index: nothing written in any format yet.
		if _, err := ix.db.Write.ExecContext(ctx, `UPDATE counters SET value = ? WHERE name = 'format' AND value = 0`, formatVersion); err != nil {
			return err
		}
		v = formatVersion
	}
	ix.stale.Store(v != formatVersion)
	return nil
}

// SetWorkers sets how many goroutines Apply uses to compute the tokens
// and compressed texts of a batch (0: one per CPU).
func (ix *Index) SetWorkers(n int) { ix.workers.Store(int32(n)) }

// Stale reports whether the index holds another format than this
// program's: it must be emptied (Reset) and indexed again.
func (ix *Index) Stale() bool { return ix.stale.Load() }

// Reset empties the index and resets its cursors if it is stale, so that
// its feeder indexes everything again in this program's format.
func (ix *Index) Reset(ctx context.Context) error {
	if !ix.stale.Load() {
		return nil
	}
	tx, err := ix.db.Write.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	for _, q := range []string{
		`DELETE FROM segments`, `DELETE FROM postings`, `DELETE FROM tombstones`,
		`DELETE FROM texts`, `DELETE FROM textblocks`, `DELETE FROM cursors`,
		`UPDATE counters SET value = 0 WHERE name = 'docs'`,
		`UPDATE counters SET value = value + 1 WHERE name = 'seq'`,
		fmt.Sprintf(`UPDATE counters SET value = %d WHERE name = 'format'`, formatVersion),
	} {
		if _, err := tx.ExecContext(ctx, q); err != nil {
			return err
		}
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	ix.stale.Store(false)
	return nil
}

// Close closes the index. Closing it again does nothing.
func (ix *Index) Close() error {
	ix.closeOnce.Do(func() {
		var errs []error
		for _, s := range append([]*sql.Stmt{ix.putBlock, ix.addDocs, ix.setCursor}, ix.texts.all()...) {
			if s != nil {
				errs = append(errs, s.Close())
			}
		}
		errs = append(errs, ix.db.Close())
		ix.closeErr = errors.Join(errs...)
	})
	return ix.closeErr
}

// Entry is one body to index: its ID in the shard, the hash of its
// content (which tells a reused ID from the body indexed under it
// before), and its text.
type Entry struct {
	BodyID int64
	Hash   [32]byte
	Doc    Doc
	// Load, when set, gives the Doc instead: Apply calls it on one of
	// its workers, so that reading and extracting the next entries
	// overlaps the writing of the first ones. ok false means the body is
	// gone: nothing is written or removed for the entry.
	Load func() (d Doc, ok bool, err error)
}

// prepared is an Entry turned into what is written.
type prepared struct {
	keys  []uint32      // its distinct trigram keys
	raw   []byte        // its Doc, marshalDoc
	group string        // groupKey
	skip  bool          // Load found no body
	err   error         // from Load
	done  chan struct{} // closed when the fields above are set
}

// prepare loads (Entry.Load) and computes the tokens and the encoded
// text of every entry on workers goroutines, in the order of the entries,
// so that the caller can write the first ones while the next are computed:
// it waits for out[i].done. Once stop is closed, the entries not started
// are left undone (the caller no longer waits for them).
func prepare(put []Entry, workers int, stop <-chan struct{}) []prepared {
	out := make([]prepared, len(put))
	for i := range out {
		out[i].done = make(chan struct{})
	}
	var next atomic.Int64
	for range min(max(1, workers), len(put)) {
		go func() {
			var g gramSet
			for {
				i := int(next.Add(1) - 1)
				if i >= len(put) {
					return
				}
				select {
				case <-stop:
					return
				default:
				}
				d := &put[i].Doc
				if put[i].Load != nil {
					doc, ok, err := put[i].Load()
					if err != nil || !ok {
						out[i].err, out[i].skip = err, !ok
						close(out[i].done)
						continue
					}
					d = &doc
				}
				out[i].keys = docKeys(d, &g)
				out[i].raw = marshalDoc(make([]byte, 0, d.Size()+16+2*len(d.Body)), d)
				out[i].group = groupKey(d)
				close(out[i].done)
			}
		}()
	}
	return out
}

// Apply indexes put and removes del in one transaction, and sets the
// cursor cursorName to cursor in the same transaction (no cursor when
// cursorName is ""). Deletes are applied before puts, so an ID in both
// ends up indexed with its put. A put replaces whatever is indexed under
// its ID (a reused body ID, told apart by its hash, or the same body
// extracted again). Deleting an ID that is not indexed does nothing.
// Apply is therefore idempotent: applying a batch again has no further
// effect. An entry with Load is loaded on one of the workers (SetWorkers);
// an error from a Load fails the whole Apply, which then writes nothing.
func (ix *Index) Apply(ctx context.Context, put []Entry, del []int64, cursorName string, cursor int64) error {
	workers := int(ix.workers.Load())
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	stop := make(chan struct{})
	defer close(stop)
	prep := prepare(put, workers, stop)
	tx, err := ix.db.Write.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	pt := &postingsTx{ctx: ctx, tx: tx, put: tx.StmtContext(ctx, ix.putBlock)}
	if err := tx.QueryRowContext(ctx, `SELECT value FROM counters WHERE name = 'seq'`).Scan(&pt.seq); err != nil {
		return err
	}
	pt.seq++
	tt := newTextsTx(ctx, tx, &ix.texts, workers)
	// last is the entry of each ID put by the batch that is indexed: the
	// last one, when an ID is put twice.
	last := map[int64]int{}
	changed := false // postings or tombstones
	// removeStored removes what is indexed under id; false when nothing
	// is.
	removeStored := func(id int64) (bool, error) {
		st, ok, err := tt.lookup(id)
		if err != nil || !ok {
			return false, err
		}
		changed = true
		if err := pt.tombstone(id); err != nil {
			return false, err
		}
		return true, tt.remove(id, st)
	}
	docs := int64(0)
	for _, id := range del {
		removed, err := removeStored(id)
		if err != nil {
			return err
		}
		if removed {
			docs--
		}
	}
	for i := range put {
		e := &put[i]
		select {
		case <-prep[i].done:
		case <-ctx.Done():
			return ctx.Err()
		}
		if prep[i].err != nil {
			return fmt.Errorf("fts: body %d: %w", e.BodyID, prep[i].err)
		}
		if prep[i].skip {
			continue
		}
		// An ID put again by this batch: what was stored before the
		// batch is already removed, and the Doc added replaces the one
		// added first.
		if _, again := last[e.BodyID]; !again {
			removed, err := removeStored(e.BodyID)
			if err != nil {
				return err
			}
			if removed {
				docs--
			}
			docs++
		}
		last[e.BodyID] = i
		changed = true
		tt.add(e.BodyID, e.Hash[:], prep[i].raw, prep[i].group)
		prep[i].raw = nil
	}
	if err := tt.flush(); err != nil {
		return err
	}
	if changed {
		order := make([]int64, 0, len(last))
		pairs := 0
		for id, i := range last {
			order = append(order, id)
			pairs += len(prep[i].keys)
		}
		slices.Sort(order)
		postings := newBuilder(len(order), pairs)
		for _, id := range order {
			postings.add(prep[last[id]].keys, id)
			prep[last[id]].keys = nil
		}
		err := pt.write(postings)
		postings.release()
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE counters SET value = ? WHERE name = 'seq'`, pt.seq); err != nil {
			return err
		}
	}
	if docs != 0 {
		if _, err := tx.StmtContext(ctx, ix.addDocs).ExecContext(ctx, docs); err != nil {
			return err
		}
	}
	if cursorName != "" {
		if _, err := tx.StmtContext(ctx, ix.setCursor).ExecContext(ctx, cursorName, cursor); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// Cursor returns the value of the cursor name, 0 when it was never set.
func (ix *Index) Cursor(ctx context.Context, name string) (int64, error) {
	var v int64
	err := ix.db.Read.QueryRowContext(ctx, `SELECT value FROM cursors WHERE name = ?`, name).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	return v, err
}

// Count returns the number of indexed bodies.
func (ix *Index) Count(ctx context.Context) (docs int64, err error) {
	err = ix.db.Read.QueryRowContext(ctx, `SELECT value FROM counters WHERE name = 'docs'`).Scan(&docs)
	return docs, err
}

// idList returns ids as a JSON array, for json_each.
func idList(ids []int64) string {
	b := make([]byte, 0, len(ids)*8+2)
	b = append(b, '[')
	for i, id := range ids {
		if i > 0 {
			b = append(b, ',')
		}
		b = fmt.Appendf(b, "%d", id)
	}
	return string(append(b, ']'))
}

// Hashes returns the hash of each of ids that is indexed; the IDs that are
// not indexed are absent from the map.
func (ix *Index) Hashes(ctx context.Context, ids []int64) (map[int64][32]byte, error) {
	out := make(map[int64][32]byte, len(ids))
	rows, err := ix.db.Read.QueryContext(ctx, `SELECT body_id, hash FROM texts WHERE body_id IN (SELECT value FROM json_each(?))`, idList(ids))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var h []byte
		if err := rows.Scan(&id, &h); err != nil {
			return nil, err
		}
		var a [32]byte
		copy(a[:], h)
		out[id] = a
	}
	return out, rows.Err()
}

// IDs returns every indexed body ID in ascending order. It reads in pages,
// so it holds no read transaction while the caller works on an ID; IDs
// indexed or removed meanwhile may or may not be seen.
func (ix *Index) IDs(ctx context.Context) iter.Seq2[int64, error] {
	return func(yield func(int64, error) bool) {
		const page = 4096
		from := int64(math.MinInt64)
		for {
			ids := make([]int64, 0, page)
			rows, err := ix.db.Read.QueryContext(ctx, `SELECT body_id FROM texts WHERE body_id >= ? ORDER BY body_id LIMIT ?`, from, page)
			if err != nil {
				yield(0, err)
				return
			}
			for rows.Next() {
				var id int64
				if err := rows.Scan(&id); err != nil {
					rows.Close()
					yield(0, err)
					return
				}
				ids = append(ids, id)
			}
			err = rows.Err()
			rows.Close()
			if err != nil {
				yield(0, err)
				return
			}
			for _, id := range ids {
				if !yield(id, nil) {
					return
				}
			}
			if len(ids) < page || ids[len(ids)-1] == math.MaxInt64 {
				return
			}
			from = ids[len(ids)-1] + 1
		}
	}
}

// Size returns the size in bytes of the index's files: the database and
// its write-ahead log.
func (ix *Index) Size() (bytes int64, err error) {
	for _, suffix := range []string{"", "-wal"} {
		st, err := os.Stat(ix.db.Path + suffix)
		if err != nil {
			if suffix != "" && errors.Is(err, os.ErrNotExist) {
				continue
			}
			return 0, err
		}
		bytes += st.Size()
	}
	return bytes, nil
}
