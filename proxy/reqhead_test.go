package proxy

import (
	"bytes"
	"net/netip"
	"strings"
	"testing"

	"github.com/edge-rt/edge/http1"
)

var (
	client4 = netip.MustParseAddrPort("192.0.2.1:5555")
	client6 = netip.MustParseAddrPort("[2001:db8::7]:443")
)

type reqCase struct {
	name    string
	in      string
	opts    HeadOptions
	want    string // "" with err
	upgrade bool
	err     bool
}

var reqCases = []reqCase{
	{name: "plain", in: "GET /a?b HTTP/1.1\r\nHost: x\r\nUser-Agent: t\r\n\r\n",
		want: "GET /a?b HTTP/1.1\r\nHost: x\r\nUser-Agent: t\r\nConnection: keep-alive\r\n\r\n"},
	{name: "leading empty lines", in: "\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n",
		want: "GET / HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\n"},
	{name: "HTTP/1.0 without Host", in: "GET / HTTP/1.0\r\nAccept: */*\r\n\r\n",
		want: "GET / HTTP/1.1\r\nAccept: */*\r\nHost: \r\nConnection: keep-alive\r\n\r\n"},
	{name: "body framing kept", in: "POST /p HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n",
		want: "POST /p HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: keep-alive\r\n\r\n"},
	{name: "hop-by-hop", in: "GET / HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, X-Foo\r\nKeep-Alive: timeout=5\r\n" +
		"Proxy-Connection: keep-alive\r\nx-foo: 1\r\nX-Bar: 2\r\nTE: gzip\r\nUpgrade: h2c\r\nCONNECTION: x-baz\r\nX-Baz: 3\r\n\r\n",
		want: "GET / HTTP/1.1\r\nHost: x\r\nX-Bar: 2\r\nConnection: keep-alive\r\n\r\n"},
	{name: "connection cannot remove framing", in: "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nConnection: content-length, host, transfer-encoding\r\n\r\n",
		want: "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nConnection: keep-alive\r\n\r\n"},
	{name: "TE trailers", in: "GET / HTTP/1.1\r\nHost: x\r\nTE: gzip;q=0.5, trailers\r\nConnection: TE\r\n\r\n",
		want: "GET / HTTP/1.1\r\nHost: x\r\nTE: trailers\r\nConnection: keep-alive, te\r\n\r\n"},
	{name: "websocket upgrade", in: "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\nSec-WebSocket-Key: k\r\nSec-WebSocket-Version: 13\r\n\r\n",
		want:    "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nSec-WebSocket-Key: k\r\nSec-WebSocket-Version: 13\r\nConnection: upgrade\r\n\r\n",
		upgrade: true},
	{name: "upgrade with TE", in: "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nTE: trailers\r\n\r\n",
		want:    "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nTE: trailers\r\nConnection: upgrade, te\r\n\r\n",
		upgrade: true},
	{name: "Upgrade without the connection option", in: "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n\r\n",
		want: "GET / HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\n"},
	{name: "upgrade option without Upgrade", in: "GET / HTTP/1.1\r\nHost: x\r\nConnection: upgrade\r\n\r\n",
		want: "GET / HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\n"},
	{name: "upgrade in HTTP/1.0", in: "GET / HTTP/1.0\r\nHost: x\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n",
		want: "GET / HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\n"},
	{name: "forwarded for, appended", in: "GET / HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 10.0.0.1\r\nX-Real-IP: 6.6.6.6\r\n" +
		"x-forwarded-for: 10.0.0.2,10.0.0.3\r\nX-Forwarded-Proto: https\r\nAccept: */*\r\n\r\n",
		opts: HeadOptions{Client: client4, ForwardedFor: true},
		want: "GET / HTTP/1.1\r\nHost: x\r\nAccept: */*\r\nX-Forwarded-For: 10.0.0.1, 10.0.0.2,10.0.0.3, 192.0.2.1\r\n" +
			"X-Forwarded-Proto: http\r\nX-Real-IP: 192.0.2.1\r\nConnection: keep-alive\r\n\r\n"},
	{name: "forwarded for, new, TLS, IPv6", in: "GET / HTTP/1.1\r\nHost: x\r\n\r\n",
		opts: HeadOptions{Client: client6, TLS: true, ForwardedFor: true},
		want: "GET / HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 2001:db8::7\r\nX-Forwarded-Proto: https\r\nX-Real-IP: 2001:db8::7\r\nConnection: keep-alive\r\n\r\n"},
	{name: "forwarded for, IPv4-mapped client", in: "GET / HTTP/1.1\r\nHost: x\r\n\r\n",
		opts: HeadOptions{Client: netip.MustParseAddrPort("[::ffff:192.0.2.9]:1"), ForwardedFor: true},
		want: "GET / HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 192.0.2.9\r\nX-Forwarded-Proto: http\r\nX-Real-IP: 192.0.2.9\r\nConnection: keep-alive\r\n\r\n"},
	{name: "forwarded for, Unix client", in: "GET / HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 10.0.0.1\r\nX-Real-IP: 6.6.6.6\r\n\r\n",
		opts: HeadOptions{ForwardedFor: true},
		want: "GET / HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 10.0.0.1\r\nX-Forwarded-Proto: http\r\nConnection: keep-alive\r\n\r\n"},
	{name: "forwarded for, Unix client, none before", in: "GET / HTTP/1.1\r\nHost: x\r\n\r\n",
		opts: HeadOptions{ForwardedFor: true},
		want: "GET / HTTP/1.1\r\nHost: x\r\nX-Forwarded-Proto: http\r\nConnection: keep-alive\r\n\r\n"},
	{name: "forwarded for, hop-by-hop XFF", in: "GET / HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 10.0.0.1\r\nConnection: X-Forwarded-For\r\n\r\n",
		opts: HeadOptions{Client: client4, ForwardedFor: true},
		want: "GET / HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 192.0.2.1\r\nX-Forwarded-Proto: http\r\nX-Real-IP: 192.0.2.1\r\nConnection: keep-alive\r\n\r\n"},
	{name: "no forwarded for: client's kept", in: "GET / HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 10.0.0.1\r\nX-Real-IP: 6.6.6.6\r\n\r\n",
		opts: HeadOptions{Client: client4},
		want: "GET / HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 10.0.0.1\r\nX-Real-IP: 6.6.6.6\r\nConnection: keep-alive\r\n\r\n"},
	{name: "extra", in: "GET / HTTP/1.1\r\nHost: x\r\n\r\n",
		opts: HeadOptions{Client: client4, ForwardedFor: true, Extra: []byte("X-A: 1\r\nX-B:2\r\n")},
		want: "GET / HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 192.0.2.1\r\nX-Forwarded-Proto: http\r\nX-Real-IP: 192.0.2.1\r\nX-A: 1\r\nX-B:2\r\nConnection: keep-alive\r\n\r\n"},
	{name: "extra without CRLF", in: "GET / HTTP/1.1\r\nHost: x\r\n\r\n", opts: HeadOptions{Extra: []byte("X-A: 1")}, err: true},
	{name: "extra with bare LF", in: "GET / HTTP/1.1\r\nHost: x\r\n\r\n", opts: HeadOptions{Extra: []byte("X-A: 1\nX-B: 2\r\n")}, err: true},
	{name: "extra with an empty line", in: "GET / HTTP/1.1\r\nHost: x\r\n\r\n", opts: HeadOptions{Extra: []byte("X-A: 1\r\n\r\nGET / HTTP/1.1\r\n")}, err: true},
	{name: "extra with framing", in: "GET / HTTP/1.1\r\nHost: x\r\n\r\n", opts: HeadOptions{Extra: []byte("content-length: 0\r\n")}, err: true},
	{name: "extra without name", in: "GET / HTTP/1.1\r\nHost: x\r\n\r\n", opts: HeadOptions{Extra: []byte(": v\r\n")}, err: true},
	{name: "no empty line", in: "GET / HTTP/1.1\r\nHost: x\r\n", err: true},
	{name: "bytes after the head", in: "GET / HTTP/1.1\r\nHost: x\r\n\r\nGET", err: true},
	{name: "bad request line", in: "GET /\r\nHost: x\r\n\r\n", err: true},
	{name: "bad version", in: "GET / HTTP/2.0\r\nHost: x\r\n\r\n", err: true},
	{name: "space in target", in: "GET /a b HTTP/1.1\r\nHost: x\r\n\r\n", err: true},
	{name: "bad field", in: "GET / HTTP/1.1\r\nHost x\r\n\r\n", err: true},
	{name: "bare LF", in: "GET / HTTP/1.1\nHost: x\r\n\r\n", err: true},
	{name: "too many Connection fields", in: "GET / HTTP/1.1\r\nHost: x\r\n" + strings.Repeat("Connection: a\r\n", maxConnFields+1) + "\r\n", err: true},
	{name: "empty", in: "", err: true},
}

