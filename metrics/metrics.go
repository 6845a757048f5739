// Package metrics exposes edge's Prometheus metrics. It is the only package
// of edge that imports client_golang: the engine reports events through
// observe.Observer, which *Metrics implements, and everything else (tags,
// certificates, byte counters) comes in through callbacks read at scrape
// time.
//
// Every series is on the Metrics' own registry (never the global one), with
// the Go and process collectors beside them. Label values that clients
// choose (the TLS server name) or that could grow with the config (host
// groups, routes, listeners, backends) are folded into a bounded set: the
// values of an allow-set in Config, or the first MaxValues seen, and
// everything else into "_other" (Other).
//
// Typical usage:
//
//	m := metrics.New(metrics.Config{Version: "1.0", TLSBackend: "stdlib"})
//	srv := edge.New(&edge.Config{Observer: m})
//	adminMux.Handle("/metrics", m.Handler())
//
// The observer methods are safe for concurrent use, take no lock once the
// label values they see have been seen before, and allocate nothing.
package metrics

import (
	"cmp"
	"context"
	"errors"
	"net/http"
	"os"
	"runtime"
	"time"

	"github.com/edge-rt/edge/observe"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Config says what the Metrics report. The zero value is usable.
type Config struct {
	// Version, TLSBackend ("stdlib", "openssl", "boringcrypto") and
	// TLSLibrary (the library's version string) label edge_build_info.
	// TLSBackend also labels handshakes whose event names no backend.
	Version, TLSBackend, TLSLibrary string

	// HostGroups, Routes, Listeners and Backends are the allow-sets of the
	// host_group, route, listener and backend labels: other values become
	// "_other". Nil means the first MaxValues values seen (these values
	// come from the config, not from clients). The engine's "" host group
	// (any host) is labelled "_default" and "" route (none matched)
	// "_none"; both are always allowed.
	HostGroups, Routes, Listeners, Backends []string
	// ServerNames is the allow-set of the TLS server_name label (SNI is
	// chosen by clients): nil means every name is "_other". Compared
	// case-insensitively.
	ServerNames []string
	// MaxValues bounds the values learned for a label with a nil
	// allow-set. Zero means 64.
	MaxValues int

	// The callbacks below, when not nil, are read at each scrape.

	// WebSocketClients returns the number of WebSocket clients connected.
	WebSocketClients func() int
	// Tags returns the number of tags in use.
	Tags func() int
	// BytesIn and BytesOut return the bytes read from and written to
	// clients since start.
	BytesIn, BytesOut func() uint64
	// AccessLogDrops returns the access log lines dropped because the
	// log's output was too slow.
	AccessLogDrops func() uint64
	// Certificates lists the certificates served, for
	// edge_certificate_not_after_timestamp_seconds.
	Certificates func() []Certificate
}

// Certificate is one served certificate's host and expiry.
type Certificate struct {
	Host     string
	NotAfter time.Time
}

// Metrics holds edge's collectors and implements observe.Observer.
type Metrics struct {
	reg        *prometheus.Registry
	tlsBackend string // for handshakes that do not name theirs

	groups, routes, listeners, backends, serverNames, reasons, tlsBackends *folder

	// vectors
	connOpen     *prometheus.GaugeVec
	connAccepted *prometheus.CounterVec
	connRefused  *prometheus.CounterVec
	connClosed   *prometheus.CounterVec
	hsTotal      *prometheus.CounterVec
	hsDur        *prometheus.HistogramVec
	hsSNI        *prometheus.CounterVec
	reqTotal     *prometheus.CounterVec
	reqDur       *prometheus.HistogramVec
	reqBytes     *prometheus.CounterVec
	wsMsgs       *prometheus.CounterVec
	wsBytes      *prometheus.CounterVec
	wsDrops      *prometheus.CounterVec
	wsSlow       *prometheus.CounterVec
	reloads      *prometheus.CounterVec
	acme         *prometheus.CounterVec
	backendUp    *prometheus.GaugeVec
	backendErrs  *prometheus.CounterVec
	upstream     *prometheus.HistogramVec

	// pre-resolved children
	lns      cache[string, *listenerChildren]
	hs       cache[hsKey, hsChildren]
	sni      cache[string, prometheus.Counter]
	reqs     cache[reqKey, reqChildren]
	backs    cache[string, *backendChildren]
	reloadOK prometheus.Counter
	reloadNo prometheus.Counter
	acmeOK   prometheus.Counter
	acmeNo   prometheus.Counter
}

type listenerChildren struct {
	open     prometheus.Gauge
	accepted prometheus.Counter
	refused  []prometheus.Counter // by observe.RefuseReason; the last is "unknown"
	closed   cache[string, prometheus.Counter]
	wsMsgs   [2]prometheus.Counter // by observe.Direction
	wsBytes  [2]prometheus.Counter
	wsDrops  prometheus.Counter
	wsSlow   prometheus.Counter
	name     string
}

type hsKey struct {
	backend string
	version uint8 // index in versionNames
	resumed bool
	result  uint8 // index in resultNames
}

type hsChildren struct {
	total prometheus.Counter
	dur   prometheus.Observer
}

type reqKey struct {
	group, route string
	class        uint8 // index in classNames
}

type reqChildren struct {
	total prometheus.Counter
	dur   prometheus.Observer
	bytes prometheus.Counter
}

type backendChildren struct {
	up      prometheus.Gauge
	errs    prometheus.Counter
	latency prometheus.Observer
}

var (
	versionNames = [...]string{"none", "1.0", "1.1", "1.2", "1.3", "other"}
	resultNames  = [...]string{"ok", "error", "timeout"}
	classNames   = [...]string{"none", "1xx", "2xx", "3xx", "4xx", "5xx", "other"}
	dirNames     = [...]string{"in", "out"}
)

// Bucket bounds, in seconds.
var (
	requestBuckets   = []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}
	handshakeBuckets = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}
)

