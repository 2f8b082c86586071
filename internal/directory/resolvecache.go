package directory

import (
	"context"
	"database/sql"
	"sync"
	"time"
)

// resolveCheckEvery is how often the resolve cache asks SQLite whether
// another connection (the admin command line, or this process's own writer)
// changed the directory. A change made by another process reaches RCPT
// within this time; one made through this Directory at once.
const resolveCheckEvery = 100 * time.Millisecond

// resolveCacheMax bounds the addresses remembered; past it the cache starts
// again empty.
const resolveCacheMax = 100_000

// resolveCache remembers the accounts that recent RCPT commands resolved
// to. The lookup is one prepared query (two with a subaddress), but on the
// path of every recipient it was 5 % of the server's CPU under the LMTP
// benchmark: a read transaction, its shared-memory locks, the row's
// columns. Dovecot keeps a user cache for the same reason (auth_cache_*),
// invalidated by a TTL; this one is invalidated by the directory's changes:
//
//   - every write made through this Directory empties it when it returns
//     (invalidate), so what the API changed is seen by the next RCPT;
//   - at most every resolveCheckEvery, a lookup reads SQLite's
//     PRAGMA data_version on a connection of its own, which changes
//     whenever another connection, of any process, committed to the
//     database; the cache is then emptied.
//
// Only accounts found are remembered: an address just added is found at
// once, and an unknown one is looked up every time, as before.
//
// A lookup that started before an invalidation does not store its answer
// (the generation it read is no longer current), so a fill cannot bring
// back what a write replaced.
type resolveCache struct {
	db *sql.DB // a read-only handle of its own (sqlite.DB.OpenReader)

	mu      sync.Mutex
	gen     uint64
	m       map[string]User
	conn    *sql.Conn // PRAGMA data_version; opened at first use
	version int64     // the last value read on conn; -1: none yet
	checked time.Time
}

// versionTimeout bounds a data_version read (c.mu is held meanwhile: every
// RCPT waits for it); past it the cache cannot tell and is emptied.
const versionTimeout = time.Second

func newResolveCache(db *sql.DB) *resolveCache {
	return &resolveCache{db: db, m: map[string]User{}, version: -1}
}

// get returns the remembered account of a normalised address, and the
// generation to hand to put if it was not remembered.
func (c *resolveCache) get(ctx context.Context, key string) (User, uint64, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if now := time.Now(); now.Sub(c.checked) >= resolveCheckEvery {
		vctx, cancel := context.WithTimeout(ctx, versionTimeout)
		v, err := c.dataVersion(vctx)
		cancel()
		if err != nil {
			// Cannot tell: forget everything, look up, check next time.
			c.reset()
			return User{}, c.gen, false
		}
		if v != c.version {
			c.version = v
			c.reset()
		}
		c.checked = now
	}
	u, ok := c.m[key]
	return u, c.gen, ok
}

// put remembers an account found by a lookup that began at generation gen.
func (c *resolveCache) put(key string, u User, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen {
		return
	}
	if len(c.m) >= resolveCacheMax {
		clear(c.m)
	}
	c.m[key] = u
}

// invalidate forgets every account; called after each write of the
// directory made through this process.
func (c *resolveCache) invalidate() {
	c.mu.Lock()
	c.reset()
	c.mu.Unlock()
}

func (c *resolveCache) reset() {
	clear(c.m)
	c.gen++
}

// dataVersion reads PRAGMA data_version on the cache's own connection: the
// value changes when another connection has committed since the last read
// (https://sqlite.org/pragma.html#pragma_data_version). c.mu is held.
func (c *resolveCache) dataVersion(ctx context.Context) (int64, error) {
	if c.conn == nil {
		conn, err := c.db.Conn(ctx)
		if err != nil {
			return 0, err
		}
		c.conn = conn
		// A value read on another connection is not comparable: the
		// first read on this one empties the cache.
		c.version = -1
	}
	var v int64
	if err := c.conn.QueryRowContext(ctx, `PRAGMA data_version`).Scan(&v); err != nil {
		c.conn.Close()
		c.conn = nil
		return 0, err
	}
	return v, nil
}

// close releases the version connection and its handle.
func (c *resolveCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conn != nil {
		c.conn.Close()
		c.conn = nil
	}
	c.db.Close()
}
