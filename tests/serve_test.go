package tests

import (
	"strings"
	"testing"
)

// TestSecondServeRefused: one serving process per data folder. A second
// `petrel serve` on the same folder must stop at once with a clear error
// (two collectors and two sets of shard writers would each believe they
// own the bodies), while admin commands still work beside the server.
func TestSecondServeRefused(t *testing.T) {
	dataDir := t.TempDir()
	setupUsers(t, dataDir, "lock.test", "a@lock.test")
	srv := NewServer(t, dataDir)
	srv.MustStart()
	_, err := runPetrel(nil, "serve", "--data", dataDir, "--lmtp-addr", freeAddr(t), "--smtp-addr", "off", "--http-addr", "off")
	if err == nil || !strings.Contains(err.Error(), "another petrel serve is running") {
		t.Fatalf("second serve on the same data folder: %v", err)
	}
	// Admin commands share the folder with the running server.
	mustPetrel(t, nil, "user", "add", "b@lock.test", "--password", "pw", "--data", dataDir)
	replies, err := lmtpSend(srv.LMTPAddr, "x@example.net", []string{"b@lock.test"}, []byte("Subject: hi\r\n\r\nhello\r\n"))
	if err != nil || !replies["b@lock.test"].OK() {
		t.Fatalf("delivery to an account added while serving: %v %v", replies, err)
	}
	if out := mustPetrel(t, nil, "messages", "b@lock.test", "--data", dataDir); !strings.Contains(out, "hi") {
		t.Fatalf("messages:\n%s", out)
	}
}
