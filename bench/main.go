// Command bench measures Petrel against peer mail servers on the same
// machine, with the same client code and workload, and prints a Markdown
// report. See bench/README.md.
//
//	go run ./bench --smoke
//	go run ./bench --write docs/benchmarks.md
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() { os.Exit(run()) }

type options struct {
	smoke        bool
	messages     int
	warmup       int
	runs         int
	conns        int
	users        int
	rcpts        []int
	targets      []string
	cache        string
	repo         string
	write        string
	installPeers bool
	keep         bool

	lmtp, imap, search, lag bool // workloads
	imapMessages            int
	appendMessages          int
	batch                   int
	imapConns               int
	imapRuns                int
	idleConns               int
	idleParallel            int
	idleSettle              time.Duration
	cyrusIdle               int

	searchTerms    int
	searchBudget   time.Duration
	searchTimeout  time.Duration
	xapianMessages int
	indexTimeout   time.Duration

	lagRate          float64
	lagDuration      time.Duration
	lagConns         int
	lagDrain         time.Duration
	lagSearchTimeout time.Duration
}

// allTargets is the default --targets.
const allTargets = "petrel,dovecot,dovecot-fsync,dovecot-xapian,cyrus"

func parseFlags(args []string) (*options, error) {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	o := &options{}
	var rcpts, targets, workloads string
	fs.BoolVar(&o.smoke, "smoke", false, "tiny run of every workload (under a minute) that fails on any failure; see the README for its sizes")
	fs.IntVar(&o.messages, "messages", 0, "lmtp: timed messages per run with 1 recipient; a workload with R recipients delivers this / R (at least 50); 0 = the whole corpus less the warm-up (30 with --smoke)")
	fs.IntVar(&o.warmup, "warmup", 100, "lmtp: untimed warm-up messages per run (5 with --smoke)")
	fs.IntVar(&o.runs, "runs", 3, "lmtp: runs per server and workload, each from a fresh data folder (1 with --smoke)")
	fs.IntVar(&o.conns, "conns", 4, "lmtp: concurrent LMTP connections")
	fs.IntVar(&o.users, "users", 10, "lmtp: mail users created on every server (5 with --smoke)")
	fs.StringVar(&rcpts, "rcpts", "1,5", "lmtp: comma-separated recipients per message, one workload each")
	fs.StringVar(&targets, "targets", allTargets, "comma-separated servers to run: petrel, dovecot (default fsync settings), dovecot-fsync (mail_fsync = always: Petrel's durability), "+
		"dovecot-xapian (with Debian's dovecot-fts-xapian), cyrus (Cyrus IMAP 3.6)")
	fs.StringVar(&o.cache, "cache", defaultCacheDir(), "cache folder for the corpus tarball (and Cyrus's imapd)")
	fs.StringVar(&o.repo, "repo", "", "Petrel module root (default: found from the working directory)")
	fs.StringVar(&o.write, "write", "", "replace the blocks of the workloads run in this Markdown file (e.g. docs/benchmarks.md); full mode only")
	fs.StringVar(&workloads, "workload", "lmtp,imap,search,lag", "comma-separated workloads: lmtp (delivery), imap (APPEND, FETCH, idle connections), "+
		"search (full-text indexing, disk per message, SEARCH), lag (LMTP 250 to found by SEARCH under steady load); imap, search and lag share one filled mailbox per server")
	fs.IntVar(&o.imapMessages, "imap-messages", 12000, "messages in the one mailbox; the corpus is reused with new Message-IDs beyond its size (200 with --smoke)")
	fs.IntVar(&o.appendMessages, "append-messages", 1000, "of which added by single APPENDs (the timed APPEND rate); the others by MULTIAPPEND (50 with --smoke)")
	fs.IntVar(&o.batch, "multiappend-batch", 250, "messages per MULTIAPPEND command for the rest of the fill (50 with --smoke)")
	fs.IntVar(&o.imapConns, "imap-conns", 4, "concurrent APPEND connections")
	fs.IntVar(&o.imapRuns, "imap-runs", 3, "imap: timed runs of each FETCH after the first one (1 with --smoke)")
	fs.IntVar(&o.idleConns, "idle-conns", 1000, "imap: idle connections (LOGIN + SELECT INBOX) for the memory measurement, 0 to skip (10 with --smoke)")
	fs.IntVar(&o.cyrusIdle, "cyrus-idle-conns", 100, "imap: at most this many idle connections for Cyrus (an imapd process each; 1,000 took 4 minutes to open here)")
	fs.IntVar(&o.idleParallel, "idle-parallel", 8, "imap: idle connections being opened at a time")
	fs.DurationVar(&o.idleSettle, "idle-settle", 0, "imap: if set, a further memory sample this long after opening the idle connections (Go forces a GC every 2 minutes: 150s shows Petrel after it)")
	fs.IntVar(&o.searchTerms, "search-terms", 240, "search: queries in the sample, a quarter per key (TEXT, BODY, FROM, SUBJECT) (24 with --smoke)")
	fs.DurationVar(&o.searchBudget, "search-budget", 8*time.Second, "search: time per key and server after which the key's other queries are left out (1s with --smoke)")
	fs.DurationVar(&o.searchTimeout, "search-timeout", time.Minute, "search: a query without an answer after this fails the workload")
	fs.IntVar(&o.xapianMessages, "xapian-messages", 1000, "search: mailbox size for dovecot-xapian, whose indexing (about 25 msg/s here) cannot fit 12,000 messages in the time (40 with --smoke)")
	fs.DurationVar(&o.indexTimeout, "index-timeout", 5*time.Minute, "search: longest wait for a full-text index to catch up or be built (1m with --smoke)")
	fs.Float64Var(&o.lagRate, "lag-rate", 500, "lag: LMTP messages per second offered (100 with --smoke)")
	fs.DurationVar(&o.lagDuration, "lag-duration", 20*time.Second, "lag: length of the steady delivery load (1s with --smoke)")
	fs.IntVar(&o.lagConns, "lag-conns", 20, "lag: LMTP connections, as many as Postfix opens to one destination by default (4 with --smoke)")
	fs.DurationVar(&o.lagDrain, "lag-drain", 5*time.Second, "lag: time the last probe has to be found after the load (2s with --smoke)")
	fs.DurationVar(&o.lagSearchTimeout, "lag-search-timeout", 10*time.Second, "lag: a SEARCH without an answer after this ends the probing (5s with --smoke)")
	fs.BoolVar(&o.installPeers, "install-peers", false, "apt-get install missing peer servers (root only)")
	fs.BoolVar(&o.keep, "keep", false, "keep the temp folder with data and logs")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if o.smoke {
		smoke := func(name string, apply func()) {
			if !set[name] {
				apply()
			}
		}
		smoke("messages", func() { o.messages = 30 })
		smoke("users", func() { o.users = 5 })
		smoke("runs", func() { o.runs = 1 })
		smoke("warmup", func() { o.warmup = 5 })
		smoke("imap-messages", func() { o.imapMessages = 200 })
		smoke("append-messages", func() { o.appendMessages = 50 })
		smoke("multiappend-batch", func() { o.batch = 50 })
		smoke("imap-runs", func() { o.imapRuns = 1 })
		smoke("idle-conns", func() { o.idleConns = 10 })
		smoke("idle-settle", func() { o.idleSettle = 0 })
		smoke("search-terms", func() { o.searchTerms = 24 })
		smoke("search-budget", func() { o.searchBudget = time.Second })
		smoke("xapian-messages", func() { o.xapianMessages = 40 })
		smoke("index-timeout", func() { o.indexTimeout = time.Minute })
		smoke("lag-rate", func() { o.lagRate = 100 })
		smoke("lag-duration", func() { o.lagDuration = time.Second })
		smoke("lag-conns", func() { o.lagConns = 4 })
		smoke("lag-drain", func() { o.lagDrain = 2 * time.Second })
		smoke("lag-search-timeout", func() { o.lagSearchTimeout = 5 * time.Second })
		if o.write != "" {
			return nil, errors.New("--write is for full runs only; a smoke run's figures are not benchmark results")
		}
	}
	for _, s := range strings.Split(rcpts, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("--rcpts: bad count %q", s)
		}
		if n > o.users {
			return nil, fmt.Errorf("--rcpts %d needs --users >= %d", n, n)
		}
		o.rcpts = append(o.rcpts, n)
	}
	for _, s := range strings.Split(targets, ",") {
		s = strings.ToLower(strings.TrimSpace(s))
		switch s {
		case "petrel", dovecotPlain, dovecotFsync, dovecotXapian, "cyrus":
		default:
			return nil, fmt.Errorf("--targets: unknown server %q (%s)", s, allTargets)
		}
		o.targets = append(o.targets, s)
	}
	for _, s := range strings.Split(workloads, ",") {
		switch strings.ToLower(strings.TrimSpace(s)) {
		case "lmtp":
			o.lmtp = true
		case "imap":
			o.imap = true
		case "search":
			o.search = true
		case "lag":
			o.lag = true
		default:
			return nil, fmt.Errorf("--workload: unknown workload %q (lmtp, imap, search, lag)", s)
		}
	}
	if o.runs < 1 || o.conns < 1 || o.users < 1 || o.messages < 0 || o.warmup < 0 {
		return nil, errors.New("--runs, --conns and --users must be >= 1; --messages and --warmup >= 0")
	}
	if o.imapMessages < 1 || o.imapConns < 1 || o.imapRuns < 1 || o.idleConns < 0 || o.idleParallel < 1 || o.idleSettle < 0 ||
		o.appendMessages < 1 || o.batch < 1 {
		return nil, errors.New("--imap-messages, --append-messages, --multiappend-batch, --imap-conns, --imap-runs and --idle-parallel must be >= 1; --idle-conns and --idle-settle >= 0")
	}
	if o.searchTerms < 4 || o.searchBudget <= 0 || o.xapianMessages < 1 || o.lagRate <= 0 || o.lagDuration <= 0 || o.lagConns < 1 {
		return nil, errors.New("--search-terms must be >= 4; --search-budget, --lag-rate and --lag-duration > 0; --xapian-messages and --lag-conns >= 1")
	}
	return o, nil
}

