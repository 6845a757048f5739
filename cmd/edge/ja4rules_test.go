package main

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/edge-rt/edge/ja4"
	"github.com/edge-rt/edge/sni"
)

func TestJA4Rules(t *testing.T) {
	t.Parallel()
	const a, b = "t13d1516h2_8daaf6152771_e5627efa2ab1", "t12d1209h1_d34a8e72043a_b39be8c56a14"
	for _, tc := range []struct {
		name        string
		allow, deny []string
		served      map[string]bool
	}{
		{"none", nil, nil, nil},
		{"deny one", nil, []string{a}, map[string]bool{a: false, b: true, "": true}},
		{"deny a part", nil, []string{"t13d1516h2_*"}, map[string]bool{a: false, b: true}},
		{"allow one", []string{a}, nil, map[string]bool{a: true, b: false, "": false}},
		{"allow by pattern", []string{"t1?d*"}, nil, map[string]bool{a: true, b: true, "": false}},
		{"deny wins", []string{"*"}, []string{"*_e5627efa2ab1"}, map[string]bool{a: false, b: true}},
	} {
		f := (&ja4Rules{allow: tc.allow, deny: tc.deny}).allowFunc()
		if tc.served == nil {
			if f != nil {
				t.Errorf("%s: a rule without lists", tc.name)
			}
			continue
		}
		for fp, want := range tc.served {
			if got := f(fp); got != want {
				t.Errorf("%s: %q served %v, want %v", tc.name, fp, got, want)
			}
		}
	}
	for s, want := range map[string]bool{a: true, "t13d*": true, "": false, "T13D": false, "t13d[": false, "t13d/x": false, strings.Repeat("a", 65): false} {
		if got := validJA4Pattern(s); got != want {
			t.Errorf("validJA4Pattern(%q) = %v", s, got)
		}
	}
}

func TestJA4RulesConfigErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ cfg, want string }{
		{"listeners:\n  - listen: \":1\"\n    ja4: {deny: [t13d*]}\n    hosts: [{}]\n", "edge.yaml:3:10: listeners[0].ja4: ja4 is for tls listeners"},
		{"listeners:\n  - listen: \":1\"\n    tls: true\n    ja4: {deny: [T13D]}\n    hosts: [{}]\n", `edge.yaml:4:18: listeners[0].ja4.deny[0]: bad JA4 pattern "T13D"`},
		{"listeners:\n  - listen: \":1\"\n    tls: true\n    ja4: {block: [x]}\n    hosts: [{}]\n", "block"},
	} {
		_, err := parseConfig("edge.yaml", []byte(tc.cfg))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want %q", tc.cfg, err, tc.want)
		}
	}
}

// clientJA4 computes the JA4 of a crypto/tls client with cfg from the
// ClientHello it sends to a listener of ours (which then hangs up).
func clientJA4(t *testing.T, cfg *tls.Config) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := tls.Dial("tcp", ln.Addr().String(), cfg.Clone())
		if err == nil {
			c.Close()
		}
	}()
	c, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	var buf []byte
	chunk := make([]byte, 4096)
	for {
		n, err := c.Read(chunk)
		buf = append(buf, chunk[:n]...)
		h, perr := sni.ParseClientHello(buf)
		if perr == nil {
			return ja4.Fingerprint(h, ja4.TCP)
		}
		if !errors.Is(perr, sni.ErrNeedMore) {
			t.Fatalf("client hello: %v", perr)
		}
		if err != nil {
			t.Fatalf("client hello: %v after %d bytes", err, len(buf))
		}
	}
}

// TestE2EJA4Rules: a real crypto/tls client whose JA4 is computed from
// its own ClientHello (package ja4) is refused with a TLS close by a
// listener denying it, served by one allowing it, and the other way round
// for a TLS 1.2 client; refusals are counted.
func TestE2EJA4Rules(t *testing.T) {
	t.Parallel()
	c13 := &tls.Config{ServerName: "localhost", InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}, MinVersion: tls.VersionTLS13}
	c12 := &tls.Config{ServerName: "localhost", InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}, MaxVersion: tls.VersionTLS12}
	fp13, fp12 := clientJA4(t, c13), clientJA4(t, c12)
	if fp13 == fp12 || !strings.HasPrefix(fp13, "t13d") || !strings.HasPrefix(fp12, "t12d") {
		t.Fatalf("fingerprints %q and %q", fp13, fp12)
	}
	a13, _, _ := strings.Cut(fp13, "_")
	cfg := fmt.Sprintf(`admin: {listen: "127.0.0.1:{port3}"}
listeners:
  - listen: "127.0.0.1:{port}"
    tls: true
    ja4: {deny: [%q]}
    hosts:
      - routes:
          - path: /
            respond: {body: "ok\n"}
  - listen: "127.0.0.1:{port2}"
    tls: true
    ja4: {allow: [%q]}
    hosts:
      - routes:
          - path: /
            respond: {body: "ok\n"}
`, fp13, a13+"_*")
	_, ports := startEdgeN(t, configDir(t), cfg, 3)
	get := func(port string, cfg *tls.Config) (string, error) {
		c, err := tls.Dial("tcp", "127.0.0.1:"+port, cfg.Clone())
		if err != nil {
			return "", fmt.Errorf("handshake: %w", err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		io.WriteString(c, "GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
		b, err := io.ReadAll(c) // a TLS close (close_notify) reads as EOF
		return string(b), err
	}
	for _, tc := range []struct {
		name   string
		port   string
		cfg    *tls.Config
		served bool
	}{
		{"deny list, TLS 1.3 client (denied)", ports[0], c13, false},
		{"deny list, TLS 1.2 client", ports[0], c12, true},
		{"allow list, TLS 1.3 client (allowed)", ports[1], c13, true},
		{"allow list, TLS 1.2 client", ports[1], c12, false},
	} {
		resp, err := get(tc.port, tc.cfg)
		switch {
		case err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.served && !strings.HasPrefix(resp, "HTTP/1.1 200 "):
			t.Errorf("%s: %q, want 200", tc.name, resp)
		case !tc.served && resp != "":
			t.Errorf("%s: %q, want a TLS close before any response", tc.name, resp)
		}
	}
	_, body := scrape(t, "127.0.0.1:"+ports[2], "")
	refused := 0.0
	for line := range strings.Lines(body) {
		if strings.HasPrefix(line, "edge_connections_refused_total{") && strings.Contains(line, `reason="policy"`) {
			var v float64
			fmt.Sscan(line[strings.LastIndexByte(line, ' ')+1:], &v)
			refused += v
		}
	}
	if refused != 2 {
		t.Errorf("refused by policy: %v, want 2", refused)
	}
}
