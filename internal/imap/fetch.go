package imap

import (
	"errors"
	"io"
	"os"
	"slices"
	"strconv"

	"github.com/petrelmail/petrel/internal/imap/render"
	"github.com/petrelmail/petrel/internal/imap/wire"
	"github.com/petrelmail/petrel/internal/message"
	"github.com/petrelmail/petrel/internal/store"
)

// fetchPlan is what a FETCH needs, worked out once for all its messages.
type fetchPlan struct {
	atts []wire.FetchAtt
	// cols are the store columns every message needs: the hash to open
	// the file, the metadata for items rendered from it directly.
	cols store.FetchCols
	// cached is set when an item comes from the render cache, which
	// needs the metadata only on a miss.
	cached    bool
	setSeen   bool // a non-PEEK body item: \Seen is set (RFC 9051 6.4.5)
	addUID    bool // UID FETCH: UID in every response (RFC 9051 6.4.9)
	addModSeq bool // CHANGEDSINCE: MODSEQ in every response (RFC 7162 3.1.4.1)
	hasFlags  bool
	since     int64
}

func planFetch(a *wire.Fetch, uidCmd bool) fetchPlan {
	p := fetchPlan{atts: a.Atts, addUID: uidCmd, since: int64(a.ChangedSince)}
	p.addModSeq = a.ChangedSince > 0
	for _, at := range a.Atts {
		switch at.Name {
		case "UID":
			p.addUID = false
		case "MODSEQ":
			p.addModSeq = false
		case "FLAGS":
			p.hasFlags = true
		case "ENVELOPE", "BODYSTRUCTURE":
			p.cached = true
		case "EMAILID", "RFC822":
			p.cols |= store.FetchHash
		case "PREVIEW", "RFC822.HEADER", "RFC822.TEXT":
			p.cols |= store.FetchMeta
		case "BODY", "BINARY", "BINARY.SIZE":
			switch {
			case at.Name == "BODY" && at.Section == nil:
				p.cached = true
			case len(at.Section.Part) > 0 || at.Section.Text != "":
				p.cols |= store.FetchMeta
			default:
				p.cols |= store.FetchHash
			}
		}
		switch at.Name {
		case "RFC822", "RFC822.TEXT":
			p.setSeen = true
		case "BODY", "BINARY":
			if at.Section != nil && !at.Peek {
				p.setSeen = true
			}
		}
	}
	return p
}

// cmdFetch runs FETCH and UID FETCH (RFC 9051 section 6.4.5) with
// CHANGEDSINCE and VANISHED (RFC 7162 sections 3.1.4.1 and 3.2.6). The
// messages are read from the store in one streaming query and each
// response is written as it is built: memory does not grow with the
// mailbox.
func (s *session) cmdFetch(cmd *wire.Command) error {
	a := cmd.Args.(*wire.Fetch)
	sel := s.sel
	if a.Vanished && (!cmd.UID || !s.qresync || a.ChangedSince == 0) {
		return bad("", "VANISHED needs UID FETCH, CHANGEDSINCE and QRESYNC enabled")
	}
	idx, err := s.resolve(a.Set, cmd.UID)
	if err != nil {
		return err
	}
	if a.ChangedSince > 0 {
		s.condstore = true
	}
	p := planFetch(a, cmd.UID)
	if a.Vanished {
		gone, err := s.mb.VanishedSince(s.ctx(), sel.folder.ID, int64(a.ChangedSince))
		if err != nil {
			return err
		}
		_, maxUID := sel.maxSeqUID()
		s.out = appendVanishedEarlier(s.out, gone, &a.Set, max(maxUID, sel.maxUID), 0)
	}
	if len(idx) == 0 {
		return nil
	}
	uids := sel.uidsOf(idx)
	var seenNow map[uint32]bool
	if p.setSeen && !sel.readOnly {
		changed, err := s.mb.SetFlags(s.ctx(), sel.folder.ID, uids, store.FlagsAdd, store.FlagSeen, nil)
		if err != nil {
			return storeError(err, "The folder")
		}
		if len(changed) > 0 {
			sel.dirty = true
			seenNow = make(map[uint32]bool, len(changed))
			for _, u := range changed {
				seenNow[u] = true
			}
			sel.reported = map[uint32]int64{}
		}
	}
	// The render cache answers most ENVELOPE and BODYSTRUCTURE items
	// without the stored metadata: the query leaves it out, and a miss
	// reads it alone. When misses pile up (a folder nobody listed since
	// the server started), the rest of the messages are read with it.
	cols := p.cols
	s.metaReads = 0
	j, from := 0, uids[0]
	for {
		restart := false
		for m, err := range s.mb.Fetch(s.ctx(), sel.folder.ID, from, uids[len(uids)-1], cols) {
			if err != nil {
				return err
			}
			for j < len(uids) && uids[j] < m.UID {
				j++
			}
			if j == len(uids) || uids[j] != m.UID {
				continue
			}
			if p.since > 0 && m.ModSeq <= p.since {
				continue
			}
			if _, gone := slices.BinarySearch(sel.pending, m.UID); gone {
				continue
			}
			seq := idx[j] + 1
			if seenNow[m.UID] {
				sel.reported[m.UID] = m.ModSeq
			}
			if err := s.fetchOne(m, seq, &p, seenNow[m.UID]); err != nil {
				return err
			}
			if err := s.spill(); err != nil {
				return errFatal
			}
			if p.cached && cols&store.FetchMeta == 0 && s.metaReads > 32 {
				from, cols, restart = m.UID+1, cols|store.FetchMeta, true
				break
			}
		}
		if !restart || from == 0 {
			break
		}
	}
	return nil
}

