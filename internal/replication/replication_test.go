package replication

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/petrelmail/petrel/internal/blob"
	"github.com/petrelmail/petrel/internal/fts"
	"github.com/petrelmail/petrel/internal/message"
	"github.com/petrelmail/petrel/internal/store"
)

// env is a store of a few shards with mailboxes, and its replicators.
type env struct {
	t         *testing.T
	dir       string
	st        *store.Store
	m         *Manager
	mailboxes []*store.Mailbox
	cancel    context.CancelFunc
}

func newEnv(t *testing.T, shards, perShard int, opts Options) *env {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	st, err := store.Open(ctx, dir, store.Options{Shards: shards})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, dir: dir, st: st}
	id := int64(1)
	for s := range shards {
		for range perShard {
			mb, err := st.Mailbox(s, id)
			if err != nil {
				t.Fatal(err)
			}
			if err := mb.Create(ctx, store.DefaultFolders("en")); err != nil {
				t.Fatal(err)
			}
			e.mailboxes = append(e.mailboxes, mb)
			id++
		}
	}
	opts.DataDir = dir
	if opts.RestartDelay == 0 {
		opts.RestartDelay = 20 * time.Millisecond
	}
	if opts.Poll == 0 {
		opts.Poll = 50 * time.Millisecond
	}
	if e.m, err = Open(ctx, st, opts); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if e.cancel != nil {
			e.cancel()
		}
		e.m.Close()
		st.Close()
	})
	return e
}

func (e *env) start() {
	ctx, cancel := context.WithCancel(context.Background())
	e.cancel = cancel
	e.m.Start(ctx)
}

// appendMsg stores raw in a folder of mb as delivery does: body file
// first, then the record.
func (e *env) appendMsg(mb *store.Mailbox, folder string, raw []byte) error {
	ctx := context.Background()
	sp, err := e.st.Blobs().Spool(bytes.NewReader(raw), 0)
	if err != nil {
		return err
	}
	defer sp.Close()
	unpin := e.st.Blobs().Pin(sp.Hash)
	defer unpin()
	if _, err := sp.Commit(); err != nil {
		return err
	}
	meta := message.Parse(raw)
	_, err = mb.AppendAll(ctx, []store.AppendItem{{Folder: folder, Body: store.Body{Hash: sp.Hash, Size: int64(len(raw)), Meta: meta.Marshal()}}}, 0)
	return err
}

// token returns the word that identifies generated message n.
func token(n int) string { return fmt.Sprintf("zq%05dx", n) }

// genMessage makes message n, in one of a few MIME shapes; the token is
// in the text (or in the subject only, for some).
func genMessage(n int) []byte {
	tok := token(n)
	var b bytes.Buffer
	fmt.Fprintf(&b, "From: Sender %d <s%d@example.org>\r\nTo: r@example.org\r\nMessage-ID: <%d@test>\r\n", n%7, n%7, n)
	switch n % 4 {
	case 0:
		fmt.Fprintf(&b, "Subject: plain %d\r\n\r\nHello, this is %s in plain text.\r\n", n, tok)
	case 1:
		body := base64.StdEncoding.EncodeToString([]byte("Encoded body with " + tok + " inside, café.\r\n"))
		fmt.Fprintf(&b, "Subject: b64 %d\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n%s\r\n", n, body)
	case 2:
		fmt.Fprintf(&b, "Subject: html %d\r\nMIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=XX\r\n\r\n--XX\r\nContent-Type: text/html\r\n\r\n<p>Some <b>%s</b> &amp; more</p>\r\n--XX--\r\n", n, tok)
	case 3:
		fmt.Fprintf(&b, "Subject: =?utf-8?q?subject_%s?=\r\n\r\nNothing in the body.\r\n", tok)
	}
	return b.Bytes()
}

