package main

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// The search block of the report: full-text indexing, disk per message,
// SEARCH latency and result counts, lag under steady LMTP load.

// Issue 4's targets.
const (
	targetIndexRate  = 2000.0 // messages/s
	targetIndexShare = 0.5    // index size / mail volume
	targetTextP50    = 20.0   // ms, SEARCH TEXT p50
	targetLagP99     = 1000.0 // ms, at 500 deliveries/s
	targetLagRate    = 500.0
)

func fmtSize(b int64) string {
	if b < 0 {
		return "n/a"
	}
	return fmtMiB(b)
}

// searchKeyStats are the figures of one key on one server.
type searchKeyStats struct {
	n, left  int
	p50, p99 time.Duration
}

func (r *imapReport) keyStats(rec *imapRecord, key string) searchKeyStats {
	var st searchKeyStats
	if rec == nil || rec.search == nil {
		return st
	}
	var lats []time.Duration
	for _, run := range rec.search.byKey(r.cfg.searchCfg.queries, key) {
		lats = append(lats, run.elapsed)
	}
	sort.Slice(lats, func(i, j int) bool { return lats[i] < lats[j] })
	st.n, st.left = len(lats), rec.search.skipped[key]
	st.p50, st.p99 = percentile(lats, 50), percentile(lats, 99)
	return st
}

// agreement compares the result counts of rec with Petrel's over the
// queries both ran.
type agreement struct {
	compared, differ int
	byKey            map[string][2]int // compared, differ
	diffs            []int             // query indexes
}

func (r *imapReport) agreementWith(petrel, rec *imapRecord) agreement {
	a := agreement{byKey: map[string][2]int{}}
	if petrel == nil || rec == nil || petrel.search == nil || rec.search == nil {
		return a
	}
	for q, query := range r.cfg.searchCfg.queries {
		pc, ok1 := petrel.search.result(q)
		c, ok2 := rec.search.result(q)
		if !ok1 || !ok2 {
			continue
		}
		k := a.byKey[query.key]
		a.compared++
		k[0]++
		if pc != c {
			a.differ++
			k[1]++
			a.diffs = append(a.diffs, q)
		}
		a.byKey[query.key] = k
	}
	return a
}

// sameMailbox tells whether rec's mailbox is the one of the run (not a
// smaller one).
func (r *imapReport) sameMailbox(rec *imapRecord) bool {
	return rec != nil && rec.messages == r.cfg.messages
}

