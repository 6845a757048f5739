package hooks

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

// countClient counts replies.
type countClient struct {
	recClient
	n    atomic.Int64
	wake chan struct{}
}

func (c *countClient) Send(bool, []byte) bool {
	c.n.Add(1)
	select {
	case c.wake <- struct{}{}:
	default:
	}
	return true
}

func benchHooks(b *testing.B, wait int) (*Hooks, *countClient) {
	srv := newBenchBackend(b)
	cfg := Config{URL: srv + "/hooks", Logger: quietLogger(), Queue: 1 << 16, Workers: 1}
	if wait < 0 {
		cfg.BatchWait = -1
	}
	h, err := New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(h.Close)
	c := &countClient{recClient: *newRec(1), wake: make(chan struct{}, 1)}
	h.Open(c, nil)
	return h, c
}

// BenchmarkRoundTrip: one message, then wait for its reply (serial).
func BenchmarkRoundTrip(b *testing.B) {
	h, c := benchHooks(b, -1)
	msg := []byte("hello")
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		h.Message(c, false, msg)
		for c.n.Load() < int64(i+1) {
			<-c.wake
		}
	}
}

// BenchmarkThroughput: b.N messages queued, batched, all replied.
func BenchmarkThroughput(b *testing.B) {
	h, c := benchHooks(b, -1)
	msg := []byte("hello")
	b.ReportAllocs()
	b.ResetTimer()
	sent := 0
	for sent < b.N {
		if h.Message(c, false, msg) {
			sent++
		} else {
			<-c.wake // the queue is full: let it drain
		}
	}
	for c.n.Load() < int64(b.N) {
		<-c.wake
	}
}

func newBenchBackend(b *testing.B) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		n := strings.Count(string(body), `"client"`)
		if r.Header.Get("Edge-Hook") == "connect" {
			writeJSON(w, `{"accept": true}`)
			return
		}
		writeJSON(w, "["+strings.TrimSuffix(strings.Repeat(`{"reply":"r"},`, n), ",")+"]")
	}))
	b.Cleanup(srv.Close)
	return srv.URL
}
