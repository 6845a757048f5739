package sni

import (
	"crypto/tls"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/edge-rt/edge/tlsbackend"
)

func TestSelection(t *testing.T) {
	t.Parallel()
	certs := t.TempDir()
	exact := newPair(t, "example.com")
	wild := newPair(t, "*.example.com")
	other := newPair(t, "other.org")
	exact.write(t, filepath.Join(certs, "example.com"))
	wild.write(t, filepath.Join(certs, "_.example.com"))
	other.write(t, filepath.Join(certs, "other.org"))
	hosts := []Host{{Name: "Example.COM"}, {Name: "*.example.com"}, {Name: "other.org"}, {Name: "missing.net"}}

	withDefault, _ := newStore(t, Config{CertsPath: certs, Hosts: hosts, DefaultHost: "other.org"})
	noDefault, _ := newStore(t, Config{CertsPath: certs, Hosts: hosts})
	fallback := noDefault.Fallback()

	tests := []struct {
		sni         string
		want        *tls.Certificate // from noDefault; nil means the fallback
		wantDefault *tls.Certificate // from withDefault; nil means other.org
	}{
		{"example.com", exact.cert, exact.cert},
		{"EXAMPLE.Com", exact.cert, exact.cert},
		{"example.com.", exact.cert, exact.cert},
		{"a.example.com", wild.cert, wild.cert},
		{"A.Example.COM", wild.cert, wild.cert},
		{"*.example.com", wild.cert, wild.cert},
		{"a.b.example.com", nil, nil},
		{".example.com", nil, nil},
		{"example.com.evil", nil, nil},
		{"xexample.com", nil, nil},
		{"other.org", other.cert, other.cert},
		{"a.other.org", nil, nil},
		{"missing.net", nil, nil},
		{"unknown.net", nil, nil},
		{"", nil, nil},
		{".", nil, nil},
		{strings.Repeat("a", 300) + ".example.com", nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.sni, func(t *testing.T) {
			t.Parallel()
			want := tt.want
			if want == nil {
				want = fallback
			}
			if got := served(noDefault, tt.sni); !same(got, want) {
				t.Errorf("no default host: %q served %v, want %v", tt.sni, got.Leaf.DNSNames, want.Leaf.DNSNames)
			}
			want = tt.wantDefault
			if want == nil {
				want = other.cert
			}
			got, err := withDefault.GetCertificateStd(&tls.ClientHelloInfo{ServerName: tt.sni})
			if err != nil || !same(got, want) {
				t.Errorf("default host: %q served %v (%v), want %v", tt.sni, got.Leaf.DNSNames, err, want.Leaf.DNSNames)
			}
		})
	}

	t.Run("nil hello", func(t *testing.T) {
		t.Parallel()
		if c, err := noDefault.GetCertificate(nil); err != nil || c != fallback {
			t.Errorf("GetCertificate(nil) = %v, %v", c, err)
		}
		if c, err := withDefault.GetCertificateStd(nil); err != nil || !same(c, other.cert) {
			t.Errorf("GetCertificateStd(nil) = %v, %v", c, err)
		}
	})
	t.Run("fallback SANs", func(t *testing.T) {
		t.Parallel()
		leaf := fallback.Leaf
		if !slices.Equal(leaf.DNSNames, []string{"localhost"}) || len(leaf.IPAddresses) != 2 {
			t.Errorf("fallback names %v %v", leaf.DNSNames, leaf.IPAddresses)
		}
	})
	t.Run("names", func(t *testing.T) {
		t.Parallel()
		want := []string{"*.example.com", "example.com", "other.org"}
		if got := noDefault.Names(); !slices.Equal(got, want) {
			t.Errorf("Names() = %q, want %q", got, want)
		}
	})
}

func TestGetCertificateAllocs(t *testing.T) {
	certs := t.TempDir()
	newPair(t, "example.com").write(t, filepath.Join(certs, "example.com"))
	newPair(t, "*.example.com").write(t, filepath.Join(certs, "_.example.com"))
	s, _ := newStore(t, Config{CertsPath: certs, Hosts: []Host{{Name: "example.com"}, {Name: "*.example.com"}}})
	for _, name := range []string{"example.com", "a.example.com", "A.EXAMPLE.COM", "unknown.org", ""} {
		hello := &tlsbackend.ClientHello{ServerName: name}
		std := &tls.ClientHelloInfo{ServerName: name}
		n := testing.AllocsPerRun(100, func() {
			s.GetCertificate(hello)
			s.GetCertificateStd(std)
		})
		if n != 0 {
			t.Errorf("%q: %v allocations per lookup", name, n)
		}
	}
}

func BenchmarkGetCertificate(b *testing.B) {
	certs := b.TempDir()
	newPair(b, "example.com").write(b, filepath.Join(certs, "example.com"))
	newPair(b, "*.example.com").write(b, filepath.Join(certs, "_.example.com"))
	s, _ := newStore(b, Config{CertsPath: certs, Hosts: []Host{{Name: "example.com"}, {Name: "*.example.com"}}})
	for _, name := range []string{"example.com", "www.example.com", "unknown.org"} {
		b.Run(name, func(b *testing.B) {
			hello := &tlsbackend.ClientHello{ServerName: name}
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					s.GetCertificate(hello)
				}
			})
		})
	}
}

