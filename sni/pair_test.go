package sni

import (
	"bytes"
	"crypto"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"slices"
	"testing"
	"time"
)

// selfSigned makes a certificate for key with crypto/x509 directly, for
// key types GenerateSelfSigned does not make.
func selfSigned(t testing.TB, key crypto.Signer, name string) []byte {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(42),
		Subject:      pkix.Name{CommonName: name},
		DNSNames:     []string{name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func pemBlock(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

func TestLoadPair(t *testing.T) {
	t.Parallel()
	a := newPair(t, "a.test")
	b := newPair(t, "b.test")

	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	rsaCert := selfSigned(t, rsaKey, "rsa.test")
	rsaPKCS1 := pemBlock("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rsaKey))

	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	edCert := selfSigned(t, edKey, "ed.test")
	edDER, _ := x509.MarshalPKCS8PrivateKey(edKey)

	ecKey := a.cert.PrivateKey.(*ecdsa.PrivateKey)
	sec1, _ := x509.MarshalECPrivateKey(ecKey)
	ecParams := pemBlock("EC PARAMETERS", []byte{0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07})
	sec1PEM := append(slices.Clone(ecParams), pemBlock("EC PRIVATE KEY", sec1)...)

	xKey, _ := ecdh.X25519().GenerateKey(rand.Reader)
	xDER, _ := x509.MarshalPKCS8PrivateKey(xKey)

	chain := append(slices.Clone(a.certPEM), b.certPEM...)
	legacyEncrypted := pem.EncodeToMemory(&pem.Block{
		Type:    "EC PRIVATE KEY",
		Headers: map[string]string{"Proc-Type": "4,ENCRYPTED", "DEK-Info": "AES-128-CBC,00000000000000000000000000000000"},
		Bytes:   sec1,
	})
	half := func(b []byte) []byte { return b[:len(b)/2] }
	corrupt := bytes.Replace(slices.Clone(a.certPEM), []byte("\n"), []byte("\n!!"), 3)

	tests := []struct {
		name      string
		cert, key []byte
		wantErr   error // nil: success; errAny: any error
		chainLen  int
	}{
		{"ecdsa pkcs8", a.certPEM, a.keyPEM, nil, 1},
		{"ecdsa sec1 with EC PARAMETERS", a.certPEM, sec1PEM, nil, 1},
		{"rsa pkcs1", rsaCert, rsaPKCS1, nil, 1},
		{"ed25519", edCert, pemBlock("PRIVATE KEY", edDER), nil, 1},
		{"chain of two", chain, a.keyPEM, nil, 2},
		{"combined file", append(slices.Clone(a.keyPEM), a.certPEM...), append(slices.Clone(a.keyPEM), a.certPEM...), nil, 1},
		{"text around blocks", append([]byte("subject=CN a.test\n"), a.certPEM...), append(slices.Clone(a.keyPEM), "\n\n"...), nil, 1},
		{"mismatched key", a.certPEM, b.keyPEM, ErrKeyMismatch, 0},
		{"intermediate's key", chain, b.keyPEM, ErrKeyMismatch, 0},
		{"garbage", []byte("not a certificate"), []byte("not a key"), ErrNoCertificate, 0},
		{"empty", nil, nil, ErrNoCertificate, 0},
		{"missing key", a.certPEM, nil, ErrNoKey, 0},
		{"key file holds a certificate", a.certPEM, a.certPEM, ErrNoKey, 0},
		{"two keys", a.certPEM, append(slices.Clone(a.keyPEM), b.keyPEM...), ErrManyKeys, 0},
		{"encrypted pkcs8", a.certPEM, pemBlock("ENCRYPTED PRIVATE KEY", []byte{1, 2, 3}), ErrEncryptedKey, 0},
		{"encrypted legacy", a.certPEM, legacyEncrypted, ErrEncryptedKey, 0},
		{"truncated certificate", half(a.certPEM), a.keyPEM, ErrMalformedPEM, 0},
		{"truncated intermediate", chain[:len(a.certPEM)+len(b.certPEM)/2], a.keyPEM, ErrMalformedPEM, 0},
		{"truncated key", a.certPEM, half(a.keyPEM), ErrMalformedPEM, 0},
		{"corrupt base64", corrupt, a.keyPEM, ErrMalformedPEM, 0},
		{"x25519 key", a.certPEM, pemBlock("PRIVATE KEY", xDER), ErrKeyType, 0},
		{"bad certificate DER", pemBlock("CERTIFICATE", []byte{0x30, 0x03, 1, 2, 3}), a.keyPEM, errAny, 0},
		{"bad intermediate DER", append(slices.Clone(a.certPEM), pemBlock("CERTIFICATE", []byte{1})...), a.keyPEM, errAny, 0},
		{"bad key DER", a.certPEM, pemBlock("PRIVATE KEY", []byte{1, 2, 3}), errAny, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := LoadPair(tt.cert, tt.key)
			switch {
			case tt.wantErr == nil && err != nil:
				t.Fatalf("LoadPair: %v", err)
			case tt.wantErr == nil:
				if c.Leaf == nil || len(c.Certificate) != tt.chainLen || !keyMatches(c) {
					t.Fatalf("got leaf %v, chain %d (want %d), key matches %v", c.Leaf != nil, len(c.Certificate), tt.chainLen, keyMatches(c))
				}
			case err == nil:
				t.Fatalf("LoadPair succeeded, want %v", tt.wantErr)
			case c != nil:
				t.Fatalf("LoadPair returned a certificate with error %v", err)
			case tt.wantErr != errAny && !errors.Is(err, tt.wantErr):
				t.Fatalf("LoadPair error %q, want %q", err, tt.wantErr)
			}
		})
	}
}

var errAny = errors.New("any error")

func TestGenerateSelfSigned(t *testing.T) {
	t.Parallel()
	c, err := GenerateSelfSigned([]string{"localhost", "127.0.0.1", "::1", "edge.test"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	leaf := c.Leaf
	if k, ok := leaf.PublicKey.(*ecdsa.PublicKey); !ok || k.Curve != elliptic.P256() {
		t.Errorf("key %T, want ECDSA P-256", leaf.PublicKey)
	}
	if !keyMatches(c) {
		t.Error("key does not match")
	}
	if !slices.Equal(leaf.DNSNames, []string{"localhost", "edge.test"}) {
		t.Errorf("DNS names %q", leaf.DNSNames)
	}
	if len(leaf.IPAddresses) != 2 || !leaf.IPAddresses[0].Equal(net.IPv4(127, 0, 0, 1)) || !leaf.IPAddresses[1].Equal(net.IPv6loopback) {
		t.Errorf("IP addresses %v", leaf.IPAddresses)
	}
	now := time.Now()
	if d := now.Sub(leaf.NotBefore); d < 59*time.Minute || d > 61*time.Minute {
		t.Errorf("NotBefore %v, want an hour ago", leaf.NotBefore)
	}
	if d := leaf.NotAfter.Sub(now); d < 364*24*time.Hour || d > 366*24*time.Hour {
		t.Errorf("NotAfter %v, want in a year", leaf.NotAfter)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	for _, name := range []string{"localhost", "127.0.0.1", "::1"} {
		if _, err := leaf.Verify(x509.VerifyOptions{DNSName: name, Roots: pool}); err != nil {
			t.Errorf("verify %s: %v", name, err)
		}
	}
	c2, _ := GenerateSelfSigned([]string{"localhost"}, time.Minute)
	if c2.Leaf.SerialNumber.Cmp(leaf.SerialNumber) == 0 {
		t.Error("two certificates share a serial number")
	}
	if _, err := GenerateSelfSigned(nil, 0); err == nil {
		t.Error("no names: no error")
	}
	// The generated pair survives PEM and LoadPair.
	p := pairOf(t, c)
	if _, err := LoadPair(p.certPEM, p.keyPEM); err != nil {
		t.Error(err)
	}
}

// FuzzLoadPair feeds LoadPair arbitrary files: it must never panic, and
// whatever it accepts must be a complete, matching pair.
func FuzzLoadPair(f *testing.F) {
	a := newPair(f, "a.test")
	b := newPair(f, "b.test")
	f.Add(a.certPEM, a.keyPEM)
	f.Add(a.certPEM, b.keyPEM)
	f.Add(a.certPEM[:len(a.certPEM)/2], a.keyPEM)
	f.Add([]byte("-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n"), []byte("-----BEGIN PRIVATE KEY-----\n"))
	f.Fuzz(func(t *testing.T, certPEM, keyPEM []byte) {
		c, err := LoadPair(certPEM, keyPEM)
		if err != nil {
			if c != nil {
				t.Fatal("certificate returned with an error")
			}
			return
		}
		if c.Leaf == nil || len(c.Certificate) == 0 || !keyMatches(c) {
			t.Fatal("accepted an incomplete or mismatched pair")
		}
	})
}
