package main

// Operations settings: the admin listener (/metrics), the access log and
// the log format and level. config.go hands the top-level keys admin:,
// accessLog: and log: to decoder.ops; main calls fileConfig.startOps before
// building the server (the observers go into edge.Config) and
// opsRunner.serve after.

import (
	"context"
	"crypto/tls"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/edge-rt/edge"
	"github.com/edge-rt/edge/accesslog"
	"github.com/edge-rt/edge/admin"
	"github.com/edge-rt/edge/control"
	"github.com/edge-rt/edge/metrics"
	"github.com/edge-rt/edge/observe"
)

// opsSettings is what admin:, accessLog: and log: say.
type opsSettings struct {
	admin     *admin.Config // nil: no admin listener
	accessLog *accesslog.Config
	level     *slog.Level // log.level; nil: the default
}

// ops decodes one of the top-level keys admin, accessLog and log.
func (d *decoder) ops(f field, fc *fileConfig) {
	switch f.name {
	case "admin":
		d.adminBlock(f, fc)
	case "accessLog":
		d.accessLogBlock(f, fc)
	case "log":
		d.logBlock(f, fc)
	}
}

func (d *decoder) adminBlock(f field, fc *fileConfig) {
	fs, ok := d.mapping(f.val, f.path, "listen", "token", "allowPublic")
	if !ok {
		return
	}
	cfg := &admin.Config{Listen: admin.DefaultListen}
	at := f
	for _, k := range fs {
		switch k.name {
		case "listen":
			s, ok := d.str(k.val, k.path)
			if !ok {
				continue
			}
			network, address, err := parseListen(s, fc.dir)
			if err != nil {
				d.errorf(k.val, k.path, "%v", err)
				continue
			}
			if network == "unix" {
				address = "unix:" + address
			}
			cfg.Listen, at = address, k
		case "token":
			if s, ok := d.str(k.val, k.path); ok {
				if s == "" {
					d.errorf(k.val, k.path, "empty token: omit token for none")
				}
				cfg.Token = s
			}
		case "allowPublic":
			if v, ok := d.boolean(k); ok {
				cfg.AllowPublic = v
			}
		}
	}
	if _, err := admin.New(*cfg); err != nil {
		d.errorf(at.val, at.path, "%v", err)
	}
	fc.ops.admin = cfg
}

func (d *decoder) accessLogBlock(f field, fc *fileConfig) {
	fs, ok := d.mapping(f.val, f.path, "path", "format", "buffers")
	if !ok {
		return
	}
	cfg := &accesslog.Config{}
	for _, k := range fs {
		switch k.name {
		case "path":
			if s, ok := d.str(k.val, k.path); ok {
				if s == "" {
					d.errorf(k.val, k.path, `empty path: write "-" for stderr`)
				} else if s != "-" && !filepath.IsAbs(s) {
					s = filepath.Join(fc.dir, s)
				}
				cfg.Path = s
			}
		case "format":
			if s, ok := d.str(k.val, k.path); ok {
				switch s {
				case "text":
					cfg.Format = accesslog.Text
				case "json":
					cfg.Format = accesslog.JSON
				default:
					d.errorf(k.val, k.path, "unknown format %q: want text or json", s)
				}
			}
		case "buffers":
			if v, ok := d.integer(k, 1, 1<<20); ok {
				cfg.Buffers = int(v)
			}
		}
	}
	fc.ops.accessLog = cfg
}

func (d *decoder) logBlock(f field, fc *fileConfig) {
	fs, ok := d.mapping(f.val, f.path, "format", "level")
	if !ok {
		return
	}
	for _, k := range fs {
		switch k.name {
		case "format":
			if s, ok := d.str(k.val, k.path); ok {
				if s != "text" && s != "json" {
					d.errorf(k.val, k.path, "unknown log format %q: want text or json", s)
				}
				fc.logFormat = s // the same as logFormat: the later one wins
			}
		case "level":
			if s, ok := d.str(k.val, k.path); ok {
				var l slog.Level
				switch s {
				case "debug", "info", "warn", "error":
					l.UnmarshalText([]byte(s))
				default:
					d.errorf(k.val, k.path, "unknown log level %q: want debug, info, warn or error", s)
				}
				fc.ops.level = &l
				if l == slog.LevelDebug {
					fc.cfg.Debug = true // the engine's debug events too
				}
			}
		}
	}
}

// logLevel is the level the config asks for, else def.
func (fc *fileConfig) logLevel(def slog.Level) slog.Level {
	if fc.ops.level != nil {
		return *fc.ops.level
	}
	return def
}

// opsRunner holds the observers and the admin listener of one run.
type opsRunner struct {
	fc      *fileConfig
	log     *slog.Logger
	metrics *metrics.Metrics
	access  *accesslog.Log
	admin   *admin.Server
	srv     *edge.Server
	reload  http.Handler // POST /reload (reload.go); nil: not mounted
	stop    func()

	adminOnce sync.Once
}

// startOps makes the observers the config asks for (metrics when there
// is an admin listener, the access log) and puts them into fc.cfg, for
// build. Call opsRunner.serve once the server is built.
func (fc *fileConfig) startOps(logger *slog.Logger) (*opsRunner, error) {
	r := &opsRunner{fc: fc, log: logger, stop: func() {}}
	if cfg := fc.ops.accessLog; cfg != nil {
		l, err := accesslog.New(*cfg)
		if err != nil {
			return nil, err
		}
		r.access = l
	}
	if fc.ops.admin != nil {
		r.metrics = metrics.New(fc.metricsConfig(r))
		fc.acmeResult.Store(r.metrics)
	}
	var obs []observe.Observer
	if r.metrics != nil {
		obs = append(obs, r.metrics)
	}
	if r.access != nil {
		obs = append(obs, r.access)
	}
	fc.cfg.Observer = observe.Multi(obs...)
	return r, nil
}

