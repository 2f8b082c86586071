package replication

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/petrelmail/petrel/internal/fts"
	"github.com/petrelmail/petrel/internal/store"
)

// Consumer is one reader of a shard's change log.
//
// Apply receives entries in log order, starting just after the consumer's
// cursor, and must record the ID of the last one as its new cursor
// together with its effects (in one transaction for a durable consumer).
// Entries are delivered at least once: after a crash, or when Apply
// failed, the same entries come again, so Apply must be idempotent.
type Consumer interface {
	// Name names the consumer in logs and metrics.
	Name() string
	// Cursor returns the ID of the last entry applied (0 for none).
	Cursor(ctx context.Context) (int64, error)
	Apply(ctx context.Context, changes []store.Change) error
}

// A Skipper is a consumer that may have no use for the log for a while
// (the live-session notifications of a shard with no session): while
// Idle reports true, its follower reads nothing and moves its cursor to
// the head the shard knew before Idle was asked (Skip), so that an entry
// committed after that moment is applied if the consumer is no longer
// idle by then. Under a delivery load with no session watching, reading
// the log for nobody took about a tenth of the server's CPU.
type Skipper interface {
	Consumer
	Idle() bool
	Skip(head int64)
}

// Options configure the replicators of a data folder.
type Options struct {
	DataDir string
	// BatchSize is the most entries applied per batch (default 1000).
	BatchSize int
	// RestartDelay is how long a stopped replicator waits before it
	// starts again (default 1 s).
	RestartDelay time.Duration
	// Poll is how often a replicator looks for entries written by
	// another process (the admin command line) and for queued requests
	// (default 2 s). Entries written by this process wake it at once.
	Poll time.Duration
	// Coalesce is how long the index consumer waits after being woken
	// by a new entry before reading the log, so that entries arriving
	// together are applied together (default 200ms; negative: no wait).
	// A search never waits for the index (it reads the messages past
	// its watermark itself), so the wait costs searches a little time,
	// never a result; and each batch is one segment of the posting lists, so small
	// batches under a steady delivery load cost merges and disk flushes
	// that deliveries then wait for.
	Coalesce time.Duration
	// MaxCoalesce bounds the longer waits of the index under a
	// sustained load (see coalesce; default 1 s, at least Coalesce).
	MaxCoalesce time.Duration
	// LogRetention is how long change log entries are kept once every
	// consumer has applied them (default 7 days; negative: for ever).
	LogRetention time.Duration
	// CompactEvery is how often each replicator compacts its shard's
	// change log (default 1 hour).
	CompactEvery time.Duration
	// Consumers returns the consumers of a shard other than the search
	// index (live-session notifications), or nil.
	Consumers func(shard int) []Consumer
	Log       *slog.Logger
}

// DefaultLogRetention is how long applied change log entries are kept by
// default: long enough to look back at a week of a shard's history, short
// enough that the log does not grow with every message ever delivered.
const DefaultLogRetention = 7 * 24 * time.Hour

// Manager runs one replicator per shard, restarting those that stop, and
// answers the operations on them (status, progress, requeue, reindex).
type Manager struct {
	opts    Options
	st      *store.Store
	state   *stateDB
	indexes []*fts.Index
	log     *slog.Logger

	mu      sync.Mutex
	running []*replicator // by shard; nil when the shard's replicator is not running here
	kicks   []chan struct{}
	wg      sync.WaitGroup
	// gate is shared by the live index consumers of every shard
	// (liveGate).
	gate chan struct{}
}

// IndexPath is where a shard's search index lives.
func IndexPath(dataDir string, shard int) string {
	return filepath.Join(dataDir, "index", fmt.Sprintf("shard-%d.db", shard))
}

