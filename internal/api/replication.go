package api

import (
	"context"
	"net/http"
	"strings"

	"github.com/petrelmail/petrel/internal/directory"
	"github.com/petrelmail/petrel/internal/fts"
	"github.com/petrelmail/petrel/internal/replication"
)

// Replication is what the API asks of the replicators
// (*replication.Manager): status and progress, requeue and reindex, and
// the full-text index for search.
type Replication interface {
	Status(ctx context.Context) ([]replication.ShardStatus, error)
	ShardProgress(ctx context.Context, shard int) (replication.Progress, error)
	MailboxProgress(ctx context.Context, ref replication.MailboxRef) (replication.Progress, error)
	Run(ctx context.Context, shard int, kind string, mailboxes []int64) (replication.Result, error)
	Candidates(ctx context.Context, shard int, cond fts.Cond) (replication.Candidates, bool, error)
	Docs(ctx context.Context, shard int, want map[int64][32]byte, fn func(id int64, d fts.Doc) bool) error
}

var _ Replication = (*replication.Manager)(nil)

func (a *API) needReplication() error {
	if a.repl == nil {
		return &Error{Status: http.StatusServiceUnavailable, Code: CodeUnavailable,
			Message: "replication is not running in this process", RetryAfter: 60}
	}
	return nil
}

// replicationStatus: GET /replication/status, global admins: every
// shard's replicator.
func (a *API) replicationStatus(rq *request) error {
	if !rq.p.global {
		return forbidden()
	}
	if err := a.needReplication(); err != nil {
		return err
	}
	st, err := a.repl.Status(rq.r.Context())
	if err != nil {
		return err
	}
	if st == nil {
		st = []replication.ShardStatus{}
	}
	return rq.json(http.StatusOK, st)
}

// scope resolves a list of addresses and domains into mailboxes, each of
// which the principal must administer. Empty: nil.
func (a *API) scope(rq *request, items []string) ([]replication.MailboxRef, error) {
	ctx := rq.r.Context()
	var out []replication.MailboxRef
	for _, item := range items {
		var users []directory.User
		if strings.Contains(item, "@") {
			u, err := a.account(rq, item, manageAccount)
			if err != nil {
				return nil, err
			}
			users = []directory.User{u}
		} else {
			domain, err := a.domain(rq, item)
			if err != nil {
				return nil, err
			}
			if users, err = a.dir.Users(ctx, domain); err != nil {
				return nil, err
			}
		}
		for _, u := range users {
			out = append(out, replication.MailboxRef{Label: u.Address, Shard: u.Shard, ID: u.ID})
		}
	}
	return out, nil
}

// replicationProgress: GET /replication/progress[?scope=ADDRESS|DOMAIN]...:
// messages in the store against messages indexed, per mailbox of the
// scope, or per shard without one (global admins).
func (a *API) replicationProgress(rq *request) error {
	if !rq.p.global && len(rq.p.domains) == 0 {
		return forbidden()
	}
	if err := onlyParams(rq, "scope"); err != nil {
		return err
	}
	items := rq.r.URL.Query()["scope"]
	if len(items) == 0 && !rq.p.global {
		return forbidden()
	}
	refs, err := a.scope(rq, items)
	if err != nil {
		return err
	}
	if err := a.needReplication(); err != nil {
		return err
	}
	ctx := rq.r.Context()
	out := []replication.Progress{}
	if len(items) == 0 {
		st, err := a.repl.Status(ctx)
		if err != nil {
			return err
		}
		for _, s := range st {
			p, err := a.repl.ShardProgress(ctx, s.Shard)
			if err != nil {
				return err
			}
			out = append(out, p)
		}
	}
	for _, r := range refs {
		p, err := a.repl.MailboxProgress(ctx, r)
		if err != nil {
			return err
		}
		out = append(out, p)
	}
	return rq.json(http.StatusOK, out)
}

// ReplicationRun is the answer of requeue and reindex, per shard.
type ReplicationRun struct {
	Shard int `json:"shard"`
	replication.Result
}

func (a *API) replicationRun(rq *request, kind string) error {
	if !rq.p.global && len(rq.p.domains) == 0 {
		return forbidden()
	}
	var in ReplicationRequest
	if err := rq.decode(&in); err != nil {
		return err
	}
	if len(in.Scope) == 0 && (kind == replication.KindRequeue || !rq.p.global) {
		if kind == replication.KindRequeue {
			return badRequest("scope: the addresses and domains to requeue")
		}
		return forbidden()
	}
	refs, err := a.scope(rq, in.Scope)
	if err != nil {
		return err
	}
	if err := a.needReplication(); err != nil {
		return err
	}
	ctx := rq.r.Context()
	perShard := map[int][]int64{}
	var shards []int
	if len(in.Scope) == 0 {
		st, err := a.repl.Status(ctx)
		if err != nil {
			return err
		}
		for _, s := range st {
			perShard[s.Shard] = nil
			shards = append(shards, s.Shard)
		}
	}
	for _, r := range refs {
		if _, ok := perShard[r.Shard]; !ok {
			shards = append(shards, r.Shard)
		}
		perShard[r.Shard] = append(perShard[r.Shard], r.ID)
	}
	out := []ReplicationRun{}
	for _, shard := range shards {
		res, err := a.repl.Run(ctx, shard, kind, perShard[shard])
		if err != nil {
			return err
		}
		out = append(out, ReplicationRun{Shard: shard, Result: res})
	}
	return rq.json(http.StatusOK, out)
}

// replicationRequeue: POST /replication/requeue {"scope": [...]}: index
// what the index lacks for those mailboxes; their admins.
func (a *API) replicationRequeue(rq *request) error {
	return a.replicationRun(rq, replication.KindRequeue)
}

// replicationReindex: POST /replication/reindex {"scope": [...]}: extract
// and index again; with an empty scope, every shard whole (global admins).
func (a *API) replicationReindex(rq *request) error {
	return a.replicationRun(rq, replication.KindReindex)
}
