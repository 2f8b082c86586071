package api

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/petrelmail/petrel/internal/directory"
	"github.com/petrelmail/petrel/internal/store"
)

// userAnswer answers with an account and what its mailbox holds.
func (a *API) userAnswer(rq *request, status int, u directory.User) error {
	out := userJSON(u)
	if mb, err := a.st.Mailbox(u.Shard, u.ID); err == nil {
		out.UsedBytes, out.Messages, _ = mb.Usage(rq.r.Context())
	}
	if status == http.StatusCreated {
		rq.w.Header().Set("Location", Prefix+"/users/"+url.PathEscape(u.Address))
	}
	return rq.json(status, out)
}

// canonicalDomains checks domain names for admin_domains and spells them
// as the domains' names.
func (a *API) canonicalDomains(rq *request, names []string) ([]string, error) {
	out := make([]string, 0, len(names))
	for _, n := range names {
		c, err := a.dir.CanonicalDomain(rq.r.Context(), n)
		if err != nil {
			return nil, err
		}
		if !slices.Contains(out, c) {
			out = append(out, c)
		}
	}
	return out, nil
}

// createUser: POST /domains/{domain}/users, the domain's admins. A domain
// admin may make users and domain admins of its own domains; only a
// global admin makes global admins.
func (a *API) createUser(rq *request) error {
	domain, err := a.domain(rq, rq.r.PathValue("domain"))
	if err != nil {
		return err
	}
	var in NewUser
	if err := rq.decode(&in); err != nil {
		return err
	}
	ctx := rq.r.Context()
	address := in.Address
	if !strings.Contains(address, "@") {
		address += "@" + domain
	}
	local, addrDomain, err := directory.NormalizeAddress(address)
	if err != nil {
		return err
	}
	if c, err := a.dir.CanonicalDomain(ctx, addrDomain); err != nil || c != domain {
		return badRequest("address %s is not in domain %s", address, domain)
	}
	role := directory.Role(in.Role)
	if role == "" {
		role = directory.RoleUser
	}
	var adminDomains []string
	if in.AdminDomains != nil {
		if role != directory.RoleDomainAdmin {
			return badRequest("only a domain admin administers domains")
		}
		if adminDomains, err = a.canonicalDomains(rq, in.AdminDomains); err != nil {
			return err
		}
	} else if role == directory.RoleDomainAdmin {
		adminDomains = []string{domain}
	}
	if !rq.p.mayGrantRole(role, adminDomains) {
		return forbidden()
	}
	u, err := a.dir.AddUser(ctx, directory.NewUser{Address: local + "@" + addrDomain, Password: in.Password,
		Type: directory.Type(in.Type), Quota: in.Quota, Language: in.Language, Role: role})
	if err != nil {
		return err
	}
	// The rest cannot fail for reasons the checks above did not see,
	// except a taken alias: then the account stays, without it.
	if in.AdminDomains != nil {
		if err := a.dir.SetRole(ctx, u.Address, role, adminDomains); err != nil {
			return err
		}
	}
	for _, alias := range in.Aliases {
		if err := a.dir.AddAddress(ctx, u.Address, alias); err != nil {
			return fmt.Errorf("account %s created, but not its alias: %w", u.Address, err)
		}
	}
	if u, err = a.dir.UserByID(ctx, u.ID); err != nil {
		return err
	}
	mb, err := a.st.Mailbox(u.Shard, u.ID)
	if err != nil {
		return err
	}
	if err := mb.Create(ctx, store.DefaultFolders(u.Language)); err != nil {
		a.log.Error("create mailbox", "account", u.Address, "err", err)
		return &Error{Status: http.StatusServiceUnavailable, Code: CodeUnavailable,
			Message: fmt.Sprintf("account %s created, but its mailbox not yet (it will be made at first delivery)", u.Address)}
	}
	return a.userAnswer(rq, http.StatusCreated, u)
}

func (a *API) listOf(rq *request, users []directory.User) error {
	out := []User{}
	for _, u := range users {
		if rq.p.adminOf(u.Domain) {
			out = append(out, userJSON(u))
		}
	}
	return rq.json(http.StatusOK, out)
}

// listDomainUsers: GET /domains/{domain}/users, the domain's admins.
func (a *API) listDomainUsers(rq *request) error {
	domain, err := a.domain(rq, rq.r.PathValue("domain"))
	if err != nil {
		return err
	}
	users, err := a.dir.Users(rq.r.Context(), domain)
	if err != nil {
		return err
	}
	return a.listOf(rq, users)
}

// listUsers: GET /users, every account a global admin sees, those of its
// domains for a domain admin.
func (a *API) listUsers(rq *request) error {
	if !rq.p.global && len(rq.p.domains) == 0 {
		return forbidden()
	}
	users, err := a.dir.Users(rq.r.Context(), "")
	if err != nil {
		return err
	}
	return a.listOf(rq, users)
}

