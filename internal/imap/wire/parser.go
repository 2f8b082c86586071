package wire

import (
	"encoding/base64"
	"errors"
	"math"
	"strings"
	"time"
	"unicode/utf8"
)

// parser holds the state of the command being read. Its x-functions panic
// with a parsePanic on error; run recovers it.
type parser struct {
	r *Reader
	// line is the current line fragment without its line end; it aliases
	// the Reader's buffer, so values taken from it are copied.
	line    []byte
	pos     int
	trailer trailer
	// used counts the octets of this command, against MaxCommand.
	used int64
	tag  string
	// started is set once the first fragment of the command was read.
	started bool
	// depth is the nesting of search keys, bounded by maxDepth.
	depth int
}

// maxDepth bounds the nesting of parenthesised, NOT and OR search keys, so
// that a hostile line cannot exhaust the stack.
const maxDepth = 64

func (p *parser) atEnd() bool { return p.pos >= len(p.line) }

func (p *parser) peek() byte {
	if p.pos >= len(p.line) {
		return 0
	}
	return p.line[p.pos]
}

// xend checks that the command line is complete.
func (p *parser) xend() {
	if !p.atEnd() {
		p.xerrorf("", "unexpected %q at end of command", p.rest())
	}
}

// rest returns a short quote of the unparsed input for error messages.
func (p *parser) rest() string {
	s := p.line[p.pos:]
	if len(s) > 20 {
		s = s[:20]
	}
	return string(s)
}

func (p *parser) xexpected(what string) {
	if p.atEnd() {
		p.xerrorf("", "expected %s, got end of line", what)
	}
	p.xerrorf("", "expected %s at %q", what, p.rest())
}

func (p *parser) takeByte(c byte) bool {
	if p.pos < len(p.line) && p.line[p.pos] == c {
		p.pos++
		return true
	}
	return false
}

func (p *parser) xbyte(c byte) {
	if !p.takeByte(c) {
		p.xexpected(strconvQuoteByte(c))
	}
}

func strconvQuoteByte(c byte) string {
	switch c {
	case ' ':
		return "space"
	}
	return `"` + string(c) + `"`
}

func (p *parser) xsp() { p.xbyte(' ') }

// take consumes s, matched case-insensitively, if it comes next.
func (p *parser) take(s string) bool {
	if len(p.line)-p.pos >= len(s) && strings.EqualFold(string(p.line[p.pos:p.pos+len(s)]), s) {
		p.pos += len(s)
		return true
	}
	return false
}

func (p *parser) xtake(s string) {
	if !p.take(s) {
		p.xexpected(s)
	}
}

// xspan returns the non-empty run of octets of class at the parser.
func (p *parser) xspan(class *[256]bool, what string) []byte {
	start := p.pos
	for p.pos < len(p.line) && class[p.line[p.pos]] {
		p.pos++
	}
	if p.pos == start {
		p.xexpected(what)
	}
	return p.line[start:p.pos]
}

// keywordChar is ATOM-CHAR less "[" and "<", which end a fetch-att name
// ("BODY[", "BODY.PEEK[", "<" of a partial).
var keywordChar [256]bool

func init() {
	keywordChar = atomChar
	keywordChar['['] = false
	keywordChar['<'] = false
}

// xkeyword reads a keyword (a command name, search key, fetch-att and the
// like), uppercased: they are case-insensitive (RFC 9051 section 9 note 1).
func (p *parser) xkeyword(what string) string {
	b := p.xspan(&keywordChar, what)
	if k, ok := keywords[string(b)]; ok {
		return k // no allocation for the usual spelling
	}
	return strings.ToUpper(string(b))
}

// keywords interns the uppercase keywords of the grammar. It is filled by
// initKeywords, from the init that fills commandParsers.
var keywords = map[string]string{}

func initKeywords() {
	add := func(k string) { keywords[k] = k }
	for k := range commandParsers {
		add(k)
	}
	for k := range searchKeyArgs {
		add(k)
	}
	for k := range simpleFetchAtts {
		add(k)
	}
	for k := range fetchMacros {
		add(k)
	}
	for k := range statusItems {
		add(k)
	}
	for k := range sortKeys {
		add(k)
	}
	for _, k := range strings.Fields("UID BODY BODY.PEEK BINARY BINARY.PEEK BINARY.SIZE PREVIEW FLAGS FLAGS.SILENT CHANGEDSINCE VANISHED UNCHANGEDSINCE CONDSTORE QRESYNC USE REVERSE SUBSCRIBED REMOTE RECURSIVEMATCH SPECIAL-USE CHILDREN PLAIN LOGIN DEFLATE MIN MAX COUNT SAVE") {
		add(k)
	}
}

