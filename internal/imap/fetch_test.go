package imap_test

import (
	"encoding/base64"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
)

// binaryBlob is 0..255: NUL and every other octet.
var binaryBlob = func() []byte {
	b := make([]byte, 256)
	for i := range b {
		b[i] = byte(i)
	}
	return b
}()

const base64Text = "Hello, binary world!\r\nSecond line.\r\n"

// mimeMessage is a multipart message: a base64 text part, a
// quoted-printable part, and a base64 attachment with every octet value.
func mimeMessage() string {
	return "From: Carol <carol@example.net>\r\n" +
		"To: Alice <alice@example.org>, dave@example.com\r\n" +
		"Cc: Eve <eve@example.com>\r\n" +
		"Subject: Binary parts\r\n" +
		"Date: Fri, 27 Nov 2026 09:30:00 +0100\r\n" +
		"Message-ID: <binary.parts@example.net>\r\n" +
		"MIME-Version: 1.0\r\n" +
		"Content-Type: multipart/mixed; boundary=\"XYZ\"\r\n" +
		"\r\n" +
		"preamble\r\n" +
		"--XYZ\r\n" +
		"Content-Type: text/plain; charset=utf-8\r\n" +
		"Content-Transfer-Encoding: base64\r\n" +
		"\r\n" +
		base64.StdEncoding.EncodeToString([]byte(base64Text)) + "\r\n" +
		"--XYZ\r\n" +
		"Content-Type: text/plain; charset=utf-8\r\n" +
		"Content-Transfer-Encoding: quoted-printable\r\n" +
		"\r\n" +
		"caf=C3=A9 cr=C3=A8me\r\n" +
		"--XYZ\r\n" +
		"Content-Type: application/octet-stream; name=\"blob.bin\"\r\n" +
		"Content-Disposition: attachment; filename=\"blob.bin\"\r\n" +
		"Content-Transfer-Encoding: base64\r\n" +
		"\r\n" +
		base64.StdEncoding.EncodeToString(binaryBlob) + "\r\n" +
		"--XYZ--\r\n"
}

