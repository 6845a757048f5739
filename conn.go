package edge

import (
	"context"
	"net/netip"
	"syscall"
	"unsafe"

	"github.com/edge-rt/edge/tlsbackend"
	"golang.org/x/sys/unix"
)

// closeReason says why a connection was closed, for stats and debug logs.
type closeReason uint8

const (
	reasonPeer closeReason = iota
	reasonIdle
	reasonReadTimeout
	reasonWriteTimeout
	reasonReadError
	reasonWriteError
	reasonDone
	reasonShutdown
	reasonBadRequest
	reasonDetach
	reasonTLSHandshake
	numReasons
)

var reasonNames = [numReasons]string{"peer", "idle", "read_timeout", "write_timeout", "read_error", "write_error", "done", "shutdown", "bad_request", "detach", "tls_handshake"}

// conn is one client connection served by the event loop. An idle conn is
// just this struct: no goroutine, no buffers. Loop goroutine only.
type conn struct {
	gen    uint32 // bumped each time the struct is recycled
	w      *worker
	l      *Listener
	fd     int
	events uint32
	remote netip.AddrPort

	list       *connList
	prev, next *conn
	since      int64

	in   []byte   // unparsed input carried over between reads
	pend [][]byte // output the socket did not take yet

	tlsPlain [][]byte // TLS: output not encrypted yet (see sealTLS)

	file *fileBody // a file body to send after pend (phase_file.go)

	body *bodyState // request body being received
	head []byte     // copy of the request head while pending

	reqStart   int64  // with an Observer: when the current request's head was complete (ns)
	hsStart    int64  // with an Observer: when the TLS handshake began (ns)
	tlsVersion uint16 // TLS: the negotiated version
	ja4        string // TLS with TLSConfig.JA4: the client's JA4 fingerprint

	tr          *transport      // TLS: the transport under tls
	ss          *tlsSession     // TLS on the loop (tlsbackend.SessionServer); tls is ss then
	tls         tlsbackend.Conn // TLS connection, nil on plain listeners
	sni         string          // TLS: server name the client asked for
	handshaking bool            // TLS: a goroutine runs the handshake
	tlsMore     bool            // TLS: plaintext may wait inside tls
	overBudget  bool            // processing stopped at outBudget
	headDone    bool            // a request head completed this round

	ws *wsConn     // WebSocket state once upgraded
	h  *connHandle // the connection as the Hub sees it, once registered

	id         ClientID // non-zero once registered (Pending, WebSocket)
	closeAfter bool     // close once the output is flushed
	linger     bool     // close by half-closing and draining input (after an error)
	lingering  bool     // draining input, output side shut down
	isPending  bool     // waiting for an async reply
	closed     bool
	qblocked   bool // WebSocket: the socket did not take all of a queue write
	detach     func(ctx context.Context, t *Takeover)
	take       *Takeover  // the head's pieces once a handler asked for a takeover
	taken      bool       // TLS: taken over by a goroutine that does blocking I/O through tr
	px         *proxyConn // the proxy phase: a request or the connection forwarded to a backend
	pre        *preface   // the preface phase: a PROXY header or a ClientHello being read
}

// phase is where a connection is in its life; transitions happen in
// afterOutput (after each round's output went out), handshakeDone,
// upgrade, startBody/endBody, handOver and close.
type phase uint8

const (
	phasePreface      phase = iota // phase_preface.go: PROXY header, ClientHello peek
	phaseTLSHandshake              // phase_tls.go
	phaseHead                      // phase_head.go: waiting for or parsing request heads
	phaseBody                      // phase_body.go: a request body arriving
	phasePending                   // clients.go: waiting for Server.Reply
	phaseWebSocket                 // phase_ws.go
	phaseTakeover                  // phase_takeover.go: a goroutine has it
	phaseProxy                     // phase_proxy.go (client side), phase_upstream.go (backend side)
	phaseLinger                    // phase_linger.go: half-closed, draining input
	phaseClosed
)

var phaseNames = [...]string{"preface", "tls_handshake", "head", "body", "pending", "websocket", "takeover", "proxy", "linger", "closed"}

func (p phase) String() string { return phaseNames[p] }

