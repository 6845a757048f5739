package http1

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/bits"
	"strings"
)

// Character classes, one bit each in ctype.
const (
	cTchar   = 1 << iota // token character (RFC 9110 section 5.6.2)
	cTarget              // request-target byte other than '%': VCHAR minus '%'
	cValue               // field-value byte: HTAB, SP, VCHAR, obs-text
	cHex                 // hexadecimal digit
	cRegName             // reg-name byte of a Host (RFC 3986 unreserved, sub-delims, '%')
	cIPv6                // byte inside an IP-literal: hex digit, ':' or '.'
	cDigit               // decimal digit
)

// ctype classifies every byte; lower maps ASCII letters to lower case. They
// are variables with initializers, not init code, so that package-level
// variables calling NewParser see them filled.
var ctype, lower = charTables()

func charTables() (ctype [256]uint8, lower [256]byte) {
	for c := 0; c < 256; c++ {
		lower[c] = byte(c)
		if 'A' <= c && c <= 'Z' {
			lower[c] = byte(c) + 'a' - 'A'
		}
		var t uint8
		isAlpha := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
		isDigit := '0' <= c && c <= '9'
		if isAlpha || isDigit || strings.IndexByte("!#$%&'*+-.^_`|~", byte(c)) >= 0 {
			t |= cTchar
		}
		if 0x21 <= c && c <= 0x7e && c != '%' {
			t |= cTarget
		}
		if c == '\t' || 0x20 <= c && c <= 0x7e || c >= 0x80 {
			t |= cValue
		}
		if isDigit || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F' {
			t |= cHex
			t |= cIPv6
		}
		if c == ':' || c == '.' {
			t |= cIPv6
		}
		if isAlpha || isDigit || strings.IndexByte("-._~!$&'()*+,;=%", byte(c)) >= 0 {
			t |= cRegName
		}
		if isDigit {
			t |= cDigit
		}
		ctype[c] = t
	}
	return ctype, lower
}

// Parser parses request heads. It is immutable after NewParser and safe for
// concurrent use by any number of goroutines; each goroutine needs its own
// Request.
type Parser struct {
	lim   Limits
	names [MaxDeclared]string // declared names, lower case
	// byLen[l] has bit k set when names[k] has length l.
	byLen []uint32
}

// NewParser returns a Parser with lim (zero or negative fields replaced by
// their defaults) that keeps the headers named in declared, matched without
// regard to case, in Request.Values in the same order.
//
// NewParser panics if declared has more than MaxDeclared names or a name
// that is not a valid field name (an RFC 9110 token): that is a programming
// error, not a runtime condition.
func NewParser(lim Limits, declared []string) *Parser {
	if len(declared) > MaxDeclared {
		panic(fmt.Sprintf("http1: %d declared headers, at most %d allowed", len(declared), MaxDeclared))
	}
	p := &Parser{lim: lim.withDefaults()}
	maxLen := 0
	for _, name := range declared {
		if !ValidToken(name) {
			panic(fmt.Sprintf("http1: invalid declared header name %q", name))
		}
		maxLen = max(maxLen, len(name))
	}
	p.byLen = make([]uint32, maxLen+1)
	for k, name := range declared {
		p.names[k] = strings.ToLower(name)
		p.byLen[len(name)] |= 1 << k
	}
	return p
}

// Limits returns the limits p enforces, with defaults applied. A caller can
// size its read buffer from them: a request head is never longer than
// MaxRequestLine + 2 + MaxHeaderBytes.
func (p *Parser) Limits() Limits { return p.lim }

func (l Limits) withDefaults() Limits {
	if l.MaxRequestLine <= 0 {
		l.MaxRequestLine = 8192
	}
	if l.MaxHeaderBytes <= 0 {
		l.MaxHeaderBytes = 16384
	}
	if l.MaxHeaders <= 0 {
		l.MaxHeaders = 100
	}
	return l
}

