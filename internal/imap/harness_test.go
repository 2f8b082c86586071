package imap_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/petrelmail/petrel/internal/delivery"
	"github.com/petrelmail/petrel/internal/directory"
	"github.com/petrelmail/petrel/internal/imap"
	"github.com/petrelmail/petrel/internal/replication"
	"github.com/petrelmail/petrel/internal/store"
)

// testServer is a Petrel IMAP server on a loopback port, with its own data
// folder, for tests that speak IMAP over a real socket.
type testServer struct {
	Addr     string
	Dir      *directory.Directory
	Store    *store.Store
	Pipeline *delivery.Pipeline
	Server   *imap.Server
	DataDir  string
	Repl     *replication.Manager
}

// testPassword is every test user's password.
const testPassword = "correct horse"

// newTestServer starts a server with the domain example.org and the given
// users (local parts), each with testPassword. quota applies to all (0:
// none).
func newTestServer(t testing.TB, quota int64, users ...string) *testServer {
	t.Helper()
	ctx := context.Background()
	dataDir := t.TempDir()
	st, err := store.Open(ctx, dataDir, store.Options{Shards: 2})
	if err != nil {
		t.Fatal(err)
	}
	dir, err := directory.Open(ctx, filepath.Join(dataDir, "directory.db"), 2)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dir.AddDomain(ctx, directory.Domain{Name: "example.org"}); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if os.Getenv("PETREL_TEST_LOG") != "" {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	p := delivery.New(dir, st, delivery.Config{MaxMessageSize: 8 << 20, DataDir: dataDir}, log)
	for _, u := range users {
		nu := directory.NewUser{Address: u + "@example.org", Password: testPassword}
		if quota > 0 {
			nu.Quota = &quota
		}
		usr, err := dir.AddUser(ctx, nu)
		if err != nil {
			t.Fatal(err)
		}
		mb, err := st.Mailbox(usr.Shard, usr.ID)
		if err != nil {
			t.Fatal(err)
		}
		if err := mb.Create(ctx, store.DefaultFolders(usr.Language)); err != nil {
			t.Fatal(err)
		}
	}
	tlsConfig, err := imap.LoadTLS("", "", dataDir, "localhost")
	if err != nil {
		t.Fatal(err)
	}
	// The replicators feed the sessions' notifications and the search
	// index, as in petrel serve.
	var srv *imap.Server
	repl, err := replication.Open(ctx, st, replication.Options{DataDir: dataDir, Log: log,
		Consumers: func(shard int) []replication.Consumer { return []replication.Consumer{srv.Notifier(shard)} }})
	if err != nil {
		t.Fatal(err)
	}
	srv = imap.New(imap.Config{Hostname: "localhost", TLS: tlsConfig, Index: repl}, dir, st, p, log)
	replCtx, stopRepl := context.WithCancel(ctx)
	repl.Start(replCtx)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(l, false)
	ts := &testServer{Addr: l.Addr().String(), Dir: dir, Store: st, Pipeline: p, Server: srv, DataDir: dataDir, Repl: repl}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Stop(ctx)
		stopRepl()
		repl.Close()
		st.Close()
		dir.Close()
	})
	return ts
}

// deliver puts a message into a user's INBOX through the delivery
// pipeline, as LMTP does.
func (ts *testServer) deliver(t testing.TB, user, msg string) {
	t.Helper()
	ctx := context.Background()
	r, err := ts.Pipeline.Resolve(ctx, user+"@example.org")
	if err != nil {
		t.Fatal(err)
	}
	if errs := ts.Pipeline.Deliver(ctx, []delivery.Recipient{r}, strings.NewReader(msg)); errs[0] != nil {
		t.Fatal(errs[0])
	}
}

// dial connects imapclient, without logging in.
func (ts *testServer) dial(t testing.TB, opts *imapclient.Options) *imapclient.Client {
	t.Helper()
	c, err := imapclient.DialInsecure(ts.Addr, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// login connects and logs in as user.
func (ts *testServer) login(t testing.TB, user string, opts *imapclient.Options) *imapclient.Client {
	t.Helper()
	c := ts.dial(t, opts)
	if err := c.Login(user+"@example.org", testPassword).Wait(); err != nil {
		t.Fatalf("login %s: %v", user, err)
	}
	return c
}

// testMessage is a small well-formed message with a subject.
func testMessage(subject string) string {
	return "From: Bob <bob@example.net>\r\nTo: alice@example.org\r\nSubject: " + subject +
		"\r\nDate: Sat, 28 Nov 2026 10:00:00 +0000\r\nMessage-ID: <" + strings.ReplaceAll(subject, " ", ".") +
		"@example.net>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nHello, this is " + subject + ".\r\n"
}

// rawConn is a line-level IMAP connection, for what imapclient cannot
// send (bad syntax, pipelining, exact response checks).
type rawConn struct {
	t    testing.TB
	conn net.Conn
	buf  []byte
}

func (ts *testServer) raw(t testing.TB) *rawConn {
	t.Helper()
	c, err := net.Dial("tcp", ts.Addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	rc := &rawConn{t: t, conn: c}
	if l := rc.line(); !strings.HasPrefix(l, "* OK") {
		t.Fatalf("greeting: %q", l)
	}
	return rc
}

// send writes s followed by CRLF.
func (rc *rawConn) send(s string) {
	rc.t.Helper()
	rc.conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if _, err := rc.conn.Write([]byte(s + "\r\n")); err != nil {
		rc.t.Fatal(err)
	}
}

// line reads one response line without its CRLF.
func (rc *rawConn) line() string {
	rc.t.Helper()
	rc.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		if i := strings.Index(string(rc.buf), "\r\n"); i >= 0 {
			l := string(rc.buf[:i])
			rc.buf = rc.buf[i+2:]
			return l
		}
		var b [4096]byte
		n, err := rc.conn.Read(b[:])
		if n > 0 {
			rc.buf = append(rc.buf, b[:n]...)
			continue
		}
		if err != nil {
			rc.t.Fatalf("read: %v (have %q)", err, rc.buf)
		}
	}
}

// until reads lines up to the tagged response of tag and returns them all,
// the tagged one last.
func (rc *rawConn) until(tag string) []string {
	rc.t.Helper()
	var out []string
	for {
		l := rc.line()
		out = append(out, l)
		if strings.HasPrefix(l, tag+" ") {
			return out
		}
	}
}

// cmd sends "tag command" and returns the responses up to the tagged one.
func (rc *rawConn) cmd(tag, command string) []string {
	rc.t.Helper()
	rc.send(tag + " " + command)
	return rc.until(tag)
}
