package ws

import (
	"compress/flate"
	"errors"
	"runtime/debug"
	"strings"
	"testing"
)

func TestCheckRequest(t *testing.T) {
	t.Parallel()
	ok := func() Request {
		return Request{
			Method:  "GET",
			Upgrade: []byte("websocket"),
			Key:     []byte("dGhlIHNhbXBsZSBub25jZQ=="),
			Version: []byte("13"),
		}
	}
	cases := []struct {
		name   string
		edit   func(r *Request)
		err    error // ErrNotWebSocket, or nil
		status int   // HandshakeError status; 0 when err decides
	}{
		{
			name: "RFC 6455 example",
			edit: func(r *Request) {},
		},
		{
			name: "upgrade token in a list, any case",
			edit: func(r *Request) { r.Upgrade = []byte("h2c, WebSocket") },
		},
		{
			name: "connection lists upgrade",
			edit: func(r *Request) { r.Connection = []byte("keep-alive, Upgrade") },
		},
		{
			name: "plain GET",
			edit: func(r *Request) { r.Upgrade = nil },
			err:  ErrNotWebSocket,
		},
		{
			name: "other upgrade",
			edit: func(r *Request) { r.Upgrade = []byte("h2c") },
			err:  ErrNotWebSocket,
		},
		{
			name: "websocket with a version suffix is another protocol",
			edit: func(r *Request) { r.Upgrade = []byte("websocket/2") },
			err:  ErrNotWebSocket,
		},
		{
			name: "connection without upgrade",
			edit: func(r *Request) { r.Connection = []byte("keep-alive") },
			err:  ErrNotWebSocket,
		},
		{
			name:   "POST",
			edit:   func(r *Request) { r.Method = "POST" },
			status: 400,
		},
		{
			name:   "lower-case get",
			edit:   func(r *Request) { r.Method = "get" },
			status: 400,
		},
		{
			name:   "version 8",
			edit:   func(r *Request) { r.Version = []byte("8") },
			status: 426,
		},
		{
			name:   "no version",
			edit:   func(r *Request) { r.Version = nil },
			status: 426,
		},
		{
			name:   "no key",
			edit:   func(r *Request) { r.Key = nil },
			status: 400,
		},
		{
			name:   "key of 15 bytes",
			edit:   func(r *Request) { r.Key = []byte("dGhlIHNhbXBsZSBub25j") },
			status: 400,
		},
		{
			name:   "key of 17 bytes",
			edit:   func(r *Request) { r.Key = []byte("dGhlIHNhbXBsZSBub25jZTEy") },
			status: 400,
		},
		{
			name:   "key not base64",
			edit:   func(r *Request) { r.Key = []byte("dGhlIHNhbXBsZSBub25jZ!==") },
			status: 400,
		},
		{
			name:   "key with a newline",
			edit:   func(r *Request) { r.Key = []byte("dGhlIHNhbXBsZSBub25j\nQ==") },
			status: 400,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := ok()
			tc.edit(&r)
			err := CheckRequest(&r)
			var he *HandshakeError
			switch {
			case tc.status != 0:
				if !errors.As(err, &he) || he.Status != tc.status {
					t.Fatalf(
						"got %v, want status %d",
						err, tc.status)
				}
				if tc.status == 426 && he.Header != "Sec-WebSocket-Version: 13\r\n" {
					t.Fatalf(
						"426 header %q",
						he.Header)
				}
			case err != tc.err:
				t.Fatalf(
					"got %v, want %v",
					err, tc.err)
			}
		})
	}
}

func TestAppendAccept(t *testing.T) {
	// RFC 6455 section 1.3.
	got := AppendAccept([]byte("x"), []byte("dGhlIHNhbXBsZSBub25jZQ=="))
	if string(got) != "xs3pPLMBiTxaQ9kYGzzhZRbK+xOo=" {
		t.Fatalf(
			"got %q",
			got)
	}
	long := make([]byte, 100)
	if a, b := AppendAccept(nil, long), AppendAccept(nil, long); string(a) != string(b) || len(a) != 28 {
		t.Fatalf(
			"long key: %q",
			a)
	}
	key := []byte("dGhlIHNhbXBsZSBub25jZQ==")
	buf := make([]byte, 0, 64)
	// Under GOEXPERIMENT=boringcrypto, SHA-1 runs in BoringCrypto through
	// cgo, which allocates once per hash.
	var want float64
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "GOEXPERIMENT" && strings.Contains(s.Value, "boringcrypto") {
				want = 1
			}
		}
	}
	if n := testing.AllocsPerRun(100, func() { AppendAccept(buf, key) }); n > want {
		t.Fatalf(
			"%v allocations",
			n)
	}
}

