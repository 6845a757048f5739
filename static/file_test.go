package static

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestDirOpen: Open reads files up to StreamThreshold into a Content and
// hands larger ones over open, unread, with their size, type and a weak
// ETag that changes with the file; Lookup still returns the whole of a
// large file, uncompressed.
func TestDirOpen(t *testing.T) {
	t.Parallel()
	d, root := newTestDir(t)
	large := text(StreamThreshold + 1)
	for name, data := range map[string][]byte{
		"large.js":        large,
		"edge.txt":        text(StreamThreshold),
		"sub/large-noext": append([]byte("<!doctype html>"), large...),
	} {
		if err := os.WriteFile(filepath.Join(root, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		path string
		size int64  // -1: want a Content
		typ  string // want
	}{
		{"/large.js", StreamThreshold + 1, "text/javascript; charset=utf-8"},
		{"/sub/large-noext", StreamThreshold + 1 + 15, "text/html; charset=utf-8"},
		{"/edge.txt", -1, "text/plain; charset=utf-8"},
		{"/big.js", -1, "text/javascript; charset=utf-8"},
	}
	for _, tt := range tests {
		ct, f, err := d.Open(tt.path)
		if err != nil {
			t.Fatalf("Open(%q): %v", tt.path, err)
		}
		if tt.size < 0 {
			if f != nil || ct == nil || ct.Type != tt.typ || !ct.Varies() {
				t.Errorf("Open(%q) = %v, %v: want a compressed Content of type %s", tt.path, ct, f, tt.typ)
			}
			continue
		}
		if ct != nil || f == nil {
			t.Fatalf("Open(%q) = %v, %v: want a File", tt.path, ct, f)
		}
		if f.Size != tt.size || f.Type != tt.typ || !strings.HasPrefix(f.ETag, `W/"`) || !strings.HasSuffix(f.ETag, `"`) {
			t.Errorf("Open(%q): size %d, type %q, ETag %s", tt.path, f.Size, f.Type, f.ETag)
		}
		if !f.NotModified([]byte(f.ETag)) || !f.NotModified([]byte(strings.TrimPrefix(f.ETag, "W/"))) ||
			!f.NotModified([]byte(`"a", `+f.ETag)) || f.NotModified([]byte(`"a"`)) || f.NotModified(nil) {
			t.Errorf("Open(%q): NotModified does not compare %s weakly", tt.path, f.ETag)
		}
		// Open read none of it (sniffing uses ReadAt): the file is at 0.
		if off, err := f.Seek(0, io.SeekCurrent); err != nil || off != 0 {
			t.Errorf("Open(%q): file offset %d (%v), want 0", tt.path, off, err)
		}
		if err := f.Close(); err != nil {
			t.Error(err)
		}
	}

	// The ETag follows the modification time and the size.
	_, f1, err := d.Open("/large.js")
	if err != nil {
		t.Fatal(err)
	}
	f1.Close()
	later := f1.ModTime.Add(time.Second)
	if err := os.Chtimes(filepath.Join(root, "large.js"), later, later); err != nil {
		t.Fatal(err)
	}
	_, f2, err := d.Open("/large.js")
	if err != nil {
		t.Fatal(err)
	}
	f2.Close()
	if f2.ETag == f1.ETag || f1.NotModified([]byte(f2.ETag)) || !f2.ModTime.Equal(later) {
		t.Errorf("ETag %s before and %s after a touch (mtime %v)", f1.ETag, f2.ETag, f2.ModTime)
	}

	// Lookup: the whole file, no compressed variant above the threshold.
	c := mustLookup(t, d, "/large.js")
	if !bytes.Equal(c.Identity(), large) || c.Varies() || strings.HasPrefix(c.ETag, "W/") {
		t.Errorf("Lookup of a large file: %d bytes, Varies %v, ETag %s", len(c.Identity()), c.Varies(), c.ETag)
	}

	// Errors are Lookup's.
	if _, _, err := d.Open("/nope"); err != ErrNotFound {
		t.Errorf("Open(/nope): %v", err)
	}
	if _, _, err := d.Open("/../x"); !errors.Is(err, ErrBadPath) {
		t.Errorf("Open(/../x): %v", err)
	}
	if _, _, err := d.Open("/sub"); err != ErrNotFound {
		t.Errorf("Open(/sub): %v", err)
	}
}
