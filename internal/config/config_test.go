package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseSize(t *testing.T) {
	for in, want := range map[string]Size{
		"1048576": 1 << 20, "512K": 512 << 10, "64M": 64 << 20, "64MiB": 64 << 20, "64mb": 64 << 20,
		"1.5G": 3 << 29, "2T": 2 << 40, "0": 0,
	} {
		got, err := ParseSize(in)
		if err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "M", "-1", "12X", "1e40G"} {
		if _, err := ParseSize(bad); err == nil {
			t.Errorf("ParseSize(%q) accepted", bad)
		}
	}
	if s := Size(64 << 20).String(); s != "64M" {
		t.Errorf("String = %s", s)
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	write := func(body string) string {
		p := filepath.Join(dir, "petrel.toml")
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	c, err := Load(write("data_dir = \"/srv/mail\"\nmax_message_size = \"10M\"\ndisk_reserve = 1048576\nsmtp_addr = \"\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.DataDir != "/srv/mail" || c.MaxMessageSize != 10<<20 || c.DiskReserve != 1<<20 || c.SMTPAddr != "" || c.LMTPAddr != Default().LMTPAddr {
		t.Fatalf("loaded %+v", c)
	}
	if _, err := Load(write("data_dri = \"x\"\n")); err == nil || !strings.Contains(err.Error(), "data_dri") {
		t.Fatalf("misspelt key: %v", err)
	}
	if _, err := Load(write("shards = 0\n")); err == nil {
		t.Fatal("shards = 0 accepted")
	}
	if _, err := Load(write("log_level = \"loud\"\n")); err == nil {
		t.Fatal("bad log level accepted")
	}
	if _, err := Load(write("gc_percent = 5\n")); err == nil {
		t.Fatal("gc_percent = 5 accepted")
	}
	if c, err := Load(write("gc_percent = 400\ngc_headroom = \"64MiB\"\n")); err != nil || c.GCPercent != 400 || c.GCHeadroom != 64<<20 {
		t.Fatalf("gc_percent, gc_headroom: %v, %v, %v", c.GCPercent, c.GCHeadroom, err)
	}
	if _, err := Load(write("gc_headroom = -1\n")); err == nil {
		t.Fatal("a negative gc_headroom accepted")
	}
	if _, err := Load(write("changelog_retention = \"30m\"\n")); err == nil {
		t.Fatal("a change log retention under an hour accepted")
	}
	if c, err := Load(write("changelog_retention = \"-1s\"\n")); err != nil || c.ChangeLogRetention >= 0 {
		t.Fatalf("keep the log for ever: %v, %v", c.ChangeLogRetention, err)
	}
	if c, err := Load(""); err != nil || c != Default() {
		t.Fatalf("no file: %+v, %v", c, err)
	}
}
