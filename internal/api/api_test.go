package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"testing"
)

// TestDomainAndAccountLifecycle walks the administration of a domain and
// its accounts as a global admin would, then as a user with a key.
func TestDomainAndAccountLifecycle(t *testing.T) {
	e := newWorld(t, envOptions{})
	var d Domain
	e.must(201, "global", "POST", "/api/v1/domains", NewDomain{Name: "New.Test", Aliases: []string{"n.test"}, DefaultLanguage: "fr"}, &d)
	if d.Name != "new.test" || !slices.Equal(d.Aliases, []string{"n.test"}) || d.DefaultLanguage != "fr" || d.Accounts != 0 {
		t.Fatalf("created domain %+v", d)
	}
	status, b := e.json("global", "POST", "/api/v1/domains", NewDomain{Name: "n.test"})
	if status != 409 || errorCode(b) != CodeExists {
		t.Fatalf("domain named as another's alias: %d %s", status, b)
	}
	e.must(200, "global", "PATCH", "/api/v1/domains/new.test", `{"default_quota":1048576,"aliases":["n.test","n2.test"]}`, &d)
	if d.DefaultQuota != 1<<20 || !slices.Equal(d.Aliases, []string{"n.test", "n2.test"}) {
		t.Fatalf("patched domain %+v", d)
	}
	e.must(200, "global", "DELETE", "/api/v1/domains/new.test/aliases/n2.test", nil, &d)
	e.must(200, "global", "PUT", "/api/v1/domains/new.test/aliases/n3.test", nil, &d)
	if !slices.Equal(d.Aliases, []string{"n.test", "n3.test"}) {
		t.Fatalf("aliases %v", d.Aliases)
	}
	// An account, created through the domain's alias: it takes the
	// domain's defaults and gets its mailbox at once.
	var u User
	e.must(201, "global", "POST", "/api/v1/domains/n.test/users", NewUser{Address: "Carol", Password: "secret", Aliases: []string{"c@n3.test"}}, &u)
	if u.Address != "carol@new.test" || u.Language != "fr" || u.Quota != 1<<20 || !slices.Equal(u.Aliases, []string{"c@new.test"}) || !u.Enabled {
		t.Fatalf("created user %+v", u)
	}
	var folders []Folder
	e.must(200, "global", "GET", "/api/v1/users/carol@new.test/folders", nil, &folders)
	if len(folders) != 6 || !slices.ContainsFunc(folders, func(f Folder) bool { return f.Name == "Envoyés" && f.SpecialUse == "sent" }) {
		t.Fatalf("folders of a new French account: %+v", folders)
	}
	// The domain cannot go while it has accounts.
	status, b = e.json("global", "DELETE", "/api/v1/domains/new.test", nil)
	if status != 409 || errorCode(b) != CodeNotEmpty {
		t.Fatalf("deleting a domain with accounts: %d %s", status, b)
	}
	// A key for carol acts as carol, and only as carol.
	var k Key
	e.must(201, "global", "POST", "/api/v1/users/carol@new.test/keys", NewKey{Name: "migration"}, &k)
	if k.Key == "" || k.Address != "carol@new.test" || !k.Active || k.GlobalAdmin {
		t.Fatalf("created key %+v", k)
	}
	e.keys["carol"] = k.Key
	var me Me
	e.must(200, "carol", "GET", "/api/v1/me", nil, &me)
	if me.Role != "user" || me.Address != "carol@new.test" {
		t.Fatalf("me %+v", me)
	}
	var keys []Key
	e.must(200, "carol", "GET", "/api/v1/users/carol@new.test/keys", nil, &keys)
	if len(keys) != 1 || keys[0].Key != "" || keys[0].Name != "migration" {
		t.Fatalf("key list %+v (the secret must never be listed)", keys)
	}
	e.must(403, "carol", "GET", "/api/v1/users/ua@a.test", nil, nil)
	e.must(200, "carol", "PATCH", "/api/v1/users/carol@new.test", `{"language":"de"}`, &u)
	if u.Language != "de" {
		t.Fatalf("language %q", u.Language)
	}
	// Disabled: the key stops working.
	e.must(200, "global", "PATCH", "/api/v1/users/carol@new.test", `{"enabled":false}`, nil)
	status, b = e.json("carol", "GET", "/api/v1/me", nil)
	if status != 403 || errorCode(b) != CodeDisabled {
		t.Fatalf("key of a disabled account: %d %s", status, b)
	}
	e.must(200, "global", "PATCH", "/api/v1/users/carol@new.test", `{"enabled":true}`, nil)
	// Expired, then not, then revoked.
	path := fmt.Sprintf("/api/v1/keys/%d", k.ID)
	e.must(200, "carol", "PATCH", path, `{"expires":"2001-01-01T00:00:00Z"}`, &k)
	if k.Active {
		t.Fatalf("expired key still active: %+v", k)
	}
	e.must(401, "carol", "GET", "/api/v1/me", nil, nil)
	e.must(200, "global", "PATCH", path, `{"expires":""}`, &k)
	e.must(200, "carol", "GET", "/api/v1/me", nil, nil)
	e.must(204, "carol", "DELETE", path, nil, nil)
	e.must(401, "carol", "GET", "/api/v1/me", nil, nil)
	// Global-admin keys.
	var g Key
	e.must(201, "global", "POST", "/api/v1/keys", NewKey{Name: "ops"}, &g)
	if !g.GlobalAdmin || g.Address != "" || g.Key == "" {
		t.Fatalf("global key %+v", g)
	}
	e.keys["ops"] = g.Key
	e.must(200, "ops", "GET", "/api/v1/users/carol@new.test", nil, nil)
	var gkeys []Key
	e.must(200, "ops", "GET", "/api/v1/keys", nil, &gkeys)
	if len(gkeys) != 2 {
		t.Fatalf("global keys %+v", gkeys)
	}
	// Delete the account, then the domain.
	e.must(204, "global", "DELETE", "/api/v1/users/carol@new.test", nil, nil)
	e.must(404, "global", "GET", "/api/v1/users/carol@new.test", nil, nil)
	e.must(204, "global", "DELETE", "/api/v1/domains/new.test", nil, nil)
	e.must(404, "global", "GET", "/api/v1/domains/new.test", nil, nil)
	var doms []Domain
	e.must(200, "dadmin", "GET", "/api/v1/domains", nil, &doms)
	if len(doms) != 2 || doms[0].Name != "a.test" || doms[1].Name != "ea.test" {
		t.Fatalf("a domain admin's domains: %+v", doms)
	}
}

