package http1

import (
	"bufio"
	"bytes"
	"fmt"
	"net/http"
	"strings"
	"testing"
)

var testDeclared = []string{"User-Agent", "Accept", "Cookie"}

// parseCase is one request head and the *Error Parse must give for it (nil:
// accepted). check, when set, inspects the parsed Request.
type parseCase struct {
	name  string
	in    string
	want  *Error
	check func(t *testing.T, r *Request)
}

func h11(headers string) string { return "GET / HTTP/1.1\r\nHost: a\r\n" + headers + "\r\n" }

var acceptCases = []parseCase{
	{name: "minimal", in: "GET / HTTP/1.1\r\nHost: example.com\r\n\r\n", check: func(t *testing.T, r *Request) {
		eq(t, "method", r.Method, MethodGET)
		eqs(t, "method name", r.MethodName, "GET")
		eqs(t, "target", r.Target, "/")
		eqs(t, "path", r.Path, "/")
		if r.Query != nil {
			t.Errorf("query = %q, want nil", r.Query)
		}
		eq(t, "minor", r.Minor, 1)
		eqs(t, "host", r.Host, "example.com")
		eq(t, "content length", r.ContentLength, int64(-1))
		eq(t, "chunked", r.Chunked, false)
		eq(t, "keep-alive", r.KeepAlive, true)
		eq(t, "expect100", r.Expect100, false)
		eq(t, "headers", r.NumHeaders, 1)
	}},
	{name: "query", in: "GET /a/b?x=1&y=?2 HTTP/1.1\r\nHost: a\r\n\r\n", check: func(t *testing.T, r *Request) {
		eqs(t, "path", r.Path, "/a/b")
		eqs(t, "query", r.Query, "x=1&y=?2")
	}},
	{name: "empty query", in: "GET /a? HTTP/1.1\r\nHost: a\r\n\r\n", check: func(t *testing.T, r *Request) {
		eqs(t, "path", r.Path, "/a")
		if r.Query == nil || len(r.Query) != 0 {
			t.Errorf("query = %q (nil %v), want empty non-nil", r.Query, r.Query == nil)
		}
	}},
	{name: "percent-encoding", in: "GET /%41%2f%aF?q=%20 HTTP/1.1\r\nHost: a\r\n\r\n", check: func(t *testing.T, r *Request) {
		eqs(t, "path", r.Path, "/%41%2f%aF")
	}},
	{name: "visible ASCII in target", in: "GET /!$&'()*+,;=:@-._~\"<>[]^`{|}\\# HTTP/1.1\r\nHost: a\r\n\r\n"},
	{name: "HTTP/1.0 without Host", in: "GET / HTTP/1.0\r\n\r\n", check: func(t *testing.T, r *Request) {
		eq(t, "minor", r.Minor, 0)
		eq(t, "keep-alive", r.KeepAlive, false)
		if r.Host != nil {
			t.Errorf("host = %q, want nil", r.Host)
		}
	}},
	{name: "HTTP/1.0 keep-alive", in: "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", check: func(t *testing.T, r *Request) {
		eq(t, "keep-alive", r.KeepAlive, true)
	}},
	{name: "HTTP/1.0 keep-alive and close", in: "GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n", check: func(t *testing.T, r *Request) {
		eq(t, "keep-alive", r.KeepAlive, false)
	}},
	{name: "HTTP/1.0 ignores Upgrade and 100-continue", in: "GET / HTTP/1.0\r\nConnection: upgrade\r\nUpgrade: websocket\r\nExpect: 100-continue\r\n\r\n", check: func(t *testing.T, r *Request) {
		if r.Upgrade != nil || r.Expect100 {
			t.Errorf("upgrade = %q, expect100 = %v; want nil, false", r.Upgrade, r.Expect100)
		}
	}},
	{name: "HTTP/1.2 is 1.1", in: "GET / HTTP/1.2\r\nHost: a\r\n\r\n", check: func(t *testing.T, r *Request) {
		eq(t, "minor", r.Minor, 1)
		eq(t, "keep-alive", r.KeepAlive, true)
	}},
	{name: "HTTP/1.9 needs Host", in: "GET / HTTP/1.9\r\nHost: a\r\n\r\n"},
	{name: "connection close", in: h11("Connection: close\r\n"), check: func(t *testing.T, r *Request) {
		eq(t, "keep-alive", r.KeepAlive, false)
	}},
	{name: "connection list", in: h11("Connection: foo, ,CLOSE\r\n"), check: func(t *testing.T, r *Request) {
		eq(t, "keep-alive", r.KeepAlive, false)
	}},
	{name: "connection in two headers", in: h11("Connection: keep-alive\r\nConnection: close\r\n"), check: func(t *testing.T, r *Request) {
		eq(t, "keep-alive", r.KeepAlive, false)
	}},
	{name: "websocket upgrade", in: h11("Upgrade: websocket\r\nConnection: keep-alive, Upgrade\r\n"), check: func(t *testing.T, r *Request) {
		eqs(t, "upgrade", r.Upgrade, "websocket")
		eq(t, "keep-alive", r.KeepAlive, true)
	}},
	{name: "upgrade without connection token", in: h11("Upgrade: websocket\r\nConnection: keep-alive\r\n"), check: func(t *testing.T, r *Request) {
		if r.Upgrade != nil {
			t.Errorf("upgrade = %q, want nil", r.Upgrade)
		}
	}},
	{name: "content-length", in: "POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 42\r\n\r\n", check: func(t *testing.T, r *Request) {
		eq(t, "method", r.Method, MethodPOST)
		eq(t, "content length", r.ContentLength, int64(42))
	}},
	{name: "content-length zero", in: h11("content-length: 0\r\n"), check: func(t *testing.T, r *Request) {
		eq(t, "content length", r.ContentLength, int64(0))
	}},
	{name: "content-length 18 digits", in: h11("Content-Length: 999999999999999999\r\n"), check: func(t *testing.T, r *Request) {
		eq(t, "content length", r.ContentLength, int64(999999999999999999))
	}},
	{name: "content-length leading zeros", in: h11("Content-Length: 007 \r\n"), check: func(t *testing.T, r *Request) {
		eq(t, "content length", r.ContentLength, int64(7))
	}},
	{name: "chunked", in: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", check: func(t *testing.T, r *Request) {
		eq(t, "chunked", r.Chunked, true)
		eq(t, "content length", r.ContentLength, int64(-1))
	}},
	{name: "chunked case and OWS", in: h11("transfer-encoding: \t ChUnKeD \t\r\n"), check: func(t *testing.T, r *Request) {
		eq(t, "chunked", r.Chunked, true)
	}},
	{name: "expect 100-continue", in: h11("Content-Length: 1\r\nExpect: 100-Continue\r\n"), check: func(t *testing.T, r *Request) {
		eq(t, "expect100", r.Expect100, true)
	}},
	{name: "declared headers", in: "GET / HTTP/1.1\r\nuser-agent: curl/8 \r\nHost: a\r\nACCEPT:*/*\r\nX-Other: 1\r\nAccept: second\r\n\r\n", check: func(t *testing.T, r *Request) {
		eqs(t, "user-agent", r.Values[0], "curl/8")
		eqs(t, "accept", r.Values[1], "*/*")
		if r.Values[2] != nil {
			t.Errorf("cookie = %q, want nil", r.Values[2])
		}
		eq(t, "headers", r.NumHeaders, 5)
	}},
	{name: "declared empty value", in: h11("Cookie:\r\n"), check: func(t *testing.T, r *Request) {
		if r.Values[2] == nil || len(r.Values[2]) != 0 {
			t.Errorf("cookie = %q (nil %v), want empty non-nil", r.Values[2], r.Values[2] == nil)
		}
	}},
	{name: "value with HTAB, inner spaces and obs-text", in: h11("Cookie: \ta b\tc\xff\x80 \t\r\n"), check: func(t *testing.T, r *Request) {
		eqs(t, "cookie", r.Values[2], "a b\tc\xff\x80")
	}},
	{name: "long value", in: h11("User-Agent: " + strings.Repeat("Mozilla/5.0 (X11; Linux x86_64) ", 20) + "\r\n"), check: func(t *testing.T, r *Request) {
		eqs(t, "user-agent", r.Values[0], strings.TrimSpace(strings.Repeat("Mozilla/5.0 (X11; Linux x86_64) ", 20)))
	}},
	{name: "leading empty lines", in: "\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"},
	{name: "host with port", in: "GET / HTTP/1.1\r\nHost: example.com:8080\r\n\r\n", check: func(t *testing.T, r *Request) {
		eqs(t, "host", r.Host, "example.com:8080")
	}},
	{name: "host IPv6", in: "GET / HTTP/1.1\r\nHost: [::1]:443\r\n\r\n", check: func(t *testing.T, r *Request) {
		eqs(t, "host", r.Host, "[::1]:443")
	}},
	{name: "host IPv4-mapped IPv6", in: "GET / HTTP/1.1\r\nHost: [::ffff:1.2.3.4]\r\n\r\n"},
	{name: "host empty", in: "GET / HTTP/1.1\r\nHost:\r\n\r\n", check: func(t *testing.T, r *Request) {
		if r.Host == nil || len(r.Host) != 0 {
			t.Errorf("host = %q (nil %v), want empty non-nil", r.Host, r.Host == nil)
		}
	}},
	{name: "host sub-delims", in: "GET / HTTP/1.1\r\nHost: a-b_c~d.e!$&'()*+,;=%41\r\n\r\n"},
	{name: "host empty port", in: "GET / HTTP/1.1\r\nHost: a:\r\n\r\n"},
	{name: "all methods HEAD", in: "HEAD / HTTP/1.1\r\nHost: a\r\n\r\n", check: methodIs(MethodHEAD)},
	{name: "all methods PUT", in: "PUT / HTTP/1.1\r\nHost: a\r\n\r\n", check: methodIs(MethodPUT)},
	{name: "all methods DELETE", in: "DELETE / HTTP/1.1\r\nHost: a\r\n\r\n", check: methodIs(MethodDELETE)},
	{name: "all methods OPTIONS", in: "OPTIONS /x HTTP/1.1\r\nHost: a\r\n\r\n", check: methodIs(MethodOPTIONS)},
	{name: "all methods TRACE", in: "TRACE / HTTP/1.1\r\nHost: a\r\n\r\n", check: methodIs(MethodTRACE)},
	{name: "all methods PATCH", in: "PATCH / HTTP/1.1\r\nHost: a\r\n\r\n", check: methodIs(MethodPATCH)},
	{name: "CONNECT with origin-form", in: "CONNECT / HTTP/1.1\r\nHost: a\r\n\r\n", check: methodIs(MethodCONNECT)},
	{name: "token chars in name", in: h11("!#$%&'*+-.^_`|~0aZ: v\r\n")},
}

