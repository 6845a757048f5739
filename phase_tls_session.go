package edge

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"github.com/edge-rt/edge/tlsbackend"
	"golang.org/x/sys/unix"
)

// The TLS phase on the event loop, for backends whose Server implements
// tlsbackend.SessionServer (OpenSSL): no goroutine at all, handshake
// included. On a readable event the loop reads the socket once (a
// connection's share of a loop round), hands the ciphertext to the
// session, advances the handshake or decrypts into the worker's read
// buffer, and sends what the session produced through the connection's
// usual output path.
//
// tlsSession is also the connection's tlsbackend.Conn (c.tls), so the
// rest of the engine (readTLS, sealTLS, close_notify on close, WebSocket
// queues) runs unchanged: Read reads the socket at most once per round and
// Write appends ciphertext to the transport's out, which sealTLS sends.
// After Ctx.Takeover it turns into a blocking net.Conn over the same
// session for the taker's goroutine (the transport's blocking mode, woken
// by the loop as on the goroutine path).

// errHandshakeTimeout is the error of a handshake the loop timed out.
var errHandshakeTimeout = errors.New("edge: tls handshake timed out")

// errHandshakeOnLoop answers HandshakeContext: the loop runs the handshake.
var errHandshakeOnLoop = errors.New("edge: the TLS handshake runs on the event loop")

// tlsSession is a session-driven TLS connection: the session, and the
// transport (the socket) it runs over.
type tlsSession struct {
	tr   transport
	sess tlsbackend.Session
	// readable: the current loop round may still read the socket (once).
	readable bool
	done     bool // handshake complete
	eof      bool // the peer's close_notify came: every later Read says io.EOF (as crypto/tls)

	// Takeover only: mu guards sess (the taker may Read and Write from
	// two goroutines), rmu serialises readers, wmu writers; wmu is taken
	// before mu is released so that records go out in the order the
	// session made them.
	mu, rmu, wmu sync.Mutex
	raw          []byte // takeover: ciphertext read buffer
}

var _ tlsbackend.Conn = (*tlsSession)(nil)

// sessionServer returns the listener's Server as a SessionServer, or nil.
func (cfg *TLSConfig) sessionServer() tlsbackend.SessionServer {
	ss, _ := cfg.Server.(tlsbackend.SessionServer)
	return ss
}

// handshakeTimeout is how long a handshake on this listener may take.
func (cfg *TLSConfig) handshakeTimeout(s *Server) time.Duration {
	timeout := cfg.HandshakeTimeout
	if timeout <= 0 {
		timeout = s.cfg.ReadTimeout
	}
	if timeout <= 0 {
		timeout = 15 * time.Second // a handshake is never unbounded
	}
	return timeout
}

// startSession makes c a session connection in its handshake: the loop
// drives it (stepHandshake) on each readable event, and the tick closes
// it when it outlives the listener's handshake timeout.
func (c *conn) startSession(srv tlsbackend.SessionServer) {
	var remote net.Addr = &net.UnixAddr{Net: "unix"}
	if c.remote.IsValid() {
		remote = net.TCPAddrFromAddrPort(c.remote)
	}
	local := c.l.ln.Addr()
	ss := &tlsSession{sess: srv.NewSession(local, remote)}
	ss.tr.fd, ss.tr.local, ss.tr.remote = c.fd, local, remote
	if c.l.tls.JA4 {
		ss.tr.hello = make([]byte, 0, 2048)
	}
	c.tr = &ss.tr
	c.tls = ss
	c.ss = ss
	c.handshaking = true
	c.events = unix.EPOLLIN | unix.EPOLLRDHUP
	if c.w.srv.obs != nil {
		c.hsStart = time.Now().UnixNano()
	}
}

// tlsEvent handles readiness while the connection is in its TLS
// handshake or taken over on a TLS listener: the loop steps a session's
// handshake itself and wakes the goroutine of the others.
func (c *conn) tlsEvent(ev uint32) {
	if c.handshaking && c.ss != nil {
		c.stepHandshake(ev)
		return
	}
	c.tr.signal()
}

