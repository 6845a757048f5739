package edge

// Interop tests with node's `ws` package (testdata/interop/client.mjs,
// installed with npm on first use), a WebSocket implementation we did not
// write: it exchanges text, binary, fragmented and compressed messages with
// edge, pings it, closes with codes, and breaks the rules edge must answer
// with 1007 and 1009. The same with a second Go implementation
// (github.com/coder/websocket) is in the tests module (tests/interop), so
// that this module does not require it.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edge-rt/edge/ws"
)

// interopRoutes are the streams the peers talk to: echo with and without
// permessage-deflate, and the same with a 1000-byte message limit. Every
// stream echoes a message with its opcode and answers "close-me" with a
// close 4000 "as you wish".
func interopRoutes(l *Listener) {
	mk := func(max int64, compression bool) *Stream {
		return &Stream{
			Protocols:   []string{"chat.v2", "chat.v1"},
			MaxMessage:  max,
			QueueBytes:  4 << 20,
			Compression: compression,
			OnMessage: func(c *Client, op ws.Opcode, data []byte) {
				if op == ws.OpText && string(data) == "close-me" {
					c.Close(4000, "as you wish")
					return
				}
				c.Send(op, data)
			},
		}
	}
	l.Any().
		Stream("/echo", mk(2<<20, false)).
		Stream("/deflate", mk(2<<20, true)).
		Stream("/small", mk(1000, false)).
		Stream("/small-deflate", mk(1000, true))
}

// The node `ws` client: testdata/interop/client.mjs.

var nodeInstall struct {
	once sync.Once
	err  error
}

// nodeInterop returns the node binary and installs the `ws` package into
// testdata/interop (once: skipped when node_modules/ws exists). Without
// node it skips the test, except in CI (CI set), where it fails.
func nodeInterop(t *testing.T) string {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("node is needed for the ws interop test in CI: %v", err)
		}
		t.Skip("node not installed")
	}
	nodeInstall.once.Do(func() {
		dir := filepath.Join("testdata", "interop")
		if _, err := os.Stat(filepath.Join(dir, "node_modules", "ws", "package.json")); err == nil {
			return
		}
		npm, err := exec.LookPath("npm")
		if err != nil {
			nodeInstall.err = fmt.Errorf("npm not found: %v", err)
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, npm, "install", "--no-audit", "--no-fund", "--loglevel=error")
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			nodeInstall.err = fmt.Errorf("npm install in %s: %v\n%s", dir, err, out)
		}
	})
	if nodeInstall.err != nil {
		t.Fatal(nodeInstall.err)
	}
	return node
}

type nodeResult struct {
	OK         bool     `json:"ok"`
	Mode       string   `json:"mode"`
	WS         string   `json:"ws"`
	Node       string   `json:"node"`
	Extensions string   `json:"extensions"`
	Checks     int      `json:"checks"`
	Done       []string `json:"done"`
	Error      string   `json:"error"`
}

// runNodeClient runs client.mjs against base in mode and returns its
// result line.
func runNodeClient(t *testing.T, node, base, mode string, env ...string) nodeResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 28*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, filepath.Join("testdata", "interop", "client.mjs"), base, mode)
	cmd.Env = append(os.Environ(), env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	var res nodeResult
	var last string
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); strings.HasPrefix(l, "{") {
			last = l
		}
	}
	if jerr := json.Unmarshal([]byte(last), &res); jerr != nil {
		t.Fatalf("node client (%v): no result line: %v\nstdout: %s\nstderr: %s", err, jerr, out, stderr.Bytes())
	}
	if err != nil || !res.OK {
		t.Fatalf("node ws %s client (mode %s) failed after %v: %v: %s\nstderr: %s", res.WS, mode, res.Done, err, res.Error, stderr.Bytes())
	}
	return res
}

func TestInteropNodeWS(t *testing.T) {
	t.Parallel()
	node := nodeInterop(t)
	_, addr := testServer(t, Config{}, func(s *Server, l *Listener) { interopRoutes(l) })
	for _, mode := range []string{"plain", "deflate", "takeover", "windowbits"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			res := runNodeClient(t, node, "ws://"+addr, mode)
			t.Logf("ws %s on node %s, mode %s: %d checks, extensions %q", res.WS, res.Node, res.Mode, res.Checks, res.Extensions)
		})
	}
	t.Run("wss", func(t *testing.T) {
		t.Parallel()
		cert, _ := selfSigned(t, "a.test")
		ts := testTLS{&tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"http/1.1"}}}
		_, taddr := testServer(t, Config{}, func(s *Server, l *Listener) {
			l.TLS(TLSConfig{Server: ts, HandshakeTimeout: 2 * time.Second})
			interopRoutes(l)
		})
		ca := filepath.Join(t.TempDir(), "ca.pem")
		if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate[0]}), 0o644); err != nil {
			t.Fatal(err)
		}
		res := runNodeClient(t, node, "wss://"+taddr, "takeover", "EDGE_CA="+ca, "EDGE_SERVERNAME=a.test")
		t.Logf("wss: ws %s, %d checks, extensions %q", res.WS, res.Checks, res.Extensions)
	})
}
