package api

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/petrelmail/petrel/internal/replication"
)

// authzCase is how the authorization test calls one route, on the own
// side (domain a.test, user ua@a.test) or the other (b.test, ub@b.test),
// and who may.
type authzCase struct {
	path string // with {D} domain, {E} empty domain, {AL} domain alias, {U} user, {U2} its extra address, {S} shared mailbox, {KID} the user's key ID, {X} a or b
	body string // JSON, or a message for an import
	// untargeted routes have no own and other side.
	untargeted bool
	// dadmin and user say whether the domain admin of a.test and the user
	// ua@a.test may call the route on the own side. Global admins may
	// call every route on both sides; nobody may on the other side, and
	// without a valid key nobody may at all.
	dadmin, user bool
	// mutates: every allowed call gets a fresh data folder.
	mutates bool
}

func authzCases() map[string]authzCase {
	const u = "/api/v1/users/{U}"
	const m = u + "/folders/INBOX/messages"
	return map[string]authzCase{
		"GET /api/v1/me":               {path: "/api/v1/me", untargeted: true, dadmin: true, user: true},
		"POST /api/v1/domains":         {path: "/api/v1/domains", body: `{"name":"new.test"}`, untargeted: true, mutates: true},
		"GET /api/v1/domains":          {path: "/api/v1/domains", untargeted: true, dadmin: true},
		"GET /api/v1/domains/{domain}": {path: "/api/v1/domains/{D}", dadmin: true},
		"PATCH /api/v1/domains/{domain}": {path: "/api/v1/domains/{D}", body: `{"default_language":"fr","default_quota":1000000}`,
			dadmin: true, mutates: true},
		"DELETE /api/v1/domains/{domain}":                                   {path: "/api/v1/domains/{E}", mutates: true},
		"PUT /api/v1/domains/{domain}/aliases/{alias}":                      {path: "/api/v1/domains/{D}/aliases/x{X}.test", mutates: true},
		"DELETE /api/v1/domains/{domain}/aliases/{alias}":                   {path: "/api/v1/domains/{D}/aliases/{AL}", mutates: true},
		"POST /api/v1/domains/{domain}/users":                               {path: "/api/v1/domains/{D}/users", body: `{"address":"new","password":"pw"}`, dadmin: true, mutates: true},
		"GET /api/v1/domains/{domain}/users":                                {path: "/api/v1/domains/{D}/users", dadmin: true},
		"GET /api/v1/users":                                                 {path: "/api/v1/users", untargeted: true, dadmin: true},
		"GET /api/v1/users/{address}":                                       {path: u, dadmin: true, user: true},
		"PATCH /api/v1/users/{address}":                                     {path: u, body: `{"language":"de"}`, dadmin: true, user: true, mutates: true},
		"DELETE /api/v1/users/{address}":                                    {path: u, dadmin: true, mutates: true},
		"PUT /api/v1/users/{address}/aliases/{alias}":                       {path: u + "/aliases/extra@{D}", dadmin: true, mutates: true},
		"DELETE /api/v1/users/{address}/aliases/{alias}":                    {path: u + "/aliases/{U2}", dadmin: true, mutates: true},
		"GET /api/v1/users/{address}/grants":                                {path: "/api/v1/users/{S}/grants", dadmin: true},
		"PUT /api/v1/users/{address}/grants/{grantee}":                      {path: "/api/v1/users/{S}/grants/{U}", body: `{"rights":"read"}`, dadmin: true, mutates: true},
		"DELETE /api/v1/users/{address}/grants/{grantee}":                   {path: "/api/v1/users/{S}/grants/{U}", dadmin: true, mutates: true},
		"GET /api/v1/users/{address}/shared":                                {path: u + "/shared", dadmin: true, user: true},
		"POST /api/v1/users/{address}/keys":                                 {path: u + "/keys", body: `{"name":"k"}`, dadmin: true, user: true, mutates: true},
		"GET /api/v1/users/{address}/keys":                                  {path: u + "/keys", dadmin: true, user: true},
		"PATCH /api/v1/users/{address}/keys/{id}":                           {path: u + "/keys/{KID}", body: `{"expires":"2099-01-01T00:00:00Z"}`, dadmin: true, user: true, mutates: true},
		"DELETE /api/v1/users/{address}/keys/{id}":                          {path: u + "/keys/{KID}", dadmin: true, user: true, mutates: true},
		"POST /api/v1/keys":                                                 {path: "/api/v1/keys", body: `{"name":"g"}`, untargeted: true, mutates: true},
		"GET /api/v1/keys":                                                  {path: "/api/v1/keys", untargeted: true},
		"GET /api/v1/keys/{id}":                                             {path: "/api/v1/keys/{KID}", dadmin: true, user: true},
		"PATCH /api/v1/keys/{id}":                                           {path: "/api/v1/keys/{KID}", body: `{"expires":"2099-01-01T00:00:00Z"}`, dadmin: true, user: true, mutates: true},
		"DELETE /api/v1/keys/{id}":                                          {path: "/api/v1/keys/{KID}", dadmin: true, user: true, mutates: true},
		"GET /api/v1/users/{address}/folders":                               {path: u + "/folders", dadmin: true, user: true},
		"POST /api/v1/users/{address}/folders":                              {path: u + "/folders", body: `{"name":"New/Sub"}`, dadmin: true, user: true, mutates: true},
		"GET /api/v1/users/{address}/folders/{folder}":                      {path: u + "/folders/Work", dadmin: true, user: true},
		"PATCH /api/v1/users/{address}/folders/{folder}":                    {path: u + "/folders/Work", body: `{"name":"Renamed"}`, dadmin: true, user: true, mutates: true},
		"DELETE /api/v1/users/{address}/folders/{folder}":                   {path: u + "/folders/Work", dadmin: true, user: true, mutates: true},
		"GET /api/v1/users/{address}/folders/{folder}/messages":             {path: m + "?limit=10", dadmin: true, user: true},
		"POST /api/v1/users/{address}/folders/{folder}/messages":            {path: m + "?flags=seen", body: string(testMessage("imported", "Body")), dadmin: true, user: true, mutates: true},
		"GET /api/v1/users/{address}/folders/{folder}/messages/{uid}":       {path: m + "/1", dadmin: true, user: true},
		"PATCH /api/v1/users/{address}/folders/{folder}/messages/{uid}":     {path: m + "/1", body: `{"flags":{"seen":true},"keywords":{"$Label1":true}}`, dadmin: true, user: true, mutates: true},
		"DELETE /api/v1/users/{address}/folders/{folder}/messages/{uid}":    {path: m + "/1", dadmin: true, user: true, mutates: true},
		"GET /api/v1/users/{address}/folders/{folder}/messages/{uid}/raw":   {path: m + "/1/raw", dadmin: true, user: true},
		"POST /api/v1/users/{address}/folders/{folder}/messages/{uid}/move": {path: m + "/1/move", body: `{"folder":"Work"}`, dadmin: true, user: true, mutates: true},
		"GET /api/v1/users/{address}/search":                                {path: u + "/search?q=hello", dadmin: true, user: true},
		"GET /api/v1/replication/status":                                    {path: "/api/v1/replication/status", untargeted: true},
		"GET /api/v1/replication/progress":                                  {path: "/api/v1/replication/progress?scope={D}", dadmin: true},
		"POST /api/v1/replication/requeue":                                  {path: "/api/v1/replication/requeue", body: `{"scope":["{D}"]}`, dadmin: true},
		"POST /api/v1/replication/reindex":                                  {path: "/api/v1/replication/reindex", body: `{"scope":["{U}"]}`, dadmin: true},
	}
}

