package ws

import (
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"strconv"
)

// Request holds the handshake headers of an HTTP request, as byte slices from
// the engine's parser (nil when a header is absent). CheckRequest and the
// functions below only read them.
type Request struct {
	Method string // "GET" for a WebSocket handshake

	// Upgrade is the Upgrade header value. An engine that only fills it when
	// the Connection header lists "upgrade" (as http1.Request.Upgrade does)
	// may leave Connection nil.
	Upgrade []byte
	// Connection is the raw Connection header value. When nil it is not
	// checked (the engine already did); otherwise it must list "upgrade".
	Connection []byte

	Key        []byte // Sec-WebSocket-Key
	Version    []byte // Sec-WebSocket-Version
	Protocol   []byte // Sec-WebSocket-Protocol (see SelectProtocol)
	Extensions []byte // Sec-WebSocket-Extensions (see NegotiateDeflate)
}

// ErrNotWebSocket reports a request that does not ask for a WebSocket at all
// (no "Upgrade: websocket" with "Connection: upgrade"): the caller serves it
// as a plain HTTP request, so the same path can serve a page.
var ErrNotWebSocket = errors.New("ws: not a websocket upgrade request")

// HandshakeError is an upgrade request the server must refuse: the caller
// answers with Status, adds Header (zero or more complete header lines, each
// ending in CRLF) to the response and closes the connection.
type HandshakeError struct {
	Status int    // 400 or 426
	Reason string // short, for logs and the response body
	Header string // e.g. "Sec-WebSocket-Version: 13\r\n" with 426; may be ""
}

func (e *HandshakeError) Error() string {
	return "ws: handshake: " + strconv.Itoa(e.Status) + " " + e.Reason
}

// CheckRequest checks an opening handshake (RFC 6455 section 4.2.1). It
// returns nil for a valid WebSocket upgrade, ErrNotWebSocket when the request
// does not ask for one (the Upgrade header does not list "websocket", or a
// non-nil Connection does not list "upgrade"; RFC 9110 lets a server ignore
// Upgrade), or a *HandshakeError: 400 for a method other than GET or a
// Sec-WebSocket-Key that is not the base64 form of 16 bytes, 426 with
// "Sec-WebSocket-Version: 13" for a missing version or any version but 13.
// The version is checked before the key, since other versions use other
// keys. Protocol and Extensions are not checked here.
func CheckRequest(r *Request) error {
	if !hasToken(r.Upgrade, "websocket") {
		return ErrNotWebSocket
	}
	if r.Connection != nil && !hasToken(r.Connection, "upgrade") {
		return ErrNotWebSocket
	}
	if r.Method != "GET" {
		return &HandshakeError{Status: 400, Reason: "websocket upgrade must use GET"}
	}
	if string(r.Version) != "13" {
		return &HandshakeError{Status: 426, Reason: "unsupported Sec-WebSocket-Version", Header: "Sec-WebSocket-Version: 13\r\n"}
	}
	if !validKey(r.Key) {
		return &HandshakeError{Status: 400, Reason: "bad Sec-WebSocket-Key"}
	}
	return nil
}

// validKey reports whether k is the base64 encoding of 16 bytes.
func validKey(k []byte) bool {
	if len(k) != 24 || k[22] != '=' || k[23] != '=' {
		return false
	}
	var raw [18]byte
	n, err := base64.StdEncoding.Decode(raw[:], k)
	return err == nil && n == 16
}

const acceptGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// AppendAccept appends the Sec-WebSocket-Accept value for key,
// base64(SHA-1(key + GUID)), to dst. It does not allocate when dst has room
// for the 28 bytes.
func AppendAccept(dst, key []byte) []byte {
	var sum [sha1.Size]byte
	if len(key) <= 64 {
		var buf [64 + len(acceptGUID)]byte
		n := copy(buf[:], key)
		n += copy(buf[n:], acceptGUID)
		sum = sha1.Sum(buf[:n])
	} else { // never for a key CheckRequest accepted
		h := sha1.New()
		h.Write(key)
		h.Write([]byte(acceptGUID))
		h.Sum(sum[:0])
	}
	return base64.StdEncoding.AppendEncode(dst, sum[:])
}

// AppendUpgradeResponse appends the whole 101 response to a handshake that
// CheckRequest accepted: the status line, Upgrade, Connection,
// Sec-WebSocket-Accept for key, Sec-WebSocket-Protocol when protocol is not
// empty, then extraHeaders verbatim (zero or more complete header lines each
// ending in CRLF, such as NegotiateDeflate's response header) and the empty
// line that ends the head.
func AppendUpgradeResponse(dst, key []byte, protocol, extraHeaders string) []byte {
	dst = append(dst, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: "...)
	dst = AppendAccept(dst, key)
	dst = append(dst, "\r\n"...)
	if protocol != "" {
		dst = append(dst, "Sec-WebSocket-Protocol: "...)
		dst = append(dst, protocol...)
		dst = append(dst, "\r\n"...)
	}
	dst = append(dst, extraHeaders...)
	return append(dst, "\r\n"...)
}

// SelectProtocol picks the subprotocol for a Sec-WebSocket-Protocol offer (a
// comma-separated list of tokens). RFC 6455 lets the server choose; edge
// takes the client's order as its preference: the first offered name that is
// in supported wins. Names compare case-sensitively. It returns the element
// of supported (no allocation), or "", false when there is no match.
func SelectProtocol(offered []byte, supported []string) (string, bool) {
	for len(offered) > 0 {
		var item []byte
		item, offered = nextListItem(offered)
		if len(item) == 0 {
			continue
		}
		for _, s := range supported {
			if s == string(item) {
				return s, true
			}
		}
	}
	return "", false
}

// nextListItem splits a comma-separated header list: the first element
// (trimmed of optional whitespace) and the rest after the comma.
func nextListItem(list []byte) (item, rest []byte) {
	i := 0
	for i < len(list) && list[i] != ',' {
		i++
	}
	item = trimOWS(list[:i])
	if i < len(list) {
		rest = list[i+1:]
	}
	return item, rest
}

func trimOWS(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

// hasToken reports whether the comma-separated list holds token, compared
// ASCII case-insensitively.
func hasToken(list []byte, token string) bool {
	for len(list) > 0 {
		var item []byte
		item, list = nextListItem(list)
		if equalFold(item, token) {
			return true
		}
	}
	return false
}

func equalFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range len(b) {
		c, d := b[i], s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if 'A' <= d && d <= 'Z' {
			d += 'a' - 'A'
		}
		if c != d {
			return false
		}
	}
	return true
}
