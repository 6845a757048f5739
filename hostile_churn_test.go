package edge

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// ---------------------------------------------------------------------------
// 7. Connection churn.

// TestHostileChurn: 5,000 connect / request / close cycles of various
// shapes over 8 goroutines. Every connection is released: Stats().Open
// returns to 0 and no descriptor leaks.
func TestHostileChurn(t *testing.T) {
	// Not parallel: it counts the process's descriptors.
	cfg := hostileConfig()
	srv, addr := hostileServer(t, cfg, nil)
	countFDs := func() int {
		ents, err := os.ReadDir("/proc/self/fd")
		if err != nil {
			t.Skip("no /proc/self/fd")
		}
		return len(ents)
	}
	// Warm up (the runtime's own descriptors, the free lists).
	for range 20 {
		c := hostileDial(t, addr)
		io.WriteString(c, "GET /ok HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
		hostileReadAll(c, 5*time.Second)
		c.Close()
	}
	hostileWait(3*time.Second, func() bool { return srv.Stats().Open == 0 })
	before := countFDs()

	const total, workers = 5000, 8
	var next atomic.Int64
	var errs atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= total {
					return
				}
				if err := hostileChurnOne(addr, int(i)); err != nil && errs.Add(1) <= 5 {
					t.Errorf("cycle %d (shape %d): %v", i, i%6, err)
				}
			}
		}()
	}
	wg.Wait()
	if !hostileWait(5*time.Second, func() bool { return srv.Stats().Open == 0 }) {
		t.Errorf("Stats().Open = %d after the churn, want 0", srv.Stats().Open)
	}
	var after int
	if !hostileWait(5*time.Second, func() bool { after = countFDs(); return after <= before+5 }) {
		t.Errorf("descriptor leak: %d open before the churn, %d after", before, after)
	}
	st := srv.Stats()
	t.Logf("accepted %d, requests %d, closed %v", st.Accepted, st.Requests, st.Closed)
}

func hostileChurnOne(addr string, i int) error {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	switch i % 6 {
	case 0: // Connection: close, read to EOF
		io.WriteString(c, "GET /ok HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
		data, how := hostileReadAll(c, 5*time.Second)
		if how != "eof" || !bytes.HasPrefix(data, []byte("HTTP/1.1 200 ")) {
			return fmt.Errorf("got %q, %s", data, how)
		}
	case 1: // keep-alive, client closes after the response
		io.WriteString(c, "GET /ok HTTP/1.1\r\nHost: a\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			return err
		}
		resp.Body.Close()
	case 2: // partial head, then close
		io.WriteString(c, "GET /ok HTTP/1.1\r\nHo")
	case 3: // connect and close at once
	case 4: // keep-alive, then an abortive close (RST)
		io.WriteString(c, "GET /ok HTTP/1.1\r\nHost: a\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			return err
		}
		resp.Body.Close()
		c.(*net.TCPConn).SetLinger(0)
	case 5: // garbage: error response and linger, client closes at once
		io.WriteString(c, "\x16\x03\x01garbage\r\n\r\n")
		c.(*net.TCPConn).SetLinger(0)
	}
	return nil
}