// wholeCorpus sets --messages 0 to the corpus once, warm-up included, so
// that no body is delivered twice in a run (Petrel would store it once).
func (o *options) wholeCorpus(corpus int) error {
	if o.messages == 0 {
		if corpus-o.warmup < 50 {
			return fmt.Errorf("--messages 0: the corpus (%d messages) leaves fewer than 50 after the %d of warm-up", corpus, o.warmup)
		}
		o.messages = corpus - o.warmup
	}
	return nil
}

// lmtpMessages is the number of timed messages of a workload with rcpts
// recipients.
func (o *options) lmtpMessages(rcpts int) int {
	if rcpts <= 1 {
		return o.messages
	}
	return max(o.messages/rcpts, min(50, o.messages))
}

// began is when the harness started; log lines show the time since.
var began = time.Now()

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench: %5.1fs "+format+"\n", append([]any{time.Since(began).Seconds()}, args...)...)
}

func run() int {
	o, err := parseFlags(os.Args[1:])
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 2
	}
	// Signals cancel the context; the deferred cleanup below stops every
	// server. Further signals are swallowed until the cleanup is done.
	ctx, stopSignals := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer stopSignals()
	dieWithGoRun()

	began = time.Now()
	repo := o.repo
	if repo == "" {
		if repo, err = findModuleRoot(); err != nil {
			logf("%v", err)
			return 2
		}
	}

	tgz, err := ensureCorpus(ctx, o.cache)
	if err != nil {
		logf("corpus: %v", err)
		return 1
	}
	corpus, cinfo, err := loadCorpusFile(tgz)
	if err != nil {
		logf("corpus: %v", err)
		return 1
	}
	logf("corpus: %d messages, %.1f MiB (CRLF) from %s", cinfo.Messages, float64(cinfo.Bytes)/(1<<20), tgz)
	if err := o.wholeCorpus(len(corpus)); err != nil {
		logf("%v", err)
		return 1
	}

	root, err := os.MkdirTemp("", "petrel-bench-")
	if err != nil {
		logf("%v", err)
		return 1
	}
	// Dovecot's mail user must be able to traverse it.
	_ = os.Chmod(root, 0o755)
	spreadRuns(root)
	var all []target
	defer func() {
		for _, t := range all {
			if err := t.Stop(); err != nil {
				logf("stopping %s: %v", t.Name(), err)
			}
		}
		if o.keep {
			logf("kept %s", root)
		} else {
			_ = os.RemoveAll(root)
		}
	}()
	for _, name := range o.targets {
		switch name {
		case "petrel":
			all = append(all, newPetrel(repo, root, o.users))
		case dovecotPlain, dovecotFsync, dovecotXapian:
			all = append(all, newDovecot(root, o.users, o.installPeers, name, o.idleConns))
		case "cyrus":
			all = append(all, newCyrus(root, o.cache, o.users, o.installPeers, o.idleConns, o.cyrusIdle))
		}
	}

	rep := &reportData{
		date: began, command: commandLine(os.Args[1:]), machine: readMachineInfo(root), corpus: cinfo,
		smoke: o.smoke, messages: map[int]int{}, warmup: o.warmup, conns: o.conns, users: o.users,
		runs: o.runs, rcpts: o.rcpts,
	}
	for _, rc := range o.rcpts {
		rep.messages[rc] = o.lmtpMessages(rc)
	}
	statusOf := map[string]*targetStatus{}
	var active []target
	for _, t := range all {
		st := targetStatus{name: t.Name()}
		if p, ok := t.(preparer); ok {
			t0 := time.Now()
			err := p.Prepare(ctx)
			logf("prepared %s in %.1fs", t.Name(), time.Since(t0).Seconds())
			if err != nil {
				var se *skipError
				if errors.As(err, &se) {
					st.skipped = se.reason
					logf("%s: SKIPPED: %s", t.Name(), se.reason)
				} else {
					st.failed = err.Error()
					logf("%s: FAILED to prepare: %v", t.Name(), err)
				}
			}
		}
		st.version = t.Version()
		if d, ok := t.(describer); ok {
			st.setup = d.Setup()
		}
		rep.targets = append(rep.targets, st)
		if st.skipped == "" && st.failed == "" {
			active = append(active, t)
		}
	}
	// The IMAP report starts from the same statuses (before any LMTP
	// failure, which says nothing about IMAP).
	imapRep := &imapReport{
		date: began, command: rep.command, machine: rep.machine, corpus: cinfo, smoke: o.smoke,
		cfg: o.imapConfig(), targets: append([]targetStatus(nil), rep.targets...),
		imap: o.imap, search: o.search, lag: o.lag,
	}
	if o.search {
		imapRep.cfg.searchCfg.queries, imapRep.terms = searchSample(corpus, o)
	}
	for i := range rep.targets {
		statusOf[rep.targets[i].name] = &rep.targets[i]
	}

	if o.lmtp {
		runLMTPRounds(ctx, o, active, statusOf, corpus, rep)
		rep.duration = time.Since(began)
	}
	if (o.imap || o.search || o.lag) && ctx.Err() == nil {
		if _, err := raiseNoFile(uint64(max(4096, 2*o.idleConns+1024))); err != nil {
			logf("RLIMIT_NOFILE: %v", err)
		}
		t0 := time.Now()
		runIMAPTargets(ctx, active, corpus, imapRep)
		imapRep.duration = time.Since(t0)
	}
	if ctx.Err() != nil {
		logf("interrupted: stopping servers")
		return 130
	}
	total := time.Since(began)
	rep.total, imapRep.total = total, total
	// Setups read back from a started instance (Dovecot's mail_fsync) are
	// known only now.
	for _, t := range all {
		d, ok := t.(describer)
		if !ok {
			continue
		}
		if st := statusOf[t.Name()]; st != nil {
			st.setup = d.Setup()
		}
		st := imapRep.status(t.Name())
		st.setup = d.Setup()
		if is, ok := t.(interface{ IMAPSetup() string }); ok {
			st.setup += "; " + is.IMAPSetup()
		}
	}

	var blocks []docBlock
	// failed: any server failed; petrelFailed: Petrel did. A full run
	// whose only failures are a peer's still writes the report, which
	// lists them, and exits 1.
	failed, petrelFailed := false, false
	if o.lmtp {
		md := rep.markdown()
		fmt.Println(md)
		blocks = append(blocks, docBlock{begin: lmtpBegin, end: lmtpEnd, content: md})
		for _, st := range rep.targets {
			if st.failed != "" {
				failed = true
				petrelFailed = petrelFailed || st.name == "Petrel"
			}
		}
		for _, r := range rep.records {
			if r.err != nil {
				failed = true
				petrelFailed = petrelFailed || r.target == "Petrel"
			}
		}
	}
	if o.imap {
		md := imapRep.markdown()
		if aw := o.afterWait(); aw != 2*time.Second {
			// The labels say +2 s; a smoke run waits less.
			md = strings.ReplaceAll(md, "+2 s", "+"+aw.String())
			md = strings.ReplaceAll(md, "2 s after the last SELECT", aw.String()+" after the last SELECT")
		}
		fmt.Println(md)
		blocks = append(blocks, docBlock{begin: imapBegin, end: imapEnd, after: lmtpEnd, content: md})
	}
	if o.search || o.lag {
		md := imapRep.searchMarkdown()
		fmt.Println(md)
		blocks = append(blocks, docBlock{begin: searchBegin, end: searchEnd, after: imapEnd, content: md})
	}
	if (o.imap || o.search || o.lag) && imapRep.failed() {
		failed = true
		petrelFailed = petrelFailed || imapRep.failedTarget("Petrel")
	}
	for _, st := range rep.targets {
		if st.skipped != "" {
			logf("%s was SKIPPED (not measured): %s", st.name, st.skipped)
		}
	}
	logf("whole run took %s", total.Round(time.Second))
	if failed {
		logf("FAILED: see the report above")
		if o.write != "" && (o.smoke || petrelFailed) {
			logf("not writing %s because of the failures", o.write)
			return 1
		}
		if o.write == "" {
			return 1
		}
		logf("only peers failed: writing %s with their failures listed", o.write)
	}
	if o.write != "" {
		if err := writeBlocks(o.write, blocks); err != nil {
			logf("writing %s: %v", o.write, err)
			return 1
		}
		var names []string
		for _, b := range blocks {
			names = append(names, b.begin)
		}
		logf("wrote %s in %s", strings.Join(names, " and "), o.write)
	}
	if failed {
		return 1
	}
	return 0
}

