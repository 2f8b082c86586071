package tests

import (
	"bytes"
	"strings"
	"testing"
)

// TestQuickStart runs the commands of the quick start: create a domain and
// a user, serve, deliver a message with "petrel deliver", and list it with
// "petrel messages" while the server still runs.
func TestQuickStart(t *testing.T) {
	dataDir := t.TempDir()
	out := mustPetrel(t, nil, "domain", "add", "example.com", "--data", dataDir)
	if !strings.Contains(out, "domain example.com created") {
		t.Errorf("domain add said %q", out)
	}
	out = mustPetrel(t, nil, "user", "add", "alice@example.com", "--password", "correct horse battery staple", "--data", dataDir)
	if !strings.Contains(out, "alice@example.com created") {
		t.Errorf("user add said %q", out)
	}

	srv := NewServer(t, dataDir)
	srv.MustStart()

	// Bare LF line ends, as typed in a shell: deliver turns them into CRLF.
	msg := "From: Bob <bob@example.org>\nTo: alice@example.com\nSubject: Hello from the quick start\n\nHi Alice!\n"
	out = mustPetrel(t, []byte(msg), "deliver", "--to", "alice@example.com", "--lmtp-addr", srv.LMTPAddr, "--data", dataDir)
	if strings.TrimSpace(out) != "delivered to alice@example.com" {
		t.Errorf("deliver said %q", out)
	}
	if _, err := runPetrel([]byte(msg), "deliver", "--to", "nobody@example.com", "--lmtp-addr", srv.LMTPAddr, "--data", dataDir); err == nil ||
		!strings.Contains(err.Error(), "nobody@example.com") || !strings.Contains(err.Error(), "550") {
		t.Errorf("deliver to an unknown address: %v, want a 550 failure naming it", err)
	}

	out = mustPetrel(t, nil, "messages", "alice@example.com", "--data", dataDir)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 || !strings.Contains(lines[1], "Hello from the quick start") || !strings.Contains(lines[1], "bob@example.org") {
		t.Errorf("messages printed:\n%s\nwant a header line and one message from bob@example.org with the subject", out)
	}
	out = mustPetrel(t, nil, "folders", "alice@example.com", "--data", dataDir)
	if !strings.Contains(out, "INBOX") || !strings.Contains(out, "Sent") {
		t.Errorf("folders printed:\n%s", out)
	}
	srv.Stop()

	data := openData(t, dataDir)
	defer data.Close()
	_, msgs, _ := inboxMessages(t, data, "alice@example.com")
	if len(msgs) != 1 {
		t.Fatalf("%d messages in INBOX, want 1", len(msgs))
	}
	body, err := readBody(data.Store, msgs[0].Body)
	if err != nil {
		t.Fatal(err)
	}
	if want := strings.ReplaceAll(msg, "\n", "\r\n"); !bytes.Equal(body, []byte(want)) {
		t.Errorf("stored %q, want %q", body, want)
	}
}
