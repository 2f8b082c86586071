// Command petrel is the Petrel mail server and its administration tool.
//
//	petrel serve                       run the server on ./data
//	petrel domain add NAME [--alias A] create a domain
//	petrel user add ADDRESS --password P [--quota SIZE]
//	petrel deliver --to ADDRESS < msg  deliver a message over LMTP
//	petrel messages ADDRESS            list an account's messages
//
// Run "petrel help" for every command.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/petrelmail/petrel/internal/config"
	"github.com/petrelmail/petrel/internal/server"
)

const usage = `petrel: a mail server.

Usage: petrel COMMAND [ARGS] [FLAGS]

Server:
  serve                        run the server (LMTP, SMTP, IMAP, HTTP) on the data folder
  deliver --to ADDR [--from A] deliver a message from standard input over LMTP

Domains:
  domain add NAME [--alias ALIAS]... [--quota SIZE] [--language en|fr|de]
  domain list
  domain show NAME
  domain alias add|remove NAME ALIAS
  domain delete NAME           (refused while the domain has accounts)

Accounts (users and shared mailboxes):
  user add ADDRESS [--password P | --password-file F] [--quota SIZE]
                   [--language en|fr|de] [--type user|shared] [--role user|domain-admin|global-admin]
  user list [DOMAIN]
  user show ADDRESS
  user set ADDRESS [--password P] [--quota SIZE] [--language L]
                   [--role R] [--admin-domain DOMAIN]...
  user address add|remove ADDRESS EXTRA
  user grant SHARED ADDRESS read|write|none
                               rights of an account on a shared mailbox
  user grants SHARED
  user disable|enable ADDRESS
  user delete ADDRESS          (deletes the mailbox and all its mail)

API keys (for the HTTP API; an account's key is also its IMAP password):
  key create ADDRESS [--name NAME] [--expires DURATION]
                               make a key; it is printed once and never again
  key create --global-admin [--name NAME] [--expires DURATION]
                               make a key that acts as the global administrator
  key list ADDRESS | key list --global-admin
  key expire ID [--in DURATION]
  key revoke ID

Mail:
  folders ADDRESS              list an account's folders with their counts
  messages ADDRESS [--folder NAME]
                               list the messages of a folder (INBOX by default)

Replication into the search index (one replicator per shard):
  replication status           per shard: state (active/stalled/stopped), cursor, head of the
                               change log, backlog, lag, messages replicated in the last hour
  replication progress [USER|DOMAIN]...
                               messages in the store against messages indexed (a body
                               delivered to N accounts counts once among the bodies)
  replication requeue USER|DOMAIN...
                               index what the index lacks for these mailboxes
  replication reindex [USER|DOMAIN]...
                               extract and index again (no argument: every shard, whole)
  (status and progress take --json; a running server does requeue and reindex itself)

Every command takes --data DIR (default ./data) and --config FILE. The domain,
user, key, folders and messages commands go through the HTTP API: that of the
server running on the data folder (over data/api.sock), or, when none runs, the
same API in the command's own process.
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	err := run(os.Args[1], os.Args[2:], os.Stdin, os.Stdout)
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "petrel:", err)
		var ue usageError
		if errors.As(err, &ue) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

// command is the parsed common part of every command.
type command struct {
	fs         *flag.FlagSet
	dataDir    string
	configFile string
	args       []string
}

func newCommand(name string) *command {
	c := &command{fs: flag.NewFlagSet(name, flag.ContinueOnError)}
	c.fs.StringVar(&c.dataDir, "data", "", "data folder (default ./data, or data_dir of the config file)")
	c.fs.StringVar(&c.configFile, "config", "", "TOML configuration file (see docs/configuration.md)")
	return c
}

// parse parses flags placed anywhere among the arguments ("user add ADDR
// --password P" as well as "user add --password P ADDR").
func (c *command) parse(args []string) error {
	var positional []string
	for {
		if err := c.fs.Parse(args); err != nil {
			return err
		}
		rest := c.fs.Args()
		if len(rest) == 0 {
			break
		}
		if rest[0] == "--" {
			positional = append(positional, rest[1:]...)
			break
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
	c.args = positional
	return nil
}

// config loads the configuration file (if any) and applies --data.
func (c *command) config() (config.Config, error) {
	cfg, err := config.Load(c.configFile)
	if err != nil {
		return cfg, err
	}
	if c.dataDir != "" {
		cfg.DataDir = c.dataDir
	}
	return cfg, nil
}

func (c *command) open(ctx context.Context) (*server.Data, config.Config, error) {
	cfg, err := c.config()
	if err != nil {
		return nil, cfg, err
	}
	data, err := server.OpenData(ctx, cfg.DataDir, cfg.Shards)
	return data, cfg, err
}

func run(name string, args []string, stdin io.Reader, stdout io.Writer) error {
	ctx := context.Background()
	switch name {
	case "serve":
		return cmdServe(args)
	case "deliver":
		return cmdDeliver(ctx, args, stdin, stdout)
	case "domain":
		return cmdDomain(ctx, args, stdout)
	case "user":
		return cmdUser(ctx, args, stdout)
	case "key":
		return cmdKey(ctx, args, stdout)
	case "folders":
		return cmdFolders(ctx, args, stdout)
	case "messages":
		return cmdMessages(ctx, args, stdout)
	case "replication":
		return cmdReplication(ctx, args, stdout)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	return usagef("unknown command %q (petrel help lists them)", name)
}

func cmdServe(args []string) error {
	c := newCommand("serve")
	lmtp := c.fs.String("lmtp-addr", "", "LMTP listener address (default 127.0.0.1:2424; \"off\" to disable)")
	smtp := c.fs.String("smtp-addr", "", "inbound SMTP listener address (default 127.0.0.1:2525; \"off\" to disable)")
	httpAddr := c.fs.String("http-addr", "", "HTTP listener address for the API, /metrics and /healthz (default 127.0.0.1:8080; \"off\" to disable)")
	imapAddr := c.fs.String("imap-addr", "", "IMAP listener address (default 127.0.0.1:1143; \"off\" to disable)")
	imapsAddr := c.fs.String("imaps-addr", "", "IMAP with implicit TLS listener address (default 127.0.0.1:1993; \"off\" to disable)")
	shards := c.fs.Int("shards", 0, "shard count of a new data folder (default 4)")
	logLevel := c.fs.String("log-level", "", "debug, info, warn, error or trace")
	if err := c.parse(args); err != nil {
		return err
	}
	if len(c.args) > 0 {
		return usagef("serve takes no arguments")
	}
	cfg, err := c.config()
	if err != nil {
		return err
	}
	for _, o := range []struct {
		flag string
		dst  *string
	}{{*lmtp, &cfg.LMTPAddr}, {*smtp, &cfg.SMTPAddr}, {*httpAddr, &cfg.HTTPAddr}, {*imapAddr, &cfg.IMAPAddr}, {*imapsAddr, &cfg.IMAPSAddr}} {
		switch o.flag {
		case "":
		case "off":
			*o.dst = ""
		default:
			*o.dst = o.flag
		}
	}
	if *shards > 0 {
		cfg.Shards = *shards
	}
	if *logLevel != "" {
		cfg.LogLevel = *logLevel
	}
	if err := cfg.Check(); err != nil {
		return err
	}
	log := newLogger(cfg.LogLevel)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	return server.Run(ctx, cfg, log)
}

func newLogger(level string) *slog.Logger {
	var l slog.Level
	switch level {
	case "debug", "trace":
		l = slog.LevelDebug
	case "warn":
		l = slog.LevelWarn
	case "error":
		l = slog.LevelError
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: l}))
}

func joinOr(s []string, none string) string {
	if len(s) == 0 {
		return none
	}
	return strings.Join(s, ", ")
}
