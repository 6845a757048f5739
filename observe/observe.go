// Package observe is the seam between edge's connection engine and whatever
// watches it (the metrics package, an access log, a test). The engine calls
// an Observer on its event-loop goroutines at each phase of a connection;
// with no Observer configured it calls nothing and costs nothing.
//
// Every method is called from several event loops at once, so an
// implementation must be safe for concurrent use, and must be quick and
// never block: it runs inside a loop round that other connections wait on.
// Byte slices in the event structs are only valid during the call; copy
// what you keep. Values that come from clients (Host, SNI, target) are
// unbounded in number: an implementation that turns them into metric labels
// must fold unknown values into one (see HostGroup, which is bounded).
package observe

import (
	"net/netip"
	"time"
)

// Observer receives the engine's events. Embed Nop to implement only some.
type Observer interface {
	// ConnOpened: a connection was accepted on a listener.
	ConnOpened(c Conn)
	// ConnRefused: a connection was refused before being served.
	ConnRefused(listener string, reason RefuseReason)
	// ConnClosed: a connection ended; reason is one of the engine's close
	// reasons ("peer", "idle", "read_timeout", ...).
	ConnClosed(c Conn, reason string)
	// Handshake: a TLS handshake finished, successfully or not.
	Handshake(h Handshake)
	// Request: a response to one request was queued (or the request was
	// handed to a stream or proxy).
	Request(r *Request)
	// WSMessage: one WebSocket message was received (In) or written.
	WSMessage(listener string, dir Direction, size int)
	// QueueDrop: a message for a client was dropped or the client closed
	// because its bounded send queue was full.
	QueueDrop(listener string, slowClose bool)
}

// Conn identifies a connection in events.
type Conn struct {
	Listener string         // the listener's name (its address unless named)
	Remote   netip.AddrPort // the client (the real one behind PROXY protocol)
	TLS      bool
}

// RefuseReason says why a connection was refused.
type RefuseReason uint8

// Refusal reasons.
const (
	RefuseClientMax RefuseReason = iota // over Config.ClientMax
	RefusePerAddr                       // over the per-client-address cap
	RefuseFiles                         // out of file descriptors (EMFILE/ENFILE)
	RefuseShutdown                      // the server is shutting down
	RefusePolicy                        // an allow/deny rule (PROXY protocol, JA4)
)

var refuseNames = [...]string{"client_max", "per_addr", "files", "shutdown", "policy"}

// String returns the reason as a label value.
func (r RefuseReason) String() string {
	if int(r) < len(refuseNames) {
		return refuseNames[r]
	}
	return "unknown"
}

// Direction of a WebSocket message.
type Direction uint8

// Directions.
const (
	In Direction = iota
	Out
)

// Handshake describes a finished TLS handshake.
type Handshake struct {
	Listener   string
	Backend    string // "stdlib", "openssl", "boringcrypto"
	Version    uint16 // tls.VersionTLS12, tls.VersionTLS13; 0 on failure before agreement
	Resumed    bool
	ServerName string // SNI as sent by the client: unbounded, fold before labelling
	Duration   time.Duration
	Err        error // nil on success
}

// Request describes one answered request. Only valid during the call.
type Request struct {
	Listener   string
	HostGroup  string // the configured host group that served it ("" = default); bounded
	Route      string // the route's name ("" = none matched); bounded
	Host       []byte // Host header as sent: unbounded
	Method     []byte
	Target     []byte
	Status     int // 0 when the request was handed to a stream or a proxy before any status
	BytesOut   int64
	Duration   time.Duration // from the first byte of the head to the response queued
	Remote     netip.AddrPort
	TLSVersion uint16 // 0 on plain connections
	JA4        string // the client's JA4 fingerprint, "" when not computed
}

// Nop implements Observer with methods that do nothing; embed it to
// implement only some events.
type Nop struct{}

// ConnOpened implements Observer.
func (Nop) ConnOpened(Conn) {}

// ConnRefused implements Observer.
func (Nop) ConnRefused(string, RefuseReason) {}

// ConnClosed implements Observer.
func (Nop) ConnClosed(Conn, string) {}

// Handshake implements Observer.
func (Nop) Handshake(Handshake) {}

// Request implements Observer.
func (Nop) Request(*Request) {}

// WSMessage implements Observer.
func (Nop) WSMessage(string, Direction, int) {}

// QueueDrop implements Observer.
func (Nop) QueueDrop(string, bool) {}

// ProxyObserver is implemented by an Observer that also wants the reverse
// proxy's events (the engine finds it with a type assertion at New; Multi
// passes them to each Observer that implements it). backend is the
// address as configured (a route's To entry), so its values are bounded
// by the configuration.
type ProxyObserver interface {
	// BackendUp: a backend went down (a connect failed, or an active check)
	// or came back up.
	BackendUp(backend string, up bool)
	// BackendConnectError: a connection to a backend was refused, timed
	// out or failed mid-exchange.
	BackendConnectError(backend string)
	// UpstreamLatency: the time from a request sent whole to a backend to
	// its response head.
	UpstreamLatency(backend string, d time.Duration)
}
