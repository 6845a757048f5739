package edge

import "fmt"

// PatternError is the error CompilePattern and CompileRegexp return for an
// expression they refuse. A config loader reads its fields instead of the
// message: Offset points at the mistake inside Expr.
type PatternError struct {
	Kind   string // "pattern" or "regexp"
	Expr   string // the expression as given
	Offset int    // byte offset in Expr of the mistake; -1 when unknown
	Reason string // what is wrong, e.g. "a parameter needs a name"
	Err    error  // the regexp/syntax error for a regexp; nil for a pattern
}

func (e *PatternError) Error() string {
	return fmt.Sprintf("edge: %s %q: %s", e.Kind, e.Expr, e.Reason)
}

// Unwrap returns the regexp/syntax error, if any.
func (e *PatternError) Unwrap() error { return e.Err }