// metricsConfig is the metrics' allow-sets (the config's hosts) and the
// callbacks reading the server r will serve.
func (fc *fileConfig) metricsConfig(r *opsRunner) metrics.Config {
	cfg := metrics.Config{Version: versionString(), TLSBackend: tlsBackend().Name(), TLSLibrary: tlsLibrary()} // backend_*.go
	routes := 0
	for _, lc := range fc.listeners {
		for _, hc := range lc.hosts {
			routes += len(hc.routes) + 2 // fallback, ACME
			if hc.host != "" && !slices.Contains(cfg.HostGroups, hc.host) {
				cfg.HostGroups = append(cfg.HostGroups, hc.host)
				cfg.ServerNames = append(cfg.ServerNames, hc.host)
			}
		}
	}
	if cfg.HostGroups == nil {
		cfg.HostGroups = []string{} // only the any-host group
	}
	if fc.acme != nil {
		cfg.ServerNames = append(cfg.ServerNames, fc.acme.hosts...)
	}
	cfg.MaxValues = max(64, routes) // routes are named by the config: bounded
	stats := func() edge.Stats {
		if r.srv == nil {
			return edge.Stats{}
		}
		return r.srv.Stats()
	}
	cfg.BytesIn = func() uint64 { return stats().BytesIn }
	cfg.BytesOut = func() uint64 { return stats().BytesOut }
	cfg.WebSocketClients = func() int {
		if r.srv == nil {
			return 0
		}
		return r.srv.Hub().Len()
	}
	cfg.Tags = func() int {
		if r.srv == nil {
			return 0
		}
		return r.srv.Hub().TagCount()
	}
	cfg.AccessLogDrops = func() uint64 {
		if r.access == nil {
			return 0
		}
		return r.access.Dropped()
	}
	cfg.Certificates = func() []metrics.Certificate {
		var list []metrics.Certificate
		for _, st := range fc.stores {
			for _, name := range st.Names() {
				c, _ := st.GetCertificateStd(&tls.ClientHelloInfo{ServerName: name})
				if c == nil || c == st.Fallback() || c.Leaf == nil {
					continue
				}
				list = append(list, metrics.Certificate{Host: name, NotAfter: c.Leaf.NotAfter})
			}
		}
		return list
	}
	return cfg
}

// serve starts the admin listener for srv and the access log's reopen on
// SIGUSR1, until ctx ends or r.close.
func (r *opsRunner) serve(ctx context.Context, srv *edge.Server) error {
	r.srv = srv
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	if r.access != nil {
		usr1 := make(chan os.Signal, 1)
		signal.Notify(usr1, syscall.SIGUSR1)
		go func() {
			defer close(done)
			defer signal.Stop(usr1)
			for {
				select {
				case <-usr1:
					if err := r.access.Reopen(); err != nil {
						r.log.Error("edge: access log reopen", "err", err)
					} else {
						r.log.Info("edge: access log reopened")
					}
				case <-ctx.Done():
					return
				}
			}
		}()
	} else {
		close(done)
	}
	r.stop = func() { cancel(); <-done }
	if r.fc.ops.admin == nil {
		return nil
	}
	cfg := *r.fc.ops.admin
	cfg.Logger = r.log
	a, err := admin.New(cfg)
	if err != nil {
		return err
	}
	a.Handle("GET /metrics", r.metrics.Handler())
	// The control API (messaging without Go): publish, send, tags,
	// disconnect, counts; behind the same token.
	ccfg := control.Config{Hub: srv.Hub(), Close: srv.CloseClient}
	if bp := r.fc.natsBackplane(); bp != nil {
		ccfg.Backplane = func() any { return bp.Stats() }
	}
	if fc := r.fc; fc.hooks != nil {
		// Stream hooks (hooks.go): presence events for the API's tag
		// changes, and the counters in /api/stats.
		ccfg.TagsChanged = fc.hooks.tagsChanged
		ccfg.Hooks = func() any {
			if m := fc.hookStats(); m != nil {
				return m
			}
			return nil
		}
	}
	api, err := control.New(ccfg)
	if err != nil {
		return err
	}
	a.Handle("/api/", api)
	if r.reload != nil {
		a.Handle("POST /reload", r.reload)
	}
	if err := a.Start(); err != nil {
		return err
	}
	r.admin = a
	r.log.Info("edge: admin listening", "addr", a.Addr().String())
	return nil
}

// reloadCounter counts reloads in the metrics, or is nil without them.
func (r *opsRunner) reloadCounter() func(ok bool) {
	if r.metrics == nil {
		return nil
	}
	return r.metrics.Reload
}

// closeAdmin stops the admin listener (early, in an upgrade's drain: the
// new process answers there).
func (r *opsRunner) closeAdmin() {
	r.adminOnce.Do(func() {
		if r.admin == nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := r.admin.Shutdown(ctx); err != nil {
			r.log.Warn("edge: admin shutdown", "err", err)
		}
		cancel()
	})
}

// close stops the admin listener and flushes the access log.
func (r *opsRunner) close() {
	r.stop()
	r.closeAdmin()
	if r.access != nil {
		if err := r.access.Close(); err != nil {
			r.log.Warn("edge: access log", "err", err)
		}
		if n := r.access.Dropped(); n > 0 {
			r.log.Warn("edge: access log lines dropped (output too slow)", "count", n)
		}
	}
}
