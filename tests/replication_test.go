package tests

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
)

type shardStatus struct {
	Shard   int    `json:"shard"`
	State   string `json:"state"`
	Cursor  int64  `json:"cursor"`
	Head    int64  `json:"head"`
	Backlog int64  `json:"backlog"`
	Indexed int64  `json:"bodies_indexed"`
}

func replicationStatus(t *testing.T, dataDir string) []shardStatus {
	t.Helper()
	var st []shardStatus
	out := mustPetrel(t, nil, "replication", "status", "--json", "--data", dataDir)
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("status --json: %v\n%s", err, out)
	}
	return st
}

// TestReplicationCommands runs the replication commands against a running
// server and a stopped one: status shows one active replicator per shard
// (and /metrics agrees), delivered mail gets indexed and found by IMAP
// SEARCH, progress counts it, reindex runs in the server, and a stopped
// server's shards show as stopped.
func TestReplicationCommands(t *testing.T) {
	dataDir := t.TempDir()
	mustPetrel(t, nil, "domain", "add", "example.com", "--data", dataDir)
	mustPetrel(t, nil, "user", "add", imapUser, "--password", imapPassword, "--data", dataDir)
	mustPetrel(t, nil, "user", "add", "bob@example.com", "--password", imapPassword, "--data", dataDir)
	srv := NewServer(t, dataDir)
	srv.HTTPAddr = freeAddr(t)
	srv.MustStart()
	if err := waitPort(srv.IMAPAddr, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	const n = 12
	for i := range n {
		msg := fmt.Sprintf("From: a@example.net\r\nTo: %s\r\nSubject: note %d\r\n\r\nThe word is quokka%03d today.\r\n", imapUser, i, i)
		// Every message to both accounts: bodies are counted once.
		mustPetrel(t, []byte(msg), "deliver", "--to", imapUser, "--to", "bob@example.com", "--lmtp-addr", srv.LMTPAddr, "--data", dataDir)
	}
	var st []shardStatus
	deadline := time.Now().Add(20 * time.Second)
	for {
		st = replicationStatus(t, dataDir)
		caughtUp := true
		for _, s := range st {
			caughtUp = caughtUp && s.State == "active" && s.Backlog == 0
		}
		if caughtUp {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("replication never caught up: %+v", st)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if len(st) < 2 {
		t.Fatalf("expected several shards, status shows %d", len(st))
	}
	indexed := int64(0)
	for _, s := range st {
		indexed += s.Indexed
	}
	if indexed != n && indexed != 2*n { // the two accounts may share a shard
		t.Fatalf("bodies indexed: %d, want %d or %d: %+v", indexed, n, 2*n, st)
	}

	// Progress per account and per domain.
	out := mustPetrel(t, nil, "replication", "progress", imapUser, "--data", dataDir)
	if !strings.Contains(out, fmt.Sprintf("%s  ", imapUser)) || !strings.Contains(out, "100.0%") {
		t.Fatalf("progress %s:\n%s", imapUser, out)
	}
	out = mustPetrel(t, nil, "replication", "progress", "example.com", "--json", "--data", dataDir)
	var ps []struct {
		Messages        int64 `json:"messages"`
		IndexedMessages int64 `json:"indexed_messages"`
	}
	if err := json.Unmarshal([]byte(out), &ps); err != nil || len(ps) != 2 || ps[0].Messages != n || ps[1].IndexedMessages != n {
		t.Fatalf("progress example.com: %v\n%s", err, out)
	}

	// IMAP SEARCH finds a word inside a word, as a scan would.
	c := goClient(t, srv.IMAPAddr)
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	data, err := c.UIDSearch(&imap.SearchCriteria{Body: []string{"okka007"}}, nil).Wait()
	if err != nil {
		t.Fatal(err)
	}
	if uids := data.AllUIDs(); len(uids) != 1 || uids[0] != 8 {
		t.Fatalf("SEARCH BODY okka007: %v", uids)
	}

	// The metrics agree with status, and have the other parts' series.
	resp, err := http.Get("http://" + srv.HTTPAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	active := 0
	for _, line := range strings.Split(string(body), "\n") {
		if strings.HasPrefix(line, "petrel_replication_active{") && strings.HasSuffix(line, " 1") {
			active++
		}
	}
	if active != len(st) {
		t.Fatalf("petrel_replication_active: %d shards at 1, want %d", active, len(st))
	}
	for _, want := range []string{"petrel_replication_messages_total", "petrel_replication_lag_seconds", "petrel_replication_backlog",
		"petrel_imap_command_seconds", "petrel_delivery"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}

	// Reindex while serving: done by the server's replicators.
	out = mustPetrel(t, nil, "replication", "reindex", "example.com", "--data", dataDir)
	if !strings.Contains(out, fmt.Sprintf("reindex of %d bodies: %d indexed", n, n)) {
		t.Fatalf("reindex:\n%s", out)
	}

	// Stopped server: every shard stopped, cursors kept.
	srv.Stop()
	for _, s := range replicationStatus(t, dataDir) {
		if s.State != "stopped" || s.Backlog != 0 {
			t.Fatalf("after stop: %+v", s)
		}
	}
	// Requeue without a server runs here, and finds nothing missing.
	out = mustPetrel(t, nil, "replication", "requeue", imapUser, "--data", dataDir)
	if !strings.Contains(out, fmt.Sprintf("requeue of %d bodies: 0 indexed", n)) {
		t.Fatalf("requeue after stop:\n%s", out)
	}
}
