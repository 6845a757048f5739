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
	for _, name := range []string{"index.html", "style.css", "favicon.svg"} {
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
	for _, ref := range []string{`href="/style.css"`, `href="/favicon.svg"`, `href="/hello"`} {
		if !strings.Contains(string(index), ref) {
			t.Errorf("index.html lacks %s", ref)
		}
	}
	if strings.Contains(string(index), `="http`) || strings.Contains(string(index), `="//`) {
		t.Error("index.html refers to an external resource")
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
}