func TestFetchItems(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, 0, "alice")
	c := ts.login(t, "alice", nil)
	msg := mimeMessage()
	date := time.Date(2026, 11, 20, 8, 15, 42, 0, time.FixedZone("", -5*3600))
	cmd := c.Append("INBOX", int64(len(msg)), &imap.AppendOptions{Flags: []imap.Flag{"$Important"}, Time: date})
	cmd.Write([]byte(msg))
	cmd.Close()
	if _, err := waitAppend(t, cmd); err != nil {
		t.Fatal(err)
	}
	plain := testMessage("plain")
	appendMsg(t, c, "INBOX", plain)
	mustSelect(t, c, "INBOX")

	header := msg[:strings.Index(msg, "\r\n\r\n")+4]
	sections := []*imap.FetchItemBodySection{
		{Peek: true},
		{Peek: true, Specifier: imap.PartSpecifierHeader},
		{Peek: true, Specifier: imap.PartSpecifierText},
		{Peek: true, Part: []int{2}},
		{Peek: true, Part: []int{3}, Specifier: imap.PartSpecifierMIME},
		{Peek: true, Specifier: imap.PartSpecifierHeader, HeaderFields: []string{"Subject", "cc"}},
		{Peek: true, Specifier: imap.PartSpecifierHeader, HeaderFieldsNot: []string{"Subject", "Cc", "To", "From", "Date", "Message-ID", "MIME-Version"}},
		{Peek: true, Partial: &imap.SectionPartial{Offset: 6, Size: 5}},
	}
	msgs, err := c.Fetch(imap.SeqSetNum(1), &imap.FetchOptions{
		UID: true, Flags: true, InternalDate: true, RFC822Size: true, Envelope: true,
		BodyStructure: &imap.FetchItemBodyStructure{Extended: true}, BodySection: sections,
		BinarySection:     []*imap.FetchItemBinarySection{{Part: []int{1}, Peek: true}, {Part: []int{3}, Peek: true}, {Part: []int{2}, Peek: true}},
		BinarySectionSize: []*imap.FetchItemBinarySectionSize{{Part: []int{1}}, {Part: []int{3}}},
	}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 1 {
		t.Fatalf("%d messages", len(msgs))
	}
	m := msgs[0]
	if m.UID != 1 || flagString(m.Flags) != "$Important" || m.RFC822Size != int64(len(msg)) || !m.InternalDate.Equal(date) {
		t.Fatalf("UID %d flags %v size %d date %v", m.UID, m.Flags, m.RFC822Size, m.InternalDate)
	}
	env := m.Envelope
	if env.Subject != "Binary parts" || env.MessageID != "binary.parts@example.net" ||
		!env.Date.Equal(time.Date(2026, 11, 27, 8, 30, 0, 0, time.UTC)) ||
		len(env.From) != 1 || env.From[0].Name != "Carol" || env.From[0].Addr() != "carol@example.net" ||
		len(env.Sender) != 1 || env.Sender[0].Addr() != "carol@example.net" ||
		len(env.To) != 2 || env.To[0].Addr() != "alice@example.org" || env.To[1].Addr() != "dave@example.com" ||
		len(env.Cc) != 1 || env.Cc[0].Addr() != "eve@example.com" || len(env.Bcc) != 0 {
		t.Fatalf("ENVELOPE %+v", env)
	}
	mp, ok := m.BodyStructure.(*imap.BodyStructureMultiPart)
	if !ok || !strings.EqualFold(mp.Subtype, "mixed") || len(mp.Children) != 3 || mp.Extended == nil || mp.Extended.Params["boundary"] != "XYZ" {
		t.Fatalf("BODYSTRUCTURE %#v", m.BodyStructure)
	}
	var parts []string
	for _, ch := range mp.Children {
		p := ch.(*imap.BodyStructureSinglePart)
		parts = append(parts, fmt.Sprintf("%s %s %s", p.MediaType(), strings.ToLower(p.Encoding), p.Filename()))
	}
	sameLines(t, "parts", parts, []string{"text/plain base64 ", "text/plain quoted-printable ", "application/octet-stream base64 blob.bin"})
	if p := mp.Children[2].(*imap.BodyStructureSinglePart); p.Size != uint32(len(base64.StdEncoding.EncodeToString(binaryBlob))) {
		// The CRLF before a boundary belongs to the boundary (RFC 2046
		// section 5.1.1).
		t.Fatalf("part 3 size %d", p.Size)
	}

	want := []string{
		msg,
		header,
		msg[len(header):],
		"caf=C3=A9 cr=C3=A8me",
		"Content-Type: application/octet-stream; name=\"blob.bin\"\r\nContent-Disposition: attachment; filename=\"blob.bin\"\r\nContent-Transfer-Encoding: base64\r\n\r\n",
		"Cc: Eve <eve@example.com>\r\nSubject: Binary parts\r\n\r\n", // in message order
		"Content-Type: multipart/mixed; boundary=\"XYZ\"\r\n\r\n",
		msg[6:11],
	}
	for i, s := range sections {
		if got := string(m.FindBodySection(s)); got != want[i] {
			t.Errorf("section %d: got %q, want %q", i, got, want[i])
		}
	}
	// BINARY (RFC 3516): transfer encoding undone; the attachment holds
	// NUL, so it comes as literal8.
	if got := string(m.FindBinarySection(&imap.FetchItemBinarySection{Part: []int{1}})); got != base64Text {
		t.Errorf("BINARY[1] %q", got)
	}
	if got := m.FindBinarySection(&imap.FetchItemBinarySection{Part: []int{3}}); !slices.Equal(got, binaryBlob) {
		t.Errorf("BINARY[3] %q", got)
	}
	if got := string(m.FindBinarySection(&imap.FetchItemBinarySection{Part: []int{2}})); got != "café crème" {
		t.Errorf("BINARY[2] %q", got)
	}
	var sizes []string
	for _, s := range m.BinarySectionSize {
		sizes = append(sizes, fmt.Sprintf("%v=%d", s.Part, s.Size))
	}
	sameLines(t, "BINARY.SIZE", sizes, []string{fmt.Sprintf("[1]=%d", len(base64Text)), "[3]=256"})

	// Raw, for the exact responses.
	rc := ts.raw(t)
	rc.login("alice")
	rc.ok("a", "SELECT INBOX")
	sameLines(t, "BINARY.SIZE raw", rc.cmd("b", "FETCH 1 (BINARY.SIZE[3] BINARY.SIZE[1])"), []string{
		fmt.Sprintf("* 1 FETCH (BINARY.SIZE[3] 256 BINARY.SIZE[1] %d)", len(base64Text)), "b OK FETCH completed",
	})
	lines := rc.cmd("c", "FETCH 1 BINARY.PEEK[3]<250.100>")
	if lines[0] != "* 1 FETCH (BINARY[3]<250> ~{6}" {
		t.Fatalf("partial BINARY: %q", lines)
	}
	rc.want("d", "FETCH 1 BINARY.PEEK[9]", "NO")
	sameLines(t, "BINARY of the whole message", rc.cmd("e", "FETCH 2 BINARY.SIZE[]"), []string{
		fmt.Sprintf("* 2 FETCH (BINARY.SIZE[] %d)", len(plain)), "e OK FETCH completed",
	})
	sameLines(t, "missing part", rc.cmd("f", "FETCH 1 BODY.PEEK[7]"), []string{"* 1 FETCH (BODY[7] NIL)", "f OK FETCH completed"})
	sameLines(t, "FAST", rc.cmd("g", "FETCH 2 FAST"), []string{
		fmt.Sprintf(`* 2 FETCH (FLAGS () INTERNALDATE %s RFC822.SIZE %d)`, internalDate(t, rc, 2), len(plain)), "g OK FETCH completed",
	})
	sameLines(t, "RFC822.HEADER", rc.cmd("h", "FETCH 2 (RFC822.SIZE RFC822.HEADER)"), append(append(
		[]string{fmt.Sprintf("* 2 FETCH (RFC822.SIZE %d RFC822.HEADER {%d}", len(plain), strings.Index(plain, "\r\n\r\n")+4)},
		strings.Split(plain[:strings.Index(plain, "\r\n\r\n")+2], "\r\n")...), ")", "h OK FETCH completed"))
	// No body item was fetched without PEEK yet: both still unseen.
	sameLines(t, "still unseen", rc.cmd("i", "FETCH 1:2 FLAGS"), []string{
		"* 1 FETCH (FLAGS ($Important))", "* 2 FETCH (FLAGS ())", "i OK FETCH completed",
	})
	// BODY[TEXT] without PEEK sets \Seen and reports FLAGS (RFC 9051
	// section 6.4.5); a second fetch does not repeat them.
	text := plain[strings.Index(plain, "\r\n\r\n")+4:]
	sameLines(t, "BODY[TEXT]", rc.cmd("j", "FETCH 2 BODY[TEXT]"), []string{
		fmt.Sprintf("* 2 FETCH (BODY[TEXT] {%d}", len(text)), strings.TrimSuffix(text, "\r\n"), ` FLAGS (\Seen))`, "j OK FETCH completed",
	})
	sameLines(t, "BODY[TEXT] again", rc.cmd("k", "FETCH 2 BODY[TEXT]"), []string{
		fmt.Sprintf("* 2 FETCH (BODY[TEXT] {%d}", len(text)), strings.TrimSuffix(text, "\r\n"), `)`, "k OK FETCH completed",
	})
	sameLines(t, "BINARY sets Seen", rc.cmd("l", "FETCH 1 (FLAGS BINARY[1])"), []string{
		fmt.Sprintf("* 1 FETCH (FLAGS (\\Seen $Important) BINARY[1] {%d}", len(base64Text)), "Hello, binary world!", "Second line.", ")", "l OK FETCH completed",
	})
	rc.want("m", "FETCH 3 FLAGS", "BAD")
	rc.want("n", "FETCH 1 (FLAGS BOGUS)", "BAD")
	rc.want("o", "FETCH 0 FLAGS", "BAD")
	sameLines(t, "UID FETCH of missing UIDs", rc.cmd("p", "UID FETCH 3:100 FLAGS"), []string{"p OK UID FETCH completed"})
	sameLines(t, "UID FETCH *", rc.cmd("q", "UID FETCH 100:* UID"), []string{"* 2 FETCH (UID 2)", "q OK UID FETCH completed"})
}

