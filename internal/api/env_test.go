package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/petrelmail/petrel/internal/blob"
	"github.com/petrelmail/petrel/internal/delivery"
	"github.com/petrelmail/petrel/internal/directory"
	"github.com/petrelmail/petrel/internal/fts"
	"github.com/petrelmail/petrel/internal/replication"
	"github.com/petrelmail/petrel/internal/store"
	"github.com/petrelmail/petrel/internal/throttle"
)

// env is an API on a fresh data folder, served over a loopback socket.
type env struct {
	t       testing.TB
	dataDir string
	dir     *directory.Directory
	st      *store.Store
	api     *API
	srv     *httptest.Server
	keys    map[string]string // principal name: key
	keyIDs  map[string]int64

	closeOnce sync.Once
}

// envOptions change what newEnv makes.
type envOptions struct {
	throttle *throttle.Throttle
	maxSize  int64
	repl     Replication
}

func newEnv(t testing.TB, opts envOptions) *env {
	t.Helper()
	return openEnv(t, opts, scratchDir(t))
}

// openEnv opens an env on a data folder (new or not).
func openEnv(t testing.TB, opts envOptions, dataDir string) *env {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, dataDir, store.Options{Shards: 2})
	if err != nil {
		t.Fatal(err)
	}
	dir, err := directory.Open(ctx, filepath.Join(dataDir, "directory.db"), 2)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	if os.Getenv("PETREL_TEST_LOG") != "" {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	if opts.maxSize == 0 {
		opts.maxSize = 1 << 20
	}
	p := delivery.New(dir, st, delivery.Config{MaxMessageSize: opts.maxSize, DataDir: dataDir}, log)
	a := New(Options{Directory: dir, Store: st, Pipeline: p, Throttle: opts.throttle, Replication: opts.repl, Log: log})
	e := &env{t: t, dataDir: dataDir, dir: dir, st: st, api: a, srv: httptest.NewServer(a),
		keys: map[string]string{}, keyIDs: map[string]int64{}}
	t.Cleanup(e.close)
	return e
}

// close stops the server and closes the data folder (once).
func (e *env) close() {
	e.closeOnce.Do(func() {
		e.srv.Close()
		e.st.Close()
		e.dir.Close()
	})
}

// call makes a request with the named principal's key ("" for none) and
// returns the status and body.
func (e *env) call(who, method, path, contentType string, body []byte) (int, []byte, http.Header) {
	e.t.Helper()
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, e.srv.URL+path, r)
	if err != nil {
		e.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if key := e.keys[who]; key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	} else if who != "" && who != "none" {
		e.t.Fatalf("no key for %q", who)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b, resp.Header
}

// json calls with a JSON body (v marshalled; a string is sent as is).
func (e *env) json(who, method, path string, v any) (int, []byte) {
	e.t.Helper()
	var body []byte
	switch x := v.(type) {
	case nil:
	case string:
		body = []byte(x)
	default:
		var err error
		if body, err = json.Marshal(v); err != nil {
			e.t.Fatal(err)
		}
	}
	ct := ""
	if body != nil {
		ct = "application/json"
	}
	status, b, _ := e.call(who, method, path, ct, body)
	return status, b
}

// must calls and fails the test unless the status is want; it decodes
// the answer into out (if not nil).
func (e *env) must(want int, who, method, path string, in, out any) {
	e.t.Helper()
	status, b := e.json(who, method, path, in)
	if status != want {
		e.t.Fatalf("%s %s as %s: %d %s, want %d", method, path, who, status, b, want)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			e.t.Fatalf("%s %s: %v in %s", method, path, err, b)
		}
	}
}

// errorCode extracts the error code of an error answer.
func errorCode(b []byte) string {
	var e struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	json.Unmarshal(b, &e)
	return e.Error.Code
}

func testMessage(subject, body string) []byte {
	return []byte("From: Sender <sender@example.org>\r\nTo: someone@example.org\r\nSubject: " + subject +
		"\r\nDate: Mon, 2 Feb 2026 10:00:00 +0000\r\nMessage-ID: <" + strings.ReplaceAll(subject, " ", ".") + "@example.org>\r\n\r\n" + body + "\r\n")
}

