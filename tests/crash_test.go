package tests

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"math/rand/v2"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/petrelmail/petrel/internal/blob"
	"github.com/petrelmail/petrel/internal/store"
)

// sentMessage is one message a crash-test client sent, with what it was
// told about each recipient.
type sentMessage struct {
	id    string // Message-ID, without angle brackets
	raw   []byte
	sum   [32]byte
	rcpts []string
	// start is when the transaction began (before MAIL), end when it was
	// over (replies read or connection failed); monotonic clock.
	start, end time.Time
	// replies holds the final reply per recipient; a recipient missing
	// got none (the server died): unacknowledged.
	replies map[string]Reply
}

func (m *sentMessage) acked(rcpt string) bool {
	r, ok := m.replies[rcpt]
	return ok && r.OK()
}

func (m *sentMessage) refused(rcpt string) bool {
	r, ok := m.replies[rcpt]
	return ok && !r.OK()
}

// randomBody makes a body of about n bytes of CRLF-terminated lines: mostly
// printable text, some lines starting with dots (dot-stuffing), some of
// arbitrary 8-bit bytes and NULs (anything but CR and LF).
func randomBody(rng *rand.Rand, n int) []byte {
	const text = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .,;:-_=+/"
	var b bytes.Buffer
	for b.Len() < n {
		l := 1 + rng.IntN(120)
		if l > n-b.Len() {
			l = max(n-b.Len(), 1)
		}
		kind := rng.IntN(20)
		for i := 0; i < l; i++ {
			switch {
			case kind == 0 && i == 0:
				b.WriteByte('.')
			case kind == 1:
				c := byte(rng.IntN(256))
				if c == '\r' || c == '\n' {
					c = 0
				}
				b.WriteByte(c)
			default:
				b.WriteByte(text[rng.IntN(len(text))])
			}
		}
		b.WriteString("\r\n")
	}
	return b.Bytes()
}

