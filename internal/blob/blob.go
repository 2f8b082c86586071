// Package blob owns message bodies on disk: a content-addressed store with
// one immutable file per distinct body (named by the SHA-256 of its bytes),
// however many mailboxes hold it.
//
// A body is received and hashed in memory (up to 1 MiB; a larger one goes to
// a temporary file as it arrives), then made durable before any transaction
// that references it commits: a body in memory is written straight under its
// hash name with O_DSYNC and its folder fsynced; a larger one is fdatasynced,
// renamed into place and its folder fsynced. A crash can leave a partial
// file under a hash name, never a reference to it: the next Commit of those
// bytes finds the file different and replaces it, and the orphan sweep
// removes it otherwise. Reference counts live with the
// references, in the store's shards; this package only keeps bodies safe
// from the collector while a transaction may still reference them (Pin) and
// deletes a body when the collector says so (Remove, under Lock).
//
// It knows nothing of mailboxes, databases or protocols.
package blob

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/petrelmail/petrel/internal/bufpool"
)

// Hash is the SHA-256 of a body's bytes: its address in the store.
type Hash [sha256.Size]byte

// String returns the lowercase hex form used in file names.
func (h Hash) String() string { return hex.EncodeToString(h[:]) }

// ParseHash parses the hex form of a hash.
func ParseHash(s string) (Hash, error) {
	var h Hash
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != len(h) {
		return h, fmt.Errorf("blob: bad hash %q", s)
	}
	copy(h[:], b)
	return h, nil
}

// ErrTooLarge is returned by Spool when the body is over the limit. Nothing
// is left on disk.
var ErrTooLarge = errors.New("blob: body over the size limit")

// Store is a folder of bodies: DIR/ab/cdef... (two hex digits of fan-out),
// with DIR/tmp for bodies being received.
type Store struct {
	dir string
	tmp string
	// stripes guard bodies between "the file is there" and "a committed
	// row references it": a delivery holds the read side (Pin), the
	// collector the write side (Lock) while it checks and deletes.
	stripes [256]stripe

	fanoutMu sync.Mutex
	fanout   [256]*os.File // open fan-out folders, for fsync

	// committing holds, for each body a Commit is writing, a channel
	// closed when it is done: Commits of the same bytes run one after
	// the other, so that only one says it created the file and none
	// reads a file another is still writing.
	commitMu   sync.Mutex
	committing map[Hash]chan struct{}
}

// memLimit is the size up to which a spooled body is also kept in memory for
// parsing; larger bodies are mapped from their temporary file instead.
const memLimit = 1 << 20

