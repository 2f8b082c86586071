package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/petrelmail/petrel/internal/throttle"
	"github.com/prometheus/client_golang/prometheus"
)

// TestBadInputChangesNothing sends malformed JSON, wrong content types,
// oversized bodies and path tricks: each gets a 4xx JSON error with a
// stable code and no internals, and nothing changes.
func TestBadInputChangesNothing(t *testing.T) {
	e := newWorld(t, envOptions{})
	big := `{"name":"` + strings.Repeat("x", maxJSONBody) + `"}`
	bigMessage := append(testMessage("big", ""), bytes.Repeat([]byte("0123456789abcdef\r\n"), (2<<20)/18)...)
	for _, c := range []struct {
		who, method, path, ctype, body string
		status                         int
		code                           string
	}{
		{"global", "POST", "/api/v1/domains", "application/json", `{"name":`, 400, CodeInvalidJSON},
		{"global", "POST", "/api/v1/domains", "application/json", `[]`, 400, CodeInvalidJSON},
		{"global", "POST", "/api/v1/domains", "application/json", ``, 400, CodeInvalidJSON},
		{"global", "POST", "/api/v1/domains", "application/json", `{"name":"x.test","bogus":1}`, 400, CodeInvalidJSON},
		{"global", "POST", "/api/v1/domains", "application/json", `{"name":"x.test"}{"name":"y.test"}`, 400, CodeInvalidJSON},
		{"global", "POST", "/api/v1/domains", "application/json", `{"name":42}`, 400, CodeInvalidJSON},
		{"global", "POST", "/api/v1/domains", "text/plain", `{"name":"x.test"}`, 415, CodeMediaType},
		{"global", "POST", "/api/v1/domains", "", `{"name":"x.test"}`, 415, CodeMediaType},
		{"global", "POST", "/api/v1/domains", "application/json", big, 413, CodeTooLarge},
		{"global", "POST", "/api/v1/domains", "application/json", `{"name":"bad..name"}`, 400, CodeInvalid},
		{"global", "POST", "/api/v1/domains", "application/json", `{"name":"x.test","default_language":"xx"}`, 400, CodeInvalid},
		{"global", "POST", "/api/v1/domains/a.test/users", "application/json", `{"address":"x@b.test"}`, 400, CodeInvalid},
		{"global", "POST", "/api/v1/domains/a.test/users", "application/json", `{"address":"x","password":"ptk_1_x"}`, 400, CodeInvalid},
		{"global", "PATCH", "/api/v1/users/ua@a.test", "application/json", `{"quota":-1}`, 400, CodeInvalid},
		{"global", "PATCH", "/api/v1/users/ua@a.test", "application/json", `{"password":""}`, 400, CodeInvalid},
		{"global", "PATCH", "/api/v1/users/ua@a.test", "application/json", `{"role":"emperor"}`, 400, CodeInvalid},
		{"global", "PATCH", "/api/v1/users/ua@a.test/folders/INBOX/messages/1", "application/json", `{"flags":{"recent":true}}`, 400, CodeInvalid},
		{"global", "PATCH", "/api/v1/users/ua@a.test/folders/INBOX/messages/1", "application/json", `{"keywords":{"two words":true}}`, 400, CodeInvalid},
		{"global", "POST", "/api/v1/users/ua@a.test/folders", "application/json", `{"name":"a//b"}`, 400, CodeInvalid},
		{"global", "POST", "/api/v1/users/ua@a.test/folders", "application/json", `{"name":"x","special_use":"secret"}`, 400, CodeInvalid},
		{"global", "GET", "/api/v1/users/ua@a.test/folders/INBOX/messages?limit=0", "", ``, 400, CodeInvalid},
		{"global", "GET", "/api/v1/users/ua@a.test/folders/INBOX/messages?limit=abc", "", ``, 400, CodeInvalid},
		{"global", "GET", "/api/v1/users/ua@a.test/folders/INBOX/messages/0", "", ``, 400, CodeInvalid},
		{"global", "GET", "/api/v1/users/ua@a.test/folders/INBOX/messages/99999999999", "", ``, 400, CodeInvalid},
		{"global", "GET", "/api/v1/users/ua@a.test/search", "", ``, 400, CodeInvalid},
		{"global", "GET", "/api/v1/keys/abc", "", ``, 400, CodeInvalid},
		{"global", "POST", "/api/v1/users/ua@a.test/keys", "application/json", `{"expires":"2001-01-01T00:00:00Z"}`, 400, CodeInvalid},
		// Imports.
		{"global", "POST", "/api/v1/users/ua@a.test/folders/INBOX/messages", "application/json", `{"raw":"x"}`, 415, CodeMediaType},
		{"global", "POST", "/api/v1/users/ua@a.test/folders/INBOX/messages", "text/plain", string(testMessage("x", "y")), 415, CodeMediaType},
		{"global", "POST", "/api/v1/users/ua@a.test/folders/INBOX/messages", "message/rfc822", ``, 400, CodeInvalid},
		{"global", "POST", "/api/v1/users/ua@a.test/folders/INBOX/messages", "message/rfc822", string(bigMessage), 413, CodeTooLarge},
		{"global", "POST", "/api/v1/users/ua@a.test/folders/INBOX/messages?flags=recent", "message/rfc822", string(testMessage("x", "y")), 400, CodeInvalid},
		{"global", "POST", "/api/v1/users/ua@a.test/folders/INBOX/messages?folder=Work", "message/rfc822", string(testMessage("x", "y")), 400, CodeInvalid},
		// Path tricks.
		{"user", "GET", "/api/v1/users/ua@a.test/../ub@b.test/folders", "", ``, 400, CodeBadPath},
		{"user", "GET", "/api/v1/users/ua@a.test/folders/..%2F..%2Fub@b.test", "", ``, 400, CodeBadPath},
		{"user", "GET", "/api/v1/users/ua@a.test%2F..%2Fub@b.test/folders", "", ``, 400, CodeBadPath},
		{"user", "GET", "/api/v1/users/ub@b.test%2Ffolders", "", ``, 400, CodeBadPath},
		{"user", "GET", "/api/v1/users/ua@a.test/folders/%2e%2e", "", ``, 400, CodeBadPath},
		{"user", "GET", "/api/v1/users/ua@a.test/folders/INBOX%00", "", ``, 400, CodeBadPath},
		{"user", "GET", "/api/v1/users/ua@a.test/folders/IN%5CBOX", "", ``, 400, CodeBadPath},
		{"global", "GET", "/api/v1//domains", "", ``, 400, CodeBadPath},
		{"global", "GET", "/api/v1/domains/", "", ``, 400, CodeBadPath},
		{"global", "DELETE", "/api/v1/domains/a.test%2F..", "", ``, 400, CodeBadPath},
		// Other users' addresses, however spelt.
		{"user", "GET", "/api/v1/users/ub@b.test/folders", "", ``, 403, CodeForbidden},
		{"user", "GET", "/api/v1/users/UB@B.TEST/folders", "", ``, 403, CodeForbidden},
		{"user", "GET", "/api/v1/users/ub@bl.test/folders", "", ``, 403, CodeForbidden},
		{"user", "GET", "/api/v1/users/ub2@b.test/folders", "", ``, 403, CodeForbidden},
		{"user", "GET", "/api/v1/users/nobody@b.test/folders", "", ``, 403, CodeForbidden},
		{"user", "POST", "/api/v1/users/ub@b.test/folders/INBOX/messages", "message/rfc822", string(testMessage("x", "y")), 403, CodeForbidden},
		{"dadmin", "POST", "/api/v1/users/ub@b.test/folders/INBOX/messages", "message/rfc822", string(testMessage("x", "y")), 403, CodeForbidden},
		{"user", "GET", "/api/v1/users/ua2@a.test/folders", "", ``, 404, CodeNotFound},
		{"user", "GET", "/api/v1/users/not-an-address/folders", "", ``, 400, CodeInvalid},
		// Unknown routes and methods.
		{"global", "GET", "/api/v1/nothing", "", ``, 404, CodeNotFound},
		{"global", "DELETE", "/api/v1/me", "", ``, 405, CodeMethodNotAllowed},
		{"none", "GET", "/api/v1/domains", "", ``, 401, CodeUnauthenticated},
	} {
		name := fmt.Sprintf("%s %s as %s", c.method, c.path, c.who)
		before := e.snapshot()
		beforeCounts := e.counts()
		status, b, h := e.call(c.who, c.method, c.path, c.ctype, []byte(c.body))
		if status != c.status || errorCode(b) != c.code {
			t.Errorf("%s: %d %.200s, want %d %s", name, status, b, c.status, c.code)
			continue
		}
		if ct := h.Get("Content-Type"); ct != "application/json" {
			t.Errorf("%s: error answered as %q", name, ct)
		}
		for _, leak := range []string{"goroutine", e.dataDir, ".go:", "sql", "runtime"} {
			if bytes.Contains(b, []byte(leak)) {
				t.Errorf("%s: the error shows %q: %s", name, leak, b)
			}
		}
		if after := e.snapshot(); after != before {
			t.Errorf("%s: refused, but the directory or a shard changed", name)
		}
		if after := e.counts(); !reflect.DeepEqual(after, beforeCounts) {
			t.Errorf("%s: refused, but the data folder changed: %+v -> %+v", name, beforeCounts, after)
		}
	}
	// 405 says what is allowed.
	_, _, h := e.call("global", "DELETE", "/api/v1/me", "", nil)
	if h.Get("Allow") != "GET" {
		t.Errorf("405 Allow: %q", h.Get("Allow"))
	}
}

