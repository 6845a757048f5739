package main

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// unixClient is an HTTP client that reaches every URL through the Unix
// socket sock.
func unixClient(sock string) *http.Client {
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		},
	}}
}

// get fetches url with c and returns the status and body.
func get(t *testing.T, c *http.Client, url string) (int, string) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return resp.StatusCode, string(body)
}

// TestE2EUnixListenerDefaults starts edge with a Unix listener and the
// config file's defaults (reusePort: true), and serves a request over it.
// Regression: SO_REUSEPORT was set on the Unix socket too, and edge failed
// to start with "operation not supported".
func TestE2EUnixListenerDefaults(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	sock := filepath.Join(dir, "edge.sock")
	cfg := `listeners:
  - listen: "127.0.0.1:{port}"
    hosts: [{fallback: {status: 404}}]
  - listen: "unix:edge.sock"
    hosts:
      - routes:
          - path: /hello
            respond: {body: "hello over unix\n"}
`
	p := startEdge(t, dir, cfg, sock)
	status, body := get(t, unixClient(sock), "http://edge/hello")
	if status != 200 || body != "hello over unix\n" {
		t.Errorf("unix: %d %q", status, body)
	}
	p.alive(t)
}

// TestE2EFullConfigStarts runs the annotated reference, testdata/full.yaml,
// for real (its ports replaced by free ones, its ACME client removed so
// that nothing leaves the machine) and fetches something from each of its
// listeners. Regression: it passed -t and then failed at start.
func TestE2EFullConfigStarts(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile(filepath.Join("testdata", "full.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	// The ACME client's block runs from its key to the next blank line.
	cfg := regexp.MustCompile(`(?ms)^acmeClient:.*?\n\n`).ReplaceAllString(string(data), "")
	if strings.Contains(cfg, "acmeClient:") {
		t.Fatal("could not remove acmeClient from full.yaml")
	}
	tlsPort := freePort(t)
	cfg = strings.ReplaceAll(cfg, `"127.0.0.1:8443"`, `"127.0.0.1:`+tlsPort+`"`)
	cfg = strings.ReplaceAll(cfg, `"127.0.0.1:8089"`, `"127.0.0.1:{port}"`)

	// A copy of testdata, so that the socket is made in a temporary directory.
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS("testdata")); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "edge.sock")
	p := startEdge(t, dir, cfg, sock)

	plain := &http.Client{Timeout: 10 * time.Second}
	req, _ := http.NewRequest("GET", "http://"+p.addr+"/", nil)
	req.Host = "example.com"
	resp, err := plain.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "Hello!\n" {
		t.Errorf("plain listener: %d %q", resp.StatusCode, body)
	}

	status, body2 := get(t, unixClient(sock), "http://edge/")
	if status != 200 || !strings.Contains(body2, "edge is running") {
		t.Errorf("unix listener: %d %q", status, body2)
	}

	tlsClient := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{ServerName: "example.com", InsecureSkipVerify: true},
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "tcp", "127.0.0.1:"+tlsPort)
		},
	}}
	resp, err = tlsClient.Get("https://example.com/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "Hello over TLS\n" {
		t.Errorf("tls listener: %d %q", resp.StatusCode, body)
	}
	if cn := resp.TLS.PeerCertificates[0].Subject.CommonName; cn != "example.com" {
		t.Errorf("tls listener served the certificate of %q, want testdata's example.com", cn)
	}
	p.alive(t)
}

// TestE2EBindErrorOnce checks that a failed bind is reported once, in one
// clean line. Regression: "edge: edge: listen tcp A: listen tcp A: bind:
// address already in use", printed twice.
func TestE2EBindErrorOnce(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	dir := t.TempDir()
	name := filepath.Join(dir, "edge.yaml")
	addr := ln.Addr().String()
	cfg := "reusePort: false\nlisteners:\n  - listen: \"" + addr + "\"\n    hosts: [{fallback: {}}]\n"
	if err := os.WriteFile(name, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	out, code := runEdge(t, "-config", name)
	want := "edge: listen tcp " + addr + ": bind: address already in use\n"
	if code != 1 || !strings.HasSuffix(out, want) || strings.Count(out, "address already in use") != 1 {
		t.Errorf("exit %d, output:\n%s\nwant it to end with, once:\n%s", code, out, want)
	}
}