// sides fills the placeholders of a case for the own and the other side.
func sides(e *env) map[string]*strings.Replacer {
	return map[string]*strings.Replacer{
		"own": strings.NewReplacer("{D}", "a.test", "{E}", "ea.test", "{AL}", "al.test", "{U}", "ua@a.test", "{U2}", "ua2@a.test",
			"{S}", "sa@a.test", "{KID}", fmt.Sprint(e.keyIDs["user"]), "{X}", "a"),
		"other": strings.NewReplacer("{D}", "b.test", "{E}", "eb.test", "{AL}", "bl.test", "{U}", "ub@b.test", "{U2}", "ub2@b.test",
			"{S}", "sb@b.test", "{KID}", fmt.Sprint(e.keyIDs["userb"]), "{X}", "b"),
	}
}

// snapshot is what the directory and the store hold, to check that a
// refused request changed nothing.
func (e *env) snapshot() string {
	e.t.Helper()
	ctx := context.Background()
	doms, _ := e.dir.Domains(ctx)
	users, _ := e.dir.Users(ctx, "")
	gkeys, _ := e.dir.GlobalKeys(ctx)
	var keys []any
	for _, u := range users {
		k, _ := e.dir.Keys(ctx, u.Address)
		g, _ := e.dir.Grants(ctx, u.Address)
		keys = append(keys, k, g)
	}
	b, _ := json.Marshal([]any{doms, users, gkeys, keys, e.shardCounts()})
	return string(b)
}

