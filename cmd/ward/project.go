package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	"filippo.io/age"
	"github.com/google/uuid"

	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/store"
)

// `ward project export|import|key`: a project's encrypted backup file
// (its format: store/backupfile.go) and its key.

// projectCommand runs `ward project export|import|key`.
func projectCommand(ctx context.Context, args []string) error {
	usage := errors.New("usage: ward project export -project ID -out FILE | import -in FILE [-identity KEYFILE] [-as-new-project | -project ID] | key -project ID -out KEYFILE [database flags]")
	if len(args) == 0 {
		return usage
	}
	fs := flag.NewFlagSet("project "+args[0], flag.ContinueOnError)
	var db dbConfig
	db.flags(fs)
	var binary binaryConfig
	binary.flags(fs)
	project := fs.String("project", "", "the project's id; with import, the id it is restored as (a copy under new ids when not the archive's own)")
	asNew := fs.Bool("as-new-project", false, "with import: restore a copy under a new project id, every resource under a new id")
	out := fs.String("out", "", "the file to write (refused if it exists)")
	in := fs.String("in", "", "the backup file to restore")
	identity := fs.String("identity", "", "with import: the project's key file (from `ward project key`), when this server does not hold it")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	s, err := db.open(ctx, logger)
	if err != nil {
		return err
	}
	defer s.Close()
	blobs, err := binary.blobs(ctx, db.dataDir)
	if err != nil {
		return err
	}
	s.UseBlobs(blobs) // Binary bytes travel in the archive
	ctx = ward.NewContextWithPrincipal(ctx, ward.SystemPrincipal())
	switch args[0] {
	case "export":
		if *project == "" || *out == "" {
			return usage
		}
		m, err := exportProject(ctx, s, *project, *out)
		if err != nil {
			return err
		}
		fmt.Printf("project %s: %d resources, %d versions, %d audit records → %s\n", m.ProjectID,
			m.Files["resources.ndjson"].Rows, m.Files["resource_history.ndjson"].Rows, m.Files["audit_chain.ndjson"].Rows, *out)
		return nil
	case "import":
		if *in == "" || (*asNew && *project != "") {
			return usage
		}
		opts := store.ImportOptions{AsProject: *project}
		if *asNew {
			opts.AsProject = uuid.NewString()
		}
		res, err := importProject(ctx, s, *in, *identity, opts)
		if err != nil {
			return err
		}
		m := res.Manifest
		if res.Project != m.ProjectID {
			fmt.Printf("project %s restored as a copy, project %s: %d resources, %d versions (its audit trail stays with the original)\n",
				m.ProjectID, res.Project, m.Files["resources.ndjson"].Rows, m.Files["resource_history.ndjson"].Rows)
			return nil
		}
		fmt.Printf("project %s restored: %d resources, %d versions, %d audit records\n", m.ProjectID,
			m.Files["resources.ndjson"].Rows, m.Files["resource_history.ndjson"].Rows, m.Files["audit_chain.ndjson"].Rows)
		return nil
	case "key":
		if *project == "" || *out == "" {
			return usage
		}
		key, err := s.ProjectBackupKey(ctx, *project)
		if err != nil {
			return err
		}
		return writeNew(*out, func(w io.Writer) error {
			_, err := fmt.Fprintf(w, "# ward project %s backup key (age); keep it secret\n%s\n", *project, key)
			return err
		})
	}
	return usage
}

// exportProject writes project's backup to path, encrypted to its key.
func exportProject(ctx context.Context, s *store.Store, project, path string) (*store.ArchiveManifest, error) {
	var m *store.ArchiveManifest
	err := writeNew(path, func(w io.Writer) error {
		var err error
		m, err = s.WriteProjectBackup(ctx, project, w)
		return err
	})
	return m, err
}

// importProject restores the backup at path, decrypted with the key file
// given, or else with the project's key held by this server.
func importProject(ctx context.Context, s *store.Store, path, identityFile string, opts store.ImportOptions) (*store.ArchiveImport, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var ids []age.Identity
	if identityFile != "" {
		kf, err := os.Open(identityFile)
		if err != nil {
			return nil, err
		}
		defer kf.Close()
		if ids, err = age.ParseIdentities(kf); err != nil {
			return nil, fmt.Errorf("%s: %w", identityFile, err)
		}
	}
	res, err := s.RestoreProjectBackup(ctx, f, ids, opts)
	if err != nil && identityFile == "" && errors.Is(err, store.ErrArchive) {
		return nil, fmt.Errorf("%s: %w (a backup from another server is restored with -identity KEYFILE)", path, err)
	}
	return res, err
}

// writeNew writes a new file through write, refusing to replace one, and
// renames it into place only once it is complete and synced.
func writeNew(path string, write func(io.Writer) error) error {
	if _, err := os.Stat(path); err == nil {
		return fmt.Errorf("%s exists: refusing to overwrite it", path)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	bw := bufio.NewWriter(tmp)
	if err := write(bw); err != nil {
		tmp.Close()
		return err
	}
	if err := bw.Flush(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
