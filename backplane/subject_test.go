package backplane

import (
	"bytes"
	"testing"

	"github.com/edge-rt/edge/ws"
)

func TestEncodeTag(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ tag, tok string }{
		{"room:lobby", "room:lobby"},
		{"", "%"},
		{"a.b", "a%2Eb"},
		{"*", "%2A"},
		{">", "%3E"},
		{"%", "%25"},
		{"sp ace", "sp%20ace"},
		{"\x00\xff", "%00%FF"},
		{"é", "%C3%A9"},
	} {
		if got := EncodeTag(c.tag); got != c.tok {
			t.Errorf("EncodeTag(%q) = %q, want %q", c.tag, got, c.tok)
		}
		if got, ok := DecodeTag(c.tok); !ok || got != c.tag {
			t.Errorf("DecodeTag(%q) = %q, %v, want %q", c.tok, got, ok, c.tag)
		}
	}
	for _, bad := range []string{"", "a.b", "%2", "%2e", "%41", "%%", "a b", "*", ">", "%GG"} {
		if got, ok := DecodeTag(bad); ok {
			t.Errorf("DecodeTag(%q) = %q, true; want false", bad, got)
		}
	}
}

func FuzzTag(f *testing.F) {
	for _, s := range []string{"room:lobby", "", "a.b", "%41", "\x00\xff", "%2E"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tok := EncodeTag(s)
		if got, ok := DecodeTag(tok); !ok || got != s {
			t.Fatalf("round trip %q -> %q -> %q, %v", s, tok, got, ok)
		}
		for i := 0; i < len(tok); i++ {
			if c := tok[i]; c <= ' ' || c == '.' || c == '*' || c == '>' || c >= 0x7f {
				t.Fatalf("EncodeTag(%q) = %q has byte %q", s, tok, c)
			}
		}
		if d, ok := DecodeTag(s); ok && EncodeTag(d) != s {
			t.Fatalf("DecodeTag(%q) = %q does not encode back", s, d)
		}
	})
}

func TestFramePayload(t *testing.T) {
	t.Parallel()
	for _, n := range []int{0, 1, 125, 126, 65535, 65536} {
		for _, op := range []ws.Opcode{ws.OpText, ws.OpBinary} {
			data := bytes.Repeat([]byte{'x'}, n)
			gop, got, ok := framePayload(ws.AppendFrame(nil, op, data))
			if !ok || gop != op || !bytes.Equal(got, data) {
				t.Fatalf("framePayload(%v, %d bytes) = %v, %d bytes, %v", op, n, gop, len(got), ok)
			}
		}
	}
	for _, bad := range [][]byte{nil, {0x81}, {0x01, 0}, {0x81, 0x80}, {0x89, 0}, {0x81, 2, 'a'}, {0x81, 126, 0}, {0x82, 127, 0, 0}} {
		if _, _, ok := framePayload(bad); ok {
			t.Errorf("framePayload(%x) ok", bad)
		}
	}
}

func FuzzFramePayload(f *testing.F) {
	f.Add(ws.AppendFrame(nil, ws.OpText, []byte("hi")))
	f.Add(ws.AppendFrame(nil, ws.OpBinary, make([]byte, 300)))
	f.Add([]byte{0x81, 127, 0, 0, 0, 0, 0, 0, 0, 1, 'a'})
	f.Fuzz(func(t *testing.T, b []byte) {
		op, data, ok := framePayload(b)
		if ok && (!bytes.HasSuffix(b, data) || op != ws.OpText && op != ws.OpBinary) {
			t.Fatalf("framePayload(%x) = %v, %x", b, op, data)
		}
	})
}
