package acmeclient

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"net/http"
	"net/netip"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/acme"

	"github.com/edge-rt/edge/tlsbackend"
)

// ALPNProto is the ALPN protocol of the TLS-ALPN-01 challenge (RFC 8737).
// A TLS server that answers the challenge offers it after its usual
// protocols.
const ALPNProto = acme.ALPNProto

// HTTPChallengePath is the URL path prefix of HTTP-01 challenge requests;
// the token follows it.
const HTTPChallengePath = "/.well-known/acme-challenge/"

// The challenge types a Config may allow.
const (
	ChallengeHTTP01    = "http-01"
	ChallengeTLSALPN01 = "tls-alpn-01"
)

// Defaults of the Config fields whose zero value means "default".
const (
	DefaultRenewBefore   = 30 * 24 * time.Hour
	DefaultCheckEvery    = 12 * time.Hour
	DefaultRetryBackoff  = 5 * time.Minute
	DefaultPrivKeyFile   = "privkey.pem"
	DefaultFullChainFile = "fullchain.pem"
)

// maxRetryDelay caps the doubling retry delay (Let's Encrypt allows five
// failed validations per host and hour).
const maxRetryDelay = time.Hour

// attemptTimeout bounds one attempt at a certificate: account, order,
// challenges, issuance.
const attemptTimeout = 5 * time.Minute

// AccountKeyFile is where the account key lives, relative to CertsPath.
const AccountKeyFile = ".acme/account.key"

// Config says which certificates a Manager keeps and where. Zero fields
// take the documented defaults. New copies it.
type Config struct {
	// DirectoryURL is the ACME directory of the CA (required), for example
	// acme.LetsEncryptURL.
	DirectoryURL string
	// Email, if not empty, is the account's contact address: the CA writes
	// to it about expiring certificates and problems.
	Email string
	// Hosts are the names to keep certificates for (at least one), one
	// certificate each. Wildcards and IP addresses are refused: HTTP-01
	// and TLS-ALPN-01 cannot prove them.
	Hosts []string
	// CertsPath is the directory holding the account key and the
	// certificates (required; see the package doc). It is created if
	// missing.
	CertsPath string
	// PrivKeyFile and FullChainFile name a certificate's files in its host
	// directory. Empty means DefaultPrivKeyFile and DefaultFullChainFile.
	PrivKeyFile, FullChainFile string
	// Challenges are the challenge types to use (ChallengeHTTP01,
	// ChallengeTLSALPN01), in order of preference. Nil means both,
	// HTTP-01 first. After a failed attempt, the next attempt prefers the
	// next type in the list.
	Challenges []string
	// RenewBefore is how long before expiry a certificate is renewed (but
	// never before two thirds of its lifetime). Zero means
	// DefaultRenewBefore (30 days); negative is refused.
	RenewBefore time.Duration
	// CheckEvery is the longest time between two looks at a host's
	// certificate on disk, with ±10% jitter. Zero means DefaultCheckEvery
	// (12 hours); negative is refused.
	CheckEvery time.Duration
	// RetryBackoff is the delay before the first retry after a failed
	// attempt; it doubles with each further failure, up to an hour. Zero
	// means DefaultRetryBackoff (5 minutes); negative is refused.
	RetryBackoff time.Duration
	// HTTPClient talks to the CA. Nil means http.DefaultClient. Set its
	// transport's RootCAs for a CA whose API has a private certificate.
	HTTPClient *http.Client
	// Logger receives what the Manager does (certificates obtained,
	// failures). Nil means slog.Default().
	Logger *slog.Logger
	// OnResult, if not nil, is called after each attempt to obtain a
	// certificate (a first issue or a renewal) with its host and the error
	// (nil on success), from the Manager's goroutine; it must not block.
	// It feeds metrics (edge_acme_renewals_total).
	OnResult func(host string, err error)
}