// TestAuthorizationMatrix calls every route as every principal (a
// global-admin key, the domain admin of a.test, a user of a.test, no key,
// a revoked key) on a.test's objects and b.test's: only the allowed
// combinations succeed, the others get 401 or 403 and change nothing.
// Every route but the public OpenAPI document has refused cases.
func TestAuthorizationMatrix(t *testing.T) {
	shared := newWorld(t, envOptions{repl: fakeReplication{}})
	cases := authzCases()
	var routes []string
	for _, rt := range shared.api.routes {
		key := rt.Method + " " + rt.Path
		if rt.Public {
			continue
		}
		if _, ok := cases[key]; !ok {
			t.Errorf("route %s has no authorization case", key)
		}
		routes = append(routes, key)
	}
	for key := range cases {
		if !slices.Contains(routes, key) {
			t.Errorf("authorization case for %s, which is no route", key)
		}
	}
	var mu sync.Mutex // the shared env serves one case at a time
	for _, key := range routes {
		c := cases[key]
		method, _, _ := strings.Cut(key, " ")
		t.Run(strings.ReplaceAll(key, "/", "_"), func(t *testing.T) {
			t.Parallel()
			refused := 0
			for _, who := range []string{"global", "dadmin", "user", "none", "revoked"} {
				for _, side := range []string{"own", "other"} {
					if c.untargeted && side == "other" {
						continue
					}
					allowed := who == "global" ||
						(side == "own" && (who == "dadmin" && c.dadmin || who == "user" && c.user))
					e := shared
					if allowed && c.mutates {
						e = newWorld(t, envOptions{repl: fakeReplication{}})
					} else {
						mu.Lock()
					}
					r := sides(e)[side]
					path, body := r.Replace(c.path), r.Replace(c.body)
					ct := ""
					if body != "" {
						ct = "application/json"
						if strings.HasSuffix(key, "/messages") && method == "POST" {
							ct = "message/rfc822"
						}
					}
					var before string
					if !allowed {
						before = e.snapshot()
					}
					var bodyBytes []byte
					if body != "" {
						bodyBytes = []byte(body)
					}
					status, resp, _ := e.call(who, method, path, ct, bodyBytes)
					switch {
					case allowed && (status < 200 || status > 299):
						t.Errorf("%s on %s (%s %s): %d %s, want success", who, side, method, path, status, resp)
					case !allowed:
						refused++
						want := 403
						if who == "none" || who == "revoked" {
							want = 401
						}
						if status != want {
							t.Errorf("%s on %s (%s %s): %d %s, want %d", who, side, method, path, status, resp, want)
						}
						if after := e.snapshot(); after != before {
							t.Errorf("%s on %s (%s %s): refused, but the data changed", who, side, method, path)
						}
					}
					if e == shared {
						mu.Unlock()
					}
				}
			}
			if refused == 0 {
				t.Errorf("no refused case")
			}
		})
	}
}

