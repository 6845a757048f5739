package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// decoder walks the node tree, collecting errors.
type decoder struct {
	file string
	dir  string
	errs []error
}

func (d *decoder) errorf(n *yaml.Node, path, format string, args ...any) {
	e := &ConfigError{File: d.file, Path: path, Msg: fmt.Sprintf(format, args...)}
	if n != nil {
		e.Line, e.Col = n.Line, n.Column
	}
	d.errs = append(d.errs, e)
}

func (d *decoder) errorAt(w where, format string, args ...any) error {
	return &ConfigError{File: d.file, Line: w.line, Col: w.col, Path: w.path, Msg: fmt.Sprintf(format, args...)}
}

// field is one key: value pair of a mapping.
type field struct {
	key, val *yaml.Node
	name     string
	path     string // key path of the value
}

func (f field) where() where { return where{f.val.Line, f.val.Column, f.path} }

// fields is the pairs of a mapping, in file order.
type fields []field

func (fs fields) get(name string) (field, bool) {
	for _, f := range fs {
		if f.name == name {
			return f, true
		}
	}
	return field{}, false
}

// present returns the fields among names that fs holds, in file order.
func (fs fields) present(names []string) fields {
	var out fields
	for _, f := range fs {
		if slices.Contains(names, f.name) {
			out = append(out, f)
		}
	}
	return out
}

func resolve(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func index(path string, i int) string { return fmt.Sprintf("%s[%d]", path, i) }

// describe names the kind of a node for "expected X, got Y" messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	}
	switch n.ShortTag() {
	case "!!int":
		return "integer " + n.Value
	case "!!float":
		return "number " + n.Value
	case "!!bool":
		return "boolean " + n.Value
	case "!!null":
		return "null"
	}
	return strconv.Quote(n.Value)
}

// mapping checks that n is a mapping whose keys are all among keys, each
// once, and returns its fields. path is n's key path.
func (d *decoder) mapping(n *yaml.Node, path string, keys ...string) (fields, bool) {
	n = resolve(n)
	if n.Kind != yaml.MappingNode {
		d.errorf(n, path, "expected a mapping, got %s", describe(n))
		return nil, false
	}
	var fs fields
	ok := true
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := resolve(n.Content[i]), resolve(n.Content[i+1])
		if k.Kind != yaml.ScalarNode {
			d.errorf(k, path, "expected a key, got %s", describe(k))
			ok = false
			continue
		}
		name := k.Value
		if k.ShortTag() == "!!merge" {
			d.errorf(k, path, "merge keys (<<) are not supported")
			ok = false
			continue
		}
		if prev, dup := fs.get(name); dup {
			d.errorf(k, path, "duplicate key %q (first at line %d)", name, prev.key.Line)
			ok = false
			continue
		}
		if !slices.Contains(keys, name) {
			msg := fmt.Sprintf("unknown key %q", name)
			if s := suggest(name, keys); s != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", s)
			}
			d.errorf(k, path, "%s", msg)
			ok = false
			continue
		}
		f := field{key: k, val: v, name: name, path: join(path, name)}
		if v.Kind == yaml.ScalarNode && v.ShortTag() == "!!null" {
			d.errorf(k, f.path, "missing value")
			ok = false
			continue
		}
		fs = append(fs, f)
	}
	return fs, ok
}

