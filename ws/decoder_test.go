package ws

import (
	"bytes"
	"compress/flate"
	"errors"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

var testDeflate = &Deflate{level: flate.BestSpeed, threshold: 64, clientTakeover: true, windowBits: 15}

func TestDecoderRules(t *testing.T) {
	t.Parallel()
	text := func(s string) []byte { return frame(fin|byte(OpText), []byte(s)) }
	long64 := []byte{fin | byte(OpBinary), 0x80 | 127, 0x80, 0, 0, 0, 0, 0, 0, 1, 1, 2, 3, 4}
	cases := []struct {
		name    string
		in      []byte
		deflate bool
		max     int64
		want    []rec
		code    uint16 // 0: no error
	}{
		{
			name: "text",
			in:   text("Hello"),
			want: []rec{{Kind: KindMessage, Op: OpText, Payload: "Hello"}},
		},
		{
			name: "empty binary",
			in:   frame(fin|byte(OpBinary), nil),
			want: []rec{{Kind: KindMessage, Op: OpBinary}},
		},
		{
			name: "RFC 6455 5.7 fragmented text",
			in:   cat(frame(byte(OpText), []byte("Hel")), frame(fin|byte(OpContinuation), []byte("lo"))),
			want: []rec{{Kind: KindMessage, Op: OpText, Payload: "Hello"}},
		},
		{
			name: "ping pong close",
			in: cat(frame(fin|byte(OpPing), []byte("p")), frame(fin|byte(OpPong), nil),
				frame(fin|byte(OpClose), closePayload(1000, "bye"))),
			want: []rec{
				{Kind: KindPing, Op: OpPing, Payload: "p"},
				{Kind: KindPong, Op: OpPong},
				{Kind: KindClose, Op: OpClose, Payload: "\x03\xe8bye", Code: 1000, Reason: "bye"},
			},
		},
		{
			name: "close without code",
			in:   frame(fin|byte(OpClose), nil),
			want: []rec{{Kind: KindClose, Op: OpClose, Code: CloseNoStatus}},
		},
		{
			name: "control frames between fragments",
			in: cat(frame(byte(OpBinary), []byte("a")), frame(fin|byte(OpPing), []byte("1")),
				frame(byte(OpContinuation), []byte("b")), frame(fin|byte(OpPong), []byte("2")),
				frame(fin|byte(OpContinuation), []byte("c"))),
			want: []rec{
				{Kind: KindPing, Op: OpPing, Payload: "1"},
				{Kind: KindPong, Op: OpPong, Payload: "2"},
				{Kind: KindMessage, Op: OpBinary, Payload: "abc"},
			},
		},
		{
			name: "non-minimal lengths accepted",
			in:   cat(frameLen(fin|byte(OpText), []byte("16"), 16), frameLen(fin|byte(OpText), []byte("64"), 64)),
			want: []rec{
				{Kind: KindMessage, Op: OpText, Payload: "16"},
				{Kind: KindMessage, Op: OpText, Payload: "64"},
			},
		},
		{
			name: "close codes at the edges of the valid ranges",
			in: cat(frame(fin|byte(OpClose), closePayload(1003, "")), frame(fin|byte(OpClose), closePayload(1007, "")),
				frame(fin|byte(OpClose), closePayload(1014, "")), frame(fin|byte(OpClose), closePayload(3000, "")),
				frame(fin|byte(OpClose), closePayload(4999, "ünï"))),
			want: []rec{
				{Kind: KindClose, Op: OpClose, Payload: "\x03\xeb", Code: 1003},
				{Kind: KindClose, Op: OpClose, Payload: "\x03\xef", Code: 1007},
				{Kind: KindClose, Op: OpClose, Payload: "\x03\xf6", Code: 1014},
				{Kind: KindClose, Op: OpClose, Payload: "\x0b\xb8", Code: 3000},
				{Kind: KindClose, Op: OpClose, Payload: "\x13\x87ünï", Code: 4999, Reason: "ünï"},
			},
		},
		{
			name: "message of exactly MaxMessage",
			in:   cat(frame(byte(OpText), []byte("12345")), frame(fin|byte(OpContinuation), []byte("67890"))),
			max:  10,
			want: []rec{{Kind: KindMessage, Op: OpText, Payload: "1234567890"}},
		},
		{name: "unmasked frame", in: []byte{fin | byte(OpText), 1, 'a'}, code: 1002},
		{name: "unmasked close", in: []byte{fin | byte(OpClose), 0}, code: 1002},
		{name: "reserved data opcode", in: frame(fin|3, nil), code: 1002},
		{name: "reserved data opcode 7", in: frame(fin|7, nil), code: 1002},
		{name: "reserved control opcode", in: frame(fin|0xb, nil), code: 1002},
		{name: "reserved control opcode 15", in: frame(fin|0xf, nil), code: 1002},
		{name: "rsv1 without deflate", in: frame(fin|rsv1|byte(OpText), []byte("a")), code: 1002},
		{name: "rsv2", in: frame(fin|rsv2|byte(OpText), []byte("a")), deflate: true, code: 1002},
		{name: "rsv3", in: frame(fin|rsv3|byte(OpBinary), []byte("a")), deflate: true, code: 1002},
		{name: "rsv1 on ping", in: frame(fin|rsv1|byte(OpPing), nil), deflate: true, code: 1002},
		{
			name:    "rsv1 on continuation",
			in:      cat(frame(byte(OpBinary), []byte("a")), frame(fin|rsv1|byte(OpContinuation), []byte("b"))),
			deflate: true,
			code:    1002,
		},
		{name: "fragmented ping", in: frame(byte(OpPing), nil), code: 1002},
		{name: "fragmented close", in: frame(byte(OpClose), nil), code: 1002},
		{name: "ping of 126 bytes", in: frame(fin|byte(OpPing), make([]byte, 126)), code: 1002},
		{name: "control frame with a 16-bit length", in: frameLen(fin|byte(OpPong), nil, 16), code: 1002},
		{name: "continuation without message", in: frame(fin|byte(OpContinuation), []byte("a")), code: 1002},
		{
			name: "text while a message is open",
			in:   cat(frame(byte(OpText), []byte("a")), frame(fin|byte(OpText), []byte("b"))),
			code: 1002,
		},
		{
			name: "binary after ping while a message is open",
			in:   cat(frame(byte(OpText), []byte("a")), frame(fin|byte(OpPing), nil), frame(fin|byte(OpBinary), nil)),
			want: []rec{{Kind: KindPing, Op: OpPing}},
			code: 1002,
		},
		{name: "64-bit length with the top bit set", in: long64, code: 1002},
		{name: "frame over MaxMessage", in: text("12345678901"), max: 10, code: 1009},
		{
			name: "fragments over MaxMessage",
			in:   cat(frame(byte(OpText), []byte("123456")), frame(fin|byte(OpContinuation), []byte("78901"))),
			max:  10,
			code: 1009,
		},
		{name: "invalid UTF-8", in: text("a\xffb"), code: 1007},
		{name: "surrogate", in: text("\xed\xa0\x80"), code: 1007},
		{name: "overlong", in: text("\xc0\xaf"), code: 1007},
		{name: "truncated sequence at the end", in: text("a\xe2\x82"), code: 1007},
		{
			name: "truncated sequence at the end of fragments",
			in:   cat(frame(byte(OpText), []byte("a\xe2")), frame(fin|byte(OpContinuation), []byte("\x82"))),
			code: 1007,
		},
		{
			name: "sequence split across fragments",
			in:   cat(frame(byte(OpText), []byte("a\xe2")), frame(fin|byte(OpContinuation), []byte("\x82\xacb"))),
			want: []rec{{Kind: KindMessage, Op: OpText, Payload: "a€b"}},
		},
		{
			name: "invalid binary is fine",
			in:   frame(fin|byte(OpBinary), []byte("\xff")),
			want: []rec{{Kind: KindMessage, Op: OpBinary, Payload: "\xff"}},
		},
		{name: "close payload of one byte", in: frame(fin|byte(OpClose), []byte{3}), code: 1002},
		{name: "close code 0", in: frame(fin|byte(OpClose), closePayload(0, "")), code: 1002},
		{name: "close code 999", in: frame(fin|byte(OpClose), closePayload(999, "")), code: 1002},
		{name: "close code 1004", in: frame(fin|byte(OpClose), closePayload(1004, "")), code: 1002},
		{name: "close code 1005", in: frame(fin|byte(OpClose), closePayload(1005, "")), code: 1002},
		{name: "close code 1006", in: frame(fin|byte(OpClose), closePayload(1006, "")), code: 1002},
		{name: "close code 1015", in: frame(fin|byte(OpClose), closePayload(1015, "")), code: 1002},
		{name: "close code 1016", in: frame(fin|byte(OpClose), closePayload(1016, "")), code: 1002},
		{name: "close code 2999", in: frame(fin|byte(OpClose), closePayload(2999, "")), code: 1002},
		{name: "close code 5000", in: frame(fin|byte(OpClose), closePayload(5000, "")), code: 1002},
		{name: "close code 65535", in: frame(fin|byte(OpClose), closePayload(65535, "")), code: 1002},
		{name: "close reason not UTF-8", in: frame(fin|byte(OpClose), closePayload(1000, "\xce")), code: 1007},
		{
			name:    "compressed garbage",
			in:      frame(fin|rsv1|byte(OpBinary), []byte{0xff, 0xff, 0xff}),
			deflate: true,
			code:    1007,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			for _, step := range []int{len(tc.in) + 1, 1} {
				d := Decoder{MaxMessage: tc.max}
				if tc.deflate {
					d.Deflate = testDeflate
				}
				evs, err := feed(t, &d, bytes.Clone(tc.in), step, 1<<16)
				if !eqRecs(evs, tc.want) {
					t.Errorf(
						"step %d: events %v, want %v",
						step, evs, tc.want)
				}
				if got := CloseStatus(err); got != tc.code || (err != nil) != (tc.code != 0) {
					t.Errorf(
						"step %d: error %v, want close code %d",
						step, err, tc.code)
				}
				if err != nil {
					// Sticky.
					if _, n, err2 := d.Next([]byte{0x81}); n != 0 || err2 != err {
						t.Errorf(
							"after an error: n=%d err=%v, want 0, %v",
							n, err2, err)
					}
				}
			}
		})
	}
}

