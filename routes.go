package edge

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/edge-rt/edge/http1"
	"github.com/edge-rt/edge/proxy"
	"github.com/edge-rt/edge/static"
)

// Handler answers a request. If it returns without answering (and without
// calling Pending or Detach), matching goes on with the next route, then
// the group's fallback, then a 404: a handler can act as a guard.
type Handler func(c *Ctx)

// StreamHandler receives a request body piece by piece (Caprese's
// onStart / onMessage / onDone / onFailed). Each callback gets a Ctx with
// the request head re-parsed, so every accessor works; data is only valid
// during the call. The response is written in OnStart (refusing the body:
// the connection closes after it), OnData (same) or OnEnd.
type StreamHandler struct {
	// OnStart, if not nil, runs when the head arrives.
	OnStart func(c *Ctx)
	// OnData runs for every piece of body as it arrives.
	OnData func(c *Ctx, data []byte)
	// OnEnd runs once after OnStart: ok is true when the whole body
	// arrived (answer here), false when the client went away, the body was
	// malformed or too large (the response is already decided).
	OnEnd func(c *Ctx, ok bool)
}

// Matcher decides whether a route applies to a request. Build one with
// Path, Prefix, Regexp, Pattern, Func or Any.
type Matcher struct {
	paths   []string
	prefix  string
	hasPfx  bool
	re      *regexp.Regexp
	pattern []string // segments; ":x" captures
	fn      func(*Ctx) bool
}

// Path matches requests whose path is exactly one of paths.
func Path(paths ...string) Matcher { return Matcher{paths: paths} }

// Prefix matches requests whose path starts with prefix.
func Prefix(prefix string) Matcher { return Matcher{prefix: prefix, hasPfx: true} }

// Regexp matches requests whose path matches expr (anchored at both ends);
// captures are read with Ctx.Match. Regexp routes allocate: prefer Path and
// Pattern on hot paths. It panics if expr does not compile (see
// CompileRegexp).
func Regexp(expr string) Matcher {
	m, err := CompileRegexp(expr)
	if err != nil {
		panic(err)
	}
	return m
}

// CompileRegexp is Regexp returning an error instead of panicking.
func CompileRegexp(expr string) (Matcher, error) {
	re, err := regexp.Compile("^(?:" + expr + ")$")
	if err != nil {
		// The expression's own error reads better than the anchored one's.
		if _, own := regexp.Compile(expr); own != nil {
			err = own
		}
		return Matcher{}, &PatternError{Kind: "regexp", Expr: expr, Offset: -1, Reason: err.Error(), Err: err}
	}
	return Matcher{re: re}, nil
}

// MaxParams is the most ":name" segments a Pattern may have.
const MaxParams = maxParams

// Pattern matches paths segment by segment; a segment ":name" matches any
// one non-empty segment, read with Ctx.Param. At most MaxParams
// parameters, each named once. It panics on a bad pattern (see
// CompilePattern).
func Pattern(p string) Matcher {
	m, err := CompilePattern(p)
	if err != nil {
		panic(err)
	}
	return m
}

// CompilePattern is Pattern returning an error instead of panicking.
func CompilePattern(p string) (Matcher, error) {
	fail := func(off int, format string, args ...any) (Matcher, error) {
		return Matcher{}, &PatternError{Kind: "pattern", Expr: p, Offset: off, Reason: fmt.Sprintf(format, args...)}
	}
	if !strings.HasPrefix(p, "/") {
		return fail(0, "must start with /")
	}
	segs := strings.Split(p[1:], "/")
	var names []string
	off, over := 1, -1 // off: of the segment in p; over: of the first parameter too many
	for _, s := range segs {
		segOff := off
		off += len(s) + 1
		name, ok := strings.CutPrefix(s, ":")
		if !ok {
			continue
		}
		if name == "" {
			return fail(segOff, "a parameter needs a name")
		}
		for _, n := range names {
			if n == name {
				return fail(segOff, "parameter %q appears twice", name)
			}
		}
		names = append(names, name)
		if len(names) == maxParams+1 {
			over = segOff
		}
	}
	if len(names) > maxParams {
		return fail(over, "%d parameters, at most %d", len(names), maxParams)
	}
	return Matcher{pattern: segs}, nil
}

