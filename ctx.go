package edge

import (
	"context"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"unsafe"

	"github.com/edge-rt/edge/http1"
	"github.com/edge-rt/edge/static"
)

// Ctx is one request being answered: its accessors read the request, its
// response methods answer it. A worker reuses one Ctx for every request it
// serves, so a Ctx and every string or slice it returns are only valid
// until the handler returns (copy with strings.Clone or bytes.Clone to keep
// them). A Ctx must not be used from another goroutine: to answer later,
// call Pending and reply through Server.Reply.
type Ctx struct {
	w   *worker
	c   *conn
	req http1.Request

	body      []byte
	bodyTotal int64

	params  [maxParams]param
	nparams int
	matches []string

	group *Routes // the host group serving the request, nil before routing
	route *route  // the route that answered, nil before one did

	extra   []byte // extra response header lines
	status  int    // response status once answered, 0 before
	head    bool   // HEAD request: no body in the response
	replied bool

	pendingSet bool
	closeSet   bool
	detachFn   func(ctx context.Context, t *Takeover)
}

const maxParams = 8

type param struct{ name, value string }

// begin resets x for a request on c; x.req is already parsed.
func (x *Ctx) begin(c *conn) {
	x.c = c
	x.body = nil
	x.bodyTotal = 0
	x.nparams = 0
	x.matches = nil
	x.group = nil
	x.route = nil
	x.extra = x.extra[:0]
	x.status = 0
	x.head = x.req.Method == http1.MethodHEAD
	x.replied = false
	x.pendingSet = false
	x.closeSet = false
	x.detachFn = nil
}

// done reports whether the handler answered or took the request over.
func (x *Ctx) done() bool { return x.replied || x.pendingSet || x.detachFn != nil }

func str(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

// Method is the request method, e.g. "GET".
func (x *Ctx) Method() string { return str(x.req.MethodName) }

// URL is the request target as sent: the path and the query, always
// starting with '/'.
func (x *Ctx) URL() string { return str(x.req.Target) }

// Path is the request target up to the query, not unescaped.
func (x *Ctx) Path() string { return str(x.req.Path) }

// RawQuery is the request target after '?', without it.
func (x *Ctx) RawQuery() string { return str(x.req.Query) }

// Host is the Host header as sent (it may carry a port); "" for an
// HTTP/1.0 request without one.
func (x *Ctx) Host() string { return str(x.req.Host) }

// Proto is "HTTP/1.1" or "HTTP/1.0".
func (x *Ctx) Proto() string {
	if x.req.Minor == 0 {
		return "HTTP/1.0"
	}
	return "HTTP/1.1"
}

// Header returns the value of a request header. Only headers declared in
// Config.Headers (and the few edge itself uses: Accept-Encoding,
// If-None-Match, Cookie, Upgrade, Sec-WebSocket-*) are kept by the parser;
// any other name returns "".
func (x *Ctx) Header(name string) string {
	i := x.w.srv.headerIndex(name)
	if i < 0 {
		return ""
	}
	return str(x.req.Values[i])
}

// Query returns the first value of the query parameter name, unescaped,
// or "" if absent. It allocates only when the value contains escapes.
func (x *Ctx) Query(name string) string {
	v, _ := x.lookupQuery(name)
	return v
}

// HasQuery reports whether the query has the parameter name.
func (x *Ctx) HasQuery(name string) bool {
	_, ok := x.lookupQuery(name)
	return ok
}

func (x *Ctx) lookupQuery(name string) (string, bool) {
	return lookupQuery(str(x.req.Query), name)
}

// lookupQuery finds name in a raw query string.
func lookupQuery(q, name string) (string, bool) {
	for q != "" {
		var kv string
		kv, q, _ = strings.Cut(q, "&")
		k, v, _ := strings.Cut(kv, "=")
		if strings.ContainsAny(k, "%+") {
			if uk, err := url.QueryUnescape(k); err == nil {
				k = uk
			}
		}
		if k != name {
			continue
		}
		if strings.ContainsAny(v, "%+") {
			if uv, err := url.QueryUnescape(v); err == nil {
				return uv, true
			}
		}
		return v, true
	}
	return "", false
}

// Cookie returns the value of the request cookie name, or "".
func (x *Ctx) Cookie(name string) string {
	h := str(x.req.Values[hdrCookie])
	for h != "" {
		var part string
		part, h, _ = strings.Cut(h, ";")
		part = strings.TrimSpace(part)
		k, v, ok := strings.Cut(part, "=")
		if ok && k == name {
			if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
				v = v[1 : len(v)-1]
			}
			return v
		}
	}
	return ""
}

