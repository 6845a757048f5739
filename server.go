package edge

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/edge-rt/edge/broadcast"
	"github.com/edge-rt/edge/http1"
	"github.com/edge-rt/edge/observe"
	"github.com/edge-rt/edge/proxy"
	"golang.org/x/sys/unix"
)

// ErrorCloseMode says how a connection is closed after an error response.
type ErrorCloseMode uint8

const (
	// CloseLinger (the default) half-closes the connection after the error
	// response and discards input until the client closes or ReadTimeout
	// passes, so the client reads the response instead of a reset.
	CloseLinger ErrorCloseMode = iota
	// CloseImmediately closes right after the error response is written.
	CloseImmediately
)

// Config holds the settings shared by every listener of a Server (Caprese's
// config: block). The zero value gives the documented defaults. A Config
// must not be modified after it is passed to New.
type Config struct {
	// Workers is the number of event loops serving all listeners. Zero
	// means GOMAXPROCS.
	Workers int
	// ClientMax is the most connections open at once; over it, a new
	// connection gets a 503 (TLS listeners: a plain close) and is closed,
	// and is counted as refused. Zero means 32000, or less when the open
	// files limit (after LimitOpenFiles) leaves room for fewer: the limit
	// minus 64 descriptors kept for listeners, files and backends.
	ClientMax int
	// IdleTimeout closes a keep-alive connection with no request in
	// progress (Caprese's connectionTimeout). Zero means 120 s; negative
	// disables it.
	//
	// For ReadTimeout and WriteTimeout too, negative disables the timeout
	// (a client can then hold a connection open forever: only for trusted
	// networks). A negative ShutdownTimeout makes Run close every
	// connection at once.
	IdleTimeout time.Duration
	// FirstByteTimeout closes a new connection (after its TLS handshake)
	// that sends no byte of a first request for this long: silent sockets
	// cannot hold ClientMax for IdleTimeout. Zero means 10 s; negative
	// leaves such connections to IdleTimeout; it is never longer than
	// IdleTimeout.
	FirstByteTimeout time.Duration
	// MaxConnsPerAddr bounds the connections open at once from one client
	// address (TCP listeners; the real address behind PROXY protocol); over
	// it a connection is refused like one over ClientMax. Zero means no
	// bound.
	MaxConnsPerAddr int
	// ReadTimeout bounds how long a request head may take from its first
	// byte, and how long a request body may go without progress; expiry
	// answers 408 and closes (slowloris). Zero means 15 s.
	ReadTimeout time.Duration
	// WriteTimeout closes a connection whose client reads no response
	// bytes for this long. Zero means 30 s.
	WriteTimeout time.Duration
	// PendingTimeout answers 504 to a pending request (Ctx.Pending) not
	// replied to in time. Zero means 60 s; negative disables it.
	PendingTimeout time.Duration
	// PingInterval is how long a WebSocket connection may stay quiet
	// before edge pings it; one more quiet interval after the ping closes
	// it (a dead peer). Zero means 30 s. Timeouts are swept once a second,
	// so shorter intervals act as one second.
	PingInterval time.Duration
	// ShutdownTimeout is how long Run lets in-flight requests finish
	// after its context is done. Zero means 10 s.
	ShutdownTimeout time.Duration
	// ShutdownGrace is how long WebSocket clients keep their connection
	// once Shutdown began (they can still receive messages) before they
	// get close 1001 (going away) and reconnect elsewhere. Zero sends 1001
	// at once; at the Shutdown deadline it is sent whatever the grace.
	ShutdownGrace time.Duration

	// MaxRequestLine, MaxHeaderBytes and MaxHeaders bound a request head
	// (414 / 431 beyond). Zero means 8192, 16384 and 100.
	MaxRequestLine int
	MaxHeaderBytes int
	MaxHeaders     int
	// MaxBodySize bounds a request body (413 beyond). Zero means 1 MiB.
	MaxBodySize int64
	// AllowPost enables request bodies (Caprese's postRequestMethod). When
	// false, POST, PUT, PATCH and any request with a body get 405 (except
	// on proxy routes: the backend decides).
	AllowPost bool
	// NoSplice turns off splice(2) in proxy tunnels between plain sockets
	// (bytes are then copied through user space, as on TLS listeners).
	NoSplice bool
	// Headers are the request headers handlers read with Ctx.Header. The
	// parser stores only these (and the few edge uses itself).
	Headers []string

	// DisableNoDelay turns TCP_NODELAY off (it is on by default).
	DisableNoDelay bool
	// SOKeepAlive turns SO_KEEPALIVE on for client connections.
	SOKeepAlive bool
	// ReusePort sets SO_REUSEPORT on listening sockets so that a new
	// process can bind the same port while this one drains. Default off
	// (a second bind is usually a mistake); cmd/edge turns it on.
	ReusePort bool
	// LimitOpenFiles sets RLIMIT_NOFILE at start: 0 leaves it, -1 raises the
	// soft limit to the hard limit, n > 0 sets it to n (at most the hard
	// limit).
	LimitOpenFiles int

	// HeaderServer adds "Server: ServerName" to responses.
	HeaderServer bool
	// ServerName is the Server header value. Empty means "edge".
	ServerName string
	// HeaderDate adds a Date header to responses.
	HeaderDate bool
	// NoContentType leaves Content-Type out of responses.
	NoContentType bool
	// ErrorClose is how a connection closes after an error response.
	ErrorClose ErrorCloseMode

	// Logger receives the server's logs. Nil means slog.Default().
	Logger *slog.Logger
	// Debug logs every rejected request and connection event at debug
	// level.
	Debug bool
	// Observer, if not nil, is told of every connection, handshake,
	// request and WebSocket message (package metrics implements it). It is
	// called on the event loops and must not block. Nil costs nothing.
	Observer observe.Observer
	// OnQuit, if not nil, runs once when the server shuts down, after
	// listeners closed and before connections are drained.
	OnQuit func()
}

