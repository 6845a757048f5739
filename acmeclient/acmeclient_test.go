package acmeclient

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"slices"
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

// checkFiles checks host's files under certsPath: modes, a matching pair,
// a chain to the CA's root for the host, nothing left behind. It returns
// the leaf.
func checkFiles(t *testing.T, certsPath, host string, roots *x509.CertPool) *x509.Certificate {
	t.Helper()
	dir := filepath.Join(certsPath, host)
	keyFile, chainFile := filepath.Join(dir, "privkey.pem"), filepath.Join(dir, "fullchain.pem")
	checkMode(t, keyFile, 0o600)
	checkMode(t, chainFile, 0o644)
	checkMode(t, filepath.Join(certsPath, AccountKeyFile), 0o600)
	pair, err := tls.LoadX509KeyPair(chainFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := pair.PrivateKey.(*ecdsa.PrivateKey); !ok {
		t.Errorf("key is %T, want ECDSA", pair.PrivateKey)
	}
	inter := x509.NewCertPool()
	for _, der := range pair.Certificate[1:] {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		inter.AddCert(c)
	}
	if roots != nil {
		if _, err := pair.Leaf.Verify(x509.VerifyOptions{DNSName: host, Roots: roots, Intermediates: inter}); err != nil {
			t.Errorf("issued certificate does not verify: %v", err)
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 {
		t.Errorf("%s holds %v, want the two files", dir, entries)
	}
	return pair.Leaf
}

func TestObtainHTTP01(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 24*time.Hour, false, true)
	cfg := e.config(t, ChallengeHTTP01)
	cfg.CheckEvery = 100 * time.Hour // so that the renewal time comes first
	m := e.start(t, cfg)
	st := waitStatus(t, m, 30*time.Second, "obtained", func(st HostStatus) bool { return st.Obtained == 1 })
	leaf := checkFiles(t, e.certsPath, "localhost", e.ca.Roots)
	if !st.NotAfter.Equal(leaf.NotAfter) || st.Failures != 0 || st.LastError != nil {
		t.Errorf("status %+v, leaf expires %v", st, leaf.NotAfter)
	}
	if e.cs.httpHits.Load() == 0 || e.cs.tlsHits.Load() != 0 {
		t.Errorf("%d HTTP-01 and %d TLS-ALPN-01 validations, want HTTP-01 only", e.cs.httpHits.Load(), e.cs.tlsHits.Load())
	}
	// A 24 h certificate is renewed after two thirds of its lifetime.
	st = waitStatus(t, m, 5*time.Second, "scheduled", func(st HostStatus) bool { return !st.NextCheck.IsZero() })
	if want := leaf.NotAfter.Add(-leaf.NotAfter.Sub(leaf.NotBefore) / 3); !st.NextCheck.Equal(want) {
		t.Errorf("next check %v, want %v", st.NextCheck, want)
	}
	// The challenge is gone once validated.
	if len(m.tokens) != 0 {
		t.Errorf("tokens left: %v", m.tokens)
	}
}

func TestObtainTLSALPN01(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 24*time.Hour, true, false)
	m := e.start(t, e.config(t, ChallengeTLSALPN01))
	st := waitStatus(t, m, 30*time.Second, "obtained", func(st HostStatus) bool { return st.Obtained == 1 })
	leaf := checkFiles(t, e.certsPath, "localhost", e.ca.Roots)
	if !st.NotAfter.Equal(leaf.NotAfter) || st.LastError != nil {
		t.Errorf("status %+v", st)
	}
	if e.cs.tlsHits.Load() == 0 || e.cs.httpHits.Load() != 0 {
		t.Errorf("%d HTTP-01 and %d TLS-ALPN-01 validations, want TLS-ALPN-01 only", e.cs.httpHits.Load(), e.cs.tlsHits.Load())
	}
	if m.hasALPN.Load() || len(m.alpn) != 0 {
		t.Error("challenge certificate left pending")
	}
}

// TestStillValidAndAccountReuse: a second Manager leaves a valid
// certificate alone without contacting the CA; a third, with the
// certificate gone, orders a new one with the same account.
func TestStillValidAndAccountReuse(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 24*time.Hour, false, false)
	m1 := e.start(t, e.config(t))
	waitStatus(t, m1, 30*time.Second, "obtained", func(st HostStatus) bool { return st.Obtained == 1 })
	leaf1 := checkFiles(t, e.certsPath, "localhost", e.ca.Roots)
	accountKey, err := os.ReadFile(filepath.Join(e.certsPath, AccountKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	kid := m1.client.KID
	if kid == "" {
		t.Fatal("no account URL")
	}

	m2 := e.start(t, e.config(t))
	st := waitStatus(t, m2, 10*time.Second, "checked", func(st HostStatus) bool { return !st.NextCheck.IsZero() })
	if st.Obtained != 0 || !st.NotAfter.Equal(leaf1.NotAfter) || st.LastError != nil || !st.NextCheck.After(time.Now()) {
		t.Errorf("second Manager: %+v", st)
	}
	if m2.client != nil {
		t.Error("second Manager contacted the CA for a valid certificate")
	}
	if leaf := checkFiles(t, e.certsPath, "localhost", nil); leaf.SerialNumber.Cmp(leaf1.SerialNumber) != 0 {
		t.Error("certificate replaced")
	}

	if err := os.RemoveAll(filepath.Join(e.certsPath, "localhost")); err != nil {
		t.Fatal(err)
	}
	cfg := e.config(t)
	cfg.Email = "new@example.com"
	m3 := e.start(t, cfg)
	waitStatus(t, m3, 30*time.Second, "obtained", func(st HostStatus) bool { return st.Obtained == 1 })
	leaf3 := checkFiles(t, e.certsPath, "localhost", e.ca.Roots)
	if leaf3.SerialNumber.Cmp(leaf1.SerialNumber) == 0 {
		t.Error("same certificate")
	}
	if m3.client.KID != kid {
		t.Errorf("third Manager's account %q, want %q", m3.client.KID, kid)
	}
	if after, _ := os.ReadFile(filepath.Join(e.certsPath, AccountKeyFile)); !bytes.Equal(after, accountKey) {
		t.Error("account key changed")
	}
	// The new email replaced the account's contact.
	if a, err := m3.client.GetReg(t.Context(), ""); err != nil || !slices.Equal(a.Contact, []string{"mailto:new@example.com"}) {
		t.Errorf("account contact: %+v %v", a, err)
	}
}

// TestRenewal: short-lived certificates are renewed ahead of expiry, and so
// is one on disk whose remaining validity is below RenewBefore.
func TestRenewal(t *testing.T) {
	t.Parallel()
	t.Run("short-lived", func(t *testing.T) {
		t.Parallel()
		// Valid 6 s: renewed after 4 s (two thirds of its lifetime).
		e := newEnv(t, 6*time.Second, false, false)
		m := e.start(t, e.config(t))
		waitStatus(t, m, 30*time.Second, "obtained", func(st HostStatus) bool { return st.Obtained == 1 })
		leaf1 := checkFiles(t, e.certsPath, "localhost", e.ca.Roots)
		waitStatus(t, m, 30*time.Second, "renewed", func(st HostStatus) bool { return st.Obtained == 2 })
		leaf2 := checkFiles(t, e.certsPath, "localhost", e.ca.Roots)
		if leaf2.SerialNumber.Cmp(leaf1.SerialNumber) == 0 || !leaf2.NotAfter.After(leaf1.NotAfter) {
			t.Errorf("renewed certificate: serial %x until %v, first %x until %v", leaf2.SerialNumber, leaf2.NotAfter, leaf1.SerialNumber, leaf1.NotAfter)
		}
		if d := leaf2.NotBefore.Sub(leaf1.NotBefore); d < 3*time.Second {
			t.Errorf("renewed %v after the first issuance, want about 4s", d)
		}
	})
	t.Run("expiring on disk", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, 24*time.Hour, false, false)
		// A 100-day certificate with 10 days left, from someone else.
		day := 24 * time.Hour
		writeSelfSigned(t, filepath.Join(e.certsPath, "localhost"), "localhost", time.Now().Add(-90*day), time.Now().Add(10*day))
		cfg := e.config(t)
		cfg.RenewBefore = 20 * day
		m := e.start(t, cfg)
		waitStatus(t, m, 30*time.Second, "renewed", func(st HostStatus) bool { return st.Obtained == 1 })
		checkFiles(t, e.certsPath, "localhost", e.ca.Roots) // pebble's now
	})
	t.Run("valid on disk", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, 24*time.Hour, true, true)
		day := 24 * time.Hour
		writeSelfSigned(t, filepath.Join(e.certsPath, "localhost"), "localhost", time.Now().Add(-day), time.Now().Add(60*day))
		m := e.start(t, e.config(t))
		st := waitStatus(t, m, 10*time.Second, "checked", func(st HostStatus) bool { return !st.NextCheck.IsZero() })
		if st.Obtained != 0 || st.LastError != nil || m.client != nil {
			t.Errorf("a certificate valid for 60 days was not left alone: %+v", st)
		}
	})
	t.Run("other names on disk", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, 24*time.Hour, false, false)
		day := 24 * time.Hour
		writeSelfSigned(t, filepath.Join(e.certsPath, "localhost"), "other.example", time.Now().Add(-day), time.Now().Add(60*day))
		m := e.start(t, e.config(t))
		waitStatus(t, m, 30*time.Second, "replaced", func(st HostStatus) bool { return st.Obtained == 1 })
		checkFiles(t, e.certsPath, "localhost", e.ca.Roots)
	})
}

