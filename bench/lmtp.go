package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-smtp"
)

// lmtpConfig is one LMTP delivery workload. Message i (0-based, counting the
// warm-up) is corpus[i % len(corpus)] and goes to users
// (i*rcpts + k) % len(users) for k < rcpts.
type lmtpConfig struct {
	conns    int
	messages int // timed messages
	warmup   int // untimed messages delivered first, on the same connections
	rcpts    int
}

type lmtpResult struct {
	timed      int             // messages delivered in the timed phase
	recipients int             // recipient deliveries in the timed phase
	elapsed    time.Duration   // wall time of the timed phase
	latencies  []time.Duration // per message, sorted
	delivered  int             // all messages delivered, warm-up included
	failures   int             // messages with any non-2xx reply or I/O error
	errors     []string        // first few failures
}

func (r *lmtpResult) msgsPerSec() float64 {
	if r.elapsed <= 0 {
		return 0
	}
	return float64(r.timed) / r.elapsed.Seconds()
}

func (r *lmtpResult) rcptsPerSec() float64 {
	if r.elapsed <= 0 {
		return 0
	}
	return float64(r.recipients) / r.elapsed.Seconds()
}

const (
	maxFailures   = 50 // abort a run after this many failed messages
	keptErrors    = 5
	lmtpTimeout   = 60 * time.Second
	lmtpLocalName = "bench-client.test"
)

type lmtpConn struct {
	ctx       context.Context
	addr      string
	c         *smtp.Client
	stopWatch func() bool
}

func (lc *lmtpConn) connect() error {
	var d net.Dialer
	dctx, cancel := context.WithTimeout(lc.ctx, 10*time.Second)
	conn, err := d.DialContext(dctx, "tcp", lc.addr)
	cancel()
	if err != nil {
		return err
	}
	// Closing the socket is the only way to interrupt a blocked client.
	lc.stopWatch = context.AfterFunc(lc.ctx, func() { conn.Close() })
	c := smtp.NewClientLMTP(conn)
	c.CommandTimeout = lmtpTimeout
	c.SubmissionTimeout = lmtpTimeout
	lc.c = c
	if err := c.Hello(lmtpLocalName); err != nil {
		lc.drop()
		return fmt.Errorf("LHLO: %w", err)
	}
	// Hello only records the name; force the greeting and LHLO now so the
	// first timed message does not pay for them.
	if err := c.Noop(); err != nil {
		lc.drop()
		return fmt.Errorf("LHLO/NOOP: %w", err)
	}
	return nil
}

// drop closes the connection without QUIT.
func (lc *lmtpConn) drop() {
	if lc.c != nil {
		lc.c.Close()
		lc.c = nil
	}
	if lc.stopWatch != nil {
		lc.stopWatch()
		lc.stopWatch = nil
	}
}

func (lc *lmtpConn) close() {
	if lc.c != nil && lc.ctx.Err() == nil {
		_ = lc.c.Quit()
	}
	lc.drop()
}

// deliver sends one message to rcpts and returns nil only if every
// recipient got a 2xx reply after DATA.
func (lc *lmtpConn) deliver(msg []byte, rcpts []string) error {
	if lc.c == nil {
		if err := lc.connect(); err != nil {
			return err
		}
	}
	c := lc.c
	if err := c.Mail(benchSender, &smtp.MailOptions{Size: int64(len(msg))}); err != nil {
		return lc.fail("MAIL FROM", err)
	}
	for _, r := range rcpts {
		if err := c.Rcpt(r, nil); err != nil {
			return lc.fail("RCPT TO:<"+r+">", err)
		}
	}
	w, err := c.Data()
	if err != nil {
		return lc.fail("DATA", err)
	}
	if _, err := w.Write(msg); err != nil {
		return lc.fail("DATA write", err)
	}
	resp, err := w.CloseWithLMTPResponse()
	if err != nil {
		var lerr smtp.LMTPDataError
		if errors.As(err, &lerr) && len(resp)+len(lerr) == len(rcpts) {
			// Complete transaction with per-recipient failures: the
			// connection is still usable.
			return fmt.Errorf("end of DATA: %w", err)
		}
		return lc.fail("end of DATA", err)
	}
	if len(resp) != len(rcpts) {
		return lc.fail("end of DATA", fmt.Errorf("%d replies for %d recipients", len(resp), len(rcpts)))
	}
	return nil
}

