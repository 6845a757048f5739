package proxy

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"
)

// frameResult is what a Framer made of a byte stream.
type frameResult struct {
	Err       bool
	Done      bool
	Consumed  int   // bytes consumed when done, or in all
	Heads     []int // HeadLen at each head completion
	Status    int
	KeepAlive bool
	CloseDel  bool
	Upgrade   bool
}

// runFramer feeds chunks to a new Framer as an engine would and checks the
// invariants of the Feed protocol on the way.
func runFramer(t testing.TB, head bool, chunks [][]byte) frameResult {
	t.Helper()
	var f Framer
	f.Reset(head)
	var res frameResult
	total, headStart := 0, 0
	var headBuf []byte
	for _, p := range chunks {
		for len(p) > 0 {
			inHead := !f.HeadDone()
			n, done, err := f.Feed(p)
			if err != nil {
				if n != 0 {
					t.Fatalf("n = %d with error %v", n, err)
				}
				if n2, _, err2 := f.Feed(p); n2 != 0 || err2 != err {
					t.Fatalf("error not sticky: %d, %v after %v", n2, err2, err)
				}
				res.Err = true
				res.Consumed = total
				return res
			}
			if n < 0 || n > len(p) {
				t.Fatalf("n = %d for %d bytes", n, len(p))
			}
			if n < len(p) && !done && !(inHead && f.HeadLen() > 0) {
				t.Fatalf("stopped at %d of %d bytes without reason", n, len(p))
			}
			if n == 0 && !done {
				t.Fatalf("no progress on %d bytes", len(p))
			}
			if inHead {
				headBuf = append(headBuf, p[:n]...)
				if hl := f.HeadLen(); hl > 0 {
					if hl != total+n-headStart || hl != len(headBuf) {
						t.Fatalf("HeadLen %d, head fed from %d to %d", hl, headStart, total+n)
					}
					if _, err := AppendResponseHead(nil, headBuf, false); err != nil {
						t.Fatalf("AppendResponseHead rejects a head Feed accepted: %v\n%q", err, headBuf)
					}
					res.Heads = append(res.Heads, hl)
					headStart, headBuf = total+n, headBuf[:0]
				}
			} else if f.HeadLen() == 0 {
				t.Fatalf("HeadLen 0 in the body")
			}
			total += n
			p = p[n:]
			if done {
				if n2, d2, err2 := f.Feed(p); n2 != 0 || !d2 || err2 != nil {
					t.Fatalf("Feed after done: %d, %v, %v", n2, d2, err2)
				}
				res.Done = true
				res.Consumed = total
				res.Status, res.KeepAlive, res.CloseDel, res.Upgrade = f.Status(), f.KeepAlive(), f.CloseDelimited(), f.Upgrade()
				return res
			}
		}
	}
	res.Consumed = total
	res.Status, res.KeepAlive, res.CloseDel, res.Upgrade = f.Status(), f.KeepAlive(), f.CloseDelimited(), f.Upgrade()
	if res.KeepAlive {
		t.Fatalf("KeepAlive before done")
	}
	return res
}

// bytewise cuts in into 1-byte chunks.
func bytewise(in []byte) [][]byte {
	var b [][]byte
	for i := range in {
		b = append(b, in[i:i+1])
	}
	return b
}

// splits returns the ways the tests cut a stream: whole, byte by byte, and
// in two at every offset.
func splits(in []byte) map[string][][]byte {
	m := map[string][][]byte{"whole": {in}, "bytewise": bytewise(in)}
	if len(in) <= 4096 {
		for i := 1; i < len(in); i++ {
			m[fmt.Sprintf("split%d", i)] = [][]byte{in[:i], in[i:]}
		}
	}
	return m
}

const (
	hello13  = "HTTP/1.1 200 OK\r\nContent-Length: 13\r\n\r\nHello, World!"
	chunked1 = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nHello\r\n8\r\n, World!\r\n0\r\n\r\n"
)

