package http1

import (
	"bytes"
	"strings"
	"testing"
)

// chunkResult is what decoding a whole input gives.
type chunkResult struct {
	data     string
	consumed int
	done     bool
	err      error
}

// decodeChunked feeds in to a fresh decoder in pieces cut at the given
// offsets, the way a server does: unconsumed bytes stay at the front of its
// buffer and new bytes are appended. It checks that Next never leaves bytes
// unconsumed unless it is done or failed, and that data aliases the buffer.
func decodeChunked(t *testing.T, in []byte, cuts ...int) chunkResult {
	t.Helper()
	var (
		d    ChunkedDecoder
		res  chunkResult
		out  []byte
		buf  []byte
		prev int
	)
	cuts = append(cuts, len(in))
	for _, cut := range cuts {
		buf = append(buf, in[prev:cut]...)
		prev = cut
		for {
			data, n, done, err := d.Next(buf)
			if n < 0 || n > len(buf) {
				t.Fatalf("Next consumed %d of %d bytes", n, len(buf))
			}
			if len(data) > 0 && !within(buf[:n], data) {
				t.Fatalf("data does not alias the consumed input")
			}
			out = append(out, data...)
			res.consumed += n
			buf = buf[n:]
			if err != nil {
				// What was consumed and decoded before the error depends
				// on the cuts: only the error counts.
				return chunkResult{err: err}
			}
			if done {
				res.done = true
				res.data = string(out)
				if d2, n2, done2, err2 := d.Next(buf); d2 != nil || n2 != 0 || !done2 || err2 != nil {
					t.Fatalf("Next after done = %q, %d, %v, %v", d2, n2, done2, err2)
				}
				return res
			}
			if n == 0 {
				break
			}
		}
		if len(buf) != 0 {
			t.Fatalf("Next wants more input with %d bytes unconsumed", len(buf))
		}
	}
	res.data = string(out)
	return res
}

type chunkCase struct {
	name string
	in   string
	data string // decoded body when want is nil
	want *Error
}

