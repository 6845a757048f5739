package proxy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"sync/atomic"
	"time"
)

// Mode says how a proxy route forwards a client connection.
type Mode uint8

const (
	// ModeRequest routes each request on its own: the request head is
	// rewritten and forwarded, the response framed, and the next request
	// on the client connection is routed again. It is the zero value.
	ModeRequest Mode = iota
	// ModePin forwards the first matching request and everything after it
	// unchanged, both ways, until either side closes.
	ModePin
)

var modeNames = [...]string{ModeRequest: "request", ModePin: "pin"}

// String returns the name ParseMode takes.
func (m Mode) String() string {
	if int(m) < len(modeNames) {
		return modeNames[m]
	}
	return fmt.Sprintf("Mode(%d)", m)
}

// ParseMode parses "request" or "pin".
func ParseMode(s string) (Mode, error) {
	for i, n := range modeNames {
		if s == n {
			return Mode(i), nil
		}
	}
	return 0, fmt.Errorf("proxy: unknown mode %q (want request or pin)", s)
}

// Balance is how a Route picks a backend.
type Balance uint8

const (
	// RoundRobin takes the backends in turn. It is the zero value.
	RoundRobin Balance = iota
	// LeastConn takes the backend with the fewest active requests and
	// tunnels; ties go round robin.
	LeastConn
	// Random2 draws two different backends at random and takes the one
	// with fewer active requests and tunnels ("the power of two choices").
	Random2
)

var balanceNames = [...]string{RoundRobin: "roundRobin", LeastConn: "leastConn", Random2: "random2"}

// String returns the name ParseBalance takes.
func (b Balance) String() string {
	if int(b) < len(balanceNames) {
		return balanceNames[b]
	}
	return fmt.Sprintf("Balance(%d)", b)
}

// ParseBalance parses "roundRobin", "leastConn" or "random2".
func ParseBalance(s string) (Balance, error) {
	for i, n := range balanceNames {
		if s == n {
			return Balance(i), nil
		}
	}
	return 0, fmt.Errorf("proxy: unknown balance %q (want roundRobin, leastConn or random2)", s)
}

// ProxyProtocol is the version of the PROXY protocol header sent to
// backends, if any.
type ProxyProtocol uint8

const (
	// ProxyOff sends no PROXY header. It is the zero value.
	ProxyOff ProxyProtocol = iota
	// ProxyV1 sends the text header of PROXY protocol version 1.
	ProxyV1
	// ProxyV2 sends the binary header of PROXY protocol version 2.
	ProxyV2
)

var proxyProtocolNames = [...]string{ProxyOff: "off", ProxyV1: "v1", ProxyV2: "v2"}

// String returns the name ParseProxyProtocol takes.
func (p ProxyProtocol) String() string {
	if int(p) < len(proxyProtocolNames) {
		return proxyProtocolNames[p]
	}
	return fmt.Sprintf("ProxyProtocol(%d)", p)
}

// ParseProxyProtocol parses "off", "v1" or "v2".
func ParseProxyProtocol(s string) (ProxyProtocol, error) {
	for i, n := range proxyProtocolNames {
		if s == n {
			return ProxyProtocol(i), nil
		}
	}
	return 0, fmt.Errorf("proxy: unknown proxyProtocol %q (want off, v1 or v2)", s)
}

// Defaults applied by Route.Init.
const (
	DefaultConnectTimeout  = 3 * time.Second
	DefaultResponseTimeout = 60 * time.Second
	DefaultIdleTimeout     = 60 * time.Second
	DefaultMaxIdle         = 32
	DefaultCheckInterval   = 5 * time.Second
	DefaultCheckTimeout    = 2 * time.Second
)

// HealthCheck configures active health checks: every Interval, each backend
// is checked with a connect (Path empty) or an HTTP/1.1 GET of Path whose
// status must be 2xx or 3xx, within Timeout. A failed check marks the
// backend down until a check succeeds.
type HealthCheck struct {
	// Interval between two checks of a backend. If zero, 5s is used.
	// Negative is an error.
	Interval time.Duration
	// Timeout of one check, connect included. If zero, 2s or Interval,
	// whichever is shorter, is used. Negative is an error.
	Timeout time.Duration
	// Path is the target of the GET request ("/healthz"); it must start
	// with '/'. If empty, a check is only a connect.
	Path string
}

// Request is what a Director sees of a request. It is borrowed: its slices
// are only valid until the Director returns.
type Request struct {
	Method, Target, Host []byte
	// Remote is the client's address; invalid for a client on a Unix
	// socket.
	Remote netip.AddrPort
	// TLS is true when the client connection is TLS.
	TLS bool
}

