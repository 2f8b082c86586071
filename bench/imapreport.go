package main

import (
	"fmt"
	"strings"
	"time"
)

// imapReport is the IMAP block of the report.
type imapReport struct {
	date     time.Time
	duration time.Duration // the IMAP workload
	total    time.Duration // the whole run
	command  string
	machine  machineInfo
	corpus   corpusInfo
	smoke    bool
	cfg      imapConfig
	targets  []targetStatus
	records  []imapRecord
	// Workloads run.
	imap, search, lag bool
	// terms: the word pools the SEARCH sample was drawn from.
	terms *termPools
}

// Issue 3's targets.
const (
	targetFetchSpeedup = 2.0       // summary FETCH at least twice as fast as Dovecot
	targetIdleBytes    = 64 * 1024 // at most 64 KiB per idle connection
)

func (r *imapReport) status(name string) *targetStatus {
	for i := range r.targets {
		if r.targets[i].name == name {
			return &r.targets[i]
		}
	}
	r.targets = append(r.targets, targetStatus{name: name})
	return &r.targets[len(r.targets)-1]
}

func (r *imapReport) record(name string) *imapRecord {
	for i := range r.records {
		if r.records[i].target == name {
			return &r.records[i]
		}
	}
	return nil
}

// failed tells whether any server failed to prepare or failed the workload.
func (r *imapReport) failed() bool {
	for _, t := range r.targets {
		if t.failed != "" {
			return true
		}
	}
	for _, rec := range r.records {
		if rec.err != nil {
			return true
		}
	}
	return false
}

// failedTarget tells whether the named server failed to prepare or
// failed the workload.
func (r *imapReport) failedTarget(name string) bool {
	for _, t := range r.targets {
		if t.failed != "" && t.name == name {
			return true
		}
	}
	for _, rec := range r.records {
		if rec.err != nil && rec.target == name {
			return true
		}
	}
	return false
}

// warm returns the runs after the first.
func warm(runs []fetchRun) []fetchRun {
	if len(runs) < 2 {
		return nil
	}
	return runs[1:]
}

func elapsedMs(runs []fetchRun) spread {
	var xs []float64
	for _, r := range runs {
		xs = append(xs, ms(r.elapsed))
	}
	return spreadOf(xs)
}

func cpuMs(runs []fetchRun) spread {
	var xs []float64
	for _, r := range runs {
		xs = append(xs, r.serverCPU*1000)
	}
	return spreadOf(xs)
}

func mbps(runs []fetchRun) spread {
	var xs []float64
	for _, r := range runs {
		xs = append(xs, r.mbPerSec())
	}
	return spreadOf(xs)
}

// ratioCell renders Petrel's advantage over a peer: peer/petrel for costs
// (times, memory), petrel/peer for rates; "—" on Petrel's own row.
func ratioCell(name string, petrel, peer float64, ok bool) string {
	if name == "Petrel" {
		return "—"
	}
	if !ok || petrel <= 0 || peer <= 0 {
		return "–"
	}
	return fmtRatio(peer / petrel)
}

func fmtMs(x float64) string {
	if x >= 1000 {
		return fmt.Sprintf("%.2f s", x/1000)
	}
	return fmtRate(x) + " ms"
}

func fmtMiB(b int64) string { return fmt.Sprintf("%.1f MiB", mib(b)) }

func fmtBytesPer(x float64) string {
	if x >= 1<<20 || x <= -(1<<20) {
		return fmt.Sprintf("%.2f MiB", x/(1<<20))
	}
	return fmt.Sprintf("%.1f KiB", x/1024)
}

func fmtOther(f float64) string {
	if f < 0 {
		return "?"
	}
	return fmt.Sprintf("%.0f%%", f*100)
}

// rows returns the targets in report order with their record (nil when
// skipped or failed before measuring anything).
func (r *imapReport) rows() []struct {
	t   targetStatus
	rec *imapRecord
} {
	var out []struct {
		t   targetStatus
		rec *imapRecord
	}
	for _, t := range r.targets {
		out = append(out, struct {
			t   targetStatus
			rec *imapRecord
		}{t, r.record(t.name)})
	}
	return out
}

