//go:build openssl

package openssl

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edge-rt/edge/tlsbackend"
	"github.com/edge-rt/edge/tlsbackend/tlsbackendtest"
)

// frozenCache is a client session cache that keeps the first ticket it
// gets, so that one ticket can be tried again and again.
type frozenCache struct {
	mu sync.Mutex
	cs *tls.ClientSessionState
}

func (c *frozenCache) Get(string) (*tls.ClientSessionState, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cs, c.cs != nil
}

func (c *frozenCache) Put(_ string, cs *tls.ClientSessionState) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cs == nil && cs != nil {
		c.cs = cs
	}
}

// resumes makes one loopback connection with cache and reports whether
// it resumed (the server's and the client's views must agree).
func resumes(t *testing.T, srv tlsbackend.Server, ca *tlsbackendtest.CA, version uint16, cache tls.ClientSessionCache) bool {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	type result struct {
		st  tlsbackend.State
		err error
	}
	done := make(chan result, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			done <- result{err: err}
			return
		}
		c.SetDeadline(time.Now().Add(20 * time.Second))
		tc := srv.Conn(c)
		defer tc.Close()
		err = tc.HandshakeContext(context.Background())
		if err == nil {
			_, err = io.Copy(tc, tc) // echo until the client's close_notify
		}
		done <- result{tc.State(), err}
	}()
	raw, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	raw.SetDeadline(time.Now().Add(20 * time.Second))
	cc := tls.Client(raw, &tls.Config{RootCAs: ca.Pool(), ServerName: "a.test", MaxVersion: version, ClientSessionCache: cache})
	defer cc.Close()
	if _, err := cc.Write([]byte{1}); err != nil {
		t.Fatalf("client: %v", err)
	}
	if _, err := io.ReadFull(cc, make([]byte, 1)); err != nil { // takes in the TLS 1.3 tickets
		t.Fatalf("client: %v", err)
	}
	clientResumed := cc.ConnectionState().DidResume
	cc.Close()
	r := <-done
	if r.err != nil {
		t.Fatalf("server: %v", r.err)
	}
	if r.st.DidResume != clientResumed {
		t.Fatalf("server DidResume %v, client %v", r.st.DidResume, clientResumed)
	}
	return r.st.DidResume
}

// TestTicketKeyRotation rotates by hand: a ticket resumes under the key
// that made it and the next one, not after a second rotation, and not
// after Close either (Close stops the rotation, so a fresh ticket lives
// on).
func TestTicketKeyRotation(t *testing.T) {
	t.Parallel()
	ca := tlsbackendtest.NewTestCA(t)
	cert := ca.Leaf(t, "a.test")
	get := func(*tlsbackend.ClientHello) (*tls.Certificate, error) { return cert, nil }
	for _, v := range []uint16{tls.VersionTLS13, tls.VersionTLS12} {
		t.Run(strings.ReplaceAll(tls.VersionName(v), " ", ""), func(t *testing.T) {
			t.Parallel()
			srv, err := New().NewServer(&tlsbackend.Config{GetCertificate: get, TicketKeyRotation: time.Hour})
			if err != nil {
				t.Fatal(err)
			}
			defer srv.Close()
			rot := srv.(*server).rot
			old := &frozenCache{}
			if resumes(t, srv, ca, v, old) {
				t.Fatal("first connection resumed")
			}
			for i, want := range []bool{true, true, false} {
				if i > 0 {
					rot.rotate()
				}
				if got := resumes(t, srv, ca, v, old); got != want {
					t.Errorf("after %d rotations: resumed %v, want %v", i, got, want)
				}
			}
			fresh := &frozenCache{}
			resumes(t, srv, ca, v, fresh)
			srv.Close()
			rot.rotate()
			rot.rotate()
			if !resumes(t, srv, ca, v, fresh) {
				t.Error("after Close, rotate still changed the keys")
			}
		})
	}
}

// TestTicketKeyTimer checks that the keys rotate on their own, every
// TicketKeyRotation.
func TestTicketKeyTimer(t *testing.T) {
	t.Parallel()
	srv, err := New().NewServer(&tlsbackend.Config{GetCertificate: getNone, TicketKeyRotation: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	rot := srv.(*server).rot
	count := func() int {
		rot.mu.Lock()
		defer rot.mu.Unlock()
		return rot.rotations
	}
	deadline := time.Now().Add(20 * time.Second)
	for count() < 3 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := count(); n < 3 {
		t.Fatalf("%d rotations in 20s with a 20ms period", n)
	}
	srv.Close()
	n := count()
	time.Sleep(100 * time.Millisecond)
	if m := count(); m != n {
		t.Errorf("%d rotations after Close", m-n)
	}
	srv2, err := New().NewServer(&tlsbackend.Config{GetCertificate: getNone})
	if err != nil {
		t.Fatal(err)
	}
	defer srv2.Close()
	if p := srv2.(*server).rot.period; p != 12*time.Hour {
		t.Errorf("default rotation period %v, want 12h", p)
	}
	srv3, err := New().NewServer(&tlsbackend.Config{GetCertificate: getNone, DisableSessionTickets: true})
	if err != nil {
		t.Fatal(err)
	}
	defer srv3.Close()
	if srv3.(*server).rot != nil {
		t.Error("a rotation runs without session tickets")
	}
}
