package proxy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// Passive health backoff: a backend that fails is down for minBackoff, then
// twice as long after each further failure, up to maxBackoff.
const (
	minBackoff = time.Second
	maxBackoff = 30 * time.Second
)

// Backend is one upstream server, as ParseBackend makes it.
//
// A Backend is safe for concurrent use: the event loops of all workers share
// it. Its health (Up, Fail, Succeed) and its count of active requests
// (Acquire, Release, Active) are updated with atomic operations.
type Backend struct {
	// Addr is the address as given to ParseBackend.
	Addr string

	network string
	sa4     unix.SockaddrInet4 // network "tcp", IPv4
	sa6     unix.SockaddrInet6 // network "tcp", IPv6
	ip6     bool
	path    string // network "unix"

	active    atomic.Int64
	downUntil atomic.Int64 // unix ns; the backend is down while now < downUntil
	checkDown atomic.Bool  // the last active health check failed

	mu      sync.Mutex // serializes Fail and Succeed
	backoff time.Duration
}

// ParseBackend parses a backend address: "host:port" with an IPv4 address,
// a bracketed IPv6 address (zone allowed) or a host name, or "unix:" and the
// path of a Unix stream socket ("unix:@name" for an abstract one). A host
// name is resolved once, here, to its first IPv4 address, or its first
// address when it has no IPv4 one. The port
// must be a decimal number from 1 to 65535.
func ParseBackend(s string) (*Backend, error) {
	b, err := parseBackend(s)
	if err != nil {
		return nil, fmt.Errorf("proxy: backend %q: %w", s, err)
	}
	return b, nil
}

// parseBackend is ParseBackend with errors that do not name s.
func parseBackend(s string) (*Backend, error) {
	b := &Backend{Addr: s}
	if path, ok := strings.CutPrefix(s, "unix:"); ok {
		if path == "" || path == "@" {
			return nil, errors.New("empty unix socket path")
		}
		if len(path) >= len(unix.RawSockaddrUnix{}.Path) {
			return nil, fmt.Errorf("unix socket path longer than %d bytes", len(unix.RawSockaddrUnix{}.Path)-1)
		}
		if strings.IndexByte(path, 0) >= 0 {
			return nil, errors.New("NUL in unix socket path")
		}
		b.network, b.path = "unix", path
		return b, nil
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return nil, err
	}
	if host == "" {
		return nil, errors.New("missing host")
	}
	pn, err := strconv.ParseUint(port, 10, 16)
	if err != nil || pn == 0 || port[0] == '+' {
		return nil, fmt.Errorf("invalid port %q", port)
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		if strings.ContainsAny(host, "%[]") {
			return nil, fmt.Errorf("invalid host %q", host)
		}
		ips, lerr := net.DefaultResolver.LookupNetIP(context.Background(), "ip", host)
		if lerr != nil {
			return nil, fmt.Errorf("resolve %s: %w", host, lerr)
		}
		if len(ips) == 0 {
			return nil, fmt.Errorf("resolve %s: no address", host)
		}
		ip = ips[0]
		for _, a := range ips { // prefer IPv4, as net.Dial does for "tcp"
			if a.Unmap().Is4() {
				ip = a
				break
			}
		}
	}
	ip = ip.Unmap()
	b.network = "tcp"
	if ip.Is4() {
		b.sa4 = unix.SockaddrInet4{Port: int(pn), Addr: ip.As4()}
		return b, nil
	}
	b.ip6 = true
	b.sa6 = unix.SockaddrInet6{Port: int(pn), Addr: ip.As16()}
	if z := ip.Zone(); z != "" {
		ifi, err := net.InterfaceByName(z)
		if err != nil {
			n, nerr := strconv.ParseUint(z, 10, 32)
			if nerr != nil {
				return nil, fmt.Errorf("zone %q: %w", z, err)
			}
			b.sa6.ZoneId = uint32(n)
		} else {
			b.sa6.ZoneId = uint32(ifi.Index)
		}
	}
	return b, nil
}

// String returns b.Addr.
func (b *Backend) String() string { return b.Addr }

// Network returns "tcp" or "unix".
func (b *Backend) Network() string { return b.network }

// Sockaddr returns the address to give connect(2) (unix.Connect) on a
// non-blocking socket of the family b needs (AF_INET, AF_INET6 or AF_UNIX,
// SOCK_STREAM). It returns a new value on each call: unix.Connect writes
// into the Sockaddr it is given, so one value must not be shared between
// goroutines.
func (b *Backend) Sockaddr() unix.Sockaddr {
	switch {
	case b.network == "unix":
		return &unix.SockaddrUnix{Name: b.path}
	case b.ip6:
		sa := b.sa6
		return &sa
	}
	sa := b.sa4
	return &sa
}

// Family returns the socket address family for b: unix.AF_INET,
// unix.AF_INET6 or unix.AF_UNIX.
func (b *Backend) Family() int {
	switch {
	case b.network == "unix":
		return unix.AF_UNIX
	case b.ip6:
		return unix.AF_INET6
	}
	return unix.AF_INET
}

// dialAddr returns the address for net.Dial with b.Network().
func (b *Backend) dialAddr() string {
	switch {
	case b.network == "unix":
		return b.path
	case b.ip6:
		ip := netip.AddrFrom16(b.sa6.Addr)
		if b.sa6.ZoneId != 0 {
			ip = ip.WithZone(strconv.FormatUint(uint64(b.sa6.ZoneId), 10))
		}
		return netip.AddrPortFrom(ip, uint16(b.sa6.Port)).String()
	}
	return netip.AddrPortFrom(netip.AddrFrom4(b.sa4.Addr), uint16(b.sa4.Port)).String()
}

// Up reports whether b may be given requests at now (unix nanoseconds): it
// is false while a passive failure's backoff runs (see Fail) and while the
// last active health check failed.
func (b *Backend) Up(now int64) bool {
	return now >= b.downUntil.Load() && !b.checkDown.Load()
}

// Fail records that a connect to b was refused or timed out at now (unix
// nanoseconds): b is down for a backoff of 1s, doubled by each further
// failure up to 30s, until Succeed. Failures reported while b is already
// down (connects that were in flight when it went down) do not lengthen
// the backoff.
func (b *Backend) Fail(now int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if now < b.downUntil.Load() {
		return
	}
	switch {
	case b.backoff == 0:
		b.backoff = minBackoff
	case b.backoff < maxBackoff:
		b.backoff = min(2*b.backoff, maxBackoff)
	}
	b.downUntil.Store(now + int64(b.backoff))
}

// Succeed records that a connect to b worked: b is up and its backoff is
// reset.
func (b *Backend) Succeed() {
	if b.downUntil.Load() == 0 {
		return // fast path: nothing to reset
	}
	b.mu.Lock()
	b.backoff = 0
	b.downUntil.Store(0)
	b.mu.Unlock()
}

// Acquire counts one more active request or tunnel on b (for LeastConn).
// Each Acquire must be matched by one Release.
func (b *Backend) Acquire() { b.active.Add(1) }

// Release counts one active request or tunnel less on b.
func (b *Backend) Release() { b.active.Add(-1) }

// Active returns the number of active requests and tunnels on b.
func (b *Backend) Active() int { return int(b.active.Load()) }
