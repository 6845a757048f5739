package interop_test

// Interop tests with a second Go WebSocket implementation we did not write,
// github.com/coder/websocket: it exchanges text, binary, fragmented and
// compressed messages with edge, pings it, closes with codes, and breaks
// the rules edge must answer with 1007 and 1009. In the tests module so
// that the library's go.mod does not carry coder/websocket; the node `ws`
// interop test stays in the main module (interop_test.go).

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	gws "github.com/gobwas/ws"

	"github.com/edge-rt/edge"
	"github.com/edge-rt/edge/tlsbackend"
	"github.com/edge-rt/edge/tlsbackend/stdlib"
	"github.com/edge-rt/edge/ws"
)

// testServer starts a server with cfg (two workers and no logs unless
// set) and one plain listener on loopback that setup fills; it returns the
// server and the listener's address, and shuts the server down when the
// test ends.
func testServer(t testing.TB, cfg edge.Config, setup func(s *edge.Server, l *edge.Listener)) (*edge.Server, string) {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Workers == 0 {
		cfg.Workers = 2
	}
	s := edge.New(&cfg)
	l := s.Listen("tcp", "127.0.0.1:0")
	setup(s, l)
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return s, l.Addr().String()
}

// selfSigned returns a self-signed certificate for names and a pool that
// trusts it.
func selfSigned(t testing.TB, names ...string) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: names[0]}, DNSNames: names,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA: true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}

// tlsTestServer is testServer with TLS on the listener (the stdlib
// backend, a certificate for a.test and b.test); it also returns a pool
// trusting the certificate.
func tlsTestServer(t testing.TB, cfg edge.Config, setup func(s *edge.Server, l *edge.Listener)) (*edge.Server, string, *x509.CertPool) {
	t.Helper()
	cert, pool := selfSigned(t, "a.test", "b.test")
	ts, err := stdlib.New().NewServer(&tlsbackend.Config{
		GetCertificate: func(*tlsbackend.ClientHello) (*tls.Certificate, error) { return &cert, nil },
		NextProtos:     []string{"http/1.1"},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ts.Close() })
	s, addr := testServer(t, cfg, func(s *edge.Server, l *edge.Listener) {
		l.TLS(edge.TLSConfig{Server: ts, HandshakeTimeout: 2 * time.Second})
		setup(s, l)
	})
	return s, addr, pool
}

// interopSizes are the message sizes every peer exchanges: around the
// 7-bit, 16-bit and 64-bit length encodings, and 1 MiB.
var interopSizes = []int{0, 1, 125, 126, 65535, 65536, 1 << 20}

// interopCloses records OnClose per upgrade URL, for URLs with a query.
type interopCloses struct{ m sync.Map }