// xatom reads an atom (RFC 9051 section 9), as sent.
func (p *parser) xatom(what string) string {
	return string(p.xspan(&atomChar, what))
}

// xtag reads a tag: 1*<any ASTRING-CHAR except "+">.
func (p *parser) xtag() string {
	return string(p.xspan(&tagChar, "tag"))
}

// xnumber reads a number: 1*DIGIT of at most 32 bits (RFC 9051 section 9).
func (p *parser) xnumber() uint32 {
	n := p.xdigits(math.MaxUint32, "number")
	return uint32(n)
}

// xnznumber reads a non-zero number.
func (p *parser) xnznumber() uint32 {
	n := p.xnumber()
	if n == 0 {
		p.xerrorf("", "zero is not allowed here")
	}
	return n
}

// xnumber64 reads a number64: 63 bits (RFC 9051 section 9).
func (p *parser) xnumber64() int64 {
	return int64(p.xdigits(math.MaxInt64, "number"))
}

func (p *parser) xdigits(max uint64, what string) uint64 {
	start := p.pos
	var n uint64
	for p.pos < len(p.line) && p.line[p.pos] >= '0' && p.line[p.pos] <= '9' {
		d := uint64(p.line[p.pos] - '0')
		if n > (max-d)/10 {
			p.xerrorf("", "number too large")
		}
		n = n*10 + d
		p.pos++
	}
	if p.pos == start {
		p.xexpected(what)
	}
	return n
}

// xquoted reads a quoted string (RFC 9051 section 4.3, quoted): TEXT-CHAR
// other than DQUOTE and backslash, or those two escaped by a backslash.
// 8-bit octets are accepted (UTF-8 in IMAP4rev2, RFC 9051 QUOTED-CHAR, and
// what IMAP4rev1 clients send in a SEARCH CHARSET other than US-ASCII).
func (p *parser) xquoted() string {
	p.xbyte('"')
	start := p.pos
	// Fast path: no escapes.
	for p.pos < len(p.line) {
		switch c := p.line[p.pos]; c {
		case '"':
			s := string(p.line[start:p.pos])
			p.pos++
			return s
		case '\\':
			return p.xquotedSlow(start)
		case 0, '\r', '\n':
			p.xerrorf("", "invalid character in quoted string")
		}
		p.pos++
	}
	p.xerrorf("", "unterminated quoted string")
	return ""
}

func (p *parser) xquotedSlow(start int) string {
	b := append([]byte(nil), p.line[start:p.pos]...)
	for p.pos < len(p.line) {
		c := p.line[p.pos]
		p.pos++
		switch c {
		case '"':
			return string(b)
		case '\\':
			if p.pos >= len(p.line) || (p.line[p.pos] != '"' && p.line[p.pos] != '\\') {
				p.xerrorf("", "backslash must quote DQUOTE or backslash")
			}
			c = p.line[p.pos]
			p.pos++
		case 0, '\r', '\n':
			p.xerrorf("", "invalid character in quoted string")
		}
		b = append(b, c)
	}
	p.xerrorf("", "unterminated quoted string")
	return ""
}

// xstring reads a string: quoted or literal (RFC 9051 section 4.3). A
// literal that is not literal8 must not hold NUL (RFC 9051 CHAR8).
func (p *parser) xstring() string {
	switch p.peek() {
	case '"':
		return p.xquoted()
	case '{':
		s := p.xliteral(false)
		if strings.IndexByte(s, 0) >= 0 {
			p.xerrorf("", "NUL in literal")
		}
		return s
	}
	p.xexpected("string")
	return ""
}

// isNil reports whether NIL comes next as a whole atom.
func (p *parser) isNil() bool {
	if len(p.line)-p.pos >= 3 && strings.EqualFold(string(p.line[p.pos:p.pos+3]), "NIL") {
		return p.pos+3 == len(p.line) || !astringChar[p.line[p.pos+3]]
	}
	return false
}

