package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestPromSum(t *testing.T) {
	page := `# HELP petrel_replication_backlog Changes not yet applied.
# TYPE petrel_replication_backlog gauge
petrel_replication_backlog{shard="0"} 12
petrel_replication_backlog{shard="1",note="a}b"} 3 1700000000000
petrel_replication_backlog_seconds{shard="0"} 99
petrel_replication_backlogs 7
go_goroutines 41
`
	sum, found := promSum(strings.NewReader(page), "petrel_replication_backlog")
	if !found || sum != 15 {
		t.Errorf("backlog: %v, %v; want 15, true", sum, found)
	}
	if sum, found := promSum(strings.NewReader(page), "go_goroutines"); !found || sum != 41 {
		t.Errorf("unlabelled: %v, %v", sum, found)
	}
	if _, found := promSum(strings.NewReader(page), "petrel_replication_active"); found {
		t.Error("missing metric found")
	}
	if sum, found := promSum(strings.NewReader("petrel_replication_backlog{shard=\"0\"} 0\n"), "petrel_replication_backlog"); !found || sum != 0 {
		t.Errorf("zero: %v, %v", sum, found)
	}
}

func TestSearchCount(t *testing.T) {
	for _, c := range []struct {
		in string
		n  int
		ok bool
	}{
		{"* SEARCH 1 2 3\r\n", 3, true},
		{"* SEARCH\r\n", 0, true},
		{"* search 7\r\n", 1, true},
		{"* SEARCH 4 9 (MODSEQ 12)\r\n", 2, true},
		{"* ESEARCH (TAG \"A1\") UID ALL 1:3\r\n", 0, false},
		{"* 3 EXISTS\r\n", 0, false},
		{"A1 OK SEARCH done\r\n", 0, false},
	} {
		n, ok := searchCount([]byte(c.in))
		if n != c.n || ok != c.ok {
			t.Errorf("searchCount(%q) = %d, %v; want %d, %v", c.in, n, ok, c.n, c.ok)
		}
	}
}

func TestAddWords(t *testing.T) {
	ascii, non := map[string]int{}, map[string]int{}
	addWords("The café in Zürich, the CAFÉ; ab x2y Москва naïve supercalifragilisticexpialidocious don't", ascii, non)
	for _, w := range []string{"the", "don"} {
		if ascii[w] == 0 {
			t.Errorf("ASCII word %q missing: %v", w, ascii)
		}
	}
	if ascii["the"] != 2 || non["café"] != 2 || non["zürich"] != 1 || non["naïve"] != 1 {
		t.Errorf("counts: ascii %v, non-ASCII %v", ascii, non)
	}
	for _, w := range []string{"ab", "x", "y", "москва", "supercalifragilisticexpialidocious", "t"} {
		if ascii[w] != 0 || non[w] != 0 {
			t.Errorf("%q should be left out", w)
		}
	}
}

// termCorpus is a few messages with the encodings the term sampler decodes.
func termCorpus() [][]byte {
	msgs := []string{
		"From: =?ISO-8859-1?Q?Ren=E9_Lef=E8vre?= <rene@example.org>\r\nSubject: =?UTF-8?B?R3LDvMOfZSBhdXMgTcO8bmNoZW4=?=\r\n" +
			"Content-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n" +
			"Le caf=E9 est tr=E8s bon, alpacas everywhere.\r\n",
		"From: Plain Sender <plain@example.com>\r\nSubject: Weekly newsletter\r\nMIME-Version: 1.0\r\n" +
			"Content-Type: multipart/alternative; boundary=\"BB\"\r\n\r\npreamble words\r\n--BB\r\n" +
			"Content-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
			"YmFzZTY0IGRlY29kZWQgemVwaHlyCg==\r\n--BB\r\nContent-Type: text/html\r\n\r\n<p class=\"hidden\">hypertext <b>marmalade</b></p>\r\n" +
			"--BB\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\nQUJDREVGR0hJSktMTU5PUA==\r\n--BB--\r\n",
		"not a message at all",
	}
	out := make([][]byte, len(msgs))
	for i, m := range msgs {
		out[i] = []byte(m)
	}
	return out
}

