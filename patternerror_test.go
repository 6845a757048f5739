package edge_test

import (
	"errors"
	"regexp/syntax"
	"testing"

	"github.com/edge-rt/edge"
)

func TestPatternError(t *testing.T) {
	t.Parallel()
	tests := []struct {
		expr   string
		offset int
		reason string
		msg    string
	}{
		{"a/:b", 0, "must start with /", `edge: pattern "a/:b": must start with /`},
		{"/a/:", 3, "a parameter needs a name", `edge: pattern "/a/:": a parameter needs a name`},
		{"/x/:a/y/:a", 8, `parameter "a" appears twice`, `edge: pattern "/x/:a/y/:a": parameter "a" appears twice`},
		{"/:a/:b/:c/:d/:e/:f/:g/:h/:i/:j", 25, "10 parameters, at most 8", `edge: pattern "/:a/:b/:c/:d/:e/:f/:g/:h/:i/:j": 10 parameters, at most 8`},
	}
	for _, tt := range tests {
		_, err := edge.CompilePattern(tt.expr)
		var pe *edge.PatternError
		if !errors.As(err, &pe) {
			t.Errorf("CompilePattern(%q) = %v, want a *PatternError", tt.expr, err)
			continue
		}
		if pe.Kind != "pattern" || pe.Expr != tt.expr || pe.Offset != tt.offset || pe.Reason != tt.reason || err.Error() != tt.msg {
			t.Errorf("CompilePattern(%q) = %+v (%q), want offset %d, reason %q, message %q", tt.expr, pe, err, tt.offset, tt.reason, tt.msg)
		}
	}
	if _, err := edge.CompilePattern("/a/:id/b/:name"); err != nil {
		t.Errorf("a good pattern: %v", err)
	}
}

func TestRegexpError(t *testing.T) {
	t.Parallel()
	_, err := edge.CompileRegexp("(foo")
	var pe *edge.PatternError
	var se *syntax.Error
	if !errors.As(err, &pe) || !errors.As(err, &se) {
		t.Fatalf("CompileRegexp = %v, want a *PatternError wrapping a *syntax.Error", err)
	}
	// The user's own expression, not the anchored one edge compiles.
	if pe.Kind != "regexp" || se.Code != syntax.ErrMissingParen || se.Expr != "(foo" {
		t.Errorf("CompileRegexp = %+v, syntax error %+v", pe, se)
	}
	if want := "edge: regexp \"(foo\": error parsing regexp: missing closing ): `(foo`"; err.Error() != want {
		t.Errorf("message %q, want %q", err, want)
	}
}
