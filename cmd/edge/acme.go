package main

// The built-in ACME client: the acmeClient: block of the config file, and
// its wiring into the server (HTTP-01 routes, TLS-ALPN-01 certificates, the
// renewal loop main runs).

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"golang.org/x/crypto/acme"

	"github.com/edge-rt/edge"
	"github.com/edge-rt/edge/acmeclient"
	"github.com/edge-rt/edge/http1"
	"github.com/edge-rt/edge/tlsbackend"
)

// acmeSettings is the acmeClient: block.
type acmeSettings struct {
	at          where // the acmeClient key, for errors found later
	directory   string
	email       string
	hosts       []string         // the tls listeners' named hosts unless given
	hostAt      map[string]where // given hosts: where each is
	challenges  []string         // nil = both
	renewBefore time.Duration
	checkEvery  time.Duration
	caBundle    string // full path; "" = the system's roots only
	caAt        where

	mgr *acmeclient.Manager // made by build
}

var acmeKeys = []string{"directory", "email", "hosts", "challenges", "renewBefore", "checkEvery", "caBundle"}

// acmeDirectories are the directory shorthands.
var acmeDirectories = map[string]string{
	"letsencrypt":         acme.LetsEncryptURL,
	"letsencrypt-staging": "https://acme-staging-v02.api.letsencrypt.org/directory",
}

// acmeClient decodes the top-level acmeClient: mapping. What depends on
// other keys (certsPath, the listeners' hosts) is checked by acmeFinish.
func (d *decoder) acmeClient(f field, fc *fileConfig) {
	as := &acmeSettings{at: where{f.key.Line, f.key.Column, f.path}}
	fc.acme = as
	fs, ok := d.mapping(f.val, f.path, acmeKeys...)
	if _, has := fs.get("directory"); !has && ok {
		d.errorf(f.val, f.path, "missing directory: the CA's ACME directory URL, or letsencrypt or letsencrypt-staging")
	}
	for _, f := range fs {
		switch f.name {
		case "directory":
			s, ok := d.str(f.val, f.path)
			if !ok {
				continue
			}
			if u, ok := acmeDirectories[s]; ok {
				s = u
			} else if u, err := url.Parse(s); err != nil || u.Scheme != "https" || u.Host == "" {
				d.errorf(f.val, f.path, "bad directory %q: want an https:// URL, letsencrypt or letsencrypt-staging", s)
				continue
			}
			as.directory = s
		case "email":
			if s, ok := d.str(f.val, f.path); ok {
				if !strings.Contains(s, "@") || strings.ContainsAny(s, " \t\r\n,<>") {
					d.errorf(f.val, f.path, "bad email address %q", s)
				}
				as.email = s
			}
		case "hosts":
			items, ok := d.sequence(f)
			if !ok {
				continue
			}
			if len(items) == 0 {
				d.errorf(f.val, f.path, "no hosts: omit hosts for every named host of the tls listeners")
			}
			as.hosts, as.hostAt = []string{}, map[string]where{}
			for i, n := range items {
				p := index(f.path, i)
				s, ok := d.str(n, p)
				if !ok {
					continue
				}
				h := strings.ToLower(strings.TrimSuffix(s, "."))
				switch {
				case strings.Contains(h, "*"):
					d.errorf(n, p, "%q: wildcard certificates need the DNS-01 challenge, which edge does not do", s)
				case isIPHost(h):
					d.errorf(n, p, "%q: certificates for IP addresses are not supported", s)
				case !http1.ValidHostname(h) || strings.Contains(h, "_"):
					d.errorf(n, p, "bad host name %q", s)
				case slices.Contains(as.hosts, h):
					d.errorf(n, p, "duplicate host %q", s)
				default:
					as.hosts = append(as.hosts, h)
					as.hostAt[h] = where{n.Line, n.Column, p}
				}
			}
		case "challenges":
			items, ok := d.sequence(f)
			if !ok {
				continue
			}
			if len(items) == 0 {
				d.errorf(f.val, f.path, "no challenges: omit challenges for both")
			}
			as.challenges = []string{}
			for i, n := range items {
				p := index(f.path, i)
				s, ok := d.str(n, p)
				switch {
				case !ok:
				case s != acmeclient.ChallengeHTTP01 && s != acmeclient.ChallengeTLSALPN01:
					d.errorf(n, p, "unknown challenge %q: want http-01 or tls-alpn-01", s)
				case slices.Contains(as.challenges, s):
					d.errorf(n, p, "duplicate challenge %q", s)
				default:
					as.challenges = append(as.challenges, s)
				}
			}
		case "renewBefore":
			if v, ok := d.duration(f, false); ok {
				as.renewBefore = v
			}
		case "checkEvery":
			if v, ok := d.duration(f, false); ok {
				as.checkEvery = v
			}
		case "caBundle":
			if s, ok := d.str(f.val, f.path); ok {
				as.caBundle, _ = d.checkPath(f, s, false)
				as.caAt = f.where()
			}
		}
	}
}

