package search

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/petrelmail/petrel/internal/fts"
	"github.com/petrelmail/petrel/internal/message"
)

// ErrUnknownAlgorithm is returned (wrapped) by Thread for a threading
// algorithm other than ORDEREDSUBJECT and REFERENCES. The server answers
// it with BAD or NO, as it answers a THREAD= capability it does not
// advertise.
var ErrUnknownAlgorithm = errors.New("unknown thread algorithm")

// Node is one message of a thread tree. Msg is nil for a dummy node, a
// message that is referenced but was not searched (RFC 5256 section 4,
// REFERENCES): it only appears at the top level, with two or more
// children.
type Node struct {
	// Msg is the message, nil for a dummy.
	Msg *Message
	// Children are the replies, oldest first.
	Children []*Node
}

// threadMsg is what threading needs of a message, computed once.
type threadMsg struct {
	m        *Message
	date     time.Time // sent date, RFC 5256 section 2.2
	subj     string    // case-folded base subject
	refwd    bool      // the subject marks a reply or forward
	id       string    // normalized Message-ID, "" if none
	refs     []string  // References
	parentID string    // last reference, or In-Reply-To
}

// compare orders messages by sent date, then by sequence number (RFC 5256
// section 2.2: "the order in which the two messages appear in the mailbox
// ... is used as a tie-breaker").
func (a *threadMsg) compare(b *threadMsg) int {
	if r := a.date.Compare(b.date); r != 0 {
		return r
	}
	return cmp.Compare(a.m.Seq, b.m.Seq)
}

// Thread threads msgs with the algorithm ORDEREDSUBJECT or REFERENCES
// (RFC 5256 section 4, case-insensitive) and returns the top-level
// threads in order. Loader.Meta is called once per message, Loader.Raw
// only for REFERENCES on a message whose cached header was truncated.
func Thread(msgs []*Message, algorithm string, l Loader) ([]*Node, error) {
	alg := strings.ToUpper(algorithm)
	if alg != "ORDEREDSUBJECT" && alg != "REFERENCES" {
		return nil, fmt.Errorf("%w: %s", ErrUnknownAlgorithm, algorithm)
	}
	tms := make([]*threadMsg, len(msgs))
	for i, m := range msgs {
		tm, err := loadThreadMsg(m, l, alg == "REFERENCES")
		if err != nil {
			return nil, err
		}
		tms[i] = tm
	}
	if alg == "ORDEREDSUBJECT" {
		return orderedSubject(tms), nil
	}
	return references(tms), nil
}

func loadThreadMsg(m *Message, l Loader, refs bool) (*threadMsg, error) {
	meta, err := l.Meta(m)
	if err != nil {
		return nil, err
	}
	if meta == nil {
		meta = &message.Meta{}
	}
	tm := &threadMsg{m: m, date: sentDate(m, meta.Envelope.Date).UTC()}
	base, refwd := baseSubject(fts.DecodeHeader(meta.Envelope.Subject))
	tm.subj, tm.refwd = fts.Fold(base), refwd
	if !refs {
		return tm, nil
	}
	if ids := msgIDs(meta.Envelope.MessageID, 1); len(ids) > 0 {
		tm.id = ids[0]
	}
	hdr := meta.Header
	if meta.HeaderTruncated && meta.Structure != nil {
		raw, err := l.Raw(m)
		if err != nil {
			return nil, err
		}
		hdr = slice(raw, meta.Structure.HeaderStart, meta.Structure.BodyStart)
	}
	tm.refs = msgIDs(fieldValue(hdr, "References"), -1)
	if n := len(tm.refs); n > 0 {
		tm.parentID = tm.refs[n-1]
	} else if ids := msgIDs(meta.Envelope.InReplyTo, 1); len(ids) > 0 {
		tm.parentID = ids[0]
	}
	return tm, nil
}

// msgIDs returns up to limit (all if negative) valid message IDs of a
// field value (RFC 5322 section 3.6.4), normalized as RFC 5256 section 4
// requires: quoting and blanks removed, so that <"a b"@x> is <ab@x>
// and <"01KF8JCEOCBS0045PS"@xxx.yyy.com> is <01KF8JCEOCBS0045PS@xxx.yyy.com>.
// A valid ID has a non-empty left and right part around an "@".
func msgIDs(v []byte, limit int) []string {
	var out []string
	for len(v) > 0 && limit != 0 {
		lt := bytes.IndexByte(v, '<')
		if lt < 0 {
			break
		}
		v = v[lt+1:]
		gt := bytes.IndexByte(v, '>')
		if gt < 0 {
			break
		}
		id, ok := normalizeID(v[:gt])
		v = v[gt+1:]
		if ok {
			out = append(out, id)
			limit--
		}
	}
	return out
}

func normalizeID(b []byte) (string, bool) {
	var s strings.Builder
	s.Grow(len(b) + 2)
	s.WriteByte('<')
	quoted := false
	for i := 0; i < len(b); i++ {
		switch c := b[i]; {
		case c == '"':
			quoted = !quoted
		case c == '\\' && quoted && i+1 < len(b):
			i++
			s.WriteByte(b[i])
		case c == ' ' || c == '\t' || c == '\r' || c == '\n':
		default:
			s.WriteByte(c)
		}
	}
	s.WriteByte('>')
	id := s.String()
	at := strings.LastIndexByte(id, '@')
	return id, at > 1 && at < len(id)-2
}

