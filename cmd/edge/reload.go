package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"reflect"
	"sync"

	"github.com/edge-rt/edge"
	"github.com/edge-rt/edge/static"
)

// reloader applies a changed config file to a running server on SIGHUP:
// the routes of every listener (hosts, paths, actions, static content,
// streams) change under live connections; established connections and
// WebSockets stay up (a WebSocket keeps the stream settings it upgraded
// with). Listeners, TLS settings, certificates' sources, server limits and
// the admin/NATS/ACME blocks are read at start only: a reload that changes
// the listeners is refused with the reason, the others are logged as
// needing a restart. A file that does not parse or build is refused with
// file:line, and the running configuration keeps serving. SIGHUP and the
// admin listener's POST /reload both call reload; one runs at a time.
type reloader struct {
	mu        sync.Mutex // one reload at a time
	path      string
	running   *fileConfig      // the configuration serving now (its ACME client stays)
	listeners []*edge.Listener // in config order
	log       *slog.Logger
	counted   func(ok bool) // metrics, nil without
}

// reload reads the file again and swaps the routes in. It returns why
// the new file was refused, or nil.
func (r *reloader) reload() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	err := r.apply()
	if r.counted != nil {
		r.counted(err == nil)
	}
	if err != nil {
		r.log.Error("edge: reload refused; the running configuration keeps serving", "err", err)
		return err
	}
	r.log.Info("edge: reloaded", "config", r.path)
	return nil
}

func (r *reloader) apply() error {
	if r.path == "" {
		return errors.New("edge: reload: running on the embedded configuration, no file to read")
	}
	data, err := os.ReadFile(r.path)
	if err != nil {
		return fmt.Errorf("edge: reload: %w", err)
	}
	fc, err := parseConfig(r.path, data)
	if err != nil {
		return err
	}
	if len(fc.listeners) != len(r.running.listeners) {
		return fmt.Errorf("edge: reload: %s: listeners added or removed: restart to apply", r.path)
	}
	for i, lc := range fc.listeners {
		old := r.running.listeners[i]
		if lc.network != old.network || lc.address != old.address || lc.tls != old.tls {
			return fmt.Errorf("edge: reload: %s: listener %d changed (%s %s): restart to apply", r.path, i+1, lc.network, lc.address)
		}
	}
	d := &decoder{file: fc.name, dir: fc.dir}
	sets := map[string]*static.Set{}
	groups := make([][]*edge.Routes, len(fc.listeners))
	for i, lc := range fc.listeners {
		groups[i] = fc.routeGroups(d, lc, r.running, sets, r.log)
	}
	if err := errors.Join(d.errs...); err != nil {
		return err
	}
	if !reflect.DeepEqual(fc.cfg, r.running.cfg) {
		r.log.Warn("edge: reload: server settings changed; they apply at the next restart", "config", r.path)
	}
	for i, l := range r.listeners {
		l.SetRoutes(groups[i]...)
	}
	return nil
}

// reloadResult is the JSON body of POST /reload.
type reloadResult struct {
	OK    bool   `json:"ok"`
	Error string `json:"error,omitempty"`
}

// handler serves POST /reload on the admin listener: the same reload as
// SIGHUP. 200 {"ok":true} when the new file is in; 422 {"ok":false,
// "error":"file:line:col: ..."} when it is refused (the running
// configuration keeps serving).
func (r *reloader) handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		res := reloadResult{OK: true}
		status := http.StatusOK
		if err := r.reload(); err != nil {
			res = reloadResult{Error: err.Error()}
			status = http.StatusUnprocessableEntity
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(res)
	})
}
