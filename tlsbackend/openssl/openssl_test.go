//go:build openssl

package openssl

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edge-rt/edge/tlsbackend"
	"github.com/edge-rt/edge/tlsbackend/tlsbackendtest"
)

func TestConformance(t *testing.T) {
	tlsbackendtest.Run(t, New())
}

func TestName(t *testing.T) {
	if got := New().Name(); got != "openssl" {
		t.Errorf("Name() = %q, want %q", got, "openssl")
	}
	if v := Version(); !strings.HasPrefix(v, "OpenSSL 3.") {
		t.Errorf("Version() = %q, want OpenSSL 3.x", v)
	}
}

func getNone(*tlsbackend.ClientHello) (*tls.Certificate, error) { return nil, nil }

func TestNewServerValidation(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		cfg     *tlsbackend.Config
		wantErr string
	}{
		{name: "NilConfig", wantErr: "nil Config"},
		{name: "NoGetCertificate", cfg: &tlsbackend.Config{}, wantErr: "GetCertificate is required"},
		{name: "Defaults", cfg: &tlsbackend.Config{GetCertificate: getNone}},
		{name: "TLS13Only", cfg: &tlsbackend.Config{GetCertificate: getNone, MinVersion: tls.VersionTLS13, CipherSuites: []uint16{}}},
		{name: "MinTLS11", cfg: &tlsbackend.Config{GetCertificate: getNone, MinVersion: tls.VersionTLS11}, wantErr: "TLS 1.1 not supported"},
		{name: "MaxBelowMin", cfg: &tlsbackend.Config{GetCertificate: getNone, MinVersion: tls.VersionTLS13, MaxVersion: tls.VersionTLS12}, wantErr: "below MinVersion"},
		{name: "CBCSuite", cfg: &tlsbackend.Config{GetCertificate: getNone, CipherSuites: []uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA}}, wantErr: "not allowed"},
		{name: "EmptySuitesTLS12", cfg: &tlsbackend.Config{GetCertificate: getNone, CipherSuites: []uint16{}}, wantErr: "CipherSuites is empty"},
		{name: "UnknownCurve", cfg: &tlsbackend.Config{GetCertificate: getNone, CurvePreferences: []tls.CurveID{9999}}, wantErr: "not supported"},
		{name: "EmptyCurves", cfg: &tlsbackend.Config{GetCertificate: getNone, CurvePreferences: []tls.CurveID{}}, wantErr: "CurvePreferences is empty"},
		{name: "BadALPN", cfg: &tlsbackend.Config{GetCertificate: getNone, NextProtos: []string{""}}, wantErr: "1 to 255 bytes"},
		{name: "NegativeRotation", cfg: &tlsbackend.Config{GetCertificate: getNone, TicketKeyRotation: -time.Second}, wantErr: "negative TicketKeyRotation"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv, err := New().NewServer(tt.cfg)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("NewServer: %v", err)
				}
				srv.Close()
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.HasPrefix(err.Error(), "openssl: ") {
				t.Errorf("NewServer: %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
}

// TestSClientALPN runs openssl s_client against a server made by the
// backend, outside the suite: h2 by server preference, and the echo of a
// line.
func TestSClientALPN(t *testing.T) {
	t.Parallel()
	openssl, err := exec.LookPath("openssl")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("openssl is not on PATH (CI is set): %v", err)
		}
		t.Skipf("openssl is not on PATH: %v", err)
	}
	ca := tlsbackendtest.NewTestCA(t)
	cert := ca.Leaf(t, "alpn.test")
	srv, err := New().NewServer(&tlsbackend.Config{
		GetCertificate: func(*tlsbackend.ClientHello) (*tls.Certificate, error) { return cert, nil },
		NextProtos:     []string{"h2", "http/1.1"},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	states := make(chan tlsbackend.State, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		tc := srv.Conn(c)
		defer tc.Close()
		tc.SetDeadline(time.Now().Add(20 * time.Second))
		if err := tc.HandshakeContext(context.Background()); err != nil {
			t.Errorf("server handshake: %v", err)
			return
		}
		states <- tc.State()
		line, err := bufio.NewReader(tc).ReadString('\n')
		if err != nil {
			t.Errorf("server read: %v", err)
			return
		}
		tc.Write([]byte("echo:" + line))
	}()
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, ca.PEM(), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(openssl, "s_client", "-connect", ln.Addr().String(), "-servername", "alpn.test",
		"-verify_hostname", "alpn.test", "-CAfile", caFile, "-verify_return_error", "-alpn", "http/1.1,h2", "-quiet")
	cmd.Stdin = strings.NewReader("hello\n")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = time.Second
	timer := time.AfterFunc(20*time.Second, func() { cmd.Process.Kill() })
	defer timer.Stop()
	if err := cmd.Run(); err != nil {
		t.Logf("openssl: %v (it exits when the server closes)", err)
	}
	if !strings.Contains(stdout.String(), "echo:hello") {
		t.Errorf("s_client got %q, want the echo\nstderr: %s", stdout.String(), stderr.String())
	}
	select {
	case st := <-states:
		if st.NegotiatedProtocol != "h2" || st.Version != tls.VersionTLS13 || st.ServerName != "alpn.test" {
			t.Errorf("State() = %+v, want TLS 1.3, h2, alpn.test", st)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("no server state")
	}
}
