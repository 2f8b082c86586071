package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// The IMAP workloads (issue 3, point 5, and issue 4, point 4): for each
// server, from a fresh data folder, with one user,
//
//  1. fill user1's INBOX with cfg.messages corpus messages: the first
//     cfg.appendN by single APPENDs over cfg.conns connections, in
//     appendRounds rounds timed one by one (the APPEND rate: the median of
//     the rounds, with their spread), the others by MULTIAPPEND (RFC 3502) in batches of
//     cfg.batch (timed apart), then check the mailbox holds exactly them;
//  2. full-text index: wait for it (Petrel: its replication backlog metric)
//     or build it (Dovecot fts-xapian: doveadm index), timed; then disk
//     usage of the data and of the index;
//  3. SELECT INBOX, then FETCH 1:* (UID FLAGS ENVELOPE BODYSTRUCTURE
//     RFC822.SIZE) cfg.runs+1 times on that connection (the first run, right
//     after the fill, is reported apart from the median of the others);
//     FETCH 1:* BODY.PEEK[] the same way;
//  4. UID SEARCH for a fixed sample of terms (search.go);
//  5. restart the server on the same data, then open cfg.idle connections
//     (LOGIN, SELECT INBOX, then nothing) and measure the memory of the
//     server's processes before and after;
//  6. LMTP deliveries at a steady rate while another connection searches
//     for sampled messages (lag.go).
//
// Steps 3 and 5 belong to the imap workload, 2 and 4 to search, 6 to lag;
// the fill is shared.

type imapConfig struct {
	messages int // messages in the mailbox
	appendN  int // of which added by single APPENDs (the timed APPEND rate)
	batch    int // messages per MULTIAPPEND for the others
	conns    int // APPEND connections
	runs     int // FETCH runs after the first
	idle     int // idle connections
	parallel int // idle connections being opened at a time
	// settle is the wait after opening them before the settled sample
	// (0: no settled sample).
	settle time.Duration
	// startWait is the wait between the restart and the "before" sample;
	// afterWait between the last SELECT and the "after" one (2 s).
	startWait, afterWait time.Duration

	// Steps to run.
	fetch, search, lag, idleStep bool
	// indexTimeout bounds the wait for a full-text index to catch up.
	indexTimeout time.Duration
	searchCfg    searchConfig
	lagCfg       lagConfig
	// xapianMessages caps the mailbox of Dovecot fts-xapian.
	xapianMessages int
	// note says why this server's mailbox is smaller than the others'.
	note string
}

// imapServer is a target that speaks IMAP and can be restarted on the same
// data.
type imapServer interface {
	target
	IMAPAddr() string
	Restart(ctx context.Context) error
	Pgid() int
}

// metricsServer is implemented by servers exposing Prometheus metrics.
type metricsServer interface {
	MetricsURL() string
}

// stepSkipper is implemented by targets that leave out some steps ("fetch",
// "idle", "search", "lag"), with the reason.
type stepSkipper interface {
	SkipStep(step string) string
}

func skipReason(t target, step string) string {
	if s, ok := t.(stepSkipper); ok {
		return s.SkipStep(step)
	}
	return ""
}

const benchMailbox = "INBOX"

type fillResult struct {
	messages  int   // appended
	bytes     int64 // appended
	commands  int   // APPEND commands (MULTIAPPEND: fewer than messages)
	elapsed   time.Duration
	serverCPU float64 // seconds
	foreign   float64
	failures  int
	errors    []string
}

func (f *fillResult) msgsPerSec() float64 { return perSec(float64(f.messages), f.elapsed) }
func (f *fillResult) mbPerSec() float64   { return perSec(float64(f.bytes)/1e6, f.elapsed) }

type fetchRun struct {
	elapsed   time.Duration
	responses int
	bytes     int64   // literal bytes (BODY[]) or the sum of RFC822.SIZE (summary)
	wire      int64   // bytes of the FETCH responses as received
	serverCPU float64 // seconds, from the server's threads' schedstat
}

