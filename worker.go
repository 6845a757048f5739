package edge

import (
	"net/netip"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"github.com/edge-rt/edge/internal/evloop"
	"github.com/edge-rt/edge/observe"
	"github.com/edge-rt/edge/proxy"
	"golang.org/x/sys/unix"
)

// readBufSize is the per-worker read buffer. A connection only owns a
// buffer while it holds an incomplete request head, so this is paid once
// per worker, not per connection.
const readBufSize = 64 << 10

// bigBody is the size from which an immutable body (static content) is
// written by reference instead of being copied into the output buffer.
const bigBody = 16 << 10

// worker is one event loop with its buffers. Everything in it is touched by
// its loop goroutine only.
type worker struct {
	srv  *Server
	loop *evloop.Loop
	id   int

	rbuf     []byte // read buffer
	out      []byte // responses being assembled for the current connection
	segs     []seg  // out split by by-reference bodies
	segStart int    // start of the part of out not in segs yet
	bufs     [][]byte
	bufRef   []bool
	iov      []unix.Iovec
	tlsOut   []byte // ciphertext of the current connection's output
	fbuf     []byte // a chunk of a file body read for TLS (phase_file.go)

	ctx    Ctx             // reused for every request on this worker
	obsReq observe.Request // reused for every Observer.Request call

	idle    connList // keep-alive, waiting for the next request
	reading connList // partial request head or body
	writing connList // output blocked on a slow reader
	pending connList // waiting for an async reply

	wsIdle connList // WebSocket connections (pinged when they expire)

	handshakes connList // TLS handshakes in progress (the tick times out those on the loop; a goroutine's times out itself)
	fresh      connList // new connections that sent no request byte yet
	taken      connList // TLS connections taken over by a goroutine (no timeout: theirs)
	proxied    connList // in the proxy phase (idle timeout; backends have their own deadlines)

	ups    []*upstream                // backend connections serving a client (deadlines)
	pools  map[*proxy.Backend]*upPool // idle backend connections
	pipes  []*spipe                   // empty pipes for splicing tunnels
	npipes int                        // pipes held (pooled and in use)

	dmu          sync.Mutex
	dirty        []*connHandle // connections with queued messages to write
	dirtySpare   []*connHandle
	drainDirtyFn func()

	stats stats // this worker's counters

	free      []*conn // recycled conn structs
	nconns    int
	closing   bool // server shutting down: no keep-alive, close when idle
	goingAway bool // shutting down past ShutdownGrace: WebSockets get 1001
}

// seg is a piece of output: out[start:end], or ref when ref != nil.
type seg struct {
	ref        []byte
	start, end int
}

func newWorker(s *Server, id int) (*worker, error) {
	// The read buffer holds the largest head the parser accepts, so an
	// incomplete head always has room to grow.
	lim := s.parser.Limits()
	size := max(readBufSize, lim.MaxRequestLine+lim.MaxHeaderBytes+4096)
	w := &worker{srv: s, id: id, rbuf: make([]byte, size), out: make([]byte, 0, 16<<10)}
	w.ctx.w = w
	loop, err := evloop.New(evloop.Config{Tick: time.Second, OnTick: w.tick})
	if err != nil {
		return nil, err
	}
	w.loop = loop
	w.idle.timeout = s.cfg.IdleTimeout
	// A new connection waits for its first byte at most as long as an
	// idle keep-alive connection waits for its next request.
	w.fresh.timeout = s.cfg.FirstByteTimeout
	if w.fresh.timeout < 0 || s.cfg.IdleTimeout > 0 && s.cfg.IdleTimeout < w.fresh.timeout {
		w.fresh.timeout = s.cfg.IdleTimeout
	}
	w.reading.timeout = s.cfg.ReadTimeout
	w.writing.timeout = s.cfg.WriteTimeout
	w.pending.timeout = s.cfg.PendingTimeout
	w.wsIdle.timeout = s.cfg.pingInterval()
	w.proxied.timeout = s.cfg.IdleTimeout
	w.handshakes.timeout = s.shortestHandshakeTimeout()
	w.drainDirtyFn = w.drainDirty
	return w, nil
}

