package edge

import (
	"bufio"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/edge-rt/edge/static"
)

// Development static files (static.Dir) larger than static.StreamThreshold
// are sent from disk as the client reads them (phase_file.go).

// devWriteFile writes size bytes of compressible text to dir/name without
// holding them in memory, and returns the file's path and SHA-256. The
// text is words picked at random (gzip takes it to about a third); each
// 64 KiB piece starts with its number, so that a piece sent twice, lost
// or out of order changes the hash.
func devWriteFile(t testing.TB, dir, name string, size int64) (string, [32]byte) {
	t.Helper()
	p := filepath.Join(dir, name)
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	words := strings.Fields("the quick brown fox jumps over lazy dog edge static file body chunk socket loop worker " +
		"sendfile gzip stream reader writer buffer offset length header request response connection close")
	r := rand.New(rand.NewPCG(uint64(size), 7))
	var base []byte
	for len(base) < 256<<10 {
		if r.IntN(12) == 0 {
			base = strconv.AppendInt(base, int64(r.IntN(100000)), 10)
			base = append(base, '\n')
		} else {
			base = append(base, words[r.IntN(len(words))]...)
			base = append(base, ' ')
		}
	}
	h := sha256.New()
	bw := bufio.NewWriterSize(io.MultiWriter(f, h), 64<<10)
	const piece = 64 << 10
	buf := make([]byte, 0, piece)
	for i, n := int64(0), int64(0); n < size; i++ {
		b := fmt.Appendf(buf[:0], "%08d\n", i)
		off := int(i*4099) % (len(base) - piece)
		b = append(b, base[off:off+piece-len(b)]...)
		b = b[:min(int64(len(b)), size-n)]
		bw.Write(b)
		n += int64(len(b))
	}
	if err := bw.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	var sum [32]byte
	h.Sum(sum[:0])
	return p, sum
}

// devOpenCount counts this process's descriptors open on the file path
// (robust while other tests open and close descriptors).
func devOpenCount(t testing.TB, path string) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range ents {
		if target, err := os.Readlink("/proc/self/fd/" + e.Name()); err == nil && target == path {
			n++
		}
	}
	return n
}