func TestCollectTerms(t *testing.T) {
	p := collectTerms(termCorpus())
	for _, w := range []string{"alpacas", "est", "decoded", "zephyr", "hypertext", "marmalade"} {
		if p.body[w] == 0 {
			t.Errorf("body word %q missing", w)
		}
	}
	for _, w := range []string{"class", "hidden", "abcdefghijklmnop", "preamble"} {
		if p.body[w] != 0 {
			t.Errorf("%q is not body text", w)
		}
	}
	if p.bodyNonASCII["café"] == 0 || p.bodyNonASCII["très"] == 0 {
		t.Errorf("non-ASCII body words: %v", p.bodyNonASCII)
	}
	if p.subjectNonASCII["grüße"] == 0 || p.subjectNonASCII["münchen"] == 0 || p.subject["aus"] == 0 || p.subject["weekly"] == 0 {
		t.Errorf("subject words: %v / %v", p.subject, p.subjectNonASCII)
	}
	if p.sender["plain"] == 0 || p.sender["sender"] == 0 || p.sender["rene"] == 0 || p.sender["example"] == 0 {
		t.Errorf("sender words: %v", p.sender)
	}
	if p.messages != 3 {
		t.Errorf("messages %d", p.messages)
	}
}

func bigPools() *termPools {
	p := newTermPools()
	for i := range 500 {
		w := fmt.Sprintf("w%c%c%c", 'a'+i%26, 'a'+(i/26)%26, 'a'+(i/676)%26)
		p.body[w[1:]] = 1 + i%7
		p.sender["s"+w[1:]] = 1
		p.subject["t"+w[1:]] = 2
	}
	for _, w := range []string{"café", "naïve", "über", "señor", "façade", "déjà", "rôle", "fiancée", "crème", "brûlée", "mañana", "smörgåsbord"} {
		p.bodyNonASCII[w] = 3
	}
	p.subjectNonASCII["grüße"] = 1
	return p
}

func TestSampleSearchQueries(t *testing.T) {
	p := bigPools()
	qs := sampleSearchQueries(p, 60, searchSeed)
	again := sampleSearchQueries(bigPools(), 60, searchSeed)
	if len(qs) != 240 {
		t.Fatalf("%d queries, want 240", len(qs))
	}
	perKey := map[string]int{}
	nonASCII := map[string]int{}
	seen := map[string]bool{}
	for i, q := range qs {
		perKey[q.key]++
		if q.nonASCII {
			nonASCII[q.key]++
		}
		if seen[q.term] {
			t.Errorf("term %q drawn twice", q.term)
		}
		seen[q.term] = true
		if q != again[i] {
			t.Fatalf("not deterministic: %v then %v", q, again[i])
		}
		if len([]rune(q.term)) < minTermLen {
			t.Errorf("short term %q", q.term)
		}
	}
	for _, k := range searchKeys {
		if perKey[k] != 60 {
			t.Errorf("%s: %d queries", k, perKey[k])
		}
	}
	if nonASCII["TEXT"] != 4 || nonASCII["BODY"] != 4 || nonASCII["SUBJECT"] != 4 || nonASCII["FROM"] != 0 {
		t.Errorf("non-ASCII per key: %v", nonASCII)
	}
	if other := sampleSearchQueries(bigPools(), 60, searchSeed+1); other[0] == qs[0] && other[1] == qs[1] && other[2] == qs[2] {
		t.Error("another seed draws the same sample")
	}
}

func TestSearchCommand(t *testing.T) {
	render := func(parts []cmdPart) string {
		var b strings.Builder
		for _, p := range parts {
			if p.literal {
				fmt.Fprintf(&b, "{%d}%s", len(p.text), p.text)
			} else {
				b.WriteString(p.text)
			}
		}
		return b.String()
	}
	if got := render(searchCommand(searchQuery{key: "BODY", term: `say "hi"`})); got != `UID SEARCH BODY "say \"hi\""` {
		t.Errorf("ASCII: %s", got)
	}
	if got := render(searchCommand(searchQuery{key: "SUBJECT", term: "café"})); got != "UID SEARCH CHARSET UTF-8 SUBJECT {5}café" {
		t.Errorf("non-ASCII: %s", got)
	}
}