// orderedSubject is ORDEREDSUBJECT (RFC 5256 section 4): messages sorted
// by base subject then sent date, split into one thread per base subject
// whose first message is the root and the others its children; threads
// ordered by the sent date of their first message.
func orderedSubject(tms []*threadMsg) []*Node {
	slices.SortFunc(tms, func(a, b *threadMsg) int {
		if r := strings.Compare(a.subj, b.subj); r != 0 {
			return r
		}
		return a.compare(b)
	})
	type thread struct {
		first *threadMsg
		node  *Node
	}
	var threads []thread
	for i := 0; i < len(tms); {
		j := i + 1
		for j < len(tms) && tms[j].subj == tms[i].subj {
			j++
		}
		n := &Node{Msg: tms[i].m}
		for _, tm := range tms[i+1 : j] {
			n.Children = append(n.Children, &Node{Msg: tm.m})
		}
		threads = append(threads, thread{tms[i], n})
		i = j
	}
	slices.SortFunc(threads, func(a, b thread) int { return a.first.compare(b.first) })
	out := make([]*Node, len(threads))
	for i, t := range threads {
		out[i] = t.node
	}
	return out
}

// container is a node of the REFERENCES algorithm; tm is nil for a dummy.
type container struct {
	tm     *threadMsg
	parent *container
	kids   []*container
}

// isAncestorOrSelf reports whether a is c or one of its ancestors.
func isAncestorOrSelf(a, c *container) bool {
	for ; c != nil; c = c.parent {
		if c == a {
			return true
		}
	}
	return false
}

func (c *container) unlink() {
	if p := c.parent; p != nil {
		p.kids = slices.DeleteFunc(p.kids, func(k *container) bool { return k == c })
		c.parent = nil
	}
}

// link makes p the parent of c unless that would make a loop (RFC 5256
// section 4, REFERENCES step 1.A); c has no parent.
func link(p, c *container) {
	if isAncestorOrSelf(c, p) {
		return
	}
	c.parent = p
	p.kids = append(p.kids, c)
}

// first returns the message a container sorts and is named by: its own,
// or for a dummy that of its first child (RFC 5256 section 4, REFERENCES
// steps 4, 5.B.i and 6).
func (c *container) first() *threadMsg {
	for c.tm == nil {
		if len(c.kids) == 0 {
			return nil
		}
		c = c.kids[0]
	}
	return c.tm
}

func compareContainers(a, b *container) int {
	x, y := a.first(), b.first()
	switch {
	case x == nil && y == nil:
		return 0
	case x == nil:
		return 1
	case y == nil:
		return -1
	}
	return x.compare(y)
}

// references is the REFERENCES algorithm of RFC 5256 section 4, steps 1
// to 6.
func references(tms []*threadMsg) []*Node {
	// Step 1 goes in sequence order: the first message with a Message-ID
	// keeps it.
	slices.SortFunc(tms, func(a, b *threadMsg) int { return cmp.Compare(a.m.Seq, b.m.Seq) })
	ids := map[string]*container{}
	var all []*container
	get := func(id string) *container {
		c := ids[id]
		if c == nil {
			c = &container{}
			ids[id] = c
			all = append(all, c)
		}
		return c
	}
	for _, tm := range tms {
		// (1) A message without a valid Message-ID, or with one an
		// earlier message has, gets a unique ID: a container of its
		// own outside the table.
		var c *container
		if tm.id != "" {
			if c = get(tm.id); c.tm != nil {
				c = nil
			}
		}
		if c == nil {
			c = &container{}
			all = append(all, c)
		}
		c.tm = tm
		// (1.A) Link the references as parent and child, in order,
		// keeping existing links and making no loop; unknown IDs are
		// dummies.
		var prev *container
		for _, r := range tm.refs {
			rc := get(r)
			if prev != nil && rc.parent == nil {
				link(prev, rc)
			}
			prev = rc
		}
		// (1.B) The last reference (or In-Reply-To) is the parent of the
		// message, replacing a link made by step 1.A; without one the
		// message is a root.
		c.unlink()
		if tm.parentID != "" {
			link(get(tm.parentID), c)
		}
	}
	// (2) The messages without parents are the children of the root.
	var roots []*container
	for _, c := range all {
		if c.parent == nil {
			roots = append(roots, c)
		}
	}
	// (3) Prune dummies.
	roots = prune(roots, true)
	// (4) Sort the top level by sent date, a dummy by its first child.
	for _, c := range roots {
		if c.tm == nil {
			slices.SortStableFunc(c.kids, compareContainers)
		}
	}
	slices.SortStableFunc(roots, compareContainers)
	// (5) Gather threads with the same base subject.
	roots = mergeSubjects(roots)
	// (6) Sort every set of siblings by sent date, deepest first.
	sortTree(roots)
	slices.SortStableFunc(roots, compareContainers)
	return toNodes(roots)
}

