package imap

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/petrelmail/petrel/internal/store"
)

// externalPoll is how often the hub looks for changes committed by another
// process (the admin command line), which do not close the shard's
// in-process notification channel.
const externalPoll = 2 * time.Second

// hub follows each shard's change log and wakes the sessions whose mailbox
// changed. It is the live-session consumer of the log: one reader per
// shard however many sessions there are, so a busy shard does not make
// every idle session query the database. A woken session then reads its
// folder's changes itself (store.Mailbox.Sync), from its own position, so a
// wake-up that comes late or twice loses nothing and repeats nothing.
type hub struct {
	log  *slog.Logger
	mu   sync.Mutex
	subs []map[int64]map[*watch]struct{} // per shard: mailbox ID -> watches
	wg   sync.WaitGroup
}

// watch is a session's subscription to one mailbox: wake has room for one
// signal, so signals coalesce while the session is busy.
type watch struct {
	shard   int
	mailbox int64
	wake    chan struct{}
}

func newHub(ctx context.Context, st *store.Store, log *slog.Logger) *hub {
	h := &hub{log: log}
	for i, sh := range st.Shards() {
		h.subs = append(h.subs, map[int64]map[*watch]struct{}{})
		h.wg.Add(1)
		go func() {
			defer h.wg.Done()
			h.follow(ctx, i, sh)
		}()
	}
	return h
}

func (h *hub) wait() { h.wg.Wait() }

// subscribe starts waking w.wake at every change of its mailbox.
func (h *hub) subscribe(shard int, mailbox int64) *watch {
	w := &watch{shard: shard, mailbox: mailbox, wake: make(chan struct{}, 1)}
	h.mu.Lock()
	defer h.mu.Unlock()
	if shard < 0 || shard >= len(h.subs) {
		return w
	}
	m := h.subs[shard][mailbox]
	if m == nil {
		m = map[*watch]struct{}{}
		h.subs[shard][mailbox] = m
	}
	m[w] = struct{}{}
	return w
}

func (h *hub) unsubscribe(w *watch) {
	if w == nil {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if w.shard < 0 || w.shard >= len(h.subs) {
		return
	}
	if m := h.subs[w.shard][w.mailbox]; m != nil {
		delete(m, w)
		if len(m) == 0 {
			delete(h.subs[w.shard], w.mailbox)
		}
	}
}

func (h *hub) wakeMailboxes(shard int, mailboxes []int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, id := range mailboxes {
		for w := range h.subs[shard][id] {
			select {
			case w.wake <- struct{}{}:
			default:
			}
		}
	}
}

func (h *hub) follow(ctx context.Context, index int, sh *store.Shard) {
	cursor, err := sh.Head(ctx)
	if err != nil && ctx.Err() == nil {
		h.log.Error("change log head", "shard", index, "err", err)
	}
	poll := time.NewTicker(externalPoll)
	defer poll.Stop()
	for {
		changed, _ := sh.Changed()
		mailboxes, head, err := sh.ChangedMailboxes(ctx, cursor)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			h.log.Error("read change log", "shard", index, "err", err)
		} else if head > cursor {
			cursor = head
			h.wakeMailboxes(index, mailboxes)
		}
		select {
		case <-ctx.Done():
			return
		case <-changed:
		case <-poll.C:
		}
	}
}