// Route is what a proxy route forwards to. Set its fields, then call Init
// (the route kind does it): Init fills in defaults, and a Route must not be
// modified after it. Before Init, a Route may be copied; after, its
// methods are safe for concurrent use.
type Route struct {
	// To lists the backends, as ParseBackend takes them. It must not be
	// empty.
	To []string
	// Mode is how the route forwards. The zero value is ModeRequest.
	Mode Mode
	// Balance is how a backend is picked. The zero value is RoundRobin.
	Balance Balance
	// ForwardedFor adds X-Forwarded-For (appended to the client's),
	// X-Forwarded-Proto and X-Real-IP (replacing the client's) to each
	// request (request mode).
	ForwardedFor bool
	// ProxyProtocol is the PROXY protocol header sent first on each new
	// backend connection. The zero value, ProxyOff, sends none.
	ProxyProtocol ProxyProtocol
	// ConnectTimeout bounds a connect to a backend; a backend that does
	// not connect in time is marked down (Backend.Fail). If zero, 3s is
	// used. Negative is an error.
	ConnectTimeout time.Duration
	// ResponseTimeout bounds the time from the request sent to the
	// response head received; after it the client gets 504. If zero, 60s
	// is used. If negative, there is no timeout.
	ResponseTimeout time.Duration
	// IdleTimeout is how long an idle pooled backend connection is kept.
	// If zero, 60s is used. Negative is an error.
	IdleTimeout time.Duration
	// MaxIdle is the number of idle connections kept per backend and per
	// worker. If zero, 32 is used. If negative, no connection is pooled:
	// each is closed after its response.
	MaxIdle int
	// HealthCheck configures active health checks (see Start). If nil,
	// health is passive only: a backend is marked down when a connect to
	// it fails.
	HealthCheck *HealthCheck
	// Director, if set, is called on the event loop for each request
	// (request mode) or once for the first request (pin mode). It must not
	// block. It may pick the backend by returning one of r.Backends() (nil
	// leaves the choice to the balancer), append header lines
	// ("Name: value\r\n" each) to extra and return the result as extraOut
	// (request mode), or reject the request with a status >= 400, which
	// the engine answers (0 lets the request through).
	Director func(req *Request, extra []byte) (b *Backend, extraOut []byte, status int)
	// Logger receives the health transitions of active checks. If nil,
	// slog.Default() is used.
	Logger *slog.Logger

	st *routeState
}

// routeState is what Init builds; behind a pointer so that a Route stays
// copyable before Init.
type routeState struct {
	backends []*Backend
	next     atomic.Uint64 // round-robin cursor
	started  atomic.Bool
	done     chan struct{} // closed when the health-check goroutine exits
	err      error
}

// Init parses To into backends, applies the defaults and validates the
// route. It is idempotent: later calls return the first call's result.
// It must not be called concurrently with itself or any other method.
// Errors name the offending field, as in `proxy: to[1] "x": ...`.
func (r *Route) Init() error {
	if r.st != nil {
		return r.st.err
	}
	st := &routeState{done: make(chan struct{})}
	st.err = r.init(st)
	r.st = st
	return st.err
}

func (r *Route) init(st *routeState) error {
	if len(r.To) == 0 {
		return errors.New("proxy: to: no backend")
	}
	for i, s := range r.To {
		b, err := parseBackend(s)
		if err != nil {
			return fmt.Errorf("proxy: to[%d] %q: %w", i, s, err)
		}
		st.backends = append(st.backends, b)
	}
	if int(r.Mode) >= len(modeNames) {
		return fmt.Errorf("proxy: mode: invalid value %d", r.Mode)
	}
	if int(r.Balance) >= len(balanceNames) {
		return fmt.Errorf("proxy: balance: invalid value %d", r.Balance)
	}
	if int(r.ProxyProtocol) >= len(proxyProtocolNames) {
		return fmt.Errorf("proxy: proxyProtocol: invalid value %d", r.ProxyProtocol)
	}
	switch {
	case r.ConnectTimeout < 0:
		return fmt.Errorf("proxy: connectTimeout: negative (%v)", r.ConnectTimeout)
	case r.ConnectTimeout == 0:
		r.ConnectTimeout = DefaultConnectTimeout
	}
	if r.ResponseTimeout == 0 {
		r.ResponseTimeout = DefaultResponseTimeout
	}
	switch {
	case r.IdleTimeout < 0:
		return fmt.Errorf("proxy: idleTimeout: negative (%v)", r.IdleTimeout)
	case r.IdleTimeout == 0:
		r.IdleTimeout = DefaultIdleTimeout
	}
	if r.MaxIdle == 0 {
		r.MaxIdle = DefaultMaxIdle
	}
	if hc := r.HealthCheck; hc != nil {
		switch {
		case hc.Interval < 0:
			return fmt.Errorf("proxy: healthCheck: interval: negative (%v)", hc.Interval)
		case hc.Interval == 0:
			hc.Interval = DefaultCheckInterval
		}
		switch {
		case hc.Timeout < 0:
			return fmt.Errorf("proxy: healthCheck: timeout: negative (%v)", hc.Timeout)
		case hc.Timeout == 0:
			hc.Timeout = min(DefaultCheckTimeout, hc.Interval)
		}
		if hc.Path != "" && !validPath(hc.Path) {
			return fmt.Errorf("proxy: healthCheck: path %q: must start with '/' and be visible ASCII", hc.Path)
		}
	}
	return nil
}

