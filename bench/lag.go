package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// The lag step (issue 4: "the lag from an LMTP 250 to the message being
// found by search, p99, under steady LMTP load"): cfg.conns LMTP
// connections deliver small messages to the user at a steady cfg.rate
// (message i is due at start + i/rate; a connection that falls behind
// sends the next one at once) for cfg.duration; each message has a token of
// its own in its Subject and body. Meanwhile one IMAP connection takes a
// probe: the next message whose 250 arrives once it is free, and polls for
// it with NOOP + `UID SEARCH BODY token` (pipelined: the NOOP lets the
// session see the new messages), again every lagPollGap after an answer
// until a SEARCH finds it.
// The lag of the probe is the time from the 250 to that SEARCH's answer;
// then the next probe. After the deliveries, the last probe has cfg.drain
// to be found. A SEARCH not answered within cfg.searchTimeout ends the
// probing (the probe counts as not found).

type lagConfig struct {
	rate          float64 // messages per second offered
	duration      time.Duration
	conns         int
	drain         time.Duration
	searchTimeout time.Duration
}

type lagResult struct {
	offered    float64
	due        int // messages due over the duration
	delivered  int
	failures   int
	errors     []string
	elapsed    time.Duration   // first message due → last 250 of the phase
	latencies  []time.Duration // LMTP MAIL FROM → 250, sorted
	lags       []time.Duration // found probes, sorted
	probes     int
	notFound   int
	timedOut   bool // a SEARCH had no answer within searchTimeout
	searches   int
	searchTime time.Duration
}

func (r *lagResult) rate() float64 { return perSec(float64(r.delivered), r.elapsed) }

// lagToken is the unique word of message i of a run: letters only, so that
// every server's tokenizer keeps it whole.
func lagToken(nonce string, i int) string {
	var b strings.Builder
	b.WriteString("zq")
	b.WriteString(nonce)
	x := i
	for k := 0; k < 6; k++ {
		b.WriteByte(byte('a' + x%26))
		x /= 26
	}
	return b.String()
}

// lagMessage is a small text/plain message carrying the token.
func lagMessage(user, nonce string, i int) []byte {
	tok := lagToken(nonce, i)
	var b strings.Builder
	fmt.Fprintf(&b, "Return-Path: <%s>\r\n", benchSender)
	fmt.Fprintf(&b, "From: Lag Probe <%s>\r\n", benchSender)
	fmt.Fprintf(&b, "To: <%s>\r\n", user)
	fmt.Fprintf(&b, "Subject: steady load %d %s\r\n", i, tok)
	fmt.Fprintf(&b, "Date: %s\r\n", time.Now().UTC().Format(time.RFC1123Z))
	fmt.Fprintf(&b, "Message-ID: <lag.%s.%d@%s>\r\n", nonce, i, benchDomain)
	b.WriteString("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n")
	fmt.Fprintf(&b, "Message %d of the steady delivery load. Its token is %s.\r\n\r\n", i, tok)
	for k := 0; k < 12; k++ {
		b.WriteString("The quick brown fox jumps over the lazy dog while the benchmark keeps delivering mail.\r\n")
	}
	return []byte(b.String())
}

// lagPollGap is the pause between two SEARCHes that did not find the
// probe: the resolution of the lag, and a bound on the load the poller
// adds.
const lagPollGap = 10 * time.Millisecond

type lagProbe struct {
	token string
	at    time.Time // the 250
}

