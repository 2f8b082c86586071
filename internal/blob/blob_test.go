package blob

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

func tmpFiles(t *testing.T, s *Store) int {
	t.Helper()
	entries, err := os.ReadDir(s.tmp)
	if err != nil {
		t.Fatal(err)
	}
	return len(entries)
}

func TestSpoolCommitSmallAndLarge(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, size := range []int{0, 10, memLimit, memLimit + 1, 3 * memLimit} {
		content := bytes.Repeat([]byte("0123456789abcdef\r\n"), size/18+1)[:size]
		sp, err := s.Spool(bytes.NewReader(content), 0)
		if err != nil {
			t.Fatal(err)
		}
		if sp.Hash != sha256.Sum256(content) || sp.Size != int64(size) {
			t.Fatalf("size %d: wrong hash or size", size)
		}
		got, err := sp.Bytes()
		if err != nil || !bytes.Equal(got, content) {
			t.Fatalf("size %d: Bytes differ (%v)", size, err)
		}
		created, err := sp.Commit()
		if err != nil || !created {
			t.Fatalf("size %d: commit created=%v err=%v", size, created, err)
		}
		sp.Close()
		f, err := s.Open(sp.Hash)
		if err != nil {
			t.Fatal(err)
		}
		stored, _ := io.ReadAll(f)
		f.Close()
		if !bytes.Equal(stored, content) {
			t.Fatalf("size %d: stored bytes differ", size)
		}
		// The same bytes again: single instance, nothing new on disk.
		again, _ := s.Spool(bytes.NewReader(content), 0)
		if created, err := again.Commit(); err != nil || created {
			t.Fatalf("size %d: second commit created=%v err=%v", size, created, err)
		}
		again.Close()
		if n := tmpFiles(t, s); n != 0 {
			t.Fatalf("size %d: %d temporary files left", size, n)
		}
		info, err := os.Stat(s.Path(sp.Hash))
		if err != nil || info.Mode().Perm() != 0o440 {
			t.Fatalf("size %d: stored file mode %v (%v), want read-only", size, info.Mode(), err)
		}
	}
}

