package stdlib

import (
	"context"
	"crypto/fips140"
	"crypto/tls"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/edge-rt/edge/tlsbackend"
	"github.com/edge-rt/edge/tlsbackend/tlsbackendtest"
)

func TestConformance(t *testing.T) {
	tlsbackendtest.Run(t, New())
}

func TestName(t *testing.T) {
	if got := New().Name(); got != "stdlib" {
		t.Errorf("Name() = %q, want %q", got, "stdlib")
	}
}

func getNone(*tlsbackend.ClientHello) (*tls.Certificate, error) { return nil, nil }

// validationCase is one Config for NewServer and what it must give.
type validationCase struct {
	name    string
	cfg     *tlsbackend.Config // GetCertificate is filled in unless noGet
	noGet   bool
	wantErr string // "" means valid
	check   func(t *testing.T, c *tls.Config)
}

func TestNewServerValidation(t *testing.T) {
	t.Parallel()
	testNewServer(t, New(), []validationCase{
		{name: "NilConfig", wantErr: "nil Config"},
		{name: "NoGetCertificate", cfg: &tlsbackend.Config{}, noGet: true, wantErr: "GetCertificate is required"},
		{name: "Defaults", cfg: &tlsbackend.Config{}, check: func(t *testing.T, c *tls.Config) {
			if c.MinVersion != tls.VersionTLS12 || c.MaxVersion != tls.VersionTLS13 {
				t.Errorf("versions %s..%s", tls.VersionName(c.MinVersion), tls.VersionName(c.MaxVersion))
			}
			if !equal(c.CipherSuites, tlsbackend.DefaultCipherSuites) || !equal(c.CurvePreferences, tlsbackend.DefaultCurves) ||
				!equal(c.NextProtos, tlsbackend.DefaultNextProtos) || c.SessionTicketsDisabled {
				t.Errorf("suites %v, curves %v, protos %q, tickets disabled %v", c.CipherSuites, c.CurvePreferences, c.NextProtos, c.SessionTicketsDisabled)
			}
			if c.CurvePreferences[0] != tls.X25519MLKEM768 {
				t.Errorf("first curve %v", c.CurvePreferences[0])
			}
		}},
		{name: "TLS13Only", cfg: &tlsbackend.Config{MinVersion: tls.VersionTLS13}},
		{name: "TLS12Only", cfg: &tlsbackend.Config{MaxVersion: tls.VersionTLS12}},
		{name: "MinTLS11", cfg: &tlsbackend.Config{MinVersion: tls.VersionTLS11}, wantErr: "TLS 1.1 not supported"},
		{name: "MinTLS10", cfg: &tlsbackend.Config{MinVersion: tls.VersionTLS10}, wantErr: "TLS 1.0 not supported"},
		{name: "MinSSL3", cfg: &tlsbackend.Config{MinVersion: 0x0300}, wantErr: "not supported"},
		{name: "MaxTLS11", cfg: &tlsbackend.Config{MaxVersion: tls.VersionTLS11}, wantErr: "TLS 1.1 not supported"},
		{name: "MaxUnknown", cfg: &tlsbackend.Config{MaxVersion: 0x0305}, wantErr: "not supported"},
		{name: "MaxBelowMin", cfg: &tlsbackend.Config{MinVersion: tls.VersionTLS13, MaxVersion: tls.VersionTLS12}, wantErr: "below MinVersion"},
		{name: "OneSuite", cfg: &tlsbackend.Config{CipherSuites: []uint16{tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256}}},
		{name: "CBCSuite", cfg: &tlsbackend.Config{CipherSuites: []uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA}},
			wantErr: "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA not allowed"},
		{name: "StaticRSASuite", cfg: &tlsbackend.Config{CipherSuites: []uint16{tls.TLS_RSA_WITH_AES_128_GCM_SHA256}}, wantErr: "not allowed"},
		{name: "3DESSuite", cfg: &tlsbackend.Config{CipherSuites: []uint16{tls.TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA}}, wantErr: "not allowed"},
		{name: "RC4Suite", cfg: &tlsbackend.Config{CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_RC4_128_SHA}}, wantErr: "not allowed"},
		{name: "TLS13SuiteID", cfg: &tlsbackend.Config{CipherSuites: []uint16{tls.TLS_AES_128_GCM_SHA256}}, wantErr: "not allowed"},
		{name: "UnknownSuite", cfg: &tlsbackend.Config{CipherSuites: []uint16{0xfefe}}, wantErr: "not allowed"},
		{name: "NoSuitesWithTLS12", cfg: &tlsbackend.Config{CipherSuites: []uint16{}}, wantErr: "CipherSuites is empty"},
		{name: "NoSuitesTLS13Only", cfg: &tlsbackend.Config{CipherSuites: []uint16{}, MinVersion: tls.VersionTLS13}},
		{name: "X25519Only", cfg: &tlsbackend.Config{CurvePreferences: []tls.CurveID{tls.X25519}}},
		{name: "UnknownCurve", cfg: &tlsbackend.Config{CurvePreferences: []tls.CurveID{tls.X25519, 9999}}, wantErr: "not supported"},
		{name: "NoCurves", cfg: &tlsbackend.Config{CurvePreferences: []tls.CurveID{}}, wantErr: "CurvePreferences is empty"},
		{name: "PQOnlyWithTLS12", cfg: &tlsbackend.Config{CurvePreferences: []tls.CurveID{tls.X25519MLKEM768}}, wantErr: "no group usable with TLS 1.2"},
		{name: "PQOnlyTLS13", cfg: &tlsbackend.Config{CurvePreferences: []tls.CurveID{tls.X25519MLKEM768}, MinVersion: tls.VersionTLS13}},
		{name: "NoALPN", cfg: &tlsbackend.Config{NextProtos: []string{}}, check: func(t *testing.T, c *tls.Config) {
			if len(c.NextProtos) != 0 {
				t.Errorf("NextProtos %q, want none", c.NextProtos)
			}
		}},
		{name: "EmptyALPN", cfg: &tlsbackend.Config{NextProtos: []string{"h2", ""}}, wantErr: "1 to 255 bytes"},
		{name: "LongALPN", cfg: &tlsbackend.Config{NextProtos: []string{strings.Repeat("x", 256)}}, wantErr: "1 to 255 bytes"},
		{name: "NegativeRotation", cfg: &tlsbackend.Config{TicketKeyRotation: -time.Second}, wantErr: "negative TicketKeyRotation"},
		{name: "NoTickets", cfg: &tlsbackend.Config{DisableSessionTickets: true}, check: func(t *testing.T, c *tls.Config) {
			if !c.SessionTicketsDisabled {
				t.Error("SessionTicketsDisabled = false")
			}
		}},
	})
}

