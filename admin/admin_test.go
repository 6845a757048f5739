package admin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func start(t *testing.T, cfg Config) *Server {
	t.Helper()
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	s.Handle("/hello", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hi") }))
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Error(err)
		}
	})
	return s
}

func get(t *testing.T, c *http.Client, url, token string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestListenChecks(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		listen string
		public bool
		ok     bool
	}{
		{"", false, true},
		{"127.0.0.1:0", false, true},
		{"127.1.2.3:0", false, true},
		{"[::1]:0", false, true},
		{"localhost:0", false, true},
		{":9090", false, false},
		{"0.0.0.0:9090", false, false},
		{"192.0.2.1:9090", false, false},
		{"example.com:9090", false, false},
		{":9090", true, true},
		{"127.0.0.1", false, false},
		{"127.0.0.1:99999", false, false},
		{"unix:", false, false},
		{"unix:/run/x.sock", false, true},
	} {
		_, err := New(Config{Listen: tc.listen, AllowPublic: tc.public})
		if (err == nil) != tc.ok {
			t.Errorf("New(%q, public=%v) = %v, want ok=%v", tc.listen, tc.public, err, tc.ok)
		}
		if !tc.ok && strings.Contains(tc.listen, "9090") && !tc.public && !errors.Is(err, ErrNotLoopback) && !strings.Contains(tc.listen, "99999") {
			t.Errorf("New(%q): %v, want ErrNotLoopback", tc.listen, err)
		}
	}
}

func TestToken(t *testing.T) {
	t.Parallel()
	s := start(t, Config{Listen: "127.0.0.1:0", Token: "s3cret"})
	url := "http://" + s.Addr().String() + "/hello"
	for _, tc := range []struct {
		token string
		want  int
	}{
		{"", 401},
		{"wrong", 401},
		{"s3cre", 401},
		{"s3cret!", 401},
		{"s3cret", 200},
	} {
		if code, _ := get(t, http.DefaultClient, url, tc.token); code != tc.want {
			t.Errorf("token %q: %d, want %d", tc.token, code, tc.want)
		}
	}
	// A scheme other than Bearer is refused.
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Authorization", "Basic s3cret")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 || resp.Header.Get("WWW-Authenticate") == "" {
		t.Errorf("Basic: %d %q, want 401 with WWW-Authenticate", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
}

func TestUnixSocket(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "admin.sock")
	// A stale socket from a process that ended is replaced.
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	ln.Close()
	s, err := New(Config{Listen: "unix:" + path})
	if err != nil {
		t.Fatal(err)
	}
	s.Handle("/hello", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hi") }))
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Type() != os.ModeSocket || fi.Mode().Perm() != 0o600 {
		t.Errorf("socket mode %v, want a socket with 0600", fi.Mode())
	}
	c := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", path)
	}}}
	if code, body := get(t, c, "http://admin/hello", ""); code != 200 || body != "hi" {
		t.Errorf("GET over unix: %d %q", code, body)
	}
	// A second server on the same live socket is refused.
	s2, _ := New(Config{Listen: "unix:" + path})
	if err := s2.Start(); err == nil {
		t.Error("second server on a live socket started")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(path); !os.IsNotExist(err) {
		t.Errorf("socket still there after Shutdown: %v", err)
	}
	// A regular file is never removed.
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	s3, _ := New(Config{Listen: "unix:" + path})
	if err := s3.Start(); err == nil {
		t.Error("started over a regular file")
	}
}

// TestShutdownWaits: a request in flight finishes during Shutdown.
func TestShutdownWaits(t *testing.T) {
	t.Parallel()
	s, err := New(Config{Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	entered := make(chan struct{})
	s.Handle("/slow", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		time.Sleep(200 * time.Millisecond)
		io.WriteString(w, "done")
	}))
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	result := make(chan string, 1)
	go func() {
		resp, err := http.Get("http://" + s.Addr().String() + "/slow")
		if err != nil {
			result <- err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		result <- string(b)
	}()
	<-entered
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if got := <-result; got != "done" {
		t.Errorf("request in flight got %q, want done", got)
	}
	if _, err := net.Dial("tcp", s.Addr().String()); err == nil {
		t.Error("still accepting after Shutdown")
	}
}

func ExampleServer() {
	a, err := New(Config{Listen: "127.0.0.1:0", Token: "secret"})
	if err != nil {
		panic(err)
	}
	a.Handle("GET /ping", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "pong") }))
	if err := a.Start(); err != nil {
		panic(err)
	}
	defer a.Shutdown(context.Background())
	resp, err := http.Get("http://" + a.Addr().String() + "/ping")
	if err != nil {
		panic(err)
	}
	resp.Body.Close()
	fmt.Println(resp.StatusCode) // no token
	// Output: 401
}