// A body spooled and never committed (a delivery that failed, or the process
// stopping before Commit) leaves nothing in the store or in tmp.
func TestUncommittedLeavesNothing(t *testing.T) {
	s, _ := Open(t.TempDir())
	for _, size := range []int{10, 2 * memLimit} { // in memory, spilled
		sp, err := s.Spool(bytes.NewReader(bytes.Repeat([]byte("x"), size)), 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := sp.Bytes(); err != nil {
			t.Fatal(err)
		}
		sp.Close()
		if n := tmpFiles(t, s); n != 0 {
			t.Fatalf("size %d: %d temporary files left", size, n)
		}
		if s.Exists(sp.Hash) {
			t.Fatalf("size %d: an uncommitted body is in the store", size)
		}
	}
}

// Concurrent Commits of the same bytes: exactly one adds the file, all
// succeed, and the stored bytes are whole.
func TestConcurrentCommitsOfTheSameBody(t *testing.T) {
	s, _ := Open(t.TempDir())
	// Several rounds of each: a race shows in some rounds, not all.
	for round, size := range []int{5000, 5000, 5000, 5000, 5000, memLimit + 10, memLimit + 10} { // in memory, spilled
		content := fmt.Appendf(nil, "round %d\r\n", round)
		content = append(content, bytes.Repeat([]byte("same body\r\n"), size/11+1)...)[:size]
		const n = 8
		var wg sync.WaitGroup
		created := make([]bool, n)
		errs := make([]error, n)
		for i := range n {
			sp, err := s.Spool(bytes.NewReader(content), 0)
			if err != nil {
				t.Fatal(err)
			}
			wg.Go(func() {
				defer sp.Close()
				created[i], errs[i] = sp.Commit()
			})
		}
		wg.Wait()
		made := 0
		for i := range n {
			if errs[i] != nil {
				t.Fatalf("size %d: commit %d: %v", size, i, errs[i])
			}
			if created[i] {
				made++
			}
		}
		if made != 1 {
			t.Fatalf("size %d: %d commits say they created the file, want 1", size, made)
		}
		stored, err := os.ReadFile(s.Path(sha256.Sum256(content)))
		if err != nil || !bytes.Equal(stored, content) {
			t.Fatalf("size %d: stored body differs (%v)", size, err)
		}
		if n := tmpFiles(t, s); n != 0 {
			t.Fatalf("size %d: %d temporary files left", size, n)
		}
	}
}

func TestSpoolTooLargeLeavesNothing(t *testing.T) {
	s, _ := Open(t.TempDir())
	for _, size := range []int{100, 2 * memLimit} {
		_, err := s.Spool(strings.NewReader(strings.Repeat("x", size+1)), int64(size))
		if !errors.Is(err, ErrTooLarge) {
			t.Fatalf("size %d: %v", size, err)
		}
		if n := tmpFiles(t, s); n != 0 {
			t.Fatalf("%d temporary files left", n)
		}
	}
	// Exactly at the limit is accepted.
	sp, err := s.Spool(strings.NewReader("12345"), 5)
	if err != nil {
		t.Fatal(err)
	}
	sp.Close()
}

func TestCleanTempAndWalk(t *testing.T) {
	s, _ := Open(t.TempDir())
	sp, _ := s.Spool(strings.NewReader("body"), 0)
	sp.Commit()
	sp.Close()
	os.WriteFile(filepath.Join(s.tmp, "in-left-by-a-crash"), []byte("partial"), 0o600)
	if n, err := s.CleanTemp(-1); err != nil || n != 1 {
		t.Fatalf("CleanTemp = %d, %v", n, err)
	}
	var seen []Hash
	s.Walk(func(h Hash, size int64, _ time.Time) error {
		seen = append(seen, h)
		return nil
	})
	if len(seen) != 1 || seen[0] != sha256.Sum256([]byte("body")) {
		t.Fatalf("Walk saw %v", seen)
	}
}

// A crash during Commit can leave a partial file under the body's name (no
// reference to it was committed). The next Commit of those bytes replaces
// it; a leftover that happens to be whole is kept.
func TestCommitReplacesCrashLeftover(t *testing.T) {
	s, _ := Open(t.TempDir())
	content := bytes.Repeat([]byte("a whole body\r\n"), 400)
	h := sha256.Sum256(content)
	for _, c := range []struct {
		name     string
		leftover []byte
		created  bool
	}{
		{"empty", nil, true},
		{"truncated", content[:len(content)/2], true},
		{"same size, other bytes", bytes.Repeat([]byte("z"), len(content)), true},
		{"whole", content, false},
	} {
		if err := os.WriteFile(s.Path(h), c.leftover, 0o440); err != nil {
			t.Fatal(err)
		}
		sp, err := s.Spool(bytes.NewReader(content), 0)
		if err != nil {
			t.Fatal(err)
		}
		created, err := sp.Commit()
		sp.Close()
		if err != nil || created != c.created {
			t.Fatalf("%s: created=%v err=%v, want created=%v", c.name, created, err, c.created)
		}
		stored, err := os.ReadFile(s.Path(h))
		if err != nil || !bytes.Equal(stored, content) {
			t.Fatalf("%s: stored body differs (%d bytes, %v)", c.name, len(stored), err)
		}
		if n := tmpFiles(t, s); n != 0 {
			t.Fatalf("%s: %d temporary files left", c.name, n)
		}
		if err := os.Remove(s.Path(h)); err != nil {
			t.Fatal(err)
		}
	}
}

// A Commit that cannot write its file returns the error and leaves nothing
// under the body's name.
func TestCommitFailureLeavesNoFile(t *testing.T) {
	// RLIMIT_FSIZE makes the write fail with EFBIG, as a full disk
	// would with ENOSPC, whoever runs the test.
	s, _ := Open(t.TempDir())
	content := bytes.Repeat([]byte("x"), 64<<10)
	sp, err := s.Spool(bytes.NewReader(content), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	var old syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_FSIZE, &old); err != nil {
		t.Fatal(err)
	}
	signal.Ignore(syscall.SIGXFSZ)
	defer signal.Reset(syscall.SIGXFSZ)
	lim := old
	lim.Cur = 4096
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &lim); err != nil {
		t.Fatal(err)
	}
	created, err := sp.Commit()
	syscall.Setrlimit(syscall.RLIMIT_FSIZE, &old)
	if err == nil || created {
		t.Fatalf("commit over RLIMIT_FSIZE: created=%v err=%v, want an error", created, err)
	}
	if s.Exists(sp.Hash) {
		t.Fatal("a failed Commit left a file under the body's name")
	}
	// Once the limit is gone, the same body commits.
	if created, err := sp.Commit(); err != nil || !created {
		t.Fatalf("commit after the failure: created=%v err=%v", created, err)
	}
}

