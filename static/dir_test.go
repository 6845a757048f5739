package static

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// newTestDir makes a root directory and a sibling holding a secret, with
// symbolic links inside the root pointing in and out, and opens a Dir on
// the root.
func newTestDir(t *testing.T) (*Dir, string) {
	t.Helper()
	base := t.TempDir()
	root := filepath.Join(base, "root")
	outside := filepath.Join(base, "outside")
	write := func(name string, data []byte) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(name, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(outside, "secret.txt"), []byte("SECRET"))
	write(filepath.Join(root, "index.html"), []byte("<!doctype html>root"))
	write(filepath.Join(root, "a.txt"), []byte("a"))
	write(filepath.Join(root, "big.js"), text(5000))
	write(filepath.Join(root, "sub", "index.html"), []byte("sub index"))
	write(filepath.Join(root, "sub", "b.css"), []byte("b{}"))
	write(filepath.Join(root, "noext"), []byte("plain"))
	write(filepath.Join(root, "pic.png"), text(5000))

	if runtime.GOOS != "windows" {
		links := map[string]string{
			"abs-out":       filepath.Join(outside, "secret.txt"),
			"rel-out":       filepath.Join("..", "outside", "secret.txt"),
			"sub/rel-out":   filepath.Join("..", "..", "outside", "secret.txt"),
			"dir-out":       outside,
			"rel-dir-out":   filepath.Join("..", "outside"),
			"rel-in":        "a.txt",
			"sub/rel-up-in": filepath.Join("..", "a.txt"),
			"sub-link":      "sub",
			"abs-in":        filepath.Join(root, "a.txt"),
			"dangling":      "nope",
		}
		for name, target := range links {
			if err := os.Symlink(target, filepath.Join(root, name)); err != nil {
				t.Fatal(err)
			}
		}
	}
	d, err := NewDir(root)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d, root
}

func TestDirLookup(t *testing.T) {
	t.Parallel()
	d, _ := newTestDir(t)
	type dirTest struct {
		path string
		want string // content, "404" for ErrNotFound, "400" for ErrBadPath
		typ  string
		link bool // needs the symbolic links
	}
	tests := []dirTest{
		{"/", "<!doctype html>root", "text/html; charset=utf-8", false},
		{"/index.html", "<!doctype html>root", "text/html; charset=utf-8", false},
		{"/a.txt", "a", "text/plain; charset=utf-8", false},
		{"/%61.txt", "a", "text/plain; charset=utf-8", false},
		{"/sub/", "sub index", "text/html; charset=utf-8", false},
		{"/sub/b.css", "b{}", "text/css; charset=utf-8", false},
		{"/noext", "plain", "text/plain; charset=utf-8", false},
		{"/sub", "404", "", false},
		{"/nope", "404", "", false},
		{"/nope/", "404", "", false},
		{"/a.txt/", "404", "", false},
		{"/a.txt/x", "404", "", false},
		{"/secret.txt", "404", "", false},

		// symbolic links
		{"/rel-in", "a", "text/plain; charset=utf-8", true},
		{"/sub/rel-up-in", "a", "text/plain; charset=utf-8", true},
		{"/sub-link/b.css", "b{}", "text/css; charset=utf-8", true},
		{"/sub-link/", "sub index", "text/html; charset=utf-8", true},
		{"/dangling", "404", "", true},
		{"/abs-out", "400", "", true},
		{"/rel-out", "400", "", true},
		{"/sub/rel-out", "400", "", true},
		{"/dir-out/secret.txt", "400", "", true},
		{"/rel-dir-out/secret.txt", "400", "", true},
		{"/%72el-out", "400", "", true},
		{"/abs-in", "400", "", true}, // os.Root refuses absolute links

		// escapes
		{"/../outside/secret.txt", "400", "", false},
		{"/..", "400", "", false},
		{"/%2e%2e/outside/secret.txt", "400", "", false},
		{"/%2E%2E/outside/secret.txt", "400", "", false},
		{"/sub/%2e%2e/%2e%2e/outside/secret.txt", "400", "", false},
		{"/..%2foutside/secret.txt", "400", "", false},
		{"/..%5coutside/secret.txt", "400", "", false},
		{"/sub/../../outside/secret.txt", "400", "", false},
		{"//outside/secret.txt", "400", "", false},
		{"/a%00", "400", "", false},
	}
	for _, p := range badPaths {
		tests = append(tests, dirTest{p, "400", "", false})
	}
	for _, tt := range tests {
		if runtime.GOOS == "windows" && tt.link {
			continue
		}
		t.Run(tt.path, func(t *testing.T) {
			t.Parallel()
			c, err := d.Lookup(tt.path)
			switch tt.want {
			case "404":
				if err != ErrNotFound || c != nil {
					t.Errorf("Lookup(%q) = %v, %v; want ErrNotFound", tt.path, c, err)
				}
			case "400":
				if !errors.Is(err, ErrBadPath) || c != nil {
					t.Errorf("Lookup(%q) = %v, %v; want ErrBadPath", tt.path, c, err)
				}
			default:
				if err != nil {
					t.Fatalf("Lookup(%q): %v", tt.path, err)
				}
				if string(c.Identity()) != tt.want || c.Type != tt.typ {
					t.Errorf("Lookup(%q) = %q (%s), want %q (%s)",
						tt.path, c.Identity(), c.Type, tt.want, tt.typ)
				}
			}
			if c != nil && bytes.Contains(c.Identity(), []byte("SECRET")) {
				t.Errorf("Lookup(%q) escaped the root", tt.path)
			}
		})
	}
}

