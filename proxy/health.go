package proxy

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/textproto"
	"strconv"
	"strings"
	"sync"
	"time"
)

// healthLoop runs the active checks of r until ctx is done.
func (r *Route) healthLoop(ctx context.Context, onHealth func(*Backend, bool)) {
	defer close(r.st.done)
	hc := r.HealthCheck
	log := r.Logger
	if log == nil {
		log = slog.Default()
	}
	bs := r.Backends()
	// The state last logged for each backend: a transition is logged once.
	wasUp := make([]bool, len(bs))
	for i := range wasUp {
		wasUp[i] = true
	}
	errs := make([]error, len(bs))
	t := time.NewTicker(hc.Interval)
	defer t.Stop()
	for {
		var wg sync.WaitGroup
		for i, b := range bs {
			wg.Go(func() { errs[i] = check(ctx, b, hc) })
		}
		wg.Wait()
		if ctx.Err() != nil {
			return
		}
		for i, b := range bs {
			if errs[i] == nil {
				b.checkDown.Store(false)
				b.Succeed()
				if !wasUp[i] {
					log.Info("proxy: backend up", "backend", b.Addr)
					if onHealth != nil {
						onHealth(b, true)
					}
				}
			} else {
				b.checkDown.Store(true)
				if wasUp[i] {
					log.Warn("proxy: backend down", "backend", b.Addr, "err", errs[i])
					if onHealth != nil {
						onHealth(b, false)
					}
				}
			}
			wasUp[i] = errs[i] == nil
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// check checks b once: a connect, then, when hc.Path is set, a GET of it
// whose status must be 2xx or 3xx.
func check(ctx context.Context, b *Backend, hc *HealthCheck) (err error) {
	ctx, cancel := context.WithTimeout(ctx, hc.Timeout)
	defer cancel()
	var d net.Dialer
	c, err := d.DialContext(ctx, b.network, b.dialAddr())
	if err != nil {
		return fmt.Errorf("proxy: health check %s: %w", b.Addr, err)
	}
	defer c.Close()
	if hc.Path == "" {
		return nil
	}
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	host := b.Addr
	if b.network == "unix" {
		host = "localhost"
	}
	req := "GET " + hc.Path + " HTTP/1.1\r\nHost: " + host +
		"\r\nUser-Agent: edge-health-check\r\nConnection: close\r\n\r\n"
	if _, err := c.Write([]byte(req)); err != nil {
		return fmt.Errorf("proxy: health check %s: %w", b.Addr, err)
	}
	line, err := textproto.NewReader(bufio.NewReaderSize(c, 512)).ReadLine()
	if err != nil {
		return fmt.Errorf("proxy: health check %s: %w", b.Addr, err)
	}
	code, err := statusCode(line)
	if err != nil {
		return fmt.Errorf("proxy: health check %s: %w", b.Addr, err)
	}
	if code < 200 || code >= 400 {
		return fmt.Errorf("proxy: health check %s: status %d", b.Addr, code)
	}
	return nil
}

// statusCode parses the code of an HTTP/1.x status line.
func statusCode(line string) (int, error) {
	rest, ok := strings.CutPrefix(line, "HTTP/1.")
	if !ok || len(rest) < 5 || rest[1] != ' ' || (len(rest) > 5 && rest[5] != ' ') {
		return 0, errors.New("malformed status line")
	}
	code, err := strconv.Atoi(rest[2:5])
	if err != nil || code < 100 {
		return 0, errors.New("malformed status code")
	}
	return code, nil
}