// fetchMessage holds what one message's FETCH response reads lazily.
type fetchMessage struct {
	*store.MessageMeta
	meta *message.Meta
	file *os.File
}

// loadMeta decodes the stored metadata, once, reading it from the store
// when the query did not.
func (s *session) loadMeta(fm *fetchMessage) error {
	if fm.meta != nil {
		return nil
	}
	raw := fm.MessageMeta.Meta
	if len(raw) == 0 {
		var err error
		if raw, err = s.mb.Shard().BodyMeta(s.ctx(), fm.BodyID); err != nil {
			return err
		}
		s.metaReads++
	}
	meta, err := message.UnmarshalAlias(raw)
	if err != nil {
		return err
	}
	fm.meta = meta
	return nil
}

// rendered returns the message's ENVELOPE, BODYSTRUCTURE and BODY from the
// server's render cache.
func (s *session) rendered(fm *fetchMessage) (*rendered, error) {
	return s.srv.render.get(renderKey{shard: s.user.Shard, body: fm.BodyID, utf8: s.utf8}, func() (*message.Meta, error) {
		err := s.loadMeta(fm)
		return fm.meta, err
	})
}

func (s *session) fetchOne(m *store.MessageMeta, seq int, p *fetchPlan, flagsChanged bool) error {
	fm := &fetchMessage{MessageMeta: m}
	defer func() {
		if fm.file != nil {
			fm.file.Close()
		}
	}()
	mark, writes := len(s.out), s.writes
	b := append(s.out, "* "...)
	b = strconv.AppendInt(b, int64(seq), 10)
	b = append(b, " FETCH ("...)
	first := true
	sp := func() {
		if !first {
			b = append(b, ' ')
		}
		first = false
	}
	if p.addUID {
		sp()
		b = append(b, "UID "...)
		b = strconv.AppendUint(b, uint64(m.UID), 10)
	}
	for i := range p.atts {
		at := &p.atts[i]
		sp()
		var err error
		b, err = s.fetchAtt(b, fm, at)
		if err != nil {
			if errors.Is(err, errFatal) || writes != s.writes {
				// Part of the response is out: it cannot be taken back.
				return errFatal
			}
			s.out = b[:mark]
			return err
		}
	}
	if flagsChanged && !p.hasFlags {
		sp()
		b = append(b, "FLAGS "...)
		b = appendFlags(b, m.Flags, m.Keywords)
	}
	if p.addModSeq {
		sp()
		b = append(b, "MODSEQ ("...)
		b = strconv.AppendInt(b, m.ModSeq, 10)
		b = append(b, ')')
	}
	s.out = append(b, ")\r\n"...)
	return nil
}

// open returns the message file, opened once per response.
func (s *session) open(fm *fetchMessage) (*os.File, error) {
	if fm.file == nil {
		f, err := s.srv.store.Blobs().Open(fm.Body)
		if err != nil {
			return nil, err
		}
		fm.file = f
	}
	return fm.file, nil
}

