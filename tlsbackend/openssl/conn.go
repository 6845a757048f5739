//go:build openssl

package openssl

/*
#include "shim.h"
*/
import "C"

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime/cgo"
	"sync"
	"time"
	"unsafe"

	"github.com/edge-rt/edge/tlsbackend"
)

// bufSize is how much ciphertext one read from the connection takes: a
// whole record and its header.
const bufSize = 16<<10 + 512

// writeChunk bounds the plaintext encrypted per SSL_write, so that a large
// Write does not buffer all its records before sending.
const writeChunk = 64 << 10

// conn is one server-side connection: an SSL between two memory BIOs.
//
// Like *tls.Conn, one Read and one Write may run at once, and Close may be
// called from any goroutine. Locks, in order: hsMu (the handshake), readMu
// (one reader of the connection), mu (the SSL and its BIOs), wmu (one
// writer to the connection, taken before mu is released so that records
// go out in the order OpenSSL made them).
type conn struct {
	net.Conn
	srv    *server
	handle cgo.Handle
	newErr error // SSL_new failed

	hsMu   sync.Mutex
	hsDone bool
	hsErr  error

	readMu sync.Mutex
	rbuf   []byte
	rerr   error // sticky error of the connection's Read (io.EOF...)

	mu         sync.Mutex
	ssl        *C.SSL // nil once closed
	rbio, wbio *C.BIO
	state      tlsbackend.State
	helloErr   error // from the ClientHello callback
	sentClose  bool
	ops        opState

	wmu  sync.Mutex
	wbuf []byte
	werr error // sticky error of the connection's Write
}

var errClosed = fmt.Errorf("openssl: %w", net.ErrClosed)

// helloHandler is what the handle of an SSL refers to: a conn or a
// session, told of the ClientHello.
type helloHandler interface {
	onClientHello(ssl *C.SSL) bool
}

//export edgeOpenSSLClientHello
func edgeOpenSSLClientHello(ssl *C.SSL, al *C.int) C.int {
	h := cgo.Handle(C.edge_ssl_handle(ssl)).Value().(helloHandler)
	if !h.onClientHello(ssl) {
		*al = C.SSL_AD_INTERNAL_ERROR
		return C.SSL_CLIENT_HELLO_ERROR
	}
	return C.SSL_CLIENT_HELLO_SUCCESS
}

// onClientHello runs inside the ClientHello callback, with c.mu held by
// the goroutine running the handshake.
func (c *conn) onClientHello(ssl *C.SSL) bool {
	c.state.ServerName, c.helloErr = c.srv.clientHello(ssl, c.Conn)
	return c.helloErr == nil
}

// ext returns a ClientHello extension and whether it is present.
func ext(ssl *C.SSL, typ int) ([]byte, bool) {
	var p *C.uchar
	var n C.size_t
	if C.edge_ext(ssl, C.uint(typ), &p, &n) != 1 {
		return nil, false
	}
	return C.GoBytes(unsafe.Pointer(p), C.int(n)), true
}

// clientHello runs inside the ClientHello callback: it calls
// GetCertificate and sets the certificate on the SSL. It returns the SNI.
func (s *server) clientHello(ssl *C.SSL, nc net.Conn) (string, error) {
	st := s.st
	var hello tlsbackend.ClientHello
	if b, ok := ext(ssl, extServerName); ok {
		hello.ServerName = parseSNI(b)
	}
	if b, ok := ext(ssl, extALPN); ok {
		hello.SupportedProtos = parseALPN(b)
	}
	var h helloInfo
	h.legacyVersion = uint16(C.SSL_client_hello_get0_legacy_version(ssl))
	if b, ok := ext(ssl, extSupportedVersions); ok {
		h.versions = uint16s(b, 1)
	}
	var cp *C.uchar
	n := C.SSL_client_hello_get0_ciphers(ssl, &cp)
	h.suites = uint16sRaw(C.GoBytes(unsafe.Pointer(cp), C.int(n)))
	var b []byte
	if b, h.haveSigAlgs = ext(ssl, extSignatureAlgs); h.haveSigAlgs {
		h.sigAlgs = uint16s(b, 2)
	}
	if b, h.haveGroups = ext(ssl, extSupportedGroups); h.haveGroups {
		h.groups = uint16s(b, 2)
	}
	hello.SupportsECDSA = h.supportsECDSA(st)
	hello.Conn = nc

	cert, err := st.get(&hello)
	if err != nil {
		return hello.ServerName, err
	}
	if cert == nil {
		return hello.ServerName, fmt.Errorf("openssl: GetCertificate returned no certificate for %q", hello.ServerName)
	}
	ck, err := s.convert(cert)
	if err != nil {
		return hello.ServerName, err
	}
	if C.edge_use_cert(ssl, ck.leaf, ck.key, ck.chain, C.int(ck.n)) != 1 {
		return hello.ServerName, queueError("openssl: use certificate")
	}
	return hello.ServerName, nil
}

// uint16sRaw parses big-endian 2-byte values without a length prefix.
func uint16sRaw(b []byte) []uint16 {
	out := make([]uint16, 0, len(b)/2)
	for i := 0; i+1 < len(b); i += 2 {
		out = append(out, uint16(b[i])<<8|uint16(b[i+1]))
	}
	return out
}

