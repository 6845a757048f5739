// Command apipub measures the publish throughput of edge's control API:
// -c goroutines POST /api/publish over keep-alive connections for -dur, to
// a tag that -clients WebSocket clients of a chat stream hold, and counts
// what those clients receive (every message must reach every one of them,
// exactly once).
//
// Typical usage (see bench/README.md and bench/nats.sh):
//
//	go run ./apipub -url 'ws://127.0.0.1:18091/ws?room=bench' \
//		-publish http://127.0.0.1:19091/api/publish -tag room:bench -c 8 -dur 5s
//	go run ./apipub ... -batch 100   # the batch form: 100 messages a request
//
// Each message is "<goroutine>-<sequence>" padded to -size bytes. With
// -batch N a request carries N messages (the JSON array form). After -dur
// it waits (at most -drain) until the clients got every message published
// with a 200 answer, then prints one line of key=value figures: requests/s,
// messages/s, failed requests, and delivered, missing and duplicate
// receipts. It exits 1 when a receipt is missing or duplicated.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
)

type options struct {
	url        string
	publishURL string
	tag        string
	token      string
	clients    int
	conc       int
	batch      int
	size       int
	dur        time.Duration
	drain      time.Duration
	timeout    time.Duration
}

func main() {
	o := &options{}
	flag.StringVar(&o.url, "url", "ws://127.0.0.1:18091/ws?room=bench", "ws:// URL of the chat stream whose clients hold -tag")
	flag.StringVar(&o.publishURL, "publish", "http://127.0.0.1:19091/api/publish", "the control API's publish URL")
	flag.StringVar(&o.tag, "tag", "room:bench", "the tag to publish to")
	flag.StringVar(&o.token, "token", "", "the control API's bearer token")
	flag.IntVar(&o.clients, "clients", 4, "WebSocket clients of the tag (readers)")
	flag.IntVar(&o.conc, "c", 8, "concurrent publishers (each one keep-alive connection)")
	flag.IntVar(&o.batch, "batch", 0, "messages per request in the batch (JSON array) form; 0: the single form")
	flag.IntVar(&o.size, "size", 64, "message `bytes`")
	flag.DurationVar(&o.dur, "dur", 5*time.Second, "publishing time")
	flag.DurationVar(&o.drain, "drain", 10*time.Second, "longest wait for the clients to get every message")
	flag.DurationVar(&o.timeout, "timeout", 5*time.Second, "timeout of one request, dial or handshake")
	flag.Parse()
	if o.clients <= 0 || o.conc <= 0 || o.batch < 0 || o.batch > 10000 || o.size < 16 || o.size > 64<<10 {
		fmt.Fprintln(os.Stderr, "apipub: -clients and -c must be positive, -batch within 0..10000, -size within 16..65536")
		os.Exit(2)
	}
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "apipub:", err)
		os.Exit(1)
	}
}

// reader is one WebSocket client: it counts the receipts of each message.
type reader struct {
	mu   sync.Mutex
	seen map[string]int
	recv atomic.Int64
	err  error
}

func (r *reader) loop(conn net.Conn) {
	for {
		data, op, err := wsutil.ReadServerData(conn)
		if err != nil {
			r.mu.Lock()
			r.err = err
			r.mu.Unlock()
			return
		}
		if op != ws.OpText {
			continue
		}
		id, _, _ := bytes.Cut(data, []byte{' '})
		r.mu.Lock()
		r.seen[string(id)]++
		r.mu.Unlock()
		if string(id) != "probe" {
			r.recv.Add(1)
		}
	}
}

