package static_test

import (
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strings"
	"testing/fstest"

	"github.com/edge-rt/edge/static"
)

func Example() {
	// In a program this is usually an embed.FS (//go:embed site) passed
	// through fs.Sub, or (*os.Root).FS() for a directory on disk.
	site := fstest.MapFS{
		"index.html":  {Data: []byte("<!doctype html>" + strings.Repeat("<p>Hello, edge.</p>\n", 40))},
		"css/app.css": {Data: []byte("body { margin: 0 }")},
	}
	set, err := static.FromFS(site)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(set.Paths())

	// A request for "/" with a typical browser Accept-Encoding.
	c, err := set.Lookup("/")
	if err != nil {
		log.Fatal(err)
	}
	body, enc := c.Negotiate([]byte("gzip, deflate, br, zstd"))
	fmt.Println("Content-Type:", c.Type)
	fmt.Println("Content-Encoding:", enc)
	fmt.Println("Vary: Accept-Encoding:", c.Varies())
	fmt.Println("compressed:", len(body) < len(c.Identity()))

	// The same client comes back with the ETag it was sent.
	fmt.Println("304:", c.NotModified([]byte(c.ETag)))

	// Small bodies are not compressed.
	css, _ := set.Lookup("/css/app.css")
	_, enc = css.Negotiate([]byte("br"))
	fmt.Printf("css: %q, %v\n", enc, css.Varies())

	// Errors tell 404 from 400.
	_, err = set.Lookup("/nope.html")
	fmt.Println(err == static.ErrNotFound)
	_, err = set.Lookup("/%2e%2e/etc/passwd")
	fmt.Println(errors.Is(err, static.ErrBadPath), err)

	// Output:
	// [css/app.css index.html]
	// Content-Type: text/html; charset=utf-8
	// Content-Encoding: br
	// Vary: Accept-Encoding: true
	// compressed: true
	// 304: true
	// css: "", false
	// true
	// true static: bad path "/%2e%2e/etc/passwd": dot segment
}

func ExampleContent_Negotiate() {
	c := static.New([]byte(strings.Repeat("edge ", 100)), "txt")
	for _, h := range []string{
		"",
		"gzip, deflate",
		"br;q=0.5, gzip;q=0.8",
		"identity;q=0",
		"*;q=0",
	} {
		_, enc := c.Negotiate([]byte(h))
		fmt.Printf("%-22q -> %q\n", h, enc)
	}
	// Output:
	// ""                     -> ""
	// "gzip, deflate"        -> "gzip"
	// "br;q=0.5, gzip;q=0.8" -> "gzip"
	// "identity;q=0"         -> ""
	// "*;q=0"                -> ""
}

func ExampleDir_Open() {
	root, err := os.MkdirTemp("", "static-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(root)
	os.WriteFile(filepath.Join(root, "small.txt"), []byte("hello"), 0o644)
	os.WriteFile(filepath.Join(root, "video.mp4"), make([]byte, 3<<20), 0o644)

	d, err := static.NewDir(root)
	if err != nil {
		log.Fatal(err)
	}
	defer d.Close()
	for _, p := range []string{"/small.txt", "/video.mp4"} {
		c, f, err := d.Open(p)
		switch {
		case err != nil:
			log.Fatal(err)
		case f != nil:
			// Too large to read per request: send f.Size bytes from f
			// (with sendfile(2), say) as the client reads, then close it.
			fmt.Println(p, "file:", f.Type, f.Size, strings.HasPrefix(f.ETag, `W/"`))
			f.Close()
		default:
			fmt.Println(p, "content:", c.Type, len(c.Identity()))
		}
	}
	// Output:
	// /small.txt content: text/plain; charset=utf-8 5
	// /video.mp4 file: video/mp4 3145728 true
}