// HostStatus is what a Manager knows about one host.
type HostStatus struct {
	// Host is the name, lower-cased, without a trailing dot.
	Host string
	// NotAfter is the expiry of the certificate on disk, zero if there is
	// none (or none usable) or Run has not looked yet.
	NotAfter time.Time
	// Obtained counts the certificates this Manager obtained for the host.
	Obtained int
	// Failures counts the consecutive failed attempts; zero after a
	// success.
	Failures int
	// LastError is the error of the last attempt, nil after a success.
	LastError error
	// NextCheck is when Run looks at the host next; zero before Run.
	NextCheck time.Time
}

// Manager obtains and renews the certificates of a Config. Run does the
// work; HTTPChallenge and ChallengeCertificate answer the CA's validation
// requests while Run waits for them, and are safe for concurrent use from
// any goroutine, as is Status.
type Manager struct {
	cfg        Config
	log        *slog.Logger
	hosts      []string // normalized, in Config order
	challenges []string
	running    atomic.Bool

	// Pending challenges. hasALPN lets ChallengeCertificate skip the lock
	// on every ordinary handshake.
	chalMu  sync.RWMutex
	tokens  map[string]string           // HTTP-01: token -> key authorization
	alpn    map[string]*tls.Certificate // TLS-ALPN-01: host -> certificate
	hasALPN atomic.Bool

	stMu   sync.Mutex
	status map[string]*HostStatus

	// Used by Run's goroutine only.
	client *acme.Client // nil until the account is registered
}

// New checks cfg and returns a Manager. It does no I/O.
func New(cfg Config) (*Manager, error) {
	if cfg.DirectoryURL == "" {
		return nil, errors.New("acmeclient: no DirectoryURL")
	}
	if u, err := url.Parse(cfg.DirectoryURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("acmeclient: bad DirectoryURL %q: want an https:// (or http://) URL", cfg.DirectoryURL)
	}
	if cfg.CertsPath == "" {
		return nil, errors.New("acmeclient: no CertsPath")
	}
	if cfg.Email != "" && (!strings.Contains(cfg.Email, "@") || strings.ContainsAny(cfg.Email, " \t\r\n,<>")) {
		return nil, fmt.Errorf("acmeclient: bad Email %q", cfg.Email)
	}
	for _, p := range []*string{&cfg.PrivKeyFile, &cfg.FullChainFile} {
		if *p != "" && (filepath.Base(*p) != *p || *p == "." || *p == "..") {
			return nil, fmt.Errorf("acmeclient: bad file name %q: want a name without a directory", *p)
		}
	}
	if cfg.PrivKeyFile == "" {
		cfg.PrivKeyFile = DefaultPrivKeyFile
	}
	if cfg.FullChainFile == "" {
		cfg.FullChainFile = DefaultFullChainFile
	}
	if cfg.PrivKeyFile == cfg.FullChainFile {
		return nil, errors.New("acmeclient: PrivKeyFile and FullChainFile are the same file")
	}
	for name, d := range map[string]*time.Duration{"RenewBefore": &cfg.RenewBefore, "CheckEvery": &cfg.CheckEvery, "RetryBackoff": &cfg.RetryBackoff} {
		if *d < 0 {
			return nil, fmt.Errorf("acmeclient: negative %s", name)
		}
	}
	if cfg.RenewBefore == 0 {
		cfg.RenewBefore = DefaultRenewBefore
	}
	if cfg.CheckEvery == 0 {
		cfg.CheckEvery = DefaultCheckEvery
	}
	if cfg.RetryBackoff == 0 {
		cfg.RetryBackoff = DefaultRetryBackoff
	}
	m := &Manager{
		log:    cfg.Logger,
		tokens: map[string]string{},
		alpn:   map[string]*tls.Certificate{},
		status: map[string]*HostStatus{},
	}
	if m.log == nil {
		m.log = slog.Default()
	}
	if len(cfg.Hosts) == 0 {
		return nil, errors.New("acmeclient: no Hosts")
	}
	for _, h := range cfg.Hosts {
		n, err := normalizeHost(h)
		if err != nil {
			return nil, err
		}
		if slices.Contains(m.hosts, n) {
			return nil, fmt.Errorf("acmeclient: host %q listed twice", h)
		}
		m.hosts = append(m.hosts, n)
		m.status[n] = &HostStatus{Host: n}
	}
	cfg.Hosts = slices.Clone(m.hosts)
	if cfg.Challenges == nil {
		m.challenges = []string{ChallengeHTTP01, ChallengeTLSALPN01}
	} else {
		if len(cfg.Challenges) == 0 {
			return nil, errors.New("acmeclient: empty Challenges (nil means both)")
		}
		for _, c := range cfg.Challenges {
			if c != ChallengeHTTP01 && c != ChallengeTLSALPN01 {
				return nil, fmt.Errorf("acmeclient: unknown challenge %q: want %q or %q", c, ChallengeHTTP01, ChallengeTLSALPN01)
			}
			if slices.Contains(m.challenges, c) {
				return nil, fmt.Errorf("acmeclient: challenge %q listed twice", c)
			}
			m.challenges = append(m.challenges, c)
		}
	}
	cfg.Challenges = slices.Clone(m.challenges)
	m.cfg = cfg
	return m, nil
}