// statusCell is what a table row shows for a server without figures.
func statusCell(t targetStatus, rec *imapRecord) string {
	switch {
	case t.skipped != "":
		return "skipped"
	case t.failed != "":
		return "FAILED"
	case rec == nil:
		return "not run"
	case rec.err != nil:
		return "FAILED"
	}
	return "–"
}

// markdown renders the IMAP section (without the block markers).
func (r *imapReport) markdown() string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	c := r.cfg
	title := "IMAP: APPEND, FETCH and idle connections"
	if r.smoke {
		title += " (smoke run: too small to compare, checks the harness only)"
	}
	w("## %s\n\n", title)
	took := r.duration.Round(time.Second).String()
	if r.total-r.duration > 5*time.Second {
		took = fmt.Sprintf("%s for the IMAP part, %s in all", took, r.total.Round(time.Second))
	}
	w("Generated %s by `%s` (took %s).\n\n", r.date.UTC().Format("2006-01-02 15:04 UTC"), r.command, took)
	m := r.machine
	w("- **Machine:** %s, %d CPUs (nproc), %s memory; %s; %s; data on %s; %s. Client and server share the machine.\n",
		m.cpu, m.nproc, m.memory, m.os, m.kernel, m.fs, m.goVer)
	w("%s", r.mailboxText())
	w("- **Client:** the same minimal Go IMAP client for every server (`bench/imapconn.go`: commands written out, responses read as lines and literals, " +
		"only the checked items parsed, so that the client's CPU stays small beside the server's), over 127.0.0.1 without TLS, `LOGIN`. MB = 10^6 bytes.\n")
	w("%s", r.fillText())
	w("- **FETCH:** on one connection, `SELECT INBOX`, then `%s` %d times, then `%s` %d times; each timed from sending the command to its tagged OK, "+
		"with every response read. Every run is checked: exactly %d FETCH responses for %d distinct sequence numbers; for the summary, UID, FLAGS, ENVELOPE, "+
		"BODYSTRUCTURE and RFC822.SIZE in each and the RFC822.SIZEs adding up to the bytes appended; for the bodies, the BODY[] literals adding up to them. "+
		"The **first** run comes right after the fill (Petrel: once its background full-text indexing of the fill is over, so that FETCH is timed alone; "+
		"the server's index/cache of the new messages not yet built or read; the message files still in the page cache, "+
		"just written); **warm** is the median (min–max) of the %d runs after it.\n",
		summaryFetch, c.runs+1, bodyFetch, c.runs+1, c.messages, c.messages, c.runs)
	settle := ""
	if c.settle > c.afterWait {
		settle = fmt.Sprintf(", and again %s after the last SELECT (**settled**: Go's runtime forces a garbage collection every 2 minutes, "+
			"then gives freed pages back, e.g. the 19 MiB each argon2id LOGIN check uses)", c.settle)
	}
	w("- **Idle connections:** the server is restarted on the same data (so that the FETCH runs leave nothing behind); %s later, a memory sample (**before**); "+
		"then %d connections are opened, %d at a time, each doing `LOGIN` and `SELECT INBOX` (EXISTS checked) and then nothing; a sample 2 s after the last SELECT (**+2 s**)%s; "+
		"at the end, a NOOP on every connection checks they are all still there. Memory is the sum of **Pss** (`/proc/PID/smaps_rollup`: pages shared between processes "+
		"are split between them) over the server's process group and the descendants of its main process: Petrel's one process; Dovecot's master, its helper processes "+
		"and its `imap` process per connection; Cyrus's master and its `imapd` process per connection. Sums of Rss (shared pages counted in every process) are given too. Per connection = (sample − before) / %d.\n",
		c.startWait, c.idle, c.parallel, settle, c.idle)
	if busy := r.busyPhases(); busy != "" {
		w("- **Warning:** other processes used more than %.0f%% of the machine's CPU during %s (see the per-run figures): these figures are noisier than usual.\n",
			busyThreshold*100, busy)
	}
	w("\nServers:\n\n")
	for _, row := range r.rows() {
		t, rec := row.t, row.rec
		switch {
		case t.skipped != "":
			w("- **%s: skipped** — %s\n", t.name, t.skipped)
		case t.failed != "":
			w("- **%s: FAILED** — %s%s\n", t.name, oneLine(t.failed), versionSuffix(t.version))
		default:
			lp := ""
			if rec != nil && rec.fill != nil {
				lp = "; APPEND without LITERAL+ (the server did not offer it)"
				if rec.literalPlus {
					lp = "; APPEND with LITERAL+"
				}
			}
			w("- **%s** %s — %s%s\n", t.name, t.version, t.setup, lp)
		}
	}

	petrel := r.record("Petrel")
	okRec := func(rec *imapRecord) bool { return rec != nil && rec.err == nil }

	// APPEND.
	w("\n### APPEND rate (the first %d messages, one per APPEND, in %d rounds)\n\n", c.appendN, min(appendRounds, c.appendN))
	r.fillTable(&b, func(rec *imapRecord) *fillResult { return rec.fill }, func(rec *imapRecord) []*fillResult { return rec.fillRounds })
	if r.anyBulk() {
		w("\n### MULTIAPPEND (the other messages, %d per APPEND command)\n\n", c.batch)
		r.fillTable(&b, func(rec *imapRecord) *fillResult { return rec.bulk }, nil)
	}

	// Summary FETCH.
	w("\n### `%s`\n\n", summaryFetch)
	w("| Server | first run after the fill | warm (median, min–max) | server CPU per warm run | size of the responses | Petrel's advantage, warm | Petrel's advantage, first run |\n|---|---:|---:|---:|---:|---:|---:|\n")
	for _, row := range r.rows() {
		t, rec := row.t, row.rec
		if why := rec.skippedStep("fetch"); why != "" {
			w("| %s | not measured: %s | | | | | |\n", t.name, why)
			continue
		}
		if rec == nil || len(rec.summary) < 2 {
			w("| %s | %s | | | | | |\n", t.name, statusCell(t, rec))
			continue
		}
		first, wm := ms(rec.summary[0].elapsed), elapsedMs(warm(rec.summary))
		pok := petrel != nil && len(petrel.summary) >= 2
		var pFirst, pWarm float64
		if pok {
			pFirst, pWarm = ms(petrel.summary[0].elapsed), elapsedMs(warm(petrel.summary)).med
		}
		w("| %s | %s | %s | %s | %.1f MB | %s | %s |\n", t.name, fmtMs(first), wm.format(fmtMs), cpuMs(warm(rec.summary)).format(fmtMs),
			float64(rec.summary[len(rec.summary)-1].wire)/1e6, ratioCell(t.name, pWarm, wm.med, pok), ratioCell(t.name, pFirst, first, pok))
	}

	// Bodies.
	w("\n### `%s`\n\n", bodyFetch)
	w("| Server | first run after the fill | warm (median, min–max) | MB/s, warm | server CPU per warm run | Petrel's advantage, warm |\n|---|---:|---:|---:|---:|---:|\n")
	for _, row := range r.rows() {
		t, rec := row.t, row.rec
		if why := rec.skippedStep("fetch"); why != "" {
			w("| %s | not measured: %s | | | | |\n", t.name, why)
			continue
		}
		if rec == nil || len(rec.bodies) < 2 {
			w("| %s | %s | | | | |\n", t.name, statusCell(t, rec))
			continue
		}
		wm := elapsedMs(warm(rec.bodies))
		pok := petrel != nil && len(petrel.bodies) >= 2
		var pWarm float64
		if pok {
			pWarm = elapsedMs(warm(petrel.bodies)).med
		}
		w("| %s | %s | %s | %s | %s | %s |\n", t.name, fmtMs(ms(rec.bodies[0].elapsed)), wm.format(fmtMs), mbps(warm(rec.bodies)).format(fmtRate),
			cpuMs(warm(rec.bodies)).format(fmtMs), ratioCell(t.name, pWarm, wm.med, pok))
	}

	// Idle connections.
	if c.idle > 0 {
		settled := c.settle > c.afterWait
		w("\n### Memory per idle connection (%d connections, LOGIN + SELECT INBOX)\n\n", c.idle)
		if settled {
			w("| Server | open time | processes before → after | Pss before | Pss +2 s | Pss settled | **per connection, Pss settled** | per connection, Pss +2 s | per connection, Rss settled | Petrel's advantage (Pss settled) |\n")
			w("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
		} else {
			w("| Server | open time | processes before → after | Pss before | Pss +2 s | **per connection, Pss +2 s** | per connection, Rss +2 s | Petrel's advantage |\n")
			w("|---|---:|---:|---:|---:|---:|---:|---:|\n")
		}
		pok := petrel != nil && petrel.idle != nil && petrel.idle.conns > 0 && okRec(petrel)
		var pPer float64
		if pok {
			pPer = petrel.idle.perConn(petrel.idle.final(), true)
		}
		for _, row := range r.rows() {
			t, rec := row.t, row.rec
			if why := rec.skippedStep("idle"); why != "" {
				if settled {
					w("| %s | not measured: %s | | | | | | | | |\n", t.name, why)
				} else {
					w("| %s | not measured: %s | | | | | | |\n", t.name, why)
				}
				continue
			}
			if rec == nil || rec.idle == nil || rec.idle.conns == 0 || rec.err != nil {
				if settled {
					w("| %s | %s | | | | | | | | |\n", t.name, statusCell(t, rec))
				} else {
					w("| %s | %s | | | | | | |\n", t.name, statusCell(t, rec))
				}
				continue
			}
			id := rec.idle
			fin := id.final()
			procs := fmt.Sprintf("%d → %d", id.before.procs, fin.procs)
			if fin.imapProcs > 0 {
				procs += fmt.Sprintf(" (%d imap)", fin.imapProcs)
			}
			per := id.perConn(fin, true)
			if settled {
				w("| %s | %s | %s | %s | %s | %s | **%s** | %s | %s | %s |\n", t.name, r.openCell(id), procs,
					fmtMiB(id.before.pss), fmtMiB(id.after.pss), fmtMiB(id.settled.pss), fmtBytesPer(per),
					fmtBytesPer(id.perConn(id.after, true)), fmtBytesPer(id.perConn(id.settled, false)), ratioCell(t.name, pPer, per, pok))
			} else {
				w("| %s | %s | %s | %s | %s | **%s** | %s | %s |\n", t.name, r.openCell(id), procs,
					fmtMiB(id.before.pss), fmtMiB(id.after.pss), fmtBytesPer(per), fmtBytesPer(id.perConn(id.after, false)),
					ratioCell(t.name, pPer, per, pok))
			}
		}
		for _, rec := range r.records {
			if rec.idleNote != "" {
				w("\n%s: %s.\n", rec.target, rec.idleNote)
			}
		}
		if pok && len(petrel.idle.metricsBefore) > 0 && len(petrel.idle.metricsAfter) > 0 {
			mb, ma := petrel.idle.metricsBefore, petrel.idle.metricsAfter
			w("\nPetrel's Go runtime (its `/metrics`, before → at the end): heap in use %s → %s, goroutines %.0f → %.0f, goroutine stacks %s → %s, "+
				"heap obtained from the OS %s → %s of which released back %s → %s.\n",
				fmtMiBf(mb["go_memstats_heap_inuse_bytes"]), fmtMiBf(ma["go_memstats_heap_inuse_bytes"]),
				mb["go_goroutines"], ma["go_goroutines"],
				fmtMiBf(mb["go_memstats_stack_inuse_bytes"]), fmtMiBf(ma["go_memstats_stack_inuse_bytes"]),
				fmtMiBf(mb["go_memstats_heap_sys_bytes"]), fmtMiBf(ma["go_memstats_heap_sys_bytes"]),
				fmtMiBf(mb["go_memstats_heap_released_bytes"]), fmtMiBf(ma["go_memstats_heap_released_bytes"]))
		}
	}

	// Targets.
	if lines := r.targetLines(); len(lines) > 0 && !r.smoke {
		w("\nIssue 3's targets:\n\n")
		for _, l := range lines {
			w("- %s\n", l)
		}
	}

	var failed []string
	for _, rec := range r.records {
		if rec.err != nil {
			f := fmt.Sprintf("**%s:** %s", rec.target, oneLine(rec.err.Error()))
			if rec.logTail != "" {
				f += "\n\n  Last lines of its log:\n\n  ```" + strings.ReplaceAll(rec.logTail, "\n  | ", "\n  ") + "\n  ```"
			}
			failed = append(failed, f)
		}
	}
	if len(failed) > 0 {
		w("\nFailures:\n\n")
		for _, f := range failed {
			w("- %s\n", f)
		}
	}

	// Per-run figures.
	w("\n<details><summary>Per-run figures</summary>\n\n")
	w("| Server | step | run | time | MB/s | server CPU | other CPU |\n|---|---|---:|---:|---:|---:|---:|\n")
	// Other CPU is given over the APPEND and over all the FETCH runs
	// together.
	for _, rec := range r.records {
		for i, f := range rec.fillRounds {
			w("| %s | APPEND × %d | %d | %.2f s | %.2f | %.1f s | %s |\n", rec.target, f.messages, i+1, f.elapsed.Seconds(), f.mbPerSec(), f.serverCPU, fmtOther(f.foreign))
		}
		if rec.bulk != nil {
			w("| %s | MULTIAPPEND × %d (%d commands) | 1 | %.2f s | %.2f | %.1f s | %s |\n", rec.target, rec.bulk.messages, rec.bulk.commands,
				rec.bulk.elapsed.Seconds(), rec.bulk.mbPerSec(), rec.bulk.serverCPU, fmtOther(rec.bulk.foreign))
		}
		if rec.selectTime > 0 {
			w("| %s | SELECT INBOX after the fill | 1 | %s | | | |\n", rec.target, fmtMs(ms(rec.selectTime)))
		}
		other := fmtOther(rec.fetchForeign) + " (all FETCH runs)"
		for i, f := range rec.summary {
			w("| %s | FETCH summary | %d | %s | | %s | %s |\n", rec.target, i+1, fmtMs(ms(f.elapsed)), fmtMs(f.serverCPU*1000), other)
			other = "″"
		}
		for i, f := range rec.bodies {
			w("| %s | FETCH BODY.PEEK[] | %d | %s | %s | %s | %s |\n", rec.target, i+1, fmtMs(ms(f.elapsed)), fmtRate(f.mbPerSec()), fmtMs(f.serverCPU*1000), other)
		}
	}
	var tl []string
	for _, rec := range r.records {
		if rec.idle == nil || len(rec.idle.timeline) == 0 {
			continue
		}
		var pts []string
		base := rec.idle.timeline[0].at.Add(-r.cfg.afterWait)
		for _, s := range rec.idle.timeline {
			pts = append(pts, fmt.Sprintf("+%.0f s: %.1f", s.at.Sub(base).Seconds(), mib(s.pss)))
		}
		tl = append(tl, fmt.Sprintf("- %s (before: %.1f): %s", rec.target, mib(rec.idle.before.pss), strings.Join(pts, ", ")))
	}
	if len(tl) > 0 {
		w("\nPss (MiB) of the server's processes after the last SELECT of the idle connections:\n\n%s\n", strings.Join(tl, "\n"))
	}
	w("\n</details>\n")
	return b.String()
}

