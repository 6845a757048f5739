// Package tlsbackendtest is the conformance suite every TLS backend of
// edge passes (like golang.org/x/net/nettest.TestConn), plus certificate
// helpers for other packages' tests.
//
// Typical usage, in a backend's test file:
//
//	func TestConformance(t *testing.T) { tlsbackendtest.Run(t, stdlib.New()) }
//
// and, for certificates:
//
//	ca := tlsbackendtest.NewTestCA(t)
//	cert := ca.Leaf(t, "a.test", "*.a.test")   // ECDSA P-256, chain leaf+CA
//	ca.WritePEM(t, dir, "b.test")              // dir/privkey.pem, dir/fullchain.pem
//	client := &tls.Config{RootCAs: ca.Pool(), ServerName: "a.test"}
//
// Run talks to the backend over loopback TCP with crypto/tls clients and,
// when it is on PATH, openssl s_client. With the CI environment variable
// set, a missing openssl fails the test instead of skipping it.
//
// What the suite requires of a backend, beyond the tlsbackend docs:
//   - ClientHello.ServerName is lower case, ClientHello.Conn is set (its
//     RemoteAddr is the client's), and SupportsECDSA is false for a
//     client that can only verify RSA signatures (TLS 1.2 RSA-only
//     suites, TLS 1.3 RSA-only signature schemes).
//   - A GetCertificate error fails the handshake.
//   - A client offering ALPN protocols none of which is in NextProtos is
//     refused with a no_application_protocol alert (RFC 7301), as Go's
//     crypto/tls does; a client offering no ALPN gets none.
//   - Clients limited to TLS 1.1 or below, to CBC or static-RSA suites,
//     are refused.
//   - HandshakeContext returns soon after its context ends, even when the
//     peer sent nothing or half a ClientHello.
//   - After the handshake, a "would block" error ([ErrWouldBlock]) from
//     the connection's Read reaches the caller of Conn.Read (possibly
//     wrapped), never together with data, and the Conn keeps working,
//     however the records are split; this includes a TLS 1.3 KeyUpdate
//     from the client, which the Conn answers from inside Read. The
//     connection's Write never returns "would block" in the suite.
//   - Server.Close returns nil, is idempotent, and leaves connections
//     working.
package tlsbackendtest

import (
	"bufio"
	"bytes"
	"crypto"
	"crypto/ed25519"
	crand "crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edge-rt/edge/tlsbackend"
)

// fixture holds the certificates shared by the subtests.
type fixture struct {
	ca                             *CA
	a, wild, def, dual, b, dualRSA *tls.Certificate
}

func newFixture(t *testing.T) *fixture {
	ca := NewTestCA(t)
	return &fixture{
		ca:      ca,
		a:       ca.Leaf(t, "a.test"),
		wild:    ca.Leaf(t, "*.wild.test"),
		def:     ca.Leaf(t, "default.test"),
		dual:    ca.Leaf(t, "dual.test"),
		b:       ca.LeafRSA(t, "b.test"),
		dualRSA: ca.LeafRSA(t, "dual.test"),
	}
}

// store returns a fresh certificate store: a.test, b.test (RSA),
// *.wild.test, dual.test (ECDSA and RSA), default.test as the default.
func (f *fixture) store() *certStore {
	return newCertStore(&certMap{
		names: map[string]*tls.Certificate{
			"a.test": f.a, "b.test": f.b, "*.wild.test": f.wild, "dual.test": f.dual,
		},
		rsa: map[string]*tls.Certificate{"dual.test": f.dualRSA},
		def: f.def,
	})
}

// client returns a verifying client configuration for name.
func (f *fixture) client(name string) *tls.Config {
	return &tls.Config{RootCAs: f.ca.Pool(), ServerName: name}
}

func (f *fixture) server(t testing.TB, b tlsbackend.Backend, cfg tlsbackend.Config, h handler) *testServer {
	t.Helper()
	return startServer(t, b, serverOptions{config: cfg, store: f.store(), handle: h})
}

// Run runs the conformance suite against b. The subtests that measure
// time run first, the others after them in parallel.
func Run(t *testing.T, b tlsbackend.Backend) {
	if b == nil {
		t.Fatal("tlsbackendtest: nil Backend")
	}
	f := newFixture(t)
	t.Run("HandshakeTimeout", func(t *testing.T) { testHandshakeTimeout(t, b, f) })
	t.Run("SNI", func(t *testing.T) { testSNI(t, b, f) })
	t.Run("Reload", func(t *testing.T) { testReload(t, b, f) })
	t.Run("ALPN", func(t *testing.T) { testALPN(t, b, f) })
	t.Run("Versions", func(t *testing.T) { testVersions(t, b, f) })
	t.Run("Resumption", func(t *testing.T) { testResumption(t, b, f) })
	t.Run("LargeWrites", func(t *testing.T) { testLargeWrites(t, b, f) })
	t.Run("HalfClose", func(t *testing.T) { testHalfClose(t, b, f) })
	t.Run("NonBlocking", func(t *testing.T) { testNonBlocking(t, b, f) })
	t.Run("Close", func(t *testing.T) { testClose(t, b, f) })
	t.Run("OpenSSLClient", func(t *testing.T) { testOpenSSL(t, b, f) })
	t.Run("CertificateKeys", func(t *testing.T) { testCertificateKeys(t, b, f) })
}

// --- Certificate keys ---

// KeySupporter is implemented by a Backend whose policy limits the keys of
// the certificates it serves (FIPS 140: RSA of 2048 bits or more, ECDSA on
// P-256, P-384 or P-521, and Ed25519 only for Go's FIPS 140-3 mode).
// SupportsKey reports whether a certificate with the public key pub may be
// served. The CertificateKeys subtest runs only against a Backend that
// implements it: it serves an RSA-1024 and an Ed25519 certificate and
// expects the handshake to succeed exactly when SupportsKey accepts the
// key, and to fail on the server side otherwise.
type KeySupporter interface {
	SupportsKey(pub crypto.PublicKey) bool
}

func testCertificateKeys(t *testing.T, b tlsbackend.Backend, f *fixture) {
	t.Parallel()
	ks, ok := b.(KeySupporter)
	if !ok {
		t.Skipf("backend %s does not implement tlsbackendtest.KeySupporter: it serves the keys its library can use", b.Name())
	}
	rsa1024, err := rsa.GenerateKey(crand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	_, ed, err := ed25519.GenerateKey(crand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		key  crypto.Signer
	}{
		{"RSA1024", rsa1024},
		{"Ed25519", ed},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cert := f.ca.LeafWithKey(t, tt.key, "a.test")
			store := newCertStore(&certMap{names: map[string]*tls.Certificate{"a.test": cert}, def: cert})
			s := startServer(t, b, serverOptions{store: store, handle: echo})
			want := ks.SupportsKey(tt.key.Public())
			c, local, err := dial(s.addr(), &tls.Config{ServerName: "a.test", InsecureSkipVerify: true})
			if err == nil {
				err = pingPong(c)
			}
			r, werr := s.waitReport(local)
			if werr != nil {
				t.Fatal(werr)
			}
			switch {
			case want && (err != nil || r.failure() != nil):
				t.Errorf("%s certificate, which SupportsKey accepts: client: %v; %v", tt.name, err, r.failure())
			case !want && r.handshakeErr == nil:
				t.Errorf("%s certificate, which SupportsKey refuses: the server handshake succeeded", tt.name)
			case !want:
				t.Logf("refused: %v", r.handshakeErr)
			}
		})
	}
}