// String returns the method name, or "UNKNOWN" for MethodUnknown.
func (m Method) String() string {
	if int(m) < len(methodNames) {
		return methodNames[m]
	}
	return "UNKNOWN"
}

var methodNames = [...]string{
	MethodUnknown: "UNKNOWN",
	MethodGET:     "GET",
	MethodHEAD:    "HEAD",
	MethodPOST:    "POST",
	MethodPUT:     "PUT",
	MethodDELETE:  "DELETE",
	MethodCONNECT: "CONNECT",
	MethodOPTIONS: "OPTIONS",
	MethodTRACE:   "TRACE",
	MethodPATCH:   "PATCH",
}

func lookupMethod(m []byte) Method {
	switch len(m) {
	case 3:
		switch string(m) {
		case "GET":
			return MethodGET
		case "PUT":
			return MethodPUT
		}
	case 4:
		switch string(m) {
		case "HEAD":
			return MethodHEAD
		case "POST":
			return MethodPOST
		}
	case 5:
		switch string(m) {
		case "PATCH":
			return MethodPATCH
		case "TRACE":
			return MethodTRACE
		}
	case 6:
		if string(m) == "DELETE" {
			return MethodDELETE
		}
	case 7:
		switch string(m) {
		case "OPTIONS":
			return MethodOPTIONS
		case "CONNECT":
			return MethodCONNECT
		}
	}
	return MethodUnknown
}

// headState is what Parse remembers about the protocol fields while it
// walks the header section.
type headState struct {
	hosts       int
	haveCL      bool
	haveTE      bool
	connClose   bool
	connKeep    bool
	connUpgrade bool
}

// more is the answer when b ends before the head does: need more input,
// unless b was already cut at a limit, in which case the head is too large.
func more(truncated bool, e *Error) (int, error) {
	if truncated {
		return 0, e
	}
	return 0, nil
}

