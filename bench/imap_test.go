package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestLiteralSize(t *testing.T) {
	for _, c := range []struct {
		line string
		n    int64
		ok   bool
	}{
		{"* 1 FETCH (BODY[] {5234}\r\n", 5234, true},
		{"A1 APPEND INBOX {12+}\r\n", 12, true},
		{"* 1 FETCH (BINARY[] ~{0}\r\n", 0, true},
		{"* 1 FETCH (FLAGS ())\r\n", 0, false},
		{"* OK {abc}\r\n", 0, false},
		{"* OK {}\r\n", 0, false},
		{"}\r\n", 0, false},
		{"* 1 FETCH (X {99999999999999}\r\n", 0, false},
		{"{7}", 7, true},
	} {
		n, ok := literalSize([]byte(c.line))
		if n != c.n || ok != c.ok {
			t.Errorf("literalSize(%q) = %d, %v; want %d, %v", c.line, n, ok, c.n, c.ok)
		}
	}
}

func TestReadResponse(t *testing.T) {
	in := "* 1 FETCH (UID 5 ENVELOPE (\"d\" {3}\r\nabc \"x\") BODY[] {5}\r\nhello)\r\n" +
		"* 2 EXISTS\r\n" +
		"* 3 FETCH (X \"" + strings.Repeat("y", 100) + "\")\r\n" +
		"A1 OK done\r\n"
	// A small buffer: lines longer than it must still be read whole.
	r := bufio.NewReaderSize(strings.NewReader(in), 16)
	text, lb, lits, err := readResponse(r, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := "* 1 FETCH (UID 5 ENVELOPE (\"d\" {3}\r\n \"x\") BODY[] {5}\r\n)\r\n"; string(text) != want {
		t.Errorf("text = %q, want %q", text, want)
	}
	if lb != 8 || lits != 2 {
		t.Errorf("literals: %d bytes in %d, want 8 in 2", lb, lits)
	}
	text, _, _, err = readResponse(r, text[:0], nil)
	if err != nil || string(text) != "* 2 EXISTS\r\n" {
		t.Errorf("second response %q, %v", text, err)
	}
	text, _, _, err = readResponse(r, nil, nil)
	if err != nil || len(text) != len("* 3 FETCH (X \"\")\r\n")+100 {
		t.Errorf("long response %q, %v", text, err)
	}
	text, _, _, err = readResponse(r, nil, nil)
	if err != nil || string(text) != "A1 OK done\r\n" {
		t.Errorf("tagged %q, %v", text, err)
	}
	if _, _, _, err = readResponse(r, nil, nil); err == nil {
		t.Error("no error at EOF")
	}
	// A literal cut short is an error.
	r = bufio.NewReader(strings.NewReader("* 1 FETCH (BODY[] {50}\r\nshort"))
	if _, _, _, err := readResponse(r, nil, nil); err == nil {
		t.Error("truncated literal accepted")
	}
}

func TestUntaggedNumber(t *testing.T) {
	for _, c := range []struct {
		text, kw string
		n        int
		ok       bool
	}{
		{"* 12000 EXISTS\r\n", "EXISTS", 12000, true},
		{"* 7 FETCH (UID 7)\r\n", "FETCH", 7, true},
		{"* 7 fetch (UID 7)\r\n", "FETCH", 7, true},
		{"* 7 FETCHX (UID 7)\r\n", "FETCH", 0, false},
		{"* OK [UIDVALIDITY 1]\r\n", "EXISTS", 0, false},
		{"A1 7 EXISTS\r\n", "EXISTS", 0, false},
		{"* 0 RECENT\r\n", "EXISTS", 0, false},
	} {
		n, ok := untaggedNumber([]byte(c.text), c.kw)
		if n != c.n || ok != c.ok {
			t.Errorf("untaggedNumber(%q, %s) = %d, %v", c.text, c.kw, n, ok)
		}
	}
}

func TestFetchItemNumber(t *testing.T) {
	for _, c := range []struct {
		text string
		n    int64
		ok   bool
	}{
		{`* 1 FETCH (UID 1 RFC822.SIZE 5234 FLAGS ())`, 5234, true},
		{`* 1 FETCH (RFC822.SIZE 10)`, 10, true},
		{`* 1 FETCH (ENVELOPE ("d" "about RFC822.SIZE 99") RFC822.SIZE 42)`, 42, true},
		{`* 1 FETCH (ENVELOPE ("d" "a \" RFC822.SIZE 99") RFC822.SIZE 42)`, 42, true},
		{`* 1 FETCH (UID 1)`, 0, false},
		{`* 1 FETCH (XRFC822.SIZE 5)`, 0, false},
	} {
		n, ok := fetchItemNumber([]byte(c.text), "RFC822.SIZE")
		if n != c.n || ok != c.ok {
			t.Errorf("fetchItemNumber(%q) = %d, %v; want %d, %v", c.text, n, ok, c.n, c.ok)
		}
	}
}

func TestWithMessageID(t *testing.T) {
	in := "Received: x\r\nMessage-Id: <a@b>\r\n\tfolded\r\nSubject: s\r\n\r\nbody\r\nMessage-ID: <not a header>\r\n"
	got := string(withMessageID([]byte(in), "<new@x>"))
	want := "Message-ID: <new@x>\r\nReceived: x\r\nX-Original-Message-Id: <a@b>\r\n\tfolded\r\nSubject: s\r\n\r\nbody\r\nMessage-ID: <not a header>\r\n"
	if got != want {
		t.Errorf("withMessageID:\n%q\nwant\n%q", got, want)
	}
	// Without a header/body separator or a Message-ID.
	if got := string(withMessageID([]byte("Subject: s\r\n"), "<n>")); got != "Message-ID: <n>\r\nSubject: s\r\n" {
		t.Errorf("header only: %q", got)
	}
}

func TestIMAPMessages(t *testing.T) {
	corpus := []message{
		{name: "a", data: []byte("Message-ID: <1@x>\r\nSubject: a\r\n\r\nA\r\n")},
		{name: "b", data: []byte("Subject: b\r\n\r\nB\r\n")},
	}
	msgs, fixed := imapMessages(corpus, 5)
	if len(msgs) != 5 || fixed != 0 {
		t.Fatalf("%d messages, %d fixed", len(msgs), fixed)
	}
	if !bytes.Equal(msgs[0], corpus[0].data) || !bytes.Equal(msgs[1], corpus[1].data) {
		t.Error("the first pass must be the corpus unchanged")
	}
	seen := map[string]bool{}
	for i, m := range msgs {
		if seen[string(m)] {
			t.Errorf("message %d repeats an earlier one", i)
		}
		seen[string(m)] = true
		if i >= 2 && !bytes.HasPrefix(m, []byte(fmt.Sprintf("Message-ID: <petrel-bench.copy%d.%d@", i/2, i%2))) {
			t.Errorf("message %d: %q", i, m)
		}
	}
}

func TestStripBareCR(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"a\r\nb\r\n", "a\r\nb\r\n"},
		{"a\r\r\nb\rc\r\n\r", "a\r\nbc\r\n"},
		{"", ""},
	} {
		if got := string(stripBareCR([]byte(c.in))); got != c.want {
			t.Errorf("stripBareCR(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	corpus := []message{{data: []byte("S: a\r\n\r\nx\ry\r\n")}, {data: []byte("S: b\r\n\r\nok\r\n")}}
	msgs, fixed := imapMessages(corpus, 4)
	if fixed != 1 || string(msgs[0]) != "S: a\r\n\r\nxy\r\n" || !bytes.HasSuffix(msgs[2], []byte("\r\nS: a\r\n\r\nxy\r\n")) {
		t.Errorf("fixed %d, msgs %q", fixed, msgs)
	}
}

func TestParseProcFiles(t *testing.T) {
	rollup := "55d0c0a1e000-7ffd0c5f0000 ---p 00000000 00:00 0                          [rollup]\n" +
		"Rss:               40448 kB\nPss:               39296 kB\nPss_Dirty:         30000 kB\nShared_Clean:       1200 kB\n"
	pss, rss := parseSmapsRollup([]byte(rollup))
	if pss != 39296*1024 || rss != 40448*1024 {
		t.Errorf("parseSmapsRollup = %d, %d", pss, rss)
	}
	if n := parseSchedstat([]byte("123456789 2000 31\n")); n != 123456789 {
		t.Errorf("parseSchedstat = %d", n)
	}
	for _, c := range []struct {
		line string
		name string
		v    float64
		ok   bool
	}{
		{"go_goroutines 41", "go_goroutines", 41, true},
		{"go_memstats_heap_inuse_bytes 2.2e+07", "go_memstats_heap_inuse_bytes", 2.2e7, true},
		{"# HELP go_goroutines Number", "", 0, false},
		{`go_gc_duration_seconds{quantile="0"} 1e-05`, "", 0, false},
	} {
		name, v, ok := parseMetricLine(c.line)
		if name != c.name || v != c.v || ok != c.ok {
			t.Errorf("parseMetricLine(%q) = %q, %v, %v", c.line, name, v, ok)
		}
	}
}

func TestServerMemorySelf(t *testing.T) {
	// The test process is a process group leader only sometimes; use the
	// descendants rule from our own pid instead.
	pid := os.Getpid()
	s, err := serverMemory(pid)
	if err != nil {
		// The memory measurement needs Linux's smaps_rollup (4.14+):
		// without it the benchmark cannot run, so the test fails.
		t.Fatal("no /proc/PID/smaps_rollup:", err)
	}
	if s.pss <= 0 || s.rss < s.pss/2 || s.procs < 1 {
		t.Errorf("serverMemory(self) = %+v", s)
	}
	if serverTaskCPU(pid) <= 0 {
		t.Error("serverTaskCPU(self) = 0")
	}
}

func TestReplaceBlockAfter(t *testing.T) {
	doc := "# B\n\n" + lmtpBegin + "\nlmtp\n" + lmtpEnd + "\n\n## Hand-written\n\ntext\n"
	got, err := replaceBlockAfter(doc, imapBegin, imapEnd, lmtpEnd, "imap v1")
	if err != nil {
		t.Fatal(err)
	}
	want := "# B\n\n" + lmtpBegin + "\nlmtp\n" + lmtpEnd + "\n\n" + imapBegin + "\nimap v1\n" + imapEnd + "\n\n## Hand-written\n\ntext\n"
	if got != want {
		t.Errorf("insert after the LMTP block:\n%q\nwant\n%q", got, want)
	}
	again, err := replaceBlockAfter(got, imapBegin, imapEnd, lmtpEnd, "imap v2")
	if err != nil || again != strings.Replace(want, "imap v1", "imap v2", 1) {
		t.Errorf("replace: %q, %v", again, err)
	}
	// No anchor: appended.
	got, _ = replaceBlockAfter("# B\n", imapBegin, imapEnd, lmtpEnd, "x")
	if got != "# B\n\n"+imapBegin+"\nx\n"+imapEnd+"\n" {
		t.Errorf("append: %q", got)
	}
}

func TestWriteBlocksIMAPOnlyKeepsLMTP(t *testing.T) {
	p := filepath.Join(t.TempDir(), "benchmarks.md")
	doc := "# B\n\nintro\n\n" + lmtpBegin + "\nLMTP FIGURES\n" + lmtpEnd + "\n\n## Other\n\nkeep\n"
	if err := os.WriteFile(p, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := writeBlocks(p, []docBlock{{begin: imapBegin, end: imapEnd, after: lmtpEnd, content: "IMAP 1"}}); err != nil {
		t.Fatal(err)
	}
	if err := writeBlocks(p, []docBlock{{begin: imapBegin, end: imapEnd, after: lmtpEnd, content: "IMAP 2"}}); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(p)
	s := string(b)
	if !strings.Contains(s, lmtpBegin+"\nLMTP FIGURES\n"+lmtpEnd) || strings.Contains(s, "IMAP 1") ||
		strings.Count(s, imapBegin) != 1 || !strings.HasSuffix(s, "## Other\n\nkeep\n") ||
		strings.Index(s, lmtpEnd) > strings.Index(s, imapBegin) {
		t.Errorf("unexpected document:\n%s", s)
	}
	// Both blocks at once.
	if err := writeBlocks(p, []docBlock{{begin: lmtpBegin, end: lmtpEnd, content: "L3"}, {begin: imapBegin, end: imapEnd, after: lmtpEnd, content: "I3"}}); err != nil {
		t.Fatal(err)
	}
	b, _ = os.ReadFile(p)
	if s := string(b); !strings.Contains(s, "\nL3\n") || !strings.Contains(s, "\nI3\n") || strings.Contains(s, "LMTP FIGURES") {
		t.Errorf("both blocks:\n%s", s)
	}
}

func TestParseFlagsWorkloads(t *testing.T) {
	o, err := parseFlags([]string{"--smoke"})
	if err != nil {
		t.Fatal(err)
	}
	if !o.lmtp || !o.imap || !o.search || !o.lag || o.imapMessages != 200 || o.idleConns != 10 || o.imapRuns != 1 ||
		o.searchTerms != 24 || o.lagDuration != time.Second {
		t.Errorf("smoke defaults: %+v", o)
	}
	o, err = parseFlags([]string{"--workload", "imap"})
	if err != nil {
		t.Fatal(err)
	}
	if o.lmtp || !o.imap || o.search || o.lag || o.imapMessages != 12000 || o.appendMessages != 1000 || o.idleConns != 1000 || o.idleSettle != 0 || o.imapRuns != 3 {
		t.Errorf("full imap defaults: %+v", o)
	}
	o, err = parseFlags([]string{"--workload", "search,lag"})
	if err != nil || o.imap || !o.search || !o.lag || o.searchTerms != 240 || o.lagRate != 500 || o.xapianMessages != 1000 {
		t.Errorf("search,lag: %+v, %v", o, err)
	}
	if _, err := parseFlags([]string{"--workload", "pop3"}); err == nil {
		t.Error("unknown workload accepted")
	}
}

// fakeIMAP is a scripted server on one end of a net.Pipe.
type fakeTarget struct{ target }

func (fakeTarget) Name() string                  { return "Fake" }
func (fakeTarget) IMAPAddr() string              { return "" }
func (fakeTarget) Restart(context.Context) error { return nil }
func (fakeTarget) Pgid() int                     { return 0 }

func TestClientAgainstScriptedServer(t *testing.T) {
	cli, srv := net.Pipe()
	defer cli.Close()
	go func() {
		defer srv.Close()
		r := bufio.NewReader(srv)
		w := func(s string) { srv.Write([]byte(s)) }
		w("* OK [CAPABILITY IMAP4rev1 LITERAL+ AUTH=PLAIN] ready\r\n")
		line, _ := r.ReadString('\n') // LOGIN
		w(strings.Fields(line)[0] + " OK [CAPABILITY IMAP4rev1 LITERAL+ IDLE] Logged in\r\n")
		line, _ = r.ReadString('\n') // APPEND with {N+}
		n, _ := literalSize([]byte(line))
		buf := make([]byte, n+2)
		if _, err := ioReadFull(r, buf); err != nil || !bytes.HasSuffix(buf, []byte("\r\n")) {
			w("* BAD literal\r\n")
			return
		}
		w(strings.Fields(line)[0] + " OK [APPENDUID 1 1] done\r\n")
		line, _ = r.ReadString('\n') // SELECT
		w("* 2 EXISTS\r\n* OK [UIDVALIDITY 1] x\r\n" + strings.Fields(line)[0] + " OK [READ-WRITE] done\r\n")
		line, _ = r.ReadString('\n') // FETCH bodies
		w("* 1 FETCH (BODY[] {3}\r\nabc)\r\n* 2 FETCH (BODY[] {4}\r\nabcd)\r\n" + strings.Fields(line)[0] + " OK done\r\n")
		line, _ = r.ReadString('\n') // FETCH bodies again: one missing
		w("* 1 FETCH (BODY[] {3}\r\nabc)\r\n" + strings.Fields(line)[0] + " OK done\r\n")
		line, _ = r.ReadString('\n') // NOOP
		w(strings.Fields(line)[0] + " NO [UNAVAILABLE] nope\r\n")
	}()
	ic := &imapConn{conn: cli, r: bufio.NewReader(cli), w: bufio.NewWriter(cli)}
	text, _, _, err := readResponse(ic.r, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ic.caps = string(text)
	if err := ic.login("u", `p"w`); err != nil {
		t.Fatal(err)
	}
	if !ic.hasCap("LITERAL+") || !ic.hasCap("IDLE") {
		t.Errorf("caps %q", ic.caps)
	}
	if err := ic.appendMessage("INBOX", []byte("Subject: x\r\n\r\nbody\r\n"), true); err != nil {
		t.Fatal(err)
	}
	if n, err := ic.selectMailbox("INBOX"); err != nil || n != 2 {
		t.Fatalf("select: %d, %v", n, err)
	}
	r, err := timedFetch(context.Background(), ic, fakeTarget{}, bodyFetch, 2, true)
	if err != nil || r.responses != 2 || r.bytes != 7 {
		t.Errorf("fetch: %+v, %v", r, err)
	}
	if _, err := timedFetch(context.Background(), ic, fakeTarget{}, bodyFetch, 2, true); err == nil {
		t.Error("a missing FETCH response was not noticed")
	}
	_, err = ic.command("NOOP", nil)
	var se *statusError
	if !errors.As(err, &se) || !strings.Contains(se.line, "NO [UNAVAILABLE]") {
		t.Errorf("NO: %v", err)
	}
}

func ioReadFull(r *bufio.Reader, b []byte) (int, error) {
	n := 0
	for n < len(b) {
		m, err := r.Read(b[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

func TestIMAPReportMarkdown(t *testing.T) {
	now := time.Now()
	mk := func(name string, fetchMs, bodyMs float64, before, after int64, procs int) imapRecord {
		rec := imapRecord{target: name, literalPlus: true, expected: 64e6, messages: 12000,
			fill:         &fillResult{messages: 2000, bytes: 10e6, elapsed: 5 * time.Second, serverCPU: 4, foreign: 0.02},
			bulk:         &fillResult{messages: 10000, commands: 40, bytes: 54e6, elapsed: 10 * time.Second, serverCPU: 5, foreign: 0.03},
			fetchForeign: 0.01}
		// Five rounds of 400 messages: 1.0 s each but the last two
		// (0.8 and 1.25 s), so the median rate is 400 (320–500).
		for _, sec := range []float64{1, 0.8, 1, 1.25, 1} {
			rec.fillRounds = append(rec.fillRounds, &fillResult{messages: 400, bytes: 2e6, elapsed: time.Duration(sec * float64(time.Second))})
		}
		for i := range 6 {
			d := time.Duration(fetchMs*float64(time.Millisecond)) * time.Duration(1+boolInt(i == 0))
			rec.summary = append(rec.summary, fetchRun{elapsed: d, responses: 12000, bytes: 64e6, serverCPU: 0.1})
			rec.bodies = append(rec.bodies, fetchRun{elapsed: time.Duration(bodyMs * float64(time.Millisecond)), responses: 12000, bytes: 64e6, serverCPU: 0.2})
		}
		rec.idle = &idleResult{conns: 1000, open: 40 * time.Second,
			before:  memSample{at: now, pss: before, rss: before, procs: 7},
			after:   memSample{at: now.Add(2 * time.Second), pss: after * 2, rss: after * 3, procs: procs, imapProcs: procs - 7},
			settled: memSample{at: now.Add(150 * time.Second), pss: after, rss: after * 3, procs: procs, imapProcs: procs - 7}}
		rec.idle.timeline = []memSample{rec.idle.after, rec.idle.settled}
		return rec
	}
	r := &imapReport{date: now, duration: 5 * time.Minute, total: 5 * time.Minute, command: "go run ./bench --workload imap",
		corpus: corpusInfo{Source: "npm x", Messages: 6046}, cfg: imapConfig{messages: 12000, appendN: 2000, batch: 250, conns: 4, runs: 5, idle: 1000, parallel: 8,
			settle: 150 * time.Second, startWait: 3 * time.Second, afterWait: 2 * time.Second},
		targets: []targetStatus{{name: "Petrel", version: "git x"}, {name: "Dovecot", version: "2.3"}, {name: "Dovecot fsync=always", version: "2.3"}, {name: "Other", skipped: "not installed"}},
		records: []imapRecord{mk("Petrel", 100, 400, 40<<20, 90<<20, 1), mk("Dovecot", 300, 500, 12<<20, 600<<20, 1007)},
	}
	fs := mk("Dovecot fsync=always", 300, 500, 0, 0, 0)
	fs.idle = nil
	fs.skip("idle", "same as Dovecot")
	r.records = append(r.records, fs)
	md := r.markdown()
	for _, want := range []string{
		"### APPEND rate (the first 2000 messages, one per APPEND, in 5 rounds)",
		"msg/s (median of the rounds, min–max)",
		"### MULTIAPPEND (the other messages, 250 per APPEND command)",
		"| Petrel | 2000 | 5.0 s | 400 (320–500) | 2.00 | 2.00 ms | 2% | — |",
		"| Dovecot | 2000 | 5.0 s | 400 (320–500) | 2.00 | 2.00 ms | 2% | 1.00× |",
		"| Dovecot | 10000 | 10.0 s | 1000 | 5.40 | 0.50 ms | 3% | 1.00× |",
		"| Dovecot fsync=always | MULTIAPPEND × 10000 (40 commands) | 1 | 10.00 s | 5.40 | 5.0 s | 3% |",
		"| Petrel | 200 ms | 100 ms |",
		"| 0.0 MB | 3.00× | 3.00× |",
		"**51.2 KiB**",
		"not measured: same as Dovecot",
		"| Other | skipped |",
		"Summary FETCH at least 2× as fast as Dovecot: met",
		"At most 64 KiB per idle connection: met (51.2 KiB per connection, Pss settled",
		"Petrel (before: 40.0): +2 s: 180.0, +150 s: 90.0",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q:\n%s", want, md)
		}
	}
	if r.failed() {
		t.Error("failed() with no error")
	}
	r.records[1].err = errors.New("APPEND: boom")
	r.records[1].logTail = "\n  | line one\n  | line two"
	md = r.markdown()
	if !r.failed() || !strings.Contains(md, "**Dovecot:** APPEND: boom") || !strings.Contains(md, "line two") {
		t.Errorf("failure not reported:\n%s", md)
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