// normalizeHost lower-cases a host name, drops one trailing dot, and
// refuses what HTTP-01 and TLS-ALPN-01 cannot validate.
func normalizeHost(h string) (string, error) {
	n := strings.TrimSuffix(strings.ToLower(h), ".")
	switch {
	case strings.Contains(n, "*"):
		return "", fmt.Errorf("acmeclient: host %q: wildcard certificates need the DNS-01 challenge, which this client does not do", h)
	case isIP(n):
		return "", fmt.Errorf("acmeclient: host %q: IP address certificates are not supported", h)
	case !isHostname(n):
		return "", fmt.Errorf("acmeclient: bad host name %q", h)
	}
	return n, nil
}

func isIP(s string) bool {
	_, err := netip.ParseAddr(strings.Trim(s, "[]"))
	return err == nil
}

func isHostname(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for _, label := range strings.Split(s, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

// Status reports every host, in Config order.
func (m *Manager) Status() []HostStatus {
	m.stMu.Lock()
	defer m.stMu.Unlock()
	out := make([]HostStatus, len(m.hosts))
	for i, h := range m.hosts {
		out[i] = *m.status[h]
	}
	return out
}

func (m *Manager) updateStatus(host string, f func(st *HostStatus)) {
	m.stMu.Lock()
	defer m.stMu.Unlock()
	f(m.status[host])
}

// Run obtains the certificates that are missing or due for renewal, then
// checks the hosts again as described in the package doc, until ctx ends;
// it then returns ctx.Err(). Failures are logged, recorded in Status and
// retried; they never end Run. Run may not be called twice at once.
func (m *Manager) Run(ctx context.Context) error {
	if !m.running.CompareAndSwap(false, true) {
		return errors.New("acmeclient: Run is already running")
	}
	defer m.running.Store(false)
	next := make(map[string]time.Time, len(m.hosts)) // zero: now
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		now := time.Now()
		soonest := now.Add(m.cfg.CheckEvery)
		for _, h := range m.hosts {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if !next[h].After(now) {
				next[h] = m.check(ctx, h)
			}
			if next[h].Before(soonest) {
				soonest = next[h]
			}
			now = time.Now()
		}
		timer.Reset(time.Until(soonest))
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-timer.C:
		}
	}
}