// TestOpenAPIIsPublic: the document needs no key, and a bad key does not
// keep anyone from reading it.
func TestOpenAPIIsPublic(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.keys["bogus"] = "ptk_1_nothing"
	for _, who := range []string{"none", "bogus"} {
		status, b, h := e.call(who, "GET", "/api/v1/openapi.json", "", nil)
		if status != 200 || h.Get("Content-Type") != "application/json" || !json.Valid(b) {
			t.Fatalf("openapi.json as %s: %d %s", who, status, h.Get("Content-Type"))
		}
	}
}

// TestRoleLimits checks the rules inside routes that the matrix does not:
// a user cannot raise its quota or role, a domain admin cannot make a
// global admin nor take over an admin of more domains, and only global
// admins change aliases of domains.
func TestRoleLimits(t *testing.T) {
	e := newWorld(t, envOptions{})
	for _, c := range []struct {
		who, method, path, body string
		want                    int
	}{
		{"user", "PATCH", "/api/v1/users/ua@a.test", `{"quota":0}`, 403},
		{"user", "PATCH", "/api/v1/users/ua@a.test", `{"role":"global-admin"}`, 403},
		{"user", "PATCH", "/api/v1/users/ua@a.test", `{"enabled":false}`, 403},
		{"user", "PATCH", "/api/v1/users/ua@a.test", `{"aliases":["me@a.test"]}`, 403},
		{"user", "DELETE", "/api/v1/users/ua@a.test", ``, 403},
		{"user", "POST", "/api/v1/domains/a.test/users", `{"address":"x"}`, 403},
		{"dadmin", "PATCH", "/api/v1/users/ua@a.test", `{"role":"global-admin"}`, 403},
		{"dadmin", "PATCH", "/api/v1/users/ua@a.test", `{"role":"domain-admin","admin_domains":["b.test"]}`, 403},
		{"dadmin", "POST", "/api/v1/domains/a.test/users", `{"address":"boss","role":"global-admin"}`, 403},
		{"dadmin", "POST", "/api/v1/domains/a.test/users", `{"address":"boss","role":"domain-admin","admin_domains":["a.test","b.test"]}`, 403},
		{"dadmin", "PATCH", "/api/v1/domains/a.test", `{"aliases":["new-alias.test"]}`, 403},
		{"dadmin", "PATCH", "/api/v1/users/ua@a.test", `{"aliases":["ua3@b.test"]}`, 403},
		// Allowed: a domain admin of its own domains.
		{"dadmin", "PATCH", "/api/v1/users/ua@a.test", `{"role":"domain-admin","admin_domains":["a.test","ea.test"]}`, 200},
		{"dadmin", "POST", "/api/v1/domains/a.test/users", `{"address":"boss2","role":"domain-admin"}`, 201},
		{"user", "PATCH", "/api/v1/users/ua@a.test", `{"password":"new secret"}`, 200},
	} {
		status, b := e.json(c.who, c.method, c.path, c.body)
		if status != c.want {
			t.Errorf("%s %s %s as %s: %d %s, want %d", c.method, c.path, c.body, c.who, status, b, c.want)
		}
	}
	// ua is now a domain admin of a.test and ea.test, as da is: da still
	// manages it. A global admin makes ub an admin of a.test and b.test:
	// da (a.test, ea.test) may no longer touch it.
	e.must(200, "global", "PATCH", "/api/v1/users/ub@b.test", `{"role":"domain-admin","admin_domains":["a.test","b.test"]}`, nil)
	e.must(403, "dadmin", "GET", "/api/v1/users/ub@b.test", nil, nil)
	e.must(200, "dadmin", "GET", "/api/v1/users/ua@a.test", nil, nil)
	// The global-admin role of an account acts as a global admin.
	e.must(200, "global", "PATCH", "/api/v1/users/ua@a.test", `{"role":"global-admin"}`, nil)
	var me Me
	e.must(200, "user", "GET", "/api/v1/me", nil, &me)
	if me.Role != "global-admin" || me.Address != "ua@a.test" {
		t.Fatalf("me = %+v", me)
	}
	e.must(200, "user", "GET", "/api/v1/domains/b.test", nil, nil)
	e.must(403, "dadmin", "GET", "/api/v1/users/ua@a.test", nil, nil)
}

