package imap

import (
	"errors"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/petrelmail/petrel/internal/imap/wire"
	"github.com/petrelmail/petrel/internal/store"
)

// mailboxID is the OBJECTID of a folder (RFC 8474 section 4): stable across
// RENAME, never reused (folder IDs are not reused in a shard).
func (s *session) mailboxID(f store.Folder) string {
	return "F" + strconv.Itoa(s.user.Shard) + "_" + strconv.FormatInt(f.ID, 10)
}

// cmdSelect runs SELECT and EXAMINE (RFC 9051 sections 6.3.2 and 6.3.3)
// with the CONDSTORE and QRESYNC parameters (RFC 7162 sections 3.1.8 and
// 3.2.5).
func (s *session) cmdSelect(cmd *wire.Command) error {
	a := cmd.Args.(*wire.Select)
	name, err := s.mailboxName(a.Mailbox)
	if err != nil {
		return err
	}
	if a.QResync != nil && !s.qresync {
		return bad("", "QRESYNC must be enabled first (RFC 7162 section 3.2.5)")
	}
	if s.sel != nil {
		// RFC 9051 section 6.3.2: the old folder is closed without
		// expunge; RFC 7162 section 3.2.11: [CLOSED] tells the client
		// where the old folder's responses end.
		s.deselect()
		if s.qresync || s.rev2 {
			s.out = append(s.out, "* OK [CLOSED] Previous folder closed\r\n"...)
		}
	}
	f, err := s.mb.Folder(s.ctx(), name)
	if err != nil {
		return storeError(err, "The folder")
	}
	if a.CondStore {
		s.condstore = true
	}
	w := s.srv.hub.subscribe(s.user.Shard, s.user.ID)
	st, err := s.mb.Sync(s.ctx(), f.ID, 0)
	if err != nil {
		s.srv.hub.unsubscribe(w)
		return storeError(err, "The folder")
	}
	sel := &selected{folder: st.Folder, readOnly: cmd.Name == "EXAMINE", watch: w,
		modseq: st.Folder.HighestModSeq, keywords: map[string]struct{}{}}
	if st.Folder.UIDNext > 0 {
		sel.maxUID = st.Folder.UIDNext - 1
	}
	sel.uids = &uidList{}
	firstUnseen := 0
	for i, m := range st.Changed {
		sel.uids.push(m.UID)
		if firstUnseen == 0 && m.Flags&store.FlagSeen == 0 {
			firstUnseen = i + 1
		}
		for _, k := range m.Keywords {
			sel.keywords[k] = struct{}{}
		}
	}
	s.sel = sel
	s.state = selectedState
	b := s.appendFlagsResponses(s.out)
	b = append(b, "* "...)
	b = strconv.AppendInt(b, int64(sel.uids.Len()), 10)
	b = append(b, " EXISTS\r\n"...)
	if s.rev2 {
		// RFC 9051 section 6.3.2: "The server MUST return a LIST
		// response with the mailbox name", with accurate attributes.
		attrs, err := s.listAttrs(st.Folder)
		if err != nil {
			s.deselect()
			return err
		}
		b = append(b, "* LIST ("...)
		b = append(b, strings.Join(attrs, " ")...)
		b = append(b, `) "/" `...)
		b = wire.AppendMailbox(b, st.Folder.Name, s.utf8)
		b = append(b, "\r\n"...)
	}
	if !s.rev2 {
		// IMAP4rev1 requires RECENT; Petrel keeps no \Recent.
		b = append(b, "* 0 RECENT\r\n"...)
		if firstUnseen > 0 {
			b = append(b, "* OK [UNSEEN "...)
			b = strconv.AppendInt(b, int64(firstUnseen), 10)
			b = append(b, "] First unseen\r\n"...)
		}
	}
	b = append(b, "* OK [UIDVALIDITY "...)
	b = strconv.AppendUint(b, uint64(st.Folder.UIDValidity), 10)
	b = append(b, "] UIDs valid\r\n* OK [UIDNEXT "...)
	b = strconv.AppendUint(b, uint64(st.Folder.UIDNext), 10)
	b = append(b, "] Predicted next UID\r\n* OK [HIGHESTMODSEQ "...)
	b = strconv.AppendInt(b, st.Folder.HighestModSeq, 10)
	b = append(b, "] Highest\r\n* OK [MAILBOXID ("...)
	b = append(b, s.mailboxID(st.Folder)...)
	b = append(b, ")] Ok\r\n"...)
	s.out = b
	if q := a.QResync; q != nil && q.UIDValidity == st.Folder.UIDValidity {
		if err := s.qresyncSelect(q, st); err != nil {
			return err
		}
	}
	if sel.readOnly {
		return ok("READ-ONLY", cmd.Name+" completed")
	}
	return ok("READ-WRITE", cmd.Name+" completed")
}

