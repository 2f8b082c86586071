package wire

import (
	"strings"
	"time"
)

// Search is SEARCH (RFC 9051 section 6.4.4) with the RETURN options of
// ESEARCH (RFC 4731 section 3.1) and SEARCHRES (RFC 5182).
type Search struct {
	// Charset is the CHARSET argument uppercased, "" when absent.
	Charset string
	// Return are the RETURN options uppercased (MIN, MAX, ALL, COUNT,
	// SAVE), nil without RETURN; empty for "RETURN ()", which means ALL
	// (RFC 4731 section 3.1). Non-nil asks for an ESEARCH response.
	Return []string
	// Keys are the search keys, all of which must match.
	Keys []SearchKey
}

// SearchKey is one search key (RFC 9051 section 6.4.4 and section 9,
// search-key).
type SearchKey struct {
	// Op is the key uppercased as the client sent it ("ALL", "FROM",
	// "OR", "NOT", "UID", "HEADER", ...), "SEQSET" for a bare sequence
	// set and "AND" for a parenthesised list.
	Op string
	// Keys are the operands of AND (one or more), OR (two) and NOT (one).
	Keys []SearchKey
	// Set is the set of UID and SEQSET.
	Set *NumSet
	// Field is the header field name of HEADER, the entry name of MODSEQ
	// (RFC 7162 section 3.1.5, like "/flags/\\draft"), or "".
	Field string
	// Value is the string of BCC, BODY, CC, FROM, SUBJECT, TEXT, TO and
	// HEADER; the keyword of KEYWORD and UNKEYWORD; the entry type of
	// MODSEQ ("PRIV", "SHARED" or "ALL"); the object ID of EMAILID and
	// THREADID (RFC 8474 section 6). In the search charset.
	Value string
	// Date is the date of BEFORE, ON, SINCE, SENTBEFORE, SENTON,
	// SENTSINCE, SAVEDBEFORE, SAVEDON and SAVEDSINCE, midnight UTC.
	Date time.Time
	// Number is the size of LARGER and SMALLER, the seconds of OLDER and
	// YOUNGER (RFC 5032), the mod-sequence of MODSEQ.
	Number int64
}

// searchKeyArgs says what follows each named search key: RFC 9051
// section 9 (search-key), RFC 3501 (NEW, OLD, RECENT), RFC 7162 section 3.1.5
// (MODSEQ), RFC 5032 (OLDER, YOUNGER), RFC 8514 section 4.3 (SAVED*), RFC
// 8474 section 6 (EMAILID, THREADID). The kinds: 0 nothing, 's' an astring,
// 'd' a date, 'k' a flag-keyword, 'n' a number64, 'z' an nz-number, 'h' a
// header field name and an astring, 'u' a sequence set, '1' a search key,
// '2' two search keys, 'm' the arguments of MODSEQ, 'o' an objectid.
var searchKeyArgs = func() map[string]byte {
	m := map[string]byte{}
	for kind, names := range map[byte]string{
		0:   "ALL ANSWERED DELETED DRAFT FLAGGED NEW OLD RECENT SEEN UNANSWERED UNDELETED UNDRAFT UNFLAGGED UNSEEN SAVEDATESUPPORTED",
		's': "BCC BODY CC FROM SUBJECT TEXT TO",
		'd': "BEFORE ON SINCE SENTBEFORE SENTON SENTSINCE SAVEDBEFORE SAVEDON SAVEDSINCE",
		'k': "KEYWORD UNKEYWORD",
		'n': "LARGER SMALLER",
		'z': "OLDER YOUNGER",
		'h': "HEADER",
		'u': "UID",
		'1': "NOT",
		'2': "OR",
		'm': "MODSEQ",
		'o': "EMAILID THREADID",
	} {
		for _, name := range strings.Fields(names) {
			m[name] = kind
		}
	}
	return m
}()

