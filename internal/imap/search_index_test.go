package imap_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"mime"
	"mime/quotedprintable"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/text/encoding/charmap"

	pimap "github.com/petrelmail/petrel/internal/imap"
)

// vocabulary of the generated messages: plain words, words with accents
// and other scripts, and the Kelvin sign and long s, which fold to k and s.
var vocabulary = []string{
	"meeting", "budget", "invoice", "quarterly", "holiday", "Kangaroo", "platypus", "wombat", "zebra", "xylophone",
	"café", "naïve", "Straße", "façade", "Ελληνικά", "日本語", "Привет", "crème", "brûlée", "smörgåsbord",
	"Kelvin\u212aunit", "lo\u017fs", "ÉCOLE", "école", "überall", "MIXEDcase", "snake_case", "dot.ted", "hy-phen", "quote\"d",
}

// genIndexMessage makes message n: a few vocabulary words in one of the
// shapes the index must read (quoted-printable, base64, Latin-1, HTML,
// multipart, encoded-word subject and names).
func genIndexMessage(rng *rand.Rand, n int) string {
	words := func(k int) string {
		var w []string
		for range k {
			w = append(w, vocabulary[rng.IntN(len(vocabulary))])
		}
		return strings.Join(w, " ")
	}
	subject, body, name := words(2), words(8), words(1)
	var b strings.Builder
	fmt.Fprintf(&b, "From: %s <sender%d@example.net>\r\nTo: alice@example.org\r\nMessage-ID: <%d@gen>\r\nDate: Sat, 28 Nov 2026 10:00:00 +0000\r\n",
		mime.QEncoding.Encode("utf-8", name), n%9, n)
	switch n % 6 {
	case 0: // 8-bit UTF-8 plain text
		fmt.Fprintf(&b, "Subject: %s\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n%s\r\n", mime.BEncoding.Encode("utf-8", subject), body)
	case 1: // quoted-printable
		var qp strings.Builder
		w := quotedprintable.NewWriter(&qp)
		io.WriteString(w, body+"\n")
		w.Close()
		fmt.Fprintf(&b, "Subject: %s\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n%s\r\n",
			mime.QEncoding.Encode("utf-8", subject), qp.String())
	case 2: // base64
		fmt.Fprintf(&b, "Subject: %s\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n%s\r\n",
			mime.BEncoding.Encode("utf-8", subject), base64.StdEncoding.EncodeToString([]byte(body)))
	case 3: // Latin-1, where it can be
		latin, err := charmap.ISO8859_1.NewEncoder().String(body)
		if err != nil {
			latin, body = "plain ascii fallback", "plain ascii fallback"
		}
		fmt.Fprintf(&b, "Subject: %s\r\nContent-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: 8bit\r\n\r\n%s\r\n",
			mime.QEncoding.Encode("utf-8", subject), latin)
	case 4: // HTML with entities and markup
		html := strings.ReplaceAll(body, " ", " <b>&nbsp;</b>")
		html = strings.Replace(html, "é", "&eacute;", 1)
		fmt.Fprintf(&b, "Subject: %s\r\nMIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=\"b%d\"\r\n\r\n"+
			"--b%d\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<html><head><style>p{color:red}</style></head><body><p>%s</p></body></html>\r\n--b%d--\r\n",
			subject, n, n, html, n)
	case 5: // mixed, with an attachment name
		fmt.Fprintf(&b, "Subject: %s\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"m%d\"\r\n\r\n"+
			"--m%d\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n%s\r\n"+
			"--m%d\r\nContent-Type: application/octet-stream; name=\"report-%d.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\nAAECAw==\r\n--m%d--\r\n",
			mime.QEncoding.Encode("utf-8", subject), n, n, body, n, n, n)
	}
	return b.String()
}