// --- SNI ---

func testSNI(t *testing.T, b tlsbackend.Backend, f *fixture) {
	t.Parallel()
	s := f.server(t, b, tlsbackend.Config{}, echo)
	rsaSuites := []uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256}
	tests := []struct {
		name      string
		sni       string
		tls12     bool
		suites    []uint16
		want      *tls.Certificate
		wantHello string
		wantECDSA bool
	}{
		{name: "Exact", sni: "a.test", want: f.a, wantHello: "a.test", wantECDSA: true},
		{name: "ExactRSA", sni: "b.test", want: f.b, wantHello: "b.test", wantECDSA: true},
		{name: "UpperCase", sni: "A.Test", want: f.a, wantHello: "a.test", wantECDSA: true},
		{name: "Wildcard", sni: "x.wild.test", want: f.wild, wantHello: "x.wild.test", wantECDSA: true},
		{name: "WildcardTwoLabels", sni: "y.x.wild.test", want: f.def, wantHello: "y.x.wild.test", wantECDSA: true},
		{name: "WildcardBare", sni: "wild.test", want: f.def, wantHello: "wild.test", wantECDSA: true},
		{name: "Unknown", sni: "unknown.test", want: f.def, wantHello: "unknown.test", wantECDSA: true},
		{name: "NoSNI", sni: "", want: f.def, wantHello: "", wantECDSA: true},
		{name: "DualECDSA", sni: "dual.test", want: f.dual, wantHello: "dual.test", wantECDSA: true},
		{name: "DualECDSA/TLS12", sni: "dual.test", tls12: true, want: f.dual, wantHello: "dual.test", wantECDSA: true},
		{name: "DualRSAOnlyClient/TLS12", sni: "dual.test", tls12: true, suites: rsaSuites, want: f.dualRSA, wantHello: "dual.test", wantECDSA: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := &tls.Config{ServerName: tt.sni, InsecureSkipVerify: true, CipherSuites: tt.suites, NextProtos: []string{"http/1.1", "x-test"}}
			if tt.tls12 {
				cfg.MaxVersion = tls.VersionTLS12
			}
			c, local, err := dial(s.addr(), cfg)
			if err != nil {
				t.Fatalf("handshake: %v", err)
			}
			if got := c.ConnectionState().PeerCertificates[0]; !bytes.Equal(got.Raw, tt.want.Certificate[0]) {
				t.Errorf("SNI %q: got the certificate for %q (%s), want %q (%s)", tt.sni,
					got.DNSNames, keyType(got.PublicKey), tt.want.Leaf.DNSNames, keyType(tt.want.Leaf.PublicKey))
			}
			if err := pingPong(c); err != nil {
				t.Error(err)
			}
			r := s.wait(t, local)
			r.ok(t)
			if !r.haveHello {
				t.Fatalf("GetCertificate was not called with ClientHello.Conn.RemoteAddr() = %s", local)
			}
			if r.hello.ServerName != tt.wantHello {
				t.Errorf("ClientHello.ServerName = %q, want %q", r.hello.ServerName, tt.wantHello)
			}
			if r.hello.SupportsECDSA != tt.wantECDSA {
				t.Errorf("ClientHello.SupportsECDSA = %v, want %v", r.hello.SupportsECDSA, tt.wantECDSA)
			}
			if !slices.Equal(r.hello.SupportedProtos, cfg.NextProtos) {
				t.Errorf("ClientHello.SupportedProtos = %q, want %q", r.hello.SupportedProtos, cfg.NextProtos)
			}
			if !strings.EqualFold(r.state.ServerName, tt.sni) {
				t.Errorf("State().ServerName = %q, want %q", r.state.ServerName, tt.sni)
			}
		})
	}
	t.Run("GetCertificateError", func(t *testing.T) {
		t.Parallel()
		cfg := &tls.Config{ServerName: failName, InsecureSkipVerify: true}
		c, local, err := dial(s.addr(), cfg)
		if err == nil {
			c.Close()
			t.Fatal("handshake succeeded although GetCertificate failed")
		}
		if r := s.wait(t, local); r.handshakeErr == nil {
			t.Error("server handshake succeeded although GetCertificate failed")
		}
	})
}

func keyType(pub any) string {
	return strings.TrimPrefix(fmt.Sprintf("%T", pub), "*")
}

// --- Reload ---

func testReload(t *testing.T, b tlsbackend.Backend, f *fixture) {
	t.Parallel()
	const (
		swaps   = 100
		clients = 4
	)
	store := f.store()
	s := startServer(t, b, serverOptions{store: store, handle: echo})
	certs := []*tls.Certificate{f.a}
	valid := map[string]bool{string(f.a.Certificate[0]): true}
	for range swaps {
		c := f.ca.Leaf(t, "a.test")
		certs = append(certs, c)
		valid[string(c.Certificate[0])] = true
	}

	var (
		handshakes, failures atomic.Int64
		stop                 atomic.Bool
		wg                   sync.WaitGroup
	)
	cfg := f.client("a.test") // verifies the chain and the name
	for range clients {
		wg.Go(func() {
			for !stop.Load() && failures.Load() < 10 {
				c, local, err := dial(s.addr(), cfg)
				if err != nil {
					failures.Add(1)
					t.Errorf("handshake during reload: %v", err)
					continue
				}
				if leaf := c.ConnectionState().PeerCertificates[0].Raw; !valid[string(leaf)] {
					failures.Add(1)
					t.Errorf("handshake during reload saw a certificate that was never in the store")
				}
				if err := pingPong(c); err != nil {
					failures.Add(1)
					t.Errorf("after a handshake during reload: %v", err)
				}
				r, err := s.waitReport(local)
				if err == nil {
					err = r.failure()
				}
				if err != nil {
					failures.Add(1)
					t.Errorf("server, during reload: %v", err)
				}
				handshakes.Add(1)
			}
		})
	}
	// Swap only after at least one more handshake, so that handshakes and
	// swaps interleave however slow the machine.
	deadline := time.Now().Add(60 * time.Second)
	for i := 1; i <= swaps && failures.Load() == 0; i++ {
		n := handshakes.Load()
		for handshakes.Load() == n && failures.Load() == 0 && time.Now().Before(deadline) {
			time.Sleep(100 * time.Microsecond)
		}
		store.set("a.test", certs[i])
	}
	stop.Store(true)
	wg.Wait()
	if time.Now().After(deadline) {
		t.Fatalf("reload: only %d handshakes", handshakes.Load())
	}
	t.Logf("%d handshakes during %d certificate swaps", handshakes.Load(), swaps)

	c, local, err := dial(s.addr(), cfg)
	if err != nil {
		t.Fatalf("handshake after reload: %v", err)
	}
	if !bytes.Equal(c.ConnectionState().PeerCertificates[0].Raw, certs[swaps].Certificate[0]) {
		t.Error("after the last swap, the server still sends an older certificate")
	}
	if err := pingPong(c); err != nil {
		t.Error(err)
	}
	s.wait(t, local).ok(t)
}