func (c *Config) withDefaults() Config {
	cfg := *c
	if cfg.Workers <= 0 {
		cfg.Workers = runtime.GOMAXPROCS(0)
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&cfg.IdleTimeout, 120*time.Second)
	def(&cfg.FirstByteTimeout, 10*time.Second)
	def(&cfg.ReadTimeout, 15*time.Second)
	def(&cfg.WriteTimeout, 30*time.Second)
	def(&cfg.PendingTimeout, 60*time.Second)
	def(&cfg.ShutdownTimeout, 10*time.Second)
	if cfg.MaxBodySize <= 0 {
		cfg.MaxBodySize = 1 << 20
	}
	if cfg.ServerName == "" {
		cfg.ServerName = "edge"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return cfg
}

// Request headers edge itself reads; their indexes in Request.Values.
const (
	hdrAcceptEncoding = iota
	hdrIfNoneMatch
	hdrCookie
	hdrSecWebSocketKey
	hdrSecWebSocketVersion
	hdrSecWebSocketProtocol
	hdrSecWebSocketExtensions
	hdrOrigin
	numBuiltinHeaders
)

// MaxHeaders is the most request headers Config.Headers may declare:
// http1.MaxDeclared less the ones edge reads itself.
const MaxHeaders = 24

// The compiler checks MaxHeaders: both array sizes must be non-negative.
var (
	_ [MaxHeaders - (http1.MaxDeclared - numBuiltinHeaders)]struct{}
	_ [(http1.MaxDeclared - numBuiltinHeaders) - MaxHeaders]struct{}
)

var builtinHeaders = [numBuiltinHeaders]string{"Accept-Encoding", "If-None-Match", "Cookie",
	"Sec-WebSocket-Key", "Sec-WebSocket-Version", "Sec-WebSocket-Protocol", "Sec-WebSocket-Extensions", "Origin"}

// Server serves any number of listeners (TCP over IPv4 or IPv6, Unix
// sockets) with one shared set of event-loop workers.
//
// Configure it (Listen, routes) before Start; do not change the routes
// after. Once started, these are safe from any goroutine: Reply,
// ReplyFunc, Send, SendTag, CloseClient, Hub, Stats, Shutdown and the
// listeners' Addr.
type Server struct {
	cfg Config
	log *slog.Logger

	listeners      []*Listener
	workers        []*worker
	listenHandlers [][]*listenHandler // per worker

	parser  *http1.Parser
	headers []string // declared request headers, builtins first
	clock   *http1.Clock
	hub     *broadcast.Hub
	nconns  atomic.Int64
	obs     observe.Observer      // cfg.Observer
	pobs    observe.ProxyObserver // cfg.Observer, when it wants proxy events

	clientMax int64       // Config.ClientMax, or what the descriptor limit allows
	perAddr   *addrCounts // Config.MaxConnsPerAddr; nil when unbounded

	mu       sync.Mutex
	started  bool
	shutdown bool
	ctx      context.Context // cancelled at shutdown: detached goroutines
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	loopErrs chan error
	checks   map[*proxy.Route]context.CancelFunc // active health checks running
	quitOnce sync.Once

	stopped     chan struct{} // closed when the first Shutdown returns
	shutdownErr error         // what it returned (read after stopped)
}

// New returns a server with cfg (nil: all defaults).
func New(cfg *Config) *Server {
	if cfg == nil {
		cfg = &Config{}
	}
	c := cfg.withDefaults()
	s := &Server{cfg: c, log: c.Logger, obs: c.Observer, clock: http1.NewClock(), hub: broadcast.NewHub(broadcast.Config{})}
	s.pobs, _ = c.Observer.(observe.ProxyObserver)
	s.ctx, s.cancel = context.WithCancel(context.Background())
	if c.MaxConnsPerAddr > 0 {
		s.perAddr = &addrCounts{limit: int32(c.MaxConnsPerAddr)}
	}
	s.headers = append(builtinHeaders[:numBuiltinHeaders:numBuiltinHeaders], c.Headers...)
	return s
}

// Listener is one listening address and the route groups it serves.
type Listener struct {
	srv     *Server
	network string
	address string
	groups  []*Routes
	any     *Routes

	live atomic.Pointer[[]*Routes] // SetRoutes' groups once set; nil: groups

	ln   net.Listener
	fd   int
	tls  *TLSConfig
	name string // the bound address, for logs and observers

	inherited net.Listener   // Inherit's; Start serves it instead of binding
	ppOn      bool           // AcceptProxyProtocol
	ppTrust   []netip.Prefix // sources that may send a PROXY header
	pass      []passthrough  // Passthrough hosts (TLS listeners)
}

// Listen adds a listener: network "tcp", "tcp4" or "tcp6" with a
// host:port address (":8089", "[::1]:8089", port 0 picks a free one), or
// "unix" with a socket path. It binds in Start.
func (s *Server) Listen(network, address string) *Listener {
	l := &Listener{srv: s, network: network, address: address, fd: -1}
	s.listeners = append(s.listeners, l)
	return l
}

// Routes adds a new route group for host (see NewRoutes) and returns it.
// Groups are checked in the order they were added; the first whose host
// matches the request serves it.
func (l *Listener) Routes(host string) *Routes {
	g := NewRoutes(host)
	l.groups = append(l.groups, g)
	return g
}

// SetRoutes replaces the listener's route groups while it serves (a
// configuration reload): each request routed after the call sees the new
// groups; requests in flight, pending replies, WebSocket clients (with the
// Stream they upgraded on) and takeovers keep what they had. Safe from any
// goroutine; the groups must not change after the call.
func (l *Listener) SetRoutes(groups ...*Routes) {
	gs := append([]*Routes(nil), groups...)
	l.live.Store(&gs)
	s := l.srv
	s.mu.Lock()
	s.syncProxyChecks()
	s.mu.Unlock()
}

// Add appends an existing route group (it may be shared by listeners).
func (l *Listener) Add(g *Routes) *Listener {
	l.groups = append(l.groups, g)
	return l
}

// Any returns the listener's catch-all group (host ""), adding it on first
// use after the groups added so far.
func (l *Listener) Any() *Routes {
	if l.any == nil {
		l.any = l.Routes("")
	}
	return l.any
}

// Get is l.Any().Get(path, h).
func (l *Listener) Get(path string, h Handler) *Routes { return l.Any().Get(path, h) }

// Addr is the bound address (after Start), or nil.
func (l *Listener) Addr() net.Addr {
	if l.ln == nil {
		return nil
	}
	return l.ln.Addr()
}

func (l *Listener) addrString() string {
	if a := l.Addr(); a != nil {
		return a.String()
	}
	return l.address
}

func (l *Listener) group(host []byte) *Routes {
	for _, g := range l.currentGroups() {
		if g.matchHost(host) {
			return g
		}
	}
	return nil
}

// currentGroups returns the groups serving now (SetRoutes' or the built ones).
func (l *Listener) currentGroups() []*Routes {
	if p := l.live.Load(); p != nil {
		return *p
	}
	return l.groups
}

func (s *Server) headerIndex(name string) int {
	for i, h := range s.headers {
		if strings.EqualFold(h, name) {
			return i
		}
	}
	return -1
}

// Start binds every listener and starts the workers. It returns once the
// server accepts connections.
func (s *Server) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started {
		return errors.New("edge: server already started")
	}
	if len(s.listeners) == 0 {
		return errors.New("edge: no listeners")
	}
	if len(s.headers) > http1.MaxDeclared {
		return fmt.Errorf("edge: %d declared headers, at most %d", len(s.headers)-numBuiltinHeaders, http1.MaxDeclared-numBuiltinHeaders)
	}
	if err := setOpenFiles(s.cfg.LimitOpenFiles); err != nil {
		s.log.Warn("edge: limitOpenFiles", "err", err)
	}
	s.clientMax = int64(s.cfg.ClientMax)
	if s.clientMax <= 0 {
		s.clientMax = 32000
		var lim unix.Rlimit
		if unix.Getrlimit(unix.RLIMIT_NOFILE, &lim) == nil && lim.Cur < uint64(s.clientMax)+64 {
			s.clientMax = max(int64(lim.Cur)-64, 1)
		}
	}

	s.parser = http1.NewParser(http1.Limits{
		MaxRequestLine: s.cfg.MaxRequestLine,
		MaxHeaderBytes: s.cfg.MaxHeaderBytes,
		MaxHeaders:     s.cfg.MaxHeaders,
	}, s.headers)
	for _, l := range s.listeners {
		if err := s.bind(l); err != nil {
			s.closeListeners()
			return err
		}
	}
	for _, l := range s.listeners {
		if ul, ok := l.ln.(*net.UnixListener); ok && l.inherited != nil {
			ul.SetUnlinkOnClose(true) // ours now
		}
	}
	s.listenHandlers = make([][]*listenHandler, s.cfg.Workers)
	for i := 0; i < s.cfg.Workers; i++ {
		w, err := newWorker(s, i)
		if err != nil {
			s.stopWorkers()
			s.closeListeners()
			return err
		}
		s.workers = append(s.workers, w)
		for _, l := range s.listeners {
			h := &listenHandler{w: w, l: l}
			if err := w.loop.Add(l.fd, unix.EPOLLIN|unix.EPOLLEXCLUSIVE, h); err != nil {
				s.stopWorkers()
				s.closeListeners()
				return fmt.Errorf("edge: listen %s: %w", l.addrString(), err)
			}
			s.listenHandlers[i] = append(s.listenHandlers[i], h)
		}
	}
	s.loopErrs = make(chan error, len(s.workers))
	for _, w := range s.workers {
		go func() {
			if err := w.loop.Run(); err != nil {
				s.loopErrs <- err
			}
		}()
	}
	s.started = true
	s.syncProxyChecks()
	for _, l := range s.listeners {
		s.log.Info("edge: listening", "network", l.network, "addr", l.addrString(), "workers", s.cfg.Workers)
	}
	return nil
}

