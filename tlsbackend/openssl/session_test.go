//go:build openssl

package openssl

import (
	"bytes"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/edge-rt/edge/tlsbackend"
	"github.com/edge-rt/edge/tlsbackend/tlsbackendtest"
)

// sessionResult is what the server side of one session saw.
type sessionResult struct {
	state     tlsbackend.State
	wantReads int // ErrWantRead from Read after the handshake
	buffered  bool
	err       error
}

// serveSession drives ss over c the way an event loop would: read up to 7
// bytes of ciphertext at a time, hand them in, run the session, send its
// output. After the handshake it echoes until the client's close_notify,
// then answers with its own.
func serveSession(ss tlsbackend.Session, c net.Conn) (r sessionResult) {
	defer ss.Close()
	raw := make([]byte, 7)
	var out []byte
	flush := func() error {
		out = ss.AppendOutput(out[:0])
		if len(out) == 0 {
			return nil
		}
		_, err := c.Write(out)
		return err
	}
	input := func() error {
		n, err := c.Read(raw)
		if n > 0 {
			ss.Input(raw[:n])
			if ss.Buffered() > 0 {
				r.buffered = true
			}
		}
		if n == 0 && err != nil {
			return err
		}
		return nil
	}
	for {
		err := ss.Handshake()
		if ferr := flush(); ferr != nil {
			r.err = ferr
			return r
		}
		if err == nil {
			break
		}
		if !errors.Is(err, tlsbackend.ErrWantRead) {
			r.err = err
			return r
		}
		if err := input(); err != nil {
			r.err = fmt.Errorf("during the handshake: %w", err)
			return r
		}
	}
	r.state = ss.State()
	plain := make([]byte, 4096)
	for {
		n, err := ss.Read(plain)
		if n > 0 {
			if _, err := ss.Write(plain[:n]); err != nil {
				r.err = err
				return r
			}
		}
		if ferr := flush(); ferr != nil {
			r.err = ferr
			return r
		}
		switch {
		case err == nil:
		case errors.Is(err, tlsbackend.ErrWantRead):
			r.wantReads++
			if err := input(); err != nil {
				r.err = err
				return r
			}
		case errors.Is(err, io.EOF):
			if err := ss.CloseNotify(); err != nil {
				r.err = err
				return r
			}
			r.err = flush()
			return r
		default:
			r.err = err
			return r
		}
	}
}

func TestSession(t *testing.T) {
	t.Parallel()
	ca := tlsbackendtest.NewTestCA(t)
	cert := ca.Leaf(t, "s.test")
	hellos := make(chan tlsbackend.ClientHello, 8)
	srv, err := New().NewServer(&tlsbackend.Config{
		NextProtos: []string{"h2", "http/1.1"},
		GetCertificate: func(h *tlsbackend.ClientHello) (*tls.Certificate, error) {
			hellos <- *h
			if h.ServerName == "fail.test" {
				return nil, errors.New("no such name")
			}
			return cert, nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	ssrv, ok := srv.(tlsbackend.SessionServer)
	if !ok {
		t.Fatal("the OpenSSL Server does not implement tlsbackend.SessionServer")
	}
	data := make([]byte, 200<<10)
	rand.Read(data)
	tests := []struct {
		name    string
		version uint16
		sni     string
		fail    bool
	}{
		{name: "TLS13", version: tls.VersionTLS13, sni: "s.test"},
		{name: "TLS12", version: tls.VersionTLS12, sni: "S.Test"},
		{name: "GetCertificateError", version: tls.VersionTLS13, sni: "fail.test", fail: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			results := make(chan sessionResult, 1)
			go func() {
				c, err := ln.Accept()
				if err != nil {
					results <- sessionResult{err: err}
					return
				}
				defer c.Close()
				c.SetDeadline(time.Now().Add(30 * time.Second))
				results <- serveSession(ssrv.NewSession(c.LocalAddr(), c.RemoteAddr()), c)
			}()
			raw, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer raw.Close()
			raw.SetDeadline(time.Now().Add(30 * time.Second))
			cc := tls.Client(raw, &tls.Config{RootCAs: ca.Pool(), ServerName: tt.sni, MaxVersion: tt.version, NextProtos: []string{"http/1.1", "h2"}})
			herr := cc.Handshake()
			hello := <-hellos
			if hello.Conn == nil || hello.Conn.RemoteAddr().String() != raw.LocalAddr().String() {
				t.Errorf("ClientHello.Conn = %v, want the client's address %s", hello.Conn, raw.LocalAddr())
			}
			if tt.fail {
				if herr == nil {
					t.Fatal("client handshake succeeded although GetCertificate failed")
				}
				if r := <-results; r.err == nil || !strings.Contains(r.err.Error(), "no such name") {
					t.Errorf("session: %v, want the GetCertificate error", r.err)
				}
				return
			}
			if herr != nil {
				t.Fatalf("client handshake: %v", herr)
			}
			werr := make(chan error, 1)
			go func() {
				for p := data; len(p) > 0; {
					n := min(len(p), 10000)
					if _, err := cc.Write(p[:n]); err != nil {
						werr <- err
						return
					}
					p = p[n:]
				}
				werr <- cc.CloseWrite()
			}()
			got, err := io.ReadAll(cc) // EOF: the session's close_notify
			if err != nil {
				t.Errorf("client read: %v", err)
			}
			if err := <-werr; err != nil {
				t.Errorf("client write: %v", err)
			}
			if !bytes.Equal(got, data) {
				t.Errorf("echo: %d bytes back, want the %d sent", len(got), len(data))
			}
			r := <-results
			if r.err != nil {
				t.Fatalf("session: %v", r.err)
			}
			want := tlsbackend.State{Version: tt.version, ServerName: "s.test", NegotiatedProtocol: "h2",
				CipherSuite: cc.ConnectionState().CipherSuite, CurveID: cc.ConnectionState().CurveID}
			if r.state != want {
				t.Errorf("State() = %+v, want %+v", r.state, want)
			}
			if r.wantReads == 0 || !r.buffered {
				t.Errorf("Read returned ErrWantRead %d times, Buffered() > 0 seen: %v; want both", r.wantReads, r.buffered)
			}
		})
	}
}

// TestSessionClosed checks that a closed session fails instead of
// crashing, and that Close is idempotent.
func TestSessionClosed(t *testing.T) {
	t.Parallel()
	srv, err := New().NewServer(&tlsbackend.Config{GetCertificate: getNone})
	if err != nil {
		t.Fatal(err)
	}
	ss := srv.(tlsbackend.SessionServer).NewSession(nil, nil)
	ss.Close()
	ss.Close()
	ss.Input([]byte{22, 3, 1})
	if err := ss.Handshake(); err == nil || errors.Is(err, tlsbackend.ErrWantRead) {
		t.Errorf("Handshake after Close: %v", err)
	}
	if _, err := ss.Read(make([]byte, 8)); err == nil {
		t.Error("Read after Close succeeded")
	}
	if out := ss.AppendOutput(nil); len(out) != 0 || ss.Buffered() != 0 {
		t.Errorf("after Close: output %d bytes, Buffered %d", len(out), ss.Buffered())
	}
}
