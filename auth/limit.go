package auth

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/internal/keyedlimit"
)

// limiter throttles sign-in attempts per account (lower-cased email or
// client id) and per remote address, so that guessing passwords is slow
// for one account and for one machine trying many accounts. Its bucket
// sets are bounded (keyedlimit).
type limiter struct {
	mu        sync.Mutex
	account   *keyedlimit.Buckets
	address   *keyedlimit.Buckets
	lastSweep time.Time

	// shared, when set (a fleet: Config.SharedLoginLimits), keeps the
	// buckets in the database so every process spends from the same ones;
	// the in-memory buckets above then serve only while it errs.
	shared      AttemptStore
	sharedKind  string // the keys' namespace: login, mfa
	accountRule limitRule
	addressRule limitRule
	logger      *slog.Logger
}

// AttemptStore keeps sign-in attempt buckets where every process of a
// fleet sees them (store.Store on PostgreSQL).
type AttemptStore interface {
	SpendAttempt(ctx context.Context, key string, at time.Time, burst int, every time.Duration) (bool, error)
	AttemptsLeft(ctx context.Context, key string, at time.Time, burst int, every time.Duration) (bool, error)
	DropFullAttempts(ctx context.Context, before time.Time) error
}

// share keeps l's buckets in st under kind.
func (l *limiter) share(st AttemptStore, kind string, logger *slog.Logger) {
	l.shared, l.sharedKind, l.logger = st, kind, logger
}

// limitRule is one token bucket shape: burst attempts at once, then one
// more every `every`.
type limitRule struct {
	burst int
	every time.Duration
}

const (
	maxLimitEntries = 100_000
	sweepEvery      = time.Minute
)

// newLimiter returns the login limiter with the default rules: 10
// attempts per account, then one every 30 s (120 an hour); 100 per
// address, then one a second, so a clinic behind one NAT signing in at
// 9:00 is not locked out.
func newLimiter(cfg Config) *limiter {
	return newLimiterWith(
		limitRule{burst: 10, every: 30 * time.Second},
		limitRule{burst: 100, every: time.Second},
		maxLimitEntries)
}

func newLimiterWith(account, address limitRule, maxEntries int) *limiter {
	return &limiter{
		account:     keyedlimit.New(account.burst, account.every, maxEntries),
		address:     keyedlimit.New(address.burst, address.every, maxEntries),
		accountRule: account,
		addressRule: address,
	}
}

