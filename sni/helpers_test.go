package sni

import (
	"bytes"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/edge-rt/edge/tlsbackend"
)

// testPair is a self-signed certificate and its PEM files.
type testPair struct {
	cert    *tls.Certificate
	certPEM []byte
	keyPEM  []byte
}

func newPair(t testing.TB, names ...string) testPair {
	t.Helper()
	c, err := GenerateSelfSigned(names, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return pairOf(t, c)
}

func pairOf(t testing.TB, c *tls.Certificate) testPair {
	t.Helper()
	keyDER, err := x509.MarshalPKCS8PrivateKey(c.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	var chain []byte
	for _, der := range c.Certificate {
		chain = append(chain, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})...)
	}
	return testPair{
		cert:    c,
		certPEM: chain,
		keyPEM:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
	}
}

// write puts the pair into dir as privkey.pem and fullchain.pem, each by
// write-to-temp-and-rename (key first, as most tools do).
func (p testPair) write(t testing.TB, dir string) {
	t.Helper()
	writeAtomic(t, filepath.Join(dir, DefaultPrivKeyFile), p.keyPEM)
	writeAtomic(t, filepath.Join(dir, DefaultFullChainFile), p.certPEM)
}

// writeAtomic replaces path by renaming a complete temporary file over it.
func writeAtomic(t testing.TB, path string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// writeInPlace truncates path and writes data into the same inode.
func writeInPlace(t testing.TB, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// logBuf collects log output for assertions.
type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func (l *logBuf) contains(s string) bool { return bytes.Contains([]byte(l.String()), []byte(s)) }

func newLogger() (*slog.Logger, *logBuf) {
	lb := &logBuf{}
	return slog.New(slog.NewTextHandler(lb, &slog.HandlerOptions{Level: slog.LevelDebug})), lb
}

// newStore makes a store with a fast debounce and a log buffer, closed at
// the end of the test.
func newStore(t testing.TB, cfg Config) (*Store, *logBuf) {
	t.Helper()
	log, lb := newLogger()
	cfg.Logger = log
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	s.debounce = 20 * time.Millisecond
	t.Cleanup(func() { s.Close() })
	return s, lb
}

func watch(t testing.TB, s *Store) {
	t.Helper()
	if err := s.Watch(t.Context()); err != nil {
		t.Fatal(err)
	}
}

// waitFor polls cond until it holds or timeout passes.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func served(s *Store, name string) *tls.Certificate {
	c, _ := s.GetCertificate(&tlsbackend.ClientHello{ServerName: name})
	return c
}

func same(a, b *tls.Certificate) bool {
	return a != nil && b != nil && bytes.Equal(a.Certificate[0], b.Certificate[0])
}

// servesPair reports whether name is answered with p's certificate.
func servesPair(s *Store, name string, p testPair) func() bool {
	return func() bool { return same(served(s, name), p.cert) }
}

// keyMatches reports whether c's private key belongs to its leaf.
func keyMatches(c *tls.Certificate) bool {
	pub, ok := c.Leaf.PublicKey.(interface{ Equal(crypto.PublicKey) bool })
	signer, ok2 := c.PrivateKey.(crypto.Signer)
	return ok && ok2 && pub.Equal(signer.Public())
}