// internalDate fetches a message's INTERNALDATE as sent.
func internalDate(t testing.TB, rc *rawConn, seq int) string {
	t.Helper()
	lines := rc.ok("x", fmt.Sprintf("FETCH %d INTERNALDATE", seq))
	l := lines[0]
	i := strings.Index(l, "INTERNALDATE ")
	return strings.TrimSuffix(l[i+len("INTERNALDATE "):], ")")
}

func TestFetchObjectIDsAndMore(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, 0, "alice")
	c := ts.login(t, "alice", nil)
	appendMsg(t, c, "INBOX", testMessage("ids one"))
	appendMsg(t, c, "INBOX", testMessage("ids two"))
	rc := ts.raw(t)
	rc.login("alice")
	rc.ok("a", "SELECT INBOX")
	lines := rc.ok("b", "FETCH 1:2 (EMAILID THREADID SAVEDATE PREVIEW)")
	if len(lines) != 2 {
		t.Fatalf("%q", lines)
	}
	var ids []string
	for i, l := range lines {
		var id string
		if _, err := fmt.Sscanf(l[strings.Index(l, "EMAILID ("):], "EMAILID (%25s)", &id); err != nil {
			t.Fatalf("%q: %v", l, err)
		}
		ids = append(ids, id)
		if !strings.HasPrefix(l, fmt.Sprintf("* %d FETCH (EMAILID (%s) THREADID NIL SAVEDATE \"", i+1, id)) ||
			!strings.HasSuffix(l, fmt.Sprintf(`PREVIEW "Hello, this is ids %s.")`, []string{"one", "two"}[i])) {
			t.Fatalf("line %q", l)
		}
	}
	if ids[0] == ids[1] {
		t.Fatalf("two messages, one EMAILID %s", ids[0])
	}
	// The EMAILID and THREADID search keys (RFC 8474 section 6).
	sameLines(t, "SEARCH EMAILID", rc.cmd("f", "SEARCH EMAILID "+ids[1]), []string{"* SEARCH 2", "f OK SEARCH completed"})
	sameLines(t, "SEARCH THREADID", rc.cmd("g", "SEARCH THREADID T123"), []string{"* SEARCH", "g OK SEARCH completed"})
	// SAVEDATE search keys (RFC 8514 section 4.3): saved just now.
	sameLines(t, "SAVEDSINCE", rc.cmd("h", "SEARCH SAVEDSINCE 1-Jan-2020"), []string{"* SEARCH 1 2", "h OK SEARCH completed"})
	sameLines(t, "SAVEDBEFORE", rc.cmd("i", "SEARCH SAVEDBEFORE 1-Jan-2020"), []string{"* SEARCH", "i OK SEARCH completed"})
	sameLines(t, "SAVEDATESUPPORTED", rc.cmd("j", "SEARCH SAVEDATESUPPORTED"), []string{"* SEARCH 1 2", "j OK SEARCH completed"})
	// MODSEQ is per message and rises with each change.
	m1 := modseqOf(t, rc.ok("c", "FETCH 1 MODSEQ")[0])
	rc.ok("d", `STORE 1 +FLAGS.SILENT (\Flagged)`)
	m2 := modseqOf(t, rc.ok("e", "FETCH 1 MODSEQ")[0])
	if m2 <= m1 {
		t.Fatalf("MODSEQ %d then %d", m1, m2)
	}
}