func TestLagToken(t *testing.T) {
	seen := map[string]bool{}
	letters := regexp.MustCompile(`^[a-z]+$`)
	for i := range 5000 {
		tok := lagToken("abcd", i)
		if !letters.MatchString(tok) || seen[tok] || len(tok) != 12 {
			t.Fatalf("token %d: %q", i, tok)
		}
		seen[tok] = true
	}
	m := string(lagMessage("user1@bench.test", "abcd", 42))
	tok := lagToken("abcd", 42)
	if strings.Count(m, tok) != 2 || !strings.Contains(m, "\r\n\r\n") || strings.Contains(strings.ReplaceAll(m, "\r\n", ""), "\n") {
		t.Errorf("message: %q", m)
	}
}

// fakeIMAPServer is a loopback IMAP server for the SEARCH and lag steps:
// LOGIN, SELECT, NOOP, UID SEARCH [CHARSET x] KEY term (literals
// accepted), LOGOUT. A term is found (one UID) when found(term) says so;
// a term "fail" gets a NO. With reverse, a NOOP pipelined before a
// SEARCH is completed after it (as Dovecot does).
type fakeIMAPServer struct {
	found   func(term string) bool
	reverse bool
	mu      sync.Mutex
	queries []string
}

func (f *fakeIMAPServer) start(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal("loopback listener:", err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go f.serve(c)
		}
	}()
	return l.Addr().String()
}

var literalRE = regexp.MustCompile(`\{(\d+)\+?\}\r\n$`)

func (f *fakeIMAPServer) serve(c net.Conn) {
	defer c.Close()
	r := bufio.NewReader(c)
	w := bufio.NewWriter(c)
	w.WriteString("* OK [CAPABILITY IMAP4rev1 LITERAL+] fake\r\n")
	w.Flush()
	var pendingNoop string
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		// Literals: read their bytes into the line.
		for {
			m := literalRE.FindStringSubmatch(line)
			if m == nil {
				break
			}
			var n int
			fmt.Sscan(m[1], &n)
			if !strings.Contains(m[0], "+") {
				w.WriteString("+ go on\r\n")
				w.Flush()
			}
			buf := make([]byte, n)
			if _, err := ioReadFull(r, buf); err != nil {
				return
			}
			rest, err := r.ReadString('\n')
			if err != nil {
				return
			}
			line = line[:len(line)-len(m[0])] + string(buf) + rest
		}
		tag, cmd, _ := strings.Cut(strings.TrimRight(line, "\r\n"), " ")
		up := strings.ToUpper(cmd)
		switch {
		case strings.HasPrefix(up, "LOGIN"):
			w.WriteString(tag + " OK logged in\r\n")
		case strings.HasPrefix(up, "SELECT"):
			w.WriteString("* 3 EXISTS\r\n" + tag + " OK [READ-WRITE] selected\r\n")
		case up == "NOOP":
			if f.reverse {
				pendingNoop = tag
				continue
			}
			w.WriteString(tag + " OK noop\r\n")
		case strings.HasPrefix(up, "UID SEARCH"):
			f2 := strings.Fields(cmd)
			term := strings.Trim(f2[len(f2)-1], `"`)
			f.mu.Lock()
			f.queries = append(f.queries, cmd)
			f.mu.Unlock()
			switch {
			case term == "fail":
				w.WriteString(tag + " NO [SERVERBUG] search failed\r\n")
			case f.found(term):
				w.WriteString("* SEARCH 7\r\n" + tag + " OK done\r\n")
			default:
				w.WriteString("* SEARCH\r\n" + tag + " OK done\r\n")
			}
			if pendingNoop != "" {
				w.WriteString(pendingNoop + " OK noop\r\n")
				pendingNoop = ""
			}
		case strings.HasPrefix(up, "LOGOUT"):
			w.WriteString("* BYE\r\n" + tag + " OK bye\r\n")
			w.Flush()
			return
		default:
			w.WriteString(tag + " BAD unknown\r\n")
		}
		w.Flush()
	}
}

