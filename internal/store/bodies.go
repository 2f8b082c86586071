package store

import (
	"context"
	"database/sql"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/petrelmail/petrel/internal/blob"
)

// What the consumers of the change log read besides the log itself: the
// current state of the bodies they index, and where the log starts and
// stands. Consumers apply a change by reading the state it left (a body
// exists with this hash, or it does not), never by trusting the entry
// alone, so that replaying entries converges on the store's state.

// BodyRef is a body of the shard as it is now: its ID, its content hash
// and the metadata parsed at delivery (nil unless asked for).
type BodyRef struct {
	ID   int64
	Hash blob.Hash
	Meta []byte
}

// Bodies returns the bodies among ids that the shard holds now, with
// their metadata. IDs of deleted bodies are absent from the map.
func (sh *Shard) Bodies(ctx context.Context, ids []int64) (map[int64]BodyRef, error) {
	out := make(map[int64]BodyRef, len(ids))
	const chunk = 500
	for len(ids) > 0 {
		n := min(len(ids), chunk)
		part := ids[:n]
		ids = ids[n:]
		var q strings.Builder
		q.WriteString(`SELECT id, hash, meta FROM bodies WHERE id IN (`)
		args := make([]any, len(part))
		for i, id := range part {
			if i > 0 {
				q.WriteByte(',')
			}
			q.WriteByte('?')
			args[i] = id
		}
		q.WriteByte(')')
		rows, err := sh.db.Read.QueryContext(ctx, q.String(), args...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var b BodyRef
			var h []byte
			if err := rows.Scan(&b.ID, &h, &b.Meta); err != nil {
				rows.Close()
				return nil, err
			}
			copy(b.Hash[:], h)
			out[b.ID] = b
		}
		if err := rows.Close(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// BodyPage returns up to limit bodies with an ID above after, in ID
// order, without metadata: the way to walk every body of the shard.
func (sh *Shard) BodyPage(ctx context.Context, after int64, limit int) ([]BodyRef, error) {
	rows, err := sh.db.Read.QueryContext(ctx, `SELECT id, hash FROM bodies WHERE id > ? ORDER BY id LIMIT ?`, after, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []BodyRef
	for rows.Next() {
		var b BodyRef
		var h []byte
		if err := rows.Scan(&b.ID, &h); err != nil {
			return nil, err
		}
		copy(b.Hash[:], h)
		out = append(out, b)
	}
	return out, rows.Err()
}

// Counts returns the number of message records and of distinct bodies
// the shard holds.
func (sh *Shard) Counts(ctx context.Context) (messages, bodies int64, err error) {
	err = sh.db.Read.QueryRowContext(ctx, `SELECT (SELECT count(*) FROM messages), (SELECT count(*) FROM bodies)`).Scan(&messages, &bodies)
	return
}

// BodyUse is a body with the number of message records pointing to it.
type BodyUse struct {
	Hash     blob.Hash
	Messages int64
}

// BodyUses returns, for each body of the mailbox, its hash and how many of
// the mailbox's message records point to it (a message copied twice
// counts twice). A nil mailbox means the whole shard.
func (sh *Shard) BodyUses(ctx context.Context, mailbox *Mailbox) (map[int64]BodyUse, error) {
	query := `SELECT m.body_id, b.hash, count(*) FROM messages m JOIN bodies b ON b.id = m.body_id GROUP BY m.body_id`
	var args []any
	if mailbox != nil {
		query = `SELECT m.body_id, b.hash, count(*) FROM messages m JOIN folders f ON f.id = m.folder_id JOIN bodies b ON b.id = m.body_id
			WHERE f.mailbox_id=? GROUP BY m.body_id`
		args = append(args, mailbox.ID)
	}
	rows, err := sh.db.Read.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[int64]BodyUse{}
	for rows.Next() {
		var id int64
		var u BodyUse
		var h []byte
		if err := rows.Scan(&id, &h, &u.Messages); err != nil {
			return nil, err
		}
		copy(u.Hash[:], h)
		out[id] = u
	}
	return out, rows.Err()
}

// LogBounds returns the IDs of the first and last entries of the change
// log (0, 0 when it is empty). A consumer whose cursor is below first-1
// has lost entries to compaction and must rebuild from the state.
func (sh *Shard) LogBounds(ctx context.Context) (first, last int64, err error) {
	err = sh.db.Read.QueryRowContext(ctx, `SELECT coalesce(min(id), 0), coalesce(max(id), 0) FROM changelog`).Scan(&first, &last)
	return
}

// compactChunk is the most change log entries one compaction transaction
// deletes: a few milliseconds of the shard's writer, which deliveries
// queue behind.
var compactChunk int64 = 1000

// CompactLog deletes the change log entries up to ID upTo (those every
// consumer has applied) that were committed at or before olderThan (to
// the second), oldest first, in at most chunks transactions of
// compactChunk entries. It returns how many it deleted and whether
// entries old enough are left: held back by the chunks or by upTo (a
// consumer that has not applied them yet). The newest entry is always
// kept: the next entry's ID is one above the largest present, so an ID is
// never given out twice. A consumer whose cursor is below the log's start
// afterwards has lost entries and rebuilds from the store's state (see
// LogBounds). The expunge tombstones of the deleted entries go with them
// (expireTombstones); more also says whether some of those are left.
func (sh *Shard) CompactLog(ctx context.Context, upTo int64, olderThan time.Time, chunks int) (deleted int64, more bool, err error) {
	// The first entry to keep for its age (the log is in commit order),
	// or the newest if every entry is old enough.
	var keep int64
	err = sh.db.Read.QueryRowContext(ctx, `SELECT coalesce(
		(SELECT id FROM changelog WHERE time > ? ORDER BY id LIMIT 1),
		(SELECT max(id) FROM changelog), 0)`, olderThan.Unix()).Scan(&keep)
	if err != nil {
		return 0, false, err
	}
	end := min(upTo+1, keep) // delete the IDs below end
	for range chunks {
		var n int64
		err := sh.write(ctx, func(t *Tx) error {
			res, err := t.exec(`DELETE FROM changelog WHERE id < ? AND id < (SELECT min(id) FROM changelog) + ?`, end, compactChunk)
			if err != nil {
				return err
			}
			n, err = res.RowsAffected()
			return err
		})
		deleted += n
		if err != nil {
			return deleted, false, err
		}
		if n == 0 {
			break
		}
	}
	tombsLeft, err := sh.expireTombstones(ctx, chunks)
	if err != nil {
		return deleted, false, err
	}
	var first int64
	err = sh.db.Read.QueryRowContext(ctx, `SELECT coalesce(min(id), 0) FROM changelog`).Scan(&first)
	return deleted, err == nil && (first < keep || tombsLeft), err
}

// expireTombstones deletes the expunge tombstones whose change log entry
// is gone, oldest first, in at most chunks transactions of compactChunk,
// and raises each folder's vanished_floor to the highest MODSEQ it lost
// (see VanishedSince). Every MODSEQ below the log's first entry's belongs
// to a deleted entry (MODSEQs follow the log's order, and whatever writes
// a tombstone logs its change). It reports whether some are left.
func (sh *Shard) expireTombstones(ctx context.Context, chunks int) (more bool, err error) {
	for range chunks {
		var n int64
		err := sh.write(ctx, func(t *Tx) error {
			rows, err := t.query(`SELECT folder_id, uid, modseq FROM tombstones
				WHERE modseq < (SELECT modseq FROM changelog ORDER BY id LIMIT 1) ORDER BY modseq LIMIT ?`, compactChunk)
			if err != nil {
				return err
			}
			type key struct{ folder, uid int64 }
			var gone []key
			floors := map[int64]int64{}
			for rows.Next() {
				var k key
				var modseq int64
				if err := rows.Scan(&k.folder, &k.uid, &modseq); err != nil {
					rows.Close()
					return err
				}
				gone = append(gone, k)
				floors[k.folder] = max(floors[k.folder], modseq)
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return err
			}
			for _, k := range gone {
				if _, err := t.exec(`DELETE FROM tombstones WHERE folder_id=? AND uid=?`, k.folder, k.uid); err != nil {
					return err
				}
			}
			for folder, floor := range floors {
				if _, err := t.exec(`UPDATE folders SET vanished_floor = ? WHERE id = ? AND vanished_floor < ?`, floor, folder, floor); err != nil {
					return err
				}
			}
			n = int64(len(gone))
			return nil
		})
		if err != nil {
			return false, err
		}
		if n < compactChunk {
			return false, nil
		}
	}
	return true, nil
}

// ChangeAfter returns the MODSEQ and commit time of the first change log
// entry after ID after; found is false when there is none.
func (sh *Shard) ChangeAfter(ctx context.Context, after int64) (modseq int64, at time.Time, found bool, err error) {
	return sh.changeRow(ctx, `SELECT modseq, time FROM changelog WHERE id > ? ORDER BY id LIMIT 1`, after)
}

// ChangeAtOrBefore returns the MODSEQ and commit time of the last entry
// whose ID is at most id; found is false when there is none.
func (sh *Shard) ChangeAtOrBefore(ctx context.Context, id int64) (modseq int64, at time.Time, found bool, err error) {
	return sh.changeRow(ctx, `SELECT modseq, time FROM changelog WHERE id <= ? ORDER BY id DESC LIMIT 1`, id)
}

func (sh *Shard) changeRow(ctx context.Context, query string, id int64) (modseq int64, at time.Time, found bool, err error) {
	var t int64
	err = sh.db.Read.QueryRowContext(ctx, query, id).Scan(&modseq, &t)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, time.Time{}, false, nil
	}
	if err != nil {
		return 0, time.Time{}, false, err
	}
	return modseq, time.Unix(t, 0), true, nil
}

// String names the shard in logs and errors.
func (sh *Shard) String() string { return "shard " + strconv.Itoa(sh.Index) }