// TestFetchLarge checks a message far larger than the server's response
// buffer (it is streamed from the file) byte for byte, pipelined with
// other commands.
func TestFetchLarge(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, 0, "alice")
	var b strings.Builder
	b.WriteString(testMessage("large"))
	for i := 0; b.Len() < 3<<20; i++ {
		fmt.Fprintf(&b, "line %07d of a long message, to cross every buffer the server has\r\n", i)
	}
	big := b.String()
	ts.deliver(t, "alice", big)
	ts.deliver(t, "alice", testMessage("small after large"))
	c := ts.login(t, "alice", nil)
	mustSelect(t, c, "INBOX")
	bs := &imap.FetchItemBodySection{Peek: true}
	msgs, err := c.Fetch(imap.SeqSetNum(1, 2), &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{bs}, RFC822Size: true}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 2 || string(msgs[0].FindBodySection(bs)) != big || msgs[0].RFC822Size != int64(len(big)) ||
		string(msgs[1].FindBodySection(bs)) != testMessage("small after large") {
		t.Fatalf("large FETCH: %d messages", len(msgs))
	}
	// Partial of the middle of it.
	part := &imap.FetchItemBodySection{Peek: true, Partial: &imap.SectionPartial{Offset: 1 << 20, Size: 100000}}
	msgs, err = c.Fetch(imap.SeqSetNum(1), &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{part}}).Collect()
	if err != nil || string(msgs[0].FindBodySection(part)) != big[1<<20:1<<20+100000] {
		t.Fatalf("partial: %v", err)
	}
}
