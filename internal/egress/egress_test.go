package egress_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/wardhealth/ward/internal/egress"
)

// TestCheck: metadata and link-local addresses are never callable, in any
// spelling; private ones only when allowed; public ones always.
func TestCheck(t *testing.T) {
	for _, tc := range []struct {
		addr                 string
		denied, deniedStrict bool // with private allowed, without
	}{
		{"93.184.216.34", false, false},
		{"2606:4700::1111", false, false},
		{"169.254.169.254", true, true},
		{"::ffff:169.254.169.254", true, true},
		{"64:ff9b::a9fe:a9fe", true, true}, // NAT64 of 169.254.169.254
		{"fe80::1", true, true},
		{"fd00:ec2::254", true, true},
		{"100.100.100.200", true, true},
		{"0.0.0.0", true, true},
		{"::", true, true},
		{"224.0.0.1", true, true},
		{"255.255.255.255", true, true},
		{"127.0.0.1", false, true},
		{"::1", false, true},
		{"::ffff:127.0.0.1", false, true},
		{"10.1.2.3", false, true},
		{"172.16.0.1", false, true},
		{"192.168.1.1", false, true},
		{"100.64.0.1", false, true},
		{"fd12:3456::1", false, true},
	} {
		ip := netip.MustParseAddr(tc.addr)
		if err := (egress.Policy{AllowPrivate: true}).Check(ip); (err != nil) != tc.denied {
			t.Errorf("%s with private allowed: %v, want denied=%v", tc.addr, err, tc.denied)
		}
		if err := (egress.Policy{}).Check(ip); (err != nil) != tc.deniedStrict {
			t.Errorf("%s without private: %v, want denied=%v", tc.addr, err, tc.deniedStrict)
		}
	}
}

// TestCheckHost: only literal addresses are judged at write; names pass.
func TestCheckHost(t *testing.T) {
	strict := egress.Policy{}
	for host, denied := range map[string]bool{
		"169.254.169.254": true, "[fe80::1]": true, "[::1]": true, "127.0.0.1": true,
		"hooks.example.com": false, "localhost": false, "93.184.216.34": false,
	} {
		if err := strict.CheckHost(host); (err != nil) != denied {
			t.Errorf("CheckHost(%q) = %v, want denied=%v", host, err, denied)
		}
	}
}

// TestClientChecksTheDialledAddress: a name that resolves to loopback is
// refused when dialled (the check sees the resolved address, so DNS
// cannot route around it), and reached when private endpoints are allowed.
func TestClientChecksTheDialledAddress(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(204) }))
	defer srv.Close()
	byName := strings.Replace(srv.URL, "127.0.0.1", "localhost", 1)
	for _, url := range []string{srv.URL, byName} {
		_, err := egress.Policy{}.Client(5*time.Second).Post(url, "application/json", nil)
		var refused *egress.RefusedError
		if !errors.As(err, &refused) {
			t.Errorf("POST %s without private endpoints: %v, want refused at dial", url, err)
		}
		resp, err := egress.Policy{AllowPrivate: true}.Client(5*time.Second).Post(url, "application/json", nil)
		if err != nil || resp.StatusCode != 204 {
			t.Errorf("POST %s with private endpoints: %v, want 204", url, err)
		} else {
			resp.Body.Close()
		}
	}
}
