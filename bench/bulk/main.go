// Command bulk measures bulk throughput over one TCP connection that starts
// with a TLS ClientHello, such as a connection through an SNI passthrough
// proxy. It has two halves:
//
//	bulk -serve 127.0.0.1:18449 [-size 1GiB] [-cert C -key K]
//	bulk -get 127.0.0.1:18448 -sni bulk.test [-size 1GiB] [-tls]
//
// Raw (no -cert on the server, no -tls on the client): the client sends one
// real TLS ClientHello record (made by crypto/tls with the -sni name, so a
// proxy can route it) and then only reads; the server reads that record and
// writes -size bytes of a fixed pseudo-random pattern, then closes. No TLS
// is spoken after the hello: the bytes are the proxy's cost plus the
// kernel's, nothing else.
//
// TLS (-cert/-key on the server, -tls on the client): a TLS 1.3 handshake
// (crypto/tls both ends, certificate not verified, X25519, no tickets; the
// server picks AES-128-GCM on CPUs with AES instructions),
// then the server writes -size bytes of the pattern and closes: what a client
// fetching a large body through a passthrough proxy sees.
//
// The client checks every byte against the pattern and the total against
// -size, and prints
//
//	bulk bytes=N elapsed_s=S mib_per_s=R client_cpu_s=C client_cpu_pct=P tls=false
//
// The time runs from the dial to the last byte. It exits non-zero on any
// error, a short transfer or a wrong byte. The server serves any number of
// connections, each in its own goroutine, until killed.
package main

import (
	"bytes"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"syscall"
	"time"
)

const blockSize = 64 << 10

// pattern is the block the server repeats: a fixed xorshift sequence, so a
// byte out of place or from the wrong offset shows.
func pattern() []byte {
	b := make([]byte, blockSize)
	x := uint64(0x9e3779b97f4a7c15)
	for i := range b {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		b[i] = byte(x >> 32)
	}
	return b
}

func main() {
	serve := flag.String("serve", "", "serve on this loopback `host:port`")
	get := flag.String("get", "", "fetch from this loopback `host:port`")
	sizeStr := flag.String("size", "1GiB", "bytes per connection (suffixes KiB, MiB, GiB)")
	cert := flag.String("cert", "", "server: TLS certificate chain (PEM); with -key, serve TLS")
	key := flag.String("key", "", "server: TLS private key (PEM)")
	useTLS := flag.Bool("tls", false, "client: speak TLS after the hello (the server must have -cert)")
	sni := flag.String("sni", "localhost", "client: the server name in the ClientHello")
	timeout := flag.Duration("timeout", 2*time.Minute, "client: the whole transfer")
	flag.Parse()
	if flag.NArg() > 0 {
		fail(fmt.Errorf("unexpected arguments %q", flag.Args()))
	}
	size, err := parseSize(*sizeStr)
	if err != nil {
		fail(fmt.Errorf("-size: %w", err))
	}
	switch {
	case *serve != "" && *get == "":
		if err := loopback(*serve); err != nil {
			fail(err)
		}
		var cfg *tls.Config
		if *cert != "" || *key != "" {
			pair, err := tls.LoadX509KeyPair(*cert, *key)
			if err != nil {
				fail(fmt.Errorf("load key pair: %w", err))
			}
			cfg = &tls.Config{
				Certificates:           []tls.Certificate{pair},
				MinVersion:             tls.VersionTLS13,
				SessionTicketsDisabled: true,
			}
		}
		fail(runServer(*serve, size, cfg))
	case *get != "" && *serve == "":
		if err := loopback(*get); err != nil {
			fail(err)
		}
		if err := runClient(*get, *sni, size, *useTLS, *timeout); err != nil {
			fail(err)
		}
	default:
		fail(errors.New("give exactly one of -serve and -get"))
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "bulk:", err)
	os.Exit(1)
}

func loopback(addr string) error {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return fmt.Errorf("address %q: %w", addr, err)
	}
	if !ap.Addr().IsLoopback() {
		return fmt.Errorf("%s is not a loopback address", addr)
	}
	return nil
}

func parseSize(s string) (int64, error) {
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		m      int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if n, ok := bytes.CutSuffix([]byte(s), []byte(u.suffix)); ok {
			s, mult = string(n), u.m
			break
		}
	}
	var n int64
	if _, err := fmt.Sscan(s, &n); err != nil || n <= 0 {
		return 0, fmt.Errorf("bad size %q", s)
	}
	return n * mult, nil
}

func runServer(addr string, size int64, cfg *tls.Config) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	block := pattern()
	for {
		c, err := ln.Accept()
		if err != nil {
			return fmt.Errorf("accept: %w", err)
		}
		go func() {
			if err := serveConn(c, size, block, cfg); err != nil {
				fmt.Fprintln(os.Stderr, "bulk: serve:", err)
			}
		}()
	}
}

