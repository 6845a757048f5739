package static

import (
	"bytes"
	"compress/gzip"
	"compress/zlib"
	"crypto/sha256"
	"encoding/base64"
	"io"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/andybalholm/brotli"
)

// text returns n bytes of compressible text.
func text(n int) []byte {
	const s = "edge serves static content from memory, precompressed once. "
	return bytes.Repeat([]byte(s), n/len(s)+1)[:n]
}

// noise returns n incompressible bytes, the same on every run.
func noise(n int) []byte {
	r := rand.New(rand.NewPCG(1, 2))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// Contents shared by the tests: every variant, gzip only, none.
var (
	fullContent = New(text(4096), "txt")
	gzipContent = newContent(text(4096), "text/plain; charset=utf-8", false)
	tinyContent = New([]byte("tiny"), "txt")
)

func TestNegotiate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		header string
		want   string // for fullContent (br, gzip, deflate)
	}{
		// absent or empty
		{"", ""},
		{" ", ""},
		{",", ""},
		{" , ,\t", ""},

		// single codings
		{"gzip", "gzip"},
		{"deflate", "deflate"},
		{"br", "br"},
		{"identity", ""},
		{"compress", ""},
		{"zstd", ""},

		// browsers
		{"gzip, deflate, br", "br"},
		{"gzip, deflate, br, zstd", "br"},
		{"gzip, deflate", "gzip"},
		{"deflate, gzip", "gzip"},
		{"br;q=1.0, gzip;q=0.8, *;q=0.1", "br"},

		// q-values
		{"br;q=0.5, gzip", "gzip"},
		{"br;q=1.0, gzip;q=0.999", "br"},
		{"br;q=0.999, gzip;q=1", "gzip"},
		{"gzip;q=0.8, deflate;q=0.9", "deflate"},
		{"br;q=0.5, gzip;q=0.5, deflate;q=0.5", "br"},
		{"deflate;q=0.5, gzip;q=0.5", "gzip"},
		{"gzip;q=0", ""},
		{"gzip;q=0.", ""},
		{"gzip;q=0.0", ""},
		{"gzip;q=0.000", ""},
		{"gzip;q=0.001", "gzip"},
		{"gzip;q=1.", "gzip"},
		{"gzip;q=1.000", "gzip"},
		{"gzip;q=0.5, identity", ""},
		{"gzip, identity;q=0.5", "gzip"},
		{"identity, gzip", "gzip"},
		{"identity;q=1, br;q=1", "br"},
		{"identity;q=0.9, br;q=0.8", ""},
		{"br;q=0.1, gzip;q=0", "br"},

		// wildcard
		{"*", "br"},
		{"*;q=0.5, gzip", "gzip"},
		{"*, br;q=0", "gzip"},
		{"*, br;q=0, gzip;q=0", "deflate"},
		{"*, br;q=0, gzip;q=0, deflate;q=0", ""},
		{"*;q=0.5, identity", ""},
		{"*;q=0.1, identity;q=0.05", "br"},

		// identity refused: still served when nothing else fits
		{"*;q=0", ""},
		{"identity;q=0", ""},
		{"identity;q=0, gzip", "gzip"},
		{"identity;q=0, *;q=0.1", "br"},
		{"*;q=0, identity", ""},
		{"*;q=0, deflate", "deflate"},
		{"identity;q=0, zstd", ""},

		// case
		{"GZIP", "gzip"},
		{"Br", "br"},
		{"DeFlate", "deflate"},
		{"x-gzip", "gzip"},
		{"X-GZip", "gzip"},
		{"gzip;Q=0.5, br;q=0.4", "gzip"},
		{"IDENTITY;Q=0, Gzip;Q=0", ""},

		// whitespace
		{"  gzip  ,  br ; q=0.2 ", "gzip"},
		{"\tbr\t;\tq=1", "br"},
		{"gzip ;q=0.5", "gzip"},
		{"gzip;  q=0.5  ,deflate; q=0.6", "deflate"},
		{",,gzip,,", "gzip"},

		// malformed q: the element is ignored
		{"br;q=2, gzip", "gzip"},
		{"br;q=1.5", ""},
		{"br;q=1.001", ""},
		{"br;q=0.5000", ""},
		{"br;q=.5", ""},
		{"br;q=", ""},
		{"br;q=-1", ""},
		{"br;q=0.5x", ""},
		{"br;q= 0.5", ""},
		{"br;q =0.5", ""},
		{"br;q=abc, gzip;q=0.1", "gzip"},
		{"br;q=1e0, deflate", "deflate"},
		{"gzip;q=0.5;q=x", ""},
		{"identity;q=2", ""},
		{"*;q=00", ""},

		// malformed elements
		{"g zip", ""},
		{"gzip br", ""},
		{"gzip;", ""},
		{"gzip;=1", ""},
		{"gzip;q", ""},
		{";q=1", ""},
		{"\"gzip\"", ""},
		{"gzip\x00", ""},
		{"gzíp", ""},

		// other parameters are ignored
		{"gzip;level=9", "gzip"},
		{"gzip;level=9;q=0.5, deflate;q=0.4", "gzip"},

		// duplicates: the highest weight counts
		{"gzip;q=0, gzip", "gzip"},
		{"gzip, gzip;q=0", "gzip"},
		{"br, br;q=0", "br"},
		{"br;q=0.1, br;q=0.2, gzip;q=0.15", "br"},
		{"gzip;q=0.2, x-gzip;q=0.6, br;q=0.5", "gzip"},
		{"identity;q=0, identity", ""},
	}
	for _, tt := range tests {
		t.Run(tt.header, func(t *testing.T) {
			t.Parallel()
			body, enc := fullContent.Negotiate([]byte(tt.header))
			if enc != tt.want {
				t.Errorf("Negotiate(%q) = %q, want %q", tt.header, enc, tt.want)
			}
			if want := fullContent.variant(enc); !bytes.Equal(body, want) {
				t.Errorf("Negotiate(%q): body is not the %q variant", tt.header, enc)
			}
		})
	}
}