// Open opens (creating if needed) the blob store in dir.
func Open(dir string) (*Store, error) {
	s := &Store{dir: dir, tmp: filepath.Join(dir, "tmp"), committing: map[Hash]chan struct{}{}}
	for i := range s.stripes {
		s.stripes[i].free.L = &s.stripes[i].mu
	}
	if err := os.MkdirAll(s.tmp, 0o750); err != nil {
		return nil, err
	}
	// Create the 256 fan-out folders once, so that Commit never has to make
	// a folder (and fsync its parent) on the delivery path.
	created := false
	for i := 0; i < 256; i++ {
		sub := filepath.Join(dir, fmt.Sprintf("%02x", i))
		if _, err := os.Stat(sub); err == nil {
			continue
		}
		if err := os.Mkdir(sub, 0o750); err != nil && !errors.Is(err, fs.ErrExist) {
			return nil, err
		}
		created = true
	}
	if created {
		if err := syncDir(dir); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// Dir is the folder of the store.
func (s *Store) Dir() string { return s.dir }

// Path is the file of a body.
func (s *Store) Path(h Hash) string {
	x := h.String()
	return filepath.Join(s.dir, x[:2], x[2:])
}

// Open opens a body for reading.
func (s *Store) Open(h Hash) (*os.File, error) {
	return openBlocking(s.Path(h), unix.O_RDONLY, 0)
}

// openBlocking opens a file outside Go's network poller: on Linux
// os.OpenFile makes it non-blocking, tries to register it with epoll and,
// refused for a regular file, makes it blocking again: five system calls
// that buy nothing. They cost a third of the time of serving a small
// message over IMAP, and every delivery of a new body paid them.
func openBlocking(path string, flags int, perm uint32) (*os.File, error) {
	for {
		fd, err := unix.Open(path, flags|unix.O_CLOEXEC, perm)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, &os.PathError{Op: "open", Path: path, Err: err}
		}
		return os.NewFile(uintptr(fd), path), nil
	}
}

// Exists reports whether a body is in the store.
func (s *Store) Exists(h Hash) bool {
	_, err := os.Stat(s.Path(h))
	return err == nil
}

// Pin keeps a body from being collected until the returned function is
// called. Hold it from before checking that the file exists until the
// transaction that references the body has committed (or failed).
func (s *Store) Pin(h Hash) (unpin func()) {
	m := &s.stripes[h[0]]
	m.rlock()
	return m.runlock
}

// Lock gives the collector exclusive use of a body: no delivery can be
// between "file exists" and "reference committed" while it is held.
func (s *Store) Lock(h Hash) (unlock func()) {
	m := &s.stripes[h[0]]
	m.lock()
	return m.unlock
}

// stripe is a readers-writer lock that prefers readers: a Pin waits only
// while a Lock is held, never for one that is waiting. sync.RWMutex makes
// a new reader wait behind a waiting writer, and a batch (MULTIAPPEND)
// pins one body after another while holding the pins of the earlier ones:
// a collector waiting for a stripe the batch held would then stop the
// batch's next Pin on that stripe, and neither could go on. A Lock may
// wait while pins come and go; the collector is in no hurry.
type stripe struct {
	mu      sync.Mutex
	free    sync.Cond // on mu; signalled when readers drop to 0 or the writer leaves
	readers int
	writer  bool
}

func (m *stripe) rlock() {
	m.mu.Lock()
	for m.writer {
		m.free.Wait()
	}
	m.readers++
	m.mu.Unlock()
}

func (m *stripe) runlock() {
	m.mu.Lock()
	m.readers--
	if m.readers == 0 {
		m.free.Broadcast()
	}
	m.mu.Unlock()
}

func (m *stripe) lock() {
	m.mu.Lock()
	for m.writer || m.readers > 0 {
		m.free.Wait()
	}
	m.writer = true
	m.mu.Unlock()
}

func (m *stripe) unlock() {
	m.mu.Lock()
	m.writer = false
	m.free.Broadcast()
	m.mu.Unlock()
}

// Remove deletes a body. Call it only under Lock, after checking that no
// shard references the body.
func (s *Store) Remove(h Hash) error {
	err := os.Remove(s.Path(h))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

// Walk calls fn for every body in the store with its size and modification
// time (used by the orphan sweep and by sizing).
func (s *Store) Walk(fn func(h Hash, size int64, mtime time.Time) error) error {
	return filepath.WalkDir(s.dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if d.IsDir() {
			if path == s.tmp {
				return filepath.SkipDir
			}
			return nil
		}
		dir := filepath.Base(filepath.Dir(path))
		h, err := ParseHash(dir + d.Name())
		if err != nil {
			return nil // not a body; leave it alone
		}
		info, err := d.Info()
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		return fn(h, info.Size(), info.ModTime())
	})
}

// CleanTemp removes temporary files older than age: the leftovers of
// receptions interrupted by a crash.
func (s *Store) CleanTemp(age time.Duration) (int, error) {
	entries, err := os.ReadDir(s.tmp)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, e := range entries {
		info, err := e.Info()
		if err == nil && time.Since(info.ModTime()) > age {
			if os.Remove(filepath.Join(s.tmp, e.Name())) == nil {
				n++
			}
		}
	}
	return n, nil
}

// Spooled is a received and hashed body: in memory up to 1 MiB, in a
// temporary file above. Bytes gives its content for parsing; Commit makes it
// durable in the store.
type Spooled struct {
	Hash Hash
	Size int64

	s       *Store
	f       *os.File // nil while the body is only in memory
	mem     []byte
	mmap    []byte
	renamed bool // Commit gave the temporary file its final name
}

// spillWriter keeps what is written in memory up to memLimit, then moves it
// to a temporary file and writes the rest there.
type spillWriter struct {
	sp  *Spooled
	buf []byte
}

func (w *spillWriter) Write(p []byte) (int, error) {
	if w.sp.f == nil {
		if len(w.buf)+len(p) <= memLimit {
			w.buf = append(w.buf, p...)
			return len(p), nil
		}
		f, err := w.sp.s.createTemp(0)
		if err != nil {
			return 0, err
		}
		w.sp.f = f
		if _, err := f.Write(w.buf); err != nil {
			return 0, err
		}
		w.buf = nil
	}
	return w.sp.f.Write(p)
}

// memBuffers hold the memory of closed Spooleds (bodies of up to 256 KB):
// one allocated for every body was, after the copy buffer, the largest
// share of the bytes the server allocated under the LMTP benchmark.
var memBuffers = bufpool.Pool[byte]{Keep: 256 << 10}

// copyBuffers are Spool's copy buffers.
var copyBuffers bufpool.Pool[byte]

// Spool reads r to its end, hashing it; a body over 1 MiB goes to a
// temporary file as it arrives, so memory stays bounded whatever the size.
// It fails with ErrTooLarge, leaving nothing behind, if r holds more than
// limit bytes (limit <= 0: no limit). Call Close on the result in every
// case.
func (s *Store) Spool(r io.Reader, limit int64) (*Spooled, error) {
	sp := &Spooled{s: s}
	h := sha256.New()
	w := &spillWriter{sp: sp, buf: memBuffers.Get(0, 16<<10)}
	var src io.Reader = r
	if limit > 0 {
		src = io.LimitReader(r, limit+1)
	}
	// io.Copy would allocate a 32 KB buffer for every body (the
	// MultiWriter has no ReadFrom, the limited reader no WriteTo). Under
	// the LMTP benchmark those were a fifth of the bytes the server
	// allocated.
	buf := copyBuffers.Get(32<<10, 0)
	n, err := io.CopyBuffer(io.MultiWriter(w, h), src, buf)
	copyBuffers.Put(buf)
	if err == nil && limit > 0 && n > limit {
		err = ErrTooLarge
	}
	if err != nil {
		sp.Close()
		return nil, err
	}
	sp.Size = n
	sp.setHash(h)
	if sp.f == nil {
		sp.mem = w.buf
	}
	return sp, nil
}

func (sp *Spooled) setHash(h hash.Hash) { copy(sp.Hash[:], h.Sum(nil)) }

// Bytes returns the whole body: from memory for small bodies, mapped from
// the temporary file for large ones. Valid until Close.
func (sp *Spooled) Bytes() ([]byte, error) {
	if sp.f == nil {
		return sp.mem, nil
	}
	if sp.mmap == nil {
		m, err := unix.Mmap(int(sp.f.Fd()), 0, int(sp.Size), unix.PROT_READ, unix.MAP_SHARED)
		if err != nil {
			return nil, fmt.Errorf("blob: map spooled body: %w", err)
		}
		sp.mmap = m
	}
	return sp.mmap, nil
}

// Commit makes the body durable in the store, unless an identical body is
// already there; created says whether this call added the file. The caller
// must hold Pin(sp.Hash) from before Commit until its referencing
// transaction is over.
func (sp *Spooled) Commit() (created bool, err error) { return sp.store(true) }

// Stage is Commit without waiting for the disk, for a batch of bodies made
// durable together by one Syncer.Sync (opened before): a body held in
// memory is written under its hash name, and nothing is flushed (a spilled body is committed
// whole, as by Commit). Until Sync returns, a crash may leave the file
// partial: no reference to it may be committed before. The caller holds
// Pin(sp.Hash) as for Commit.
func (sp *Spooled) Stage() (created bool, err error) { return sp.store(false) }

// store is Commit (durable) or Stage.
func (sp *Spooled) store(durable bool) (created bool, err error) {
	done := sp.s.serialize(sp.Hash)
	defer done()
	if sp.f == nil {
		return sp.s.writeFinal(sp.Hash, sp.mem, durable)
	}
	return sp.commitSpilled()
}

// Syncer makes staged bodies durable: one syncfs(2) of the store's file
// system, which writes back whatever else is dirty there too, so it pays
// only for a batch (a MULTIAPPEND of many messages): a flush per body costs
// several times more CPU on this machine (docs/design.md, "Bodies").
//
// Open it before staging: syncfs reports a write-back error to every
// descriptor opened before the error (Linux 5.8 and later; earlier kernels
// report none), but to one opened after only if nobody saw it yet, and
// another batch's syncfs may have.
type Syncer struct{ d *os.File }

// OpenSyncer opens a Syncer on the store's folder.
func (s *Store) OpenSyncer() (*Syncer, error) {
	d, err := openBlocking(s.dir, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		return nil, err
	}
	return &Syncer{d: d}, nil
}

// Sync makes every body staged since the Syncer was opened durable, with
// their names.
func (y *Syncer) Sync() error {
	for {
		err := unix.Syncfs(int(y.d.Fd()))
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return &os.PathError{Op: "syncfs", Path: y.d.Name(), Err: err}
		}
		return nil
	}
}

