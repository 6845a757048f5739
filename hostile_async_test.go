package edge

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// ---------------------------------------------------------------------------
// 8, 9. Async replies racing with closes, and reply storms.

// TestHostilePendingCloseRace: handlers keep requests pending while their
// clients disconnect in various ways; worker goroutines reply (twice) at
// the same time. Reply returns nil or ErrGone, no response is sent twice,
// and every connection is released.
func TestHostilePendingCloseRace(t *testing.T) {
	t.Parallel()
	const iters = 1000
	ids := make(chan ClientID, iters+16)
	cfg := hostileConfig()
	srv, addr := hostileServer(t, cfg, func(s *Server, l *Listener) {
		l.Get("/p", func(c *Ctx) { ids <- c.Pending() })
	})
	var nilErr, gone atomic.Int64
	var rwg sync.WaitGroup
	for r := range 4 {
		rwg.Add(1)
		go func() {
			defer rwg.Done()
			rng := rand.New(rand.NewPCG(uint64(r), 1))
			for id := range ids {
				if rng.IntN(2) == 0 {
					time.Sleep(time.Duration(rng.IntN(500)) * time.Microsecond)
				}
				for k, body := range []string{"first", "second"} {
					switch err := srv.Reply(id, 200, "text/plain", []byte(body)); {
					case err == nil:
						if k == 0 {
							nilErr.Add(1)
						}
					case errors.Is(err, ErrGone):
						if k == 0 {
							gone.Add(1)
						}
					default:
						t.Errorf("Reply: %v", err)
					}
				}
			}
		}()
	}
	var next atomic.Int64
	var cwg sync.WaitGroup
	for range 8 {
		cwg.Add(1)
		go func() {
			defer cwg.Done()
			for {
				i := next.Add(1) - 1
				if i >= iters {
					return
				}
				c, err := net.DialTimeout("tcp", addr, 5*time.Second)
				if err != nil {
					t.Errorf("dial: %v", err)
					return
				}
				c.SetDeadline(time.Now().Add(5 * time.Second))
				io.WriteString(c, "GET /p HTTP/1.1\r\nHost: a\r\n\r\n")
				switch i % 4 {
				case 0: // close at once
				case 1: // close a moment later
					time.Sleep(time.Duration(i%7) * 100 * time.Microsecond)
				case 2: // abortive close
					c.(*net.TCPConn).SetLinger(0)
				case 3: // wait for the reply: exactly one response
					br := bufio.NewReader(c)
					resp, err := http.ReadResponse(br, nil)
					if err != nil {
						t.Errorf("client %d: %v", i, err)
						break
					}
					b, _ := io.ReadAll(resp.Body)
					if string(b) != "first" {
						t.Errorf("client %d: body %q, want \"first\"", i, b)
					}
					c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
					if extra, err := br.ReadByte(); err == nil {
						t.Errorf("client %d: data after the reply (%q): the second Reply was sent", i, extra)
					}
				}
				c.Close()
			}
		}()
	}
	cwg.Wait()
	if !hostileWait(cfg.PendingTimeout+5*time.Second, func() bool { return srv.Stats().Open == 0 }) {
		t.Errorf("%d connections still open", srv.Stats().Open)
	}
	close(ids)
	rwg.Wait()
	t.Logf("replies: %d accepted, %d ErrGone; stats requests %d, closed %v", nilErr.Load(), gone.Load(), srv.Stats().Requests, srv.Stats().Closed)
}