// Parse parses one request head from the start of b into r.
//
// A complete and valid head gives n, the number of bytes up to and including
// the empty line that ends it (a body or the next pipelined request starts
// at b[n:]), and a nil error. An incomplete one gives n == 0 and a nil
// error: the caller reads more and calls Parse again with the longer
// buffer. A malformed one gives n == 0 and an *Error whose Status the server
// answers with before closing. Errors are reported as soon as the bytes that
// cause them are in b, limits included, so a caller never buffers more than
// MaxRequestLine + 2 + MaxHeaderBytes bytes of head: a request line longer
// than MaxRequestLine gets 414 even before its CRLF arrives, and a header
// section over MaxHeaderBytes or with more than MaxHeaders fields gets 431.
// The error Parse returns for b is also the one it returns for any longer
// buffer starting with b.
//
// Parse is strict (RFC 9112). Empty lines (CRLF) before the request line are
// skipped and count towards MaxRequestLine. The request line must be
// method SP request-target SP HTTP-version with single spaces; the method is
// a token, and one other than the nine Method constants (matched with case)
// gets 501. The target must be in origin-form (start with '/'), made of
// visible ASCII, with well-formed percent-encodings; asterisk-, authority-
// and absolute-form get 400, so CONNECT and "OPTIONS *" always fail.
// "HTTP/1.0" and "HTTP/1.1" are accepted; following RFC 9110 section 2.5,
// HTTP/1.2 to HTTP/1.9 are handled as HTTP/1.1 (Minor == 1); other major
// versions (HTTP/0.9, HTTP/2.0, ...) get 505; anything else 400.
//
// In the head, every line ends with CRLF: a bare CR or LF, NUL or another
// control byte outside HTAB gets 400, as do obs-fold (a line starting with
// whitespace), whitespace before a field's colon and invalid field names.
// HTTP/1.1 requires exactly one Host header; its value must be a reg-name or
// a bracketed IP literal with an optional port. Content-Length must be 1 to
// 18 digits and appear once, never with Transfer-Encoding. Transfer-Encoding
// must be "chunked" alone (RFC 9112 section 6.3): chunked after other
// codings, or any other coding, gets 501; chunked not last or repeated, a
// second Transfer-Encoding header, or Transfer-Encoding in an HTTP/1.0
// request gets 400. An Expect header other than "100-continue" gets 417
// (RFC 9110 section 10.1.1); "100-continue" is ignored in HTTP/1.0 requests,
// as is Upgrade.
//
// After an error, the contents of r are unspecified. Parse never allocates.
func (p *Parser) Parse(b []byte, r *Request) (n int, err error) {
	*r = Request{ContentLength: -1}

	// The request line, leading empty lines included, is scanned in a view
	// of b cut after MaxRequestLine bytes: its CR may be at that last index.
	line := b
	lineCut := false
	if lim := p.lim.MaxRequestLine; len(line) > lim+1 {
		line, lineCut = line[:lim+1], true
	}
	i := 0
	for {
		if i >= len(line) {
			return more(lineCut, errLineTooLong)
		}
		if c := line[i]; c != '\r' {
			if c == '\n' {
				return 0, errBareLF
			}
			break
		}
		if i+1 >= len(b) {
			return 0, nil
		}
		if b[i+1] != '\n' {
			return 0, errBareCR
		}
		i += 2
	}

	// Method.
	start := i
	for i < len(line) && ctype[line[i]]&cTchar != 0 {
		i++
	}
	if i >= len(line) {
		return more(lineCut, errLineTooLong)
	}
	if line[i] != ' ' {
		if i > start && (line[i] == '\r' || line[i] == '\n') {
			return 0, errRequestLine // "GET\r\n"
		}
		return 0, errMethod
	}
	if i == start {
		return 0, errRequestLine // leading space
	}
	r.MethodName = b[start:i]
	if r.Method = lookupMethod(r.MethodName); r.Method == MethodUnknown {
		return 0, errUnknownMethod
	}
	i++

	// Request target.
	start = i
	if i >= len(line) {
		return more(lineCut, errLineTooLong)
	}
	if line[i] != '/' {
		if line[i] == ' ' {
			return 0, errRequestLine
		}
		return 0, errTargetForm
	}
	for {
		for i < len(line) && ctype[line[i]]&cTarget != 0 {
			i++
		}
		if i >= len(line) {
			return more(lineCut, errLineTooLong)
		}
		if line[i] != '%' {
			break
		}
		for k := 1; k <= 2; k++ {
			if i+k >= len(line) {
				return more(lineCut, errLineTooLong)
			}
			if ctype[line[i+k]]&cHex == 0 {
				return 0, errPercent
			}
		}
		i += 3
	}
	if line[i] != ' ' {
		if line[i] == '\r' || line[i] == '\n' {
			return 0, errRequestLine // HTTP/0.9-style request line
		}
		return 0, errTarget
	}
	r.Target = b[start:i]
	i++

	// HTTP-version: "HTTP/" DIGIT "." DIGIT, then CRLF.
	const pattern = "HTTP/0.0\r"
	for k := 0; k < len(pattern); k++ {
		if i+k >= len(line) {
			return more(lineCut, errLineTooLong)
		}
		c := line[i+k]
		if pattern[k] == '0' {
			if ctype[c]&cDigit == 0 {
				return 0, errVersion
			}
		} else if c != pattern[k] {
			if pattern[k] == '\r' && c == '\n' {
				return 0, errBareLF
			}
			return 0, errVersion
		}
	}
	if i+9 >= len(b) {
		return 0, nil
	}
	if b[i+9] != '\n' {
		return 0, errBareCR
	}
	major, minor := b[i+5], b[i+7]
	if major != '1' {
		return 0, errVersionNotSup
	}
	if minor != '0' {
		r.Minor = 1
	}
	i += 10

	// Header section, scanned in a view cut after MaxHeaderBytes bytes.
	hs := i
	head := b
	headCut := false
	if lim := p.lim.MaxHeaderBytes; len(head)-hs > lim {
		head, headCut = head[:hs+lim], true
	}
	var st headState
	for {
		if i >= len(head) {
			return more(headCut, errHeadersTooBig)
		}
		c := head[i]
		if c == '\r' {
			if i+1 >= len(head) {
				return more(headCut, errHeadersTooBig)
			}
			if head[i+1] != '\n' {
				return 0, errBareCR
			}
			i += 2
			break
		}
		if ctype[c]&cTchar == 0 {
			switch c {
			case ' ', '\t':
				return 0, errObsFold
			case '\n':
				return 0, errBareLF
			}
			return 0, errFieldName
		}
		if r.NumHeaders++; r.NumHeaders > p.lim.MaxHeaders {
			return 0, errTooManyFields
		}

		// Field name.
		start = i
		i++
		for i < len(head) && ctype[head[i]]&cTchar != 0 {
			i++
		}
		if i >= len(head) {
			return more(headCut, errHeadersTooBig)
		}
		if head[i] != ':' {
			switch head[i] {
			case ' ', '\t':
				return 0, errSpaceColon
			case '\r', '\n':
				return 0, errNoColon
			}
			return 0, errFieldName
		}
		name := b[start:i]
		i++

		// Field value: leading OWS skipped, 8 bytes at a time while no byte
		// is a control (HTAB included, which the byte loop accepts).
		for i < len(head) && (head[i] == ' ' || head[i] == '\t') {
			i++
		}
		start = i
		for i+8 <= len(head) {
			x := binary.LittleEndian.Uint64(head[i:])
			const ones, highs = 0x0101010101010101, 0x8080808080808080
			ctl := (x - 0x20*ones) &^ x & highs // some byte < 0x20
			y := x ^ 0x7f*ones
			del := (y - ones) &^ y & highs // some byte == 0x7f
			if ctl|del != 0 {
				break
			}
			i += 8
		}
		for i < len(head) && ctype[head[i]]&cValue != 0 {
			i++
		}
		if i >= len(head) {
			return more(headCut, errHeadersTooBig)
		}
		if head[i] != '\r' {
			if head[i] == '\n' {
				return 0, errBareLF
			}
			return 0, errFieldValue
		}
		if i+1 >= len(head) {
			return more(headCut, errHeadersTooBig)
		}
		if head[i+1] != '\n' {
			return 0, errBareCR
		}
		end := i
		for end > start && (b[end-1] == ' ' || b[end-1] == '\t') {
			end--
		}
		i += 2
		if err := p.field(r, &st, name, b[start:end]); err != nil {
			return 0, err
		}
	}

	// Checks that need the whole head.
	if r.Minor == 1 {
		if st.hosts == 0 {
			return 0, errNoHost
		}
		r.KeepAlive = !st.connClose
	} else {
		r.KeepAlive = st.connKeep && !st.connClose
		r.Upgrade = nil
		r.Expect100 = false
	}
	if !st.connUpgrade {
		r.Upgrade = nil
	}
	r.Path = r.Target
	if q := bytes.IndexByte(r.Target, '?'); q >= 0 {
		r.Path, r.Query = r.Target[:q], r.Target[q+1:]
	}
	return i, nil
}

