package acmeclient

import (
	"crypto/ecdsa"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/acme"

	"github.com/edge-rt/edge/tlsbackend"
)

func TestNewErrors(t *testing.T) {
	t.Parallel()
	ok := Config{DirectoryURL: "https://ca.example/dir", Hosts: []string{"example.com"}, CertsPath: "/tmp/x"}
	tests := []struct {
		name string
		edit func(c *Config)
		want string
	}{
		{"no directory", func(c *Config) { c.DirectoryURL = "" }, "no DirectoryURL"},
		{"bad directory", func(c *Config) { c.DirectoryURL = "ca.example/dir" }, "bad DirectoryURL"},
		{"ftp directory", func(c *Config) { c.DirectoryURL = "ftp://ca.example/dir" }, "bad DirectoryURL"},
		{"no certs path", func(c *Config) { c.CertsPath = "" }, "no CertsPath"},
		{"no hosts", func(c *Config) { c.Hosts = nil }, "no Hosts"},
		{"wildcard", func(c *Config) { c.Hosts = []string{"*.example.com"} }, "DNS-01"},
		{"ipv4", func(c *Config) { c.Hosts = []string{"192.0.2.1"} }, "IP address"},
		{"ipv6", func(c *Config) { c.Hosts = []string{"[2001:db8::1]"} }, "IP address"},
		{"bad host", func(c *Config) { c.Hosts = []string{"a b.example"} }, "bad host name"},
		{"empty host", func(c *Config) { c.Hosts = []string{""} }, "bad host name"},
		{"duplicate host", func(c *Config) { c.Hosts = []string{"example.com", "EXAMPLE.com."} }, "listed twice"},
		{"bad email", func(c *Config) { c.Email = "ops" }, "bad Email"},
		{"email with newline", func(c *Config) { c.Email = "a@b\nc" }, "bad Email"},
		{"key file with dir", func(c *Config) { c.PrivKeyFile = "x/key.pem" }, "bad file name"},
		{"same files", func(c *Config) { c.PrivKeyFile, c.FullChainFile = "a.pem", "a.pem" }, "same file"},
		{"unknown challenge", func(c *Config) { c.Challenges = []string{"dns-01"} }, `unknown challenge "dns-01"`},
		{"empty challenges", func(c *Config) { c.Challenges = []string{} }, "empty Challenges"},
		{"duplicate challenge", func(c *Config) { c.Challenges = []string{"http-01", "http-01"} }, "listed twice"},
		{"negative renew", func(c *Config) { c.RenewBefore = -1 }, "negative RenewBefore"},
		{"negative check", func(c *Config) { c.CheckEvery = -time.Hour }, "negative CheckEvery"},
		{"negative backoff", func(c *Config) { c.RetryBackoff = -1 }, "negative RetryBackoff"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := ok
			cfg.Hosts = []string{"example.com"}
			tt.edit(&cfg)
			_, err := New(cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "acmeclient: ") {
				t.Errorf("New: %v, want an error with %q", err, tt.want)
			}
		})
	}

	m, err := New(Config{DirectoryURL: "https://ca.example/dir", Hosts: []string{"Example.COM.", "www.example.com"}, CertsPath: "/tmp/x"})
	if err != nil {
		t.Fatal(err)
	}
	c := m.cfg
	if c.RenewBefore != DefaultRenewBefore || c.CheckEvery != DefaultCheckEvery || c.RetryBackoff != DefaultRetryBackoff ||
		c.PrivKeyFile != "privkey.pem" || c.FullChainFile != "fullchain.pem" ||
		strings.Join(m.challenges, ",") != "http-01,tls-alpn-01" {
		t.Errorf("defaults: %+v, challenges %q", c, m.challenges)
	}
	st := m.Status()
	if len(st) != 2 || st[0].Host != "example.com" || st[1].Host != "www.example.com" || !st[0].NextCheck.IsZero() {
		t.Errorf("Status before Run: %+v", st)
	}
}

func TestRetryDelay(t *testing.T) {
	t.Parallel()
	m, err := New(Config{DirectoryURL: "https://ca.example/dir", Hosts: []string{"example.com"}, CertsPath: "/tmp/x"})
	if err != nil {
		t.Fatal(err)
	}
	within := func(got, want time.Duration) bool { return got >= want-want/10 && got <= want+want/10 }
	for n, want := range map[int]time.Duration{1: 5 * time.Minute, 2: 10 * time.Minute, 3: 20 * time.Minute, 4: 40 * time.Minute, 5: time.Hour, 50: time.Hour} {
		if got := m.retryDelay(n, errors.New("x")); !within(got, want) {
			t.Errorf("retryDelay(%d) = %v, want %v ±10%%", n, got, want)
		}
	}
	// A rate limit's Retry-After wins when longer.
	rl := &acme.Error{StatusCode: 429, ProblemType: "urn:ietf:params:acme:error:rateLimited", Header: map[string][]string{"Retry-After": {"7200"}}}
	if got := m.retryDelay(1, rl); !within(got, 2*time.Hour) {
		t.Errorf("retryDelay after a rate limit = %v, want 2h ±10%%", got)
	}
}

