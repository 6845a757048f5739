package broadcast

// Message is one framed message (for WebSocket: frame header and payload,
// maybe compressed) shared by every receiver it is queued for. It is
// immutable after NewMessage: the Hub, every Queue and the writers only
// read it, from any goroutine. The zero Message is empty.
type Message struct {
	b []byte
}

// NewMessage wraps frame without copying it. The Message takes ownership:
// the caller must not modify frame afterwards (receivers may write it to
// their sockets at any later time, from any goroutine).
func NewMessage(frame []byte) *Message {
	return &Message{b: frame[:len(frame):len(frame)]}
}

// Bytes returns the framed message. The slice is shared: never modify it.
func (m *Message) Bytes() []byte { return m.b }

// Len is the size of the framed message in bytes.
func (m *Message) Len() int { return len(m.b) }
