package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"text/template"
)

// dovecotTarget runs a throw-away Dovecot instance from Debian's packages
// (dovecot-core, dovecot-imapd, dovecot-lmtpd): its own config file, base_dir,
// state_dir and log in a temp dir, listeners on 127.0.0.1 only, passwd-file
// users, maildir storage, Dovecot's default fsync settings. It never reads
// /etc/dovecot and never talks to a system instance.
//
// passwd-file refuses UID 0 for mail users, so mail is stored as a dedicated
// system user (mailUser), created on first use.
type dovecotTarget struct {
	root       string
	nUsers     int
	install    bool
	dovecotBin string
	doveconf   string
	doveadm    string
	version    string
	// xapianVersion is the dovecot-fts-xapian package version.
	xapianVersion string
	uid, gid      int
	fsync         string // effective mail_fsync, from doveconf
	// fsyncAlways sets mail_fsync = always: Dovecot then fsyncs folders
	// and index files too, the durability Petrel gives every delivery.
	fsyncAlways bool
	// xapian loads the fts and fts_xapian plugins (Debian's
	// dovecot-fts-xapian): full-text index, fts_autoindex = yes.
	xapian bool
	// noAutoindex turns fts_autoindex off in the next config written (the
	// fill before the timed `doveadm index`).
	noAutoindex bool
	// imapConns is how many IMAP connections the instance must hold at
	// once (the idle-connection measurement); the limits are set for it.
	imapConns int

	dir      string
	mailDir  string
	lmtpAddr string
	imapAddr string
	proc     *process
}

const mailUser = "petrelbench"

var dovecotPackages = []string{"dovecot-core", "dovecot-imapd", "dovecot-lmtpd"}

// xapianPackage is Debian's fts-xapian plugin for Dovecot 2.3.
const (
	xapianPackage = "dovecot-fts-xapian"
	xapianPlugin  = "/usr/lib/dovecot/modules/lib21_fts_xapian_plugin.so"
)

// Dovecot variants (the --targets names).
const (
	dovecotPlain  = "dovecot"
	dovecotFsync  = "dovecot-fsync"
	dovecotXapian = "dovecot-xapian"
)

func newDovecot(root string, nUsers int, install bool, variant string, imapConns int) *dovecotTarget {
	return &dovecotTarget{root: root, nUsers: nUsers, install: install, fsyncAlways: variant == dovecotFsync,
		xapian: variant == dovecotXapian, imapConns: imapConns}
}

func (t *dovecotTarget) Name() string {
	switch {
	case t.fsyncAlways:
		return "Dovecot fsync=always"
	case t.xapian:
		return "Dovecot fts-xapian"
	}
	return "Dovecot"
}

func (t *dovecotTarget) packages() []string {
	if t.xapian {
		return append(append([]string(nil), dovecotPackages...), xapianPackage)
	}
	return dovecotPackages
}
func (t *dovecotTarget) LMTPAddr() string          { return t.lmtpAddr }
func (t *dovecotTarget) IMAPAddr() string          { return t.imapAddr }
func (t *dovecotTarget) Users() []string           { return makeUsers(t.nUsers) }
func (t *dovecotTarget) Version() string           { return t.version }
func (t *dovecotTarget) DataDir() string           { return t.mailDir }
func (t *dovecotTarget) Pgid() int                 { return t.proc.pgid() }
func (t *dovecotTarget) Stop() error               { return t.proc.stop() }
func (t *dovecotTarget) DiskUsage() (int64, error) { return diskUsage(t.mailDir) }

// IMAPSetup describes the IMAP side of the configuration.
func (t *dovecotTarget) IMAPSetup() string {
	return fmt.Sprintf("IMAP: one `imap` process per connection (Dovecot's default `client_limit = 1` for `service imap`), "+
		"`process_limit = %d` for `service imap`, `mail_max_userip_connections = %d`, `default_client_limit = %d`, "+
		"`imap_hibernate_timeout` left at 0 (hibernation off), no TLS", t.imapLimit(), t.imapLimit(), 2*t.imapLimit()+200)
}

// SetUsers changes how many users the next Start creates.
func (t *dovecotTarget) SetUsers(n int) { t.nUsers = n }

