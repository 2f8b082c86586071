package imap_test

import (
	"bufio"
	"bytes"
	"compress/flate"
	"context"
	"crypto/tls"
	"encoding/base64"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-sasl"
)

// preAuthCaps is the capability list before login on a loopback plaintext
// connection with TLS configured.
const preAuthCaps = "IMAP4rev1 IMAP4rev2 LITERAL+ SASL-IR ID ENABLE STARTTLS AUTH=PLAIN AUTH=LOGIN"

// authedCaps is the capability list once logged in, with the harness's
// 8 MiB message limit.
const authedCaps = "IMAP4rev1 IMAP4rev2 LITERAL+ SASL-IR ID ENABLE IDLE NAMESPACE UIDPLUS MOVE UNSELECT CHILDREN " +
	"SPECIAL-USE CREATE-SPECIAL-USE LIST-EXTENDED LIST-STATUS ESEARCH SEARCHRES CONDSTORE QRESYNC QUOTA " +
	"QUOTA=RES-STORAGE STATUS=SIZE SORT SORT=DISPLAY ESORT THREAD=ORDEREDSUBJECT THREAD=REFERENCES MULTIAPPEND " +
	"BINARY UTF8=ACCEPT OBJECTID PREVIEW SAVEDATE WITHIN COMPRESS=DEFLATE APPENDLIMIT=8388608"

// dialRaw connects without reading the greeting.
func (ts *testServer) dialRaw(t testing.TB) *rawConn {
	t.Helper()
	c, err := net.Dial("tcp", ts.Addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &rawConn{t: t, conn: c}
}

func TestCapability(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, 0, "alice")
	rc := ts.dialRaw(t)
	if g := rc.line(); g != "* OK [CAPABILITY "+preAuthCaps+"] Petrel ready" {
		t.Fatalf("greeting %q", g)
	}
	sameLines(t, "CAPABILITY before login", rc.cmd("a", "CAPABILITY"),
		[]string{"* CAPABILITY " + preAuthCaps, "a OK CAPABILITY completed"})
	sameLines(t, "LOGIN", rc.cmd("b", `LOGIN alice@example.org "`+testPassword+`"`),
		[]string{"b OK [CAPABILITY " + authedCaps + "] Logged in"})
	sameLines(t, "CAPABILITY after login", rc.cmd("c", "CAPABILITY"),
		[]string{"* CAPABILITY " + authedCaps, "c OK CAPABILITY completed"})

	// imapclient reads the same list; every extension the issue asks for
	// is there.
	c := ts.login(t, "alice", nil)
	caps, err := c.Capability().Wait()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []imap.Cap{"IMAP4rev1", "IMAP4rev2", "IDLE", "NAMESPACE", "ID", "UIDPLUS", "MOVE", "UNSELECT",
		"ENABLE", "LITERAL+", "SASL-IR", "SPECIAL-USE", "CREATE-SPECIAL-USE", "LIST-EXTENDED", "LIST-STATUS",
		"CHILDREN", "ESEARCH", "SEARCHRES", "CONDSTORE", "QRESYNC", "QUOTA", "APPENDLIMIT", "STATUS=SIZE", "SORT",
		"SORT=DISPLAY", "ESORT", "THREAD=REFERENCES", "THREAD=ORDEREDSUBJECT", "COMPRESS=DEFLATE", "MULTIAPPEND",
		"BINARY", "UTF8=ACCEPT", "OBJECTID"} {
		if !caps.Has(want) {
			t.Errorf("capability %s missing", want)
		}
	}
	if limit, ok := caps.AppendLimit(); !ok || limit == nil || *limit != 8<<20 {
		t.Errorf("APPENDLIMIT %v %v", ok, limit)
	}
	if caps.Has(imap.CapStartTLS) || caps.Has("AUTH=PLAIN") {
		t.Errorf("pre-login capabilities after login: %v", caps)
	}
}

