package cmdedge_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/letsencrypt/pebble/v2/ca"
	"github.com/letsencrypt/pebble/v2/db"
	"github.com/letsencrypt/pebble/v2/va"
	"github.com/letsencrypt/pebble/v2/wfe"

	"github.com/edge-rt/edge/acmeclient"
)

var acmePebbleEnv sync.Once

// acmeTestCA starts pebble in-process (the Go module, assembled as its
// cmd/pebble does), validating on localhost:httpPort and localhost:tlsPort.
// It returns the directory URL, a PEM file trusting the API's
// certificate, and the roots of the certificates it issues.
func acmeTestCA(t *testing.T, dir string, httpPort, tlsPort int) (dirURL, caBundle string, roots *x509.CertPool) {
	t.Helper()
	acmePebbleEnv.Do(func() { os.Setenv("PEBBLE_VA_NOSLEEP", "1") }) // read by va.New: no random sleeps
	logger := log.New(io.Discard, "", 0)                             // its goroutines outlive the test
	store := db.NewMemoryStore()
	authority := ca.New(logger, store, "", "ecdsa", 0, 1, map[string]ca.Profile{"default": {ValidityPeriod: 86400}})
	validator := va.New(logger, httpPort, tlsPort, false, "", store)
	front := wfe.New(logger, store, validator, authority, []string{"pebble.letsencrypt.org"}, false, false, 0, 0)
	srv := httptest.NewTLSServer(front.Handler())
	t.Cleanup(srv.Close)
	caBundle = filepath.Join(dir, "pebble-api.pem")
	if err := os.WriteFile(caBundle, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o644); err != nil {
		t.Fatal(err)
	}
	roots = x509.NewCertPool()
	roots.AddCert(authority.GetRootCert(0).Cert)
	return srv.URL + wfe.DirectoryPath, caBundle, roots
}

// acmeLocalhost is the address pebble's validation authority dials for
// localhost: the resolver's first answer.
func acmeLocalhost(t *testing.T) string {
	t.Helper()
	addrs, err := net.DefaultResolver.LookupHost(context.Background(), "localhost")
	if err != nil || len(addrs) == 0 {
		t.Fatalf("resolving localhost: %v %v", addrs, err)
	}
	return addrs[0]
}

// acmeFreePorts returns n distinct ports of addr that were free a moment
// ago.
func acmeFreePorts(t *testing.T, addr string, n int) []int {
	t.Helper()
	var ports []int
	for len(ports) < n {
		ln, err := net.Listen("tcp", net.JoinHostPort(addr, "0"))
		if err != nil {
			t.Fatal(err)
		}
		ln.Close()
		if p := ln.Addr().(*net.TCPAddr).Port; !slices.Contains(ports, p) {
			ports = append(ports, p)
		}
	}
	return ports
}

// TestE2EACMEClient runs the edge binary with an acmeClient: block
// against pebble, once per challenge type, and checks that edge obtains a
// certificate for localhost and serves it over TLS without a restart. The
// plain listener's acme: webroot route still answers the tokens edge does
// not know.
func TestE2EACMEClient(t *testing.T) {
	t.Parallel()
	for _, challenge := range []string{"http-01", "tls-alpn-01"} {
		t.Run(challenge, func(t *testing.T) {
			t.Parallel()
			dir := configDir(t) // www/.well-known/acme-challenge/tok123
			host := acmeLocalhost(t)
			ports := acmeFreePorts(t, host, 2)
			tlsAddr, httpAddr := net.JoinHostPort(host, strconv.Itoa(ports[0])), net.JoinHostPort(host, strconv.Itoa(ports[1]))
			dirURL, caBundle, roots := acmeTestCA(t, dir, ports[1], ports[0])
			cfg := fmt.Sprintf(`reusePort: false
certsPath: ./certs
acmeClient:
  directory: %s
  caBundle: %s
  challenges: [%s]
listeners:
  - listen: "%s"
    tls: true
    hosts:
      - host: localhost
        fallback: {body: "hello from edge\n"}
  - listen: "%s"
    hosts:
      - host: localhost
        routes:
          - acme: ./www
          - prefix: /
            redirect: {to: "https://{host}{url}", status: 301}
`, dirURL, caBundle, challenge, tlsAddr, httpAddr)
			name := filepath.Join(dir, "edge.yaml")
			if err := os.WriteFile(name, []byte(cfg), 0o644); err != nil {
				t.Fatal(err)
			}
			out := &syncBuffer{}
			cmd := exec.Command(edgeBin, "-config", name)
			cmd.Stdout, cmd.Stderr = out, out
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			exited := false
			t.Cleanup(func() {
				if !exited {
					cmd.Process.Kill()
					<-done
				}
				if t.Failed() {
					t.Logf("edge output:\n%s", out.String())
				}
			})

			// The certificate is served once obtained (self-signed before).
			var leaf *x509.Certificate
			deadline := time.Now().Add(40 * time.Second)
			for leaf == nil {
				if time.Now().After(deadline) {
					t.Fatal("no certificate from pebble served after 40s")
				}
				select {
				case err := <-done:
					exited = true
					t.Fatalf("edge exited: %v", err)
				default:
				}
				leaf = acmeServed(tlsAddr, roots)
				if leaf == nil {
					time.Sleep(50 * time.Millisecond)
				}
			}
			if !strings.Contains(out.String(), "acme: certificate obtained") {
				t.Error("no log of the certificate")
			}
			for _, f := range []struct {
				name string
				mode os.FileMode
			}{{"certs/localhost/privkey.pem", 0o600}, {"certs/localhost/fullchain.pem", 0o644}, {"certs/.acme/account.key", 0o600}} {
				if fi, err := os.Stat(filepath.Join(dir, f.name)); err != nil || fi.Mode() != f.mode {
					t.Errorf("%s: %v %v, want mode %v", f.name, fi.Mode(), err, f.mode)
				}
			}

			// An ordinary client is never given acme-tls/1, even offering it.
			c, err := tls.Dial("tcp", tlsAddr, &tls.Config{ServerName: "localhost", RootCAs: roots, NextProtos: []string{"h2", "http/1.1", acmeclient.ALPNProto}})
			if err != nil {
				t.Fatal(err)
			}
			if p := c.ConnectionState().NegotiatedProtocol; p != "http/1.1" {
				t.Errorf("negotiated %q, want http/1.1", p)
			}
			c.Close()

			// Unknown tokens fall through to the webroot.
			req, _ := http.NewRequest("GET", "http://"+httpAddr+"/.well-known/acme-challenge/tok123", nil)
			req.Host = "localhost"
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || string(body) != "tok123.thumbprint\n" {
				t.Errorf("webroot token: %d %q", resp.StatusCode, body)
			}

			// Shutdown stops the ACME client too.
			cmd.Process.Signal(syscall.SIGTERM)
			select {
			case err := <-done:
				exited = true
				if err != nil {
					t.Errorf("edge exited with %v after SIGTERM", err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("edge did not exit within 10s of SIGTERM")
			}
		})
	}
}

// acmeServed returns the leaf edge serves for localhost at addr if it
// verifies against roots and answers a request, else nil.
func acmeServed(addr string, roots *x509.CertPool) *x509.Certificate {
	tr := &http.Transport{TLSClientConfig: &tls.Config{ServerName: "localhost", RootCAs: roots}, DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 5 * time.Second}
	req, _ := http.NewRequest("GET", "https://"+addr+"/", nil)
	req.Host = "localhost"
	resp, err := client.Do(req)
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || string(body) != "hello from edge\n" || resp.TLS == nil {
		return nil
	}
	return resp.TLS.PeerCertificates[0]
}