// Param returns the value of a ":name" segment of a Pattern route.
func (x *Ctx) Param(name string) string {
	for i := 0; i < x.nparams; i++ {
		if x.params[i].name == name {
			return x.params[i].value
		}
	}
	return ""
}

// Match returns capture group i of a Regexp route (0 is the whole match).
func (x *Ctx) Match(i int) string {
	if i < 0 || i >= len(x.matches) {
		return ""
	}
	return x.matches[i]
}

// RemoteAddr is the client's address and port; the zero AddrPort on a
// Unix-socket listener.
func (x *Ctx) RemoteAddr() netip.AddrPort { return x.c.remote }

// Body is the request body of a POST route (nil otherwise).
func (x *Ctx) Body() []byte { return x.body }

// BodySize is the number of body bytes received, in a stream route's
// OnEnd.
func (x *Ctx) BodySize() int64 { return x.bodyTotal }

// JA4 is the TLS client's JA4 fingerprint (FoxIO's definition), when the
// listener's TLSConfig.JA4 is set; "" otherwise and on plain listeners.
func (x *Ctx) JA4() string { return x.c.ja4 }

// ContentLength is the declared Content-Length, or -1.
func (x *Ctx) ContentLength() int64 { return x.req.ContentLength }

// Server is the server serving this request.
func (x *Ctx) Server() *Server { return x.w.srv }

// ClientID returns the connection's stable ID, registering it if needed.
// The ID stays valid until the connection closes.
func (x *Ctx) ClientID() ClientID {
	c := x.c
	if c.id == 0 {
		c.id = x.w.srv.hub.Register(c.hubHandle(), nil)
	}
	return c.id
}

// Pending keeps the request open without answering it: the handler
// returns and any goroutine answers later with Server.Reply. Requests
// pipelined after it wait, in order. A pending request that gets no reply
// within Config.PendingTimeout is answered 504.
func (x *Ctx) Pending() ClientID {
	id := x.ClientID()
	x.pendingSet = true
	return id
}

// Detach takes the connection away from the HTTP engine once the handler
// returns: the response written so far is sent first, then fn runs in its
// own goroutine with the connection and the bytes the client sent after
// this request's head. ctx is cancelled when the server shuts down; fn
// owns nc and must close it. On a TLS listener nc is the decrypted stream.
// Takeover gives the request head too.
func (x *Ctx) Detach(fn func(ctx context.Context, nc net.Conn, buffered []byte)) {
	x.Takeover(func(ctx context.Context, t *Takeover) { fn(ctx, t.Conn, t.Buffered) })
}

// Takeover is a connection handed over by Ctx.Takeover.
type Takeover struct {
	// Conn is the client connection: the socket on plain listeners, the
	// decrypted stream on TLS listeners. The taker must close it. On TLS
	// listeners read and write deadlines are not supported (a deadline in
	// the past aborts blocked I/O; Close does too).
	Conn net.Conn
	// Head is the request head as received: request line and every header
	// line (not only the declared ones), up to and including the empty
	// line.
	Head []byte
	// Method, Target and Host are the parsed pieces of Head.
	Method, Target, Host string
	// Buffered is what the client sent after the head (and its body, when a
	// route already read it), to be processed before reading Conn.
	Buffered []byte
	// TLS reports whether Conn is a TLS stream.
	TLS bool
	// Remote is the client's address (the real one behind PROXY protocol).
	Remote netip.AddrPort
}

