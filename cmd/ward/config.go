package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/crypto/bcrypt"

	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/auth"
	"github.com/wardhealth/ward/store"
	"github.com/wardhealth/ward/store/postgres"
	"github.com/wardhealth/ward/store/sqlite"
)

// dbConfig selects and tunes the database.
type dbConfig struct {
	url        string // postgres://… ; empty = embedded SQLite
	dataDir    string
	sqliteSync string
	// sqliteNoGroup turns SQLite's group commit off (a benchmark's baseline).
	sqliteNoGroup bool
	// hashPartitions partitions a new PostgreSQL schema's project tables
	// by HASH (project_id) (store.Layout); 0 = plain tables.
	hashPartitions int
}

func (c *dbConfig) flags(fs *flag.FlagSet) {
	fs.StringVar(&c.url, "database-url", env("WARD_DATABASE_URL", ""), "PostgreSQL URL (postgres://…); empty for embedded SQLite [WARD_DATABASE_URL]")
	fs.StringVar(&c.dataDir, "data-dir", env("WARD_DATA_DIR", "data"), "directory of the embedded SQLite database [WARD_DATA_DIR]")
	fs.StringVar(&c.sqliteSync, "sqlite-sync", env("WARD_SQLITE_SYNC", "FULL"), "SQLite synchronous pragma: FULL survives power loss, NORMAL a crash [WARD_SQLITE_SYNC]")
	fs.BoolVar(&c.sqliteNoGroup, "sqlite-no-group-commit", envBool("WARD_SQLITE_NO_GROUP_COMMIT", false), "SQLite: give every write a commit and an fsync of its own instead of sharing them among concurrent writes (a benchmark's baseline) [WARD_SQLITE_NO_GROUP_COMMIT]")
	fs.IntVar(&c.hashPartitions, "pg-hash-partitions", int(envInt("WARD_PG_HASH_PARTITIONS", 0)), "PostgreSQL only, when the schema is created: partition every project table by HASH (project_id) into this many partitions (docs/scale.md); 0 = plain tables. On Citus leave it 0: tables are distributed by project instead [WARD_PG_HASH_PARTITIONS]")
}

func (c *dbConfig) open(ctx context.Context, logger *slog.Logger) (*store.Store, error) {
	if strings.HasPrefix(c.url, "postgres://") || strings.HasPrefix(c.url, "postgresql://") {
		return postgres.Open(ctx, c.url, postgres.Options{Logger: logger, HashPartitions: c.hashPartitions})
	}
	return sqlite.Open(ctx, filepath.Join(c.dataDir, "ward.db"), sqlite.Options{Synchronous: c.sqliteSync, NoGroupCommit: c.sqliteNoGroup, Logger: logger})
}

func (c *dbConfig) engine() string {
	if c.url != "" {
		return "postgres"
	}
	return "sqlite"
}

func env(name, def string) string {
	if v, ok := os.LookupEnv(name); ok {
		return v
	}
	return def
}

// splitList splits a comma-separated flag value, dropping empty items.
func splitList(v string) []string {
	var out []string
	for _, item := range strings.Split(v, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

func envInt(name string, def int64) int64 {
	if v, err := strconv.ParseInt(os.Getenv(name), 10, 64); err == nil {
		return v
	}
	return def
}

// authConfig is identity's part of the serve flags.
type authConfig struct {
	adminPassword string
	registration  bool
	bcryptCost    int
	feed          auth.FeedSettings // set by serve from its feed flags
}

func (c *authConfig) flags(fs *flag.FlagSet) {
	fs.StringVar(&c.adminPassword, "admin-password", env("WARD_ADMIN_PASSWORD", ""), "password of the super admin created on an empty database; empty = random, logged once [WARD_ADMIN_PASSWORD]")
	fs.BoolVar(&c.registration, "registration", envBool("WARD_REGISTRATION", true), "allow self-service sign-up (/auth/newuser, /auth/newproject) [WARD_REGISTRATION]")
	fs.IntVar(&c.bcryptCost, "bcrypt-cost", int(envInt("WARD_BCRYPT_COST", 10)), "bcrypt cost of new password hashes, 10 or more [WARD_BCRYPT_COST]")
}

// service builds the identity service over s, recording its events in trail.
func (c *authConfig) service(s *store.Store, baseURL string, logger *slog.Logger, trail ward.AuditLog) (*auth.Service, error) {
	if c.bcryptCost < 10 || c.bcryptCost > bcrypt.MaxCost {
		return nil, fmt.Errorf("-bcrypt-cost %d: must be between 10 and %d", c.bcryptCost, bcrypt.MaxCost)
	}
	if !strings.HasSuffix(baseURL, "/") {
		baseURL += "/" // the token issuer and every URL identity hands out hang off it
	}
	return auth.New(s, auth.Config{
		BaseURL:              baseURL,
		AdminPassword:        c.adminPassword,
		RegistrationDisabled: !c.registration,
		BcryptCost:           c.bcryptCost,
		SharedLoginLimits:    s.Dialect().Name() == "postgres", // a fleet may share the database
		Logger:               logger,
		Audit:                trail,
		Feed:                 c.feed,
	}), nil
}

func envBool(name string, def bool) bool {
	if v, err := strconv.ParseBool(os.Getenv(name)); err == nil {
		return v
	}
	return def
}

// openForCommand parses the database flags of a maintenance command
// (reindex, rotate-key) and opens the store, logging warnings only.
func openForCommand(ctx context.Context, name string, args []string) (*store.Store, *slog.Logger, error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	var db dbConfig
	db.flags(fs)
	if err := fs.Parse(args); err != nil {
		return nil, nil, err
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	s, err := db.open(ctx, logger)
	return s, logger, err
}
