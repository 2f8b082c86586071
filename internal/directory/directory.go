package directory

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/petrelmail/petrel/internal/sqlite"
)

// Errors returned by the directory. Callers map them to protocol codes.
var (
	ErrNotFound = errors.New("not found")
	ErrExists   = errors.New("already exists")
	ErrInvalid  = errors.New("invalid")
	ErrNotEmpty = errors.New("not empty")
	ErrDisabled = errors.New("account disabled")
)

// Type says whether an account is a person's mailbox or a shared one.
type Type string

// Account types.
const (
	TypeUser   Type = "user"
	TypeShared Type = "shared"
)

// Role is what an account may administer. Deny by default: a user only
// reaches its own mailbox.
type Role string

// Roles.
const (
	RoleUser        Role = "user"
	RoleDomainAdmin Role = "domain-admin"
	RoleGlobalAdmin Role = "global-admin"
)

// Languages in which the special folders can be named.
var Languages = []string{"en", "fr", "de"}

// Domain is a mail domain and its aliases (other domain names whose
// addresses resolve to the same users).
type Domain struct {
	Name            string
	Aliases         []string
	DefaultQuota    int64 // bytes; 0 means unlimited
	DefaultLanguage string
	Created         time.Time
}

// User is an account: a person's mailbox or a shared mailbox.
type User struct {
	ID       int64
	Address  string // primary address
	Domain   string
	Type     Type
	Quota    int64 // bytes; 0 means unlimited
	Language string
	Enabled  bool
	Role     Role
	// Shard is the store shard that holds the mailbox; fixed at creation.
	Shard int
	// Addresses are the extra addresses that deliver to this account.
	Addresses []string
	// AdminDomains are the domains a domain admin administers (its own
	// domain at least); empty for other roles.
	AdminDomains []string
	Created      time.Time

	passwordHash string
}

// NewUser is what AddUser needs. Zero values take the domain's defaults.
type NewUser struct {
	Address  string
	Password string // empty: no password login (a shared mailbox, or keys only)
	Type     Type
	Quota    *int64
	Language string
	Role     Role
}

// Directory is the directory database (directory.db in the data folder).
type Directory struct {
	db     *sqlite.DB
	shards int

	prepMu    sync.Mutex
	byAddress *sql.Stmt

	auth     *authCache
	resolved *resolveCache
}

