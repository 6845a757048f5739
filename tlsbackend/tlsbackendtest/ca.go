package tlsbackendtest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// CA is a throw-away certificate authority for tests: an ECDSA P-256 root
// that signs leaf certificates for any names. Safe for concurrent use.
type CA struct {
	// Cert is the root certificate; clients trust it through Pool.
	Cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

// NewTestCA makes a CA valid from an hour ago to a year from now.
func NewTestCA(t testing.TB) *CA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("tlsbackendtest: CA key: %v", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial(t),
		Subject:               pkix.Name{CommonName: "edge test CA", Organization: []string{"edge tests"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(365 * 24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatalf("tlsbackendtest: CA certificate: %v", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatalf("tlsbackendtest: CA certificate: %v", err)
	}
	return &CA{Cert: cert, key: key}
}

// Pool returns a pool holding the CA, for tls.Config.RootCAs.
func (ca *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.Cert)
	return p
}

// PEM returns the CA certificate in PEM (for openssl -CAfile, curl
// --cacert).
func (ca *CA) PEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Cert.Raw})
}

// Leaf returns a new ECDSA P-256 server certificate for names (DNS names,
// wildcards like "*.wild.test", or IP addresses), valid from an hour ago
// to 30 days from now. Its chain is the leaf then the CA, as a fullchain
// file would give it, and Leaf is set.
func (ca *CA) Leaf(t testing.TB, names ...string) *tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("tlsbackendtest: leaf key: %v", err)
	}
	return ca.sign(t, key, names)
}

// LeafRSA is Leaf with an RSA 2048 key. To keep tests fast, every RSA
// leaf of the process shares one key (generated on first use); the
// certificates differ.
func (ca *CA) LeafRSA(t testing.TB, names ...string) *tls.Certificate {
	t.Helper()
	key, err := rsaKey()
	if err != nil {
		t.Fatalf("tlsbackendtest: RSA key: %v", err)
	}
	return ca.sign(t, key, names)
}

var rsaKey = sync.OnceValues(func() (*rsa.PrivateKey, error) {
	return rsa.GenerateKey(rand.Reader, 2048)
})

// LeafWithKey is Leaf with the given key (an RSA-1024 or Ed25519 key, to
// test a policy that refuses them).
func (ca *CA) LeafWithKey(t testing.TB, key crypto.Signer, names ...string) *tls.Certificate {
	t.Helper()
	return ca.sign(t, key, names)
}

func (ca *CA) sign(t testing.TB, key crypto.Signer, names []string) *tls.Certificate {
	t.Helper()
	if len(names) == 0 {
		t.Fatalf("tlsbackendtest: a leaf needs at least one name")
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial(t),
		Subject:      pkix.Name{CommonName: names[0]},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(30 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	if _, ok := key.(*rsa.PrivateKey); ok {
		tmpl.KeyUsage |= x509.KeyUsageKeyEncipherment
	}
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, key.Public(), ca.key)
	if err != nil {
		t.Fatalf("tlsbackendtest: leaf certificate: %v", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatalf("tlsbackendtest: leaf certificate: %v", err)
	}
	return &tls.Certificate{
		Certificate: [][]byte{der, ca.Cert.Raw},
		PrivateKey:  key,
		Leaf:        leaf,
	}
}

// WritePEM makes a Leaf for names and writes it into dir, which must
// exist, as privkey.pem (PKCS #8) and fullchain.pem (leaf then CA), the
// layout of certbot's live/<name>/ directories. It returns the
// certificate.
func (ca *CA) WritePEM(t testing.TB, dir string, names ...string) *tls.Certificate {
	t.Helper()
	cert := ca.Leaf(t, names...)
	WriteCertPEM(t, dir, cert)
	return cert
}

// WriteCertPEM writes cert into dir as privkey.pem and fullchain.pem. The
// files are replaced by rename, so a reader never sees half a file
// (though it may see a new key with an old chain between the two
// renames).
func WriteCertPEM(t testing.TB, dir string, cert *tls.Certificate) {
	t.Helper()
	keyDER, err := x509.MarshalPKCS8PrivateKey(cert.PrivateKey)
	if err != nil {
		t.Fatalf("tlsbackendtest: private key: %v", err)
	}
	var chain []byte
	for _, der := range cert.Certificate {
		chain = append(chain, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})...)
	}
	writeFile(t, filepath.Join(dir, "privkey.pem"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600)
	writeFile(t, filepath.Join(dir, "fullchain.pem"), chain, 0o644)
}

func writeFile(t testing.TB, name string, data []byte, perm os.FileMode) {
	t.Helper()
	f, err := os.CreateTemp(filepath.Dir(name), ".tmp-*")
	if err != nil {
		t.Fatalf("tlsbackendtest: %v", err)
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(perm)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), name)
	}
	if err != nil {
		os.Remove(f.Name())
		t.Fatalf("tlsbackendtest: writing %s: %v", name, err)
	}
}

func serial(t testing.TB) *big.Int {
	t.Helper()
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		t.Fatalf("tlsbackendtest: serial number: %v", err)
	}
	return n.Add(n, big.NewInt(1))
}
