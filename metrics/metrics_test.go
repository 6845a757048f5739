package metrics

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/edge-rt/edge/observe"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestObserverEvents(t *testing.T) {
	t.Parallel()
	m := New(Config{Version: "v1", TLSBackend: "stdlib", TLSLibrary: "go", ServerNames: []string{"a.test"},
		Tags: func() int { return 7 }, WebSocketClients: func() int { return 3 },
		BytesIn: func() uint64 { return 100 }, BytesOut: func() uint64 { return 200 },
		Certificates: func() []Certificate {
			return []Certificate{{"a.test", time.Unix(2000, 0)}, {"b.test", time.Unix(3000, 0)}, {"a.test", time.Unix(1000, 0)}}
		}})
	c := observe.Conn{Listener: "127.0.0.1:80", Remote: netip.MustParseAddrPort("127.0.0.1:5000")}
	m.ConnOpened(c)
	m.ConnOpened(c)
	m.ConnClosed(c, "peer")
	m.ConnRefused("127.0.0.1:80", observe.RefuseClientMax)
	m.ConnRefused("127.0.0.1:80", observe.RefuseReason(200))
	m.Handshake(observe.Handshake{Backend: "stdlib", Version: 0x0304, ServerName: "A.TEST", Duration: time.Millisecond})
	m.Handshake(observe.Handshake{Backend: "stdlib", Version: 0x0303, Resumed: true, ServerName: "evil.test"})
	m.Handshake(observe.Handshake{Backend: "stdlib", Err: context.DeadlineExceeded})
	m.Handshake(observe.Handshake{Backend: "stdlib", Err: errors.New("bad")})
	m.Request(&observe.Request{HostGroup: "", Route: "/", Status: 200, BytesOut: 5, Duration: time.Millisecond})
	m.Request(&observe.Request{HostGroup: "api.test", Route: "api", Status: 404})
	m.Request(&observe.Request{Route: "/ws", Status: 0})
	m.WSMessage("127.0.0.1:80", observe.In, 10)
	m.WSMessage("127.0.0.1:80", observe.Out, 20)
	m.WSMessage("127.0.0.1:80", observe.Out, 20)
	m.QueueDrop("127.0.0.1:80", false)
	m.QueueDrop("127.0.0.1:80", true)
	m.Reload(true)
	m.Reload(false)
	m.Reload(false)
	m.ACMERenewal(true)
	m.BackendUp("app", true)
	m.BackendConnectError("app")
	m.UpstreamLatency("app", 3*time.Millisecond)

	for _, tc := range []struct {
		name string
		got  float64
		want float64
	}{
		{"open", testutil.ToFloat64(m.connOpen.WithLabelValues("127.0.0.1:80")), 1},
		{"accepted", testutil.ToFloat64(m.connAccepted.WithLabelValues("127.0.0.1:80")), 2},
		{"closed peer", testutil.ToFloat64(m.connClosed.WithLabelValues("127.0.0.1:80", "peer")), 1},
		{"refused client_max", testutil.ToFloat64(m.connRefused.WithLabelValues("127.0.0.1:80", "client_max")), 1},
		{"refused unknown", testutil.ToFloat64(m.connRefused.WithLabelValues("127.0.0.1:80", "unknown")), 1},
		{"hs 1.3", testutil.ToFloat64(m.hsTotal.WithLabelValues("stdlib", "1.3", "false", "ok")), 1},
		{"hs 1.2 resumed", testutil.ToFloat64(m.hsTotal.WithLabelValues("stdlib", "1.2", "true", "ok")), 1},
		{"hs timeout", testutil.ToFloat64(m.hsTotal.WithLabelValues("stdlib", "none", "false", "timeout")), 1},
		{"hs error", testutil.ToFloat64(m.hsTotal.WithLabelValues("stdlib", "none", "false", "error")), 1},
		{"sni a.test", testutil.ToFloat64(m.hsSNI.WithLabelValues("a.test")), 1},
		{"sni other", testutil.ToFloat64(m.hsSNI.WithLabelValues(Other)), 1},
		{"req 2xx", testutil.ToFloat64(m.reqTotal.WithLabelValues("_default", "/", "2xx")), 1},
		{"req 4xx", testutil.ToFloat64(m.reqTotal.WithLabelValues("api.test", "api", "4xx")), 1},
		{"req none", testutil.ToFloat64(m.reqTotal.WithLabelValues("_default", "/ws", "none")), 1},
		{"body bytes", testutil.ToFloat64(m.reqBytes.WithLabelValues("_default", "/")), 5},
		{"ws in", testutil.ToFloat64(m.wsMsgs.WithLabelValues("127.0.0.1:80", "in")), 1},
		{"ws out bytes", testutil.ToFloat64(m.wsBytes.WithLabelValues("127.0.0.1:80", "out")), 40},
		{"drops", testutil.ToFloat64(m.wsDrops.WithLabelValues("127.0.0.1:80")), 1},
		{"slow", testutil.ToFloat64(m.wsSlow.WithLabelValues("127.0.0.1:80")), 1},
		{"reload error", testutil.ToFloat64(m.reloads.WithLabelValues("error")), 2},
		{"acme ok", testutil.ToFloat64(m.acme.WithLabelValues("ok")), 1},
		{"backend up", testutil.ToFloat64(m.backendUp.WithLabelValues("app")), 1},
		{"backend errors", testutil.ToFloat64(m.backendErrs.WithLabelValues("app")), 1},
	} {
		if tc.got != tc.want {
			t.Errorf("%s = %v, want %v", tc.name, tc.got, tc.want)
		}
	}
	const want = `
# HELP edge_certificate_not_after_timestamp_seconds When the certificate served for a host expires (Unix time).
# TYPE edge_certificate_not_after_timestamp_seconds gauge
edge_certificate_not_after_timestamp_seconds{host="a.test"} 1000
edge_certificate_not_after_timestamp_seconds{host="b.test"} 3000
# HELP edge_tags Tags with at least one client.
# TYPE edge_tags gauge
edge_tags 7
# HELP edge_websocket_clients WebSocket clients connected.
# TYPE edge_websocket_clients gauge
edge_websocket_clients 3
# HELP edge_received_bytes_total Bytes read from clients.
# TYPE edge_received_bytes_total counter
edge_received_bytes_total 100
`
	if err := testutil.GatherAndCompare(m.reg, strings.NewReader(want), "edge_certificate_not_after_timestamp_seconds",
		"edge_tags", "edge_websocket_clients", "edge_received_bytes_total"); err != nil {
		t.Error(err)
	}
	if n, err := testutil.GatherAndCount(m.reg, "edge_build_info"); err != nil || n != 1 {
		t.Errorf("build info: %d series, %v", n, err)
	}
}