func (s *Server) bind(l *Listener) error {
	lc := net.ListenConfig{Control: func(network, address string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) {
			// Unix sockets refuse SO_REUSEPORT (EOPNOTSUPP): a path has one
			// listener, and a new process takes it over by unlinking it.
			if s.cfg.ReusePort && strings.HasPrefix(network, "tcp") {
				serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
			}
			if serr == nil && strings.HasPrefix(network, "tcp") {
				if !s.cfg.DisableNoDelay {
					// Inherited by accepted sockets: no syscall per connection.
					serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
				}
				if serr == nil && s.cfg.SOKeepAlive {
					serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_KEEPALIVE, 1)
				}
			}
		})
		if err != nil {
			return err
		}
		return serr
	}}
	lc.SetMultipathTCP(false)
	ln := l.inherited // a socket another process bound (inherit.go)
	if ln == nil {
		if l.network == "unix" {
			removeStaleSocket(l.address)
		}
		var err error
		ln, err = lc.Listen(context.Background(), l.network, l.address)
		if err != nil {
			// A *net.OpError already reads "listen tcp ADDR: ...".
			return fmt.Errorf("edge: %w", err)
		}
	}
	if ul, ok := ln.(*net.UnixListener); ok && l.inherited == nil {
		ul.SetUnlinkOnClose(true) // an inherited one: once Start succeeded
	}
	rc, err := ln.(syscall.Conn).SyscallConn()
	if err != nil {
		ln.Close()
		return fmt.Errorf("edge: listen %s: %w", l.address, err)
	}
	rc.Control(func(fd uintptr) { l.fd = int(fd) })
	l.ln = ln
	l.name = ln.Addr().String()
	return nil
}

