package broadcast

// Backplane carries tag messages between Hubs on different nodes (edge's
// NATS backplane is one). A Hub with a Backplane (Hub.SetBackplane) tells
// it which tags have local clients and hands it every message sent with
// SendTag; the Backplane delivers what other nodes publish with
// Hub.DeliverTag.
//
// Delivery model: SendTag delivers to the local clients of its tag at
// once, then calls Publish; the Backplane must not hand that same message
// back to this Hub (it drops its own echoes), so each node delivers each
// message once.
//
// Subscribe and Unsubscribe are notifications: they run with one of the
// Hub's tag shard locks held, so they must not block nor call the Hub;
// they typically record the tag and let a goroutine of the Backplane
// reconcile its subscriptions later, asking Hub.TagLen whether the tag
// still has local clients (which also coalesces churn). Publish runs
// with no Hub lock held but must not block either (queue or drop, and
// count drops). All three must be safe from any goroutine.
type Backplane interface {
	// Subscribe: tag t got its first local client.
	Subscribe(t Tag)
	// Unsubscribe: tag t lost its last local client.
	Unsubscribe(t Tag)
	// Publish: m was sent to tag t on this node (m is immutable and may
	// be kept).
	Publish(t Tag, m *Message)
}

// bpHolder wraps a Backplane for atomic.Pointer.
type bpHolder struct{ b Backplane }

// SetBackplane attaches b (nil detaches). It calls b.Subscribe for every
// tag that already has clients, so it may be called after clients joined;
// usually it is called once, before the server starts.
func (h *Hub) SetBackplane(b Backplane) {
	h.init()
	if b == nil {
		h.bp.Store(nil)
		return
	}
	h.bp.Store(&bpHolder{b: b})
	for i := range h.tags {
		ts := &h.tags[i]
		ts.mu.RLock()
		for t := range ts.tags {
			b.Subscribe(t)
		}
		ts.mu.RUnlock()
	}
}

// Backplane returns the attached Backplane, or nil.
func (h *Hub) Backplane() Backplane { return h.backplane() }

func (h *Hub) backplane() Backplane {
	if p := h.bp.Load(); p != nil {
		return p.b
	}
	return nil
}

// DeliverTag passes m to the Sink of every local client of tag t, like
// SendTag, but never to the Backplane: it is how a Backplane delivers
// what another node published. It returns how many queued it.
func (h *Hub) DeliverTag(t Tag, m *Message) int {
	h.init()
	return h.sendLocal(t, m)
}