// --- ALPN ---

func testALPN(t *testing.T, b tlsbackend.Backend, f *fixture) {
	t.Parallel()
	tests := []struct {
		name   string
		server []string // nil: default
		client []string
		tls12  bool
		want   string
		fail   bool
	}{
		{name: "Default/H2AndHTTP11", client: []string{"h2", "http/1.1"}, want: "http/1.1"},
		{name: "Default/HTTP11", client: []string{"http/1.1"}, want: "http/1.1"},
		{name: "Default/NoALPN", client: nil, want: ""},
		{name: "Default/OnlyFoo", client: []string{"foo"}, fail: true},
		{name: "Default/OnlyFoo/TLS12", client: []string{"foo"}, tls12: true, fail: true},
		{name: "ServerPreference", server: []string{"h2", "http/1.1"}, client: []string{"http/1.1", "h2"}, want: "h2"},
		{name: "ServerPreference/TLS12", server: []string{"h2", "http/1.1"}, client: []string{"http/1.1", "h2"}, tls12: true, want: "h2"},
		{name: "ServerNone", server: []string{}, client: []string{"h2", "http/1.1"}, want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := f.server(t, b, tlsbackend.Config{NextProtos: tt.server}, echo)
			cfg := f.client("a.test")
			cfg.NextProtos = tt.client
			if tt.tls12 {
				cfg.MaxVersion = tls.VersionTLS12
			}
			c, local, err := dial(s.addr(), cfg)
			r := s.waitIfFailed(t, local, err)
			if tt.fail {
				if err == nil {
					c.Close()
					t.Fatalf("client offering only %q: handshake succeeded with ALPN %q, want a no_application_protocol alert",
						tt.client, c.ConnectionState().NegotiatedProtocol)
				}
				if !strings.Contains(err.Error(), "no application protocol") {
					t.Errorf("client offering only %q: got %v, want a no_application_protocol alert", tt.client, err)
				}
				if r.handshakeErr == nil {
					t.Error("server handshake succeeded")
				}
				return
			}
			if err != nil {
				t.Fatalf("handshake: %v", err)
			}
			if got := c.ConnectionState().NegotiatedProtocol; got != tt.want {
				t.Errorf("client sees ALPN %q, want %q", got, tt.want)
			}
			if err := pingPong(c); err != nil {
				t.Error(err)
			}
			r = s.wait(t, local)
			r.ok(t)
			if r.state.NegotiatedProtocol != tt.want {
				t.Errorf("State().NegotiatedProtocol = %q, want %q", r.state.NegotiatedProtocol, tt.want)
			}
		})
	}
}

// waitIfFailed returns the server report when the client handshake
// failed (err != nil), and the zero report otherwise.
func (s *testServer) waitIfFailed(t testing.TB, local string, err error) report {
	t.Helper()
	if err == nil || local == "" {
		return report{}
	}
	return s.wait(t, local)
}

// --- Versions, suites, groups ---

// CurveSupporter is implemented by a Backend that may lack some of
// tlsbackend.DefaultCurves (OpenSSL before 3.5 has no X25519MLKEM768) or
// whose policy leaves some out (FIPS mode has no X25519 on its own).
// When SupportsCurve(tls.X25519MLKEM768) is false, the suite expects a
// default TLS 1.3 handshake to settle on X25519, the next default group;
// a Backend that does not implement it must negotiate X25519MLKEM768.
// More generally, a default handshake must settle on the first of
// tlsbackend.DefaultCurves that SupportsCurve accepts (for TLS 1.2, the
// first that is not a post-quantum hybrid); a client offering only
// unsupported groups must be refused, and so must a Config naming one in
// CurvePreferences (NewServer fails).
type CurveSupporter interface {
	SupportsCurve(id tls.CurveID) bool
}

// CipherSuiteSupporter is implemented by a Backend whose policy leaves out
// some of tlsbackend.DefaultCipherSuites or of the TLS 1.3 suites (FIPS
// mode has no ChaCha20-Poly1305). For a suite id where
// SupportsCipherSuite(id) is false, the suite expects a client offering
// only that suite to be refused, and NewServer to fail on a Config naming
// it in CipherSuites. A Backend that does not implement it must negotiate
// every suite of tlsbackend.DefaultCipherSuites and the three TLS 1.3
// suites.
type CipherSuiteSupporter interface {
	SupportsCipherSuite(id uint16) bool
}

// supportsCurve reports whether b negotiates the group id: true unless b
// says otherwise through CurveSupporter.
func supportsCurve(b tlsbackend.Backend, id tls.CurveID) bool {
	cs, ok := b.(CurveSupporter)
	return !ok || cs.SupportsCurve(id)
}

// supportsSuite reports whether b negotiates the cipher suite id: true
// unless b says otherwise through CipherSuiteSupporter.
func supportsSuite(b tlsbackend.Backend, id uint16) bool {
	cs, ok := b.(CipherSuiteSupporter)
	return !ok || cs.SupportsCipherSuite(id)
}

// defaultCurve is the group a default handshake of version v with b
// settles on: the first of tlsbackend.DefaultCurves that b supports and
// that v can use.
func defaultCurve(b tlsbackend.Backend, v uint16) tls.CurveID {
	for _, id := range tlsbackend.DefaultCurves {
		hybrid := id == tls.X25519MLKEM768 || id == tls.SecP256r1MLKEM768 || id == tls.SecP384r1MLKEM1024
		if supportsCurve(b, id) && (v == tls.VersionTLS13 || !hybrid) {
			return id
		}
	}
	return 0
}

// policyGap names what of cfg's CurvePreferences and CipherSuites b does
// not support, "" if nothing.
func policyGap(b tlsbackend.Backend, cfg tlsbackend.Config) string {
	var gap []string
	for _, id := range cfg.CurvePreferences {
		if !supportsCurve(b, id) {
			gap = append(gap, id.String())
		}
	}
	for _, id := range cfg.CipherSuites {
		if !supportsSuite(b, id) {
			gap = append(gap, tls.CipherSuiteName(id))
		}
	}
	return strings.Join(gap, ", ")
}

