//go:build openssl

package openssl

/*
#include "shim.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"io"
	"net"
	"runtime/cgo"
	"time"
	"unsafe"

	"github.com/edge-rt/edge/tlsbackend"
)

// Interface guards.
var (
	_ tlsbackend.SessionServer = (*server)(nil)
	_ tlsbackend.Session       = (*session)(nil)
)

// session is a tlsbackend.Session: an SSL between two memory BIOs that its
// owner fills and drains. Not safe for concurrent use.
type session struct {
	srv        *server
	ssl        *C.SSL // nil once closed
	rbio, wbio *C.BIO
	handle     cgo.Handle
	addrs      addrConn
	state      tlsbackend.State
	helloErr   error
	newErr     error
	ops        opState
}

var errSessionClosed = errors.New("openssl: session closed")

// NewSession starts a server-side session. GetCertificate sees as
// ClientHello.Conn a net.Conn that has local and remote as its addresses
// and whose other methods fail: the session owns no connection.
func (s *server) NewSession(local, remote net.Addr) tlsbackend.Session {
	ss := &session{srv: s, addrs: addrConn{local: local, remote: remote}}
	ss.handle = cgo.NewHandle(ss)
	ss.ssl = C.edge_ssl_new(s.ctx, C.uintptr_t(ss.handle))
	if ss.ssl == nil {
		ss.handle.Delete()
		ss.newErr = errors.New("openssl: SSL_new failed")
		return ss
	}
	ss.rbio, ss.wbio = C.edge_rbio(ss.ssl), C.edge_wbio(ss.ssl)
	return ss
}

func (ss *session) onClientHello(ssl *C.SSL) bool {
	ss.state.ServerName, ss.helloErr = ss.srv.clientHello(ssl, ss.addrs)
	return ss.helloErr == nil
}

// usable returns why the session cannot be used, or nil.
func (ss *session) usable() error {
	if ss.newErr != nil {
		return ss.newErr
	}
	if ss.ssl == nil {
		return errSessionClosed
	}
	return nil
}

// Input hands ciphertext to OpenSSL (copied into the read BIO).
func (ss *session) Input(p []byte) {
	if ss.usable() != nil || len(p) == 0 {
		return
	}
	C.BIO_write(ss.rbio, unsafe.Pointer(&p[0]), C.int(len(p)))
}

// Handshake advances the handshake: nil once complete,
// tlsbackend.ErrWantRead when it needs more input.
func (ss *session) Handshake() error {
	if err := ss.usable(); err != nil {
		return err
	}
	_, code, errs := sslOp(ss.ssl, C.EDGE_HANDSHAKE, nil, &ss.ops)
	switch {
	case ss.helloErr != nil:
		return fmt.Errorf("openssl: handshake: %w", ss.helloErr)
	case code == 0:
		fillState(ss.ssl, &ss.state)
		return nil
	case code == C.SSL_ERROR_WANT_READ:
		return tlsbackend.ErrWantRead
	}
	return opError("openssl: handshake", errs)
}

// Read decrypts into p: (0, tlsbackend.ErrWantRead) when no whole record
// is buffered, io.EOF after the peer's close_notify.
func (ss *session) Read(p []byte) (int, error) {
	if err := ss.usable(); err != nil {
		return 0, err
	}
	if len(p) == 0 {
		return 0, nil
	}
	n, code, errs := sslOp(ss.ssl, C.EDGE_READ, p, &ss.ops)
	switch code {
	case 0:
		return n, nil
	case C.SSL_ERROR_WANT_READ:
		return 0, tlsbackend.ErrWantRead
	case C.SSL_ERROR_ZERO_RETURN:
		return 0, io.EOF
	}
	return 0, opError("openssl: read", errs)
}

// Write encrypts p into the output.
func (ss *session) Write(p []byte) (int, error) {
	if err := ss.usable(); err != nil {
		return 0, err
	}
	if len(p) == 0 {
		return 0, nil
	}
	n, code, errs := sslOp(ss.ssl, C.EDGE_WRITE, p, &ss.ops)
	if code != 0 {
		return n, opError("openssl: write", errs)
	}
	return n, nil
}

// AppendOutput appends the ciphertext waiting in the write BIO to dst.
func (ss *session) AppendOutput(dst []byte) []byte {
	if ss.usable() != nil {
		return dst
	}
	pending := int(C.edge_bio_pending(ss.wbio))
	if pending == 0 {
		return dst
	}
	start := len(dst)
	dst = append(dst, make([]byte, pending)...)
	got := int(C.BIO_read(ss.wbio, unsafe.Pointer(&dst[start]), C.int(pending)))
	return dst[:start+max(got, 0)]
}

// Buffered reports the input not consumed yet: the read BIO's bytes plus
// the plaintext OpenSSL holds; when OpenSSL holds only part of a record,
// whose size it does not tell, it counts 1.
func (ss *session) Buffered() int {
	if ss.usable() != nil {
		return 0
	}
	n := int(C.edge_bio_pending(ss.rbio)) + int(C.SSL_pending(ss.ssl))
	if n == 0 && C.SSL_has_pending(ss.ssl) == 1 {
		n = 1
	}
	return n
}

// CloseNotify queues a close_notify alert.
func (ss *session) CloseNotify() error {
	if err := ss.usable(); err != nil {
		return err
	}
	if _, code, errs := sslOp(ss.ssl, C.EDGE_SHUTDOWN, nil, &ss.ops); code != 0 {
		return opError("openssl: close_notify", errs)
	}
	return nil
}

// State describes the session once the handshake is done.
func (ss *session) State() tlsbackend.State { return ss.state }

// Close frees the SSL. Idempotent.
func (ss *session) Close() {
	if ss.ssl != nil {
		C.SSL_free(ss.ssl)
		ss.ssl, ss.rbio, ss.wbio = nil, nil, nil
		ss.handle.Delete()
	}
}

// addrConn is the net.Conn a session's GetCertificate sees: addresses
// only.
type addrConn struct {
	local, remote net.Addr
}

var errNoConn = errors.New("openssl: a session has no connection of its own")

func (a addrConn) Read([]byte) (int, error)         { return 0, errNoConn }
func (a addrConn) Write([]byte) (int, error)        { return 0, errNoConn }
func (a addrConn) Close() error                     { return errNoConn }
func (a addrConn) LocalAddr() net.Addr              { return a.local }
func (a addrConn) RemoteAddr() net.Addr             { return a.remote }
func (a addrConn) SetDeadline(time.Time) error      { return errNoConn }
func (a addrConn) SetReadDeadline(time.Time) error  { return errNoConn }
func (a addrConn) SetWriteDeadline(time.Time) error { return errNoConn }
