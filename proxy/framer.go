package proxy

import (
	"errors"
	"fmt"

	"github.com/edge-rt/edge/http1"
)

// MaxHead is the largest response head a Framer accepts, in bytes; each
// interim (1xx) head counts on its own.
const MaxHead = 64 << 10

// maxInterim is how many interim (1xx) heads may precede a final one.
const maxInterim = 32

var (
	errStatusLine   = errors.New("proxy: malformed response status line")
	errRespField    = errors.New("proxy: malformed response header field")
	errHeadTooLarge = errors.New("proxy: response head larger than 64 KiB")
	errCL           = errors.New("proxy: malformed response Content-Length")
	errCLConflict   = errors.New("proxy: conflicting response Content-Length values")
	errTE           = errors.New("proxy: malformed response Transfer-Encoding")
	errTE10         = errors.New("proxy: Transfer-Encoding in an HTTP/1.0 response")
	errInterim      = errors.New("proxy: too many interim (1xx) responses")
)

// Framer states.
const (
	fsStatus    uint8 = iota // status line up to the code's end; pos counts its bytes
	fsReason                 // reason phrase
	fsStatusLF               // LF ending the status line
	fsLineStart              // first byte of a field line, or CR of the empty line
	fsName                   // field name
	fsValue                  // field value
	fsLineLF                 // LF ending a field line
	fsEndLF                  // LF ending the head
	fsBody                   // after the final head
)

// Fields the Framer reads; the others are only validated.
const (
	kindOther uint8 = iota
	kindCL
	kindTE
	kindConn
	numKinds
)

var kindNames = [numKinds]string{kindCL: "content-length", kindTE: "transfer-encoding", kindConn: "connection"}

// Tokens of the Transfer-Encoding and Connection lists that matter.
var (
	teTokens   = [...]string{"chunked"}
	connTokens = [...]string{"close", "keep-alive", "upgrade"}
)

// Body framings.
const (
	bodyNone uint8 = iota
	bodyLength
	bodyChunked
	bodyClose
)

// Framer finds where one HTTP/1.x response ends in the bytes a backend
// sends, without copying them, following RFC 9112 section 6.3: interim
// (1xx) heads other than 101 are followed by another head; 101 ends the
// response at its head (Upgrade); responses to HEAD, 204 and 304 have no
// body; a Transfer-Encoding whose last coding is chunked frames the body
// up to its last chunk and trailers (and wins over Content-Length); else
// Content-Length (conflicting values are an error); else the body ends
// when the backend closes (CloseDelimited).
//
// Each call to Feed consumes either head bytes only or body bytes only:
// before the call, HeadDone false means head bytes. Feed returns at the
// end of each head, so that the caller can rewrite it: then HeadLen is the
// length of the head just completed (its first bytes may have come in
// earlier calls: the caller keeps the bytes of a head until it is
// complete). A typical loop, for bytes p read from the backend:
//
//	for len(p) > 0 {
//		inHead := !f.HeadDone()
//		n, done, err := f.Feed(p)
//		if err != nil {
//			// 502 if nothing was sent to the client yet; close the backend
//		}
//		if inHead {
//			// p[:n] ends or continues the current head; keep it
//			if hl := f.HeadLen(); hl > 0 {
//				// the kept hl bytes are a complete head (interim when
//				// !f.HeadDone()): send AppendResponseHead(..., head, ...)
//			}
//		} else {
//			// p[:n] is body: send it as it is
//		}
//		p = p[n:]
//		if done {
//			// len(p) > 0: after a 101 head, tunnel bytes; otherwise the
//			// backend sent more than the response: do not reuse it
//			break
//		}
//	}
//
// When the backend closes, the response is complete if and only if
// f.HeadDone() && f.CloseDelimited().
//
// The zero Framer expects a response to a request other than HEAD. A
// Framer is not safe for concurrent use. None of its methods allocates,
// except on an error from a malformed chunked body.
type Framer struct {
	head bool // the request was HEAD

	state uint8
	pos   uint8 // bytes of the status line seen, up to the code's end
	cur   int   // bytes of the current head seen
	hlen  int   // length of the last completed head; 0 while one is in progress

	interim int
	minor   uint8 // HTTP minor version of the current head
	parsing int   // status code of the current head, as parsed
	code    int   // status code of the last completed head

	// The field being parsed.
	nameLen int
	cand    uint8 // the kind the name read so far may be; kindOther: none
	kind    uint8

	// List values (Transfer-Encoding, Connection): the current element.
	tokLen    int
	tokCand   uint8 // 1 + the index of the token the element may be; 0: none
	tokEnded  bool  // whitespace after the token
	tokParams bool  // after a ';'
	elems     int   // non-empty elements in this field

	// Content-Length: the current element.
	clCur    int64
	clDigits int
	clWS     bool // whitespace after the digits

	clSeen        bool
	cl            int64
	te            bool // a Transfer-Encoding field was seen
	teChunked     bool // its last coding so far is chunked
	connClose     bool
	connKeepAlive bool

	body  uint8
	rem   int64 // Content-Length body bytes left
	chunk http1.ChunkedDecoder

	headDone, done, upgrade, keepAlive bool

	err error
}

