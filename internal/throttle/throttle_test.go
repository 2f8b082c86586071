package throttle

import (
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// clock is a settable time for the tests.
type clock struct{ t time.Time }

func (c *clock) now() time.Time          { return c.t }
func (c *clock) advance(d time.Duration) { c.t = c.t.Add(d) }

func newTest(cfg Config) (*Throttle, *clock) {
	t := New(cfg)
	c := &clock{t: time.Unix(1_800_000_000, 0)}
	t.now = c.now
	return t, c
}

// try runs one attempt that fails or succeeds; it reports whether the
// attempt was let through.
func try(t *Throttle, source, account string, succeed bool) (bool, time.Duration) {
	a, wait := t.Begin("test", source, account)
	if a == nil {
		return false, wait
	}
	if succeed {
		a.Succeed()
	} else {
		a.Fail()
	}
	return true, 0
}

func TestThousandGuessesFromOneAddressDoNotLockTheAccount(t *testing.T) {
	th, c := newTest(Config{AddressFailures: 10, AccountFailures: 30})
	lockouts := testutil.ToFloat64(metricLockouts.WithLabelValues("address"))
	checked := 0
	var lastWait time.Duration
	for range 1000 {
		c.advance(time.Millisecond)
		ok, wait := try(th, "192.0.2.1", "alice@example.org", false)
		if ok {
			checked++
		} else {
			lastWait = wait
		}
	}
	if checked != 10 {
		t.Fatalf("%d of 1000 guesses from one address were checked, want 10", checked)
	}
	// Ten failures over 15 minutes: one is regained every 90 s.
	if lastWait < 80*time.Second || lastWait > 100*time.Second {
		t.Errorf("retry after %v, want about 90s", lastWait)
	}
	if n := testutil.ToFloat64(metricLockouts.WithLabelValues("address")) - lockouts; n != 1 {
		t.Errorf("%v address lockouts counted, want 1", n)
	}
	// The owner, elsewhere, is not affected.
	if ok, _ := try(th, "198.51.100.7", "alice@example.org", true); !ok {
		t.Fatal("the account's owner from another address was throttled")
	}
	// The guessing address is throttled for every account.
	if ok, _ := try(th, "192.0.2.1", "bob@example.org", true); ok {
		t.Fatal("the throttled address could try another account")
	}
}

func TestDistributedGuessesLockTheAccountButNotItsKnownAddresses(t *testing.T) {
	th, _ := newTest(Config{AddressFailures: 10, AccountFailures: 30})
	// The owner logged in from home before.
	if ok, _ := try(th, "198.51.100.7", "alice@example.org", true); !ok {
		t.Fatal("first login throttled")
	}
	// 60 addresses try one password each.
	checked := 0
	for i := range 60 {
		if ok, _ := try(th, fmt.Sprintf("203.0.113.%d", i), "Alice@Example.org", false); ok {
			checked++
		}
	}
	if checked != 30 {
		t.Fatalf("%d distributed guesses checked, want 30", checked)
	}
	if ok, _ := try(th, "192.0.2.200", "alice@example.org", true); ok {
		t.Fatal("a new address could still try the locked account")
	}
	if ok, _ := try(th, "198.51.100.7", "alice@example.org", true); !ok {
		t.Fatal("the owner's known address was locked out")
	}
	// Other accounts are not affected.
	if ok, _ := try(th, "192.0.2.200", "bob@example.org", true); !ok {
		t.Fatal("another account was locked")
	}
}

func TestAllowanceIsRegainedOverTheWindow(t *testing.T) {
	th, c := newTest(Config{AddressFailures: 4, Window: 4 * time.Minute})
	for range 4 {
		if ok, _ := try(th, "192.0.2.1", "", false); !ok {
			t.Fatal("throttled before the limit")
		}
	}
	ok, wait := try(th, "192.0.2.1", "", false)
	if ok || wait != time.Minute {
		t.Fatalf("at the limit: let through %v, wait %v (want 1m)", ok, wait)
	}
	c.advance(59 * time.Second)
	if ok, _ := try(th, "192.0.2.1", "", false); ok {
		t.Fatal("let through before the wait was over")
	}
	c.advance(time.Second)
	if ok, _ := try(th, "192.0.2.1", "", false); !ok {
		t.Fatal("still throttled after the wait")
	}
	if ok, _ := try(th, "192.0.2.1", "", false); ok {
		t.Fatal("one regained failure let two through")
	}
	c.advance(time.Hour)
	for range 4 {
		if ok, _ := try(th, "192.0.2.1", "", false); !ok {
			t.Fatal("the allowance was not wholly regained after an hour")
		}
	}
}

func TestAttemptsInFlightCount(t *testing.T) {
	th, _ := newTest(Config{AddressFailures: 5})
	var open []*Attempt
	for range 20 {
		if a, _ := th.Begin("test", "192.0.2.1", "x@example.org"); a != nil {
			open = append(open, a)
		}
	}
	if len(open) != 5 {
		t.Fatalf("%d parallel attempts let through, want 5", len(open))
	}
	// Released attempts (an internal error, a disabled account) free
	// their place without counting.
	for _, a := range open {
		a.Release()
		a.Fail() // no effect: already ended
	}
	if ok, _ := try(th, "192.0.2.1", "x@example.org", false); !ok {
		t.Fatal("released attempts still counted")
	}
}

func TestSource(t *testing.T) {
	for _, c := range []struct {
		addr net.Addr
		want string
	}{
		{&net.TCPAddr{IP: net.ParseIP("192.0.2.1"), Port: 5}, "192.0.2.1"},
		{&net.TCPAddr{IP: net.ParseIP("::ffff:192.0.2.1"), Port: 5}, "192.0.2.1"},
		{&net.TCPAddr{IP: net.ParseIP("2001:db8:1:2:3:4:5:6"), Port: 5}, "2001:db8:1:2::/64"},
		{&net.UnixAddr{Name: "/x/api.sock", Net: "unix"}, ""},
		{nil, ""},
	} {
		if got := Source(c.addr); got != c.want {
			t.Errorf("Source(%v) = %q, want %q", c.addr, got, c.want)
		}
	}
	if got := SourceString("[2001:db8:1:2:ffff::1]:443"); got != "2001:db8:1:2::/64" {
		t.Errorf("SourceString = %q", got)
	}
	if got := SourceString("@"); got != "" {
		t.Errorf("SourceString(@) = %q", got)
	}
	// Unknown sources are never throttled.
	th, _ := newTest(Config{AddressFailures: 1, AccountFailures: -1})
	for range 5 {
		if ok, _ := try(th, "", "a@example.org", false); !ok {
			t.Fatal("an attempt without a source address was throttled")
		}
	}
}

func TestNilThrottleThrottlesNothing(t *testing.T) {
	var th *Throttle
	for range 100 {
		a, wait := th.Begin("test", "192.0.2.1", "a@example.org")
		if a == nil || wait != 0 {
			t.Fatal("nil throttle refused")
		}
		a.Fail()
	}
}

func TestEntriesAreBounded(t *testing.T) {
	th, c := newTest(Config{AddressFailures: 3, MaxEntries: 100})
	for i := range 1000 {
		try(th, fmt.Sprintf("10.0.%d.%d", i/256, i%256), "", false)
		c.advance(time.Second)
	}
	if n := len(th.addrs); n > 100 {
		t.Fatalf("%d addresses tracked, bound 100", n)
	}
	// The most recent guesser is still throttled.
	try(th, "10.0.3.231", "", false)
	try(th, "10.0.3.231", "", false)
	if ok, _ := try(th, "10.0.3.231", "", false); ok {
		t.Fatal("recent entry forgotten")
	}
}
