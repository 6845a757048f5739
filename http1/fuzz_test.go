package http1

import (
	"bytes"
	"io"
	"net/http/httputil"
	"testing"
	"unsafe"
)

// within reports whether s is nil or lies inside b.
func within(b, s []byte) bool {
	if s == nil {
		return true
	}
	bp := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	sp := uintptr(unsafe.Pointer(unsafe.SliceData(s)))
	return sp >= bp && sp+uintptr(len(s)) <= bp+uintptr(len(b))
}

var fuzzParsers = []*Parser{
	NewParser(Limits{}, testDeclared),
	NewParser(Limits{MaxRequestLine: 40, MaxHeaderBytes: 96, MaxHeaders: 5}, []string{"X", "Cookie"}),
}

func FuzzParse(f *testing.F) {
	for _, c := range acceptCases {
		f.Add([]byte(c.in))
	}
	for _, c := range rejectCases {
		f.Add([]byte(c.in))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		for pi, p := range fuzzParsers {
			checkParseInvariants(t, p, b)
			if pi == 0 {
				checkNetHTTP(t, b)
			}
		}
	})
}

func checkParseInvariants(t *testing.T, p *Parser, b []byte) {
	var r Request
	n, err := p.Parse(b, &r)
	if n < 0 || n > len(b) {
		t.Fatalf("n = %d for %d bytes", n, len(b))
	}
	if err != nil {
		e, ok := err.(*Error)
		if !ok {
			t.Fatalf("error %T %v is not *Error", err, err)
		}
		switch e.Status {
		case 400, 414, 417, 431, 501, 505:
		default:
			t.Fatalf("unexpected status %d", e.Status)
		}
		if n != 0 {
			t.Fatalf("n = %d with error %v", n, err)
		}
	}
	lim := p.Limits()
	if n == 0 && err == nil && len(b) > lim.MaxRequestLine+2+lim.MaxHeaderBytes {
		t.Fatalf("incomplete after %d bytes, over the limits %+v", len(b), lim)
	}
	if n > 0 {
		head := b[:n]
		if len(r.Target) == 0 || r.Target[0] != '/' {
			t.Fatalf("target %q", r.Target)
		}
		for _, s := range [][]byte{r.MethodName, r.Target, r.Path, r.Query, r.Host, r.Upgrade} {
			if !within(head, s) {
				t.Fatalf("slice %q is outside the head", s)
			}
		}
		for _, s := range r.Values {
			if !within(head, s) {
				t.Fatalf("value %q is outside the head", s)
			}
		}
		if r.Method == MethodUnknown || r.Method.String() != string(r.MethodName) {
			t.Fatalf("method %v / %q", r.Method, r.MethodName)
		}
		if r.Minor != 0 && r.Minor != 1 || r.Minor == 1 && r.Host == nil {
			t.Fatalf("minor %d, host %q", r.Minor, r.Host)
		}
		if r.Chunked && r.ContentLength != -1 {
			t.Fatalf("chunked with Content-Length %d", r.ContentLength)
		}
		q := ""
		if r.Query != nil {
			q = "?" + string(r.Query)
		}
		if string(r.Path)+q != string(r.Target) || bytes.IndexByte(r.Path, '?') >= 0 {
			t.Fatalf("path %q query %q target %q", r.Path, r.Query, r.Target)
		}
		if r.NumHeaders > lim.MaxHeaders {
			t.Fatalf("%d headers", r.NumHeaders)
		}
		// What follows the head does not matter.
		var r2 Request
		ext := append(head[:n:n], "GARBAGE\x00\r\n"...)
		if n2, err2 := p.Parse(ext, &r2); n2 != n || err2 != nil {
			t.Fatalf("with bytes after the head: %d, %v; want %d, nil", n2, err2, n)
		}
	}
	// Every prefix is incomplete or fails the same way, or holds the same
	// complete head.
	step := 1
	if len(b) > 512 {
		step = len(b)/256 + 1
	}
	var r3 Request
	for k := 0; k < len(b); k += step {
		n3, err3 := p.Parse(b[:k:k], &r3)
		if n > 0 && k >= n {
			if n3 != n || err3 != nil {
				t.Fatalf("prefix of %d bytes: %d, %v; want %d, nil", k, n3, err3, n)
			}
			continue
		}
		if n3 != 0 || err3 != nil && err3 != err {
			t.Fatalf("prefix of %d bytes: %d, %v; whole input: %d, %v", k, n3, err3, n, err)
		}
	}
}

func FuzzChunked(f *testing.F) {
	for _, c := range chunkCases {
		f.Add([]byte(c.in))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		whole := decodeChunked(t, in)
		if whole.err != nil {
			if e, ok := whole.err.(*Error); !ok || e.Status != 400 {
				t.Fatalf("error %v", whole.err)
			}
		}
		if whole.consumed > len(in) || len(whole.data) > len(in) {
			t.Fatalf("consumed %d, decoded %d of %d bytes", whole.consumed, len(whole.data), len(in))
		}
		for _, cuts := range [][]int{{len(in) / 2}, {len(in) / 3, 2 * len(in) / 3}} {
			if got := decodeChunked(t, in, cuts...); got != whole {
				t.Fatalf("cuts %v: %+v, want %+v", cuts, got, whole)
			}
		}
		if len(in) <= 1024 {
			bytewise := make([]int, len(in))
			for k := range bytewise {
				bytewise[k] = k
			}
			if got := decodeChunked(t, in, bytewise...); got != whole {
				t.Fatalf("byte by byte: %+v, want %+v", got, whole)
			}
		}
		// net/http's decoder is more lenient except for BWS in the size
		// line, which RFC 9112 allows and it refuses: what we accept, it
		// must decode the same.
		if whole.done && len(in) < 4000 && !bytes.ContainsAny(in, " \t") {
			got, err := io.ReadAll(httputil.NewChunkedReader(bytes.NewReader(in[:whole.consumed])))
			if err != nil || string(got) != whole.data {
				t.Fatalf("net/http: %q, %v; we: %q", got, err, whole.data)
			}
		}
	})
}

// TestParseNetHTTPAgrees runs the differential check over requests built
// from a few parts, as a deterministic complement to FuzzParse.
func TestParseNetHTTPAgrees(t *testing.T) {
	t.Parallel()
	methods := []string{"GET", "HEAD", "POST", "OPTIONS"}
	targets := []string{"/", "/a/b?c=d", "/%20?%41", "/a?b?c", "/;x", "/a#f"}
	hosts := []string{"h", "h:1", "[::1]:8", "", "xn--d.example"}
	for _, m := range methods {
		for _, tg := range targets {
			for _, h := range hosts {
				b := []byte(m + " " + tg + " HTTP/1.1\r\nHost: " + h + "\r\nConnection: close\r\n\r\n")
				checkNetHTTP(t, b)
				checkParseInvariants(t, fuzzParsers[0], b)
			}
		}
	}
}
