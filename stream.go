package edge

import (
	"net/netip"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/edge-rt/edge/broadcast"
	"github.com/edge-rt/edge/observe"
	"github.com/edge-rt/edge/ws"
	"golang.org/x/sys/unix"
)

// Stream is a WebSocket endpoint (Caprese's stream: block): the upgrade,
// the callbacks, and the limits of its connections. A Stream must not be
// modified after the server starts.
type Stream struct {
	// Protocols are the subprotocols the server speaks, in preference
	// order. A client offering protocols gets the first of its offers that
	// is listed here; a client offering none gets none. Empty: no
	// subprotocol is ever selected.
	Protocols []string
	// SelectProtocol, if not nil, replaces Protocols (Caprese's
	// onProtocol): it gets the raw Sec-WebSocket-Protocol value and
	// returns the protocol to answer with ("" for none), or false to
	// refuse the upgrade with 400.
	SelectProtocol func(c *Ctx, offered string) (string, bool)
	// OnOpen runs once the connection is upgraded.
	OnOpen func(c *Client)
	// OnMessage runs for every complete text or binary message; data is
	// borrowed (it may sit in a pooled buffer reused by the next frame):
	// copy it to keep it beyond the call.
	OnMessage func(c *Client, op ws.Opcode, data []byte)
	// OnClose runs once when the connection ends, with the close code the
	// client sent (1005 if none, 1006 when the connection dropped without
	// a close frame) or the one edge closed with.
	OnClose func(c *Client, code uint16, reason string)
	// OnFrame, if not nil, sees every event first (Caprese's raw opcode
	// handler); returning true means it handled the event, so edge does
	// not answer pings or close frames nor call OnMessage for it.
	OnFrame func(c *Client, ev *ws.Event) bool
	// Page answers plain GET requests on the stream's path (the same path
	// can serve a page); nil answers 426 Upgrade Required.
	Page Handler
	// MaxMessage bounds a received message (1009 beyond). Zero: 1 MiB.
	MaxMessage int64
	// QueueBytes bounds what may wait to be sent to one client; a client
	// that does not read is closed with 1008 when it is full. Zero: 1 MiB.
	QueueBytes int
	// Compression negotiates permessage-deflate with clients that offer
	// it. Messages sent to a tag are framed once, uncompressed, for all.
	Compression bool
}

// Stream routes WebSocket upgrades on the exact path to st (GET only).
func (g *Routes) Stream(path string, st *Stream) *Routes {
	if st.MaxMessage <= 0 {
		st.MaxMessage = 1 << 20
	}
	if st.QueueBytes <= 0 {
		st.QueueBytes = 1 << 20
	}
	g.add(route{methods: getHead, m: Path(path), ws: st})
	return g
}

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
}

// Client is one WebSocket connection as its stream's callbacks see it.
// Its methods must be called from those callbacks (the connection's
// event loop); other goroutines use the client's ID with Server.Send and
// the Hub.
type Client struct {
	c        *conn
	h        *connHandle
	id       ClientID
	protocol string
	remote   netip.AddrPort
	url      string
}

// URL is the target of the upgrade request (path and query).
func (cl *Client) URL() string { return cl.url }

// Query returns the first value of query parameter name of the upgrade
// request, unescaped ("" if absent).
func (cl *Client) Query(name string) string {
	_, q, _ := strings.Cut(cl.url, "?")
	v, _ := lookupQuery(q, name)
	return v
}

// ID is the client's stable ID, valid from any goroutine.
func (cl *Client) ID() ClientID { return cl.id }

// Protocol is the negotiated subprotocol ("" for none).
func (cl *Client) Protocol() string { return cl.protocol }

// RemoteAddr is the client's address (zero on Unix sockets).
func (cl *Client) RemoteAddr() netip.AddrPort { return cl.remote }

// Server is the server the client is connected to.
func (cl *Client) Server() *Server { return cl.h.w.srv }

// Data returns the client's extension data (nil until SetData).
func (cl *Client) Data() any {
	d, _ := cl.h.w.srv.hub.Data(cl.id)
	return d
}

// SetData sets the client's extension data.
func (cl *Client) SetData(d any) { cl.h.w.srv.hub.SetData(cl.id, d) }

