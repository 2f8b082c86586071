package main

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"math/rand/v2"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"net/textproto"
	"regexp"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/encoding/htmlindex"
)

// The SEARCH sample: terms drawn with a fixed seed from the corpus, the
// same for every server.
//
//   - TEXT and BODY: words of 3 to 20 letters from the decoded text parts
//     of the messages (text/plain and text/html with the tags dropped;
//     quoted-printable and base64 decoded, charsets converted to UTF-8),
//     lower-cased. Most are drawn uniformly from the distinct words (so
//     mostly rare words, as searches are), a sixth weighted by occurrences
//     (common words with long results), and a few with non-ASCII Latin
//     letters.
//   - FROM: words of the From field (display name, decoded, and the
//     address).
//   - SUBJECT: words of the decoded Subject, a few of them non-ASCII.
//
// Each key's queries are in a random order, so that a prefix (when the time
// budget cuts a slow server short) is a sample too.

type searchQuery struct {
	key      string // TEXT, BODY, FROM or SUBJECT
	term     string
	source   string // "word", "frequent word", "non-ASCII word"
	nonASCII bool
}

// searchKeys is the order in which the keys are run and reported.
var searchKeys = []string{"TEXT", "BODY", "FROM", "SUBJECT"}

// termPools counts words by where they were seen.
type termPools struct {
	body, bodyNonASCII       map[string]int
	subject, subjectNonASCII map[string]int
	sender                   map[string]int
	messages, unparsed       int
}

func newTermPools() *termPools {
	return &termPools{body: map[string]int{}, bodyNonASCII: map[string]int{}, subject: map[string]int{},
		subjectNonASCII: map[string]int{}, sender: map[string]int{}}
}

const (
	minTermLen = 3
	maxTermLen = 20
)

var wordDecoder = &mime.WordDecoder{CharsetReader: charsetReader}

// charsetReader converts from the charsets the WHATWG encoding index
// knows (ISO-8859-x, windows-125x, KOI8, the CJK ones…) to UTF-8.
func charsetReader(charset string, r io.Reader) (io.Reader, error) {
	enc, err := htmlindex.Get(strings.ToLower(strings.TrimSpace(charset)))
	if err != nil {
		return nil, err
	}
	return enc.NewDecoder().Reader(r), nil
}

// collectTerms reads the words of msgs into pools.
func collectTerms(msgs [][]byte) *termPools {
	p := newTermPools()
	for _, m := range msgs {
		p.messages++
		msg, err := mail.ReadMessage(bytes.NewReader(m))
		if err != nil {
			p.unparsed++
			continue
		}
		if subj, err := wordDecoder.DecodeHeader(msg.Header.Get("Subject")); err == nil {
			addWords(subj, p.subject, p.subjectNonASCII)
		}
		from := msg.Header.Get("From")
		ap := mail.AddressParser{WordDecoder: wordDecoder}
		if a, err := ap.Parse(from); err == nil {
			addWords(a.Name+" "+a.Address, p.sender, nil)
		} else if s, err := wordDecoder.DecodeHeader(from); err == nil {
			addWords(s, p.sender, nil)
		}
		walkText(textproto.MIMEHeader(msg.Header), msg.Body, 0, func(text string) {
			addWords(text, p.body, p.bodyNonASCII)
		})
	}
	return p
}

var htmlTag = regexp.MustCompile(`(?s)<[^>]*>|&[a-zA-Z#0-9]+;`)

// walkText calls fn with the decoded text of every text/plain and
// text/html part (tags dropped) of the entity with header h and body r.
func walkText(h textproto.MIMEHeader, r io.Reader, depth int, fn func(string)) {
	ct := h.Get("Content-Type")
	mt, params, err := mime.ParseMediaType(ct)
	if ct == "" || err != nil {
		mt, params = "text/plain", map[string]string{}
	}
	switch {
	case strings.HasPrefix(mt, "multipart/"):
		if depth > 5 || params["boundary"] == "" {
			return
		}
		mr := multipart.NewReader(r, params["boundary"])
		for {
			part, err := mr.NextRawPart()
			if err != nil {
				return
			}
			walkText(part.Header, part, depth+1, fn)
		}
	case mt == "text/plain" || mt == "text/html":
		var body io.Reader = r
		switch strings.ToLower(strings.TrimSpace(h.Get("Content-Transfer-Encoding"))) {
		case "quoted-printable":
			body = quotedprintable.NewReader(body)
		case "base64":
			body = base64.NewDecoder(base64.StdEncoding, &base64Cleaner{r: bufio.NewReader(body)})
		}
		if cs := params["charset"]; cs != "" && !strings.EqualFold(cs, "us-ascii") && !strings.EqualFold(cs, "utf-8") {
			if cr, err := charsetReader(cs, body); err == nil {
				body = cr
			}
		}
		b, _ := io.ReadAll(io.LimitReader(body, 1<<20))
		s := string(b)
		if !utf8.ValidString(s) {
			s = strings.ToValidUTF8(s, " ")
		}
		if mt == "text/html" {
			s = htmlTag.ReplaceAllString(s, " ")
		}
		fn(s)
	}
}

