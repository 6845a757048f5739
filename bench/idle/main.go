// Command idle measures how much memory a server process spends per idle
// keep-alive connection.
//
// Typical usage:
//
//	go run ./idle -addr 127.0.0.1:18089 -pid 1234 -n 10000
//
// It reads the server's memory (VmRSS from /proc/PID/status, and Pss and
// Private_Clean+Private_Dirty from /proc/PID/smaps_rollup when readable; with
// several -pid values the figures are summed), opens N TCP connections from
// several 127.0.0.x source addresses, sends one complete keep-alive GET on
// each and reads its whole response, so that every connection has been
// through the server's request path and now sits idle in keep-alive. Once the
// server's RSS is stable it reads the memory again and prints
//
//	idle conns=N rss_before=B rss_after=A per_conn_bytes=(A-B)/N
//
// followed by the Pss and Private figures and, with -verify (the default), a
// second request on every connection to prove that the server had kept them
// all open. Memory is measured before that second request. Kernel socket
// buffers are not part of a process's RSS and are not counted.
//
// With -tls every connection first makes a TLS handshake (crypto/tls,
// certificate not verified, server name -sni, X25519 only (-p256: P-256
// only, for BoringCrypto servers), no session cache), so the figures are per idle TLS keep-alive connection.
//
// Every step is bounded: dials and reads have timeouts, at most -concurrency
// dials are in flight, and the whole run ends after -timeout.
package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"github.com/edge-rt/edge/bench/internal/procmem"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

type options struct {
	addr        string
	pids        []int
	n           int
	path        string
	host        string
	sources     []netip.Addr
	concurrency int
	dialTimeout time.Duration
	ioTimeout   time.Duration
	timeout     time.Duration
	settleEvery time.Duration
	settleMax   time.Duration
	settleTol   int64
	verify      bool
	tls         *tls.Config // nil: plain TCP
}

func main() {
	o, err := parseFlags()
	if err != nil {
		fmt.Fprintln(os.Stderr, "idle:", err)
		os.Exit(2)
	}
	// A last resort, in case something blocks where no deadline reaches.
	time.AfterFunc(o.timeout+30*time.Second, func() {
		fmt.Fprintln(os.Stderr, "idle: watchdog: run exceeded -timeout by 30s")
		os.Exit(3)
	})
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "idle:", err)
		os.Exit(1)
	}
}

func parseFlags() (*options, error) {
	o := &options{}
	var pidList, sources string
	flag.StringVar(&o.addr, "addr", "127.0.0.1:18089", "server `host:port` (a loopback IP literal)")
	flag.StringVar(&pidList, "pid", "", "server `pid`s to measure, comma-separated (summed), e.g. nginx master,worker")
	flag.IntVar(&o.n, "n", 10000, "number of idle connections")
	flag.StringVar(&o.path, "path", "/", "request path")
	flag.StringVar(&o.host, "host", "", "Host header (default: -addr)")
	flag.StringVar(&sources, "sources", "127.0.0.1-127.0.0.20", "source addresses: `list` of IPs or ranges A-B in 127.0.0.0/8")
	flag.IntVar(&o.concurrency, "concurrency", 200, "connections being opened at once")
	flag.DurationVar(&o.dialTimeout, "dial-timeout", 5*time.Second, "timeout of one dial")
	flag.DurationVar(&o.ioTimeout, "io-timeout", 10*time.Second, "timeout of one request/response exchange")
	flag.DurationVar(&o.timeout, "timeout", 3*time.Minute, "timeout of the whole run")
	flag.DurationVar(&o.settleEvery, "settle-interval", time.Second, "memory poll interval while waiting for RSS to settle")
	flag.DurationVar(&o.settleMax, "settle-max", 15*time.Second, "longest wait for RSS to settle")
	flag.Int64Var(&o.settleTol, "settle-tolerance", 64<<10, "RSS is settled when two polls differ by at most this many `bytes`")
	flag.BoolVar(&o.verify, "verify", true, "after measuring, send a second request on every connection")
	useTLS := flag.Bool("tls", false, "connect with TLS (certificate not verified)")
	sni := flag.String("sni", "localhost", "with -tls: the server name (SNI) to send")
	p256 := flag.Bool("p256", false, "with -tls: offer P-256 instead of X25519 (for servers without X25519, e.g. BoringCrypto builds)")
	flag.Parse()
	if flag.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", flag.Args())
	}

	ap, err := netip.ParseAddrPort(o.addr)
	if err != nil {
		return nil, fmt.Errorf("-addr: %v", err)
	}
	if !ap.Addr().IsLoopback() {
		return nil, fmt.Errorf("-addr %s is not a loopback address", o.addr)
	}
	if o.host == "" {
		o.host = o.addr
	}
	if !strings.HasPrefix(o.path, "/") || strings.ContainsAny(o.path, " \r\n") {
		return nil, fmt.Errorf("-path %q must start with / and contain no spaces", o.path)
	}
	if pidList == "" {
		return nil, errors.New("-pid is required")
	}
	for f := range strings.SplitSeq(pidList, ",") {
		pid, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || pid <= 0 {
			return nil, fmt.Errorf("-pid: bad pid %q", f)
		}
		o.pids = append(o.pids, pid)
	}
	if o.n <= 0 {
		return nil, errors.New("-n must be positive")
	}
	if o.concurrency <= 0 {
		return nil, errors.New("-concurrency must be positive")
	}
	o.sources, err = parseSources(sources, ap.Addr().Is4())
	if err != nil {
		return nil, fmt.Errorf("-sources: %v", err)
	}
	if *useTLS {
		o.tls = &tls.Config{
			InsecureSkipVerify: true, // a self-signed test certificate
			ServerName:         *sni,
			// One group for every server: crypto/tls servers would
			// otherwise pick X25519MLKEM768, OpenSSL 3.0 ones X25519.
			CurvePreferences: []tls.CurveID{tls.X25519},
		}
		if *p256 {
			o.tls.CurvePreferences = []tls.CurveID{tls.CurveP256}
		}
	}
	return o, nil
}

