// Package edge is a front-end web server for real-time message exchange:
// HTTP/1.1 on an epoll event loop per core, routes by host and path,
// in-memory static content with precompressed variants, and requests
// answered now or later from any goroutine.
//
// Typical usage (the Caprese hello-world):
//
//	srv := edge.New(nil)
//	site := srv.Listen("tcp", ":8089")
//	site.Get("/", func(c *edge.Ctx) { c.Text(200, "Hello!") })
//	site.Any().Fallback(func(c *edge.Ctx) { c.Text(404, "Not Found") })
//	log.Fatal(srv.Run(ctx))
//
// Handlers run on the worker's event loop, like Caprese's server
// dispatch-level code: they must answer quickly and never block. Work that
// takes time goes to another goroutine through Ctx.Pending (or a
// PendingQueue) and comes back with Server.Reply; a route that needs the
// raw connection takes it with Ctx.Detach.
package edge

import (
	"html"

	"github.com/edge-rt/edge/http1"
)

// EscapeHTML escapes <, >, &, ' and " so that s can be placed in HTML
// text or a quoted attribute (Caprese's sanitizeHtml).
func EscapeHTML(s string) string { return html.EscapeString(s) }

// tokenChars marks the bytes allowed in an HTTP token (RFC 9110 5.6.2):
// http1's table, the one the request parser uses.
var tokenChars = http1.TokenChars()
