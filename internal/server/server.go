// Package server assembles a running Petrel from its parts: it opens the
// directory and the store of a data folder, starts the listeners and the
// background collector, and stops them in order. It owns process-level
// concerns (the data folder lock, signals, the HTTP mux); every protocol and
// storage rule lives in the packages it starts.
package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/petrelmail/petrel/internal/api"
	"github.com/petrelmail/petrel/internal/config"
	"github.com/petrelmail/petrel/internal/delivery"
	"github.com/petrelmail/petrel/internal/directory"
	"github.com/petrelmail/petrel/internal/imap"
	"github.com/petrelmail/petrel/internal/replication"
	"github.com/petrelmail/petrel/internal/smtpd"
	"github.com/petrelmail/petrel/internal/store"
	"github.com/petrelmail/petrel/internal/throttle"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/sys/unix"
)

// Data is a data folder opened for use: its directory and its store.
type Data struct {
	Dir       string
	Directory *directory.Directory
	Store     *store.Store
}

// OpenData opens the directory and store of a data folder, creating them on
// first use with the given shard count.
func OpenData(ctx context.Context, dir string, shards int) (*Data, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, err
	}
	n, err := store.ShardCount(dir, shards)
	if err != nil {
		return nil, err
	}
	st, err := store.Open(ctx, dir, store.Options{Shards: n})
	if err != nil {
		return nil, err
	}
	d, err := directory.Open(ctx, filepath.Join(dir, "directory.db"), n)
	if err != nil {
		st.Close()
		return nil, err
	}
	return &Data{Dir: dir, Directory: d, Store: st}, nil
}

// Close closes the directory and the store.
func (d *Data) Close() error {
	err1 := d.Store.Close()
	err2 := d.Directory.Close()
	return errors.Join(err1, err2)
}

// Mailbox finds an account by address and returns its mailbox handle.
func (d *Data) Mailbox(ctx context.Context, address string) (directory.User, *store.Mailbox, error) {
	u, err := d.Directory.User(ctx, address)
	if err != nil {
		return u, nil, err
	}
	mb, err := d.Store.Mailbox(u.Shard, u.ID)
	return u, mb, err
}

// lockDataDir takes the data folder's server lock: one serving process per
// data folder. Admin commands that work on the folder themselves (no
// server running) hold it shared for the moment they run
// (api.LockShared); the server waits for them rather than failing.
func lockDataDir(dir string) (*os.File, error) {
	path := filepath.Join(dir, "serve.lock")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o640)
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			break
		}
		// Held exclusively (another server), or shared (admin commands)?
		if unix.Flock(int(f.Fd()), unix.LOCK_SH|unix.LOCK_NB) != nil {
			b, _ := os.ReadFile(path)
			f.Close()
			return nil, fmt.Errorf("another petrel serve is running on %s (pid %s)", dir, string(b))
		}
		unix.Flock(int(f.Fd()), unix.LOCK_UN)
		if time.Now().After(deadline) {
			f.Close()
			return nil, fmt.Errorf("admin commands have held %s for 30 s; try again", dir)
		}
		time.Sleep(50 * time.Millisecond)
	}
	f.Truncate(0)
	f.WriteAt([]byte(strconv.Itoa(os.Getpid())), 0)
	return f, nil
}

