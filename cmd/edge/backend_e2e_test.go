package main

import (
	"crypto/tls"
	"regexp"
	"strings"
	"testing"
)

// TestE2EBackend runs the edge binary, built with this test's TLS backend
// (backend_*.go), and checks that its startup log names the backend and
// the library, and that openssl s_client meets the backend's policy: what
// the backend says it lacks (X25519 and ChaCha20-Poly1305 in FIPS mode,
// through the conformance suite's optional interfaces) is refused, the
// rest negotiated.
func TestE2EBackend(t *testing.T) {
	t.Parallel()
	needProg(t, "openssl")
	f := newCertFixture(t)
	f.write(t, "a.test", "certs/a.test", "a.test")
	p := startEdge(t, f.dir, oneHostConfig, "") // tls_e2e_test.go
	b := tlsBackend()
	log := p.stderr.String()
	wantLog := regexp.MustCompile(`msg="edge: starting" .*tls=` + regexp.QuoteMeta(b.Name()) + ` tlsLibrary="?` + regexp.QuoteMeta(tlsLibrary()) + `"? `)
	if !wantLog.MatchString(log) {
		t.Errorf("startup log does not name the backend %s (%s):\n%s", b.Name(), tlsLibrary(), log)
	}
	curveOK := func(id tls.CurveID) bool {
		cs, ok := b.(interface{ SupportsCurve(tls.CurveID) bool })
		return !ok || cs.SupportsCurve(id)
	}
	suiteOK := func(id uint16) bool {
		cs, ok := b.(interface{ SupportsCipherSuite(uint16) bool })
		return !ok || cs.SupportsCipherSuite(id)
	}
	tests := []struct {
		name string
		args []string
		ok   bool
	}{
		{"TLS13", []string{"-tls1_3"}, true},
		{"TLS12/AES128GCM", []string{"-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-GCM-SHA256"}, true},
		{"TLS13/P256", []string{"-tls1_3", "-groups", "P-256"}, true},
		{"TLS13/X25519", []string{"-tls1_3", "-groups", "X25519"}, curveOK(tls.X25519)},
		{"TLS12/ChaCha20", []string{"-tls1_2", "-cipher", "ECDHE-ECDSA-CHACHA20-POLY1305"}, suiteOK(tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256)},
		{"TLS13/ChaCha20", []string{"-tls1_3", "-ciphersuites", "TLS_CHACHA20_POLY1305_SHA256"}, suiteOK(tls.TLS_CHACHA20_POLY1305_SHA256)},
		{"TLS11", []string{"-tls1_1", "-cipher", "ALL:@SECLEVEL=0"}, false},
		{"TLS12/CBC", []string{"-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-SHA"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := sClient(t, p.addr, append([]string{"-servername", "a.test", "-CAfile", f.caFile}, tt.args...)...)
			if r.ok != tt.ok {
				t.Errorf("%s backend: handshake ok = %v, want %v\n%s", b.Name(), r.ok, tt.ok, r.out)
			}
			if r.ok && !strings.Contains(r.out, "Verify return code: 0 (ok)") {
				t.Errorf("certificate not verified:\n%s", r.out)
			}
		})
	}
}
