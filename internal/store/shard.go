package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/petrelmail/petrel/internal/sqlite"
)

var shardMigrations = []string{`
CREATE TABLE shard_state (
	id INTEGER PRIMARY KEY CHECK (id = 1),
	modseq INTEGER NOT NULL,      -- last MODSEQ given out in this shard (from version 4: by an operation that logged no change)
	uidvalidity INTEGER NOT NULL  -- last UIDVALIDITY given out
);
CREATE TABLE mailboxes (
	id INTEGER PRIMARY KEY,           -- the directory's account ID
	used_bytes INTEGER NOT NULL DEFAULT 0,
	used_messages INTEGER NOT NULL DEFAULT 0,
	created INTEGER NOT NULL
);
CREATE TABLE folders (
	id INTEGER PRIMARY KEY AUTOINCREMENT,   -- never reused
	mailbox_id INTEGER NOT NULL,
	name TEXT NOT NULL,
	special_use TEXT NOT NULL DEFAULT '',
	subscribed INTEGER NOT NULL DEFAULT 1,
	uidvalidity INTEGER NOT NULL,
	uidnext INTEGER NOT NULL DEFAULT 1,
	highestmodseq INTEGER NOT NULL,
	messages INTEGER NOT NULL DEFAULT 0,
	bytes INTEGER NOT NULL DEFAULT 0,
	UNIQUE (mailbox_id, name)
);
-- One row per distinct body held in this shard, with the metadata parsed
-- once at delivery; refs counts the message rows that point to it.
CREATE TABLE bodies (
	id INTEGER PRIMARY KEY,
	hash BLOB NOT NULL UNIQUE,
	size INTEGER NOT NULL,
	refs INTEGER NOT NULL,
	meta BLOB NOT NULL,
	created INTEGER NOT NULL
);
CREATE TABLE messages (
	folder_id INTEGER NOT NULL,
	uid INTEGER NOT NULL,
	body_id INTEGER NOT NULL,
	modseq INTEGER NOT NULL,
	flags INTEGER NOT NULL DEFAULT 0,
	keywords TEXT NOT NULL DEFAULT '',
	internal_date INTEGER NOT NULL,
	save_date INTEGER NOT NULL,
	size INTEGER NOT NULL,
	PRIMARY KEY (folder_id, uid)
) WITHOUT ROWID;
CREATE INDEX messages_modseq ON messages(folder_id, modseq);
CREATE INDEX messages_body ON messages(body_id);
-- Expunged UIDs with the MODSEQ of their expunge, for QRESYNC VANISHED.
CREATE TABLE tombstones (
	folder_id INTEGER NOT NULL,
	uid INTEGER NOT NULL,
	modseq INTEGER NOT NULL,
	PRIMARY KEY (folder_id, uid)
) WITHOUT ROWID;
-- The change log: one row per change, in commit order.
CREATE TABLE changelog (
	id INTEGER PRIMARY KEY AUTOINCREMENT,
	modseq INTEGER NOT NULL,
	mailbox_id INTEGER NOT NULL,
	folder_id INTEGER NOT NULL DEFAULT 0,
	kind INTEGER NOT NULL,
	uid INTEGER NOT NULL DEFAULT 0,
	body_id INTEGER NOT NULL DEFAULT 0,
	flags INTEGER NOT NULL DEFAULT 0,
	keywords TEXT NOT NULL DEFAULT '',
	name TEXT NOT NULL DEFAULT '',
	old_name TEXT NOT NULL DEFAULT '',
	time INTEGER NOT NULL
);
-- Bodies whose last reference in this shard went away: candidates for the
-- collector, which deletes the file once no shard references it.
CREATE INDEX tombstones_modseq ON tombstones(folder_id, modseq);
CREATE TABLE blob_garbage (
	hash BLOB PRIMARY KEY,
	since INTEGER NOT NULL
);
`, `
-- Version 2: one page fewer written per append (each page is a WAL frame
-- of every delivery). The change log's IDs come from its largest row, not from
-- sqlite_sequence: an ID is still never reused, because nothing deletes
-- the newest entry (CompactLog keeps it).
CREATE TABLE changelog_v2 (
	id INTEGER PRIMARY KEY,
	modseq INTEGER NOT NULL,
	mailbox_id INTEGER NOT NULL,
	folder_id INTEGER NOT NULL DEFAULT 0,
	kind INTEGER NOT NULL,
	uid INTEGER NOT NULL DEFAULT 0,
	body_id INTEGER NOT NULL DEFAULT 0,
	flags INTEGER NOT NULL DEFAULT 0,
	keywords TEXT NOT NULL DEFAULT '',
	name TEXT NOT NULL DEFAULT '',
	old_name TEXT NOT NULL DEFAULT '',
	time INTEGER NOT NULL
);
INSERT INTO changelog_v2 SELECT id, modseq, mailbox_id, folder_id, kind, uid, body_id, flags, keywords, name, old_name, time FROM changelog;
DROP TABLE changelog;
ALTER TABLE changelog_v2 RENAME TO changelog;
`, `
-- Version 3: tombstones are removed once their change log entry is
-- (CompactLog). A folder's vanished_floor is the highest MODSEQ of a
-- tombstone it lost: a client that resynchronises from a lower MODSEQ is
-- told every UID the folder no longer holds instead of the exact list.
ALTER TABLE folders ADD COLUMN vanished_floor INTEGER NOT NULL DEFAULT 0;
CREATE INDEX tombstones_by_modseq ON tombstones(modseq);
`, `
-- Version 4: a mailbox's usage is the sum of its folders' counts (see
-- Tx.checkQuota); counters of its own were a page written per append.
-- shard_state.modseq now only backs the change log (see Tx.ModSeq).
ALTER TABLE mailboxes DROP COLUMN used_bytes;
ALTER TABLE mailboxes DROP COLUMN used_messages;
`}

