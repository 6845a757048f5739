package static

import (
	"bytes"
	"compress/gzip"
	"compress/zlib"
	"crypto/sha256"
	"encoding/base64"
	"math/bits"
	"net/http"
	"strings"

	"github.com/andybalholm/brotli"
)

// Content is an immutable static response body with its precompressed
// variants. Build one with [New], [FromFS] or [Dir.Lookup]; the zero Content
// is an empty body with no type and no ETag.
//
// A Content is safe for concurrent use. Its methods must not be called on a
// nil *Content.
type Content struct {
	// Type is the MIME type sent as Content-Type,
	// e.g. "text/html; charset=utf-8".
	Type string

	// ETag is the strong entity tag, quoted:
	// `"` + base64.RawURLEncoding(sha256(identity)) + `"`.
	// It depends only on the identity bytes, so it is stable across
	// restarts and machines.
	ETag string

	identity []byte
	gzip     []byte // nil when absent
	deflate  []byte // zlib format (RFC 9110 "deflate"); nil when absent
	br       []byte // nil when absent
}

// Compression settings.
const (
	// minCompressSize is the smallest body that gets compressed variants:
	// below it the headers cost more than the bytes saved.
	minCompressSize = 256

	// brotliMaxBest is the largest body compressed with brotli quality 11.
	// Quality 11 costs about 1 s per MiB; larger bodies use brotliLarge.
	brotliMaxBest = 1 << 20
	brotliLarge   = 9
)

// New returns the Content for data.
//
// typ is a MIME type ("text/html", used verbatim), a file extension with or
// without its dot ("html", ".js", looked up with [TypeByExtension]), or ""
// to detect the type from data with [net/http.DetectContentType].
//
// New copies data, so the caller may reuse it. It compresses data once, with
// gzip (level 9), deflate (zlib, level 9) and brotli (quality 11 up to 1 MiB,
// 9 above), and keeps a variant only if it is smaller than data. Bodies under
// 256 bytes and types that are already compressed (PNG, JPEG, WebP, WOFF2,
// zip, gzip, video, ...) keep only their identity bytes. nil data is an empty
// body.
func New(data []byte, typ string) *Content {
	return newContent(bytes.Clone(data), resolveType(typ, data), true)
}

// resolveType implements New's typ argument.
func resolveType(typ string, data []byte) string {
	switch {
	case typ == "":
		return http.DetectContentType(data)
	case strings.IndexByte(typ, '/') >= 0:
		return typ
	default:
		return TypeByExtension(typ)
	}
}

// newContent builds a Content that owns data. With all set it computes every
// variant (gzip, deflate, brotli); otherwise only gzip, at default level,
// and none above StreamThreshold (the per-request Dir mode).
func newContent(data []byte, typ string, all bool) *Content {
	if data == nil {
		data = []byte{}
	}
	sum := sha256.Sum256(data)
	c := &Content{
		Type:     typ,
		ETag:     `"` + base64.RawURLEncoding.EncodeToString(sum[:]) + `"`,
		identity: data,
	}
	if len(data) < minCompressSize || !compressible(typ) {
		return c
	}
	if !all {
		if len(data) > StreamThreshold {
			return c
		}
		c.gzip = smaller(data, compressGzip(data, gzip.DefaultCompression))
		return c
	}
	c.gzip = smaller(data, compressGzip(data, gzip.BestCompression))
	c.deflate = smaller(data, compressZlib(data))
	c.br = smaller(data, compressBrotli(data))
	return c
}

// smaller returns z if it is shorter than data, else nil.
func smaller(data, z []byte) []byte {
	if len(z) >= len(data) {
		return nil
	}
	return z
}

// The writers below write into a bytes.Buffer, which cannot fail, so their
// errors are not checked.

func compressGzip(data []byte, level int) []byte {
	var b bytes.Buffer
	w, _ := gzip.NewWriterLevel(&b, level)
	w.Write(data)
	w.Close()
	return bytes.Clone(b.Bytes())
}

func compressZlib(data []byte) []byte {
	var b bytes.Buffer
	w, _ := zlib.NewWriterLevel(&b, zlib.BestCompression)
	w.Write(data)
	w.Close()
	return bytes.Clone(b.Bytes())
}

func compressBrotli(data []byte) []byte {
	q := brotli.BestCompression
	if len(data) > brotliMaxBest {
		q = brotliLarge
	}
	// A window just big enough for data (as the C encoder's size hint does)
	// saves tens of megabytes of encoder state on small bodies.
	lgwin := min(max(bits.Len(uint(len(data)-1)), 10), 24)
	var b bytes.Buffer
	w := brotli.NewWriterOptions(&b, brotli.WriterOptions{Quality: q, LGWin: lgwin})
	w.Write(data)
	w.Close()
	return bytes.Clone(b.Bytes())
}