// parseSources parses "127.0.0.1-127.0.0.20,127.0.1.1": IPs and inclusive
// ranges, at most 1024 addresses, all loopback.
func parseSources(s string, v4 bool) ([]netip.Addr, error) {
	var out []netip.Addr
	for f := range strings.SplitSeq(s, ",") {
		f = strings.TrimSpace(f)
		lo, hi, isRange := strings.Cut(f, "-")
		a, err := netip.ParseAddr(lo)
		if err != nil {
			return nil, err
		}
		b := a
		if isRange {
			if b, err = netip.ParseAddr(hi); err != nil {
				return nil, err
			}
		}
		if b.Less(a) {
			return nil, fmt.Errorf("empty range %q", f)
		}
		for x := a; ; x = x.Next() {
			if !x.IsLoopback() {
				return nil, fmt.Errorf("%s is not a loopback address", x)
			}
			if x.Is4() != v4 {
				return nil, fmt.Errorf("%s is not of the same family as -addr", x)
			}
			out = append(out, x)
			if len(out) > 1024 {
				return nil, errors.New("more than 1024 source addresses")
			}
			if x == b {
				break
			}
		}
	}
	return out, nil
}

// settle polls the memory until two readings in a row differ by at most the
// tolerance, or settleMax passes.
func settle(ctx context.Context, o *options, what string) (procmem.Mem, error) {
	prev, err := procmem.Read(o.pids)
	if err != nil {
		return prev, err
	}
	deadline := time.Now().Add(o.settleMax)
	for time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return prev, ctx.Err()
		case <-time.After(o.settleEvery):
		}
		cur, err := procmem.Read(o.pids)
		if err != nil {
			return cur, err
		}
		if d := cur.RSS - prev.RSS; d <= o.settleTol && d >= -o.settleTol {
			return cur, nil
		}
		prev = cur
	}
	fmt.Fprintf(os.Stderr, "idle: warning: RSS %s did not settle within %v (last %d bytes)\n", what, o.settleMax, prev.RSS)
	return prev, nil
}

// errTally counts errors by kind (the text after the last ": ", so that
// addresses do not split them) and keeps one full message of each kind.
type errTally struct {
	mu      sync.Mutex
	counts  map[string]int
	example map[string]string
}

func (t *errTally) add(err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.counts == nil {
		t.counts = make(map[string]int)
		t.example = make(map[string]string)
	}
	msg := err.Error()
	kind := msg
	if i := strings.LastIndex(msg, ": "); i >= 0 {
		kind = msg[i+2:]
	}
	if t.counts[kind] == 0 {
		t.example[kind] = msg
	}
	t.counts[kind]++
}

func (t *errTally) report(what string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for kind, n := range t.counts {
		fmt.Fprintf(os.Stderr, "idle: %s error x%d: %s\n", what, n, t.example[kind])
	}
}

// exchange sends one GET on c and reads the whole response.
func exchange(c net.Conn, req []byte, timeout time.Duration) error {
	if err := c.SetDeadline(time.Now().Add(timeout)); err != nil {
		return err
	}
	if _, err := c.Write(req); err != nil {
		return err
	}
	// A small reader: it is dropped after the response, the conn stays.
	br := bufio.NewReaderSize(c, 512)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	if resp.Close {
		return errors.New("server asked to close the connection")
	}
	if br.Buffered() != 0 {
		return fmt.Errorf("%d unexpected bytes after the response", br.Buffered())
	}
	return c.SetDeadline(time.Time{})
}

