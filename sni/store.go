package sni

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edge-rt/edge/tlsbackend"
)

// Defaults of Config.
const (
	DefaultPrivKeyFile   = "privkey.pem"
	DefaultFullChainFile = "fullchain.pem"
)

// DefaultFallbackNames are the SANs of the fallback certificate when
// Config.FallbackNames is empty.
var DefaultFallbackNames = []string{"localhost", "127.0.0.1", "::1"}

// ErrClosed is returned by Watch after Close.
var ErrClosed = errors.New("sni: store closed")

// maxName bounds the server names looked up (a DNS name has at most 253
// characters); longer names get the default certificate.
const maxName = 255

// Config configures a Store. Only Hosts is usually set; zero values take
// the documented defaults.
type Config struct {
	// CertsPath is the directory holding one subdirectory per host (see the
	// package doc for the layout). Empty means none: only hosts with
	// explicit paths get certificates.
	CertsPath string
	// PrivKeyFile is the name of the private key file inside a host
	// directory. Empty means "privkey.pem".
	PrivKeyFile string
	// FullChainFile is the name of the certificate chain file inside a
	// host directory. Empty means "fullchain.pem".
	FullChainFile string
	// Hosts are the host names to serve. A name listed twice is one host;
	// explicit paths given by either entry are used, and two different
	// explicit paths for one name are an error.
	Hosts []Host
	// DefaultHost is the host whose certificate answers a ClientHello
	// without SNI or with a name no host matches. It is added to Hosts if
	// missing. Empty means the self-signed fallback answers.
	DefaultHost string
	// FallbackNames are the SANs of the self-signed fallback certificate
	// (DNS names or IP addresses). Nil or empty means DefaultFallbackNames.
	FallbackNames []string
	// Logger receives load and reload messages. Nil means slog.Default().
	Logger *slog.Logger
}

// Host is one name served by the store.
type Host struct {
	// Name is "example.com" or a wildcard "*.example.com" (a "*" is only
	// allowed as the whole left-most label). It is lower-cased; a trailing
	// dot is dropped. Internationalized names are given in their ASCII
	// (punycode) form.
	Name string
	// KeyFile and CertFile are explicit paths of the PEM private key and
	// certificate chain. Empty means <CertsPath>/<dir>/<PrivKeyFile> and
	// <CertsPath>/<dir>/<FullChainFile>, where <dir> is Name with a
	// leading "*" written as "_" ("_.example.com"). Relative paths are
	// taken from the working directory at New.
	KeyFile  string
	CertFile string
}

// Store holds the certificates of a set of hosts.
//
// Concurrency: GetCertificate, GetCertificateStd, Fallback, Names and
// Reloads are safe for concurrent use and never block: they read an
// immutable snapshot that reloads replace atomically. The certificates they
// return are shared and must not be modified. Watch and Close may be called
// from any goroutine. A Store is made by New; its zero value is not usable.
type Store struct {
	log         *slog.Logger
	fallback    *tls.Certificate
	defaultHost string

	snap    atomic.Pointer[snapshot]
	reloads atomic.Uint64

	// mu guards the hosts' mutable fields (cert, sum, state, lastErr) and
	// the watch lifecycle fields below.
	mu       sync.Mutex
	hosts    []*host // sorted by name
	watching bool
	closed   bool
	cancel   context.CancelFunc
	wg       sync.WaitGroup

	certsPath string
	// debounce and retryEvery are read by Watch; tests shorten them
	// before calling it.
	debounce   time.Duration
	retryEvery time.Duration
}

// host is one served name and the state of its files.
type host struct {
	name     string // lower case, "*.example.com" for a wildcard
	keyPath  string // absolute
	certPath string // absolute

	cert    *tls.Certificate // last good pair, nil if none yet
	sum     [sha256.Size]byte
	state   hostState
	lastErr string // last error logged, to log each distinct error once
}

type hostState uint8

const (
	stateNew     hostState = iota
	stateOK                // cert is what the files hold
	stateMissing           // a file is missing; cert (if any) is the last good one
	stateFailed            // the files are present but broken; retried periodically
)

// snapshot is an immutable view of the store for lookups.
type snapshot struct {
	exact map[string]*tls.Certificate // "example.com"
	wild  map[string]*tls.Certificate // "example.com" for "*.example.com"
	def   *tls.Certificate            // DefaultHost's certificate or the fallback
	names []string                    // hosts with a certificate, sorted
}

