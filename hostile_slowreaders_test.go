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
// 2. Slow readers: memory stays bounded while output is blocked, the write
// timeout closes them, and others are unaffected.

// TestHostileSlowReaderStatic: 50 clients pipeline 20 requests each for a
// 4 MiB static content (sent by reference) and never read.
func TestHostileSlowReaderStatic(t *testing.T) {
	t.Parallel()
	if !hostileChild(t) {
		return
	}
	data := make([]byte, 4<<20)
	for i := range data {
		data[i] = byte(i * 7)
	}
	big := static.New(data, "image/png") // incompressible type: identity only
	data = nil
	cfg := hostileConfig()
	cfg.WriteTimeout = 3 * time.Second
	srv, addr := hostileServer(t, cfg, func(s *Server, l *Listener) {
		l.Get("/big", func(c *Ctx) { c.Content(big) })
	})
	hostileSlowReaders(t, srv, addr, cfg, 50, 20, "/big", 64<<20, true)
}

// TestHostileSlowReaderCopied: 4 clients pipeline 300 requests each (10 KB
// of input, one read) for a 64 KiB body answered with Ctx.Send (copied)
// and never read. A server that answers every pipelined request of a read
// before looking at its output keeps 300 x 64 KiB per connection (and its
// loop is busy copying meanwhile).
func TestHostileSlowReaderCopied(t *testing.T) {
	t.Parallel()
	if !hostileChild(t) {
		return
	}
	body := bytes.Repeat([]byte("0123456789abcdef"), 4096) // 64 KiB
	cfg := hostileConfig()
	cfg.WriteTimeout = 5 * time.Second
	srv, addr := hostileServer(t, cfg, func(s *Server, l *Listener) {
		l.Get("/send", func(c *Ctx) { c.Send(200, "application/octet-stream", body) })
	})
	hostileSlowReaders(t, srv, addr, cfg, 4, 300, "/send", 32<<20, false)
}

func hostileSlowReaders(t *testing.T, srv *Server, addr string, cfg Config, nclients, depth int, path string, maxGrowth uint64, checkWriteTimeout bool) {
	base := hostileHeapInuse()
	closedBefore := srv.Stats().Closed["write_timeout"]
	probe := hostileStartProbe(addr)
	req := "GET " + path + " HTTP/1.1\r\nHost: a\r\n\r\n"
	burst := strings.Repeat(req, depth)
	conns := make([]net.Conn, nclients)
	for i := range conns {
		conns[i] = hostileDialSmallRcvbuf(t, addr)
		if _, err := io.WriteString(conns[i], burst); err != nil {
			t.Fatalf("client %d: write: %v", i, err)
		}
	}
	// Let the server take in whatever it is willing to take in: wait until
	// it parses no more of these requests (the probe's aside) for 300 ms.
	sent := time.Now()
	attack := func() int64 { return int64(srv.Stats().Requests) - probe.sent.Load() }
	last, lastChange := attack(), time.Now()
	hostileWait(5*time.Second, func() bool {
		if r := attack(); r > last+1 {
			last, lastChange = r, time.Now()
		}
		return last >= int64(nclients*depth) || time.Since(lastChange) > 300*time.Millisecond
	})
	peak := hostileHeapInuse()
	st := srv.Stats()
	t.Logf("heap in use: %d MiB before, %d MiB with %d stalled readers (requests parsed %d, bytes out %d MiB)",
		base>>20, peak>>20, nclients, st.Requests, st.BytesOut>>20)
	if since := time.Since(sent); since >= cfg.WriteTimeout {
		t.Logf("warning: measured %v after the burst, the write timeout may have fired already", since)
	}
	if peak > base && peak-base > maxGrowth {
		t.Errorf("heap grew by %d MiB with %d stalled readers (bound %d MiB): output for pipelined requests is not bounded",
			(peak-base)>>20, nclients, maxGrowth>>20)
	}

	if !checkWriteTimeout {
		for _, c := range conns {
			c.Close()
		}
		probe.finish(t, 3*time.Second)
		return
	}
	// The write timeout closes every stalled reader.
	if !hostileWait(2*cfg.WriteTimeout+3*time.Second, func() bool {
		return srv.Stats().Closed["write_timeout"]-closedBefore >= uint64(nclients)
	}) {
		t.Errorf("write timeout closed %d of %d stalled readers", srv.Stats().Closed["write_timeout"]-closedBefore, nclients)
	}
	t.Logf("stalled readers closed by the write timeout %v after the burst", time.Since(sent))
	// (Reading them to EOF would drain megabytes of orphaned kernel
	// buffers through tiny windows: count open connections instead; the
	// probe holds at most one.)
	if open := srv.Stats().Open; open > 1 {
		t.Errorf("%d connections still open after the write timeout", open)
	}
	for _, c := range conns {
		c.Close()
	}
	probe.finish(t, 3*time.Second)
	after := hostileHeapInuse()
	t.Logf("heap in use after the readers were closed: %d MiB", after>>20)
}