func testVersions(t *testing.T, b tlsbackend.Backend, f *fixture) {
	t.Parallel()
	tests := []struct {
		name       string
		server     tlsbackend.Config
		sni        string // default a.test (ECDSA)
		clientMin  uint16
		clientMax  uint16
		suites     []uint16
		curves     []tls.CurveID
		wantVer    uint16
		wantCurve  tls.CurveID // 0: any
		wantSuite  uint16      // 0: any
		wantFailed bool
	}{
		{name: "TLS13", wantVer: tls.VersionTLS13, wantCurve: tls.X25519MLKEM768},
		{name: "TLS12", clientMax: tls.VersionTLS12, wantVer: tls.VersionTLS12, wantCurve: tls.X25519},
		{name: "TLS12/RSA", sni: "b.test", clientMax: tls.VersionTLS12, wantVer: tls.VersionTLS12, wantCurve: tls.X25519},
		{name: "TLS11ClientRefused", clientMin: tls.VersionTLS10, clientMax: tls.VersionTLS11, wantFailed: true},
		{name: "MinTLS13/TLS12ClientRefused", server: tlsbackend.Config{MinVersion: tls.VersionTLS13}, clientMax: tls.VersionTLS12, wantFailed: true},
		{name: "MinTLS13/TLS13", server: tlsbackend.Config{MinVersion: tls.VersionTLS13}, wantVer: tls.VersionTLS13},
		{name: "MaxTLS12", server: tlsbackend.Config{MaxVersion: tls.VersionTLS12}, wantVer: tls.VersionTLS12},
		{name: "ClientX25519Only", curves: []tls.CurveID{tls.X25519}, wantVer: tls.VersionTLS13, wantCurve: tls.X25519},
		{name: "ServerX25519Only", server: tlsbackend.Config{CurvePreferences: []tls.CurveID{tls.X25519}}, wantVer: tls.VersionTLS13, wantCurve: tls.X25519},
		// The client's first key shares are not acceptable: HelloRetryRequest.
		{name: "ServerP256Only/HRR", server: tlsbackend.Config{CurvePreferences: []tls.CurveID{tls.CurveP256}}, wantVer: tls.VersionTLS13, wantCurve: tls.CurveP256},
		{name: "ServerSuite", server: tlsbackend.Config{CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384}},
			clientMax: tls.VersionTLS12, wantVer: tls.VersionTLS12, wantSuite: tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384},
		{name: "ClientChaCha20", clientMax: tls.VersionTLS12, suites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256},
			wantVer: tls.VersionTLS12, wantSuite: tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256},
		{name: "ClientCBCRefused", clientMax: tls.VersionTLS12,
			suites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA}, wantFailed: true},
		{name: "ClientStaticRSARefused", sni: "b.test", clientMax: tls.VersionTLS12,
			suites: []uint16{tls.TLS_RSA_WITH_AES_128_GCM_SHA256, tls.TLS_RSA_WITH_AES_256_GCM_SHA384}, wantFailed: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if gap := policyGap(b, tt.server); gap != "" {
				// The backend says it lacks what the Config names: NewServer
				// must refuse the Config rather than run without it.
				cfg := tt.server
				cfg.GetCertificate = f.store().GetCertificate
				if srv, err := b.NewServer(&cfg); err == nil {
					srv.Close()
					t.Fatalf("NewServer accepted a Config naming %s, which the backend does not support", gap)
				} else {
					t.Logf("NewServer refused a Config naming %s: %v", gap, err)
				}
				return
			}
			// A client offering only what the backend does not support is
			// refused.
			if len(tt.curves) > 0 && !slices.ContainsFunc(tt.curves, func(id tls.CurveID) bool { return supportsCurve(b, id) }) ||
				len(tt.suites) > 0 && !slices.ContainsFunc(tt.suites, func(id uint16) bool { return supportsSuite(b, id) }) {
				tt.wantFailed = true
			}
			s := f.server(t, b, tt.server, echo)
			sni := tt.sni
			if sni == "" {
				sni = "a.test"
			}
			cfg := f.client(sni)
			cfg.MinVersion, cfg.MaxVersion = tt.clientMin, tt.clientMax
			cfg.CipherSuites, cfg.CurvePreferences = tt.suites, tt.curves
			c, local, err := dial(s.addr(), cfg)
			r := s.waitIfFailed(t, local, err)
			if tt.wantFailed {
				if err == nil {
					cs := c.ConnectionState()
					c.Close()
					t.Fatalf("handshake succeeded (%s, %s), want it refused", tls.VersionName(cs.Version), tls.CipherSuiteName(cs.CipherSuite))
				}
				if r.handshakeErr == nil {
					t.Error("server handshake succeeded, want it refused")
				}
				t.Logf("refused: client: %v; server: %v", err, r.handshakeErr)
				return
			}
			if err != nil {
				t.Fatalf("handshake: %v", err)
			}
			cs := c.ConnectionState()
			if err := pingPong(c); err != nil {
				t.Error(err)
			}
			r = s.wait(t, local)
			r.ok(t)
			st := r.state
			if st.Version != tt.wantVer || cs.Version != tt.wantVer {
				t.Errorf("version: server %s, client %s, want %s", tls.VersionName(st.Version), tls.VersionName(cs.Version), tls.VersionName(tt.wantVer))
			}
			if st.CipherSuite != cs.CipherSuite {
				t.Errorf("State().CipherSuite = %s, client negotiated %s", tls.CipherSuiteName(st.CipherSuite), tls.CipherSuiteName(cs.CipherSuite))
			}
			if tt.wantSuite != 0 && st.CipherSuite != tt.wantSuite {
				t.Errorf("cipher suite %s, want %s", tls.CipherSuiteName(st.CipherSuite), tls.CipherSuiteName(tt.wantSuite))
			}
			if st.Version == tls.VersionTLS12 && !slices.Contains(tlsbackend.DefaultCipherSuites, st.CipherSuite) {
				t.Errorf("TLS 1.2 suite %s is not one of the allowed AEAD ECDHE suites", tls.CipherSuiteName(st.CipherSuite))
			}
			if st.CurveID != cs.CurveID {
				t.Errorf("State().CurveID = %v, client negotiated %v", st.CurveID, cs.CurveID)
			}
			wantCurve := tt.wantCurve
			if wantCurve != 0 && !supportsCurve(b, wantCurve) && tt.curves == nil && tt.server.CurvePreferences == nil {
				// A default handshake, with a default group the backend
				// lacks: the first default group it has.
				wantCurve = defaultCurve(b, tt.wantVer)
			}
			if wantCurve != 0 && st.CurveID != wantCurve {
				t.Errorf("key exchange %v, want %v", st.CurveID, wantCurve)
			}
			if !supportsSuite(b, st.CipherSuite) || !supportsCurve(b, st.CurveID) {
				t.Errorf("negotiated %s with %v, which the backend says it does not support", tls.CipherSuiteName(st.CipherSuite), st.CurveID)
			}
			if st.ServerName != sni {
				t.Errorf("State().ServerName = %q, want %q", st.ServerName, sni)
			}
			if st.NegotiatedProtocol != "" {
				t.Errorf("State().NegotiatedProtocol = %q for a client without ALPN", st.NegotiatedProtocol)
			}
		})
	}
}

