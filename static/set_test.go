package static

import (
	"bytes"
	"embed"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
)

//go:embed testdata/site
var siteFS embed.FS

// site returns the embedded test site, rooted at testdata/site.
func site(t testing.TB) fs.FS {
	t.Helper()
	sub, err := fs.Sub(siteFS, "testdata/site")
	if err != nil {
		t.Fatal(err)
	}
	return sub
}

// mapFS is a tree whose files hold their own names, plus a secret outside
// the "site" directory the Set is built from.
func mapFS() fstest.MapFS {
	m := fstest.MapFS{"secret.txt": {Data: []byte("SECRET")}}
	for _, name := range []string{
		"index.html",
		"a.txt",
		"a/index.html",
		"a/b.txt",
		"a/b/c/d.css",
		"noindex/x.txt",
		"100%.txt",
		"sp ace.txt",
		"q?.txt",
		".well-known/acme-challenge/token",
		"big.js",
	} {
		m["site/"+name] = &fstest.MapFile{Data: []byte(name)}
	}
	m["site/big.js"].Data = text(10000)
	return m
}

func mapSet(t testing.TB) *Set {
	t.Helper()
	sub, err := fs.Sub(mapFS(), "site")
	if err != nil {
		t.Fatal(err)
	}
	s, err := FromFS(sub)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// badPaths are request paths that Lookup must reject with ErrBadPath.
var badPaths = []string{
	"",
	"x",
	"a/b.txt",
	"/..",
	"/../x",
	"/a/../a.txt",
	"/a/..",
	"/./a.txt",
	"/a/.",
	"/a/./b.txt",
	"/%2e%2e/x",
	"/%2E%2E/secret.txt",
	"/.%2e/secret.txt",
	"/a/%2e%2e/%2e%2e/secret.txt",
	"/%2e/a.txt",
	"/a/%2F",
	"/a%2fb.txt",
	"/..%2Fsecret.txt",
	"/a//b",
	"//a.txt",
	"//",
	"/a\\b",
	"/..\\secret.txt",
	"/a%5cb.txt",
	"/a%00",
	"/a.txt\x00",
	"/a%0a.txt",
	"/a\r\n",
	"/a%",
	"/a%2",
	"/a%zz",
	"/a%%30",
	"/%",
}

func TestSetLookup(t *testing.T) {
	t.Parallel()
	s := mapSet(t)
	tests := []struct {
		path string
		want string // file name, or "" for ErrNotFound
	}{
		{"/", "index.html"},
		{"/index.html", "index.html"},
		{"/a.txt", "a.txt"},
		{"/a/", "a/index.html"},
		{"/a/index.html", "a/index.html"},
		{"/a/b.txt", "a/b.txt"},
		{"/a/b/c/d.css", "a/b/c/d.css"},
		{"/%61/b.txt", "a/b.txt"},
		{"/a/b%2Etxt", "a/b.txt"},
		{"/100%25.txt", "100%.txt"},
		{"/sp%20ace.txt", "sp ace.txt"},
		{"/sp ace.txt", "sp ace.txt"},
		{"/q%3F.txt", "q?.txt"},
		{"/.well-known/acme-challenge/token", ".well-known/acme-challenge/token"},
		{"/%2ewell-known/acme-challenge/token", ".well-known/acme-challenge/token"},
		{"/a", ""},
		{"/a/b", ""},
		{"/a/b/", ""},
		{"/noindex/", ""},
		{"/noindex", ""},
		{"/nope", ""},
		{"/secret.txt", ""},
		{"/site/a.txt", ""},
		{"/A.TXT", ""},
		{"/a.txt/", ""},
		{"/100%.txt", "bad"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			t.Parallel()
			c, err := s.Lookup(tt.path)
			switch tt.want {
			case "":
				if err != ErrNotFound || c != nil {
					t.Errorf("Lookup(%q) = %v, %v; want ErrNotFound", tt.path, c, err)
				}
			case "bad":
				if !errors.Is(err, ErrBadPath) || c != nil {
					t.Errorf("Lookup(%q) = %v, %v; want ErrBadPath", tt.path, c, err)
				}
			default:
				if err != nil {
					t.Fatalf("Lookup(%q): %v", tt.path, err)
				}
				data, _ := fs.ReadFile(mapFS(), "site/"+tt.want)
				if !bytes.Equal(c.Identity(), data) {
					t.Errorf("Lookup(%q) = %q, want %s", tt.path, c.Identity(), tt.want)
				}
			}
		})
	}
}

func TestSetBadPaths(t *testing.T) {
	t.Parallel()
	for _, s := range []*Set{mapSet(t), nil, {}} {
		for _, p := range badPaths {
			c, err := s.Lookup(p)
			if !errors.Is(err, ErrBadPath) || c != nil {
				t.Errorf("Lookup(%q) = %v, %v; want ErrBadPath", p, c, err)
			}
			if err != nil && !strings.HasPrefix(err.Error(), "static: bad path ") {
				t.Errorf("Lookup(%q): error %q", p, err)
			}
		}
	}
}