// TestSharedMailboxRights: a grant gives its grantee the shared mailbox's
// folders and messages, read or write as granted, and nothing else of it.
func TestSharedMailboxRights(t *testing.T) {
	e := newWorld(t, envOptions{})
	const sa = "/api/v1/users/sa@a.test"
	// ua has write on sa: read, import, manage folders.
	e.must(200, "user", "GET", sa+"/folders", nil, nil)
	e.must(200, "user", "GET", sa+"/folders/INBOX/messages/1", nil, nil)
	e.must(201, "user", "POST", sa+"/folders", `{"name":"Projects"}`, nil)
	status, b, _ := e.call("user", "POST", sa+"/folders/INBOX/messages", "message/rfc822", testMessage("into shared", "x"))
	if status != 201 {
		t.Fatalf("import into the shared mailbox with write: %d %s", status, b)
	}
	// but not the account: its keys, its grants, its settings.
	e.must(403, "user", "GET", sa, nil, nil)
	e.must(403, "user", "POST", sa+"/keys", `{"name":"mine now"}`, nil)
	e.must(403, "user", "GET", sa+"/grants", nil, nil)
	var shared []Grant
	e.must(200, "user", "GET", "/api/v1/users/ua@a.test/shared", nil, &shared)
	if len(shared) != 1 || shared[0].Mailbox != "sa@a.test" || shared[0].Rights != "write" {
		t.Fatalf("shared with ua: %+v", shared)
	}
	// Read only: reading works, writing does not.
	e.must(200, "dadmin", "PUT", sa+"/grants/ua@a.test", `{"rights":"read"}`, nil)
	e.must(200, "user", "GET", sa+"/folders/INBOX/messages", nil, nil)
	e.must(403, "user", "PATCH", sa+"/folders/INBOX/messages/1", `{"flags":{"seen":true}}`, nil)
	e.must(403, "user", "DELETE", sa+"/folders/Projects", nil, nil)
	// Revoked: nothing.
	e.must(204, "dadmin", "DELETE", sa+"/grants/ua@a.test", nil, nil)
	e.must(403, "user", "GET", sa+"/folders", nil, nil)
	// Grants exist on shared mailboxes only.
	status, b = e.json("global", "PUT", "/api/v1/users/ua@a.test/grants/ub@b.test", `{"rights":"read"}`)
	if status != 400 || errorCode(b) != CodeInvalid {
		t.Fatalf("grant on a personal mailbox: %d %s", status, b)
	}
}

