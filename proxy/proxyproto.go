package proxy

import (
	"encoding/binary"
	"net/netip"
	"strconv"

	"github.com/pires/go-proxyproto"
)

// AppendProxyHeader appends to dst the PROXY protocol header of version v
// (https://www.haproxy.org/download/3.4/doc/proxy-protocol.txt) for a TCP
// connection from src (the client) to dstAddr (the address it connected
// to); with ProxyOff it appends nothing. Both addresses IPv4 (IPv4-mapped
// IPv6 ones count as IPv4) give TCP4; otherwise TCP6, an IPv4 address
// being sent as IPv4-mapped IPv6. An invalid address (a client on a Unix
// socket) gives v1's "PROXY UNKNOWN" or v2's LOCAL command. Zones are
// dropped.
//
// The signatures and the v2 command and family bytes are go-proxyproto's
// (whose reader the tests check the output with); the header is written
// here so that AppendProxyHeader allocates nothing when dst has room
// enough (108 bytes is always enough).
func AppendProxyHeader(dst []byte, v ProxyProtocol, src, dstAddr netip.AddrPort) []byte {
	if v != ProxyV1 && v != ProxyV2 {
		return dst
	}
	sip, dip := src.Addr().Unmap().WithZone(""), dstAddr.Addr().Unmap().WithZone("")
	known := sip.IsValid() && dip.IsValid()
	v4 := known && sip.Is4() && dip.Is4()
	if known && !v4 {
		sip, dip = netip.AddrFrom16(sip.As16()), netip.AddrFrom16(dip.As16())
	}
	if v == ProxyV1 {
		dst = append(dst, proxyproto.SIGV1...)
		switch {
		case !known:
			return append(dst, " UNKNOWN\r\n"...)
		case v4:
			dst = append(dst, " TCP4 "...)
		default:
			dst = append(dst, " TCP6 "...)
		}
		dst = sip.AppendTo(dst)
		dst = append(dst, ' ')
		dst = dip.AppendTo(dst)
		dst = append(dst, ' ')
		dst = strconv.AppendUint(dst, uint64(src.Port()), 10)
		dst = append(dst, ' ')
		dst = strconv.AppendUint(dst, uint64(dstAddr.Port()), 10)
		return append(dst, "\r\n"...)
	}
	dst = append(dst, proxyproto.SIGV2...)
	switch {
	case !known:
		return append(dst, byte(proxyproto.LOCAL), byte(proxyproto.UNSPEC), 0, 0)
	case v4:
		dst = append(dst, byte(proxyproto.PROXY), byte(proxyproto.TCPv4), 0, 12)
		a, b := sip.As4(), dip.As4()
		dst = append(dst, a[:]...)
		dst = append(dst, b[:]...)
	default:
		dst = append(dst, byte(proxyproto.PROXY), byte(proxyproto.TCPv6), 0, 36)
		a, b := sip.As16(), dip.As16()
		dst = append(dst, a[:]...)
		dst = append(dst, b[:]...)
	}
	dst = binary.BigEndian.AppendUint16(dst, src.Port())
	return binary.BigEndian.AppendUint16(dst, dstAddr.Port())
}