func TestAppendUpgradeResponse(t *testing.T) {
	t.Parallel()
	got := string(AppendUpgradeResponse(nil, []byte("dGhlIHNhbXBsZSBub25jZQ=="), "chat",
		"Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover\r\n"))
	want := "HTTP/1.1 101 Switching Protocols\r\n" +
		"Upgrade: websocket\r\n" +
		"Connection: Upgrade\r\n" +
		"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n" +
		"Sec-WebSocket-Protocol: chat\r\n" +
		"Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover\r\n" +
		"\r\n"
	if got != want {
		t.Fatalf(
			"got\n%s\nwant\n%s",
			got, want)
	}
}

func TestSelectProtocol(t *testing.T) {
	t.Parallel()
	supported := []string{"chat", "superchat", "v2.json"}
	cases := []struct {
		offered string
		want    string
	}{
		{
			offered: "chat, superchat",
			want:    "chat",
		},
		{
			offered: "superchat, chat",
			want:    "superchat", // the client's order wins
		},
		{
			offered: "mqtt,\tv2.json ",
			want:    "v2.json",
		},
		{
			offered: "Chat",
			want:    "", // case-sensitive
		},
		{
			offered: "mqtt, wamp",
			want:    "",
		},
		{
			offered: " , ,chat",
			want:    "chat",
		},
		{
			offered: "",
			want:    "",
		},
		{
			offered: "chatty",
			want:    "",
		},
	}
	for _, tc := range cases {
		got, ok := SelectProtocol([]byte(tc.offered), supported)
		if got != tc.want || ok != (tc.want != "") {
			t.Errorf(
				"SelectProtocol(%q) = %q, %v; want %q",
				tc.offered, got, ok, tc.want)
		}
	}
	if _, ok := SelectProtocol([]byte("chat"), nil); ok {
		t.Error("matched with no supported protocols")
	}
}

