package ws

import (
	"bytes"
	"compress/flate"
	"strconv"
	"strings"
	"testing"
)

func BenchmarkDecodeSmallText(b *testing.B) {
	in := frame(fin|byte(OpText), []byte(`{"type":"chat","text":"hello, world"}`))
	buf := make([]byte, len(in))
	var d Decoder
	b.ReportAllocs()
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		copy(buf, in) // Next unmasks in place
		ev, _, err := d.Next(buf)
		if err != nil || ev.Kind != KindMessage {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeFragmented(b *testing.B) {
	in := cat(frame(byte(OpText), []byte(strings.Repeat("a", 500))), frame(fin|byte(OpPing), nil),
		frame(fin|byte(OpContinuation), []byte(strings.Repeat("b", 500))))
	buf := make([]byte, len(in))
	var d Decoder
	b.ReportAllocs()
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		copy(buf, in)
		for p := buf; len(p) > 0; {
			ev, n, err := d.Next(p)
			if err != nil || (ev.Kind == KindNone && n == 0) {
				b.Fatal(err)
			}
			p = p[n:]
		}
	}
}

func BenchmarkDecodeLarge(b *testing.B) {
	in := frame(fin|byte(OpBinary), bytes.Repeat([]byte{1, 2, 3, 4, 5, 6, 7}, 9000)) // 63 KB
	buf := make([]byte, len(in))
	var d Decoder
	b.ReportAllocs()
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		copy(buf, in)
		if ev, _, err := d.Next(buf); err != nil || ev.Kind != KindMessage {
			b.Fatal(err)
		}
	}
}

func BenchmarkAppendFrame(b *testing.B) {
	payload := []byte(strings.Repeat("x", 128))
	buf := make([]byte, 0, 256)
	b.ReportAllocs()
	b.SetBytes(int64(len(payload)))
	for b.Loop() {
		buf = AppendFrame(buf[:0], OpText, payload)
	}
}

func BenchmarkAppendAccept(b *testing.B) {
	key := []byte("dGhlIHNhbXBsZSBub25jZQ==")
	buf := make([]byte, 0, 64)
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendAccept(buf[:0], key)
	}
}

var benchJSON = []byte(strings.Repeat(`{"id":12345,"user":"alice","tags":["news","sports"],"text":"the quick brown fox jumps over the lazy dog"},`, 10)) // ~1 KB

func BenchmarkDeflate(b *testing.B) {
	for _, level := range []int{flate.BestSpeed, flate.DefaultCompression} {
		d, _ := NegotiateDeflate([]byte("permessage-deflate"), DeflateConfig{Enabled: true, Level: level})
		b.Run("compress/level="+strconv.Itoa(level), func(b *testing.B) {
			buf := make([]byte, 0, 4096)
			b.ReportAllocs()
			b.SetBytes(int64(len(benchJSON)))
			for b.Loop() {
				buf = d.AppendMessage(buf[:0], OpText, benchJSON)
			}
			b.ReportMetric(float64(len(buf))/float64(len(benchJSON)), "ratio")
		})
	}
	b.Run("decompress", func(b *testing.B) {
		c := newClientDeflater(b, flate.BestSpeed, false)
		in := frame(fin|rsv1|byte(OpText), c.compress(benchJSON))
		buf := make([]byte, len(in))
		d := Decoder{Deflate: &Deflate{level: 1, threshold: 64, windowBits: 15}}
		b.ReportAllocs()
		b.SetBytes(int64(len(benchJSON)))
		for b.Loop() {
			copy(buf, in)
			if ev, _, err := d.Next(buf); err != nil || len(ev.Payload) != len(benchJSON) {
				b.Fatal(err)
			}
		}
	})
	b.Run("decompress/takeover", func(b *testing.B) {
		c := newClientDeflater(b, flate.BestSpeed, true)
		d := Decoder{Deflate: &Deflate{level: 1, threshold: 64, clientTakeover: true, windowBits: 15}}
		b.ReportAllocs()
		b.SetBytes(int64(len(benchJSON)))
		for b.Loop() {
			b.StopTimer()
			in := frame(fin|rsv1|byte(OpText), c.compress(benchJSON))
			b.StartTimer()
			if ev, _, err := d.Next(in); err != nil || len(ev.Payload) != len(benchJSON) {
				b.Fatal(err)
			}
		}
	})
}