// TestImportIntoUnknownTargets: an import into an unknown domain, account
// or folder is a clear 404, and nothing is written to any shard or to the
// blob store.
func TestImportIntoUnknownTargets(t *testing.T) {
	e := newWorld(t, envOptions{})
	msg := testMessage("nowhere", strings.Repeat("A body that must not be stored. ", 100))
	for _, c := range []struct{ who, path, want string }{
		{"global", "/api/v1/users/someone@nodomain.test/folders/INBOX/messages", "domain nodomain.test: not found"},
		{"global", "/api/v1/users/nobody@a.test/folders/INBOX/messages", "account nobody@a.test: not found"},
		{"dadmin", "/api/v1/users/nobody@a.test/folders/INBOX/messages", "account nobody@a.test: not found"},
		{"global", "/api/v1/users/ua@a.test/folders/Nope/messages", `folder "Nope": not found`},
		{"user", "/api/v1/users/ua@a.test/folders/Work%2FNope/messages", `folder "Work/Nope": not found`},
	} {
		before := e.counts()
		status, b, _ := e.call(c.who, "POST", c.path, "message/rfc822", msg)
		var body struct{ Error *Error }
		json.Unmarshal(b, &body)
		if status != 404 || body.Error == nil || body.Error.Code != CodeNotFound || body.Error.Message != c.want {
			t.Errorf("import to %s as %s: %d %s, want 404 %q", c.path, c.who, status, b, c.want)
		}
		if after := e.counts(); !reflect.DeepEqual(after, before) {
			t.Errorf("import to %s: refused, but written: %+v -> %+v", c.path, before, after)
		}
	}
	// The same message into a folder that exists is stored: the counts
	// above would have seen it.
	before := e.counts()
	status, b, _ := e.call("user", "POST", "/api/v1/users/ua@a.test/folders/Work/messages", "message/rfc822", msg)
	if status != 201 {
		t.Fatalf("import: %d %s", status, b)
	}
	after := e.counts()
	if after.blobs != before.blobs+1 || sum(after.messages) != sum(before.messages)+1 {
		t.Fatalf("import stored %+v -> %+v", before, after)
	}
}

