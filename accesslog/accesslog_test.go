package accesslog

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edge-rt/edge/observe"
)

var sample = observe.Request{
	Listener:   "127.0.0.1:8443",
	HostGroup:  "example.com",
	Route:      "/api/*",
	Host:       []byte("example.com"),
	Method:     []byte("GET"),
	Target:     []byte("/api/x?q=\"a\"\x01é"),
	Status:     200,
	BytesOut:   1234,
	Duration:   1500 * time.Microsecond,
	Remote:     netip.MustParseAddrPort("[::1]:5000"),
	TLSVersion: 0x0304,
	JA4:        "t13d1516h2_8daaf6152771_b186095e22b6",
}

func TestText(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 2, 20, 30, 0, 0, time.UTC)
	got := string(appendText(nil, &sample, now))
	want := `[::1]:5000 - - [02/Dec/2026:20:30:00 +0000] "GET /api/x?q=\x22a\x22\x01\xc3\xa9 HTTP/1.1" 200 1234 "example.com" 0.001500 tls=1.3 ja4=t13d1516h2_8daaf6152771_b186095e22b6` + "\n"
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	plain := observe.Request{Method: []byte("HEAD"), Target: []byte("/"), Status: 404}
	if got := string(appendText(nil, &plain, now)); !strings.HasPrefix(got, `- - - [`) || strings.Contains(got, "tls=") {
		t.Errorf("plain: %s", got)
	}
}

func TestJSON(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 2, 20, 30, 0, 5, time.UTC)
	for _, target := range []string{string(sample.Target), "/\xff\xfe", "/\u2028\\\"\x7f\t"} {
		r := sample
		r.Target = []byte(target)
		line := appendJSON(nil, &r, now)
		var v map[string]any
		if err := json.Unmarshal(line, &v); err != nil {
			t.Fatalf("%s: %v", line, err)
		}
		want := string([]rune(target)) // each invalid byte becomes U+FFFD
		if v["target"] != want || v["remote"] != "[::1]:5000" || v["status"] != 200.0 || v["bytes"] != 1234.0 ||
			v["duration"] != 0.0015 || v["tls"] != "1.3" || v["ja4"] != sample.JA4 || v["time"] != "2026-12-02T20:30:00.000000005Z" ||
			v["host"] != "example.com" || v["method"] != "GET" || v["route"] != "/api/*" {
			t.Errorf("%s decoded to %v", line, v)
		}
	}
}

// syncBuf is a writer the test reads while the log writes.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestFileAndReopen(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "access.log")
	l, err := New(Config{Path: path, Format: JSON})
	if err != nil {
		t.Fatal(err)
	}
	for range 10 {
		l.Request(&sample)
	}
	// logrotate: move the file, then ask for a reopen.
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	if err := l.Reopen(); err != nil {
		t.Fatal(err)
	}
	for range 5 {
		l.Request(&sample)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]int{path + ".1": 10, path: 5} {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		if n := bytes.Count(b, []byte("\n")); n != want {
			t.Errorf("%s: %d lines, want %d", name, n, want)
		}
	}
	if l.Dropped() != 0 || l.Written() != 15 {
		t.Errorf("dropped %d written %d, want 0 and 15", l.Dropped(), l.Written())
	}
}

// blockingWriter blocks every write until released: a stuck disk.
type blockingWriter struct {
	release chan struct{}
	syncBuf
}

func (w *blockingWriter) Write(p []byte) (int, error) {
	<-w.release
	return w.syncBuf.Write(p)
}

// TestNeverBlocks: with the output stuck, Request returns at once and
// counts drops beyond the buffers; nothing is lost once it unsticks.
func TestNeverBlocks(t *testing.T) {
	t.Parallel()
	w := &blockingWriter{release: make(chan struct{})}
	l, err := New(Config{Output: w, Buffers: 8})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		for range 1000 {
			l.Request(&sample)
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Request blocked on a stuck output")
	}
	// At most the 8 buffers (and the one line in the writer's hands) are kept.
	if d := l.Dropped(); d < 1000-9 {
		t.Errorf("dropped %d of 1000 with 8 buffers and a stuck output", d)
	}
	close(w.release)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	kept := 1000 - int(l.Dropped())
	if n := strings.Count(w.String(), "\n"); n != kept {
		t.Errorf("%d lines written, want the %d not dropped", n, kept)
	}
}

func TestStderrDefault(t *testing.T) {
	t.Parallel()
	l, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	if l.out != os.Stderr {
		t.Error("empty Path does not write to stderr")
	}
	if err := l.Reopen(); err != nil {
		t.Errorf("Reopen on stderr: %v", err)
	}
	l.Close()
	if _, err := New(Config{Path: filepath.Join(t.TempDir(), "no", "such", "dir")}); err == nil {
		t.Error("New with an unwritable path did not fail")
	}
}

func TestZeroAllocs(t *testing.T) {
	w := &syncBuf{}
	for _, f := range []Format{Text, JSON} {
		l, err := New(Config{Output: w, Format: f, Buffers: 1 << 14})
		if err != nil {
			t.Fatal(err)
		}
		l.Request(&sample)
		if n := testing.AllocsPerRun(1000, func() { l.Request(&sample) }); n != 0 {
			t.Errorf("format %d: %v allocations per Request, want 0", f, n)
		}
		l.Close()
	}
}

func BenchmarkRequest(b *testing.B) {
	for _, tc := range []struct {
		name string
		f    Format
	}{{"text", Text}, {"json", JSON}} {
		b.Run(tc.name, func(b *testing.B) {
			f, err := os.Create(filepath.Join(b.TempDir(), "access.log"))
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			l, err := New(Config{Output: f, Format: tc.f})
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					l.Request(&sample)
				}
			})
			l.Close()
			b.ReportMetric(float64(l.Dropped())/float64(b.N), "dropped/op")
		})
	}
}

func FuzzJSONString(f *testing.F) {
	for _, s := range []string{"", "abc", "\"\\", "\x00\x1f\x7f", "\xff", "é\u2028", "\xed\xa0\x80"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var got string
		if err := json.Unmarshal(appendJSONString(nil, b), &got); err != nil {
			t.Fatalf("%q: %v", b, err)
		}
		if want := string([]rune(string(b))); got != want {
			t.Fatalf("%q decoded to %q, want %q", b, got, want)
		}
	})
}

// BenchmarkFormat is the formatting cost alone (BenchmarkRequest, with the
// writer slower than the callers, mostly measures the drop path).
func BenchmarkFormat(b *testing.B) {
	buf := make([]byte, 0, 1024)
	now := time.Now()
	b.Run("text", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			buf = appendText(buf[:0], &sample, now)
		}
	})
	b.Run("json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			buf = appendJSON(buf[:0], &sample, now)
		}
	})
}
