package auth

import (
	_ "embed"
	"fmt"
	"strings"
	"sync"
	"unicode/utf8"

	"golang.org/x/crypto/bcrypt"

	"github.com/wardhealth/ward"
)

// validatePassword applies Medplum's length rule (8..72 characters; bcrypt
// ignores bytes after 72). It is the rule for a password typed at login;
// a password being set must also pass validateNewPassword.
func validatePassword(pw string) error {
	n := utf8.RuneCountInString(pw)
	if n < 8 {
		return badRequest("password", "Password must be at least 8 characters")
	}
	if len(pw) > 72 {
		return badRequest("password", "Password must be at most 72 characters")
	}
	return nil
}

// breachedText is Medplum's answer for a password of its breach check.
const breachedText = "Password found in breach database"

// validateNewPassword is the rule for every password being set (sign-up,
// change, admin set, invite, the seed): the length rule, then not one of
// the most common breached passwords. Medplum asks an online breach
// service; Ward must work offline, so it checks the embedded list
// (common-passwords.txt, any case). field names the request member in the
// 400, as Medplum does ("password", or "newPassword" on a change).
func validateNewPassword(pw, field string) error {
	if err := validatePassword(pw); err != nil {
		return badRequest(field, ward.ErrorMessage(err))
	}
	if _, common := commonPasswords()[strings.ToLower(pw)]; common {
		return badRequest(field, breachedText)
	}
	return nil
}

// checkAdminPassword refuses a configured seed password that no user could
// set (too short, too long or common), so a server never starts with a
// guessable super admin. It is checked on every start, seeded or not: the
// setting is wrong either way.
func (s *Service) checkAdminPassword() error {
	if s.cfg.AdminPassword == "" {
		return nil
	}
	if err := validateNewPassword(s.cfg.AdminPassword, "password"); err != nil {
		return fmt.Errorf("the configured admin password (-admin-password, WARD_ADMIN_PASSWORD) is refused: %s", ward.ErrorMessage(err))
	}
	return nil
}

//go:embed common-passwords.txt
var commonPasswordsText string

// commonPasswords is the embedded list as a set, built on first use.
var commonPasswords = sync.OnceValue(func() map[string]struct{} {
	set := make(map[string]struct{}, 10_000)
	for line := range strings.Lines(commonPasswordsText) {
		line = strings.TrimRight(line, "\r\n")
		if line != "" && !strings.HasPrefix(line, "#") {
			set[line] = struct{}{}
		}
	}
	return set
})

// hashPassword returns the bcrypt hash of pw at the configured cost.
func (s *Service) hashPassword(pw string) (string, error) {
	h, err := bcrypt.GenerateFromPassword([]byte(pw), s.cfg.BcryptCost)
	return string(h), err
}

// checkPassword reports whether pw matches hash, in constant time.
func checkPassword(hash, pw string) bool {
	return hash != "" && bcrypt.CompareHashAndPassword([]byte(hash), []byte(pw)) == nil
}
