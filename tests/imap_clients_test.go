package tests

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// imapUser is the account the client tests use.
const (
	imapUser     = "alice@example.com"
	imapPassword = "correct horse battery staple"
)

// startIMAPServer makes a data folder with imapUser and serves it.
func startIMAPServer(t *testing.T) *Server {
	t.Helper()
	dataDir := t.TempDir()
	mustPetrel(t, nil, "domain", "add", "example.com", "--data", dataDir)
	mustPetrel(t, nil, "user", "add", imapUser, "--password", imapPassword, "--data", dataDir)
	srv := NewServer(t, dataDir)
	srv.MustStart()
	if err := waitPort(srv.IMAPAddr, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	return srv
}

// needTool fails the test when a client program is missing: CI installs
// them (.ci/run), and a test that cannot run must not pass.
func needTool(t *testing.T, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		pkg := map[string]string{"mbsync": "isync", "python3": "python3", "curl": "curl"}[name]
		t.Fatalf("%s is not installed (apt-get install %s); .ci/run installs it", name, pkg)
	}
	return path
}

// goClient logs in with go-imap's client, to set up and check what the
// client under test did.
func goClient(t *testing.T, addr string) *imapclient.Client {
	t.Helper()
	c, err := imapclient.DialInsecure(addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Login(imapUser, imapPassword).Wait(); err != nil {
		t.Fatal(err)
	}
	return c
}

func appendMsg(t *testing.T, c *imapclient.Client, folder, msg string, flags ...imap.Flag) {
	t.Helper()
	cmd := c.Append(folder, int64(len(msg)), &imap.AppendOptions{Flags: flags})
	cmd.Write([]byte(msg))
	cmd.Close()
	if _, err := cmd.Wait(); err != nil {
		t.Fatalf("append to %s: %v", folder, err)
	}
}

func corpusMessage(folder string, i int) string {
	return fmt.Sprintf("From: Sender %d <sender%d@example.org>\r\nTo: %s\r\nSubject: %s message %d\r\n"+
		"Date: Sat, 28 Nov 2026 10:%02d:%02d +0000\r\nMessage-ID: <%s.%d@example.org>\r\n\r\nBody of message %d in %s.\r\n",
		i, i%17, imapUser, folder, i, i/60%60, i%60, strings.ReplaceAll(folder, "/", "."), i, i, folder)
}

// TestPythonImaplib drives the server with Python's standard imaplib: an
// independent client that many scripts and tools are built on.
func TestPythonImaplib(t *testing.T) {
	needTool(t, "python3")
	srv := startIMAPServer(t)
	c := goClient(t, srv.IMAPAddr)
	for i := 1; i <= 3; i++ {
		appendMsg(t, c, "INBOX", corpusMessage("INBOX", i))
	}
	host, port, _ := strings.Cut(srv.IMAPAddr, ":")
	script := `
import imaplib, sys
M = imaplib.IMAP4(sys.argv[1], int(sys.argv[2]))
def ok(r, what):
    typ, data = r
    if typ != 'OK':
        print('FAIL', what, typ, data); sys.exit(1)
    return data
ok(M.login(sys.argv[3], sys.argv[4]), 'login')
folders = ok(M.list(), 'list')
assert any(b'"INBOX"' in f or f.endswith(b' INBOX') for f in folders), folders
assert any(b'\\Sent' in f for f in folders), folders
ok(M.create('Work/Reports'), 'create')
n = ok(M.select('INBOX'), 'select')
assert n == [b'3'], n
data = ok(M.fetch('2', '(RFC822)'), 'fetch')
assert b'Subject: INBOX message 2' in data[0][1], data
flags = ok(M.fetch('2', '(FLAGS)'), 'flags')
assert b'\\Seen' in flags[0], flags
ok(M.store('1', '+FLAGS', '\\Flagged'), 'store')
found = ok(M.search(None, 'FLAGGED'), 'search')
assert found == [b'1'], found
found = ok(M.uid('SEARCH', None, 'SUBJECT', '"message 3"'), 'uid search')
assert found == [b'3'], found
copied = ok(M.copy('1:2', 'Work/Reports'), 'copy')
st = ok(M.status('Work/Reports', '(MESSAGES UIDNEXT)'), 'status')
assert b'MESSAGES 2' in st[0] and b'UIDNEXT 3' in st[0], st
ok(M.store('3', '+FLAGS', '\\Deleted'), 'delete')
gone = ok(M.expunge(), 'expunge')
assert gone == [b'3'], gone
ok(M.append('Work/Reports', '(\\Seen)', None, b'Subject: from python\r\n\r\nhi\r\n'), 'append')
ok(M.select('Work/Reports', readonly=True), 'examine')
subj = ok(M.fetch('3', '(BODY.PEEK[HEADER.FIELDS (SUBJECT)])'), 'header fields')
assert subj[0][1] == b'Subject: from python\r\n\r\n', subj
ok(M.close(), 'close')
M.logout()
print('PYTHON-OK')
`
	cmd := exec.Command("python3", "-c", script, host, port, imapUser, imapPassword)
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "PYTHON-OK") {
		t.Fatalf("python imaplib: %v\n%s", err, out)
	}
	// Check what the script did with the independent Go client.
	sel, err := c.Select("INBOX", nil).Wait()
	if err != nil {
		t.Fatal(err)
	}
	if sel.NumMessages != 2 {
		t.Errorf("INBOX has %d messages after the script's expunge, want 2", sel.NumMessages)
	}
	st, err := c.Status("Work/Reports", &imap.StatusOptions{NumMessages: true}).Wait()
	if err != nil || st.NumMessages == nil || *st.NumMessages != 3 {
		t.Errorf("Work/Reports: %+v, %v; want 3 messages", st, err)
	}
}

