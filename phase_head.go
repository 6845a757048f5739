package edge

import (
	"github.com/edge-rt/edge/http1"
)

// The request-head phase: parse every complete request head in the input,
// route it, and answer (or hand it to the phase that takes it over).

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
	for len(data) > 0 && (c.body != nil || !c.closeAfter) && !c.isPending && c.detach == nil && c.px == nil {
		if c.body != nil {
			n := c.feedBody(data)
			data = data[n:]
			if c.body != nil {
				break // needs more input
			}
			continue
		}
		if w.outSize() >= outBudget || c.file != nil {
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
	// Without AllowPost a request with a body (or a method meant for one)
	// gets 405, except on a proxy route: the backend decides.
	refuseBody := !s.cfg.AllowPost && (hasBody || req.Method == http1.MethodPOST || req.Method == http1.MethodPUT || req.Method == http1.MethodPATCH)
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
	if refuseBody && (g == nil || !g.hasProxy) {
		c.fail(errMethodNotAllowed)
		return nil
	}
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
			if _, isProxy := r.kind.(proxyRoute); refuseBody && !isProxy {
				c.fail(errMethodNotAllowed)
				return nil
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
	if !x.done() && refuseBody {
		c.fail(errMethodNotAllowed)
		return nil
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
		c.take = &Takeover{Method: string(x.req.MethodName), Target: string(x.req.Target), Host: string(x.req.Host)}
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
