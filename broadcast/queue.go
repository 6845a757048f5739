package broadcast

import (
	"sync"
	"sync/atomic"
)

// DefaultQueueBytes is the bound of a Queue made with NewQueue(0), and of
// the zero Queue.
const DefaultQueueBytes = 1 << 20

// Queue is one client's bounded send queue: a FIFO of shared *Message,
// bounded by the bytes that wait to be written.
//
// Concurrency: Push, Len, Closed and Close are safe from any goroutine (many
// producers). Drain and Consume belong to one consumer, the goroutine or
// event loop that writes the client's socket; they must not run
// concurrently with each other. Push never blocks and never waits for the
// consumer: a short mutex guards the queue, never held while writing.
//
// Memory: the queue holds pointers to shared messages, never copies, and
// the bytes it accounts for never exceed its bound; a client that stops
// reading hits the bound, its Sink reports Full and the client is closed
// (1008). Its ring is released when it empties and on Close.
//
// The zero Queue is ready to use, with DefaultQueueBytes as its bound.
type Queue struct {
	mu     sync.Mutex
	ring   []*Message // len is a power of two, or 0
	head   int        // index of the front message
	n      int        // messages queued
	off    int        // bytes of the front message already consumed
	bytes  int        // bytes queued (after off); mirrored in size for Len
	max    int
	closed bool

	size     atomic.Int64
	isClosed atomic.Bool
}

// NewQueue returns a queue that holds at most maxBytes bytes of messages.
// Zero or negative means DefaultQueueBytes (1 MiB). A message larger than
// the bound never fits: the engine should allow at least its largest
// outgoing message.
func NewQueue(maxBytes int) *Queue {
	if maxBytes <= 0 {
		maxBytes = DefaultQueueBytes
	}
	return &Queue{max: maxBytes}
}

// Max is the bound in bytes.
func (q *Queue) Max() int {
	if q.max <= 0 {
		return DefaultQueueBytes
	}
	return q.max
}

// Push adds m at the back without blocking. It reports ok = false when m
// does not fit in the bound (m is then not added: the caller closes the
// client with 1008) or the queue is closed (see Closed). wasEmpty reports
// the empty -> non-empty transition: only that Push should wake the
// consumer, so a burst of messages costs one wake-up. An empty message is
// accepted and dropped (ok, !wasEmpty).
func (q *Queue) Push(m *Message) (ok, wasEmpty bool) {
	size := m.Len()
	if size == 0 {
		return !q.isClosed.Load(), false
	}
	q.mu.Lock()
	if q.closed || q.bytes+size > q.Max() {
		q.mu.Unlock()
		return false, false
	}
	wasEmpty = q.n == 0
	if q.n == len(q.ring) {
		q.grow()
	}
	q.ring[(q.head+q.n)&(len(q.ring)-1)] = m
	q.n++
	q.bytes += size
	q.size.Store(int64(q.bytes))
	q.mu.Unlock()
	return true, wasEmpty
}

func (q *Queue) grow() {
	ring := make([]*Message, max(8, 2*len(q.ring)))
	for i := range q.n {
		ring[i] = q.ring[(q.head+i)&(len(q.ring)-1)]
	}
	q.ring, q.head = ring, 0
}

// Drain appends to dst the unwritten bytes of queued messages, in order,
// for one writev, and returns dst and the number of bytes appended. It
// appends whole messages while the total stays within max bytes (max <= 0:
// no limit), and always the front one (its unwritten rest, after a partial
// Consume), so the consumer always makes progress. Drain does not remove
// anything: call Consume with what the socket took. The slices are shared
// with other receivers: never modify them. They stay valid after Consume.
func (q *Queue) Drain(dst [][]byte, max int) ([][]byte, int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	total := 0
	mask := len(q.ring) - 1
	for i := range q.n {
		b := q.ring[(q.head+i)&mask].b
		if i == 0 {
			b = b[q.off:]
		} else if max > 0 && total+len(b) > max {
			break
		}
		dst = append(dst, b)
		total += len(b)
	}
	return dst, total
}

// Consume removes the first n queued bytes: those the socket took. A message
// written in part stays at the front, and the next Drain starts after the
// written part. Consume panics if n exceeds Len, except after Close, where
// it does nothing.
func (q *Queue) Consume(n int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed || n <= 0 {
		return
	}
	if n > q.bytes {
		panic("broadcast: Queue.Consume beyond the queued bytes")
	}
	q.bytes -= n
	mask := len(q.ring) - 1
	for n > 0 {
		rest := q.ring[q.head].Len() - q.off
		if n < rest {
			q.off += n
			break
		}
		n -= rest
		q.ring[q.head] = nil
		q.head = (q.head + 1) & mask
		q.n--
		q.off = 0
	}
	if q.n == 0 {
		q.head = 0
		if len(q.ring) > shrinkCap {
			q.ring = nil // a burst's ring does not outlive it
		}
	}
	q.size.Store(int64(q.bytes))
}

// Len is the number of bytes queued and not yet consumed.
func (q *Queue) Len() int { return int(q.size.Load()) }

// Close releases the queued messages; later Pushes report !ok, Drain finds
// nothing and Consume does nothing. Close is idempotent.
func (q *Queue) Close() {
	q.mu.Lock()
	q.closed = true
	q.isClosed.Store(true)
	q.ring, q.head, q.n, q.off, q.bytes = nil, 0, 0, 0, 0
	q.size.Store(0)
	q.mu.Unlock()
}

// Closed reports whether Close was called: a Sink uses it to tell Gone from
// Full when Push reports !ok.
func (q *Queue) Closed() bool { return q.isClosed.Load() }
