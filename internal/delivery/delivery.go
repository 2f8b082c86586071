// Package delivery is the one path by which mail from outside enters a
// mailbox: LMTP, SMTP and the API's import all call it. It resolves
// recipients in the directory, enforces the size limit, the disk reserve
// and quotas, stores the body once however many recipients it has, parses
// its metadata once, and appends it to every recipient's inbox, reporting a
// status per recipient. A status is a success only once the message is
// durable.
//
// It speaks no protocol; its errors carry SMTP reply and enhanced status
// codes (RFC 5321 section 4.2, RFC 3463) because those are what every caller
// needs to say, and the HTTP API maps them.
package delivery

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"syscall"
	"time"

	"github.com/petrelmail/petrel/internal/blob"
	"github.com/petrelmail/petrel/internal/directory"
	"github.com/petrelmail/petrel/internal/message"
	"github.com/petrelmail/petrel/internal/store"
	"golang.org/x/sys/unix"
)

// Error is a delivery failure with its SMTP reply code and enhanced status.
type Error struct {
	Code     int    // SMTP reply code: 4xx temporary, 5xx permanent
	Enhanced [3]int // RFC 3463 enhanced status code
	Message  string
}

func (e *Error) Error() string {
	return fmt.Sprintf("%d %d.%d.%d %s", e.Code, e.Enhanced[0], e.Enhanced[1], e.Enhanced[2], e.Message)
}

// Temporary reports whether the sender should try again later.
func (e *Error) Temporary() bool { return e.Code/100 == 4 }

// The failures of delivery (RFC 3463 section 3 for the enhanced codes).
var (
	ErrUnknownRecipient = &Error{550, [3]int{5, 1, 1}, "no such user here"}
	ErrDisabled         = &Error{550, [3]int{5, 2, 1}, "mailbox disabled"}
	ErrOverQuota        = &Error{552, [3]int{5, 2, 2}, "mailbox full: over quota"}
	ErrTooLarge         = &Error{552, [3]int{5, 3, 4}, "message too large"}
	ErrDiskReserve      = &Error{452, [3]int{4, 3, 1}, "mail system full: free disk space below the reserve, try again later"}
	ErrBadAddress       = &Error{501, [3]int{5, 1, 3}, "bad recipient address syntax"}
	ErrTemporary        = &Error{451, [3]int{4, 3, 0}, "temporary local error, try again later"}
)

// Config holds the limits of delivery.
type Config struct {
	// MaxMessageSize is the largest message accepted, in bytes.
	MaxMessageSize int64
	// DiskReserve is the free space, in bytes, below which the data
	// folder takes no more mail (452 4.3.1) rather than filling up.
	DiskReserve int64
	// DataDir is the folder whose file system the reserve applies to.
	DataDir string
}

// Pipeline delivers messages.
type Pipeline struct {
	dir   *directory.Directory
	store *store.Store
	cfg   Config
	log   *slog.Logger
	// freeBytes reports the space available to the data folder.
	freeBytes func(path string) (int64, error)
	// syncBodies makes a batch's staged bodies durable (Batch.Commit).
	syncBodies func(*blob.Syncer) error

	// The last free space read, reused for freeFresh (two statfs calls
	// per message were 1 % of the server's CPU under a delivery load),
	// less the bytes of the messages accepted since (spent).
	freeMu sync.Mutex
	free   int64
	spent  int64
	freeAt time.Time
}

// freeFresh is how long a reading of the free space is reused. The
// messages accepted meanwhile are counted against it; what else writes to
// the disk in that time is not, and a disk that fills anyway answers
// ENOSPC, which delivery turns into the same temporary failure.
const freeFresh = 100 * time.Millisecond

// New makes a pipeline.
func New(dir *directory.Directory, st *store.Store, cfg Config, log *slog.Logger) *Pipeline {
	return &Pipeline{dir: dir, store: st, cfg: cfg, log: log, freeBytes: statfsFree, syncBodies: (*blob.Syncer).Sync}
}

// Config returns the pipeline's limits.
func (p *Pipeline) Config() Config { return p.cfg }

func statfsFree(path string) (int64, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return 0, err
	}
	return int64(st.Bavail) * int64(st.Bsize), nil
}

// Recipient is an address resolved to its account.
type Recipient struct {
	Address string
	User    directory.User
}

// Resolve checks a recipient address (at RCPT time, so that an unknown
// recipient is refused before the message is sent).
func (p *Pipeline) Resolve(ctx context.Context, address string) (Recipient, error) {
	u, err := p.dir.Resolve(ctx, address)
	switch {
	case errors.Is(err, directory.ErrNotFound):
		return Recipient{}, ErrUnknownRecipient
	case errors.Is(err, directory.ErrInvalid):
		return Recipient{}, ErrBadAddress
	case err != nil:
		p.log.Error("resolve recipient", "err", err)
		return Recipient{}, ErrTemporary
	}
	if !u.Enabled {
		return Recipient{}, ErrDisabled
	}
	return Recipient{Address: address, User: u}, nil
}

