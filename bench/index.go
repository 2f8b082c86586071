package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Full-text indexing after the fill (issue 4: "indexing messages/s, index
// size as a share of mail volume").
//
//   - Petrel indexes in the background (one replicator per shard reading
//     the shard's change log). The harness polls its Prometheus endpoint for
//     petrel_replication_backlog (a gauge per shard) until the sum is 0
//     after the last APPEND: messages/s = messages ÷ (first APPEND → backlog
//     0). That is a lower bound of the indexing rate when the index keeps
//     up with the fill. Then the index is rebuilt from nothing
//     (rebuildIndex), the figure comparable with doveadm index. Index size:
//     du of <data>/index/, after the fill and after the rebuild.
//   - Dovecot fts-xapian: the fill runs with fts_autoindex off, then
//     `doveadm index -u USER INBOX` is timed; the server is then restarted
//     with fts_autoindex on. Index size: du of the maildir's xapian-indexes.
//
// A metric, command or folder that does not exist (yet) makes the figure
// "n/a" with the reason, never a failure.

// indexMeasurer is a target with a full-text index the harness can wait
// for or build, and measure.
type indexMeasurer interface {
	// FullTextIndex tells whether this instance has one.
	FullTextIndex() bool
	// BeforeFill is called before Start; indexStep says whether
	// IndexAfterFill will be called.
	BeforeFill(indexStep bool)
	// IndexAfterFill brings the index up to date with the n messages of
	// the fill (which ran from fillStart to fillEnd) or waits until it is.
	IndexAfterFill(ctx context.Context, user string, n int, fillStart, fillEnd time.Time, timeout time.Duration) (*indexResult, error)
	// IndexSize is the disk usage of the index.
	IndexSize() (int64, error)
}

type indexResult struct {
	available bool
	note      string // why not available
	how       string // what elapsed measures
	messages  int
	elapsed   time.Duration
	afterFill time.Duration // Petrel: caught up this long after the fill's last OK
	polls     int
	// Petrel: the index rebuilt from nothing after the fill (rebuildIndex),
	// the figure comparable with doveadm index, each rebuild in order;
	// none when not measured, with rebuildNote saying why.
	rebuilds      []time.Duration
	rebuildNote   string
	sizeAfterFill int64 // Petrel: du of the index before the rebuild, -1 unknown
}

// rate is the indexing rate: the median of the rebuilds when there were
// some, else that of the indexing that elapsed measures.
func (r *indexResult) rate() float64 {
	if len(r.rebuilds) > 0 {
		return r.rebuildRates().med
	}
	return r.fillRate()
}

// rebuildRates is the spread of the rates of the rebuilds.
func (r *indexResult) rebuildRates() spread {
	return r.rebuildSpread(func(d time.Duration) float64 { return perSec(float64(r.messages), d) })
}

// rebuildTimes is the spread of the times of the rebuilds, in nanoseconds.
func (r *indexResult) rebuildTimes() spread {
	return r.rebuildSpread(func(d time.Duration) float64 { return float64(d) })
}

func (r *indexResult) rebuildSpread(f func(time.Duration) float64) spread {
	xs := make([]float64, len(r.rebuilds))
	for i, d := range r.rebuilds {
		xs[i] = f(d)
	}
	return spreadOf(xs)
}

// fillRate is the rate of the indexing during the fill.
func (r *indexResult) fillRate() float64 { return perSec(float64(r.messages), r.elapsed) }

const backlogMetric = "petrel_replication_backlog"

func (t *petrelTarget) FullTextIndex() bool { return true }
func (t *petrelTarget) BeforeFill(bool)     {}

// IndexAfterFill waits until the replication backlog is 0 (caughtUp), then
// rebuilds the index from nothing (rebuildIndex).
func (t *petrelTarget) IndexAfterFill(ctx context.Context, _ string, n int, fillStart, fillEnd time.Time, timeout time.Duration) (*indexResult, error) {
	deadline := time.Now().Add(timeout)
	res, err := t.caughtUp(ctx, n, fillStart, fillEnd, timeout)
	if err != nil || !res.available {
		return res, err
	}
	if err := sleepCtx(ctx, indexSettle); err != nil {
		return res, err
	}
	if res.sizeAfterFill, err = t.IndexSize(); err != nil {
		res.sizeAfterFill = -1
	}
	return res, t.rebuildIndex(ctx, n, res, time.Until(deadline))
}

// caughtUp polls /metrics until the replication backlog is 0: the index
// holds the n messages of the fill.
func (t *petrelTarget) caughtUp(ctx context.Context, n int, fillStart, fillEnd time.Time, timeout time.Duration) (*indexResult, error) {
	res := &indexResult{messages: n, how: fmt.Sprintf("first APPEND until the sum of `%s` (per shard) on `/metrics` is 0", backlogMetric)}
	deadline := time.Now().Add(timeout)
	for {
		sum, found, err := scrapeSum(ctx, t.MetricsURL(), backlogMetric)
		res.polls++
		now := time.Now()
		switch {
		case err != nil:
			res.note = fmt.Sprintf("`/metrics` not readable: %v", err)
			return res, nil
		case !found:
			res.note = fmt.Sprintf("this build's `/metrics` has no `%s`", backlogMetric)
			return res, nil
		case sum == 0:
			res.available = true
			res.elapsed = now.Sub(fillStart)
			res.afterFill = now.Sub(fillEnd)
			return res, nil
		case now.After(deadline):
			return res, fmt.Errorf("`%s` still %.0f %s after the fill", backlogMetric, sum, now.Sub(fillEnd).Round(time.Second))
		}
		if err := sleepCtx(ctx, 20*time.Millisecond); err != nil {
			return res, err
		}
	}
}

// indexSettle is the wait after the index caught up (after the fill and
// after each rebuild) before its size is taken: its periodic checkpoint
// (every 2 s) then has folded the write-ahead log into the database, and
// truncated it at the next round, finding nothing more written.
const indexSettle = 5 * time.Second

// messagesMetric counts the messages a replicator has indexed since the
// process started, per shard.
const messagesMetric = "petrel_replication_messages_total"

// rebuildIndex measures what `doveadm index` measures for fts-xapian:
// indexing the filled mailbox from nothing, with nothing else running. The
// server is stopped, <data>/index/ removed (the index is rebuildable:
// every shard's replicator starts again from the beginning of its change
// log), and the server started again; the time runs from the moment it
// listens until the replicators have indexed the n messages and the
// backlog is 0.
func (t *petrelTarget) rebuildIndex(ctx context.Context, n int, res *indexResult, timeout time.Duration) error {
	for range rebuildRounds {
		d, err := t.rebuildOnce(ctx, n, res, timeout)
		if err != nil || d == 0 {
			return err
		}
		res.rebuilds = append(res.rebuilds, d)
	}
	return nil
}

// rebuildRounds is how many times the index is rebuilt: the rate is their
// median, with their spread (issue 6, point 2).
const rebuildRounds = 3

// rebuildOnce rebuilds the index once and returns the time it took (0,
// with res.rebuildNote set, when this build cannot tell).
func (t *petrelTarget) rebuildOnce(ctx context.Context, n int, res *indexResult, timeout time.Duration) (time.Duration, error) {
	if err := t.proc.stop(); err != nil {
		return 0, fmt.Errorf("stop before the index rebuild: %w", err)
	}
	if err := os.RemoveAll(filepath.Join(t.dataDir, "index")); err != nil {
		return 0, err
	}
	if err := t.launch(ctx); err != nil {
		return 0, fmt.Errorf("start for the index rebuild: %w", err)
	}
	// From the moment the server listens: its replicators start then.
	t0 := time.Now()
	deadline := t0.Add(max(timeout, time.Minute))
	for {
		done, found, err := scrapeSum(ctx, t.MetricsURL(), messagesMetric)
		if err != nil {
			return 0, fmt.Errorf("index rebuild: `/metrics`: %w", err)
		}
		backlog, _, err := scrapeSum(ctx, t.MetricsURL(), backlogMetric)
		if err != nil {
			return 0, fmt.Errorf("index rebuild: `/metrics`: %w", err)
		}
		now := time.Now()
		switch {
		case found && done >= float64(n) && backlog == 0:
			return now.Sub(t0), sleepCtx(ctx, indexSettle)
		case now.After(deadline) && !found:
			// A build whose counter has no series yet, or none at all.
			res.rebuildNote = fmt.Sprintf("`%s` not on `/metrics` %s after the start", messagesMetric, now.Sub(t0).Round(time.Second))
			return 0, nil
		case now.After(deadline):
			return 0, fmt.Errorf("index rebuild: %.0f of %d messages indexed after %s", done, n, now.Sub(t0).Round(time.Second))
		}
		if err := sleepCtx(ctx, 20*time.Millisecond); err != nil {
			return 0, err
		}
	}
}

// IndexSize is du of <data>/index/.
func (t *petrelTarget) IndexSize() (int64, error) {
	dir := filepath.Join(t.dataDir, "index")
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return 0, fmt.Errorf("no %s folder", "<data>/index/")
	}
	return diskUsage(dir)
}

