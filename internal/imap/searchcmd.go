package imap

import (
	"errors"
	"slices"
	"strconv"
	"time"

	"github.com/petrelmail/petrel/internal/fts"
	"github.com/petrelmail/petrel/internal/imap/search"
	"github.com/petrelmail/petrel/internal/imap/wire"
	"github.com/petrelmail/petrel/internal/message"
	"github.com/petrelmail/petrel/internal/replication"
	"github.com/petrelmail/petrel/internal/store"
)

// loader gives package search the metadata and the raw message of the
// message being looked at. With keep, metadata stays available after the
// store's row moved on (SORT and THREAD look at it after the scan).
type loader struct {
	s    *session
	cur  *store.MessageMeta
	meta *message.Meta
	keep map[uint32]*message.Meta
	hash map[uint32]store.MessageMeta
	// docs holds the searchable text of candidate bodies, from the index;
	// lazyMeta says that the rows were read without metadata.
	docs     map[int64]*fts.Doc
	lazyMeta bool
}

// Doc returns the message's searchable text from the index, if loaded.
func (l *loader) Doc(m *search.Message) *fts.Doc {
	if l.docs == nil || l.cur == nil || l.cur.UID != m.UID {
		return nil
	}
	return l.docs[l.cur.BodyID]
}

func (l *loader) Meta(m *search.Message) (*message.Meta, error) {
	if l.keep != nil {
		if meta, ok := l.keep[m.UID]; ok {
			return meta, nil
		}
	}
	if l.cur == nil || l.cur.UID != m.UID {
		return nil, errors.New("imap: message metadata not loaded")
	}
	if l.cur.Meta == nil && l.lazyMeta {
		b, err := l.s.mb.Shard().BodyMeta(l.s.ctx(), l.cur.BodyID)
		if err != nil {
			return nil, err
		}
		l.cur.Meta = b
	}
	if l.cur.Meta == nil {
		return nil, errors.New("imap: message metadata not loaded")
	}
	if l.meta == nil {
		var err error
		if l.keep != nil {
			l.meta, err = message.Unmarshal(l.cur.Meta)
		} else {
			l.meta, err = message.UnmarshalAlias(l.cur.Meta)
		}
		if err != nil {
			return nil, err
		}
		if l.keep != nil {
			l.keep[m.UID] = l.meta
		}
	}
	return l.meta, nil
}

func (l *loader) Raw(m *search.Message) ([]byte, error) {
	var h store.MessageMeta
	if l.cur != nil && l.cur.UID == m.UID {
		h = *l.cur
	} else if hm, ok := l.hash[m.UID]; ok {
		h = hm
	} else {
		return nil, errors.New("imap: message not loaded")
	}
	f, err := l.s.srv.store.Blobs().Open(h.Body)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	buf := make([]byte, h.Size)
	_, err = f.ReadAt(buf, 0)
	return buf, err
}

