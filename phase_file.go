package edge

import (
	"io"

	"github.com/edge-rt/edge/static"
	"golang.org/x/sys/unix"
)

// The file-body piece of the output phase: a large file of a development
// static.Dir (over static.StreamThreshold) is not read into memory; the
// response head goes out like any other, then the connection holds the open
// file and an offset, and each time its socket has room the next chunk goes
// out: with sendfile(2) on plain connections, read and encrypted a chunk at
// a time on TLS ones (the ciphertext the socket did not take waits in
// c.pend, as for any output). A connection therefore holds at most one
// chunk of a file, whatever the file's size and however slowly its client
// reads, and other connections get their turn between chunks.
//
// Reading from the file is a blocking system call on the event loop. It is
// bounded to one chunk per connection per loop round, and served by the
// page cache once the file was read once, which is acceptable for the
// development mode this is for (nginx's sendfile does the same without
// aio). Requests pipelined behind the file response wait until its last
// byte went out (processing stops at it, like at the output budget).
//
// The file is closed when its last byte went out, and by conn.close on
// every other path (peer gone, write error, write timeout, shutdown).

// fileChunk bounds what one loop round sends of a file body per connection.
const fileChunk = 128 << 10

// fileBody is a file response body being sent from disk.
type fileBody struct {
	f     *static.File
	fd    int
	off   int64 // next byte to send
	left  int64 // bytes still to send
	pread bool  // read and write (TLS, or sendfile refused the file)
}

// startFile makes f the body that follows the output assembled so far; the
// connection owns f from here on.
func (c *conn) startFile(f *static.File) {
	c.file = &fileBody{f: f, fd: int(f.Fd()), left: f.Size, pread: c.tls != nil}
}

// endFile closes the file body. Idempotent.
func (c *conn) endFile() {
	if fb := c.file; fb != nil {
		c.file = nil
		fb.f.Close()
	}
}

// outputQueued reports whether output other than the file body waits: the
// file body goes out only after it.
func (c *conn) outputQueued() bool { return len(c.pend) > 0 || len(c.tlsPlain) > 0 }

// fileOut sends the next chunk of the file body; the output before it went
// out. The connection then waits for EPOLLOUT while anything is left; when
// all of the file went out (and c.blocked() is false) the caller goes on
// with afterOutput.
func (c *conn) fileOut() {
	w := c.w
	fb := c.file
	n := int(min(fb.left, fileChunk))
	sent := 0
	if !fb.pread {
		off := fb.off
		m, err := unix.Sendfile(c.fd, fb.fd, &off, n)
		switch {
		case err == nil && m > 0:
			sent = m
		case err == unix.EAGAIN || err == unix.EINTR:
		case err == unix.EINVAL || err == unix.ENOSYS || err == unix.EOPNOTSUPP:
			// A file system sendfile cannot read from: copy instead.
			fb.pread = true
		case err == nil:
			// The file ended before the size it had when opened (it was
			// truncated): the promised Content-Length cannot be met.
			c.fileFailed(io.ErrUnexpectedEOF)
			return
		default:
			c.fileFailed(err)
			return
		}
		if sent > 0 {
			fb.off += int64(sent)
			fb.left -= int64(sent)
			w.stats.bytesOut.Add(uint64(sent))
		}
	}
	if fb.pread {
		if len(w.fbuf) < fileChunk {
			w.fbuf = make([]byte, fileChunk)
		}
		buf := w.fbuf[:n]
		if m, err := fb.f.ReadAt(buf, fb.off); m < n {
			if err == nil || err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			c.fileFailed(err)
			return
		}
		sent = n
		fb.off += int64(n)
		fb.left -= int64(n)
		// Written like the output of a round: sealed on TLS, what the
		// socket does not take copied into c.pend (at most a chunk).
		w.bufs = append(w.bufs[:0], buf)
		w.bufRef = append(w.bufRef[:0], false)
		c.writeBufs()
		if c.closed {
			return
		}
	}
	if fb.left == 0 {
		c.endFile()
	}
	if !c.blocked() {
		return
	}
	c.setEvents(unix.EPOLLOUT)
	if sent > 0 || c.list != &w.writing {
		c.moveTo(&w.writing) // progress: a fresh write deadline
	}
}

// fileFailed closes a connection whose file body cannot be sent on.
func (c *conn) fileFailed(err error) {
	if s := c.w.srv; s.cfg.Debug {
		s.log.Debug("edge: static file body", "remote", c.remote, "err", err)
	}
	c.close(reasonWriteError)
}
