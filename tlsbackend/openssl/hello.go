//go:build openssl

package openssl

import (
	"crypto/tls"
	"slices"
	"strings"
)

// TLS extension numbers read from the ClientHello.
const (
	extServerName        = 0
	extSupportedGroups   = 10
	extSignatureAlgs     = 13
	extALPN              = 16
	extSupportedVersions = 43
)

// parseSNI returns the host name of a server_name extension, lower case,
// "" if there is none or the extension is malformed.
func parseSNI(b []byte) string {
	list, ok := vec16(b)
	if !ok {
		return ""
	}
	for len(list) >= 3 {
		typ := list[0]
		n := int(list[1])<<8 | int(list[2])
		if len(list) < 3+n {
			return ""
		}
		if typ == 0 {
			return strings.ToLower(string(list[3 : 3+n]))
		}
		list = list[3+n:]
	}
	return ""
}

// parseALPN returns the protocols of an ALPN extension, nil if malformed.
func parseALPN(b []byte) []string {
	list, ok := vec16(b)
	if !ok {
		return nil
	}
	var protos []string
	for len(list) > 0 {
		n := int(list[0])
		if n == 0 || len(list) < 1+n {
			return nil
		}
		protos = append(protos, string(list[1:1+n]))
		list = list[1+n:]
	}
	return protos
}

// vec16 returns the body of a vector with a 2-byte length that fills b.
func vec16(b []byte) ([]byte, bool) {
	if len(b) < 2 || int(b[0])<<8|int(b[1]) != len(b)-2 {
		return nil, false
	}
	return b[2:], true
}

// uint16s parses a list of 2-byte values with a length prefix of lenBytes
// (1 or 2) bytes; nil if malformed.
func uint16s(b []byte, lenBytes int) []uint16 {
	if len(b) < lenBytes {
		return nil
	}
	n := int(b[0])
	if lenBytes == 2 {
		n = n<<8 | int(b[1])
	}
	b = b[lenBytes:]
	if n != len(b) || n%2 != 0 {
		return nil
	}
	out := make([]uint16, 0, n/2)
	for i := 0; i < n; i += 2 {
		out = append(out, uint16(b[i])<<8|uint16(b[i+1]))
	}
	return out
}

// helloInfo is the part of a ClientHello that tells whether the client
// can take an ECDSA P-256 certificate.
type helloInfo struct {
	legacyVersion uint16
	versions      []uint16 // supported_versions, nil if absent
	suites        []uint16
	sigAlgs       []uint16 // nil if absent
	haveSigAlgs   bool
	groups        []uint16 // nil if absent
	haveGroups    bool
}

// supportsECDSA reports whether the client accepts an ECDSA P-256
// certificate under the server's settings: with TLS 1.3, a P-256 ECDSA
// signature scheme; with TLS 1.2, an ECDSA signature scheme (any, when
// the client sends none), the P-256 group and an ECDHE-ECDSA suite the
// server allows. This mirrors crypto/tls's SupportsCertificate.
func (h *helloInfo) supportsECDSA(st *settings) bool {
	if st.maxV >= tls.VersionTLS13 && slices.Contains(h.versions, tls.VersionTLS13) {
		return slices.Contains(h.sigAlgs, uint16(tls.ECDSAWithP256AndSHA256))
	}
	if st.minV > tls.VersionTLS12 {
		return false
	}
	if h.haveSigAlgs && !slices.ContainsFunc(h.sigAlgs, func(s uint16) bool {
		return s == uint16(tls.ECDSAWithP256AndSHA256) || s == uint16(tls.ECDSAWithP384AndSHA384) ||
			s == uint16(tls.ECDSAWithP521AndSHA512) || s == uint16(tls.ECDSAWithSHA1)
	}) {
		return false
	}
	if h.haveGroups && !slices.Contains(h.groups, uint16(tls.CurveP256)) {
		return false
	}
	return slices.ContainsFunc(h.suites, func(id uint16) bool {
		return slices.Contains(ecdsaSuites, id) && slices.Contains(st.suites, id)
	})
}