// --- Resumption ---

func testResumption(t *testing.T, b tlsbackend.Backend, f *fixture) {
	t.Parallel()
	for _, v := range []uint16{tls.VersionTLS13, tls.VersionTLS12} {
		for _, disabled := range []bool{false, true} {
			name := strings.ReplaceAll(tls.VersionName(v), " ", "")
			if disabled {
				name += "/DisableSessionTickets"
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				s := f.server(t, b, tlsbackend.Config{DisableSessionTickets: disabled}, echo)
				cfg := f.client("a.test")
				cfg.MaxVersion = v
				cfg.ClientSessionCache = tls.NewLRUClientSessionCache(4)
				for i, wantResume := range []bool{false, !disabled, !disabled} {
					c, local, err := dial(s.addr(), cfg)
					if err != nil {
						t.Fatalf("connection %d: %v", i+1, err)
					}
					cs := c.ConnectionState()
					if err := pingPong(c); err != nil {
						t.Errorf("connection %d: %v", i+1, err)
					}
					r := s.wait(t, local)
					r.ok(t)
					if cs.DidResume != wantResume || r.state.DidResume != wantResume {
						t.Errorf("connection %d: client DidResume %v, server State().DidResume %v, want %v",
							i+1, cs.DidResume, r.state.DidResume, wantResume)
					}
					if r.state.Version != v {
						t.Errorf("connection %d: %s, want %s", i+1, tls.VersionName(r.state.Version), tls.VersionName(v))
					}
				}
			})
		}
	}
}

// --- Large writes ---

const largeSize = 8 << 20

var largeData = sync.OnceValue(func() []byte {
	return randomBytes(largeSize, 1)
})

func randomBytes(n int, seed byte) []byte {
	b := make([]byte, n)
	rand.NewChaCha8([32]byte{seed}).Read(b)
	return b
}

// writeChunks writes data in chunks of varied sizes, around the 16 KiB
// record size and far above it.
func writeChunks(w io.Writer, data []byte) error {
	sizes := []int{1, 100, 16383, 16384, 16385, 70000, 1 << 20, 3 << 20}
	for i := 0; len(data) > 0; i++ {
		n := min(sizes[i%len(sizes)], len(data))
		if _, err := w.Write(data[:n]); err != nil {
			return err
		}
		data = data[n:]
	}
	return nil
}

func testLargeWrites(t *testing.T, b tlsbackend.Backend, f *fixture) {
	t.Parallel()
	data := largeData()
	sum := sha256.Sum256(data)

	t.Run("ServerToClient", func(t *testing.T) {
		t.Parallel()
		s := f.server(t, b, tlsbackend.Config{}, func(tc tlsbackend.Conn, _ net.Conn) error {
			if err := writeChunks(tc, data); err != nil {
				return fmt.Errorf("write: %w", err)
			}
			if err := tc.CloseWrite(); err != nil {
				return fmt.Errorf("CloseWrite: %w", err)
			}
			_, err := io.Copy(io.Discard, tc) // until the client closes
			return err
		})
		c, local, err := dial(s.addr(), f.client("a.test"))
		if err != nil {
			t.Fatalf("handshake: %v", err)
		}
		h := sha256.New()
		n, err := io.Copy(h, c)
		if err != nil {
			t.Errorf("client read after %d bytes: %v", n, err)
		}
		if n != largeSize || !bytes.Equal(h.Sum(nil), sum[:]) {
			t.Errorf("client read %d bytes (hash match %v), want %d bytes", n, bytes.Equal(h.Sum(nil), sum[:]), largeSize)
		}
		c.Close()
		s.wait(t, local).ok(t)
	})

	t.Run("ClientToServer", func(t *testing.T) {
		t.Parallel()
		s := f.server(t, b, tlsbackend.Config{}, func(tc tlsbackend.Conn, _ net.Conn) error {
			h := sha256.New()
			n, err := io.Copy(h, tc)
			if err != nil {
				return fmt.Errorf("read after %d bytes: %w", n, err)
			}
			if n != largeSize {
				return fmt.Errorf("read %d bytes, want %d", n, largeSize)
			}
			_, err = tc.Write(h.Sum(nil))
			return err
		})
		c, local, err := dial(s.addr(), f.client("a.test"))
		if err != nil {
			t.Fatalf("handshake: %v", err)
		}
		defer c.Close()
		if err := writeChunks(c, data); err != nil {
			t.Fatalf("client write: %v", err)
		}
		if err := c.CloseWrite(); err != nil {
			t.Fatalf("client CloseWrite: %v", err)
		}
		got, err := io.ReadAll(c)
		if err != nil {
			t.Errorf("client read: %v", err)
		}
		if !bytes.Equal(got, sum[:]) {
			t.Errorf("server's hash of what it read: %x, want %x", got, sum)
		}
		s.wait(t, local).ok(t)
	})
}

// --- Half-close ---

func testHalfClose(t *testing.T, b tlsbackend.Backend, f *fixture) {
	t.Parallel()
	for _, v := range []uint16{tls.VersionTLS13, tls.VersionTLS12} {
		vname := strings.ReplaceAll(tls.VersionName(v), " ", "")
		t.Run("Client/"+vname, func(t *testing.T) {
			t.Parallel()
			s := f.server(t, b, tlsbackend.Config{}, func(tc tlsbackend.Conn, _ net.Conn) error {
				got, err := io.ReadAll(tc) // nil error: io.EOF on close_notify
				if err != nil {
					return fmt.Errorf("read until the client's close_notify: %w", err)
				}
				if _, err := tc.Write(append([]byte("reply:"), got...)); err != nil {
					return fmt.Errorf("write after the client's close_notify: %w", err)
				}
				return nil
			})
			cfg := f.client("a.test")
			cfg.MaxVersion = v
			c, local, err := dial(s.addr(), cfg)
			if err != nil {
				t.Fatalf("handshake: %v", err)
			}
			defer c.Close()
			if _, err := c.Write([]byte("hello")); err != nil {
				t.Fatal(err)
			}
			if err := c.CloseWrite(); err != nil {
				t.Fatalf("client CloseWrite: %v", err)
			}
			got, err := io.ReadAll(c)
			if err != nil || string(got) != "reply:hello" {
				t.Errorf("client read %q, %v; want %q and EOF", got, err, "reply:hello")
			}
			s.wait(t, local).ok(t)
		})
		t.Run("Server/"+vname, func(t *testing.T) {
			t.Parallel()
			s := f.server(t, b, tlsbackend.Config{}, func(tc tlsbackend.Conn, _ net.Conn) error {
				if _, err := tc.Write([]byte("bye")); err != nil {
					return err
				}
				if err := tc.CloseWrite(); err != nil {
					return fmt.Errorf("CloseWrite: %w", err)
				}
				got, err := io.ReadAll(tc)
				if err != nil {
					return fmt.Errorf("read after CloseWrite: %w", err)
				}
				if string(got) != "still here" {
					return fmt.Errorf("read %q after CloseWrite, want %q", got, "still here")
				}
				return nil
			})
			cfg := f.client("a.test")
			cfg.MaxVersion = v
			c, local, err := dial(s.addr(), cfg)
			if err != nil {
				t.Fatalf("handshake: %v", err)
			}
			got, err := io.ReadAll(c)
			if err != nil || string(got) != "bye" {
				t.Errorf("client read %q, %v; want %q and EOF (close_notify)", got, err, "bye")
			}
			if _, err := c.Write([]byte("still here")); err != nil {
				t.Errorf("client write after the server's close_notify: %v", err)
			}
			c.Close()
			s.wait(t, local).ok(t)
		})
	}
}