// acmeFinish checks what the acmeClient: block needs from the rest of the
// file, once the listeners are decoded: certsPath, challenges (by default
// those the listeners can answer), and hosts (by default
// every named host of the tls listeners that a CA can issue for, wildcards,
// addresses and names with "_" left out, and that has no certificates:
// entry of its own).
func (d *decoder) acmeFinish(fc *fileConfig) {
	as := fc.acme
	if as == nil {
		return
	}
	if fc.tls.certsPath == "" {
		d.errors(d.errorAt(as.at, "acmeClient needs certsPath: the directory where it keeps the account key and writes the certificates"))
	}
	if as.challenges == nil {
		// The challenges some listener can answer: HTTP-01 needs a plain
		// TCP listener, TLS-ALPN-01 a tls one (both if there is neither:
		// edge may be behind a proxy on Unix sockets).
		var hasPlain, hasTLS bool
		for _, lc := range fc.listeners {
			hasPlain = hasPlain || !lc.tls && lc.network == "tcp"
			hasTLS = hasTLS || lc.tls
		}
		if hasPlain != hasTLS {
			as.challenges = []string{acmeclient.ChallengeHTTP01}
			if hasTLS {
				as.challenges = []string{acmeclient.ChallengeTLSALPN01}
			}
		}
	}
	if as.hosts != nil {
		// A host whose certificate the store reads from elsewhere would
		// never serve what the client writes.
		for _, lc := range fc.listeners {
			for _, hc := range lc.hosts {
				if at, ok := as.hostAt[hc.host]; ok && lc.tls && hc.certs != nil {
					d.errors(d.errorAt(at, "host %q has a certificates: entry of its own, but the ACME client writes to certsPath", hc.host))
				}
			}
		}
		return
	}
	for _, lc := range fc.listeners {
		if !lc.tls {
			continue
		}
		for _, hc := range lc.hosts {
			h := hc.host
			if name, _, ok := strings.Cut(h, ":"); ok && !strings.HasPrefix(h, "[") {
				h = name
			}
			if h == "" || hc.certs != nil || strings.HasPrefix(h, "*.") || strings.Contains(h, "_") || isIPHost(h) || slices.Contains(as.hosts, h) {
				continue
			}
			as.hosts = append(as.hosts, h)
		}
	}
	if len(as.hosts) == 0 {
		d.errors(d.errorAt(as.at, "acmeClient has no hosts: list them in hosts, or name hosts in a tls listener"))
	}
}

func isIPHost(h string) bool {
	_, err := netip.ParseAddr(strings.Trim(h, "[]"))
	return err == nil
}

