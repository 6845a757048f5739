package tlsbackend

import (
	"errors"
	"net"
)

// ErrWantRead is returned by a Session's Handshake and Read when the
// session needs more ciphertext from the peer before it can go on.
var ErrWantRead = errors.New("tlsbackend: want read")

// SessionServer is implemented by a Server whose connections can run on
// an event loop with no goroutine at all, handshake included (the OpenSSL
// backend). The engine uses it when the listener's Server implements it and
// falls back to Server.Conn with a handshake goroutine otherwise.
type SessionServer interface {
	Server
	// NewSession starts a server-side session. local and remote are the
	// connection's addresses, for ClientHello.Conn and logs.
	NewSession(local, remote net.Addr) Session
}

// Session is one server-side TLS connection driven by its owner's I/O:
// the owner reads ciphertext from the socket and hands it in with Input,
// and sends what AppendOutput returns. No method blocks or starts a
// goroutine. Not safe for concurrent use.
type Session interface {
	// Input hands ciphertext read from the peer to the session (copied).
	// Bytes read before the session existed (a ClientHello peek) are
	// handed in the same way.
	Input(p []byte)
	// Handshake advances the handshake as far as the input allows: nil
	// once it is complete, ErrWantRead when it needs more input, any other
	// error when it failed (an alert may then wait in the output).
	Handshake() error
	// Read decrypts application data into p: (0, ErrWantRead) when no
	// whole record is buffered, io.EOF after the peer's close_notify.
	Read(p []byte) (int, error)
	// Write encrypts p into records appended to the output.
	Write(p []byte) (int, error)
	// AppendOutput appends the ciphertext waiting to be sent to dst and
	// empties the session's output.
	AppendOutput(dst []byte) []byte
	// Buffered reports how many input bytes the session holds that Read
	// has not consumed yet (a partial record counts).
	Buffered() int
	// CloseNotify queues a close_notify alert in the output.
	CloseNotify() error
	// State describes the connection once the handshake is done.
	State() State
	// Close frees what the session holds. Idempotent; the session is
	// unusable after.
	Close()
}
