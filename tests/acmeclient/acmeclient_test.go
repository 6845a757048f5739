package acmeclient_test

// The acmeclient tests against a real ACME server (pebble, pebble_test.go),
// through the package's exported API.

import (
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
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/acme"

	"github.com/edge-rt/edge/acmeclient"
	"github.com/edge-rt/edge/tlsbackend"
)

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
	checkMode(t, filepath.Join(certsPath, acmeclient.AccountKeyFile), 0o600)
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

// challengeHello is a TLS-ALPN-01 validation hello for localhost.
var challengeHello = &tlsbackend.ClientHello{ServerName: "localhost", SupportedProtos: []string{acmeclient.ALPNProto}}

func TestObtainHTTP01(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 24*time.Hour, false, true)
	cfg := e.config(t, acmeclient.ChallengeHTTP01)
	cfg.CheckEvery = 100 * time.Hour // so that the renewal time comes first
	var results atomic.Int32
	cfg.OnResult = func(host string, err error) {
		if host == "localhost" && err == nil {
			results.Add(1)
		}
	}
	m := e.start(t, cfg)
	st := waitStatus(t, m, 30*time.Second, "obtained", func(st acmeclient.HostStatus) bool { return st.Obtained == 1 })
	leaf := checkFiles(t, e.certsPath, "localhost", e.ca.Roots)
	if !st.NotAfter.Equal(leaf.NotAfter) || st.Failures != 0 || st.LastError != nil {
		t.Errorf("status %+v, leaf expires %v", st, leaf.NotAfter)
	}
	if n := results.Load(); n != 1 {
		t.Errorf("OnResult told of %d successful orders, want 1", n)
	}
	if e.cs.httpHits.Load() == 0 || e.cs.tlsHits.Load() != 0 {
		t.Errorf("%d HTTP-01 and %d TLS-ALPN-01 validations, want HTTP-01 only", e.cs.httpHits.Load(), e.cs.tlsHits.Load())
	}
	// A 24 h certificate is renewed after two thirds of its lifetime.
	st = waitStatus(t, m, 5*time.Second, "scheduled", func(st acmeclient.HostStatus) bool { return !st.NextCheck.IsZero() })
	if want := leaf.NotAfter.Add(-leaf.NotAfter.Sub(leaf.NotBefore) / 3); !st.NextCheck.Equal(want) {
		t.Errorf("next check %v, want %v", st.NextCheck, want)
	}
	// The challenge is gone once validated: no token answered any more.
	tokens := e.cs.answered()
	if len(tokens) == 0 {
		t.Fatal("no HTTP-01 token answered")
	}
	for _, tok := range tokens {
		if ka, ok := m.HTTPChallenge(tok); ok {
			t.Errorf("token %q still answered (%q) after validation", tok, ka)
		}
	}
}

func TestObtainTLSALPN01(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 24*time.Hour, true, false)
	m := e.start(t, e.config(t, acmeclient.ChallengeTLSALPN01))
	st := waitStatus(t, m, 30*time.Second, "obtained", func(st acmeclient.HostStatus) bool { return st.Obtained == 1 })
	leaf := checkFiles(t, e.certsPath, "localhost", e.ca.Roots)
	if !st.NotAfter.Equal(leaf.NotAfter) || st.LastError != nil {
		t.Errorf("status %+v", st)
	}
	if e.cs.tlsHits.Load() == 0 || e.cs.httpHits.Load() != 0 {
		t.Errorf("%d HTTP-01 and %d TLS-ALPN-01 validations, want TLS-ALPN-01 only", e.cs.httpHits.Load(), e.cs.tlsHits.Load())
	}
	if m.ChallengeCertificate(challengeHello) != nil {
		t.Error("challenge certificate left pending")
	}
}

// accountID returns pebble's ID of the account whose key is stored under
// certsPath.
func accountID(t *testing.T, e *env) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(e.certsPath, acmeclient.AccountKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := pem.Decode(data)
	if b == nil {
		t.Fatalf("account key: no PEM block in %q", data)
	}
	key, err := x509.ParseECPrivateKey(b.Bytes)
	if err != nil {
		t.Fatalf("account key: %v", err)
	}
	a, err := e.ca.Store.GetAccountByKey(key.Public())
	if err != nil || a == nil {
		t.Fatalf("no account at the CA for the stored key: %v", err)
	}
	return a.ID
}

// issuedTo returns the ID of the account pebble issued leaf to.
func issuedTo(t *testing.T, e *env, leaf *x509.Certificate) string {
	t.Helper()
	c := e.ca.Store.GetCertificateBySerial(leaf.SerialNumber)
	if c == nil {
		t.Fatalf("certificate %x not issued by the CA", leaf.SerialNumber)
	}
	return c.AccountID
}