func eqRecs(a, b []rec) bool {
	return len(a) == 0 && len(b) == 0 || reflect.DeepEqual(a, b)
}

func TestDecoderDeclaredTooBig(t *testing.T) {
	t.Parallel()
	// A 64-bit length over the limit fails as soon as the header is in,
	// before any payload.
	d := Decoder{MaxMessage: 1000}
	hdr := frameLen(fin|byte(OpBinary), make([]byte, 1001), 64)[:14]
	_, _, err := d.Next(hdr)
	if CloseStatus(err) != 1009 {
		t.Fatalf(
			"got %v, want 1009",
			err)
	}
	d = Decoder{}
	hdr = []byte{fin | byte(OpBinary), 0x80 | 127, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 1, 2, 3, 4}
	if _, _, err := d.Next(hdr); CloseStatus(err) != 1009 {
		t.Fatalf(
			"got %v, want 1009",
			err)
	}
	// A continuation whose length would overflow the running total.
	d = Decoder{}
	in := cat(frame(byte(OpBinary), []byte("abc")),
		[]byte{fin | byte(OpContinuation), 0x80 | 127, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 1, 2, 3, 4})
	if _, _, err := d.Next(in); CloseStatus(err) != 1009 {
		t.Fatalf(
			"overflowing continuation: got %v, want 1009",
			err)
	}
	d = Decoder{Deflate: testDeflate}
	in = cat(frame(rsv1|byte(OpBinary), []byte("abc")),
		[]byte{fin | byte(OpContinuation), 0x80 | 127, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe, 1, 2, 3, 4})
	if _, _, err := d.Next(in); CloseStatus(err) != 1009 {
		t.Fatalf(
			"overflowing compressed continuation: got %v, want 1009",
			err)
	}
}