// TestSearchIndexExact: for hundreds of terms (whole words, pieces of
// words, other cases and scripts, short and absent ones) and every text
// key, SEARCH with the index answers exactly what a scan of every message
// answers. Some messages are delivered while the shard's replicator is
// stopped, so the index lacks them and search must read them directly.
func TestSearchIndexExact(t *testing.T) {
	ts := newTestServer(t, 0, "alice")
	rng := rand.New(rand.NewPCG(11, 12))
	const indexed, late = 240, 30
	for n := range indexed {
		ts.deliver(t, "alice", genIndexMessage(rng, n))
	}
	ctx := context.Background()
	if err := ts.Repl.WaitCaughtUp(ctx); err != nil {
		t.Fatal(err)
	}
	u, err := ts.Dir.User(ctx, "alice@example.org")
	if err != nil {
		t.Fatal(err)
	}
	// A server on the same data without the index: the reference scan.
	scanSrv := pimap.New(pimap.Config{Hostname: "localhost"}, ts.Dir, ts.Store, ts.Pipeline, slog.New(slog.DiscardHandler))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go scanSrv.Serve(l, false)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		scanSrv.Stop(ctx)
	})
	scan, err := imapclient.DialInsecure(l.Addr().String(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer scan.Close()
	withIndex := ts.login(t, "alice", nil)
	for _, c := range []*imapclient.Client{scan, withIndex} {
		if c == scan {
			if err := c.Login("alice@example.org", testPassword).Wait(); err != nil {
				t.Fatal(err)
			}
		}
	}

	// Terms: words, pieces of words (inside, across case), other scripts,
	// absent words, and needles too short for the index.
	var terms []string
	for range 200 {
		w := []rune(vocabulary[rng.IntN(len(vocabulary))])
		i := rng.IntN(len(w))
		j := min(len(w), i+3+rng.IntN(4))
		piece := string(w[i:j])
		switch rng.IntN(4) {
		case 0:
			piece = strings.ToUpper(piece)
		case 1:
			piece = string(w)
		}
		terms = append(terms, piece)
	}
	terms = append(terms, "xq", "é", "ss", "k", "\u212a", "nothing-like-this", "report-1", "REPORT-17.PDF", "sender3@", "example.net",
		"budget meeting", "<b>", "nbsp", "color", "=?utf-8?", "Ελλην", "本語", "ПРИВЕТ", "STRASSE", "straße", "brûl", "ûlé")
	keys := []func(string) *imap.SearchCriteria{
		func(s string) *imap.SearchCriteria { return &imap.SearchCriteria{Text: []string{s}} },
		func(s string) *imap.SearchCriteria { return &imap.SearchCriteria{Body: []string{s}} },
		func(s string) *imap.SearchCriteria {
			return &imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "Subject", Value: s}}}
		},
		func(s string) *imap.SearchCriteria {
			return &imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "From", Value: s}}}
		},
	}
	keyNames := []string{"TEXT", "BODY", "SUBJECT", "FROM"}
	// And combinations: both narrowing, one not narrowing, negation.
	combos := []func(a, b string) *imap.SearchCriteria{
		func(a, b string) *imap.SearchCriteria {
			return &imap.SearchCriteria{Body: []string{a}, Text: []string{b}}
		},
		func(a, b string) *imap.SearchCriteria {
			return &imap.SearchCriteria{Or: [][2]imap.SearchCriteria{{{Body: []string{a}}, {Text: []string{b}}}}}
		},
		func(a, b string) *imap.SearchCriteria {
			return &imap.SearchCriteria{Body: []string{a}, Not: []imap.SearchCriteria{{Text: []string{b}}}}
		},
		func(a, b string) *imap.SearchCriteria {
			return &imap.SearchCriteria{Or: [][2]imap.SearchCriteria{{{Body: []string{a}}, {NotFlag: []imap.Flag{imap.FlagSeen}}}}}
		},
	}

	// Stop the replicator of alice's shard and deliver more: the index
	// lacks those until it is back (1 s later).
	ts.Repl.Kill(u.Shard)
	for n := indexed; n < indexed+late; n++ {
		ts.deliver(t, "alice", genIndexMessage(rng, n))
	}
	for _, c := range []*imapclient.Client{scan, withIndex} {
		if _, err := c.Select("INBOX", nil).Wait(); err != nil {
			t.Fatal(err)
		}
	}
	search := func(c *imapclient.Client, crit *imap.SearchCriteria) []imap.UID {
		t.Helper()
		d, err := c.UIDSearch(crit, nil).Wait()
		if err != nil {
			t.Fatalf("UID SEARCH %+v: %v", crit, err)
		}
		return d.AllUIDs()
	}
	narrowedBefore := indexSearches(t)
	lateSeen, nonEmpty, total := 0, 0, 0
	compare := func(what string, crit *imap.SearchCriteria) {
		t.Helper()
		want := search(scan, crit)
		got := search(withIndex, crit)
		total++
		if len(want) > 0 {
			nonEmpty++
		}
		if slices.ContainsFunc(want, func(u imap.UID) bool { return u > indexed }) {
			lateSeen++
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s: with the index %v, scan %v", what, got, want)
		}
	}
	for _, term := range terms {
		for k, key := range keys {
			compare(fmt.Sprintf("%s %q", keyNames[k], term), key(term))
		}
	}
	for i := range 40 {
		a, b := terms[rng.IntN(len(terms))], terms[rng.IntN(len(terms))]
		compare(fmt.Sprintf("combo %d (%q, %q)", i%len(combos), a, b), combos[i%len(combos)](a, b))
	}
	t.Logf("%d searches over %d terms, %d with matches, %d finding messages the index did not have yet", total, len(terms), nonEmpty, lateSeen)
	if len(terms) < 200 || nonEmpty < total/3 || lateSeen == 0 {
		t.Fatalf("the searches show too little: %d terms, %d of %d with matches, %d seeing unindexed messages", len(terms), nonEmpty, total, lateSeen)
	}
	if narrowed := indexSearches(t) - narrowedBefore; narrowed < float64(total)/2 {
		t.Fatalf("the index narrowed only %v of %d searches", narrowed, total)
	}
	// Once the replicator is back, everything is indexed, and the answers
	// are still the same.
	if err := ts.Repl.WaitCaughtUp(ctx); err != nil {
		t.Fatal(err)
	}
	for _, term := range terms[:40] {
		compare(fmt.Sprintf("TEXT %q after catching up", term), keys[0](term))
	}
}

// indexSearches reads petrel_imap_index_searches_total.
func indexSearches(t *testing.T) float64 {
	t.Helper()
	mfs, err := prometheus.DefaultGatherer.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "petrel_imap_index_searches_total" {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	return 0
}
