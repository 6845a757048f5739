package main

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// apiPublisher posts messages to edge's control API (POST /api/publish)
// from -window goroutines over keep-alive connections, so that the epoll
// loop never waits for an answer.
type apiPublisher struct {
	o      *options
	client *http.Client
	q      chan []byte
	wg     sync.WaitGroup
	ok     atomic.Int64
	errs   errTally
	failed atomic.Int64
}

func newAPIPublisher(o *options) *apiPublisher {
	a := &apiPublisher{
		o: o,
		client: &http.Client{
			Timeout: o.msgTimeout,
			Transport: &http.Transport{
				MaxIdleConnsPerHost: o.window + 1,
				DisableCompression:  true,
			},
		},
		q: make(chan []byte, ringSize),
	}
	for range o.window + 1 {
		a.wg.Add(1)
		go a.run()
	}
	return a
}

// publish queues the message with payload p (ASCII, no JSON escaping
// needed: digits, spaces and 'x'); it never blocks the loop for long (the
// queue holds more than -window messages).
func (a *apiPublisher) publish(p []byte) {
	body := fmt.Appendf(nil, `{"tag":%q,"data":"%s"}`, a.o.tag, p)
	a.q <- body
}

func (a *apiPublisher) run() {
	defer a.wg.Done()
	for body := range a.q {
		if err := a.post(body); err != nil {
			a.failed.Add(1)
			a.errs.add(err)
		} else {
			a.ok.Add(1)
		}
	}
}

func (a *apiPublisher) post(body []byte) error {
	req, err := http.NewRequest(http.MethodPost, a.o.publishURL, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if a.o.token != "" {
		req.Header.Set("Authorization", "Bearer "+a.o.token)
	}
	resp, err := a.client.Do(req)
	if err != nil {
		return fmt.Errorf("publish: %w", err)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4096))
	resp.Body.Close()
	if err != nil {
		return fmt.Errorf("publish: read answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("publish: status %d: %s", resp.StatusCode, bytes.TrimSpace(b))
	}
	return nil
}

// close stops the goroutines after the queued requests (bounded by the
// client's timeout).
func (a *apiPublisher) close() {
	close(a.q)
	done := make(chan struct{})
	go func() { a.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(2 * a.o.msgTimeout):
	}
	a.errs.report("api")
	fmt.Printf("wsfan api published=%d failed=%d\n", a.ok.Load(), a.failed.Load())
}