func (s *session) fetchAtt(b []byte, fm *fetchMessage, at *wire.FetchAtt) ([]byte, error) {
	m := fm.MessageMeta
	// The metadata is decoded for the items that read it directly; the
	// others come from the render cache, which decodes only on a miss.
	switch at.Name {
	case "PREVIEW", "RFC822.HEADER", "RFC822.TEXT":
		if err := s.loadMeta(fm); err != nil {
			return b, err
		}
	case "BINARY", "BINARY.SIZE":
		if len(at.Section.Part) > 0 {
			if err := s.loadMeta(fm); err != nil {
				return b, err
			}
		}
	case "BODY":
		if sec := at.Section; sec != nil && (len(sec.Part) > 0 || sec.Text != "") {
			if err := s.loadMeta(fm); err != nil {
				return b, err
			}
		}
	}
	switch at.Name {
	case "UID":
		b = append(b, "UID "...)
		return strconv.AppendUint(b, uint64(m.UID), 10), nil
	case "FLAGS":
		b = append(b, "FLAGS "...)
		return appendFlags(b, m.Flags, m.Keywords), nil
	case "INTERNALDATE":
		b = append(b, "INTERNALDATE "...)
		return wire.AppendDateTime(b, m.InternalDate), nil
	case "SAVEDATE":
		// RFC 8514 section 4.2.
		b = append(b, "SAVEDATE "...)
		return wire.AppendDateTime(b, m.SaveDate), nil
	case "RFC822.SIZE":
		b = append(b, "RFC822.SIZE "...)
		return strconv.AppendInt(b, m.Size, 10), nil
	case "MODSEQ":
		b = append(b, "MODSEQ ("...)
		b = strconv.AppendInt(b, m.ModSeq, 10)
		return append(b, ')'), nil
	case "EMAILID":
		// RFC 8474 section 5.1: the same content has the same EMAILID in
		// every folder; bodies are content-addressed, so the hash is it.
		b = append(b, "EMAILID ("...)
		b = append(b, emailID(m.Body[:])...)
		return append(b, ')'), nil
	case "THREADID":
		// RFC 8474 section 5.2: NIL when the server does not thread.
		return append(b, "THREADID NIL"...), nil
	case "ENVELOPE":
		r, err := s.rendered(fm)
		if err != nil {
			return b, err
		}
		b = append(b, "ENVELOPE "...)
		return append(b, r.envelope...), nil
	case "BODYSTRUCTURE":
		r, err := s.rendered(fm)
		if err != nil {
			return b, err
		}
		b = append(b, "BODYSTRUCTURE "...)
		return append(b, r.bodyStructure...), nil
	case "PREVIEW":
		// RFC 8970 section 3.
		b = append(b, "PREVIEW "...)
		return wire.AppendString(b, fm.meta.Preview, s.utf8), nil
	case "RFC822":
		return s.fetchRange(append(b, "RFC822 "...), fm, 0, m.Size, nil)
	case "RFC822.HEADER":
		st := fm.meta.Structure
		return s.fetchRange(append(b, "RFC822.HEADER "...), fm, st.HeaderStart, st.BodyStart, nil)
	case "RFC822.TEXT":
		st := fm.meta.Structure
		return s.fetchRange(append(b, "RFC822.TEXT "...), fm, st.BodyStart, st.End, nil)
	case "BODY":
		if at.Section == nil {
			r, err := s.rendered(fm)
			if err != nil {
				return b, err
			}
			b = append(b, "BODY "...)
			return append(b, r.body...), nil
		}
		return s.fetchSection(b, fm, at)
	case "BINARY", "BINARY.SIZE":
		return s.fetchBinary(b, fm, at)
	}
	return b, bad("", "Unknown fetch item %s", at.Name)
}

// fetchSection answers BODY[section]<partial> (RFC 9051 section 6.4.5).
func (s *session) fetchSection(b []byte, fm *fetchMessage, at *wire.FetchAtt) ([]byte, error) {
	b = append(b, at.ResponseName()...)
	b = append(b, ' ')
	sec := at.Section
	if len(sec.Part) == 0 && sec.Text == "" {
		return s.fetchRange(b, fm, 0, fm.Size, at.Partial)
	}
	start, end, found := render.Locate(fm.meta, sec)
	if !found {
		return append(b, "NIL"...), nil
	}
	switch sec.Text {
	case "HEADER.FIELDS", "HEADER.FIELDS.NOT":
		var data []byte
		if sec.Text == "HEADER.FIELDS" && len(sec.Part) == 0 {
			data, found = render.CachedHeaderFields(fm.meta, sec.Fields)
		} else {
			found = false
		}
		if !found {
			f, err := s.open(fm)
			if err != nil {
				return b, err
			}
			header := make([]byte, end-start)
			if _, err := f.ReadAt(header, start); err != nil {
				return b, err
			}
			data = render.FilterHeader(header, sec.Fields, sec.Text == "HEADER.FIELDS.NOT")
		}
		return appendPartial(b, data, at.Partial), nil
	}
	return s.fetchRange(b, fm, start, end, at.Partial)
}