// Run serves until ctx ends, then shuts down in order: listeners first,
// then the store (after the operations already queued have committed).
func Run(ctx context.Context, cfg config.Config, log *slog.Logger) error {
	if err := cfg.Check(); err != nil {
		return err
	}
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return err
	}
	lock, err := lockDataDir(cfg.DataDir)
	if err != nil {
		return err
	}
	defer lock.Close()

	if os.Getenv("GOGC") == "" {
		defer startGCTuner(cfg.GCPercent, uint64(cfg.GCHeadroom))() // gc.go
	}

	data, err := OpenData(ctx, cfg.DataDir, cfg.Shards)
	if err != nil {
		return err
	}
	defer data.Close()
	if n, err := data.Store.Blobs().CleanTemp(time.Hour); err == nil && n > 0 {
		log.Info("removed interrupted receptions", "files", n)
	}

	pipeline := delivery.New(data.Directory, data.Store, delivery.Config{
		MaxMessageSize: int64(cfg.MaxMessageSize), DiskReserve: int64(cfg.DiskReserve), DataDir: cfg.DataDir,
	}, log.With("part", "delivery"))

	// A stopper stops a listener, cleanly within the context's time.
	type stopper func(context.Context) error
	var (
		wg       sync.WaitGroup
		stoppers []stopper
		serveErr = make(chan error, 8)
	)
	listen := func(name, addr string, serve func(net.Listener) error, stop stopper) error {
		if addr == "" {
			return nil
		}
		l, err := net.Listen("tcp", addr)
		if err != nil {
			return fmt.Errorf("%s listener: %w", name, err)
		}
		log.Info("listening", "protocol", name, "addr", l.Addr().String())
		stoppers = append(stoppers, stop)
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := serve(l); err != nil {
				serveErr <- fmt.Errorf("%s: %w", name, err)
			}
		}()
		return nil
	}
	stopAll := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		var swg sync.WaitGroup
		for _, stop := range stoppers {
			swg.Add(1)
			go func() {
				defer swg.Done()
				if err := stop(ctx); err != nil {
					log.Warn("listener did not stop cleanly", "err", err)
				}
			}()
		}
		swg.Wait()
		wg.Wait()
	}

	lmtp := smtpd.New(smtpd.Config{Hostname: cfg.Hostname, LMTP: true}, pipeline, log.With("part", "lmtp"))
	if err := listen("lmtp", cfg.LMTPAddr, lmtp.Serve, lmtp.Stop); err != nil {
		stopAll()
		return err
	}
	smtp := smtpd.New(smtpd.Config{Hostname: cfg.Hostname}, pipeline, log.With("part", "smtp"))
	if err := listen("smtp", cfg.SMTPAddr, smtp.Serve, smtp.Stop); err != nil {
		stopAll()
		return err
	}
	// Failed authentications are counted across IMAP and the API.
	authThrottle := throttle.New(throttle.Config{AddressFailures: cfg.AuthFailuresAddress,
		AccountFailures: cfg.AuthFailuresAccount, Window: cfg.AuthFailWindow})

	// The replicators: one per shard, applying its change log to the
	// search index and to the IMAP sessions' notifications.
	var imapSrv *imap.Server
	repl, err := replication.Open(ctx, data.Store, replication.Options{DataDir: cfg.DataDir, Log: log.With("part", "replication"),
		LogRetention: cfg.ChangeLogRetention,
		Consumers: func(shard int) []replication.Consumer {
			if imapSrv == nil {
				return nil
			}
			return []replication.Consumer{imapSrv.Notifier(shard)}
		}})
	if err != nil {
		stopAll()
		return err
	}
	defer repl.Close()

	if cfg.IMAPAddr != "" || cfg.IMAPSAddr != "" {
		tlsConfig, err := imap.LoadTLS(cfg.TLSCert, cfg.TLSKey, cfg.DataDir, cfg.Hostname)
		if err != nil {
			stopAll()
			return err
		}
		imapSrv = imap.New(imap.Config{Hostname: cfg.Hostname, TLS: tlsConfig, PlaintextAuth: cfg.PlaintextAuth, Index: repl, Throttle: authThrottle},
			data.Directory, data.Store, pipeline, log.With("part", "imap"))
		stopIMAP := imapSrv.Stop
		for _, l := range []struct {
			name, addr string
			implicit   bool
		}{{"imap", cfg.IMAPAddr, false}, {"imaps", cfg.IMAPSAddr, true}} {
			if err := listen(l.name, l.addr, func(ln net.Listener) error { return imapSrv.Serve(ln, l.implicit) }, stopIMAP); err != nil {
				stopAll()
				return err
			}
			if l.addr != "" {
				// One Stop stops both listeners.
				stopIMAP = func(context.Context) error { return nil }
			}
		}
	}

	// The HTTP API, on the HTTP listener (with /metrics and /healthz)
	// and, as the local administrator, on the data folder's socket.
	apiHandler := api.New(api.Options{Directory: data.Directory, Store: data.Store, Pipeline: pipeline,
		Replication: repl, Throttle: authThrottle, Log: log.With("part", "api")})
	httpSrv := &http.Server{Handler: httpHandler(data, apiHandler), ReadHeaderTimeout: 10 * time.Second}
	if err := listen("http", cfg.HTTPAddr, func(l net.Listener) error {
		if err := httpSrv.Serve(l); !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	}, httpSrv.Shutdown); err != nil {
		stopAll()
		return err
	}
	localLn, err := api.ListenLocal(cfg.DataDir)
	if err != nil {
		stopAll()
		return fmt.Errorf("admin socket: %w", err)
	}
	localSrv := &http.Server{Handler: apiHandler.Local(), ReadHeaderTimeout: 10 * time.Second}
	stoppers = append(stoppers, localSrv.Shutdown)
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := localSrv.Serve(localLn); !errors.Is(err, http.ErrServerClosed) {
			serveErr <- fmt.Errorf("admin socket: %w", err)
		}
	}()

	replCtx, stopRepl := context.WithCancel(ctx)
	defer stopRepl()
	repl.Start(replCtx)

	collectorDone := make(chan struct{})
	collectorCtx, stopCollector := context.WithCancel(ctx)
	go func() {
		defer close(collectorDone)
		collect(collectorCtx, data.Store, log.With("part", "collector"))
	}()

	log.Info("petrel ready", "data", cfg.DataDir, "shards", len(data.Store.Shards()))
	select {
	case <-ctx.Done():
		log.Info("shutting down")
	case err = <-serveErr:
		log.Error("listener failed", "err", err)
	}
	stopCollector()
	<-collectorDone
	stopAll()
	return err
}