func (f fetchRun) mbPerSec() float64 { return perSec(float64(f.bytes)/1e6, f.elapsed) }

type idleResult struct {
	conns    int
	open     time.Duration // time to open, LOGIN and SELECT them all
	before   memSample
	after    memSample // 2 s after the last SELECT
	settled  memSample // cfg.settle after the last SELECT (zero if not taken)
	timeline []memSample
	// Go runtime figures of Petrel (empty for other servers).
	metricsBefore, metricsAfter map[string]float64
}

// perConn is the memory per idle connection from a sample taken after.
func (r *idleResult) perConn(after memSample, pss bool) float64 {
	if r.conns == 0 || after.at.IsZero() {
		return 0
	}
	if pss {
		return float64(after.pss-r.before.pss) / float64(r.conns)
	}
	return float64(after.rss-r.before.rss) / float64(r.conns)
}

// final is the sample the per-connection figure is taken from: the settled
// one when there is one.
func (r *idleResult) final() memSample {
	if !r.settled.at.IsZero() {
		return r.settled
	}
	return r.after
}

type imapRecord struct {
	target      string
	messages    int // in the mailbox
	literalPlus bool
	expected    int64         // bytes appended in all
	bareCR      int           // corpus messages whose bare CRs were removed
	fill        *fillResult   // the single APPENDs, all rounds together
	fillRounds  []*fillResult // the same, round by round
	bulk        *fillResult   // the MULTIAPPEND part of the fill (nil if none)
	fillStart   time.Time
	fillEnd     time.Time
	index       *indexResult
	disk        int64 // du of the data after the fill and indexing, -1 unknown
	indexDisk   int64 // du of the full-text index, -1 when none or unknown
	selectTime  time.Duration
	summary     []fetchRun // [0] is the first run after the fill
	bodies      []fetchRun
	// fetchForeign is the share of the machine's CPU used by other
	// processes over all the FETCH runs (too short one by one for the
	// 10 ms resolution of /proc/stat).
	fetchForeign float64
	idle         *idleResult
	search       *searchRecord
	lag          *lagResult
	// skipped: steps left out for this server, with the reason.
	skipped map[string]string
	note    string // why the mailbox is smaller, if it is
	// idleNote says why this server had fewer idle connections.
	idleNote string
	err      error
	logTail  string // last lines of the server's log, on failure
}

func (r *imapRecord) skip(step, why string) {
	if r.skipped == nil {
		r.skipped = map[string]string{}
	}
	r.skipped[step] = why
}

func perSec(x float64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return x / d.Seconds()
}

// imapMessages returns the n messages of the mailbox: the corpus in its
// order, then again as many times as needed. Copies after the first pass
// get a Message-ID of their own (see withMessageID), so that no two
// messages of the mailbox have the same bytes. Bare CRs (a CR not followed
// by LF, which RFC 5322 does not allow) are removed: servers treat them
// differently (Dovecot turns CR CR LF into CR LF), and the FETCH checks
// compare the sizes served with the bytes appended. fixed counts the
// corpus messages (among those used) that had bare CRs.
func imapMessages(corpus []message, n int) (msgs [][]byte, fixed int) {
	clean := make([][]byte, min(n, len(corpus)))
	for i := range clean {
		clean[i] = stripBareCR(corpus[i].data)
		if len(clean[i]) != len(corpus[i].data) {
			fixed++
		}
	}
	msgs = make([][]byte, n)
	for i := range msgs {
		m := clean[i%len(clean)]
		if pass := i / len(clean); pass > 0 {
			m = withMessageID(m, fmt.Sprintf("<petrel-bench.copy%d.%d@%s>", pass, i%len(clean), benchDomain))
		}
		msgs[i] = m
	}
	return msgs, fixed
}

