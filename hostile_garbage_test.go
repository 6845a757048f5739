package edge

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edge-rt/edge/static"
)

// ---------------------------------------------------------------------------
// 4. Random garbage.

// TestHostileGarbage sends a few thousand random and mutated requests on
// fresh connections: each must end with valid responses and/or a close,
// never hang, and the server must keep serving.
func TestHostileGarbage(t *testing.T) {
	t.Parallel()
	if !hostileChild(t) { // a panic on a loop must not take the other tests down
		return
	}
	cfg := hostileConfig()
	cfg.AllowPost = true
	cfg.MaxBodySize = 4096
	cfg.IdleTimeout = time.Second
	cfg.Headers = []string{"X-Test", "User-Agent"}
	small := static.New([]byte(strings.Repeat("static content ", 100)), "text/plain")
	srv, addr := hostileServer(t, cfg, func(s *Server, l *Listener) {
		l.Get("/s", func(c *Ctx) { c.Content(small) })
		l.Get("/p", func(c *Ctx) {
			id := c.Pending()
			go s.Reply(id, 200, "text/plain", []byte("pending"))
		})
		l.Any().Handle(Pattern("/u/:id/x"), func(c *Ctx) { c.Text(200, c.Param("id")+c.Header("X-Test")+c.Query("q")) })
		l.Any().Handle(Regexp(`/r/([a-z]+)`), func(c *Ctx) { c.Text(200, c.Match(1)+c.Cookie("k")) })
		l.Any().Post(Path("/post"), func(c *Ctx) { c.Send(200, "text/plain", c.Body()) })
		l.Any().PostStream(Path("/stream"), StreamHandler{
			OnData: func(c *Ctx, data []byte) {},
			OnEnd: func(c *Ctx, ok bool) {
				if ok {
					c.Text(200, strconv.FormatInt(c.BodySize(), 10))
				}
			},
		})
	})
	templates := []string{
		"GET /ok HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET /p?x=1 HTTP/1.1\r\nHost: a\r\nAccept-Encoding: gzip, br;q=0.5\r\n\r\n",
		"GET /s HTTP/1.1\r\nHost: a\r\nIf-None-Match: \"x\"\r\nAccept-Encoding: gzip\r\n\r\n",
		"GET /u/42/x?q=%41+b HTTP/1.1\r\nHost: a:80\r\nX-Test: t\r\nUser-Agent: fuzz\r\n\r\n",
		"GET /r/abc HTTP/1.1\r\nHost: [::1]:8080\r\nCookie: k=v; j=w\r\n\r\n",
		"POST /post HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello",
		"POST /stream HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n0\r\nTrailer: x\r\n\r\n",
		"POST /post HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
		"GET /ok HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
		"GET /ok HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
		"POST /post HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabc",
		"DELETE /nope HTTP/1.1\r\nHost: a\r\n\r\n",
	}
	inserts := []string{"\r", "\n", "\r\n", " ", "\t", "\x00", ":", "%", "%zz", "chunked", "\r\n\r\n",
		"Content-Length: 9\r\n", "Transfer-Encoding: chunked\r\n", "Content-Length: 99999999999\r\n", "\xff\xfe", "HTTP/1.1"}
	rng := rand.New(rand.NewPCG(20240601, 7))
	gen := func() []byte {
		switch k := rng.IntN(10); {
		case k < 4: // uniform random bytes
			b := make([]byte, 1+rng.IntN(300))
			for i := range b {
				b[i] = byte(rng.Uint32())
			}
			return b
		case k < 5: // printable junk with line breaks
			b := make([]byte, 1+rng.IntN(300))
			for i := range b {
				if rng.IntN(12) == 0 {
					b[i] = '\n'
				} else {
					b[i] = byte(0x20 + rng.IntN(0x5f))
				}
			}
			return b
		case k < 6: // a valid request followed by junk
			b := []byte(templates[rng.IntN(len(templates))])
			for range rng.IntN(40) {
				b = append(b, byte(rng.Uint32()))
			}
			return b
		default: // mutated valid requests, sometimes pipelined
			b := []byte(templates[rng.IntN(len(templates))])
			if rng.IntN(4) == 0 {
				b = append(b, templates[rng.IntN(len(templates))]...)
			}
			for range 1 + rng.IntN(4) {
				if len(b) == 0 {
					break
				}
				i := rng.IntN(len(b))
				switch rng.IntN(6) {
				case 0:
					b[i] = byte(rng.Uint32())
				case 1:
					b = append(b[:i], b[i+1:]...)
				case 2:
					b = append(b[:i], append([]byte(inserts[rng.IntN(len(inserts))]), b[i:]...)...)
				case 3:
					j := i + rng.IntN(len(b)-i)
					b = append(b[:j], append(bytes.Clone(b[i:j]), b[j:]...)...)
				case 4:
					b[i] ^= 0x20 // case flip
				case 5:
					if rng.IntN(4) == 0 {
						b = b[:i] // truncation: incomplete, answered 408 later
					}
				}
			}
			return b
		}
	}
	const total = 3000
	payloads := make([][]byte, total)
	for i := range payloads {
		payloads[i] = gen()
	}

	var outcomes sync.Map // outcome -> *atomic.Int64
	count := func(k string) {
		v, _ := outcomes.LoadOrStore(k, new(atomic.Int64))
		v.(*atomic.Int64).Add(1)
	}
	var failures atomic.Int64
	sem := make(chan struct{}, 100)
	var wg sync.WaitGroup
	for i, p := range payloads {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			outcome, bad := hostileGarbageOne(addr, p, 2*cfg.ReadTimeout+4*time.Second)
			count(outcome)
			if bad && failures.Add(1) <= 10 {
				t.Errorf("payload %d %q: %s", i, p, outcome)
			}
		}()
	}
	wg.Wait()
	var summary []string
	outcomes.Range(func(k, v any) bool {
		summary = append(summary, fmt.Sprintf("%s=%d", k, v.(*atomic.Int64).Load()))
		return true
	})
	t.Logf("outcomes: %s", strings.Join(summary, " "))
	if n := failures.Load(); n > 0 {
		t.Errorf("%d of %d garbage connections misbehaved", n, total)
	}

	// The server still serves, and every connection is released.
	p := hostileStartProbe(addr)
	time.Sleep(300 * time.Millisecond)
	p.finish(t, time.Second)
	if !hostileWait(2*cfg.IdleTimeout+3*time.Second, func() bool { return srv.Stats().Open == 0 }) {
		t.Errorf("%d connections still open after the garbage run", srv.Stats().Open)
	}
}

