package static

import (
	"io"
	"io/fs"
	"os"
	"path"
	"strconv"
	"time"
)

// StreamThreshold is the size above which [Dir.Open] hands a file over
// open instead of reading it into a Content. Up to it a development
// request reads and gzips the file (about a millisecond per MiB); above it
// reading and compressing per request would hold the server's event loop
// and cost the file's size in memory per request in flight.
const StreamThreshold = 1 << 20

// Opener is a [Source] that hands large files over open, to be sent from
// disk as the client reads them rather than read into memory. [Dir]
// implements it; edge's Ctx.Serve uses it when the source has it.
type Opener interface {
	Source
	// Open returns, for urlPath, either a Content or a File (never both);
	// the caller must close the File. Errors are those of Lookup.
	Open(urlPath string) (*Content, *File, error)
}

// File is a regular file opened by [Dir.Open], to be sent as it is from
// disk (with sendfile(2) or a read per chunk): it has no compressed
// variant. The caller must Close it.
type File struct {
	// File is the open file, positioned at its start.
	*os.File

	// Type is the MIME type sent as Content-Type.
	Type string

	// ETag is a weak entity tag built from the size and the modification
	// time, like nginx's for files: W/"<seconds>.<nanoseconds>-<size>",
	// in hexadecimal. A strong one would mean reading the whole file per
	// request.
	ETag string

	// Size is the file's size when it was opened: the Content-Length.
	Size int64

	// ModTime is the file's modification time, for Last-Modified.
	ModTime time.Time
}

// newFile describes the open regular file f named name (for its type).
func newFile(f *os.File, name string, fi fs.FileInfo) (*File, error) {
	typ := typeByExtension(path.Ext(name))
	if typ == "" {
		// Sniff the first bytes, as for small files.
		var head [512]byte
		n, err := f.ReadAt(head[:], 0)
		if err != nil && err != io.EOF {
			return nil, err
		}
		typ = resolveType("", head[:n])
	}
	mt := fi.ModTime()
	tag := make([]byte, 0, 48)
	tag = append(tag, `W/"`...)
	tag = strconv.AppendInt(tag, mt.Unix(), 16)
	tag = append(tag, '.')
	tag = strconv.AppendInt(tag, int64(mt.Nanosecond()), 16)
	tag = append(tag, '-')
	tag = strconv.AppendInt(tag, fi.Size(), 16)
	tag = append(tag, '"')
	return &File{File: f, Type: typ, ETag: string(tag), Size: fi.Size(), ModTime: mt}, nil
}

// NotModified reports whether the If-None-Match header value ifNoneMatch
// matches f's ETag (weak comparison, as for [Content.NotModified]).
func (f *File) NotModified(ifNoneMatch []byte) bool {
	return matchETag(f.ETag, ifNoneMatch)
}
