package search

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/petrelmail/petrel/internal/fts"
	"github.com/petrelmail/petrel/internal/imap/wire"
	"github.com/petrelmail/petrel/internal/message"
	"github.com/petrelmail/petrel/internal/store"
)

// ErrBadCharset is returned (wrapped) by Compile for a CHARSET it cannot
// convert. The server answers it with
// "NO [BADCHARSET (UTF-8 US-ASCII)]" (RFC 9051 section 6.4.4), listing
// SupportedCharsets.
var ErrBadCharset = errors.New("unsupported search charset")

// SupportedCharsets are the charsets to list in a BADCHARSET response code.
// Compile accepts more: every charset golang.org/x/text/encoding/htmlindex
// or, failing that, ianaindex.MIME knows.
var SupportedCharsets = []string{"UTF-8", "US-ASCII"}

// Context is what Compile needs to know of the mailbox and the command.
type Context struct {
	// MaxSeq is the value of "*" in a sequence set: the number of
	// messages in the mailbox.
	MaxSeq uint32
	// MaxUID is the value of "*" in a UID set: the largest UID in use.
	MaxUID uint32
	// Saved is the saved search result "$" (RFC 5182) as UIDs, in any
	// order; empty when nothing was saved, and "$" then matches nothing.
	Saved []uint32
	// SeqOfUID maps a UID to its sequence number. It may be nil: Match
	// needs no mapping, because a message is in "$" exactly when its own
	// UID is in Saved, whether "$" appears as a sequence set or in UID.
	SeqOfUID func(uint32) uint32
	// Now is the time OLDER and YOUNGER (RFC 5032) count back from; zero
	// means the time of Compile.
	Now time.Time
	// Charset is the CHARSET of the command, "" when absent (US-ASCII,
	// or UTF-8 for IMAP4rev2). Search strings are converted from it to
	// UTF-8 (RFC 9051 section 6.4.4).
	Charset string
	// NoSaveDate tells that the mailbox does not keep save dates (RFC
	// 8514): SAVEDATESUPPORTED then matches nothing. Petrel's store keeps
	// them, so this is normally false.
	NoSaveDate bool
}

type opcode uint8

const (
	opAll opcode = iota
	opNone
	opFlagSet   // flag bit num is set
	opFlagClear // flag bit num is clear
	opKeyword
	opUnkeyword
	opLarger
	opSmaller
	opSeq
	opUID
	opBefore
	opOn
	opSince
	opSentBefore
	opSentOn
	opSentSince
	opSavedBefore
	opSavedOn
	opSavedSince
	opOlder
	opYounger
	opModSeq
	opEmailID
	opThreadID
	opAddr
	opSubject
	opHeader
	opBody
	opText
	opAnd
	opOr
	opNot
)

// Address fields of opAddr.
const (
	addrFrom = iota
	addrTo
	addrCc
	addrBcc
)

// node is one compiled search key.
type node struct {
	op    opcode
	level Level
	num   int64     // flag bit, size, date (civil), mod-sequence, address field
	t     time.Time // OLDER/YOUNGER threshold
	str   string    // folded search string, keyword, object ID
	field string    // HEADER field name
	set   numSet    // SEQSET, UID
	kids  []node    // AND, OR, NOT
}

// Matcher is a compiled search program. It is immutable: one Matcher may
// be used by several goroutines at once.
type Matcher struct {
	root  node
	saved []uint32 // sorted
}

// Compile compiles the search keys of one SEARCH, SORT or THREAD command
// (all of which must match). It returns an error wrapping ErrBadCharset
// for an unknown ctx.Charset, and an error for a key it does not know or
// whose arguments are missing (the wire parser does not produce those).
func Compile(keys []wire.SearchKey, ctx Context) (*Matcher, error) {
	conv, err := charsetConverter(ctx.Charset)
	if err != nil {
		return nil, err
	}
	if ctx.Now.IsZero() {
		ctx.Now = time.Now()
	}
	c := compiler{ctx: &ctx, conv: conv}
	m := &Matcher{}
	m.root, err = c.and(keys)
	if err != nil {
		return nil, err
	}
	m.saved = slices.Clone(ctx.Saved)
	slices.Sort(m.saved)
	return m, nil
}