// --- Handshake timeout ---

func testHandshakeTimeout(t *testing.T, b tlsbackend.Backend, f *fixture) {
	const (
		timeout = 500 * time.Millisecond
		bound   = 2 * time.Second // "about a second", on a busy machine
	)
	hello := clientHello(t)
	tests := []struct {
		name    string
		send    []byte
		timeout time.Duration
		min     time.Duration
	}{
		{name: "Silent", timeout: timeout, min: timeout * 9 / 10},
		{name: "HalfClientHello", send: hello[:len(hello)/2], timeout: timeout, min: timeout * 9 / 10},
		// Not TLS at all: fails at once, long before its 10 s timeout.
		{name: "PlainHTTP", send: []byte("GET / HTTP/1.1\r\nHost: a.test\r\n\r\n"), timeout: handshakeTimeout},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel() // with each other only: Run starts the other subtests later
			s := startServer(t, b, serverOptions{store: f.store(), handshakeTimeout: tt.timeout})
			c, err := net.Dial("tcp", s.addr())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if _, err := c.Write(tt.send); err != nil {
				t.Fatal(err)
			}
			r := s.wait(t, c.LocalAddr().String())
			if r.handshakeErr == nil {
				t.Fatal("handshake succeeded")
			}
			if r.handshakeDur < tt.min || r.handshakeDur > bound {
				t.Errorf("HandshakeContext returned after %v (%v), want between %v and %v", r.handshakeDur, r.handshakeErr, tt.min, bound)
			}
			t.Logf("HandshakeContext: %v after %v", r.handshakeErr, r.handshakeDur)
		})
	}
}

// clientHello returns the first flight of a crypto/tls client.
func clientHello(t testing.TB) []byte {
	t.Helper()
	var cc captureConn
	tls.Client(&cc, &tls.Config{ServerName: "a.test", InsecureSkipVerify: true}).Handshake()
	if len(cc.buf) < 100 {
		t.Fatalf("captured ClientHello is %d bytes", len(cc.buf))
	}
	return cc.buf
}

// captureConn records what is written to it; reads fail.
type captureConn struct{ buf []byte }

func (c *captureConn) Read([]byte) (int, error)         { return 0, io.EOF }
func (c *captureConn) Write(p []byte) (int, error)      { c.buf = append(c.buf, p...); return len(p), nil }
func (c *captureConn) Close() error                     { return nil }
func (c *captureConn) LocalAddr() net.Addr              { return &net.TCPAddr{} }
func (c *captureConn) RemoteAddr() net.Addr             { return &net.TCPAddr{} }
func (c *captureConn) SetDeadline(time.Time) error      { return nil }
func (c *captureConn) SetReadDeadline(time.Time) error  { return nil }
func (c *captureConn) SetWriteDeadline(time.Time) error { return nil }

// --- Non-blocking transport ---

// ErrWouldBlock is the error the NonBlocking subtest's transport returns
// from Read when it pretends to have no data: a net.Error whose
// Temporary and Timeout methods report true.
var ErrWouldBlock net.Error = &wouldBlockError{}

type wouldBlockError struct{}

func (*wouldBlockError) Error() string   { return "tlsbackendtest: would block" }
func (*wouldBlockError) Temporary() bool { return true }
func (*wouldBlockError) Timeout() bool   { return true }

// choppyConn delivers what it reads in pieces of 1 to 7 bytes. Once
// nonBlocking is set, every other Read returns ErrWouldBlock instead.
type choppyConn struct {
	net.Conn
	mu          sync.Mutex
	rng         *rand.Rand
	nonBlocking bool
	flip        bool
	injected    int
}

func (c *choppyConn) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return c.Conn.Read(p)
	}
	c.mu.Lock()
	if c.nonBlocking {
		c.flip = !c.flip
		if c.flip {
			c.injected++
			c.mu.Unlock()
			return 0, ErrWouldBlock
		}
	}
	n := 1 + c.rng.IntN(7)
	c.mu.Unlock()
	return c.Conn.Read(p[:min(n, len(p))])
}

func (c *choppyConn) setNonBlocking() (injected func() int) {
	c.mu.Lock()
	c.nonBlocking = true
	c.mu.Unlock()
	return func() int {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.injected
	}
}

// nonBlockingServer starts a server whose transport is a choppyConn and
// whose handler echoes through the would-block errors, counting them.
func nonBlockingServer(t *testing.T, b tlsbackend.Backend, f *fixture, seed uint64) (s *testServer, seen, injected *atomic.Int64) {
	seen, injected = new(atomic.Int64), new(atomic.Int64)
	s = startServer(t, b, serverOptions{
		store: f.store(),
		wrap: func(c net.Conn) net.Conn {
			return &choppyConn{Conn: c, rng: rand.New(rand.NewPCG(seed, 7))}
		},
		handle: func(tc tlsbackend.Conn, raw net.Conn) error {
			count := raw.(*choppyConn).setNonBlocking()
			defer func() { injected.Store(int64(count())) }()
			buf := make([]byte, 4096)
			for {
				n, err := tc.Read(buf)
				if n > 0 && err != nil && !isEOF(err) {
					return fmt.Errorf("Read returned %d bytes together with %v", n, err)
				}
				if n > 0 {
					if _, err := tc.Write(buf[:n]); err != nil {
						return fmt.Errorf("write: %w", err)
					}
				}
				switch {
				case err == nil && n == 0:
					return errors.New("Read returned 0, nil")
				case err == nil:
				case errors.Is(err, ErrWouldBlock):
					seen.Add(1)
				case isEOF(err):
					return nil
				default:
					return fmt.Errorf("read after %d would-block errors: %w", seen.Load(), err)
				}
			}
		},
	})
	return s, seen, injected
}

