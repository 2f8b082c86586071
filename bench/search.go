package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"runtime"
	"time"
)

// The SEARCH step: on one connection, SELECT INBOX, then the queries of
// the sample (searchterms.go) key by key, each as `UID SEARCH KEY term`
// (with CHARSET UTF-8 and a literal for non-ASCII terms), timed from
// sending the command to its tagged OK, the number of UIDs counted. A NO or
// BAD fails the workload. Each key has a time budget per server: when a
// server has spent it, that key's other queries are left out (a server
// without a full-text index reads every message for each TEXT or BODY
// query: about a second each on 12,000 messages).

type searchConfig struct {
	queries []searchQuery
	budget  time.Duration // per key and server
	timeout time.Duration // per query
}

type searchRun struct {
	q       int // index in the queries
	elapsed time.Duration
	count   int
}

type searchRecord struct {
	runs    []searchRun
	skipped map[string]int // per key: queries left out by the budget
	// foreign is the share of the machine's CPU used by other processes
	// during the step; serverCPU the CPU seconds of the server.
	foreign   float64
	serverCPU float64
}

// byKey returns the sorted latencies and the runs of one key.
func (r *searchRecord) byKey(qs []searchQuery, key string) []searchRun {
	var out []searchRun
	for _, run := range r.runs {
		if qs[run.q].key == key {
			out = append(out, run)
		}
	}
	return out
}

// result returns the count of query q, if it was run.
func (r *searchRecord) result(q int) (int, bool) {
	for _, run := range r.runs {
		if run.q == q {
			return run.count, true
		}
	}
	return 0, false
}

func runSearches(ctx context.Context, t imapServer, user string, cfg searchConfig) (*searchRecord, error) {
	rec := &searchRecord{skipped: map[string]int{}, foreign: -1}
	c, err := dialIMAP(ctx, t.IMAPAddr(), 64<<10)
	if err != nil {
		return rec, fmt.Errorf("connection: %w", err)
	}
	defer c.logout()
	if err := c.login(user, benchPassword); err != nil {
		return rec, err
	}
	if _, err := c.selectMailbox(benchMailbox); err != nil {
		return rec, err
	}
	before := takeCPUSnapshot(t.Pgid())
	defer func() {
		after := takeCPUSnapshot(t.Pgid())
		rec.foreign = foreignCPU(before, after, runtime.NumCPU())
		rec.serverCPU = after.server - before.server
	}()
	for _, key := range searchKeys {
		var spent time.Duration
		n := 0
		for i, q := range cfg.queries {
			if q.key != key {
				continue
			}
			if spent >= cfg.budget {
				rec.skipped[key]++
				continue
			}
			run, err := timedSearch(ctx, c, q, cfg.timeout)
			if err != nil {
				return rec, fmt.Errorf("%s: %w", q, err)
			}
			run.q = i
			rec.runs = append(rec.runs, run)
			spent += run.elapsed
			n++
		}
		logf("imap, %s: SEARCH %s: %d queries in %.2fs%s", t.Name(), key, n, spent.Seconds(), budgetNote(rec.skipped[key]))
	}
	return rec, nil
}

func budgetNote(skipped int) string {
	if skipped == 0 {
		return ""
	}
	return fmt.Sprintf(" (%d left out: time budget spent)", skipped)
}

// timedSearch runs one UID SEARCH and counts the UIDs of its SEARCH
// responses.
func timedSearch(ctx context.Context, c *imapConn, q searchQuery, timeout time.Duration) (searchRun, error) {
	var run searchRun
	count := 0
	each := func(text []byte, _ int64) error {
		if n, ok := searchCount(text); ok {
			count += n
		}
		return nil
	}
	_ = c.conn.SetDeadline(time.Now().Add(timeout))
	defer c.conn.SetDeadline(time.Time{})
	t0 := time.Now()
	_, err := c.commandArgs(searchCommand(q), each)
	run.elapsed = time.Since(t0)
	if err != nil {
		if ctx.Err() != nil {
			return run, ctx.Err()
		}
		var ne interface{ Timeout() bool }
		if errors.As(err, &ne) && ne.Timeout() {
			return run, fmt.Errorf("no answer within %s", timeout)
		}
		return run, err
	}
	run.count = count
	return run, nil
}

// searchCount parses an untagged "* SEARCH n n n" response (numbers
// possibly followed by a CONDSTORE "(MODSEQ n)") and returns how many
// numbers it lists.
func searchCount(text []byte) (int, bool) {
	rest, ok := bytes.CutPrefix(text, []byte("* "))
	if !ok || len(rest) < 6 || !bytes.EqualFold(rest[:6], []byte("SEARCH")) {
		return 0, false
	}
	rest = rest[6:]
	if len(rest) > 0 && rest[0] != ' ' && rest[0] != '\r' && rest[0] != '\n' {
		return 0, false // ESEARCH or another word
	}
	n := 0
	for _, f := range bytes.Fields(rest) {
		if f[0] == '(' {
			break
		}
		if isDigits(f) {
			n++
		}
	}
	return n, true
}

func isDigits(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