// Identity returns the uncompressed body. It is shared: the caller must not
// modify it. It is nil only for the zero Content.
func (c *Content) Identity() []byte { return c.identity }

// Varies reports whether c has a compressed variant, so that the body sent
// depends on Accept-Encoding. The caller then sends "Vary: Accept-Encoding"
// (on 200 and on 304 responses alike).
func (c *Content) Varies() bool {
	return c.gzip != nil || c.deflate != nil || c.br != nil
}

// NotModified reports whether the If-None-Match header value ifNoneMatch
// matches c, in which case the caller answers 304 Not Modified
// (RFC 9110 section 13.1.2).
//
// It matches "*" and any comma-separated list of entity-tags holding c.ETag,
// using the weak comparison that If-None-Match requires (W/"x" matches "x").
// Empty or nil ifNoneMatch (no header) never matches; a malformed list
// matches only if c.ETag appears before the first malformed element. It does
// not allocate.
func (c *Content) NotModified(ifNoneMatch []byte) bool {
	return matchETag(c.ETag, ifNoneMatch)
}

// matchETag implements NotModified for the entity-tag etag (strong or
// weak: compared by its opaque part, the weak comparison).
func matchETag(etag string, ifNoneMatch []byte) bool {
	if len(etag) >= 2 && etag[0] == 'W' && etag[1] == '/' {
		etag = etag[2:]
	}
	h := trimOWS(ifNoneMatch)
	if len(h) == 1 && h[0] == '*' {
		return true
	}
	for {
		// Skip list separators and the whitespace around them.
		for len(h) > 0 && (h[0] == ',' || h[0] == ' ' || h[0] == '\t') {
			h = h[1:]
		}
		if len(h) == 0 {
			return false
		}
		if len(h) >= 2 && h[0] == 'W' && h[1] == '/' {
			h = h[2:]
		}
		if len(h) == 0 || h[0] != '"' {
			return false
		}
		end := bytes.IndexByte(h[1:], '"')
		if end < 0 {
			return false
		}
		tag := h[:end+2] // with both quotes, like c.ETag
		if string(tag) == etag {
			return true
		}
		h = h[end+2:]
		// Only whitespace may separate the tag from the next comma.
		h = trimLeftOWS(h)
		if len(h) > 0 && h[0] != ',' {
			return false
		}
	}
}

// Encoding names returned by Negotiate.
const (
	encBrotli  = "br"
	encGzip    = "gzip"
	encDeflate = "deflate"
)

// Indexes into the q-value table of Negotiate, in tie-break order.
const (
	codBrotli = iota
	codGzip
	codDeflate
	codIdentity
	codAny // "*"
	codCount
)

// Negotiate picks the body to send for the Accept-Encoding header value
// acceptEncoding and returns it with its content coding: "br", "gzip",
// "deflate", or "" for the identity body (send no Content-Encoding).
// The body is shared: the caller must not modify it. Negotiate does not
// allocate.
//
// The header is parsed as RFC 9110 section 12.5.3 says: a comma-separated
// list of codings, compared case-insensitively ("x-gzip" counts as "gzip"),
// each with an optional weight ";q=" from 0 to 1 with up to three decimals.
// q=0 means "not acceptable". An element that is malformed (an invalid
// q-value, a bad token) is ignored; unknown codings are ignored. "*" sets the
// weight of every coding not listed. When a coding is listed more than once,
// its highest weight counts.
//
// Among the variants c has, Negotiate returns the acceptable one with the
// highest weight; ties go to br, then gzip, then deflate, then identity.
// Identity is acceptable unless refused with "identity;q=0", or "*;q=0"
// without an identity entry; when it is not listed, it ranks below every
// compressed coding the client accepts.
//
// Empty or nil acceptEncoding (no header, or an empty one) gets identity:
// RFC 9110 allows any coding when the header is absent, but clients that
// send no Accept-Encoding rarely decode one. When nothing acceptable is
// available, including when identity is refused, Negotiate still returns
// identity: serving the plain body is more useful than 406 Not Acceptable,
// which RFC 9110 permits but does not require.
func (c *Content) Negotiate(acceptEncoding []byte) (body []byte, encoding string) {
	var q [codCount]int // weights in thousandths; -1 means "not listed"
	for i := range q {
		q[i] = -1
	}
	h := acceptEncoding
	for len(h) > 0 {
		var elem []byte
		if i := bytes.IndexByte(h, ','); i >= 0 {
			elem, h = h[:i], h[i+1:]
		} else {
			elem, h = h, nil
		}
		cod, w, ok := parseCoding(elem)
		if ok && w > q[cod] {
			q[cod] = w
		}
	}
	// Fill in the weights of codings that were not listed.
	for i := range codAny {
		if q[i] >= 0 {
			continue
		}
		switch {
		case q[codAny] >= 0:
			q[i] = q[codAny]
		case i == codIdentity:
			q[i] = 1 // acceptable, ranked below any listed coding
		default:
			q[i] = 0
		}
	}

	body, encoding = c.identity, ""
	best := 0
	if c.br != nil && q[codBrotli] > best {
		body, encoding, best = c.br, encBrotli, q[codBrotli]
	}
	if c.gzip != nil && q[codGzip] > best {
		body, encoding, best = c.gzip, encGzip, q[codGzip]
	}
	if c.deflate != nil && q[codDeflate] > best {
		body, encoding, best = c.deflate, encDeflate, q[codDeflate]
	}
	if q[codIdentity] > best {
		body, encoding = c.identity, ""
	}
	return body, encoding
}

