package edge

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// ---------------------------------------------------------------------------
// 5. Pipelining floods.

// TestHostilePipelineFlood: 10,000 tiny GETs in one write burst on one
// connection are all answered, in order.
func TestHostilePipelineFlood(t *testing.T) {
	t.Parallel()
	cfg := hostileConfig()
	cfg.WriteTimeout = 5 * time.Second
	cfg.ReadTimeout = 5 * time.Second
	_, addr := hostileServer(t, cfg, func(s *Server, l *Listener) {
		l.Get("/i", func(c *Ctx) { c.Text(200, c.Query("n")) })
		l.Get("/p", func(c *Ctx) {
			id, n := c.Pending(), strings.Clone(c.Query("n"))
			go s.Reply(id, 200, "text/plain", []byte(n))
		})
	})
	for _, tc := range []struct {
		path string
		n    int
	}{{"/i", 10000}, {"/p", 2000}} {
		t.Run(tc.path, func(t *testing.T) {
			var burst bytes.Buffer
			for i := range tc.n {
				fmt.Fprintf(&burst, "GET %s?n=%d HTTP/1.1\r\nHost: a\r\n", tc.path, i)
				if i == tc.n-1 {
					burst.WriteString("Connection: close\r\n")
				}
				burst.WriteString("\r\n")
			}
			c := hostileDial(t, addr)
			c.SetDeadline(time.Now().Add(20 * time.Second))
			werr := make(chan error, 1)
			go func() { _, err := c.Write(burst.Bytes()); werr <- err }()
			br := bufio.NewReader(c)
			for i := range tc.n {
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					t.Fatalf("response %d of %d: %v", i, tc.n, err)
				}
				b, err := io.ReadAll(resp.Body)
				if err != nil || resp.StatusCode != 200 || string(b) != strconv.Itoa(i) {
					t.Fatalf("response %d: status %d body %q err %v", i, resp.StatusCode, b, err)
				}
			}
			if err := <-werr; err != nil {
				t.Fatalf("write: %v", err)
			}
			if _, err := br.ReadByte(); hostileHow(err) != "eof" {
				t.Errorf("after the last response: %v, want EOF", err)
			}
		})
	}
}
