package main

import (
	"crypto/tls"
	"errors"
	"io/fs"
	"os"

	"fmt"
	"log/slog"
	"net/netip"
	"path/filepath"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/edge-rt/edge"
	"github.com/edge-rt/edge/http1"
	"github.com/edge-rt/edge/sni"
	"github.com/edge-rt/edge/tlsbackend"
)

// tlsSettings are the config's global TLS keys.
type tlsSettings struct {
	certsPath     string // "" = none
	privKeyFile   string
	fullChainFile string
	hostPolicy    edge.HostPolicy
	backend       tlsbackend.Config // certificates hook set per listener
	handshake     time.Duration
	ja4           bool // fingerprint clients (access log, metrics observers)
}

// certConfig is a host's certificates: entry.
type certConfig struct {
	dir, key, chain string // key and chain are full paths once decoded
	at              *yaml.Node
	path            string
}

var tlsKeys = []string{"minVersion", "maxVersion", "sessionTickets", "ticketKeyRotation", "alpn", "handshakeTimeout", "ja4"}

// tlsBlock decodes the top-level tls: mapping.
func (d *decoder) tlsBlock(f field, ts *tlsSettings) {
	fs, _ := d.mapping(f.val, f.path, tlsKeys...)
	for _, f := range fs {
		switch f.name {
		case "minVersion", "maxVersion":
			s, ok := d.str(f.val, f.path)
			if !ok {
				continue
			}
			v, ok := map[string]uint16{"1.2": tls.VersionTLS12, "1.3": tls.VersionTLS13}[s]
			if !ok {
				d.errorf(f.val, f.path, "unknown TLS version %q: want \"1.2\" or \"1.3\"", s)
				continue
			}
			if f.name == "minVersion" {
				ts.backend.MinVersion = v
			} else {
				ts.backend.MaxVersion = v
			}
		case "sessionTickets":
			if v, ok := d.boolean(f); ok {
				ts.backend.DisableSessionTickets = !v
			}
		case "ticketKeyRotation":
			if v, ok := d.duration(f, false); ok {
				ts.backend.TicketKeyRotation = v
			}
		case "handshakeTimeout":
			if v, ok := d.duration(f, false); ok {
				ts.handshake = v
			}
		case "ja4":
			if v, ok := d.boolean(f); ok {
				ts.ja4 = v
			}
		case "alpn":
			items, ok := d.sequence(f)
			if !ok {
				continue
			}
			for i, n := range items {
				if s, ok := d.str(n, index(f.path, i)); ok {
					if s == "" || len(s) > 255 {
						d.errorf(n, index(f.path, i), "bad ALPN protocol %q", s)
					}
					ts.backend.NextProtos = append(ts.backend.NextProtos, s)
				}
			}
		}
	}
	if b := ts.backend; b.MinVersion != 0 && b.MaxVersion != 0 && b.MinVersion > b.MaxVersion {
		d.errorf(f.val, f.path, "minVersion is above maxVersion")
	}
}

// hostPolicy decodes sslRoutesHost.
func (d *decoder) hostPolicy(f field, ts *tlsSettings) {
	s, ok := d.str(f.val, f.path)
	if !ok {
		return
	}
	switch s {
	case "sniAndHost":
		ts.hostPolicy = edge.HostMatchesSNI
	case "host":
		ts.hostPolicy = edge.HostIgnoresSNI
	default:
		d.errorf(f.val, f.path, "unknown policy %q: want sniAndHost (421 when Host is not the SNI name) or host", s)
	}
}

// certificates decodes a host's certificates: {path, privKey, fullChain}.
// With path, privKey and fullChain are file names inside it (default:
// the global privKeyFile and fullChainFile); without, they are paths.
func (d *decoder) certificates(f field, hc *hostConfig) {
	fs, ok := d.mapping(f.val, f.path, "path", "privKey", "fullChain")
	if !ok {
		return
	}
	cc := &certConfig{at: f.val, path: f.path}
	get := func(name string) string {
		if g, ok := fs.get(name); ok {
			if s, ok := d.str(g.val, g.path); ok {
				if s == "" {
					d.errorf(g.val, g.path, "empty path")
				}
				return s
			}
		}
		return ""
	}
	dir, key, chain := get("path"), get("privKey"), get("fullChain")
	abs := func(p string) string {
		if p == "" || filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(d.dir, p)
	}
	if dir == "" && (key == "" || chain == "") {
		d.errorf(f.val, f.path, "want path, or both privKey and fullChain")
		return
	}
	cc.dir, cc.key, cc.chain = abs(dir), key, chain
	if dir == "" {
		cc.key, cc.chain = abs(key), abs(chain)
	}
	hc.certs = cc
}

