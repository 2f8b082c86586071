package main

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
	"time"
)

func cmdKey(ctx context.Context, args []string, out io.Writer) error {
	if len(args) == 0 {
		return usagef("key: create, list or revoke")
	}
	sub, args := args[0], args[1:]
	c := newCommand("key " + sub)
	var name string
	var expires time.Duration
	if sub == "create" {
		c.fs.StringVar(&name, "name", "", "what the key is for (shown by key list)")
		c.fs.DurationVar(&expires, "expires", 0, "lifetime of the key, e.g. 720h (default: no expiry)")
	}
	if err := c.parse(args); err != nil {
		return err
	}
	if len(c.args) != 1 {
		return usagef("key %s: one argument (petrel help)", sub)
	}
	data, _, err := c.open(ctx)
	if err != nil {
		return err
	}
	defer data.Close()
	dir := data.Directory
	switch sub {
	case "create":
		var exp time.Time
		if expires > 0 {
			exp = time.Now().Add(expires)
		}
		k, secret, err := dir.CreateKey(ctx, c.args[0], name, exp)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "key %d created for %s; it is shown only now:\n%s\n", k.ID, k.Address, secret)
	case "list":
		keys, err := dir.Keys(ctx, c.args[0])
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tNAME\tCREATED\tEXPIRES\tSTATE")
		now := time.Now()
		for _, k := range keys {
			exp, state := "never", "active"
			if !k.Expires.IsZero() {
				exp = k.Expires.Format(time.DateTime)
			}
			switch {
			case !k.Revoked.IsZero():
				state = "revoked " + k.Revoked.Format(time.DateTime)
			case !k.Active(now):
				state = "expired"
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\n", k.ID, k.Name, k.Created.Format(time.DateTime), exp, state)
		}
		return tw.Flush()
	case "revoke":
		id, err := strconv.ParseInt(c.args[0], 10, 64)
		if err != nil {
			return usagef("key revoke ID: %q is not a key ID", c.args[0])
		}
		if err := dir.RevokeKey(ctx, id); err != nil {
			return err
		}
		fmt.Fprintf(out, "key %d revoked\n", id)
	default:
		return usagef("key: unknown subcommand %q", sub)
	}
	return nil
}