func (t *dovecotTarget) FullTextIndex() bool { return t.xapian }
func (t *dovecotTarget) BeforeFill(indexStep bool) {
	t.noAutoindex = t.xapian && indexStep
}

// IndexAfterFill times `doveadm index` of the mailbox, then restarts the
// instance with fts_autoindex on.
func (t *dovecotTarget) IndexAfterFill(ctx context.Context, user string, n int, _, _ time.Time, timeout time.Duration) (*indexResult, error) {
	res := &indexResult{messages: n, how: "`doveadm index -u USER INBOX` after the fill, which ran with `fts_autoindex = no`"}
	if !t.xapian {
		res.note = "no full-text index"
		return res, nil
	}
	ictx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	t0 := time.Now()
	if _, err := runQuiet(ictx, t.dir, nil, t.doveadm, "-c", filepath.Join(t.dir, "dovecot.conf"), "index", "-u", user, benchMailbox); err != nil {
		if ictx.Err() != nil && ctx.Err() == nil {
			return res, fmt.Errorf("doveadm index did not finish in %s", timeout)
		}
		return res, err
	}
	res.elapsed = time.Since(t0)
	res.available = true
	t.noAutoindex = false
	if err := t.Restart(ctx); err != nil {
		return res, fmt.Errorf("restart with fts_autoindex on: %w", err)
	}
	return res, nil
}

