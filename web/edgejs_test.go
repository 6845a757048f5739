package web

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestEdgeJS runs the unit tests of the client library, edge.js, in node
// (e2e/edge_test.mjs: a fake WebSocket and a fake clock; no npm package).
// Without node it is skipped, except in CI (CI set), where it fails. The
// browser test of the library is cmd/edge's TestE2EBrowserChat.
func TestEdgeJS(t *testing.T) {
	t.Parallel()
	node, err := exec.LookPath("node")
	if err != nil {
		if os.Getenv("CI") == "" {
			t.Skip("node not installed")
		}
		t.Fatal("node is required in CI:", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, node, filepath.Join("e2e", "edge_test.mjs")).CombinedOutput()
	if err != nil {
		t.Fatalf("node e2e/edge_test.mjs: %v\n%s", err, out)
	}
	if !strings.HasPrefix(string(out), "ok: ") {
		t.Errorf("output %q", out)
	}
	t.Logf("%s", strings.TrimSpace(string(out)))
}
