package web

import (
	"io/fs"
	"strings"
	"testing"

	"github.com/edge-rt/edge/static"
)

func TestFS(t *testing.T) {
	t.Parallel()
	fsys := FS()
	for _, name := range []string{"index.html", "style.css", "favicon.svg", "chat.html", "edge.js", "edge.mjs"} {
		data, err := fs.ReadFile(fsys, name)
		if err != nil {
			t.Fatal(err)
		}
		if len(data) == 0 {
			t.Errorf("%s is empty", name)
		}
	}
	index, _ := fs.ReadFile(fsys, "index.html")
	// Self-contained: every reference is local.
	for _, ref := range []string{`href="/style.css"`, `href="/favicon.svg"`, `href="/hello"`, `href="/chat"`, `href="/edge.js"`} {
		if !strings.Contains(string(index), ref) {
			t.Errorf("index.html lacks %s", ref)
		}
	}
	chat, _ := fs.ReadFile(fsys, "chat.html")
	for _, ref := range []string{`href="/style.css"`, `from "/edge.mjs"`, `id="messages"`, `id="status"`} {
		if !strings.Contains(string(chat), ref) {
			t.Errorf("chat.html lacks %s", ref)
		}
	}
	mjs, _ := fs.ReadFile(fsys, "edge.mjs")
	if !strings.Contains(string(mjs), `import "./edge.js"`) {
		t.Error("edge.mjs does not import edge.js")
	}
	// Self-contained: no page or script loads anything from elsewhere.
	for _, name := range []string{"index.html", "chat.html", "edge.js", "edge.mjs"} {
		data, _ := fs.ReadFile(fsys, name)
		for _, ext := range []string{`="http`, `="//`, `from "http`, `import "http`, `url(http`} {
			if strings.Contains(string(data), ext) {
				t.Errorf("%s refers to an external resource (%s)", name, ext)
			}
		}
	}
}

func TestServable(t *testing.T) {
	t.Parallel()
	set, err := static.FromFS(FS())
	if err != nil {
		t.Fatal(err)
	}
	c, err := set.Lookup("/")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(c.Type, "text/html") || !c.Varies() {
		t.Errorf("index: type %q, varies %v; want html with compressed variants", c.Type, c.Varies())
	}
	if _, enc := c.Negotiate([]byte("br")); enc != "br" {
		t.Errorf("index: no brotli variant (%q)", enc)
	}
	for path, typ := range map[string]string{"/chat.html": "text/html", "/edge.js": "text/javascript", "/edge.mjs": "text/javascript"} {
		c, err := set.Lookup(path)
		if err != nil {
			t.Errorf("%s: %v", path, err)
			continue
		}
		if !strings.HasPrefix(c.Type, typ) {
			t.Errorf("%s: type %q, want %s", path, c.Type, typ)
		}
	}
}
