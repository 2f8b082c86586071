package fts

import (
	"context"
	"fmt"
	"runtime"
	"slices"
)

// Column is the part of a Doc a Term looks in.
//
// The index keeps two token lists per body in one FTS5 column: the
// trigrams of the header and body texts, and, marked apart, those of the
// fields (see gramKey and docTokens). FTS5 cannot filter the columns of a
// detail=none table, and one column is the smallest layout measured (see
// docs/design.md), so the marking is in the tokens themselves. ColAny,
// ColHeader and ColBody narrow by the first list, ColFields by the second;
// the verification against the stored Doc tells header from body.
type Column int

const (
	// ColAny is any text of the Doc: TEXT (Header and Body).
	ColAny Column = iota
	// ColHeader is Header: HEADER.
	ColHeader
	// ColBody is Body: BODY.
	ColBody
	// ColFields is Fields: SUBJECT, FROM, TO, CC, BCC (and the file
	// names of attachments).
	ColFields
)

// CondOp is the kind of a Cond.
type CondOp int

const (
	// Term: the column contains Needle.
	Term CondOp = iota
	// And: every one of Kids holds.
	And
	// Or: at least one of Kids holds.
	Or
)

// Cond is a boolean condition on the text of a body. Negations have no
// place in it: a NOT narrows nothing, and the caller leaves it out (or
// gives up narrowing the Or it is in).
type Cond struct {
	Op     CondOp
	Col    Column
	Needle string // folded (Fold)
	Kids   []Cond
}

// plan is a Cond reduced to what narrows: nil when nothing does.
type plan struct {
	op     CondOp
	keys   []uint32 // Term: all of them
	kids   []*plan  // And, Or
	height int
}

// nothing is the plan of an Or without kids, which no body satisfies.
var nothing = &plan{op: Or}

func planOf(c *Cond) *plan {
	switch c.Op {
	case Term:
		keys := needleKeys(c.Needle)
		if len(keys) == 0 {
			return nil // fewer than three runes: every body may match
		}
		if c.Col == ColFields {
			for i := range keys {
				keys[i] |= fieldBit
			}
		}
		return &plan{op: Term, keys: keys, height: 1}
	case And:
		p := &plan{op: And}
		var keys []uint32
		for i := range c.Kids {
			k := planOf(&c.Kids[i])
			switch {
			case k == nil:
				// Dropped: the others narrow (or nothing does).
			case k == nothing:
				return nothing
			case k.op == Term:
				keys = append(keys, k.keys...)
			case k.op == And:
				keys = append(keys, k.keys...)
				p.kids = append(p.kids, k.kids...)
			default:
				p.kids = append(p.kids, k)
			}
		}
		if len(keys) > 0 {
			slices.Sort(keys)
			keys = slices.Compact(keys)
			p.keys = keys
		}
		if len(p.kids) == 0 {
			if keys == nil {
				return nil
			}
			return &plan{op: Term, keys: keys, height: 1}
		}
		if keys == nil && len(p.kids) == 1 {
			return p.kids[0]
		}
		p.height = 1
		for _, k := range p.kids {
			p.height = max(p.height, k.height+1)
		}
		return p
	case Or:
		p := &plan{op: Or}
		for i := range c.Kids {
			k := planOf(&c.Kids[i])
			switch {
			case k == nil:
				return nil // that side may match anything
			case k == nothing:
			case k.op == Or:
				p.kids = append(p.kids, k.kids...)
			default:
				p.kids = append(p.kids, k)
			}
		}
		switch len(p.kids) {
		case 0:
			return nothing
		case 1:
			return p.kids[0]
		}
		for _, k := range p.kids {
			p.height = max(p.height, k.height+1)
		}
		return p
	}
	return nil
}

// maxExprHeight bounds the nesting of one MATCH expression (FTS5 refuses
// more than 256); deeper plans are evaluated a level at a time.
const maxExprHeight = 32

// appendExpr appends the FTS5 query of p. Tokens are lower-case letters
// and digits: barewords that need no quoting and are never keywords.
func appendExpr(b []byte, p *plan) []byte {
	b = append(b, '(')
	n := 0
	sep := func() {
		if n > 0 {
			if p.op == Or {
				b = append(b, " OR "...)
			} else {
				b = append(b, " AND "...)
			}
		}
		n++
	}
	for _, k := range p.keys {
		sep()
		b = appendToken(b, k)
	}
	for _, k := range p.kids {
		sep()
		b = appendExpr(b, k)
	}
	return append(b, ')')
}

// Query returns the sorted IDs of the indexed bodies that may satisfy c:
// every indexed body that satisfies it is among them. ok is false when c
// cannot narrow (a Term whose needle has fewer than three runes, on which
// the others do not depend): the caller must then consider every body.
// Bodies not indexed yet are never returned: the caller looks at them
// itself.
func (ix *Index) Query(ctx context.Context, c Cond) (ids []int64, ok bool, err error) {
	p := planOf(&c)
	if p == nil || ix.Stale() {
		return nil, false, nil
	}
	ids, err = ix.eval(ctx, p)
	return ids, err == nil, err
}

