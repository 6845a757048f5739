package sni

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// The hellos in testdata/hellos were captured once by
// tests/clienthello (go test ./clienthello -args -update in the tests
// module): utls presets and crypto/tls clients connecting over loopback to
// a listener that saved the bytes they sent first.
func loadHellos(t testing.TB) map[string][]byte {
	t.Helper()
	files, err := filepath.Glob("testdata/hellos/*.bin")
	if err != nil || len(files) == 0 {
		t.Fatalf("no hellos in testdata/hellos: %v", err)
	}
	m := map[string][]byte{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		m[filepath.Base(f)] = b
	}
	return m
}

func TestParseClientHelloReal(t *testing.T) {
	t.Parallel()
	tests := []struct {
		file     string
		sni      string
		alpn     []string
		keyShare uint16
		grease   bool
	}{
		{"chrome_133.bin", "www.example.org", []string{"h2", "http/1.1"}, 0x11ec, true},
		{"chrome_120.bin", "example.com", []string{"h2", "http/1.1"}, 0x001d, true},
		{"firefox_auto.bin", "example.com", []string{"h2", "http/1.1"}, 0x001d, false},
		{"safari_auto.bin", "example.com", []string{"h2", "http/1.1"}, 0x001d, true},
		{"ios_auto.bin", "example.com", []string{"h2", "http/1.1"}, 0x001d, true},
		{"gotls_h2.bin", "edge.test", []string{"h2", "http/1.1"}, 0x11ec, false},
		{"gotls_nosni.bin", "", nil, 0x11ec, false},
	}
	hellos := loadHellos(t)
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			t.Parallel()
			raw := hellos[tc.file]
			h, err := ParseClientHello(raw)
			if err != nil {
				t.Fatal(err)
			}
			if h.ServerName != tc.sni || !slices.Equal(h.ALPN, tc.alpn) || h.GREASE != tc.grease {
				t.Errorf("sni %q alpn %q grease %v, want %q %q %v", h.ServerName, h.ALPN, h.GREASE, tc.sni, tc.alpn, tc.grease)
			}
			if !slices.Contains(h.KeyShareGroups, tc.keyShare) {
				t.Errorf("key shares %#x lack %#x", h.KeyShareGroups, tc.keyShare)
			}
			if h.MaxVersion() != 0x0304 || h.Version != 0x0303 || h.Len != len(raw) || h.Records != 1 {
				t.Errorf("max version %#x version %#x len %d/%d records %d", h.MaxVersion(), h.Version, h.Len, len(raw), h.Records)
			}
			if !h.HasExtension(ExtKeyShare) || len(h.CipherSuites) == 0 || len(h.SignatureAlgorithms) == 0 {
				t.Errorf("missing key_share, ciphers or signature algorithms")
			}
			for n := 0; n < len(raw); n++ {
				if _, err := ParseClientHello(raw[:n]); !errors.Is(err, ErrNeedMore) {
					t.Fatalf("prefix %d: %v, want ErrNeedMore", n, err)
				}
			}
			// Early data after the hello is not examined.
			if g, err := ParseClientHello(append(slices.Clip(raw), 23, 3, 3, 0, 1, 0)); err != nil || g.Len != len(raw) {
				t.Errorf("with trailing record: %v", err)
			}
			// Fragmented into records of 1, 50 and 1000 bytes.
			for _, n := range []int{1, 50, 1000} {
				if n == 1 && len(raw) > MaxHelloRecords {
					g, err := ParseClientHello(fragment(raw[5:], n))
					if !errors.Is(err, ErrTooLarge) {
						t.Errorf("1-byte records: %v %v, want ErrTooLarge", g, err)
					}
					continue
				}
				g, err := ParseClientHello(fragment(raw[5:], n))
				if err != nil {
					t.Fatalf("records of %d: %v", n, err)
				}
				if g.ServerName != h.ServerName || !slices.Equal(g.Extensions, h.Extensions) || !slices.Equal(g.CipherSuites, h.CipherSuites) {
					t.Errorf("records of %d: parsed differently", n)
				}
			}
		})
	}
}

func fragment(msg []byte, n int) []byte {
	var out []byte
	for len(msg) > 0 {
		k := min(n, len(msg))
		out = append(out, 22, 3, 1, byte(k>>8), byte(k))
		out = append(out, msg[:k]...)
		msg = msg[k:]
	}
	return out
}