// charsetConverter returns the conversion of search strings to UTF-8
// (RFC 9051 section 6.4.4: "the specified charset").
func charsetConverter(cs string) (func(string) (string, error), error) {
	if fts.IsUTF8Name(cs) || fts.IsASCIIName(cs) {
		// US-ASCII is a subset of UTF-8; 8-bit strings under it are
		// taken as UTF-8, as IMAP4rev2 clients send.
		return func(s string) (string, error) { return strings.ToValidUTF8(s, "\uFFFD"), nil }, nil
	}
	enc := fts.LookupCharset(cs)
	if enc == nil {
		return nil, fmt.Errorf("%w: %s", ErrBadCharset, cs)
	}
	return func(s string) (string, error) {
		out, err := enc.NewDecoder().String(s)
		if err != nil {
			return "", fmt.Errorf("search string not in charset %s: %w", cs, err)
		}
		return strings.ToValidUTF8(out, "\uFFFD"), nil
	}, nil
}

type compiler struct {
	ctx  *Context
	conv func(string) (string, error)
}

// and compiles keys that must all match. Cheaper keys are evaluated first,
// so that keys needing the metadata or the raw message are only evaluated
// on messages the record-level keys let through.
func (c *compiler) and(keys []wire.SearchKey) (node, error) {
	if len(keys) == 1 {
		return c.key(&keys[0])
	}
	n := node{op: opAnd}
	for i := range keys {
		k, err := c.key(&keys[i])
		if err != nil {
			return node{}, err
		}
		n.kids = append(n.kids, k)
		n.level = max(n.level, k.level)
	}
	slices.SortStableFunc(n.kids, func(a, b node) int { return int(a.level) - int(b.level) })
	return n, nil
}

var flagOps = map[string]struct {
	flag store.Flags
	set  bool
}{
	"ANSWERED": {store.FlagAnswered, true}, "UNANSWERED": {store.FlagAnswered, false},
	"DELETED": {store.FlagDeleted, true}, "UNDELETED": {store.FlagDeleted, false},
	"DRAFT": {store.FlagDraft, true}, "UNDRAFT": {store.FlagDraft, false},
	"FLAGGED": {store.FlagFlagged, true}, "UNFLAGGED": {store.FlagFlagged, false},
	"SEEN": {store.FlagSeen, true}, "UNSEEN": {store.FlagSeen, false},
}

var simpleOps = map[string]opcode{
	"BEFORE": opBefore, "ON": opOn, "SINCE": opSince,
	"SENTBEFORE": opSentBefore, "SENTON": opSentOn, "SENTSINCE": opSentSince,
	"SAVEDBEFORE": opSavedBefore, "SAVEDON": opSavedOn, "SAVEDSINCE": opSavedSince,
	"LARGER": opLarger, "SMALLER": opSmaller, "MODSEQ": opModSeq,
	"KEYWORD": opKeyword, "UNKEYWORD": opUnkeyword,
	"EMAILID": opEmailID, "THREADID": opThreadID,
}

var addrOps = map[string]int64{"FROM": addrFrom, "TO": addrTo, "CC": addrCc, "BCC": addrBcc}