// streamCorpus is a client stream exercising most paths.
func streamCorpus() []byte {
	big := bytes.Repeat([]byte("0123456789abcdef"), 700) // 11200 bytes, incremental
	return cat(
		frame(fin|byte(OpText), []byte("hello")),
		frame(fin|byte(OpPing), []byte("are you there")),
		frame(byte(OpText), []byte("κόσ\xce")),
		frame(fin|byte(OpPing), nil),
		frame(byte(OpContinuation), []byte("\xbcε ")),
		frame(byte(OpContinuation), nil),
		frame(fin|byte(OpContinuation), []byte("€!")),
		frame(fin|byte(OpBinary), big),
		frame(byte(OpBinary), big[:5000]),
		frame(fin|byte(OpPong), []byte("x")),
		frame(fin|byte(OpContinuation), big[5000:]),
		frame(fin|byte(OpText), nil),
		frame(fin|byte(OpClose), closePayload(1001, "going")),
	)
}

func TestDecoderSplitEveryByte(t *testing.T) {
	t.Parallel()
	data := streamCorpus()
	var want []rec
	{
		d := Decoder{}
		evs, err := feed(t, &d, bytes.Clone(data), len(data), len(data))
		if err != nil {
			t.Fatal(err)
		}
		want = evs
	}
	if len(want) != 9 || want[3].Payload != "κόσμε €!" {
		t.Fatalf(
			"whole-stream events: %v",
			want)
	}
	for _, step := range []int{1, 2, 3, 5, 7, 13, 64, 1000, 4097} {
		d := Decoder{}
		evs, err := feed(t, &d, bytes.Clone(data), step, 1<<16)
		if err != nil {
			t.Fatalf(
				"step %d: %v",
				step, err)
		}
		if !reflect.DeepEqual(evs, want) {
			t.Fatalf(
				"step %d: events differ:\n%v\n%v",
				step, evs, want)
		}
	}
	// Cut the stream in two at every byte.
	for cut := range len(data) {
		d := Decoder{}
		buf := bytes.Clone(data)
		var evs []rec
		in := buf[:cut]
		rest := buf[cut:]
		for {
			ev, n, err := d.Next(in)
			if err != nil {
				t.Fatalf(
					"cut %d: %v",
					cut, err)
			}
			in = in[n:]
			if ev.Kind != KindNone {
				evs = append(evs, record(ev))
				continue
			}
			if rest == nil {
				break
			}
			in = append(bytes.Clone(in), rest...)
			rest = nil
		}
		if !reflect.DeepEqual(evs, want) {
			t.Fatalf(
				"cut %d: events differ:\n%v\n%v",
				cut, evs, want)
		}
	}
}

