// Package sqlite opens the SQLite databases of the embedded engine with the
// settings every Petrel database needs: WAL journal, full synchronous commits
// (a commit is on disk when it returns; rebuildable databases relax this), a busy timeout so that the server and
// the admin command line can share a database, and one writer connection
// separate from a pool of readers.
//
// It owns connection settings and schema migrations by version number; it
// knows nothing about what the tables mean.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"runtime"
	"time"

	"modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

func init() {
	// Commit with fdatasync(2), as SQLite's own Linux builds do: it writes
	// the data and the metadata needed to read it back (the size), but not
	// the timestamps, whose journal commit fsync(2) would wait for at every
	// transaction. Same durability, much shorter commits on ext4.
	// Platforms without fdatasync keep fsync.
	sqlite.Fdatasync(true)
}

// DB is one SQLite database file opened as a single writer connection and a
// pool of read connections. In WAL mode readers never block the writer and
// see the last committed state.
type DB struct {
	// Write has exactly one connection: SQLite allows one writer at a time,
	// and a single connection turns contention into a Go-side queue.
	Write *sql.DB
	// Read is a pool of read-only connections.
	Read *sql.DB
	Path string

	checkpoint *sql.DB
	opts       Options
	truncate   bool // truncate the WAL once checkpointed (Rebuildable)
	stop       chan struct{}
	stopped    chan struct{}
}

// checkpointEvery is how often the background checkpointer copies the WAL
// into the database file.
const checkpointEvery = 250 * time.Millisecond

// rebuildableCheckpointEvery is the same for rebuildable databases: each
// checkpoint of the search index writes and fsyncs many pages, which
// delayed deliveries' fsyncs when it ran four times a second.
const rebuildableCheckpointEvery = 2 * time.Second

// Options are the settings that differ between databases.
type Options struct {
	// Rebuildable is for databases that hold nothing that cannot be
	// rebuilt from the shards (the search index, the replicators'
	// state). They commit with synchronous=NORMAL: in WAL mode a commit
	// then writes the WAL without fsync, the database stays consistent
	// after a power loss, and only the last commits may be lost, which
	// their consumer replays from its cursor. Their commits then do not
	// compete with deliveries for the disk's flushes.
	Rebuildable bool
	// CheckpointEvery is how often the checkpointer runs (0: the
	// default of the kind of database; tests shorten it).
	CheckpointEvery time.Duration
}

func dsn(path string, readOnly bool, o Options) string {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(15000)")
	q.Add("_pragma", "journal_mode(WAL)")
	// FULL: in WAL mode the WAL is fsynced at every commit, so an
	// acknowledged write survives power loss (NORMAL would only keep the
	// database consistent). Group commit amortises the fsync.
	if o.Rebuildable {
		q.Add("_pragma", "synchronous(NORMAL)")
		// The index writes in large batches: without a limit its WAL
		// keeps the size of the largest one (often more than the
		// database) after every checkpoint.
		q.Add("_pragma", "journal_size_limit(4194304)")
	} else {
		q.Add("_pragma", "synchronous(FULL)")
	}
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "cache_size(-16000)")
	if readOnly {
		q.Add("_pragma", "query_only(1)")
		// Readers map the database file rather than copying pages into
		// each connection's cache with pread: a scan of a folder bigger
		// than the cache then costs no system calls, and the pages are
		// shared by all connections through the OS page cache.
		q.Add("_pragma", "mmap_size(1073741824)")
	} else {
		q.Set("_txlock", "immediate")
		// Checkpoints run in the background (see checkpointer), not in
		// the commit of whichever transaction crosses the WAL threshold:
		// a checkpoint writes and fsyncs the database file, and doing it
		// inside a group commit would stall every delivery in the group.
		q.Add("_pragma", "wal_autocheckpoint(0)")
	}
	return "file:" + path + "?" + q.Encode()
}

// Open opens (creating if needed) the database at path and brings its schema
// to the last version in migrations: migrations[i] moves the schema from
// version i to i+1 and runs in one transaction with the version bump.
func Open(ctx context.Context, path string, migrations []string) (*DB, error) {
	return OpenWith(ctx, path, migrations, Options{})
}