func (c *compiler) key(k *wire.SearchKey) (node, error) {
	n := node{level: keyLevel(k)}
	if f, ok := flagOps[k.Op]; ok {
		n.op, n.num = opFlagClear, int64(f.flag)
		if f.set {
			n.op = opFlagSet
		}
		return n, nil
	}
	if op, ok := simpleOps[k.Op]; ok {
		n.op, n.num, n.str = op, k.Number, k.Value
		switch op {
		case opBefore, opOn, opSince, opSentBefore, opSentOn, opSentSince, opSavedBefore, opSavedOn, opSavedSince:
			// The date is midnight UTC: its calendar date is the key's.
			n.num = int64(civil(k.Date.UTC()))
		}
		return n, nil
	}
	switch k.Op {
	case "ALL", "OLD":
		// OLD is NOT RECENT (RFC 3501 section 6.4.4); Petrel has no
		// \Recent, so it is every message.
		n.op = opAll
	case "NEW", "RECENT":
		// NEW is RECENT UNSEEN: nothing without \Recent.
		n.op = opNone
	case "SAVEDATESUPPORTED":
		// RFC 8514 section 4.3: all messages when the mailbox keeps save
		// dates, else none.
		n.op = opAll
		if c.ctx.NoSaveDate {
			n.op = opNone
		}
	case "OLDER", "YOUNGER":
		// RFC 5032 section 3: the interval counts back from now.
		n.op, n.t = opOlder, c.ctx.Now.Add(-time.Duration(k.Number)*time.Second)
		if k.Op == "YOUNGER" {
			n.op = opYounger
		}
	case "SEQSET", "UID":
		if k.Set == nil {
			return node{}, fmt.Errorf("search key %s without a set", k.Op)
		}
		n.op, n.set = opSeq, compileSet(*k.Set, c.ctx.MaxSeq)
		if k.Op == "UID" {
			n.op, n.set = opUID, compileSet(*k.Set, c.ctx.MaxUID)
		}
	case "FROM", "TO", "CC", "BCC", "SUBJECT", "BODY", "TEXT", "HEADER":
		v, err := c.conv(k.Value)
		if err != nil {
			return node{}, err
		}
		n.str = fts.Fold(v)
		switch k.Op {
		case "SUBJECT":
			n.op = opSubject
		case "BODY":
			n.op = opBody
		case "TEXT":
			n.op = opText
		case "HEADER":
			n.op, n.field = opHeader, k.Field
		default:
			n.op, n.num = opAddr, addrOps[k.Op]
		}
		if n.str == "" && (n.op == opBody || n.op == opText) {
			n.op = opAll
		}
	case "AND":
		if len(k.Keys) == 0 {
			return node{}, errors.New("empty search key list")
		}
		return c.and(k.Keys)
	case "OR", "NOT":
		want := 2
		n.op = opOr
		if k.Op == "NOT" {
			want, n.op = 1, opNot
		}
		if len(k.Keys) != want {
			return node{}, fmt.Errorf("search key %s takes %d keys", k.Op, want)
		}
		for i := range k.Keys {
			kid, err := c.key(&k.Keys[i])
			if err != nil {
				return node{}, err
			}
			n.kids = append(n.kids, kid)
		}
		if n.op == opOr && n.kids[1].level < n.kids[0].level {
			n.kids[0], n.kids[1] = n.kids[1], n.kids[0]
		}
	default:
		return node{}, fmt.Errorf("unknown search key %s", k.Op)
	}
	return n, nil
}

// Level returns how much of a message Match needs, as Needs.
func (mt *Matcher) Level() Level {
	return mt.root.level
}

// state is what Match has loaded of one message.
type state struct {
	m        *Message
	l        Loader
	meta     *message.Meta
	raw      []byte
	rawDone  bool
	body     []string // fts.Doc.Body: the folded texts of BODY
	bodyDone bool
	hdr      string // fts.Doc.Header: the folded top-level header of TEXT
	hdrDone  bool
}

func (s *state) loadMeta() (*message.Meta, error) {
	if s.meta == nil {
		m, err := s.l.Meta(s.m)
		if err != nil {
			return nil, err
		}
		if m == nil || m.Structure == nil {
			return nil, fmt.Errorf("search: no metadata for message UID %d", s.m.UID)
		}
		s.meta = m
	}
	return s.meta, nil
}

func (s *state) loadRaw() ([]byte, error) {
	if !s.rawDone {
		r, err := s.l.Raw(s.m)
		if err != nil {
			return nil, err
		}
		s.raw, s.rawDone = r, true
	}
	return s.raw, nil
}