func checkWouldBlocks(t *testing.T, seen, injected *atomic.Int64) {
	t.Helper()
	t.Logf("%d would-block errors injected, %d returned by Conn.Read", injected.Load(), seen.Load())
	if seen.Load() == 0 || seen.Load() > injected.Load() {
		t.Errorf("Conn.Read returned %d would-block errors, %d injected", seen.Load(), injected.Load())
	}
}

func testNonBlocking(t *testing.T, b tlsbackend.Backend, f *fixture) {
	t.Parallel()
	data := randomBytes(1<<20, 2)
	for _, v := range []uint16{tls.VersionTLS13, tls.VersionTLS12} {
		t.Run(strings.ReplaceAll(tls.VersionName(v), " ", ""), func(t *testing.T) {
			t.Parallel()
			s, seen, injected := nonBlockingServer(t, b, f, uint64(v))
			cfg := f.client("a.test")
			cfg.MaxVersion = v
			c, local, err := dial(s.addr(), cfg)
			if err != nil {
				t.Fatalf("handshake over a transport reading 1 to 7 bytes at a time: %v", err)
			}
			defer c.Close()
			werr := make(chan error, 1)
			go func() {
				rng := rand.New(rand.NewPCG(3, uint64(v)))
				p := data
				for len(p) > 0 {
					n := min(1+rng.IntN(20000), len(p))
					if _, err := c.Write(p[:n]); err != nil {
						werr <- err
						return
					}
					p = p[n:]
				}
				werr <- c.CloseWrite()
			}()
			got, err := io.ReadAll(c)
			if err != nil {
				t.Errorf("client read after %d bytes: %v", len(got), err)
			}
			if err := <-werr; err != nil {
				t.Errorf("client write: %v", err)
			}
			if !bytes.Equal(got, data) {
				i := 0
				for i < len(got) && i < len(data) && got[i] == data[i] {
					i++
				}
				t.Errorf("echo differs: got %d bytes, want %d; first difference at %d", len(got), len(data), i)
			}
			s.wait(t, local).ok(t)
			checkWouldBlocks(t, seen, injected)
		})
	}

	// A TLS 1.3 KeyUpdate asking for one back: the Conn handles a
	// post-handshake message that arrives in pieces between would-block
	// errors, and writes its own KeyUpdate from inside Read. Go's client
	// cannot send KeyUpdate; openssl's can.
	t.Run("KeyUpdate", func(t *testing.T) {
		t.Parallel()
		openssl := lookOpenSSL(t)
		caFile := f.caFile(t)
		s, seen, injected := nonBlockingServer(t, b, f, 99)
		cmd := exec.Command(openssl, "s_client", "-connect", s.addr(), "-tls1_3", "-servername", "a.test",
			"-CAfile", caFile, "-verify_return_error", "-brief")
		stdin, err := cmd.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		stderr, err := cmd.StderrPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() {
			stdin.Close()
			timer := time.AfterFunc(reportTimeout, func() { cmd.Process.Kill() })
			defer timer.Stop()
			cmd.Wait()
		}()
		errLines, outLines := lines(stderr), lines(stdout)
		var transcript []string
		expect := func(ch <-chan string, want string) {
			t.Helper()
			timeout := time.After(reportTimeout)
			for {
				select {
				case l, ok := <-ch:
					if !ok {
						t.Fatalf("openssl ended before printing %q:\n%s", want, strings.Join(transcript, "\n"))
					}
					transcript = append(transcript, l)
					if strings.Contains(l, want) {
						return
					}
				case <-timeout:
					t.Fatalf("openssl did not print %q:\n%s", want, strings.Join(transcript, "\n"))
				}
			}
		}
		expect(errLines, "CONNECTION ESTABLISHED")
		for i := range 3 {
			io.WriteString(stdin, "K\n")
			expect(errLines, "KEYUPDATE")
			fmt.Fprintf(stdin, "ping%d\n", i)
			expect(outLines, fmt.Sprintf("ping%d", i))
		}
		stdin.Close() // s_client sends close_notify and exits
		r := s.next(t)
		r.ok(t)
		if r.state.Version != tls.VersionTLS13 {
			t.Errorf("State().Version = %s, want TLS 1.3", tls.VersionName(r.state.Version))
		}
		checkWouldBlocks(t, seen, injected)
	})
}

// lines sends the lines read from r on a channel, closed at EOF.
func lines(r io.Reader) <-chan string {
	ch := make(chan string, 64)
	go func() {
		defer close(ch)
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			ch <- sc.Text()
		}
	}()
	return ch
}

// --- Close ---

func testClose(t *testing.T, b tlsbackend.Backend, f *fixture) {
	t.Parallel()
	s := f.server(t, b, tlsbackend.Config{}, echo)
	c, local, err := dial(s.addr(), f.client("a.test"))
	if err != nil {
		t.Fatalf("handshake: %v", err)
	}
	roundTrip := func(msg string) {
		t.Helper()
		if _, err := c.Write([]byte(msg)); err != nil {
			t.Fatalf("write: %v", err)
		}
		got := make([]byte, len(msg))
		if _, err := io.ReadFull(c, got); err != nil || string(got) != msg {
			t.Fatalf("read %q, %v; want %q", got, err, msg)
		}
	}
	roundTrip("before Close")
	for i := range 2 {
		if err := s.srv.Close(); err != nil {
			t.Errorf("Server.Close #%d: %v", i+1, err)
		}
	}
	roundTrip("after Close")
	c.Close()
	s.wait(t, local).ok(t)
}

// --- openssl s_client ---

