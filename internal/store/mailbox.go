package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"iter"
	"slices"
	"strings"
	"time"

	"github.com/petrelmail/petrel/internal/blob"
)

// Mailbox is the handle of one account's mailbox in its shard.
type Mailbox struct {
	sh *Shard
	ID int64
}

// Shard returns the shard of the mailbox.
func (m *Mailbox) Shard() *Shard { return m.sh }

// Create makes the mailbox and its folders, if missing. It is idempotent:
// folders that exist are left as they are.
func (m *Mailbox) Create(ctx context.Context, folders []FolderSpec) error {
	return m.sh.write(ctx, func(t *Tx) error { return t.ensureMailbox(m.ID, folders) })
}

func (t *Tx) ensureMailbox(id int64, folders []FolderSpec) error {
	res, err := t.exec(`INSERT INTO mailboxes(id, created) VALUES (?, ?) ON CONFLICT(id) DO NOTHING`, id, t.unixNow())
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n > 0 {
		if err := t.logChange(Change{Mailbox: id, Kind: ChangeMailboxCreate}); err != nil {
			return err
		}
	}
	for _, f := range folders {
		if _, err := t.createFolder(id, f, false); err != nil && !errors.Is(err, ErrExists) {
			return err
		}
	}
	return nil
}

// Exists reports whether the mailbox has been created.
func (m *Mailbox) Exists(ctx context.Context) (bool, error) {
	var n int
	err := m.sh.db.Read.QueryRowContext(ctx, `SELECT count(*) FROM mailboxes WHERE id=?`, m.ID).Scan(&n)
	return n > 0, err
}

// Delete removes the mailbox with all its folders and messages, releasing
// the references to their bodies.
func (m *Mailbox) Delete(ctx context.Context) error {
	return m.sh.write(ctx, func(t *Tx) error {
		rows, err := t.query(`SELECT id, name FROM folders WHERE mailbox_id=?`, m.ID)
		if err != nil {
			return err
		}
		type fo struct {
			id   int64
			name string
		}
		var folders []fo
		for rows.Next() {
			var f fo
			if err := rows.Scan(&f.id, &f.name); err != nil {
				rows.Close()
				return err
			}
			folders = append(folders, f)
		}
		rows.Close()
		for _, f := range folders {
			if err := t.dropFolder(m.ID, f.id, f.name); err != nil {
				return err
			}
		}
		if _, err := t.exec(`DELETE FROM mailboxes WHERE id=?`, m.ID); err != nil {
			return err
		}
		return t.logChange(Change{Mailbox: m.ID, Kind: ChangeMailboxDelete})
	})
}

