package directory

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/petrelmail/petrel/internal/sqlite"
)

func TestGlobalAdminKeys(t *testing.T) {
	ctx := context.Background()
	d := openTest(t, 1)
	if _, err := d.AddDomain(ctx, Domain{Name: "example.org"}); err != nil {
		t.Fatal(err)
	}
	if _, err := d.AddUser(ctx, NewUser{Address: "alice@example.org"}); err != nil {
		t.Fatal(err)
	}
	k, secret, err := d.CreateGlobalKey(ctx, "bootstrap", time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if !k.GlobalAdmin || k.UserID != 0 || k.Address != "" {
		t.Fatalf("global key record: %+v", k)
	}
	got, u, err := d.AuthenticateBearer(ctx, secret)
	if err != nil || !got.GlobalAdmin || u.ID != 0 || got.ID != k.ID {
		t.Fatalf("AuthenticateBearer(global) = %+v, %+v, %v", got, u, err)
	}
	if owner := d.KeyOwner(ctx, secret); owner != "global-admin" {
		t.Errorf("KeyOwner(global) = %q", owner)
	}
	// It is no account's password.
	if _, err := d.Authenticate(ctx, "alice@example.org", secret); !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("global key as a password: %v", err)
	}
	// A user's key names its account.
	_, userKey, err := d.CreateKey(ctx, "alice@example.org", "", time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if _, u, err := d.AuthenticateBearer(ctx, userKey); err != nil || u.Address != "alice@example.org" {
		t.Fatalf("AuthenticateBearer(user) = %+v, %v", u, err)
	}
	if owner := d.KeyOwner(ctx, userKey); owner != "alice@example.org" {
		t.Errorf("KeyOwner(user) = %q", owner)
	}
	keys, err := d.GlobalKeys(ctx)
	if err != nil || len(keys) != 1 || keys[0].ID != k.ID {
		t.Fatalf("GlobalKeys = %+v, %v", keys, err)
	}
	// Expire, move the expiry back, revoke.
	if err := d.SetKeyExpiry(ctx, k.ID, time.Now().Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := d.AuthenticateBearer(ctx, secret); !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("expired key: %v", err)
	}
	if err := d.SetKeyExpiry(ctx, k.ID, time.Time{}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := d.AuthenticateBearer(ctx, secret); err != nil {
		t.Fatalf("key with its expiry removed: %v", err)
	}
	if err := d.RevokeKey(ctx, k.ID); err != nil {
		t.Fatal(err)
	}
	if _, _, err := d.AuthenticateBearer(ctx, secret); !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("revoked key: %v", err)
	}
	if err := d.SetKeyExpiry(ctx, 9999, time.Time{}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("expiry of a missing key: %v", err)
	}
	if _, _, err := d.CreateGlobalKey(ctx, "bad\nname", time.Time{}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("key name with a newline: %v", err)
	}
	// A disabled account's key says so.
	d.SetEnabled(ctx, "alice@example.org", false)
	if _, _, err := d.AuthenticateBearer(ctx, userKey); !errors.Is(err, ErrDisabled) {
		t.Fatalf("disabled account's key: %v", err)
	}
}

// TestKeysSurviveMigration opens a directory made by the previous schema
// (keys tied to accounts only) and checks its keys still work.
func TestKeysSurviveMigration(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "directory.db")
	db, err := sqlite.Open(ctx, path, migrations[:2])
	if err != nil {
		t.Fatal(err)
	}
	old := &Directory{db: db, shards: 1, auth: newAuthCache(), resolved: newResolveCache(versionsOf(t, db))}
	if _, err := old.AddDomain(ctx, Domain{Name: "example.org"}); err != nil {
		t.Fatal(err)
	}
	if _, err := old.db.Write.ExecContext(ctx, `INSERT INTO users(address, domain, type, quota, language, enabled, role, shard, created)
		VALUES ('alice@example.org', 'example.org', 'user', 0, 'en', 1, 'user', 0, 0);
		INSERT INTO addresses(address, user_id, is_primary) VALUES ('alice@example.org', 1, 1);
		INSERT INTO api_keys(user_id, name, secret_hash, created) VALUES (1, 'old', ?, 0)`, hashSecret("secret")); err != nil {
		t.Fatal(err)
	}
	db.Close()
	d, err := Open(ctx, path, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if _, u, err := d.AuthenticateBearer(ctx, "ptk_1_secret"); err != nil || u.Address != "alice@example.org" {
		t.Fatalf("old key after migration: %+v, %v", u, err)
	}
	k, _, err := d.CreateKey(ctx, "alice@example.org", "new", time.Time{})
	if err != nil || k.ID != 2 {
		t.Fatalf("new key after migration: %+v, %v", k, err)
	}
}

func TestGrantsAndRoles(t *testing.T) {
	ctx := context.Background()
	d := openTest(t, 1)
	for _, dom := range []string{"a.example", "b.example"} {
		if _, err := d.AddDomain(ctx, Domain{Name: dom}); err != nil {
			t.Fatal(err)
		}
	}
	for _, nu := range []NewUser{{Address: "team@a.example", Type: TypeShared}, {Address: "alice@a.example"},
		{Address: "bob@b.example"}, {Address: "boss@a.example", Role: RoleDomainAdmin}} {
		if _, err := d.AddUser(ctx, nu); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := d.AddUser(ctx, NewUser{Address: "x@a.example", Type: TypeShared, Role: RoleGlobalAdmin}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("shared administrator: %v", err)
	}
	if err := d.SetGrant(ctx, "team@a.example", "alice@a.example", RightsWrite); err != nil {
		t.Fatal(err)
	}
	if err := d.SetGrant(ctx, "team@a.example", "bob@b.example", RightsRead); err != nil {
		t.Fatal(err)
	}
	if err := d.SetGrant(ctx, "alice@a.example", "bob@b.example", RightsRead); !errors.Is(err, ErrInvalid) {
		t.Fatalf("grant on a personal mailbox: %v", err)
	}
	if err := d.SetGrant(ctx, "team@a.example", "bob@b.example", "all"); !errors.Is(err, ErrInvalid) {
		t.Fatalf("unknown rights: %v", err)
	}
	team, _ := d.User(ctx, "team@a.example")
	bob, _ := d.User(ctx, "bob@b.example")
	if r, err := d.RightsOf(ctx, team.ID, bob.ID); err != nil || r != RightsRead || r.Allows(RightsWrite) || !r.Allows(RightsRead) {
		t.Fatalf("bob's rights: %q, %v", r, err)
	}
	gs, err := d.Grants(ctx, "team@a.example")
	if err != nil || len(gs) != 2 || gs[0].Grantee != "alice@a.example" || gs[0].Rights != RightsWrite {
		t.Fatalf("Grants = %+v, %v", gs, err)
	}
	if err := d.RemoveGrant(ctx, "team@a.example", "bob@b.example"); err != nil {
		t.Fatal(err)
	}
	if err := d.RemoveGrant(ctx, "team@a.example", "bob@b.example"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("removing a missing grant: %v", err)
	}
	if r, _ := d.RightsOf(ctx, team.ID, bob.ID); r != "" {
		t.Fatalf("rights after removal: %q", r)
	}

	boss, _ := d.User(ctx, "boss@a.example")
	if !slices.Equal(boss.AdminDomains, []string{"a.example"}) {
		t.Fatalf("new domain admin administers %v", boss.AdminDomains)
	}
	if err := d.SetRole(ctx, "boss@a.example", RoleDomainAdmin, []string{"b.example", "a.example"}); err != nil {
		t.Fatal(err)
	}
	boss, _ = d.User(ctx, "boss@a.example")
	if !slices.Equal(boss.AdminDomains, []string{"a.example", "b.example"}) {
		t.Fatalf("domain admin administers %v", boss.AdminDomains)
	}
	if err := d.SetRole(ctx, "boss@a.example", RoleDomainAdmin, []string{"c.example"}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("administering an unknown domain: %v", err)
	}
	if err := d.SetRole(ctx, "boss@a.example", RoleUser, nil); err != nil {
		t.Fatal(err)
	}
	boss, _ = d.User(ctx, "boss@a.example")
	if boss.Role != RoleUser || len(boss.AdminDomains) != 0 {
		t.Fatalf("demoted: %+v", boss)
	}

	if err := d.SetDomainAliases(ctx, "a.example", []string{"a1.example", "A2.example"}); err != nil {
		t.Fatal(err)
	}
	if err := d.SetDomainAliases(ctx, "a.example", []string{"a2.example", "a3.example"}); err != nil {
		t.Fatal(err)
	}
	dom, _ := d.Domain(ctx, "a.example")
	if !slices.Equal(dom.Aliases, []string{"a2.example", "a3.example"}) {
		t.Fatalf("aliases %v", dom.Aliases)
	}
	if err := d.SetDomainAliases(ctx, "a.example", []string{"b.example"}); !errors.Is(err, ErrExists) {
		t.Fatalf("another domain as alias: %v", err)
	}
	dom, _ = d.Domain(ctx, "a.example")
	if !slices.Equal(dom.Aliases, []string{"a2.example", "a3.example"}) {
		t.Fatalf("aliases after a refused change %v", dom.Aliases)
	}
}