// Shard is one transactional part of the spool. An account's mailbox lives
// in exactly one shard.
type Shard struct {
	Index int
	db    *sqlite.DB
	store *Store

	ops     chan *op
	done    chan struct{}
	closeMu sync.RWMutex
	closed  bool
	// stmts and toPrepare belong to the writer goroutine.
	stmts     map[string]*sql.Stmt
	toPrepare []string
	closeErr  error

	headMu sync.Mutex
	head   int64         // last committed change log ID seen by this process
	notify chan struct{} // closed and replaced at every commit

	// changes reads the change log (Changes), on the read pool: prepared
	// once rather than parsed at each of a replicator's reads.
	changes *sql.Stmt
}

func openShard(ctx context.Context, st *Store, index int, path string) (*Shard, error) {
	db, err := sqlite.Open(ctx, path, shardMigrations)
	if err != nil {
		return nil, err
	}
	now := time.Now().Unix()
	if _, err := db.Write.ExecContext(ctx, `INSERT INTO shard_state(id, modseq, uidvalidity) VALUES (1, 0, ?) ON CONFLICT(id) DO NOTHING`, now); err != nil {
		db.Close()
		return nil, err
	}
	sh := &Shard{Index: index, db: db, store: st, ops: make(chan *op, 1024), done: make(chan struct{}),
		stmts: map[string]*sql.Stmt{}, notify: make(chan struct{})}
	if err := db.Read.QueryRowContext(ctx, `SELECT coalesce(max(id), 0) FROM changelog`).Scan(&sh.head); err != nil {
		db.Close()
		return nil, err
	}
	if sh.changes, err = db.Read.PrepareContext(ctx, `SELECT id, modseq, mailbox_id, folder_id, kind, uid, body_id, flags, keywords, name, old_name, time
		FROM changelog WHERE id > ? ORDER BY id LIMIT ?`); err != nil {
		db.Close()
		return nil, err
	}
	go sh.writer()
	return sh, nil
}

func (sh *Shard) close() error {
	sh.closeMu.Lock()
	sh.closed = true
	close(sh.ops)
	sh.closeMu.Unlock()
	<-sh.done
	for _, s := range sh.stmts {
		s.Close()
	}
	sh.changes.Close()
	return sh.db.Close()
}

// maxBatch bounds how many operations share one transaction.
const maxBatch = 256

// op is one logical change: it runs in its own savepoint inside a group
// transaction (or, alone in its group, as the transaction itself) and gets
// its own MODSEQ.
type op struct {
	ctx  context.Context
	fn   func(*Tx) error
	done chan error
	tx   *Tx
	// durable, if set, must return nil before the transaction holding
	// this operation commits (see Body.Durable).
	durable func() error
}

// write runs fn as one operation in the shard's writer and returns when its
// transaction has committed (durably) or failed.
func (sh *Shard) write(ctx context.Context, fn func(*Tx) error) error {
	// Wait for the outcome even if ctx ends meanwhile: once queued, the
	// operation may commit, and the caller must know.
	return sh.submit(ctx, fn).wait()
}

// ErrClosed is returned for operations submitted after the store closed.
var ErrClosed = errors.New("store: closed")

// submit queues an operation for the shard's writer.
func (sh *Shard) submit(ctx context.Context, fn func(*Tx) error) *op {
	return sh.submitDurable(ctx, nil, fn)
}