func (ix *Index) eval(ctx context.Context, p *plan) ([]int64, error) {
	if p == nothing {
		return []int64{}, nil
	}
	if p.height <= maxExprHeight {
		return ix.match(ctx, string(appendExpr(nil, p)))
	}
	var acc []int64
	if len(p.keys) > 0 {
		var err error
		if acc, err = ix.match(ctx, string(appendExpr(nil, &plan{op: Term, keys: p.keys}))); err != nil {
			return nil, err
		}
	}
	for i, k := range p.kids {
		ids, err := ix.eval(ctx, k)
		if err != nil {
			return nil, err
		}
		switch {
		case i == 0 && len(p.keys) == 0:
			acc = ids
		case p.op == Or:
			acc = union(acc, ids)
		default:
			acc = intersect(acc, ids)
		}
	}
	return acc, nil
}

func (ix *Index) match(ctx context.Context, expr string) ([]int64, error) {
	rows, err := ix.db.Read.QueryContext(ctx, `SELECT rowid FROM grams WHERE grams MATCH ? ORDER BY rowid`, expr)
	if err != nil {
		return nil, fmt.Errorf("fts: query %.200q: %w", expr, err)
	}
	defer rows.Close()
	ids := []int64{}
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

func intersect(a, b []int64) []int64 {
	out := a[:0:0]
	for i, j := 0, 0; i < len(a) && j < len(b); {
		switch {
		case a[i] < b[j]:
			i++
		case a[i] > b[j]:
			j++
		default:
			out = append(out, a[i])
			i++
			j++
		}
	}
	return out
}

func union(a, b []int64) []int64 {
	out := make([]int64, 0, len(a)+len(b))
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		switch {
		case a[i] < b[j]:
			out = append(out, a[i])
			i++
		case a[i] > b[j]:
			out = append(out, b[j])
			j++
		default:
			out = append(out, a[i])
			i++
			j++
		}
	}
	out = append(out, a[i:]...)
	return append(out, b[j:]...)
}

// docsChunk is how many stored texts one query of Docs reads.
const docsChunk = 256

// Docs calls fn with the stored Doc of each of ids that is indexed, in
// ascending ID order, until fn returns false; ids must be sorted. The texts
// are read by one goroutine and decompressed by one per CPU while fn runs;
// fn is called from the calling goroutine.
func (ix *Index) Docs(ctx context.Context, ids []int64, fn func(id int64, d Doc) bool) error {
	type item struct {
		id     int64
		stored []byte
		doc    Doc
		err    error
		done   chan struct{}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ordered := make(chan *item, 2*docsChunk)
	work := make(chan *item, 2*docsChunk)
	var readErr error
	go func() {
		defer close(ordered)
		defer close(work)
		for len(ids) > 0 {
			if readErr = ctx.Err(); readErr != nil {
				return
			}
			chunk := ids[:min(len(ids), docsChunk)]
			ids = ids[len(chunk):]
			if readErr = ix.readTexts(ctx, chunk, func(id int64, stored []byte) {
				it := &item{id: id, stored: stored, done: make(chan struct{})}
				ordered <- it
				work <- it
			}); readErr != nil {
				return
			}
		}
	}()
	for range runtime.GOMAXPROCS(0) {
		go func() {
			var buf []byte
			for it := range work {
				// The Doc's strings are copies: buf can be reused.
				it.doc, buf, it.err = decodeDoc(it.stored, buf)
				it.stored = nil
				close(it.done)
			}
		}()
	}
	var err error
	stopped := false // by fn or an error: the reader's error is then ours
	for it := range ordered {
		<-it.done
		if it.err != nil {
			err = fmt.Errorf("fts: body %d: %w", it.id, it.err)
		}
		if err != nil || !fn(it.id, it.doc) {
			stopped = true
			break
		}
	}
	cancel()
	for range ordered {
		// Let the reader see the cancellation and stop.
	}
	if err == nil && !stopped {
		err = readErr // set before ordered was closed
	}
	return err
}

// readTexts calls fn with the stored text of each of ids (sorted) that is
// indexed, in order.
func (ix *Index) readTexts(ctx context.Context, ids []int64, fn func(id int64, stored []byte)) error {
	rows, err := ix.db.Read.QueryContext(ctx, `SELECT body_id, text FROM texts WHERE body_id IN (SELECT value FROM json_each(?)) ORDER BY body_id`, idList(ids))
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var stored []byte
		if err := rows.Scan(&id, &stored); err != nil {
			return err
		}
		fn(id, stored)
	}
	return rows.Err()
}