func TestDecoderUnmasksInPlace(t *testing.T) {
	t.Parallel()
	in := frame(fin|byte(OpBinary), []byte("in place"))
	var d Decoder
	ev, n, err := d.Next(in)
	if err != nil || n != len(in) || string(ev.Payload) != "in place" {
		t.Fatalf(
			"got %v %d %v",
			record(ev), n, err)
	}
	if &ev.Payload[0] != &in[6] || string(in[6:]) != "in place" {
		t.Fatalf("payload was not unmasked in place in the input")
	}
}

func TestDecoderLargeFrameBoundedBuffer(t *testing.T) {
	t.Parallel()
	payload := make([]byte, 1<<20)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range payload {
		payload[i] = byte(r.Uint32())
	}
	text := bytes.Repeat([]byte("é"), 1<<19) // 1 MiB of 2-byte sequences
	data := cat(
		frame(fin|byte(OpBinary), payload),
		frame(fin|byte(OpText), text),
		frame(byte(OpBinary), payload[:300000]),
		frame(fin|byte(OpPing), nil),
		frame(fin|byte(OpContinuation), payload[300000:]),
	)
	for _, step := range []int{1 << 16, 1000, 4099} {
		d := Decoder{}
		evs, err := feed(t, &d, bytes.Clone(data), step, 64<<10)
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) != 4 || evs[0].Payload != string(payload) || evs[1].Payload != string(text) ||
			evs[2].Kind != KindPing || evs[3].Payload != string(payload) {
			t.Fatalf(
				"step %d: wrong events (%d)",
				step, len(evs))
		}
	}
	// One byte over the limit fails at the header.
	d := Decoder{}
	_, err := feed(t, &d, frame(fin|byte(OpBinary), append(payload, 0)), 1<<16, 64<<10)
	if CloseStatus(err) != 1009 {
		t.Fatalf(
			"got %v, want 1009",
			err)
	}
	// A small caller buffer still works: MinBuffer is enough.
	d = Decoder{}
	evs, err := feed(t, &d, bytes.Clone(data), 1<<16, MinBuffer)
	if err != nil || len(evs) != 4 || evs[3].Payload != string(payload) {
		t.Fatalf(
			"MinBuffer: %d events, %v",
			len(evs), err)
	}
}