// field handles one header field: the protocol fields first, then the
// declared ones.
func (p *Parser) field(r *Request, st *headState, name, value []byte) *Error {
	switch len(name) {
	case 4:
		if equalFold(name, "host") {
			if st.hosts++; st.hosts > 1 {
				return errDupHost
			}
			if !validHost(value) {
				return errHost
			}
			r.Host = value
		}
	case 6:
		if equalFold(name, "expect") {
			if !equalFold(value, "100-continue") {
				return errExpect
			}
			r.Expect100 = true
		}
	case 7:
		if equalFold(name, "upgrade") && r.Upgrade == nil {
			r.Upgrade = value
		}
	case 10:
		if equalFold(name, "connection") {
			connection(st, value)
		}
	case 14:
		if equalFold(name, "content-length") {
			if st.haveCL {
				return errDupCL
			}
			if st.haveTE {
				return errCLAndTE
			}
			st.haveCL = true
			if len(value) == 0 || len(value) > 18 {
				return errContentLength
			}
			var v int64
			for _, c := range value {
				if c < '0' || c > '9' {
					return errContentLength
				}
				v = v*10 + int64(c-'0')
			}
			r.ContentLength = v
		}
	case 17:
		if equalFold(name, "transfer-encoding") {
			if r.Minor == 0 {
				return errTEHTTP10
			}
			if st.haveTE {
				return errDupTE
			}
			if st.haveCL {
				return errCLAndTE
			}
			st.haveTE = true
			if err := transferEncoding(value); err != nil {
				return err
			}
			r.Chunked = true
		}
	}
	if len(name) < len(p.byLen) {
		for m := p.byLen[len(name)]; m != 0; m &= m - 1 {
			k := bits.TrailingZeros32(m) & (MaxDeclared - 1)
			if r.Values[k] == nil && equalFold(name, p.names[k]) {
				r.Values[k] = value
			}
		}
	}
	return nil
}