// listAttrs returns the attributes a plain LIST gives a folder: children
// (RFC 3348) and special use (RFC 6154).
func (s *session) listAttrs(f store.Folder) ([]string, error) {
	folders, err := s.mb.Folders(s.ctx())
	if err != nil {
		return nil, err
	}
	attrs := []string{`\HasNoChildren`}
	for _, o := range folders {
		if strings.HasPrefix(o.Name, f.Name+store.Delimiter) {
			attrs[0] = `\HasChildren`
			break
		}
	}
	if f.SpecialUse != store.UseNone {
		attrs = append(attrs, string(f.SpecialUse))
	}
	return attrs, nil
}

// qresyncSelect sends what changed since the client's MODSEQ (RFC 7162
// section 3.2.5.2): VANISHED (EARLIER) for the expunged UIDs, then FETCH
// for the messages changed, both limited to the known UIDs when given;
// VANISHED also leaves out what the message sequence match data shows the
// client knows (seqMatchFloor).
func (s *session) qresyncSelect(q *wire.QResync, st store.SyncState) error {
	sel := s.sel
	_, maxUID := sel.maxSeqUID()
	known := func(uid uint32) bool {
		return q.KnownUIDs == nil || q.KnownUIDs.Contains(uid, max(maxUID, sel.maxUID))
	}
	gone, err := s.mb.VanishedSince(s.ctx(), sel.folder.ID, int64(q.ModSeq))
	if err != nil {
		return err
	}
	star := max(maxUID, sel.maxUID)
	s.out = appendVanishedEarlier(s.out, gone, q.KnownUIDs, star, seqMatchFloor(q.KnownSeqs, q.KnownSeqUIDs, sel.uids, star))
	for i, m := range st.Changed {
		if m.ModSeq > int64(q.ModSeq) && known(m.UID) {
			s.out = s.appendFlagsFetch(s.out, uint32(i+1), m.UID, m.Flags, m.Keywords, m.ModSeq)
		}
	}
	return nil
}

// cmdCreate runs CREATE (RFC 9051 section 6.3.4) with USE (RFC 6154
// section 3).
func (s *session) cmdCreate(cmd *wire.Command) error {
	a := cmd.Args.(*wire.Create)
	name, err := s.mailboxName(a.Mailbox)
	if err != nil {
		return err
	}
	spec := store.FolderSpec{Name: name}
	if len(a.SpecialUse) > 1 {
		return no("USEATTR", "Only one special use per folder")
	}
	if len(a.SpecialUse) == 1 {
		use, known := specialUse(a.SpecialUse[0])
		if !known {
			return no("USEATTR", "Unknown special use %s", a.SpecialUse[0])
		}
		spec.SpecialUse = use
	}
	if strings.EqualFold(name, store.Inbox) {
		return no("ALREADYEXISTS", "INBOX always exists")
	}
	if _, err := s.mb.CreateFolder(s.ctx(), spec); err != nil {
		return storeError(err, "The folder")
	}
	return nil
}

func specialUse(attr string) (store.SpecialUse, bool) {
	for _, u := range []store.SpecialUse{store.UseSent, store.UseDrafts, store.UseTrash, store.UseJunk,
		store.UseArchive, store.UseAll, store.UseFlagged} {
		if strings.EqualFold(string(u), attr) {
			return u, true
		}
	}
	return "", false
}