// Open opens the search index of every shard of st and the replication
// state. It starts nothing: Start runs the replicators (the server does),
// and a command line can use the Manager's operations without them.
func Open(ctx context.Context, st *store.Store, opts Options) (*Manager, error) {
	if opts.BatchSize <= 0 {
		opts.BatchSize = 1000
	}
	if opts.RestartDelay <= 0 {
		opts.RestartDelay = time.Second
	}
	if opts.Coalesce == 0 {
		opts.Coalesce = 200 * time.Millisecond
	}
	if opts.MaxCoalesce == 0 {
		opts.MaxCoalesce = time.Second
	}
	opts.MaxCoalesce = max(opts.MaxCoalesce, opts.Coalesce)
	if opts.Poll <= 0 {
		opts.Poll = 2 * time.Second
	}
	if opts.LogRetention == 0 {
		opts.LogRetention = DefaultLogRetention
	}
	if opts.CompactEvery <= 0 {
		opts.CompactEvery = time.Hour
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	for _, dir := range []string{"index", "replication"} {
		if err := os.MkdirAll(filepath.Join(opts.DataDir, dir), 0o750); err != nil {
			return nil, err
		}
	}
	m := &Manager{opts: opts, st: st, log: opts.Log, gate: liveGate()}
	var err error
	if m.state, err = openState(ctx, filepath.Join(opts.DataDir, "replication", "state.db")); err != nil {
		return nil, err
	}
	for i := range st.Shards() {
		ix, err := fts.Open(ctx, IndexPath(opts.DataDir, i))
		if err != nil {
			m.Close()
			return nil, err
		}
		m.indexes = append(m.indexes, ix)
	}
	m.running = make([]*replicator, len(m.indexes))
	m.kicks = make([]chan struct{}, len(m.indexes))
	for i := range m.kicks {
		m.kicks[i] = make(chan struct{}, 1)
	}
	return m, nil
}

// Close stops the replicators and closes the indexes.
func (m *Manager) Close() error {
	m.mu.Lock()
	for _, r := range m.running {
		if r != nil {
			r.cancel()
		}
	}
	m.mu.Unlock()
	m.wg.Wait()
	var errs []error
	for _, ix := range m.indexes {
		errs = append(errs, ix.Close())
	}
	if m.state != nil {
		errs = append(errs, m.state.close())
	}
	return errors.Join(errs...)
}

// Index returns the search index of a shard (nil for no such shard).
func (m *Manager) Index(shard int) *fts.Index {
	if shard < 0 || shard >= len(m.indexes) {
		return nil
	}
	return m.indexes[shard]
}

// Start runs a supervised replicator for every shard until ctx ends.
func (m *Manager) Start(ctx context.Context) {
	for i := range m.indexes {
		m.wg.Add(1)
		go func() {
			defer m.wg.Done()
			m.supervise(ctx, i)
		}()
	}
}

// supervise keeps the shard's replicator running: it takes the shard's
// lease, runs the replicator until it stops (killed, or a fatal error),
// and starts it again after RestartDelay. While another process holds
// the lease it waits.
func (m *Manager) supervise(ctx context.Context, shard int) {
	label := strconv.Itoa(shard)
	// The shard's counters exist from the start, at 0, so that a rate
	// over them is defined before the first message is replicated.
	metricMessages.WithLabelValues(label).Add(0)
	for ctx.Err() == nil {
		l, err := acquireLease(m.opts.DataDir, shard)
		if err != nil {
			if !errors.Is(err, errLeaseHeld) {
				m.log.Error("replication lease", "shard", shard, "err", err)
			}
		} else {
			r := m.newReplicator(ctx, shard, l)
			metricActive.WithLabelValues(label).Set(1)
			m.log.Info("replicator started", "shard", shard)
			err := r.run()
			metricActive.WithLabelValues(label).Set(0)
			l.release()
			m.mu.Lock()
			m.running[shard] = nil
			m.mu.Unlock()
			if ctx.Err() != nil {
				return
			}
			m.log.Warn("replicator stopped", "shard", shard, "err", err, "restart_in", m.opts.RestartDelay)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(m.opts.RestartDelay):
		}
	}
}

// Kill stops the shard's replicator as a crash would (fault injection for
// tests and drills); its supervisor starts it again after RestartDelay.
// It reports whether a replicator was running.
func (m *Manager) Kill(shard int) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if shard < 0 || shard >= len(m.running) || m.running[shard] == nil {
		return false
	}
	m.running[shard].kill(errors.New("killed"))
	return true
}