// stepHandshake is one loop round of a session's handshake: send what is
// left of the last flight, or read the socket once, hand the bytes to the
// session and send its answer.
func (c *conn) stepHandshake(ev uint32) {
	w := c.w
	if len(c.pend) > 0 {
		if ev&(unix.EPOLLOUT|unix.EPOLLERR|unix.EPOLLHUP) != 0 {
			c.sendHandshake(nil)
		}
		return
	}
	buf := w.rbuf
	r, _, e := syscall.RawSyscall(unix.SYS_READ, uintptr(c.fd), uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)))
	switch {
	case e == unix.EAGAIN || e == unix.EINTR:
		return
	case e != 0:
		c.handshakeDone(c.tls, os.NewSyscallError("read", e))
		return
	case r == 0:
		c.handshakeDone(c.tls, io.ErrUnexpectedEOF)
		return
	}
	c.feedHandshake(buf[:r])
}

// feedHandshake hands ciphertext read from the peer (or read before the
// handshake began: a preface) to the session and sends its answer.
func (c *conn) feedHandshake(in []byte) {
	w := c.w
	ss := c.ss
	if t := &ss.tr; t.hello != nil && !t.helloDone {
		t.collectHello(in)
	}
	ss.sess.Input(in)
	err := ss.sess.Handshake()
	out := ss.sess.AppendOutput(w.tlsOut[:0])
	w.tlsOut = out[:0]
	if !c.sendHandshake(out) {
		return
	}
	if err == tlsbackend.ErrWantRead {
		return
	}
	if err == nil {
		ss.done = true
		c.ja4 = ss.tr.fingerprint()
	}
	ss.readable = false // this round's read is done: decrypt only what came
	c.handshakeDone(c.tls, err)
}

// sendHandshake writes a handshake flight (out, the worker's buffer) or,
// with out nil, what the socket did not take of the last one (c.pend);
// the rest waits in c.pend for EPOLLOUT, and no input is read until it
// went. It reports false when the connection closed.
func (c *conn) sendHandshake(out []byte) bool {
	w := c.w
	bufs := c.pend
	if len(out) > 0 {
		bufs = append(w.bufs[:0], out)
	}
	if len(bufs) == 0 {
		return true
	}
	n, e := w.writev(c.fd, bufs)
	if e != 0 && e != unix.EAGAIN && e != unix.EINTR {
		if len(out) > 0 {
			w.bufs = bufs[:0]
		}
		c.handshakeDone(c.tls, os.NewSyscallError("write", e))
		return false
	}
	w.stats.bytesOut.Add(uint64(n))
	if len(out) > 0 {
		w.bufs = bufs[:0]
		if n < len(out) {
			c.pend = [][]byte{append([]byte(nil), out[n:]...)}
		}
	} else {
		for n > 0 && len(c.pend) > 0 {
			if n >= len(c.pend[0]) {
				n -= len(c.pend[0])
				c.pend = c.pend[1:]
				continue
			}
			c.pend[0] = c.pend[0][n:]
			n = 0
		}
	}
	if len(c.pend) == 0 {
		c.pend = nil
		if c.handshaking {
			c.setEvents(unix.EPOLLIN | unix.EPOLLRDHUP)
		}
		return true
	}
	c.setEvents(unix.EPOLLOUT)
	return true
}

// expireHandshakes closes the handshakes on the loop that outlived their
// listener's handshake timeout. w.handshakes is in start order and its
// timeout is the shortest of the listeners'; the goroutine path times its
// handshakes out itself and is skipped.
func (w *worker) expireHandshakes(now time.Time) {
	l := &w.handshakes
	if l.timeout <= 0 {
		return
	}
	limit := now.Add(-l.timeout).UnixNano()
	for c := l.head; c != nil && c.since <= limit; {
		next := c.next
		if c.ss != nil && now.UnixNano()-c.since >= int64(c.l.tls.handshakeTimeout(w.srv)) {
			c.handshakeDone(c.tls, errHandshakeTimeout)
		}
		c = next
	}
}

