package auth

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/wardhealth/ward"
)

// tokenClaims is what Ward reads back from any of its JWTs (spec 5.5).
type tokenClaims struct {
	jwt.RegisteredClaims
	LoginID       string `json:"login_id,omitempty"`
	ClientID      string `json:"client_id,omitempty"`
	Username      string `json:"username,omitempty"`
	Scope         string `json:"scope,omitempty"`
	Profile       string `json:"profile,omitempty"`
	RefreshSecret string `json:"refresh_secret,omitempty"`
}

// badToken is every verification failure: callers answer 401 (or the
// token endpoint's invalid_request) without saying which check failed.
func badToken() error { return ward.Errorf(ward.EUNAUTHORIZED, "Unauthorized") }

// signJWT signs claims with the active key, adding iss, iat and exp.
// MapClaims keeps single-valued aud a string, as Medplum sends it.
func (s *Service) signJWT(ctx context.Context, claims jwt.MapClaims, lifetime time.Duration) (string, error) {
	key, err := s.signingKeyNow(ctx)
	if err != nil {
		return "", err
	}
	now := s.cfg.Now()
	claims["iss"] = s.cfg.BaseURL
	claims["iat"] = now.Unix()
	claims["exp"] = now.Add(lifetime).Unix()
	for k, v := range claims {
		if v == "" || v == nil {
			delete(claims, k) // absent rather than empty, like Medplum's optional claims
		}
	}
	t := jwt.NewWithClaims(jwt.SigningMethodRS256, claims)
	t.Header["kid"] = key.kid
	t.Header["typ"] = "JWT"
	return t.SignedString(key.priv)
}

// parseJWT verifies a token of this server: RS256 only (no "none", no
// HMAC keyed with the public key), a known kid, our issuer, not expired.
func (s *Service) parseJWT(ctx context.Context, token string) (*tokenClaims, error) {
	p := jwt.NewParser(
		jwt.WithValidMethods([]string{jwt.SigningMethodRS256.Alg()}),
		jwt.WithIssuer(s.cfg.BaseURL),
		jwt.WithExpirationRequired(),
		jwt.WithTimeFunc(s.cfg.Now),
	)
	var c tokenClaims
	_, err := p.ParseWithClaims(token, &c, func(t *jwt.Token) (any, error) {
		kid, _ := t.Header["kid"].(string)
		k := s.verificationKey(ctx, kid)
		if k == nil {
			return nil, errors.New("unknown kid")
		}
		return &k.priv.PublicKey, nil
	})
	if err != nil {
		return nil, badToken()
	}
	return &c, nil
}

// parseAccessToken verifies a Bearer token: refresh and id tokens are
// signed by the same key but are not access tokens.
func (s *Service) parseAccessToken(ctx context.Context, token string) (*tokenClaims, error) {
	c, err := s.parseJWT(ctx, token)
	if err != nil {
		return nil, err
	}
	if c.LoginID == "" || c.Username == "" || c.RefreshSecret != "" {
		return nil, badToken()
	}
	return c, nil
}

// tokenFacts is what the three tokens of one grant say.
type tokenFacts struct {
	login    *Login
	userID   string // User or ClientApplication id (sub)
	profile  string // "Practitioner/…"
	email    string // the user's email, for the id token's email scope
	clientID string
	// refresh is false when no refresh token is issued (no refresh secret,
	// client credentials, super admin project).
	refresh bool
	// lifetimes of the access and refresh tokens (client overrides applied).
	accessLifetime, refreshLifetime time.Duration
}

// issuedTokens are the signed JWTs of one grant.
type issuedTokens struct {
	access, id, refresh string
}

// issueTokens signs the access, id and (when allowed) refresh tokens.
func (s *Service) issueTokens(ctx context.Context, f tokenFacts) (*issuedTokens, error) {
	l := f.login
	access, err := s.signJWT(ctx, jwt.MapClaims{
		"aud": f.clientID, "client_id": f.clientID, "login_id": l.ID,
		"sub": f.userID, "username": f.userID, "scope": l.Scope, "profile": f.profile,
	}, f.accessLifetime)
	if err != nil {
		return nil, err
	}
	idc := jwt.MapClaims{
		"aud": f.clientID, "client_id": f.clientID, "login_id": l.ID, "fhirUser": f.profile,
		"sub": f.userID, "nonce": l.Nonce, "auth_time": authTimeUnix(l.AuthTime),
	}
	if hasScope(l.Scope, "email") {
		idc["email"] = f.email
	}
	id, err := s.signJWT(ctx, idc, f.accessLifetime)
	if err != nil {
		return nil, err
	}
	out := &issuedTokens{access: access, id: id}
	if f.refresh && l.RefreshSecret != "" {
		out.refresh, err = s.signJWT(ctx, jwt.MapClaims{
			"client_id": f.clientID, "login_id": l.ID, "refresh_secret": l.RefreshSecret,
		}, f.refreshLifetime)
	}
	return out, err
}

func authTimeUnix(t string) any {
	at, err := time.Parse(time.RFC3339Nano, t)
	if err != nil {
		return nil
	}
	return at.Unix()
}

// hasScope reports whether the space-separated scope list holds want.
func hasScope(scope, want string) bool {
	for _, s := range strings.Fields(scope) {
		if s == want {
			return true
		}
	}
	return false
}

// parseLifetime reads a ClientApplication lifetime ("3600s", "1h", "2w",
// "30d"); def when empty or unreadable.
func parseLifetime(v string, def time.Duration) time.Duration {
	if v == "" {
		return def
	}
	var unit time.Duration
	switch v[len(v)-1] {
	case 's':
		unit = time.Second
	case 'm':
		unit = time.Minute
	case 'h':
		unit = time.Hour
	case 'd':
		unit = 24 * time.Hour
	case 'w':
		unit = 7 * 24 * time.Hour
	default:
		return def
	}
	var n int
	for _, c := range v[:len(v)-1] {
		if c < '0' || c > '9' || n > 1e7 {
			return def
		}
		n = n*10 + int(c-'0')
	}
	if n == 0 {
		return def
	}
	return time.Duration(n) * unit
}
