package edge

import (
	"syscall"
	"time"
	"unsafe"

	"github.com/edge-rt/edge/proxy"
	"golang.org/x/sys/unix"
)

// The upstream side of the proxy phase: a backend connection registered on
// the same worker's loop as the client connection it serves. It is
// connected without blocking, written with what the client sent (bounded:
// the client is not read while the backend has not taken the last piece),
// read one buffer per event into the client's output (bounded: the
// backend is not read while the client has output waiting), and kept in a
// per-worker, per-backend pool between requests (request mode).

// upBufMax bounds what waits for a backend: one read buffer of client
// bytes (plus a request head). Past it the client is not read.
const upBufMax = readBufSize

// upstream is one backend connection. Loop goroutine only.
type upstream struct {
	w      *worker
	fd     int
	b      *proxy.Backend
	events uint32

	c    *conn  // the client it serves; nil while pooled
	cgen uint32 // c's generation when attached

	connecting bool
	reused     bool   // taken from the pool (a request on it may meet a close the backend already sent)
	out        []byte // bytes the backend has not taken yet (owned)
	deadline   int64  // unix ns: connect or response timeout; 0: none
	idleSince  int64  // unix ns, while pooled
	active     int    // index in w.ups while serving, -1 otherwise
	eof        bool   // the backend closed its side
	shutWr     bool   // our write side is shut down (tunnel half-close)
	closed     bool
	paused     bool // reading stopped: the client has output waiting

	fr   proxy.Framer
	head []byte // request mode: response head bytes collected until complete
	sent int64  // with a ProxyObserver: when the request went whole (unix ns)
}

// upPool is one backend's idle connections on one worker (a stack: the
// most recently used first, so extra ones age out).
type upPool struct {
	idle    []*upstream
	timeout time.Duration // the route's IdleTimeout
}

func (u *upstream) setEvents(ev uint32) {
	if u.events != ev {
		u.events = ev
		u.w.loop.Modify(u.fd, ev)
	}
}

