package auth

import (
	"unicode/utf8"

	"golang.org/x/crypto/bcrypt"
)

// validatePassword applies Medplum's length rule (8..72 characters; bcrypt
// ignores bytes after 72).
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

// hashPassword returns the bcrypt hash of pw at the configured cost.
func (s *Service) hashPassword(pw string) (string, error) {
	h, err := bcrypt.GenerateFromPassword([]byte(pw), s.cfg.BcryptCost)
	return string(h), err
}

// checkPassword reports whether pw matches hash, in constant time.
func checkPassword(hash, pw string) bool {
	return hash != "" && bcrypt.CompareHashAndPassword([]byte(hash), []byte(pw)) == nil
}
