package auth

import (
	"crypto/sha256"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/wardhealth/ward"
)

// cacheMaxEntries bounds the caller cache; past it expired entries are
// swept and, if that is not enough, the cache starts over.
const cacheMaxEntries = 10000

// cacheMaxAge bounds how long a caller is reused without re-reading its
// Login and membership. In one process every identity write invalidates at
// once; the bound covers writes made by another instance on the same
// database.
const cacheMaxAge = 5 * time.Minute

// principalCache maps a credential (a verified token or a client's Basic
// secret, hashed) to the Caller built for it, so an authenticated request
// reads nothing from the database for identity.
type principalCache struct {
	mu      sync.RWMutex
	entries map[[sha256.Size]byte]*cacheEntry
	// writes counts identity writes. A caller built while it moved may
	// reflect the state before the write, so it is not stored.
	writes atomic.Uint64
	// compiled maps a policyKey (the versions a policy was built from)
	// to the compiled policy, shared by every caller of that membership.
	compiled map[string]*compiled
	// behalf maps "<caller membership>\x00<header>" to the principal an
	// admin acting on behalf of a member gets (spec 2.14).
	behalf map[string]*ward.Principal
}

func (c *principalCache) onBehalf(key string) *ward.Principal {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.behalf[key]
}

// putOnBehalf stores p unless an identity write happened since writesBefore.
func (c *principalCache) putOnBehalf(key string, p *ward.Principal, writesBefore uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.writes.Load() != writesBefore {
		return
	}
	if len(c.behalf) >= cacheMaxEntries {
		clear(c.behalf)
	}
	c.behalf[key] = p
}

// compiled is one access.Build result; read-only once stored.
type compiled struct {
	policy *ward.Policy
	json   map[string]any
}

func (c *principalCache) policy(key string) *compiled {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.compiled[key]
}

// putPolicy stores a compiled policy unless an identity write happened
// since writesBefore (its key would still be right, but the write may
// have deleted a policy the key does not name).
func (c *principalCache) putPolicy(key string, p *compiled, writesBefore uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.writes.Load() != writesBefore {
		return
	}
	if len(c.compiled) >= cacheMaxEntries {
		clear(c.compiled)
	}
	c.compiled[key] = p
}

type cacheEntry struct {
	caller  *Caller
	expires time.Time
	loginID string
}

func newPrincipalCache() *principalCache {
	return &principalCache{entries: map[[sha256.Size]byte]*cacheEntry{}, compiled: map[string]*compiled{}, behalf: map[string]*ward.Principal{}}
}

// bearerKey hashes an access token; the cache never holds a credential.
// It hashes the string's bytes in place: this runs on every request, and
// converting a ~1 KB token to []byte would copy it each time. Sum256 only
// reads them.
func bearerKey(token string) [sha256.Size]byte {
	return sha256.Sum256(unsafe.Slice(unsafe.StringData(token), len(token)))
}

// basicKey hashes a client's Basic credentials. The NUL cannot occur in a
// JWT, so no basic key equals a bearer key.
func basicKey(clientID, secret string) [sha256.Size]byte {
	return sha256.Sum256([]byte("\x00basic\x00" + clientID + ":" + secret))
}

func (c *principalCache) get(key [sha256.Size]byte, now time.Time) *Caller {
	c.mu.RLock()
	e := c.entries[key]
	c.mu.RUnlock()
	if e == nil || !now.Before(e.expires) {
		return nil
	}
	return e.caller
}

// put stores e unless an identity write happened since writesBefore.
func (c *principalCache) put(key [sha256.Size]byte, e *cacheEntry, writesBefore uint64, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.writes.Load() != writesBefore {
		return
	}
	if len(c.entries) >= cacheMaxEntries {
		for k, old := range c.entries {
			if !now.Before(old.expires) {
				delete(c.entries, k)
			}
		}
		if len(c.entries) >= cacheMaxEntries {
			clear(c.entries)
		}
	}
	c.entries[key] = e
}

// dropLogin forgets the callers of one Login (revoked, refreshed).
func (c *principalCache) dropLogin(id string) {
	c.writes.Add(1)
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, e := range c.entries {
		if e.loginID == id {
			delete(c.entries, k)
		}
	}
}

// dropAll forgets every caller: a membership, project, policy, user or
// client changed, and any cached caller may depend on it.
func (c *principalCache) dropAll() {
	c.writes.Add(1)
	c.mu.Lock()
	clear(c.entries)
	clear(c.compiled)
	clear(c.behalf)
	c.mu.Unlock()
}

// Invalidate drops cached callers that the written resources may change.
// The wiring calls it after every commit (store.OnCommit), so a revoked
// login or a changed membership takes effect on the next request, and for
// the writes of other processes on the same PostgreSQL database
// (postgres.Listen). Type "*" stands for any identity write.
func (s *Service) Invalidate(written []*ward.Resource) {
	for _, res := range written {
		switch {
		case res.Type == "Login":
			s.cache.dropLogin(res.ID)
		case res.Type == "JsonWebKey" || res.Type == "*":
			s.forgetKeys()
			s.cache.dropAll()
		case ward.IsIdentityType(res.Type):
			s.cache.dropAll()
		}
	}
}
