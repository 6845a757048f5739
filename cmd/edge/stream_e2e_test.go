package main

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/httphead"
	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsflate"
	"github.com/gobwas/ws/wsutil"
)

// End-to-end tests of config-file streams: the real binary, and gobwas/ws
// as the client, over ws:// and wss://.

// streamRoutes are the routes of both listeners of streamTestConfig.
const streamRoutes = `
      - routes:
          - path: /echo
            stream: {mode: echo, protocols: [v2, v1], maxMessage: 1KiB}
          - path: /chat
            stream: {mode: chat, compression: true, queueBytes: 64KiB, page: ./about.html}
          - path: /chat2
            stream: {mode: chat, page: "embed:chat.html"}
          - prefix: /
            static: "embed:"`

const streamTestConfig = `reusePort: false
pingInterval: 5s
listeners:
  - listen: "127.0.0.1:{port}"
    hosts:` + streamRoutes + `
  - listen: "127.0.0.1:{port2}"
    tls: true
    hosts:` + streamRoutes + "\n"

// wsClient is one gobwas/ws client connection.
type wsClient struct {
	t    *testing.T
	name string
	c    net.Conn
	r    io.Reader // c, after what came with the 101 response
	hs   ws.Handshake
}

// dialWS connects to url (ws:// or wss://; any certificate is accepted).
func dialWS(t *testing.T, url string, d ws.Dialer) *wsClient {
	t.Helper()
	cl, err := tryDialWS(url, d)
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	cl.t = t
	t.Cleanup(func() { cl.c.Close() })
	return cl
}

