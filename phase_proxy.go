package edge

import (
	"bytes"
	"net/netip"
	"time"

	"github.com/edge-rt/edge/http1"
	"github.com/edge-rt/edge/proxy"
	"golang.org/x/sys/unix"
)

// The proxy phase: a request (request mode) or the rest of the connection
// (pin mode, or after a 101) forwarded to a backend whose connection sits
// on the same loop (phase_upstream.go). Both directions are bounded: the
// client is not read while the backend has not taken what it was sent,
// and the backend is not read while the client has output waiting. In
// request mode the response is framed (proxy.Framer) to find its end, the
// backend connection goes back to its pool, and the client's next
// request is routed again.

// proxyRoute forwards requests to a proxy.Route's backends (Routes.Proxy).
type proxyRoute struct{ r *proxy.Route }

func (k proxyRoute) serve(c *conn, head, rest []byte) ([]byte, bool) {
	return c.startProxy(k.r, head, rest), true
}

// proxyConn is a client connection's state in the proxy phase.
type proxyConn struct {
	r      *proxy.Route
	rt     *route // the route, for observers
	up     *upstream
	tunnel bool // bytes flow unchanged both ways (pin mode, or after a 101)
	raw    bool // no HTTP at all (SNI passthrough): errors close the connection
	upgr   bool // request mode: the request asked for an upgrade (a 101 may come)

	first    []byte // what opened the exchange (PROXY header aside): resent on a retry
	retry    bool   // first is all the request: it can go to another connection
	tried    *proxy.Backend
	tries    int
	bodyLeft int64 // request mode: Content-Length bytes still to forward
	chunked  bool
	dec      http1.ChunkedDecoder
	bodyDone bool
	bodySize int64
	isHead   bool
	sent     bool // response bytes went to the client: no error answer possible
	cliEOF   bool // tunnel: the client closed its side
	shutCli  bool // tunnel: the client's side was shut down after the backend's EOF

	c2u, u2c *spipe // splicing tunnels: pipes holding bytes in flight
	tlsMore  bool   // TLS: plaintext may wait inside the TLS connection (the last read filled the buffer)
}

// startProxy begins forwarding the request whose head is head; rest is
// the input after it. It returns the input left for the next request.
func (c *conn) startProxy(r *proxy.Route, head, rest []byte) []byte {
	w := c.w
	x := &w.ctx
	req := &x.req
	hasBody := req.ContentLength > 0 || req.Chunked
	c.closeAfter = !req.KeepAlive || w.closing
	c.linger = false
	var b *proxy.Backend
	var extra []byte
	if r.Director != nil {
		preq := proxy.Request{Method: req.MethodName, Target: req.Target, Host: req.Host, Remote: c.remote, TLS: c.tls != nil}
		var status int
		b, extra, status = r.Director(&preq, nil)
		if status >= 400 {
			x.Text(status, http1.StatusText(status)+"\n")
			c.afterHandler(head)
			if hasBody {
				c.closeAfter, c.linger = true, true
				return nil
			}
			return rest
		}
	}
	px := &proxyConn{r: r, rt: x.route, isHead: x.head, tunnel: r.Mode == proxy.ModePin}
	if px.tunnel {
		px.first = make([]byte, 0, len(head)+len(rest))
		px.first = append(append(px.first, head...), rest...)
		rest = nil
		px.bodyDone = true
	} else {
		var err error
		px.first, px.upgr, err = proxy.AppendRequestHead(make([]byte, 0, len(head)+256), head, &proxy.HeadOptions{
			Client: c.remote, TLS: c.tls != nil, ForwardedFor: r.ForwardedFor, Extra: extra})
		if err != nil {
			c.fail(&http1.Error{Status: 400, Reason: err.Error()})
			return nil
		}
		if req.Minor == 0 {
			// An HTTP/1.0 client cannot read a chunked response: asking the
			// backend in HTTP/1.0 rules chunked out (as nginx does always).
			if i := bytes.Index(px.first, []byte(" HTTP/1.1\r\n")); i >= 0 {
				px.first[i+8] = '0'
			}
		}
		px.chunked = req.Chunked
		px.bodyLeft = max(req.ContentLength, 0)
		px.bodyDone = !hasBody
		if hasBody {
			n, err := px.takeBody(rest, w.srv.cfg.MaxBodySize)
			if err != nil {
				c.fail(err)
				return nil
			}
			px.first = append(px.first, rest[:n]...)
			rest = rest[n:]
		}
	}
	px.retry = px.bodyDone
	c.head = append(c.head[:0], head...)
	c.px = px
	if !c.pxOpen(b) {
		c.px = nil
		x.Text(502, "Bad Gateway\n")
		if !px.bodyDone {
			c.closeAfter, c.linger = true, true
			return nil
		}
		return rest
	}
	return rest
}