// IndexSize is du of the xapian-indexes folders of the maildirs.
func (t *dovecotTarget) IndexSize() (int64, error) {
	dirs, _ := filepath.Glob(filepath.Join(t.mailDir, "*", "Maildir", "xapian-indexes"))
	if len(dirs) == 0 {
		return 0, fmt.Errorf("no xapian-indexes folder under %s", t.mailDir)
	}
	var total int64
	for _, d := range dirs {
		n, err := diskUsage(d)
		if err != nil {
			return 0, err
		}
		total += n
	}
	return total, nil
}

// scrapeSum fetches a Prometheus text page and sums the samples of the
// metric name (any labels).
func scrapeSum(ctx context.Context, url, name string) (float64, bool, error) {
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, false, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, false, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, false, fmt.Errorf("%s: %s", url, resp.Status)
	}
	sum, found := promSum(resp.Body, name)
	return sum, found, nil
}

// promSum sums the samples of metric name in a Prometheus text exposition:
// lines "name value", "name{labels} value" or either with a timestamp.
// found is false when there is no sample of that name.
func promSum(r io.Reader, name string) (sum float64, found bool) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' || !strings.HasPrefix(line, name) {
			continue
		}
		rest := line[len(name):]
		switch {
		case strings.HasPrefix(rest, "{"):
			// Label values may hold '}' inside quotes.
			end := labelsEnd(rest)
			if end < 0 {
				continue
			}
			rest = rest[end+1:]
		case strings.HasPrefix(rest, " "), strings.HasPrefix(rest, "\t"):
		default:
			continue // another metric whose name starts with name
		}
		f := strings.Fields(rest)
		if len(f) < 1 {
			continue
		}
		v, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			continue
		}
		sum += v
		found = true
	}
	return sum, found
}

// labelsEnd returns the index of the '}' closing the label set that s
// starts with, or -1.
func labelsEnd(s string) int {
	inQuote := false
	for i := 1; i < len(s); i++ {
		switch c := s[i]; {
		case inQuote && c == '\\':
			i++
		case c == '"':
			inQuote = !inQuote
		case !inQuote && c == '}':
			return i
		}
	}
	return -1
}