// searchMarkdown renders the search block (without the markers).
func (r *imapReport) searchMarkdown() string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	c := r.cfg
	title := "Search: full-text indexing, disk per message, SEARCH and lag"
	if r.smoke {
		title += " (smoke run: too small to compare, checks the harness only)"
	}
	w("## %s\n\n", title)
	w("Generated %s by `%s` (took %s in all, with the other workloads of the run).\n\n", r.date.UTC().Format("2006-01-02 15:04 UTC"), r.command, r.total.Round(time.Second))
	m := r.machine
	w("- **Machine:** %s, %d CPUs (nproc), %s memory; %s; %s; data on %s; %s. Client and server share the machine.\n",
		m.cpu, m.nproc, m.memory, m.os, m.kernel, m.fs, m.goVer)
	w("%s", r.mailboxText())
	w("%s", r.fillText())
	w("- **Full-text indexing:** Petrel indexes in the background while the mail comes in (one replicator per shard); the harness polls its `/metrics` "+
		"every 20 ms from the end of the fill until the sum of `%s` (per shard) is 0, and gives messages ÷ (first APPEND → backlog 0): "+
		"a lower bound when the index keeps up with the fill. Then, like `doveadm index` for fts-xapian, Petrel rebuilds the index from nothing with nothing else running, three times: "+
		"the server is stopped, `<data>/index/` removed and the server started again, and the time runs from the moment it listens again (its replicators start then) until `petrel_replication_messages_total` reaches the messages and the backlog is 0 "+
		"(the indexing msg/s of the table: the median of the three, with min–max; the index size is taken after the last; the size after the fill is given in brackets). Dovecot fts-xapian: the fill runs with `fts_autoindex = no`, then `doveadm index -u USER INBOX` is timed "+
		"(messages ÷ its time), then Dovecot is restarted with `fts_autoindex = yes` for the rest. Dovecot and Cyrus as configured here have no full-text index: "+
		"SEARCH TEXT and BODY read every message.\n", backlogMetric)
	w("- **Disk:** `du` (allocated blocks, hard links once) after the fill and the indexing, the server running (Petrel: %s after its index caught up, its write-ahead log then checkpointed and truncated): Petrel's data folder (index: `<data>/index/`), "+
		"Dovecot's maildirs with their index files (index: the maildir's `xapian-indexes`), Cyrus's partition and configdirectory. "+
		"Per message = du ÷ messages; index share = index du ÷ bytes appended (mail volume).\n", indexSettle)
	nq := len(c.searchCfg.queries)
	pool := ""
	if r.terms != nil {
		pool = fmt.Sprintf(" (%d distinct ASCII body words, %d non-ASCII; %d sender words; %d subject words, %d non-ASCII; from the %d distinct messages)",
			len(r.terms.body), len(r.terms.bodyNonASCII), len(r.terms.sender), len(r.terms.subject), len(r.terms.subjectNonASCII), r.terms.messages)
	}
	w("- **SEARCH:** %d queries, %d per key, drawn with a fixed seed from the corpus%s: words of 3 to 20 letters, lower-cased; for TEXT and BODY from the decoded text parts "+
		"(quoted-printable and base64 decoded, charsets converted, HTML tags dropped), mostly uniform over the distinct words (rare words, as searches are), "+
		"a sixth weighted by occurrences (common words, long results), a few with non-ASCII Latin letters; FROM from the decoded From fields; SUBJECT from the decoded subjects. "+
		"On one connection after `SELECT INBOX`, each as `UID SEARCH KEY \"term\"` (`CHARSET UTF-8` and a literal for non-ASCII terms), timed from sending to the tagged OK, "+
		"its UIDs counted; a NO or BAD fails the run. Keys in the order TEXT, BODY, FROM, SUBJECT, each key's queries in a random order; "+
		"each key has a budget of %s per server, after which its other queries are left out (without an index a TEXT or BODY query reads the whole mailbox).\n",
		nq, nq/max(len(searchKeys), 1), pool, c.searchCfg.budget)
	w("- **Result counts:** for each query run by both, the number of UIDs is compared with Petrel's (same mailbox only). Differences are reported, not failures: " +
		"IMAP asks for a case-insensitive substring match, which Petrel and Dovecot without full-text search do (on decoded text), while fts-xapian matches " +
		"word prefixes in bodies and n-grams of 3 to 20 letters in headers, and servers differ in what they decode (charsets, HTML, attachments) and in how they fold case and accents.\n")
	lc := c.lagCfg
	w("- **Lag:** on the filled mailbox (after the idle connections, if measured), %d LMTP connections (as many as Postfix opens to one LMTP destination by default, `default_destination_concurrency_limit = 20`) deliver small text/plain messages to user1 at a steady %.0f messages/s "+
		"(message i due at start + i/rate; a connection that falls behind sends its next one at once) for %s; each message has a unique letters-only token in its Subject and body. "+
		"Meanwhile one IMAP connection takes a probe — the next message whose 250 arrives once it is free — and polls for it with `NOOP` + `UID SEARCH BODY token` (pipelined) "+
		"again 10 ms after each answer until a SEARCH finds it: the lag is the time from the 250 to that SEARCH's answer; then the next probe. After the load, the last probe has %s to be found; "+
		"a SEARCH without an answer within %s ends the probing (that probe counts as not found).\n",
		lc.conns, lc.rate, lc.duration, lc.drain, lc.searchTimeout)
	if busy := r.searchBusy(); busy != "" {
		w("- **Warning:** other processes used more than %.0f%% of the machine's CPU during %s: these figures are noisier than usual.\n", busyThreshold*100, busy)
	}
	w("\nServers:\n\n")
	for _, row := range r.rows() {
		t := row.t
		switch {
		case t.skipped != "":
			w("- **%s: skipped** — %s\n", t.name, t.skipped)
		case t.failed != "":
			w("- **%s: FAILED** — %s%s\n", t.name, oneLine(t.failed), versionSuffix(t.version))
		default:
			w("- **%s** %s — %s\n", t.name, t.version, t.setup)
		}
	}

	petrel := r.record("Petrel")
	if r.search {
		r.writeIndexTable(&b, petrel)
		r.writeSearchTables(&b, petrel)
	}
	if r.lag {
		r.writeLagTable(&b)
	}
	if lines := r.issue4Lines(petrel); len(lines) > 0 && !r.smoke {
		w("\nIssue 4's targets:\n\n")
		for _, l := range lines {
			w("- %s\n", l)
		}
	}
	var failed []string
	for _, rec := range r.records {
		if rec.err != nil {
			failed = append(failed, fmt.Sprintf("**%s:** %s", rec.target, oneLine(rec.err.Error())))
		}
	}
	if len(failed) > 0 {
		w("\nFailures:\n\n")
		for _, f := range failed {
			w("- %s\n", f)
		}
	}
	if r.search {
		r.writeSearchDetails(&b, petrel)
	}
	return b.String()
}

