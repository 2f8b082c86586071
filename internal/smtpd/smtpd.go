// Package smtpd runs the LMTP listener (RFC 2033) and the inbound SMTP
// listener (RFC 5321, for mail addressed to local accounts: no relaying),
// both on github.com/emersion/go-smtp, both feeding the one delivery
// pipeline. LMTP answers with a status per recipient after DATA; SMTP with
// one status for the whole message.
//
// It owns protocol framing and the mapping of delivery errors to replies;
// it stores nothing itself.
package smtpd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync/atomic"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/petrelmail/petrel/internal/delivery"
)

// Config configures a listener.
type Config struct {
	// Hostname is announced in the greeting.
	Hostname string
	// LMTP selects LMTP (RFC 2033) rather than SMTP.
	LMTP bool
	// MaxRecipients bounds RCPT commands per transaction.
	MaxRecipients int
}

// Server is one LMTP or SMTP listener.
type Server struct {
	srv      *smtp.Server
	pipeline *delivery.Pipeline
	log      *slog.Logger
	// draining is set by Stop: new transactions get 421, those under way
	// finish and are answered.
	draining atomic.Bool
}

// New makes a listener that delivers through p.
func New(cfg Config, p *delivery.Pipeline, log *slog.Logger) *Server {
	s := &Server{pipeline: p, log: log}
	srv := smtp.NewServer(backend{s})
	srv.LMTP = cfg.LMTP
	srv.Domain = cfg.Hostname
	// go-smtp refuses a message of exactly MaxMessageBytes; the limit is
	// "the largest message accepted", so the pipeline's own check decides.
	srv.MaxMessageBytes = p.Config().MaxMessageSize + 1
	// go-smtp applies its line limit to message data too. Messages with
	// lines longer than RFC 5322's 998 octets are common and must be
	// stored byte-exact, so the limit is set above the message size limit:
	// the size limit (552 5.3.4) is what refuses a huge single line.
	srv.MaxLineLength = int(2*p.Config().MaxMessageSize) + 4096
	if cfg.MaxRecipients <= 0 {
		cfg.MaxRecipients = 1000
	}
	srv.MaxRecipients = cfg.MaxRecipients
	srv.ReadTimeout = 5 * time.Minute
	srv.WriteTimeout = 5 * time.Minute
	srv.ErrorLog = slogAdapter{log}
	s.srv = srv
	return s
}

// Serve accepts connections on l until Close.
func (s *Server) Serve(l net.Listener) error {
	err := s.srv.Serve(l)
	if errors.Is(err, smtp.ErrServerClosed) {
		return nil
	}
	return err
}

// Close stops accepting and closes open connections.
func (s *Server) Close() error { return s.srv.Close() }

// Stop stops cleanly: it stops accepting connections, answers new
// transactions with 421 4.3.2 (RFC 5321 section 3.8: the client tries again
// later), lets the transactions under way finish and be answered, and
// closes whatever is still open when ctx ends. A delivery that is committed
// is therefore always answered, and the sender does not send it twice.
func (s *Server) Stop(ctx context.Context) error {
	s.draining.Store(true)
	err := s.srv.Shutdown(ctx)
	if err != nil {
		s.srv.Close()
	}
	if errors.Is(err, smtp.ErrServerClosed) {
		return nil
	}
	return err
}

type slogAdapter struct{ log *slog.Logger }

func (a slogAdapter) Printf(format string, v ...any) {
	a.log.Warn("smtp", "detail", fmt.Sprintf(format, v...))
}
func (a slogAdapter) Println(v ...any) { a.log.Warn("smtp", "detail", fmt.Sprint(v...)) }

type backend struct{ s *Server }

func (b backend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	return &session{s: b.s, remote: c.Conn().RemoteAddr().String()}, nil
}

type session struct {
	s      *Server
	remote string
	rcpts  []delivery.Recipient
}

var (
	_ smtp.Session     = (*session)(nil)
	_ smtp.LMTPSession = (*session)(nil)
)

func toSMTP(err error) error {
	if err == nil {
		return nil
	}
	var e *delivery.Error
	if errors.As(err, &e) {
		return &smtp.SMTPError{Code: e.Code, EnhancedCode: smtp.EnhancedCode(e.Enhanced), Message: e.Message}
	}
	return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "temporary local error"}
}

var errShuttingDown = &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 3, 2}, Message: "shutting down, try again later"}

func (s *session) Mail(from string, opts *smtp.MailOptions) error {
	if s.s.draining.Load() {
		return errShuttingDown
	}
	// RFC 1870 section 6: a declared SIZE over the limit is refused at once.
	if opts != nil && opts.Size > 0 && opts.Size > s.s.pipeline.Config().MaxMessageSize {
		return toSMTP(delivery.ErrTooLarge)
	}
	s.rcpts = s.rcpts[:0]
	return nil
}

func (s *session) Rcpt(to string, opts *smtp.RcptOptions) error {
	r, err := s.s.pipeline.Resolve(context.Background(), to)
	if err != nil {
		return toSMTP(err)
	}
	s.rcpts = append(s.rcpts, r)
	return nil
}

// Data is SMTP's DATA: one status for every recipient. With several
// recipients, a message delivered to some and refused for others is
// reported as delivered only if all succeeded; otherwise the first failure
// is returned (the sender retries or bounces for everyone).
func (s *session) Data(r io.Reader) error {
	statuses := s.s.pipeline.Deliver(context.Background(), s.rcpts, dataReader{r})
	for _, st := range statuses {
		if st != nil {
			return toSMTP(st)
		}
	}
	return nil
}

// LMTPData is LMTP's DATA: RFC 2033 section 4.2, one reply per recipient
// that was accepted at RCPT, in RCPT order.
func (s *session) LMTPData(r io.Reader, status smtp.StatusCollector) error {
	statuses := s.s.pipeline.Deliver(context.Background(), s.rcpts, dataReader{r})
	for i, rc := range s.rcpts {
		status.SetStatus(rc.Address, toSMTP(statuses[i]))
	}
	return nil
}

// dataReader reports go-smtp's own size-limit error as delivery's, so that
// the pipeline answers 552 5.3.4 whichever limit is reached first.
type dataReader struct{ r io.Reader }

func (d dataReader) Read(p []byte) (int, error) {
	n, err := d.r.Read(p)
	if err == smtp.ErrDataTooLarge {
		err = delivery.ErrTooLarge
	}
	return n, err
}

func (s *session) Reset()        { s.rcpts = s.rcpts[:0] }
func (s *session) Logout() error { return nil }
