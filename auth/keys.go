package auth

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/wardhealth/ward"
)

// keyBits is the RSA modulus size of signing keys (RS256).
const keyBits = 2048

// keyReloadInterval bounds how often an unknown kid makes the ring re-read
// the store: another instance may have rotated, but a stream of forged kids
// must not turn into a stream of queries.
const keyReloadInterval = 10 * time.Second

// signingKey is one RS256 key pair. Its kid is the JsonWebKey resource id.
type signingKey struct {
	kid    string
	priv   *rsa.PrivateKey
	active bool
	// retired is when the key stopped signing (zero while active); it keeps
	// verifying tokens until retired + RefreshTokenLifetime.
	retired time.Time
}

// keyRing holds the signing keys loaded from the store. It is a Service
// field: a server has exactly the keys its database has.
type keyRing struct {
	mu       sync.RWMutex
	loaded   bool
	loadedAt time.Time
	active   *signingKey
	byKid    map[string]*signingKey
}

// jwk is the JsonWebKey resource as Medplum stores it: the private
// parameters are base64url big-endian integers next to the public ones.
type jwk struct {
	ResourceType string `json:"resourceType"`
	ID           string `json:"id,omitempty"`
	Active       bool   `json:"active"`
	Alg          string `json:"alg"`
	Kty          string `json:"kty"`
	Use          string `json:"use,omitempty"`
	Kid          string `json:"kid,omitempty"`
	N            string `json:"n"`
	E            string `json:"e"`
	D            string `json:"d,omitempty"`
	P            string `json:"p,omitempty"`
	Q            string `json:"q,omitempty"`
	DP           string `json:"dp,omitempty"`
	DQ           string `json:"dq,omitempty"`
	QI           string `json:"qi,omitempty"`
}

// publicJWK is one entry of /.well-known/jwks.json.
type publicJWK struct {
	Kid string `json:"kid"`
	Kty string `json:"kty"`
	Alg string `json:"alg"`
	Use string `json:"use"`
	N   string `json:"n"`
	E   string `json:"e"`
}

func b64int(i *big.Int) string { return base64.RawURLEncoding.EncodeToString(i.Bytes()) }

func parseB64int(s string) (*big.Int, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil, err
	}
	return new(big.Int).SetBytes(b), nil
}

// newJWK generates a fresh active key in its stored form.
func newJWK() (*jwk, error) {
	k, err := rsa.GenerateKey(rand.Reader, keyBits)
	if err != nil {
		return nil, err
	}
	k.Precompute()
	return &jwk{
		ResourceType: "JsonWebKey", Active: true, Alg: "RS256", Kty: "RSA", Use: "sig",
		N: b64int(k.N), E: b64int(big.NewInt(int64(k.E))), D: b64int(k.D),
		P: b64int(k.Primes[0]), Q: b64int(k.Primes[1]),
		DP: b64int(k.Precomputed.Dp), DQ: b64int(k.Precomputed.Dq), QI: b64int(k.Precomputed.Qinv),
	}, nil
}

// privateKey rebuilds the RSA key of a stored JsonWebKey.
func (j *jwk) privateKey() (*rsa.PrivateKey, error) {
	var ints [5]*big.Int
	for i, s := range []string{j.N, j.E, j.D, j.P, j.Q} {
		v, err := parseB64int(s)
		if err != nil {
			return nil, err
		}
		ints[i] = v
	}
	k := &rsa.PrivateKey{
		PublicKey: rsa.PublicKey{N: ints[0], E: int(ints[1].Int64())},
		D:         ints[2],
		Primes:    []*big.Int{ints[3], ints[4]},
	}
	if err := k.Validate(); err != nil {
		return nil, err
	}
	k.Precompute()
	return k, nil
}

// loadKeys reads every JsonWebKey into the ring. Keys retired longer ago
// than the refresh token lifetime are left out: nothing they signed is
// still valid.
func (s *Service) loadKeys(ctx context.Context) error {
	found, err := s.searchSystem(ctx, "JsonWebKey", url.Values{"_count": {"1000"}})
	if err != nil {
		return err
	}
	ring := map[string]*signingKey{}
	var active *signingKey
	now := s.cfg.Now()
	for _, res := range found {
		var j jwk
		if err := json.Unmarshal(res.Content, &j); err != nil || j.Alg != "RS256" {
			continue
		}
		k := &signingKey{kid: res.ID, active: j.Active}
		if !j.Active {
			k.retired = res.LastUpdated
			if now.After(k.retired.Add(s.cfg.RefreshTokenLifetime)) {
				continue
			}
		}
		if k.priv, err = j.privateKey(); err != nil {
			s.cfg.Logger.Error("ward: unusable JsonWebKey", "id", res.ID, "error", err)
			continue
		}
		ring[k.kid] = k
		if k.active && (active == nil || res.ID > active.kid) {
			active = k // ids are UUIDv7: the newest active key signs
		}
	}
	s.keys.mu.Lock()
	s.keys.byKid, s.keys.active, s.keys.loaded, s.keys.loadedAt = ring, active, true, now
	s.keys.mu.Unlock()
	return nil
}

