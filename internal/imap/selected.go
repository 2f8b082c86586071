package imap

import (
	"errors"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/petrelmail/petrel/internal/imap/search"
	"github.com/petrelmail/petrel/internal/imap/wire"
	"github.com/petrelmail/petrel/internal/store"
)

// selected is the state of the selected folder: the session's view of it.
// The view is the list of UIDs whose positions are the message sequence
// numbers the client knows (RFC 9051 section 2.3.1.2); it changes only when
// the session tells the client (EXISTS, EXPUNGE, VANISHED), never behind
// its back.
type selected struct {
	folder   store.Folder
	readOnly bool
	uids     *uidList
	// modseq is the folder's HIGHESTMODSEQ as of the last sync: every
	// change above it is still to be told.
	modseq int64
	// maxUID is the highest UID the session has announced.
	maxUID uint32
	// keywords are the keywords announced in FLAGS.
	keywords map[string]struct{}
	// pending are UIDs expunged (by anyone) that are still in uids,
	// because the client was in a command during which EXPUNGE may not
	// be sent. Sorted.
	pending []uint32
	// reported are flag changes this session already sent in its own
	// STORE replies: UID -> MODSEQ, not to be sent again by sync.
	reported map[uint32]int64
	watch    *watch
	// dirty is set when this session changed the folder, so that the next
	// sync runs even if the hub's wake-up has not come yet.
	dirty bool
}

// index returns the position of uid in the view.
func (sel *selected) index(uid uint32) (int, bool) {
	return sel.uids.Index(uid)
}

func (sel *selected) maxSeqUID() (uint32, uint32) {
	return uint32(sel.uids.Len()), sel.uids.Last()
}

// resolve turns a sequence set (by sequence number or by UID) into sorted,
// distinct indexes into the view. A sequence number beyond the view is an
// error (RFC 9051 section 9, seq-number); a UID that is not there is simply
// not matched (RFC 9051 section 6.4.9).
func (s *session) resolve(set wire.NumSet, uid bool) ([]int, error) {
	sel := s.sel
	n := sel.uids.Len()
	var out []int
	if set.SearchResult {
		for _, u := range s.saved {
			if i, ok := sel.index(u); ok {
				out = append(out, i)
			}
		}
	}
	maxSeq, maxUID := sel.maxSeqUID()
	sorted := len(out) == 0
	last := -1
	top := maxSeq // the value of "*"
	if uid {
		top = maxUID
	}
	for lo, hi := range set.All(top) {
		if uid {
			i, _ := sel.uids.Index(lo)
			sel.uids.All(i, func(i int, u uint32) bool {
				if u > hi {
					return false
				}
				if i <= last {
					sorted = false
				}
				last = i
				out = append(out, i)
				return true
			})
			continue
		}
		if hi > uint32(n) {
			return nil, bad("", "Invalid message sequence number %d (%d messages)", hi, n)
		}
		for q := lo; q <= hi; q++ {
			i := int(q) - 1
			if i <= last {
				sorted = false
			}
			last = i
			out = append(out, i)
		}
	}
	if !sorted {
		slices.Sort(out)
		out = slices.Compact(out)
	}
	return out, nil
}

// uidsOf returns the UIDs at the given view indexes.
func (sel *selected) uidsOf(idx []int) []uint32 {
	out := make([]uint32, len(idx))
	for i, x := range idx {
		out[i] = sel.uids.At(x)
	}
	return out
}

// allUIDs returns every UID of the view.
func (sel *selected) allUIDs() []uint32 {
	out := make([]uint32, 0, sel.uids.Len())
	sel.uids.All(0, func(_ int, u uint32) bool {
		out = append(out, u)
		return true
	})
	return out
}

// deselect leaves the selected state without expunging.
func (s *session) deselect() {
	if s.sel == nil {
		return
	}
	s.srv.hub.unsubscribe(s.sel.watch)
	s.sel = nil
	s.saved = nil
	if s.state == selectedState {
		s.state = authenticated
	}
}

// sync tells the client what changed in the selected folder since it was
// last told: new messages (EXISTS), flag changes (FETCH), expunges
// (EXPUNGE, or VANISHED once QRESYNC is enabled, RFC 7162 section 3.2.10)
// when allowExpunge, and new keywords (FLAGS). It reads the store only when
// the hub said the mailbox changed or this session changed it.
func (s *session) sync(allowExpunge bool) error {
	sel := s.sel
	select {
	case <-sel.watch.wake:
		sel.dirty = true
	default:
	}
	if !sel.dirty && !(allowExpunge && len(sel.pending) > 0) {
		return nil
	}
	if sel.dirty {
		sel.dirty = false
		if err := s.readChanges(); err != nil {
			return err
		}
	}
	if allowExpunge && len(sel.pending) > 0 {
		s.sendExpunges(sel.pending)
		sel.pending = sel.pending[:0]
	}
	return nil
}