func run(o *options) error {
	ctx, cancel := context.WithTimeout(context.Background(), o.dur+o.drain+4*o.timeout+30*time.Second)
	defer cancel()
	readers := make([]*reader, o.clients)
	for i := range readers {
		d := ws.Dialer{Timeout: o.timeout}
		conn, br, _, err := d.Dial(ctx, o.url)
		if err != nil {
			return fmt.Errorf("dial %s: %w", o.url, err)
		}
		if br != nil {
			ws.PutReader(br)
		}
		defer conn.Close()
		r := &reader{seen: make(map[string]int)}
		readers[i] = r
		go r.loop(conn)
	}
	client := &http.Client{
		Timeout:   o.timeout,
		Transport: &http.Transport{MaxIdleConnsPerHost: o.conc, DisableCompression: true},
	}
	// A first publish, answered with queued >= clients, shows that they all
	// hold the tag (they join as they connect).
	deadline := time.Now().Add(o.timeout)
	for {
		q, err := post(client, o, fmt.Appendf(nil, `{"tag":%q,"data":"probe probe"}`, o.tag))
		if err != nil {
			return err
		}
		if q >= o.clients {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("publish answered queued=%d, want at least %d clients", q, o.clients)
		}
		time.Sleep(50 * time.Millisecond)
	}
	var (
		wg                 sync.WaitGroup
		reqs, msgs, failed atomic.Int64
		errMu              sync.Mutex
		firstErr           error
		published          = make([][]string, o.conc)
		stop               = time.Now().Add(o.dur)
		start              = time.Now()
		per                = max(o.batch, 1)
		recv0              int64
	)
	for _, r := range readers {
		recv0 += r.recv.Load()
	}
	for g := range o.conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var body []byte
			seq := 0
			for time.Now().Before(stop) && ctx.Err() == nil {
				body = body[:0]
				ids := make([]string, 0, per)
				if o.batch > 0 {
					body = append(body, '[')
				}
				for k := range per {
					seq++
					id := strconv.Itoa(g) + "-" + strconv.Itoa(seq)
					ids = append(ids, id)
					if k > 0 {
						body = append(body, ',')
					}
					body = fmt.Appendf(body, `{"tag":%q,"data":"%s %s"}`, o.tag, id, strings.Repeat("x", max(0, o.size-len(id)-1)))
				}
				if o.batch > 0 {
					body = append(body, ']')
				}
				if _, err := post(client, o, body); err != nil {
					failed.Add(1)
					errMu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					errMu.Unlock()
					continue
				}
				reqs.Add(1)
				msgs.Add(int64(per))
				published[g] = append(published[g], ids...)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start).Seconds()
	want := msgs.Load() * int64(o.clients)
	drainEnd := time.Now().Add(o.drain)
	got := func() int64 {
		var n int64
		for _, r := range readers {
			n += r.recv.Load()
		}
		return n - recv0
	}
	for got() < want && time.Now().Before(drainEnd) {
		time.Sleep(20 * time.Millisecond)
	}
	var missing, dups int64
	for _, r := range readers {
		r.mu.Lock()
		for _, ids := range published {
			for _, id := range ids {
				switch n := r.seen[id]; {
				case n == 0:
					missing++
				case n > 1:
					dups += int64(n - 1)
				}
			}
		}
		if r.err != nil {
			errMu.Lock()
			if firstErr == nil {
				firstErr = fmt.Errorf("client: %w", r.err)
			}
			errMu.Unlock()
		}
		r.mu.Unlock()
	}
	form := "single"
	if o.batch > 0 {
		form = "batch" + strconv.Itoa(o.batch)
	}
	fmt.Printf("apipub form=%s c=%d clients=%d elapsed_s=%.2f requests=%d req_per_s=%.0f msgs_per_s=%.0f failed=%d delivered=%d want=%d missing=%d duplicates=%d\n",
		form, o.conc, o.clients, elapsed, reqs.Load(), float64(reqs.Load())/elapsed, float64(msgs.Load())/elapsed,
		failed.Load(), got(), want, missing, dups)
	if firstErr != nil {
		fmt.Fprintln(os.Stderr, "apipub: first error:", firstErr)
	}
	if missing > 0 || dups > 0 {
		return errors.New("receipts missing or duplicated")
	}
	if failed.Load() > 0 {
		return fmt.Errorf("%d requests failed", failed.Load())
	}
	return nil
}

// post sends one publish and returns the answer's "queued".
func post(c *http.Client, o *options, body []byte) (int, error) {
	req, err := http.NewRequest(http.MethodPost, o.publishURL, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	if o.token != "" {
		req.Header.Set("Authorization", "Bearer "+o.token)
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, fmt.Errorf("publish: %w", err)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4096))
	resp.Body.Close()
	if err != nil {
		return 0, fmt.Errorf("publish: read answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("publish: status %d: %s", resp.StatusCode, bytes.TrimSpace(b))
	}
	// {"queued":N} or {"queued":N,"messages":M}
	s := string(b)
	i := strings.Index(s, `"queued":`)
	if i < 0 {
		return 0, fmt.Errorf("publish: answer %q has no queued", s)
	}
	s = s[i+len(`"queued":`):]
	j := strings.IndexAny(s, ",}")
	if j < 0 {
		return 0, fmt.Errorf("publish: bad answer %q", b)
	}
	return strconv.Atoi(strings.TrimSpace(s[:j]))
}