// TestCrashDuringDelivery delivers thousands of unique messages over
// several concurrent LMTP connections while the server is killed with
// SIGKILL at random moments and restarted. Afterwards, with the server
// stopped, the data folder must hold every acknowledged delivery exactly
// once and byte-exact, nothing half-written, nothing never sent, UIDs and
// MODSEQs in acknowledgment order, and a change log that records exactly
// the stored messages.
func TestCrashDuringDelivery(t *testing.T) {
	targetAcked, minKills, workers := 2000, 5, 6
	if testing.Short() {
		targetAcked, minKills = 400, 2
	}
	const (
		deadline = 90 * time.Second // give up (and fail) after this
		domain   = "crash.test"
	)
	users := []string{"u0@" + domain, "u1@" + domain, "u2@" + domain, "u3@" + domain, "u4@" + domain}
	dataDir := t.TempDir()
	setupUsers(t, dataDir, domain, users...)
	srv := NewServer(t, dataDir)
	srv.MustStart()

	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)

	var (
		mu        sync.Mutex
		sent      []*sentMessage
		ackedMsgs atomic.Int64 // messages with at least one 250
		ackedRcpt atomic.Int64
		ioErrors  atomic.Int64
		stop      atomic.Bool
		wg        sync.WaitGroup
	)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(seed, uint64(w)))
			var c *smtp.Client
			defer func() {
				if c != nil {
					c.Close()
				}
			}()
			for n := 0; !stop.Load(); n++ {
				if c == nil {
					var err error
					if c, err = dialLMTP(srv.LMTPAddr); err != nil {
						c = nil
						time.Sleep(time.Duration(10+rng.IntN(30)) * time.Millisecond)
						continue
					}
				}
				m := &sentMessage{id: fmt.Sprintf("w%d.n%d.%x@crash.test", w, n, rng.Uint64())}
				nr := 1
				if p := rng.IntN(10); p >= 8 {
					nr = 3
				} else if p >= 6 {
					nr = 2
				}
				for _, i := range rng.Perm(len(users))[:nr] {
					m.rcpts = append(m.rcpts, users[i])
				}
				var hdr bytes.Buffer
				fmt.Fprintf(&hdr, "From: Sender %d <sender%d@example.net>\r\n", w, w)
				fmt.Fprintf(&hdr, "To: %s\r\n", m.rcpts[0])
				fmt.Fprintf(&hdr, "Subject: crash test message %d of worker %d\r\n", n, w)
				fmt.Fprintf(&hdr, "Message-ID: <%s>\r\n", m.id)
				fmt.Fprintf(&hdr, "Date: Mon, 2 Jan 2006 15:04:05 +0000\r\n\r\n")
				size := 200 + rng.IntN(20*1024-200)
				m.raw = append(hdr.Bytes(), randomBody(rng, max(size-hdr.Len(), 1))...)
				m.sum = sha256.Sum256(m.raw)

				m.start = time.Now()
				replies, err := lmtpTransaction(c, "sender@example.net", m.rcpts, m.raw)
				m.end = time.Now()
				m.replies = replies
				ok := 0
				for _, r := range replies {
					if r.OK() {
						ok++
					}
				}
				if ok > 0 {
					ackedMsgs.Add(1)
					ackedRcpt.Add(int64(ok))
				}
				mu.Lock()
				sent = append(sent, m)
				mu.Unlock()
				if err != nil {
					ioErrors.Add(1)
					c.Close()
					c = nil
				}
			}
		}(w)
	}

	rng := rand.New(rand.NewPCG(seed, 1<<40))
	start := time.Now()
	kills, startupKills := 0, 0
	var killedAt []int64
	for {
		// Mostly 0.5-2 s apart; now and then soon after a restart, to
		// kill a server that is still opening its data or just serving.
		pause := time.Duration(500+rng.IntN(1500)) * time.Millisecond
		if rng.IntN(6) == 0 {
			pause = time.Duration(50+rng.IntN(350)) * time.Millisecond
		}
		time.Sleep(pause)
		if ackedMsgs.Load() >= int64(targetAcked) && kills >= minKills {
			break
		}
		if time.Since(start) > deadline {
			stop.Store(true)
			wg.Wait()
			t.Fatalf("after %v: %d messages acknowledged (want %d), %d kills (want %d)",
				time.Since(start).Round(time.Millisecond), ackedMsgs.Load(), targetAcked, kills, minKills)
		}
		srv.Kill()
		kills++
		killedAt = append(killedAt, ackedMsgs.Load())
		if rng.IntN(5) == 0 {
			// Also kill a server still opening its data folder.
			if err := srv.KillDuringStart(time.Duration(rng.IntN(250)) * time.Millisecond); err != nil {
				stop.Store(true)
				wg.Wait()
				t.Fatalf("start after kill %d: %v", kills, err)
			}
			startupKills++
		}
		if err := srv.Start(); err != nil {
			stop.Store(true)
			wg.Wait()
			t.Fatalf("restart after kill %d: %v", kills, err)
		}
	}
	stop.Store(true)
	wg.Wait()
	srv.Stop()
	elapsed := time.Since(start)

	refused := 0
	for _, m := range sent {
		for _, r := range m.replies {
			if !r.OK() {
				refused++
				if refused <= 5 {
					t.Logf("%s refused: %v", m.id, r)
				}
			}
		}
	}
	t.Logf("%v: %d transactions, %d messages acknowledged (%d recipient deliveries), %d refused recipients, %d connection failures, %d kills (acked count at each: %v) and %d kills during start-up",
		elapsed.Round(time.Millisecond), len(sent), ackedMsgs.Load(), ackedRcpt.Load(), refused, ioErrors.Load(), kills, killedAt, startupKills)

	verifyAfterCrashes(t, dataDir, users, sent)
}