// New builds a store and loads the certificates that exist. A host whose
// files are missing is not an error: it is logged and answers with the
// default certificate until its files appear (see Watch). Files that are
// present but unreadable or broken are an error, wrapped with their path.
// New also generates the self-signed fallback certificate.
func New(cfg Config) (*Store, error) {
	s := &Store{
		log:        cfg.Logger,
		debounce:   200 * time.Millisecond,
		retryEvery: 30 * time.Second,
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	names := cfg.FallbackNames
	if len(names) == 0 {
		names = DefaultFallbackNames
	}
	fb, err := GenerateSelfSigned(names, 365*24*time.Hour)
	if err != nil {
		return nil, err
	}
	s.fallback = fb

	keyFile, chainFile := cfg.PrivKeyFile, cfg.FullChainFile
	if keyFile == "" {
		keyFile = DefaultPrivKeyFile
	}
	if chainFile == "" {
		chainFile = DefaultFullChainFile
	}
	if cfg.CertsPath != "" {
		if s.certsPath, err = filepath.Abs(cfg.CertsPath); err != nil {
			return nil, fmt.Errorf("sni: certs path: %w", err)
		}
	}

	hosts := cfg.Hosts
	if cfg.DefaultHost != "" {
		d, err := normalizeName(cfg.DefaultHost)
		if err != nil {
			return nil, err
		}
		s.defaultHost = d
		hosts = append(slices.Clip(hosts), Host{Name: d})
	}
	byName := make(map[string]*Host, len(hosts))
	for _, h := range hosts {
		name, err := normalizeName(h.Name)
		if err != nil {
			return nil, err
		}
		m := byName[name]
		if m == nil {
			byName[name] = &Host{Name: name, KeyFile: h.KeyFile, CertFile: h.CertFile}
			continue
		}
		if m.KeyFile, err = mergePath(name, m.KeyFile, h.KeyFile); err != nil {
			return nil, err
		}
		if m.CertFile, err = mergePath(name, m.CertFile, h.CertFile); err != nil {
			return nil, err
		}
	}
	for _, h := range byName {
		dir := filepath.Join(s.certsPath, dirName(h.Name))
		key, err := hostPath(h.KeyFile, s.certsPath, dir, keyFile)
		if err != nil {
			return nil, err
		}
		cert, err := hostPath(h.CertFile, s.certsPath, dir, chainFile)
		if err != nil {
			return nil, err
		}
		if key == "" || cert == "" {
			s.log.Warn("sni: no certificate source for host (no certs path and no explicit path); it gets the default certificate",
				"host", h.Name)
			continue
		}
		s.hosts = append(s.hosts, &host{name: h.Name, keyPath: key, certPath: cert})
	}
	slices.SortFunc(s.hosts, func(a, b *host) int { return strings.Compare(a.name, b.name) })

	for _, h := range s.hosts {
		switch _, err := s.load(h); {
		case errors.Is(err, fs.ErrNotExist):
			h.state = stateMissing
			s.log.Warn("sni: certificate files missing; serving the default certificate until they appear",
				"host", h.name, "err", err)
		case err != nil:
			return nil, err
		default:
			s.log.Info("sni: certificate loaded", certAttrs(h)...)
		}
	}
	s.publish()
	return s, nil
}

// mergePath combines the explicit paths two entries of one host give.
func mergePath(name, a, b string) (string, error) {
	if a == "" || a == b {
		return b, nil
	}
	if b == "" {
		return a, nil
	}
	return "", fmt.Errorf("sni: host %s: two different paths %q and %q", name, a, b)
}

// hostPath returns explicit made absolute, or file inside dir, or "" when
// neither exists.
func hostPath(explicit, certsPath, dir, file string) (string, error) {
	if explicit != "" {
		p, err := filepath.Abs(explicit)
		if err != nil {
			return "", fmt.Errorf("sni: %s: %w", explicit, err)
		}
		return p, nil
	}
	if certsPath == "" {
		return "", nil
	}
	return filepath.Join(dir, file), nil
}

// dirName is the directory of a host under CertsPath.
func dirName(name string) string {
	if strings.HasPrefix(name, "*.") {
		return "_" + name[1:]
	}
	return name
}

// normalizeName lower-cases a host name, drops one trailing dot, and
// checks it is a plain DNS-like name or a one-label wildcard of one.
func normalizeName(name string) (string, error) {
	n := strings.ToLower(strings.TrimSuffix(name, "."))
	rest := strings.TrimPrefix(n, "*.")
	ok := rest != "" && len(n) <= maxName
	for label := range strings.SplitSeq(rest, ".") {
		if label == "" {
			ok = false
		}
	}
	for i := 0; i < len(rest); i++ {
		c := rest[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.' || c == ':') {
			ok = false
		}
	}
	if !ok {
		return "", fmt.Errorf("sni: invalid host name %q", name)
	}
	return n, nil
}

// load reads h's files and, if they hold a new valid pair, makes it h's
// certificate and reports true. It returns an error wrapping
// fs.ErrNotExist when a file is missing, and any other error (wrapped with
// the path at fault) when the files are present but unusable; h's
// certificate is then unchanged. The caller holds s.mu or owns h.
func (s *Store) load(h *host) (changed bool, err error) {
	keyPEM, err := os.ReadFile(h.keyPath)
	if err != nil {
		return false, fmt.Errorf("sni: load %s: %w", h.keyPath, err)
	}
	certPEM, err := os.ReadFile(h.certPath)
	if err != nil {
		return false, fmt.Errorf("sni: load %s: %w", h.certPath, err)
	}
	sum := pairSum(certPEM, keyPEM)
	if h.cert != nil && sum == h.sum {
		h.state = stateOK
		return false, nil
	}
	c, keyFault, err := loadPair(certPEM, keyPEM)
	if err != nil {
		path := h.certPath
		switch {
		case keyFault:
			path = h.keyPath
		case errors.Is(err, ErrKeyMismatch):
			path = h.certPath + " (key " + h.keyPath + ")"
		}
		return false, fmt.Errorf("sni: load %s: %w", path, err)
	}
	h.cert, h.sum, h.state = c, sum, stateOK
	s.checkCert(h)
	return true, nil
}

// pairSum fingerprints the files of a pair, to skip reloading unchanged
// files (an event on a touch, a chmod, or a file written twice).
func pairSum(certPEM, keyPEM []byte) [sha256.Size]byte {
	d := sha256.New()
	d.Write(certPEM)
	d.Write([]byte{0})
	d.Write(keyPEM)
	var sum [sha256.Size]byte
	d.Sum(sum[:0])
	return sum
}

// checkCert logs what is odd but not fatal about a freshly loaded
// certificate: not valid now, or not covering the host name.
func (s *Store) checkCert(h *host) {
	leaf := h.cert.Leaf
	now := time.Now()
	if now.After(leaf.NotAfter) {
		s.log.Warn("sni: certificate has expired", certAttrs(h)...)
	} else if now.Before(leaf.NotBefore) {
		s.log.Warn("sni: certificate is not valid yet", append(certAttrs(h), "not_before", leaf.NotBefore)...)
	}
	covered := false
	if strings.HasPrefix(h.name, "*.") {
		for _, n := range leaf.DNSNames {
			covered = covered || strings.EqualFold(n, h.name)
		}
	} else {
		covered = leaf.VerifyHostname(h.name) == nil
	}
	if !covered {
		s.log.Warn("sni: certificate does not cover the host name", append(certAttrs(h), "dns_names", leaf.DNSNames)...)
	}
}

// certAttrs describes h's certificate for a log line.
func certAttrs(h *host) []any {
	return []any{"host", h.name, "path", h.certPath, "serial", h.cert.Leaf.SerialNumber.Text(16),
		"not_after", h.cert.Leaf.NotAfter}
}

// reload re-reads hosts (on the watcher goroutine), logs the outcome, and
// publishes a new snapshot if a certificate changed.
func (s *Store) reload(hosts []*host) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	changed := false
	for _, h := range hosts {
		prev := h.state
		ok, err := s.load(h)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			if h.state != stateMissing {
				msg := "sni: certificate files missing; serving the default certificate until they appear"
				if h.cert != nil {
					msg = "sni: certificate files missing; keeping the last good certificate"
				}
				s.log.Warn(msg, "host", h.name, "err", err)
			}
			h.state, h.lastErr = stateMissing, ""
		case err != nil:
			if e := err.Error(); e != h.lastErr {
				msg := "sni: cannot load certificate; serving the default certificate"
				if h.cert != nil {
					msg = "sni: cannot load new certificate; keeping the current one"
				}
				s.log.Warn(msg, "host", h.name, "err", err)
				h.lastErr = e
			}
			h.state = stateFailed
		case ok:
			h.lastErr = ""
			s.reloads.Add(1)
			s.log.Info("sni: certificate reloaded", certAttrs(h)...)
			changed = true
		default: // unchanged
			if prev == stateFailed || prev == stateMissing {
				s.log.Info("sni: certificate files are usable again (unchanged)", certAttrs(h)...)
			}
			h.lastErr = ""
		}
	}
	if changed {
		s.publish()
	}
}

