package proxy

import (
	"bufio"
	"bytes"
	"net"
	"net/netip"
	"testing"

	"github.com/pires/go-proxyproto"
)

func TestAppendProxyHeader(t *testing.T) {
	t.Parallel()
	ap := netip.MustParseAddrPort
	cases := []struct {
		name     string
		src, dst netip.AddrPort
		v1       string // hand-written
		family   proxyproto.AddressFamilyAndProtocol
		wantSrc  netip.AddrPort // as the reader gives it back
		wantDst  netip.AddrPort
	}{
		{name: "IPv4", src: ap("192.0.2.1:56324"), dst: ap("198.51.100.2:443"),
			v1: "PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\n", family: proxyproto.TCPv4},
		{name: "IPv6", src: ap("[2001:db8::1]:1000"), dst: ap("[2001:db8::2]:80"),
			v1: "PROXY TCP6 2001:db8::1 2001:db8::2 1000 80\r\n", family: proxyproto.TCPv6},
		{name: "IPv4-mapped both", src: ap("[::ffff:192.0.2.1]:1"), dst: ap("[::ffff:192.0.2.2]:2"),
			v1: "PROXY TCP4 192.0.2.1 192.0.2.2 1 2\r\n", family: proxyproto.TCPv4,
			wantSrc: ap("192.0.2.1:1"), wantDst: ap("192.0.2.2:2")},
		{name: "mixed families", src: ap("192.0.2.1:5"), dst: ap("[2001:db8::2]:80"),
			v1: "PROXY TCP6 ::ffff:192.0.2.1 2001:db8::2 5 80\r\n", family: proxyproto.TCPv6,
			wantSrc: ap("[::ffff:192.0.2.1]:5")},
		{name: "zone dropped", src: ap("[fe80::1%eth0]:5"), dst: ap("[fe80::2%eth0]:6"),
			v1: "PROXY TCP6 fe80::1 fe80::2 5 6\r\n", family: proxyproto.TCPv6,
			wantSrc: ap("[fe80::1]:5"), wantDst: ap("[fe80::2]:6")},
		{name: "Unix client", dst: ap("127.0.0.1:80"), v1: "PROXY UNKNOWN\r\n", family: proxyproto.UNSPEC},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			if got := AppendProxyHeader(nil, ProxyOff, c.src, c.dst); len(got) != 0 {
				t.Fatalf("ProxyOff appended %q", got)
			}
			v1 := AppendProxyHeader([]byte("x"), ProxyV1, c.src, c.dst)
			if string(v1) != "x"+c.v1 {
				t.Fatalf("v1 %q, want %q", v1[1:], c.v1)
			}
			wantSrc, wantDst := c.wantSrc, c.wantDst
			if !wantSrc.IsValid() {
				wantSrc = c.src
			}
			if !wantDst.IsValid() {
				wantDst = c.dst
			}
			for _, v := range []ProxyProtocol{ProxyV1, ProxyV2} {
				hdr := AppendProxyHeader(nil, v, c.src, c.dst)
				body := []byte("GET / HTTP/1.1\r\n")
				br := bufio.NewReader(bytes.NewReader(append(hdr, body...)))
				h, err := proxyproto.Read(br)
				if err != nil {
					t.Fatalf("%v: go-proxyproto cannot read %q: %v", v, hdr, err)
				}
				if rest, _ := br.Peek(br.Buffered()); !bytes.Equal(rest, body) {
					t.Fatalf("%v: header length: left %q", v, rest)
				}
				if int(h.Version) != int(v) || h.TransportProtocol != c.family {
					t.Fatalf("%v: version %d, family %v", v, h.Version, h.TransportProtocol)
				}
				if c.family == proxyproto.UNSPEC {
					if !h.Command.IsLocal() && v == ProxyV2 {
						t.Fatalf("v2 command %v, want LOCAL", h.Command)
					}
					continue
				}
				if !h.Command.IsProxy() {
					t.Fatalf("%v: command %v", v, h.Command)
				}
				src, dst, ok := h.TCPAddrs()
				if !ok || !sameAddrPort(src, wantSrc) || !sameAddrPort(dst, wantDst) {
					t.Fatalf("%v: read %v -> %v, want %v -> %v", v, src, dst, wantSrc, wantDst)
				}
				// Byte for byte what go-proxyproto itself writes.
				ref, err := proxyproto.HeaderProxyFromAddrs(byte(v), net.TCPAddrFromAddrPort(wantSrc), net.TCPAddrFromAddrPort(wantDst)).Format()
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(ref, hdr) {
					t.Fatalf("%v: %q, go-proxyproto writes %q", v, hdr, ref)
				}
			}
		})
	}
}

// sameAddrPort compares a reader's address with want, IPv4-mapped IPv6
// addresses matching their IPv4 form when want is IPv6-mapped.
func sameAddrPort(a *net.TCPAddr, want netip.AddrPort) bool {
	got := a.AddrPort()
	if want.Addr().Is4In6() {
		return netip.AddrPortFrom(netip.AddrFrom16(got.Addr().As16()), got.Port()) == want
	}
	return netip.AddrPortFrom(got.Addr().Unmap(), got.Port()) == want
}