// startWait is the pause between a restart and the first memory sample;
// afterWait between the last idle connection and the second.
func (o *options) startWait() time.Duration {
	if o.smoke {
		return 300 * time.Millisecond
	}
	return 3 * time.Second
}

func (o *options) afterWait() time.Duration {
	if o.smoke {
		return 500 * time.Millisecond
	}
	return 2 * time.Second
}

func (o *options) imapConfig() imapConfig {
	return imapConfig{messages: o.imapMessages, appendN: min(o.appendMessages, o.imapMessages), batch: o.batch,
		conns: o.imapConns, runs: o.imapRuns,
		idle: o.idleConns, parallel: o.idleParallel, settle: o.idleSettle, startWait: o.startWait(), afterWait: o.afterWait(),
		fetch: o.imap, idleStep: o.imap, search: o.search, lag: o.lag, indexTimeout: o.indexTimeout,
		searchCfg: searchConfig{budget: o.searchBudget, timeout: o.searchTimeout},
		lagCfg: lagConfig{rate: o.lagRate, duration: o.lagDuration, conns: o.lagConns, drain: o.lagDrain,
			searchTimeout: o.lagSearchTimeout},
		xapianMessages: o.xapianMessages}
}

// searchSample draws the SEARCH queries from the distinct corpus
// messages of the mailbox.
func searchSample(corpus []message, o *options) ([]searchQuery, *termPools) {
	t0 := time.Now()
	msgs, _ := imapMessages(corpus, min(o.imapMessages, len(corpus)))
	pools := collectTerms(msgs)
	qs := sampleSearchQueries(pools, o.searchTerms/len(searchKeys), searchSeed)
	logf("search: %d queries drawn from %d distinct words of %d messages (%d non-ASCII) in %.1fs",
		len(qs), len(pools.body), pools.messages, len(pools.bodyNonASCII), time.Since(t0).Seconds())
	return qs, pools
}