func (ic *interopCloses) wait(t testing.TB, url string) uint16 {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if v, ok := ic.m.Load(url); ok {
			return v.(uint16)
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("no OnClose for %s", url)
	return 0
}

// interopRoutes are the streams the peers talk to: echo with and without
// permessage-deflate, and the same with a 1000-byte message limit. Every
// stream echoes a message with its opcode and answers "close-me" with a
// close 4000 "as you wish".
func interopRoutes(l *edge.Listener, closes *interopCloses) {
	mk := func(max int64, compression bool) *edge.Stream {
		return &edge.Stream{
			Protocols:   []string{"chat.v2", "chat.v1"},
			MaxMessage:  max,
			QueueBytes:  4 << 20,
			Compression: compression,
			OnMessage: func(c *edge.Client, op ws.Opcode, data []byte) {
				if op == ws.OpText && string(data) == "close-me" {
					c.Close(4000, "as you wish")
					return
				}
				c.Send(op, data)
			},
			OnClose: func(c *edge.Client, code uint16, reason string) {
				if closes != nil && strings.Contains(c.URL(), "?") {
					closes.m.Store(c.URL(), code)
				}
			},
		}
	}
	l.Any().
		Stream("/echo", mk(2<<20, false)).
		Stream("/deflate", mk(2<<20, true)).
		Stream("/small", mk(1000, false)).
		Stream("/small-deflate", mk(1000, true))
}

// interopText returns n bytes of valid UTF-8 with 2- and 3-byte characters
// (the unit is 21 bytes: 'é' at offsets 1-2, 'ö' at 8-9, '€' at 14-16).
func interopText(n int) []byte {
	const unit = "héllo wörld €uro "
	b := bytes.Repeat([]byte(unit), n/len(unit)+1)[:n/len(unit)*len(unit)]
	return append(b, bytes.Repeat([]byte("a"), n-len(b))...)
}

// interopBinary returns n bytes: half random, half a repeating pattern.
func interopBinary(n int) []byte {
	b := make([]byte, n)
	rand.Read(b[:n/2])
	for i := n / 2; i < n; i++ {
		b[i] = byte(i % 251)
	}
	return b
}

// recConn records the bytes of a connection both ways, so tests can look
// at the frames on the wire.
type recConn struct {
	net.Conn
	mu         sync.Mutex
	sent, recv []byte
}

func (c *recConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.mu.Lock()
	c.recv = append(c.recv, p[:n]...)
	c.mu.Unlock()
	return n, err
}

func (c *recConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.mu.Lock()
	c.sent = append(c.sent, p[:n]...)
	c.mu.Unlock()
	return n, err
}

// wireFrame is one frame seen on the wire (payload unmasked).
type wireFrame struct {
	op      gws.OpCode
	fin     bool
	rsv1    bool
	payload []byte
}

func (f wireFrame) String() string {
	return fmt.Sprintf("{op %d fin %v rsv1 %v len %d}", f.op, f.fin, f.rsv1, len(f.payload))
}

// dataFrames parses the frames the client sent (sent) or received after
// the HTTP head, and returns the data frames (text, binary, continuation)
// among the complete ones.
func (c *recConn) dataFrames(t testing.TB, sent bool) []wireFrame {
	t.Helper()
	c.mu.Lock()
	b := c.recv
	if sent {
		b = c.sent
	}
	b = b[:len(b):len(b)]
	c.mu.Unlock()
	i := bytes.Index(b, []byte("\r\n\r\n"))
	if i < 0 {
		t.Fatalf("no HTTP head in %.100q", b)
	}
	r := bytes.NewReader(b[i+4:])
	var out []wireFrame
	for r.Len() > 0 {
		h, err := gws.ReadHeader(r)
		if err != nil || int64(r.Len()) < h.Length {
			break // an incomplete frame at the end
		}
		p := make([]byte, h.Length)
		io.ReadFull(r, p)
		if h.Masked != sent {
			t.Fatalf("frame masked %v, sent by the client %v", h.Masked, sent)
		}
		if h.Masked {
			gws.Cipher(p, h.Mask, 0)
		}
		if !h.OpCode.IsControl() {
			out = append(out, wireFrame{op: h.OpCode, fin: h.Fin, rsv1: h.Rsv1(), payload: p})
		}
	}
	return out
}

// coderDial connects github.com/coder/websocket to url through addr (the
// URL's host only names the server), recording the connection's bytes.
func coderDial(t testing.TB, ctx context.Context, url, addr string, opts websocket.DialOptions, tlsConf *tls.Config) (*websocket.Conn, *http.Response, *recConn) {
	t.Helper()
	var rec *recConn
	opts.HTTPClient = &http.Client{Transport: &http.Transport{
		TLSClientConfig: tlsConf,
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			rec = &recConn{Conn: c}
			return rec, nil
		},
	}}
	c, resp, err := websocket.Dial(ctx, url, &opts)
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	t.Cleanup(func() { c.CloseNow() })
	c.SetReadLimit(8 << 20)
	return c, resp, rec
}

func coderEcho(t testing.TB, ctx context.Context, c *websocket.Conn, typ websocket.MessageType, data []byte, what string) {
	t.Helper()
	if err := c.Write(ctx, typ, data); err != nil {
		t.Fatalf("%s: write %d bytes: %v", what, len(data), err)
	}
	gt, got, err := c.Read(ctx)
	if err != nil {
		t.Fatalf("%s: read the echo of %d bytes: %v", what, len(data), err)
	}
	if gt != typ || !bytes.Equal(got, data) {
		t.Fatalf("%s: echo of %v %d bytes came back as %v %d bytes (equal %v)", what, typ, len(data), gt, len(got), bytes.Equal(got, data))
	}
}