// stripBareCR returns b without the CRs that are not followed by LF (b
// itself when there are none).
func stripBareCR(b []byte) []byte {
	has := false
	for i, c := range b {
		if c == '\r' && (i+1 == len(b) || b[i+1] != '\n') {
			has = true
			break
		}
	}
	if !has {
		return b
	}
	out := make([]byte, 0, len(b))
	for i, c := range b {
		if c == '\r' && (i+1 == len(b) || b[i+1] != '\n') {
			continue
		}
		out = append(out, c)
	}
	return out
}

// withMessageID returns msg (CRLF lines) with a new first header field
// "Message-ID: id"; the message's own Message-ID fields, if any, are renamed
// X-Original-Message-ID (their value and folding untouched).
func withMessageID(msg []byte, id string) []byte {
	out := make([]byte, 0, len(msg)+len(id)+40)
	out = append(out, "Message-ID: "...)
	out = append(out, id...)
	out = append(out, "\r\n"...)
	rest := msg
	for len(rest) > 0 {
		line := rest
		if i := bytes.Index(rest, []byte("\r\n")); i >= 0 {
			line = rest[:i+2]
		}
		rest = rest[len(line):]
		if bytes.Equal(line, []byte("\r\n")) {
			// End of the header.
			out = append(out, line...)
			break
		}
		if len(line) >= 11 && bytes.EqualFold(line[:11], []byte("message-id:")) {
			out = append(out, "X-Original-"...)
		}
		out = append(out, line...)
	}
	return append(out, rest...)
}

const (
	summaryFetch = "FETCH 1:* (UID FLAGS ENVELOPE BODYSTRUCTURE RFC822.SIZE)"
	bodyFetch    = "FETCH 1:* BODY.PEEK[]"
)

// indexedBeforeFetch waits, on Petrel, until the fill is indexed, so that
// FETCH is timed alone: Petrel indexes in the background, and when the
// index step has not waited for it already (an IMAP-only run), FETCH would
// compete with the indexing, the more so the faster the fill.
func indexedBeforeFetch(ctx context.Context, t imapServer, n int, rec *imapRecord, cfg imapConfig, indexStep bool) error {
	p, ok := t.(*petrelTarget)
	if !ok || indexStep {
		return nil
	}
	ir, err := p.caughtUp(ctx, n, rec.fillStart, rec.fillEnd, cfg.indexTimeout)
	if err != nil {
		return fmt.Errorf("full-text index before FETCH: %w", err)
	}
	if !ir.available {
		logf("imap, %s: could not wait for the full-text index before FETCH: %s", t.Name(), ir.note)
	}
	return nil
}

