package metrics_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/edge-rt/edge"
	"github.com/edge-rt/edge/admin"
	"github.com/edge-rt/edge/metrics"
)

// A real edge.Server reporting to Metrics, scraped over the admin listener.
func ExampleNew() {
	m := metrics.New(metrics.Config{Version: "1.0", TLSBackend: "stdlib"})
	srv := edge.New(&edge.Config{Observer: m, Workers: 1, Logger: slog.New(slog.DiscardHandler)})
	l := srv.Listen("tcp", "127.0.0.1:0")
	l.Get("/hello", func(c *edge.Ctx) { c.SendString(200, "text/plain", "hi") })
	if err := srv.Start(); err != nil {
		panic(err)
	}
	defer srv.Shutdown(context.Background())
	a, err := admin.New(admin.Config{Listen: "127.0.0.1:0"})
	if err != nil {
		panic(err)
	}
	a.Handle("GET /metrics", m.Handler())
	if err := a.Start(); err != nil {
		panic(err)
	}
	defer a.Shutdown(context.Background())

	resp, err := http.Get("http://" + l.Addr().String() + "/hello")
	if err != nil {
		panic(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()

	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		resp, err := http.Get("http://" + a.Addr().String() + "/metrics")
		if err != nil {
			panic(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		for line := range strings.Lines(string(b)) {
			if strings.HasPrefix(line, "edge_http_requests_total{") {
				fmt.Print(line)
				return
			}
		}
	}
	// Output: edge_http_requests_total{code="2xx",host_group="_default",route="/hello"} 1
}
