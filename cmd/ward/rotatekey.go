package main

import (
	"context"
	"fmt"
	"os"

	"github.com/wardhealth/ward/auth"
	"github.com/wardhealth/ward/store"
)

// rotateKey stores a new RS256 signing key in the configured database and
// retires the active ones; retired keys keep verifying the tokens they
// signed until those could have expired (auth.Service.RotateKey).
func rotateKey(ctx context.Context, args []string) error {
	s, logger, err := openForCommand(ctx, "rotate-key", args)
	if err != nil {
		return err
	}
	defer s.Close()
	// The rotation joins the server's audit trail, committed before the
	// command reports success.
	trail := s.NewAuditLog(store.AuditOptions{})
	defer trail.Close()
	if err := auth.New(s, auth.Config{Logger: logger, Audit: trail}).RotateKey(ctx); err != nil {
		return err
	}
	fmt.Fprintln(os.Stderr, "rotated the signing key; running servers on PostgreSQL sign with it now (on SQLite, once restarted)")
	return nil
}
