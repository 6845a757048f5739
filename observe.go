package edge

import (
	"time"

	"github.com/edge-rt/edge/observe"
)

// The engine's calls into Config.Observer. Each is one nil check when no
// observer is set: nothing is built, timed or allocated.

// responded counts a response queued for c and reports the request.
func (w *worker) responded(c *conn, status, bodyLen int) {
	w.stats.responses.Add(1)
	obs := w.srv.obs
	if obs == nil {
		return
	}
	x := &w.ctx
	r := &w.obsReq
	*r = observe.Request{
		Listener: c.l.name,
		Host:     x.req.Host,
		Method:   x.req.MethodName,
		Target:   x.req.Target,
		Status:   status,
		BytesOut: int64(bodyLen),
		Remote:   c.remote,
	}
	if x.group != nil {
		r.HostGroup = x.group.name()
	}
	if x.route != nil {
		r.Route = x.route.name
	}
	if c.reqStart != 0 {
		r.Duration = time.Duration(time.Now().UnixNano() - c.reqStart)
	}
	if c.tls != nil && !c.handshaking {
		r.TLSVersion = c.tlsVersion
		r.JA4 = c.ja4
	}
	obs.Request(r)
}

// requestStarted notes when a request head was complete, for the
// request's duration.
func (c *conn) requestStarted() {
	if c.w.srv.obs != nil {
		c.reqStart = time.Now().UnixNano()
	}
}

func (c *conn) obsConn() observe.Conn {
	return observe.Conn{Listener: c.l.name, Remote: c.remote, TLS: c.l.tls != nil}
}
