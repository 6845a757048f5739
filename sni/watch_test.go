//go:build linux

package sni

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// checkServing fails the test if name is ever answered by anything but one
// of the allowed certificates, or by a certificate whose key does not match.
// It polls until the test ends.
func checkServing(t *testing.T, s *Store, name string, allowed ...*tls.Certificate) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for ctx.Err() == nil {
			c, err := s.GetCertificate(nil)
			c2 := served(s, name)
			if err != nil || c == nil || c2 == nil || !keyMatches(c2) {
				t.Errorf("served %v (%v), key matches %v", c2, err, c2 != nil && keyMatches(c2))
				return
			}
			ok := false
			for _, a := range allowed {
				ok = ok || same(c2, a)
			}
			if !ok {
				t.Errorf("%s served an unexpected certificate %v serial %v", name, c2.Leaf.DNSNames, c2.Leaf.SerialNumber)
				return
			}
		}
	}()
	t.Cleanup(func() { cancel(); wg.Wait() })
}

func TestReload(t *testing.T) {
	t.Parallel()
	old := newPair(t, "example.com")
	next := newPair(t, "example.com")

	tests := []struct {
		name   string
		change func(t *testing.T, dir string)
	}{
		{"rename into place", func(t *testing.T, dir string) { next.write(t, dir) }},
		{"rename, certificate first", func(t *testing.T, dir string) {
			writeAtomic(t, filepath.Join(dir, "fullchain.pem"), next.certPEM)
			time.Sleep(100 * time.Millisecond)
			writeAtomic(t, filepath.Join(dir, "privkey.pem"), next.keyPEM)
		}},
		{"in place, pause between key and certificate", func(t *testing.T, dir string) {
			writeInPlace(t, filepath.Join(dir, "privkey.pem"), next.keyPEM)
			time.Sleep(300 * time.Millisecond) // several debounces: the mismatched pair is seen
			writeInPlace(t, filepath.Join(dir, "fullchain.pem"), next.certPEM)
		}},
		{"slow writers", func(t *testing.T, dir string) {
			for _, f := range []struct {
				path string
				data []byte
			}{{filepath.Join(dir, "privkey.pem"), next.keyPEM}, {filepath.Join(dir, "fullchain.pem"), next.certPEM}} {
				fh, err := os.OpenFile(f.path, os.O_WRONLY|os.O_TRUNC, 0)
				if err != nil {
					t.Fatal(err)
				}
				fh.Write(f.data[:len(f.data)/2])
				time.Sleep(100 * time.Millisecond)
				fh.Write(f.data[len(f.data)/2:])
				fh.Close()
				time.Sleep(100 * time.Millisecond)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			certs := t.TempDir()
			dir := filepath.Join(certs, "example.com")
			old.write(t, dir)
			s, _ := newStore(t, Config{CertsPath: certs, Hosts: []Host{{Name: "example.com"}}})
			watch(t, s)
			checkServing(t, s, "example.com", old.cert, next.cert)
			tt.change(t, dir)
			waitFor(t, 10*time.Second, "the new certificate", servesPair(s, "example.com", next))
			if n := s.Reloads(); n != 1 {
				t.Errorf("Reloads() = %d, want 1", n)
			}
		})
	}
}

// TestReloadDefaultDebounce checks the 2 s promise with the real debounce.
func TestReloadDefaultDebounce(t *testing.T) {
	t.Parallel()
	certs := t.TempDir()
	old, next := newPair(t, "example.com"), newPair(t, "example.com")
	old.write(t, filepath.Join(certs, "example.com"))
	s, _ := newStore(t, Config{CertsPath: certs, Hosts: []Host{{Name: "example.com"}}, DefaultHost: "example.com"})
	s.debounce = 200 * time.Millisecond
	watch(t, s)
	start := time.Now()
	next.write(t, filepath.Join(certs, "example.com"))
	waitFor(t, 10*time.Second, "the new certificate", servesPair(s, "example.com", next))
	if c, _ := s.GetCertificate(nil); !same(c, next.cert) {
		t.Error("the default host's new certificate is not the default")
	}
	t.Logf("reloaded after %v", time.Since(start))
}

func TestBrokenFileKeepsOld(t *testing.T) {
	t.Parallel()
	certs := t.TempDir()
	dir := filepath.Join(certs, "example.com")
	old, next := newPair(t, "example.com"), newPair(t, "example.com")
	old.write(t, dir)
	s, logs := newStore(t, Config{CertsPath: certs, Hosts: []Host{{Name: "example.com"}}})
	watch(t, s)
	checkServing(t, s, "example.com", old.cert, next.cert)

	writeInPlace(t, filepath.Join(dir, "fullchain.pem"), []byte("-----BEGIN CERTIFICATE-----\nMIIB"))
	waitFor(t, 10*time.Second, "a warning", func() bool { return logs.contains("keeping the current one") })
	if !logs.contains("fullchain.pem") || !logs.contains("truncated") {
		t.Errorf("the warning does not say which file and why:\n%s", logs)
	}
	if !same(served(s, "example.com"), old.cert) || s.Reloads() != 0 {
		t.Fatal("a broken file replaced the certificate")
	}
	next.write(t, dir)
	waitFor(t, 10*time.Second, "the repaired certificate", servesPair(s, "example.com", next))
}

func TestDeletedFilesKeepLastGood(t *testing.T) {
	t.Parallel()
	certs := t.TempDir()
	dir := filepath.Join(certs, "example.com")
	old, next := newPair(t, "example.com"), newPair(t, "example.com")
	old.write(t, dir)
	s, logs := newStore(t, Config{CertsPath: certs, Hosts: []Host{{Name: "example.com"}}})
	watch(t, s)
	checkServing(t, s, "example.com", old.cert, next.cert)

	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "a warning", func() bool { return logs.contains("keeping the last good certificate") })
	if !same(served(s, "example.com"), old.cert) {
		t.Fatal("deleting the files dropped the certificate")
	}
	next.write(t, dir) // the directory comes back
	waitFor(t, 10*time.Second, "the new certificate", servesPair(s, "example.com", next))
}