func tryDialWS(url string, d ws.Dialer) (*wsClient, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	d.TLSConfig = &tls.Config{InsecureSkipVerify: true} // edge's self-signed fallback
	c, br, hs, err := d.Dial(ctx, url)
	if err != nil {
		return nil, err
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	cl := &wsClient{name: url, c: c, r: c, hs: hs}
	if br != nil {
		cl.r = io.MultiReader(br, c)
	}
	return cl, nil
}

func (cl *wsClient) Read(p []byte) (int, error)  { return cl.r.Read(p) }
func (cl *wsClient) Write(p []byte) (int, error) { return cl.c.Write(p) }

func (cl *wsClient) send(op ws.OpCode, msg string) {
	cl.t.Helper()
	if err := wsutil.WriteClientMessage(cl.c, op, []byte(msg)); err != nil {
		cl.t.Fatalf("%s: write: %v", cl.name, err)
	}
}

// read returns the next data message (answering pings).
func (cl *wsClient) read() (ws.OpCode, string) {
	cl.t.Helper()
	data, op, err := wsutil.ReadServerData(cl)
	if err != nil {
		cl.t.Fatalf("%s: read: %v", cl.name, err)
	}
	return op, string(data)
}

func (cl *wsClient) expect(op ws.OpCode, msg string) {
	cl.t.Helper()
	gotOp, got := cl.read()
	if gotOp != op || got != msg {
		cl.t.Fatalf("%s: got %v %q, want %v %q", cl.name, gotOp, got, op, msg)
	}
}

// expectClose reads until the server's close frame and returns it.
func (cl *wsClient) expectClose() wsutil.ClosedError {
	cl.t.Helper()
	_, _, err := wsutil.ReadServerData(cl)
	var ce wsutil.ClosedError
	if !errors.As(err, &ce) {
		cl.t.Fatalf("%s: want a close frame, got %v", cl.name, err)
	}
	return ce
}

func TestE2EStreams(t *testing.T) {
	t.Parallel()
	dir := configDir(t)
	_, ports := startEdgeN(t, dir, streamTestConfig, 2)
	for _, tr := range []struct{ name, ws, http string }{
		{"ws", "ws://127.0.0.1:" + ports[0], "http://127.0.0.1:" + ports[0]},
		{"wss", "wss://127.0.0.1:" + ports[1], "https://127.0.0.1:" + ports[1]},
	} {
		// One after the other: rooms are server-wide, and both use the lobby.
		t.Run(tr.name, func(t *testing.T) {
			base := tr.ws
			t.Run("echo", func(t *testing.T) {
				c := dialWS(t, base+"/echo", ws.Dialer{Protocols: []string{"v0", "v1"}})
				if c.hs.Protocol != "v1" {
					t.Errorf("protocol %q, want v1 (the client's first offer the stream speaks)", c.hs.Protocol)
				}
				c.send(ws.OpText, "hello, echo")
				c.expect(ws.OpText, "hello, echo")
				c.send(ws.OpBinary, "\x00\x01\xff")
				c.expect(ws.OpBinary, "\x00\x01\xff")
				c.send(ws.OpText, strings.Repeat("x", 1024)) // maxMessage: 1KiB
				c.expect(ws.OpText, strings.Repeat("x", 1024))
				c.send(ws.OpText, strings.Repeat("x", 1025))
				if ce := c.expectClose(); ce.Code != ws.StatusMessageTooBig {
					t.Errorf("oversized message: close %d %q, want 1009", ce.Code, ce.Reason)
				}
				none := dialWS(t, base+"/echo", ws.Dialer{})
				if none.hs.Protocol != "" {
					t.Errorf("protocol %q offered none", none.hs.Protocol)
				}
				none.send(ws.OpText, "x")
				none.expect(ws.OpText, "x")
			})
			t.Run("chat", func(t *testing.T) {
				d := ws.Dialer{Extensions: []httphead.Option{wsflate.DefaultParameters.Option()}}
				ra, rb := "a-"+tr.name, "b-"+tr.name
				a1 := dialWS(t, base+"/chat?room="+ra, d)
				a2 := dialWS(t, base+"/chat?room="+ra, ws.Dialer{})
				b1 := dialWS(t, base+"/chat?room="+rb, ws.Dialer{})
				lobby := dialWS(t, base+"/chat", ws.Dialer{})
				lobby2 := dialWS(t, base+"/chat?room=", ws.Dialer{})
				if len(a1.hs.Extensions) != 1 || string(a1.hs.Extensions[0].Name) != wsflate.ExtensionName {
					t.Errorf("compression: extensions %v, want permessage-deflate", a1.hs.Extensions)
				}
				a1.send(ws.OpText, "hi from a1")
				a1.expect(ws.OpText, "hi from a1") // the sender too
				a2.expect(ws.OpText, "hi from a1")
				a2.send(ws.OpBinary, "\x02bin")
				a2.expect(ws.OpBinary, "\x02bin")
				a1.expect(ws.OpBinary, "\x02bin")
				// Had b1 or the lobby been in room a, a1's messages would
				// have been queued for them before their own.
				b1.send(ws.OpText, "hi from b1")
				b1.expect(ws.OpText, "hi from b1")
				lobby.send(ws.OpText, "hi lobby")
				lobby.expect(ws.OpText, "hi lobby")
				lobby2.expect(ws.OpText, "hi lobby") // ?room= is the lobby too
				a2.send(ws.OpText, "again")
				a1.expect(ws.OpText, "again")
				a2.expect(ws.OpText, "again")
				// Rooms belong to the server: /chat2's room is /chat's.
				c2 := dialWS(t, base+"/chat2?room="+ra, ws.Dialer{})
				c2.send(ws.OpText, "from chat2")
				c2.expect(ws.OpText, "from chat2")
				a1.expect(ws.OpText, "from chat2")
			})
			t.Run("bad room", func(t *testing.T) {
				for _, q := range []string{"a%20b", "%C3%A9t%C3%A9", strings.Repeat("r", 65), "a/b", "a%00"} {
					c := dialWS(t, base+"/chat?room="+q, ws.Dialer{})
					ce := c.expectClose()
					if ce.Code != 1008 || !strings.HasPrefix(ce.Reason, "bad room name") {
						t.Errorf("room %q: close %d %q, want 1008 bad room name", q, ce.Code, ce.Reason)
					}
				}
				// 64 characters is fine.
				c := dialWS(t, base+"/chat?room="+strings.Repeat("R-_9", 16), ws.Dialer{})
				c.send(ws.OpText, "ok")
				c.expect(ws.OpText, "ok")
			})
			t.Run("page", func(t *testing.T) {
				client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
					TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, DisableCompression: true,
				}}
				get := func(path string) (int, string, string) {
					resp, err := client.Get(tr.http + path)
					if err != nil {
						t.Fatal(err)
					}
					defer resp.Body.Close()
					body, _ := io.ReadAll(resp.Body)
					return resp.StatusCode, resp.Header.Get("Content-Type"), string(body)
				}
				if code, typ, body := get("/chat"); code != 200 || !strings.HasPrefix(typ, "text/html") || !strings.Contains(body, "<h1>About</h1>") {
					t.Errorf("/chat page: %d %q %q", code, typ, body)
				}
				if code, typ, body := get("/chat2"); code != 200 || !strings.HasPrefix(typ, "text/html") || !strings.Contains(body, "edge chat") {
					t.Errorf("/chat2 page (embed:chat.html): %d %q %.80q", code, typ, body)
				}
				if code, _, _ := get("/echo"); code != 426 {
					t.Errorf("/echo without page: %d, want 426", code)
				}
				if code, typ, body := get("/edge.js"); code != 200 || !strings.HasPrefix(typ, "text/javascript") || !strings.Contains(body, "EdgeStream") {
					t.Errorf("/edge.js: %d %q", code, typ)
				}
			})
		})
	}
}