// Reset makes f expect a new response; head is true when the request was
// HEAD (then the response has no body whatever its head says).
func (f *Framer) Reset(head bool) { *f = Framer{head: head} }

// HeadDone reports whether the final (non-1xx, or 101) head was seen.
func (f *Framer) HeadDone() bool { return f.headDone }

// HeadLen returns the length of the head that the last call to Feed
// completed (interim or final), counted from its first byte, which may
// have come in an earlier call. It stays set until bytes of another head
// are fed, and is 0 while a head is in progress.
func (f *Framer) HeadLen() int { return f.hlen }

// Status returns the status code of the last completed head: the final
// status once HeadDone, 0 before any head was completed.
func (f *Framer) Status() int { return f.code }

// KeepAlive reports whether the backend connection may be reused once
// Feed has returned done: the response was framed by its head (not
// close-delimited, not an upgrade), it did not carry both
// Transfer-Encoding and Content-Length, and the backend did not ask to
// close (HTTP/1.1 without "Connection: close", HTTP/1.0 with
// "Connection: keep-alive").
func (f *Framer) KeepAlive() bool { return f.done && f.keepAlive }

// CloseDelimited reports whether the body ends when the backend closes the
// connection: no Content-Length, not chunked, not a response without body.
// The client connection must then be closed after the response too
// (AppendResponseHead's closeClient), unless the engine re-frames the body.
func (f *Framer) CloseDelimited() bool { return f.body == bodyClose }

// Upgrade reports whether the response is a 101: after its head, the
// connection is a tunnel. The caller must treat a 101 as an error unless
// the request asked for an upgrade.
func (f *Framer) Upgrade() bool { return f.upgrade }

// Feed consumes response bytes. n is how many bytes of p were consumed:
// all of p, or fewer when a head ended (call Feed again with p[n:]) or the
// response ended (the rest of p belongs to nothing, but after a 101 head,
// where it is the tunnel's). done reports that the response ended (the
// final one, after any interim heads); later calls return 0, true. An
// error (a malformed or too large head, a malformed chunked body) is
// sticky until Reset; the caller answers 502 if nothing was sent to the
// client yet, and closes the backend connection.
func (f *Framer) Feed(p []byte) (n int, done bool, err error) {
	switch {
	case f.err != nil:
		return 0, false, f.err
	case f.done:
		return 0, true, nil
	case len(p) == 0:
		return 0, false, nil
	case f.state != fsBody:
		n, err = f.feedHead(p)
		if err != nil {
			f.err = err
			return 0, false, err
		}
		return n, f.done, nil
	}
	switch f.body {
	case bodyLength:
		n = len(p)
		if int64(n) >= f.rem {
			n = int(f.rem)
			f.done = true
		}
		f.rem -= int64(n)
	case bodyChunked:
		for n < len(p) {
			_, k, d, err := f.chunk.Next(p[n:])
			n += k
			if err != nil {
				f.err = fmt.Errorf("proxy: response body: %w", err)
				return 0, false, f.err
			}
			if d {
				f.done = true
				break
			}
			if k == 0 {
				break
			}
		}
	default: // bodyClose
		n = len(p)
	}
	return n, f.done, nil
}