// TestOpenAPIMatchesRoutes checks openapi.json against the routes: the
// same operations, the same path parameters, and for every schema of an
// API type the same JSON fields.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	var doc struct {
		OpenAPI string                               `json:"openapi"`
		Paths   map[string]map[string]map[string]any `json:"paths"`
		Comp    struct {
			Schemas    map[string]map[string]any `json:"schemas"`
			Parameters map[string]map[string]any `json:"parameters"`
		} `json:"components"`
	}
	if err := json.Unmarshal(openAPIDoc, &doc); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Fatalf("openapi %q", doc.OpenAPI)
	}
	a := New(Options{})
	inDoc := map[string]bool{}
	for path, ops := range doc.Paths {
		for method, op := range ops {
			key := strings.ToUpper(method) + " " + path
			inDoc[key] = true
			// Path parameters: declared exactly as the path names them.
			var want, got []string
			for _, seg := range strings.Split(path, "/") {
				if strings.HasPrefix(seg, "{") {
					want = append(want, strings.Trim(seg, "{}"))
				}
			}
			params, _ := op["parameters"].([]any)
			for _, p := range params {
				pm := p.(map[string]any)
				if ref, ok := pm["$ref"].(string); ok {
					pm = doc.Comp.Parameters[strings.TrimPrefix(ref, "#/components/parameters/")]
					if pm == nil {
						t.Errorf("%s: parameter %s is not defined", key, ref)
						continue
					}
				}
				if pm["in"] == "path" {
					got = append(got, pm["name"].(string))
				}
			}
			slices.Sort(want)
			slices.Sort(got)
			if !slices.Equal(want, got) {
				t.Errorf("%s: path parameters %v, documented %v", key, want, got)
			}
			resp, _ := op["responses"].(map[string]any)
			if len(resp) == 0 {
				t.Errorf("%s: no responses documented", key)
			}
		}
	}
	for _, rt := range a.routes {
		key := rt.Method + " " + rt.Path
		if !inDoc[key] {
			t.Errorf("route %s is not in openapi.json", key)
		}
		delete(inDoc, key)
		op := doc.Paths[rt.Path][strings.ToLower(rt.Method)]
		sec, hasSec := op["security"].([]any)
		if rt.Public != (hasSec && len(sec) == 0) {
			t.Errorf("%s: public %v, but the document's security says %v", key, rt.Public, op["security"])
		}
		if resp, _ := op["responses"].(map[string]any); !rt.Public && (resp["401"] == nil || resp["403"] == nil) {
			t.Errorf("%s: 401 and 403 are not documented", key)
		}
	}
	for key := range inDoc {
		t.Errorf("openapi.json documents %s, which is no route", key)
	}
	// The schemas of the API's own types list exactly their JSON fields.
	for name, v := range map[string]any{"Domain": Domain{}, "NewDomain": NewDomain{}, "DomainPatch": DomainPatch{}, "User": User{},
		"NewUser": NewUser{}, "UserPatch": UserPatch{}, "Grant": Grant{}, "GrantRights": GrantRights{}, "Key": Key{}, "NewKey": NewKey{},
		"KeyPatch": KeyPatch{}, "Me": Me{}, "Folder": Folder{}, "NewFolder": NewFolder{}, "FolderPatch": FolderPatch{}, "Address": Address{},
		"Message": Message{}, "MessageList": MessageList{}, "MessagePatch": MessagePatch{}, "Move": Move{}, "Imported": Imported{},
		"SearchResult": SearchResult{}, "ReplicationRequest": ReplicationRequest{}, "ReplicationRun": ReplicationRun{},
		"ShardStatus": replication.ShardStatus{}, "Progress": replication.Progress{}} {
		s := doc.Comp.Schemas[name]
		if s == nil {
			t.Errorf("schema %s is missing", name)
			continue
		}
		props, _ := s["properties"].(map[string]any)
		var documented []string
		for p := range props {
			documented = append(documented, p)
		}
		fields := jsonFields(reflect.TypeOf(v))
		slices.Sort(documented)
		slices.Sort(fields)
		if !slices.Equal(documented, fields) {
			t.Errorf("schema %s documents %v; the type has %v", name, documented, fields)
		}
	}
}

// jsonFields lists the JSON names of a struct's fields (embedded structs
// flattened).
func jsonFields(t reflect.Type) []string {
	var out []string
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Anonymous {
			out = append(out, jsonFields(f.Type)...)
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out = append(out, name)
	}
	return out
}