func (r *imapReport) writeIndexTable(b *strings.Builder, petrel *imapRecord) {
	w := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	w("\n### Full-text indexing and disk per message\n\n")
	w("| Server | messages | mail volume | indexing | indexing msg/s | index size | index / mail volume | disk (store + index) | disk / message |\n")
	w("|---|---:|---:|---|---:|---:|---:|---:|---:|\n")
	for _, row := range r.rows() {
		t, rec := row.t, row.rec
		if rec == nil || rec.disk < 0 && rec.index == nil {
			w("| %s | %s | | | | | | | |\n", t.name, statusCell(t, rec))
			continue
		}
		idx, rate := "none (no full-text index)", "–"
		if ir := rec.index; ir != nil {
			switch {
			case !ir.available && ir.note != "":
				idx = "n/a: " + ir.note
			case ir.available && t.name == "Petrel":
				fill := fmt.Sprintf("during the fill: backlog 0 %s after the first APPEND, %s after the last (%s msg/s)", fmtDur(ir.elapsed), fmtDur(ir.afterFill), fmtRate(ir.fillRate()))
				switch {
				case len(ir.rebuilds) > 0:
					idx = fmt.Sprintf("rebuilt from nothing %d times: %s; %s", len(ir.rebuilds),
						ir.rebuildTimes().format(func(v float64) string { return fmtDur(time.Duration(v)) }), fill)
				case ir.rebuildNote != "":
					idx = fmt.Sprintf("rebuild n/a (%s); %s", ir.rebuildNote, fill)
				default:
					idx = fill
				}
				rate = fmtRate(ir.rate())
				if len(ir.rebuilds) > 0 {
					rate = ir.rebuildRates().format(fmtRate)
				}
			case ir.available:
				idx = fmt.Sprintf("`doveadm index`: %s", fmtDur(ir.elapsed))
				rate = fmtRate(ir.rate())
			}
		}
		share := "–"
		isize := "–"
		if rec.indexDisk >= 0 {
			isize = fmtMiB(rec.indexDisk)
			if ir := rec.index; ir != nil && len(ir.rebuilds) > 0 && ir.sizeAfterFill >= 0 {
				isize += fmt.Sprintf(" (after the fill: %s)", fmtMiB(ir.sizeAfterFill))
			}
			if rec.expected > 0 {
				share = fmt.Sprintf("%.2f", float64(rec.indexDisk)/float64(rec.expected))
			}
		} else if rec.index != nil {
			isize = "n/a"
			share = "n/a"
		}
		disk, per := "–", "–"
		if rec.disk >= 0 && rec.messages > 0 {
			disk = fmtMiB(rec.disk)
			per = fmtKiB(float64(rec.disk) / float64(rec.messages))
		}
		w("| %s | %d | %.1f MB | %s | %s | %s | %s | %s | %s |\n", t.name, rec.messages, float64(rec.expected)/1e6, idx, rate, isize, share, disk, per)
	}
	// Petrel against each peer with a full-text index, and disk per
	// message against every peer.
	if petrel == nil {
		return
	}
	var lines []string
	for _, rec := range r.records {
		if rec.target == "Petrel" {
			continue
		}
		var parts []string
		if pi, qi := petrel.index, rec.index; pi != nil && qi != nil && pi.available && qi.available && qi.rate() > 0 {
			parts = append(parts, fmt.Sprintf("indexing %s as fast", fmtRatio(pi.rate()/qi.rate())))
		}
		if petrel.indexDisk > 0 && rec.indexDisk > 0 && petrel.expected > 0 && rec.expected > 0 {
			ps := float64(petrel.indexDisk) / float64(petrel.expected)
			qs := float64(rec.indexDisk) / float64(rec.expected)
			parts = append(parts, fmt.Sprintf("index share of the mail volume %s as large", fmtRatio(ps/qs)))
		}
		if petrel.disk > 0 && rec.disk > 0 && petrel.messages > 0 && rec.messages > 0 {
			pd := float64(petrel.disk) / float64(petrel.messages)
			qd := float64(rec.disk) / float64(rec.messages)
			parts = append(parts, fmt.Sprintf("disk per message %s as large", fmtRatio(pd/qd)))
		}
		if len(parts) > 0 {
			lines = append(lines, fmt.Sprintf("Petrel against %s: %s", rec.target, strings.Join(parts, "; ")))
		}
	}
	if len(lines) > 0 {
		w("\n")
		for _, l := range lines {
			w("- %s.\n", l)
		}
	}
}

