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
	// The usage is charged first and checked after: one statement, and
	// if anything below fails the charge is taken back with the rest of
	// the operation (its savepoint, or its transaction when it is alone
	// in its group). RFC 9208 section 5.1: STORAGE is in units of 1024 octets; the
	// limit here is kept in bytes.
	used, err := t.charge(tg.Mailbox, body.Size, 1)
	if errors.Is(err, sql.ErrNoRows) {
		if len(tg.Layout) == 0 {
			return AppendResult{}, fmt.Errorf("mailbox %d: %w", tg.Mailbox, ErrNotFound)
		}
		if err := t.ensureMailbox(tg.Mailbox, tg.Layout); err != nil {
			return AppendResult{}, err
		}
		used, err = t.charge(tg.Mailbox, body.Size, 1)
	}
	if err != nil {
		return AppendResult{}, err
	}
	if tg.QuotaBytes > 0 && used > tg.QuotaBytes {
		return AppendResult{}, ErrOverQuota
	}
	modseq, err := t.ModSeq()
	if err != nil {
		return AppendResult{}, err
	}
	var folder, uidvalidity, uid int64
	err = t.queryRow(`UPDATE folders SET uidnext = uidnext + 1, messages = messages + 1, bytes = bytes + ?, highestmodseq = ?
		WHERE mailbox_id=? AND name=? RETURNING id, uidvalidity, uidnext - 1`,
		body.Size, modseq, tg.Mailbox, folderName).Scan(&folder, &uidvalidity, &uid)
	if errors.Is(err, sql.ErrNoRows) {
		return AppendResult{}, fmt.Errorf("folder %q: %w", folderName, ErrNotFound)
	}
	if err != nil {
		return AppendResult{}, err
	}
	if uid > 0xffffffff {
		return AppendResult{}, fmt.Errorf("%w: folder %q has used every UID", ErrInvalid, folderName)
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

// charge adds messages totalling size bytes to a mailbox's usage and
// returns the bytes it uses now; sql.ErrNoRows if the shard has no such
// mailbox. The caller checks the quota after and fails its operation,
// which takes the charge back, when it is over.
func (t *Tx) charge(mailbox, size, messages int64) (int64, error) {
	var used int64
	err := t.queryRow(`UPDATE mailboxes SET used_bytes=used_bytes+?, used_messages=used_messages+? WHERE id=? RETURNING used_bytes`,
		size, messages, mailbox).Scan(&used)
	return used, err
}