// OpenWith is Open with options.
func OpenWith(ctx context.Context, path string, migrations []string, o Options) (*DB, error) {
	w, err := sql.Open("sqlite", dsn(path, false, o))
	if err != nil {
		return nil, err
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	if err := migrate(ctx, w, migrations); err != nil {
		w.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	r, err := sql.Open("sqlite", dsn(path, true, o))
	if err != nil {
		w.Close()
		return nil, err
	}
	n := 2 * runtime.GOMAXPROCS(0)
	r.SetMaxOpenConns(n)
	r.SetMaxIdleConns(n)
	c, err := sql.Open("sqlite", dsn(path, false, o))
	if err != nil {
		w.Close()
		r.Close()
		return nil, err
	}
	c.SetMaxOpenConns(1)
	db := &DB{Write: w, Read: r, Path: path, checkpoint: c, opts: o, stop: make(chan struct{}), stopped: make(chan struct{})}
	every := checkpointEvery
	if o.Rebuildable {
		every = rebuildableCheckpointEvery
		db.truncate = true
	}
	if o.CheckpointEvery > 0 {
		every = o.CheckpointEvery
	}
	go db.checkpointer(every)
	return db, nil
}

// checkpointer copies committed WAL frames into the database file with
// PASSIVE checkpoints, which never block the writer or readers, from a
// connection of its own. When the WAL has grown large (a long-running
// reader held it back), it restarts it so that it does not grow forever.
func (db *DB) checkpointer(every time.Duration) {
	defer close(db.stopped)
	tick := time.NewTicker(every)
	defer tick.Stop()
	prevVersion := int64(-1)
	dirty := false // written since the last vacuum
	for {
		select {
		case <-db.stop:
			return
		case <-tick.C:
		}
		var busy, logFrames, done int
		if err := db.checkpoint.QueryRow("PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &logFrames, &done); err != nil {
			continue
		}
		if logFrames > 20000 && done == logFrames {
			db.checkpoint.Exec("PRAGMA wal_checkpoint(RESTART)")
		}
		// A rebuildable database written in large batches (the search
		// index) is left with a WAL as large as its last burst once it
		// is checkpointed; journal_size_limit would trim it only at the
		// next write, which may be long in coming, and only down to 4 MB
		// (an eighth of the benchmark's index). Truncate it when it is
		// large, and when nothing was written since the last round (the
		// database is idle): an idle index takes no more than its data.
		// Idle, the pages its merges freed are given back too (in a
		// database created with auto_vacuum incremental; elsewhere this
		// does nothing): they were 1 to 6 % of the index after the
		// benchmark's fill, reused by later writes but not returned.
		// data_version changes when another connection commits: a
		// write since the last round (the WAL's frame count can come
		// back to the same value after a restart of the log).
		var version int64
		if err := db.checkpoint.QueryRow("PRAGMA data_version").Scan(&version); err != nil {
			continue
		}
		wrote := version != prevVersion
		prevVersion = version
		dirty = dirty || wrote
		if !db.truncate || done != logFrames {
			continue
		}
		vacuumed := false
		if dirty && !wrote {
			db.checkpoint.Exec("PRAGMA incremental_vacuum")
			dirty, vacuumed = false, true
		}
		if logFrames > 256 || (!wrote && (logFrames > 0 || vacuumed)) {
			db.checkpoint.QueryRow("PRAGMA wal_checkpoint(TRUNCATE)").Scan(&busy, &logFrames, &done)
		}
	}
}

// OpenReader opens a read-only handle of one connection, outside the Read
// pool, for a caller that keeps its connection (PRAGMA data_version is
// only comparable on one connection). The caller closes it before db.
func (db *DB) OpenReader() (*sql.DB, error) {
	r, err := sql.Open("sqlite", dsn(db.Path, true, db.opts))
	if err != nil {
		return nil, err
	}
	r.SetMaxOpenConns(1)
	r.SetMaxIdleConns(1)
	r.SetConnMaxLifetime(0)
	return r, nil
}

// Close stops the checkpointer and closes the pools; the last connection
// to close checkpoints the WAL completely.
func (db *DB) Close() error {
	close(db.stop)
	<-db.stopped
	err0 := db.checkpoint.Close()
	err1 := db.Read.Close()
	err2 := db.Write.Close()
	return errors.Join(err0, err1, err2)
}

func migrate(ctx context.Context, db *sql.DB, migrations []string) error {
	// The version is read inside the write transaction (BEGIN IMMEDIATE):
	// two admin commands started at once on a stopped server's folder
	// each open the databases, and the second must see the first's
	// migration done rather than run it again (ALTER TABLE would fail).
	for {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		var version int
		if err := tx.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
			tx.Rollback()
			return err
		}
		if version > len(migrations) {
			tx.Rollback()
			return fmt.Errorf("schema version %d is newer than this program knows (%d): refusing to open with an older Petrel", version, len(migrations))
		}
		if version == len(migrations) {
			return tx.Rollback()
		}
		// Reading a table checks the schema cookie, which makes the
		// connection reload a schema another connection changed since
		// it last read it: ALTER TABLE ... DROP COLUMN checks its column
		// against the cached schema and does not retry when it is stale.
		var n int
		if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_schema").Scan(&n); err != nil {
			tx.Rollback()
			return err
		}
		if _, err := tx.ExecContext(ctx, migrations[version]); err != nil {
			tx.Rollback()
			return fmt.Errorf("migration %d: %w", version+1, err)
		}
		if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", version+1)); err != nil {
			tx.Rollback()
			return err
		}
		if err := tx.Commit(); err != nil {
			return err
		}
	}
}
