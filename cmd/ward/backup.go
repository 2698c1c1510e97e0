package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/wardhealth/ward/store/sqlite"
)

// backup writes a consistent copy of the embedded SQLite database to -out
// while servers keep writing to it (sqlite.Backup). It opens the database
// file read-only: no migration, no seeding, nothing a running server would
// notice but one more reader. On PostgreSQL it refuses: a whole-cluster
// backup with point-in-time recovery is PostgreSQL's own job
// (pg_basebackup and WAL archiving; README "Backup").
func backup(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("backup", flag.ContinueOnError)
	var db dbConfig
	db.flags(fs)
	out := fs.String("out", "", "file to write the copy to; must not exist")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("backup: unexpected argument %q", fs.Arg(0))
	}
	if db.engine() == "postgres" {
		return errors.New("backup: -database-url is PostgreSQL; back it up with PostgreSQL's tools: " +
			"pg_basebackup with WAL archiving for point-in-time recovery, or pg_dump for a logical copy (README, \"Backup\")")
	}
	if *out == "" {
		return errors.New("backup: -out FILE is required")
	}
	dbPath := filepath.Join(db.dataDir, "ward.db")
	start := time.Now()
	if err := sqlite.Backup(ctx, dbPath, *out); err != nil {
		return err
	}
	fi, err := os.Stat(*out)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "backed up %s to %s: %.1f MB in %s\n", dbPath, *out, float64(fi.Size())/1e6, time.Since(start).Round(time.Millisecond))
	return nil
}
