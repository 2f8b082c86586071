// Package throttle slows down password guessing: it counts failed
// authentications per source address and per account, in memory, and
// refuses further attempts (before any password is checked) while either
// count is over its limit. IMAP LOGIN/AUTHENTICATE and the HTTP API share
// one Throttle, so guesses spread over protocols count together.
//
// The two counts answer two attacks. The per-address count stops one
// client trying many passwords (on one account or many). The per-account
// count stops many clients each trying a few passwords on one account. An
// attempt refused because its address is throttled is not counted against
// the account, so a thousand guesses from one address lock that address
// out but not the account: its owner logging in from elsewhere is not
// affected. And the account's owner is not locked out by a distributed
// attack either, on the addresses they logged in from before: a source
// that authenticated as an account is exempt from that account's lockout
// for TrustFor (30 days by default).
//
// Counts decay linearly: an address allowed 10 failures per 15 minutes
// regains one every 90 seconds. Nothing is stored on disk; a restart
// forgets every count. It knows no protocol: callers say which one they
// are, for the metrics.
package throttle

import (
	"math"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"
)

// Config sets the limits. Zero values take the defaults.
type Config struct {
	// AddressFailures is the number of failed authentications one source
	// address may make within Window before it is throttled (default 10;
	// negative: no per-address limit). IPv6 addresses count by /64.
	AddressFailures int
	// AccountFailures is the number of failed authentications against one
	// account within Window, from addresses not throttled on their own,
	// before the account is throttled for addresses it has not logged in
	// from (default 30; negative: no per-account limit).
	AccountFailures int
	// Window is the time over which the allowances are regained (default
	// 15 minutes).
	Window time.Duration
	// TrustFor is how long a source address that authenticated as an
	// account stays exempt from that account's lockout (default 30 days).
	TrustFor time.Duration
	// MaxEntries bounds the addresses and accounts tracked (default
	// 100,000 each); beyond it the entries closest to forgotten go first.
	MaxEntries int
}

// Default limits.
const (
	DefaultAddressFailures = 10
	DefaultAccountFailures = 30
	DefaultWindow          = 15 * time.Minute
	DefaultTrustFor        = 30 * 24 * time.Hour
	defaultMaxEntries      = 100_000
)

// Throttle counts failed authentications. A nil *Throttle throttles
// nothing.
type Throttle struct {
	cfg Config
	now func() time.Time

	mu       sync.Mutex
	addrs    map[string]*bucket
	accounts map[string]*bucket
	trusted  map[trustKey]time.Time // until when
}

// bucket is one address's or account's count of failures.
type bucket struct {
	level   float64   // failures, decayed to at
	at      time.Time // when level was computed
	pending int       // attempts being checked now
	locked  bool      // over the limit at the last failure (for the lockout metric)
}

type trustKey struct{ account, source string }

// New makes a throttle.
func New(cfg Config) *Throttle {
	if cfg.AddressFailures == 0 {
		cfg.AddressFailures = DefaultAddressFailures
	}
	if cfg.AccountFailures == 0 {
		cfg.AccountFailures = DefaultAccountFailures
	}
	if cfg.Window <= 0 {
		cfg.Window = DefaultWindow
	}
	if cfg.TrustFor <= 0 {
		cfg.TrustFor = DefaultTrustFor
	}
	if cfg.MaxEntries <= 0 {
		cfg.MaxEntries = defaultMaxEntries
	}
	return &Throttle{cfg: cfg, now: time.Now, addrs: map[string]*bucket{}, accounts: map[string]*bucket{},
		trusted: map[trustKey]time.Time{}}
}

// Config returns the limits in force.
func (t *Throttle) Config() Config { return t.cfg }

// Source returns the key a remote address counts under: the IP address
// (IPv4, or the /64 prefix of an IPv6 address), or "" for a connection
// without one (a unix socket), which is not counted.
func Source(addr net.Addr) string {
	var ip netip.Addr
	switch a := addr.(type) {
	case *net.TCPAddr:
		ip, _ = netip.AddrFromSlice(a.IP)
	case nil:
		return ""
	default:
		ap, err := netip.ParseAddrPort(addr.String())
		if err != nil {
			return ""
		}
		ip = ap.Addr()
	}
	return sourceOf(ip)
}

// SourceString is Source for a "host:port" or bare IP string (as
// http.Request.RemoteAddr).
func SourceString(s string) string {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return sourceOf(ap.Addr())
	}
	if ip, err := netip.ParseAddr(s); err == nil {
		return sourceOf(ip)
	}
	return ""
}

func sourceOf(ip netip.Addr) string {
	if !ip.IsValid() {
		return ""
	}
	ip = ip.Unmap()
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.String()
	}
	return ip.String()
}

// accountKey normalises the account name as typed (it need not exist).
func accountKey(account string) string {
	a := strings.ToLower(strings.TrimSpace(account))
	if len(a) > 320 {
		a = a[:320]
	}
	return a
}

// Attempt is one authentication under way. Exactly one of Fail, Succeed
// or Release must be called.
type Attempt struct {
	t        *Throttle
	protocol string
	source   string
	account  string
	done     bool
}