// replicator is one running replication of a shard: a goroutine per
// consumer, each with its own cursor, and a heartbeat.
type replicator struct {
	m       *Manager
	shard   *store.Shard
	label   string
	ctx     context.Context
	cancel  context.CancelFunc
	index   *indexConsumer
	others  []Consumer
	started time.Time

	cursor  atomic.Int64 // the index's cursor
	dbHead  atomic.Int64 // the log's head as the heartbeat last read it
	killErr atomic.Pointer[error]
	// lastCompact is when the change log was last compacted (follower
	// goroutine of the index only).
	lastCompact time.Time
	minuteMu    sync.Mutex
	minutes     map[int64]int64 // messages replicated per minute since the last heartbeat
}

func (m *Manager) newReplicator(ctx context.Context, shard int, _ *lease) *replicator {
	sh := m.st.Shards()[shard]
	rctx, cancel := context.WithCancel(ctx)
	r := &replicator{m: m, shard: sh, label: strconv.Itoa(shard), ctx: rctx, cancel: cancel,
		index: newIndexConsumer(sh, m.st.Blobs(), m.indexes[shard]), started: time.Now(), minutes: map[int64]int64{}}
	r.index.gate = m.gate
	if m.opts.Consumers != nil {
		r.others = m.opts.Consumers(shard)
	}
	m.mu.Lock()
	m.running[shard] = r
	m.mu.Unlock()
	return r
}

func (r *replicator) kill(err error) {
	r.killErr.Store(&err)
	r.cancel()
}

// run runs the consumers until the replicator is stopped.
func (r *replicator) run() error {
	// An index written by another version of Petrel is emptied by its
	// replicator, which holds the shard's lease, and indexed again.
	if ix := r.m.indexes[r.shard.Index]; ix.Stale() {
		if err := ix.Reset(r.ctx); err != nil {
			return fmt.Errorf("index of another format: %w", err)
		}
		r.m.log.Info("index of another format emptied, indexing again", "shard", r.shard.Index)
	}
	var wg sync.WaitGroup
	for _, c := range r.others {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.follow(c, nil)
		}()
	}
	wg.Add(2)
	go func() {
		defer wg.Done()
		r.follow(r.index, r.maintain)
	}()
	go func() {
		defer wg.Done()
		r.heartbeat()
	}()
	wg.Wait()
	if p := r.killErr.Load(); p != nil {
		return *p
	}
	return r.ctx.Err()
}

// follow applies the log to one consumer until the replicator stops.
// idle, when set, runs when the consumer has caught up (maintenance).
func (r *replicator) follow(c Consumer, idle func(cursor *int64) error) {
	ctx := r.ctx
	log := r.m.log.With("shard", r.shard.Index, "consumer", c.Name())
	backoff := newBackoff()
	var cursor int64
	for {
		var err error
		if cursor, err = c.Cursor(ctx); err == nil {
			break
		}
		if !r.failed(log, c, err, backoff) {
			return
		}
	}
	if c == Consumer(r.index) {
		r.cursor.Store(cursor)
		if err := r.checkLog(cursor); err != nil {
			log.Error("change log check", "err", err)
		}
	}
	poll := time.NewTicker(r.m.opts.Poll)
	defer poll.Stop()
	lastIdle := time.Now()
	var kick chan struct{} // only the consumer with maintenance listens
	if idle != nil {
		kick = r.m.kicks[r.shard.Index]
	}
	for {
		// Maintenance requests run between batches, at least every Poll
		// even on a shard whose log never rests, and at once when
		// kicked.
		if idle != nil {
			kicked := false
			select {
			case <-kick:
				kicked = true
			default:
			}
			if kicked || time.Since(lastIdle) >= r.m.opts.Poll {
				lastIdle = time.Now()
				if err := idle(&cursor); err != nil && ctx.Err() == nil {
					log.Error("replication request", "err", err)
				}
			}
		}
		changed, head := r.shard.Changed()
		if sk, ok := c.(Skipper); ok && sk.Idle() {
			if head > cursor {
				cursor = head
				sk.Skip(head)
			}
			if !r.wait(idle, cursor, changed, poll.C, kick) {
				return
			}
			continue
		}
		n, err := r.applyNext(c, &cursor, log)
		if err != nil {
			if !r.failed(log, c, err, backoff) {
				return
			}
			continue
		}
		backoff.reset()
		if n >= r.m.opts.BatchSize {
			// A full batch: more is waiting now.
			continue
		}
		// Caught up with the log as it was read: what was committed
		// during the batch waits for the wake-up it caused (and, for the
		// index, the coalescing) rather than making a batch of one or
		// two entries at once. Under a steady delivery load every
		// coalesced batch of the index was followed by such a batch, each
		// paying a segment, a merge step and a commit of its own.
		if !r.wait(idle, cursor, changed, poll.C, kick) {
			return
		}
	}
}

