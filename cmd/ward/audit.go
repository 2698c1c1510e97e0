package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/store"
)

// errBrokenChain makes `ward audit verify` exit with status 1.
var errBrokenChain = errors.New("audit: a chain is broken")

// audit runs `ward audit verify [-project ID]`: it walks the audit hash
// chain of one project, or of every project with a trail, prints one line
// per project and fails when a chain is broken.
func audit(ctx context.Context, args []string) error {
	if len(args) == 0 || args[0] != "verify" {
		return fmt.Errorf("usage: ward audit verify [-project ID] [database flags]")
	}
	fs := flag.NewFlagSet("audit verify", flag.ContinueOnError)
	var db dbConfig
	db.flags(fs)
	project := fs.String("project", "", "the project whose trail to verify; empty = every project with a trail")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	s, err := db.open(ctx, logger)
	if err != nil {
		return err
	}
	defer s.Close()
	return verifyAudit(ward.NewContextWithPrincipal(ctx, ward.SystemPrincipal()), s, *project, os.Stdout)
}

func verifyAudit(ctx context.Context, s *store.Store, project string, out io.Writer) error {
	projects := []string{project}
	if project == "" {
		var err error
		if projects, err = s.AuditProjects(ctx); err != nil {
			return err
		}
	}
	broken := false
	for _, p := range projects {
		v, err := s.VerifyAudit(ctx, p)
		if err != nil {
			return fmt.Errorf("project %s: %w", p, err)
		}
		if v.OK {
			fmt.Fprintf(out, "project %s: ok, %d records\n", p, v.Checked)
			continue
		}
		broken = true
		fmt.Fprintf(out, "project %s: BROKEN at seq %d: %s", p, v.BrokenSeq, v.Problem)
		if v.EventID != "" {
			fmt.Fprintf(out, " (AuditEvent/%s)", v.EventID)
		}
		fmt.Fprintf(out, "; %d records verified before it\n", v.Checked)
	}
	if broken {
		return errBrokenChain
	}
	return nil
}

// auditSink opens the -audit-log destination: "" none, "stdout", or a file
// appended to. close is never nil.
func auditSink(dest string) (w io.Writer, close func() error, err error) {
	switch dest {
	case "":
		return nil, func() error { return nil }, nil
	case "stdout":
		return os.Stdout, func() error { return nil }, nil
	}
	f, err := os.OpenFile(dest, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, nil, fmt.Errorf("-audit-log: %w", err)
	}
	return f, f.Close, nil
}
