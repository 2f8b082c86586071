package directory

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
)

func openTest(t *testing.T, shards int) *Directory {
	t.Helper()
	d, err := Open(context.Background(), filepath.Join(t.TempDir(), "directory.db"), shards)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

func TestPasswordHash(t *testing.T) {
	h, err := HashPassword("correct horse")
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := VerifyPassword(h, "correct horse"); !ok || err != nil {
		t.Fatalf("right password refused: %v", err)
	}
	if ok, _ := VerifyPassword(h, "correct horsE"); ok {
		t.Fatal("wrong password accepted")
	}
	h2, _ := HashPassword("correct horse")
	if h == h2 {
		t.Fatal("two hashes of one password are equal: no salt")
	}
	for _, bad := range []string{"", "$argon2id$v=19$m=1,t=1,p=1$$", "plain", "$argon2id$v=19$m=99999999,t=1,p=1$AAAA$AAAA"} {
		if ok, err := VerifyPassword(bad, "x"); ok || err == nil {
			t.Errorf("hash %q: ok=%v err=%v", bad, ok, err)
		}
	}
}

func TestDomainsAndAliases(t *testing.T) {
	d := openTest(t, 4)
	ctx := context.Background()
	dom, err := d.AddDomain(ctx, Domain{Name: "Example.TEST", Aliases: []string{"example.org"}})
	if err != nil || dom.Name != "example.test" || len(dom.Aliases) != 1 {
		t.Fatalf("add = %+v, %v", dom, err)
	}
	for _, name := range []string{"example.test", "example.org"} {
		if _, err := d.AddDomain(ctx, Domain{Name: name}); !errors.Is(err, ErrExists) {
			t.Errorf("add %s again: %v", name, err)
		}
	}
	for _, bad := range []string{"", "-a.test", "a..test", "a b.test", "x_y.test"} {
		if _, err := d.AddDomain(ctx, Domain{Name: bad}); !errors.Is(err, ErrInvalid) {
			t.Errorf("add %q: %v", bad, err)
		}
	}
	if _, err := d.AddDomain(ctx, Domain{Name: "fr.test", DefaultLanguage: "xx"}); !errors.Is(err, ErrInvalid) {
		t.Errorf("unknown language accepted: %v", err)
	}
	got, err := d.Domain(ctx, "EXAMPLE.ORG")
	if err != nil || got.Name != "example.test" {
		t.Fatalf("lookup by alias = %+v, %v", got, err)
	}
	if _, err := d.AddUser(ctx, NewUser{Address: "a@example.test"}); err != nil {
		t.Fatal(err)
	}
	if err := d.DeleteDomain(ctx, "example.test"); !errors.Is(err, ErrNotEmpty) {
		t.Fatalf("delete domain with accounts: %v", err)
	}
	if _, err := d.DeleteUser(ctx, "a@example.test"); err != nil {
		t.Fatal(err)
	}
	if err := d.DeleteDomain(ctx, "example.test"); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Domain(ctx, "example.org"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("alias survives its domain: %v", err)
	}
}

func TestUsersResolveAndAuthenticate(t *testing.T) {
	d := openTest(t, 4)
	ctx := context.Background()
	quota := int64(1 << 30)
	if _, err := d.AddDomain(ctx, Domain{Name: "example.test", Aliases: []string{"alias.test"}, DefaultQuota: 5 << 20, DefaultLanguage: "fr"}); err != nil {
		t.Fatal(err)
	}
	alice, err := d.AddUser(ctx, NewUser{Address: "Alice@Example.test", Password: "s3cret", Quota: &quota})
	if err != nil {
		t.Fatal(err)
	}
	if alice.Address != "alice@example.test" || alice.Quota != quota || alice.Language != "fr" || alice.Role != RoleUser || !alice.Enabled {
		t.Fatalf("alice = %+v", alice)
	}
	bob, err := d.AddUser(ctx, NewUser{Address: "bob@example.test"})
	if err != nil || bob.Quota != 5<<20 || bob.Shard == alice.Shard {
		t.Fatalf("bob = %+v, %v (shards must spread)", bob, err)
	}
	if _, err := d.AddUser(ctx, NewUser{Address: "x@nowhere.test"}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("user in unknown domain: %v", err)
	}
	if _, err := d.AddUser(ctx, NewUser{Address: "ALICE@example.test"}); !errors.Is(err, ErrExists) {
		t.Fatalf("duplicate user: %v", err)
	}
	if err := d.AddAddress(ctx, "alice@example.test", "a.l@example.test"); err != nil {
		t.Fatal(err)
	}
	if err := d.AddAddress(ctx, "bob@example.test", "a.l@alias.test"); !errors.Is(err, ErrExists) {
		t.Fatalf("address taken through a domain alias: %v", err)
	}
	for addr, want := range map[string]int64{
		"alice@example.test": alice.ID, "ALICE@alias.test": alice.ID, "a.l@example.test": alice.ID,
		"alice+lists@example.test": alice.ID, "bob@alias.test": bob.ID,
	} {
		u, err := d.Resolve(ctx, addr)
		if err != nil || u.ID != want {
			t.Errorf("resolve %s = %d, %v; want %d", addr, u.ID, err, want)
		}
	}
	for _, addr := range []string{"carol@example.test", "alice@other.test", "not-an-address", "+x@example.test"} {
		if _, err := d.Resolve(ctx, addr); err == nil {
			t.Errorf("resolve %s succeeded", addr)
		}
	}
	if _, err := d.Authenticate(ctx, "alice@alias.test", "s3cret"); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Authenticate(ctx, "alice@example.test", "wrong"); !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("wrong password: %v", err)
	}
	if _, err := d.Authenticate(ctx, "bob@example.test", ""); !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("account without password: %v", err)
	}
	if err := d.SetEnabled(ctx, "alice@example.test", false); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Authenticate(ctx, "alice@example.test", "s3cret"); !errors.Is(err, ErrDisabled) {
		t.Fatalf("disabled account: %v", err)
	}
	if err := d.SetPassword(ctx, "bob@example.test", "new"); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Authenticate(ctx, "bob@example.test", "new"); err != nil {
		t.Fatal(err)
	}
	users, err := d.Users(ctx, "alias.test")
	if err != nil || len(users) != 2 || len(users[0].Addresses) != 1 {
		t.Fatalf("users = %+v, %v", users, err)
	}
}
