package main

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"time"
)

const (
	lmtpBegin   = "<!-- bench:lmtp:begin -->"
	lmtpEnd     = "<!-- bench:lmtp:end -->"
	imapBegin   = "<!-- bench:imap:begin -->"
	imapEnd     = "<!-- bench:imap:end -->"
	searchBegin = "<!-- bench:search:begin -->"
	searchEnd   = "<!-- bench:search:end -->"
)

// targetStatus is what the report says about one target overall.
type targetStatus struct {
	name    string
	version string
	setup   string
	skipped string // reason, when the target is not available here
	failed  string // first error, when it failed to build/start/deliver
	// notMeasured: why this workload leaves out a server that is
	// available.
	notMeasured string
}

type runRecord struct {
	round  int
	rcpts  int
	target string
	res    *lmtpResult
	disk   int64 // bytes, after the run, data folder of a stopped server
	// foreign is the share of the machine's CPU used by other processes
	// during the run (-1 if unknown); serverCPU is the CPU seconds used by
	// the server's processes during the run, warm-up included.
	foreign   float64
	serverCPU float64
	err       error
}

type reportData struct {
	date     time.Time
	duration time.Duration // the LMTP workload (and the preparation before it)
	total    time.Duration // the whole run
	command  string
	machine  machineInfo
	corpus   corpusInfo
	smoke    bool
	messages map[int]int // timed messages per run, by recipients per message
	warmup   int
	conns    int
	users    int
	runs     int
	rcpts    []int
	targets  []targetStatus
	records  []runRecord
}

type machineInfo struct {
	cpu    string
	nproc  int
	memory string
	kernel string
	os     string
	fs     string
	goVer  string
}

func readMachineInfo(dataRoot string) machineInfo {
	m := machineInfo{nproc: runtime.NumCPU(), goVer: runtime.Version(), cpu: "unknown", memory: "unknown"}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				m.cpu = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	if f, err := os.Open("/proc/meminfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			var kb int64
			if _, err := fmt.Sscanf(sc.Text(), "MemTotal: %d kB", &kb); err == nil {
				m.memory = fmt.Sprintf("%.1f GiB (MemTotal %d kB)", float64(kb)/(1<<20), kb)
				break
			}
		}
		f.Close()
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.kernel = "Linux " + strings.TrimSpace(string(b))
	}
	if f, err := os.Open("/etc/os-release"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "PRETTY_NAME="); ok {
				m.os = strings.Trim(v, `"`)
			}
		}
		f.Close()
	}
	m.fs = mountOf(dataRoot)
	return m
}

// mountOf names the filesystem holding path, from /proc/mounts.
func mountOf(path string) string {
	b, err := os.ReadFile("/proc/mounts")
	if err != nil {
		return "unknown"
	}
	best, bestLen := "unknown", -1
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 3 {
			continue
		}
		mp := f[1]
		if (path == mp || strings.HasPrefix(path, strings.TrimSuffix(mp, "/")+"/")) && len(mp) > bestLen {
			best, bestLen = fmt.Sprintf("%s on %s (%s)", f[2], mp, f[0]), len(mp)
		}
	}
	return best
}

// stats over a set of runs.
type spread struct {
	med, min, max float64
	n             int
}

