package edge

// Route kinds: what a route does with a request it matched. Each kind is
// one type behind routeKind, so a new kind (a proxy, a passthrough, a
// hook-driven stream) is one new type; config-file actions map onto the
// same types through the Routes methods.

// routeKind serves a request a route matched (path and method). head is
// the request head, rest the input after it. It returns the input left
// for the next request and whether the request is handled; false lets
// routing go on with the next route (a guard handler that did not
// answer).
type routeKind interface {
	serve(c *conn, head, rest []byte) (left []byte, handled bool)
}

// hasBody reports whether the request being routed carries a body.
func (x *Ctx) hasBody() bool { return x.req.ContentLength > 0 || x.req.Chunked }

// handlerRoute answers with a Handler (Handle, Get, Static, Redirect...).
// A request with a body has its body read and its framing checked first
// (a malformed body gets its 4xx, never the handler's answer).
type handlerRoute struct{ h Handler }

func (k handlerRoute) serve(c *conn, head, rest []byte) ([]byte, bool) {
	x := &c.w.ctx
	if x.hasBody() {
		return c.startBody(bodyDiscard, k.h, nil, head, rest), true
	}
	k.h(x)
	if !x.done() {
		return rest, false
	}
	c.afterHandler(head)
	return rest, true
}

// postRoute answers with the whole body in Ctx.Body (Routes.Post).
type postRoute struct{ h Handler }

func (k postRoute) serve(c *conn, head, rest []byte) ([]byte, bool) {
	return c.startBody(bodyWhole, k.h, nil, head, rest), true
}

// bodyStreamRoute hands the body over piece by piece (Routes.PostStream).
type bodyStreamRoute struct{ sh *StreamHandler }

func (k bodyStreamRoute) serve(c *conn, head, rest []byte) ([]byte, bool) {
	return c.startBody(bodyStream, nil, k.sh, head, rest), true
}

// streamRoute upgrades to a WebSocket stream (Routes.Stream), or serves
// the stream's page.
type streamRoute struct{ st *Stream }

func (k streamRoute) serve(c *conn, head, rest []byte) ([]byte, bool) {
	x := &c.w.ctx
	c.upgrade(k.st, head)
	c.afterHandler(head)
	if x.hasBody() {
		// A body on an upgrade request is not read: close after the answer.
		return nil, true
	}
	return rest, true
}