// cmdDelete runs DELETE (RFC 9051 section 6.3.5).
func (s *session) cmdDelete(cmd *wire.Command) error {
	name, err := s.mailboxName(cmd.Args.(*wire.MailboxArg).Mailbox)
	if err != nil {
		return err
	}
	if name == store.Inbox {
		return no("CANNOT", "INBOX cannot be deleted")
	}
	f, ferr := s.mb.Folder(s.ctx(), name)
	if err := s.mb.DeleteFolder(s.ctx(), name); err != nil {
		return storeError(err, "The folder")
	}
	if ferr == nil && s.sel != nil && s.sel.folder.ID == f.ID {
		// The session deleted its own selected folder: it leaves it
		// (back to the authenticated state), as Dovecot does, rather
		// than being told BYE at its next command, or even before the
		// tagged OK of its DELETE (RFC 9051 section 6.3.5 leaves this
		// open; nothing of the folder can be reported any more).
		s.deselect()
	}
	return nil
}

// cmdRename runs RENAME (RFC 9051 section 6.3.6); renaming INBOX moves its
// messages to the new folder and leaves INBOX empty (the store does it).
func (s *session) cmdRename(cmd *wire.Command) error {
	a := cmd.Args.(*wire.Rename)
	from, err := s.mailboxName(a.From)
	if err != nil {
		return err
	}
	to, err := s.mailboxName(a.To)
	if err != nil {
		return err
	}
	if to == store.Inbox {
		return no("ALREADYEXISTS", "INBOX always exists")
	}
	err = s.mb.RenameFolder(s.ctx(), from, to)
	if errors.Is(err, store.ErrExists) {
		return no("ALREADYEXISTS", "%s already exists", to)
	}
	return storeError(err, "The folder")
}

// cmdSubscribe runs SUBSCRIBE and UNSUBSCRIBE (RFC 9051 sections 6.3.7,
// 6.3.8).
func (s *session) cmdSubscribe(cmd *wire.Command) error {
	name, err := s.mailboxName(cmd.Args.(*wire.MailboxArg).Mailbox)
	if err != nil {
		return err
	}
	return storeError(s.mb.SetSubscribed(s.ctx(), name, cmd.Name == "SUBSCRIBE"), "The folder")
}

