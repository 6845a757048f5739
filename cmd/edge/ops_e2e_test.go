package main

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gobwas/ws"
)

const opsTestConfig = `reusePort: false
log: {format: json, level: info}
admin: {listen: "127.0.0.1:{port3}", token: "s3cret"}
accessLog: {path: ./access.log, format: json}
listeners:
  - listen: "127.0.0.1:{port}"
    hosts:
      - host: localhost
        routes:
          - path: /hello
            respond: {status: 200, body: "hello\n"}
      - routes:
          - path: /echo
            stream: {mode: echo}
          - path: /chat
            stream: {mode: chat}
          - prefix: /
            static: ./public
  - listen: "127.0.0.1:{port2}"
    tls: true
    hosts:
      - host: localhost
        routes:
          - path: /hello
            respond: {status: 200, body: "hello\n"}
`

// scrape GETs /metrics from the admin listener with token.
func scrape(t *testing.T, addr, token string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", "http://"+addr+"/metrics", nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// sample returns the value of the series line starting with prefix (name
// and labels), or -1.
func sample(body, prefix string) float64 {
	for line := range strings.Lines(body) {
		if rest, ok := strings.CutPrefix(line, prefix+" "); ok {
			v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			if err == nil {
				return v
			}
		}
	}
	return -1
}

// TestE2EMetrics drives real traffic of every kind (HTTP, TLS with
// hostile server names, WebSocket) through the edge binary, scrapes
// /metrics over HTTP with the token, checks the series and their values,
// runs promtool check metrics on the scrape, and reads the access log.
func TestE2EMetrics(t *testing.T) {
	t.Parallel()
	promtool := needProg(t, "promtool")
	dir := configDir(t)
	p, ports := startEdgeN(t, dir, opsTestConfig, 3)
	plain, tlsAddr, adminAddr := "127.0.0.1:"+ports[0], "127.0.0.1:"+ports[1], "127.0.0.1:"+ports[2]

	// HTTP: 200s, a 404, a static file.
	for _, path := range []string{"/hello", "/hello", "/nope", "/small.txt"} {
		req, _ := http.NewRequest("GET", "http://"+plain+path, nil)
		if path == "/hello" {
			req.Host = "localhost"
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	// TLS: good handshakes, then 300 with random server names.
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true, ServerName: "localhost"}}}
	for range 3 {
		req, _ := http.NewRequest("GET", "https://"+tlsAddr+"/hello", nil)
		req.Host = "localhost"
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	for i := range 300 {
		c, err := tls.Dial("tcp", tlsAddr, &tls.Config{InsecureSkipVerify: true, ServerName: fmt.Sprintf("h%d-%x.evil.test", i, time.Now().UnixNano())})
		if err != nil {
			t.Fatal(err)
		}
		c.Close()
	}
	// WebSocket: three echoes.
	cl := dialWS(t, "ws://"+plain+"/echo", ws.Dialer{})
	for range 3 {
		cl.send(ws.OpText, "ping")
		cl.expect(ws.OpText, "ping")
	}

	// The control API on the same admin listener: a publish to a tag with
	// one client (joined through the chat stream) reaches it.
	chat := dialWS(t, "ws://"+plain+"/chat?room=ops", ws.Dialer{})
	for deadline := time.Now().Add(10 * time.Second); ; {
		req, _ := http.NewRequest("POST", "http://"+adminAddr+"/api/publish", strings.NewReader(`{"tag": "room:ops", "data": "from the API"}`))
		req.Header.Set("Authorization", "Bearer s3cret")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("POST /api/publish: %d %s", resp.StatusCode, b)
		}
		if strings.Contains(string(b), `"queued":1`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("POST /api/publish never reached the chat client: %s", b)
		}
		time.Sleep(20 * time.Millisecond)
	}
	chat.expect(ws.OpText, "from the API")

	// The token is required.
	if code, _ := scrape(t, adminAddr, ""); code != 401 {
		t.Errorf("scrape without token: %d, want 401", code)
	}
	if code, _ := scrape(t, adminAddr, "wrong"); code != 401 {
		t.Errorf("scrape with a wrong token: %d, want 401", code)
	}
	var body string
	deadline := time.Now().Add(10 * time.Second)
	for {
		var code int
		code, body = scrape(t, adminAddr, "s3cret")
		if code != 200 {
			t.Fatalf("scrape: %d\n%s", code, body)
		}
		// Handshake events arrive from the handshake goroutines: poll.
		if sample(body, `edge_tls_server_name_handshakes_total{server_name="_other"}`) >= 300 &&
			sample(body, `edge_websocket_messages_total{direction="in",listener="`+plain+`"}`) >= 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("counts not reached after 10s:\n%s", body)
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, tc := range []struct {
		series string
		min    float64
	}{
		{`edge_http_requests_total{code="2xx",host_group="localhost",route="/hello"}`, 5},
		{`edge_http_requests_total{code="4xx",host_group="_default",route="_none"}`, 1},
		{`edge_http_requests_total{code="2xx",host_group="_default",route="/*"}`, 1},
		{`edge_http_request_duration_seconds_count{host_group="localhost",route="/hello"}`, 5},
		{`edge_connections_accepted_total{listener="` + tlsAddr + `"}`, 301},
		{`edge_connections_open{listener="` + plain + `"}`, 1},
		{`edge_tls_handshakes_total{backend="` + tlsBackend().Name() + `",result="ok",resumed="false",version="1.3"}`, 300},
		{`edge_tls_handshake_duration_seconds_count{backend="` + tlsBackend().Name() + `",result="ok"}`, 300},
		{`edge_tls_server_name_handshakes_total{server_name="localhost"}`, 1}, // one kept-alive connection
		{`edge_websocket_messages_total{direction="out",listener="` + plain + `"}`, 3},
		{`edge_websocket_message_bytes_total{direction="in",listener="` + plain + `"}`, 12},
		{`edge_websocket_clients`, 1},
		{`edge_tags`, 0},
		{`edge_received_bytes_total`, 100},
		{`edge_sent_bytes_total`, 100},
		{`edge_reloads_total{result="ok"}`, 0},
		{`edge_access_log_drops_total`, 0},
		{`go_goroutines`, 1},
		{`process_open_fds`, 1},
	} {
		if v := sample(body, tc.series); v < tc.min {
			t.Errorf("%s = %v, want at least %v", tc.series, v, tc.min)
			if tc.series[0] == 'e' {
				name, _, _ := strings.Cut(tc.series, "{")
				for line := range strings.Lines(body) {
					if strings.HasPrefix(line, name) {
						t.Logf("  %s", strings.TrimSpace(line))
					}
				}
			}
		}
	}
	if !strings.Contains(body, `edge_build_info{go_version="go`) || !strings.Contains(body, `tls_backend="`+tlsBackend().Name()+`"`) || !strings.Contains(body, `tls_library="`+tlsLibrary()+`"`) || !strings.Contains(body, `version="v0.0.0-e2e"`) {
		t.Error("edge_build_info missing or wrong")
	}
	// 300 random server names: one _other series, not 300.
	if n := strings.Count(body, "edge_tls_server_name_handshakes_total{"); n > 3 {
		t.Errorf("%d server_name series after 300 random names", n)
	}

	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = strings.NewReader(body)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}

	// The access log, after a reopen (SIGUSR1) that flushes it.
	logPath := filepath.Join(dir, "access.log")
	os.Rename(logPath, logPath+".1")
	p.cmd.Process.Signal(syscall.SIGUSR1)
	for deadline := time.Now().Add(10 * time.Second); ; {
		if _, err := os.Stat(logPath); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("access log not reopened after SIGUSR1")
		}
		time.Sleep(20 * time.Millisecond)
	}
	b, err := os.ReadFile(logPath + ".1")
	if err != nil {
		t.Fatal(err)
	}
	var lines []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		var v map[string]any
		if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
			t.Fatalf("access log line %q: %v", sc.Text(), err)
		}
		lines = append(lines, v)
	}
	var sawTLS, saw404 bool
	for _, v := range lines {
		if v["tls"] == "1.3" && v["target"] == "/hello" && v["status"] == 200.0 {
			sawTLS = true
		}
		if v["target"] == "/nope" && v["status"] == 404.0 && strings.HasPrefix(v["remote"].(string), "127.0.0.1:") {
			saw404 = true
		}
	}
	if len(lines) < 8 || !sawTLS || !saw404 {
		t.Errorf("access log has %d lines (TLS /hello %v, 404 %v):\n%s", len(lines), sawTLS, saw404, b)
	}
	cl.c.Close()
	if code, _ := p.stop(t, syscall.SIGTERM); code != 0 {
		t.Errorf("exit code %d", code)
	}
	if _, err := net.Dial("tcp", adminAddr); err == nil {
		t.Error("admin listener still accepting after exit")
	}
}
