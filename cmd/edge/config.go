package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/edge-rt/edge"
	"github.com/edge-rt/edge/sni"
	"github.com/edge-rt/edge/static"
	"github.com/edge-rt/edge/tlsbackend"
	"github.com/edge-rt/edge/web"
)

// The config file is decoded into a yaml.Node tree and walked by hand, so
// that every error carries the file, line, column and key path, unknown and
// duplicate keys are refused, and nothing is silently ignored. parseConfig
// only reads the file's text (and checks that the paths it names exist);
// build loads content and makes the edge.Server.

// fileConfig is a parsed and validated config file.
type fileConfig struct {
	name string // the file name, for messages
	dir  string // relative paths in the file are relative to this

	cfg       edge.Config // global settings; Logger is set by build
	logFormat string      // "text" or "json"
	tls       tlsSettings
	listeners []*listenerConfig
	acme      *acmeSettings // acmeClient: (acme.go); nil = none
	nats      *natsSettings // nats: (nats.go); nil = none
	ops       opsSettings   // admin:, accessLog:, log: (ops.go)

	// Made by build, for main to start and stop.
	stores     []*sni.Store
	tlsServers []tlsbackend.Server
}

type listenerConfig struct {
	at      where
	network string // "tcp" or "unix"
	address string // host:port, or the socket path
	hosts   []*hostConfig

	tls         bool
	defaultHost string // TLS: the certificate for unknown names
}

type hostConfig struct {
	host     string // "" = any host
	routes   []*routeConfig
	fallback *respondConfig
	certs    *certConfig // TLS: where the host's certificate is
}

// matcherKind is the matcher key a route uses.
type matcherKind string

const (
	matchPath    matcherKind = "path"
	matchPaths   matcherKind = "paths"
	matchPrefix  matcherKind = "prefix"
	matchRegexp  matcherKind = "regexp"
	matchPattern matcherKind = "pattern"
)

var matcherKeys = []string{"path", "paths", "prefix", "regexp", "pattern"}
var actionKeys = []string{"respond", "redirect", "static", "file", "stream", "acme"}

type routeConfig struct {
	at where // the action's value: build errors point here

	kind    matcherKind // "" for acme
	paths   []string    // path, paths
	expr    string      // prefix, regexp, pattern
	methods []string    // nil = any method

	action   string // one of actionKeys
	respond  *respondConfig
	redirect *redirectConfig
	stream   *streamConfig // stream.go
	path     string        // static, file, acme: a path resolved against fileConfig.dir, or "embed:"
	dev      bool          // static: read from disk per request
}

type respondConfig struct {
	status  int
	typ     string
	body    string
	headers [][2]string // sorted by name
}

type redirectConfig struct {
	to     string
	status int
}

// where is a position in the config file and the key path there, for errors
// found after parsing.
type where struct {
	line, col int
	path      string
}

// embedSite is the static source that names the binary's embedded web site.
const embedSite = "embed:"

// Defaults of the edge binary that differ from edge.Config's zero value.
const (
	defaultReusePort      = true
	defaultLimitOpenFiles = -1
)

// maxUserHeaders is how many request headers a config may declare.
const maxUserHeaders = edge.MaxHeaders

// ConfigError is one mistake in a config file.
type ConfigError struct {
	File      string
	Line, Col int    // 0 when unknown
	Path      string // key path, e.g. "listeners[0].hosts[1].routes[2]"; may be empty
	Msg       string
}

func (e *ConfigError) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
		if e.Col > 0 {
			fmt.Fprintf(&b, ":%d", e.Col)
		}
	}
	b.WriteString(": ")
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

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

// parseConfig parses and validates the config file name holding data.
// Relative paths in it are relative to name's directory. It touches the file
// system only to check that the paths the file names exist.
func parseConfig(name string, data []byte) (*fileConfig, error) {
	d := &decoder{file: name, dir: filepath.Dir(name)}
	fc := &fileConfig{
		name:      name,
		dir:       d.dir,
		logFormat: "text",
		cfg: edge.Config{
			ReusePort:      defaultReusePort,
			LimitOpenFiles: defaultLimitOpenFiles,
		},
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, &ConfigError{File: name, Msg: "empty configuration: no listeners"}
		}
		return nil, yamlError(name, err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		if err != nil {
			return nil, yamlError(name, err)
		}
		return nil, &ConfigError{File: name, Line: extra.Line, Col: extra.Column, Msg: "more than one YAML document"}
	}
	root := resolve(&doc)
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = resolve(root.Content[0])
	}
	if root.Kind == yaml.ScalarNode && root.ShortTag() == "!!null" {
		return nil, &ConfigError{File: name, Msg: "empty configuration: no listeners"}
	}
	d.top(root, fc)
	// In file order, whichever pass found them.
	slices.SortStableFunc(d.errs, func(a, b error) int {
		ea, eb := a.(*ConfigError), b.(*ConfigError)
		if ea.Line != eb.Line {
			return ea.Line - eb.Line
		}
		return ea.Col - eb.Col
	})
	if err := errors.Join(d.errs...); err != nil {
		return nil, err
	}
	return fc, nil
}

var yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// yamlError puts a YAML syntax error in the file:line: form. The YAML
// library does not report the column.
func yamlError(name string, err error) error {
	msg := err.Error()
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		return &ConfigError{File: name, Line: line, Msg: "yaml: " + m[2]}
	}
	return &ConfigError{File: name, Msg: msg}
}

var topKeys = []string{
	"workers", "clientMax", "connectionTimeout", "readTimeout", "writeTimeout",
	"pendingTimeout", "shutdownTimeout", "maxRequestLine", "maxHeaderBytes",
	"maxHeaders", "maxBodySize", "post", "headers", "tcpNodelay", "soKeepalive",
	"reusePort", "limitOpenFiles", "headerServer", "serverName", "headerDate",
	"headerContentType", "errorCloseMode", "debug", "logFormat", "listeners",
	"certsPath", "privKeyFile", "fullChainFile", "sslRoutesHost", "tls",
	"acmeClient", "pingInterval",
	"nats",                      // nats.go
	"admin", "accessLog", "log", // ops.go
}

func (d *decoder) top(root *yaml.Node, fc *fileConfig) {
	fs, _ := d.mapping(root, "", topKeys...)
	c := &fc.cfg
	setInt := func(dst *int, f field, lo, hi int64) {
		if v, ok := d.integer(f, lo, hi); ok {
			*dst = int(v)
		}
	}
	setDur := func(dst *time.Duration, f field, negOK bool) {
		if v, ok := d.duration(f, negOK); ok {
			*dst = v
		}
	}
	setSize := func(dst *int, f field) {
		if v, ok := d.size(f, math.MaxInt32); ok {
			*dst = int(v)
		}
	}
	setBool := func(dst *bool, f field, invert bool) {
		if v, ok := d.boolean(f); ok {
			*dst = v != invert
		}
	}
	var listeners field
	for _, f := range fs {
		switch f.name {
		case "workers":
			setInt(&c.Workers, f, 0, 4096)
		case "clientMax":
			setInt(&c.ClientMax, f, 0, math.MaxInt32)
		case "connectionTimeout":
			setDur(&c.IdleTimeout, f, true)
		case "readTimeout":
			setDur(&c.ReadTimeout, f, false)
		case "writeTimeout":
			setDur(&c.WriteTimeout, f, false)
		case "pendingTimeout":
			setDur(&c.PendingTimeout, f, true)
		case "shutdownTimeout":
			setDur(&c.ShutdownTimeout, f, false)
		case "pingInterval":
			setDur(&c.PingInterval, f, false)
		case "maxRequestLine":
			setSize(&c.MaxRequestLine, f)
		case "maxHeaderBytes":
			setSize(&c.MaxHeaderBytes, f)
		case "maxHeaders":
			setInt(&c.MaxHeaders, f, 0, 10000)
		case "maxBodySize":
			if v, ok := d.size(f, math.MaxInt64); ok {
				c.MaxBodySize = v
			}
		case "post":
			setBool(&c.AllowPost, f, false)
		case "headers":
			c.Headers = d.headerNames(f)
		case "tcpNodelay":
			setBool(&c.DisableNoDelay, f, true)
		case "soKeepalive":
			setBool(&c.SOKeepAlive, f, false)
		case "reusePort":
			setBool(&c.ReusePort, f, false)
		case "limitOpenFiles":
			setInt(&c.LimitOpenFiles, f, -1, math.MaxInt32)
		case "headerServer":
			setBool(&c.HeaderServer, f, false)
		case "serverName":
			if s, ok := d.str(f.val, f.path); ok {
				if !validHeaderValue(s) || strings.TrimSpace(s) == "" {
					d.errorf(f.val, f.path, "bad server name %q", s)
				}
				c.ServerName = s
			}
		case "headerDate":
			setBool(&c.HeaderDate, f, false)
		case "headerContentType":
			setBool(&c.NoContentType, f, true)
		case "errorCloseMode":
			if s, ok := d.str(f.val, f.path); ok {
				switch s {
				case "linger":
					c.ErrorClose = edge.CloseLinger
				case "immediately":
					c.ErrorClose = edge.CloseImmediately
				default:
					d.errorf(f.val, f.path, "unknown mode %q: want linger or immediately", s)
				}
			}
		case "debug":
			setBool(&c.Debug, f, false)
		case "logFormat":
			if s, ok := d.str(f.val, f.path); ok {
				if s != "text" && s != "json" {
					d.errorf(f.val, f.path, "unknown log format %q: want text or json", s)
				}
				fc.logFormat = s
			}
		case "listeners":
			listeners = f
		case "certsPath":
			if s, ok := d.str(f.val, f.path); ok {
				if s == "" {
					d.errorf(f.val, f.path, "empty path")
				} else if !filepath.IsAbs(s) {
					s = filepath.Join(fc.dir, s)
				}
				fc.tls.certsPath = s
			}
		case "privKeyFile", "fullChainFile":
			if s, ok := d.str(f.val, f.path); ok {
				if s == "" || strings.ContainsRune(s, '/') {
					d.errorf(f.val, f.path, "want a file name, without a directory")
				}
				if f.name == "privKeyFile" {
					fc.tls.privKeyFile = s
				} else {
					fc.tls.fullChainFile = s
				}
			}
		case "sslRoutesHost":
			d.hostPolicy(f, &fc.tls)
		case "tls":
			d.tlsBlock(f, &fc.tls)
		case "acmeClient":
			d.acmeClient(f, fc) // acme.go
		case "nats":
			d.natsBlock(f, fc) // nats.go
		case "admin", "accessLog", "log":
			d.ops(f, fc) // ops.go
		}
	}
	if listeners.val == nil {
		if root.Kind == yaml.MappingNode {
			d.errorf(root, "", "no listeners")
		}
		return
	}
	d.listeners(listeners, fc)
	d.acmeFinish(fc) // acme.go
}

