package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/wardhealth/ward/blob"
	wardhttp "github.com/wardhealth/ward/http"
)

// binaryConfig selects where Binary bytes live and how uploads are bounded.
type binaryConfig struct {
	kind      string // "dir" or "s3"
	dir       string // default <data-dir>/binary
	s3        blob.S3Config
	maxBytes  int64
	allow     string
	deny      string
	urlSecret string
}

func (c *binaryConfig) flags(fs *flag.FlagSet) {
	fs.StringVar(&c.kind, "binary-store", env("WARD_BINARY_STORE", "dir"), "where Binary bytes live: dir (a directory, -binary-dir) or s3 (an S3-compatible bucket, -s3-*) [WARD_BINARY_STORE]")
	fs.StringVar(&c.dir, "binary-dir", env("WARD_BINARY_DIR", ""), "directory of Binary bytes with -binary-store=dir; empty = <data-dir>/binary [WARD_BINARY_DIR]")
	fs.StringVar(&c.s3.Bucket, "s3-bucket", env("WARD_S3_BUCKET", ""), "S3 bucket of Binary bytes [WARD_S3_BUCKET]")
	fs.StringVar(&c.s3.Endpoint, "s3-endpoint", env("WARD_S3_ENDPOINT", ""), "S3-compatible endpoint URL (MinIO, Ceph, R2, …); empty = AWS; set, the bucket is addressed in the path [WARD_S3_ENDPOINT]")
	fs.StringVar(&c.s3.Region, "s3-region", env("WARD_S3_REGION", "us-east-1"), "S3 region [WARD_S3_REGION]")
	fs.StringVar(&c.s3.AccessKey, "s3-access-key", env("WARD_S3_ACCESS_KEY", ""), "S3 access key id; empty = the AWS default chain (AWS_* environment, shared config, instance role) [WARD_S3_ACCESS_KEY]")
	fs.StringVar(&c.s3.SecretKey, "s3-secret-key", env("WARD_S3_SECRET_KEY", ""), "S3 secret access key [WARD_S3_SECRET_KEY]")
	fs.StringVar(&c.s3.Prefix, "s3-prefix", env("WARD_S3_PREFIX", ""), "prefix of every object key, e.g. ward/ [WARD_S3_PREFIX]")
	fs.Int64Var(&c.maxBytes, "binary-max-bytes", envInt("WARD_BINARY_MAX_BYTES", wardhttp.DefaultBinaryMaxBytes), "largest Binary upload in bytes (413 over it) [WARD_BINARY_MAX_BYTES]")
	fs.StringVar(&c.allow, "binary-allow", env("WARD_BINARY_ALLOW", ""), "comma-separated media types Binary uploads may have (image/* for a family); empty = any [WARD_BINARY_ALLOW]")
	fs.StringVar(&c.deny, "binary-deny", env("WARD_BINARY_DENY", ""), "comma-separated media types refused with 415 (executables are always refused) [WARD_BINARY_DENY]")
	fs.StringVar(&c.urlSecret, "binary-url-secret", env("WARD_BINARY_URL_SECRET", ""), "secret signing /storage URLs (32+ characters; every process of one server needs the same); empty = <data-dir>/binary-url.key, created once [WARD_BINARY_URL_SECRET]")
}

// blobs opens the configured blob store.
func (c *binaryConfig) blobs(ctx context.Context, dataDir string) (blob.Store, error) {
	switch c.kind {
	case "dir":
		dir := c.dir
		if dir == "" {
			dir = filepath.Join(dataDir, "binary")
		}
		return blob.NewDir(dir)
	case "s3":
		c.s3.PathStyle = c.s3.Endpoint != ""
		return blob.NewS3(ctx, c.s3)
	}
	return nil, fmt.Errorf("-binary-store: %q is neither dir nor s3", c.kind)
}

// options returns the Binary options of the HTTP server over blobs.
func (c *binaryConfig) options(blobs blob.Store, dataDir string) (*wardhttp.BinaryOptions, error) {
	secret, err := c.secret(dataDir)
	if err != nil {
		return nil, err
	}
	return &wardhttp.BinaryOptions{Blobs: blobs, MaxBytes: c.maxBytes, Allow: splitList(c.allow), Deny: splitList(c.deny), URLSecret: secret}, nil
}

// secret is -binary-url-secret, or the key file in dataDir, made on first
// use: signed URLs then survive a restart.
func (c *binaryConfig) secret(dataDir string) ([]byte, error) {
	if c.urlSecret != "" {
		if len(c.urlSecret) < 32 {
			return nil, errors.New("-binary-url-secret: use 32 characters or more")
		}
		return []byte(c.urlSecret), nil
	}
	path := filepath.Join(dataDir, "binary-url.key")
	key, err := os.ReadFile(path)
	if err == nil && len(strings.TrimSpace(string(key))) >= 32 {
		return []byte(strings.TrimSpace(string(key))), nil
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, err
	}
	key = []byte(rand.Text() + rand.Text())
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return c.secret(dataDir) // another process made it first
	} else if err != nil {
		return nil, err
	}
	if _, err := f.Write(key); err != nil {
		f.Close()
		return nil, err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return nil, err
	}
	return key, f.Close()
}