// Func matches requests for which f returns true.
func Func(f func(c *Ctx) bool) Matcher { return Matcher{fn: f} }

// Any matches every request.
func Any() Matcher { return Matcher{fn: func(*Ctx) bool { return true }} }

type route struct {
	name    string // for observers and logs: Routes.Name, or the matcher
	methods uint16 // bit per http1.Method; 0 = any
	m       Matcher
	kind    routeKind
}

func methodBit(m http1.Method) uint16 { return 1 << m }

var getHead = methodBit(http1.MethodGET) | methodBit(http1.MethodHEAD)

// methodOK reports whether the route takes the request's method.
func (r *route) methodOK(x *Ctx) bool {
	return r.methods == 0 || r.methods&methodBit(x.req.Method) != 0
}

// match reports whether the route's matcher takes the request's path
// (the method is checked apart, for 405).
func (r *route) match(x *Ctx) bool {
	m := &r.m
	path := str(x.req.Path)
	switch {
	case m.paths != nil:
		for _, p := range m.paths {
			if p == path {
				return true
			}
		}
		return false
	case m.hasPfx:
		return strings.HasPrefix(path, m.prefix)
	case m.re != nil:
		sub := m.re.FindStringSubmatch(path)
		if sub == nil {
			return false
		}
		x.matches = sub
		return true
	case m.pattern != nil:
		return matchPattern(m.pattern, path, x)
	case m.fn != nil:
		return m.fn(x)
	}
	return false
}

func matchPattern(segs []string, path string, x *Ctx) bool {
	if path == "" || path[0] != '/' {
		return false
	}
	rest := path[1:]
	n := 0
	for i, s := range segs {
		var seg string
		if i == len(segs)-1 {
			seg, rest = rest, ""
			if strings.IndexByte(seg, '/') >= 0 {
				return false
			}
		} else {
			j := strings.IndexByte(rest, '/')
			if j < 0 {
				return false
			}
			seg, rest = rest[:j], rest[j+1:]
		}
		if len(s) > 0 && s[0] == ':' {
			if seg == "" {
				return false
			}
			x.params[n] = param{name: s[1:], value: seg}
			n++
			continue
		}
		if s != seg {
			return false
		}
	}
	x.nparams = n
	return true
}

// Routes is a group of routes for one host (Caprese's routes(host = ...)):
// checked in the order they were added, then the fallback. Build it
// before the server starts; it must not change after.
type Routes struct {
	host     string // "" = any host
	routes   []route
	fallback Handler
	hasProxy bool // a proxy route takes request bodies whatever Config.AllowPost says
}

// NewRoutes returns an empty group for host: "" matches every host,
// "example.com" matches that name (any port, case-insensitive),
// "example.com:8443" also requires the port, "*.example.com" matches one
// or more labels before example.com.
func NewRoutes(host string) *Routes { return &Routes{host: strings.ToLower(host)} }

// Host is the host pattern of the group.
func (g *Routes) Host() string { return g.host }

// name is the group's label for observers: its host pattern ("" for any).
func (g *Routes) name() string { return g.host }

// add appends r, naming it after its matcher unless it has a name.
func (g *Routes) add(r route) {
	if r.name == "" {
		r.name = r.m.String()
	}
	g.routes = append(g.routes, r)
}

// Name names the route added last, for metrics and logs (by default a
// route is named after its matcher: "/a,/b", "/api/*", "~regexp",
// "/user/:id", "func"). Names should be few and fixed: they become label
// values.
func (g *Routes) Name(name string) *Routes {
	if n := len(g.routes); n > 0 && name != "" {
		g.routes[n-1].name = name
	}
	return g
}