func TestParseClientHelloErrors(t *testing.T) {
	t.Parallel()
	hello := loadHellos(t)["gotls_h2.bin"]
	mut := func(f func(b []byte) []byte) []byte { return f(slices.Clone(hello)) }
	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{"empty", nil, ErrNeedMore},
		{"http", []byte("GET / HTTP/1.1\r\n"), ErrNotTLS},
		{"one byte http", []byte("G"), ErrNotTLS},
		{"ssl2 style", []byte{0x80, 0x2e, 0x01}, ErrNotTLS},
		{"bad major", []byte{22, 4}, ErrNotTLS},
		{"bad minor", []byte{22, 3, 9}, ErrNotTLS},
		{"alert record", []byte{21, 3, 1, 0, 2, 2, 40}, ErrNotTLS},
		{"empty record", []byte{22, 3, 1, 0, 0}, ErrMalformed},
		{"record too long", []byte{22, 3, 1, 0x40, 0x01}, ErrTooLarge},
		{"server hello", []byte{22, 3, 3, 0, 4, 2}, ErrNotClientHello},
		{"hello too long", []byte{22, 3, 1, 0, 4, 1, 0x00, 0x40, 0x01}, ErrTooLarge},
		{"alert inside", append(fragment(hello[5:105], 100), 21, 3, 1, 0, 2, 2, 40), ErrNotHandshake},
		{"trailing handshake bytes", mut(func(b []byte) []byte {
			b[4]++ // record one byte longer than the hello
			return append(b, 0)
		}), ErrMalformed},
		{"truncated extensions", mut(func(b []byte) []byte {
			// shrink the handshake length and the record by one, dropping the last byte
			b[3], b[4] = byte((len(b)-6)>>8), byte(len(b)-6)
			n := len(b) - 10
			b[6], b[7], b[8] = byte(n>>16), byte(n>>8), byte(n)
			return b[:len(b)-1]
		}), ErrMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := ParseClientHello(tc.in)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

// TestParseNoAlloc checks a reused ClientHello parses real hellos, one
// record or several, without allocating.
func TestParseNoAlloc(t *testing.T) {
	hellos := loadHellos(t)
	for _, name := range []string{"chrome_133.bin", "firefox_auto.bin"} {
		for _, in := range [][]byte{hellos[name], fragment(hellos[name][5:], 300)} {
			var h ClientHello
			if err := h.Parse(in); err != nil {
				t.Fatal(err)
			}
			allocs := testing.AllocsPerRun(100, func() {
				if err := h.Parse(in); err != nil {
					t.Fatal(err)
				}
			})
			if allocs != 0 {
				t.Errorf("%s: %v allocs per Parse", name, allocs)
			}
		}
	}
}

func BenchmarkParseClientHello(b *testing.B) {
	raw := loadHellos(b)["chrome_133.bin"]
	var h ClientHello
	b.ReportAllocs()
	b.SetBytes(int64(len(raw)))
	for b.Loop() {
		if err := h.Parse(raw); err != nil {
			b.Fatal(err)
		}
	}
}

func FuzzParseClientHello(f *testing.F) {
	for _, b := range loadHellos(f) {
		f.Add(b)
		f.Add(fragment(b[5:], 97))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var h ClientHello
		err := h.Parse(b)
		if err != nil {
			if h2, err2 := ParseClientHello(b); err2 == nil || h2 != nil {
				t.Fatalf("Parse failed (%v) but ParseClientHello did not", err)
			}
			if errors.Is(err, ErrNeedMore) {
				return
			}
			// A final error stays final with more bytes.
			if _, err3 := ParseClientHello(append(slices.Clip(b), make([]byte, 64)...)); errors.Is(err3, ErrNeedMore) {
				t.Fatalf("final error %v became ErrNeedMore with more bytes", err)
			}
			return
		}
		if h.Len > len(b) || h.Len > MaxHelloBytes || h.Records < 1 {
			t.Fatalf("Len %d of %d, records %d", h.Len, len(b), h.Records)
		}
		// Every strict prefix of a hello is ErrNeedMore.
		if _, err := ParseClientHello(b[:h.Len-1]); !errors.Is(err, ErrNeedMore) {
			t.Fatalf("prefix: %v", err)
		}
		// Reparsing into the same ClientHello gives the same result.
		ext := slices.Clone(h.Extensions)
		if err := h.Parse(b); err != nil || !slices.Equal(ext, h.Extensions) {
			t.Fatalf("reparse: %v", err)
		}
	})
}