// Begin starts an authentication from source (see Source) as account (the
// name the client gave, or "" when it gave none). If either is throttled,
// it returns a nil Attempt and how long to wait; otherwise the attempt, to
// be ended with Fail, Succeed or Release once the credentials are checked.
// Attempts in flight count as failures until they end, so that a burst of
// parallel guesses cannot get past the limit.
func (t *Throttle) Begin(protocol, source, account string) (*Attempt, time.Duration) {
	if t == nil {
		return &Attempt{}, 0
	}
	account = accountKey(account)
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	if source != "" && t.cfg.AddressFailures > 0 {
		if wait := t.blocked(t.addrs[source], t.cfg.AddressFailures, now); wait > 0 {
			metricThrottled.WithLabelValues(protocol, "address").Inc()
			return nil, wait
		}
	}
	if account != "" && t.cfg.AccountFailures > 0 && !t.isTrusted(account, source, now) {
		if wait := t.blocked(t.accounts[account], t.cfg.AccountFailures, now); wait > 0 {
			metricThrottled.WithLabelValues(protocol, "account").Inc()
			return nil, wait
		}
	}
	if source != "" && t.cfg.AddressFailures > 0 {
		t.get(t.addrs, source, t.cfg.AddressFailures, now).pending++
	}
	if account != "" && t.cfg.AccountFailures > 0 {
		t.get(t.accounts, account, t.cfg.AccountFailures, now).pending++
	}
	return &Attempt{t: t, protocol: protocol, source: source, account: account}, 0
}

// rate is how many failures a limit regains per second.
func (t *Throttle) rate(limit int) float64 { return float64(limit) / t.cfg.Window.Seconds() }

// decay brings b's level to now.
func (t *Throttle) decay(b *bucket, limit int, now time.Time) {
	if d := now.Sub(b.at).Seconds(); d > 0 {
		b.level = math.Max(0, b.level-d*t.rate(limit))
		b.at = now
	}
}

// blocked returns how long b stays over limit, or 0.
func (t *Throttle) blocked(b *bucket, limit int, now time.Time) time.Duration {
	if b == nil {
		return 0
	}
	t.decay(b, limit, now)
	over := b.level + float64(b.pending) - float64(limit) + 1
	if over <= 0 {
		return 0
	}
	if b.level+1 <= float64(limit) {
		// Only attempts in flight hold it: they end within moments.
		return time.Second
	}
	wait := time.Duration(over / t.rate(limit) * float64(time.Second))
	return max(wait.Round(time.Second), time.Second)
}

func (t *Throttle) isTrusted(account, source string, now time.Time) bool {
	if source == "" {
		return false
	}
	until, ok := t.trusted[trustKey{account, source}]
	return ok && now.Before(until)
}

// get returns m's bucket for key, making it (and making room) if needed.
func (t *Throttle) get(m map[string]*bucket, key string, limit int, now time.Time) *bucket {
	b := m[key]
	if b == nil {
		if len(m) >= t.cfg.MaxEntries {
			t.prune(m, limit, now)
		}
		b = &bucket{at: now}
		m[key] = b
	}
	return b
}

// prune drops the entries that have decayed to nothing, then, if that is
// not enough, the lowest ones.
func (t *Throttle) prune(m map[string]*bucket, limit int, now time.Time) {
	for k, b := range m {
		t.decay(b, limit, now)
		if b.level == 0 && b.pending == 0 {
			delete(m, k)
		}
	}
	for threshold := 1.0; len(m) >= t.cfg.MaxEntries*9/10; threshold *= 2 {
		for k, b := range m {
			if b.pending == 0 && b.level < threshold {
				delete(m, k)
			}
		}
	}
}

// Fail ends the attempt as a failed authentication.
func (a *Attempt) Fail() {
	if a == nil || a.t == nil || a.done {
		return
	}
	a.done = true
	t := a.t
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	metricFailures.WithLabelValues(a.protocol).Inc()
	if b := t.addrs[a.source]; a.source != "" && b != nil {
		t.fail(b, t.cfg.AddressFailures, now, "address")
	}
	if b := t.accounts[a.account]; a.account != "" && b != nil {
		t.fail(b, t.cfg.AccountFailures, now, "account")
	}
}

func (t *Throttle) fail(b *bucket, limit int, now time.Time, scope string) {
	b.pending--
	t.decay(b, limit, now)
	b.level++
	// Over: the next attempt is refused (see blocked).
	over := b.level > float64(limit)-1
	if over && !b.locked {
		metricLockouts.WithLabelValues(scope).Inc()
	}
	b.locked = over
}

// Succeed ends the attempt as a successful authentication: the source is
// trusted by the account from now on (for TrustFor). The failure counts
// are not reset: a legitimate login between guesses must not give the
// guesser a fresh allowance.
func (a *Attempt) Succeed() {
	if a == nil || a.t == nil || a.done {
		return
	}
	a.release()
	t := a.t
	if a.account != "" && a.source != "" {
		t.mu.Lock()
		defer t.mu.Unlock()
		if len(t.trusted) >= t.cfg.MaxEntries {
			now := t.now()
			for k, until := range t.trusted {
				if now.After(until) || len(t.trusted) >= t.cfg.MaxEntries*9/10 {
					delete(t.trusted, k)
				}
			}
		}
		t.trusted[trustKey{a.account, a.source}] = t.now().Add(t.cfg.TrustFor)
	}
}

// Release ends the attempt without counting it either way (the check
// could not be made, or the account is disabled: the password was right).
func (a *Attempt) Release() {
	if a == nil || a.t == nil || a.done {
		return
	}
	a.release()
}

func (a *Attempt) release() {
	a.done = true
	t := a.t
	t.mu.Lock()
	defer t.mu.Unlock()
	if b := t.addrs[a.source]; a.source != "" && b != nil && b.pending > 0 {
		b.pending--
	}
	if b := t.accounts[a.account]; a.account != "" && b != nil && b.pending > 0 {
		b.pending--
	}
}

// RetryAfter formats a wait as whole seconds (at least 1), as HTTP's
// Retry-After and the IMAP message say it.
func RetryAfter(d time.Duration) int {
	return max(int(math.Ceil(d.Seconds())), 1)
}