// TestSeriesBounded sends 10,000 events with random host groups, routes,
// listeners, server names, backends and close reasons: the number of
// series stays within the bounds, and unknown values land in _other.
func TestSeriesBounded(t *testing.T) {
	t.Parallel()
	m := New(Config{
		HostGroups:  []string{"a.test", "b.test"},
		Routes:      []string{"/", "api"},
		ServerNames: []string{"a.test", "b.test"},
		MaxValues:   8, // listeners and backends: learned, at most 8
	})
	rnd := rand.New(rand.NewPCG(1, 2))
	word := func() string { return fmt.Sprintf("h%x.test", rnd.Uint64()) }
	count := func() int {
		mfs, err := m.reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, mf := range mfs {
			if strings.HasPrefix(mf.GetName(), "edge_") {
				n += len(mf.GetMetric())
			}
		}
		return n
	}
	send := func(group, route, sni, listener, backend, reason string) {
		m.Request(&observe.Request{HostGroup: group, Route: route, Host: []byte(sni), Status: 100 + rnd.IntN(500)})
		m.Handshake(observe.Handshake{Backend: backend, ServerName: sni, Version: uint16(rnd.IntN(0x0306))})
		c := observe.Conn{Listener: listener}
		m.ConnOpened(c)
		m.ConnClosed(c, reason)
		m.WSMessage(listener, observe.Direction(rnd.IntN(2)), 1)
		m.BackendConnectError(backend)
	}
	for i := range 10000 {
		send(word(), word(), word(), word(), word(), word())
		if i%10 == 0 {
			send("a.test", "api", "B.test", "l1", "stdlib", "peer")
		}
	}
	n := count()
	// Upper bound: requests 3 groups x 3 routes x 7 classes x (1 counter
	// + 1 histogram + 1 bytes); handshakes 9 backends x 6 versions x 2 x 3
	// results + histograms; SNI 3 + _none; listeners 9 x (open, accepted,
	// 6 refused, 33 closed reasons, 4 ws, 2 drops); backends 9 x 3; the
	// rest a handful. Far below 10,000.
	const limit = 3*3*7*3 + 9*6*2*3 + 9*3 + 4 + 9*(2+6+33+4+2) + 9*3 + 20
	if n > limit {
		t.Fatalf("%d series after 10,000 random values, want at most %d", n, limit)
	}
	if got := testutil.ToFloat64(m.hsSNI.WithLabelValues("b.test")); got < 1000 {
		t.Errorf("sni b.test = %v, want 1000 (folded case-insensitively)", got)
	}
	if got := testutil.ToFloat64(m.reqTotal.WithLabelValues(Other, Other, "2xx")); got == 0 {
		t.Error("no request counted under _other")
	}
	before := n
	for range 1000 {
		send(word(), word(), word(), word(), word(), word())
	}
	if n := count(); n > before+3*3*7 { // a few classes/versions not seen yet at most
		t.Errorf("series grew from %d to %d with 1,000 more random values", before, n)
	}
	t.Logf("%d series", n)
}

