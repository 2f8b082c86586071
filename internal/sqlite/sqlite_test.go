package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

func walSize(t *testing.T, path string) int64 {
	t.Helper()
	st, err := os.Stat(path + "-wal")
	if os.IsNotExist(err) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	return st.Size()
}

// TestIdleWALTruncated checks that the WAL of a rebuildable database (the
// search index) is truncated once it is checkpointed and nothing more is
// written, even when it is small, and that the WAL of a database of record
// keeps its file (reused by the next writes, not given back).
func TestIdleWALTruncated(t *testing.T) {
	ctx := context.Background()
	for _, rebuildable := range []bool{true, false} {
		path := filepath.Join(t.TempDir(), "x.db")
		db, err := OpenWith(ctx, path, []string{`CREATE TABLE t(x)`}, Options{Rebuildable: rebuildable, CheckpointEvery: 20 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		for i := range 20 {
			if _, err := db.Write.ExecContext(ctx, `INSERT INTO t(x) VALUES(?)`, i); err != nil {
				t.Fatal(err)
			}
		}
		if walSize(t, path) == 0 {
			t.Fatal("no WAL after the writes")
		}
		wait := 5 * time.Second // at most; the checkpointer runs every 20 ms
		if !rebuildable {
			wait = 300 * time.Millisecond
		}
		deadline := time.Now().Add(wait)
		for walSize(t, path) != 0 && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		size := walSize(t, path)
		if rebuildable && size != 0 {
			t.Errorf("rebuildable: WAL still %d bytes after the database went idle", size)
		}
		if !rebuildable && size == 0 {
			t.Errorf("database of record: WAL truncated")
		}
		var n int
		if err := db.Read.QueryRowContext(ctx, `SELECT count(*) FROM t`).Scan(&n); err != nil || n != 20 {
			t.Errorf("rebuildable %v: %d rows, %v", rebuildable, n, err)
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestIdleFreePagesReturned checks that a rebuildable database created
// with auto_vacuum incremental gives the pages freed by its writes back to
// the file system once it is idle.
func TestIdleFreePagesReturned(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "x.db")
	// auto_vacuum is set before the first table, as fts.create does.
	pre, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pre.ExecContext(ctx, `PRAGMA auto_vacuum = 2; CREATE TABLE t(x)`); err != nil {
		t.Fatal(err)
	}
	pre.Close()
	db, err := OpenWith(ctx, path, []string{`CREATE TABLE IF NOT EXISTS t(x)`}, Options{Rebuildable: true, CheckpointEvery: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for i := range 50 {
		if _, err := db.Write.ExecContext(ctx, `INSERT INTO t(x) VALUES(zeroblob(20000 + ?))`, i); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.Write.ExecContext(ctx, `DELETE FROM t WHERE rowid % 2 = 0`); err != nil {
		t.Fatal(err)
	}
	free := func() (n int) {
		if err := db.Read.QueryRowContext(ctx, `PRAGMA freelist_count`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if free() == 0 {
		t.Fatal("no free page after the deletion")
	}
	deadline := time.Now().Add(5 * time.Second)
	for (free() != 0 || walSize(t, path) != 0) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n, w := free(), walSize(t, path); n != 0 || w != 0 {
		t.Errorf("idle: %d free pages, WAL %d bytes; want 0, 0", n, w)
	}
	var rows int
	if err := db.Read.QueryRowContext(ctx, `SELECT count(*) FROM t`).Scan(&rows); err != nil || rows != 25 {
		t.Errorf("%d rows, %v; want 25", rows, err)
	}
}

// TestConcurrentMigration: several handles opening one database at once
// (two admin commands on a stopped server's folder) run each migration
// once: a migration that cannot run twice (ADD COLUMN) does not fail the
// second opener, and the schema ends at the last version.
func TestConcurrentMigration(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	migrations := []string{
		`CREATE TABLE t (a INTEGER);`,
		`ALTER TABLE t ADD COLUMN b INTEGER NOT NULL DEFAULT 0;`,
		`ALTER TABLE t ADD COLUMN c INTEGER NOT NULL DEFAULT 0;`,
		`ALTER TABLE t DROP COLUMN b;`,
	}
	for round := range 5 {
		p := filepath.Join(dir, fmt.Sprintf("m%d.db", round))
		// The database exists (in WAL mode) at its first version, as a
		// stopped server's databases do before an upgrade. (Creating a
		// database from several handles at once can fail with
		// SQLITE_BUSY while its journal becomes a WAL: SQLite does not
		// wait there.)
		first, err := Open(ctx, p, migrations[:1])
		if err != nil {
			t.Fatal(err)
		}
		first.Close()
		dbs := make([]*DB, 4)
		errs := make([]error, len(dbs))
		var wg sync.WaitGroup
		for i := range dbs {
			wg.Go(func() { dbs[i], errs[i] = Open(ctx, p, migrations) })
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("round %d, opener %d: %v", round, i, err)
			}
		}
		var v int
		if err := dbs[0].Read.QueryRow(`PRAGMA user_version`).Scan(&v); err != nil || v != len(migrations) {
			t.Fatalf("version %d (%v), want %d", v, err, len(migrations))
		}
		if _, err := dbs[1].Write.Exec(`INSERT INTO t(a, c) VALUES (1, 2)`); err != nil {
			t.Fatal(err)
		}
		for _, db := range dbs {
			db.Close()
		}
	}
}
