package ws

import (
	"bytes"
	"compress/flate"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
	"unicode/utf8"

	gws "github.com/gobwas/ws"
	"github.com/gobwas/ws/wsflate"
	"github.com/gobwas/ws/wsutil"
)

func TestAppendFrameHeader(t *testing.T) {
	t.Parallel()
	cases := []struct {
		op     Opcode
		fin    bool
		rsv1   bool
		length int
		want   []byte
	}{
		{
			op:     OpText,
			fin:    true,
			length: 0,
			want:   []byte{0x81, 0},
		},
		{
			op:     OpBinary,
			fin:    false,
			length: 125,
			want:   []byte{0x02, 125},
		},
		{
			op:     OpText,
			fin:    true,
			rsv1:   true,
			length: 126,
			want:   []byte{0xc1, 126, 0, 126},
		},
		{
			op:     OpContinuation,
			fin:    true,
			length: 0xffff,
			want:   []byte{0x80, 126, 0xff, 0xff},
		},
		{
			op:     OpBinary,
			fin:    true,
			length: 0x10000,
			want:   []byte{0x82, 127, 0, 0, 0, 0, 0, 1, 0, 0},
		},
		{
			op:     OpPing,
			fin:    true,
			length: 1,
			want:   []byte{0x89, 1},
		},
	}
	for _, tc := range cases {
		got := AppendFrameHeader([]byte{0xee}, tc.op, tc.fin, tc.rsv1, tc.length)
		if !bytes.Equal(got[1:], tc.want) || got[0] != 0xee {
			t.Errorf(
				"%v %v %v %d: % x, want % x",
				tc.op, tc.fin, tc.rsv1, tc.length, got[1:], tc.want)
		}
		// gobwas reads the same header.
		h, err := gws.ReadHeader(bytes.NewReader(tc.want))
		if err != nil || h.Fin != tc.fin || h.Rsv1() != tc.rsv1 || int(h.OpCode) != int(tc.op) || h.Length != int64(tc.length) || h.Masked {
			t.Errorf(
				"gobwas read %+v, %v",
				h, err)
		}
	}
}

func TestAppendClose(t *testing.T) {
	t.Parallel()
	if got := AppendClose(nil, 0, "ignored"); !bytes.Equal(got, []byte{0x88, 0}) {
		t.Errorf(
			"empty close: % x",
			got)
	}
	got := AppendClose(nil, 1000, "bye")
	if !bytes.Equal(got, []byte{0x88, 5, 0x03, 0xe8, 'b', 'y', 'e'}) {
		t.Errorf(
			"close: % x",
			got)
	}
	long := strings.Repeat("é", 100) // 200 bytes
	got = AppendClose(nil, 1001, long)
	if len(got) > 2+125 || !utf8.Valid(got[4:]) || got[1] != byte(len(got)-2) {
		t.Errorf(
			"long reason: %d bytes, valid %v",
			len(got), utf8.Valid(got[4:]))
	}
	//lint:ignore SA1019 an independent decoder to check ours against; the input is our own bounded frame
	f, err := gws.ReadFrame(bytes.NewReader(got))
	if err != nil {
		t.Fatal(err)
	}
	code, reason := gws.ParseCloseFrameData(f.Payload)
	if code != 1001 || len(reason) != 122 || gws.CheckCloseFrameData(code, reason) != nil {
		t.Errorf(
			"gobwas read code %d reason of %d bytes",
			code, len(reason))
	}
}

func TestIsValidCloseCode(t *testing.T) {
	t.Parallel()
	valid := map[uint16]bool{}
	for _, c := range []uint16{1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999} {
		valid[c] = true
	}
	for _, c := range []uint16{0, 1, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535} {
		if IsValidCloseCode(c) {
			t.Errorf(
				"%d valid",
				c)
		}
	}
	for c := range valid {
		if !IsValidCloseCode(c) {
			t.Errorf(
				"%d invalid",
				c)
		}
	}
	// Agree with gobwas's check where both define the code.
	for c := range 5000 { // gobwas accepts anything above
		code := uint16(c)
		g := gws.CheckCloseFrameData(gws.StatusCode(code), "") == nil
		if code >= 1012 && code <= 1014 {
			continue // IANA-registered since; gobwas predates them
		}
		if g != IsValidCloseCode(code) {
			t.Errorf(
				"%d: gobwas %v, edge %v",
				code, g, IsValidCloseCode(code))
		}
	}
}

func TestFrameAllocs(t *testing.T) {
	buf := make([]byte, 0, 4096)
	payload := make([]byte, 1000)
	if n := testing.AllocsPerRun(100, func() {
		b := AppendFrame(buf, OpBinary, payload)
		b = AppendClose(b, 1000, "bye")
		_ = AppendFrameHeader(b, OpText, true, false, 70000)
	}); n != 0 {
		t.Fatalf(
			"%v allocations",
			n)
	}
}

