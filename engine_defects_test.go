package edge

// Regression tests for defects the engine review found (issue 7), each
// over real loopback sockets.

import (
	"bufio"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edge-rt/edge/ws"
	gws "github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
)

// Client.Send and Client.Close from goroutines other than the client's
// loop (another connection's callback, a worker goroutine) while the
// connection is busy and closing: before the fix they read the
// connection's fields unsynchronised (the race detector fails this test).
func TestClientMethodsFromOtherGoroutines(t *testing.T) {
	t.Parallel()
	clients := make(chan *Client, 16)
	_, addr := testServer(t, Config{}, func(s *Server, l *Listener) {
		l.Any().Stream("/ws", &Stream{
			OnOpen:    func(c *Client) { clients <- c },
			OnMessage: func(c *Client, op ws.Opcode, data []byte) { c.Send(op, data) },
		})
	})
	for round := 0; round < 4; round++ {
		conn := wsDial(t, "ws://"+addr+"/ws", gws.Dialer{})
		cl := <-clients
		var wg sync.WaitGroup
		for g := 0; g < 4; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < 200; i++ {
					cl.Send(ws.OpText, []byte("from a goroutine"))
				}
				cl.Close(4001, "done")
				cl.Send(ws.OpText, []byte("after close")) // must be refused, not crash
			}()
		}
		go func() {
			for i := 0; i < 50; i++ {
				wsutil.WriteClientMessage(conn, gws.OpText, []byte("echo me"))
			}
		}()
		wg.Wait()
		// The client sees messages, then exactly one close frame, 4001.
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		code := readClose(t, conn)
		if code != 4001 {
			t.Fatalf("round %d: close code %d, want 4001", round, code)
		}
		conn.Close()
		if cl.Send(ws.OpText, []byte("gone")) {
			t.Fatal("Send on a closed client reported true")
		}
	}
}

// A client that sends fast and never reads its echoes: Client.Send from
// the connection's own callback is bounded by QueueBytes like any other
// send (before the fix it wrote straight into the output, unbounded by
// the queue), so the server closes it with 1008.
func TestOwnCallbackSendIsBounded(t *testing.T) {
	t.Parallel()
	s, addr := testServer(t, Config{}, func(s *Server, l *Listener) {
		l.Any().Stream("/echo", &Stream{
			QueueBytes: 64 << 10,
			OnMessage:  func(c *Client, op ws.Opcode, data []byte) { c.Send(op, data) },
		})
	})
	conn := wsDial(t, "ws://"+addr+"/echo", gws.Dialer{})
	defer conn.Close()
	if tc, ok := conn.(*net.TCPConn); ok {
		tc.SetReadBuffer(4096)
	}
	msg := make([]byte, 16<<10)
	done := make(chan struct{})
	go func() {
		defer close(done)
		conn.SetWriteDeadline(time.Now().Add(20 * time.Second))
		for i := 0; i < 4000; i++ { // 64 MiB: far more than socket buffers
			if wsutil.WriteClientMessage(conn, gws.OpBinary, msg) != nil {
				return
			}
		}
	}()
	deadline := time.Now().Add(20 * time.Second)
	for s.Stats().WSSlowClosed == 0 {
		if time.Now().After(deadline) {
			t.Fatal("a client not reading its echoes was never closed")
		}
		time.Sleep(10 * time.Millisecond)
	}
	<-done
}

// HEAD follows GET on every route that takes GET (before: a route with
// methods [POST, GET] answered HEAD 404), and a path that exists for other
// methods answers 405 with Allow (before: 404).
func TestMethodsHeadAnd405(t *testing.T) {
	t.Parallel()
	_, addr := testServer(t, Config{AllowPost: true}, func(s *Server, l *Listener) {
		l.Any().Handle(Path("/both"), hello, "POST", "GET")
		l.Get("/get", hello)
		l.Any().Post(Path("/post"), func(c *Ctx) { c.Text(201, "made") })
	})
	cases := []struct {
		req, status, allow string
	}{
		{"HEAD /both HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", "200", ""},
		{"POST /get HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", "405", "Allow: GET, HEAD\r\n"},
		{"OPTIONS /get HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", "405", "Allow: GET, HEAD\r\n"},
		{"GET /post HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", "405", "Allow: POST\r\n"},
		{"DELETE /nothing HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", "404", ""},
	}
	for _, c := range cases {
		got := exchange(t, addr, c.req)
		if !strings.HasPrefix(got, "HTTP/1.1 "+c.status+" ") || !strings.Contains(got, c.allow) {
			t.Errorf("%q:\n%s", c.req, got)
		}
	}
}

