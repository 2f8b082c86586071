package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"text/template"
)

// cyrusTarget runs a throw-away Cyrus IMAP 3.6 instance from Debian's
// packages: `master -C imapd.conf -M cyrus.conf` with its own
// configdirectory, partition, sockets, pid file and sasldb under a temp dir,
// imapd and lmtpd on 127.0.0.1 ports, users in that sasldb (saslpasswd2
// -f), their INBOX created by Cyrus itself on first login or delivery
// (autocreate), no search engine (Cyrus's default: SEARCH reads the
// messages). It never reads /etc/imapd.conf or /etc/cyrus.conf.
//
// Debian's cyrus-imapd package (imapd, idled, squatter) declares a conflict
// with every other IMAP server package (Provides/Conflicts: imap-server), so
// it cannot be installed beside dovecot-imapd. The harness installs
// cyrus-common (master, lmtpd, the tools) with apt-get, and takes imapd from
// cyrus-imapd's .deb, fetched with `apt-get download` into its cache folder
// and unpacked there with `dpkg-deb -x` (same version as cyrus-common).
// Master starts as root and runs every service as the `cyrus` user that
// cyrus-common creates.
type cyrusTarget struct {
	root  string
	cache string
	// idleMax caps the idle connections (each is an imapd process:
	// opening 1,000 took 4 minutes here).
	idleMax  int
	nUsers   int
	install  bool
	imapIdle int // idle connections the instance must hold

	binDir  string // cyrus-common's /usr/lib/cyrus/bin
	imapd   string
	saslpw  string
	version string
	uid     int
	gid     int

	dir      string
	lmtpAddr string
	imapAddr string
	proc     *process
}

const (
	cyrusBinDir   = "/usr/lib/cyrus/bin"
	cyrusAdmin    = "cyrusadmin"
	cyrusImapdPkg = "cyrus-imapd"
)

var cyrusPackages = []string{"cyrus-common", "sasl2-bin"}

func newCyrus(root, cache string, nUsers int, install bool, idle, idleMax int) *cyrusTarget {
	return &cyrusTarget{root: root, cache: cache, nUsers: nUsers, install: install, imapIdle: min(idle, idleMax), idleMax: idleMax}
}

// IdleConns caps the idle connections at idleMax.
func (t *cyrusTarget) IdleConns(n int) (int, string) {
	if n <= t.idleMax {
		return n, ""
	}
	return t.idleMax, fmt.Sprintf("%d connections (`--cyrus-idle-conns`): each is an imapd process of its own, "+
		"and opening 1,000 (LOGIN, SELECT of the 12,000-message INBOX) took 4 minutes here", t.idleMax)
}

func (t *cyrusTarget) Name() string     { return "Cyrus" }
func (t *cyrusTarget) LMTPAddr() string { return t.lmtpAddr }
func (t *cyrusTarget) IMAPAddr() string { return t.imapAddr }
func (t *cyrusTarget) Users() []string  { return makeUsers(t.nUsers) }
func (t *cyrusTarget) Version() string  { return t.version }
func (t *cyrusTarget) Pgid() int        { return t.proc.pgid() }
func (t *cyrusTarget) Stop() error      { return t.proc.stop() }
func (t *cyrusTarget) SetUsers(n int)   { t.nUsers = n }

// LogPath is master's stderr; the services log to syslog only.
func (t *cyrusTarget) LogPath() string { return filepath.Join(t.dir, "master.log") }

// DataDir holds what Cyrus stores per mailbox and per user: the partition
// (messages, cyrus.index, cyrus.cache, cyrus.header, annotations) and the
// configdirectory (mailboxes.db, per-user seen/conversations/counters
// databases, delivery database).
func (t *cyrusTarget) DataDir() string { return t.dir }

// DiskUsage is du of the partition and the configdirectory.
func (t *cyrusTarget) DiskUsage() (int64, error) {
	var total int64
	for _, d := range []string{"spool", "config"} {
		n, err := diskUsage(filepath.Join(t.dir, d))
		if err != nil {
			return 0, err
		}
		total += n
	}
	return total, nil
}

