// Package http1 is edge's HTTP/1.1 request parser and response writer.
//
// It is not net/http: it parses a request head straight out of a caller-owned
// byte slice, stores only the headers the caller declared in advance (plus the
// few the protocol itself needs), allocates nothing, and is strict: every
// malformed or ambiguous request (the request-smuggling vectors of RFC 9112
// section 11.2 among them) yields an *Error carrying the status code the
// server must answer with before closing the connection.
//
// Typical usage:
//
//	p := http1.NewParser(http1.Limits{}, []string{"User-Agent"})
//	var req http1.Request
//	n, err := p.Parse(buf, &req)
//	switch {
//	case err != nil: // answer err.(*http1.Error).Status, then close
//	case n == 0:     // incomplete: read more bytes and call Parse again
//	default:         // req is valid until buf is modified; body starts at buf[n:]
//	}
//
// All byte slices in a Request alias the input buffer: they are only valid
// while that buffer is unchanged.
package http1

import "errors"

// Method is a known request method. Unknown methods are rejected with 501.
type Method uint8

// The methods edge recognises (RFC 9110 section 9 plus PATCH).
const (
	MethodUnknown Method = iota
	MethodGET
	MethodHEAD
	MethodPOST
	MethodPUT
	MethodDELETE
	MethodCONNECT
	MethodOPTIONS
	MethodTRACE
	MethodPATCH
)

// MaxDeclared is the largest number of headers a Parser can be asked to
// keep. It bounds the size of Request.
const MaxDeclared = 32

// Limits bounds what a request head may contain. Zero fields take the
// documented default; negative values are invalid and are treated as zero.
type Limits struct {
	// MaxRequestLine is the longest request line accepted, in bytes,
	// without its CRLF. Longer: 414. Zero means 8192.
	MaxRequestLine int
	// MaxHeaderBytes is the largest header section accepted (everything
	// after the request line, up to and including the empty line).
	// Larger: 431. Zero means 16384.
	MaxHeaderBytes int
	// MaxHeaders is the most header fields accepted. More: 431.
	// Zero means 100.
	MaxHeaders int
}

// Request is one parsed request head. Every slice aliases the buffer given
// to Parse. Parse resets every field before filling it.
type Request struct {
	Method     Method
	MethodName []byte // as sent, e.g. "GET"
	Target     []byte // request-target, always starts with '/'
	Path       []byte // Target up to the first '?' (not unescaped)
	Query      []byte // Target after the first '?', without it; nil if none
	Minor      int    // HTTP minor version: 0 or 1 (HTTP/1.2-1.9 give 1)

	Host          []byte // Host header value (trimmed); nil if absent
	ContentLength int64  // -1 when no Content-Length header
	Chunked       bool   // Transfer-Encoding: chunked
	// KeepAlive reports whether the connection may stay open after the
	// response: true for HTTP/1.1 unless "Connection: close", false for
	// HTTP/1.0 unless "Connection: keep-alive".
	KeepAlive bool
	// Upgrade is the Upgrade header value when the Connection header lists
	// the "upgrade" token; nil otherwise.
	Upgrade   []byte
	Expect100 bool // "Expect: 100-continue"

	// Values holds the value (trimmed of surrounding whitespace) of each
	// declared header, in the order given to NewParser; nil when absent.
	// When a declared header appears more than once, the first is kept.
	Values [MaxDeclared][]byte
	// NumHeaders is how many header fields the request carried.
	NumHeaders int
}

// Error is a malformed request: the server answers Status and closes.
type Error struct {
	// Status is the response status: Parse returns 400, 414, 417, 431,
	// 501 or 505; ChunkedDecoder returns 400; a server may also use
	// ErrMethodNotAllowed (405), ErrRequestTimeout (408) and
	// ErrContentTooLarge (413).
	Status int
	Reason string // short, for logs and the response body
}

func (e *Error) Error() string { return "http1: " + e.Reason }

// ErrIncomplete is never returned by Parse (which signals "need more" by
// n == 0, err == nil); it is used by callers that need an error value.
var ErrIncomplete = errors.New("http1: incomplete request")