// base64Cleaner drops the bytes that are not base64 alphabet (spaces,
// stray characters) that base64.NewDecoder does not skip itself.
type base64Cleaner struct{ r *bufio.Reader }

func (c *base64Cleaner) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		b, err := c.r.ReadByte()
		if err != nil {
			if n > 0 {
				return n, nil
			}
			return 0, err
		}
		if b >= 'A' && b <= 'Z' || b >= 'a' && b <= 'z' || b >= '0' && b <= '9' || b == '+' || b == '/' || b == '=' {
			p[n] = b
			n++
		}
	}
	return n, nil
}

// addWords counts the words (runs of letters) of s of minTermLen to
// maxTermLen letters, lower-cased: ASCII ones in ascii, those with
// non-ASCII Latin letters in nonASCII (if not nil). Words with letters of
// other scripts are left out: how they are split into words differs too
// much between servers.
func addWords(s string, ascii, nonASCII map[string]int) {
	start := -1
	flush := func(end int) {
		if start < 0 {
			return
		}
		w := s[start:end]
		start = -1
		n := utf8.RuneCountInString(w)
		if n < minTermLen || n > maxTermLen {
			return
		}
		isASCII, latin := true, true
		for _, r := range w {
			if r >= utf8.RuneSelf {
				isASCII = false
				if !unicode.Is(unicode.Latin, r) {
					latin = false
				}
			}
		}
		w = strings.ToLower(w)
		switch {
		case isASCII:
			ascii[w]++
		case latin && nonASCII != nil:
			nonASCII[w]++
		}
	}
	for i, r := range s {
		if unicode.IsLetter(r) {
			if start < 0 {
				start = i
			}
			continue
		}
		flush(i)
	}
	flush(len(s))
}

// sampleSearchQueries draws perKey queries for each key of searchKeys
// from the pools, with a fixed seed.
func sampleSearchQueries(p *termPools, perKey int, seed uint64) []searchQuery {
	rng := rand.New(rand.NewPCG(seed, 0x5ea7c4))
	used := map[string]bool{}
	var out []searchQuery
	pick := func(key string, pool map[string]int, n int, source string, weighted, nonASCII bool) int {
		words := sortedKeys(pool, used)
		got := 0
		for got < n && len(words) > 0 {
			var i int
			if weighted {
				i = weightedIndex(rng, words, pool)
			} else {
				i = rng.IntN(len(words))
			}
			w := words[i]
			words = slices.Delete(words, i, i+1)
			used[w] = true
			out = append(out, searchQuery{key: key, term: w, source: source, nonASCII: nonASCII})
			got++
		}
		return got
	}
	for _, key := range searchKeys {
		first := len(out)
		nonASCII := 0
		if perKey >= 4 {
			nonASCII = max(1, perKey/15)
		}
		frequent := perKey / 6
		switch key {
		case "TEXT", "BODY":
			nonASCII = pick(key, p.bodyNonASCII, nonASCII, "non-ASCII word", false, true)
			frequent = pick(key, p.body, frequent, "frequent word", true, false)
			pick(key, p.body, perKey-nonASCII-frequent, "word", false, false)
		case "FROM":
			frequent = pick(key, p.sender, frequent, "frequent word", true, false)
			pick(key, p.sender, perKey-frequent, "word", false, false)
		case "SUBJECT":
			got := pick(key, p.subjectNonASCII, nonASCII, "non-ASCII word", false, true)
			if got < nonASCII {
				got += pick(key, p.bodyNonASCII, nonASCII-got, "non-ASCII word (of a body)", false, true)
			}
			frequent = pick(key, p.subject, frequent, "frequent word", true, false)
			pick(key, p.subject, perKey-got-frequent, "word", false, false)
		}
		part := out[first:]
		rng.Shuffle(len(part), func(i, j int) { part[i], part[j] = part[j], part[i] })
	}
	return out
}

func sortedKeys(m map[string]int, except map[string]bool) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		if !except[k] {
			ks = append(ks, k)
		}
	}
	slices.Sort(ks)
	return ks
}

// weightedIndex draws an index of words with probability proportional to
// its count in pool.
func weightedIndex(rng *rand.Rand, words []string, pool map[string]int) int {
	total := 0
	for _, w := range words {
		total += pool[w]
	}
	if total <= 0 {
		return rng.IntN(len(words))
	}
	x := rng.IntN(total)
	for i, w := range words {
		x -= pool[w]
		if x < 0 {
			return i
		}
	}
	return len(words) - 1
}

// searchCommand renders the UID SEARCH command for q: the term as a quoted
// string, or as a literal with CHARSET UTF-8 when it is not ASCII.
func searchCommand(q searchQuery) []cmdPart {
	arg := astringArg(q.term)
	if arg.literal {
		return []cmdPart{{text: "UID SEARCH CHARSET UTF-8 " + q.key + " "}, arg}
	}
	return []cmdPart{{text: "UID SEARCH " + q.key + " "}, arg}
}

func (q searchQuery) String() string { return fmt.Sprintf("%s %q", q.key, q.term) }