// runIMAP runs the IMAP workloads on t from a fresh data folder.
func runIMAP(ctx context.Context, t imapServer, corpus []message, cfg imapConfig) imapRecord {
	rec := imapRecord{target: t.Name(), messages: cfg.messages, disk: -1, indexDisk: -1, note: cfg.note}
	if len(corpus) == 0 {
		rec.err = errors.New("empty corpus")
		return rec
	}
	ix, _ := t.(indexMeasurer)
	if ix != nil && !ix.FullTextIndex() {
		ix = nil
	}
	indexStep := ix != nil && (cfg.search || cfg.lag)
	if ix != nil {
		ix.BeforeFill(indexStep)
	}
	if err := t.Start(ctx); err != nil {
		rec.err = fmt.Errorf("start: %w", err)
		return rec
	}
	defer t.Stop()
	user := t.Users()[0]
	msgs, fixed := imapMessages(corpus, cfg.messages)
	rec.bareCR = fixed
	for _, m := range msgs {
		rec.expected += int64(len(m))
	}

	// 1. APPEND, then MULTIAPPEND.
	n := min(cfg.appendN, len(msgs))
	rec.fillStart = time.Now()
	fill, lp, err := appendInRounds(ctx, t, user, msgs[:n], cfg.conns, &rec.fillRounds)
	rec.fill, rec.literalPlus = fill, lp
	if err != nil {
		rec.err = fmt.Errorf("APPEND: %w", err)
		return rec
	}
	logf("imap, %s: APPEND %d msgs in %.2fs = %.1f msg/s, %.2f MB/s (%d conns, LITERAL+ %v)",
		t.Name(), fill.messages, fill.elapsed.Seconds(), fill.msgsPerSec(), fill.mbPerSec(), cfg.conns, lp)
	if n < len(msgs) {
		batch := max(cfg.batch, 1)
		if !lp {
			batch = 1 // MULTIAPPEND is only sent with non-synchronizing literals
		}
		bulk, _, err := imapFill(ctx, t, user, msgs[n:], cfg.conns, batch)
		rec.bulk = bulk
		if err != nil {
			rec.err = fmt.Errorf("MULTIAPPEND: %w", err)
			return rec
		}
		logf("imap, %s: MULTIAPPEND %d msgs in %d commands in %.2fs = %.1f msg/s",
			t.Name(), bulk.messages, bulk.commands, bulk.elapsed.Seconds(), bulk.msgsPerSec())
	}
	rec.fillEnd = time.Now()
	if rec.selectTime, err = checkCount(ctx, t, user, len(msgs)); err != nil {
		rec.err = err
		return rec
	}

	// 2. Full-text index and disk.
	if indexStep {
		ir, err := ix.IndexAfterFill(ctx, user, len(msgs), rec.fillStart, rec.fillEnd, cfg.indexTimeout)
		rec.index = ir
		if err != nil {
			rec.err = fmt.Errorf("full-text index: %w", err)
			return rec
		}
		if ir.available {
			logf("imap, %s: full-text index of %d msgs: %s (%.1f msg/s)", t.Name(), ir.messages, ir.elapsed.Round(time.Millisecond), ir.rate())
		} else {
			logf("imap, %s: full-text index: n/a (%s)", t.Name(), ir.note)
		}
	}
	if cfg.search || cfg.lag {
		if du, err := t.DiskUsage(); err == nil {
			rec.disk = du
		} else {
			logf("imap, %s: disk usage: %v", t.Name(), err)
		}
		if ix != nil {
			if n, err := ix.IndexSize(); err == nil {
				rec.indexDisk = n
			} else {
				logf("imap, %s: index size: n/a (%v)", t.Name(), err)
			}
		}
		logf("imap, %s: disk %.1f MiB (%.1f KiB/msg), full-text index %s", t.Name(), mib(rec.disk),
			float64(rec.disk)/1024/float64(len(msgs)), fmtSize(rec.indexDisk))
	}

	// 3. FETCH.
	if cfg.fetch {
		if why := skipReason(t, "fetch"); why != "" {
			rec.skip("fetch", why)
		} else if err := indexedBeforeFetch(ctx, t, len(msgs), &rec, cfg, indexStep); err != nil {
			rec.err = err
			return rec
		} else if err := imapFetches(ctx, t, user, cfg, &rec); err != nil {
			rec.err = err
			return rec
		}
	}

	// 4. SEARCH.
	if cfg.search {
		if why := skipReason(t, "search"); why != "" {
			rec.skip("search", why)
		} else {
			sr, err := runSearches(ctx, t, user, cfg.searchCfg)
			rec.search = sr
			if err != nil {
				rec.err = fmt.Errorf("SEARCH: %w", err)
				return rec
			}
		}
	}

	// 5. Idle connections.
	if cfg.idleStep && cfg.idle > 0 {
		if why := skipReason(t, "idle"); why != "" {
			rec.skip("idle", why)
		} else {
			t0 := time.Now()
			if err := t.Restart(ctx); err != nil {
				rec.err = fmt.Errorf("restart before the idle connections: %w", err)
				return rec
			}
			logf("imap, %s: restarted in %.1fs", t.Name(), time.Since(t0).Seconds())
			if n, why := idleConns(t, cfg.idle); n != cfg.idle {
				cfg.idle = n
				rec.idleNote = why
			}
			idle, err := imapIdle(ctx, t, user, cfg)
			rec.idle = idle
			if err != nil {
				rec.err = fmt.Errorf("idle connections: %w", err)
				return rec
			}
			// The next step must not run beside hundreds of processes
			// exiting (Dovecot's and Cyrus's one per connection).
			waitProcesses(ctx, t, idle.before.procs+2, 30*time.Second)
		}
	}

	// 6. Lag under steady LMTP load.
	if cfg.lag {
		if why := skipReason(t, "lag"); why != "" {
			rec.skip("lag", why)
		} else {
			lr, err := runLag(ctx, t, user, cfg.lagCfg)
			rec.lag = lr
			if err != nil {
				rec.err = fmt.Errorf("lag: %w", err)
				return rec
			}
		}
	}
	return rec
}