// responseDeadline is when the response head must have come, for a request
// sent whole at now (0: never).
func (px *proxyConn) responseDeadline(now int64) int64 {
	if px.r.ResponseTimeout < 0 {
		return 0
	}
	return now + int64(px.r.ResponseTimeout)
}

// takeBody reports how many bytes of data belong to the request body
// (request mode), marking the body done when it ended.
func (px *proxyConn) takeBody(data []byte, limit int64) (int, error) {
	if px.bodyDone {
		return 0, nil
	}
	if !px.chunked {
		n := int(min(int64(len(data)), px.bodyLeft))
		px.bodyLeft -= int64(n)
		px.bodyDone = px.bodyLeft == 0
		return n, nil
	}
	used := 0
	for used < len(data) {
		chunk, n, done, err := px.dec.Next(data[used:])
		if err != nil {
			return 0, err
		}
		used += n
		px.bodySize += int64(len(chunk))
		if px.bodySize > limit {
			return 0, errBodyTooLarge
		}
		if done {
			px.bodyDone = true
			break
		}
		if n == 0 {
			break
		}
	}
	return used, nil
}

// pxOpen sends the exchange's first bytes to b (or the balancer's choice),
// on a pooled connection when there is one; a backend refusing at once is
// marked down and the next one tried. It reports false when no backend
// could be reached.
func (c *conn) pxOpen(b *proxy.Backend) bool {
	px := c.px
	w := c.w
	r := px.r
	now := w.loop.Now().UnixNano()
	for ; px.tries <= len(r.Backends()); px.tries++ {
		if b == nil {
			b = r.Pick(now, px.tried)
		}
		if b == nil {
			return false
		}
		var u *upstream
		if !px.tunnel {
			u = w.takeUpstream(b)
		}
		fresh := u == nil
		if fresh {
			var err error
			if u, err = w.dialUpstream(b); err != nil {
				c.pxBackendFailed(b, now)
				px.tried, b = b, nil
				continue
			}
		} else {
			w.stats.upReused.Add(1)
		}
		if !c.pxBegin(u, fresh, now) {
			if fresh {
				c.pxBackendFailed(b, now)
			} else {
				w.stats.upFailures.Add(1)
			}
			px.tried, b = b, nil
			continue
		}
		if !px.retry {
			px.first = nil // the body went on: never resent
		}
		return true
	}
	return false
}

// pxBackendFailed marks b down after a failed connect (passive health).
func (c *conn) pxBackendFailed(b *proxy.Backend, now int64) {
	w := c.w
	w.stats.upFailures.Add(1)
	p := w.srv.pobs
	wasUp := p != nil && b.Up(now)
	b.Fail(now)
	if p != nil {
		p.BackendConnectError(b.String())
		if wasUp && !b.Up(now) {
			p.BackendUp(b.String(), false)
		}
	}
}

// pxRequestSent notes when the request went whole to the backend (for the
// upstream latency observed).
func (c *conn) pxRequestSent(u *upstream) {
	if c.w.srv.pobs != nil {
		u.sent = time.Now().UnixNano()
	}
}

