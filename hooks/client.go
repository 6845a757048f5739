package hooks

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// httpClient POSTs events to the backend over HTTP/1.1 with keep-alive:
// a net/http Transport bounded to one connection per lane.
type httpClient struct {
	url       string // the request URL (http://localhost/PATH for a socket)
	network   string // "tcp" or "unix"
	address   string // host:port or socket path
	tr        *http.Transport
	client    *http.Client
	timeout   time.Duration
	maxAnswer int64
}

// ParseURL splits a backend URL into the network, the address to dial
// and the request URL: http://HOST:PORT/PATH, or unix:SOCKET:/PATH (the
// path after the first ":/" that follows the socket path; "/" when
// omitted).
func ParseURL(s string) (network, address, reqURL string, err error) {
	if rest, ok := strings.CutPrefix(s, "unix:"); ok {
		sock, p := rest, "/"
		if i := strings.Index(rest, ":/"); i >= 0 {
			sock, p = rest[:i], rest[i+1:]
		}
		if sock == "" || strings.ContainsAny(sock, "\x00") {
			return "", "", "", fmt.Errorf("hooks: bad URL %q: want unix:/path/to.sock:/path", s)
		}
		u, err := url.Parse("http://localhost" + p)
		if err != nil || u.Host != "localhost" {
			return "", "", "", fmt.Errorf("hooks: bad URL %q: bad request path %q", s, p)
		}
		return "unix", sock, u.String(), nil
	}
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return "", "", "", fmt.Errorf("hooks: bad URL %q: %w", s, err)
	case u.Scheme != "http":
		return "", "", "", fmt.Errorf("hooks: bad URL %q: want http://HOST:PORT/PATH or unix:/SOCKET:/PATH (TLS to the backend is not supported)", s)
	case u.Host == "" || u.User != nil || u.Fragment != "":
		return "", "", "", fmt.Errorf("hooks: bad URL %q: want http://HOST:PORT/PATH", s)
	}
	host := u.Host
	if u.Port() == "" {
		host = net.JoinHostPort(u.Hostname(), "80")
	}
	if u.Path == "" {
		u.Path = "/"
	}
	return "tcp", host, u.String(), nil
}

func newHTTPClient(raw string) (*httpClient, error) {
	network, address, reqURL, err := ParseURL(raw)
	if err != nil {
		return nil, err
	}
	return &httpClient{url: reqURL, network: network, address: address}, nil
}

// configure makes the Transport: conns connections at most, each request
// bounded by timeout, answers by maxAnswer bytes.
func (hc *httpClient) configure(conns int, timeout time.Duration, maxAnswer int64) {
	dialer := &net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second}
	network, address := hc.network, hc.address
	hc.tr = &http.Transport{
		// Every request goes to the one backend, whatever the URL's host.
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return dialer.DialContext(ctx, network, address)
		},
		Proxy:                  nil,
		MaxConnsPerHost:        conns,
		MaxIdleConns:           conns,
		MaxIdleConnsPerHost:    conns,
		IdleConnTimeout:        60 * time.Second,
		ResponseHeaderTimeout:  timeout,
		DisableCompression:     true,
		ForceAttemptHTTP2:      false,
		MaxResponseHeaderBytes: 64 << 10,
	}
	hc.client = &http.Client{
		Transport: hc.tr,
		// A hook answers; it does not redirect.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	hc.timeout, hc.maxAnswer = timeout, maxAnswer
}

// errStatus is an answer whose status is not 2xx.
type errStatus struct {
	status int
	body   string
}

func (e *errStatus) Error() string {
	if e.body == "" {
		return fmt.Sprintf("status %d", e.status)
	}
	return fmt.Sprintf("status %d: %s", e.status, e.body)
}

// post sends one event and returns the 2xx answer's body.
func (hc *httpClient) post(ctx context.Context, ev eventKind, body []byte) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, hc.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, hc.url, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("hooks: %s: %w", ev, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Edge-Hook", ev.String())
	req.Header.Set("User-Agent", "edge-hooks")
	resp, err := hc.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("hooks: %s: %w", ev, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, hc.maxAnswer+1))
	if err != nil {
		return nil, fmt.Errorf("hooks: %s: reading the answer: %w", ev, err)
	}
	if int64(len(b)) > hc.maxAnswer {
		return nil, fmt.Errorf("hooks: %s: answer over %d bytes", ev, hc.maxAnswer)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		if len(b) > 200 {
			b = b[:200]
		}
		return nil, fmt.Errorf("hooks: %s: %w", ev, &errStatus{resp.StatusCode, strings.TrimSpace(string(b))})
	}
	return b, nil
}

func (hc *httpClient) closeIdle() {
	if hc.tr != nil {
		hc.tr.CloseIdleConnections()
	}
}