// wait waits for the next commit of the shard (changed), the poll or a
// kick (for the consumer with maintenance, idle set); false when the
// replicator stops.
func (r *replicator) wait(idle func(cursor *int64) error, cursor int64, changed <-chan struct{}, poll <-chan time.Time, kick chan struct{}) bool {
	ctx := r.ctx
	select {
	case <-ctx.Done():
		return false
	case <-changed:
		// The index waits a moment after waking so that the
		// deliveries of the next few milliseconds share one
		// batch (one commit, one extraction fan-out) instead of
		// one batch each; live sessions are told at once.
		if idle != nil && r.m.opts.Coalesce > 0 {
			return r.coalesce(cursor, kick)
		}
	case <-poll:
	case <-kick:
		// Put the kick back for the check at the top.
		select {
		case kick <- struct{}{}:
		default:
		}
	}
	return true
}

// Under a sustained load the index's batches grow: when coalesceBusy
// change log entries or more wait after the first Coalesce, the index
// waits on, a Coalesce at a time, until coalesceTarget entries wait,
// MaxCoalesce has passed, a Coalesce went by without a new entry, or a
// maintenance request came. In isolation, Apply costs a third less CPU
// per body in batches of 160 bodies than in batches of 40, the size 200 ms
// gave at 200 deliveries/s per shard (BenchmarkLiveApply in internal/fts:
// fewer segments to write and merge, fewer commits), and that CPU is the
// deliveries'. With one recipient per message an entry is a body. Under a
// trickle, and once a burst is over, nothing changes.
var (
	coalesceBusy   int64 = 16
	coalesceTarget int64 = 160
)

// coalesce waits before the index reads the log past cursor; false when
// the replicator stops. Searches never wait for the index (they read the
// messages past its watermark themselves), so a longer wait costs them a
// few more messages to read, not a result.
func (r *replicator) coalesce(cursor int64, kick chan struct{}) bool {
	deadline := time.Now().Add(r.m.opts.MaxCoalesce)
	busy := coalesceBusy // to start waiting longer; then one entry per step
	for seen := cursor; ; busy = 1 {
		select {
		case <-r.ctx.Done():
			return false
		case <-kick:
			// Put the kick back for the check at the top of follow.
			select {
			case kick <- struct{}{}:
			default:
			}
			return true
		case <-time.After(r.m.opts.Coalesce):
		}
		_, head := r.shard.Changed()
		if head-seen < busy || head-cursor >= coalesceTarget || !time.Now().Before(deadline) {
			return true
		}
		seen = head
	}
}

