package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/petrelmail/petrel/internal/api"
	"github.com/petrelmail/petrel/internal/config"
	"github.com/petrelmail/petrel/internal/delivery"
	"github.com/petrelmail/petrel/internal/server"
	"github.com/petrelmail/petrel/internal/store"
)

// multiFlag collects a repeated string flag.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

// optSize is a size flag that remembers whether it was given.
type optSize struct {
	set bool
	v   config.Size
}

func (o *optSize) String() string { return o.v.String() }
func (o *optSize) Set(s string) error {
	o.set = true
	return o.v.Set(s)
}
func (o *optSize) ptr() *int64 {
	if !o.set {
		return nil
	}
	v := int64(o.v)
	return &v
}

func quotaString(q int64) string {
	if q == 0 {
		return "unlimited"
	}
	return config.Size(q).String()
}

// adminAPI returns a client of the data folder's HTTP API, which every
// admin command goes through, so that they answer and fail the same way
// whether a server runs or not:
//   - a server runs on the folder: its local socket (data/api.sock), as the
//     local administrator;
//   - none does: the same API served in this process on the folder,
//     opened here under the folder's lock (shared with other admin
//     commands; a server starting meanwhile waits for it).
//
// done closes what it opened.
func (c *command) adminAPI(ctx context.Context) (client *api.Client, done func(), err error) {
	cfg, err := c.config()
	if err != nil {
		return nil, nil, err
	}
	release, err := api.LockShared(cfg.DataDir)
	if errors.Is(err, api.ErrServerRunning) {
		return api.LocalClient(cfg.DataDir), func() {}, nil
	}
	if err != nil {
		return nil, nil, err
	}
	data, err := server.OpenData(ctx, cfg.DataDir, cfg.Shards)
	if err != nil {
		release()
		return nil, nil, err
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	p := delivery.New(data.Directory, data.Store, delivery.Config{MaxMessageSize: int64(cfg.MaxMessageSize),
		DiskReserve: int64(cfg.DiskReserve), DataDir: cfg.DataDir}, log)
	a := api.New(api.Options{Directory: data.Directory, Store: data.Store, Pipeline: p, Log: log.With("part", "api")})
	return api.HandlerClient(a.Local()), func() {
		data.Close()
		release()
	}, nil
}

// apiError turns a failed API call into the command's error: the API's
// message, which is the directory's or the store's own.
func apiError(err error) error {
	var ae *api.Error
	if errors.As(err, &ae) {
		return errors.New(ae.Message)
	}
	var ne interface{ Timeout() bool }
	if errors.As(err, &ne) || strings.Contains(err.Error(), api.SocketName) {
		return fmt.Errorf("the server running on the data folder does not answer on %s: %w", api.SocketName, err)
	}
	return err
}

// call is Client.Do with the command's error.
func call(ctx context.Context, cl *api.Client, method, path string, in, out any) error {
	if err := cl.Do(ctx, method, path, in, out); err != nil {
		return apiError(err)
	}
	return nil
}

func cmdDomain(ctx context.Context, args []string, out io.Writer) error {
	if len(args) == 0 {
		return usagef("domain: add, list, show, alias or delete")
	}
	sub, args := args[0], args[1:]
	c := newCommand("domain " + sub)
	var aliases multiFlag
	var quota optSize
	var language string
	if sub == "add" {
		c.fs.Var(&aliases, "alias", "another name of the domain (repeatable)")
		c.fs.Var(&quota, "quota", "default quota of new accounts (e.g. 2G; 0 = unlimited)")
		c.fs.StringVar(&language, "language", "en", "default language of new accounts (en, fr, de)")
	}
	if err := c.parse(args); err != nil {
		return err
	}
	var usage string
	switch sub {
	case "add":
		usage = "domain add NAME [--alias ALIAS]..."
	case "show":
		usage = "domain show NAME"
	case "delete":
		usage = "domain delete NAME"
	case "list":
		if len(c.args) != 0 {
			return usagef("domain list")
		}
	case "alias":
		if len(c.args) != 3 || (c.args[0] != "add" && c.args[0] != "remove") {
			return usagef("domain alias add|remove NAME ALIAS")
		}
	default:
		return usagef("domain: unknown subcommand %q", sub)
	}
	if usage != "" && len(c.args) != 1 {
		return usagef("%s", usage)
	}
	cl, done, err := c.adminAPI(ctx)
	if err != nil {
		return err
	}
	defer done()
	var d api.Domain
	switch sub {
	case "add":
		in := api.NewDomain{Name: c.args[0], Aliases: aliases, DefaultQuota: int64(quota.v), DefaultLanguage: language}
		if err := call(ctx, cl, "POST", api.Path("domains"), in, &d); err != nil {
			return err
		}
		fmt.Fprintf(out, "domain %s created (aliases: %s)\n", d.Name, joinOr(d.Aliases, "none"))
	case "list":
		var doms []api.Domain
		if err := call(ctx, cl, "GET", api.Path("domains"), nil, &doms); err != nil {
			return err
		}
		tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "DOMAIN\tALIASES\tDEFAULT QUOTA\tLANGUAGE")
		for _, d := range doms {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", d.Name, joinOr(d.Aliases, "-"), quotaString(d.DefaultQuota), d.DefaultLanguage)
		}
		return tw.Flush()
	case "show":
		if err := call(ctx, cl, "GET", api.Path("domains", c.args[0]), nil, &d); err != nil {
			return err
		}
		fmt.Fprintf(out, "name:          %s\naliases:       %s\ndefault quota: %s\nlanguage:      %s\naccounts:      %d\ncreated:       %s\n",
			d.Name, joinOr(d.Aliases, "none"), quotaString(d.DefaultQuota), d.DefaultLanguage, d.Accounts, d.Created.Format("2006-01-02 15:04:05Z"))
	case "alias":
		method := "PUT"
		if c.args[0] == "remove" {
			method = "DELETE"
		}
		return call(ctx, cl, method, api.Path("domains", c.args[1], "aliases", c.args[2]), nil, nil)
	case "delete":
		if err := call(ctx, cl, "DELETE", api.Path("domains", c.args[0]), nil, nil); err != nil {
			return err
		}
		fmt.Fprintf(out, "domain %s deleted\n", c.args[0])
	}
	return nil
}