// feedHead consumes head bytes, up to the end of the head.
func (f *Framer) feedHead(p []byte) (int, error) {
	if f.cur == 0 {
		f.hlen = 0
		if n, ok, err := f.feedWhole(p); ok || err != nil {
			return n, err
		}
	}
	q := p
	if lim := MaxHead - f.cur; len(q) > lim {
		q = q[:lim]
	}
	for i := 0; i < len(q); i++ {
		c := q[i]
		switch f.state {
		case fsStatus:
			if f.pos == 0 && len(q)-i > 12 {
				// Fast path: "HTTP/1.x NNN" in one piece.
				l := q[i : i+12]
				if string(l[:7]) != "HTTP/1." || !isDigit(l[7]) || l[8] != ' ' ||
					l[9] < '1' || l[9] > '9' || !isDigit(l[10]) || !isDigit(l[11]) {
					return 0, errStatusLine
				}
				f.minor = l[7] - '0'
				f.parsing = int(l[9]-'0')*100 + int(l[10]-'0')*10 + int(l[11]-'0')
				f.pos = 12
				i += 11
				continue
			}
			if err := f.statusByte(c); err != nil {
				return 0, err
			}
		case fsReason:
			j := i
			for j < len(q) && vchar[q[j]] {
				j++
			}
			if j == len(q) {
				i = j - 1
				continue
			}
			if i = j; q[j] != '\r' {
				return 0, errStatusLine
			}
			f.state = fsStatusLF
		case fsStatusLF, fsLineLF:
			if c != '\n' {
				return 0, errRespField
			}
			f.state = fsLineStart
		case fsLineStart:
			switch {
			case c == '\r':
				f.state = fsEndLF
			case tchar[c]:
				f.state, f.nameLen, f.cand, f.kind = fsName, 1, firstCand(c), kindOther
			default:
				return 0, errRespField // obs-fold, bare LF, invalid name
			}
		case fsName:
			if tchar[c] {
				if f.cand != kindOther {
					f.nameByte(c)
					if f.cand != kindOther {
						continue
					}
				}
				// Fast path: a name that is none of the fields read.
				j := i + 1
				for j < len(q) && tchar[q[j]] {
					j++
				}
				if j == len(q) {
					i = j - 1
					continue
				}
				i, c = j, q[j]
			}
			if c != ':' {
				return 0, errRespField
			}
			f.startValue()
		case fsValue:
			if f.kind == kindOther {
				// Fast path: a field the framer does not read.
				j := i
				for j < len(q) && vchar[q[j]] {
					j++
				}
				if j == len(q) {
					i = j - 1
					continue
				}
				i, c = j, q[j]
				if c != '\r' {
					return 0, errRespField
				}
				f.state = fsLineLF
				continue
			}
			if c == '\r' {
				if err := f.endValue(); err != nil {
					return 0, err
				}
				f.state = fsLineLF
				continue
			}
			if !vchar[c] {
				return 0, errRespField
			}
			if err := f.valueByte(c); err != nil {
				return 0, err
			}
		case fsEndLF:
			if c != '\n' {
				return 0, errRespField
			}
			f.cur += i + 1
			return i + 1, f.endHead()
		}
	}
	f.cur += len(q)
	if len(q) < len(p) {
		return 0, errHeadTooLarge
	}
	return len(q), nil
}