// TestStillValidAndAccountReuse: a second Manager leaves a valid
// certificate alone without contacting the CA; a third, with the
// certificate gone, orders a new one with the same account.
func TestStillValidAndAccountReuse(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 24*time.Hour, false, false)
	m1 := e.start(t, e.config(t))
	waitStatus(t, m1, 30*time.Second, "obtained", func(st acmeclient.HostStatus) bool { return st.Obtained == 1 })
	leaf1 := checkFiles(t, e.certsPath, "localhost", e.ca.Roots)
	accountKey, err := os.ReadFile(filepath.Join(e.certsPath, acmeclient.AccountKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	kid := accountID(t, e)
	if got := issuedTo(t, e, leaf1); got != kid {
		t.Fatalf("first certificate issued to account %q, the stored key's is %q", got, kid)
	}

	before := e.ca.Requests()
	if before == 0 {
		t.Fatal("no request to the CA counted for the first certificate")
	}
	m2 := e.start(t, e.config(t))
	st := waitStatus(t, m2, 10*time.Second, "checked", func(st acmeclient.HostStatus) bool { return !st.NextCheck.IsZero() })
	if st.Obtained != 0 || !st.NotAfter.Equal(leaf1.NotAfter) || st.LastError != nil || !st.NextCheck.After(time.Now()) {
		t.Errorf("second Manager: %+v", st)
	}
	if n := e.ca.Requests() - before; n != 0 {
		t.Errorf("second Manager contacted the CA (%d requests) for a valid certificate", n)
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
	waitStatus(t, m3, 30*time.Second, "obtained", func(st acmeclient.HostStatus) bool { return st.Obtained == 1 })
	leaf3 := checkFiles(t, e.certsPath, "localhost", e.ca.Roots)
	if leaf3.SerialNumber.Cmp(leaf1.SerialNumber) == 0 {
		t.Error("same certificate")
	}
	if got := issuedTo(t, e, leaf3); got != kid {
		t.Errorf("third Manager's certificate issued to account %q, want %q", got, kid)
	}
	if after, _ := os.ReadFile(filepath.Join(e.certsPath, acmeclient.AccountKeyFile)); !slices.Equal(after, accountKey) {
		t.Error("account key changed")
	}
	// The new email replaced the account's contact.
	if a := e.ca.Store.GetAccountByID(kid); a == nil || !slices.Equal(a.Contact, []string{"mailto:new@example.com"}) {
		t.Errorf("account contact: %+v", a)
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
		waitStatus(t, m, 30*time.Second, "obtained", func(st acmeclient.HostStatus) bool { return st.Obtained == 1 })
		leaf1 := checkFiles(t, e.certsPath, "localhost", e.ca.Roots)
		waitStatus(t, m, 30*time.Second, "renewed", func(st acmeclient.HostStatus) bool { return st.Obtained == 2 })
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
		waitStatus(t, m, 30*time.Second, "renewed", func(st acmeclient.HostStatus) bool { return st.Obtained == 1 })
		checkFiles(t, e.certsPath, "localhost", e.ca.Roots) // pebble's now
	})
	t.Run("valid on disk", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, 24*time.Hour, true, true)
		day := 24 * time.Hour
		writeSelfSigned(t, filepath.Join(e.certsPath, "localhost"), "localhost", time.Now().Add(-day), time.Now().Add(60*day))
		m := e.start(t, e.config(t))
		st := waitStatus(t, m, 10*time.Second, "checked", func(st acmeclient.HostStatus) bool { return !st.NextCheck.IsZero() })
		if n := e.ca.Requests(); st.Obtained != 0 || st.LastError != nil || n != 0 {
			t.Errorf("a certificate valid for 60 days was not left alone: %+v, %d requests to the CA", st, n)
		}
	})
	t.Run("other names on disk", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, 24*time.Hour, false, false)
		day := 24 * time.Hour
		writeSelfSigned(t, filepath.Join(e.certsPath, "localhost"), "other.example", time.Now().Add(-day), time.Now().Add(60*day))
		m := e.start(t, e.config(t))
		waitStatus(t, m, 30*time.Second, "replaced", func(st acmeclient.HostStatus) bool { return st.Obtained == 1 })
		checkFiles(t, e.certsPath, "localhost", e.ca.Roots)
	})
}

// writeSelfSigned writes a self-signed pair for name into dir, as
// privkey.pem (mode 0600) and fullchain.pem.
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
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "privkey.pem"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "fullchain.pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestRetryBackoff: a failing challenge (nothing on the HTTP-01 port) is
// reported in Status and retried with growing delays; once the port
// answers, the certificate is obtained.
func TestRetryBackoff(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 24*time.Hour, true, true)
	cfg := e.config(t, acmeclient.ChallengeHTTP01)
	cfg.RetryBackoff = 500 * time.Millisecond
	m := e.start(t, cfg)
	// Retry delays: 500 ms after the first failure, 1 s after the second
	// (±10%), as Status tells right after each.
	seen := 0
	for seen < 2 {
		st := waitStatus(t, m, 30*time.Second, "failed again", func(st acmeclient.HostStatus) bool { return st.Failures > seen })
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
	st := waitStatus(t, m, 30*time.Second, "obtained", func(st acmeclient.HostStatus) bool { return st.Obtained == 1 })
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
	st := waitStatus(t, m, 30*time.Second, "obtained", func(st acmeclient.HostStatus) bool { return st.Obtained == 1 })
	if st.Failures != 0 || e.cs.tlsHits.Load() == 0 {
		t.Errorf("status %+v, %d TLS-ALPN-01 validations", st, e.cs.tlsHits.Load())
	}
	checkFiles(t, e.certsPath, "localhost", e.ca.Roots)
}

// TestRunTwice: Run refuses to run a second time while the first runs
// (which the first attempt's failure, recorded in Status, shows).
func TestRunTwice(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 24*time.Hour, true, true)
	m := e.start(t, e.config(t))
	waitStatus(t, m, 30*time.Second, "running", func(st acmeclient.HostStatus) bool { return st.Failures > 0 })
	if err := m.Run(t.Context()); err == nil || !strings.Contains(err.Error(), "already running") {
		t.Errorf("second Run: %v", err)
	}
}