func TestDecoderUTF8FailFast(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		frames [][]byte // the error must come right after the last frame
	}{
		{
			name: "bad byte in the first fragment",
			frames: [][]byte{
				frame(byte(OpText), []byte("ok \xff")),
			},
		},
		{
			name: "lead byte, then ASCII in the next fragment",
			frames: [][]byte{
				frame(byte(OpText), []byte("κόσμε \xce")),
				frame(byte(OpContinuation), []byte("A")),
			},
		},
		{
			name: "impossible prefix at the end of a fragment",
			frames: [][]byte{
				frame(byte(OpText), []byte("ok")),
				frame(byte(OpContinuation), []byte("\xf4\x90")), // above U+10FFFF
			},
		},
		{
			name: "surrogate prefix split over fragments",
			frames: [][]byte{
				frame(byte(OpText), []byte("\xed")),
				frame(byte(OpContinuation), []byte("\xa0")),
			},
		},
		{
			name: "four-byte sequence split over three fragments",
			frames: [][]byte{
				frame(byte(OpText), []byte("\xf0")),
				frame(byte(OpContinuation), []byte("\x9f")),
				frame(byte(OpContinuation), []byte("\x98\x28")),
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var d Decoder
			for i, f := range tc.frames {
				_, n, err := d.Next(f)
				last := i == len(tc.frames)-1
				if last && CloseStatus(err) != 1007 {
					t.Fatalf(
						"frame %d: got %v, want 1007",
						i, err)
				}
				if !last && (err != nil || n != len(f)) {
					t.Fatalf(
						"frame %d: n=%d err=%v",
						i, n, err)
				}
			}
		})
	}
	// A large text frame fails before its end arrives.
	payload := append(bytes.Repeat([]byte("a"), 10000), 0xff)
	payload = append(payload, bytes.Repeat([]byte("b"), 100000)...)
	f := frame(fin|byte(OpText), payload)
	var d Decoder
	_, _, err := d.Next(f[:20000])
	if CloseStatus(err) != 1007 {
		t.Fatalf(
			"got %v, want 1007 before the frame's end",
			err)
	}
}