// String describes the matcher: the paths joined by ",", a prefix with
// "*", "~" and a regular expression, a pattern, or "func".
func (m Matcher) String() string {
	switch {
	case m.paths != nil:
		return strings.Join(m.paths, ",")
	case m.hasPfx:
		return m.prefix + "*"
	case m.re != nil:
		s := m.re.String()
		return "~" + strings.TrimSuffix(strings.TrimPrefix(s, "^(?:"), ")$")
	case m.pattern != nil:
		return "/" + strings.Join(m.pattern, "/")
	}
	return "func"
}

// Get routes GET and HEAD requests for the exact path to h. For several
// paths use Handle(Path(a, b), h, "GET", "HEAD").
func (g *Routes) Get(path string, h Handler) *Routes {
	return g.Handle(Path(path), h, "GET", "HEAD")
}

// Handle routes requests matched by m, with one of methods (none: any
// method), to h.
func (g *Routes) Handle(m Matcher, h Handler, methods ...string) *Routes {
	g.add(route{methods: methodMask(methods), m: m, kind: handlerRoute{h}})
	return g
}

// Post routes POST requests matched by m to h, which reads the whole body
// with Ctx.Body (at most Config.MaxBodySize bytes; larger gets 413).
// Config.AllowPost must be set, or every POST gets 405.
func (g *Routes) Post(m Matcher, h Handler) *Routes {
	g.add(route{methods: methodBit(http1.MethodPOST), m: m, kind: postRoute{h}})
	return g
}

// PostStream routes POST requests matched by m to a streaming body
// handler.
func (g *Routes) PostStream(m Matcher, sh StreamHandler) *Routes {
	g.add(route{methods: methodBit(http1.MethodPOST), m: m, kind: bodyStreamRoute{&sh}})
	return g
}

// Static serves GET and HEAD requests under prefix from src (an embedded
// static.Set or a development static.Dir), the path below prefix naming
// the file. Missing files fall through to the next route.
func (g *Routes) Static(prefix string, src static.Source) *Routes {
	return g.Handle(Prefix(prefix), func(c *Ctx) { c.Serve(src, prefix) }, "GET", "HEAD")
}

// Content serves one static content object on the exact paths.
func (g *Routes) Content(ct *static.Content, paths ...string) *Routes {
	return g.Handle(Path(paths...), func(c *Ctx) { c.Content(ct) }, "GET", "HEAD")
}

// Redirect answers requests matched by m, with one of methods (none: any
// method), with a redirect to target, in which "{host}" is replaced by the
// request's host (without port) and "{url}" by the request target.
func (g *Routes) Redirect(m Matcher, status int, target string, methods ...string) *Routes {
	return g.Handle(m, func(c *Ctx) { c.Redirect(status, expandTarget(target, c)) }, methods...)
}

// Proxy forwards requests matched by m, with one of methods (none: any
// method), to r's backends: each request on its own (proxy.ModeRequest),
// or the whole connection from the first matching request on
// (proxy.ModePin). Request bodies are forwarded whatever Config.AllowPost
// says (Config.MaxBodySize still bounds them). It calls r.Init and panics
// if r is invalid: call r.Init first to get the error. r must not change
// after; its active health checks run while a server serving it runs.
func (g *Routes) Proxy(m Matcher, r *proxy.Route, methods ...string) *Routes {
	if err := r.Init(); err != nil {
		panic(err)
	}
	g.hasProxy = true
	g.add(route{methods: methodMask(methods), m: m, kind: proxyRoute{r}})
	return g
}

// proxyRoutes returns the proxy routes of the group.
func (g *Routes) proxyRoutes() []*proxy.Route {
	var rs []*proxy.Route
	for i := range g.routes {
		if k, ok := g.routes[i].kind.(proxyRoute); ok {
			rs = append(rs, k.r)
		}
	}
	return rs
}