// SkipStep says why a step of the IMAP workloads is not repeated for this
// instance, or "": the variants are the same Dovecot, and the whole run
// must stay under 10 minutes.
func (t *dovecotTarget) SkipStep(step string) string {
	switch {
	case t.fsyncAlways && (step == "idle" || step == "search" || step == "lag"):
		return "same as Dovecot: the two configs differ only in `mail_fsync`"
	case t.xapian && (step == "fetch" || step == "idle"):
		return "same Dovecot as above with the fts plugins loaded; left out to keep the run under 10 minutes"
	case t.xapian && step == "lmtp":
		return "with `fts_autoindex = yes` every delivery queues indexing at about 25 messages/s, which competes for the CPU " +
			"(about 100 msg/s with 1 recipient and 10 msg/s with 5 in a smoke run); delivery under indexing is measured in the search block's lag table; " +
			"left out here to keep the run under 10 minutes"
	}
	return ""
}

// imapLimit is the per-service process limit and per-user connection limit
// written into the config.
func (t *dovecotTarget) imapLimit() int { return max(t.imapConns+100, 1000) }
func (t *dovecotTarget) Setup() string {
	fs := t.fsync
	if fs == "" {
		fs = "optimized"
	}
	how := "Dovecot's default, not overridden"
	if t.fsyncAlways {
		how = "set in the config: Dovecot then also fsyncs folders and index files, the durability Petrel gives every delivery"
	}
	fts := ""
	if t.xapian {
		fts = fmt.Sprintf("; full-text search by Debian's `%s`%s (`mail_plugins = $mail_plugins fts fts_xapian`, "+
			"`fts = xapian`, `fts_xapian = partial=3 full=20`, `fts_autoindex = yes`, `fts_enforced = yes`, indexer-worker without vsz_limit), "+
			"index in each maildir's `xapian-indexes`", xapianPackage, versionSuffix(t.xapianVersion))
	}
	return fmt.Sprintf("maildir (`mail_location = maildir:~/Maildir`), `mail_fsync = %s` "+
		"("+how+"; value read back with `doveconf`), passwd-file passdb/userdb, "+
		"own config/base_dir/state_dir in a temp dir, mail stored as system user `%s`; "+
		"disk usage counts the maildirs with their Dovecot index files%s", fs, mailUser, fts)
}

func (t *dovecotTarget) Prepare(ctx context.Context) error {
	if os.Geteuid() != 0 {
		return &skipError{"the Dovecot peer needs root (run the harness as root)"}
	}
	missing := t.missing()
	if len(missing) > 0 {
		if !t.install {
			return &skipError{fmt.Sprintf("not installed (%s); rerun as root with --install-peers, or apt-get install -y %s",
				strings.Join(missing, ", "), strings.Join(t.packages(), " "))}
		}
		if err := installDovecot(ctx, t.packages()); err != nil {
			return err
		}
		if m := t.missing(); len(m) > 0 {
			return fmt.Errorf("still missing after apt-get install: %s", strings.Join(m, ", "))
		}
	}
	if t.xapian {
		t.doveadm, _ = exec.LookPath("doveadm")
		if out, err := runQuiet(ctx, "/", nil, "dpkg-query", "-W", "-f=${Version}", xapianPackage); err == nil {
			t.xapianVersion = strings.TrimSpace(out)
		}
	}
	t.dovecotBin, _ = exec.LookPath("dovecot")
	t.doveconf, _ = exec.LookPath("doveconf")
	out, err := runQuiet(ctx, "/", nil, t.dovecotBin, "--version")
	if err != nil {
		return err
	}
	t.version = strings.TrimSpace(out)
	uid, gid, err := ensureMailUser(ctx)
	if err != nil {
		return err
	}
	t.uid, t.gid = uid, gid
	return nil
}

func (t *dovecotTarget) missing() []string {
	m := dovecotMissing()
	if t.xapian {
		if _, err := os.Stat(xapianPlugin); err != nil {
			m = append(m, xapianPlugin)
		}
		if _, err := exec.LookPath("doveadm"); err != nil {
			m = append(m, "doveadm")
		}
	}
	return m
}