// variant returns the body of the variant named enc.
func (c *Content) variant(enc string) []byte {
	switch enc {
	case "br":
		return c.br
	case "gzip":
		return c.gzip
	case "deflate":
		return c.deflate
	case "":
		return c.identity
	}
	panic("unknown encoding " + enc)
}

func TestNegotiatePartial(t *testing.T) {
	t.Parallel()
	tests := []struct {
		c      *Content
		header string
		want   string
	}{
		{gzipContent, "br", ""},
		{gzipContent, "br, deflate", ""},
		{gzipContent, "br, gzip;q=0.1", "gzip"},
		{gzipContent, "gzip, deflate, br", "gzip"},
		{gzipContent, "*", "gzip"},
		{gzipContent, "br;q=1, identity;q=0", ""},
		{gzipContent, "br, *;q=0", ""},
		{gzipContent, "", ""},
		{tinyContent, "gzip, deflate, br", ""},
		{tinyContent, "*", ""},
		{tinyContent, "identity;q=0", ""},
		{&Content{}, "gzip", ""},
	}
	for _, tt := range tests {
		body, enc := tt.c.Negotiate([]byte(tt.header))
		if enc != tt.want || !bytes.Equal(body, tt.c.variant(enc)) {
			t.Errorf("Negotiate(%q) = %q, want %q", tt.header, enc, tt.want)
		}
	}
	if fullContent.br == nil || fullContent.gzip == nil || fullContent.deflate == nil {
		t.Errorf("fullContent lacks a variant")
	}
	if gzipContent.gzip == nil || gzipContent.br != nil || gzipContent.deflate != nil {
		t.Errorf("gzipContent: want a gzip variant only")
	}
}

