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
//     up with the fill. Index size: du of <data>/index/.
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
}

func (r *indexResult) rate() float64 { return perSec(float64(r.messages), r.elapsed) }

const backlogMetric = "petrel_replication_backlog"

func (t *petrelTarget) FullTextIndex() bool { return true }
func (t *petrelTarget) BeforeFill(bool)     {}

// IndexAfterFill polls /metrics until the replication backlog is 0.
func (t *petrelTarget) IndexAfterFill(ctx context.Context, _ string, n int, fillStart, fillEnd time.Time, timeout time.Duration) (*indexResult, error) {
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
