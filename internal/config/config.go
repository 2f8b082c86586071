// Package config owns Petrel's settings: their defaults, the optional TOML
// file (docs/configuration.md documents every key) and the command-line
// flags that override it. It reads settings; it starts nothing.
package config

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// Config is every setting of a Petrel server.
type Config struct {
	// DataDir holds everything the server stores.
	DataDir string `toml:"data_dir"`
	// Shards is the shard count of a new data folder.
	Shards int `toml:"shards"`
	// Hostname is announced in protocol greetings.
	Hostname string `toml:"hostname"`
	// Listener addresses; an empty string turns the listener off.
	LMTPAddr string `toml:"lmtp_addr"`
	SMTPAddr string `toml:"smtp_addr"`
	HTTPAddr string `toml:"http_addr"`
	// IMAPAddr is the IMAP listener with STARTTLS; IMAPSAddr the one with
	// implicit TLS (RFC 8314).
	IMAPAddr  string `toml:"imap_addr"`
	IMAPSAddr string `toml:"imaps_addr"`
	// TLSCert and TLSKey are PEM files; empty: a self-signed certificate
	// made on first start.
	TLSCert string `toml:"tls_cert"`
	TLSKey  string `toml:"tls_key"`
	// PlaintextAuth allows IMAP passwords without TLS from non-loopback
	// clients.
	PlaintextAuth bool `toml:"plaintext_auth"`
	// MaxMessageSize is the largest message accepted.
	MaxMessageSize Size `toml:"max_message_size"`
	// DiskReserve is the free space below which mail is refused (452 4.3.1).
	DiskReserve Size `toml:"disk_reserve"`
	// LogLevel is debug, info, warn or error.
	LogLevel string `toml:"log_level"`
	// AuthFailuresAddress and AuthFailuresAccount are the failed
	// authentications (IMAP and API) allowed per source address and per
	// account within AuthFailWindow before further attempts are throttled
	// (see package throttle); negative turns a limit off.
	AuthFailuresAddress int           `toml:"auth_failures_address"`
	AuthFailuresAccount int           `toml:"auth_failures_account"`
	AuthFailWindow      time.Duration `toml:"auth_fail_window"`
	// ChangeLogRetention is how long a shard's change log keeps entries
	// that every consumer has applied; negative keeps them for ever.
	ChangeLogRetention time.Duration `toml:"changelog_retention"`
	// GCPercent and GCHeadroom tune the Go garbage collector of `petrel
	// serve`: a cycle once the heap has grown by GCPercent of what the
	// last one found live, or by GCHeadroom bytes if that is more. The
	// GOGC environment variable, when set, replaces both.
	GCPercent  int  `toml:"gc_percent"`
	GCHeadroom Size `toml:"gc_headroom"`
}

// Default returns the embedded default: everything under ./data, listeners
// on loopback only.
func Default() Config {
	host, _ := os.Hostname()
	if host == "" {
		host = "localhost"
	}
	return Config{
		DataDir:        "./data",
		Shards:         4,
		Hostname:       host,
		LMTPAddr:       "127.0.0.1:2424",
		SMTPAddr:       "127.0.0.1:2525",
		HTTPAddr:       "127.0.0.1:8080",
		IMAPAddr:       "127.0.0.1:1143",
		IMAPSAddr:      "127.0.0.1:1993",
		MaxMessageSize: 64 << 20,
		DiskReserve:    256 << 20,
		LogLevel:       "info",

		AuthFailuresAddress: 10,
		AuthFailuresAccount: 30,
		AuthFailWindow:      15 * time.Minute,

		ChangeLogRetention: 7 * 24 * time.Hour,
		GCPercent:          100,
		GCHeadroom:         16 << 20,
	}
}

// Load reads a TOML file over the defaults. Unknown keys are an error, so
// that a misspelt setting is not silently ignored.
func Load(path string) (Config, error) {
	c := Default()
	if path == "" {
		return c, nil
	}
	md, err := toml.DecodeFile(path, &c)
	if err != nil {
		return c, fmt.Errorf("config %s: %w", path, err)
	}
	if undec := md.Undecoded(); len(undec) > 0 {
		keys := make([]string, len(undec))
		for i, k := range undec {
			keys[i] = k.String()
		}
		return c, fmt.Errorf("config %s: unknown keys: %s", path, strings.Join(keys, ", "))
	}
	return c, c.Check()
}

