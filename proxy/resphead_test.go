package proxy

import (
	"testing"
)

func TestAppendResponseHead(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		in    string
		close bool
		want  string
		err   bool
	}{
		{name: "plain", in: "HTTP/1.1 200 OK\r\nContent-Length: 13\r\nServer: b\r\n\r\n",
			want: "HTTP/1.1 200 OK\r\nContent-Length: 13\r\nServer: b\r\n\r\n"},
		{name: "close client", in: "HTTP/1.1 200 OK\r\nContent-Length: 13\r\n\r\n", close: true,
			want: "HTTP/1.1 200 OK\r\nContent-Length: 13\r\nConnection: close\r\n\r\n"},
		{name: "HTTP/1.0 sent as 1.1", in: "HTTP/1.0 404 Not Found\r\n\r\n", close: true,
			want: "HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\n"},
		{name: "no reason", in: "HTTP/1.1 204\r\n\r\n", want: "HTTP/1.1 204\r\n\r\n"},
		{name: "hop-by-hop", in: "HTTP/1.1 200 OK\r\nConnection: keep-alive, X-Hop\r\nKeep-Alive: timeout=5\r\nProxy-Connection: x\r\n" +
			"X-Hop: 1\r\nX-End: 2\r\nUpgrade: h2c\r\nconnection: upgrade\r\nContent-Length: 0\r\n\r\n",
			want: "HTTP/1.1 200 OK\r\nX-End: 2\r\nContent-Length: 0\r\n\r\n"},
		{name: "connection cannot remove framing", in: "HTTP/1.1 200 OK\r\nConnection: content-length, Transfer-Encoding\r\nTransfer-Encoding: chunked\r\n\r\n",
			want: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"},
		{name: "content-length dropped with TE", in: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
			want: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"},
		{name: "101", in: "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: a\r\n\r\n", close: true,
			want: "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: a\r\nConnection: upgrade\r\n\r\n"},
		{name: "interim ignores close", in: "HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\n", close: true,
			want: "HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\n"},
		{name: "bad status line", in: "HTTP/1.1 2000 OK\r\n\r\n", err: true},
		{name: "bad version", in: "HTTP/2.0 200 OK\r\n\r\n", err: true},
		{name: "bad field", in: "HTTP/1.1 200 OK\r\nA b\r\n\r\n", err: true},
		{name: "no empty line", in: "HTTP/1.1 200 OK\r\nA: b\r\n", err: true},
		{name: "bytes after", in: "HTTP/1.1 200 OK\r\n\r\nbody", err: true},
		{name: "empty", in: "", err: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			out, err := AppendResponseHead([]byte("x"), []byte(c.in), c.close)
			if c.err {
				if err == nil {
					t.Fatalf("no error: %q", out)
				}
				return
			}
			if err != nil || string(out) != "x"+c.want {
				t.Fatalf("got  %q, %v\nwant %q", out, err, "x"+c.want)
			}
			// The rewritten head frames the same way.
			var f Framer
			n, _, err := f.Feed(out[1:])
			if err != nil || n != len(out)-1 || f.HeadLen() != n {
				t.Fatalf("Framer on the output: %d of %d, %v", n, len(out)-1, err)
			}
			if wantClose := c.close && f.Status() >= 200 && !f.Upgrade(); f.connClose != wantClose {
				t.Fatalf("Framer on the output: Connection: close %v, want %v", f.connClose, wantClose)
			}
		})
	}
}