var chunkCases = []chunkCase{
	{name: "empty body", in: "0\r\n\r\n", data: ""},
	{name: "one chunk", in: "5\r\nhello\r\n0\r\n\r\n", data: "hello"},
	{name: "several chunks", in: "5\r\nhello\r\n1\r\n \r\nA\r\n0123456789\r\n0\r\n\r\n", data: "hello 0123456789"},
	{name: "hex digits", in: "a\r\n0123456789\r\nF\r\n0123456789abcde\r\n0\r\n\r\n", data: "01234567890123456789abcde"},
	{name: "leading zeros", in: "0005\r\nhello\r\n000\r\n\r\n", data: "hello"},
	{name: "16 digits", in: "0000000000000005\r\nhello\r\n0000000000000000\r\n\r\n", data: "hello"},
	{name: "extensions", in: "5;a=b;c;d=\"x y\\\"z\"\r\nhello\r\n0;last\r\n\r\n", data: "hello"},
	{name: "extensions with BWS", in: "5 ; a = b ;c\t;\td\r\nhello\r\n0\r\n\r\n", data: "hello"},
	{name: "quoted extension then BWS", in: "5;a=\"q\" ;b\r\nhello\r\n0\r\n\r\n", data: "hello"},
	{name: "obs-text in quoted extension", in: "5;a=\"\xff\"\r\nhello\r\n0\r\n\r\n", data: "hello"},
	{name: "trailers", in: "5\r\nhello\r\n0\r\nX-Sum: abc\r\nEmpty:\r\nY:\tv v \r\n\r\n", data: "hello"},
	{name: "data with CRLF inside", in: "4\r\n\r\n\r\n\r\n0\r\n\r\n", data: "\r\n\r\n"},

	{name: "empty size", in: "\r\n", want: errChunkSize},
	{name: "non-hex size", in: "g\r\n", want: errChunkSize},
	{name: "negative size", in: "-5\r\nhello\r\n0\r\n\r\n", want: errChunkSize},
	{name: "plus sign", in: "+5\r\nhello\r\n0\r\n\r\n", want: errChunkSize},
	{name: "0x prefix", in: "0x5\r\nhello\r\n0\r\n\r\n", want: errChunkSize},
	{name: "leading space", in: " 5\r\nhello\r\n0\r\n\r\n", want: errChunkSize},
	{name: "trailing space", in: "5 \r\nhello\r\n0\r\n\r\n", want: errChunkExt},
	{name: "17 digits", in: "00000000000000005\r\nhello\r\n0\r\n\r\n", want: errChunkSizeLarge},
	{name: "over 1<<62", in: "4000000000000001\r\n", want: errChunkSizeLarge},
	{name: "64-bit overflow", in: "ffffffffffffffff\r\n", want: errChunkSizeLarge},
	{name: "bare LF after size", in: "5\nhello\r\n0\r\n\r\n", want: errChunkBareLF},
	{name: "bare CR after size", in: "5\rhello\r\n0\r\n\r\n", want: errChunkBareCR},
	{name: "bare LF after extension", in: "5;a\nhello", want: errChunkBareLF},
	{name: "empty extension", in: "5;\r\nhello\r\n0\r\n\r\n", want: errChunkExt},
	{name: "extension without name", in: "5;=b\r\nhello\r\n0\r\n\r\n", want: errChunkExt},
	{name: "extension without value", in: "5;a=\r\nhello\r\n0\r\n\r\n", want: errChunkExt},
	{name: "extension names with space", in: "5;a b\r\nhello\r\n0\r\n\r\n", want: errChunkExt},
	{name: "extension trailing BWS", in: "5;a \r\nhello\r\n0\r\n\r\n", want: errChunkExt},
	{name: "extension value trailing BWS", in: "5;a=b \r\nhello\r\n0\r\n\r\n", want: errChunkExt},
	{name: "unterminated quoted extension", in: "5;a=\"b\r\nhello\r\n0\r\n\r\n", want: errChunkExt},
	{name: "junk after quoted extension", in: "5;a=\"b\"c\r\nhello\r\n0\r\n\r\n", want: errChunkExt},
	{name: "NUL in extension", in: "5;a=\x00\r\n", want: errChunkExt},
	{name: "size line too long", in: "5;a=" + strings.Repeat("b", MaxChunkLine) + "\r\nhello\r\n0\r\n\r\n", want: errChunkLine},
	{name: "data too long", in: "5\r\nhello!\r\n0\r\n\r\n", want: errChunkCRLF},
	{name: "data too short", in: "5\r\nhell\r\n0\r\n\r\n", want: errChunkCRLF},
	{name: "LF after data", in: "5\r\nhello\n0\r\n\r\n", want: errChunkCRLF},
	{name: "CR alone after data", in: "5\r\nhello\r0\r\n\r\n", want: errChunkCRLF},
	{name: "missing last chunk CRLF", in: "0\r\n", data: ""}, // incomplete, not an error
	{name: "bare LF ends body", in: "0\r\n\n", want: errChunkBareLF},
	{name: "bare CR ends body", in: "0\r\n\rX", want: errChunkBareCR},
	{name: "space before trailer colon", in: "0\r\nX : v\r\n\r\n", want: errTrailerField},
	{name: "trailer without colon", in: "0\r\nX\r\n\r\n", want: errTrailerField},
	{name: "trailer empty name", in: "0\r\n: v\r\n\r\n", want: errTrailerField},
	{name: "trailer obs-fold", in: "0\r\nX: v\r\n w\r\n\r\n", want: errTrailerField},
	{name: "trailer NUL", in: "0\r\nX: \x00\r\n\r\n", want: errTrailerField},
	{name: "trailer bare LF", in: "0\r\nX: v\n\r\n", want: errChunkBareLF},
	{name: "trailer bare CR", in: "0\r\nX: v\rY\r\n\r\n", want: errChunkBareCR},
	{name: "request smuggled as trailer", in: "0\r\nGET /admin HTTP/1.1\r\nHost: a\r\n\r\n", want: errTrailerField},
	{name: "trailer too large", in: "0\r\nX: " + strings.Repeat("v", MaxTrailerBytes) + "\r\n\r\n", want: errTrailerTooBig},
}

func TestChunked(t *testing.T) {
	t.Parallel()
	for _, c := range chunkCases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			in := []byte(c.in)
			whole := decodeChunked(t, in)
			e, _ := whole.err.(*Error)
			if e != c.want {
				t.Fatalf("err = %s, want %s", errName(e), errName(c.want))
			}
			if c.want == nil && whole.data != c.data {
				t.Fatalf("data = %q, want %q", whole.data, c.data)
			}
			if c.want == nil && whole.done && whole.consumed != len(in) {
				t.Fatalf("consumed %d of %d bytes", whole.consumed, len(in))
			}
			// The same outcome whatever the cuts: every cut for short
			// inputs, the ends and a sample for the long limit cases.
			for k := 0; k <= len(in); k++ {
				if len(in) > 1024 && k > 64 && k < len(in)-64 && k%97 != 0 {
					continue
				}
				if got := decodeChunked(t, in, k); got != whole {
					t.Fatalf("cut at %d: %+v, want %+v", k, got, whole)
				}
			}
			if len(in) < 200 {
				for k := 1; k < len(in); k++ {
					for j := k; j <= len(in); j++ {
						if got := decodeChunked(t, in, k, j); got != whole {
							t.Fatalf("cuts at %d, %d: %+v, want %+v", k, j, got, whole)
						}
					}
				}
			}
			bytewise := make([]int, len(in))
			for k := range bytewise {
				bytewise[k] = k
			}
			if got := decodeChunked(t, in, bytewise...); got != whole {
				t.Fatalf("byte by byte: %+v, want %+v", got, whole)
			}
		})
	}
}