// cmdList runs LIST (RFC 9051 section 6.3.9, LIST-EXTENDED RFC 5258,
// LIST-STATUS RFC 5819, SPECIAL-USE RFC 6154) and LSUB (RFC 3501 section
// 6.3.9).
func (s *session) cmdList(cmd *wire.Command) error {
	a := cmd.Args.(*wire.List)
	lsub := cmd.Name == "LSUB"
	ref, err := a.Reference.Decode(s.utf8)
	if err != nil {
		return bad("", "Invalid reference name")
	}
	var patterns []string
	for _, p := range a.Patterns {
		pat, err := p.Decode(s.utf8)
		if err != nil {
			return bad("", "Invalid mailbox pattern")
		}
		patterns = append(patterns, pat)
	}
	if len(patterns) == 1 && patterns[0] == "" && !a.Extended {
		// RFC 9051 section 6.3.9: the hierarchy delimiter and root.
		s.out = append(s.out, "* "...)
		s.out = append(s.out, cmd.Name...)
		s.out = append(s.out, ` (\Noselect) "/" ""`+"\r\n"...)
		return nil
	}
	folders, err := s.mb.Folders(s.ctx())
	if err != nil {
		return err
	}
	names := make([]string, len(folders))
	for i, f := range folders {
		names[i] = f.Name
	}
	hasChildren := func(name string) bool {
		prefix := name + store.Delimiter
		i := sort.SearchStrings(names, prefix)
		return i < len(names) && strings.HasPrefix(names[i], prefix)
	}
	subscribedChild := func(name string) bool {
		prefix := name + store.Delimiter
		for _, f := range folders {
			if f.Subscribed && strings.HasPrefix(f.Name, prefix) {
				return true
			}
		}
		return false
	}
	var matchers, inboxMatchers []func(string) bool
	for _, p := range patterns {
		full := ref + p
		matchers = append(matchers, globMatcher(full))
		// RFC 9051 section 5.1: INBOX is case-insensitive, so "inbox"
		// and "Inbox/%" match it and its children; but only the name
		// INBOX is, so "Inboxes" must not turn into "INBOXes". The
		// uppercased pattern is tried on INBOX and its children only.
		if len(full) >= len(store.Inbox) && strings.EqualFold(full[:len(store.Inbox)], store.Inbox) {
			inboxMatchers = append(inboxMatchers, globMatcher(store.Inbox+full[len(store.Inbox):]))
		}
	}
	matches := func(name string) bool {
		for _, m := range matchers {
			if m(name) {
				return true
			}
		}
		if name == store.Inbox || strings.HasPrefix(name, store.Inbox+store.Delimiter) {
			for _, m := range inboxMatchers {
				if m(name) {
					return true
				}
			}
		}
		return false
	}
	sel, ret := a.Select, a.Return
	subscribedOnly := sel.Subscribed || lsub
	for _, f := range folders {
		if !matches(f.Name) {
			continue
		}
		var attrs []string
		childInfo := false
		switch {
		case subscribedOnly && !f.Subscribed:
			if !(sel.RecursiveMatch && subscribedChild(f.Name)) {
				continue
			}
			childInfo = true
		case sel.SpecialUse && f.SpecialUse == store.UseNone:
			continue
		}
		if !lsub || childInfo {
			if hasChildren(f.Name) {
				attrs = append(attrs, `\HasChildren`)
			} else {
				attrs = append(attrs, `\HasNoChildren`)
			}
		}
		if f.Subscribed && (sel.Subscribed || ret.Subscribed) && !childInfo {
			attrs = append(attrs, `\Subscribed`)
		}
		if f.SpecialUse != store.UseNone && !lsub {
			attrs = append(attrs, string(f.SpecialUse))
		}
		b := append(s.out, "* "...)
		b = append(b, cmd.Name...)
		b = append(b, " ("...)
		b = append(b, strings.Join(attrs, " ")...)
		b = append(b, `) "/" `...)
		b = wire.AppendMailbox(b, f.Name, s.utf8)
		if childInfo {
			b = append(b, ` ("CHILDINFO" ("SUBSCRIBED"))`...)
		}
		b = append(b, "\r\n"...)
		s.out = b
		if ret.Status != nil && !childInfo {
			if err := s.appendStatus(f, ret.Status); err != nil {
				return err
			}
		}
	}
	return nil
}

// globMatcher matches a folder name against a LIST pattern: "*" matches
// anything, "%" anything but the hierarchy delimiter (RFC 9051 section
// 6.3.9).
func globMatcher(pattern string) func(string) bool {
	var match func(p, n string) bool
	match = func(p, n string) bool {
		for len(p) > 0 {
			switch p[0] {
			case '*', '%':
				wild := p[0]
				p = p[1:]
				if len(p) == 0 && wild == '*' {
					return true
				}
				for i := 0; i <= len(n); i++ {
					if match(p, n[i:]) {
						return true
					}
					if i < len(n) && wild == '%' && n[i] == store.Delimiter[0] {
						return false
					}
				}
				return false
			default:
				if len(n) == 0 || n[0] != p[0] {
					return false
				}
				p, n = p[1:], n[1:]
			}
		}
		return len(n) == 0
	}
	return func(name string) bool { return match(pattern, name) }
}

// cmdStatus runs STATUS (RFC 9051 section 6.3.11).
func (s *session) cmdStatus(cmd *wire.Command) error {
	a := cmd.Args.(*wire.Status)
	name, err := s.mailboxName(a.Mailbox)
	if err != nil {
		return err
	}
	f, err := s.mb.Folder(s.ctx(), name)
	if err != nil {
		return storeError(err, "The folder")
	}
	return s.appendStatus(f, a.Items)
}