var migrations = []string{`
CREATE TABLE domains (
	name TEXT PRIMARY KEY,
	default_quota INTEGER NOT NULL DEFAULT 0,
	default_language TEXT NOT NULL DEFAULT 'en',
	created INTEGER NOT NULL
);
CREATE TABLE domain_aliases (
	alias TEXT PRIMARY KEY,
	domain TEXT NOT NULL REFERENCES domains(name) ON DELETE CASCADE
);
CREATE TABLE users (
	id INTEGER PRIMARY KEY AUTOINCREMENT,
	address TEXT NOT NULL UNIQUE,
	domain TEXT NOT NULL REFERENCES domains(name),
	type TEXT NOT NULL,
	password_hash TEXT NOT NULL DEFAULT '',
	quota INTEGER NOT NULL,
	language TEXT NOT NULL,
	enabled INTEGER NOT NULL,
	role TEXT NOT NULL,
	shard INTEGER NOT NULL,
	created INTEGER NOT NULL
);
CREATE INDEX users_domain ON users(domain);
-- Every address that delivers to an account, the primary one included, so
-- that uniqueness across primary and extra addresses is one constraint.
CREATE TABLE addresses (
	address TEXT PRIMARY KEY,
	user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
	is_primary INTEGER NOT NULL
);
CREATE INDEX addresses_user ON addresses(user_id);
CREATE TABLE domain_admins (
	user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
	domain TEXT NOT NULL REFERENCES domains(name) ON DELETE CASCADE,
	PRIMARY KEY (user_id, domain)
);
`, `
-- API keys: a key is "ptk_<id>_<secret>"; only the SHA-256 of the secret is
-- kept. A key acts as its user, for the API and as a password.
CREATE TABLE api_keys (
	id INTEGER PRIMARY KEY AUTOINCREMENT,
	user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
	name TEXT NOT NULL DEFAULT '',
	secret_hash BLOB NOT NULL,
	created INTEGER NOT NULL,
	expires INTEGER NOT NULL DEFAULT 0,   -- unix time, 0: never
	revoked INTEGER NOT NULL DEFAULT 0    -- unix time, 0: not revoked
);
CREATE INDEX api_keys_user ON api_keys(user_id);
`, `
-- Global-admin keys belong to no account: user_id becomes nullable, and
-- exactly one of user_id and global_admin says whom a key acts as.
CREATE TABLE api_keys_v3 (
	id INTEGER PRIMARY KEY AUTOINCREMENT,
	user_id INTEGER REFERENCES users(id) ON DELETE CASCADE,
	global_admin INTEGER NOT NULL DEFAULT 0,
	name TEXT NOT NULL DEFAULT '',
	secret_hash BLOB NOT NULL,
	created INTEGER NOT NULL,
	expires INTEGER NOT NULL DEFAULT 0,
	revoked INTEGER NOT NULL DEFAULT 0,
	CHECK ((user_id IS NULL) = (global_admin = 1))
);
INSERT INTO api_keys_v3(id, user_id, name, secret_hash, created, expires, revoked)
	SELECT id, user_id, name, secret_hash, created, expires, revoked FROM api_keys;
DROP TABLE api_keys;
ALTER TABLE api_keys_v3 RENAME TO api_keys;
CREATE INDEX api_keys_user ON api_keys(user_id);
-- Rights of accounts on shared mailboxes.
CREATE TABLE mailbox_grants (
	mailbox_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
	grantee_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
	rights TEXT NOT NULL,
	PRIMARY KEY (mailbox_id, grantee_id)
);
CREATE INDEX mailbox_grants_grantee ON mailbox_grants(grantee_id);
`}

// Open opens the directory database at path. shards is the store's shard
// count, used to place new users.
func Open(ctx context.Context, path string, shards int) (*Directory, error) {
	if shards < 1 {
		return nil, fmt.Errorf("directory: shard count %d", shards)
	}
	db, err := sqlite.Open(ctx, path, migrations)
	if err != nil {
		return nil, err
	}
	versions, err := db.OpenReader()
	if err != nil {
		db.Close()
		return nil, err
	}
	return &Directory{db: db, shards: shards, auth: newAuthCache(), resolved: newResolveCache(versions)}, nil
}

