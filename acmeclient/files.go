package acmeclient

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// hostDir is the directory of host's files: the layout of the sni store.
func (m *Manager) hostDir(host string) string {
	return filepath.Join(m.cfg.CertsPath, host)
}

// readCert returns the leaf of host's certificate on disk if the pair is
// complete, matching and covers host; else an error saying why not (a
// reason to order one).
func (m *Manager) readCert(host string) (*x509.Certificate, error) {
	dir := m.hostDir(host)
	chain, err := os.ReadFile(filepath.Join(dir, m.cfg.FullChainFile))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, errors.New("no certificate yet")
		}
		return nil, err
	}
	key, err := os.ReadFile(filepath.Join(dir, m.cfg.PrivKeyFile))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, errors.New("no private key")
		}
		return nil, err
	}
	pair, err := tls.X509KeyPair(chain, key)
	if err != nil {
		return nil, fmt.Errorf("unusable certificate: %w", err)
	}
	leaf := pair.Leaf
	if leaf == nil {
		if leaf, err = x509.ParseCertificate(pair.Certificate[0]); err != nil {
			return nil, fmt.Errorf("unusable certificate: %w", err)
		}
	}
	if err := leaf.VerifyHostname(host); err != nil {
		return nil, fmt.Errorf("the certificate on disk is for other names: %w", err)
	}
	return leaf, nil
}

// writePair replaces dir/keyName and dir/chainName: both are written to
// temporary files first, then renamed into place, the key first. The key
// is readable by the owner only.
func writePair(dir, keyName, chainName string, keyPEM, chainPEM []byte) (err error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	keyTmp, err := writeTemp(dir, keyName, keyPEM, 0o600)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			os.Remove(keyTmp)
		}
	}()
	chainTmp, err := writeTemp(dir, chainName, chainPEM, 0o644)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			os.Remove(chainTmp)
		}
	}()
	if err := os.Rename(keyTmp, filepath.Join(dir, keyName)); err != nil {
		return err
	}
	if err := os.Rename(chainTmp, filepath.Join(dir, chainName)); err != nil {
		return err
	}
	return syncDir(dir)
}

// writeTemp writes data to a new temporary file in dir, named after name
// (a hidden name, so that nothing takes it for the real file), with mode
// perm, synced to disk. It returns the file's path.
func writeTemp(dir, name string, data []byte, perm os.FileMode) (path string, err error) {
	f, err := os.CreateTemp(dir, "."+name+".tmp*")
	if err != nil {
		return "", err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if err := f.Chmod(perm); err != nil {
		return "", err
	}
	if _, err := f.Write(data); err != nil {
		return "", err
	}
	if err := f.Sync(); err != nil {
		return "", err
	}
	if err := f.Close(); err != nil {
		return "", err
	}
	return f.Name(), nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// loadOrCreateAccountKey reads the account key at path, or makes one
// (ECDSA P-256) if there is none. Two processes racing to make it end up
// with the same key: the file is linked into place only if absent.
func loadOrCreateAccountKey(path string) (crypto.Signer, error) {
	data, err := os.ReadFile(path)
	if err == nil {
		return parseKey(data)
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, err
	}
	tmp, err := writeTemp(dir, filepath.Base(path), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), 0o600)
	if err != nil {
		return nil, err
	}
	defer os.Remove(tmp)
	if err := os.Link(tmp, path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return loadOrCreateAccountKey(path) // someone else's was first
		}
		return nil, err
	}
	if err := syncDir(dir); err != nil {
		return nil, err
	}
	return key, nil
}

// parseKey decodes a PEM private key: PKCS #8, SEC 1 (EC) or PKCS #1 (RSA).
func parseKey(data []byte) (crypto.Signer, error) {
	b, _ := pem.Decode(data)
	if b == nil {
		return nil, errors.New("no PEM block")
	}
	var k any
	var err error
	switch b.Type {
	case "PRIVATE KEY":
		k, err = x509.ParsePKCS8PrivateKey(b.Bytes)
	case "EC PRIVATE KEY":
		k, err = x509.ParseECPrivateKey(b.Bytes)
	case "RSA PRIVATE KEY":
		k, err = x509.ParsePKCS1PrivateKey(b.Bytes)
	default:
		return nil, fmt.Errorf("unexpected PEM block %q", b.Type)
	}
	if err != nil {
		return nil, err
	}
	switch k := k.(type) {
	case *ecdsa.PrivateKey:
		return k, nil
	case *rsa.PrivateKey:
		return k, nil
	}
	return nil, fmt.Errorf("unsupported key type %T (want ECDSA or RSA)", k)
}
