package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/petrelmail/petrel/internal/blob"
)

// Options configure a store.
type Options struct {
	// Shards is the number of shards of a new store (default 4). An
	// existing store keeps the count it was created with.
	Shards int
}

// DefaultShards is the shard count of a new store: more than one, so that
// shards are a real concept from the first day.
const DefaultShards = 4

// Store is the spool of one data folder: its shards and its blob store.
type Store struct {
	dir    string
	shards []*Shard
	blobs  *blob.Store
}

type layout struct {
	Version int `json:"version"`
	Shards  int `json:"shards"`
}

// ShardCount reads the shard count of the store in dataDir, or returns
// def when there is no store there yet.
func ShardCount(dataDir string, def int) (int, error) {
	b, err := os.ReadFile(filepath.Join(dataDir, "shards", "layout.json"))
	if errors.Is(err, fs.ErrNotExist) {
		if def <= 0 {
			def = DefaultShards
		}
		return def, nil
	}
	if err != nil {
		return 0, err
	}
	var l layout
	if err := json.Unmarshal(b, &l); err != nil || l.Shards < 1 {
		return 0, fmt.Errorf("store: %s/shards/layout.json is damaged", dataDir)
	}
	return l.Shards, nil
}

// Open opens (creating if needed) the store under dataDir: the shards in
// dataDir/shards/NN.db and the bodies in dataDir/blobs.
func Open(ctx context.Context, dataDir string, opts Options) (*Store, error) {
	n, err := ShardCount(dataDir, opts.Shards)
	if err != nil {
		return nil, err
	}
	shardDir := filepath.Join(dataDir, "shards")
	if err := os.MkdirAll(shardDir, 0o750); err != nil {
		return nil, err
	}
	layoutPath := filepath.Join(shardDir, "layout.json")
	if _, err := os.Stat(layoutPath); errors.Is(err, fs.ErrNotExist) {
		b, _ := json.Marshal(layout{Version: 1, Shards: n})
		if err := writeFileSync(layoutPath, b); err != nil {
			return nil, err
		}
	}
	blobs, err := blob.Open(filepath.Join(dataDir, "blobs"))
	if err != nil {
		return nil, err
	}
	st := &Store{dir: dataDir, blobs: blobs}
	for i := 0; i < n; i++ {
		sh, err := openShard(ctx, st, i, filepath.Join(shardDir, fmt.Sprintf("%02d.db", i)))
		if err != nil {
			st.Close()
			return nil, err
		}
		st.shards = append(st.shards, sh)
	}
	return st, nil
}

func writeFileSync(path string, b []byte) error {
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	d, err := os.Open(filepath.Dir(path))
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// Close stops the shard writers (after the operations already queued) and
// closes the databases.
func (st *Store) Close() error {
	var first error
	for _, sh := range st.shards {
		if err := sh.close(); err != nil && first == nil {
			first = err
		}
	}
	if st.blobs != nil {
		st.blobs.Close()
	}
	return first
}

// Shards returns the shards.
func (st *Store) Shards() []*Shard { return st.shards }

// Shard returns shard i.
func (st *Store) Shard(i int) (*Shard, error) {
	if i < 0 || i >= len(st.shards) {
		return nil, fmt.Errorf("store: no shard %d (the store has %d)", i, len(st.shards))
	}
	return st.shards[i], nil
}

// Blobs returns the blob store of the bodies.
func (st *Store) Blobs() *blob.Store { return st.blobs }

// Mailbox returns the handle of an account's mailbox. It does no I/O.
func (st *Store) Mailbox(shard int, id int64) (*Mailbox, error) {
	sh, err := st.Shard(shard)
	if err != nil {
		return nil, err
	}
	return &Mailbox{sh: sh, ID: id}, nil
}

// Head returns the ID of the last entry of the shard's change log.
func (sh *Shard) Head(ctx context.Context) (int64, error) {
	var head int64
	err := sh.db.Read.QueryRowContext(ctx, `SELECT coalesce(max(id), 0) FROM changelog`).Scan(&head)
	return head, err
}

// Changes returns up to limit change log entries after ID after, in order.
func (sh *Shard) Changes(ctx context.Context, after int64, limit int) ([]Change, error) {
	rows, err := sh.changes.QueryContext(ctx, after, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Change
	for rows.Next() {
		var c Change
		var kind int
		var uid, flags, t int64
		var kw string
		if err := rows.Scan(&c.ID, &c.ModSeq, &c.Mailbox, &c.Folder, &kind, &uid, &c.BodyID, &flags, &kw, &c.Name, &c.OldName, &t); err != nil {
			return nil, err
		}
		c.Kind, c.UID, c.Flags, c.Keywords, c.Time = ChangeKind(kind), uint32(uid), Flags(flags), splitKeywords(kw), time.Unix(t, 0).UTC()
		out = append(out, c)
	}
	return out, rows.Err()
}
