package http1_test

import (
	"fmt"
	"testing"

	"github.com/edge-rt/edge/http1"
)

func TestValidators(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		fn   func(string) bool
		good []string
		bad  []string
	}{
		{"ValidToken", http1.ValidToken,
			[]string{"GET", "X-Frame-Options", "a", "!#$%&'*+-.^_`|~09AZaz"},
			[]string{"", "a b", "a:b", "a\x00", "é", "(x)", "a/b", "a\r"}},
		{"ValidHeaderName", http1.ValidHeaderName,
			[]string{"Content-Type", "x"}, []string{"", "Content Type", "a\n"}},
		{"ValidHeaderValue", http1.ValidHeaderValue,
			[]string{"", "text/html; charset=utf-8", "a\tb", "é"},
			[]string{"a\rb", "a\nb", "a\x00b"}},
		{"ValidHostname", http1.ValidHostname,
			[]string{"example.com", "a", "EXAMPLE.com", "_acme.x-y.z", "1.2.3.4"},
			[]string{"", ".a", "a.", "a..b", "-a.com", "a-.com", "a b", "*.a.com", "a:80", string(make([]byte, 254))}},
	}
	for _, tt := range tests {
		for _, s := range tt.good {
			if !tt.fn(s) {
				t.Errorf("%s(%q) = false", tt.name, s)
			}
		}
		for _, s := range tt.bad {
			if tt.fn(s) {
				t.Errorf("%s(%q) = true", tt.name, s)
			}
		}
	}
	tc := http1.TokenChars()
	for c := range 256 {
		if tc[c] != http1.ValidToken(string(rune(c))) && c < 0x80 {
			t.Errorf("TokenChars()[%#x] = %v", c, tc[c])
		}
	}
	if tc[0x80] || tc[0xff] {
		t.Error("TokenChars marks non-ASCII bytes")
	}
}

func TestStripPort(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"example.com":      "example.com",
		"example.com:8443": "example.com",
		"[::1]:8443":       "[::1]",
		"[::1]":            "[::1]",
		"[::1":             "[::1",
		"127.0.0.1:80":     "127.0.0.1",
		"":                 "",
	} {
		if got := http1.StripPort(in); got != want {
			t.Errorf("StripPort(%q) = %q, want %q", in, got, want)
		}
	}
}

func ExampleStripPort() {
	fmt.Println(http1.StripPort("example.com:8443"), http1.StripPort("[::1]:8443"))
	// Output: example.com [::1]
}
