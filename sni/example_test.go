package sni_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/edge-rt/edge/sni"
	"github.com/edge-rt/edge/tlsbackend"
)

// A store over <certs>/<host>/{privkey.pem,fullchain.pem}, watched for
// changes, answering ClientHellos by SNI.
func Example() {
	certs, _ := os.MkdirTemp("", "certs")
	defer os.RemoveAll(certs)
	// Put a certificate where the store looks for example.com's.
	writePair(filepath.Join(certs, "example.com"), "example.com")

	store, err := sni.New(sni.Config{
		CertsPath: certs,
		Hosts:     []sni.Host{{Name: "example.com"}, {Name: "*.example.com"}},
		Logger:    slog.New(slog.DiscardHandler),
	})
	if err != nil {
		panic(err)
	}
	defer store.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := store.Watch(ctx); err != nil {
		panic(err)
	}

	for _, name := range []string{"example.com", "www.example.com", ""} {
		cert, _ := store.GetCertificate(&tlsbackend.ClientHello{ServerName: name})
		fmt.Printf("%q -> %v\n", name, cert.Leaf.DNSNames)
	}

	// The wildcard's directory appears later and is picked up.
	writePair(filepath.Join(certs, "_.example.com"), "*.example.com")
	for deadline := time.Now().Add(5 * time.Second); len(store.Names()) < 2 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	cert, _ := store.GetCertificateStd(&tls.ClientHelloInfo{ServerName: "www.example.com"})
	fmt.Println(store.Names(), cert.Leaf.DNSNames)
	// Output:
	// "example.com" -> [example.com]
	// "www.example.com" -> [localhost]
	// "" -> [localhost]
	// [*.example.com example.com] [*.example.com]
}

// writePair writes a self-signed pair for name into dir.
func writePair(dir, name string) {
	c, err := sni.GenerateSelfSigned([]string{name}, 24*time.Hour)
	if err != nil {
		panic(err)
	}
	key, _ := x509.MarshalPKCS8PrivateKey(c.PrivateKey)
	os.MkdirAll(dir, 0o755)
	os.WriteFile(filepath.Join(dir, "privkey.pem"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: key}), 0o600)
	os.WriteFile(filepath.Join(dir, "fullchain.pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Certificate[0]}), 0o644)
}