// applyNext applies the next batch of entries after *cursor to c, and
// returns how many it applied.
func (r *replicator) applyNext(c Consumer, cursor *int64, log *slog.Logger) (int, error) {
	changes, err := r.shard.Changes(r.ctx, *cursor, r.m.opts.BatchSize)
	if err != nil || len(changes) == 0 {
		return 0, err
	}
	start := time.Now()
	if err := c.Apply(r.ctx, changes); err != nil {
		return 0, err
	}
	first, last := changes[0].ID, changes[len(changes)-1].ID
	*cursor = last
	messages := 0
	for _, ch := range changes {
		if ch.Kind == store.ChangeAppend {
			messages++
		}
	}
	d := time.Since(start)
	metricChanges.WithLabelValues(r.label, c.Name()).Add(float64(len(changes)))
	metricBatchSeconds.WithLabelValues(c.Name()).Observe(d.Seconds())
	if c == Consumer(r.index) {
		r.cursor.Store(last)
		metricMessages.WithLabelValues(r.label).Add(float64(messages))
		// The backlog and lag gauges follow each batch, not only the
		// heartbeat's second: a scrape right after the index caught up
		// says so. The head is the one this process knows (no query:
		// that was 2 % of the server's CPU under a delivery load); the
		// heartbeat reads the database's.
		_, head := r.shard.Changed()
		r.gauges(max(head, r.dbHead.Load()))
		r.minuteMu.Lock()
		r.minutes[time.Now().Unix()/60] += int64(messages)
		r.minuteMu.Unlock()
		// The replication log: one line per applied batch.
		log.Info("replicated", "from", first, "to", last, "changes", len(changes), "messages", messages,
			"duration", d.Round(time.Microsecond))
	} else {
		log.Debug("replicated", "from", first, "to", last, "changes", len(changes), "duration", d.Round(time.Microsecond))
	}
	return len(changes), nil
}

// failed counts and logs a consumer's error and waits before the retry;
// it returns false when the replicator is stopping.
func (r *replicator) failed(log *slog.Logger, c Consumer, err error, b *backoff) bool {
	if r.ctx.Err() != nil {
		return false
	}
	metricErrors.WithLabelValues(r.label, c.Name()).Inc()
	log.Error("replication apply failed", "err", err, "retry_in", b.d)
	r.m.state.recordError(context.WithoutCancel(r.ctx), r.shard.Index, c.Name()+": "+err.Error())
	select {
	case <-r.ctx.Done():
		return false
	case <-time.After(b.next()):
		return true
	}
}

// checkLog rebuilds the index when its cursor is behind the start of the
// change log (entries it never applied were compacted away): replaying
// cannot bring it back, the store's bodies can. The cursor then jumps to
// the head seen before the rebuild; entries after it replay as usual.
func (r *replicator) checkLog(cursor int64) error {
	first, last, err := r.shard.LogBounds(r.ctx)
	if err != nil || first == 0 || cursor >= first-1 {
		return err
	}
	r.m.log.Warn("search index behind the change log's start: rebuilding", "shard", r.shard.Index, "cursor", cursor, "log_start", first)
	if _, err := r.index.rebuild(r.ctx, func() int64 { return cursor }, func() error { return nil }); err != nil {
		return err
	}
	if err := r.index.ix.Apply(r.ctx, nil, nil, cursorName, last); err != nil {
		return err
	}
	r.cursor.Store(last)
	return nil
}

// heartbeat publishes the replicator's state every second (metrics) and
// to the state database every few seconds.
func (r *replicator) heartbeat() {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	n := 0
	for {
		if _, head, err := r.shard.LogBounds(r.ctx); err == nil {
			r.dbHead.Store(head)
			r.gauges(head)
		}
		if n%5 == 0 {
			r.minuteMu.Lock()
			minutes := r.minutes
			r.minutes = map[int64]int64{}
			r.minuteMu.Unlock()
			if err := r.m.state.beat(r.ctx, r.shard.Index, os.Getpid(), r.started, minutes); err != nil && r.ctx.Err() == nil {
				r.m.log.Warn("replication heartbeat", "shard", r.shard.Index, "err", err)
			}
		}
		n++
		select {
		case <-r.ctx.Done():
			// Keep the count of the last seconds. A copy: the
			// follower may still be finishing a batch and add to the
			// map.
			r.minuteMu.Lock()
			minutes := maps.Clone(r.minutes)
			r.minuteMu.Unlock()
			if len(minutes) > 0 {
				r.m.state.beat(context.WithoutCancel(r.ctx), r.shard.Index, os.Getpid(), r.started, minutes)
			}
			return
		case <-tick.C:
		}
	}
}

