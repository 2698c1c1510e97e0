package blob

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// S3Config names an S3-compatible bucket (AWS, MinIO, Ceph, R2, …).
type S3Config struct {
	Bucket string
	// Endpoint is the service URL for a store other than AWS
	// ("http://minio:9000"); empty: AWS's endpoint for Region.
	Endpoint string
	Region   string // default "us-east-1"
	// AccessKey and SecretKey; empty: the AWS default chain (environment,
	// shared config, instance role).
	AccessKey string
	SecretKey string
	// Prefix is put before every key ("ward/"), so one bucket can hold
	// several servers.
	Prefix string
	// PathStyle addresses the bucket in the path, as most non-AWS stores
	// want; set whenever Endpoint is.
	PathStyle bool
	// TempDir holds uploads while they are staged; empty: os.TempDir().
	TempDir string
}

// S3 stores blobs as objects of one bucket. An upload is staged in a
// temporary file (so the request never sits in memory and the object is
// sent with its length in one PUT) and becomes visible when Commit puts it.
type S3 struct {
	client *s3.Client
	cfg    S3Config
}

var _ Store = (*S3)(nil)

// NewS3 returns the store of cfg.Bucket.
func NewS3(ctx context.Context, cfg S3Config) (*S3, error) {
	if cfg.Bucket == "" {
		return nil, errors.New("blob: S3 needs a bucket")
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	opts := []func(*config.LoadOptions) error{config.WithRegion(cfg.Region)}
	if cfg.AccessKey != "" {
		opts = append(opts, config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(cfg.AccessKey, cfg.SecretKey, "")))
	}
	awsCfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("blob: S3 config: %w", err)
	}
	client := s3.NewFromConfig(awsCfg, func(o *s3.Options) {
		if cfg.Endpoint != "" {
			o.BaseEndpoint = aws.String(cfg.Endpoint)
		}
		o.UsePathStyle = cfg.PathStyle
		// Checksums only where the API demands them: many S3-compatible
		// stores do not read the SDK's default trailing checksums.
		o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
		o.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
	})
	return &S3{client: client, cfg: cfg}, nil
}

func (s *S3) object(key string) *string { return aws.String(s.cfg.Prefix + key) }

// Stage implements Store.
func (s *S3) Stage(ctx context.Context, r io.Reader, limit int64) (Staged, error) {
	f, err := os.CreateTemp(s.cfg.TempDir, "ward-upload-*")
	if err != nil {
		return nil, err
	}
	n, h, err := spool(ctx, f, r, limit)
	if err != nil {
		f.Close()
		_ = os.Remove(f.Name())
		return nil, err
	}
	return &s3Staged{s3: s, f: f, size: n, sum: h.Sum(nil)}, nil
}

// Open implements Store.
func (s *S3) Open(ctx context.Context, key string) (io.ReadCloser, error) {
	if !validKey(key) {
		return nil, ErrNotFound
	}
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &s.cfg.Bucket, Key: s.object(key)})
	var missing *types.NoSuchKey
	if errors.As(err, &missing) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	return out.Body, nil
}

// Delete implements Store.
func (s *S3) Delete(ctx context.Context, prefix string) error {
	if !validKey(prefix) {
		return errors.New("blob: bad prefix")
	}
	if _, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &s.cfg.Bucket, Key: s.object(prefix)}); err != nil {
		return err
	}
	pages := s3.NewListObjectsV2Paginator(s.client, &s3.ListObjectsV2Input{Bucket: &s.cfg.Bucket, Prefix: s.object(prefix + "/")})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return err
		}
		for _, obj := range page.Contents {
			if _, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &s.cfg.Bucket, Key: obj.Key}); err != nil {
				return err
			}
		}
	}
	return nil
}

type s3Staged struct {
	s3   *S3
	f    *os.File // nil once discarded
	size int64
	sum  []byte
}

func (st *s3Staged) Size() int64    { return st.size }
func (st *s3Staged) SHA256() []byte { return st.sum }

func (st *s3Staged) Commit(ctx context.Context, key string) error {
	if !validKey(key) {
		return errors.New("blob: bad key")
	}
	if st.f == nil {
		return errors.New("blob: discarded")
	}
	if _, err := st.f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	_, err := st.s3.client.PutObject(ctx, &s3.PutObjectInput{
		Bucket: &st.s3.cfg.Bucket, Key: st.s3.object(key),
		Body: st.f, ContentLength: aws.Int64(st.size),
	})
	return err
}

func (st *s3Staged) Discard() error {
	if st.f == nil {
		return nil
	}
	name := st.f.Name()
	st.f.Close()
	st.f = nil
	return os.Remove(name)
}