// getUser: GET /users/{address}, the account and its admins.
func (a *API) getUser(rq *request) error {
	u, err := a.account(rq, rq.r.PathValue("address"), ownAccount)
	if err != nil {
		return err
	}
	return a.userAnswer(rq, http.StatusOK, u)
}

// patchUser: PATCH /users/{address}. The account itself changes its
// password and language; its admins change everything. Every value is
// checked before anything is changed.
func (a *API) patchUser(rq *request) error {
	u, err := a.account(rq, rq.r.PathValue("address"), ownAccount)
	if err != nil {
		return err
	}
	var in UserPatch
	if err := rq.decode(&in); err != nil {
		return err
	}
	ctx := rq.r.Context()
	adminOnly := in.Quota != nil || in.Enabled != nil || in.Aliases != nil || in.Role != nil || in.AdminDomains != nil
	if adminOnly && !rq.p.manages(u) {
		return forbidden()
	}
	if in.Password != nil {
		if err := directory.CheckPassword(*in.Password); err != nil {
			return err
		}
	}
	if in.Language != nil && !validLanguage(*in.Language) {
		return badRequest("language %q (known: en, fr, de)", *in.Language)
	}
	if in.Quota != nil && *in.Quota < 0 {
		return badRequest("quota %d", *in.Quota)
	}
	role := u.Role
	var adminDomains []string
	if in.Role != nil || in.AdminDomains != nil {
		if in.Role != nil {
			role = directory.Role(*in.Role)
		}
		switch {
		case in.AdminDomains != nil:
			if role != directory.RoleDomainAdmin {
				return badRequest("only a domain admin administers domains")
			}
			if adminDomains, err = a.canonicalDomains(rq, *in.AdminDomains); err != nil {
				return err
			}
		case role == directory.RoleDomainAdmin && u.Role == directory.RoleDomainAdmin:
			adminDomains = u.AdminDomains
		case role == directory.RoleDomainAdmin:
			adminDomains = []string{u.Domain}
		}
		if role != directory.RoleUser && role != directory.RoleDomainAdmin && role != directory.RoleGlobalAdmin {
			return badRequest("role %q (user, domain-admin or global-admin)", role)
		}
		if !rq.p.mayGrantRole(role, adminDomains) {
			return forbidden()
		}
	}
	if in.Aliases != nil {
		if err := a.setUserAliases(rq, u, *in.Aliases); err != nil {
			return err
		}
	}
	if in.Role != nil || in.AdminDomains != nil {
		if err := a.dir.SetRole(ctx, u.Address, role, adminDomains); err != nil {
			return err
		}
	}
	if in.Password != nil {
		if err := a.dir.SetPassword(ctx, u.Address, *in.Password); err != nil {
			return err
		}
	}
	if in.Quota != nil {
		if err := a.dir.SetQuota(ctx, u.Address, *in.Quota); err != nil {
			return err
		}
	}
	if in.Language != nil {
		if err := a.dir.SetLanguage(ctx, u.Address, *in.Language); err != nil {
			return err
		}
	}
	if in.Enabled != nil {
		if err := a.dir.SetEnabled(ctx, u.Address, *in.Enabled); err != nil {
			return err
		}
	}
	if u, err = a.dir.UserByID(ctx, u.ID); err != nil {
		return err
	}
	return a.userAnswer(rq, http.StatusOK, u)
}

// setUserAliases makes aliases exactly the extra addresses of u. Each
// alias's domain must be one the principal administers.
func (a *API) setUserAliases(rq *request, u directory.User, aliases []string) error {
	ctx := rq.r.Context()
	want := map[string]bool{}
	for _, al := range aliases {
		c, err := a.aliasAddress(rq, al)
		if err != nil {
			return err
		}
		want[c] = true
	}
	for _, have := range u.Addresses {
		if want[have] {
			delete(want, have)
			continue
		}
		if err := a.dir.RemoveAddress(ctx, u.Address, have); err != nil {
			return err
		}
	}
	add := make([]string, 0, len(want))
	for al := range want {
		add = append(add, al)
	}
	slices.Sort(add)
	for _, al := range add {
		if err := a.dir.AddAddress(ctx, u.Address, al); err != nil {
			return err
		}
	}
	return nil
}

// aliasAddress checks an extra address: a valid address in a domain the
// principal administers, spelled with the domain's name.
func (a *API) aliasAddress(rq *request, alias string) (string, error) {
	local, domain, err := directory.NormalizeAddress(alias)
	if err != nil {
		return "", err
	}
	canonical, err := a.dir.CanonicalDomain(rq.r.Context(), domain)
	if err != nil {
		if !rq.p.global {
			return "", forbidden()
		}
		return "", err
	}
	if !rq.p.adminOf(canonical) {
		return "", forbidden()
	}
	return local + "@" + canonical, nil
}

