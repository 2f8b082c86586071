package imap

import (
	"bufio"
	"bytes"
	"compress/flate"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/petrelmail/petrel/internal/directory"
	"github.com/petrelmail/petrel/internal/imap/inflate"
	"github.com/petrelmail/petrel/internal/imap/wire"
	"github.com/petrelmail/petrel/internal/throttle"
)

// authedCapabilities are the extensions offered once authenticated, each
// implemented by this package (RFC numbers in capabilities order).
var authedCapabilities = []string{
	"IDLE",                  // RFC 2177
	"NAMESPACE",             // RFC 2342
	"UIDPLUS",               // RFC 4315
	"MOVE",                  // RFC 6851
	"UNSELECT",              // RFC 3691
	"CHILDREN",              // RFC 3348
	"SPECIAL-USE",           // RFC 6154
	"CREATE-SPECIAL-USE",    // RFC 6154
	"LIST-EXTENDED",         // RFC 5258
	"LIST-STATUS",           // RFC 5819
	"ESEARCH",               // RFC 4731
	"SEARCHRES",             // RFC 5182
	"CONDSTORE",             // RFC 7162
	"QRESYNC",               // RFC 7162
	"QUOTA",                 // RFC 9208
	"QUOTA=RES-STORAGE",     // RFC 9208
	"STATUS=SIZE",           // RFC 8438
	"SORT",                  // RFC 5256
	"SORT=DISPLAY",          // RFC 5957
	"ESORT",                 // RFC 5267
	"THREAD=ORDEREDSUBJECT", // RFC 5256
	"THREAD=REFERENCES",     // RFC 5256
	"MULTIAPPEND",           // RFC 3502
	"BINARY",                // RFC 3516
	"UTF8=ACCEPT",           // RFC 6855
	"OBJECTID",              // RFC 8474
	"PREVIEW",               // RFC 8970
	"SAVEDATE",              // RFC 8514
	"WITHIN",                // RFC 5032
	"COMPRESS=DEFLATE",      // RFC 4978
}

// appendCapabilities appends the capability list for the session's state:
// what a client may use now (RFC 9051 section 6.1.1).
func (s *session) appendCapabilities(b []byte) []byte {
	// RFC 7888: LITERAL+ (no size limit on non-synchronizing literals
	// beyond the command limits); RFC 4959 SASL-IR; RFC 2971 ID; RFC 5161
	// ENABLE.
	b = append(b, "IMAP4rev1 IMAP4rev2 LITERAL+ SASL-IR ID ENABLE"...)
	if s.state == notAuthenticated {
		if s.srv.cfg.TLS != nil && !s.tls {
			b = append(b, " STARTTLS"...)
		}
		if s.plaintextAllowed() {
			b = append(b, " AUTH=PLAIN AUTH=LOGIN"...)
		} else {
			b = append(b, " LOGINDISABLED"...)
		}
		return b
	}
	for _, c := range authedCapabilities {
		if c == "COMPRESS=DEFLATE" && s.compressed {
			continue
		}
		b = append(b, ' ')
		b = append(b, c...)
	}
	b = append(b, " APPENDLIMIT="...)
	b = strconv.AppendInt(b, s.srv.cfg.MaxAppend, 10)
	return b
}

// plaintextAllowed tells whether credentials may be sent on this
// connection: over TLS, on loopback, or when the administrator allowed it.
func (s *session) plaintextAllowed() bool {
	if s.tls || s.srv.cfg.PlaintextAuth {
		return true
	}
	if a, ok := s.conn.RemoteAddr().(*net.TCPAddr); ok {
		return a.IP.IsLoopback()
	}
	return false
}

func (s *session) cmdCapability(cmd *wire.Command) error {
	s.out = append(s.out, "* CAPABILITY "...)
	s.out = s.appendCapabilities(s.out)
	s.out = append(s.out, "\r\n"...)
	return nil
}

// cmdNoop runs NOOP and CHECK. NOOP is the client's poll for changes (RFC
// 9051 section 6.1.2), so the selected folder is read even if the hub has
// not woken this session yet: a change another session has committed (and
// been told OK for) is reported now, not at some later command.
func (s *session) cmdNoop(cmd *wire.Command) error {
	if s.sel != nil {
		s.sel.dirty = true
	}
	return nil
}

func (s *session) cmdLogout(cmd *wire.Command) error {
	s.out = append(s.out, "* BYE Logging out\r\n"...)
	s.out = s.tagged(s.out, cmd.Tag, "OK", "", "LOGOUT completed")
	s.state = loggedOut
	return nil
}