// parseCoding parses one Accept-Encoding list element:
//
//	OWS coding OWS *( ";" OWS name "=" value OWS )
//
// It returns the coding's index (codCount for an unknown coding) and its
// weight in thousandths. ok is false for an empty or malformed element.
// Parameters other than q are ignored.
func parseCoding(elem []byte) (cod, weight int, ok bool) {
	elem = trimOWS(elem)
	n := tokenLen(elem)
	if n == 0 {
		return 0, 0, false
	}
	name, rest := elem[:n], elem[n:]
	weight = 1000
	for {
		rest = trimLeftOWS(rest)
		if len(rest) == 0 {
			break
		}
		if rest[0] != ';' {
			return 0, 0, false
		}
		rest = trimLeftOWS(rest[1:])
		param := rest
		if i := bytes.IndexByte(rest, ';'); i >= 0 {
			param, rest = rest[:i], rest[i:]
		} else {
			rest = nil
		}
		param = trimOWS(param)
		k := tokenLen(param)
		if k == 0 || k == len(param) || param[k] != '=' {
			return 0, 0, false
		}
		if k == 1 && (param[0] == 'q' || param[0] == 'Q') {
			if weight, ok = parseQ(param[2:]); !ok {
				return 0, 0, false
			}
		}
	}
	switch {
	case equalFold(name, "br"):
		cod = codBrotli
	case equalFold(name, "gzip"), equalFold(name, "x-gzip"):
		cod = codGzip
	case equalFold(name, "deflate"):
		cod = codDeflate
	case equalFold(name, "identity"):
		cod = codIdentity
	case len(name) == 1 && name[0] == '*':
		cod = codAny
	default:
		return 0, 0, false // unknown coding: irrelevant
	}
	return cod, weight, true
}

// parseQ parses an RFC 9110 qvalue into thousandths:
//
//	qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )
func parseQ(b []byte) (int, bool) {
	if len(b) == 0 || len(b) > 5 || (len(b) > 1 && b[1] != '.') {
		return 0, false
	}
	switch b[0] {
	case '0':
		q, mul := 0, 100
		for _, d := range b[min(2, len(b)):] {
			if d < '0' || d > '9' {
				return 0, false
			}
			q += int(d-'0') * mul
			mul /= 10
		}
		return q, true
	case '1':
		for _, d := range b[min(2, len(b)):] {
			if d != '0' {
				return 0, false
			}
		}
		return 1000, true
	}
	return 0, false
}

// tokenLen returns the length of the RFC 9110 token at the start of b.
func tokenLen(b []byte) int {
	for i, c := range b {
		if !isTchar(c) {
			return i
		}
	}
	return len(b)
}

// isTchar reports whether c is an RFC 9110 tchar.
func isTchar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

// equalFold reports whether b equals the lower-case ASCII string s, ignoring
// ASCII case.
func equalFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range len(b) {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != s[i] {
			return false
		}
	}
	return true
}

// trimOWS removes optional whitespace (SP and HTAB) from both ends of b.
func trimOWS(b []byte) []byte {
	b = trimLeftOWS(b)
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

// trimLeftOWS removes optional whitespace (SP and HTAB) from the start of b.
func trimLeftOWS(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	return b
}