// failedHosts returns the hosts whose files are present but broken.
func (s *Store) failedHosts() []*host {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*host
	for _, h := range s.hosts {
		if h.state == stateFailed {
			out = append(out, h)
		}
	}
	return out
}

// publish builds and installs a snapshot of the hosts' certificates. The
// caller holds s.mu (or, in New, owns the store).
func (s *Store) publish() {
	sn := &snapshot{
		exact: make(map[string]*tls.Certificate, len(s.hosts)),
		wild:  make(map[string]*tls.Certificate),
		def:   s.fallback,
	}
	for _, h := range s.hosts {
		if h.cert == nil {
			continue
		}
		if suffix, ok := strings.CutPrefix(h.name, "*."); ok {
			sn.wild[suffix] = h.cert
		} else {
			sn.exact[h.name] = h.cert
		}
		sn.names = append(sn.names, h.name)
		if h.name == s.defaultHost {
			sn.def = h.cert
		}
	}
	s.snap.Store(sn)
}

// lookup selects the certificate for a server name without allocating.
func (sn *snapshot) lookup(name string) *tls.Certificate {
	if n := len(name); n > 0 && name[n-1] == '.' {
		name = name[:n-1]
	}
	if name == "" || len(name) > maxName {
		return sn.def
	}
	var buf [maxName]byte
	b := buf[:len(name)]
	for i := 0; i < len(name); i++ {
		c := name[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		b[i] = c
	}
	if c, ok := sn.exact[string(b)]; ok {
		return c
	}
	if i := bytes.IndexByte(b, '.'); i > 0 && len(sn.wild) > 0 {
		if c, ok := sn.wild[string(b[i+1:])]; ok {
			return c
		}
	}
	return sn.def
}

// GetCertificate returns the certificate for hello: the host named by its
// SNI, else a wildcard host one label up, else DefaultHost's, else the
// fallback. It never fails, never blocks and does not allocate; it is meant
// for tlsbackend.Config.GetCertificate. A nil hello gets the default.
func (s *Store) GetCertificate(hello *tlsbackend.ClientHello) (*tls.Certificate, error) {
	var name string
	if hello != nil {
		name = hello.ServerName
	}
	return s.snap.Load().lookup(name), nil
}

// GetCertificateStd is GetCertificate for a crypto/tls Config.
func (s *Store) GetCertificateStd(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	var name string
	if hello != nil {
		name = hello.ServerName
	}
	return s.snap.Load().lookup(name), nil
}

// Fallback returns the self-signed certificate generated by New.
func (s *Store) Fallback() *tls.Certificate { return s.fallback }

// Names returns the hosts that have a certificate loaded, sorted, wildcard
// hosts as "*.example.com".
func (s *Store) Names() []string { return slices.Clone(s.snap.Load().names) }

// Reloads returns how many times a changed certificate has been swapped
// in since New (the loads in New are not counted).
func (s *Store) Reloads() uint64 { return s.reloads.Load() }

// Close stops watching and waits for the watcher to exit. The store keeps
// answering GetCertificate with the certificates it holds. Close is
// idempotent.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	cancel := s.cancel
	s.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	s.wg.Wait()
	return nil
}

// Watch starts following the certificate files (see the package doc) and
// returns once the watches are in place; from then on a change is picked
// up. It stops when ctx ends or at Close. Watch may be called once; it
// returns ErrClosed after Close. On systems without inotify it returns an
// error and the certificates stay as loaded.
func (s *Store) Watch(ctx context.Context) error {
	s.mu.Lock()
	switch {
	case s.closed:
		s.mu.Unlock()
		return ErrClosed
	case s.watching:
		s.mu.Unlock()
		return errors.New("sni: already watching")
	}
	s.watching = true
	ctx, cancel := context.WithCancel(ctx)
	s.cancel = cancel
	s.wg.Add(1) // done by startWatcher, at once on error, else when the watcher exits
	s.mu.Unlock()
	if err := s.startWatcher(ctx); err != nil {
		cancel()
		return err
	}
	return nil
}