// searchSeed fixes the SEARCH sample.
const searchSeed = 20021001

// runLMTPRounds runs every LMTP workload o.runs times on every active
// target, alternating the order of servers between rounds.
func runLMTPRounds(ctx context.Context, o *options, all []target, statusOf map[string]*targetStatus, corpus []message, rep *reportData) {
	var active []target
	for _, t := range all {
		if why := skipReason(t, "lmtp"); why != "" {
			statusOf[t.Name()].notMeasured = why
			logf("lmtp, %s: not measured: %s", t.Name(), why)
			continue
		}
		active = append(active, t)
	}
	for round := 0; round < o.runs && ctx.Err() == nil; round++ {
		for _, rc := range o.rcpts {
			order := append([]target(nil), active...)
			if round%2 == 1 {
				for i, j := 0, len(order)-1; i < j; i, j = i+1, j-1 {
					order[i], order[j] = order[j], order[i]
				}
			}
			for _, t := range order {
				st := statusOf[t.Name()]
				if st.failed != "" || ctx.Err() != nil {
					continue
				}
				rec := runOne(ctx, t, round, rc, corpus, o)
				if ctx.Err() != nil {
					break
				}
				rep.records = append(rep.records, rec)
				if rec.err != nil {
					logf("round %d/%d, %s, %s: FAILED: %v", round+1, o.runs, workloadName(rc), t.Name(), rec.err)
					if rec.res == nil || rec.res.timed == 0 {
						// Could not start or deliver anything: do not retry.
						st.failed = rec.err.Error()
					}
					continue
				}
				r := rec.res
				logf("round %d/%d, %s, %s: %d msgs in %.2fs = %.1f msg/s, %.1f rcpt/s, p50 %.2f ms, p99 %.2f ms, disk %.1f KiB/msg",
					round+1, o.runs, workloadName(rc), t.Name(), r.timed, r.elapsed.Seconds(), r.msgsPerSec(), r.rcptsPerSec(),
					ms(percentile(r.latencies, 50)), ms(percentile(r.latencies, 99)), float64(rec.disk)/float64(max(r.delivered, 1))/1024)
			}
		}
	}
}

