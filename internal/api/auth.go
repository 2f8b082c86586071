package api

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"

	"github.com/petrelmail/petrel/internal/directory"
	"github.com/petrelmail/petrel/internal/throttle"
)

// principal is whom a request acts as.
type principal struct {
	// global: a global-admin key, an account with the global-admin role,
	// or the local administrator (the unix socket).
	global bool
	// user is the key's account (ID 0 for a global-admin key or the
	// socket).
	user directory.User
	// domains are the domains a domain admin administers.
	domains map[string]bool
	keyID   int64
	local   bool
}

// label names the principal in logs (never a secret).
func (p *principal) label() string {
	switch {
	case p.local:
		return "local"
	case p.user.ID == 0:
		return "global-admin key " + itoa(p.keyID)
	}
	return p.user.Address + " (key " + itoa(p.keyID) + ")"
}

// role is the principal's role as GET /me says it.
func (p *principal) role() directory.Role {
	switch {
	case p.global:
		return directory.RoleGlobalAdmin
	case len(p.domains) > 0:
		return directory.RoleDomainAdmin
	}
	return directory.RoleUser
}

// adminOf tells whether the principal administers a domain (by its
// canonical name).
func (p *principal) adminOf(domain string) bool { return p.global || p.domains[domain] }

// manages tells whether the principal administers account u: a global
// admin every account; a domain admin the users of its domains and the
// domain admins of its domains who administer nothing it does not (so
// that no admin can take over an account with more power than its own).
// Nobody but a global admin manages a global admin.
func (p *principal) manages(u directory.User) bool {
	if p.global {
		return true
	}
	if !p.domains[u.Domain] {
		return false
	}
	switch u.Role {
	case directory.RoleUser:
		return true
	case directory.RoleDomainAdmin:
		for _, d := range u.AdminDomains {
			if !p.domains[d] {
				return false
			}
		}
		return true
	}
	return false
}

// mayGrantRole tells whether the principal may give an account the role
// with those admin domains (canonical names).
func (p *principal) mayGrantRole(role directory.Role, domains []string) bool {
	switch role {
	case directory.RoleUser:
		return true
	case directory.RoleDomainAdmin:
		return !slices.ContainsFunc(domains, func(d string) bool { return !p.adminOf(d) })
	}
	return p.global
}

// access is what a request needs on an account.
type access int

const (
	// readMail: list folders, read messages, search. The owner, its
	// admins, and accounts granted read on a shared mailbox.
	readMail access = iota
	// writeMail: change folders and messages, import. The owner, its
	// admins, and accounts granted write on a shared mailbox.
	writeMail
	// ownAccount: read the account, change its password and language,
	// manage its keys and see what it was granted. The owner and its
	// admins.
	ownAccount
	// manageAccount: quota, enabled, role, aliases, grants, deletion.
	// Its admins only.
	manageAccount
)

// allowed tells whether the principal has access need on account u.
func (a *API) allowed(ctx context.Context, p *principal, u directory.User, need access) (bool, error) {
	if p.manages(u) {
		return true, nil
	}
	self := p.user.ID != 0 && p.user.ID == u.ID
	switch need {
	case ownAccount:
		return self, nil
	case readMail, writeMail:
		if self {
			return true, nil
		}
		if u.Type != directory.TypeShared || p.user.ID == 0 {
			return false, nil
		}
		r, err := a.dir.RightsOf(ctx, u.ID, p.user.ID)
		if err != nil {
			return false, err
		}
		if need == readMail {
			return r.Allows(directory.RightsRead), nil
		}
		return r.Allows(directory.RightsWrite), nil
	}
	return false, nil
}