// skippedStep returns why step was left out for this record's server, or
// "" (also for a nil record).
func (rec *imapRecord) skippedStep(step string) string {
	if rec == nil {
		return ""
	}
	return rec.skipped[step]
}

func (r *imapReport) anyBulk() bool {
	for _, rec := range r.records {
		if rec.bulk != nil {
			return true
		}
	}
	return false
}

// fillTable writes the table of one part of the fill (APPEND or
// MULTIAPPEND).
// fillTable writes the table of one part of the fill. With rounds (the
// timed single APPENDs), msg/s is the median of the rounds' rates with
// their spread, and Petrel's advantage the ratio of the medians; without,
// the rate of the whole part.
func (r *imapReport) fillTable(b *strings.Builder, part func(*imapRecord) *fillResult, rounds func(*imapRecord) []*fillResult) {
	w := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	rateHead := "msg/s"
	if rounds != nil {
		rateHead = "msg/s (median of the rounds, min–max)"
	}
	w("| Server | messages | time | %s | MB/s | server CPU/msg | other CPU | Petrel's advantage |\n|---|---:|---:|---:|---:|---:|---:|---:|\n", rateHead)
	rate := func(rec *imapRecord) spread {
		if rounds == nil {
			return spreadOf([]float64{part(rec).msgsPerSec()})
		}
		var xs []float64
		for _, f := range rounds(rec) {
			xs = append(xs, f.msgsPerSec())
		}
		return spreadOf(xs)
	}
	var pr float64
	pn := 0
	if p := r.record("Petrel"); p != nil && part(p) != nil && part(p).failures == 0 {
		pr, pn = rate(p).med, part(p).messages
	}
	for _, row := range r.rows() {
		t, rec := row.t, row.rec
		var f *fillResult
		if rec != nil {
			f = part(rec)
		}
		if f == nil && rec != nil && rec.fill != nil && rec.bulk == nil && rec.err == nil {
			w("| %s | none: its %d messages were all APPENDed one by one | | | | | | |\n", t.name, rec.messages)
			continue
		}
		if f == nil || f.failures > 0 || f.messages == 0 {
			w("| %s | %s | | | | | | |\n", t.name, statusCell(t, rec))
			continue
		}
		cpu := fmtMs(f.serverCPU * 1000 / float64(f.messages))
		rs := rate(rec)
		// Rates: Petrel's advantage is petrel/peer, on the same count only.
		adv := ratioCell(t.name, rs.med, pr, pn == f.messages)
		w("| %s | %d | %.1f s | %s | %.2f | %s | %s | %s |\n", t.name, f.messages, f.elapsed.Seconds(), rs.format(fmtRate), f.mbPerSec(), cpu, fmtOther(f.foreign), adv)
	}
}

