package imap

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/petrelmail/petrel/internal/directory"
	"github.com/petrelmail/petrel/internal/imap/wire"
	"github.com/petrelmail/petrel/internal/store"
)

// state is a session state (RFC 9051 section 3).
type state uint8

const (
	notAuthenticated state = 1 << iota
	authenticated
	selectedState
	loggedOut
)

// preAuthTimeout bounds how long an unauthenticated client may stay silent.
const preAuthTimeout = 2 * time.Minute

// writeTimeout bounds how long a client may take to read a response.
const writeTimeout = 5 * time.Minute

// bufSize is the size of each connection's read and write buffers. Small,
// because an idle connection should cost little: large responses are built
// in the session's own buffer and written past the bufio.Writer.
const bufSize = 4096

// flushAt is how much of a long response is built before it is written.
const flushAt = 32 << 10

var sessionIDs atomic.Uint64

// sessionPanics counts sessions ended by a panic (the fuzzer checks it).
var sessionPanics atomic.Int64

// session is one client connection.
type session struct {
	srv  *Server
	conn net.Conn
	log  *slog.Logger
	id   uint64

	br  *bufio.Reader
	bw  *bufio.Writer
	r   *wire.Reader
	out []byte // response being built
	// metaReads counts the body metadata a FETCH read one by one (render
	// cache misses).
	metaReads int
	// writes counts the times a response under construction was passed
	// to the writer before its end (a streamed literal).
	writes int
	// flusher is called after bw is flushed: the DEFLATE writer's sync
	// flush once COMPRESS is on.
	flusher func() error

	tls        bool
	compressed bool
	state      state
	user       directory.User
	mb         *store.Mailbox

	// What the client turned on with ENABLE (RFC 5161) or implied.
	utf8      bool // UTF8=ACCEPT or IMAP4rev2: names and strings in UTF-8
	rev2      bool // IMAP4rev2 (RFC 9051 section 6.3.1)
	condstore bool // CONDSTORE (RFC 7162 section 3.1)
	qresync   bool // QRESYNC (RFC 7162 section 3.2.3)

	sel *selected
	// saved is the SEARCHRES result (RFC 5182), as UIDs.
	saved []uint32

	// Shutdown: closing is set by Server.Stop; busy tells whether a
	// command is under way, during which the session is not interrupted.
	mu      sync.Mutex
	busy    bool
	closing bool
	closed  chan struct{}
}

func newSession(srv *Server, c net.Conn, isTLS bool) *session {
	s := &session{srv: srv, conn: c, tls: isTLS, state: notAuthenticated, id: sessionIDs.Add(1), closed: make(chan struct{})}
	s.log = srv.log.With("session", s.id)
	s.br = bufio.NewReaderSize(c, bufSize)
	s.bw = bufio.NewWriterSize(c, bufSize)
	s.r = wire.NewReader(s.br, s.continuation, srv.limits())
	return s
}

// shutdown asks the session to end: at once when it waits for a command,
// after the command under way otherwise.
func (s *session) shutdown() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return
	}
	s.closing = true
	close(s.closed)
	if !s.busy {
		s.conn.SetReadDeadline(time.Now())
	}
}

// continuation sends the "+" a synchronizing literal waits for.
func (s *session) continuation() error {
	s.bw.WriteString("+ Ready for literal data\r\n")
	return s.flush()
}

func (s *session) flush() error {
	s.conn.SetWriteDeadline(time.Now().Add(writeTimeout))
	if len(s.out) > 0 {
		if _, err := s.bw.Write(s.out); err != nil {
			return err
		}
		s.out = s.out[:0]
	}
	if err := s.bw.Flush(); err != nil {
		return err
	}
	if s.flusher != nil {
		return s.flusher()
	}
	return nil
}

// spill writes the response built so far when it is long, so that a big
// FETCH streams rather than piling up in memory.
func (s *session) spill() error {
	if len(s.out) < flushAt {
		return nil
	}
	s.conn.SetWriteDeadline(time.Now().Add(writeTimeout))
	_, err := s.bw.Write(s.out)
	s.out = s.out[:0]
	return err
}