// coderWriteParts writes one message with a Writer, one Write per part:
// coder/websocket sends each Write as its own frame (uncompressed) and a
// final empty frame at Close.
func coderWriteParts(t testing.TB, ctx context.Context, c *websocket.Conn, typ websocket.MessageType, parts ...[]byte) {
	t.Helper()
	w, err := c.Writer(ctx, typ)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range parts {
		if _, err := w.Write(p); err != nil {
			t.Fatalf("write a fragment: %v", err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatalf("close the message writer: %v", err)
	}
}

// coderExpectClose reads until the server's close and checks its code.
func coderExpectClose(t testing.TB, ctx context.Context, c *websocket.Conn, want websocket.StatusCode, what string) websocket.CloseError {
	t.Helper()
	for {
		_, _, err := c.Read(ctx)
		if err == nil {
			continue
		}
		var ce websocket.CloseError
		if !errors.As(err, &ce) || ce.Code != want {
			t.Fatalf("%s: read ended with %v (status %v), want close status %v", what, err, websocket.CloseStatus(err), want)
		}
		return ce
	}
}

func TestInteropCoderEcho(t *testing.T) {
	t.Parallel()
	_, addr := testServer(t, edge.Config{}, func(s *edge.Server, l *edge.Listener) { interopRoutes(l, nil) })
	modes := []struct {
		name     string
		path     string
		mode     websocket.CompressionMode
		deflated bool // permessage-deflate in use
	}{
		{"plain", "/echo", websocket.CompressionDisabled, false},
		{"offer-declined", "/echo", websocket.CompressionContextTakeover, false},
		{"context-takeover", "/deflate", websocket.CompressionContextTakeover, true},
		{"no-context-takeover", "/deflate", websocket.CompressionNoContextTakeover, true},
	}
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			c, resp, rec := coderDial(t, ctx, "ws://"+addr+m.path, addr, websocket.DialOptions{
				Subprotocols:         []string{"chat.v1", "chat.v2"},
				CompressionMode:      m.mode,
				CompressionThreshold: 1, // compress every non-empty message
			}, nil)
			if p := c.Subprotocol(); p != "chat.v1" {
				t.Errorf("subprotocol %q, want chat.v1 (the client's first offer the stream speaks)", p)
			}
			ext := resp.Header.Get("Sec-WebSocket-Extensions")
			if got := strings.Contains(ext, "permessage-deflate"); got != m.deflated {
				t.Fatalf("Sec-WebSocket-Extensions %q, deflate wanted %v", ext, m.deflated)
			}
			if m.deflated && !strings.Contains(ext, "server_no_context_takeover") {
				t.Errorf("Sec-WebSocket-Extensions %q lacks server_no_context_takeover", ext)
			}
			if m.deflated && strings.Contains(ext, "client_no_context_takeover") != (m.mode == websocket.CompressionNoContextTakeover) {
				t.Errorf("Sec-WebSocket-Extensions %q for %s", ext, m.name)
			}

			for _, n := range interopSizes {
				coderEcho(t, ctx, c, websocket.MessageText, interopText(n), fmt.Sprint("text ", n))
				coderEcho(t, ctx, c, websocket.MessageBinary, interopBinary(n), fmt.Sprint("binary ", n))
			}
			// What was on the wire: compressed frames both ways exactly when
			// permessage-deflate was negotiated.
			sent, recv := rec.dataFrames(t, true), rec.dataFrames(t, false)
			if len(sent) != 2*len(interopSizes) || len(recv) != 2*len(interopSizes) {
				t.Fatalf("%d frames sent, %d received, want %d each", len(sent), len(recv), 2*len(interopSizes))
			}
			for i, f := range sent {
				if want := m.deflated && len(f.payload) > 0; f.rsv1 != want {
					t.Errorf("client frame %d %v: rsv1 %v, want %v", i, f, f.rsv1, want)
				}
			}
			compressed := 0
			for _, f := range recv {
				if f.rsv1 {
					compressed++
				}
			}
			if m.deflated && compressed < len(interopSizes) || !m.deflated && compressed > 0 {
				t.Errorf("%d of %d echoes came compressed (deflate %v)", compressed, len(recv), m.deflated)
			}

			// The same random 4 KiB again: with client context takeover the
			// later copies are (mostly: flate.BestSpeed matches greedily)
			// back-references to the first, which edge can only inflate from
			// the window it kept. Random bytes do not compress on their own.
			rnd := interopBinary(8192)[:4096]
			var lens []int
			for i := 0; i < 3; i++ {
				coderEcho(t, ctx, c, websocket.MessageBinary, rnd, fmt.Sprint("repeated random ", i))
				f := rec.dataFrames(t, true)
				lens = append(lens, len(f[len(f)-1].payload))
			}
			switch {
			case m.deflated && m.mode == websocket.CompressionContextTakeover && min(lens[1], lens[2]) > 2048:
				t.Errorf("repeated message sizes on the wire %v: context takeover not used", lens)
			case m.mode == websocket.CompressionNoContextTakeover && lens[1] < 4096:
				t.Errorf("repeated message sizes on the wire %v: context taken over despite client_no_context_takeover", lens)
			}

			// A burst written while the echoes are read: frames straddle
			// edge's reads.
			const burst = 300
			werr := make(chan error, 1)
			go func() {
				for i := 0; i < burst; i++ {
					typ, data := burstMessage(i)
					if err := c.Write(ctx, typ, data); err != nil {
						werr <- err
						return
					}
				}
				werr <- nil
			}()
			for i := 0; i < burst; i++ {
				typ, data := burstMessage(i)
				gt, got, err := c.Read(ctx)
				if err != nil || gt != typ || !bytes.Equal(got, data) {
					t.Fatalf("burst message %d: %v %d bytes, want %v %d bytes: %v", i, gt, len(got), typ, len(data), err)
				}
			}
			if err := <-werr; err != nil {
				t.Fatalf("burst write: %v", err)
			}

			// Fragmented: a text message cut inside 2- and 3-byte
			// characters, and a binary one.
			txt := interopText(3000)
			before := len(rec.dataFrames(t, true))
			coderWriteParts(t, ctx, c, websocket.MessageText, txt[:1002], txt[1002:1003], txt[1003:1997], txt[1997:])
			if typ, got, err := c.Read(ctx); err != nil || typ != websocket.MessageText || !bytes.Equal(got, txt) {
				t.Fatalf("fragmented text echo: %v %d bytes, %v", typ, len(got), err)
			}
			frames := rec.dataFrames(t, true)[before:]
			checkFragments(t, "fragmented text", frames, gws.OpText, m.deflated)
			if !m.deflated && len(frames) != 5 {
				t.Errorf("fragmented text went out as %v, want 4 frames and an empty final one", frames)
			}
			// Large random parts so that a compressing writer emits frames
			// before Close too.
			bin := interopBinary(600 << 10)
			before = len(rec.dataFrames(t, true))
			coderWriteParts(t, ctx, c, websocket.MessageBinary, bin[:200<<10], bin[200<<10:400<<10], bin[400<<10:])
			if typ, got, err := c.Read(ctx); err != nil || typ != websocket.MessageBinary || !bytes.Equal(got, bin) {
				t.Fatalf("fragmented binary echo: %v %d bytes, %v", typ, len(got), err)
			}
			checkFragments(t, "fragmented binary", rec.dataFrames(t, true)[before:], gws.OpBinary, m.deflated)

			if err := c.Close(websocket.StatusNormalClosure, ""); err != nil {
				t.Errorf("close handshake: %v", err)
			}
		})
	}
}

