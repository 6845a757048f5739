//go:build openssl

package openssl

/*
#cgo pkg-config: libssl libcrypto
#include "shim.h"
*/
import "C"

import (
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"runtime"
	"runtime/cgo"
	"slices"
	"strings"
	"sync"
	"time"
	"unsafe"
	"weak"

	"github.com/edge-rt/edge/tlsbackend"
)

// New returns the OpenSSL backend.
func New() tlsbackend.Backend { return backend{} }

// Version is the OpenSSL library's version text, as OpenSSL_version
// reports it ("OpenSSL 3.0.22 25 Aug 2026").
func Version() string { return C.GoString(C.OpenSSL_version(C.OPENSSL_VERSION)) }

type backend struct{}

// Interface guards.
var (
	_ tlsbackend.Backend = backend{}
	_ tlsbackend.Server  = (*server)(nil)
	_ tlsbackend.Conn    = (*conn)(nil)
)

func (backend) Name() string { return "openssl" }

// SupportsCurve reports whether this OpenSSL has the key exchange group id
// (OpenSSL 3.0 lacks the post-quantum hybrids). It implements
// tlsbackendtest.CurveSupporter.
func (backend) SupportsCurve(id tls.CurveID) bool {
	name, ok := groupNames[id]
	if !ok {
		return false
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	ctx := C.SSL_CTX_new(C.TLS_server_method())
	if ctx == nil {
		C.ERR_clear_error()
		return false
	}
	defer C.SSL_CTX_free(ctx)
	err := withCString(name, func(s *C.char) C.int { return C.edge_set1_groups_list(ctx, s) })
	return err == nil
}

// suiteNames are the TLS 1.2 suites NewServer accepts, by OpenSSL name.
var suiteNames = map[uint16]string{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256:       "ECDHE-ECDSA-AES128-GCM-SHA256",
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256:         "ECDHE-RSA-AES128-GCM-SHA256",
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384:       "ECDHE-ECDSA-AES256-GCM-SHA384",
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384:         "ECDHE-RSA-AES256-GCM-SHA384",
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256: "ECDHE-ECDSA-CHACHA20-POLY1305",
	tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256:   "ECDHE-RSA-CHACHA20-POLY1305",
}

// ecdsaSuites are the suites above that need an ECDSA certificate.
var ecdsaSuites = []uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
}

// groupNames are the key exchange groups NewServer knows, by OpenSSL
// name. Those the library lacks are left out of the list it gets.
var groupNames = map[tls.CurveID]string{
	tls.X25519MLKEM768:     "X25519MLKEM768",
	tls.SecP256r1MLKEM768:  "SecP256r1MLKEM768",
	tls.SecP384r1MLKEM1024: "SecP384r1MLKEM1024",
	tls.X25519:             "X25519",
	tls.CurveP256:          "P-256",
	tls.CurveP384:          "P-384",
	tls.CurveP521:          "P-521",
}

// tls13OnlyGroups are the hybrid post-quantum groups, which TLS 1.2 cannot
// use.
var tls13OnlyGroups = []tls.CurveID{tls.X25519MLKEM768, tls.SecP256r1MLKEM768, tls.SecP384r1MLKEM1024}

// settings is a checked Config with its defaults applied.
type settings struct {
	get        func(*tlsbackend.ClientHello) (*tls.Certificate, error)
	minV, maxV uint16
	suites     []uint16
	curves     []tls.CurveID
	protos     []string
	tickets    bool
}