// idleConns returns how many idle connections t is given, and why when
// fewer than n.
func idleConns(t target, n int) (int, string) {
	if c, ok := t.(interface{ IdleConns(int) (int, string) }); ok {
		return c.IdleConns(n)
	}
	return n, ""
}

// waitProcesses waits until the server has at most n processes, or their
// number has not changed for half a second (Cyrus keeps its imapd
// processes for the next connections), or for at most timeout.
func waitProcesses(ctx context.Context, t imapServer, n int, timeout time.Duration) {
	deadline := time.Now().Add(timeout)
	last, since := -1, time.Now()
	for time.Now().Before(deadline) && ctx.Err() == nil {
		pid := t.Pgid()
		if pid <= 0 {
			return
		}
		k := len(serverPids(pid))
		if k <= n || k == last && time.Since(since) >= 500*time.Millisecond {
			return
		}
		if k != last {
			last, since = k, time.Now()
		}
		_ = sleepCtx(ctx, 50*time.Millisecond)
	}
}

// checkCount selects the mailbox on a new connection and checks it holds
// exactly n messages; it returns how long the SELECT took.
func checkCount(ctx context.Context, t imapServer, user string, n int) (time.Duration, error) {
	c, err := dialIMAP(ctx, t.IMAPAddr(), 16<<10)
	if err != nil {
		return 0, fmt.Errorf("connection after the fill: %w", err)
	}
	defer c.logout()
	if err := c.login(user, benchPassword); err != nil {
		return 0, err
	}
	t0 := time.Now()
	exists, err := c.selectMailbox(benchMailbox)
	d := time.Since(t0)
	if err != nil {
		return d, err
	}
	if exists != n {
		return d, fmt.Errorf("SELECT INBOX after the fill: %d EXISTS, want %d", exists, n)
	}
	return d, nil
}

// imapFill appends msgs to the user's INBOX over conns connections, batch
// messages per APPEND command (MULTIAPPEND when batch > 1, which needs
// LITERAL+).
// appendRounds is the number of rounds the timed single APPENDs are split
// into, so that their rate is a median with a spread (issue 6, point 2)
// without a second fill of the mailbox.
const appendRounds = 5

// appendInRounds appends msgs one per APPEND in appendRounds rounds (fewer
// when there are fewer messages), each on fresh connections and timed
// alone; it appends each round's result to rounds and returns their sum.
func appendInRounds(ctx context.Context, t imapServer, user string, msgs [][]byte, conns int, rounds *[]*fillResult) (*fillResult, bool, error) {
	k := max(1, min(appendRounds, len(msgs)))
	sum := &fillResult{}
	literalPlus := true
	for i := range k {
		part := msgs[i*len(msgs)/k : (i+1)*len(msgs)/k]
		f, lp, err := imapFill(ctx, t, user, part, conns, 1)
		if f != nil {
			*rounds = append(*rounds, f)
			sum.messages += f.messages
			sum.bytes += f.bytes
			sum.commands += f.commands
			sum.elapsed += f.elapsed
			sum.serverCPU += f.serverCPU
			sum.foreign += f.foreign * f.elapsed.Seconds() // weighted, divided below
			sum.failures += f.failures
			sum.errors = append(sum.errors, f.errors...)
		}
		literalPlus = literalPlus && lp
		if err != nil {
			return sum, literalPlus, err
		}
	}
	if s := sum.elapsed.Seconds(); s > 0 {
		sum.foreign /= s
	}
	return sum, literalPlus, nil
}

