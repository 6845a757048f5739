package http1_test

import (
	"fmt"

	"github.com/edge-rt/edge/http1"
)

func ExampleParser() {
	p := http1.NewParser(http1.Limits{}, []string{"User-Agent", "Cookie"})
	buf := []byte("GET /chat?room=1 HTTP/1.1\r\nHost: example.com\r\nUser-Agent: demo\r\n\r\n" +
		"GET /next HTTP/1.1\r\nHo") // a pipelined request, not all here yet

	var req http1.Request
	n, err := p.Parse(buf, &req)
	if err != nil {
		fmt.Println(string(http1.AppendError(nil, err.(*http1.Error), "")))
		return
	}
	fmt.Printf("%s %s (path %s, query %s) host=%s ua=%s cookie=%v keep-alive=%v\n",
		req.MethodName, req.Target, req.Path, req.Query, req.Host, req.Values[0], req.Values[1] != nil, req.KeepAlive)

	n, err = p.Parse(buf[n:], &req)
	fmt.Println("next:", n, err) // incomplete: read more, then parse again

	_, err = p.Parse([]byte("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\n"), &req)
	fmt.Printf("%d %v\n", err.(*http1.Error).Status, err)
	// Output:
	// GET /chat?room=1 (path /chat, query room=1) host=example.com ua=demo cookie=false keep-alive=true
	// next: 0 <nil>
	// 400 http1: invalid Content-Length
}

func ExampleChunkedDecoder() {
	var d http1.ChunkedDecoder
	in := []byte("5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\n\r\nGET /next")
	var body []byte
	for {
		data, n, done, err := d.Next(in)
		if err != nil {
			fmt.Println(err)
			return
		}
		body = append(body, data...)
		in = in[n:]
		if done {
			break
		}
	}
	fmt.Printf("%q, then %q\n", body, in)
	// Output: "hello, world", then "GET /next"
}
