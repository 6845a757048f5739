package proxy

import (
	"errors"
	"net/netip"
)

// HeadOptions says how AppendRequestHead rewrites a request head for the
// backend.
type HeadOptions struct {
	// Client is the real client address; invalid for a client on a Unix
	// socket (then no address is added).
	Client netip.AddrPort
	// TLS is true when the client came over TLS: X-Forwarded-Proto is
	// "https" instead of "http".
	TLS bool
	// ForwardedFor adds X-Forwarded-For (appended to the client's),
	// X-Forwarded-Proto and X-Real-IP (replacing the client's).
	ForwardedFor bool
	// Extra holds header lines to add, "Name: value\r\n" each (from a
	// Director). They are checked: a malformed line, or a field that
	// frames the message or the connection (Connection, Content-Length,
	// Keep-Alive, Proxy-Connection, TE, Transfer-Encoding, Upgrade), is an
	// error.
	Extra []byte
}

var (
	errRequestLine = errors.New("proxy: malformed request line")
	errExtra       = errors.New("proxy: malformed extra header line")
)

// AppendRequestHead appends to dst the request head raw, rewritten for the
// backend. raw must be one complete HTTP/1.x request head, as the http1
// parser accepts it: the request line (after optional empty lines) and the
// header fields, each ending in CRLF, then an empty line that ends raw.
//
// The request line is kept, sent as HTTP/1.1. The hop-by-hop fields are
// removed (RFC 9110 section 7.6.1): Connection, the fields it names (but
// never Host, Content-Length or Transfer-Encoding: the body is forwarded as
// it came), Keep-Alive, Proxy-Connection, TE unless it holds "trailers"
// (then "TE: trailers" is sent, and the te connection option), and Upgrade
// unless the request is an upgrade. A head without Host (HTTP/1.0) gets an
// empty one (RFC 9112 section 3.2). With opts.ForwardedFor, the client's
// address is appended to X-Forwarded-For (all its fields joined into one),
// and X-Forwarded-Proto and X-Real-IP replace the client's. opts.Extra is
// added, then "Connection: keep-alive", or for an upgrade request the
// Upgrade field and "Connection: upgrade".
//
// upgrade reports whether the request asks for an upgrade: HTTP/1.1, a
// Connection field with the "upgrade" option and an Upgrade field. A head
// that is malformed, or has more than 16 Connection fields, is an error.
// On error, dst is returned unchanged. AppendRequestHead allocates
// nothing when dst has room enough.
func AppendRequestHead(dst, raw []byte, opts *HeadOptions) (out []byte, upgrade bool, err error) {
	if opts == nil {
		opts = &HeadOptions{}
	}
	if len(opts.Extra) > 0 && !validExtra(opts.Extra) {
		return dst, false, errExtra
	}
	// The request line, after optional empty lines.
	i := 0
	var line []byte
	for {
		if line, i, err = nextLine(raw, i); err != nil {
			return dst, false, err
		}
		if len(line) > 0 {
			break
		}
	}
	method, target, minor, ok := parseRequestLine(line)
	if !ok {
		return dst, false, errRequestLine
	}
	fields := i

	// First pass: what the rewrite depends on.
	var conn connNames
	var hasHost, hasUpgrade, teTrailers, hasXFF bool
	for {
		name, value, next, err := nextField(raw, i)
		if err != nil {
			return dst, false, err
		}
		if name == nil {
			if next != len(raw) {
				return dst, false, errTrailing
			}
			break
		}
		switch {
		case equalFold(name, "connection"):
			if err := conn.add(raw, offsetIn(raw, value), len(value)); err != nil {
				return dst, false, err
			}
		case equalFold(name, "host"):
			hasHost = true
		case equalFold(name, "upgrade"):
			hasUpgrade = hasUpgrade || len(value) > 0
		case equalFold(name, "te"):
			teTrailers = teTrailers || hasToken(value, "trailers")
		case equalFold(name, "x-forwarded-for"):
			hasXFF = true
		}
		i = next
	}
	upgrade = minor >= 1 && hasUpgrade && conn.hasToken(raw, "upgrade")

	dst = append(dst, method...)
	dst = append(dst, ' ')
	dst = append(dst, target...)
	dst = append(dst, " HTTP/1.1\r\n"...)

	// Second pass: the fields kept, verbatim.
	for i = fields; ; {
		name, _, next := fieldAt(raw, i)
		if name == nil {
			break
		}
		if keepRequestField(raw, name, &conn, upgrade, opts.ForwardedFor) {
			dst = append(dst, raw[i:next]...)
		}
		i = next
	}
	if !hasHost {
		dst = append(dst, "Host: \r\n"...)
	}
	if opts.ForwardedFor {
		client := opts.Client.Addr().Unmap().WithZone("")
		n0 := len(dst)
		dst = append(dst, "X-Forwarded-For: "...)
		sep := false
		for i = fields; hasXFF; {
			name, value, next := fieldAt(raw, i)
			if name == nil {
				break
			}
			if len(value) > 0 && equalFold(name, "x-forwarded-for") && !conn.has(raw, name) {
				if sep {
					dst = append(dst, ", "...)
				}
				dst, sep = append(dst, value...), true
			}
			i = next
		}
		if client.IsValid() {
			if sep {
				dst = append(dst, ", "...)
			}
			dst, sep = client.AppendTo(dst), true
		}
		if sep {
			dst = append(dst, "\r\n"...)
		} else {
			dst = dst[:n0]
		}
		if opts.TLS {
			dst = append(dst, "X-Forwarded-Proto: https\r\n"...)
		} else {
			dst = append(dst, "X-Forwarded-Proto: http\r\n"...)
		}
		if client.IsValid() {
			dst = append(dst, "X-Real-IP: "...)
			dst = client.AppendTo(dst)
			dst = append(dst, "\r\n"...)
		}
	}
	dst = append(dst, opts.Extra...)
	if teTrailers {
		dst = append(dst, "TE: trailers\r\n"...)
	}
	switch {
	case upgrade && teTrailers:
		dst = append(dst, "Connection: upgrade, te\r\n\r\n"...)
	case upgrade:
		dst = append(dst, "Connection: upgrade\r\n\r\n"...)
	case teTrailers:
		dst = append(dst, "Connection: keep-alive, te\r\n\r\n"...)
	default:
		dst = append(dst, "Connection: keep-alive\r\n\r\n"...)
	}
	return dst, upgrade, nil
}