// xnstring reads an nstring: NIL or a string; ok is false for NIL.
func (p *parser) xnstring() (s string, ok bool) {
	if p.isNil() {
		p.pos += 3
		return "", false
	}
	return p.xstring(), true
}

// xastring reads an astring: 1*ASTRING-CHAR or a string.
func (p *parser) xastring() string {
	switch p.peek() {
	case '"', '{':
		return p.xstring()
	}
	return string(p.xspan(&astringChar, "astring"))
}

// MailboxName is a mailbox name as the client sent it: modified UTF-7 for
// IMAP4rev1 clients that have not enabled UTF8=ACCEPT, UTF-8 otherwise.
// Decode turns it into the name the server stores.
type MailboxName string

// ErrBadMailboxName is returned by MailboxName.Decode for a name with
// control characters or invalid UTF-8.
var ErrBadMailboxName = errors.New("invalid mailbox name")

// Decode returns the mailbox name in UTF-8. "INBOX" in any case is "INBOX"
// (RFC 9051 section 5.1). With utf8Enabled (IMAP4rev2 or UTF8=ACCEPT
// enabled, RFC 6855 section 3) the name must be valid UTF-8; otherwise it
// must be modified UTF-7 (RFC 3501 section 5.1.3), decoded strictly (see
// DecodeUTF7). Control characters are refused in both (RFC 9051 section
// 5.1: names are Net-Unicode, RFC 5198).
func (m MailboxName) Decode(utf8Enabled bool) (string, error) {
	s := string(m)
	if strings.EqualFold(s, "INBOX") {
		return "INBOX", nil
	}
	if !utf8Enabled {
		return DecodeUTF7(s)
	}
	if !utf8.ValidString(s) {
		return "", ErrBadMailboxName
	}
	for _, c := range s {
		if c < 0x20 || c == 0x7f || (c >= 0x80 && c < 0xa0) {
			return "", ErrBadMailboxName
		}
	}
	return s, nil
}

// xmailbox reads a mailbox: "INBOX" / astring (RFC 9051 section 9).
func (p *parser) xmailbox() MailboxName {
	return MailboxName(p.xastring())
}

// xlistMailbox reads a list-mailbox: 1*list-char / string.
func (p *parser) xlistMailbox() MailboxName {
	switch p.peek() {
	case '"', '{':
		return MailboxName(p.xstring())
	}
	return MailboxName(p.xspan(&listChar, "mailbox pattern"))
}

// systemFlags are the flags of RFC 9051 section 2.3.2 that begin with a
// backslash, in their canonical case; flags are case-insensitive.
var systemFlags = map[string]string{
	`\ANSWERED`: `\Answered`,
	`\FLAGGED`:  `\Flagged`,
	`\DELETED`:  `\Deleted`,
	`\SEEN`:     `\Seen`,
	`\DRAFT`:    `\Draft`,
}

