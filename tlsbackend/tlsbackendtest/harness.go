package tlsbackendtest

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edge-rt/edge/tlsbackend"
)

// Generous bounds: the suite runs under -race on small, busy machines.
const (
	handshakeTimeout = 10 * time.Second // server and client handshakes
	ioTimeout        = 30 * time.Second // deadline on every test connection
	reportTimeout    = 20 * time.Second // waiting for the server side of a connection
)

// errNoCertificate is what the store answers for failName.
var errNoCertificate = errors.New("tlsbackendtest: no certificate for this name")

// failName makes the suite's GetCertificate return an error.
const failName = "fail.test"

// certMap is one immutable generation of the store.
type certMap struct {
	names map[string]*tls.Certificate // exact names and "*.suffix"
	rsa   map[string]*tls.Certificate // preferred when the client cannot take ECDSA
	def   *tls.Certificate
}

// certStore is the suite's certificate hook: exact name, then a wildcard
// replacing one label, then the default. A name with both an ECDSA and an
// RSA certificate gets the RSA one when ClientHello.SupportsECDSA is
// false. It records every ClientHello it sees, by remote address.
type certStore struct {
	m atomic.Pointer[certMap]

	mu     sync.Mutex
	hellos map[string]tlsbackend.ClientHello
}

func newCertStore(m *certMap) *certStore {
	s := &certStore{hellos: map[string]tlsbackend.ClientHello{}}
	s.m.Store(m)
	return s
}

func (s *certStore) GetCertificate(h *tlsbackend.ClientHello) (*tls.Certificate, error) {
	s.record(h)
	m := s.m.Load()
	name := h.ServerName
	if name == failName {
		return nil, errNoCertificate
	}
	if c := m.lookup(m.rsa, name); c != nil && !h.SupportsECDSA {
		return c, nil
	}
	if c := m.lookup(m.names, name); c != nil {
		return c, nil
	}
	return m.def, nil
}

func (m *certMap) lookup(names map[string]*tls.Certificate, name string) *tls.Certificate {
	if c := names[name]; c != nil {
		return c
	}
	if i := strings.IndexByte(name, '.'); i > 0 {
		return names["*"+name[i:]]
	}
	return nil
}

// set replaces the certificate for name (a new generation of the map).
func (s *certStore) set(name string, c *tls.Certificate) {
	old := s.m.Load()
	m := *old
	m.names = make(map[string]*tls.Certificate, len(old.names))
	for k, v := range old.names {
		m.names[k] = v
	}
	m.names[name] = c
	s.m.Store(&m)
}

func (s *certStore) record(h *tlsbackend.ClientHello) {
	key := "<nil Conn>"
	if h.Conn != nil && h.Conn.RemoteAddr() != nil {
		key = h.Conn.RemoteAddr().String()
	}
	c := *h
	c.SupportedProtos = slices.Clone(h.SupportedProtos) // borrowed
	s.mu.Lock()
	s.hellos[key] = c
	s.mu.Unlock()
}

// hello returns (and forgets) the ClientHello seen from remote.
func (s *certStore) hello(remote string) (tlsbackend.ClientHello, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	h, ok := s.hellos[remote]
	delete(s.hellos, remote)
	return h, ok
}

// report is what the server side saw of one connection.
type report struct {
	remote       string
	handshakeErr error
	handshakeDur time.Duration
	state        tlsbackend.State
	hello        tlsbackend.ClientHello
	haveHello    bool // GetCertificate ran (not on TLS 1.3 resumption)
	err          error
}

// handler runs on the server side after a successful handshake. raw is
// the net.Conn given to Server.Conn (after serverOptions.wrap).
type handler func(tc tlsbackend.Conn, raw net.Conn) error

type serverOptions struct {
	config           tlsbackend.Config // GetCertificate is filled in with the store
	store            *certStore
	handle           handler                 // nil: close right after the handshake
	wrap             func(net.Conn) net.Conn // wraps accepted connections
	handshakeTimeout time.Duration           // zero: handshakeTimeout
}

// testServer is a loopback listener serving every accepted connection
// with the backend under test, one goroutine per connection.
type testServer struct {
	t     testing.TB
	srv   tlsbackend.Server
	ln    net.Listener
	opts  serverOptions
	store *certStore

	wg    sync.WaitGroup
	mu    sync.Mutex
	conns map[net.Conn]struct{}
	slots map[string]chan report
	any   chan report
}

func startServer(t testing.TB, b tlsbackend.Backend, opts serverOptions) *testServer {
	t.Helper()
	cfg := opts.config
	cfg.GetCertificate = opts.store.GetCertificate
	srv, err := b.NewServer(&cfg)
	if err != nil {
		t.Fatalf("NewServer: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		srv.Close()
		t.Fatalf("listen: %v", err)
	}
	s := &testServer{
		t: t, srv: srv, ln: ln, opts: opts, store: opts.store,
		conns: map[net.Conn]struct{}{},
		slots: map[string]chan report{},
		any:   make(chan report, 64),
	}
	s.wg.Add(1)
	go s.acceptLoop()
	t.Cleanup(s.close)
	return s
}

func (s *testServer) addr() string { return s.ln.Addr().String() }

func (s *testServer) close() {
	s.ln.Close()
	s.mu.Lock()
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	if err := s.srv.Close(); err != nil {
		s.t.Errorf("Server.Close: %v", err)
	}
}

func (s *testServer) acceptLoop() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go s.serveConn(c)
	}
}