// TestHostileReplyStorm: 1,000 pending requests (one connection each,
// 100 clients at a time) answered by 8 goroutines while 4 more fire
// replies at the IDs of finished connections. Every client gets its own
// body; a stale ID never answers anyone.
func TestHostileReplyStorm(t *testing.T) {
	t.Parallel()
	type item struct {
		id  ClientID
		tok string
	}
	const clients, perClient = 100, 10
	reqs := make(chan item, clients*perClient+16)
	cfg := hostileConfig()
	srv, addr := hostileServer(t, cfg, func(s *Server, l *Listener) {
		l.Get("/p", func(c *Ctx) { reqs <- item{c.Pending(), strings.Clone(c.Query("t"))} })
	})
	var staleMu sync.Mutex
	var stale []ClientID
	var rwg sync.WaitGroup
	// Readers stop on stopReaders, never on a closed reqs: a handler's send
	// and a close would have no happens-before edge the race detector sees
	// (the client learns of the reply over a socket).
	stopReaders := make(chan struct{})
	for range 8 {
		rwg.Add(1)
		go func() {
			defer rwg.Done()
			for {
				var it item
				select {
				case it = <-reqs:
				case <-stopReaders:
					return
				}
				if err := srv.Reply(it.id, 200, "text/plain", []byte(it.tok)); err != nil && !errors.Is(err, ErrGone) {
					t.Errorf("Reply: %v", err)
				}
				staleMu.Lock()
				stale = append(stale, it.id)
				staleMu.Unlock()
			}
		}()
	}
	stopChaos := make(chan struct{})
	var chaosWG sync.WaitGroup
	var chaosSent atomic.Int64
	for k := range 4 {
		chaosWG.Add(1)
		go func() {
			defer chaosWG.Done()
			rng := rand.New(rand.NewPCG(uint64(k), 99))
			for {
				select {
				case <-stopChaos:
					return
				default:
				}
				staleMu.Lock()
				var id ClientID
				if n := len(stale); n > 0 && rng.IntN(4) != 0 {
					id = stale[rng.IntN(n)]
				} else {
					id = ClientID(rng.Uint64())
				}
				staleMu.Unlock()
				// Only IDs of connections whose client already has its
				// answer (and closed) or random ones: any delivery is a bug.
				srv.ReplyFunc(id, func(c *Ctx) { c.Text(200, "chaos") })
				chaosSent.Add(1)
				runtime.Gosched()
			}
		}()
	}
	var cwg sync.WaitGroup
	for g := range clients {
		cwg.Add(1)
		go func() {
			defer cwg.Done()
			for i := range perClient {
				tok := fmt.Sprintf("%d-%d", g, i)
				c, err := net.DialTimeout("tcp", addr, 5*time.Second)
				if err != nil {
					t.Errorf("dial: %v", err)
					return
				}
				c.SetDeadline(time.Now().Add(10 * time.Second))
				io.WriteString(c, "GET /p?t="+tok+" HTTP/1.1\r\nHost: a\r\n\r\n")
				resp, err := http.ReadResponse(bufio.NewReader(c), nil)
				if err != nil {
					t.Errorf("client %s: %v", tok, err)
					c.Close()
					return
				}
				b, _ := io.ReadAll(resp.Body)
				if string(b) != tok {
					t.Errorf("client %s got body %q", tok, b)
				}
				c.Close()
			}
		}()
	}
	cwg.Wait()
	close(stopChaos)
	chaosWG.Wait()
	close(stopReaders)
	rwg.Wait()
	t.Logf("%d chaos replies fired", chaosSent.Load())
	if !hostileWait(5*time.Second, func() bool { return srv.Stats().Open == 0 }) {
		t.Errorf("%d connections still open", srv.Stats().Open)
	}
}

// TestHostileReplyWhileOutputBlocked: a pipelined pending request is
// replied to while the response before it is still blocked on a slow
// reader. The reply must go out after that response, not into the middle
// of it, and the blocked output must still be flushed.
func TestHostileReplyWhileOutputBlocked(t *testing.T) {
	t.Parallel()
	big := bytes.Repeat([]byte("0123456789ABCDEF"), (8<<20)/16) // 8 MiB
	cfg := hostileConfig()
	cfg.WriteTimeout = 5 * time.Second
	replied := make(chan error, 1)
	_, addr := hostileServer(t, cfg, func(s *Server, l *Listener) {
		l.Get("/big", func(c *Ctx) { c.Send(200, "application/octet-stream", big) })
		l.Get("/later", func(c *Ctx) {
			id := c.Pending()
			go func() {
				time.Sleep(100 * time.Millisecond)
				replied <- s.Reply(id, 200, "text/plain", []byte("REPLY"))
			}()
		})
	})
	c := hostileDialSmallRcvbuf(t, addr)
	io.WriteString(c, "GET /big HTTP/1.1\r\nHost: a\r\n\r\nGET /later HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
	// A server that parses /later at once replies while /big is blocked
	// (the case under test); one that waits for /big to drain first is fine
	// too, and replies once the client reads.
	time.Sleep(400 * time.Millisecond)
	c.(*net.TCPConn).SetReadBuffer(1 << 20)
	data, how := hostileReadAll(c, 10*time.Second)
	if i := bytes.Index(data[1:], []byte("HTTP/1.1 ")); i >= 0 && i+1 < len(big) {
		t.Errorf("a second response starts at byte %d, inside the first one (%d bytes): the reply was written ahead of the blocked output", i+1, len(big))
	}
	rs, err := hostileParse(data, "GET")
	if err != nil {
		t.Errorf("response stream broken: %v (%d bytes, ended with %s)", err, len(data), how)
	}
	if len(rs) >= 1 && !bytes.Equal(rs[0].body, big) {
		i := 0
		for i < len(rs[0].body) && i < len(big) && rs[0].body[i] == big[i] {
			i++
		}
		t.Errorf("first response body corrupted at byte %d of %d: %q", i, len(big), rs[0].body[i:min(i+60, len(rs[0].body))])
	}
	if len(rs) != 2 || string(rs[1].body) != "REPLY" {
		t.Errorf("got %d responses (statuses %v), want /big then REPLY; stream ended with %s", len(rs), hostileStatuses(rs), how)
	}
	select {
	case err := <-replied:
		if err != nil {
			t.Errorf("Reply: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Errorf("the pending handler never ran")
	}
}
