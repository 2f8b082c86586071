package wire

import (
	"bufio"
	"errors"
	"io"
	"runtime"
	"strings"
	"testing"
)

// expectCommand reads a command and checks its tag and name.
func expectCommand(t *testing.T, r *Reader, tag, name string) *Command {
	t.Helper()
	cmd, err := r.ReadCommand()
	if err != nil {
		t.Fatalf("reading %s %s: %v", tag, name, err)
	}
	if cmd.Tag != tag || cmd.Name != name {
		t.Fatalf("got %s %s, want %s %s", cmd.Tag, cmd.Name, tag, name)
	}
	return cmd
}

// expectBad reads a command that must fail with a ParseError.
func expectBad(t *testing.T, r *Reader, tag, code string, fatal bool) *ParseError {
	t.Helper()
	_, err := r.ReadCommand()
	var perr *ParseError
	if !errors.As(err, &perr) {
		t.Fatalf("got %v, want ParseError", err)
	}
	if perr.Tag != tag || perr.Code != code || perr.Fatal != fatal {
		t.Fatalf("got %#v, want tag %q code %q fatal %v", perr, tag, code, fatal)
	}
	return perr
}

func expectEOF(t *testing.T, r *Reader) {
	t.Helper()
	if cmd, err := r.ReadCommand(); err != io.EOF {
		t.Fatalf("got %#v %v, want EOF", cmd, err)
	}
}

func TestLiteralSync(t *testing.T) {
	r, conts := newTestReader("a LOGIN {5}\r\nalice {6}\r\nsecret\r\n", Limits{})
	cmd := expectCommand(t, r, "a", "LOGIN")
	if l := cmd.Args.(*Login); l.Username != "alice" || l.Password != "secret" {
		t.Fatalf("got %#v", l)
	}
	if *conts != 2 {
		t.Fatalf("cont called %d times, want 2", *conts)
	}
	expectEOF(t, r)
}

func TestLiteralNonSync(t *testing.T) {
	// Octet counts are exact: CR and LF inside a literal are data.
	r, conts := newTestReader("a LOGIN {7+}\r\nab\r\ncde {0+}\r\n\r\n", Limits{})
	cmd := expectCommand(t, r, "a", "LOGIN")
	if l := cmd.Args.(*Login); l.Username != "ab\r\ncde" || l.Password != "" {
		t.Fatalf("got %#v", l)
	}
	if *conts != 0 {
		t.Fatalf("cont called for a non-synchronizing literal")
	}
	expectEOF(t, r)
}

func TestLiteralMinus(t *testing.T) {
	big := strings.Repeat("x", 5000)
	in := "a LOGIN {5000+}\r\n" + big + " pw\r\n" + // refused, discarded
		"b LOGIN {4096+}\r\n" + big[:4096] + " pw\r\n" + // at the limit
		"c LOGIN {5000}\r\n" + big + " pw\r\n" // synchronizing: fine
	r, conts := newTestReader(in, Limits{NonSyncLiteral: 4096})
	expectBad(t, r, "a", CodeTooBig, false)
	expectCommand(t, r, "b", "LOGIN")
	if *conts != 0 {
		t.Fatal("cont called")
	}
	expectCommand(t, r, "c", "LOGIN")
	if *conts != 1 {
		t.Fatal("cont not called")
	}
	expectEOF(t, r)
}

func TestLiteralTooBig(t *testing.T) {
	lim := Limits{MaxLiteral: 100, MaxDiscard: 1000}
	// Synchronizing: refused before "+", the client sends nothing more.
	r, conts := newTestReader("a LOGIN {101}\r\nb NOOP\r\n", lim)
	expectBad(t, r, "a", CodeTooBig, false)
	expectCommand(t, r, "b", "NOOP")
	if *conts != 0 {
		t.Fatal("cont called")
	}
	// Non-synchronizing within MaxDiscard: read and thrown away.
	r, _ = newTestReader("a LOGIN {500+}\r\n"+strings.Repeat("a NOOP\r\n", 62)+"xxxx {3+}\r\nabc\r\nb NOOP\r\n", lim)
	expectBad(t, r, "a", CodeTooBig, false)
	expectCommand(t, r, "b", "NOOP")
	// Beyond it: fatal.
	r, _ = newTestReader("a LOGIN {1001+}\r\n", lim)
	expectBad(t, r, "a", CodeTooBig, true)
}