// burstMessage is message i of a burst: sizes 0-4999, every third binary.
func burstMessage(i int) (websocket.MessageType, []byte) {
	n := i * 7919 % 5000
	if i%3 == 0 {
		b := make([]byte, n)
		for j := range b {
			b[j] = byte(i*31 + j*j)
		}
		return websocket.MessageBinary, b
	}
	return websocket.MessageText, interopText(n)
}

// checkFragments checks the frames of one fragmented message on the wire:
// at least two, the first with the opcode (and RSV1 when compressed), the
// others continuations without RSV1, only the last one final.
func checkFragments(t testing.TB, what string, frames []wireFrame, op gws.OpCode, compressed bool) {
	t.Helper()
	if len(frames) < 2 {
		t.Fatalf("%s: went out as %v, not fragmented", what, frames)
	}
	for i, f := range frames {
		first, last := i == 0, i == len(frames)-1
		wantOp := gws.OpContinuation
		if first {
			wantOp = op
		}
		if f.op != wantOp || f.fin != last || f.rsv1 != (first && compressed) {
			t.Fatalf("%s: frame %d of %v", what, i, frames)
		}
	}
}

func TestInteropCoderControl(t *testing.T) {
	t.Parallel()
	closes := &interopCloses{}
	_, addr := testServer(t, edge.Config{}, func(s *edge.Server, l *edge.Listener) { interopRoutes(l, closes) })
	dial := func(t *testing.T, ctx context.Context, path string, opts websocket.DialOptions) (*websocket.Conn, *recConn) {
		c, _, rec := coderDial(t, ctx, "ws://"+addr+path, addr, opts, nil)
		return c, rec
	}
	run := func(name string, f func(t *testing.T, ctx context.Context)) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			defer cancel()
			f(t, ctx)
		})
	}
	for _, path := range []string{"/echo", "/deflate"} {
		run("ping"+path, func(t *testing.T, ctx context.Context) {
			c, _ := dial(t, ctx, path, websocket.DialOptions{CompressionMode: websocket.CompressionContextTakeover})
			// coder/websocket reads pongs in Read: keep one going.
			read := make(chan string, 1)
			go func() {
				_, p, err := c.Read(ctx)
				read <- fmt.Sprint(string(p), err)
			}()
			for i := 0; i < 3; i++ {
				if err := c.Ping(ctx); err != nil {
					t.Fatalf("ping %d: %v", i, err)
				}
			}
			c.Write(ctx, websocket.MessageText, []byte("after pings"))
			if got := <-read; got != "after pings<nil>" {
				t.Errorf("read after pings: %q", got)
			}
		})
	}
	run("client-close", func(t *testing.T, ctx context.Context) {
		url := "/deflate?id=client-close"
		c, _ := dial(t, ctx, url, websocket.DialOptions{CompressionMode: websocket.CompressionContextTakeover})
		coderEcho(t, ctx, c, websocket.MessageText, []byte("hi"), "before close")
		// Close returns nil only when the peer's close frame echoes the code.
		if err := c.Close(4001, "done here"); err != nil {
			t.Errorf("close 4001: %v", err)
		}
		if code := closes.wait(t, url); code != 4001 {
			t.Errorf("OnClose code %d, want 4001", code)
		}
	})
	run("server-close", func(t *testing.T, ctx context.Context) {
		c, _ := dial(t, ctx, "/echo", websocket.DialOptions{})
		c.Write(ctx, websocket.MessageText, []byte("close-me"))
		if ce := coderExpectClose(t, ctx, c, 4000, "server close"); ce.Reason != "as you wish" {
			t.Errorf("close reason %q", ce.Reason)
		}
	})
	run("subprotocols", func(t *testing.T, ctx context.Context) {
		for _, tt := range []struct {
			offer []string
			want  string
		}{{[]string{"chat.v2"}, "chat.v2"}, {[]string{"nope", "chat.v2", "chat.v1"}, "chat.v2"}, {[]string{"nope"}, ""}, {nil, ""}} {
			c, _ := dial(t, ctx, "/echo", websocket.DialOptions{Subprotocols: tt.offer})
			if got := c.Subprotocol(); got != tt.want {
				t.Errorf("offer %q: subprotocol %q, want %q", tt.offer, got, tt.want)
			}
			coderEcho(t, ctx, c, websocket.MessageText, []byte("x"), "after negotiation")
			c.Close(websocket.StatusNormalClosure, "")
		}
	})
	run("too-big", func(t *testing.T, ctx context.Context) {
		c, _ := dial(t, ctx, "/small", websocket.DialOptions{})
		coderEcho(t, ctx, c, websocket.MessageBinary, interopBinary(1000), "at the limit")
		c.Write(ctx, websocket.MessageBinary, interopBinary(1001))
		coderExpectClose(t, ctx, c, websocket.StatusMessageTooBig, "1001 bytes")
	})
	run("too-big-fragmented", func(t *testing.T, ctx context.Context) {
		c, _ := dial(t, ctx, "/small", websocket.DialOptions{})
		w, _ := c.Writer(ctx, websocket.MessageText)
		for i := 0; i < 5; i++ {
			w.Write(interopText(300)) // 1500 bytes in 300-byte frames
		}
		w.Close()
		coderExpectClose(t, ctx, c, websocket.StatusMessageTooBig, "1500 bytes in fragments")
	})
	run("too-big-inflated", func(t *testing.T, ctx context.Context) {
		// 64 KiB of zeros compress to a few dozen bytes: edge must bound
		// what it inflates, not what it reads.
		c, rec := dial(t, ctx, "/small-deflate", websocket.DialOptions{CompressionMode: websocket.CompressionNoContextTakeover, CompressionThreshold: 1})
		coderEcho(t, ctx, c, websocket.MessageText, interopText(1000), "at the limit")
		c.Write(ctx, websocket.MessageBinary, make([]byte, 64<<10))
		coderExpectClose(t, ctx, c, websocket.StatusMessageTooBig, "64 KiB inflated")
		f := rec.dataFrames(t, true)
		if last := f[len(f)-1]; !last.rsv1 || len(last.payload) > 1000 {
			t.Errorf("the bomb went out as %v, not compressed below the limit", last)
		}
	})
	run("invalid-utf8", func(t *testing.T, ctx context.Context) {
		// coder/websocket does not check the text it sends.
		c, _ := dial(t, ctx, "/echo", websocket.DialOptions{})
		c.Write(ctx, websocket.MessageText, []byte("hi\xff\xfe"))
		coderExpectClose(t, ctx, c, websocket.StatusInvalidFramePayloadData, "invalid UTF-8")
	})
	run("invalid-utf8-fragmented", func(t *testing.T, ctx context.Context) {
		// The first fragment ends inside '€', the second does not finish it.
		c, _ := dial(t, ctx, "/echo", websocket.DialOptions{})
		coderWriteParts(t, ctx, c, websocket.MessageText, []byte("h\xe2\x82"), []byte("A"))
		coderExpectClose(t, ctx, c, websocket.StatusInvalidFramePayloadData, "invalid UTF-8 across fragments")
	})
	run("utf8-edges", func(t *testing.T, ctx context.Context) {
		// Valid: the extremes of each length, and a 4-byte character sent
		// one byte per frame.
		c, _ := dial(t, ctx, "/echo", websocket.DialOptions{})
		for _, v := range []string{"\u007f", "\u0080", "\u07ff", "\u0800", "\ud7ff", "\ue000", "\uffff", "\U00010000", "\U0010ffff", "𝄞"} {
			coderEcho(t, ctx, c, websocket.MessageText, []byte(v), fmt.Sprintf("valid %q", v))
		}
		clef := []byte("𝄞")
		coderWriteParts(t, ctx, c, websocket.MessageText, clef[:1], clef[1:2], clef[2:3], clef[3:])
		if _, got, err := c.Read(ctx); err != nil || !bytes.Equal(got, clef) {
			t.Fatalf("4-byte character in 4 frames: %q %v", got, err)
		}
		c.Close(websocket.StatusNormalClosure, "")
		// Invalid: each on its own connection, 1007.
		for _, v := range []string{
			"\xed\xa0\x80",     // a UTF-16 surrogate (U+D800)
			"\xed\xbf\xbf",     // U+DFFF
			"\xc0\xaf",         // overlong '/'
			"\xe0\x80\xaf",     // overlong, 3 bytes
			"\xf0\x80\x80\xaf", // overlong, 4 bytes
			"\xf4\x90\x80\x80", // above U+10FFFF
			"\xf5\x80\x80\x80",
			"\x80",       // a lone continuation byte
			"ok\xe2\x82", // cut at the end of the message
		} {
			c, _ := dial(t, ctx, "/deflate", websocket.DialOptions{})
			c.Write(ctx, websocket.MessageText, []byte(v))
			coderExpectClose(t, ctx, c, websocket.StatusInvalidFramePayloadData, fmt.Sprintf("invalid %q", v))
		}
	})
	run("invalid-utf8-compressed", func(t *testing.T, ctx context.Context) {
		c, rec := dial(t, ctx, "/deflate", websocket.DialOptions{CompressionMode: websocket.CompressionContextTakeover, CompressionThreshold: 1})
		bad := append(interopText(500), 0xc3, 0x28) // 0xc3 needs a continuation byte
		c.Write(ctx, websocket.MessageText, bad)
		coderExpectClose(t, ctx, c, websocket.StatusInvalidFramePayloadData, "compressed invalid UTF-8")
		if f := rec.dataFrames(t, true); !f[len(f)-1].rsv1 {
			t.Errorf("the message went out uncompressed: %v", f)
		}
	})
}

