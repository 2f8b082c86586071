package directory

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"
)

// AddUser creates an account in an existing domain and places it on the
// least used shard. The caller creates the mailbox in the store afterwards;
// the store's mailbox creation is idempotent, so a crash in between is
// repaired by the next access.
func (d *Directory) AddUser(ctx context.Context, nu NewUser) (User, error) {
	defer d.resolved.invalidate() // after the commit: see resolveCache
	local, domainName, err := NormalizeAddress(nu.Address)
	if err != nil {
		return User{}, err
	}
	dom, err := d.Domain(ctx, domainName)
	if err != nil {
		return User{}, err
	}
	if dom.Name != domainName {
		return User{}, invalid("%s is an alias of %s: create the account as %s@%s", domainName, dom.Name, local, dom.Name)
	}
	if nu.Type == "" {
		nu.Type = TypeUser
	}
	if nu.Type != TypeUser && nu.Type != TypeShared {
		return User{}, invalid("account type %q (user or shared)", nu.Type)
	}
	if nu.Role == "" {
		nu.Role = RoleUser
	}
	if nu.Role != RoleUser && nu.Role != RoleDomainAdmin && nu.Role != RoleGlobalAdmin {
		return User{}, invalid("role %q (user, domain-admin or global-admin)", nu.Role)
	}
	if nu.Role != RoleUser && nu.Type == TypeShared {
		return User{}, invalid("a shared mailbox cannot be an administrator")
	}
	if nu.Language == "" {
		nu.Language = dom.DefaultLanguage
	}
	if !validLanguage(nu.Language) {
		return User{}, invalid("language %q (known: %s)", nu.Language, strings.Join(Languages, ", "))
	}
	quota := dom.DefaultQuota
	if nu.Quota != nil {
		quota = *nu.Quota
	}
	if quota < 0 {
		return User{}, invalid("quota %d", quota)
	}
	hash := ""
	if isKey(nu.Password) {
		return User{}, invalid("a password may not start with %q, which marks API keys", keyPrefix)
	}
	if nu.Password != "" {
		if hash, err = HashPassword(nu.Password); err != nil {
			return User{}, err
		}
	}
	address := local + "@" + dom.Name

	tx, err := d.db.Write.BeginTx(ctx, nil)
	if err != nil {
		return User{}, err
	}
	defer tx.Rollback()
	if taken, err := addressTaken(ctx, tx, address); err != nil {
		return User{}, err
	} else if taken {
		return User{}, fmt.Errorf("address %s: %w", address, ErrExists)
	}
	shard, err := d.leastUsedShard(ctx, tx)
	if err != nil {
		return User{}, err
	}
	res, err := tx.ExecContext(ctx, `INSERT INTO users(address, domain, type, password_hash, quota, language, enabled, role, shard, created)
		VALUES (?,?,?,?,?,?,1,?,?,?)`, address, dom.Name, string(nu.Type), hash, quota, nu.Language, string(nu.Role), shard, time.Now().Unix())
	if err != nil {
		return User{}, err
	}
	id, _ := res.LastInsertId()
	if _, err := tx.ExecContext(ctx, `INSERT INTO addresses(address, user_id, is_primary) VALUES (?,?,1)`, address, id); err != nil {
		return User{}, err
	}
	if nu.Role == RoleDomainAdmin {
		if _, err := tx.ExecContext(ctx, `INSERT INTO domain_admins(user_id, domain) VALUES (?,?)`, id, dom.Name); err != nil {
			return User{}, err
		}
	}
	if err := tx.Commit(); err != nil {
		return User{}, err
	}
	return d.UserByID(ctx, id)
}

func addressTaken(ctx context.Context, tx *sql.Tx, address string) (bool, error) {
	var n int
	err := tx.QueryRowContext(ctx, `SELECT count(*) FROM addresses WHERE address=?`, address).Scan(&n)
	return n > 0, err
}

func (d *Directory) leastUsedShard(ctx context.Context, tx *sql.Tx) (int, error) {
	counts := make([]int, d.shards)
	rows, err := tx.QueryContext(ctx, `SELECT shard, count(*) FROM users GROUP BY shard`)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	for rows.Next() {
		var shard, n int
		if err := rows.Scan(&shard, &n); err != nil {
			return 0, err
		}
		if shard >= 0 && shard < len(counts) {
			counts[shard] = n
		}
	}
	best := 0
	for i, n := range counts {
		if n < counts[best] {
			best = i
		}
	}
	return best, rows.Err()
}

const userColumns = `u.id, u.address, u.domain, u.type, u.password_hash, u.quota, u.language, u.enabled, u.role, u.shard, u.created,
	(SELECT group_concat(address, ' ') FROM addresses a WHERE a.user_id = u.id AND a.is_primary = 0),
	(SELECT group_concat(domain, ' ') FROM domain_admins da WHERE da.user_id = u.id)`