func TestUTF8StateExhaustive(t *testing.T) {
	t.Parallel()
	// Every split of every 1-4 byte string over the interesting bytes must
	// agree with utf8.Valid; and a string of up to 3 bytes must be refused
	// as soon as no continuation can make it valid (fail fast).
	alphabet := []byte{0x41, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xc2, 0xdf, 0xe0, 0xe1, 0xed, 0xee, 0xef, 0xf0, 0xf1, 0xf4, 0xf5, 0xff}
	var s []byte
	var try func(depth int)
	try = func(depth int) {
		if depth > 0 {
			valid := utf8.Valid(s)
			for cut := 0; cut <= len(s); cut++ {
				var st utf8State
				ok := st.valid(s[:cut]) && st.valid(s[cut:]) && st.complete()
				if ok != valid {
					t.Fatalf(
						"% x cut at %d: got %v, want %v",
						s, cut, ok, valid)
				}
			}
			if depth <= 3 {
				var st utf8State
				if got, want := st.valid(s), canComplete(s); got != want {
					t.Fatalf(
						"% x as a prefix: got %v, want %v",
						s, got, want)
				}
			}
		}
		if depth == 4 {
			return
		}
		for _, c := range alphabet {
			s = append(s, c)
			try(depth + 1)
			s = s[:len(s)-1]
		}
	}
	try(0)
}

// canComplete reports whether s followed by some bytes is valid UTF-8. The
// bounds of the continuation ranges are enough to find one.
func canComplete(s []byte) bool {
	conts := []byte{0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf}
	var try func(b []byte, more int) bool
	try = func(b []byte, more int) bool {
		if utf8.Valid(b) {
			return true
		}
		if more == 0 {
			return false
		}
		for _, c := range conts {
			if try(append(b, c), more-1) {
				return true
			}
		}
		return false
	}
	return try(bytes.Clone(s), 3)
}

func TestDecoderCompressed(t *testing.T) {
	t.Parallel()
	msgs := [][]byte{
		[]byte(strings.Repeat("hello, compressed world! ", 40)),
		[]byte("short"),
		[]byte(strings.Repeat("hello, compressed world! ", 40)), // back-references with takeover
		bytes.Repeat([]byte{0}, 200000),                         // big, incremental
		{},
		[]byte("κόσμε κόσμε κόσμε"),
	}
	for _, takeover := range []bool{false, true} {
		for _, level := range []int{flate.HuffmanOnly, flate.BestSpeed, flate.BestCompression} {
			c := newClientDeflater(t, level, takeover)
			var data []byte
			var want []rec
			for i, m := range msgs {
				z := c.compress(m)
				op := OpText
				if i == 3 {
					op = OpBinary
				}
				if i == 2 {
					// Fragmented, with a ping between.
					data = append(data, frame(rsv1|byte(op), z[:len(z)/2])...)
					data = append(data, frame(fin|byte(OpPing), []byte("p"))...)
					data = append(data, frame(fin|byte(OpContinuation), z[len(z)/2:])...)
					want = append(want, rec{Kind: KindPing, Op: OpPing, Payload: "p"})
				} else {
					data = append(data, frame(fin|rsv1|byte(op), z)...)
				}
				want = append(want, rec{Kind: KindMessage, Op: op, Payload: string(m)})
				// Uncompressed messages may come between.
				data = append(data, frame(fin|byte(OpText), []byte("plain"))...)
				want = append(want, rec{Kind: KindMessage, Op: OpText, Payload: "plain"})
			}
			for _, step := range []int{len(data), 1, 1000} {
				d := Decoder{Deflate: &Deflate{level: 1, threshold: 64, clientTakeover: takeover, windowBits: 15}}
				evs, err := feed(t, &d, bytes.Clone(data), step, 64<<10)
				if err != nil {
					t.Fatalf(
						"takeover=%v level=%d step=%d: %v",
						takeover, level, step, err)
				}
				if !reflect.DeepEqual(evs, want) {
					t.Fatalf(
						"takeover=%v level=%d step=%d: events differ",
						takeover, level, step)
				}
			}
		}
	}
}