func readPassword(password, file string) (string, error) {
	if file == "" {
		return password, nil
	}
	var b []byte
	var err error
	if file == "-" {
		b, err = io.ReadAll(io.LimitReader(os.Stdin, 4096))
	} else {
		b, err = os.ReadFile(file)
	}
	return strings.TrimRight(string(b), "\r\n"), err
}

// userUsages are the usage lines of the user subcommands that take one
// address.
var userUsages = map[string]string{
	"add":     "user add ADDRESS [--password P] [--quota SIZE]",
	"show":    "user show ADDRESS",
	"set":     "user set ADDRESS [--password P] [--quota SIZE] [--language L] [--role R [--admin-domain D]...]",
	"disable": "user disable ADDRESS",
	"enable":  "user enable ADDRESS",
	"delete":  "user delete ADDRESS",
	"grants":  "user grants SHARED",
}

func cmdUser(ctx context.Context, args []string, out io.Writer) error {
	if len(args) == 0 {
		return usagef("user: add, list, show, set, address, grant, grants, disable, enable or delete")
	}
	sub, args := args[0], args[1:]
	c := newCommand("user " + sub)
	var password, passwordFile, language, typ, role string
	var adminDomains multiFlag
	var quota optSize
	if sub == "add" || sub == "set" {
		c.fs.StringVar(&password, "password", "", "password (visible to other local users in the process list: prefer --password-file)")
		c.fs.StringVar(&passwordFile, "password-file", "", "read the password from this file (- for standard input)")
		c.fs.Var(&quota, "quota", "quota (e.g. 2G; 0 = unlimited; default: the domain's)")
		c.fs.StringVar(&language, "language", "", "language of folder names (en, fr, de; default: the domain's)")
		c.fs.Var(&adminDomains, "admin-domain", "a domain a domain-admin administers (repeatable; default: its own)")
	}
	if sub == "add" {
		c.fs.StringVar(&typ, "type", "user", "user or shared")
		c.fs.StringVar(&role, "role", "user", "user, domain-admin or global-admin")
	}
	if sub == "set" {
		c.fs.StringVar(&role, "role", "", "user, domain-admin or global-admin")
	}
	if err := c.parse(args); err != nil {
		return err
	}
	switch sub {
	case "list":
		if len(c.args) > 1 {
			return usagef("user list [DOMAIN]")
		}
	case "address":
		if len(c.args) != 3 || (c.args[0] != "add" && c.args[0] != "remove") {
			return usagef("user address add|remove ADDRESS EXTRA")
		}
	case "grant":
		if len(c.args) != 3 {
			return usagef("user grant SHARED ADDRESS read|write|none")
		}
	default:
		usage, ok := userUsages[sub]
		if !ok {
			return usagef("user: unknown subcommand %q", sub)
		}
		if len(c.args) != 1 {
			return usagef("%s", usage)
		}
	}
	pw, err := readPassword(password, passwordFile)
	if err != nil {
		return err
	}
	if sub == "set" && pw == "" && !quota.set && language == "" && role == "" && len(adminDomains) == 0 {
		return usagef("user set: nothing to change")
	}
	cl, done, err := c.adminAPI(ctx)
	if err != nil {
		return err
	}
	defer done()
	var u api.User
	switch sub {
	case "add":
		addr := c.args[0]
		at := strings.LastIndexByte(addr, '@')
		if at <= 0 || at == len(addr)-1 {
			return fmt.Errorf("invalid: address %q", addr)
		}
		in := api.NewUser{Address: addr, Password: pw, Type: typ, Role: role, Quota: quota.ptr(), Language: language}
		if len(adminDomains) > 0 {
			in.AdminDomains = adminDomains
		}
		if err := call(ctx, cl, "POST", api.Path("domains", addr[at+1:], "users"), in, &u); err != nil {
			return err
		}
		fmt.Fprintf(out, "%s %s created on shard %d (quota %s, language %s)\n", u.Type, u.Address, u.Shard, quotaString(u.Quota), u.Language)
	case "list":
		path := api.Path("users")
		if len(c.args) == 1 {
			path = api.Path("domains", c.args[0], "users")
		}
		var users []api.User
		if err := call(ctx, cl, "GET", path, nil, &users); err != nil {
			return err
		}
		tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ADDRESS\tTYPE\tROLE\tQUOTA\tLANGUAGE\tENABLED\tSHARD")
		for _, u := range users {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%v\t%d\n", u.Address, u.Type, u.Role, quotaString(u.Quota), u.Language, u.Enabled, u.Shard)
		}
		return tw.Flush()
	case "show":
		if err := call(ctx, cl, "GET", api.Path("users", c.args[0]), nil, &u); err != nil {
			return err
		}
		role := u.Role
		if len(u.AdminDomains) > 0 {
			role += " of " + strings.Join(u.AdminDomains, ", ")
		}
		fmt.Fprintf(out, "address:   %s\nid:        %d\ntype:      %s\nrole:      %s\nenabled:   %v\nlanguage:  %s\nquota:     %s\nused:      %s in %d messages\nshard:     %d\naddresses: %s\ncreated:   %s\n",
			u.Address, u.ID, u.Type, role, u.Enabled, u.Language, quotaString(u.Quota), config.Size(u.UsedBytes), u.Messages, u.Shard,
			joinOr(u.Aliases, "none"), u.Created.Format("2006-01-02 15:04:05Z"))
	case "set":
		var in api.UserPatch
		if pw != "" {
			in.Password = &pw
		}
		in.Quota = quota.ptr()
		if language != "" {
			in.Language = &language
		}
		if role != "" {
			in.Role = &role
		}
		if len(adminDomains) > 0 {
			in.AdminDomains = (*[]string)(&adminDomains)
		}
		return call(ctx, cl, "PATCH", api.Path("users", c.args[0]), in, nil)
	case "address":
		method := "PUT"
		if c.args[0] == "remove" {
			method = "DELETE"
		}
		return call(ctx, cl, method, api.Path("users", c.args[1], "aliases", c.args[2]), nil, nil)
	case "grant":
		if c.args[2] == "none" {
			return call(ctx, cl, "DELETE", api.Path("users", c.args[0], "grants", c.args[1]), nil, nil)
		}
		return call(ctx, cl, "PUT", api.Path("users", c.args[0], "grants", c.args[1]), api.GrantRights{Rights: c.args[2]}, nil)
	case "grants":
		var gs []api.Grant
		if err := call(ctx, cl, "GET", api.Path("users", c.args[0], "grants"), nil, &gs); err != nil {
			return err
		}
		tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ACCOUNT\tRIGHTS")
		for _, g := range gs {
			fmt.Fprintf(tw, "%s\t%s\n", g.Grantee, g.Rights)
		}
		return tw.Flush()
	case "disable", "enable":
		enabled := sub == "enable"
		return call(ctx, cl, "PATCH", api.Path("users", c.args[0]), api.UserPatch{Enabled: &enabled}, nil)
	case "delete":
		if err := call(ctx, cl, "DELETE", api.Path("users", c.args[0]), nil, nil); err != nil {
			return err
		}
		fmt.Fprintf(out, "%s deleted with its mailbox\n", c.args[0])
	}
	return nil
}

