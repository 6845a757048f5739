package edge

import (
	"sync"
	"sync/atomic"
	"unicode/utf8"

	"github.com/edge-rt/edge/broadcast"
	"github.com/edge-rt/edge/observe"
	"github.com/edge-rt/edge/ws"
	"golang.org/x/sys/unix"
)

// The WebSocket phase: a connection upgraded on a stream route. Input is
// frames (wsProcess); output is the connection's own frames (pongs, close,
// Client.Send through the outbox) and the Hub's queue (writeQueue).

// wsConn is the WebSocket state of an upgraded connection.
type wsConn struct {
	st      *Stream
	client  *Client
	dec     ws.Decoder
	deflate *ws.Deflate
	// closeSent: our close frame is out; the connection closes when the
	// client's arrives or the read timeout fires.
	closeSent bool
	code      uint16 // the close code for OnClose
	reason    string
	pinged    bool
	closeReq  *closeRequest // Client.Close while messages were queued: sent after them
}

// closeRequest is a close frame to send once the queue is written.
type closeRequest struct {
	code   uint16
	reason string
}

// upgrade answers a request on a stream route: the WebSocket handshake,
// or the stream's page for plain GETs.
func (c *conn) upgrade(st *Stream, head []byte) {
	w := c.w
	x := &w.ctx
	req := &x.req
	wr := ws.Request{
		Method:     str(req.MethodName),
		Upgrade:    req.Upgrade,
		Key:        req.Values[hdrSecWebSocketKey],
		Version:    req.Values[hdrSecWebSocketVersion],
		Protocol:   req.Values[hdrSecWebSocketProtocol],
		Extensions: req.Values[hdrSecWebSocketExtensions],
	}
	err := ws.CheckRequest(&wr)
	if err == ws.ErrNotWebSocket {
		if st.Page != nil {
			st.Page(x)
			return
		}
		x.SetHeader("Upgrade", "websocket")
		x.Text(426, "Upgrade Required\n")
		return
	}
	if err != nil {
		he, ok := err.(*ws.HandshakeError)
		if !ok {
			he = &ws.HandshakeError{Status: 400, Reason: err.Error()}
		}
		if he.Header != "" {
			x.extra = append(x.extra, he.Header...)
		}
		x.CloseAfter()
		x.Text(he.Status, he.Reason+"\n")
		return
	}
	protocol := ""
	offered := str(wr.Protocol)
	if st.SelectProtocol != nil {
		p, ok := st.SelectProtocol(x, offered)
		if !ok {
			x.CloseAfter()
			x.Text(400, "unsupported WebSocket protocol\n")
			return
		}
		protocol = p
	} else if offered != "" && len(st.Protocols) > 0 {
		protocol, _ = ws.SelectProtocol(wr.Protocol, st.Protocols)
	}
	var deflate *ws.Deflate
	var extHeader string
	if st.Compression {
		deflate, extHeader = ws.NegotiateDeflate(wr.Extensions, ws.DeflateConfig{Enabled: true})
	}
	if w.srv.cfg.HeaderServer {
		extHeader += "Server: " + w.srv.cfg.ServerName + "\r\n"
	}
	w.out = ws.AppendUpgradeResponse(w.out, wr.Key, protocol, extHeader)
	x.replied = true
	x.status = 101
	w.responded(c, 101, 0)

	s := w.srv
	wc := &wsConn{st: st, deflate: deflate, code: 1006}
	wc.dec.MaxMessage = st.MaxMessage
	wc.dec.Deflate = deflate
	c.ws = wc
	h := c.hubHandle()
	h.q.Store(broadcast.NewQueue(st.QueueBytes))
	if c.id == 0 {
		c.id = s.hub.Register(h, nil)
	}
	cl := &Client{h: h, id: c.id, protocol: protocol, remote: c.remote, url: string(req.Target)}
	wc.client = cl
	w.stats.wsOpened.Add(1)
	c.closeAfter = false
	if st.OnOpen != nil {
		st.OnOpen(cl)
	}
}