func (s *session) serve() {
	defer s.conn.Close()
	defer s.deselect()
	defer func() {
		// A bug in one session must not take the server and everyone
		// else's sessions down: log it and end this session only.
		if x := recover(); x != nil {
			metricPanics.Inc()
			sessionPanics.Add(1)
			s.log.Error("session panic", "panic", fmt.Sprint(x), "stack", string(debug.Stack()))
			s.out = s.out[:0]
			s.bye("Internal error; the administrator was told")
		}
	}()
	start := time.Now()
	metricConnections.Inc()
	defer metricConnections.Dec()
	if tc, ok := s.conn.(*tls.Conn); ok {
		s.conn.SetDeadline(time.Now().Add(preAuthTimeout))
		if err := tc.Handshake(); err != nil {
			s.log.Debug("tls handshake failed", "err", err)
			return
		}
		s.conn.SetDeadline(time.Time{})
	}
	s.out = append(s.out, "* OK [CAPABILITY "...)
	s.out = s.appendCapabilities(s.out)
	s.out = append(s.out, "] Petrel ready\r\n"...)
	if err := s.flush(); err != nil {
		return
	}
	s.log.Debug("connected", "remote", s.conn.RemoteAddr().String(), "tls", s.tls)
	for s.state != loggedOut {
		if !s.next() {
			break
		}
	}
	s.log.Debug("disconnected", "user", s.user.Address, "seconds", time.Since(start).Seconds())
}

// next reads and runs one command; it reports whether to go on.
func (s *session) next() bool {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		s.bye("Server shutting down")
		return false
	}
	s.busy = false
	timeout := preAuthTimeout
	if s.state != notAuthenticated {
		timeout = s.srv.cfg.IdleTimeout
	}
	s.conn.SetReadDeadline(time.Now().Add(timeout))
	s.mu.Unlock()

	cmd, err := s.r.ReadCommand()

	s.mu.Lock()
	s.busy = true
	closing := s.closing
	s.mu.Unlock()
	if err != nil {
		var perr *wire.ParseError
		if errors.As(err, &perr) {
			metricCommand("BAD", "bad", 0)
			if perr.Fatal {
				s.bye(perr.Msg)
				return false
			}
			tag := perr.Tag
			if tag == "" {
				tag = "*"
			}
			s.out = s.tagged(s.out, tag, "BAD", perr.Code, perr.Msg)
			return s.flushIfIdle()
		}
		if closing {
			s.bye("Server shutting down")
			return false
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			s.bye("Autologout; idle for too long")
			return false
		}
		if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
			s.log.Debug("read command", "err", err)
		}
		return false
	}
	// The read deadline is for waiting; a command under way (an APPEND
	// literal) gets the autologout time.
	s.conn.SetReadDeadline(time.Now().Add(s.srv.cfg.IdleTimeout))
	s.run(cmd)
	if s.state == loggedOut {
		s.flush()
		return false
	}
	if _, isAppend := cmd.Args.(*wire.Append); isAppend {
		// An APPEND answered before its messages were all read (NO
		// [OVERQUOTA], [TOOBIG], [TRYCREATE]) leaves the rest of a
		// non-synchronizing literal in the buffer, which the next
		// ReadCommand skips (RFC 7888 section 4): it is not a pipelined
		// command, and the client sends nothing more before it has the
		// answer, so the answer must go out now.
		return s.flush() == nil
	}
	return s.flushIfIdle()
}

// flushIfIdle writes the responses out unless the client has pipelined more
// commands, whose responses then go in the same write.
func (s *session) flushIfIdle() bool {
	if s.r.Buffered() > 0 && len(s.out) < flushAt {
		return true
	}
	err := s.flush()
	if cap(s.out) > 16<<10 {
		// A session waiting for its client keeps little: the buffer a
		// big response grew is given back.
		s.out = nil
	}
	return err == nil
}

func (s *session) bye(text string) {
	s.out = append(s.out, "* BYE "...)
	s.out = append(s.out, text...)
	s.out = append(s.out, "\r\n"...)
	s.flush()
	s.state = loggedOut
}

// reply is how a command ends: its status (OK, NO, BAD), an optional
// response code (RFC 9051 section 7.1) and text.
type reply struct {
	status string
	code   string
	text   string
}

func (r *reply) Error() string { return r.status + " " + r.text }

func no(code, format string, args ...any) error {
	return &reply{"NO", code, fmt.Sprintf(format, args...)}
}

