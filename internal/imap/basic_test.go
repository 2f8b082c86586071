package imap_test

import (
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"
)

// TestAppendFetchOverSocket is the smallest round trip: APPEND a message
// with imapclient, then FETCH it back byte for byte with its flags.
func TestAppendFetchOverSocket(t *testing.T) {
	ts := newTestServer(t, 0, "alice")
	c := ts.login(t, "alice", nil)
	msg := testMessage("round trip")
	cmd := c.Append("INBOX", int64(len(msg)), &imap.AppendOptions{Flags: []imap.Flag{imap.FlagSeen, "$Label1"}})
	cmd.Write([]byte(msg))
	cmd.Close()
	res, err := cmd.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if res.UID != 1 || res.UIDValidity == 0 {
		t.Fatalf("APPENDUID: %+v", res)
	}
	sel, err := c.Select("INBOX", nil).Wait()
	if err != nil {
		t.Fatal(err)
	}
	if sel.NumMessages != 1 || sel.UIDNext != 2 || sel.UIDValidity != res.UIDValidity {
		t.Fatalf("SELECT: %+v", sel)
	}
	bs := []*imap.FetchItemBodySection{{Peek: true}}
	msgs, err := c.Fetch(imap.SeqSetNum(1), &imap.FetchOptions{UID: true, Flags: true, Envelope: true, RFC822Size: true, BodySection: bs}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 1 {
		t.Fatalf("%d messages", len(msgs))
	}
	m := msgs[0]
	if got := string(m.FindBodySection(bs[0])); got != msg {
		t.Errorf("body %q, want %q", got, msg)
	}
	if m.Envelope.Subject != "round trip" || m.RFC822Size != int64(len(msg)) {
		t.Errorf("envelope %+v size %d", m.Envelope, m.RFC822Size)
	}
	flags := make([]string, len(m.Flags))
	for i, f := range m.Flags {
		flags[i] = string(f)
	}
	if strings.Join(flags, " ") != `\Seen $Label1` {
		t.Errorf("flags %v", flags)
	}
}
