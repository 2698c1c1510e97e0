package auth

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base32"
	"encoding/base64"
	"image/png"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/hotp"
	"github.com/pquerna/otp/totp"

	"github.com/wardhealth/ward"
)

// Multi-factor authentication with time-based one-time codes (RFC 6238),
// with Medplum's endpoints and shapes (spec part 2, §5):
//
//	GET  /auth/mfa/status        (bearer) {enrolled} or {enrolled:false, enrollUri, enrollQrCode}
//	POST /auth/mfa/enroll        (bearer) {token} → All OK; the user is enrolled
//	POST /auth/mfa/disable       (bearer) {token} → All OK; not enrolled, a new secret
//	POST /auth/mfa/verify        {login, token} → the login result (a code, or the chooser)
//	POST /auth/mfa/login-enroll  {login, token} → enrolled, then the login result
//
// A password login of an enrolled user answers {login, mfaRequired: true}
// and no code until /auth/mfa/verify; one that must enrol (User.mfaRequired,
// or the project's "requireMfa" setting — Ward's addition, Medplum 5.1.3 has
// no project-wide switch) answers {login, mfaEnrollRequired: true, enrollUri,
// enrollQrCode}. Where Medplum is weak Ward is not: every way to a code
// (profile choice, scope, cookie re-login, code exchange) requires the
// verified login, a code is accepted once (by the whole fleet when the
// store is shared: UsedStepStore), and wrong codes are throttled per
// user and per address with a lockout.

const (
	// mfaSkew is how many 30-second steps either side of now a code may
	// be from (Medplum's mfaAuthenticatorWindow, default 1).
	mfaSkew = 1
	// mfaPeriod is the TOTP step.
	mfaPeriod = 30 * time.Second
	// mfaSecretBytes is the secret's size: 160 bits, RFC 4226's recommendation.
	mfaSecretBytes = 20
	// requireMfaSetting names the Project.setting (valueBoolean) that
	// makes every member sign in with a code.
	requireMfaSetting = "requireMfa"
	// reasonWrongCode and reasonMfaLocked are the audit reasons of a
	// refused code.
	reasonWrongCode = "wrong MFA code"
	reasonMfaLocked = "MFA attempts exhausted"
)

// mfaCodeOpts are the code parameters every authenticator app defaults to
// (and otplib, Medplum's library): 6 digits, HMAC-SHA1.
var mfaCodeOpts = hotp.ValidateOpts{Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}

// mfaGuard throttles code attempts and refuses a code used before.
type mfaGuard struct {
	// limit counts wrong codes per user and per address: 5 per user, then
	// one every 5 minutes (a lockout: guessing one of a million codes at
	// 12 an hour); 30 per address, then one every 10 s.
	limit *limiter

	// shared, when set (a fleet: Config.SharedLoginLimits), keeps each
	// user's last accepted step in the database, so a code accepted by
	// one process is refused by every other; used then stays empty.
	shared UsedStepStore

	mu sync.Mutex
	// used is each user's last accepted step: a code is good once. Kept
	// in memory (bounded by the users who used a code in the last
	// minutes) when nothing is shared: one process, as on SQLite.
	used      map[string]int64
	lastSweep time.Time
}

// UsedStepStore keeps each user's last accepted TOTP step where every
// process of a fleet sees it (store.Store).
type UsedStepStore interface {
	// ClaimMfaStep records step as userID's last accepted one, false
	// when it or a later one was claimed already.
	ClaimMfaStep(ctx context.Context, userID string, step int64) (bool, error)
	// DropMfaStepsBefore forgets the claims of steps before step.
	DropMfaStepsBefore(ctx context.Context, step int64) error
}

func newMfaGuard() *mfaGuard {
	return &mfaGuard{
		limit: newLimiterWith(
			limitRule{burst: 5, every: 5 * time.Minute},
			limitRule{burst: 30, every: 10 * time.Second},
			maxLimitEntries),
		used: map[string]int64{},
	}
}