// mailboxText describes the mailbox (a list item).
func (r *imapReport) mailboxText() string {
	c := r.cfg
	var expected int64
	bareCR := 0
	for _, rec := range r.records {
		if rec.expected > 0 && rec.messages == c.messages {
			expected, bareCR = rec.expected, rec.bareCR
		}
	}
	reused := ""
	if n := r.corpus.Messages; n > 0 && c.messages > n {
		reused = fmt.Sprintf(": the %d corpus messages in the harness's fixed shuffled order, then again from the start for the other %d, "+
			"each copy with a `Message-ID: <petrel-bench.copyN.I@%s>` added as the first header field (its own Message-ID renamed `X-Original-Message-ID`) "+
			"so that no two messages have the same bytes", n, c.messages-n, benchDomain)
	} else {
		reused = " taken from the corpus in the harness's fixed shuffled order"
	}
	size := ""
	if expected > 0 {
		size = fmt.Sprintf(", %.1f MB (%d bytes) in all", float64(expected)/1e6, expected)
	}
	crs := ""
	if bareCR > 0 {
		crs = fmt.Sprintf("; the bare CRs (not followed by LF: not allowed by RFC 5322) of %d corpus messages are removed, as servers treat them differently "+
			"(Dovecot turns CR CR LF into CR LF) and the FETCH checks compare the sizes served with the bytes appended", bareCR)
	}
	smaller := ""
	for _, rec := range r.records {
		if rec.note != "" {
			smaller += fmt.Sprintf(" **%s's mailbox holds the first %s.**", rec.target, rec.note)
		}
	}
	return fmt.Sprintf("- **Mailbox:** user1's INBOX, filled with %d messages%s%s. Corpus: SpamAssassin public corpus (%s), %d messages, CRLF line ends%s.%s\n",
		c.messages, reused, size, r.corpus.Source, r.corpus.Messages, crs, smaller)
}

