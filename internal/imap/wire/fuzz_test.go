package wire

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// fuzzLimits are small so that the fuzzer reaches them.
var fuzzLimits = Limits{
	MaxLine:        512,
	MaxLiteral:     2048,
	MaxCommand:     8192,
	MaxAppend:      4096,
	NonSyncLiteral: 1024,
	MaxDiscard:     4096,
}

// addSeeds adds the seed files of testdata/seeds, one per command.
func addSeeds(f *testing.F) {
	files, err := filepath.Glob("testdata/seeds/*.imap")
	if err != nil || len(files) == 0 {
		f.Fatalf("no seeds: %v", err)
	}
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}

// readAll reads every command of data like a server would, reading the
// messages of APPEND, and returns the number of commands.
func readAll(t testing.TB, data []byte, limits Limits, bufSize int) int {
	conts := 0
	r := NewReader(bufio.NewReaderSize(bytes.NewReader(data), bufSize), func() error {
		conts++
		return nil
	}, limits)
	n := 0
	// Every call consumes input or ends: guard against a loop anyway.
	for i := 0; i <= len(data)+1; i++ {
		cmd, err := r.ReadCommand()
		var perr *ParseError
		switch {
		case err == nil:
		case errors.As(err, &perr):
			if perr.Fatal {
				return n
			}
			if cmd != nil && cmd.Tag == "" {
				t.Fatalf("command without tag: %#v", cmd)
			}
			continue
		case err == io.EOF || err == io.ErrUnexpectedEOF:
			return n
		default:
			t.Fatalf("unexpected error %v", err)
		}
		n++
		if cmd.Tag == "" || cmd.Name == "" || cmd.Name != strings.ToUpper(cmd.Name) {
			t.Fatalf("bad command %#v", cmd)
		}
		switch a := cmd.Args.(type) {
		case *Append:
			for k := 0; ; k++ {
				m, err := a.Next()
				if err != nil {
					break
				}
				if m.Size > limits.MaxAppend {
					t.Fatalf("message of %d octets over the limit", m.Size)
				}
				if k == 2 {
					break // abandon: the next ReadCommand skips the rest
				}
				if k == 1 {
					continue // accept without reading
				}
				io.Copy(io.Discard, m.Body)
			}
		case *Fetch:
			for _, att := range a.Atts {
				att.ResponseName()
			}
		case *Copy:
			if s := a.Set.String(); s == "" {
				t.Fatalf("empty set")
			}
			a.Set.Contains(5, 10)
			a.Mailbox.Decode(false)
			a.Mailbox.Decode(true)
		}
	}
	t.Fatalf("no progress reading %q", data)
	return n
}

// FuzzReadCommand feeds arbitrary input to the Reader: it must not panic,
// must make progress, and must allocate no more than the limits allow.
func FuzzReadCommand(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		readAll(t, data, fuzzLimits, 64)
		runtime.ReadMemStats(&after)
		// Allocation is linear in the input (parsed values are at most a
		// constant factor larger than their syntax), plus what the limits
		// allow a single command to announce without sending.
		max := uint64(256*len(data)) + uint64(fuzzLimits.MaxLiteral) + uint64(fuzzLimits.MaxLine) + 64<<10
		if n := after.TotalAlloc - before.TotalAlloc; n > max {
			t.Fatalf("allocated %d bytes for %d bytes of input (max %d)", n, len(data), max)
		}
	})
}

// FuzzUTF7 checks that modified UTF-7 decoding accepts only what encoding
// produces, and that encoding round-trips.
func FuzzUTF7(f *testing.F) {
	for _, s := range []string{"", "INBOX", "&-", "&AOk-t&AOk-", "~peter/mail/&U,BTFw-/&ZeVnLIqe-", "&2D3eAQ-", "a&AGE-", "&AOk-&AOk-", "&Jjo-!"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if dec, err := DecodeUTF7(s); err == nil {
			if enc := EncodeUTF7(dec); enc != s {
				t.Fatalf("DecodeUTF7(%q) = %q, encoding back gives %q", s, dec, enc)
			}
		}
		if !strings.ContainsRune(s, '\uFFFD') && isValidUTF8(s) {
			enc := EncodeUTF7(s)
			if dec, err := DecodeUTF7(enc); err != nil || dec != s {
				t.Fatalf("EncodeUTF7(%q) = %q, decodes to %q, %v", s, enc, dec, err)
			}
		}
	})
}

func isValidUTF8(s string) bool {
	for _, c := range s {
		if c == '\uFFFD' {
			return false
		}
	}
	return true
}

// FuzzString checks that what AppendAstring writes is read back as the
// same string by the parser.
func FuzzString(f *testing.F) {
	for _, s := range []string{"", "NIL", "a b", "x\"y\\z", "é", "\r\n", "\x00", "]"} {
		f.Add(s, false)
	}
	f.Fuzz(func(t *testing.T, s string, utf8Allowed bool) {
		line := string(AppendAstring([]byte("a LOGIN "), s, utf8Allowed)) + " x\r\n"
		r, _ := newTestReader(line, Limits{MaxLine: 1 << 20, MaxLiteral: 1 << 20, MaxCommand: 4 << 20})
		cmd, err := r.ReadCommand()
		if strings.IndexByte(s, 0) >= 0 {
			return // NUL needs literal8, which LOGIN does not take
		}
		if err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		if got := cmd.Args.(*Login).Username; got != s {
			t.Fatalf("wrote %q, read %q", s, got)
		}
	})
}