// check looks at host's certificate on disk, obtains a new one if needed,
// and returns when to look again. Each outcome updates the host's status
// at once, NextCheck included.
func (m *Manager) check(ctx context.Context, host string) time.Time {
	now := time.Now()
	leaf, err := m.readCert(host)
	if err == nil {
		if renewAt := m.renewAt(leaf); now.Before(renewAt) {
			next := m.nextCheck(now, renewAt)
			m.updateStatus(host, func(st *HostStatus) {
				// A valid certificate is there (maybe put there by
				// someone else): earlier failures no longer matter.
				st.NotAfter, st.NextCheck = leaf.NotAfter, next
				st.Failures, st.LastError = 0, nil
			})
			return next
		}
		m.updateStatus(host, func(st *HostStatus) { st.NotAfter = leaf.NotAfter })
		m.log.Info("acme: renewing certificate", "host", host, "notAfter", leaf.NotAfter)
	} else {
		m.updateStatus(host, func(st *HostStatus) { st.NotAfter = time.Time{} })
		m.log.Info("acme: obtaining certificate", "host", host, "reason", err)
	}

	var failures int
	m.updateStatus(host, func(st *HostStatus) { failures = st.Failures })
	actx, cancel := context.WithTimeout(ctx, attemptTimeout)
	leaf, err = m.obtain(actx, host, failures)
	cancel()
	if ctx.Err() != nil {
		return now // stopping: neither a success nor a failure
	}
	if f := m.cfg.OnResult; f != nil {
		f(host, err)
	}
	if err != nil {
		delay := m.retryDelay(failures+1, err)
		next := time.Now().Add(delay)
		m.updateStatus(host, func(st *HostStatus) {
			st.Failures++
			st.LastError, st.NextCheck = err, next
		})
		m.log.Warn("acme: could not obtain certificate", "host", host, "err", err, "failures", failures+1, "retryIn", delay.Round(time.Millisecond))
		return next
	}
	next := m.nextCheck(time.Now(), m.renewAt(leaf))
	m.updateStatus(host, func(st *HostStatus) {
		st.NotAfter, st.NextCheck = leaf.NotAfter, next
		st.Obtained++
		st.Failures, st.LastError = 0, nil
	})
	m.log.Info("acme: certificate obtained", "host", host, "notAfter", leaf.NotAfter, "serial", leaf.SerialNumber.Text(16))
	return next
}

// renewAt is when leaf is due: RenewBefore before its expiry, but not
// before two thirds of its lifetime.
func (m *Manager) renewAt(leaf *x509.Certificate) time.Time {
	before := min(m.cfg.RenewBefore, leaf.NotAfter.Sub(leaf.NotBefore)/3)
	return leaf.NotAfter.Add(-before)
}

// nextCheck is the earlier of renewAt and a jittered CheckEvery from now.
func (m *Manager) nextCheck(now, renewAt time.Time) time.Time {
	return minTime(renewAt, now.Add(jitter(m.cfg.CheckEvery)))
}

// retryDelay is how long to wait after the n-th consecutive failure
// (n >= 1): RetryBackoff doubled n-1 times, at most maxRetryDelay (or
// RetryBackoff if larger), at least what a rate-limited CA asked for, with
// ±10% jitter.
func (m *Manager) retryDelay(n int, err error) time.Duration {
	d := m.cfg.RetryBackoff
	limit := max(maxRetryDelay, m.cfg.RetryBackoff)
	for i := 1; i < n && d < limit; i++ {
		d *= 2
	}
	d = min(d, limit)
	if ra, ok := acme.RateLimit(err); ok && ra > d {
		d = ra
	}
	return jitter(d)
}

