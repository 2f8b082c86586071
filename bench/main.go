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

	lmtp, imap   bool // workloads
	imapMessages int
	imapConns    int
	imapRuns     int
	idleConns    int
	idleParallel int
	idleSettle   time.Duration
}

func parseFlags(args []string) (*options, error) {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	o := &options{}
	var rcpts, targets, workloads string
	fs.BoolVar(&o.smoke, "smoke", false, "tiny run (50 messages, 1 run, 5 warm-up) that fails on any delivery failure")
	fs.IntVar(&o.messages, "messages", 3000, "timed messages per run (0 = the whole corpus once; 50 with --smoke); 3,000 keeps the full run under 10 minutes")
	fs.IntVar(&o.warmup, "warmup", 20, "untimed warm-up messages per run (5 with --smoke)")
	fs.IntVar(&o.runs, "runs", 3, "runs per server and workload, each from a fresh data folder (1 with --smoke)")
	fs.IntVar(&o.conns, "conns", 4, "concurrent LMTP connections")
	fs.IntVar(&o.users, "users", 10, "mail users created on every server")
	fs.StringVar(&rcpts, "rcpts", "1,5", "comma-separated recipients per message, one workload each")
	fs.StringVar(&targets, "targets", "petrel,dovecot,dovecot-fsync", "comma-separated servers to run: petrel, dovecot (default fsync settings), dovecot-fsync (mail_fsync = always: Petrel's durability)")
	fs.StringVar(&o.cache, "cache", defaultCacheDir(), "cache folder for the corpus tarball")
	fs.StringVar(&o.repo, "repo", "", "Petrel module root (default: found from the working directory)")
	fs.StringVar(&o.write, "write", "", "replace the blocks of the workloads run in this Markdown file (e.g. docs/benchmarks.md); full mode only")
	fs.StringVar(&workloads, "workload", "lmtp,imap", "comma-separated workloads: lmtp (delivery), imap (APPEND, FETCH, idle connections)")
	fs.IntVar(&o.imapMessages, "imap-messages", 12000, "imap: messages APPENDed to the one mailbox (300 with --smoke); the corpus is reused with new Message-IDs beyond its size")
	fs.IntVar(&o.imapConns, "imap-conns", 4, "imap: concurrent APPEND connections")
	fs.IntVar(&o.imapRuns, "imap-runs", 5, "imap: timed runs of each FETCH after the first one (2 with --smoke)")
	fs.IntVar(&o.idleConns, "idle-conns", 1000, "imap: idle connections (LOGIN + SELECT INBOX) for the memory measurement, 0 to skip (20 with --smoke)")
	fs.IntVar(&o.idleParallel, "idle-parallel", 8, "imap: idle connections being opened at a time")
	fs.DurationVar(&o.idleSettle, "idle-settle", 150*time.Second, "imap: wait after opening the idle connections before the settled memory sample (Go forces a GC every 2 minutes); 3s with --smoke")
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
		if !set["messages"] {
			o.messages = 50
		}
		if !set["runs"] {
			o.runs = 1
		}
		if !set["warmup"] {
			o.warmup = 5
		}
		if !set["imap-messages"] {
			o.imapMessages = 300
		}
		if !set["imap-runs"] {
			o.imapRuns = 2
		}
		if !set["idle-conns"] {
			o.idleConns = 20
		}
		if !set["idle-settle"] {
			o.idleSettle = 3 * time.Second
		}
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
		if s != "petrel" && s != "dovecot" && s != "dovecot-fsync" {
			return nil, fmt.Errorf("--targets: unknown server %q", s)
		}
		o.targets = append(o.targets, s)
	}
	for _, s := range strings.Split(workloads, ",") {
		switch strings.ToLower(strings.TrimSpace(s)) {
		case "lmtp":
			o.lmtp = true
		case "imap":
			o.imap = true
		default:
			return nil, fmt.Errorf("--workload: unknown workload %q (lmtp, imap)", s)
		}
	}
	if o.runs < 1 || o.conns < 1 || o.users < 1 || o.messages < 0 || o.warmup < 0 {
		return nil, errors.New("--runs, --conns and --users must be >= 1; --messages and --warmup >= 0")
	}
	if o.imapMessages < 1 || o.imapConns < 1 || o.imapRuns < 1 || o.idleConns < 0 || o.idleParallel < 1 || o.idleSettle < 0 {
		return nil, errors.New("--imap-messages, --imap-conns, --imap-runs and --idle-parallel must be >= 1; --idle-conns and --idle-settle >= 0")
	}
	return o, nil
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...)
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

	began := time.Now()
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
	if o.messages == 0 {
		o.messages = len(corpus)
	}

	root, err := os.MkdirTemp("", "petrel-bench-")
	if err != nil {
		logf("%v", err)
		return 1
	}
	// Dovecot's mail user must be able to traverse it.
	_ = os.Chmod(root, 0o755)
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
		case "dovecot":
			all = append(all, newDovecot(root, o.users, o.installPeers, false, o.idleConns))
		case "dovecot-fsync":
			all = append(all, newDovecot(root, o.users, o.installPeers, true, o.idleConns))
		}
	}

	rep := &reportData{
		date: began, command: commandLine(os.Args[1:]), machine: readMachineInfo(root), corpus: cinfo,
		smoke: o.smoke, messages: o.messages, warmup: o.warmup, conns: o.conns, users: o.users,
		runs: o.runs, rcpts: o.rcpts,
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
	}
	for i := range rep.targets {
		statusOf[rep.targets[i].name] = &rep.targets[i]
	}

	if o.lmtp {
		runLMTPRounds(ctx, o, active, statusOf, corpus, rep)
		rep.duration = time.Since(began)
	}
	if o.imap && ctx.Err() == nil {
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
	failed := false
	if o.lmtp {
		md := rep.markdown()
		fmt.Println(md)
		blocks = append(blocks, docBlock{begin: lmtpBegin, end: lmtpEnd, content: md})
		for _, st := range rep.targets {
			if st.failed != "" {
				failed = true
			}
		}
		for _, r := range rep.records {
			if r.err != nil {
				failed = true
			}
		}
	}
	if o.imap {
		md := imapRep.markdown()
		fmt.Println(md)
		blocks = append(blocks, docBlock{begin: imapBegin, end: imapEnd, after: lmtpEnd, content: md})
		if imapRep.failed() {
			failed = true
		}
	}
	for _, st := range rep.targets {
		if st.skipped != "" {
			logf("%s was SKIPPED (not measured): %s", st.name, st.skipped)
		}
	}
	logf("whole run took %s", total.Round(time.Second))
	if failed {
		logf("FAILED: see the report above")
		if o.write != "" {
			logf("not writing %s because of the failures", o.write)
		}
		return 1
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
	return 0
}

// startWait is the pause between a restart and the first memory sample.
func (o *options) startWait() time.Duration {
	if o.smoke {
		return time.Second
	}
	return 3 * time.Second
}

func (o *options) imapConfig() imapConfig {
	return imapConfig{messages: o.imapMessages, conns: o.imapConns, runs: o.imapRuns,
		idle: o.idleConns, parallel: o.idleParallel, settle: o.idleSettle, startWait: o.startWait()}
}

// runLMTPRounds runs every LMTP workload o.runs times on every active
// target, alternating the order of servers between rounds.
func runLMTPRounds(ctx context.Context, o *options, active []target, statusOf map[string]*targetStatus, corpus []message, rep *reportData) {
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

// runIMAPTargets runs the IMAP workload once on every active target that
// has an IMAP listener.
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
		if s, ok := t.(interface{ SkipIdle() string }); ok && s.SkipIdle() != "" && cfg.idle > 0 {
			cfg.idle = 0
			if rep.idleSkipped == nil {
				rep.idleSkipped = map[string]string{}
			}
			rep.idleSkipped[t.Name()] = s.SkipIdle()
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
		conns: o.conns, messages: o.messages, warmup: o.warmup, rcpts: rcpts,
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