func TestAppendMessage(t *testing.T) {
	t.Parallel()
	d, _ := NegotiateDeflate([]byte("permessage-deflate"), DeflateConfig{Enabled: true})
	random := make([]byte, 5000)
	r := rand.New(rand.NewPCG(3, 4))
	for i := range random {
		random[i] = byte(r.Uint32())
	}
	cases := []struct {
		name       string
		op         Opcode
		payload    []byte
		compressed bool
	}{
		{
			name:       "text",
			op:         OpText,
			payload:    []byte(strings.Repeat("compressible text ", 100)),
			compressed: true,
		},
		{
			name:       "big binary",
			op:         OpBinary,
			payload:    bytes.Repeat([]byte{1, 2, 3, 4, 5}, 100000),
			compressed: true,
		},
		{
			name:    "under the threshold",
			op:      OpText,
			payload: []byte(strings.Repeat("a", 63)),
		},
		{
			name:    "incompressible",
			op:      OpBinary,
			payload: random,
		},
		{
			name:    "control frames are never compressed",
			op:      OpPing,
			payload: []byte(strings.Repeat("a", 100)),
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			out := d.AppendMessage([]byte("prefix"), tc.op, tc.payload)
			if string(out[:6]) != "prefix" {
				t.Fatal("prefix lost")
			}
			frame := out[6:]
			//lint:ignore SA1019 an independent decoder to check ours against; the input is our own bounded frame
			f, err := gws.ReadFrame(bytes.NewReader(frame))
			if err != nil {
				t.Fatal(err)
			}
			if f.Header.Rsv1() != tc.compressed || !f.Header.Fin || int(f.Header.OpCode) != int(tc.op) {
				t.Fatalf(
					"header %+v, want compressed %v",
					f.Header, tc.compressed)
			}
			if tc.compressed {
				if len(f.Payload) >= len(tc.payload) {
					t.Fatalf("compressed frame is not smaller")
				}
				// gobwas's own decompressor reads it.
				f, err = wsflate.DecompressFrame(f)
				if err != nil {
					t.Fatal(err)
				}
			}
			if !bytes.Equal(f.Payload, tc.payload) {
				t.Fatalf("payload differs")
			}
			// And so does a plain RFC 7692 receiver.
			if tc.compressed {
				//lint:ignore SA1019 an independent decoder to check ours against; the input is our own bounded frame
				raw, _ := gws.ReadFrame(bytes.NewReader(frame))
				fr := flate.NewReader(io.MultiReader(bytes.NewReader(raw.Payload), bytes.NewReader(deflateTail)))
				got, _ := io.ReadAll(fr) // ends in ErrUnexpectedEOF without a final block
				if !bytes.Equal(got, tc.payload) {
					t.Fatalf("flate reader disagrees")
				}
			}
		})
	}
	// A nil Deflate sends plain frames.
	var none *Deflate
	if got := none.AppendMessage(nil, OpText, []byte(strings.Repeat("x", 500))); got[0] != 0x81 {
		t.Fatalf(
			"nil Deflate: % x",
			got[:4])
	}
	// The same bytes whatever the receiver's own parameters: shareable.
	d2, _ := NegotiateDeflate([]byte("permessage-deflate; client_no_context_takeover; client_max_window_bits"),
		DeflateConfig{Enabled: true, ClientMaxWindowBits: 9})
	p := []byte(strings.Repeat("shared ", 200))
	if !bytes.Equal(d.AppendMessage(nil, OpText, p), d2.AppendMessage(nil, OpText, p)) {
		t.Fatal("frames differ between receivers")
	}
	// Stateless: the same message twice compresses the same.
	if !bytes.Equal(d.AppendMessage(nil, OpText, p), d.AppendMessage(nil, OpText, p)) {
		t.Fatal("context carried between messages")
	}
}

func TestAppendMessageAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items under the race detector")
	}
	d, _ := NegotiateDeflate([]byte("permessage-deflate"), DeflateConfig{Enabled: true})
	p := []byte(strings.Repeat("hello, world ", 50))
	buf := make([]byte, 0, 4096)
	d.AppendMessage(buf, OpText, p) // warm the pool
	if n := testing.AllocsPerRun(100, func() { d.AppendMessage(buf, OpText, p) }); n > 0 {
		t.Fatalf(
			"%v allocations",
			n)
	}
}

