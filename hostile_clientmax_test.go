package edge

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"
	"time"
)

// ---------------------------------------------------------------------------
// 10. ClientMax.

// TestHostileClientMax: with ClientMax 50, of 60 connections exactly 10 get
// 503 and a close; once some close, new ones are served again.
func TestHostileClientMax(t *testing.T) {
	t.Parallel()
	cfg := hostileConfig()
	cfg.ClientMax = 50
	cfg.IdleTimeout = 30 * time.Second
	srv, addr := hostileServer(t, cfg, nil)
	get := func(c net.Conn, br *bufio.Reader) error {
		c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.WriteString(c, "GET /ok HTTP/1.1\r\nHost: a\r\n\r\n"); err != nil {
			return err
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		return nil
	}
	var kept []net.Conn
	for i := range 50 {
		c := hostileDial(t, addr)
		if err := get(c, bufio.NewReader(c)); err != nil {
			t.Fatalf("connection %d of 50: %v", i, err)
		}
		kept = append(kept, c)
	}
	if !hostileWait(2*time.Second, func() bool { return srv.Stats().Open == 50 }) {
		t.Fatalf("Open = %d, want 50", srv.Stats().Open)
	}
	for i := range 10 {
		c := hostileDial(t, addr)
		data, how := hostileReadAll(c, 5*time.Second)
		if !bytes.HasPrefix(data, []byte("HTTP/1.1 503 ")) || how != "eof" {
			t.Errorf("extra connection %d: got %q, %s; want 503 and close", i, data, how)
		}
		c.Close()
	}
	if st := srv.Stats(); st.Refused != 10 || st.Open != 50 {
		t.Errorf("Refused = %d, Open = %d; want 10 and 50", st.Refused, st.Open)
	}
	for _, c := range kept[:5] {
		c.Close()
	}
	if !hostileWait(3*time.Second, func() bool { return srv.Stats().Open == 45 }) {
		t.Fatalf("Open = %d after closing 5, want 45", srv.Stats().Open)
	}
	for i := range 5 {
		c := hostileDial(t, addr)
		if err := get(c, bufio.NewReader(c)); err != nil {
			t.Errorf("new connection %d after some closed: %v", i, err)
		}
	}
	c := hostileDial(t, addr)
	if data, _ := hostileReadAll(c, 5*time.Second); !bytes.HasPrefix(data, []byte("HTTP/1.1 503 ")) {
		t.Errorf("connection over the limit again: got %q, want 503", data)
	}
	// The kept ones still work.
	for i, c := range kept[5:10] {
		if err := get(c, bufio.NewReader(c)); err != nil {
			t.Errorf("kept connection %d: %v", i, err)
		}
	}
}