// testNewServer runs b.NewServer on each case.
func testNewServer(t *testing.T, b tlsbackend.Backend, tests []validationCase) {
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if tt.cfg != nil && !tt.noGet {
				tt.cfg.GetCertificate = getNone
			}
			srv, err := b.NewServer(tt.cfg)
			if tt.wantErr != "" {
				if err == nil {
					srv.Close()
					t.Fatalf("NewServer succeeded, want an error containing %q", tt.wantErr)
				}
				if !strings.Contains(err.Error(), tt.wantErr) || !strings.HasPrefix(err.Error(), "stdlib: ") {
					t.Errorf("NewServer: %v, want an error containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("NewServer: %v", err)
			}
			defer srv.Close()
			if tt.check != nil {
				tt.check(t, srv.(*server).config)
			}
		})
	}
}

func equal[T comparable](a, b []T) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestNewServerCopiesLists checks that the caller's slices are not shared.
func TestNewServerCopiesLists(t *testing.T) {
	protos := []string{"h2", "http/1.1"}
	srv, err := New().NewServer(&tlsbackend.Config{GetCertificate: getNone, NextProtos: protos})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	protos[0] = "changed"
	if got := srv.(*server).config.NextProtos[0]; got != "h2" {
		t.Errorf("NextProtos[0] = %q after the caller changed its slice", got)
	}
}