var rejectCases = []parseCase{
	// Request line.
	{name: "lowercase method", in: "get / HTTP/1.1\r\nHost: a\r\n\r\n", want: errUnknownMethod},
	{name: "unknown method", in: "PROPFIND / HTTP/1.1\r\nHost: a\r\n\r\n", want: errUnknownMethod},
	{name: "h2 preface", in: "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", want: errUnknownMethod},
	{name: "invalid method char", in: "GE(T / HTTP/1.1\r\nHost: a\r\n\r\n", want: errMethod},
	{name: "method starts with invalid char", in: "@GET / HTTP/1.1\r\n\r\n", want: errMethod},
	{name: "TLS handshake", in: "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", want: errMethod},
	{name: "leading space", in: " GET / HTTP/1.1\r\nHost: a\r\n\r\n", want: errRequestLine},
	{name: "two spaces after method", in: "GET  / HTTP/1.1\r\nHost: a\r\n\r\n", want: errRequestLine},
	{name: "two spaces after target", in: "GET /  HTTP/1.1\r\nHost: a\r\n\r\n", want: errVersion},
	{name: "tab separator", in: "GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n", want: errMethod},
	{name: "tab after target", in: "GET /\tHTTP/1.1\r\nHost: a\r\n\r\n", want: errTarget},
	{name: "trailing space", in: "GET / HTTP/1.1 \r\nHost: a\r\n\r\n", want: errVersion},
	{name: "no version", in: "GET /\r\n\r\n", want: errRequestLine},
	{name: "method only", in: "GET\r\n\r\n", want: errRequestLine},
	{name: "absolute-form", in: "GET http://a/ HTTP/1.1\r\nHost: a\r\n\r\n", want: errTargetForm},
	{name: "authority-form", in: "CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n", want: errTargetForm},
	{name: "asterisk-form", in: "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", want: errTargetForm},
	{name: "target with DEL", in: "GET /a\x7f HTTP/1.1\r\nHost: a\r\n\r\n", want: errTarget},
	{name: "target with NUL", in: "GET /a\x00b HTTP/1.1\r\nHost: a\r\n\r\n", want: errTarget},
	{name: "target with CTL", in: "GET /a\x01 HTTP/1.1\r\nHost: a\r\n\r\n", want: errTarget},
	{name: "target with high byte", in: "GET /\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n", want: errTarget},
	{name: "target with bare CR", in: "GET /a\rb HTTP/1.1\r\nHost: a\r\n\r\n", want: errRequestLine},
	{name: "bad percent", in: "GET /%zz HTTP/1.1\r\nHost: a\r\n\r\n", want: errPercent},
	{name: "short percent", in: "GET /%4 HTTP/1.1\r\nHost: a\r\n\r\n", want: errPercent},
	{name: "HTTP/2.0", in: "GET / HTTP/2.0\r\nHost: a\r\n\r\n", want: errVersionNotSup},
	{name: "HTTP/0.9", in: "GET / HTTP/0.9\r\n\r\n", want: errVersionNotSup},
	{name: "HTTP/3.0", in: "GET / HTTP/3.0\r\n\r\n", want: errVersionNotSup},
	{name: "lowercase http", in: "GET / http/1.1\r\nHost: a\r\n\r\n", want: errVersion},
	{name: "HTTP/1.10", in: "GET / HTTP/1.10\r\nHost: a\r\n\r\n", want: errVersion},
	{name: "HTTP/1", in: "GET / HTTP/1\r\nHost: a\r\n\r\n", want: errVersion},
	{name: "HTTP/11", in: "GET / HTTP/11\r\nHost: a\r\n\r\n", want: errVersion},
	{name: "HTTP/1.x", in: "GET / HTTP/1.x\r\nHost: a\r\n\r\n", want: errVersion},
	{name: "bare LF after request line", in: "GET / HTTP/1.1\nHost: a\r\n\r\n", want: errBareLF},
	{name: "bare CR after request line", in: "GET / HTTP/1.1\rHost: a\r\n\r\n", want: errBareCR},
	{name: "bare LF before request line", in: "\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", want: errBareLF},
	{name: "bare CR before request line", in: "\rGET / HTTP/1.1\r\nHost: a\r\n\r\n", want: errBareCR},
	{name: "NUL before method", in: "\x00GET / HTTP/1.1\r\n\r\n", want: errMethod},

	// Header section framing.
	{name: "bare LF ends header", in: "GET / HTTP/1.1\r\nHost: a\nX: b\r\n\r\n", want: errBareLF},
	{name: "bare LF ends head", in: "GET / HTTP/1.1\r\nHost: a\r\n\n", want: errBareLF},
	{name: "bare CR in value", in: "GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n", want: errBareCR},
	{name: "bare CR ends head", in: "GET / HTTP/1.1\r\nHost: a\r\n\rX", want: errBareCR},
	{name: "NUL in value", in: h11("X: a\x00b\r\n"), want: errFieldValue},
	{name: "NUL in long value", in: h11("X: aaaaaaaaaaaaaaaaaaaaaaaaaaaa\x00b\r\n"), want: errFieldValue},
	{name: "CTL in value", in: h11("X: a\x1bb\r\n"), want: errFieldValue},
	{name: "DEL in value", in: h11("X: a\x7f\r\n"), want: errFieldValue},
	{name: "DEL in long value", in: h11("X: aaaaaaaaaaaaaaaaaaaaaaaaaa\x7fb\r\n"), want: errFieldValue},
	{name: "NUL in name", in: h11("X\x00: a\r\n"), want: errFieldName},
	{name: "obs-fold", in: h11("X: a\r\n b\r\n"), want: errObsFold},
	{name: "obs-fold tab", in: h11("X: a\r\n\tb\r\n"), want: errObsFold},
	{name: "whitespace before first header", in: "GET / HTTP/1.1\r\n Host: a\r\n\r\n", want: errObsFold},
	{name: "space before colon", in: h11("X : a\r\n"), want: errSpaceColon},
	{name: "tab before colon", in: h11("Content-Length\t: 5\r\n"), want: errSpaceColon},
	{name: "empty name", in: h11(": a\r\n"), want: errFieldName},
	{name: "non-token name", in: h11("X(y): a\r\n"), want: errFieldName},
	{name: "high byte in name", in: h11("X\xe9: a\r\n"), want: errFieldName},
	{name: "no colon", in: h11("Xyz\r\n"), want: errNoColon},

	// Host.
	{name: "HTTP/1.1 without Host", in: "GET / HTTP/1.1\r\n\r\n", want: errNoHost},
	{name: "two Host", in: "GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", want: errDupHost},
	{name: "two Host HTTP/1.0", in: "GET / HTTP/1.0\r\nHost: a\r\nhost: b\r\n\r\n", want: errDupHost},
	{name: "host with space", in: "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", want: errHost},
	{name: "host with slash", in: "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", want: errHost},
	{name: "host with userinfo", in: "GET / HTTP/1.1\r\nHost: u@a\r\n\r\n", want: errHost},
	{name: "host with bad port", in: "GET / HTTP/1.1\r\nHost: a:8x\r\n\r\n", want: errHost},
	{name: "host with long port", in: "GET / HTTP/1.1\r\nHost: a:123456\r\n\r\n", want: errHost},
	{name: "host with two colons", in: "GET / HTTP/1.1\r\nHost: a:1:2\r\n\r\n", want: errHost},
	{name: "host unbracketed IPv6", in: "GET / HTTP/1.1\r\nHost: ::1\r\n\r\n", want: errHost},
	{name: "host unclosed bracket", in: "GET / HTTP/1.1\r\nHost: [::1\r\n\r\n", want: errHost},
	{name: "host empty brackets", in: "GET / HTTP/1.1\r\nHost: []\r\n\r\n", want: errHost},
	{name: "host bad IPv6 char", in: "GET / HTTP/1.1\r\nHost: [::g]\r\n\r\n", want: errHost},
	{name: "host high byte", in: "GET / HTTP/1.1\r\nHost: \xc3\xa9\r\n\r\n", want: errHost},
	{name: "host backslash", in: "GET / HTTP/1.1\r\nHost: a\\b\r\n\r\n", want: errHost},

	// Content-Length.
	{name: "CL empty", in: h11("Content-Length:\r\n"), want: errContentLength},
	{name: "CL sign", in: h11("Content-Length: +5\r\n"), want: errContentLength},
	{name: "CL negative", in: h11("Content-Length: -1\r\n"), want: errContentLength},
	{name: "CL inner space", in: h11("Content-Length: 1 2\r\n"), want: errContentLength},
	{name: "CL list", in: h11("Content-Length: 5, 5\r\n"), want: errContentLength},
	{name: "CL list no space", in: h11("Content-Length: 5,5\r\n"), want: errContentLength},
	{name: "CL hex", in: h11("Content-Length: 0x5\r\n"), want: errContentLength},
	{name: "CL 19 digits", in: h11("Content-Length: 1000000000000000000\r\n"), want: errContentLength},
	{name: "CL duplicate equal", in: h11("Content-Length: 5\r\nContent-Length: 5\r\n"), want: errDupCL},
	{name: "CL duplicate differ", in: h11("Content-Length: 5\r\ncontent-length: 6\r\n"), want: errDupCL},

	// Transfer-Encoding.
	{name: "CL then TE", in: h11("Content-Length: 5\r\nTransfer-Encoding: chunked\r\n"), want: errCLAndTE},
	{name: "TE then CL", in: h11("Transfer-Encoding: chunked\r\nContent-Length: 5\r\n"), want: errCLAndTE},
	{name: "TE gzip, chunked", in: h11("Transfer-Encoding: gzip, chunked\r\n"), want: errTEUnsupported},
	{name: "TE gzip", in: h11("Transfer-Encoding: gzip\r\n"), want: errTEUnsupported},
	{name: "TE identity", in: h11("Transfer-Encoding: identity\r\n"), want: errTEUnsupported},
	{name: "TE chunked with params", in: h11("Transfer-Encoding: chunked;q=1\r\n"), want: errTEUnsupported},
	{name: "TE chunked, gzip", in: h11("Transfer-Encoding: chunked, gzip\r\n"), want: errTENotFinal},
	{name: "TE chunked, chunked", in: h11("Transfer-Encoding: chunked, chunked\r\n"), want: errTENotFinal},
	{name: "TE chunked trailing comma", in: h11("Transfer-Encoding: chunked,\r\n"), want: errTENotFinal},
	{name: "TE two headers", in: h11("Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n"), want: errDupTE},
	{name: "TE two headers gzip first", in: h11("Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n"), want: errTEUnsupported},
	{name: "TE empty", in: h11("Transfer-Encoding:\r\n"), want: errTE},
	{name: "TE empty element", in: h11("Transfer-Encoding: , chunked\r\n"), want: errTE},
	{name: "TE garbage", in: h11("Transfer-Encoding: \"chunked\"\r\n"), want: errTE},
	{name: "TE chunked with junk", in: h11("Transfer-Encoding: chunked x\r\n"), want: errTE},
	{name: "TE in HTTP/1.0", in: "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", want: errTEHTTP10},

	// Expect.
	{name: "expect other", in: h11("Expect: 200-ok\r\n"), want: errExpect},
	{name: "expect empty", in: h11("Expect:\r\n"), want: errExpect},
}

