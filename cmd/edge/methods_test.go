package main

import (
	"net/http"
	"strings"
	"testing"
)

// TestMethodNotAllowed checks that a method a matching route does not take
// gets 405 with Allow, not the fallback's 404 (RFC 9110 15.5.6).
//
// It fails today, and the fix is not in cmd/edge: cmd/edge passes the
// route's methods to edge.Routes.Handle, and the engine's route.match
// (routes.go) treats a method mismatch as no match, so the request falls
// through to the fallback. Reported to the lead; remove the Skip when the
// engine answers 405.
func TestMethodNotAllowed(t *testing.T) {
	t.Skip("engine: routes.go route.match turns a method mismatch into 404; see the cmdconfig report")
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