const ns = "edge"

// New makes the Metrics and registers every collector on a new registry.
func New(cfg Config) *Metrics {
	max := cfg.MaxValues
	if max <= 0 {
		max = 64
	}
	m := &Metrics{
		reg:         prometheus.NewRegistry(),
		tlsBackend:  cmp.Or(cfg.TLSBackend, "unknown"),
		groups:      newFolder(cfg.HostGroups, max),
		routes:      newFolder(cfg.Routes, max),
		listeners:   newFolder(cfg.Listeners, max),
		backends:    newFolder(cfg.Backends, max),
		serverNames: newAllow(cfg.ServerNames, true),
		reasons:     newFolder(nil, 32),
		tlsBackends: newFolder(nil, 8),
	}
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		v := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: name, Help: help}, labels)
		m.reg.MustRegister(v)
		return v
	}
	gauge := func(name, help string, labels ...string) *prometheus.GaugeVec {
		v := prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Name: name, Help: help}, labels)
		m.reg.MustRegister(v)
		return v
	}
	hist := func(name, help string, buckets []float64, labels ...string) *prometheus.HistogramVec {
		v := prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Name: name, Help: help, Buckets: buckets}, labels)
		m.reg.MustRegister(v)
		return v
	}
	m.connOpen = gauge("connections_open", "Client connections open now, by listener.", "listener")
	m.connAccepted = counter("connections_accepted_total", "Client connections accepted, by listener.", "listener")
	m.connRefused = counter("connections_refused_total", "Client connections refused before being served, by listener and reason.", "listener", "reason")
	m.connClosed = counter("connections_closed_total", "Client connections closed, by listener and reason.", "listener", "reason")
	m.hsTotal = counter("tls_handshakes_total", "TLS handshakes finished, by backend, protocol version, resumption and result.", "backend", "version", "resumed", "result")
	m.hsDur = hist("tls_handshake_duration_seconds", "TLS handshake duration, by backend and result.", handshakeBuckets, "backend", "result")
	m.hsSNI = counter("tls_server_name_handshakes_total", "Successful TLS handshakes by server name (SNI); names outside the configured hosts are _other.", "server_name")
	m.reqTotal = counter("http_requests_total", "Requests answered, by host group, route and status class (none: handed to a stream or proxy).", "host_group", "route", "code")
	m.reqDur = hist("http_request_duration_seconds", "Time from a request head's first byte to its response queued, by host group and route.", requestBuckets, "host_group", "route")
	m.reqBytes = counter("http_response_body_bytes_total", "Response body bytes queued, by host group and route.", "host_group", "route")
	m.wsMsgs = counter("websocket_messages_total", "WebSocket messages, by listener and direction.", "listener", "direction")
	m.wsBytes = counter("websocket_message_bytes_total", "WebSocket message payload bytes, by listener and direction.", "listener", "direction")
	m.wsDrops = counter("websocket_queue_drops_total", "Messages dropped because a client's send queue was full, by listener.", "listener")
	m.wsSlow = counter("websocket_slow_consumer_closes_total", "WebSocket clients closed because their send queue was full, by listener.", "listener")
	m.reloads = counter("reloads_total", "Configuration reloads, by result.", "result")
	m.acme = counter("acme_renewals_total", "ACME certificate orders (first issue or renewal), by result.", "result")
	m.backendUp = gauge("proxy_backend_up", "1 when a proxy backend is considered up, 0 when down.", "backend")
	m.backendErrs = counter("proxy_backend_connect_errors_total", "Failed connections to a proxy backend.", "backend")
	m.upstream = hist("proxy_upstream_latency_seconds", "Time from a request sent to a proxy backend to its response head.", requestBuckets, "backend")
	m.reloadOK, m.reloadNo = m.reloads.WithLabelValues("ok"), m.reloads.WithLabelValues("error")
	m.acmeOK, m.acmeNo = m.acme.WithLabelValues("ok"), m.acme.WithLabelValues("error")

	build := prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Name: "build_info",
		Help: "Always 1; the labels describe the build.",
		ConstLabels: prometheus.Labels{"version": cfg.Version, "tls_backend": cfg.TLSBackend,
			"tls_library": cfg.TLSLibrary, "go_version": runtime.Version()}})
	build.Set(1)
	m.reg.MustRegister(build)
	if f := cfg.WebSocketClients; f != nil {
		m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: ns, Name: "websocket_clients",
			Help: "WebSocket clients connected."}, func() float64 { return float64(f()) }))
	}
	if f := cfg.Tags; f != nil {
		m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: ns, Name: "tags",
			Help: "Tags with at least one client."}, func() float64 { return float64(f()) }))
	}
	if f := cfg.BytesIn; f != nil {
		m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: ns, Name: "received_bytes_total",
			Help: "Bytes read from clients."}, func() float64 { return float64(f()) }))
	}
	if f := cfg.BytesOut; f != nil {
		m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: ns, Name: "sent_bytes_total",
			Help: "Bytes written to clients."}, func() float64 { return float64(f()) }))
	}
	if f := cfg.AccessLogDrops; f != nil {
		m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: ns, Name: "access_log_drops_total",
			Help: "Access log lines dropped because the log's output was too slow."}, func() float64 { return float64(f()) }))
	}
	if f := cfg.Certificates; f != nil {
		m.reg.MustRegister(&certCollector{list: f, desc: prometheus.NewDesc(ns+"_certificate_not_after_timestamp_seconds",
			"When the certificate served for a host expires (Unix time).", []string{"host"}, nil)})
	}
	m.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Handler serves the metrics in the Prometheus text (or OpenMetrics, when
// asked for) format, for /metrics.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{EnableOpenMetrics: true})
}

