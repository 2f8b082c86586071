package api

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"

	"golang.org/x/sys/unix"
)

// The local administrator. A running server listens on a unix socket in
// its data folder, SocketName, made with mode 0600 and answering only
// connections of the server's own user (and root), checked with
// SO_PEERCRED at accept. Requests on it act as the global administrator
// without a key: whoever can open the data folder's files owns its data
// anyway. This is how the admin command line reaches a running server.
//
// When no server runs, the command line serves the same API in its own
// process on the data folder (Client over API.Local), holding the data
// folder's lock shared (LockShared), so that the answers and the errors
// are the same either way and a server does not start in the middle of a
// command.

// SocketName is the local socket's file name in the data folder.
const SocketName = "api.sock"

// lockName is the data folder's serve lock: a running server holds it
// exclusively (internal/server), admin commands without a server shared.
const lockName = "serve.lock"

// maxSocketPath is the longest path bind(2) and connect(2) take for a
// unix socket (sun_path, less its final NUL).
const maxSocketPath = 107

// socketAddr returns a path for the socket of dataDir that fits in
// sun_path: the socket's own path, or, when that is too long, the same
// file reached through an open descriptor of the folder
// (/proc/self/fd/N/api.sock, Linux). done closes that descriptor.
func socketAddr(dataDir string) (path string, done func(), err error) {
	path = filepath.Join(dataDir, SocketName)
	if len(path) <= maxSocketPath {
		return path, func() {}, nil
	}
	fd, err := unix.Open(dataDir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return "", nil, &os.PathError{Op: "open", Path: dataDir, Err: err}
	}
	return fmt.Sprintf("/proc/self/fd/%d/%s", fd, SocketName), func() { unix.Close(fd) }, nil
}

// ListenLocal listens on the data folder's socket, replacing a stale one
// (the caller holds the serve lock, so no other server uses it).
func ListenLocal(dataDir string) (net.Listener, error) {
	real := filepath.Join(dataDir, SocketName)
	if err := os.Remove(real); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	addr, done, err := socketAddr(dataDir)
	if err != nil {
		return nil, err
	}
	defer done()
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: addr, Net: "unix"})
	if err != nil {
		return nil, err
	}
	l.SetUnlinkOnClose(false)
	if err := os.Chmod(real, 0o600); err != nil {
		l.Close()
		os.Remove(real)
		return nil, err
	}
	return &localListener{UnixListener: l, path: real, uid: os.Getuid()}, nil
}

// localListener accepts only connections from its own user and root.
type localListener struct {
	*net.UnixListener
	path  string
	uid   int
	close sync.Once
}

func (l *localListener) Accept() (net.Conn, error) {
	for {
		c, err := l.UnixListener.AcceptUnix()
		if err != nil {
			return nil, err
		}
		if uid, ok := peerUID(c); ok && (uid == l.uid || uid == 0) {
			return c, nil
		}
		c.Close()
	}
}

// Close stops listening and removes the socket file.
func (l *localListener) Close() error {
	err := l.UnixListener.Close()
	l.close.Do(func() { os.Remove(l.path) })
	return err
}

func peerUID(c *net.UnixConn) (int, bool) {
	raw, err := c.SyscallConn()
	if err != nil {
		return 0, false
	}
	var cred *unix.Ucred
	var cerr error
	if err := raw.Control(func(fd uintptr) {
		cred, cerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil || cerr != nil {
		return 0, false
	}
	return int(cred.Uid), true
}

// DialLocal connects to the data folder's socket.
func DialLocal(dataDir string) (net.Conn, error) {
	addr, done, err := socketAddr(dataDir)
	if err != nil {
		return nil, err
	}
	defer done()
	return net.Dial("unix", addr)
}

// ErrServerRunning is returned by LockShared when a server holds the data
// folder: talk to it (DialLocal).
var ErrServerRunning = errors.New("a server is running on the data folder")

// LockShared takes the data folder's serve lock shared, for an admin
// command that works on the folder itself. It fails with ErrServerRunning
// when a server holds it. Release with the returned function.
func LockShared(dataDir string) (release func(), err error) {
	if err := os.MkdirAll(dataDir, 0o750); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(dataDir, lockName), os.O_RDWR|os.O_CREATE, 0o640)
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_SH|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, ErrServerRunning
		}
		return nil, err
	}
	return func() { f.Close() }, nil
}
