package main

import (
	"errors"
	"testing"
)

// TestYAMLErrorPosition checks that a YAML syntax error is reported at the
// line and column of the mistake. Regression: the library's line is where
// the enclosing construct began ("badyaml.yaml:1: yaml: did not find
// expected '-' indicator" for an error on line 3), and it has no column.
func TestYAMLErrorPosition(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, yaml string
		line, col  int
		msg        string
	}{
		{"key outside the list", "listeners:\n  - listen: x\n  hosts: y\n", 3, 3, "yaml: did not find expected '-' indicator"},
		{"unclosed flow list", "a: 1\nb: [1, 2\nc: 3\n", 2, 4, "yaml: did not find expected ',' or ']'"},
		{"unclosed quote", "a: 1\nb: \"abc\nc: 3\n", 2, 4, "yaml: found unexpected end of stream"},
		{"tab", "workers: 1\nlisteners:\n\t- listen: x\n", 3, 1, "yaml: found character that cannot start any token"},
		{"second colon", "a: 1\nb: c: d\n", 2, 4, "yaml: mapping values are not allowed in this context"},
		{"bad indent", "a:\n  - x\n  - y\n z: 1\n", 4, 2, "yaml: did not find expected key"},
		{"unknown anchor", "a: &x 1\nb: *y\n", 2, 4, "yaml: unknown anchor 'y' referenced"},
		{"second document", "a: 1\n---\nb: [\n", 3, 4, "yaml: did not find expected node content"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := parseConfig("bad.yaml", []byte(tt.yaml))
			var ce *ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("error %v (%T), want a *ConfigError", err, err)
			}
			if ce.Line != tt.line || ce.Col != tt.col || ce.Msg != tt.msg {
				t.Errorf("%q: got %d:%d %q, want %d:%d %q", tt.yaml, ce.Line, ce.Col, ce.Msg, tt.line, tt.col, tt.msg)
			}
		})
	}
}
