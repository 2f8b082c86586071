package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/petrelmail/petrel/internal/directory"
	"github.com/petrelmail/petrel/internal/replication"
	"github.com/petrelmail/petrel/internal/server"
)

// cmdReplication: petrel replication status|progress|requeue|reindex.
// It reads the data folder directly; requeue and reindex run in the
// server that holds the shard when one runs (queued to it and awaited),
// here otherwise.
func cmdReplication(ctx context.Context, args []string, out io.Writer) error {
	if len(args) == 0 {
		return usagef("replication: status, progress, requeue or reindex")
	}
	sub, args := args[0], args[1:]
	c := newCommand("replication " + sub)
	var asJSON bool
	var wait time.Duration
	c.fs.BoolVar(&asJSON, "json", false, "print JSON")
	if sub == "requeue" || sub == "reindex" {
		c.fs.DurationVar(&wait, "wait", time.Hour, "how long to wait for a running server to do it")
	}
	if err := c.parse(args); err != nil {
		return err
	}
	data, cfg, err := c.open(ctx)
	if err != nil {
		return err
	}
	defer data.Close()
	m, err := replication.Open(ctx, data.Store, replication.Options{DataDir: cfg.DataDir})
	if err != nil {
		return err
	}
	defer m.Close()
	switch sub {
	case "status":
		if len(c.args) != 0 {
			return usagef("replication status takes no argument")
		}
		st, err := m.Status(ctx)
		if err != nil {
			return err
		}
		if asJSON {
			return json.NewEncoder(out).Encode(st)
		}
		tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "SHARD\tSTATE\tPID\tCURSOR\tHEAD\tBACKLOG\tLAG\tLAST HOUR\tINDEXED\tERRORS")
		for _, s := range st {
			pid := "-"
			if s.PID > 0 {
				pid = fmt.Sprint(s.PID)
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\t%d\t%d\t%d\t%.1fs\t%d\t%d\t%d\n", s.Shard, s.State, pid, s.Cursor, s.Head, s.Backlog,
				s.LagSeconds, s.LastHour, s.Indexed, s.Errors)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		for _, s := range st {
			if s.LastError != "" {
				fmt.Fprintf(out, "shard %d last error (%s): %s\n", s.Shard, s.ErrorAt.Format(time.DateTime), s.LastError)
			}
		}
		return nil
	case "progress":
		var ps []replication.Progress
		if len(c.args) == 0 {
			for i := range data.Store.Shards() {
				p, err := m.ShardProgress(ctx, i)
				if err != nil {
					return err
				}
				ps = append(ps, p)
			}
		} else {
			refs, err := scope(ctx, data, c.args)
			if err != nil {
				return err
			}
			for _, r := range refs {
				p, err := m.MailboxProgress(ctx, r)
				if err != nil {
					return err
				}
				ps = append(ps, p)
			}
		}
		if asJSON {
			return json.NewEncoder(out).Encode(ps)
		}
		tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "SCOPE\tSHARD\tMESSAGES\tINDEXED\tBODIES\tINDEXED BODIES\tDONE")
		var tot replication.Progress
		for _, p := range ps {
			fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%s\n", p.Scope, p.Shard, p.Messages, p.IndexedMessages, p.Bodies, p.IndexedBodies,
				percent(p.IndexedMessages, p.Messages))
			tot.Messages += p.Messages
			tot.IndexedMessages += p.IndexedMessages
			tot.Bodies += p.Bodies
			tot.IndexedBodies += p.IndexedBodies
		}
		if len(ps) > 1 {
			fmt.Fprintf(tw, "total\t\t%d\t%d\t%d\t%d\t%s\n", tot.Messages, tot.IndexedMessages, tot.Bodies, tot.IndexedBodies,
				percent(tot.IndexedMessages, tot.Messages))
		}
		return tw.Flush()
	case "requeue", "reindex":
		if sub == "requeue" && len(c.args) == 0 {
			return usagef("replication requeue USER|DOMAIN...")
		}
		// Group the mailboxes by shard; no argument: every shard whole.
		perShard := map[int][]int64{}
		if len(c.args) == 0 {
			for i := range data.Store.Shards() {
				perShard[i] = nil
			}
		} else {
			refs, err := scope(ctx, data, c.args)
			if err != nil {
				return err
			}
			for _, r := range refs {
				perShard[r.Shard] = append(perShard[r.Shard], r.ID)
			}
		}
		ctx, cancel := context.WithTimeout(ctx, wait)
		defer cancel()
		kind := replication.KindRequeue
		if sub == "reindex" {
			kind = replication.KindReindex
		}
		for shard := range len(data.Store.Shards()) {
			mbs, ok := perShard[shard]
			if !ok {
				continue
			}
			start := time.Now()
			res, err := m.Run(ctx, shard, kind, mbs)
			if err != nil {
				return fmt.Errorf("shard %d: %w", shard, err)
			}
			fmt.Fprintf(out, "shard %d: %s of %d bodies: %d indexed, %d removed, %d unreadable (%s)\n", shard, sub, res.Checked,
				res.Indexed, res.Removed, res.Missing, time.Since(start).Round(time.Millisecond))
		}
		return nil
	}
	return usagef("replication: unknown subcommand %q", sub)
}

// scope resolves USER and DOMAIN arguments into mailboxes: an argument
// with an @ is an account, one without a domain (all its accounts).
func scope(ctx context.Context, data *server.Data, args []string) ([]replication.MailboxRef, error) {
	var out []replication.MailboxRef
	for _, a := range args {
		var users []directory.User
		if strings.Contains(a, "@") {
			u, err := data.Directory.User(ctx, a)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", a, err)
			}
			users = []directory.User{u}
		} else {
			us, err := data.Directory.Users(ctx, a)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", a, err)
			}
			users = us
		}
		for _, u := range users {
			out = append(out, replication.MailboxRef{Label: u.Address, Shard: u.Shard, ID: u.ID})
		}
	}
	return out, nil
}

func percent(part, whole int64) string {
	if whole == 0 {
		return "100%"
	}
	return fmt.Sprintf("%.1f%%", 100*float64(part)/float64(whole))
}