// devDirServer serves dir under "/" (Routes.Static with a static.Dir) on a
// plain or TLS listener and returns a dial function.
func devDirServer(t *testing.T, cfg Config, dir string, withTLS bool) (*Server, func() net.Conn) {
	t.Helper()
	d, err := static.NewDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	setup := func(s *Server, l *Listener) {
		l.Get("/ok", func(c *Ctx) { c.Text(200, "ok") })
		l.Any().Static("/", d)
	}
	if !withTLS {
		srv, addr := testServer(t, cfg, setup)
		return srv, func() net.Conn {
			c, err := net.DialTimeout("tcp", addr, 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			c.SetDeadline(time.Now().Add(30 * time.Second))
			t.Cleanup(func() { c.Close() })
			return c
		}
	}
	srv, addr, pool := tlsTestServer(t, cfg, setup)
	return srv, func() net.Conn {
		c := tlsDial(t, addr, "a.test", pool)
		c.SetDeadline(time.Now().Add(30 * time.Second))
		t.Cleanup(func() { c.Close() })
		return c
	}
}

// TestDevStaticLargeFile: on plain and TLS listeners, a file over the
// threshold arrives intact (SHA-256), uncompressed though gzip is accepted,
// with Content-Length from stat, a weak ETag and Last-Modified; HEAD sends
// the head only; If-None-Match gets 304; requests pipelined behind the
// file are answered after it, in order, on the same connection; a small
// file keeps its gzip variant and strong ETag.
func TestDevStaticLargeFile(t *testing.T) {
	t.Parallel()
	for _, withTLS := range []bool{false, true} {
		t.Run(map[bool]string{false: "plain", true: "tls"}[withTLS], func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			const size = 3<<20 + 123
			bigPath, sum := devWriteFile(t, dir, "big.txt", size)
			_, smallSum := devWriteFile(t, dir, "small.txt", 64<<10)
			fi, err := os.Stat(bigPath)
			if err != nil {
				t.Fatal(err)
			}
			_, dial := devDirServer(t, Config{Workers: 1}, dir, withTLS)
			c := dial()
			br := bufio.NewReader(c)
			const ae = "Accept-Encoding: gzip, br\r\n"
			if _, err := io.WriteString(c, "GET /big.txt HTTP/1.1\r\nHost: a.test\r\n"+ae+"\r\n"+
				"GET /small.txt HTTP/1.1\r\nHost: a.test\r\n"+ae+"\r\n"+
				"HEAD /big.txt HTTP/1.1\r\nHost: a.test\r\n"+ae+"\r\n"+
				"GET /ok HTTP/1.1\r\nHost: a.test\r\n\r\n"); err != nil {
				t.Fatal(err)
			}
			read := func(method string) (*http.Response, []byte) {
				t.Helper()
				resp, err := http.ReadResponse(br, &http.Request{Method: method})
				if err != nil {
					t.Fatal(err)
				}
				body, err := io.ReadAll(resp.Body)
				if err != nil {
					t.Fatal(err)
				}
				return resp, body
			}

			resp, body := read("GET")
			etag := resp.Header.Get("ETag")
			if resp.StatusCode != 200 || resp.ContentLength != size || len(body) != size || sha256.Sum256(body) != sum {
				t.Fatalf("big: status %d, Content-Length %d, %d bytes, intact %v", resp.StatusCode, resp.ContentLength, len(body), sha256.Sum256(body) == sum)
			}
			if enc := resp.Header.Get("Content-Encoding"); enc != "" {
				t.Errorf("big: Content-Encoding %q, want none", enc)
			}
			if !strings.HasPrefix(etag, `W/"`) || resp.Header.Get("Vary") != "" {
				t.Errorf("big: ETag %q (want weak), Vary %q (want none)", etag, resp.Header.Get("Vary"))
			}
			if lm, err := http.ParseTime(resp.Header.Get("Last-Modified")); err != nil || !lm.Equal(fi.ModTime().Truncate(time.Second)) {
				t.Errorf("big: Last-Modified %q (%v), file %v", resp.Header.Get("Last-Modified"), err, fi.ModTime())
			}
			if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
				t.Errorf("big: Content-Type %q", ct)
			}

			resp, body = read("GET")
			if resp.Header.Get("Content-Encoding") != "gzip" || strings.HasPrefix(resp.Header.Get("ETag"), "W/") {
				t.Errorf("small: Content-Encoding %q, ETag %q: want gzip and a strong ETag", resp.Header.Get("Content-Encoding"), resp.Header.Get("ETag"))
			} else if zr, err := gzip.NewReader(strings.NewReader(string(body))); err != nil {
				t.Error(err)
			} else if plain, err := io.ReadAll(zr); err != nil || sha256.Sum256(plain) != smallSum {
				t.Errorf("small: gunzipped body differs (%v)", err)
			}

			resp, body = read("HEAD")
			if resp.StatusCode != 200 || resp.Header.Get("Content-Length") != strconv.Itoa(size) || len(body) != 0 || resp.Header.Get("ETag") != etag {
				t.Errorf("HEAD: status %d, Content-Length %q, %d body bytes, ETag %q", resp.StatusCode, resp.Header.Get("Content-Length"), len(body), resp.Header.Get("ETag"))
			}
			if resp, body = read("GET"); string(body) != "ok" {
				t.Errorf("request pipelined after the file: %d %q", resp.StatusCode, body)
			}

			// Revalidation with the weak ETag (and with its opaque part).
			for _, inm := range []string{etag, strings.TrimPrefix(etag, "W/"), `"x", ` + etag} {
				if _, err := io.WriteString(c, "GET /big.txt HTTP/1.1\r\nHost: a.test\r\nIf-None-Match: "+inm+"\r\n\r\n"); err != nil {
					t.Fatal(err)
				}
				if resp, body = read("GET"); resp.StatusCode != 304 || len(body) != 0 || resp.Header.Get("ETag") != etag {
					t.Errorf("If-None-Match %s: status %d, %d body bytes, ETag %q", inm, resp.StatusCode, len(body), resp.Header.Get("ETag"))
				}
			}
			// The connection is still usable, and a second copy is intact.
			if _, err := io.WriteString(c, "GET /big.txt HTTP/1.1\r\nHost: a.test\r\n\r\n"); err != nil {
				t.Fatal(err)
			}
			if resp, body = read("GET"); sha256.Sum256(body) != sum {
				t.Errorf("second GET: status %d, %d bytes, not intact", resp.StatusCode, len(body))
			}
			if !waitFor(5*time.Second, func() bool { return devOpenCount(t, bigPath) == 0 }) {
				t.Errorf("%d descriptors still open on the file after its responses", devOpenCount(t, bigPath))
			}
		})
	}
}

