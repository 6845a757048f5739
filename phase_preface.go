package edge

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"strings"
	"syscall"
	"unsafe"

	"github.com/edge-rt/edge/proxy"
	"github.com/edge-rt/edge/sni"
	proxyproto "github.com/pires/go-proxyproto"
	"golang.org/x/sys/unix"
)

// The preface phase: what a listener reads before HTTP or TLS. A listener
// behind a load balancer reads the PROXY protocol header (v1 or v2) that
// carries the real client address; a TLS listener with passthrough hosts
// reads the ClientHello and sends a connection naming one of them to its
// backends undecrypted (the bytes read are replayed to the backend, or to
// the TLS library when edge terminates the connection).

// AcceptProxyProtocol makes the listener read a PROXY protocol header (v1
// or v2, as HAProxy sends with send-proxy / send-proxy-v2) first on every
// connection, and use the client address it carries (routes, logs,
// X-Forwarded-For, a PROXY header sent on to a backend). Connections from
// a source outside trust are refused; a trusted source that sends no valid
// header is refused too. A LOCAL header (a health check) keeps the
// connection's own address. Call before Start.
func (l *Listener) AcceptProxyProtocol(trust ...netip.Prefix) *Listener {
	l.ppTrust = append([]netip.Prefix(nil), trust...)
	l.ppOn = true
	return l
}

// Passthrough sends TLS connections whose ClientHello names host ("a.com",
// or "*.a.com" for one or more labels) to r's backends without decrypting
// them: the TLS session is between the client and the backend. Hosts the
// listener does not pass through are terminated as usual, on the same
// port. r's Mode does not apply (a passthrough is always a tunnel); its
// ProxyProtocol does (with the real client address). It calls r.Init and
// panics if r is invalid. Call before Start, after TLS.
func (l *Listener) Passthrough(host string, r *proxy.Route) *Listener {
	if err := r.Init(); err != nil {
		panic(err)
	}
	l.pass = append(l.pass, passthrough{host: strings.ToLower(host), r: r})
	return l
}

type passthrough struct {
	host string
	r    *proxy.Route
}

// passthroughFor returns the route passing name through, or nil.
func (l *Listener) passthroughFor(name string) *proxy.Route {
	name = strings.TrimSuffix(strings.ToLower(name), ".")
	for _, p := range l.pass {
		if p.host == name {
			return p.r
		}
		if rest, ok := strings.CutPrefix(p.host, "*"); ok && len(name) > len(rest) && strings.HasSuffix(name, rest) {
			return p.r
		}
	}
	return nil
}

// passthroughRoutes lists the listener's passthrough routes.
func (l *Listener) passthroughRoutes() []*proxy.Route {
	var rs []*proxy.Route
	for _, p := range l.pass {
		rs = append(rs, p.r)
	}
	return rs
}

// preface is what a connection read before its protocol starts.
type preface struct {
	buf       []byte
	proxyDone bool // the PROXY header was read (or none is expected)
}

// needsPreface reports whether connections of l start in the preface phase.
func (l *Listener) needsPreface() bool { return l.ppOn || len(l.pass) > 0 && l.tls != nil }

