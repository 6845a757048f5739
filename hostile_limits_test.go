package edge

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// ---------------------------------------------------------------------------
// Timeouts and limits beyond the list.

// TestHostileReadDeadlinePerHead: the read deadline runs from the first
// byte of each head. A client pipelining slowly, each head within
// ReadTimeout, must not get a 408 because the previous head started long
// ago.
func TestHostileReadDeadlinePerHead(t *testing.T) {
	t.Parallel()
	cfg := hostileConfig()
	cfg.ReadTimeout = 3 * time.Second // margins of 1 s: robust on a loaded machine
	_, addr := hostileServer(t, cfg, nil)
	c := hostileDial(t, addr)
	io.WriteString(c, "GET /ok HTTP/1.1\r\nHo") // head 1 starts at t0
	time.Sleep(2 * time.Second)
	io.WriteString(c, "st: a\r\n\r\nGET /ok HTTP/1.1\r\nHo") // head 1 ends, head 2 starts at t0+2s
	time.Sleep(2 * time.Second)
	io.WriteString(c, "st: a\r\nConnection: close\r\n\r\n") // head 2 took 2 s < ReadTimeout
	data, how := hostileReadAll(c, 5*time.Second)
	rs, err := hostileParse(data, "GET")
	if err != nil || fmt.Sprint(hostileStatuses(rs)) != "[200 200]" {
		t.Errorf("got statuses %v (%v, %s), want [200 200]: the second head was timed out from the first head's start\n%q",
			hostileStatuses(rs), err, how, data)
	}
}

// TestHostileLargeHeaderLimits: limits configured above the 64 KiB read
// buffer. A head that fills the buffer must get an answer (431, or 200
// if it is served), never crash the process.
func TestHostileLargeHeaderLimits(t *testing.T) {
	t.Parallel()
	if !hostileChild(t) {
		return
	}
	cfg := hostileConfig()
	cfg.MaxHeaderBytes = 1 << 20
	cfg.MaxRequestLine = 1 << 20
	_, addr := hostileServer(t, cfg, nil)
	for _, tc := range []struct{ name, raw string }{
		{"header", "GET /ok HTTP/1.1\r\nHost: a\r\nX-Big: " + strings.Repeat("h", 100<<10) + "\r\n\r\n"},
		{"request line", "GET /ok?" + strings.Repeat("q", 100<<10) + " HTTP/1.1\r\nHost: a\r\n\r\n"},
	} {
		c := hostileDial(t, addr)
		c.SetDeadline(time.Now().Add(5 * time.Second))
		// In pieces, so that the server holds a partial head between reads.
		for i := 0; i < len(tc.raw); i += 16 << 10 {
			io.WriteString(c, tc.raw[i:min(i+16<<10, len(tc.raw))])
			time.Sleep(20 * time.Millisecond)
		}
		data, how := hostileReadAll(c, 5*time.Second)
		if !bytes.HasPrefix(data, []byte("HTTP/1.1 200 ")) && !bytes.HasPrefix(data, []byte("HTTP/1.1 4")) {
			t.Errorf("%s: got %.80q (%s), want 200 or a 4xx", tc.name, data, how)
		}
	}
	p := hostileStartProbe(addr)
	time.Sleep(200 * time.Millisecond)
	p.finish(t, time.Second)
}

// TestHostileAcceptEMFILE: out of descriptors, the accept loop must back
// off (the listener is paused until the next tick) rather than retry
// accept4 in a busy loop; once descriptors are back, the waiting
// connections are served.
func TestHostileAcceptEMFILE(t *testing.T) {
	t.Parallel()
	if !hostileChild(t) {
		return
	}
	cfg := hostileConfig()
	srv, addr := hostileServer(t, cfg, nil)
	ap := netip.MustParseAddrPort(addr)
	sa := &unix.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().As4()}
	var socks []int
	for range 4 {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		socks = append(socks, fd)
	}
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd")
	}
	maxfd := 0
	for _, e := range ents {
		if n, err := strconv.Atoi(e.Name()); err == nil {
			maxfd = max(maxfd, n)
		}
	}
	var saved unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &saved); err != nil {
		t.Fatal(err)
	}
	lim := saved
	lim.Cur = uint64(maxfd + 8)
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		t.Skip("setrlimit:", err)
	}
	var fillers []int
	restore := func() {
		for _, fd := range fillers {
			unix.Close(fd)
		}
		fillers = nil
		unix.Setrlimit(unix.RLIMIT_NOFILE, &saved)
	}
	defer restore()
	for {
		fd, err := unix.Open("/dev/null", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			break
		}
		fillers = append(fillers, fd)
	}
	for _, fd := range socks {
		if err := unix.Connect(fd, sa); err != nil {
			restore()
			t.Fatalf("connect: %v", err)
		}
	}
	time.Sleep(300 * time.Millisecond)
	e0, cpu0, t0 := srv.Stats().AcceptErrors, hostileCPU(), time.Now()
	time.Sleep(time.Second)
	e1, cpu1, wall := srv.Stats().AcceptErrors, hostileCPU(), time.Since(t0)
	restore()
	t.Logf("out of descriptors for %v: %d failed accepts, %v CPU", wall, e1-e0, cpu1-cpu0)
	if e1 == 0 {
		t.Fatalf("the server never hit EMFILE; the test setup is wrong")
	}
	if e1-e0 > 20 {
		t.Errorf("%d failed accept calls in %v (CPU %v): the accept loop spins on EMFILE instead of pausing the listener", e1-e0, wall, cpu1-cpu0)
	}
	for i, fd := range socks {
		f := os.NewFile(uintptr(fd), "client")
		c, err := net.FileConn(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		io.WriteString(c, "GET /ok HTTP/1.1\r\nHost: a\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil || resp.StatusCode != 200 {
			t.Errorf("client %d after descriptors came back: %v", i, err)
		}
	}
}

// TestHostilePostPrealloc: 100 clients each send a POST head declaring a
// 1 MiB body (the limit) and one byte of it. The server must not set aside
// the declared size up front: that turns 60 bytes from each client into
// 1 MiB of heap (ClientMax x MaxBodySize in all).
func TestHostilePostPrealloc(t *testing.T) {
	t.Parallel()
	if !hostileChild(t) {
		return
	}
	cfg := hostileConfig()
	cfg.AllowPost = true
	cfg.ReadTimeout = 10 * time.Second
	srv, addr := hostileServer(t, cfg, func(s *Server, l *Listener) {
		l.Any().Post(Path("/up"), func(c *Ctx) { c.Text(200, strconv.Itoa(len(c.Body()))) })
	})
	base := hostileHeapInuse()
	const n = 100
	for range n {
		c := hostileDial(t, addr)
		io.WriteString(c, "POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: 1048576\r\n\r\nx")
	}
	if !hostileWait(5*time.Second, func() bool { return srv.Stats().Requests >= n }) {
		t.Fatalf("only %d requests parsed", srv.Stats().Requests)
	}
	peak := hostileHeapInuse()
	t.Logf("heap in use: %d MiB before, %d MiB with %d one-byte uploads in progress", base>>20, peak>>20, n)
	if peak > base && peak-base > 32<<20 {
		t.Errorf("heap grew by %d MiB for %d uploads that sent 1 byte each: body buffers are preallocated to Content-Length",
			(peak-base)>>20, n)
	}
}
