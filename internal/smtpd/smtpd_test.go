package smtpd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"testing"

	"github.com/emersion/go-smtp"
	"github.com/petrelmail/petrel/internal/delivery"
	"github.com/petrelmail/petrel/internal/directory"
	"github.com/petrelmail/petrel/internal/store"
)

type fixture struct {
	dir   *directory.Directory
	store *store.Store
	addr  string
}

// start runs an LMTP or SMTP listener on a loopback socket over a fresh
// data folder with alice (unlimited) and bob (1 KiB quota).
func start(t *testing.T, lmtp bool, cfg delivery.Config) *fixture {
	t.Helper()
	ctx := context.Background()
	data := t.TempDir()
	st, err := store.Open(ctx, data, store.Options{Shards: 2})
	if err != nil {
		t.Fatal(err)
	}
	dir, err := directory.Open(ctx, filepath.Join(data, "directory.db"), 2)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dir.AddDomain(ctx, directory.Domain{Name: "example.test", Aliases: []string{"alias.test"}}); err != nil {
		t.Fatal(err)
	}
	small := int64(1024)
	for _, nu := range []directory.NewUser{{Address: "alice@example.test"}, {Address: "bob@example.test", Quota: &small}} {
		if _, err := dir.AddUser(ctx, nu); err != nil {
			t.Fatal(err)
		}
	}
	if cfg.MaxMessageSize == 0 {
		cfg.MaxMessageSize = 1 << 20
	}
	cfg.DataDir = data
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv := New(Config{Hostname: "test", LMTP: lmtp}, delivery.New(dir, st, cfg, log), log)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(l)
	t.Cleanup(func() {
		srv.Close()
		st.Close()
		dir.Close()
	})
	return &fixture{dir: dir, store: st, addr: l.Addr().String()}
}

func (f *fixture) inbox(t *testing.T, address string) [][]byte {
	t.Helper()
	ctx := context.Background()
	u, err := f.dir.User(ctx, address)
	if err != nil {
		t.Fatal(err)
	}
	mb, _ := f.store.Mailbox(u.Shard, u.ID)
	folder, err := mb.Folder(ctx, "INBOX")
	if err != nil {
		return nil // mailbox not created yet: nothing delivered
	}
	var out [][]byte
	for m, err := range mb.Messages(ctx, folder.ID, 1) {
		if err != nil {
			t.Fatal(err)
		}
		r, err := f.store.Blobs().Open(m.Body)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(r)
		r.Close()
		out = append(out, b)
	}
	return out
}

func dial(t *testing.T, addr string, lmtp bool) *smtp.Client {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	var c *smtp.Client
	if lmtp {
		c = smtp.NewClientLMTP(conn)
	} else {
		c = smtp.NewClient(conn)
	}
	if err := c.Hello("client.test"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func code(err error) string {
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		e := se.EnhancedCode
		return fmt.Sprintf("%d %d.%d.%d", se.Code, e[0], e[1], e[2])
	}
	if err == nil {
		return "250"
	}
	return err.Error()
}

const msg = "From: carol@example.org\r\nSubject: test\r\n\r\nHello, this body is long enough to put bob over his quota when sent twice.\r\n" +
	"................................................................................................\r\n"

func TestLMTPStatusPerRecipient(t *testing.T) {
	f := start(t, true, delivery.Config{})
	c := dial(t, f.addr, true)
	if err := c.Mail("carol@example.org", nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt("nobody@example.test", nil); code(err) != "550 5.1.1" {
		t.Fatalf("unknown recipient: %v", err)
	}
	for _, r := range []string{"alice@example.test", "ALICE+tag@alias.test", "bob@example.test"} {
		if err := c.Rcpt(r, nil); err != nil {
			t.Fatalf("rcpt %s: %v", r, err)
		}
	}
	// The message is larger than bob's 1 KiB quota.
	big := strings.Repeat("x", 1100)
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(w, msg+big+"\r\n")
	resp, err := w.CloseWithLMTPResponse()
	var lerr smtp.LMTPDataError
	if !errors.As(err, &lerr) {
		t.Fatalf("expected a per-recipient failure, got %v", err)
	}
	if len(resp) != 2 || code(lerr["bob@example.test"]) != "552 5.2.2" {
		t.Fatalf("responses %v, errors %v", resp, lerr)
	}
	// alice got one copy although she was named twice.
	if got := f.inbox(t, "alice@example.test"); len(got) != 1 || !bytes.Equal(got[0], []byte(msg+big+"\r\n")) {
		t.Fatalf("alice's inbox: %d messages", len(got))
	}
	if got := f.inbox(t, "bob@example.test"); len(got) != 0 {
		t.Fatalf("bob's inbox holds %d messages over quota", len(got))
	}
}

func TestSMTPSizeAndReserve(t *testing.T) {
	f := start(t, false, delivery.Config{MaxMessageSize: 4096})
	c := dial(t, f.addr, false)
	// RFC 1870: a declared size over the limit is refused at MAIL.
	if err := c.Mail("carol@example.org", &smtp.MailOptions{Size: 10000}); code(err) != "552 5.3.4" {
		t.Fatalf("MAIL SIZE=10000: %v", err)
	}
	c.Reset()
	if err := c.SendMail("carol@example.org", []string{"alice@example.test"}, strings.NewReader(msg+strings.Repeat("y", 5000)+"\r\n")); code(err) != "552 5.3.4" {
		t.Fatalf("oversized message: %v", err)
	}
	if err := c.SendMail("carol@example.org", []string{"alice@example.test"}, strings.NewReader(msg)); err != nil {
		t.Fatalf("normal message after a refused one: %v", err)
	}
	if got := f.inbox(t, "alice@example.test"); len(got) != 1 {
		t.Fatalf("alice's inbox: %d messages, want 1", len(got))
	}

	full := start(t, false, delivery.Config{DiskReserve: 1 << 62})
	c = dial(t, full.addr, false)
	if err := c.SendMail("carol@example.org", []string{"alice@example.test"}, strings.NewReader(msg)); code(err) != "452 4.3.1" {
		t.Fatalf("disk reserve: %v", err)
	}
	if got := full.inbox(t, "alice@example.test"); len(got) != 0 {
		t.Fatalf("stored despite the reserve")
	}
}
