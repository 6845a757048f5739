package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/edge-rt/edge/proxy"
)

// TestParseProxyConfig: the proxy action, a listener's proxyProtocol and
// passthrough hosts decode, and each mistake is reported at its line.
func TestParseProxyConfig(t *testing.T) {
	t.Parallel()
	name := filepath.Join(configDir(t), "edge.yaml")
	fc, err := parseConfig(name, []byte(`listeners:
  - listen: "127.0.0.1:8443"
    tls: true
    proxyProtocol: {trust: [10.0.0.0/8, 127.0.0.1]}
    hosts:
      - host: db.example.com
        passthrough: {to: ["127.0.0.1:5432"], proxyProtocol: v2}
      - routes:
          - prefix: /api/
            proxy:
              to: ["127.0.0.1:9001", "unix:/run/app.sock"]
              mode: pin
              balance: random2
              forwardedFor: true
              connectTimeout: 1s
              responseTimeout: 5s
              idleTimeout: 30s
              maxIdle: 4
              healthCheck: {interval: 2s, timeout: 1s, path: /healthz}
`))
	if err != nil {
		t.Fatal(err)
	}
	lc := fc.listeners[0]
	if !lc.ppOn || len(lc.ppTrust) != 2 || lc.ppTrust[1].String() != "127.0.0.1/32" {
		t.Errorf("proxyProtocol trust: %v", lc.ppTrust)
	}
	if p := lc.hosts[0].pass; p == nil || p.ProxyProtocol != proxy.ProxyV2 || p.To[0] != "127.0.0.1:5432" {
		t.Errorf("passthrough: %+v", p)
	}
	rc := lc.hosts[1].routes[0]
	r := rc.proxy
	if r == nil || r.Mode != proxy.ModePin || r.Balance != proxy.Random2 || !r.ForwardedFor || r.MaxIdle != 4 ||
		r.HealthCheck == nil || r.HealthCheck.Path != "/healthz" || len(r.Backends()) != 2 || rc.methods != nil {
		t.Errorf("proxy route: %+v (methods %v)", r, rc.methods)
	}

	tests := []struct{ name, yaml, pos, reason string }{
		{"no to", withRoute("prefix: /", "proxy: {mode: pin}"), "6:20", "missing to"},
		{"bad backend", withRoute("prefix: /", `proxy: {to: ["nowhere"]}`), "6:26", "nowhere"},
		{"bad mode", withRoute("prefix: /", `proxy: {to: ["127.0.0.1:1"], mode: sticky}`), "6:48", "sticky"},
		{"bad balance", withRoute("prefix: /", `proxy: {to: ["127.0.0.1:1"], balance: hash}`), "6:51", "hash"},
		{"bad proxyProtocol", withRoute("prefix: /", `proxy: {to: ["127.0.0.1:1"], proxyProtocol: v3}`), "6:57", "v3"},
		{"unknown key", withRoute("prefix: /", `proxy: {to: ["127.0.0.1:1"], timeout: 1s}`), "6:42", `unknown key "timeout"`},
		{"health path", withRoute("prefix: /", `proxy: {to: ["127.0.0.1:1"], healthCheck: {path: healthz}}`), "6:62", "absolute path"},
		{"trust bad", "listeners:\n  - listen: \":1\"\n    proxyProtocol: {trust: [lan]}\n    hosts:\n      - fallback: {}\n", "3:29", `bad source "lan"`},
		{"trust missing", "listeners:\n  - listen: \":1\"\n    proxyProtocol: {}\n    hosts:\n      - fallback: {}\n", "3:20", "missing trust"},
		{"passthrough plain", "listeners:\n  - listen: \":1\"\n    hosts:\n      - host: a.com\n        passthrough: {to: [\"127.0.0.1:1\"]}\n", "4:15", "tls listeners"},
		{"passthrough routes", "listeners:\n  - listen: \":1\"\n    tls: true\n    hosts:\n      - host: a.com\n        passthrough: {to: [\"127.0.0.1:1\"]}\n        fallback: {}\n", "7:9", "no other key"},
		{"passthrough mode", "listeners:\n  - listen: \":1\"\n    tls: true\n    hosts:\n      - host: a.com\n        passthrough: {to: [\"127.0.0.1:1\"], mode: pin}\n", "6:44", "does not apply"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := parseConfig(name, []byte(tt.yaml))
			if err == nil {
				t.Fatal("parseConfig succeeded")
			}
			first := strings.SplitN(err.Error(), "\n", 2)[0]
			if want := name + ":" + tt.pos + ": "; !strings.HasPrefix(first, want) || !strings.Contains(first, tt.reason) {
				t.Errorf("first error %q\nwant prefix %q and %q", first, want, tt.reason)
			}
		})
	}
}