func TestNew(t *testing.T) {
	t.Parallel()
	a := newPair(t, "a.test")
	b := newPair(t, "b.test")

	t.Run("missing files are not an error", func(t *testing.T) {
		t.Parallel()
		s, logs := newStore(t, Config{CertsPath: t.TempDir(), Hosts: []Host{{Name: "a.test"}}, DefaultHost: "a.test"})
		if served(s, "a.test") != s.Fallback() || len(s.Names()) != 0 {
			t.Error("a host without files is not answered by the fallback")
		}
		if !logs.contains("certificate files missing") {
			t.Errorf("no warning logged:\n%s", logs)
		}
	})
	t.Run("custom file names and explicit paths", func(t *testing.T) {
		t.Parallel()
		certs := t.TempDir()
		writeAtomic(t, filepath.Join(certs, "a.test", "key.pem"), a.keyPEM)
		writeAtomic(t, filepath.Join(certs, "a.test", "chain.pem"), a.certPEM)
		elsewhere := t.TempDir()
		writeAtomic(t, filepath.Join(elsewhere, "k"), b.keyPEM)
		writeAtomic(t, filepath.Join(elsewhere, "sub", "c"), b.certPEM)
		s, _ := newStore(t, Config{
			CertsPath: certs, PrivKeyFile: "key.pem", FullChainFile: "chain.pem",
			Hosts: []Host{
				{Name: "a.test"},
				{Name: "b.test"},
				{Name: "B.test.", KeyFile: filepath.Join(elsewhere, "k"), CertFile: filepath.Join(elsewhere, "sub", "c")},
			},
		})
		if !same(served(s, "a.test"), a.cert) || !same(served(s, "b.test"), b.cert) {
			t.Error("wrong certificates served")
		}
	})
	t.Run("fallback names", func(t *testing.T) {
		t.Parallel()
		s, _ := newStore(t, Config{FallbackNames: []string{"edge.internal"}})
		if got := s.Fallback().Leaf.DNSNames; !slices.Equal(got, []string{"edge.internal"}) {
			t.Errorf("fallback names %q", got)
		}
		if served(s, "anything") != s.Fallback() {
			t.Error("fallback not served")
		}
	})

	broken := []struct {
		name    string
		write   func(t *testing.T, dir string)
		hosts   []Host
		wantErr error  // errors.Is target, or nil
		inErr   string // substring of the message
	}{
		{
			name: "mismatched pair",
			write: func(t *testing.T, dir string) {
				writeAtomic(t, filepath.Join(dir, "a.test", "privkey.pem"), b.keyPEM)
				writeAtomic(t, filepath.Join(dir, "a.test", "fullchain.pem"), a.certPEM)
			},
			hosts:   []Host{{Name: "a.test"}},
			wantErr: ErrKeyMismatch,
			inErr:   filepath.Join("a.test", "fullchain.pem"),
		},
		{
			name: "garbage key",
			write: func(t *testing.T, dir string) {
				writeAtomic(t, filepath.Join(dir, "a.test", "privkey.pem"), []byte("junk"))
				writeAtomic(t, filepath.Join(dir, "a.test", "fullchain.pem"), a.certPEM)
			},
			hosts:   []Host{{Name: "a.test"}},
			wantErr: ErrNoKey,
			inErr:   filepath.Join("a.test", "privkey.pem"),
		},
		{
			name: "key path is a directory",
			write: func(t *testing.T, dir string) {
				os.MkdirAll(filepath.Join(dir, "a.test", "privkey.pem"), 0o755)
				writeAtomic(t, filepath.Join(dir, "a.test", "fullchain.pem"), a.certPEM)
			},
			hosts: []Host{{Name: "a.test"}},
			inErr: filepath.Join("a.test", "privkey.pem"),
		},
		{name: "empty name", hosts: []Host{{Name: ""}}, inErr: "invalid host name"},
		{name: "star inside", hosts: []Host{{Name: "a.*.test"}}, inErr: "invalid host name"},
		{name: "bare star", hosts: []Host{{Name: "*"}}, inErr: "invalid host name"},
		{name: "double wildcard", hosts: []Host{{Name: "*.*.test"}}, inErr: "invalid host name"},
		{name: "empty label", hosts: []Host{{Name: "a..test"}}, inErr: "invalid host name"},
		{name: "slash", hosts: []Host{{Name: "../etc"}}, inErr: "invalid host name"},
		{name: "conflicting paths", hosts: []Host{{Name: "a.test", KeyFile: "/x"}, {Name: "A.test", KeyFile: "/y"}}, inErr: "two different paths"},
	}
	for _, tt := range broken {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			if tt.write != nil {
				tt.write(t, dir)
			}
			log, _ := newLogger()
			s, err := New(Config{CertsPath: dir, Hosts: tt.hosts, Logger: log})
			if err == nil {
				s.Close()
				t.Fatal("New succeeded")
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("error %q, want %q", err, tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.inErr) || !strings.HasPrefix(err.Error(), "sni: ") {
				t.Errorf("error %q does not contain %q", err, tt.inErr)
			}
		})
	}
}
