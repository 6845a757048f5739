package proxy_test

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/edge-rt/edge/proxy"
)

// A request head rewritten for the backend, and the backend's response
// framed as it arrives in two reads.
func Example() {
	r := &proxy.Route{To: []string{"127.0.0.1:9001", "127.0.0.1:9002"}, ForwardedFor: true}
	if err := r.Init(); err != nil {
		panic(err)
	}
	b := r.Pick(time.Now().UnixNano(), nil)
	fmt.Println("backend:", b)

	head := []byte("GET /api/x HTTP/1.1\r\nHost: example.com\r\nConnection: keep-alive, X-Trace\r\nX-Trace: 1\r\n\r\n")
	out, _, err := proxy.AppendRequestHead(nil, head, &proxy.HeadOptions{
		Client:       netip.MustParseAddrPort("192.0.2.1:5555"),
		ForwardedFor: r.ForwardedFor,
	})
	if err != nil {
		panic(err)
	}
	fmt.Printf("%q\n", out)

	var f proxy.Framer
	f.Reset(false)
	var held []byte // the bytes of the head, until it is complete
	for _, read := range []string{"HTTP/1.1 200 OK\r\nContent-Le", "ngth: 5\r\n\r\nhelloHTTP"} {
		p := []byte(read)
		for len(p) > 0 {
			inHead := !f.HeadDone()
			n, done, err := f.Feed(p)
			if err != nil {
				panic(err)
			}
			if inHead {
				held = append(held, p[:n]...)
				if f.HeadLen() > 0 {
					h, _ := proxy.AppendResponseHead(nil, held, false)
					fmt.Printf("head %q\n", h)
				}
			} else {
				fmt.Printf("body %q\n", p[:n])
			}
			p = p[n:]
			if done {
				fmt.Printf("done: status %d, keep-alive %v, %q left over\n", f.Status(), f.KeepAlive(), p)
				break
			}
		}
	}
	// Output:
	// backend: 127.0.0.1:9001
	// "GET /api/x HTTP/1.1\r\nHost: example.com\r\nX-Forwarded-For: 192.0.2.1\r\nX-Forwarded-Proto: http\r\nX-Real-IP: 192.0.2.1\r\nConnection: keep-alive\r\n\r\n"
	// head "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"
	// body "hello"
	// done: status 200, keep-alive true, "HTTP" left over
}

// A PROXY protocol v1 header for a client of 192.0.2.1.
func ExampleAppendProxyHeader() {
	h := proxy.AppendProxyHeader(nil, proxy.ProxyV1,
		netip.MustParseAddrPort("192.0.2.1:56324"), netip.MustParseAddrPort("198.51.100.2:443"))
	fmt.Printf("%q\n", h)
	// Output:
	// "PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\n"
}