// Close releases the Syncer's descriptor.
func (y *Syncer) Close() error { return y.d.Close() }

// commitSpilled is Commit for a body over 1 MiB, in its temporary file.
func (sp *Spooled) commitSpilled() (created bool, err error) {
	// A spilled body (over 1 MiB) is only ever named by the rename below,
	// after its fdatasync: a file under its name is whole.
	final := sp.s.Path(sp.Hash)
	if _, err := os.Stat(final); err == nil {
		return false, sp.s.syncFanout(sp.Hash)
	}
	// fdatasync writes the data and the size (what reading it back needs);
	// the name is made durable by the folder's fsync below.
	if err := unix.Fdatasync(int(sp.f.Fd())); err != nil {
		return false, err
	}
	if err := unix.Rename(sp.f.Name(), final); err != nil {
		return false, &os.LinkError{Op: "rename", Old: sp.f.Name(), New: final, Err: err}
	}
	sp.renamed = true
	return true, sp.s.syncFanout(sp.Hash)
}

// serialize waits until no other Commit of h runs, and marks one as running
// until done is called.
func (s *Store) serialize(h Hash) (done func()) {
	for {
		s.commitMu.Lock()
		busy, ok := s.committing[h]
		if !ok {
			ch := make(chan struct{})
			s.committing[h] = ch
			s.commitMu.Unlock()
			return func() {
				s.commitMu.Lock()
				delete(s.committing, h)
				s.commitMu.Unlock()
				close(ch)
			}
		}
		s.commitMu.Unlock()
		<-busy
	}
}