// keepRequestField reports whether the field named name is forwarded as
// it is.
func keepRequestField(raw, name []byte, conn *connNames, upgrade, forwardedFor bool) bool {
	switch len(name) {
	case 2:
		if equalFold(name, "te") {
			return false // "TE: trailers" is added when asked
		}
	case 4:
		if equalFold(name, "host") {
			return true
		}
	case 7:
		if equalFold(name, "upgrade") {
			return upgrade
		}
	case 9:
		if forwardedFor && equalFold(name, "x-real-ip") {
			return false
		}
	case 10:
		if equalFold(name, "connection") || equalFold(name, "keep-alive") {
			return false
		}
	case 14:
		if equalFold(name, "content-length") {
			return true
		}
	case 15:
		if forwardedFor && equalFold(name, "x-forwarded-for") {
			return false // joined into one field with the client address
		}
	case 16:
		if equalFold(name, "proxy-connection") {
			return false
		}
	case 17:
		if equalFold(name, "transfer-encoding") {
			return true
		}
		if forwardedFor && equalFold(name, "x-forwarded-proto") {
			return false
		}
	}
	return !conn.has(raw, name)
}

// parseRequestLine splits "method SP target SP HTTP/1.x".
func parseRequestLine(line []byte) (method, target []byte, minor int, ok bool) {
	sp := -1
	for k, c := range line {
		if c == ' ' {
			sp = k
			break
		}
		if !tchar[c] {
			return nil, nil, 0, false
		}
	}
	if sp <= 0 {
		return nil, nil, 0, false
	}
	method, rest := line[:sp], line[sp+1:]
	sp = -1
	for k, c := range rest {
		if c == ' ' {
			sp = k
			break
		}
		if c < 0x21 || c == 0x7f {
			return nil, nil, 0, false
		}
	}
	if sp <= 0 {
		return nil, nil, 0, false
	}
	target, v := rest[:sp], rest[sp+1:]
	if len(v) != 8 || string(v[:7]) != "HTTP/1." || v[7] < '0' || v[7] > '9' {
		return nil, nil, 0, false
	}
	return method, target, int(v[7] - '0'), true
}

// validExtra reports whether b is a sequence of "Name: value\r\n" lines
// with none of the fields that frame the message or the connection.
func validExtra(b []byte) bool {
	for i := 0; i < len(b); {
		name, _, next, err := nextField(b, i)
		if err != nil || name == nil {
			return false
		}
		for _, f := range framingFields {
			if equalFold(name, f) {
				return false
			}
		}
		i = next
	}
	return true
}

// framingFields are the fields Extra must not hold.
var framingFields = [...]string{"connection", "content-length", "keep-alive", "proxy-connection", "te", "transfer-encoding", "upgrade"}