// scan runs the search keys over the selected folder's messages, in UID
// order, calling found for each match. With keep, the matches' metadata is
// kept for the caller (SORT, THREAD).
func (s *session) scan(keys []wire.SearchKey, charset string, level search.Level, keep bool,
	found func(m *search.Message, l *loader) error) error {
	sel := s.sel
	maxSeq, maxUID := sel.maxSeqUID()
	ctx := search.Context{MaxSeq: maxSeq, MaxUID: maxUID, Saved: s.saved, Now: time.Now(), Charset: charset,
		SeqOfUID: func(u uint32) uint32 {
			if i, ok := sel.index(u); ok {
				return uint32(i + 1)
			}
			return 0
		}}
	if err := checkSeqSets(keys, maxSeq); err != nil {
		return err
	}
	matcher, err := search.Compile(keys, ctx)
	if err != nil {
		return searchError(err)
	}
	if sel.uids.Len() == 0 {
		return nil
	}
	cand := s.candidates(matcher)
	l := &loader{s: s}
	if keep {
		l.keep = map[uint32]*message.Meta{}
		l.hash = map[uint32]store.MessageMeta{}
	}
	visit := func(m *store.MessageMeta) error {
		i, in := sel.index(m.UID)
		if !in {
			return nil
		}
		if _, gone := slices.BinarySearch(sel.pending, m.UID); gone {
			return nil
		}
		if cand != nil && !cand.Maybe(m.BodyID, m.ModSeq) {
			return nil
		}
		sm := &search.Message{Seq: uint32(i + 1), UID: m.UID, Flags: m.Flags, Keywords: m.Keywords,
			InternalDate: m.InternalDate, SaveDate: m.SaveDate, Size: m.Size, ModSeq: m.ModSeq,
			EmailID: emailID(m.Body[:])}
		l.cur, l.meta = m, nil
		match, err := matcher.Match(sm, l)
		if err != nil {
			return searchError(err)
		}
		if !match {
			return nil
		}
		if keep {
			if level >= search.NeedMeta {
				if _, err := l.Meta(sm); err != nil {
					return err
				}
			}
			h := *m
			h.Meta = nil
			h.Keywords = slices.Clone(m.Keywords)
			l.hash[m.UID] = h
			sm.Keywords = h.Keywords
		}
		return found(sm, l)
	}
	defer func() { l.cur = nil }()
	if cand != nil {
		// Narrowed by the index: only the candidates and the messages
		// the index may not have yet are read, their text comes from
		// the index, and their metadata is read one by one, only for
		// them.
		rows, err := s.candidateRows(cand)
		if err != nil {
			return err
		}
		if rows != nil {
			docs, err := s.candidateDocs(cand, rows)
			if err != nil {
				return err
			}
			l.docs, l.lazyMeta = docs, true
			for i := range rows {
				if err := visit(&rows[i]); err != nil {
					return err
				}
			}
			return nil
		}
		// Too many candidates to read one by one: read the folder, and
		// take their text from the index still.
		docs, err := s.candidateDocs(cand, nil)
		if err != nil {
			return err
		}
		l.docs, l.lazyMeta = docs, true
	}
	cols := store.FetchHash // EMAILID and the raw message
	if level >= search.NeedMeta && cand == nil {
		cols = store.FetchMeta
	}
	for m, err := range s.mb.Fetch(s.ctx(), sel.folder.ID, sel.uids.At(0), sel.uids.Last(), cols) {
		if err != nil {
			return err
		}
		if err := visit(m); err != nil {
			return err
		}
	}
	return nil
}

// candidates asks the full-text index which messages may match the text
// keys of a search; nil means every message must be looked at (no index,
// no text key it can use, or an index error, which is logged: the search
// then scans, slower but still right).
func (s *session) candidates(mt *search.Matcher) *replication.Candidates {
	if s.srv.cfg.Index == nil {
		return nil
	}
	cond, ok := mt.IndexCond()
	if !ok {
		return nil
	}
	c, ok, err := s.srv.cfg.Index.Candidates(s.ctx(), s.user.Shard, cond)
	if err != nil {
		s.log.Warn("search index", "err", err)
		return nil
	}
	if !ok {
		return nil
	}
	metricIndexSearches.Inc()
	return &c
}

// candidateRows reads the selected folder's messages that a search
// narrowed by the index must look at: the candidates, and those at or
// above the watermark. It returns nil when there are so many that reading
// the whole folder is cheaper.
func (s *session) candidateRows(cand *replication.Candidates) ([]store.MessageMeta, error) {
	sel := s.sel
	if len(cand.Bodies) > sel.uids.Len()/2 {
		return nil, nil
	}
	uids, err := s.mb.UIDsOf(s.ctx(), sel.folder.ID, cand.Bodies, cand.Watermark)
	if err != nil {
		return nil, err
	}
	rows := make([]store.MessageMeta, 0, len(uids))
	if len(uids) == 0 {
		return rows, nil
	}
	for m, err := range s.mb.FetchUIDs(s.ctx(), sel.folder.ID, uids, store.FetchHash) {
		if err != nil {
			return nil, err
		}
		r := *m
		r.Meta = nil
		r.Keywords = slices.Clone(m.Keywords)
		rows = append(rows, r)
	}
	return rows, nil
}

// candidateDocs loads from the index the searchable text of the candidate
// messages that the index holds (those below the watermark, whose entry
// has the message's hash): of rows, or when rows is nil of the whole
// selected folder.
func (s *session) candidateDocs(cand *replication.Candidates, rows []store.MessageMeta) (map[int64]*fts.Doc, error) {
	want := map[int64][32]byte{}
	add := func(m *store.MessageMeta) {
		if m.ModSeq < cand.Watermark && cand.Maybe(m.BodyID, m.ModSeq) {
			want[m.BodyID] = m.Body
		}
	}
	if rows != nil {
		for i := range rows {
			add(&rows[i])
		}
	} else {
		sel := s.sel
		for m, err := range s.mb.Fetch(s.ctx(), sel.folder.ID, sel.uids.At(0), sel.uids.Last(), store.FetchHash) {
			if err != nil {
				return nil, err
			}
			add(m)
		}
	}
	docs := make(map[int64]*fts.Doc, len(want))
	err := s.srv.cfg.Index.Docs(s.ctx(), s.user.Shard, want, func(id int64, d fts.Doc) bool {
		docs[id] = &d
		return true
	})
	return docs, err
}