// removeStaleSocket removes a Unix socket file nobody listens on (left by
// a crashed process), so that bind succeeds.
func removeStaleSocket(path string) {
	fi, err := os.Stat(path)
	if err != nil || fi.Mode()&os.ModeSocket == 0 {
		return
	}
	if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
		c.Close()
		return
	}
	os.Remove(path)
}

func setOpenFiles(n int) error {
	if n == 0 {
		return nil
	}
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		return fmt.Errorf("getrlimit: %w", err)
	}
	want := lim.Max
	if n > 0 && uint64(n) < want {
		want = uint64(n)
	}
	if lim.Cur == want {
		return nil
	}
	lim.Cur = want
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		return fmt.Errorf("setrlimit %d: %w", want, err)
	}
	return nil
}

func (s *Server) closeListeners() {
	for _, l := range s.listeners {
		if l.ln != nil {
			l.ln.Close()
		}
	}
}

func (s *Server) stopWorkers() {
	for _, w := range s.workers {
		w.loop.Stop()
	}
}

// startGoroutine runs f in a goroutine tracked by Shutdown; f's context is
// cancelled when the server shuts down. It reports false after shutdown.
func (s *Server) startGoroutine(f func(ctx context.Context)) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.shutdown {
		return false
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		f(s.ctx)
	}()
	return true
}