// handshake runs a TLS client handshake on c, within -io-timeout.
func handshake(ctx context.Context, c net.Conn, o *options) (net.Conn, error) {
	tc := tls.Client(c, o.tls)
	hctx, cancel := context.WithTimeout(ctx, o.ioTimeout)
	defer cancel()
	if err := tc.HandshakeContext(hctx); err != nil {
		c.Close()
		return nil, fmt.Errorf("tls handshake: %w", err)
	}
	return tc, nil
}

func run(o *options) error {
	if err := procmem.RaiseNofile(o.n + 64); err != nil {
		return err
	}
	if per := (o.n + len(o.sources) - 1) / len(o.sources); per > 20000 {
		return fmt.Errorf("%d connections per source address is too many for the ephemeral port range; add -sources", per)
	}
	ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
	defer cancel()
	start := time.Now()

	before, err := settle(ctx, o, "before")
	if err != nil {
		return err
	}

	req := []byte("GET " + o.path + " HTTP/1.1\r\nHost: " + o.host + "\r\nUser-Agent: edge-bench-idle\r\nAccept: */*\r\n\r\n")
	conns := make([]net.Conn, o.n)
	var (
		wg     sync.WaitGroup
		sem    = make(chan struct{}, o.concurrency)
		errs   errTally
		opened atomic.Int64
	)
	defer func() {
		for _, c := range conns {
			if c != nil {
				c.Close()
			}
		}
	}()
	proto := "TCP"
	if o.tls != nil {
		proto = "TLS"
	}
	fmt.Fprintf(os.Stderr, "idle: opening %d %s connections to %s from %d source addresses\n", o.n, proto, o.addr, len(o.sources))
launch:
	for i := range o.n {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			break launch
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			d := net.Dialer{
				Timeout:   o.dialTimeout,
				KeepAlive: -1, // no TCP keep-alive probes: the connection stays quiet
				LocalAddr: &net.TCPAddr{IP: o.sources[i%len(o.sources)].AsSlice()},
			}
			c, err := d.DialContext(ctx, "tcp", o.addr)
			if err != nil {
				errs.add(err)
				return
			}
			if o.tls != nil {
				if c, err = handshake(ctx, c, o); err != nil {
					errs.add(err)
					return
				}
			}
			if err := exchange(c, req, o.ioTimeout); err != nil {
				c.Close()
				errs.add(err)
				return
			}
			conns[i] = c
			opened.Add(1)
		}()
	}
	wg.Wait()
	errs.report("connect")
	n := opened.Load()
	fmt.Fprintf(os.Stderr, "idle: %d/%d connections idle in keep-alive after %v\n", n, o.n, time.Since(start).Round(time.Millisecond))
	if n == 0 {
		return errors.New("no connection succeeded")
	}

	after, err := settle(ctx, o, "after")
	if err != nil {
		return err
	}
	fmt.Printf("idle conns=%d rss_before=%d rss_after=%d per_conn_bytes=%d\n",
		n, before.RSS, after.RSS, (after.RSS-before.RSS)/n)
	if before.Rollup && after.Rollup {
		fmt.Printf("idle pss_before=%d pss_after=%d pss_per_conn_bytes=%d private_before=%d private_after=%d private_per_conn_bytes=%d\n",
			before.PSS, after.PSS, (after.PSS-before.PSS)/n,
			before.Private, after.Private, (after.Private-before.Private)/n)
	}

	var failed error
	if n != int64(o.n) {
		failed = fmt.Errorf("only %d of %d connections opened", n, o.n)
	}
	if o.verify {
		var alive atomic.Int64
		var verrs errTally
		for _, c := range conns {
			if c == nil {
				continue
			}
			if ctx.Err() != nil {
				break
			}
			sem <- struct{}{}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				if err := exchange(c, req, o.ioTimeout); err != nil {
					verrs.add(err)
					return
				}
				alive.Add(1)
			}()
		}
		wg.Wait()
		verrs.report("verify")
		fmt.Printf("idle verify alive=%d/%d\n", alive.Load(), n)
		if alive.Load() != n && failed == nil {
			failed = fmt.Errorf("%d of %d idle connections no longer answered", n-alive.Load(), n)
		}
	}
	fmt.Fprintf(os.Stderr, "idle: done in %v\n", time.Since(start).Round(time.Millisecond))
	return failed
}
