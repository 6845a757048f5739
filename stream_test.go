package edge

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edge-rt/edge/broadcast"
	"github.com/edge-rt/edge/ws"
	"github.com/gobwas/httphead"
	gws "github.com/gobwas/ws"
	"github.com/gobwas/ws/wsflate"
	"github.com/gobwas/ws/wsutil"
)

// wsDial connects a gobwas/ws client (an implementation we did not write).
func wsDial(t testing.TB, url string, d gws.Dialer) net.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, br, _, err := d.Dial(ctx, url)
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	t.Cleanup(func() { c.Close() })
	if br != nil {
		// Frames that came with the 101 response (OnOpen's) are buffered.
		return &bufferedConn{Conn: c, r: io.MultiReader(br, c)}
	}
	return c
}

type bufferedConn struct {
	net.Conn
	r io.Reader
}

func (b *bufferedConn) Read(p []byte) (int, error) { return b.r.Read(p) }

// readMsg reads the next data message, answering nothing itself.
func readMsg(t testing.TB, c net.Conn) (gws.OpCode, string) {
	t.Helper()
	for {
		h, err := gws.ReadHeader(c)
		if err != nil {
			t.Fatalf("read header: %v", err)
		}
		p := make([]byte, h.Length)
		if _, err := io.ReadFull(c, p); err != nil {
			t.Fatalf("read payload: %v", err)
		}
		if h.OpCode.IsControl() && h.OpCode != gws.OpClose {
			continue
		}
		return h.OpCode, string(p)
	}
}

// readClose reads until a close frame and returns its code.
func readClose(t testing.TB, c net.Conn) uint16 {
	t.Helper()
	for {
		h, err := gws.ReadHeader(c)
		if err != nil {
			t.Fatalf("waiting for close: %v", err)
		}
		p := make([]byte, h.Length)
		if _, err := io.ReadFull(c, p); err != nil {
			t.Fatalf("read payload: %v", err)
		}
		if h.OpCode == gws.OpClose {
			code, _ := gws.ParseCloseFrameData(p)
			return uint16(code)
		}
	}
}

type closeLog struct {
	mu    sync.Mutex
	codes []uint16
}

func (l *closeLog) add(code uint16) { l.mu.Lock(); l.codes = append(l.codes, code); l.mu.Unlock() }
func (l *closeLog) wait(t *testing.T, n int) []uint16 {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		l.mu.Lock()
		if len(l.codes) >= n {
			out := append([]uint16(nil), l.codes...)
			l.mu.Unlock()
			return out
		}
		l.mu.Unlock()
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("OnClose called %d times, want %d", len(l.codes), n)
	return nil
}

func echoStream(closes *closeLog) *Stream {
	return &Stream{
		Protocols:  []string{"chat.v2", "chat.v1"},
		MaxMessage: 1 << 16,
		OnOpen:     func(c *Client) { c.Send(ws.OpText, []byte("hello "+c.Protocol())) },
		OnMessage: func(c *Client, op ws.Opcode, data []byte) {
			if string(data) == "bye" {
				c.Close(4000, "as you wish")
				return
			}
			c.Send(op, data)
		},
		OnClose: func(c *Client, code uint16, reason string) {
			if closes != nil {
				closes.add(code)
			}
		},
		Page:        func(c *Ctx) { c.HTML(200, "<p>the chat page</p>") },
		Compression: true,
	}
}

