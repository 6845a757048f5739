package acmeclient_test

// A real ACME server for the tests: pebble (github.com/letsencrypt/pebble/v2)
// assembled in-process the way its cmd/pebble/main.go does, its API served
// by httptest over TLS, its validation authority pointed at loopback
// challenge servers that answer from a Manager. In the tests module so that
// the library's go.mod does not carry pebble and its dependencies.

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/letsencrypt/pebble/v2/ca"
	"github.com/letsencrypt/pebble/v2/db"
	"github.com/letsencrypt/pebble/v2/va"
	"github.com/letsencrypt/pebble/v2/wfe"

	"github.com/edge-rt/edge/acmeclient"
	"github.com/edge-rt/edge/tlsbackend"
)

func TestMain(m *testing.M) {
	// Read by pebble's VA and WFE when they are made: validate at once
	// (no random sleeps), and never reuse an earlier authorization, so
	// that every order goes through a challenge.
	os.Setenv("PEBBLE_VA_NOSLEEP", "1")
	os.Setenv("PEBBLE_AUTHZREUSE", "0")
	os.Exit(m.Run())
}

// testCA is a running pebble.
type testCA struct {
	DirectoryURL string
	HTTPClient   *http.Client // trusts the API's certificate
	Roots        *x509.CertPool
	Store        *db.MemoryStore // accounts, orders and certificates
	requests     atomic.Int64    // to the ACME API
}

// Requests counts the requests the ACME API has had.
func (c *testCA) Requests() int64 { return c.requests.Load() }

// pebbleLogger is where pebble logs: nowhere, unless PEBBLE_TEST_LOG is
// set (its goroutines outlive the tests, so not to t.Output).
func pebbleLogger() *log.Logger {
	if os.Getenv("PEBBLE_TEST_LOG") != "" {
		return log.New(os.Stderr, "pebble ", log.Lmicroseconds)
	}
	return log.New(io.Discard, "", 0)
}

// newTestCA starts pebble; its validation authority connects to
// localhost:httpPort for HTTP-01 and localhost:tlsPort for TLS-ALPN-01,
// and it issues certificates valid for validity.
func newTestCA(t testing.TB, httpPort, tlsPort int, validity time.Duration) *testCA {
	t.Helper()
	logger := pebbleLogger()
	store := db.NewMemoryStore()
	profiles := map[string]ca.Profile{"default": {Description: "test", ValidityPeriod: uint64(validity / time.Second)}}
	authority := ca.New(logger, store, "", "ecdsa", 0, 1, profiles)
	validator := va.New(logger, httpPort, tlsPort, false, "", store)
	front := wfe.New(logger, store, validator, authority, []string{"pebble.letsencrypt.org"}, false, false, 0, 0)
	tca := &testCA{Store: store}
	api := front.Handler()
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tca.requests.Add(1)
		api.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	roots := x509.NewCertPool()
	roots.AddCert(authority.GetRootCert(0).Cert)
	tca.DirectoryURL, tca.HTTPClient, tca.Roots = srv.URL+wfe.DirectoryPath, srv.Client(), roots
	return tca
}

// localhost is the address pebble's validation authority connects to for
// "localhost": the first address the resolver gives, as pebble takes it.
func localhost(t testing.TB) string {
	t.Helper()
	addrs, err := net.DefaultResolver.LookupHost(context.Background(), "localhost")
	if err != nil || len(addrs) == 0 {
		t.Fatalf("resolving localhost: %v %v", addrs, err)
	}
	return addrs[0]
}