func dovecotMissing() []string {
	var missing []string
	if _, err := exec.LookPath("dovecot"); err != nil {
		missing = append(missing, "dovecot")
	}
	if _, err := exec.LookPath("doveconf"); err != nil {
		missing = append(missing, "doveconf")
	}
	for _, f := range []string{"/usr/lib/dovecot/lmtp", "/usr/lib/dovecot/imap"} {
		if _, err := os.Stat(f); err != nil {
			missing = append(missing, f)
		}
	}
	return missing
}

// installDovecot installs the packages and stops the system instance if the
// package started one (the bench instance never uses it, but it would
// compete for CPU and disk).
func installDovecot(ctx context.Context, pkgs []string) error {
	if err := aptInstall(ctx, pkgs); err != nil {
		return err
	}
	if b, err := os.ReadFile("/run/dovecot/master.pid"); err == nil {
		if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && syscall.Kill(pid, 0) == nil {
			fmt.Fprintln(os.Stderr, "bench: stopping and disabling the system Dovecot that the package started")
			_, _ = runQuiet(ctx, "/", nil, "systemctl", "disable", "--now", "dovecot")
			_, _ = runQuiet(ctx, "/", nil, "doveadm", "stop")
		}
	}
	return nil
}

// aptInstall runs apt-get install -y pkgs, with an apt-get update first
// when that fails (the package lists may be missing on a fresh machine).
func aptInstall(ctx context.Context, pkgs []string) error {
	env := append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	fmt.Fprintf(os.Stderr, "bench: apt-get install -y %s\n", strings.Join(pkgs, " "))
	if _, err := runQuiet(ctx, "/", env, "apt-get", append([]string{"install", "-y"}, pkgs...)...); err != nil {
		if _, uerr := runQuiet(ctx, "/", env, "apt-get", "update"); uerr != nil {
			return fmt.Errorf("%v; apt-get update: %v", err, uerr)
		}
		if _, err := runQuiet(ctx, "/", env, "apt-get", append([]string{"install", "-y"}, pkgs...)...); err != nil {
			return err
		}
	}
	return nil
}

// ensureMailUser returns the uid/gid of mailUser, creating it as a system
// user without home or login shell if needed.
func ensureMailUser(ctx context.Context) (int, int, error) {
	u, err := user.Lookup(mailUser)
	if err != nil {
		if _, err := runQuiet(ctx, "/", nil, "useradd", "--system", "--user-group",
			"--no-create-home", "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin", mailUser); err != nil {
			return 0, 0, fmt.Errorf("creating mail user %s: %w", mailUser, err)
		}
		if u, err = user.Lookup(mailUser); err != nil {
			return 0, 0, err
		}
	}
	uid, err1 := strconv.Atoi(u.Uid)
	gid, err2 := strconv.Atoi(u.Gid)
	if err1 != nil || err2 != nil {
		return 0, 0, fmt.Errorf("mail user %s: bad uid/gid %q/%q", mailUser, u.Uid, u.Gid)
	}
	return uid, gid, nil
}

var dovecotConf = template.Must(template.New("conf").Parse(`# Throw-away Dovecot instance for the Petrel benchmark. Not /etc/dovecot.
base_dir = {{.Dir}}/run
state_dir = {{.Dir}}/state
instance_name = petrel-bench-{{.LMTPPort}}
log_path = {{.Dir}}/dovecot.log
info_log_path = {{.Dir}}/dovecot.log
protocols = imap lmtp
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
default_internal_user = dovecot
default_internal_group = dovecot
default_login_user = dovenull
first_valid_uid = 1
first_valid_gid = 1
mail_location = maildir:~/Maildir
{{if .FsyncAlways}}mail_fsync = always{{else}}# mail_fsync is left at Dovecot's default (optimized).{{end}}
{{if .Xapian}}
# Full-text search: Debian's dovecot-fts-xapian. Global, so that imap,
# lmtp, the indexer-worker and doveadm all load it.
mail_plugins = $mail_plugins fts fts_xapian
plugin {
  fts = xapian
  fts_xapian = partial=3 full=20
  fts_autoindex = {{if .NoAutoindex}}no{{else}}yes{{end}}
  fts_enforced = yes
}
service indexer-worker {
  vsz_limit = 0
}
{{end}}

passdb {
  driver = passwd-file
  args = scheme=PLAIN {{.Dir}}/users
}
userdb {
  driver = passwd-file
  args = {{.Dir}}/users
}

service lmtp {
  inet_listener lmtp {
    address = 127.0.0.1
    port = {{.LMTPPort}}
  }
}
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = {{.IMAPPort}}
  }
  inet_listener imaps {
    port = 0
  }
}
# Room for the idle-connection measurement: every connection is a process
# of its own (client_limit = 1, the default) for the same user and IP.
service imap {
  process_limit = {{.IMAPLimit}}
}
# anvil, auth, stats and log are clients of every login and imap process.
default_client_limit = {{.ClientLimit}}
protocol imap {
  mail_max_userip_connections = {{.IMAPLimit}}
}
`))