// validPath reports whether p can be sent as an origin-form request target.
func validPath(p string) bool {
	if p == "" || p[0] != '/' {
		return false
	}
	for i := 0; i < len(p); i++ {
		if p[i] <= ' ' || p[i] >= 0x7f {
			return false
		}
	}
	return true
}

// Backends returns the backends parsed from To by Init, in order; nil
// before a successful Init. The slice must not be modified.
func (r *Route) Backends() []*Backend {
	if r.st == nil || r.st.err != nil {
		return nil
	}
	return r.st.backends
}

// Pick returns a backend for a new request or tunnel at now (unix
// nanoseconds), by r.Balance among the backends that are Up, leaving out
// exclude (the one that just failed; nil for none). It returns nil when no
// backend is left. Pick never allocates.
func (r *Route) Pick(now int64, exclude *Backend) *Backend {
	bs := r.Backends()
	n := len(bs)
	if n == 0 {
		return nil
	}
	switch r.Balance {
	case LeastConn:
		start := int(r.st.next.Add(1) % uint64(n))
		var best *Backend
		bestActive := 0
		for k := range n {
			b := bs[(start+k)%n]
			if b == exclude || !b.Up(now) {
				continue
			}
			if a := b.Active(); best == nil || a < bestActive {
				best, bestActive = b, a
			}
		}
		return best
	case Random2:
		c := 0
		for _, b := range bs {
			if b != exclude && b.Up(now) {
				c++
			}
		}
		switch c {
		case 0:
			return nil
		case 1:
			return nthCandidate(bs, now, exclude, 0)
		}
		i := rand.IntN(c)
		j := rand.IntN(c - 1)
		if j >= i {
			j++
		}
		bi, bj := nthCandidate(bs, now, exclude, i), nthCandidate(bs, now, exclude, j)
		if bi == nil || bj != nil && bj.Active() < bi.Active() {
			return bj
		}
		return bi
	}
	start := int((r.st.next.Add(1) - 1) % uint64(n))
	for k := range n {
		b := bs[(start+k)%n]
		if b != exclude && b.Up(now) {
			return b
		}
	}
	return nil
}

// nthCandidate returns the i-th backend of bs (from 0) that is up and not
// exclude. A backend may go down between the count and this call: then the
// last candidate seen, or any up backend, is returned; nil only if none is
// up any more.
func nthCandidate(bs []*Backend, now int64, exclude *Backend, i int) *Backend {
	var last *Backend
	for _, b := range bs {
		if b == exclude || !b.Up(now) {
			continue
		}
		if i == 0 {
			return b
		}
		i--
		last = b
	}
	return last
}

// Start starts the active health checks of r: one goroutine, stopped when
// ctx is done, that checks every backend at once every Interval, the first
// time right away. It is a no-op when HealthCheck is nil, before a
// successful Init, and on every call but the first. Wait waits for the
// goroutine to exit.
func (r *Route) Start(ctx context.Context) { r.StartObserved(ctx, nil) }

// StartObserved is Start with onHealth, when not nil, called from the
// health-check goroutine each time a check finds a backend down after it
// was up, or up after it was down (for metrics; it must not block).
func (r *Route) StartObserved(ctx context.Context, onHealth func(b *Backend, up bool)) {
	if r.HealthCheck == nil || r.Backends() == nil || !r.st.started.CompareAndSwap(false, true) {
		return
	}
	go r.healthLoop(ctx, onHealth)
}

// Wait blocks until the health-check goroutine started by Start has exited
// (after its ctx is done). It returns at once if Start started none.
func (r *Route) Wait() {
	if r.st == nil || !r.st.started.Load() {
		return
	}
	<-r.st.done
}