// prune is step 3: a dummy without children is deleted; a dummy with
// children is replaced by them, unless that would put several of them at
// the top level.
func prune(list []*container, top bool) []*container {
	out := list[:0:0]
	for _, c := range list {
		c.kids = prune(c.kids, false)
		if c.tm == nil {
			if len(c.kids) == 0 {
				continue
			}
			if !top || len(c.kids) == 1 {
				for _, k := range c.kids {
					k.parent = c.parent
				}
				out = append(out, c.kids...)
				continue
			}
		}
		out = append(out, c)
	}
	return out
}

// mergeSubjects is step 5.
func mergeSubjects(roots []*container) []*container {
	subject := func(c *container) string {
		if f := c.first(); f != nil {
			return f.subj
		}
		return ""
	}
	// (5.A, 5.B) The subject table: per base subject, a dummy if there
	// is one, else a message that is not a reply or forward if there is
	// one, else the first.
	table := map[string]*container{}
	for _, c := range roots {
		s := subject(c)
		if s == "" {
			continue
		}
		t := table[s]
		if t == nil || t.tm != nil && (c.tm == nil || t.tm.refwd && !c.tm.refwd) {
			table[s] = c
		}
	}
	// (5.C) Merge the threads with the same subject.
	index := make(map[*container]int, len(roots))
	for i, c := range roots {
		index[c] = i
	}
	for i := 0; i < len(roots); i++ {
		c := roots[i]
		if c == nil {
			continue
		}
		s := subject(c)
		t := table[s]
		if s == "" || t == c {
			continue
		}
		switch {
		case t.tm == nil && c.tm == nil:
			// Both dummies: the children become siblings.
			for _, k := range c.kids {
				k.parent = t
			}
			t.kids = append(t.kids, c.kids...)
		case t.tm == nil || c.tm != nil && c.tm.refwd && !t.tm.refwd:
			// Under a dummy, or a reply under the original.
			c.parent = t
			t.kids = append(t.kids, c)
		default:
			// Siblings under a new dummy that takes the place of the
			// table's message.
			d := &container{kids: []*container{t, c}}
			t.parent, c.parent = d, d
			j := index[t]
			roots[j], index[d] = d, j
			table[s] = d
		}
		roots[i] = nil
	}
	return slices.DeleteFunc(roots, func(c *container) bool { return c == nil })
}

// sortTree sorts the children of every container, deepest first.
func sortTree(list []*container) {
	for _, c := range list {
		sortTree(c.kids)
		slices.SortStableFunc(c.kids, compareContainers)
	}
}

func toNodes(list []*container) []*Node {
	if len(list) == 0 {
		return nil
	}
	out := make([]*Node, len(list))
	for i, c := range list {
		n := &Node{Children: toNodes(c.kids)}
		if c.tm != nil {
			n.Msg = c.tm.m
		}
		out[i] = n
	}
	return out
}

// AppendThreads appends the thread-list of RFC 5256 section 5 for the
// threads roots, numbering messages by UID when uid is set and by
// sequence number otherwise:
//
//	thread-data    = "THREAD" [SP 1*thread-list]
//	thread-list    = "(" (thread-members / thread-nested) ")"
//	thread-members = nz-number *(SP nz-number) [SP thread-nested]
//	thread-nested  = 2*thread-list
//
// A message with one reply continues the chain, "(1 2 3)"; one with
// several replies ends it with a parenthesized subthread per reply,
// "(3 (4)(5 6))"; a dummy contributes only its children, "((1)(2))".
// Dummies without messages below them are left out.
func AppendThreads(b []byte, roots []*Node, uid bool) []byte {
	for _, n := range roots {
		if !hasMessage(n) {
			continue
		}
		b = append(b, '(')
		b = appendMembers(b, n, true, uid)
		b = append(b, ')')
	}
	return b
}

// appendMembers appends the content of a thread-list for node n: its
// number, then its single child's members, or a thread-list per child.
// first tells that nothing precedes it in the list.
func appendMembers(b []byte, n *Node, first, uid bool) []byte {
	for {
		if n.Msg != nil {
			if !first {
				b = append(b, ' ')
			}
			num := n.Msg.Seq
			if uid {
				num = n.Msg.UID
			}
			b = strconv.AppendUint(b, uint64(num), 10)
			first = false
		}
		var only *Node
		count := 0
		for _, k := range n.Children {
			if hasMessage(k) {
				only = k
				count++
			}
		}
		switch count {
		case 0:
			return b
		case 1:
			n = only // the chain goes on
			continue
		}
		if !first {
			b = append(b, ' ')
		}
		for _, k := range n.Children {
			if hasMessage(k) {
				b = append(b, '(')
				b = appendMembers(b, k, true, uid)
				b = append(b, ')')
			}
		}
		return b
	}
}

// hasMessage reports whether n or a descendant is a message.
func hasMessage(n *Node) bool {
	if n.Msg != nil {
		return true
	}
	return slices.ContainsFunc(n.Children, hasMessage)
}
