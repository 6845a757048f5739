package sni

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"strings"
	"time"
)

// Errors of LoadPair. They are wrapped, so test them with errors.Is.
var (
	ErrNoCertificate = errors.New("sni: no certificate in the PEM data")
	ErrNoKey         = errors.New("sni: no private key in the PEM data")
	ErrManyKeys      = errors.New("sni: more than one private key in the PEM data")
	ErrEncryptedKey  = errors.New("sni: encrypted private keys are not supported")
	ErrMalformedPEM  = errors.New("sni: malformed or truncated PEM block")
	ErrKeyMismatch   = errors.New("sni: private key does not match the certificate")
	ErrKeyType       = errors.New("sni: unsupported private key type")
)

// pemBegin starts every PEM block; counting it finds blocks pem.Decode
// skipped (corrupt base64, a missing END line in a half-written file).
var pemBegin = []byte("-----BEGIN ")

// LoadPair parses a PEM certificate chain (leaf first; every CERTIFICATE
// block must parse, other block types are ignored) and a PEM private key
// (PKCS #1, PKCS #8 or SEC 1; RSA, ECDSA or Ed25519; not encrypted), checks
// that the key belongs to the leaf, and returns a certificate with Leaf set.
// Data with a truncated or corrupt PEM block is refused, so a file caught
// in the middle of being written never loads.
func LoadPair(certPEM, keyPEM []byte) (*tls.Certificate, error) {
	c, _, err := loadPair(certPEM, keyPEM)
	return c, err
}

// loadPair is LoadPair that also reports whether the key (rather than the
// chain) is at fault, so that errors name the right file.
func loadPair(certPEM, keyPEM []byte) (c *tls.Certificate, keyFault bool, err error) {
	ders, err := decodeChain(certPEM)
	if err != nil {
		return nil, false, err
	}
	leaf, err := x509.ParseCertificate(ders[0])
	if err != nil {
		return nil, false, fmt.Errorf("sni: certificate 1: %w", err)
	}
	for i, der := range ders[1:] {
		if _, err := x509.ParseCertificate(der); err != nil {
			return nil, false, fmt.Errorf("sni: certificate %d: %w", i+2, err)
		}
	}
	key, err := decodeKey(keyPEM)
	if err != nil {
		return nil, true, err
	}
	pub, ok := leaf.PublicKey.(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(key.Public()) {
		return nil, false, ErrKeyMismatch
	}
	return &tls.Certificate{Certificate: ders, PrivateKey: key, Leaf: leaf}, false, nil
}

// decodeChain returns the DER of every CERTIFICATE block.
func decodeChain(data []byte) ([][]byte, error) {
	var ders [][]byte
	blocks := 0
	for rest := data; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		blocks++
		if b.Type == "CERTIFICATE" {
			ders = append(ders, b.Bytes)
		}
	}
	if bytes.Count(data, pemBegin) != blocks {
		return nil, fmt.Errorf("%w in the certificate chain", ErrMalformedPEM)
	}
	if len(ders) == 0 {
		return nil, ErrNoCertificate
	}
	return ders, nil
}

// decodeKey returns the one private key block of data, parsed. Blocks of
// other types (EC PARAMETERS, certificates of a combined file) are skipped.
func decodeKey(data []byte) (crypto.Signer, error) {
	var der []byte
	blocks := 0
	for rest := data; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		blocks++
		if b.Type != "PRIVATE KEY" && !strings.HasSuffix(b.Type, " PRIVATE KEY") {
			continue
		}
		if b.Type == "ENCRYPTED PRIVATE KEY" || strings.Contains(b.Headers["Proc-Type"], "ENCRYPTED") {
			return nil, ErrEncryptedKey
		}
		if der != nil {
			return nil, ErrManyKeys
		}
		der = b.Bytes
	}
	if bytes.Count(data, pemBegin) != blocks {
		return nil, fmt.Errorf("%w in the private key", ErrMalformedPEM)
	}
	if der == nil {
		return nil, ErrNoKey
	}
	return parseKey(der)
}

// parseKey tries the encodings crypto/tls accepts, in its order.
func parseKey(der []byte) (crypto.Signer, error) {
	if k, err := x509.ParsePKCS1PrivateKey(der); err == nil {
		return k, nil
	}
	if k, err := x509.ParsePKCS8PrivateKey(der); err == nil {
		switch k := k.(type) {
		case *rsa.PrivateKey:
			return k, nil
		case *ecdsa.PrivateKey:
			return k, nil
		case ed25519.PrivateKey:
			return k, nil
		default:
			return nil, fmt.Errorf("%w: %T", ErrKeyType, k)
		}
	}
	if k, err := x509.ParseECPrivateKey(der); err == nil {
		return k, nil
	}
	return nil, errors.New("sni: cannot parse the private key (not PKCS #1, PKCS #8 or SEC 1)")
}

// GenerateSelfSigned makes a self-signed ECDSA P-256 server certificate
// for names (DNS names, or IP addresses in textual form), valid from one
// hour ago for validFor (zero or negative means one year), with a random
// 128-bit serial number. Leaf is set.
func GenerateSelfSigned(names []string, validFor time.Duration) (*tls.Certificate, error) {
	if len(names) == 0 {
		return nil, errors.New("sni: self-signed certificate: no names")
	}
	if validFor <= 0 {
		validFor = 365 * 24 * time.Hour
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("sni: self-signed certificate: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, fmt.Errorf("sni: self-signed certificate: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: names[0]},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(validFor),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
	}
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("sni: self-signed certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("sni: self-signed certificate: %w", err)
	}
	return &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, nil
}