func TestLoginWrongPassword(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, 0, "alice")

	c := ts.dial(t, nil)
	wantErr(t, c.Login("alice@example.org", "wrong password").Wait(), imap.StatusResponseTypeNo,
		imap.ResponseCodeAuthenticationFailed)
	if st := c.State(); st != imap.ConnStateNotAuthenticated {
		t.Fatalf("state after failed login: %v", st)
	}

	// An unknown user gets the same answer as a wrong password, and the
	// connection stays unauthenticated until a good LOGIN.
	rc := ts.raw(t)
	sameLines(t, "unknown user", rc.cmd("a", `LOGIN nobody@example.org "`+testPassword+`"`),
		[]string{"a NO [AUTHENTICATIONFAILED] Invalid credentials"})
	rc.want("b", "SELECT INBOX", "BAD")
	rc.login("alice")
	rc.ok("c", "SELECT INBOX")
	rc.want("d", `LOGIN alice@example.org "`+testPassword+`"`, "BAD")
}

func TestLoginDisabledAccount(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, 0, "alice")
	if err := ts.Dir.SetEnabled(context.Background(), "alice@example.org", false); err != nil {
		t.Fatal(err)
	}
	c := ts.dial(t, nil)
	wantErr(t, c.Login("alice@example.org", testPassword).Wait(), imap.StatusResponseTypeNo, imap.ResponseCodeContactAdmin)
}

func TestAuthenticatePlain(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, 0, "alice", "bob")

	// imapclient sends the initial response on the command line, since
	// the server offers SASL-IR.
	wire := &lockedBuffer{}
	c := ts.dial(t, &imapclient.Options{DebugWriter: wire})
	if err := c.WaitGreeting(); err != nil {
		t.Fatal(err)
	}
	if err := c.Authenticate(sasl.NewPlainClient("", "alice@example.org", testPassword)); err != nil {
		t.Fatal(err)
	}
	if c.State() != imap.ConnStateAuthenticated {
		t.Fatalf("state %v", c.State())
	}
	ir := base64.StdEncoding.EncodeToString([]byte("\x00alice@example.org\x00" + testPassword))
	if !strings.Contains(wire.String(), "AUTHENTICATE PLAIN "+ir+"\r\n") {
		t.Fatalf("SASL-IR not used: %q", wire.String())
	}
	if strings.Contains(wire.String(), "\r\n+ ") {
		t.Fatalf("server sent a continuation despite the initial response: %q", wire.String())
	}
	mustSelect(t, c, "INBOX")

	// Raw: with the initial response the tagged OK comes at once, with
	// the new capabilities.
	rc := ts.raw(t)
	sameLines(t, "SASL-IR", rc.cmd("a", "AUTHENTICATE PLAIN "+ir),
		[]string{"a OK [CAPABILITY " + authedCaps + "] Logged in"})

	// Without it: an empty challenge, then the response.
	rc = ts.raw(t)
	rc.send("a AUTHENTICATE PLAIN")
	if l := rc.line(); l != "+ " {
		t.Fatalf("challenge %q", l)
	}
	rc.send(ir)
	if l := rc.line(); !strings.HasPrefix(l, "a OK [CAPABILITY IMAP4rev1") {
		t.Fatalf("after response: %q", l)
	}

	// The client cancels with "*".
	rc = ts.raw(t)
	rc.send("a AUTHENTICATE PLAIN")
	rc.line()
	rc.send("*")
	if l := rc.line(); l != "a BAD Authentication cancelled" {
		t.Fatalf("cancel: %q", l)
	}
	rc.want("b", "SELECT INBOX", "BAD")

	// Acting as another user is refused.
	asBob := base64.StdEncoding.EncodeToString([]byte("bob@example.org\x00alice@example.org\x00" + testPassword))
	rc.want("c", "AUTHENTICATE PLAIN "+asBob, "NO [AUTHORIZATIONFAILED]")
	// Malformed responses and unknown mechanisms.
	rc.want("d", "AUTHENTICATE PLAIN "+base64.StdEncoding.EncodeToString([]byte("no-nul")), "BAD")
	rc.want("e", "AUTHENTICATE PLAIN !!!", "BAD")
	rc.want("f", "AUTHENTICATE CRAM-MD5", "NO")
	rc.want("g", "SELECT INBOX", "BAD")

	// AUTHENTICATE LOGIN, with its two prompts.
	rc.send("h AUTHENTICATE LOGIN")
	if l := rc.line(); l != "+ "+base64.StdEncoding.EncodeToString([]byte("Username:")) {
		t.Fatalf("LOGIN prompt %q", l)
	}
	rc.send(base64.StdEncoding.EncodeToString([]byte("alice@example.org")))
	if l := rc.line(); l != "+ "+base64.StdEncoding.EncodeToString([]byte("Password:")) {
		t.Fatalf("LOGIN prompt %q", l)
	}
	rc.send(base64.StdEncoding.EncodeToString([]byte(testPassword)))
	if l := rc.line(); !strings.HasPrefix(l, "h OK [CAPABILITY ") {
		t.Fatalf("AUTHENTICATE LOGIN: %q", l)
	}
	rc.ok("i", "SELECT INBOX")
}

