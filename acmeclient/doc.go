// Package acmeclient is edge's built-in ACME client (RFC 8555): it obtains
// certificates for a list of host names from an ACME certificate authority
// such as Let's Encrypt, proving control of each name with the HTTP-01 or
// TLS-ALPN-01 challenge (RFC 8737), writes them where edge's certificate
// store (package sni) reads them, and renews them ahead of expiry. The
// protocol itself is golang.org/x/crypto/acme.
//
// Typical usage:
//
//	m, err := acmeclient.New(acmeclient.Config{
//		DirectoryURL: acme.LetsEncryptURL,
//		Email:        "ops@example.com",
//		Hosts:        []string{"example.com", "www.example.com"},
//		CertsPath:    "/var/lib/edge/certs", // the sni store's CertsPath
//	})
//	if err != nil { ... } // a bad Config; New does no I/O
//	// Serve the challenges: plain HTTP on port 80 ...
//	routes.Handle(edge.Prefix(acmeclient.HTTPChallengePath), func(c *edge.Ctx) {
//		if ka, ok := m.HTTPChallenge(strings.TrimPrefix(c.Path(), acmeclient.HTTPChallengePath)); ok {
//			c.SendString(200, "text/plain", ka)
//		}
//	})
//	// ... and TLS on port 443: the challenge certificate first, "acme-tls/1" offered last.
//	cfg := &tlsbackend.Config{
//		NextProtos: []string{"http/1.1", acmeclient.ALPNProto},
//		GetCertificate: func(h *tlsbackend.ClientHello) (*tls.Certificate, error) {
//			if c := m.ChallengeCertificate(h); c != nil {
//				return c, nil
//			}
//			return store.GetCertificate(h)
//		},
//	}
//	go m.Run(ctx) // until ctx ends
//
// # Files
//
// Everything lives under Config.CertsPath:
//
//	.acme/account.key          the ACME account's key (ECDSA P-256, PEM, mode 0600), made on first use
//	<host>/privkey.pem         a certificate's key (ECDSA P-256, PEM, mode 0600)
//	<host>/fullchain.pem       its chain, leaf first (mode 0644)
//
// <host> is the lower-cased name, the layout the sni store reads. A new
// pair is written atomically: both files are written to temporary names in
// the host directory and synced, then the key and the chain are renamed
// into place. The store swaps a certificate in only when key and chain
// match, so it never serves a mismatched pair; it may log one warning if
// it looks between the two renames, and picks up the pair at the next
// event. The account is registered with the CA (agreeing to its terms of
// service) the first time a certificate must be ordered, and found again by
// its key after a restart.
//
// # Renewal
//
// Run reads each host's certificate from disk when it starts and at every
// check. A certificate that parses, matches its key, covers the host and
// is not due for renewal is left alone, whoever issued it: a still-valid
// certificate is never ordered again, and the CA is not contacted at all.
// A certificate is due when its remaining validity drops below
// Config.RenewBefore, or below a third of its lifetime if that comes later
// (Let's Encrypt's advice, and what keeps short-lived certificates, whose
// whole lifetime may be less than RenewBefore, from being renewed again
// and again). Checks happen at the renewal time and every CheckEvery (with
// ±10% jitter) in case the files changed behind the Manager's back.
//
// # Failures
//
// Run never gives up on a failure: it logs it, records it in Status, and
// retries that host after Config.RetryBackoff, doubling with each
// consecutive failure up to an hour (or longer when the CA asks for it
// with a rate-limit error's Retry-After). A certificate still being
// served meanwhile keeps being served. When a host's challenge fails and
// more than one challenge type is allowed, the next attempt starts with
// the next type.
package acmeclient