// Takeover is Detach with the request head: once the handler returns and
// the response written so far went out, fn runs in its own goroutine with
// t. ctx is cancelled when the server shuts down.
func (x *Ctx) Takeover(fn func(ctx context.Context, t *Takeover)) {
	x.detachFn = fn
}

// SetHeader adds a header line to the response. Names or values holding
// CR, LF or NUL are dropped (header injection). Call before the response
// method.
func (x *Ctx) SetHeader(name, value string) {
	if !validHeader(name, value) {
		return
	}
	x.extra = append(x.extra, name...)
	x.extra = append(x.extra, ": "...)
	x.extra = append(x.extra, value...)
	x.extra = append(x.extra, "\r\n"...)
}

func validHeader(name, value string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		if !tokenChars[name[i]] {
			return false
		}
	}
	for i := 0; i < len(value); i++ {
		if b := value[i]; b == '\r' || b == '\n' || b == 0 {
			return false
		}
	}
	return true
}

// SetCookie adds a Set-Cookie header; invalid cookies are dropped. It
// takes net/http's Cookie, the standard library's validated cookie type
// (name, value and attribute checks, SameSite, Partitioned), rather than a
// copy of it; only its String method is used.
func (x *Ctx) SetCookie(c *http.Cookie) {
	if v := c.String(); v != "" {
		x.SetHeader("Set-Cookie", v)
	}
}

// CloseAfter makes the connection close once this response is sent.
func (x *Ctx) CloseAfter() { x.closeSet = true }

// Send answers with status, a Content-Type (omitted when empty or when
// Config.NoContentType is set) and body, which is copied.
func (x *Ctx) Send(status int, contentType string, body []byte) {
	x.respond(status, contentType, body, false)
}

// SendString is Send with a string body.
func (x *Ctx) SendString(status int, contentType, body string) {
	x.respond(status, contentType, unsafe.Slice(unsafe.StringData(body), len(body)), false)
}

// Text answers with a text/plain body.
func (x *Ctx) Text(status int, body string) {
	x.SendString(status, "text/plain; charset=utf-8", body)
}

// HTML answers with a text/html body.
func (x *Ctx) HTML(status int, body string) {
	x.SendString(status, "text/html; charset=utf-8", body)
}

// NoContent answers with status and an empty body.
func (x *Ctx) NoContent(status int) { x.respond(status, "", nil, false) }

// Redirect answers with a redirect (301, 302, 303, 307 or 308) to
// location, which must not contain CR or LF.
func (x *Ctx) Redirect(status int, location string) {
	switch status {
	case 301, 302, 303, 307, 308:
	default:
		status = 302
	}
	x.SetHeader("Location", location)
	x.respond(status, "", nil, false)
}

// Content answers with a static content object: 304 when If-None-Match
// matches its ETag, else the best encoding the client accepts, with ETag
// and Vary.
func (x *Ctx) Content(ct *static.Content) {
	x.content(200, ct)
}

func (x *Ctx) content(status int, ct *static.Content) {
	x.SetHeader("ETag", ct.ETag)
	if ct.Varies() {
		x.extra = append(x.extra, "Vary: Accept-Encoding\r\n"...)
	}
	if ct.NotModified(x.req.Values[hdrIfNoneMatch]) {
		x.respond(304, "", nil, true)
		return
	}
	body, enc := ct.Negotiate(x.req.Values[hdrAcceptEncoding])
	if enc != "" {
		x.extra = append(x.extra, "Content-Encoding: "...)
		x.extra = append(x.extra, enc...)
		x.extra = append(x.extra, "\r\n"...)
	}
	x.respond(status, ct.Type, body, true)
}

