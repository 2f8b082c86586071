package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"iter"
	"strconv"
	"time"
)

// MessageState is the changeable part of a message record: what a client
// session keeps up to date for the messages it shows.
type MessageState struct {
	UID      uint32
	ModSeq   int64
	Flags    Flags
	Keywords []string
}

// SyncState is a consistent snapshot of what changed in a folder since a
// MODSEQ: the folder's state, the messages changed or added after it, and
// the UIDs expunged after it.
type SyncState struct {
	Folder   Folder
	Changed  []MessageState // in UID order
	Vanished []uint32       // in UID order
	// Lost is set, and Vanished left empty, when tombstones after since
	// may already be deleted (see Vanished.Lost): Absent then lists the
	// ranges of UIDs below UIDNEXT that the folder does not hold, and
	// whatever UID the caller knows in them is gone.
	Lost   bool
	Absent []UIDRange
}

// Sync reads, in one read transaction, a folder's state, its messages whose
// MODSEQ is above since and the tombstones above since. With since 0 it is
// the whole folder, as SELECT needs. Every later change has a MODSEQ above
// the returned Folder.HighestModSeq (MODSEQs are given out in commit order),
// so a session that calls Sync again with that value misses nothing and
// sees nothing twice: this is how IMAP sessions follow a folder (RFC 7162
// section 3.2.10, and the unsolicited responses of RFC 9051 section 7).
func (m *Mailbox) Sync(ctx context.Context, folder int64, since int64) (SyncState, error) {
	var st SyncState
	tx, err := m.sh.db.Read.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return st, err
	}
	defer tx.Rollback()
	var floor int64
	st.Folder, err = scanFolder(withFloor{tx.QueryRowContext(ctx, `SELECT `+folderColumns+`, vanished_floor FROM folders WHERE id=? AND mailbox_id=?`, folder, m.ID), &floor})
	if errors.Is(err, sql.ErrNoRows) {
		return st, fmt.Errorf("folder %d: %w", folder, ErrNotFound)
	}
	if err != nil {
		return st, err
	}
	if since >= st.Folder.HighestModSeq {
		return st, nil
	}
	rows, err := tx.QueryContext(ctx, `SELECT uid, modseq, flags, keywords FROM messages WHERE folder_id=? AND modseq > ? ORDER BY uid`, folder, since)
	if err != nil {
		return st, err
	}
	if n := st.Folder.Messages; since == 0 && n > 0 {
		// The whole folder: its count sizes the slice (growing it by
		// doubling was most of the 3.3 MB a SELECT of 12,000 messages
		// allocated). The count is the row's, read in this transaction.
		st.Changed = make([]MessageState, 0, min(n, 1<<22))
	}
	// Scanned into the same variables for every row: Scan's pointers make
	// them escape, and declared in the loop they were three allocations
	// per message.
	var (
		uid, modseq, flags int64
		kw                 string
	)
	for rows.Next() {
		if err := rows.Scan(&uid, &modseq, &flags, &kw); err != nil {
			rows.Close()
			return st, err
		}
		st.Changed = append(st.Changed, MessageState{UID: uint32(uid), ModSeq: modseq, Flags: Flags(flags), Keywords: splitKeywords(kw)})
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return st, err
	}
	if since > 0 {
		v, err := vanishedIn(ctx, tx, folder, since, floor, st.Folder.UIDNext)
		if err != nil {
			return st, err
		}
		st.Lost, st.Absent = v.Lost, v.Absent
		for _, u := range v.UIDs {
			st.Vanished = append(st.Vanished, u.UID)
		}
	}
	return st, tx.Commit()
}

// withFloor scans a folder row followed by its vanished_floor.
type withFloor struct {
	row   *sql.Row
	floor *int64
}

func (w withFloor) Scan(dest ...any) error { return w.row.Scan(append(dest, w.floor)...) }

// FolderByID returns one folder of the mailbox by its ID.
func (m *Mailbox) FolderByID(ctx context.Context, id int64) (Folder, error) {
	f, err := scanFolder(m.sh.db.Read.QueryRowContext(ctx, `SELECT `+folderColumns+` FROM folders WHERE id=? AND mailbox_id=?`, id, m.ID))
	if errors.Is(err, sql.ErrNoRows) {
		return Folder{}, fmt.Errorf("folder %d: %w", id, ErrNotFound)
	}
	return f, err
}

