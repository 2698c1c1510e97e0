package main

// TLS in transit for ward serve. Ward carries health records and bearer
// tokens, so where no terminating proxy stands in front of it, it must
// speak TLS itself; and once it does, nothing on that port may be served
// in the clear, or a client that typed http:// would send its token
// unprotected and still get an answer.

import (
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// tlsConfig is the TLS part of the serve flags.
type tlsConfig struct {
	certFile, keyFile string
	// redirectAddr, when set, is a plain HTTP address that sends every
	// request on to https, for people and links that still say http://.
	redirectAddr string
}

func (c *tlsConfig) flags(fs *flag.FlagSet) {
	fs.StringVar(&c.certFile, "tls-cert", env("WARD_TLS_CERT", ""), "PEM certificate (chain) file; with -tls-key, -addr serves HTTPS only (TLS 1.2 and later); empty = plain HTTP [WARD_TLS_CERT]")
	fs.StringVar(&c.keyFile, "tls-key", env("WARD_TLS_KEY", ""), "PEM private key file of -tls-cert [WARD_TLS_KEY]")
	fs.StringVar(&c.redirectAddr, "http-redirect-addr", env("WARD_HTTP_REDIRECT_ADDR", ""), "with TLS on, answer plain HTTP on this address (e.g. :80) with 308 to the same path on https; empty = off [WARD_HTTP_REDIRECT_ADDR]")
}

// load checks the flags together and loads the key pair, so a typo stops
// the server at start rather than at the first handshake. It returns nil
// when TLS is off.
func (c *tlsConfig) load() (*tls.Config, error) {
	switch {
	case c.certFile == "" && c.keyFile == "":
		if c.redirectAddr != "" {
			return nil, errors.New("-http-redirect-addr needs -tls-cert and -tls-key: without TLS there is nothing to redirect to")
		}
		return nil, nil
	case c.keyFile == "":
		return nil, errors.New("-tls-cert needs -tls-key")
	case c.certFile == "":
		return nil, errors.New("-tls-key needs -tls-cert")
	}
	cert, err := tls.LoadX509KeyPair(c.certFile, c.keyFile)
	if err != nil {
		return nil, fmt.Errorf("-tls-cert/-tls-key: %w", err)
	}
	// TLS 1.0 and 1.1 are deprecated (RFC 8996) and not acceptable for
	// health data; Go's defaults do the rest (cipher suites, curves).
	return &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}, nil
}

// tlsBaseURL returns the base URL to hand out with TLS on. An unset
// -base-url still names the default http:// URL, which would send every
// link and the token issuer to a port that now refuses plain HTTP, so it
// becomes https; one set on purpose is kept, with a warning if it is
// http:// (it may name a proxy in front, but more likely it is a mistake).
func tlsBaseURL(baseURL string, explicit bool, logger *slog.Logger) string {
	if !strings.HasPrefix(baseURL, "http://") {
		return baseURL
	}
	if !explicit {
		return "https://" + strings.TrimPrefix(baseURL, "http://")
	}
	logger.Warn("TLS is on but -base-url is http://: links and the token issuer point clients at plain HTTP", "base_url", baseURL)
	return baseURL
}

// redirectPort is the port the redirect sends clients to: the one of an
// https -base-url set on purpose (the public one, which may differ from
// the listener's behind port mapping), else the TLS listener's own.
func redirectPort(baseURL string, explicit bool, tlsAddr net.Addr) string {
	if u, err := url.Parse(baseURL); explicit && err == nil && u.Scheme == "https" {
		if p := u.Port(); p != "" {
			return p
		}
		return "443"
	}
	_, port, _ := net.SplitHostPort(tlsAddr.String())
	return port
}

// redirectToHTTPS answers every request with 308 to the same host, path
// and query on https at port. 308, not 301: a POST stays a POST with its
// body instead of turning into a GET.
func redirectToHTTPS(port string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := r.Host
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		if host == "" {
			http.Error(w, "Host header required", http.StatusBadRequest)
			return
		}
		if port != "443" {
			host = net.JoinHostPort(host, port)
		} else if strings.Contains(host, ":") {
			host = "[" + host + "]" // an IPv6 literal
		}
		u := url.URL{Scheme: "https", Host: host, Path: r.URL.Path, RawPath: r.URL.RawPath, RawQuery: r.URL.RawQuery}
		http.Redirect(w, r, u.String(), http.StatusPermanentRedirect)
	})
}

// serveRedirect serves redirectToHTTPS(port) on addr until stop is called.
func serveRedirect(addr, port string, logger *slog.Logger) (net.Addr, func(), error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, nil, fmt.Errorf("-http-redirect-addr: %w", err)
	}
	srv := &http.Server{Handler: redirectToHTTPS(port), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	go func() {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			logger.Error("HTTP redirect server stopped", "error", err)
		}
	}()
	return ln.Addr(), func() { _ = srv.Close() }, nil
}