// cmdID answers ID (RFC 2971 section 3.1); what the client says about
// itself is logged, as it helps support.
func (s *session) cmdID(cmd *wire.Command) error {
	if a, ok := cmd.Args.(*wire.ID); ok && len(a.Params) > 0 {
		attrs := make([]any, 0, 2*len(a.Params))
		for _, p := range a.Params {
			if p.Value != nil && len(attrs) < 16 {
				attrs = append(attrs, "client_"+strings.ToLower(p.Field), *p.Value)
			}
		}
		s.log.Debug("client id", attrs...)
	}
	s.out = append(s.out, `* ID ("name" "Petrel" "vendor" "Petrel")`+"\r\n"...)
	return nil
}

// cmdStartTLS runs STARTTLS (RFC 9051 section 6.2.1).
func (s *session) cmdStartTLS(cmd *wire.Command) error {
	if s.srv.cfg.TLS == nil {
		return no("", "TLS is not configured")
	}
	if s.tls {
		return bad("", "TLS is already active")
	}
	if s.r.Buffered() > 0 {
		// Anything sent after STARTTLS before the handshake would be
		// taken as sent over TLS: refuse (RFC 9051 section 6.2.1).
		return bad("", "Data pipelined after STARTTLS")
	}
	s.out = s.tagged(s.out, cmd.Tag, "OK", "", "Begin TLS negotiation now")
	if err := s.flush(); err != nil {
		return errFatal
	}
	tc := tls.Server(s.conn, s.srv.cfg.TLS)
	s.conn.SetDeadline(time.Now().Add(preAuthTimeout))
	if err := tc.Handshake(); err != nil {
		s.log.Debug("starttls handshake failed", "err", err)
		s.state = loggedOut
		return errFatal
	}
	s.conn.SetDeadline(time.Time{})
	s.conn = tc
	s.tls = true
	s.br = bufio.NewReaderSize(tc, bufSize)
	s.bw = bufio.NewWriterSize(tc, bufSize)
	s.r.Reset(s.br)
	return errHandled
}

// loginFailDelay slows down password guessing on one connection.
const loginFailDelay = time.Second

func (s *session) cmdLogin(cmd *wire.Command) error {
	if !s.plaintextAllowed() {
		return no("PRIVACYREQUIRED", "Use STARTTLS or the TLS port first")
	}
	a := cmd.Args.(*wire.Login)
	return s.login(a.Username, a.Password)
}

// login checks credentials and enters the authenticated state. Failures
// are counted per source address and per account: past the limits,
// attempts are refused without looking at the password (RFC 5530
// UNAVAILABLE, with how long to wait in the text).
func (s *session) login(username, password string) error {
	attempt, wait := s.srv.cfg.Throttle.Begin("imap", throttle.Source(s.conn.RemoteAddr()), username)
	if attempt == nil {
		metricLogin("throttled")
		s.log.Info("authentication throttled", "remote", s.conn.RemoteAddr().String())
		return no("UNAVAILABLE", "Too many failed logins; try again in %d seconds", throttle.RetryAfter(wait))
	}
	u, err := s.srv.dir.Authenticate(s.ctx(), username, password)
	switch {
	case errors.Is(err, directory.ErrDisabled):
		attempt.Release()
		time.Sleep(loginFailDelay)
		metricLogin("disabled")
		return no("CONTACTADMIN", "Account disabled")
	case err != nil:
		if !errors.Is(err, directory.ErrBadCredentials) {
			attempt.Release()
			s.log.Error("authenticate", "err", err)
			return no("UNAVAILABLE", "Authentication is unavailable; try again later")
		}
		attempt.Fail()
		time.Sleep(loginFailDelay)
		metricLogin("failed")
		s.log.Info("authentication failed", "remote", s.conn.RemoteAddr().String())
		return no("AUTHENTICATIONFAILED", "Invalid credentials")
	}
	attempt.Succeed()
	mb, err := s.srv.store.Mailbox(u.Shard, u.ID)
	if err != nil {
		return err
	}
	s.user, s.mb = u, mb
	s.state = authenticated
	s.log = s.log.With("user", u.Address)
	metricLogin("ok")
	s.log.Debug("authenticated")
	// RFC 9051 section 6.2.3: the new capabilities come with the OK.
	return ok("CAPABILITY "+string(s.appendCapabilities(nil)), "Logged in")
}

