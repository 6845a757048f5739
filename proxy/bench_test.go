package proxy

import (
	"net/netip"
	"testing"
)

func benchFeed(b *testing.B, resp string) {
	in := []byte(resp)
	var f Framer
	b.ReportAllocs()
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		f.Reset(false)
		p := in
		for {
			n, done, err := f.Feed(p)
			if err != nil {
				b.Fatal(err)
			}
			p = p[n:]
			if done {
				break
			}
		}
	}
}

func BenchmarkFeedContentLength(b *testing.B) { benchFeed(b, hello13) }

func BenchmarkFeedChunked(b *testing.B) { benchFeed(b, chunked1) }

// benchRespHead is a typical backend response head.
const benchRespHead = "HTTP/1.1 200 OK\r\nServer: nginx\r\nDate: Tue, 08 Dec 2026 00:00:00 GMT\r\n" +
	"Content-Type: text/plain\r\nContent-Length: 13\r\nConnection: keep-alive\r\n\r\n"

func BenchmarkFeedTypicalHead(b *testing.B) { benchFeed(b, benchRespHead+"Hello, World!") }

func BenchmarkAppendResponseHead(b *testing.B) {
	head := []byte(benchRespHead)
	dst := make([]byte, 0, 512)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := AppendResponseHead(dst[:0], head, false); err != nil {
			b.Fatal(err)
		}
	}
}

// benchReqHead is a typical browser request head.
const benchReqHead = "GET /api/items?page=2 HTTP/1.1\r\nHost: example.com\r\n" +
	"User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0\r\n" +
	"Accept: application/json\r\nAccept-Language: en-US,en;q=0.5\r\nAccept-Encoding: gzip, deflate, br, zstd\r\n" +
	"Connection: keep-alive\r\nCookie: session=0123456789abcdef\r\nX-Forwarded-For: 10.0.0.1\r\n\r\n"

func BenchmarkAppendRequestHead(b *testing.B) {
	head := []byte(benchReqHead)
	dst := make([]byte, 0, 1024)
	opts := &HeadOptions{Client: netip.MustParseAddrPort("192.0.2.1:5555"), ForwardedFor: true}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := AppendRequestHead(dst[:0], head, opts); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPick(b *testing.B) {
	for _, bal := range []Balance{RoundRobin, LeastConn, Random2} {
		b.Run(bal.String(), func(b *testing.B) {
			r := newRoute(b, bal, 4)
			r.Backends()[1].Fail(0)
			b.ReportAllocs()
			for b.Loop() {
				if r.Pick(1, nil) == nil {
					b.Fatal("nil")
				}
			}
		})
	}
}

func BenchmarkAppendProxyHeader(b *testing.B) {
	src, dst := netip.MustParseAddrPort("192.0.2.1:56324"), netip.MustParseAddrPort("[2001:db8::2]:443")
	buf := make([]byte, 0, 128)
	for _, v := range []ProxyProtocol{ProxyV1, ProxyV2} {
		b.Run(v.String(), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				AppendProxyHeader(buf[:0], v, src, dst)
			}
		})
	}
}

// TestZeroAllocs holds the loop-side functions to zero allocations, so
// that a regression fails the tests and not only the benchmarks.
func TestZeroAllocs(t *testing.T) {
	if testing.Short() {
		t.Skip("allocation counts")
	}
	reqHead, respHead := []byte(benchReqHead), []byte(benchRespHead)
	opts := &HeadOptions{Client: netip.MustParseAddrPort("[2001:db8::1]:5555"), ForwardedFor: true, TLS: true, Extra: []byte("X-A: 1\r\n")}
	buf := make([]byte, 0, 1024)
	r := newRoute(t, Random2, 4)
	lc := newRoute(t, LeastConn, 4)
	src, dst := netip.MustParseAddrPort("192.0.2.1:56324"), netip.MustParseAddrPort("[2001:db8::2]:443")
	var f Framer
	var resps [][]byte
	for _, r := range []string{hello13, chunked1, benchRespHead, "HTTP/1.1 100 Continue\r\n\r\n" + hello13} {
		resps = append(resps, []byte(r))
	}
	for name, fn := range map[string]func(){
		"AppendRequestHead":  func() { AppendRequestHead(buf[:0], reqHead, opts) },
		"AppendResponseHead": func() { AppendResponseHead(buf[:0], respHead, true) },
		"Feed": func() {
			for _, resp := range resps {
				f.Reset(false)
				for p := resp; len(p) > 0; {
					n, done, _ := f.Feed(p)
					if p = p[n:]; done {
						break
					}
				}
			}
		},
		"Pick":               func() { r.Pick(0, nil); lc.Pick(0, nil); r.Pick(0, r.Backends()[0]) },
		"AppendProxyHeader":  func() { AppendProxyHeader(buf[:0], ProxyV1, src, dst); AppendProxyHeader(buf[:0], ProxyV2, src, dst) },
		"Backend.Up/Succeed": func() { b := r.Backends()[0]; b.Up(0); b.Succeed(); b.Acquire(); b.Release() },
	} {
		if a := testing.AllocsPerRun(100, fn); a != 0 {
			t.Errorf("%s: %v allocations", name, a)
		}
	}
}
