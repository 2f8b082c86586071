package delivery

import (
	"context"
	"errors"
	"io"
	"time"

	"github.com/petrelmail/petrel/internal/blob"
	"github.com/petrelmail/petrel/internal/directory"
	"github.com/petrelmail/petrel/internal/message"
	"github.com/petrelmail/petrel/internal/store"
)

// Batch is a set of messages a user saves into folders of their own
// mailbox (IMAP APPEND and MULTIAPPEND, RFC 3502): each message is spooled,
// parsed and made durable as it arrives, and Commit appends them all or
// none. The same limits as delivery apply: message size, disk reserve and
// quota.
type Batch struct {
	p      *Pipeline
	user   directory.User
	items  []store.AppendItem
	msgs   []*pending
	ok     bool
	syncer *blob.Syncer // opened before the first body is staged
}

// pending is one message of a batch whose body is being stored in the
// background: its goroutine writes made and err, then closes done.
type pending struct {
	spool *blob.Spooled
	unpin func()
	done  chan struct{}
	made  bool
	err   error
}

// stagedFrom is the first message of a batch whose body is staged
// (blob.Spooled.Stage: written, not flushed) rather than committed: the
// messages after it, made durable all at once by one blob.Syncer.Sync in
// Commit. The first message is committed on its own, overlapping the SQL
// as a delivery's body does, so a single APPEND never pays for a syncfs,
// which writes back the whole file system's dirty data.
const stagedFrom = 1

// NewBatch starts saving messages for a user.
func (p *Pipeline) NewBatch(u directory.User) *Batch {
	return &Batch{p: p, user: u}
}

// Add reads one message to its end and queues it for folder with its flags,
// keywords and internal date (zero: now). Its body starts being made
// durable at once.
func (b *Batch) Add(r io.Reader, folder string, flags store.Flags, keywords []string, date time.Time) error {
	if err := b.p.checkReserve(0); err != nil {
		return err
	}
	sp, err := b.p.store.Blobs().Spool(r, b.p.cfg.MaxMessageSize)
	if err != nil {
		return b.p.spoolError(err)
	}
	if err := b.p.checkReserve(sp.Size); err != nil {
		sp.Close()
		return err
	}
	raw, err := sp.Bytes()
	if err != nil {
		sp.Close()
		return b.p.spoolError(err)
	}
	if date.IsZero() {
		date = time.Now()
	}
	staged := len(b.msgs) >= stagedFrom
	if staged && b.syncer == nil {
		if b.syncer, err = b.p.store.Blobs().OpenSyncer(); err != nil {
			sp.Close()
			return b.p.spoolError(err)
		}
	}
	pm := &pending{spool: sp, unpin: b.p.store.Blobs().Pin(sp.Hash), done: make(chan struct{})}
	b.msgs = append(b.msgs, pm)
	go func() {
		defer close(pm.done)
		if staged {
			pm.made, pm.err = sp.Stage()
		} else {
			pm.made, pm.err = sp.Commit()
		}
	}()
	b.items = append(b.items, store.AppendItem{
		Body: store.Body{Hash: sp.Hash, Size: sp.Size, Meta: message.Parse(raw).Marshal(), Durable: func() error {
			<-pm.done
			return pm.err
		}},
		Folder: folder, Flags: flags, Keywords: keywords, InternalDate: date,
	})
	return nil
}

// Len is the number of messages added.
func (b *Batch) Len() int { return len(b.items) }

// Size is the total size of the messages added.
func (b *Batch) Size() int64 {
	var n int64
	for _, it := range b.items {
		n += it.Body.Size
	}
	return n
}

// Commit appends every message added, all or none. Errors carry the
// delivery codes: ErrOverQuota, ErrDiskReserve, ErrTemporary, or
// store.ErrNotFound (wrapped) when a folder does not exist.
func (b *Batch) Commit(ctx context.Context) ([]store.AppendResult, error) {
	if len(b.items) == 0 {
		return nil, nil
	}
	if err := b.p.checkReserve(0); err != nil {
		return nil, err
	}
	mb, err := b.p.store.Mailbox(b.user.Shard, b.user.ID)
	if err != nil {
		return nil, err
	}
	if err := b.syncStaged(); err != nil {
		return nil, b.p.spoolError(err)
	}
	res, err := mb.AppendAll(ctx, b.items, b.user.Quota)
	switch {
	case err == nil:
		b.ok = true
		return res, nil
	case errors.Is(err, store.ErrOverQuota):
		return nil, ErrOverQuota
	case errors.Is(err, store.ErrNotFound), errors.Is(err, store.ErrInvalid):
		return nil, err
	default:
		return nil, b.p.spoolError(err)
	}
}

// syncStaged makes the staged bodies durable, once they are all written
// (the Syncer is open if and only if a body was staged).
func (b *Batch) syncStaged() error {
	if b.syncer == nil {
		return nil
	}
	for _, pm := range b.msgs[stagedFrom:] {
		<-pm.done
		if pm.err != nil {
			return pm.err
		}
	}
	return b.p.syncBodies(b.syncer)
}

// Close releases what the batch holds; bodies it stored that no committed
// message references are taken back.
func (b *Batch) Close() {
	// Every pin goes before any body is dropped: dropping takes the
	// body's lock stripe exclusively, which waits for the pins, and a
	// batch may hold the same body (or another of the 256 stripes' worth)
	// twice.
	for _, pm := range b.msgs {
		<-pm.done
		pm.unpin()
		pm.spool.Close()
	}
	if !b.ok {
		for _, pm := range b.msgs {
			if !pm.made {
				continue
			}
			if err := b.p.store.DropIfUnreferenced(context.Background(), pm.spool.Hash); err != nil {
				b.p.log.Warn("drop unreferenced body", "err", err)
			}
		}
	}
	if b.syncer != nil {
		b.syncer.Close()
		b.syncer = nil
	}
	b.msgs, b.items = nil, nil
}
