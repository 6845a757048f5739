package main

import (
	"log/slog"
	"net/url"
	"os"
	"strings"

	"github.com/edge-rt/edge"
	"github.com/edge-rt/edge/backplane"
)

// The NATS backplane in the config file:
//
//	nats:
//	  urls: ["nats://10.0.0.5:4222", "nats://10.0.0.6:4222"]
//	  user: edge            # or token: ..., or credsFile: /etc/edge/edge.creds
//	  password: secret
//	  subjectPrefix: "edge.tag."
//	  name: edge-1          # this node's ID (default: random)
//	  reconnectWait: 1s
//
// With it, the tags of every node's clients are shared over NATS
// (package backplane).

var natsKeys = []string{"urls", "user", "password", "token", "credsFile", "subjectPrefix", "name", "reconnectWait"}

// natsSettings is the decoded nats: block.
type natsSettings struct {
	cfg backplane.Config
	bp  *backplane.NATS // once running
}

// natsBackplane is the running backplane, or nil.
func (fc *fileConfig) natsBackplane() *backplane.NATS {
	if fc.nats == nil {
		return nil
	}
	return fc.nats.bp
}

// natsBlock decodes the nats: block into fc.nats.
func (d *decoder) natsBlock(f field, fc *fileConfig) {
	fs, ok := d.mapping(f.val, f.path, natsKeys...)
	if !ok {
		return
	}
	ns := &natsSettings{}
	c := &ns.cfg
	bad := false
	str := func(dst *string, f field) {
		if s, ok := d.str(f.val, f.path); ok {
			*dst = s
		} else {
			bad = true
		}
	}
	for _, f := range fs {
		switch f.name {
		case "urls":
			items, ok := d.sequence(f)
			if !ok {
				bad = true
				continue
			}
			if len(items) == 0 {
				d.errorf(f.val, f.path, "empty list: want at least one nats:// URL")
				bad = true
			}
			for i, n := range items {
				p := index(f.path, i)
				s, ok := d.str(n, p)
				if !ok {
					bad = true
					continue
				}
				u, err := url.Parse(s)
				if err != nil || u.Host == "" || u.Scheme != "nats" && u.Scheme != "tls" {
					d.errorf(n, p, "bad NATS URL %q: want nats://HOST:PORT or tls://HOST:PORT", s)
					bad = true
					continue
				}
				c.URLs = append(c.URLs, s)
			}
		case "user":
			str(&c.User, f)
		case "password":
			str(&c.Password, f)
		case "token":
			str(&c.Token, f)
		case "credsFile":
			str(&c.CredsFile, f)
			if c.CredsFile != "" {
				if _, err := os.Stat(c.CredsFile); err != nil {
					d.errorf(f.val, f.path, "credentials file: %v", err)
					bad = true
				}
			}
		case "subjectPrefix":
			str(&c.SubjectPrefix, f)
			if p := c.SubjectPrefix; p == "" || strings.ContainsAny(p, " \t\r\n*>") || !strings.HasSuffix(p, ".") || strings.HasPrefix(p, ".") || strings.Contains(p, "..") {
				d.errorf(f.val, f.path, "bad subject prefix %q: want tokens ending with a dot (edge.tag.), no spaces, * or >", p)
				bad = true
			}
		case "name":
			str(&c.Name, f)
		case "reconnectWait":
			if v, ok := d.duration(f, false); ok {
				c.ReconnectWait = v
			} else {
				bad = true
			}
		}
	}
	if _, ok := fs.get("urls"); !ok {
		d.errorf(f.val, f.path, "missing urls")
		bad = true
	}
	auth := 0
	for _, k := range []string{"user", "token", "credsFile"} {
		if _, ok := fs.get(k); ok {
			auth++
		}
	}
	_, hasUser := fs.get("user")
	_, hasPass := fs.get("password")
	switch {
	case auth > 1:
		d.errorf(f.val, f.path, "user, token and credsFile exclude each other")
		bad = true
	case hasPass && !hasUser:
		d.errorf(f.val, f.path, "password without user")
		bad = true
	}
	if !bad {
		fc.nats = ns
	}
}

// runNATS attaches the NATS backplane to srv's Hub when the config has a
// nats: block; the returned function detaches and disconnects it.
func (fc *fileConfig) runNATS(srv *edge.Server, log *slog.Logger) (func(), error) {
	if fc.nats == nil {
		return func() {}, nil
	}
	cfg := fc.nats.cfg
	cfg.Logger = log
	bp, err := backplane.New(srv.Hub(), cfg)
	if err != nil {
		return nil, err
	}
	fc.nats.bp = bp
	return func() { _ = bp.Close() }, nil
}