func TestSetEmpty(t *testing.T) {
	t.Parallel()
	for _, s := range []*Set{nil, {}} {
		if c, err := s.Lookup("/"); err != ErrNotFound || c != nil {
			t.Errorf("Lookup = %v, %v; want ErrNotFound", c, err)
		}
		if s.Len() != 0 || s.Paths() != nil {
			t.Errorf("Len() = %d, Paths() = %q", s.Len(), s.Paths())
		}
	}
	s, err := FromFS(fstest.MapFS{})
	if err != nil || s.Len() != 0 {
		t.Fatalf("FromFS(empty) = %v, %v", s, err)
	}
}

func TestFromEmbed(t *testing.T) {
	t.Parallel()
	fsys := site(t)
	s, err := FromFS(fsys)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"css/site.css",
		"docs/README",
		"docs/guide/index.html",
		"docs/index.html",
		"img/logo.png",
		"index.html",
		"js/app.js",
	}
	if got := s.Paths(); !slices.Equal(got, want) {
		t.Fatalf("Paths() = %q, want %q", got, want)
	}
	if s.Len() != len(want) {
		t.Errorf("Len() = %d, want %d", s.Len(), len(want))
	}
	s.Paths()[0] = "changed"
	if s.Paths()[0] != want[0] {
		t.Error("Paths returned the Set's own slice")
	}

	tests := []struct {
		path, file, typ string
		varies          bool
	}{
		{"/", "index.html", "text/html; charset=utf-8", true},
		{"/index.html", "index.html", "text/html; charset=utf-8", true},
		{"/docs/", "docs/index.html", "text/html; charset=utf-8", false},
		{"/docs/guide/", "docs/guide/index.html", "text/html; charset=utf-8", false},
		{"/css/site.css", "css/site.css", "text/css; charset=utf-8", false},
		{"/js/app.js", "js/app.js", "text/javascript; charset=utf-8", false},
		{"/img/logo.png", "img/logo.png", "image/png", false},
		{"/docs/README", "docs/README", "text/plain; charset=utf-8", false},
	}
	for _, tt := range tests {
		c, err := s.Lookup(tt.path)
		if err != nil {
			t.Errorf("Lookup(%q): %v", tt.path, err)
			continue
		}
		data, _ := fs.ReadFile(fsys, tt.file)
		if !bytes.Equal(c.Identity(), data) {
			t.Errorf("Lookup(%q): not %s", tt.path, tt.file)
		}
		if c.Type != tt.typ || c.Varies() != tt.varies {
			t.Errorf("Lookup(%q): Type %q, Varies %v; want %q, %v",
				tt.path, c.Type, c.Varies(), tt.typ, tt.varies)
		}
		if c.ETag != New(data, "").ETag {
			t.Errorf("Lookup(%q): ETag %s", tt.path, c.ETag)
		}
	}
	body, enc := mustLookup(t, s, "/").Negotiate([]byte("gzip, deflate, br"))
	if enc != "br" || !bytes.Equal(decompress(t, enc, body), mustRead(t, fsys, "index.html")) {
		t.Errorf("index.html: Negotiate = %q", enc)
	}

	for _, p := range []string{"/docs", "/img", "/nope.html", "/testdata/site/index.html", "/site/index.html"} {
		if c, err := s.Lookup(p); err != ErrNotFound {
			t.Errorf("Lookup(%q) = %v, %v; want ErrNotFound", p, c, err)
		}
	}
	for _, p := range badPaths {
		if _, err := s.Lookup(p); !errors.Is(err, ErrBadPath) {
			t.Errorf("Lookup(%q) = %v; want ErrBadPath", p, err)
		}
	}
}

func mustLookup(t *testing.T, s Source, p string) *Content {
	t.Helper()
	c, err := s.Lookup(p)
	if err != nil {
		t.Fatalf("Lookup(%q): %v", p, err)
	}
	return c
}

