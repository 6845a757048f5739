package edge

import (
	"github.com/edge-rt/edge/http1"
)

// The request-body phase: a body that did not arrive with its head, fed to
// the route as it comes (whole, streamed, or read and checked only).

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