// readChanges reads the folder's changes since the view's MODSEQ and sends
// what the client may be told now.
func (s *session) readChanges() error {
	sel := s.sel
	st, err := s.mb.Sync(s.ctx(), sel.folder.ID, sel.modseq)
	if errors.Is(err, store.ErrNotFound) {
		s.bye("The selected folder was deleted")
		return errFatal
	}
	if err != nil {
		return err
	}
	vanished := st.Vanished
	if st.Lost {
		// The tombstones since the view's MODSEQ are gone (a session
		// idle for longer than the change log's retention): whatever
		// the view holds that the folder does not is gone.
		for _, uid := range sel.allUIDs() {
			if inRanges(st.Absent, uid) {
				vanished = append(vanished, uid)
			}
		}
	}
	for _, uid := range vanished {
		if _, in := sel.index(uid); in {
			if i, dup := slices.BinarySearch(sel.pending, uid); !dup {
				sel.pending = slices.Insert(sel.pending, i, uid)
			}
		}
	}
	var fresh []uint32
	newKeyword := false
	for _, c := range st.Changed {
		for _, k := range c.Keywords {
			if _, known := sel.keywords[k]; !known {
				sel.keywords[k] = struct{}{}
				newKeyword = true
			}
		}
	}
	if newKeyword {
		s.out = s.appendFlagsResponses(s.out)
	}
	for _, c := range st.Changed {
		if c.UID > sel.maxUID {
			fresh = append(fresh, c.UID)
			continue
		}
		i, in := sel.index(c.UID)
		if !in {
			continue
		}
		if _, gone := slices.BinarySearch(sel.pending, c.UID); gone {
			continue
		}
		if m, ok := sel.reported[c.UID]; ok && m == c.ModSeq {
			continue
		}
		s.out = s.appendFlagsFetch(s.out, uint32(i+1), c.UID, c.Flags, c.Keywords, c.ModSeq)
	}
	sel.reported = nil
	if len(fresh) > 0 {
		for _, u := range fresh {
			sel.uids.push(u)
		}
		sel.maxUID = fresh[len(fresh)-1]
		s.out = append(s.out, "* "...)
		s.out = strconv.AppendInt(s.out, int64(sel.uids.Len()), 10)
		s.out = append(s.out, " EXISTS\r\n"...)
	}
	sel.folder.UIDNext = st.Folder.UIDNext
	if st.Folder.HighestModSeq > sel.modseq {
		sel.modseq = st.Folder.HighestModSeq
	}
	return nil
}

// sendExpunges removes UIDs from the view, telling the client: one
// VANISHED with QRESYNC, else one EXPUNGE per message from the highest
// sequence number down, so that each number is right when it is read.
func (s *session) sendExpunges(gone []uint32) {
	sel := s.sel
	if len(gone) == 0 {
		return
	}
	if s.qresync {
		s.out = append(s.out, "* VANISHED "...)
		s.out = search.AppendNumSet(s.out, gone)
		s.out = append(s.out, "\r\n"...)
	} else {
		for j := len(gone) - 1; j >= 0; j-- {
			if i, in := sel.index(gone[j]); in {
				s.out = append(s.out, "* "...)
				s.out = strconv.AppendInt(s.out, int64(i+1), 10)
				s.out = append(s.out, " EXPUNGE\r\n"...)
			}
		}
	}
	sel.uids.Remove(gone)
	if len(s.saved) > 0 {
		// RFC 5182 section 2.1: expunged messages leave the saved result.
		kept := s.saved[:0]
		for _, u := range s.saved {
			if _, g := slices.BinarySearch(gone, u); !g {
				kept = append(kept, u)
			}
		}
		s.saved = kept
	}
}

// appendFlagsFetch appends an unsolicited FETCH with a message's flags
// (RFC 9051 section 7.5.2), its UID (required with QRESYNC, RFC 7162
// section 3.2.4) and its MODSEQ once CONDSTORE is on (section 3.1.4).
func (s *session) appendFlagsFetch(b []byte, seq, uid uint32, flags store.Flags, keywords []string, modseq int64) []byte {
	b = append(b, "* "...)
	b = strconv.AppendUint(b, uint64(seq), 10)
	b = append(b, " FETCH (UID "...)
	b = strconv.AppendUint(b, uint64(uid), 10)
	b = append(b, " FLAGS "...)
	b = appendFlags(b, flags, keywords)
	if s.condstore {
		b = append(b, " MODSEQ ("...)
		b = strconv.AppendInt(b, modseq, 10)
		b = append(b, ')')
	}
	return append(b, ")\r\n"...)
}