// TestNilCertificate checks that GetCertificate returning (nil, nil)
// fails the handshake with a clear error.
func TestNilCertificate(t *testing.T) {
	t.Parallel()
	srv, err := New().NewServer(&tlsbackend.Config{GetCertificate: getNone})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	c1, c2 := net.Pipe()
	defer c2.Close()
	done := make(chan error, 1)
	go func() {
		tc := srv.Conn(c1)
		done <- tc.HandshakeContext(context.Background())
		tc.Close()
	}()
	if err := tls.Client(c2, &tls.Config{ServerName: "x.test", InsecureSkipVerify: true}).Handshake(); err == nil {
		t.Error("client handshake succeeded")
	}
	if err := <-done; err == nil || !strings.Contains(err.Error(), `no certificate for "x.test"`) {
		t.Errorf("server handshake: %v, want the nil certificate reported", err)
	}
}

// frozenCache is a client session cache that keeps the first ticket it
// gets, whatever comes later, so that one ticket can be tried again and
// again.
type frozenCache struct {
	mu sync.Mutex
	cs *tls.ClientSessionState
}

func (c *frozenCache) Get(string) (*tls.ClientSessionState, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cs, c.cs != nil
}

func (c *frozenCache) Put(_ string, cs *tls.ClientSessionState) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cs == nil && cs != nil {
		c.cs = cs
	}
}

// resumes makes one connection over net.Pipe with cache and reports
// whether it resumed (as the server sees it).
//
// synctest's clock says 2000, before the test certificates are valid, so
// the client does not verify them.
func resumes(t *testing.T, srv tlsbackend.Server, version uint16, cache tls.ClientSessionCache) bool {
	t.Helper()
	c1, c2 := net.Pipe()
	type result struct {
		st  tlsbackend.State
		err error
	}
	done := make(chan result, 1)
	go func() {
		tc := srv.Conn(c1)
		defer tc.Close()
		err := tc.HandshakeContext(context.Background())
		if err == nil {
			_, err = io.Copy(tc, tc) // echo until the client's close_notify
		}
		done <- result{tc.State(), err}
	}()
	cc := tls.Client(c2, &tls.Config{InsecureSkipVerify: true, ServerName: "a.test", MaxVersion: version, ClientSessionCache: cache})
	defer cc.Close()
	if _, err := cc.Write([]byte{1}); err != nil {
		t.Fatalf("client: %v", err)
	}
	if _, err := io.ReadFull(cc, make([]byte, 1)); err != nil { // takes in the TLS 1.3 ticket
		t.Fatalf("client: %v", err)
	}
	clientResumed := cc.ConnectionState().DidResume
	cc.Close()
	r := <-done
	if r.err != nil {
		t.Fatalf("server: %v", r.err)
	}
	if r.st.DidResume != clientResumed {
		t.Fatalf("server DidResume %v, client %v", r.st.DidResume, clientResumed)
	}
	return r.st.DidResume
}