var _ observe.Observer = (*Metrics)(nil)
var _ observe.ProxyObserver = (*Metrics)(nil)

func (m *Metrics) listener(name string) *listenerChildren {
	name = m.listeners.fold(name)
	if lc, ok := m.lns.load(name); ok {
		return lc
	}
	lc := &listenerChildren{
		name:     name,
		open:     m.connOpen.WithLabelValues(name),
		accepted: m.connAccepted.WithLabelValues(name),
		wsDrops:  m.wsDrops.WithLabelValues(name),
		wsSlow:   m.wsSlow.WithLabelValues(name),
	}
	for r := observe.RefuseReason(0); r < 32; r++ {
		s := r.String()
		lc.refused = append(lc.refused, m.connRefused.WithLabelValues(name, s))
		if s == "unknown" {
			break
		}
	}
	for d := range dirNames {
		lc.wsMsgs[d] = m.wsMsgs.WithLabelValues(name, dirNames[d])
		lc.wsBytes[d] = m.wsBytes.WithLabelValues(name, dirNames[d])
	}
	return m.lns.store(name, lc)
}

// ConnOpened implements observe.Observer.
func (m *Metrics) ConnOpened(c observe.Conn) {
	lc := m.listener(c.Listener)
	lc.accepted.Inc()
	lc.open.Inc()
}

// ConnRefused implements observe.Observer.
func (m *Metrics) ConnRefused(listener string, reason observe.RefuseReason) {
	lc := m.listener(listener)
	i := int(reason)
	if i >= len(lc.refused) {
		i = len(lc.refused) - 1
	}
	lc.refused[i].Inc()
}

// ConnClosed implements observe.Observer.
func (m *Metrics) ConnClosed(c observe.Conn, reason string) {
	lc := m.listener(c.Listener)
	lc.open.Dec()
	reason = m.reasons.fold(reason)
	ctr, ok := lc.closed.load(reason)
	if !ok {
		ctr = lc.closed.store(reason, m.connClosed.WithLabelValues(lc.name, reason))
	}
	ctr.Inc()
}