func (t *cyrusTarget) imapLimit() int { return max(t.imapIdle+100, 200) }

func (t *cyrusTarget) Setup() string {
	return fmt.Sprintf("`master` with its own imapd.conf/cyrus.conf, configdirectory, partition, sockets and sasldb in a temp dir "+
		"(never /etc/imapd.conf), imapd and lmtpd (`lmtpd -a`: LMTP pre-authorised) on 127.0.0.1, one process per connection "+
		"(`prefork=0`, `maxchild=%d` for imap), users in a sasldb written by `saslpasswd2 -f` (`sasl_pwcheck_method: auxprop`, `sasl_auxprop_plugin: sasldb`), "+
		"INBOX created by Cyrus on first login or delivery (`autocreate_quota: 0`, `autocreate_post: 1`), `virtdomains: userid`, "+
		"`duplicatesuppression: 0` (Dovecot and Petrel store every copy), no search engine (`search_engine` left at its default, none: SEARCH reads the messages); "+
		"imapd from the `%s` .deb unpacked by the harness (that package conflicts with dovecot-imapd); "+
		"disk usage counts the partition and the configdirectory", t.imapLimit(), cyrusImapdPkg)
}

// IMAPSetup describes the IMAP side of the configuration.
func (t *cyrusTarget) IMAPSetup() string {
	return "no TLS, LOGIN over plaintext (`allowplaintext: yes`)"
}

func (t *cyrusTarget) missing() []string {
	var m []string
	for _, b := range []string{"master", "lmtpd", "ctl_cyrusdb"} {
		if _, err := os.Stat(filepath.Join(cyrusBinDir, b)); err != nil {
			m = append(m, filepath.Join(cyrusBinDir, b))
		}
	}
	if _, err := exec.LookPath("saslpasswd2"); err != nil {
		m = append(m, "saslpasswd2")
	}
	return m
}

func (t *cyrusTarget) Prepare(ctx context.Context) error {
	if os.Geteuid() != 0 {
		return &skipError{"the Cyrus peer needs root (master starts as root and runs its services as the `cyrus` user)"}
	}
	if m := t.missing(); len(m) > 0 {
		if !t.install {
			return &skipError{fmt.Sprintf("not installed (%s); rerun as root with --install-peers, or apt-get install -y %s",
				strings.Join(m, ", "), strings.Join(cyrusPackages, " "))}
		}
		if err := aptInstall(ctx, cyrusPackages); err != nil {
			return err
		}
		stopSystemServices(ctx, "cyrus-imapd", "exim4")
		if m := t.missing(); len(m) > 0 {
			return fmt.Errorf("still missing after apt-get install: %s", strings.Join(m, ", "))
		}
	}
	t.binDir = cyrusBinDir
	t.saslpw, _ = exec.LookPath("saslpasswd2")
	out, err := runQuiet(ctx, "/", nil, "dpkg-query", "-W", "-f=${Version}", "cyrus-common")
	if err != nil {
		return fmt.Errorf("cyrus-common version: %w", err)
	}
	ver := strings.TrimSpace(out)
	t.version = ver
	if t.imapd, err = t.findImapd(ctx, ver); err != nil {
		return err
	}
	u, err := user.Lookup("cyrus")
	if err != nil {
		return fmt.Errorf("the `cyrus` user (created by cyrus-common): %w", err)
	}
	t.uid, _ = strconv.Atoi(u.Uid)
	t.gid, _ = strconv.Atoi(u.Gid)
	return nil
}

