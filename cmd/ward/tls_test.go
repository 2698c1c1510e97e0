package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestServeTLS: with -tls-cert and -tls-key, -addr speaks HTTPS with the
// given certificate, refuses TLS 1.0 and 1.1 at the handshake, answers
// plain HTTP with 400, and hands out https URLs though -base-url is unset.
func TestServeTLS(t *testing.T) {
	cert, key, roots := writeTestCert(t)
	addr := freeAddr(t)
	startServe(t, addr, roots, "-tls-cert", cert, "-tls-key", key)

	t.Run("client versions", func(t *testing.T) {
		for _, tc := range []struct {
			name     string
			max      uint16
			accepted bool
		}{
			{"TLS 1.0", tls.VersionTLS10, false},
			{"TLS 1.1", tls.VersionTLS11, false},
			{"TLS 1.2", tls.VersionTLS12, true},
			{"TLS 1.3", tls.VersionTLS13, true},
		} {
			t.Run(tc.name, func(t *testing.T) {
				// MinVersion is explicit: Go clients refuse below 1.2 on
				// their own, and the server is what is under test.
				c := trustingClient(roots)
				c.Transport.(*http.Transport).TLSClientConfig.MinVersion = tls.VersionTLS10
				c.Transport.(*http.Transport).TLSClientConfig.MaxVersion = tc.max
				resp, err := c.Get("https://" + addr + "/healthcheck")
				if !tc.accepted {
					if err == nil {
						resp.Body.Close()
						t.Fatalf("a client limited to %s got %d, want a failed handshake", tc.name, resp.StatusCode)
					}
					if !strings.Contains(err.Error(), "protocol version") {
						t.Errorf("want the server's protocol version alert, got %v", err)
					}
					return
				}
				if err != nil {
					t.Fatalf("a client limited to %s: %v", tc.name, err)
				}
				defer resp.Body.Close()
				if resp.StatusCode != 200 || resp.TLS == nil || resp.TLS.Version < tls.VersionTLS12 {
					t.Errorf("GET /healthcheck: status %d, TLS %v", resp.StatusCode, resp.TLS)
				}
			})
		}
	})

	t.Run("untrusted client", func(t *testing.T) {
		// The port serves the configured certificate, not some default.
		resp, err := http.Get("https://" + addr + "/healthcheck")
		if err == nil {
			resp.Body.Close()
			t.Fatalf("a client not trusting the certificate got %d", resp.StatusCode)
		}
		var unknown x509.UnknownAuthorityError
		if !errors.As(err, &unknown) {
			t.Errorf("want an unknown authority error, got %v", err)
		}
	})

	t.Run("plain HTTP", func(t *testing.T) {
		status, body := get(t, "http://"+addr+"/healthcheck")
		if status != http.StatusBadRequest || !strings.Contains(body, "Client sent an HTTP request to an HTTPS server") {
			t.Errorf("plain GET /healthcheck on the TLS port: %d %q, want 400", status, body)
		}
		status, _ = get(t, "http://"+addr+"/fhir/R4/metadata")
		if status != http.StatusBadRequest {
			t.Errorf("plain GET /fhir/R4/metadata on the TLS port: %d, want 400", status)
		}
	})

	t.Run("https base URL", func(t *testing.T) {
		resp, err := trustingClient(roots).Get("https://" + addr + "/.well-known/openid-configuration")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var doc struct {
			Issuer        string `json:"issuer"`
			TokenEndpoint string `json:"token_endpoint"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(doc.Issuer, "https://") || !strings.HasPrefix(doc.TokenEndpoint, "https://") {
			t.Errorf("with TLS on and -base-url unset, discovery says issuer %q, token endpoint %q; want https", doc.Issuer, doc.TokenEndpoint)
		}
	})
}

// TestServeTLSRedirect: -http-redirect-addr answers plain HTTP with 308 to
// the same host, path and query on the TLS port, and a client following it
// lands on the API over TLS.
func TestServeTLSRedirect(t *testing.T) {
	cert, key, roots := writeTestCert(t)
	addr, plain := freeAddr(t), freeAddr(t)
	startServe(t, addr, roots, "-tls-cert", cert, "-tls-key", key, "-http-redirect-addr", plain)
	_, tlsPort, _ := net.SplitHostPort(addr)

	noFollow := &http.Client{Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, tc := range []struct {
		method, path string
	}{
		{"GET", "/fhir/R4/Patient?name=Smith&_count=5"},
		{"POST", "/fhir/R4/Patient"},
		{"GET", "/"},
	} {
		req, _ := http.NewRequest(tc.method, "http://"+plain+tc.path, strings.NewReader(`{}`))
		resp, err := noFollow.Do(req)
		if err != nil {
			t.Fatalf("%s %s on the redirect address: %v", tc.method, tc.path, err)
		}
		resp.Body.Close()
		want := "https://127.0.0.1:" + tlsPort + tc.path
		if resp.StatusCode != http.StatusPermanentRedirect || resp.Header.Get("Location") != want {
			t.Errorf("%s %s: %d Location %q, want 308 %q", tc.method, tc.path, resp.StatusCode, resp.Header.Get("Location"), want)
		}
	}

	resp, err := trustingClient(roots).Get("http://" + plain + "/healthcheck")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.TLS == nil {
		t.Errorf("following the redirect: status %d, over TLS %v; want 200 over TLS", resp.StatusCode, resp.TLS != nil)
	}
}

// TestServeTLSFlags: a half or broken TLS configuration stops serve at
// start, naming the flag, instead of serving plain HTTP.
func TestServeTLSFlags(t *testing.T) {
	cert, key, _ := writeTestCert(t)
	_, otherKey, _ := writeTestCert(t)
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		want string // in the error
	}{
		{"-tls-cert alone", []string{"-tls-cert", cert}, nil, "-tls-cert needs -tls-key"},
		{"-tls-key alone", []string{"-tls-key", key}, nil, "-tls-key needs -tls-cert"},
		{"WARD_TLS_CERT alone", nil, map[string]string{"WARD_TLS_CERT": cert}, "-tls-cert needs -tls-key"},
		{"WARD_TLS_KEY alone", nil, map[string]string{"WARD_TLS_KEY": key}, "-tls-key needs -tls-cert"},
		{"missing file", []string{"-tls-cert", cert + ".missing", "-tls-key", key}, nil, "no such file"},
		{"key of another certificate", []string{"-tls-cert", cert, "-tls-key", otherKey}, nil, "does not match"},
		{"redirect without TLS", []string{"-http-redirect-addr", "127.0.0.1:0"}, nil, "-http-redirect-addr needs"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			args := append([]string{"serve", "-addr", freeAddr(t), "-data-dir", t.TempDir(), "-definitions=false",
				"-admin-password", "tls-test-password-1", "-log-level", "error"}, tc.args...)
			// Accepted by mistake, serve would run until ctx ends and return nil.
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			err := run(ctx, args)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("run: %v, want an error with %q", err, tc.want)
			}
		})
	}
}

func TestRedirectToHTTPS(t *testing.T) {
	for _, tc := range []struct {
		port, host, target, want string
	}{
		{"8443", "ward.example:8080", "/fhir/R4/Patient?name=a%20b", "https://ward.example:8443/fhir/R4/Patient?name=a%20b"},
		{"443", "ward.example", "/healthcheck", "https://ward.example/healthcheck"},
		{"443", "[::1]:80", "/", "https://[::1]/"},
		{"8443", "[::1]:80", "/a%2Fb", "https://[::1]:8443/a%2Fb"},
	} {
		req := httptest.NewRequest("GET", tc.target, nil)
		req.Host = tc.host
		w := httptest.NewRecorder()
		redirectToHTTPS(tc.port).ServeHTTP(w, req)
		if w.Code != http.StatusPermanentRedirect || w.Header().Get("Location") != tc.want {
			t.Errorf("port %s, %s%s: %d %q, want 308 %q", tc.port, tc.host, tc.target, w.Code, w.Header().Get("Location"), tc.want)
		}
	}
}

func TestRedirectPort(t *testing.T) {
	listener := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8103}
	for _, tc := range []struct {
		baseURL  string
		explicit bool
		want     string
	}{
		{"https://localhost:8103/", false, "8103"},
		{"https://ward.example/", true, "443"},
		{"https://ward.example:9443/", true, "9443"},
		{"http://ward.example:8080/", true, "8103"}, // an http base URL says nothing of the TLS port
	} {
		if got := redirectPort(tc.baseURL, tc.explicit, listener); got != tc.want {
			t.Errorf("redirectPort(%q, %v): %q, want %q", tc.baseURL, tc.explicit, got, tc.want)
		}
	}
}

// startServe runs ward serve with TLS on addr until the test ends, and
// waits until it answers over TLS.
func startServe(t *testing.T, addr string, roots *x509.CertPool, extra ...string) {
	t.Helper()
	args := append([]string{"serve", "-addr", addr, "-data-dir", t.TempDir(), "-definitions=false",
		"-admin-password", "tls-test-password-1", "-log-level", "error"}, extra...)
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, args) }()
	t.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	client := trustingClient(roots)
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-done:
			done <- err
			t.Fatalf("serve returned early: %v", err)
		default:
		}
		if resp, err := client.Get("https://" + addr + "/healthcheck"); err == nil {
			resp.Body.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("https://%s never answered", addr)
}

// trustingClient is a client trusting roots only, with its own transport
// so tests can narrow its TLS versions.
func trustingClient(roots *x509.CertPool) *http.Client {
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: roots},
	}}
}

// writeTestCert writes a fresh self-signed ECDSA certificate for 127.0.0.1
// and localhost, and its key, as PEM files, and returns a pool trusting it.
func writeTestCert(t *testing.T) (certFile, keyFile string, roots *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: "ward test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		DNSNames:              []string{"localhost"},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	writePEM(t, certFile, "CERTIFICATE", der)
	writePEM(t, keyFile, "PRIVATE KEY", keyDER)
	roots = x509.NewCertPool()
	roots.AddCert(parsed)
	return certFile, keyFile, roots
}

func writePEM(t *testing.T, path, typ string, der []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if err := pem.Encode(f, &pem.Block{Type: typ, Bytes: der}); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestTLSBaseURL: with TLS on, the default base URL turns https; one set
// on purpose is kept, with a warning when it is http://.
func TestTLSBaseURL(t *testing.T) {
	for _, tc := range []struct {
		baseURL  string
		explicit bool
		want     string
		warns    bool
	}{
		{"http://localhost:8103/", false, "https://localhost:8103/", false},
		{"http://ward.example/", true, "http://ward.example/", true},
		{"https://ward.example/", true, "https://ward.example/", false},
	} {
		var log strings.Builder
		logger := slog.New(slog.NewTextHandler(&log, nil))
		if got := tlsBaseURL(tc.baseURL, tc.explicit, logger); got != tc.want {
			t.Errorf("tlsBaseURL(%q, %v): %q, want %q", tc.baseURL, tc.explicit, got, tc.want)
		}
		if warned := strings.Contains(log.String(), "level=WARN"); warned != tc.warns {
			t.Errorf("tlsBaseURL(%q, %v) warned: %v, want %v (%s)", tc.baseURL, tc.explicit, warned, tc.warns, log.String())
		}
	}
}
