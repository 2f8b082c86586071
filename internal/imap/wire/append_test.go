package wire

import (
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
)

func nextMessage(t *testing.T, a *Append) (*AppendMessage, string) {
	t.Helper()
	m, err := a.Next()
	if err != nil {
		t.Fatalf("Next: %v", err)
	}
	body, err := io.ReadAll(m.Body)
	if err != nil {
		t.Fatalf("reading body: %v", err)
	}
	return m, string(body)
}

func expectAppendEnd(t *testing.T, a *Append) {
	t.Helper()
	if m, err := a.Next(); err != io.EOF {
		t.Fatalf("got %#v %v, want EOF", m, err)
	}
}

func TestAppend(t *testing.T) {
	r, conts := newTestReader("a APPEND saved-messages (\\Seen) {5}\r\nhello\r\nb NOOP\r\n", Limits{})
	cmd := expectCommand(t, r, "a", "APPEND")
	a := cmd.Args.(*Append)
	if a.Mailbox != "saved-messages" {
		t.Fatalf("mailbox %q", a.Mailbox)
	}
	m, body := nextMessage(t, a)
	if body != "hello" || !reflect.DeepEqual(m.Flags, []string{`\Seen`}) || m.Size != 5 || !m.Sync || m.Binary || !m.Date.IsZero() {
		t.Fatalf("got %#v %q", m, body)
	}
	if *conts != 1 {
		t.Fatalf("cont called %d times", *conts)
	}
	expectAppendEnd(t, a)
	expectAppendEnd(t, a)
	expectCommand(t, r, "b", "NOOP")
	if _, err := m.Body.Read(make([]byte, 1)); err == nil {
		t.Fatal("body readable after the command")
	}
}

func TestMultiAppend(t *testing.T) {
	in := "a APPEND INBOX {5+}\r\nhello (\\Seen $Junk) \"01-Jan-2020 00:00:00 +0000\" {3}\r\nabc () ~{2+}\r\n\x00\x01\r\nb NOOP\r\n"
	r, conts := newTestReader(in, Limits{})
	a := expectCommand(t, r, "a", "APPEND").Args.(*Append)
	m, body := nextMessage(t, a)
	if body != "hello" || m.Flags != nil || m.Sync {
		t.Fatalf("got %#v %q", m, body)
	}
	m, body = nextMessage(t, a)
	if body != "abc" || len(m.Flags) != 2 || m.Date.Year() != 2020 || !m.Sync {
		t.Fatalf("got %#v %q", m, body)
	}
	m, body = nextMessage(t, a)
	if body != "\x00\x01" || !m.Binary || m.Flags == nil || len(m.Flags) != 0 {
		t.Fatalf("got %#v %q", m, body)
	}
	expectAppendEnd(t, a)
	if *conts != 1 {
		t.Fatalf("cont called %d times", *conts)
	}
	expectCommand(t, r, "b", "NOOP")
}

// TestAppendRefused: the server answers without reading the message.
func TestAppendRefused(t *testing.T) {
	// Synchronizing: the client waits for "+" and sends nothing else.
	r, conts := newTestReader("a APPEND INBOX {5}\r\nb NOOP\r\n", Limits{})
	a := expectCommand(t, r, "a", "APPEND").Args.(*Append)
	if m, err := a.Next(); err != nil || m.Size != 5 {
		t.Fatalf("got %#v %v", m, err)
	}
	expectCommand(t, r, "b", "NOOP")
	if *conts != 0 {
		t.Fatal("cont called")
	}
	// Refused before Next.
	r, _ = newTestReader("a APPEND INBOX {5}\r\nb NOOP\r\n", Limits{})
	expectCommand(t, r, "a", "APPEND")
	expectCommand(t, r, "b", "NOOP")
	// Non-synchronizing: discarded.
	r, _ = newTestReader("a APPEND INBOX {5+}\r\nhello\r\nb NOOP\r\n", Limits{})
	expectCommand(t, r, "a", "APPEND")
	expectCommand(t, r, "b", "NOOP")
	// The second message of several, partly read.
	r, _ = newTestReader("a APPEND INBOX {5+}\r\nhello {3+}\r\nabc {2+}\r\nde\r\nb NOOP\r\n", Limits{})
	a = expectCommand(t, r, "a", "APPEND").Args.(*Append)
	nextMessage(t, a)
	m, err := a.Next()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Body.Read(make([]byte, 1)); err != nil {
		t.Fatal(err)
	}
	expectCommand(t, r, "b", "NOOP")
	if _, err := a.Next(); err == nil {
		t.Fatal("Next after the command ended")
	}
	// Next without reading: accepted and skipped.
	r, conts = newTestReader("a APPEND INBOX {5}\r\nhello {3}\r\nabc\r\nb NOOP\r\n", Limits{})
	a = expectCommand(t, r, "a", "APPEND").Args.(*Append)
	if _, err := a.Next(); err != nil {
		t.Fatal(err)
	}
	m, body := nextMessage(t, a)
	if body != "abc" || m.Size != 3 {
		t.Fatalf("got %q", body)
	}
	expectAppendEnd(t, a)
	if *conts != 2 {
		t.Fatalf("cont called %d times", *conts)
	}
	expectCommand(t, r, "b", "NOOP")
}

