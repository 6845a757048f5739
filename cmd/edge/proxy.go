package main

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/edge-rt/edge"
	"github.com/edge-rt/edge/proxy"
	"go.yaml.in/yaml/v3"
)

// The proxy action of a route:
//
//	- prefix: /api/
//	  proxy:
//	    to: ["127.0.0.1:9001", "unix:/run/app.sock"]
//	    mode: request            # request | pin
//	    balance: roundRobin      # roundRobin | leastConn | random2
//	    forwardedFor: true
//	    proxyProtocol: v2        # off | v1 | v2
//	    connectTimeout: 3s
//	    responseTimeout: 60s
//	    idleTimeout: 60s
//	    maxIdle: 32
//	    healthCheck: {interval: 5s, timeout: 2s, path: /healthz}

var proxyKeys = []string{"to", "mode", "balance", "forwardedFor", "proxyProtocol", "connectTimeout", "responseTimeout", "idleTimeout", "maxIdle", "healthCheck"}

// proxy decodes a proxy action into a proxy.Route (checked with Init, so a
// bad backend address fails at start with its line).
func (d *decoder) proxy(f field) *proxy.Route {
	fs, ok := d.mapping(f.val, f.path, proxyKeys...)
	if !ok {
		return nil
	}
	r := &proxy.Route{}
	bad := false
	tf, ok := fs.get("to")
	if !ok {
		d.errorf(f.val, f.path, "missing to: the backends, e.g. [\"127.0.0.1:9001\", \"unix:/run/app.sock\"]")
		return nil
	}
	var toNodes []*yaml.Node
	if tf.val.Kind == yaml.ScalarNode {
		s, ok := d.str(tf.val, tf.path)
		if !ok {
			return nil
		}
		r.To = []string{s}
		toNodes = []*yaml.Node{tf.val}
	} else {
		items, ok := d.sequence(tf)
		if !ok {
			return nil
		}
		if len(items) == 0 {
			d.errorf(tf.val, tf.path, "no backend")
			return nil
		}
		for i, n := range items {
			s, ok := d.str(n, fmt.Sprintf("%s[%d]", tf.path, i))
			if !ok {
				return nil
			}
			r.To = append(r.To, s)
			toNodes = append(toNodes, n)
		}
	}
	for i, s := range r.To {
		if _, err := proxy.ParseBackend(s); err != nil {
			d.errorf(toNodes[i], tf.path, "%v", err)
			bad = true
		}
	}
	enum := func(name string, parse func(string) error) {
		ef, ok := fs.get(name)
		if !ok {
			return
		}
		s, ok := d.str(ef.val, ef.path)
		if !ok {
			bad = true
			return
		}
		if err := parse(s); err != nil {
			d.errorf(ef.val, ef.path, "%v", err)
			bad = true
		}
	}
	enum("mode", func(s string) (err error) { r.Mode, err = proxy.ParseMode(s); return })
	enum("balance", func(s string) (err error) { r.Balance, err = proxy.ParseBalance(s); return })
	enum("proxyProtocol", func(s string) (err error) { r.ProxyProtocol, err = proxy.ParseProxyProtocol(s); return })
	if bf, ok := fs.get("forwardedFor"); ok {
		if r.ForwardedFor, ok = d.boolean(bf); !ok {
			bad = true
		}
	}
	for _, dd := range []struct {
		name string
		to   *time.Duration
	}{{"connectTimeout", &r.ConnectTimeout}, {"responseTimeout", &r.ResponseTimeout}, {"idleTimeout", &r.IdleTimeout}} {
		if df, ok := fs.get(dd.name); ok {
			if *dd.to, ok = d.duration(df, false); !ok {
				bad = true
			}
		}
	}
	if mf, ok := fs.get("maxIdle"); ok {
		if v, ok := d.integer(mf, 0, 1<<20); ok {
			r.MaxIdle = int(v)
		} else {
			bad = true
		}
	}
	if hf, ok := fs.get("healthCheck"); ok {
		hfs, ok := d.mapping(hf.val, hf.path, "interval", "timeout", "path")
		if !ok {
			return nil
		}
		hc := &proxy.HealthCheck{}
		if v, ok := hfs.get("interval"); ok {
			if hc.Interval, ok = d.duration(v, false); !ok {
				bad = true
			}
		}
		if v, ok := hfs.get("timeout"); ok {
			if hc.Timeout, ok = d.duration(v, false); !ok {
				bad = true
			}
		}
		if v, ok := hfs.get("path"); ok {
			if hc.Path, ok = d.str(v.val, v.path); !ok {
				bad = true
			} else if len(hc.Path) == 0 || hc.Path[0] != '/' {
				d.errorf(v.val, v.path, "health check path %q: want an absolute path", hc.Path)
				bad = true
			}
		}
		r.HealthCheck = hc
	}
	if bad {
		return nil
	}
	if err := r.Init(); err != nil {
		d.errorf(f.val, f.path, "%v", err)
		return nil
	}
	return r
}

