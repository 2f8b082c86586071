package store

import (
	"context"
	"time"

	"github.com/petrelmail/petrel/internal/blob"
)

// referenced reports whether any shard holds a body row for h.
func (st *Store) referenced(ctx context.Context, h blob.Hash) (bool, error) {
	for _, sh := range st.shards {
		var n int
		if err := sh.db.Read.QueryRowContext(ctx, `SELECT count(*) FROM bodies WHERE hash=?`, h[:]).Scan(&n); err != nil {
			return false, err
		}
		if n > 0 {
			return true, nil
		}
	}
	return false, nil
}

// CollectGarbage removes the bodies whose last reference went away at least
// grace ago and that no shard references any more. A body pinned by a
// delivery in progress is never removed: the check and the removal happen
// under the body's lock, which a delivery holds from "file exists" until
// its transaction is over. It returns how many bodies it removed.
func (st *Store) CollectGarbage(ctx context.Context, grace time.Duration) (int, error) {
	cutoff := time.Now().Add(-grace).Unix()
	removed := 0
	for _, sh := range st.shards {
		rows, err := sh.db.Read.QueryContext(ctx, `SELECT hash FROM blob_garbage WHERE since <= ? LIMIT 10000`, cutoff)
		if err != nil {
			return removed, err
		}
		var hashes []blob.Hash
		for rows.Next() {
			var b []byte
			if err := rows.Scan(&b); err != nil {
				rows.Close()
				return removed, err
			}
			var h blob.Hash
			copy(h[:], b)
			hashes = append(hashes, h)
		}
		rows.Close()
		for _, h := range hashes {
			n, err := st.collectOne(ctx, h)
			if err != nil {
				return removed, err
			}
			removed += n
		}
	}
	return removed, nil
}

func (st *Store) collectOne(ctx context.Context, h blob.Hash) (int, error) {
	unlock := st.blobs.Lock(h)
	defer unlock()
	used, err := st.referenced(ctx, h)
	if err != nil {
		return 0, err
	}
	n := 0
	if !used {
		if err := st.blobs.Remove(h); err != nil {
			return 0, err
		}
		blobsCollected.Inc()
		n = 1
	}
	// Whether removed or referenced again, the candidate rows are done.
	for _, sh := range st.shards {
		if err := sh.write(ctx, func(t *Tx) error {
			_, err := t.exec(`DELETE FROM blob_garbage WHERE hash=?`, h[:])
			return err
		}); err != nil {
			return n, err
		}
	}
	return n, nil
}

// SweepOrphans removes bodies older than age that no shard references and
// that are not candidates already: the files of deliveries that crashed
// after making the body durable and before committing its reference.
func (st *Store) SweepOrphans(ctx context.Context, age time.Duration) (int, error) {
	cutoff := time.Now().Add(-age)
	var candidates []blob.Hash
	err := st.blobs.Walk(func(h blob.Hash, size int64, mtime time.Time) error {
		if mtime.Before(cutoff) {
			candidates = append(candidates, h)
		}
		return ctx.Err()
	})
	if err != nil {
		return 0, err
	}
	removed := 0
	for _, h := range candidates {
		used, err := st.referenced(ctx, h)
		if err != nil || used {
			if err != nil {
				return removed, err
			}
			continue
		}
		n, err := st.collectOne(ctx, h)
		if err != nil {
			return removed, err
		}
		removed += n
	}
	return removed, nil
}

// DropIfUnreferenced removes a body that no shard references, at once: for
// a delivery whose every target failed after it made the body durable, so
// that a refused message leaves nothing behind. The caller must not hold
// Pin on h.
func (st *Store) DropIfUnreferenced(ctx context.Context, h blob.Hash) error {
	_, err := st.collectOne(ctx, h)
	return err
}
