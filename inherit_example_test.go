package edge_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/edge-rt/edge"
)

// A listening socket handed from one server to its successor, as an
// upgrade does between processes (there, the file travels over a Unix
// socket with SCM_RIGHTS): both accept from the same socket until the
// old one shuts down, so no client is refused.
func ExampleListener_Inherit() {
	quiet := &edge.Config{Logger: slog.New(slog.DiscardHandler)}
	old := edge.New(quiet)
	l := old.Listen("tcp", "127.0.0.1:0")
	l.Get("/", func(c *edge.Ctx) { c.Text(200, "old") })
	if err := old.Start(); err != nil {
		panic(err)
	}

	f, err := l.File() // a duplicate of the listening socket
	if err != nil {
		panic(err)
	}
	ln, err := net.FileListener(f)
	f.Close()
	if err != nil {
		panic(err)
	}
	successor := edge.New(quiet)
	l2 := successor.Listen("tcp", l.Addr().String())
	l2.Get("/", func(c *edge.Ctx) { c.Text(200, "new") })
	if err := l2.Inherit(ln); err != nil {
		panic(err)
	}
	if err := successor.Start(); err != nil {
		panic(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	old.Shutdown(ctx) // drains; the socket stays open in successor

	resp, err := http.Get("http://" + l2.Addr().String() + "/")
	if err != nil {
		panic(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Println(string(body), l2.Addr().String() == l.Addr().String())
	successor.Shutdown(ctx)
	// Output: new true
}