// dialUpstream opens a non-blocking connection to b and registers it on
// the worker's loop. The connection may still be in progress.
func (w *worker) dialUpstream(b *proxy.Backend) (*upstream, error) {
	sa := b.Sockaddr()
	fam := unix.AF_INET
	switch sa.(type) {
	case *unix.SockaddrInet6:
		fam = unix.AF_INET6
	case *unix.SockaddrUnix:
		fam = unix.AF_UNIX
	}
	fd, err := unix.Socket(fam, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	if fam != unix.AF_UNIX {
		unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
	}
	u := &upstream{w: w, fd: fd, b: b, active: -1}
	err = unix.Connect(fd, sa)
	switch err {
	case nil:
	case unix.EINPROGRESS:
		u.connecting = true
	default:
		unix.Close(fd)
		return nil, err
	}
	u.events = unix.EPOLLIN | unix.EPOLLRDHUP
	if u.connecting {
		u.events = unix.EPOLLOUT
	}
	if err := w.loop.Add(fd, u.events, u); err != nil {
		unix.Close(fd)
		return nil, err
	}
	w.stats.upConnects.Add(1)
	return u, nil
}

// takeUpstream returns a pooled connection to b, or nil.
func (w *worker) takeUpstream(b *proxy.Backend) *upstream {
	p := w.pools[b]
	if p == nil {
		return nil
	}
	for n := len(p.idle); n > 0; n = len(p.idle) {
		u := p.idle[n-1]
		p.idle[n-1] = nil
		p.idle = p.idle[:n-1]
		if !u.closed {
			u.reused = true
			return u
		}
	}
	return nil
}

// release puts a connection whose response ended cleanly back in its
// backend's pool, or closes it when the pool is full.
func (u *upstream) release(maxIdle int, idleTimeout time.Duration) {
	w := u.w
	u.detach()
	p := w.pools[u.b]
	if p == nil {
		if w.pools == nil {
			w.pools = make(map[*proxy.Backend]*upPool)
		}
		p = &upPool{}
		w.pools[u.b] = p
	}
	p.timeout = idleTimeout
	if len(p.idle) >= maxIdle || w.closing || u.eof || u.shutWr {
		u.close()
		return
	}
	u.idleSince = w.loop.Now().UnixNano()
	u.head = u.head[:0]
	u.paused = false
	// Readable while idle means the backend closed it (or broke the
	// protocol): either way it is dropped.
	u.setEvents(unix.EPOLLIN | unix.EPOLLRDHUP)
	p.idle = append(p.idle, u)
}

// attach makes u serve client c and tracks its deadline.
func (u *upstream) attach(c *conn) {
	u.c, u.cgen = c, c.gen
	u.sent = 0
	if u.active < 0 {
		u.active = len(u.w.ups)
		u.w.ups = append(u.w.ups, u)
	}
}

// detach unlinks u from its client and from the active list.
func (u *upstream) detach() {
	u.c = nil
	u.deadline = 0
	if i := u.active; i >= 0 {
		ups := u.w.ups
		last := ups[len(ups)-1]
		ups[i] = last
		last.active = i
		ups[len(ups)-1] = nil
		u.w.ups = ups[:len(ups)-1]
		u.active = -1
	}
}

// close releases the backend connection. Idempotent.
func (u *upstream) close() {
	if u.closed {
		return
	}
	u.closed = true
	u.detach()
	u.w.loop.Remove(u.fd)
	unix.Close(u.fd)
	u.out = nil
	u.head = nil
}

// OnEvent implements evloop.Handler.
func (u *upstream) OnEvent(ev uint32) {
	if u.closed {
		return
	}
	c := u.c
	if c == nil || c.closed || c.gen != u.cgen || c.px == nil || c.px.up != u {
		// Pooled (or orphaned): any event is the backend closing or
		// breaking the protocol.
		u.close()
		return
	}
	if u.connecting {
		if ev&(unix.EPOLLOUT|unix.EPOLLERR|unix.EPOLLHUP) == 0 {
			return
		}
		errno, err := unix.GetsockoptInt(u.fd, unix.SOL_SOCKET, unix.SO_ERROR)
		if err != nil || errno != 0 {
			c.pxConnectFailed(u, false)
			return
		}
		u.connecting = false
		if p := u.w.srv.pobs; p != nil && !u.b.Up(u.w.loop.Now().UnixNano()) {
			u.b.Succeed()
			p.BackendUp(u.b.String(), true)
		} else {
			u.b.Succeed()
		}
		c.pxConnected(u)
		return
	}
	if c.px.c2u != nil && ev&(unix.EPOLLOUT|unix.EPOLLERR|unix.EPOLLHUP) != 0 {
		if !c.pxSpliceDrainUp(u) {
			return
		}
		c.pxUpDrained()
		if c.closed || u.closed || c.px == nil || c.px.up != u {
			return
		}
	}
	if len(u.out) > 0 && ev&(unix.EPOLLOUT|unix.EPOLLERR|unix.EPOLLHUP) != 0 {
		if !u.flush() {
			return
		}
		c.pxUpDrained()
		if c.closed || u.closed || c.px == nil || c.px.up != u {
			return
		}
	}
	if ev&(unix.EPOLLIN|unix.EPOLLRDHUP|unix.EPOLLERR|unix.EPOLLHUP) != 0 && !u.paused && !u.eof {
		c.pxUpReadable(u)
	}
}

// write sends p to the backend after anything still waiting; what the
// socket does not take is kept (copied) and EPOLLOUT asked for. It
// reports false when the backend connection failed.
func (u *upstream) write(p []byte) bool {
	if len(p) == 0 {
		return true
	}
	if len(u.out) > 0 || u.connecting {
		u.out = append(u.out, p...)
		return true
	}
	n, e := rawWrite(u.fd, p)
	if e != 0 && e != unix.EAGAIN && e != unix.EINTR {
		return false
	}
	u.w.stats.upBytesOut.Add(uint64(n))
	if n < len(p) {
		u.out = append(u.out, p[n:]...)
		u.setEvents(u.events | unix.EPOLLOUT)
	}
	return true
}

// flush writes u.out; it reports whether all of it went (false also when
// the connection failed, which closes the client's exchange).
func (u *upstream) flush() bool {
	if len(u.out) == 0 {
		return true
	}
	n, e := rawWrite(u.fd, u.out)
	if e != 0 && e != unix.EAGAIN && e != unix.EINTR {
		u.c.pxUpFailed(u)
		return false
	}
	u.w.stats.upBytesOut.Add(uint64(n))
	rest := copy(u.out, u.out[n:])
	u.out = u.out[:rest]
	if rest > 0 {
		u.setEvents(u.events | unix.EPOLLOUT)
		return false
	}
	if cap(u.out) > upBufMax*2 {
		u.out = nil
	}
	u.setEvents(u.events &^ unix.EPOLLOUT)
	return true
}

// read reads what the backend sent into the worker's read buffer: n bytes,
// or eof, or a failure (errno).
func (u *upstream) read() (n int, eof bool, e syscall.Errno) {
	buf := u.w.rbuf
	r, _, e := syscall.RawSyscall(unix.SYS_READ, uintptr(u.fd), uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)))
	if e != 0 {
		if e == unix.EAGAIN || e == unix.EINTR {
			return 0, false, 0
		}
		return 0, false, e
	}
	if r == 0 {
		return 0, true, 0
	}
	u.w.stats.upBytesIn.Add(uint64(r))
	return int(r), false, 0
}