// localAddr is the connection's local address (for a PROXY header).
func (c *conn) localAddr() netip.AddrPort {
	sa, err := unix.Getsockname(c.fd)
	if err != nil {
		return netip.AddrPort{}
	}
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		return netip.AddrPortFrom(netip.AddrFrom4(a.Addr), uint16(a.Port))
	case *unix.SockaddrInet6:
		return netip.AddrPortFrom(netip.AddrFrom16(a.Addr).Unmap(), uint16(a.Port))
	}
	return netip.AddrPort{}
}

// pxConnected runs once the backend connection is up (or was pooled).
func (c *conn) pxConnected(u *upstream) {
	px := c.px
	now := c.w.loop.Now().UnixNano()
	u.deadline = 0
	if !px.tunnel && px.bodyDone {
		u.deadline = px.responseDeadline(now)
		c.pxRequestSent(u)
	}
	u.setEvents(unix.EPOLLIN | unix.EPOLLRDHUP)
	if u.flush() {
		c.pxUpDrained()
	}
}

// pxWantInput reports whether the client's bytes are wanted now.
func (c *conn) pxWantInput() bool {
	px := c.px
	u := px.up
	if u == nil || u.connecting || len(u.out) > 0 || px.c2u != nil || px.u2c != nil {
		return false
	}
	if px.tunnel {
		return !px.cliEOF
	}
	return !px.bodyDone
}

// pxEvents files the client connection for what it waits for next.
func (c *conn) pxEvents() {
	if c.closed || c.blocked() {
		return
	}
	w := c.w
	if c.tlsMore {
		// Set by the round that started the exchange: the proxy phase
		// reads on its own.
		c.px.tlsMore, c.tlsMore = true, false
	}
	if c.px.u2c != nil {
		c.setEvents(unix.EPOLLOUT) // the backend's bytes wait in a pipe
		return
	}
	if c.list != &w.proxied {
		c.moveTo(&w.proxied)
	}
	if c.pxWantInput() {
		c.setEvents(unix.EPOLLIN | unix.EPOLLRDHUP)
		if c.px.tlsMore {
			// Plaintext may wait inside the TLS connection, with no
			// readiness to come for it: read it after the other
			// connections' events (each gets one buffer a round).
			c.px.tlsMore = false
			c.submit(func() {
				if c.px != nil && c.pxWantInput() && !c.blocked() {
					c.pxRead()
				}
			})
		}
		return
	}
	if c.pxHolding() {
		// Waiting for the response: the client's interest stays as it was
		// (no epoll_ctl per request); what it pipelines meanwhile is read
		// into c.in, at most pxHoldIn bytes.
		c.setEvents(unix.EPOLLIN | unix.EPOLLRDHUP)
		return
	}
	c.setEvents(0)
}

// pxHoldIn bounds what a client pipelines while its request is proxied
// that edge reads ahead (the rest waits in the socket).
const pxHoldIn = 16 << 10

// pxHolding reports whether a request-mode exchange waits for its response
// with the client still read (ahead, into c.in).
func (c *conn) pxHolding() bool {
	px := c.px
	return !px.tunnel && px.bodyDone && !px.cliEOF && len(c.in) < pxHoldIn
}

// pxHoldRead reads what a client sent behind a request whose response is
// still to come into c.in (bounded).
func (c *conn) pxHoldRead() {
	w := c.w
	px := c.px
	n, eof, full, ok := c.pxReadClient(pxHoldIn)
	if !ok {
		return
	}
	c.in = append(c.in, w.rbuf[:n]...)
	px.tlsMore = px.tlsMore || full
	if eof {
		// Stop reading ahead; the requests read so far are answered, and
		// the next read after them finds the end again (a FIN or a
		// close_notify stays readable) and closes.
		px.cliEOF = true
	}
	c.pxEvents()
}

// pxUpDrained runs when the backend took everything it was sent.
func (c *conn) pxUpDrained() {
	px := c.px
	u := px.up
	if px.tunnel && px.cliEOF && !u.shutWr && px.c2u == nil {
		u.shutWr = true
		unix.Shutdown(u.fd, unix.SHUT_WR)
	}
	c.pxEvents()
}

