package edge

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edge-rt/edge/observe"
	"github.com/edge-rt/edge/ws"
	gws "github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
)

// recorder is an Observer that keeps what it was told.
type recorder struct {
	mu          sync.Mutex
	opened      int
	closed      map[string]int
	requests    []string // "group route status"
	handshakes  []observe.Handshake
	wsIn, wsOut int
}

func (r *recorder) ConnOpened(observe.Conn)                  { r.mu.Lock(); r.opened++; r.mu.Unlock() }
func (r *recorder) ConnRefused(string, observe.RefuseReason) {}
func (r *recorder) ConnClosed(_ observe.Conn, why string) {
	r.mu.Lock()
	r.closed[why]++
	r.mu.Unlock()
}
func (r *recorder) Handshake(h observe.Handshake) {
	r.mu.Lock()
	r.handshakes = append(r.handshakes, h)
	r.mu.Unlock()
}
func (r *recorder) Request(q *observe.Request) {
	r.mu.Lock()
	r.requests = append(r.requests, q.HostGroup+" "+q.Route+" "+http.StatusText(q.Status)+" "+string(q.Method)+" "+string(q.Target))
	r.mu.Unlock()
}
func (r *recorder) WSMessage(_ string, d observe.Direction, _ int) {
	r.mu.Lock()
	if d == observe.In {
		r.wsIn++
	} else {
		r.wsOut++
	}
	r.mu.Unlock()
}
func (r *recorder) QueueDrop(string, bool) {}

func (r *recorder) snapshot() (opened int, closed int, reqs []string, wsIn, wsOut int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, v := range r.closed {
		n += v
	}
	return r.opened, n, append([]string(nil), r.requests...), r.wsIn, r.wsOut
}

func TestObserverSeesEveryPhase(t *testing.T) {
	t.Parallel()
	rec := &recorder{closed: map[string]int{}}
	_, addr := testServer(t, Config{Observer: rec}, func(s *Server, l *Listener) {
		l.Routes("api.test").Handle(Prefix("/api/"), hello, "GET").Name("api")
		l.Get("/", hello)
		l.Any().Stream("/ws", echoStream(nil))
	})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\nGET /api/v HTTP/1.1\r\nHost: api.test\r\n\r\nGET /nope HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	io.ReadAll(bufio.NewReader(c))
	c.Close()

	wc := wsDial(t, "ws://"+addr+"/ws", gws.Dialer{Protocols: []string{"chat.v1"}})
	readMsg(t, wc) // hello
	wsutil.WriteClientMessage(wc, gws.OpText, []byte("ping"))
	if _, m := readMsg(t, wc); m != "ping" {
		t.Fatalf("echo: %q", m)
	}
	wc.Close()

	want := []string{" / OK GET /", "api.test api OK GET /api/v", "  Not Found GET /nope", " / OK GET /", " /ws Switching Protocols GET /ws"}
	deadline := time.Now().Add(10 * time.Second)
	for {
		opened, closed, reqs, in, out := rec.snapshot()
		if opened == 2 && closed == 2 && len(reqs) == len(want) && in == 1 && out == 2 {
			for i := range want {
				if reqs[i] != want[i] {
					t.Errorf("request %d: %q, want %q", i, reqs[i], want[i])
				}
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("observer saw opened=%d closed=%d requests=%q ws in=%d out=%d", opened, closed, reqs, in, out)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestObserverTLSHandshake(t *testing.T) {
	t.Parallel()
	rec := &recorder{closed: map[string]int{}}
	_, addr, pool := tlsTestServer(t, Config{Observer: rec}, func(s *Server, l *Listener) { l.Get("/", hello) })
	c := tlsDial(t, addr, "a.test", pool)
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n")
	b, _ := io.ReadAll(c)
	if !strings.Contains(string(b), "Hello") {
		t.Fatalf("response: %q", b)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		rec.mu.Lock()
		hs := append([]observe.Handshake(nil), rec.handshakes...)
		rec.mu.Unlock()
		if len(hs) == 1 {
			if hs[0].Err != nil || hs[0].Version == 0 || hs[0].ServerName != "a.test" || hs[0].Duration <= 0 {
				t.Fatalf("handshake event: %+v", hs[0])
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("handshake events: %+v", hs)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// nopObserver does nothing: BenchmarkServerGETObserved measures the
// engine's own cost of reporting to an observer.
type nopObserver struct{ observe.Nop }

func BenchmarkServerGETObserved(b *testing.B) {
	benchmarkGET(b, Config{HeaderServer: true, HeaderDate: true, Workers: 1, Observer: nopObserver{}})
}

var _ = ws.OpText