func imapFill(ctx context.Context, t imapServer, user string, msgs [][]byte, conns, batch int) (*fillResult, bool, error) {
	cs := make([]*imapConn, conns)
	defer func() {
		for _, c := range cs {
			if c != nil {
				c.logout()
			}
		}
	}()
	literalPlus := true
	for i := range cs {
		c, err := dialIMAP(ctx, t.IMAPAddr(), 64<<10)
		if err != nil {
			return nil, false, fmt.Errorf("connection %d: %w", i+1, err)
		}
		cs[i] = c
		if err := c.login(user, benchPassword); err != nil {
			return nil, false, fmt.Errorf("connection %d: %w", i+1, err)
		}
		literalPlus = literalPlus && c.hasCap("LITERAL+")
	}
	if batch > 1 && !literalPlus {
		return nil, false, errors.New("MULTIAPPEND needs LITERAL+")
	}
	batch = max(batch, 1)
	res := &fillResult{}
	var next atomic.Int64
	var failed atomic.Int64
	var mu sync.Mutex
	var wg sync.WaitGroup
	before := takeCPUSnapshot(t.Pgid())
	t0 := time.Now()
	for _, c := range cs {
		wg.Go(func() {
			n, cmds, failures := 0, 0, 0
			var bytes int64
			var errs []string
			for ctx.Err() == nil && failed.Load() < maxFailures {
				i := int(next.Add(int64(batch))) - batch
				if i >= len(msgs) {
					break
				}
				part := msgs[i:min(i+batch, len(msgs))]
				var err error
				if batch == 1 {
					err = c.appendMessage(benchMailbox, part[0], literalPlus)
				} else {
					err = c.multiAppend(benchMailbox, part)
				}
				if err != nil {
					if ctx.Err() != nil {
						break
					}
					failures += len(part)
					failed.Add(int64(len(part)))
					if len(errs) < keptErrors {
						errs = append(errs, fmt.Sprintf("message #%d (%d messages from it, %d bytes first): %v", i, len(part), len(part[0]), err))
					}
					var se *statusError
					if !errors.As(err, &se) {
						break // not an answer: the connection is gone
					}
					continue
				}
				cmds++
				n += len(part)
				for _, m := range part {
					bytes += int64(len(m))
				}
			}
			mu.Lock()
			defer mu.Unlock()
			res.messages += n
			res.commands += cmds
			res.bytes += bytes
			res.failures += failures
			for _, e := range errs {
				if len(res.errors) < keptErrors {
					res.errors = append(res.errors, e)
				}
			}
		})
	}
	wg.Wait()
	res.elapsed = time.Since(t0)
	after := takeCPUSnapshot(t.Pgid())
	res.serverCPU = after.server - before.server
	res.foreign = foreignCPU(before, after, runtime.NumCPU())
	if err := ctx.Err(); err != nil {
		return res, literalPlus, err
	}
	if res.failures > 0 {
		return res, literalPlus, fmt.Errorf("%d of %d messages not appended (first: %s)", res.failures, len(msgs), res.errors[0])
	}
	return res, literalPlus, nil
}

