package broadcast

import (
	"slices"
	"sync"
	"testing"
)

// memBackplane joins Hubs in one process: the simplest real Backplane.
// It records interest changes and forwards each publish to every other
// Hub synchronously (a real one queues: this one runs on the test's
// goroutine, with no Hub lock held).
type memBackplane struct {
	self   *Hub
	peers  *[]*memBackplane
	mu     sync.Mutex
	events []string
}

func (b *memBackplane) Subscribe(t Tag) {
	b.mu.Lock()
	b.events = append(b.events, "+"+string(t))
	b.mu.Unlock()
}

func (b *memBackplane) Unsubscribe(t Tag) {
	b.mu.Lock()
	b.events = append(b.events, "-"+string(t))
	b.mu.Unlock()
}

func (b *memBackplane) Publish(t Tag, m *Message) {
	for _, p := range *b.peers {
		if p != b {
			p.self.DeliverTag(t, m)
		}
	}
}

func (b *memBackplane) take() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	e := b.events
	b.events = nil
	return e
}

func TestBackplaneInterestAndDelivery(t *testing.T) {
	t.Parallel()
	var peers []*memBackplane
	hubs := []*Hub{NewHub(Config{}), NewHub(Config{})}
	sinks := []*countSink{new(countSink), new(countSink)}
	ids := make([]ClientID, 2)
	for i, h := range hubs {
		ids[i] = h.Register(sinks[i], nil)
	}
	// Tags held before the Backplane is attached are announced by it.
	hubs[0].SetTag(ids[0], "early")
	for _, h := range hubs {
		b := &memBackplane{self: h, peers: &peers}
		peers = append(peers, b)
		h.SetBackplane(b)
		if h.Backplane() != b {
			t.Fatal("Backplane() does not return the attached one")
		}
	}
	if got := peers[0].take(); !slices.Equal(got, []string{"+early"}) {
		t.Fatalf("SetBackplane announced %q, want [+early]", got)
	}

	for i, h := range hubs {
		h.SetTag(ids[i], "room")
	}
	hubs[0].SetTag(ids[0], "room") // idempotent: no second +room
	a2 := hubs[0].Register(new(countSink), nil)
	hubs[0].SetTag(a2, "room") // second local client: no event
	if got := peers[0].take(); !slices.Equal(got, []string{"+room"}) {
		t.Fatalf("hub 0 interest %q, want [+room]", got)
	}

	// One SendTag on each hub: every client gets each message once.
	if n := hubs[0].SendTag("room", NewMessage([]byte("x"))); n != 2 {
		t.Fatalf("local SendTag queued %d, want 2", n)
	}
	hubs[1].SendTag("room", NewMessage([]byte("y")))
	if q0, q1 := sinks[0].queued.Load(), sinks[1].queued.Load(); q0 != 2 || q1 != 2 {
		t.Fatalf("queued %d and %d, want 2 and 2", q0, q1)
	}
	// A tag with no local clients still publishes.
	hubs[1].SendTag("early", NewMessage([]byte("z")))
	if q0 := sinks[0].queued.Load(); q0 != 3 {
		t.Fatalf("remote-only tag: hub 0 client queued %d, want 3", q0)
	}
	// DeliverTag never publishes.
	hubs[0].DeliverTag("room", NewMessage([]byte("w")))
	if q1 := sinks[1].queued.Load(); q1 != 2 {
		t.Fatalf("DeliverTag reached the other hub (%d)", q1)
	}

	// Interest goes as the last client leaves, by every path.
	hubs[0].DelTag(ids[0], "room")
	hubs[0].Unregister(a2)
	hubs[0].DeleteTag("early")
	hubs[1].DelTags(ids[1])
	if got := peers[0].take(); !slices.Equal(got, []string{"-room", "-early"}) {
		t.Fatalf("hub 0 interest %q, want [-room -early]", got)
	}
	if got := peers[1].take(); !slices.Equal(got, []string{"+room", "-room"}) {
		t.Fatalf("hub 1 interest %q, want [+room -room]", got)
	}
	hubs[0].SetBackplane(nil)
	if hubs[0].Backplane() != nil {
		t.Fatal("SetBackplane(nil) did not detach")
	}
}