// Check reports settings that cannot work.
func (c Config) Check() error {
	if c.DataDir == "" {
		return fmt.Errorf("config: data_dir is empty")
	}
	if c.Shards < 1 || c.Shards > 1024 {
		return fmt.Errorf("config: shards must be between 1 and 1024, not %d", c.Shards)
	}
	if c.MaxMessageSize < 1024 {
		return fmt.Errorf("config: max_message_size %d is too small", c.MaxMessageSize)
	}
	if c.DiskReserve < 0 {
		return fmt.Errorf("config: disk_reserve is negative")
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		return fmt.Errorf("config: tls_cert and tls_key go together")
	}
	if c.AuthFailuresAddress == 0 || c.AuthFailuresAccount == 0 {
		return fmt.Errorf("config: auth_failures_address and auth_failures_account must not be 0 (negative turns a limit off)")
	}
	if c.AuthFailWindow < time.Second {
		return fmt.Errorf("config: auth_fail_window %v is too short", c.AuthFailWindow)
	}
	if c.GCPercent < 25 || c.GCPercent > 10000 {
		return fmt.Errorf("config: gc_percent must be between 25 and 10000, not %d", c.GCPercent)
	}
	if c.GCHeadroom < 0 || c.GCHeadroom > 1<<40 {
		return fmt.Errorf("config: gc_headroom must be between 0 and 1TiB")
	}
	if c.ChangeLogRetention >= 0 && c.ChangeLogRetention < time.Hour {
		return fmt.Errorf("config: changelog_retention %v is under an hour (negative keeps the log for ever)", c.ChangeLogRetention)
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error", "trace":
	default:
		return fmt.Errorf("config: log_level %q (debug, info, warn, error or trace)", c.LogLevel)
	}
	return nil
}

// Size is a number of bytes, written in a file or flag as 1048576, "64M",
// "64MiB", "1.5G" or "512k" (binary multiples).
type Size int64

// ParseSize parses a size.
func ParseSize(s string) (Size, error) {
	t := strings.TrimSpace(strings.ToUpper(s))
	t = strings.TrimSuffix(strings.TrimSuffix(t, "B"), "I")
	mult := int64(1)
	if n := len(t); n > 0 {
		switch t[n-1] {
		case 'K':
			mult, t = 1<<10, t[:n-1]
		case 'M':
			mult, t = 1<<20, t[:n-1]
		case 'G':
			mult, t = 1<<30, t[:n-1]
		case 'T':
			mult, t = 1<<40, t[:n-1]
		}
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(t), 64)
	if err != nil || f < 0 || f*float64(mult) > 1<<62 {
		return 0, fmt.Errorf("bad size %q (examples: 1048576, 512K, 64M, 1.5G)", s)
	}
	return Size(f * float64(mult)), nil
}

// UnmarshalText lets TOML files write sizes as strings.
func (s *Size) UnmarshalText(b []byte) error {
	v, err := ParseSize(string(b))
	*s = v
	return err
}

// UnmarshalTOML accepts a bare integer too.
func (s *Size) UnmarshalTOML(v any) error {
	switch x := v.(type) {
	case int64:
		*s = Size(x)
		return nil
	case string:
		return s.UnmarshalText([]byte(x))
	}
	return fmt.Errorf("bad size %v", v)
}

// String formats a size with a binary unit where it divides exactly.
func (s Size) String() string {
	for _, u := range []struct {
		n    int64
		unit string
	}{{1 << 40, "T"}, {1 << 30, "G"}, {1 << 20, "M"}, {1 << 10, "K"}} {
		if int64(s) >= u.n && int64(s)%u.n == 0 {
			return strconv.FormatInt(int64(s)/u.n, 10) + u.unit
		}
	}
	return strconv.FormatInt(int64(s), 10)
}

// Set implements flag.Value.
func (s *Size) Set(v string) error { return s.UnmarshalText([]byte(v)) }
