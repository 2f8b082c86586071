package directory

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestAPIKeysAsPasswords(t *testing.T) {
	ctx := context.Background()
	d := openTest(t, 2)
	if _, err := d.AddDomain(ctx, Domain{Name: "example.org"}); err != nil {
		t.Fatal(err)
	}
	for _, a := range []string{"alice@example.org", "bob@example.org"} {
		if _, err := d.AddUser(ctx, NewUser{Address: a, Password: "pw-" + a}); err != nil {
			t.Fatal(err)
		}
	}
	k, secret, err := d.CreateKey(ctx, "Alice@Example.org", "migration", time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(secret, "ptk_") || k.Address != "alice@example.org" || k.Name != "migration" || !k.Active(time.Now()) {
		t.Fatalf("CreateKey: %+v %q", k, secret)
	}
	// The key is the account's password, not anyone else's.
	if u, err := d.Authenticate(ctx, "alice@example.org", secret); err != nil || u.Address != "alice@example.org" {
		t.Fatalf("login with the key: %+v, %v", u, err)
	}
	if _, err := d.Authenticate(ctx, "bob@example.org", secret); !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("alice's key as bob's password: %v", err)
	}
	// Change the secret's last character to one it is not.
	last := byte('a')
	if secret[len(secret)-1] == last {
		last = 'b'
	}
	for _, wrong := range []string{secret[:len(secret)-1] + string(last), secret + "x", "ptk_", "ptk_1_", "ptk_x_y", strings.Replace(secret, "ptk_1_", "ptk_2_", 1)} {
		if _, err := d.Authenticate(ctx, "alice@example.org", wrong); !errors.Is(err, ErrBadCredentials) {
			t.Errorf("login with %q: %v", wrong, err)
		}
	}
	// The password still works too.
	if _, err := d.Authenticate(ctx, "alice@example.org", "pw-alice@example.org"); err != nil {
		t.Fatal(err)
	}
	// Disabled account: the key says so, like the password.
	d.SetEnabled(ctx, "alice@example.org", false)
	if _, err := d.Authenticate(ctx, "alice@example.org", secret); !errors.Is(err, ErrDisabled) {
		t.Fatalf("disabled account: %v", err)
	}
	d.SetEnabled(ctx, "alice@example.org", true)
	// Revoked and expired keys fail.
	if err := d.RevokeKey(ctx, k.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Authenticate(ctx, "alice@example.org", secret); !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("revoked key: %v", err)
	}
	_, expired, err := d.CreateKey(ctx, "alice@example.org", "", time.Now().Add(-time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Authenticate(ctx, "alice@example.org", expired); !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("expired key: %v", err)
	}
	keys, err := d.Keys(ctx, "alice@example.org")
	if err != nil || len(keys) != 2 || keys[0].Revoked.IsZero() || keys[1].Active(time.Now()) {
		t.Fatalf("Keys: %+v, %v", keys, err)
	}
	if err := d.RevokeKey(ctx, 999); !errors.Is(err, ErrNotFound) {
		t.Fatalf("revoke unknown key: %v", err)
	}
	// A password cannot look like a key.
	if err := d.SetPassword(ctx, "bob@example.org", "ptk_1_abc"); err == nil {
		t.Fatal("a key-like password was accepted")
	}
}

// TestAuthCacheFollowsPasswordChanges: a remembered login ends as soon as
// the password changes, and a wrong password is never remembered.
func TestAuthCacheFollowsPasswordChanges(t *testing.T) {
	ctx := context.Background()
	d := openTest(t, 1)
	d.AddDomain(ctx, Domain{Name: "example.org"})
	if _, err := d.AddUser(ctx, NewUser{Address: "a@example.org", Password: "one"}); err != nil {
		t.Fatal(err)
	}
	for range 2 { // the second login is answered from the cache
		if _, err := d.Authenticate(ctx, "a@example.org", "one"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := d.Authenticate(ctx, "a@example.org", "two"); !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("wrong password: %v", err)
	}
	if err := d.SetPassword(ctx, "a@example.org", "two"); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Authenticate(ctx, "a@example.org", "one"); !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("old password after the change: %v", err)
	}
	if _, err := d.Authenticate(ctx, "a@example.org", "two"); err != nil {
		t.Fatalf("new password: %v", err)
	}
	// A change made by another process (another Directory on the same
	// file) ends the cached login too.
	other, err := Open(ctx, d.db.Path, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if err := other.SetPassword(ctx, "a@example.org", "three"); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Authenticate(ctx, "a@example.org", "two"); !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("password changed elsewhere, old one still accepted: %v", err)
	}
}
