package edge

import "golang.org/x/sys/unix"

// Lingering close and the timeouts that end a phase: after an error
// response the connection half-closes and drains input so the client
// reads the response, not a reset.

// startLinger half-closes the connection and discards input until the
// peer closes or the read timeout fires, so the client sees the error
// response instead of a reset.
func (c *conn) startLinger() {
	c.lingering = true
	c.releaseIn()
	unix.Shutdown(c.fd, unix.SHUT_WR)
	c.setEvents(unix.EPOLLIN | unix.EPOLLRDHUP)
	c.moveTo(&c.w.reading)
}

func (c *conn) timeoutRead() {
	if c.lingering || (c.body == nil && len(c.in) == 0) {
		c.close(reasonReadTimeout)
		return
	}
	c.w.stats.timeouts.Add(1)
	c.w.resetOut()
	c.fail(errReadTimeout)
	c.linger = false
	c.finish()
	if !c.closed {
		c.close(reasonReadTimeout)
	}
}

func (c *conn) timeoutPending() {
	c.w.stats.timeouts.Add(1)
	c.w.resetOut()
	c.ctxFor(c.head)
	c.isPending = false
	c.fail(errPendingTimeout)
	c.linger = false
	c.finish()
	if !c.closed {
		c.close(reasonReadTimeout)
	}
}