func TestNegotiateDeflate(t *testing.T) {
	t.Parallel()
	on := DeflateConfig{Enabled: true}
	const base = "Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover"
	cases := []struct {
		name     string
		offer    string
		cfg      DeflateConfig
		resp     string // "" = declined
		takeover bool
		bits     int
	}{
		{
			name:     "Chrome",
			offer:    "permessage-deflate; client_max_window_bits",
			cfg:      on,
			resp:     base + "\r\n",
			takeover: true,
			bits:     15,
		},
		{
			name:     "Firefox",
			offer:    "permessage-deflate",
			cfg:      on,
			resp:     base + "\r\n",
			takeover: true,
			bits:     15,
		},
		{
			name:  "node ws / Safari style",
			offer: "permessage-deflate; client_no_context_takeover; client_max_window_bits",
			cfg:   on,
			resp:  base + "; client_no_context_takeover\r\n",
			bits:  15,
		},
		{
			name:  "disabled",
			offer: "permessage-deflate",
			cfg:   DeflateConfig{},
		},
		{
			name:  "no header",
			offer: "",
			cfg:   on,
		},
		{
			name:  "server_max_window_bits=10 is declined",
			offer: "permessage-deflate; server_max_window_bits=10",
			cfg:   on,
		},
		{
			name:     "server_max_window_bits=15 is honoured",
			offer:    "permessage-deflate; server_max_window_bits=15",
			cfg:      on,
			resp:     base + "; server_max_window_bits=15\r\n",
			takeover: true,
			bits:     15,
		},
		{
			name:  "first acceptable of several offers",
			offer: "permessage-deflate; server_max_window_bits=10, permessage-deflate; client_no_context_takeover, permessage-deflate",
			cfg:   on,
			resp:  base + "; client_no_context_takeover\r\n",
			bits:  15,
		},
		{
			name:     "other extensions are skipped",
			offer:    "x-webkit-deflate-frame; no_context_takeover, permessage-deflate",
			cfg:      on,
			resp:     base + "\r\n",
			takeover: true,
			bits:     15,
		},
		{
			name:     "extension name in upper case",
			offer:    "Permessage-Deflate",
			cfg:      on,
			resp:     base + "\r\n",
			takeover: true,
			bits:     15,
		},
		{
			name:  "unknown parameter",
			offer: "permessage-deflate; foo=bar",
			cfg:   on,
		},
		{
			name:  "duplicate parameter",
			offer: "permessage-deflate; client_no_context_takeover; client_no_context_takeover",
			cfg:   on,
		},
		{
			name:  "invalid window bits",
			offer: "permessage-deflate; client_max_window_bits=16",
			cfg:   on,
		},
		{
			name:  "value on a flag",
			offer: "permessage-deflate; server_no_context_takeover=1",
			cfg:   on,
		},
		{
			name:  "malformed header",
			offer: "permessage-deflate; =",
			cfg:   on,
		},
		{
			name:  "server_no_context_takeover offered",
			offer: "permessage-deflate; server_no_context_takeover",
			cfg:   on,
			resp:  base + "\r\n", takeover: true, bits: 15,
		},
		{
			name:  "forced client_no_context_takeover",
			offer: "permessage-deflate",
			cfg:   DeflateConfig{Enabled: true, ClientNoContextTakeover: true},
			resp:  base + "; client_no_context_takeover\r\n",
			bits:  15,
		},
		{
			name:     "smaller client window asked for",
			offer:    "permessage-deflate; client_max_window_bits",
			cfg:      DeflateConfig{Enabled: true, ClientMaxWindowBits: 10},
			resp:     base + "; client_max_window_bits=10\r\n",
			takeover: true,
			bits:     10,
		},
		{
			name:     "client's own smaller window is kept",
			offer:    `permessage-deflate; client_max_window_bits="9"`,
			cfg:      DeflateConfig{Enabled: true, ClientMaxWindowBits: 12},
			resp:     base + "\r\n",
			takeover: true,
			bits:     15,
		},
		{
			name:     "window 8 keeps 512 bytes",
			offer:    "permessage-deflate; client_max_window_bits=15",
			cfg:      DeflateConfig{Enabled: true, ClientMaxWindowBits: 8},
			resp:     base + "; client_max_window_bits=8\r\n",
			takeover: true,
			bits:     9,
		},
		{
			name:     "no client_max_window_bits in the offer: nothing asked",
			offer:    "permessage-deflate",
			cfg:      DeflateConfig{Enabled: true, ClientMaxWindowBits: 10},
			resp:     base + "\r\n",
			takeover: true,
			bits:     15,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			d, resp := NegotiateDeflate([]byte(tc.offer), tc.cfg)
			if resp != tc.resp {
				t.Fatalf(
					"response %q, want %q",
					resp, tc.resp)
			}
			if (d != nil) != (tc.resp != "") {
				t.Fatalf(
					"Deflate %v with response %q",
					d, resp)
			}
			if d == nil {
				return
			}
			if d.clientTakeover != tc.takeover || d.windowBits != tc.bits || d.ClientContextTakeover() != tc.takeover {
				t.Fatalf(
					"takeover %v bits %d, want %v %d",
					d.clientTakeover, d.windowBits, tc.takeover, tc.bits)
			}
		})
	}
}

func TestDeflateConfigDefaults(t *testing.T) {
	t.Parallel()
	cases := []struct {
		cfg       DeflateConfig
		level     int
		threshold int
	}{
		{
			cfg:       DeflateConfig{Enabled: true},
			level:     flate.BestSpeed,
			threshold: 64,
		},
		{
			cfg:       DeflateConfig{Enabled: true, Level: 9, Threshold: 10},
			level:     9,
			threshold: 10,
		},
		{
			cfg:       DeflateConfig{Enabled: true, Level: flate.HuffmanOnly, Threshold: -1},
			level:     flate.HuffmanOnly,
			threshold: 0,
		},
		{
			cfg:       DeflateConfig{Enabled: true, Level: 42},
			level:     flate.BestSpeed,
			threshold: 64,
		},
	}
	for _, tc := range cases {
		d, _ := NegotiateDeflate([]byte("permessage-deflate"), tc.cfg)
		if d.level != tc.level || d.threshold != tc.threshold {
			t.Errorf(
				"%+v: level %d threshold %d, want %d %d",
				tc.cfg, d.level, d.threshold, tc.level, tc.threshold)
		}
	}
}