func methodIs(m Method) func(*testing.T, *Request) {
	return func(t *testing.T, r *Request) {
		t.Helper()
		eq(t, "method", r.Method, m)
		eqs(t, "method name", r.MethodName, m.String())
	}
}

func eq[T comparable](t *testing.T, what string, got, want T) {
	t.Helper()
	if got != want {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}

func eqs(t *testing.T, what string, got []byte, want string) {
	t.Helper()
	if string(got) != want {
		t.Errorf("%s = %q, want %q", what, got, want)
	}
}

func errName(e *Error) string {
	if e == nil {
		return "<nil>"
	}
	return fmt.Sprintf("%d %q", e.Status, e.Reason)
}

// checkParse parses in and checks the outcome, then checks every proper
// prefix of in: it must be incomplete or fail with the same error.
func checkParse(t *testing.T, p *Parser, c parseCase) {
	t.Helper()
	b := []byte(c.in)
	var r Request
	n, err := p.Parse(b, &r)
	if c.want == nil {
		if err != nil || n != len(b) {
			t.Fatalf("Parse = %d, %v; want %d, nil", n, err, len(b))
		}
		if c.check != nil {
			c.check(t, &r)
		}
	} else {
		e, _ := err.(*Error)
		if e != c.want || n != 0 {
			t.Fatalf("Parse = %d, %s; want 0, %s", n, errName(e), errName(c.want))
		}
	}
	for k := 0; k < len(b); k++ {
		n, err := p.Parse(b[:k:k], &r)
		if n != 0 || (err != nil && err != error(c.want)) {
			t.Fatalf("Parse(first %d bytes) = %d, %v; want 0 and nil or %s", k, n, err, errName(c.want))
		}
	}
}

func TestParseAccept(t *testing.T) {
	t.Parallel()
	p := NewParser(Limits{}, testDeclared)
	for _, c := range acceptCases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			checkParse(t, p, c)
			checkNetHTTP(t, []byte(c.in))
		})
	}
}

