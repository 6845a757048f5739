package http1

import (
	"strconv"
	"sync/atomic"
	"time"
)

// statusText holds the reason phrases of the registered status codes (RFC
// 9110 section 15 and the IANA registry); statusLine the matching
// "HTTP/1.1 <code> <reason>\r\n" lines. Both are indexed by code-100.
var statusText, statusLine = statusTables()

func statusTables() (texts, lines [500]string) {
	for code, text := range map[int]string{
		100: "Continue",
		101: "Switching Protocols",
		102: "Processing",
		103: "Early Hints",

		200: "OK",
		201: "Created",
		202: "Accepted",
		203: "Non-Authoritative Information",
		204: "No Content",
		205: "Reset Content",
		206: "Partial Content",
		207: "Multi-Status",
		208: "Already Reported",
		226: "IM Used",

		300: "Multiple Choices",
		301: "Moved Permanently",
		302: "Found",
		303: "See Other",
		304: "Not Modified",
		305: "Use Proxy",
		307: "Temporary Redirect",
		308: "Permanent Redirect",

		400: "Bad Request",
		401: "Unauthorized",
		402: "Payment Required",
		403: "Forbidden",
		404: "Not Found",
		405: "Method Not Allowed",
		406: "Not Acceptable",
		407: "Proxy Authentication Required",
		408: "Request Timeout",
		409: "Conflict",
		410: "Gone",
		411: "Length Required",
		412: "Precondition Failed",
		413: "Content Too Large",
		414: "URI Too Long",
		415: "Unsupported Media Type",
		416: "Range Not Satisfiable",
		417: "Expectation Failed",
		418: "I'm a teapot",
		421: "Misdirected Request",
		422: "Unprocessable Content",
		423: "Locked",
		424: "Failed Dependency",
		425: "Too Early",
		426: "Upgrade Required",
		428: "Precondition Required",
		429: "Too Many Requests",
		431: "Request Header Fields Too Large",
		451: "Unavailable For Legal Reasons",

		500: "Internal Server Error",
		501: "Not Implemented",
		502: "Bad Gateway",
		503: "Service Unavailable",
		504: "Gateway Timeout",
		505: "HTTP Version Not Supported",
		506: "Variant Also Negotiates",
		507: "Insufficient Storage",
		508: "Loop Detected",
		510: "Not Extended",
		511: "Network Authentication Required",
	} {
		texts[code-100] = text
		lines[code-100] = "HTTP/1.1 " + strconv.Itoa(code) + " " + text + "\r\n"
	}
	return texts, lines
}

// StatusText returns the reason phrase of a registered status code, such as
// "Not Found" for 404, or "" for an unregistered one.
func StatusText(code int) string {
	if code < 100 || code > 599 {
		return ""
	}
	return statusText[code-100]
}

// AppendStatusLine appends the HTTP/1.1 status line of code, CRLF included,
// to dst: "HTTP/1.1 200 OK\r\n". An unregistered code in 100-999 gets an
// empty reason phrase ("HTTP/1.1 299 \r\n"); a code outside 100-999, which
// cannot be sent, is replaced by 500. It never allocates when dst has room.
func AppendStatusLine(dst []byte, code int) []byte {
	if code >= 100 && code <= 599 {
		if s := statusLine[code-100]; s != "" {
			return append(dst, s...)
		}
	}
	if code < 100 || code > 999 {
		return append(dst, statusLine[500-100]...)
	}
	return append(dst, 'H', 'T', 'T', 'P', '/', '1', '.', '1', ' ',
		byte('0'+code/100), byte('0'+code/10%10), byte('0'+code%10), ' ', '\r', '\n')
}

// TimeFormat is the IMF-fixdate layout of the Date header (RFC 9110 section
// 5.6.7), for time.Time.Format on a UTC time.
const TimeFormat = "Mon, 02 Jan 2006 15:04:05 GMT"

// Clock formats the Date header value. It keeps the formatted current
// second and reformats only when the second changes, so AppendDate is a
// clock read and a copy. A Clock is safe for concurrent use; readers take no
// lock. It starts no goroutine. The zero value is ready to use.
type Clock struct {
	cur atomic.Pointer[clockDate]
	now func() time.Time // time.Now when nil; set by tests
}

type clockDate struct {
	sec int64
	b   [len(TimeFormat)]byte
}

// NewClock returns a Clock reading the system time.
func NewClock() *Clock { return new(Clock) }

// AppendDate appends the current time as an IMF-fixdate, such as
// "Sun, 06 Nov 1994 08:49:37 GMT", to dst. It allocates only once per
// second, to cache the new value.
func (c *Clock) AppendDate(dst []byte) []byte {
	var t time.Time
	if c.now != nil {
		t = c.now()
	} else {
		t = time.Now()
	}
	return c.AppendDateAt(dst, t)
}

// AppendDateAt is AppendDate for a time the caller already read (an event
// loop's clock), saving a clock read per response.
func (c *Clock) AppendDateAt(dst []byte, t time.Time) []byte {
	sec := t.Unix()
	d := c.cur.Load()
	if d == nil || d.sec != sec {
		d = &clockDate{sec: sec}
		t.UTC().AppendFormat(d.b[:0], TimeFormat)
		c.cur.Store(d)
	}
	return append(dst, d.b[:]...)
}

// AppendError appends to dst the complete response to a request that failed
// with e, for a server that closes the connection after writing it:
//
//	HTTP/1.1 400 Bad Request
//	Content-Type: text/plain; charset=utf-8
//	Content-Length: 12
//	Connection: close
//	Server: <serverName>       (only if serverName is not empty)
//	Allow: GET, HEAD           (only for 405)
//
//	Bad Request
//
// The body is the status text and a newline (e.Reason when the status is
// unregistered). A nil e is answered as 500. serverName must be a valid
// field value (no CR or LF); it comes from the configuration, never from a
// client. It never allocates when dst has room.
func AppendError(dst []byte, e *Error, serverName string) []byte {
	return AppendErrorDate(dst, e, serverName, nil)
}

// AppendErrorDate is AppendError plus a Date header from clock, which RFC
// 9110 section 6.6.1 asks of an origin server in 4xx responses. A nil clock
// omits the header, like AppendError.
func AppendErrorDate(dst []byte, e *Error, serverName string, clock *Clock) []byte {
	status, text := 500, statusText[500-100]
	if e != nil {
		status, text = e.Status, StatusText(e.Status)
		if text == "" {
			text = e.Reason
		}
	}
	dst = AppendStatusLine(dst, status)
	dst = append(dst, "Content-Type: text/plain; charset=utf-8\r\nContent-Length: "...)
	dst = strconv.AppendInt(dst, int64(len(text)+1), 10)
	dst = append(dst, "\r\nConnection: close\r\n"...)
	if serverName != "" {
		dst = append(dst, "Server: "...)
		dst = append(dst, serverName...)
		dst = append(dst, "\r\n"...)
	}
	if clock != nil {
		dst = append(dst, "Date: "...)
		dst = clock.AppendDate(dst)
		dst = append(dst, "\r\n"...)
	}
	if status == 405 {
		dst = append(dst, "Allow: GET, HEAD\r\n"...)
	}
	dst = append(dst, "\r\n"...)
	dst = append(dst, text...)
	return append(dst, '\n')
}
