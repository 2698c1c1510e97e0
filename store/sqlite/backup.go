package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
)

// Backup writes a consistent copy of the database at dbPath to outPath
// while other connections, in this process or another (a running
// "ward serve"), go on writing.
//
// The copy is SQLite's VACUUM INTO run on a read-only connection: it reads
// in one read transaction, so it holds exactly the transactions committed
// before it began, and in WAL mode a reader never blocks the writer. The
// copy is written to outPath+".tmp", synced, and then linked (or renamed)
// to outPath and the directory synced, so outPath is either absent or
// complete. Backup never
// overwrites: it fails when outPath or outPath+".tmp" exists, and it never
// creates or migrates the database at dbPath.
func Backup(ctx context.Context, dbPath, outPath string) (err error) {
	if _, err := os.Stat(dbPath); err != nil {
		return fmt.Errorf("backup: database %s: %w", dbPath, err)
	}
	if _, err := os.Lstat(outPath); err == nil {
		return fmt.Errorf("backup: %s already exists; not overwriting it", outPath)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("backup: %w", err)
	}
	dir := filepath.Dir(outPath)
	if fi, err := os.Stat(dir); err != nil {
		return fmt.Errorf("backup: output directory: %w", err)
	} else if !fi.IsDir() {
		return fmt.Errorf("backup: output directory %s is not a directory", dir)
	}

	// Claim the temporary name: two backups to one target cannot both write
	// it, and a file left by an interrupted backup is not silently reused.
	tmp := outPath + ".tmp"
	f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("backup: %s exists (another backup running, or left by an interrupted one; remove it)", tmp)
		}
		return fmt.Errorf("backup: %w", err)
	}
	f.Close() // VACUUM INTO writes into an empty file
	defer func() {
		if err != nil {
			os.Remove(tmp)
		}
	}()

	db, err := sql.Open("sqlite", readOnlyDSN(dbPath))
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	// The file name is a bound parameter: no quoting, no injection.
	if _, err := db.ExecContext(ctx, "VACUUM INTO ?", tmp); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	if err := db.Close(); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	if err := syncFile(tmp); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	// os.Rename would replace an outPath created meanwhile; a hard link
	// refuses to, portably.
	if err := os.Link(tmp, outPath); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("backup: %s already exists; not overwriting it", outPath)
		}
		// A file system without hard links: rename after one more check.
		if _, serr := os.Lstat(outPath); serr == nil {
			return fmt.Errorf("backup: %s already exists; not overwriting it", outPath)
		}
		if err := os.Rename(tmp, outPath); err != nil {
			return fmt.Errorf("backup: %w", err)
		}
	} else if err := os.Remove(tmp); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	if err := syncFile(dir); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	return nil
}

// readOnlyDSN opens dbPath read-only (mode=ro): no database file is
// created, and nothing that writes (journal_mode, migrations) runs. The WAL
// index is shared with the writers, so the reader sees their commits.
// (query_only would also refuse VACUUM INTO, which writes another file.)
func readOnlyDSN(dbPath string) string {
	q := url.Values{}
	q.Set("mode", "ro")
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "temp_store(MEMORY)")
	return "file:" + uriPath(dbPath) + "?" + q.Encode()
}

func syncFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