// fail resets the transaction after a failed command, or drops the
// connection if that is not possible.
func (lc *lmtpConn) fail(step string, err error) error {
	var serr *smtp.SMTPError
	if !errors.As(err, &serr) || lc.c.Reset() != nil {
		lc.drop()
	}
	return fmt.Errorf("%s: %w", step, err)
}

// runLMTP delivers cfg.warmup then cfg.messages messages over cfg.conns
// persistent LMTP connections to addr.
func runLMTP(ctx context.Context, addr string, users []string, corpus []message, cfg lmtpConfig) (*lmtpResult, error) {
	if len(corpus) == 0 {
		return nil, errors.New("empty corpus")
	}
	if cfg.rcpts < 1 || cfg.rcpts > len(users) {
		return nil, fmt.Errorf("%d recipients per message needs at least that many users (have %d)", cfg.rcpts, len(users))
	}
	conns := make([]*lmtpConn, cfg.conns)
	for i := range conns {
		conns[i] = &lmtpConn{ctx: ctx, addr: addr}
		if err := conns[i].connect(); err != nil {
			for _, c := range conns[:i] {
				c.close()
			}
			return nil, fmt.Errorf("connection %d: %w", i+1, err)
		}
	}
	defer func() {
		for _, c := range conns {
			c.close()
		}
	}()

	res := &lmtpResult{}
	var mu sync.Mutex
	var failed atomic.Int64
	phase := func(start, n int, timed bool) time.Duration {
		var next atomic.Int64
		var wg sync.WaitGroup
		t0 := time.Now()
		for _, lc := range conns {
			wg.Go(func() {
				var lats []time.Duration
				delivered, failures := 0, 0
				var errs []string
				rcpts := make([]string, cfg.rcpts)
				for ctx.Err() == nil && failed.Load() < maxFailures {
					j := int(next.Add(1)) - 1
					if j >= n {
						break
					}
					i := start + j
					m := corpus[i%len(corpus)]
					for k := range rcpts {
						rcpts[k] = users[(i*cfg.rcpts+k)%len(users)]
					}
					s := time.Now()
					err := lc.deliver(m.data, rcpts)
					d := time.Since(s)
					if err != nil {
						if ctx.Err() != nil {
							break
						}
						failures++
						failed.Add(1)
						if len(errs) < keptErrors {
							errs = append(errs, fmt.Sprintf("message #%d (%s, %d bytes) to %v: %v", i, m.name, len(m.data), rcpts, err))
						}
						continue
					}
					delivered++
					if timed {
						lats = append(lats, d)
					}
				}
				mu.Lock()
				defer mu.Unlock()
				res.delivered += delivered
				res.failures += failures
				for _, e := range errs {
					if len(res.errors) < keptErrors {
						res.errors = append(res.errors, e)
					}
				}
				if timed {
					res.latencies = append(res.latencies, lats...)
					res.timed += delivered
					res.recipients += delivered * cfg.rcpts
				}
			})
		}
		wg.Wait()
		return time.Since(t0)
	}
	phase(0, cfg.warmup, false)
	if err := ctx.Err(); err != nil {
		return res, err
	}
	res.elapsed = phase(cfg.warmup, cfg.messages, true)
	sort.Slice(res.latencies, func(i, j int) bool { return res.latencies[i] < res.latencies[j] })
	if err := ctx.Err(); err != nil {
		return res, err
	}
	if res.failures > 0 {
		return res, fmt.Errorf("%d message(s) not delivered to every recipient (first: %s)", res.failures, res.errors[0])
	}
	return res, nil
}

// percentile is the nearest-rank percentile (0 < p <= 100) of sorted.
func percentile(sorted []time.Duration, p float64) time.Duration {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	rank := int(math.Ceil(p * float64(n) / 100))
	if rank < 1 {
		rank = 1
	}
	if rank > n {
		rank = n
	}
	return sorted[rank-1]
}