// imapFetches selects INBOX and runs the FETCH commands, filling rec.
func imapFetches(ctx context.Context, t imapServer, user string, cfg imapConfig, rec *imapRecord) error {
	c, err := dialIMAP(ctx, t.IMAPAddr(), 256<<10)
	if err != nil {
		return fmt.Errorf("FETCH connection: %w", err)
	}
	defer c.logout()
	if err := c.login(user, benchPassword); err != nil {
		return err
	}
	exists, err := c.selectMailbox(benchMailbox)
	if err != nil {
		return err
	}
	if exists != cfg.messages {
		return fmt.Errorf("SELECT INBOX before the FETCH runs: %d EXISTS, want %d", exists, cfg.messages)
	}
	rec.fetchForeign = -1
	before := takeCPUSnapshot(t.Pgid())
	defer func() {
		rec.fetchForeign = foreignCPU(before, takeCPUSnapshot(t.Pgid()), runtime.NumCPU())
	}()
	for i := 0; i <= cfg.runs; i++ {
		r, err := timedFetch(ctx, c, t, summaryFetch, cfg.messages, false)
		if err != nil {
			return fmt.Errorf("%s, run %d: %w", summaryFetch, i+1, err)
		}
		if r.bytes != rec.expected {
			return fmt.Errorf("%s, run %d: RFC822.SIZE adds up to %d bytes, %d were appended", summaryFetch, i+1, r.bytes, rec.expected)
		}
		rec.summary = append(rec.summary, r)
		logf("imap, %s: %s run %d: %.1f ms", t.Name(), summaryFetch, i+1, ms(r.elapsed))
	}
	for i := 0; i <= cfg.runs; i++ {
		r, err := timedFetch(ctx, c, t, bodyFetch, cfg.messages, true)
		if err != nil {
			return fmt.Errorf("%s, run %d: %w", bodyFetch, i+1, err)
		}
		if r.bytes != rec.expected {
			return fmt.Errorf("%s, run %d: %d body bytes, %d were appended", bodyFetch, i+1, r.bytes, rec.expected)
		}
		rec.bodies = append(rec.bodies, r)
		logf("imap, %s: %s run %d: %.1f ms, %.1f MB/s", t.Name(), bodyFetch, i+1, ms(r.elapsed), r.mbPerSec())
	}
	return nil
}

// timedFetch runs one FETCH 1:* and checks there is exactly one response
// per message, each with the items asked for.
func timedFetch(ctx context.Context, c *imapConn, t imapServer, cmd string, n int, bodies bool) (fetchRun, error) {
	var r fetchRun
	seen := make([]bool, n+1)
	distinct := 0
	var bad error
	each := func(text []byte, litBytes int64) error {
		seq, ok := untaggedNumber(text, "FETCH")
		if !ok {
			return nil // EXISTS, FLAGS or other untagged data
		}
		r.responses++
		r.wire += int64(len(text)) + litBytes
		if seq >= 1 && seq <= n && !seen[seq] {
			seen[seq] = true
			distinct++
		}
		if bad != nil {
			return nil
		}
		if bodies {
			if !bytes.Contains(text, []byte("BODY[]")) {
				bad = fmt.Errorf("response without BODY[]: %q", truncate(string(text), 200))
			}
			r.bytes += litBytes
			return nil
		}
		for _, item := range [...]string{"UID ", "FLAGS (", "ENVELOPE (", "BODYSTRUCTURE ("} {
			if !bytes.Contains(text, []byte(item)) {
				bad = fmt.Errorf("response without %s: %q", item, truncate(string(text), 200))
				return nil
			}
		}
		size, ok := fetchItemNumber(text, "RFC822.SIZE")
		if !ok {
			bad = fmt.Errorf("response without RFC822.SIZE: %q", truncate(string(text), 200))
			return nil
		}
		r.bytes += size
		return nil
	}
	_ = c.conn.SetDeadline(time.Now().Add(imapTimeout))
	defer c.conn.SetDeadline(time.Time{})
	before := serverTaskCPU(t.Pgid())
	t0 := time.Now()
	_, err := c.command(cmd, each)
	r.elapsed = time.Since(t0)
	r.serverCPU = serverTaskCPU(t.Pgid()) - before
	if err != nil {
		if ctx.Err() != nil {
			return r, ctx.Err()
		}
		return r, fmt.Errorf("after %d responses in %.1fs: %w", r.responses, r.elapsed.Seconds(), err)
	}
	if bad != nil {
		return r, bad
	}
	if r.responses != n || distinct != n {
		return r, fmt.Errorf("%d FETCH responses for %d distinct messages, want %d", r.responses, distinct, n)
	}
	return r, nil
}