// template is a data folder with the world in it, made once and copied
// for every test that needs a fresh one (opening a copy takes
// milliseconds; making the world, a hundred).
var template struct {
	once   sync.Once
	dir    string
	keys   map[string]string
	keyIDs map[string]int64
	err    error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if template.dir != "" {
		os.RemoveAll(template.dir)
	}
	os.Exit(code)
}

// newWorld returns an env holding the world (see world), on a copy of the
// template.
func newWorld(t testing.TB, opts envOptions) *env {
	t.Helper()
	template.once.Do(func() {
		dir, err := os.MkdirTemp(scratchRoot(), "petrel-api-world-")
		if err != nil {
			template.err = err
			return
		}
		template.dir = dir
		template.err = errors.New("making the template world failed (see the first test that failed)")
		e := openEnv(t, envOptions{}, dir)
		e.world()
		e.close()
		template.keys, template.keyIDs, template.err = e.keys, e.keyIDs, nil
	})
	if template.err != nil {
		t.Fatal(template.err)
	}
	dst := scratchDir(t)
	err := filepath.WalkDir(template.dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(template.dir, path)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o750)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o640)
	})
	if err != nil {
		t.Fatal(err)
	}
	e := openEnv(t, opts, dst)
	maps.Copy(e.keys, template.keys)
	maps.Copy(e.keyIDs, template.keyIDs)
	return e
}

// scratchRoot is where the worlds' copies go: a memory file system when
// there is one. The tests that use them check who may do what, not
// durability, and a thousand fsyncs on a slow disk would take most of
// their time.
func scratchRoot() string {
	if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
		if f, err := os.CreateTemp("/dev/shm", "petrel-probe-"); err == nil {
			f.Close()
			os.Remove(f.Name())
			return "/dev/shm"
		}
	}
	return os.TempDir()
}

