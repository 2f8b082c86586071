package imap

import (
	"errors"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/petrelmail/petrel/internal/delivery"
	"github.com/petrelmail/petrel/internal/imap/search"
	"github.com/petrelmail/petrel/internal/imap/wire"
	"github.com/petrelmail/petrel/internal/store"
)

// parseFlags splits a flag list into system flags and keywords. \Recent
// cannot be set (RFC 9051 section 2.3.2); other unknown system flags are
// refused.
func parseFlags(list []string) (store.Flags, []string, error) {
	var flags store.Flags
	var kws []string
	for _, f := range list {
		if strings.HasPrefix(f, `\`) {
			if strings.EqualFold(f, `\Recent`) {
				continue
			}
			bit, ok := store.ParseFlag(f)
			if !ok {
				return 0, nil, bad("", "Unknown system flag %s", f)
			}
			flags |= bit
			continue
		}
		if len(f) > 250 {
			return 0, nil, bad("", "Keyword too long")
		}
		kws = append(kws, f)
	}
	return flags, kws, nil
}

// cmdStore runs STORE and UID STORE (RFC 9051 section 6.4.6) with
// UNCHANGEDSINCE (RFC 7162 section 3.1.3).
func (s *session) cmdStore(cmd *wire.Command) error {
	a := cmd.Args.(*wire.Store)
	sel := s.sel
	if sel.readOnly {
		return no("READ-ONLY", "The folder is open read-only")
	}
	flags, kws, err := parseFlags(a.Flags)
	if err != nil {
		return err
	}
	idx, err := s.resolve(a.Set, cmd.UID)
	if err != nil {
		return err
	}
	if a.UnchangedSince != nil {
		s.condstore = true
	}
	if len(idx) == 0 {
		return nil
	}
	uids := sel.uidsOf(idx)
	op := map[wire.StoreOp]store.FlagOp{wire.StoreReplace: store.FlagsReplace, wire.StoreAdd: store.FlagsAdd,
		wire.StoreRemove: store.FlagsRemove}[a.Op]
	unchanged := int64(-1)
	if a.UnchangedSince != nil {
		unchanged = int64(*a.UnchangedSince)
	}
	changed, modified, opModSeq, err := s.mb.SetFlagsIf(s.ctx(), sel.folder.ID, uids, op, flags, kws, unchanged)
	if err != nil {
		return storeError(err, "The folder")
	}
	sel.dirty = true
	// The client knows the outcome of its own STORE: sync must not send
	// these changes back as unsolicited FETCH, with .SILENT either (RFC
	// 9051 section 6.4.6: .SILENT returns no new value; only changes from
	// an external source are to be reported). All changes of the STORE
	// carry its one MODSEQ.
	sel.reported = make(map[uint32]int64, len(changed))
	isChanged := make(map[uint32]bool, len(changed))
	for _, u := range changed {
		isChanged[u] = true
		sel.reported[u] = opModSeq
	}
	isModified := make(map[uint32]bool, len(modified))
	for _, u := range modified {
		isModified[u] = true
	}
	// Report the flags of every message of the set that was not refused
	// (RFC 9051 section 6.4.6), or with .SILENT only the MODSEQ of those
	// that changed once CONDSTORE is on (RFC 7162 section 3.1.3).
	if !a.Silent || s.condstore {
		for m, err := range s.mb.Fetch(s.ctx(), sel.folder.ID, uids[0], uids[len(uids)-1], 0) {
			if err != nil {
				return err
			}
			if _, want := slices.BinarySearch(uids, m.UID); !want || isModified[m.UID] {
				continue
			}
			i, in := sel.index(m.UID)
			if !in || (a.Silent && !isChanged[m.UID]) {
				continue
			}
			b := append(s.out, "* "...)
			b = strconv.AppendInt(b, int64(i+1), 10)
			b = append(b, " FETCH ("...)
			if cmd.UID || s.qresync {
				b = append(b, "UID "...)
				b = strconv.AppendUint(b, uint64(m.UID), 10)
				b = append(b, ' ')
			}
			if !a.Silent {
				b = append(b, "FLAGS "...)
				b = appendFlags(b, m.Flags, m.Keywords)
			}
			if s.condstore {
				if !a.Silent {
					b = append(b, ' ')
				}
				b = append(b, "MODSEQ ("...)
				b = strconv.AppendInt(b, m.ModSeq, 10)
				b = append(b, ')')
			}
			s.out = append(b, ")\r\n"...)
			if err := s.spill(); err != nil {
				return errFatal
			}
		}
	}
	if len(modified) > 0 {
		// RFC 7162 section 3.1.3: MODIFIED lists the messages left alone,
		// by UID for UID STORE, else by sequence number.
		nums := modified
		if !cmd.UID {
			nums = make([]uint32, 0, len(modified))
			for _, u := range modified {
				if i, in := sel.index(u); in {
					nums = append(nums, uint32(i+1))
				}
			}
		}
		return ok("MODIFIED "+string(search.AppendNumSet(nil, nums)), "Conditional STORE failed for some messages")
	}
	return nil
}

// cmdCopy runs COPY and UID COPY (RFC 9051 section 6.4.7) with COPYUID
// (RFC 4315 section 3).
func (s *session) cmdCopy(cmd *wire.Command) error {
	return s.copyOrMove(cmd, false)
}

// cmdMove runs MOVE and UID MOVE (RFC 6851): COPYUID comes untagged before
// the expunges (section 4.3).
func (s *session) cmdMove(cmd *wire.Command) error {
	if s.sel.readOnly {
		return no("READ-ONLY", "The folder is open read-only")
	}
	return s.copyOrMove(cmd, true)
}

func (s *session) copyOrMove(cmd *wire.Command, move bool) error {
	a := cmd.Args.(*wire.Copy)
	sel := s.sel
	name, err := s.mailboxName(a.Mailbox)
	if err != nil {
		return err
	}
	idx, err := s.resolve(a.Set, cmd.UID)
	if err != nil {
		return err
	}
	dest, err := s.mb.Folder(s.ctx(), name)
	if errors.Is(err, store.ErrNotFound) {
		return no("TRYCREATE", "The destination folder does not exist")
	}
	if err != nil {
		return err
	}
	if len(idx) == 0 {
		return nil
	}
	uids := sel.uidsOf(idx)
	var res []store.MoveResult
	if move {
		if dest.ID == sel.folder.ID {
			return no("CANNOT", "The messages are in that folder already")
		}
		res, err = s.mb.Move(s.ctx(), sel.folder.ID, dest.ID, uids)
		sel.dirty = true
	} else {
		res, err = s.mb.Copy(s.ctx(), sel.folder.ID, dest.ID, uids, s.user.Quota)
		if dest.ID == sel.folder.ID {
			sel.dirty = true
		}
	}
	if err != nil {
		return storeError(err, "The folder")
	}
	if len(res) == 0 {
		return nil
	}
	from := make([]uint32, len(res))
	to := make([]uint32, len(res))
	for i, r := range res {
		from[i], to[i] = r.From, r.To
	}
	code := "COPYUID " + strconv.FormatUint(uint64(dest.UIDValidity), 10) + " " +
		string(appendUIDList(nil, from)) + " " + string(appendUIDList(nil, to))
	if move {
		s.out = append(s.out, "* OK ["...)
		s.out = append(s.out, code...)
		s.out = append(s.out, "] Moved\r\n"...)
		return nil
	}
	return ok(code, "COPY completed")
}

// appendUIDList appends UIDs in the given order, compressing runs of
// consecutive numbers (RFC 4315 section 4, uid-set: the order of the two
// sets of COPYUID must correspond, so no sorting).
func appendUIDList(b []byte, uids []uint32) []byte {
	for i := 0; i < len(uids); {
		j := i
		for j+1 < len(uids) && uids[j+1] == uids[j]+1 {
			j++
		}
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendUint(b, uint64(uids[i]), 10)
		if j > i {
			b = append(b, ':')
			b = strconv.AppendUint(b, uint64(uids[j]), 10)
		}
		i = j + 1
	}
	return b
}

// cmdAppend runs APPEND (RFC 9051 section 6.3.12) and MULTIAPPEND (RFC
// 3502), answering APPENDUID (RFC 4315 section 3). Messages go through
// delivery.Batch: the size limit, the disk reserve and the quota apply, and
// either all messages are saved or none.
func (s *session) cmdAppend(cmd *wire.Command) error {
	a := cmd.Args.(*wire.Append)
	name, err := s.mailboxName(a.Mailbox)
	if err != nil {
		return err
	}
	f, err := s.mb.Folder(s.ctx(), name)
	if errors.Is(err, store.ErrNotFound) {
		return no("TRYCREATE", "The folder does not exist")
	}
	if err != nil {
		return err
	}
	used := int64(0)
	if s.user.Quota > 0 {
		if used, _, err = s.mb.Usage(s.ctx()); err != nil {
			return err
		}
	}
	batch := s.srv.pipeline.NewBatch(s.user)
	defer batch.Close()
	for {
		m, err := a.Next()
		if err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			var perr *wire.ParseError
			if errors.As(err, &perr) {
				if perr.Fatal {
					s.bye(perr.Msg)
					return errFatal
				}
				if perr.Code == wire.CodeTooBig {
					return no("TOOBIG", "%s", perr.Msg)
				}
				return bad(perr.Code, "%s", perr.Msg)
			}
			s.state = loggedOut
			return errFatal
		}
		if m.Size > s.srv.cfg.MaxAppend {
			return no("TOOBIG", "Message larger than APPENDLIMIT %d", s.srv.cfg.MaxAppend)
		}
		// Refuse before the client sends the data (the "+" is not sent
		// for a synchronizing literal).
		if s.user.Quota > 0 && used+batch.Size()+m.Size > s.user.Quota {
			return no("OVERQUOTA", "Over quota")
		}
		flags, kws, err := parseFlags(m.Flags)
		if err != nil {
			return err
		}
		body := &connReader{r: m.Body}
		if err := batch.Add(body, name, flags, kws, m.Date); err != nil {
			if body.err != nil {
				// The connection broke in the middle of the message.
				s.state = loggedOut
				return errFatal
			}
			return appendError(err)
		}
	}
	if batch.Len() == 0 {
		// A complete APPEND has at least one message: the connection
		// ended in the middle of the first one.
		s.state = loggedOut
		return errFatal
	}
	res, err := batch.Commit(s.ctx())
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return no("TRYCREATE", "The folder does not exist")
		}
		return appendError(err)
	}
	if s.sel != nil && s.sel.folder.ID == f.ID {
		s.sel.dirty = true
	}
	uids := make([]uint32, len(res))
	for i, r := range res {
		uids[i] = r.UID
	}
	return ok("APPENDUID "+strconv.FormatUint(uint64(res[0].UIDValidity), 10)+" "+string(appendUIDList(nil, uids)),
		"APPEND completed")
}

func appendError(err error) error {
	switch {
	case errors.Is(err, delivery.ErrOverQuota):
		return no("OVERQUOTA", "Over quota")
	case errors.Is(err, delivery.ErrTooLarge):
		return no("TOOBIG", "Message too large")
	case errors.Is(err, delivery.ErrDiskReserve):
		return no("LIMIT", "The server is short of disk space; try again later")
	case errors.Is(err, delivery.ErrTemporary):
		return no("UNAVAILABLE", "Temporary failure; try again later")
	}
	var r *reply
	if errors.As(err, &r) {
		return err
	}
	var derr *delivery.Error
	if errors.As(err, &derr) {
		return no("UNAVAILABLE", "%s", derr.Message)
	}
	return err
}

// connReader remembers a failure to read from the connection, to tell it
// from a refusal of the message.
type connReader struct {
	r   io.Reader
	err error
}

func (c *connReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	if err != nil && err != io.EOF {
		c.err = err
	}
	return n, err
}