func TestLateDirectory(t *testing.T) {
	t.Parallel()
	p := newPair(t, "late.example.com")
	tests := []struct {
		name   string
		certs  string // CertsPath inside the test's temporary directory
		create func(t *testing.T, certs string)
	}{
		{"mkdir then files", "certs", func(t *testing.T, certs string) {
			os.Mkdir(filepath.Join(certs, "late.example.com"), 0o755)
			time.Sleep(50 * time.Millisecond)
			p.write(t, filepath.Join(certs, "late.example.com"))
		}},
		{"directory renamed into place", "certs", func(t *testing.T, certs string) {
			staging := filepath.Join(certs, ".staging")
			p.write(t, staging)
			if err := os.Rename(staging, filepath.Join(certs, "late.example.com")); err != nil {
				t.Fatal(err)
			}
		}},
		{"certs path created too", "a/b/certs", func(t *testing.T, certs string) {
			p.write(t, filepath.Join(certs, "late.example.com")) // MkdirAll a/b/certs/late.example.com
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			root := t.TempDir()
			os.Mkdir(filepath.Join(root, "certs"), 0o755)
			certs := filepath.Join(root, tt.certs)
			s, _ := newStore(t, Config{CertsPath: certs, Hosts: []Host{{Name: "late.example.com"}}})
			watch(t, s)
			if served(s, "late.example.com") != s.Fallback() {
				t.Fatal("not the fallback before the files exist")
			}
			tt.create(t, certs)
			waitFor(t, 5*time.Second, "the late certificate", servesPair(s, "late.example.com", p))
			if n := s.Names(); len(n) != 1 || n[0] != "late.example.com" {
				t.Errorf("Names() = %q", n)
			}
		})
	}
}