func bad(code, format string, args ...any) error {
	return &reply{"BAD", code, fmt.Sprintf(format, args...)}
}

func ok(code, text string) error { return &reply{"OK", code, text} }

// errFatal ends the session after the command (the BYE was sent).
var errFatal = errors.New("imap: session ended")

// errHandled says the command sent its tagged response itself (STARTTLS and
// COMPRESS, whose OK must go out before the connection changes).
var errHandled = errors.New("imap: command answered")

// commandSpec says in which states a command is allowed and what runs it.
type commandSpec struct {
	states state
	// noExpunge is set for commands during which EXPUNGE responses must
	// not be sent (RFC 9051 section 7.5.1): FETCH, STORE and SEARCH by
	// sequence number, whose numbers would shift under the client.
	noExpunge bool
	run       func(s *session, cmd *wire.Command) error
}

var commands map[string]commandSpec

func init() {
	any := notAuthenticated | authenticated | selectedState
	auth := authenticated | selectedState
	sel := selectedState
	commands = map[string]commandSpec{
		"CAPABILITY":   {states: any, run: (*session).cmdCapability},
		"NOOP":         {states: any, run: (*session).cmdNoop},
		"LOGOUT":       {states: any, run: (*session).cmdLogout},
		"ID":           {states: any, run: (*session).cmdID},
		"STARTTLS":     {states: notAuthenticated, run: (*session).cmdStartTLS},
		"LOGIN":        {states: notAuthenticated, run: (*session).cmdLogin},
		"AUTHENTICATE": {states: notAuthenticated, run: (*session).cmdAuthenticate},
		"ENABLE":       {states: auth, run: (*session).cmdEnable},
		"SELECT":       {states: auth, run: (*session).cmdSelect},
		"EXAMINE":      {states: auth, run: (*session).cmdSelect},
		"CREATE":       {states: auth, run: (*session).cmdCreate},
		"DELETE":       {states: auth, run: (*session).cmdDelete},
		"RENAME":       {states: auth, run: (*session).cmdRename},
		"SUBSCRIBE":    {states: auth, run: (*session).cmdSubscribe},
		"UNSUBSCRIBE":  {states: auth, run: (*session).cmdSubscribe},
		"LIST":         {states: auth, run: (*session).cmdList},
		"LSUB":         {states: auth, run: (*session).cmdList},
		"NAMESPACE":    {states: auth, run: (*session).cmdNamespace},
		"STATUS":       {states: auth, run: (*session).cmdStatus},
		"APPEND":       {states: auth, run: (*session).cmdAppend},
		"IDLE":         {states: auth, run: (*session).cmdIdle},
		"GETQUOTA":     {states: auth, run: (*session).cmdGetQuota},
		"GETQUOTAROOT": {states: auth, run: (*session).cmdGetQuotaRoot},
		"SETQUOTA":     {states: auth, run: (*session).cmdSetQuota},
		"COMPRESS":     {states: auth, run: (*session).cmdCompress},
		"CHECK":        {states: sel, run: (*session).cmdNoop},
		"CLOSE":        {states: sel, run: (*session).cmdClose},
		"UNSELECT":     {states: sel, run: (*session).cmdClose},
		"EXPUNGE":      {states: sel, run: (*session).cmdExpunge},
		"SEARCH":       {states: sel, noExpunge: true, run: (*session).cmdSearch},
		"SORT":         {states: sel, noExpunge: true, run: (*session).cmdSort},
		"THREAD":       {states: sel, noExpunge: true, run: (*session).cmdThread},
		"FETCH":        {states: sel, noExpunge: true, run: (*session).cmdFetch},
		"STORE":        {states: sel, noExpunge: true, run: (*session).cmdStore},
		"COPY":         {states: sel, run: (*session).cmdCopy},
		"MOVE":         {states: sel, run: (*session).cmdMove},
	}
}

