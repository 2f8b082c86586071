package imap

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/petrelmail/petrel/internal/delivery"
	"github.com/petrelmail/petrel/internal/directory"
	"github.com/petrelmail/petrel/internal/store"
)

// fuzzServer is one server for a whole fuzzing run, with one user whose
// INBOX holds a few messages.
type fuzzServer struct {
	srv  *Server
	user directory.User
	mb   *store.Mailbox
}

func newFuzzServer(t testing.TB) *fuzzServer {
	ctx := context.Background()
	dataDir := t.TempDir()
	st, err := store.Open(ctx, dataDir, store.Options{Shards: 1})
	if err != nil {
		t.Fatal(err)
	}
	dir, err := directory.Open(ctx, filepath.Join(dataDir, "directory.db"), 1)
	if err != nil {
		t.Fatal(err)
	}
	dir.AddDomain(ctx, directory.Domain{Name: "example.org"})
	quota := int64(1 << 20)
	u, err := dir.AddUser(ctx, directory.NewUser{Address: "fuzz@example.org", Password: "x", Quota: &quota})
	if err != nil {
		t.Fatal(err)
	}
	mb, _ := st.Mailbox(u.Shard, u.ID)
	if err := mb.Create(ctx, store.DefaultFolders("en")); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	p := delivery.New(dir, st, delivery.Config{MaxMessageSize: 1 << 20, DataDir: dataDir}, log)
	for i, msg := range fuzzMessages {
		r, _ := p.Resolve(ctx, u.Address)
		if errs := p.Deliver(ctx, []delivery.Recipient{r}, strings.NewReader(msg)); errs[0] != nil {
			t.Fatalf("message %d: %v", i, errs[0])
		}
	}
	srv := New(Config{Hostname: "fuzz", MaxAppend: 64 << 10, IdleTimeout: time.Minute}, dir, st, p, log)
	t.Cleanup(func() {
		srv.Stop(context.Background())
		st.Close()
		dir.Close()
	})
	return &fuzzServer{srv: srv, user: u, mb: mb}
}

var fuzzMessages = []string{
	"From: a@example.org\r\nTo: fuzz@example.org\r\nSubject: one\r\nMessage-ID: <1@x>\r\n\r\nfirst\r\n",
	"From: b@example.org\r\nSubject: Re: one\r\nIn-Reply-To: <1@x>\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nhi\r\n--b\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\nAAECAw==\r\n--b--\r\n",
	"Subject: =?utf-8?q?caf=C3=A9?=\r\n\r\nno from\r\n",
}

// session runs one authenticated session on a loopback connection with
// input as everything the client sends, and returns what the server said.
// The password check is skipped: the session starts authenticated, so the
// fuzzer spends its time on the commands that follow login.
func (fs *fuzzServer) session(t *testing.T, input []byte) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	client, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	server, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	s := newSession(fs.srv, server, false)
	s.user, s.mb, s.state = fs.user, fs.mb, authenticated
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.serve()
	}()
	go func() {
		client.Write(input)
		client.(*net.TCPConn).CloseWrite()
	}()
	client.SetReadDeadline(time.Now().Add(20 * time.Second))
	out, _ := io.ReadAll(bufio.NewReader(client))
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatalf("session still running 20 s after the client closed; input %q", input)
	}
	return string(out)
}

// FuzzSession feeds arbitrary client input to a logged-in session: the
// server must never panic or hang, must greet, must go on serving new
// sessions, and must leave the store usable.
func FuzzSession(f *testing.F) {
	seeds, _ := filepath.Glob("wire/testdata/seeds/*.imap")
	for _, s := range seeds {
		b, err := os.ReadFile(s)
		if err == nil {
			f.Add(b)
		}
	}
	for _, s := range []string{
		"a SELECT INBOX\r\nb FETCH 1:* (UID FLAGS ENVELOPE BODYSTRUCTURE BODY.PEEK[] BINARY[2] BINARY.SIZE[2] PREVIEW)\r\n",
		"a SELECT INBOX (CONDSTORE)\r\nb UID SEARCH RETURN (SAVE ALL) OR SUBJECT one TEXT café\r\nc UID STORE $ +FLAGS (\\Seen x) \r\nd UID SORT (REVERSE SUBJECT) UTF-8 ALL\r\ne THREAD REFERENCES UTF-8 ALL\r\n",
		"a ENABLE QRESYNC\r\nb SELECT INBOX (QRESYNC (1 1 1:5))\r\nc UID FETCH 1:* (FLAGS) (CHANGEDSINCE 1 VANISHED)\r\nd IDLE\r\nDONE\r\n",
		"a CREATE x/y/z\r\nb RENAME x q\r\nc LIST (SUBSCRIBED RECURSIVEMATCH) \"\" * RETURN (STATUS (MESSAGES SIZE))\r\nd DELETE q/y/z\r\n",
		"a APPEND INBOX (\\Flagged) {12+}\r\nSubject: x\r\n\r\nb SELECT INBOX\r\nc MOVE 1 Trash\r\nd EXPUNGE\r\n",
		"a SELECT INBOX\r\nb COPY 1:2 Archive\r\nc STORE 1 +FLAGS.SILENT (\\Deleted)\r\nd CLOSE\r\ne GETQUOTAROOT INBOX\r\n",
	} {
		f.Add([]byte(s))
	}
	fs := newFuzzServer(f)
	f.Fuzz(func(t *testing.T, input []byte) {
		panics := sessionPanics.Load()
		out := fs.session(t, input)
		if sessionPanics.Load() != panics {
			t.Fatalf("the session panicked on %q (the server log has the stack)", input)
		}
		if !strings.HasPrefix(out, "* OK ") {
			t.Fatalf("no greeting; got %q", out)
		}
		// The server still serves: a new session is answered.
		if after := fs.session(t, []byte("z NOOP\r\n")); !strings.Contains(after, "z OK NOOP completed") {
			t.Fatalf("after input %q, a new session got %q", input, after)
		}
		if _, err := fs.mb.Folders(context.Background()); err != nil {
			t.Fatalf("store unusable after the session: %v", err)
		}
	})
}
