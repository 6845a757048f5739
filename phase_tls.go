package edge

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/edge-rt/edge/ja4"
	"github.com/edge-rt/edge/observe"
	"github.com/edge-rt/edge/sni"
	"github.com/edge-rt/edge/tlsbackend"
	"golang.org/x/sys/unix"
)

// The TLS phase: the transport under the build's TLS backend, the
// handshake (a goroutine per handshake; backends with
// tlsbackend.SessionServer run on the loop instead, in
// phase_tls_session.go), and reading and sealing records.

// errWouldBlock is what the transport's Read returns, after the handshake,
// when the socket has no data: crypto/tls passes temporary errors through
// and stays usable.
var errWouldBlock = &wouldBlockError{}

type wouldBlockError struct{}

func (*wouldBlockError) Error() string { return "edge: would block" }

func (*wouldBlockError) Temporary() bool { return true }

func (*wouldBlockError) Timeout() bool { return true }

var errTransportClosed = errors.New("edge: transport closed")

// transport is the net.Conn a TLS backend runs over: the raw non-blocking
// descriptor of a connection. During the handshake (a goroutine of its
// own) it blocks by waiting for the event loop to signal readiness, so a
// stalled handshake costs a parked goroutine, never a thread. After the
// handshake it is used on the loop only: Read returns errWouldBlock
// instead of waiting, and Write appends to out, which the loop sends.
type transport struct {
	fd       int
	blocking atomic.Bool
	dead     atomic.Bool
	// running is true while the handshake goroutine may use fd; claimed
	// decides who closes fd when the connection ends during the
	// handshake (the loop, or the goroutine once it let go of fd);
	// connClosed says the loop already closed the connection.
	running    atomic.Bool
	claimed    atomic.Bool
	connClosed atomic.Bool
	// hello, when not nil, collects the first bytes read (handshake
	// goroutine only) until they hold the whole ClientHello, for JA4.
	hello     []byte
	helloDone bool
	// pre holds bytes read before the handshake began (a preface), read
	// first.
	pre    []byte
	wake   chan struct{}
	out    []byte // loop mode: ciphertext to send
	local  net.Addr
	remote net.Addr
}

func (t *transport) signal() {
	select {
	case t.wake <- struct{}{}:
	default:
	}
}

// collectHello keeps the bytes of the ClientHello as they are read.
func (t *transport) collectHello(b []byte) {
	if len(t.hello)+len(b) > sni.MaxHelloBytes {
		b = b[:sni.MaxHelloBytes-len(t.hello)]
	}
	t.hello = append(t.hello, b...)
	if _, err := sni.ParseClientHello(t.hello); err != sni.ErrNeedMore {
		t.helloDone = true
	}
}

// fingerprint returns the JA4 of the collected ClientHello ("" if none).
func (t *transport) fingerprint() string {
	if t.hello == nil {
		return ""
	}
	h, err := sni.ParseClientHello(t.hello)
	t.hello = nil
	if err != nil {
		return ""
	}
	return ja4.Fingerprint(h, ja4.TCP)
}

// claim reports whether the caller is the one to close fd.
func (t *transport) claim() bool { return t.claimed.CompareAndSwap(false, true) }

// kill makes blocked and future handshake I/O fail.
func (t *transport) kill() {
	t.dead.Store(true)
	t.signal()
}

func (t *transport) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if len(t.pre) > 0 {
		n := copy(p, t.pre)
		t.pre = t.pre[n:]
		if t.hello != nil && !t.helloDone {
			t.collectHello(p[:n])
		}
		return n, nil
	}
	for {
		if t.dead.Load() {
			return 0, errTransportClosed
		}
		r, _, e := syscall.RawSyscall(unix.SYS_READ, uintptr(t.fd), uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)))
		switch {
		case e == 0 && r == 0:
			return 0, io.EOF
		case e == 0:
			if t.hello != nil && !t.helloDone && t.blocking.Load() {
				t.collectHello(p[:r])
			}
			return int(r), nil
		case e == unix.EINTR:
			continue
		case e != unix.EAGAIN:
			return 0, os.NewSyscallError("read", e)
		}
		if !t.blocking.Load() {
			return 0, errWouldBlock
		}
		<-t.wake
	}
}

func (t *transport) Write(p []byte) (int, error) {
	if !t.blocking.Load() {
		t.out = append(t.out, p...)
		return len(p), nil
	}
	done := 0
	for done < len(p) {
		if t.dead.Load() {
			return done, errTransportClosed
		}
		r, _, e := syscall.RawSyscall(unix.SYS_WRITE, uintptr(t.fd), uintptr(unsafe.Pointer(&p[done])), uintptr(len(p)-done))
		switch {
		case e == 0:
			done += int(r)
			continue
		case e == unix.EINTR:
			continue
		case e != unix.EAGAIN:
			return done, os.NewSyscallError("write", e)
		}
		<-t.wake
	}
	return done, nil
}