// listenHandler accepts connections for one listener on one worker. Every
// worker registers the same listening socket with EPOLLEXCLUSIVE, so the
// kernel wakes one of them per connection.
type listenHandler struct {
	w      *worker
	l      *Listener
	paused bool
}

func (h *listenHandler) OnEvent(events uint32) { h.accept(64) }

// accept accepts up to n connections; it reports whether it stopped at n
// (more may be queued).
func (h *listenHandler) accept(n int) (more bool) {
	w, s := h.w, h.w.srv
	for i := 0; i < n; i++ {
		var rsa unix.RawSockaddrAny
		alen := uint32(unix.SizeofSockaddrAny)
		r, _, e := syscall.RawSyscall6(unix.SYS_ACCEPT4, uintptr(h.l.fd),
			uintptr(unsafe.Pointer(&rsa)), uintptr(unsafe.Pointer(&alen)),
			unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0, 0)
		if e != 0 {
			switch e {
			case unix.EAGAIN, unix.EINTR, unix.ECONNABORTED:
			case unix.EMFILE, unix.ENFILE:
				// Out of descriptors: back off as nginx and Go's accept do.
				// The listener pauses on this worker until the next tick
				// (no spinning on a ready listener); waiting clients are
				// accepted once descriptors are free again. ClientMax
				// defaults below the descriptor limit, so this is rare.
				w.stats.acceptErrors.Add(1)
				if s.obs != nil {
					s.obs.ConnRefused(h.l.name, observe.RefuseFiles)
				}
				s.log.Warn("edge: accept", "listener", h.l.name, "err", e)
				// EPOLLEXCLUSIVE registrations cannot be modified: remove
				// and add back on the next tick.
				if !h.paused && w.loop.Remove(h.l.fd) == nil {
					h.paused = true
				}
			case unix.ENOBUFS, unix.ENOMEM:
				w.stats.acceptErrors.Add(1)
				s.log.Warn("edge: accept", "listener", h.l.name, "err", e)
				if !h.paused && w.loop.Remove(h.l.fd) == nil {
					h.paused = true
				}
			default:
				w.stats.acceptErrors.Add(1)
				s.log.Warn("edge: accept", "listener", h.l.addrString(), "err", e)
			}
			return false
		}
		fd := int(r)
		if s.nconns.Add(1) > s.clientMax {
			s.nconns.Add(-1)
			w.stats.refused.Add(1)
			if s.obs != nil {
				s.obs.ConnRefused(h.l.name, observe.RefuseClientMax)
			}
			refuse(fd, h.l.tls != nil)
			continue
		}
		w.stats.accepted.Add(1)
		remote := sockaddrToAddrPort(&rsa)
		if s.perAddr != nil && remote.IsValid() && !s.perAddr.acquire(remote.Addr()) {
			s.nconns.Add(-1)
			w.stats.refused.Add(1)
			if s.obs != nil {
				s.obs.ConnRefused(h.l.name, observe.RefusePerAddr)
			}
			refuse(fd, h.l.tls != nil)
			continue
		}
		w.newConn(fd, h.l, remote)
	}
	return true
}

var refusedResponse = []byte("HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 20\r\nConnection: close\r\nRetry-After: 1\r\n\r\nService Unavailable\n")

// refuse answers 503 on a connection over ClientMax and closes it. What
// the client already sent is read first so that the close is a FIN, not a
// reset that could destroy the response. A TLS client gets a plain close:
// a plaintext answer inside its handshake would only read as garbage.
func refuse(fd int, isTLS bool) {
	if isTLS {
		unix.Close(fd)
		return
	}
	unix.Write(fd, refusedResponse)
	unix.Shutdown(fd, unix.SHUT_WR)
	var buf [4096]byte
	unix.Read(fd, buf[:])
	unix.Close(fd)
}

func (h *listenHandler) resume() {
	if h.paused && !h.w.closing && h.w.loop.Add(h.l.fd, unix.EPOLLIN|unix.EPOLLEXCLUSIVE, h) == nil {
		h.paused = false
	}
}