func check(cfg *tlsbackend.Config) (*settings, error) {
	if cfg == nil {
		return nil, errors.New("openssl: nil Config")
	}
	if cfg.GetCertificate == nil {
		return nil, errors.New("openssl: Config.GetCertificate is required")
	}
	s := &settings{get: cfg.GetCertificate, minV: cfg.MinVersion, maxV: cfg.MaxVersion, tickets: !cfg.DisableSessionTickets}
	if s.minV == 0 {
		s.minV = tls.VersionTLS12
	}
	if s.maxV == 0 {
		s.maxV = tls.VersionTLS13
	}
	for _, v := range []uint16{s.minV, s.maxV} {
		if v != tls.VersionTLS12 && v != tls.VersionTLS13 {
			return nil, fmt.Errorf("openssl: TLS version %s not supported (only TLS 1.2 and TLS 1.3)", tls.VersionName(v))
		}
	}
	if s.maxV < s.minV {
		return nil, fmt.Errorf("openssl: MaxVersion %s below MinVersion %s", tls.VersionName(s.maxV), tls.VersionName(s.minV))
	}
	s.suites = slices.Clone(tlsbackend.DefaultCipherSuites)
	if cfg.CipherSuites != nil {
		for _, id := range cfg.CipherSuites {
			if _, ok := suiteNames[id]; !ok {
				return nil, fmt.Errorf("openssl: cipher suite %s not allowed (only ECDHE with AES-GCM or ChaCha20-Poly1305)", tls.CipherSuiteName(id))
			}
		}
		if len(cfg.CipherSuites) == 0 && s.minV <= tls.VersionTLS12 {
			return nil, errors.New("openssl: CipherSuites is empty but TLS 1.2 is enabled")
		}
		s.suites = slices.Clone(cfg.CipherSuites)
	}
	s.curves = slices.Clone(tlsbackend.DefaultCurves)
	if cfg.CurvePreferences != nil {
		for _, id := range cfg.CurvePreferences {
			if _, ok := groupNames[id]; !ok {
				return nil, fmt.Errorf("openssl: key exchange group %v not supported", id)
			}
		}
		if len(cfg.CurvePreferences) == 0 {
			return nil, errors.New("openssl: CurvePreferences is empty")
		}
		s.curves = slices.Clone(cfg.CurvePreferences)
	}
	s.protos = slices.Clone(tlsbackend.DefaultNextProtos)
	if cfg.NextProtos != nil {
		for _, p := range cfg.NextProtos {
			if len(p) == 0 || len(p) > 255 {
				return nil, fmt.Errorf("openssl: ALPN protocol %q must be 1 to 255 bytes", p)
			}
		}
		s.protos = slices.Clone(cfg.NextProtos)
	}
	if cfg.TicketKeyRotation < 0 {
		return nil, fmt.Errorf("openssl: negative TicketKeyRotation %v", cfg.TicketKeyRotation)
	}
	return s, nil
}

// NewServer validates cfg, applies the defaults of tlsbackend.Config and
// makes an SSL_CTX.
func (backend) NewServer(cfg *tlsbackend.Config) (tlsbackend.Server, error) {
	st, err := check(cfg)
	if err != nil {
		return nil, err
	}
	// OpenSSL's error queue is per thread.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	C.ERR_clear_error()
	ctx := C.SSL_CTX_new(C.TLS_server_method())
	if ctx == nil {
		return nil, queueError("openssl: SSL_CTX_new")
	}
	ok := false
	defer func() {
		if !ok {
			C.SSL_CTX_free(ctx)
		}
	}()
	tickets := C.int(0)
	if st.tickets {
		tickets = 1
	}
	if C.edge_ctx_options(ctx, C.int(st.minV), C.int(st.maxV), tickets) != 1 {
		return nil, queueError("openssl: set versions")
	}
	names := make([]string, len(st.suites))
	for i, id := range st.suites {
		names[i] = suiteNames[id]
	}
	if len(names) == 0 { // TLS 1.3 only
		names = []string{suiteNames[tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256]}
	}
	if err := withCString(strings.Join(names, ":"), func(s *C.char) C.int { return C.SSL_CTX_set_cipher_list(ctx, s) }); err != nil {
		return nil, fmt.Errorf("openssl: cipher suites: %w", err)
	}
	var groups []string
	var usable []tls.CurveID
	for _, id := range st.curves {
		if (backend{}).SupportsCurve(id) {
			groups = append(groups, groupNames[id])
			usable = append(usable, id)
		}
	}
	if len(groups) == 0 {
		return nil, fmt.Errorf("openssl: none of the key exchange groups %v is available in %s", st.curves, Version())
	}
	if st.minV <= tls.VersionTLS12 && !slices.ContainsFunc(usable, func(id tls.CurveID) bool { return !slices.Contains(tls13OnlyGroups, id) }) {
		return nil, errors.New("openssl: CurvePreferences has no group usable with TLS 1.2, which is enabled")
	}
	if err := withCString(strings.Join(groups, ":"), func(s *C.char) C.int { return C.edge_set1_groups_list(ctx, s) }); err != nil {
		return nil, fmt.Errorf("openssl: key exchange groups: %w", err)
	}
	var alpn []byte
	for _, p := range st.protos {
		alpn = append(append(alpn, byte(len(p))), p...)
	}
	var alpnPtr *C.uchar
	if len(alpn) > 0 {
		alpnPtr = (*C.uchar)(unsafe.Pointer(&alpn[0]))
	}
	if C.edge_ctx_setup(ctx, alpnPtr, C.size_t(len(alpn))) != 1 {
		return nil, queueError("openssl: callbacks")
	}
	var rot *rotator
	if st.tickets {
		period := cfg.TicketKeyRotation
		if period == 0 {
			period = DefaultTicketKeyRotation
		}
		key := ticketKey()
		r := C.edge_tickets_setup(ctx, (*C.uchar)(unsafe.Pointer(&key[0])))
		clear(key[:])
		if r != 1 {
			return nil, queueError("openssl: session ticket keys")
		}
		rot = &rotator{ctx: ctx, period: period}
		rot.mu.Lock()
		rot.timer = time.AfterFunc(period, rot.rotate)
		rot.mu.Unlock()
	}
	ok = true
	s := &server{ctx: ctx, st: st, certs: new(sync.Map), rot: rot}
	runtime.AddCleanup(s, func(a freeArgs) {
		a.rot.stop()
		C.SSL_CTX_free(a.ctx)
	}, freeArgs{ctx, rot})
	return s, nil
}

