package edge

import (
	"context"
	"errors"
	"sync/atomic"

	"github.com/edge-rt/edge/broadcast"
)

// ClientID names one client connection (a pending HTTP request's, or a
// WebSocket client's) from any goroutine. It stays valid until the
// connection closes and is never reused for another connection (a stale ID
// is simply gone). The zero ID names no client. It is the Hub's ID.
type ClientID = broadcast.ClientID

// ErrGone is returned when a ClientID's connection has closed.
var ErrGone = errors.New("edge: client gone")

// ErrQueueFull is returned by PendingQueue.Push when the queue is full
// (the handler typically answers 503), and by Server.Send when the
// client's send queue is full (the client is then closed with 1008).
var ErrQueueFull = errors.New("edge: queue full")

// lookup finds the live connection handle of id.
func (s *Server) lookup(id ClientID) *connHandle {
	sk, ok := s.hub.Sink(id)
	if !ok {
		return nil
	}
	h, _ := sk.(*connHandle)
	return h
}

// Reply answers the pending request of client id (see Ctx.Pending) with
// status, content type and body (copied). It returns ErrGone if the client
// has closed. Safe from any goroutine; it never blocks on the network. A
// reply to a client with no pending request is dropped.
func (s *Server) Reply(id ClientID, status int, contentType string, body []byte) error {
	b := append([]byte(nil), body...)
	return s.ReplyFunc(id, func(c *Ctx) { c.Send(status, contentType, b) })
}

// ReplyFunc answers the pending request of client id by running f on the
// connection's worker with a Ctx for the pending request (every accessor
// works). f must answer and must not block. Returns ErrGone if the client
// has closed.
func (s *Server) ReplyFunc(id ClientID, f func(c *Ctx)) error {
	h := s.lookup(id)
	if h == nil {
		return ErrGone
	}
	if err := h.submit(func(c *conn) { c.reply(id, f) }); err != nil {
		return ErrGone
	}
	return nil
}

// reply runs on the loop: answer the pending request, then resume
// processing what the client pipelined behind it.
func (c *conn) reply(id ClientID, f func(*Ctx)) {
	if c.closed || c.id != id || !c.isPending {
		return
	}
	w := c.w
	w.resetOut()
	x := c.ctxFor(c.head)
	c.isPending = false
	f(x)
	if !x.done() {
		x.fail(errNoResponse)
	}
	c.afterHandler(c.head)
	if !c.isPending {
		c.head = nil
	}
	c.finish()
	c.resume()
}

// Pending is a request kept open by PendingQueue.Push, for a worker
// goroutine to answer with Server.Reply.
type Pending[T any] struct {
	// ID names the pending request's client: answer it with Server.Reply.
	ID ClientID
	// Data is what the handler queued with the request.
	Data T
}

// PendingQueue is a bounded queue of pending requests for a pool of worker
// goroutines (Caprese's Pendings). Safe for concurrent use.
type PendingQueue[T any] struct {
	ch chan Pending[T]
}

// NewPendingQueue returns a queue holding at most limit requests
// (limit < 1 means 1).
func NewPendingQueue[T any](limit int) *PendingQueue[T] {
	if limit < 1 {
		limit = 1
	}
	return &PendingQueue[T]{ch: make(chan Pending[T], limit)}
}

// Push marks the request of c pending and queues it with data. When the
// queue is full it returns ErrQueueFull and leaves the request unanswered
// (the handler should answer, typically 503).
func (q *PendingQueue[T]) Push(c *Ctx, data T) error {
	id := c.ClientID()
	select {
	case q.ch <- Pending[T]{ID: id, Data: data}:
		c.pendingSet = true
		return nil
	default:
		return ErrQueueFull
	}
}

// Recv waits for the next queued request, or until ctx is done.
func (q *PendingQueue[T]) Recv(ctx context.Context) (Pending[T], error) {
	select {
	case p := <-q.ch:
		return p, nil
	case <-ctx.Done():
		return Pending[T]{}, ctx.Err()
	}
}

// Len is the number of queued requests.
func (q *PendingQueue[T]) Len() int { return len(q.ch) }