// ValidMethod reports whether name is a method routes can take.
func ValidMethod(name string) bool { return methodByName(name) != http1.MethodUnknown }

func expandTarget(t string, c *Ctx) string {
	if !strings.Contains(t, "{") {
		return t
	}
	host := c.Host()
	if h, _, ok := strings.Cut(host, ":"); ok && !strings.HasPrefix(host, "[") {
		host = h
	} else if strings.HasPrefix(host, "[") {
		if i := strings.LastIndex(host, "]"); i > 0 {
			host = host[:i+1]
		}
	}
	return strings.NewReplacer("{host}", host, "{url}", c.URL()).Replace(t)
}

// ACME serves ACME HTTP-01 challenge files (certbot's webroot mode) from
// webroot/.well-known/acme-challenge/, read from disk on every request.
func (g *Routes) ACME(webroot string) (*Routes, error) {
	d, err := static.NewDir(webroot)
	if err != nil {
		return g, fmt.Errorf("edge: acme webroot: %w", err)
	}
	const p = "/.well-known/acme-challenge/"
	g.Handle(Prefix(p), func(c *Ctx) { c.Serve(d, "") }, "GET", "HEAD")
	return g, nil
}

// Fallback sets the handler for requests no route answered (default: 404).
func (g *Routes) Fallback(h Handler) *Routes {
	g.fallback = h
	return g
}

// methodMask is the set of methods; HEAD follows GET (RFC 9110 9.3.2).
func methodMask(methods []string) uint16 {
	var m uint16
	for _, s := range methods {
		mm := methodByName(s)
		if mm == http1.MethodUnknown {
			panic("edge: unknown method " + s)
		}
		m |= methodBit(mm)
	}
	if m&methodBit(http1.MethodGET) != 0 {
		m |= methodBit(http1.MethodHEAD)
	}
	return m
}

// methodNames lists the methods of mask for an Allow header.
var methodNames = [...]string{http1.MethodGET: "GET", http1.MethodHEAD: "HEAD", http1.MethodPOST: "POST",
	http1.MethodPUT: "PUT", http1.MethodDELETE: "DELETE", http1.MethodCONNECT: "CONNECT",
	http1.MethodOPTIONS: "OPTIONS", http1.MethodTRACE: "TRACE", http1.MethodPATCH: "PATCH"}

// appendAllow appends the methods of mask, comma-separated.
func appendAllow(dst []byte, mask uint16) []byte {
	first := true
	for m, name := range methodNames {
		if name == "" || mask&(1<<m) == 0 {
			continue
		}
		if !first {
			dst = append(dst, ", "...)
		}
		first = false
		dst = append(dst, name...)
	}
	return dst
}

func methodByName(s string) http1.Method {
	switch s {
	case "GET":
		return http1.MethodGET
	case "HEAD":
		return http1.MethodHEAD
	case "POST":
		return http1.MethodPOST
	case "PUT":
		return http1.MethodPUT
	case "DELETE":
		return http1.MethodDELETE
	case "CONNECT":
		return http1.MethodCONNECT
	case "OPTIONS":
		return http1.MethodOPTIONS
	case "TRACE":
		return http1.MethodTRACE
	case "PATCH":
		return http1.MethodPATCH
	}
	return http1.MethodUnknown
}

// matchHost reports whether the request host (header value, may carry a
// port) matches the group's pattern.
func (g *Routes) matchHost(host []byte) bool {
	p := g.host
	if p == "" {
		return true
	}
	h := str(host)
	if !strings.Contains(p, ":") || strings.HasPrefix(p, "[") && !strings.Contains(p, "]:") {
		h = http1.StripPort(h)
	}
	if strings.HasPrefix(p, "*.") {
		suffix := p[1:] // ".example.com"
		return len(h) > len(suffix) && strings.EqualFold(h[len(h)-len(suffix):], suffix)
	}
	return strings.EqualFold(h, p)
}