// feedWhole parses a head that p holds whole, from its first byte: the
// common case, which this does faster than the byte-by-byte machine of
// feedHead, to the same result. ok is false, with nothing consumed, when p
// ends before the head does (the machine then takes over).
func (f *Framer) feedWhole(p []byte) (n int, ok bool, err error) {
	h := p
	if len(h) > MaxHead {
		h = h[:MaxHead]
	}
	if len(h) < 14 {
		return 0, false, nil
	}
	if string(h[:7]) != "HTTP/1." || !isDigit(h[7]) || h[8] != ' ' ||
		h[9] < '1' || h[9] > '9' || !isDigit(h[10]) || !isDigit(h[11]) {
		return 0, true, errStatusLine
	}
	minor, code := h[7]-'0', int(h[9]-'0')*100+int(h[10]-'0')*10+int(h[11]-'0')
	i := 12
	if h[i] == ' ' {
		for i++; i < len(h) && vchar[h[i]]; i++ {
		}
	}
	if i+1 >= len(h) {
		return 0, false, nil
	}
	if h[i] != '\r' || h[i+1] != '\n' {
		return 0, true, errStatusLine
	}
	f.minor, f.parsing = minor, code
	for i += 2; i < len(h) && h[i] != '\r'; {
		j := i
		for j < len(h) && tchar[h[j]] {
			j++
		}
		if j == len(h) {
			return f.restart()
		}
		if j == i || h[j] != ':' {
			return 0, true, errRespField
		}
		k := j + 1
		for k < len(h) && vchar[h[k]] {
			k++
		}
		if k+1 >= len(h) {
			return f.restart()
		}
		if h[k] != '\r' || h[k+1] != '\n' {
			return 0, true, errRespField
		}
		if kind := fieldKind(h[i:j]); kind != kindOther {
			f.cand, f.nameLen = kind, len(kindNames[kind])
			f.startValue()
			for _, c := range h[j+1 : k] {
				if err := f.valueByte(c); err != nil {
					return 0, true, err
				}
			}
			if err := f.endValue(); err != nil {
				return 0, true, err
			}
		}
		i = k + 2
	}
	if i+1 >= len(h) {
		return f.restart()
	}
	if h[i+1] != '\n' {
		return 0, true, errRespField
	}
	f.cur = i + 2
	return i + 2, true, f.endHead()
}

// restart undoes what feedWhole did to f before finding that the head goes
// on past its input, for the byte machine to start again.
func (f *Framer) restart() (int, bool, error) {
	*f = Framer{head: f.head, interim: f.interim, code: f.code}
	return 0, false, nil
}

// fieldKind says which field the Framer reads name is, if any.
func fieldKind(name []byte) uint8 {
	for k := kindCL; k < numKinds; k++ {
		if equalFold(name, kindNames[k]) {
			return k
		}
	}
	return kindOther
}

// statusByte consumes one byte of "HTTP/1.x NNN" and the byte after it.
func (f *Framer) statusByte(c byte) error {
	const prefix = "HTTP/1."
	switch pos := f.pos; {
	case pos < 7:
		if c != prefix[pos] {
			return errStatusLine
		}
	case pos == 7:
		if c < '0' || c > '9' {
			return errStatusLine
		}
		f.minor = c - '0'
	case pos == 8:
		if c != ' ' {
			return errStatusLine
		}
	case pos < 12:
		if c < '0' || c > '9' || pos == 9 && c == '0' {
			return errStatusLine
		}
		f.parsing = f.parsing*10 + int(c-'0')
	default:
		switch c {
		case ' ':
			f.state = fsReason
		case '\r':
			f.state = fsStatusLF
		default:
			return errStatusLine
		}
	}
	f.pos++
	return nil
}

// nameByte consumes one byte of a field name after the first one (see
// firstCand): f.cand is the one field the name may still be.
func (f *Framer) nameByte(c byte) {
	c = lower(c)
	if n := kindNames[f.cand]; f.nameLen >= len(n) || n[f.nameLen] != c {
		// "con" starts both content-length and connection.
		if f.nameLen == 3 && f.cand == kindCL && c == 'n' {
			f.cand = kindConn
		} else {
			f.cand = kindOther
		}
	}
	f.nameLen++
}

