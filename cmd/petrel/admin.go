package main

import (
	"context"
	"fmt"
	"io"
	"mime"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/petrelmail/petrel/internal/config"
	"github.com/petrelmail/petrel/internal/directory"
	"github.com/petrelmail/petrel/internal/message"
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
	data, _, err := c.open(ctx)
	if err != nil {
		return err
	}
	defer data.Close()
	dir := data.Directory
	switch sub {
	case "add":
		if len(c.args) != 1 {
			return usagef("domain add NAME [--alias ALIAS]...")
		}
		dom, err := dir.AddDomain(ctx, directory.Domain{Name: c.args[0], Aliases: aliases, DefaultQuota: int64(quota.v), DefaultLanguage: language})
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "domain %s created (aliases: %s)\n", dom.Name, joinOr(dom.Aliases, "none"))
	case "list":
		doms, err := dir.Domains(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "DOMAIN\tALIASES\tDEFAULT QUOTA\tLANGUAGE")
		for _, d := range doms {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", d.Name, joinOr(d.Aliases, "-"), quotaString(d.DefaultQuota), d.DefaultLanguage)
		}
		return tw.Flush()
	case "show":
		if len(c.args) != 1 {
			return usagef("domain show NAME")
		}
		d, err := dir.Domain(ctx, c.args[0])
		if err != nil {
			return err
		}
		users, err := dir.Users(ctx, d.Name)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "name:          %s\naliases:       %s\ndefault quota: %s\nlanguage:      %s\naccounts:      %d\ncreated:       %s\n",
			d.Name, joinOr(d.Aliases, "none"), quotaString(d.DefaultQuota), d.DefaultLanguage, len(users), d.Created.Format("2006-01-02 15:04:05Z"))
	case "alias":
		if len(c.args) != 3 || (c.args[0] != "add" && c.args[0] != "remove") {
			return usagef("domain alias add|remove NAME ALIAS")
		}
		if c.args[0] == "add" {
			return dir.AddDomainAlias(ctx, c.args[1], c.args[2])
		}
		return dir.RemoveDomainAlias(ctx, c.args[1], c.args[2])
	case "delete":
		if len(c.args) != 1 {
			return usagef("domain delete NAME")
		}
		if err := dir.DeleteDomain(ctx, c.args[0]); err != nil {
			return err
		}
		fmt.Fprintf(out, "domain %s deleted\n", c.args[0])
	default:
		return usagef("domain: unknown subcommand %q", sub)
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

func cmdUser(ctx context.Context, args []string, out io.Writer) error {
	if len(args) == 0 {
		return usagef("user: add, list, show, set, address, disable, enable or delete")
	}
	sub, args := args[0], args[1:]
	c := newCommand("user " + sub)
	var password, passwordFile, language, typ, role string
	var quota optSize
	if sub == "add" || sub == "set" {
		c.fs.StringVar(&password, "password", "", "password (visible to other local users in the process list: prefer --password-file)")
		c.fs.StringVar(&passwordFile, "password-file", "", "read the password from this file (- for standard input)")
		c.fs.Var(&quota, "quota", "quota (e.g. 2G; 0 = unlimited; default: the domain's)")
		c.fs.StringVar(&language, "language", "", "language of folder names (en, fr, de; default: the domain's)")
	}
	if sub == "add" {
		c.fs.StringVar(&typ, "type", "user", "user or shared")
		c.fs.StringVar(&role, "role", "user", "user, domain-admin or global-admin")
	}
	if err := c.parse(args); err != nil {
		return err
	}
	data, _, err := c.open(ctx)
	if err != nil {
		return err
	}
	defer data.Close()
	dir := data.Directory
	one := func(usage string) (string, error) {
		if len(c.args) != 1 {
			return "", usagef("%s", usage)
		}
		return c.args[0], nil
	}
	switch sub {
	case "add":
		addr, err := one("user add ADDRESS [--password P] [--quota SIZE]")
		if err != nil {
			return err
		}
		pw, err := readPassword(password, passwordFile)
		if err != nil {
			return err
		}
		u, err := dir.AddUser(ctx, directory.NewUser{Address: addr, Password: pw, Type: directory.Type(typ),
			Quota: quota.ptr(), Language: language, Role: directory.Role(role)})
		if err != nil {
			return err
		}
		mb, err := data.Store.Mailbox(u.Shard, u.ID)
		if err != nil {
			return err
		}
		if err := mb.Create(ctx, store.DefaultFolders(u.Language)); err != nil {
			return fmt.Errorf("account %s created, but its mailbox not yet (it will be made at first delivery): %w", u.Address, err)
		}
		fmt.Fprintf(out, "%s %s created on shard %d (quota %s, language %s)\n", u.Type, u.Address, u.Shard, quotaString(u.Quota), u.Language)
	case "list":
		domain := ""
		if len(c.args) == 1 {
			domain = c.args[0]
		} else if len(c.args) > 1 {
			return usagef("user list [DOMAIN]")
		}
		users, err := dir.Users(ctx, domain)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ADDRESS\tTYPE\tROLE\tQUOTA\tLANGUAGE\tENABLED\tSHARD")
		for _, u := range users {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%v\t%d\n", u.Address, u.Type, u.Role, quotaString(u.Quota), u.Language, u.Enabled, u.Shard)
		}
		return tw.Flush()
	case "show":
		addr, err := one("user show ADDRESS")
		if err != nil {
			return err
		}
		u, err := dir.User(ctx, addr)
		if err != nil {
			return err
		}
		used, count := int64(0), int64(0)
		if mb, err := data.Store.Mailbox(u.Shard, u.ID); err == nil {
			used, count, _ = mb.Usage(ctx)
		}
		fmt.Fprintf(out, "address:   %s\nid:        %d\ntype:      %s\nrole:      %s\nenabled:   %v\nlanguage:  %s\nquota:     %s\nused:      %s in %d messages\nshard:     %d\naddresses: %s\ncreated:   %s\n",
			u.Address, u.ID, u.Type, u.Role, u.Enabled, u.Language, quotaString(u.Quota), config.Size(used), count, u.Shard,
			joinOr(u.Addresses, "none"), u.Created.Format("2006-01-02 15:04:05Z"))
	case "set":
		addr, err := one("user set ADDRESS [--password P] [--quota SIZE] [--language L]")
		if err != nil {
			return err
		}
		pw, err := readPassword(password, passwordFile)
		if err != nil {
			return err
		}
		if pw == "" && !quota.set && language == "" {
			return usagef("user set: nothing to change")
		}
		if pw != "" {
			if err := dir.SetPassword(ctx, addr, pw); err != nil {
				return err
			}
		}
		if quota.set {
			if err := dir.SetQuota(ctx, addr, int64(quota.v)); err != nil {
				return err
			}
		}
		if language != "" {
			if err := dir.SetLanguage(ctx, addr, language); err != nil {
				return err
			}
		}
	case "address":
		if len(c.args) != 3 || (c.args[0] != "add" && c.args[0] != "remove") {
			return usagef("user address add|remove ADDRESS EXTRA")
		}
		if c.args[0] == "add" {
			return dir.AddAddress(ctx, c.args[1], c.args[2])
		}
		return dir.RemoveAddress(ctx, c.args[1], c.args[2])
	case "disable", "enable":
		addr, err := one("user " + sub + " ADDRESS")
		if err != nil {
			return err
		}
		return dir.SetEnabled(ctx, addr, sub == "enable")
	case "delete":
		addr, err := one("user delete ADDRESS")
		if err != nil {
			return err
		}
		u, err := dir.DeleteUser(ctx, addr)
		if err != nil {
			return err
		}
		mb, err := data.Store.Mailbox(u.Shard, u.ID)
		if err != nil {
			return err
		}
		if err := mb.Delete(ctx); err != nil {
			return fmt.Errorf("account %s deleted, but removing its mailbox failed: %w", u.Address, err)
		}
		fmt.Fprintf(out, "%s deleted with its mailbox\n", u.Address)
	default:
		return usagef("user: unknown subcommand %q", sub)
	}
	return nil
}