// submitDurable queues an operation whose transaction may commit only once
// durable returns nil.
func (sh *Shard) submitDurable(ctx context.Context, durable func() error, fn func(*Tx) error) *op {
	o := &op{ctx: ctx, fn: fn, done: make(chan error, 1), durable: durable}
	sh.closeMu.RLock()
	defer sh.closeMu.RUnlock()
	if sh.closed {
		o.done <- ErrClosed
		return o
	}
	select {
	case sh.ops <- o:
	case <-ctx.Done():
		o.done <- ctx.Err()
	}
	return o
}

func (o *op) wait() error { return <-o.done }

func (sh *Shard) writer() {
	defer close(sh.done)
	batch := make([]*op, 0, maxBatch)
	for first := range sh.ops {
		batch = append(batch[:0], first)
	drain:
		for len(batch) < maxBatch {
			select {
			case o, ok := <-sh.ops:
				if !ok {
					break drain
				}
				batch = append(batch, o)
			default:
				break drain
			}
		}
		sh.commit(batch)
		sh.prepareSeen()
	}
}

func (sh *Shard) commit(batch []*op) {
	start := time.Now()
	ctx := context.Background()
	fail := func(err error) {
		for _, o := range batch {
			if o.done != nil {
				o.done <- err
			}
		}
	}
	tx, err := sh.db.Write.BeginTx(ctx, nil)
	if err != nil {
		fail(fmt.Errorf("store: shard %d: begin: %w", sh.Index, err))
		return
	}
	results := make([]error, len(batch))
	// An operation alone in its group needs no savepoint: if it fails, the
	// whole transaction is rolled back (two statements fewer for most
	// deliveries when few arrive together).
	alone := len(batch) == 1
	for i, o := range batch {
		if err := o.ctx.Err(); err != nil {
			results[i] = err
			continue
		}
		t := &Tx{sh: sh, tx: tx, ctx: ctx}
		if !alone {
			if _, err := t.exec("SAVEPOINT op"); err != nil {
				results[i] = err
				continue
			}
		}
		err := o.fn(t)
		if err == nil {
			err = t.keepModSeq()
		}
		if alone {
			if err != nil {
				tx.Rollback()
				o.done <- err
				return
			}
		} else {
			if err != nil {
				if _, rerr := t.exec("ROLLBACK TO op"); rerr != nil {
					tx.Rollback()
					fail(fmt.Errorf("store: shard %d: rollback to savepoint: %w", sh.Index, rerr))
					return
				}
			}
			if _, rerr := t.exec("RELEASE op"); rerr != nil {
				tx.Rollback()
				fail(fmt.Errorf("store: shard %d: release savepoint: %w", sh.Index, rerr))
				return
			}
		}
		results[i] = err
		o.tx = t
	}
	// Bodies referenced by this transaction must be durable before it
	// commits. If one cannot be made durable, nothing of the group is
	// committed or acknowledged: every operation fails and is retried by
	// its sender.
	for i, o := range batch {
		if results[i] == nil && o.durable != nil {
			if err := o.durable(); err != nil {
				tx.Rollback()
				fail(fmt.Errorf("store: shard %d: body not durable: %w", sh.Index, err))
				return
			}
		}
	}
	// The new head of the change log: the last entry an operation that
	// succeeded wrote (entries of failed ones were rolled back with them).
	var head int64
	for i, o := range batch {
		if results[i] == nil && o.tx != nil {
			head = max(head, o.tx.lastChange)
		}
	}
	if err := tx.Commit(); err != nil {
		fail(fmt.Errorf("store: shard %d: commit: %w", sh.Index, err))
		return
	}
	metricCommit(sh.Index, len(batch), time.Since(start))
	if head > 0 {
		sh.advance(head)
	}
	for i, o := range batch {
		o.done <- results[i]
	}
}

// advance records a new change log head and wakes whoever waits for changes.
func (sh *Shard) advance(head int64) {
	sh.headMu.Lock()
	if head > sh.head {
		sh.head = head
		close(sh.notify)
		sh.notify = make(chan struct{})
	}
	sh.headMu.Unlock()
}

// Changed returns a channel that is closed at the next commit of this
// process that adds to the change log, and the head known now. Changes made
// by another process (the admin command line) are seen by polling Head.
func (sh *Shard) Changed() (<-chan struct{}, int64) {
	sh.headMu.Lock()
	defer sh.headMu.Unlock()
	return sh.notify, sh.head
}

// Tx is a write transaction's view inside one operation.
type Tx struct {
	sh     *Shard
	tx     *sql.Tx
	ctx    context.Context
	modseq int64
	now    int64
	// lastChange is the ID of the last change log entry this operation
	// wrote.
	lastChange int64
}