// stored is one message record found in a mailbox.
type stored struct {
	user string
	msg  store.Message
	sent *sentMessage // nil if the bytes match nothing sent
}

func verifyAfterCrashes(t *testing.T, dataDir string, users []string, sent []*sentMessage) {
	ctx := context.Background()
	data := openData(t, dataDir)
	defer data.Close()

	byID := map[string]*sentMessage{}
	for _, m := range sent {
		byID[m.id] = m
	}
	const maxErrors = 30
	nerr := 0
	fail := func(format string, args ...any) {
		nerr++
		if nerr <= maxErrors {
			t.Errorf(format, args...)
		}
	}
	defer func() {
		if nerr > maxErrors {
			t.Errorf("... and %d more failures", nerr-maxErrors)
		}
	}()

	// Body files whose SHA-256 is not their name. A referenced body must
	// be whole (checked message by message below); an unreferenced one may
	// be what a kill left of a Commit writing it in place.
	files := blobFiles(t, dataDir)
	partial := map[string]bool{}
	for name, path := range files {
		if checkBlobFile(name, path) != nil {
			partial[name] = true
		}
	}

	referenced := map[blob.Hash]bool{}
	found := map[string]map[string]int{} // message ID -> user -> count
	type folderKey struct {
		shard  int
		folder int64
	}
	storedIn := map[folderKey]map[uint32]store.Message{} // what the change log must match
	perUser := map[string][]stored{}
	perShard := map[int][]stored{}
	for _, u := range users {
		usr, _, err := data.Mailbox(ctx, u)
		if err != nil {
			t.Fatal(err)
		}
		f, msgs, mb := inboxMessages(t, data, u)
		key := folderKey{usr.Shard, f.ID}
		storedIn[key] = map[uint32]store.Message{}
		var bytesSum int64
		var maxUID uint32
		var maxModSeq int64
		for i, msg := range msgs {
			if i > 0 && msg.UID <= msgs[i-1].UID {
				fail("%s: UIDs not increasing: %d after %d", u, msg.UID, msgs[i-1].UID)
			}
			storedIn[key][msg.UID] = msg
			bytesSum += msg.Size
			maxUID = max(maxUID, msg.UID)
			maxModSeq = max(maxModSeq, msg.ModSeq)
			referenced[msg.Body] = true
			s := stored{user: u, msg: msg}
			body, err := readBody(data.Store, msg.Body)
			if err != nil {
				fail("%s UID %d: body %s missing: %v", u, msg.UID, msg.Body, err)
				continue
			}
			if sha256.Sum256(body) != msg.Body {
				fail("%s UID %d: body file content does not match its hash %s", u, msg.UID, msg.Body)
			}
			if int64(len(body)) != msg.Size {
				fail("%s UID %d: size %d recorded, body has %d bytes", u, msg.UID, msg.Size, len(body))
			}
			id := headerValue(body, "Message-ID")
			if len(id) > 2 {
				id = id[1 : len(id)-1]
			}
			m := byID[id]
			switch {
			case m == nil:
				fail("%s UID %d: stored message %q was never sent", u, msg.UID, id)
			case !bytes.Equal(body, m.raw):
				fail("%s UID %d: message %s stored with different bytes (%d stored, %d sent)", u, msg.UID, id, len(body), len(m.raw))
			case !contains(m.rcpts, u):
				fail("%s UID %d: message %s stored for a user it was not sent to (%v)", u, msg.UID, id, m.rcpts)
			default:
				s.sent = m
				if found[id] == nil {
					found[id] = map[string]int{}
				}
				found[id][u]++
			}
			perUser[u] = append(perUser[u], s)
			perShard[usr.Shard] = append(perShard[usr.Shard], s)
		}
		if f.Messages != int64(len(msgs)) || f.Bytes != bytesSum {
			fail("%s: INBOX counts %d messages, %d bytes; it holds %d messages, %d bytes", u, f.Messages, f.Bytes, len(msgs), bytesSum)
		}
		if len(msgs) > 0 && (f.UIDNext <= maxUID || f.HighestModSeq < maxModSeq) {
			fail("%s: UIDNEXT %d / HIGHESTMODSEQ %d not above the highest UID %d / MODSEQ %d", u, f.UIDNext, f.HighestModSeq, maxUID, maxModSeq)
		}
		if used, n, err := mb.Usage(ctx); err != nil || used != bytesSum || n != int64(len(msgs)) {
			fail("%s: quota usage %d bytes, %d messages (err %v); the mailbox holds %d bytes, %d messages", u, used, n, err, bytesSum, len(msgs))
		}
		t.Logf("%s (shard %d): %d messages, UIDNEXT %d, HIGHESTMODSEQ %d", u, usr.Shard, len(msgs), f.UIDNext, f.HighestModSeq)
	}

	// Every acknowledged delivery is there exactly once; a refused one is
	// not there at all; an unacknowledged one at most once.
	missing := 0
	for _, m := range sent {
		for _, u := range m.rcpts {
			n := found[m.id][u]
			switch {
			case m.acked(u) && n != 1:
				missing++
				fail("message %s acknowledged for %s is stored %d times", m.id, u, n)
			case m.refused(u) && n != 0:
				fail("message %s refused for %s (%v) is stored %d times", m.id, u, m.replies[u], n)
			case n > 1:
				fail("message %s (unacknowledged) is stored %d times for %s", m.id, n, u)
			}
		}
	}

	// Bodies not referenced by any message: the leftovers of deliveries
	// killed between starting to store the body and committing. A whole
	// one must be something that was sent; a partial one, the beginning
	// of a message sent with that hash.
	bySum := map[blob.Hash]*sentMessage{}
	for _, m := range sent {
		bySum[m.sum] = m
	}
	orphans := 0
	for name := range files {
		h, err := blob.ParseHash(name)
		if err != nil {
			fail("unexpected file in blobs/: %s", name)
			continue
		}
		if referenced[h] {
			if partial[name] {
				fail("referenced body %s is damaged", name)
			}
			continue
		}
		orphans++
		body, err := readBody(data.Store, h)
		if err != nil {
			fail("orphan body %s: %v", name, err)
			continue
		}
		if partial[name] {
			if m := bySum[h]; m == nil || !bytes.HasPrefix(m.raw, body) {
				fail("orphan body %s holds %d bytes that begin no message sent with that hash", name, len(body))
			}
			continue
		}
		id := headerValue(body, "Message-ID")
		if len(id) > 2 {
			id = id[1 : len(id)-1]
		}
		if m := byID[id]; m == nil || m.sum != h {
			fail("orphan body %s is not a message that was sent", name)
		}
	}
	t.Logf("%d body files, %d unreferenced (deliveries interrupted by a kill), %d of them partial", len(files), orphans, len(partial))

	// The orphan sweep removes the unreferenced files, partial ones
	// included, and nothing else.
	if n, err := data.Store.SweepOrphans(ctx, -time.Second); err != nil || n != orphans {
		fail("orphan sweep removed %d files (err %v), want %d", n, err, orphans)
	}
	after := blobFiles(t, dataDir)
	for name := range files {
		h, _ := blob.ParseHash(name)
		if _, ok := after[name]; ok != referenced[h] {
			fail("after the orphan sweep, body %s referenced=%v but present=%v", name, referenced[h], ok)
		}
	}

	// Ordering: a delivery acknowledged before another began has the
	// smaller UID (per folder) and the smaller MODSEQ (per shard): UIDs
	// and MODSEQs only increase and are never reused, crashes included.
	checkOrder := func(what string, list []stored, key func(store.Message) int64) {
		sort.Slice(list, func(i, j int) bool { return key(list[i].msg) < key(list[j].msg) })
		var latestStart time.Time
		var latest stored
		for i, s := range list {
			if i > 0 && key(s.msg) == key(list[i-1].msg) && what == "UID" {
				fail("%s %d used twice", what, key(s.msg))
			}
			if s.sent == nil {
				continue
			}
			if s.sent.acked(s.user) && latestStart.After(s.sent.end) {
				fail("%s order: %s for %s acknowledged at +%v has %s %d, but %s for %s, begun after that (+%v), has the smaller %d",
					what, s.sent.id, s.user, s.sent.end.Sub(sent[0].start), what, key(s.msg),
					latest.sent.id, latest.user, latest.sent.start.Sub(sent[0].start), key(latest.msg))
			}
			if s.sent.start.After(latestStart) {
				latestStart, latest = s.sent.start, s
			}
		}
	}
	for _, u := range users {
		checkOrder("UID", perUser[u], func(m store.Message) int64 { return int64(m.UID) })
	}
	for _, list := range perShard {
		checkOrder("MODSEQ", list, func(m store.Message) int64 { return m.ModSeq })
	}

	// The change log holds every change: one append per stored message,
	// with its UID, MODSEQ and body; appends in increasing UID and MODSEQ
	// order per folder; MODSEQs never decreasing along the log; no append
	// of a message that is not there (nothing was expunged).
	for _, sh := range data.Store.Shards() {
		changes := allChanges(t, sh)
		lastUID := map[int64]uint32{}
		lastModSeq := map[int64]int64{}
		appends := map[folderKey]map[uint32]int{}
		var prev store.Change
		for i, c := range changes {
			if i > 0 && (c.ID <= prev.ID || c.ModSeq < prev.ModSeq) {
				fail("shard %d: change %d (MODSEQ %d) after change %d (MODSEQ %d)", sh.Index, c.ID, c.ModSeq, prev.ID, prev.ModSeq)
			}
			prev = c
			switch c.Kind {
			case store.ChangeAppend:
			case store.ChangeExpunge, store.ChangeFlags:
				fail("shard %d: unexpected %v change %+v", sh.Index, c.Kind, c)
				continue
			default:
				continue
			}
			key := folderKey{sh.Index, c.Folder}
			if c.UID <= lastUID[c.Folder] || c.ModSeq <= lastModSeq[c.Folder] {
				fail("shard %d folder %d: append UID %d MODSEQ %d (change %d) after UID %d MODSEQ %d",
					sh.Index, c.Folder, c.UID, c.ModSeq, c.ID, lastUID[c.Folder], lastModSeq[c.Folder])
			}
			lastUID[c.Folder], lastModSeq[c.Folder] = c.UID, c.ModSeq
			if appends[key] == nil {
				appends[key] = map[uint32]int{}
			}
			appends[key][c.UID]++
			msgs, ok := storedIn[key]
			if !ok {
				fail("shard %d: append to unknown folder %d: %+v", sh.Index, c.Folder, c)
				continue
			}
			msg, ok := msgs[c.UID]
			switch {
			case !ok:
				fail("shard %d folder %d: change log appends UID %d (change %d), which is not stored", sh.Index, c.Folder, c.UID, c.ID)
			case msg.ModSeq != c.ModSeq || msg.BodyID != c.BodyID:
				fail("shard %d folder %d UID %d: stored MODSEQ %d body %d, logged MODSEQ %d body %d",
					sh.Index, c.Folder, c.UID, msg.ModSeq, msg.BodyID, c.ModSeq, c.BodyID)
			}
		}
		for key, msgs := range storedIn {
			if key.shard != sh.Index {
				continue
			}
			for uid := range msgs {
				if n := appends[key][uid]; n != 1 {
					fail("shard %d folder %d UID %d: stored, with %d append entries in the change log", sh.Index, key.folder, uid, n)
				}
			}
		}
	}
	if missing > 0 {
		t.Errorf("%d acknowledged deliveries are missing or duplicated", missing)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
