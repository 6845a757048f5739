package edge

import (
	"net/netip"
	"strings"
	"time"

	"github.com/edge-rt/edge/broadcast"
	"github.com/edge-rt/edge/ws"
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
// The route keeps a copy of *st with the defaults filled in; st itself is
// not modified.
func (g *Routes) Stream(path string, st *Stream) *Routes {
	cp := *st
	if cp.MaxMessage <= 0 {
		cp.MaxMessage = 1 << 20
	}
	if cp.QueueBytes <= 0 {
		cp.QueueBytes = 1 << 20
	}
	g.add(route{methods: getHead, m: Path(path), kind: streamRoute{&cp}})
	return g
}

// Client is one WebSocket connection as its stream's callbacks see it.
// Its methods are safe from any goroutine; a Client outlives its
// connection (methods on a closed client do nothing and report false).
type Client struct {
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

// Send sends one message to this client, from any goroutine (the
// stream's callbacks included). Messages from one goroutine go out in
// order; with permessage-deflate they are compressed on the connection's
// loop. Send reports false when the client is gone or closing, or when the
// message does not fit in the client's queue (Stream.QueueBytes; the
// client is then closed with 1008).
func (cl *Client) Send(op ws.Opcode, data []byte) bool { return cl.h.sendRaw(op, data) }

// Close starts the closing handshake with code and reason (at most 123
// bytes), after the messages already sent; the connection closes when the
// client answers or after the read timeout. Safe from any goroutine.
func (cl *Client) Close(code uint16, reason string) { cl.h.requestClose(code, reason) }

func (x *wsConn) appendMessage(dst []byte, op ws.Opcode, data []byte) []byte {
	if x.deflate != nil {
		return x.deflate.AppendMessage(dst, op, data)
	}
	return ws.AppendFrame(dst, op, data)
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