// decompress decodes body sent with Content-Encoding enc.
func decompress(t *testing.T, enc string, body []byte) []byte {
	t.Helper()
	var r io.Reader
	var err error
	switch enc {
	case "":
		return body
	case "gzip":
		r, err = gzip.NewReader(bytes.NewReader(body))
	case "deflate":
		r, err = zlib.NewReader(bytes.NewReader(body))
	case "br":
		r = brotli.NewReader(bytes.NewReader(body))
	default:
		t.Fatalf("unknown encoding %q", enc)
	}
	if err != nil {
		t.Fatalf("%s: %v", enc, err)
	}
	out, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("%s: %v", enc, err)
	}
	return out
}

func TestVariantsDecompress(t *testing.T) {
	t.Parallel()
	for _, c := range []*Content{fullContent, gzipContent, New(text(300), "html"), New(text(1<<16), "")} {
		for _, enc := range []string{"br", "gzip", "deflate", ""} {
			body, got := c.Negotiate([]byte(enc))
			if got != enc {
				if c.variant(enc) != nil {
					t.Errorf("Negotiate(%q) = %q", enc, got)
				}
				continue
			}
			if len(body) >= len(c.Identity()) && enc != "" {
				t.Errorf("%s variant is %d bytes, identity %d", enc, len(body), len(c.Identity()))
			}
			if out := decompress(t, enc, body); !bytes.Equal(out, c.Identity()) {
				t.Errorf("%s variant does not decompress to identity", enc)
			}
		}
	}
}

func TestNew(t *testing.T) {
	t.Parallel()
	html := []byte("<!doctype html><title>x</title>")
	tests := []struct {
		name   string
		data   []byte
		typ    string
		want   string
		varies bool
	}{
		{"mime verbatim", html, "text/html", "text/html", false},
		{"mime with params", html, "text/html; charset=latin1", "text/html; charset=latin1", false},
		{"ext", html, "html", "text/html; charset=utf-8", false},
		{"dot ext", html, ".JS", "text/javascript; charset=utf-8", false},
		{"sniff html", html, "", "text/html; charset=utf-8", false},
		{"sniff text", text(1000), "", "text/plain; charset=utf-8", true},
		{"sniff png", []byte("\x89PNG\r\n\x1a\n"), "", "image/png", false},
		{"unknown ext", html, "nosuchext", "application/octet-stream", false},
		{"nil", nil, "txt", "text/plain; charset=utf-8", false},
		{"small text", text(minCompressSize - 1), "txt", "text/plain; charset=utf-8", false},
		{"threshold", text(minCompressSize), "txt", "text/plain; charset=utf-8", true},
		{"big text", text(100000), "css", "text/css; charset=utf-8", true},
		{"png", text(100000), "png", "image/png", false},
		{"woff2", text(100000), "woff2", "font/woff2", false},
		{"mp4", text(100000), "video/mp4", "video/mp4", false},
		{"wav", text(100000), "wav", "audio/wav", true},
		{"gz", text(100000), "gz", "application/gzip", false},
		{"noise", noise(100000), "bin", "application/octet-stream", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := New(tt.data, tt.typ)
			if c.Type != tt.want {
				t.Errorf("Type = %q, want %q", c.Type, tt.want)
			}
			if c.Varies() != tt.varies {
				t.Errorf("Varies() = %v, want %v", c.Varies(), tt.varies)
			}
			if c.Identity() == nil || !bytes.Equal(c.Identity(), tt.data) {
				t.Errorf("Identity() = %q, want %q", c.Identity(), tt.data)
			}
		})
	}
}

func TestNewCopies(t *testing.T) {
	t.Parallel()
	data := text(1000)
	c := New(data, "txt")
	etag := c.ETag
	data[0] = 'X'
	if c.Identity()[0] == 'X' {
		t.Fatal("New kept the caller's slice")
	}
	if New(data, "txt").ETag == etag {
		t.Fatal("ETag did not change with the data")
	}
}

