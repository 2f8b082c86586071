package main

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/petrelmail/petrel/internal/api"
)

func cmdKey(ctx context.Context, args []string, out io.Writer) error {
	if len(args) == 0 {
		return usagef("key: create, list, expire or revoke")
	}
	sub, args := args[0], args[1:]
	c := newCommand("key " + sub)
	var name string
	var expires, in time.Duration
	var global bool
	switch sub {
	case "create":
		c.fs.StringVar(&name, "name", "", "what the key is for (shown by key list)")
		c.fs.DurationVar(&expires, "expires", 0, "lifetime of the key, e.g. 720h (default: no expiry)")
		c.fs.BoolVar(&global, "global-admin", false, "make a key that acts as the global administrator (no account)")
	case "list":
		c.fs.BoolVar(&global, "global-admin", false, "list the global-admin keys")
	case "expire":
		c.fs.DurationVar(&in, "in", 0, "expire after this long, e.g. 24h (default: now)")
	case "revoke":
	default:
		return usagef("key: unknown subcommand %q", sub)
	}
	if err := c.parse(args); err != nil {
		return err
	}
	want := 1
	if global {
		want = 0
	}
	if len(c.args) != want {
		switch {
		case sub == "create" || sub == "list":
			return usagef("key %s ADDRESS | key %s --global-admin", sub, sub)
		default:
			return usagef("key %s ID", sub)
		}
	}
	var id int64
	if sub == "expire" || sub == "revoke" {
		var err error
		if id, err = strconv.ParseInt(c.args[0], 10, 64); err != nil || id <= 0 {
			return usagef("key %s ID: %q is not a key ID", sub, c.args[0])
		}
	}
	cl, done, err := c.adminAPI(ctx)
	if err != nil {
		return err
	}
	defer done()
	switch sub {
	case "create":
		req := api.NewKey{Name: name}
		if expires > 0 {
			t := time.Now().Add(expires).UTC().Truncate(time.Second)
			req.Expires = &t
		}
		var k api.Key
		path := api.Path("keys")
		if !global {
			path = api.Path("users", c.args[0], "keys")
		}
		if err := call(ctx, cl, "POST", path, req, &k); err != nil {
			return err
		}
		if k.GlobalAdmin {
			fmt.Fprintf(out, "global-admin key %d created; it is shown only now:\n%s\n", k.ID, k.Key)
		} else {
			fmt.Fprintf(out, "key %d created for %s; it is shown only now:\n%s\n", k.ID, k.Address, k.Key)
		}
	case "list":
		var keys []api.Key
		path := api.Path("keys")
		if !global {
			path = api.Path("users", c.args[0], "keys")
		}
		if err := call(ctx, cl, "GET", path, nil, &keys); err != nil {
			return err
		}
		tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tNAME\tCREATED\tEXPIRES\tSTATE")
		for _, k := range keys {
			exp, state := "never", "active"
			if k.Expires != nil {
				exp = k.Expires.Format(time.DateTime)
			}
			switch {
			case k.Revoked != nil:
				state = "revoked " + k.Revoked.Format(time.DateTime)
			case !k.Active:
				state = "expired"
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\n", k.ID, k.Name, k.Created.Format(time.DateTime), exp, state)
		}
		return tw.Flush()
	case "expire":
		at := time.Now().Add(in).UTC().Truncate(time.Second).Format(time.RFC3339)
		var k api.Key
		if err := call(ctx, cl, "PATCH", api.Path("keys", c.args[0]), api.KeyPatch{Expires: &at}, &k); err != nil {
			return err
		}
		if k.Active {
			fmt.Fprintf(out, "key %d expires %s\n", id, k.Expires.Format(time.DateTime))
		} else {
			fmt.Fprintf(out, "key %d expired\n", id)
		}
	case "revoke":
		if err := call(ctx, cl, "DELETE", api.Path("keys", c.args[0]), nil, nil); err != nil {
			return err
		}
		fmt.Fprintf(out, "key %d revoked\n", id)
	}
	return nil
}
