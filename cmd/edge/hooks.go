package main

import (
	"encoding/json"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/edge-rt/edge"
	"github.com/edge-rt/edge/broadcast"
	"github.com/edge-rt/edge/hooks"
	"github.com/edge-rt/edge/http1"
	"github.com/edge-rt/edge/ws"
)

// Stream hooks in the config file: a stream whose mode is hooks hands its
// clients to a backend in any language (package hooks):
//
//	- path: /chat
//	  stream:
//	    mode: hooks
//	    hooks:
//	      url: http://127.0.0.1:9001/hooks   # or unix:/run/app.sock:/hooks
//	      timeout: 2s
//	      headers: [Cookie, Authorization]
//	      batch: {max: 64, wait: 5ms}
//	      queue: 1024
//	      workers: 4
//	      presence: ["room:"]   # join/leave events for these tag prefixes
//
// The headers are declared to the server (Config.Headers) so that the
// upgrade request's values can be read.

const modeHooks = "hooks" // connect, messages and close go to a backend

var (
	hooksKeys = []string{"url", "timeout", "headers", "batch", "queue", "queueBytes", "workers", "presence"}
	batchKeys = []string{"max", "wait"}
)

// hooksConfig is a decoded hooks: block.
type hooksConfig struct {
	cfg     hooks.Config // without Logger
	headers []string     // forwarded on connect
}

// hooksBlock decodes a stream's hooks: block.
func (d *decoder) hooksBlock(f field) *hooksConfig {
	fs, ok := d.mapping(f.val, f.path, hooksKeys...)
	if !ok {
		return nil
	}
	hc := &hooksConfig{}
	c := &hc.cfg
	bad := false
	for _, f := range fs {
		switch f.name {
		case "url":
			s, ok := d.str(f.val, f.path)
			if !ok {
				bad = true
				continue
			}
			network, address, reqURL, err := hooks.ParseURL(s)
			if err != nil {
				d.errorf(f.val, f.path, "%s", strings.TrimPrefix(err.Error(), "hooks: "))
				bad = true
				continue
			}
			if network == "unix" && address[0] != '@' && !filepath.IsAbs(address) {
				// Relative to the config file, as listen: unix: is.
				address = filepath.Join(d.dir, address)
				s = "unix:" + address + ":" + strings.TrimPrefix(reqURL, "http://localhost")
			}
			if network == "unix" && len(address) > 107 {
				d.errorf(f.val, f.path, "socket path longer than 107 bytes")
				bad = true
				continue
			}
			c.URL = s
		case "timeout":
			v, ok := d.duration(f, false)
			if ok && v == 0 {
				d.errorf(f.val, f.path, "zero timeout: want a duration above 0")
				ok = false
			}
			c.Timeout, bad = v, bad || !ok
		case "headers":
			var ok bool
			hc.headers, ok = d.hookHeaders(f)
			bad = bad || !ok
		case "batch":
			bs, ok := d.mapping(f.val, f.path, batchKeys...)
			if !ok {
				bad = true
				continue
			}
			if mf, ok := bs.get("max"); ok {
				v, ok := d.integer(mf, 1, 10000)
				c.BatchMax, bad = int(v), bad || !ok
			}
			if wf, ok := bs.get("wait"); ok {
				v, ok := d.duration(wf, false)
				if v == 0 {
					v = -1 // hooks.Config: negative is no wait
				}
				c.BatchWait, bad = v, bad || !ok
			}
		case "queue":
			v, ok := d.integer(f, 1, 1<<20)
			c.Queue, bad = int(v), bad || !ok
		case "queueBytes":
			v, ok := d.size(f, 1<<30)
			if ok && v == 0 {
				d.errorf(f.val, f.path, "zero queueBytes")
				ok = false
			}
			c.QueueBytes, bad = int(v), bad || !ok
		case "workers":
			v, ok := d.integer(f, 1, 256)
			c.Workers, bad = int(v), bad || !ok
		case "presence":
			items, ok := d.sequence(f)
			if !ok {
				bad = true
				continue
			}
			if len(items) == 0 {
				d.errorf(f.val, f.path, "empty list: omit presence for none (\"\" is every tag)")
				bad = true
			}
			c.Presence = []string{}
			for i, n := range items {
				s, ok := d.str(n, index(f.path, i))
				if !ok {
					bad = true
					continue
				}
				c.Presence = append(c.Presence, s)
			}
		}
	}
	if _, ok := fs.get("url"); !ok {
		d.errorf(f.val, f.path, "missing url: want http://HOST:PORT/PATH or unix:/SOCKET:/PATH")
		bad = true
	}
	if bad {
		return nil
	}
	return hc
}