// Usage returns the bytes and messages the mailbox holds (what its quota
// counts): the sum of its folders' counts (see Tx.checkQuota).
func (m *Mailbox) Usage(ctx context.Context) (bytes, messages int64, err error) {
	var exists bool
	err = m.sh.db.Read.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM mailboxes WHERE id=?), `+
		`(SELECT coalesce(sum(bytes), 0) FROM folders WHERE mailbox_id=?), (SELECT coalesce(sum(messages), 0) FROM folders WHERE mailbox_id=?)`,
		m.ID, m.ID, m.ID).Scan(&exists, &bytes, &messages)
	if err == nil && !exists {
		return 0, 0, fmt.Errorf("mailbox %d: %w", m.ID, ErrNotFound)
	}
	return bytes, messages, err
}

const folderColumns = `id, name, special_use, subscribed, uidvalidity, uidnext, highestmodseq, messages, bytes`

func scanFolder(row interface{ Scan(...any) error }) (Folder, error) {
	var f Folder
	var use string
	var sub int
	var uidvalidity, uidnext int64
	err := row.Scan(&f.ID, &f.Name, &use, &sub, &uidvalidity, &uidnext, &f.HighestModSeq, &f.Messages, &f.Bytes)
	f.SpecialUse, f.Subscribed, f.UIDValidity, f.UIDNext = SpecialUse(use), sub != 0, uint32(uidvalidity), uint32(uidnext)
	return f, err
}

// Folders lists the mailbox's folders by name.
func (m *Mailbox) Folders(ctx context.Context) ([]Folder, error) {
	rows, err := m.sh.db.Read.QueryContext(ctx, `SELECT `+folderColumns+` FROM folders WHERE mailbox_id=? ORDER BY name`, m.ID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Folder
	for rows.Next() {
		f, err := scanFolder(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	return out, rows.Err()
}

// Folder returns one folder by name.
func (m *Mailbox) Folder(ctx context.Context, name string) (Folder, error) {
	name, err := CanonicalFolderName(name)
	if err != nil {
		return Folder{}, err
	}
	f, err := scanFolder(m.sh.db.Read.QueryRowContext(ctx, `SELECT `+folderColumns+` FROM folders WHERE mailbox_id=? AND name=?`, m.ID, name))
	if errors.Is(err, sql.ErrNoRows) {
		return Folder{}, fmt.Errorf("folder %q: %w", name, ErrNotFound)
	}
	return f, err
}

// CreateFolder creates a folder and any missing parent (RFC 9051 section
// 6.3.4: the server creates the superior hierarchy).
func (m *Mailbox) CreateFolder(ctx context.Context, spec FolderSpec) (Folder, error) {
	var f Folder
	err := m.sh.write(ctx, func(t *Tx) error {
		var err error
		f, err = t.createFolder(m.ID, spec, true)
		return err
	})
	return f, err
}

func (t *Tx) createFolder(mailbox int64, spec FolderSpec, parents bool) (Folder, error) {
	name, err := CanonicalFolderName(spec.Name)
	if err != nil {
		return Folder{}, err
	}
	// A folder only belongs to a mailbox that exists: an append finds
	// its folder without looking at the mailbox (Tx.append), so a folder
	// created for a mailbox deleted meanwhile would take messages that
	// nothing accounts for.
	var mailboxExists bool
	if err := t.queryRow(`SELECT EXISTS (SELECT 1 FROM mailboxes WHERE id=?)`, mailbox).Scan(&mailboxExists); err != nil {
		return Folder{}, err
	}
	if !mailboxExists {
		return Folder{}, fmt.Errorf("mailbox %d: %w", mailbox, ErrNotFound)
	}
	if parents {
		for _, p := range parentNames(name) {
			if _, err := t.createFolder(mailbox, FolderSpec{Name: p}, false); err != nil && !errors.Is(err, ErrExists) {
				return Folder{}, err
			}
		}
	}
	var exists int
	if err := t.queryRow(`SELECT count(*) FROM folders WHERE mailbox_id=? AND name=?`, mailbox, name).Scan(&exists); err != nil {
		return Folder{}, err
	}
	if exists > 0 {
		return Folder{}, fmt.Errorf("folder %q: %w", name, ErrExists)
	}
	uidvalidity, err := t.newUIDValidity()
	if err != nil {
		return Folder{}, err
	}
	modseq, err := t.ModSeq()
	if err != nil {
		return Folder{}, err
	}
	res, err := t.exec(`INSERT INTO folders(mailbox_id, name, special_use, uidvalidity, highestmodseq) VALUES (?,?,?,?,?)`,
		mailbox, name, string(spec.SpecialUse), uidvalidity, modseq)
	if err != nil {
		return Folder{}, err
	}
	id, _ := res.LastInsertId()
	if err := t.logChange(Change{Mailbox: mailbox, Folder: id, Kind: ChangeFolderCreate, Name: name}); err != nil {
		return Folder{}, err
	}
	return Folder{ID: id, Name: name, SpecialUse: spec.SpecialUse, Subscribed: true, UIDValidity: uint32(uidvalidity), UIDNext: 1, HighestModSeq: modseq}, nil
}

// RenameFolder renames a folder and its children. Renaming INBOX follows
// RFC 9051 section 6.3.6: its messages move to a new folder of the given
// name, INBOX stays (empty), and INBOX's subfolders are unaffected.
func (m *Mailbox) RenameFolder(ctx context.Context, from, to string) error {
	from, err := CanonicalFolderName(from)
	if err != nil {
		return err
	}
	to, err = CanonicalFolderName(to)
	if err != nil {
		return err
	}
	if from == Inbox && to != Inbox {
		return m.sh.write(ctx, func(t *Tx) error {
			inbox, err := t.folderID(m.ID, Inbox)
			if err != nil {
				return err
			}
			dst, err := t.createFolder(m.ID, FolderSpec{Name: to}, true)
			if err != nil {
				return err
			}
			uids, err := t.folderUIDs(inbox)
			if err != nil {
				return err
			}
			_, err = t.move(m.ID, inbox, dst.ID, uids)
			return err
		})
	}
	if to == Inbox || strings.HasPrefix(to, from+Delimiter) {
		return fmt.Errorf("%w: cannot rename %q to %q", ErrInvalid, from, to)
	}
	return m.sh.write(ctx, func(t *Tx) error {
		rows, err := t.query(`SELECT id, name FROM folders WHERE mailbox_id=? AND (name=? OR substr(name, 1, ?)=?)`,
			m.ID, from, len(from)+1, from+Delimiter)
		if err != nil {
			return err
		}
		type ren struct {
			id         int64
			old, fresh string
		}
		var list []ren
		for rows.Next() {
			var r ren
			if err := rows.Scan(&r.id, &r.old); err != nil {
				rows.Close()
				return err
			}
			r.fresh = to + strings.TrimPrefix(r.old, from)
			list = append(list, r)
		}
		rows.Close()
		if len(list) == 0 {
			return fmt.Errorf("folder %q: %w", from, ErrNotFound)
		}
		for _, p := range parentNames(to) {
			if _, err := t.createFolder(m.ID, FolderSpec{Name: p}, false); err != nil && !errors.Is(err, ErrExists) {
				return err
			}
		}
		modseq, err := t.ModSeq()
		if err != nil {
			return err
		}
		for _, r := range list {
			var n int
			if err := t.queryRow(`SELECT count(*) FROM folders WHERE mailbox_id=? AND name=?`, m.ID, r.fresh).Scan(&n); err != nil {
				return err
			}
			if n > 0 {
				return fmt.Errorf("folder %q: %w", r.fresh, ErrExists)
			}
			if _, err := t.exec(`UPDATE folders SET name=?, highestmodseq=? WHERE id=?`, r.fresh, modseq, r.id); err != nil {
				return err
			}
			if err := t.logChange(Change{Mailbox: m.ID, Folder: r.id, Kind: ChangeFolderRename, Name: r.fresh, OldName: r.old}); err != nil {
				return err
			}
		}
		return nil
	})
}

// DeleteFolder deletes a folder and its messages. INBOX cannot be deleted;
// a folder with children is refused, as Dovecot does (delete the children
// first).
func (m *Mailbox) DeleteFolder(ctx context.Context, name string) error {
	name, err := CanonicalFolderName(name)
	if err != nil {
		return err
	}
	if name == Inbox {
		return fmt.Errorf("%w: INBOX cannot be deleted", ErrInvalid)
	}
	return m.sh.write(ctx, func(t *Tx) error {
		var id int64
		err := t.queryRow(`SELECT id FROM folders WHERE mailbox_id=? AND name=?`, m.ID, name).Scan(&id)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("folder %q: %w", name, ErrNotFound)
		}
		if err != nil {
			return err
		}
		var children int
		if err := t.queryRow(`SELECT count(*) FROM folders WHERE mailbox_id=? AND substr(name, 1, ?)=?`, m.ID, len(name)+1, name+Delimiter).Scan(&children); err != nil {
			return err
		}
		if children > 0 {
			return fmt.Errorf("folder %q: %w", name, ErrHasChildren)
		}
		return t.dropFolder(m.ID, id, name)
	})
}

func (t *Tx) dropFolder(mailbox, id int64, name string) error {
	rows, err := t.query(`SELECT body_id FROM messages WHERE folder_id=?`, id)
	if err != nil {
		return err
	}
	var bodies []int64
	for rows.Next() {
		var b int64
		if err := rows.Scan(&b); err != nil {
			rows.Close()
			return err
		}
		bodies = append(bodies, b)
	}
	rows.Close()
	for _, b := range bodies {
		if err := t.unrefBody(mailbox, b); err != nil {
			return err
		}
	}
	for _, q := range []string{`DELETE FROM messages WHERE folder_id=?`, `DELETE FROM tombstones WHERE folder_id=?`, `DELETE FROM folders WHERE id=?`} {
		if _, err := t.exec(q, id); err != nil {
			return err
		}
	}
	return t.logChange(Change{Mailbox: mailbox, Folder: id, Kind: ChangeFolderDelete, Name: name})
}

// SetSubscribed subscribes to or unsubscribes from a folder.
func (m *Mailbox) SetSubscribed(ctx context.Context, name string, subscribed bool) error {
	f, err := m.Folder(ctx, name)
	if err != nil {
		return err
	}
	return m.sh.write(ctx, func(t *Tx) error {
		if _, err := t.exec(`UPDATE folders SET subscribed=? WHERE id=? AND mailbox_id=?`, subscribed, f.ID, m.ID); err != nil {
			return err
		}
		kind := ChangeUnsubscribe
		if subscribed {
			kind = ChangeSubscribe
		}
		return t.logChange(Change{Mailbox: m.ID, Folder: f.ID, Kind: kind, Name: f.Name})
	})
}

// Messages iterates over a folder's messages with UID >= from, in UID
// order, streaming from the database.
func (m *Mailbox) Messages(ctx context.Context, folder int64, from uint32) iter.Seq2[Message, error] {
	return func(yield func(Message, error) bool) {
		rows, err := m.sh.db.Read.QueryContext(ctx, `SELECT m.uid, m.modseq, m.flags, m.keywords, m.internal_date, m.save_date, m.size, m.body_id, b.hash
			FROM messages m JOIN bodies b ON b.id = m.body_id JOIN folders f ON f.id = m.folder_id
			WHERE m.folder_id=? AND f.mailbox_id=? AND m.uid >= ? ORDER BY m.uid`, folder, m.ID, int64(from))
		if err != nil {
			yield(Message{}, err)
			return
		}
		defer rows.Close()
		for rows.Next() {
			var msg Message
			var uid, flags, idate, sdate int64
			var kw string
			var hash []byte
			if err := rows.Scan(&uid, &msg.ModSeq, &flags, &kw, &idate, &sdate, &msg.Size, &msg.BodyID, &hash); err != nil {
				yield(Message{}, err)
				return
			}
			msg.UID, msg.Flags, msg.Keywords = uint32(uid), Flags(flags), splitKeywords(kw)
			msg.InternalDate, msg.SaveDate = time.Unix(idate, 0).UTC(), time.Unix(sdate, 0).UTC()
			copy(msg.Body[:], hash)
			if !yield(msg, nil) {
				return
			}
		}
		if err := rows.Err(); err != nil {
			yield(Message{}, err)
		}
	}
}

// ChangedSince lists the UIDs of a folder's messages whose MODSEQ is greater
// than modseq, with their MODSEQ (RFC 7162 section 3.1.4, CHANGEDSINCE).
func (m *Mailbox) ChangedSince(ctx context.Context, folder int64, modseq int64) ([]UIDModSeq, error) {
	return m.uidModSeqs(ctx, `SELECT x.uid, x.modseq FROM messages x JOIN folders f ON f.id = x.folder_id
		WHERE x.folder_id=? AND f.mailbox_id=? AND x.modseq > ? ORDER BY x.uid`, folder, modseq)
}

// Vanished is what a folder lost after a MODSEQ (VanishedSince).
type Vanished struct {
	// UIDs are the UIDs expunged after the MODSEQ, in UID order, with the
	// MODSEQ of their expunge, when the tombstones after it are all kept.
	UIDs []UIDModSeq
	// Lost is set instead when some of them may be gone: tombstones are
	// deleted once their change log entry is (CompactLog), and the
	// folder's vanished_floor is the highest MODSEQ it lost that way.
	// Absent is then every range of UIDs below UIDNEXT that the folder
	// does not hold: a superset of the UIDs expunged after the MODSEQ,
	// which is what RFC 7162 section 3.2.6 lets a server answer when it
	// no longer knows when a message was expunged (RFC 5162 section 4.1
	// said so explicitly). A client ignores the UIDs it never had.
	Lost   bool
	Absent []UIDRange
}

// UIDRange is the UIDs from First to Last, both included.
type UIDRange struct{ First, Last uint32 }

// VanishedSince lists what was expunged from a folder after modseq (RFC
// 7162 section 3.2.5.2, QRESYNC, and 3.2.6, VANISHED (EARLIER)).
func (m *Mailbox) VanishedSince(ctx context.Context, folder int64, modseq int64) (Vanished, error) {
	var v Vanished
	tx, err := m.sh.db.Read.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return v, err
	}
	defer tx.Rollback()
	var uidnext, highest, floor int64
	err = tx.QueryRowContext(ctx, `SELECT uidnext, highestmodseq, vanished_floor FROM folders WHERE id=? AND mailbox_id=?`,
		folder, m.ID).Scan(&uidnext, &highest, &floor)
	if errors.Is(err, sql.ErrNoRows) {
		return v, fmt.Errorf("folder %d: %w", folder, ErrNotFound)
	}
	if err != nil {
		return v, err
	}
	if modseq < highest {
		if v, err = vanishedIn(ctx, tx, folder, modseq, floor, uint32(uidnext)); err != nil {
			return v, err
		}
	}
	return v, tx.Commit()
}

// vanishedIn reads, in tx, what a folder with the given vanished_floor and
// UIDNEXT lost after modseq: its tombstones, or the UIDs it does not hold
// when some of those may be gone.
func vanishedIn(ctx context.Context, tx *sql.Tx, folder, modseq, floor int64, uidnext uint32) (Vanished, error) {
	var v Vanished
	var err error
	if modseq < floor {
		v.Lost = true
		v.Absent, err = absentUIDs(ctx, tx, folder, uidnext)
	} else {
		v.UIDs, err = uidModSeqs(ctx, tx, `SELECT uid, modseq FROM tombstones WHERE folder_id=? AND modseq > ? ORDER BY uid`, folder, modseq)
	}
	return v, err
}

// absentUIDs returns the ranges of UIDs below uidnext that a folder does
// not hold.
func absentUIDs(ctx context.Context, tx *sql.Tx, folder int64, uidnext uint32) ([]UIDRange, error) {
	rows, err := tx.QueryContext(ctx, `SELECT uid FROM messages WHERE folder_id=? ORDER BY uid`, folder)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []UIDRange
	next := uint32(1)
	for rows.Next() {
		var uid int64
		if err := rows.Scan(&uid); err != nil {
			return nil, err
		}
		if uint32(uid) > next {
			out = append(out, UIDRange{next, uint32(uid) - 1})
		}
		next = uint32(uid) + 1
	}
	if uidnext > next {
		out = append(out, UIDRange{next, uidnext - 1})
	}
	return out, rows.Err()
}

// UIDModSeq is a UID with the MODSEQ of its last change.
type UIDModSeq struct {
	UID    uint32
	ModSeq int64
}

func (m *Mailbox) uidModSeqs(ctx context.Context, query string, folder, modseq int64) ([]UIDModSeq, error) {
	return uidModSeqs(ctx, m.sh.db.Read, query, folder, m.ID, modseq)
}

func uidModSeqs(ctx context.Context, db interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}, query string, args ...any) ([]UIDModSeq, error) {
	rows, err := db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []UIDModSeq
	for rows.Next() {
		var uid, ms int64
		if err := rows.Scan(&uid, &ms); err != nil {
			return nil, err
		}
		out = append(out, UIDModSeq{UID: uint32(uid), ModSeq: ms})
	}
	return out, rows.Err()
}

// BodyMeta returns the metadata stored with a body at delivery (see package
// message for its encoding).
func (sh *Shard) BodyMeta(ctx context.Context, bodyID int64) ([]byte, error) {
	var meta []byte
	err := sh.db.Read.QueryRowContext(ctx, `SELECT meta FROM bodies WHERE id=?`, bodyID).Scan(&meta)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("body %d: %w", bodyID, ErrNotFound)
	}
	return meta, err
}

// FlagOp says how SetFlags combines the given flags with the current ones
// (RFC 9051 section 6.4.6: FLAGS, +FLAGS, -FLAGS).
type FlagOp int

// Flag operations.
const (
	FlagsReplace FlagOp = iota
	FlagsAdd
	FlagsRemove
)

// SetFlags changes the flags of messages of a folder and returns the UIDs
// whose flags really changed (those get the operation's MODSEQ).
func (m *Mailbox) SetFlags(ctx context.Context, folder int64, uids []uint32, op FlagOp, flags Flags, keywords []string) ([]uint32, error) {
	changed, _, _, err := m.SetFlagsIf(ctx, folder, uids, op, flags, keywords, -1)
	return changed, err
}

// SetFlagsIf is SetFlags with the UNCHANGEDSINCE condition of RFC 7162
// section 3.1.3: a message whose MODSEQ is above unchangedSince is left
// alone and listed in modified (unchangedSince < 0: no condition). It also
// returns the operation's MODSEQ (0 when nothing changed).
func (m *Mailbox) SetFlagsIf(ctx context.Context, folder int64, uids []uint32, op FlagOp, flags Flags, keywords []string,
	unchangedSince int64) (changed, modified []uint32, modseq int64, err error) {
	err = m.sh.write(ctx, func(t *Tx) error {
		changed, modified, modseq = changed[:0], modified[:0], 0
		if err := t.ownFolder(m.ID, folder); err != nil {
			return err
		}
		for _, uid := range uids {
			var cur, curModSeq int64
			var kw string
			err := t.queryRow(`SELECT flags, keywords, modseq FROM messages WHERE folder_id=? AND uid=?`, folder, int64(uid)).Scan(&cur, &kw, &curModSeq)
			if errors.Is(err, sql.ErrNoRows) {
				continue // expunged meanwhile: nothing to change
			}
			if err != nil {
				return err
			}
			if unchangedSince >= 0 && curModSeq > unchangedSince {
				modified = append(modified, uid)
				continue
			}
			nf, nkw := applyFlags(Flags(cur), splitKeywords(kw), op, flags, keywords)
			if nf == Flags(cur) && joinKeywords(nkw) == kw {
				continue
			}
			if modseq, err = t.ModSeq(); err != nil {
				return err
			}
			if _, err := t.exec(`UPDATE messages SET flags=?, keywords=?, modseq=? WHERE folder_id=? AND uid=?`,
				int64(nf), joinKeywords(nkw), modseq, folder, int64(uid)); err != nil {
				return err
			}
			if err := t.logChange(Change{Mailbox: m.ID, Folder: folder, Kind: ChangeFlags, UID: uid, Flags: nf, Keywords: nkw}); err != nil {
				return err
			}
			changed = append(changed, uid)
		}
		if len(changed) > 0 {
			return t.bumpFolder(folder)
		}
		return nil
	})
	return changed, modified, modseq, err
}

func applyFlags(cur Flags, curKw []string, op FlagOp, flags Flags, keywords []string) (Flags, []string) {
	set := map[string]bool{}
	switch op {
	case FlagsReplace:
		cur = flags
		for _, k := range keywords {
			set[k] = true
		}
	case FlagsAdd:
		cur |= flags
		for _, k := range curKw {
			set[k] = true
		}
		for _, k := range keywords {
			set[k] = true
		}
	case FlagsRemove:
		cur &^= flags
		for _, k := range curKw {
			set[k] = true
		}
		for _, k := range keywords {
			delete(set, k)
		}
	}
	out := make([]string, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	return cur, splitKeywords(joinKeywords(out))
}

func (t *Tx) ownFolder(mailbox, folder int64) error {
	var n int
	if err := t.queryRow(`SELECT count(*) FROM folders WHERE id=? AND mailbox_id=?`, folder, mailbox).Scan(&n); err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("folder %d: %w", folder, ErrNotFound)
	}
	return nil
}

// bumpFolder sets a folder's HIGHESTMODSEQ to the operation's MODSEQ.
func (t *Tx) bumpFolder(folder int64) error {
	modseq, err := t.ModSeq()
	if err != nil {
		return err
	}
	_, err = t.exec(`UPDATE folders SET highestmodseq=? WHERE id=?`, modseq, folder)
	return err
}

// MoveResult pairs a moved message's UID in its old folder with its UID in
// the new one (what RFC 4315 COPYUID reports).
type MoveResult struct{ From, To uint32 }

// Move moves messages to another folder of the same mailbox, in UID order
// (RFC 6851): each gets the next UID of the destination, the source keeps
// tombstones, and both folders get the operation's MODSEQ. Bodies are not
// copied: the message rows keep their reference. UIDs no longer present
// are skipped.
func (m *Mailbox) Move(ctx context.Context, from, to int64, uids []uint32) ([]MoveResult, error) {
	var moved []MoveResult
	err := m.sh.write(ctx, func(t *Tx) error {
		if err := t.ownFolder(m.ID, to); err != nil {
			return err
		}
		var err error
		moved, err = t.move(m.ID, from, to, uids)
		return err
	})
	return moved, err
}

// Copy copies messages to another folder of the same mailbox, in UID order
// (RFC 9051 section 6.4.7): each gets the next UID of the destination and
// keeps its flags and internal date; bodies are shared, not copied. The
// copies count against quotaBytes (0: unlimited): if they do not all fit,
// none is made (ErrOverQuota). It returns the UID pairs COPYUID reports.
func (m *Mailbox) Copy(ctx context.Context, from, to int64, uids []uint32, quotaBytes int64) ([]MoveResult, error) {
	var copied []MoveResult
	err := m.sh.write(ctx, func(t *Tx) error {
		copied = copied[:0]
		if err := t.ownFolder(m.ID, from); err != nil {
			return err
		}
		if err := t.ownFolder(m.ID, to); err != nil {
			return err
		}
		sorted := append([]uint32(nil), uids...)
		slices.Sort(sorted)
		modseq, err := t.ModSeq()
		if err != nil {
			return err
		}
		var bytes int64
		for _, uid := range slices.Compact(sorted) {
			newUID, bodyID, size, ok, err := t.copyRow(m.ID, from, to, uid, modseq)
			if err != nil {
				return err
			}
			if !ok {
				continue
			}
			if _, err := t.exec(`UPDATE bodies SET refs = refs + 1 WHERE id=?`, bodyID); err != nil {
				return err
			}
			bytes += size
			copied = append(copied, MoveResult{From: uid, To: newUID})
		}
		if len(copied) == 0 {
			return nil
		}
		if _, err := t.exec(`UPDATE folders SET messages=messages+?, bytes=bytes+?, highestmodseq=? WHERE id=?`, len(copied), bytes, modseq, to); err != nil {
			return err
		}
		// Over quota: the operation's rollback takes every copy back.
		return t.checkQuota(m.ID, quotaBytes)
	})
	if err != nil {
		return nil, err
	}
	return copied, nil
}

func (t *Tx) folderID(mailbox int64, name string) (int64, error) {
	var id int64
	err := t.queryRow(`SELECT id FROM folders WHERE mailbox_id=? AND name=?`, mailbox, name).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("folder %q: %w", name, ErrNotFound)
	}
	return id, err
}

func (t *Tx) folderUIDs(folder int64) ([]uint32, error) {
	rows, err := t.query(`SELECT uid FROM messages WHERE folder_id=? ORDER BY uid`, folder)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []uint32
	for rows.Next() {
		var uid int64
		if err := rows.Scan(&uid); err != nil {
			return nil, err
		}
		out = append(out, uint32(uid))
	}
	return out, rows.Err()
}

func (t *Tx) move(mailbox, from, to int64, uids []uint32) ([]MoveResult, error) {
	if err := t.ownFolder(mailbox, from); err != nil {
		return nil, err
	}
	if from == to {
		return nil, fmt.Errorf("%w: moving messages to the folder they are in", ErrInvalid)
	}
	sorted := append([]uint32(nil), uids...)
	slices.Sort(sorted)
	modseq, err := t.ModSeq()
	if err != nil {
		return nil, err
	}
	var moved []MoveResult
	var bytes int64
	for _, uid := range slices.Compact(sorted) {
		newUID, _, size, ok, err := t.copyRow(mailbox, from, to, uid, modseq)
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		if _, err := t.exec(`DELETE FROM messages WHERE folder_id=? AND uid=?`, from, int64(uid)); err != nil {
			return nil, err
		}
		if _, err := t.exec(`INSERT INTO tombstones(folder_id, uid, modseq) VALUES (?,?,?)`, from, int64(uid), modseq); err != nil {
			return nil, err
		}
		if err := t.logChange(Change{Mailbox: mailbox, Folder: from, Kind: ChangeExpunge, UID: uid}); err != nil {
			return nil, err
		}
		bytes += size
		moved = append(moved, MoveResult{From: uid, To: newUID})
	}
	if len(moved) == 0 {
		return nil, nil
	}
	n := int64(len(moved))
	if _, err := t.exec(`UPDATE folders SET messages=messages-?, bytes=bytes-?, highestmodseq=? WHERE id=?`, n, bytes, modseq, from); err != nil {
		return nil, err
	}
	if _, err := t.exec(`UPDATE folders SET messages=messages+?, bytes=bytes+?, highestmodseq=? WHERE id=?`, n, bytes, modseq, to); err != nil {
		return nil, err
	}
	return moved, nil
}

// copyRow copies message uid of folder from into folder to under the next
// UID of to, with the operation's MODSEQ and a save date of now (RFC 8514:
// when the message was saved in that folder), and logs the append. It reports
// ok=false when uid is no longer in from. The body's reference count is the
// caller's business (a move keeps the reference, a copy adds one).
func (t *Tx) copyRow(mailbox, from, to int64, uid uint32, modseq int64) (newUID uint32, bodyID, size int64, ok bool, err error) {
	var flags, idate int64
	var kw string
	err = t.queryRow(`SELECT body_id, flags, keywords, internal_date, size FROM messages WHERE folder_id=? AND uid=?`,
		from, int64(uid)).Scan(&bodyID, &flags, &kw, &idate, &size)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, 0, 0, false, nil
	}
	if err != nil {
		return 0, 0, 0, false, err
	}
	var next int64
	if err := t.queryRow(`UPDATE folders SET uidnext = uidnext + 1 WHERE id=? RETURNING uidnext - 1`, to).Scan(&next); err != nil {
		return 0, 0, 0, false, err
	}
	if next > 0xffffffff {
		return 0, 0, 0, false, fmt.Errorf("%w: destination folder has used every UID", ErrInvalid)
	}
	if _, err := t.exec(`INSERT INTO messages(folder_id, uid, body_id, modseq, flags, keywords, internal_date, save_date, size)
		VALUES (?,?,?,?,?,?,?,?,?)`, to, next, bodyID, modseq, flags, kw, idate, t.unixNow(), size); err != nil {
		return 0, 0, 0, false, err
	}
	if err := t.logChange(Change{Mailbox: mailbox, Folder: to, Kind: ChangeAppend, UID: uint32(next), BodyID: bodyID,
		Flags: Flags(flags), Keywords: splitKeywords(kw)}); err != nil {
		return 0, 0, 0, false, err
	}
	return uint32(next), bodyID, size, true, nil
}

// Expunge removes messages from a folder, leaving tombstones with the
// operation's MODSEQ (RFC 7162 section 3.2.10: QRESYNC reports them as
// VANISHED). With onlyDeleted, only messages that have \Deleted at commit
// time go. It returns the UIDs expunged.
func (m *Mailbox) Expunge(ctx context.Context, folder int64, uids []uint32, onlyDeleted bool) ([]uint32, error) {
	var gone []uint32
	err := m.sh.write(ctx, func(t *Tx) error {
		gone = gone[:0]
		if err := t.ownFolder(m.ID, folder); err != nil {
			return err
		}
		var bytes, count int64
		for _, uid := range uids {
			var flags, bodyID, size int64
			err := t.queryRow(`SELECT flags, body_id, size FROM messages WHERE folder_id=? AND uid=?`, folder, int64(uid)).Scan(&flags, &bodyID, &size)
			if errors.Is(err, sql.ErrNoRows) {
				continue
			}
			if err != nil {
				return err
			}
			if onlyDeleted && Flags(flags)&FlagDeleted == 0 {
				continue
			}
			modseq, err := t.ModSeq()
			if err != nil {
				return err
			}
			if _, err := t.exec(`DELETE FROM messages WHERE folder_id=? AND uid=?`, folder, int64(uid)); err != nil {
				return err
			}
			if _, err := t.exec(`INSERT INTO tombstones(folder_id, uid, modseq) VALUES (?,?,?)`, folder, int64(uid), modseq); err != nil {
				return err
			}
			if err := t.unrefBody(m.ID, bodyID); err != nil {
				return err
			}
			if err := t.logChange(Change{Mailbox: m.ID, Folder: folder, Kind: ChangeExpunge, UID: uid}); err != nil {
				return err
			}
			bytes += size
			count++
			gone = append(gone, uid)
		}
		if count == 0 {
			return nil
		}
		if _, err := t.exec(`UPDATE folders SET messages=messages-?, bytes=bytes-? WHERE id=?`, count, bytes, folder); err != nil {
			return err
		}
		return t.bumpFolder(folder)
	})
	return gone, err
}

// unrefBody drops one reference to a body; the last one deletes the row,
// logs the deletion (for the consumers that keep something per body) and
// makes the body a candidate for the collector.
func (t *Tx) unrefBody(mailbox, id int64) error {
	var refs int64
	var hash []byte
	if err := t.queryRow(`UPDATE bodies SET refs=refs-1 WHERE id=? RETURNING refs, hash`, id).Scan(&refs, &hash); err != nil {
		return fmt.Errorf("store: unref body %d: %w", id, err)
	}
	if refs > 0 {
		return nil
	}
	if _, err := t.exec(`DELETE FROM bodies WHERE id=?`, id); err != nil {
		return err
	}
	if err := t.logChange(Change{Mailbox: mailbox, Kind: ChangeBodyDelete, BodyID: id}); err != nil {
		return err
	}
	_, err := t.exec(`INSERT INTO blob_garbage(hash, since) VALUES (?,?) ON CONFLICT(hash) DO UPDATE SET since=excluded.since`, hash, t.unixNow())
	return err
}

// Body is a body in the blob store, with its parsed metadata, ready to be
// referenced by message records.
type Body struct {
	Hash blob.Hash
	Size int64
	Meta []byte
	// Durable, when set, waits until the body is durable in the blob store
	// and reports whether it failed. The shard writers run the operations
	// that reference the body meanwhile and call it before they commit, so
	// that making the file durable overlaps with queueing and SQL work but
	// no reference ever commits before its body is on disk. Nil means the
	// body is durable already.
	Durable func() error
}