// jitter returns d ±10%.
func jitter(d time.Duration) time.Duration {
	if d <= 0 {
		return d
	}
	return d - d/10 + time.Duration(mrand.Int64N(int64(d/5)+1))
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// obtain orders a certificate for host and writes it. failures is the
// number of consecutive failed attempts, which rotates the challenge
// preference.
func (m *Manager) obtain(ctx context.Context, host string, failures int) (*x509.Certificate, error) {
	client, err := m.account(ctx)
	if err != nil {
		return nil, err
	}
	order, err := client.AuthorizeOrder(ctx, acme.DomainIDs(host))
	if err != nil {
		return nil, fmt.Errorf("acmeclient: new order: %w", err)
	}
	for _, zurl := range order.AuthzURLs {
		if err := m.authorize(ctx, client, zurl, failures); err != nil {
			return nil, err
		}
	}
	order, err = client.WaitOrder(ctx, order.URI)
	if err != nil {
		return nil, fmt.Errorf("acmeclient: order: %w", err)
	}

	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.CertificateRequest{DNSNames: []string{host}}
	if len(host) <= 64 {
		tmpl.Subject = pkix.Name{CommonName: host}
	}
	csr, err := x509.CreateCertificateRequest(rand.Reader, tmpl, key)
	if err != nil {
		return nil, err
	}
	ders, _, err := client.CreateCertFromOrder(ctx, order, csr, true)
	if err != nil {
		return nil, fmt.Errorf("acmeclient: finalize: %w", err)
	}
	leaf, err := checkIssued(ders, host, key)
	if err != nil {
		return nil, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	var chain []byte
	for _, der := range ders {
		chain = append(chain, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})...)
	}
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	if err := writePair(m.hostDir(host), m.cfg.PrivKeyFile, m.cfg.FullChainFile, keyPEM, chain); err != nil {
		return nil, fmt.Errorf("acmeclient: writing the certificate: %w", err)
	}
	return leaf, nil
}