// Close closes the database.
func (d *Directory) Close() error {
	d.resolved.close()
	if d.byAddress != nil {
		d.byAddress.Close()
	}
	return d.db.Close()
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

// NormalizeDomain lowercases a domain name and checks its syntax
// (RFC 1035 section 2.3.1 labels; UTF-8 labels are accepted as sent).
func NormalizeDomain(name string) (string, error) {
	name = strings.TrimSuffix(strings.ToLower(strings.TrimSpace(name)), ".")
	if name == "" || len(name) > 253 {
		return "", invalid("domain name %q", name)
	}
	for _, label := range strings.Split(name, ".") {
		if label == "" || len(label) > 63 || strings.HasPrefix(label, "-") || strings.HasSuffix(label, "-") {
			return "", invalid("domain name %q", name)
		}
		for _, r := range label {
			if !(r == '-' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r > 127) {
				return "", invalid("domain name %q", name)
			}
		}
	}
	return name, nil
}

// NormalizeAddress lowercases an address and checks it has one local part
// and one domain. Local parts are treated case-insensitively, as every
// major server does in practice.
func NormalizeAddress(addr string) (local, domain string, err error) {
	addr = strings.TrimSpace(addr)
	at := strings.LastIndexByte(addr, '@')
	if at <= 0 || at == len(addr)-1 {
		return "", "", invalid("address %q", addr)
	}
	local = strings.ToLower(addr[:at])
	if len(local) > 64 {
		return "", "", invalid("address %q: local part longer than 64 octets", addr)
	}
	for _, r := range local {
		if r <= ' ' || r == 0x7f || strings.ContainsRune(`"(),:;<>@[\]`, r) {
			return "", "", invalid("address %q", addr)
		}
	}
	domain, err = NormalizeDomain(addr[at+1:])
	return local, domain, err
}

func validLanguage(lang string) bool {
	for _, l := range Languages {
		if l == lang {
			return true
		}
	}
	return false
}

// AddDomain creates a domain with its aliases.
func (d *Directory) AddDomain(ctx context.Context, dom Domain) (Domain, error) {
	defer d.resolved.invalidate() // after the commit: see resolveCache
	name, err := NormalizeDomain(dom.Name)
	if err != nil {
		return Domain{}, err
	}
	if dom.DefaultLanguage == "" {
		dom.DefaultLanguage = "en"
	}
	if !validLanguage(dom.DefaultLanguage) {
		return Domain{}, invalid("language %q (known: %s)", dom.DefaultLanguage, strings.Join(Languages, ", "))
	}
	if dom.DefaultQuota < 0 {
		return Domain{}, invalid("quota %d", dom.DefaultQuota)
	}
	tx, err := d.db.Write.BeginTx(ctx, nil)
	if err != nil {
		return Domain{}, err
	}
	defer tx.Rollback()
	if taken, err := domainNameTaken(ctx, tx, name); err != nil {
		return Domain{}, err
	} else if taken {
		return Domain{}, fmt.Errorf("domain %s: %w", name, ErrExists)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO domains(name, default_quota, default_language, created) VALUES (?,?,?,?)`,
		name, dom.DefaultQuota, dom.DefaultLanguage, time.Now().Unix()); err != nil {
		return Domain{}, err
	}
	for _, a := range dom.Aliases {
		if err := addDomainAlias(ctx, tx, name, a); err != nil {
			return Domain{}, err
		}
	}
	if err := tx.Commit(); err != nil {
		return Domain{}, err
	}
	return d.Domain(ctx, name)
}

func domainNameTaken(ctx context.Context, tx *sql.Tx, name string) (bool, error) {
	var n int
	err := tx.QueryRowContext(ctx, `SELECT (SELECT count(*) FROM domains WHERE name=?) + (SELECT count(*) FROM domain_aliases WHERE alias=?)`, name, name).Scan(&n)
	return n > 0, err
}

func addDomainAlias(ctx context.Context, tx *sql.Tx, domain, alias string) error {
	alias, err := NormalizeDomain(alias)
	if err != nil {
		return err
	}
	if taken, err := domainNameTaken(ctx, tx, alias); err != nil {
		return err
	} else if taken {
		return fmt.Errorf("domain alias %s: %w", alias, ErrExists)
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO domain_aliases(alias, domain) VALUES (?,?)`, alias, domain)
	return err
}

// AddDomainAlias makes alias another name of domain.
func (d *Directory) AddDomainAlias(ctx context.Context, domain, alias string) error {
	defer d.resolved.invalidate() // after the commit: see resolveCache
	domain, err := d.canonicalDomain(ctx, domain)
	if err != nil {
		return err
	}
	tx, err := d.db.Write.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := addDomainAlias(ctx, tx, domain, alias); err != nil {
		return err
	}
	return tx.Commit()
}

// RemoveDomainAlias removes an alias of a domain.
func (d *Directory) RemoveDomainAlias(ctx context.Context, domain, alias string) error {
	defer d.resolved.invalidate() // after the commit: see resolveCache
	alias, err := NormalizeDomain(alias)
	if err != nil {
		return err
	}
	res, err := d.db.Write.ExecContext(ctx, `DELETE FROM domain_aliases WHERE alias=? AND domain=?`, alias, strings.ToLower(domain))
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("domain alias %s of %s: %w", alias, domain, ErrNotFound)
	}
	return nil
}

