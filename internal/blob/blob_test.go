package blob

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
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
