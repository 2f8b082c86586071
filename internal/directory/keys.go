package directory

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"database/sql"
	"encoding/base32"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// keyPrefix starts every API key, so that a key is recognisable (in a
// password field, in a leaked file) and never taken for a password.
const keyPrefix = "ptk_"

// Key is an API key's record; its secret is shown only by CreateKey.
type Key struct {
	ID      int64
	UserID  int64  // 0 for a global-admin key
	Address string // the user's primary address; "" for a global-admin key
	// GlobalAdmin marks a key that acts as the global administrator
	// rather than as an account (CreateGlobalKey).
	GlobalAdmin bool
	Name        string
	Created     time.Time
	Expires     time.Time // zero: never
	Revoked     time.Time // zero: not revoked
}

// Active tells whether the key can be used at t.
func (k Key) Active(t time.Time) bool {
	return k.Revoked.IsZero() && (k.Expires.IsZero() || t.Before(k.Expires))
}

var keyEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

func isKey(s string) bool { return strings.HasPrefix(s, keyPrefix) }

// parseKey splits "ptk_<id>_<secret>".
func parseKey(s string) (id int64, secret string, ok bool) {
	rest, found := strings.CutPrefix(s, keyPrefix)
	if !found {
		return 0, "", false
	}
	idPart, secret, found := strings.Cut(rest, "_")
	if !found || secret == "" {
		return 0, "", false
	}
	id, err := strconv.ParseInt(idPart, 10, 64)
	return id, secret, err == nil && id > 0
}

func hashSecret(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}

// CreateKey makes an API key for an account and returns its record and the
// key itself, which is not stored (only a hash of its secret is) and cannot
// be shown again. The secret has 160 random bits, so a plain SHA-256 is
// enough to store it: unlike a password it cannot be guessed, and checking
// it costs microseconds, not the argon2id of a password. expires zero:
// never.
func (d *Directory) CreateKey(ctx context.Context, address, name string, expires time.Time) (Key, string, error) {
	u, err := d.User(ctx, address)
	if err != nil {
		return Key{}, "", err
	}
	return d.createKey(ctx, &u, name, expires)
}

// maxKeyName bounds a key's name.
const maxKeyName = 200

// createKey makes a key for u, or a global-admin key when u is nil.
func (d *Directory) createKey(ctx context.Context, u *User, name string, expires time.Time) (Key, string, error) {
	name = strings.TrimSpace(name)
	if len(name) > maxKeyName || strings.ContainsFunc(name, func(r rune) bool { return r < ' ' || r == 0x7f }) {
		return Key{}, "", invalid("key name: at most %d characters, no control characters", maxKeyName)
	}
	raw := make([]byte, 20)
	if _, err := rand.Read(raw); err != nil {
		return Key{}, "", err
	}
	secret := strings.ToLower(keyEncoding.EncodeToString(raw))
	now := time.Now().UTC().Truncate(time.Second)
	var exp int64
	if !expires.IsZero() {
		exp = expires.Unix()
	}
	var id int64
	var userID any
	k := Key{GlobalAdmin: true, Name: name, Created: now}
	if u != nil {
		userID, k.UserID, k.Address, k.GlobalAdmin = u.ID, u.ID, u.Address, false
	}
	err := d.db.Write.QueryRowContext(ctx, `INSERT INTO api_keys(user_id, global_admin, name, secret_hash, created, expires) VALUES (?,?,?,?,?,?) RETURNING id`,
		userID, k.GlobalAdmin, name, hashSecret(secret), now.Unix(), exp).Scan(&id)
	if err != nil {
		return Key{}, "", err
	}
	k.ID = id
	if exp != 0 {
		k.Expires = time.Unix(exp, 0).UTC()
	}
	return k, keyPrefix + strconv.FormatInt(id, 10) + "_" + secret, nil
}

const keyColumns = `k.id, coalesce(k.user_id, 0), coalesce(u.address, ''), k.global_admin, k.name, k.created, k.expires, k.revoked`

// keyFrom is the FROM clause that keyColumns reads.
const keyFrom = ` FROM api_keys k LEFT JOIN users u ON u.id = k.user_id`

func scanKey(row interface{ Scan(...any) error }) (Key, error) {
	var k Key
	var created, expires, revoked int64
	if err := row.Scan(&k.ID, &k.UserID, &k.Address, &k.GlobalAdmin, &k.Name, &created, &expires, &revoked); err != nil {
		return Key{}, err
	}
	k.Created = time.Unix(created, 0).UTC()
	if expires != 0 {
		k.Expires = time.Unix(expires, 0).UTC()
	}
	if revoked != 0 {
		k.Revoked = time.Unix(revoked, 0).UTC()
	}
	return k, nil
}

// Keys lists an account's API keys, revoked and expired ones included.
func (d *Directory) Keys(ctx context.Context, address string) ([]Key, error) {
	u, err := d.User(ctx, address)
	if err != nil {
		return nil, err
	}
	return d.keys(ctx, `WHERE k.user_id=? ORDER BY k.id`, u.ID)
}

// GlobalKeys lists the global-admin keys, revoked and expired ones
// included.
func (d *Directory) GlobalKeys(ctx context.Context) ([]Key, error) {
	return d.keys(ctx, `WHERE k.global_admin=1 ORDER BY k.id`)
}