// canonicalDomain maps a domain name or alias to the domain's name.
func (d *Directory) canonicalDomain(ctx context.Context, name string) (string, error) {
	name, err := NormalizeDomain(name)
	if err != nil {
		return "", err
	}
	var canonical string
	err = d.db.Read.QueryRowContext(ctx, `SELECT name FROM domains WHERE name=? UNION ALL SELECT domain FROM domain_aliases WHERE alias=? LIMIT 1`, name, name).Scan(&canonical)
	if errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("domain %s: %w", name, ErrNotFound)
	}
	return canonical, err
}

// Domain returns one domain by name or alias.
func (d *Directory) Domain(ctx context.Context, name string) (Domain, error) {
	canonical, err := d.canonicalDomain(ctx, name)
	if err != nil {
		return Domain{}, err
	}
	doms, err := d.domains(ctx, canonical)
	if err != nil {
		return Domain{}, err
	}
	if len(doms) == 0 {
		return Domain{}, fmt.Errorf("domain %s: %w", name, ErrNotFound)
	}
	return doms[0], nil
}

// Domains lists every domain, sorted by name.
func (d *Directory) Domains(ctx context.Context) ([]Domain, error) { return d.domains(ctx, "") }

func (d *Directory) domains(ctx context.Context, only string) ([]Domain, error) {
	rows, err := d.db.Read.QueryContext(ctx, `SELECT name, default_quota, default_language, created,
		(SELECT group_concat(alias, ' ') FROM domain_aliases a WHERE a.domain = d.name)
		FROM domains d WHERE ?='' OR name=? ORDER BY name`, only, only)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Domain
	for rows.Next() {
		var dom Domain
		var created int64
		var aliases sql.NullString
		if err := rows.Scan(&dom.Name, &dom.DefaultQuota, &dom.DefaultLanguage, &created, &aliases); err != nil {
			return nil, err
		}
		dom.Created = time.Unix(created, 0).UTC()
		if aliases.String != "" {
			dom.Aliases = strings.Fields(aliases.String)
			sort.Strings(dom.Aliases)
		}
		out = append(out, dom)
	}
	return out, rows.Err()
}

// DeleteDomain removes a domain and its aliases. It refuses while the domain
// still has accounts: they must be deleted first, so that no mailbox is left
// without an owner.
func (d *Directory) DeleteDomain(ctx context.Context, name string) error {
	defer d.resolved.invalidate() // after the commit: see resolveCache
	name, err := d.canonicalDomain(ctx, name)
	if err != nil {
		return err
	}
	tx, err := d.db.Write.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM users WHERE domain=?`, name).Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		return fmt.Errorf("domain %s has %d accounts: %w", name, n, ErrNotEmpty)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM domains WHERE name=?`, name); err != nil {
		return err
	}
	return tx.Commit()
}

// SetDomainDefaults changes a domain's default quota and language for
// accounts created later.
func (d *Directory) SetDomainDefaults(ctx context.Context, name string, quota *int64, language string) error {
	defer d.resolved.invalidate() // after the commit: see resolveCache
	name, err := d.canonicalDomain(ctx, name)
	if err != nil {
		return err
	}
	if language != "" && !validLanguage(language) {
		return invalid("language %q", language)
	}
	if quota != nil && *quota < 0 {
		return invalid("quota %d", *quota)
	}
	_, err = d.db.Write.ExecContext(ctx, `UPDATE domains SET
		default_quota = CASE WHEN ? THEN ? ELSE default_quota END,
		default_language = CASE WHEN ?<>'' THEN ? ELSE default_language END WHERE name=?`,
		quota != nil, derefOr(quota, 0), language, language, name)
	return err
}

func derefOr(p *int64, def int64) int64 {
	if p == nil {
		return def
	}
	return *p
}