// Close does not close the descriptor: the connection owns it.
func (t *transport) Close() error { t.kill(); return nil }

func (t *transport) LocalAddr() net.Addr { return t.local }

func (t *transport) RemoteAddr() net.Addr { return t.remote }

// SetDeadline with a time in the past aborts a blocked handshake; after
// the handshake deadlines are the event loop's business (crypto/tls sets
// one after sending close_notify, which must not kill the connection).
func (t *transport) SetDeadline(d time.Time) error {
	if t.blocking.Load() && !d.IsZero() && !d.After(time.Now()) {
		t.kill()
	}
	return nil
}

func (t *transport) SetReadDeadline(d time.Time) error { return t.SetDeadline(d) }

func (t *transport) SetWriteDeadline(d time.Time) error { return t.SetDeadline(d) }

// startHandshake runs the TLS handshake of a new connection in a goroutine;
// the loop only forwards readiness to it until handshakeDone. It reports
// false when no goroutine could start (shutdown): close the connection.
func (c *conn) startHandshake(pre []byte) bool {
	w := c.w
	s := w.srv
	lt := c.l.tls
	if srv := lt.sessionServer(); srv != nil {
		c.startSession(srv) // phase_tls_session.go: on the loop, no goroutine
		return true
	}
	var remote net.Addr = &net.UnixAddr{Net: "unix"}
	if c.remote.IsValid() {
		remote = net.TCPAddrFromAddrPort(c.remote)
	}
	t := &transport{fd: c.fd, wake: make(chan struct{}, 1), local: c.l.ln.Addr(), remote: remote, pre: pre}
	t.blocking.Store(true)
	c.tr = t
	c.tls = lt.Server.Conn(t)
	c.handshaking = true
	// Edge-triggered while handshaking: every readiness change wakes the
	// goroutine once; the loop never spins on a writable socket.
	c.events = unix.EPOLLIN | unix.EPOLLOUT | unix.EPOLLRDHUP | unix.EPOLLET
	timeout := lt.handshakeTimeout(s)
	tc := c.tls
	gen := c.gen
	if s.obs != nil {
		c.hsStart = time.Now().UnixNano()
	}
	if lt.JA4 {
		t.hello = make([]byte, 0, 2048)
	}
	t.running.Store(true)
	ok := s.startGoroutine(func(ctx context.Context) {
		hctx, cancel := context.WithTimeout(ctx, timeout)
		err := tc.HandshakeContext(hctx)
		cancel()
		fp := t.fingerprint()
		t.running.Store(false)
		if t.connClosed.Load() {
			// The connection was closed during the handshake: the loop left
			// the descriptor to us unless it saw us done.
			if t.claim() {
				unix.Close(t.fd)
			}
			return
		}
		if w.submitConn(c, gen, func() { c.ja4 = fp; c.handshakeDone(tc, err) }) != nil {
			// The loop is gone (shut down or dead): nobody else will
			// release this connection.
			t.kill()
			if t.claim() {
				unix.Close(t.fd)
				if !t.connClosed.Load() {
					s.nconns.Add(-1)
				}
			}
		}
	})
	if !ok {
		t.running.Store(false)
	}
	return ok
}

// handshakeDone runs on the loop when the handshake ends (its goroutine's,
// or a session's on the loop).
func (c *conn) handshakeDone(tc tlsbackend.Conn, err error) {
	if c.closed || c.tls != tc {
		return
	}
	s := c.w.srv
	c.handshaking = false
	if s.obs != nil {
		h := observe.Handshake{Listener: c.l.name, Backend: c.l.tls.backendName(), Err: err,
			Duration: time.Duration(time.Now().UnixNano() - c.hsStart)}
		if err == nil {
			st := tc.State()
			h.Version, h.Resumed, h.ServerName = st.Version, st.DidResume, st.ServerName
		}
		s.obs.Handshake(h)
	}
	if err != nil {
		c.w.stats.tlsHandshakeErrors.Add(1)
		if s.cfg.Debug {
			s.log.Debug("edge: tls handshake", "remote", c.remote, "err", err)
		}
		c.close(reasonTLSHandshake)
		return
	}
	c.w.stats.tlsHandshakes.Add(1)
	c.tr.blocking.Store(false)
	if allow := c.l.tls.AllowJA4; allow != nil && !allow(c.ja4) {
		c.w.stats.refused.Add(1)
		if s.obs != nil {
			s.obs.ConnRefused(c.l.name, observe.RefusePolicy)
		}
		c.close(reasonDone) // close_notify before the FIN
		return
	}
	st := tc.State()
	c.sni = strings.ToLower(st.ServerName)
	c.tlsVersion = st.Version
	c.setEvents(unix.EPOLLIN | unix.EPOLLRDHUP)
	c.moveTo(&c.w.fresh)
	if c.ss != nil {
		c.afterSessionHandshake()
		return
	}
	// Application data may have arrived with the handshake's last flight
	// and sit decrypted-to-be inside the TLS connection: read now.
	c.read()
}

