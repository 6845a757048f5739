package http1

import (
	"bytes"
	"testing"
)

var benchGET = []byte("GET /api/v1/messages?room=general&since=1700000000 HTTP/1.1\r\n" +
	"Host: chat.example.com\r\n" +
	"User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36\r\n" +
	"Accept: text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8\r\n" +
	"Accept-Language: en-US,en;q=0.9\r\n" +
	"Accept-Encoding: gzip, deflate, br\r\n" +
	"Referer: https://chat.example.com/rooms/general\r\n" +
	"Cookie: session=3f9a1c2e7b5d4a6f8e0c1b2a3d4e5f60; theme=dark\r\n" +
	"Connection: keep-alive\r\n" +
	"Cache-Control: max-age=0\r\n" +
	"Sec-Fetch-Mode: navigate\r\n" +
	"\r\n")

func BenchmarkParseGET10Headers(b *testing.B) {
	p := NewParser(Limits{}, []string{"User-Agent", "Accept-Encoding", "Cookie"})
	var r Request
	b.ReportAllocs()
	b.SetBytes(int64(len(benchGET)))
	for b.Loop() {
		if n, err := p.Parse(benchGET, &r); n != len(benchGET) || err != nil {
			b.Fatal(n, err)
		}
	}
}

func BenchmarkParseMinimal(b *testing.B) {
	in := []byte("GET / HTTP/1.1\r\nHost: a\r\n\r\n")
	p := NewParser(Limits{}, nil)
	var r Request
	b.ReportAllocs()
	for b.Loop() {
		p.Parse(in, &r)
	}
}

func BenchmarkParseReject(b *testing.B) {
	in := []byte("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n")
	p := NewParser(Limits{}, nil)
	var r Request
	b.ReportAllocs()
	for b.Loop() {
		if _, err := p.Parse(in, &r); err == nil {
			b.Fatal("accepted")
		}
	}
}

func BenchmarkChunked(b *testing.B) {
	body := bytes.Repeat([]byte("0123456789abcdef"), 4096) // 64 KiB
	in := chunkBody(body, 1024)
	var d ChunkedDecoder
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		d.Reset()
		rest, total := in, 0
		for {
			data, n, done, err := d.Next(rest)
			if err != nil {
				b.Fatal(err)
			}
			total += len(data)
			rest = rest[n:]
			if done {
				break
			}
		}
		if total != len(body) {
			b.Fatal(total)
		}
	}
}

func BenchmarkAppendStatusLine(b *testing.B) {
	buf := make([]byte, 0, 64)
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendStatusLine(buf[:0], 200)
	}
}

func BenchmarkAppendDate(b *testing.B) {
	c := NewClock()
	buf := make([]byte, 0, 64)
	b.ReportAllocs()
	for b.Loop() {
		buf = c.AppendDate(buf[:0])
	}
}

func BenchmarkAppendDateParallel(b *testing.B) {
	c := NewClock()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		buf := make([]byte, 0, 64)
		for pb.Next() {
			buf = c.AppendDate(buf[:0])
		}
	})
}

func BenchmarkAppendError(b *testing.B) {
	buf := make([]byte, 0, 512)
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendError(buf[:0], errTooManyFields, "edge")
	}
}