// phase reports the connection's phase.
func (c *conn) phase() phase {
	switch {
	case c.closed:
		return phaseClosed
	case c.pre != nil:
		return phasePreface
	case c.handshaking:
		return phaseTLSHandshake
	case c.taken || c.detach != nil:
		return phaseTakeover
	case c.px != nil:
		return phaseProxy
	case c.lingering:
		return phaseLinger
	case c.ws != nil:
		return phaseWebSocket
	case c.isPending:
		return phasePending
	case c.body != nil:
		return phaseBody
	}
	return phaseHead
}

func (c *conn) setEvents(ev uint32) {
	if c.events != ev {
		c.events = ev
		c.w.loop.Modify(c.fd, ev)
	}
}

// OnEvent implements evloop.Handler.
func (c *conn) OnEvent(ev uint32) {
	if c.closed {
		return
	}
	if c.handshaking || c.taken {
		c.tlsEvent(ev)
		return
	}
	if c.pre != nil {
		c.preRead()
		return
	}
	if c.px != nil {
		c.pxEvent(ev)
		return
	}
	if c.qblocked {
		// A WebSocket queue write waits for room: no input until it went.
		if ev&(unix.EPOLLOUT|unix.EPOLLERR|unix.EPOLLHUP) != 0 {
			c.qblocked = false
			c.writeQueue()
		}
		return
	}
	if c.blocked() {
		if ev&(unix.EPOLLOUT|unix.EPOLLERR|unix.EPOLLHUP) == 0 {
			return
		}
		if !c.flushPending() {
			return
		}
		c.afterOutput()
		c.resume()
		return
	}
	if c.isPending {
		if ev&(unix.EPOLLERR|unix.EPOLLHUP) != 0 {
			c.close(reasonPeer)
		}
		return
	}
	c.read()
}

func (c *conn) read() {
	w := c.w
	if c.px != nil {
		c.pxRead()
		return
	}
	if c.tls != nil && !c.lingering {
		c.readTLSLoop(false)
		return
	}
	n0 := copy(w.rbuf, c.in)
	if n0 == len(w.rbuf) {
		// Cannot happen with the buffer sized from the parser's limits;
		// refuse rather than index past the buffer.
		w.resetOut()
		c.fail(errHeadTooLarge)
		c.finish()
		return
	}
	// Non-blocking descriptor: the call never blocks, so it skips the
	// scheduler's syscall bookkeeping.
	r, _, e := syscall.RawSyscall(unix.SYS_READ, uintptr(c.fd), uintptr(unsafe.Pointer(&w.rbuf[n0])), uintptr(len(w.rbuf)-n0))
	n := int(r)
	if e != 0 {
		if e == unix.EAGAIN || e == unix.EINTR {
			return
		}
		c.close(reasonReadError)
		return
	}
	if n == 0 {
		c.close(reasonPeer)
		return
	}
	w.stats.bytesIn.Add(uint64(n))
	if c.lingering {
		return // discarding until the peer closes or the timer fires
	}
	c.run(w.rbuf[:n0+n])
}

// run processes data (in the worker's read buffer) and flushes, then goes
// on with what stayed in c.in for as long as the output budget was what
// stopped it and the output went out.
func (c *conn) run(data []byte) {
	w := c.w
	for {
		c.releaseIn()
		w.resetOut()
		c.process(data)
		c.finish()
		if !c.overBudget || !c.canProcess() || len(c.in) == 0 {
			return
		}
		data = w.rbuf[:copy(w.rbuf, c.in)]
	}
}

// canProcess reports whether buffered input may be processed now.
func (c *conn) canProcess() bool {
	return !c.closed && !c.isPending && !c.blocked() && !c.qblocked && c.detach == nil && !c.lingering && !c.handshaking && c.px == nil
}

// submit runs f on the connection's loop later, unless by then the
// connection closed or its struct was recycled for another one: every
// closure queued for a connection goes through here (or through
// connHandle.submit, which checks the same generation).
func (c *conn) submit(f func()) error { return c.w.submitConn(c, c.gen, f) }