// pxEvent handles readiness of the client connection in the proxy phase.
func (c *conn) pxEvent(ev uint32) {
	if px := c.px; px.u2c != nil {
		if ev&(unix.EPOLLOUT|unix.EPOLLERR|unix.EPOLLHUP) == 0 || !c.pxSpliceDrainDown() {
			return
		}
		c.pxAfterOutput()
		return
	}
	if c.blocked() {
		if ev&(unix.EPOLLOUT|unix.EPOLLERR|unix.EPOLLHUP) == 0 {
			return
		}
		if c.flushPending() {
			c.afterOutput()
		}
		return
	}
	if !c.pxWantInput() {
		if ev&(unix.EPOLLERR|unix.EPOLLHUP) != 0 {
			c.close(reasonPeer)
			return
		}
		if ev&(unix.EPOLLIN|unix.EPOLLRDHUP) != 0 && c.pxHolding() {
			c.pxHoldRead()
		}
		return
	}
	c.pxRead()
}

// pxRead reads one buffer of the client's bytes and forwards them.
func (c *conn) pxRead() {
	w := c.w
	px := c.px
	u := px.up
	if c.pxSplicing() && c.pxSpliceUp() {
		return
	}
	n, eof, full, ok := c.pxReadClient(len(w.rbuf))
	if !ok {
		return
	}
	if n > 0 {
		c.moveTo(&w.proxied)
		data := w.rbuf[:n]
		if px.tunnel {
			px.first, px.retry = nil, false // more than what a retry would resend
			if !u.write(data) {
				c.pxUpFailed(u)
				return
			}
		} else {
			k, err := px.takeBody(data, w.srv.cfg.MaxBodySize)
			if err != nil {
				// The backend has part of a body it will never see the end
				// of: the exchange is lost.
				c.close(reasonBadRequest)
				return
			}
			if !u.write(data[:k]) {
				c.pxUpFailed(u)
				return
			}
			if k < n {
				c.in = append(c.in[:0], data[k:]...) // the next request: after the response
			}
			if px.bodyDone && !u.connecting {
				u.deadline = px.responseDeadline(w.loop.Now().UnixNano())
				c.pxRequestSent(u)
			}
		}
	}
	if eof {
		c.pxClientEOF()
		return
	}
	px.tlsMore = full
	c.pxEvents()
}

// pxReadClient reads one round of the client's bytes into the worker's
// read buffer (at most limit on a plain socket; a TLS record decrypts
// whole): n bytes, eof, full (TLS: more may wait inside), and ok false when
// the read failed and the connection closed.
func (c *conn) pxReadClient(limit int) (n int, eof, full, ok bool) {
	w := c.w
	if c.tls != nil {
		if c.ss != nil {
			c.ss.readable = true // a session reads the socket once a round
		}
		n, full, eof = c.readTLS(0)
	} else {
		r, e := rawRead(c.fd, w.rbuf[:min(len(w.rbuf), limit)])
		switch {
		case e == unix.EAGAIN || e == unix.EINTR:
		case e != 0:
			c.close(reasonReadError)
			return 0, false, false, false
		case r == 0:
			eof = true
		}
		n = r
	}
	w.stats.bytesIn.Add(uint64(n))
	return n, eof, full, true
}

// pxClientEOF handles the client closing its side: in a tunnel the
// half-close goes on to the backend; in request mode the exchange ends.
func (c *conn) pxClientEOF() {
	px := c.px
	u := px.up
	if !px.tunnel {
		c.close(reasonPeer)
		return
	}
	px.cliEOF = true
	if u.eof {
		c.close(reasonDone)
		return
	}
	if len(u.out) == 0 && !u.connecting && px.c2u == nil {
		c.pxUpDrained()
		return
	}
	c.pxEvents()
}