func TestParseReject(t *testing.T) {
	t.Parallel()
	p := NewParser(Limits{}, testDeclared)
	for _, c := range rejectCases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			checkParse(t, p, c)
		})
	}
}

// checkNetHTTP checks that net/http accepts a head Parse accepted, and
// agrees on method, target and Host.
func checkNetHTTP(t *testing.T, b []byte) {
	t.Helper()
	var r Request
	n, err := NewParser(Limits{}, nil).Parse(b, &r)
	if err != nil || n == 0 {
		return
	}
	// RFC 9112 section 2.2 asks servers to skip empty lines before the
	// request line; net/http.ReadRequest does not, so they are cut here.
	b = b[:n]
	for bytes.HasPrefix(b, []byte("\r\n")) {
		b, n = b[2:], n-2
	}
	hr, herr := http.ReadRequest(bufio.NewReader(bytes.NewReader(b)))
	if herr != nil {
		t.Fatalf("Parse accepted %q, net/http refused: %v", b[:n], herr)
	}
	if hr.Method != string(r.MethodName) || hr.RequestURI != string(r.Target) || hr.Host != string(r.Host) {
		t.Fatalf("Parse and net/http disagree on %q: method %q/%q, target %q/%q, host %q/%q",
			b[:n], r.MethodName, hr.Method, r.Target, hr.RequestURI, r.Host, hr.Host)
	}
}