// submitConn is conn.submit for goroutines other than the loop, which must
// not read c: they pass the generation they were given on the loop.
func (w *worker) submitConn(c *conn, gen uint32, f func()) error {
	return w.loop.Submit(func() {
		if c.gen == gen && !c.closed {
			f()
		}
	})
}

// resume processes input kept while output was blocked or a reply pending.
func (c *conn) resume() {
	if len(c.in) == 0 || !c.canProcess() {
		return
	}
	if c.tls != nil {
		c.readTLSLoop(true)
		return
	}
	c.run(c.w.rbuf[:copy(c.w.rbuf, c.in)])
}

// finish flushes the output of a processing round and files the
// connection under the list matching what it waits for next.
func (c *conn) finish() {
	if c.closed {
		return
	}
	c.flush()
	if c.closed || c.blocked() {
		return
	}
	c.afterOutput()
}

// afterOutput runs once all output went out.
func (c *conn) afterOutput() {
	w := c.w
	switch {
	case c.ws != nil:
		c.wsAfterOutput()
	case c.detach != nil:
		c.handOver()
	case c.px != nil:
		c.pxAfterOutput()
	case c.isPending:
		c.setEvents(0)
		if c.list != &w.pending {
			c.moveTo(&w.pending)
		}
	case c.closeAfter && c.body == nil:
		if c.linger || len(c.in) > 0 {
			c.startLinger()
		} else {
			c.close(reasonDone)
		}
	case c.body != nil || len(c.in) > 0:
		c.setEvents(unix.EPOLLIN | unix.EPOLLRDHUP)
		// The read deadline runs from the first byte of a head (slowloris
		// cannot extend it); a body in progress refreshes it on each read.
		if c.list != &w.reading || c.body != nil || c.headDone {
			c.moveTo(&w.reading)
		}
	default:
		c.setEvents(unix.EPOLLIN | unix.EPOLLRDHUP)
		c.moveTo(&w.idle)
	}
	if c.tlsMore && !c.isPending && !c.closed && c.detach == nil && c.px == nil {
		c.tlsMore = false
		c.submit(func() {
			if !c.handshaking {
				c.read()
			}
		})
	}
}

// releaseIn drops the carried input: an idle connection holds no buffer.
func (c *conn) releaseIn() { c.in = nil }

// close releases everything the connection holds. Idempotent.
func (c *conn) close(why closeReason) {
	if c.closed {
		return
	}
	if c.body != nil {
		c.endBody(false)
	}
	if c.px != nil {
		c.pxClosed()
	}
	c.endFile()
	if s := c.w.srv; s.cfg.Debug {
		s.log.Debug("edge: close", "remote", c.remote, "phase", c.phase().String(), "reason", reasonNames[why])
	}
	c.closed = true
	w := c.w
	s := w.srv
	if c.list != nil {
		c.list.remove(c)
	}
	if c.tls != nil && !c.handshaking && !c.taken && why == reasonDone {
		// Best effort close_notify before the FIN.
		c.tr.out = c.tr.out[:0]
		if c.tls.CloseWrite() == nil && len(c.tr.out) > 0 {
			unix.Write(c.fd, c.tr.out)
		}
	}
	c.freeSession()
	if why != reasonDetach {
		w.loop.Remove(c.fd)
		if c.handshaking || c.taken {
			// A goroutine (handshake, takeover) may still use the descriptor:
			// stop it, and close the descriptor here only if it is done.
			t := c.tr
			t.connClosed.Store(true)
			t.kill()
			if !t.running.Load() && t.claim() {
				unix.Close(c.fd)
			}
		} else {
			unix.Close(c.fd)
		}
		s.nconns.Add(-1)
	}
	if c.ws != nil {
		c.wsClosed()
	} else if c.id != 0 {
		s.hub.Unregister(c.id)
	}
	if s.perAddr != nil && c.remote.IsValid() {
		s.perAddr.release(c.remote.Addr())
	}
	w.stats.closed[why].Add(1)
	if s.obs != nil {
		s.obs.ConnClosed(c.obsConn(), reasonNames[why])
	}
	w.nconns--
	*c = conn{closed: true, gen: c.gen + 1}
	if len(w.free) < 1024 {
		w.free = append(w.free, c)
	}
}