// pause stops reading the backend (the client has output waiting).
func (u *upstream) pause() {
	u.paused = true
	u.setEvents(u.events &^ (unix.EPOLLIN | unix.EPOLLRDHUP))
}

// resume reads the backend again.
func (u *upstream) resume() {
	if !u.paused || u.closed {
		return
	}
	u.paused = false
	if !u.eof {
		u.setEvents(u.events | unix.EPOLLIN | unix.EPOLLRDHUP)
	}
}

func rawWrite(fd int, p []byte) (int, syscall.Errno) {
	r, _, e := syscall.RawSyscall(unix.SYS_WRITE, uintptr(fd), uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)))
	if e != 0 {
		return 0, e
	}
	return int(r), 0
}

// tickUpstreams expires connect and response deadlines and idle pooled
// connections (once a second, with the worker's other timeouts).
func (w *worker) tickUpstreams(now time.Time) {
	ns := now.UnixNano()
	for i := 0; i < len(w.ups); {
		u := w.ups[i]
		if u.deadline == 0 || ns < u.deadline {
			i++
			continue
		}
		c := u.c
		if c == nil || c.closed || c.gen != u.cgen || c.px == nil || c.px.up != u {
			u.close()
			continue
		}
		if u.connecting {
			c.pxConnectFailed(u, true)
		} else {
			c.pxTimeout(u)
		}
		// The handlers above took u off the list (or closed it).
		if i < len(w.ups) && w.ups[i] == u {
			i++
		}
	}
	for b, p := range w.pools {
		if len(p.idle) == 0 {
			delete(w.pools, b) // a backend of a route a reload removed, or unused
			continue
		}
		keep := p.idle[:0]
		for _, u := range p.idle {
			if u.closed {
				continue
			}
			if w.closing || ns-u.idleSince >= int64(p.timeout) {
				u.close()
				continue
			}
			keep = append(keep, u)
		}
		clear(p.idle[len(keep):])
		p.idle = keep
	}
}

// closeUpstreams closes every pooled connection and pipe (shutdown).
func (w *worker) closeUpstreams() {
	w.closePipes()
	for _, p := range w.pools {
		for _, u := range p.idle {
			u.close()
		}
		p.idle = nil
	}
}
