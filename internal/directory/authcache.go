package directory

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"runtime"
	"sync"
	"time"
)

// authCacheTTL is how long a verified password is remembered.
const authCacheTTL = 10 * time.Minute

// authCacheMax bounds the number of remembered logins.
const authCacheMax = 100_000

// authCache remembers recent successful password checks, so that a client
// opening its fifth connection of the minute (phones and desktop clients
// open several, and reconnect often) does not pay argon2id again: 19 MiB
// and tens of milliseconds of CPU each. Dovecot has the same kind of cache.
//
// What it keeps cannot give a password away: the key is an HMAC of the
// password with a secret made at start and never stored. An entry is used
// only while the account's stored hash is the one it was checked against,
// so a password change (by any process) ends it at once. Failures are not
// cached.
type authCache struct {
	secret [32]byte
	mu     sync.Mutex
	m      map[authKey]authEntry
}

type authKey struct {
	user int64
	mac  [32]byte
}

type authEntry struct {
	hash    string // the stored password hash the password was checked against
	expires time.Time
}

func newAuthCache() *authCache {
	c := &authCache{m: map[authKey]authEntry{}}
	rand.Read(c.secret[:])
	return c
}

func (c *authCache) key(user int64, password string) authKey {
	h := hmac.New(sha256.New, c.secret[:])
	h.Write([]byte(password))
	k := authKey{user: user}
	h.Sum(k.mac[:0])
	return k
}

// verified tells whether password was checked against hash recently.
func (c *authCache) verified(user int64, hash, password string) bool {
	k := c.key(user, password)
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[k]
	if !ok {
		return false
	}
	if e.hash != hash || time.Now().After(e.expires) {
		delete(c.m, k)
		return false
	}
	return true
}

// remember records a successful check of password against hash.
func (c *authCache) remember(user int64, hash, password string) {
	k := c.key(user, password)
	now := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= authCacheMax {
		for k, e := range c.m {
			if now.After(e.expires) || len(c.m) >= authCacheMax {
				delete(c.m, k)
			}
		}
	}
	c.m[k] = authEntry{hash: hash, expires: now.Add(authCacheTTL)}
}

// argonSlots bounds the password hashes computed at once: each takes 19
// MiB, and a burst of logins (a server restart, a thousand clients
// reconnecting) must not take gigabytes. More than the cores would not go
// faster anyway.
var argonSlots = make(chan struct{}, runtime.GOMAXPROCS(0))

// verifyPassword is VerifyPassword within argonSlots.
func verifyPassword(hash, password string) (bool, error) {
	argonSlots <- struct{}{}
	defer func() { <-argonSlots }()
	return VerifyPassword(hash, password)
}