// tlsListener makes a listener terminate TLS: a certificate store for its
// hosts and a server of the build's backend.
func (fc *fileConfig) tlsListener(l *edge.Listener, lc *listenerConfig, logger *slog.Logger) error {
	ts := &fc.tls
	scfg := sni.Config{
		CertsPath:     ts.certsPath,
		PrivKeyFile:   ts.privKeyFile,
		FullChainFile: ts.fullChainFile,
		DefaultHost:   lc.defaultHost,
		Logger:        logger,
	}
	for _, hc := range lc.hosts {
		name := hc.host
		if name == "" || hc.pass != nil {
			continue // passthrough hosts: the backend has the certificate
		}
		if h, _, ok := strings.Cut(name, ":"); ok && !strings.HasPrefix(name, "[") {
			name = h
		}
		if _, err := netip.ParseAddr(strings.Trim(name, "[]")); err == nil {
			continue // no SNI for addresses: they get the default certificate
		}
		h := sni.Host{Name: name}
		if cc := hc.certs; cc != nil {
			if cc.dir != "" {
				key, chain := cc.key, cc.chain
				if key == "" {
					key = ts.privKeyFile
				}
				if chain == "" {
					chain = ts.fullChainFile
				}
				if key == "" {
					key = sni.DefaultPrivKeyFile
				}
				if chain == "" {
					chain = sni.DefaultFullChainFile
				}
				h.KeyFile, h.CertFile = filepath.Join(cc.dir, key), filepath.Join(cc.dir, chain)
			} else {
				h.KeyFile, h.CertFile = cc.key, cc.chain
			}
			// A file named here must exist: edge would serve the fallback
			// certificate instead (certsPath is for certificates that come later).
			for _, file := range []string{h.KeyFile, h.CertFile} {
				if fi, err := os.Stat(file); err != nil || !fi.Mode().IsRegular() {
					why := "not a regular file"
					if err != nil {
						why = "no such file"
						if !errors.Is(err, fs.ErrNotExist) {
							why = err.Error()
						}
					}
					return fmt.Errorf("%s:%d:%d: %s: %s: %s", fc.name, cc.at.Line, cc.at.Column, cc.path, file, why)
				}
			}
		}
		scfg.Hosts = append(scfg.Hosts, h)
	}
	store, err := sni.New(scfg)
	if err != nil {
		return fmt.Errorf("%s:%d:%d: %s: %w", fc.name, lc.at.line, lc.at.col, lc.at.path, err)
	}
	bcfg := ts.backend
	bcfg.GetCertificate = store.GetCertificate
	fc.acmeTLS(&bcfg) // acme.go: TLS-ALPN-01 challenge certificates, acme-tls/1
	srv, err := tlsBackend().NewServer(&bcfg)
	if err != nil {
		store.Close()
		return fmt.Errorf("%s:%d:%d: %s: tls: %w", fc.name, lc.at.line, lc.at.col, lc.at.path, err)
	}
	l.TLS(edge.TLSConfig{Server: srv, HostPolicy: ts.hostPolicy, HandshakeTimeout: ts.handshake, JA4: ts.ja4 || lc.ja4 != nil, AllowJA4: lc.ja4.allowFunc(), Backend: tlsBackend().Name()})
	fc.stores = append(fc.stores, store)
	fc.tlsServers = append(fc.tlsServers, srv)
	return nil
}

// closeTLS stops the certificate watchers and ticket rotations build made.
func (fc *fileConfig) closeTLS() {
	for _, s := range fc.stores {
		s.Close()
	}
	for _, s := range fc.tlsServers {
		s.Close()
	}
	fc.stores, fc.tlsServers = nil, nil
}

// checkCertificates refuses certificates: entries edge would ignore: on a
// plain listener, or on a host without a name (no SNI can select it).
func (d *decoder) checkCertificates(lc *listenerConfig) {
	for _, hc := range lc.hosts {
		cc := hc.certs
		if cc == nil {
			continue
		}
		name := strings.Trim(http1.StripPort(hc.host), "[]")
		_, ipErr := netip.ParseAddr(name)
		switch {
		case !lc.tls:
			d.errorf(cc.at, cc.path, "certificates is for hosts of tls listeners")
		case name == "" || ipErr == nil:
			d.errorf(cc.at, cc.path, "certificates needs a host name (clients without a matching SNI get the listener's defaultHost certificate)")
		}
	}
}
