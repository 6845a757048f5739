package static

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"syscall"
)

// Dir serves the files of a directory on disk, reading the file on every
// request: the development mode, where edits show up on the next reload.
// Nothing is cached. A file up to [StreamThreshold] bytes becomes a new
// Content per request, with identity and gzip variants and a strong
// ETag. A larger one is handed over open by [Dir.Open], to be sent from
// disk as the client reads it: no compressed variant (as with nginx's
// sendfile), a weak ETag from its size and modification time. For
// production, load the directory once with FromFS.
//
// No request path can reach a file outside the directory: paths are
// checked like [Set.Lookup] does, and files are opened through an [os.Root],
// which also refuses symbolic links that lead outside (or are absolute).
// Symbolic links that stay inside are followed.
//
// A Dir is safe for concurrent use. Create one with [NewDir]; the zero Dir
// is not usable.
type Dir struct {
	root *os.Root
}

var _ Opener = (*Dir)(nil)

// NewDir opens the directory root (relative to the working directory, or
// absolute) for a Dir. Close the Dir to release it.
func NewDir(root string) (*Dir, error) {
	r, err := os.OpenRoot(root)
	if err != nil {
		return nil, fmt.Errorf("static: %w", err)
	}
	return &Dir{root: r}, nil
}

// Close releases the directory. Lookups after Close fail.
func (d *Dir) Close() error { return d.root.Close() }

// Lookup reads the file for the request path urlPath (see [Source] and
// [Set.Lookup]) and returns a new Content for it. Directories and special
// files are not found; a path that a symbolic link would take outside the
// root is an error wrapping [ErrBadPath]; other failures (permissions, I/O)
// are returned wrapped with the file name.
//
// Lookup reads the whole file whatever its size; a file over
// [StreamThreshold] gets no compressed variant. A server should call
// [Dir.Open] instead, which hands large files over unread.
func (d *Dir) Lookup(urlPath string) (*Content, error) {
	ct, f, err := d.Open(urlPath)
	if f == nil {
		return ct, err
	}
	defer f.Close()
	data := make([]byte, f.Size)
	if _, err := io.ReadFull(io.NewSectionReader(f, 0, f.Size), data); err != nil {
		return nil, fmt.Errorf("static: %s: %w", f.Name(), err)
	}
	return newContent(data, f.Type, false), nil
}

// Open looks the request path urlPath up like [Dir.Lookup] and returns
// either a Content (a file up to [StreamThreshold] bytes, read whole) or,
// for a larger file, the open File, unread, which the caller sends and
// closes. Errors are those of Lookup.
func (d *Dir) Open(urlPath string) (*Content, *File, error) {
	p, err := cleanPath(urlPath)
	if err != nil {
		return nil, nil, err
	}
	name := fileName(p)
	fail := func(err error) (*Content, *File, error) {
		var pe *fs.PathError
		switch {
		case errors.Is(err, fs.ErrNotExist), errors.Is(err, syscall.ENOTDIR):
			return nil, nil, ErrNotFound
		case errors.As(err, &pe) && pe.Err.Error() == "path escapes from parent":
			// os.Root's unexported errPathEscapes.
			return nil, nil, &badPathError{path: urlPath, reason: "escapes root", err: err}
		}
		return nil, nil, fmt.Errorf("static: %s: %w", name, err)
	}
	// Stat first, so that opening a FIFO cannot block.
	fi, err := d.root.Stat(name)
	if err != nil {
		return fail(err)
	}
	if !fi.Mode().IsRegular() {
		return nil, nil, ErrNotFound
	}
	f, err := d.root.Open(name)
	if err != nil {
		return fail(err)
	}
	if fi, err = f.Stat(); err != nil {
		f.Close()
		return fail(err)
	}
	if !fi.Mode().IsRegular() { // replaced since the Stat above
		f.Close()
		return nil, nil, ErrNotFound
	}
	if fi.Size() > StreamThreshold {
		lf, err := newFile(f, name, fi)
		if err != nil {
			f.Close()
			return fail(err)
		}
		return nil, lf, nil
	}
	defer f.Close()
	data, err := io.ReadAll(f)
	if err != nil {
		return fail(err)
	}
	return newContent(data, fileType(name, data), false), nil, nil
}