// appendPartial appends data, or its <offset.count> part, as a literal.
func appendPartial(b []byte, data []byte, p *wire.Partial) []byte {
	if p != nil {
		off := min(p.Offset, int64(len(data)))
		data = data[off:min(off+p.Count, int64(len(data)))]
	}
	b = wire.AppendLiteralHeader(b, int64(len(data)), false)
	return append(b, data...)
}

// fetchRange sends bytes [start, end) of the message file as a literal,
// straight from the file to the connection.
func (s *session) fetchRange(b []byte, fm *fetchMessage, start, end int64, p *wire.Partial) ([]byte, error) {
	if p != nil {
		start = min(start+p.Offset, end)
		end = min(start+p.Count, end)
	}
	f, err := s.open(fm)
	if err != nil {
		return b, err
	}
	n := end - start
	b = wire.AppendLiteralHeader(b, n, false)
	if n == 0 {
		return b, nil
	}
	if n <= 16<<10 {
		// Small: into the response buffer, no extra write.
		l := len(b)
		b = slices.Grow(b, int(n))[:l+int(n)]
		if _, err := f.ReadAt(b[l:], start); err != nil {
			return b[:l], errFatal
		}
		return b, nil
	}
	s.out = b
	if err := s.writeOut(); err != nil {
		return nil, errFatal
	}
	if _, err := f.Seek(start, io.SeekStart); err != nil {
		return nil, errFatal
	}
	if _, err := io.CopyN(s.bw, f, n); err != nil {
		return nil, errFatal
	}
	return s.out[:0], nil
}

// writeOut passes the response built so far to the connection's writer.
func (s *session) writeOut() error {
	s.writes++
	_, err := s.bw.Write(s.out)
	s.out = s.out[:0]
	return err
}

// fetchBinary answers BINARY[part]<partial> and BINARY.SIZE[part] (RFC 3516
// section 4): the part's content with its transfer encoding undone. The
// decoded size is counted in a first pass, so the content streams and is
// never held whole.
func (s *session) fetchBinary(b []byte, fm *fetchMessage, at *wire.FetchAtt) ([]byte, error) {
	name := at.ResponseName()
	part := at.Section.Part
	if len(part) == 0 {
		if at.Name == "BINARY.SIZE" {
			b = append(b, name...)
			b = append(b, ' ')
			return strconv.AppendInt(b, fm.Size, 10), nil
		}
		b = append(b, name...)
		b = append(b, ' ')
		return s.fetchRange(b, fm, 0, fm.Size, at.Partial)
	}
	p, start, end, found := render.BinaryPart(fm.meta, part)
	if !found {
		return b, no("", "No such part %s", name)
	}
	f, err := s.open(fm)
	if err != nil {
		return b, err
	}
	decoded := func() (io.Reader, error) {
		return render.DecodedReader(p.Encoding, io.NewSectionReader(f, start, end-start))
	}
	r, err := decoded()
	if errors.Is(err, render.ErrUnknownCTE) {
		return b, no("UNKNOWN-CTE", "Unknown content transfer encoding")
	}
	if err != nil {
		return b, err
	}
	var cnt counter
	if _, err := io.Copy(&cnt, r); err != nil {
		return b, err
	}
	b = append(b, name...)
	b = append(b, ' ')
	if at.Name == "BINARY.SIZE" {
		return strconv.AppendInt(b, cnt.n, 10), nil
	}
	off, n := int64(0), cnt.n
	if at.Partial != nil {
		off = min(at.Partial.Offset, cnt.n)
		n = min(at.Partial.Count, cnt.n-off)
	}
	b = wire.AppendLiteralHeader(b, n, cnt.nul)
	s.out = b
	if err := s.writeOut(); err != nil {
		return nil, errFatal
	}
	r, _ = decoded()
	if _, err := io.CopyN(io.Discard, r, off); err != nil {
		return nil, errFatal
	}
	if _, err := io.CopyN(s.bw, r, n); err != nil {
		return nil, errFatal
	}
	return s.out[:0], nil
}

// counter counts octets and notes a NUL, which makes BINARY a literal8.
type counter struct {
	n   int64
	nul bool
}

func (c *counter) Write(b []byte) (int, error) {
	c.n += int64(len(b))
	if !c.nul && slices.Contains(b, 0) {
		c.nul = true
	}
	return len(b), nil
}
