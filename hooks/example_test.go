package hooks_test

import (
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"

	"github.com/edge-rt/edge/hooks"
)

// printClient is a Client that prints what the backend asks for; edge's
// adapter calls the matching edge.Client methods instead.
type printClient struct {
	id   uint64
	done chan struct{}
}

func (c *printClient) ID() uint64 { return c.id }
func (c *printClient) Send(binary bool, data []byte) bool {
	fmt.Printf("send %q\n", data)
	return true
}
func (c *printClient) Close(code uint16, reason string) {
	fmt.Println("close", code, reason)
	close(c.done)
}
func (c *printClient) SetTag(tag string)   { fmt.Println("tag", tag) }
func (c *printClient) DelTag(tag string)   { fmt.Println("untag", tag) }
func (c *printClient) SetData(data []byte) { fmt.Printf("data %s\n", data) }
func (c *printClient) Publish(tag string, binary bool, data []byte) int {
	fmt.Printf("publish %s %q\n", tag, data)
	return 1
}

func ExampleNew() {
	// The backend: any HTTP server speaking the JSON of the package doc.
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		switch r.Header.Get("Edge-Hook") {
		case "connect":
			io.WriteString(w, `{"accept": true, "tags": ["room:lobby"], "data": {"name": "ann"}}`)
		case "message":
			io.WriteString(w, `[{"publish": [{"tag": "room:lobby", "data": "ann: hi"}], "close": {"code": 4000, "reason": "bye"}}]`)
		}
	}))
	defer backend.Close()

	h, err := hooks.New(hooks.Config{URL: backend.URL + "/hooks"})
	if err != nil {
		log.Fatal(err)
	}
	defer h.Close()
	c := &printClient{id: 1, done: make(chan struct{})}
	h.Open(c, &hooks.Conn{Path: "/chat", Query: "room=lobby"})
	h.Message(c, false, []byte("hi"))
	<-c.done
	// Output:
	// data {"name": "ann"}
	// tag room:lobby
	// publish room:lobby "ann: hi"
	// close 4000 bye
}
