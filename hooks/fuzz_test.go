package hooks

import (
	"testing"
)

// FuzzAnswers feeds backend answers to both decoders: they must not panic,
// and an answer they accept must apply without panicking.
func FuzzAnswers(f *testing.F) {
	f.Add([]byte(`{"accept": true, "tags": ["room:a"], "data": {"n": 1}, "reply": "hi"}`), 1)
	f.Add([]byte(`[{"reply_b64": "AAE=", "publish": [{"tags": ["a", "b"], "data_b64": "AA=="}], "close": true}, null]`), 2)
	f.Fuzz(func(t *testing.T, b []byte, n int) {
		if n < 0 || n > 1000 {
			n = 1
		}
		c := newRec(1)
		if a, err := decodeConnectAnswer(b); err == nil {
			a.apply(c)
			a.rejectClose()
		}
		if a, err := decodeAnswer(b); err == nil && a != nil {
			a.apply(c)
		}
		as, err := decodeMessageAnswers(b, n)
		if err != nil {
			return
		}
		if len(as) > n {
			t.Fatalf("%d answers for %d messages", len(as), n)
		}
		for _, a := range as {
			if a != nil {
				a.apply(c)
			}
		}
	})
}

// FuzzParseURL checks that ParseURL never panics and that what it accepts
// makes a client.
func FuzzParseURL(f *testing.F) {
	f.Add("http://127.0.0.1:9001/hooks")
	f.Add("unix:/run/app.sock:/hooks")
	f.Fuzz(func(t *testing.T, s string) {
		if _, _, _, err := ParseURL(s); err != nil {
			return
		}
		if _, err := newHTTPClient(s); err != nil {
			t.Fatalf("ParseURL accepted %q, newHTTPClient refused it: %v", s, err)
		}
	})
}