// collect runs the blob collector: candidates every minute, a sweep for
// orphans (bodies of deliveries interrupted by a crash) at start and daily.
func collect(ctx context.Context, st *store.Store, log *slog.Logger) {
	tick := time.NewTicker(time.Minute)
	defer tick.Stop()
	lastSweep := time.Time{}
	for {
		if n, err := st.CollectGarbage(ctx, time.Minute); err != nil && ctx.Err() == nil {
			log.Error("collect bodies", "err", err)
		} else if n > 0 {
			log.Info("collected bodies", "removed", n)
		}
		if time.Since(lastSweep) > 24*time.Hour {
			if n, err := st.SweepOrphans(ctx, time.Hour); err != nil && ctx.Err() == nil {
				log.Error("sweep orphan bodies", "err", err)
			} else if n > 0 {
				log.Info("swept orphan bodies", "removed", n)
			}
			lastSweep = time.Now()
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// httpHandler serves the HTTP listener: the API under /api/ (given the
// request as it came, so that it can refuse "..", "//" and the like
// rather than have the mux redirect them), the rest from a mux.
func httpHandler(data *Data, apiHandler http.Handler) http.Handler {
	mux := httpMux(data)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/api/") || r.URL.Path == "/api" {
			apiHandler.ServeHTTP(w, r)
			return
		}
		mux.ServeHTTP(w, r)
	})
}

func httpMux(data *Data) *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.Handler())
	// Profiles for diagnosing a running server; the HTTP listener is on
	// loopback by default.
	mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		type shardState struct {
			Shard int   `json:"shard"`
			Head  int64 `json:"changelog_head"`
		}
		var out struct {
			Status string       `json:"status"`
			Shards []shardState `json:"shards"`
		}
		out.Status = "ok"
		for _, sh := range data.Store.Shards() {
			head, err := sh.Head(r.Context())
			if err != nil {
				out.Status = "degraded"
			}
			out.Shards = append(out.Shards, shardState{Shard: sh.Index, Head: head})
		}
		w.Header().Set("Content-Type", "application/json")
		if out.Status != "ok" {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		json.NewEncoder(w).Encode(out)
	})
	return mux
}