func TestInteropCoderTLS(t *testing.T) {
	t.Parallel()
	_, addr, pool := tlsTestServer(t, edge.Config{}, func(s *edge.Server, l *edge.Listener) { interopRoutes(l, nil) })
	tlsConf := &tls.Config{RootCAs: pool, ServerName: "a.test"}
	for _, path := range []string{"/echo", "/deflate"} {
		t.Run(strings.TrimPrefix(path, "/"), func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			c, resp, _ := coderDial(t, ctx, "wss://a.test"+path, addr, websocket.DialOptions{
				Subprotocols:         []string{"chat.v1"},
				CompressionMode:      websocket.CompressionContextTakeover,
				CompressionThreshold: 1,
			}, tlsConf)
			if ext := resp.Header.Get("Sec-WebSocket-Extensions"); strings.Contains(ext, "permessage-deflate") != (path == "/deflate") {
				t.Errorf("extensions %q on %s", ext, path)
			}
			if c.Subprotocol() != "chat.v1" {
				t.Errorf("subprotocol %q", c.Subprotocol())
			}
			for _, n := range interopSizes {
				coderEcho(t, ctx, c, websocket.MessageText, interopText(n), fmt.Sprint("wss text ", n))
				coderEcho(t, ctx, c, websocket.MessageBinary, interopBinary(n), fmt.Sprint("wss binary ", n))
			}
			bin := interopBinary(300 << 10)
			coderWriteParts(t, ctx, c, websocket.MessageBinary, bin[:100<<10], bin[100<<10:200<<10], bin[200<<10:])
			if typ, got, err := c.Read(ctx); err != nil || typ != websocket.MessageBinary || !bytes.Equal(got, bin) {
				t.Fatalf("wss fragmented echo: %v %d bytes, %v", typ, len(got), err)
			}
			read := make(chan error, 1)
			go func() { _, _, err := c.Read(ctx); read <- err }()
			if err := c.Ping(ctx); err != nil {
				t.Errorf("wss ping: %v", err)
			}
			c.Write(ctx, websocket.MessageText, []byte("x"))
			if err := <-read; err != nil {
				t.Errorf("wss read after ping: %v", err)
			}
			if err := c.Close(4001, "bye"); err != nil {
				t.Errorf("wss close 4001: %v", err)
			}
		})
	}
}