// share keeps g's attempt buckets in attempts and its used steps in used
// (either may be nil: that part stays in memory).
func (g *mfaGuard) share(attempts AttemptStore, used UsedStepStore, logger *slog.Logger) {
	if attempts != nil {
		g.limit.share(attempts, "mfa", logger)
	}
	g.shared = used
}

// claim records step as userID's last accepted one, false when it (or a
// later one) was accepted already. With a shared store an error refuses
// the code: accepting it unrecorded would let another process accept it
// again.
func (g *mfaGuard) claim(ctx context.Context, userID string, step int64, now time.Time) (bool, error) {
	oldest := stepAt(now) - 2*mfaSkew - 1 // a step before it matches no code now
	g.mu.Lock()
	sweep := now.Sub(g.lastSweep) >= sweepEvery
	if sweep {
		g.lastSweep = now
		for k, v := range g.used {
			if v < oldest {
				delete(g.used, k)
			}
		}
	}
	if g.shared == nil {
		defer g.mu.Unlock()
		if last, ok := g.used[userID]; ok && step <= last {
			return false, nil
		}
		g.used[userID] = step
		return true, nil
	}
	g.mu.Unlock()
	if sweep {
		if err := g.shared.DropMfaStepsBefore(ctx, oldest); err != nil {
			return false, err
		}
	}
	return g.shared.ClaimMfaStep(ctx, userID, step)
}

// stepAt is the TOTP step (counter) of t.
func stepAt(t time.Time) int64 { return t.Unix() / int64(mfaPeriod/time.Second) }

// matchCode returns the step within the window at now whose code is
// code, and whether there is one.
func matchCode(secret, code string, now time.Time) (int64, bool) {
	if len(code) != mfaCodeOpts.Digits.Length() {
		return 0, false
	}
	at := stepAt(now)
	for step := at - mfaSkew; step <= at+mfaSkew; step++ {
		if ok, err := hotp.ValidateCustom(code, uint64(step), secret, mfaCodeOpts); err == nil && ok {
			return step, true
		}
	}
	return 0, false
}

// newMfaSecret is a fresh base32 secret (no padding), as authenticator
// apps read it.
func newMfaSecret() string {
	b := make([]byte, mfaSecretBytes)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b)
}

// mfaUser is a User as MFA decides on it; raw is its stored form, for
// updates that keep every field.
type mfaUser struct {
	id, email, secret  string
	enrolled, required bool
	projectID          string // the stored project column (system for server-scoped users)
	versionID          string
	raw                map[string]any
}

func (s *Service) readMfaUser(ctx context.Context, id string) (*mfaUser, error) {
	var raw map[string]any
	res, err := s.readJSON(ctx, "User", id, &raw)
	if err != nil {
		if ward.ErrorCode(err) == ward.EINTERNAL {
			return nil, err
		}
		return nil, mfaRefusal("User not found")
	}
	return mfaUserOf(res, raw), nil
}

func mfaUserOf(res *ward.Resource, raw map[string]any) *mfaUser {
	u := &mfaUser{id: res.ID, projectID: res.ProjectID, versionID: res.VersionID, raw: raw}
	u.email, _ = raw["email"].(string)
	u.secret, _ = raw["mfaSecret"].(string)
	u.enrolled, _ = raw["mfaEnrolled"].(bool)
	u.required, _ = raw["mfaRequired"].(bool)
	return u
}