// xflag reads a flag: "\" atom (system flag or flag-extension) or a keyword
// atom. System flags are returned in canonical case, others as sent.
func (p *parser) xflag() string {
	if p.takeByte('\\') {
		f := `\` + p.xatom("flag")
		if c, ok := systemFlags[strings.ToUpper(f)]; ok {
			return c
		}
		return f
	}
	return p.xatom("flag")
}

// xflagList reads a flag-list: "(" [flag *(SP flag)] ")".
func (p *parser) xflagList() []string {
	p.xbyte('(')
	flags := []string{}
	for !p.takeByte(')') {
		if len(flags) > 0 {
			p.xsp()
		}
		flags = append(flags, p.xflag())
	}
	return flags
}

// xflags reads a flag-list or, as STORE allows, flags without parentheses
// (RFC 9051 section 9, store-att-flags).
func (p *parser) xstoreFlags() []string {
	if p.peek() == '(' {
		return p.xflagList()
	}
	flags := []string{p.xflag()}
	for p.takeByte(' ') {
		flags = append(flags, p.xflag())
	}
	return flags
}

var months = [...]string{"JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"}

func (p *parser) xmonth() time.Month {
	if len(p.line)-p.pos >= 3 {
		m := strings.ToUpper(string(p.line[p.pos : p.pos+3]))
		for i, name := range months {
			if m == name {
				p.pos += 3
				return time.Month(i + 1)
			}
		}
	}
	p.xexpected("month")
	return 0
}

// xfixedDigits reads exactly n digits.
func (p *parser) xfixedDigits(n int, what string) int {
	v := 0
	for range n {
		c := p.peek()
		if c < '0' || c > '9' {
			p.xexpected(what)
		}
		v = v*10 + int(c-'0')
		p.pos++
	}
	return v
}

// xdate reads a date: date-text or DQUOTE date-text DQUOTE, with date-text
// = date-day "-" date-month "-" date-year and date-day = 1*2DIGIT (RFC 9051
// section 9). The date is in UTC, SEARCH compares it in the server's zone.
func (p *parser) xdate() time.Time {
	quoted := p.takeByte('"')
	day := p.xfixedDigits(1, "day")
	if c := p.peek(); c >= '0' && c <= '9' {
		day = day*10 + int(c-'0')
		p.pos++
	}
	p.xbyte('-')
	month := p.xmonth()
	p.xbyte('-')
	year := p.xfixedDigits(4, "year")
	if quoted {
		p.xbyte('"')
	}
	return p.xvalidDate(year, month, day, 0, 0, 0, time.UTC)
}

func (p *parser) xvalidDate(year int, month time.Month, day, hour, min, sec int, loc *time.Location) time.Time {
	t := time.Date(year, month, day, hour, min, sec, 0, loc)
	if t.Day() != day || hour > 23 || min > 59 || sec > 60 {
		p.xerrorf("", "invalid date")
	}
	return t
}

// xdateTime reads a date-time: DQUOTE date-day-fixed "-" date-month "-"
// date-year SP time SP zone DQUOTE, date-day-fixed = (SP DIGIT) / 2DIGIT,
// zone = ("+" / "-") 4DIGIT (RFC 9051 section 9). A single-digit day
// without its space is accepted too.
func (p *parser) xdateTime() time.Time {
	p.xbyte('"')
	p.takeByte(' ')
	day := p.xfixedDigits(1, "day")
	if c := p.peek(); c >= '0' && c <= '9' {
		day = day*10 + int(c-'0')
		p.pos++
	}
	p.xbyte('-')
	month := p.xmonth()
	p.xbyte('-')
	year := p.xfixedDigits(4, "year")
	p.xsp()
	hour := p.xfixedDigits(2, "hour")
	p.xbyte(':')
	min := p.xfixedDigits(2, "minute")
	p.xbyte(':')
	sec := p.xfixedDigits(2, "second")
	p.xsp()
	sign := 1
	switch {
	case p.takeByte('+'):
	case p.takeByte('-'):
		sign = -1
	default:
		p.xexpected("zone")
	}
	zh := p.xfixedDigits(2, "zone")
	zm := p.xfixedDigits(2, "zone")
	if zm > 59 {
		p.xerrorf("", "invalid zone")
	}
	p.xbyte('"')
	off := sign * (zh*3600 + zm*60)
	return p.xvalidDate(year, month, day, hour, min, sec, time.FixedZone("", off))
}

// xnumSet reads a sequence-set (RFC 9051 section 9), with "$" for the
// saved search result (RFC 5182 section 2.1: sequence-set =/
// seq-last-command).
func (p *parser) xnumSet() NumSet {
	var s NumSet
	for {
		if p.takeByte('$') {
			s.SearchResult = true
		} else {
			r := NumRange{First: p.xseqNumber()}
			r.Last = r.First
			if p.takeByte(':') {
				r.Last = p.xseqNumber()
			}
			s.Ranges = append(s.Ranges, r)
		}
		if !p.takeByte(',') {
			return s
		}
	}
}

// xseqNumber reads a seq-number: nz-number / "*".
func (p *parser) xseqNumber() uint32 {
	if p.takeByte('*') {
		return Star
	}
	if c := p.peek(); c < '0' || c > '9' {
		p.xexpected("sequence set")
	}
	return p.xnznumber()
}

// isSeqSetStart reports whether a sequence set comes next.
func (p *parser) isSeqSetStart() bool {
	c := p.peek()
	return c >= '0' && c <= '9' || c == '*' || c == '$'
}

// xbase64 decodes a SASL initial response or continuation (RFC 4959
// section 3, RFC 9051 section 6.2.2): "=" is an empty response.
func (p *parser) xbase64(s string) []byte {
	if s == "=" {
		return []byte{}
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		p.xerrorf("", "invalid base64 initial response")
	}
	return b
}