// pxUpReadable reads one buffer of what the backend sent and passes it to
// the client (request mode: framed, the response head rewritten).
func (c *conn) pxUpReadable(u *upstream) {
	w := c.w
	px := c.px
	if px.tunnel && c.pxSplicing() && !c.blocked() && c.pxSpliceDown(u) {
		return
	}
	n, eof, e := u.read()
	if e != 0 {
		c.pxUpFailed(u)
		return
	}
	if eof {
		c.pxUpEOF(u)
		return
	}
	if n == 0 {
		return
	}
	c.moveTo(&w.proxied)
	data := w.rbuf[:n]
	w.resetOut()
	if px.tunnel {
		px.sent, px.first = true, nil
		w.out = append(w.out, data...)
		c.pxSend(false)
		return
	}
	done := false
	for len(data) > 0 && !done {
		if !u.fr.HeadDone() {
			old := len(u.head)
			u.head = append(u.head, data...)
			e := headEnd(u.head, max(old-3, 0))
			if e < 0 {
				if len(u.head) > 64<<10 {
					c.pxBadGateway(u, 502)
					return
				}
				data = nil
				break
			}
			data = data[e-old:]
			u.head = u.head[:e]
			_, fin, err := u.fr.Feed(u.head)
			if err != nil {
				c.pxBadGateway(u, 502)
				return
			}
			if !u.fr.HeadDone() {
				// An interim (1xx) response: passed through as it is.
				w.out = append(w.out, u.head...)
				u.head = u.head[:0]
				px.sent = true
				continue
			}
			if u.fr.Upgrade() && !px.upgr {
				c.pxBadGateway(u, 502) // a 101 to a request that asked for none
				return
			}
			closeClient := c.closeAfter || w.closing || u.fr.CloseDelimited()
			if u.fr.Upgrade() {
				closeClient = false
			}
			if closeClient {
				c.closeAfter = true
			}
			out, err := proxy.AppendResponseHead(w.out, u.head, closeClient)
			if err != nil {
				c.pxBadGateway(u, 502)
				return
			}
			w.out = out
			px.sent = true
			u.deadline = 0
			if p := w.srv.pobs; p != nil && u.sent != 0 {
				p.UpstreamLatency(u.b.String(), time.Duration(time.Now().UnixNano()-u.sent))
			}
			c.pxObserve(u.fr.Status())
			u.head = u.head[:0]
			done = fin
			continue
		}
		k, fin, err := u.fr.Feed(data)
		if err != nil {
			if !px.sent {
				c.pxBadGateway(u, 502)
				return
			}
			c.close(reasonReadError)
			return
		}
		w.out = append(w.out, data[:k]...)
		if fin && k < len(data) {
			u.eof = true // bytes past the response: never reuse this connection
		}
		data = data[k:]
		done = fin
	}
	if done && len(data) > 0 {
		if u.fr.Upgrade() {
			w.out = append(w.out, data...) // the tunnel's first bytes
		} else {
			u.eof = true // bytes past the response: never reuse this connection
		}
	}
	c.pxSend(done)
}

// headEnd returns the length of the head at the start of b (up to and
// including the blank line, CRLF or bare LF), looking for its end from
// offset from on; -1 when it is not complete.
func headEnd(b []byte, from int) int {
	for i := max(from, 1); i < len(b); i++ {
		if b[i] != '\n' {
			continue
		}
		if b[i-1] == '\n' || i >= 2 && b[i-1] == '\r' && b[i-2] == '\n' {
			return i + 1
		}
	}
	return -1
}

// pxSend writes the assembled output to the client; done says the
// response (request mode) ended with it.
func (c *conn) pxSend(done bool) {
	u := c.px.up
	c.flush()
	if c.closed {
		return
	}
	if done {
		c.pxResponseDone(u)
		return
	}
	if c.blocked() {
		u.pause() // resumed when the client took its output (pxAfterOutput)
	}
}