func TestDecoderTakeoverNeedsWindow(t *testing.T) {
	t.Parallel()
	// A decoder that agreed on client_no_context_takeover keeps no window,
	// so a client breaking the agreement gets 1007, not garbage.
	c := newClientDeflater(t, flate.BestSpeed, true)
	m := []byte(strings.Repeat("abcdefgh", 100))
	data := cat(frame(fin|rsv1|byte(OpText), c.compress(m)), frame(fin|rsv1|byte(OpText), c.compress(m)))
	d := Decoder{Deflate: &Deflate{level: 1, clientTakeover: false, windowBits: 15}}
	_, err := feed(t, &d, data, len(data), len(data))
	if CloseStatus(err) != 1007 {
		t.Fatalf(
			"got %v, want 1007",
			err)
	}
}

func TestDecoderSmallWindow(t *testing.T) {
	t.Parallel()
	// A client asked for client_max_window_bits=9 references at most 512
	// bytes back; the decoder keeps just that.
	var zbuf bytes.Buffer
	m1 := bytes.Repeat([]byte("0123456789"), 100)
	m2 := []byte("0123456789012345678901234567890123456789")
	fw, _ := flate.NewWriterDict(&zbuf, flate.BestSpeed, nil)
	fw.Write(m1)
	fw.Flush()
	z1 := bytes.TrimSuffix(bytes.Clone(zbuf.Bytes()), deflateTail)
	zbuf.Reset()
	fw.Write(m2)
	fw.Flush()
	z2 := bytes.TrimSuffix(bytes.Clone(zbuf.Bytes()), deflateTail)
	d := Decoder{Deflate: &Deflate{level: 1, clientTakeover: true, windowBits: 9}}
	data := cat(frame(fin|rsv1|byte(OpText), z1), frame(fin|rsv1|byte(OpText), z2))
	evs, err := feed(t, &d, data, len(data), len(data))
	if err != nil || len(evs) != 2 || evs[1].Payload != string(m2) {
		t.Fatalf(
			"%v %v",
			evs, err)
	}
	if len(d.window) != 512 || cap(d.window) != 512 {
		t.Fatalf(
			"window len %d cap %d, want 512",
			len(d.window), cap(d.window))
	}
}

func TestDecoderZipBomb(t *testing.T) {
	t.Parallel()
	c := newClientDeflater(t, flate.BestSpeed, false)
	bomb := c.compress(make([]byte, 16<<20)) // 16 MiB of zeros
	if len(bomb) > 64<<10 {
		t.Fatalf(
			"bomb is %d bytes",
			len(bomb))
	}
	for _, max := range []int64{0, 1000} {
		d := Decoder{MaxMessage: max, Deflate: testDeflate}
		_, err := feed(t, &d, frame(fin|rsv1|byte(OpBinary), bomb), 1<<16, 64<<10)
		if CloseStatus(err) != 1009 {
			t.Fatalf(
				"max %d: got %v, want 1009",
				max, err)
		}
	}
	// Exactly at the limit is fine.
	m := bytes.Repeat([]byte("z"), 5000)
	d := Decoder{MaxMessage: 5000, Deflate: testDeflate}
	evs, err := feed(t, &d, frame(fin|rsv1|byte(OpText), c.compress(m)), 1<<16, 64<<10)
	if err != nil || len(evs) != 1 || evs[0].Payload != string(m) {
		t.Fatalf(
			"at the limit: %v",
			err)
	}
	d = Decoder{MaxMessage: 4999, Deflate: testDeflate}
	if _, err := feed(t, &d, frame(fin|rsv1|byte(OpText), c.compress(m)), 1<<16, 64<<10); CloseStatus(err) != 1009 {
		t.Fatalf(
			"one over the limit: %v",
			err)
	}
}

