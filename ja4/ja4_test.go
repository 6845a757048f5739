package ja4

import (
	"os"
	"testing"

	"github.com/edge-rt/edge/sni"
)

// TestPublishedExample is the example of FoxIO's JA4 technical details
// (a Chrome hello): t13d1516h2_8daaf6152771_e5627efa2ab1.
func TestPublishedExample(t *testing.T) { // not parallel: AllocsPerRun
	h := &sni.ClientHello{
		Version:           0x0303,
		SupportedVersions: []uint16{0x2a2a, 0x0304, 0x0303},
		ServerName:        "example.com",
		ALPN:              []string{"h2", "http/1.1"},
		CipherSuites: []uint16{0x9a9a, 0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9, 0xcca8,
			0xc013, 0xc014, 0x009c, 0x009d, 0x002f, 0x0035},
		Extensions: []uint16{0x1a1a, 0x0000, 0x0017, 0xff01, 0x000a, 0x000b, 0x0023, 0x0010, 0x0005, 0x000d,
			0x0012, 0x0033, 0x002d, 0x002b, 0x001b, 0x4469, 0x0015, 0xfafa},
		SignatureAlgorithms: []uint16{0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601},
	}
	if got, want := Fingerprint(h, TCP), "t13d1516h2_8daaf6152771_e5627efa2ab1"; got != want {
		t.Errorf("JA4 = %s, want %s", got, want)
	}
	wantRaw := "t13d1516h2_002f,0035,009c,009d,1301,1302,1303,c013,c014,c02b,c02c,c02f,c030,cca8,cca9_" +
		"0005,000a,000b,000d,0012,0015,0017,001b,0023,002b,002d,0033,4469,ff01_0403,0804,0401,0503,0805,0501,0806,0601"
	if got := Raw(h, TCP); got != wantRaw {
		t.Errorf("raw = %s\nwant  %s", got, wantRaw)
	}
	if allocs := testing.AllocsPerRun(100, func() {
		var buf [36]byte
		_ = Append(buf[:0], h, TCP)
	}); allocs != 0 {
		t.Errorf("Append: %v allocs", allocs)
	}
}

// TestRealHellos pins the JA4 of the hellos in testdata/hellos (captured
// from utls presets and crypto/tls by tests/clienthello, which also checks
// these values against a derivation from tshark's decoding of the same
// bytes). chrome_133's value equals the one browserleaks publishes for
// Chrome 143 on Android (with ECH).
func TestRealHellos(t *testing.T) {
	t.Parallel()
	tests := []struct{ file, want string }{
		{"chrome_133.bin", "t13d1516h2_8daaf6152771_d8a2da3f94cd"},
		{"chrome_auto.bin", "t13d1516h2_8daaf6152771_d8a2da3f94cd"},
		{"chrome_120.bin", "t13d1517h2_8daaf6152771_b1ff8ab2d16f"},
		{"edge_auto.bin", "t13d1515h2_8daaf6152771_de4a06bb82e3"},
		{"firefox_auto.bin", "t13d1715h2_5b57614c22b0_5c2c66f702b0"},
		{"safari_auto.bin", "t13d2014h2_a09f3c656075_14788d8d241b"},
		{"ios_auto.bin", "t13d2613h2_2802a3db6c62_845d286b0d67"},
		{"gotls_h2.bin", "t13d1312h2_f57a46bbacb6_ab7e3b40a677"},
		{"gotls_nosni.bin", "t13i131000_f57a46bbacb6_ab7e3b40a677"},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			t.Parallel()
			raw, err := os.ReadFile("testdata/hellos/" + tc.file)
			if err != nil {
				t.Fatal(err)
			}
			h, err := sni.ParseClientHello(raw)
			if err != nil {
				t.Fatal(err)
			}
			if got := Fingerprint(h, TCP); got != tc.want {
				t.Errorf("JA4 = %s, want %s (raw %s)", got, tc.want, Raw(h, TCP))
			}
		})
	}
}

func TestEdgeCases(t *testing.T) {
	t.Parallel()
	many := make([]uint16, 120)
	for i := range many {
		many[i] = uint16(i + 1)
	}
	tests := []struct {
		name string
		h    sni.ClientHello
		want string
	}{
		{"nothing", sni.ClientHello{Version: 0x0301, CipherSuites: []uint16{0x000a}},
			""},
		{"ssl3 no alpn", sni.ClientHello{Version: 0x0300}, "ts3i000000_000000000000_000000000000"},
		{"unknown version", sni.ClientHello{Version: 0x0305}, "t00i000000_000000000000_000000000000"},
		{"grease only versions", sni.ClientHello{Version: 0x0303, SupportedVersions: []uint16{0x0a0a}}, "t12i000000_000000000000_000000000000"},
		{"counts capped", sni.ClientHello{Version: 0x0303, CipherSuites: many, Extensions: many}, ""},
		{"alpn one char", sni.ClientHello{Version: 0x0303, ALPN: []string{"h"}}, "t12i0000hh_000000000000_000000000000"},
		{"alpn non alnum", sni.ClientHello{Version: 0x0303, ALPN: []string{"\xab\x01\xcd"}}, "t12i0000ad_000000000000_000000000000"},
		{"alpn http/1.1", sni.ClientHello{Version: 0x0303, ALPN: []string{"http/1.1", "h2"}}, "t12i0000h1_000000000000_000000000000"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := Fingerprint(&tc.h, TCP)
			switch tc.name {
			case "nothing":
				if got[:10] != "t10i010000" || got[24:] != "000000000000" {
					t.Errorf("JA4 = %s", got)
				}
			case "counts capped":
				if got[:10] != "t12i999900" {
					t.Errorf("JA4 = %s", got)
				}
			default:
				if got != tc.want {
					t.Errorf("JA4 = %s, want %s", got, tc.want)
				}
			}
		})
	}
}

func BenchmarkFingerprint(b *testing.B) {
	raw, err := os.ReadFile("testdata/hellos/chrome_133.bin")
	if err != nil {
		b.Fatal(err)
	}
	h, err := sni.ParseClientHello(raw)
	if err != nil {
		b.Fatal(err)
	}
	var buf [36]byte
	b.ReportAllocs()
	for b.Loop() {
		_ = Append(buf[:0], h, TCP)
	}
}