// writeSelfSigned writes a self-signed pair for name into dir.
func writeSelfSigned(t *testing.T, dir, name string, notBefore, notAfter time.Time) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name}, DNSNames: []string{name}, NotBefore: notBefore, NotAfter: notAfter}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalPKCS8PrivateKey(key)
	err = writePair(dir, "privkey.pem", "fullchain.pem",
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	if err != nil {
		t.Fatal(err)
	}
}

// TestRetryBackoff: a failing challenge (nothing on the HTTP-01 port) is
// reported in Status and retried with growing delays; once the port
// answers, the certificate is obtained.
func TestRetryBackoff(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 24*time.Hour, true, true)
	cfg := e.config(t, ChallengeHTTP01)
	cfg.RetryBackoff = 500 * time.Millisecond
	m := e.start(t, cfg)
	// Retry delays: 500 ms after the first failure, 1 s after the second
	// (±10%), as Status tells right after each.
	seen := 0
	for seen < 2 {
		st := waitStatus(t, m, 30*time.Second, "failed again", func(st HostStatus) bool { return st.Failures > seen })
		at := time.Now()
		seen = st.Failures
		var ae *acme.AuthorizationError
		if !errors.As(st.LastError, &ae) || !strings.Contains(st.LastError.Error(), "http-01") || st.NotAfter != (time.Time{}) || st.Obtained != 0 {
			t.Errorf("status after %d failures: %+v", st.Failures, st)
		}
		want := cfg.RetryBackoff << (st.Failures - 1)
		if d := st.NextCheck.Sub(at); d > want+want/10 || d < want-want/10-200*time.Millisecond {
			t.Errorf("after failure %d, retry in %v, want %v", st.Failures, d, want)
		}
	}

	// Now the port answers.
	ln := listenLocal(t, e.httpPort)
	e.cs.serveHTTP(t, ln)
	st := waitStatus(t, m, 30*time.Second, "obtained", func(st HostStatus) bool { return st.Obtained == 1 })
	if st.Failures != 0 || st.LastError != nil {
		t.Errorf("status after success: %+v", st)
	}
	checkFiles(t, e.certsPath, "localhost", e.ca.Roots)
}

// TestChallengeFallback: with both challenge types allowed and HTTP-01
// failing, the next attempt uses TLS-ALPN-01.
func TestChallengeFallback(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 24*time.Hour, true, false)
	m := e.start(t, e.config(t))
	st := waitStatus(t, m, 30*time.Second, "obtained", func(st HostStatus) bool { return st.Obtained == 1 })
	if st.Failures != 0 || e.cs.tlsHits.Load() == 0 {
		t.Errorf("status %+v, %d TLS-ALPN-01 validations", st, e.cs.tlsHits.Load())
	}
	checkFiles(t, e.certsPath, "localhost", e.ca.Roots)
}

func TestRunTwice(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 24*time.Hour, true, true)
	m := e.start(t, e.config(t))
	waitStatus(t, m, 10*time.Second, "running", func(HostStatus) bool { return m.running.Load() })
	if err := m.Run(t.Context()); err == nil || !strings.Contains(err.Error(), "already running") {
		t.Errorf("second Run: %v", err)
	}
}
