//go:build goexperiment.boringcrypto && !openssl

package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edge-rt/edge/tlsbackend/boringcrypto"
)

// TestE2EBoringNotEnabled builds edge with GOEXPERIMENT=boringcrypto but
// cgo off, where BoringCrypto is not linked in, and checks that it refuses
// to check a config or to start, with ErrNotEnabled's message, even with
// no TLS listener; -version still answers.
func TestE2EBoringNotEnabled(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("builds edge again (-short)")
	}
	dir := configDir(t)
	bin := filepath.Join(t.TempDir(), "edge-nocgo")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOEXPERIMENT=boringcrypto")
	start := time.Now()
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build with CGO_ENABLED=0: %v\n%s", err, out)
	}
	t.Logf("built in %v", time.Since(start).Round(time.Millisecond))
	cfg := filepath.Join(dir, "plain.yaml")
	if err := os.WriteFile(cfg, []byte(strings.ReplaceAll(e2eConfig, "{port}", freePort(t))), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"check", []string{"-t", "-config", cfg}, 1, "edge: " + boringcrypto.ErrNotEnabled.Error()},
		{"start", []string{"-config", cfg}, 1, "edge: " + boringcrypto.ErrNotEnabled.Error()},
		{"version", []string{"-version"}, 0, " boringcrypto (BoringCrypto "},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cmd := exec.Command(bin, tt.args...)
			cmd.WaitDelay = time.Second
			timer := time.AfterFunc(10*time.Second, func() { cmd.Process.Kill() })
			out, err := cmd.CombinedOutput()
			timer.Stop()
			code := 0
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != tt.code || !strings.Contains(string(out), tt.want) {
				t.Errorf("edge %s: exit code %d, output:\n%s\nwant code %d and %q", strings.Join(tt.args, " "), code, out, tt.code, tt.want)
			}
		})
	}
}

// TestBuildConflict checks that -tags openssl with GOEXPERIMENT=boringcrypto
// (two TLS backends) fails to compile with backend_conflict.go's
// explanation.
func TestBuildConflict(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("builds edge again (-short)")
	}
	build := exec.Command("go", "build", "-tags", "openssl", "-o", filepath.Join(t.TempDir(), "edge"), ".")
	build.Env = append(os.Environ(), "GOEXPERIMENT=boringcrypto")
	out, err := build.CombinedOutput()
	const want = "undefined: edge_cannot_build_with_both_the_openssl_tag_and_GOEXPERIMENT_boringcrypto__choose_one_TLS_backend"
	if err == nil || !strings.Contains(string(out), want) {
		t.Errorf("go build -tags openssl with GOEXPERIMENT=boringcrypto: %v, want a failure with %q:\n%s", err, want, out)
	}
}
