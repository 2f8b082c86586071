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
	UserID  int64
	Address string // the user's primary address
	Name    string
	Created time.Time
	Expires time.Time // zero: never
	Revoked time.Time // zero: not revoked
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
	err = d.db.Write.QueryRowContext(ctx, `INSERT INTO api_keys(user_id, name, secret_hash, created, expires) VALUES (?,?,?,?,?) RETURNING id`,
		u.ID, name, hashSecret(secret), now.Unix(), exp).Scan(&id)
	if err != nil {
		return Key{}, "", err
	}
	k := Key{ID: id, UserID: u.ID, Address: u.Address, Name: name, Created: now}
	if exp != 0 {
		k.Expires = time.Unix(exp, 0).UTC()
	}
	return k, keyPrefix + strconv.FormatInt(id, 10) + "_" + secret, nil
}

const keyColumns = `k.id, k.user_id, u.address, k.name, k.created, k.expires, k.revoked`

func scanKey(row interface{ Scan(...any) error }) (Key, error) {
	var k Key
	var created, expires, revoked int64
	if err := row.Scan(&k.ID, &k.UserID, &k.Address, &k.Name, &created, &expires, &revoked); err != nil {
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
	rows, err := d.db.Read.QueryContext(ctx, `SELECT `+keyColumns+` FROM api_keys k JOIN users u ON u.id = k.user_id
		WHERE k.user_id=? ORDER BY k.id`, u.ID)
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
	id, secret, ok := parseKey(key)
	if !ok {
		return User{}, ErrBadCredentials
	}
	var hash []byte
	var userID, expires, revoked int64
	err := d.db.Read.QueryRowContext(ctx, `SELECT user_id, secret_hash, expires, revoked FROM api_keys WHERE id=?`, id).
		Scan(&userID, &hash, &expires, &revoked)
	if errors.Is(err, sql.ErrNoRows) {
		return User{}, ErrBadCredentials
	}
	if err != nil {
		return User{}, err
	}
	if subtle.ConstantTimeCompare(hash, hashSecret(secret)) != 1 {
		return User{}, ErrBadCredentials
	}
	if revoked != 0 || (expires != 0 && time.Now().Unix() >= expires) {
		return User{}, ErrBadCredentials
	}
	u, err := d.User(ctx, address)
	if err != nil || u.ID != userID {
		return User{}, ErrBadCredentials
	}
	if !u.Enabled {
		return User{}, ErrDisabled
	}
	return u, nil
}
