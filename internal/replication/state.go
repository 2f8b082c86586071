package replication

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/petrelmail/petrel/internal/sqlite"
)

// The replication state database (data/replication/state.db) is what a
// server's replicators tell the rest of the world, the admin command line
// included: a heartbeat per shard, messages replicated per minute, the
// last apply error, and the queue of maintenance requests (requeue,
// reindex) that a command line hands to the server that holds the shard.
// None of it is needed for correctness: the cursors live in each shard's
// index, in the transaction that applies the changes.
var stateMigrations = []string{`
CREATE TABLE replicators (
	shard INTEGER PRIMARY KEY,
	pid INTEGER NOT NULL,
	started INTEGER NOT NULL,
	heartbeat INTEGER NOT NULL,
	errors INTEGER NOT NULL DEFAULT 0,
	last_error TEXT NOT NULL DEFAULT '',
	last_error_at INTEGER NOT NULL DEFAULT 0
);
-- Messages replicated per shard and minute (Unix time / 60), kept two hours.
CREATE TABLE minutes (
	shard INTEGER NOT NULL,
	minute INTEGER NOT NULL,
	messages INTEGER NOT NULL,
	PRIMARY KEY (shard, minute)
) WITHOUT ROWID;
CREATE TABLE requests (
	id INTEGER PRIMARY KEY AUTOINCREMENT,
	shard INTEGER NOT NULL,
	kind TEXT NOT NULL,          -- requeue or reindex
	mailboxes TEXT NOT NULL,     -- JSON list of mailbox IDs; empty list: the whole shard
	created INTEGER NOT NULL,
	started INTEGER NOT NULL DEFAULT 0,
	finished INTEGER NOT NULL DEFAULT 0,
	result TEXT NOT NULL DEFAULT '',
	error TEXT NOT NULL DEFAULT ''
);
`}

type stateDB struct {
	db *sqlite.DB
}

func openState(ctx context.Context, path string) (*stateDB, error) {
	db, err := sqlite.OpenWith(ctx, path, stateMigrations, sqlite.Options{Rebuildable: true})
	if err != nil {
		return nil, err
	}
	return &stateDB{db: db}, nil
}

func (s *stateDB) close() error { return s.db.Close() }

// beat records that the shard's replicator runs in this process, with the
// messages it replicated since the last beat, per minute.
func (s *stateDB) beat(ctx context.Context, shard, pid int, started time.Time, perMinute map[int64]int64) error {
	tx, err := s.db.Write.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	now := time.Now().Unix()
	if _, err := tx.ExecContext(ctx, `INSERT INTO replicators(shard, pid, started, heartbeat) VALUES (?,?,?,?)
		ON CONFLICT(shard) DO UPDATE SET pid=excluded.pid, started=excluded.started, heartbeat=excluded.heartbeat`,
		shard, pid, started.Unix(), now); err != nil {
		return err
	}
	for m, n := range perMinute {
		if _, err := tx.ExecContext(ctx, `INSERT INTO minutes(shard, minute, messages) VALUES (?,?,?)
			ON CONFLICT(shard, minute) DO UPDATE SET messages=messages+excluded.messages`, shard, m, n); err != nil {
			return err
		}
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM minutes WHERE minute < ?`, now/60-120); err != nil {
		return err
	}
	return tx.Commit()
}

func (s *stateDB) recordError(ctx context.Context, shard int, msg string) error {
	_, err := s.db.Write.ExecContext(ctx, `UPDATE replicators SET errors=errors+1, last_error=?, last_error_at=? WHERE shard=?`,
		msg, time.Now().Unix(), shard)
	return err
}

type heartbeat struct {
	PID       int
	Started   time.Time
	Beat      time.Time
	Errors    int64
	LastError string
	ErrorAt   time.Time
	LastHour  int64 // messages replicated in the last 60 minutes
}

func (s *stateDB) heartbeat(ctx context.Context, shard int) (heartbeat, error) {
	var h heartbeat
	var started, beat, errAt int64
	err := s.db.Read.QueryRowContext(ctx, `SELECT pid, started, heartbeat, errors, last_error, last_error_at FROM replicators WHERE shard=?`, shard).
		Scan(&h.PID, &started, &beat, &h.Errors, &h.LastError, &errAt)
	if errors.Is(err, sql.ErrNoRows) {
		err = nil
	} else if err == nil {
		h.Started, h.Beat = time.Unix(started, 0), time.Unix(beat, 0)
		if errAt > 0 {
			h.ErrorAt = time.Unix(errAt, 0)
		}
	}
	if err != nil {
		return h, err
	}
	err = s.db.Read.QueryRowContext(ctx, `SELECT coalesce(sum(messages), 0) FROM minutes WHERE shard=? AND minute > ?`,
		shard, time.Now().Unix()/60-60).Scan(&h.LastHour)
	return h, err
}

// request is a queued maintenance request.
type request struct {
	ID        int64
	Shard     int
	Kind      string
	Mailboxes string
	Finished  bool
	Result    string
	Error     string
}

func (s *stateDB) enqueue(ctx context.Context, shard int, kind, mailboxes string) (int64, error) {
	var id int64
	err := s.db.Write.QueryRowContext(ctx, `INSERT INTO requests(shard, kind, mailboxes, created) VALUES (?,?,?,?) RETURNING id`,
		shard, kind, mailboxes, time.Now().Unix()).Scan(&id)
	return id, err
}

// pending returns the oldest request of the shard not finished yet.
func (s *stateDB) pending(ctx context.Context, shard int) (request, bool, error) {
	r := request{Shard: shard}
	err := s.db.Read.QueryRowContext(ctx, `SELECT id, kind, mailboxes FROM requests WHERE shard=? AND finished=0 ORDER BY id LIMIT 1`, shard).
		Scan(&r.ID, &r.Kind, &r.Mailboxes)
	if errors.Is(err, sql.ErrNoRows) {
		return r, false, nil
	}
	return r, err == nil, err
}

func (s *stateDB) start(ctx context.Context, id int64) error {
	_, err := s.db.Write.ExecContext(ctx, `UPDATE requests SET started=? WHERE id=?`, time.Now().Unix(), id)
	return err
}

func (s *stateDB) finish(ctx context.Context, id int64, result string, failure error) error {
	msg := ""
	if failure != nil {
		msg = failure.Error()
	}
	_, err := s.db.Write.ExecContext(ctx, `UPDATE requests SET finished=?, result=?, error=? WHERE id=?`, time.Now().Unix(), result, msg, id)
	return err
}

func (s *stateDB) request(ctx context.Context, id int64) (request, error) {
	r := request{ID: id}
	var finished int64
	err := s.db.Read.QueryRowContext(ctx, `SELECT shard, kind, mailboxes, finished, result, error FROM requests WHERE id=?`, id).
		Scan(&r.Shard, &r.Kind, &r.Mailboxes, &finished, &r.Result, &r.Error)
	r.Finished = finished > 0
	return r, err
}