// outParser parses AppendRequestHead's output: limits high enough for the
// fields it adds.
var outParser = http1.NewParser(http1.Limits{MaxHeaders: 1000, MaxHeaderBytes: 1 << 20, MaxRequestLine: 1 << 16}, nil)

func TestAppendRequestHead(t *testing.T) {
	t.Parallel()
	for _, c := range reqCases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			prefix := []byte("prefix")
			out, upgrade, err := AppendRequestHead(prefix, []byte(c.in), &c.opts)
			if c.err {
				if err == nil || string(out) != "prefix" {
					t.Fatalf("error %v, dst %q", err, out)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.HasPrefix(out, prefix) {
				t.Fatalf("dst not appended to: %q", out)
			}
			out = out[len(prefix):]
			if string(out) != c.want || upgrade != c.upgrade {
				t.Fatalf("got  %q, upgrade %v\nwant %q, upgrade %v", out, upgrade, c.want, c.upgrade)
			}
			var r http1.Request
			if n, err := outParser.Parse(out, &r); n != len(out) || err != nil {
				t.Fatalf("output does not parse: %d of %d, %v", n, len(out), err)
			}
		})
	}
}

// TestAppendRequestHeadNilOptions: nil options are the zero HeadOptions.
func TestAppendRequestHeadNilOptions(t *testing.T) {
	t.Parallel()
	out, _, err := AppendRequestHead(nil, []byte("GET / HTTP/1.1\r\nHost: x\r\nX-Real-IP: 1.2.3.4\r\n\r\n"), nil)
	if err != nil || string(out) != "GET / HTTP/1.1\r\nHost: x\r\nX-Real-IP: 1.2.3.4\r\nConnection: keep-alive\r\n\r\n" {
		t.Fatalf("%q, %v", out, err)
	}
}