// openMailbox parses a command that takes one account address and opens
// the data folder and that account's mailbox. The caller closes data.
func (c *command) openMailbox(ctx context.Context, args []string, usage string) (*server.Data, *store.Mailbox, error) {
	if err := c.parse(args); err != nil {
		return nil, nil, err
	}
	if len(c.args) != 1 {
		return nil, nil, usagef("%s", usage)
	}
	data, _, err := c.open(ctx)
	if err != nil {
		return nil, nil, err
	}
	_, mb, err := data.Mailbox(ctx, c.args[0])
	if err != nil {
		data.Close()
		return nil, nil, err
	}
	return data, mb, nil
}

func cmdFolders(ctx context.Context, args []string, out io.Writer) error {
	c := newCommand("folders")
	data, mb, err := c.openMailbox(ctx, args, "folders ADDRESS")
	if err != nil {
		return err
	}
	defer data.Close()
	folders, err := mb.Folders(ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "FOLDER\tSPECIAL-USE\tMESSAGES\tSIZE\tUIDVALIDITY\tUIDNEXT\tHIGHESTMODSEQ")
	for _, f := range folders {
		use := string(f.SpecialUse)
		if use == "" {
			use = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%d\t%d\t%d\n", f.Name, use, f.Messages, config.Size(f.Bytes), f.UIDValidity, f.UIDNext, f.HighestModSeq)
	}
	return tw.Flush()
}

func cmdMessages(ctx context.Context, args []string, out io.Writer) error {
	c := newCommand("messages")
	folder := c.fs.String("folder", store.Inbox, "folder to list")
	data, mb, err := c.openMailbox(ctx, args, "messages ADDRESS [--folder NAME]")
	if err != nil {
		return err
	}
	defer data.Close()
	f, err := mb.Folder(ctx, *folder)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "UID\tDATE\tSIZE\tFLAGS\tFROM\tSUBJECT")
	dec := mime.WordDecoder{}
	for msg, err := range mb.Messages(ctx, f.ID, 1) {
		if err != nil {
			return err
		}
		var from, subject string
		if raw, err := mb.Shard().BodyMeta(ctx, msg.BodyID); err == nil {
			if m, err := message.Unmarshal(raw); err == nil {
				if s, err := dec.DecodeHeader(string(m.Envelope.Subject)); err == nil {
					subject = s
				} else {
					subject = string(m.Envelope.Subject)
				}
				if len(m.Envelope.From) > 0 {
					a := m.Envelope.From[0]
					from = string(a.Mailbox) + "@" + string(a.Host)
				}
			}
		}
		flags := strings.Join(append(msg.Flags.Names(), msg.Keywords...), " ")
		if flags == "" {
			flags = "-"
		}
		fmt.Fprintf(tw, "%d\t%s\t%d\t%s\t%s\t%s\n", msg.UID, msg.InternalDate.Format("2006-01-02 15:04"), msg.Size, flags, from, subject)
	}
	return tw.Flush()
}