// hookHeaders decodes the request headers a connect event carries.
func (d *decoder) hookHeaders(f field) ([]string, bool) {
	items, ok := d.sequence(f)
	if !ok {
		return nil, false
	}
	var names []string
	for i, n := range items {
		p := index(f.path, i)
		s, ok := d.str(n, p)
		switch {
		case !ok:
			return nil, false
		case !http1.ValidHeaderName(s):
			d.errorf(n, p, "bad header name %q", s)
			return nil, false
		case slices.ContainsFunc(names, func(x string) bool { return strings.EqualFold(x, s) }):
			d.errorf(n, p, "duplicate header %q", s)
			return nil, false
		}
		names = append(names, s)
	}
	return names, true
}

// builtinHeaders are the request headers edge always keeps (edge's
// builtinHeaders, which Config.Headers must not repeat).
var builtinHeaders = []string{"Accept-Encoding", "If-None-Match", "Cookie", "Sec-WebSocket-Key",
	"Sec-WebSocket-Version", "Sec-WebSocket-Protocol", "Sec-WebSocket-Extensions", "Origin"}

// declareHookHeaders adds the headers hook streams forward to the
// server's declared headers, once decoding is done.
func (fc *fileConfig) declareHookHeaders(d *decoder) {
	for _, lc := range fc.listeners {
		for _, hc := range lc.hosts {
			for _, rc := range hc.routes {
				if rc.stream == nil || rc.stream.hooks == nil {
					continue
				}
				for _, name := range rc.stream.hooks.headers {
					eq := func(x string) bool { return strings.EqualFold(x, name) }
					if slices.ContainsFunc(builtinHeaders, eq) || slices.ContainsFunc(fc.cfg.Headers, eq) {
						continue
					}
					if len(fc.cfg.Headers) == maxUserHeaders {
						d.errors(d.errorAt(rc.at, "stream.hooks.headers: with the headers: list, more than %d request headers", maxUserHeaders))
						return
					}
					fc.cfg.Headers = append(fc.cfg.Headers, name)
				}
			}
		}
	}
}

// hookStream makes st a hooks stream: the upgrade request's details are
// kept (as the client's data) from SelectProtocol, before the 101, until
// OnOpen hands the client to the backend.
func (sc *streamConfig) hookStream(st *edge.Stream, logger *slog.Logger) (*hooks.Hooks, error) {
	cfg := sc.hooks.cfg
	cfg.Logger = logger
	hk, err := hooks.New(cfg)
	if err != nil {
		return nil, err
	}
	names, protocols := sc.hooks.headers, sc.protocols
	st.SelectProtocol = func(x *edge.Ctx, offered string) (string, bool) {
		p := ""
		if offered != "" && len(protocols) > 0 {
			p, _ = ws.SelectProtocol([]byte(offered), protocols)
		}
		info := &hooks.Conn{Path: x.Path(), Query: x.RawQuery(), Protocol: p, Headers: map[string]string{}}
		if ra := x.RemoteAddr(); ra.IsValid() {
			info.Remote = ra.String()
		}
		for _, n := range names {
			v := x.Header(n)
			if v == "" {
				continue
			}
			info.Headers[n] = v
			if strings.EqualFold(n, "Cookie") {
				info.Cookies = parseCookies(v)
			}
		}
		x.Server().Hub().SetData(x.ClientID(), info)
		return p, true
	}
	st.OnOpen = func(c *edge.Client) {
		info, _ := c.Data().(*hooks.Conn)
		c.SetData(nil)
		hk.Open(hookClient{c}, info)
	}
	st.OnMessage = func(c *edge.Client, op ws.Opcode, data []byte) {
		hk.Message(hookClient{c}, op == ws.OpBinary, data) // copies data
	}
	st.OnClose = func(c *edge.Client, code uint16, _ string) {
		hk.Closed(hookClient{c}, code)
	}
	return hk, nil
}