// sockaddrToAddrPort converts without allocating.
func sockaddrToAddrPort(rsa *unix.RawSockaddrAny) netip.AddrPort {
	switch rsa.Addr.Family {
	case unix.AF_INET:
		p := (*unix.RawSockaddrInet4)(unsafe.Pointer(rsa))
		port := uint16(p.Port>>8) | uint16(p.Port<<8)
		return netip.AddrPortFrom(netip.AddrFrom4(p.Addr), port)
	case unix.AF_INET6:
		p := (*unix.RawSockaddrInet6)(unsafe.Pointer(rsa))
		port := uint16(p.Port>>8) | uint16(p.Port<<8)
		return netip.AddrPortFrom(netip.AddrFrom16(p.Addr).Unmap(), port)
	}
	return netip.AddrPort{}
}

func (w *worker) newConn(fd int, l *Listener, remote netip.AddrPort) {
	if l.ppOn && !l.trusted(remote) {
		// Only trusted proxies may connect to a PROXY protocol listener.
		w.stats.refused.Add(1)
		if s := w.srv; s.perAddr != nil && remote.IsValid() {
			s.perAddr.release(remote.Addr())
		}
		w.srv.nconns.Add(-1)
		unix.Close(fd)
		return
	}
	var c *conn
	if n := len(w.free); n > 0 {
		c = w.free[n-1]
		w.free[n-1] = nil
		w.free = w.free[:n-1]
	} else {
		c = &conn{}
	}
	*c = conn{gen: c.gen + 1, w: w, fd: fd, l: l, remote: remote, events: unix.EPOLLIN | unix.EPOLLRDHUP}
	started := true
	if l.needsPreface() {
		c.pre = &preface{proxyDone: !l.ppOn}
	} else if l.tls != nil {
		started = c.startHandshake(nil)
	}
	if err := w.loop.Add(fd, c.events, c); err != nil {
		w.srv.log.Warn("edge: register connection", "err", err)
		w.nconns++
		c.close(reasonShutdown) // releases fd (or leaves it to the handshake goroutine)
		return
	}
	w.nconns++
	if w.srv.obs != nil {
		w.srv.obs.ConnOpened(c.obsConn())
	}
	if c.handshaking {
		// On a list too, so that shutdown finds it.
		w.handshakes.push(c, w.loop.Now())
	} else {
		w.fresh.push(c, w.loop.Now())
	}
	if !started {
		c.close(reasonShutdown)
	}
}

// tick sweeps timed-out connections and resumes paused listeners.
func (w *worker) tick(now time.Time) {
	for _, h := range w.srv.listenHandlers[w.id] {
		h.resume()
	}
	w.shrinkBuffers()
	w.idle.expire(now, func(c *conn) { c.close(reasonIdle) })
	w.fresh.expire(now, func(c *conn) { c.close(reasonIdle) })
	w.reading.expire(now, func(c *conn) { c.timeoutRead() })
	w.writing.expire(now, func(c *conn) { c.close(reasonWriteTimeout) })
	w.pending.expire(now, func(c *conn) { c.timeoutPending() })
	w.wsIdle.expire(now, func(c *conn) { c.wsIdle() })
	w.proxied.expire(now, func(c *conn) { c.pxIdle() })
	w.tickUpstreams(now)
	if w.closing {
		for w.idle.head != nil { // none should come back to idle: in case
			w.idle.head.close(reasonShutdown)
		}
		w.handshakes.expire(now, func(c *conn) { c.close(reasonShutdown) })
		if w.goingAway {
			w.sendGoingAway() // WebSockets upgraded since the last pass
		}
	}
	w.expireHandshakes(now)
}

// shrinkBuffers drops worker buffers a burst made large, once a second:
// the steady state keeps small ones.
func (w *worker) shrinkBuffers() {
	if cap(w.out) > 1<<20 {
		w.out = make([]byte, 0, 16<<10)
	}
	if cap(w.tlsOut) > 1<<20 {
		w.tlsOut = nil
	}
	if cap(w.bufs) > 4096 {
		w.bufs, w.bufRef, w.segs = nil, nil, nil
	}
}