// allow spends one attempt of account and of address at now; ETOOMANY when
// either has none left. A nil limiter allows everything. Empty keys are not
// limited.
func (l *limiter) allow(ctx context.Context, now time.Time, account, address string) error {
	if l == nil {
		return nil
	}
	if l.shared != nil {
		ok, err := l.spendShared(ctx, now, account, address)
		if err == nil {
			if !ok {
				return ward.Errorf(ward.ETOOMANY, "Too many login attempts, try again later")
			}
			return nil
		}
		l.logger.WarnContext(ctx, "shared login limits unreachable; this process limits alone", "error", err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.lastSweep) >= sweepEvery {
		l.account.DropIdle(now)
		l.address.DropIdle(now)
		l.lastSweep = now
	}
	if address != "" && !l.address.Allow(now, address) {
		return ward.Errorf(ward.ETOOMANY, "Too many login attempts, try again later")
	}
	if account != "" && !l.account.Allow(now, strings.ToLower(account)) {
		return ward.Errorf(ward.ETOOMANY, "Too many login attempts, try again later")
	}
	return nil
}

// exhausted reports whether account or address has no attempt left at
// now, without spending one. A nil limiter never is.
func (l *limiter) exhausted(ctx context.Context, now time.Time, account, address string) bool {
	if l == nil {
		return false
	}
	if l.shared != nil {
		left, err := l.leftShared(ctx, now, account, address)
		if err == nil {
			return !left
		}
		l.logger.WarnContext(ctx, "shared login limits unreachable; this process limits alone", "error", err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.address.Empty(now, address) || l.account.Empty(now, strings.ToLower(account))
}

// allowAttempt spends one sign-in attempt of account from r's address.
// /auth/login, /auth/newuser and the token endpoint's secret checks call it.
func (s *Service) allowAttempt(r *http.Request, account string) error {
	return s.limit.allow(r.Context(), s.cfg.Now(), account, remoteAddress(r))
}

// checkClientSecret verifies a client's secret (current or retiring) under
// the login limiter, so guessing a client secret is as slow as guessing a
// password: a client or address with no attempts left is refused before
// the secret is compared (429), and each wrong secret spends an attempt and
// is recorded. Right secrets spend nothing: a service fetching tokens often
// is not throttled. wrong is the answer to a wrong secret.
func (s *Service) checkClientSecret(ctx context.Context, r *http.Request, client *Client, secret string, wrong error) error {
	addr := remoteAddress(r)
	if s.limit.exhausted(ctx, s.cfg.Now(), client.ID, addr) {
		s.loginFailed(ctx, LoginFailure{ClientID: client.ID, RemoteAddress: addr, Reason: reasonRateLimited})
		return ward.Errorf(ward.ETOOMANY, "Too many login attempts, try again later")
	}
	if secretMatches(client.Secret, secret) || secretMatches(client.RetiringSecret, secret) {
		return nil
	}
	s.loginFailed(ctx, LoginFailure{ClientID: client.ID, RemoteAddress: addr, Reason: "wrong client secret"})
	if err := s.allowAttempt(r, client.ID); err != nil {
		return err
	}
	return wrong
}

// loginFailed records a failed sign-in: an info log line, the LoginFailed
// hook and the audit record, which an audited route writes as its own and
// which is written here otherwise (Basic credentials on a FHIR request).
// A failure to record is logged: it never changes the refusal.
func (s *Service) loginFailed(ctx context.Context, f LoginFailure) {
	s.cfg.Logger.InfoContext(ctx, "login failed",
		"email", f.Email, "client_id", f.ClientID, "remote_address", f.RemoteAddress, "reason", f.Reason)
	if s.cfg.LoginFailed != nil {
		s.cfg.LoginFailed(ctx, f)
	}
	if noteFailedLogin(ctx, f) {
		return
	}
	_ = s.recordAlone(ctx, s.failedLoginRecord(f))
}

// spendShared spends one attempt of address, then of account, from the
// shared buckets (an address with none left spends nothing of account).
func (l *limiter) spendShared(ctx context.Context, now time.Time, account, address string) (bool, error) {
	if now.Sub(l.sweptAt(now)) >= sweepEvery {
		idle := max(time.Duration(l.accountRule.burst)*l.accountRule.every, time.Duration(l.addressRule.burst)*l.addressRule.every)
		if err := l.shared.DropFullAttempts(ctx, now.Add(-idle)); err != nil {
			return false, err
		}
	}
	if address != "" {
		if ok, err := l.shared.SpendAttempt(ctx, l.sharedKind+"/address/"+address, now, l.addressRule.burst, l.addressRule.every); err != nil || !ok {
			return false, err
		}
	}
	if account != "" {
		return l.shared.SpendAttempt(ctx, l.sharedKind+"/account/"+strings.ToLower(account), now, l.accountRule.burst, l.accountRule.every)
	}
	return true, nil
}

// leftShared reports whether address and account both have an attempt
// left in the shared buckets.
func (l *limiter) leftShared(ctx context.Context, now time.Time, account, address string) (bool, error) {
	if address != "" {
		if ok, err := l.shared.AttemptsLeft(ctx, l.sharedKind+"/address/"+address, now, l.addressRule.burst, l.addressRule.every); err != nil || !ok {
			return false, err
		}
	}
	if account == "" {
		return true, nil
	}
	return l.shared.AttemptsLeft(ctx, l.sharedKind+"/account/"+strings.ToLower(account), now, l.accountRule.burst, l.accountRule.every)
}

// sweptAt returns when the shared buckets were last swept and marks them
// swept at now.
func (l *limiter) sweptAt(now time.Time) time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	last := l.lastSweep
	if now.Sub(last) >= sweepEvery {
		l.lastSweep = now
	}
	return last
}