func TestInteropCoderServerPing(t *testing.T) {
	t.Parallel()
	const interval = time.Second // the event loop's tick: timeouts are swept once a second
	_, addr := testServer(t, edge.Config{PingInterval: interval}, func(s *edge.Server, l *edge.Listener) { interopRoutes(l, nil) })
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	// A quiet client that answers edge's pings stays connected.
	var pings atomic.Int32
	c, _, _ := coderDial(t, ctx, "ws://"+addr+"/deflate", addr, websocket.DialOptions{
		CompressionMode: websocket.CompressionContextTakeover,
		OnPingReceived:  func(context.Context, []byte) bool { pings.Add(1); return true },
	}, nil)
	read := make(chan string, 1)
	go func() {
		_, p, err := c.Read(ctx) // answers pings while it waits
		read <- fmt.Sprint(string(p), err)
	}()
	time.Sleep(7 * interval / 2)
	if err := c.Write(ctx, websocket.MessageText, []byte("still here")); err != nil {
		t.Fatalf("write after %v quiet: %v", 7*interval/2, err)
	}
	if got := <-read; got != "still here<nil>" {
		t.Errorf("after %v quiet: %q", 7*interval/2, got)
	}
	t.Logf("%d pings answered in %v", pings.Load(), 7*interval/2)
	if n := pings.Load(); n < 2 {
		t.Errorf("%d pings in %v with a %v ping interval", n, 7*interval/2, interval)
	}
	// One that does not answer is dropped.
	mute, _, _ := coderDial(t, ctx, "ws://"+addr+"/echo", addr, websocket.DialOptions{
		OnPingReceived: func(context.Context, []byte) bool { return false },
	}, nil)
	start := time.Now()
	if _, _, err := mute.Read(ctx); err == nil || ctx.Err() != nil {
		t.Fatalf("a client that never answers pings: read returned %v", err)
	}
	t.Logf("a client that never answers pings was dropped after %v", time.Since(start))
	if d := time.Since(start); d > 5*interval {
		t.Errorf("a client that never answers pings was dropped after %v", d)
	}
}
