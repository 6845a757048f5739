package proxy

import "testing"

// TestVcharSpan checks the word-at-a-time scan against the table, for
// every byte at every position of a 20-byte run.
func TestVcharSpan(t *testing.T) {
	t.Parallel()
	for c := range 256 {
		for pos := range 20 {
			b := []byte("abcdefghijklmnopqrst")
			b[pos] = byte(c)
			want := len(b)
			if !vchar[c] {
				want = pos
			}
			if got := vcharSpan(b); got != want {
				t.Fatalf("byte %#x at %d: span %d, want %d", c, pos, got, want)
			}
		}
	}
}
