package edge

import (
	"bytes"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/edge-rt/edge/static"
)

// ---------------------------------------------------------------------------
// 6. Half-close.

// TestHostileHalfClose: a client that sends its requests and then shuts
// down its write side still gets every response in full.
func TestHostileHalfClose(t *testing.T) {
	t.Parallel()
	bigData := make([]byte, 8<<20)
	for i := range bigData {
		bigData[i] = byte(i % 251)
	}
	big := static.New(bigData, "image/png")
	cfg := hostileConfig()
	cfg.AllowPost = true
	cfg.WriteTimeout = 5 * time.Second
	_, addr := hostileServer(t, cfg, func(s *Server, l *Listener) {
		l.Get("/big", func(c *Ctx) { c.Content(big) })
		l.Get("/later", func(c *Ctx) {
			id := c.Pending()
			go func() {
				time.Sleep(200 * time.Millisecond)
				s.Reply(id, 200, "text/plain", []byte("later"))
			}()
		})
		l.Any().Post(Path("/echo"), func(c *Ctx) { c.Send(200, "text/plain", c.Body()) })
	})
	cases := []struct {
		name   string
		raw    string
		bodies []string // "" + len check for /big
		delay  time.Duration
	}{
		{"one", "GET /ok HTTP/1.1\r\nHost: a\r\n\r\n", []string{"ok"}, 0},
		{"pipelined", strings.Repeat("GET /ok HTTP/1.1\r\nHost: a\r\n\r\n", 3), []string{"ok", "ok", "ok"}, 0},
		{"pending", "GET /later HTTP/1.1\r\nHost: a\r\n\r\nGET /ok HTTP/1.1\r\nHost: a\r\n\r\n", []string{"later", "ok"}, 0},
		{"post", "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello", []string{"hello"}, 0},
		{"big slow reader", "GET /big HTTP/1.1\r\nHost: a\r\n\r\nGET /ok HTTP/1.1\r\nHost: a\r\n\r\n", []string{"BIG", "ok"}, 300 * time.Millisecond},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := hostileDialSmallRcvbuf(t, addr)
			if _, err := io.WriteString(c, tc.raw); err != nil {
				t.Fatal(err)
			}
			if err := c.(*net.TCPConn).CloseWrite(); err != nil {
				t.Fatal(err)
			}
			time.Sleep(tc.delay)
			c.(*net.TCPConn).SetReadBuffer(1 << 20)
			data, how := hostileReadAll(c, 10*time.Second)
			if how != "eof" {
				t.Errorf("ended with %s after %d bytes", how, len(data))
			}
			rs, err := hostileParse(data, "GET")
			if err != nil {
				t.Fatalf("%v (%d bytes)", err, len(data))
			}
			if len(rs) != len(tc.bodies) {
				t.Fatalf("%d responses, want %d", len(rs), len(tc.bodies))
			}
			for i, want := range tc.bodies {
				if want == "BIG" {
					if !bytes.Equal(rs[i].body, bigData) {
						t.Errorf("response %d: big body corrupted (%d bytes)", i, len(rs[i].body))
					}
				} else if string(rs[i].body) != want {
					t.Errorf("response %d: body %q, want %q", i, rs[i].body, want)
				}
			}
		})
	}
}

// TestHostileHalfCloseBlockedNoSpin: a client requests a large response,
// shuts down its write side and does not read. While the response is
// blocked the worker must sleep, not spin: the connection waits for
// EPOLLOUT with EPOLLRDHUP in its mask, and a level-triggered EPOLLRDHUP
// fires on every epoll_wait once the peer has half-closed.
func TestHostileHalfCloseBlockedNoSpin(t *testing.T) {
	if !hostileChild(t) {
		return
	}
	bigData := make([]byte, 8<<20)
	for i := range bigData {
		bigData[i] = byte(i % 253)
	}
	big := static.New(bigData, "image/png")
	cfg := hostileConfig()
	cfg.Workers = 1
	cfg.WriteTimeout = 10 * time.Second
	srv, addr := hostileServer(t, cfg, func(s *Server, l *Listener) {
		l.Get("/big", func(c *Ctx) { c.Content(big) })
	})
	c := hostileDialSmallRcvbuf(t, addr)
	io.WriteString(c, "GET /big HTTP/1.1\r\nHost: a\r\n\r\n")
	c.(*net.TCPConn).CloseWrite()
	hostileWait(2*time.Second, func() bool { return srv.Stats().Requests >= 1 })
	time.Sleep(300 * time.Millisecond)
	cpu0, t0 := hostileCPU(), time.Now()
	time.Sleep(1500 * time.Millisecond)
	cpu, wall := hostileCPU()-cpu0, time.Since(t0)
	t.Logf("process CPU while the half-closed client does not read: %v in %v", cpu, wall)
	if cpu > wall/4 {
		t.Errorf("the server burns CPU (%v in %v) while a half-closed client's response is blocked: busy loop on EPOLLRDHUP", cpu, wall)
	}
	c.(*net.TCPConn).SetReadBuffer(1 << 20)
	data, how := hostileReadAll(c, 10*time.Second)
	rs, err := hostileParse(data, "GET")
	if how != "eof" || err != nil || len(rs) != 1 || !bytes.Equal(rs[0].body, bigData) {
		t.Errorf("response not delivered intact after the stall: %s, %v, %d bytes", how, err, len(data))
	}
}