func fmtDur(d time.Duration) string { return fmtMs(ms(d)) }

func (r *imapReport) writeSearchTables(b *strings.Builder, petrel *imapRecord) {
	w := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	w("\n### SEARCH latency by key (p50 / p99, queries run)\n\n")
	w("| Server | messages |")
	for _, k := range searchKeys {
		w(" %s |", k)
	}
	w(" server CPU | other CPU |\n|---|---:|")
	for range searchKeys {
		w("---:|")
	}
	w("---:|---:|\n")
	for _, row := range r.rows() {
		t, rec := row.t, row.rec
		if why := rec.skippedStep("search"); why != "" {
			w("| %s | not measured: %s |", t.name, why)
			for range searchKeys {
				w(" |")
			}
			w(" | |\n")
			continue
		}
		if rec == nil || rec.search == nil || len(rec.search.runs) == 0 {
			w("| %s | %s |", t.name, statusCell(t, rec))
			for range searchKeys {
				w(" |")
			}
			w(" | |\n")
			continue
		}
		w("| %s | %d |", t.name, rec.messages)
		for _, k := range searchKeys {
			st := r.keyStats(rec, k)
			if st.n == 0 {
				w(" – |")
				continue
			}
			left := ""
			if st.left > 0 {
				left = fmt.Sprintf(", %d left out", st.left)
			}
			w(" %s / %s (%d%s) |", fmtDur(st.p50), fmtDur(st.p99), st.n, left)
		}
		w(" %.1f s | %s |\n", rec.search.serverCPU, fmtOther(rec.search.foreign))
	}
	// Ratios of p50 (same mailbox only).
	var lines []string
	for _, row := range r.rows() {
		rec := row.rec
		if rec == nil || rec.target == "Petrel" || rec.search == nil || petrel == nil || petrel.search == nil || !r.sameMailbox(rec) {
			continue
		}
		var parts []string
		for _, k := range searchKeys {
			ps, qs := r.keyStats(petrel, k), r.keyStats(rec, k)
			if ps.n == 0 || qs.n == 0 || ps.p50 <= 0 {
				continue
			}
			parts = append(parts, fmt.Sprintf("%s %s", k, fmtRatio(float64(qs.p50)/float64(ps.p50))))
		}
		if len(parts) > 0 {
			lines = append(lines, fmt.Sprintf("%s: %s", rec.target, strings.Join(parts, ", ")))
		}
	}
	if len(lines) > 0 {
		w("\nPetrel's advantage (the peer's p50 ÷ Petrel's p50, same mailbox; above 1 means Petrel is faster):\n\n")
		for _, l := range lines {
			w("- %s\n", l)
		}
	}
	w("\n### SEARCH result counts compared with Petrel's\n\n")
	w("| Server | queries compared | same count | different |")
	for _, k := range searchKeys {
		w(" different, %s |", k)
	}
	w(" no result |\n|---|---:|---:|---:|")
	for range searchKeys {
		w("---:|")
	}
	w("---:|\n")
	for _, row := range r.rows() {
		t, rec := row.t, row.rec
		if rec == nil || rec.search == nil {
			continue
		}
		empty := 0
		for _, run := range rec.search.runs {
			if run.count == 0 {
				empty++
			}
		}
		if t.name == "Petrel" {
			w("| Petrel | – | – | – |")
			for range searchKeys {
				w(" – |")
			}
			w(" %d of %d |\n", empty, len(rec.search.runs))
			continue
		}
		if !r.sameMailbox(rec) {
			w("| %s | not compared: another mailbox (%d messages) | | |", t.name, rec.messages)
			for range searchKeys {
				w(" |")
			}
			w(" %d of %d |\n", empty, len(rec.search.runs))
			continue
		}
		a := r.agreementWith(petrel, rec)
		w("| %s | %d | %d | %d |", t.name, a.compared, a.compared-a.differ, a.differ)
		for _, k := range searchKeys {
			kk := a.byKey[k]
			w(" %d of %d |", kk[1], kk[0])
		}
		w(" %d of %d |\n", empty, len(rec.search.runs))
	}
}

