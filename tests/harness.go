// Package tests holds Petrel's black-box end-to-end tests: they build the
// petrel binary once, run it as a separate process on a temporary data
// folder, talk to it over LMTP with an independent client
// (github.com/emersion/go-smtp), kill it, and inspect the data folder it
// leaves through the store's own API once the process has stopped.
package tests

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/petrelmail/petrel/internal/blob"
	"github.com/petrelmail/petrel/internal/server"
	"github.com/petrelmail/petrel/internal/store"
)

// petrelBin is the binary built once by TestMain.
var petrelBin string

// buildPetrel builds cmd/petrel into dir and returns the binary's path.
func buildPetrel(dir string) (string, error) {
	bin := filepath.Join(dir, "petrel")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/petrelmail/petrel/cmd/petrel")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build ./cmd/petrel: %v\n%s", err, out.String())
	}
	return bin, nil
}

// runPetrel runs one petrel command (not serve) and returns its standard
// output; the error carries its standard error.
func runPetrel(stdin []byte, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, petrelBin, args...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("petrel %s: %v: %s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String(), nil
}

// mustPetrel is runPetrel failing the test on error.
func mustPetrel(t testing.TB, stdin []byte, args ...string) string {
	t.Helper()
	out, err := runPetrel(stdin, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// freeAddr returns a loopback address with a port that was free a moment
// ago.
func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// logBuffer collects a server's standard error (across restarts) and
// signals the "petrel ready" line.
type logBuffer struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	ready chan struct{} // closed at the first "petrel ready" after arm
	seen  int           // bytes of buf already scanned for the ready line
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.Write(p)
	if b.ready != nil {
		// Scan only whole lines not yet scanned.
		rest := b.buf.Bytes()[b.seen:]
		if i := bytes.LastIndexByte(rest, '\n'); i >= 0 {
			if bytes.Contains(rest[:i], []byte("petrel ready")) {
				close(b.ready)
				b.ready = nil
			}
			b.seen += i + 1
		}
	}
	return len(p), nil
}

// arm starts watching for the next ready line.
func (b *logBuffer) arm() <-chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.seen = b.buf.Len()
	b.ready = make(chan struct{})
	return b.ready
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Server is one petrel serve process on a data folder, which can be
// stopped, killed and started again on the same folder and address.
type Server struct {
	t        testing.TB
	DataDir  string
	LMTPAddr string
	IMAPAddr string
	// HTTPAddr is the HTTP listener's address; "" turns it off.
	HTTPAddr string
	// Config is the path of a TOML configuration file, or "".
	Config string

	log  *logBuffer
	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed when the current process has exited
	err  error         // the current process's exit status, after done
	runs int
}

// NewServer prepares (without starting) a server on dataDir with a fresh
// LMTP port. The process, if still running at the end of the test, is
// killed; on failure the end of its log is printed.
func NewServer(t testing.TB, dataDir string) *Server {
	s := &Server{t: t, DataDir: dataDir, LMTPAddr: freeAddr(t), IMAPAddr: freeAddr(t), log: &logBuffer{}}
	t.Cleanup(func() {
		s.Kill()
		if t.Failed() {
			l := s.log.String()
			if len(l) > 6000 {
				l = "...\n" + l[len(l)-6000:]
			}
			t.Logf("server log (%s):\n%s", dataDir, l)
		}
	})
	return s
}

// spawn starts the process without waiting for it; ready is closed when
// it logs "petrel ready", done when it exits.
func (s *Server) spawn() (ready <-chan struct{}, done chan struct{}, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return nil, nil, errors.New("server already running")
	}
	httpAddr := s.HTTPAddr
	if httpAddr == "" {
		httpAddr = "off"
	}
	args := []string{"serve", "--data", s.DataDir, "--lmtp-addr", s.LMTPAddr, "--smtp-addr", "off", "--http-addr", httpAddr,
		"--imap-addr", s.IMAPAddr, "--imaps-addr", "off"}
	if s.Config != "" {
		args = append(args, "--config", s.Config)
	}
	cmd := exec.Command(petrelBin, args...)
	cmd.Stderr = s.log
	cmd.Stdout = s.log
	ready = s.log.arm()
	s.runs++
	fmt.Fprintf(s.log, "=== test harness: start #%d\n", s.runs)
	if err := cmd.Start(); err != nil {
		return nil, nil, err
	}
	done = make(chan struct{})
	s.cmd, s.done = cmd, done
	go func() {
		err := cmd.Wait()
		s.mu.Lock()
		s.err = err
		s.mu.Unlock()
		close(done)
	}()
	return ready, done, nil
}

// Start starts the process and waits until it is ready and its LMTP port
// accepts connections.
func (s *Server) Start() error {
	ready, done, err := s.spawn()
	if err != nil {
		return err
	}
	select {
	case <-ready:
	case <-done:
		s.mu.Lock()
		err := s.err
		s.cmd = nil
		s.mu.Unlock()
		return fmt.Errorf("petrel serve exited before ready: %v", err)
	case <-time.After(30 * time.Second):
		s.Kill()
		return errors.New("petrel serve not ready after 30s")
	}
	if err := waitPort(s.LMTPAddr, 10*time.Second); err != nil {
		s.Kill()
		return err
	}
	return nil
}

// KillDuringStart starts the process and kills it with SIGKILL after
// delay, whether or not it is ready by then.
func (s *Server) KillDuringStart(delay time.Duration) error {
	if _, _, err := s.spawn(); err != nil {
		return err
	}
	time.Sleep(delay)
	s.Kill()
	return nil
}

// MustStart is Start failing the test on error.
func (s *Server) MustStart() {
	s.t.Helper()
	if err := s.Start(); err != nil {
		s.t.Fatal(err)
	}
}

// signal sends sig to the running process and waits for it to exit.
func (s *Server) signal(sig syscall.Signal, timeout time.Duration) (error, bool) {
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	s.mu.Unlock()
	if cmd == nil {
		return nil, true
	}
	cmd.Process.Signal(sig)
	select {
	case <-done:
	case <-time.After(timeout):
		return nil, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cmd = nil
	return s.err, true
}

// Stop stops the process with SIGTERM and fails the test if it does not
// exit cleanly within 20 s.
func (s *Server) Stop() {
	s.t.Helper()
	err, exited := s.signal(syscall.SIGTERM, 20*time.Second)
	if !exited {
		s.Kill()
		s.t.Fatal("petrel serve did not stop within 20s of SIGTERM")
	}
	if err != nil {
		s.t.Fatalf("petrel serve exited with %v after SIGTERM", err)
	}
}

// Kill kills the process with SIGKILL (no chance to clean up) and waits
// for it to be gone.
func (s *Server) Kill() {
	if _, exited := s.signal(syscall.SIGKILL, 20*time.Second); !exited {
		s.t.Errorf("petrel serve still running 20s after SIGKILL")
	}
}

// Log returns everything the server processes wrote so far.
func (s *Server) Log() string { return s.log.String() }

// waitPort waits until addr accepts TCP connections.
func waitPort(addr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not accepting connections after %v: %w", addr, timeout, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// setupUsers creates a data folder's domain and users (unlimited quota,
// no password) with the command line.
func setupUsers(t testing.TB, dataDir, domain string, users ...string) {
	t.Helper()
	mustPetrel(t, nil, "domain", "add", domain, "--data", dataDir)
	for _, u := range users {
		mustPetrel(t, nil, "user", "add", u, "--data", dataDir)
	}
}

// writeConfig writes a TOML configuration file in dir and returns its path.
func writeConfig(t testing.TB, dir, name, content string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// Reply is one SMTP/LMTP reply.
type Reply struct {
	Code     int
	Enhanced smtp.EnhancedCode
	Text     string
}

// OK reports a 2xx reply.
func (r Reply) OK() bool { return r.Code/100 == 2 }

func (r Reply) String() string {
	return fmt.Sprintf("%d %d.%d.%d %s", r.Code, r.Enhanced[0], r.Enhanced[1], r.Enhanced[2], r.Text)
}

func replyOf(err error) (Reply, bool) {
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		return Reply{Code: se.Code, Enhanced: se.EnhancedCode, Text: se.Message}, true
	}
	return Reply{}, false
}

// dialLMTP connects to an LMTP server and says LHLO.
func dialLMTP(addr string) (*smtp.Client, error) {
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	c := smtp.NewClientLMTP(conn)
	c.CommandTimeout = 60 * time.Second
	c.SubmissionTimeout = 120 * time.Second
	if err := c.Hello("e2e.test"); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// lmtpTransaction runs one mail transaction (MAIL, RCPT for each
// recipient, DATA) on an open client and returns the final reply for each
// recipient: the RCPT rejection, or the recipient's reply after DATA.
// A recipient missing from the map got no reply (the error says why: the
// connection failed); such a delivery may or may not have happened.
// Bytes are sent through go-smtp's DATA writer, which dot-stuffs and turns
// bare LF into CRLF.
func lmtpTransaction(c *smtp.Client, from string, rcpts []string, msg []byte) (map[string]Reply, error) {
	out := map[string]Reply{}
	if err := c.Mail(from, nil); err != nil {
		if r, ok := replyOf(err); ok {
			for _, rc := range rcpts {
				out[rc] = r
			}
			return out, nil
		}
		return out, err
	}
	var accepted []string
	for _, rc := range rcpts {
		if err := c.Rcpt(rc, nil); err != nil {
			r, ok := replyOf(err)
			if !ok {
				return out, err
			}
			out[rc] = r
			continue
		}
		accepted = append(accepted, rc)
	}
	if len(accepted) == 0 {
		if err := c.Reset(); err != nil {
			return out, err
		}
		return out, nil
	}
	w, err := c.Data()
	if err != nil {
		if r, ok := replyOf(err); ok {
			for _, rc := range accepted {
				out[rc] = r
			}
			return out, nil
		}
		return out, err
	}
	if _, err := w.Write(msg); err != nil {
		return out, err
	}
	// On a connection failure part way, resp and the LMTPDataError joined
	// to the error still hold the replies read before it.
	resp, err := w.CloseWithLMTPResponse()
	var lerr smtp.LMTPDataError
	errors.As(err, &lerr)
	for _, rc := range accepted {
		if se, ok := lerr[rc]; ok {
			out[rc] = Reply{Code: se.Code, Enhanced: se.EnhancedCode, Text: se.Message}
		} else if dr, ok := resp[rc]; ok {
			r := Reply{Code: 250, Text: dr.StatusText}
			fmt.Sscanf(dr.StatusText, "%d.%d.%d", &r.Enhanced[0], &r.Enhanced[1], &r.Enhanced[2])
			out[rc] = r
		}
	}
	if err != nil && len(out) < len(rcpts) {
		// The connection failed before every reply was read.
		return out, err
	}
	return out, nil
}

// lmtpSend delivers one message on a new connection.
func lmtpSend(addr, from string, rcpts []string, msg []byte) (map[string]Reply, error) {
	c, err := dialLMTP(addr)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	out, err := lmtpTransaction(c, from, rcpts, msg)
	if err == nil {
		c.Quit()
	}
	return out, err
}

// expectReplies checks that a transaction completed and that each
// recipient in want got that reply code and enhanced code ("250 2.0.0").
func expectReplies(t testing.TB, got map[string]Reply, err error, want map[string]string) {
	t.Helper()
	if err != nil {
		t.Fatalf("LMTP transaction failed: %v (replies so far: %v)", err, got)
	}
	for rc, w := range want {
		r, ok := got[rc]
		if !ok {
			t.Errorf("<%s>: no reply, want %s", rc, w)
			continue
		}
		code := fmt.Sprintf("%d %d.%d.%d", r.Code, r.Enhanced[0], r.Enhanced[1], r.Enhanced[2])
		if code != w {
			t.Errorf("<%s>: got %q, want %s", rc, r.String(), w)
		}
	}
}

// openData opens a data folder in the test process (with the server
// stopped, or alongside it as the admin commands do) and closes it at the
// end of the test unless closed before.
func openData(t testing.TB, dir string) *server.Data {
	t.Helper()
	d, err := server.OpenData(context.Background(), dir, 0)
	if err != nil {
		t.Fatalf("open data folder: %v", err)
	}
	return d
}

// blobFiles lists the body files of a data folder (blobs/XX/...), without
// the temporary folder blobs/tmp, by hash.
func blobFiles(t testing.TB, dataDir string) map[string]string {
	t.Helper()
	root := filepath.Join(dataDir, "blobs")
	out := map[string]string{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path == filepath.Join(root, "tmp") {
				return filepath.SkipDir
			}
			return nil
		}
		rel, _ := filepath.Rel(root, path)
		out[strings.ReplaceAll(rel, string(filepath.Separator), "")] = path
		return nil
	})
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	return out
}

// checkBlobFile checks that a body file's SHA-256 is its name.
func checkBlobFile(name, path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if got := fmt.Sprintf("%x", sha256.Sum256(b)); got != name {
		return fmt.Errorf("body file %s holds %d bytes whose SHA-256 is %s", path, len(b), got)
	}
	return nil
}

// readBody reads a stored body.
func readBody(st *store.Store, h blob.Hash) ([]byte, error) {
	f, err := st.Blobs().Open(h)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var buf bytes.Buffer
	_, err = buf.ReadFrom(f)
	return buf.Bytes(), err
}

// inboxMessages lists the messages of an account's INBOX.
func inboxMessages(t testing.TB, data *server.Data, address string) (store.Folder, []store.Message, *store.Mailbox) {
	t.Helper()
	ctx := context.Background()
	_, mb, err := data.Mailbox(ctx, address)
	if err != nil {
		t.Fatalf("mailbox %s: %v", address, err)
	}
	f, err := mb.Folder(ctx, store.Inbox)
	if err != nil {
		t.Fatalf("INBOX of %s: %v", address, err)
	}
	var msgs []store.Message
	for m, err := range mb.Messages(ctx, f.ID, 1) {
		if err != nil {
			t.Fatalf("messages of %s: %v", address, err)
		}
		msgs = append(msgs, m)
	}
	return f, msgs, mb
}

// allChanges reads a shard's whole change log.
func allChanges(t testing.TB, sh *store.Shard) []store.Change {
	t.Helper()
	var out []store.Change
	after := int64(0)
	for {
		batch, err := sh.Changes(context.Background(), after, 5000)
		if err != nil {
			t.Fatalf("change log of shard %d: %v", sh.Index, err)
		}
		if len(batch) == 0 {
			return out
		}
		out = append(out, batch...)
		after = batch[len(batch)-1].ID
	}
}

// headerValue returns the first value of a header field in a raw message
// (no unfolding: enough for the fields these tests write).
func headerValue(raw []byte, name string) string {
	prefix := []byte(strings.ToLower(name) + ":")
	for _, line := range bytes.Split(raw, []byte("\n")) {
		line = bytes.TrimRight(line, "\r")
		if len(line) == 0 {
			return ""
		}
		if len(line) >= len(prefix) && bytes.Equal(bytes.ToLower(line[:len(prefix)]), prefix) {
			return strings.TrimSpace(string(line[len(prefix):]))
		}
	}
	return ""
}