func TestParsePipelined(t *testing.T) {
	t.Parallel()
	p := NewParser(Limits{}, testDeclared)
	body := "hello"
	b := []byte("POST /one HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n" + body +
		"GET /two?x HTTP/1.1\r\nHost: b\r\nUser-Agent: u\r\n\r\n" +
		"GET /three HTTP/1.1\r\nHost: c\r\n\r\n" +
		"GET /four")
	var r Request
	n, err := p.Parse(b, &r)
	if err != nil || n == 0 {
		t.Fatalf("first Parse = %d, %v", n, err)
	}
	eqs(t, "path", r.Path, "/one")
	eq(t, "content length", r.ContentLength, int64(5))
	eqs(t, "body", b[n:n+5], body)
	b = b[n+5:]

	n, err = p.Parse(b, &r)
	if err != nil || n == 0 {
		t.Fatalf("second Parse = %d, %v", n, err)
	}
	eqs(t, "path", r.Path, "/two")
	eqs(t, "query", r.Query, "x")
	eqs(t, "host", r.Host, "b")
	eqs(t, "user-agent", r.Values[0], "u")
	eq(t, "content length", r.ContentLength, int64(-1))
	b = b[n:]

	n, err = p.Parse(b, &r)
	if err != nil || n == 0 {
		t.Fatalf("third Parse = %d, %v", n, err)
	}
	eqs(t, "path", r.Path, "/three")
	if r.Values[0] != nil || r.Query != nil {
		t.Errorf("fields of the previous request survived: %q %q", r.Values[0], r.Query)
	}
	b = b[n:]

	if n, err = p.Parse(b, &r); n != 0 || err != nil {
		t.Fatalf("fourth Parse = %d, %v; want incomplete", n, err)
	}
}