func sum(v []int64) int64 {
	var n int64
	for _, x := range v {
		n += x
	}
	return n
}

// clientFrom is an HTTP client whose connections come from a loopback
// address of its own (127.0.0.2, ...): another source for the throttle.
func clientFrom(ip string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	return &http.Client{Transport: &http.Transport{DialContext: d.DialContext}}
}

func bearer(t *testing.T, c *http.Client, url, key string) (int, http.Header) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode, resp.Header
}

// TestThrottleWrongKeys: a thousand wrong keys from one address are
// throttled (429 with Retry-After, counted in the metrics), while the
// account's owner, from another address, is not affected.
func TestThrottleWrongKeys(t *testing.T) {
	th := throttle.New(throttle.Config{AddressFailures: 10, AccountFailures: 30})
	e := newWorld(t, envOptions{throttle: th})
	url := e.srv.URL + "/api/v1/me"
	// Guesses at ua's key: its ID with wrong secrets.
	wrong := fmt.Sprintf("ptk_%d_%s", e.keyIDs["user"], strings.Repeat("a", 32))
	attacker := clientFrom("127.0.0.1")
	throttled := map[string]string{"protocol": "api", "scope": "address"}
	throttledBefore := metricValue(t, "petrel_auth_throttled_total", throttled)
	counts := map[int]int{}
	var retry string
	for range 1000 {
		status, h := bearer(t, attacker, url, wrong)
		counts[status]++
		if status == 429 {
			retry = h.Get("Retry-After")
		}
	}
	if counts[401] != 10 || counts[429] != 990 {
		t.Fatalf("1000 wrong keys from one address: %v, want 10 refused and 990 throttled", counts)
	}
	if retry == "" || retry == "0" {
		t.Fatalf("429 without Retry-After")
	}
	if got := metricValue(t, "petrel_auth_throttled_total", throttled) - throttledBefore; got != 990 {
		t.Errorf("throttled metric grew by %v, want 990", got)
	}
	// The owner, from another address, gets in.
	if status, _ := bearer(t, clientFrom("127.0.0.2"), url, e.keys["user"]); status != 200 {
		t.Fatalf("the key's owner from another address: %d", status)
	}
	// The attacker's address stays throttled, even with the right key.
	if status, _ := bearer(t, attacker, url, e.keys["user"]); status != 429 {
		t.Fatalf("right key from the throttled address: %d", status)
	}
	// And the answer body says so.
	status, b := e.json("user", "GET", "/api/v1/me", nil)
	if status != 429 || errorCode(b) != CodeThrottled {
		t.Fatalf("throttled answer: %d %s", status, b)
	}
}

// metricValue reads a counter of the default registry by name and
// labels (0 when absent).
func metricValue(t *testing.T, name string, labels map[string]string) float64 {
	t.Helper()
	families, err := prometheus.DefaultGatherer.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	next:
		for _, m := range f.GetMetric() {
			have := map[string]string{}
			for _, l := range m.GetLabel() {
				have[l.GetName()] = l.GetValue()
			}
			for k, v := range labels {
				if have[k] != v {
					continue next
				}
			}
			return m.GetCounter().GetValue()
		}
	}
	return 0
}
