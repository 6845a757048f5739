//go:build openssl

package openssl

import (
	"bytes"
	"crypto/tls"
	"slices"
	"strings"
	"testing"

	"github.com/edge-rt/edge/tlsbackend"
)

func TestParseExtensions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		sni   []byte
		want  string
		alpn  []byte
		proto []string
	}{
		{name: "Name", sni: []byte("\x00\x09\x00\x00\x06A.Test"), want: "a.test"},
		{name: "ShortName", sni: []byte("\x00\x09\x00\x00\x07A.Test"), want: ""},
		{name: "Empty", sni: nil, want: "", alpn: nil, proto: nil},
		{name: "ALPN", alpn: []byte("\x00\x0c\x02h2\x08http/1.1"), proto: []string{"h2", "http/1.1"}},
		{name: "ALPNEmptyProto", alpn: []byte("\x00\x03\x02h2\x00"), proto: nil},
		{name: "ALPNBadLength", alpn: []byte("\x00\x04\x02h2"), proto: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := parseSNI(tt.sni); got != tt.want {
				t.Errorf("parseSNI = %q, want %q", got, tt.want)
			}
			if got := parseALPN(tt.alpn); !slices.Equal(got, tt.proto) {
				t.Errorf("parseALPN = %q, want %q", got, tt.proto)
			}
		})
	}
}

func TestSupportsECDSA(t *testing.T) {
	t.Parallel()
	st, err := check(&tlsbackend.Config{GetCertificate: getNone})
	if err != nil {
		t.Fatal(err)
	}
	ecdsaSuite := []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256}
	rsaSuite := []uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256}
	p256 := uint16(tls.ECDSAWithP256AndSHA256)
	pss := uint16(tls.PSSWithSHA256)
	tests := []struct {
		name string
		h    helloInfo
		want bool
	}{
		{name: "TLS13", h: helloInfo{versions: []uint16{tls.VersionTLS13}, sigAlgs: []uint16{pss, p256}, haveSigAlgs: true}, want: true},
		{name: "TLS13RSAOnly", h: helloInfo{versions: []uint16{tls.VersionTLS13}, sigAlgs: []uint16{pss}, haveSigAlgs: true}},
		{name: "TLS12", h: helloInfo{suites: ecdsaSuite, sigAlgs: []uint16{p256}, haveSigAlgs: true}, want: true},
		{name: "TLS12NoSigAlgs", h: helloInfo{suites: ecdsaSuite}, want: true},
		{name: "TLS12RSASuites", h: helloInfo{suites: rsaSuite}},
		{name: "TLS12NoP256", h: helloInfo{suites: ecdsaSuite, groups: []uint16{uint16(tls.X25519)}, haveGroups: true}},
	}
	for _, tt := range tests {
		if got := tt.h.supportsECDSA(st); got != tt.want {
			t.Errorf("%s: supportsECDSA = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// FuzzExtensions feeds ClientHello extension bodies (untrusted) to the
// parsers: no panic, a lower-case name, and an ALPN list that encodes back
// to its input.
func FuzzExtensions(f *testing.F) {
	f.Add([]byte("\x00\x09\x00\x00\x06A.Test"))
	f.Add([]byte("\x00\x0c\x02h2\x08http/1.1"))
	f.Add([]byte("\x03\x04\x03\x03"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if name := parseSNI(b); name != strings.ToLower(name) {
			t.Errorf("parseSNI = %q, not lower case", name)
		}
		if protos := parseALPN(b); protos != nil {
			var enc []byte
			for _, p := range protos {
				if p == "" {
					t.Fatal("empty protocol")
				}
				enc = append(append(enc, byte(len(p))), p...)
			}
			if !bytes.Equal(enc, b[2:]) {
				t.Errorf("parseALPN(%x) = %q does not encode back", b, protos)
			}
		}
		for _, n := range []int{1, 2} {
			if v := uint16s(b, n); v != nil && 2*len(v)+n != len(b) {
				t.Errorf("uint16s(%x, %d) = %v: wrong length", b, n, v)
			}
		}
	})
}
