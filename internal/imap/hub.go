package imap

import (
	"context"
	"log/slog"
	"slices"
	"sync"

	"github.com/petrelmail/petrel/internal/store"
)

// hub wakes the sessions whose mailbox changed. It is fed by the
// replicator of each shard (see package replication) through a Notifier,
// the live-session consumer of the change log: one reader per shard
// however many sessions there are, so a busy shard does not make every
// idle session query the database. A woken session then reads its
// folder's changes itself (store.Mailbox.Sync), from its own position, so
// a wake-up that comes late or twice loses nothing and repeats nothing.
type hub struct {
	log  *slog.Logger
	mu   sync.Mutex
	subs []map[int64]map[*watch]struct{} // per shard: mailbox ID -> watches
}

// watch is a session's subscription to one mailbox: wake has room for one
// signal, so signals coalesce while the session is busy.
type watch struct {
	shard   int
	mailbox int64
	wake    chan struct{}
}

func newHub(shards int, log *slog.Logger) *hub {
	h := &hub{log: log}
	for range shards {
		h.subs = append(h.subs, map[int64]map[*watch]struct{}{})
	}
	return h
}

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

// listening reports whether a session watches a mailbox of the shard.
func (h *hub) listening(shard int) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return shard >= 0 && shard < len(h.subs) && len(h.subs[shard]) > 0
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

// Notifier is the live-session consumer of one shard's change log: it
// wakes the sessions of the mailboxes the entries name. Its cursor lives
// in memory and starts at the head of the log (sessions read their state
// from the store when they start, not from the log); it survives a
// restart of the replicator, so the entries written meanwhile still wake
// their sessions.
type Notifier struct {
	h     *hub
	shard *store.Shard
	mu    sync.Mutex
	set   bool
	pos   int64
}

// Notifier returns the live-session consumer of a shard's change log, for
// the shard's replicator: the same one at every call, so that a replicator
// started again goes on from where the last one stopped.
func (s *Server) Notifier(shard int) *Notifier {
	sh, err := s.store.Shard(shard)
	if err != nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.notifiers[shard]
	if n == nil {
		n = &Notifier{h: s.hub, shard: sh}
		s.notifiers[shard] = n
	}
	return n
}

// Name names the consumer in logs and metrics.
func (n *Notifier) Name() string { return "sessions" }

// Cursor returns the last entry notified; the head of the log at first.
func (n *Notifier) Cursor(ctx context.Context) (int64, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if !n.set {
		_, head, err := n.shard.LogBounds(ctx)
		if err != nil {
			return 0, err
		}
		n.pos, n.set = head, true
	}
	return n.pos, nil
}

// Idle reports that no session watches a mailbox of the shard: the
// replicator then reads nothing for the notifier (replication.Skipper). A
// session subscribes before it reads its folder, so the entries it would
// have been woken for before it subscribed are in what it reads.
func (n *Notifier) Idle() bool { return !n.h.listening(n.shard.Index) }

// Skip moves the notifier's cursor to head, entries up to which no session
// needs.
func (n *Notifier) Skip(head int64) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.pos, n.set = max(n.pos, head), true
}

// Apply wakes the sessions of every mailbox the entries name.
func (n *Notifier) Apply(ctx context.Context, changes []store.Change) error {
	ids := make([]int64, 0, 4)
	for _, c := range changes {
		if !slices.Contains(ids, c.Mailbox) {
			ids = append(ids, c.Mailbox)
		}
	}
	n.h.wakeMailboxes(n.shard.Index, ids)
	n.mu.Lock()
	n.pos, n.set = changes[len(changes)-1].ID, true
	n.mu.Unlock()
	return nil
}