// stmt returns a prepared statement for query inside the transaction.
// Statements are prepared once on the writer connection and reused; a
// query seen for the first time is prepared inside the transaction (the
// single connection is busy) and prepared for reuse after the commit.
func (t *Tx) stmt(query string) (*sql.Stmt, error) {
	if s, ok := t.sh.stmts[query]; ok {
		return t.tx.StmtContext(t.ctx, s), nil
	}
	t.sh.toPrepare = append(t.sh.toPrepare, query)
	return t.tx.PrepareContext(t.ctx, query)
}

// prepareSeen prepares for reuse the queries first seen in the last
// transaction. It runs in the writer goroutine, between transactions.
func (sh *Shard) prepareSeen() {
	for _, q := range sh.toPrepare {
		if _, ok := sh.stmts[q]; ok {
			continue
		}
		if s, err := sh.db.Write.Prepare(q); err == nil {
			sh.stmts[q] = s
		}
	}
	sh.toPrepare = sh.toPrepare[:0]
}

func (t *Tx) exec(query string, args ...any) (sql.Result, error) {
	s, err := t.stmt(query)
	if err != nil {
		return nil, err
	}
	return s.ExecContext(t.ctx, args...)
}

func (t *Tx) queryRow(query string, args ...any) *sql.Row {
	s, err := t.stmt(query)
	if err != nil {
		// Surface the error through Scan: a Row from a failed query.
		return t.tx.QueryRowContext(t.ctx, query, args...)
	}
	return s.QueryRowContext(t.ctx, args...)
}

func (t *Tx) query(query string, args ...any) (*sql.Rows, error) {
	s, err := t.stmt(query)
	if err != nil {
		return nil, err
	}
	return s.QueryContext(t.ctx, args...)
}

// ModSeq returns the operation's MODSEQ, allocating it on first use: every
// change of one operation carries the same, new MODSEQ (RFC 7162 section
// 3.1.1 allows one MODSEQ for all messages changed by one command).
//
// The last MODSEQ given out is the larger of the change log's newest
// entry's and shard_state's. Operations log their changes, so the log's
// newest entry, which compaction always keeps, holds it; shard_state is
// written only for an operation that took a MODSEQ and logged nothing
// (see keepModSeq). Reading the log's last page instead of counting in a
// row of its own spares a page written (a WAL frame) per delivery. The
// read runs under the write lock (transactions begin IMMEDIATE), which
// orders the MODSEQs of every process writing the shard.
func (t *Tx) ModSeq() (int64, error) {
	if t.modseq == 0 {
		if err := t.queryRow(`SELECT max(modseq, coalesce((SELECT modseq FROM changelog ORDER BY id DESC LIMIT 1), 0)) + 1
			FROM shard_state WHERE id = 1`).Scan(&t.modseq); err != nil {
			return 0, err
		}
	}
	return t.modseq, nil
}

// keepModSeq records the operation's MODSEQ in shard_state if it took one
// and logged no change: the log would not remember it, and the next
// operation would be given it again.
func (t *Tx) keepModSeq() error {
	if t.modseq == 0 || t.lastChange != 0 {
		return nil
	}
	_, err := t.exec(`UPDATE shard_state SET modseq = max(modseq, ?) WHERE id = 1`, t.modseq)
	return err
}

func (t *Tx) unixNow() int64 {
	if t.now == 0 {
		t.now = time.Now().Unix()
	}
	return t.now
}

// logChange appends one row to the change log with the operation's MODSEQ.
func (t *Tx) logChange(c Change) error {
	modseq, err := t.ModSeq()
	if err != nil {
		return err
	}
	return t.queryRow(`INSERT INTO changelog(modseq, mailbox_id, folder_id, kind, uid, body_id, flags, keywords, name, old_name, time)
		VALUES (?,?,?,?,?,?,?,?,?,?,?) RETURNING id`, modseq, c.Mailbox, c.Folder, int(c.Kind), int64(c.UID), c.BodyID, int64(c.Flags),
		joinKeywords(c.Keywords), c.Name, c.OldName, t.unixNow()).Scan(&t.lastChange)
}

// newUIDValidity gives out a UIDVALIDITY never used before in this shard
// (RFC 9051 section 2.3.1.1: a name reused after delete gets a new one).
func (t *Tx) newUIDValidity() (int64, error) {
	var v int64
	err := t.queryRow(`UPDATE shard_state SET uidvalidity = max(uidvalidity + 1, ?) WHERE id = 1 RETURNING uidvalidity`, t.unixNow()).Scan(&v)
	if v > 0xffffffff {
		return 0, errors.New("store: UIDVALIDITY space exhausted")
	}
	return v, err
}