// TestSymlinks follows certbot's layout: live/<host>/*.pem are symlinks
// into archive/<host>/, and a renewal writes new archive files and then
// swaps the symlinks.
func TestSymlinks(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	live := filepath.Join(root, "live")
	archive := filepath.Join(root, "archive", "example.com")
	p1, p2, p3 := newPair(t, "example.com"), newPair(t, "example.com"), newPair(t, "example.com")
	link := func(t *testing.T, n string) {
		t.Helper()
		for _, f := range []string{"privkey", "fullchain"} {
			tmp := filepath.Join(live, "example.com", f+".tmp")
			os.Remove(tmp)
			if err := os.Symlink(filepath.Join("..", "..", "archive", "example.com", f+n+".pem"), tmp); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(tmp, filepath.Join(live, "example.com", f+".pem")); err != nil {
				t.Fatal(err)
			}
		}
	}
	writeAtomic(t, filepath.Join(archive, "privkey1.pem"), p1.keyPEM)
	writeAtomic(t, filepath.Join(archive, "fullchain1.pem"), p1.certPEM)
	os.MkdirAll(filepath.Join(live, "example.com"), 0o755)
	link(t, "1")

	s, _ := newStore(t, Config{CertsPath: live, Hosts: []Host{{Name: "example.com"}}})
	if !same(served(s, "example.com"), p1.cert) {
		t.Fatal("symlinked pair not loaded")
	}
	watch(t, s)
	checkServing(t, s, "example.com", p1.cert, p2.cert, p3.cert)

	// A renewal.
	writeAtomic(t, filepath.Join(archive, "privkey2.pem"), p2.keyPEM)
	writeAtomic(t, filepath.Join(archive, "fullchain2.pem"), p2.certPEM)
	link(t, "2")
	waitFor(t, 10*time.Second, "the renewed certificate", servesPair(s, "example.com", p2))

	// The symlink targets rewritten in place: seen through the watch on
	// the targets' directory.
	writeInPlace(t, filepath.Join(archive, "privkey2.pem"), p3.keyPEM)
	writeInPlace(t, filepath.Join(archive, "fullchain2.pem"), p3.certPEM)
	waitFor(t, 10*time.Second, "the rewritten certificate", servesPair(s, "example.com", p3))
}