// parseCookies splits a Cookie header into names and values (the first
// value of a repeated name wins).
func parseCookies(h string) map[string]string {
	m := map[string]string{}
	for part := range strings.SplitSeq(h, ";") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok || k == "" {
			continue
		}
		if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
			v = v[1 : len(v)-1]
		}
		if _, dup := m[k]; !dup {
			m[k] = v
		}
	}
	return m
}

// hookClient is an edge.Client as package hooks sees it.
type hookClient struct{ c *edge.Client }

var _ hooks.Client = hookClient{}

func opcode(binary bool) ws.Opcode {
	if binary {
		return ws.OpBinary
	}
	return ws.OpText
}

func (h hookClient) ID() uint64 { return uint64(h.c.ID()) }

func (h hookClient) Close(code uint16, reason string) { h.c.Close(code, reason) }
func (h hookClient) SetTag(tag string)                { h.c.SetTag(broadcast.Tag(tag)) }
func (h hookClient) DelTag(tag string)                { h.c.DelTag(broadcast.Tag(tag)) }

// Send goes through the Hub, as Publish does (Server.Send, not
// Client.Send, whose outbox is drained apart from the Hub's queue): a
// reply and a publish from one answer reach the client in order.
func (h hookClient) Send(binary bool, data []byte) bool {
	return h.c.Server().Send(h.c.ID(), opcode(binary), data) == nil
}

// SetData keeps the backend's JSON value as the client's data, where the
// control API finds it.
func (h hookClient) SetData(data []byte) { h.c.SetData(json.RawMessage(data)) }

func (h hookClient) Publish(tag string, binary bool, data []byte) int {
	return h.c.Server().SendTag(broadcast.Tag(tag), opcode(binary), data)
}

// hookSet is the Hooks of a running configuration's streams, reloads
// included (a reloaded stream's old Hooks keep serving the clients that
// upgraded before), for /api/stats.
type hookSet struct {
	mu   sync.Mutex
	list []hookEntry
}

type hookEntry struct {
	path string
	h    *hooks.Hooks
}

func (s *hookSet) add(path string, h *hooks.Hooks) {
	s.mu.Lock()
	s.list = append(s.list, hookEntry{path, h})
	s.mu.Unlock()
}

// tagsChanged tells the Hooks that has client id about its tag changes.
func (s *hookSet) tagsChanged(id broadcast.ClientID, added, removed []string) {
	s.mu.Lock()
	list := s.list
	s.mu.Unlock()
	for _, e := range list {
		if e.h.TagsChanged(uint64(id), added, removed) {
			return
		}
	}
}

// stats sums the counters per stream path.
func (s *hookSet) stats() map[string]hooks.Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := map[string]hooks.Stats{}
	for _, e := range s.list {
		a, b := m[e.path], e.h.Stats()
		a.Requests += b.Requests
		a.Messages += b.Messages
		a.Accepted += b.Accepted
		a.Rejected += b.Rejected
		a.Unavailable += b.Unavailable
		a.Dropped += b.Dropped
		a.Failed += b.Failed
		a.Errors += b.Errors
		a.Queued += b.Queued
		m[e.path] = a
	}
	return m
}

// shareHooks makes fc register its hook streams with running's set (fc
// itself on a first build, the serving configuration on a reload).
func (fc *fileConfig) shareHooks(running *fileConfig) {
	if running.hooks == nil {
		running.hooks = &hookSet{}
	}
	fc.hooks = running.hooks
}

// hookStats is the hooks' counters per stream path, nil without hooks.
func (fc *fileConfig) hookStats() map[string]hooks.Stats {
	if fc.hooks == nil {
		return nil
	}
	m := fc.hooks.stats()
	if len(m) == 0 {
		return nil
	}
	return m
}