// trusted reports whether a connection from remote may send a PROXY header.
func (l *Listener) trusted(remote netip.AddrPort) bool {
	if !remote.IsValid() {
		return true // a Unix-socket listener: its permissions decide
	}
	a := remote.Addr().Unmap()
	for _, p := range l.ppTrust {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// maxPreface bounds the preface: the largest PROXY v2 header and the
// largest ClientHello.
const maxPreface = 16 + 4096 + sni.MaxHelloBytes

// preRead reads the preface one buffer at a time and goes on once it is
// complete.
func (c *conn) preRead() {
	w := c.w
	p := c.pre
	room := maxPreface - len(p.buf)
	if room <= 0 {
		c.close(reasonBadRequest)
		return
	}
	r, _, e := syscall.RawSyscall(unix.SYS_READ, uintptr(c.fd), uintptr(unsafe.Pointer(&w.rbuf[0])), uintptr(min(room, len(w.rbuf))))
	switch {
	case e == unix.EAGAIN || e == unix.EINTR:
		return
	case e != 0:
		c.close(reasonReadError)
		return
	case r == 0:
		c.close(reasonPeer)
		return
	}
	w.stats.bytesIn.Add(uint64(r))
	p.buf = append(p.buf, w.rbuf[:r]...)
	c.preAdvance()
}

var errNoProxyHeader = errors.New("edge: no PROXY protocol header")

// preAdvance goes as far as the preface read so far allows.
func (c *conn) preAdvance() {
	w := c.w
	p := c.pre
	if !p.proxyDone {
		n, err := proxyHeaderLen(p.buf)
		if err == nil && n > 0 {
			err = c.applyProxyHeader(p.buf[:n])
		}
		if err != nil {
			if w.srv.cfg.Debug {
				w.srv.log.Debug("edge: proxy protocol", "remote", c.remote, "err", err)
			}
			c.close(reasonBadRequest)
			return
		}
		if n == 0 || c.closed {
			return
		}
		p.buf = p.buf[n:]
		p.proxyDone = true
	}
	if len(c.l.pass) > 0 && c.l.tls != nil {
		if len(p.buf) == 0 {
			return
		}
		h, err := sni.ParseClientHello(p.buf)
		if err == sni.ErrNeedMore {
			return
		}
		if err == nil {
			if r := c.l.passthroughFor(h.ServerName); r != nil {
				first := p.buf
				c.pre = nil
				c.sni = strings.ToLower(h.ServerName)
				c.startTunnel(r, first)
				return
			}
		}
		// Not passed through (or not a hello edge can read: the TLS
		// library answers it).
	}
	data := p.buf
	c.pre = nil
	if c.l.tls != nil {
		if !c.startHandshake(data) {
			c.close(reasonShutdown)
			return
		}
		ev := c.events
		c.events = 0
		c.setEvents(ev)
		c.moveTo(&w.handshakes)
		if c.ss != nil && len(data) > 0 {
			c.feedHandshake(data) // the bytes read already: no readiness will come for them
		}
		return
	}
	c.moveTo(&w.fresh)
	if len(data) > 0 {
		c.run(w.rbuf[:copy(w.rbuf, data)])
	}
}

// proxyHeaderLen returns the length of the PROXY header at the start of
// b, 0 if b is an incomplete one, or an error if b starts with none.
func proxyHeaderLen(b []byte) (int, error) {
	v1 := []byte("PROXY ")
	v2 := []byte("\r\n\r\n\x00\r\nQUIT\n")
	switch {
	case bytes.HasPrefix(b, v1) || bytes.HasPrefix(v1, b):
		if i := bytes.Index(b, []byte("\r\n")); i >= 0 {
			return i + 2, nil
		}
		if len(b) >= 107 { // the longest v1 line
			return 0, errNoProxyHeader
		}
		return 0, nil
	case bytes.HasPrefix(b, v2) || bytes.HasPrefix(v2, b):
		if len(b) < 16 {
			return 0, nil
		}
		n := 16 + int(binary.BigEndian.Uint16(b[14:16]))
		if n > 16+4096 {
			return 0, errNoProxyHeader
		}
		if len(b) < n {
			return 0, nil
		}
		return n, nil
	}
	return 0, errNoProxyHeader
}

// applyProxyHeader parses a complete PROXY header and takes the client
// address it carries.
func (c *conn) applyProxyHeader(b []byte) error {
	h, err := proxyproto.Read(bufio.NewReaderSize(bytes.NewReader(b), max(len(b), 16)))
	if err != nil {
		return err
	}
	if !h.Command.IsProxy() {
		return nil // LOCAL: the connection's own address
	}
	a, ok := h.SourceAddr.(*net.TCPAddr)
	if !ok {
		return nil // UNSPEC or a Unix address: nothing better to use
	}
	ap := a.AddrPort()
	ap = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	s := c.w.srv
	if s.perAddr != nil {
		if c.remote.IsValid() {
			s.perAddr.release(c.remote.Addr())
		}
		if !s.perAddr.acquire(ap.Addr()) {
			c.remote = netip.AddrPort{}
			c.close(reasonBadRequest)
			return nil
		}
	}
	c.remote = ap
	return nil
}

// startTunnel forwards the connection, from its first bytes on, to r's
// backends unchanged (SNI passthrough); it closes the connection when no
// backend can be reached.
func (c *conn) startTunnel(r *proxy.Route, first []byte) {
	c.px = &proxyConn{r: r, tunnel: true, raw: true, first: first, retry: true, bodyDone: true}
	if !c.pxOpen(nil) {
		c.px = nil
		c.close(reasonReadError)
		return
	}
	c.pxEvents()
}