func TestETag(t *testing.T) {
	t.Parallel()
	data := text(1000)
	c := New(data, "txt")
	sum := sha256.Sum256(data)
	want := `"` + base64.RawURLEncoding.EncodeToString(sum[:]) + `"`
	if c.ETag != want {
		t.Errorf("ETag = %s, want %s", c.ETag, want)
	}
	if !strings.HasPrefix(c.ETag, `"`) || !strings.HasSuffix(c.ETag, `"`) || len(c.ETag) != 45 {
		t.Errorf("ETag %s is not a quoted strong tag", c.ETag)
	}
	for _, b := range []byte(c.ETag[1 : len(c.ETag)-1]) {
		// etagc = %x21 / %x23-7E: no quote, no space, no comma would be ideal.
		if b <= 0x20 || b == '"' || b == ',' || b >= 0x7f {
			t.Errorf("ETag %s holds %q", c.ETag, b)
		}
	}
	if again := New(bytes.Clone(data), "text/css"); again.ETag != c.ETag {
		t.Errorf("ETag not stable: %s then %s", c.ETag, again.ETag)
	}
	if dev := newContent(bytes.Clone(data), "text/plain", false); dev.ETag != c.ETag {
		t.Errorf("Dir and Set ETags differ: %s, %s", dev.ETag, c.ETag)
	}
}

func TestNotModified(t *testing.T) {
	t.Parallel()
	c := New(text(1000), "txt")
	e := c.ETag
	tests := []struct {
		header string
		want   bool
	}{
		{"", false},
		{" ", false},
		{",", false},
		{e, true},
		{" " + e + " ", true},
		{"W/" + e, true},
		{"*", true},
		{" * ", true},
		{`"x", ` + e, true},
		{`"x",` + e, true},
		{`"x", W/` + e + `, "y"`, true},
		{e + ",", true},
		{`,, "x" ,` + e, true},
		{`"a,b", ` + e, true},
		{`"x"`, false},
		{`W/"x"`, false},
		{`"x", "y"`, false},
		{e[:len(e)-1], false},
		{e[1 : len(e)-1], false},
		{`"` + e, false},
		{"w/" + e, false},
		{"W/ " + e, false},
		{`*, "x"`, false},
		{"*, " + e, false},
		{`"x" junk, ` + e, false},
		{`"x"` + e, false},
		{"**", false},
		{`""`, false},
		{strings.ToLower(e), strings.ToLower(e) == e},
	}
	for _, tt := range tests {
		if got := c.NotModified([]byte(tt.header)); got != tt.want {
			t.Errorf("NotModified(%q) = %v, want %v", tt.header, got, tt.want)
		}
	}
	if c.NotModified(nil) {
		t.Error("NotModified(nil) = true")
	}
}