// runIMAPTargets runs the IMAP workloads (imap, search, lag) once on
// every active target that has an IMAP listener.
func runIMAPTargets(ctx context.Context, active []target, corpus []message, rep *imapReport) {
	for _, t := range active {
		if ctx.Err() != nil {
			return
		}
		st := rep.status(t.Name())
		if p, ok := t.(*petrelTarget); ok && !p.hasIMAP {
			st.skipped = "this build's `petrel serve` has no `--imap-addr`"
			logf("imap, %s: SKIPPED: %s", t.Name(), st.skipped)
			continue
		}
		it, ok := t.(imapServer)
		if !ok {
			st.skipped = "no IMAP support in the harness for this server"
			continue
		}
		cfg := rep.cfg
		if d, ok := t.(*dovecotTarget); ok && d.xapian && cfg.messages > cfg.xapianMessages {
			cfg.messages = cfg.xapianMessages
			cfg.appendN = min(cfg.appendN, cfg.messages)
			cfg.note = fmt.Sprintf("%d messages: fts-xapian indexes about 25 messages/s on this machine, so 12,000 would take 8 minutes of the 10 the whole run may take (`--xapian-messages`)",
				cfg.messages)
		}
		// The workload uses one mailbox: one user is enough, and
		// creating Petrel's users costs an argon2id hash each.
		if us, ok := t.(interface{ SetUsers(int) }); ok {
			n := len(t.Users())
			us.SetUsers(1)
			defer us.SetUsers(n)
		}
		t0 := time.Now()
		rec := runIMAP(ctx, it, corpus, cfg)
		if ctx.Err() != nil {
			return
		}
		if rec.err != nil {
			if lp, ok := t.(interface{ LogPath() string }); ok {
				rec.logTail = logTail(lp.LogPath(), 20)
			}
			logf("imap, %s: FAILED: %v%s", t.Name(), rec.err, rec.logTail)
		}
		logf("imap, %s: done in %s", t.Name(), time.Since(t0).Round(time.Second))
		rep.records = append(rep.records, rec)
	}
}

