package directory

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
)

// Rights are what an account may do in a shared mailbox it was granted.
type Rights string

// Rights on shared mailboxes. They map onto the IMAP ACL rights of RFC
// 4314 section 2.1 that a later shared namespace will announce: read is
// "lrs", write is "lrswipkxte".
const (
	// RightsRead: list the folders, read the messages, search.
	RightsRead Rights = "read"
	// RightsWrite: read, and change flags, import, move and delete
	// messages, and create, rename and delete folders.
	RightsWrite Rights = "write"
)

// Allows tells whether r includes want.
func (r Rights) Allows(want Rights) bool {
	switch want {
	case RightsRead:
		return r == RightsRead || r == RightsWrite
	case RightsWrite:
		return r == RightsWrite
	}
	return false
}

// Grant is one account's rights on a shared mailbox.
type Grant struct {
	Mailbox string // the shared mailbox's primary address
	Grantee string // the account's primary address
	Rights  Rights
}

// SetGrant gives grantee (a user account) rights on the shared mailbox,
// replacing what it had.
func (d *Directory) SetGrant(ctx context.Context, mailbox, grantee string, rights Rights) error {
	if rights != RightsRead && rights != RightsWrite {
		return invalid("rights %q (read or write)", rights)
	}
	mb, g, err := d.grantPair(ctx, mailbox, grantee)
	if err != nil {
		return err
	}
	_, err = d.db.Write.ExecContext(ctx, `INSERT INTO mailbox_grants(mailbox_id, grantee_id, rights) VALUES (?,?,?)
		ON CONFLICT(mailbox_id, grantee_id) DO UPDATE SET rights=excluded.rights`, mb.ID, g.ID, string(rights))
	return err
}

// RemoveGrant takes an account's rights on a shared mailbox away.
func (d *Directory) RemoveGrant(ctx context.Context, mailbox, grantee string) error {
	mb, g, err := d.grantPair(ctx, mailbox, grantee)
	if err != nil {
		return err
	}
	res, err := d.db.Write.ExecContext(ctx, `DELETE FROM mailbox_grants WHERE mailbox_id=? AND grantee_id=?`, mb.ID, g.ID)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("grant of %s to %s: %w", mb.Address, g.Address, ErrNotFound)
	}
	return nil
}

func (d *Directory) grantPair(ctx context.Context, mailbox, grantee string) (User, User, error) {
	mb, err := d.User(ctx, mailbox)
	if err != nil {
		return User{}, User{}, err
	}
	if mb.Type != TypeShared {
		return User{}, User{}, invalid("%s is not a shared mailbox", mb.Address)
	}
	g, err := d.User(ctx, grantee)
	if err != nil {
		return User{}, User{}, err
	}
	if g.Type != TypeUser {
		return User{}, User{}, invalid("%s is not a user account", g.Address)
	}
	return mb, g, nil
}

// Grants lists the rights granted on a shared mailbox.
func (d *Directory) Grants(ctx context.Context, mailbox string) ([]Grant, error) {
	mb, err := d.User(ctx, mailbox)
	if err != nil {
		return nil, err
	}
	return d.grants(ctx, `g.mailbox_id=?`, mb.ID)
}

// GrantsTo lists the shared mailboxes an account was granted rights on.
func (d *Directory) GrantsTo(ctx context.Context, grantee int64) ([]Grant, error) {
	return d.grants(ctx, `g.grantee_id=?`, grantee)
}