// TestParseLimits checks 414 and 431 on complete input and on input cut
// before the end of the line or section, and that exactly-at-limit input
// is accepted.
func TestParseLimits(t *testing.T) {
	t.Parallel()
	lim := Limits{MaxRequestLine: 64, MaxHeaderBytes: 128, MaxHeaders: 4}
	p := NewParser(lim, nil)
	const reqLine = "GET / HTTP/1.1" // 14 bytes
	target := func(lineLen int) string { return "/" + strings.Repeat("a", lineLen-len(reqLine)) }
	line := func(lineLen int) string { return "GET " + target(lineLen) + " HTTP/1.1\r\n" }
	// A header section of exactly size bytes, in one field.
	section := func(size int) string {
		const fixed = len("Host: a\r\nX: \r\n\r\n")
		return "Host: a\r\nX: " + strings.Repeat("v", size-fixed) + "\r\n\r\n"
	}
	cases := []struct {
		name string
		in   string
		want *Error
	}{
		{"line at limit", line(64) + "Host: a\r\n\r\n", nil},
		{"line over limit", line(65) + "Host: a\r\n\r\n", errLineTooLong},
		{"line over limit, no CRLF yet", "GET " + target(200), errLineTooLong},
		{"line at limit, no CRLF yet", line(64)[:64], nil},
		{"line at limit, CR only", line(64)[:65], nil},
		{"leading empty lines count", "\r\n\r\n" + line(62) + "Host: a\r\n\r\n", errLineTooLong},
		{"long method", strings.Repeat("G", 100), errLineTooLong},
		{"section at limit", line(20) + section(128), nil},
		{"section over limit", line(20) + section(129), errHeadersTooBig},
		{"section over limit, incomplete", line(20) + section(300)[:200], errHeadersTooBig},
		{"section at limit, final LF missing", line(20) + section(128)[:127], nil},
		{"fields at limit", line(20) + "Host: a\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n", nil},
		{"fields over limit", line(20) + "Host: a\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n", errTooManyFields},
		{"fields over limit, incomplete", line(20) + "Host: a\r\nA: 1\r\nB: 2\r\nC: 3\r\nD", errTooManyFields},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			var r Request
			n, err := p.Parse([]byte(c.in), &r)
			e, _ := err.(*Error)
			if e != c.want {
				t.Fatalf("Parse = %d, %s; want %s", n, errName(e), errName(c.want))
			}
			if c.want == nil && strings.HasSuffix(c.in, "\r\n\r\n") && n != len(c.in) {
				t.Fatalf("Parse = %d, want %d", n, len(c.in))
			}
		})
	}
}