func TestStreamEchoAndHandshake(t *testing.T) {
	t.Parallel()
	closes := &closeLog{}
	s, addr := testServer(t, Config{}, func(s *Server, l *Listener) {
		l.Any().Stream("/ws", echoStream(closes))
		l.Any().Stream("/bare", &Stream{OnMessage: func(c *Client, op ws.Opcode, d []byte) { c.Send(op, d) }})
	})
	url := "ws://" + addr + "/ws"
	c := wsDial(t, url, gws.Dialer{Protocols: []string{"chat.v1", "chat.v2"}})
	if _, got := readMsg(t, c); got != "hello chat.v1" {
		t.Fatalf("OnOpen message %q (protocol: the client's first offer we speak)", got)
	}
	for _, m := range []struct {
		op   gws.OpCode
		data string
	}{{gws.OpText, "hi"}, {gws.OpBinary, "\x00\x01\xff"}, {gws.OpText, strings.Repeat("é", 20000)}} {
		if err := wsutil.WriteClientMessage(c, m.op, []byte(m.data)); err != nil {
			t.Fatal(err)
		}
		if op, got := readMsg(t, c); op != m.op || got != m.data {
			t.Fatalf("echo: %v %.20q", op, got)
		}
	}
	// A fragmented message with a ping in the middle: pong, then the echo.
	gws.WriteFrame(c, gws.MaskFrame(gws.NewFrame(gws.OpText, false, []byte("frag"))))
	gws.WriteFrame(c, gws.MaskFrame(gws.NewPingFrame([]byte("p1"))))
	gws.WriteFrame(c, gws.MaskFrame(gws.NewFrame(gws.OpContinuation, true, []byte("mented"))))
	h, _ := gws.ReadHeader(c)
	p := make([]byte, h.Length)
	io.ReadFull(c, p)
	if h.OpCode != gws.OpPong || string(p) != "p1" {
		t.Fatalf("want pong p1, got %v %q", h.OpCode, p)
	}
	if _, got := readMsg(t, c); got != "fragmented" {
		t.Fatalf("fragmented echo %q", got)
	}
	// Server-initiated close: the code comes back to OnClose.
	wsutil.WriteClientMessage(c, gws.OpText, []byte("bye"))
	if code := readClose(t, c); code != 4000 {
		t.Fatalf("server close code %d", code)
	}
	gws.WriteFrame(c, gws.MaskFrame(gws.NewCloseFrame(gws.NewCloseFrameBody(4000, ""))))
	if got := closes.wait(t, 1); got[0] != 4000 {
		t.Errorf("OnClose code %v", got)
	}

	// Client-initiated close is echoed.
	c2 := wsDial(t, url, gws.Dialer{})
	readMsg(t, c2)
	gws.WriteFrame(c2, gws.MaskFrame(gws.NewCloseFrame(gws.NewCloseFrameBody(gws.StatusNormalClosure, "done"))))
	if code := readClose(t, c2); code != 1000 {
		t.Errorf("echoed close %d", code)
	}
	if got := closes.wait(t, 2); got[1] != 1000 {
		t.Errorf("OnClose codes %v", got)
	}
	if st := s.Stats(); st.WSOpened < 2 {
		t.Errorf("stats %+v", st)
	}

	// Plain GET on the same path serves the page; without a page: 426.
	resp, err := http.Get("http://" + addr + "/ws")
	if err != nil {
		t.Fatal(err)
	}
	if b := bodyOf(resp); resp.StatusCode != 200 || !strings.Contains(b, "chat page") {
		t.Errorf("page: %d %q", resp.StatusCode, b)
	}
	resp.Body.Close()
	got := exchange(t, addr, "GET /bare HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	if !strings.HasPrefix(got, "HTTP/1.1 426 ") {
		t.Errorf("plain GET on a stream without page: %q", got)
	}
	got = exchange(t, addr, "GET /bare HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\r\n")
	if !strings.HasPrefix(got, "HTTP/1.1 426 ") || !strings.Contains(got, "Sec-WebSocket-Version: 13") {
		t.Errorf("version 8: %q", got)
	}
	got = exchange(t, addr, "GET /bare HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: short\r\nSec-WebSocket-Version: 13\r\n\r\n")
	if !strings.HasPrefix(got, "HTTP/1.1 400 ") {
		t.Errorf("bad key: %q", got)
	}
}

func TestStreamProtocolErrors(t *testing.T) {
	t.Parallel()
	closes := &closeLog{}
	_, addr := testServer(t, Config{}, func(s *Server, l *Listener) {
		l.Any().Stream("/ws", echoStream(closes))
	})
	tests := []struct {
		name  string
		frame func(c net.Conn)
		code  uint16
	}{
		{"unmasked", func(c net.Conn) { gws.WriteFrame(c, gws.NewTextFrame([]byte("x"))) }, 1002},
		{"bad utf8", func(c net.Conn) { gws.WriteFrame(c, gws.MaskFrame(gws.NewTextFrame([]byte{0xff, 0xfe}))) }, 1007},
		{"too big", func(c net.Conn) {
			gws.WriteFrame(c, gws.MaskFrame(gws.NewBinaryFrame(make([]byte, 1<<17))))
		}, 1009},
		{"bad opcode", func(c net.Conn) { gws.WriteFrame(c, gws.MaskFrame(gws.NewFrame(gws.OpCode(3), true, nil))) }, 1002},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := wsDial(t, "ws://"+addr+"/ws", gws.Dialer{})
			readMsg(t, c)
			tt.frame(c)
			if code := readClose(t, c); code != tt.code {
				t.Errorf("close code %d, want %d", code, tt.code)
			}
			// Then the server closes the TCP connection.
			if _, err := io.ReadAll(c); err != nil {
				t.Errorf("after close: %v", err)
			}
		})
	}
}