// inParser is the engine's parser: what it accepts reaches AppendRequestHead.
var inParser = http1.NewParser(http1.Limits{}, nil)

func FuzzAppendRequestHead(f *testing.F) {
	for _, c := range reqCases {
		f.Add([]byte(c.in), c.opts.ForwardedFor, c.opts.TLS, c.opts.Extra)
	}
	f.Fuzz(func(t *testing.T, raw []byte, ff, tls bool, extra []byte) {
		opts := &HeadOptions{Client: client4, ForwardedFor: ff, TLS: tls, Extra: extra}
		out, _, _ := AppendRequestHead(nil, raw, opts) // must not panic, whatever raw is
		var in http1.Request
		n, perr := inParser.Parse(raw, &in)
		if perr != nil || n == 0 {
			return
		}
		head := raw[:n]
		out, upgrade, err := AppendRequestHead(out[:0], head, opts)
		if err != nil {
			if err == errConnFields || err == errExtra {
				return
			}
			t.Fatalf("rejects a head http1 accepts: %v\n%q", err, head)
		}
		var r http1.Request
		if m, err := outParser.Parse(out, &r); m != len(out) || err != nil {
			t.Fatalf("output does not parse: %d of %d, %v\nin  %q\nout %q", m, len(out), err, head, out)
		}
		if string(r.MethodName) != string(in.MethodName) || string(r.Target) != string(in.Target) ||
			string(r.Host) != string(in.Host) || r.ContentLength != in.ContentLength || r.Chunked != in.Chunked ||
			r.Minor != 1 || !r.KeepAlive {
			t.Fatalf("request changed:\nin  %q\nout %q", head, out)
		}
		if upgrade != (in.Upgrade != nil) || (r.Upgrade != nil) != upgrade || upgrade && string(r.Upgrade) != string(in.Upgrade) {
			t.Fatalf("upgrade %v, in %q, out %q\nin  %q\nout %q", upgrade, in.Upgrade, r.Upgrade, head, out)
		}
		counts := map[string]int{}
		var xff, realIP []byte
		for i := bytes.IndexByte(out, '\n') + 1; ; {
			name, value, next, err := nextField(out, i)
			if err != nil {
				t.Fatal(err)
			}
			if name == nil {
				break
			}
			counts[strings.ToLower(string(name))]++
			switch {
			case equalFold(name, "x-forwarded-for"):
				xff = value
			case equalFold(name, "x-real-ip"):
				realIP = value
			}
			i = next
		}
		if counts["connection"] != 1 || counts["keep-alive"] != 0 || counts["proxy-connection"] != 0 {
			t.Fatalf("hop-by-hop fields %v:\n%q", counts, out)
		}
		if ff && (counts["x-forwarded-for"] != 1 || !bytes.HasSuffix(xff, []byte("192.0.2.1")) ||
			counts["x-real-ip"] != 1 || string(realIP) != "192.0.2.1" || counts["x-forwarded-proto"] != 1) {
			t.Fatalf("forwarded fields %v, XFF %q, X-Real-IP %q:\n%q", counts, xff, realIP, out)
		}
	})
}