// header returns a header block holding every occurrence of the field
// name: the cached header of the metadata when it has them, else the
// whole top-level header of the raw message.
func (s *state) header(name string) ([]byte, error) {
	meta, err := s.loadMeta()
	if err != nil {
		return nil, err
	}
	if message.IsCachedField(name) && !meta.HeaderTruncated {
		return meta.Header, nil
	}
	raw, err := s.loadRaw()
	if err != nil {
		return nil, err
	}
	return headerBlock(raw, meta), nil
}

// Match reports whether message m matches the keys (RFC 9051 section
// 6.4.4: all of them, a message matching every key). It calls l only for
// what the keys need, at most once per method, and never when Level is
// NeedRecord.
func (mt *Matcher) Match(m *Message, l Loader) (bool, error) {
	s := state{m: m, l: l}
	return mt.eval(&mt.root, &s)
}

// eval evaluates a compiled key; the meaning of each key is that of RFC
// 9051 section 6.4.4 unless noted.
func (mt *Matcher) eval(n *node, s *state) (bool, error) {
	m := s.m
	switch n.op {
	case opAll:
		return true, nil
	case opNone:
		return false, nil
	case opFlagSet:
		return m.Flags&store.Flags(n.num) != 0, nil
	case opFlagClear:
		return m.Flags&store.Flags(n.num) == 0, nil
	case opKeyword, opUnkeyword:
		// Keywords compare case-insensitively, as flags do.
		has := slices.ContainsFunc(m.Keywords, func(k string) bool { return strings.EqualFold(k, n.str) })
		return has == (n.op == opKeyword), nil
	case opLarger:
		// RFC822.SIZE larger (strictly) than n, SMALLER strictly smaller.
		return m.Size > n.num, nil
	case opSmaller:
		return m.Size < n.num, nil
	case opSeq:
		// "$" (RFC 5182 section 2.1) is the saved UIDs, whether it
		// appears as a sequence set or after UID.
		return n.set.contains(m.Seq) || n.set.saved && mt.inSaved(m.UID), nil
	case opUID:
		return n.set.contains(m.UID) || n.set.saved && mt.inSaved(m.UID), nil
	case opBefore:
		// Internal date "disregarding time and timezone": its calendar
		// date in the zone it is stored in.
		return int64(civil(m.InternalDate)) < n.num, nil
	case opOn:
		return int64(civil(m.InternalDate)) == n.num, nil
	case opSince:
		return int64(civil(m.InternalDate)) >= n.num, nil
	case opSavedBefore, opSavedOn, opSavedSince:
		// RFC 8514 section 4.3, like BEFORE, ON and SINCE on the save
		// date; the internal date for a message without one.
		t := m.SaveDate
		if t.IsZero() {
			t = m.InternalDate
		}
		d := int64(civil(t))
		return n.op == opSavedBefore && d < n.num || n.op == opSavedOn && d == n.num || n.op == opSavedSince && d >= n.num, nil
	case opSentBefore, opSentOn, opSentSince:
		// The calendar date written in the Date header, in its own zone;
		// the internal date when there is no parseable one (Dovecot).
		meta, err := s.loadMeta()
		if err != nil {
			return false, err
		}
		d := int64(civil(sentDate(m, meta.Envelope.Date)))
		return n.op == opSentBefore && d < n.num || n.op == opSentOn && d == n.num || n.op == opSentSince && d >= n.num, nil
	case opOlder:
		// RFC 5032 section 3: older than the interval; YOUNGER is the
		// complement.
		return m.InternalDate.Before(n.t), nil
	case opYounger:
		return !m.InternalDate.Before(n.t), nil
	case opModSeq:
		// RFC 7162 section 3.1.5: mod-sequence at least the value. The
		// entry name and type are ignored: Petrel keeps one
		// mod-sequence per message, which the RFC then says to use.
		return m.ModSeq >= n.num, nil
	case opEmailID:
		// RFC 8474 section 6: exact, case-sensitive object IDs.
		return m.EmailID != "" && m.EmailID == n.str, nil
	case opThreadID:
		return m.ThreadID != "" && m.ThreadID == n.str, nil
	case opSubject:
		meta, err := s.loadMeta()
		if err != nil {
			return false, err
		}
		v := meta.Envelope.Subject
		if v == nil {
			return false, nil
		}
		return matchHeaderValue(v, n.str), nil
	case opAddr:
		return s.matchAddr(n)
	case opHeader:
		// Any occurrence of the field; the empty string tests its
		// presence.
		b, err := s.header(n.field)
		if err != nil {
			return false, err
		}
		if n.str == "" {
			return fieldValues(b, n.field, nil), nil
		}
		matched := false
		fieldValues(b, n.field, func(v []byte) bool {
			matched = matchHeaderValue(v, n.str)
			return !matched
		})
		return matched, nil
	case opBody, opText:
		return s.matchText(n)
	case opAnd:
		for i := range n.kids {
			if ok, err := mt.eval(&n.kids[i], s); !ok || err != nil {
				return false, err
			}
		}
		return true, nil
	case opOr:
		for i := range n.kids {
			if ok, err := mt.eval(&n.kids[i], s); ok || err != nil {
				return ok, err
			}
		}
		return false, nil
	case opNot:
		ok, err := mt.eval(&n.kids[0], s)
		return !ok && err == nil, err
	}
	return false, fmt.Errorf("search: bad opcode %d", n.op)
}