// fillText describes how the mailbox is filled (a list item).
func (r *imapReport) fillText() string {
	c := r.cfg
	bulk := ""
	if c.appendN < c.messages {
		bulk = fmt.Sprintf(" The other %d messages are then added by MULTIAPPEND (RFC 3502: one APPEND command with %d messages, each a LITERAL+ literal), "+
			"on the same %d connections, timed apart (a quicker fill of the rest of the mailbox, and a figure of its own).", c.messages-c.appendN, c.batch, c.conns)
	}
	return fmt.Sprintf("- **APPEND rate:** the first %d messages in %d rounds of about %d, each round on %d fresh connections, each with one APPEND in flight at a time (no pipelining), with a non-synchronizing literal (LITERAL+, RFC 7888) "+
		"when the server offers it, no flags, no date; a round is timed from its first APPEND sent to its last tagged OK, and the rate is the median of the rounds (min–max).%s The mailbox is then checked (SELECT) to hold exactly the messages appended.\n",
		c.appendN, min(appendRounds, c.appendN), c.appendN/max(1, min(appendRounds, c.appendN)), c.conns, bulk)
}

// openCell is the open time of the idle connections, with their number
// when it is not the run's.
func (r *imapReport) openCell(id *idleResult) string {
	if id.conns != r.cfg.idle {
		return fmt.Sprintf("%.1f s (%d connections)", id.open.Seconds(), id.conns)
	}
	return fmt.Sprintf("%.1f s", id.open.Seconds())
}

