// Package cmdedge_test runs the edge binary (cmd/edge, built from the main
// module) against peers the main module must not require: pebble, the
// ACME server, run in-process.
package cmdedge_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// edgeBin is the edge binary TestMain builds.
var edgeBin string

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	dir, err := os.MkdirTemp("", "edge-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	edgeBin = filepath.Join(dir, "edge")
	// Built in the main module (two levels up), with its go.mod.
	cmd := exec.Command("go", "build", "-ldflags", "-X main.version=v0.0.0-e2e", "-o", edgeBin, "./cmd/edge")
	cmd.Dir = filepath.Join("..", "..")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building edge:", err)
		return 1
	}
	return m.Run()
}

// syncBuffer collects a process's output.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// configDir returns a directory for a config file, with the webroot
// www/.well-known/acme-challenge/tok123 (as cmd/edge's tests have it).
func configDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	p := filepath.Join(dir, "www", ".well-known", "acme-challenge", "tok123")
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte("tok123.thumbprint\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}