func TestMulti(t *testing.T) {
	t.Parallel()
	a, b := New(Config{}), New(Config{})
	if observe.Multi() != nil || observe.Multi(nil, nil) != nil {
		t.Error("Multi of nothing is not nil")
	}
	if observe.Multi(nil, a) != observe.Observer(a) {
		t.Error("Multi of one is not that one")
	}
	o := observe.Multi(a, b)
	o.ConnOpened(observe.Conn{Listener: "x"})
	for _, m := range []*Metrics{a, b} {
		if got := testutil.ToFloat64(m.connAccepted.WithLabelValues("x")); got != 1 {
			t.Errorf("accepted = %v, want 1", got)
		}
	}
}

func TestZeroAllocs(t *testing.T) {
	m := New(Config{ServerNames: []string{"a.test"}})
	r := &observe.Request{HostGroup: "a.test", Route: "/", Host: []byte("a.test"), Status: 200, BytesOut: 10}
	h := observe.Handshake{Backend: "stdlib", Version: 0x0304, ServerName: "A.Test"}
	c := observe.Conn{Listener: "l"}
	events := func() {
		m.Request(r)
		m.Handshake(h)
		m.ConnOpened(c)
		m.ConnClosed(c, "peer")
		m.ConnRefused("l", observe.RefusePerAddr)
		m.WSMessage("l", observe.Out, 10)
		m.QueueDrop("l", false)
	}
	events() // learn the values
	if n := testing.AllocsPerRun(1000, events); n != 0 {
		t.Errorf("%v allocations per round of events, want 0", n)
	}
}

func BenchmarkRequest(b *testing.B) {
	m := New(Config{})
	r := &observe.Request{HostGroup: "a.test", Route: "/", Host: []byte("a.test"), Status: 200, BytesOut: 10, Duration: time.Millisecond}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			m.Request(r)
		}
	})
}

func BenchmarkHandshake(b *testing.B) {
	m := New(Config{ServerNames: []string{"a.test"}})
	h := observe.Handshake{Backend: "stdlib", Version: 0x0304, ServerName: "a.test", Duration: time.Millisecond}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			m.Handshake(h)
		}
	})
}

func BenchmarkConnOpenClose(b *testing.B) {
	m := New(Config{})
	c := observe.Conn{Listener: "127.0.0.1:8080"}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			m.ConnOpened(c)
			m.ConnClosed(c, "peer")
		}
	})
}

func BenchmarkWSMessage(b *testing.B) {
	m := New(Config{})
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			m.WSMessage("127.0.0.1:8080", observe.Out, 64)
		}
	})
}