// onLoops runs f on every worker's loop and waits for all of them.
func (s *Server) onLoops(f func(w *worker)) {
	var wg sync.WaitGroup
	for _, w := range s.workers {
		wg.Add(1)
		if w.loop.Submit(func() { defer wg.Done(); f(w) }) != nil {
			wg.Done()
		}
	}
	wg.Wait()
}

// Shutdown stops accepting, closes idle connections and TLS handshakes,
// lets requests in flight finish (each connection closes after its
// response), sends WebSocket clients 1001, runs OnQuit, and returns when
// every connection is closed. When ctx ends first, the remaining
// connections are closed at once: a request head still arriving gets a
// 503, and the error (wrapping ctx's) is returned only if a request was
// cut in the middle (body, response or reply in progress). A second call
// waits for the first and returns its result.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	if !s.started {
		s.shutdown = true
		s.mu.Unlock()
		return nil
	}
	if s.shutdown {
		// Another Shutdown drains: wait for it.
		done := s.stopped
		s.mu.Unlock()
		select {
		case <-done:
			return s.shutdownErr
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	s.shutdown = true
	s.stopped = make(chan struct{})
	s.mu.Unlock()
	defer close(s.stopped)

	s.onLoops((*worker).beginShutdown)
	s.closeListeners()
	s.quitOnce.Do(func() {
		if s.cfg.OnQuit != nil {
			s.cfg.OnQuit()
		}
	})
	s.cancel() // detached connections (proxies, streams) wind down
	var err error
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	var grace <-chan time.Time // WebSocket clients get 1001 when it fires
	if s.cfg.ShutdownGrace > 0 {
		t := time.NewTimer(s.cfg.ShutdownGrace)
		defer t.Stop()
		grace = t.C
	}
	for s.nconns.Load() > 0 {
		select {
		case <-grace:
			s.onLoops((*worker).startGoingAway)
			grace = nil
			continue
		case <-ctx.Done():
			if grace != nil {
				s.onLoops((*worker).startGoingAway)
			}
			// Cut what is left; only requests cut in the middle make the
			// shutdown unclean (heads still arriving got a 503).
			var cut atomic.Int64
			s.onLoops(func(w *worker) { cut.Add(int64(w.forceClose())) })
			if cut.Load() > 0 {
				err = fmt.Errorf("%w: %d requests cut", ctx.Err(), cut.Load())
			}
		case <-tick.C:
			continue
		}
		break
	}
	for _, w := range s.workers {
		w.loop.Close()
	}
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		if err == nil && s.nconns.Load() > 0 {
			err = ctx.Err()
		}
	}
	s.shutdownErr = err
	s.log.Info("edge: stopped")
	return err
}

// Run starts the server (unless Start already did), serves until ctx is
// done, then shuts down within Config.ShutdownTimeout.
func (s *Server) Run(ctx context.Context) error {
	s.mu.Lock()
	started := s.started
	s.mu.Unlock()
	if !started {
		if err := s.Start(); err != nil {
			return err
		}
	}
	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-s.loopErrs:
	}
	sctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	if err := s.Shutdown(sctx); err != nil && runErr == nil {
		runErr = fmt.Errorf("edge: shutdown: %w", err)
	}
	return runErr
}