// MessageMeta is a message record with its body's stored metadata.
type MessageMeta struct {
	Message
	// Meta is the body's metadata (see package message), when asked for.
	// It points into the database driver's row buffer: it is valid only
	// until the iteration moves on, and must not be modified.
	Meta []byte
}

// FetchCols says what Fetch reads besides the message record.
type FetchCols uint8

// Columns of Fetch.
const (
	// FetchHash reads the body's hash (Message.Body), needed to open the
	// message file.
	FetchHash FetchCols = 1 << iota
	// FetchMeta reads the body's metadata (MessageMeta.Meta); it implies
	// FetchHash.
	FetchMeta
)

// Fetch iterates over a folder's messages with first <= UID <= last, in
// UID order, streaming from the database; cols adds the body's hash and
// metadata (see package message). Without them the query reads the
// messages table alone, which is what a listing of flags, sizes and dates
// needs. The folder must belong to the mailbox. The yielded value and its
// slices are reused: keep nothing past the loop step.
func (m *Mailbox) Fetch(ctx context.Context, folder int64, first, last uint32, cols FetchCols) iter.Seq2[*MessageMeta, error] {
	sel, from := fetchColumns(cols)
	query := `SELECT ` + sel + from + ` WHERE m.folder_id=? AND m.uid BETWEEN ? AND ? ORDER BY m.uid`
	return m.fetch(ctx, folder, cols, query, folder, int64(first), int64(last))
}

// FetchUIDs is Fetch for the messages of a folder with the given UIDs
// (in any order; those no longer there are left out), in UID order.
func (m *Mailbox) FetchUIDs(ctx context.Context, folder int64, uids []uint32, cols FetchCols) iter.Seq2[*MessageMeta, error] {
	sel, from := fetchColumns(cols)
	query := `SELECT ` + sel + from + ` WHERE m.folder_id=? AND m.uid IN (SELECT value FROM json_each(?)) ORDER BY m.uid`
	return m.fetch(ctx, folder, cols, query, folder, jsonArray(uids))
}

// UIDsOf returns, in order, the UIDs of the messages of a folder whose
// body is one of bodies or whose MODSEQ is at least modseq: what a search
// narrowed by the full-text index must look at. It reads the body and
// MODSEQ indexes only, never the rest of the folder.
func (m *Mailbox) UIDsOf(ctx context.Context, folder int64, bodies []int64, modseq int64) ([]uint32, error) {
	if _, err := m.FolderByID(ctx, folder); err != nil {
		return nil, err
	}
	rows, err := m.sh.db.Read.QueryContext(ctx, `SELECT uid FROM messages WHERE folder_id=?1 AND body_id IN (SELECT value FROM json_each(?2))
		UNION SELECT uid FROM messages WHERE folder_id=?1 AND modseq >= ?3 ORDER BY 1`, folder, jsonArray(bodies), modseq)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var uids []uint32
	for rows.Next() {
		var uid int64
		if err := rows.Scan(&uid); err != nil {
			return nil, err
		}
		uids = append(uids, uint32(uid))
	}
	return uids, rows.Err()
}

// jsonArray renders integers as a JSON array, for json_each.
func jsonArray[T int64 | uint32](v []T) string {
	b := make([]byte, 0, 8*len(v)+2)
	b = append(b, '[')
	for i, x := range v {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, int64(x), 10)
	}
	return string(append(b, ']'))
}

func fetchColumns(cols FetchCols) (sel, from string) {
	meta := cols&FetchMeta != 0
	hash := meta || cols&FetchHash != 0
	sel = `m.uid, m.modseq, m.flags, m.keywords, m.internal_date, m.save_date, m.size, m.body_id`
	from = ` FROM messages m`
	if hash {
		sel += `, b.hash`
		from += ` JOIN bodies b ON b.id = m.body_id`
	}
	if meta {
		sel += `, b.meta`
	}
	return sel, from
}