// DefaultTicketKeyRotation is the ticket key rotation period used when
// Config.TicketKeyRotation is zero.
const DefaultTicketKeyRotation = 12 * time.Hour

// freeArgs is what the cleanup of a server frees.
type freeArgs struct {
	ctx *C.SSL_CTX
	rot *rotator // nil without session tickets
}

// ticketKey returns a random ticket key: name, HMAC key, AES key.
func ticketKey() *[80]byte {
	var k [80]byte
	rand.Read(k[:])
	return &k
}

// rotator makes a new ticket key current every period; the previous one
// still decrypts, so a ticket resumes for one to two periods.
type rotator struct {
	mu        sync.Mutex
	ctx       *C.SSL_CTX
	period    time.Duration
	timer     *time.Timer
	stopped   bool
	rotations int
}

func (r *rotator) rotate() {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stopped {
		return
	}
	key := ticketKey()
	C.edge_tickets_rotate(r.ctx, (*C.uchar)(unsafe.Pointer(&key[0])))
	clear(key[:])
	r.rotations++
	r.timer.Reset(r.period)
}

// stop ends the rotation; the keys stay. Idempotent, nil-safe.
func (r *rotator) stop() {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.stopped {
		r.stopped = true
		r.timer.Stop()
	}
}

// withCString calls f with s as a C string and turns a result other than
// 1 into the queued errors. The caller has locked its thread.
func withCString(s string, f func(*C.char) C.int) error {
	cs := C.CString(s)
	defer C.free(unsafe.Pointer(cs))
	if f(cs) != 1 {
		return queueError(s)
	}
	return nil
}

// queueError drains this thread's OpenSSL error queue into an error.
func queueError(what string) error {
	var errs [8]C.ulong
	n := C.edge_drain(&errs[0], C.int(len(errs)))
	return opError(what, errs[:n])
}

// opError formats OpenSSL error codes.
func opError(what string, errs []C.ulong) error {
	if len(errs) == 0 {
		return errors.New(what)
	}
	msgs := make([]string, len(errs))
	var buf [256]C.char
	for i, e := range errs {
		C.ERR_error_string_n(e, &buf[0], C.size_t(len(buf)))
		msgs[i] = C.GoString(&buf[0])
	}
	return fmt.Errorf("%s: %s", what, strings.Join(msgs, "; "))
}