// TestTicketKeyRotation checks, on synctest's clock, that a ticket resumes
// until the second rotation after it was issued and not after, and that
// Close stops the rotation.
func TestTicketKeyRotation(t *testing.T) {
	t.Parallel()
	ca := tlsbackendtest.NewTestCA(t)
	cert := ca.Leaf(t, "a.test")
	get := func(*tlsbackend.ClientHello) (*tls.Certificate, error) { return cert, nil }
	for _, v := range []uint16{tls.VersionTLS13, tls.VersionTLS12} {
		t.Run(strings.ReplaceAll(tls.VersionName(v), " ", ""), func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				const period = 200 * time.Millisecond
				srv, err := New().NewServer(&tlsbackend.Config{GetCertificate: get, TicketKeyRotation: period})
				if err != nil {
					t.Fatal(err)
				}
				defer srv.Close()

				// Issued at 50 ms, in the first period; rotations at 200 and
				// 400 ms.
				time.Sleep(50 * time.Millisecond)
				old := &frozenCache{}
				if resumes(t, srv, v, old) {
					t.Fatal("first connection resumed")
				}
				steps := []struct {
					at   time.Duration // since the start
					want bool
				}{
					{60 * time.Millisecond, true},
					{190 * time.Millisecond, true},
					{210 * time.Millisecond, true},  // previous key
					{390 * time.Millisecond, true},  // previous key
					{410 * time.Millisecond, false}, // two rotations: gone
					{1000 * time.Millisecond, false},
				}
				start := time.Now().Add(-50 * time.Millisecond)
				for _, s := range steps {
					time.Sleep(time.Until(start.Add(s.at)))
					if got := resumes(t, srv, v, old); got != s.want {
						t.Errorf("at %v, a ticket issued at 50ms resumed: %v, want %v", s.at, got, s.want)
					}
				}

				// A fresh ticket works: rotation did not break resumption.
				fresh := &frozenCache{}
				resumes(t, srv, v, fresh)
				if !resumes(t, srv, v, fresh) {
					t.Error("a fresh ticket did not resume")
				}

				// After Close, keys stop rotating: a ticket lives on.
				if err := srv.Close(); err != nil {
					t.Fatal(err)
				}
				afterClose := &frozenCache{}
				resumes(t, srv, v, afterClose)
				time.Sleep(10 * period)
				if !resumes(t, srv, v, afterClose) {
					t.Error("after Close, keys still rotate")
				}
			})
		})
	}
}

// TestDefaultRotation checks that a zero TicketKeyRotation means 12 hours.
func TestDefaultRotation(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv, err := New().NewServer(&tlsbackend.Config{GetCertificate: getNone})
		if err != nil {
			t.Fatal(err)
		}
		defer srv.Close()
		s := srv.(*server)
		s.mu.Lock()
		k0 := s.current
		s.mu.Unlock()
		time.Sleep(DefaultTicketKeyRotation - time.Second)
		s.mu.Lock()
		k1 := s.current
		s.mu.Unlock()
		time.Sleep(2 * time.Second)
		s.mu.Lock()
		k2 := s.current
		s.mu.Unlock()
		if k0 != k1 || k1 == k2 {
			t.Errorf("keys changed before 12h: %v, after 12h: %v", k0 != k1, k1 != k2)
		}
	})
}

// pipePair returns a handshaken server Conn and client over net.Pipe.
func pipePair(tb testing.TB, srv tlsbackend.Server, client *tls.Config) (tlsbackend.Conn, *tls.Conn) {
	tb.Helper()
	c1, c2 := net.Pipe()
	tc := srv.Conn(c1)
	errc := make(chan error, 1)
	go func() { errc <- tc.HandshakeContext(context.Background()) }()
	cc := tls.Client(c2, client)
	if err := cc.Handshake(); err != nil {
		tb.Fatalf("client handshake: %v", err)
	}
	if err := <-errc; err != nil {
		tb.Fatalf("server handshake: %v", err)
	}
	return tc, cc
}