// beginShutdown is run on the loop when the server shuts down: stop
// accepting and close every connection that is between requests.
func (w *worker) beginShutdown() {
	w.closing = true
	for _, h := range w.srv.listenHandlers[w.id] {
		if !h.paused {
			w.loop.Remove(h.l.fd)
			h.paused = true
			// A connection whose wakeup came to this loop just before the
			// removal would wait in the queue for the next one: with the
			// socket shared with a new process (an upgrade), the new
			// process might never be told of it. Accept what is queued now
			// and serve it as a last request.
			for h.accept(64) {
			}
		}
	}
	// Idle keep-alive connections close now: they must not hold shutdown.
	for c := w.idle.head; c != nil; {
		next := c.next
		c.close(reasonShutdown)
		c = next
	}
	// New connections (accepted just before, no request byte yet) and TLS
	// handshakes get one more second to send their request, answered with
	// Connection: close; tick closes them after.
	if w.fresh.timeout <= 0 || w.fresh.timeout > time.Second {
		w.fresh.timeout = time.Second
	}
	w.handshakes.timeout = time.Second
	now := w.loop.Now()
	w.fresh.expire(now, func(c *conn) { c.close(reasonShutdown) })
	w.handshakes.expire(now, func(c *conn) { c.close(reasonShutdown) })
	// WebSocket clients are told the server is going away, after
	// ShutdownGrace (Shutdown calls startGoingAway then).
	if w.srv.cfg.ShutdownGrace <= 0 {
		w.startGoingAway()
	}
	// Connections reading a request finish it (a head still arriving is
	// marked when it is complete), those waiting to write or for a reply
	// too; all close after their response.
	for _, l := range []*connList{&w.reading, &w.writing, &w.pending, &w.proxied} {
		for c := l.head; c != nil; c = c.next {
			if c.ws == nil && (l != &w.reading || c.body != nil) {
				c.closeAfter = true
			}
		}
	}
	w.closeUpstreams() // pooled backend connections and pipes
}

// startGoingAway sends WebSocket clients close 1001, now and (from tick)
// to those upgraded later.
func (w *worker) startGoingAway() {
	w.goingAway = true
	w.sendGoingAway()
}

// sendGoingAway sends close 1001 to the WebSocket clients waiting for
// messages.
func (w *worker) sendGoingAway() {
	var wsConns []*conn
	for c := w.wsIdle.head; c != nil; c = c.next {
		wsConns = append(wsConns, c)
	}
	for _, c := range wsConns {
		if !c.closed && c.ws != nil && !c.ws.closeSent {
			w.resetOut()
			c.wsSendClose(1001, "server shutting down")
			c.closeAfter = true
			c.finish()
		}
	}
}

// forceClose closes every remaining connection (shutdown deadline). A
// request head still arriving gets a 503 first. It returns how many
// connections it cut in the middle of a request (a body arriving, a
// response being written or a reply pending).
func (w *worker) forceClose() (cut int) {
	for c := w.reading.head; c != nil; {
		next := c.next
		if c.body == nil && !c.lingering && c.ws == nil && len(c.in) > 0 {
			w.resetOut()
			c.fail(errShuttingDown)
			c.flush()
			c.close(reasonShutdown)
		}
		c = next
	}
	for _, l := range []*connList{&w.handshakes, &w.fresh, &w.idle, &w.reading, &w.writing, &w.pending, &w.wsIdle, &w.taken, &w.proxied} {
		for c := l.head; c != nil; {
			next := c.next
			if l == &w.writing && c.ws == nil && (c.px == nil || !c.px.tunnel) || l == &w.pending || l == &w.reading && c.body != nil || l == &w.proxied && !c.px.tunnel {
				cut++
			}
			c.close(reasonShutdown)
			c = next
		}
	}
	return cut
}