func TestParseQ(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want int
		ok   bool
	}{
		{"0", 0, true}, {"0.", 0, true}, {"0.5", 500, true}, {"0.05", 50, true},
		{"0.005", 5, true}, {"0.123", 123, true}, {"0.999", 999, true},
		{"1", 1000, true}, {"1.", 1000, true}, {"1.0", 1000, true}, {"1.000", 1000, true},
		{"", 0, false}, {".5", 0, false}, {"0.1234", 0, false}, {"1.1", 0, false},
		{"2", 0, false}, {"01", 0, false}, {"0,5", 0, false}, {"0.a", 0, false},
		{"1.0000", 0, false}, {"-0", 0, false}, {" 1", 0, false},
	}
	for _, tt := range tests {
		got, ok := parseQ([]byte(tt.in))
		if got != tt.want || ok != tt.ok {
			t.Errorf("parseQ(%q) = %d, %v; want %d, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestTypeByExtension(t *testing.T) {
	t.Parallel()
	tests := map[string]string{
		"html":  "text/html; charset=utf-8",
		".html": "text/html; charset=utf-8",
		"HTM":   "text/html; charset=utf-8",
		"css":   "text/css; charset=utf-8",
		"js":    "text/javascript; charset=utf-8",
		".mjs":  "text/javascript; charset=utf-8",
		"json":  "application/json; charset=utf-8",
		"map":   "application/json; charset=utf-8",
		"svg":   "image/svg+xml; charset=utf-8",
		"xml":   "application/xml; charset=utf-8",
		"txt":   "text/plain; charset=utf-8",
		"md":    "text/markdown; charset=utf-8",
		"csv":   "text/csv; charset=utf-8",
		"png":   "image/png",
		"JPG":   "image/jpeg",
		"jpeg":  "image/jpeg",
		"gif":   "image/gif",
		"webp":  "image/webp",
		"avif":  "image/avif",
		"ico":   "image/vnd.microsoft.icon",
		"wasm":  "application/wasm",
		"woff":  "font/woff",
		"woff2": "font/woff2",
		"ttf":   "font/ttf",
		"otf":   "font/otf",
		"pdf":   "application/pdf",
		"zip":   "application/zip",
		"gz":    "application/gzip",
		"mp4":   "video/mp4",
		"webm":  "video/webm",
		"mp3":   "audio/mpeg",
		"ogg":   "audio/ogg",
		"wav":   "audio/wav",
		"":      "application/octet-stream",
		".":     "application/octet-stream",
		"nope?": "application/octet-stream",
	}
	for ext, want := range tests {
		if got := TypeByExtension(ext); got != want {
			t.Errorf("TypeByExtension(%q) = %q, want %q", ext, got, want)
		}
	}
}

func TestLargeBrotli(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("slow")
	}
	c := New(text(brotliMaxBest+1), "txt")
	if c.br == nil {
		t.Fatal("no brotli variant for a large body")
	}
	if out := decompress(t, "br", c.br); !bytes.Equal(out, c.Identity()) {
		t.Fatal("large brotli variant does not decompress to identity")
	}
}

// The allocation tests do not call t.Parallel: testing.AllocsPerRun counts
// every allocation of the process.

func TestNegotiateAllocs(t *testing.T) {
	headers := [][]byte{
		nil,
		[]byte("gzip, deflate, br, zstd"),
		[]byte("br;q=0.5, GZIP;q=0.9, *;q=0, identity;q=0.001"),
		[]byte("bogus;;;, q=, x-gzip;level=1;q=1"),
	}
	for _, h := range headers {
		if n := testing.AllocsPerRun(100, func() { fullContent.Negotiate(h) }); n != 0 {
			t.Errorf("Negotiate(%q): %v allocs, want 0", h, n)
		}
	}
}

func TestNotModifiedAllocs(t *testing.T) {
	headers := [][]byte{
		nil,
		[]byte("*"),
		[]byte(fullContent.ETag),
		[]byte(`"a", W/"b", ` + fullContent.ETag),
		[]byte(`"a", W/"b"`),
	}
	for _, h := range headers {
		if n := testing.AllocsPerRun(100, func() { fullContent.NotModified(h) }); n != 0 {
			t.Errorf("NotModified(%q): %v allocs, want 0", h, n)
		}
	}
}

func BenchmarkNegotiate(b *testing.B) {
	for _, h := range []string{"", "gzip, deflate, br, zstd", "br;q=0.5, gzip;q=0.9, *;q=0"} {
		b.Run(h, func(b *testing.B) {
			hb := []byte(h)
			b.ReportAllocs()
			for b.Loop() {
				fullContent.Negotiate(hb)
			}
		})
	}
}

func BenchmarkNotModified(b *testing.B) {
	h := []byte(`"abc", W/` + fullContent.ETag)
	b.ReportAllocs()
	for b.Loop() {
		fullContent.NotModified(h)
	}
}
