package main

import (
	"errors"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/edge-rt/edge"
	"github.com/edge-rt/edge/static"
	"github.com/edge-rt/edge/web"
)

// build loads the content the config names (static directories and files)
// and makes the server, without binding any address.
func (fc *fileConfig) build(logger *slog.Logger) (*edge.Server, error) {
	srv, _, err := fc.server(logger)
	return srv, err
}

// routeGroups builds the route groups of listener lc, in order; acme is
// the file whose ACME client answers challenges (fc itself, or on a reload
// the running one).
func (fc *fileConfig) routeGroups(d *decoder, lc *listenerConfig, acme *fileConfig, sets map[string]*static.Set, logger *slog.Logger) []*edge.Routes {
	var gs []*edge.Routes
	fc.shareHooks(acme) // hooks.go: acme is the running configuration
	for _, hc := range lc.hosts {
		if hc.pass != nil {
			continue // a listener setting (proxyListener)
		}
		g := edge.NewRoutes(hc.host)
		acme.acmeRoute(g) // acme.go: the ACME client's HTTP-01 challenges first
		for _, rc := range hc.routes {
			if err := fc.addRoute(d, g, rc, sets, logger); err != nil {
				d.errors(err)
			}
		}
		if hc.fallback != nil {
			g.Fallback(hc.fallback.handler())
		}
		gs = append(gs, g)
	}
	if g := acme.acmeCatchAll(lc); g != nil { // acme.go
		gs = append(gs, g)
	}
	return gs
}

// server is build, also returning the listeners in config order.
func (fc *fileConfig) server(logger *slog.Logger) (*edge.Server, []*edge.Listener, error) {
	d := &decoder{file: fc.name, dir: fc.dir}
	cfg := fc.cfg
	cfg.Logger = logger
	srv := edge.New(&cfg)
	sets := map[string]*static.Set{} // loaded once per directory
	var ls []*edge.Listener
	if err := fc.newACME(d, logger); err != nil { // acme.go
		d.errors(err)
	}
	for _, lc := range fc.listeners {
		l := srv.Listen(lc.network, lc.address)
		ls = append(ls, l)
		if lc.tls {
			if err := fc.tlsListener(l, lc, logger); err != nil {
				d.errors(err)
			}
		}
		proxyListener(l, lc) // proxy.go
		for _, g := range fc.routeGroups(d, lc, fc, sets, logger) {
			l.Add(g)
		}
	}
	if err := errors.Join(d.errs...); err != nil {
		fc.closeTLS()
		return nil, nil, err
	}
	return srv, ls, nil
}

func (rc *routeConfig) matcher() edge.Matcher {
	switch rc.kind {
	case matchPrefix:
		return edge.Prefix(rc.expr)
	case matchRegexp:
		return edge.Regexp(rc.expr)
	case matchPattern:
		return edge.Pattern(rc.expr)
	}
	return edge.Path(rc.paths...)
}

func (fc *fileConfig) addRoute(d *decoder, g *edge.Routes, rc *routeConfig, sets map[string]*static.Set, logger *slog.Logger) error {
	switch rc.action {
	case "respond":
		g.Handle(rc.matcher(), rc.respond.handler(), rc.methods...)
	case "redirect":
		g.Redirect(rc.matcher(), rc.redirect.status, rc.redirect.to, rc.methods...)
	case "proxy":
		g.Proxy(rc.matcher(), rc.proxy, rc.methods...)
	case "static":
		var src static.Source
		if rc.dev {
			dir, err := static.NewDir(rc.path)
			if err != nil {
				return d.errorAt(rc.at, "%v", err)
			}
			src = dir
		} else {
			set, ok := sets[rc.path]
			if !ok {
				var err error
				if set, err = loadSet(rc.path); err != nil {
					return d.errorAt(rc.at, "%v", err)
				}
				sets[rc.path] = set
				logger.Info("edge: static content loaded", "dir", rc.path, "files", set.Len())
			}
			src = set
		}
		prefix := ""
		if rc.kind == matchPrefix {
			prefix = rc.expr
		}
		g.Handle(rc.matcher(), func(c *edge.Ctx) { c.Serve(src, prefix) }, rc.methods...)
	case "file":
		data, err := os.ReadFile(rc.path)
		if err != nil {
			return d.errorAt(rc.at, "%v", err)
		}
		// The type comes from the extension, or from the content without one.
		ct := static.New(data, filepath.Ext(rc.path))
		g.Handle(rc.matcher(), func(c *edge.Ctx) { c.Content(ct) }, rc.methods...)
	case "stream":
		st, hk, err := rc.stream.newStream(logger) // stream.go
		if err != nil {
			return d.errorAt(rc.at, "%v", err)
		}
		if hk != nil {
			fc.hooks.add(rc.paths[0], hk) // hooks.go
		}
		g.Stream(rc.paths[0], st)
	case "acme":
		if _, err := g.ACME(rc.path); err != nil {
			return d.errorAt(rc.at, "%v", err)
		}
	}
	return nil
}

// loadSet loads a directory into memory ("embed:" is the embedded site).
// Symbolic links may not leave the directory.
func loadSet(dir string) (*static.Set, error) {
	if dir == embedSite {
		return static.FromFS(web.FS())
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	return static.FromFS(root.FS())
}

func (rc *respondConfig) handler() edge.Handler {
	status, typ, body, headers := rc.status, rc.typ, rc.body, rc.headers
	return func(c *edge.Ctx) {
		for _, h := range headers {
			c.SetHeader(h[0], h[1])
		}
		if status == 204 || status == 304 {
			c.NoContent(status)
			return
		}
		c.SendString(status, typ, body)
	}
}
