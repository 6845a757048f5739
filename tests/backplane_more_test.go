package tests

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/edge-rt/edge/broadcast"
	"github.com/edge-rt/edge/ws"
)

// TestBackplaneInterest checks one NATS subscription per tag, whatever
// its number of local clients, and that churn settles on the right set.
func TestBackplaneInterest(t *testing.T) {
	t.Parallel()
	ns, port := startNATS(t, 0)
	defer ns.Shutdown()
	natsURL := fmt.Sprintf("nats://127.0.0.1:%d", port)
	a, b := startNode(t, "a", natsURL), startNode(t, "b", natsURL)
	var cs []*wsClient
	for range 20 {
		cs = append(cs, dial(t, a, "room:big"))
	}
	waitSubscribed(t, a, 1)
	base := ns.NumSubscriptions()
	// Churn: a client joins and leaves many tags, ending in 3 of them.
	id, _ := strconv.ParseUint(cs[0].id, 10, 64)
	hub := a.srv.Hub()
	for i := range 500 {
		tag := broadcast.Tag("churn:" + strconv.Itoa(i%10))
		hub.SetTag(broadcast.ClientID(id), tag)
		if i < 497 {
			hub.DelTag(broadcast.ClientID(id), tag)
		}
	}
	waitSubscribed(t, a, 4)
	waitFor(t, "the NATS server to hold 3 more subscriptions", func() bool { return ns.NumSubscriptions() == base+3 })
	// The three kept tags get messages from node b.
	for _, tag := range []string{"churn:7", "churn:8", "churn:9", "churn:0"} {
		b.srv.SendTag(broadcast.Tag(tag), ws.OpText, []byte(tag))
	}
	b.srv.SendTag("room:big", ws.OpText, []byte("end"))
	expectExactly(t, "cs[0]", cs[0], []string{"t:churn:7", "t:churn:8", "t:churn:9", "t:end"})
	for i, c := range cs[1:] {
		expectExactly(t, fmt.Sprintf("cs[%d]", i+1), c, []string{"t:end"})
	}
}

// TestBackplaneNodeKilled stops one of three nodes: the others go on.
func TestBackplaneNodeKilled(t *testing.T) {
	t.Parallel()
	ns, port := startNATS(t, 0)
	defer ns.Shutdown()
	natsURL := fmt.Sprintf("nats://127.0.0.1:%d", port)
	a, b, c := startNode(t, "a", natsURL), startNode(t, "b", natsURL), startNode(t, "c", natsURL)
	a1, b1, c1 := dial(t, a, "room:z"), dial(t, b, "room:z"), dial(t, c, "room:z")
	for _, n := range []*node{a, b, c} {
		waitSubscribed(t, n, 1)
	}
	base := ns.NumSubscriptions()
	_ = c.bp.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = c.srv.Shutdown(ctx)
	<-c1.done // its client is gone
	waitFor(t, "node c's subscription to go", func() bool { return ns.NumSubscriptions() < base })
	a.srv.SendTag("room:z", ws.OpText, []byte("after-kill"))
	expectExactly(t, "a1", a1, []string{"t:after-kill"})
	expectExactly(t, "b1", b1, []string{"t:after-kill"})
}

// TestBackplaneNATSLate starts the nodes before NATS: they connect when
// it comes up, with the subscriptions of the tags joined meanwhile.
func TestBackplaneNATSLate(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	natsURL := fmt.Sprintf("nats://127.0.0.1:%d", port)
	a, b := startNode(t, "a", natsURL), startNode(t, "b", natsURL)
	a1, b1 := dial(t, a, "room:late"), dial(t, b, "room:late")
	if n := a.srv.SendTag("room:late", ws.OpText, []byte("local")); n != 1 {
		t.Fatalf("SendTag before NATS queued %d, want 1", n)
	}
	ns, _ := startNATS(t, port)
	defer ns.Shutdown()
	waitSubscribed(t, a, 1)
	waitSubscribed(t, b, 1)
	b.srv.SendTag("room:late", ws.OpText, []byte("remote"))
	expectExactly(t, "a1", a1, []string{"t:local", "t:remote"})
	expectExactly(t, "b1", b1, []string{"t:remote"})
	if st := a.bp.Stats(); st.PublishGap != 1 {
		t.Fatalf("node a stats %+v, want the message sent before NATS counted as gap", st)
	}
}