// headerNames decodes the request headers handlers may read.
func (d *decoder) headerNames(f field) []string {
	items, ok := d.sequence(f)
	if !ok {
		return nil
	}
	var names []string
	for i, n := range items {
		p := index(f.path, i)
		s, ok := d.str(n, p)
		if !ok {
			continue
		}
		switch {
		case !isToken(s):
			d.errorf(n, p, "bad header name %q", s)
		case slices.ContainsFunc(names, func(x string) bool { return strings.EqualFold(x, s) }):
			d.errorf(n, p, "duplicate header %q", s)
		default:
			names = append(names, s)
		}
	}
	if len(names) > maxUserHeaders {
		d.errorf(f.val, f.path, "%d headers, at most %d", len(names), maxUserHeaders)
	}
	return names
}

func (d *decoder) listeners(f field, fc *fileConfig) {
	items, ok := d.sequence(f)
	if !ok {
		return
	}
	if len(items) == 0 {
		d.errorf(f.val, f.path, "no listeners")
		return
	}
	type seen struct {
		path string
		line int
	}
	addrs := map[string]seen{}
	for i, n := range items {
		p := index(f.path, i)
		lc := d.listener(n, p, fc)
		if lc == nil {
			continue
		}
		fc.listeners = append(fc.listeners, lc)
		key := addrKey(lc.network, lc.address)
		if key == "" {
			continue
		}
		if s, dup := addrs[key]; dup {
			d.errors(d.errorAt(lc.at, "address %q already used by %s (line %d)", lc.address, s.path, s.line))
			continue
		}
		addrs[key] = seen{p, lc.at.line}
	}
}

func (d *decoder) errors(errs ...error) { d.errs = append(d.errs, errs...) }

func (d *decoder) listener(n *yaml.Node, path string, fc *fileConfig) *listenerConfig {
	fs, ok := d.mapping(n, path, "listen", "hosts", "tls", "defaultHost")
	if !ok && fs == nil {
		return nil
	}
	lc := &listenerConfig{}
	lf, hasListen := fs.get("listen")
	switch {
	case !hasListen:
		if ok { // else a misspelt key was reported
			d.errorf(n, path, "missing listen address")
		}
	default:
		s, sok := d.str(lf.val, lf.path)
		if !sok {
			break
		}
		lc.at = lf.where()
		var err error
		lc.network, lc.address, err = parseListen(s, fc.dir)
		if err != nil {
			d.errorf(lf.val, lf.path, "%v", err)
			lc.network = ""
		}
	}
	if f, ok := fs.get("tls"); ok {
		lc.tls, _ = d.boolean(f)
	}
	if f, ok := fs.get("defaultHost"); ok {
		if s, ok := d.str(f.val, f.path); ok {
			if !lc.tls {
				d.errorf(f.val, f.path, "defaultHost is for tls listeners")
			} else if !isHostname(s) {
				d.errorf(f.val, f.path, "bad host name %q", s)
			}
			lc.defaultHost = strings.ToLower(s)
		}
	}
	hf, hasHosts := fs.get("hosts")
	if !hasHosts {
		if ok {
			d.errorf(n, path, "missing hosts: a listener needs at least one host (omit host: to match any)")
		}
	} else if items, ok := d.sequence(hf); ok {
		if len(items) == 0 {
			d.errorf(hf.val, hf.path, "no hosts")
		}
		var anyAt *yaml.Node
		hostLine := map[string]int{}
		for i, hn := range items {
			p := index(hf.path, i)
			hc, at := d.host(hn, p)
			if hc == nil {
				continue
			}
			if anyAt != nil {
				d.errorf(at, p, "unreachable: the host at line %d matches every host", anyAt.Line)
			} else if l, dup := hostLine[hc.host]; dup {
				d.errorf(at, p, "duplicate host %q (first at line %d)", hc.host, l)
			}
			hostLine[hc.host] = at.Line
			if hc.host == "" {
				anyAt = at
			}
			lc.hosts = append(lc.hosts, hc)
		}
	}
	d.checkCertificates(lc)
	if lc.network == "" {
		return nil
	}
	return lc
}