// equalFold reports whether b equals the lower-case ASCII string s, ignoring
// the case of b.
func equalFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := 0; i < len(s); i++ {
		if lower[b[i]] != s[i] {
			return false
		}
	}
	return true
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

// nextElement splits the first element off a comma-separated list.
func nextElement(v []byte) (elem, rest []byte) {
	if j := bytes.IndexByte(v, ','); j >= 0 {
		return trimOWS(v[:j]), v[j+1:]
	}
	return trimOWS(v), nil
}

// connection records the options of a Connection header that matter here.
// Other options, empty elements included, are ignored.
func connection(st *headState, v []byte) {
	for len(v) > 0 {
		var opt []byte
		opt, v = nextElement(v)
		switch {
		case equalFold(opt, "close"):
			st.connClose = true
		case equalFold(opt, "keep-alive"):
			st.connKeep = true
		case equalFold(opt, "upgrade"):
			st.connUpgrade = true
		}
	}
}

// transferEncoding accepts exactly "chunked" (RFC 9112 section 6.3).
func transferEncoding(v []byte) *Error {
	if len(v) == 0 {
		return errTE
	}
	chunked, others := false, false
	for v != nil {
		var coding []byte
		coding, v = nextElement(v)
		if chunked {
			return errTENotFinal // something after chunked, chunked included
		}
		switch {
		case equalFold(coding, "chunked"):
			chunked = true
		case validCoding(coding):
			others = true
		default:
			return errTE
		}
	}
	if !chunked || others {
		return errTEUnsupported
	}
	return nil
}

// validCoding reports whether b looks like a transfer-coding: a token,
// optionally followed by parameters (which are not examined further).
func validCoding(b []byte) bool {
	i := 0
	for i < len(b) && ctype[b[i]]&cTchar != 0 {
		i++
	}
	if i == 0 {
		return false
	}
	rest := trimOWS(b[i:])
	return len(rest) == 0 || rest[0] == ';'
}

// validHost reports whether v is uri-host [ ":" port ] (RFC 9110 section
// 7.2), where uri-host is a reg-name or a bracketed IPv6 literal and port is
// at most five digits. An empty value is valid (RFC 9112 section 3.2).
func validHost(v []byte) bool {
	i := 0
	if len(v) > 0 && v[0] == '[' {
		i = 1
		for i < len(v) && ctype[v[i]]&cIPv6 != 0 {
			i++
		}
		if i == 1 || i >= len(v) || v[i] != ']' {
			return false
		}
		i++
	} else {
		for i < len(v) && ctype[v[i]]&cRegName != 0 {
			i++
		}
	}
	if i == len(v) {
		return true
	}
	if v[i] != ':' || len(v)-i-1 > 5 {
		return false
	}
	for i++; i < len(v); i++ {
		if ctype[v[i]]&cDigit == 0 {
			return false
		}
	}
	return true
}