// runOne starts t from a fresh data folder, runs one LMTP workload, stops
// it and measures its disk usage.
func runOne(ctx context.Context, t target, round, rcpts int, corpus []message, o *options) runRecord {
	rec := runRecord{round: round, rcpts: rcpts, target: t.Name(), foreign: -1}
	t0 := time.Now()
	if err := t.Start(ctx); err != nil {
		rec.err = fmt.Errorf("start: %w", err)
		return rec
	}
	started := time.Since(t0)
	defer t.Stop()
	pgid := 0
	if g, ok := t.(interface{ Pgid() int }); ok {
		pgid = g.Pgid()
	}
	before := takeCPUSnapshot(pgid)
	res, err := runLMTP(ctx, t.LMTPAddr(), t.Users(), corpus, lmtpConfig{
		conns: o.conns, messages: o.lmtpMessages(rcpts), warmup: o.warmup, rcpts: rcpts,
	})
	rec.res, rec.err = res, err
	after := takeCPUSnapshot(pgid)
	rec.foreign = foreignCPU(before, after, runtime.NumCPU())
	rec.serverCPU = after.server - before.server
	t1 := time.Now()
	if serr := t.Stop(); serr != nil {
		logf("%s: %v", t.Name(), serr)
	}
	logf("%s: started in %.1fs, stopped in %.1fs", t.Name(), started.Seconds(), time.Since(t1).Seconds())
	if du, err := t.DiskUsage(); err == nil {
		rec.disk = du
	} else if rec.err == nil {
		rec.err = fmt.Errorf("disk usage: %w", err)
	}
	return rec
}