// writeFinal makes a body held in memory durable under its hash name. It is
// created there (O_EXCL) and written with O_DSYNC, so the write returns once
// the data and the size are on disk: one file, two system calls and one
// flush, where a temporary file also needs an fdatasync, a rename and a
// second folder entry. (Commit runs off the delivery's critical path,
// beside the SQL work.) As with every Commit, created may be true with an
// error when only the folder's fsync failed.
func (s *Store) writeFinal(h Hash, content []byte, durable bool) (created bool, err error) {
	final := s.Path(h)
	flags := unix.O_WRONLY | unix.O_CREAT | unix.O_EXCL
	if durable {
		flags |= unix.O_DSYNC
	}
	for range 3 {
		f, err := openBlocking(final, flags, 0o440)
		if errors.Is(err, fs.ErrExist) {
			created, err := s.adopt(h, content)
			if errors.Is(err, fs.ErrNotExist) {
				continue // removed between the two opens: create it
			}
			return created, err
		}
		if err != nil {
			return false, err
		}
		err = writeAll(f, content, durable)
		if err != nil {
			// Nothing references the partial file: take it back,
			// if the name is still ours.
			removeIfSame(f, final)
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return false, err
		}
		if !durable {
			return true, nil
		}
		return true, s.syncFanout(h)
	}
	return false, fmt.Errorf("blob: %s keeps appearing and disappearing", final)
}

// writeAll writes content to f, opened with O_DSYNC if durable: the write
// returns once the data and the size are on disk. An empty body has no
// write to carry O_DSYNC, and is fdatasynced instead.
func writeAll(f *os.File, content []byte, durable bool) error {
	if _, err := f.Write(content); err != nil {
		return err
	}
	if durable && len(content) == 0 {
		return unix.Fdatasync(int(f.Fd()))
	}
	return nil
}

