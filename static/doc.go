// Package static serves static content from memory: each file becomes an
// immutable [Content] holding its identity bytes, gzip, deflate and brotli
// variants compressed once, its MIME type and a strong SHA-256 ETag.
//
// A request is answered in three allocation-free steps: [Set.Lookup] maps the
// URL path to a Content, [Content.NotModified] checks If-None-Match (304), and
// [Content.Negotiate] picks the best variant for Accept-Encoding.
//
// Content comes from three places:
//
//   - [New]: one body built in Go code (a generated page, a JavaScript
//     client library).
//   - [FromFS]: every file of an [io/fs.FS], loaded and compressed once at
//     start. With go:embed this puts a whole directory into the binary.
//   - [Dir]: development mode. It reads the file from disk on every request,
//     so edits show up on reload, and it uses [os.Root] so that no request
//     path (nor a symlink) can reach a file outside the directory. Files
//     over [StreamThreshold] are not read: [Dir.Open] hands them over as an
//     open [File] to be sent from disk, uncompressed, with a weak ETag.
//
// [Set] and [Dir] both implement [Source]; [Dir] also implements [Opener].
//
// Typical usage:
//
//	//go:embed site
//	var site embed.FS
//
//	sub, _ := fs.Sub(site, "site")
//	set, err := static.FromFS(sub) // at start: compresses every file once
//	if err != nil {
//		log.Fatal(err)
//	}
//
//	// per request (path: raw request path, no query):
//	c, err := set.Lookup(path)
//	switch {
//	case errors.Is(err, static.ErrBadPath): // 400
//	case err != nil: // 404 (static.ErrNotFound) or 500
//	case c.NotModified(ifNoneMatch): // 304 with ETag (and Vary), no body
//	default:
//		body, enc := c.Negotiate(acceptEncoding)
//		// 200 with Content-Type: c.Type, ETag: c.ETag,
//		// Content-Encoding: enc (when enc != ""),
//		// Vary: Accept-Encoding (when c.Varies()), then body
//	}
//
// Contents, Sets and Dirs are safe for concurrent use by multiple goroutines.
// The byte slices they return are shared: callers must not modify them.
package static