// newACME makes the ACME client's Manager (no I/O but reading caBundle).
func (fc *fileConfig) newACME(d *decoder, logger *slog.Logger) error {
	as := fc.acme
	if as == nil {
		return nil
	}
	as.mgr = nil
	cfg := acmeclient.Config{
		DirectoryURL:  as.directory,
		Email:         as.email,
		Hosts:         as.hosts,
		CertsPath:     fc.tls.certsPath,
		PrivKeyFile:   fc.tls.privKeyFile,
		FullChainFile: fc.tls.fullChainFile,
		Challenges:    as.challenges,
		RenewBefore:   as.renewBefore,
		CheckEvery:    as.checkEvery,
		Logger:        logger,
		OnResult: func(host string, err error) {
			if m := fc.acmeResult.Load(); m != nil {
				m.ACMERenewal(err == nil)
			}
		},
	}
	if as.caBundle != "" {
		pem, err := os.ReadFile(as.caBundle)
		if err != nil {
			return d.errorAt(as.caAt, "%v", err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return d.errorAt(as.caAt, "%s: no PEM certificate", as.caBundle)
		}
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.TLSClientConfig = &tls.Config{RootCAs: pool}
		cfg.HTTPClient = &http.Client{Transport: tr}
	}
	m, err := acmeclient.New(cfg)
	if err != nil {
		return d.errorAt(as.at, "%v", err)
	}
	as.mgr = m
	return nil
}

// acmeRoute gives a route group, as its first route, the ACME client's
// HTTP-01 challenge responses. Requests for tokens it does not know fall
// through to the group's other routes (an acme: webroot route, say).
func (fc *fileConfig) acmeRoute(g *edge.Routes) {
	if fc.acme == nil || fc.acme.mgr == nil {
		return
	}
	m := fc.acme.mgr
	g.Handle(edge.Prefix(acmeclient.HTTPChallengePath), func(c *edge.Ctx) {
		if ka, ok := m.HTTPChallenge(strings.TrimPrefix(c.Path(), acmeclient.HTTPChallengePath)); ok {
			c.SendString(200, "text/plain", ka)
		}
	}, "GET", "HEAD")
}

// acmeCatchAll returns, for a listener none of whose hosts matches every
// host, a last group that serves the challenges alone: validation
// requests for a host the listener does not route still get an answer.
func (fc *fileConfig) acmeCatchAll(lc *listenerConfig) *edge.Routes {
	if fc.acme == nil || fc.acme.mgr == nil || slices.ContainsFunc(lc.hosts, func(hc *hostConfig) bool { return hc.host == "" }) {
		return nil
	}
	g := edge.NewRoutes("")
	fc.acmeRoute(g)
	return g
}

// acmeTLS makes a TLS listener's backend config answer TLS-ALPN-01: the
// challenge certificate comes first, and acme-tls/1 is offered after the
// other protocols. A connection that negotiates it is for validation
// only: the validator closes it after the handshake.
func (fc *fileConfig) acmeTLS(bcfg *tlsbackend.Config) {
	if fc.acme == nil || fc.acme.mgr == nil {
		return
	}
	m, get := fc.acme.mgr, bcfg.GetCertificate
	bcfg.GetCertificate = func(hello *tlsbackend.ClientHello) (*tls.Certificate, error) {
		if c := m.ChallengeCertificate(hello); c != nil {
			return c, nil
		}
		return get(hello)
	}
	protos := bcfg.NextProtos
	if protos == nil {
		protos = tlsbackend.DefaultNextProtos
	}
	if !slices.Contains(protos, acmeclient.ALPNProto) {
		bcfg.NextProtos = append(slices.Clone(protos), acmeclient.ALPNProto)
	}
}

// runACME runs the ACME client, if the config has one, until ctx ends or
// the returned stop is called; stop waits for it to return.
func (fc *fileConfig) runACME(ctx context.Context) (stop func()) {
	if fc.acme == nil || fc.acme.mgr == nil {
		return func() {}
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		fc.acme.mgr.Run(ctx)
	}()
	return func() {
		cancel()
		<-done
	}
}
