package edge

import (
	"golang.org/x/sys/unix"
)

// Zero-copy tunnels: where both ends of a tunnel are plain sockets (pin
// mode on a plain listener, SNI passthrough, a WebSocket upgrade on a
// plain listener), bytes move with splice(2) through a pipe instead of
// being copied through user space. A pipe is held only while bytes are in
// it (taken from and returned to a per-worker pool, bounded), so an idle
// tunnel holds none; past the bound, tunnels copy as usual.

// maxPipes bounds the pipes a worker holds (each is two descriptors).
const maxPipes = 256

// pipeSize is the capacity asked for each pipe (the Linux default).
const pipeSize = 64 << 10

// spipe is a pipe with the number of bytes in it.
type spipe struct {
	r, w int
	n    int
}

// takePipe returns a pipe from the worker's pool, a new one, or nil when
// the worker holds maxPipes.
func (w *worker) takePipe() *spipe {
	if n := len(w.pipes); n > 0 {
		p := w.pipes[n-1]
		w.pipes = w.pipes[:n-1]
		return p
	}
	if w.npipes >= maxPipes {
		return nil
	}
	var fds [2]int
	if unix.Pipe2(fds[:], unix.O_NONBLOCK|unix.O_CLOEXEC) != nil {
		return nil
	}
	w.npipes++
	return &spipe{r: fds[0], w: fds[1]}
}

// putPipe returns an empty pipe to the pool (a pipe with bytes in it is
// closed instead: they are lost with the tunnel).
func (w *worker) putPipe(p *spipe) {
	if p.n != 0 || w.closing {
		unix.Close(p.r)
		unix.Close(p.w)
		w.npipes--
		return
	}
	w.pipes = append(w.pipes, p)
}

// closePipes closes the pooled pipes (shutdown).
func (w *worker) closePipes() {
	for _, p := range w.pipes {
		unix.Close(p.r)
		unix.Close(p.w)
		w.npipes--
	}
	w.pipes = nil
}

// spliceIn moves up to a pipe's worth of bytes from fd into p: n moved,
// eof, or a failure.
func (w *worker) spliceIn(fd int, p *spipe) (n int, eof bool, err error) {
	m, err := unix.Splice(fd, nil, p.w, nil, pipeSize-p.n, unix.SPLICE_F_NONBLOCK|unix.SPLICE_F_MOVE)
	w.stats.upSplices.Add(1)
	switch {
	case err == unix.EAGAIN || err == unix.EINTR:
		return 0, false, nil
	case err != nil:
		return 0, false, err
	case m == 0:
		return 0, true, nil
	}
	p.n += int(m)
	return int(m), false, nil
}

// spliceOut moves what p holds to fd; it reports a failure (what the
// socket did not take stays in p).
func (w *worker) spliceOut(p *spipe, fd int) error {
	for p.n > 0 {
		m, err := unix.Splice(p.r, nil, fd, nil, p.n, unix.SPLICE_F_NONBLOCK|unix.SPLICE_F_MOVE)
		w.stats.upSplices.Add(1)
		if err == unix.EINTR {
			continue
		}
		if err == unix.EAGAIN {
			return nil
		}
		if err != nil {
			return err
		}
		p.n -= int(m)
	}
	return nil
}

// pxSplicing reports whether the exchange's tunnel splices: both ends
// plain sockets, no output of the client's waiting.
func (c *conn) pxSplicing() bool {
	return c.tls == nil && c.px.tunnel && !c.w.srv.cfg.NoSplice
}

// pxSpliceUp moves the client's bytes to the backend through a pipe. It
// reports false when it could not get a pipe (copy instead).
func (c *conn) pxSpliceUp() bool {
	w := c.w
	px := c.px
	u := px.up
	if px.c2u == nil {
		if px.c2u = w.takePipe(); px.c2u == nil {
			return false
		}
	}
	p := px.c2u
	n, eof, err := w.spliceIn(c.fd, p)
	if err != nil {
		c.close(reasonReadError)
		return true
	}
	if n > 0 {
		w.stats.bytesIn.Add(uint64(n))
		w.stats.upBytesOut.Add(uint64(n))
		px.first, px.retry = nil, false
		c.moveTo(&w.proxied)
		if err := w.spliceOut(p, u.fd); err != nil {
			c.pxUpFailed(u)
			return true
		}
		if p.n > 0 {
			u.setEvents(u.events | unix.EPOLLOUT) // the rest when the backend has room
		}
	}
	if p.n == 0 {
		px.c2u = nil
		w.putPipe(p)
	}
	if eof {
		c.pxClientEOF()
		return true
	}
	c.pxEvents()
	return true
}

// pxSpliceDown moves the backend's bytes to the client through a pipe. It
// reports false when it could not get a pipe (copy instead).
func (c *conn) pxSpliceDown(u *upstream) bool {
	w := c.w
	px := c.px
	if px.u2c == nil {
		if px.u2c = w.takePipe(); px.u2c == nil {
			return false
		}
	}
	p := px.u2c
	n, eof, err := w.spliceIn(u.fd, p)
	if err != nil {
		c.pxUpFailed(u)
		return true
	}
	if n > 0 {
		w.stats.upBytesIn.Add(uint64(n))
		w.stats.bytesOut.Add(uint64(n))
		px.sent, px.first = true, nil
		c.moveTo(&w.proxied)
		if err := w.spliceOut(p, c.fd); err != nil {
			c.close(reasonWriteError)
			return true
		}
		if p.n > 0 {
			// The client has no room: stop reading the backend until it has.
			u.pause()
			c.setEvents(unix.EPOLLOUT)
			c.moveTo(&w.writing)
		}
	}
	if p.n == 0 {
		px.u2c = nil
		w.putPipe(p)
	}
	if eof {
		c.pxUpEOF(u)
	}
	return true
}

// pxSpliceDrainDown writes what the backend-to-client pipe holds, once
// the client has room; it reports whether the pipe is empty.
func (c *conn) pxSpliceDrainDown() bool {
	w := c.w
	px := c.px
	p := px.u2c
	if err := w.spliceOut(p, c.fd); err != nil {
		c.close(reasonWriteError)
		return false
	}
	if p.n > 0 {
		c.moveTo(&w.writing) // progress: a fresh write deadline
		return false
	}
	px.u2c = nil
	w.putPipe(p)
	return true
}

// pxSpliceDrainUp writes what the client-to-backend pipe holds, once the
// backend has room; it reports whether the pipe is empty.
func (c *conn) pxSpliceDrainUp(u *upstream) bool {
	w := c.w
	px := c.px
	p := px.c2u
	if err := w.spliceOut(p, u.fd); err != nil {
		c.pxUpFailed(u)
		return false
	}
	if p.n > 0 {
		return false
	}
	u.setEvents(u.events &^ unix.EPOLLOUT)
	px.c2u = nil
	w.putPipe(p)
	return true
}

// pxReleasePipes returns the exchange's pipes (closing those with bytes).
func (c *conn) pxReleasePipes() {
	px := c.px
	if px.c2u != nil {
		c.w.putPipe(px.c2u)
		px.c2u = nil
	}
	if px.u2c != nil {
		c.w.putPipe(px.u2c)
		px.u2c = nil
	}
}
