package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// petrelTarget runs the petrel binary built from this module:
//
//	petrel domain add bench.test --data DIR
//	petrel user add userN@bench.test --password secret --data DIR
//	petrel serve --data DIR --lmtp-addr ... --imap-addr ... --http-addr ... --smtp-addr ...
type petrelTarget struct {
	repo     string // module root
	root     string // harness temp root
	nUsers   int
	bin      string
	version  string
	hasIMAP  bool // serve accepts --imap-addr
	hasIMAPS bool // serve accepts --imaps-addr

	// templates: data folders with the domain and n users created, by n;
	// Start copies one instead of running `user add` n times (an argon2id
	// hash each, about 0.3 s).
	templates map[int]string

	dataDir  string
	lmtpAddr string
	imapAddr string
	httpAddr string
	proc     *process
}

func newPetrel(repo, root string, nUsers int) *petrelTarget {
	return &petrelTarget{repo: repo, root: root, nUsers: nUsers}
}

func (t *petrelTarget) Name() string              { return "Petrel" }
func (t *petrelTarget) LMTPAddr() string          { return t.lmtpAddr }
func (t *petrelTarget) IMAPAddr() string          { return t.imapAddr }
func (t *petrelTarget) Users() []string           { return makeUsers(t.nUsers) }
func (t *petrelTarget) Version() string           { return t.version }
func (t *petrelTarget) DataDir() string           { return t.dataDir }
func (t *petrelTarget) Pgid() int                 { return t.proc.pgid() }
func (t *petrelTarget) Stop() error               { return t.proc.stop() }
func (t *petrelTarget) DiskUsage() (int64, error) { return diskUsage(t.dataDir) }
func (t *petrelTarget) MetricsURL() string        { return "http://" + t.httpAddr + "/metrics" }

// SetUsers changes how many users the next Start creates.
func (t *petrelTarget) SetUsers(n int) { t.nUsers = n }

// Prepare builds the binary once.
func (t *petrelTarget) Prepare(ctx context.Context) error {
	t.bin = filepath.Join(t.root, "petrel")
	if _, err := runQuiet(ctx, t.repo, nil, goBinary(), "build", "-o", t.bin, "./cmd/petrel"); err != nil {
		return fmt.Errorf("building petrel: %w", err)
	}
	t.version = gitVersion(ctx, t.repo)
	// The IMAP listener is in the contract but may not exist yet; LMTP
	// does not need it, so only pass --imap-addr when serve knows it.
	help, _ := runQuiet(ctx, t.root, nil, t.bin, "serve", "-h")
	t.hasIMAP = strings.Contains(help, "imap-addr")
	t.hasIMAPS = strings.Contains(help, "imaps-addr")
	return nil
}

func (t *petrelTarget) Setup() string {
	s := "default settings, fresh `--data` folder per run (a copy of one made once with `petrel domain add` and `petrel user add`), all listeners on 127.0.0.1"
	if !t.hasIMAP {
		s += " (this build's `petrel serve` has no `--imap-addr`, so no IMAP listener was started)"
	}
	return s
}

func (t *petrelTarget) Start(ctx context.Context) error {
	retire(t.dataDir) // previous run's data, already measured
	tmpl, err := t.template(ctx)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp(t.root, "petrel-data-")
	if err != nil {
		return err
	}
	t.dataDir = dir
	if err := os.CopyFS(dir, os.DirFS(tmpl)); err != nil {
		return fmt.Errorf("copying the data folder template: %w", err)
	}
	return t.launch(ctx)
}

// template returns a data folder holding the bench domain and the users,
// made once per user count with the CLI:
//
//	petrel domain add bench.test --data DIR
//	petrel user add userN@bench.test --password secret --data DIR
func (t *petrelTarget) template(ctx context.Context) (string, error) {
	n := len(t.Users())
	if d, ok := t.templates[n]; ok {
		return d, nil
	}
	dir, err := os.MkdirTemp(t.root, fmt.Sprintf("petrel-template-%d-", n))
	if err != nil {
		return "", err
	}
	if _, err := runQuiet(ctx, t.root, nil, t.bin, "domain", "add", benchDomain, "--data", dir); err != nil {
		return "", err
	}
	for _, u := range t.Users() {
		if _, err := runQuiet(ctx, t.root, nil, t.bin, "user", "add", u, "--password", benchPassword, "--data", dir); err != nil {
			return "", err
		}
	}
	if t.templates == nil {
		t.templates = map[int]string{}
	}
	t.templates[n] = dir
	return dir, nil
}

// Restart stops the server and starts it again on the same data folder
// (new ports).
func (t *petrelTarget) Restart(ctx context.Context) error {
	if err := t.proc.stop(); err != nil {
		logf("%s: %v", t.Name(), err)
	}
	return t.launch(ctx)
}

// launch starts `petrel serve` on t.dataDir with fresh loopback ports.
func (t *petrelTarget) launch(ctx context.Context) error {
	dir := t.dataDir
	ports, err := freePorts(4)
	if err != nil {
		return err
	}
	addr := func(p int) string { return fmt.Sprintf("127.0.0.1:%d", p) }
	t.lmtpAddr, t.imapAddr, t.httpAddr = addr(ports[0]), addr(ports[1]), addr(ports[2])
	logPath := dir + ".log"
	args := []string{"serve", "--data", dir, "--lmtp-addr", t.lmtpAddr,
		"--http-addr", t.httpAddr, "--smtp-addr", addr(ports[3])}
	if t.hasIMAP {
		args = append(args, "--imap-addr", t.imapAddr)
	} else {
		t.imapAddr = ""
	}
	if t.hasIMAPS {
		// The default (127.0.0.1:1993) could be taken; the benchmark
		// does not use TLS.
		args = append(args, "--imaps-addr", "off")
	}
	p, err := startProcess("petrel", logPath, t.root, nil, t.bin, args...)
	if err != nil {
		return err
	}
	t.proc = p
	if err := waitLMTP(ctx, p, t.lmtpAddr, startTimeout); err != nil {
		_ = p.stop()
		return err
	}
	if t.imapAddr != "" {
		if err := waitIMAP(ctx, p, t.imapAddr, startTimeout); err != nil {
			_ = p.stop()
			return err
		}
	}
	return nil
}

// LogPath is the server's log file (stdout and stderr).
func (t *petrelTarget) LogPath() string {
	if t.proc == nil {
		return ""
	}
	return t.proc.logPath
}

func goBinary() string {
	if p := filepath.Join(os.Getenv("GOROOT"), "bin", "go"); os.Getenv("GOROOT") != "" {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return "go"
}

// gitVersion describes the working tree the binary was built from.
func gitVersion(ctx context.Context, repo string) string {
	rev, err := runQuiet(ctx, repo, nil, "git", "rev-parse", "--short=12", "HEAD")
	if err != nil {
		rev = "working tree (no commit yet)"
	}
	v := "git " + strings.TrimSpace(rev)
	if st, err := runQuiet(ctx, repo, nil, "git", "status", "--porcelain", "--untracked-files=no", "--", "."); err == nil && strings.TrimSpace(st) != "" {
		v += " + uncommitted changes"
	}
	return v
}
