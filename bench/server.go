package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// target is one mail server under test. Start brings up a fresh instance
// with a fresh, empty data folder holding Users(); Stop shuts it down (it is
// safe to call more than once); DiskUsage measures the data folder of the
// last instance (it is called after Stop).
type target interface {
	Name() string
	Start(ctx context.Context) error
	Stop() error
	LMTPAddr() string
	Users() []string
	DiskUsage() (int64, error)
	Version() string
}

// preparer is implemented by targets that need one-time work before the
// first Start (building a binary, checking an installation). A Prepare error
// of type skipError means the target is not available on this machine.
type preparer interface {
	Prepare(ctx context.Context) error
}

// describer is implemented by targets that can say how they were set up,
// for the report.
type describer interface {
	Setup() string
}

type skipError struct{ reason string }

func (e *skipError) Error() string { return "skipped: " + e.reason }

func isSkip(err error) bool {
	var s *skipError
	return errors.As(err, &s)
}

const (
	benchDomain   = "bench.test"
	benchPassword = "secret"
	benchSender   = "bench-sender@sender.test"
	stopTimeout   = 10 * time.Second
	startTimeout  = 60 * time.Second
)

func makeUsers(n int) []string {
	users := make([]string, n)
	for i := range users {
		users[i] = fmt.Sprintf("user%d@%s", i+1, benchDomain)
	}
	return users
}

// freePorts asks the kernel for n distinct free TCP ports on 127.0.0.1.
func freePorts(n int) ([]int, error) {
	// Hold all listeners open until every port is chosen so they differ.
	ls := make([]net.Listener, 0, n)
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	ports := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// process is a server child process in its own process group, so that a
// terminal's Ctrl-C reaches only the harness, which then stops it in order,
// and so that a SIGKILL fallback takes its helpers with it.
type process struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	done    chan struct{}
	waitErr error
	once    sync.Once
	stopErr error
	// doneWhen, if set, is asked every 20 ms after the SIGTERM with the
	// names (comm) of the processes of the server still alive, main
	// process first; when it returns true the rest of the group is
	// killed at once (what remains only waits: Dovecot's master sleeps a
	// second after its log process).
	doneWhen func(comms []string) bool
}

func startProcess(name, logPath, dir string, env []string, bin string, args ...string) (*process, error) {
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Env = env
	cmd.Stdout = logf
	cmd.Stderr = logf
	// Pdeathsig: if the harness dies without cleaning up (SIGKILL), the
	// server still gets a SIGTERM.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	p := &process{name: name, cmd: cmd, logPath: logPath, done: make(chan struct{})}
	started := make(chan error, 1)
	go func() {
		// The kernel sends Pdeathsig when the thread that started the
		// child ends, not the process (go.dev/issue/27505). A server
		// restarted for an index rebuild once got a SIGTERM that the
		// harness did not send, 4 ms after it was ready; this is the
		// one sender that fits. The thread stays this goroutine's
		// until the child has exited.
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		p.waitErr = cmd.Wait()
		logf.Close()
		close(p.done)
	}()
	if err := <-started; err != nil {
		logf.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	return p, nil
}

func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM, waits up to stopTimeout, then SIGKILLs the whole
// process group.
func (p *process) stop() error {
	if p == nil {
		return nil
	}
	p.once.Do(func() {
		pid := p.cmd.Process.Pid
		if !p.exited() {
			_ = syscall.Kill(pid, syscall.SIGTERM)
			timeout := time.After(stopTimeout)
			tick := time.NewTicker(20 * time.Millisecond)
			defer tick.Stop()
		wait:
			for {
				select {
				case <-p.done:
					break wait
				case <-timeout:
					p.stopErr = fmt.Errorf("%s did not exit %s after SIGTERM; sent SIGKILL", p.name, stopTimeout)
					_ = syscall.Kill(-pid, syscall.SIGKILL)
					<-p.done
					break wait
				case <-tick.C:
					if p.doneWhen != nil && p.doneWhen(processComms(pid)) {
						_ = syscall.Kill(-pid, syscall.SIGKILL)
						<-p.done
						break wait
					}
				}
			}
		}
		// Leftover helpers in the group (if any) go too.
		_ = syscall.Kill(-pid, syscall.SIGKILL)
	})
	return p.stopErr
}

// processComms returns the names of the processes of the server whose
// main process is pid, pid's first.
func processComms(pid int) []string {
	comm := func(p int) string {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", p))
		return strings.TrimSpace(string(b))
	}
	out := []string{comm(pid)}
	for _, p := range serverPids(pid) {
		if p != pid {
			out = append(out, comm(p))
		}
	}
	return out
}

// pgid is the process group of the server (its pid), 0 if not running.
func (p *process) pgid() int {
	if p == nil || p.exited() {
		return 0
	}
	return p.cmd.Process.Pid
}

// logTail returns the last n lines of the process log, for error messages.
func logTail(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if len(lines) > n {
			lines = lines[1:]
		}
	}
	if len(lines) == 0 {
		return ""
	}
	return "\n  | " + strings.Join(lines, "\n  | ")
}

