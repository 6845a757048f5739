package static

import (
	"errors"
	"strings"
)

// Source is a place to look static content up by request path. [Set] and
// [Dir] implement it.
type Source interface {
	// Lookup returns the Content for urlPath, the raw request path: it
	// starts with '/', may hold %XX escapes and has no query. A path that
	// ends in '/' names the directory's index.html.
	//
	// It returns an error wrapping [ErrBadPath] when urlPath is malformed or
	// tries to leave the content's root (test with errors.Is), and
	// [ErrNotFound] when no file has that path. Other errors are I/O errors.
	Lookup(urlPath string) (*Content, error)
}

// Errors returned by Lookup.
var (
	// ErrNotFound means that no file has the requested path (404).
	ErrNotFound = errors.New("static: not found")

	// ErrBadPath means that the requested path is malformed or tries to
	// escape the root (400). Lookup returns errors that wrap it.
	ErrBadPath = errors.New("static: bad path")
)

// indexFile is the file served for a path that ends in '/'.
const indexFile = "index.html"

// badPathError is the error Lookup returns for a rejected path.
type badPathError struct {
	path   string // as requested
	reason string
	err    error // optional cause
}

func (e *badPathError) Error() string {
	s := ErrBadPath.Error() + " " + quote(e.path) + ": " + e.reason
	if e.err != nil {
		s += ": " + e.err.Error()
	}
	return s
}

// Is makes errors.Is(err, ErrBadPath) true.
func (e *badPathError) Is(target error) bool { return target == ErrBadPath }

func (e *badPathError) Unwrap() error { return e.err }

// quote quotes a request path for an error message, bounded in length since
// the path comes from the client.
func quote(p string) string {
	const limit = 256
	var b strings.Builder
	b.WriteByte('"')
	for i := range len(p) {
		if i == limit {
			b.WriteString("...")
			break
		}
		c := p[i]
		switch {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c < 0x20 || c >= 0x7f:
			const hex = "0123456789abcdef"
			b.WriteString(`\x`)
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&15])
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// cleanPath validates urlPath and returns it with its escapes decoded. The
// result starts with '/', has no empty (except a last one), "." or ".."
// segments, and holds no NUL, control character or backslash.
func cleanPath(urlPath string) (string, error) {
	p := urlPath
	if strings.IndexByte(p, '%') >= 0 {
		var err error
		if p, err = unescape(p); err != nil {
			return "", &badPathError{path: urlPath, reason: err.Error()}
		}
	}
	if reason := checkPath(p); reason != "" {
		return "", &badPathError{path: urlPath, reason: reason}
	}
	return p, nil
}

// unescape decodes the %XX escapes of a request path. An encoded slash
// (%2F) is an error: it would turn one path segment into two.
func unescape(s string) (string, error) {
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			b = append(b, s[i])
			continue
		}
		if i+2 >= len(s) {
			return "", errors.New("truncated escape")
		}
		hi, ok1 := unhex(s[i+1])
		lo, ok2 := unhex(s[i+2])
		if !ok1 || !ok2 {
			return "", errors.New("invalid escape")
		}
		c := hi<<4 | lo
		if c == '/' {
			return "", errors.New("encoded slash")
		}
		b = append(b, c)
		i += 2
	}
	return string(b), nil
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// checkPath returns why the decoded path p cannot name a file, or "".
func checkPath(p string) string {
	if p == "" || p[0] != '/' {
		return "not absolute"
	}
	for rest := p[1:]; rest != ""; {
		seg := rest
		slash := strings.IndexByte(rest, '/')
		if slash >= 0 {
			seg, rest = rest[:slash], rest[slash+1:]
		} else {
			rest = ""
		}
		switch seg {
		case "":
			return "empty segment" // a last empty segment ends the loop first
		case ".", "..":
			return "dot segment"
		}
		for i := range len(seg) {
			if badByte[seg[i]] {
				return checkByte(seg[i])
			}
		}
	}
	return ""
}

// badByte[c] is checkByte(c) != "".
var badByte = func() (t [256]bool) {
	for c := range t {
		t[c] = checkByte(byte(c)) != ""
	}
	return t
}()

// checkByte returns why c cannot be part of a file name, or "".
func checkByte(c byte) string {
	switch {
	case c == 0:
		return "NUL"
	case c == '\\':
		return "backslash"
	case c < 0x20 || c == 0x7f:
		return "control character"
	}
	return ""
}

// fileName turns a path from cleanPath into a slash-separated name relative
// to the root, the form io/fs and os.Root use: "/a/b.js" -> "a/b.js",
// "/" -> "index.html", "/dir/" -> "dir/index.html".
func fileName(p string) string {
	name := p[1:]
	if name == "" || name[len(name)-1] == '/' {
		name += indexFile
	}
	return name
}