// checkSeqSets refuses a sequence-set search key with a number beyond the
// mailbox, as FETCH, STORE and COPY do (RFC 9051 section 9, seq-number: "The
// server should respond with a tagged BAD response to a command that uses a
// message sequence number greater than the number of messages in the
// selected mailbox"). "*" is read as in session.resolve.
func checkSeqSets(keys []wire.SearchKey, maxSeq uint32) error {
	for _, k := range keys {
		if k.Op == "SEQSET" && k.Set != nil {
			for _, hi := range k.Set.All(maxSeq) {
				if hi > maxSeq {
					return bad("", "Invalid message sequence number %d (%d messages)", hi, maxSeq)
				}
			}
		}
		if err := checkSeqSets(k.Keys, maxSeq); err != nil {
			return err
		}
	}
	return nil
}

func emailID(hash []byte) string {
	const digits = "0123456789abcdef"
	b := make([]byte, 1, 25)
	b[0] = 'M'
	for _, c := range hash[:12] {
		b = append(b, digits[c>>4], digits[c&15])
	}
	return string(b)
}

func searchError(err error) error {
	var r *reply
	if errors.As(err, &r) {
		return err
	}
	if errors.Is(err, search.ErrBadCharset) {
		return no("BADCHARSET (UTF-8 US-ASCII)", "Unknown charset")
	}
	return err
}

// hasModSeqKey tells whether a search uses MODSEQ (RFC 7162 section 3.1.5:
// the result then carries the highest MODSEQ of the matches).
func hasModSeqKey(keys []wire.SearchKey) bool {
	for _, k := range keys {
		if k.Op == "MODSEQ" || hasModSeqKey(k.Keys) {
			return true
		}
	}
	return false
}

// cmdSearch runs SEARCH and UID SEARCH (RFC 9051 section 6.4.4) with
// ESEARCH (RFC 4731), SEARCHRES (RFC 5182) and MODSEQ (RFC 7162).
func (s *session) cmdSearch(cmd *wire.Command) error {
	a := cmd.Args.(*wire.Search)
	level := search.Needs(a.Keys)
	modseqKey := hasModSeqKey(a.Keys)
	if modseqKey {
		s.condstore = true
	}
	var seqs, uids []uint32
	var highest int64
	err := s.scan(a.Keys, a.Charset, level, false, func(m *search.Message, _ *loader) error {
		seqs = append(seqs, m.Seq)
		uids = append(uids, m.UID)
		highest = max(highest, m.ModSeq)
		return nil
	})
	if err != nil {
		return err
	}
	nums := seqs
	if cmd.UID {
		nums = uids
	}
	return s.searchResult(cmd, a.Return, nums, uids, highest, modseqKey, false)
}