// pxObserve counts a proxied response (its head went to the client).
func (c *conn) pxObserve(status int) {
	w := c.w
	if w.srv.obs == nil {
		w.stats.responses.Add(1)
		return
	}
	rt := c.px.rt
	x := c.ctxFor(c.head)
	x.route = rt
	w.responded(c, status, 0)
}

// pxResponseDone ends a request-mode exchange: the backend connection goes
// back to its pool (or closes), and the client connection goes on with its
// next request; after a 101 the exchange becomes a tunnel instead.
func (c *conn) pxResponseDone(u *upstream) {
	px := c.px
	if u.fr.Upgrade() {
		px.tunnel = true
		u.deadline = 0
		if len(c.in) > 0 {
			// Bytes the client sent after its upgrade request.
			in := c.in
			c.in = nil
			if !u.write(in) {
				c.pxUpFailed(u)
				return
			}
		}
		if c.blocked() {
			u.pause()
		}
		c.pxEvents()
		return
	}
	// A connection that began with a PROXY header speaks for one client:
	// never pooled for another.
	reuse := u.fr.KeepAlive() && !u.eof && !u.fr.CloseDelimited() && px.bodyDone && len(u.out) == 0 && px.r.ProxyProtocol == proxy.ProxyOff
	u.b.Release()
	px.up = nil
	if reuse {
		u.release(px.r.MaxIdle, px.r.IdleTimeout)
	} else {
		u.close()
	}
	c.px = nil
	c.tlsMore = px.tlsMore // plaintext left in the TLS connection: the next requests
	if c.blocked() {
		return // afterOutput and resume run once the output went out
	}
	c.afterOutput()
	c.resume()
}

// pxAfterOutput runs when the client took all its output in the proxy
// phase: the backend may be read again.
func (c *conn) pxAfterOutput() {
	px := c.px
	u := px.up
	if u != nil {
		if px.tunnel && u.eof {
			c.pxShutClient()
			return
		}
		u.resume()
	}
	c.pxEvents()
}

// pxShutClient propagates the backend's half-close to the client (tunnel).
func (c *conn) pxShutClient() {
	px := c.px
	if px.cliEOF {
		c.close(reasonDone)
		return
	}
	if !px.shutCli {
		px.shutCli = true
		if c.tls != nil {
			c.tr.out = c.tr.out[:0]
			if c.tls.CloseWrite() == nil && len(c.tr.out) > 0 {
				unix.Write(c.fd, c.tr.out)
			}
			c.tr.out = c.tr.out[:0]
		}
		unix.Shutdown(c.fd, unix.SHUT_WR)
	}
	c.pxEvents()
}

// pxUpEOF handles the backend closing its side.
func (c *conn) pxUpEOF(u *upstream) {
	px := c.px
	u.eof = true
	u.setEvents(u.events &^ (unix.EPOLLIN | unix.EPOLLRDHUP))
	if px.tunnel {
		if !c.blocked() && px.u2c == nil {
			c.pxShutClient()
		}
		return
	}
	if u.fr.HeadDone() && u.fr.CloseDelimited() {
		c.closeAfter = true
		c.pxResponseDone(u)
		return
	}
	c.pxUpFailed(u)
}

// pxUpFailed handles a backend connection lost mid-exchange: before any
// response byte a request that can be sent again goes to a fresh
// connection (a pooled one may have been closed by the backend just as it
// was taken) or gets 502; after, the client connection closes.
func (c *conn) pxUpFailed(u *upstream) {
	px := c.px
	w := c.w
	w.stats.upFailures.Add(1)
	if p := w.srv.pobs; p != nil {
		p.BackendConnectError(u.b.String())
	}
	if px.sent || px.tunnel && px.first == nil {
		c.close(reasonReadError)
		return
	}
	reused := u.reused
	c.pxDropUp()
	if reused && px.retry && px.first != nil {
		// Once, on a fresh connection to the same backend.
		b := u.b
		px.tries = 0
		if c.pxOpenFresh(b) {
			return
		}
	}
	c.pxAnswer(502)
}