// stats are one worker's counters, written by its loop goroutine only
// (so they never contend across cores) and summed by Server.Stats. The
// padding keeps them off cache lines that other goroutines write.
type stats struct {
	_                                         [64]byte
	accepted, refused, acceptErrors           atomic.Uint64
	requests, responses, badRequests          atomic.Uint64
	timeouts                                  atomic.Uint64
	tlsHandshakes, tlsHandshakeErrors         atomic.Uint64
	wsOpened, wsClosed, wsProtocolErrors      atomic.Uint64
	wsMessagesIn, wsMessagesOut, wsSlowClosed atomic.Uint64
	wsQueueDrops                              atomic.Uint64
	bytesIn, bytesOut                         atomic.Uint64
	upConnects, upReused, upFailures          atomic.Uint64
	upBytesIn, upBytesOut, upSplices          atomic.Uint64
	closed                                    [numReasons]atomic.Uint64
	_                                         [64]byte
}

// Stats is a snapshot of the server's counters, for metrics.
type Stats struct {
	Open               int64             // connections open now (detached included)
	Accepted           uint64            // connections accepted
	Refused            uint64            // connections refused over ClientMax
	AcceptErrors       uint64            // failed accept calls
	Requests           uint64            // request heads parsed
	Responses          uint64            // responses queued (every status, streams' 101 included)
	BadRequests        uint64            // requests answered with an error and closed
	Timeouts           uint64            // read or pending timeouts answered
	TLSHandshakes      uint64            // completed TLS handshakes
	TLSHandshakeErrors uint64            // failed or timed-out TLS handshakes
	WSOpened           uint64            // WebSocket upgrades
	WSClosed           uint64            // WebSocket connections closed
	WSProtocolErrors   uint64            // WebSocket connections closed for a protocol error
	WSMessagesIn       uint64            // WebSocket messages received
	WSMessagesOut      uint64            // queued WebSocket messages written (Send, SendTag)
	WSSlowClosed       uint64            // WebSocket clients closed because their queue was full
	BytesIn            uint64            // bytes read from clients
	BytesOut           uint64            // bytes written to clients
	UpConnects         uint64            // proxy: backend connections opened
	UpReused           uint64            // proxy: requests sent on a pooled backend connection
	UpFailures         uint64            // proxy: backend connects refused or timed out, connections lost mid-exchange
	UpBytesIn          uint64            // proxy: bytes read from backends
	UpBytesOut         uint64            // proxy: bytes written to backends
	UpSplices          uint64            // proxy: splice(2) calls moving bytes between plain sockets
	Closed             map[string]uint64 // closed connections by reason
}

// Stats returns a snapshot of the counters, summed over the workers.
// Safe from any goroutine.
func (s *Server) Stats() Stats {
	st := Stats{Open: s.nconns.Load(), Closed: make(map[string]uint64, numReasons)}
	s.mu.Lock()
	workers := s.workers
	s.mu.Unlock()
	for _, w := range workers {
		c := &w.stats
		st.Accepted += c.accepted.Load()
		st.Refused += c.refused.Load()
		st.AcceptErrors += c.acceptErrors.Load()
		st.Requests += c.requests.Load()
		st.Responses += c.responses.Load()
		st.BadRequests += c.badRequests.Load()
		st.Timeouts += c.timeouts.Load()
		st.TLSHandshakes += c.tlsHandshakes.Load()
		st.TLSHandshakeErrors += c.tlsHandshakeErrors.Load()
		st.WSOpened += c.wsOpened.Load()
		st.WSClosed += c.wsClosed.Load()
		st.WSProtocolErrors += c.wsProtocolErrors.Load()
		st.WSMessagesIn += c.wsMessagesIn.Load()
		st.WSMessagesOut += c.wsMessagesOut.Load()
		st.WSSlowClosed += c.wsSlowClosed.Load()
		st.BytesIn += c.bytesIn.Load()
		st.BytesOut += c.bytesOut.Load()
		st.UpConnects += c.upConnects.Load()
		st.UpReused += c.upReused.Load()
		st.UpFailures += c.upFailures.Load()
		st.UpBytesIn += c.upBytesIn.Load()
		st.UpBytesOut += c.upBytesOut.Load()
		st.UpSplices += c.upSplices.Load()
		for i := range c.closed {
			st.Closed[reasonNames[i]] += c.closed[i].Load()
		}
	}
	for i := range reasonNames {
		if _, ok := st.Closed[reasonNames[i]]; !ok {
			st.Closed[reasonNames[i]] = 0
		}
	}
	return st
}
