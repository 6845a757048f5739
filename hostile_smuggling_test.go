package edge

import (
	"bytes"
	"fmt"
	"io"
	"strconv"
	"strings"
	"testing"
	"time"
)

// ---------------------------------------------------------------------------
// 3. Request smuggling over the socket.

// TestHostileSmuggling sends smuggling vectors, each hiding a request for
// /smuggled, and reads until the server closes: the expected error status
// (and nothing for /smuggled) must come back, then EOF.
func TestHostileSmuggling(t *testing.T) {
	t.Parallel()
	cfg := hostileConfig()
	cfg.AllowPost = true
	cfg.MaxBodySize = 1024
	routes := func(s *Server, l *Listener) {
		l.Get("/smuggled", func(c *Ctx) { c.Text(200, "SMUGGLED") })
		l.Any().Post(Path("/echo"), func(c *Ctx) { c.Text(200, "len="+strconv.Itoa(len(c.Body()))) })
		l.Any().PostStream(Path("/stream"), StreamHandler{OnEnd: func(c *Ctx, ok bool) {
			if ok {
				c.Text(200, "streamed")
			}
		}})
	}
	_, post := hostileServer(t, cfg, routes)
	cfg.AllowPost = false
	_, nopost := hostileServer(t, cfg, routes)

	const smug = "GET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n"
	type tc struct {
		name string
		addr string
		raw  string
		want []int
	}
	cases := []tc{
		{"CL+TE", post, "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + smug, []int{400}},
		{"TE+CL", post, "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n" + smug, []int{400}},
		{"dup CL same", post, "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello" + smug, []int{400}},
		{"dup CL differ", post, "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\nContent-Length: 37\r\n\r\n" + smug, []int{400}},
		{"CL list", post, "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\nhello" + smug, []int{400}},
		{"CL plus", post, "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\nhello" + smug, []int{400}},
		{"CL negative", post, "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n" + smug, []int{400}},
		{"CL hex", post, "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 0x5\r\n\r\nhello" + smug, []int{400}},
		{"CL overflow", post, "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999\r\n\r\n" + smug, []int{400}},
		{"CL inner space", post, "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 1 0\r\n\r\n" + smug, []int{400}},
		{"TE obs-fold", post, "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n" + smug, []int{400}},
		{"obs-fold hides TE", post, "POST /echo HTTP/1.1\r\nHost: a\r\nX-A: b\r\n Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n" + smug, []int{400}},
		{"TE space colon", post, "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n" + smug, []int{400}},
		{"TE chunked,identity", post, "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n" + smug, []int{400}},
		{"TE identity", post, "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity\r\n\r\n" + smug, []int{501}},
		{"TE xchunked", post, "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n" + smug, []int{501}},
		{"TE twice", post, "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + smug, []int{400}},
		{"TE vertical tab", post, "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \x0bchunked\r\n\r\n0\r\n\r\n" + smug, []int{400}},
		{"TE in HTTP/1.0", post, "POST /echo HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + smug, []int{400}},
		{"chunk size 2^64", post, "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000000\r\nx\r\n0\r\n\r\n" + smug, []int{400}},
		{"chunk size huge", post, "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFF\r\nx\r\n0\r\n\r\n" + smug, []int{400}},
		{"chunk size 0x", post, "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0x5\r\nhello\r\n0\r\n\r\n" + smug, []int{400}},
		{"chunk size negative", post, "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n-5\r\nhello\r\n0\r\n\r\n" + smug, []int{400}},
		{"chunk size empty", post, "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n\r\nhello\r\n0\r\n\r\n" + smug, []int{400}},
		{"chunk bare LF", post, "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n" + smug, []int{400}},
		{"chunk data overrun", post, "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nhello\r\n0\r\n\r\n" + smug, []int{400}},
		{"chunked over max body", post, "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n800\r\n" + strings.Repeat("x", 0x800) + "\r\n0\r\n\r\n" + smug, []int{413}},
		{"stream bad chunk", post, "POST /stream HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n" + smug, []int{400}},
		{"CL over max body", post, "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 2000\r\n\r\n" + smug, []int{413}},
		// A body on a route that does not take one is read and dropped
		// (its framing checked), never parsed as requests; Connection:
		// close so that the harness sees the end.
		{"GET with body, POST on", post, "GET /ok HTTP/1.1\r\nHost: a\r\nConnection: close\r\nContent-Length: " + strconv.Itoa(len(smug)) + "\r\n\r\n" + smug, []int{200}},
		{"GET chunked body, POST on", post, "GET /ok HTTP/1.1\r\nHost: a\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n" + fmt.Sprintf("%x\r\n%s\r\n0\r\n\r\n", len(smug), smug) + smug, []int{200}},
		{"GET with body, POST off", nopost, "GET /ok HTTP/1.1\r\nHost: a\r\nContent-Length: " + strconv.Itoa(len(smug)) + "\r\n\r\n" + smug, []int{405}},
		{"GET bad chunked body, POST on", post, "GET /ok HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nzz\r\n" + smug, []int{400}},
		{"GET body keep-alive, POST on", post, "GET /ok HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhelloGET /ok HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", []int{200, 200}},
		{"POST off", nopost, "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: " + strconv.Itoa(len(smug)) + "\r\n\r\n" + smug, []int{405}},
		{"POST off chunked", nopost, "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + smug, []int{405}},
		{"unknown method", post, "FOO /ok HTTP/1.1\r\nHost: a\r\n\r\n" + smug, []int{501}},
		{"valid then CL+TE", post, "GET /ok HTTP/1.1\r\nHost: a\r\n\r\nPOST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + smug, []int{200, 400}},
		{"valid POST then bad", post, "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhelloGET /ok HTTP/1.1\nHost: a\n\n" + smug, []int{200, 400}},
		{"bare LF head", post, "GET /ok HTTP/1.1\nHost: a\n\n" + smug, []int{400}},
		{"bare CR head", post, "GET /ok HTTP/1.1\rHost: a\r\n\r\n" + smug, []int{400}},
		{"NUL in value", post, "GET /ok HTTP/1.1\r\nHost: a\r\nX-A: a\x00b\r\n\r\n" + smug, []int{400}},
		{"bad field name", post, "GET /ok HTTP/1.1\r\nHost: a\r\nX(A): b\r\n\r\n" + smug, []int{400}},
		{"absolute form", post, "GET http://a/ok HTTP/1.1\r\nHost: a\r\n\r\n" + smug, []int{400}},
		{"double space", post, "GET  /ok HTTP/1.1\r\nHost: a\r\n\r\n" + smug, []int{400}},
		{"space in target", post, "GET /o k HTTP/1.1\r\nHost: a\r\n\r\n" + smug, []int{400}},
		{"HTTP/2.0", post, "GET /ok HTTP/2.0\r\nHost: a\r\n\r\n" + smug, []int{505}},
		{"no Host", post, "GET /ok HTTP/1.1\r\n\r\n" + smug, []int{400}},
		{"two Hosts", post, "GET /ok HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n" + smug, []int{400}},
		{"bad Host", post, "GET /ok HTTP/1.1\r\nHost: a b\r\n\r\n" + smug, []int{400}},
		{"Expect other", post, "POST /echo HTTP/1.1\r\nHost: a\r\nExpect: 200-ok\r\nContent-Length: 5\r\n\r\nhello" + smug, []int{417}},
		{"header too big", post, "GET /ok HTTP/1.1\r\nHost: a\r\nX-Big: " + strings.Repeat("b", 20000) + "\r\n\r\n" + smug, []int{431}},
		{"line too long", post, "GET /" + strings.Repeat("l", 9000) + " HTTP/1.1\r\nHost: a\r\n\r\n" + smug, []int{414}},
		// The hidden request sits inside a body that never completes: the
		// server must time out, never parse it as a request.
		{"inside short CL body", post, "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\n" + smug, []int{408}},
		{"inside short chunk", post, "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n64\r\n" + smug, []int{408}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			conn := hostileDial(t, c.addr)
			if _, err := io.WriteString(conn, c.raw); err != nil {
				t.Fatal(err)
			}
			data, how := hostileReadAll(conn, 2*cfg.ReadTimeout+4*time.Second)
			if how != "eof" && how != "reset" {
				t.Errorf("connection not closed: %s", how)
			}
			if bytes.Contains(data, []byte("SMUGGLED")) {
				t.Errorf("the hidden request was answered:\n%s", data)
			}
			rs, err := hostileParse(data, "GET")
			if err != nil {
				t.Errorf("malformed response stream: %v\n%q", err, data)
			}
			if got := hostileStatuses(rs); fmt.Sprint(got) != fmt.Sprint(c.want) {
				t.Errorf("statuses %v, want %v\n%q", got, c.want, data)
			}
			// The server closes after the last response: it must say so
			// (RFC 9112 section 9.6), or a client pipelining behind it
			// cannot tell a close from a lost connection.
			if n := len(rs); n > 0 && !rs[n-1].close {
				t.Errorf("last response (status %d) before the close lacks Connection: close", rs[n-1].status)
			}
		})
	}
}

// TestHostilePostWithoutLength: a POST with neither Content-Length nor
// Transfer-Encoding has an empty body (RFC 9112 section 6.3). Sent to a
// Post or PostStream route it must be answered, not crash the process.
func TestHostilePostWithoutLength(t *testing.T) {
	t.Parallel()
	if !hostileChild(t) { // the bug is a panic on the event loop
		return
	}
	cfg := hostileConfig()
	cfg.AllowPost = true
	_, addr := hostileServer(t, cfg, func(s *Server, l *Listener) {
		l.Any().Post(Path("/post"), func(c *Ctx) { c.Text(200, "len="+strconv.Itoa(len(c.Body()))) })
		l.Any().PostStream(Path("/stream"), StreamHandler{OnEnd: func(c *Ctx, ok bool) {
			if ok {
				c.Text(200, "size="+strconv.FormatInt(c.BodySize(), 10))
			}
		}})
	})
	for _, tc := range []struct{ path, want string }{{"/post", "len=0"}, {"/stream", "size=0"}} {
		c := hostileDial(t, addr)
		io.WriteString(c, "POST "+tc.path+" HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
		data, how := hostileReadAll(c, 5*time.Second)
		rs, err := hostileParse(data, "GET")
		if err != nil || len(rs) != 1 || rs[0].status != 200 || string(rs[0].body) != tc.want {
			t.Errorf("POST %s without a length: got %q (%s, %v), want 200 %q", tc.path, data, how, err, tc.want)
		}
	}
}

// TestHostileSplitBodyWithClose: a request that asks to close the
// connection (Connection: close, or HTTP/1.0) and whose body arrives in
// more than one read must still be received whole and answered.
func TestHostileSplitBodyWithClose(t *testing.T) {
	t.Parallel()
	cfg := hostileConfig()
	cfg.AllowPost = true
	_, addr := hostileServer(t, cfg, func(s *Server, l *Listener) {
		l.Any().Post(Path("/echo"), func(c *Ctx) { c.Send(200, "text/plain", c.Body()) })
		l.Any().PostStream(Path("/stream"), StreamHandler{OnEnd: func(c *Ctx, ok bool) {
			if ok {
				c.Text(200, "size="+strconv.FormatInt(c.BodySize(), 10))
			}
		}})
	})
	for _, tc := range []struct {
		name, first, second, want string
	}{
		{"post close", "POST /echo HTTP/1.1\r\nHost: a\r\nConnection: close\r\nContent-Length: 10\r\n\r\n01234", "56789", "0123456789"},
		{"post HTTP/1.0", "POST /echo HTTP/1.0\r\nContent-Length: 10\r\n\r\n01234", "56789", "0123456789"},
		{"post chunked close", "POST /echo HTTP/1.1\r\nHost: a\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n01234\r\n", "5\r\n56789\r\n0\r\n\r\n", "0123456789"},
		{"stream close", "POST /stream HTTP/1.1\r\nHost: a\r\nConnection: close\r\nContent-Length: 10\r\n\r\n01234", "56789", "size=10"},
		{"post keep-alive (control)", "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n01234", "56789GET /ok HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", "0123456789"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := hostileDial(t, addr)
			io.WriteString(c, tc.first)
			time.Sleep(150 * time.Millisecond) // the server reads the first part alone
			io.WriteString(c, tc.second)
			data, how := hostileReadAll(c, 2*cfg.ReadTimeout+3*time.Second)
			rs, err := hostileParse(data, "GET")
			if err != nil || len(rs) == 0 || rs[0].status != 200 || string(rs[0].body) != tc.want {
				t.Errorf("got %q (%s, %v), want 200 %q: the rest of the body was dropped", data, how, err, tc.want)
			}
		})
	}
}