func TestStreamTags(t *testing.T) {
	t.Parallel()
	s, addr := testServer(t, Config{}, func(s *Server, l *Listener) {
		l.Any().Stream("/room", &Stream{
			OnMessage: func(c *Client, op ws.Opcode, data []byte) {
				// "join X" tags the client; anything else goes to the
				// client's room.
				if room, ok := strings.CutPrefix(string(data), "join "); ok {
					c.SetTag(broadcast.Tag(room))
					c.SetData(room)
					c.Send(ws.OpText, []byte("joined "+room))
					return
				}
				room, _ := c.Data().(string)
				c.Server().SendTag(broadcast.Tag(room), ws.OpText, data)
			},
		})
	})
	url := "ws://" + addr + "/room"
	join := func(room string) net.Conn {
		c := wsDial(t, url, gws.Dialer{})
		wsutil.WriteClientMessage(c, gws.OpText, []byte("join "+room))
		if _, got := readMsg(t, c); got != "joined "+room {
			t.Fatalf("join: %q", got)
		}
		return c
	}
	a1, a2, b1 := join("a"), join("a"), join("b")
	wsutil.WriteClientMessage(a1, gws.OpText, []byte("to room a"))
	for _, c := range []net.Conn{a1, a2} {
		if _, got := readMsg(t, c); got != "to room a" {
			t.Errorf("room a member got %q", got)
		}
	}
	// b1 got nothing: its next message is its own room's.
	if n := s.SendTag("b", ws.OpText, []byte("to room b")); n != 1 {
		t.Errorf("SendTag b queued %d", n)
	}
	if _, got := readMsg(t, b1); got != "to room b" {
		t.Errorf("room b member got %q", got)
	}
	hub := s.Hub()
	if got := len(hub.Clients("a")); got != 2 {
		t.Errorf("clients of a: %d", got)
	}
	a2.Close()
	deadline := time.Now().Add(3 * time.Second)
	for len(hub.Clients("a")) != 1 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if got := s.SendTag("a", ws.OpBinary, []byte("after")); got != 1 {
		t.Errorf("after a member left, SendTag queued %d", got)
	}
	if err := s.Send(999, ws.OpText, nil); !errors.Is(err, ErrGone) {
		t.Errorf("Send to an unknown client: %v", err)
	}
}

func TestStreamSlowClientKicked(t *testing.T) {
	t.Parallel()
	var ids sync.Map
	s, addr := testServer(t, Config{}, func(s *Server, l *Listener) {
		l.Any().Stream("/feed", &Stream{
			QueueBytes: 256 << 10,
			OnOpen:     func(c *Client) { c.SetTag("feed"); ids.Store(c.ID(), true) },
		})
	})
	url := "ws://" + addr + "/feed"
	slow := wsDial(t, url, gws.Dialer{}) // never reads
	fast := wsDial(t, url, gws.Dialer{})
	deadline := time.Now().Add(3 * time.Second)
	for len(s.Hub().Clients("feed")) < 2 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	payload := strings.Repeat("x", 32<<10)
	received := make(chan int)
	var got atomic.Int64
	go func() {
		n := 0
		fast.SetDeadline(time.Now().Add(60 * time.Second))
		for n < 300 {
			if _, err := wsutil.ReadServerBinary(fast); err != nil {
				break
			}
			n++
			got.Store(int64(n))
		}
		received <- n
	}()
	// The sender keeps at most 2 messages (64 KiB) ahead of the fast
	// client, however slowly a loaded machine lets it read: only the client
	// that never reads falls behind. (Bytes of a write in progress still
	// count in the queue while the client may already have read them: with
	// 2 ahead the queue holds at most 5 messages, 160 KiB of its 256.)
	for i := 0; i < 300; i++ {
		for int64(i)-got.Load() > 1 {
			if time.Now().After(deadline.Add(60 * time.Second)) {
				t.Fatalf("fast client stuck at %d messages (sent %d)", got.Load(), i)
			}
			time.Sleep(time.Millisecond)
		}
		s.SendTag("feed", ws.OpBinary, []byte(payload))
	}
	if n := <-received; n != 300 {
		t.Errorf("fast client got %d of 300 messages", n)
	}
	// The slow client was closed with 1008 (its queue bound is 256 KiB, the
	// socket buffers hold a few MiB at most, 300 x 32 KiB = 9.4 MiB).
	slow.SetDeadline(time.Now().Add(10 * time.Second))
	code := readClose(t, slow)
	if code != 1008 {
		t.Errorf("slow client closed with %d, want 1008", code)
	}
	if s.Stats().WSSlowClosed == 0 {
		t.Error("slow close not counted")
	}
}