// hostileGarbageOne sends p on a fresh connection and classifies what
// comes back. bad reports a hang or a malformed response.
func hostileGarbageOne(addr string, p []byte, limit time.Duration) (outcome string, bad bool) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return "dial error " + err.Error(), true
	}
	defer c.Close()
	deadline := time.Now().Add(limit)
	c.SetDeadline(deadline)
	if _, err := c.Write(p); err != nil {
		return "write error", false // the server may have answered and closed already
	}
	method := "GET"
	if bytes.HasPrefix(p, []byte("HEAD ")) {
		method = "HEAD"
	}
	br := bufio.NewReader(c)
	n := 0
	for {
		if _, err := br.Peek(1); err != nil {
			switch how := hostileHow(err); {
			case how == "eof" && n == 0:
				return "closed without response", false
			case how == "eof":
				return "responses then close", false
			case how == "reset" && n == 0:
				return "reset without response", false
			case how == "reset":
				return "responses then reset", false
			case how == "timeout" && n > 0:
				return "keep-alive (idle)", false
			case how == "timeout":
				return "hang: no response and no close", true
			default:
				return "read error " + how, true
			}
		}
		resp, err := http.ReadResponse(br, &http.Request{Method: method})
		if err != nil {
			return "malformed or truncated response: " + err.Error(), true
		}
		if _, err := io.Copy(io.Discard, resp.Body); err != nil {
			return "bad response body: " + err.Error(), true
		}
		if resp.StatusCode < 100 || resp.StatusCode > 599 {
			return "bad status " + resp.Status, true
		}
		if resp.StatusCode >= 200 {
			n++
		}
		if resp.Close {
			if _, err := br.Peek(1); hostileHow(err) != "eof" && hostileHow(err) != "reset" {
				return "data or no close after Connection: close: " + hostileHow(err), true
			}
			if resp.StatusCode >= 400 {
				return "error response then close", false
			}
			return "responses then close", false
		}
		if resp.StatusCode >= 200 {
			// More responses (pipelined) come at once; otherwise the
			// connection is idle and that is fine.
			c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		}
	}
}