// account finds the account named by a path's address and checks the
// principal's access to it. To anyone who may not see a domain's
// accounts, a missing account of that domain is refused like an existing
// one (403), so that the answer does not tell which addresses exist. The
// path must name the account by its primary address (its domain may be
// spelled as one of the domain's aliases).
func (a *API) account(rq *request, raw string, need access) (directory.User, error) {
	ctx := rq.r.Context()
	local, domain, err := directory.NormalizeAddress(raw)
	if err != nil {
		return directory.User{}, err
	}
	u, err := a.dir.User(ctx, local+"@"+domain)
	if errors.Is(err, directory.ErrNotFound) {
		canonical, derr := a.dir.CanonicalDomain(ctx, domain)
		if derr != nil {
			canonical = domain
		}
		if !rq.p.adminOf(canonical) {
			return directory.User{}, forbidden()
		}
		if derr != nil {
			return directory.User{}, derr
		}
		return directory.User{}, err
	}
	if err != nil {
		return directory.User{}, err
	}
	ok, err := a.allowed(ctx, rq.p, u, need)
	if err != nil {
		return directory.User{}, err
	}
	if !ok {
		return directory.User{}, forbidden()
	}
	if local+"@"+domain != u.Address {
		canonical, err := a.dir.CanonicalDomain(ctx, domain)
		if err != nil {
			return directory.User{}, err
		}
		if local+"@"+canonical != u.Address {
			return directory.User{}, errorf(http.StatusNotFound, CodeNotFound,
				"%s is an alias of %s: name the account by its address", local+"@"+domain, u.Address)
		}
	}
	return u, nil
}

// domain checks that the principal administers a domain (name or alias)
// and returns its canonical name. Domains the principal does not
// administer are refused whether they exist or not.
func (a *API) domain(rq *request, raw string) (string, error) {
	name, err := directory.NormalizeDomain(raw)
	if err != nil {
		return "", err
	}
	canonical, err := a.dir.CanonicalDomain(rq.r.Context(), name)
	if err != nil {
		if !rq.p.global {
			return "", forbidden()
		}
		return "", err
	}
	if !rq.p.adminOf(canonical) {
		return "", forbidden()
	}
	return canonical, nil
}

// authenticate finds the principal of a request from its bearer key,
// counting failures in the throttle.
func (a *API) authenticate(r *http.Request) (*principal, *Error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return nil, errorf(http.StatusUnauthorized, CodeUnauthenticated, "an API key is required (Authorization: Bearer KEY)")
	}
	scheme, token, ok := strings.Cut(h, " ")
	token = strings.TrimSpace(token)
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return nil, errorf(http.StatusUnauthorized, CodeUnauthenticated, "the Authorization header must be \"Bearer KEY\"")
	}
	ctx := r.Context()
	attempt, wait := a.throttle.Begin("api", throttle.SourceString(r.RemoteAddr), a.dir.KeyOwner(ctx, token))
	if attempt == nil {
		secs := throttle.RetryAfter(wait)
		return nil, &Error{Status: http.StatusTooManyRequests, Code: CodeThrottled, RetryAfter: secs,
			Message: "too many failed authentications; try again in " + itoa(int64(secs)) + " seconds"}
	}
	key, u, err := a.dir.AuthenticateBearer(ctx, token)
	switch {
	case errors.Is(err, directory.ErrBadCredentials):
		attempt.Fail()
		a.log.Info("api authentication failed", "remote", r.RemoteAddr)
		return nil, errorf(http.StatusUnauthorized, CodeUnauthenticated, "invalid, expired or revoked API key")
	case errors.Is(err, directory.ErrDisabled):
		attempt.Release()
		return nil, errorf(http.StatusForbidden, CodeDisabled, "account disabled")
	case err != nil:
		attempt.Release()
		a.log.Error("api authentication", "err", err)
		return nil, &Error{Status: http.StatusServiceUnavailable, Code: CodeUnavailable, Message: "authentication is unavailable; try again later", RetryAfter: 10}
	}
	attempt.Succeed()
	p := &principal{keyID: key.ID, user: u, global: key.GlobalAdmin || u.Role == directory.RoleGlobalAdmin}
	if u.Role == directory.RoleDomainAdmin && len(u.AdminDomains) > 0 {
		p.domains = map[string]bool{}
		for _, d := range u.AdminDomains {
			p.domains[d] = true
		}
	}
	return p, nil
}

// localAdmin is the principal of requests on the data folder's unix
// socket.
var localAdmin = &principal{global: true, local: true}