func (mt *Matcher) inSaved(uid uint32) bool {
	_, found := slices.BinarySearch(mt.saved, uid)
	return found
}

// matchHeaderValue matches a raw header value, decoding it only when it
// has encoded words or 8-bit text.
func matchHeaderValue(v []byte, needle string) bool {
	if isASCII(v) && !bytes.Contains(v, []byte("=?")) {
		return containsFold(v, needle)
	}
	return containsFold(fts.DecodeHeader(v), needle)
}

func (s *state) matchAddr(n *node) (bool, error) {
	meta, err := s.loadMeta()
	if err != nil {
		return false, err
	}
	var list []message.Address
	switch n.num {
	case addrFrom:
		list = meta.Envelope.From
	case addrTo:
		list = meta.Envelope.To
	case addrCc:
		list = meta.Envelope.Cc
	case addrBcc:
		list = meta.Envelope.Bcc
	}
	if len(list) == 0 {
		return false, nil
	}
	return containsFold(addressText(list), n.str), nil
}

// addressText renders an address list for matching (fts.AddressText).
func addressText(list []message.Address) string { return fts.AddressText(list) }

func (s *state) matchText(n *node) (bool, error) {
	if !s.hdrDone || !s.bodyDone {
		// The full-text index may hold the message's text already.
		if dl, ok := s.l.(DocLoader); ok {
			if d := dl.Doc(s.m); d != nil {
				s.hdr, s.body, s.hdrDone, s.bodyDone = d.Header, d.Body, true, true
			}
		}
	}
	if s.hdrDone && s.bodyDone {
		if n.op == opText && strings.Contains(s.hdr, n.str) {
			return true, nil
		}
		d := fts.Doc{Body: s.body}
		return d.MatchBody(n.str), nil
	}
	meta, err := s.loadMeta()
	if err != nil {
		return false, err
	}
	raw, err := s.loadRaw()
	if err != nil {
		return false, err
	}
	// The parts of fts.Extract, computed as they are needed; the
	// matching is that of fts.Doc.MatchText and MatchBody.
	if n.op == opText {
		if !s.hdrDone {
			s.hdr = fts.ExtractHeader(raw, meta)
			s.hdrDone = true
		}
		if strings.Contains(s.hdr, n.str) {
			return true, nil
		}
	}
	if !s.bodyDone {
		s.body = fts.ExtractBody(raw, meta)
		s.bodyDone = true
	}
	d := fts.Doc{Body: s.body}
	return d.MatchBody(n.str), nil
}