// findModuleRoot walks up from the working directory to the go.mod of
// github.com/petrelmail/petrel.
func findModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if f, err := os.Open(filepath.Join(dir, "go.mod")); err == nil {
			sc := bufio.NewScanner(f)
			sc.Scan()
			f.Close()
			if strings.TrimSpace(sc.Text()) == "module github.com/petrelmail/petrel" {
				return dir, nil
			}
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("cannot find the petrel module root (go.mod) above the working directory; pass --repo")
		}
		dir = parent
	}
}

// commandLine renders the invocation as it would be typed.
func commandLine(args []string) string {
	parts := []string{"go", "run", "./bench"}
	for _, a := range args {
		if strings.ContainsAny(a, " \t'\"$\\*?") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		parts = append(parts, a)
	}
	return strings.Join(parts, " ")
}

// dieWithGoRun makes a SIGTERM to `go run` reach the harness too: go run
// does not forward SIGTERM to its child, and the harness would otherwise
// be orphaned with its servers running.
func dieWithGoRun() {
	comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", os.Getppid()))
	if err != nil || strings.TrimSpace(string(comm)) != "go" {
		return
	}
	_, _, _ = syscall.RawSyscall(syscall.SYS_PRCTL, syscall.PR_SET_PDEATHSIG, uintptr(syscall.SIGTERM), 0)
}
