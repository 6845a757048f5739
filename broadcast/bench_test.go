package broadcast

import (
	"fmt"
	"testing"
)

// drainingSink queues into a Queue and, as a stand-in for the client's
// loop, empties it every 32 messages or so (benchmarks are single-consumer).
type drainingSink struct{ q *Queue }

func (s *drainingSink) Send(m *Message) Result {
	if s.q.Len() >= 2048 {
		s.q.Consume(s.q.Len())
	}
	if ok, _ := s.q.Push(m); !ok {
		return Full
	}
	return Queued
}

func benchSendTag(b *testing.B, members int) {
	h := NewHub(Config{})
	for range members {
		h.SetTag(h.Register(&drainingSink{NewQueue(1 << 20)}, nil), "room")
	}
	m := NewMessage(make([]byte, 64))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if n := h.SendTag("room", m); n != members {
			b.Fatalf("SendTag = %d", n)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(members), "ns/receiver")
}

// One tag, 10,000 members, each with a Queue.
func BenchmarkSendTag10k(b *testing.B) { benchSendTag(b, 10_000) }

// A tag of a few members (the common case: a user's connections).
func BenchmarkSendTag4(b *testing.B) { benchSendTag(b, 4) }

// Many goroutines publishing to the 10k tag at once (read locks only).
func BenchmarkSendTag10kParallel(b *testing.B) {
	h := NewHub(Config{})
	for range 10_000 {
		h.SetTag(h.Register(new(countSink), nil), "room")
	}
	m := NewMessage(make([]byte, 64))
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			h.SendTag("room", m)
		}
	})
}

// preload registers n clients, each with its own tag: n clients, n tags.
func preload(n int) (*Hub, []ClientID, []Tag) {
	h := NewHub(Config{})
	ids := make([]ClientID, n)
	tags := make([]Tag, n)
	for i := range ids {
		ids[i] = h.Register(new(countSink), nil)
		tags[i] = Tag(fmt.Sprintf("tag:%d", i))
		h.SetTag(ids[i], tags[i])
	}
	return h, ids, tags
}

// SetTag of a new pair then DelTag of it, with 100k clients and 100k tags
// preloaded (the index stays at its size).
func BenchmarkSetTag(b *testing.B) {
	const n = 100_000
	h, ids, tags := preload(n)
	b.ReportAllocs()
	b.ResetTimer()
	i := 0
	for b.Loop() {
		id, tag := ids[i%n], tags[(i*7919+1)%n]
		h.SetTag(id, tag)
		h.DelTag(id, tag)
		i++
	}
}

func BenchmarkSetTagParallel(b *testing.B) {
	const n = 100_000
	h, ids, tags := preload(n)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := int(h.next.Add(7919))
		for pb.Next() {
			id, tag := ids[i%n], tags[(i*7919+1)%n]
			h.SetTag(id, tag)
			h.DelTag(id, tag)
			i++
		}
	})
}

// Send to one client by ID, 100k clients registered.
func BenchmarkSend(b *testing.B) {
	const n = 100_000
	h, ids, _ := preload(n)
	m := NewMessage(make([]byte, 64))
	b.ReportAllocs()
	b.ResetTimer()
	i := 0
	for b.Loop() {
		h.Send(ids[i%n], m)
		i++
	}
}

func BenchmarkSendParallel(b *testing.B) {
	const n = 100_000
	h, ids, _ := preload(n)
	m := NewMessage(make([]byte, 64))
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := int(h.next.Add(7919))
		for pb.Next() {
			h.Send(ids[i%n], m)
			i++
		}
	})
}

func BenchmarkRegisterUnregister(b *testing.B) {
	h, _, _ := preload(100_000)
	s := new(countSink)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		id := h.Register(s, nil)
		h.SetTag(id, "t")
		h.Unregister(id)
	}
}

// Queue: push 16 messages, drain them in one writev batch, consume.
func BenchmarkQueue(b *testing.B) {
	q := NewQueue(0)
	m := NewMessage(make([]byte, 64))
	var bufs [][]byte
	b.ReportAllocs()
	for b.Loop() {
		for range 16 {
			q.Push(m)
		}
		var n int
		bufs, n = q.Drain(bufs[:0], 256<<10)
		q.Consume(n)
	}
}

// A tag of 4 members on a Hub with history rules: "room" matches none
// (the cost of the rules for other tags), "hist:room" has history (the
// cost of numbering and keeping each message, 100 kept).
func BenchmarkSendTag4History(b *testing.B) {
	for _, tag := range []Tag{"room", "hist:room"} {
		b.Run(string(tag), func(b *testing.B) {
			h := NewHub(Config{})
			h.SetHistory(HistoryRule{Prefix: "hist:"}, HistoryRule{Prefix: "other:"})
			for range 4 {
				h.SetTag(h.Register(&drainingSink{NewQueue(1 << 20)}, nil), tag)
			}
			m := NewMessage(make([]byte, 64))
			b.ReportAllocs()
			for b.Loop() {
				if n := h.SendTag(tag, m); n != 4 {
					b.Fatalf("SendTag = %d", n)
				}
			}
		})
	}
}
