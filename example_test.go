package edge_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/edge-rt/edge"
)

// The seed's hello-world server: one listener, one route, a fallback.
func Example() {
	srv := edge.New(&edge.Config{Logger: slog.New(slog.DiscardHandler)})
	site := srv.Listen("tcp", "127.0.0.1:0")
	site.Get("/", func(c *edge.Ctx) { c.Text(200, "Hello!") })
	site.Any().Fallback(func(c *edge.Ctx) { c.Text(404, "Not Found") })
	if err := srv.Start(); err != nil {
		panic(err)
	}
	defer srv.Shutdown(context.Background())

	fmt.Println(get(site.Addr().String(), "/"))
	fmt.Println(get(site.Addr().String(), "/nope"))
	// Output:
	// 200 Hello!
	// 404 Not Found
}

// Routes by host, :param segments and regular expressions.
func ExampleRoutes() {
	srv := edge.New(&edge.Config{Logger: slog.New(slog.DiscardHandler)})
	l := srv.Listen("tcp", "127.0.0.1:0")
	api := l.Routes("api.example.com")
	api.Handle(edge.Pattern("/user/:name"), func(c *edge.Ctx) {
		c.Text(200, "user "+c.Param("name"))
	}, "GET")
	www := l.Any()
	www.Handle(edge.Regexp(`/([a-z]+)(\d+)`), func(c *edge.Ctx) {
		c.Text(200, edge.EscapeHTML(c.Match(1)+"|"+c.Match(2)))
	})
	if err := srv.Start(); err != nil {
		panic(err)
	}
	defer srv.Shutdown(context.Background())

	fmt.Println(getHost(l.Addr().String(), "api.example.com", "/user/ada"))
	fmt.Println(getHost(l.Addr().String(), "www.example.com", "/abc123"))
	// Output:
	// 200 user ada
	// 200 abc|123
}

// A handler hands slow work to a pool of worker goroutines, which answer
// later by client ID; a full queue is answered 503 at once.
func ExamplePendingQueue() {
	type job struct{ name string }
	jobs := edge.NewPendingQueue[job](100)
	srv := edge.New(&edge.Config{Logger: slog.New(slog.DiscardHandler)})
	l := srv.Listen("tcp", "127.0.0.1:0")
	l.Get("/work", func(c *edge.Ctx) {
		// Copy what the worker needs: Ctx strings are only valid here.
		if err := jobs.Push(c, job{name: strings.Clone(c.Query("name"))}); err != nil {
			c.Text(503, "busy, retry later")
		}
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for i := 0; i < 4; i++ {
		go func() {
			for {
				p, err := jobs.Recv(ctx)
				if err != nil {
					return
				}
				time.Sleep(10 * time.Millisecond) // the slow part
				srv.Reply(p.ID, 200, "text/plain", []byte("worked on "+p.Data.name))
			}
		}()
	}
	if err := srv.Start(); err != nil {
		panic(err)
	}
	defer srv.Shutdown(context.Background())

	fmt.Println(get(l.Addr().String(), "/work?name=report"))
	// Output:
	// 200 worked on report
}

func get(addr, target string) string { return getHost(addr, "localhost", target) }

// getHost makes one request with a raw socket and returns "status body".
func getHost(addr, host, target string) string {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return err.Error()
	}
	defer c.Close()
	fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", target, host)
	b, _ := io.ReadAll(c)
	resp := string(b)
	status := strings.Fields(resp)[1]
	_, body, _ := strings.Cut(resp, "\r\n\r\n")
	return status + " " + body
}