func (s *testServer) serveConn(c net.Conn) {
	defer s.wg.Done()
	defer func() {
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
	}()
	r := report{remote: c.RemoteAddr().String()}
	raw := c
	if s.opts.wrap != nil {
		raw = s.opts.wrap(c)
	}
	tc := s.srv.Conn(raw)
	timeout := s.opts.handshakeTimeout
	if timeout == 0 {
		timeout = handshakeTimeout
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	start := time.Now()
	r.handshakeErr = tc.HandshakeContext(ctx)
	r.handshakeDur = time.Since(start)
	cancel()
	r.hello, r.haveHello = s.store.hello(r.remote)
	if r.handshakeErr == nil {
		r.state = tc.State()
		tc.SetDeadline(time.Now().Add(ioTimeout))
		if s.opts.handle != nil {
			r.err = s.opts.handle(tc, raw)
		}
	}
	tc.Close()
	c.Close()
	select {
	case s.slot(r.remote) <- r:
	default: // a report nobody took from the same address: drop this one
	}
	select {
	case s.any <- r:
	default:
	}
}

func (s *testServer) slot(remote string) chan report {
	s.mu.Lock()
	defer s.mu.Unlock()
	ch := s.slots[remote]
	if ch == nil {
		ch = make(chan report, 1)
		s.slots[remote] = ch
	}
	return ch
}

// wait returns the report of the connection from local (the client's
// local address).
func (s *testServer) wait(t testing.TB, local string) report {
	t.Helper()
	r, err := s.waitReport(local)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// waitReport is wait for goroutines other than the test's.
func (s *testServer) waitReport(local string) (report, error) {
	ch := s.slot(local)
	select {
	case r := <-ch:
		s.mu.Lock()
		delete(s.slots, local)
		s.mu.Unlock()
		return r, nil
	case <-time.After(reportTimeout):
		return report{}, fmt.Errorf("no server report for the connection from %s after %v", local, reportTimeout)
	}
}

// next returns the report of the next connection to end, whoever it was
// from (for peers whose address is unknown, like openssl).
func (s *testServer) next(t testing.TB) report {
	t.Helper()
	select {
	case r := <-s.any:
		return r
	case <-time.After(reportTimeout):
		t.Fatalf("no server report after %v", reportTimeout)
		return report{}
	}
}

// ok fails t if the server side of the connection failed.
func (r report) ok(t testing.TB) {
	t.Helper()
	if err := r.failure(); err != nil {
		t.Error(err)
	}
}

func (r report) failure() error {
	if r.handshakeErr != nil {
		return fmt.Errorf("server handshake: %w", r.handshakeErr)
	}
	if r.err != nil {
		return fmt.Errorf("server: %w", r.err)
	}
	return nil
}

// dial connects a crypto/tls client and runs its handshake. local is the
// client's address (the key of the server's report), set even when the
// handshake fails.
func dial(addr string, cfg *tls.Config) (c *tls.Conn, local string, err error) {
	raw, err := net.DialTimeout("tcp", addr, handshakeTimeout)
	if err != nil {
		return nil, "", err
	}
	local = raw.LocalAddr().String()
	raw.SetDeadline(time.Now().Add(ioTimeout))
	c = tls.Client(raw, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), handshakeTimeout)
	defer cancel()
	if err := c.HandshakeContext(ctx); err != nil {
		raw.Close()
		return nil, local, err
	}
	return c, local, nil
}

// echo is a handler copying everything back until EOF.
func echo(tc tlsbackend.Conn, _ net.Conn) error {
	buf := make([]byte, 32<<10)
	for {
		n, err := tc.Read(buf)
		if n > 0 {
			if _, werr := tc.Write(buf[:n]); werr != nil {
				return fmt.Errorf("echo write: %w", werr)
			}
		}
		if err != nil {
			if isEOF(err) {
				return nil
			}
			return fmt.Errorf("echo read: %w", err)
		}
	}
}

// pingPong writes a byte, reads it back (which also makes a TLS 1.3
// client take in the session tickets) and closes c.
func pingPong(c *tls.Conn) error {
	defer c.Close()
	if _, err := c.Write([]byte{'p'}); err != nil {
		return fmt.Errorf("ping: %w", err)
	}
	var b [1]byte
	if _, err := c.Read(b[:]); err != nil {
		return fmt.Errorf("pong: %w", err)
	}
	if b[0] != 'p' {
		return fmt.Errorf("pong: got %q", b[0])
	}
	return nil
}