func (m *Mailbox) fetch(ctx context.Context, folder int64, cols FetchCols, query string, args ...any) iter.Seq2[*MessageMeta, error] {
	meta := cols&FetchMeta != 0
	hash := meta || cols&FetchHash != 0
	return func(yield func(*MessageMeta, error) bool) {
		if _, err := m.FolderByID(ctx, folder); err != nil {
			yield(nil, err)
			return
		}
		rows, err := m.sh.db.Read.QueryContext(ctx, query, args...)
		if err != nil {
			yield(nil, err)
			return
		}
		defer rows.Close()
		var msg MessageMeta
		var uid, flags, idate, sdate int64
		var kw, hashBytes, metaBytes sql.RawBytes
		dest := []any{&uid, &msg.ModSeq, &flags, &kw, &idate, &sdate, &msg.Size, &msg.BodyID}
		if hash {
			dest = append(dest, &hashBytes)
		}
		if meta {
			dest = append(dest, &metaBytes)
		}
		var lastKw string
		for rows.Next() {
			if err := rows.Scan(dest...); err != nil {
				yield(nil, err)
				return
			}
			msg.UID, msg.Flags = uint32(uid), Flags(flags)
			// Keywords are few and repeat from message to message.
			if string(kw) != lastKw {
				lastKw = string(kw)
				msg.Keywords = splitKeywords(lastKw)
			}
			msg.InternalDate, msg.SaveDate = time.Unix(idate, 0).UTC(), time.Unix(sdate, 0).UTC()
			copy(msg.Body[:], hashBytes)
			msg.Meta = metaBytes
			if !yield(&msg, nil) {
				return
			}
		}
		if err := rows.Err(); err != nil {
			yield(nil, err)
		}
	}
}

// AppendItem is one message of AppendAll.
type AppendItem struct {
	Body         Body
	Folder       string
	Flags        Flags
	Keywords     []string
	InternalDate time.Time
}

// AppendAll appends messages to folders of this mailbox in one
// transaction: all are appended or none is (MULTIAPPEND, RFC 3502 section
// 6.3.11). quotaBytes (0: unlimited) bounds the mailbox's use after all of
// them. The bodies must be pinned by the caller; the transaction commits
// only after each body's Durable returns nil.
func (m *Mailbox) AppendAll(ctx context.Context, items []AppendItem, quotaBytes int64) ([]AppendResult, error) {
	durable := func() error {
		for _, it := range items {
			if it.Body.Durable != nil {
				if err := it.Body.Durable(); err != nil {
					return err
				}
			}
		}
		return nil
	}
	results := make([]AppendResult, len(items))
	err := m.sh.submitDurable(ctx, durable, func(t *Tx) error {
		var total int64
		for _, it := range items {
			total += it.Body.Size
		}
		for i, it := range items {
			// Each append checks the quota with what the earlier ones
			// used; the last one sees the total.
			r, err := t.append(it.Body, &AppendTarget{Shard: m.sh.Index, Mailbox: m.ID, Folder: it.Folder,
				QuotaBytes: quotaBytes, Flags: it.Flags, Keywords: it.Keywords, InternalDate: it.InternalDate})
			if err != nil {
				return err
			}
			results[i] = r
		}
		return nil
	}).wait()
	if err != nil {
		return nil, err
	}
	return results, nil
}

// ChangedMailboxes returns the mailboxes that have change log entries after
// ID after, and the ID of the last entry. Live sessions use it to learn
// which of them must look at their folder again.
func (sh *Shard) ChangedMailboxes(ctx context.Context, after int64) (mailboxes []int64, head int64, err error) {
	err = sh.db.Read.QueryRowContext(ctx, `SELECT coalesce(max(id), 0) FROM changelog`).Scan(&head)
	if err != nil || head <= after {
		return nil, head, err
	}
	rows, err := sh.db.Read.QueryContext(ctx, `SELECT DISTINCT mailbox_id FROM changelog WHERE id > ? AND id <= ?`, after, head)
	if err != nil {
		return nil, head, err
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, head, err
		}
		mailboxes = append(mailboxes, id)
	}
	return mailboxes, head, rows.Err()
}

// FolderCounts counts a folder's messages without \Seen and with \Deleted,
// and the bytes of the latter (STATUS UNSEEN and DELETED, RFC 9051 section
// 6.3.11; DELETED-STORAGE, RFC 9208 section 4.2.1).
func (m *Mailbox) FolderCounts(ctx context.Context, folder int64) (unseen, deleted, deletedBytes int64, err error) {
	err = m.sh.db.Read.QueryRowContext(ctx, `SELECT coalesce(sum(flags & ?1 = 0), 0), coalesce(sum(flags & ?2 != 0), 0),
		coalesce(sum(CASE WHEN flags & ?2 != 0 THEN size ELSE 0 END), 0)
		FROM messages WHERE folder_id=?3`, int64(FlagSeen), int64(FlagDeleted), folder).Scan(&unseen, &deleted, &deletedBytes)
	return unseen, deleted, deletedBytes, err
}