// connList is an intrusive FIFO of connections sharing one timeout:
// because the timeout is the same for all, insertion order is deadline
// order and expiry only looks at the head.
type connList struct {
	head, tail *conn
	timeout    time.Duration // <= 0: never expires
	n          int
}

func (l *connList) push(c *conn, now time.Time) {
	c.list = l
	c.since = now.UnixNano()
	c.prev, c.next = l.tail, nil
	if l.tail != nil {
		l.tail.next = c
	} else {
		l.head = c
	}
	l.tail = c
	l.n++
}

func (l *connList) remove(c *conn) {
	if c.prev != nil {
		c.prev.next = c.next
	} else {
		l.head = c.next
	}
	if c.next != nil {
		c.next.prev = c.prev
	} else {
		l.tail = c.prev
	}
	c.prev, c.next, c.list = nil, nil, nil
	l.n--
}

func (l *connList) expire(now time.Time, f func(*conn)) {
	if l.timeout <= 0 {
		return
	}
	limit := now.Add(-l.timeout).UnixNano()
	for l.head != nil && l.head.since <= limit {
		f(l.head)
	}
}

// moveTo puts c on list l (a fresh deadline), removing it from its current one.
func (c *conn) moveTo(l *connList) {
	if c.list != nil {
		c.list.remove(c)
	}
	l.push(c, c.w.loop.Now())
}

// outSize is how much output is assembled (copied and by reference).
func (w *worker) outSize() int {
	n := len(w.out)
	for _, s := range w.segs {
		n += len(s.ref)
	}
	return n
}

// resetOut starts assembling output for a new connection.
func (w *worker) resetOut() {
	w.out = w.out[:0]
	w.segs = w.segs[:0]
	w.segStart = 0
}

// addRef appends an immutable body by reference.
func (w *worker) addRef(b []byte) {
	w.segs = append(w.segs, seg{start: w.segStart, end: len(w.out)}, seg{ref: b})
	w.segStart = len(w.out)
}

// sealOut turns the assembled output into w.bufs (and w.bufRef, which
// marks the by-reference pieces) ready for writev.
func (w *worker) sealOut() {
	w.bufs = w.bufs[:0]
	w.bufRef = w.bufRef[:0]
	for _, s := range w.segs {
		if s.ref != nil {
			w.bufs = append(w.bufs, s.ref)
			w.bufRef = append(w.bufRef, true)
		} else if s.end > s.start {
			w.bufs = append(w.bufs, w.out[s.start:s.end])
			w.bufRef = append(w.bufRef, false)
		}
	}
	if len(w.out) > w.segStart {
		w.bufs = append(w.bufs, w.out[w.segStart:])
		w.bufRef = append(w.bufRef, false)
	}
	w.segs = w.segs[:0]
	w.segStart = len(w.out)
}

// writev writes bufs to fd with one writev call and returns how many
// bytes went out.
func (w *worker) writev(fd int, bufs [][]byte) (int, syscall.Errno) {
	w.iov = w.iov[:0]
	for _, b := range bufs {
		if len(b) == 0 {
			continue
		}
		var v unix.Iovec
		v.Base = &b[0]
		v.SetLen(len(b))
		w.iov = append(w.iov, v)
		if len(w.iov) == 1024 { // IOV_MAX
			break
		}
	}
	if len(w.iov) == 0 {
		return 0, 0
	}
	var r uintptr
	var e syscall.Errno
	if len(w.iov) == 1 {
		// One buffer (the common keep-alive response): write(2) skips the
		// iovec import.
		r, _, e = syscall.RawSyscall(unix.SYS_WRITE, uintptr(fd), uintptr(unsafe.Pointer(w.iov[0].Base)), uintptr(w.iov[0].Len))
	} else {
		r, _, e = syscall.RawSyscall(unix.SYS_WRITEV, uintptr(fd), uintptr(unsafe.Pointer(&w.iov[0])), uintptr(len(w.iov)))
	}
	if e != 0 {
		return 0, e
	}
	return int(r), 0
}

var _ evloop.Handler = (*conn)(nil)
var _ evloop.Handler = (*listenHandler)(nil)