// checkIssued checks that the chain the CA returned is for host and key.
func checkIssued(ders [][]byte, host string, key crypto.Signer) (*x509.Certificate, error) {
	if len(ders) == 0 {
		return nil, errors.New("acmeclient: the CA returned no certificate")
	}
	leaf, err := x509.ParseCertificate(ders[0])
	if err != nil {
		return nil, fmt.Errorf("acmeclient: the CA returned a bad certificate: %w", err)
	}
	pub, ok := leaf.PublicKey.(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(key.Public()) {
		return nil, errors.New("acmeclient: the CA returned a certificate for another key")
	}
	if err := leaf.VerifyHostname(host); err != nil {
		return nil, fmt.Errorf("acmeclient: the CA returned a certificate for other names: %w", err)
	}
	return leaf, nil
}

// authorize completes one authorization of an order.
func (m *Manager) authorize(ctx context.Context, client *acme.Client, zurl string, failures int) error {
	z, err := client.GetAuthorization(ctx, zurl)
	if err != nil {
		return fmt.Errorf("acmeclient: authorization: %w", err)
	}
	switch z.Status {
	case acme.StatusValid:
		return nil // reused from an earlier order
	case acme.StatusPending:
	default:
		return fmt.Errorf("acmeclient: authorization for %s is %s", z.Identifier.Value, z.Status)
	}
	host := z.Identifier.Value
	chal := m.pickChallenge(z.Challenges, failures)
	if chal == nil {
		var offered []string
		for _, c := range z.Challenges {
			offered = append(offered, c.Type)
		}
		return fmt.Errorf("acmeclient: %s: the CA offers no allowed challenge (offered: %s; allowed: %s)",
			host, strings.Join(offered, ", "), strings.Join(m.challenges, ", "))
	}
	switch chal.Type {
	case ChallengeHTTP01:
		ka, err := client.HTTP01ChallengeResponse(chal.Token)
		if err != nil {
			return err
		}
		m.chalMu.Lock()
		m.tokens[chal.Token] = ka
		m.chalMu.Unlock()
		defer func() {
			m.chalMu.Lock()
			delete(m.tokens, chal.Token)
			m.chalMu.Unlock()
		}()
	case ChallengeTLSALPN01:
		cert, err := client.TLSALPN01ChallengeCert(chal.Token, host)
		if err != nil {
			return err
		}
		m.chalMu.Lock()
		m.alpn[strings.ToLower(host)] = &cert
		m.hasALPN.Store(true)
		m.chalMu.Unlock()
		defer func() {
			m.chalMu.Lock()
			delete(m.alpn, strings.ToLower(host))
			m.hasALPN.Store(len(m.alpn) > 0)
			m.chalMu.Unlock()
		}()
	}
	m.log.Debug("acme: accepting challenge", "host", host, "type", chal.Type)
	if _, err := client.Accept(ctx, chal); err != nil {
		return fmt.Errorf("acmeclient: %s: accepting the %s challenge: %w", host, chal.Type, err)
	}
	if _, err := client.WaitAuthorization(ctx, z.URI); err != nil {
		return fmt.Errorf("acmeclient: %s: %s challenge: %w", host, chal.Type, err)
	}
	return nil
}

// pickChallenge returns the first allowed challenge in preference order,
// the preference rotated by the number of failures.
func (m *Manager) pickChallenge(offered []*acme.Challenge, failures int) *acme.Challenge {
	n := len(m.challenges)
	for i := range n {
		typ := m.challenges[(failures+i)%n]
		for _, c := range offered {
			if c.Type == typ {
				return c
			}
		}
	}
	return nil
}

// account returns the client with a registered account, registering (or
// finding again) the account of the stored key on first use.
func (m *Manager) account(ctx context.Context) (*acme.Client, error) {
	if m.client != nil {
		return m.client, nil
	}
	key, err := loadOrCreateAccountKey(filepath.Join(m.cfg.CertsPath, AccountKeyFile))
	if err != nil {
		return nil, fmt.Errorf("acmeclient: account key: %w", err)
	}
	c := &acme.Client{
		Key:          key,
		DirectoryURL: m.cfg.DirectoryURL,
		HTTPClient:   m.cfg.HTTPClient,
		UserAgent:    "edge-acmeclient",
	}
	acct := &acme.Account{}
	if m.cfg.Email != "" {
		acct.Contact = []string{"mailto:" + m.cfg.Email}
	}
	a, err := c.Register(ctx, acct, acme.AcceptTOS)
	switch {
	case errors.Is(err, acme.ErrAccountAlreadyExists):
		m.log.Info("acme: using account", "url", string(c.KID))
		m.updateContact(ctx, c, acct.Contact)
	case err != nil:
		return nil, fmt.Errorf("acmeclient: registering the account: %w", err)
	default:
		m.log.Info("acme: account registered", "url", a.URI)
	}
	m.client = c
	return c, nil
}

// updateContact makes an existing account's contact the configured one
// (the email may have changed since it was registered). A failure is only
// logged: certificates do not depend on it.
func (m *Manager) updateContact(ctx context.Context, c *acme.Client, contact []string) {
	if len(contact) == 0 {
		return // no email given: leave the account's as it is
	}
	a, err := c.GetReg(ctx, "")
	if err == nil && slices.Equal(a.Contact, contact) {
		return
	}
	if err == nil {
		_, err = c.UpdateReg(ctx, &acme.Account{Contact: contact})
	}
	if err != nil {
		m.log.Warn("acme: could not update the account's contact", "err", err)
		return
	}
	m.log.Info("acme: account contact updated", "contact", contact)
}

// ChallengeCertificate returns the TLS-ALPN-01 challenge certificate when
// hello offers ALPNProto for a name whose challenge is pending, and nil
// otherwise (serve the usual certificate then). It is cheap for ordinary
// handshakes: no lock unless hello offers ALPNProto. hello is only read
// during the call.
func (m *Manager) ChallengeCertificate(hello *tlsbackend.ClientHello) *tls.Certificate {
	if hello == nil || !m.hasALPN.Load() || !slices.Contains(hello.SupportedProtos, ALPNProto) {
		return nil
	}
	name := strings.TrimSuffix(strings.ToLower(hello.ServerName), ".")
	m.chalMu.RLock()
	defer m.chalMu.RUnlock()
	return m.alpn[name]
}

// HTTPChallenge returns the response to an HTTP-01 validation request for
// HTTPChallengePath+token: the key authorization, to send with status 200
// and any text/plain type, and true; or false when no challenge with that
// token is pending (let other routes answer then).
func (m *Manager) HTTPChallenge(token string) (keyAuth string, ok bool) {
	if token == "" {
		return "", false
	}
	m.chalMu.RLock()
	defer m.chalMu.RUnlock()
	keyAuth, ok = m.tokens[token]
	return keyAuth, ok
}