// TestLiteralHuge checks that a literal announcing 10 GB allocates nothing
// near it: refused before "+" when synchronizing, fatal otherwise.
func TestLiteralHuge(t *testing.T) {
	for _, tc := range []struct {
		in    string
		fatal bool
	}{
		{"a LOGIN {10737418240}\r\nb NOOP\r\n", false},
		{"a LOGIN {10737418240+}\r\n", true},
		{"a APPEND INBOX {10737418240+}\r\n", true},
		{"a LOGIN {99999999999999999999999999}\r\nb NOOP\r\n", false},
		{"a LOGIN {99999999999999999999999999+}\r\n", true},
	} {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		r, conts := newTestReader(tc.in, Limits{})
		cmd, err := r.ReadCommand()
		if err == nil && cmd.Name == "APPEND" {
			_, err = cmd.Args.(*Append).Next()
		}
		runtime.ReadMemStats(&after)
		var perr *ParseError
		if !errors.As(err, &perr) || perr.Code != CodeTooBig || perr.Fatal != tc.fatal {
			t.Fatalf("%q: got %#v, want TOOBIG fatal %v", tc.in, err, tc.fatal)
		}
		if *conts != 0 {
			t.Fatalf("cont called")
		}
		if n := after.TotalAlloc - before.TotalAlloc; n > 256<<10 {
			t.Fatalf("%q: allocated %d bytes", tc.in, n)
		}
		if !tc.fatal {
			expectCommand(t, r, "b", "NOOP")
		}
	}
}

func TestLiteral8Refused(t *testing.T) {
	r, conts := newTestReader("a LOGIN ~{3}\r\nb NOOP\r\nc LOGIN {3+}\r\na\x00b c\r\nd NOOP\r\n", Limits{})
	expectBad(t, r, "a", "", false)
	expectCommand(t, r, "b", "NOOP")
	expectBad(t, r, "c", "", false)
	expectCommand(t, r, "d", "NOOP")
	if *conts != 0 {
		t.Fatal("cont called")
	}
}

func TestLiteralMidLine(t *testing.T) {
	// A literal announcement not at the end of the line is not one.
	r, _ := newTestReader("a LOGIN {3} x\r\nb NOOP\r\n", Limits{})
	expectBad(t, r, "a", "", false)
	expectCommand(t, r, "b", "NOOP")
}

func TestLineEnds(t *testing.T) {
	// Bare LF is accepted as a line end; CRLF stays the norm. Empty lines
	// between commands are skipped.
	r, _ := newTestReader("a NOOP\nb LOGIN {1}\nx y\r\n\r\n\nc NOOP\r\n", Limits{})
	expectCommand(t, r, "a", "NOOP")
	expectCommand(t, r, "b", "LOGIN")
	expectCommand(t, r, "c", "NOOP")
	expectEOF(t, r)
	// A bare CR inside a line is not a line end.
	r, _ = newTestReader("a NOOP\rb NOOP\r\nc NOOP\r\n", Limits{})
	expectBad(t, r, "a", "", false)
	expectCommand(t, r, "c", "NOOP")
	// EOF in the middle of a command.
	r, _ = newTestReader("a NOOP", Limits{})
	if _, err := r.ReadCommand(); err != io.ErrUnexpectedEOF {
		t.Fatalf("got %v", err)
	}
	r, _ = newTestReader("a LOGIN {5}\r\nab", Limits{})
	if _, err := r.ReadCommand(); err != io.ErrUnexpectedEOF {
		t.Fatalf("got %v", err)
	}
}

func TestOverlongLine(t *testing.T) {
	lim := Limits{MaxLine: 100}
	long := "a SEARCH SUBJECT " + strings.Repeat("x", 1000)
	r, _ := newTestReader(long+"\r\nb NOOP\r\n"+long+" {5+}\r\nhello\r\nc NOOP\r\n"+long+" {5}\r\nd NOOP\r\n", lim)
	expectBad(t, r, "a", CodeTooBig, false)
	expectCommand(t, r, "b", "NOOP")
	expectBad(t, r, "a", CodeTooBig, false)
	expectCommand(t, r, "c", "NOOP")
	expectBad(t, r, "a", CodeTooBig, false)
	expectCommand(t, r, "d", "NOOP")
	expectEOF(t, r)

	// Line after a literal too long; a small bufio buffer.
	in := "a LOGIN {3+}\r\nabc " + strings.Repeat("y", 500) + "\r\nb NOOP\r\n"
	r = NewReader(bufio.NewReaderSize(strings.NewReader(in), 16), nil, lim)
	expectBad(t, r, "a", CodeTooBig, false)
	expectCommand(t, r, "b", "NOOP")
}

