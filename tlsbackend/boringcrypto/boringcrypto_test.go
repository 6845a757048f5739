//go:build goexperiment.boringcrypto

package boringcrypto

import (
	"crypto/boring"
	"crypto/tls"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/edge-rt/edge/tlsbackend"
	"github.com/edge-rt/edge/tlsbackend/tlsbackendtest"
)

func TestConformance(t *testing.T) {
	if err := Check(); err != nil {
		t.Fatal(err)
	}
	tlsbackendtest.Run(t, New())
}

func TestName(t *testing.T) {
	if got := New().Name(); got != "boringcrypto" {
		t.Errorf("Name() = %q, want %q", got, "boringcrypto")
	}
	if got := Version(); !strings.HasPrefix(got, "BoringCrypto go") {
		t.Errorf("Version() = %q", got)
	}
}

// TestEnabled checks that the tests run on BoringCrypto, as CI builds
// them (cgo on linux/amd64).
func TestEnabled(t *testing.T) {
	if !boring.Enabled() {
		t.Fatalf("crypto/boring.Enabled() is false on %s/%s: run the tests with CGO_ENABLED=1", runtime.GOOS, runtime.GOARCH)
	}
	if err := Check(); err != nil {
		t.Errorf("Check: %v", err)
	}
}

// TestNewServerPolicy checks that a Config outside the FIPS policy is
// refused with an error naming the policy, and that what it allows is
// accepted.
func TestNewServerPolicy(t *testing.T) {
	t.Parallel()
	// wantErr "" means accepted.
	type policyCase struct {
		name, wantErr string
		cfg           tlsbackend.Config
	}
	tests := []policyCase{
		{name: "Defaults"},
		{name: "P256Only", cfg: tlsbackend.Config{CurvePreferences: []tls.CurveID{tls.CurveP256}}},
		{name: "P384P521", cfg: tlsbackend.Config{CurvePreferences: []tls.CurveID{tls.CurveP384, tls.CurveP521}}},
		{name: "AES256GCM", cfg: tlsbackend.Config{CipherSuites: []uint16{tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384}}},
		{name: "TLS13Only", cfg: tlsbackend.Config{MinVersion: tls.VersionTLS13}},
		{name: "X25519", cfg: tlsbackend.Config{CurvePreferences: []tls.CurveID{tls.CurveP256, tls.X25519}},
			wantErr: "key exchange group X25519 not allowed by FIPS 140 (BoringCrypto)"},
		{name: "X25519MLKEM768", cfg: tlsbackend.Config{CurvePreferences: []tls.CurveID{tls.X25519MLKEM768, tls.CurveP256}},
			wantErr: "X25519MLKEM768 not allowed by FIPS 140"},
		{name: "ChaCha20", cfg: tlsbackend.Config{CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256}},
			wantErr: "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256 not allowed by FIPS 140"},
		// Outside what the stdlib backend allows at all: its own message.
		{name: "CBC", cfg: tlsbackend.Config{CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256}},
			wantErr: "not allowed (only ECDHE with AES-GCM or ChaCha20-Poly1305)"},
		{name: "TLS11", cfg: tlsbackend.Config{MinVersion: tls.VersionTLS11}, wantErr: "TLS 1.1 not supported"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := tt.cfg
			cfg.GetCertificate = func(*tlsbackend.ClientHello) (*tls.Certificate, error) { return nil, nil }
			srv, err := New().NewServer(&cfg)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("NewServer: %v", err)
				}
				srv.Close()
				return
			}
			if err == nil {
				srv.Close()
				t.Fatalf("NewServer accepted the Config, want an error containing %q", tt.wantErr)
			}
			if !strings.HasPrefix(err.Error(), "boringcrypto: ") || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("NewServer: %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
}

// TestNotEnabled builds a program on this backend with cgo off, where
// GOEXPERIMENT=boringcrypto compiles but BoringCrypto is not linked in,
// and checks that Check and NewServer refuse with ErrNotEnabled.
func TestNotEnabled(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a program (-short)")
	}
	goTool := filepath.Join(runtime.GOROOT(), "bin", "go")
	bin := filepath.Join(t.TempDir(), "notenabled")
	build := exec.Command(goTool, "build", "-o", bin, "./testdata/notenabled")
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOEXPERIMENT=boringcrypto", "GOFLAGS=")
	start := time.Now()
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build with CGO_ENABLED=0: %v\n%s", err, out)
	}
	t.Logf("built in %v", time.Since(start).Round(time.Millisecond))
	out, err := exec.Command(bin).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", bin, err, out)
	}
	for _, want := range []string{"Check: " + ErrNotEnabled.Error(), "NewServer: " + ErrNotEnabled.Error()} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}