// SetTag adds the client to tag t.
func (cl *Client) SetTag(t broadcast.Tag) { cl.h.w.srv.hub.SetTag(cl.id, t) }

// DelTag removes the client from tag t.
func (cl *Client) DelTag(t broadcast.Tag) { cl.h.w.srv.hub.DelTag(cl.id, t) }

// Send sends one message to this client. It reports false when the
// client is closing or its queue is full (it is then closed with 1008).
func (cl *Client) Send(op ws.Opcode, data []byte) bool {
	c := cl.c
	if c == nil || c.closed || c.ws == nil || c.ws.closeSent || c.h != cl.h {
		return false
	}
	w := c.w
	if w.current == c {
		// From a callback of this very connection: straight into its output.
		w.out = c.ws.appendMessage(w.out, op, data)
		w.stats.wsMessagesOut.Add(1)
		if obs := w.srv.obs; obs != nil {
			obs.WSMessage(c.l.name, observe.Out, len(data))
		}
		return true
	}
	return cl.h.w.srv.Send(cl.id, op, data) == nil
}

// Close starts the closing handshake with code and reason (at most 123
// bytes); the connection closes when the client answers or after the
// read timeout.
func (cl *Client) Close(code uint16, reason string) {
	c := cl.c
	if c == nil || c.closed || c.ws == nil || c.h != cl.h {
		return
	}
	if c.w.current == c {
		c.wsSendClose(code, reason)
		return
	}
	// Another connection's callback (maybe on another loop): on c's loop.
	h := cl.h
	h.w.loop.Submit(func() {
		c := h.c
		if c.closed || c.h != h || c.ws == nil {
			return
		}
		h.w.resetOut()
		c.wsSendClose(code, reason)
		c.finish()
	})
}

func (x *wsConn) appendMessage(dst []byte, op ws.Opcode, data []byte) []byte {
	if x.deflate != nil {
		return x.deflate.AppendMessage(dst, op, data)
	}
	return ws.AppendFrame(dst, op, data)
}

// upgrade answers a request on a stream route: the WebSocket handshake,
// or the stream's page for plain GETs.
func (c *conn) upgrade(r *route, head []byte) {
	w := c.w
	x := &w.ctx
	req := &x.req
	st := r.ws
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
	out := append(w.out, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: "...)
	out = ws.AppendAccept(out, wr.Key)
	out = append(out, "\r\n"...)
	if protocol != "" {
		out = append(out, "Sec-WebSocket-Protocol: "...)
		out = append(out, protocol...)
		out = append(out, "\r\n"...)
	}
	out = append(out, extHeader...)
	if w.srv.cfg.HeaderServer {
		out = append(out, "Server: "...)
		out = append(out, w.srv.cfg.ServerName...)
		out = append(out, "\r\n"...)
	}
	w.out = append(out, "\r\n"...)
	x.replied = true
	x.status = 101
	w.responded(c, 101, 0)

	s := w.srv
	wc := &wsConn{st: st, deflate: deflate, code: 1006}
	wc.dec.MaxMessage = st.MaxMessage
	wc.dec.Deflate = deflate
	c.ws = wc
	h := c.hubHandle()
	h.q = broadcast.NewQueue(st.QueueBytes)
	if c.id == 0 {
		c.id = s.hub.Register(h, nil)
		h.id = c.id
	}
	cl := &Client{c: c, h: h, id: c.id, protocol: protocol, remote: c.remote, url: string(req.Target)}
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
	if h := c.h; h != nil && h.q != nil {
		h.q.Close()
	}
	c.w.stats.wsClosed.Add(1)
	wc.dec.Reset() // its buffers go back to the pools now
	if wc.st.OnClose != nil {
		wc.st.OnClose(wc.client, wc.code, wc.reason)
	}
	wc.client.c = nil
}

// connHandle is a connection as the Hub sees it (its Sink): it outlives
// the conn struct, which is recycled, so every use checks the ID.
type connHandle struct {
	c    *conn
	w    *worker
	id   ClientID
	q    *broadcast.Queue // WebSocket output queue; nil for HTTP clients
	full bool             // loop only: 1008 close already scheduled
}

// hubHandle returns (creating it) the connection's Hub handle.
func (c *conn) hubHandle() *connHandle {
	if c.h == nil {
		c.h = &connHandle{c: c, w: c.w}
	}
	return c.h
}

// Send implements broadcast.Sink; safe from any goroutine.
func (h *connHandle) Send(m *broadcast.Message) broadcast.Result {
	if h.q == nil {
		return broadcast.Gone
	}
	ok, wasEmpty := h.q.Push(m)
	if !ok {
		if h.q.Closed() {
			return broadcast.Gone
		}
		h.w.loop.Submit(func() { h.overflow() })
		return broadcast.Full
	}
	if wasEmpty {
		h.w.wake(h)
	}
	return broadcast.Queued
}

// overflow closes a client whose queue is full (1008), on its loop.
func (h *connHandle) overflow() {
	c := h.c
	if c.closed || c.h != h || c.ws == nil || h.full {
		return
	}
	h.full = true
	h.w.stats.wsSlowClosed.Add(1)
	if obs := h.w.srv.obs; obs != nil {
		obs.QueueDrop(c.l.name, true)
	}
	h.w.resetOut()
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
		c := h.c
		if c.closed || c.h != h || c.ws == nil {
			continue
		}
		c.writeQueue()
	}
	w.dirtySpare = hs[:0]
}