// imapIdle opens cfg.idle connections (LOGIN, SELECT INBOX), cfg.parallel at
// a time, and samples the server's memory before and after.
func imapIdle(ctx context.Context, t imapServer, user string, cfg imapConfig) (*idleResult, error) {
	res := &idleResult{}
	ms, _ := t.(metricsServer)
	// Let the freshly started server finish starting.
	if err := sleepCtx(ctx, cfg.startWait); err != nil {
		return res, err
	}
	var err error
	if ms != nil {
		res.metricsBefore = goMetrics(ms.MetricsURL())
	}
	if res.before, err = serverMemory(t.Pgid()); err != nil {
		return res, err
	}
	conns := make([]*imapConn, cfg.idle)
	defer func() {
		// Close without LOGOUT: quicker, and the server is stopped next.
		for _, c := range conns {
			if c != nil {
				c.close()
			}
		}
	}()
	var next atomic.Int64
	var firstErr error
	var mu sync.Mutex
	var wg sync.WaitGroup
	t0 := time.Now()
	for range max(cfg.parallel, 1) {
		wg.Go(func() {
			for ctx.Err() == nil {
				i := int(next.Add(1)) - 1
				if i >= cfg.idle {
					return
				}
				c, err := openIdle(ctx, t.IMAPAddr(), user, cfg.messages)
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = fmt.Errorf("connection %d of %d: %w", i+1, cfg.idle, err)
					}
					mu.Unlock()
					next.Store(int64(cfg.idle)) // stop the others
					return
				}
				conns[i] = c
			}
		})
	}
	wg.Wait()
	res.open = time.Since(t0)
	if firstErr != nil {
		return res, firstErr
	}
	if err := ctx.Err(); err != nil {
		return res, err
	}
	res.conns = cfg.idle
	logf("imap, %s: %d idle connections open (LOGIN, SELECT) in %.1fs", t.Name(), cfg.idle, res.open.Seconds())
	if err := sleepCtx(ctx, cfg.afterWait); err != nil {
		return res, err
	}
	if res.after, err = serverMemory(t.Pgid()); err != nil {
		return res, err
	}
	res.timeline = append(res.timeline, res.after)
	logf("imap, %s: memory before %.1f MiB Pss / %.1f MiB Rss (%d procs), after %.1f MiB Pss / %.1f MiB Rss (%d procs, %d imap)",
		t.Name(), mib(res.before.pss), mib(res.before.rss), res.before.procs, mib(res.after.pss), mib(res.after.rss), res.after.procs, res.after.imapProcs)
	if cfg.settle > cfg.afterWait {
		end := t0.Add(res.open).Add(cfg.settle)
		for time.Until(end) > 0 {
			if err := sleepCtx(ctx, min(10*time.Second, time.Until(end))); err != nil {
				return res, err
			}
			s, err := serverMemory(t.Pgid())
			if err != nil {
				return res, err
			}
			res.timeline = append(res.timeline, s)
		}
		res.settled = res.timeline[len(res.timeline)-1]
		logf("imap, %s: memory %s after the last SELECT: %.1f MiB Pss / %.1f MiB Rss",
			t.Name(), cfg.settle, mib(res.settled.pss), mib(res.settled.rss))
	}
	if ms != nil {
		res.metricsAfter = goMetrics(ms.MetricsURL())
	}
	// Every connection must still be there.
	for i, c := range conns {
		_ = c.conn.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := c.command("NOOP", nil); err != nil {
			return res, fmt.Errorf("idle connection %d: NOOP after the measurement: %w", i+1, err)
		}
	}
	return res, nil
}

func openIdle(ctx context.Context, addr, user string, messages int) (*imapConn, error) {
	c, err := dialIMAP(ctx, addr, 4<<10)
	if err != nil {
		return nil, err
	}
	if err := c.login(user, benchPassword); err != nil {
		c.close()
		return nil, err
	}
	n, err := c.selectMailbox(benchMailbox)
	if err != nil {
		c.close()
		return nil, err
	}
	if n != messages {
		c.close()
		return nil, fmt.Errorf("SELECT: %d EXISTS, want %d", n, messages)
	}
	return c, nil
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }
