package tests

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/petrelmail/petrel/internal/store"
)

// snapshot is what a refused delivery must leave unchanged.
type snapshot struct {
	blobs  map[string]string // body files
	tmp    int               // files in blobs/tmp
	inbox  map[string]int64  // INBOX message count per account
	maxUID map[string]uint32 // highest INBOX UID per account
	heads  []int64           // change log head per shard
	shard  map[string]int    // shard of each account
}

// takeSnapshot reads a data folder, alongside the running server as the
// admin commands do.
func takeSnapshot(t testing.TB, dataDir string, users []string) snapshot {
	t.Helper()
	ctx := context.Background()
	data := openData(t, dataDir)
	defer data.Close()
	s := snapshot{blobs: blobFiles(t, dataDir), inbox: map[string]int64{}, maxUID: map[string]uint32{}, shard: map[string]int{}}
	tmp, err := os.ReadDir(filepath.Join(dataDir, "blobs", "tmp"))
	if err != nil {
		t.Fatal(err)
	}
	s.tmp = len(tmp)
	for _, u := range users {
		f, msgs, mb := inboxMessages(t, data, u)
		s.inbox[u] = int64(len(msgs))
		if f.Messages != int64(len(msgs)) {
			t.Errorf("%s: INBOX counts %d messages but lists %d", u, f.Messages, len(msgs))
		}
		if len(msgs) > 0 {
			s.maxUID[u] = msgs[len(msgs)-1].UID
		}
		s.shard[u] = mb.Shard().Index
	}
	for _, sh := range data.Store.Shards() {
		h, err := sh.Head(ctx)
		if err != nil {
			t.Fatal(err)
		}
		s.heads = append(s.heads, h)
	}
	return s
}

// expectDelta checks that between before and after exactly the given
// accounts got one message each (one change log entry each on their
// shard) and newBodies body files appeared, and nothing else changed.
func expectDelta(t testing.TB, before, after snapshot, newBodies int, delivered ...string) {
	t.Helper()
	if got := len(after.blobs) - len(before.blobs); got != newBodies {
		t.Errorf("body files: %d -> %d, want %+d", len(before.blobs), len(after.blobs), newBodies)
	}
	for name := range before.blobs {
		if _, ok := after.blobs[name]; !ok {
			t.Errorf("body file %s disappeared", name)
		}
	}
	if after.tmp != before.tmp {
		t.Errorf("blobs/tmp: %d -> %d files (a refused reception left its spool file)", before.tmp, after.tmp)
	}
	wantHeads := append([]int64(nil), before.heads...)
	for u, n := range before.inbox {
		want := n
		if contains(delivered, u) {
			want++
			wantHeads[before.shard[u]]++
		}
		if after.inbox[u] != want {
			t.Errorf("%s: INBOX %d -> %d messages, want %d", u, n, after.inbox[u], want)
		}
	}
	for i := range wantHeads {
		if after.heads[i] != wantHeads[i] {
			t.Errorf("shard %d: change log head %d -> %d, want %d", i, before.heads[i], after.heads[i], wantHeads[i])
		}
	}
}

// storedSince returns the body of the one message of user's INBOX with a
// UID above the snapshot's.
func storedSince(t testing.TB, dataDir string, before snapshot, user string) []byte {
	t.Helper()
	data := openData(t, dataDir)
	defer data.Close()
	_, msgs, _ := inboxMessages(t, data, user)
	var found []store.Message
	for _, m := range msgs {
		if m.UID > before.maxUID[user] {
			found = append(found, m)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%s: %d new messages, want 1", user, len(found))
	}
	b, err := readBody(data.Store, found[0].Body)
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(b)) != found[0].Size {
		t.Errorf("%s: recorded size %d, body %d bytes", user, found[0].Size, len(b))
	}
	return b
}

// rawLMTPDeliver speaks LMTP by hand, to send bytes exactly as given: the
// go-smtp client's DATA writer (net/textproto.DotWriter) turns bare LF into
// CRLF. Only the dot-stuffing of RFC 5321 section 4.5.2 is applied, to
// lines that start after a CRLF. msg must end with CRLF.
func rawLMTPDeliver(t testing.TB, addr string, rcpts []string, msg []byte) []Reply {
	t.Helper()
	if !bytes.HasSuffix(msg, []byte("\r\n")) {
		t.Fatal("rawLMTPDeliver: message must end with CRLF")
	}
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(60 * time.Second))
	r := bufio.NewReader(conn)
	readReply := func() Reply {
		t.Helper()
		var rep Reply
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				t.Fatalf("reading reply: %v", err)
			}
			line = strings.TrimRight(line, "\r\n")
			if len(line) < 4 {
				t.Fatalf("bad reply line %q", line)
			}
			fmt.Sscanf(line[:3], "%d", &rep.Code)
			rep.Text = line[4:]
			if line[3] == ' ' {
				var a, b, c int
				if n, _ := fmt.Sscanf(rep.Text, "%d.%d.%d", &a, &b, &c); n == 3 {
					rep.Enhanced = [3]int{a, b, c}
				}
				return rep
			}
		}
	}
	send := func(s string) {
		t.Helper()
		if _, err := conn.Write([]byte(s)); err != nil {
			t.Fatal(err)
		}
	}
	expect := func(code int, what string) {
		t.Helper()
		if rep := readReply(); rep.Code != code {
			t.Fatalf("%s: got %v, want %d", what, rep, code)
		}
	}
	expect(220, "greeting")
	send("LHLO e2e.test\r\n")
	expect(250, "LHLO")
	send("MAIL FROM:<raw@example.net>\r\n")
	expect(250, "MAIL")
	for _, rc := range rcpts {
		send("RCPT TO:<" + rc + ">\r\n")
		expect(250, "RCPT "+rc)
	}
	send("DATA\r\n")
	expect(354, "DATA")
	var stuffed bytes.Buffer
	for i := 0; i < len(msg); i++ {
		if msg[i] == '.' && (i == 0 || (i >= 2 && msg[i-1] == '\n' && msg[i-2] == '\r')) {
			stuffed.WriteByte('.')
		}
		stuffed.WriteByte(msg[i])
	}
	stuffed.WriteString(".\r\n")
	send(stuffed.String())
	var out []Reply
	for range rcpts {
		out = append(out, readReply())
	}
	send("QUIT\r\n")
	return out
}

// TestBadInput sends refused and odd messages to the real server over LMTP
// and checks both the exact reply and that a refusal leaves nothing behind
// (body files, spool files, INBOX counts, change log heads), while odd but
// acceptable messages are stored byte for byte.
func TestBadInput(t *testing.T) {
	const domain = "bad.test"
	alice, bob, carol := "alice@"+domain, "bob@"+domain, "carol@"+domain
	users := []string{alice, bob, carol}
	dataDir := t.TempDir()
	setupUsers(t, dataDir, domain, alice, bob)
	mustPetrel(t, nil, "user", "add", carol, "--quota", "10K", "--data", dataDir)

	srv := NewServer(t, dataDir)
	srv.MustStart()

	small := func(subject string) []byte {
		return []byte(fmt.Sprintf("From: x@example.net\r\nSubject: %s\r\nMessage-ID: <%d@bad.test>\r\n\r\nHello.\r\n", subject, time.Now().UnixNano()))
	}

	t.Run("UnknownRecipient", func(t *testing.T) {
		before := takeSnapshot(t, dataDir, users)
		replies, err := lmtpSend(srv.LMTPAddr, "x@example.net", []string{"nobody@" + domain, alice}, small("unknown"))
		expectReplies(t, replies, err, map[string]string{"nobody@" + domain: "550 5.1.1", alice: "250 2.0.0"})
		expectDelta(t, before, takeSnapshot(t, dataDir, users), 1, alice)
	})

	t.Run("UnknownDomain", func(t *testing.T) {
		before := takeSnapshot(t, dataDir, users)
		replies, err := lmtpSend(srv.LMTPAddr, "x@example.net", []string{"alice@elsewhere.test"}, small("unknown domain"))
		expectReplies(t, replies, err, map[string]string{"alice@elsewhere.test": "550 5.1.1"})
		expectDelta(t, before, takeSnapshot(t, dataDir, users), 0)
	})

	over := append([]byte("From: x@example.net\r\nSubject: over quota\r\n\r\n"), bytes.Repeat([]byte("0123456789012345678901234567890123456789012345678901234567890123456789012345\r\n"), 20*1024/78)...)
	t.Run("OverQuota", func(t *testing.T) {
		before := takeSnapshot(t, dataDir, users)
		replies, err := lmtpSend(srv.LMTPAddr, "x@example.net", []string{carol, bob}, over)
		expectReplies(t, replies, err, map[string]string{carol: "552 5.2.2", bob: "250 2.0.0"})
		expectDelta(t, before, takeSnapshot(t, dataDir, users), 1, bob)
	})

	t.Run("OverQuotaOnly", func(t *testing.T) {
		before := takeSnapshot(t, dataDir, users)
		msg := append([]byte("X-Variant: alone\r\n"), over...)
		replies, err := lmtpSend(srv.LMTPAddr, "x@example.net", []string{carol}, msg)
		expectReplies(t, replies, err, map[string]string{carol: "552 5.2.2"})
		expectDelta(t, before, takeSnapshot(t, dataDir, users), 0)
	})

	t.Run("HugeSingleLine", func(t *testing.T) {
		before := takeSnapshot(t, dataDir, users)
		msg := make([]byte, 0, 100<<20+64)
		msg = append(msg, "Subject: one line of 100 MB\r\n\r\n"...)
		msg = append(msg, bytes.Repeat([]byte("x"), 100<<20)...)
		msg = append(msg, "\r\n"...)
		replies, err := lmtpSend(srv.LMTPAddr, "x@example.net", []string{alice}, msg)
		expectReplies(t, replies, err, map[string]string{alice: "552 5.3.4"})
		expectDelta(t, before, takeSnapshot(t, dataDir, users), 0)

		// The server keeps serving.
		before = takeSnapshot(t, dataDir, users)
		replies, err = lmtpSend(srv.LMTPAddr, "x@example.net", []string{alice}, small("after the huge line"))
		expectReplies(t, replies, err, map[string]string{alice: "250 2.0.0"})
		expectDelta(t, before, takeSnapshot(t, dataDir, users), 1, alice)
	})

	// Malformed but acceptable: stored byte for byte.
	var headers10k bytes.Buffer
	headers10k.WriteString("From: many@example.net\r\nSubject: ten thousand header lines\r\n")
	for i := 0; i < 10000; i++ {
		fmt.Fprintf(&headers10k, "X-Line-%05d: header line number %d\r\n", i, i)
	}
	headers10k.WriteString("\r\nBody after 10,000 header lines.\r\n")
	oddities := []struct {
		name string
		msg  []byte
		raw  bool // send by hand, bytes as they are
	}{
		{"NoHeaderBodySeparator", []byte("From: sep@example.net\r\nSubject: no blank line after the header\r\nX-Last: header\r\n"), false},
		{"NoHeaderAtAll", []byte("This is not a header line, just text\r\n.leading dot\r\n..two dots\r\nand more text\r\n"), false},
		{"NULBytes", []byte("From: nul@example.net\r\nSubject: NUL\x00 in the subject\r\n\r\nNUL \x00 in the body\x00\r\n\x00\x00\x00\r\n"), false},
		{"BareLF", []byte("From: lf@example.net\nSubject: bare LF line ends\nX-Mixed: crlf next\r\n\nBody line one\nBody line two\r\nlast line\n\r\n"), true},
		{"EightBitHeader", []byte("From: J\xc3\xbcrgen M\xfcller <jm@example.net>\r\nSubject: Caf\xe9 cr\xc3\xa8me \xff\xfe 8-bit, no charset\r\nX-Raw: \x80\x81\x82\r\n\r\nK\xf6rper \xc3\xa4\r\n"), false},
		{"TenThousandHeaderLines", headers10k.Bytes(), false},
	}
	for _, o := range oddities {
		t.Run(o.name, func(t *testing.T) {
			before := takeSnapshot(t, dataDir, users)
			if o.raw {
				replies := rawLMTPDeliver(t, srv.LMTPAddr, []string{alice}, o.msg)
				if len(replies) != 1 || replies[0].Code != 250 {
					t.Fatalf("got %v, want 250", replies)
				}
			} else {
				replies, err := lmtpSend(srv.LMTPAddr, "x@example.net", []string{alice}, o.msg)
				expectReplies(t, replies, err, map[string]string{alice: "250 2.0.0"})
			}
			after := takeSnapshot(t, dataDir, users)
			expectDelta(t, before, after, 1, alice)
			got := storedSince(t, dataDir, before, alice)
			if !bytes.Equal(got, o.msg) {
				t.Errorf("stored %d bytes differ from the %d sent:\n got %q\nwant %q", len(got), len(o.msg), head(got), head(o.msg))
			}
		})
	}

	// A 1 MB limit (config file).
	srv.Stop()
	srv.Config = writeConfig(t, t.TempDir(), "small.toml", "max_message_size = \"1M\"\n")
	srv.MustStart()
	t.Run("Oversized", func(t *testing.T) {
		before := takeSnapshot(t, dataDir, users)
		msg := append([]byte("Subject: two megabytes\r\n\r\n"), bytes.Repeat([]byte(strings.Repeat("y", 98)+"\r\n"), 2<<20/100)...)
		replies, err := lmtpSend(srv.LMTPAddr, "x@example.net", []string{alice, bob}, msg)
		expectReplies(t, replies, err, map[string]string{alice: "552 5.3.4", bob: "552 5.3.4"})
		expectDelta(t, before, takeSnapshot(t, dataDir, users), 0)
	})
	t.Run("DeclaredSizeTooLarge", func(t *testing.T) {
		// RFC 1870: a SIZE over the limit is refused at MAIL.
		c, err := dialLMTP(srv.LMTPAddr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		err = c.Mail("x@example.net", &smtp.MailOptions{Size: 2 << 20})
		r, ok := replyOf(err)
		if !ok || r.Code != 552 || r.Enhanced != (smtp.EnhancedCode{5, 3, 4}) {
			t.Errorf("MAIL with SIZE=2M: got %v (%v), want 552 5.3.4", r, err)
		}
	})
	t.Run("ExactlyAtLimit", func(t *testing.T) {
		// "max_message_size: the largest message accepted": 1 MiB is.
		before := takeSnapshot(t, dataDir, users)
		msg := append([]byte("Subject: exactly one mebibyte\r\n\r\n"), bytes.Repeat([]byte(strings.Repeat("z", 98)+"\r\n"), 1<<20/100)...)
		msg = append(msg, bytes.Repeat([]byte("z"), 1<<20-len(msg)-2)...)
		msg = append(msg, "\r\n"...)
		if len(msg) != 1<<20 {
			t.Fatalf("test message is %d bytes", len(msg))
		}
		replies, err := lmtpSend(srv.LMTPAddr, "x@example.net", []string{alice}, msg)
		expectReplies(t, replies, err, map[string]string{alice: "250 2.0.0"})
		if replies[alice].OK() {
			expectDelta(t, before, takeSnapshot(t, dataDir, users), 1, alice)
		}
	})

	// A disk reserve no disk has (config file).
	srv.Stop()
	srv.Config = writeConfig(t, t.TempDir(), "reserve.toml", "disk_reserve = \"1000T\"\n")
	srv.MustStart()
	t.Run("DiskReserve", func(t *testing.T) {
		before := takeSnapshot(t, dataDir, users)
		replies, err := lmtpSend(srv.LMTPAddr, "x@example.net", []string{alice, bob}, small("disk reserve"))
		expectReplies(t, replies, err, map[string]string{alice: "452 4.3.1", bob: "452 4.3.1"})
		expectDelta(t, before, takeSnapshot(t, dataDir, users), 0)
	})
	srv.Stop()
}

// head shortens a message for an error report.
func head(b []byte) []byte {
	if len(b) > 300 {
		return b[:300]
	}
	return b
}