// TestConsistencyUnderFaults is the consistency test: a random
// workload over several shards while replicators are killed at random;
// searches made meanwhile never miss a message that is in the store, and
// after draining every index equals one rebuilt from the store.
func TestConsistencyUnderFaults(t *testing.T) {
	e := newEnv(t, 3, 2, Options{BatchSize: 7})
	e.start()
	ctx := context.Background()
	// The workload runs for at least duration, and on until it has done
	// enough to show something (a slow machine, or the race detector, can
	// make three seconds too little), within a bound.
	duration := 3 * time.Second
	if testing.Short() {
		duration = time.Second
	}
	const bound = 60 * time.Second
	stop := make(chan struct{})
	var wg sync.WaitGroup

	// The killer.
	var kills, searches, checked atomic.Int64
	wg.Add(1)
	go func() {
		defer wg.Done()
		rng := rand.New(rand.NewPCG(1, 2))
		for {
			select {
			case <-stop:
				return
			case <-time.After(time.Duration(5+rng.IntN(60)) * time.Millisecond):
			}
			if e.m.Kill(rng.IntN(3)) {
				kills.Add(1)
			}
		}
	}()

	// The workload, one goroutine per mailbox.
	var mu sync.Mutex
	tokens := map[blob.Hash]int{} // body -> its message number
	var counter int
	var workErr error
	for mi, mb := range e.mailboxes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(mi), 7))
			folders := []string{"INBOX", "Archive"}
			for {
				select {
				case <-stop:
					return
				default:
				}
				if err := e.step(rng, mb, &folders, &mu, tokens, &counter); err != nil {
					mu.Lock()
					workErr = err
					mu.Unlock()
					return
				}
			}
		}()
	}

	// The searcher: for a random token present in a mailbox, the index's
	// candidates include every message of the store that has it.
	var searchErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		rng := rand.New(rand.NewPCG(3, 4))
		for {
			select {
			case <-stop:
				return
			default:
			}
			mb := e.mailboxes[rng.IntN(len(e.mailboxes))]
			n, err := e.searchOnce(ctx, rng, mb, &mu, tokens)
			if err != nil {
				searchErr = err
				return
			}
			searches.Add(1)
			checked.Add(int64(n))
		}
	}()

	enough := func() bool {
		mu.Lock()
		n := counter
		mu.Unlock()
		return kills.Load() >= 5 && searches.Load() >= 20 && checked.Load() >= 20 && n >= 50
	}
	time.Sleep(duration)
	for deadline := time.Now().Add(bound - duration); !enough() && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	if workErr != nil {
		t.Fatal("workload:", workErr)
	}
	if searchErr != nil {
		t.Fatal("search:", searchErr)
	}
	waitCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := e.m.WaitCaughtUp(waitCtx); err != nil {
		t.Fatal(err)
	}
	total := 0
	for shard := range 3 {
		d, err := e.m.Compare(ctx, shard)
		if err != nil {
			t.Fatal(err)
		}
		if !d.Empty() {
			t.Errorf("shard %d: index differs from the store: missing %v, extra %v, stale %v", shard, d.Missing, d.Extra, d.Stale)
		}
		p, err := e.m.ShardProgress(ctx, shard)
		if err != nil {
			t.Fatal(err)
		}
		if p.IndexedMessages != p.Messages || p.IndexedBodies != p.Bodies {
			t.Errorf("shard %d progress after draining: %+v", shard, p)
		}
		total += int(p.Messages)
	}
	t.Logf("%d messages written, %d left in the store, %d replicator kills, %d searches checking %d messages", counter, total, kills.Load(), searches.Load(), checked.Load())
	if !enough() {
		t.Fatalf("the workload did too little in %v to show anything: %d kills, %d searches (%d checks), %d messages", bound, kills.Load(), searches.Load(), checked.Load(), counter)
	}
}

// step does one random operation on a mailbox.
func (e *env) step(rng *rand.Rand, mb *store.Mailbox, folders *[]string, mu *sync.Mutex, tokens map[blob.Hash]int, counter *int) error {
	ctx := context.Background()
	folder := (*folders)[rng.IntN(len(*folders))]
	f, err := mb.Folder(ctx, folder)
	if err != nil {
		return fmt.Errorf("folder %s: %w", folder, err)
	}
	var uids []uint32
	for m, err := range mb.Messages(ctx, f.ID, 1) {
		if err != nil {
			return err
		}
		uids = append(uids, m.UID)
	}
	pick := func() []uint32 {
		if len(uids) == 0 {
			return nil
		}
		i := rng.IntN(len(uids))
		return uids[i : i+1+rng.IntN(min(3, len(uids)-i))]
	}
	switch op := rng.IntN(100); {
	case op < 45: // append, sometimes a body another message already has
		mu.Lock()
		*counter++
		n := *counter
		if n > 10 && rng.IntN(5) == 0 {
			n = rng.IntN(n-1) + 1
		}
		raw := genMessage(n)
		tokens[blob.Hash(sha256.Sum256(raw))] = n
		mu.Unlock()
		return e.appendMsg(mb, folder, raw)
	case op < 60:
		if u := pick(); u != nil {
			_, err := mb.SetFlags(ctx, f.ID, u, store.FlagsAdd, store.FlagSeen, []string{"$label"})
			return err
		}
	case op < 72: // move to another folder
		other := (*folders)[rng.IntN(len(*folders))]
		if u := pick(); u != nil && other != folder {
			to, err := mb.Folder(ctx, other)
			if err != nil {
				return err
			}
			_, err = mb.Move(ctx, f.ID, to.ID, u)
			return err
		}
	case op < 77: // copy
		other := (*folders)[rng.IntN(len(*folders))]
		if u := pick(); u != nil && other != folder {
			to, err := mb.Folder(ctx, other)
			if err != nil {
				return err
			}
			_, err = mb.Copy(ctx, f.ID, to.ID, u, 0)
			return err
		}
	case op < 92:
		if u := pick(); u != nil {
			_, err := mb.Expunge(ctx, f.ID, u, false)
			return err
		}
	case op < 95: // rename a folder of our own
		if folder != "INBOX" && folder != "Archive" {
			fresh := fmt.Sprintf("F%d", rng.IntN(1e6))
			if err := mb.RenameFolder(ctx, folder, fresh); err != nil {
				return err
			}
			for i, n := range *folders {
				if n == folder {
					(*folders)[i] = fresh
				}
			}
		} else if len(*folders) < 5 {
			name := fmt.Sprintf("F%d", rng.IntN(1e6))
			if _, err := mb.CreateFolder(ctx, store.FolderSpec{Name: name}); err != nil {
				return err
			}
			*folders = append(*folders, name)
		}
	default: // delete a folder of our own with its messages
		if folder != "INBOX" && folder != "Archive" {
			if err := mb.DeleteFolder(ctx, folder); err != nil {
				return err
			}
			*folders = slices.DeleteFunc(*folders, func(n string) bool { return n == folder })
		}
	}
	return nil
}