func TestParseLimitDefaults(t *testing.T) {
	t.Parallel()
	want := Limits{MaxRequestLine: 8192, MaxHeaderBytes: 16384, MaxHeaders: 100}
	for _, lim := range []Limits{{}, {MaxRequestLine: -1, MaxHeaderBytes: -5, MaxHeaders: -100}} {
		if got := NewParser(lim, nil).Limits(); got != want {
			t.Errorf("NewParser(%+v).Limits() = %+v, want %+v", lim, got, want)
		}
	}
	p := NewParser(Limits{}, nil)
	var r Request
	ok := "GET /" + strings.Repeat("a", 8192-len("GET / HTTP/1.1")) + " HTTP/1.1\r\nHost: a\r\n\r\n"
	if n, err := p.Parse([]byte(ok), &r); n != len(ok) || err != nil {
		t.Errorf("8192-byte request line: Parse = %d, %v", n, err)
	}
	long := "GET /" + strings.Repeat("a", 8193-len("GET / HTTP/1.1")) + " HTTP/1.1\r\nHost: a\r\n\r\n"
	if _, err := p.Parse([]byte(long), &r); err != errLineTooLong {
		t.Errorf("8193-byte request line: err = %v", err)
	}
	many := "GET / HTTP/1.1\r\nHost: a\r\n" + strings.Repeat("X: y\r\n", 100) + "\r\n"
	if _, err := p.Parse([]byte(many), &r); err != errTooManyFields {
		t.Errorf("101 fields: err = %v", err)
	}
}