// appendFlags appends a flag list: system flags, then keywords.
func appendFlags(b []byte, flags store.Flags, keywords []string) []byte {
	b = append(b, '(')
	first := true
	for _, n := range flags.Names() {
		if !first {
			b = append(b, ' ')
		}
		first = false
		b = append(b, n...)
	}
	for _, k := range keywords {
		if !first {
			b = append(b, ' ')
		}
		first = false
		b = append(b, k...)
	}
	return append(b, ')')
}

// appendFlagsResponses appends FLAGS and PERMANENTFLAGS for the selected
// folder (RFC 9051 sections 7.3.5 and 7.1): the system flags, the keywords
// in use, and \* since any keyword may be created.
func (s *session) appendFlagsResponses(b []byte) []byte {
	kws := make([]string, 0, len(s.sel.keywords))
	for k := range s.sel.keywords {
		kws = append(kws, k)
	}
	sort.Strings(kws)
	b = append(b, `* FLAGS (\Answered \Flagged \Deleted \Seen \Draft`...)
	for _, k := range kws {
		b = append(b, ' ')
		b = append(b, k...)
	}
	b = append(b, ")\r\n"...)
	if s.sel.readOnly {
		return append(b, "* OK [PERMANENTFLAGS ()] Read-only folder\r\n"...)
	}
	b = append(b, `* OK [PERMANENTFLAGS (\Answered \Flagged \Deleted \Seen \Draft`...)
	for _, k := range kws {
		b = append(b, ' ')
		b = append(b, k...)
	}
	return append(b, ` \*)] Flags permitted`+"\r\n"...)
}

// cmdIdle runs IDLE (RFC 2177, RFC 9051 section 6.3.13): changes are sent
// as they happen until the client says DONE.
func (s *session) cmdIdle(cmd *wire.Command) error {
	s.out = append(s.out, "+ idling\r\n"...)
	type lineResult struct {
		line []byte
		err  error
	}
	done := make(chan lineResult, 1)
	if err := s.flush(); err != nil {
		return errFatal
	}
	s.conn.SetReadDeadline(time.Now().Add(s.srv.cfg.IdleTimeout + time.Minute))
	go func() {
		line, err := s.r.ReadLine()
		done <- lineResult{line, err}
	}()
	timer := time.NewTimer(s.srv.cfg.IdleTimeout)
	defer timer.Stop()
	for {
		var wake <-chan struct{}
		if s.sel != nil {
			wake = s.sel.watch.wake
		}
		select {
		case <-wake:
			s.sel.dirty = true
			if err := s.sync(true); err != nil {
				s.conn.Close()
				<-done
				return errFatal
			}
			if err := s.flush(); err != nil {
				s.conn.Close()
				<-done
				return errFatal
			}
		case r := <-done:
			if r.err != nil {
				var perr *wire.ParseError
				if errors.As(r.err, &perr) {
					return bad("", "Expected DONE")
				}
				s.state = loggedOut
				return errFatal
			}
			if !strings.EqualFold(string(r.line), "DONE") {
				return bad("", "Expected DONE")
			}
			return ok("", "IDLE terminated")
		case <-s.closed:
			s.bye("Server shutting down")
			s.conn.Close()
			<-done
			return errFatal
		case <-timer.C:
			s.bye("Autologout; idle for too long")
			s.conn.Close()
			<-done
			return errFatal
		}
	}
}

// cmdClose runs CLOSE (RFC 9051 section 6.4.1: expunge silently, then
// leave) and UNSELECT (RFC 3691: leave only).
func (s *session) cmdClose(cmd *wire.Command) error {
	sel := s.sel
	if cmd.Name == "CLOSE" && !sel.readOnly && sel.uids.Len() > 0 {
		if _, err := s.mb.Expunge(s.ctx(), sel.folder.ID, sel.allUIDs(), true); err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
	}
	s.deselect()
	return nil
}

// cmdExpunge runs EXPUNGE (RFC 9051 section 6.4.3) and UID EXPUNGE (RFC
// 4315 section 2.1, RFC 9051 section 6.4.9).
func (s *session) cmdExpunge(cmd *wire.Command) error {
	sel := s.sel
	if sel.readOnly {
		return no("READ-ONLY", "The folder is open read-only")
	}
	uids := sel.allUIDs()
	if cmd.UID {
		idx, err := s.resolve(cmd.Args.(*wire.Expunge).UIDs, true)
		if err != nil {
			return err
		}
		uids = sel.uidsOf(idx)
	}
	if len(uids) == 0 {
		return nil
	}
	if _, err := s.mb.Expunge(s.ctx(), sel.folder.ID, uids, true); err != nil {
		return storeError(err, "The folder")
	}
	sel.dirty = true
	return nil
}