func mustRead(t *testing.T, fsys fs.FS, name string) []byte {
	t.Helper()
	b, err := fs.ReadFile(fsys, name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// failFS fails to open one file.
type failFS struct {
	fs.FS
	bad string
}

var errBroken = errors.New("broken disk")

func (f failFS) Open(name string) (fs.File, error) {
	if name == f.bad {
		return nil, &fs.PathError{Op: "open", Path: name, Err: errBroken}
	}
	return f.FS.Open(name)
}

func TestFromFSErrors(t *testing.T) {
	t.Parallel()
	_, err := FromFS(failFS{mapFS(), "site/a/b.txt"})
	if !errors.Is(err, errBroken) || !strings.HasPrefix(err.Error(), "static: load site/a/b.txt: ") {
		t.Errorf("read error: %v", err)
	}
	_, err = FromFS(failFS{mapFS(), "site/a"})
	if !errors.Is(err, errBroken) || !strings.HasPrefix(err.Error(), "static: load site/a: ") {
		t.Errorf("directory error: %v", err)
	}
	for _, name := range []string{"a\\b.txt", "a/new\nline", "tab\t"} {
		_, err = FromFS(fstest.MapFS{name: {Data: []byte("x")}, "ok.txt": {}})
		if !errors.Is(err, ErrBadPath) || !strings.HasPrefix(err.Error(), "static: load ") {
			t.Errorf("FromFS with %q: %v", name, err)
		}
	}
}

func TestFromFSManyFiles(t *testing.T) {
	t.Parallel()
	m := fstest.MapFS{}
	for i := range 200 {
		name := strings.Repeat("d/", i%5) + "f" + string(rune('a'+i%26)) + strings.Repeat("x", i/26) + ".txt"
		m[name] = &fstest.MapFile{Data: append([]byte(name), text(i*10)...)}
	}
	s, err := FromFS(m)
	if err != nil {
		t.Fatal(err)
	}
	if s.Len() != len(m) {
		t.Fatalf("Len() = %d, want %d", s.Len(), len(m))
	}
	for name, f := range m {
		c := mustLookup(t, s, "/"+name)
		if !bytes.Equal(c.Identity(), f.Data) {
			t.Errorf("%s: wrong content", name)
		}
		for _, enc := range []string{"br", "gzip", "deflate"} {
			if body, got := c.Negotiate([]byte(enc)); got == enc {
				if !bytes.Equal(decompress(t, enc, body), f.Data) {
					t.Errorf("%s: %s variant wrong", name, enc)
				}
			}
		}
	}
}

// TestSetLookupAllocs does not call t.Parallel: AllocsPerRun counts every
// allocation of the process.
func TestSetLookupAllocs(t *testing.T) {
	s := mapSet(t)
	for _, p := range []string{"/", "/a.txt", "/a/", "/a/b/c/d.css", "/nope", "/a/b/"} {
		if n := testing.AllocsPerRun(100, func() { s.Lookup(p) }); n != 0 {
			t.Errorf("Lookup(%q): %v allocs, want 0", p, n)
		}
	}
}

func BenchmarkSetLookup(b *testing.B) {
	s, err := FromFS(site(b))
	if err != nil {
		b.Fatal(err)
	}
	for _, p := range []string{"/", "/js/app.js", "/docs/guide/", "/nope", "/docs/guide/index%2ehtml"} {
		b.Run(p, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				s.Lookup(p)
			}
		})
	}
}

func BenchmarkFromFS(b *testing.B) {
	fsys := site(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := FromFS(fsys); err != nil {
			b.Fatal(err)
		}
	}
}

func TestFromFSSymlinks(t *testing.T) {
	t.Parallel()
	if runtime.GOOS == "windows" {
		t.Skip("symbolic links")
	}
	base := t.TempDir()
	root := filepath.Join(base, "root")
	for name, data := range map[string]string{
		"root/a.txt":      "a",
		"root/sub/b.txt":  "b",
		"outside/secret":  "SECRET",
		"outside/x/y.txt": "y",
	} {
		name = filepath.Join(base, name)
		if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(name, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	link := func(target, name string) {
		t.Helper()
		if err := os.Symlink(target, filepath.Join(root, name)); err != nil {
			t.Fatal(err)
		}
	}
	link("a.txt", "link.txt")
	link("sub", "sublink") // a directory: not walked
	link("nope", "dangling")
	link(".#lock", ".#index.html")

	r, err := os.OpenRoot(root)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	s, err := FromFS(r.FS())
	if err != nil {
		t.Fatal(err)
	}
	if got, want := s.Paths(), []string{"a.txt", "link.txt", "sub/b.txt"}; !slices.Equal(got, want) {
		t.Errorf("Paths() = %q, want %q", got, want)
	}
	if c := mustLookup(t, s, "/link.txt"); string(c.Identity()) != "a" {
		t.Errorf("/link.txt = %q", c.Identity())
	}

	// Links out of the root: os.Root refuses them, and so does FromFS.
	for _, target := range []string{
		filepath.Join(base, "outside", "secret"),
		filepath.Join("..", "outside", "secret"),
	} {
		os.Remove(filepath.Join(root, "out"))
		link(target, "out")
		s, err := FromFS(r.FS())
		if err == nil || !strings.HasPrefix(err.Error(), "static: load out: ") {
			t.Errorf("link to %s: FromFS = %v, %v", target, s.Paths(), err)
		}
	}
}
