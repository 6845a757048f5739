package static

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"runtime"
	"slices"
	"strings"
	"sync"
)

// Interface guards.
var (
	_ Source = (*Set)(nil)
	_ Source = (*Dir)(nil)
)

// Set is the content of every file of a file system, loaded and compressed
// once by [FromFS]. It is immutable and safe for concurrent use. A nil or
// zero Set is empty: its Lookup returns [ErrNotFound].
type Set struct {
	// byPath maps request paths to contents: "/a/b.js" for each file, and
	// "/" and "/dir/" for each index.html, so that Lookup needs neither
	// string building nor allocation.
	byPath map[string]*Content
	names  []string // file names, sorted
}

// FromFS loads every regular file of fsys into a Set, including files whose
// names start with a dot, and compresses them once (see [New]), in parallel
// on up to GOMAXPROCS goroutines. fsys is read from one goroutine only and
// must not be nil.
//
// A symbolic link to a regular file is loaded as that file; links to
// directories are not walked, and dangling links are skipped. A link that
// fsys refuses to follow is an error: for a directory on disk, pass
// (*os.Root).FS, which refuses links leading outside the directory, rather
// than os.DirFS, which follows them anywhere.
//
// Each file's type comes from its extension ([TypeByExtension]), or from
// its content when the extension is missing or unknown. A file whose name
// holds a backslash or a control character, which no request path can
// reach, is an error wrapping [ErrBadPath].
//
// Errors name the file: "static: load <path>: <cause>".
func FromFS(fsys fs.FS) (*Set, error) {
	type file struct {
		name string
		data []byte
		c    *Content
	}
	var files []*file
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("static: load %s: %w", p, err)
		}
		switch typ := d.Type(); {
		case typ.IsRegular():
		case typ&fs.ModeSymlink != 0:
			fi, err := fs.Stat(fsys, p)
			switch {
			case errors.Is(err, fs.ErrNotExist):
				return nil // dangling, like an editor's lock file
			case err != nil:
				return fmt.Errorf("static: load %s: %w", p, err)
			case !fi.Mode().IsRegular():
				return nil
			}
		default:
			return nil // directory, device, socket, ...
		}
		for i := range len(p) {
			if reason := checkByte(p[i]); reason != "" {
				return fmt.Errorf("static: load %s: %w",
					p, &badPathError{path: p, reason: reason})
			}
		}
		data, err := fs.ReadFile(fsys, p)
		if err != nil {
			return fmt.Errorf("static: load %s: %w", p, err)
		}
		files = append(files, &file{name: p, data: data})
		return nil
	})
	if err != nil {
		return nil, err
	}

	// Compress in parallel. Compression cannot fail.
	work := make(chan *file)
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), max(len(files), 1)) {
		wg.Go(func() {
			for f := range work {
				f.c = newContent(f.data, fileType(f.name, f.data), true)
			}
		})
	}
	for _, f := range files {
		work <- f
	}
	close(work)
	wg.Wait()

	s := &Set{byPath: make(map[string]*Content, len(files)+len(files)/4)}
	for _, f := range files {
		s.byPath["/"+f.name] = f.c
		s.names = append(s.names, f.name)
		if dir, base := path.Split(f.name); base == indexFile {
			s.byPath["/"+dir] = f.c
		}
	}
	slices.Sort(s.names)
	return s, nil
}

// fileType returns the MIME type of the file name holding data: by
// extension, else by content.
func fileType(name string, data []byte) string {
	if t := typeByExtension(path.Ext(name)); t != "" {
		return t
	}
	return resolveType("", data)
}

// Lookup returns the Content for the request path urlPath (see [Source]).
// "/" and "/dir/" name "index.html" and "dir/index.html"; "/dir" without the
// slash is not found (the caller may redirect).
//
// Lookup does not allocate when urlPath holds no '%' and either names a
// file or is not found. It rejects with an error wrapping
// [ErrBadPath] a path that is not absolute, has "." or ".." or empty
// segments, or holds a backslash, NUL or other control character, an
// encoded slash (%2F) or a malformed escape, whether written plainly or
// percent-encoded.
func (s *Set) Lookup(urlPath string) (*Content, error) {
	var m map[string]*Content
	if s != nil {
		m = s.byPath
	}
	if strings.IndexByte(urlPath, '%') < 0 {
		// Every key is a clean path, so a hit needs no checking.
		if c, ok := m[urlPath]; ok {
			return c, nil
		}
		if reason := checkPath(urlPath); reason != "" {
			return nil, &badPathError{path: urlPath, reason: reason}
		}
		return nil, ErrNotFound
	}
	p, err := cleanPath(urlPath)
	if err != nil {
		return nil, err
	}
	if c, ok := m[p]; ok {
		return c, nil
	}
	return nil, ErrNotFound
}

// Len returns the number of files in s. A nil Set has none.
func (s *Set) Len() int {
	if s == nil {
		return 0
	}
	return len(s.names)
}

// Paths returns the names of the files in s, as fsys named them
// ("index.html", "css/site.css"), sorted; for logs and tests. The caller
// may modify the returned slice. A nil or empty Set returns nil.
func (s *Set) Paths() []string {
	if s == nil {
		return nil
	}
	return slices.Clone(s.names)
}