func scanUser(row interface{ Scan(...any) error }) (User, error) {
	var u User
	var typ, role string
	var created int64
	var enabled int
	var extra, adminOf sql.NullString
	if err := row.Scan(&u.ID, &u.Address, &u.Domain, &typ, &u.passwordHash, &u.Quota, &u.Language, &enabled, &role, &u.Shard, &created, &extra, &adminOf); err != nil {
		return User{}, err
	}
	u.Type, u.Role, u.Enabled = Type(typ), Role(role), enabled != 0
	u.Created = time.Unix(created, 0).UTC()
	if extra.String != "" {
		u.Addresses = strings.Fields(extra.String)
		sort.Strings(u.Addresses)
	}
	if adminOf.String != "" && u.Role == RoleDomainAdmin {
		u.AdminDomains = strings.Fields(adminOf.String)
		sort.Strings(u.AdminDomains)
	}
	return u, nil
}

// UserByID returns an account by its ID.
func (d *Directory) UserByID(ctx context.Context, id int64) (User, error) {
	u, err := scanUser(d.db.Read.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users u WHERE u.id=?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return User{}, fmt.Errorf("account %d: %w", id, ErrNotFound)
	}
	return u, err
}

// User returns the account that an address (primary or extra, in the
// domain or one of its aliases) belongs to. Unlike Resolve it does not
// strip subaddresses. It is on the path of every RCPT and login: one
// prepared query.
func (d *Directory) User(ctx context.Context, address string) (User, error) {
	local, domain, err := NormalizeAddress(address)
	if err != nil {
		return User{}, err
	}
	stmt, err := d.userByAddressStmt(ctx)
	if err != nil {
		return User{}, err
	}
	u, err := scanUser(stmt.QueryRowContext(ctx, local+"@"+domain, local, domain))
	if errors.Is(err, sql.ErrNoRows) {
		return User{}, fmt.Errorf("account %s: %w", address, ErrNotFound)
	}
	return u, err
}

// userByAddressStmt prepares, once, the lookup of an address in its domain
// or through a domain alias.
func (d *Directory) userByAddressStmt(ctx context.Context) (*sql.Stmt, error) {
	d.prepMu.Lock()
	defer d.prepMu.Unlock()
	if d.byAddress == nil {
		s, err := d.db.Read.PrepareContext(ctx, `SELECT `+userColumns+` FROM addresses x JOIN users u ON u.id = x.user_id WHERE x.address = ?1
			UNION ALL
			SELECT `+userColumns+` FROM domain_aliases a JOIN addresses x ON x.address = ?2 || '@' || a.domain JOIN users u ON u.id = x.user_id
			WHERE a.alias = ?3
			LIMIT 1`)
		if err != nil {
			return nil, err
		}
		d.byAddress = s
	}
	return d.byAddress, nil
}

// Resolve finds the account that mail for address is delivered to: the
// domain may be an alias, and a subaddress ("user+tag@", RFC 5233) delivers
// to "user@" when "user+tag@" itself is not an address.
//
// Accounts found are remembered (resolveCache): the same address resolves
// from memory until the directory changes. The User returned may be shared
// with other callers: do not modify it.
func (d *Directory) Resolve(ctx context.Context, address string) (User, error) {
	local, domain, err := NormalizeAddress(address)
	if err != nil {
		return User{}, err
	}
	key := local + "@" + domain
	u, gen, ok := d.resolved.get(ctx, key)
	if ok {
		return u, nil
	}
	u, err = d.resolve(ctx, address)
	if err == nil {
		d.resolved.put(key, u, gen)
	}
	return u, err
}

func (d *Directory) resolve(ctx context.Context, address string) (User, error) {
	u, err := d.User(ctx, address)
	if errors.Is(err, ErrNotFound) {
		if local, domain, nerr := NormalizeAddress(address); nerr == nil {
			if plus := strings.IndexByte(local, '+'); plus > 0 {
				u, err = d.User(ctx, local[:plus]+"@"+domain)
			}
		}
	}
	return u, err
}

// Users lists the accounts of a domain ("" for every domain), by address.
func (d *Directory) Users(ctx context.Context, domain string) ([]User, error) {
	if domain != "" {
		var err error
		if domain, err = d.canonicalDomain(ctx, domain); err != nil {
			return nil, err
		}
	}
	rows, err := d.db.Read.QueryContext(ctx, `SELECT `+userColumns+` FROM users u WHERE ?='' OR u.domain=? ORDER BY u.address`, domain, domain)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, rows.Err()
}

// Authenticate checks an address and password; the password may also be
// one of the account's API keys (see CreateKey), which is how migrations
// log in as the user. A wrong password and an unknown address give the
// same error, so that the answer does not tell which addresses exist.
func (d *Directory) Authenticate(ctx context.Context, address, password string) (User, error) {
	if isKey(password) {
		return d.authenticateKey(ctx, address, password)
	}
	u, err := d.User(ctx, address)
	if err != nil {
		// Spend the same time as a real check.
		verifyPassword(dummyHash, password)
		return User{}, ErrBadCredentials
	}
	if u.passwordHash == "" {
		verifyPassword(dummyHash, password)
		return User{}, ErrBadCredentials
	}
	if !d.auth.verified(u.ID, u.passwordHash, password) {
		ok, err := verifyPassword(u.passwordHash, password)
		if err != nil || !ok {
			return User{}, ErrBadCredentials
		}
		d.auth.remember(u.ID, u.passwordHash, password)
	}
	if !u.Enabled {
		return User{}, ErrDisabled
	}
	return u, nil
}