func fmtMiBf(b float64) string { return fmt.Sprintf("%.1f MiB", b/(1<<20)) }

// targetLines checks issue 3's targets against the peer named "Dovecot"
// (Dovecot's default settings).
func (r *imapReport) targetLines() []string {
	p := r.record("Petrel")
	if p == nil || p.err != nil && len(p.summary) < 2 && p.idle == nil {
		return nil
	}
	verdict := func(ok bool) string {
		if ok {
			return "met"
		}
		return "**not met**"
	}
	var lines []string
	if d := r.record("Dovecot"); d != nil && len(p.summary) >= 2 && len(d.summary) >= 2 {
		pw, dw := elapsedMs(warm(p.summary)).med, elapsedMs(warm(d.summary)).med
		pf, df := ms(p.summary[0].elapsed), ms(d.summary[0].elapsed)
		if pw > 0 && pf > 0 {
			lines = append(lines, fmt.Sprintf("Summary FETCH at least %.0f× as fast as Dovecot: %s (warm median %s against %s, %s; first run after the fill %s against %s, %s).",
				targetFetchSpeedup, verdict(dw/pw >= targetFetchSpeedup && df/pf >= targetFetchSpeedup),
				fmtMs(pw), fmtMs(dw), fmtRatio(dw/pw), fmtMs(pf), fmtMs(df), fmtRatio(df/pf)))
		}
	}
	if p.idle != nil && p.idle.conns > 0 && p.err == nil {
		per := p.idle.perConn(p.idle.final(), true)
		which := "+2 s"
		if !p.idle.settled.at.IsZero() {
			which = "settled"
		}
		line := fmt.Sprintf("At most 64 KiB per idle connection: %s (%s per connection, Pss %s", verdict(per <= targetIdleBytes), fmtBytesPer(per), which)
		if which == "settled" {
			line += fmt.Sprintf("; %s at +2 s", fmtBytesPer(p.idle.perConn(p.idle.after, true)))
		}
		line += ")."
		lines = append(lines, line)
	}
	return lines
}

// busyPhases names the measured steps during which other processes used
// more than busyThreshold of the machine, or "".
func (r *imapReport) busyPhases() string {
	var out []string
	for _, rec := range r.records {
		if rec.fill != nil && rec.fill.foreign > busyThreshold {
			out = append(out, rec.target+" APPEND")
		}
		if rec.bulk != nil && rec.bulk.foreign > busyThreshold {
			out = append(out, rec.target+" MULTIAPPEND")
		}
		if rec.fetchForeign > busyThreshold {
			out = append(out, rec.target+" FETCH runs")
		}
	}
	return strings.Join(out, ", ")
}