func TestNewParserPanics(t *testing.T) {
	t.Parallel()
	tooMany := make([]string, MaxDeclared+1)
	for i := range tooMany {
		tooMany[i] = fmt.Sprintf("X-H%d", i)
	}
	for _, c := range []struct {
		name     string
		declared []string
	}{
		{"too many", tooMany},
		{"empty name", []string{""}},
		{"space", []string{"User Agent"}},
		{"colon", []string{"Host:"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			defer func() {
				if recover() == nil {
					t.Errorf("NewParser(%q) did not panic", c.declared)
				}
			}()
			NewParser(Limits{}, c.declared)
		})
	}
	NewParser(Limits{}, tooMany[:MaxDeclared]) // exactly MaxDeclared is fine
}

func TestParseMaxDeclared(t *testing.T) {
	t.Parallel()
	names := make([]string, MaxDeclared)
	var req strings.Builder
	req.WriteString("GET / HTTP/1.1\r\nHost: a\r\n")
	for i := range names {
		names[i] = fmt.Sprintf("X-Header-%d", i)
		fmt.Fprintf(&req, "x-HEADER-%d: v%d\r\n", i, i)
	}
	req.WriteString("\r\n")
	// Declared twice under different case: both slots are filled.
	names[MaxDeclared-1] = "x-header-0"
	p := NewParser(Limits{}, names)
	var r Request
	if n, err := p.Parse([]byte(req.String()), &r); err != nil || n == 0 {
		t.Fatalf("Parse = %d, %v", n, err)
	}
	for i := 0; i < MaxDeclared-1; i++ {
		eqs(t, names[i], r.Values[i], fmt.Sprintf("v%d", i))
	}
	eqs(t, "duplicate declaration", r.Values[MaxDeclared-1], "v0")
}

func TestParseDeclaresProtocolHeaders(t *testing.T) {
	t.Parallel()
	p := NewParser(Limits{}, []string{"Host", "Content-Length", "Connection"})
	var r Request
	in := "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nConnection: close\r\n\r\n"
	if n, err := p.Parse([]byte(in), &r); err != nil || n != len(in) {
		t.Fatalf("Parse = %d, %v", n, err)
	}
	eqs(t, "host", r.Values[0], "h")
	eqs(t, "content-length", r.Values[1], "3")
	eqs(t, "connection", r.Values[2], "close")
	eq(t, "content length", r.ContentLength, int64(3))
	eq(t, "keep-alive", r.KeepAlive, false)
}

func TestParseNoAllocs(t *testing.T) {
	p := NewParser(Limits{}, testDeclared)
	var r Request
	for _, c := range append(append([]parseCase(nil), acceptCases...), rejectCases...) {
		b := []byte(c.in)
		if a := testing.AllocsPerRun(10, func() { p.Parse(b, &r) }); a != 0 {
			t.Errorf("%s: %v allocs per Parse", c.name, a)
		}
	}
}

func TestMethodString(t *testing.T) {
	t.Parallel()
	for m := MethodUnknown; m <= MethodPATCH+1; m++ {
		s := m.String()
		if m != MethodUnknown && m <= MethodPATCH && lookupMethod([]byte(s)) != m {
			t.Errorf("lookupMethod(%q) != %d", s, m)
		}
		if (m == MethodUnknown || m > MethodPATCH) && s != "UNKNOWN" {
			t.Errorf("Method(%d).String() = %q", m, s)
		}
	}
}
