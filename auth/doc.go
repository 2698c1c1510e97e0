// Package auth owns identity: users and their passwords, logins, signing
// keys and tokens, the first-start seed, and the HTTP endpoints Medplum's
// client calls for them (/auth/*, /oauth2/*, /.well-known/*, /admin/*).
//
// It turns a request's credentials into a *ward.Principal (Authenticate);
// it must not decide what that principal may see — the store enforces the
// project wall and the policy package access compiles. Identity resources
// (User, Login, ProjectMembership, ClientApplication, JsonWebKey) are stored
// through ward.ResourceStore like any other resource, read and written with
// the system principal.
//
// Every identity and admin event (sign-ins allowed or refused, tokens,
// refreshes, logouts, registrations, password and membership changes,
// project configuration, key rotation) is recorded in Config.Audit before
// its answer leaves (audit.go), in the trail of the project the caller
// proved to belong to — never one the request merely named.
//
// Written by hand: OAuth2/OIDC flows with Medplum's exact shapes. Signing
// uses golang-jwt, passwords x/crypto/bcrypt, rate limits x/time/rate.
package auth