func spreadOf(xs []float64) spread {
	if len(xs) == 0 {
		return spread{}
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	med := s[len(s)/2]
	if len(s)%2 == 0 {
		med = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return spread{med: med, min: s[0], max: s[len(s)-1], n: len(s)}
}

func (s spread) format(f func(float64) string) string {
	if s.n == 0 {
		return "–"
	}
	if s.n == 1 || f(s.min) == f(s.max) {
		return f(s.med)
	}
	return fmt.Sprintf("%s (%s–%s)", f(s.med), f(s.min), f(s.max))
}

// fmtRate formats a rate or a duration in milliseconds with about three
// significant figures.
func fmtRate(x float64) string {
	switch {
	case x >= 100:
		return fmt.Sprintf("%.0f", x)
	case x >= 10:
		return fmt.Sprintf("%.1f", x)
	default:
		return fmt.Sprintf("%.2f", x)
	}
}

func fmtKiB(x float64) string { return fmt.Sprintf("%.1f KiB", x/1024) }

func fmtRatio(x float64) string { return fmt.Sprintf("%.2f×", x) }

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func workloadName(rcpts int) string {
	if rcpts == 1 {
		return "1 recipient"
	}
	return fmt.Sprintf("%d recipients", rcpts)
}

// ok reports whether a run counts for the figures.
func (r runRecord) ok() bool { return r.err == nil && r.res != nil && r.res.timed > 0 }

// markdown renders the LMTP section (without the block markers).
func (d *reportData) markdown() string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	title := "LMTP delivery"
	if d.smoke {
		title += " (smoke run: too small to compare, checks the harness only)"
	}
	w("## %s\n\n", title)
	took := d.duration.Round(time.Second).String()
	if d.total-d.duration > 5*time.Second {
		took = fmt.Sprintf("%s for the LMTP part, %s in all", took, d.total.Round(time.Second))
	}
	w("Generated %s by `%s` (took %s).\n\n", d.date.UTC().Format("2006-01-02 15:04 UTC"), d.command, took)
	w("- **Machine:** %s, %d CPUs (nproc), %s memory; %s; %s; data on %s; %s.\n",
		d.machine.cpu, d.machine.nproc, d.machine.memory, d.machine.os, d.machine.kernel, d.machine.fs, d.machine.goVer)
	w("- **Corpus:** SpamAssassin public corpus (%s): %d messages, %.1f MiB after conversion to CRLF (mbox `From ` line dropped).\n",
		d.corpus.Source, d.corpus.Messages, float64(d.corpus.Bytes)/(1<<20))
	w("- **Workload:** the same Go client for every server (`smtp.NewClientLMTP` from go-smtp), %d persistent connections, "+
		"%s timed messages per run after %d warm-up messages, messages taken round robin from the corpus (in a fixed shuffled order) and recipients round robin from %d users. "+
		"A message counts only when every recipient got a 2xx reply; latency is from MAIL FROM to the last per-recipient reply.\n",
		d.conns, d.messagesText(), d.warmup, d.users)
	w("- **Runs:** %d per server and workload, each from a fresh data folder with a freshly started server; the order of servers alternates from round to round. Measured folders are deleted at the end of the bench, not between runs, and each run's folder starts in a block group of its own (`chattr +T` on the bench's root): on this ext4 without a journal, inodes freed by one run were otherwise skipped one by one by the next run's file creations. "+
		"Figures are medians with min–max over the runs; the ratio is Petrel's throughput divided by the peer's within each round, then the median.\n", d.runs)
	w("- **Server CPU/msg:** CPU time (user+system) of the server's processes during the run divided by the messages delivered, warm-up included. " +
		"**Other CPU** (per-run table): share of the machine's CPU capacity used during the run by processes other than the harness and the server.\n")
	w("- **Disk/msg:** `du` of the data folder after the run (server stopped, hard links counted once) divided by the messages delivered, warm-up included.\n")
	if busy := d.busyRuns(); busy > 0 {
		w("- **Warning:** in %d of %d runs other processes used more than %.0f%% of the machine's CPU (see the per-run table): "+
			"the machine was shared, so these figures are noisier than usual; the per-round ratios are more telling than absolute rates.\n",
			busy, len(d.records), busyThreshold*100)
	}
	w("\nServers:\n\n")
	for _, t := range d.targets {
		switch {
		case t.skipped != "":
			w("- **%s: skipped** — %s\n", t.name, t.skipped)
		case t.failed != "":
			w("- **%s: FAILED** — %s%s\n", t.name, oneLine(t.failed), versionSuffix(t.version))
		case t.notMeasured != "":
			w("- **%s** %s — not measured here: %s\n", t.name, t.version, t.notMeasured)
		default:
			w("- **%s** %s — %s\n", t.name, t.version, t.setup)
		}
	}
	w("\n| Workload | Server | msg/s | recipients/s | p50 latency (ms) | p99 latency (ms) | server CPU/msg (ms) | disk/msg | failed msgs |\n")
	w("|---|---|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, rc := range d.rcpts {
		for _, t := range d.targets {
			if t.skipped != "" {
				w("| %s | %s | skipped | | | | | | |\n", workloadName(rc), t.name)
				continue
			}
			if t.notMeasured != "" {
				w("| %s | %s | not measured | | | | | | |\n", workloadName(rc), t.name)
				continue
			}
			if t.failed != "" && d.find(-1, rc, t.name) == nil {
				w("| %s | %s | FAILED | | | | | | |\n", workloadName(rc), t.name)
				continue
			}
			var mps, rps, p50, p99, cpu, disk []float64
			failures, okRuns, badRuns := 0, 0, 0
			for _, r := range d.records {
				if r.rcpts != rc || r.target != t.name {
					continue
				}
				if r.res != nil {
					failures += r.res.failures
				}
				if !r.ok() {
					badRuns++
					continue
				}
				okRuns++
				mps = append(mps, r.res.msgsPerSec())
				rps = append(rps, r.res.rcptsPerSec())
				p50 = append(p50, ms(percentile(r.res.latencies, 50)))
				p99 = append(p99, ms(percentile(r.res.latencies, 99)))
				if r.res.delivered > 0 && r.disk > 0 {
					disk = append(disk, float64(r.disk)/float64(r.res.delivered))
				}
				if r.res.delivered > 0 && r.serverCPU > 0 {
					cpu = append(cpu, r.serverCPU*1000/float64(r.res.delivered))
				}
			}
			fail := fmt.Sprint(failures)
			if badRuns > 0 {
				fail += fmt.Sprintf(" (%d of %d runs failed)", badRuns, okRuns+badRuns)
			}
			w("| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", workloadName(rc), t.name,
				spreadOf(mps).format(fmtRate), spreadOf(rps).format(fmtRate),
				spreadOf(p50).format(fmtRate), spreadOf(p99).format(fmtRate),
				spreadOf(cpu).format(fmtRate), spreadOf(disk).format(fmtKiB), fail)
		}
	}
	if ratios := d.ratioLines(); len(ratios) > 0 {
		w("\nPetrel's throughput relative to each peer (msg/s ratio per round, median and min–max; above 1 means Petrel is faster):\n\n")
		for _, l := range ratios {
			w("- %s\n", l)
		}
	}
	var failed []string
	for _, r := range d.records {
		if r.err != nil {
			failed = append(failed, fmt.Sprintf("round %d, %s, %s: %s", r.round+1, workloadName(r.rcpts), r.target, oneLine(r.err.Error())))
		}
	}
	if len(failed) > 0 {
		w("\nFailed runs:\n\n")
		for _, f := range failed {
			w("- %s\n", f)
		}
	}
	w("\n<details><summary>Per-run figures</summary>\n\n")
	w("| Round | Workload | Server | msg/s | p50 ms | p99 ms | delivered | disk | server CPU | other CPU |\n|---:|---|---|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, r := range d.records {
		if r.res == nil {
			w("| %d | %s | %s | error | | | | | | |\n", r.round+1, workloadName(r.rcpts), r.target)
			continue
		}
		other := "?"
		if r.foreign >= 0 {
			other = fmt.Sprintf("%.0f%%", r.foreign*100)
		}
		w("| %d | %s | %s | %s | %s | %s | %d | %.1f MiB | %.1f s | %s |\n", r.round+1, workloadName(r.rcpts), r.target,
			fmtRate(r.res.msgsPerSec()), fmtRate(ms(percentile(r.res.latencies, 50))), fmtRate(ms(percentile(r.res.latencies, 99))),
			r.res.delivered, float64(r.disk)/(1<<20), r.serverCPU, other)
	}
	w("\n</details>\n")
	return b.String()
}

// messagesText lists the timed messages per run of each workload.
func (d *reportData) messagesText() string {
	var parts []string
	for _, rc := range d.rcpts {
		parts = append(parts, fmt.Sprintf("%d (%s)", d.messages[rc], workloadName(rc)))
	}
	return strings.Join(parts, " and ")
}

// busyThreshold is the share of the machine's CPU used by other processes
// above which a run is flagged as disturbed.
const busyThreshold = 0.10

// busyRuns counts runs during which other processes used more than
// busyThreshold of the machine.
func (d *reportData) busyRuns() int {
	n := 0
	for _, r := range d.records {
		if r.foreign > busyThreshold {
			n++
		}
	}
	return n
}

func (d *reportData) ratioLines() []string {
	var lines []string
	for _, rc := range d.rcpts {
		for _, t := range d.targets {
			if t.name == "Petrel" || t.skipped != "" || t.notMeasured != "" {
				continue
			}
			var ratios []float64
			for round := 0; round < d.runs; round++ {
				p, q := d.find(round, rc, "Petrel"), d.find(round, rc, t.name)
				if p != nil && q != nil && q.res.msgsPerSec() > 0 {
					ratios = append(ratios, p.res.msgsPerSec()/q.res.msgsPerSec())
				}
			}
			if len(ratios) == 0 {
				continue
			}
			lines = append(lines, fmt.Sprintf("%s, Petrel / %s: **%s** over %d round(s)", workloadName(rc), t.name, spreadOf(ratios).format(fmtRatio), len(ratios)))
		}
	}
	return lines
}

// find returns the successful run of target for the workload in round
// (any round when round < 0), or nil.
func (d *reportData) find(round, rcpts int, target string) *runRecord {
	for i := range d.records {
		r := &d.records[i]
		if (round < 0 || r.round == round) && r.rcpts == rcpts && r.target == target && r.ok() {
			return r
		}
	}
	return nil
}

// oneLine flattens a multi-line error for a Markdown list item.
func oneLine(s string) string {
	s = strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", " / ")), " ")
	if len(s) > 400 {
		s = s[:400] + "…"
	}
	return s
}

func versionSuffix(v string) string {
	if v == "" {
		return ""
	}
	return " (" + v + ")"
}

// replaceBlock returns doc with the text between the begin and end markers
// replaced by content. When both markers are missing the block is appended;
// the rest of doc is kept byte for byte. A lone or misordered marker is an
// error rather than a guess.
func replaceBlock(doc, begin, end, content string) (string, error) {
	return replaceBlockAfter(doc, begin, end, "", content)
}

// replaceBlockAfter is replaceBlock, except that a missing block goes right
// after the line holding the marker anchor when doc has one (and is
// appended otherwise).
func replaceBlockAfter(doc, begin, end, anchor, content string) (string, error) {
	block := begin + "\n" + strings.TrimRight(content, "\n") + "\n" + end
	i, j := strings.Index(doc, begin), strings.Index(doc, end)
	switch {
	case i >= 0 && j > i:
		if strings.Count(doc, begin) > 1 || strings.Count(doc, end) > 1 {
			return "", fmt.Errorf("more than one %s … %s block", begin, end)
		}
		return doc[:i] + block + doc[j+len(end):], nil
	case i >= 0 || j >= 0:
		return "", fmt.Errorf("unmatched %s / %s markers", begin, end)
	case anchor != "" && strings.Contains(doc, anchor):
		k := strings.Index(doc, anchor) + len(anchor)
		if nl := strings.IndexByte(doc[k:], '\n'); nl >= 0 {
			k += nl + 1
		} else {
			doc += "\n"
			k = len(doc)
		}
		return doc[:k] + "\n" + block + "\n" + doc[k:], nil
	case doc == "":
		return block + "\n", nil
	case strings.HasSuffix(doc, "\n\n"):
		return doc + block + "\n", nil
	case strings.HasSuffix(doc, "\n"):
		return doc + "\n" + block + "\n", nil
	default:
		return doc + "\n\n" + block + "\n", nil
	}
}

// docBlock is one generated block of the benchmarks document.
type docBlock struct {
	begin, end string
	after      string // marker a new block is placed after, if present
	content    string
}

// writeBlock replaces the LMTP block in the file at path, creating the file
// if needed.
func writeBlock(path, content string) error {
	return writeBlocks(path, []docBlock{{begin: lmtpBegin, end: lmtpEnd, content: content}})
}

// writeBlocks replaces the given blocks in the file at path (creating the
// file if needed) and leaves everything else as it was.
func writeBlocks(path string, blocks []docBlock) error {
	old, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	doc := string(old)
	if doc == "" {
		doc = "# Benchmarks\n\nProduced by `go run ./bench` (see bench/README.md). Blocks between `bench:` markers are rewritten by the harness.\n"
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	for _, b := range blocks {
		doc, err = replaceBlockAfter(doc, b.begin, b.end, b.after, b.content)
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(doc), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