// TestSymlinkedHostDir swaps a symlinked host directory, the way
// Kubernetes updates a mounted secret.
func TestSymlinkedHostDir(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	certs := filepath.Join(root, "certs")
	p1, p2, p3 := newPair(t, "example.com"), newPair(t, "example.com"), newPair(t, "example.com")
	p1.write(t, filepath.Join(root, "v1"))
	p2.write(t, filepath.Join(root, "v2"))
	os.Mkdir(certs, 0o755)
	if err := os.Symlink(filepath.Join(root, "v1"), filepath.Join(certs, "example.com")); err != nil {
		t.Fatal(err)
	}
	s, _ := newStore(t, Config{CertsPath: certs, Hosts: []Host{{Name: "example.com"}}})
	watch(t, s)
	checkServing(t, s, "example.com", p1.cert, p2.cert, p3.cert)
	tmp := filepath.Join(certs, "tmp")
	if err := os.Symlink(filepath.Join(root, "v2"), tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(certs, "example.com")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the swapped certificate", servesPair(s, "example.com", p2))
	// The new target is watched.
	p3.write(t, filepath.Join(root, "v2"))
	waitFor(t, 10*time.Second, "the rewritten certificate", servesPair(s, "example.com", p3))
}

func TestExplicitPaths(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	key := filepath.Join(root, "keys", "site.key")
	cert := filepath.Join(root, "chains", "site.crt")
	p1, p2 := newPair(t, "*.example.com"), newPair(t, "*.example.com")
	s, _ := newStore(t, Config{Hosts: []Host{{Name: "*.example.com", KeyFile: key, CertFile: cert}}})
	watch(t, s)
	writeAtomic(t, key, p1.keyPEM)
	writeAtomic(t, cert, p1.certPEM)
	waitFor(t, 5*time.Second, "the late certificate", servesPair(s, "www.example.com", p1))
	checkServing(t, s, "www.example.com", p1.cert, p2.cert)
	writeAtomic(t, key, p2.keyPEM)
	writeAtomic(t, cert, p2.certPEM)
	waitFor(t, 10*time.Second, "the new certificate", servesPair(s, "www.example.com", p2))
}

// TestRetryFailed changes a broken file without any event the watcher
// sees (through a hard link in an unwatched directory): the periodic
// re-check of failed hosts picks the repair up.
func TestRetryFailed(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	dir := filepath.Join(root, "certs", "example.com")
	old, next := newPair(t, "example.com"), newPair(t, "example.com")
	old.write(t, dir)
	s, logs := newStore(t, Config{CertsPath: filepath.Join(root, "certs"), Hosts: []Host{{Name: "example.com"}}})
	s.retryEvery = 100 * time.Millisecond
	watch(t, s)
	hidden := filepath.Join(root, "hidden")
	os.Mkdir(hidden, 0o755)
	for _, f := range []string{"privkey.pem", "fullchain.pem"} {
		if err := os.Link(filepath.Join(dir, f), filepath.Join(hidden, f)); err != nil {
			t.Fatal(err)
		}
	}
	writeInPlace(t, filepath.Join(dir, "privkey.pem"), next.keyPEM) // mismatched: failed
	waitFor(t, 10*time.Second, "a warning", func() bool { return logs.contains("does not match") })
	writeInPlace(t, filepath.Join(hidden, "fullchain.pem"), next.certPEM)
	waitFor(t, 10*time.Second, "the repaired certificate", servesPair(s, "example.com", next))
}

// TestSwapUnderLoad swaps the pair 100 times while 8 goroutines look it
// up: never nil, never an error, always one of the valid pairs.
func TestSwapUnderLoad(t *testing.T) {
	t.Parallel()
	const swaps = 100
	pairs := make([]testPair, swaps+1)
	valid := make(map[string]bool)
	for i := range pairs {
		pairs[i] = newPair(t, "example.com")
		valid[string(pairs[i].cert.Certificate[0])] = true
	}
	certs := t.TempDir()
	dir := filepath.Join(certs, "example.com")
	pairs[0].write(t, dir)
	s, _ := newStore(t, Config{CertsPath: certs, Hosts: []Host{{Name: "example.com"}}})
	s.debounce = 2 * time.Millisecond
	watch(t, s)

	var stop atomic.Bool
	var wg sync.WaitGroup
	var lookups atomic.Int64
	for range 8 {
		wg.Go(func() {
			for !stop.Load() {
				c, err := s.GetCertificate(nil)
				c2, err2 := s.GetCertificateStd(&tls.ClientHelloInfo{ServerName: "example.com"})
				if err != nil || err2 != nil || c == nil || c2 == nil {
					t.Errorf("GetCertificate: %v %v %v %v", c, err, c2, err2)
					return
				}
				if !valid[string(c2.Certificate[0])] || !keyMatches(c2) {
					t.Error("served a certificate that is not one of the valid pairs")
					return
				}
				lookups.Add(1)
				runtime.Gosched() // on few CPUs, let the watcher and the writer run
			}
		})
	}
	for i := 1; i <= swaps; i++ {
		pairs[i].write(t, dir)
		waitFor(t, 10*time.Second, "swap", servesPair(s, "example.com", pairs[i]))
	}
	stop.Store(true)
	wg.Wait()
	if n := s.Reloads(); n < swaps {
		t.Errorf("Reloads() = %d, want at least %d", n, swaps)
	}
	t.Logf("%d lookups during %d swaps", lookups.Load(), swaps)
}

// TestHandshakes runs real crypto/tls handshakes against the store,
// including while the pair is swapped 100 times: none may fail.
func TestHandshakes(t *testing.T) {
	t.Parallel()
	const swaps = 100
	certs := t.TempDir()
	pairs := make([]testPair, swaps+1)
	roots := x509.NewCertPool()
	for i := range pairs {
		pairs[i] = newPair(t, "example.com")
		roots.AddCert(pairs[i].cert.Leaf)
	}
	wild := newPair(t, "*.example.com")
	roots.AddCert(wild.cert.Leaf)
	pairs[0].write(t, filepath.Join(certs, "example.com"))
	wild.write(t, filepath.Join(certs, "_.example.com"))
	s, _ := newStore(t, Config{CertsPath: certs, Hosts: []Host{{Name: "example.com"}, {Name: "*.example.com"}}})
	s.debounce = 2 * time.Millisecond
	watch(t, s)

	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{GetCertificate: s.GetCertificateStd})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				c.SetDeadline(time.Now().Add(15 * time.Second))
				c.(*tls.Conn).Handshake()
				c.Write([]byte{1}) // lets the client finish reading the TLS 1.3 tickets
				c.Close()
			}()
		}
	}()
	handshake := func(name string, verify bool) (*x509.Certificate, error) {
		d := &tls.Dialer{
			NetDialer: &net.Dialer{Timeout: 15 * time.Second},
			Config:    &tls.Config{ServerName: name, RootCAs: roots, InsecureSkipVerify: !verify},
		}
		c, err := d.Dial("tcp", ln.Addr().String())
		if err != nil {
			return nil, err
		}
		defer c.Close()
		return c.(*tls.Conn).ConnectionState().PeerCertificates[0], nil
	}

	t.Run("selection", func(t *testing.T) {
		for _, tt := range []struct {
			name   string
			verify bool
			want   *tls.Certificate
		}{
			{"example.com", true, pairs[0].cert},
			{"www.example.com", true, wild.cert},
			{"unknown.test", false, s.Fallback()},
			{"", false, s.Fallback()},
		} {
			leaf, err := handshake(tt.name, tt.verify)
			if err != nil {
				t.Errorf("%q: %v", tt.name, err)
				continue
			}
			if !same(&tls.Certificate{Certificate: [][]byte{leaf.Raw}}, tt.want) {
				t.Errorf("%q: served %v", tt.name, leaf.DNSNames)
			}
		}
	})

	t.Run("during swaps", func(t *testing.T) {
		var stop atomic.Bool
		var wg sync.WaitGroup
		var ok, failed atomic.Int64
		for range 4 {
			wg.Go(func() {
				for !stop.Load() {
					// Verification against the roots checks both that
					// the certificate is one of the pairs and that it
					// names example.com.
					if _, err := handshake("example.com", true); err != nil {
						failed.Add(1)
						t.Errorf("handshake: %v", err)
						return
					}
					ok.Add(1)
				}
			})
		}
		for i := 1; i <= swaps; i++ {
			pairs[i].write(t, filepath.Join(certs, "example.com"))
			waitFor(t, 10*time.Second, "swap", servesPair(s, "example.com", pairs[i]))
		}
		stop.Store(true)
		wg.Wait()
		if failed.Load() != 0 || ok.Load() == 0 {
			t.Errorf("%d handshakes failed, %d succeeded", failed.Load(), ok.Load())
		}
		leaf, err := handshake("example.com", true)
		if err != nil || !same(&tls.Certificate{Certificate: [][]byte{leaf.Raw}}, pairs[swaps].cert) {
			t.Errorf("after the swaps: %v", err)
		}
		t.Logf("%d handshakes during %d swaps", ok.Load(), swaps)
	})
}

func TestWatchLifecycle(t *testing.T) {
	t.Parallel()
	certs := t.TempDir()
	newPair(t, "example.com").write(t, filepath.Join(certs, "example.com"))
	s, _ := newStore(t, Config{CertsPath: certs, Hosts: []Host{{Name: "example.com"}}})
	ctx, cancel := context.WithCancel(t.Context())
	if err := s.Watch(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Watch(ctx); err == nil {
		t.Error("a second Watch succeeded")
	}
	cancel()
	done := make(chan struct{})
	go func() { s.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close hangs")
	}
	if err := s.Close(); err != nil {
		t.Error(err)
	}
	if err := s.Watch(t.Context()); !errors.Is(err, ErrClosed) {
		t.Errorf("Watch after Close: %v", err)
	}
	if served(s, "example.com") == s.Fallback() {
		t.Error("a closed store stopped serving its certificates")
	}

	// A store with nothing to watch still watches (CertsPath empty).
	empty, _ := newStore(t, Config{})
	if err := empty.Watch(t.Context()); err != nil {
		t.Error(err)
	}
}
