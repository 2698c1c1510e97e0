//go:build wip

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/fhir"
	wardhttp "github.com/wardhealth/ward/http"
	"github.com/wardhealth/ward/search"
	"github.com/wardhealth/ward/store"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

type serveConfig struct {
	addr    string
	baseURL string
	maxBody int64
	db      dbConfig
}

func serve(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	var c serveConfig
	fs.StringVar(&c.addr, "addr", env("WARD_ADDR", ":8103"), "listen address [WARD_ADDR]")
	fs.StringVar(&c.baseURL, "base-url", env("WARD_BASE_URL", "http://localhost:8103/"), "public base URL [WARD_BASE_URL]")
	fs.Int64Var(&c.maxBody, "max-body", envInt("WARD_MAX_BODY_BYTES", wardhttp.DefaultMaxBodyBytes), "request body limit in bytes [WARD_MAX_BODY_BYTES]")
	c.db.flags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	logger := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	s, err := c.db.open(ctx, logger)
	if err != nil {
		return err
	}
	defer s.Close()
	handler := newHandler(s, c, logger)
	ln, err := net.Listen("tcp", c.addr)
	if err != nil {
		return err
	}
	logger.Info("ward listening", "addr", ln.Addr().String(), "database", c.db.engine(), "version", version)
	return serveUntilDone(ctx, ln, handler, logger)
}

// newHandler wires the store into the HTTP API and mounts /metrics.
func newHandler(s *store.Store, c serveConfig, logger *slog.Logger) http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	reg.MustRegister(collectors.NewDBStatsCollector(s.DB(), "ward_read"))
	if s.WriterDB() != s.DB() {
		reg.MustRegister(collectors.NewDBStatsCollector(s.WriterDB(), "ward_write"))
	}
	api := wardhttp.NewServer(wardhttp.Options{
		Store:         s,
		Logger:        logger,
		BaseURL:       c.baseURL,
		MaxBodyBytes:  c.maxBody,
		Registry:      reg,
		Authenticate:  defaultProject,
		Parse:         search.Parse,
		ResourceTypes: fhir.ResourceTypes(),
		SearchParams:  capabilityParams,
		Version:       version,
		Database:      c.db.engine(),
	})
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.Handle("/", api.Handler())
	return mux
}

// defaultProject is the caller of every request until identity lands.
func defaultProject(*http.Request) (*ward.Principal, error) {
	return &ward.Principal{ProjectID: DefaultProjectID}, nil
}

func capabilityParams(resourceType string) []wardhttp.SearchParam {
	var out []wardhttp.SearchParam
	for _, p := range fhir.SearchParams(resourceType) {
		if p.Type == "composite" || p.Type == "special" {
			continue // not supported yet, so not advertised
		}
		out = append(out, wardhttp.SearchParam{Code: p.Code, Type: p.Type, Targets: p.Targets})
	}
	return out
}

// serveUntilDone serves until ctx ends, then drains requests for up to 20s.
func serveUntilDone(ctx context.Context, ln net.Listener, h http.Handler, logger *slog.Logger) error {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	logger.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