// shortestHandshakeTimeout is the handshakes list's timeout: the shortest
// of the TLS listeners' handshake timeouts (0: no TLS listener).
func (s *Server) shortestHandshakeTimeout() time.Duration {
	var d time.Duration
	for _, l := range s.listeners {
		if l.tls != nil {
			if t := l.tls.handshakeTimeout(s); d == 0 || t < d {
				d = t
			}
		}
	}
	return d
}

// afterSessionHandshake goes on once a session's handshake completed:
// application data may have come with the client's last flight, so it
// decrypts what the session holds without reading the socket again.
func (c *conn) afterSessionHandshake() {
	if c.blocked() {
		// The last flight did not go out whole: read once it did.
		c.tlsMore = true
		c.waitWritable()
		return
	}
	c.readTLSRound(false, false)
}

// freeSession frees the session of a closing connection unless a taker's
// goroutine still has it (it frees it when done).
func (c *conn) freeSession() {
	if c.ss != nil && !c.taken {
		c.ss.free()
	}
}

// free releases the session. Idempotent.
func (ss *tlsSession) free() {
	ss.mu.Lock()
	if ss.sess != nil {
		ss.sess.Close()
		ss.sess = nil
	}
	ss.mu.Unlock()
}

// sealPiece bounds the plaintext given to the session per Write, so that
// its output buffer never holds more than a few records.
const sealPiece = 16 << 10

// Read decrypts into p. On the loop it reads the socket at most once per
// round and returns errWouldBlock when it has nothing more; after a
// takeover it blocks.
func (ss *tlsSession) Read(p []byte) (int, error) {
	if ss.tr.blocking.Load() {
		return ss.readBlocking(p)
	}
	if ss.sess == nil {
		return 0, net.ErrClosed
	}
	if ss.eof {
		return 0, io.EOF
	}
	for {
		n, err := ss.sess.Read(p)
		if n > 0 {
			return n, nil
		}
		switch {
		case err == io.EOF:
			ss.eof = true
			return 0, err
		case err == nil:
			return 0, nil
		case err != tlsbackend.ErrWantRead:
			// A fatal alert or the peer's close_notify (io.EOF); a reply
			// to a key update waits in the session's output.
			return 0, err
		case !ss.readable:
			return 0, errWouldBlock
		}
		ss.readable = false
		// The ciphertext goes through p: the session copies it.
		r, _, e := syscall.RawSyscall(unix.SYS_READ, uintptr(ss.tr.fd), uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)))
		switch {
		case e == unix.EAGAIN || e == unix.EINTR:
			return 0, errWouldBlock
		case e != 0:
			return 0, os.NewSyscallError("read", e)
		case r == 0:
			return 0, io.EOF
		}
		ss.sess.Input(p[:r])
	}
}

// Write encrypts p. On the loop the ciphertext is appended to the
// transport's out, which sealTLS sends; after a takeover it is sent.
func (ss *tlsSession) Write(p []byte) (int, error) {
	if ss.tr.blocking.Load() {
		return ss.writeBlocking(p)
	}
	if ss.sess == nil {
		return 0, net.ErrClosed
	}
	ss.tr.out = ss.sess.AppendOutput(ss.tr.out) // anything the session wrote on its own first
	done := 0
	for done < len(p) {
		n, err := ss.sess.Write(p[done:min(len(p), done+sealPiece)])
		done += n
		ss.tr.out = ss.sess.AppendOutput(ss.tr.out)
		if err != nil {
			return done, err
		}
	}
	return done, nil
}

