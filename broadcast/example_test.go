package broadcast_test

import (
	"bytes"
	"fmt"

	"github.com/edge-rt/edge/broadcast"
)

// conn is the engine's side of one WebSocket connection: its Sink pushes
// into a bounded Queue and wakes the connection's loop on the empty ->
// non-empty transition; the loop writes what the queue holds.
type conn struct {
	q      *broadcast.Queue
	socket bytes.Buffer // stands in for the network connection
	woken  int
	kicked bool
}

func (c *conn) Send(m *broadcast.Message) broadcast.Result {
	ok, wasEmpty := c.q.Push(m)
	switch {
	case !ok && c.q.Closed():
		return broadcast.Gone
	case !ok:
		c.kicked = true // engine: schedule a 1008 close on the loop
		return broadcast.Full
	case wasEmpty:
		c.woken++ // engine: wake the loop (one wake-up per batch)
	}
	return broadcast.Queued
}

// flush is what the loop does when woken: one writev of whole messages,
// then consume what the socket took.
func (c *conn) flush() {
	bufs, n := c.q.Drain(nil, 256<<10)
	for _, b := range bufs {
		c.socket.Write(b)
	}
	c.q.Consume(n)
}

func Example() {
	hub := broadcast.NewHub(broadcast.Config{})

	// The engine registers each connection as it upgrades.
	alice := &conn{q: broadcast.NewQueue(64)}
	bob := &conn{q: broadcast.NewQueue(64)}
	a := hub.Register(alice, "alice") // extension data
	b := hub.Register(bob, "bob")

	// Application code, from any goroutine.
	hub.SetTag(a, "room:go")
	hub.SetTag(b, "room:go")
	hub.SetTag(b, "user:bob")
	m := broadcast.NewMessage([]byte("\x81\x05hello")) // framed once, shared
	fmt.Println("queued for", hub.SendTag("room:go", m))
	fmt.Println("queued for", hub.SendTag("room:go", broadcast.NewMessage([]byte("\x81\x02hi"))))
	fmt.Println(hub.Clients("user:bob")[0] == b, hub.Tags(b))

	alice.flush()
	fmt.Printf("alice read %q after %d wake-up\n", alice.socket.String(), alice.woken)

	// Bob never reads: his queue fills up and he is kicked, the others are not delayed.
	big := broadcast.NewMessage(make([]byte, 40))
	fmt.Println("queued for", hub.SendTag("room:go", big))
	alice.flush()
	fmt.Println("queued for", hub.SendTag("room:go", big), "bob kicked:", bob.kicked)

	// When a connection closes, the engine unregisters it and closes its queue.
	hub.Unregister(b)
	bob.q.Close()
	if name, ok := hub.Data(a); ok {
		fmt.Println(name, "is still here;", hub.Send(b, m), "for bob")
	}
	// Output:
	// queued for 2
	// queued for 2
	// true [room:go user:bob]
	// alice read "\x81\x05hello\x81\x02hi" after 1 wake-up
	// queued for 2
	// queued for 1 bob kicked: true
	// alice is still here; gone for bob
}

// A client that reconnects catches up on the messages of its room that it
// missed, from the Hub's history, before the live ones.
func ExampleHub_Resume() {
	h := broadcast.NewHub(broadcast.Config{})
	h.SetHistory(broadcast.HistoryRule{Prefix: "room:", Max: 3})
	for _, s := range []string{"m1", "m2", "m3", "m4"} {
		h.SendTag("room:lobby", broadcast.NewMessage([]byte(s)))
	}
	// The client saw up to 2 before it lost its connection.
	c := &conn{q: broadcast.NewQueue(1 << 20)}
	id := h.Register(c, nil)
	n, gap, _ := h.Resume(id, "room:lobby", 2, nil)
	h.SendTag("room:lobby", broadcast.NewMessage([]byte("m5"))) // live
	c.flush()
	fmt.Println(n, gap, c.socket.String())
	// Another saw only 1: m2 is gone, so it is told of the gap.
	_, _, gap = h.Since("room:lobby", 1)
	fmt.Println(gap, h.LastSeq("room:lobby"))
	// Output:
	// 2 false m3m4m5
	// true 5
}