func TestChunkedLimitsExact(t *testing.T) {
	t.Parallel()
	// A size line of exactly MaxChunkLine bytes and a trailer section of
	// exactly MaxTrailerBytes bytes are accepted.
	line := "5;a=" + strings.Repeat("b", MaxChunkLine-4)
	trailer := "X: " + strings.Repeat("v", MaxTrailerBytes-len("X: \r\n\r\n")) + "\r\n\r\n"
	in := []byte(line + "\r\nhello\r\n0\r\n" + trailer)
	res := decodeChunked(t, in)
	if res.err != nil || !res.done || res.data != "hello" || res.consumed != len(in) {
		t.Fatalf("got %+v", res)
	}
	// The largest chunk size starts a chunk.
	var d ChunkedDecoder
	data, n, done, err := d.Next([]byte("4000000000000000\r\nab"))
	if err != nil || done || n != 20 || string(data) != "ab" || d.rem != 1<<62-2 {
		t.Fatalf("Next = %q, %d, %v, %v (rem %d)", data, n, done, err, d.rem)
	}
}

func TestChunkedPipelined(t *testing.T) {
	t.Parallel()
	in := []byte("3\r\nabc\r\n0\r\n\r\nGET / HTTP/1.1\r\n")
	var d ChunkedDecoder
	var body []byte
	for {
		data, n, done, err := d.Next(in)
		if err != nil {
			t.Fatal(err)
		}
		body = append(body, data...)
		in = in[n:]
		if done {
			break
		}
	}
	if string(body) != "abc" || string(in) != "GET / HTTP/1.1\r\n" {
		t.Fatalf("body %q, rest %q", body, in)
	}
	if !d.Done() {
		t.Fatal("Done() = false")
	}
	d.Reset()
	if d.Done() {
		t.Fatal("Done() after Reset")
	}
	if _, n, done, err := d.Next([]byte("0\r\n\r\n")); !done || err != nil || n != 5 {
		t.Fatalf("after Reset: %d, %v, %v", n, done, err)
	}
}

func TestChunkedStickyError(t *testing.T) {
	t.Parallel()
	var d ChunkedDecoder
	if _, _, _, err := d.Next([]byte("x")); err != errChunkSize {
		t.Fatalf("err = %v", err)
	}
	if _, n, done, err := d.Next([]byte("0\r\n\r\n")); err != errChunkSize || n != 0 || done {
		t.Fatalf("after error: %d, %v, %v", n, done, err)
	}
	d.Reset()
	if _, _, done, err := d.Next([]byte("0\r\n\r\n")); err != nil || !done {
		t.Fatalf("after Reset: %v, %v", done, err)
	}
}

func TestChunkedNoAllocs(t *testing.T) {
	in := []byte("5;a=\"b\"\r\nhello\r\n6\r\n world\r\n0\r\nX: y\r\n\r\n")
	var d ChunkedDecoder
	a := testing.AllocsPerRun(100, func() {
		d.Reset()
		b := in
		for {
			_, n, done, err := d.Next(b)
			if err != nil || done {
				break
			}
			b = b[n:]
		}
	})
	if a != 0 {
		t.Fatalf("%v allocs per body", a)
	}
}

// chunkBody encodes body in chunks of size n.
func chunkBody(body []byte, n int) []byte {
	var b bytes.Buffer
	for len(body) > 0 {
		k := min(n, len(body))
		b.WriteString(strings.ToUpper(hex(k)) + "\r\n")
		b.Write(body[:k])
		b.WriteString("\r\n")
		body = body[k:]
	}
	b.WriteString("0\r\n\r\n")
	return b.Bytes()
}

func hex(n int) string {
	const digits = "0123456789abcdef"
	if n == 0 {
		return "0"
	}
	var s []byte
	for ; n > 0; n >>= 4 {
		s = append([]byte{digits[n&15]}, s...)
	}
	return string(s)
}