func TestMaxCommand(t *testing.T) {
	lim := Limits{MaxLine: 1000, MaxLiteral: 1000, MaxCommand: 2500}
	lit := "{900+}\r\n" + strings.Repeat("z", 900)
	r, _ := newTestReader("a SEARCH TEXT "+lit+" TEXT "+lit+" TEXT "+lit+" TEXT "+lit+"\r\nb NOOP\r\n", lim)
	expectBad(t, r, "a", CodeTooBig, false)
	expectCommand(t, r, "b", "NOOP")
}

func TestPipelined(t *testing.T) {
	in := "a NOOP\r\nb LOGIN {1+}\r\nx y\r\nc UID FETCH 1:* (UID FLAGS)\r\nd BAD-COMMAND {2+}\r\nzz\r\ne SELECT INBOX\r\nf LOGOUT\r\n"
	r, _ := newTestReader(in, Limits{})
	expectCommand(t, r, "a", "NOOP")
	expectCommand(t, r, "b", "LOGIN")
	expectCommand(t, r, "c", "FETCH")
	cmd, err := r.ReadCommand()
	var perr *ParseError
	if !errors.As(err, &perr) || cmd == nil || cmd.Name != "BAD-COMMAND" || perr.Tag != "d" {
		t.Fatalf("got %#v %v", cmd, err)
	}
	expectCommand(t, r, "e", "SELECT")
	expectCommand(t, r, "f", "LOGOUT")
	expectEOF(t, r)
}

func TestResync(t *testing.T) {
	// A bad command with non-synchronizing literals, several lines long.
	r, conts := newTestReader("a FOO {5+}\r\nhello world {3+}\r\nabc\r\nb NOOP\r\n", Limits{})
	expectBad(t, r, "a", "", false)
	expectCommand(t, r, "b", "NOOP")
	// An error in the second line of a command.
	r, _ = newTestReader("a LOGIN {3+}\r\nabc \"unterminated {3+}\r\nxyz\r\nb NOOP\r\n", Limits{})
	expectBad(t, r, "a", "", false)
	expectCommand(t, r, "b", "NOOP")
	// A synchronizing literal at the end of a bad line is never sent.
	r, _ = newTestReader("a FOO {5}\r\nb NOOP\r\n", Limits{})
	expectBad(t, r, "a", "", false)
	expectCommand(t, r, "b", "NOOP")
	if *conts != 0 {
		t.Fatal("cont called")
	}
}

func TestContError(t *testing.T) {
	failed := errors.New("write failed")
	r := NewReader(bufio.NewReader(strings.NewReader("a LOGIN {5}\r\nalice x\r\n")), func() error { return failed }, Limits{})
	if _, err := r.ReadCommand(); err != failed {
		t.Fatalf("got %v", err)
	}
}

func TestReadLine(t *testing.T) {
	r, _ := newTestReader("a IDLE\r\nDONE\r\n"+strings.Repeat("x", 200)+"\r\nAGFsaWNl\nb NOOP\r\n", Limits{MaxLine: 100})
	expectCommand(t, r, "a", "IDLE")
	if l, err := r.ReadLine(); err != nil || string(l) != "DONE" {
		t.Fatalf("got %q %v", l, err)
	}
	_, err := r.ReadLine()
	var perr *ParseError
	if !errors.As(err, &perr) || perr.Code != CodeTooBig {
		t.Fatalf("got %v", err)
	}
	if l, err := r.ReadLine(); err != nil || string(l) != "AGFsaWNl" {
		t.Fatalf("got %q %v", l, err)
	}
	expectCommand(t, r, "b", "NOOP")
	if _, err := r.ReadLine(); err != io.EOF {
		t.Fatalf("got %v", err)
	}
}

func TestBufferedReset(t *testing.T) {
	r, _ := newTestReader("a STARTTLS\r\nb NOOP\r\n", Limits{})
	expectCommand(t, r, "a", "STARTTLS")
	if r.Buffered() == 0 {
		t.Fatal("injected command not seen as buffered")
	}
	r.Reset(bufio.NewReader(strings.NewReader("c NOOP\r\n")))
	expectCommand(t, r, "c", "NOOP")
}

func TestParseErrorText(t *testing.T) {
	e := &ParseError{Tag: "a", Code: CodeTooBig, Msg: "too long"}
	if e.Error() != "[TOOBIG] too long" {
		t.Fatalf("got %q", e.Error())
	}
	e.Fatal = true
	if e.Error() != "fatal: [TOOBIG] too long" {
		t.Fatalf("got %q", e.Error())
	}
	r, _ := newTestReader("", Limits{MaxLine: 5})
	if r.Limits().MaxLine != 5 || r.Limits().MaxAppend != DefaultLimits().MaxAppend {
		t.Fatalf("limits %#v", r.Limits())
	}
}