// Stage writes a body under its name like Commit (single instance
// included, spilled bodies committed whole), and Sync succeeds on the
// store's file system.
func TestStageThenSync(t *testing.T) {
	s, _ := Open(t.TempDir())
	for _, size := range []int{0, 5000, memLimit + 1} {
		content := bytes.Repeat([]byte("s"), size)
		for i, wantCreated := range []bool{true, false} {
			sp, err := s.Spool(bytes.NewReader(content), 0)
			if err != nil {
				t.Fatal(err)
			}
			created, err := sp.Stage()
			sp.Close()
			if err != nil || created != wantCreated {
				t.Fatalf("size %d, stage %d: created=%v err=%v", size, i, created, err)
			}
		}
		stored, err := os.ReadFile(s.Path(sha256.Sum256(content)))
		if err != nil || !bytes.Equal(stored, content) {
			t.Fatalf("size %d: staged body differs (%v)", size, err)
		}
	}
	y, err := s.OpenSyncer()
	if err != nil {
		t.Fatal(err)
	}
	defer y.Close()
	if err := y.Sync(); err != nil {
		t.Fatal(err)
	}
	if n := tmpFiles(t, s); n != 0 {
		t.Fatalf("%d temporary files left", n)
	}
}

// A Pin never waits for a Lock that is only waiting: a batch holds pins
// while it takes more, and with sync.RWMutex's writer preference a
// collector waiting on a stripe the batch held blocked the batch's next Pin
// there for good. The Lock goes through once the pins are released.
func TestPinDoesNotWaitForWaitingLock(t *testing.T) {
	s, _ := Open(t.TempDir())
	var h1, h2, h3 Hash
	h1[0], h2[0], h3[0] = 7, 7, 7
	h2[1], h3[1] = 1, 2
	unpin1 := s.Pin(h1)
	locked := make(chan func())
	go func() { locked <- s.Lock(h2) }()
	time.Sleep(50 * time.Millisecond) // the Lock is waiting for unpin1
	pinned := make(chan func())
	go func() { pinned <- s.Pin(h3) }()
	var unpin3 func()
	select {
	case unpin3 = <-pinned:
	case <-time.After(5 * time.Second):
		t.Fatal("a Pin waited for a Lock that was only waiting: deadlock")
	}
	select {
	case <-locked:
		t.Fatal("Lock taken while pins were held")
	case <-time.After(50 * time.Millisecond):
	}
	unpin1()
	unpin3()
	select {
	case unlock := <-locked:
		// While the Lock is held, a Pin waits.
		go func() { pinned <- s.Pin(h1) }()
		select {
		case <-pinned:
			t.Fatal("Pin taken while the Lock was held")
		case <-time.After(50 * time.Millisecond):
		}
		unlock()
		select {
		case unpin := <-pinned:
			unpin()
		case <-time.After(5 * time.Second):
			t.Fatal("Pin not taken after the Lock was released")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Lock not taken after every pin was released")
	}
}