// cmdAuthenticate runs AUTHENTICATE with PLAIN (RFC 4616) or LOGIN
// (draft-murchison-sasl-login), with SASL-IR (RFC 4959).
func (s *session) cmdAuthenticate(cmd *wire.Command) error {
	a := cmd.Args.(*wire.Authenticate)
	if !s.plaintextAllowed() {
		return no("PRIVACYREQUIRED", "Use STARTTLS or the TLS port first")
	}
	switch a.Mechanism {
	case "PLAIN":
		resp := a.InitialResponse
		if resp == nil {
			var err error
			if resp, err = s.saslChallenge(""); err != nil {
				return err
			}
		}
		parts := bytes.Split(resp, []byte{0})
		if len(parts) != 3 {
			return bad("", "Malformed PLAIN response")
		}
		authz, user, pass := string(parts[0]), string(parts[1]), string(parts[2])
		if authz != "" && !strings.EqualFold(authz, user) {
			return no("AUTHORIZATIONFAILED", "Acting as another user is not allowed")
		}
		return s.login(user, pass)
	case "LOGIN":
		user := a.InitialResponse
		var err error
		if user == nil {
			if user, err = s.saslChallenge("Username:"); err != nil {
				return err
			}
		}
		pass, err := s.saslChallenge("Password:")
		if err != nil {
			return err
		}
		return s.login(string(user), string(pass))
	}
	return no("", "Unsupported authentication mechanism")
}

// saslChallenge sends a SASL challenge and reads the client's response
// (RFC 9051 section 6.2.2): base64, or "*" to cancel.
func (s *session) saslChallenge(challenge string) ([]byte, error) {
	s.out = append(s.out, "+ "...)
	s.out = base64.StdEncoding.AppendEncode(s.out, []byte(challenge))
	s.out = append(s.out, "\r\n"...)
	if err := s.flush(); err != nil {
		return nil, errFatal
	}
	line, err := s.r.ReadLine()
	if err != nil {
		var perr *wire.ParseError
		if errors.As(err, &perr) {
			return nil, bad(perr.Code, "%s", perr.Msg)
		}
		s.state = loggedOut
		return nil, errFatal
	}
	if string(line) == "*" {
		return nil, bad("", "Authentication cancelled")
	}
	dec, err := base64.StdEncoding.DecodeString(string(line))
	if err != nil {
		return nil, bad("", "Invalid base64")
	}
	return dec, nil
}

// cmdEnable runs ENABLE (RFC 5161 section 3.1): it reports only what it
// turned on now.
func (s *session) cmdEnable(cmd *wire.Command) error {
	var on []string
	for _, c := range cmd.Args.(*wire.Enable).Capabilities {
		switch c {
		case "CONDSTORE":
			if !s.condstore {
				s.condstore = true
				on = append(on, c)
			}
		case "QRESYNC":
			if !s.qresync {
				s.qresync, s.condstore = true, true
				on = append(on, c)
			}
		case "UTF8=ACCEPT":
			if !s.utf8 {
				s.utf8 = true
				on = append(on, c)
			}
		case "IMAP4REV2":
			if !s.rev2 {
				s.rev2, s.utf8 = true, true
				on = append(on, "IMAP4rev2")
			}
		}
	}
	s.out = append(s.out, "* ENABLED"...)
	for _, c := range on {
		s.out = append(s.out, ' ')
		s.out = append(s.out, c...)
	}
	s.out = append(s.out, "\r\n"...)
	return nil
}

// cmdNamespace answers NAMESPACE (RFC 2342, RFC 9051 section 6.3.10): one
// personal namespace; shared folders come later.
func (s *session) cmdNamespace(cmd *wire.Command) error {
	s.out = append(s.out, `* NAMESPACE (("" "/")) NIL NIL`+"\r\n"...)
	return nil
}

// cmdCompress runs COMPRESS DEFLATE (RFC 4978): raw DEFLATE both ways from
// right after the tagged OK.
func (s *session) cmdCompress(cmd *wire.Command) error {
	if cmd.Args.(*wire.Compress).Mechanism != "DEFLATE" {
		return bad("", "Unknown compression mechanism")
	}
	if s.compressed {
		return no("COMPRESSIONACTIVE", "Compression is already on")
	}
	if s.r.Buffered() > 0 {
		return bad("", "Data pipelined after COMPRESS")
	}
	s.out = s.tagged(s.out, cmd.Tag, "OK", "", "DEFLATE active")
	if err := s.flush(); err != nil {
		return errFatal
	}
	fw, _ := flate.NewWriter(s.conn, flate.DefaultCompression)
	dw := &deflateWriter{fw: fw}
	s.br = bufio.NewReaderSize(inflate.NewReader(s.conn), bufSize)
	s.bw = bufio.NewWriterSize(dw, bufSize)
	s.flusher = dw.flush
	s.r.Reset(s.br)
	s.compressed = true
	return errHandled
}

// deflateWriter is the compressed side of a connection. It sync-flushes
// only when something was written since the last flush: an empty flush
// block on its own decompresses to nothing, which some clients (mbsync)
// take for a closed connection.
type deflateWriter struct {
	fw    *flate.Writer
	dirty bool
}

func (d *deflateWriter) Write(b []byte) (int, error) {
	d.dirty = true
	return d.fw.Write(b)
}

func (d *deflateWriter) flush() error {
	if !d.dirty {
		return nil
	}
	d.dirty = false
	return d.fw.Flush()
}