// wsProcess decodes frames from data and runs the stream's callbacks.
// What is left of an incomplete frame stays in c.in.
func (c *conn) wsProcess(data []byte) {
	wc := c.ws
	st := wc.st
	cl := wc.client
	for !c.closed {
		ev, n, err := wc.dec.Next(data)
		data = data[n:]
		if err != nil {
			ce, ok := err.(*ws.CloseError)
			if !ok {
				ce = &ws.CloseError{Code: 1002, Reason: err.Error()}
			}
			c.w.stats.wsProtocolErrors.Add(1)
			c.wsSendClose(ce.Code, ce.Reason)
			c.closeAfter = true
			// Unread input may follow (the rest of an oversized frame):
			// half-close and drain, so the client reads the close frame
			// and an EOF rather than a reset.
			c.linger = true
			c.in = nil
			return
		}
		if ev.Kind == ws.KindNone {
			break
		}
		wc.pinged = false
		if st.OnFrame != nil && st.OnFrame(cl, &ev) {
			continue
		}
		switch ev.Kind {
		case ws.KindMessage:
			c.w.stats.wsMessagesIn.Add(1)
			if obs := c.w.srv.obs; obs != nil {
				obs.WSMessage(c.l.name, observe.In, len(ev.Payload))
			}
			if wc.closeSent {
				continue // closing: drop data, wait for the close frame
			}
			if st.OnMessage != nil {
				st.OnMessage(cl, ev.Opcode, ev.Payload)
			}
		case ws.KindPing:
			if !wc.closeSent {
				c.w.out = ws.AppendFrame(c.w.out, ws.OpPong, ev.Payload)
			}
		case ws.KindPong:
		case ws.KindClose:
			if !wc.closeSent {
				// Echo the code, then close (the server closes TCP first).
				code := ev.CloseCode
				if code == 1005 {
					code = 0
				}
				c.w.out = ws.AppendClose(c.w.out, code, "")
				wc.closeSent = true
			}
			wc.code, wc.reason = ev.CloseCode, string(ev.CloseReason)
			c.closeAfter = true
			return
		}
	}
	if len(data) > 0 {
		c.in = append([]byte(nil), data...)
	}
}

// wsSendClose queues a close frame and marks the connection closing.
func (c *conn) wsSendClose(code uint16, reason string) {
	wc := c.ws
	if wc.closeSent {
		return
	}
	if len(reason) > 123 {
		reason = reason[:123]
		for !utf8.ValidString(reason) {
			reason = reason[:len(reason)-1]
		}
	}
	wc.closeSent = true
	wc.code, wc.reason = code, reason
	c.w.out = ws.AppendClose(c.w.out, code, reason)
}

// wsClosed runs the stream's OnClose once, when the connection closes.
func (c *conn) wsClosed() {
	wc := c.ws
	s := c.w.srv
	s.hub.Unregister(c.id)
	if h := c.h; h != nil {
		if q := h.q.Load(); q != nil {
			q.Close()
		}
	}
	c.w.stats.wsClosed.Add(1)
	wc.dec.Reset() // its buffers go back to the pools now
	if wc.st.OnClose != nil {
		wc.st.OnClose(wc.client, wc.code, wc.reason)
	}
}

// connHandle is a connection as the Hub and Clients see it: it outlives
// the conn struct, which is recycled, so everything run for it on the loop
// goes through submit, which drops it when the connection is gone.
type connHandle struct {
	c   *conn                           // immutable
	w   *worker                         // immutable
	gen uint32                          // immutable: c.gen when the handle was made
	q   atomic.Pointer[broadcast.Queue] // WebSocket output queue; nil for HTTP clients

	full    atomic.Bool // a 1008 close for a full queue is scheduled
	closing atomic.Bool // Client.Close was called: no more sends

	// The outbox holds Client.Send messages until the loop frames them
	// (compressed, with permessage-deflate) into the connection's output.
	omu    sync.Mutex
	outbox []rawMsg // guarded by omu
	obuf   []byte   // guarded by omu: the payloads, back to back
	obytes int      // guarded by omu: bytes accounted for the outbox

	spareMsgs []rawMsg // loop only
	spareBuf  []byte   // loop only
}

// rawMsg is one Client.Send payload, obuf[start:end].
type rawMsg struct {
	op         ws.Opcode
	start, end int
}

// hubHandle returns (creating it) the connection's Hub handle.
func (c *conn) hubHandle() *connHandle {
	if c.h == nil {
		c.h = &connHandle{c: c, w: c.w, gen: c.gen}
	}
	return c.h
}

// live returns the handle's connection if it is still the one the handle
// was made for and open. Loop only.
func (h *connHandle) live() *conn {
	c := h.c
	if c.gen != h.gen || c.closed || c.h != h {
		return nil
	}
	return c
}

// submit runs f on the connection's loop if the connection is still
// there then. Safe from any goroutine.
func (h *connHandle) submit(f func(c *conn)) error {
	return h.w.loop.Submit(func() {
		if c := h.live(); c != nil {
			f(c)
		}
	})
}

