package main

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/edge-rt/edge/broadcast"
	"github.com/gobwas/ws"
)

func TestHistoryConfig(t *testing.T) {
	t.Parallel()
	fc, err := parseConfig("edge.yaml", []byte(withRoute("path: /chat", "stream: {mode: chat, history: {max: 50, maxAge: 5m, maxBytes: 64KiB}}")))
	if err != nil {
		t.Fatal(err)
	}
	want := broadcast.HistoryRule{Prefix: "seq:room:", Max: 50, MaxBytes: 64 << 10, MaxAge: 5 * time.Minute}
	if got := fc.listeners[0].hosts[0].routes[0].stream.history; got == nil || *got != want {
		t.Errorf("history %+v, want %+v", got, want)
	}
	fc, err = parseConfig("edge.yaml", []byte(withRoute("path: /chat", "stream: {mode: chat, history: {}}")))
	if err != nil {
		t.Fatal(err)
	}
	want = broadcast.HistoryRule{Prefix: "seq:room:", Max: 100, MaxBytes: 1 << 20, MaxAge: 10 * time.Minute}
	if got := fc.listeners[0].hosts[0].routes[0].stream.history; got == nil || *got != want {
		t.Errorf("default history %+v, want %+v", got, want)
	}
	tests := []struct{ name, yaml, reason string }{
		{"echo", withRoute("path: /e", "stream: {mode: echo, history: {}}"), "history: is for mode: chat"},
		{"max", withRoute("path: /c", "stream: {mode: chat, history: {max: 0}}"), "0 out of range 1 to 1048576"},
		{"maxBytes", withRoute("path: /c", "stream: {mode: chat, history: {maxBytes: 0}}"), "maxBytes must be positive"},
		{"maxAge", withRoute("path: /c", "stream: {mode: chat, history: {maxAge: -1s}}"), "negative"},
		{"typo", withRoute("path: /c", "stream: {mode: chat, history: {mx: 3}}"), `unknown key "mx"`},
		{"nats", "nats: {urls: [\"nats://127.0.0.1:4222\"]}\n" + withRoute("path: /c", "stream: {mode: chat, history: {}}"), "not available with nats:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := parseConfig("edge.yaml", []byte(tt.yaml))
			if err == nil || !strings.Contains(err.Error(), tt.reason) {
				t.Errorf("error %v\nwant it to contain %q", err, tt.reason)
			}
		})
	}
}

func TestSinceQuery(t *testing.T) {
	t.Parallel()
	tests := []struct {
		url          string
		since        uint64
		has, seqMode bool
	}{
		{"/chat?room=a", 0, false, false},
		{"/chat?room=a&seq=1", 0, false, true},
		{"/chat?room=a&since=room:a:42", 42, true, true},
		{"/chat?since=room:b:7&since=room:a:3&room=a", 3, true, true},
		{"/chat?room=a&since=room:b:7", 0, false, true},
		{"/chat?room=a&since=room:a:x", 0, false, true},
		{"/chat?room=a&since=room%3Aa%3A5", 5, true, true},
		{"/chat?room=a&since=42", 0, false, true},
		{"/chat?room=a&seq=0", 0, false, false},
	}
	for _, tt := range tests {
		since, has, seqMode := sinceQuery(tt.url, "room:a")
		if since != tt.since || has != tt.has || seqMode != tt.seqMode {
			t.Errorf("sinceQuery(%q) = %d, %v, %v; want %d, %v, %v", tt.url, since, has, seqMode, tt.since, tt.has, tt.seqMode)
		}
	}
}

func FuzzSinceQuery(f *testing.F) {
	for _, s := range []string{"/c?since=room:a:1", "/c?seq=1&since=room:a:18446744073709551615", "/c?since=%zz;since=::"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, u string) {
		since, has, seqMode := sinceQuery(u, "room:a")
		if (has && !seqMode) || (!has && since != 0) {
			t.Errorf("sinceQuery(%q) = %d, %v, %v", u, since, has, seqMode)
		}
	})
}

// TestE2EChatHistory runs the binary with a chat stream with history: a
// client that reconnects with since= gets exactly what it missed, then
// the live messages; one that fell too far behind gets a gap marker first;
// plain clients of the room see plain messages throughout.
func TestE2EChatHistory(t *testing.T) {
	t.Parallel()
	dir := configDir(t)
	_, ports := startEdgeN(t, dir, `reusePort: false
listeners:
  - listen: "127.0.0.1:{port}"
    hosts:
      - routes:
          - path: /chat
            stream: {mode: chat, history: {max: 3}}
`, 1)
	base := "ws://127.0.0.1:" + ports[0] + "/chat?room=h"
	env := func(seq int, data string) string {
		return `{"tag":"room:h","seq":` + strconv.Itoa(seq) + `,"data":"` + data + `"}`
	}
	a := dialWS(t, base+"&seq=1", ws.Dialer{})
	plain := dialWS(t, base, ws.Dialer{})
	b := dialWS(t, base+"&seq=1", ws.Dialer{})
	send := func(data string, seq int) { // a sends; a and plain see it
		t.Helper()
		a.send(ws.OpText, data)
		a.expect(ws.OpText, env(seq, data))
		plain.expect(ws.OpText, data)
	}
	send("m1", 1)
	b.expect(ws.OpText, env(1, "m1"))
	b.c.Close()
	send("m2", 2)
	send("m3", 3)

	// b comes back after m1: m2 and m3, then the live m4, in order.
	b = dialWS(t, base+"&since=room:h:1", ws.Dialer{})
	a.send(ws.OpText, "m4") // may race the resume: either way, once and in order
	b.expect(ws.OpText, env(2, "m2"))
	b.expect(ws.OpText, env(3, "m3"))
	b.expect(ws.OpText, env(4, "m4"))
	a.expect(ws.OpText, env(4, "m4"))
	plain.expect(ws.OpText, "m4")

	// c last saw m1: m2 and m3 were dropped (max: 3 keeps m4 to m6).
	send("m5", 5)
	send("m6", 6)
	c := dialWS(t, base+"&since=room:h:1", ws.Dialer{})
	_, gap := c.read()
	var g struct {
		Tag         string
		Gap         bool
		First, Last uint64
	}
	if err := json.Unmarshal([]byte(gap), &g); err != nil || g != (struct {
		Tag         string
		Gap         bool
		First, Last uint64
	}{"room:h", true, 4, 6}) {
		t.Fatalf("gap marker %s (%v)", gap, err)
	}
	c.expect(ws.OpText, env(4, "m4"))
	c.expect(ws.OpText, env(5, "m5"))
	c.expect(ws.OpText, env(6, "m6"))
	send("m7", 7)
	c.expect(ws.OpText, env(7, "m7"))
	// Binary messages travel in base64.
	a.send(ws.OpBinary, "\x00\x01")
	c.expect(ws.OpText, `{"tag":"room:h","seq":8,"base64":"AAE="}`)
	plain.expect(ws.OpBinary, "\x00\x01")
	// A new envelope client without since gets what is kept, no marker.
	d := dialWS(t, base+"&seq=1", ws.Dialer{})
	d.expect(ws.OpText, env(6, "m6"))
	d.expect(ws.OpText, env(7, "m7"))
	d.expect(ws.OpText, `{"tag":"room:h","seq":8,"base64":"AAE="}`)
}