// TestMailboxOperations: folders and messages through the API, as the
// mailbox's owner.
func TestMailboxOperations(t *testing.T) {
	e := newWorld(t, envOptions{})
	const u = "/api/v1/users/ua@a.test"
	var f Folder
	e.must(201, "user", "POST", u+"/folders", NewFolder{Name: "Projects/2026", SpecialUse: "archive"}, &f)
	if f.Name != "Projects/2026" || f.SpecialUse != "archive" {
		t.Fatalf("created folder %+v", f)
	}
	e.must(409, "user", "POST", u+"/folders", NewFolder{Name: "Projects/2026"}, nil)
	// Import three messages, with flags, and page through them.
	for i := range 3 {
		var im Imported
		status, b, _ := e.call("user", "POST", u+"/folders/Projects%2F2026/messages?flags=seen,flagged&keywords=$Work",
			"message/rfc822", testMessage(fmt.Sprintf("report %d", i), fmt.Sprintf("Quarterly numbers %d", i)))
		if status != 201 {
			t.Fatalf("import %d: %d %s", i, status, b)
		}
		mustUnmarshal(t, b, &im)
		if im.UID != uint32(i+1) || im.Folder != "Projects/2026" {
			t.Fatalf("imported %+v", im)
		}
	}
	var page MessageList
	e.must(200, "user", "GET", u+"/folders/Projects%2F2026/messages?limit=2", nil, &page)
	if len(page.Messages) != 2 || page.Next != 2 {
		t.Fatalf("first page %+v", page)
	}
	m := page.Messages[0]
	if m.Subject != "report 0" || !slices.Equal(m.Flags, []string{"seen", "flagged"}) || !slices.Equal(m.Keywords, []string{"$Work"}) ||
		len(m.From) != 1 || m.From[0].Address != "sender@example.org" || m.From[0].Name != "Sender" || m.Date == nil {
		t.Fatalf("listed message %+v", m)
	}
	page = MessageList{}
	e.must(200, "user", "GET", u+"/folders/Projects%2F2026/messages?after=2", nil, &page)
	if len(page.Messages) != 1 || page.Next != 0 || page.Messages[0].UID != 3 {
		t.Fatalf("second page %+v", page)
	}
	// The raw message is the bytes imported.
	status, raw, h := e.call("user", "GET", u+"/folders/Projects%2F2026/messages/2/raw", "", nil)
	if status != 200 || !bytes.Equal(raw, testMessage("report 1", "Quarterly numbers 1")) || h.Get("Content-Type") != "message/rfc822" {
		t.Fatalf("raw: %d %q %q", status, raw, h.Get("Content-Type"))
	}
	// Flags: clear seen, set answered, drop the keyword, add another.
	e.must(200, "user", "PATCH", u+"/folders/Projects%2F2026/messages/2",
		MessagePatch{Flags: map[string]bool{"seen": false, "answered": true}, Keywords: map[string]bool{"$Work": false, "$Done": true}}, &m)
	if !slices.Equal(m.Flags, []string{"answered", "flagged"}) || !slices.Equal(m.Keywords, []string{"$Done"}) {
		t.Fatalf("patched message %+v", m)
	}
	// Move, then find it by its text.
	var moved Imported
	e.must(200, "user", "POST", u+"/folders/Projects%2F2026/messages/2/move", Move{Folder: "Work"}, &moved)
	if moved.Folder != "Work" || moved.UID != 1 {
		t.Fatalf("moved %+v", moved)
	}
	e.must(404, "user", "GET", u+"/folders/Projects%2F2026/messages/2", nil, nil)
	var found SearchResult
	e.must(200, "user", "GET", u+"/search?q=QUARTERLY+numbers+1", nil, &found)
	if len(found.Messages) != 1 || found.Messages[0].Folder != "Work" || found.Messages[0].UID != 1 {
		t.Fatalf("search: %+v", found)
	}
	found = SearchResult{}
	e.must(200, "user", "GET", u+"/search?q=quarterly&limit=1", nil, &found)
	if len(found.Messages) != 1 || !found.Truncated {
		t.Fatalf("limited search: %+v", found)
	}
	found = SearchResult{}
	e.must(200, "user", "GET", u+"/search?q=quarterly&folder=Work", nil, &found)
	if len(found.Messages) != 1 {
		t.Fatalf("search in Work: %+v", found)
	}
	// Delete a message; rename and delete folders.
	e.must(204, "user", "DELETE", u+"/folders/Projects%2F2026/messages/1", nil, nil)
	e.must(404, "user", "DELETE", u+"/folders/Projects%2F2026/messages/1", nil, nil)
	e.must(200, "user", "PATCH", u+"/folders/Projects", FolderPatch{Name: ptr("Archive/Projects")}, &f)
	if f.Name != "Archive/Projects" {
		t.Fatalf("renamed %+v", f)
	}
	e.must(200, "user", "GET", u+"/folders/Archive%2FProjects%2F2026", nil, &f)
	if f.Messages != 1 {
		t.Fatalf("renamed subfolder %+v", f)
	}
	status, b := e.json("user", "DELETE", u+"/folders/Archive%2FProjects", nil)
	if status != 409 || errorCode(b) != CodeHasChildren {
		t.Fatalf("deleting a folder with subfolders: %d %s", status, b)
	}
	e.must(204, "user", "DELETE", u+"/folders/Archive%2FProjects%2F2026", nil, nil)
	status, b = e.json("user", "DELETE", u+"/folders/INBOX", nil)
	if status != 400 || errorCode(b) != CodeInvalid {
		t.Fatalf("deleting INBOX: %d %s", status, b)
	}
	e.must(200, "user", "PATCH", u+"/folders/Work", FolderPatch{Subscribed: ptr(false)}, &f)
	if f.Subscribed {
		t.Fatalf("unsubscribe: %+v", f)
	}
}

// TestImportLimits: imports obey the account's quota, like delivery and
// APPEND.
func TestImportLimits(t *testing.T) {
	e := newWorld(t, envOptions{})
	e.must(200, "global", "PATCH", "/api/v1/users/ua@a.test", `{"quota":1000}`, nil)
	before := e.counts()
	status, b, _ := e.call("user", "POST", "/api/v1/users/ua@a.test/folders/INBOX/messages", "message/rfc822",
		testMessage("too much", string(bytes.Repeat([]byte("x"), 2000))))
	if status != http.StatusInsufficientStorage || errorCode(b) != CodeOverQuota {
		t.Fatalf("import over quota: %d %s", status, b)
	}
	if after := e.counts(); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Fatalf("refused import left %+v -> %+v", before, after)
	}
}

func ptr[T any](v T) *T { return &v }

func mustUnmarshal(t *testing.T, b []byte, v any) {
	t.Helper()
	if err := jsonUnmarshal(b, v); err != nil {
		t.Fatalf("%v in %s", err, b)
	}
}

var jsonUnmarshal = json.Unmarshal