type frameCase struct {
	name      string
	in        string
	head      bool // HEAD request
	err       bool // Feed fails
	open      bool // not done at the end of in (close-delimited or truncated)
	extra     int  // done this many bytes before the end of in
	nheads    int  // number of heads (interim ones included); 0 means 1
	status    int
	keepAlive bool
	closeDel  bool
	upgrade   bool
}

var frameCases = []frameCase{
	{name: "content-length", in: hello13, status: 200, keepAlive: true},
	{name: "content-length extra bytes", in: hello13 + "EXTRA", extra: 5, status: 200, keepAlive: true},
	{name: "content-length zero", in: "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\nX", extra: 1, status: 200, keepAlive: true},
	{name: "content-length case and OWS", in: "HTTP/1.1 200 OK\r\ncontent-LENGTH: \t3 \r\n\r\nabc", status: 200, keepAlive: true},
	{name: "content-length repeated equal", in: "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc", status: 200, keepAlive: true},
	{name: "content-length list equal", in: "HTTP/1.1 200 OK\r\nContent-Length: 3, 3\r\n\r\nabc", status: 200, keepAlive: true},
	{name: "content-length conflict", in: "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", err: true},
	{name: "content-length list conflict", in: "HTTP/1.1 200 OK\r\nContent-Length: 3, 4\r\n\r\nabcd", err: true},
	{name: "content-length not a number", in: "HTTP/1.1 200 OK\r\nContent-Length: 3a\r\n\r\n", err: true},
	{name: "content-length negative", in: "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", err: true},
	{name: "content-length plus", in: "HTTP/1.1 200 OK\r\nContent-Length: +1\r\n\r\n", err: true},
	{name: "content-length empty", in: "HTTP/1.1 200 OK\r\nContent-Length: \r\n\r\n", err: true},
	{name: "content-length inner space", in: "HTTP/1.1 200 OK\r\nContent-Length: 1 2\r\n\r\n", err: true},
	{name: "content-length too long", in: "HTTP/1.1 200 OK\r\nContent-Length: 1234567890123456789\r\n\r\n", err: true},
	{name: "content-length truncated", in: "HTTP/1.1 200 OK\r\nContent-Length: 13\r\n\r\nHello", open: true, status: 200},
	{name: "chunked", in: chunked1, status: 200, keepAlive: true},
	{name: "chunked extra bytes", in: chunked1 + "HTTP/1.1 200 OK\r\n", extra: 17, status: 200, keepAlive: true},
	{name: "chunked trailers and extensions", in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n3;ext=\"v\"\r\nabc\r\n0\r\nX-Sum: 42\r\n\r\n", status: 200, keepAlive: true},
	{name: "chunked after gzip", in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, Chunked\r\n\r\n1\r\nz\r\n0\r\n\r\n", status: 200, keepAlive: true},
	{name: "chunked over two fields", in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", status: 200, keepAlive: true},
	{name: "chunked not last", in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n", open: true, status: 200, closeDel: true},
	{name: "chunked with a parameter", in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked;x=1\r\n\r\nabc", open: true, status: 200, closeDel: true},
	{name: "transfer-encoding empty", in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: \r\n\r\n", err: true},
	{name: "transfer-encoding junk", in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chun ked\r\n\r\n", err: true},
	{name: "chunked and content-length", in: "HTTP/1.1 200 OK\r\nContent-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", status: 200, keepAlive: false},
	{name: "chunked in HTTP/1.0", in: "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", err: true},
	{name: "chunked malformed", in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", err: true},
	{name: "chunked truncated", in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nHel", open: true, status: 200},
	{name: "close-delimited", in: "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil EOF", open: true, status: 200, closeDel: true},
	{name: "close-delimited HTTP/1.0", in: "HTTP/1.0 200 OK\r\n\r\nuntil EOF", open: true, status: 200, closeDel: true},
	{name: "HTTP/1.0 content-length", in: "HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nx", status: 200, keepAlive: false},
	{name: "HTTP/1.0 keep-alive", in: "HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 1\r\n\r\nx", status: 200, keepAlive: true},
	{name: "connection close", in: "HTTP/1.1 200 OK\r\nConnection: keep-alive, CLOSE\r\nContent-Length: 1\r\n\r\nx", status: 200, keepAlive: false},
	{name: "connection odd tokens", in: "HTTP/1.1 200 OK\r\nConnection: \"x\", closed, x-close\r\nContent-Length: 1\r\n\r\nx", status: 200, keepAlive: true},
	{name: "HTTP/1.5 is 1.1", in: "HTTP/1.5 200 OK\r\nContent-Length: 1\r\n\r\nx", status: 200, keepAlive: true},
	{name: "HEAD", in: hello13, head: true, extra: 13, status: 200, keepAlive: true},
	{name: "HEAD chunked", in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", head: true, status: 200, keepAlive: true},
	{name: "HEAD no length", in: "HTTP/1.1 200 OK\r\n\r\n", head: true, status: 200, keepAlive: true},
	{name: "204", in: "HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\nhello", extra: 5, status: 204, keepAlive: true},
	{name: "304", in: "HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", extra: 5, status: 304, keepAlive: true},
	{name: "no reason phrase", in: "HTTP/1.1 204\r\n\r\n", status: 204, keepAlive: true},
	{name: "empty reason phrase", in: "HTTP/1.1 204 \r\n\r\n", status: 204, keepAlive: true},
	{name: "100 continue", in: "HTTP/1.1 100 Continue\r\n\r\n" + hello13, nheads: 2, status: 200, keepAlive: true},
	{name: "103 and 100", in: "HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\nHTTP/1.1 100 Continue\r\nContent-Length: 7\r\n\r\n" + hello13, nheads: 3, status: 200, keepAlive: true},
	{name: "100 then HEAD", in: "HTTP/1.1 100 Continue\r\n\r\n" + hello13, head: true, extra: 13, nheads: 2, status: 200, keepAlive: true},
	{name: "100 then truncated", in: "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 2", open: true, status: 100},
	{name: "101", in: "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n\x81\x05hello", extra: 7, status: 101, upgrade: true},
	{name: "101 with content-length", in: "HTTP/1.1 101 Switching Protocols\r\nContent-Length: 5\r\n\r\nhello", extra: 5, status: 101, upgrade: true},
	{name: "too many interim", in: strings.Repeat("HTTP/1.1 100 Continue\r\n\r\n", maxInterim+1) + hello13, err: true},
	{name: "many interim", in: strings.Repeat("HTTP/1.1 100 Continue\r\n\r\n", maxInterim) + "HTTP/1.1 204 No Content\r\n\r\n", nheads: maxInterim + 1, status: 204, keepAlive: true},
	{name: "not HTTP", in: "HTTP/2 200 OK\r\n\r\n", err: true},
	{name: "garbage", in: "<html>", err: true},
	{name: "two-digit status", in: "HTTP/1.1 20 OK\r\n\r\n", err: true},
	{name: "status below 100", in: "HTTP/1.1 099 OK\r\n\r\n", err: true},
	{name: "no space after status", in: "HTTP/1.1 200OK\r\n\r\n", err: true},
	{name: "control in reason", in: "HTTP/1.1 200 O\x00K\r\n\r\n", err: true},
	{name: "bare LF status line", in: "HTTP/1.1 200 OK\n\r\n", err: true},
	{name: "bare LF field", in: "HTTP/1.1 200 OK\r\nA: b\n\r\n", err: true},
	{name: "bare CR field", in: "HTTP/1.1 200 OK\r\nA: b\rC: d\r\n\r\n", err: true},
	{name: "bare LF end", in: "HTTP/1.1 200 OK\r\nA: b\r\n\n", err: true},
	{name: "obs-fold", in: "HTTP/1.1 200 OK\r\nA: b\r\n c\r\n\r\n", err: true},
	{name: "space before colon", in: "HTTP/1.1 200 OK\r\nContent-Length : 1\r\n\r\nx", err: true},
	{name: "empty name", in: "HTTP/1.1 200 OK\r\n: x\r\n\r\n", err: true},
	{name: "NUL in value", in: "HTTP/1.1 200 OK\r\nA: b\x00c\r\n\r\n", err: true},
	{name: "NUL in a read value", in: "HTTP/1.1 200 OK\r\nConnection: b\x00c\r\n\r\n", err: true},
	{name: "head at the limit", in: bigHead(MaxHead), status: 204, keepAlive: true},
	{name: "head over the limit", in: bigHead(MaxHead + 1), err: true},
}

// headLens returns the lengths of the first n heads of in (1 if n is 0),
// each ending at the next empty line.
func headLens(in string, n int) []int {
	var lens []int
	for range max(n, 1) {
		i := strings.Index(in, "\r\n\r\n")
		if i < 0 {
			break
		}
		lens = append(lens, i+4)
		in = in[i+4:]
	}
	return lens
}

// bigHead returns a 204 head of exactly n bytes.
func bigHead(n int) string {
	const pre, post = "HTTP/1.1 204 No Content\r\nX-Pad: ", "\r\n\r\n"
	return pre + strings.Repeat("a", n-len(pre)-len(post)) + post
}

func TestFramer(t *testing.T) {
	t.Parallel()
	for _, c := range frameCases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			want := frameResult{Err: c.err}
			if !c.err {
				want = frameResult{Done: !c.open, Consumed: len(c.in) - c.extra, Heads: headLens(c.in, c.nheads),
					Status: c.status, KeepAlive: c.keepAlive, CloseDel: c.closeDel, Upgrade: c.upgrade}
			}
			for how, chunks := range splits([]byte(c.in)) {
				got := runFramer(t, c.head, chunks)
				if c.err {
					got = frameResult{Err: got.Err} // where it fails may depend on the split
				}
				if !reflect.DeepEqual(got, want) {
					t.Fatalf("%s:\n got %+v\nwant %+v", how, got, want)
				}
			}
			checkRewrite(t, []byte(c.in), c.head, want)
		})
	}
}

// TestFramerReset: a Framer serves one response after another.
func TestFramerReset(t *testing.T) {
	t.Parallel()
	var f Framer
	in := []byte(hello13 + chunked1 + "HTTP/1.1 304 Not Modified\r\n\r\n")
	var statuses []int
	for _, head := range []bool{false, false, true} {
		f.Reset(head)
		for {
			n, done, err := f.Feed(in)
			if err != nil {
				t.Fatal(err)
			}
			in = in[n:]
			if done {
				break
			}
		}
		statuses = append(statuses, f.Status())
	}
	if len(in) != 0 || !reflect.DeepEqual(statuses, []int{200, 200, 304}) {
		t.Fatalf("left %q, statuses %v", in, statuses)
	}
}

// goFrame frames data with net/http: the status and the end offset of the
// final response, ok false when net/http rejects it.
func goFrame(data []byte, head bool) (status, end int, ok bool) {
	rd := bytes.NewReader(data)
	br := bufio.NewReader(rd)
	req := &http.Request{Method: http.MethodGet}
	if head {
		req.Method = http.MethodHead
	}
	for range maxInterim + 1 {
		resp, err := http.ReadResponse(br, req)
		if err != nil {
			return 0, 0, false
		}
		if _, err := io.Copy(io.Discard, resp.Body); err != nil {
			return 0, 0, false
		}
		resp.Body.Close()
		if resp.StatusCode >= 200 || resp.StatusCode == 101 {
			return resp.StatusCode, len(data) - br.Buffered() - rd.Len(), true
		}
	}
	return 0, 0, false
}

// TestFramerNetHTTP checks the accepted cases against net/http.
func TestFramerNetHTTP(t *testing.T) {
	t.Parallel()
	checked := 0
	for _, c := range frameCases {
		if c.err {
			continue
		}
		if checkDifferential(t, []byte(c.in), c.head) {
			checked++
		}
	}
	if checked < 20 {
		t.Fatalf("only %d cases compared with net/http", checked)
	}
}

// checkDifferential compares the Framer with net/http on data, when both
// accept it, and reports whether they did.
func checkDifferential(t *testing.T, data []byte, head bool) bool {
	t.Helper()
	r := runFramer(t, head, [][]byte{data})
	if r.Err {
		return false
	}
	status, end, ok := goFrame(data, head)
	if !ok {
		return false
	}
	ourEnd := r.Consumed
	switch {
	case r.Done:
	case r.CloseDel && len(r.Heads) > 0:
		ourEnd = len(data)
	default:
		t.Fatalf("net/http reads a complete response (status %d, %d bytes) where the Framer wants more\n%q", status, end, data)
	}
	if status != r.Status || end != ourEnd {
		t.Fatalf("net/http: status %d, end %d; Framer: status %d, end %d\n%q", status, end, r.Status, ourEnd, data)
	}
	return true
}

func FuzzFramer(f *testing.F) {
	for _, c := range frameCases {
		if len(c.in) < 1024 {
			f.Add([]byte(c.in), c.head)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte, head bool) {
		if out, err := AppendResponseHead([]byte("x"), data, head); err != nil && string(out) != "x" {
			t.Fatalf("AppendResponseHead changed dst on error: %q", out)
		}
		whole := runFramer(t, head, [][]byte{data})
		for how, chunks := range map[string][][]byte{
			"bytewise": bytewise(data),
			"split":    {data[:len(data)/3], data[len(data)/3:]},
		} {
			got := runFramer(t, head, chunks)
			if whole.Err {
				got = frameResult{Err: got.Err}
				if !got.Err {
					t.Fatalf("%s: accepted what whole rejects", how)
				}
				continue
			}
			if !reflect.DeepEqual(got, whole) {
				t.Fatalf("%s:\n got %+v\nwhole %+v", how, got, whole)
			}
		}
		checkDifferential(t, data, head)
		checkRewrite(t, data, head, whole)
	})
}

// checkRewrite checks that the heads AppendResponseHead rewrites frame the
// response as the originals do.
func checkRewrite(t *testing.T, data []byte, head bool, r frameResult) {
	t.Helper()
	if r.Err || len(r.Heads) == 0 {
		return
	}
	for _, closeClient := range []bool{false, true} {
		var stream []byte
		off := 0
		for _, hl := range r.Heads {
			n0 := len(stream)
			var err error
			if stream, err = AppendResponseHead(stream, data[off:off+hl], closeClient); err != nil {
				t.Fatalf("AppendResponseHead: %v\n%q", err, data[off:off+hl])
			}
			if len(stream)-n0 > MaxHead {
				return // the rewritten head grew past the limit
			}
			off += hl
		}
		grow := len(stream) - off
		stream = append(stream, data[off:]...)
		got := runFramer(t, head, [][]byte{stream})
		if got.Err || got.Done != r.Done || got.Status != r.Status || got.Upgrade != r.Upgrade ||
			got.CloseDel != r.CloseDel || got.Consumed != r.Consumed+grow || len(got.Heads) != len(r.Heads) {
			t.Fatalf("rewritten (close %v):\n got %+v\nwant %+v\n%q\n%q", closeClient, got, r, data, stream)
		}
		if closeClient && got.KeepAlive {
			t.Fatalf("keep-alive after Connection: close\n%q", stream)
		}
	}
}