// xsearch reads SEARCH (RFC 9051 section 9, RFC 4731 section 7):
//
//	search = "SEARCH" [search-return-opts] SP search-program
//	search-program = ["CHARSET" SP charset SP] search-key *(SP search-key)
func (p *parser) xsearch(cmd *Command) Args {
	s := &Search{}
	p.xsp()
	if p.take("RETURN ") {
		s.Return = p.xsearchReturn()
		p.xsp()
	}
	if p.take("CHARSET ") {
		s.Charset = p.xcharset()
		p.xsp()
	}
	s.Keys = p.xsearchKeys()
	return s
}

// xsearchReturn reads "(" [search-return-opt *(SP search-return-opt)] ")"
// (RFC 4731 section 7, RFC 5182 section 4).
func (p *parser) xsearchReturn() []string {
	opts := []string{}
	p.xbyte('(')
	for i := 0; !p.takeByte(')'); i++ {
		if i > 0 {
			p.xsp()
		}
		switch w := p.xkeyword("return option"); w {
		case "MIN", "MAX", "ALL", "COUNT", "SAVE":
			opts = append(opts, w)
		default:
			p.xerrorf("", "unknown search return option %s", w)
		}
	}
	return opts
}

// xcharset reads a charset: atom / quoted (RFC 9051 section 9).
func (p *parser) xcharset() string {
	if p.peek() == '"' {
		return strings.ToUpper(p.xquoted())
	}
	return strings.ToUpper(p.xatom("charset"))
}

// xsearchKeys reads search-key *(SP search-key).
func (p *parser) xsearchKeys() []SearchKey {
	keys := []SearchKey{p.xsearchKey()}
	for p.takeByte(' ') {
		keys = append(keys, p.xsearchKey())
	}
	return keys
}