// ensureSigningKey loads the ring and, when no active key exists, stores a
// new one.
func (s *Service) ensureSigningKey(ctx context.Context) error {
	if err := s.loadKeys(ctx); err != nil {
		return err
	}
	s.keys.mu.RLock()
	has := s.keys.active != nil
	s.keys.mu.RUnlock()
	if has {
		return nil
	}
	j, err := newJWK()
	if err != nil {
		return err
	}
	if _, err := s.writeSystem(ctx, ward.SystemProjectID, "JsonWebKey", "", j); err != nil {
		return err
	}
	return s.loadKeys(ctx)
}

// RotateKey stores a new active signing key and retires the current ones.
// Retired keys keep verifying tokens for RefreshTokenLifetime, so no
// session ends because of a rotation.
func (s *Service) RotateKey(ctx context.Context) error {
	j, err := newJWK()
	if err != nil {
		return err
	}
	old, err := s.searchSystem(ctx, "JsonWebKey", url.Values{"active": {"true"}, "_count": {"1000"}})
	if err != nil {
		return err
	}
	var created *ward.Resource
	err = s.store.Write(systemIn(ctx, ward.SystemProjectID), func(ctx context.Context, tx ward.ResourceTx) error {
		body, err := withProject(j, ward.SystemProjectID)
		if err != nil {
			return err
		}
		if created, err = tx.Create(ctx, "JsonWebKey", body); err != nil {
			return err
		}
		for _, res := range old {
			var m map[string]any
			if err := json.Unmarshal(res.Content, &m); err != nil {
				return err
			}
			m["active"] = false
			body, err := withProject(m, ward.SystemProjectID)
			if err != nil {
				return err
			}
			if _, _, err := tx.Update(ctx, "JsonWebKey", res.ID, body, ""); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if err := s.recordAlone(ctx, s.keyRotationRecord(created)); err != nil {
		return err
	}
	return s.loadKeys(ctx)
}

// signingKeyNow returns the active key, loading the ring on first use.
func (s *Service) signingKeyNow(ctx context.Context) (*signingKey, error) {
	s.keys.mu.RLock()
	k, loaded := s.keys.active, s.keys.loaded
	s.keys.mu.RUnlock()
	if k != nil && loaded {
		return k, nil
	}
	if err := s.ensureSigningKey(ctx); err != nil {
		return nil, err
	}
	s.keys.mu.RLock()
	defer s.keys.mu.RUnlock()
	if s.keys.active == nil {
		return nil, ward.Errorf(ward.EINTERNAL, "no active signing key")
	}
	return s.keys.active, nil
}

// verificationKey returns the key of kid, re-reading the store (at most
// every keyReloadInterval) when kid is unknown.
func (s *Service) verificationKey(ctx context.Context, kid string) *signingKey {
	s.keys.mu.RLock()
	k, loaded, at := s.keys.byKid[kid], s.keys.loaded, s.keys.loadedAt
	s.keys.mu.RUnlock()
	if k != nil && (k.active || s.cfg.Now().Before(k.retired.Add(s.cfg.RefreshTokenLifetime))) {
		return k
	}
	if k == nil && (!loaded || s.cfg.Now().Sub(at) > keyReloadInterval) {
		if s.loadKeys(ctx) == nil {
			s.keys.mu.RLock()
			k = s.keys.byKid[kid]
			s.keys.mu.RUnlock()
			return k
		}
	}
	return nil
}

// forgetKeys makes the next signing or verification re-read the store
// (a JsonWebKey was written).
func (s *Service) forgetKeys() {
	s.keys.mu.Lock()
	s.keys.loaded = false
	s.keys.loadedAt = time.Time{}
	s.keys.mu.Unlock()
}

// publicKeys lists the verification keys for /.well-known/jwks.json.
func (s *Service) publicKeys(ctx context.Context) ([]publicJWK, error) {
	s.keys.mu.RLock()
	loaded := s.keys.loaded
	s.keys.mu.RUnlock()
	if !loaded {
		if err := s.loadKeys(ctx); err != nil {
			return nil, err
		}
	}
	s.keys.mu.RLock()
	defer s.keys.mu.RUnlock()
	out := []publicJWK{}
	for _, k := range s.keys.byKid {
		out = append(out, publicJWK{
			Kid: k.kid, Kty: "RSA", Alg: "RS256", Use: "sig",
			N: b64int(k.priv.N), E: b64int(big.NewInt(int64(k.priv.E))),
		})
	}
	slices.SortFunc(out, func(a, b publicJWK) int { return strings.Compare(a.Kid, b.Kid) })
	return out, nil
}
