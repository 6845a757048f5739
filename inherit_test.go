package edge

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edge-rt/edge/ws"
	gws "github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
)

// TestInheritHandover hands a listening socket from one server to another
// (File, Inherit) while clients open a new connection per request, then
// shuts the first down: no connection fails, both served, and a WebSocket
// on the first gets 1001 only after ShutdownGrace, having echoed during
// it.
func TestInheritHandover(t *testing.T) {
	t.Parallel()
	const grace = 700 * time.Millisecond
	who := func(name string) func(s *Server, l *Listener) {
		return func(s *Server, l *Listener) {
			l.Get("/who", func(c *Ctx) { c.Text(200, name) })
			l.Any().Stream("/ws", &Stream{
				OnMessage: func(c *Client, op ws.Opcode, data []byte) { c.Send(op, data) },
			})
		}
	}
	cfg := hostileConfig()
	cfg.ShutdownGrace = grace
	a := New(&cfg)
	la := a.Listen("tcp", "127.0.0.1:0")
	who("a")(a, la)
	if err := a.Start(); err != nil {
		t.Fatal(err)
	}
	addr := la.Addr().String()
	wsc := wsDial(t, "ws://"+addr+"/ws", gws.Dialer{})

	var (
		stop   atomic.Bool
		wg     sync.WaitGroup
		mu     sync.Mutex
		fails  []error
		served = map[string]int{}
	)
	for range 3 {
		wg.Go(func() {
			for !stop.Load() {
				name, err := getWho(addr)
				mu.Lock()
				if err != nil {
					fails = append(fails, err)
				} else {
					served[name]++
				}
				mu.Unlock()
			}
		})
	}
	defer func() { stop.Store(true); wg.Wait() }()
	count := func(name string) int { mu.Lock(); defer mu.Unlock(); return served[name] }
	if !hostileWait(5*time.Second, func() bool { return count("a") >= 10 }) {
		t.Fatal("server a served nothing")
	}

	f, err := la.File()
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.FileListener(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	_, bAddr := hostileServer(t, hostileConfig(), func(s *Server, l *Listener) {
		if err := l.Inherit(ln); err != nil {
			t.Fatal(err)
		}
		who("b")(s, l)
	})
	if bAddr != addr {
		t.Fatalf("inherited listener at %s, want %s", bAddr, addr)
	}
	if !hostileWait(5*time.Second, func() bool { return count("b") >= 10 }) {
		t.Fatal("server b served nothing")
	}

	start := time.Now()
	shut := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		shut <- a.Shutdown(ctx)
	}()
	// During the grace the WebSocket still echoes; then 1001.
	if err := wsutil.WriteClientText(wsc, []byte("during")); err != nil {
		t.Fatal(err)
	}
	if msg, err := wsutil.ReadServerText(wsc); err != nil || string(msg) != "during" {
		t.Fatalf("echo during the grace: %q, %v", msg, err)
	}
	_, _, err = wsutil.ReadServerData(wsc)
	var ce wsutil.ClosedError
	if !errors.As(err, &ce) || ce.Code != gws.StatusGoingAway {
		t.Fatalf("after the grace: %v, want close 1001", err)
	}
	if took := time.Since(start); took < grace-50*time.Millisecond {
		t.Errorf("1001 after %v, before the %v grace", took, grace)
	}
	select {
	case err := <-shut:
		if err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("Shutdown did not return")
	}
	nb := count("b")
	if !hostileWait(5*time.Second, func() bool { return count("b") >= nb+10 }) {
		t.Fatal("server b stopped serving when a shut down")
	}
	stop.Store(true)
	wg.Wait()
	if len(fails) > 0 {
		t.Errorf("%d of %d requests failed across the handover; first: %v", len(fails), len(fails)+served["a"]+served["b"], fails[0])
	}
	t.Logf("served %v", served)
}

// getWho opens a connection and GETs /who.
func getWho(addr string) (string, error) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, "GET /who HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		return "", err
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return "", err
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 100))
	if err != nil || resp.StatusCode != 200 {
		return "", fmt.Errorf("status %d, %v", resp.StatusCode, err)
	}
	return strings.TrimSpace(string(body)), nil
}