// Send implements broadcast.Sink; safe from any goroutine.
func (h *connHandle) Send(m *broadcast.Message) broadcast.Result {
	q := h.q.Load()
	if q == nil || h.closing.Load() {
		return broadcast.Gone
	}
	ok, wasEmpty := q.Push(m)
	if !ok {
		if q.Closed() {
			return broadcast.Gone
		}
		h.scheduleOverflow()
		return broadcast.Full
	}
	if wasEmpty {
		h.w.wake(h)
	}
	return broadcast.Queued
}

// sendRaw queues one Client.Send message in the outbox. Safe from any
// goroutine.
func (h *connHandle) sendRaw(op ws.Opcode, data []byte) bool {
	q := h.q.Load()
	if q == nil || q.Closed() || h.closing.Load() {
		return false
	}
	size := len(data) + 14 // the largest frame header
	h.omu.Lock()
	if h.obytes+size+q.Len() > q.Max() {
		h.omu.Unlock()
		h.scheduleOverflow()
		return false
	}
	start := len(h.obuf)
	h.obuf = append(h.obuf, data...)
	h.outbox = append(h.outbox, rawMsg{op: op, start: start, end: len(h.obuf)})
	h.obytes += size
	first := len(h.outbox) == 1
	h.omu.Unlock()
	if first {
		return h.submit((*conn).drainOutbox) == nil
	}
	return true
}

// requestClose starts the closing handshake after what was sent so far.
// Safe from any goroutine.
func (h *connHandle) requestClose(code uint16, reason string) {
	if h.q.Load() == nil || h.closing.Swap(true) {
		return
	}
	h.submit(func(c *conn) {
		c.drainOutbox()
		if c.closed || c.ws.closeSent {
			return
		}
		if c.blocked() || c.qblocked || c.h.q.Load().Len() > 0 {
			c.ws.closeReq = &closeRequest{code, reason}
			return
		}
		c.w.resetOut()
		c.wsSendClose(code, reason)
		c.finish()
	})
}

// drainOutbox frames the outbox's messages: straight into the output when
// nothing else waits, else behind the queued messages. Loop only.
func (c *conn) drainOutbox() {
	h := c.h
	h.omu.Lock()
	msgs, buf := h.outbox, h.obuf
	h.outbox, h.obuf = h.spareMsgs[:0], h.spareBuf[:0]
	h.obytes = 0
	h.omu.Unlock()
	h.spareMsgs, h.spareBuf = nil, nil
	if len(msgs) == 0 || c.ws == nil {
		return
	}
	wc := c.ws
	w := c.w
	q := h.q.Load()
	direct := !c.blocked() && !c.qblocked && q.Len() == 0
	if direct {
		w.resetOut()
	}
	pushed := false
	for _, m := range msgs {
		if wc.closeSent {
			break
		}
		data := buf[m.start:m.end]
		if direct {
			w.out = wc.appendMessage(w.out, m.op, data)
			w.sentMessage(c, len(data))
			continue
		}
		if ok, _ := q.Push(broadcast.NewMessage(wc.appendMessage(nil, m.op, data))); !ok {
			h.overflow(c)
			break
		}
		pushed = true
	}
	// Keep the buffers for the next burst unless a burst made them large.
	if cap(buf) <= 64<<10 {
		h.spareMsgs, h.spareBuf = msgs[:0], buf[:0]
	}
	if c.closed {
		return
	}
	if direct {
		c.finish()
	} else if pushed {
		c.writeQueue()
	}
}

// sentMessage counts one WebSocket message written to c's output.
func (w *worker) sentMessage(c *conn, size int) {
	w.stats.wsMessagesOut.Add(1)
	if obs := w.srv.obs; obs != nil {
		obs.WSMessage(c.l.name, observe.Out, size)
	}
}

// scheduleOverflow closes the client with 1008 on its loop, once.
func (h *connHandle) scheduleOverflow() {
	if h.full.CompareAndSwap(false, true) {
		h.submit(func(c *conn) { h.overflow(c) })
	}
}

// overflow closes a client whose queue is full (1008). Loop only.
func (h *connHandle) overflow(c *conn) {
	h.full.Store(true)
	if c.closed || c.ws == nil || c.ws.closeSent {
		return
	}
	w := h.w
	w.stats.wsSlowClosed.Add(1)
	w.stats.wsQueueDrops.Add(1)
	if obs := w.srv.obs; obs != nil {
		obs.QueueDrop(c.l.name, true)
	}
	if q := h.q.Load(); q != nil {
		if c.qblocked {
			// A message went out in part: its rest must precede the close
			// frame; the messages behind it are dropped.
			if rest, _ := q.Drain(nil, 1); len(rest) > 0 {
				c.pend = append(c.pend, rest[0])
			}
			c.qblocked = false
		}
		q.Close()
	}
	w.resetOut()
	c.wsSendClose(1008, "send queue full")
	c.closeAfter = true
	c.linger = false
	c.finish()
}