// writeSearchDetails lists the queries whose counts differ, and the
// sample.
func (r *imapReport) writeSearchDetails(b *strings.Builder, petrel *imapRecord) {
	w := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	qs := r.cfg.searchCfg.queries
	diff := map[int]bool{}
	for _, rec := range r.records {
		if rec.target == "Petrel" || !r.sameMailbox(&rec) {
			continue
		}
		for _, q := range r.agreementWith(petrel, &rec).diffs {
			diff[q] = true
		}
	}
	var names []string
	var recs []*imapRecord
	for i := range r.records {
		if r.records[i].search != nil {
			names = append(names, r.records[i].target)
			recs = append(recs, &r.records[i])
		}
	}
	if len(recs) == 0 {
		return
	}
	cell := func(rec *imapRecord, q int) string {
		for _, run := range rec.search.runs {
			if run.q == q {
				return fmt.Sprintf("%d (%s)", run.count, fmtDur(run.elapsed))
			}
		}
		return "–"
	}
	header := func() {
		w("| Query | source |")
		for _, n := range names {
			w(" %s |", n)
		}
		w("\n|---|---|")
		for range names {
			w("---:|")
		}
		w("\n")
	}
	if len(diff) > 0 {
		w("\n<details><summary>Queries whose result count differs from Petrel's (count, time)</summary>\n\n")
		header()
		for q := range qs {
			if !diff[q] {
				continue
			}
			w("| `%s %s` | %s |", qs[q].key, mdEscape(qs[q].term), qs[q].source)
			for _, rec := range recs {
				w(" %s |", cell(rec, q))
			}
			w("\n")
		}
		w("\n</details>\n")
	}
	w("\n<details><summary>Every query (count, time; – when left out)</summary>\n\n")
	header()
	for q := range qs {
		w("| `%s %s` | %s |", qs[q].key, mdEscape(qs[q].term), qs[q].source)
		for _, rec := range recs {
			w(" %s |", cell(rec, q))
		}
		w("\n")
	}
	w("\n</details>\n")
}

func mdEscape(s string) string { return strings.NewReplacer("|", "\\|", "`", "'").Replace(s) }

func (r *imapReport) writeLagTable(b *strings.Builder) {
	w := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	lc := r.cfg.lagCfg
	w("\n### Lag from the LMTP 250 to the message found by SEARCH, under %.0f deliveries/s offered\n\n", lc.rate)
	w("| Server | delivered | msg/s delivered | LMTP p50 / p99 | probes | found | **lag p50** | **lag p99** | lag max | SEARCHes (mean time) |\n")
	w("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, row := range r.rows() {
		t, rec := row.t, row.rec
		if why := rec.skippedStep("lag"); why != "" {
			w("| %s | not measured: %s | | | | | | | | |\n", t.name, why)
			continue
		}
		if rec == nil || rec.lag == nil {
			w("| %s | %s | | | | | | | | |\n", t.name, statusCell(t, rec))
			continue
		}
		l := rec.lag
		sustained := ""
		if l.rate() < 0.95*l.offered {
			sustained = " (not sustained)"
		}
		p50, p99, mx := "–", "–", "–"
		if len(l.lags) > 0 {
			p50, p99, mx = fmtDur(percentile(l.lags, 50)), fmtDur(percentile(l.lags, 99)), fmtDur(l.lags[len(l.lags)-1])
		}
		if l.notFound > 0 {
			// A probe never found is longer than anything measured.
			limit := lc.drain
			if l.timedOut {
				limit = lc.searchTimeout
			}
			p99 = "> " + fmtDur(limit)
			mx = p99
			if len(l.lags) == 0 {
				p50 = p99
			}
		}
		mean := "–"
		if l.searches > 0 {
			mean = fmtDur(l.searchTime / time.Duration(l.searches))
		}
		note := ""
		if l.timedOut {
			note = ", a SEARCH timed out"
		}
		w("| %s | %d of %d | %s%s | %s / %s | %d | %d%s | %s | %s | %s | %d (%s) |\n", t.name, l.delivered, l.due, fmtRate(l.rate()), sustained,
			fmtDur(percentile(l.latencies, 50)), fmtDur(percentile(l.latencies, 99)), l.probes, len(l.lags), note, p50, p99, mx, l.searches, mean)
	}
}