// Deliver reads a message from data and delivers it to every recipient. It
// returns one status per recipient (nil: delivered and durable). Whatever
// fails, nothing is left stored for the recipients that failed.
func (p *Pipeline) Deliver(ctx context.Context, rcpts []Recipient, data io.Reader) []error {
	start := time.Now()
	statuses := make([]error, len(rcpts))
	all := func(err error) []error {
		for i := range statuses {
			statuses[i] = err
		}
		metricDelivered(statuses, time.Since(start))
		return statuses
	}
	if len(rcpts) == 0 {
		return statuses
	}
	if err := p.checkReserve(0); err != nil {
		return all(err)
	}
	sp, err := p.store.Blobs().Spool(data, p.cfg.MaxMessageSize)
	if err != nil {
		return all(p.spoolError(err))
	}
	defer sp.Close()
	if err := p.checkReserve(sp.Size); err != nil {
		return all(err)
	}
	raw, err := sp.Bytes()
	if err != nil {
		p.log.Error("read spooled message", "err", err)
		return all(ErrTemporary)
	}
	meta := message.Parse(raw).Marshal()
	body := store.Body{Hash: sp.Hash, Size: sp.Size, Meta: meta}

	// One target per account: two addresses of one account get one copy.
	byUser := map[int64]int{}
	var targets []store.AppendTarget
	slots := make([]int, len(rcpts))
	now := time.Now()
	for i, r := range rcpts {
		if t, ok := byUser[r.User.ID]; ok {
			slots[i] = t
			continue
		}
		// Refuse over-quota recipients before anything is written; the
		// store checks again inside the transaction.
		if r.User.Quota > 0 {
			mb, err := p.store.Mailbox(r.User.Shard, r.User.ID)
			if err == nil {
				if used, _, uerr := mb.Usage(ctx); uerr == nil && used+sp.Size > r.User.Quota {
					statuses[i] = ErrOverQuota
					slots[i] = -1
					continue
				}
			}
		}
		byUser[r.User.ID] = len(targets)
		slots[i] = len(targets)
		targets = append(targets, store.AppendTarget{
			Shard: r.User.Shard, Mailbox: r.User.ID, Layout: store.DefaultFolders(r.User.Language),
			QuotaBytes: r.User.Quota, InternalDate: now,
		})
	}
	if len(targets) == 0 {
		metricDelivered(statuses, time.Since(start))
		return statuses
	}

	// Make the body durable while the shard writers already run the
	// appends; they commit only after it is (store.Body.Durable).
	unpin := p.store.Blobs().Pin(sp.Hash)
	var created bool
	var commitErr error
	durable := make(chan struct{})
	go func() {
		defer close(durable)
		created, commitErr = sp.Commit()
	}()
	body.Durable = func() error {
		<-durable
		return commitErr
	}
	results := p.store.Append(ctx, body, targets)
	<-durable
	unpin()
	if commitErr != nil {
		p.log.Error("store message body", "err", commitErr)
	}

	delivered := 0
	for i := range rcpts {
		if slots[i] < 0 {
			continue
		}
		r := results[slots[i]]
		switch {
		case r.Err == nil:
			statuses[i] = nil
			delivered++
		case errors.Is(r.Err, store.ErrOverQuota):
			statuses[i] = ErrOverQuota
		default:
			p.log.Error("append message", "shard", rcpts[i].User.Shard, "err", r.Err)
			statuses[i] = p.spoolError(r.Err)
		}
	}
	if delivered == 0 && created {
		// Every target failed: take back the body this call stored.
		if err := p.store.DropIfUnreferenced(context.WithoutCancel(ctx), sp.Hash); err != nil {
			p.log.Warn("drop unreferenced body", "err", err)
		}
	}
	p.log.Info("delivered", "size", sp.Size, "recipients", len(rcpts), "ok", delivered,
		"new_body", created, "ms", time.Since(start).Milliseconds())
	metricDelivered(statuses, time.Since(start))
	return statuses
}

// checkReserve refuses mail when storing size more bytes would leave less
// free space than the reserve; otherwise it counts them as spent until the
// next reading of the free space.
func (p *Pipeline) checkReserve(size int64) error {
	if p.cfg.DiskReserve <= 0 {
		return nil
	}
	p.freeMu.Lock()
	defer p.freeMu.Unlock()
	if now := time.Now(); now.Sub(p.freeAt) >= freeFresh {
		free, err := p.freeBytes(p.cfg.DataDir)
		if err != nil {
			p.log.Error("free disk space", "err", err)
			return ErrTemporary
		}
		p.free, p.spent, p.freeAt = free, 0, now
	}
	if free := p.free - p.spent; free-size < p.cfg.DiskReserve {
		p.log.Warn("disk reserve reached: refusing mail", "free", free, "reserve", p.cfg.DiskReserve)
		return ErrDiskReserve
	}
	p.spent += size
	return nil
}

func (p *Pipeline) spoolError(err error) error {
	var derr *Error
	switch {
	case errors.As(err, &derr):
		return derr
	case errors.Is(err, blob.ErrTooLarge):
		return ErrTooLarge
	case errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EDQUOT):
		p.log.Error("disk full", "err", err)
		return ErrDiskReserve
	default:
		p.log.Error("delivery", "err", err)
		return ErrTemporary
	}
}
