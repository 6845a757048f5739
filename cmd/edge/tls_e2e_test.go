package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edge-rt/edge/tlsbackend/tlsbackendtest"
)

// End-to-end TLS tests: the real binary, certificates on disk, and real
// clients (openssl s_client, curl, Go's crypto/tls).

// needProg returns the path of an external program. Without it the test
// is skipped, except in CI (CI set), where it fails.
func needProg(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "" {
			t.Skipf("%s not installed (apt-get install %s); in CI this test fails instead", name, name)
		}
		t.Fatalf("%s is required in CI: %v", name, err)
	}
	return p
}

// startEdgeN is startEdge for a config with n TCP ports: {port}, {port2},
// ..., {portN} are replaced by free ports. It waits until edge accepts on
// every one (all on 127.0.0.1) and returns the ports in that order.
func startEdgeN(t *testing.T, dir, config string, n int) (*edgeProc, []string) {
	t.Helper()
	for range 3 { // another process may take a port between freePort and bind
		ports := make([]string, 0, n)
		for len(ports) < n {
			if p := freePort(t); !contains(ports, p) {
				ports = append(ports, p)
			}
		}
		cfg := config
		for i := n; i >= 2; i-- {
			cfg = strings.ReplaceAll(cfg, "{port"+strconv.Itoa(i)+"}", ports[i-1])
		}
		cfg = strings.ReplaceAll(cfg, "{port}", ports[0])
		p := tryStartEdge(t, dir, cfg, "127.0.0.1:"+ports[0], "")
		if p == nil {
			continue
		}
		for _, port := range ports[1:] {
			waitDial(t, "127.0.0.1:"+port, 5*time.Second)
		}
		return p, ports
	}
	t.Fatal("edge did not start: ports taken three times")
	return nil, nil
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

func waitDial(t *testing.T, addr string, limit time.Duration) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !dialOK("tcp", addr) {
		if time.Now().After(deadline) {
			t.Fatalf("nothing accepts on %s after %v", addr, limit)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// alive fails the test if the edge process has exited.
func (p *edgeProc) alive(t *testing.T) {
	t.Helper()
	select {
	case <-p.done:
		t.Fatalf("edge exited (%v):\n%s", p.err, p.stderr.String())
	default:
	}
}

// certFixture is a config directory with a test CA and certificates on
// disk: <dir>/certs/<host>/{privkey.pem,fullchain.pem}.
type certFixture struct {
	dir    string
	ca     *tlsbackendtest.CA
	caFile string // the CA in PEM, for curl --cacert and openssl -CAfile
	certs  map[string]*tls.Certificate
}

func newCertFixture(t *testing.T) *certFixture {
	t.Helper()
	f := &certFixture{dir: configDir(t), ca: tlsbackendtest.NewTestCA(t), certs: map[string]*tls.Certificate{}}
	f.caFile = filepath.Join(f.dir, "ca.pem")
	if err := os.WriteFile(f.caFile, f.ca.PEM(), 0o644); err != nil {
		t.Fatal(err)
	}
	return f
}

// mkdir makes dir (relative to the fixture) and returns its full path.
func (f *certFixture) mkdir(t *testing.T, dir string) string {
	t.Helper()
	p := filepath.Join(f.dir, dir)
	if err := os.MkdirAll(p, 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// write writes a new ECDSA leaf for names into dir (relative to the
// fixture, made if missing) and remembers it under key.
func (f *certFixture) write(t *testing.T, key, dir string, names ...string) *tls.Certificate {
	t.Helper()
	c := f.ca.WritePEM(t, f.mkdir(t, dir), names...)
	f.certs[key] = c
	return c
}

// sclient is one run of openssl s_client.
type sclient struct {
	out   string              // stdout and stderr
	ok    bool                // exit status 0: the handshake completed
	chain []*x509.Certificate // as served, leaf first (-showcerts)
}

func (r *sclient) leaf() *x509.Certificate {
	if len(r.chain) == 0 {
		return nil
	}
	return r.chain[0]
}

var (
	// "New, TLSv1.3, Cipher is ...", printed once the handshake is done
	// (the SSL-Session block's "Protocol :" waits for a TLS 1.3 session
	// ticket, which s_client may quit before reading).
	protocolRE = regexp.MustCompile(`(?m)^New, (TLSv[0-9.]+),`)
	alpnRE     = regexp.MustCompile(`(?m)^ALPN protocol: (\S+)`)
	verifyRE   = regexp.MustCompile(`(?m)^\s*Verify return code: (\d+) \(([^)]*)\)`)
)

func (r *sclient) match(re *regexp.Regexp) string {
	if m := re.FindStringSubmatch(r.out); m != nil {
		return m[1]
	}
	return ""
}

// sClient runs openssl s_client -connect addr -showcerts args... with
// stdin at EOF, so that it quits after the handshake.
func sClient(t *testing.T, addr string, args ...string) *sclient {
	t.Helper()
	bin := needProg(t, "openssl")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	args = append([]string{"s_client", "-connect", addr, "-showcerts"}, args...)
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stdin = strings.NewReader("")
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("openssl %s: timed out\n%s", strings.Join(args, " "), out)
	}
	r := &sclient{out: string(out), ok: err == nil}
	for rest := out; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			t.Fatalf("openssl printed a bad certificate: %v\n%s", err, out)
		}
		r.chain = append(r.chain, c)
	}
	return r
}

// certString names a certificate for messages.
func certString(c *x509.Certificate) string {
	if c == nil {
		return "no certificate"
	}
	return fmt.Sprintf("subject %q, SANs %v %v, issuer %q, serial %x", c.Subject.CommonName, c.DNSNames, c.IPAddresses, c.Issuer.CommonName, c.SerialNumber)
}

// isFallback reports whether c is edge's generated self-signed certificate.
func isFallback(c *x509.Certificate) bool {
	return c != nil && contains(c.DNSNames, "localhost") && bytes.Equal(c.RawIssuer, c.RawSubject) &&
		c.CheckSignature(c.SignatureAlgorithm, c.RawTBSCertificate, c.Signature) == nil
}

const tlsConfig = `reusePort: false
certsPath: ./certs
listeners:
  - listen: "127.0.0.1:{port}"
    tls: true
    defaultHost: default.test
    hosts:
      - host: a.test
        routes:
          - path: /
            respond: {body: "a.test\n"}
          - path: /hello
            respond: {body: "hello from a.test\n"}
      - host: b.test
        routes:
          - path: /
            respond: {body: "b.test\n"}
      - host: "*.wild.test"
        routes:
          - path: /
            respond: {body: "wild\n"}
      - host: explicit.test
        certificates: {privKey: ./explicit/key.pem, fullChain: ./explicit/chain.pem}
        routes:
          - path: /
            respond: {body: "explicit\n"}
      - host: pathdir.test
        certificates: {path: ./elsewhere}
        routes:
          - path: /
            respond: {body: "pathdir\n"}
      - routes:
          - prefix: /
            respond: {body: "any host\n"}
  - listen: "127.0.0.1:{port2}"
    tls: true
    hosts:
      - host: a.test
        fallback: {status: 200, body: "second listener\n"}
  - listen: "127.0.0.1:{port3}"
    hosts:
      - routes:
          - prefix: /
            redirect: {to: "https://{host}:{port}{url}", status: 301}
`

// TestE2ETLS runs one edge with several TLS hosts and checks what
// openssl s_client and curl see.
func TestE2ETLS(t *testing.T) {
	t.Parallel()
	needProg(t, "openssl")
	f := newCertFixture(t)
	f.write(t, "a.test", "certs/a.test", "a.test")
	tlsbackendtest.WriteCertPEM(t, f.mkdir(t, "certs/b.test"), f.ca.LeafRSA(t, "b.test"))
	f.write(t, "wild", "certs/_.wild.test", "*.wild.test")
	f.write(t, "default", "certs/default.test", "default.test")
	f.write(t, "pathdir", "elsewhere", "pathdir.test")
	f.write(t, "explicit", "explicit", "explicit.test")
	for from, to := range map[string]string{"privkey.pem": "key.pem", "fullchain.pem": "chain.pem"} {
		if err := os.Rename(filepath.Join(f.dir, "explicit", from), filepath.Join(f.dir, "explicit", to)); err != nil {
			t.Fatal(err)
		}
	}
	p, ports := startEdgeN(t, f.dir, tlsConfig, 3)
	addr, noDefault, plain := "127.0.0.1:"+ports[0], "127.0.0.1:"+ports[1], ports[2]

	sniTests := []struct {
		name string
		args []string
		want string // key in f.certs; "" = the self-signed fallback
		addr string // default addr
	}{
		{"exact", []string{"-servername", "a.test"}, "a.test", ""},
		{"exact upper case", []string{"-servername", "A.TEST"}, "a.test", ""},
		{"wildcard", []string{"-servername", "x.wild.test"}, "wild", ""},
		{"wildcard two labels", []string{"-servername", "x.y.wild.test"}, "default", ""},
		{"wildcard bare domain", []string{"-servername", "wild.test"}, "default", ""},
		{"unknown name", []string{"-servername", "unknown.test"}, "default", ""},
		{"no SNI", []string{"-noservername"}, "default", ""},
		{"explicit paths", []string{"-servername", "explicit.test"}, "explicit", ""},
		{"certificates path", []string{"-servername", "pathdir.test"}, "pathdir", ""},
		{"default host by name", []string{"-servername", "default.test"}, "default", ""},
		{"fallback unknown name", []string{"-servername", "unknown.test"}, "", noDefault},
		{"fallback no SNI", []string{"-noservername"}, "", noDefault},
		{"second listener exact", []string{"-servername", "a.test"}, "a.test", noDefault},
	}
	for _, tt := range sniTests {
		t.Run("sni/"+tt.name, func(t *testing.T) {
			t.Parallel()
			a := tt.addr
			if a == "" {
				a = addr
			}
			r := sClient(t, a, append([]string{"-CAfile", f.caFile}, tt.args...)...)
			if !r.ok {
				t.Fatalf("handshake failed:\n%s", r.out)
			}
			got := r.leaf()
			if tt.want == "" {
				if !isFallback(got) {
					t.Errorf("served %s, want the self-signed fallback (SAN localhost)", certString(got))
				}
				return
			}
			want := f.certs[tt.want].Leaf
			if got == nil || !bytes.Equal(got.Raw, want.Raw) {
				t.Errorf("served %s\nwant %s", certString(got), certString(want))
			}
			if len(r.chain) != 2 || !bytes.Equal(r.chain[1].Raw, f.ca.Cert.Raw) {
				t.Errorf("chain of %d certificates, want leaf + CA", len(r.chain))
			}
			if code := r.match(verifyRE); code != "0" {
				t.Errorf("verify return code %q, want 0:\n%s", code, r.out)
			}
		})
	}
	t.Run("sni/RSA leaf", func(t *testing.T) {
		t.Parallel()
		r := sClient(t, addr, "-servername", "b.test", "-CAfile", f.caFile)
		if l := r.leaf(); !r.ok || l == nil || l.PublicKeyAlgorithm != x509.RSA || l.Subject.CommonName != "b.test" {
			t.Errorf("b.test: served %s:\n%s", certString(l), r.out)
		}
	})

	versions := []struct {
		flag, want string
	}{
		{"-tls1_2", "TLSv1.2"},
		{"-tls1_3", "TLSv1.3"},
	}
	for _, v := range versions {
		t.Run("version"+v.flag, func(t *testing.T) {
			t.Parallel()
			r := sClient(t, addr, "-servername", "a.test", "-CAfile", f.caFile, v.flag)
			if !r.ok {
				t.Fatalf("handshake failed:\n%s", r.out)
			}
			if got := r.match(protocolRE); got != v.want {
				t.Errorf("protocol %q, want %s:\n%s", got, v.want, r.out)
			}
			if l := r.leaf(); l == nil || l.Subject.CommonName != "a.test" {
				t.Errorf("served %s", certString(l))
			}
		})
	}
	t.Run("version-tls1_1 refused", func(t *testing.T) {
		t.Parallel()
		// SECLEVEL=0: OpenSSL 3 would otherwise refuse TLS 1.1 itself,
		// without asking the server.
		r := sClient(t, addr, "-servername", "a.test", "-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0")
		if r.ok || r.leaf() != nil {
			t.Fatalf("TLS 1.1 handshake succeeded:\n%s", r.out)
		}
		if !strings.Contains(r.out, "alert protocol version") {
			t.Errorf("want the server's protocol_version alert:\n%s", r.out)
		}
	})
	t.Run("alpn", func(t *testing.T) {
		t.Parallel()
		r := sClient(t, addr, "-servername", "a.test", "-alpn", "http/1.1")
		if got := r.match(alpnRE); !r.ok || got != "http/1.1" {
			t.Errorf("ALPN %q, want http/1.1:\n%s", got, r.out)
		}
	})

	t.Run("curl/verified", func(t *testing.T) {
		t.Parallel()
		out := curl(t, "-v", "--cacert", f.caFile, "--resolve", "a.test:"+ports[0]+":127.0.0.1", "https://a.test:"+ports[0]+"/")
		if !strings.Contains(out, "< HTTP/1.1 200 OK") || !strings.HasSuffix(out, "a.test\n") {
			t.Errorf("want 200 a.test:\n%s", out)
		}
		if !strings.Contains(out, "SSL certificate verify ok") || !strings.Contains(out, "ALPN: server accepted http/1.1") {
			t.Errorf("want verify ok and ALPN http/1.1:\n%s", out)
		}
	})
	t.Run("curl/RSA", func(t *testing.T) {
		t.Parallel()
		out := curl(t, "-i", "--cacert", f.caFile, "--resolve", "b.test:"+ports[0]+":127.0.0.1", "https://b.test:"+ports[0]+"/")
		if status, _, body := split(t, out); status != "HTTP/1.1 200 OK" || body != "b.test\n" {
			t.Errorf("b.test: %q %q", status, body)
		}
	})
	t.Run("curl/wildcard", func(t *testing.T) {
		t.Parallel()
		out := curl(t, "-i", "--cacert", f.caFile, "--resolve", "x.wild.test:"+ports[0]+":127.0.0.1", "https://x.wild.test:"+ports[0]+"/")
		if status, _, body := split(t, out); status != "HTTP/1.1 200 OK" || body != "wild\n" {
			t.Errorf("x.wild.test: %q %q", status, body)
		}
	})
	t.Run("curl/host not SNI", func(t *testing.T) {
		t.Parallel()
		out := curl(t, "-i", "--cacert", f.caFile, "--resolve", "a.test:"+ports[0]+":127.0.0.1",
			"-H", "Host: b.test", "https://a.test:"+ports[0]+"/")
		if status, _, _ := split(t, out); status != "HTTP/1.1 421 Misdirected Request" {
			t.Errorf("Host b.test with SNI a.test: %q, want 421:\n%s", status, out)
		}
	})
	t.Run("curl/host with port", func(t *testing.T) {
		t.Parallel()
		// curl sends Host: a.test:PORT; the port is not part of the name.
		out := curl(t, "-i", "--cacert", f.caFile, "--resolve", "a.test:"+ports[0]+":127.0.0.1", "https://a.test:"+ports[0]+"/hello")
		if status, _, body := split(t, out); status != "HTTP/1.1 200 OK" || body != "hello from a.test\n" {
			t.Errorf("%q %q", status, body)
		}
	})
	t.Run("curl/redirect to https", func(t *testing.T) {
		t.Parallel()
		out := curl(t, "-L", "--cacert", f.caFile,
			"--resolve", "a.test:"+plain+":127.0.0.1", "--resolve", "a.test:"+ports[0]+":127.0.0.1",
			"-w", "\n%{http_code} %{num_redirects} %{url_effective}",
			"http://a.test:"+plain+"/hello?x=1")
		want := "hello from a.test\n\n200 1 https://a.test:" + ports[0] + "/hello?x=1"
		if out != want {
			t.Errorf("curl -L: %q\nwant %q", out, want)
		}
	})
	t.Run("curl/untrusted", func(t *testing.T) {
		t.Parallel()
		// Without the CA, curl must refuse: the certificate is not a
		// public one (proves verification is really happening above).
		cmd := exec.Command(needCurl(t), "-sS", "--max-time", "10", "--resolve", "a.test:"+ports[0]+":127.0.0.1", "https://a.test:"+ports[0]+"/")
		out, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(out), "certificate") {
			t.Errorf("curl without --cacert: %v\n%s", err, out)
		}
	})
	t.Cleanup(func() {
		if out := p.stderr.String(); strings.Contains(out, "level=ERROR") {
			t.Errorf("edge logged an error:\n%s", out)
		}
	})
}

// TestE2ETLSMinVersion checks tls.minVersion "1.3": TLS 1.2 is refused.
func TestE2ETLSMinVersion(t *testing.T) {
	t.Parallel()
	needProg(t, "openssl")
	f := newCertFixture(t)
	f.write(t, "a.test", "certs/a.test", "a.test")
	cfg := `reusePort: false
certsPath: ./certs
tls:
  minVersion: "1.3"
listeners:
  - listen: "127.0.0.1:{port}"
    tls: true
    hosts:
      - host: a.test
        fallback: {status: 200, body: "a.test\n"}
`
	p := startEdge(t, f.dir, cfg, "")
	r := sClient(t, p.addr, "-servername", "a.test", "-tls1_2")
	if r.ok || r.leaf() != nil {
		t.Errorf("TLS 1.2 handshake succeeded with minVersion 1.3:\n%s", r.out)
	}
	if !strings.Contains(r.out, "alert protocol version") {
		t.Errorf("want the server's protocol_version alert:\n%s", r.out)
	}
	r = sClient(t, p.addr, "-servername", "a.test", "-tls1_3")
	if got := r.match(protocolRE); !r.ok || got != "TLSv1.3" {
		t.Errorf("TLS 1.3: protocol %q:\n%s", got, r.out)
	}
}

// TestE2ETLSHostPolicy checks sslRoutesHost: host: the Host header routes,
// whatever the SNI.
func TestE2ETLSHostPolicy(t *testing.T) {
	t.Parallel()
	needCurl(t)
	f := newCertFixture(t)
	f.write(t, "a.test", "certs/a.test", "a.test")
	cfg := `reusePort: false
certsPath: ./certs
sslRoutesHost: host
listeners:
  - listen: "127.0.0.1:{port}"
    tls: true
    hosts:
      - host: a.test
        fallback: {status: 200, body: "a.test\n"}
      - host: b.test
        fallback: {status: 200, body: "b.test\n"}
`
	p := startEdge(t, f.dir, cfg, "")
	port := p.addr[strings.LastIndexByte(p.addr, ':')+1:]
	out := curl(t, "-i", "--cacert", f.caFile, "--resolve", "a.test:"+port+":127.0.0.1", "-H", "Host: b.test", "https://a.test:"+port+"/")
	if status, _, body := split(t, out); status != "HTTP/1.1 200 OK" || body != "b.test\n" {
		t.Errorf("Host b.test with SNI a.test and sslRoutesHost host: %q %q, want 200 b.test", status, body)
	}
}

// served does one TLS handshake with Go's client (no session cache, so a
// full handshake) and one request, and returns the leaf served. verify
// false skips certificate verification (to see fallbacks).
func served(addr, name string, roots *x509.CertPool, maxVersion uint16) (*x509.Certificate, error) {
	cfg := &tls.Config{ServerName: name, RootCAs: roots, MaxVersion: maxVersion, InsecureSkipVerify: roots == nil}
	d := tls.Dialer{NetDialer: &net.Dialer{Timeout: 5 * time.Second}, Config: cfg}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", name); err != nil {
		return nil, fmt.Errorf("writing the request: %w", err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return nil, fmt.Errorf("reading the response: %w", err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, fmt.Errorf("reading the body: %w", err)
	}
	if resp.StatusCode != 200 || string(body) != name+"\n" {
		return nil, fmt.Errorf("response %d %q", resp.StatusCode, body)
	}
	return c.(*tls.Conn).ConnectionState().PeerCertificates[0], nil
}

// waitServed polls until name is served want's leaf and returns how long
// that took.
func waitServed(t *testing.T, addr, name string, roots *x509.CertPool, want *tls.Certificate, limit time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	var last string
	for time.Since(start) < limit {
		got, err := served(addr, name, roots, 0)
		if err == nil && bytes.Equal(got.Raw, want.Leaf.Raw) {
			return time.Since(start)
		}
		if err != nil {
			last = err.Error()
		} else {
			last = certString(got)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s: %s not served after %v (last: %s)", name, certString(want.Leaf), limit, last)
	return 0
}

// writeInPlace rewrites a file in place (truncate, write), as a careless
// tool would: a reader may see it empty or half written.
func writeInPlace(t *testing.T, name string, data []byte) {
	t.Helper()
	if err := os.WriteFile(name, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func pemKey(t *testing.T, c *tls.Certificate) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(c.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

func pemChain(c *tls.Certificate) []byte {
	var b []byte
	for _, der := range c.Certificate {
		b = append(b, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})...)
	}
	return b
}

const oneHostConfig = `reusePort: false
certsPath: ./certs
listeners:
  - listen: "127.0.0.1:{port}"
    tls: true
    hosts:
      - host: a.test
        routes:
          - path: /
            respond: {body: "a.test\n"}
      - host: b.test
        routes:
          - path: /
            respond: {body: "b.test\n"}
`

// TestE2ETLSReloadUnderLoad rewrites a host's certificate 100 times while
// four clients do full handshakes without pause: no handshake may fail,
// every certificate served must be one that was written, and the last one
// must be served soon after it was written.
func TestE2ETLSReloadUnderLoad(t *testing.T) {
	t.Parallel()
	f := newCertFixture(t)
	first := f.write(t, "a.test", "certs/a.test", "a.test")
	p := startEdge(t, f.dir, oneHostConfig, "")
	dir := filepath.Join(f.dir, "certs", "a.test")
	roots := f.ca.Pool()

	var (
		mu      sync.Mutex
		written = map[string]bool{string(first.Leaf.Raw): true}
		seen    = map[string]int{}
		errs    []string
	)
	var handshakes, tls12, failed atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var maxVersion uint16
			if i%2 == 1 {
				maxVersion = tls.VersionTLS12 // half the clients with TLS 1.2
			}
			for {
				select {
				case <-stop:
					return
				default:
				}
				leaf, err := served(p.addr, "a.test", roots, maxVersion)
				handshakes.Add(1)
				if maxVersion != 0 {
					tls12.Add(1)
				}
				mu.Lock()
				if err != nil {
					failed.Add(1)
					if len(errs) < 10 {
						errs = append(errs, err.Error())
					}
				} else {
					seen[string(leaf.Raw)]++
				}
				mu.Unlock()
			}
		}()
	}
	defer func() { // on t.Fatal too
		select {
		case <-stop:
		default:
			close(stop)
		}
		wg.Wait()
	}()

	// A keep-alive connection opened before the swaps: it must live
	// through them, on its original certificate.
	kc, err := tls.Dial("tcp", p.addr, &tls.Config{RootCAs: roots, ServerName: "a.test"})
	if err != nil {
		t.Fatal(err)
	}
	defer kc.Close()
	if got := kc.ConnectionState().PeerCertificates[0]; !bytes.Equal(got.Raw, first.Leaf.Raw) {
		t.Fatalf("keep-alive connection: served %s, want the first certificate", certString(got))
	}
	kr := bufio.NewReader(kc)
	keepAlive := func(i int) {
		t.Helper()
		kc.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.WriteString(kc, "GET / HTTP/1.1\r\nHost: a.test\r\n\r\n"); err != nil {
			t.Fatalf("keep-alive connection after %d swaps: %v", i, err)
		}
		resp, err := http.ReadResponse(kr, nil)
		if err != nil {
			t.Fatalf("keep-alive connection after %d swaps: %v", i, err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 || string(body) != "a.test\n" || resp.Close {
			t.Fatalf("keep-alive connection after %d swaps: %d %q %v (close %v)", i, resp.StatusCode, body, err, resp.Close)
		}
	}

	const swaps = 100
	start := time.Now()
	var last *tls.Certificate
	var lastWrite time.Time
	inPlace := 0
	for i := range swaps {
		var c *tls.Certificate
		switch {
		case i%20 == 10:
			// In place, in two steps: the key first (now not matching the
			// chain), the chain 100 ms later.
			c = f.ca.Leaf(t, "a.test")
			mu.Lock()
			written[string(c.Leaf.Raw)] = true
			mu.Unlock()
			writeInPlace(t, filepath.Join(dir, "privkey.pem"), pemKey(t, c))
			time.Sleep(100 * time.Millisecond)
			writeInPlace(t, filepath.Join(dir, "fullchain.pem"), pemChain(c))
			inPlace++
		case i%7 == 3:
			c = f.ca.LeafRSA(t, "a.test")
			mu.Lock()
			written[string(c.Leaf.Raw)] = true
			mu.Unlock()
			tlsbackendtest.WriteCertPEM(t, dir, c)
		default:
			c = f.ca.Leaf(t, "a.test")
			mu.Lock()
			written[string(c.Leaf.Raw)] = true
			mu.Unlock()
			tlsbackendtest.WriteCertPEM(t, dir, c)
		}
		last, lastWrite = c, time.Now()
		keepAlive(i)
		if i == swaps-1 {
			break
		}
		pause := time.Duration(20+rand.IntN(31)) * time.Millisecond
		if i%10 == 9 {
			// Writes 20-50 ms apart are coalesced (the store waits for a
			// 200 ms quiet period, at most 1 s): let a reload happen
			// every ten writes besides.
			pause = 300 * time.Millisecond
		}
		time.Sleep(pause)
	}
	wrote := time.Now()
	waitServed(t, p.addr, "a.test", roots, last, 2*time.Second-time.Since(lastWrite))
	took := time.Since(lastWrite)
	// A little more load on the final certificate, then stop.
	time.Sleep(100 * time.Millisecond)
	close(stop)
	wg.Wait()
	p.alive(t)
	time.Sleep(300 * time.Millisecond) // past the last reload
	keepAlive(swaps)

	mu.Lock()
	defer mu.Unlock()
	t.Logf("%d handshakes (%d with TLS 1.2) during %d certificate swaps (%d in place, in two steps) in %v; %d failed; %d distinct certificates served; the last one served %v after it was written",
		handshakes.Load(), tls12.Load(), swaps, inPlace, wrote.Sub(start).Round(time.Millisecond), failed.Load(), len(seen), took.Round(time.Millisecond))
	if n := failed.Load(); n != 0 {
		t.Errorf("%d handshakes or requests failed, e.g.:\n%s", n, strings.Join(errs, "\n"))
	}
	if handshakes.Load() < 100 {
		t.Errorf("only %d handshakes: the load was too light to mean anything", handshakes.Load())
	}
	for raw, n := range seen {
		if !written[raw] {
			c, _ := x509.ParseCertificate([]byte(raw))
			t.Errorf("served %d times a certificate never written: %s", n, certString(c))
		}
	}
	if len(seen) < 1+swaps/10 {
		t.Errorf("only %d distinct certificates served over %d swaps: reloads are not happening under load", len(seen), swaps)
	}
	if out := p.stderr.String(); strings.Contains(out, "level=ERROR") {
		t.Errorf("edge logged an error:\n%s", out)
	}
}

// TestE2ETLSLateDirectory checks that a host directory created after start
// is served within 5 s; before, the host gets the fallback.
func TestE2ETLSLateDirectory(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name      string
		certsPath bool // certsPath exists at start
	}{
		{"host directory created", true},
		{"certs path created", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newCertFixture(t)
			if tt.certsPath {
				f.write(t, "a.test", "certs/a.test", "a.test")
			}
			p := startEdge(t, f.dir, oneHostConfig, "")
			if got, err := served(p.addr, "b.test", nil, 0); err != nil || !isFallback(got) {
				t.Fatalf("b.test before its directory exists: %s, %v; want the fallback", certString(got), err)
			}
			// Give the watcher time to settle on the missing directory, so
			// that this is not just a load racing the start.
			time.Sleep(300 * time.Millisecond)
			c := f.write(t, "b.test", "certs/b.test", "b.test")
			took := waitServed(t, p.addr, "b.test", f.ca.Pool(), c, 5*time.Second)
			t.Logf("b.test served %v after its directory was created", took.Round(time.Millisecond))
			p.alive(t)
			if strings.Contains(p.stderr.String(), "level=ERROR") {
				t.Errorf("edge logged an error:\n%s", p.stderr.String())
			}
		})
	}
}

// TestE2ETLSBrokenFile checks that a broken new certificate file keeps the
// old one serving, and that a good one after it is picked up.
func TestE2ETLSBrokenFile(t *testing.T) {
	t.Parallel()
	f := newCertFixture(t)
	old := f.write(t, "a.test", "certs/a.test", "a.test")
	p := startEdge(t, f.dir, oneHostConfig, "")
	roots := f.ca.Pool()
	waitServed(t, p.addr, "a.test", roots, old, time.Second)
	dir := filepath.Join(f.dir, "certs", "a.test")

	broken := []struct {
		name string
		file string
		data []byte
	}{
		{"garbage chain", "fullchain.pem", []byte("this is not a certificate\n")},
		{"truncated chain", "fullchain.pem", pemChain(f.ca.Leaf(t, "a.test"))[:300]},
		{"garbage key", "privkey.pem", []byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")},
	}
	for _, b := range broken {
		logBefore := strings.Count(p.stderr.String(), "keeping the current one")
		if err := os.WriteFile(filepath.Join(dir, b.file), b.data, 0o600); err != nil {
			t.Fatal(err)
		}
		// The reload is tried (and logged) after the debounce.
		deadline := time.Now().Add(3 * time.Second)
		for strings.Count(p.stderr.String(), "keeping the current one") == logBefore {
			if time.Now().After(deadline) {
				t.Fatalf("%s: no warning about the broken file within 3s:\n%s", b.name, p.stderr.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
		p.alive(t)
		for range 3 {
			got, err := served(p.addr, "a.test", roots, 0)
			if err != nil || !bytes.Equal(got.Raw, old.Leaf.Raw) {
				t.Fatalf("%s: served %s, %v; want the old certificate", b.name, certString(got), err)
			}
		}
		tlsbackendtest.WriteCertPEM(t, dir, old) // repair, unchanged
		time.Sleep(400 * time.Millisecond)
	}
	// A good new pair is picked up.
	c := f.write(t, "a.test", "certs/a.test", "a.test")
	took := waitServed(t, p.addr, "a.test", roots, c, 2*time.Second)
	t.Logf("a new good pair served %v after it was written", took.Round(time.Millisecond))
	if out := p.stderr.String(); strings.Contains(out, "level=ERROR") {
		t.Errorf("edge logged an error:\n%s", out)
	}
}