// writeQueue writes queued messages (after any pending output). A message
// the socket takes only in part leaves its rest in c.pend, so frames never
// interleave.
func (c *conn) writeQueue() {
	h := c.h
	if h == nil || h.q == nil || len(c.pend) > 0 || c.handshaking {
		return
	}
	w := c.w
	for h.q.Len() > 0 && len(c.pend) == 0 && !c.closed {
		var took int
		w.bufs, took = h.q.Drain(w.bufs[:0], outBudget)
		if len(w.bufs) == 0 {
			return
		}
		msgs := len(w.bufs)
		if obs := w.srv.obs; obs != nil {
			for _, b := range w.bufs {
				obs.WSMessage(c.l.name, observe.Out, len(b))
			}
		}
		h.q.Consume(took)
		w.bufRef = w.bufRef[:0]
		for range w.bufs {
			w.bufRef = append(w.bufRef, true) // queued messages are immutable
		}
		c.writeBufs()
		w.stats.wsMessagesOut.Add(uint64(msgs))
	}
	if !c.closed && len(c.pend) == 0 {
		c.afterOutput()
	}
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
	if c.h != nil && c.h.q != nil && c.h.q.Len() > 0 {
		c.writeQueue()
	}
}

// Send sends one message to client id from any goroutine. It returns
// ErrGone when the client has closed and ErrQueueFull when its queue is
// full (it is then closed with 1008).
func (s *Server) Send(id ClientID, op ws.Opcode, data []byte) error {
	m := broadcast.NewMessage(ws.AppendFrame(nil, op, data))
	switch s.hub.Send(id, m) {
	case broadcast.Gone:
		return ErrGone
	case broadcast.Full:
		return ErrQueueFull
	}
	return nil
}

// SendTag sends one message to every client of tag t, from any goroutine:
// it is framed once and shared by all. It returns how many clients it was
// queued for; slow clients whose queue is full are closed with 1008 and
// not counted.
func (s *Server) SendTag(t broadcast.Tag, op ws.Opcode, data []byte) int {
	return s.hub.SendTag(t, broadcast.NewMessage(ws.AppendFrame(nil, op, data)))
}

// Hub is the server's client and tag index: set and delete tags, list
// clients of a tag and tags of a client, from any goroutine.
func (s *Server) Hub() *broadcast.Hub { return s.hub }

var _ broadcast.Sink = (*connHandle)(nil)

// wsTimeouts returns the ping interval (zero: 30 s).
func (cfg *Config) pingInterval() time.Duration {
	if cfg.PingInterval == 0 {
		return 30 * time.Second
	}
	return cfg.PingInterval
}

// isWebSocketUpgrade reports whether the Upgrade header names websocket.
func isWebSocketUpgrade(v []byte) bool {
	return strings.EqualFold(strings.TrimSpace(str(v)), "websocket")
}