// ErrBadCredentials is returned for an unknown address or a wrong password.
var ErrBadCredentials = errors.New("invalid credentials")

var dummyHash, _ = HashPassword("petrel-timing-equaliser")

// DeleteUser removes an account and its addresses and returns what it was,
// so the caller can remove its mailbox from the store.
func (d *Directory) DeleteUser(ctx context.Context, address string) (User, error) {
	defer d.resolved.invalidate() // after the commit: see resolveCache
	u, err := d.User(ctx, address)
	if err != nil {
		return User{}, err
	}
	if _, err := d.db.Write.ExecContext(ctx, `DELETE FROM users WHERE id=?`, u.ID); err != nil {
		return User{}, err
	}
	return u, nil
}

// SetEnabled enables or disables an account. A disabled account receives no
// mail (550 5.2.1) and cannot log in; its mailbox is kept.
func (d *Directory) SetEnabled(ctx context.Context, address string, enabled bool) error {
	return d.updateUser(ctx, address, `UPDATE users SET enabled=? WHERE id=?`, enabled)
}

// SetPassword replaces an account's password.
func (d *Directory) SetPassword(ctx context.Context, address, password string) error {
	if err := CheckPassword(password); err != nil {
		return err
	}
	hash, err := HashPassword(password)
	if err != nil {
		return err
	}
	return d.updateUser(ctx, address, `UPDATE users SET password_hash=? WHERE id=?`, hash)
}

// CheckPassword tells whether a password can be set: not empty, and not
// looking like an API key.
func CheckPassword(password string) error {
	if password == "" {
		return invalid("empty password")
	}
	if isKey(password) {
		return invalid("a password may not start with %q, which marks API keys", keyPrefix)
	}
	return nil
}

// SetQuota sets an account's quota in bytes (0: unlimited).
func (d *Directory) SetQuota(ctx context.Context, address string, quota int64) error {
	if quota < 0 {
		return invalid("quota %d", quota)
	}
	return d.updateUser(ctx, address, `UPDATE users SET quota=? WHERE id=?`, quota)
}

// SetLanguage sets an account's language. Folders already created keep their
// names.
func (d *Directory) SetLanguage(ctx context.Context, address, language string) error {
	if !validLanguage(language) {
		return invalid("language %q (known: %s)", language, strings.Join(Languages, ", "))
	}
	return d.updateUser(ctx, address, `UPDATE users SET language=? WHERE id=?`, language)
}

func (d *Directory) updateUser(ctx context.Context, address, query string, value any) error {
	defer d.resolved.invalidate() // after the commit: see resolveCache
	u, err := d.User(ctx, address)
	if err != nil {
		return err
	}
	_, err = d.db.Write.ExecContext(ctx, query, value, u.ID)
	return err
}

// AddAddress adds an extra address to an account. Its domain must be the
// account's domain or another domain of the directory.
func (d *Directory) AddAddress(ctx context.Context, account, extra string) error {
	defer d.resolved.invalidate() // after the commit: see resolveCache
	u, err := d.User(ctx, account)
	if err != nil {
		return err
	}
	extra, err = d.canonicalAddress(ctx, extra)
	if err != nil {
		return err
	}
	tx, err := d.db.Write.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if taken, err := addressTaken(ctx, tx, extra); err != nil {
		return err
	} else if taken {
		return fmt.Errorf("address %s: %w", extra, ErrExists)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO addresses(address, user_id, is_primary) VALUES (?,?,0)`, extra, u.ID); err != nil {
		return err
	}
	return tx.Commit()
}

// RemoveAddress removes an extra address from an account.
func (d *Directory) RemoveAddress(ctx context.Context, account, extra string) error {
	defer d.resolved.invalidate() // after the commit: see resolveCache
	u, err := d.User(ctx, account)
	if err != nil {
		return err
	}
	extra, err = d.canonicalAddress(ctx, extra)
	if err != nil {
		return err
	}
	res, err := d.db.Write.ExecContext(ctx, `DELETE FROM addresses WHERE address=? AND user_id=? AND is_primary=0`, extra, u.ID)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("extra address %s of %s: %w", extra, account, ErrNotFound)
	}
	return nil
}

// canonicalAddress normalises an address and spells its domain as the
// domain's name rather than an alias.
func (d *Directory) canonicalAddress(ctx context.Context, address string) (string, error) {
	local, domain, err := NormalizeAddress(address)
	if err != nil {
		return "", err
	}
	if domain, err = d.canonicalDomain(ctx, domain); err != nil {
		return "", err
	}
	return local + "@" + domain, nil
}