func serveConn(c net.Conn, size int64, block []byte, cfg *tls.Config) error {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Minute))
	var w io.Writer = c
	if cfg != nil {
		tc := tls.Server(c, cfg)
		if err := tc.Handshake(); err != nil {
			return fmt.Errorf("handshake: %w", err)
		}
		w = tc
		defer tc.Close()
	} else {
		// The ClientHello record: header, then its length.
		var h [5]byte
		if _, err := io.ReadFull(c, h[:]); err != nil {
			return fmt.Errorf("read hello header: %w", err)
		}
		if h[0] != 22 {
			return fmt.Errorf("first byte %d is not a TLS handshake record", h[0])
		}
		n := int64(h[3])<<8 | int64(h[4])
		if _, err := io.CopyN(io.Discard, c, n); err != nil {
			return fmt.Errorf("read hello: %w", err)
		}
	}
	// Writes of four blocks at a time (256 KiB) when the total allows.
	big := bytes.Repeat(block, 4)
	for left := size; left > 0; {
		b := big
		if int64(len(b)) > left {
			b = b[:left]
		}
		n, err := w.Write(b)
		left -= int64(n)
		if err != nil {
			return fmt.Errorf("write (%d bytes left): %w", left, err)
		}
	}
	return nil
}

// recorder is a net.Conn that keeps what crypto/tls writes and fails the
// first read: it captures a ClientHello.
type recorder struct {
	net.Conn
	buf bytes.Buffer
}

func (r *recorder) Write(b []byte) (int, error)           { return r.buf.Write(b) }
func (r *recorder) Read([]byte) (int, error)              { return 0, errors.New("captured") }
func (r *recorder) Close() error                          { return nil }
func (r *recorder) SetDeadline(time.Time) error           { return nil }
func (r *recorder) SetReadDeadline(time.Time) error       { return nil }
func (r *recorder) SetWriteDeadline(time.Time) error      { return nil }
func (r *recorder) LocalAddr() net.Addr                   { return &net.TCPAddr{} }
func (r *recorder) RemoteAddr() net.Addr                  { return &net.TCPAddr{} }
func (r *recorder) String() string                        { return "recorder" }
func (r *recorder) SyscallConn() (syscall.RawConn, error) { return nil, errors.ErrUnsupported }

func clientConfig(sni string) *tls.Config {
	return &tls.Config{
		InsecureSkipVerify: true, // a self-signed test certificate
		ServerName:         sni,
		CurvePreferences:   []tls.CurveID{tls.X25519},
		MinVersion:         tls.VersionTLS13,
	}
}

// helloRecord returns one ClientHello record as crypto/tls sends it for sni.
func helloRecord(sni string) ([]byte, error) {
	r := &recorder{}
	_ = tls.Client(r, clientConfig(sni)).Handshake()
	b := r.buf.Bytes()
	if len(b) < 5 || b[0] != 22 {
		return nil, errors.New("crypto/tls wrote no ClientHello record")
	}
	n := int(b[3])<<8 | int(b[4])
	if len(b) < 5+n {
		return nil, errors.New("short ClientHello record")
	}
	return b[:5+n], nil
}

func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

func runClient(addr, sni string, size int64, useTLS bool, timeout time.Duration) error {
	var hello []byte
	if !useTLS {
		var err error
		if hello, err = helloRecord(sni); err != nil {
			return err
		}
	}
	block := pattern()
	cpu0 := cpuSeconds()
	t0 := time.Now()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return fmt.Errorf("dial %s: %w", addr, err)
	}
	defer c.Close()
	if err := c.SetDeadline(t0.Add(timeout)); err != nil {
		return fmt.Errorf("set deadline: %w", err)
	}
	var r io.Reader = c
	if useTLS {
		tc := tls.Client(c, clientConfig(sni))
		if err := tc.Handshake(); err != nil {
			return fmt.Errorf("handshake: %w", err)
		}
		r = tc
	} else if _, err := c.Write(hello); err != nil {
		return fmt.Errorf("write hello: %w", err)
	}
	buf := make([]byte, 256<<10)
	var got int64
	for {
		n, err := r.Read(buf)
		if n > 0 {
			if got+int64(n) > size {
				return fmt.Errorf("more than %d bytes", size)
			}
			// Compare against the pattern at this offset, a block piece at a time.
			for p := buf[:n]; len(p) > 0; {
				off := int(got % blockSize)
				k := min(len(p), blockSize-off)
				if !bytes.Equal(p[:k], block[off:off+k]) {
					return fmt.Errorf("wrong bytes at offset %d..%d", got, got+int64(k))
				}
				p = p[k:]
				got += int64(k)
			}
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("read after %d bytes: %w", got, err)
		}
	}
	el := time.Since(t0)
	cpu := cpuSeconds() - cpu0
	if got != size {
		return fmt.Errorf("got %d bytes, want %d", got, size)
	}
	fmt.Printf("bulk bytes=%d elapsed_s=%.3f mib_per_s=%.1f client_cpu_s=%.3f client_cpu_pct=%.1f tls=%v\n",
		got, el.Seconds(), float64(got)/(1<<20)/el.Seconds(), cpu, 100*cpu/el.Seconds(), useTLS)
	return nil
}