// removeIfSame removes name if it is still the file f.
func removeIfSame(f *os.File, name string) {
	mine, err1 := f.Stat()
	now, err2 := os.Lstat(name)
	if err1 == nil && err2 == nil && os.SameFile(mine, now) {
		os.Remove(name)
	}
}

// adopt is Commit for a body whose name is already taken. Usually it holds
// the same bytes (single instance: another delivery stored them); the
// delivery that wrote them may not have fsynced the folder yet, so do it,
// so that the reference about to be committed never outlives the name. If
// the file differs, it is what a crash left of an interrupted Commit (no
// reference to it was ever committed, since references commit only after
// Commit returns): replace it. It fails with fs.ErrNotExist if the name is
// gone.
func (s *Store) adopt(h Hash, content []byte) (created bool, err error) {
	final := s.Path(h)
	f, err := openBlocking(final, unix.O_RDONLY, 0)
	if err != nil {
		return false, err
	}
	same, err := sameContent(f, content)
	if err == nil && same {
		// Its data may have been written by a process that stopped
		// before the flush: make sure it is on disk.
		err = unix.Fdatasync(int(f.Fd()))
	}
	f.Close()
	if err != nil {
		return false, err
	}
	if same {
		return false, s.syncFanout(h)
	}
	tmp, err := s.createTemp(unix.O_DSYNC)
	if err != nil {
		return false, err
	}
	defer os.Remove(tmp.Name())
	err = writeAll(tmp, content, true)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), final)
	}
	if err != nil {
		return false, err
	}
	return true, s.syncFanout(h)
}

// sameContent reports whether f holds exactly content.
func sameContent(f *os.File, content []byte) (bool, error) {
	info, err := f.Stat()
	if err != nil {
		return false, err
	}
	if info.Size() != int64(len(content)) {
		return false, nil
	}
	buf := make([]byte, len(content))
	if _, err := io.ReadFull(f, buf); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			return false, nil
		}
		return false, err
	}
	return bytes.Equal(buf, content), nil
}

// createTemp creates a temporary body file, read-only from the start (the
// descriptor returned may still write it), so no chmod is needed later.
func (s *Store) createTemp(flags int) (*os.File, error) {
	var rnd [12]byte
	for {
		rand.Read(rnd[:])
		f, err := openBlocking(filepath.Join(s.tmp, "in-"+hex.EncodeToString(rnd[:])), unix.O_RDWR|unix.O_CREAT|unix.O_EXCL|flags, 0o440)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		return f, err
	}
}

// syncFanout fsyncs the fan-out folder of a body, through a descriptor kept
// open for the life of the store.
func (s *Store) syncFanout(h Hash) error {
	s.fanoutMu.Lock()
	d := s.fanout[h[0]]
	if d == nil {
		var err error
		d, err = os.Open(filepath.Dir(s.Path(h)))
		if err != nil {
			s.fanoutMu.Unlock()
			return err
		}
		s.fanout[h[0]] = d
	}
	s.fanoutMu.Unlock()
	return d.Sync()
}

// Close releases the descriptors the store keeps open.
func (s *Store) Close() error {
	s.fanoutMu.Lock()
	defer s.fanoutMu.Unlock()
	for i, d := range s.fanout {
		if d != nil {
			d.Close()
			s.fanout[i] = nil
		}
	}
	return nil
}

// Close releases the temporary file (removing it if Commit did not move it).
func (sp *Spooled) Close() error {
	// Bytes is valid until Close: the buffer can serve another body.
	memBuffers.Put(sp.mem)
	sp.mem = nil
	if sp.mmap != nil {
		unix.Munmap(sp.mmap)
		sp.mmap = nil
	}
	if sp.f == nil {
		return nil
	}
	name := sp.f.Name()
	err := sp.f.Close()
	sp.f = nil
	if sp.renamed {
		return err
	}
	if rerr := os.Remove(name); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) && err == nil {
		err = rerr
	}
	return err
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
