package edge

import (
	"bufio"
	"context"
	"io"
	"strings"
	"testing"
	"time"
)

// Takeover on a TLS listener hands over the decrypted stream (before: the
// raw socket, so the taker read ciphertext), with the whole request head
// (undeclared headers too) and the bytes pipelined after it.
func TestTakeoverTLS(t *testing.T) {
	t.Parallel()
	heads := make(chan *Takeover, 1)
	_, addr, pool := tlsTestServer(t, Config{}, func(s *Server, l *Listener) {
		l.Get("/tunnel", func(c *Ctx) {
			c.Takeover(func(ctx context.Context, tk *Takeover) {
				defer tk.Conn.Close()
				heads <- tk
				io.WriteString(tk.Conn, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n")
				tk.Conn.Write([]byte(strings.ToUpper(string(tk.Buffered))))
				buf := make([]byte, 4096)
				for {
					n, err := tk.Conn.Read(buf)
					if n > 0 {
						tk.Conn.Write([]byte(strings.ToUpper(string(buf[:n]))))
					}
					if err != nil {
						return
					}
				}
			})
		})
	})
	c := tlsDial(t, addr, "a.test", pool)
	defer c.Close()
	io.WriteString(c, "GET /tunnel HTTP/1.1\r\nHost: a.test\r\nX-Undeclared: yes\r\n\r\nfirst ")
	r := bufio.NewReader(c)
	line, err := r.ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "HTTP/1.1 101") {
		t.Fatalf("status line %q, %v", line, err)
	}
	for {
		l, err := r.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if l == "\r\n" {
			break
		}
	}
	tk := <-heads
	if !tk.TLS || tk.Method != "GET" || tk.Target != "/tunnel" || tk.Host != "a.test" ||
		!strings.Contains(string(tk.Head), "X-Undeclared: yes\r\n") || !strings.HasSuffix(string(tk.Head), "\r\n\r\n") {
		t.Fatalf("takeover: %+v head %q", tk, tk.Head)
	}
	io.WriteString(c, "second")
	want := "FIRST SECOND"
	got := make([]byte, len(want))
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadFull(r, got); err != nil || string(got) != want {
		t.Fatalf("echo through the decrypted stream: %q, %v", got, err)
	}
}