// A connection that never sends a byte is closed after FirstByteTimeout,
// not held for the whole IdleTimeout; one that sent a request stays for
// IdleTimeout.
func TestFirstByteTimeout(t *testing.T) {
	t.Parallel()
	_, addr := testServer(t, Config{FirstByteTimeout: time.Second, IdleTimeout: time.Minute}, func(s *Server, l *Listener) {
		l.Get("/", hello)
	})
	silent, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	used, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer used.Close()
	io.WriteString(used, "GET / HTTP/1.1\r\nHost: a\r\n\r\n")
	if _, err := readResponsesErr(bufio.NewReader(used)); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	silent.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := silent.Read(make([]byte, 1)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("silent connection: %v after %v", err, time.Since(start))
	}
	used.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := used.Read(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("a connection that made a request was closed early: %v", err)
	}
}

// MaxConnsPerAddr: one address cannot hold more connections than that.
func TestMaxConnsPerAddr(t *testing.T) {
	t.Parallel()
	s, addr := testServer(t, Config{MaxConnsPerAddr: 3}, func(s *Server, l *Listener) { l.Get("/", hello) })
	var held []net.Conn
	for i := 0; i < 3; i++ {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		held = append(held, c)
	}
	deadline := time.Now().Add(10 * time.Second)
	for s.Stats().Open < 3 {
		if time.Now().After(deadline) {
			t.Fatal("connections not accepted")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if got := exchange(t, addr, "GET / HTTP/1.1\r\nHost: a\r\n\r\n"); !strings.HasPrefix(got, "HTTP/1.1 503") {
		t.Fatalf("fourth connection from one address: %q, want a 503", got)
	}
	held[0].Close()
	deadline = time.Now().Add(10 * time.Second)
	for {
		got := exchange(t, addr, "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
		if strings.HasPrefix(got, "HTTP/1.1 200") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after a close, a new connection still gets %q", got)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// SetRoutes swaps a listener's routes while it serves: the next request
// on an open keep-alive connection sees the new routes, and an open
// WebSocket keeps working on the Stream it upgraded on.
func TestSetRoutesWhileServing(t *testing.T) {
	t.Parallel()
	var l *Listener
	_, addr := testServer(t, Config{}, func(s *Server, ln *Listener) {
		l = ln
		ln.Get("/old", hello)
		ln.Any().Stream("/ws", echoStream(nil))
	})
	wc := wsDial(t, "ws://"+addr+"/ws", gws.Dialer{})
	readMsg(t, wc) // hello
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(c)
	get := func(path string) string {
		io.WriteString(c, "GET "+path+" HTTP/1.1\r\nHost: a\r\n\r\n")
		rs := readResponses(t, r, 1, "GET")
		return rs[0].Status
	}
	if st := get("/old"); !strings.HasPrefix(st, "200") {
		t.Fatalf("before: /old %s", st)
	}
	g := NewRoutes("")
	g.Get("/new", hello)
	l.SetRoutes(g)
	if st := get("/new"); !strings.HasPrefix(st, "200") {
		t.Fatalf("after: /new %s", st)
	}
	if st := get("/old"); !strings.HasPrefix(st, "404") {
		t.Fatalf("after: /old %s, want 404", st)
	}
	wsutil.WriteClientMessage(wc, gws.OpText, []byte("still here"))
	if _, m := readMsg(t, wc); m != "still here" {
		t.Fatalf("WebSocket after the swap: %q", m)
	}
}