// searchOnce asks the index for one token present in the mailbox and
// checks that every message of the mailbox holding it is a candidate. It
// returns how many messages it checked.
func (e *env) searchOnce(ctx context.Context, rng *rand.Rand, mb *store.Mailbox, mu *sync.Mutex, tokens map[blob.Hash]int) (int, error) {
	// Pick a message of the mailbox, and search for its token.
	folders, err := mb.Folders(ctx)
	if err != nil {
		return 0, err
	}
	var n int
	f := folders[rng.IntN(len(folders))]
	for m, err := range mb.Fetch(ctx, f.ID, 1, ^uint32(0), store.FetchHash) {
		if err != nil {
			return 0, nil // folder deleted meanwhile
		}
		mu.Lock()
		tn := tokens[m.Body]
		mu.Unlock()
		if n == 0 || rng.IntN(4) == 0 {
			n = tn
		}
	}
	if n == 0 {
		return 0, nil
	}
	cand, ok, err := e.m.Candidates(ctx, mb.Shard().Index, fts.Cond{Op: fts.Term, Col: fts.ColAny, Needle: fts.Fold(token(n))})
	if err != nil {
		return 0, err
	}
	if !ok {
		return 0, fmt.Errorf("the index cannot narrow %q", token(n))
	}
	// Then read the store: every message with the token there now must
	// be a candidate.
	if folders, err = mb.Folders(ctx); err != nil {
		return 0, err
	}
	checked := 0
	for _, f := range folders {
		for m, err := range mb.Fetch(ctx, f.ID, 1, ^uint32(0), store.FetchHash) {
			if err != nil {
				break // folder deleted meanwhile
			}
			mu.Lock()
			tn := tokens[m.Body]
			mu.Unlock()
			if tn != n {
				continue
			}
			checked++
			if !cand.Maybe(m.BodyID, m.ModSeq) {
				return checked, fmt.Errorf("search for %s missed message %s/%d (body %d, modseq %d, watermark %d)",
					token(n), f.Name, m.UID, m.BodyID, m.ModSeq, cand.Watermark)
			}
		}
	}
	return checked, nil
}

