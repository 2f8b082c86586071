package imap_test

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// Helpers shared by the socket tests of this package (harness_test.go has
// the server and the connections).

// waitTimeout bounds every wait for a response or a callback.
const waitTimeout = 10 * time.Second

// appendMsg appends msg to mailbox with imapclient and returns APPENDUID.
func appendMsg(t testing.TB, c *imapclient.Client, mailbox, msg string, flags ...imap.Flag) *imap.AppendData {
	t.Helper()
	cmd := c.Append(mailbox, int64(len(msg)), &imap.AppendOptions{Flags: flags})
	if _, err := cmd.Write([]byte(msg)); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Close(); err != nil {
		t.Fatal(err)
	}
	res, err := waitAppend(t, cmd)
	if err != nil {
		t.Fatalf("APPEND to %s: %v", mailbox, err)
	}
	return res
}

// waitAppend waits for the end of an APPEND, failing after waitTimeout
// rather than hanging when the server does not answer.
func waitAppend(t testing.TB, cmd *imapclient.AppendCommand) (*imap.AppendData, error) {
	t.Helper()
	type result struct {
		d   *imap.AppendData
		err error
	}
	done := make(chan result, 1)
	go func() {
		d, err := cmd.Wait()
		done <- result{d, err}
	}()
	r := recv(t, done, "the answer to APPEND")
	return r.d, r.err
}

// fill appends n messages "<prefix> 1".."<prefix> n" to mailbox.
func fill(t testing.TB, c *imapclient.Client, mailbox, prefix string, n int) {
	t.Helper()
	for i := 1; i <= n; i++ {
		appendMsg(t, c, mailbox, testMessage(fmt.Sprintf("%s %d", prefix, i)))
	}
}

// mustSelect selects mailbox read-write.
func mustSelect(t testing.TB, c *imapclient.Client, mailbox string) *imap.SelectData {
	t.Helper()
	d, err := c.Select(mailbox, nil).Wait()
	if err != nil {
		t.Fatalf("SELECT %s: %v", mailbox, err)
	}
	return d
}

// fetchAll fetches 1:* with the given options (UID always).
func fetchAll(t testing.TB, c *imapclient.Client, opts *imap.FetchOptions) []*imapclient.FetchMessageBuffer {
	t.Helper()
	o := *opts
	o.UID = true
	msgs, err := c.Fetch(imap.SeqSet{{Start: 1, Stop: 0}}, &o).Collect()
	if err != nil {
		t.Fatalf("FETCH 1:*: %v", err)
	}
	return msgs
}

// seqUIDs returns "seq:uid" pairs of a FETCH result, in order.
func seqUIDs(msgs []*imapclient.FetchMessageBuffer) string {
	var out []string
	for _, m := range msgs {
		out = append(out, fmt.Sprintf("%d:%d", m.SeqNum, m.UID))
	}
	return strings.Join(out, " ")
}

// flagString joins flags with spaces, sorted, for comparison.
func flagString(flags []imap.Flag) string {
	s := make([]string, len(flags))
	for i, f := range flags {
		s[i] = string(f)
	}
	slices.Sort(s)
	return strings.Join(s, " ")
}

// imapCode returns the status and response code of an imapclient error
// ("" when err is not a status response).
func imapCode(err error) (imap.StatusResponseType, imap.ResponseCode) {
	var ierr *imap.Error
	if errors.As(err, &ierr) {
		return ierr.Type, ierr.Code
	}
	return "", ""
}

// wantErr fails unless err is a status response of the given type and code.
func wantErr(t testing.TB, err error, typ imap.StatusResponseType, code imap.ResponseCode) {
	t.Helper()
	gt, gc := imapCode(err)
	if gt != typ || gc != code {
		t.Fatalf("got error %v, want %s [%s]", err, typ, code)
	}
}

// login logs a raw connection in as user.
func (rc *rawConn) login(user string) {
	rc.t.Helper()
	rc.ok("L", `LOGIN `+user+`@example.org "`+testPassword+`"`)
}

// ok runs a command and fails unless its tagged response is OK; it returns
// the untagged responses.
func (rc *rawConn) ok(tag, command string) []string {
	rc.t.Helper()
	lines := rc.cmd(tag, command)
	last := lines[len(lines)-1]
	if !strings.HasPrefix(last, tag+" OK") {
		rc.t.Fatalf("%s: %q (all: %q)", command, last, lines)
	}
	return lines[:len(lines)-1]
}

// want runs a command and returns all its response lines, failing unless
// the tagged one starts with tag+" "+prefix.
func (rc *rawConn) want(tag, command, prefix string) []string {
	rc.t.Helper()
	lines := rc.cmd(tag, command)
	last := lines[len(lines)-1]
	if !strings.HasPrefix(last, tag+" "+prefix) {
		rc.t.Fatalf("%s: got %q, want prefix %q (all: %q)", command, last, tag+" "+prefix, lines)
	}
	return lines
}

// eof waits for the server to close the connection, failing if anything
// but the end comes.
func (rc *rawConn) eof() {
	rc.t.Helper()
	rc.conn.SetReadDeadline(time.Now().Add(waitTimeout))
	var b [512]byte
	n, err := rc.conn.Read(b[:])
	if err == nil || n > 0 {
		rc.t.Fatalf("connection still open, read %q", b[:n])
	}
}

// sameLines fails unless got and want hold the same lines, in order.
func sameLines(t testing.TB, what string, got, want []string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Fatalf("%s:\ngot  %q\nwant %q", what, got, want)
	}
}

var modseqRe = regexp.MustCompile(`MODSEQ \((\d+)\)`)

// modseqOf returns the MODSEQ in a FETCH response line.
func modseqOf(t testing.TB, line string) uint64 {
	t.Helper()
	m := modseqRe.FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("no MODSEQ in %q", line)
	}
	n, _ := strconv.ParseUint(m[1], 10, 64)
	return n
}

var codeNumRe = regexp.MustCompile(`\[(HIGHESTMODSEQ|UIDVALIDITY|UIDNEXT) (\d+)\]`)

// codeNum returns the number of a response code like [HIGHESTMODSEQ n]
// among lines.
func codeNum(t testing.TB, lines []string, code string) uint64 {
	t.Helper()
	for _, l := range lines {
		if m := codeNumRe.FindStringSubmatch(l); m != nil && m[1] == code {
			n, _ := strconv.ParseUint(m[2], 10, 64)
			return n
		}
	}
	t.Fatalf("no [%s] in %q", code, lines)
	return 0
}

// untagged returns the lines starting with "* " and containing word.
func untagged(lines []string, word string) []string {
	var out []string
	for _, l := range lines {
		if strings.HasPrefix(l, "* ") && strings.Contains(l, word) {
			out = append(out, l)
		}
	}
	return out
}

// recv waits for a value on ch.
func recv[T any](t testing.TB, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(waitTimeout):
		t.Fatalf("timed out waiting for %s", what)
	}
	var zero T
	return zero
}