// Handshake implements observe.Observer.
func (m *Metrics) Handshake(h observe.Handshake) {
	backend := h.Backend
	if backend == "" {
		backend = m.tlsBackend
	}
	k := hsKey{backend: m.tlsBackends.fold(backend), resumed: h.Resumed}
	switch h.Version {
	case 0:
	case 0x0301, 0x0302, 0x0303, 0x0304:
		k.version = uint8(h.Version-0x0301) + 1
	default:
		k.version = uint8(len(versionNames) - 1)
	}
	if h.Err != nil {
		k.result = 1
		if errors.Is(h.Err, context.DeadlineExceeded) || errors.Is(h.Err, os.ErrDeadlineExceeded) {
			k.result = 2
		}
	}
	c, ok := m.hs.load(k)
	if !ok {
		c = m.hs.store(k, hsChildren{
			total: m.hsTotal.WithLabelValues(k.backend, versionNames[k.version], boolName(k.resumed), resultNames[k.result]),
			dur:   m.hsDur.WithLabelValues(k.backend, resultNames[k.result]),
		})
	}
	c.total.Inc()
	c.dur.Observe(h.Duration.Seconds())
	if h.Err == nil {
		name := "_none"
		if h.ServerName != "" {
			name = m.serverNames.fold(h.ServerName)
		}
		ctr, ok := m.sni.load(name)
		if !ok {
			ctr = m.sni.store(name, m.hsSNI.WithLabelValues(name))
		}
		ctr.Inc()
	}
}

func boolName(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

// Request implements observe.Observer.
func (m *Metrics) Request(r *observe.Request) {
	k := reqKey{group: "_default", route: "_none"}
	if r.HostGroup != "" {
		k.group = m.groups.fold(r.HostGroup)
	}
	if r.Route != "" {
		k.route = m.routes.fold(r.Route)
	}
	switch {
	case r.Status == 0:
	case r.Status >= 100 && r.Status < 600:
		k.class = uint8(r.Status / 100)
	default:
		k.class = uint8(len(classNames) - 1)
	}
	c, ok := m.reqs.load(k)
	if !ok {
		c = m.reqs.store(k, reqChildren{
			total: m.reqTotal.WithLabelValues(k.group, k.route, classNames[k.class]),
			dur:   m.reqDur.WithLabelValues(k.group, k.route),
			bytes: m.reqBytes.WithLabelValues(k.group, k.route),
		})
	}
	c.total.Inc()
	c.dur.Observe(r.Duration.Seconds())
	if r.BytesOut > 0 {
		c.bytes.Add(float64(r.BytesOut))
	}
}

// WSMessage implements observe.Observer.
func (m *Metrics) WSMessage(listener string, dir observe.Direction, size int) {
	lc := m.listener(listener)
	d := dir & 1
	lc.wsMsgs[d].Inc()
	lc.wsBytes[d].Add(float64(size))
}

// QueueDrop implements observe.Observer: a dropped message (slowClose
// false) or a client closed for its full queue (slowClose true).
func (m *Metrics) QueueDrop(listener string, slowClose bool) {
	lc := m.listener(listener)
	if slowClose {
		lc.wsSlow.Inc()
	} else {
		lc.wsDrops.Inc()
	}
}

// Reload counts a configuration reload that succeeded (ok) or was
// refused.
func (m *Metrics) Reload(ok bool) {
	if ok {
		m.reloadOK.Inc()
	} else {
		m.reloadNo.Inc()
	}
}

// ACMERenewal counts an ACME order (first issue or renewal) that succeeded
// (ok) or failed.
func (m *Metrics) ACMERenewal(ok bool) {
	if ok {
		m.acmeOK.Inc()
	} else {
		m.acmeNo.Inc()
	}
}

func (m *Metrics) backend(name string) *backendChildren {
	name = m.backends.fold(name)
	if b, ok := m.backs.load(name); ok {
		return b
	}
	return m.backs.store(name, &backendChildren{
		up:      m.backendUp.WithLabelValues(name),
		errs:    m.backendErrs.WithLabelValues(name),
		latency: m.upstream.WithLabelValues(name),
	})
}

// BackendUp records whether a proxy backend is up.
func (m *Metrics) BackendUp(backend string, up bool) {
	v := 0.0
	if up {
		v = 1
	}
	m.backend(backend).up.Set(v)
}

// BackendConnectError counts a failed connection to a proxy backend.
func (m *Metrics) BackendConnectError(backend string) { m.backend(backend).errs.Inc() }

// UpstreamLatency records the time a proxy backend took to answer.
func (m *Metrics) UpstreamLatency(backend string, d time.Duration) {
	m.backend(backend).latency.Observe(d.Seconds())
}

// certCollector reports Config.Certificates at each scrape.
type certCollector struct {
	list func() []Certificate
	desc *prometheus.Desc
}

func (c *certCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *certCollector) Collect(ch chan<- prometheus.Metric) {
	// One series per host: the earliest expiry when several certificates
	// name it (two stores, say).
	earliest := map[string]time.Time{}
	var order []string
	for _, cert := range c.list() {
		t, ok := earliest[cert.Host]
		if !ok {
			order = append(order, cert.Host)
		}
		if !ok || cert.NotAfter.Before(t) {
			earliest[cert.Host] = cert.NotAfter
		}
	}
	for _, h := range order {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(earliest[h].Unix()), h)
	}
}