// scratchDir is a temporary folder under scratchRoot, removed at the end
// of the test.
func scratchDir(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp(scratchRoot(), "petrel-api-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// world fills the env with what the authorization test walks:
//   - domains a.test (alias al.test), b.test, and the empty ea.test and
//     eb.test;
//   - da@a.test, domain admin of a.test and ea.test;
//   - ua@a.test and ub@b.test, users with a message in INBOX (UID 1) and
//     a folder Work, an extra address each (ua2@a.test, ub2@b.test) and
//     a key each;
//   - sa@a.test and sb@b.test, shared mailboxes granting write to ua and
//     ub;
//   - keys: "global" (a global-admin key), "dadmin", "user" (ua's),
//     "revoked" (ua's, revoked).
func (e *env) world() {
	t := e.t
	t.Helper()
	ctx := context.Background()
	d := e.dir
	for _, dom := range []directory.Domain{{Name: "a.test", Aliases: []string{"al.test"}}, {Name: "b.test", Aliases: []string{"bl.test"}},
		{Name: "ea.test"}, {Name: "eb.test"}} {
		if _, err := d.AddDomain(ctx, dom); err != nil {
			t.Fatal(err)
		}
	}
	for _, nu := range []directory.NewUser{{Address: "da@a.test", Role: directory.RoleDomainAdmin}, {Address: "ua@a.test"}, {Address: "ub@b.test"},
		{Address: "sa@a.test", Type: directory.TypeShared}, {Address: "sb@b.test", Type: directory.TypeShared}} {
		u, err := d.AddUser(ctx, nu)
		if err != nil {
			t.Fatal(err)
		}
		mb, _ := e.st.Mailbox(u.Shard, u.ID)
		if err := mb.Create(ctx, store.DefaultFolders(u.Language)); err != nil {
			t.Fatal(err)
		}
		if _, err := mb.CreateFolder(ctx, store.FolderSpec{Name: "Work"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.SetRole(ctx, "da@a.test", directory.RoleDomainAdmin, []string{"a.test", "ea.test"}); err != nil {
		t.Fatal(err)
	}
	for _, x := range [][2]string{{"ua@a.test", "ua2@a.test"}, {"ub@b.test", "ub2@b.test"}} {
		if err := d.AddAddress(ctx, x[0], x[1]); err != nil {
			t.Fatal(err)
		}
	}
	for _, x := range [][2]string{{"sa@a.test", "ua@a.test"}, {"sb@b.test", "ub@b.test"}} {
		if err := d.SetGrant(ctx, x[0], x[1], directory.RightsWrite); err != nil {
			t.Fatal(err)
		}
	}
	for _, addr := range []string{"ua@a.test", "ub@b.test", "sa@a.test", "sb@b.test"} {
		rcpt, err := e.api.pipeline.Resolve(ctx, addr)
		if err != nil {
			t.Fatal(err)
		}
		if st := e.api.pipeline.Deliver(ctx, []delivery.Recipient{rcpt}, bytes.NewReader(testMessage("hello "+addr, "Hello there"))); st[0] != nil {
			t.Fatal(st[0])
		}
	}
	mk := func(name, addr string) {
		k, secret, err := d.CreateKey(ctx, addr, name, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		e.keys[name], e.keyIDs[name] = secret, k.ID
	}
	mk("dadmin", "da@a.test")
	mk("user", "ua@a.test")
	mk("userb", "ub@b.test")
	mk("revoked", "ua@a.test")
	if err := d.RevokeKey(ctx, e.keyIDs["revoked"]); err != nil {
		t.Fatal(err)
	}
	k, secret, err := d.CreateGlobalKey(ctx, "test", time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	e.keys["global"], e.keyIDs["global"] = secret, k.ID
}

// fakeReplication answers the replication endpoints without replicators.
type fakeReplication struct{}

func (fakeReplication) Status(ctx context.Context) ([]replication.ShardStatus, error) {
	return []replication.ShardStatus{{Shard: 0, State: replication.StateActive}, {Shard: 1, State: replication.StateActive}}, nil
}
func (fakeReplication) ShardProgress(ctx context.Context, shard int) (replication.Progress, error) {
	return replication.Progress{Shard: shard}, nil
}
func (fakeReplication) MailboxProgress(ctx context.Context, ref replication.MailboxRef) (replication.Progress, error) {
	return replication.Progress{Scope: ref.Label, Shard: ref.Shard}, nil
}
func (fakeReplication) Run(ctx context.Context, shard int, kind string, mailboxes []int64) (replication.Result, error) {
	return replication.Result{Checked: len(mailboxes)}, nil
}
func (fakeReplication) Candidates(ctx context.Context, shard int, cond fts.Cond) (replication.Candidates, bool, error) {
	return replication.Candidates{}, false, nil
}
func (fakeReplication) Docs(ctx context.Context, shard int, want map[int64][32]byte, fn func(int64, fts.Doc) bool) error {
	return nil
}

// counts is what a data folder holds: message records per shard, change
// log heads, and body files.
type counts struct {
	messages []int64
	heads    []int64
	blobs    int
}

func (e *env) counts() counts {
	e.t.Helper()
	c := e.shardCounts()
	err := e.st.Blobs().Walk(func(blob.Hash, int64, time.Time) error { c.blobs++; return nil })
	if err != nil {
		e.t.Fatal(err)
	}
	tmp, _ := os.ReadDir(filepath.Join(e.dataDir, "blobs", "tmp"))
	c.blobs += len(tmp)
	return c
}

// shardCounts is counts without the body files (which take a walk of
// the blob store).
func (e *env) shardCounts() counts {
	e.t.Helper()
	ctx := context.Background()
	var c counts
	for _, sh := range e.st.Shards() {
		m, _, err := sh.Counts(ctx)
		if err != nil {
			e.t.Fatal(err)
		}
		h, err := sh.Head(ctx)
		if err != nil {
			e.t.Fatal(err)
		}
		c.messages = append(c.messages, m)
		c.heads = append(c.heads, h)
	}
	return c
}