// deleteUser: DELETE /users/{address}, its admins: the account and its
// mailbox with all its mail.
func (a *API) deleteUser(rq *request) error {
	u, err := a.account(rq, rq.r.PathValue("address"), manageAccount)
	if err != nil {
		return err
	}
	ctx := rq.r.Context()
	if _, err := a.dir.DeleteUser(ctx, u.Address); err != nil {
		return err
	}
	mb, err := a.st.Mailbox(u.Shard, u.ID)
	if err == nil {
		err = mb.Delete(ctx)
	}
	if err != nil {
		a.log.Error("delete mailbox", "account", u.Address, "err", err)
		return &Error{Status: http.StatusInternalServerError, Code: CodeInternal,
			Message: fmt.Sprintf("account %s deleted, but removing its mailbox failed (see the server log)", u.Address)}
	}
	return rq.noContent()
}

// addUserAlias: PUT /users/{address}/aliases/{alias}, its admins.
func (a *API) addUserAlias(rq *request) error {
	u, err := a.account(rq, rq.r.PathValue("address"), manageAccount)
	if err != nil {
		return err
	}
	alias, err := a.aliasAddress(rq, rq.r.PathValue("alias"))
	if err != nil {
		return err
	}
	ctx := rq.r.Context()
	if err := a.dir.AddAddress(ctx, u.Address, alias); err != nil {
		return err
	}
	if u, err = a.dir.UserByID(ctx, u.ID); err != nil {
		return err
	}
	return a.userAnswer(rq, http.StatusOK, u)
}

// removeUserAlias: DELETE /users/{address}/aliases/{alias}, its admins.
func (a *API) removeUserAlias(rq *request) error {
	u, err := a.account(rq, rq.r.PathValue("address"), manageAccount)
	if err != nil {
		return err
	}
	ctx := rq.r.Context()
	if err := a.dir.RemoveAddress(ctx, u.Address, rq.r.PathValue("alias")); err != nil {
		return err
	}
	if u, err = a.dir.UserByID(ctx, u.ID); err != nil {
		return err
	}
	return a.userAnswer(rq, http.StatusOK, u)
}

func grantsJSON(gs []directory.Grant) []Grant {
	out := []Grant{}
	for _, g := range gs {
		out = append(out, Grant{Mailbox: g.Mailbox, Grantee: g.Grantee, Rights: string(g.Rights)})
	}
	return out
}

// listGrants: GET /users/{address}/grants, the rights given on a shared
// mailbox; its admins.
func (a *API) listGrants(rq *request) error {
	u, err := a.account(rq, rq.r.PathValue("address"), manageAccount)
	if err != nil {
		return err
	}
	gs, err := a.dir.Grants(rq.r.Context(), u.Address)
	if err != nil {
		return err
	}
	return rq.json(http.StatusOK, grantsJSON(gs))
}

// setGrant: PUT /users/{address}/grants/{grantee}, the shared mailbox's
// admins.
func (a *API) setGrant(rq *request) error {
	u, err := a.account(rq, rq.r.PathValue("address"), manageAccount)
	if err != nil {
		return err
	}
	var in GrantRights
	if err := rq.decode(&in); err != nil {
		return err
	}
	ctx := rq.r.Context()
	if err := a.dir.SetGrant(ctx, u.Address, rq.r.PathValue("grantee"), directory.Rights(in.Rights)); err != nil {
		return err
	}
	gs, err := a.dir.Grants(ctx, u.Address)
	if err != nil {
		return err
	}
	return rq.json(http.StatusOK, grantsJSON(gs))
}

// removeGrant: DELETE /users/{address}/grants/{grantee}, its admins.
func (a *API) removeGrant(rq *request) error {
	u, err := a.account(rq, rq.r.PathValue("address"), manageAccount)
	if err != nil {
		return err
	}
	if err := a.dir.RemoveGrant(rq.r.Context(), u.Address, rq.r.PathValue("grantee")); err != nil {
		return err
	}
	return rq.noContent()
}

// listShared: GET /users/{address}/shared, the shared mailboxes an account
// was granted rights on; the account and its admins.
func (a *API) listShared(rq *request) error {
	u, err := a.account(rq, rq.r.PathValue("address"), ownAccount)
	if err != nil {
		return err
	}
	gs, err := a.dir.GrantsTo(rq.r.Context(), u.ID)
	if err != nil {
		return err
	}
	return rq.json(http.StatusOK, grantsJSON(gs))
}
