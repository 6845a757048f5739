package edge

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// Output: what a processing round assembled goes out with one writev; what
// the socket does not take waits in c.pend for EPOLLOUT.

// flush writes the worker's output for this connection; what the socket
// does not take is kept in c.pend and the connection waits for EPOLLOUT.
func (c *conn) flush() {
	c.w.sealOut()
	c.writeBufs()
	if c.file != nil && !c.closed && !c.outputQueued() {
		c.fileOut() // a file body follows: its first chunk
	}
}

// writeBufs writes w.bufs (w.bufRef marks immutable pieces) after any
// pending output, keeping what the socket does not take in c.pend.
func (c *conn) writeBufs() {
	w := c.w
	if c.tls != nil && (len(w.bufs) > 0 || len(c.tr.out) > 0 || len(c.tlsPlain) > 0) {
		c.sealTLS()
		if c.closed {
			return
		}
		if len(c.tlsPlain) > 0 {
			// More to encrypt once this goes out: wait for EPOLLOUT (at
			// once if the socket takes it all) rather than sealing all now.
			defer c.waitWritable()
		}
	}
	if len(w.bufs) == 0 {
		return
	}
	total := 0
	for _, b := range w.bufs {
		total += len(b)
	}
	n := 0
	if len(c.pend) == 0 {
		var e syscall.Errno
		n, e = w.writev(c.fd, w.bufs)
		if e != 0 && e != unix.EAGAIN && e != unix.EINTR {
			c.close(reasonWriteError)
			return
		}
		w.stats.bytesOut.Add(uint64(n))
		if n == total {
			return
		}
	}
	// Earlier output still waits (a reply while a response was blocked)
	// or the socket did not take everything: queue behind it, in order.
	// Keep the rest: copies of the worker buffer, references to
	// immutable bodies.
	var owned int
	skip := n
	for i, b := range w.bufs {
		if skip >= len(b) {
			skip -= len(b)
			continue
		}
		b = b[skip:]
		skip = 0
		if !w.bufRef[i] {
			owned += len(b)
		}
	}
	store := make([]byte, 0, owned)
	skip = n
	for i, b := range w.bufs {
		if skip >= len(b) {
			skip -= len(b)
			continue
		}
		b = b[skip:]
		skip = 0
		if w.bufRef[i] {
			c.pend = append(c.pend, b)
		} else {
			start := len(store)
			store = append(store, b...)
			c.pend = append(c.pend, store[start:len(store):len(store)])
		}
	}
	// EPOLLOUT only: a client that half-closed and stops reading would make
	// EPOLLRDHUP fire on every wake-up.
	c.setEvents(unix.EPOLLOUT)
	if c.list != &w.writing {
		c.moveTo(&w.writing)
	}
}

// waitWritable files the connection as waiting for output room.
func (c *conn) waitWritable() {
	if c.closed {
		return
	}
	c.setEvents(unix.EPOLLOUT)
	if c.list != &c.w.writing {
		c.moveTo(&c.w.writing)
	}
}

// blocked reports whether output waits: unsent bytes, TLS plaintext not
// encrypted yet, or a file body (phase_file.go) not sent yet.
func (c *conn) blocked() bool { return len(c.pend) > 0 || len(c.tlsPlain) > 0 || c.file != nil }

// flushPending writes c.pend (and, on TLS, the next chunk of c.tlsPlain;
// then the next chunk of a file body); it reports whether all output went
// out.
func (c *conn) flushPending() bool {
	w := c.w
	n, e := w.writev(c.fd, c.pend)
	if e != 0 && e != unix.EAGAIN && e != unix.EINTR {
		c.close(reasonWriteError)
		return false
	}
	w.stats.bytesOut.Add(uint64(n))
	for n > 0 && len(c.pend) > 0 {
		if n >= len(c.pend[0]) {
			n -= len(c.pend[0])
			c.pend[0] = nil
			c.pend = c.pend[1:]
			continue
		}
		c.pend[0] = c.pend[0][n:]
		n = 0
	}
	if len(c.pend) > 0 {
		c.moveTo(&w.writing) // progress: a fresh write deadline
		return false
	}
	c.pend = nil
	if len(c.tlsPlain) > 0 {
		w.bufs = w.bufs[:0]
		w.bufRef = w.bufRef[:0]
		c.writeBufs()
		if c.closed || c.outputQueued() {
			if !c.closed {
				c.moveTo(&w.writing) // progress: a fresh write deadline
			}
			return false
		}
	}
	if c.file != nil {
		c.fileOut()
		return !c.closed && !c.blocked()
	}
	return true
}
