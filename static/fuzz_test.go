package static

import (
	"bytes"
	"errors"
	"io/fs"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// Seeds live in testdata/fuzz/<FuzzName>/. Run with, for example:
//
//	go test -run '^$' -fuzz '^FuzzNegotiate$' -fuzztime 45s ./static/

// FuzzNegotiate checks Negotiate, whose input comes from clients, against
// a plain reimplementation of its documented rules, on contents with all
// variants, gzip only, and none.
func FuzzNegotiate(f *testing.F) {
	f.Add([]byte("gzip, deflate, br, zstd"))
	f.Fuzz(func(t *testing.T, h []byte) {
		for _, c := range []*Content{fullContent, gzipContent, tinyContent} {
			body, enc := c.Negotiate(h)
			if want := refNegotiate(c, string(h)); enc != want {
				t.Fatalf("Negotiate(%q) = %q, reference says %q", h, enc, want)
			}
			if !bytes.Equal(body, c.variant(enc)) {
				t.Fatalf("Negotiate(%q): body is not the %q variant", h, enc)
			}
		}
	})
}

var qvalueRE = regexp.MustCompile(`^(0(\.[0-9]{0,3})?|1(\.0{0,3})?)$`)

// refNegotiate is Negotiate written for clarity rather than speed.
func refNegotiate(c *Content, h string) string {
	isToken := func(s string) bool {
		return s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'*+-.^_`|~") == ""
	}
	weights := map[string]int{}
elems:
	for _, elem := range strings.Split(h, ",") {
		parts := strings.Split(strings.Trim(elem, " \t"), ";")
		name := strings.Trim(parts[0], " \t")
		if !isToken(name) {
			continue
		}
		q := 1000
		for _, p := range parts[1:] {
			k, v, ok := strings.Cut(strings.Trim(p, " \t"), "=")
			if !ok || !isToken(k) {
				continue elems
			}
			if k == "q" || k == "Q" {
				if !qvalueRE.MatchString(v) {
					continue elems
				}
				fq, _ := strconv.ParseFloat(strings.TrimSuffix(v, "."), 64)
				q = int(fq*1000 + 0.5)
			}
		}
		name = strings.ToLower(name)
		if name == "x-gzip" {
			name = "gzip"
		}
		if old, ok := weights[name]; !ok || q > old {
			weights[name] = q
		}
	}
	weight := func(name string) int {
		if q, ok := weights[name]; ok {
			return q
		}
		if q, ok := weights["*"]; ok {
			return q
		}
		if name == "identity" {
			return 1
		}
		return 0
	}
	best, bestQ := "", 0
	for _, enc := range []string{"br", "gzip", "deflate", "identity"} {
		if enc != "identity" && c.variant(enc) == nil {
			continue
		}
		if q := weight(enc); q > bestQ {
			best, bestQ = enc, q
		}
	}
	if best == "identity" {
		best = ""
	}
	return best
}

// FuzzLookupPath checks that Set.Lookup never panics, never returns a file
// from outside the Set's root, and agrees with a reference built on
// net/url.
func FuzzLookupPath(f *testing.F) {
	f.Add("/a/b.txt")
	fsys := mapFS()
	sub, err := fs.Sub(fsys, "site")
	if err != nil {
		f.Fatal(err)
	}
	s, err := FromFS(sub)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, p string) {
		c, err := s.Lookup(p)
		name, refErr := refLookup(p)
		switch {
		case err == nil:
			if c == nil {
				t.Fatalf("Lookup(%q) = nil, nil", p)
			}
			if bytes.Contains(c.Identity(), []byte("SECRET")) {
				t.Fatalf("Lookup(%q) returned a file outside the root", p)
			}
			data, rerr := fs.ReadFile(sub, name)
			if refErr != nil || rerr != nil || !bytes.Equal(data, c.Identity()) {
				t.Fatalf("Lookup(%q) found a file; reference: %q, %v", p, name, refErr)
			}
		case errors.Is(err, ErrBadPath):
			if !errors.Is(refErr, ErrBadPath) {
				t.Fatalf("Lookup(%q) = %v; reference: %q, %v", p, err, name, refErr)
			}
		case err == ErrNotFound:
			if refErr != nil {
				t.Fatalf("Lookup(%q) = %v; reference: %v", p, err, refErr)
			}
			if fi, err := fs.Stat(sub, name); err == nil && fi.Mode().IsRegular() {
				t.Fatalf("Lookup(%q) = ErrNotFound, but %s exists", p, name)
			}
		default:
			t.Fatalf("Lookup(%q): unexpected error %v", p, err)
		}
		// Dir.Lookup starts with cleanPath: it must reject the same paths.
		if _, cerr := cleanPath(p); errors.Is(cerr, ErrBadPath) != errors.Is(err, ErrBadPath) {
			t.Fatalf("Lookup(%q) = %v, but cleanPath says %v", p, err, cerr)
		}
	})
}

// refLookup is the file name Lookup should look for, or an error wrapping
// ErrBadPath.
func refLookup(p string) (string, error) {
	bad := errors.New("bad")
	if !strings.HasPrefix(p, "/") {
		return "", errors.Join(ErrBadPath, bad)
	}
	segs := strings.Split(p[1:], "/")
	for i, seg := range segs {
		d, err := url.PathUnescape(seg)
		if err != nil || strings.Contains(d, "/") || d == "." || d == ".." ||
			(d == "" && i < len(segs)-1) || strings.ContainsFunc(d, func(r rune) bool {
			return r < 0x20 || r == 0x7f || r == '\\'
		}) {
			return "", errors.Join(ErrBadPath, bad)
		}
		segs[i] = d
	}
	name := strings.Join(segs, "/")
	if name == "" || strings.HasSuffix(name, "/") {
		name += "index.html"
	}
	return name, nil
}
