package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// AppendTarget is one mailbox folder that a body is appended to.
type AppendTarget struct {
	Shard   int
	Mailbox int64
	// Folder is the folder name; empty means INBOX.
	Folder string
	// Layout creates the mailbox if it does not exist yet (an account whose
	// creation was interrupted between the directory and the store).
	Layout []FolderSpec
	// QuotaBytes is the account's quota; 0 means unlimited.
	QuotaBytes   int64
	Flags        Flags
	Keywords     []string
	InternalDate time.Time
}

// AppendResult is the outcome for one target.
type AppendResult struct {
	UID         uint32
	UIDValidity uint32
	Folder      int64
	ModSeq      int64
	Err         error
}

// Append adds a body, already durable in the blob store and pinned by the
// caller, to every target. Targets on one shard are committed in the same
// group transaction; shards commit in parallel. Each target succeeds or
// fails on its own (ErrOverQuota, ErrNotFound for a missing folder).
func (st *Store) Append(ctx context.Context, body Body, targets []AppendTarget) []AppendResult {
	results := make([]AppendResult, len(targets))
	ops := make([]*op, len(targets))
	for i := range targets {
		tg := &targets[i]
		sh, err := st.Shard(tg.Shard)
		if err != nil {
			results[i].Err = err
			continue
		}
		res := &results[i]
		ops[i] = sh.submitDurable(ctx, body.Durable, func(t *Tx) error {
			r, err := t.append(body, tg)
			if err == nil {
				*res = r
			}
			return err
		})
	}
	for i, o := range ops {
		if o != nil {
			if err := o.wait(); err != nil {
				results[i] = AppendResult{Err: err}
			}
		}
	}
	return results
}

func (t *Tx) append(body Body, tg *AppendTarget) (AppendResult, error) {
	folderName := Inbox
	if tg.Folder != "" {
		var err error
		if folderName, err = CanonicalFolderName(tg.Folder); err != nil {
			return AppendResult{}, err
		}
	}
	modseq, err := t.ModSeq()
	if err != nil {
		return AppendResult{}, err
	}
	folder, uidvalidity, uid, err := t.takeUID(tg.Mailbox, folderName, body.Size, modseq)
	if errors.Is(err, sql.ErrNoRows) {
		var exists bool
		if err := t.queryRow(`SELECT EXISTS (SELECT 1 FROM mailboxes WHERE id=?)`, tg.Mailbox).Scan(&exists); err != nil {
			return AppendResult{}, err
		}
		switch {
		case exists:
			return AppendResult{}, fmt.Errorf("folder %q: %w", folderName, ErrNotFound)
		case len(tg.Layout) == 0:
			return AppendResult{}, fmt.Errorf("mailbox %d: %w", tg.Mailbox, ErrNotFound)
		}
		// The mailbox's first message may come before its creation in
		// the shard (a delivery racing the admin command): make it.
		if err := t.ensureMailbox(tg.Mailbox, tg.Layout); err != nil {
			return AppendResult{}, err
		}
		if folder, uidvalidity, uid, err = t.takeUID(tg.Mailbox, folderName, body.Size, modseq); errors.Is(err, sql.ErrNoRows) {
			return AppendResult{}, fmt.Errorf("folder %q: %w", folderName, ErrNotFound)
		}
	}
	if err != nil {
		return AppendResult{}, err
	}
	if uid > 0xffffffff {
		return AppendResult{}, fmt.Errorf("%w: folder %q has used every UID", ErrInvalid, folderName)
	}
	// The quota is checked after the folder has counted the message: if
	// it is over, the operation fails and its rollback (savepoint, or the
	// transaction when it is alone in its group) takes the count back.
	if err := t.checkQuota(tg.Mailbox, tg.QuotaBytes); err != nil {
		return AppendResult{}, err
	}
	var bodyID int64
	if err := t.queryRow(`INSERT INTO bodies(hash, size, refs, meta, created) VALUES (?,?,1,?,?)
		ON CONFLICT(hash) DO UPDATE SET refs = refs + 1 RETURNING id`, body.Hash[:], body.Size, body.Meta, t.unixNow()).Scan(&bodyID); err != nil {
		return AppendResult{}, err
	}
	// A body new to this shard may still be a collection candidate here
	// (its last reference went away earlier): the row is left for the
	// collector, which checks every shard's references under the body's
	// lock before it removes anything and drops candidates it finds in use.
	idate := tg.InternalDate
	if idate.IsZero() {
		idate = time.Unix(t.unixNow(), 0)
	}
	kw := joinKeywords(tg.Keywords)
	if _, err := t.exec(`INSERT INTO messages(folder_id, uid, body_id, modseq, flags, keywords, internal_date, save_date, size)
		VALUES (?,?,?,?,?,?,?,?,?)`, folder, uid, bodyID, modseq, int64(tg.Flags), kw, idate.Unix(), t.unixNow(), body.Size); err != nil {
		return AppendResult{}, err
	}
	if err := t.logChange(Change{Mailbox: tg.Mailbox, Folder: folder, Kind: ChangeAppend, UID: uint32(uid), BodyID: bodyID,
		Flags: tg.Flags, Keywords: tg.Keywords}); err != nil {
		return AppendResult{}, err
	}
	return AppendResult{UID: uint32(uid), UIDValidity: uint32(uidvalidity), Folder: folder, ModSeq: modseq}, nil
}

// takeUID gives the next UID of a folder to a message of size bytes with
// the operation's MODSEQ, counting the message in the folder; sql.ErrNoRows
// if the mailbox has no such folder in this shard.
func (t *Tx) takeUID(mailbox int64, folderName string, size, modseq int64) (folder, uidvalidity, uid int64, err error) {
	err = t.queryRow(`UPDATE folders SET uidnext = uidnext + 1, messages = messages + 1, bytes = bytes + ?, highestmodseq = ?
		WHERE mailbox_id=? AND name=? RETURNING id, uidvalidity, uidnext - 1`,
		size, modseq, mailbox, folderName).Scan(&folder, &uidvalidity, &uid)
	return
}

// checkQuota fails with ErrOverQuota if the mailbox holds more than limit
// bytes (limit <= 0: no limit), counting what the operation has added so
// far. RFC 9208 section 5.1: STORAGE is in units of 1024 octets; the limit
// here is kept in bytes.
//
// A mailbox's usage is the sum of its folders' counts, which every
// operation keeps with its messages: a row of its own, charged by every
// append, was a page written (a WAL frame) per delivery, read only for a
// quota. Summing a mailbox's few folders is a read of a page or two that
// the append has just used.
func (t *Tx) checkQuota(mailbox, limit int64) error {
	if limit <= 0 {
		return nil
	}
	var used int64
	if err := t.queryRow(`SELECT coalesce(sum(bytes), 0) FROM folders WHERE mailbox_id=?`, mailbox).Scan(&used); err != nil {
		return err
	}
	if used > limit {
		return ErrOverQuota
	}
	return nil
}
