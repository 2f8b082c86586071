package directory

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/petrelmail/petrel/internal/sqlite"
)

// resolveCached reports whether the cache holds an answer for address.
func resolveCached(d *Directory, address string) bool {
	d.resolved.mu.Lock()
	defer d.resolved.mu.Unlock()
	_, ok := d.resolved.m[address]
	return ok
}

// A write made through the Directory is seen by the next Resolve, whatever
// the cache held.
func TestResolveCacheOwnWrites(t *testing.T) {
	d := openTest(t, 2)
	ctx := context.Background()
	if _, err := d.AddDomain(ctx, Domain{Name: "example.test", Aliases: []string{"alias.test"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := d.AddUser(ctx, NewUser{Address: "alice@example.test"}); err != nil {
		t.Fatal(err)
	}
	if err := d.AddAddress(ctx, "alice@example.test", "al@example.test"); err != nil {
		t.Fatal(err)
	}
	resolve := func(addr string) (User, error) {
		t.Helper()
		return d.Resolve(ctx, addr)
	}
	for _, addr := range []string{"alice@example.test", "al@example.test", "alice@alias.test"} {
		if u, err := resolve(addr); err != nil || !u.Enabled {
			t.Fatalf("resolve %s: %+v, %v", addr, u, err)
		}
		if !resolveCached(d, addr) {
			t.Fatalf("%s not remembered", addr)
		}
	}
	if _, err := resolve("nobody@example.test"); !errors.Is(err, ErrNotFound) || resolveCached(d, "nobody@example.test") {
		t.Fatalf("unknown address: %v, remembered %v", err, resolveCached(d, "nobody@example.test"))
	}

	if err := d.SetEnabled(ctx, "alice@example.test", false); err != nil {
		t.Fatal(err)
	}
	if u, err := resolve("alice@example.test"); err != nil || u.Enabled {
		t.Fatalf("after disabling: %+v, %v", u, err)
	}
	if err := d.SetQuota(ctx, "alice@example.test", 1234); err != nil {
		t.Fatal(err)
	}
	if u, _ := resolve("al@example.test"); u.Quota != 1234 {
		t.Fatalf("after the quota change: %+v", u)
	}
	if err := d.RemoveAddress(ctx, "alice@example.test", "al@example.test"); err != nil {
		t.Fatal(err)
	}
	if _, err := resolve("al@example.test"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("removed extra address: %v", err)
	}
	if err := d.RemoveDomainAlias(ctx, "example.test", "alias.test"); err != nil {
		t.Fatal(err)
	}
	if _, err := resolve("alice@alias.test"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("removed domain alias: %v", err)
	}
	if _, err := d.DeleteUser(ctx, "alice@example.test"); err != nil {
		t.Fatal(err)
	}
	if _, err := resolve("alice@example.test"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("deleted account: %v", err)
	}
}

// A write made by another process (here another Directory on the same
// file: other connections) reaches Resolve within resolveCheckEvery.
func TestResolveCacheOtherWriters(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "directory.db")
	d, err := Open(ctx, path, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if _, err := d.AddDomain(ctx, Domain{Name: "example.test"}); err != nil {
		t.Fatal(err)
	}
	if _, err := d.AddUser(ctx, NewUser{Address: "bob@example.test"}); err != nil {
		t.Fatal(err)
	}
	if u, err := d.Resolve(ctx, "bob@example.test"); err != nil || !u.Enabled || !resolveCached(d, "bob@example.test") {
		t.Fatalf("resolve: %+v, %v", u, err)
	}

	other, err := Open(ctx, path, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if err := other.SetEnabled(ctx, "bob@example.test", false); err != nil {
		t.Fatal(err)
	}
	changed := time.Now()
	for {
		u, err := d.Resolve(ctx, "bob@example.test")
		if err != nil {
			t.Fatal(err)
		}
		if !u.Enabled {
			break
		}
		if time.Since(changed) > 10*resolveCheckEvery {
			t.Fatalf("another writer's change not seen after %v", time.Since(changed))
		}
		time.Sleep(resolveCheckEvery / 10)
	}
}

// A lookup that began before an invalidation does not store its answer.
func TestResolveCacheStaleFill(t *testing.T) {
	d := openTest(t, 1)
	ctx := context.Background()
	c := d.resolved
	if _, gen, ok := c.get(ctx, "x@example.test"); ok {
		t.Fatal("empty cache answered")
	} else {
		c.invalidate() // a write committed while the lookup ran
		c.put("x@example.test", User{ID: 7}, gen)
	}
	if _, _, ok := c.get(ctx, "x@example.test"); ok {
		t.Fatal("a fill from before the write was kept")
	}
	_, gen, _ := c.get(ctx, "x@example.test")
	c.put("x@example.test", User{ID: 7}, gen)
	if u, _, ok := c.get(ctx, "x@example.test"); !ok || u.ID != 7 {
		t.Fatalf("current fill: %+v %v", u, ok)
	}
}

// versionsOf opens the version handle a Directory built by hand needs.
func versionsOf(t *testing.T, db *sqlite.DB) *sql.DB {
	t.Helper()
	r, err := db.OpenReader()
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// data_version values are comparable only on one connection: the first
// read on a new one (after an error dropped the old) empties the cache.
func TestResolveCacheNewConnection(t *testing.T) {
	d := openTest(t, 1)
	ctx := context.Background()
	c := d.resolved
	_, gen, _ := c.get(ctx, "x@example.test")
	c.put("x@example.test", User{ID: 7}, gen)
	if _, _, ok := c.get(ctx, "x@example.test"); !ok {
		t.Fatal("not remembered")
	}
	c.mu.Lock()
	c.conn.Close() // as after a failed read
	c.conn = nil
	c.checked = time.Time{}
	c.mu.Unlock()
	if _, _, ok := c.get(ctx, "x@example.test"); ok {
		t.Fatal("kept across a new version connection")
	}
}