// readTLS fills the worker buffer (after carried input n0) with plaintext
// until the transport would block or the buffer is full. eof reports that
// the peer closed (or the connection failed) after the bytes returned.
func (c *conn) readTLS(n0 int) (n int, full, eof bool) {
	buf := c.w.rbuf
	n = n0
	for n < len(buf) {
		m, err := c.tls.Read(buf[n:])
		n += m
		if err != nil {
			if err == errWouldBlock {
				return n, false, false
			}
			var wb *wouldBlockError
			if errors.As(err, &wb) {
				return n, false, false
			}
			return n, false, true
		}
		if m == 0 {
			return n, false, false
		}
	}
	return n, true, false
}

// tlsSealChunk bounds the plaintext one round encrypts for a connection:
// a large by-reference body is encrypted as the socket takes it, so N slow
// readers of a big static file cost N x this much ciphertext, not N x the
// file.
const tlsSealChunk = 128 << 10

// sealTLS encrypts the worker's output (after plaintext left from earlier
// rounds) into the transport, at most tlsSealChunk of it, and makes the
// ciphertext the only buffer to write. What it did not encrypt waits in
// c.tlsPlain: references to immutable bodies, copies of the rest.
func (c *conn) sealTLS() {
	w := c.w
	t := c.tr
	t.out = append(w.tlsOut[:0], t.out...) // anything the TLS layer wrote on its own (alerts, key updates)
	var werr error
	sealed := 0
	earlier := c.tlsPlain
	c.tlsPlain = nil
	n := len(earlier) + len(w.bufs)
	for i := 0; i < n && werr == nil; i++ {
		var b []byte
		owned := true // immutable or already a copy
		if i < len(earlier) {
			b = earlier[i]
		} else {
			b, owned = w.bufs[i-len(earlier)], w.bufRef[i-len(earlier)]
		}
		if sealed < tlsSealChunk {
			take := min(len(b), tlsSealChunk-sealed)
			if _, werr = c.tls.Write(b[:take]); werr != nil {
				break
			}
			sealed += take
			b = b[take:]
		}
		if len(b) == 0 {
			continue
		}
		if !owned {
			b = append([]byte(nil), b...)
		}
		c.tlsPlain = append(c.tlsPlain, b)
	}
	w.tlsOut = t.out[:0]
	w.bufs = append(w.bufs[:0], t.out)
	w.bufRef = append(w.bufRef[:0], false)
	t.out = nil
	if werr != nil {
		// The rest of the output is lost: never go on as if it was sent.
		w.bufs = w.bufs[:0]
		c.tlsPlain = nil
		c.close(reasonWriteError)
	}
}

// readTLSLoop reads one buffer-full of plaintext (what the transport has,
// up to the worker's read buffer) and processes it. That is the
// connection's share of a loop round: when more may wait inside the TLS
// connection (the buffer filled) or input was left for lack of output
// budget, tlsMore makes afterOutput queue the next read behind the other
// connections' events, so one fast TLS client cannot hold its worker.
func (c *conn) readTLSLoop(carried bool) { c.readTLSRound(carried, true) }

// readTLSRound is readTLSLoop; readSocket false keeps a session from
// reading the socket (this round already did).
func (c *conn) readTLSRound(carried, readSocket bool) {
	w := c.w
	if c.ss != nil {
		c.ss.readable = readSocket
	}
	n0 := copy(w.rbuf, c.in)
	n, full, eof := c.readTLS(n0)
	// carried: c.in holds input not processed yet (kept while a reply was
	// pending or output blocked), to process even if nothing new came.
	if n > n0 || (n > 0 && (c.overBudget || carried)) {
		w.stats.bytesIn.Add(uint64(n - n0))
		c.releaseIn()
		w.resetOut()
		c.process(w.rbuf[:n])
		c.tlsMore = full || (c.overBudget && len(c.in) > 0)
		c.finish()
	} else {
		c.tlsMore = full
	}
	if c.closed {
		return
	}
	if eof {
		if c.px != nil && !c.px.tunnel {
			// The client is done sending, after a request now proxied:
			// answer it, then close.
			c.closeAfter = true
			return
		}
		c.close(reasonPeer)
	}
}