// TestKilledReplicatorShows: a replicator stopped by fault injection shows
// as stopped in Status and in the active gauge, and comes back.
func TestKilledReplicatorShows(t *testing.T) {
	e := newEnv(t, 3, 1, Options{RestartDelay: 700 * time.Millisecond})
	e.start()
	ctx := context.Background()
	waitFor := func(what string, cond func([]ShardStatus) bool) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			st, err := e.m.Status(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if cond(st) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: status stays %+v", what, st)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	active := func(shard int) float64 { return testutil.ToFloat64(metricActive.WithLabelValues(fmt.Sprint(shard))) }
	waitFor("all active", func(st []ShardStatus) bool {
		for _, s := range st {
			if s.State != StateActive {
				return false
			}
		}
		return true
	})
	for shard := range 3 {
		if active(shard) != 1 {
			t.Fatalf("shard %d: petrel_replication_active = %v", shard, active(shard))
		}
	}
	if !e.m.Kill(1) {
		t.Fatal("Kill(1): no replicator running")
	}
	waitFor("shard 1 stopped", func(st []ShardStatus) bool {
		return st[0].State == StateActive && st[1].State == StateStopped && st[2].State == StateActive
	})
	if active(1) != 0 || active(0) != 1 {
		t.Fatalf("after the kill: active gauge shard 0 = %v, shard 1 = %v", active(0), active(1))
	}
	// Mail keeps arriving while shard 1 has no replicator; it is indexed
	// once the replicator is back.
	if err := e.appendMsg(e.mailboxes[1], "INBOX", genMessage(1)); err != nil {
		t.Fatal(err)
	}
	st, _ := e.m.Status(ctx)
	if st[1].Backlog == 0 {
		t.Fatalf("no backlog while stopped: %+v", st[1])
	}
	waitFor("shard 1 back", func(st []ShardStatus) bool { return st[1].State == StateActive && st[1].Backlog == 0 })
	if active(1) != 1 {
		t.Fatalf("after recovery: active gauge shard 1 = %v", active(1))
	}
	cand, ok, err := e.m.Candidates(ctx, 1, fts.Cond{Op: fts.Term, Col: fts.ColAny, Needle: token(1)})
	if err != nil || !ok || len(cand.Bodies) != 1 {
		t.Fatalf("after recovery the message is not indexed: %+v %v %v", cand, ok, err)
	}
}

// TestRequeueReindexProgress: progress shows what the index lacks,
// requeue fills it in, reindex rebuilds a shard while it serves.
func TestRequeueReindexProgress(t *testing.T) {
	e := newEnv(t, 1, 2, Options{})
	ctx := context.Background()
	// The same message to both mailboxes (one body), one more to the first.
	for _, mb := range e.mailboxes {
		if err := e.appendMsg(mb, "INBOX", genMessage(1)); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.appendMsg(e.mailboxes[0], "INBOX", genMessage(2)); err != nil {
		t.Fatal(err)
	}
	// No replicator ran yet: nothing is indexed.
	p, err := e.m.ShardProgress(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	if p.Messages != 3 || p.Bodies != 2 || p.IndexedMessages != 0 || p.IndexedBodies != 0 {
		t.Fatalf("progress before: %+v", p)
	}
	// Requeue of the second mailbox, without a server: run here.
	res, err := e.m.Run(ctx, 0, KindRequeue, []int64{e.mailboxes[1].ID})
	if err != nil || res.Checked != 1 || res.Indexed != 1 {
		t.Fatalf("requeue: %+v %v", res, err)
	}
	p, _ = e.m.MailboxProgress(ctx, MailboxRef{Label: "b", Shard: 0, ID: e.mailboxes[1].ID})
	if p.Messages != 1 || p.IndexedMessages != 1 {
		t.Fatalf("mailbox progress after requeue: %+v", p)
	}
	p, _ = e.m.ShardProgress(ctx, 0)
	if p.IndexedMessages != 2 || p.IndexedBodies != 1 {
		t.Fatalf("shard progress after requeue: %+v", p)
	}
	// A requeue again finds nothing to do.
	if res, err := e.m.Run(ctx, 0, KindRequeue, []int64{e.mailboxes[1].ID}); err != nil || res.Indexed != 0 {
		t.Fatalf("second requeue: %+v %v", res, err)
	}
	// Now with the replicator running: it catches up, then a reindex of
	// the shard is queued to it.
	e.start()
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := e.m.WaitCaughtUp(wctx); err != nil {
		t.Fatal(err)
	}
	res, err = e.m.Run(wctx, 0, KindReindex, nil)
	if err != nil || res.Indexed != 2 {
		t.Fatalf("reindex: %+v %v", res, err)
	}
	if d, err := e.m.Compare(ctx, 0); err != nil || !d.Empty() {
		t.Fatalf("after reindex: %+v %v", d, err)
	}
	// A second Manager (the command line) reaches the running one through
	// the state database.
	m2, err := Open(ctx, e.st, Options{DataDir: e.dir})
	if err != nil {
		t.Fatal(err)
	}
	defer m2.Close()
	if res, err := m2.Run(wctx, 0, KindReindex, []int64{e.mailboxes[0].ID}); err != nil || res.Indexed != 2 {
		t.Fatalf("reindex queued from another manager: %+v %v", res, err)
	}
	st, err := m2.Status(ctx)
	if err != nil || st[0].State != StateActive || st[0].Backlog != 0 || st[0].Indexed != 2 {
		t.Fatalf("status seen from another manager: %+v %v", st, err)
	}
}