// Client frames written by gobwas (ws.WriteFrame + ws.MaskFrame, wsutil's
// client writers, and wsflate compression) decode with the Decoder.
func TestInteropGobwasClient(t *testing.T) {
	t.Parallel()
	var wire bytes.Buffer
	big := bytes.Repeat([]byte("gobwas "), 30000)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(gws.WriteFrame(&wire, gws.MaskFrame(gws.NewTextFrame([]byte("hello")))))
	must(gws.WriteFrame(&wire, gws.MaskFrame(gws.NewPingFrame([]byte("ping")))))
	must(wsutil.WriteClientBinary(&wire, big))
	// A fragmented message through wsutil.Writer with small frames.
	w := wsutil.NewWriterSize(&wire, gws.StateClientSide, gws.OpText, 1000)
	w.Write([]byte(strings.Repeat("κόσμε", 1000)))
	must(w.Flush())
	// Compressed, with gobwas's wsflate helper.
	cf, err := wsflate.CompressFrame(gws.NewBinaryFrame(big))
	must(err)
	must(gws.WriteFrame(&wire, gws.MaskFrame(cf)))
	// Compressed with wsflate.Writer (client context takeover off).
	var msg bytes.Buffer
	fw := wsflate.NewWriter(&msg, func(w io.Writer) wsflate.Compressor {
		f, _ := flate.NewWriter(w, flate.BestCompression)
		return f
	})
	fw.Write([]byte(strings.Repeat("deflated text ", 300)))
	must(fw.Flush())
	h := gws.Header{Fin: true, OpCode: gws.OpText, Masked: true, Mask: gws.NewMask(), Length: int64(msg.Len())}
	h, _ = wsflate.SetBit(h)
	must(gws.WriteHeader(&wire, h))
	payload := bytes.Clone(msg.Bytes())
	gws.Cipher(payload, h.Mask, 0)
	wire.Write(payload)
	must(gws.WriteFrame(&wire, gws.MaskFrame(gws.NewCloseFrame(gws.NewCloseFrameBody(gws.StatusGoingAway, "bye")))))

	want := []rec{
		{Kind: KindMessage, Op: OpText, Payload: "hello"},
		{Kind: KindPing, Op: OpPing, Payload: "ping"},
		{Kind: KindMessage, Op: OpBinary, Payload: string(big)},
		{Kind: KindMessage, Op: OpText, Payload: strings.Repeat("κόσμε", 1000)},
		{Kind: KindMessage, Op: OpBinary, Payload: string(big)},
		{Kind: KindMessage, Op: OpText, Payload: strings.Repeat("deflated text ", 300)},
		{Kind: KindClose, Op: OpClose, Payload: "\x03\xe9bye", Code: 1001, Reason: "bye"},
	}
	for _, step := range []int{wire.Len(), 1 << 16, 100, 1} {
		d := Decoder{Deflate: testDeflate}
		evs, err := feed(t, &d, bytes.Clone(wire.Bytes()), step, 1<<16)
		if err != nil {
			t.Fatalf(
				"step %d: %v",
				step, err)
		}
		if !eqRecs(evs, want) {
			t.Fatalf(
				"step %d: got %v\nwant %v",
				step, evs, want)
		}
	}
}

// Server frames built here read back with gobwas's client-side reader.
func TestInteropGobwasReader(t *testing.T) {
	t.Parallel()
	d, _ := NegotiateDeflate([]byte("permessage-deflate"), DeflateConfig{Enabled: true})
	var out []byte
	out = AppendFrame(out, OpText, []byte("plain"))
	out = AppendFrame(out, OpPing, []byte("p"))
	out = d.AppendMessage(out, OpText, []byte(strings.Repeat("squeeze me ", 1000)))
	out = AppendFrameHeader(out, OpBinary, false, false, 3)
	out = append(out, "abc"...)
	out = AppendFrameHeader(out, OpContinuation, true, false, 3)
	out = append(out, "def"...)
	out = AppendClose(out, 1000, "done")

	r := bytes.NewReader(out)
	msgs, err := wsutil.ReadServerMessage(r, nil)
	if err != nil {
		t.Fatal(err)
	}
	// ReadServerMessage stops after the first data message, gathering the
	// control frames before it.
	if len(msgs) != 1 || string(msgs[0].Payload) != "plain" {
		t.Fatalf(
			"%v",
			msgs)
	}
	rd := wsutil.NewClientSideReader(r)
	rd.State |= gws.StateExtended
	ms := &wsflate.MessageState{}
	rd.Extensions = []wsutil.RecvExtension{ms}
	var got []string
	for {
		h, err := rd.NextFrame()
		if err != nil {
			t.Fatal(err)
		}
		if h.OpCode.IsControl() {
			p, _ := io.ReadAll(rd)
			got = append(got, Opcode(h.OpCode).String()+":"+string(p))
			if h.OpCode == gws.OpClose {
				break
			}
			continue
		}
		var p []byte
		if ms.IsCompressed() {
			fr := wsflate.NewReader(rd, func(r io.Reader) wsflate.Decompressor { return flate.NewReader(r) })
			p, err = io.ReadAll(fr)
		} else {
			p, err = io.ReadAll(rd)
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, string(p))
	}
	want := []string{"ping:p", strings.Repeat("squeeze me ", 1000), "abcdef", "close:\x03\xe8done"}
	if len(got) != len(want) {
		t.Fatalf(
			"got %q",
			got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf(
				"message %d: %.40q, want %.40q",
				i, got[i], want[i])
		}
	}
}
