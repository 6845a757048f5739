package edge

import (
	"context"
	"net"
	"os"
	"sync"

	"github.com/edge-rt/edge/tlsbackend"
	"golang.org/x/sys/unix"
)

// The takeover phase: a handler gave the connection to a goroutine
// (Ctx.Takeover, Ctx.Detach). The proxy's upstream phase will sit here too.

// handOver gives the connection to a goroutine running the route's
// takeover function, with the head and whatever input was read after it.
// A plain socket leaves the loop (a dup'ed descriptor, as net.Conn); a
// TLS connection stays registered, the loop forwarding readiness to the
// goroutine's blocking reads and writes through the TLS stream.
func (c *conn) handOver() {
	w := c.w
	s := w.srv
	fn := c.detach
	t := c.take
	c.take = nil
	t.Head = append([]byte(nil), c.head...)
	t.Buffered = append([]byte(nil), c.in...)
	t.TLS = c.tls != nil
	t.Remote = c.remote
	c.head, c.in = nil, nil
	if c.tls != nil {
		c.handOverTLS(fn, t)
		return
	}
	f := os.NewFile(uintptr(c.fd), "edge-conn")
	w.loop.Remove(c.fd)
	nc, err := net.FileConn(f) // dups the descriptor
	f.Close()
	c.close(reasonDetach)
	if err != nil {
		s.nconns.Add(-1)
		s.log.Warn("edge: detach", "err", err)
		return
	}
	t.Conn = nc
	if !s.startGoroutine(func(ctx context.Context) {
		defer s.nconns.Add(-1)
		defer nc.Close()
		fn(ctx, t)
	}) {
		nc.Close()
		s.nconns.Add(-1)
	}
}

// handOverTLS runs fn over the decrypted stream; the connection closes
// when fn closes it or returns. A session connection (phase_tls_session.go)
// becomes a blocking net.Conn over its session, as the goroutine path's
// TLS connection is over its transport.
func (c *conn) handOverTLS(fn func(context.Context, *Takeover), t *Takeover) {
	w := c.w
	s := w.srv
	tr := c.tr
	ss := c.ss // a session on the loop: the goroutine owns it now and frees it
	if ss != nil {
		ss.beginTakeover()
	}
	tr.blocking.Store(true)
	tr.running.Store(true)
	c.taken = true
	c.detach = nil
	c.events = unix.EPOLLIN | unix.EPOLLOUT | unix.EPOLLRDHUP | unix.EPOLLET
	w.loop.Modify(c.fd, c.events)
	c.moveTo(&w.taken)
	gen := c.gen
	tc := &takenConn{Conn: c.tls, tr: tr}
	t.Conn = tc
	ok := s.startGoroutine(func(ctx context.Context) {
		stop := context.AfterFunc(ctx, tr.kill)
		defer stop()
		fn(ctx, t)
		tc.Close()
		if ss != nil {
			ss.free()
		}
		tr.running.Store(false)
		if tr.connClosed.Load() {
			if tr.claim() {
				unix.Close(tr.fd)
			}
			return
		}
		if w.submitConn(c, gen, func() { c.close(reasonDone) }) != nil {
			tr.kill()
			if tr.claim() {
				unix.Close(tr.fd)
				if !tr.connClosed.Load() {
					s.nconns.Add(-1)
				}
			}
		}
	})
	if !ok {
		tr.running.Store(false)
		c.close(reasonShutdown)
		if ss != nil {
			ss.free()
		}
	}
}

// takenConn is the TLS stream given to a takeover: Close sends
// close_notify once; the loop closes the socket when the taker is done.
type takenConn struct {
	tlsbackend.Conn
	tr   *transport
	once sync.Once
}

// Close sends close_notify and makes blocked and later reads and writes
// fail (on another goroutine too).
func (t *takenConn) Close() error {
	t.once.Do(func() {
		t.Conn.CloseWrite()
		t.tr.kill()
	})
	return nil
}
