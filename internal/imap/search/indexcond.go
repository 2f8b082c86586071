package search

import "github.com/petrelmail/petrel/internal/fts"

// IndexCond returns a condition on the full-text index that every message
// matching the program satisfies, for the index to narrow the messages to
// look at; ok is false when the program has none (it matches messages on
// other grounds, or negates a text key). The program is still run on every
// message the index keeps: the condition only narrows, it never decides.
//
// Which index column holds what a key compares (see fts.Doc): BODY is in
// the body texts; HEADER in the header (per-field decoded); SUBJECT, FROM,
// TO, CC and BCC in the fields (the envelope renderings); TEXT in the
// header or the body.
func (mt *Matcher) IndexCond() (fts.Cond, bool) { return indexCond(&mt.root) }

func indexCond(n *node) (fts.Cond, bool) {
	term := func(col fts.Column) (fts.Cond, bool) {
		if n.str == "" {
			return fts.Cond{}, false // matches every message, or tests a field's presence
		}
		return fts.Cond{Op: fts.Term, Col: col, Needle: n.str}, true
	}
	switch n.op {
	case opBody:
		return term(fts.ColBody)
	case opText:
		return term(fts.ColAny)
	case opSubject, opAddr:
		return term(fts.ColFields)
	case opHeader:
		return term(fts.ColHeader)
	case opAnd:
		var kids []fts.Cond
		for i := range n.kids {
			if c, ok := indexCond(&n.kids[i]); ok {
				kids = append(kids, c)
			}
		}
		switch len(kids) {
		case 0:
			return fts.Cond{}, false
		case 1:
			return kids[0], true
		}
		return fts.Cond{Op: fts.And, Kids: kids}, true
	case opOr:
		var kids []fts.Cond
		for i := range n.kids {
			c, ok := indexCond(&n.kids[i])
			if !ok {
				return fts.Cond{}, false // that branch can match anything
			}
			kids = append(kids, c)
		}
		if len(kids) == 1 {
			return kids[0], true
		}
		return fts.Cond{Op: fts.Or, Kids: kids}, true
	}
	return fts.Cond{}, false
}