// parseListen splits a listen value into network and address: "unix:/path"
// (relative to dir; "unix:@name" is an abstract socket) or host:port.
func parseListen(s, dir string) (network, address string, err error) {
	if p, ok := strings.CutPrefix(s, "unix:"); ok {
		switch {
		case p == "":
			return "", "", fmt.Errorf("bad address %q: empty socket path", s)
		case p[0] != '@' && !filepath.IsAbs(p):
			p = filepath.Join(dir, p)
		}
		if len(p) > 107 { // sizeof(sockaddr_un.sun_path) - 1
			return "", "", fmt.Errorf("bad address %q: socket path longer than 107 bytes", s)
		}
		return "unix", p, nil
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		hint := ""
		if _, err := strconv.Atoi(s); err == nil {
			hint = fmt.Sprintf(" (write \":%s\" for every address)", s)
		}
		return "", "", fmt.Errorf("bad address %q: want host:port, [ipv6]:port or unix:/path%s", s, hint)
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil || port[0] == '+' {
		return "", "", fmt.Errorf("bad address %q: port %q is not a number from 0 to 65535", s, port)
	}
	if host != "" {
		if _, err := netip.ParseAddr(host); err != nil && !isHostname(host) {
			return "", "", fmt.Errorf("bad address %q: bad host %q", s, host)
		}
	}
	return "tcp", s, nil
}

// addrKey is a listen address in a form where two listeners that cannot
// both have it compare equal, or "" for addresses that never conflict
// (port 0). With SO_REUSEPORT a second bind would succeed and split the
// connections, so duplicates are refused here.
func addrKey(network, address string) string {
	if network == "unix" {
		return "unix " + filepath.Clean(address)
	}
	host, port, err := net.SplitHostPort(address)
	if err != nil {
		return ""
	}
	p, _ := strconv.Atoi(port)
	if p == 0 {
		return ""
	}
	if a, err := netip.ParseAddr(host); err == nil {
		a = a.Unmap()
		if a.IsUnspecified() {
			host = ""
		} else {
			host = a.String()
		}
	} else {
		host = strings.ToLower(host)
	}
	return "tcp " + net.JoinHostPort(host, strconv.Itoa(p))
}

func isHostname(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for _, label := range strings.Split(s, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

// validHostPattern checks a route group's host: a name, "*." and a name, or
// an IP address, each with an optional port.
func validHostPattern(h string) bool {
	name := h
	if !strings.HasPrefix(h, "[") && strings.Count(h, ":") > 1 {
		return false // an IPv6 address needs brackets
	}
	if strings.HasPrefix(h, "[") {
		i := strings.IndexByte(h, ']')
		if i < 0 {
			return false
		}
		if _, err := netip.ParseAddr(h[1:i]); err != nil {
			return false
		}
		rest := h[i+1:]
		if rest == "" {
			return true
		}
		p, ok := strings.CutPrefix(rest, ":")
		return ok && validPort(p)
	}
	if i := strings.LastIndexByte(h, ':'); i >= 0 {
		if !validPort(h[i+1:]) {
			return false
		}
		name = h[:i]
	}
	name = strings.TrimPrefix(name, "*.")
	if _, err := netip.ParseAddr(name); err == nil && !strings.HasPrefix(h, "*.") {
		return true
	}
	return isHostname(name)
}

func validPort(p string) bool {
	n, err := strconv.ParseUint(p, 10, 16)
	return err == nil && n > 0 && p[0] != '+'
}

// host decodes one route group; it returns the node to point errors at.
func (d *decoder) host(n *yaml.Node, path string) (*hostConfig, *yaml.Node) {
	fs, ok := d.mapping(n, path, "host", "routes", "fallback", "certificates")
	if !ok && fs == nil {
		return nil, nil
	}
	hc := &hostConfig{}
	at := resolve(n)
	if f, ok := fs.get("host"); ok {
		at = f.val
		if s, ok := d.str(f.val, f.path); ok {
			if s != "" && !validHostPattern(s) {
				d.errorf(f.val, f.path, "bad host %q: want a name, *.name or an IP address, with an optional :port", s)
			}
			hc.host = strings.ToLower(s)
		}
	}
	rf, hasRoutes := fs.get("routes")
	ff, hasFallback := fs.get("fallback")
	if !hasRoutes && !hasFallback && ok {
		d.errorf(n, path, "no routes and no fallback")
	}
	if hasRoutes {
		if items, ok := d.sequence(rf); ok {
			if len(items) == 0 && !hasFallback {
				d.errorf(rf.val, rf.path, "no routes and no fallback")
			}
			for i, rn := range items {
				if rc := d.route(rn, index(rf.path, i)); rc != nil {
					hc.routes = append(hc.routes, rc)
				}
			}
		}
	}
	if hasFallback {
		hc.fallback = d.respond(ff)
	}
	if f, ok := fs.get("certificates"); ok {
		d.certificates(f, hc)
	}
	return hc, at
}

var routeKeys = slices.Concat(matcherKeys, actionKeys, []string{"methods", "dev"})

var knownMethods = []string{"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"}

func (d *decoder) route(n *yaml.Node, path string) *routeConfig {
	fs, ok := d.mapping(n, path, routeKeys...)
	if !ok && fs == nil {
		return nil
	}
	bad := !ok
	rc := &routeConfig{}
	matchers, actions := fs.present(matcherKeys), fs.present(actionKeys)
	switch len(actions) {
	case 0:
		if ok { // else a misspelt key was reported
			d.errorf(n, path, "no action: want one of respond, redirect, static, file, acme, stream")
		}
		return nil
	case 1:
	default:
		d.errorf(actions[1].key, path, "both %s and %s: a route has exactly one action", actions[0].name, actions[1].name)
		return nil
	}
	act := actions[0]
	rc.action, rc.at = act.name, act.where()
	if act.name == "acme" {
		for _, f := range fs {
			if f.name != "acme" {
				d.errorf(f.key, path, "%s: an acme route takes no other key (it serves /.well-known/acme-challenge/)", f.name)
				bad = true
			}
		}
	} else {
		switch len(matchers) {
		case 0:
			if ok { // else a misspelt key was reported
				d.errorf(n, path, "no matcher: want one of path, paths, prefix, regexp, pattern")
			}
			bad = true
		case 1:
			if !d.matcher(matchers[0], rc) {
				bad = true
			} else if act.name == "stream" && rc.kind != matchPath {
				d.errorf(matchers[0].key, path, "%s: a stream route matches one exact path: use path:", matchers[0].name)
				bad = true
			}
		default:
			d.errorf(matchers[1].key, path, "both %s and %s: a route has exactly one matcher", matchers[0].name, matchers[1].name)
			bad = true
		}
	}

	// Methods: GET and HEAD unless given; redirects take any method.
	rc.methods = []string{"GET", "HEAD"}
	if act.name == "redirect" {
		rc.methods = nil
	}
	if f, ok := fs.get("methods"); ok {
		m, ok := d.methods(f)
		if !ok {
			bad = true
		} else if act.name == "stream" {
			d.errorf(f.key, path, "methods: a stream route takes GET (the upgrade, and its page) and HEAD")
			bad = true
		} else if act.name == "static" || act.name == "file" {
			if m == nil || slices.ContainsFunc(m, func(s string) bool { return s != "GET" && s != "HEAD" }) {
				d.errorf(f.val, f.path, "%s routes serve only GET and HEAD", act.name)
				bad = true
			}
		}
		rc.methods = m
	}
	if f, ok := fs.get("dev"); ok {
		if act.name != "static" {
			d.errorf(f.key, path, "dev applies only to static routes")
			bad = true
		} else if v, ok := d.boolean(f); ok {
			rc.dev = v
		} else {
			bad = true
		}
	}

	switch act.name {
	case "respond":
		rc.respond = d.respond(act)
		bad = bad || rc.respond == nil
	case "redirect":
		rc.redirect = d.redirect(act)
		bad = bad || rc.redirect == nil
	case "stream":
		rc.stream = d.stream(act) // stream.go
		bad = bad || rc.stream == nil
	case "static":
		s, ok := d.str(act.val, act.path)
		if !ok {
			return nil
		}
		switch {
		case s == embedSite:
			if rc.dev {
				d.errorf(act.val, act.path, "the embedded site cannot be served in dev mode")
				return nil
			}
			rc.path = s
		case strings.HasPrefix(s, embedSite):
			d.errorf(act.val, act.path, "bad static source %q: the embedded site is %q", s, embedSite)
			return nil
		default:
			rc.path, ok = d.checkPath(act, s, true)
			bad = bad || !ok
		}
	case "file", "acme":
		s, ok := d.str(act.val, act.path)
		if !ok {
			return nil
		}
		rc.path, ok = d.checkPath(act, s, act.name == "acme")
		bad = bad || !ok
	}
	if bad {
		return nil
	}
	return rc
}

// checkPath resolves p against the config's directory and checks that it
// is a directory (dir) or a regular file.
func (d *decoder) checkPath(f field, p string, dir bool) (string, bool) {
	if p == "" {
		d.errorf(f.val, f.path, "empty path")
		return "", false
	}
	full := p
	if !filepath.IsAbs(full) {
		full = filepath.Join(d.dir, full)
	}
	fi, err := os.Stat(full)
	switch {
	case err != nil:
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		d.errorf(f.val, f.path, "%s: %v", full, err)
		return "", false
	case dir && !fi.IsDir():
		d.errorf(f.val, f.path, "%s is not a directory", full)
		return "", false
	case !dir && !fi.Mode().IsRegular():
		d.errorf(f.val, f.path, "%s is not a regular file", full)
		return "", false
	}
	return full, true
}

// matcher decodes a route's matcher into rc.
func (d *decoder) matcher(f field, rc *routeConfig) bool {
	rc.kind = matcherKind(f.name)
	if rc.kind == matchPaths {
		items, ok := d.sequence(f)
		if !ok {
			return false
		}
		if len(items) == 0 {
			d.errorf(f.val, f.path, "no paths")
			return false
		}
		for i, n := range items {
			p := index(f.path, i)
			s, ok := d.str(n, p)
			if !ok {
				return false
			}
			if msg := checkURLPath(s); msg != "" {
				d.errorf(n, p, "bad path %q: %s", s, msg)
				return false
			}
			rc.paths = append(rc.paths, s)
		}
		return true
	}
	s, ok := d.str(f.val, f.path)
	if !ok {
		return false
	}
	switch rc.kind {
	case matchPath, matchPrefix:
		if msg := checkURLPath(s); msg != "" {
			d.errorf(f.val, f.path, "bad path %q: %s", s, msg)
			return false
		}
		if rc.kind == matchPath {
			rc.paths = []string{s}
		}
	case matchRegexp:
		if _, err := edge.CompileRegexp(s); err != nil {
			if _, err2 := regexp.Compile(s); err2 != nil {
				err = err2 // the user's own expression, not edge's anchored one
			}
			d.errorf(f.val, f.path, "bad regexp %q: %v", s, err)
			return false
		}
	case matchPattern:
		if msg := checkPattern(s); msg != "" {
			d.errorf(f.val, f.path, "bad pattern %q: %s", s, msg)
			return false
		}
	}
	rc.expr = s
	return true
}

// checkURLPath returns why p cannot be matched against a request path, or "".
func checkURLPath(p string) string {
	if !strings.HasPrefix(p, "/") {
		return "must start with /"
	}
	for i := 0; i < len(p); i++ {
		c := p[i]
		switch {
		case c == '?' || c == '#':
			return "the path of a request never holds ? or #"
		case c <= ' ' || c >= 0x7f:
			return "spaces, control and non-ASCII characters must be %-encoded"
		}
	}
	return ""
}

func checkPattern(p string) string {
	if msg := checkURLPath(p); msg != "" {
		return msg
	}
	if _, err := edge.CompilePattern(p); err != nil {
		_, msg, _ := strings.Cut(err.Error(), ": ")
		_, msg, _ = strings.Cut(msg, ": ")
		return msg
	}
	return ""
}

// methods decodes a method list; ["*"] means any method (nil).
func (d *decoder) methods(f field) ([]string, bool) {
	items, ok := d.sequence(f)
	if !ok {
		return nil, false
	}
	if len(items) == 0 {
		d.errorf(f.val, f.path, "empty list: omit methods for GET and HEAD, or write [\"*\"] for any method")
		return nil, false
	}
	var ms []string
	for i, n := range items {
		p := index(f.path, i)
		s, ok := d.str(n, p)
		if !ok {
			return nil, false
		}
		switch {
		case s == "*":
			if len(items) != 1 {
				d.errorf(n, p, "\"*\" (any method) must be alone")
				return nil, false
			}
			return nil, true
		case !slices.Contains(knownMethods, s):
			msg := fmt.Sprintf("unknown method %q", s)
			if slices.Contains(knownMethods, strings.ToUpper(s)) {
				msg += fmt.Sprintf(" (methods are case-sensitive: %q)", strings.ToUpper(s))
			}
			d.errorf(n, p, "%s", msg)
			return nil, false
		case slices.Contains(ms, s):
			d.errorf(n, p, "duplicate method %q", s)
			return nil, false
		}
		ms = append(ms, s)
	}
	return ms, true
}

// reservedHeaders are response headers edge writes itself.
var reservedHeaders = map[string]string{
	"content-length":    "edge sets it",
	"transfer-encoding": "edge sets it",
	"connection":        "edge sets it",
	"content-type":      "use type",
}

func (d *decoder) respond(f field) *respondConfig {
	fs, ok := d.mapping(f.val, f.path, "status", "type", "body", "headers")
	if !ok {
		return nil
	}
	rc := &respondConfig{status: 200}
	if sf, ok := fs.get("status"); ok {
		v, ok := d.integer(sf, math.MinInt32, math.MaxInt32)
		if !ok {
			return nil
		}
		// 1xx are interim responses: a handler cannot end a request with one.
		if v < 200 || v > 599 {
			d.errorf(sf.val, sf.path, "status %d out of range 200 to 599", v)
			return nil
		}
		rc.status = int(v)
	}
	if bf, ok := fs.get("body"); ok {
		if rc.body, ok = d.str(bf.val, bf.path); !ok {
			return nil
		}
		if rc.body != "" && (rc.status == 204 || rc.status == 304) {
			d.errorf(bf.val, bf.path, "a %d response has no body", rc.status)
			return nil
		}
	}
	if rc.body != "" {
		rc.typ = "text/plain; charset=utf-8"
	}
	if tf, ok := fs.get("type"); ok {
		s, ok := d.str(tf.val, tf.path)
		if !ok {
			return nil
		}
		switch {
		case s == "":
		case strings.Contains(s, "/"):
			if !validHeaderValue(s) {
				d.errorf(tf.val, tf.path, "bad type %q", s)
				return nil
			}
		default:
			// An extension: "html", ".json".
			t := static.TypeByExtension(s)
			if t == "application/octet-stream" && strings.TrimPrefix(s, ".") != "bin" {
				d.errorf(tf.val, tf.path, "unknown type %q: write a MIME type (text/html) or a known extension (html)", s)
				return nil
			}
			s = t
		}
		rc.typ = s
	}
	if hf, ok := fs.get("headers"); ok {
		if hf.val.Kind != yaml.MappingNode {
			d.errorf(hf.val, hf.path, "expected a mapping of header names to values, got %s", describe(hf.val))
			return nil
		}
		if !d.headerMap(hf, rc) {
			return nil
		}
	}
	return rc
}

// headerMap decodes a name: value mapping of response headers.
func (d *decoder) headerMap(f field, rc *respondConfig) bool {
	ok := true
	n := f.val
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := resolve(n.Content[i]), resolve(n.Content[i+1])
		name, kok := d.str(k, f.path)
		if !kok {
			ok = false
			continue
		}
		p := join(f.path, name)
		val, vok := d.str(v, p)
		switch {
		case !vok:
			ok = false
		case !isToken(name):
			d.errorf(k, f.path, "bad header name %q", name)
			ok = false
		case reservedHeaders[strings.ToLower(name)] != "":
			d.errorf(k, f.path, "header %s: %s", name, reservedHeaders[strings.ToLower(name)])
			ok = false
		case slices.ContainsFunc(rc.headers, func(h [2]string) bool { return strings.EqualFold(h[0], name) }):
			d.errorf(k, f.path, "duplicate header %q", name)
			ok = false
		case !validHeaderValue(val):
			d.errorf(v, p, "bad header value %q: no CR, LF or NUL", val)
			ok = false
		default:
			rc.headers = append(rc.headers, [2]string{name, val})
		}
	}
	slices.SortFunc(rc.headers, func(a, b [2]string) int { return strings.Compare(a[0], b[0]) })
	return ok
}

var placeholderRE = regexp.MustCompile(`\{[^}]*\}`)

func (d *decoder) redirect(f field) *redirectConfig {
	fs, ok := d.mapping(f.val, f.path, "to", "status")
	if !ok {
		return nil
	}
	rc := &redirectConfig{status: 302}
	tf, ok := fs.get("to")
	if !ok {
		d.errorf(f.val, f.path, "missing to")
		return nil
	}
	if rc.to, ok = d.str(tf.val, tf.path); !ok {
		return nil
	}
	switch {
	case rc.to == "":
		d.errorf(tf.val, tf.path, "empty target")
		return nil
	case !validHeaderValue(rc.to) || strings.ContainsAny(rc.to, " \t"):
		d.errorf(tf.val, tf.path, "bad target %q: no spaces or control characters", rc.to)
		return nil
	}
	for _, ph := range placeholderRE.FindAllString(rc.to, -1) {
		if ph != "{host}" && ph != "{url}" {
			d.errorf(tf.val, tf.path, "unknown placeholder %s: want {host} or {url}", ph)
			return nil
		}
	}
	if sf, ok := fs.get("status"); ok {
		v, ok := d.integer(sf, math.MinInt32, math.MaxInt32)
		if !ok {
			return nil
		}
		switch v {
		case 301, 302, 303, 307, 308:
		default:
			d.errorf(sf.val, sf.path, "redirect status %d: want 301, 302, 303, 307 or 308", v)
			return nil
		}
		rc.status = int(v)
	}
	return rc
}

func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}

func validHeaderValue(s string) bool {
	return !strings.ContainsAny(s, "\r\n\x00")
}

// build loads the content the config names (static directories and files)
// and makes the server, without binding any address.
func (fc *fileConfig) build(logger *slog.Logger) (*edge.Server, error) {
	srv, _, err := fc.server(logger)
	return srv, err
}

// server is build, also returning the listeners in config order.
func (fc *fileConfig) server(logger *slog.Logger) (*edge.Server, []*edge.Listener, error) {
	d := &decoder{file: fc.name, dir: fc.dir}
	cfg := fc.cfg
	cfg.Logger = logger
	srv := edge.New(&cfg)
	sets := map[string]*static.Set{} // loaded once per directory
	var ls []*edge.Listener
	if err := fc.newACME(d, logger); err != nil { // acme.go
		d.errors(err)
	}
	for _, lc := range fc.listeners {
		l := srv.Listen(lc.network, lc.address)
		ls = append(ls, l)
		if lc.tls {
			if err := fc.tlsListener(l, lc, logger); err != nil {
				d.errors(err)
			}
		}
		for _, hc := range lc.hosts {
			g := l.Routes(hc.host)
			fc.acmeRoute(g) // acme.go: the ACME client's HTTP-01 challenges first
			for _, rc := range hc.routes {
				if err := fc.addRoute(d, g, rc, sets, logger); err != nil {
					d.errors(err)
				}
			}
			if hc.fallback != nil {
				g.Fallback(hc.fallback.handler())
			}
		}
		fc.acmeCatchAll(l, lc) // acme.go
	}
	if err := errors.Join(d.errs...); err != nil {
		fc.closeTLS()
		return nil, nil, err
	}
	return srv, ls, nil
}

func (rc *routeConfig) matcher() edge.Matcher {
	switch rc.kind {
	case matchPrefix:
		return edge.Prefix(rc.expr)
	case matchRegexp:
		return edge.Regexp(rc.expr)
	case matchPattern:
		return edge.Pattern(rc.expr)
	}
	return edge.Path(rc.paths...)
}

func (fc *fileConfig) addRoute(d *decoder, g *edge.Routes, rc *routeConfig, sets map[string]*static.Set, logger *slog.Logger) error {
	switch rc.action {
	case "respond":
		g.Handle(rc.matcher(), rc.respond.handler(), rc.methods...)
	case "redirect":
		g.Redirect(rc.matcher(), rc.redirect.status, rc.redirect.to, rc.methods...)
	case "static":
		var src static.Source
		if rc.dev {
			dir, err := static.NewDir(rc.path)
			if err != nil {
				return d.errorAt(rc.at, "%v", err)
			}
			src = dir
		} else {
			set, ok := sets[rc.path]
			if !ok {
				var err error
				if set, err = loadSet(rc.path); err != nil {
					return d.errorAt(rc.at, "%v", err)
				}
				sets[rc.path] = set
				logger.Info("edge: static content loaded", "dir", rc.path, "files", set.Len())
			}
			src = set
		}
		prefix := ""
		if rc.kind == matchPrefix {
			prefix = rc.expr
		}
		g.Handle(rc.matcher(), func(c *edge.Ctx) { c.Serve(src, prefix) }, rc.methods...)
	case "file":
		data, err := os.ReadFile(rc.path)
		if err != nil {
			return d.errorAt(rc.at, "%v", err)
		}
		// The type comes from the extension, or from the content without one.
		ct := static.New(data, filepath.Ext(rc.path))
		g.Handle(rc.matcher(), func(c *edge.Ctx) { c.Content(ct) }, rc.methods...)
	case "stream":
		st, err := rc.stream.newStream() // stream.go
		if err != nil {
			return d.errorAt(rc.at, "%v", err)
		}
		g.Stream(rc.paths[0], st)
	case "acme":
		if _, err := g.ACME(rc.path); err != nil {
			return d.errorAt(rc.at, "%v", err)
		}
	}
	return nil
}

// loadSet loads a directory into memory ("embed:" is the embedded site).
// Symbolic links may not leave the directory.
func loadSet(dir string) (*static.Set, error) {
	if dir == embedSite {
		return static.FromFS(web.FS())
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	return static.FromFS(root.FS())
}

func (rc *respondConfig) handler() edge.Handler {
	status, typ, body, headers := rc.status, rc.typ, rc.body, rc.headers
	return func(c *edge.Ctx) {
		for _, h := range headers {
			c.SetHeader(h[0], h[1])
		}
		if status == 204 || status == 304 {
			c.NoContent(status)
			return
		}
		c.SendString(status, typ, body)
	}
}