func TestRenewAt(t *testing.T) {
	t.Parallel()
	m, err := New(Config{DirectoryURL: "https://ca.example/dir", Hosts: []string{"example.com"}, CertsPath: "/tmp/x"})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	day := 24 * time.Hour
	for _, tt := range []struct {
		lifetime, want time.Duration // want: renewal, after NotBefore
	}{
		{90 * day, 60 * day}, // RenewBefore (30 days) before expiry
		{45 * day, 30 * day}, // two thirds of the lifetime: later than 15 days
		{6 * day, 4 * day},   // short-lived: never renewed at once
		{365 * day, 335 * day},
	} {
		leaf := &x509.Certificate{NotBefore: t0, NotAfter: t0.Add(tt.lifetime)}
		if got := m.renewAt(leaf).Sub(t0); got != tt.want {
			t.Errorf("lifetime %v: renewal %v after issuance, want %v", tt.lifetime, got, tt.want)
		}
	}
}

func TestNoChallengePending(t *testing.T) {
	t.Parallel()
	m, err := New(Config{DirectoryURL: "https://ca.example/dir", Hosts: []string{"example.com"}, CertsPath: "/tmp/x"})
	if err != nil {
		t.Fatal(err)
	}
	if ka, ok := m.HTTPChallenge("token"); ok || ka != "" {
		t.Errorf("HTTPChallenge = %q, %v", ka, ok)
	}
	if _, ok := m.HTTPChallenge(""); ok {
		t.Error("HTTPChallenge(\"\") ok")
	}
	hello := &tlsbackend.ClientHello{ServerName: "example.com", SupportedProtos: []string{ALPNProto}}
	if c := m.ChallengeCertificate(hello); c != nil {
		t.Error("ChallengeCertificate with no challenge pending")
	}
	if c := m.ChallengeCertificate(nil); c != nil {
		t.Error("ChallengeCertificate(nil)")
	}
	// A pending challenge is only served to a hello that offers acme-tls/1,
	// for its name.
	cert := &tls.Certificate{}
	m.alpn["example.com"] = cert
	m.hasALPN.Store(true)
	for _, tt := range []struct {
		hello *tlsbackend.ClientHello
		want  *tls.Certificate
	}{
		{hello, cert},
		{&tlsbackend.ClientHello{ServerName: "example.com.", SupportedProtos: []string{"h2", ALPNProto}}, cert},
		{&tlsbackend.ClientHello{ServerName: "example.com", SupportedProtos: []string{"http/1.1"}}, nil},
		{&tlsbackend.ClientHello{ServerName: "other.example", SupportedProtos: []string{ALPNProto}}, nil},
	} {
		if got := m.ChallengeCertificate(tt.hello); got != tt.want {
			t.Errorf("ChallengeCertificate(%+v) = %p, want %p", tt.hello, got, tt.want)
		}
	}
}

func TestAccountKey(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, AccountKeyFile)
	// Racing makers end up with one key.
	keys := make([]any, 8)
	var wg sync.WaitGroup
	for i := range keys {
		wg.Go(func() {
			k, err := loadOrCreateAccountKey(path)
			if err != nil {
				t.Error(err)
				return
			}
			keys[i] = k.Public()
		})
	}
	wg.Wait()
	for _, k := range keys[1:] {
		if k == nil || !k.(*ecdsa.PublicKey).Equal(keys[0]) {
			t.Fatal("makers got different keys")
		}
	}
	checkMode(t, path, 0o600)
	checkMode(t, filepath.Dir(path), 0o700|os.ModeDir)
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("left behind: %v", entries)
	}
	// A broken key is an error, never replaced.
	bad := filepath.Join(dir, "bad.key")
	os.WriteFile(bad, []byte("garbage"), 0o600)
	if _, err := loadOrCreateAccountKey(bad); err == nil {
		t.Error("a broken key loaded")
	}
	if data, _ := os.ReadFile(bad); string(data) != "garbage" {
		t.Error("a broken key was overwritten")
	}
}

func checkMode(t *testing.T, path string, want os.FileMode) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode() != want {
		t.Errorf("%s: mode %v, want %v", path, fi.Mode(), want)
	}
}

// The tests against a real ACME server (pebble: TestObtainHTTP01,
// TestObtainTLSALPN01, TestStillValidAndAccountReuse, TestRenewal,
// TestRetryBackoff, TestChallengeFallback, TestRunTwice) are in the tests
// module (tests/acmeclient), so that this module does not require pebble.
