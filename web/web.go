// Package web holds edge's embedded demo site: the pages the edge binary
// serves when it runs without a config file (static: "embed:" in a config).
// Besides the home page it holds the browser client library, edge.js (a
// WebSocket that reconnects with exponential backoff and jitter; edge.mjs
// is the same as an ES module), and chat.html, a chat with rooms that
// uses it against the default config's chat stream at /chat. The browser
// test in e2e/ drives that chat in headless Chromium.
//
// Typical usage:
//
//	set, err := static.FromFS(web.FS())
//	if err != nil {
//		log.Fatal(err)
//	}
//	srv.Listen("tcp", ":8089").Any().Static("/", set)
package web

import (
	"embed"
	"io/fs"
)

// Site is the embedded demo site; its files are under "site/".
//
//go:embed all:site
var Site embed.FS

// FS returns the demo site with "site/" removed from the names, so that
// "index.html" is at its root.
func FS() fs.FS {
	sub, err := fs.Sub(Site, "site")
	if err != nil {
		panic("web: " + err.Error()) // "site" is a valid path: cannot happen
	}
	return sub
}