// op runs one SSL operation with c.mu held.
func (c *conn) op(kind C.int, p []byte) (n int, code C.int, errs []C.ulong) {
	return sslOp(c.ssl, kind, p, &c.ops)
}

// opState is where one SSL operation's results land: part of its
// connection or session, so that passing it to C allocates nothing.
type opState struct {
	r C.struct_edge_result
	n C.size_t
}

// sslOp runs one SSL operation (C.EDGE_*): the bytes read or written,
// SSL_get_error's code (0 on success) and the errors queued.
func sslOp(ssl *C.SSL, kind C.int, p []byte, st *opState) (n int, code C.int, errs []C.ulong) {
	var buf unsafe.Pointer
	if len(p) > 0 {
		buf = unsafe.Pointer(&p[0])
	}
	st.n = 0
	C.edge_op(ssl, kind, buf, C.size_t(len(p)), &st.n, &st.r)
	if st.r.nerr == 0 {
		return int(st.n), st.r.code, nil
	}
	return int(st.n), st.r.code, append([]C.ulong(nil), st.r.errs[:st.r.nerr]...)
}

// flushLocked takes what OpenSSL wrote into the write BIO and sends it.
// It is called with c.mu held and releases it (after taking wmu).
func (c *conn) flushLocked() error {
	pending := int(C.edge_bio_pending(c.wbio))
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if pending > 0 {
		if cap(c.wbuf) < pending {
			c.wbuf = make([]byte, pending)
		}
		c.wbuf = c.wbuf[:pending]
		got := int(C.BIO_read(c.wbio, unsafe.Pointer(&c.wbuf[0]), C.int(pending)))
		c.wbuf = c.wbuf[:max(got, 0)]
	}
	c.mu.Unlock()
	if pending == 0 {
		return c.werr
	}
	if c.werr != nil {
		return c.werr
	}
	if _, err := c.Conn.Write(c.wbuf); err != nil {
		c.werr = fmt.Errorf("openssl: write: %w", err)
	}
	if cap(c.wbuf) > 4*bufSize { // a large Write: do not keep its buffer
		c.wbuf = nil
	}
	return c.werr
}

// feed hands ciphertext read from the connection to OpenSSL.
func (c *conn) feed(p []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ssl == nil {
		return errClosed
	}
	C.BIO_write(c.rbio, unsafe.Pointer(&p[0]), C.int(len(p)))
	return nil
}

// HandshakeContext runs the handshake, once; later calls return its
// result. When ctx ends first, the connection's deadline is set in the
// past to interrupt the read in progress.
func (c *conn) HandshakeContext(ctx context.Context) error {
	c.hsMu.Lock()
	defer c.hsMu.Unlock()
	if !c.hsDone {
		c.hsErr = c.handshake(ctx)
		c.hsDone = true
	}
	return c.hsErr
}

func (c *conn) handshake(ctx context.Context) error {
	if c.newErr != nil {
		return c.newErr
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("openssl: handshake: %w", err)
	}
	interrupted := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		c.Conn.SetDeadline(time.Unix(1, 0))
		close(interrupted)
	})
	defer func() {
		if !stop() {
			<-interrupted
		}
	}()
	c.readMu.Lock()
	defer c.readMu.Unlock()
	if c.rbuf == nil {
		c.rbuf = make([]byte, bufSize)
	}
	for {
		c.mu.Lock()
		if c.ssl == nil {
			c.mu.Unlock()
			return errClosed
		}
		_, code, errs := c.op(C.EDGE_HANDSHAKE, nil)
		if code == 0 {
			c.fillStateLocked()
		}
		helloErr := c.helloErr
		werr := c.flushLocked() // sends the alert too when the handshake failed
		switch {
		case helloErr != nil:
			return fmt.Errorf("openssl: handshake: %w", helloErr)
		case code == C.SSL_ERROR_WANT_READ:
		case code != 0:
			return opError("openssl: handshake", errs)
		}
		if werr != nil {
			return fmt.Errorf("openssl: handshake: %w", werr)
		}
		if code == 0 {
			if ctx.Err() != nil && !stop() {
				<-interrupted
				return fmt.Errorf("openssl: handshake: %w", ctx.Err())
			}
			return nil
		}
		n, err := c.Conn.Read(c.rbuf)
		if n > 0 {
			if ferr := c.feed(c.rbuf[:n]); ferr != nil {
				return ferr
			}
		}
		if err != nil && n == 0 {
			if ctx.Err() != nil {
				return fmt.Errorf("openssl: handshake: %w", ctx.Err())
			}
			return fmt.Errorf("openssl: handshake: read: %w", err)
		}
	}
}

// fillStateLocked records what the handshake settled.
func (c *conn) fillStateLocked() { fillState(c.ssl, &c.state) }