// Serve answers from a static source (an embedded Set or a development
// Dir) using the request path with prefix removed. It reports false, and
// answers nothing, when the file does not exist. A file of a Dir larger
// than static.StreamThreshold is sent from disk as the client reads it,
// uncompressed, with a weak ETag and Last-Modified.
func (x *Ctx) Serve(src static.Source, prefix string) bool {
	p := x.Path()
	if !strings.HasPrefix(p, prefix) {
		return false
	}
	p = p[len(prefix):]
	if p == "" || p[0] != '/' {
		p = "/" + p
	}
	var ct *static.Content
	var err error
	if o, ok := src.(static.Opener); ok {
		// A development Dir: a large file comes back open, to be sent
		// from disk as the client reads it (phase_file.go).
		var f *static.File
		if ct, f, err = o.Open(p); f != nil {
			x.serveFile(f)
			return true
		}
	} else {
		ct, err = src.Lookup(p)
	}
	if err != nil {
		if x.w.srv.cfg.Debug {
			x.w.srv.log.Debug("edge: static", "path", x.Path(), "err", err)
		}
		return false
	}
	x.Content(ct)
	return true
}

// serveFile answers with a large file of a development static.Dir: its
// head now, its body from disk as the socket drains (phase_file.go). No
// compressed variant, a weak ETag, Last-Modified; 304 on a matching
// If-None-Match. It owns f.
func (x *Ctx) serveFile(f *static.File) {
	if x.replied {
		f.Close()
		return
	}
	x.SetHeader("ETag", f.ETag)
	x.extra = append(x.extra, "Last-Modified: "...)
	x.extra = f.ModTime.UTC().AppendFormat(x.extra, http.TimeFormat)
	x.extra = append(x.extra, "\r\n"...)
	if f.NotModified(x.req.Values[hdrIfNoneMatch]) {
		f.Close()
		x.respond(304, "", nil, true)
		return
	}
	x.respondHead(200, f.Type, f.Size)
	if x.head {
		f.Close() // HEAD: the head only, the file is never read
		return
	}
	x.c.startFile(f)
}

// fail answers with an error status and closes the connection after.
func (x *Ctx) fail(e *http1.Error) {
	x.replied = true
	x.c.fail(e)
}

func (x *Ctx) notFound() {
	x.Text(404, "Not Found\n")
}

// respond writes the status line, headers and body into the worker's
// output. ref marks body as immutable, so a large one is sent by
// reference instead of copied.
func (x *Ctx) respond(status int, contentType string, body []byte, ref bool) {
	if x.replied {
		return
	}
	x.respondHead(status, contentType, int64(len(body)))
	w := x.w
	if x.head || status == 304 || status == 204 {
		return
	}
	if ref && len(body) >= bigBody {
		w.addRef(body)
		return
	}
	w.out = append(w.out, body...)
}

// respondHead writes the status line and headers of a response whose body
// is n bytes long into the worker's output. The caller checked x.replied.
func (x *Ctx) respondHead(status int, contentType string, n int64) {
	x.replied = true
	x.status = status
	w := x.w
	s := w.srv
	c := x.c
	w.responded(c, status, int(n))
	out := http1.AppendStatusLine(w.out, status)
	if s.cfg.HeaderServer {
		out = append(out, "Server: "...)
		out = append(out, s.cfg.ServerName...)
		out = append(out, "\r\n"...)
	}
	if s.cfg.HeaderDate {
		out = append(out, "Date: "...)
		out = s.clock.AppendDateAt(out, w.loop.Now())
		out = append(out, "\r\n"...)
	}
	if contentType != "" && !s.cfg.NoContentType {
		out = append(out, "Content-Type: "...)
		out = append(out, contentType...)
		out = append(out, "\r\n"...)
	}
	if status != 304 && status != 204 && status >= 200 {
		out = append(out, "Content-Length: "...)
		out = strconv.AppendInt(out, n, 10)
		out = append(out, "\r\n"...)
	}
	if x.closeSet || c.closeAfter || w.closing || (x.req.KeepAlive && x.req.Minor == 0) {
		if x.closeSet || c.closeAfter || w.closing {
			out = append(out, "Connection: close\r\n"...)
		} else {
			out = append(out, "Connection: keep-alive\r\n"...)
		}
	}
	out = append(out, x.extra...)
	out = append(out, "\r\n"...)
	w.out = out
}