func (d *Directory) grants(ctx context.Context, where string, id int64) ([]Grant, error) {
	rows, err := d.db.Read.QueryContext(ctx, `SELECT m.address, u.address, g.rights FROM mailbox_grants g
		JOIN users m ON m.id = g.mailbox_id JOIN users u ON u.id = g.grantee_id WHERE `+where+` ORDER BY m.address, u.address`, id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Grant
	for rows.Next() {
		var g Grant
		var r string
		if err := rows.Scan(&g.Mailbox, &g.Grantee, &r); err != nil {
			return nil, err
		}
		g.Rights = Rights(r)
		out = append(out, g)
	}
	return out, rows.Err()
}

// RightsOf returns what account grantee may do in mailbox ("" for
// nothing). Both are account IDs.
func (d *Directory) RightsOf(ctx context.Context, mailbox, grantee int64) (Rights, error) {
	var r string
	err := d.db.Read.QueryRowContext(ctx, `SELECT rights FROM mailbox_grants WHERE mailbox_id=? AND grantee_id=?`, mailbox, grantee).Scan(&r)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return Rights(r), err
}

// SetRole changes an account's role. For a domain admin, domains are the
// domains it administers (nil: its own); other roles administer none.
func (d *Directory) SetRole(ctx context.Context, address string, role Role, domains []string) error {
	defer d.resolved.invalidate() // after the commit: see resolveCache
	if role != RoleUser && role != RoleDomainAdmin && role != RoleGlobalAdmin {
		return invalid("role %q (user, domain-admin or global-admin)", role)
	}
	u, err := d.User(ctx, address)
	if err != nil {
		return err
	}
	if role != RoleDomainAdmin && len(domains) > 0 {
		return invalid("only a domain admin administers domains")
	}
	if role == RoleDomainAdmin {
		if u.Type != TypeUser {
			return invalid("a shared mailbox cannot be an administrator")
		}
		if domains == nil {
			domains = []string{u.Domain}
		}
		canon := make([]string, 0, len(domains))
		for _, dom := range domains {
			c, err := d.canonicalDomain(ctx, dom)
			if err != nil {
				return err
			}
			if !slices.Contains(canon, c) {
				canon = append(canon, c)
			}
		}
		if len(canon) == 0 {
			return invalid("a domain admin administers at least one domain")
		}
		domains = canon
	} else if role == RoleGlobalAdmin && u.Type != TypeUser {
		return invalid("a shared mailbox cannot be an administrator")
	}
	tx, err := d.db.Write.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `UPDATE users SET role=? WHERE id=?`, string(role), u.ID); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM domain_admins WHERE user_id=?`, u.ID); err != nil {
		return err
	}
	for _, dom := range domains {
		if _, err := tx.ExecContext(ctx, `INSERT INTO domain_admins(user_id, domain) VALUES (?,?)`, u.ID, dom); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// SetDomainAliases makes aliases exactly the other names of a domain, in
// one transaction.
func (d *Directory) SetDomainAliases(ctx context.Context, name string, aliases []string) error {
	defer d.resolved.invalidate() // after the commit: see resolveCache
	name, err := d.canonicalDomain(ctx, name)
	if err != nil {
		return err
	}
	want := map[string]bool{}
	for _, a := range aliases {
		a, err := NormalizeDomain(a)
		if err != nil {
			return err
		}
		if a == name {
			return invalid("%s cannot be an alias of itself", a)
		}
		want[a] = true
	}
	tx, err := d.db.Write.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, `SELECT alias FROM domain_aliases WHERE domain=?`, name)
	if err != nil {
		return err
	}
	var have []string
	for rows.Next() {
		var a string
		if err := rows.Scan(&a); err != nil {
			rows.Close()
			return err
		}
		have = append(have, a)
	}
	rows.Close()
	for _, a := range have {
		if want[a] {
			delete(want, a)
			continue
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM domain_aliases WHERE alias=?`, a); err != nil {
			return err
		}
	}
	add := make([]string, 0, len(want))
	for a := range want {
		add = append(add, a)
	}
	slices.Sort(add)
	for _, a := range add {
		if err := addDomainAlias(ctx, tx, name, a); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// CanonicalDomain maps a domain name or alias to the domain's name.
func (d *Directory) CanonicalDomain(ctx context.Context, name string) (string, error) {
	return d.canonicalDomain(ctx, name)
}