// issue4Lines checks issue 4's targets.
func (r *imapReport) issue4Lines(p *imapRecord) []string {
	if p == nil {
		return nil
	}
	verdict := func(ok bool) string {
		if ok {
			return "met"
		}
		return "**not met**"
	}
	var lines []string
	if r.search {
		if ir := p.index; ir != nil && ir.available {
			if len(ir.rebuilds) > 0 {
				lines = append(lines, fmt.Sprintf("Indexing at least %.0f messages/s: %s (%s msg/s rebuilding the index of the %d messages from nothing, the median of %d rebuilds; during the fill, a lower bound, %s msg/s).",
					targetIndexRate, verdict(ir.rate() >= targetIndexRate), fmtRate(ir.rate()), ir.messages, len(ir.rebuilds), fmtRate(ir.fillRate())))
			} else {
				lines = append(lines, fmt.Sprintf("Indexing at least %.0f messages/s: %s (%s msg/s, a lower bound: backlog 0 %s after the last APPEND).",
					targetIndexRate, verdict(ir.rate() >= targetIndexRate), fmtRate(ir.rate()), fmtDur(ir.afterFill)))
			}
		} else if ir != nil {
			lines = append(lines, fmt.Sprintf("Indexing at least %.0f messages/s: n/a (%s).", targetIndexRate, ir.note))
		}
		if p.indexDisk >= 0 && p.expected > 0 {
			sh := float64(p.indexDisk) / float64(p.expected)
			lines = append(lines, fmt.Sprintf("Index at most half the mail volume: %s (%.2f).", verdict(sh <= targetIndexShare), sh))
		} else if p.index != nil {
			lines = append(lines, "Index at most half the mail volume: n/a (no `<data>/index/` folder).")
		}
		if st := r.keyStats(p, "TEXT"); st.n > 0 {
			lines = append(lines, fmt.Sprintf("SEARCH TEXT p50 at most %.0f ms: %s (%s over %d queries).", targetTextP50, verdict(ms(st.p50) <= targetTextP50), fmtDur(st.p50), st.n))
		}
	}
	if r.lag && p.lag != nil {
		l := p.lag
		at := fmt.Sprintf("%s deliveries/s delivered of %.0f offered", fmtRate(l.rate()), l.offered)
		switch {
		case len(l.lags) == 0:
			lines = append(lines, fmt.Sprintf("Lag p99 at most 1 s at %.0f deliveries/s: **not met** (no probe found; %s).", targetLagRate, at))
		default:
			p99 := percentile(l.lags, 99)
			ok := ms(p99) <= targetLagP99 && l.notFound == 0 && l.offered >= targetLagRate && l.rate() >= 0.95*targetLagRate
			lines = append(lines, fmt.Sprintf("Lag p99 at most 1 s at %.0f deliveries/s: %s (p99 %s over %d probes, %d not found; %s).",
				targetLagRate, verdict(ok), fmtDur(p99), len(l.lags), l.notFound, at))
		}
	}
	return lines
}

func (r *imapReport) searchBusy() string {
	var out []string
	for _, rec := range r.records {
		if rec.search != nil && rec.search.foreign > busyThreshold {
			out = append(out, rec.target+" SEARCH")
		}
	}
	return strings.Join(out, ", ")
}
