// Package sqlite opens the SQLite databases of the embedded engine with the
// settings every Petrel database needs: WAL journal, full synchronous commits
// (a commit is on disk when it returns), a busy timeout so that the server and
// the admin command line can share a database, and one writer connection
// separate from a pool of readers.
//
// It owns connection settings and schema migrations by version number; it
// knows nothing about what the tables mean.
package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"runtime"

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
}

func dsn(path string, readOnly bool) string {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(15000)")
	q.Add("_pragma", "journal_mode(WAL)")
	// FULL: in WAL mode the WAL is fsynced at every commit, so an
	// acknowledged write survives power loss (NORMAL would only keep the
	// database consistent). Group commit amortises the fsync.
	q.Add("_pragma", "synchronous(FULL)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "cache_size(-16000)")
	if readOnly {
		q.Add("_pragma", "query_only(1)")
	} else {
		q.Set("_txlock", "immediate")
	}
	return "file:" + path + "?" + q.Encode()
}

// Open opens (creating if needed) the database at path and brings its schema
// to the last version in migrations: migrations[i] moves the schema from
// version i to i+1 and runs in one transaction with the version bump.
func Open(ctx context.Context, path string, migrations []string) (*DB, error) {
	w, err := sql.Open("sqlite", dsn(path, false))
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
	r, err := sql.Open("sqlite", dsn(path, true))
	if err != nil {
		w.Close()
		return nil, err
	}
	n := 2 * runtime.GOMAXPROCS(0)
	r.SetMaxOpenConns(n)
	r.SetMaxIdleConns(n)
	return &DB{Write: w, Read: r, Path: path}, nil
}

// Close closes both pools.
func (db *DB) Close() error {
	err1 := db.Read.Close()
	err2 := db.Write.Close()
	if err1 != nil {
		return err1
	}
	return err2
}

func migrate(ctx context.Context, db *sql.DB, migrations []string) error {
	var version int
	if err := db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		return err
	}
	if version > len(migrations) {
		return fmt.Errorf("schema version %d is newer than this program knows (%d): refusing to open with an older Petrel", version, len(migrations))
	}
	for v := version; v < len(migrations); v++ {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, migrations[v]); err != nil {
			tx.Rollback()
			return fmt.Errorf("migration %d: %w", v+1, err)
		}
		if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", v+1)); err != nil {
			tx.Rollback()
			return err
		}
		if err := tx.Commit(); err != nil {
			return err
		}
	}
	return nil
}