// firstCand returns the field a name starting with c may be.
func firstCand(c byte) uint8 {
	switch lower(c) {
	case 'c':
		return kindCL // or kindConn: see nameByte
	case 't':
		return kindTE
	}
	return kindOther
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// startValue ends a field name: it says which field this is.
func (f *Framer) startValue() {
	f.state, f.kind = fsValue, kindOther
	if f.nameLen == len(kindNames[f.cand]) {
		f.kind = f.cand
	}
	switch f.kind {
	case kindCL:
		f.clCur, f.clDigits, f.clWS = 0, 0, false
	case kindTE, kindConn:
		f.elems = 0
		f.startToken()
	}
}

func (f *Framer) startToken() {
	f.tokLen, f.tokCand, f.tokEnded, f.tokParams = 0, 0, false, false
}

// valueByte consumes one byte of the value of a field the framer reads.
func (f *Framer) valueByte(c byte) error {
	if f.kind == kindCL {
		switch {
		case c >= '0' && c <= '9':
			if f.clWS || f.clDigits >= 18 {
				return errCL
			}
			f.clCur = f.clCur*10 + int64(c-'0')
			f.clDigits++
		case c == ' ' || c == '\t':
			f.clWS = f.clDigits > 0
		case c == ',':
			if err := f.endCL(); err != nil {
				return err
			}
		default:
			return errCL
		}
		return nil
	}
	// A list: Transfer-Encoding or Connection.
	switch {
	case c == ',':
		return f.endToken()
	case f.tokParams:
	case c == ';':
		if f.tokLen == 0 && f.kind == kindTE {
			return errTE
		}
		f.tokParams = true
	case c == ' ' || c == '\t':
		f.tokEnded = f.tokLen > 0
	case tchar[c] && !f.tokEnded:
		c = lower(c)
		toks := connTokens[:]
		if f.kind == kindTE {
			toks = teTokens[:]
		}
		if f.tokLen == 0 {
			// The tokens read start with different letters.
			for k, t := range toks {
				if t[0] == c {
					f.tokCand = uint8(k + 1)
				}
			}
		} else if f.tokCand != 0 {
			if t := toks[f.tokCand-1]; f.tokLen >= len(t) || t[f.tokLen] != c {
				f.tokCand = 0
			}
		}
		f.tokLen++
	case f.kind == kindTE:
		return errTE
	default:
		f.tokCand = 0 // an odd Connection value: it names nothing we read
		f.tokLen++
	}
	return nil
}

// endToken ends an element of a list value.
func (f *Framer) endToken() error {
	if f.tokLen == 0 {
		if f.tokParams && f.kind == kindTE {
			return errTE
		}
		f.startToken()
		return nil // empty elements do not count (RFC 9110 section 5.6.1)
	}
	f.elems++
	if f.kind == kindTE {
		f.te = true
		f.teChunked = f.tokMatch(0, teTokens[0]) && !f.tokParams
	} else {
		f.connClose = f.connClose || f.tokMatch(0, connTokens[0])
		f.connKeepAlive = f.connKeepAlive || f.tokMatch(1, connTokens[1])
		// connTokens[2], "upgrade", matters only to AppendResponseHead.
	}
	f.startToken()
	return nil
}

// tokMatch reports whether the element just read is the k-th token, t.
func (f *Framer) tokMatch(k int, t string) bool {
	return int(f.tokCand) == k+1 && f.tokLen == len(t)
}

// endCL ends an element of a Content-Length value.
func (f *Framer) endCL() error {
	if f.clDigits == 0 {
		return errCL
	}
	if f.clSeen && f.cl != f.clCur {
		return errCLConflict
	}
	f.clSeen, f.cl = true, f.clCur
	f.clCur, f.clDigits, f.clWS = 0, 0, false
	return nil
}

// endValue ends the value of a field the framer reads.
func (f *Framer) endValue() error {
	if f.kind == kindCL {
		return f.endCL()
	}
	if err := f.endToken(); err != nil {
		return err
	}
	if f.kind == kindTE && f.elems == 0 {
		return errTE
	}
	return nil
}

// endHead decides what follows a complete head.
func (f *Framer) endHead() error {
	f.hlen, f.cur, f.code = f.cur, 0, f.parsing
	status := f.code
	if status < 200 && status != 101 {
		if f.interim++; f.interim > maxInterim {
			return errInterim
		}
		// Another head follows: forget this one's fields.
		*f = Framer{head: f.head, hlen: f.hlen, code: f.code, interim: f.interim}
		return nil
	}
	f.state, f.headDone = fsBody, true
	switch {
	case status == 101:
		f.upgrade, f.done = true, true
		return nil
	case f.head || status == 204 || status == 304:
		f.done = true
	case f.te:
		if f.minor == 0 {
			return errTE10
		}
		if f.teChunked {
			f.body = bodyChunked
		} else {
			f.body = bodyClose
		}
	case f.clSeen:
		f.body, f.rem = bodyLength, f.cl
		f.done = f.cl == 0
	default:
		f.body = bodyClose
	}
	f.keepAlive = f.body != bodyClose && !(f.te && f.clSeen) && !f.connClose &&
		(f.minor >= 1 || f.connKeepAlive)
	return nil
}