func cmdFolders(ctx context.Context, args []string, out io.Writer) error {
	c := newCommand("folders")
	if err := c.parse(args); err != nil {
		return err
	}
	if len(c.args) != 1 {
		return usagef("folders ADDRESS")
	}
	cl, done, err := c.adminAPI(ctx)
	if err != nil {
		return err
	}
	defer done()
	var folders []api.Folder
	if err := call(ctx, cl, "GET", api.Path("users", c.args[0], "folders"), nil, &folders); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "FOLDER\tSPECIAL-USE\tMESSAGES\tSIZE\tUIDVALIDITY\tUIDNEXT\tHIGHESTMODSEQ")
	for _, f := range folders {
		use := "-"
		if f.SpecialUse != "" {
			use = `\` + strings.ToUpper(f.SpecialUse[:1]) + f.SpecialUse[1:]
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%d\t%d\t%d\n", f.Name, use, f.Messages, config.Size(f.Bytes), f.UIDValidity, f.UIDNext, f.HighestModSeq)
	}
	return tw.Flush()
}

// imapFlags spells the API's flag names as IMAP does.
func imapFlags(flags []string) []string {
	out := make([]string, len(flags))
	for i, f := range flags {
		out[i] = `\` + strings.ToUpper(f[:1]) + f[1:]
	}
	return out
}

func cmdMessages(ctx context.Context, args []string, out io.Writer) error {
	c := newCommand("messages")
	folder := c.fs.String("folder", store.Inbox, "folder to list")
	if err := c.parse(args); err != nil {
		return err
	}
	if len(c.args) != 1 {
		return usagef("messages ADDRESS [--folder NAME]")
	}
	cl, done, err := c.adminAPI(ctx)
	if err != nil {
		return err
	}
	defer done()
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "UID\tDATE\tSIZE\tFLAGS\tFROM\tSUBJECT")
	var after uint32
	for {
		var page api.MessageList
		path := fmt.Sprintf("%s?after=%d&limit=1000", api.Path("users", c.args[0], "folders", *folder, "messages"), after)
		if err := call(ctx, cl, "GET", path, nil, &page); err != nil {
			return err
		}
		for _, m := range page.Messages {
			flags := strings.Join(append(imapFlags(m.Flags), m.Keywords...), " ")
			if flags == "" {
				flags = "-"
			}
			from := ""
			if len(m.From) > 0 {
				from = m.From[0].Address
			}
			fmt.Fprintf(tw, "%d\t%s\t%d\t%s\t%s\t%s\n", m.UID, m.Received.Format("2006-01-02 15:04"), m.Size, flags, from, m.Subject)
		}
		if page.Next == 0 {
			break
		}
		after = page.Next
	}
	return tw.Flush()
}