// fakeServer is an imapServer on a fake IMAP (and LMTP) listener.
type fakeServer struct {
	fakeTarget
	imap, lmtp string
}

func (s fakeServer) IMAPAddr() string { return s.imap }
func (s fakeServer) LMTPAddr() string { return s.lmtp }

func TestRunSearches(t *testing.T) {
	f := &fakeIMAPServer{found: func(term string) bool { return strings.HasPrefix(term, "yes") }}
	srv := fakeServer{imap: f.start(t)}
	qs := []searchQuery{
		{key: "TEXT", term: "yesone"}, {key: "BODY", term: "nothing"}, {key: "FROM", term: "yestwo"},
		{key: "SUBJECT", term: "café", nonASCII: true}, {key: "TEXT", term: "yesthree"},
	}
	rec, err := runSearches(context.Background(), srv, "u", searchConfig{queries: qs, budget: time.Minute, timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if len(rec.runs) != 5 {
		t.Fatalf("%d runs", len(rec.runs))
	}
	want := map[int]int{0: 1, 1: 0, 2: 1, 3: 0, 4: 1}
	for _, run := range rec.runs {
		if run.count != want[run.q] {
			t.Errorf("query %v: %d results", qs[run.q], run.count)
		}
	}
	// Run in key order: TEXT, TEXT, BODY, FROM, SUBJECT.
	if rec.runs[1].q != 4 || rec.runs[2].q != 1 {
		t.Errorf("order: %+v", rec.runs)
	}
	if !strings.Contains(strings.Join(f.queries, "\n"), "UID SEARCH CHARSET UTF-8 SUBJECT café") {
		t.Errorf("queries seen: %q", f.queries)
	}
	// A zero budget still runs one query per key.
	rec, err = runSearches(context.Background(), srv, "u", searchConfig{queries: qs, budget: time.Nanosecond, timeout: 5 * time.Second})
	if err != nil || len(rec.runs) != 4 || rec.skipped["TEXT"] != 1 {
		t.Errorf("budget: %d runs, skipped %v, %v", len(rec.runs), rec.skipped, err)
	}
	// A NO fails the step.
	_, err = runSearches(context.Background(), srv, "u", searchConfig{queries: []searchQuery{{key: "BODY", term: "fail"}}, budget: time.Minute, timeout: 5 * time.Second})
	var se *statusError
	if !errors.As(err, &se) || !strings.Contains(err.Error(), "NO [SERVERBUG]") {
		t.Errorf("NO not reported: %v", err)
	}
}

func TestCompleteAllOutOfOrder(t *testing.T) {
	f := &fakeIMAPServer{found: func(string) bool { return true }, reverse: true}
	srv := fakeServer{imap: f.start(t)}
	c, err := dialIMAP(context.Background(), srv.imap, 4096)
	if err != nil {
		t.Fatal(err)
	}
	defer c.close()
	res := &lagResult{}
	found, err := pollOnce(c, "token", 5*time.Second, res)
	if err != nil || !found || res.searches != 1 {
		t.Errorf("pollOnce with the SEARCH completed before the NOOP: %v, %v, %d", found, err, res.searches)
	}
	// The connection is still in step.
	if _, err := c.command("LOGIN a b", nil); err != nil {
		t.Errorf("after pollOnce: %v", err)
	}
}

func TestRunLag(t *testing.T) {
	lm := &fakeLMTP{}
	lmtpAddr := startFake(t, lm)
	// The IMAP side finds a token once the fake LMTP server has seen it.
	f := &fakeIMAPServer{found: func(term string) bool {
		lm.mu.Lock()
		defer lm.mu.Unlock()
		for _, b := range lm.bodies {
			if strings.Contains(b, term) {
				return true
			}
		}
		return false
	}}
	srv := fakeServer{imap: f.start(t), lmtp: lmtpAddr}
	res, err := runLag(context.Background(), srv, "user1@bench.test", lagConfig{rate: 200, duration: 400 * time.Millisecond, conns: 2,
		drain: time.Second, searchTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	// On a busy machine the last few may come after the end of the phase.
	if res.delivered < 60 || res.due != 80 || res.probes == 0 || len(res.lags) != res.probes || res.notFound != 0 {
		t.Errorf("delivered %d of %d, %d probes, %d found, %d not found", res.delivered, res.due, res.probes, len(res.lags), res.notFound)
	}
	if r := res.rate(); r < 100 || r > 260 {
		t.Errorf("rate %.0f msg/s, offered 200", r)
	}

	// A server whose SEARCH never finds anything fails the step.
	f2 := &fakeIMAPServer{found: func(string) bool { return false }}
	srv2 := fakeServer{imap: f2.start(t), lmtp: lmtpAddr}
	res, err = runLag(context.Background(), srv2, "user1@bench.test", lagConfig{rate: 100, duration: 200 * time.Millisecond, conns: 1,
		drain: 200 * time.Millisecond, searchTimeout: 5 * time.Second})
	if err == nil || res.notFound != 1 {
		t.Errorf("never found: %v, %d not found", err, res.notFound)
	}

	// Rejected deliveries fail it too.
	lm3 := &fakeLMTP{reject: "user1@bench.test"}
	srv3 := fakeServer{imap: f.start(t), lmtp: startFake(t, lm3)}
	if _, err := runLag(context.Background(), srv3, "user1@bench.test", lagConfig{rate: 100, duration: 100 * time.Millisecond, conns: 1,
		drain: 100 * time.Millisecond, searchTimeout: time.Second}); err == nil || !strings.Contains(err.Error(), "550") {
		t.Errorf("rejected deliveries: %v", err)
	}
}

func TestMultiAppendAndLiterals(t *testing.T) {
	cli, srv := net.Pipe()
	defer cli.Close()
	got := make(chan string, 1)
	go func() {
		defer srv.Close()
		r := bufio.NewReader(srv)
		var all strings.Builder
		line, _ := r.ReadString('\n') // A1 APPEND "INBOX" {3+}
		all.WriteString(line)
		for {
			m := literalRE.FindStringSubmatch(line)
			if m == nil {
				break
			}
			var n int
			fmt.Sscan(m[1], &n)
			buf := make([]byte, n)
			ioReadFull(r, buf)
			all.Write(buf)
			line, _ = r.ReadString('\n')
			all.WriteString(line)
		}
		srv.Write([]byte("A1 OK [APPENDUID 1 1:2] done\r\n"))
		// A synchronizing literal: the client waits for "+".
		line, _ = r.ReadString('\n')
		all.WriteString(line)
		srv.Write([]byte("+ ready\r\n"))
		buf := make([]byte, 5)
		ioReadFull(r, buf)
		all.Write(buf)
		line, _ = r.ReadString('\n')
		all.WriteString(line)
		srv.Write([]byte("* SEARCH 1 2\r\nA2 OK done\r\n"))
		got <- all.String()
	}()
	ic := &imapConn{conn: cli, r: bufio.NewReader(cli), w: bufio.NewWriter(cli), caps: "* OK [CAPABILITY IMAP4rev1 LITERAL+]"}
	if err := ic.multiAppend("INBOX", [][]byte{[]byte("abc"), []byte("de")}); err != nil {
		t.Fatal(err)
	}
	ic.caps = "* OK [CAPABILITY IMAP4rev1]"
	n := 0
	if _, err := ic.commandArgs(searchCommand(searchQuery{key: "TEXT", term: "naïf"}), func(text []byte, _ int64) error {
		c, _ := searchCount(text)
		n += c
		return nil
	}); err != nil || n != 2 {
		t.Fatalf("search with a literal: %d, %v", n, err)
	}
	want := "A1 APPEND \"INBOX\" {3+}\r\nabc {2+}\r\nde\r\n" + "A2 UID SEARCH CHARSET UTF-8 TEXT {5}\r\nnaïf\r\n"
	if s := <-got; s != want {
		t.Errorf("client sent %q, want %q", s, want)
	}
}

func TestSearchReportMarkdown(t *testing.T) {
	now := time.Now()
	qs := []searchQuery{{key: "TEXT", term: "alpha", source: "word"}, {key: "TEXT", term: "beta", source: "word"},
		{key: "BODY", term: "gamma", source: "word"}, {key: "FROM", term: "delta", source: "word"}, {key: "SUBJECT", term: "café", source: "non-ASCII word", nonASCII: true}}
	runs := func(ms ...float64) *searchRecord {
		r := &searchRecord{skipped: map[string]int{}, foreign: 0.01, serverCPU: 1}
		for i, m := range ms {
			if m < 0 {
				r.skipped[qs[i].key]++
				continue
			}
			r.runs = append(r.runs, searchRun{q: i, elapsed: time.Duration(m * float64(time.Millisecond)), count: 3})
		}
		return r
	}
	petrel := imapRecord{target: "Petrel", messages: 12000, expected: 60e6, disk: 100 << 20, indexDisk: 20e6,
		index:  &indexResult{available: true, messages: 12000, elapsed: 4 * time.Second, afterFill: 500 * time.Millisecond, rebuilds: []time.Duration{6 * time.Second, 5 * time.Second, 4 * time.Second}, sizeAfterFill: 25 << 20},
		search: runs(5, 7, 6, 1, 1),
		lag:    &lagResult{offered: 500, due: 10000, delivered: 10000, elapsed: 20 * time.Second, lags: []time.Duration{20 * time.Millisecond, 40 * time.Millisecond}, probes: 2, searches: 3, searchTime: 30 * time.Millisecond, latencies: []time.Duration{time.Millisecond}}}
	dovecot := imapRecord{target: "Dovecot", messages: 12000, expected: 60e6, disk: 90 << 20, indexDisk: -1,
		search: runs(1000, -1, 900, 50, 40),
		lag:    &lagResult{offered: 500, due: 10000, delivered: 6000, elapsed: 20 * time.Second, lags: []time.Duration{time.Second}, probes: 2, notFound: 1, searches: 5, searchTime: 5 * time.Second, latencies: []time.Duration{time.Millisecond}}}
	dovecot.search.runs[0].count = 4 // one disagreement
	xapian := imapRecord{target: "Dovecot fts-xapian", messages: 1000, expected: 5e6, disk: 50 << 20, indexDisk: 22e6, note: "1000 messages: slow",
		index:  &indexResult{available: true, messages: 1000, elapsed: 40 * time.Second},
		search: runs(3, 4, 2, 2, 2)}
	fsync := imapRecord{target: "Dovecot fsync=always", messages: 12000, disk: 90 << 20, indexDisk: -1}
	fsync.skip("search", "same as Dovecot")
	fsync.skip("lag", "same as Dovecot")
	r := &imapReport{date: now, total: 9 * time.Minute, command: "go run ./bench", corpus: corpusInfo{Source: "npm x", Messages: 6046},
		cfg: imapConfig{messages: 12000, appendN: 2000, batch: 250, conns: 4, searchCfg: searchConfig{queries: qs, budget: 12 * time.Second},
			lagCfg: lagConfig{rate: 500, duration: 20 * time.Second, conns: 8, drain: 10 * time.Second, searchTimeout: 20 * time.Second}},
		targets: []targetStatus{{name: "Petrel", version: "git x"}, {name: "Dovecot", version: "2.3"}, {name: "Dovecot fsync=always", version: "2.3"},
			{name: "Dovecot fts-xapian", version: "2.3"}, {name: "Cyrus", skipped: "not installed"}},
		records: []imapRecord{petrel, dovecot, fsync, xapian}, search: true, lag: true}
	md := r.searchMarkdown()
	for _, want := range []string{
		"| Petrel | 12000 | 60.0 MB | rebuilt from nothing 3 times: 5.00 s (4.00 s–6.00 s); during the fill: backlog 0 4.00 s after the first APPEND, 500 ms after the last (3000 msg/s) | 2400 (2000–3000) | 19.1 MiB (after the fill: 25.0 MiB) | 0.33 | 100.0 MiB | 8.5 KiB |",
		"| Dovecot | 12000 | 60.0 MB | none (no full-text index) | – | – | – | 90.0 MiB | 7.7 KiB |",
		"| Dovecot fts-xapian | 1000 | 5.0 MB | `doveadm index`: 40.00 s | 25.0 |",
		"| Petrel | 12000 | 5.00 ms / 7.00 ms (2) | 6.00 ms / 6.00 ms (1) |",
		"| Dovecot | 12000 | 1.00 s / 1.00 s (1, 1 left out) |",
		"| Dovecot fsync=always | not measured: same as Dovecot |",
		"- Dovecot: TEXT 200.00×, BODY 150.00×, FROM 50.00×, SUBJECT 40.00×",
		"| Dovecot | 4 | 3 | 1 | 1 of 1 | 0 of 1 | 0 of 1 | 0 of 1 | 0 of 4 |",
		"| Dovecot fts-xapian | not compared: another mailbox (1000 messages) |",
		"| Cyrus | skipped |",
		"| Petrel | 10000 of 10000 | 500 | 1.00 ms / 1.00 ms | 2 | 2 | 20.0 ms | 40.0 ms | 40.0 ms | 3 (10.0 ms) |",
		"| Dovecot | 6000 of 10000 | 300 (not sustained) |",
		"| > 10.00 s | > 10.00 s |",
		"Indexing at least 2000 messages/s: met (2400 msg/s rebuilding the index of the 12000 messages from nothing, the median of 3 rebuilds; during the fill, a lower bound, 3000 msg/s).",
		"Index at most half the mail volume: met (0.33).",
		"SEARCH TEXT p50 at most 20 ms: met (5.00 ms over 2 queries).",
		"Lag p99 at most 1 s at 500 deliveries/s: met (p99 40.0 ms over 2 probes, 0 not found; 500 deliveries/s delivered of 500 offered).",
		"**Dovecot fts-xapian's mailbox holds the first 1000 messages: slow.**",
		"| `TEXT alpha` | word | 3 (5.00 ms) | 4 (1.00 s) | 3 (3.00 ms) |",
		"| `SUBJECT café` | non-ASCII word |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("search report lacks %q", want)
		}
	}
	if t.Failed() {
		t.Log(md)
	}
	// Petrel without the replication metrics: n/a, not a failure.
	r.records[0].index = &indexResult{note: "this build's `/metrics` has no `petrel_replication_backlog`"}
	r.records[0].indexDisk = -1
	md = r.searchMarkdown()
	for _, want := range []string{"| n/a: this build's `/metrics` has no `petrel_replication_backlog` | – | n/a | n/a |",
		"Indexing at least 2000 messages/s: n/a (this build's", "Index at most half the mail volume: n/a"} {
		if !strings.Contains(md, want) {
			t.Errorf("search report without index lacks %q:\n%s", want, md)
		}
	}
	if r.failed() {
		t.Error("failed() without an error")
	}
}

func TestLMTPReportNotMeasured(t *testing.T) {
	d := &reportData{date: time.Now(), messages: map[int]int{1: 1000, 5: 200}, rcpts: []int{1, 5}, runs: 1,
		targets: []targetStatus{{name: "Petrel", version: "git x"}, {name: "Dovecot fts-xapian", version: "2.3", notMeasured: "too slow here"}}}
	md := d.markdown()
	for _, want := range []string{"1000 (1 recipient) and 200 (5 recipients) timed messages per run",
		"- **Dovecot fts-xapian** 2.3 — not measured here: too slow here", "| 5 recipients | Dovecot fts-xapian | not measured |"} {
		if !strings.Contains(md, want) {
			t.Errorf("LMTP report lacks %q:\n%s", want, md)
		}
	}
}

func TestCheckCountFailsOnWrongCount(t *testing.T) {
	f := &fakeIMAPServer{found: func(string) bool { return false }}
	srv := fakeServer{imap: f.start(t)}
	if _, err := checkCount(context.Background(), srv, "u", 3); err != nil {
		t.Errorf("3 of 3: %v", err)
	}
	if _, err := checkCount(context.Background(), srv, "u", 5); err == nil || !strings.Contains(err.Error(), "3 EXISTS, want 5") {
		t.Errorf("3 of 5 not reported: %v", err)
	}
}