func benchServer(b *testing.B) (tlsbackend.Server, *tls.Config) {
	ca := tlsbackendtest.NewTestCA(b)
	cert := ca.Leaf(b, "bench.test")
	srv, err := New().NewServer(&tlsbackend.Config{
		GetCertificate: func(*tlsbackend.ClientHello) (*tls.Certificate, error) { return cert, nil },
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { srv.Close() })
	return srv, &tls.Config{RootCAs: ca.Pool(), ServerName: "bench.test"}
}

// BenchmarkHandshakeECDSA is a full TLS 1.3 handshake (X25519MLKEM768,
// ECDSA P-256 certificate, session ticket sent) over net.Pipe, both sides
// counted.
func BenchmarkHandshakeECDSA(b *testing.B) {
	srv, client := benchServer(b)
	b.ReportAllocs()
	for b.Loop() {
		tc, cc := pipePair(b, srv, client)
		if tc.State().Version != tls.VersionTLS13 {
			b.Fatal("not TLS 1.3")
		}
		// Over net.Pipe, two close_notify alerts written at once would
		// wait for each other: drop the client's end first.
		cc.NetConn().Close()
		tc.Close()
	}
}

// BenchmarkRead1KiB is the server reading 1 KiB application records.
func BenchmarkRead1KiB(b *testing.B) {
	srv, client := benchServer(b)
	tc, cc := pipePair(b, srv, client)
	defer tc.Close()
	msg := make([]byte, 1024)
	go func() {
		for {
			if _, err := cc.Write(msg); err != nil {
				return
			}
		}
	}()
	defer cc.Close()
	buf := make([]byte, 1024)
	b.SetBytes(1024)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := io.ReadFull(tc, buf); err != nil {
			b.Fatal(err)
		}
	}
}

// TestFIPS140 runs TestConformance and itself again in a child process
// with GODEBUG=fips140=on (Go's FIPS 140-3 mode, which cannot be turned
// on after start), where New applies FIPS140Policy; in the child, it
// checks that policy.
func TestFIPS140(t *testing.T) {
	if fips140.Enabled() {
		testFIPS140Policy(t)
		return
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "GOEXPERIMENT" && strings.Contains(s.Value, "boringcrypto") {
				t.Skip("Go's FIPS 140-3 mode is incompatible with GOEXPERIMENT=boringcrypto (tlsbackend/boringcrypto is the FIPS backend there)")
			}
		}
	}
	t.Parallel()
	cmd := exec.Command(os.Args[0], "-test.run=^(TestConformance|TestFIPS140)$", "-test.count=1", "-test.v", "-test.timeout=5m")
	cmd.Env = append(os.Environ(), "GODEBUG=fips140=on")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("GODEBUG=fips140=on %s: %v\n%s", strings.Join(cmd.Args, " "), err, out)
	}
	for _, want := range []string{"--- PASS: TestConformance ", "--- PASS: TestFIPS140 ", "FIPS 140-3 mode on: " + runtime.Version() + " fips140"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("the child's output lacks %q:\n%s", want, out)
		}
	}
}

// testFIPS140Policy checks New under Go's FIPS 140-3 mode.
func testFIPS140Policy(t *testing.T) {
	t.Logf("FIPS 140-3 mode on: %s", Version())
	b := New().(backend)
	if b.Name() != "stdlib" || b.policy == nil || b.policy.Regime != "FIPS 140-3" {
		t.Fatalf("New() = %s with policy %+v, want stdlib with FIPS140Policy", b.Name(), b.policy)
	}
	testNewServer(t, b, []validationCase{
		{name: "Defaults", cfg: &tlsbackend.Config{}, check: func(t *testing.T, c *tls.Config) {
			wantSuites := []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
				tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384}
			wantCurves := []tls.CurveID{tls.X25519MLKEM768, tls.CurveP256, tls.CurveP384}
			if !equal(c.CipherSuites, wantSuites) || !equal(c.CurvePreferences, wantCurves) {
				t.Errorf("defaults: suites %v, curves %v; want %v, %v", c.CipherSuites, c.CurvePreferences, wantSuites, wantCurves)
			}
		}},
		{name: "P384", cfg: &tlsbackend.Config{CurvePreferences: []tls.CurveID{tls.CurveP384}}},
		{name: "X25519", cfg: &tlsbackend.Config{CurvePreferences: []tls.CurveID{tls.X25519}}, wantErr: "key exchange group X25519 not allowed by FIPS 140-3"},
		{name: "ChaCha20", cfg: &tlsbackend.Config{CipherSuites: []uint16{tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256}},
			wantErr: "cipher suite TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256 not allowed by FIPS 140-3"},
	})
}
