// Package imap is Petrel's IMAP server: IMAP4rev1 (RFC 3501) and IMAP4rev2
// (RFC 9051) with the extensions desktop and mobile clients sync with
// (CONDSTORE/QRESYNC, IDLE, MOVE, SPECIAL-USE, ESEARCH, SORT/THREAD,
// QUOTA, COMPRESS and the rest listed in capabilities.go).
//
// What it owns: sessions (states, selected folder, the sequence number to
// UID map, what the client enabled), the meaning of every command, and
// turning store changes into untagged responses. Command syntax is read by
// package wire; FETCH items are rendered by package render; SEARCH, SORT
// and THREAD are evaluated by package search.
//
// What it must not touch: storage rules. Every change goes through
// store.Mailbox (or delivery.Batch for APPEND, which applies the same
// limits as delivery), and the store knows no IMAP.
package imap

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/petrelmail/petrel/internal/delivery"
	"github.com/petrelmail/petrel/internal/directory"
	"github.com/petrelmail/petrel/internal/fts"
	"github.com/petrelmail/petrel/internal/imap/wire"
	"github.com/petrelmail/petrel/internal/replication"
	"github.com/petrelmail/petrel/internal/store"
	"github.com/petrelmail/petrel/internal/throttle"
)

// Config configures the IMAP server.
type Config struct {
	// Hostname is announced in the greeting.
	Hostname string
	// TLS is the certificate configuration for STARTTLS and implicit TLS;
	// nil disables both.
	TLS *tls.Config
	// PlaintextAuth allows LOGIN and AUTHENTICATE without TLS from any
	// address. Without it, they are allowed without TLS only on loopback
	// connections (RFC 9051 section 11.1: LOGINDISABLED otherwise).
	PlaintextAuth bool
	// MaxAppend is the largest message accepted by APPEND (RFC 7889).
	MaxAppend int64
	// Index narrows text searches (package replication's Manager); nil
	// makes every SEARCH read every message of the folder.
	Index TextIndex
	// Throttle counts failed LOGIN and AUTHENTICATE attempts per source
	// address and per account (shared with the HTTP API); nil throttles
	// nothing but the one-second delay of each failure.
	Throttle *throttle.Throttle
	// IdleTimeout is the autologout timer of an authenticated session
	// (RFC 9051 section 5.4: at least 30 minutes); 0 means 30 minutes.
	IdleTimeout time.Duration
}

// TextIndex is the full-text index as SEARCH sees it: which bodies of a
// shard may satisfy a condition, and the watermark below which that answer
// is complete (see replication.Candidates).
type TextIndex interface {
	Candidates(ctx context.Context, shard int, cond fts.Cond) (replication.Candidates, bool, error)
	Docs(ctx context.Context, shard int, want map[int64][32]byte, fn func(id int64, d fts.Doc) bool) error
}

// Server serves IMAP on any number of listeners.
type Server struct {
	cfg      Config
	dir      *directory.Directory
	store    *store.Store
	pipeline *delivery.Pipeline
	log      *slog.Logger
	hub      *hub
	render   *renderCache

	mu        sync.Mutex
	listeners map[net.Listener]bool
	conns     map[*session]bool
	notifiers map[int]*Notifier // by shard, for the life of the server
	stopping  atomic.Bool
	wg        sync.WaitGroup
}

// New makes a server. Sessions learn of changes made elsewhere through
// the Notifiers (one per shard) that the shards' replicators feed; without
// them a session still sees every change at its next command, but IDLE
// waits for nothing.
func New(cfg Config, dir *directory.Directory, st *store.Store, p *delivery.Pipeline, log *slog.Logger) *Server {
	if cfg.MaxAppend <= 0 {
		cfg.MaxAppend = p.Config().MaxMessageSize
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = 30 * time.Minute
	}
	s := &Server{cfg: cfg, dir: dir, store: st, pipeline: p, log: log, render: newRenderCache(),
		listeners: map[net.Listener]bool{}, conns: map[*session]bool{}, notifiers: map[int]*Notifier{}}
	s.hub = newHub(len(st.Shards()), log)
	return s
}

// Serve accepts connections on l until Stop; with implicitTLS each
// connection starts with a TLS handshake (port 993 style, RFC 8314).
func (s *Server) Serve(l net.Listener, implicitTLS bool) error {
	if implicitTLS && s.cfg.TLS == nil {
		return errors.New("imap: implicit TLS listener without a certificate")
	}
	s.mu.Lock()
	if s.stopping.Load() {
		s.mu.Unlock()
		return nil
	}
	s.listeners[l] = true
	s.mu.Unlock()
	var delay time.Duration
	for {
		c, err := l.Accept()
		if err != nil {
			if s.stopping.Load() {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				time.Sleep(delay)
				continue
			}
			return err
		}
		delay = 0
		if implicitTLS {
			c = tls.Server(c, s.cfg.TLS)
		}
		sess := newSession(s, c, implicitTLS)
		s.mu.Lock()
		if s.stopping.Load() {
			s.mu.Unlock()
			c.Close()
			return nil
		}
		s.conns[sess] = true
		s.wg.Add(1)
		s.mu.Unlock()
		go func() {
			defer s.wg.Done()
			sess.serve()
			s.mu.Lock()
			delete(s.conns, sess)
			s.mu.Unlock()
		}()
	}
}

// Stop closes the listeners and ends every session: a session waiting for
// a command gets "* BYE" at once, a command under way finishes first (so
// an APPEND is answered). Sessions still busy when ctx ends are closed.
func (s *Server) Stop(ctx context.Context) error {
	s.mu.Lock()
	s.stopping.Store(true)
	for l := range s.listeners {
		l.Close()
	}
	for c := range s.conns {
		c.shutdown()
	}
	s.mu.Unlock()
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		s.mu.Lock()
		for c := range s.conns {
			c.conn.Close()
		}
		s.mu.Unlock()
		<-done
		err = ctx.Err()
	}
	return err
}

// limits are the wire limits of a session.
func (s *Server) limits() wire.Limits {
	return wire.Limits{MaxAppend: s.cfg.MaxAppend}
}
