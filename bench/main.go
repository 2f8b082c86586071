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
}

func parseFlags(args []string) (*options, error) {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	o := &options{}
	var rcpts, targets string
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
	fs.StringVar(&o.write, "write", "", "replace the LMTP block of this Markdown file (e.g. docs/benchmarks.md); full mode only")
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
	if o.runs < 1 || o.conns < 1 || o.users < 1 || o.messages < 0 || o.warmup < 0 {
		return nil, errors.New("--runs, --conns and --users must be >= 1; --messages and --warmup >= 0")
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
			all = append(all, newDovecot(root, o.users, o.installPeers, false))
		case "dovecot-fsync":
			all = append(all, newDovecot(root, o.users, o.installPeers, true))
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
	for i := range rep.targets {
		statusOf[rep.targets[i].name] = &rep.targets[i]
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
	if ctx.Err() != nil {
		logf("interrupted: stopping servers")
		return 130
	}
	rep.duration = time.Since(began)

	md := rep.markdown()
	fmt.Println(md)

	failed := false
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
	for _, st := range rep.targets {
		if st.skipped != "" {
			logf("%s was SKIPPED (not measured): %s", st.name, st.skipped)
		}
	}
	if failed {
		logf("FAILED: see the report above")
		if o.write != "" {
			logf("not writing %s because of the failures", o.write)
		}
		return 1
	}
	if o.write != "" {
		if err := writeBlock(o.write, md); err != nil {
			logf("writing %s: %v", o.write, err)
			return 1
		}
		logf("wrote the LMTP block of %s", o.write)
	}
	return 0
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