func (p *parser) xsearchKey() SearchKey {
	if p.isSeqSetStart() {
		set := p.xnumSet()
		return SearchKey{Op: "SEQSET", Set: &set}
	}
	p.depth++
	if p.depth > maxDepth {
		p.xerrorf("", "search keys nested too deep")
	}
	defer func() { p.depth-- }()
	if p.takeByte('(') {
		k := SearchKey{Op: "AND", Keys: []SearchKey{p.xsearchKey()}}
		for p.takeByte(' ') {
			k.Keys = append(k.Keys, p.xsearchKey())
		}
		p.xbyte(')')
		return k
	}
	k := SearchKey{Op: p.xkeyword("search key")}
	arg, ok := searchKeyArgs[k.Op]
	if !ok {
		p.xerrorf("", "unknown search key %s", k.Op)
	}
	if arg == 0 {
		return k
	}
	p.xsp()
	switch arg {
	case 's':
		k.Value = p.xastring()
	case 'd':
		k.Date = p.xdate()
	case 'k':
		k.Value = p.xflag()
		if strings.HasPrefix(k.Value, `\`) {
			p.xerrorf("", "%s takes a keyword, not a system flag", k.Op)
		}
	case 'n':
		k.Number = p.xnumber64()
	case 'z':
		k.Number = int64(p.xnznumber())
	case 'h':
		k.Field = p.xastring()
		p.xsp()
		k.Value = p.xastring()
	case 'u':
		if !p.isSeqSetStart() {
			p.xexpected("UID set")
		}
		set := p.xnumSet()
		k.Set = &set
	case '1':
		k.Keys = []SearchKey{p.xsearchKey()}
	case '2':
		k.Keys = []SearchKey{p.xsearchKey()}
		p.xsp()
		k.Keys = append(k.Keys, p.xsearchKey())
	case 'm':
		// "MODSEQ" [SP entry-name SP entry-type-req] SP
		// mod-sequence-valzer; entry-name = DQUOTE "/flags/" attr-flag
		// DQUOTE (RFC 7162 section 7).
		if p.peek() == '"' {
			k.Field = p.xquoted()
			if !strings.HasPrefix(strings.ToLower(k.Field), "/flags/") {
				p.xerrorf("", "MODSEQ entry name must start with /flags/")
			}
			p.xsp()
			switch w := p.xkeyword("entry type"); w {
			case "PRIV", "SHARED", "ALL":
				k.Value = w
			default:
				p.xexpected("priv, shared or all")
			}
			p.xsp()
		}
		k.Number = int64(p.xmodSeq(true))
	case 'o':
		k.Value = string(p.xspan(&objectIDChar, "object id"))
		if len(k.Value) > 255 {
			p.xerrorf("", "object id longer than 255 octets")
		}
	}
	return k
}

// objectIDChar are the octets of an objectid: ALPHA / DIGIT / "_" / "-"
// (RFC 8474 section 7).
var objectIDChar [256]bool

func init() {
	for c := 0; c < 256; c++ {
		objectIDChar[c] = c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-'
	}
}

// Sort is SORT (RFC 5256 section 3) with the RETURN options of ESORT (RFC
// 5267 section 3).
type Sort struct {
	// Return is as for Search: nil without RETURN.
	Return []string
	// Criteria are the sort keys, most significant first.
	Criteria []SortCriterion
	// Charset is uppercased; it is required.
	Charset string
	// Keys are the search keys that select the messages to sort.
	Keys []SearchKey
}

// SortCriterion is one sort criterion.
type SortCriterion struct {
	// Key is ARRIVAL, CC, DATE, FROM, SIZE, SUBJECT, TO, or DISPLAYFROM
	// and DISPLAYTO (RFC 5957 section 3).
	Key string
	// Reverse is set for REVERSE: descending order.
	Reverse bool
}

var sortKeys = map[string]bool{
	"ARRIVAL": true, "CC": true, "DATE": true, "FROM": true, "SIZE": true,
	"SUBJECT": true, "TO": true, "DISPLAYFROM": true, "DISPLAYTO": true,
}

// xsort reads SORT (RFC 5256 section 5, RFC 5267 section 3):
//
//	sort = ["UID" SP] "SORT" [search-return-opts] SP sort-criteria SP
//	       search-criteria
//	sort-criteria = "(" sort-criterion *(SP sort-criterion) ")"
//	sort-criterion = ["REVERSE" SP] sort-key
//	search-criteria = charset 1*(SP search-key)
func (p *parser) xsort(cmd *Command) Args {
	s := &Sort{}
	p.xsp()
	if p.take("RETURN ") {
		s.Return = p.xsearchReturn()
		p.xsp()
	}
	p.xbyte('(')
	for {
		c := SortCriterion{Key: p.xkeyword("sort key")}
		if c.Key == "REVERSE" {
			c.Reverse = true
			p.xsp()
			c.Key = p.xkeyword("sort key")
		}
		if !sortKeys[c.Key] {
			p.xerrorf("", "unknown sort key %s", c.Key)
		}
		s.Criteria = append(s.Criteria, c)
		if p.takeByte(')') {
			break
		}
		p.xsp()
	}
	p.xsp()
	s.Charset = p.xcharset()
	p.xsp()
	s.Keys = p.xsearchKeys()
	return s
}

// Thread is THREAD (RFC 5256 section 3).
type Thread struct {
	// Algorithm is uppercased: ORDEREDSUBJECT, REFERENCES or an extension
	// the server may not know (thread-alg-ext).
	Algorithm string
	// Charset is uppercased; it is required.
	Charset string
	// Keys are the search keys that select the messages to thread.
	Keys []SearchKey
}

// xthread reads THREAD (RFC 5256 section 5): ["UID" SP] "THREAD" SP
// thread-alg SP search-criteria.
func (p *parser) xthread(cmd *Command) Args {
	t := &Thread{}
	p.xsp()
	t.Algorithm = p.xkeyword("thread algorithm")
	p.xsp()
	t.Charset = p.xcharset()
	p.xsp()
	t.Keys = p.xsearchKeys()
	return t
}
