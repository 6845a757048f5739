package edge

import (
	"context"
	"net"
	"net/netip"
	"os"
	"sync"
	"syscall"
	"unsafe"

	"github.com/edge-rt/edge/http1"
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

	body *bodyState // request body being received
	head []byte     // copy of the request head while pending

	reqStart   int64  // with an Observer: when the current request's head was complete (ns)
	hsStart    int64  // with an Observer: when the TLS handshake began (ns)
	tlsVersion uint16 // TLS: the negotiated version

	tr          *transport      // TLS: the transport under tls
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
	taken      bool // TLS: taken over by a goroutine that does blocking I/O through tr

	takeMethod, takeTarget, takeHost string // the head's pieces for Takeover
}

// bodyMode is what a route does with a request body.
type bodyMode uint8

const (
	bodyWhole   bodyMode = iota // collect it for Ctx.Body (Routes.Post)
	bodyStream                  // hand it over piece by piece (Routes.PostStream)
	bodyDiscard                 // read and check its framing, then answer (any other route)
)

// bodyState tracks a request body that did not arrive with its head.
type bodyState struct {
	r         *route // for observers
	mode      bodyMode
	h         Handler        // bodyWhole, bodyDiscard: answers once the body is in
	sh        *StreamHandler // bodyStream
	head      []byte         // copy of the request head, re-parsed for each callback
	remaining int64          // Content-Length bytes still to come
	chunked   bool
	dec       http1.ChunkedDecoder
	buf       []byte // whole-body accumulation
	total     int64  // body bytes
	wire      int64  // chunked: bytes consumed including framing
	started   bool   // OnStart ran (stream routes)
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
	c.w.current = c
	defer c.w.clearCurrent()
	if c.handshaking || c.taken {
		c.tr.signal()
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
	if len(c.pend) > 0 {
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
	return !c.closed && !c.isPending && len(c.pend) == 0 && !c.qblocked && c.detach == nil && !c.lingering && !c.handshaking
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

// readTLSLoop reads one buffer-full of plaintext (what the transport has,
// up to the worker's read buffer) and processes it. That is the
// connection's share of a loop round: when more may wait inside the TLS
// connection (the buffer filled) or input was left for lack of output
// budget, tlsMore makes afterOutput queue the next read behind the other
// connections' events, so one fast TLS client cannot hold its worker.
func (c *conn) readTLSLoop(carried bool) {
	w := c.w
	n0 := copy(w.rbuf, c.in)
	n, full, eof := c.readTLS(n0)
	// carried: c.in holds input not processed yet (kept while a reply was
	// pending or output blocked), to process even if nothing new came.
	if n > n0 || (n > 0 && (c.overBudget || carried)) {
		w.stats.bytesIn.Add(uint64(n - n0))
		c.releaseIn()
		w.resetOut()
		c.process(w.rbuf[:n])
		c.tlsMore = full || (c.overBudget && len(c.in) > 0)
		c.finish()
	} else {
		c.tlsMore = full
	}
	if c.closed {
		return
	}
	if eof {
		c.close(reasonPeer)
	}
}

// outBudget bounds the output one processing round assembles: a client
// pipelining requests for large responses and not reading them costs at
// most this much (plus the requests it sent).
const outBudget = 256 << 10

// process parses and answers every complete request in data, in order,
// and keeps what cannot be processed yet in c.in.
func (c *conn) process(data []byte) {
	w := c.w
	c.overBudget = false
	c.headDone = false
	if c.ws != nil {
		c.wsProcess(data)
		return
	}
	for len(data) > 0 && (c.body != nil || !c.closeAfter) && !c.isPending && c.detach == nil {
		if c.body != nil {
			n := c.feedBody(data)
			data = data[n:]
			if c.body != nil {
				break // needs more input
			}
			continue
		}
		if w.outSize() >= outBudget {
			c.overBudget = true
			break
		}
		n, err := w.srv.parser.Parse(data, &w.ctx.req)
		if err != nil {
			c.fail(err)
			return
		}
		if n == 0 {
			break
		}
		c.headDone = true
		data = c.handle(data[:n], data[n:])
		if c.ws != nil {
			// Upgraded: what follows the head are WebSocket frames.
			c.wsProcess(data)
			return
		}
	}
	if len(data) > 0 && (c.body != nil || !c.closeAfter) {
		c.in = append([]byte(nil), data...)
	}
}

// finish flushes the output of a processing round and files the
// connection under the list matching what it waits for next.
func (c *conn) finish() {
	if c.closed {
		return
	}
	c.flush()
	if c.closed || len(c.pend) > 0 {
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
	if c.tlsMore && !c.isPending && !c.closed && c.detach == nil {
		c.tlsMore = false
		c.submit(func() {
			if !c.handshaking {
				c.read()
			}
		})
	}
}

// handle answers one request whose head is head; rest is the input after
// it. It returns the input left once any body this request owns was taken.
func (c *conn) handle(head, rest []byte) []byte {
	w := c.w
	s := w.srv
	x := &w.ctx
	req := &x.req
	x.begin(c)
	if !req.KeepAlive || w.closing {
		c.closeAfter = true
	}
	w.stats.requests.Add(1)
	c.requestStarted()
	hasBody := req.ContentLength > 0 || req.Chunked
	switch req.Method {
	case http1.MethodPOST, http1.MethodPUT, http1.MethodPATCH:
		if !s.cfg.AllowPost {
			c.fail(errMethodNotAllowed)
			return nil
		}
	default:
		if hasBody && !s.cfg.AllowPost {
			c.fail(errMethodNotAllowed)
			return nil
		}
	}
	if req.ContentLength > s.cfg.MaxBodySize {
		c.fail(errBodyTooLarge)
		return nil
	}
	if hasBody {
		// Until a body route takes the body, answers close the connection
		// rather than parse what may be an attacker's second request.
		c.closeAfter = true
		c.linger = true
	}
	if c.hostMisdirected(req.Host) {
		x.Text(421, "Misdirected Request\n")
		c.afterHandler(head)
		if hasBody {
			return nil
		}
		return rest
	}
	g := c.l.group(req.Host)
	if g != nil {
		x.group = g
		var allowed uint16 // methods of routes whose path matched but method did not
		for i := range g.routes {
			r := &g.routes[i]
			if !r.match(x) {
				continue
			}
			if !r.methodOK(x) {
				allowed |= r.methods
				continue
			}
			x.route = r
			left, handled := r.kind.serve(c, head, rest)
			if handled {
				return left
			}
		}
		if !x.done() && allowed != 0 && g.fallback == nil {
			// The path exists for other methods: 405 with Allow (a group's
			// own fallback, when it has one, answers instead).
			x.route = nil
			x.extra = append(x.extra, "Allow: "...)
			x.extra = appendAllow(x.extra, allowed)
			x.extra = append(x.extra, "\r\n"...)
			x.Text(405, "Method Not Allowed\n")
		}
		if !x.done() && g.fallback != nil {
			x.route = nil
			g.fallback(x)
		}
	}
	if !x.done() {
		x.route = nil
		x.notFound()
	}
	c.afterHandler(head)
	if hasBody {
		return nil
	}
	return rest
}

// afterHandler records what the handler asked for beyond the response.
func (c *conn) afterHandler(head []byte) {
	x := &c.w.ctx
	if x.pendingSet {
		c.isPending = true
		c.head = append(c.head[:0], head...)
	}
	if x.detachFn != nil {
		c.detach = x.detachFn
		c.head = append(c.head[:0], head...)
		c.takeMethod, c.takeTarget, c.takeHost = string(x.req.MethodName), string(x.req.Target), string(x.req.Host)
	}
	if x.closeSet {
		c.closeAfter = true
	}
}

var (
	errMethodNotAllowed = http1.ErrMethodNotAllowed
	errBodyTooLarge     = http1.ErrContentTooLarge
	errReadTimeout      = http1.ErrRequestTimeout
	errNoResponse       = &http1.Error{Status: 500, Reason: "handler did not respond"}
	errHeadTooLarge     = &http1.Error{Status: 431, Reason: "header section too large"}
	errPendingTimeout   = &http1.Error{Status: 504, Reason: "reply timed out"}
	errShuttingDown     = &http1.Error{Status: 503, Reason: "server shutting down"}
)

// startBody begins receiving the body of a request routed to a route
// that takes bodies (mode says how; h or sh answers).
func (c *conn) startBody(mode bodyMode, h Handler, sh *StreamHandler, head, rest []byte) []byte {
	w := c.w
	x := &w.ctx
	req := &x.req
	c.closeAfter = !req.KeepAlive || w.closing
	c.linger = false
	if !req.Chunked && req.ContentLength < 0 {
		req.ContentLength = 0 // POST without a length: an empty body (RFC 9112 6.3)
	}
	if mode != bodyStream && !req.Chunked && int64(len(rest)) >= req.ContentLength {
		// The common case: the whole body came with the head.
		if mode == bodyWhole {
			x.body = rest[:req.ContentLength]
		} else {
			x.bodyTotal = req.ContentLength
		}
		c.callBodyHandler(mode, h, x, head)
		return rest[req.ContentLength:]
	}
	if req.Expect100 {
		w.out = append(w.out, "HTTP/1.1 100 Continue\r\n\r\n"...)
	}
	b := &bodyState{r: x.route, mode: mode, h: h, sh: sh, head: append([]byte(nil), head...), chunked: req.Chunked}
	if !req.Chunked {
		b.remaining = req.ContentLength
		if mode == bodyWhole {
			// Grown as the body arrives: a client announcing a large body
			// and sending nothing costs nothing.
			b.buf = make([]byte, 0, min(req.ContentLength, 64<<10))
		}
	}
	c.body = b
	if mode == bodyStream {
		b.started = true
		if sh.OnStart != nil {
			sh.OnStart(x)
		}
		if x.done() {
			// Refused at the start: answer and close without reading.
			c.body = nil
			c.afterHandler(head)
			c.closeAfter = true
			c.linger = true
			return nil
		}
	}
	if !req.Chunked && req.ContentLength == 0 {
		c.endBody(true)
		return rest
	}
	n := c.feedBody(rest)
	return rest[n:]
}

// callBodyHandler answers a request whose body is complete: a Post
// handler must answer (500 if not); any other route's handler falls back
// to 404, as routing cannot go on once the body was read.
func (c *conn) callBodyHandler(mode bodyMode, h Handler, x *Ctx, head []byte) {
	h(x)
	if !x.done() {
		if mode == bodyWhole {
			x.fail(errNoResponse)
		} else {
			x.route = nil
			x.notFound()
		}
	}
	c.afterHandler(head)
}

// feedBody consumes body bytes from data and returns how many it took.
func (c *conn) feedBody(data []byte) int {
	b := c.body
	s := c.w.srv
	used := 0
	for c.body != nil {
		var piece []byte
		if b.chunked {
			p, n, done, err := b.dec.Next(data[used:])
			if err != nil {
				c.endBody(false)
				c.fail(err)
				return len(data)
			}
			used += n
			// Framing (sizes, extensions, trailers) is bounded too, so a
			// body of tiny chunks cannot stream forever.
			if b.wire += int64(n); b.wire > 2*s.cfg.MaxBodySize+1<<20 {
				c.endBody(false)
				c.fail(errBodyTooLarge)
				return len(data)
			}
			piece = p
			if len(piece) > 0 && !c.bodyPiece(piece) {
				return len(data)
			}
			if done {
				c.endBody(true)
				return used
			}
			if n == 0 {
				return used
			}
			continue
		}
		take := int64(len(data) - used)
		if take > b.remaining {
			take = b.remaining
		}
		piece = data[used : used+int(take)]
		used += int(take)
		b.remaining -= take
		if len(piece) > 0 && !c.bodyPiece(piece) {
			return len(data)
		}
		if b.remaining == 0 {
			c.endBody(true)
		}
		return used
	}
	return used
}

// bodyPiece hands one piece of body to the route. It reports false when
// the body was refused (too large, or the handler answered early).
func (c *conn) bodyPiece(p []byte) bool {
	b := c.body
	s := c.w.srv
	b.total += int64(len(p))
	if b.total > s.cfg.MaxBodySize {
		c.endBody(false)
		c.fail(errBodyTooLarge)
		return false
	}
	switch b.mode {
	case bodyWhole:
		b.buf = append(b.buf, p...)
		return true
	case bodyDiscard:
		return true
	}
	x := c.ctxFor(b.head)
	x.route = b.r
	if b.sh.OnData != nil {
		b.sh.OnData(x, p)
	}
	if x.done() {
		c.endBody(false)
		c.afterHandler(b.head)
		c.closeAfter = true
		c.linger = true
		return false
	}
	return true
}

// endBody completes (ok) or abandons a body in progress.
func (c *conn) endBody(ok bool) {
	b := c.body
	if b == nil {
		return
	}
	c.body = nil
	x := c.ctxFor(b.head)
	x.route = b.r
	if b.mode != bodyStream {
		if ok {
			x.body = b.buf
			x.bodyTotal = b.total
			c.callBodyHandler(b.mode, b.h, x, b.head)
		}
		return
	}
	if b.started && b.sh.OnEnd != nil {
		x.bodyTotal = b.total
		b.sh.OnEnd(x, ok)
	}
	if ok {
		if !x.done() {
			x.fail(errNoResponse)
		}
		c.afterHandler(b.head)
	}
}

// ctxFor rebuilds the worker's Ctx for a request whose head was saved.
func (c *conn) ctxFor(head []byte) *Ctx {
	x := &c.w.ctx
	c.w.srv.parser.Parse(head, &x.req)
	x.begin(c)
	return x
}

// fail answers a malformed request and closes the connection after.
func (c *conn) fail(err error) {
	e, ok := err.(*http1.Error)
	if !ok {
		e = &http1.Error{Status: 400, Reason: err.Error()}
	}
	w := c.w
	w.stats.badRequests.Add(1)
	if w.srv.cfg.Debug {
		w.srv.log.Debug("edge: bad request", "remote", c.remote, "status", e.Status, "reason", e.Reason)
	}
	if c.body != nil {
		c.endBody(false)
	}
	name := ""
	if w.srv.cfg.HeaderServer {
		name = w.srv.cfg.ServerName
	}
	var clock *http1.Clock
	if w.srv.cfg.HeaderDate {
		clock = w.srv.clock
	}
	w.responded(c, e.Status, 0)
	w.out = http1.AppendErrorDate(w.out, e, name, clock)
	c.closeAfter = true
	c.linger = w.srv.cfg.ErrorClose != CloseImmediately
	c.in = c.in[:0]
}

// flush writes the worker's output for this connection; what the socket
// does not take is kept in c.pend and the connection waits for EPOLLOUT.
func (c *conn) flush() {
	c.w.sealOut()
	c.writeBufs()
}

// writeBufs writes w.bufs (w.bufRef marks immutable pieces) after any
// pending output, keeping what the socket does not take in c.pend.
func (c *conn) writeBufs() {
	w := c.w
	if c.tls != nil && (len(w.bufs) > 0 || len(c.tr.out) > 0) {
		c.sealTLS()
	}
	if len(w.bufs) == 0 {
		return
	}
	total := 0
	for _, b := range w.bufs {
		total += len(b)
	}
	n := 0
	if len(c.pend) == 0 {
		var e syscall.Errno
		n, e = w.writev(c.fd, w.bufs)
		if e != 0 && e != unix.EAGAIN && e != unix.EINTR {
			c.close(reasonWriteError)
			return
		}
		w.stats.bytesOut.Add(uint64(n))
		if n == total {
			return
		}
	}
	// Earlier output still waits (a reply while a response was blocked)
	// or the socket did not take everything: queue behind it, in order.
	// Keep the rest: copies of the worker buffer, references to
	// immutable bodies.
	var owned int
	skip := n
	for i, b := range w.bufs {
		if skip >= len(b) {
			skip -= len(b)
			continue
		}
		b = b[skip:]
		skip = 0
		if !w.bufRef[i] {
			owned += len(b)
		}
	}
	store := make([]byte, 0, owned)
	skip = n
	for i, b := range w.bufs {
		if skip >= len(b) {
			skip -= len(b)
			continue
		}
		b = b[skip:]
		skip = 0
		if w.bufRef[i] {
			c.pend = append(c.pend, b)
		} else {
			start := len(store)
			store = append(store, b...)
			c.pend = append(c.pend, store[start:len(store):len(store)])
		}
	}
	// EPOLLOUT only: a client that half-closed and stops reading would make
	// EPOLLRDHUP fire on every wake-up.
	c.setEvents(unix.EPOLLOUT)
	if c.list != &w.writing {
		c.moveTo(&w.writing)
	}
}

// flushPending writes c.pend; it reports whether all of it went out.
func (c *conn) flushPending() bool {
	w := c.w
	n, e := w.writev(c.fd, c.pend)
	if e != 0 && e != unix.EAGAIN && e != unix.EINTR {
		c.close(reasonWriteError)
		return false
	}
	w.stats.bytesOut.Add(uint64(n))
	for n > 0 && len(c.pend) > 0 {
		if n >= len(c.pend[0]) {
			n -= len(c.pend[0])
			c.pend[0] = nil
			c.pend = c.pend[1:]
			continue
		}
		c.pend[0] = c.pend[0][n:]
		n = 0
	}
	if len(c.pend) > 0 {
		c.moveTo(&w.writing) // progress: a fresh write deadline
		return false
	}
	c.pend = nil
	return true
}

// startLinger half-closes the connection and discards input until the
// peer closes or the read timeout fires, so the client sees the error
// response instead of a reset.
func (c *conn) startLinger() {
	c.lingering = true
	c.releaseIn()
	unix.Shutdown(c.fd, unix.SHUT_WR)
	c.setEvents(unix.EPOLLIN | unix.EPOLLRDHUP)
	c.moveTo(&c.w.reading)
}

func (c *conn) timeoutRead() {
	if c.lingering || (c.body == nil && len(c.in) == 0) {
		c.close(reasonReadTimeout)
		return
	}
	c.w.stats.timeouts.Add(1)
	c.w.resetOut()
	c.fail(errReadTimeout)
	c.linger = false
	c.finish()
	if !c.closed {
		c.close(reasonReadTimeout)
	}
}

func (c *conn) timeoutPending() {
	c.w.stats.timeouts.Add(1)
	c.w.resetOut()
	c.ctxFor(c.head)
	c.isPending = false
	c.fail(errPendingTimeout)
	c.linger = false
	c.finish()
	if !c.closed {
		c.close(reasonReadTimeout)
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

// handOver gives the connection to a goroutine running the route's
// takeover function, with the head and whatever input was read after it.
// A plain socket leaves the loop (a dup'ed descriptor, as net.Conn); a
// TLS connection stays registered, the loop forwarding readiness to the
// goroutine's blocking reads and writes through the TLS stream.
func (c *conn) handOver() {
	w := c.w
	s := w.srv
	fn := c.detach
	t := &Takeover{
		Head:     append([]byte(nil), c.head...),
		Method:   c.takeMethod,
		Target:   c.takeTarget,
		Host:     c.takeHost,
		Buffered: append([]byte(nil), c.in...),
		TLS:      c.tls != nil,
		Remote:   c.remote,
	}
	c.head, c.in = nil, nil
	if c.tls != nil {
		c.handOverTLS(fn, t)
		return
	}
	f := os.NewFile(uintptr(c.fd), "edge-conn")
	w.loop.Remove(c.fd)
	nc, err := net.FileConn(f) // dups the descriptor
	f.Close()
	c.close(reasonDetach)
	if err != nil {
		s.nconns.Add(-1)
		s.log.Warn("edge: detach", "err", err)
		return
	}
	t.Conn = nc
	if !s.startGoroutine(func(ctx context.Context) {
		defer s.nconns.Add(-1)
		defer nc.Close()
		fn(ctx, t)
	}) {
		nc.Close()
		s.nconns.Add(-1)
	}
}

// handOverTLS runs fn over the decrypted stream; the connection closes
// when fn closes it or returns.
func (c *conn) handOverTLS(fn func(context.Context, *Takeover), t *Takeover) {
	w := c.w
	s := w.srv
	tr := c.tr
	tr.blocking.Store(true)
	tr.running.Store(true)
	c.taken = true
	c.detach = nil
	c.events = unix.EPOLLIN | unix.EPOLLOUT | unix.EPOLLRDHUP | unix.EPOLLET
	w.loop.Modify(c.fd, c.events)
	c.moveTo(&w.taken)
	gen := c.gen
	tc := &takenConn{Conn: c.tls, tr: tr}
	t.Conn = tc
	ok := s.startGoroutine(func(ctx context.Context) {
		stop := context.AfterFunc(ctx, tr.kill)
		defer stop()
		fn(ctx, t)
		tc.Close()
		tr.running.Store(false)
		if tr.connClosed.Load() {
			if tr.claim() {
				unix.Close(tr.fd)
			}
			return
		}
		if w.submitConn(c, gen, func() { c.close(reasonDone) }) != nil {
			tr.kill()
			if tr.claim() {
				unix.Close(tr.fd)
				if !tr.connClosed.Load() {
					s.nconns.Add(-1)
				}
			}
		}
	})
	if !ok {
		tr.running.Store(false)
		c.close(reasonShutdown)
	}
}

// takenConn is the TLS stream given to a takeover: Close sends
// close_notify once; the loop closes the socket when the taker is done.
type takenConn struct {
	tlsbackend.Conn
	tr   *transport
	once sync.Once
}

// Close sends close_notify and makes blocked and later reads and writes
// fail (on another goroutine too).
func (t *takenConn) Close() error {
	t.once.Do(func() {
		t.Conn.CloseWrite()
		t.tr.kill()
	})
	return nil
}