// TestLoginAPIKey: an API key of the user is accepted as password, for
// LOGIN and AUTHENTICATE; only with its own account's address, and not once
// revoked.
func TestLoginAPIKey(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, 0, "alice", "bob")
	ctx := context.Background()
	key, secret, err := ts.Dir.CreateKey(ctx, "alice@example.org", "migration", time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	_, bobSecret, err := ts.Dir.CreateKey(ctx, "bob@example.org", "bob's", time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	c := ts.dial(t, nil)
	if err := c.Login("alice@example.org", secret).Wait(); err != nil {
		t.Fatal(err)
	}
	appendMsg(t, c, "INBOX", testMessage("via key"))
	rc := ts.raw(t)
	ir := base64.StdEncoding.EncodeToString([]byte("\x00alice@example.org\x00" + secret))
	rc.ok("a", "AUTHENTICATE PLAIN "+ir)
	sameLines(t, "STATUS", rc.cmd("b", "STATUS INBOX (MESSAGES)"), []string{"* STATUS INBOX (MESSAGES 1)", "b OK STATUS completed"})

	// Bob's key does not open alice's account, nor alice's bob's.
	rc = ts.raw(t)
	rc.want("a", `LOGIN alice@example.org "`+bobSecret+`"`, "NO [AUTHENTICATIONFAILED]")
	rc.want("b", `LOGIN bob@example.org "`+secret+`"`, "NO [AUTHENTICATIONFAILED]")
	if err := ts.Dir.RevokeKey(ctx, key.ID); err != nil {
		t.Fatal(err)
	}
	rc.want("c", `LOGIN alice@example.org "`+secret+`"`, "NO [AUTHENTICATIONFAILED]")
	rc.want("d", "SELECT INBOX", "BAD")
}

// tlsClientConfig trusts the self-signed certificate.
func tlsClientConfig() *tls.Config {
	return &tls.Config{InsecureSkipVerify: true, ServerName: "localhost"}
}

func TestStartTLS(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, 0, "alice")
	ts.deliver(t, "alice", testMessage("over tls"))

	c, err := imapclient.DialStartTLS(ts.Addr, &imapclient.Options{TLSConfig: tlsClientConfig()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	caps, err := c.Capability().Wait()
	if err != nil {
		t.Fatal(err)
	}
	if caps.Has(imap.CapStartTLS) || !caps.Has("AUTH=PLAIN") {
		t.Fatalf("capabilities after STARTTLS: %v", caps)
	}
	if err := c.Login("alice@example.org", testPassword).Wait(); err != nil {
		t.Fatal(err)
	}
	if d := mustSelect(t, c, "INBOX"); d.NumMessages != 1 {
		t.Fatalf("%d messages", d.NumMessages)
	}

	// Raw: the handshake follows the OK, the session goes on over TLS.
	rc := ts.raw(t)
	sameLines(t, "STARTTLS", rc.cmd("a", "STARTTLS"), []string{"a OK Begin TLS negotiation now"})
	tc := tls.Client(rc.conn, tlsClientConfig())
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	rc.conn = tc
	sameLines(t, "CAPABILITY over TLS", rc.cmd("b", "CAPABILITY"),
		[]string{"* CAPABILITY IMAP4rev1 IMAP4rev2 LITERAL+ SASL-IR ID ENABLE AUTH=PLAIN AUTH=LOGIN", "b OK CAPABILITY completed"})
	rc.want("c", "STARTTLS", "BAD")
	rc.login("alice")
	rc.want("d", "STARTTLS", "BAD")

	// Commands pipelined after STARTTLS are refused, not run as if sent
	// over TLS (RFC 9051 section 6.2.1).
	rc = ts.raw(t)
	rc.send("a STARTTLS\r\nb NOOP")
	sameLines(t, "pipelined STARTTLS", rc.until("b"), []string{"a BAD Data pipelined after STARTTLS", "b OK NOOP completed"})
}

func TestImplicitTLS(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, 0, "alice")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go ts.Server.Serve(l, true)
	c, err := imapclient.DialTLS(l.Addr().String(), &imapclient.Options{TLSConfig: tlsClientConfig()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login("alice@example.org", testPassword).Wait(); err != nil {
		t.Fatal(err)
	}
	caps, err := c.Capability().Wait()
	if err != nil {
		t.Fatal(err)
	}
	if caps.Has(imap.CapStartTLS) || !caps.Has(imap.CapIdle) {
		t.Fatalf("capabilities on the TLS port: %v", caps)
	}
}

func TestEnable(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, 0, "alice")
	rc := ts.raw(t)
	rc.want("a", "ENABLE CONDSTORE", "BAD")
	rc.login("alice")
	sameLines(t, "ENABLE", rc.cmd("b", "ENABLE CONDSTORE"), []string{"* ENABLED CONDSTORE", "b OK ENABLE completed"})
	// RFC 5161 section 3.1: only what this command turned on.
	sameLines(t, "ENABLE again", rc.cmd("c", "ENABLE CONDSTORE X-UNKNOWN"), []string{"* ENABLED", "c OK ENABLE completed"})
	sameLines(t, "ENABLE several", rc.cmd("d", "ENABLE QRESYNC UTF8=ACCEPT imap4rev2"),
		[]string{"* ENABLED QRESYNC UTF8=ACCEPT IMAP4rev2", "d OK ENABLE completed"})

	c := ts.login(t, "alice", nil)
	data, err := c.Enable(imap.CapUTF8Accept).Wait()
	if err != nil {
		t.Fatal(err)
	}
	if !data.Caps.Has(imap.CapUTF8Accept) {
		t.Fatalf("ENABLED %v", data.Caps)
	}
}

func TestNamespaceIDNoopLogout(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, 0, "alice")
	c := ts.dial(t, nil)
	id, err := c.ID(&imap.IDData{Name: "petrel-test", Version: "1"}).Wait()
	if err != nil {
		t.Fatal(err)
	}
	if id.Name != "Petrel" || id.Vendor != "Petrel" {
		t.Fatalf("ID before login: %+v", id)
	}
	if err := c.Login("alice@example.org", testPassword).Wait(); err != nil {
		t.Fatal(err)
	}
	ns, err := c.Namespace().Wait()
	if err != nil {
		t.Fatal(err)
	}
	if len(ns.Personal) != 1 || ns.Personal[0].Prefix != "" || ns.Personal[0].Delim != '/' || ns.Other != nil || ns.Shared != nil {
		t.Fatalf("NAMESPACE %+v", ns)
	}
	if err := c.Noop().Wait(); err != nil {
		t.Fatal(err)
	}

	rc := ts.raw(t)
	sameLines(t, "ID NIL", rc.cmd("a", "ID NIL"), []string{`* ID ("name" "Petrel" "vendor" "Petrel")`, "a OK ID completed"})
	rc.want("b", "NAMESPACE", "BAD")
	sameLines(t, "NOOP", rc.cmd("c", "NOOP"), []string{"c OK NOOP completed"})
	rc.login("alice")
	sameLines(t, "NAMESPACE", rc.cmd("d", "NAMESPACE"), []string{`* NAMESPACE (("" "/")) NIL NIL`, "d OK NAMESPACE completed"})
	rc.want("e", "CHECK", "BAD")
	rc.ok("f", "SELECT INBOX")
	sameLines(t, "CHECK", rc.cmd("g", "CHECK"), []string{"g OK CHECK completed"})
	sameLines(t, "LOGOUT", rc.cmd("h", "LOGOUT"), []string{"* BYE Logging out", "h OK LOGOUT completed"})
	rc.eof()

	if err := c.Logout().Wait(); err != nil {
		t.Fatal(err)
	}
}

// deflateConn speaks IMAP lines through COMPRESS=DEFLATE (RFC 4978).
type deflateConn struct {
	t  *testing.T
	c  net.Conn
	bw *bufio.Writer // under w: one write per command
	w  *flate.Writer
	br *bufio.Reader
}

func (d *deflateConn) cmd(tag, command string) []string {
	d.t.Helper()
	d.c.SetDeadline(time.Now().Add(waitTimeout))
	if _, err := d.w.Write([]byte(tag + " " + command + "\r\n")); err != nil {
		d.t.Fatal(err)
	}
	if err := d.w.Flush(); err != nil {
		d.t.Fatal(err)
	}
	if err := d.bw.Flush(); err != nil {
		d.t.Fatal(err)
	}
	var out []string
	for {
		l, err := d.br.ReadString('\n')
		if err != nil {
			d.t.Fatalf("read: %v (%q)", err, out)
		}
		l = strings.TrimSuffix(l, "\r\n")
		out = append(out, l)
		if strings.HasPrefix(l, tag+" ") {
			return out
		}
	}
}

func TestCompressDeflate(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, 0, "alice")
	big := testMessage("compressed") + strings.Repeat("All work and no play makes Jack a dull boy.\r\n", 2000)
	ts.deliver(t, "alice", big)

	rc := ts.raw(t)
	rc.want("a", "COMPRESS DEFLATE", "BAD")
	rc.login("alice")
	rc.want("b", "COMPRESS LZW", "BAD")
	sameLines(t, "COMPRESS", rc.cmd("c", "COMPRESS DEFLATE"), []string{"c OK DEFLATE active"})
	bw := bufio.NewWriter(rc.conn)
	w, _ := flate.NewWriter(bw, flate.BestSpeed)
	// What was read past the OK is already compressed. Count the
	// compressed octets the server sends.
	counted := &countingConn{Conn: rc.conn}
	in := io.MultiReader(bytes.NewReader(rc.buf), counted)
	d := &deflateConn{t: t, c: rc.conn, bw: bw, w: w, br: bufio.NewReader(flate.NewReader(in))}

	sameLines(t, "NOOP", d.cmd("d", "NOOP"), []string{"d OK NOOP completed"})
	caps := d.cmd("e", "CAPABILITY")
	if caps[0] != "* CAPABILITY "+strings.TrimSuffix(authedCaps, " COMPRESS=DEFLATE APPENDLIMIT=8388608")+" APPENDLIMIT=8388608" {
		t.Fatalf("CAPABILITY under compression: %q", caps)
	}
	sameLines(t, "COMPRESS again", d.cmd("f", "COMPRESS DEFLATE"), []string{"f NO [COMPRESSIONACTIVE] Compression is already on"})
	d.cmd("g", "SELECT INBOX")
	before := counted.n
	lines := d.cmd("h", "FETCH 1 BODY.PEEK[]")
	if want := "* 1 FETCH (BODY[] {" + strconv.Itoa(len(big)) + "}"; lines[0] != want {
		t.Fatalf("FETCH %q, want %q", lines[0], want)
	}
	body := strings.Join(lines[1:len(lines)-1], "\r\n")
	if !strings.HasPrefix(body, testMessage("compressed")) || strings.Count(body, "Jack") != 2000 {
		t.Fatalf("body through DEFLATE: %d octets", len(body))
	}
	if sent := counted.n - before; sent <= 0 || sent > int64(len(big)/10) {
		t.Fatalf("%d compressed octets for a %d-octet message: not compressed", sent, len(big))
	}
	sameLines(t, "LOGOUT", d.cmd("i", "LOGOUT"), []string{"* BYE Logging out", "i OK LOGOUT completed"})
}

// lockedBuffer is a strings.Builder that imapclient's goroutines may write
// while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

type countingConn struct {
	net.Conn
	n int64
}

func (c *countingConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	c.n += int64(n)
	return n, err
}
