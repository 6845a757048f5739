package stdlib

import (
	"crypto/tls"
	"strings"

	"github.com/edge-rt/edge/tlsbackend"
)

// conn is a server-side crypto/tls connection. Its methods are those of
// *tls.Conn (HandshakeContext, CloseWrite, deadlines...) plus State, and a
// Read that never pairs data with a "would block" error. Like *tls.Conn,
// one Read and one Write may run concurrently, and Close may be called
// from any goroutine.
type conn struct {
	*tls.Conn
}

// temporary is the method net.Error deprecated but crypto/tls still uses
// to tell "would block" from failure.
type temporary interface {
	Temporary() bool
}

// Read reads plaintext. After the handshake, it passes through a
// temporary error of the underlying connection ("would block"), as (0,
// err), and a later Read resumes. When crypto/tls returns data together
// with such an error (it looks ahead for a close_notify after the last
// record, and the look-ahead can hit "would block"), the error is dropped:
// the next Read meets it again.
func (c conn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 && err != nil {
		if t, ok := err.(temporary); ok && t.Temporary() {
			err = nil
		}
	}
	return n, err
}

// State describes the connection once the handshake is done; before, it
// is the zero State. ServerName is lower-cased.
func (c conn) State() tlsbackend.State {
	cs := c.ConnectionState()
	return tlsbackend.State{
		Version:            cs.Version,
		CipherSuite:        cs.CipherSuite,
		ServerName:         strings.ToLower(cs.ServerName),
		NegotiatedProtocol: cs.NegotiatedProtocol,
		DidResume:          cs.DidResume,
		CurveID:            cs.CurveID,
	}
}
