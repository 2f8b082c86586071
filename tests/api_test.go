package tests

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// apiCall makes one HTTP API request with a key and decodes the JSON
// answer into out (if not nil); it returns the status and the raw answer.
func apiCall(t *testing.T, base, key, method, path, contentType string, body []byte, out any) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+base+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %v in %s", method, path, err, b)
		}
	}
	return resp.StatusCode, b
}

// mustAPI is apiCall with a JSON body, failing the test unless the status
// is want.
func mustAPI(t *testing.T, base, key string, want int, method, path, body string, out any) {
	t.Helper()
	ct := ""
	if body != "" {
		ct = "application/json"
	}
	status, b := apiCall(t, base, key, method, path, ct, []byte(body), out)
	if status != want {
		t.Fatalf("%s %s: %d %s, want %d", method, path, status, b, want)
	}
}

// keyFrom takes the key out of `petrel key create`'s output.
func keyFrom(t *testing.T, out string) string {
	t.Helper()
	for _, f := range strings.Fields(out) {
		if strings.HasPrefix(f, "ptk_") {
			return f
		}
	}
	t.Fatalf("no key in %q", out)
	return ""
}

// TestAPIEndToEnd: with the built binary running, make a global-admin key
// on the server's command line, create a domain and a user through the
// API, make a key for the user, log in to IMAP with that key, import an
// .eml through the API and see it over IMAP at once.
func TestAPIEndToEnd(t *testing.T) {
	dataDir := t.TempDir()
	srv := NewServer(t, dataDir)
	srv.HTTPAddr = freeAddr(t)
	srv.MustStart()
	base := srv.HTTPAddr
	if err := waitPort(base, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	// The command line reaches the running server through its socket.
	admin := keyFrom(t, mustPetrel(t, nil, "key", "create", "--global-admin", "--name", "e2e", "--data", dataDir))

	mustAPI(t, base, admin, 201, "POST", "/api/v1/domains", `{"name":"example.net","aliases":["example.org"]}`, nil)
	var user struct{ Address, Type string }
	mustAPI(t, base, admin, 201, "POST", "/api/v1/domains/example.net/users", `{"address":"dora","password":"a long password"}`, &user)
	if user.Address != "dora@example.net" || user.Type != "user" {
		t.Fatalf("created %+v", user)
	}
	var key struct {
		ID  int64
		Key string
	}
	mustAPI(t, base, admin, 201, "POST", "/api/v1/users/dora@example.net/keys", `{"name":"migration"}`, &key)

	// The key is dora's IMAP password.
	c, err := imapclient.DialInsecure(srv.IMAPAddr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login("dora@example.net", key.Key).Wait(); err != nil {
		t.Fatalf("IMAP login with the API key: %v", err)
	}
	sel, err := c.Select("INBOX", nil).Wait()
	if err != nil || sel.NumMessages != 0 {
		t.Fatalf("select INBOX: %+v %v", sel, err)
	}

	// Import as dora herself, with her key.
	eml := []byte("From: Old Server <archive@example.com>\r\nTo: dora@example.net\r\nSubject: Migrated\r\n" +
		"Date: Tue, 3 Mar 2026 09:00:00 +0000\r\nMessage-ID: <migrated.1@example.com>\r\n\r\nFrom the old server.\r\n")
	var imported struct {
		UID         uint32
		UIDValidity uint32
	}
	status, b := apiCall(t, base, key.Key, "POST", "/api/v1/users/dora@example.net/folders/INBOX/messages?flags=seen",
		"message/rfc822", eml, &imported)
	if status != 201 || imported.UID != 1 {
		t.Fatalf("import: %d %s", status, b)
	}
	// At once: the selected session's next command reports it.
	if err := c.Noop().Wait(); err != nil {
		t.Fatal(err)
	}
	if n := c.Mailbox().NumMessages; n != 1 {
		t.Fatalf("after the import, the IMAP session sees %d messages", n)
	}
	msgs, err := c.Fetch(imap.UIDSetNum(imap.UID(imported.UID)),
		&imap.FetchOptions{UID: true, Flags: true, BodySection: []*imap.FetchItemBodySection{{Peek: true}}}).Collect()
	if err != nil || len(msgs) != 1 {
		t.Fatalf("fetch the imported message: %v (%d)", err, len(msgs))
	}
	var raw []byte
	for _, v := range msgs[0].BodySection {
		raw = v.Bytes
	}
	if !bytes.Equal(raw, eml) {
		t.Fatalf("imported message over IMAP:\n%q\nwant\n%q", raw, eml)
	}
	if len(msgs[0].Flags) != 1 || msgs[0].Flags[0] != imap.FlagSeen {
		t.Fatalf("flags %v", msgs[0].Flags)
	}
	// The command line, through the server, sees it too.
	if out := mustPetrel(t, nil, "messages", "dora@example.net", "--data", dataDir); !strings.Contains(out, "Migrated") ||
		!strings.Contains(out, `\Seen`) {
		t.Fatalf("petrel messages:\n%s", out)
	}
	// And gives the API's errors.
	if _, err := runPetrel(nil, "domain", "add", "example.org", "--data", dataDir); err == nil ||
		!strings.Contains(err.Error(), "petrel: domain example.org: already exists") {
		t.Fatalf("adding an alias as a domain through the server: %v", err)
	}
	// Revoked, the key is no password any more.
	mustPetrel(t, nil, "key", "revoke", fmt.Sprint(key.ID), "--data", dataDir)
	c2, err := imapclient.DialInsecure(srv.IMAPAddr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if err := c2.Login("dora@example.net", key.Key).Wait(); err == nil {
		t.Fatal("IMAP login with a revoked key succeeded")
	}
	status, _ = apiCall(t, base, key.Key, "GET", "/api/v1/me", "", nil, nil)
	if status != 401 {
		t.Fatalf("API with a revoked key: %d", status)
	}
}

// dialIMAPFrom connects to an IMAP server from a given loopback address.
func dialIMAPFrom(t *testing.T, local, addr string) *imapclient.Client {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}, Timeout: 5 * time.Second}
	conn, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c := imapclient.New(conn, nil)
	t.Cleanup(func() { c.Close() })
	return c
}

// imapCode returns the response code of a failed IMAP command.
func imapCode(err error) imap.ResponseCode {
	var ie *imap.Error
	if errors.As(err, &ie) {
		return ie.Code
	}
	return ""
}

// TestLoginThrottle: a thousand wrong passwords from one address are
// throttled (NO [UNAVAILABLE], counted in the metrics), while the same
// user logging in from another address is not affected.
func TestLoginThrottle(t *testing.T) {
	dataDir := t.TempDir()
	mustPetrel(t, nil, "domain", "add", "example.com", "--data", dataDir)
	mustPetrel(t, nil, "user", "add", "erin@example.com", "--password", "right password", "--data", dataDir)
	srv := NewServer(t, dataDir)
	srv.HTTPAddr = freeAddr(t)
	srv.MustStart()
	if err := waitPort(srv.IMAPAddr, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	// 1000 wrong passwords from 127.0.0.1, over 25 connections at once.
	const conns, each = 25, 40
	var mu sync.Mutex
	results := map[string]int{}
	var wg sync.WaitGroup
	for range conns {
		c := dialIMAPFrom(t, "127.0.0.1", srv.IMAPAddr)
		wg.Go(func() {
			for i := range each {
				err := c.Login("erin@example.com", fmt.Sprintf("guess %d", i)).Wait()
				res := string(imapCode(err))
				if err == nil {
					res = "OK"
				}
				mu.Lock()
				results[res]++
				mu.Unlock()
			}
		})
	}
	start := time.Now()
	wg.Wait()
	t.Logf("1000 wrong passwords: %v in %v", results, time.Since(start))
	if results["OK"] != 0 || results[string(imap.ResponseCodeAuthenticationFailed)] > 10 ||
		results[string(imap.ResponseCodeUnavailable)] < 990 {
		t.Fatalf("1000 wrong passwords from one address: %v; want at most 10 checked, the rest NO [UNAVAILABLE]", results)
	}
	// The right password from another address gets in.
	if err := dialIMAPFrom(t, "127.0.0.2", srv.IMAPAddr).Login("erin@example.com", "right password").Wait(); err != nil {
		t.Fatalf("login from another address: %v", err)
	}
	// From the guessing address, even the right password is refused for now.
	err := dialIMAPFrom(t, "127.0.0.1", srv.IMAPAddr).Login("erin@example.com", "right password").Wait()
	if imapCode(err) != imap.ResponseCodeUnavailable || !strings.Contains(err.Error(), "try again in") {
		t.Fatalf("right password from the throttled address: %v", err)
	}
	// Counted in the metrics.
	resp, err := http.Get("http://" + srv.HTTPAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`petrel_auth_throttled_total{protocol="imap",scope="address"}`, `petrel_auth_lockouts_total{scope="address"} 1`,
		`petrel_auth_failures_total{protocol="imap"}`} {
		if !bytes.Contains(metrics, []byte(want)) {
			t.Errorf("/metrics lacks %s:\n%s", want, grepLines(metrics, "petrel_auth_"))
		}
	}
}

// grepLines returns the lines of b that contain s.
func grepLines(b []byte, s string) string {
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.Contains(l, s) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
