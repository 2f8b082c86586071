package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	var d []time.Duration
	for i := 1; i <= 100; i++ {
		d = append(d, time.Duration(i)*time.Millisecond)
	}
	for _, c := range []struct {
		p    float64
		want time.Duration
	}{{50, 50 * time.Millisecond}, {99, 99 * time.Millisecond}, {100, 100 * time.Millisecond}, {1, time.Millisecond}, {0, time.Millisecond}} {
		if got := percentile(d, c.p); got != c.want {
			t.Errorf("percentile(1..100ms, %v) = %v, want %v", c.p, got, c.want)
		}
	}
	if got := percentile(nil, 50); got != 0 {
		t.Errorf("percentile(nil) = %v", got)
	}
	three := []time.Duration{1, 2, 3}
	if got := percentile(three, 50); got != 2 {
		t.Errorf("p50 of 1,2,3 = %v", got)
	}
	if got := percentile(three, 99); got != 3 {
		t.Errorf("p99 of 1,2,3 = %v", got)
	}
}

func TestSpread(t *testing.T) {
	s := spreadOf([]float64{3, 1, 2})
	if s.med != 2 || s.min != 1 || s.max != 3 {
		t.Errorf("spreadOf(3,1,2) = %+v", s)
	}
	if s := spreadOf([]float64{4, 1, 2, 3}); s.med != 2.5 {
		t.Errorf("median of 4 values = %v", s.med)
	}
	if got := spreadOf([]float64{100, 200, 150}).format(fmtRate); got != "150 (100–200)" {
		t.Errorf("format = %q", got)
	}
}

func TestReplaceBlock(t *testing.T) {
	const b, e = lmtpBegin, lmtpEnd
	doc := "# Title\n\nintro\n\n" + b + "\nold\nlines\n" + e + "\n\n## After\n\ntext\n"
	got, err := replaceBlock(doc, b, e, "new table\n")
	if err != nil {
		t.Fatal(err)
	}
	want := "# Title\n\nintro\n\n" + b + "\nnew table\n" + e + "\n\n## After\n\ntext\n"
	if got != want {
		t.Errorf("replace:\n%q\nwant\n%q", got, want)
	}
	// Idempotent.
	if again, _ := replaceBlock(got, b, e, "new table\n"); again != got {
		t.Errorf("second replace changed the document")
	}
	// Missing markers: appended, rest untouched.
	got, err = replaceBlock("# Title\ntext", b, e, "x")
	if err != nil {
		t.Fatal(err)
	}
	if got != "# Title\ntext\n\n"+b+"\nx\n"+e+"\n" {
		t.Errorf("append: %q", got)
	}
	if got, _ := replaceBlock("", b, e, "x"); got != b+"\nx\n"+e+"\n" {
		t.Errorf("empty doc: %q", got)
	}
	// Lone or misordered markers are refused.
	for _, bad := range []string{"a\n" + b + "\nno end\n", "a\n" + e + "\n", e + "\n" + b + "\n", b + e + b + e} {
		if _, err := replaceBlock(bad, b, e, "x"); err == nil {
			t.Errorf("replaceBlock(%q) accepted a malformed document", bad)
		}
	}
}

func TestWriteBlockKeepsRest(t *testing.T) {
	p := filepath.Join(t.TempDir(), "docs", "benchmarks.md")
	if err := writeBlock(p, "first"); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(p)
	doc := string(b) + "\n## Other section\n\nkeep me\n"
	if err := os.WriteFile(p, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := writeBlock(p, "second"); err != nil {
		t.Fatal(err)
	}
	b, _ = os.ReadFile(p)
	s := string(b)
	if !strings.Contains(s, "second") || strings.Contains(s, "first") || !strings.HasSuffix(s, "## Other section\n\nkeep me\n") {
		t.Errorf("unexpected document:\n%s", s)
	}
}

func TestDiskUsageCountsHardLinksOnce(t *testing.T) {
	dir := t.TempDir()
	a := filepath.Join(dir, "a")
	if err := os.WriteFile(a, bytes.Repeat([]byte("x"), 64*1024), 0o644); err != nil {
		t.Fatal(err)
	}
	one, err := diskUsage(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Link(a, filepath.Join(dir, "b")); err != nil {
		t.Fatal("hard link:", err)
	}
	two, err := diskUsage(dir)
	if err != nil {
		t.Fatal(err)
	}
	if one != two || one < 64*1024 {
		t.Errorf("du before link %d, after %d", one, two)
	}
}

func TestParseFlagsSmoke(t *testing.T) {
	o, err := parseFlags([]string{"--smoke"})
	if err != nil {
		t.Fatal(err)
	}
	if o.messages != 30 || o.users != 5 || o.runs != 1 || o.warmup != 5 || len(o.rcpts) != 2 || len(o.targets) != 5 {
		t.Errorf("smoke defaults: %+v", o)
	}
	if _, err := parseFlags([]string{"--smoke", "--write", "x.md"}); err == nil {
		t.Error("--smoke --write accepted")
	}
	if _, err := parseFlags([]string{"--rcpts", "5", "--users", "3"}); err == nil {
		t.Error("more recipients than users accepted")
	}
	if _, err := parseFlags([]string{"--targets", "petrel,exchange"}); err == nil {
		t.Error("unknown target accepted")
	}
	// An explicit flag wins over the smoke default.
	o, err = parseFlags([]string{"--smoke", "--imap-messages", "500", "--lag-rate", "50"})
	if err != nil || o.imapMessages != 500 || o.lagRate != 50 || o.appendMessages != 50 {
		t.Errorf("smoke with overrides: %+v, %v", o, err)
	}
}

func TestLMTPMessagesPerWorkload(t *testing.T) {
	o, err := parseFlags(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := o.wholeCorpus(120); err == nil {
		t.Error("a corpus barely larger than the warm-up accepted")
	}
	if err := o.wholeCorpus(6046); err != nil {
		t.Fatal(err)
	}
	if o.lmtpMessages(1) != 5946 || o.lmtpMessages(5) != 1189 {
		t.Errorf("full: %d and %d timed messages, want the corpus less the warm-up", o.lmtpMessages(1), o.lmtpMessages(5))
	}
	o, _ = parseFlags([]string{"--smoke"})
	if o.lmtpMessages(1) != 30 || o.lmtpMessages(5) != 30 {
		t.Errorf("smoke: %d and %d timed messages", o.lmtpMessages(1), o.lmtpMessages(5))
	}
	o, _ = parseFlags([]string{"--messages", "120"})
	if o.lmtpMessages(5) != 50 {
		t.Errorf("at least 50 per run: %d", o.lmtpMessages(5))
	}
}
