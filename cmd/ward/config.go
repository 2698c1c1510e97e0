package main

import (
	"context"
	"flag"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/wardhealth/ward/store"
	"github.com/wardhealth/ward/store/postgres"
	"github.com/wardhealth/ward/store/sqlite"
)

// dbConfig selects and tunes the database.
type dbConfig struct {
	url        string // postgres://… ; empty = embedded SQLite
	dataDir    string
	sqliteSync string
}

func (c *dbConfig) flags(fs *flag.FlagSet) {
	fs.StringVar(&c.url, "database-url", env("WARD_DATABASE_URL", ""), "PostgreSQL URL (postgres://…); empty for embedded SQLite [WARD_DATABASE_URL]")
	fs.StringVar(&c.dataDir, "data-dir", env("WARD_DATA_DIR", "data"), "directory of the embedded SQLite database [WARD_DATA_DIR]")
	fs.StringVar(&c.sqliteSync, "sqlite-sync", env("WARD_SQLITE_SYNC", "FULL"), "SQLite synchronous pragma: FULL survives power loss, NORMAL a crash [WARD_SQLITE_SYNC]")
}

func (c *dbConfig) open(ctx context.Context, logger *slog.Logger) (*store.Store, error) {
	if strings.HasPrefix(c.url, "postgres://") || strings.HasPrefix(c.url, "postgresql://") {
		return postgres.Open(ctx, c.url, postgres.Options{Logger: logger})
	}
	return sqlite.Open(ctx, filepath.Join(c.dataDir, "ward.db"), sqlite.Options{Synchronous: c.sqliteSync, Logger: logger})
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

func envInt(name string, def int64) int64 {
	if v, err := strconv.ParseInt(os.Getenv(name), 10, 64); err == nil {
		return v
	}
	return def
}
