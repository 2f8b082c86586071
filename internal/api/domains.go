package api

import (
	"net/http"
	"net/url"

	"github.com/petrelmail/petrel/internal/directory"
)

// accountCounts counts the accounts of each domain.
func (a *API) accountCounts(rq *request) (map[string]int, error) {
	users, err := a.dir.Users(rq.r.Context(), "")
	if err != nil {
		return nil, err
	}
	n := map[string]int{}
	for _, u := range users {
		n[u.Domain]++
	}
	return n, nil
}

func (a *API) domainAnswer(rq *request, status int, name string) error {
	ctx := rq.r.Context()
	d, err := a.dir.Domain(ctx, name)
	if err != nil {
		return err
	}
	users, err := a.dir.Users(ctx, d.Name)
	if err != nil {
		return err
	}
	if status == http.StatusCreated {
		rq.w.Header().Set("Location", Prefix+"/domains/"+url.PathEscape(d.Name))
	}
	return rq.json(status, domainJSON(d, len(users)))
}

// createDomain: POST /domains, global admins.
func (a *API) createDomain(rq *request) error {
	if !rq.p.global {
		return forbidden()
	}
	var in NewDomain
	if err := rq.decode(&in); err != nil {
		return err
	}
	d, err := a.dir.AddDomain(rq.r.Context(), directory.Domain{Name: in.Name, Aliases: in.Aliases,
		DefaultQuota: in.DefaultQuota, DefaultLanguage: in.DefaultLanguage})
	if err != nil {
		return err
	}
	return a.domainAnswer(rq, http.StatusCreated, d.Name)
}

// listDomains: GET /domains, every domain for a global admin, its own for
// a domain admin.
func (a *API) listDomains(rq *request) error {
	if !rq.p.global && len(rq.p.domains) == 0 {
		return forbidden()
	}
	doms, err := a.dir.Domains(rq.r.Context())
	if err != nil {
		return err
	}
	counts, err := a.accountCounts(rq)
	if err != nil {
		return err
	}
	out := []Domain{}
	for _, d := range doms {
		if rq.p.adminOf(d.Name) {
			out = append(out, domainJSON(d, counts[d.Name]))
		}
	}
	return rq.json(http.StatusOK, out)
}

// getDomain: GET /domains/{domain}, its admins.
func (a *API) getDomain(rq *request) error {
	name, err := a.domain(rq, rq.r.PathValue("domain"))
	if err != nil {
		return err
	}
	return a.domainAnswer(rq, http.StatusOK, name)
}

// patchDomain: PATCH /domains/{domain}. Its admins change the defaults of
// new accounts; only global admins change its aliases (an alias claims a
// domain name for the whole server).
func (a *API) patchDomain(rq *request) error {
	name, err := a.domain(rq, rq.r.PathValue("domain"))
	if err != nil {
		return err
	}
	var in DomainPatch
	if err := rq.decode(&in); err != nil {
		return err
	}
	if in.Aliases != nil && !rq.p.global {
		return forbidden()
	}
	if in.DefaultLanguage != nil && !validLanguage(*in.DefaultLanguage) {
		return badRequest("language %q (known: en, fr, de)", *in.DefaultLanguage)
	}
	if in.DefaultQuota != nil && *in.DefaultQuota < 0 {
		return badRequest("quota %d", *in.DefaultQuota)
	}
	ctx := rq.r.Context()
	if in.Aliases != nil {
		if err := a.dir.SetDomainAliases(ctx, name, *in.Aliases); err != nil {
			return err
		}
	}
	if in.DefaultQuota != nil || in.DefaultLanguage != nil {
		lang := ""
		if in.DefaultLanguage != nil {
			lang = *in.DefaultLanguage
		}
		if err := a.dir.SetDomainDefaults(ctx, name, in.DefaultQuota, lang); err != nil {
			return err
		}
	}
	return a.domainAnswer(rq, http.StatusOK, name)
}

// deleteDomain: DELETE /domains/{domain}, global admins; refused while
// the domain has accounts.
func (a *API) deleteDomain(rq *request) error {
	name, err := a.domain(rq, rq.r.PathValue("domain"))
	if err != nil {
		return err
	}
	if !rq.p.global {
		return forbidden()
	}
	if err := a.dir.DeleteDomain(rq.r.Context(), name); err != nil {
		return err
	}
	return rq.noContent()
}

// addDomainAlias: PUT /domains/{domain}/aliases/{alias}, global admins.
func (a *API) addDomainAlias(rq *request) error {
	name, err := a.domain(rq, rq.r.PathValue("domain"))
	if err != nil {
		return err
	}
	if !rq.p.global {
		return forbidden()
	}
	if err := a.dir.AddDomainAlias(rq.r.Context(), name, rq.r.PathValue("alias")); err != nil {
		return err
	}
	return a.domainAnswer(rq, http.StatusOK, name)
}

// removeDomainAlias: DELETE /domains/{domain}/aliases/{alias}, global
// admins.
func (a *API) removeDomainAlias(rq *request) error {
	name, err := a.domain(rq, rq.r.PathValue("domain"))
	if err != nil {
		return err
	}
	if !rq.p.global {
		return forbidden()
	}
	if err := a.dir.RemoveDomainAlias(rq.r.Context(), name, rq.r.PathValue("alias")); err != nil {
		return err
	}
	return a.domainAnswer(rq, http.StatusOK, name)
}

func validLanguage(l string) bool {
	for _, k := range directory.Languages {
		if k == l {
			return true
		}
	}
	return false
}