func (t *dovecotTarget) Start(ctx context.Context) error {
	retire(t.dir) // previous run's data, already measured
	dir, err := os.MkdirTemp(t.root, "dovecot-")
	if err != nil {
		return err
	}
	t.dir = dir
	t.mailDir = filepath.Join(dir, "mail")
	// The mail user must be able to reach its maildirs.
	if err := os.Chmod(dir, 0o755); err != nil {
		return err
	}
	if err := os.Mkdir(t.mailDir, 0o755); err != nil {
		return err
	}
	if err := os.Chown(t.mailDir, t.uid, t.gid); err != nil {
		return err
	}
	var users strings.Builder
	for _, u := range t.Users() {
		fmt.Fprintf(&users, "%s:{PLAIN}%s:%d:%d::%s::\n", u, benchPassword, t.uid, t.gid, filepath.Join(t.mailDir, u))
	}
	if err := os.WriteFile(filepath.Join(dir, "users"), []byte(users.String()), 0o644); err != nil {
		return err
	}
	return t.launch(ctx)
}

// Restart stops the instance and starts it again on the same mail (new
// ports, same config otherwise).
func (t *dovecotTarget) Restart(ctx context.Context) error {
	if err := t.proc.stop(); err != nil {
		logf("%s: %v", t.Name(), err)
	}
	return t.launch(ctx)
}

// LogPath is the instance's log file.
func (t *dovecotTarget) LogPath() string { return filepath.Join(t.dir, "dovecot.log") }

// launch writes the config with fresh loopback ports and starts Dovecot.
func (t *dovecotTarget) launch(ctx context.Context) error {
	dir := t.dir
	ports, err := freePorts(2)
	if err != nil {
		return err
	}
	t.lmtpAddr = fmt.Sprintf("127.0.0.1:%d", ports[0])
	t.imapAddr = fmt.Sprintf("127.0.0.1:%d", ports[1])
	conf := filepath.Join(dir, "dovecot.conf")
	f, err := os.Create(conf)
	if err != nil {
		return err
	}
	limit := t.imapLimit()
	err = dovecotConf.Execute(f, map[string]any{"Dir": dir, "LMTPPort": ports[0], "IMAPPort": ports[1], "FsyncAlways": t.fsyncAlways,
		"IMAPLimit": limit, "ClientLimit": 2*limit + 200, "Xapian": t.xapian, "NoAutoindex": t.noAutoindex})
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if out, err := runQuiet(ctx, dir, nil, t.doveconf, "-c", conf, "-h", "mail_fsync"); err == nil {
		// Warnings (if any) come first; the value is the last line.
		lines := strings.Split(strings.TrimSpace(out), "\n")
		t.fsync = strings.TrimSpace(lines[len(lines)-1])
		for _, l := range lines[:len(lines)-1] {
			logf("%s: doveconf: %s", t.Name(), l)
		}
	} else {
		return fmt.Errorf("config check: %w", err)
	}
	p, err := startProcess("dovecot", filepath.Join(dir, "dovecot.log"), dir, nil, t.dovecotBin, "-c", conf, "-F")
	if err != nil {
		return err
	}
	// Once every process but the master and its log process has exited,
	// the master only sleeps a second before exiting: no need to wait.
	p.doneWhen = func(comms []string) bool {
		for _, c := range comms[1:] {
			if c != "log" && c != "" {
				return false
			}
		}
		return true
	}
	t.proc = p
	if err := waitLMTP(ctx, p, t.lmtpAddr, startTimeout); err != nil {
		_ = p.stop()
		return err
	}
	if err := waitIMAP(ctx, p, t.imapAddr, startTimeout); err != nil {
		_ = p.stop()
		return err
	}
	return nil
}
