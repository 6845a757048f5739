package main

import (
	"net/http"
	"strings"
	"testing"
)

// TestMethodNotAllowed checks that a method a matching route does not take
// gets 405 with Allow, not a 404 (RFC 9110 15.5.6), with a body too (it is
// read first).
func TestMethodNotAllowed(t *testing.T) {
	t.Parallel()
	dir := configDir(t)
	base := serve(t, dir, "post: true\nlisteners:\n  - listen: \"127.0.0.1:0\"\n    hosts:\n      - routes:\n          - path: /only-get\n            respond: {body: \"got\\n\"}\n")[0]
	for _, method := range []string{"POST", "OPTIONS", "DELETE"} {
		req, err := http.NewRequest(method, base+"/only-get", strings.NewReader("x"))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := noRedirects.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 405 || resp.Header.Get("Allow") != "GET, HEAD" {
			t.Errorf("%s: %d, Allow %q; want 405, Allow \"GET, HEAD\"", method, resp.StatusCode, resp.Header.Get("Allow"))
		}
	}
}