// listenLocal listens on localhost's address, at port (0: any).
func listenLocal(t testing.TB, port int) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(localhost(t), strconv.Itoa(port)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

func portOf(ln net.Listener) int { return ln.Addr().(*net.TCPAddr).Port }

// deadPort returns a port nothing listens on (a moment ago).
func deadPort(t testing.TB) int {
	t.Helper()
	ln := listenLocal(t, 0)
	ln.Close()
	return portOf(ln)
}

// challengeServer answers HTTP-01 and TLS-ALPN-01 validation requests from
// a Manager, counting them and keeping the HTTP-01 tokens it answered.
type challengeServer struct {
	mgr      atomic.Pointer[acmeclient.Manager]
	httpHits atomic.Int32
	tlsHits  atomic.Int32

	mu     sync.Mutex
	tokens []string // answered, HTTP-01
}

// answered returns the HTTP-01 tokens answered so far.
func (cs *challengeServer) answered() []string {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	return append([]string(nil), cs.tokens...)
}

// serveHTTP answers HTTP-01 on ln until the test ends.
func (cs *challengeServer) serveHTTP(t testing.TB, ln net.Listener) {
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			token, ok := strings.CutPrefix(r.URL.Path, acmeclient.HTTPChallengePath)
			if m := cs.mgr.Load(); ok && m != nil {
				if ka, ok := m.HTTPChallenge(token); ok {
					cs.httpHits.Add(1)
					cs.mu.Lock()
					cs.tokens = append(cs.tokens, token)
					cs.mu.Unlock()
					w.Header().Set("Content-Type", "text/plain")
					io.WriteString(w, ka)
					return
				}
			}
			http.NotFound(w, r)
		}),
		ReadHeaderTimeout: 5 * time.Second,
		ErrorLog:          log.New(io.Discard, "", 0),
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
}

// serveTLS answers TLS-ALPN-01 on ln until the test ends: the handshake is
// all the validator wants.
func (cs *challengeServer) serveTLS(t testing.TB, ln net.Listener) {
	cfg := &tls.Config{
		NextProtos: []string{"http/1.1", acmeclient.ALPNProto},
		GetCertificate: func(chi *tls.ClientHelloInfo) (*tls.Certificate, error) {
			if m := cs.mgr.Load(); m != nil {
				if c := m.ChallengeCertificate(&tlsbackend.ClientHello{ServerName: chi.ServerName, SupportedProtos: chi.SupportedProtos}); c != nil {
					cs.tlsHits.Add(1)
					return c, nil
				}
			}
			return nil, errors.New("no challenge pending")
		},
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(5 * time.Second))
				tc := tls.Server(c, cfg)
				if tc.Handshake() == nil {
					io.Copy(io.Discard, tc) // until the validator closes
				}
			})
		}
	})
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
}

// env is pebble, challenge servers on both ports and a certificate
// directory: what most tests need.
type env struct {
	ca                *testCA
	cs                *challengeServer
	certsPath         string
	httpPort, tlsPort int // where pebble validates
}

// newEnv starts pebble (issuing certificates valid for validity) and the
// challenge servers; with deadHTTP or deadTLS, nothing answers on that port.
func newEnv(t *testing.T, validity time.Duration, deadHTTP, deadTLS bool) *env {
	t.Helper()
	e := &env{cs: &challengeServer{}, certsPath: t.TempDir()}
	if deadHTTP {
		e.httpPort = deadPort(t)
	} else {
		ln := listenLocal(t, 0)
		e.httpPort = portOf(ln)
		e.cs.serveHTTP(t, ln)
	}
	if deadTLS {
		e.tlsPort = deadPort(t)
	} else {
		ln := listenLocal(t, 0)
		e.tlsPort = portOf(ln)
		e.cs.serveTLS(t, ln)
	}
	e.ca = newTestCA(t, e.httpPort, e.tlsPort, validity)
	return e
}

// config is a Config for localhost against e's pebble.
func (e *env) config(t *testing.T, challenges ...string) acmeclient.Config {
	return acmeclient.Config{
		DirectoryURL: e.ca.DirectoryURL,
		Email:        "ops@example.com",
		Hosts:        []string{"localhost"},
		CertsPath:    e.certsPath,
		Challenges:   challenges,
		RetryBackoff: 200 * time.Millisecond,
		HTTPClient:   e.ca.HTTPClient,
		Logger:       slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
}

// start makes a Manager of cfg, lets the challenge servers answer from it,
// and runs it until the test ends.
func (e *env) start(t *testing.T, cfg acmeclient.Config) *acmeclient.Manager {
	t.Helper()
	m, err := acmeclient.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.cs.mgr.Store(m)
	runManager(t, m)
	return m
}

// runManager runs m until the test ends.
func runManager(t *testing.T, m *acmeclient.Manager) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if !errors.Is(err, context.Canceled) {
				t.Errorf("Run returned %v, want context.Canceled", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Run did not return within 10s of its context ending")
		}
	})
}

// waitStatus polls m's only host's status until cond holds, at most
// timeout.
func waitStatus(t *testing.T, m *acmeclient.Manager, timeout time.Duration, what string, cond func(acmeclient.HostStatus) bool) acmeclient.HostStatus {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		st := m.Status()[0]
		if cond(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v, still not %s: %+v", timeout, what, st)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