// proxyProtocolIn decodes a listener's proxyProtocol: {trust: [...]}: the
// sources (addresses or CIDR prefixes) allowed to send a PROXY header,
// which every connection then must.
func (d *decoder) proxyProtocolIn(f field, lc *listenerConfig) {
	fs, ok := d.mapping(f.val, f.path, "trust")
	if !ok {
		return
	}
	tf, ok := fs.get("trust")
	if !ok {
		d.errorf(f.val, f.path, "missing trust: the load balancers' addresses or networks, e.g. [10.0.0.0/8]")
		return
	}
	items, ok := d.sequence(tf)
	if !ok {
		return
	}
	if len(items) == 0 {
		d.errorf(tf.val, tf.path, "no trusted source: no connection could be served")
		return
	}
	for i, n := range items {
		p := fmt.Sprintf("%s[%d]", tf.path, i)
		s, ok := d.str(n, p)
		if !ok {
			continue
		}
		pfx, err := netip.ParsePrefix(s)
		if err != nil {
			a, aerr := netip.ParseAddr(s)
			if aerr != nil {
				d.errorf(n, p, "bad source %q: want an address or a CIDR prefix (10.0.0.0/8)", s)
				continue
			}
			pfx = netip.PrefixFrom(a, a.BitLen())
		}
		lc.ppTrust = append(lc.ppTrust, pfx.Masked())
	}
	lc.ppOn = true
}

// passthroughHost decodes a host's passthrough: (the proxy keys; mode and
// forwardedFor do not apply): such a host has no routes of its own.
func (d *decoder) passthroughHost(f field, fs fields, hc *hostConfig) {
	for _, other := range fs {
		if other.name != "host" && other.name != "passthrough" {
			d.errorf(other.key, f.path, "%s: a passthrough host takes no other key (edge never sees its requests)", other.name)
		}
	}
	if hc.host == "" {
		d.errorf(f.key, f.path, "passthrough needs a host name (clients are told apart by their SNI)")
		return
	}
	if m := resolve(f.val); m.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(m.Content); i += 2 {
			switch k := m.Content[i]; k.Value {
			case "mode", "forwardedFor", "responseTimeout", "maxIdle":
				d.errorf(k, f.path, "%s does not apply to a passthrough (always a tunnel of TLS bytes)", k.Value)
				return
			}
		}
	}
	hc.pass = d.proxy(f)
}

// proxyListener applies a listener's PROXY protocol and passthrough hosts.
func proxyListener(l *edge.Listener, lc *listenerConfig) {
	if lc.ppOn {
		l.AcceptProxyProtocol(lc.ppTrust...)
	}
	for _, hc := range lc.hosts {
		if hc.pass != nil {
			l.Passthrough(hc.host, hc.pass)
		}
	}
}
