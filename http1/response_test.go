package http1

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"
)

func TestStatusText(t *testing.T) {
	t.Parallel()
	for code := -1; code < 1000; code++ {
		want := http.StatusText(code)
		// RFC 9110 names, where net/http keeps the older ones.
		switch code {
		case 413:
			want = "Content Too Large"
		case 414:
			want = "URI Too Long"
		case 416:
			want = "Range Not Satisfiable"
		case 422:
			want = "Unprocessable Content"
		}
		if got := StatusText(code); got != want {
			t.Errorf("StatusText(%d) = %q, want %q", code, got, want)
		}
	}
}

func TestAppendStatusLine(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		code int
		want string
	}{
		{200, "HTTP/1.1 200 OK\r\n"},
		{101, "HTTP/1.1 101 Switching Protocols\r\n"},
		{404, "HTTP/1.1 404 Not Found\r\n"},
		{431, "HTTP/1.1 431 Request Header Fields Too Large\r\n"},
		{599, "HTTP/1.1 599 \r\n"},
		{299, "HTTP/1.1 299 \r\n"},
		{100, "HTTP/1.1 100 Continue\r\n"},
		{999, "HTTP/1.1 999 \r\n"},
		{1000, "HTTP/1.1 500 Internal Server Error\r\n"},
		{99, "HTTP/1.1 500 Internal Server Error\r\n"},
		{-200, "HTTP/1.1 500 Internal Server Error\r\n"},
	} {
		t.Run(strconv.Itoa(c.code), func(t *testing.T) {
			t.Parallel()
			if got := string(AppendStatusLine([]byte("x"), c.code)); got != "x"+c.want {
				t.Errorf("AppendStatusLine(%d) = %q, want %q", c.code, got, "x"+c.want)
			}
		})
	}
}

func TestClock(t *testing.T) {
	t.Parallel()
	now := time.Date(1994, 11, 6, 8, 49, 37, 5e8, time.FixedZone("X", 3600))
	c := NewClock()
	c.now = func() time.Time { return now }
	if got, want := string(c.AppendDate([]byte("Date: "))), "Date: Sun, 06 Nov 1994 07:49:37 GMT"; got != want {
		t.Fatalf("AppendDate = %q, want %q", got, want)
	}
	first := c.cur.Load()
	now = now.Add(400 * time.Millisecond) // same second
	c.AppendDate(nil)
	if c.cur.Load() != first {
		t.Error("AppendDate reformatted within the same second")
	}
	now = now.Add(time.Second)
	if got, want := string(c.AppendDate(nil)), "Sun, 06 Nov 1994 07:49:38 GMT"; got != want {
		t.Errorf("AppendDate after a second = %q, want %q", got, want)
	}
}

func TestClockConcurrent(t *testing.T) {
	t.Parallel()
	var c Clock // the zero value works
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			buf := make([]byte, 0, 64)
			for range 1000 {
				b := c.AppendDate(buf[:0])
				if _, err := time.Parse(TimeFormat, string(b)); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestAppendError(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		e      *Error
		server string
		clock  bool
		want   string
	}{
		{"400", errFieldValue, "", false, "HTTP/1.1 400 Bad Request\r\n" +
			"Content-Type: text/plain; charset=utf-8\r\nContent-Length: 12\r\nConnection: close\r\n\r\nBad Request\n"},
		{"405 with server", ErrMethodNotAllowed, "edge", false, "HTTP/1.1 405 Method Not Allowed\r\n" +
			"Content-Type: text/plain; charset=utf-8\r\nContent-Length: 19\r\nConnection: close\r\n" +
			"Server: edge\r\nAllow: GET, HEAD\r\n\r\nMethod Not Allowed\n"},
		{"431 with date", errTooManyFields, "edge", true, "HTTP/1.1 431 Request Header Fields Too Large\r\n" +
			"Content-Type: text/plain; charset=utf-8\r\nContent-Length: 32\r\nConnection: close\r\n" +
			"Server: edge\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\n\r\nRequest Header Fields Too Large\n"},
		{"unregistered", &Error{Status: 499, Reason: "client went away"}, "", false, "HTTP/1.1 499 \r\n" +
			"Content-Type: text/plain; charset=utf-8\r\nContent-Length: 17\r\nConnection: close\r\n\r\nclient went away\n"},
		{"nil", nil, "", false, "HTTP/1.1 500 Internal Server Error\r\n" +
			"Content-Type: text/plain; charset=utf-8\r\nContent-Length: 22\r\nConnection: close\r\n\r\nInternal Server Error\n"},
	}
	clock := &Clock{now: func() time.Time { return time.Date(1994, 11, 6, 8, 49, 37, 0, time.UTC) }}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			var got []byte
			if c.clock {
				got = AppendErrorDate(nil, c.e, c.server, clock)
			} else {
				got = AppendError(nil, c.e, c.server)
			}
			if string(got) != c.want {
				t.Fatalf("got\n%q\nwant\n%q", got, c.want)
			}
			// A real client reads it as a complete response.
			resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(got)), nil)
			if err != nil {
				t.Fatal(err)
			}
			body, err := io.ReadAll(resp.Body)
			if err != nil || int64(len(body)) != resp.ContentLength || !resp.Close {
				t.Fatalf("body %q (%v), Content-Length %d, Close %v", body, err, resp.ContentLength, resp.Close)
			}
		})
	}
}

func TestResponseNoAllocs(t *testing.T) {
	clock := &Clock{now: func() time.Time { return time.Date(1994, 11, 6, 8, 49, 37, 0, time.UTC) }}
	buf := make([]byte, 0, 512)
	for name, f := range map[string]func(){
		"AppendStatusLine":    func() { AppendStatusLine(buf, 200) },
		"AppendStatusLine299": func() { AppendStatusLine(buf, 299) },
		"AppendDate":          func() { clock.AppendDate(buf) },
		"AppendError":         func() { AppendError(buf, ErrMethodNotAllowed, "edge") },
		"AppendErrorDate":     func() { AppendErrorDate(buf, errTooManyFields, "edge", clock) },
	} {
		if a := testing.AllocsPerRun(100, f); a != 0 {
			t.Errorf("%s: %v allocs", name, a)
		}
	}
}
