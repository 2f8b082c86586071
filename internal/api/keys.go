package api

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/petrelmail/petrel/internal/directory"
)

func keyListJSON(keys []directory.Key) []Key {
	out := []Key{}
	for _, k := range keys {
		out = append(out, keyJSON(k))
	}
	return out
}

func (rq *request) newKey() (NewKey, error) {
	var in NewKey
	if err := rq.decode(&in); err != nil {
		return in, err
	}
	if in.Expires != nil && !in.Expires.After(time.Now()) {
		return in, badRequest("expires %s is in the past", in.Expires.Format(time.RFC3339))
	}
	return in, nil
}

func created(rq *request, k directory.Key, secret string) error {
	out := keyJSON(k)
	out.Key = secret
	rq.w.Header().Set("Location", Prefix+"/keys/"+itoa(k.ID))
	return rq.json(http.StatusCreated, out)
}

// createUserKey: POST /users/{address}/keys, the account and its admins.
// The key acts as the account (for the API and as its IMAP password).
func (a *API) createUserKey(rq *request) error {
	u, err := a.account(rq, rq.r.PathValue("address"), ownAccount)
	if err != nil {
		return err
	}
	in, err := rq.newKey()
	if err != nil {
		return err
	}
	var exp time.Time
	if in.Expires != nil {
		exp = *in.Expires
	}
	k, secret, err := a.dir.CreateKey(rq.r.Context(), u.Address, in.Name, exp)
	if err != nil {
		return err
	}
	a.log.Info("api key created", "key", k.ID, "account", u.Address, "by", rq.p.label())
	return created(rq, k, secret)
}

// listUserKeys: GET /users/{address}/keys, the account and its admins.
func (a *API) listUserKeys(rq *request) error {
	u, err := a.account(rq, rq.r.PathValue("address"), ownAccount)
	if err != nil {
		return err
	}
	keys, err := a.dir.Keys(rq.r.Context(), u.Address)
	if err != nil {
		return err
	}
	return rq.json(http.StatusOK, keyListJSON(keys))
}

// userKey finds the key {id} of the account {address}.
func (a *API) userKey(rq *request) (directory.Key, error) {
	u, err := a.account(rq, rq.r.PathValue("address"), ownAccount)
	if err != nil {
		return directory.Key{}, err
	}
	id, err := keyID(rq)
	if err != nil {
		return directory.Key{}, err
	}
	k, err := a.dir.Key(rq.r.Context(), id)
	if err != nil {
		return directory.Key{}, err
	}
	if k.UserID != u.ID {
		return directory.Key{}, errorf(http.StatusNotFound, CodeNotFound, "key %d of %s: not found", id, u.Address)
	}
	return k, nil
}

func keyID(rq *request) (int64, error) {
	id, err := strconv.ParseInt(rq.r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, badRequest("key ID %q is not a positive number", rq.r.PathValue("id"))
	}
	return id, nil
}

// patchUserKey: PATCH /users/{address}/keys/{id}: set or clear its expiry.
func (a *API) patchUserKey(rq *request) error {
	k, err := a.userKey(rq)
	if err != nil {
		return err
	}
	return a.expire(rq, k)
}

// revokeUserKey: DELETE /users/{address}/keys/{id}.
func (a *API) revokeUserKey(rq *request) error {
	k, err := a.userKey(rq)
	if err != nil {
		return err
	}
	return a.revoke(rq, k)
}

// expire applies a KeyPatch.
func (a *API) expire(rq *request, k directory.Key) error {
	var in KeyPatch
	if err := rq.decode(&in); err != nil {
		return err
	}
	ctx := rq.r.Context()
	if in.Expires != nil {
		var exp time.Time
		if *in.Expires != "" {
			t, err := time.Parse(time.RFC3339, *in.Expires)
			if err != nil {
				return badRequest("expires %q is not an RFC 3339 time (or \"\" for never)", *in.Expires)
			}
			exp = t
		}
		if err := a.dir.SetKeyExpiry(ctx, k.ID, exp); err != nil {
			return err
		}
	}
	k, err := a.dir.Key(ctx, k.ID)
	if err != nil {
		return err
	}
	return rq.json(http.StatusOK, keyJSON(k))
}

func (a *API) revoke(rq *request, k directory.Key) error {
	if err := a.dir.RevokeKey(rq.r.Context(), k.ID); err != nil {
		return err
	}
	a.log.Info("api key revoked", "key", k.ID, "by", rq.p.label())
	return rq.noContent()
}

// createGlobalKey: POST /keys, global admins: a key that acts as the
// global administrator.
func (a *API) createGlobalKey(rq *request) error {
	if !rq.p.global {
		return forbidden()
	}
	in, err := rq.newKey()
	if err != nil {
		return err
	}
	var exp time.Time
	if in.Expires != nil {
		exp = *in.Expires
	}
	k, secret, err := a.dir.CreateGlobalKey(rq.r.Context(), in.Name, exp)
	if err != nil {
		return err
	}
	a.log.Info("global-admin api key created", "key", k.ID, "by", rq.p.label())
	return created(rq, k, secret)
}

// listGlobalKeys: GET /keys, global admins: the global-admin keys.
func (a *API) listGlobalKeys(rq *request) error {
	if !rq.p.global {
		return forbidden()
	}
	keys, err := a.dir.GlobalKeys(rq.r.Context())
	if err != nil {
		return err
	}
	return rq.json(http.StatusOK, keyListJSON(keys))
}

// anyKey finds the key {id}: any key for a global admin, else a key of
// an account the principal owns or administers. Others are refused
// whether they exist or not.
func (a *API) anyKey(rq *request) (directory.Key, error) {
	id, err := keyID(rq)
	if err != nil {
		return directory.Key{}, err
	}
	ctx := rq.r.Context()
	k, err := a.dir.Key(ctx, id)
	if errors.Is(err, directory.ErrNotFound) && !rq.p.global {
		return directory.Key{}, forbidden()
	}
	if err != nil {
		return directory.Key{}, err
	}
	if rq.p.global {
		return k, nil
	}
	if k.GlobalAdmin {
		return directory.Key{}, forbidden()
	}
	u, err := a.dir.UserByID(ctx, k.UserID)
	if err != nil {
		return directory.Key{}, err
	}
	ok, err := a.allowed(ctx, rq.p, u, ownAccount)
	if err != nil {
		return directory.Key{}, err
	}
	if !ok {
		return directory.Key{}, forbidden()
	}
	return k, nil
}

// getKey: GET /keys/{id}.
func (a *API) getKey(rq *request) error {
	k, err := a.anyKey(rq)
	if err != nil {
		return err
	}
	return rq.json(http.StatusOK, keyJSON(k))
}

// patchKey: PATCH /keys/{id}.
func (a *API) patchKey(rq *request) error {
	k, err := a.anyKey(rq)
	if err != nil {
		return err
	}
	return a.expire(rq, k)
}

// revokeKey: DELETE /keys/{id}.
func (a *API) revokeKey(rq *request) error {
	k, err := a.anyKey(rq)
	if err != nil {
		return err
	}
	return a.revoke(rq, k)
}