// fillState records what the handshake of ssl settled in st (the
// ServerName excepted).
func fillState(ssl *C.SSL, st *tlsbackend.State) {
	st.Version = uint16(C.SSL_version(ssl))
	st.CipherSuite = uint16(C.edge_cipher_id(ssl))
	st.DidResume = C.SSL_session_reused(ssl) == 1
	st.CurveID = tls.CurveID(C.edge_group_id(ssl))
	var p *C.uchar
	var n C.uint
	C.SSL_get0_alpn_selected(ssl, &p, &n)
	if n > 0 {
		st.NegotiatedProtocol = string(C.GoBytes(unsafe.Pointer(p), C.int(n)))
	}
}

// State describes the connection once the handshake is done; before, it
// is the zero State (the ServerName excepted, once the ClientHello came).
func (c *conn) State() tlsbackend.State {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state
}

// temporary is the "would block" test of the tlsbackend contract.
type temporary interface{ Temporary() bool }

func isTemporary(err error) bool {
	t, ok := err.(temporary)
	return ok && t.Temporary()
}

// Read reads plaintext. A temporary error of the connection's Read comes
// back unchanged, as (0, err), and the next Read resumes. After the
// peer's close_notify it returns io.EOF.
func (c *conn) Read(p []byte) (int, error) {
	if err := c.HandshakeContext(context.Background()); err != nil {
		return 0, err
	}
	if len(p) == 0 {
		return 0, nil
	}
	c.readMu.Lock()
	defer c.readMu.Unlock()
	for {
		c.mu.Lock()
		if c.ssl == nil {
			c.mu.Unlock()
			return 0, errClosed
		}
		n, code, errs := c.op(C.EDGE_READ, p)
		eofPending := code == C.SSL_ERROR_WANT_READ && c.rerr != nil && C.edge_bio_pending(c.rbio) > 0
		werr := c.flushLocked() // a KeyUpdate answer, an alert
		switch {
		case code == 0:
			return n, nil
		case code == C.SSL_ERROR_ZERO_RETURN:
			return 0, io.EOF
		case code != C.SSL_ERROR_WANT_READ:
			return 0, opError("openssl: read", errs)
		case werr != nil:
			return 0, werr
		case c.rerr != nil:
			if errors.Is(c.rerr, io.EOF) && eofPending {
				return 0, io.ErrUnexpectedEOF
			}
			return 0, c.rerr
		}
		m, err := c.Conn.Read(c.rbuf)
		if m > 0 {
			if ferr := c.feed(c.rbuf[:m]); ferr != nil {
				return 0, ferr
			}
		}
		if err != nil {
			switch {
			case isTemporary(err):
				if m == 0 {
					return 0, err
				}
			case errors.Is(err, io.EOF):
				c.rerr = io.EOF
			default:
				c.rerr = fmt.Errorf("openssl: read: %w", err)
			}
		}
	}
}

// Write encrypts p and sends it.
func (c *conn) Write(p []byte) (int, error) {
	if err := c.HandshakeContext(context.Background()); err != nil {
		return 0, err
	}
	total := 0
	for len(p) > 0 {
		chunk := p[:min(len(p), writeChunk)]
		c.mu.Lock()
		if c.ssl == nil {
			c.mu.Unlock()
			return total, errClosed
		}
		if c.sentClose {
			c.mu.Unlock()
			return total, errors.New("openssl: write after CloseWrite")
		}
		n, code, errs := c.op(C.EDGE_WRITE, chunk)
		if code != 0 {
			c.mu.Unlock()
			return total, opError("openssl: write", errs)
		}
		if err := c.flushLocked(); err != nil {
			return total, err
		}
		total += n
		p = p[n:]
	}
	return total, nil
}

// CloseWrite sends close_notify; reading goes on.
func (c *conn) CloseWrite() error {
	c.hsMu.Lock()
	done := c.hsDone && c.hsErr == nil
	c.hsMu.Unlock()
	if !done {
		return errors.New("openssl: CloseWrite before the handshake completed")
	}
	c.mu.Lock()
	if c.ssl == nil {
		c.mu.Unlock()
		return errClosed
	}
	return c.closeNotifyLocked()
}

// closeNotifyLocked queues close_notify once and flushes; it releases
// c.mu.
func (c *conn) closeNotifyLocked() error {
	if c.sentClose {
		c.mu.Unlock()
		return nil
	}
	c.sentClose = true
	_, code, errs := c.op(C.EDGE_SHUTDOWN, nil)
	if code != 0 {
		c.mu.Unlock()
		return opError("openssl: close_notify", errs)
	}
	return c.flushLocked()
}

// Close sends close_notify when the handshake is done (within 5 seconds),
// frees the SSL and closes the connection.
func (c *conn) Close() error {
	c.mu.Lock()
	if c.ssl == nil {
		c.mu.Unlock()
		return c.Conn.Close()
	}
	if C.SSL_is_init_finished(c.ssl) == 1 && !c.sentClose {
		c.Conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
		c.closeNotifyLocked() // like crypto/tls: a failed alert does not fail Close
		c.mu.Lock()
	}
	if c.ssl != nil {
		C.SSL_free(c.ssl)
		c.ssl, c.rbio, c.wbio = nil, nil, nil
		c.handle.Delete()
	}
	c.mu.Unlock()
	return c.Conn.Close()
}
