package main

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// serve parses src as dir/edge.yaml, builds it with every listen address
// replaced by 127.0.0.1:0, starts it and returns the base URL of each
// listener.
func serve(t *testing.T, dir, src string) []string {
	t.Helper()
	fc, err := parseConfig(filepath.Join(dir, "edge.yaml"), []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range fc.listeners {
		l.network, l.address = "tcp", "127.0.0.1:0"
	}
	fc.cfg.Workers = 1
	srv, ls, err := fc.server(discard)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	var urls []string
	for _, l := range ls {
		urls = append(urls, "http://"+l.Addr().String())
	}
	return urls
}

// noRedirects is a client that returns redirects and does not decompress.
var noRedirects = &http.Client{
	Transport:     &http.Transport{DisableCompression: true},
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	Timeout:       10 * time.Second,
}

type hdr = map[string]string

type exchange struct {
	method, path string
	host         string            // Host header; "" = the listener's address
	header       map[string]string // request headers

	status  int
	body    string            // exact body, when wantBody
	has     string            // substring of the body
	headers map[string]string // response headers; "" = must be absent
}

func (e exchange) check(t *testing.T, base string) {
	t.Helper()
	method := e.method
	if method == "" {
		method = "GET"
	}
	req, err := http.NewRequest(method, base+e.path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if e.host != "" {
		req.Host = e.host
	}
	for k, v := range e.header {
		req.Header.Set(k, v)
	}
	resp, err := noRedirects.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, e.path, err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatalf("%s %s: %v", method, e.path, err)
	}
	if resp.StatusCode != e.status {
		t.Errorf("%s %s (host %q): status %d, want %d; body %q", method, e.path, e.host, resp.StatusCode, e.status, body)
	}
	if e.body != "" && string(body) != e.body {
		t.Errorf("%s %s: body %q, want %q", method, e.path, body, e.body)
	}
	if e.has != "" && !strings.Contains(string(body), e.has) {
		t.Errorf("%s %s: body %q does not contain %q", method, e.path, body, e.has)
	}
	for k, v := range e.headers {
		if got := resp.Header.Get(k); got != v {
			t.Errorf("%s %s: %s = %q, want %q", method, e.path, k, got, v)
		}
	}
}

func TestRoutes(t *testing.T) {
	t.Parallel()
	dir := configDir(t)
	src := `post: true
listeners:
  - listen: ":1"
    hosts:
      - host: "*.example.com"
        routes:
          - path: /
            respond: {body: "wildcard\n"}
      - host: example.com
        routes:
          - path: /
            respond: {status: 201, type: html, body: "<b>hi</b>", headers: {X-B: "2", X-A: "1"}}
          - path: /empty
            respond: {status: 204, headers: {X-Empty: "yes"}}
          - paths: [/old, /older]
            redirect: {to: "https://{host}{url}", status: 301}
          - path: /moved
            methods: [GET]
            redirect: {to: "https://{host}/new{url}", status: 308}
          - path: /post
            methods: [POST]
            respond: {body: "posted\n"}
          - path: /any
            methods: ["*"]
            respond: {body: "any\n"}
          - pattern: /users/:id
            respond: {body: "user\n"}
          - regexp: "/v[0-9]+/.*"
            respond: {body: "versioned\n"}
          - prefix: /assets/
            static: ./public
          - paths: [/index.html, /small.txt]
            static: ./public
          - prefix: /dev
            static: ./public
            dev: true
          - path: /about
            file: ./about.html
          - prefix: /site/
            static: "embed:"
          - acme: ./www
        fallback: {status: 404, body: "custom 404\n", headers: {X-Fallback: "1"}}
      - routes:
          - path: /
            respond: {body: "any host\n"}
`
	base := serve(t, dir, src)[0]
	const host = "example.com"
	tests := []exchange{
		// Host groups.
		{path: "/", host: "a.example.com", status: 200, body: "wildcard\n"},
		{path: "/", host: "other.org", status: 200, body: "any host\n"},
		{path: "/nothing", host: "other.org", status: 404},

		// respond.
		{path: "/", host: host, status: 201, body: "<b>hi</b>", headers: hdr{"Content-Type": "text/html; charset=utf-8", "X-A": "1", "X-B": "2"}},
		{path: "/", host: "EXAMPLE.COM:80", status: 201},
		{method: "HEAD", path: "/", host: host, status: 201, body: "", headers: hdr{"Content-Length": "9"}},
		{method: "DELETE", path: "/", host: host, status: 404, body: "custom 404\n", headers: hdr{"X-Fallback": "1"}},
		{path: "/empty", host: host, status: 204, headers: hdr{"X-Empty": "yes", "Content-Type": ""}},
		{method: "POST", path: "/post", host: host, status: 200, body: "posted\n"},
		{path: "/post", host: host, status: 404},
		{method: "PUT", path: "/any", host: host, status: 200, body: "any\n"},
		{method: "OPTIONS", path: "/any", host: host, status: 200, body: "any\n"},
		{path: "/users/42", host: host, status: 200, body: "user\n"},
		{path: "/users/42/x", host: host, status: 404},
		{path: "/v2/x/y", host: host, status: 200, body: "versioned\n"},
		{path: "/vx/y", host: host, status: 404},

		// redirect.
		{path: "/old?q=1", host: "example.com:8080", status: 301, headers: hdr{"Location": "https://example.com/old?q=1"}},
		{method: "DELETE", path: "/older", host: host, status: 301, headers: hdr{"Location": "https://example.com/older"}},
		{path: "/moved?x", host: host + ":81", status: 308, headers: hdr{"Location": "https://example.com/new/moved?x"}},
		{method: "DELETE", path: "/moved", host: host, status: 404},

		// static, file, acme.
		{path: "/assets/", host: host, status: 200, has: "public index", headers: hdr{"Content-Type": "text/html; charset=utf-8", "Vary": "Accept-Encoding"}},
		{path: "/assets/css/site.css", host: host, status: 200, has: "color: #123", headers: hdr{"Content-Type": "text/css; charset=utf-8"}},
		{path: "/assets/css/site.css", host: host, header: hdr{"Accept-Encoding": "gzip"}, status: 200, headers: hdr{"Content-Encoding": "gzip", "Vary": "Accept-Encoding"}},
		{path: "/assets/css/site.css", host: host, header: hdr{"Accept-Encoding": "br;q=1, gzip;q=0.5"}, status: 200, headers: hdr{"Content-Encoding": "br"}},
		{path: "/assets/missing", host: host, status: 404, body: "custom 404\n"},
		{path: "/assets/../about.html", host: host, status: 404},
		{method: "POST", path: "/assets/small.txt", host: host, status: 404},
		{path: "/small.txt", host: host, status: 200, body: "small\n"},
		{path: "/index.html", host: host, status: 200, has: "public index"},
		{path: "/dev/small.txt", host: host, status: 200, body: "small\n"},
		{path: "/dev/../../etc/passwd", host: host, status: 404},
		{path: "/about", host: host, status: 200, has: "<h1>About</h1>", headers: hdr{"Content-Type": "text/html; charset=utf-8"}},
		{path: "/site/", host: host, status: 200, has: "edge is running"},
		{path: "/site/favicon.svg", host: host, status: 200, headers: hdr{"Content-Type": "image/svg+xml; charset=utf-8"}},
		{path: "/.well-known/acme-challenge/tok123", host: host, status: 200, body: "tok123.thumbprint\n"},
		{path: "/.well-known/acme-challenge/nope", host: host, status: 404},
	}
	for _, e := range tests {
		e.check(t, base)
	}

	// Dev mode reads the disk per request; the loaded directory does not.
	if err := os.WriteFile(filepath.Join(dir, "public", "small.txt"), []byte("edited\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	exchange{path: "/dev/small.txt", host: host, status: 200, body: "edited\n"}.check(t, base)
	exchange{path: "/small.txt", host: host, status: 200, body: "small\n"}.check(t, base)
}

// TestETag checks the 304 answer to a repeated request.
func TestETag(t *testing.T) {
	t.Parallel()
	base := serve(t, configDir(t), withRoute("prefix: /", "static: ./public"))[0]
	resp, err := noRedirects.Get(base + "/css/site.css")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	etag := resp.Header.Get("ETag")
	if !strings.HasPrefix(etag, `"`) {
		t.Fatalf("ETag %q", etag)
	}
	exchange{path: "/css/site.css", header: hdr{"If-None-Match": etag}, status: 304,
		headers: hdr{"ETag": etag}}.check(t, base)
	exchange{path: "/css/site.css", header: hdr{"If-None-Match": `"other"`}, status: 200}.check(t, base)
}