func (s *session) appendStatus(f store.Folder, items []string) error {
	var unseen, deleted int64
	var deletedBytes int64
	if slices.Contains(items, "UNSEEN") || slices.Contains(items, "DELETED") || slices.Contains(items, "DELETED-STORAGE") {
		var err error
		if unseen, deleted, deletedBytes, err = s.mb.FolderCounts(s.ctx(), f.ID); err != nil {
			return err
		}
	}
	b := append(s.out, "* STATUS "...)
	b = wire.AppendMailbox(b, f.Name, s.utf8)
	b = append(b, " ("...)
	for i, it := range items {
		if i > 0 {
			b = append(b, ' ')
		}
		b = append(b, it...)
		b = append(b, ' ')
		switch it {
		case "MESSAGES":
			b = strconv.AppendInt(b, f.Messages, 10)
		case "UIDNEXT":
			b = strconv.AppendUint(b, uint64(f.UIDNext), 10)
		case "UIDVALIDITY":
			b = strconv.AppendUint(b, uint64(f.UIDValidity), 10)
		case "UNSEEN":
			b = strconv.AppendInt(b, unseen, 10)
		case "DELETED":
			b = strconv.AppendInt(b, deleted, 10)
		case "DELETED-STORAGE":
			// RFC 9208 section 4.2.1: in units of 1024 octets, what
			// expunging the \Deleted messages would free.
			b = strconv.AppendInt(b, (deletedBytes+1023)/1024, 10)
		case "SIZE":
			b = strconv.AppendInt(b, f.Bytes, 10)
		case "RECENT":
			b = append(b, '0')
		case "HIGHESTMODSEQ":
			b = strconv.AppendInt(b, f.HighestModSeq, 10)
		case "APPENDLIMIT":
			b = strconv.AppendInt(b, s.srv.cfg.MaxAppend, 10)
		case "MAILBOXID":
			b = append(b, '(')
			b = append(b, s.mailboxID(f)...)
			b = append(b, ')')
		}
	}
	s.out = append(b, ")\r\n"...)
	return nil
}

// The quota root of every account is "" (RFC 9208 section 3.1): one quota
// for all its folders, the account's.

//
// An account without a quota has no quota root at all: RFC 9208 section 9
// allows no QUOTA response without a resource ("quota-list" has at least
// one), so its folders have no root (section 4.3: QUOTAROOT lists none) and
// GETQUOTA "" is answered NONEXISTENT.

func (s *session) appendQuota(b []byte) ([]byte, error) {
	used, _, err := s.mb.Usage(s.ctx())
	if err != nil {
		return b, err
	}
	// RFC 9208 section 5.1: STORAGE in units of 1024 octets.
	b = append(b, `* QUOTA "" (STORAGE `...)
	b = strconv.AppendInt(b, (used+1023)/1024, 10)
	b = append(b, ' ')
	b = strconv.AppendInt(b, s.user.Quota/1024, 10)
	return append(b, ")\r\n"...), nil
}

// cmdGetQuota runs GETQUOTA (RFC 9208 section 4.2).
func (s *session) cmdGetQuota(cmd *wire.Command) error {
	if cmd.Args.(*wire.GetQuota).Root != "" || s.user.Quota <= 0 {
		return no("NONEXISTENT", "No such quota root")
	}
	var err error
	s.out, err = s.appendQuota(s.out)
	return err
}

// cmdGetQuotaRoot runs GETQUOTAROOT (RFC 9208 section 4.3).
func (s *session) cmdGetQuotaRoot(cmd *wire.Command) error {
	name, err := s.mailboxName(cmd.Args.(*wire.MailboxArg).Mailbox)
	if err != nil {
		return err
	}
	if _, err := s.mb.Folder(s.ctx(), name); err != nil {
		return storeError(err, "The folder")
	}
	s.out = append(s.out, "* QUOTAROOT "...)
	s.out = wire.AppendMailbox(s.out, name, s.utf8)
	if s.user.Quota <= 0 {
		s.out = append(s.out, "\r\n"...)
		return nil
	}
	s.out = append(s.out, ` ""`+"\r\n"...)
	s.out, err = s.appendQuota(s.out)
	return err
}

// cmdSetQuota refuses SETQUOTA (RFC 9208 section 4.1.3): quotas are set by
// administrators, through the admin API.
func (s *session) cmdSetQuota(cmd *wire.Command) error {
	return no("NOPERM", "Quotas are set by the administrator")
}