// findImapd returns the imapd binary: the installed one when cyrus-imapd
// happens to be installed, else the one unpacked into the cache folder
// from cyrus-imapd's .deb of the same version as cyrus-common (fetched
// with apt-get download when --install-peers allows it).
func (t *cyrusTarget) findImapd(ctx context.Context, ver string) (string, error) {
	if p := filepath.Join(cyrusBinDir, "imapd"); fileExists(p) {
		return p, nil
	}
	dir := filepath.Join(t.cache, "cyrus-imapd_"+ver)
	bin := filepath.Join(dir, "root", "usr", "lib", "cyrus", "bin", "imapd")
	if fileExists(bin) {
		return bin, nil
	}
	if !t.install {
		return "", &skipError{fmt.Sprintf("imapd not found: Debian's %s conflicts with dovecot-imapd, so the harness unpacks its .deb into %s; rerun as root with --install-peers",
			cyrusImapdPkg, dir)}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	fmt.Fprintf(os.Stderr, "bench: apt-get download %s=%s (unpacked into %s, not installed)\n", cyrusImapdPkg, ver, dir)
	if _, err := runQuiet(ctx, dir, nil, "apt-get", "download", cyrusImapdPkg+"="+ver); err != nil {
		if _, uerr := runQuiet(ctx, "/", nil, "apt-get", "update"); uerr != nil {
			return "", fmt.Errorf("%v; apt-get update: %v", err, uerr)
		}
		if _, err := runQuiet(ctx, dir, nil, "apt-get", "download", cyrusImapdPkg+"="+ver); err != nil {
			return "", err
		}
	}
	debs, _ := filepath.Glob(filepath.Join(dir, cyrusImapdPkg+"_*.deb"))
	if len(debs) == 0 {
		return "", fmt.Errorf("apt-get download %s left no .deb in %s", cyrusImapdPkg, dir)
	}
	if _, err := runQuiet(ctx, dir, nil, "dpkg-deb", "-x", debs[0], filepath.Join(dir, "root")); err != nil {
		return "", err
	}
	if !fileExists(bin) {
		return "", fmt.Errorf("%s has no usr/lib/cyrus/bin/imapd", debs[0])
	}
	// The cyrus user must reach it.
	for d := bin; d != "/" && d != "."; d = filepath.Dir(d) {
		if st, err := os.Stat(d); err == nil && st.IsDir() {
			_ = os.Chmod(d, st.Mode().Perm()|0o055)
		}
	}
	return bin, nil
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// stopSystemServices stops (and disables) services that a package install
// may have started: the benchmark never uses them, and they would compete
// for CPU and ports.
func stopSystemServices(ctx context.Context, names ...string) {
	for _, n := range names {
		_, _ = runQuiet(ctx, "/", nil, "systemctl", "disable", "--now", n)
		_, _ = runQuiet(ctx, "/", nil, "service", n, "stop")
	}
}

var cyrusIMAPDConf = template.Must(template.New("imapd.conf").Parse(`# Throw-away Cyrus instance for the Petrel benchmark. Not /etc/imapd.conf.
configdirectory: {{.Dir}}/config
defaultpartition: default
partition-default: {{.Dir}}/spool
proc_path: {{.Dir}}/run/proc
mboxname_lockpath: {{.Dir}}/run/lock
lmtpsocket: {{.Dir}}/run/socket/lmtp
idlesocket: {{.Dir}}/run/socket/idle
notifysocket: {{.Dir}}/run/socket/notify
syslog_prefix: petrel-bench-cyrus
admins: {{.Admin}}
allowplaintext: yes
sasl_pwcheck_method: auxprop
sasl_auxprop_plugin: sasldb
sasl_sasldb_path: {{.Dir}}/sasldb2
sasl_mech_list: PLAIN LOGIN
virtdomains: userid
unixhierarchysep: yes
altnamespace: no
hashimapspool: true
autocreate_quota: 0
autocreate_post: 1
lmtp_downcase_rcpt: yes
duplicatesuppression: 0
`))

var cyrusConf = template.Must(template.New("cyrus.conf").Parse(`# Throw-away Cyrus instance for the Petrel benchmark. Not /etc/cyrus.conf.
START {
  recover cmd="{{.Bin}}/ctl_cyrusdb -C {{.Dir}}/imapd.conf -r"
}
SERVICES {
  imap cmd="{{.Imapd}} -C {{.Dir}}/imapd.conf" listen="127.0.0.1:{{.IMAPPort}}" prefork=0 maxchild={{.IMAPLimit}}
  lmtp cmd="{{.Bin}}/lmtpd -C {{.Dir}}/imapd.conf -a" listen="127.0.0.1:{{.LMTPPort}}" prefork=0 maxchild=100
}
EVENTS {
  checkpoint cmd="{{.Bin}}/ctl_cyrusdb -C {{.Dir}}/imapd.conf -c" period=30
}
`))

func (t *cyrusTarget) Start(ctx context.Context) error {
	retire(t.dir) // previous run's data, already measured
	dir, err := os.MkdirTemp(t.root, "cyrus-")
	if err != nil {
		return err
	}
	t.dir = dir
	// spool/stage. is where lmtpd spools a message before linking it
	// into the recipients' mailboxes; Cyrus creates it at the first
	// delivery, and concurrent first deliveries of a fresh instance
	// sometimes failed an assertion (imap/append.c: 932: stage != NULL &&
	// stage->parts.count, "421 Internal error"). Made here, they do not.
	for _, d := range []string{"config", "spool", "spool/stage.", "run/proc", "run/lock", "run/socket"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o750); err != nil {
			return err
		}
	}
	// Users: PLAIN passwords in a sasldb of our own.
	db := filepath.Join(dir, "sasldb2")
	for _, u := range append(t.Users(), cyrusAdmin) {
		cmd := exec.CommandContext(ctx, t.saslpw, "-p", "-c", "-f", db, u)
		cmd.Stdin = strings.NewReader(benchPassword)
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("saslpasswd2 %s: %v: %s", u, err, strings.TrimSpace(string(out)))
		}
	}
	if err := writeTemplate(filepath.Join(dir, "imapd.conf"), cyrusIMAPDConf, map[string]any{"Dir": dir, "Admin": cyrusAdmin}); err != nil {
		return err
	}
	if err := chownTree(dir, t.uid, t.gid); err != nil {
		return err
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		return err
	}
	if err := t.launch(ctx); err != nil {
		return err
	}
	// Create the INBOXes now (Cyrus creates one at a user's first
	// login): created by concurrent first deliveries, all but one fail
	// with "451 Mailbox already exists".
	errs := make(chan error, len(t.Users()))
	for _, u := range t.Users() {
		go func() {
			c, err := dialIMAP(ctx, t.imapAddr, 4<<10)
			if err != nil {
				errs <- err
				return
			}
			err = c.login(u, benchPassword)
			if err == nil {
				_, err = c.selectMailbox(benchMailbox)
			}
			c.logout()
			if err != nil {
				err = fmt.Errorf("%s: %w", u, err)
			}
			errs <- err
		}()
	}
	var first error
	for range t.Users() {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	if first != nil {
		return first
	}
	return nil
}

// Restart stops the instance and starts it again on the same data (new
// ports).
func (t *cyrusTarget) Restart(ctx context.Context) error {
	if err := t.proc.stop(); err != nil {
		logf("%s: %v", t.Name(), err)
	}
	return t.launch(ctx)
}

func (t *cyrusTarget) launch(ctx context.Context) error {
	dir := t.dir
	ports, err := freePorts(2)
	if err != nil {
		return err
	}
	t.lmtpAddr = fmt.Sprintf("127.0.0.1:%d", ports[0])
	t.imapAddr = fmt.Sprintf("127.0.0.1:%d", ports[1])
	conf := filepath.Join(dir, "cyrus.conf")
	if err := writeTemplate(conf, cyrusConf, map[string]any{"Dir": dir, "Bin": t.binDir, "Imapd": t.imapd,
		"LMTPPort": ports[0], "IMAPPort": ports[1], "IMAPLimit": t.imapLimit()}); err != nil {
		return err
	}
	p, err := startProcess("cyrus master", filepath.Join(dir, "master.log"), dir, nil, filepath.Join(t.binDir, "master"),
		"-C", filepath.Join(dir, "imapd.conf"), "-M", conf, "-p", filepath.Join(dir, "run", "master.pid"), "-D")
	if err != nil {
		return err
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

func writeTemplate(path string, tmpl *template.Template, data any) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	err = tmpl.Execute(f, data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// chownTree gives dir and everything under it to uid:gid.
func chownTree(dir string, uid, gid int) error {
	return filepath.Walk(dir, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return nil
			}
			return err
		}
		return os.Lchown(p, uid, gid)
	})
}
