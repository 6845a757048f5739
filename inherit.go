package edge

import (
	"errors"
	"fmt"
	"net"
	"os"

	"golang.org/x/sys/unix"
)

// Handing listening sockets from one process to the next (a binary
// upgrade): the running process gives a duplicate of each listening
// socket (Listener.File) to its successor, which serves the very same
// socket (Listener.Inherit). Both accept from one queue until the old
// process shuts down, so no connection is refused or lost in between, as
// would happen with two SO_REUSEPORT sockets (the kernel resets the
// connections queued on the socket that closes).

// Inherit makes Start serve ln, a listening socket inherited from another
// process (see File), instead of binding the listener's address. Call it
// before Start; ln must be a *net.TCPListener or *net.UnixListener. The
// socket keeps the options it was bound with.
func (l *Listener) Inherit(ln net.Listener) error {
	switch ln.(type) {
	case *net.TCPListener, *net.UnixListener:
	default:
		return fmt.Errorf("edge: inherit %s: %T is not a TCP or Unix listener", l.address, ln)
	}
	l.inherited = ln
	return nil
}

// File returns a duplicate of the bound listening socket (after Start),
// for another process to serve with Inherit. From then on, closing this
// listener leaves a Unix socket's path in place: the other process serves
// it. The caller closes the file.
func (l *Listener) File() (*os.File, error) {
	if l.ln == nil || l.fd < 0 {
		return nil, errors.New("edge: listener not bound")
	}
	// F_DUPFD_CLOEXEC rather than (*net.TCPListener).File: the socket's
	// flags (non-blocking) stay as they are for both processes.
	fd, err := unix.FcntlInt(uintptr(l.fd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("edge: listener %s: dup: %w", l.name, err)
	}
	if ul, ok := l.ln.(*net.UnixListener); ok {
		ul.SetUnlinkOnClose(false)
	}
	return os.NewFile(uintptr(fd), l.network+":"+l.name), nil
}