func TestDecoderCompressedInvalidUTF8(t *testing.T) {
	t.Parallel()
	c := newClientDeflater(t, flate.BestSpeed, false)
	d := Decoder{Deflate: testDeflate}
	_, err := feed(t, &d, frame(fin|rsv1|byte(OpText), c.compress([]byte("bad \xff text"))), 100, 1000)
	if CloseStatus(err) != 1007 {
		t.Fatalf(
			"got %v, want 1007",
			err)
	}
}

func TestDecoderReset(t *testing.T) {
	t.Parallel()
	d := Decoder{MaxMessage: 100, Deflate: testDeflate}
	if _, _, err := d.Next(frame(byte(OpText), []byte("open"))); err != nil {
		t.Fatal(err)
	}
	d.Reset()
	if d.MaxMessage != 100 || d.Deflate != testDeflate || d.open || d.msg != nil {
		t.Fatalf("Reset kept state or lost settings")
	}
	ev, _, err := d.Next(frame(fin|byte(OpText), []byte("new")))
	if err != nil || string(ev.Payload) != "new" {
		t.Fatalf(
			"after Reset: %v %v",
			record(ev), err)
	}
	// Reset clears a sticky error too.
	d.Next([]byte{0x81, 0x00})
	d.Reset()
	if _, _, err := d.Next(frame(fin|byte(OpText), []byte("ok"))); err != nil {
		t.Fatal(err)
	}
}

func TestDecoderAllocs(t *testing.T) {
	in := frame(fin|byte(OpText), []byte("hello, world"))
	buf := make([]byte, len(in))
	var d Decoder
	allocs := testing.AllocsPerRun(100, func() {
		copy(buf, in)
		if ev, _, err := d.Next(buf); err != nil || ev.Kind != KindMessage {
			t.Fatal(err)
		}
	})
	if allocs > 0 {
		t.Fatalf(
			"%v allocations per small message",
			allocs)
	}
	if raceEnabled {
		return // sync.Pool drops items under the race detector
	}
	// Fragmented messages borrow pooled buffers: no allocations once warm.
	frags := cat(frame(byte(OpBinary), []byte("ab")), frame(fin|byte(OpContinuation), []byte("cd")))
	buf = make([]byte, len(frags))
	allocs = testing.AllocsPerRun(100, func() {
		copy(buf, frags)
		ev, _, err := d.Next(buf)
		if err != nil || string(ev.Payload) != "abcd" {
			t.Fatal(err)
		}
	})
	if allocs > 0 {
		t.Fatalf(
			"%v allocations per fragmented message",
			allocs)
	}
	c := newClientDeflater(t, flate.BestSpeed, false)
	z := frame(fin|rsv1|byte(OpText), c.compress([]byte(strings.Repeat("compress me ", 20))))
	d = Decoder{Deflate: &Deflate{level: 1, clientTakeover: false, windowBits: 15}}
	buf = make([]byte, len(z))
	allocs = testing.AllocsPerRun(100, func() {
		copy(buf, z)
		ev, _, err := d.Next(buf)
		if err != nil || ev.Kind != KindMessage {
			t.Fatal(err)
		}
	})
	if allocs > 0 {
		t.Fatalf(
			"%v allocations per compressed message",
			allocs)
	}
}

func TestCloseError(t *testing.T) {
	t.Parallel()
	var d Decoder
	_, _, err := d.Next([]byte{0x81, 0x00})
	var ce *CloseError
	if !errors.As(err, &ce) || ce.Code != 1002 || err.Error() != "ws: close 1002: unmasked client frame" {
		t.Fatalf(
			"got %v",
			err)
	}
	if CloseStatus(errors.New("x")) != 0 || CloseStatus(nil) != 0 {
		t.Fatal("CloseStatus of a foreign error")
	}
}
