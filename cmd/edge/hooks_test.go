package main

import (
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func hooksRoute(block string) string {
	return withRoute("path: /chat", "stream:", "  mode: hooks", "  hooks: "+block)
}

func TestHooksConfig(t *testing.T) {
	t.Parallel()
	src := "headers: [X-Request-Id]\n" + hooksRoute(`{url: "unix:run/app.sock:/hooks", timeout: 3s, headers: [Cookie, Authorization, x-request-id], batch: {max: 8, wait: 0}, queue: 100, queueBytes: 1MiB, workers: 3, presence: ["room:", ""]}`)
	fc, err := parseConfig("/etc/edge/edge.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	hc := fc.listeners[0].hosts[0].routes[0].stream.hooks
	c := hc.cfg
	if c.URL != "unix:"+filepath.Join("/etc/edge", "run/app.sock")+":/hooks" || c.Timeout != 3*time.Second || c.BatchMax != 8 ||
		c.BatchWait >= 0 || c.Queue != 100 || c.QueueBytes != 1<<20 || c.Workers != 3 || !slices.Equal(c.Presence, []string{"room:", ""}) {
		t.Errorf("hooks config %+v", c)
	}
	if !slices.Equal(hc.headers, []string{"Cookie", "Authorization", "x-request-id"}) {
		t.Errorf("headers %q", hc.headers)
	}
	// Authorization is declared to the server; Cookie is built in and
	// X-Request-Id already there.
	if !slices.Equal(fc.cfg.Headers, []string{"X-Request-Id", "Authorization"}) {
		t.Errorf("declared headers %q", fc.cfg.Headers)
	}
	// Defaults stay zero (package hooks fills them).
	fc, err = parseConfig("edge.yaml", []byte(hooksRoute(`{url: "http://127.0.0.1:9001/hooks"}`)))
	if err != nil {
		t.Fatal(err)
	}
	if c := fc.listeners[0].hosts[0].routes[0].stream.hooks.cfg; c.Timeout != 0 || c.BatchWait != 0 || c.Workers != 0 {
		t.Errorf("defaults %+v", c)
	}
}

func TestHooksConfigErrors(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, yaml, reason string }{
		{"no hooks", withRoute("path: /chat", "stream: {mode: hooks}"), "mode hooks: missing hooks: {url: ...}"},
		{"hooks for echo", withRoute("path: /chat", "stream: {mode: echo, hooks: {url: \"http://a/\"}}"), "hooks: is for mode: hooks"},
		{"no url", hooksRoute("{timeout: 1s}"), "missing url"},
		{"https", hooksRoute(`{url: "https://a/h"}`), "TLS to the backend is not supported"},
		{"bad unix", hooksRoute(`{url: "unix::/h"}`), "want unix:/path/to.sock:/path"},
		{"zero timeout", hooksRoute(`{url: "http://a/", timeout: 0}`), "zero timeout"},
		{"bad header", hooksRoute(`{url: "http://a/", headers: ["Bad Header"]}`), `bad header name "Bad Header"`},
		{"dup header", hooksRoute(`{url: "http://a/", headers: [Cookie, cookie]}`), `duplicate header "cookie"`},
		{"workers", hooksRoute(`{url: "http://a/", workers: 0}`), "0 out of range 1 to 256"},
		{"batch max", hooksRoute(`{url: "http://a/", batch: {max: 0}}`), "0 out of range 1 to 10000"},
		{"presence empty", hooksRoute(`{url: "http://a/", presence: []}`), "empty list"},
		{"presence type", hooksRoute(`{url: "http://a/", presence: "room:"}`), "expected a list"},
		{"typo", hooksRoute(`{url: "http://a/", timout: 1s}`), `unknown key "timout" (did you mean "timeout"?)`},
		{"too many headers", "headers: [" + manyHeaders(24) + "]\n" + hooksRoute(`{url: "http://a/", headers: [Authorization]}`), "more than 24 request headers"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := parseConfig("edge.yaml", []byte(tt.yaml))
			if err == nil || !strings.Contains(err.Error(), tt.reason) {
				t.Errorf("error %v\nwant it to contain %q", err, tt.reason)
			}
		})
	}
}

func TestParseCookies(t *testing.T) {
	t.Parallel()
	got := parseCookies(`theme=dark; sid="abc"; sid=second;bad; =x; empty=`)
	want := map[string]string{"theme": "dark", "sid": "abc", "empty": ""}
	if !maps.Equal(got, want) {
		t.Errorf("parseCookies = %v, want %v", got, want)
	}
}