func TestAppendTooBig(t *testing.T) {
	lim := Limits{MaxAppend: 10, MaxDiscard: 100}
	for _, tc := range []struct {
		in    string
		fatal bool
	}{
		{"a APPEND INBOX {11}\r\nb NOOP\r\n", false},
		{"a APPEND INBOX {11+}\r\n" + strings.Repeat("x", 11) + "\r\nb NOOP\r\n", false},
		{"a APPEND INBOX {5+}\r\nhello {11+}\r\n" + strings.Repeat("x", 11) + "\r\nb NOOP\r\n", false},
		{"a APPEND INBOX {101+}\r\n", true},
	} {
		r, conts := newTestReader(tc.in, lim)
		a := expectCommand(t, r, "a", "APPEND").Args.(*Append)
		var err error
		for err == nil {
			var m *AppendMessage
			m, err = a.Next()
			if err == nil {
				io.Copy(io.Discard, m.Body)
			}
		}
		var perr *ParseError
		if !errors.As(err, &perr) || perr.Code != CodeTooBig || perr.Fatal != tc.fatal || perr.Tag != "a" {
			t.Fatalf("%q: got %v", tc.in, err)
		}
		if *conts != 0 {
			t.Fatal("cont called")
		}
		if !tc.fatal {
			expectCommand(t, r, "b", "NOOP")
		}
	}
}

func TestAppendUTF8(t *testing.T) {
	r, _ := newTestReader("a APPEND INBOX UTF8 (~{2+}\r\né)\r\nb NOOP\r\n", Limits{})
	a := expectCommand(t, r, "a", "APPEND").Args.(*Append)
	m, body := nextMessage(t, a)
	if body != "é" || !m.UTF8 || !m.Binary {
		t.Fatalf("got %#v %q", m, body)
	}
	expectAppendEnd(t, a)
	expectCommand(t, r, "b", "NOOP")
}

func TestAppendBad(t *testing.T) {
	for _, in := range []string{
		"a APPEND INBOX UTF8 ({1+}\r\nx)\r\nb NOOP\r\n",
		"a APPEND INBOX UTF8 (~{1+}\r\nx\r\nb NOOP\r\n",
		"a APPEND INBOX {1+}\r\nx foo\r\nb NOOP\r\n",
		"a APPEND INBOX (\\Seen {1+}\r\nx\r\nb NOOP\r\n",
		"a APPEND INBOX \"1-Jan-2020\" {1+}\r\nx\r\nb NOOP\r\n",
		"a APPEND INBOX (\\Seen) \r\nb NOOP\r\n",
		"a APPEND INBOX {1+} \r\nb NOOP\r\n",
		"a APPEND INBOX {1+}\r\nx{1+}\r\ny\r\nb NOOP\r\n",
		"a APPEND INBOX {1+}\r\nx \r\nb NOOP\r\n",
	} {
		r, _ := newTestReader(in, Limits{})
		cmd, err := r.ReadCommand()
		if err == nil {
			a := cmd.Args.(*Append)
			for err == nil {
				var m *AppendMessage
				m, err = a.Next()
				if err == nil {
					io.Copy(io.Discard, m.Body)
				}
			}
		}
		var perr *ParseError
		if !errors.As(err, &perr) || perr.Fatal || perr.Tag != "a" {
			t.Fatalf("%q: got %v", in, err)
		}
		expectCommand(t, r, "b", "NOOP")
	}
}
