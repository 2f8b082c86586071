package replication

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// A lease is the right to run a shard's replicator: an open file
// description lock (fcntl F_OFD_SETLK) on data/replication/shard-N.lock.
// The kernel releases it when its holder exits, however it exits, so a
// crashed server never leaves a shard claimed; and it conflicts between
// two opens of the same file in one process too, so two replicators of a
// shard cannot both run even inside one server. Another process can ask
// whether it is held (F_OFD_GETLK) without taking it.
//
// With the PostgreSQL engine this becomes an advisory lock held by one
// node; the rest of the package does not change.
type lease struct {
	f *os.File
}

// errLeaseHeld is returned when another replicator holds the shard.
var errLeaseHeld = errors.New("the shard's replicator runs elsewhere")

func leasePath(dataDir string, shard int) string {
	return filepath.Join(dataDir, "replication", fmt.Sprintf("shard-%d.lock", shard))
}

func wholeFile(typ int16) *unix.Flock_t {
	return &unix.Flock_t{Type: typ, Whence: 0, Start: 0, Len: 0}
}

// acquireLease takes the shard's lease or fails at once with
// errLeaseHeld, and records the holder's PID in the file.
func acquireLease(dataDir string, shard int) (*lease, error) {
	path := leasePath(dataDir, shard)
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o640)
	if err != nil {
		return nil, err
	}
	if err := unix.FcntlFlock(f.Fd(), unix.F_OFD_SETLK, wholeFile(unix.F_WRLCK)); err != nil {
		f.Close()
		if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EACCES) {
			return nil, errLeaseHeld
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	f.Truncate(0)
	f.WriteAt([]byte(strconv.Itoa(os.Getpid())), 0)
	return &lease{f: f}, nil
}

// release gives the lease up (closing the file releases the lock).
func (l *lease) release() {
	if l != nil && l.f != nil {
		l.f.Close()
		l.f = nil
	}
}

// leaseHeld tells whether some replicator holds the shard's lease now,
// and the PID it recorded.
func leaseHeld(dataDir string, shard int) (held bool, pid int, err error) {
	path := leasePath(dataDir, shard)
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return false, 0, nil
	}
	if err != nil {
		return false, 0, err
	}
	defer f.Close()
	lk := wholeFile(unix.F_WRLCK)
	if err := unix.FcntlFlock(f.Fd(), unix.F_OFD_GETLK, lk); err != nil {
		return false, 0, err
	}
	if lk.Type == unix.F_UNLCK {
		return false, 0, nil
	}
	b, _ := os.ReadFile(path)
	pid, _ = strconv.Atoi(strings.TrimSpace(string(b)))
	return true, pid, nil
}