// waitLMTP waits until addr accepts a connection and sends a 220 greeting,
// or the process exits, or the timeout/context ends.
func waitLMTP(ctx context.Context, p *process, addr string, timeout time.Duration) error {
	return waitGreeting(ctx, p, "LMTP", addr, "220", timeout)
}

// waitIMAP is waitLMTP for an IMAP listener ("* OK" greeting).
func waitIMAP(ctx context.Context, p *process, addr string, timeout time.Duration) error {
	return waitGreeting(ctx, p, "IMAP", addr, "* OK", timeout)
}

func waitGreeting(ctx context.Context, p *process, proto, addr, prefix string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		if p.exited() {
			return fmt.Errorf("%s exited before %s was ready (%v)%s", p.name, proto, p.waitErr, logTail(p.logPath, 15))
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			_ = c.SetDeadline(time.Now().Add(5 * time.Second))
			line, rerr := bufio.NewReader(c).ReadString('\n')
			c.Close()
			if rerr == nil && strings.HasPrefix(line, prefix) {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: %s on %s not ready after %s%s", p.name, proto, addr, timeout, logTail(p.logPath, 15))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// diskUsage is `du -s`: allocated blocks of every file and directory under
// dir, counting each hard-linked inode once (Dovecot hard-links one file
// into every recipient's maildir).
func diskUsage(dir string) (int64, error) {
	type key struct{ dev, ino uint64 }
	seen := map[key]bool{}
	var total int64
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		info, err := d.Info()
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		st, ok := info.Sys().(*syscall.Stat_t)
		if !ok {
			total += info.Size()
			return nil
		}
		k := key{uint64(st.Dev), st.Ino}
		if seen[k] {
			return nil
		}
		seen[k] = true
		total += st.Blocks * 512
		return nil
	})
	return total, err
}

// runQuiet runs a short command and returns its combined output, with the
// output in the error.
func runQuiet(ctx context.Context, dir string, env []string, bin string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = dir
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s %s: %v\n%s", filepath.Base(bin), strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

// retireReserve is the free space under which retire deletes a run's data
// at once instead of leaving it for the end of the bench.
const retireReserve = 8 << 30

// retire disposes of a measured run's data folder. It is normally left in
// place for the bench's final cleanup, because deleting it now would bill
// the next run: on ext4 without a journal (the file system of these
// machines) every inode created within a minute or more of a deletion skips
// the recently deleted inodes of its group one by one (recently_deleted()
// in fs/ext4/ialloc.c). Three Petrel runs in a row, each deleting the one
// before, gave 869, 798 and 719 msg/s, with 19% more CPU in the last. The
// folder is deleted at once only when the disk is short of retireReserve.
func retire(dir string) {
	if dir == "" {
		return
	}
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err == nil && int64(st.Bavail)*int64(st.Bsize) >= retireReserve {
		return
	}
	_ = os.RemoveAll(dir)
}

// spreadRuns marks root as the top of a directory hierarchy for ext4's
// Orlov allocator (chattr +T), so that each run's folder made under it
// starts in a block group of its own instead of next to the previous
// runs'. Without it, a run allocated its inodes among those another server
// had just freed (Dovecot replaces dovecot-uidlist by a new file at every
// delivery, Cyrus deletes every staged message), and on ext4 without a
// journal each allocation skips those one by one (see retire). On other
// file systems the flag does not exist and nothing changes.
func spreadRuns(root string) {
	const fsTopdirFL = 0x00020000 // FS_TOPDIR_FL in linux/fs.h
	f, err := os.Open(root)
	if err != nil {
		return
	}
	defer f.Close()
	flags, err := unix.IoctlGetUint32(int(f.Fd()), unix.FS_IOC_GETFLAGS)
	if err != nil {
		return
	}
	_ = unix.IoctlSetPointerInt(int(f.Fd()), unix.FS_IOC_SETFLAGS, int(flags|fsTopdirFL))
}