// searchResult sends a SEARCH or SORT result: the classic response, or
// ESEARCH when RETURN was given or IMAP4rev2 is on (RFC 9051 section
// 7.3.4), and saves it for "$" when asked (RFC 5182).
func (s *session) searchResult(cmd *wire.Command, ret []string, nums, uids []uint32, highest int64, modseq, sorted bool) error {
	if ret == nil && !s.rev2 {
		b := append(s.out, "* "...)
		b = append(b, cmd.Name...)
		for _, n := range nums {
			b = append(b, ' ')
			b = strconv.AppendUint(b, uint64(n), 10)
			if len(b) > flushAt {
				s.out = b
				if err := s.spill(); err != nil {
					return errFatal
				}
				b = s.out
			}
		}
		if modseq && len(nums) > 0 {
			b = append(b, " (MODSEQ "...)
			b = strconv.AppendInt(b, highest, 10)
			b = append(b, ')')
		}
		s.out = append(b, "\r\n"...)
		return nil
	}
	opts := map[string]bool{}
	for _, r := range ret {
		opts[r] = true
	}
	if len(ret) == 0 {
		// RFC 4731 section 3.1: "RETURN ()" is RETURN (ALL).
		opts["ALL"] = true
	}
	if opts["SAVE"] {
		// RFC 5182 section 2.4: with MIN or MAX only those are saved.
		switch {
		case (opts["MIN"] || opts["MAX"]) && !opts["ALL"] && !opts["COUNT"] && len(uids) > 0:
			var saved []uint32
			if opts["MIN"] {
				saved = append(saved, slices.Min(uids))
			}
			if opts["MAX"] {
				saved = append(saved, slices.Max(uids))
			}
			s.saved = saved
		default:
			s.saved = slices.Sorted(slices.Values(uids))
		}
		if len(opts) == 1 {
			// SAVE alone: no ESEARCH response (RFC 5182 section 2.1).
			return nil
		}
	}
	b := append(s.out, `* ESEARCH (TAG `...)
	b = wire.AppendQuoted(b, cmd.Tag)
	b = append(b, ')')
	if cmd.UID {
		b = append(b, " UID"...)
	}
	if len(nums) > 0 {
		if opts["MIN"] {
			b = append(b, " MIN "...)
			if sorted {
				b = strconv.AppendUint(b, uint64(nums[0]), 10)
			} else {
				b = strconv.AppendUint(b, uint64(slices.Min(nums)), 10)
			}
		}
		if opts["MAX"] {
			b = append(b, " MAX "...)
			if sorted {
				b = strconv.AppendUint(b, uint64(nums[len(nums)-1]), 10)
			} else {
				b = strconv.AppendUint(b, uint64(slices.Max(nums)), 10)
			}
		}
	}
	if opts["COUNT"] {
		b = append(b, " COUNT "...)
		b = strconv.AppendInt(b, int64(len(nums)), 10)
	}
	if opts["ALL"] && len(nums) > 0 {
		b = append(b, " ALL "...)
		if sorted {
			for i, n := range nums {
				if i > 0 {
					b = append(b, ',')
				}
				b = strconv.AppendUint(b, uint64(n), 10)
			}
		} else {
			b = search.AppendNumSet(b, nums)
		}
	}
	if modseq && len(nums) > 0 {
		b = append(b, " MODSEQ "...)
		b = strconv.AppendInt(b, highest, 10)
	}
	s.out = append(b, "\r\n"...)
	return nil
}

// cmdSort runs SORT and UID SORT (RFC 5256 section 3, RFC 5957 DISPLAY,
// RFC 5267 ESORT).
func (s *session) cmdSort(cmd *wire.Command) error {
	a := cmd.Args.(*wire.Sort)
	level := max(search.Needs(a.Keys), search.SortNeeds(a.Criteria))
	var msgs []*search.Message
	var l *loader
	var highest int64
	err := s.scan(a.Keys, a.Charset, level, true, func(m *search.Message, ld *loader) error {
		msgs = append(msgs, m)
		l = ld
		highest = max(highest, m.ModSeq)
		return nil
	})
	if err != nil {
		return err
	}
	if len(msgs) > 0 {
		if msgs, err = search.Sort(msgs, a.Criteria, l); err != nil {
			return searchError(err)
		}
	}
	nums := make([]uint32, len(msgs))
	uids := make([]uint32, len(msgs))
	for i, m := range msgs {
		nums[i], uids[i] = m.Seq, m.UID
		if cmd.UID {
			nums[i] = m.UID
		}
	}
	return s.searchResult(cmd, a.Return, nums, uids, highest, hasModSeqKey(a.Keys), true)
}

// cmdThread runs THREAD and UID THREAD (RFC 5256 section 4).
func (s *session) cmdThread(cmd *wire.Command) error {
	a := cmd.Args.(*wire.Thread)
	if a.Algorithm != "REFERENCES" && a.Algorithm != "ORDEREDSUBJECT" {
		return bad("", "Unknown thread algorithm %s", a.Algorithm)
	}
	level := max(search.Needs(a.Keys), search.ThreadNeeds(a.Algorithm))
	var msgs []*search.Message
	var l *loader
	err := s.scan(a.Keys, a.Charset, level, true, func(m *search.Message, ld *loader) error {
		msgs = append(msgs, m)
		l = ld
		return nil
	})
	if err != nil {
		return err
	}
	s.out = append(s.out, "* THREAD"...)
	if len(msgs) > 0 {
		roots, err := search.Thread(msgs, a.Algorithm, l)
		if err != nil {
			return searchError(err)
		}
		s.out = append(s.out, ' ')
		s.out = search.AppendThreads(s.out, roots, cmd.UID)
	}
	s.out = append(s.out, "\r\n"...)
	return nil
}