func (d *Directory) keys(ctx context.Context, where string, args ...any) ([]Key, error) {
	rows, err := d.db.Read.QueryContext(ctx, `SELECT `+keyColumns+keyFrom+` `+where, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Key
	for rows.Next() {
		k, err := scanKey(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	return out, rows.Err()
}

// RevokeKey revokes an API key by ID; it can no longer be used. Revoking a
// revoked key is not an error.
func (d *Directory) RevokeKey(ctx context.Context, id int64) error {
	res, err := d.db.Write.ExecContext(ctx, `UPDATE api_keys SET revoked = CASE revoked WHEN 0 THEN ? ELSE revoked END WHERE id=?`,
		time.Now().Unix(), id)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("key %d: %w", id, ErrNotFound)
	}
	return nil
}

// authenticateKey checks an API key given as the password of address: the
// key must be the account's own, active, and the account enabled.
func (d *Directory) authenticateKey(ctx context.Context, address, key string) (User, error) {
	k, err := d.checkKey(ctx, key)
	if err != nil {
		return User{}, err
	}
	u, err := d.User(ctx, address)
	if err != nil || k.GlobalAdmin || u.ID != k.UserID {
		return User{}, ErrBadCredentials
	}
	if !u.Enabled {
		return User{}, ErrDisabled
	}
	return u, nil
}

// checkKey finds an active key by its text, comparing the secret's hash
// in constant time.
func (d *Directory) checkKey(ctx context.Context, key string) (Key, error) {
	id, secret, ok := parseKey(key)
	if !ok {
		return Key{}, ErrBadCredentials
	}
	var hash []byte
	k, err := scanKeyHash(d.db.Read.QueryRowContext(ctx, `SELECT `+keyColumns+`, k.secret_hash`+keyFrom+` WHERE k.id=?`, id), &hash)
	if errors.Is(err, sql.ErrNoRows) {
		return Key{}, ErrBadCredentials
	}
	if err != nil {
		return Key{}, err
	}
	if subtle.ConstantTimeCompare(hash, hashSecret(secret)) != 1 || !k.Active(time.Now()) {
		return Key{}, ErrBadCredentials
	}
	return k, nil
}

func scanKeyHash(row *sql.Row, hash *[]byte) (Key, error) {
	var k Key
	var created, expires, revoked int64
	if err := row.Scan(&k.ID, &k.UserID, &k.Address, &k.GlobalAdmin, &k.Name, &created, &expires, &revoked, hash); err != nil {
		return Key{}, err
	}
	k.Created = time.Unix(created, 0).UTC()
	if expires != 0 {
		k.Expires = time.Unix(expires, 0).UTC()
	}
	if revoked != 0 {
		k.Revoked = time.Unix(revoked, 0).UTC()
	}
	return k, nil
}

// AuthenticateBearer checks an API key presented on its own (an HTTP
// bearer token) and returns it with the account it acts as (the zero User
// for a global-admin key). A wrong, unknown, revoked or expired key gives
// ErrBadCredentials; a key of a disabled account, ErrDisabled.
func (d *Directory) AuthenticateBearer(ctx context.Context, key string) (Key, User, error) {
	k, err := d.checkKey(ctx, key)
	if err != nil {
		return Key{}, User{}, err
	}
	if k.GlobalAdmin {
		return k, User{}, nil
	}
	u, err := d.UserByID(ctx, k.UserID)
	if errors.Is(err, ErrNotFound) {
		return Key{}, User{}, ErrBadCredentials
	}
	if err != nil {
		return Key{}, User{}, err
	}
	if !u.Enabled {
		return k, u, ErrDisabled
	}
	return k, u, nil
}

// KeyOwner returns what an API key claims to act as, without checking
// it: the owner's primary address, "global-admin", or "" when no key has
// its ID. Failed-authentication throttling counts per account with it.
func (d *Directory) KeyOwner(ctx context.Context, key string) string {
	id, _, ok := parseKey(key)
	if !ok {
		return ""
	}
	k, err := d.Key(ctx, id)
	switch {
	case err != nil:
		return ""
	case k.GlobalAdmin:
		return string(RoleGlobalAdmin)
	}
	return k.Address
}

// Key returns an API key's record by ID.
func (d *Directory) Key(ctx context.Context, id int64) (Key, error) {
	k, err := scanKey(d.db.Read.QueryRowContext(ctx, `SELECT `+keyColumns+keyFrom+` WHERE k.id=?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Key{}, fmt.Errorf("key %d: %w", id, ErrNotFound)
	}
	return k, err
}

// CreateGlobalKey makes a key that acts as the global administrator: it
// belongs to no account and cannot be used as a password. As with
// CreateKey, the key is returned once and only its hash is kept.
func (d *Directory) CreateGlobalKey(ctx context.Context, name string, expires time.Time) (Key, string, error) {
	return d.createKey(ctx, nil, name, expires)
}

// SetKeyExpiry sets when a key stops working (zero: never). A time in the
// past expires it now; unlike revocation, expiry can be moved again.
func (d *Directory) SetKeyExpiry(ctx context.Context, id int64, expires time.Time) error {
	var exp int64
	if !expires.IsZero() {
		exp = max(expires.Unix(), 1)
	}
	res, err := d.db.Write.ExecContext(ctx, `UPDATE api_keys SET expires=? WHERE id=?`, exp, id)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("key %d: %w", id, ErrNotFound)
	}
	return nil
}
