package edge

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edge-rt/edge/static"
)

// TestHostileDevStaticLargeFile: four clients that read slowly GET a
// 64 MiB file of a development static.Dir, gzip accepted, on a one-worker
// server. A server that reads and compresses the whole file per request on
// its loop holds the file (or its gzip variant) per client and stalls
// everyone else while it compresses (issue 7: 121 MB x 4 took RSS from
// 22 MB to 728 MB and stalled other clients 1.9 s). Sent from disk as each
// socket drains, the heap stays within a few chunks per client and a
// well-behaved client on the same worker is answered at once. Once the
// slow clients hang up in the middle, no descriptor stays open on the file.
func TestHostileDevStaticLargeFile(t *testing.T) {
	t.Parallel()
	if !hostileChild(t) {
		return
	}
	dir := t.TempDir()
	const size = 64 << 20
	path, _ := devWriteFile(t, dir, "big.txt", size)
	d, err := static.NewDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	cfg := hostileConfig()
	cfg.Workers = 1 // the probe shares the slow readers' loop
	cfg.WriteTimeout = time.Minute
	srv, addr := hostileServer(t, cfg, func(s *Server, l *Listener) {
		l.Any().Static("/files/", d)
	})

	base := hostileHeapInuse()
	probe := hostileStartProbe(addr)
	const nclients = 4
	type reader struct {
		got  atomic.Int64 // body bytes read
		head chan string  // the response head's summary, or an error
	}
	readers := make([]*reader, nclients)
	conns := make([]net.Conn, nclients)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := range readers {
		r := &reader{head: make(chan string, 1)}
		readers[i] = r
		c := hostileDialSmallRcvbuf(t, addr)
		conns[i] = c
		if _, err := io.WriteString(c, "GET /files/big.txt HTTP/1.1\r\nHost: a\r\nAccept-Encoding: gzip, deflate, br\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := http.ReadResponse(bufio.NewReaderSize(c, 4096), nil)
			if err != nil {
				r.head <- "error: " + err.Error()
				return
			}
			r.head <- fmt.Sprintf("%d length=%d encoding=%q etag=%q", resp.StatusCode, resp.ContentLength,
				resp.Header.Get("Content-Encoding"), resp.Header.Get("ETag"))
			buf := make([]byte, 16<<10)
			for {
				select {
				case <-stop:
					return
				case <-time.After(20 * time.Millisecond): // about 800 KB/s
				}
				n, err := resp.Body.Read(buf)
				r.got.Add(int64(n))
				if err != nil {
					return
				}
			}
		}()
	}
	// Every client is being served: its head and some body arrived.
	started := time.Now()
	ok := hostileWait(30*time.Second, func() bool {
		for _, r := range readers {
			if r.got.Load() < 256<<10 {
				return false
			}
		}
		return true
	})
	t.Logf("slow readers served after %v", time.Since(started))
	peak := hostileHeapInuse()
	t.Logf("heap in use: %d MiB before, %d MiB with %d slow readers of a %d MiB file", base>>20, peak>>20, nclients, size>>20)
	if !ok {
		t.Errorf("the slow readers were not all served within 30 s")
	}
	if peak > base && peak-base > 16<<20 {
		t.Errorf("heap grew by %d MiB with %d slow readers (bound 16 MiB): the file is held in memory per request",
			(peak-base)>>20, nclients)
	}
	probe.finish(t, 2*time.Second)
	for i, r := range readers {
		select {
		case h := <-r.head:
			if !strings.HasPrefix(h, fmt.Sprintf("200 length=%d encoding=\"\" etag=\"W/", size)) {
				t.Errorf("client %d: %s, want 200, the file's length, no encoding and a weak ETag", i, h)
			}
		default:
			t.Errorf("client %d: no response head", i)
		}
	}
	if n := devOpenCount(t, path); n != nclients {
		t.Errorf("%d descriptors open on the file with %d bodies in flight", n, nclients)
	}
	// The slow readers hang up in the middle of the body.
	close(stop)
	for _, c := range conns {
		c.Close()
	}
	wg.Wait()
	if !hostileWait(5*time.Second, func() bool { return devOpenCount(t, path) == 0 }) {
		t.Errorf("%d descriptors still open on the file after its clients left", devOpenCount(t, path))
	}
	if !hostileWait(5*time.Second, func() bool { return srv.Stats().Open == 0 }) {
		t.Errorf("%d connections still open after the clients left", srv.Stats().Open)
	}
}