// CloseWrite queues (on the loop) or sends (after a takeover) a
// close_notify alert.
func (ss *tlsSession) CloseWrite() error {
	if ss.tr.blocking.Load() {
		ss.mu.Lock()
		if ss.sess == nil {
			ss.mu.Unlock()
			return net.ErrClosed
		}
		err := ss.sess.CloseNotify()
		if ferr := ss.flushLocked(); err == nil {
			err = ferr
		}
		return err
	}
	if ss.sess == nil || !ss.done {
		return net.ErrClosed
	}
	ss.tr.out = ss.sess.AppendOutput(ss.tr.out)
	err := ss.sess.CloseNotify()
	ss.tr.out = ss.sess.AppendOutput(ss.tr.out)
	return err
}

// HandshakeContext reports the state of the loop's handshake: nil once it
// completed.
func (ss *tlsSession) HandshakeContext(context.Context) error {
	if ss.done {
		return nil
	}
	return errHandshakeOnLoop
}

// State describes the connection once the handshake is done.
func (ss *tlsSession) State() tlsbackend.State {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.sess == nil {
		return tlsbackend.State{}
	}
	return ss.sess.State()
}

// Close makes blocked and later I/O of a taker fail; the socket is the
// connection's.
func (ss *tlsSession) Close() error { return ss.tr.Close() }

// LocalAddr is the listener's address.
func (ss *tlsSession) LocalAddr() net.Addr { return ss.tr.local }

// RemoteAddr is the client's address.
func (ss *tlsSession) RemoteAddr() net.Addr { return ss.tr.remote }

// SetDeadline with a time in the past aborts a taker's blocked I/O.
func (ss *tlsSession) SetDeadline(d time.Time) error { return ss.tr.SetDeadline(d) }

// SetReadDeadline is SetDeadline.
func (ss *tlsSession) SetReadDeadline(d time.Time) error { return ss.tr.SetDeadline(d) }

// SetWriteDeadline is SetDeadline.
func (ss *tlsSession) SetWriteDeadline(d time.Time) error { return ss.tr.SetDeadline(d) }

// beginTakeover turns the session into a blocking connection for a
// taker's goroutine: the loop only wakes it from now on.
func (ss *tlsSession) beginTakeover() {
	ss.tr.wake = make(chan struct{}, 1)
	ss.raw = make([]byte, 16<<10+512)
}

// readBlocking is Read for a taker: it waits for ciphertext.
func (ss *tlsSession) readBlocking(p []byte) (int, error) {
	ss.rmu.Lock()
	defer ss.rmu.Unlock()
	for {
		ss.mu.Lock()
		if ss.sess == nil {
			ss.mu.Unlock()
			return 0, net.ErrClosed
		}
		n, err := ss.sess.Read(p)
		werr := ss.flushLocked() // a reply to a key update
		switch {
		case n > 0 || len(p) == 0:
			return n, nil
		case err != tlsbackend.ErrWantRead:
			return 0, err
		case werr != nil:
			return 0, werr
		}
		m, rerr := ss.tr.Read(ss.raw)
		if m > 0 {
			ss.mu.Lock()
			if ss.sess != nil {
				ss.sess.Input(ss.raw[:m])
			}
			ss.mu.Unlock()
		}
		if rerr != nil && m == 0 {
			return 0, rerr
		}
	}
}

// writeBlocking is Write for a taker: it encrypts and sends.
func (ss *tlsSession) writeBlocking(p []byte) (int, error) {
	done := 0
	for done < len(p) {
		ss.mu.Lock()
		if ss.sess == nil {
			ss.mu.Unlock()
			return done, net.ErrClosed
		}
		n, err := ss.sess.Write(p[done:min(len(p), done+sealPiece)])
		done += n
		if werr := ss.flushLocked(); err == nil {
			err = werr
		}
		if err != nil {
			return done, err
		}
	}
	return done, nil
}

// flushLocked sends the session's output; called with mu held, it
// releases it (after taking wmu, so that output goes out in order).
func (ss *tlsSession) flushLocked() error {
	var out []byte
	if ss.sess != nil {
		out = ss.sess.AppendOutput(nil)
	}
	ss.wmu.Lock()
	ss.mu.Unlock()
	defer ss.wmu.Unlock()
	if len(out) == 0 {
		return nil
	}
	_, err := ss.tr.Write(out)
	return err
}