// suggest returns the key among keys closest to name, if it is close.
func suggest(name string, keys []string) string {
	best, bestD := "", 3
	for _, k := range keys {
		if d := editDistance(strings.ToLower(name), strings.ToLower(k)); d < bestD {
			best, bestD = k, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			c := prev[j-1]
			if a[i-1] != b[j-1] {
				c++
			}
			cur[j] = min(c, prev[j]+1, cur[j-1]+1)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// sequence checks that f's value is a list and returns its items.
func (d *decoder) sequence(f field) ([]*yaml.Node, bool) {
	if f.val.Kind != yaml.SequenceNode {
		d.errorf(f.val, f.path, "expected a list, got %s", describe(f.val))
		return nil, false
	}
	items := make([]*yaml.Node, len(f.val.Content))
	for i, n := range f.val.Content {
		items[i] = resolve(n)
	}
	return items, true
}

// scalar checks that n is a scalar that is not null.
func (d *decoder) scalar(n *yaml.Node, path, want string) bool {
	if n.Kind != yaml.ScalarNode || n.ShortTag() == "!!null" {
		d.errorf(n, path, "expected %s, got %s", want, describe(n))
		return false
	}
	return true
}

// str decodes a string; any scalar is taken as written.
func (d *decoder) str(n *yaml.Node, path string) (string, bool) {
	if !d.scalar(n, path, "a string") {
		return "", false
	}
	return n.Value, true
}

func (d *decoder) boolean(f field) (bool, bool) {
	if !d.scalar(f.val, f.path, "true or false") {
		return false, false
	}
	var b bool
	if f.val.ShortTag() != "!!bool" || f.val.Decode(&b) != nil {
		d.errorf(f.val, f.path, "expected true or false, got %s", describe(f.val))
		return false, false
	}
	return b, true
}

func (d *decoder) integer(f field, lo, hi int64) (int64, bool) {
	if !d.scalar(f.val, f.path, "an integer") {
		return 0, false
	}
	var v int64
	if f.val.ShortTag() != "!!int" || f.val.Decode(&v) != nil {
		d.errorf(f.val, f.path, "expected an integer, got %s", describe(f.val))
		return 0, false
	}
	if v < lo || v > hi {
		d.errorf(f.val, f.path, "%d out of range %d to %d", v, lo, hi)
		return 0, false
	}
	return v, true
}

// duration decodes Go duration syntax ("120s", "2m30s") or an integer number
// of seconds. Negative values are refused unless negOK.
func (d *decoder) duration(f field, negOK bool) (time.Duration, bool) {
	if !d.scalar(f.val, f.path, "a duration") {
		return 0, false
	}
	s := strings.TrimSpace(f.val.Value)
	v, err := parseDuration(s)
	if err != nil {
		d.errorf(f.val, f.path, "bad duration %q: want Go syntax (\"90s\", \"2m\") or an integer number of seconds", f.val.Value)
		return 0, false
	}
	if v < 0 && !negOK {
		d.errorf(f.val, f.path, "duration %q must not be negative", f.val.Value)
		return 0, false
	}
	return v, true
}

func parseDuration(s string) (time.Duration, error) {
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		if n > math.MaxInt64/int64(time.Second) || n < math.MinInt64/int64(time.Second) {
			return 0, errors.New("out of range")
		}
		return time.Duration(n) * time.Second, nil
	}
	return time.ParseDuration(s)
}

var sizeUnits = []struct {
	suffix string
	mult   int64
}{
	// Longest first, so that "KiB" is not read as "B".
	{"kib", 1 << 10}, {"mib", 1 << 20}, {"gib", 1 << 30},
	{"kb", 1e3}, {"mb", 1e6}, {"gb", 1e9},
	{"k", 1 << 10}, {"m", 1 << 20}, {"g", 1 << 30},
	{"b", 1},
}

// size decodes a byte count: an integer, or one with a unit (B, KB, MB, GB,
// KiB, MiB, GiB; K, M, G are the binary ones), at most hi.
func (d *decoder) size(f field, hi int64) (int64, bool) {
	if !d.scalar(f.val, f.path, "a size") {
		return 0, false
	}
	v, err := parseSize(f.val.Value)
	if err != nil {
		d.errorf(f.val, f.path, "bad size %q: want bytes, or a number with B, KiB, MiB, GiB, KB, MB or GB", f.val.Value)
		return 0, false
	}
	if v > hi {
		d.errorf(f.val, f.path, "size %q is more than %d bytes", f.val.Value, hi)
		return 0, false
	}
	return v, true
}

func parseSize(s string) (int64, error) {
	s = strings.TrimSpace(s)
	mult := int64(1)
	lower := strings.ToLower(s)
	for _, u := range sizeUnits {
		if strings.HasSuffix(lower, u.suffix) {
			mult = u.mult
			s = strings.TrimSpace(s[:len(s)-len(u.suffix)])
			break
		}
	}
	if s == "" || s[0] == '+' || s[0] == '-' {
		return 0, errors.New("bad size")
	}
	n, err := strconv.ParseInt(strings.ReplaceAll(s, "_", ""), 10, 64)
	if err != nil {
		return 0, err
	}
	if n > math.MaxInt64/mult {
		return 0, errors.New("size out of range")
	}
	return n * mult, nil
}

var yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// maxLocateLines bounds the files whose YAML errors locateYAMLError looks
// for: it decodes a prefix per line.
const maxLocateLines = 20000

// yamlError puts a YAML syntax error of data in the file:line:col: form.
// The YAML library reports the line where the enclosing construct began
// (often line 1) and no column, so locateYAMLError finds the real place.
func yamlError(name string, data []byte, err error) error {
	msg, line := err.Error(), 0
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = "yaml: " + m[2]
	}
	e := &ConfigError{File: name, Line: line, Msg: msg}
	if l, c := locateYAMLError(data, msg, line); l > 0 {
		e.Line, e.Col = l, c
	}
	return e
}

// locateYAMLError returns the line and column (1-based) of the YAML error
// msg in data: the start of the word that ends the shortest prefix of data
// whose decoding fails with the same message. The search starts at line from, which the library
// reports at or before the real place. It returns 0, 0 when it finds none.
func locateYAMLError(data []byte, msg string, from int) (line, col int) {
	if bytes.Count(data, []byte("\n")) > maxLocateLines {
		return 0, 0
	}
	same := func(prefix []byte) bool {
		err := decodeAll(prefix)
		if err == nil {
			return false
		}
		m := err.Error()
		if sm := yamlLineRE.FindStringSubmatch(m); sm != nil {
			m = "yaml: " + sm[2]
		}
		return m == msg
	}
	start := 0 // of line n
	for n := 1; start <= len(data); n++ {
		end := len(data)
		if i := bytes.IndexByte(data[start:], '\n'); i >= 0 {
			end = start + i + 1
		}
		if n >= from && same(data[:end]) {
			for c := 1; start+c <= end; c++ {
				if same(data[:start+c]) {
					// To the start of the word: a key is known by its colon.
					for c > 1 && data[start+c-2] != ' ' && data[start+c-2] != '\t' {
						c--
					}
					return n, c
				}
			}
			// Only the whole line fails: point at its first non-blank byte.
			c := 1
			for start+c-1 < end && (data[start+c-1] == ' ' || data[start+c-1] == '\t') {
				c++
			}
			return n, c
		}
		if end == len(data) {
			break
		}
		start = end
	}
	return 0, 0
}

// decodeAll decodes every YAML document of data into nodes.
func decodeAll(data []byte) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var n yaml.Node
		if err := dec.Decode(&n); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
	}
}

func (d *decoder) errors(errs ...error) { d.errs = append(d.errs, errs...) }