// updateUser applies change to the stored User in one transaction and
// returns it as stored. change sees the current version and may refuse.
func (s *Service) updateUser(ctx context.Context, id string, change func(u *mfaUser) error) (*mfaUser, error) {
	var out *mfaUser
	err := s.store.Write(systemIn(ctx, homeOf("User", id)...), func(ctx context.Context, tx ward.ResourceTx) error {
		cur, err := tx.Read(ctx, "User", id)
		if err != nil {
			return err
		}
		var raw map[string]any
		if err := decodeResource(cur, &raw); err != nil {
			return err
		}
		u := mfaUserOf(cur, raw)
		if err := change(u); err != nil {
			return err
		}
		body, err := withProject(u.raw, cur.ProjectID)
		if err != nil {
			return err
		}
		res, _, err := tx.Update(ctx, "User", id, body, cur.VersionID)
		if err != nil {
			return err
		}
		out = mfaUserOf(res, u.raw)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// ensureSecret gives u a secret when it has none (kept across calls, so
// the QR code shown twice is the same) and returns it.
func (s *Service) ensureSecret(ctx context.Context, u *mfaUser) (string, error) {
	if u.secret != "" {
		return u.secret, nil
	}
	stored, err := s.updateUser(ctx, u.id, func(cur *mfaUser) error {
		if cur.secret == "" {
			cur.raw["mfaSecret"] = newMfaSecret()
		}
		return nil
	})
	if conflicted(err) {
		// Another request gave it one first: use that one.
		stored, err = s.readMfaUser(ctx, u.id)
	}
	if err != nil {
		return "", err
	}
	return stored.raw["mfaSecret"].(string), nil
}

// enrollment is the otpauth:// URI of secret for email and its QR code as
// a PNG data URL. The issuer is the server's host name, so a user with
// accounts on several servers tells them apart in the app.
func (s *Service) enrollment(email, secret string) (uri, qr string, err error) {
	raw, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(secret)
	if err != nil {
		return "", "", ward.Errorf(ward.EINTERNAL, "mfa secret: %v", err)
	}
	issuer := "Ward"
	if u, perr := url.Parse(s.cfg.BaseURL); perr == nil && u.Hostname() != "" {
		issuer = u.Hostname()
	}
	account := email
	if account == "" {
		account = "user"
	}
	key, err := totp.Generate(totp.GenerateOpts{Issuer: issuer, AccountName: account, Secret: raw,
		Period: uint(mfaPeriod / time.Second), Digits: mfaCodeOpts.Digits, Algorithm: mfaCodeOpts.Algorithm})
	if err != nil {
		return "", "", ward.Errorf(ward.EINTERNAL, "mfa key: %v", err)
	}
	img, err := key.Image(256, 256)
	if err != nil {
		return "", "", ward.Errorf(ward.EINTERNAL, "mfa qr code: %v", err)
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return "", "", ward.Errorf(ward.EINTERNAL, "mfa qr code: %v", err)
	}
	return key.URL(), "data:image/png;base64," + base64.StdEncoding.EncodeToString(buf.Bytes()), nil
}

// checkCode accepts code for u from r's address under the guard: with no
// attempt left for the user or the address it is 429 before the code is
// looked at; a wrong or reused code spends an attempt, is recorded as a
// failed sign-in and answers wrong. A right code spends nothing.
func (s *Service) checkCode(ctx context.Context, r *http.Request, u *mfaUser, code string, wrong error) error {
	now := s.cfg.Now()
	addr := remoteAddress(r)
	failure := LoginFailure{Email: u.email, RemoteAddress: addr}
	if s.mfa.limit.exhausted(ctx, now, u.id, addr) {
		failure.Reason = reasonMfaLocked
		s.loginFailed(ctx, failure)
		return ward.Errorf(ward.ETOOMANY, "Too many MFA attempts, try again later")
	}
	if step, ok := matchCode(u.secret, code, now); ok {
		claimed, err := s.mfa.claim(ctx, u.id, step, now)
		if err != nil {
			return ward.Errorf(ward.EINTERNAL, "mfa: the code could not be recorded as used: %v", err)
		}
		if claimed {
			return nil
		}
	}
	failure.Reason = reasonWrongCode
	s.loginFailed(ctx, failure)
	if err := s.mfa.limit.allow(ctx, now, u.id, addr); err != nil {
		return ward.Errorf(ward.ETOOMANY, "Too many MFA attempts, try again later")
	}
	return wrong
}

// mfaRefusal is a 400 with Medplum's text and, as Medplum's, no
// expression (only its request validation names a field).
func mfaRefusal(text string) error { return &ward.Error{Code: ward.EINVALID, Message: text} }

// mfaDue is what a login owes before it may have a code.
type mfaDue int

const (
	mfaNothing mfaDue = iota
	mfaCode           // enrolled: verify a code
	mfaEnroll         // required but not enrolled: enrol with a code
)

// loginMfa is what a login owes for its user: a code when enrolled, an
// enrolment when the user must have MFA. Only password logins owe
// anything (Medplum's rule: other methods were verified by their
// provider), and a verified login owes nothing. u is the user when the
// caller read it already; the returned one is the user read, nil when none
// was needed.
func (s *Service) loginMfa(ctx context.Context, login *Login, u *mfaUser) (mfaDue, *mfaUser, error) {
	if login.AuthMethod != "password" || login.MfaVerified {
		return mfaNothing, u, nil
	}
	userID := refID(login.User, "User")
	if userID == "" {
		return mfaNothing, u, nil
	}
	if u == nil {
		var err error
		if u, err = s.readMfaUser(ctx, userID); err != nil {
			return mfaNothing, nil, err
		}
	}
	switch {
	case u.enrolled:
		return mfaCode, u, nil
	case u.required:
		return mfaEnroll, u, nil
	}
	return mfaNothing, u, nil
}

// mfaOwed is what a login owes for its user and, when project is not nil,
// for the project's requireMfa setting.
func (s *Service) mfaOwed(ctx context.Context, login *Login, project *Project) (mfaDue, error) {
	due, u, err := s.loginMfa(ctx, login, nil)
	if err != nil || due != mfaNothing || u == nil {
		return due, err
	}
	if project != nil && project.requiresMfa() {
		return mfaEnroll, nil
	}
	return mfaNothing, nil
}

// projectRequiresMfa reads the project's requireMfa setting.
func (s *Service) projectRequiresMfa(ctx context.Context, projectID string) (bool, error) {
	var p Project
	if _, err := s.readJSON(ctx, "Project", projectID, &p); err != nil {
		if ward.ErrorCode(err) == ward.EINTERNAL {
			return false, err
		}
		return false, nil
	}
	return p.requiresMfa(), nil
}

// mfaAnswer is the login response asking for what due owes.
func (s *Service) mfaAnswer(ctx context.Context, login *Login, due mfaDue, u *mfaUser) (*loginResponse, error) {
	if due == mfaCode {
		return &loginResponse{Login: login.ID, MfaRequired: true}, nil
	}
	secret, err := s.ensureSecret(ctx, u)
	if err != nil {
		return nil, err
	}
	uri, qr, err := s.enrollment(u.email, secret)
	if err != nil {
		return nil, err
	}
	return &loginResponse{Login: login.ID, MfaEnrollRequired: true, EnrollURI: uri, EnrollQrCode: qr}, nil
}

// membershipProjectID is the project of the login's chosen membership.
func (s *Service) membershipProjectID(ctx context.Context, login *Login) (string, error) {
	var m Membership
	if _, err := s.readJSON(ctx, "ProjectMembership", refID(login.Membership, "ProjectMembership"), &m, loginProject(login)); err != nil {
		if ward.ErrorCode(err) == ward.EINTERNAL {
			return "", err
		}
		return "", badRequest("profile", "Profile not found")
	}
	return referenceID(m.Project), nil
}

// --- handlers ---

func (s *Service) mountMFA(mux *http.ServeMux) {
	mux.HandleFunc("GET /auth/mfa/status", s.handleMfaStatus)
	mux.HandleFunc("POST /auth/mfa/enroll", s.audited(kindLogin, "mfa-enroll", "U", s.mfaCallerRoute(s.enrollCaller)))
	mux.HandleFunc("POST /auth/mfa/disable", s.audited(kindLogin, "mfa-disable", "U", s.mfaCallerRoute(s.disable)))
	mux.HandleFunc("POST /auth/mfa/verify", s.audited(kindLogin, "mfa-verify", "E", s.handleMfaVerify))
	mux.HandleFunc("POST /auth/mfa/login-enroll", s.audited(kindLogin, "mfa-enroll", "E", s.handleMfaLoginEnroll))
}

// callerUser is the signed-in user of a bearer request; a client (no
// user) is 403.
func (s *Service) callerUser(ctx context.Context, r *http.Request) (*mfaUser, error) {
	c, err := s.callerOf(ctx, r)
	if err != nil {
		return nil, err
	}
	if c.User == nil {
		return nil, ward.Errorf(ward.EFORBIDDEN, "Forbidden")
	}
	return s.readMfaUser(ctx, c.User.ID)
}

func (s *Service) handleMfaStatus(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	u, err := s.callerUser(ctx, r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	if u.enrolled {
		writeJSON(w, http.StatusOK, map[string]any{"enrolled": true})
		return
	}
	secret, err := s.ensureSecret(ctx, u)
	if err != nil {
		writeError(w, r, err)
		return
	}
	uri, qr, err := s.enrollment(u.email, secret)
	if err != nil {
		writeError(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store") // the URI carries the secret
	writeJSON(w, http.StatusOK, map[string]any{"enrolled": false, "enrollUri": uri, "enrollQrCode": qr})
}

type mfaTokenRequest struct {
	Login string `json:"login"`
	Token string `json:"token"`
}

// mfaCallerRoute is POST {token} by a signed-in user: act runs with the
// caller's user and the code, and answers All OK.
func (s *Service) mfaCallerRoute(act func(ctx context.Context, r *http.Request, u *mfaUser, code string) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		var req mfaTokenRequest
		err := decodeBody(r, &req)
		var u *mfaUser
		if err == nil {
			u, err = s.callerUser(ctx, r)
		}
		if err == nil {
			noteTarget(ctx, "User", u.id)
			err = act(ctx, r, u, req.Token)
		}
		if err != nil {
			writeError(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, okOutcome())
	}
}

// enrollCaller turns MFA on for the caller with a first code from the
// secret /auth/mfa/status showed.
func (s *Service) enrollCaller(ctx context.Context, r *http.Request, u *mfaUser, code string) error {
	return s.enroll(ctx, r, u, code, "Invalid token")
}

// enroll checks code against u's secret and marks u enrolled.
func (s *Service) enroll(ctx context.Context, r *http.Request, u *mfaUser, code, wrongText string) error {
	switch {
	case u.enrolled:
		return mfaRefusal("Already enrolled")
	case u.secret == "":
		return mfaRefusal("Secret not found")
	case code == "":
		return badRequest("token", "Missing token")
	}
	if err := s.checkCode(ctx, r, u, code, mfaRefusal(wrongText)); err != nil {
		return err
	}
	_, err := s.updateUser(ctx, u.id, func(cur *mfaUser) error {
		if cur.enrolled {
			return mfaRefusal("Already enrolled")
		}
		if cur.secret != u.secret {
			// The secret changed under the code (disabled meanwhile).
			return mfaRefusal(wrongText)
		}
		cur.raw["mfaEnrolled"] = true
		return nil
	})
	return err
}

// disable turns MFA off with a current code; the next enrolment gets a
// new secret (a lost or stolen device's secret is dead).
func (s *Service) disable(ctx context.Context, r *http.Request, u *mfaUser, code string) error {
	switch {
	case u.secret == "":
		return mfaRefusal("Secret not found")
	case !u.enrolled:
		return mfaRefusal("User not enrolled in MFA")
	case code == "":
		return badRequest("token", "Missing token")
	}
	if err := s.checkCode(ctx, r, u, code, mfaRefusal("Invalid token")); err != nil {
		return err
	}
	_, err := s.updateUser(ctx, u.id, func(cur *mfaUser) error {
		if !cur.enrolled || cur.secret != u.secret {
			return mfaRefusal("User not enrolled in MFA")
		}
		cur.raw["mfaEnrolled"] = false
		cur.raw["mfaSecret"] = newMfaSecret()
		return nil
	})
	return err
}

// pendingMfaLogin validates {login, token} of the two login-time routes
// and loads the login (open, not yet verified) and its user.
func (s *Service) pendingMfaLogin(ctx context.Context, req mfaTokenRequest) (*Login, *mfaUser, error) {
	switch {
	case req.Login == "":
		return nil, nil, badRequest("login", "Missing login")
	case req.Token == "":
		return nil, nil, badRequest("token", "Missing token")
	}
	login, err := s.readLogin(ctx, req.Login)
	if err != nil {
		return nil, nil, err
	}
	if err := checkLoginOpen(login); err != nil {
		return nil, nil, err
	}
	if login.MfaVerified {
		return nil, nil, mfaRefusal("Login already verified")
	}
	userID := refID(login.User, "User")
	if userID == "" {
		return nil, nil, mfaRefusal("User not enrolled in MFA")
	}
	u, err := s.readMfaUser(ctx, userID)
	if err != nil {
		return nil, nil, err
	}
	noteUser(ctx, &User{ID: u.id, Project: userProjectRef(u)})
	return login, u, nil
}

// userProjectRef is the project of a project-scoped user, nil for a
// server-scoped one.
func userProjectRef(u *mfaUser) *Reference {
	if u.projectID == "" || u.projectID == ward.SystemProjectID {
		return nil
	}
	return &Reference{Reference: "Project/" + u.projectID}
}

// handleMfaVerify is the login step of an enrolled user: the code, then
// the login result /auth/login would have given.
func (s *Service) handleMfaVerify(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	var req mfaTokenRequest
	if err := decodeBody(r, &req); err != nil {
		writeError(w, r, err)
		return
	}
	login, u, err := s.pendingMfaLogin(ctx, req)
	if err == nil && (!u.enrolled || u.secret == "") {
		err = mfaRefusal("User not enrolled in MFA")
	}
	if err == nil {
		err = s.checkCode(ctx, r, u, req.Token, mfaRefusal("Invalid MFA token"))
	}
	if err != nil {
		writeError(w, r, err)
		return
	}
	s.respondVerified(w, r, login)
}

// handleMfaLoginEnroll is the login step of a user who must enrol: the
// first code from the secret the login answer showed, then the login result.
func (s *Service) handleMfaLoginEnroll(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	var req mfaTokenRequest
	if err := decodeBody(r, &req); err != nil {
		writeError(w, r, err)
		return
	}
	login, u, err := s.pendingMfaLogin(ctx, req)
	if err == nil {
		noteTarget(ctx, "User", u.id)
		err = s.enroll(ctx, r, u, req.Token, "Invalid MFA token")
	}
	if err != nil {
		writeError(w, r, err)
		return
	}
	s.respondVerified(w, r, login)
}

// respondVerified answers a login that just passed its code with the
// login result, the verification stored before the answer leaves: by the
// membership choice when the result makes one (one write, not two), else
// on its own.
func (s *Service) respondVerified(w http.ResponseWriter, r *http.Request, login *Login) {
	ctx := r.Context()
	hadMembership := login.Membership != nil
	login.MfaVerified = true
	out, err := s.loginResult(ctx, w, login)
	if err == nil && (hadMembership || login.Membership == nil) {
		_, err = s.updateLogin(ctx, login.ID, "", func(m map[string]any) { m["mfaVerified"] = true })
	}
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}