func (r *replicator) gauges(head int64) {
	cursor := r.cursor.Load()
	lag := 0.0
	if head > cursor {
		if _, at, ok, err := r.shard.ChangeAfter(r.ctx, cursor); err == nil && ok {
			lag = max(time.Since(at).Seconds(), 0)
		}
	}
	metricBacklog.WithLabelValues(r.label).Set(float64(max(head-cursor, 0)))
	metricLag.WithLabelValues(r.label).Set(lag)
}

// maintain runs the oldest queued request of the shard, if any, between
// batches of the log.
func (r *replicator) maintain(cursor *int64) error {
	r.compactLog(*cursor)
	req, ok, err := r.m.state.pending(r.ctx, r.shard.Index)
	if err != nil || !ok {
		return err
	}
	if err := r.m.state.start(r.ctx, req.ID); err != nil {
		return err
	}
	log := r.m.log.With("shard", r.shard.Index, "request", req.ID, "kind", req.Kind)
	log.Info("replication request started")
	between := func() error {
		// Keep the index following the log during a long request.
		for {
			n, err := r.applyNext(r.index, cursor, log)
			if err != nil || n == 0 {
				return err
			}
		}
	}
	res, runErr := r.m.execute(r.ctx, r.index, req, func() int64 { return *cursor }, between)
	out, _ := json.Marshal(res)
	if runErr != nil {
		log.Error("replication request failed", "err", runErr)
	} else {
		log.Info("replication request done", "checked", res.Checked, "indexed", res.Indexed, "removed", res.Removed, "missing", res.Missing)
	}
	return r.m.state.finish(context.WithoutCancel(r.ctx), req.ID, string(out), runErr)
}

// compactChunksPerRound bounds the work of one compaction round (about
// 20,000 entries, some tens of milliseconds): a round runs on the index's
// follower between batches, and a log that was never compacted (millions
// of entries after an upgrade) is worked down round after round, one per
// Poll, instead of holding up the index for minutes.
var compactChunksPerRound = 20

// compactLog deletes, every CompactEvery, the change log entries older
// than LogRetention that the index (cursor) and every other consumer have
// applied. While entries old enough are left (more than a round's worth,
// or not applied yet: after a restart with a backlog, the index applies
// its first batch before the first round), it goes on at the next round,
// one per Poll. A failure is logged and tried again at the next
// CompactEvery.
func (r *replicator) compactLog(cursor int64) {
	keep := r.m.opts.LogRetention
	if keep < 0 || time.Since(r.lastCompact) < r.m.opts.CompactEvery {
		return
	}
	log := r.m.log.With("shard", r.shard.Index)
	upTo := cursor
	for _, c := range r.others {
		cur, err := c.Cursor(r.ctx)
		if err != nil {
			r.lastCompact = time.Now()
			log.Warn("change log compaction: consumer's cursor", "consumer", c.Name(), "err", err)
			return
		}
		upTo = min(upTo, cur)
	}
	n, more, err := r.shard.CompactLog(r.ctx, upTo, time.Now().Add(-keep), compactChunksPerRound)
	if !more || err != nil {
		r.lastCompact = time.Now()
	}
	if err != nil {
		if r.ctx.Err() == nil {
			log.Warn("change log compaction", "err", err)
		}
		return
	}
	if n > 0 {
		first, _, _ := r.shard.LogBounds(r.ctx)
		log.Info("change log compacted", "deleted", n, "log_start", first, "more", more)
	}
}

// backoff doubles from 100 ms to 30 s.
type backoff struct{ d time.Duration }

func newBackoff() *backoff { return &backoff{d: 100 * time.Millisecond} }

func (b *backoff) next() time.Duration {
	d := b.d
	b.d = min(2*b.d, 30*time.Second)
	return d
}

func (b *backoff) reset() { b.d = 100 * time.Millisecond }
