package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"net/netip"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/edge-rt/edge"
	"github.com/edge-rt/edge/http1"
	"github.com/edge-rt/edge/metrics"
	"github.com/edge-rt/edge/proxy"
	"github.com/edge-rt/edge/sni"
	"github.com/edge-rt/edge/static"
	"github.com/edge-rt/edge/tlsbackend"
	"go.yaml.in/yaml/v3"
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
	hooks     *hookSet      // the hook streams' Hooks, for /api/stats (hooks.go)

	// Made by build, for main to start and stop.
	stores     []*sni.Store
	tlsServers []tlsbackend.Server
	// acmeResult counts ACME orders once metrics exist (set by startOps;
	// the ACME client is built before).
	acmeResult atomic.Pointer[metrics.Metrics]
}

type listenerConfig struct {
	at      where
	network string // "tcp" or "unix"
	address string // host:port, or the socket path
	hosts   []*hostConfig

	tls         bool
	defaultHost string         // TLS: the certificate for unknown names
	ja4         *ja4Rules      // TLS: JA4 allow/deny lists (ja4rules.go); nil: none
	ppTrust     []netip.Prefix // proxyProtocol.trust: read a PROXY header from these (proxy.go)
	ppOn        bool
}

type hostConfig struct {
	host     string // "" = any host
	routes   []*routeConfig
	fallback *respondConfig
	certs    *certConfig  // TLS: where the host's certificate is
	pass     *proxy.Route // passthrough: the host's TLS connections go to these backends undecrypted
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
var actionKeys = []string{"respond", "redirect", "static", "file", "stream", "acme", "proxy"}

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
	proxy    *proxy.Route  // proxy.go
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
	defaultReusePort      = false // upgrades hand the socket over (upgrade.go)
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
		return nil, yamlError(name, data, err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		if err != nil {
			return nil, yamlError(name, data, err)
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
	fc.declareHookHeaders(d) // hooks.go
	fc.checkHistory(d)       // history.go
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

// topField decodes one top-level key into fc.
type topField struct {
	name   string
	decode func(d *decoder, f field, fc *fileConfig)
}

// topFields are the top-level keys, each with its decoder. A feature adds
// its block here (and its decoder in its own file, as acme.go does).
// "listeners" is decoded last, once every global setting is known.
var topFields = []topField{
	{"workers", intField(func(c *edge.Config) *int { return &c.Workers }, 0, 4096)},
	{"clientMax", intField(func(c *edge.Config) *int { return &c.ClientMax }, 0, math.MaxInt32)},
	{"connectionTimeout", durField(func(c *edge.Config) *time.Duration { return &c.IdleTimeout }, true)},
	{"firstByteTimeout", durField(func(c *edge.Config) *time.Duration { return &c.FirstByteTimeout }, true)},
	{"maxConnsPerAddr", intField(func(c *edge.Config) *int { return &c.MaxConnsPerAddr }, 0, math.MaxInt32)},
	{"readTimeout", durField(func(c *edge.Config) *time.Duration { return &c.ReadTimeout }, false)},
	{"writeTimeout", durField(func(c *edge.Config) *time.Duration { return &c.WriteTimeout }, false)},
	{"pendingTimeout", durField(func(c *edge.Config) *time.Duration { return &c.PendingTimeout }, true)},
	{"shutdownTimeout", durField(func(c *edge.Config) *time.Duration { return &c.ShutdownTimeout }, false)},
	{"shutdownGrace", durField(func(c *edge.Config) *time.Duration { return &c.ShutdownGrace }, false)},
	{"pingInterval", durField(func(c *edge.Config) *time.Duration { return &c.PingInterval }, false)},
	{"maxRequestLine", sizeField(func(c *edge.Config) *int { return &c.MaxRequestLine })},
	{"maxHeaderBytes", sizeField(func(c *edge.Config) *int { return &c.MaxHeaderBytes })},
	{"maxHeaders", intField(func(c *edge.Config) *int { return &c.MaxHeaders }, 0, 10000)},
	{"maxBodySize", func(d *decoder, f field, fc *fileConfig) {
		if v, ok := d.size(f, math.MaxInt64); ok {
			fc.cfg.MaxBodySize = v
		}
	}},
	{"post", boolField(func(c *edge.Config) *bool { return &c.AllowPost }, false)},
	{"headers", func(d *decoder, f field, fc *fileConfig) { fc.cfg.Headers = d.headerNames(f) }},
	{"tcpNodelay", boolField(func(c *edge.Config) *bool { return &c.DisableNoDelay }, true)},
	{"soKeepalive", boolField(func(c *edge.Config) *bool { return &c.SOKeepAlive }, false)},
	{"reusePort", boolField(func(c *edge.Config) *bool { return &c.ReusePort }, false)},
	{"limitOpenFiles", intField(func(c *edge.Config) *int { return &c.LimitOpenFiles }, -1, math.MaxInt32)},
	{"headerServer", boolField(func(c *edge.Config) *bool { return &c.HeaderServer }, false)},
	{"serverName", func(d *decoder, f field, fc *fileConfig) {
		if s, ok := d.str(f.val, f.path); ok {
			if !http1.ValidHeaderValue(s) || strings.TrimSpace(s) == "" {
				d.errorf(f.val, f.path, "bad server name %q", s)
			}
			fc.cfg.ServerName = s
		}
	}},
	{"headerDate", boolField(func(c *edge.Config) *bool { return &c.HeaderDate }, false)},
	{"headerContentType", boolField(func(c *edge.Config) *bool { return &c.NoContentType }, true)},
	{"errorCloseMode", func(d *decoder, f field, fc *fileConfig) {
		if s, ok := d.str(f.val, f.path); ok {
			switch s {
			case "linger":
				fc.cfg.ErrorClose = edge.CloseLinger
			case "immediately":
				fc.cfg.ErrorClose = edge.CloseImmediately
			default:
				d.errorf(f.val, f.path, "unknown mode %q: want linger or immediately", s)
			}
		}
	}},
	{"debug", boolField(func(c *edge.Config) *bool { return &c.Debug }, false)},
	{"logFormat", func(d *decoder, f field, fc *fileConfig) {
		if s, ok := d.str(f.val, f.path); ok {
			if s != "text" && s != "json" {
				d.errorf(f.val, f.path, "unknown log format %q: want text or json", s)
			}
			fc.logFormat = s
		}
	}},
	{"certsPath", func(d *decoder, f field, fc *fileConfig) {
		if s, ok := d.str(f.val, f.path); ok {
			if s == "" {
				d.errorf(f.val, f.path, "empty path")
			} else if !filepath.IsAbs(s) {
				s = filepath.Join(fc.dir, s)
			}
			fc.tls.certsPath = s
		}
	}},
	{"privKeyFile", certFileName(func(ts *tlsSettings) *string { return &ts.privKeyFile })},
	{"fullChainFile", certFileName(func(ts *tlsSettings) *string { return &ts.fullChainFile })},
	{"sslRoutesHost", func(d *decoder, f field, fc *fileConfig) { d.hostPolicy(f, &fc.tls) }},
	{"tls", func(d *decoder, f field, fc *fileConfig) { d.tlsBlock(f, &fc.tls) }},
	{"acmeClient", func(d *decoder, f field, fc *fileConfig) { d.acmeClient(f, fc) }}, // acme.go
	{"nats", func(d *decoder, f field, fc *fileConfig) { d.natsBlock(f, fc) }},        // nats.go
	{"admin", func(d *decoder, f field, fc *fileConfig) { d.ops(f, fc) }},             // ops.go
	{"accessLog", func(d *decoder, f field, fc *fileConfig) { d.ops(f, fc) }},         // ops.go
	{"log", func(d *decoder, f field, fc *fileConfig) { d.ops(f, fc) }},               // ops.go
	{"listeners", nil}, // decoded last, by top
}

func intField(dst func(*edge.Config) *int, lo, hi int64) func(*decoder, field, *fileConfig) {
	return func(d *decoder, f field, fc *fileConfig) {
		if v, ok := d.integer(f, lo, hi); ok {
			*dst(&fc.cfg) = int(v)
		}
	}
}

func durField(dst func(*edge.Config) *time.Duration, negOK bool) func(*decoder, field, *fileConfig) {
	return func(d *decoder, f field, fc *fileConfig) {
		if v, ok := d.duration(f, negOK); ok {
			*dst(&fc.cfg) = v
		}
	}
}

func sizeField(dst func(*edge.Config) *int) func(*decoder, field, *fileConfig) {
	return func(d *decoder, f field, fc *fileConfig) {
		if v, ok := d.size(f, math.MaxInt32); ok {
			*dst(&fc.cfg) = int(v)
		}
	}
}

// boolField sets a flag; invert is for flags that edge.Config holds negated
// (tcpNodelay is Config.DisableNoDelay).
func boolField(dst func(*edge.Config) *bool, invert bool) func(*decoder, field, *fileConfig) {
	return func(d *decoder, f field, fc *fileConfig) {
		if v, ok := d.boolean(f); ok {
			*dst(&fc.cfg) = v != invert
		}
	}
}

func certFileName(dst func(*tlsSettings) *string) func(*decoder, field, *fileConfig) {
	return func(d *decoder, f field, fc *fileConfig) {
		if s, ok := d.str(f.val, f.path); ok {
			if s == "" || strings.ContainsRune(s, '/') {
				d.errorf(f.val, f.path, "want a file name, without a directory")
			}
			*dst(&fc.tls) = s
		}
	}
}

// topKeys are the names of topFields.
var topKeys = func() []string {
	keys := make([]string, len(topFields))
	for i, tf := range topFields {
		keys[i] = tf.name
	}
	return keys
}()

// top decodes the root mapping: the global settings in file order, then the
// listeners, then the checks that need the whole file.
func (d *decoder) top(root *yaml.Node, fc *fileConfig) {
	fs, _ := d.mapping(root, "", topKeys...)
	for _, f := range fs {
		for _, tf := range topFields {
			if tf.name == f.name && tf.decode != nil {
				tf.decode(d, f, fc)
			}
		}
	}
	listeners, ok := fs.get("listeners")
	if !ok {
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
		case !http1.ValidHeaderName(s):
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
	for i, n := range items {
		if lc := d.listener(n, index(f.path, i), fc); lc != nil {
			fc.listeners = append(fc.listeners, lc)
		}
	}
	d.checkOverlaps(fc.listeners) // validate.go
}

func (d *decoder) listener(n *yaml.Node, path string, fc *fileConfig) *listenerConfig {
	fs, ok := d.mapping(n, path, "listen", "hosts", "tls", "defaultHost", "ja4", "proxyProtocol")
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
	if f, ok := fs.get("ja4"); ok {
		d.listenerJA4(f, lc)
	}
	if f, ok := fs.get("defaultHost"); ok {
		if s, ok := d.str(f.val, f.path); ok {
			if !lc.tls {
				d.errorf(f.val, f.path, "defaultHost is for tls listeners")
			} else if !http1.ValidHostname(s) {
				d.errorf(f.val, f.path, "bad host name %q", s)
			}
			lc.defaultHost = strings.ToLower(s)
		}
	}
	if f, ok := fs.get("proxyProtocol"); ok {
		d.proxyProtocolIn(f, lc) // proxy.go
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
			if hc.pass != nil && !lc.tls {
				d.errorf(at, p, "passthrough is for tls listeners")
			}
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

// host decodes one route group; it returns the node to point errors at.
func (d *decoder) host(n *yaml.Node, path string) (*hostConfig, *yaml.Node) {
	fs, ok := d.mapping(n, path, "host", "routes", "fallback", "certificates", "passthrough")
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
	if pf, ok := fs.get("passthrough"); ok {
		d.passthroughHost(pf, fs, hc) // proxy.go
		return hc, at
	}
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
			d.errorf(n, path, "no action: want one of respond, redirect, static, file, acme, stream, proxy")
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

	// Methods: GET and HEAD unless given; redirects and proxies take any method.
	rc.methods = []string{"GET", "HEAD"}
	if act.name == "redirect" || act.name == "proxy" {
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
	case "proxy":
		rc.proxy = d.proxy(act) // proxy.go
		bad = bad || rc.proxy == nil
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
		if msg := patternReason(edge.CompileRegexp(s)); msg != "" {
			d.errorf(f.val, f.path, "bad regexp %q: %s", s, msg)
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
			if !http1.ValidHeaderValue(s) {
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
		case !http1.ValidHeaderName(name):
			d.errorf(k, f.path, "bad header name %q", name)
			ok = false
		case reservedHeaders[strings.ToLower(name)] != "":
			d.errorf(k, f.path, "header %s: %s", name, reservedHeaders[strings.ToLower(name)])
			ok = false
		case slices.ContainsFunc(rc.headers, func(h [2]string) bool { return strings.EqualFold(h[0], name) }):
			d.errorf(k, f.path, "duplicate header %q", name)
			ok = false
		case !http1.ValidHeaderValue(val):
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
	case !http1.ValidHeaderValue(rc.to) || strings.ContainsAny(rc.to, " \t"):
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
