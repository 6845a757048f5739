package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"image/png"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The browser test: the chat demo (web/site/chat.html and the client
// library edge.js) in headless Chromium against the real binary running
// the default config, driven by web/e2e/chat.mjs with playwright-core.
// Chromium is Debian's (/usr/bin/chromium; test.sh installs it); npm
// installs playwright-core into web/e2e/node_modules on first use, and it
// downloads no browser.

var browserDir = filepath.Join("..", "..", "web", "e2e")

var playwrightInstall struct {
	once sync.Once
	err  error
}

// needBrowser returns node's path, once playwright-core is installed.
// Without Chromium, node or npm the test is skipped, except in CI (CI
// set), where it fails.
func needBrowser(t *testing.T) (node, chromium string) {
	t.Helper()
	chromium = os.Getenv("CHROMIUM")
	if chromium == "" {
		chromium = "/usr/bin/chromium"
	}
	var missing []string
	if _, err := os.Stat(chromium); err != nil {
		missing = append(missing, "chromium ("+chromium+")")
	}
	node, err := exec.LookPath("node")
	if err != nil {
		missing = append(missing, "node")
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		missing = append(missing, "npm")
	}
	if len(missing) > 0 {
		if os.Getenv("CI") == "" {
			t.Skipf("not installed: %s (apt-get install chromium nodejs npm); in CI this test fails instead", strings.Join(missing, ", "))
		}
		t.Fatalf("the browser test needs %s in CI", strings.Join(missing, ", "))
	}
	playwrightInstall.once.Do(func() {
		if _, err := os.Stat(filepath.Join(browserDir, "node_modules", "playwright-core", "package.json")); err == nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
		defer cancel()
		// Only the driver: playwright-core has no install script and
		// fetches no browser.
		cmd := exec.CommandContext(ctx, npm, "install", "--no-audit", "--no-fund", "--loglevel=error")
		cmd.Dir = browserDir
		start := time.Now()
		if out, err := cmd.CombinedOutput(); err != nil {
			playwrightInstall.err = fmt.Errorf("npm install in %s: %v\n%s", browserDir, err, out)
			return
		}
		t.Logf("npm installed playwright-core in %v", time.Since(start).Round(time.Millisecond))
	})
	if playwrightInstall.err != nil {
		t.Fatal(playwrightInstall.err)
	}
	return node, chromium
}

// browserConfig is the default config on free ports: HTTPS on {port}
// (with the chat), plain HTTP on {port2} redirecting to it.
func browserConfig(t *testing.T) string {
	t.Helper()
	cfg := string(defaultConfig)
	for _, r := range [][2]string{
		{`listen: ":8009"`, `listen: "127.0.0.1:{port}"`},
		{`listen: ":8089"`, `listen: "127.0.0.1:{port2}"`},
		{`{host}:8009`, `{host}:{port}`},
	} {
		if !strings.Contains(cfg, r[0]) {
			t.Fatalf("default.yaml has no %s any more: update this test", r[0])
		}
		cfg = strings.ReplaceAll(cfg, r[0], r[1])
	}
	return cfg
}

type browserEvent struct {
	Event   string              `json:"event"`
	T       int                 `json:"t"`
	Timings map[string]int      `json:"timings"`
	States  map[string][]string `json:"states"`
	Status  string              `json:"status"`
	Log     []string            `json:"log"`
	Browser string              `json:"browser"`
}

func TestE2EBrowserChat(t *testing.T) {
	t.Parallel()
	node, chromium := needBrowser(t)
	start := time.Now()
	dir := t.TempDir()
	p, ports := startEdgeN(t, dir, browserConfig(t), 2)
	addr := "127.0.0.1:" + ports[0]
	// The config with its ports, to start edge again on the same ones.
	cfg, err := os.ReadFile(filepath.Join(dir, "edge.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	shotDir := os.Getenv("EDGE_SCREENSHOT_DIR") // to look at it after the test
	if shotDir == "" {
		shotDir = t.TempDir()
	}
	shot := filepath.Join(shotDir, "chat.png")

	ctx, cancel := context.WithTimeout(context.Background(), 80*time.Second)
	defer cancel()
	script, _ := filepath.Abs(filepath.Join(browserDir, "chat.mjs"))
	cmd := exec.CommandContext(ctx, node, script, "https://"+addr, shot)
	cmd.Dir = browserDir
	cmd.Env = append(os.Environ(), "CHROMIUM="+chromium)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // Chromium's processes too
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr := &syncBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // leftovers of a failed run
		if t.Failed() {
			t.Logf("browser script stderr:\n%s", stderr.String())
		}
	}()

	var done *browserEvent
	var stopped, restarted time.Duration
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var ev browserEvent
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Logf("node: %s", sc.Text())
			continue
		}
		switch ev.Event {
		case "stop":
			// SIGTERM: edge closes the pages' WebSockets with 1001.
			t0 := time.Now()
			if code, _ := p.stop(t, syscall.SIGTERM); code != 0 {
				t.Errorf("edge exited with %d on SIGTERM", code)
			}
			stopped = time.Since(t0)
			io.WriteString(stdin, "stopped\n")
		case "start":
			t0 := time.Now()
			if p = tryStartEdge(t, dir, string(cfg), addr, ""); p == nil {
				t.Fatalf("edge could not bind %s again", addr)
			}
			waitDial(t, "127.0.0.1:"+ports[1], 5*time.Second)
			restarted = time.Since(t0)
			io.WriteString(stdin, "started\n")
		case "done":
			done = &ev
		default:
			t.Logf("node: %s", sc.Text())
		}
	}
	err = cmd.Wait()
	if ctx.Err() != nil {
		t.Fatalf("the browser test did not finish within 80 s")
	}
	if err != nil || done == nil {
		t.Fatalf("browser script: %v", err)
	}
	t.Logf("chromium: %s", strings.TrimSpace(firstLine(chromiumVersion(chromium))))
	t.Logf("timings (ms since the script started): %v; edge stopped in %v, restarted in %v; whole test %v",
		done.Timings, stopped.Round(time.Millisecond), restarted.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
	t.Logf("status indicator states: %v; A1's status at the end: %q", done.States, done.Status)
	t.Logf("A1's messages: %q", done.Log)
	for page, states := range done.States {
		// open, then waiting for a retry (and maybe connecting), open again.
		if len(states) < 3 || states[0] != "open" || states[len(states)-1] != "open" || !contains(states, "waiting") {
			t.Errorf("%s: status went %v, want open ... waiting ... open", page, states)
		}
	}
	if !strings.HasPrefix(done.Status, "Reconnected") {
		t.Errorf("A1's status %q, want Reconnected", done.Status)
	}

	f, err := os.Open(shot)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	pc, err := png.DecodeConfig(f)
	if err != nil || pc.Width < 400 || pc.Height < 300 {
		t.Errorf("screenshot %s: %v, %dx%d", shot, err, pc.Width, pc.Height)
	}
	t.Logf("screenshot: %s (%dx%d)", shot, pc.Width, pc.Height)
}

func chromiumVersion(bin string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, _ := exec.CommandContext(ctx, bin, "--version").Output()
	return string(out)
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}