func TestDirVariants(t *testing.T) {
	t.Parallel()
	d, root := newTestDir(t)
	c := mustLookup(t, d, "/big.js")
	if c.gzip == nil || c.br != nil || c.deflate != nil || !c.Varies() {
		t.Fatal("Dir content: want identity and gzip only")
	}
	body, enc := c.Negotiate([]byte("br, gzip, deflate"))
	if enc != "gzip" || !bytes.Equal(decompress(t, enc, body), mustReadFile(t, root, "big.js")) {
		t.Fatalf("Negotiate = %q, or gzip variant wrong", enc)
	}
	if c.ETag != New(mustReadFile(t, root, "big.js"), "").ETag {
		t.Error("Dir ETag differs from New's")
	}
	if c := mustLookup(t, d, "/pic.png"); c.Varies() {
		t.Error("png compressed")
	}
}

func mustReadFile(t *testing.T, root, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDirSeesChanges(t *testing.T) {
	t.Parallel()
	d, root := newTestDir(t)
	before := mustLookup(t, d, "/a.txt")
	if err := os.WriteFile(filepath.Join(root, "a.txt"), []byte("changed"), 0o644); err != nil {
		t.Fatal(err)
	}
	after := mustLookup(t, d, "/a.txt")
	if string(after.Identity()) != "changed" || after.ETag == before.ETag {
		t.Errorf("after a write: %q, ETag %s (was %s)", after.Identity(), after.ETag, before.ETag)
	}
	if before.NotModified([]byte(after.ETag)) {
		t.Error("old ETag still matches")
	}

	if err := os.WriteFile(filepath.Join(root, "new.txt"), []byte("new"), 0o644); err != nil {
		t.Fatal(err)
	}
	if c := mustLookup(t, d, "/new.txt"); string(c.Identity()) != "new" {
		t.Errorf("new file: %q", c.Identity())
	}
	if err := os.Remove(filepath.Join(root, "new.txt")); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Lookup("/new.txt"); err != ErrNotFound {
		t.Errorf("removed file: %v", err)
	}
}

func TestDirErrors(t *testing.T) {
	t.Parallel()
	if _, err := NewDir(filepath.Join(t.TempDir(), "nope")); err == nil {
		t.Error("NewDir of a missing directory succeeded")
	}
	f := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(f, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := NewDir(f); err == nil {
		t.Error("NewDir of a file succeeded")
	}

	d, _ := newTestDir(t)
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if c, err := d.Lookup("/a.txt"); err == nil || err == ErrNotFound || c != nil {
		t.Errorf("Lookup after Close = %v, %v", c, err)
	}
}
