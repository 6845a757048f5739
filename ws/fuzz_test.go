package ws

import (
	"bytes"
	"compress/flate"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

var updateSeeds = flag.Bool("update-seeds", false, "rewrite testdata/fuzz/FuzzDecoder")

// fuzzSetup maps the fuzzer's flags byte to a decoder: bit 0 enables
// deflate, bit 1 client context takeover, bits 2-3 pick MaxMessage, bits
// 4-7 the step the input arrives in.
func fuzzSetup(flags byte) (mk func() *Decoder, step int) {
	maxes := [4]int64{0, 100, 5000, 70000}
	mk = func() *Decoder {
		d := &Decoder{MaxMessage: maxes[flags>>2&3]}
		if flags&1 != 0 {
			d.Deflate = &Deflate{level: flate.BestSpeed, threshold: 64, clientTakeover: flags&2 != 0, windowBits: 15}
		}
		return d
	}
	steps := [16]int{1, 2, 3, 5, 7, 11, 16, 31, 64, 100, 127, 1000, 4095, 4096, 4097, 65536}
	return mk, steps[flags>>4]
}

func FuzzDecoder(f *testing.F) {
	for _, s := range fuzzSeeds() {
		f.Add(s.flags, s.data)
	}
	f.Fuzz(func(t *testing.T, flags byte, data []byte) {
		mk, step := fuzzSetup(flags)
		d1 := mk()
		whole, err1 := feed(t, d1, bytes.Clone(data), len(data)+1, len(data)+1)
		d2 := mk()
		split, err2 := feed(t, d2, bytes.Clone(data), step, MinBuffer)
		if (err1 == nil) != (err2 == nil) || CloseStatus(err1) != CloseStatus(err2) {
			t.Fatalf(
				"whole: %v, split by %d: %v",
				err1, step, err2)
		}
		if !eqRecs(whole, split) {
			t.Fatalf(
				"events differ when split by %d:\n%v\n%v",
				step, whole, split)
		}
		for _, err := range []error{err1, err2} {
			if err == nil {
				continue
			}
			ce, ok := err.(*CloseError)
			if !ok || (ce.Code != 1002 && ce.Code != 1007 && ce.Code != 1009) {
				t.Fatalf(
					"error %v",
					err)
			}
		}
		limit := d1.limit()
		for _, ev := range whole {
			switch ev.Kind {
			case KindMessage:
				if ev.Op != OpText && ev.Op != OpBinary {
					t.Fatalf(
						"message with opcode %v",
						ev.Op)
				}
				if int64(len(ev.Payload)) > limit {
					t.Fatalf(
						"message of %d bytes over %d",
						len(ev.Payload), limit)
				}
				if ev.Op == OpText && !utf8.ValidString(ev.Payload) {
					t.Fatalf("invalid UTF-8 in a text message")
				}
			case KindPing, KindPong:
				if len(ev.Payload) > MaxControlPayload {
					t.Fatalf("long control frame")
				}
			case KindClose:
				switch {
				case len(ev.Payload) == 0 && ev.Code == CloseNoStatus:
				case len(ev.Payload) >= 2 && IsValidCloseCode(ev.Code) && utf8.ValidString(ev.Reason) &&
					ev.Reason == ev.Payload[2:]:
				default:
					t.Fatalf(
						"bad close event %v",
						ev)
				}
			default:
				t.Fatalf(
					"event kind %v",
					ev.Kind)
			}
		}
	})
}

type fuzzSeed struct {
	name  string
	flags byte
	data  []byte
}

func fuzzSeeds() []fuzzSeed {
	zc := func(takeover bool, msgs ...string) []byte {
		var c *clientDeflater
		var out []byte
		for _, m := range msgs {
			if c == nil {
				c = newClientDeflater(&testing.T{}, flate.BestSpeed, takeover)
			}
			out = append(out, frame(fin|rsv1|byte(OpText), c.compress([]byte(m)))...)
		}
		return out
	}
	rep := strings.Repeat
	return []fuzzSeed{
		{"text", 0x00, frame(fin|byte(OpText), []byte("Hello"))},
		{"binary-16bit", 0x10, frame(fin|byte(OpBinary), bytes.Repeat([]byte{7}, 300))},
		{"fragmented-ping", 0x20, cat(frame(byte(OpText), []byte("Hel")), frame(fin|byte(OpPing), []byte("x")),
			frame(fin|byte(OpContinuation), []byte("lo")))},
		{"close", 0x00, frame(fin|byte(OpClose), closePayload(1000, "bye"))},
		{"close-empty", 0x30, frame(fin|byte(OpClose), nil)},
		{"close-bad-code", 0x00, frame(fin|byte(OpClose), closePayload(1005, ""))},
		{"close-bad-reason", 0x00, frame(fin|byte(OpClose), closePayload(1000, "\xff"))},
		{"utf8-split", 0x40, cat(frame(byte(OpText), []byte("κόσ\xce")), frame(fin|byte(OpContinuation), []byte("\xbcε")))},
		{"utf8-bad", 0x50, cat(frame(byte(OpText), []byte("ok\xf4")), frame(fin|byte(OpContinuation), []byte("\x90")))},
		{"unmasked", 0x00, []byte{0x81, 0x02, 'h', 'i'}},
		{"reserved-opcode", 0x00, frame(fin|0x3, nil)},
		{"rsv", 0x01, frame(fin|rsv2|byte(OpText), []byte("x"))},
		{"long-ping", 0x00, frame(fin|byte(OpPing), make([]byte, 126))},
		{"top-bit-length", 0x00, []byte{0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4}},
		{"too-big", 0x04, frame(fin|byte(OpBinary), make([]byte, 101))},
		{"large-incremental", 0xbc, cat(frame(byte(OpBinary), bytes.Repeat([]byte("ab"), 3000)),
			frame(fin|byte(OpPong), nil), frame(fin|byte(OpContinuation), bytes.Repeat([]byte("cd"), 3000)))},
		{"deflate", 0x61, zc(false, rep("compress ", 30), "tiny")},
		{"deflate-takeover", 0x73, zc(true, rep("takeover ", 30), rep("takeover ", 31))},
		{"deflate-fragmented", 0x81, func() []byte {
			z := newClientDeflater(&testing.T{}, flate.BestSpeed, false).compress([]byte(rep("frag ", 50)))
			return cat(frame(rsv1|byte(OpBinary), z[:5]), frame(fin|byte(OpPing), nil), frame(fin|byte(OpContinuation), z[5:]))
		}()},
		{"deflate-bomb", 0x95, zc(false, rep("\x00", 200000))},
		{"deflate-garbage", 0x01, frame(fin|rsv1|byte(OpBinary), []byte{0xde, 0xad, 0xbe, 0xef})},
		{"stream", 0xc0, streamCorpus()},
	}
}

// TestFuzzSeeds checks the files in testdata/fuzz/FuzzDecoder match
// fuzzSeeds; -update-seeds rewrites them.
func TestFuzzSeeds(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzDecoder")
	seeds := fuzzSeeds()
	if *updateSeeds {
		os.RemoveAll(dir)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range seeds {
		content := fmt.Sprintf("go test fuzz v1\nbyte(%q)\n[]byte(%q)\n", s.flags, s.data)
		path := filepath.Join(dir, "seed-"+s.name)
		if *updateSeeds {
			if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf(
				"%v (run go test -run TestFuzzSeeds -update-seeds)",
				err)
		}
		// The compressor's output may change with Go versions: only the
		// uncompressed seeds must match exactly.
		if s.flags&1 == 0 && !reflect.DeepEqual(string(got), content) {
			t.Errorf(
				"%s is stale (run go test -run TestFuzzSeeds -update-seeds)",
				path)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) < 15 {
		t.Fatalf(
			"%d seed files",
			len(entries))
	}
}