// run runs one command and writes its responses.
func (s *session) run(cmd *wire.Command) {
	start := time.Now()
	spec, found := commands[cmd.Name]
	var err error
	switch {
	case !found:
		err = bad("", "Unknown command %s", cmd.Name)
	case spec.states&s.state == 0:
		switch {
		case s.state == notAuthenticated:
			err = bad("", "%s needs authentication first", cmd.Name)
		case spec.states == notAuthenticated:
			err = bad("", "Already authenticated")
		default:
			err = bad("", "No mailbox selected")
		}
	default:
		err = spec.run(s, cmd)
	}
	if errors.Is(err, errFatal) {
		s.state = loggedOut
		metricCommand(cmd.Name, "bye", time.Since(start))
		return
	}
	if errors.Is(err, errHandled) {
		metricCommand(cmd.Name, "ok", time.Since(start))
		return
	}
	if s.state == loggedOut {
		metricCommand(cmd.Name, "ok", time.Since(start))
		return
	}
	// Changes by other sessions (and this one) go out before the tagged
	// response (RFC 9051 section 7: unsolicited responses).
	if s.sel != nil {
		allowExpunge := cmd.UID || !spec.noExpunge
		if serr := s.sync(allowExpunge); serr != nil {
			if errors.Is(serr, errFatal) {
				return
			}
			s.log.Error("sync selected folder", "err", serr)
		}
	}
	var r *reply
	switch {
	case err == nil:
		name := cmd.Name
		if cmd.UID {
			name = "UID " + name
		}
		r = &reply{status: "OK", text: name + " completed"}
	case errors.As(err, &r):
	default:
		if errors.Is(err, context.Canceled) {
			r = &reply{"NO", "UNAVAILABLE", "Server shutting down"}
		} else if errors.Is(err, os.ErrNotExist) {
			s.log.Error("command failed: message file missing", "command", cmd.Name, "err", err)
			r = &reply{"NO", "SERVERBUG", "A message file is missing; the administrator was told"}
		} else {
			s.log.Error("command failed", "command", cmd.Name, "err", err)
			r = &reply{"NO", "SERVERBUG", "Internal error; the administrator was told"}
		}
	}
	s.out = s.tagged(s.out, cmd.Tag, r.status, r.code, r.text)
	metricCommand(cmd.Name, strings.ToLower(r.status), time.Since(start))
	s.log.Debug("command", "tag", cmd.Tag, "command", cmd.Name, "uid", cmd.UID, "status", r.status,
		"ms", float64(time.Since(start).Microseconds())/1000)
}

func (s *session) tagged(b []byte, tag, status, code, text string) []byte {
	b = append(b, tag...)
	b = append(b, ' ')
	b = append(b, status...)
	b = append(b, ' ')
	if code != "" {
		b = append(b, '[')
		b = append(b, code...)
		b = append(b, "] "...)
	}
	b = append(b, text...)
	return append(b, "\r\n"...)
}

// ctx is the context of store calls: commands finish even when the server
// stops (Stop waits for them), so it is not cancelled by shutdown.
func (s *session) ctx() context.Context { return context.Background() }

// mailboxName decodes a mailbox name argument per the connection's
// encoding (modified UTF-7 unless UTF-8 was enabled).
func (s *session) mailboxName(m wire.MailboxName) (string, error) {
	name, err := m.Decode(s.utf8)
	if err != nil {
		return "", bad("", "Invalid mailbox name: %v", err)
	}
	name = strings.TrimSuffix(name, store.Delimiter)
	if strings.EqualFold(name, store.Inbox) {
		name = store.Inbox
	} else if strings.HasPrefix(strings.ToUpper(name), store.Inbox+store.Delimiter) {
		// RFC 9051 section 5.1: INBOX is case-insensitive, also as the
		// top of a hierarchy.
		name = store.Inbox + name[len(store.Inbox):]
	}
	return name, nil
}

// storeError maps a store error to a reply.
func storeError(err error, what string) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, store.ErrNotFound):
		return no("NONEXISTENT", "%s does not exist", what)
	case errors.Is(err, store.ErrExists):
		return no("ALREADYEXISTS", "%s already exists", what)
	case errors.Is(err, store.ErrHasChildren):
		// RFC 9051 section 7.1: HASCHILDREN is the code for a mailbox
		// that is not deleted because it has children (INUSE is for a
		// mailbox in use by another session).
		return no("HASCHILDREN", "%s has subfolders; delete them first", what)
	case errors.Is(err, store.ErrOverQuota):
		return no("OVERQUOTA", "Over quota")
	case errors.Is(err, store.ErrInvalid):
		return no("CANNOT", "%v", err)
	}
	return err
}