func TestStreamPingAndServerSend(t *testing.T) {
	t.Parallel()
	ids := make(chan ClientID, 1)
	s, addr := testServer(t, Config{PingInterval: time.Second}, func(s *Server, l *Listener) {
		l.Any().Stream("/ws", &Stream{OnOpen: func(c *Client) { ids <- c.ID() }})
	})
	c := wsDial(t, "ws://"+addr+"/ws", gws.Dialer{})
	id := <-ids
	go func() {
		for i := 0; i < 3; i++ {
			s.Send(id, ws.OpText, []byte(fmt.Sprint("from a goroutine ", i)))
		}
	}()
	for i := 0; i < 3; i++ {
		if _, got := readMsg(t, c); got != fmt.Sprint("from a goroutine ", i) {
			t.Fatalf("Send: %q", got)
		}
	}
	// A quiet client gets pinged; one that never answers is dropped.
	start := time.Now()
	h, err := gws.ReadHeader(c)
	if err != nil || h.OpCode != gws.OpPing {
		t.Fatalf("want a ping, got %v %v", h.OpCode, err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("ping after %v", d)
	}
	io.ReadAll(c) // the connection is closed after one more silent interval
	if d := time.Since(start); d > 6*time.Second {
		t.Errorf("dead peer dropped after %v", d)
	}
}

func TestStreamCompression(t *testing.T) {
	t.Parallel()
	_, addr := testServer(t, Config{}, func(s *Server, l *Listener) {
		l.Any().Stream("/ws", echoStream(nil))
	})
	params := wsflate.Parameters{ServerNoContextTakeover: true, ClientNoContextTakeover: true}
	c := wsDial(t, "ws://"+addr+"/ws", gws.Dialer{Extensions: []httphead.Option{params.Option()}})
	readMsg(t, c) // the OnOpen hello
	// The handshake response names permessage-deflate.
	raw := exchange(t, addr, "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n\x88\x80abcd")
	if !strings.Contains(raw, "Sec-WebSocket-Extensions: permessage-deflate") || !strings.Contains(raw, "server_no_context_takeover") {
		t.Errorf("deflate not negotiated: %q", raw)
	}
	// A compressed message from the client, echoed compressed.
	msg := strings.Repeat("compress me please ", 50)
	f, err := wsflate.CompressFrame(gws.NewTextFrame([]byte(msg)))
	if err != nil {
		t.Fatal(err)
	}
	if err := gws.WriteFrame(c, gws.MaskFrame(f)); err != nil {
		t.Fatal(err)
	}
	h, err := gws.ReadHeader(c)
	if err != nil {
		t.Fatal(err)
	}
	p := make([]byte, h.Length)
	io.ReadFull(c, p)
	if !h.Rsv1() || int(h.Length) >= len(msg) {
		t.Fatalf("echo not compressed (rsv1 %v, %d bytes)", h.Rsv1(), h.Length)
	}
	out, err := wsflate.DecompressFrame(gws.Frame{Header: h, Payload: p})
	if err != nil {
		t.Fatal(err)
	}
	if string(out.Payload) != msg {
		t.Errorf("decompressed echo differs")
	}
}

func TestStreamOverTLS(t *testing.T) {
	t.Parallel()
	_, addr, pool := tlsTestServer(t, Config{}, func(s *Server, l *Listener) {
		l.Any().Stream("/ws", echoStream(nil))
	})
	d := gws.Dialer{TLSConfig: &tls.Config{RootCAs: pool, ServerName: "a.test"}, NetDial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}}
	c := wsDial(t, "wss://a.test/ws", d)
	readMsg(t, c)
	big := strings.Repeat("wss ", 10000)
	for i := 0; i < 20; i++ {
		wsutil.WriteClientMessage(c, gws.OpText, []byte(big))
		if _, got := readMsg(t, c); got != big {
			t.Fatalf("wss echo %d: %d bytes", i, len(got))
		}
	}
}
