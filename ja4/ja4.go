// Package ja4 computes JA4 TLS client fingerprints (FoxIO's published JA4
// definition) from a ClientHello decoded by package sni.
//
// Typical usage:
//
//	var h sni.ClientHello
//	if err := h.Parse(peeked); err == nil {
//		fp := ja4.Fingerprint(&h, ja4.TCP) // "t13d1516h2_8daaf6152771_e5627efa2ab1"
//	}
//
// A fingerprint has three parts joined by "_":
//   - a: protocol (t, q or d), the highest offered TLS version (13, 12, 11,
//     10, s3, s2, d1, d2, d3 or 00), d when a server name is sent else i,
//     the two-digit counts (at most 99) of cipher suites and extensions,
//     and the first and last characters of the first ALPN protocol (00 when
//     none; the first and last hex digits when either is not alphanumeric);
//   - b: the first 12 hex digits of SHA-256 over the cipher suites as
//     4-digit lower-case hex, sorted, joined by ",";
//   - c: the same over the extension types sorted, without server_name and
//     ALPN, then "_" and the signature algorithms in the order sent (the
//     "_" and list omitted when there are none).
//
// GREASE values are ignored everywhere. An empty list hashes to
// "000000000000".
package ja4

import (
	"crypto/sha256"
	"encoding/hex"
	"slices"

	"github.com/edge-rt/edge/sni"
)

// Protocol is the transport the ClientHello came over: the first character
// of the fingerprint.
type Protocol byte

// Transports.
const (
	TCP  Protocol = 't'
	QUIC Protocol = 'q'
	DTLS Protocol = 'd'
)

// Fingerprint returns the JA4 fingerprint of h, with hashed lists.
func Fingerprint(h *sni.ClientHello, p Protocol) string {
	var buf [36]byte
	return string(Append(buf[:0], h, p))
}

// Append appends the JA4 fingerprint of h to dst and returns it. With a
// dst of capacity 36 it does not allocate.
func Append(dst []byte, h *sni.ClientHello, p Protocol) []byte {
	dst = appendA(dst, h, p)
	dst = append(dst, '_')
	var s scratch
	dst = appendHash(dst, s.ciphers(h))
	dst = append(dst, '_')
	dst = appendHash(dst, s.extensions(h))
	return dst
}

// Raw returns the unhashed form (FoxIO's "ja4_r"): the same three parts
// with the sorted lists written out instead of hashed.
func Raw(h *sni.ClientHello, p Protocol) string {
	dst := appendA(nil, h, p)
	dst = append(dst, '_')
	var s scratch
	dst = append(dst, s.ciphers(h)...)
	dst = append(dst, '_')
	dst = append(dst, s.extensions(h)...)
	return string(dst)
}

// scratch holds the lists' text without heap allocation for usual hellos.
type scratch struct {
	vals [128]uint16
	text [1024]byte
}

func (s *scratch) ciphers(h *sni.ClientHello) []byte {
	v := s.vals[:0]
	for _, c := range h.CipherSuites {
		if !sni.IsGREASE(c) {
			v = append(v, c)
		}
	}
	slices.Sort(v)
	return appendList(s.text[:0], v)
}

func (s *scratch) extensions(h *sni.ClientHello) []byte {
	v := s.vals[:0]
	for _, e := range h.Extensions {
		if !sni.IsGREASE(e) && e != sni.ExtServerName && e != sni.ExtALPN {
			v = append(v, e)
		}
	}
	slices.Sort(v)
	t := appendList(s.text[:0], v)
	first := true
	for _, a := range h.SignatureAlgorithms {
		if sni.IsGREASE(a) {
			continue
		}
		if first {
			t = append(t, '_')
			first = false
		} else {
			t = append(t, ',')
		}
		t = appendHex4(t, a)
	}
	return t
}

func appendList(dst []byte, v []uint16) []byte {
	for i, x := range v {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendHex4(dst, x)
	}
	return dst
}

const hexDigits = "0123456789abcdef"

func appendHex4(dst []byte, x uint16) []byte {
	return append(dst, hexDigits[x>>12], hexDigits[x>>8&0xf], hexDigits[x>>4&0xf], hexDigits[x&0xf])
}

func appendHash(dst, text []byte) []byte {
	if len(text) == 0 {
		return append(dst, "000000000000"...)
	}
	sum := sha256.Sum256(text)
	var out [64]byte
	hex.Encode(out[:], sum[:])
	return append(dst, out[:12]...)
}

func appendCount(dst []byte, n int) []byte {
	n = min(n, 99)
	return append(dst, byte('0'+n/10), byte('0'+n%10))
}

func appendA(dst []byte, h *sni.ClientHello, p Protocol) []byte {
	dst = append(dst, byte(p))
	dst = append(dst, versionCode(h.MaxVersion())...)
	if h.ServerName != "" {
		dst = append(dst, 'd')
	} else {
		dst = append(dst, 'i')
	}
	n := 0
	for _, c := range h.CipherSuites {
		if !sni.IsGREASE(c) {
			n++
		}
	}
	dst = appendCount(dst, n)
	n = 0
	for _, e := range h.Extensions {
		if !sni.IsGREASE(e) {
			n++
		}
	}
	dst = appendCount(dst, n)
	return appendALPN(dst, h.ALPN)
}

func versionCode(v uint16) string {
	switch v {
	case 0x0304:
		return "13"
	case 0x0303:
		return "12"
	case 0x0302:
		return "11"
	case 0x0301:
		return "10"
	case 0x0300:
		return "s3"
	case 0x0002:
		return "s2"
	case 0xfeff:
		return "d1"
	case 0xfefd:
		return "d2"
	case 0xfefc:
		return "d3"
	}
	return "00"
}

func isAlnum(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

func appendALPN(dst []byte, alpn []string) []byte {
	if len(alpn) == 0 || alpn[0] == "" {
		return append(dst, "00"...)
	}
	p := alpn[0]
	first, last := p[0], p[len(p)-1]
	if isAlnum(first) && isAlnum(last) {
		return append(dst, first, last)
	}
	return append(dst, hexDigits[first>>4], hexDigits[last&0xf])
}