// pxBegin makes u (fresh, or from the pool) the exchange's backend
// connection and sends it the exchange's first bytes (after a PROXY header
// on a fresh one). It reports false, u closed, when the backend refused
// them.
func (c *conn) pxBegin(u *upstream, fresh bool, now int64) bool {
	px := c.px
	r := px.r
	u.b.Acquire()
	px.up = u
	u.attach(c)
	u.fr.Reset(px.isHead)
	u.head = u.head[:0]
	ok := true
	if fresh && r.ProxyProtocol != proxy.ProxyOff {
		ok = u.write(proxy.AppendProxyHeader(nil, r.ProxyProtocol, c.remote, c.localAddr()))
	}
	if ok {
		ok = u.write(px.first)
	}
	if !ok {
		c.pxDropUp()
		return false
	}
	if u.connecting {
		u.deadline = now + int64(r.ConnectTimeout)
	} else {
		c.pxConnected(u)
	}
	return true
}

// pxOpenFresh sends the exchange again on a new connection to b.
func (c *conn) pxOpenFresh(b *proxy.Backend) bool {
	u, err := c.w.dialUpstream(b)
	if err != nil {
		return c.pxOpen(nil)
	}
	return c.pxBegin(u, true, c.w.loop.Now().UnixNano())
}

// pxConnectFailed handles a refused or timed-out connect: the backend is
// marked down and the exchange goes to another one (nothing was sent).
func (c *conn) pxConnectFailed(u *upstream, timeout bool) {
	px := c.px
	w := c.w
	b := u.b
	c.pxBackendFailed(b, w.loop.Now().UnixNano())
	c.pxDropUp()
	px.tried = b
	if px.first != nil && c.pxOpen(nil) {
		return
	}
	if timeout {
		c.pxAnswer(504)
		return
	}
	c.pxAnswer(502)
}

// pxTimeout handles a backend that did not answer in time.
func (c *conn) pxTimeout(u *upstream) {
	c.w.stats.timeouts.Add(1)
	if c.px.sent {
		c.close(reasonReadTimeout)
		return
	}
	c.pxDropUp()
	c.pxAnswer(504)
}

// pxBadGateway answers a malformed backend response (nothing of it sent).
func (c *conn) pxBadGateway(u *upstream, status int) {
	c.w.stats.upFailures.Add(1)
	if c.px.sent {
		c.close(reasonReadError)
		return
	}
	c.pxDropUp()
	c.pxAnswer(status)
}

// pxDropUp closes the exchange's backend connection.
func (c *conn) pxDropUp() {
	px := c.px
	if u := px.up; u != nil {
		px.up = nil
		u.b.Release()
		u.close()
	}
}

// pxAnswer ends the exchange with an error status of edge's own (outside
// a processing round); the client's connection goes on when the request
// was read whole.
func (c *conn) pxAnswer(status int) {
	px := c.px
	w := c.w
	c.pxDropUp()
	c.px = nil
	if px.raw || px.tunnel && px.first == nil {
		c.close(reasonReadError)
		return
	}
	w.resetOut()
	x := c.ctxFor(c.head)
	x.route = px.rt
	if !px.bodyDone {
		c.closeAfter, c.linger = true, true
	}
	x.Text(status, http1.StatusText(status)+"\n")
	c.finish()
	if !c.closed {
		c.resume()
	}
}

// pxClosed releases the proxy phase's backend connection when the client
// connection closes.
func (c *conn) pxClosed() {
	c.pxReleasePipes()
	c.pxDropUp()
	c.px = nil
}

// pxIdle handles the client's idle timeout in the proxy phase: a request
// waiting for its response is the backend's timeout's business.
func (c *conn) pxIdle() {
	if u := c.px.up; u != nil && u.deadline != 0 {
		c.moveTo(&c.w.proxied)
		return
	}
	c.close(reasonIdle)
}

func rawRead(fd int, p []byte) (int, unix.Errno) {
	n, err := unix.Read(fd, p)
	if err != nil {
		return 0, err.(unix.Errno)
	}
	return n, 0
}