// waitFor polls cond every 10 ms until it holds or d passes.
func waitFor(d time.Duration, cond func() bool) bool {
	return hostileWait(d, cond)
}

// TestDevStaticFileClosedOnDisconnect: clients that go away in the middle
// of a file body (a FIN, or a reset) leave no descriptor open on the file,
// on plain and TLS listeners.
func TestDevStaticFileClosedOnDisconnect(t *testing.T) {
	t.Parallel()
	for _, withTLS := range []bool{false, true} {
		t.Run(map[bool]string{false: "plain", true: "tls"}[withTLS], func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			path, _ := devWriteFile(t, dir, "big.txt", 8<<20)
			srv, dial := devDirServer(t, Config{Workers: 2, WriteTimeout: time.Minute}, dir, withTLS)
			const n = 6
			conns := make([]net.Conn, n)
			for i := range conns {
				conns[i] = dial()
				if _, err := io.WriteString(conns[i], "GET /big.txt HTTP/1.1\r\nHost: a.test\r\nAccept-Encoding: gzip\r\n\r\n"); err != nil {
					t.Fatal(err)
				}
				// Some of the body, not all of it.
				if _, err := io.ReadFull(conns[i], make([]byte, 64<<10)); err != nil {
					t.Fatal(err)
				}
			}
			if got := devOpenCount(t, path); got != n {
				t.Fatalf("%d descriptors open on the file with %d bodies in flight, want %d", got, n, n)
			}
			for i, c := range conns {
				if tc, ok := c.(*net.TCPConn); ok && i%2 == 1 {
					tc.SetLinger(0) // a reset rather than a FIN
				}
				c.Close()
			}
			if !waitFor(5*time.Second, func() bool { return devOpenCount(t, path) == 0 }) {
				t.Errorf("%d descriptors still open on the file after its clients left", devOpenCount(t, path))
			}
			if !waitFor(5*time.Second, func() bool { return srv.Stats().Open == 0 }) {
				t.Errorf("%d connections still open", srv.Stats().Open)
			}
		})
	}
}

// TestDevStaticShutdownFileInFlight: Shutdown lets a file body being read
// finish (then the connection closes), cuts one whose client stopped
// reading at the deadline, and leaves no descriptor open on the file.
func TestDevStaticShutdownFileInFlight(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	const size = 8 << 20
	path, sum := devWriteFile(t, dir, "big.txt", size)
	d, err := static.NewDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	for _, stalled := range []bool{false, true} {
		srv := New(&Config{Workers: 1, WriteTimeout: time.Minute})
		l := srv.Listen("tcp", "127.0.0.1:0")
		l.Any().Static("/", d)
		if err := srv.Start(); err != nil {
			t.Fatal(err)
		}
		c, err := net.DialTimeout("tcp", l.Addr().String(), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(30 * time.Second))
		if _, err := io.WriteString(c, "GET /big.txt HTTP/1.1\r\nHost: a\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		br := bufio.NewReaderSize(c, 4096)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		first := make([]byte, 64<<10)
		if _, err := io.ReadFull(resp.Body, first); err != nil {
			t.Fatal(err)
		}
		timeout := 20 * time.Second
		if stalled {
			timeout = 300 * time.Millisecond
		}
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		done := make(chan error, 1)
		go func() { done <- srv.Shutdown(ctx) }()
		if !stalled {
			h := sha256.New()
			h.Write(first)
			n, err := io.Copy(h, resp.Body)
			if err != nil || n+int64(len(first)) != size || [32]byte(h.Sum(nil)) != sum {
				t.Errorf("draining: %d bytes (%v), intact %v", n+int64(len(first)), err, [32]byte(h.Sum(nil)) == sum)
			}
			if _, err := br.ReadByte(); err != io.EOF {
				t.Errorf("after the body during shutdown: %v, want EOF", err)
			}
		}
		select {
		case err := <-done:
			if stalled && err == nil {
				t.Errorf("stalled: Shutdown returned nil, want the cut request reported")
			}
			if !stalled && err != nil {
				t.Errorf("drained: Shutdown: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("stalled %v: Shutdown did not return", stalled)
		}
		cancel()
		c.Close()
		if !waitFor(5*time.Second, func() bool { return devOpenCount(t, path) == 0 }) {
			t.Errorf("stalled %v: %d descriptors still open on the file after Shutdown", stalled, devOpenCount(t, path))
		}
	}
}
