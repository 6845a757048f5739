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
// Nothing is cached; each Content has only identity and gzip variants,
// computed per request. For production, load the directory once with
// FromFS.
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
func (d *Dir) Lookup(urlPath string) (*Content, error) {
	p, err := cleanPath(urlPath)
	if err != nil {
		return nil, err
	}
	name := fileName(p)
	fail := func(err error) (*Content, error) {
		var pe *fs.PathError
		switch {
		case errors.Is(err, fs.ErrNotExist), errors.Is(err, syscall.ENOTDIR):
			return nil, ErrNotFound
		case errors.As(err, &pe) && pe.Err.Error() == "path escapes from parent":
			// os.Root's unexported errPathEscapes.
			return nil, &badPathError{path: urlPath, reason: "escapes root", err: err}
		}
		return nil, fmt.Errorf("static: %s: %w", name, err)
	}
	// Stat first, so that opening a FIFO cannot block.
	fi, err := d.root.Stat(name)
	if err != nil {
		return fail(err)
	}
	if !fi.Mode().IsRegular() {
		return nil, ErrNotFound
	}
	f, err := d.root.Open(name)
	if err != nil {
		return fail(err)
	}
	defer f.Close()
	if fi, err = f.Stat(); err != nil {
		return fail(err)
	}
	if !fi.Mode().IsRegular() { // replaced since the Stat above
		return nil, ErrNotFound
	}
	data, err := io.ReadAll(f)
	if err != nil {
		return fail(err)
	}
	return newContent(data, fileType(name, data), false), nil
}