func runLag(ctx context.Context, t imapServer, user string, cfg lagConfig) (*lagResult, error) {
	res := &lagResult{offered: cfg.rate}
	if cfg.rate <= 0 || cfg.duration <= 0 {
		return res, errors.New("no rate or duration")
	}
	nonce := ""
	for range 4 {
		nonce += string(rune('a' + rand.IntN(26)))
	}
	due := int(cfg.rate * cfg.duration.Seconds())
	res.due = due

	// The poller's connection first, so that it is ready for the first
	// probe.
	pc, err := dialIMAP(ctx, t.IMAPAddr(), 16<<10)
	if err != nil {
		return res, fmt.Errorf("SEARCH connection: %w", err)
	}
	defer pc.close()
	if err := pc.login(user, benchPassword); err != nil {
		return res, err
	}
	if _, err := pc.selectMailbox(benchMailbox); err != nil {
		return res, err
	}
	conns := make([]*lmtpConn, max(cfg.conns, 1))
	for i := range conns {
		conns[i] = &lmtpConn{ctx: ctx, addr: t.LMTPAddr()}
		if err := conns[i].connect(); err != nil {
			for _, c := range conns[:i] {
				c.close()
			}
			return res, fmt.Errorf("LMTP connection %d: %w", i+1, err)
		}
	}
	defer func() {
		for _, c := range conns {
			c.close()
		}
	}()

	var want atomic.Bool
	probes := make(chan lagProbe, 1)
	deliveryDone := make(chan struct{})
	var doneAt time.Time
	var mu sync.Mutex
	var next atomic.Int64
	var failed atomic.Int64
	var last250 time.Time
	start := time.Now().Add(50 * time.Millisecond)
	end := start.Add(cfg.duration)
	var wg sync.WaitGroup
	for _, lc := range conns {
		wg.Go(func() {
			var lats []time.Duration
			var errs []string
			delivered, failures := 0, 0
			var latest time.Time
			rcpt := []string{user}
			for ctx.Err() == nil && failed.Load() < maxFailures {
				i := int(next.Add(1)) - 1
				if i >= due {
					break
				}
				at := start.Add(time.Duration(float64(i) / cfg.rate * float64(time.Second)))
				if d := time.Until(at); d > 0 {
					if sleepCtx(ctx, d) != nil {
						break
					}
				}
				if time.Now().After(end) {
					break // behind schedule: the phase is over
				}
				s := time.Now()
				err := lc.deliver(lagMessage(user, nonce, i), rcpt)
				now := time.Now()
				if err != nil {
					if ctx.Err() != nil {
						break
					}
					failures++
					failed.Add(1)
					if len(errs) < keptErrors {
						errs = append(errs, fmt.Sprintf("message #%d: %v", i, err))
					}
					continue
				}
				delivered++
				lats = append(lats, now.Sub(s))
				latest = now
				if want.CompareAndSwap(true, false) {
					probes <- lagProbe{token: lagToken(nonce, i), at: now}
				}
			}
			mu.Lock()
			defer mu.Unlock()
			res.delivered += delivered
			res.failures += failures
			res.latencies = append(res.latencies, lats...)
			for _, e := range errs {
				if len(res.errors) < keptErrors {
					res.errors = append(res.errors, e)
				}
			}
			if latest.After(last250) {
				last250 = latest
			}
		})
	}
	go func() {
		wg.Wait()
		mu.Lock()
		doneAt = time.Now()
		mu.Unlock()
		close(deliveryDone)
	}()

	pollErr := lagPoll(ctx, pc, cfg, res, &want, probes, deliveryDone, func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		return doneAt
	})
	want.Store(false)
	<-deliveryDone
	if !last250.IsZero() {
		res.elapsed = last250.Sub(start)
	}
	sort.Slice(res.latencies, func(i, j int) bool { return res.latencies[i] < res.latencies[j] })
	sort.Slice(res.lags, func(i, j int) bool { return res.lags[i] < res.lags[j] })
	logf("imap, %s: lag: %d/%d msgs delivered in %.1fs (%.0f msg/s offered, %.0f delivered), %d probes, %d found, p50 %s, p99 %s, %d SEARCHes%s",
		t.Name(), res.delivered, due, res.elapsed.Seconds(), cfg.rate, res.rate(), res.probes, len(res.lags),
		fmtMs(ms(percentile(res.lags, 50))), fmtMs(ms(percentile(res.lags, 99))), res.searches, map[bool]string{true: " (a SEARCH timed out)", false: ""}[res.timedOut])
	if err := ctx.Err(); err != nil {
		return res, err
	}
	if res.failures > 0 {
		return res, fmt.Errorf("%d deliveries failed (first: %s)", res.failures, res.errors[0])
	}
	if pollErr != nil {
		return res, pollErr
	}
	if res.delivered == 0 {
		return res, errors.New("nothing delivered")
	}
	if res.probes > 0 && len(res.lags) == 0 && !res.timedOut {
		return res, fmt.Errorf("none of %d probed messages was found by SEARCH BODY within %s after its 250", res.probes, cfg.drain)
	}
	return res, nil
}

// lagPoll takes probes one after the other and searches for each until
// found. It returns a SEARCH error (NO, BAD, I/O), nil otherwise.
func lagPoll(ctx context.Context, c *imapConn, cfg lagConfig, res *lagResult, want *atomic.Bool, probes <-chan lagProbe,
	done <-chan struct{}, doneAt func() time.Time) error {
	for ctx.Err() == nil {
		want.Store(true)
		var p lagProbe
		select {
		case p = <-probes:
		case <-done:
			select {
			case p = <-probes:
			default:
				return nil
			}
		case <-ctx.Done():
			return ctx.Err()
		}
		res.probes++
		for {
			found, err := pollOnce(c, p.token, cfg.searchTimeout, res)
			if err != nil {
				var ne interface{ Timeout() bool }
				if errors.As(err, &ne) && ne.Timeout() {
					res.timedOut = true
					res.notFound++
					return nil
				}
				if ctx.Err() != nil {
					return ctx.Err()
				}
				return fmt.Errorf("UID SEARCH BODY %s: %w", p.token, err)
			}
			if found {
				res.lags = append(res.lags, time.Since(p.at))
				break
			}
			select {
			case <-done:
				if time.Since(doneAt()) > cfg.drain {
					res.notFound++
					return nil
				}
			default:
			}
			if err := sleepCtx(ctx, lagPollGap); err != nil {
				return err
			}
		}
	}
	return ctx.Err()
}

// pollOnce sends NOOP and UID SEARCH BODY token pipelined and tells
// whether the SEARCH found a message.
func pollOnce(c *imapConn, token string, timeout time.Duration, res *lagResult) (bool, error) {
	_ = c.conn.SetDeadline(time.Now().Add(timeout))
	defer c.conn.SetDeadline(time.Time{})
	t0 := time.Now()
	c.tag++
	noop := "A" + strconv.Itoa(c.tag)
	c.tag++
	search := "A" + strconv.Itoa(c.tag)
	c.w.WriteString(noop + " NOOP\r\n" + search + " UID SEARCH BODY " + token + "\r\n")
	if err := c.w.Flush(); err != nil {
		return false, err
	}
	// A server may run pipelined commands concurrently (Dovecot answers
	// the SEARCH before the NOOP): read until both are complete.
	count := 0
	err := c.completeAll([]string{noop, search}, func(text []byte, _ int64) error {
		if n, ok := searchCount(text); ok {
			count += n
		}
		return nil
	})
	res.searches++
	res.searchTime += time.Since(t0)
	if err != nil {
		return false, err
	}
	return count > 0, nil
}
