package main

import (
	"crypto/tls"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/edge-rt/edge/acmeclient"
	"github.com/edge-rt/edge/tlsbackend"
)

// acmeBase is a config with certsPath, a TLS listener with the hosts
// a.com, *.a.com, 127.0.0.1 and b.com:8443, and a plain one with c.com, in
// 17 lines; acmeClient: goes after it, at line 18.
const acmeBase = `certsPath: ./certs
listeners:
  - listen: "127.0.0.1:8443"
    tls: true
    hosts:
      - host: a.com
        fallback: {}
      - host: "*.a.com"
        fallback: {}
      - host: 127.0.0.1
        fallback: {}
      - host: b.com:8443
        fallback: {}
  - listen: "127.0.0.1:8080"
    hosts:
      - host: c.com
        fallback: {}
`

func TestACMEConfigErrors(t *testing.T) {
	t.Parallel()
	dir := configDir(t)
	name := filepath.Join(dir, "edge.yaml")
	if err := os.WriteFile(filepath.Join(dir, "not-pem.txt"), []byte("hello\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	const dirLine = "acmeClient:\n  directory: letsencrypt\n"
	tests := []struct {
		name   string
		yaml   string
		pos    string // line:col
		reason string
	}{
		{"not a mapping", acmeBase + "acmeClient: letsencrypt\n", "18:13", "acmeClient: expected a mapping, got \"letsencrypt\""},
		{"no directory", acmeBase + "acmeClient: {email: a@b.c}\n", "18:13", "acmeClient: missing directory"},
		{"unknown key", acmeBase + dirLine + "  emial: a@b.c\n", "20:3", `acmeClient: unknown key "emial" (did you mean "email"?)`},
		{"http directory", acmeBase + "acmeClient:\n  directory: http://ca.example/dir\n", "19:14", `acmeClient.directory: bad directory "http://ca.example/dir": want an https:// URL`},
		{"directory list", acmeBase + "acmeClient:\n  directory: [a]\n", "19:14", "acmeClient.directory: expected a string, got a list"},
		{"bad email", acmeBase + dirLine + "  email: ops\n", "20:10", `acmeClient.email: bad email address "ops"`},
		{"hosts not a list", acmeBase + dirLine + "  hosts: a.com\n", "20:10", "acmeClient.hosts: expected a list"},
		{"no hosts", acmeBase + dirLine + "  hosts: []\n", "20:10", "acmeClient.hosts: no hosts"},
		{"wildcard host", acmeBase + dirLine + "  hosts: [a.com, \"*.a.com\"]\n", "20:18", `acmeClient.hosts[1]: "*.a.com": wildcard certificates need the DNS-01 challenge`},
		{"IP host", acmeBase + dirLine + "  hosts: [192.0.2.1]\n", "20:11", "acmeClient.hosts[0]: \"192.0.2.1\": certificates for IP addresses are not supported"},
		{"bad host", acmeBase + dirLine + "  hosts: [a_b.com]\n", "20:11", `acmeClient.hosts[0]: bad host name "a_b.com"`},
		{"duplicate host", acmeBase + dirLine + "  hosts: [a.com, A.com.]\n", "20:18", `acmeClient.hosts[1]: duplicate host "A.com."`},
		{"unknown challenge", acmeBase + dirLine + "  challenges: [dns-01]\n", "20:16", `acmeClient.challenges[0]: unknown challenge "dns-01": want http-01 or tls-alpn-01`},
		{"duplicate challenge", acmeBase + dirLine + "  challenges: [http-01, http-01]\n", "20:25", `acmeClient.challenges[1]: duplicate challenge "http-01"`},
		{"no challenges", acmeBase + dirLine + "  challenges: []\n", "20:15", "acmeClient.challenges: no challenges"},
		{"negative renewBefore", acmeBase + dirLine + "  renewBefore: -1h\n", "20:16", `acmeClient.renewBefore: duration "-1h" must not be negative`},
		{"bad checkEvery", acmeBase + dirLine + "  checkEvery: often\n", "20:15", `acmeClient.checkEvery: bad duration "often"`},
		{"missing caBundle", acmeBase + dirLine + "  caBundle: ./nope.pem\n", "20:13", "acmeClient.caBundle: " + filepath.Join(dir, "nope.pem") + ": no such file"},
		{"caBundle directory", acmeBase + dirLine + "  caBundle: ./www\n", "20:13", "is not a regular file"},
		{"no certsPath", strings.TrimPrefix(acmeBase, "certsPath: ./certs\n") + dirLine, "17:1", "acmeClient: acmeClient needs certsPath"},
		{"host with own certificates", "certsPath: ./certs\nacmeClient:\n  directory: letsencrypt\n  hosts: [a.com, own.com]\n" +
			"listeners:\n  - listen: \"127.0.0.1:8443\"\n    tls: true\n    hosts:\n      - host: own.com\n        certificates: {path: ./own}\n        fallback: {}\n",
			"4:18", `acmeClient.hosts[1]: host "own.com" has a certificates: entry of its own`},
		{"no hosts to default to", "certsPath: ./certs\n" + dirLine + minimal, "2:1", "acmeClient: acmeClient has no hosts"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := parseConfig(name, []byte(tt.yaml))
			if err == nil {
				t.Fatalf("no error, want %s: %s", tt.pos, tt.reason)
			}
			want := name + ":" + tt.pos + ": "
			for _, msg := range strings.Split(err.Error(), "\n") {
				if strings.HasPrefix(msg, want) && strings.Contains(msg, tt.reason) {
					return
				}
			}
			t.Errorf("error:\n%v\nwant one at %s with %q", err, tt.pos, tt.reason)
		})
	}

	// What only build finds: a caBundle that holds no certificate.
	fc, err := parseConfig(name, []byte(acmeBase+dirLine+"  caBundle: not-pem.txt\n"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fc.build(discard); err == nil || !strings.HasPrefix(err.Error(), name+":20:13: acmeClient.caBundle: ") || !strings.Contains(err.Error(), "no PEM certificate") {
		t.Errorf("build error %v", err)
	}
}

func TestACMEConfigSettings(t *testing.T) {
	t.Parallel()
	dir := configDir(t)
	name := filepath.Join(dir, "edge.yaml")

	// Defaults: the TLS listeners' named hosts, ports stripped.
	fc, err := parseConfig(name, []byte(acmeBase+"acmeClient:\n  directory: letsencrypt-staging\n"))
	if err != nil {
		t.Fatal(err)
	}
	as := fc.acme
	if as.directory != "https://acme-staging-v02.api.letsencrypt.org/directory" || !slices.Equal(as.hosts, []string{"a.com", "b.com"}) ||
		as.challenges != nil /* both: there are plain and tls listeners */ || as.renewBefore != 0 || as.checkEvery != 0 || as.caBundle != "" || as.email != "" {
		t.Errorf("defaults: %+v", as)
	}

	// Everything given; a host with its own certificates: is not defaulted.
	cfg := `certsPath: ./certs
privKeyFile: key.pem
fullChainFile: chain.pem
listeners:
  - listen: "127.0.0.1:8443"
    tls: true
    hosts:
      - host: own.com
        certificates: {path: ./own}
        fallback: {}
      - host: a.com
        fallback: {}
acmeClient:
  directory: https://ca.example/dir
  email: ops@example.com
  hosts: [x.com, Y.com.]
  challenges: [tls-alpn-01]
  renewBefore: 240h
  checkEvery: 1h
  caBundle: ./about.html
`
	fc, err = parseConfig(name, []byte(cfg))
	if err != nil {
		t.Fatal(err)
	}
	as = fc.acme
	if as.directory != "https://ca.example/dir" || as.email != "ops@example.com" || !slices.Equal(as.hosts, []string{"x.com", "y.com"}) ||
		!slices.Equal(as.challenges, []string{"tls-alpn-01"}) || as.renewBefore != 240*time.Hour || as.checkEvery != time.Hour ||
		as.caBundle != filepath.Join(dir, "about.html") {
		t.Errorf("settings: %+v", as)
	}
	fc, err = parseConfig(name, []byte(strings.Replace(cfg, "  hosts: [x.com, Y.com.]\n", "", 1)))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(fc.acme.hosts, []string{"a.com"}) {
		t.Errorf("default hosts %q, want [a.com]: own.com has its own certificates", fc.acme.hosts)
	}

	// Default challenges: those the listeners can answer.
	for _, tt := range []struct {
		listeners string
		want      []string
	}{
		{"  - {listen: \":443\", tls: true, hosts: [{host: a.com, fallback: {}}]}\n", []string{"tls-alpn-01"}},
		{"  - {listen: \":80\", hosts: [{fallback: {}}]}\n", []string{"http-01"}},
		{"  - {listen: \"unix:e.sock\", hosts: [{fallback: {}}]}\n", nil},
	} {
		fc, err := parseConfig(name, []byte("certsPath: ./certs\nacmeClient: {directory: letsencrypt, hosts: [a.com]}\nlisteners:\n"+tt.listeners))
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(fc.acme.challenges, tt.want) {
			t.Errorf("%s: challenges %q, want %q", tt.listeners, fc.acme.challenges, tt.want)
		}
	}
}

// TestACMETLS checks the TLS wiring: acme-tls/1 offered last, and the
// challenge certificate asked for first.
func TestACMETLS(t *testing.T) {
	t.Parallel()
	m, err := acmeclient.New(acmeclient.Config{DirectoryURL: "https://ca.example/dir", Hosts: []string{"a.com"}, CertsPath: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	fc := &fileConfig{acme: &acmeSettings{mgr: m}}
	store := &tls.Certificate{}
	get := func(*tlsbackend.ClientHello) (*tls.Certificate, error) { return store, nil }
	for _, tt := range []struct{ protos, want []string }{
		{nil, []string{"http/1.1", "acme-tls/1"}},
		{[]string{"h2", "http/1.1"}, []string{"h2", "http/1.1", "acme-tls/1"}},
		{[]string{"http/1.1", "acme-tls/1"}, []string{"http/1.1", "acme-tls/1"}},
	} {
		cfg := tlsbackend.Config{GetCertificate: get, NextProtos: tt.protos}
		fc.acmeTLS(&cfg)
		if !slices.Equal(cfg.NextProtos, tt.want) {
			t.Errorf("NextProtos %q: %q, want %q", tt.protos, cfg.NextProtos, tt.want)
		}
		// No challenge pending: the store's certificate.
		c, err := cfg.GetCertificate(&tlsbackend.ClientHello{ServerName: "a.com", SupportedProtos: []string{"acme-tls/1"}})
		if c != store || err != nil {
			t.Errorf("GetCertificate: %p %v, want the store's", c, err)
		}
	}
	if tlsbackend.DefaultNextProtos[len(tlsbackend.DefaultNextProtos)-1] == "acme-tls/1" {
		t.Error("DefaultNextProtos modified")
	}
	// Without acmeClient: untouched.
	cfg := tlsbackend.Config{GetCertificate: get}
	(&fileConfig{}).acmeTLS(&cfg)
	if cfg.NextProtos != nil {
		t.Errorf("NextProtos %q without acmeClient", cfg.NextProtos)
	}
}

// TestE2EACMEClient, the edge binary against an in-process pebble, is in
// the tests module (tests/cmdedge), so that this module does not require
// pebble.