// wake asks the loop to write h's queue; wake-ups are batched per loop.
func (w *worker) wake(h *connHandle) {
	w.dmu.Lock()
	w.dirty = append(w.dirty, h)
	first := len(w.dirty) == 1
	w.dmu.Unlock()
	if first {
		w.loop.Submit(w.drainDirtyFn)
	}
}

// drainDirty writes the queues of the connections woken since last time.
func (w *worker) drainDirty() {
	w.dmu.Lock()
	hs := w.dirty
	w.dirty = w.dirtySpare[:0]
	w.dmu.Unlock()
	for i, h := range hs {
		hs[i] = nil
		if c := h.live(); c != nil && c.ws != nil {
			c.writeQueue()
		}
	}
	w.dirtySpare = hs[:0]
}

// writeQueue writes queued messages (after any pending output), at most
// outBudget bytes per call. On plain connections only what the socket took
// leaves the queue, so a slow reader's backlog stays within QueueBytes;
// on TLS a batch is encrypted at once and its ciphertext waits in c.pend.
// Then the close frame Client.Close asked for, once the queue is empty.
func (c *conn) writeQueue() {
	h := c.h
	if h == nil || c.blocked() || c.qblocked || c.handshaking {
		return
	}
	q := h.q.Load()
	if q == nil {
		return
	}
	w := c.w
	for q.Len() > 0 && !c.blocked() && !c.closed {
		var took int
		w.bufs, took = q.Drain(w.bufs[:0], outBudget)
		if len(w.bufs) == 0 {
			break
		}
		if c.tls != nil {
			q.Consume(took)
			w.bufRef = w.bufRef[:0]
			for range w.bufs {
				w.bufRef = append(w.bufRef, true) // queued messages are immutable
			}
			for _, b := range w.bufs {
				w.sentMessage(c, len(b))
			}
			c.writeBufs()
			continue
		}
		n, e := w.writev(c.fd, w.bufs)
		if e != 0 && e != unix.EAGAIN && e != unix.EINTR {
			c.close(reasonWriteError)
			return
		}
		w.stats.bytesOut.Add(uint64(n))
		q.Consume(n)
		// Count the messages whose last byte went out.
		left := n
		for _, b := range w.bufs {
			if left < len(b) {
				break
			}
			left -= len(b)
			w.sentMessage(c, len(b))
		}
		if n < took {
			// The socket is full: wait for EPOLLOUT with the rest queued.
			c.qblocked = true
			c.setEvents(unix.EPOLLOUT)
			if c.list != &w.writing {
				c.moveTo(&w.writing)
			}
			return
		}
	}
	if c.closed || c.blocked() {
		return
	}
	if cr := c.ws.closeReq; cr != nil && q.Len() == 0 && !c.ws.closeSent {
		c.ws.closeReq = nil
		w.resetOut()
		c.wsSendClose(cr.code, cr.reason)
		c.finish()
		return
	}
	c.afterOutput()
}

// wsIdle handles a WebSocket connection that was quiet for PingInterval:
// ping it, and close it if it stayed quiet since the last ping.
func (c *conn) wsIdle() {
	wc := c.ws
	if wc.pinged || wc.closeSent {
		c.close(reasonIdle)
		return
	}
	wc.pinged = true
	w := c.w
	w.resetOut()
	w.out = ws.AppendFrame(w.out, ws.OpPing, nil)
	c.finish()
	if !c.closed && c.list != &w.wsIdle {
		c.moveTo(&w.wsIdle)
	}
}

// wsAfterOutput files an upgraded connection after its output went out.
func (c *conn) wsAfterOutput() {
	w := c.w
	if c.closeAfter {
		if c.linger {
			c.startLinger()
		} else {
			c.close(reasonDone)
		}
		return
	}
	c.setEvents(unix.EPOLLIN | unix.EPOLLRDHUP)
	if c.ws.closeSent {
		if c.list != &w.reading {
			c.moveTo(&w.reading) // waiting for the client's close frame
		}
		return
	}
	c.moveTo(&w.wsIdle)
	if q := c.h.q.Load(); q != nil && (q.Len() > 0 || c.ws.closeReq != nil) {
		c.writeQueue()
	}
}