// server is an SSL_CTX shared by its connections, freed when neither the
// server nor any of its connections is reachable.
type server struct {
	ctx   *C.SSL_CTX
	st    *settings
	certs *sync.Map // weak.Pointer[tls.Certificate] -> *certKey
	rot   *rotator  // nil without session tickets
}

// certKey is a tls.Certificate converted for OpenSSL; its objects are
// freed once the certificate is unreachable.
type certKey struct {
	leaf  *C.X509
	key   *C.EVP_PKEY
	chain *C.edge_x509p // C array of the intermediates
	n     int
}

// Conn wraps c; the handshake runs on the first Read, Write or
// HandshakeContext.
func (s *server) Conn(c net.Conn) tlsbackend.Conn {
	tc := &conn{Conn: c, srv: s}
	tc.handle = cgo.NewHandle(tc)
	tc.ssl = C.edge_ssl_new(s.ctx, C.uintptr_t(tc.handle))
	if tc.ssl == nil {
		tc.handle.Delete()
		tc.newErr = errors.New("openssl: SSL_new failed")
		return tc
	}
	tc.rbio, tc.wbio = C.edge_rbio(tc.ssl), C.edge_wbio(tc.ssl)
	return tc
}

// Close stops the ticket key rotation (the current keys stay in use) and
// returns nil. Idempotent. Connections keep working; the SSL_CTX is freed
// with the last of them.
func (s *server) Close() error {
	s.rot.stop()
	return nil
}

// convert returns cert as OpenSSL objects, from the cache or converted
// now. It runs inside the ClientHello callback, on the thread of the
// handshake (for the error queue).
func (s *server) convert(cert *tls.Certificate) (*certKey, error) {
	k := weak.Make(cert)
	if v, ok := s.certs.Load(k); ok {
		return v.(*certKey), nil
	}
	if len(cert.Certificate) == 0 {
		return nil, errors.New("openssl: certificate with an empty chain")
	}
	der, err := x509.MarshalPKCS8PrivateKey(cert.PrivateKey)
	if err != nil {
		return nil, fmt.Errorf("openssl: private key: %w", err)
	}
	ck := &certKey{}
	parse := func(b []byte) *C.X509 {
		return C.edge_d2i_x509((*C.uchar)(unsafe.Pointer(&b[0])), C.long(len(b)))
	}
	if ck.leaf = parse(cert.Certificate[0]); ck.leaf == nil {
		return nil, queueError("openssl: parse certificate")
	}
	ck.key = C.edge_d2i_key((*C.uchar)(unsafe.Pointer(&der[0])), C.long(len(der)))
	clear(der)
	if ck.key == nil {
		ck.free()
		return nil, queueError("openssl: parse private key")
	}
	if n := len(cert.Certificate) - 1; n > 0 {
		ck.chain = (*C.edge_x509p)(C.calloc(C.size_t(n), C.size_t(unsafe.Sizeof(uintptr(0)))))
		chain := unsafe.Slice(ck.chain, n)
		for i, b := range cert.Certificate[1:] {
			if chain[i] = parse(b); chain[i] == nil {
				ck.n = i
				ck.free()
				return nil, queueError("openssl: parse chain certificate")
			}
		}
		ck.n = n
	}
	if v, loaded := s.certs.LoadOrStore(k, ck); loaded {
		ck.free()
		return v.(*certKey), nil
	}
	certs := s.certs
	runtime.AddCleanup(cert, func(k weak.Pointer[tls.Certificate]) {
		if v, ok := certs.LoadAndDelete(k); ok {
			v.(*certKey).free()
		}
	}, k)
	return ck, nil
}

// free drops the references the cache holds (SSL objects keep their own).
func (ck *certKey) free() {
	if ck.leaf != nil {
		C.X509_free(ck.leaf)
	}
	if ck.key != nil {
		C.EVP_PKEY_free(ck.key)
	}
	if ck.chain != nil {
		for _, x := range unsafe.Slice(ck.chain, ck.n) {
			C.X509_free(x)
		}
		C.free(unsafe.Pointer(ck.chain))
	}
}
