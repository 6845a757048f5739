// Package sni is edge's certificate store: one certificate per host name,
// chosen by the SNI of each ClientHello, reloaded when its files change,
// with a self-signed fallback so TLS works before any certificate exists.
//
// Typical usage:
//
//	store, err := sni.New(sni.Config{
//		CertsPath:   "/etc/letsencrypt/live",
//		Hosts:       []sni.Host{{Name: "example.com"}, {Name: "*.example.com"}},
//		DefaultHost: "example.com",
//	})
//	if err != nil { ... } // a present but broken certificate pair
//	defer store.Close()
//	if err := store.Watch(ctx); err != nil { ... } // hot reload until ctx ends
//	srv, err := backend.NewServer(&tlsbackend.Config{GetCertificate: store.GetCertificate})
//	// or, with crypto/tls directly:
//	cfg := &tls.Config{GetCertificate: store.GetCertificateStd}
//
// # Where certificates come from
//
// Each Host reads a PEM private key and a PEM certificate chain (leaf
// first). Unless a Host names explicit paths, they are
// <CertsPath>/<dir>/<PrivKeyFile> and <CertsPath>/<dir>/<FullChainFile>,
// where <dir> is the lower-cased host name; for a wildcard host the "*" is
// written as "_", so "*.example.com" reads from the directory
// "_.example.com" (the convention of lego, and free of shell glob
// characters). certbot files a wildcard-only lineage under the bare domain
// (live/example.com); point such a host at it with explicit paths.
//
// Missing files are not an error: the host answers with the default
// certificate until they appear. Files that are present but do not form a
// complete, matching pair make New fail, and are skipped (with a warning,
// the previous certificate still serving) when they show up later.
// Encrypted private keys are not supported.
//
// # Selection
//
// GetCertificate looks the server name up exactly (case-insensitively,
// ignoring one trailing dot), then as a wildcard replacing exactly one
// left-most label (RFC 6125: "a.example.com" matches "*.example.com",
// "a.b.example.com" and "example.com" do not), then falls back to
// DefaultHost's certificate, then to the self-signed fallback. The lookup
// is lock-free and allocation-free: it reads an immutable snapshot through
// an atomic pointer, so handshakes never wait for a reload and never see a
// half-updated store.
//
// # Reloading
//
// Watch follows the files with Linux inotify (no polling): the host
// directories, the directories of explicit paths, the directories holding
// the targets of symlinked files (certbot's live/ -> archive/ layout), and
// CertsPath itself so that a host directory created later is picked up. A
// directory that does not exist yet is waited for from its nearest existing
// parent. Bursts of events are coalesced for a short debounce (200 ms),
// then the affected hosts are re-read; a new pair is swapped in only when
// it parses completely and its private key matches its leaf certificate,
// so a half-written or half-replaced pair is never served. A host whose
// files are present but broken is re-checked every 30 s as a safety net
// (only such hosts; changes are otherwise found through events).
package sni