// TestCurlIMAP reads mail with curl's imap:// support (libcurl's IMAP
// client), plain and with STARTTLS.
func TestCurlIMAP(t *testing.T) {
	needTool(t, "curl")
	srv := startIMAPServer(t)
	c := goClient(t, srv.IMAPAddr)
	msg := corpusMessage("INBOX", 1)
	appendMsg(t, c, "INBOX", msg)
	appendMsg(t, c, "INBOX", corpusMessage("INBOX", 2))
	user := imapUser + ":" + imapPassword
	curl := func(args ...string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, "curl", append([]string{"-sS", "--user", user}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("curl %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	base := "imap://" + srv.IMAPAddr
	if got := curl(base + "/INBOX;UID=1"); got != msg {
		t.Errorf("curl fetched %q, want %q", got, msg)
	}
	if got := curl("--ssl-reqd", "-k", base+"/INBOX;UID=1"); got != msg {
		t.Errorf("curl over STARTTLS fetched %q, want %q", got, msg)
	}
	list := curl(base + "/")
	for _, want := range []string{`"/" INBOX`, `\Sent) "/" Sent`, `\Trash) "/" Trash`} {
		if !strings.Contains(list, want) {
			t.Errorf("curl listing lacks %q:\n%s", want, list)
		}
	}
	if got := curl(base+"/INBOX", "-X", "SEARCH SUBJECT \"message 2\""); strings.TrimSpace(got) != "* SEARCH 2" {
		t.Errorf("curl SEARCH: %q", got)
	}
	if got := curl(base+"/INBOX", "-X", "EXAMINE INBOX"); !strings.Contains(got, "* 2 EXISTS") {
		t.Errorf("curl EXAMINE: %q", got)
	}
}

// mbsyncLayout is the server side of the mbsync test: folders (nested, and
// a subfolder of INBOX) and how many messages each holds.
var mbsyncLayout = []struct {
	folder string
	count  int
}{
	{"INBOX", 450},
	{"INBOX/Receipts", 100},
	{"Projects", 100},
	{"Projects/Petrel", 250},
	{"Projects/Petrel/Design", 100},
	{"Archive", 50},
}

// flagsFor gives message i of a folder its server flags: a mix the
// Maildir side encodes in file names (S, F, R).
func flagsFor(i int) []imap.Flag {
	var f []imap.Flag
	if i%3 == 0 {
		f = append(f, imap.FlagSeen)
	}
	if i%7 == 0 {
		f = append(f, imap.FlagFlagged)
	}
	if i%11 == 0 {
		f = append(f, imap.FlagAnswered)
	}
	return f
}

// maildirCount counts a Maildir folder's messages and those whose file
// name carries flag letter.
func maildirCount(t *testing.T, dir string, letter byte) (total, flagged int) {
	t.Helper()
	for _, sub := range []string{"cur", "new"} {
		entries, err := os.ReadDir(filepath.Join(dir, sub))
		if err != nil {
			t.Fatalf("maildir %s: %v", dir, err)
		}
		for _, e := range entries {
			total++
			if _, info, ok := strings.Cut(e.Name(), ":2,"); ok && strings.IndexByte(info, letter) >= 0 {
				flagged++
			}
		}
	}
	return total, flagged
}

// snapshotMaildir lists every file of a Maildir tree (state files
// included), to see whether a sync changed anything.
func snapshotMaildir(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	filepath.Walk(root, func(path string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			b, _ := os.ReadFile(path)
			out = append(out, fmt.Sprintf("%s %d %x", strings.TrimPrefix(path, root), len(b), b[:min(len(b), 64)]))
		}
		return nil
	})
	sort.Strings(out)
	return out
}

// TestMbsyncTwoWay runs mbsync (isync), a real two-way sync tool, against
// 1,050 messages with flags in nested folders: a full first sync, changes
// on both sides synced both ways, then a sync that finds nothing to do.
func TestMbsyncTwoWay(t *testing.T) {
	needTool(t, "mbsync")
	srv := startIMAPServer(t)
	c := goClient(t, srv.IMAPAddr)
	for _, l := range mbsyncLayout {
		if l.folder != "INBOX" && l.folder != "Archive" {
			if err := c.Create(l.folder, nil).Wait(); err != nil {
				t.Fatalf("create %s: %v", l.folder, err)
			}
		}
	}
	// Fill the server over four connections (APPEND keeps each flag set).
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			wc, err := imapclient.DialInsecure(srv.IMAPAddr, nil)
			if err != nil {
				errs <- err
				return
			}
			defer wc.Close()
			if err := wc.Login(imapUser, imapPassword).Wait(); err != nil {
				errs <- err
				return
			}
			for _, l := range mbsyncLayout {
				for i := w; i < l.count; i += 4 {
					msg := corpusMessage(l.folder, i)
					cmd := wc.Append(l.folder, int64(len(msg)), &imap.AppendOptions{Flags: flagsFor(i)})
					cmd.Write([]byte(msg))
					cmd.Close()
					if _, err := cmd.Wait(); err != nil {
						errs <- fmt.Errorf("append %s %d: %w", l.folder, i, err)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	home := t.TempDir()
	mail := filepath.Join(home, "mail")
	if err := os.MkdirAll(mail, 0o700); err != nil {
		t.Fatal(err)
	}
	host, port, _ := strings.Cut(srv.IMAPAddr, ":")
	rc := filepath.Join(home, "mbsyncrc")
	config := fmt.Sprintf(`IMAPAccount petrel
Host %s
Port %s
User %s
Pass "%s"
SSLType None
AuthMechs LOGIN

IMAPStore remote
Account petrel

MaildirStore local
Path %s/
Inbox %s/INBOX
SubFolders Verbatim

Channel all
Far :remote:
Near :local:
Patterns *
Create Both
Expunge Both
SyncState *
Sync All
`, host, port, imapUser, imapPassword, mail, mail)
	if err := os.WriteFile(rc, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	mbsync := func(what string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "mbsync", "-c", rc, "-Dn", "all")
		cmd.Env = append(os.Environ(), "HOME="+home)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		start := time.Now()
		if err := cmd.Run(); err != nil {
			t.Fatalf("mbsync (%s): %v\n%s", what, err, tail(out.String(), 3000))
		}
		t.Logf("mbsync %s: %v", what, time.Since(start).Round(time.Millisecond))
		return out.String()
	}

	// 1. Full first sync: every message, with its flags, in every folder.
	mbsync("first sync")
	for _, l := range mbsyncLayout {
		dir := filepath.Join(mail, l.folder)
		total, seen := maildirCount(t, dir, 'S')
		_, flagged := maildirCount(t, dir, 'F')
		_, answered := maildirCount(t, dir, 'R')
		var wantSeen, wantFlagged, wantAnswered int
		for i := range l.count {
			for _, f := range flagsFor(i) {
				switch f {
				case imap.FlagSeen:
					wantSeen++
				case imap.FlagFlagged:
					wantFlagged++
				case imap.FlagAnswered:
					wantAnswered++
				}
			}
		}
		if total != l.count || seen != wantSeen || flagged != wantFlagged || answered != wantAnswered {
			t.Errorf("%s after the first sync: %d messages, %d seen, %d flagged, %d answered; want %d, %d, %d, %d",
				l.folder, total, seen, flagged, answered, l.count, wantSeen, wantFlagged, wantAnswered)
		}
	}

	// 2. Changes on both sides.
	// Near: flag 10 unflagged INBOX messages, delete 3 in Projects/Petrel,
	// add 5 messages to Projects and a new folder with one message.
	cur := filepath.Join(mail, "INBOX", "cur")
	entries, _ := os.ReadDir(cur)
	flaggedNow := 0
	for _, e := range entries {
		name := e.Name()
		base, info, ok := strings.Cut(name, ":2,")
		if !ok || strings.Contains(info, "F") || flaggedNow == 10 {
			continue
		}
		letters := []byte(info + "F")
		sort.Slice(letters, func(i, j int) bool { return letters[i] < letters[j] })
		if err := os.Rename(filepath.Join(cur, name), filepath.Join(cur, base+":2,"+string(letters))); err != nil {
			t.Fatal(err)
		}
		flaggedNow++
	}
	for _, sub := range []string{"cur", "new"} {
		dir := filepath.Join(mail, "Projects/Petrel", sub)
		entries, _ := os.ReadDir(dir)
		for i, e := range entries {
			if i < 3 && sub == "cur" {
				os.Remove(filepath.Join(dir, e.Name()))
			}
		}
	}
	writeMaildir := func(folder string, i int) {
		dir := filepath.Join(mail, folder)
		for _, sub := range []string{"cur", "new", "tmp"} {
			os.MkdirAll(filepath.Join(dir, sub), 0o700)
		}
		name := fmt.Sprintf("%d.local%d.test", time.Now().UnixNano(), i)
		if err := os.WriteFile(filepath.Join(dir, "new", name), []byte(corpusMessage("local "+folder, i)), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 5 {
		writeMaildir("Projects", 1000+i)
	}
	writeMaildir("Projects/Local", 2000)
	// Far: mark Receipts 1:5 seen (they are unseen except 3), deliver 4
	// new INBOX messages, expunge 2 from Projects/Petrel/Design.
	if _, err := c.Select("INBOX/Receipts", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	// The fill ran on four connections, so which messages got UIDs 1-5 is
	// not fixed: count those that were unseen.
	unseen15, err := c.UIDSearch(&imap.SearchCriteria{UID: []imap.UIDSet{imap.UIDSetNum(1, 2, 3, 4, 5)},
		NotFlag: []imap.Flag{imap.FlagSeen}}, nil).Wait()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Store(imap.UIDSetNum(1, 2, 3, 4, 5), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagSeen}, Silent: true}, nil).Close(); err != nil {
		t.Fatal(err)
	}
	for i := range 4 {
		appendMsg(t, c, "INBOX", corpusMessage("new INBOX", 3000+i))
	}
	if _, err := c.Select("Projects/Petrel/Design", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	if err := c.Store(imap.UIDSetNum(10, 20), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagDeleted}, Silent: true}, nil).Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Expunge().Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Unselect().Wait(); err != nil {
		t.Fatal(err)
	}

	mbsync("second sync")

	// Both sides agree on counts, and the server has the near side's changes.
	want := map[string]int{"INBOX": 454, "INBOX/Receipts": 100, "Projects": 105, "Projects/Petrel": 247,
		"Projects/Petrel/Design": 98, "Archive": 50, "Projects/Local": 1}
	for folder, n := range want {
		st, err := c.Status(folder, &imap.StatusOptions{NumMessages: true}).Wait()
		if err != nil || st.NumMessages == nil || int(*st.NumMessages) != n {
			t.Errorf("server %s: %+v, %v; want %d messages", folder, st, err, n)
		}
		if total, _ := maildirCount(t, filepath.Join(mail, folder), 'S'); total != n {
			t.Errorf("maildir %s: %d messages, want %d", folder, total, n)
		}
	}
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	flaggedUIDs, err := c.UIDSearch(&imap.SearchCriteria{Flag: []imap.Flag{imap.FlagFlagged}}, nil).Wait()
	if err != nil {
		t.Fatal(err)
	}
	wantFlagged := 10
	for i := range 450 {
		if i%7 == 0 {
			wantFlagged++
		}
	}
	if n := len(flaggedUIDs.AllUIDs()); n != wantFlagged {
		t.Errorf("server INBOX has %d flagged messages, want %d", n, wantFlagged)
	}
	_, seenReceipts := maildirCount(t, filepath.Join(mail, "INBOX/Receipts"), 'S')
	wantSeenReceipts := 34 + len(unseen15.AllUIDs()) // i%3 == 0 for 34 of 0..99, and those just seen
	if n := len(unseen15.AllUIDs()); n == 0 {
		t.Errorf("UIDs 1-5 of INBOX/Receipts were all seen already: the test changes nothing")
	}
	if seenReceipts != wantSeenReceipts {
		t.Errorf("maildir INBOX/Receipts has %d seen messages, want %d", seenReceipts, wantSeenReceipts)
	}

	// 3. A third sync finds nothing to do: it sends no changing command and
	// leaves both sides as they are.
	before := snapshotMaildir(t, mail)
	statusBefore := map[string]string{}
	for folder := range want {
		st, err := c.Status(folder, &imap.StatusOptions{NumMessages: true, UIDNext: true, HighestModSeq: true}).Wait()
		if err != nil {
			t.Fatal(err)
		}
		statusBefore[folder] = fmt.Sprintf("%d %d %d", *st.NumMessages, st.UIDNext, st.HighestModSeq)
	}
	trace := mbsync("third sync")
	for _, verb := range []string{" APPEND ", " STORE ", " EXPUNGE", " MOVE ", " CREATE ", " DELETE "} {
		for _, line := range strings.Split(trace, "\n") {
			if strings.HasPrefix(line, ">>> ") && strings.Contains(line, verb) {
				t.Errorf("third sync sent %q", line)
			}
		}
	}
	if after := snapshotMaildir(t, mail); strings.Join(after, "\n") != strings.Join(before, "\n") {
		t.Errorf("third sync changed the Maildir")
	}
	for folder, was := range statusBefore {
		st, err := c.Status(folder, &imap.StatusOptions{NumMessages: true, UIDNext: true, HighestModSeq: true}).Wait()
		if err != nil {
			t.Fatal(err)
		}
		if now := fmt.Sprintf("%d %d %d", *st.NumMessages, st.UIDNext, st.HighestModSeq); now != was {
			t.Errorf("third sync changed %s on the server: %s, was %s", folder, now, was)
		}
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}