func testOpenSSL(t *testing.T, b tlsbackend.Backend, f *fixture) {
	t.Parallel()
	openssl := lookOpenSSL(t)
	caFile := f.caFile(t)
	// The server answers "pong\n" to "ping\n", then closes.
	pong := func(tc tlsbackend.Conn, _ net.Conn) error {
		line, err := bufio.NewReader(tc).ReadString('\n')
		if err != nil {
			return fmt.Errorf("read: %w", err)
		}
		if line != "ping\n" {
			return fmt.Errorf("read %q, want %q", line, "ping\n")
		}
		_, err = tc.Write([]byte("pong\n"))
		return err
	}
	// sClient runs s_client, which verifies the chain, and says whether
	// it got the server's answer.
	sClient := func(t *testing.T, s *testServer, args ...string) (ok bool, out string) {
		t.Helper()
		args = append([]string{"s_client", "-connect", s.addr(), "-CAfile", caFile, "-verify_return_error", "-quiet"}, args...)
		cmd := exec.Command(openssl, args...)
		cmd.Stdin = strings.NewReader("ping\n")
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		cmd.WaitDelay = time.Second
		if err := cmd.Start(); err != nil {
			t.Fatalf("openssl: %v", err)
		}
		timer := time.AfterFunc(reportTimeout, func() { cmd.Process.Kill() })
		defer timer.Stop()
		err := cmd.Wait()
		out = fmt.Sprintf("openssl %s: %v\nstdout: %s\nstderr: %s", strings.Join(args, " "), err, stdout.Bytes(), stderr.Bytes())
		return strings.Contains(stdout.String(), "pong"), out
	}
	// TLS 1.2 with an RSA certificate: ChaCha20-Poly1305, or AES-GCM on a
	// backend without ChaCha20 (FIPS).
	rsaCipher, rsaSuite := "ECDHE-RSA-CHACHA20-POLY1305", tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256
	if !supportsSuite(b, rsaSuite) {
		rsaCipher, rsaSuite = "ECDHE-RSA-AES128-GCM-SHA256", tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256
	}
	tests := []struct {
		name  string
		args  []string
		fail  bool
		check func(t *testing.T, r report)
	}{
		{
			name: "TLS13",
			args: []string{"-tls1_3", "-servername", "a.test", "-verify_hostname", "a.test", "-alpn", "h2,http/1.1"},
			check: func(t *testing.T, r report) {
				want := tlsbackend.State{Version: tls.VersionTLS13, ServerName: "a.test", NegotiatedProtocol: "http/1.1"}
				got := r.state
				got.CipherSuite, got.CurveID = 0, 0
				if got != want {
					t.Errorf("State() = %+v, want %+v", got, want)
				}
				if !r.hello.SupportsECDSA {
					t.Error("ClientHello.SupportsECDSA = false for openssl's defaults")
				}
				if r.state.CurveID == 0 {
					t.Error("State().CurveID = 0")
				}
			},
		},
		{
			name: "TLS12/RSA",
			args: []string{"-tls1_2", "-servername", "b.test", "-verify_hostname", "b.test", "-cipher", rsaCipher},
			check: func(t *testing.T, r report) {
				if r.state.Version != tls.VersionTLS12 || r.state.CipherSuite != rsaSuite {
					t.Errorf("negotiated %s %s, want TLS 1.2 %s",
						tls.VersionName(r.state.Version), tls.CipherSuiteName(r.state.CipherSuite), tls.CipherSuiteName(rsaSuite))
				}
			},
		},
		{
			// A TLS 1.3 client that only verifies RSA signatures gets the
			// RSA certificate of a name that has both.
			name: "RSAOnlySignatures",
			args: []string{"-tls1_3", "-servername", "dual.test", "-verify_hostname", "dual.test", "-sigalgs", "rsa_pss_rsae_sha256:rsa_pkcs1_sha256"},
			check: func(t *testing.T, r report) {
				if r.hello.SupportsECDSA {
					t.Error("ClientHello.SupportsECDSA = true for a client offering only RSA signature schemes")
				}
			},
		},
		{
			name: "NoSNI",
			args: []string{"-tls1_3", "-noservername", "-verify_hostname", "default.test"},
			check: func(t *testing.T, r report) {
				if r.state.ServerName != "" || r.hello.ServerName != "" {
					t.Errorf("State().ServerName %q, ClientHello.ServerName %q, want none", r.state.ServerName, r.hello.ServerName)
				}
			},
		},
		{name: "CBCRefused", args: []string{"-tls1_2", "-servername", "a.test", "-cipher", "ECDHE-ECDSA-AES128-SHA"}, fail: true},
		{name: "TLS11Refused", args: []string{"-tls1_1", "-servername", "a.test", "-cipher", "ALL:@SECLEVEL=0"}, fail: true},
	}
	// One suite or group alone: negotiated, or refused by a backend that
	// says it lacks it (FIPS has no ChaCha20-Poly1305 and no X25519).
	for _, a := range []struct {
		name, flag, value string
		suite             uint16
		curve             tls.CurveID
	}{
		{"TLS12/ChaCha20", "-cipher", "ECDHE-ECDSA-CHACHA20-POLY1305", tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, 0},
		{"TLS13/ChaCha20", "-ciphersuites", "TLS_CHACHA20_POLY1305_SHA256", tls.TLS_CHACHA20_POLY1305_SHA256, 0},
		{"TLS13/X25519", "-groups", "X25519", 0, tls.X25519},
	} {
		version := "-tls1_3"
		if a.flag == "-cipher" {
			version = "-tls1_2"
		}
		supported := a.suite != 0 && supportsSuite(b, a.suite) || a.curve != 0 && supportsCurve(b, a.curve)
		tests = append(tests, struct {
			name  string
			args  []string
			fail  bool
			check func(t *testing.T, r report)
		}{name: a.name, args: []string{version, "-servername", "a.test", a.flag, a.value}, fail: !supported,
			check: func(t *testing.T, r report) {
				if a.suite != 0 && r.state.CipherSuite != a.suite || a.curve != 0 && r.state.CurveID != a.curve {
					t.Errorf("negotiated %s with %v, want %s", tls.CipherSuiteName(r.state.CipherSuite), r.state.CurveID, a.value)
				}
			}})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := f.server(t, b, tlsbackend.Config{}, pong)
			ok, out := sClient(t, s, tt.args...)
			r := s.next(t)
			if tt.fail {
				if ok || r.handshakeErr == nil {
					t.Errorf("handshake succeeded, want it refused\n%s", out)
				}
				t.Logf("refused: %v", r.handshakeErr)
				return
			}
			if !ok {
				t.Errorf("no answer through openssl\n%s", out)
			}
			r.ok(t)
			if tt.check != nil && r.handshakeErr == nil {
				tt.check(t, r)
			}
		})
	}
	for _, v := range []string{"-tls1_3", "-tls1_2"} {
		t.Run("Resumption"+v, func(t *testing.T) {
			t.Parallel()
			s := f.server(t, b, tlsbackend.Config{}, pong)
			sess := filepath.Join(t.TempDir(), "session.pem")
			for i, args := range [][]string{{"-sess_out", sess}, {"-sess_in", sess}} {
				args = append(args, v, "-servername", "a.test")
				ok, out := sClient(t, s, args...)
				r := s.next(t)
				r.ok(t)
				if !ok {
					t.Fatalf("no answer through openssl\n%s", out)
				}
				if r.state.DidResume != (i == 1) {
					t.Errorf("connection %d: State().DidResume = %v\n%s", i+1, r.state.DidResume, out)
				}
			}
		})
	}
}

// lookOpenSSL returns the path of openssl, or skips t (fails it when the
// CI environment variable is set).
func lookOpenSSL(t *testing.T) string {
	t.Helper()
	openssl, err := exec.LookPath("openssl")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("openssl is not on PATH (CI is set, so this is a failure): %v", err)
		}
		t.Skipf("openssl is not on PATH, skipping this interoperability test: %v", err)
	}
	return openssl
}

// caFile writes the CA certificate into a temporary file for openssl.
func (f *fixture) caFile(t *testing.T) string {
	t.Helper()
	name := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(name, f.ca.PEM(), 0o644); err != nil {
		t.Fatal(err)
	}
	return name
}

func isEOF(err error) bool { return errors.Is(err, io.EOF) }
